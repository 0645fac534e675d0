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
 *
 *-------------------------------------------------------------------------
 */
#include "kafka_fdw.h"

#include "access/tupdesc.h"
#include "catalog/pg_type.h"
#include "common/base64.h"
#include "common/int.h"
#include "datatype/timestamp.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
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
 * Values
 * ---------------------------------------------------------------------
 */

/* A captured row (row_to_json text) as jsonb, or NULL */
static Jsonb *
parse_row(const char *text)
{
	if (text == NULL)
		return NULL;
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(text)));
}

/* The value of column name in a captured row, or NULL if absent or null */
static JsonbValue *
row_field(Jsonb *row, const char *name)
{
	JsonbValue *v;

	if (row == NULL)
		return NULL;
	v = getKeyJsonValueFromContainer(&row->root, name, strlen(name), NULL);
	if (v == NULL || v->type == jbvNull)
		return NULL;
	return v;
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

static void
append_base64(StringInfo buf, const unsigned char *data, int len)
{
	int			enclen = pg_b64_enc_len(len);
	char	   *out = palloc(enclen + 1);
	int			n = pg_b64_encode((const char *) data, len, out, enclen);

	if (n < 0)
		elog(ERROR, "could not encode base64");
	appendStringInfoChar(buf, '"');
	appendBinaryStringInfo(buf, out, n);
	appendStringInfoChar(buf, '"');
}

/*
 * The unscaled value of a decimal number text, as Java's
 * BigInteger.toByteArray() writes it (big-endian two's complement, fewest
 * bytes), rescaled to scale (or at its own scale if scale < 0; *out_scale
 * gets the scale used).  Returns false for NaN and infinities.
 */
static bool
unscaled_bytes(const char *text, int scale, int *out_scale, unsigned char **bytes, int *nbytes)
{
	bool		neg = false;
	const char *p = text;
	StringInfoData digits;
	int			frac = 0;
	bool		in_frac = false;
	unsigned char *mag;
	int			nmag = 1;
	int			cap;

	if (*p == '-')
	{
		neg = true;
		p++;
	}
	else if (*p == '+')
		p++;
	if (!isdigit((unsigned char) *p) && *p != '.')
		return false;			/* NaN, Infinity */
	initStringInfo(&digits);
	for (; *p; p++)
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
			appendStringInfoChar(&digits, *p);
		}
		else
			return false;		/* an exponent: not from numeric_out */
	}
	if (scale >= 0)
		for (; frac < scale; frac++)
			appendStringInfoChar(&digits, '0');
	*out_scale = frac;

	/* decimal digits to base-256 magnitude, most significant byte first */
	cap = digits.len / 2 + 2;
	mag = palloc0(cap);
	mag[cap - 1] = 0;
	for (int i = 0; i < digits.len; i++)
	{
		int			carry = digits.data[i] - '0';

		for (int j = cap - 1; j >= cap - nmag; j--)
		{
			int			v = mag[j] * 10 + carry;

			mag[j] = v & 0xff;
			carry = v >> 8;
		}
		if (carry)
			mag[cap - 1 - nmag++] = carry;
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
		*bytes = palloc(nmag + 1);
		if (!neg)
		{
			int			off = (m[0] & 0x80) ? 1 : 0;

			(*bytes)[0] = 0;
			memcpy(*bytes + off, m, nmag);
			*nbytes = nmag + off;
		}
		else
		{
			int			carry = 1;
			unsigned char *t = palloc(nmag);

			for (int i = nmag - 1; i >= 0; i--)
			{
				int			v = (unsigned char) ~m[i] + carry;

				t[i] = v & 0xff;
				carry = v >> 8;
			}
			if (t[0] & 0x80)
			{
				memcpy(*bytes, t, nmag);
				*nbytes = nmag;
			}
			else
			{
				(*bytes)[0] = 0xff;
				memcpy(*bytes + 1, t, nmag);
				*nbytes = nmag + 1;
			}
		}
	}
	return true;
}

/* PostgreSQL's epoch (2000-01-01) to the Unix epoch, in microseconds */
#define PG_TO_UNIX_US ((int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY)

/* Append a timestamptz as Debezium's ZonedTimestamp: ISO 8601 in UTC */
static void
append_zoned(StringInfo buf, const char *text)
{
	TimestampTz ts = DatumGetTimestampTz(DirectFunctionCall3(timestamptz_in, CStringGetDatum(text),
															 ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1)));
	struct pg_tm tm;
	fsec_t		fsec;
	char		frac[8];

	if (TIMESTAMP_NOT_FINITE(ts) || timestamp2tm(ts, NULL, &tm, &fsec, NULL, NULL) != 0 || tm.tm_year <= 0)
	{
		escape_json(buf, text);
		return;
	}
	frac[0] = '\0';
	if (fsec != 0)
	{
		int			len;

		snprintf(frac, sizeof(frac), ".%06d", (int) fsec);
		len = strlen(frac);
		while (frac[len - 1] == '0')
			frac[--len] = '\0';
	}
	appendStringInfo(buf, "\"%04d-%02d-%02dT%02d:%02d:%02d%sZ\"",
					 tm.tm_year, tm.tm_mon, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
}

/* Append the value of column c in Debezium's representation */
static void
append_dbz_value(StringInfo buf, const KafkaEnvColumn *c, JsonbValue *v)
{
	char	   *s;

	if (v == NULL)
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
			{
				unsigned char *bytes;
				int			nbytes;
				int			scale;
				bool		fixed = c->dbz_type == DBZ_DECIMAL;

				s = value_text(v);
				if (!unscaled_bytes(s, fixed ? ((c->typmod - VARHDRSZ) & 0xffff) : -1,
									&scale, &bytes, &nbytes))
				{
					appendStringInfoString(buf, "null");	/* NaN, infinities */
					break;
				}
				if (!fixed)
					appendStringInfo(buf, "{\"scale\":%d,\"value\":", scale);
				append_base64(buf, bytes, nbytes);
				if (!fixed)
					appendStringInfoChar(buf, '}');
				break;
			}
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
					appendStringInfo(buf, INT64_FORMAT, ts + PG_TO_UNIX_US);
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
					appendStringInfo(buf, "%d", (int) (d + POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE));
				break;
			}
		case DBZ_MICROTIME:
			{
				TimeADT		t = DatumGetTimeADT(DirectFunctionCall3(time_in, CStringGetDatum(value_text(v)),
																	ObjectIdGetDatum(InvalidOid),
																	Int32GetDatum(-1)));

				appendStringInfo(buf, INT64_FORMAT, (int64) t);
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

/* Append a row {"col": value, ...} in Debezium's representation, or null */
static void
append_dbz_row(StringInfo buf, KafkaEnvelope *env, Jsonb *row)
{
	if (row == NULL)
	{
		appendStringInfoString(buf, "null");
		return;
	}
	appendStringInfoChar(buf, '{');
	for (int i = 0; i < env->ncols; i++)
	{
		if (i > 0)
			appendStringInfoChar(buf, ',');
		escape_json(buf, env->cols[i].name);
		appendStringInfoChar(buf, ':');
		append_dbz_value(buf, &env->cols[i], row_field(row, env->cols[i].name));
	}
	appendStringInfoChar(buf, '}');
}

/*
 * The key of a row: {"k1": v1, ...} of the key columns (Debezium values
 * for debezium, JSON values as captured otherwise, wrapped with the key
 * schema if asked), or NULL when the stream has no key columns.
 */
static char *
make_key(KafkaEnvelope *env, Jsonb *row)
{
	StringInfoData b;

	if (env->nkeys == 0 || row == NULL)
		return NULL;
	initStringInfo(&b);
	if (env->schemas)
		appendStringInfo(&b, "{\"schema\":%s,\"payload\":", env->key_schema);
	appendStringInfoChar(&b, '{');
	for (int i = 0; i < env->nkeys; i++)
	{
		KafkaEnvColumn *c = &env->cols[env->keys[i]];
		JsonbValue *v = row_field(row, c->name);

		if (i > 0)
			appendStringInfoChar(&b, ',');
		escape_json(&b, c->name);
		appendStringInfoChar(&b, ':');
		if (env->kind == KAFKA_ENV_DEBEZIUM)
			append_dbz_value(&b, c, v);
		else if (v == NULL)
			appendStringInfoString(&b, "null");
		else
			append_json_value(&b, v);
	}
	appendStringInfoChar(&b, '}');
	if (env->schemas)
		appendStringInfoChar(&b, '}');
	return b.data;
}

/* A debezium value of op with these rows */
static char *
make_dbz_value(KafkaEnvelope *env, const KafkaChangeEvent *ev, char op,
			   Jsonb *before, Jsonb *after, int64 now_ns)
{
	StringInfoData b;
	int64		cap_us = ev->captured_us;
	const char *snapshot = op == 'r' ? (ev->snapshot ? ev->snapshot : "true") : "false";

	initStringInfo(&b);
	if (env->schemas)
		appendStringInfo(&b, "{\"schema\":%s,\"payload\":", env->value_schema);
	appendStringInfoString(&b, "{\"before\":");
	append_dbz_row(&b, env, before);
	appendStringInfoString(&b, ",\"after\":");
	append_dbz_row(&b, env, after);
	appendStringInfoString(&b, ",\"source\":{\"version\":\"" KAFKA_FDW_SOURCE_VERSION "\",\"connector\":\"postgresql\",\"name\":");
	escape_json(&b, env->name);
	appendStringInfo(&b, ",\"ts_ms\":" INT64_FORMAT ",\"snapshot\":\"%s\",\"db\":", cap_us / 1000, snapshot);
	escape_json(&b, env->db);
	appendStringInfo(&b, ",\"sequence\":\"[null,\\\"" INT64_FORMAT "\\\"]\",\"ts_us\":" INT64_FORMAT
					 ",\"ts_ns\":" INT64_FORMAT ",\"schema\":",
					 ev->lsn, cap_us, cap_us * 1000);
	escape_json(&b, env->schema);
	appendStringInfoString(&b, ",\"table\":");
	escape_json(&b, env->table);
	appendStringInfo(&b, ",\"txId\":" UINT64_FORMAT ",\"lsn\":" INT64_FORMAT ",\"xmin\":null},"
					 "\"transaction\":null,\"op\":\"%c\",\"ts_ms\":" INT64_FORMAT ",\"ts_us\":" INT64_FORMAT
					 ",\"ts_ns\":" INT64_FORMAT "}",
					 ev->txid, ev->lsn, op, now_ns / 1000000, now_ns / 1000, now_ns);
	if (env->schemas)
		appendStringInfoChar(&b, '}');
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
	Jsonb	   *row = parse_row(text);
	StringInfoData b;

	if (row == NULL)
		return NULL;
	initStringInfo(&b);
	appendStringInfoChar(&b, '{');
	for (int i = 0; i < env->ncols; i++)
	{
		KafkaEnvColumn *c = &env->cols[i];
		JsonbValue *v = row_field(row, c->name);

		if (i > 0)
			appendStringInfoChar(&b, ',');
		escape_json(&b, c->name);
		appendStringInfoChar(&b, ':');
		if (v == NULL)
			appendStringInfoString(&b, "null");
		else if (c->action == KAFKA_COL_MASK)
			escape_json(&b, kafkaMaskText(value_text(v), c->mask_keep));
		else if (c->action == KAFKA_COL_HASH)
			escape_json(&b, kafkaHashText(value_text(v), env->tf->hash_salt));
		else
			append_json_value(&b, v);
	}
	appendStringInfoChar(&b, '}');
	return b.data;
}

/* One row image of an event (before or after), in the envelope's format */
typedef struct EnvRow
{
	const char *text;			/* row_to_json text (rewritten by the column rules) */
	Jsonb	   *json;			/* json: parsed */
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
	if (env->format == KAFKA_FORMAT_AVRO)
		row->avro = kafkaEnvAvroRow(env, text);
	else
		row->json = parse_row(text);
	return row;
}

/* The key of a row, or NULL (no row, or no key columns) */
static char *
env_key(KafkaEnvelope *env, EnvRow *row, size_t *len)
{
	char	   *key;

	*len = 0;
	if (row == NULL)
		return NULL;
	if (env->format == KAFKA_FORMAT_AVRO)
		return kafkaEnvAvroKey(env, row->avro, len);
	key = make_key(env, row->json);
	*len = key ? strlen(key) : 0;
	return key;
}

/* A debezium value of op with these rows */
static char *
env_dbz_value(KafkaEnvelope *env, const KafkaChangeEvent *ev, char op, EnvRow *before,
			  EnvRow *after, int64 now_ns, size_t *len)
{
	char	   *value;

	if (env->format == KAFKA_FORMAT_AVRO)
		return kafkaEnvAvroDbzValue(env, ev, op, before ? before->avro : NULL,
									after ? after->avro : NULL, now_ns, len);
	value = make_dbz_value(env, ev, op, before ? before->json : NULL,
						   after ? after->json : NULL, now_ns);
	*len = strlen(value);
	return value;
}

/* The value of the upsert and row envelopes: the new row */
static char *
env_row_value(KafkaEnvelope *env, EnvRow *after, size_t *len)
{
	if (env->format == KAFKA_FORMAT_AVRO)
		return kafkaEnvAvroRowValue(env, after->avro, len);
	*len = strlen(after->text);
	return pstrdup(after->text);
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

						if (pg_sub_s64_overflow(n, PG_TO_UNIX_US, &ts) || !IS_VALID_TIMESTAMP(ts))
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
