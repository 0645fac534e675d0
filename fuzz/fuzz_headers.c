/*-------------------------------------------------------------------------
 *
 * fuzz_headers.c
 *		  libFuzzer harness for turning a message's headers into the JSON
 *		  object of the headers column: names and UTF-8 values as JSON
 *		  strings, null values as null, binary values as "\x<hex>".
 *
 * The code under test is src/message.c's kafkaHeadersToJson.
 *
 * Input: byte 0 the database encoding; then headers, each as: name length
 * (1 byte), name, flags (bit 0: null value), value length (2 bytes, little
 * endian, cut to what is left), value.
 *
 * Oracle (UTF8 database): the output parses as JSON (jansson) and equals
 * the object built from the headers directly (last duplicate name wins in
 * both).
 *
 *-------------------------------------------------------------------------
 */
#include "fuzz_shim.h"

#include <jansson.h>

#include "mb/pg_wchar.h"
#include "utils/json.h"

/* from utils/builtins.h, whose fmgrprotos.h clashes with jansson.h */
extern uint64 hex_encode(const char *src, size_t len, char *dst);

static const int encodings[] = {PG_UTF8, PG_LATIN1, PG_SQL_ASCII};

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * src/message.c's kafkaHeadersToJson: one key per name (the last value of
 * a repeated name), names and values that are not valid UTF-8 (or hold a
 * NUL) as \x hex.
 */
#define headers_json kafkaHeadersToJson

/* "\x<hex>" of n bytes, malloc'd and NUL-terminated */
static char *
hexstr(const void *p, size_t n)
{
	static const char hx[] = "0123456789abcdef";
	char	   *hex = malloc(n * 2 + 3);

	hex[0] = '\\';
	hex[1] = 'x';
	for (size_t k = 0; k < n; k++)
	{
		hex[2 + 2 * k] = hx[((const unsigned char *) p)[k] >> 4];
		hex[3 + 2 * k] = hx[((const unsigned char *) p)[k] & 0xF];
	}
	hex[n * 2 + 2] = '\0';
	return hex;
}

/* What the output must be equal to: the headers as a jansson object (last name wins) */
static json_t *
expected_json(rd_kafka_headers_t *hdrs)
{
	json_t	   *obj = json_object();
	const char *name;
	const void *val;
	size_t		size;

	for (size_t i = 0; rd_kafka_header_get_all(hdrs, i, &name, &val, &size) == RD_KAFKA_RESP_ERR_NO_ERROR; i++)
	{
		char	   *key;
		json_t	   *v;

		if (pg_verify_mbstr(PG_UTF8, name, strlen(name), true))
			key = strdup(name);
		else
			key = hexstr(name, strlen(name));
		if (val == NULL)
			v = json_null();
		else if (pg_verify_mbstr(PG_UTF8, val, size, true) && memchr(val, '\0', size) == NULL)
			v = json_stringn(val, size);
		else
		{
			char	   *hex = hexstr(val, size);

			v = json_string(hex);
			free(hex);
		}
		if (v == NULL)
			abort();
		json_object_set_new(obj, key, v);
		free(key);
	}
	return obj;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	sigjmp_buf	jb;
	volatile bool errored = false;
	rd_kafka_headers_t *volatile hdrs;
	const uint8_t *p = data + 1,
			   *end = data + size;
	int			enc;

	if (size < 1)
		return 0;
	enc = encodings[data[0] % lengthof(encodings)];
	hdrs = rd_kafka_headers_new(8);
	while (p < end)
	{
		size_t		nl = *p++;
		const uint8_t *name;
		bool		isnull;
		size_t		vl;

		if (nl > (size_t) (end - p))
			nl = end - p;
		name = p;
		p += nl;
		if (p >= end)
			break;
		isnull = *p++ & 1;
		vl = 0;
		if (p < end)
			vl = *p++;
		if (p < end)
			vl |= (size_t) *p++ << 8;
		if (vl > (size_t) (end - p))
			vl = end - p;
		rd_kafka_header_add(hdrs, (const char *) name, nl, isnull ? NULL : p, isnull ? 0 : vl);
		p += isnull ? 0 : vl;
	}

	shim_begin_input(enc);
	if (sigsetjmp(jb, 0) == 0)
	{
		StringInfoData buf;

		shim_error_jmp = &jb;
		initStringInfo(&buf);
		headers_json(hdrs, &buf);
		if (enc == PG_UTF8)
		{
			json_error_t err;
			json_t	   *got = json_loadb(buf.data, buf.len, 0, &err);
			json_t	   *want = expected_json(hdrs);

			if (got == NULL)
			{
				fprintf(stderr, "headers JSON does not parse: %s: %s\n", err.text, buf.data);
				abort();
			}
			if (!json_equal(got, want))
			{
				fprintf(stderr, "headers JSON differs from the headers: %s\n", buf.data);
				abort();
			}
			json_decref(got);
			json_decref(want);
		}
	}
	else
		errored = true;
	shim_end_input(errored);
	rd_kafka_headers_destroy(hdrs);
	return 0;
}
