/*-------------------------------------------------------------------------
 *
 * encode.c
 *		  Encoding rows into Kafka messages for INSERT: the value through
 *		  the table's codec (the format's entry in codec.c's table, which
 *		  also decodes it, so that what INSERT writes, SELECT reads back),
 *		  the key (raw, or through the codec of key_format), and the
 *		  headers.
 *
 * Invariants:
 *	- Text sent to Kafka is UTF-8 (or the encoding the table option
 *	  encoding names): converted from the server encoding when that differs.
 *	  Header names and values are always UTF-8.
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

/*
 * Create the encoder of a table, in the current memory context (the
 * statement's).  With a key_format and a key column, it has an encoder of
 * the key too (key_enc): the same codec interface, with part
 * KAFKA_PART_KEY and the key column as its one column.
 */
KafkaEncoder *
kafkaEncoderCreate(KafkaOptions *opts)
{
	KafkaEncoder *enc = palloc0(sizeof(KafkaEncoder));

	enc->opts = opts;
	enc->codec = kafkaCodec(opts->format);
	enc->part = KAFKA_PART_VALUE;
	enc->value_cols = palloc0(sizeof(KafkaColumn *) * Max(opts->nvalue_columns, 1));
	for (int i = 0; i < opts->ncolumns; i++)
	{
		KafkaColumn *col = &opts->columns[i];

		if (col->dropped || col->kind != KAFKA_COL_VALUE)
			continue;
		enc->value_cols[col->value_index] = col;
		enc->nvalue = Max(enc->nvalue, col->value_index + 1);
	}
	initStringInfo(&enc->value);
	initStringInfo(&enc->key);
	initStringInfo(&enc->scratch);
	if (enc->codec->encoder_init)
		enc->codec->encoder_init(enc);

	if (opts->key_codec && opts->key_attnum)
	{
		KafkaEncoder *ke = palloc0(sizeof(KafkaEncoder));

		ke->opts = opts;
		ke->codec = opts->key_codec;
		ke->part = KAFKA_PART_KEY;
		ke->nvalue = 1;
		ke->value_cols = palloc(sizeof(KafkaColumn *));
		ke->value_cols[0] = &opts->columns[opts->key_attnum - 1];
		initStringInfo(&ke->value);
		initStringInfo(&ke->key);
		initStringInfo(&ke->scratch);
		if (ke->codec->encoder_init)
			ke->codec->encoder_init(ke);
		enc->key_enc = ke;
	}
	return enc;
}

/*
 * Encode the value of a row (values/nulls indexed by attnum - 1).  Returns
 * false for a tombstone (no value); otherwise *data and *len point into the
 * encoder's buffer, valid until the next call.
 */
bool
kafkaEncodeValue(KafkaEncoder *enc, Datum *values, bool *nulls, const char **data, size_t *len)
{
	resetStringInfo(&enc->value);
	if (!enc->codec->encode(enc, values, nulls))
		return false;
	if (enc->codec->flags & KAFKA_CODEC_TEXT)
		kafkaToMessageText(&enc->value, 0, enc->opts->encoding);
	*data = enc->value.data;
	*len = enc->value.len;
	return true;
}

/*
 * Encode the key column of a row (values/nulls indexed by attnum - 1; the
 * caller checked that it is not NULL: a NULL key is a message without a
 * key).  With a key_format, the key's codec encodes it (kafkaEncodeValue on
 * the key's encoder); else text is its UTF-8 bytes (or in the table's
 * encoding), bytea raw, other types their output function.  *data and *len
 * are valid until the next call.
 */
void
kafkaEncodeKey(KafkaEncoder *enc, Datum *values, bool *nulls, const char **data, size_t *len)
{
	KafkaColumn *col = &enc->opts->columns[enc->opts->key_attnum - 1];
	Datum		value = values[col->attnum - 1];
	Oid			base;

	if (enc->key_enc)
	{
		if (!kafkaEncodeValue(enc->key_enc, values, nulls, data, len))
		{
			/* a codec that writes no bytes for this key: no key */
			*data = NULL;
			*len = 0;
		}
		return;
	}
	base = getBaseType(col->typid);
	resetStringInfo(&enc->key);
	if (base == BYTEAOID || base == TEXTOID || base == VARCHAROID)
		kafkaAppendText(&enc->key, value);
	else
		appendStringInfoString(&enc->key, OutputFunctionCall(&col->out_func, value));
	if (base != BYTEAOID)
		kafkaToMessageText(&enc->key, 0, enc->opts->encoding);
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
	kafkaToUtf8(&b, 0);
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
					kafkaToUtf8(&b, 0);
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
