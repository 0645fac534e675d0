/*-------------------------------------------------------------------------
 *
 * codec_raw.c
 *		  The whole-value formats text, bytea and jsonb: the message value
 *		  is the value of the table's one value column.  They differ only
 *		  in name; what the bytes mean follows the column's type.
 *
 *		  Decoding: a bytea column gets the bytes as they are; any other
 *		  column gets the value as text (UTF-8, or the table's encoding)
 *		  through its input function.
 *		  Encoding: bytea, text, varchar and json columns write their bytes;
 *		  jsonb its text; other types their output function's text.  A NULL
 *		  value column is a tombstone (a message without a value), both
 *		  ways.
 *
 *-------------------------------------------------------------------------
 */
#include "kafka_fdw.h"

#include "catalog/pg_type.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"

/* The whole message value into the one value column */
static bool
raw_decode(KafkaDecoder *dec, const char *data, size_t len, Datum *values, bool *nulls, char **reason)
{
	KafkaColumn *col = dec->needed[0];

	if (col->typid == BYTEAOID)
	{
		values[col->attnum - 1] = kafkaBytea(data, len);
		nulls[col->attnum - 1] = false;
		return true;
	}
	if (!kafkaEncodedToServerText(dec->opts->encoding, &data, &len, reason))
		return false;
	values[col->attnum - 1] = kafkaColumnFromText(col, data, len);
	nulls[col->attnum - 1] = false;
	return true;
}

/* The whole value from the single value column; NULL: a tombstone */
static bool
raw_encode(KafkaEncoder *enc, Datum *values, bool *nulls)
{
	KafkaColumn *col;
	Oid			base;
	Datum		d;

	if (enc->nvalue == 0 || nulls[enc->value_cols[0]->attnum - 1])
		return false;
	col = enc->value_cols[0];
	d = values[col->attnum - 1];
	base = getBaseType(col->typid);
	if (base == BYTEAOID || base == TEXTOID || base == VARCHAROID || base == JSONOID)
		kafkaAppendText(&enc->value, d);	/* the bytes themselves */
	else if (base == JSONBOID)
	{
		Jsonb	   *jb = DatumGetJsonbP(d);

		JsonbToCString(&enc->value, &jb->root, VARSIZE(jb));
	}
	else
		appendStringInfoString(&enc->value, OutputFunctionCall(&col->out_func, d));
	if (base != BYTEAOID)
		kafkaToMessageText(&enc->value, 0, enc->opts->encoding);
	return true;
}

#define RAW_CODEC(fmt, nm) \
	{ \
		.format = fmt, \
		.name = nm, \
		.flags = KAFKA_CODEC_WHOLE_VALUE, \
		.decode = raw_decode, \
		.encode = raw_encode, \
	}

const KafkaCodec kafka_codec_text = RAW_CODEC(KAFKA_FORMAT_TEXT, "text");
const KafkaCodec kafka_codec_bytea = RAW_CODEC(KAFKA_FORMAT_BYTEA, "bytea");
const KafkaCodec kafka_codec_jsonb = RAW_CODEC(KAFKA_FORMAT_JSONB, "jsonb");
