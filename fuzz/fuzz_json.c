/*-------------------------------------------------------------------------
 *
 * fuzz_json.c
 *		  libFuzzer harness for kafkaDecodeValue with format 'json': the JSON
 *		  scanner, string unescaping (\u escapes, surrogate pairs), nesting
 *		  limits, and JSON arrays/objects into array, domain and composite
 *		  columns (json_to_pg_literal), after UTF-8 verification and
 *		  conversion to the database encoding.
 *
 * Differential oracle (UTF8 database): the message is first decoded into
 * the text columns only; when that succeeds and jansson reads the message
 * as an object whose key "a" (or "\u00e9") is a string, the text column on
 * that key must hold exactly jansson's string.  Then the message is decoded
 * into the columns bytes 1-2 ask for.
 *
 * Input: byte 0 picks the database encoding (UTF8, LATIN1, SQL_ASCII),
 * bytes 1-2 the columns the query needs (a bit per column; column 17
 * is always needed); the rest is
 * the message value.
 *
 *-------------------------------------------------------------------------
 */
#include "fuzz_shim.h"

#include "catalog/pg_type.h"
#include "mb/pg_wchar.h"

static const int encodings[] = {PG_UTF8, PG_LATIN1, PG_SQL_ASCII};

/* the foreign table: column name (= JSON key unless key is set), key, type */
static const struct
{
	const char *name;
	const char *key;
	Oid			typid;
}			table[] = {
	{"a", NULL, TEXTOID},
	{"b", NULL, INT4OID},
	{"c", NULL, INT8OID},
	{"d", NULL, BOOLOID},
	{"e", NULL, BYTEAOID},
	{"f", NULL, JSONBOID},
	{"g", NULL, INT4ARRAYOID},
	{"h", NULL, SHIM_COMPOSITE_OID},
	{"i", NULL, TEXTARRAYOID},
	{"j", NULL, SHIM_COMPOSITE_ARR_OID},
	{"k", NULL, JSONOID},
	{"a2", "a", INT4OID},		/* a second column on key "a" */
	{"u", "\xc3\xa9", TEXTOID},	/* a non-ASCII key (U+00E9) */
	{"l", NULL, SHIM_DOMAIN_OID},
	{"m", NULL, INT2OID},
	{"n", NULL, JSONBARRAYOID},
	{"o", NULL, SHIM_LEADDROP_OID},	/* its first attribute is dropped */
};
#define NCOLS ((int) lengthof(table))

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* in json_check.c */
extern int	shim_json_member_string(const char *doc, size_t len, const char *key,
									char **out, size_t *outlen);

/* Does text column i hold what jansson reads for its key? */
static void
check_against_jansson(const uint8_t *msg, size_t len, int i, Datum *values, bool *nulls)
{
	char	   *want;
	size_t		wantlen;
	const char *key = table[i].key ? table[i].key : table[i].name;

	if (shim_json_member_string((const char *) msg, len, key, &want, &wantlen) != 1)
		return;
	if (nulls[i] || VARSIZE(DatumGetPointer(values[i])) - VARHDRSZ != wantlen ||
		memcmp(VARDATA(DatumGetPointer(values[i])), want, wantlen) != 0)
	{
		fprintf(stderr, "fuzz_json: column %s differs from jansson's string for key \"%s\" (%zu bytes)\n",
				table[i].name, key, wantlen);
		abort();
	}
	free(want);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	sigjmp_buf	jb;
	volatile bool errored = false;
	int			enc;
	uint32		mask;

	if (size < 3)
		return 0;
	enc = encodings[data[0] % lengthof(encodings)];
	mask = data[1] | (data[2] << 8) | (1u << 16);
	shim_begin_input(enc);
	if (sigsetjmp(jb, 0) == 0)
	{
		KafkaOptions *o;
		KafkaDecoder *dec;
		Datum		values[NCOLS];
		bool		nulls[NCOLS];
		char	   *reason = NULL;

		shim_error_jmp = &jb;
		o = shim_make_options(KAFKA_FORMAT_JSON, NCOLS);
		for (int i = 0; i < NCOLS; i++)
		{
			KafkaColumn *col = &o->columns[i];

			shim_make_column(col, i + 1, table[i].name, table[i].typid, i);
			if (table[i].key)
			{
				/* keys are in the database encoding, as columns.c stores them */
				col->json_name = pg_any_to_server(table[i].key, strlen(table[i].key), PG_UTF8);
				col->json_name_len = strlen(col->json_name);
			}
		}
		o->nvalue_columns = NCOLS;
		if (enc == PG_UTF8)
		{
			/* first only the text columns (no input function can fail): compare with jansson */
			uint32		textmask = 0;

			for (int i = 0; i < NCOLS; i++)
				if (table[i].typid == TEXTOID)
					textmask |= 1u << i;
			dec = kafkaDecoderCreate(o, shim_attnum_set(textmask, NCOLS));
			memset(nulls, true, sizeof(nulls));
			memset(values, 0, sizeof(values));
			if (kafkaDecodeValue(dec, (const char *) data + 3, size - 3, values, nulls, &reason))
			{
				shim_check_datums(o, values, nulls);
				for (int i = 0; i < NCOLS; i++)
					if (textmask & (1u << i))
						check_against_jansson(data + 3, size - 3, i, values, nulls);
			}
			else if (reason == NULL)
				abort();
		}
		dec = kafkaDecoderCreate(o, shim_attnum_set(mask, NCOLS));
		memset(nulls, true, sizeof(nulls));
		memset(values, 0, sizeof(values));
		reason = NULL;
		if (kafkaDecodeValue(dec, (const char *) data + 3, size - 3, values, nulls, &reason))
			shim_check_datums(o, values, nulls);
		else if (reason == NULL)
			abort();			/* a failure must say why */
	}
	else
		errored = true;
	shim_end_input(errored);
	return 0;
}
