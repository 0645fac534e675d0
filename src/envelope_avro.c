/*-------------------------------------------------------------------------
 *
 * envelope_avro.c
 *		  Format avro of the table-change emitter's envelopes: the messages
 *		  Debezium's PostgreSQL connector writes with Confluent's
 *		  AvroConverter, in the Confluent wire format (byte 0, the schema's
 *		  id in the registry as 4 bytes big-endian, Avro binary).
 *
 *		  debezium  value: record <server>.<schema>.<table>.Envelope with
 *		            before and after (["null", Value]), source (record
 *		            io.debezium.connector.postgresql.Source), transaction
 *		            (always null), op, ts_ms/ts_us/ts_ns.
 *		  upsert,   value: the Value record of the new row; tombstones for
 *		  row       deletes, as with JSON.
 *		  Keys: record <server>.<schema>.<table>.Key of the key columns.
 *
 *		  Value is the record of the published columns, each typed as the
 *		  schema kafka_fdw derives for a foreign table (codec_avro.c:
 *		  timestamptz timestamp-micros, numeric(p,s) decimal, nullable
 *		  columns ["null", T] with default null, ...); masked and hashed
 *		  columns are strings.  The schemas are registered under
 *		  <topic>-value and <topic>-key (TopicNameStrategy) before a batch's
 *		  Kafka transaction begins (registry.c caches a registration per
 *		  session and schema text).
 *
 *		  No second encoder: a captured row (row_to_json text) is read back
 *		  into datums of the columns' types by the JSON codec (the inverse
 *		  of row_to_json, arrays and composites included), and avro-c writes
 *		  them through codec_avro.c's encoder.  For the Envelope, before,
 *		  after and source are anonymous record datums (BlessTupleDesc),
 *		  which the encoder writes as Avro records field by field.
 *
 * Invariants:
 *	- The schemas are those of the table as it is when the envelope is
 *	  created (each batch): a column added since a change was captured is
 *	  null in it (or PostgreSQL's missing value for a NOT NULL column added
 *	  with a constant default); a dropped one is left out.
 *	- Type input and output functions run in the caller's security context
 *	  (emitter.c runs a batch's encoding as the table's owner).
 *	- Everything returned is palloc'd in the caller's memory context; the
 *	  encoders' avro-c objects belong to the envelope's context.
 *
 *-------------------------------------------------------------------------
 */
#include "kafka_fdw.h"

#include "access/htup_details.h"
#include "access/tupdesc.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "parser/parse_coerce.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

/* The namespace of Debezium's source block */
#define SOURCE_NAMESPACE "io.debezium.connector.postgresql"

/* The fields of Debezium's source block, in its order, as it types them */
typedef enum SourceField
{
	SRC_VERSION, SRC_CONNECTOR, SRC_NAME, SRC_TS_MS, SRC_SNAPSHOT, SRC_DB, SRC_SEQUENCE,
	SRC_TS_US, SRC_TS_NS, SRC_SCHEMA, SRC_TABLE, SRC_TXID, SRC_LSN, SRC_XMIN, SRC_NFIELDS
} SourceField;

static const struct
{
	const char *name;
	Oid			typid;
	const char *avro;			/* its Avro type */
	const char *deflt;			/* its default (JSON), or NULL */
}			source_fields[SRC_NFIELDS] = {
	{"version", TEXTOID, "\"string\"", NULL},
	{"connector", TEXTOID, "\"string\"", NULL},
	{"name", TEXTOID, "\"string\"", NULL},
	{"ts_ms", INT8OID, "\"long\"", NULL},
	/* Debezium: an optional io.debezium.data.Enum with default "false" */
	{"snapshot", TEXTOID, "[\"string\",\"null\"]", "\"false\""},
	{"db", TEXTOID, "\"string\"", NULL},
	{"sequence", TEXTOID, "[\"null\",\"string\"]", "null"},
	{"ts_us", INT8OID, "[\"null\",\"long\"]", "null"},
	{"ts_ns", INT8OID, "[\"null\",\"long\"]", "null"},
	{"schema", TEXTOID, "\"string\"", NULL},
	{"table", TEXTOID, "\"string\"", NULL},
	{"txId", INT8OID, "[\"null\",\"long\"]", "null"},
	{"lsn", INT8OID, "[\"null\",\"long\"]", "null"},
	{"xmin", INT8OID, "[\"null\",\"long\"]", "null"},
};

/* The columns the Envelope's encoder writes (transaction: none, always null) */
typedef enum EnvelopeColumn
{
	ENV_BEFORE, ENV_AFTER, ENV_SOURCE, ENV_OP, ENV_TS_MS, ENV_TS_US, ENV_TS_NS, ENV_NCOLUMNS
} EnvelopeColumn;

static const char *const envelope_columns[ENV_NCOLUMNS] = {
	"before", "after", "source", "op", "ts_ms", "ts_us", "ts_ns"
};

/* The Avro side of an envelope */
struct KafkaEnvAvro
{
	char	   *value_schema;	/* JSON text: Envelope (debezium) or Value */
	char	   *key_schema;		/* Key, or NULL: the stream has no key columns */
	KafkaAvroSchema *value_parsed;
	KafkaAvroSchema *key_parsed;
	int32		value_id;		/* registry ids (kafkaEnvAvroRegister), -1 before */
	int32		key_id;
	KafkaDecoder *dec;			/* captured rows (JSON) into datums of the
								 * published columns, attnum i + 1 = env->cols[i] */
	KafkaEncoder *row_enc;		/* the Value record (upsert, row) */
	KafkaEncoder *key_enc;		/* the Key record */
	KafkaEncoder *env_enc;		/* the Envelope record (debezium) */
	TupleDesc	row_desc;		/* debezium: Value as an anonymous record type */
	TupleDesc	source_desc;	/* debezium: the source block, likewise */
	bool	   *notnull;		/* per column: its Avro type is not nullable */
	Datum	   *missing;		/* per column: PostgreSQL's missing value of a NOT
								 * NULL column added with a default, ... */
	bool	   *has_missing;	/* ... if it has one */
};

/* One captured row, read back into datums of the published columns */
struct KafkaEnvAvroRow
{
	Datum	   *values;
	bool	   *nulls;
};

/* A column of a column model the codecs work on (attnum, value_index given) */
static void
init_column(KafkaColumn *col, AttrNumber attnum, int value_index, const char *name,
			Oid typid, int32 typmod)
{
	Oid			func;
	bool		isvarlena;

	col->attnum = attnum;
	col->name = pstrdup(name);
	col->json_name = col->name;
	col->json_name_len = strlen(name);
	col->kind = KAFKA_COL_VALUE;
	col->typid = typid;
	col->typmod = typmod;
	col->value_index = value_index;
	col->category = TypeCategory(typid);
	getTypeInputInfo(typid, &func, &col->in_ioparam);
	fmgr_info(func, &col->in_func);
	getTypeOutputInfo(typid, &func, &isvarlena);
	fmgr_info(func, &col->out_func);
}

/* A column model of ncolumns columns (filled by the caller) for a codec */
static KafkaOptions *
column_model(KafkaEnvelope *env, KafkaFormat format, int ncolumns)
{
	KafkaOptions *o = palloc0(sizeof(KafkaOptions));

	o->format = format;
	o->server_name = env->name;
	o->table_name = env->table;
	o->ncolumns = ncolumns;
	o->nvalue_columns = ncolumns;
	o->columns = palloc0(sizeof(KafkaColumn) * Max(ncolumns, 1));
	return o;
}

/* The type a column's values have in the published row (masked: text) */
static void
published_type(const KafkaEnvColumn *c, Oid *typid, int32 *typmod)
{
	if (c->action != KAFKA_COL_KEEP)
	{
		*typid = TEXTOID;
		*typmod = -1;
		return;
	}
	*typmod = c->typmod;
	*typid = getBaseTypeAndTypmod(c->typid, typmod);
}

/* "<server>.<schema>.<table>" as an Avro namespace */
static char *
record_namespace(KafkaEnvelope *env)
{
	return psprintf("%s.%s.%s", kafkaAvroName(env->name), kafkaAvroName(env->schema),
					kafkaAvroName(env->table));
}

/* A record of columns (indexes into env->cols), named name in namespace ns */
static void
append_record(StringInfo out, KafkaEnvelope *env, const char *name, const char *ns,
			  const int *cols, int ncols, List **named)
{
	appendStringInfoString(out, "{\"type\":\"record\",\"name\":");
	escape_json(out, name);
	appendStringInfoString(out, ",\"namespace\":");
	escape_json(out, ns);
	appendStringInfoString(out, ",\"fields\":[");
	for (int i = 0; i < ncols; i++)
	{
		KafkaEnvColumn *c = &env->cols[cols[i]];
		Oid			typid;
		int32		typmod;

		published_type(c, &typid, &typmod);
		if (i > 0)
			appendStringInfoChar(out, ',');
		appendStringInfoString(out, "{\"name\":");
		escape_json(out, c->name);
		appendStringInfoString(out, ",\"type\":");
		kafkaAvroDeriveType(out, typid, typmod, !c->notnull, named);
		if (!c->notnull)
			appendStringInfoString(out, ",\"default\":null");
		appendStringInfoChar(out, '}');
	}
	appendStringInfoString(out, "]}");
}

/* The Envelope record of debezium, around the Value record value */
static char *
envelope_schema(const char *ns, const char *value)
{
	StringInfoData b;

	initStringInfo(&b);
	appendStringInfoString(&b, "{\"type\":\"record\",\"name\":\"Envelope\",\"namespace\":");
	escape_json(&b, ns);
	appendStringInfo(&b, ",\"fields\":[{\"name\":\"before\",\"type\":[\"null\",%s],\"default\":null},"
					 "{\"name\":\"after\",\"type\":[\"null\",", value);
	escape_json(&b, psprintf("%s.Value", ns));
	appendStringInfoString(&b, "],\"default\":null},{\"name\":\"source\",\"type\":"
						   "{\"type\":\"record\",\"name\":\"Source\",\"namespace\":\"" SOURCE_NAMESPACE "\",\"fields\":[");
	for (int i = 0; i < SRC_NFIELDS; i++)
	{
		appendStringInfo(&b, "%s{\"name\":\"%s\",\"type\":%s", i > 0 ? "," : "",
						 source_fields[i].name, source_fields[i].avro);
		if (source_fields[i].deflt)
			appendStringInfo(&b, ",\"default\":%s", source_fields[i].deflt);
		appendStringInfoChar(&b, '}');
	}
	appendStringInfoString(&b, "]}},"
						   "{\"name\":\"transaction\",\"type\":[\"null\",{\"type\":\"record\",\"name\":\"block\","
						   "\"namespace\":\"event\",\"fields\":[{\"name\":\"id\",\"type\":\"string\"},"
						   "{\"name\":\"total_order\",\"type\":\"long\"},"
						   "{\"name\":\"data_collection_order\",\"type\":\"long\"}]}],\"default\":null},"
						   "{\"name\":\"op\",\"type\":\"string\"},"
						   "{\"name\":\"ts_ms\",\"type\":[\"null\",\"long\"],\"default\":null},"
						   "{\"name\":\"ts_us\",\"type\":[\"null\",\"long\"],\"default\":null},"
						   "{\"name\":\"ts_ns\",\"type\":[\"null\",\"long\"],\"default\":null}]}");
	return b.data;
}

/*
 * The Avro side of an envelope being created (kafkaEnvelopeCreate): the
 * schemas derived from the table's published columns, checked (column
 * names must be Avro names; avro-c parses each schema), and the decoder and
 * encoders of the rows.  rel is the streamed table.
 */
void
kafkaEnvAvroCreate(KafkaEnvelope *env, Relation rel)
{
	KafkaEnvAvro *a = palloc0(sizeof(KafkaEnvAvro));
	TupleDesc	td = RelationGetDescr(rel);
	char	   *ns = record_namespace(env);
	int		   *all = palloc(sizeof(int) * Max(env->ncols, 1));
	List	   *named = NIL;
	StringInfoData value;
	KafkaOptions *rows;
	KafkaOptions *avro_rows;
	Bitmapset  *needed = NULL;

	a->value_id = a->key_id = -1;
	a->notnull = palloc0(sizeof(bool) * Max(env->ncols, 1));
	a->missing = palloc0(sizeof(Datum) * Max(env->ncols, 1));
	a->has_missing = palloc0(sizeof(bool) * Max(env->ncols, 1));
	for (int i = 0; i < env->ncols; i++)
	{
		KafkaEnvColumn *c = &env->cols[i];

		if (!kafkaAvroValidName(c->name))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_NAME),
					 errmsg("column \"%s\" of table \"%s\" is not a valid Avro field name", c->name, env->table),
					 errhint("Avro names start with a letter or '_' and hold only letters, digits and '_': rename the column, or leave it out of the stream (option exclude).")));
		all[i] = i;
		a->notnull[i] = c->notnull;

		/*
		 * A NOT NULL column added with a constant default: changes captured
		 * before have no value for it, and PostgreSQL reads the rows of
		 * that time with this value.
		 */
		if (c->notnull && c->action == KAFKA_COL_KEEP)
		{
			for (int k = 0; k < td->natts; k++)
			{
				Form_pg_attribute att = TupleDescAttr(td, k);
				bool		isnull;
				Datum		d;

				if (att->attisdropped || !att->atthasmissing || strcmp(NameStr(att->attname), c->name) != 0)
					continue;
				d = getmissingattr(td, k + 1, &isnull);
				if (!isnull)
				{
					a->missing[i] = datumCopy(d, att->attbyval, att->attlen);
					a->has_missing[i] = true;
				}
			}
		}
	}

	/* the schemas */
	initStringInfo(&value);
	append_record(&value, env, "Value", ns, all, env->ncols, &named);
	a->value_schema = env->kind == KAFKA_ENV_DEBEZIUM ? envelope_schema(ns, value.data) : value.data;
	a->value_parsed = kafkaAvroSchemaCached(a->value_schema, "the Avro value schema of the stream");
	if (env->nkeys > 0)
	{
		StringInfoData key;

		named = NIL;
		initStringInfo(&key);
		append_record(&key, env, "Key", ns, env->keys, env->nkeys, &named);
		a->key_schema = key.data;
		a->key_parsed = kafkaAvroSchemaCached(a->key_schema, "the Avro key schema of the stream");
	}

	/* the published columns: the JSON codec reads captured rows into them */
	rows = column_model(env, KAFKA_FORMAT_JSON, env->ncols);
	for (int i = 0; i < env->ncols; i++)
	{
		Oid			typid;
		int32		typmod;

		published_type(&env->cols[i], &typid, &typmod);
		init_column(&rows->columns[i], i + 1, i, env->cols[i].name, typid, typmod);
		needed = bms_add_member(needed, i + 1);
	}
	a->dec = kafkaDecoderCreate(rows, needed);
	avro_rows = palloc(sizeof(KafkaOptions));
	*avro_rows = *rows;
	avro_rows->format = KAFKA_FORMAT_AVRO;
	if (env->kind != KAFKA_ENV_DEBEZIUM)
		a->row_enc = kafkaEncoderCreate(avro_rows);

	/* the key columns, in key order, of the same rows */
	if (env->nkeys > 0)
	{
		KafkaOptions *keys = column_model(env, KAFKA_FORMAT_AVRO, env->ncols);

		memcpy(keys->columns, rows->columns, sizeof(KafkaColumn) * env->ncols);
		for (int i = 0; i < env->ncols; i++)
			keys->columns[i].dropped = true;
		for (int k = 0; k < env->nkeys; k++)
		{
			keys->columns[env->keys[k]].dropped = false;
			keys->columns[env->keys[k]].value_index = k;
		}
		keys->nvalue_columns = env->nkeys;
		a->key_enc = kafkaEncoderCreate(keys);
	}

	/* debezium: before, after and source as anonymous records */
	if (env->kind == KAFKA_ENV_DEBEZIUM)
	{
		KafkaOptions *eo = column_model(env, KAFKA_FORMAT_AVRO, ENV_NCOLUMNS);

		a->row_desc = CreateTemplateTupleDesc(env->ncols);
		for (int i = 0; i < env->ncols; i++)
			TupleDescInitEntry(a->row_desc, i + 1, rows->columns[i].name, rows->columns[i].typid,
							   rows->columns[i].typmod, 0);
		a->row_desc = BlessTupleDesc(a->row_desc);
		a->source_desc = CreateTemplateTupleDesc(SRC_NFIELDS);
		for (int i = 0; i < SRC_NFIELDS; i++)
			TupleDescInitEntry(a->source_desc, i + 1, source_fields[i].name, source_fields[i].typid, -1, 0);
		a->source_desc = BlessTupleDesc(a->source_desc);
		for (int i = 0; i < ENV_NCOLUMNS; i++)
		{
			Oid			typid = INT8OID;
			int32		typmod = -1;

			if (i == ENV_BEFORE || i == ENV_AFTER)
			{
				typid = RECORDOID;
				typmod = a->row_desc->tdtypmod;
			}
			else if (i == ENV_SOURCE)
			{
				typid = RECORDOID;
				typmod = a->source_desc->tdtypmod;
			}
			else if (i == ENV_OP)
				typid = TEXTOID;
			init_column(&eo->columns[i], i + 1, i, envelope_columns[i], typid, typmod);
		}
		a->env_enc = kafkaEncoderCreate(eo);
	}
	env->avro = a;
}

/*
 * Register the envelope's schemas under the subjects <topic>-value and
 * <topic>-key, before anything is sent, as INSERT does (kafka_fdw's own
 * compatibility check first, avro_compat.c): a registry that cannot be
 * reached, or a schema incompatible with the subject's versions under its
 * compatibility level, fails the batch while nothing is in Kafka.
 * Registrations are cached per session, so this asks the registry once per
 * schema text.
 */
void
kafkaEnvAvroRegister(KafkaEnvelope *env, KafkaOptions *opts, const char *topic)
{
	KafkaEnvAvro *a = env->avro;
	char	   *whose;

	if (opts->schema_registry == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_OPTION_NAME_NOT_FOUND),
				 errmsg("the change stream of table \"%s\" has format avro, and server \"%s\" has no schema registry",
						env->table, opts->server_name),
				 errhint("Set the server option schema_registry, or stop the stream and start it with format json.")));
	whose = psprintf("the change stream of table \"%s\"", env->table);
	a->value_id = kafkaAvroRegisterChecked(opts, psprintf("%s-value", topic), a->value_schema, whose);
	if (a->key_schema)
		a->key_id = kafkaAvroRegisterChecked(opts, psprintf("%s-key", topic), a->key_schema, whose);
}

/*
 * A captured row (row_to_json text, rewritten by the column rules) as
 * datums of the published columns; NULL for NULL.  A NOT NULL column the
 * row lacks (added since the capture) takes PostgreSQL's missing value if
 * the column has one; otherwise its non-nullable Avro field cannot be
 * written, and the batch fails saying how to let it through.
 */
KafkaEnvAvroRow *
kafkaEnvAvroRow(KafkaEnvelope *env, const char *text)
{
	KafkaEnvAvro *a = env->avro;
	KafkaEnvAvroRow *row;
	char	   *reason = NULL;

	if (text == NULL)
		return NULL;
	row = palloc(sizeof(KafkaEnvAvroRow));
	row->values = palloc0(sizeof(Datum) * Max(env->ncols, 1));
	row->nulls = palloc(sizeof(bool) * Max(env->ncols, 1));
	memset(row->nulls, true, sizeof(bool) * Max(env->ncols, 1));

	/* the codec itself: the outbox's text is in the server encoding already */
	if (!a->dec->codec->decode(a->dec, text, strlen(text), row->values, row->nulls, &reason))
		elog(ERROR, "could not read a captured row of table \"%s\": %s", env->table, reason);
	for (int i = 0; i < env->ncols; i++)
	{
		if (!row->nulls[i] || !a->notnull[i])
			continue;
		if (!a->has_missing[i])
			ereport(ERROR,
					(errcode(ERRCODE_NOT_NULL_VIOLATION),
					 errmsg("a captured change of table \"%s\" has no value for its NOT NULL column \"%s\"",
							env->table, env->cols[i].name),
					 errdetail("The change was captured before the column was added or made NOT NULL; its Avro field is not nullable."),
					 errhint("Drop the NOT NULL constraint of the column until the stream's backlog is published, then set it again.")));
		row->values[i] = a->missing[i];
		row->nulls[i] = false;
	}
	return row;
}

/* Encode values with an encoder and schema, framed with the schema's id */
static char *
encode(KafkaEncoder *enc, KafkaAvroSchema *schema, int32 id, Datum *values, bool *nulls, size_t *len)
{
	StringInfoData b;

	if (id < 0)
		elog(ERROR, "the Avro schemas of the stream are not registered");
	initStringInfo(&b);
	kafkaAvroAppendRegistryHeader(&b, id);
	kafkaAvroEncode(enc, schema, values, nulls, &b);
	*len = b.len;
	return b.data;
}

/* The Key record of a row, or NULL when the stream has no key columns */
char *
kafkaEnvAvroKey(KafkaEnvelope *env, KafkaEnvAvroRow *row, size_t *len)
{
	KafkaEnvAvro *a = env->avro;

	*len = 0;
	if (row == NULL || a->key_enc == NULL)
		return NULL;
	return encode(a->key_enc, a->key_parsed, a->key_id, row->values, row->nulls, len);
}

/* The Value record of a row (envelopes upsert and row) */
char *
kafkaEnvAvroRowValue(KafkaEnvelope *env, KafkaEnvAvroRow *row, size_t *len)
{
	KafkaEnvAvro *a = env->avro;

	return encode(a->row_enc, a->value_parsed, a->value_id, row->values, row->nulls, len);
}

/* A row as a datum of the anonymous record type row_desc */
static Datum
row_datum(TupleDesc desc, Datum *values, bool *nulls)
{
	return HeapTupleGetDatum(heap_form_tuple(desc, values, nulls));
}

/*
 * The Envelope of a debezium event op with these rows, with the same
 * source block as the JSON envelope's (make_dbz_value in envelope.c).
 */
char *
kafkaEnvAvroDbzValue(KafkaEnvelope *env, const KafkaChangeEvent *ev, char op,
					 KafkaEnvAvroRow *before, KafkaEnvAvroRow *after, int64 now_ns, size_t *len)
{
	KafkaEnvAvro *a = env->avro;
	Datum		sv[SRC_NFIELDS];
	bool		sn[SRC_NFIELDS];
	Datum		v[ENV_NCOLUMNS];
	bool		n[ENV_NCOLUMNS];
	int64		cap_us = ev->captured_us;
	char		opstr[2] = {op, '\0'};

	memset(sn, false, sizeof(sn));
	sv[SRC_VERSION] = CStringGetTextDatum(KAFKA_FDW_SOURCE_VERSION);
	sv[SRC_CONNECTOR] = CStringGetTextDatum("postgresql");
	sv[SRC_NAME] = CStringGetTextDatum(env->name);
	sv[SRC_TS_MS] = Int64GetDatum(cap_us / 1000);
	sv[SRC_SNAPSHOT] = CStringGetTextDatum(op == 'r' ? (ev->snapshot ? ev->snapshot : "true") : "false");
	sv[SRC_DB] = CStringGetTextDatum(env->db);
	sv[SRC_SEQUENCE] = CStringGetTextDatum(psprintf("[null,\"" INT64_FORMAT "\"]", ev->lsn));
	sv[SRC_TS_US] = Int64GetDatum(cap_us);
	sv[SRC_TS_NS] = Int64GetDatum(cap_us * 1000);
	sv[SRC_SCHEMA] = CStringGetTextDatum(env->schema);
	sv[SRC_TABLE] = CStringGetTextDatum(env->table);
	sv[SRC_TXID] = Int64GetDatum((int64) ev->txid);
	sv[SRC_LSN] = Int64GetDatum(ev->lsn);
	sv[SRC_XMIN] = (Datum) 0;
	sn[SRC_XMIN] = true;

	memset(n, false, sizeof(n));
	n[ENV_BEFORE] = before == NULL;
	if (before)
		v[ENV_BEFORE] = row_datum(a->row_desc, before->values, before->nulls);
	n[ENV_AFTER] = after == NULL;
	if (after)
		v[ENV_AFTER] = row_datum(a->row_desc, after->values, after->nulls);
	v[ENV_SOURCE] = row_datum(a->source_desc, sv, sn);
	v[ENV_OP] = CStringGetTextDatum(opstr);
	v[ENV_TS_MS] = Int64GetDatum(now_ns / 1000000);
	v[ENV_TS_US] = Int64GetDatum(now_ns / 1000);
	v[ENV_TS_NS] = Int64GetDatum(now_ns);
	return encode(a->env_enc, a->value_parsed, a->value_id, v, n, len);
}
