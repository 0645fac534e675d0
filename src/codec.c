/*-------------------------------------------------------------------------
 *
 * codec.c
 *		  The decode interface shared by every format: which value columns a
 *		  query needs, converting text to a column's type, and the whole-value
 *		  formats (text, bytea, jsonb).  JSON and CSV live in codec_json.c and
 *		  codec_csv.c.
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

/*
 * Create a decoder for the value columns in needed (a set of attnums; an
 * empty set, NULL, means none: count(*) decodes nothing).
 */
KafkaDecoder *
kafkaDecoderCreate(KafkaOptions *opts, Bitmapset *needed)
{
	KafkaDecoder *dec = palloc0(sizeof(KafkaDecoder));

	dec->opts = opts;
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
	return dec;
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

/* The whole message value into the one value column */
static bool
decode_whole(KafkaDecoder *dec, const char *data, size_t len, Datum *values, bool *nulls, char **reason)
{
	KafkaColumn *col = dec->needed[0];
	bool		ok;

	if (data == NULL)
		return true;			/* tombstone: NULL value */
	if (col->typid == BYTEAOID)
	{
		values[col->attnum - 1] = kafkaBytea(data, len);
		nulls[col->attnum - 1] = false;
		return true;
	}
	if (!kafkaToServerText(&data, &len, reason))
		return false;
	values[col->attnum - 1] = kafkaColumnFromText(col, data, len, &ok, reason);
	nulls[col->attnum - 1] = false;
	return ok;
}

/*
 * Decode a message value into the needed columns.  values/nulls are indexed
 * by attnum - 1 and preset to NULL by the caller.  Returns false with
 * *reason set for a malformed message.
 */
bool
kafkaDecodeValue(KafkaDecoder *dec, const char *data, size_t len,
				 Datum *values, bool *nulls, char **reason)
{
	if (dec->nneeded == 0)
		return true;
	switch (dec->opts->format)
	{
		case KAFKA_FORMAT_TEXT:
		case KAFKA_FORMAT_BYTEA:
		case KAFKA_FORMAT_JSONB:
			return decode_whole(dec, data, len, values, nulls, reason);
		case KAFKA_FORMAT_JSON:
		case KAFKA_FORMAT_CSV:
			if (data == NULL)
				return true;	/* tombstone: all value columns NULL */
			if (!kafkaToServerText(&data, &len, reason))
				return false;
			if (dec->opts->format == KAFKA_FORMAT_JSON)
				return kafkaDecodeJson(dec, data, len, values, nulls, reason);
			return kafkaDecodeCsv(dec, data, len, values, nulls, reason);
		case KAFKA_FORMAT_AVRO:
			*reason = pstrdup("format avro is not supported yet");
			return false;
	}
	return true;
}
