/*-------------------------------------------------------------------------
 *
 * fuzz_text.c
 *		  libFuzzer harness for the whole-value formats (text, bytea, jsonb)
 *		  and the key column's path: kafkaToServerText (UTF-8 verification,
 *		  conversion to the database encoding) and kafkaColumnFromText (the
 *		  integer and boolean fast paths, bytea, input functions).
 *
 * Oracle: for integer and boolean columns, a value the fast path of
 * kafkaColumnFromText decoded must be what the type's input function (the
 * shim's strict parsers) gives for the same text.
 *
 * Input: byte 0 the database encoding, byte 1 the column type (bit 7: a
 * tombstone, the value is NULL); the rest is the message value.
 *
 *-------------------------------------------------------------------------
 */
#include "fuzz_shim.h"

#include "catalog/pg_type.h"
#include "mb/pg_wchar.h"

static const int encodings[] = {PG_UTF8, PG_LATIN1, PG_SQL_ASCII};
static const Oid types[] = {TEXTOID, INT2OID, INT4OID, INT8OID, BOOLOID, BYTEAOID,
	JSONOID, JSONBOID, INT4ARRAYOID, SHIM_COMPOSITE_OID};

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The fast path's datum d for text str/len must equal the input function's */
static void
check_fast_path(KafkaColumn *col, const char *str, size_t len, Datum d)
{
	sigjmp_buf	jb2;
	sigjmp_buf *outer = shim_error_jmp;
	char	   *cstr = pnstrdup(str, len);
	Datum		want;

	if (strlen(cstr) != len)
		return;					/* not reachable: the text was verified, so no NUL */
	if (sigsetjmp(jb2, 0) != 0)
	{
		fprintf(stderr, "fuzz_text: fast path accepted what the input function of type %u refuses: %s\n",
				col->typid, shim_last_error);
		abort();
	}
	shim_error_jmp = &jb2;
	want = InputFunctionCall(&col->in_func, cstr, col->in_ioparam, col->typmod);
	shim_error_jmp = outer;
	if (want != d)
	{
		fprintf(stderr, "fuzz_text: fast path and input function of type %u differ for \"%s\"\n",
				col->typid, cstr);
		abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	sigjmp_buf	jb;
	volatile bool errored = false;
	int			enc;
	Oid			typid;

	if (size < 2)
		return 0;
	enc = encodings[data[0] % lengthof(encodings)];
	typid = types[(data[1] & 0x7F) % lengthof(types)];
	shim_begin_input(enc);
	if (sigsetjmp(jb, 0) == 0)
	{
		KafkaOptions *o;
		KafkaDecoder *dec;
		Datum		values[2] = {0, 0};
		bool		nulls[2] = {true, true};
		char	   *reason = NULL;
		const char *msg = (data[1] & 0x80) ? NULL : (const char *) data + 2;

		shim_error_jmp = &jb;
		o = shim_make_options(typid == BYTEAOID ? KAFKA_FORMAT_BYTEA :
							  (typid == JSONOID || typid == JSONBOID) ? KAFKA_FORMAT_JSONB :
							  KAFKA_FORMAT_TEXT, 2);
		/* column 1: the key (decoded as scan.c's key_datum does); column 2: the value */
		shim_make_column(&o->columns[0], 1, "k", typid, -1);
		o->columns[0].kind = KAFKA_COL_KEY;
		shim_make_column(&o->columns[1], 2, "v", typid, 0);
		o->nvalue_columns = 1;
		dec = kafkaDecoderCreate(o, shim_attnum_set(0x3, 2));
		if (kafkaDecodeValue(dec, msg, size - 2, values, nulls, &reason))
		{
			if (msg == NULL && !nulls[1])
				abort();		/* a tombstone is NULL */
			if (msg != NULL && (typid == INT2OID || typid == INT4OID || typid == INT8OID || typid == BOOLOID))
			{
				const char *t = msg;
				size_t		tlen = size - 2;

				if (!kafkaToServerText(&t, &tlen, &reason))
					abort();	/* it succeeded a moment ago */
				check_fast_path(&o->columns[1], t, tlen, values[1]);
			}
		}
		else if (reason == NULL)
			abort();
		/* the key path */
		if (msg != NULL && typid != BYTEAOID)
		{
			const char *k = msg;
			size_t		klen = size - 2;

			if (kafkaToServerText(&k, &klen, &reason))
			{
				values[0] = kafkaColumnFromText(&o->columns[0], k, klen);
				nulls[0] = false;
			}
		}
		o->columns[0].kind = KAFKA_COL_VALUE;	/* let the check look at it too */
		shim_check_datums(o, values, nulls);
	}
	else
		errored = true;
	shim_end_input(errored);
	return 0;
}
