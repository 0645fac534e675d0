/*-------------------------------------------------------------------------
 *
 * datum.c
 *		  Column values from and to message text, shared by the codecs
 *		  (codec_json.c, codec_csv.c, codec_raw.c, codec_avro.c), message.c
 *		  and encode.c: converting text to a column's type, bytea datums,
 *		  the salvage of one field, UTF-8 (or the table's encoding) checks
 *		  and conversions, the metadata columns, and the text forms the
 *		  encoders append.
 *
 *		  It sits below the format files: a scan goes down from codec.c (the
 *		  table of formats) through a codec to here, and nothing here calls
 *		  a codec.
 *
 * Invariants:
 *	- Text handed to PostgreSQL is valid in the server encoding
 *	  (kafkaToServerText, kafkaEncodedToServerText verify it first).
 *	- A type input error is an ERROR (the caller applies the table's
 *	  on_error policy, or salvages the field).
 *
 *-------------------------------------------------------------------------
 */
#include "kafka_fdw.h"

#include "catalog/pg_type.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

/* ---------------------------------------------------------------------
 * Shared by the decoders
 * ---------------------------------------------------------------------
 */

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
 * A type input error is an ERROR (the caller's on_error policy or salvage
 * handles it).
 */
Datum
kafkaColumnFromText(KafkaColumn *col, const char *str, size_t len)
{
	char	   *cstr;
	Datum		d;

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

/* ---------------------------------------------------------------------
 * The metadata columns
 * ---------------------------------------------------------------------
 */

/* Milliseconds since 1970 of a timestamp, rounded down (Kafka's unit) */
int64
kafkaTimestampToMs(Timestamp ts)
{
	return (ts >= 0 ? ts / 1000 : -((-ts + 999) / 1000)) + KAFKA_PG_EPOCH_US / 1000;
}

/*
 * The datum of a partition, offset or timestamp (ms since 1970) for a
 * metadata column of any of the types columns.c accepts for it.
 */
static Datum
meta_datum(KafkaColumn *col, int64 v)
{
	if (col->kind == KAFKA_COL_TIMESTAMP && col->typid != INT8OID)
		return TimestampTzGetDatum((v - KAFKA_PG_EPOCH_US / 1000) * 1000);
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

/* Text in the server encoding to encoding, in place in buf from byte from on */
static void
convert_in_place(StringInfo buf, int from, int encoding)
{
	char	   *conv = pg_server_to_any(buf->data + from, buf->len - from, encoding);

	if (conv != buf->data + from)
	{
		buf->len = from;
		buf->data[from] = '\0';
		appendStringInfoString(buf, conv);
	}
}

/* Text in the server encoding to UTF-8, in place in buf from byte from on */
void
kafkaToUtf8(StringInfo buf, int from)
{
	if (GetDatabaseEncoding() == PG_UTF8 || GetDatabaseEncoding() == PG_SQL_ASCII || buf->len == 0)
		return;
	convert_in_place(buf, from, PG_UTF8);
}

/*
 * Text in the server encoding to the message encoding of a table (the
 * option encoding; UTF-8 by default), in place in buf from byte from on.
 * A character the message encoding cannot hold is an ERROR.
 */
void
kafkaToMessageText(StringInfo buf, int from, int encoding)
{
	if (likely(encoding == PG_UTF8))
	{
		kafkaToUtf8(buf, from);
		return;
	}
	if (buf->len == from)
		return;
	convert_in_place(buf, from, encoding);
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

/* Two digits of 0 <= n < 100 at o */
static inline char *
put_2digits(char *o, int n)
{
	o[0] = '0' + n / 10;
	o[1] = '0' + n % 10;
	return o + 2;
}

/*
 * Write YYYY-MM-DDTHH:MM:SS, and .ffffff without its trailing zeros if fsec
 * (microseconds) is not 0, at o (room for 26 bytes; year 0 to 9999) as
 * PostgreSQL's ISO and XSD styles write it; returns the end.  The callers
 * add the zone: the emitter's Debezium ZonedTimestamp (envelope.c), the
 * capture's timestamptz (outbox.c).
 */
char *
kafkaPutIsoDateTime(char *o, int year, int mon, int mday, int hour, int min, int sec, int fsec)
{
	o = put_2digits(o, year / 100);
	o = put_2digits(o, year % 100);
	*o++ = '-';
	o = put_2digits(o, mon);
	*o++ = '-';
	o = put_2digits(o, mday);
	*o++ = 'T';
	o = put_2digits(o, hour);
	*o++ = ':';
	o = put_2digits(o, min);
	*o++ = ':';
	o = put_2digits(o, sec);
	if (fsec != 0)
	{
		int			len = 6;

		*o = '.';
		for (int i = 6, f = fsec; i >= 1; i--, f /= 10)
			o[i] = '0' + f % 10;
		while (o[len] == '0')
			len--;
		o += len + 1;
	}
	return o;
}
