/*-------------------------------------------------------------------------
 *
 * columns.c
 *		  The column model of kafka_fdw: the KafkaColumn array of a relation
 *		  built from its attributes and their column options, the role of
 *		  each column (value, or one of the metadata roles partition, offset,
 *		  timestamp, key, headers, junk, junk_error), and the checks that
 *		  need the whole table.  Works from a Relation alone, so anything
 *		  that has the merged options of a table can call it, with or
 *		  without an FDW executor state.
 *
 * Invariants:
 *	- columns[] has one entry per attribute, indexed by attnum - 1; a
 *	  dropped attribute keeps its entry (dropped set, value_index -1).
 *	- Value columns are numbered 0, 1, ... in attribute order (value_index:
 *	  the CSV field, the order the encoder writes them in).
 *	- A table has at most one column of each metadata role, of a type the
 *	  codecs can fill.
 *	- Column options are checked one column at a time by the validator in
 *	  option.c; this is the first place that sees the whole table.
 *
 *-------------------------------------------------------------------------
 */
#include "kafka_fdw.h"

#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "parser/parse_coerce.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

/* A metadata role of a column: its option, the types it may have, its slot */
typedef struct KafkaRoleDef
{
	KafkaColumnKind kind;
	const char *name;			/* the column option, also the role in messages */
	Oid			types[3];		/* the types a column of it may have, ended by
								 * InvalidOid; none: any type */
	const char *hint;			/* names those types */
	size_t		slot;			/* offset of its AttrNumber in KafkaOptions */
} KafkaRoleDef;

static const KafkaRoleDef role_defs[] = {
	{KAFKA_COL_PARTITION, "partition", {INT2OID, INT4OID, INT8OID},
	"Use int or bigint.", offsetof(KafkaOptions, partition_attnum)},
	{KAFKA_COL_OFFSET, "offset", {INT8OID, INT4OID},
	"Use bigint.", offsetof(KafkaOptions, offset_attnum)},
	{KAFKA_COL_TIMESTAMP, "timestamp", {TIMESTAMPTZOID, TIMESTAMPOID, INT8OID},
	"Use timestamptz, timestamp or bigint (milliseconds since the epoch).", offsetof(KafkaOptions, timestamp_attnum)},
	{KAFKA_COL_KEY, "key", {InvalidOid},
	NULL, offsetof(KafkaOptions, key_attnum)},
	{KAFKA_COL_HEADERS, "headers", {JSONBOID, JSONOID},
	"Use jsonb or json.", offsetof(KafkaOptions, headers_attnum)},
	{KAFKA_COL_JUNK, "junk", {TEXTOID, BYTEAOID, VARCHAROID},
	"Use text or bytea.", offsetof(KafkaOptions, junk_attnum)},
	{KAFKA_COL_JUNK_ERROR, "junk_error", {TEXTOID, VARCHAROID},
	"Use text.", offsetof(KafkaOptions, junk_error_attnum)},
};

/* Check that a metadata column has a type we can fill */
static void
check_column_type(KafkaColumn *col, const KafkaRoleDef *r)
{
	if (r->types[0] == InvalidOid)
		return;
	for (size_t i = 0; i < lengthof(r->types) && r->types[i] != InvalidOid; i++)
		if (col->typid == r->types[i] &&
			!(col->typid == VARCHAROID && col->typmod >= 0))
			return;

	/*
	 * varchar(n): a junk value or a list of failures is as long as it is, and
	 * nothing would hold it to n characters
	 */
	ereport(ERROR,
			(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
			 errmsg("%s column \"%s\" has type %s", r->name, col->name,
					format_type_with_typemod(col->typid, col->typmod)),
			 errhint("%s", r->hint)));
}

/*
 * Record col as the table's column of a metadata role; a second column with
 * the same role is an error (column options are validated one column at a
 * time, so this is the first place that sees the whole table).
 */
static void
set_role_column(KafkaOptions *opts, KafkaColumn *col, const KafkaRoleDef *r, Oid relid)
{
	AttrNumber *slot = (AttrNumber *) ((char *) opts + r->slot);

	if (*slot != 0)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("foreign table \"%s\" has two %s columns: \"%s\" and \"%s\"",
						get_rel_name(relid), r->name, opts->columns[*slot - 1].name, col->name),
				 errhint("Remove the option with ALTER FOREIGN TABLE ... ALTER COLUMN ... OPTIONS (DROP %s).", r->name)));
	*slot = col->attnum;
}

/*
 * Build opts->columns from the attributes of rel and their column options,
 * and check them against the table options already merged into opts (the
 * csv column options; the format's checks are kafkaCodecCheckTable's);
 * a junk column makes on_error 'junk' unless it was given.  rel is the
 * foreign table the options belong to.
 */
void
kafkaBuildColumns(KafkaOptions *opts, Relation rel)
{
	Oid			relid = RelationGetRelid(rel);
	ListCell   *lc;
	TupleDesc	tupdesc;
	int			value_index = 0;

	tupdesc = RelationGetDescr(rel);
	opts->ncolumns = tupdesc->natts;
	opts->columns = palloc0(sizeof(KafkaColumn) * Max(tupdesc->natts, 1));

	for (int i = 0; i < tupdesc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(tupdesc, i);
		KafkaColumn *col = &opts->columns[i];
		Oid			func;
		bool		isvarlena;
		const KafkaRoleDef *role = NULL;	/* NULL: a value column */

		col->attnum = i + 1;
		col->name = pstrdup(NameStr(att->attname));
		col->json_name = col->name;
		col->typid = att->atttypid;
		col->typmod = att->atttypmod;
		col->dropped = att->attisdropped;
		col->value_index = -1;
		if (att->attisdropped)
			continue;
		col->category = TypeCategory(att->atttypid);
		getTypeInputInfo(att->atttypid, &func, &col->in_ioparam);
		fmgr_info(func, &col->in_func);
		getTypeOutputInfo(att->atttypid, &func, &isvarlena);
		fmgr_info(func, &col->out_func);

		foreach(lc, GetForeignColumnOptions(relid, att->attnum))
		{
			DefElem    *def = (DefElem *) lfirst(lc);
			const char *n = def->defname;

			if (strcmp(n, "json") == 0)
				col->json_name = defGetString(def);
			else if (strcmp(n, "force_not_null") == 0)
				col->force_not_null = kafkaBoolOption(def);
			else if (strcmp(n, "force_null") == 0)
				col->force_null = kafkaBoolOption(def);
			else if (!kafkaBoolOption(def))
				continue;
			else
			{
				for (size_t r = 0; r < lengthof(role_defs); r++)
					if (strcmp(n, role_defs[r].name) == 0)
						role = &role_defs[r];
			}
		}

		if ((col->force_not_null || col->force_null) &&
			(role != NULL || opts->format != KAFKA_FORMAT_CSV))
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
					 errmsg("column option %s of column \"%s\" is only for value columns of format csv",
							col->force_not_null ? "force_not_null" : "force_null", col->name),
					 errhint("Remove it with ALTER FOREIGN TABLE ... ALTER COLUMN ... OPTIONS (DROP %s).",
							 col->force_not_null ? "force_not_null" : "force_null")));
		if (role == NULL)
			col->value_index = value_index++;
		else
		{
			col->kind = role->kind;
			check_column_type(col, role);
			set_role_column(opts, col, role, relid);
		}
	}
	opts->nvalue_columns = value_index;
	for (int i = 0; i < opts->ncolumns; i++)
		if (opts->columns[i].json_name)
			opts->columns[i].json_name_len = strlen(opts->columns[i].json_name);

	/*
	 * A junk or junk_error column asks for bad messages to be returned (as
	 * in adjust/kafka_fdw), unless on_error (or ignore_junk) says otherwise.
	 * 'junk' without such columns returns the rows with the fields that
	 * failed NULL.
	 */
	if (!opts->on_error_explicit && (opts->junk_attnum != 0 || opts->junk_error_attnum != 0))
		opts->on_error = KAFKA_ON_ERROR_JUNK;
}
