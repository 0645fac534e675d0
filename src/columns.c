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

/* Check that a metadata column has a type we can fill */
static void
check_column_type(KafkaColumn *col, const char *role, const Oid *types, int ntypes, const char *hint)
{
	for (int i = 0; i < ntypes; i++)
		if (col->typid == types[i])
			return;
	ereport(ERROR,
			(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
			 errmsg("%s column \"%s\" has type %s", role, col->name, format_type_be(col->typid)),
			 errhint("%s", hint)));
}

/*
 * Record col as the table's column of a metadata role; a second column with
 * the same role is an error (column options are validated one column at a
 * time, so this is the first place that sees the whole table).
 */
static void
set_role_column(KafkaOptions *opts, AttrNumber *slot, KafkaColumn *col, const char *role, Oid relid)
{
	if (*slot != 0)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("foreign table \"%s\" has two %s columns: \"%s\" and \"%s\"",
						get_rel_name(relid), role, opts->columns[*slot - 1].name, col->name),
				 errhint("Remove the option with ALTER FOREIGN TABLE ... ALTER COLUMN ... OPTIONS (DROP %s).", role)));
	*slot = col->attnum;
}

/*
 * Build opts->columns from the attributes of rel and their column options,
 * and check them against the table options already merged into opts (the
 * format, on_error).  rel is the foreign table the options belong to.
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
			else if (!kafkaBoolOption(def))
				continue;
			else if (strcmp(n, "partition") == 0)
				col->kind = KAFKA_COL_PARTITION;
			else if (strcmp(n, "offset") == 0)
				col->kind = KAFKA_COL_OFFSET;
			else if (strcmp(n, "timestamp") == 0)
				col->kind = KAFKA_COL_TIMESTAMP;
			else if (strcmp(n, "key") == 0)
				col->kind = KAFKA_COL_KEY;
			else if (strcmp(n, "headers") == 0)
				col->kind = KAFKA_COL_HEADERS;
			else if (strcmp(n, "junk") == 0)
				col->kind = KAFKA_COL_JUNK;
			else if (strcmp(n, "junk_error") == 0)
				col->kind = KAFKA_COL_JUNK_ERROR;
		}

		switch (col->kind)
		{
			case KAFKA_COL_VALUE:
				col->value_index = value_index++;
				break;
			case KAFKA_COL_PARTITION:
				{
					static const Oid t[] = {INT2OID, INT4OID, INT8OID};

					check_column_type(col, "partition", t, 3, "Use int or bigint.");
					set_role_column(opts, &opts->partition_attnum, col, "partition", relid);
					break;
				}
			case KAFKA_COL_OFFSET:
				{
					static const Oid t[] = {INT8OID, INT4OID};

					check_column_type(col, "offset", t, 2, "Use bigint.");
					set_role_column(opts, &opts->offset_attnum, col, "offset", relid);
					break;
				}
			case KAFKA_COL_TIMESTAMP:
				{
					static const Oid t[] = {TIMESTAMPTZOID, TIMESTAMPOID, INT8OID};

					check_column_type(col, "timestamp", t, 3,
									  "Use timestamptz, timestamp or bigint (milliseconds since the epoch).");
					set_role_column(opts, &opts->timestamp_attnum, col, "timestamp", relid);
					break;
				}
			case KAFKA_COL_KEY:
				set_role_column(opts, &opts->key_attnum, col, "key", relid);
				break;
			case KAFKA_COL_HEADERS:
				{
					static const Oid t[] = {JSONBOID, JSONOID};

					check_column_type(col, "headers", t, 2, "Use jsonb or json.");
					set_role_column(opts, &opts->headers_attnum, col, "headers", relid);
					break;
				}
			case KAFKA_COL_JUNK:
				{
					static const Oid t[] = {TEXTOID, BYTEAOID, VARCHAROID};

					check_column_type(col, "junk", t, 3, "Use text or bytea.");
					set_role_column(opts, &opts->junk_attnum, col, "junk", relid);
					break;
				}
			case KAFKA_COL_JUNK_ERROR:
				{
					static const Oid t[] = {TEXTOID, VARCHAROID};

					check_column_type(col, "junk_error", t, 2, "Use text.");
					set_role_column(opts, &opts->junk_error_attnum, col, "junk_error", relid);
					break;
				}
		}
	}
	opts->nvalue_columns = value_index;
	for (int i = 0; i < opts->ncolumns; i++)
		if (opts->columns[i].json_name)
			opts->columns[i].json_name_len = strlen(opts->columns[i].json_name);

	if ((opts->format == KAFKA_FORMAT_TEXT || opts->format == KAFKA_FORMAT_BYTEA ||
		 opts->format == KAFKA_FORMAT_JSONB) && opts->nvalue_columns > 1)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
				 errmsg("format \"%s\" needs exactly one value column, foreign table \"%s\" has %d",
						kafkaFormatName(opts->format), get_rel_name(relid), opts->nvalue_columns),
				 errhint("Mark the other columns as metadata (partition, offset, timestamp, key, headers) or use format json or csv.")));
	if (opts->on_error == KAFKA_ON_ERROR_JUNK && opts->junk_attnum == 0 && opts->junk_error_attnum == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_OPTION_NAME_NOT_FOUND),
				 errmsg("on_error 'junk' needs a junk or junk_error column"),
				 errhint("Add a column with OPTIONS (junk 'true') or (junk_error 'true').")));
}
