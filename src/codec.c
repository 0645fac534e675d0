/*-------------------------------------------------------------------------
 *
 * codec.c
 *		  The table of message formats (KafkaCodec entries, one per format,
 *		  each defined in the file that decodes and encodes it: codec_json.c,
 *		  codec_csv.c, codec_raw.c, codec_avro.c) and the decode interface
 *		  every scan and ingest job goes through (kafkaDecoderCreate,
 *		  kafkaDecodeValue; a key_format's key decoder, kafkaKeyDecoderCreate,
 *		  the same).  What the codecs share (converting text to a column's
 *		  type, bytea datums, UTF-8 checks and conversions, the metadata
 *		  columns) is in datum.c, below them: a scan goes down from here
 *		  through a codec to datum.c, never back.
 *
 *		  Adding a format is adding its file and one entry to codecs[]: the
 *		  option validator, the column checks, scans, INSERT (encode.c) and
 *		  ingest find it here.
 *
 * Invariants:
 *	- Only the columns a query needs are decoded; count(*) decodes nothing.
 *	- Text handed to PostgreSQL is valid in the server encoding: the value
 *	  is verified once per message before any column is built from it.
 *	- A structural problem is returned as *reason (the caller applies the
 *	  table's on_error policy); a type input error is an ERROR.
 *
 *-------------------------------------------------------------------------
 */
#include "kafka_fdw.h"

#include "mb/pg_wchar.h"
#include "utils/lsyscache.h"

/* The formats, indexed by KafkaFormat */
static const KafkaCodec *const codecs[] = {
	[KAFKA_FORMAT_JSON] = &kafka_codec_json,
	[KAFKA_FORMAT_CSV] = &kafka_codec_csv,
	[KAFKA_FORMAT_TEXT] = &kafka_codec_text,
	[KAFKA_FORMAT_BYTEA] = &kafka_codec_bytea,
	[KAFKA_FORMAT_JSONB] = &kafka_codec_jsonb,
	[KAFKA_FORMAT_AVRO] = &kafka_codec_avro,
};

/* The codec of a format (every KafkaFormat a table can have has one) */
const KafkaCodec *
kafkaCodec(KafkaFormat format)
{
	if ((int) format < 0 || (size_t) format >= lengthof(codecs) || codecs[format] == NULL)
		elog(ERROR, "unknown kafka_fdw format %d", (int) format);
	return codecs[format];
}

/* The codec a format option names (case-insensitive), or NULL */
const KafkaCodec *
kafkaCodecByName(const char *name)
{
	for (size_t i = 0; i < lengthof(codecs); i++)
		if (codecs[i] && pg_strcasecmp(name, codecs[i]->name) == 0)
			return codecs[i];
	return NULL;
}

/* The name of a format, for messages and EXPLAIN */
const char *
kafkaFormatName(KafkaFormat format)
{
	if ((int) format >= 0 && (size_t) format < lengthof(codecs) && codecs[format])
		return codecs[format]->name;
	return "?";
}

/* "json, csv, ...": the valid values of the format option, for hints */
const char *
kafkaFormatNames(void)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (size_t i = 0; i < lengthof(codecs); i++)
	{
		if (codecs[i] == NULL)
			continue;
		if (buf.len > 0)
			appendStringInfoString(&buf, ", ");
		appendStringInfoString(&buf, codecs[i]->name);
	}
	return buf.data;
}

/*
 * The validator's hook: every codec checks the options of a foreign table
 * that concern it (whatever the format, which may come from the server).
 */
void
kafkaCodecValidate(List *table_options)
{
	for (size_t i = 0; i < lengthof(codecs); i++)
		if (codecs[i] && codecs[i]->validate)
			codecs[i]->validate(table_options);
}

/*
 * Check a table's columns and options (opts->columns built) against its
 * format: a whole-value format needs exactly one value column; the codec
 * checks the rest.
 */
void
kafkaCodecCheckTable(KafkaOptions *opts)
{
	const KafkaCodec *codec = kafkaCodec(opts->format);

	if ((codec->flags & KAFKA_CODEC_WHOLE_VALUE) && opts->nvalue_columns > 1)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
				 errmsg("format \"%s\" needs exactly one value column, foreign table \"%s\" has %d",
						codec->name, opts->table_name ? opts->table_name : get_rel_name(opts->relid),
						opts->nvalue_columns),
				 errhint("Mark the other columns as metadata (partition, offset, timestamp, key, headers) or use format json or csv.")));
	if (codec->check_table)
		codec->check_table(opts);
}

/*
 * Create a decoder for the value columns in needed (a set of attnums; an
 * empty set, NULL, means none: count(*) decodes nothing).
 */
KafkaDecoder *
kafkaDecoderCreate(KafkaOptions *opts, Bitmapset *needed)
{
	KafkaDecoder *dec = palloc0(sizeof(KafkaDecoder));

	dec->opts = opts;
	dec->codec = kafkaCodec(opts->format);
	dec->part = KAFKA_PART_VALUE;
	dec->needed = palloc0(sizeof(KafkaColumn *) * Max(opts->ncolumns, 1));
	dec->by_index = palloc0(sizeof(KafkaColumn *) * Max(opts->nvalue_columns, 1));
	for (int i = 0; i < opts->ncolumns; i++)
	{
		KafkaColumn *col = &opts->columns[i];

		if (col->dropped || col->kind != KAFKA_COL_VALUE)
			continue;
		if (!bms_is_member(col->attnum, needed))
			continue;
		dec->needed[dec->nneeded++] = col;
		dec->by_index[col->value_index] = col;
	}
	initStringInfo(&dec->buf);
	initStringInfo(&dec->buf2);
	if (dec->codec->decoder_init)
		dec->codec->decoder_init(dec);
	return dec;
}

/*
 * Create a decoder of message keys for a table with a key column and a
 * key_format: the same codec interface as values, with part
 * KAFKA_PART_KEY, so that the codec picks the key's schema (and subject)
 * and fills the key column with the whole key (kafkaDecodeValue on the
 * key's bytes).
 */
KafkaDecoder *
kafkaKeyDecoderCreate(KafkaOptions *opts)
{
	KafkaDecoder *dec = palloc0(sizeof(KafkaDecoder));

	Assert(opts->key_codec != NULL && opts->key_attnum != 0);
	dec->opts = opts;
	dec->codec = opts->key_codec;
	dec->part = KAFKA_PART_KEY;
	dec->needed = palloc0(sizeof(KafkaColumn *));
	dec->by_index = palloc0(sizeof(KafkaColumn *));
	dec->needed[0] = dec->by_index[0] = &opts->columns[opts->key_attnum - 1];
	dec->nneeded = 1;
	initStringInfo(&dec->buf);
	initStringInfo(&dec->buf2);
	if (dec->codec->decoder_init)
		dec->codec->decoder_init(dec);
	return dec;
}

/* "raw, avro": the valid values of the key_format option, for hints */
const char *
kafkaKeyFormatNames(void)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "raw");
	for (size_t i = 0; i < lengthof(codecs); i++)
		if (codecs[i] && (codecs[i]->flags & KAFKA_CODEC_KEY))
			appendStringInfo(&buf, ", %s", codecs[i]->name);
	return buf.data;
}

/*
 * Decode a message value into the needed columns.  values/nulls are indexed
 * by attnum - 1 and preset to NULL by the caller.  Returns false with
 * *reason set for a malformed message.  A tombstone (data NULL) leaves
 * every value column NULL.
 */
bool
kafkaDecodeValue(KafkaDecoder *dec, const char *data, size_t len,
				 Datum *values, bool *nulls, char **reason)
{
	if (dec->nneeded == 0 || data == NULL)
		return true;
	if (dec->codec->flags & KAFKA_CODEC_TEXT)
	{
		if (likely(dec->opts->encoding == PG_UTF8) ?
			!kafkaToServerText(&data, &len, reason) :
			!kafkaEncodedToServerText(dec->opts->encoding, &data, &len, reason))
			return false;
	}
	return dec->codec->decode(dec, data, len, values, nulls, reason);
}

/*
 * Before kafkaDecodeValue and outside the on_error policy: let the codec
 * fetch what this value needs (KafkaCodec.prepare); its ERRORs are not the
 * message's fault.
 */
void
kafkaDecodePrepare(KafkaDecoder *dec, const char *data, size_t len)
{
	if (dec->nneeded == 0 || data == NULL || dec->codec->prepare == NULL)
		return;
	dec->codec->prepare(dec, data, len);
}
