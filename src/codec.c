/*-------------------------------------------------------------------------
 *
 * codec.c
 *		  The table of message formats (KafkaCodec entries, one per format,
 *		  each defined in the file that decodes and encodes it: codec_json.c,
 *		  codec_csv.c, codec_raw.c, codec_avro.c), the decode interface every scan and
 *		  ingest job goes through (kafkaDecoderCreate, kafkaDecodeValue; a
 *		  key_format's key decoder, kafkaKeyDecoderCreate, the same), and
 *		  what the codecs share: converting text to a column's type, bytea
 *		  datums, UTF-8 checks and conversions, the metadata columns.
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

#include "catalog/pg_type.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

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
 * Parse [-]digits (at most 18 of them, so no overflow is possible) into *v.
 * Anything else, including longer numbers, is left to the input function.
 */
static inline bool
parse_int64(const char *s, size_t len, int64 *v)
{
	const char *end = s + len;
	bool		neg = false;
	int64		r = 0;

	if (s < end && *s == '-')
	{
		neg = true;
		s++;
	}
	if (s >= end || end - s > 18)
		return false;
	for (; s < end; s++)
	{
		if (*s < '0' || *s > '9')
			return false;
		r = r * 10 + (*s - '0');
	}
	*v = neg ? -r : r;
	return true;
}

/*
 * Convert the text form of a value to the column's type.  str need not be
 * NUL-terminated.  text and bytea avoid the input function where they can.
 */
Datum
kafkaColumnFromText(KafkaColumn *col, const char *str, size_t len, bool *ok, char **reason)
{
	char	   *cstr;
	Datum		d;

	/* type input errors are ERRORs; reason is for future soft errors */
	(void) reason;
	*ok = true;
	if (col->typid == TEXTOID)
		return PointerGetDatum(cstring_to_text_with_len(str, len));
	if (col->typid == INT4OID || col->typid == INT8OID || col->typid == INT2OID)
	{
		int64		v;

		/* plain decimal integers without the input function; others fall through */
		if (parse_int64(str, len, &v))
		{
			if (col->typid == INT8OID)
				return Int64GetDatum(v);
			if (col->typid == INT4OID && v >= PG_INT32_MIN && v <= PG_INT32_MAX)
				return Int32GetDatum((int32) v);
			if (col->typid == INT2OID && v >= PG_INT16_MIN && v <= PG_INT16_MAX)
				return Int16GetDatum((int16) v);
		}
	}
	else if (col->typid == BOOLOID)
	{
		if (len == 4 && memcmp(str, "true", 4) == 0)
			return BoolGetDatum(true);
		if (len == 5 && memcmp(str, "false", 5) == 0)
			return BoolGetDatum(false);
	}
	if (col->typid == BYTEAOID)
	{

		/* a JSON/CSV string with a \x prefix is hex; otherwise raw bytes */
		if (!(len >= 2 && str[0] == '\\' && str[1] == 'x'))
			return kafkaBytea(str, len);
	}
	cstr = palloc(len + 1);
	memcpy(cstr, str, len);
	cstr[len] = '\0';
	d = InputFunctionCall(&col->in_func, cstr, col->in_ioparam, col->typmod);
	pfree(cstr);
	return d;
}

/* Milliseconds since 1970 of a timestamp, rounded down (Kafka's unit) */
int64
kafkaTimestampToMs(Timestamp ts)
{
	return (ts >= 0 ? ts / 1000 : -((-ts + 999) / 1000)) +
		(int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY * 1000;
}

/*
 * The datum of a partition, offset or timestamp (ms since 1970) for a
 * metadata column of any of the types columns.c accepts for it.
 */
static Datum
meta_datum(KafkaColumn *col, int64 v)
{
	if (col->kind == KAFKA_COL_TIMESTAMP && col->typid != INT8OID)
		return TimestampTzGetDatum((v - (int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY * 1000) * 1000);
	switch (col->typid)
	{
		case INT2OID:
			return Int16GetDatum((int16) v);
		case INT4OID:
			return Int32GetDatum((int32) v);
		default:
			return Int64GetDatum(v);
	}
}

/*
 * Fill the partition and offset columns, and the timestamp column unless
 * ts_ms is negative (not known, or not to be set).
 */
void
kafkaSetMetaColumns(KafkaOptions *o, Datum *values, bool *nulls, int32 partition, int64 offset, int64 ts_ms)
{
	if (o->partition_attnum)
	{
		values[o->partition_attnum - 1] = meta_datum(&o->columns[o->partition_attnum - 1], partition);
		nulls[o->partition_attnum - 1] = false;
	}
	if (o->offset_attnum)
	{
		values[o->offset_attnum - 1] = meta_datum(&o->columns[o->offset_attnum - 1], offset);
		nulls[o->offset_attnum - 1] = false;
	}
	if (o->timestamp_attnum && ts_ms >= 0)
	{
		values[o->timestamp_attnum - 1] = meta_datum(&o->columns[o->timestamp_attnum - 1], ts_ms);
		nulls[o->timestamp_attnum - 1] = false;
	}
}

/* A bytea datum holding exactly these bytes */
Datum
kafkaBytea(const void *data, size_t len)
{
	bytea	   *b = palloc(VARHDRSZ + len);

	SET_VARSIZE(b, VARHDRSZ + len);
	memcpy(VARDATA(b), data, len);
	return PointerGetDatum(b);
}

/*
 * Message text is UTF-8 (what kafka_fdw writes, and what Kafka clients
 * write): check it, and convert it when the database encoding differs.
 * A character the database encoding cannot hold is an ERROR (a data
 * exception, which on_error 'skip' and 'junk' handle).
 */
bool
kafkaToServerText(const char **data, size_t *len, char **reason)
{
	char	   *conv;

	if (!pg_verify_mbstr(PG_UTF8, *data, *len, true))
	{
		*reason = pstrdup("invalid byte sequence for encoding \"UTF8\"");
		return false;
	}
	if (GetDatabaseEncoding() == PG_UTF8 || GetDatabaseEncoding() == PG_SQL_ASCII)
		return true;
	conv = pg_any_to_server(*data, *len, PG_UTF8);
	if (conv != *data)
	{
		*data = conv;
		*len = strlen(conv);
	}
	return true;
}

/*
 * Message text in another encoding than UTF-8 (the table option encoding):
 * check it, and convert it to the database encoding with PostgreSQL's
 * conversion functions.  A character the database encoding cannot hold is
 * an ERROR (a data exception, which on_error 'skip' and 'junk' handle), as
 * for UTF-8.  A message encoding of SQL_ASCII means bytes that must be
 * valid in the database encoding, unconverted.
 */
bool
kafkaEncodedToServerText(int encoding, const char **data, size_t *len, char **reason)
{
	int			db = GetDatabaseEncoding();
	int			check = encoding == PG_SQL_ASCII ? db : encoding;
	char	   *conv;

	if (encoding == PG_UTF8)
		return kafkaToServerText(data, len, reason);
	/* SQL_ASCII into a SQL_ASCII database: any bytes but a zero byte (no text holds one) */
	if (!pg_verify_mbstr(check, *data, *len, true))
	{
		*reason = psprintf("invalid byte sequence for encoding \"%s\"", pg_encoding_to_char(check));
		return false;
	}
	if (encoding == db || encoding == PG_SQL_ASCII || db == PG_SQL_ASCII)
		return true;
	conv = pg_any_to_server(*data, *len, encoding);
	if (conv != *data)
	{
		*data = conv;
		*len = strlen(conv);
	}
	return true;
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
 * Salvage mode (KafkaDecoder.salvage, see message.c): run fn(arg), which
 * converts one field into column col and sets its value and *isnull, so
 * that an error it raises leaves the field NULL and is added to
 * dec->errors instead of failing the whole message.  Errors that are not
 * the message's fault are raised (kafkaRunGuarded).
 */
void
kafkaSalvageField(KafkaDecoder *dec, KafkaColumn *col, void (*fn) (void *arg), void *arg, bool *isnull)
{
	char	   *err = kafkaRunGuarded(fn, arg, kafkaTypeInputIsPlain(col->typid));

	if (err)
	{
		*isnull = true;
		dec->errors = lappend(dec->errors, err);
	}
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

/* ---------------------------------------------------------------------
 * Shared by the encoders
 * ---------------------------------------------------------------------
 */

/* Append a text (or bytea, json) datum as the raw bytes of its content */
void
kafkaAppendText(StringInfo buf, Datum d)
{
	text	   *t = DatumGetTextPP(d);

	appendBinaryStringInfo(buf, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
}

/* The text form of a value, as a NUL-terminated string */
char *
kafkaTextForm(KafkaColumn *col, Datum d)
{
	Oid			base = getBaseType(col->typid);

	if (base == TEXTOID || base == VARCHAROID)
		return TextDatumGetCString(d);
	return OutputFunctionCall(&col->out_func, d);
}

/* Text in the server encoding to UTF-8, in place in buf from byte from on */
void
kafkaToUtf8(StringInfo buf, int from)
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
 * Text in the server encoding to the message encoding of a table (the
 * option encoding; UTF-8 by default), in place in buf from byte from on.
 * A character the message encoding cannot hold is an ERROR.
 */
void
kafkaToMessageText(StringInfo buf, int from, int encoding)
{
	char	   *conv;

	if (likely(encoding == PG_UTF8))
	{
		kafkaToUtf8(buf, from);
		return;
	}
	if (buf->len == from)
		return;
	conv = pg_server_to_any(buf->data + from, buf->len - from, encoding);
	if (conv != buf->data + from)
	{
		buf->len = from;
		buf->data[from] = '\0';
		appendStringInfoString(buf, conv);
	}
}

/*
 * Append str quoted as an element of an array or record literal (the
 * text input of arrays and composites): in double quotes, with " and \
 * escaped.  For the codecs that build such literals and envelope.c.
 */
void
kafkaAppendQuoted(StringInfo out, const char *p, size_t len)
{
	appendStringInfoChar(out, '"');
	for (size_t i = 0; i < len; i++)
	{
		if (p[i] == '"' || p[i] == '\\')
			appendStringInfoChar(out, '\\');
		appendStringInfoChar(out, p[i]);
	}
	appendStringInfoChar(out, '"');
}
