/*-------------------------------------------------------------------------
 *
 * fuzz_avro.c
 *		  libFuzzer harness for the Avro decoder (src/codec_avro.c,
 *		  kafkaAvroDecode): varints, lengths, block counts and sizes, union
 *		  branches, enums, fixed, nesting limits, recursive schemas, the
 *		  logical types, UTF-8 checks, and Avro values into scalar, array,
 *		  composite, json and jsonb columns (array and record literals, JSON
 *		  text that jansson must accept).
 *
 * Differential oracle: when the decoder accepts a message with every
 * column needed, avro-c's own reader (avro_value_read into a generic
 * value of the same schema) must read it too and stop exactly at its end.
 * (Not for the schema with items of no bytes: avro-c allocates every one
 * of them.)  Then the message is decoded into the columns bytes 1-2 ask
 * for.
 *
 * Input: byte 0 picks the schema (and the database encoding), bytes 1-2
 * the columns the query needs (a bit per column); the rest is the message
 * value.
 *
 *-------------------------------------------------------------------------
 */
#include "fuzz_shim.h"

#include <avro.h>

#include "catalog/pg_type.h"
#include "mb/pg_wchar.h"

static const int encodings[] = {PG_UTF8, PG_LATIN1, PG_SQL_ASCII};

/* the foreign table: column name (= field name), type */
static const struct
{
	const char *name;
	Oid			typid;
}			table[] = {
	{"a", TEXTOID},
	{"b", INT4OID},
	{"c", INT8OID},
	{"d", BOOLOID},
	{"e", BYTEAOID},
	{"f", JSONBOID},
	{"g", INT4ARRAYOID},
	{"h", SHIM_COMPOSITE_OID},
	{"i", TEXTARRAYOID},
	{"j", SHIM_COMPOSITE_ARR_OID},
	{"k", JSONOID},
	{"n", JSONBARRAYOID},
	{"o", SHIM_LEADDROP_OID},
	{"x", FLOAT8OID},
	{"t", TIMESTAMPTZOID},
	{"dt", DATEOID},
	{"num", NUMERICOID},
	{"u", UUIDOID},
	{"tm", TIMEOID},
	{"lt", TIMESTAMPOID},
	{"l", SHIM_DOMAIN_OID},
	{"m", INT2OID},
};
#define NCOLS ((int) lengthof(table))

/* The schemas; the last one is not a record and fills a table of one column */
static const char *const schemas[] = {
	/* 0: scalars and logical types */
	"{\"type\":\"record\",\"name\":\"s0\",\"fields\":["
	"{\"name\":\"a\",\"type\":\"string\"},{\"name\":\"b\",\"type\":\"int\"},{\"name\":\"c\",\"type\":\"long\"},"
	"{\"name\":\"d\",\"type\":\"boolean\"},{\"name\":\"e\",\"type\":\"bytes\"},{\"name\":\"x\",\"type\":\"double\"},"
	"{\"name\":\"m\",\"type\":\"int\"},"
	"{\"name\":\"t\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-micros\"}},"
	"{\"name\":\"dt\",\"type\":{\"type\":\"int\",\"logicalType\":\"date\"}},"
	"{\"name\":\"num\",\"type\":{\"type\":\"bytes\",\"logicalType\":\"decimal\",\"precision\":10,\"scale\":2}},"
	"{\"name\":\"u\",\"type\":{\"type\":\"string\",\"logicalType\":\"uuid\"}},"
	"{\"name\":\"tm\",\"type\":{\"type\":\"int\",\"logicalType\":\"time-millis\"}},"
	"{\"name\":\"lt\",\"type\":{\"type\":\"long\",\"logicalType\":\"local-timestamp-millis\"}},"
	"{\"name\":\"k\",\"type\":{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\",\"B\",\"C\"]}},"
	"{\"name\":\"f\",\"type\":\"float\"}]}",
	/* 1: nested records, arrays, maps, unions */
	"{\"type\":\"record\",\"name\":\"s1\",\"fields\":["
	"{\"name\":\"a\",\"type\":[\"null\",{\"type\":\"record\",\"name\":\"ab\",\"fields\":[{\"name\":\"a\",\"type\":\"int\"},{\"name\":\"b\",\"type\":\"string\"}]}]},"
	"{\"name\":\"f\",\"type\":{\"type\":\"map\",\"values\":{\"type\":\"array\",\"items\":[\"null\",\"long\",\"string\",\"double\"]}}},"
	"{\"name\":\"h\",\"type\":{\"type\":\"record\",\"name\":\"H\",\"fields\":[{\"name\":\"a\",\"type\":\"int\"},{\"name\":\"b\",\"type\":[\"string\",\"null\"]},"
	"{\"name\":\"c\",\"type\":{\"type\":\"array\",\"items\":\"int\"}},{\"name\":\"z\",\"type\":\"bytes\"},"
	"{\"name\":\"d\",\"type\":[\"null\",{\"type\":\"record\",\"name\":\"I\",\"fields\":[{\"name\":\"x\",\"type\":\"string\"},{\"name\":\"y\",\"type\":\"boolean\"}]}]}]}},"
	"{\"name\":\"g\",\"type\":{\"type\":\"array\",\"items\":[\"null\",\"int\",{\"type\":\"array\",\"items\":\"int\"}]}},"
	"{\"name\":\"i\",\"type\":{\"type\":\"array\",\"items\":[\"string\",\"null\",\"ab\"]}},"
	"{\"name\":\"j\",\"type\":{\"type\":\"array\",\"items\":[\"null\",\"H\"]}},"
	"{\"name\":\"k\",\"type\":\"H\"},"
	"{\"name\":\"n\",\"type\":{\"type\":\"array\",\"items\":{\"type\":\"map\",\"values\":\"bytes\"}}},"
	"{\"name\":\"o\",\"type\":{\"type\":\"record\",\"name\":\"O\",\"fields\":[{\"name\":\"q\",\"type\":\"int\"},{\"name\":\"p\",\"type\":\"string\"}]}},"
	"{\"name\":\"l\",\"type\":{\"type\":\"array\",\"items\":\"int\"}}]}",
	/* 2: a recursive list, as text and as jsonb */
	"{\"type\":\"record\",\"name\":\"s2\",\"fields\":["
	"{\"name\":\"a\",\"type\":{\"type\":\"record\",\"name\":\"L\",\"fields\":[{\"name\":\"v\",\"type\":\"long\"},{\"name\":\"next\",\"type\":[\"null\",\"L\"]}]}},"
	"{\"name\":\"f\",\"type\":[\"null\",\"L\"]},{\"name\":\"h\",\"type\":[\"null\",\"L\"]}]}",
	/* 3: items of no bytes */
	"{\"type\":\"record\",\"name\":\"s3\",\"fields\":["
	"{\"name\":\"g\",\"type\":{\"type\":\"array\",\"items\":\"null\"}},"
	"{\"name\":\"f\",\"type\":{\"type\":\"array\",\"items\":{\"type\":\"record\",\"name\":\"Z\",\"fields\":[]}}},"
	"{\"name\":\"a\",\"type\":{\"type\":\"map\",\"values\":\"null\"}},"
	"{\"name\":\"e\",\"type\":{\"type\":\"fixed\",\"name\":\"F0\",\"size\":0}}]}",
	/* 4: logical types into text, json, arrays */
	"{\"type\":\"record\",\"name\":\"s4\",\"fields\":["
	"{\"name\":\"a\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}},"
	"{\"name\":\"k\",\"type\":{\"type\":\"long\",\"logicalType\":\"local-timestamp-micros\"}},"
	"{\"name\":\"f\",\"type\":{\"type\":\"array\",\"items\":{\"type\":\"fixed\",\"name\":\"D8\",\"size\":8,\"logicalType\":\"decimal\",\"precision\":18,\"scale\":2}}},"
	"{\"name\":\"i\",\"type\":{\"type\":\"array\",\"items\":{\"type\":\"fixed\",\"name\":\"U16\",\"size\":16,\"logicalType\":\"uuid\"}}},"
	"{\"name\":\"e\",\"type\":{\"type\":\"fixed\",\"name\":\"F3\",\"size\":3}},"
	"{\"name\":\"num\",\"type\":{\"type\":\"bytes\",\"logicalType\":\"decimal\",\"precision\":30,\"scale\":30}},"
	"{\"name\":\"n\",\"type\":{\"type\":\"array\",\"items\":{\"type\":\"int\",\"logicalType\":\"date\"}}},"
	"{\"name\":\"x\",\"type\":\"float\"},"
	"{\"name\":\"tm\",\"type\":{\"type\":\"long\",\"logicalType\":\"time-micros\"}}]}",
	/* 5: not a record */
	"[\"null\",\"string\",{\"type\":\"array\",\"items\":\"double\"},{\"type\":\"map\",\"values\":\"int\"},\"bytes\"]",
};
#define NSCHEMAS ((int) lengthof(schemas))

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* kafka_fdw's parse of each schema, made once */
static KafkaAvroSchema *parsed[NSCHEMAS];

/* avro-c's schema and generic class of each schema, made once */
static avro_schema_t avro_c_schema[NSCHEMAS];
static avro_value_iface_t *avro_c_iface[NSCHEMAS];

/* avro-c reads msg with the same schema, to its end */
static void
check_against_avro_c(int which, const uint8_t *msg, size_t len)
{
	avro_value_t v;
	avro_reader_t r;
	int			rc;
	char		extra;

	if (avro_c_iface[which] == NULL)
	{
		if (avro_schema_from_json_length(schemas[which], strlen(schemas[which]), &avro_c_schema[which]) != 0)
			abort();
		avro_c_iface[which] = avro_generic_class_from_schema(avro_c_schema[which]);
		if (avro_c_iface[which] == NULL)
			abort();
	}
	if (avro_generic_value_new(avro_c_iface[which], &v) != 0)
		abort();
	r = avro_reader_memory((const char *) msg, (int64_t) len);
	rc = avro_value_read(r, &v);
	/* at the end, a memory reader refuses to read another byte */
	if (rc != 0 || avro_read(r, &extra, 1) == 0)
	{
		fprintf(stderr, "fuzz_avro: kafka_fdw decoded a message of %zu bytes that avro-c %s\n", len,
				rc != 0 ? "cannot read" : "reads only in part");
		if (rc != 0)
			fprintf(stderr, "fuzz_avro: avro-c: %s\n", avro_strerror());
		abort();
	}
	avro_reader_free(r);
	avro_value_decref(&v);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	sigjmp_buf	jb;
	volatile bool errored = false;
	int			which;
	int			enc;
	uint32		mask;

	if (size < 3)
		return 0;
	kafka_avro_max_empty_items = 10000;	/* a million take seconds under ASan */
	which = data[0] % NSCHEMAS;
	enc = encodings[(data[0] / NSCHEMAS) % lengthof(encodings)];
	mask = data[1] | (data[2] << 8) | ((uint32) data[0] << 16);
	shim_begin_input(enc);
	if (sigsetjmp(jb, 0) == 0)
	{
		KafkaOptions *o;
		KafkaDecoder *dec;
		KafkaAvroSchema *schema;
		Datum		values[NCOLS];
		bool		nulls[NCOLS];
		char	   *reason = NULL;
		char	   *error = NULL;
		const char *msg = (const char *) data + 3;
		size_t		len = size - 3;
		int			ncols = which == NSCHEMAS - 1 ? 1 : NCOLS;

		shim_error_jmp = &jb;
		if (parsed[which] == NULL)
		{
			/* parsed once, kept across inputs */
			shim_persistent_begin();
			parsed[which] = kafkaAvroSchemaParse(schemas[which], strlen(schemas[which]), CurrentMemoryContext, &error);
			shim_persistent_end();
			if (parsed[which] == NULL)
			{
				fprintf(stderr, "fuzz_avro: schema %d: %s\n", which, error);
				abort();
			}
		}
		schema = parsed[which];
		o = shim_make_options(KAFKA_FORMAT_AVRO, ncols);
		for (int i = 0; i < ncols; i++)
			shim_make_column(&o->columns[i], i + 1, table[i].name, table[i].typid, i);
		o->nvalue_columns = ncols;

		/* every column */
		dec = kafkaDecoderCreate(o, shim_attnum_set(0xffffffff, ncols));
		memset(nulls, true, sizeof(nulls));
		memset(values, 0, sizeof(values));
		if (kafkaAvroDecode(dec, schema, msg, len, values, nulls, &reason))
		{
			shim_check_datums(o, values, nulls);
			if (which != 3)
				check_against_avro_c(which, data + 3, len);
			if (getenv("SHIM_VERBOSE"))
				for (int i = 0; i < ncols; i++)
					if (!nulls[i] && (table[i].typid == TEXTOID || table[i].typid == JSONBOID ||
									  table[i].typid == JSONOID || table[i].typid == NUMERICOID ||
									  table[i].typid == TEXTARRAYOID || table[i].typid == INT4ARRAYOID ||
									  table[i].typid == SHIM_COMPOSITE_OID))
						fprintf(stderr, "fuzz_avro: schema %d column %s: %.*s\n", which, table[i].name,
								(int) (VARSIZE(DatumGetPointer(values[i])) - VARHDRSZ),
								VARDATA(DatumGetPointer(values[i])));
		}
		else if (reason == NULL)
			abort();			/* a failure must say why */
		else if (getenv("SHIM_VERBOSE"))
			fprintf(stderr, "fuzz_avro: schema %d: %s\n", which, reason);

		/* the columns the input asks for */
		dec = kafkaDecoderCreate(o, shim_attnum_set(mask, ncols));
		memset(nulls, true, sizeof(nulls));
		memset(values, 0, sizeof(values));
		reason = NULL;
		if (kafkaAvroDecode(dec, schema, msg, len, values, nulls, &reason))
			shim_check_datums(o, values, nulls);
		else if (reason == NULL)
			abort();
	}
	else
		errored = true;
	shim_end_input(errored);
	return 0;
}
