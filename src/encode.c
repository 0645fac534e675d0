/*-------------------------------------------------------------------------
 *
 * encode.c
 *		  Encoding rows into Kafka messages for INSERT: the value in the
 *		  table's format, the key, and the headers.  The inverse of the
 *		  codecs, so that what INSERT writes, SELECT reads back.
 *
 *		  json	one object of the value columns by their json name; NULL as
 *				null, numbers and booleans as literals, json/jsonb embedded,
 *				everything else (arrays, composites, dates, ...) the way
 *				PostgreSQL's to_json() writes it.
 *		  csv	one COPY-compatible record with the table's delimiter,
 *				quote, escape and null string.
 *		  text, bytea, jsonb
 *				the single value column is the whole value; NULL is a
 *				tombstone (a message without a value).
 *
 * Invariants:
 *	- Text sent to Kafka is UTF-8: converted from the server encoding when
 *	  that differs.
 *	- Everything is palloc'd in the caller's (per-row) memory context; the
 *	  encoder's buffers are reused from row to row.
 *	- No librdkafka object is created here: headers come back as a palloc'd
 *	  array, so an ERROR while encoding cannot leak one.
 *
 *-------------------------------------------------------------------------
 */
#include "kafka_fdw.h"

#include "catalog/pg_type.h"
#include "mb/pg_wchar.h"
#include "nodes/makefuncs.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"

/* How a value column is written into a JSON object */
typedef enum JsonKind
{
	JK_INT2,					/* integers: the literal, formatted in place */
	JK_INT4,
	JK_INT8,
	JK_INTEGER,					/* oid: the literal from the output function */
	JK_NUMBER,					/* float/numeric: literal, or a string for NaN/Infinity */
	JK_BOOL,					/* true/false */
	JK_TEXT,					/* text/varchar: an escaped string */
	JK_JSON,					/* json: embedded as it is */
	JK_JSONB,					/* jsonb: embedded */
	JK_OTHER					/* to_json() */
} JsonKind;

static JsonKind
json_kind(Oid typid)
{
	switch (getBaseType(typid))
	{
		case INT2OID:
			return JK_INT2;
		case INT4OID:
			return JK_INT4;
		case INT8OID:
			return JK_INT8;
		case OIDOID:
			return JK_INTEGER;
		case FLOAT4OID:
		case FLOAT8OID:
		case NUMERICOID:
			return JK_NUMBER;
		case BOOLOID:
			return JK_BOOL;
		case TEXTOID:
		case VARCHAROID:
			return JK_TEXT;
		case JSONOID:
			return JK_JSON;
		case JSONBOID:
			return JK_JSONB;
		default:
			return JK_OTHER;
	}
}

/*
 * A to_json() call for one column type.  to_json() looks at the type of its
 * argument expression, so the FmgrInfo gets a dummy expression of that type;
 * it then caches its type lookups in fn_extra, once per statement.
 */
static void
init_to_json(FmgrInfo *finfo, KafkaColumn *col)
{
	Node	   *arg = (Node *) makeNullConst(col->typid, col->typmod, InvalidOid);

	fmgr_info(F_TO_JSON, finfo);
	fmgr_info_set_expr((Node *) makeFuncExpr(F_TO_JSON, JSONOID, list_make1(arg),
											 InvalidOid, InvalidOid, COERCE_EXPLICIT_CALL),
					   finfo);
}

/* Bytes a JSON string cannot hold as they are: control characters, '"', '\\' */
static bool json_escape_byte[256];
static bool json_escape_ready = false;

static void
init_json_escape(void)
{
	for (int c = 0; c < 256; c++)
		json_escape_byte[c] = c < 0x20 || c == '"' || c == '\\';
	json_escape_ready = true;
}

/*
 * Create the encoder of a table, in the current memory context (the
 * statement's).
 */
KafkaEncoder *
kafkaEncoderCreate(KafkaOptions *opts)
{
	KafkaEncoder *enc = palloc0(sizeof(KafkaEncoder));

	enc->opts = opts;
	enc->value_cols = palloc0(sizeof(KafkaColumn *) * Max(opts->nvalue_columns, 1));
	for (int i = 0; i < opts->ncolumns; i++)
	{
		KafkaColumn *col = &opts->columns[i];

		if (col->dropped || col->kind != KAFKA_COL_VALUE)
			continue;
		enc->value_cols[col->value_index] = col;
		enc->nvalue = Max(enc->nvalue, col->value_index + 1);
	}

	if (!json_escape_ready)
		init_json_escape();
	if (opts->format == KAFKA_FORMAT_JSON)
	{
		enc->json_kind = palloc0(sizeof(int) * Max(enc->nvalue, 1));
		enc->json_keys = palloc0(sizeof(char *) * Max(enc->nvalue, 1));
		enc->json_key_len = palloc0(sizeof(int) * Max(enc->nvalue, 1));
		enc->to_json = palloc0(sizeof(FmgrInfo) * Max(enc->nvalue, 1));
		for (int i = 0; i < enc->nvalue; i++)
		{
			KafkaColumn *col = enc->value_cols[i];
			StringInfoData k;

			initStringInfo(&k);
			if (i > 0)
				appendStringInfoChar(&k, ',');
			escape_json(&k, col->json_name);
			appendStringInfoChar(&k, ':');
			enc->json_keys[i] = k.data;
			enc->json_key_len[i] = k.len;
			enc->json_kind[i] = json_kind(col->typid);
			if (enc->json_kind[i] == JK_OTHER)
				init_to_json(&enc->to_json[i], col);
		}
	}
	initStringInfo(&enc->value);
	initStringInfo(&enc->key);
	initStringInfo(&enc->scratch);
	return enc;
}

/*
 * Make room for n more bytes.  The hot path below writes into the buffer
 * directly after reserving, instead of a function call per piece; the
 * buffer's terminating NUL is restored once per message.
 */
static inline void
reserve(StringInfo buf, int n)
{
	if (unlikely(buf->len + n >= buf->maxlen))
		enlargeStringInfo(buf, n);
}

static inline void
put(StringInfo buf, const char *s, int n)
{
	memcpy(buf->data + buf->len, s, n);
	buf->len += n;
}

/*
 * A JSON string from text that need not be NUL-terminated, escaped as
 * escape_json() does, but copying unescaped runs at once: text without
 * quotes or control characters is one memcpy.
 */
static void
append_json_string(StringInfo buf, const char *s, int len)
{
	const unsigned char *p = (const unsigned char *) s;
	const unsigned char *end = p + len;

	reserve(buf, len + 2);
	buf->data[buf->len++] = '"';
	for (;;)
	{
		const unsigned char *run = p;
		unsigned char c;

		while (p < end && !json_escape_byte[*p])
			p++;
		put(buf, (const char *) run, p - run);
		if (p >= end)
			break;
		/* an escape: up to 6 bytes instead of 1 */
		reserve(buf, (end - p) + 6 + 1);
		c = *p++;
		buf->data[buf->len++] = '\\';
		switch (c)
		{
			case '"':
			case '\\':
				buf->data[buf->len++] = c;
				break;
			case '\b':
				buf->data[buf->len++] = 'b';
				break;
			case '\f':
				buf->data[buf->len++] = 'f';
				break;
			case '\n':
				buf->data[buf->len++] = 'n';
				break;
			case '\r':
				buf->data[buf->len++] = 'r';
				break;
			case '\t':
				buf->data[buf->len++] = 't';
				break;
			default:
				buf->len += snprintf(buf->data + buf->len, 6, "u%04x", c);
				break;
		}
	}
	buf->data[buf->len++] = '"';
}

/* Does the output of a float or numeric read as a JSON number? */
static bool
is_json_number(const char *s)
{
	if (*s == '-')
		s++;
	return *s >= '0' && *s <= '9';
}

/* Append a text datum as the raw bytes of its content */
static void
append_text(StringInfo buf, Datum d)
{
	text	   *t = DatumGetTextPP(d);

	appendBinaryStringInfo(buf, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
}

/* The text form of a value, as a NUL-terminated string */
static char *
text_form(KafkaColumn *col, Datum d)
{
	Oid			base = getBaseType(col->typid);

	if (base == TEXTOID || base == VARCHAROID)
		return TextDatumGetCString(d);
	return OutputFunctionCall(&col->out_func, d);
}

static void
encode_json(KafkaEncoder *enc, Datum *values, bool *nulls)
{
	StringInfo	buf = &enc->value;

	reserve(buf, 2);
	buf->data[buf->len++] = '{';
	for (int i = 0; i < enc->nvalue; i++)
	{
		KafkaColumn *col = enc->value_cols[i];
		Datum		d = values[col->attnum - 1];

		/* key, and room for any fixed-size value */
		reserve(buf, enc->json_key_len[i] + 24);
		put(buf, enc->json_keys[i], enc->json_key_len[i]);
		if (nulls[col->attnum - 1])
		{
			put(buf, "null", 4);
			continue;
		}
		switch ((JsonKind) enc->json_kind[i])
		{
			case JK_INT2:
				buf->len += pg_ltoa(DatumGetInt16(d), buf->data + buf->len);
				break;
			case JK_INT4:
				buf->len += pg_ltoa(DatumGetInt32(d), buf->data + buf->len);
				break;
			case JK_INT8:
				buf->len += pg_lltoa(DatumGetInt64(d), buf->data + buf->len);
				break;
			case JK_INTEGER:
				appendStringInfoString(buf, OutputFunctionCall(&col->out_func, d));
				break;
			case JK_NUMBER:
				{
					char	   *s = OutputFunctionCall(&col->out_func, d);

					if (is_json_number(s))
						appendStringInfoString(buf, s);
					else
						escape_json(buf, s);	/* NaN, Infinity: as to_json does */
					break;
				}
			case JK_BOOL:
				if (DatumGetBool(d))
					put(buf, "true", 4);
				else
					put(buf, "false", 5);
				break;
			case JK_TEXT:
				{
					text	   *t = DatumGetTextPP(d);

					append_json_string(buf, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
					break;
				}
			case JK_JSON:
				append_text(buf, d);
				break;
			case JK_JSONB:
				{
					Jsonb	   *jb = DatumGetJsonbP(d);

					JsonbToCString(buf, &jb->root, VARSIZE(jb));
					break;
				}
			case JK_OTHER:
				append_text(buf, FunctionCall1(&enc->to_json[i], d));
				break;
		}
	}
	reserve(buf, 2);
	buf->data[buf->len++] = '}';
	buf->data[buf->len] = '\0';
}

/*
 * One CSV field the way COPY ... CSV writes it: quoted if it contains the
 * delimiter, the quote, a newline, or equals the null string; inside quotes,
 * the quote and the escape are preceded by the escape.
 */
static void
append_csv_field(StringInfo buf, KafkaOptions *o, const char *s, bool single)
{
	bool		quote = strcmp(s, o->csv_null) == 0;

	if (!quote)
	{
		if (single && strcmp(s, "\\.") == 0)
			quote = true;
		for (const char *p = s; *p && !quote; p++)
			if (*p == o->csv_delimiter || *p == o->csv_quote || *p == '\n' || *p == '\r')
				quote = true;
	}
	if (!quote)
	{
		appendStringInfoString(buf, s);
		return;
	}
	appendStringInfoChar(buf, o->csv_quote);
	for (const char *p = s; *p; p++)
	{
		if (*p == o->csv_quote || *p == o->csv_escape)
			appendStringInfoChar(buf, o->csv_escape);
		appendStringInfoChar(buf, *p);
	}
	appendStringInfoChar(buf, o->csv_quote);
}

static void
encode_csv(KafkaEncoder *enc, Datum *values, bool *nulls)
{
	KafkaOptions *o = enc->opts;

	for (int i = 0; i < enc->nvalue; i++)
	{
		KafkaColumn *col = enc->value_cols[i];

		if (i > 0)
			appendStringInfoChar(&enc->value, o->csv_delimiter);
		if (nulls[col->attnum - 1])
			appendStringInfoString(&enc->value, o->csv_null);
		else
			append_csv_field(&enc->value, o, text_form(col, values[col->attnum - 1]), enc->nvalue == 1);
	}
}

/* The whole value from the single value column (text, bytea, jsonb formats) */
static void
encode_whole(KafkaEncoder *enc, Datum d)
{
	KafkaColumn *col = enc->value_cols[0];
	Oid			base = getBaseType(col->typid);

	if (base == BYTEAOID || base == TEXTOID || base == VARCHAROID || base == JSONOID)
		append_text(&enc->value, d);	/* the bytes themselves */
	else if (base == JSONBOID)
	{
		Jsonb	   *jb = DatumGetJsonbP(d);

		JsonbToCString(&enc->value, &jb->root, VARSIZE(jb));
	}
	else
		appendStringInfoString(&enc->value, OutputFunctionCall(&col->out_func, d));
}

/* Text in the server encoding to UTF-8, in place in buf */
static void
to_utf8(StringInfo buf, int from)
{
	char	   *conv;

	if (GetDatabaseEncoding() == PG_UTF8 || GetDatabaseEncoding() == PG_SQL_ASCII || buf->len == 0)
		return;
	conv = pg_server_to_any(buf->data + from, buf->len - from, PG_UTF8);
	if (conv != buf->data + from)
	{
		buf->len = from;
		buf->data[from] = '\0';
		appendStringInfoString(buf, conv);
	}
}

/*
 * Encode the value of a row (values/nulls indexed by attnum - 1).  Returns
 * false for a tombstone (no value); otherwise *data and *len point into the
 * encoder's buffer, valid until the next call.
 */
bool
kafkaEncodeValue(KafkaEncoder *enc, Datum *values, bool *nulls, const char **data, size_t *len)
{
	KafkaOptions *o = enc->opts;
	bool		binary = false;

	resetStringInfo(&enc->value);
	switch (o->format)
	{
		case KAFKA_FORMAT_JSON:
			encode_json(enc, values, nulls);
			break;
		case KAFKA_FORMAT_CSV:
			encode_csv(enc, values, nulls);
			break;
		case KAFKA_FORMAT_TEXT:
		case KAFKA_FORMAT_BYTEA:
		case KAFKA_FORMAT_JSONB:
			if (enc->nvalue == 0 || nulls[enc->value_cols[0]->attnum - 1])
				return false;
			encode_whole(enc, values[enc->value_cols[0]->attnum - 1]);
			binary = getBaseType(enc->value_cols[0]->typid) == BYTEAOID;
			break;
		case KAFKA_FORMAT_AVRO:
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("format avro is not supported yet")));
	}
	if (!binary)
		to_utf8(&enc->value, 0);
	*data = enc->value.data;
	*len = enc->value.len;
	return true;
}

/*
 * Encode a non-null key: text as its UTF-8 bytes, bytea raw, other types by
 * their output function.
 */
void
kafkaEncodeKey(KafkaEncoder *enc, Datum value, const char **data, size_t *len)
{
	KafkaColumn *col = &enc->opts->columns[enc->opts->key_attnum - 1];
	Oid			base = getBaseType(col->typid);

	resetStringInfo(&enc->key);
	if (base == BYTEAOID || base == TEXTOID || base == VARCHAROID)
		append_text(&enc->key, value);
	else
		appendStringInfoString(&enc->key, OutputFunctionCall(&col->out_func, value));
	if (base != BYTEAOID)
		to_utf8(&enc->key, 0);
	*data = enc->key.data;
	*len = enc->key.len;
}

/* A header name or string value as UTF-8, palloc'd */
static char *
utf8_copy(const char *s, size_t len, size_t *outlen)
{
	StringInfoData b;

	initStringInfo(&b);
	appendBinaryStringInfo(&b, s, len);
	to_utf8(&b, 0);
	*outlen = b.len;
	return b.data;
}

/*
 * Encode a headers column (jsonb, or json) into *headers: one header per
 * key of the object, in the object's order; a string value is its bytes,
 * null a null value, anything else its JSON text.  Returns the count.
 */
int
kafkaEncodeHeaders(KafkaEncoder *enc, Datum value, KafkaHeader **headers)
{
	KafkaColumn *col = &enc->opts->columns[enc->opts->headers_attnum - 1];
	Jsonb	   *jb;
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	int			n = 0;
	int			max;
	char	   *name = NULL;

	if (getBaseType(col->typid) == JSONOID)
		jb = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(TextDatumGetCString(value))));
	else
		jb = DatumGetJsonbP(value);

	if (!JB_ROOT_IS_OBJECT(jb))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("headers column \"%s\" must be a JSON object", col->name),
				 errhint("Write headers as {\"name\": \"value\", ...}.")));
	max = JB_ROOT_COUNT(jb);
	*headers = palloc0(sizeof(KafkaHeader) * Max(max, 1));

	it = JsonbIteratorInit(&jb->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		KafkaHeader *h;
		size_t		len;

		if (tok == WJB_KEY)
		{
			name = utf8_copy(v.val.string.val, v.val.string.len, &len);
			continue;
		}
		if (tok != WJB_VALUE || n >= max)
			continue;
		h = &(*headers)[n++];
		h->name = name;
		switch (v.type)
		{
			case jbvNull:
				h->value = NULL;
				h->len = 0;
				break;
			case jbvString:
				h->value = utf8_copy(v.val.string.val, v.val.string.len, &h->len);
				break;
			case jbvNumeric:
				h->value = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v.val.numeric)));
				h->len = strlen(h->value);
				break;
			case jbvBool:
				h->value = v.val.boolean ? "true" : "false";
				h->len = strlen(h->value);
				break;
			case jbvBinary:
				{
					StringInfoData b;

					initStringInfo(&b);
					JsonbToCString(&b, v.val.binary.data, v.val.binary.len);
					to_utf8(&b, 0);
					h->value = b.data;
					h->len = b.len;
					break;
				}
			default:
				h->value = NULL;
				break;
		}
	}
	return n;
}
