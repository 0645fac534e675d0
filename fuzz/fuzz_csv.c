/*-------------------------------------------------------------------------
 *
 * fuzz_csv.c
 *		  libFuzzer harness for kafkaDecodeValue with format 'csv': quoting,
 *		  escapes, delimiters, the null string, strict field counts, after
 *		  UTF-8 verification and conversion to the database encoding.
 *
 * Round-trip oracle (UTF8 database, delimiter neither quote nor escape):
 * the message split at NUL bytes gives up to 4 fields; quoted and escaped
 * as COPY would write them and decoded into 4 text columns, each must
 * come back byte for byte.  Then the message itself is decoded.
 *
 * Input: byte 0 the database encoding, 1 delimiter, 2 quote, 3 escape
 * (0: the quote), 4 flags (bit 0 strict, bits 1-2 the null string's
 * length n, bit 3 force_not_null and bit 4 force_null on the value
 * columns, bit 5 on_error 'junk': extra fields are a failure), 5-6 the
 * needed columns, then n bytes of null string, then
 * the message value.  Option characters are made valid as option.c would
 * require (one byte of the database encoding, not NUL, newline or carriage
 * return; delimiter and quote differ).
 *
 *-------------------------------------------------------------------------
 */
#include "fuzz_shim.h"

#include "catalog/pg_type.h"
#include "mb/pg_wchar.h"

static const int encodings[] = {PG_UTF8, PG_LATIN1, PG_SQL_ASCII};

/* attnum order; value columns get value_index in order, others -1 */
static const struct
{
	const char *name;
	Oid			typid;
	int			kind;			/* 0 value, 1 dropped, 2 key column */
}			table[] = {
	{"t1", TEXTOID, 0},
	{"i4", INT4OID, 0},
	{"gone", INT4OID, 1},
	{"b", BOOLOID, 0},
	{"by", BYTEAOID, 0},
	{"key", TEXTOID, 2},
	{"jb", JSONBOID, 0},
	{"arr", INT4ARRAYOID, 0},
	{"i8", INT8OID, 0},
	{"t2", TEXTOID, 0},
	{"rec", SHIM_COMPOSITE_OID, 0},
};
#define NCOLS ((int) lengthof(table))

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* an option character valid in the database encoding */
static char
option_char(uint8_t b, int enc, char dflt)
{
	if (enc == PG_UTF8)
		b &= 0x7F;
	return b && b != '\n' && b != '\r' ? (char) b : dflt;
}

/* Quote the NUL-separated fields of msg into one CSV record, decode it, compare */
static void
round_trip(KafkaOptions *base, const char *msg, size_t len)
{
	KafkaOptions *o = shim_make_options(KAFKA_FORMAT_CSV, 4);
	const char *f[4];
	size_t		flen[4];
	int			n = 0;
	StringInfoData rec;
	KafkaDecoder *dec;
	Datum		values[4];
	bool		nulls[4];
	char	   *reason = NULL;
	const char *p = msg,
			   *end = msg + len;

	o->csv_delimiter = base->csv_delimiter;
	o->csv_quote = base->csv_quote;
	o->csv_escape = base->csv_escape;
	o->csv_null = base->csv_null;
	o->strict = true;
	while (n < 4)
	{
		const char *z = memchr(p, '\0', end - p);

		f[n] = p;
		flen[n] = (z ? z : end) - p;
		if (!pg_verifymbstr(f[n], flen[n], true))
			return;
		n++;
		if (z == NULL)
			break;
		p = z + 1;
	}
	initStringInfo(&rec);
	for (int i = 0; i < n; i++)
	{
		if (i > 0)
			appendStringInfoChar(&rec, o->csv_delimiter);
		appendStringInfoChar(&rec, o->csv_quote);
		for (size_t k = 0; k < flen[i]; k++)
		{
			if (f[i][k] == o->csv_quote || f[i][k] == o->csv_escape)
				appendStringInfoChar(&rec, o->csv_escape);
			appendStringInfoChar(&rec, f[i][k]);
		}
		appendStringInfoChar(&rec, o->csv_quote);
	}
	for (int i = 0; i < 4; i++)
		shim_make_column(&o->columns[i], i + 1, "t", TEXTOID, i);
	o->nvalue_columns = n;		/* strict: exactly n fields */
	o->ncolumns = n;
	dec = kafkaDecoderCreate(o, shim_attnum_set(0xF, n));
	memset(nulls, true, sizeof(nulls));
	if (!kafkaDecodeValue(dec, rec.data, rec.len, values, nulls, &reason))
	{
		fprintf(stderr, "fuzz_csv: round trip of %d fields failed: %s\n", n, reason);
		abort();
	}
	for (int i = 0; i < n; i++)
		if (nulls[i] || VARSIZE(DatumGetPointer(values[i])) - VARHDRSZ != flen[i] ||
			memcmp(VARDATA(DatumGetPointer(values[i])), f[i], flen[i]) != 0)
		{
			fprintf(stderr, "fuzz_csv: round trip: field %d of %d differs\n", i + 1, n);
			abort();
		}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	sigjmp_buf	jb;
	volatile bool errored = false;
	int			enc;
	size_t		nulllen;

	if (size < 7)
		return 0;
	enc = encodings[data[0] % lengthof(encodings)];
	nulllen = (data[4] >> 1) & 3;
	if (size < 7 + nulllen)
		return 0;
	shim_begin_input(enc);
	if (sigsetjmp(jb, 0) == 0)
	{
		KafkaOptions *o;
		KafkaDecoder *dec;
		Datum		values[NCOLS];
		bool		nulls[NCOLS];
		char	   *reason = NULL;
		char	   *null;
		int			vi = 0;

		shim_error_jmp = &jb;
		o = shim_make_options(KAFKA_FORMAT_CSV, NCOLS);
		o->csv_delimiter = option_char(data[1], enc, ',');
		o->csv_quote = option_char(data[2], enc, '"');
		o->csv_escape = data[3] ? option_char(data[3], enc, '"') : o->csv_quote;
		o->csv_escape_set = data[3] != 0;
		o->strict = data[4] & 1;
		o->on_error = (data[4] & 32) ? KAFKA_ON_ERROR_JUNK : KAFKA_ON_ERROR_FAIL;
		if (o->csv_delimiter == o->csv_quote)
			goto done;			/* option.c refuses this, as COPY does */
		null = pnstrdup((const char *) data + 7, nulllen);
		o->csv_null = pg_verifymbstr(null, strlen(null), true) ? null : "";
		for (int i = 0; i < NCOLS; i++)
		{
			KafkaColumn *col = &o->columns[i];

			shim_make_column(col, i + 1, table[i].name, table[i].typid, table[i].kind == 0 ? vi++ : -1);
			col->dropped = table[i].kind == 1;
			if (table[i].kind == 2)
				col->kind = KAFKA_COL_KEY;
			col->force_not_null = table[i].kind == 0 && (data[4] & 8) != 0;
			col->force_null = table[i].kind == 0 && (data[4] & 16) != 0;
		}
		o->nvalue_columns = vi;
		if (enc == PG_UTF8)
			round_trip(o, (const char *) data + 7 + nulllen, size - 7 - nulllen);
		dec = kafkaDecoderCreate(o, shim_attnum_set(data[5] | (data[6] << 8), NCOLS));
		memset(nulls, true, sizeof(nulls));
		memset(values, 0, sizeof(values));
		if (kafkaDecodeValue(dec, (const char *) data + 7 + nulllen, size - 7 - nulllen, values, nulls, &reason))
			shim_check_datums(o, values, nulls);
		else if (reason == NULL)
			abort();
done:
		;
	}
	else
		errored = true;
	shim_end_input(errored);
	return 0;
}
