/*-------------------------------------------------------------------------
 *
 * fuzz_csv.c
 *		  libFuzzer harness for kafkaDecodeValue with format 'csv': quoting,
 *		  escapes, delimiters, the null string, strict field counts, after
 *		  UTF-8 verification and conversion to the database encoding.
 *
 * Input: byte 0 the database encoding, 1 delimiter, 2 quote, 3 escape
 * (0: the quote), 4 flags (bit 0 strict, bits 1-2 the null string's
 * length n), 5-6 the needed columns, then n bytes of null string, then
 * the message value.  Option characters are made valid as option.c would
 * require (one non-NUL byte of the database encoding).
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
	return b ? (char) b : dflt;
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
		null = pnstrdup((const char *) data + 7, nulllen);
		o->csv_null = pg_verifymbstr(null, strlen(null), true) ? null : "";
		for (int i = 0; i < NCOLS; i++)
		{
			KafkaColumn *col = &o->columns[i];

			shim_make_column(col, i + 1, table[i].name, table[i].typid, table[i].kind == 0 ? vi++ : -1);
			col->dropped = table[i].kind == 1;
			if (table[i].kind == 2)
				col->kind = KAFKA_COL_KEY;
		}
		o->nvalue_columns = vi;
		dec = kafkaDecoderCreate(o, shim_attnum_set(data[5] | (data[6] << 8), NCOLS));
		memset(nulls, true, sizeof(nulls));
		memset(values, 0, sizeof(values));
		if (kafkaDecodeValue(dec, (const char *) data + 7 + nulllen, size - 7 - nulllen, values, nulls, &reason))
			shim_check_datums(o, values, nulls);
		else if (reason == NULL)
			abort();
	}
	else
		errored = true;
	shim_end_input(errored);
	return 0;
}
