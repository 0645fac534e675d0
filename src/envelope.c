/*-------------------------------------------------------------------------
 *
 * envelope.c
 *		  Envelopes of the table-change emitter: one captured change event
 *		  (op, before and after rows as row_to_json text, source information)
 *		  becomes the key and value bytes of one or more Kafka messages.
 *
 *		  debezium  the value as Debezium's PostgreSQL connector writes it
 *		            with Kafka Connect's JsonConverter: before, after,
 *		            source {...}, transaction, op, ts_ms/us/ns; the key an
 *		            object of the key columns.  Column values are converted
 *		            the way Debezium does (numeric as Connect Decimal bytes,
 *		            timestamptz as ZonedTimestamp, timestamp as
 *		            MicroTimestamp, date as days, json as a string, ...), so
 *		            the payload is the same with and without the schema
 *		            wrapper.  A delete is followed by a tombstone; a key
 *		            change is a delete of the old key, its tombstone and a
 *		            create of the new key; TRUNCATE is op t without key.
 *		            Unlike Debezium's default, before is the full old row.
 *		            With schemas, key and value are wrapped as
 *		            {"schema": ..., "payload": ...} (JsonConverter
 *		            schemas.enable=true) with Connect types.
 *		  upsert    the key columns as key, the new row as value; a delete
 *		            (and the old key of a key change) is a tombstone;
 *		            TRUNCATE is not representable and emits nothing.
 *		  row       the new row as value (key from the key columns, if
 *		            any); deletes as tombstones; TRUNCATE emits nothing.
 *
 *		  Formats: JSON here; Avro (envelope_avro.c) writes the same
 *		  messages of each event (kafkaEnvelopeEncode decides which) as
 *		  Debezium's AvroConverter does, with schemas registered in a schema
 *		  registry (kafkaEnvelopeRegister).
 *
 *		  No Kafka here; the JSON envelope does no catalog access after
 *		  kafkaEnvelopeCreate (the Avro encoder looks types up as it goes).
 *
 * Invariants:
 *	- Columns are written in attribute order of the table as it is when
 *	  the envelope is created; a column missing from a captured row (added
 *	  later) is null, a captured column the table no longer has is left out.
 *	- The stream's column rules (transform.c) apply to before, after and
 *	  the key alike: left out columns are not written, masked and hashed
 *	  ones are strings (Connect type string), so no raw value of theirs is
 *	  in any message.
 *	- Everything returned is palloc'd in the caller's memory context.
 *	- JSON: a captured row is scanned, not parsed into jsonb (see "Captured
 *	  rows" below), yet every message is byte for byte what writing the
 *	  values of the row's jsonb gives (numbers as numeric_out writes them,
 *	  objects and arrays as jsonb writes them, strings re-escaped).
 *
 *-------------------------------------------------------------------------
 */
#include "kafka_fdw.h"

#include "access/tupdesc.h"
#include "catalog/pg_type.h"
#include "common/base64.h"
#include "common/hashfn.h"
#include "common/int.h"
#include "datatype/timestamp.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

/* How Debezium represents a column type */
typedef enum DbzType
{
	DBZ_INT16,
	DBZ_INT32,
	DBZ_INT64,
	DBZ_FLOAT,
	DBZ_DOUBLE,
	DBZ_BOOL,
	DBZ_DECIMAL,				/* numeric(p,s): Connect Decimal */
	DBZ_VARDECIMAL,				/* numeric: io.debezium.data.VariableScaleDecimal */
	DBZ_ZONEDTS,				/* timestamptz: io.debezium.time.ZonedTimestamp */
	DBZ_MICROTS,				/* timestamp: io.debezium.time.MicroTimestamp */
	DBZ_DATE,					/* date: io.debezium.time.Date */
	DBZ_MICROTIME,				/* time: io.debezium.time.MicroTime */
	DBZ_JSON,					/* json, jsonb: io.debezium.data.Json */
	DBZ_UUID,					/* uuid: io.debezium.data.Uuid */
	DBZ_BYTES,					/* bytea: base64 bytes */
	DBZ_STRING					/* anything else: its text */
} DbzType;

static void env_json_create(KafkaEnvelope *env);

KafkaEnvelopeKind
kafkaEnvelopeKind(const char *name)
{
	if (strcmp(name, "debezium") == 0)
		return KAFKA_ENV_DEBEZIUM;
	if (strcmp(name, "upsert") == 0)
		return KAFKA_ENV_UPSERT;
	if (strcmp(name, "row") == 0)
		return KAFKA_ENV_ROW;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid envelope \"%s\"", name),
			 errhint("Valid envelopes are \"debezium\", \"upsert\" and \"row\".")));
	return KAFKA_ENV_DEBEZIUM;	/* keep the compiler quiet */
}

static DbzType
dbz_type(Oid typid, int32 typmod)
{
	switch (getBaseType(typid))
	{
		case INT2OID:
			return DBZ_INT16;
		case INT4OID:
			return DBZ_INT32;
		case INT8OID:
		case OIDOID:
			return DBZ_INT64;
		case FLOAT4OID:
			return DBZ_FLOAT;
		case FLOAT8OID:
			return DBZ_DOUBLE;
		case BOOLOID:
			return DBZ_BOOL;
		case NUMERICOID:
			return typmod >= (int32) VARHDRSZ ? DBZ_DECIMAL : DBZ_VARDECIMAL;
		case TIMESTAMPTZOID:
			return DBZ_ZONEDTS;
		case TIMESTAMPOID:
			return DBZ_MICROTS;
		case DATEOID:
			return DBZ_DATE;
		case TIMEOID:
			return DBZ_MICROTIME;
		case JSONOID:
		case JSONBOID:
			return DBZ_JSON;
		case UUIDOID:
			return DBZ_UUID;
		case BYTEAOID:
			return DBZ_BYTES;
		default:
			return DBZ_STRING;
	}
}

/* Append a Connect field schema of column c named field */
static void
append_field_schema(StringInfo buf, const KafkaEnvColumn *c, bool optional)
{
	const char *opt = optional ? "true" : "false";
	const char *f = c->name;

#define NAMED(type, name) appendStringInfo(buf, "{\"type\":\"%s\",\"optional\":%s,\"name\":\"%s\",\"version\":1,\"field\":", type, opt, name)
	switch ((DbzType) c->dbz_type)
	{
		case DBZ_INT16:
			appendStringInfo(buf, "{\"type\":\"int16\",\"optional\":%s,\"field\":", opt);
			break;
		case DBZ_INT32:
			appendStringInfo(buf, "{\"type\":\"int32\",\"optional\":%s,\"field\":", opt);
			break;
		case DBZ_INT64:
			appendStringInfo(buf, "{\"type\":\"int64\",\"optional\":%s,\"field\":", opt);
			break;
		case DBZ_FLOAT:
			appendStringInfo(buf, "{\"type\":\"float\",\"optional\":%s,\"field\":", opt);
			break;
		case DBZ_DOUBLE:
			appendStringInfo(buf, "{\"type\":\"double\",\"optional\":%s,\"field\":", opt);
			break;
		case DBZ_BOOL:
			appendStringInfo(buf, "{\"type\":\"boolean\",\"optional\":%s,\"field\":", opt);
			break;
		case DBZ_DECIMAL:
			{
				int32		tm = c->typmod - VARHDRSZ;

				appendStringInfo(buf, "{\"type\":\"bytes\",\"optional\":%s,\"name\":\"org.apache.kafka.connect.data.Decimal\",\"version\":1,"
								 "\"parameters\":{\"scale\":\"%d\",\"connect.decimal.precision\":\"%d\"},\"field\":",
								 opt, tm & 0xffff, (tm >> 16) & 0xffff);
				break;
			}
		case DBZ_VARDECIMAL:
			appendStringInfo(buf, "{\"type\":\"struct\",\"fields\":[{\"type\":\"int32\",\"optional\":false,\"field\":\"scale\"},"
							 "{\"type\":\"bytes\",\"optional\":false,\"field\":\"value\"}],\"optional\":%s,"
							 "\"name\":\"io.debezium.data.VariableScaleDecimal\",\"version\":1,\"doc\":\"Variable scaled decimal\",\"field\":",
							 opt);
			break;
		case DBZ_ZONEDTS:
			NAMED("string", "io.debezium.time.ZonedTimestamp");
			break;
		case DBZ_MICROTS:
			NAMED("int64", "io.debezium.time.MicroTimestamp");
			break;
		case DBZ_DATE:
			NAMED("int32", "io.debezium.time.Date");
			break;
		case DBZ_MICROTIME:
			NAMED("int64", "io.debezium.time.MicroTime");
			break;
		case DBZ_JSON:
			NAMED("string", "io.debezium.data.Json");
			break;
		case DBZ_UUID:
			NAMED("string", "io.debezium.data.Uuid");
			break;
		case DBZ_BYTES:
			appendStringInfo(buf, "{\"type\":\"bytes\",\"optional\":%s,\"field\":", opt);
			break;
		case DBZ_STRING:
			appendStringInfo(buf, "{\"type\":\"string\",\"optional\":%s,\"field\":", opt);
			break;
	}
#undef NAMED
	escape_json(buf, f);
	appendStringInfoChar(buf, '}');
}

/* "<name>.<schema>.<table>.<suffix>" as a JSON string */
static void
append_schema_name(StringInfo buf, KafkaEnvelope *env, const char *suffix)
{
	escape_json(buf, psprintf("%s.%s.%s.%s", env->name, env->schema, env->table, suffix));
}

/* The Connect schema of the key: a struct of the key columns */
static char *
key_schema(KafkaEnvelope *env)
{
	StringInfoData b;

	initStringInfo(&b);
	appendStringInfoString(&b, "{\"type\":\"struct\",\"fields\":[");
	for (int i = 0; i < env->nkeys; i++)
	{
		KafkaEnvColumn *c = &env->cols[env->keys[i]];

		if (i > 0)
			appendStringInfoChar(&b, ',');
		append_field_schema(&b, c, !c->notnull);
	}
	appendStringInfoString(&b, "],\"optional\":false,\"name\":");
	append_schema_name(&b, env, "Key");
	appendStringInfoChar(&b, '}');
	return b.data;
}

/* The Connect schema of a debezium value (the reference files' Envelope) */
static char *
value_schema(KafkaEnvelope *env)
{
	StringInfoData b;
	StringInfoData row;

	initStringInfo(&row);
	appendStringInfoString(&row, "{\"type\":\"struct\",\"fields\":[");
	for (int i = 0; i < env->ncols; i++)
	{
		if (i > 0)
			appendStringInfoChar(&row, ',');
		append_field_schema(&row, &env->cols[i], !env->cols[i].notnull);
	}
	appendStringInfoString(&row, "],\"optional\":true,\"name\":");
	append_schema_name(&row, env, "Value");

	initStringInfo(&b);
	appendStringInfo(&b, "{\"type\":\"struct\",\"fields\":[%s,\"field\":\"before\"},%s,\"field\":\"after\"},",
					 row.data, row.data);
	appendStringInfoString(&b,
						   "{\"type\":\"struct\",\"fields\":["
						   "{\"type\":\"string\",\"optional\":false,\"field\":\"version\"},"
						   "{\"type\":\"string\",\"optional\":false,\"field\":\"connector\"},"
						   "{\"type\":\"string\",\"optional\":false,\"field\":\"name\"},"
						   "{\"type\":\"int64\",\"optional\":false,\"field\":\"ts_ms\"},"
						   "{\"type\":\"string\",\"optional\":true,\"name\":\"io.debezium.data.Enum\",\"version\":1,"
						   "\"parameters\":{\"allowed\":\"true,first,first_in_data_collection,last_in_data_collection,last,false,incremental\"},"
						   "\"default\":\"false\",\"field\":\"snapshot\"},"
						   "{\"type\":\"string\",\"optional\":false,\"field\":\"db\"},"
						   "{\"type\":\"string\",\"optional\":true,\"field\":\"sequence\"},"
						   "{\"type\":\"int64\",\"optional\":true,\"field\":\"ts_us\"},"
						   "{\"type\":\"int64\",\"optional\":true,\"field\":\"ts_ns\"},"
						   "{\"type\":\"string\",\"optional\":false,\"field\":\"schema\"},"
						   "{\"type\":\"string\",\"optional\":false,\"field\":\"table\"},"
						   "{\"type\":\"int64\",\"optional\":true,\"field\":\"txId\"},"
						   "{\"type\":\"int64\",\"optional\":true,\"field\":\"lsn\"},"
						   "{\"type\":\"int64\",\"optional\":true,\"field\":\"xmin\"}],"
						   "\"optional\":false,\"name\":\"io.debezium.connector.postgresql.Source\",\"field\":\"source\"},"
						   "{\"type\":\"struct\",\"fields\":["
						   "{\"type\":\"string\",\"optional\":false,\"field\":\"id\"},"
						   "{\"type\":\"int64\",\"optional\":false,\"field\":\"total_order\"},"
						   "{\"type\":\"int64\",\"optional\":false,\"field\":\"data_collection_order\"}],"
						   "\"optional\":true,\"name\":\"event.block\",\"version\":1,\"field\":\"transaction\"},"
						   "{\"type\":\"string\",\"optional\":false,\"field\":\"op\"},"
						   "{\"type\":\"int64\",\"optional\":true,\"field\":\"ts_ms\"},"
						   "{\"type\":\"int64\",\"optional\":true,\"field\":\"ts_us\"},"
						   "{\"type\":\"int64\",\"optional\":true,\"field\":\"ts_ns\"}],"
						   "\"optional\":false,\"name\":");
	append_schema_name(&b, env, "Envelope");
	appendStringInfoString(&b, ",\"version\":2}");
	return b.data;
}

/*
 * The envelope of a stream: the table's columns as they are now, the key
 * columns (names, in key order), and for debezium the cached schemas.
 * name is the logical server name of Debezium's source.name and of the
 * schema names (the kafka_fdw server).
 */
KafkaEnvelope *
kafkaEnvelopeCreate(Relation rel, KafkaEnvelopeKind kind, KafkaFormat format, bool schemas,
					const char *name, const char *dbname, List *key_columns, const KafkaTransform *tf)
{
	KafkaEnvelope *env = palloc0(sizeof(KafkaEnvelope));
	TupleDesc	td = RelationGetDescr(rel);
	ListCell   *lc;
	int			n = 0;

	env->kind = kind;
	env->format = format;
	env->schemas = schemas && kind == KAFKA_ENV_DEBEZIUM && format == KAFKA_FORMAT_JSON;
	env->name = pstrdup(name);
	env->db = pstrdup(dbname);
	env->schema = get_namespace_name(RelationGetNamespace(rel));
	env->table = pstrdup(RelationGetRelationName(rel));
	env->cols = palloc0(sizeof(KafkaEnvColumn) * Max(td->natts, 1));
	for (int i = 0; i < td->natts; i++)
	{
		Form_pg_attribute a = TupleDescAttr(td, i);
		KafkaEnvColumn *c;
		KafkaColumnAction action;
		int			keep;

		if (a->attisdropped)
			continue;
		action = kafkaTransformColumn(tf, NameStr(a->attname), &keep);
		if (action == KAFKA_COL_DROP)
			continue;
		c = &env->cols[n++];
		c->name = pstrdup(NameStr(a->attname));
		c->typid = a->atttypid;
		c->typmod = a->atttypmod;
		c->notnull = a->attnotnull;
		c->action = action;
		c->mask_keep = keep;
		/* a masked or hashed value is a string, whatever the column's type */
		c->dbz_type = (int) (action == KAFKA_COL_KEEP ? dbz_type(a->atttypid, a->atttypmod) : DBZ_STRING);
	}
	env->tf = tf;
	env->rewrite = kafkaTransformRewritesRows(tf);
	env->ncols = n;
	env->keys = palloc(sizeof(int) * Max(list_length(key_columns), 1));
	foreach(lc, key_columns)
	{
		const char *k = lfirst(lc);
		int			found = -1;

		for (int i = 0; i < env->ncols; i++)
			if (strcmp(env->cols[i].name, k) == 0)
				found = i;
		if (found < 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("key column \"%s\" of the stream does not exist in table \"%s\"",
							k, env->table)));
		env->keys[env->nkeys++] = found;
	}
	if (env->schemas)
	{
		env->key_schema = env->nkeys > 0 ? key_schema(env) : NULL;
		env->value_schema = value_schema(env);
	}
	env_json_create(env);
	if (format == KAFKA_FORMAT_AVRO)
	{
		if (tf && tf->function)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("a transform function cannot change Avro messages"),
					 errhint("Use format json, or the column rules include, exclude, mask and hash.")));
		kafkaEnvAvroCreate(env, rel);
	}
	return env;
}

/*
 * Before a batch is sent: format avro registers its schemas under the
 * topic's subjects (an ERROR leaves nothing sent); JSON needs nothing.
 */
void
kafkaEnvelopeRegister(KafkaEnvelope *env, KafkaOptions *opts, const char *topic)
{
	if (env->format == KAFKA_FORMAT_AVRO)
		kafkaEnvAvroRegister(env, opts, topic);
}

/* ---------------------------------------------------------------------
 * Captured rows
 *
 * A captured row is the row_to_json text of the row (outbox.c writes it
 * byte for byte as row_to_json does).  It is scanned once, without jsonb:
 * each member of the top-level object is kept as its raw JSON text, matched
 * to the envelope's columns by name (in attribute order as a rule, so the
 * next column is tried first).  Values are written from that text: the
 * forms that row_to_json writes are copied or converted straight from it;
 * any other value is read as jsonb_in would have read it (rv_jsonb) and
 * written by the code that wrote the values of the whole row's jsonb
 * before, so that every message is the same byte for byte.
 * ---------------------------------------------------------------------
 */

/* The kind of a JSON value */
typedef enum RowTok
{
	RT_NULL = 0,				/* null, or a column the row does not have */
	RT_STRING,
	RT_NUMBER,
	RT_TRUE,
	RT_FALSE,
	RT_OBJECT,
	RT_ARRAY
} RowTok;

/* One column's value in a captured row */
typedef struct RowValue
{
	const char *p;				/* its JSON text (a string from its opening quote) */
	int			len;			/* its length in bytes */
	RowTok		tok;			/* its kind */
	bool		escaped;		/* string: has backslash escapes */
	bool		plain;			/* string: its text is escape_json's of its
								 * content; number: numeric_out's of its
								 * value (either way, written as it is) */
} RowValue;

/* Names of the columns and constant parts of messages (env->json) */
struct KafkaEnvJson
{
	int		   *name_len;		/* strlen of each column's name */
	char	  **col_key;		/* each column's ,"name": (escaped; the comma
								 * for all but the first written) */
	int		   *col_key_len;
	int		   *hash;			/* open addressing: column index + 1, 0 empty */
	uint32		hash_mask;		/* the table's size - 1 */
	StringInfoData value_prefix;	/* schemas: {"schema":...,"payload": */
	StringInfoData key_prefix;	/* schemas: the key's */
	StringInfoData source_name; /* ,"source":{"version":...,"name":...,"ts_ms": */
	StringInfoData source_db;	/* ","db":...,"sequence":"[null,\" */
	StringInfoData source_table;	/* ,"schema":...,"table":...,"txId": */
	int64		now_ns;			/* the publish time of now_tail */
	StringInfoData now_tail;	/* ","ts_ms":...,"ts_us":...,"ts_ns":...} of it */
};

/* The names of env's columns and the constant parts of its JSON messages */
static void
env_json_create(KafkaEnvelope *env)
{
	KafkaEnvJson *ej = palloc0(sizeof(KafkaEnvJson));
	int			n = Max(env->ncols, 1);
	uint32		size = 8;

	ej->name_len = palloc(sizeof(int) * n);
	ej->col_key = palloc(sizeof(char *) * n);
	ej->col_key_len = palloc(sizeof(int) * n);
	while (size < (uint32) env->ncols * 2)
		size <<= 1;
	ej->hash = palloc0(sizeof(int) * size);
	ej->hash_mask = size - 1;
	for (int i = 0; i < env->ncols; i++)
	{
		StringInfoData k;
		uint32		h;

		ej->name_len[i] = strlen(env->cols[i].name);
		initStringInfo(&k);
		appendStringInfoChar(&k, ',');
		escape_json(&k, env->cols[i].name);
		appendStringInfoChar(&k, ':');
		ej->col_key[i] = k.data;
		ej->col_key_len[i] = k.len;
		h = hash_bytes((const unsigned char *) env->cols[i].name, ej->name_len[i]) & ej->hash_mask;
		while (ej->hash[h] != 0)
			h = (h + 1) & ej->hash_mask;
		ej->hash[h] = i + 1;
	}

	initStringInfo(&ej->value_prefix);
	initStringInfo(&ej->key_prefix);
	if (env->schemas)
	{
		appendStringInfoString(&ej->value_prefix, "{\"schema\":");
		appendStringInfoString(&ej->value_prefix, env->value_schema);
		appendStringInfoString(&ej->value_prefix, ",\"payload\":");
		if (env->key_schema)
		{
			appendStringInfoString(&ej->key_prefix, "{\"schema\":");
			appendStringInfoString(&ej->key_prefix, env->key_schema);
			appendStringInfoString(&ej->key_prefix, ",\"payload\":");
		}
	}
	initStringInfo(&ej->source_name);
	appendStringInfoString(&ej->source_name,
						   ",\"source\":{\"version\":\"" KAFKA_FDW_SOURCE_VERSION "\",\"connector\":\"postgresql\",\"name\":");
	escape_json(&ej->source_name, env->name);
	appendStringInfoString(&ej->source_name, ",\"ts_ms\":");
	initStringInfo(&ej->source_db);
	appendStringInfoString(&ej->source_db, "\",\"db\":");
	escape_json(&ej->source_db, env->db);
	appendStringInfoString(&ej->source_db, ",\"sequence\":\"[null,\\\"");
	initStringInfo(&ej->source_table);
	appendStringInfoString(&ej->source_table, ",\"schema\":");
	escape_json(&ej->source_table, env->schema);
	appendStringInfoString(&ej->source_table, ",\"table\":");
	escape_json(&ej->source_table, env->table);
	appendStringInfoString(&ej->source_table, ",\"txId\":");
	initStringInfo(&ej->now_tail);
	env->json = ej;
}

/* The index of the column named name (len bytes), or -1 */
static int
lookup_column(KafkaEnvelope *env, const char *name, int len)
{
	KafkaEnvJson *ej = env->json;
	uint32		h = hash_bytes((const unsigned char *) name, len) & ej->hash_mask;

	while (ej->hash[h] != 0)
	{
		int			i = ej->hash[h] - 1;

		if (ej->name_len[i] == len && memcmp(env->cols[i].name, name, len) == 0)
			return i;
		h = (h + 1) & ej->hash_mask;
	}
	return -1;
}

static void
row_syntax_error(const char *text, const char *p)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid input syntax for type %s", "json"),
			 errdetail("The captured row of a change event is not a JSON object as row_to_json writes one (at byte %d).",
					   (int) (p - text) + 1)));
}

/* As the JSON lexer's JSON_ALPHANUMERIC_CHAR: what may not follow a number or literal */
#define ROW_ALNUM(c) \
	(((c) >= 'a' && (c) <= 'z') || ((c) >= 'A' && (c) <= 'Z') || \
	 ((c) >= '0' && (c) <= '9') || (c) == '_' || IS_HIGHBIT_SET(c))

static inline const char *
skip_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}


/*
 * The string whose opening quote is at p: returns the end of it, and
 * whether it has escapes and whether it is plain: escaped only as
 * escape_json escapes (\" \\ \b \f \n \r \t, other control characters as
 * \u00xx), so that escape_json of its content writes it again as it is.
 */
static const char *
scan_string(const char *text, const char *p, const char *end, bool *escaped, bool *plain)
{
	bool		esc = false;
	bool		pl = true;

	p++;
	for (;;)
	{
		unsigned char ch;

		if (p >= end)
			row_syntax_error(text, p);
		ch = (unsigned char) *p;
		if (ch == '"')
			break;
		if (ch < 0x20)
			row_syntax_error(text, p);
		if (ch != '\\')
		{
			p++;
			continue;
		}
		esc = true;
		if (end - p < 2)
			row_syntax_error(text, p);
		switch (p[1])
		{
			case '"':
			case '\\':
			case 'b':
			case 'f':
			case 'n':
			case 'r':
			case 't':
				p += 2;
				break;
			case '/':
				pl = false;
				p += 2;
				break;
			case 'u':
				{
					int			code = 0;

					if (end - p < 6)
						row_syntax_error(text, p);
					for (int i = 2; i < 6; i++)
					{
						int			h = kafkaHexDigit(p[i]);

						if (h < 0)
							row_syntax_error(text, p + i);
						if (p[i] >= 'A' && p[i] <= 'F')
							pl = false;
						code = code * 16 + h;
					}
					if (code == 0 || code >= 0x20 || code == '\b' || code == '\f' ||
						code == '\n' || code == '\r' || code == '\t')
						pl = false;
					p += 6;
					break;
				}
			default:
				row_syntax_error(text, p + 1);
		}
	}
	*escaped = esc;
	*plain = pl;
	return p + 1;
}

/*
 * The number at p: returns its end, and whether it is plain: as numeric_out
 * writes a value (no exponent, not a negative zero; not so long that
 * numeric_in's limits could apply), so that numeric_out(numeric_in()) of it
 * is itself.
 */
static const char *
scan_number(const char *text, const char *p, const char *end, bool *plain)
{
	const char *start = p;
	bool		nonzero = false;
	bool		pl = true;

	if (*p == '-')
		p++;
	if (p >= end || !isdigit((unsigned char) *p))
		row_syntax_error(text, p);
	if (*p == '0')
		p++;
	else
	{
		nonzero = true;
		while (p < end && isdigit((unsigned char) *p))
			p++;
	}
	if (p < end && *p == '.')
	{
		p++;
		if (p >= end || !isdigit((unsigned char) *p))
			row_syntax_error(text, p);
		for (; p < end && isdigit((unsigned char) *p); p++)
			if (*p != '0')
				nonzero = true;
	}
	if (p < end && (*p == 'e' || *p == 'E'))
	{
		pl = false;
		p++;
		if (p < end && (*p == '+' || *p == '-'))
			p++;
		if (p >= end || !isdigit((unsigned char) *p))
			row_syntax_error(text, p);
		while (p < end && isdigit((unsigned char) *p))
			p++;
	}
	if (p < end && ROW_ALNUM(*p))
		row_syntax_error(text, p);
	if ((*start == '-' && !nonzero) || p - start > 1000)
		pl = false;
	*plain = pl;
	return p;
}

static const char *
scan_literal(const char *text, const char *p, const char *end, const char *lit, int len)
{
	if (end - p < len || memcmp(p, lit, len) != 0)
		row_syntax_error(text, p);
	p += len;
	if (p < end && ROW_ALNUM(*p))
		row_syntax_error(text, p);
	return p;
}

static const char *scan_value(const char *text, const char *p, const char *end, RowValue *v);

/* Past the object or array at p, checking its syntax */
static const char *
skip_container(const char *text, const char *p, const char *end)
{
	char		close = *p == '{' ? '}' : ']';
	RowValue	v;

	check_stack_depth();
	p = skip_ws(p + 1, end);
	if (p < end && *p == close)
		return p + 1;
	for (;;)
	{
		if (close == '}')
		{
			bool		escaped;
			bool		plain;

			if (p >= end || *p != '"')
				row_syntax_error(text, p);
			p = skip_ws(scan_string(text, p, end, &escaped, &plain), end);
			if (p >= end || *p != ':')
				row_syntax_error(text, p);
			p = skip_ws(p + 1, end);
		}
		p = skip_ws(scan_value(text, p, end, &v), end);
		if (p < end && *p == ',')
			p = skip_ws(p + 1, end);
		else if (p < end && *p == close)
			return p + 1;
		else
			row_syntax_error(text, p);
	}
}

/* The JSON value at p into v; returns its end */
static const char *
scan_value(const char *text, const char *p, const char *end, RowValue *v)
{
	v->p = p;
	v->escaped = v->plain = false;
	if (p >= end)
		row_syntax_error(text, p);
	switch (*p)
	{
		case '"':
			v->tok = RT_STRING;
			p = scan_string(text, p, end, &v->escaped, &v->plain);
			break;
		case '{':
			v->tok = RT_OBJECT;
			p = skip_container(text, p, end);
			break;
		case '[':
			v->tok = RT_ARRAY;
			p = skip_container(text, p, end);
			break;
		case 't':
			v->tok = RT_TRUE;
			p = scan_literal(text, p, end, "true", 4);
			break;
		case 'f':
			v->tok = RT_FALSE;
			p = scan_literal(text, p, end, "false", 5);
			break;
		case 'n':
			v->tok = RT_NULL;
			p = scan_literal(text, p, end, "null", 4);
			break;
		default:
			if (*p != '-' && !isdigit((unsigned char) *p))
				row_syntax_error(text, p);
			v->tok = RT_NUMBER;
			p = scan_number(text, p, end, &v->plain);
			break;
	}
	v->len = p - v->p;
	return p;
}

static char *rv_string_text(const RowValue *v);

/*
 * A captured row (row_to_json text): the values of env's columns, in
 * env->cols order (RT_NULL for a column the row does not have).  As with
 * jsonb, of a name given twice the last value counts.  len is strlen(text).
 * NULL for NULL.
 */
static RowValue *
scan_row(KafkaEnvelope *env, const char *text, size_t len)
{
	const char *end;
	const char *p;
	RowValue   *vals;
	int			next = 0;

	if (text == NULL)
		return NULL;
	end = text + len;
	vals = palloc0(sizeof(RowValue) * Max(env->ncols, 1));
	p = skip_ws(text, end);
	if (p >= end || *p != '{')
		row_syntax_error(text, p);
	p = skip_ws(p + 1, end);
	if (p < end && *p == '}')
		p++;
	else
		for (;;)
		{
			const char *key;
			int			keylen;
			bool		escaped;
			bool		plain;
			RowValue	v;
			int			col;

			if (p >= end || *p != '"')
				row_syntax_error(text, p);
			key = p + 1;
			p = scan_string(text, p, end, &escaped, &plain);
			keylen = p - 1 - key;
			p = skip_ws(p, end);
			if (p >= end || *p != ':')
				row_syntax_error(text, p);
			p = skip_ws(p + 1, end);
			p = skip_ws(scan_value(text, p, end, &v), end);

			/* the column: as a rule, the one after the last one */
			if (escaped)
			{
				RowValue	k;
				char	   *name;

				k.p = key - 1;
				k.len = keylen + 2;
				k.tok = RT_STRING;
				k.escaped = true;
				k.plain = plain;
				name = rv_string_text(&k);
				col = lookup_column(env, name, strlen(name));
			}
			else if (next < env->ncols && env->json->name_len[next] == keylen &&
					 memcmp(env->cols[next].name, key, keylen) == 0)
				col = next;
			else
				col = lookup_column(env, key, keylen);
			if (col >= 0)
			{
				vals[col] = v;
				next = col + 1;
			}

			if (p < end && *p == ',')
				p = skip_ws(p + 1, end);
			else if (p < end && *p == '}')
			{
				p++;
				break;
			}
			else
				row_syntax_error(text, p);
		}
	p = skip_ws(p, end);
	if (p != end)
		row_syntax_error(text, p);
	return vals;
}

/*
 * The value as the whole row's jsonb had it (numbers through numeric_in,
 * strings unescaped, objects and arrays as jsonb containers): the slow path
 * for the forms that are not written straight from their text.
 */
static void
rv_jsonb(const RowValue *v, JsonbValue *out)
{
	Jsonb	   *jb;

	switch (v->tok)
	{
		case RT_NULL:
			out->type = jbvNull;
			return;
		case RT_TRUE:
		case RT_FALSE:
			out->type = jbvBool;
			out->val.boolean = v->tok == RT_TRUE;
			return;
		case RT_NUMBER:
			out->type = jbvNumeric;
			out->val.numeric = DatumGetNumeric(DirectFunctionCall3(numeric_in,
																   CStringGetDatum(pnstrdup(v->p, v->len)),
																   ObjectIdGetDatum(InvalidOid),
																   Int32GetDatum(-1)));
			return;
		default:
			break;
	}
	jb = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(pnstrdup(v->p, v->len))));
	if (JB_ROOT_IS_SCALAR(jb))
		(void) JsonbExtractScalar(&jb->root, out);
	else
	{
		out->type = jbvBinary;
		out->val.binary.data = &jb->root;
		out->val.binary.len = VARSIZE(jb) - VARHDRSZ;
	}
}

/* The content of a string value, unescaped */
static char *
rv_string_text(const RowValue *v)
{
	const char *p = v->p + 1;
	const char *end = v->p + v->len - 1;
	char	   *out;
	char	   *o;
	JsonbValue	jv;

	if (!v->escaped)
		return pnstrdup(p, end - p);
	if (!v->plain)
	{
		/* \/, \u escapes of other characters: as jsonb_in reads them */
		rv_jsonb(v, &jv);
		return pnstrdup(jv.val.string.val, jv.val.string.len);
	}
	o = out = palloc(end - p + 1);
	while (p < end)
	{
		if (*p != '\\')
		{
			*o++ = *p++;
			continue;
		}
		switch (p[1])
		{
			case 'b':
				*o++ = '\b';
				break;
			case 'f':
				*o++ = '\f';
				break;
			case 'n':
				*o++ = '\n';
				break;
			case 'r':
				*o++ = '\r';
				break;
			case 't':
				*o++ = '\t';
				break;
			case 'u':
				/* plain: \u00xx, a control character */
				*o++ = (char) (kafkaHexDigit(p[4]) * 16 + kafkaHexDigit(p[5]));
				p += 4;
				break;
			default:
				*o++ = p[1];	/* \" \\ */
				break;
		}
		p += 2;
	}
	*o = '\0';
	return out;
}

/* Append a JSON value as JSON text */
static void
append_json_value(StringInfo buf, JsonbValue *v)
{
	switch (v->type)
	{
		case jbvNull:
			appendStringInfoString(buf, "null");
			break;
		case jbvString:
			escape_json(buf, pnstrdup(v->val.string.val, v->val.string.len));
			break;
		case jbvNumeric:
			appendStringInfoString(buf, DatumGetCString(DirectFunctionCall1(numeric_out,
																			NumericGetDatum(v->val.numeric))));
			break;
		case jbvBool:
			appendStringInfoString(buf, v->val.boolean ? "true" : "false");
			break;
		case jbvBinary:
			(void) JsonbToCString(buf, v->val.binary.data, v->val.binary.len);
			break;
		default:
			elog(ERROR, "unexpected jsonb value type %d", (int) v->type);
	}
}

/* Append a value as JSON text, as append_json_value of its jsonb */
static void
append_json_rv(StringInfo buf, const RowValue *v)
{
	JsonbValue	jv;

	switch (v->tok)
	{
		case RT_NULL:
			appendStringInfoString(buf, "null");
			return;
		case RT_TRUE:
			appendStringInfoString(buf, "true");
			return;
		case RT_FALSE:
			appendStringInfoString(buf, "false");
			return;
		case RT_STRING:
			if (v->plain)
				appendBinaryStringInfo(buf, v->p, v->len);
			else
				escape_json(buf, rv_string_text(v));
			return;
		case RT_NUMBER:
			if (v->plain)
			{
				appendBinaryStringInfo(buf, v->p, v->len);
				return;
			}
			break;
		default:
			break;
	}
	rv_jsonb(v, &jv);
	append_json_value(buf, &jv);
}

/* The text of a scalar (a string without quotes), or JSON text otherwise */
static char *
value_text(JsonbValue *v)
{
	StringInfoData b;

	if (v->type == jbvString)
		return pnstrdup(v->val.string.val, v->val.string.len);
	initStringInfo(&b);
	append_json_value(&b, v);
	return b.data;
}

/* value_text of a value (not null) */
static char *
rv_text(const RowValue *v)
{
	StringInfoData b;

	if (v->tok == RT_STRING)
		return rv_string_text(v);
	if (v->tok == RT_NUMBER && v->plain)
		return pnstrdup(v->p, v->len);
	initStringInfo(&b);
	append_json_rv(&b, v);
	return b.data;
}

/* Append column i's "name": (first: no comma before it) */
static inline void
append_col_key(StringInfo buf, KafkaEnvelope *env, int i, bool first)
{
	appendBinaryStringInfo(buf, env->json->col_key[i] + (first ? 1 : 0),
						   env->json->col_key_len[i] - (first ? 1 : 0));
}

/* Append a string literal */
#define APPEND_LIT(buf, lit) appendBinaryStringInfo((buf), (lit), sizeof(lit) - 1)

/* Append an int64's decimal text */
static inline void
append_int64(StringInfo buf, int64 n)
{
	enlargeStringInfo(buf, MAXINT8LEN + 1);
	buf->len += pg_lltoa(n, buf->data + buf->len);
}

/* Append bytes as a JSON string of their base64 */
static void
append_base64(StringInfo buf, const unsigned char *data, int len)
{
	int			enclen = pg_b64_enc_len(len);
	int			n;

	enlargeStringInfo(buf, enclen + 2);
	buf->data[buf->len++] = '"';
	n = pg_b64_encode((const char *) data, len, buf->data + buf->len, enclen);
	if (n < 0)
		elog(ERROR, "could not encode base64");
	buf->len += n;
	buf->data[buf->len++] = '"';
	buf->data[buf->len] = '\0';
}

/*
 * The unscaled value of a decimal number text (len bytes), as Java's
 * BigInteger.toByteArray() writes it (big-endian two's complement, fewest
 * bytes), rescaled to scale (or at its own scale if scale < 0; *out_scale
 * gets the scale used), in outbuf if they fit in outcap bytes.  Returns
 * false for NaN and infinities.
 */
static bool
unscaled_bytes(const char *text, int len, int scale, int *out_scale, unsigned char **bytes, int *nbytes,
			   unsigned char *outbuf, int outcap)
{
	bool		neg = false;
	const char *p = text;
	const char *end = text + len;
	char		local_digits[64];
	char	   *digits;
	int			ndigits = 0;
	int			frac = 0;
	bool		in_frac = false;
	unsigned char local_mag[8];
	unsigned char *mag;
	unsigned char *out;
	int			nmag = 1;
	int			cap;

	if (p < end && *p == '-')
	{
		neg = true;
		p++;
	}
	else if (p < end && *p == '+')
		p++;
	if (p >= end || (!isdigit((unsigned char) *p) && *p != '.'))
		return false;			/* NaN, Infinity */
	digits = len + Max(scale, 0) < (int) sizeof(local_digits) ? local_digits :
		palloc(len + Max(scale, 0) + 1);
	for (; p < end; p++)
	{
		if (*p == '.')
			in_frac = true;
		else if (isdigit((unsigned char) *p))
		{
			if (in_frac)
			{
				if (scale >= 0 && frac >= scale)
					continue;	/* cannot happen for a value of a numeric(p,s) column */
				frac++;
			}
			digits[ndigits++] = *p;
		}
		else
			return false;		/* an exponent: not from numeric_out */
	}
	if (scale >= 0)
		for (; frac < scale; frac++)
			digits[ndigits++] = '0';
	*out_scale = frac;

	/* decimal digits to base-256 magnitude, most significant byte first */
	if (ndigits <= 18)
	{
		uint64		v = 0;

		for (int i = 0; i < ndigits; i++)
			v = v * 10 + (digits[i] - '0');
		cap = sizeof(local_mag);
		mag = local_mag;
		for (int j = cap - 1; j >= 0; j--)
		{
			mag[j] = v & 0xff;
			v >>= 8;
		}
		nmag = cap;
	}
	else
	{
		cap = ndigits / 2 + 2;
		mag = palloc0(cap);
		for (int i = 0; i < ndigits; i++)
		{
			int			carry = digits[i] - '0';

			for (int j = cap - 1; j >= cap - nmag; j--)
			{
				int			v = mag[j] * 10 + carry;

				mag[j] = v & 0xff;
				carry = v >> 8;
			}
			if (carry)
				mag[cap - 1 - nmag++] = carry;
		}
	}
	{
		unsigned char *m = mag + cap - nmag;
		bool		zero = true;

		/* strip leading zero bytes of the magnitude */
		while (nmag > 1 && m[0] == 0)
		{
			m++;
			nmag--;
		}
		for (int i = 0; i < nmag; i++)
			if (m[i])
				zero = false;
		if (zero)
			neg = false;
		out = nmag + 1 <= outcap ? outbuf : palloc(nmag + 1);
		if (!neg)
		{
			int			off = (m[0] & 0x80) ? 1 : 0;

			out[0] = 0;
			memcpy(out + off, m, nmag);
			*nbytes = nmag + off;
		}
		else
		{
			int			carry = 1;

			/* the two's complement after a sign byte, which it may not need */
			for (int i = nmag - 1; i >= 0; i--)
			{
				int			v = (unsigned char) ~m[i] + carry;

				out[i + 1] = v & 0xff;
				carry = v >> 8;
			}
			if (out[1] & 0x80)
			{
				memmove(out, out + 1, nmag);
				*nbytes = nmag;
			}
			else
			{
				out[0] = 0xff;
				*nbytes = nmag + 1;
			}
		}
		*bytes = out;
	}
	return true;
}

/* Append a decimal number text (len bytes) as a Connect Decimal or VariableScaleDecimal */
static void
append_decimal(StringInfo buf, const KafkaEnvColumn *c, const char *text, int len)
{
	unsigned char local[32];
	unsigned char *bytes;
	int			nbytes;
	int			scale;
	bool		fixed = c->dbz_type == DBZ_DECIMAL;

	if (!unscaled_bytes(text, len, fixed ? ((c->typmod - VARHDRSZ) & 0xffff) : -1,
						&scale, &bytes, &nbytes, local, sizeof(local)))
	{
		appendStringInfoString(buf, "null");	/* NaN, infinities */
		return;
	}
	if (!fixed)
	{
		appendStringInfoString(buf, "{\"scale\":");
		append_int64(buf, scale);
		appendStringInfoString(buf, ",\"value\":");
	}
	append_base64(buf, bytes, nbytes);
	if (!fixed)
		appendStringInfoChar(buf, '}');
}

/* PostgreSQL's epoch (2000-01-01) to the Unix epoch, in microseconds */

/* The n digits at p as a number, or -1 */
static inline int
digits_value(const char *p, int n)
{
	int			v = 0;

	for (int i = 0; i < n; i++)
	{
		if (!isdigit((unsigned char) p[i]))
			return -1;
		v = v * 10 + (p[i] - '0');
	}
	return v;
}

/*
 * A date "YYYY-MM-DD" (JsonEncodeDateTime's, year 1 to 9999) at the start
 * of s: its Julian day; false if s does not start with one.  Other forms
 * (BC, longer years) are left to the input functions.
 */
static bool
parse_iso_date(const char *s, int len, int *jd)
{
	int			y;
	int			m;
	int			d;

	if (len < 10 || s[4] != '-' || s[7] != '-')
		return false;
	y = digits_value(s, 4);
	m = digits_value(s + 5, 2);
	d = digits_value(s + 8, 2);
	if (y < 1 || m < 1 || m > 12 || d < 1 || d > day_tab[isleap(y)][m - 1])
		return false;
	*jd = date2j(y, m, d);
	return true;
}

/*
 * A time of day "HH:MM:SS[.ffffff]" (time_out's and JsonEncodeDateTime's,
 * before 24:00) at the start of s: microseconds; returns the length read, or
 * -1 if s does not start with one.
 */
static int
parse_iso_time(const char *s, int len, int64 *us)
{
	int			h;
	int			mi;
	int			sec;
	int			n = 8;
	int64		frac = 0;

	if (len < 8 || s[2] != ':' || s[5] != ':')
		return -1;
	h = digits_value(s, 2);
	mi = digits_value(s + 3, 2);
	sec = digits_value(s + 6, 2);
	if (h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 59)
		return -1;
	if (len > 8 && s[8] == '.')
	{
		int			nd = 0;

		for (n = 9; n < len && isdigit((unsigned char) s[n]); n++)
		{
			if (++nd > 6)
				return -1;		/* rounded by the input functions */
			frac = frac * 10 + (s[n] - '0');
		}
		if (nd == 0)
			return -1;
		for (; nd < 6; nd++)
			frac *= 10;
	}
	*us = ((int64) ((h * 60 + mi) * 60 + sec)) * USECS_PER_SEC + frac;
	return n;
}

/*
 * A timestamp "YYYY-MM-DDTHH:MM:SS[.ffffff]" (JsonEncodeDateTime's, years 1
 * to 9999) at the start of s: the Timestamp, and the length read; -1 if s
 * does not start with one.
 */
static int
parse_iso_timestamp(const char *s, int len, Timestamp *ts)
{
	int			jd;
	int64		us;
	int			n;

	if (!parse_iso_date(s, len, &jd) || len < 11 || s[10] != 'T')
		return -1;
	n = parse_iso_time(s + 11, len - 11, &us);
	if (n < 0)
		return -1;
	*ts = (int64) (jd - POSTGRES_EPOCH_JDATE) * USECS_PER_DAY + us;
	return 11 + n;
}

/* Append a UTC time as Debezium's ZonedTimestamp: "YYYY-MM-DDTHH:MM:SS[.f]Z" */
static void
append_utc(StringInfo buf, struct pg_tm *tm, fsec_t fsec)
{
	char		out[64];
	char	   *o = out;

	*o++ = '"';
	if (tm->tm_year >= 10000)
	{
		/* the year's digits, then the rest as for a four-digit year */
		int			n = pg_ultoa_n((uint32) tm->tm_year, o);

		o = kafkaPutIsoDateTime(o + n - 4, tm->tm_year % 10000, tm->tm_mon, tm->tm_mday,
								tm->tm_hour, tm->tm_min, tm->tm_sec, fsec);
	}
	else
		o = kafkaPutIsoDateTime(o, tm->tm_year, tm->tm_mon, tm->tm_mday,
								tm->tm_hour, tm->tm_min, tm->tm_sec, fsec);
	*o++ = 'Z';
	*o++ = '"';
	appendBinaryStringInfo(buf, out, o - out);
}

/* Append a timestamptz as Debezium's ZonedTimestamp: ISO 8601 in UTC */
static void
append_zoned(StringInfo buf, const char *text)
{
	TimestampTz ts = DatumGetTimestampTz(DirectFunctionCall3(timestamptz_in, CStringGetDatum(text),
															 ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1)));
	struct pg_tm tm;
	fsec_t		fsec;

	if (TIMESTAMP_NOT_FINITE(ts) || timestamp2tm(ts, NULL, &tm, &fsec, NULL, NULL) != 0 || tm.tm_year <= 0)
	{
		escape_json(buf, text);
		return;
	}
	append_utc(buf, &tm, fsec);
}

/*
 * append_zoned of a timestamptz's text as JsonEncodeDateTime writes it
 * (len bytes: "YYYY-MM-DDTHH:MM:SS[.ffffff]+HH:MM[:SS]", years 1 to 9999),
 * without timestamptz_in; false (nothing appended) for any other text.
 */
static bool
append_zoned_iso(StringInfo buf, const char *s, int len)
{
	Timestamp	ts;
	int			n = parse_iso_timestamp(s, len, &ts);
	const char *z;
	int			zh;
	int			zm;
	int			zs = 0;
	struct pg_tm tm;
	fsec_t		fsec;

	if (n < 0 || (len - n != 6 && len - n != 9))
		return false;
	z = s + n;

	/*
	 * In UTC already (a server in UTC): the date and time as they are, if
	 * their fraction has no trailing zero (JsonEncodeDateTime writes none)
	 */
	if (len - n == 6 && memcmp(z, "+00:00", 6) == 0 && (n == 19 || s[n - 1] != '0'))
	{
		enlargeStringInfo(buf, n + 3);
		buf->data[buf->len++] = '"';
		memcpy(buf->data + buf->len, s, n);
		buf->len += n;
		buf->data[buf->len++] = 'Z';
		buf->data[buf->len++] = '"';
		buf->data[buf->len] = '\0';
		return true;
	}
	if ((z[0] != '+' && z[0] != '-') || z[3] != ':' || (len - n == 9 && z[6] != ':'))
		return false;
	zh = digits_value(z + 1, 2);
	zm = digits_value(z + 4, 2);
	if (len - n == 9)
		zs = digits_value(z + 7, 2);
	if (zh < 0 || zh > 15 || zm < 0 || zm > 59 || zs < 0 || zs > 59)
		return false;
	ts -= (z[0] == '-' ? -1 : 1) * (int64) (zh * SECS_PER_HOUR + zm * SECS_PER_MINUTE + zs) * USECS_PER_SEC;
	if (timestamp2tm(ts, NULL, &tm, &fsec, NULL, NULL) != 0 || tm.tm_year <= 0)
		return false;
	append_utc(buf, &tm, fsec);
	return true;
}

/* Append the value of column c in Debezium's representation (jsonb value: the slow path) */
static void
append_dbz_value(StringInfo buf, const KafkaEnvColumn *c, JsonbValue *v)
{
	char	   *s;

	if (v == NULL || v->type == jbvNull)
	{
		appendStringInfoString(buf, "null");
		return;
	}
	switch ((DbzType) c->dbz_type)
	{
		case DBZ_INT16:
		case DBZ_INT32:
		case DBZ_INT64:
		case DBZ_FLOAT:
		case DBZ_DOUBLE:
		case DBZ_BOOL:
			append_json_value(buf, v);	/* numbers, booleans; NaN as a string */
			break;
		case DBZ_DECIMAL:
		case DBZ_VARDECIMAL:
			s = value_text(v);
			append_decimal(buf, c, s, strlen(s));
			break;
		case DBZ_ZONEDTS:
			append_zoned(buf, value_text(v));
			break;
		case DBZ_MICROTS:
			{
				Timestamp	ts;

				s = value_text(v);
				ts = DatumGetTimestamp(DirectFunctionCall3(timestamp_in, CStringGetDatum(s),
														   ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1)));
				if (TIMESTAMP_NOT_FINITE(ts))
					escape_json(buf, s);
				else
					append_int64(buf, ts + KAFKA_PG_EPOCH_US);
				break;
			}
		case DBZ_DATE:
			{
				DateADT		d;

				s = value_text(v);
				d = DatumGetDateADT(DirectFunctionCall1(date_in, CStringGetDatum(s)));
				if (DATE_NOT_FINITE(d))
					escape_json(buf, s);
				else
					append_int64(buf, (int) (d + POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE));
				break;
			}
		case DBZ_MICROTIME:
			{
				TimeADT		t = DatumGetTimeADT(DirectFunctionCall3(time_in, CStringGetDatum(value_text(v)),
																	ObjectIdGetDatum(InvalidOid),
																	Int32GetDatum(-1)));

				append_int64(buf, (int64) t);
				break;
			}
		case DBZ_JSON:
			{
				StringInfoData j;

				initStringInfo(&j);
				append_json_value(&j, v);
				escape_json(buf, j.data);
				break;
			}
		case DBZ_BYTES:
			{
				bytea	   *b = DatumGetByteaPP(DirectFunctionCall1(byteain, CStringGetDatum(value_text(v))));

				append_base64(buf, (unsigned char *) VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b));
				break;
			}
		case DBZ_UUID:
		case DBZ_STRING:
			escape_json(buf, value_text(v));
			break;
	}
}

/*
 * Append the value of column c in Debezium's representation: the forms
 * that row_to_json writes straight from their text, anything else by
 * append_dbz_value of its jsonb value.
 */
static void
append_dbz_rv(StringInfo buf, const KafkaEnvColumn *c, const RowValue *v)
{
	/* a string's content, when it has no escapes */
	const char *s = v->p + 1;
	int			slen = v->len - 2;
	bool		raw = v->tok == RT_STRING && !v->escaped;
	JsonbValue	jv;

	if (v->tok == RT_NULL)
	{
		appendStringInfoString(buf, "null");
		return;
	}
	switch ((DbzType) c->dbz_type)
	{
		case DBZ_INT16:
		case DBZ_INT32:
		case DBZ_INT64:
		case DBZ_FLOAT:
		case DBZ_DOUBLE:
		case DBZ_BOOL:
			append_json_rv(buf, v);
			return;
		case DBZ_DECIMAL:
		case DBZ_VARDECIMAL:
			if (v->tok == RT_NUMBER && v->plain)
			{
				append_decimal(buf, c, v->p, v->len);
				return;
			}
			break;
		case DBZ_ZONEDTS:
			if (raw && append_zoned_iso(buf, s, slen))
				return;
			break;
		case DBZ_MICROTS:
			{
				Timestamp	ts;

				if (raw && parse_iso_timestamp(s, slen, &ts) == slen)
				{
					append_int64(buf, ts + KAFKA_PG_EPOCH_US);
					return;
				}
				break;
			}
		case DBZ_DATE:
			{
				int			jd;

				if (raw && slen == 10 && parse_iso_date(s, slen, &jd))
				{
					append_int64(buf, jd - UNIX_EPOCH_JDATE);
					return;
				}
				break;
			}
		case DBZ_MICROTIME:
			{
				int64		us;

				if (raw && parse_iso_time(s, slen, &us) == slen)
				{
					append_int64(buf, us);
					return;
				}
				break;
			}
		case DBZ_JSON:
			if (v->tok != RT_OBJECT && v->tok != RT_ARRAY)
			{
				StringInfoData j;

				initStringInfo(&j);
				append_json_rv(&j, v);
				escape_json(buf, j.data);
				return;
			}
			break;
		case DBZ_BYTES:
			/* byteaout's hex format, "\\x..." in JSON */
			if (v->tok == RT_STRING && v->plain && slen >= 3 && (slen - 3) % 2 == 0 &&
				s[0] == '\\' && s[1] == '\\' && s[2] == 'x')
			{
				int			n = (slen - 3) / 2;
				unsigned char *b = palloc(Max(n, 1));
				int			i;

				for (i = 0; i < n; i++)
				{
					int			hi = kafkaHexDigit(s[3 + 2 * i]);
					int			lo = kafkaHexDigit(s[4 + 2 * i]);

					if (hi < 0 || lo < 0)
						break;
					b[i] = (unsigned char) (hi * 16 + lo);
				}
				if (i == n)
				{
					append_base64(buf, b, n);
					return;
				}
			}
			break;
		case DBZ_UUID:
		case DBZ_STRING:
			if (v->tok == RT_STRING && v->plain)
			{
				appendBinaryStringInfo(buf, v->p, v->len);
				return;
			}
			if (v->tok == RT_STRING)
			{
				escape_json(buf, rv_string_text(v));
				return;
			}
			break;
	}
	rv_jsonb(v, &jv);
	append_dbz_value(buf, c, &jv);
}

/* Append a row {"col": value, ...} in Debezium's representation, or null */
static void
append_dbz_row(StringInfo buf, KafkaEnvelope *env, RowValue *row)
{
	if (row == NULL)
	{
		appendStringInfoString(buf, "null");
		return;
	}
	appendStringInfoChar(buf, '{');
	for (int i = 0; i < env->ncols; i++)
	{
		append_col_key(buf, env, i, i == 0);
		append_dbz_rv(buf, &env->cols[i], &row[i]);
	}
	appendStringInfoChar(buf, '}');
}

/*
 * The key of a row: {"k1": v1, ...} of the key columns (Debezium values
 * for debezium, JSON values as captured otherwise, wrapped with the key
 * schema if asked), or NULL when the stream has no key columns.
 */
static char *
make_key(KafkaEnvelope *env, RowValue *row, size_t *len)
{
	StringInfoData b;

	*len = 0;
	if (env->nkeys == 0 || row == NULL)
		return NULL;
	initStringInfo(&b);
	appendBinaryStringInfo(&b, env->json->key_prefix.data, env->json->key_prefix.len);
	appendStringInfoChar(&b, '{');
	for (int i = 0; i < env->nkeys; i++)
	{
		int			k = env->keys[i];

		append_col_key(&b, env, k, i == 0);
		if (env->kind == KAFKA_ENV_DEBEZIUM)
			append_dbz_rv(&b, &env->cols[k], &row[k]);
		else
			append_json_rv(&b, &row[k]);
	}
	appendStringInfoChar(&b, '}');
	if (env->schemas)
		appendStringInfoChar(&b, '}');
	*len = b.len;
	return b.data;
}

/* A debezium value of op with these rows (row texts of lengths before_len, after_len) */
static char *
make_dbz_value(KafkaEnvelope *env, const KafkaChangeEvent *ev, char op,
			   RowValue *before, size_t before_len, RowValue *after, size_t after_len,
			   int64 now_ns, size_t *len)
{
	KafkaEnvJson *ej = env->json;
	StringInfoData b;
	int64		cap_us = ev->captured_us;
	const char *snapshot = op == 'r' ? (ev->snapshot ? ev->snapshot : "true") : "false";
	char		cap[MAXINT8LEN + 1];
	int			caplen;
	char		lsn[MAXINT8LEN + 1];
	int			lsnlen;

	initStringInfo(&b);
	/* most of what comes: the rows, the source, the schema */
	enlargeStringInfo(&b, (int) Min(ej->value_prefix.len + before_len + after_len + 600, MaxAllocSize / 2));
	appendBinaryStringInfo(&b, ej->value_prefix.data, ej->value_prefix.len);
	APPEND_LIT(&b, "{\"before\":");
	append_dbz_row(&b, env, before);
	APPEND_LIT(&b, ",\"after\":");
	append_dbz_row(&b, env, after);
	/* the publish time, the same for a batch's events */
	if (ej->now_tail.len == 0 || ej->now_ns != now_ns)
	{
		resetStringInfo(&ej->now_tail);
		APPEND_LIT(&ej->now_tail, "\",\"ts_ms\":");
		append_int64(&ej->now_tail, now_ns / 1000000);
		APPEND_LIT(&ej->now_tail, ",\"ts_us\":");
		append_int64(&ej->now_tail, now_ns / 1000);
		APPEND_LIT(&ej->now_tail, ",\"ts_ns\":");
		append_int64(&ej->now_tail, now_ns);
		appendStringInfoChar(&ej->now_tail, '}');
		ej->now_ns = now_ns;
	}

	/*
	 * The source and the rest: room for all of it (its constant parts, six
	 * numbers, the snapshot marker), then copies without further checks
	 */
	enlargeStringInfo(&b, ej->source_name.len + ej->source_db.len + ej->source_table.len +
					  ej->now_tail.len + strlen(snapshot) + 6 * (MAXINT8LEN + 3) + 128);
#define PUT(s, n) (memcpy(b.data + b.len, (s), (n)), b.len += (n))
#define PUT_LIT(lit) PUT(lit, sizeof(lit) - 1)
	PUT(ej->source_name.data, ej->source_name.len);
	/* ts_ms, ts_us and ts_ns of the capture time: its digits */
	caplen = pg_lltoa(cap_us, cap);
	if (cap_us >= 1000)
		PUT(cap, caplen - 3);
	else
		b.len += pg_lltoa(cap_us / 1000, b.data + b.len);
	PUT_LIT(",\"snapshot\":\"");
	PUT(snapshot, strlen(snapshot));
	PUT(ej->source_db.data, ej->source_db.len);
	lsnlen = pg_lltoa(ev->lsn, lsn);
	PUT(lsn, lsnlen);
	PUT_LIT("\\\"]\",\"ts_us\":");
	PUT(cap, caplen);
	PUT_LIT(",\"ts_ns\":");
	if (cap_us > 0 && cap_us <= PG_INT64_MAX / 1000)
	{
		PUT(cap, caplen);
		PUT_LIT("000");
	}
	else
		b.len += pg_lltoa(cap_us * 1000, b.data + b.len);
	PUT(ej->source_table.data, ej->source_table.len);
	b.len += pg_ulltoa_n(ev->txid, b.data + b.len);
	PUT_LIT(",\"lsn\":");
	PUT(lsn, lsnlen);
	PUT_LIT(",\"xmin\":null},\"transaction\":null,\"op\":\"");
	b.data[b.len++] = op;
	PUT(ej->now_tail.data, ej->now_tail.len);
	if (env->schemas)
		b.data[b.len++] = '}';
	b.data[b.len] = '\0';
#undef PUT
#undef PUT_LIT
	*len = b.len;
	return b.data;
}

/*
 * A captured row (row_to_json text) with the stream's column rules applied:
 * the published columns in attribute order, masked and hashed values as
 * strings (of the value's text; null stays null).  NULL for NULL.
 */
static char *
rewrite_row(KafkaEnvelope *env, const char *text)
{
	RowValue   *row;
	StringInfoData b;

	if (text == NULL)
		return NULL;
	row = scan_row(env, text, strlen(text));
	initStringInfo(&b);
	appendStringInfoChar(&b, '{');
	for (int i = 0; i < env->ncols; i++)
	{
		KafkaEnvColumn *c = &env->cols[i];
		RowValue   *v = &row[i];

		append_col_key(&b, env, i, i == 0);
		if (v->tok == RT_NULL)
			appendStringInfoString(&b, "null");
		else if (c->action == KAFKA_COL_MASK)
			escape_json(&b, kafkaMaskText(rv_text(v), c->mask_keep));
		else if (c->action == KAFKA_COL_HASH)
			escape_json(&b, kafkaHashText(rv_text(v), env->tf->hash_salt));
		else
			append_json_rv(&b, v);
	}
	appendStringInfoChar(&b, '}');
	return b.data;
}

/* One row image of an event (before or after), in the envelope's format */
typedef struct EnvRow
{
	const char *text;			/* row_to_json text (rewritten by the column rules) */
	size_t		len;			/* its length */
	RowValue   *json;			/* json: the columns' values in it */
	KafkaEnvAvroRow *avro;		/* avro: read back into datums */
} EnvRow;

static EnvRow *
env_row(KafkaEnvelope *env, const char *text)
{
	EnvRow	   *row;

	if (text == NULL)
		return NULL;
	row = palloc0(sizeof(EnvRow));
	row->text = text;
	row->len = strlen(text);
	if (env->format == KAFKA_FORMAT_AVRO)
		row->avro = kafkaEnvAvroRow(env, text);
	else
		row->json = scan_row(env, text, row->len);
	return row;
}

/* The key of a row, or NULL (no row, or no key columns) */
static char *
env_key(KafkaEnvelope *env, EnvRow *row, size_t *len)
{
	*len = 0;
	if (row == NULL)
		return NULL;
	if (env->format == KAFKA_FORMAT_AVRO)
		return kafkaEnvAvroKey(env, row->avro, len);
	return make_key(env, row->json, len);
}

/* A debezium value of op with these rows */
static char *
env_dbz_value(KafkaEnvelope *env, const KafkaChangeEvent *ev, char op, EnvRow *before,
			  EnvRow *after, int64 now_ns, size_t *len)
{
	if (env->format == KAFKA_FORMAT_AVRO)
		return kafkaEnvAvroDbzValue(env, ev, op, before ? before->avro : NULL,
									after ? after->avro : NULL, now_ns, len);
	return make_dbz_value(env, ev, op, before ? before->json : NULL, before ? before->len : 0,
						  after ? after->json : NULL, after ? after->len : 0, now_ns, len);
}

/* The value of the upsert and row envelopes: the new row */
static char *
env_row_value(KafkaEnvelope *env, EnvRow *after, size_t *len)
{
	if (env->format == KAFKA_FORMAT_AVRO)
		return kafkaEnvAvroRowValue(env, after->avro, len);
	*len = after->len;
	return pnstrdup(after->text, after->len);
}

static void
add_msg(KafkaEnvMessage *out, int *n, char *key, size_t key_len, char *value, size_t value_len)
{
	out[*n].key = key;
	out[*n].key_len = key ? key_len : 0;
	out[*n].value = value;
	out[*n].value_len = value ? value_len : 0;
	(*n)++;
}

/* The messages of one event (kafkaEnvelopeEncode) */
static int
encode_event(KafkaEnvelope *env, const KafkaChangeEvent *ev, int64 now_ns, KafkaEnvMessage *out)
{
	EnvRow	   *before = env_row(env, env->rewrite ? rewrite_row(env, ev->before) : ev->before);
	EnvRow	   *after = env_row(env, env->rewrite ? rewrite_row(env, ev->after) : ev->after);
	size_t		old_len;
	size_t		new_len;
	size_t		len;
	char	   *old_key = env_key(env, before, &old_len);
	char	   *new_key = env_key(env, after, &new_len);
	bool		key_changed = ev->op == 'u' && env->nkeys > 0 && old_key && new_key &&
		(old_len != new_len || memcmp(old_key, new_key, old_len) != 0);
	char	   *value;
	int			n = 0;

	switch (env->kind)
	{
		case KAFKA_ENV_DEBEZIUM:
			switch (ev->op)
			{
				case 'c':
				case 'r':
					value = env_dbz_value(env, ev, ev->op, NULL, after, now_ns, &len);
					add_msg(out, &n, new_key, new_len, value, len);
					break;
				case 'u':
					if (key_changed)
					{
						value = env_dbz_value(env, ev, 'd', before, NULL, now_ns, &len);
						add_msg(out, &n, old_key, old_len, value, len);
						add_msg(out, &n, old_key, old_len, NULL, 0);
						value = env_dbz_value(env, ev, 'c', NULL, after, now_ns, &len);
						add_msg(out, &n, new_key, new_len, value, len);
					}
					else
					{
						value = env_dbz_value(env, ev, 'u', before, after, now_ns, &len);
						add_msg(out, &n, new_key, new_len, value, len);
					}
					break;
				case 'd':
					value = env_dbz_value(env, ev, 'd', before, NULL, now_ns, &len);
					add_msg(out, &n, old_key, old_len, value, len);
					/* a tombstone needs a key to mean anything to compaction */
					if (old_key)
						add_msg(out, &n, old_key, old_len, NULL, 0);
					break;
				case 't':
					value = env_dbz_value(env, ev, 't', NULL, NULL, now_ns, &len);
					add_msg(out, &n, NULL, 0, value, len);
					break;
				default:
					elog(ERROR, "unknown change event op \"%c\"", ev->op);
			}
			break;
		case KAFKA_ENV_UPSERT:
		case KAFKA_ENV_ROW:
			switch (ev->op)
			{
				case 'c':
				case 'r':
					value = env_row_value(env, after, &len);
					add_msg(out, &n, new_key, new_len, value, len);
					break;
				case 'u':
					if (key_changed)
						add_msg(out, &n, old_key, old_len, NULL, 0);
					value = env_row_value(env, after, &len);
					add_msg(out, &n, new_key, new_len, value, len);
					break;
				case 'd':
					add_msg(out, &n, old_key, old_len, NULL, 0);
					break;
				case 't':
					break;		/* not representable as rows of a table view */
				default:
					elog(ERROR, "unknown change event op \"%c\"", ev->op);
			}
			break;
	}
	return n;
}

/*
 * Encode one change event into up to KAFKA_ENV_MAX_MESSAGES messages (key
 * NULL: no key; value NULL: a tombstone), in the order they must be sent.
 * now_ns is the publish time (Debezium's top-level ts_ms/us/ns).  Returns
 * the number of messages (0: the envelope does not represent the event).
 * An Avro encoding error names the event and table in its message (which
 * kafka.streams.last_error shows), and is rethrown.
 */
int
kafkaEnvelopeEncode(KafkaEnvelope *env, const KafkaChangeEvent *ev, int64 now_ns,
					KafkaEnvMessage *out)
{
	MemoryContext cxt = CurrentMemoryContext;
	volatile int n = 0;

	if (env->format != KAFKA_FORMAT_AVRO)
		return encode_event(env, ev, now_ns, out);
	PG_TRY();
	{
		n = encode_event(env, ev, now_ns, out);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		edata->message = psprintf("could not encode change event " INT64_FORMAT " of table \"%s\" as Avro: %s",
								  ev->event_id, env->table, edata->message);
		ReThrowError(edata);
	}
	PG_END_TRY();
	return n;
}

/* ---------------------------------------------------------------------
 * Reading change events back (ingest.c applies them to a table)
 * ---------------------------------------------------------------------
 */

/* Big-endian two's complement bytes as a decimal string with scale digits after the point */
static char *
unscaled_to_text(const unsigned char *bytes, int n, int scale)
{
	bool		negative = n > 0 && (bytes[0] & 0x80);
	unsigned char *mag = palloc(Max(n, 1));
	StringInfoData digits;
	StringInfoData out;
	int			len;

	/* the magnitude */
	for (int i = 0; i < n; i++)
		mag[i] = negative ? (unsigned char) ~bytes[i] : bytes[i];
	if (negative)
		for (int i = n - 1; i >= 0; i--)
			if (++mag[i] != 0)
				break;
	/* base 256 to base 10, least significant digit first */
	initStringInfo(&digits);
	for (;;)
	{
		int			rem = 0;
		bool		zero = true;

		for (int i = 0; i < n; i++)
		{
			int			cur = rem * 256 + mag[i];

			mag[i] = cur / 10;
			rem = cur % 10;
			if (mag[i])
				zero = false;
		}
		appendStringInfoChar(&digits, '0' + rem);
		if (zero)
			break;
	}
	while (digits.len <= scale)
		appendStringInfoChar(&digits, '0');
	initStringInfo(&out);
	if (negative)
		appendStringInfoChar(&out, '-');
	len = digits.len;
	for (int i = len - 1; i >= 0; i--)
	{
		appendStringInfoChar(&out, digits.data[i]);
		if (i == scale && scale > 0)
			appendStringInfoChar(&out, '.');
	}
	return out.data;
}

/* Base64 text of a JSON string as bytes; ERROR if it is not base64 */
static unsigned char *
base64_bytes(const char *s, int len, int *n)
{
	int			max = pg_b64_dec_len(len);
	unsigned char *buf = palloc(Max(max, 1));

	*n = pg_b64_decode(s, len, (char *) buf, max);
	if (*n < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid base64 value in a change event")));
	return buf;
}

/* Append a JSON array as a PostgreSQL array literal (elements quoted, null as NULL) */
static void
append_array_literal(StringInfo buf, JsonbContainer *arr)
{
	JsonbIterator *it = JsonbIteratorInit(arr);
	JsonbValue	v;
	JsonbIteratorToken tok;
	bool		first = true;

	appendStringInfoChar(buf, '{');
	(void) JsonbIteratorNext(&it, &v, false);	/* WJB_BEGIN_ARRAY */
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_END_ARRAY && tok != WJB_DONE)
	{
		char	   *e;

		if (!first)
			appendStringInfoChar(buf, ',');
		first = false;
		if (v.type == jbvNull)
		{
			appendStringInfoString(buf, "NULL");
			continue;
		}
		if (v.type == jbvBinary && JsonContainerIsArray(v.val.binary.data) &&
			!JsonContainerIsScalar(v.val.binary.data))
		{
			append_array_literal(buf, v.val.binary.data);
			continue;
		}
		e = kafkaJsonValueText(&v, TEXTOID, -1, false);
		kafkaAppendQuoted(buf, e, strlen(e));
	}
	appendStringInfoChar(buf, '}');
}

/*
 * A JSON value of a row image (a change event's before or after, a key) as
 * the text input of a column of type typid; NULL for JSON null.  With
 * debezium, Debezium's representations (what append_dbz_value writes:
 * dates as days, timestamps and times as microseconds, decimals and bytes
 * as base64) are turned back into PostgreSQL's text.  Strings are their
 * content, other scalars their JSON text, arrays into an array column an
 * array literal, other objects and arrays their JSON.
 */
char *
kafkaJsonValueText(JsonbValue *v, Oid typid, int32 typmod, bool debezium)
{
	if (v->type == jbvNull)
		return NULL;
	if (debezium)
	{
		DbzType		t = dbz_type(typid, typmod);

		if (v->type == jbvNumeric && (t == DBZ_DATE || t == DBZ_MICROTS || t == DBZ_MICROTIME))
		{
			int64		n = DatumGetInt64(DirectFunctionCall1(numeric_int8, NumericGetDatum(v->val.numeric)));

			switch (t)
			{
				case DBZ_DATE:
					if (n < INT_MIN / 2 || n > INT_MAX / 2)
						ereport(ERROR,
								(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
								 errmsg("date out of range in a change event")));
					return DatumGetCString(DirectFunctionCall1(date_out,
															   DateADTGetDatum((DateADT) (n - (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE)))));
				case DBZ_MICROTS:
					{
						Timestamp	ts;

						if (pg_sub_s64_overflow(n, KAFKA_PG_EPOCH_US, &ts) || !IS_VALID_TIMESTAMP(ts))
							ereport(ERROR,
									(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
									 errmsg("timestamp out of range in a change event")));
						return DatumGetCString(DirectFunctionCall1(timestamp_out, TimestampGetDatum(ts)));
					}
				default:
					if (n < 0 || n > USECS_PER_DAY)
						ereport(ERROR,
								(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
								 errmsg("time out of range in a change event")));
					return DatumGetCString(DirectFunctionCall1(time_out, TimeADTGetDatum((TimeADT) n)));
			}
		}
		if (v->type == jbvString && (t == DBZ_DECIMAL || t == DBZ_BYTES))
		{
			int			n;
			unsigned char *b = base64_bytes(v->val.string.val, v->val.string.len, &n);

			if (t == DBZ_BYTES)
				return DatumGetCString(DirectFunctionCall1(byteaout, kafkaBytea(b, n)));
			return unscaled_to_text(b, n, (typmod - VARHDRSZ) & 0xffff);
		}
		if (v->type == jbvBinary && t == DBZ_VARDECIMAL && JsonContainerIsObject(v->val.binary.data))
		{
			JsonbValue	k;
			JsonbValue *scale;
			JsonbValue *value;

			k.type = jbvString;
			k.val.string.val = "scale";
			k.val.string.len = 5;
			scale = findJsonbValueFromContainer(v->val.binary.data, JB_FOBJECT, &k);
			k.val.string.val = "value";
			k.val.string.len = 5;
			value = findJsonbValueFromContainer(v->val.binary.data, JB_FOBJECT, &k);
			if (scale && scale->type == jbvNumeric && value && value->type == jbvString)
			{
				int			n;
				unsigned char *b = base64_bytes(value->val.string.val, value->val.string.len, &n);
				int32		sc = DatumGetInt32(DirectFunctionCall1(numeric_int4, NumericGetDatum(scale->val.numeric)));

				if (sc < 0 || sc > NUMERIC_MAX_DISPLAY_SCALE)
					ereport(ERROR,
							(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
							 errmsg("decimal scale %d out of range in a change event", sc)));
				return unscaled_to_text(b, n, sc);
			}
		}
	}
	switch (v->type)
	{
		case jbvString:

			/*
			 * An array column's value as JSON text in a string (the
			 * emitter's envelopes write arrays so): an array literal.
			 */
			if (v->val.string.len > 0 && v->val.string.val[0] == '[' &&
				OidIsValid(get_element_type(getBaseType(typid))))
			{
				Jsonb	   *jb = DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
																	CStringGetDatum(pnstrdup(v->val.string.val, v->val.string.len))));
				StringInfoData b;

				initStringInfo(&b);
				append_array_literal(&b, &jb->root);
				return b.data;
			}
			return pnstrdup(v->val.string.val, v->val.string.len);
		case jbvNumeric:
			return DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
		case jbvBool:
			return pstrdup(v->val.boolean ? "true" : "false");
		case jbvBinary:
			/* a JSON array into an array column: an array literal */
			if (JsonContainerIsArray(v->val.binary.data) && OidIsValid(get_element_type(getBaseType(typid))))
			{
				StringInfoData b;

				initStringInfo(&b);
				append_array_literal(&b, v->val.binary.data);
				return b.data;
			}
			return JsonbToCString(NULL, v->val.binary.data, v->val.binary.len);
		default:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("unexpected JSON value in a change event")));
	}
	return NULL;				/* keep the compiler quiet */
}
