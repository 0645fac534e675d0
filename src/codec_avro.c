/*-------------------------------------------------------------------------
 *
 * codec_avro.c
 *		  Format avro: Avro binary values (no framing), with the schema of
 *		  the foreign table option avro_schema, or else a schema derived
 *		  from the table (kafkaAvroSchemaForTable).  Record fields map to
 *		  the value columns by name (the column option json renames); a
 *		  field the table lacks is ignored, a column the record lacks is
 *		  NULL.  A schema that is not a record fills the one value column.
 *
 * Schemas: avro-c parses and checks the schema text
 * (avro_schema_from_json_length) and resolves named types; avro-c 1.11
 * drops logicalType annotations, so the same text is walked again with
 * jansson (avro-c's own JSON parser) beside avro-c's schema, and the
 * annotations (date, time-millis/micros, timestamp-millis/micros,
 * local-timestamp-millis/micros, decimal with precision and scale, uuid)
 * are kept in a tree of AvroNodes.  Invalid or unknown annotations are
 * ignored, as the Avro specification asks.  Parsed schemas are cached per
 * backend by their text.
 *
 * Decoding is done here, walking the AvroNode tree over the bytes, not
 * with avro-c's reader: avro-c trusts block counts (an array of null with
 * a count of 2^31 in six bytes loops and allocates for minutes), recurses
 * without limit and reads signed counts with overflow.  Here every length
 * and count is checked against the bytes left, items that take no bytes
 * are capped, nesting is bounded, strings are checked as UTF-8, and the
 * whole message must be one value.  A problem is a reason for the table's
 * on_error policy, never an ERROR of its own.  The fuzz harness
 * (fuzz/fuzz_avro.c) checks that what this decoder accepts avro-c reads
 * too.
 *
 * Encoding (INSERT) uses avro-c: a generic value of the schema is filled
 * from the row and written with avro_value_write, so what INSERT writes is
 * checked by an implementation other than the decoder.  The table-change
 * emitter (envelope_avro.c) drives the same encoder, with column models of
 * its own and anonymous record types (BlessTupleDesc) for nested records,
 * and derives its schemas with kafkaAvroDeriveType.
 *
 * The writer schema is an argument of kafkaAvroDecode and kafkaAvroEncode
 * (a KafkaAvroSchema from kafkaAvroSchemaParse): the inline option gives
 * one.  On a server with a schema registry and without avro_schema, values
 * have the Confluent wire format (byte 0, the schema id as 4 bytes
 * big-endian, Avro binary): each message gets the writer schema of its id
 * (avro_prepare asks the registry outside the on_error policy, so that the
 * registry's failures stay ERRORs), and INSERT registers the table's schema
 * under its subject (registry_subject: "<topic>-value" by default, or by
 * subject_name_strategy, value_subject) and writes its id.  A column the
 * writer's record lacks reads the default of its field in the subject's
 * latest version, asked once per scan (get_binding).
 *
 * Keys (key_format 'avro') go through the same code: the decoder or
 * encoder says which part of the message it handles (KafkaPart), and the
 * part picks the inline schema (key_avro_schema), the derived one (the key
 * column's type), the subject ("<topic>-key", key_subject), and that the
 * whole value fills the one key column instead of fields filling columns.
 *
 * Invariants:
 *	- avro-c and jansson objects are malloc'd: every one is owned by a
 *	  memory context (a reset callback releases it) or released before
 *	  anything can ERROR.
 *	- The decoder never reads outside [data, data + len).
 *
 *-------------------------------------------------------------------------
 */
#include "kafka_fdw.h"

#include <avro.h>
#include <math.h>

/* PostgreSQL's SQL functions json_object() and json_typeof() would clash with jansson */
#define json_object pg_json_object
#define json_typeof pg_json_typeof

#include "access/htup_details.h"
#include "catalog/pg_class.h"
#include "catalog/pg_enum.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "common/shortest_dec.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/acl.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/typcache.h"
#include "utils/uuid.h"
#include "miscadmin.h"
#include "utils/catcache.h"
#include "utils/json.h"

#undef json_object
#undef json_typeof

#include <jansson.h>

/* Deepest nesting of a value (records, arrays, maps, unions) decoded */
#define AVRO_MAX_DEPTH 200

/*
 * Most items that take no bytes (null, empty records) in one message: a
 * count of them costs no bytes, so it is not bounded by the message (the
 * fuzz harness lowers it, to stay fast).
 */
int			kafka_avro_max_empty_items = 1000000;

/* Days and microseconds from 1970-01-01 (Avro's epoch) to 2000-01-01 */
#define AVRO_EPOCH_DAYS ((int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE))
#define AVRO_EPOCH_USECS (AVRO_EPOCH_DAYS * USECS_PER_DAY)

/* ---------------------------------------------------------------------
 * Schemas
 * ---------------------------------------------------------------------
 */

typedef enum AvroKind
{
	AK_NULL, AK_BOOLEAN, AK_INT, AK_LONG, AK_FLOAT, AK_DOUBLE, AK_BYTES, AK_STRING,
	AK_RECORD, AK_ENUM, AK_ARRAY, AK_MAP, AK_UNION, AK_FIXED
} AvroKind;

typedef enum AvroLogical
{
	AL_NONE,
	AL_DATE,					/* int: days since 1970-01-01 */
	AL_TIME_MILLIS,				/* int: ms after midnight */
	AL_TIME_MICROS,				/* long: us after midnight */
	AL_TIMESTAMP_MILLIS,		/* long: ms since 1970-01-01 00:00 UTC */
	AL_TIMESTAMP_MICROS,		/* long: us since then */
	AL_LOCAL_TIMESTAMP_MILLIS,	/* long: ms since 1970-01-01 00:00, no zone */
	AL_LOCAL_TIMESTAMP_MICROS,	/* long: us since then */
	AL_DECIMAL,					/* bytes or fixed: big-endian two's complement
								 * unscaled value */
	AL_UUID						/* string (RFC 4122 text) or fixed(16) */
} AvroLogical;

/* One node of a schema, with what avro-c forgets */
typedef struct AvroNode
{
	AvroKind	kind;
	AvroLogical logical;
	int			precision;		/* decimal */
	int			scale;			/* decimal */
	int64		size;			/* fixed: its size in bytes */
	char	   *name;			/* named types: the full name */
	int			n;				/* record fields, enum symbols, union branches */
	char	  **names;			/* record: field names; enum: symbols */
	char	  **defaults;		/* record: each field's default (JSON text) or NULL */
	struct AvroNode **sub;		/* record: field types; union: branches; array
								 * and map: sub[0], the items or values */
	int			null_branch;	/* union: index of the null branch, or -1 */
	int			min_size;		/* fewest bytes a value takes (-1: computing) */
	avro_schema_t avro;			/* named types: avro-c's node, to resolve links */
} AvroNode;

/* A parsed schema (opaque outside this file) */
struct KafkaAvroSchema
{
	avro_schema_t schema;		/* avro-c's, one reference held */
	AvroNode   *root;			/* the same with annotations */
	char	   *json;			/* the text it was parsed from */
};

/* While a schema tree is built */
typedef struct BuildState
{
	List	   *named;			/* AvroNodes of named types, to resolve links */
	char	   *error;			/* first problem, or NULL */
} BuildState;

static AvroNode *build_node(BuildState *bs, avro_schema_t s, json_t *j, int depth);

/* A JSON object's member as an int, or false (also for avro_compat.c) */
bool
kafkaJsonIntMember(json_t *obj, const char *key, int *v)
{
	json_t	   *m = json_object_get(obj, key);

	if (m == NULL || !json_is_integer(m) || json_integer_value(m) < INT_MIN ||
		json_integer_value(m) > INT_MAX)
		return false;
	*v = (int) json_integer_value(m);
	return true;
}

/*
 * The logicalType of a schema object j over node n, if valid for n's type
 * (invalid ones are ignored, as the specification asks).
 */
static void
set_logical(AvroNode *n, json_t *j)
{
	json_t	   *lt = json_is_object(j) ? json_object_get(j, "logicalType") : NULL;
	const char *t;

	if (lt == NULL || !json_is_string(lt))
		return;
	t = json_string_value(lt);
	if (strcmp(t, "date") == 0 && n->kind == AK_INT)
		n->logical = AL_DATE;
	else if (strcmp(t, "time-millis") == 0 && n->kind == AK_INT)
		n->logical = AL_TIME_MILLIS;
	else if (strcmp(t, "time-micros") == 0 && n->kind == AK_LONG)
		n->logical = AL_TIME_MICROS;
	else if (strcmp(t, "timestamp-millis") == 0 && n->kind == AK_LONG)
		n->logical = AL_TIMESTAMP_MILLIS;
	else if (strcmp(t, "timestamp-micros") == 0 && n->kind == AK_LONG)
		n->logical = AL_TIMESTAMP_MICROS;
	else if (strcmp(t, "local-timestamp-millis") == 0 && n->kind == AK_LONG)
		n->logical = AL_LOCAL_TIMESTAMP_MILLIS;
	else if (strcmp(t, "local-timestamp-micros") == 0 && n->kind == AK_LONG)
		n->logical = AL_LOCAL_TIMESTAMP_MICROS;
	else if (strcmp(t, "uuid") == 0 && (n->kind == AK_STRING || (n->kind == AK_FIXED && n->size == 16)))
		n->logical = AL_UUID;
	else if (strcmp(t, "decimal") == 0 && (n->kind == AK_BYTES || n->kind == AK_FIXED))
	{
		int			precision;
		int			scale = 0;

		if (!kafkaJsonIntMember(j, "precision", &precision) || precision < 1 ||
			precision > NUMERIC_MAX_PRECISION)
			return;
		if (json_object_get(j, "scale") && !kafkaJsonIntMember(j, "scale", &scale))
			return;
		if (scale < 0 || scale > precision)
			return;
		/* a fixed must hold 10^precision - 1: log10(2^(8 size - 1)) digits */
		if (n->kind == AK_FIXED && precision > floor(log10(2) * (8 * n->size - 1)))
			return;
		n->logical = AL_DECIMAL;
		n->precision = precision;
		n->scale = scale;
	}
}

static AvroNode *
new_node(AvroKind kind)
{
	AvroNode   *n = palloc0(sizeof(AvroNode));

	n->kind = kind;
	n->null_branch = -1;
	return n;
}

/* The full name of a named avro-c schema */
static char *
full_name(avro_schema_t s)
{
	const char *ns = avro_schema_namespace(s);

	if (ns && ns[0])
		return psprintf("%s.%s", ns, avro_schema_name(s));
	return pstrdup(avro_schema_name(s));
}

/*
 * The type definition in j for avro-c's node s: j may be a type name, an
 * object with "type", or an array (a union).  An object whose "type" is
 * itself a definition is unwrapped.
 */
static json_t *
type_object(json_t *j)
{
	for (int i = 0; i < 100 && json_is_object(j); i++)
	{
		json_t	   *t = json_object_get(j, "type");

		if (t == NULL || json_is_string(t))
			return j;
		j = t;
	}
	return j;
}

/* qsort's comparison of two strings (pointers to char *) */
static int
cmp_strings(const void *a, const void *b)
{
	return strcmp(*(const char *const *) a, *(const char *const *) b);
}

/*
 * A string that names[0..n-1] holds twice, or NULL.  A sorted copy is
 * compared side by side, so that a schema of many fields or symbols (a
 * megabyte of them is a valid option value) costs n log n, not n squared.
 */
const char *
kafkaAvroRepeatedName(char *const *names, int n)
{
	char	  **sorted;
	const char *result = NULL;

	if (n < 2)
		return NULL;
	sorted = palloc(sizeof(char *) * n);
	memcpy(sorted, names, sizeof(char *) * n);
	qsort(sorted, n, sizeof(char *), cmp_strings);
	for (int i = 1; i < n && result == NULL; i++)
		if (strcmp(sorted[i - 1], sorted[i]) == 0)
			result = sorted[i];
	pfree(sorted);
	return result;
}

/*
 * Build the node of avro-c's schema s, whose JSON definition is j (for
 * the annotations; NULL if not known).
 */
static AvroNode *
build_node(BuildState *bs, avro_schema_t s, json_t *j, int depth)
{
	AvroNode   *n = NULL;
	ListCell   *lc;

	check_stack_depth();
	CHECK_FOR_INTERRUPTS();		/* a megabyte of schema takes a while */
	if (depth > AVRO_MAX_DEPTH)
	{
		if (bs->error == NULL)
			bs->error = psprintf("schema nested more than %d levels deep", AVRO_MAX_DEPTH);
		return new_node(AK_NULL);
	}
	j = type_object(j);
	switch (avro_typeof(s))
	{
		case AVRO_NULL:
			return new_node(AK_NULL);
		case AVRO_BOOLEAN:
			return new_node(AK_BOOLEAN);
		case AVRO_INT32:
			n = new_node(AK_INT);
			break;
		case AVRO_INT64:
			n = new_node(AK_LONG);
			break;
		case AVRO_FLOAT:
			return new_node(AK_FLOAT);
		case AVRO_DOUBLE:
			return new_node(AK_DOUBLE);
		case AVRO_BYTES:
			n = new_node(AK_BYTES);
			break;
		case AVRO_STRING:
			n = new_node(AK_STRING);
			break;
		case AVRO_LINK:
			{
				avro_schema_t target = avro_schema_link_target(s);

				foreach(lc, bs->named)
				{
					AvroNode   *named = lfirst(lc);

					if (named->avro == target)
						return named;
				}
				if (bs->error == NULL)
					bs->error = psprintf("named type \"%s\" is used before its definition",
										 avro_schema_name(target));
				return new_node(AK_NULL);
			}
		case AVRO_FIXED:
			n = new_node(AK_FIXED);
			n->size = avro_schema_fixed_size(s);
			n->name = full_name(s);
			n->avro = s;
			bs->named = lappend(bs->named, n);
			break;
		case AVRO_ENUM:
			n = new_node(AK_ENUM);
			n->name = full_name(s);
			n->avro = s;
			n->n = avro_schema_enum_number_of_symbols(s);
			n->names = palloc0(sizeof(char *) * Max(n->n, 1));
			for (int i = 0; i < n->n; i++)
				n->names[i] = pstrdup(avro_schema_enum_get(s, i));
			{
				const char *twice = kafkaAvroRepeatedName(n->names, n->n);

				if (twice && bs->error == NULL)
					bs->error = psprintf("enum \"%s\" has the symbol \"%s\" twice", n->name, twice);
			}
			bs->named = lappend(bs->named, n);
			return n;
		case AVRO_RECORD:
			{
				json_t	   *fields = json_is_object(j) ? json_object_get(j, "fields") : NULL;

				n = new_node(AK_RECORD);
				n->name = full_name(s);
				n->avro = s;
				n->n = avro_schema_record_size(s);
				n->names = palloc0(sizeof(char *) * Max(n->n, 1));
				n->defaults = palloc0(sizeof(char *) * Max(n->n, 1));
				n->sub = palloc0(sizeof(AvroNode *) * Max(n->n, 1));
				/* registered first: a field may refer to the record */
				bs->named = lappend(bs->named, n);
				for (int i = 0; i < n->n; i++)
				{
					json_t	   *f = json_is_array(fields) ? json_array_get(fields, i) : NULL;
					json_t	   *def = json_is_object(f) ? json_object_get(f, "default") : NULL;

					n->names[i] = pstrdup(avro_schema_record_field_name(s, i));
					if (def)
					{
						char	   *txt = json_dumps(def, JSON_ENCODE_ANY | JSON_COMPACT);

						if (txt)
						{
							n->defaults[i] = pstrdup(txt);
							free(txt);
						}
					}
					n->sub[i] = build_node(bs, avro_schema_record_field_get_by_index(s, i),
										   json_is_object(f) ? json_object_get(f, "type") : NULL,
										   depth + 1);
				}
				{
					const char *twice = kafkaAvroRepeatedName(n->names, n->n);

					if (twice && bs->error == NULL)
						bs->error = psprintf("record \"%s\" has the field \"%s\" twice", n->name, twice);
				}
				return n;
			}
		case AVRO_ARRAY:
			n = new_node(AK_ARRAY);
			n->n = 1;
			n->sub = palloc(sizeof(AvroNode *));
			n->sub[0] = build_node(bs, avro_schema_array_items(s),
								   json_is_object(j) ? json_object_get(j, "items") : NULL, depth + 1);
			return n;
		case AVRO_MAP:
			n = new_node(AK_MAP);
			n->n = 1;
			n->sub = palloc(sizeof(AvroNode *));
			n->sub[0] = build_node(bs, avro_schema_map_values(s),
								   json_is_object(j) ? json_object_get(j, "values") : NULL, depth + 1);
			return n;
		case AVRO_UNION:
			n = new_node(AK_UNION);
			n->n = avro_schema_union_size(s);
			n->sub = palloc0(sizeof(AvroNode *) * Max(n->n, 1));
			for (int i = 0; i < n->n; i++)
			{
				n->sub[i] = build_node(bs, avro_schema_union_branch(s, i),
									   json_is_array(j) ? json_array_get(j, i) : NULL, depth + 1);
				if (n->sub[i]->kind == AK_NULL && n->null_branch < 0)
					n->null_branch = i;
			}
			return n;
		default:
			if (bs->error == NULL)
				bs->error = psprintf("unsupported Avro type %d", (int) avro_typeof(s));
			return new_node(AK_NULL);
	}
	set_logical(n, j);
	return n;
}

/* The fewest bytes a value of n takes (0 for null, empty records, fixed(0)) */
static int
min_size(AvroNode *n)
{
	int			m = 0;

	if (n->min_size > 0)
		return n->min_size;
	if (n->min_size < 0)
		return 0;				/* a record within itself: assume nothing */
	switch (n->kind)
	{
		case AK_NULL:
			return 0;
		case AK_FLOAT:
			return 4;
		case AK_DOUBLE:
			return 8;
		case AK_FIXED:
			m = (int) Min(n->size, INT_MAX);
			break;
		case AK_RECORD:
			n->min_size = -1;
			for (int i = 0; i < n->n; i++)
				m = (int) Min((int64) m + min_size(n->sub[i]), INT_MAX);
			break;
		default:
			/* boolean, int, long, bytes, string, enum, array, map, union */
			m = 1;
			break;
	}
	n->min_size = m;
	return m;
}

/* Release avro-c's schema with the memory context that holds the tree */
static void
release_schema(void *arg)
{
	KafkaAvroSchema *s = arg;

	if (s->schema)
		avro_schema_decref(s->schema);
	s->schema = NULL;
}

/*
 * Parse an Avro schema.  The result lives in cxt, which owns avro-c's
 * schema too (released when cxt is reset or deleted).  On a bad schema,
 * NULL with *error.
 */
KafkaAvroSchema *
kafkaAvroSchemaParse(const char *text, size_t len, MemoryContext cxt, char **error)
{
	MemoryContext old;
	avro_schema_t schema;
	json_t	   *volatile doc = NULL;
	json_error_t jerr;
	KafkaAvroSchema *s;
	BuildState	bs = {NIL, NULL};
	MemoryContextCallback *cb;

	*error = NULL;
	if (avro_schema_from_json_length(text, len, &schema) != 0)
	{
		*error = pstrdup(avro_strerror());
		/* avro-c's messages end with a newline at times */
		while (**error && (*error)[strlen(*error) - 1] == '\n')
			(*error)[strlen(*error) - 1] = '\0';
		return NULL;
	}
	old = MemoryContextSwitchTo(cxt);
	s = palloc0(sizeof(KafkaAvroSchema));
	s->schema = schema;
	cb = palloc0(sizeof(MemoryContextCallback));
	cb->func = release_schema;
	cb->arg = s;
	MemoryContextRegisterResetCallback(cxt, cb);
	s->json = pnstrdup(text, len);

	PG_TRY();
	{
		doc = json_loadb(text, len, JSON_DECODE_ANY, &jerr);
		/* avro-c read the same text with the same parser: doc is there */
		s->root = build_node(&bs, schema, doc, 0);
	}
	PG_FINALLY();
	{
		if (doc)
			json_decref(doc);
	}
	PG_END_TRY();
	MemoryContextSwitchTo(old);
	if (bs.error)
	{
		*error = bs.error;
		return NULL;
	}
	return s;
}

/* The text a schema was parsed from */
const char *
kafkaAvroSchemaJson(KafkaAvroSchema *s)
{
	return s->json;
}

/* Is a schema a record (its fields map to columns by name)? */
bool
kafkaAvroSchemaIsRecord(KafkaAvroSchema *s)
{
	return s->root->kind == AK_RECORD;
}

/* The backend's parsed schemas, by text (few: one per table schema seen) */
typedef struct CachedSchema
{
	char	   *text;
	KafkaAvroSchema *schema;
} CachedSchema;

static MemoryContext schema_cache_cxt = NULL;
static List *schema_cache = NIL;
static Size schema_cache_bytes = 0; /* the cached schemas' text */

/*
 * Bounds of a session's schema cache (parsed schemas are kept for the
 * session: scans and encoders hold them): a session that meets more
 * distinct schemas (each ALTER of a table's columns or avro_schema makes
 * one) is refused, not grown without bound.
 */
#define SCHEMA_CACHE_MAX_SCHEMAS	10000
#define SCHEMA_CACHE_MAX_BYTES		((Size) 32 * 1024 * 1024)

/*
 * The parsed schema of this text, from the backend's cache; a bad schema
 * is an ERROR naming what, e.g. "option \"avro_schema\"".
 */
static void
schema_cache_init(void)
{
	if (schema_cache_cxt == NULL)
		schema_cache_cxt = AllocSetContextCreate(CacheMemoryContext, "kafka_fdw Avro schemas",
												 ALLOCSET_SMALL_SIZES);
}

/*
 * The parsed schema of this text, from the backend's cache; a bad schema
 * is NULL with *error (in the caller's memory context), and not cached.
 */
static KafkaAvroSchema *
schema_cached(const char *text, char **error)
{
	ListCell   *lc;
	CachedSchema *c;
	MemoryContext cxt;
	MemoryContext old;
	KafkaAvroSchema *s;

	foreach(lc, schema_cache)
	{
		c = lfirst(lc);
		if (strcmp(c->text, text) == 0)
			return c->schema;
	}
	schema_cache_init();
	if (list_length(schema_cache) >= SCHEMA_CACHE_MAX_SCHEMAS ||
		schema_cache_bytes + strlen(text) > SCHEMA_CACHE_MAX_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("this session has met too many distinct Avro schemas (%d schemas, %zu bytes of schema text; at most %d and %zu)",
						list_length(schema_cache), schema_cache_bytes,
						SCHEMA_CACHE_MAX_SCHEMAS, (Size) SCHEMA_CACHE_MAX_BYTES),
				 errhint("Parsed schemas are kept for the session; start a new session.")));
	/*
	 * each schema in its own context, so that a bad one leaves nothing, nor
	 * an ERROR (a cancel) while a large one is parsed
	 */
	cxt = AllocSetContextCreate(schema_cache_cxt, "kafka_fdw Avro schema", ALLOCSET_SMALL_SIZES);
	PG_TRY();
	{
		s = kafkaAvroSchemaParse(text, strlen(text), cxt, error);
	}
	PG_CATCH();
	{
		MemoryContextDelete(cxt);
		PG_RE_THROW();
	}
	PG_END_TRY();
	if (s == NULL)
	{
		char	   *msg = pstrdup(*error);	/* it may be in cxt */

		MemoryContextDelete(cxt);
		*error = msg;
		return NULL;
	}
	old = MemoryContextSwitchTo(schema_cache_cxt);
	c = palloc(sizeof(CachedSchema));
	c->text = MemoryContextStrdup(cxt, text);
	c->schema = s;
	schema_cache = lappend(schema_cache, c);
	schema_cache_bytes += strlen(text);
	MemoryContextSwitchTo(old);
	return s;
}

KafkaAvroSchema *
kafkaAvroSchemaCached(const char *text, const char *what)
{
	char	   *error;
	KafkaAvroSchema *s = schema_cached(text, &error);

	if (s == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("%s is not a valid Avro schema: %s", what, error)));
	return s;
}

/* ---------------------------------------------------------------------
 * The Confluent wire format of a schema registry
 * ---------------------------------------------------------------------
 */

/* A message: magic byte 0, the schema id (4 bytes, big-endian), Avro binary */
#define REGISTRY_MAGIC 0
#define REGISTRY_HEADER 5

/* The inline schema of a part of the messages (avro_schema, key_avro_schema), or NULL */
static const char *
inline_schema(KafkaOptions *o, KafkaPart part)
{
	return part == KAFKA_PART_KEY ? o->key_avro_schema : o->avro_schema;
}

/*
 * Does a table read and write a part of its messages (the value, or the
 * key) in the wire format of a schema registry?  Its server has one and
 * the table gives no inline schema for that part (an inline schema means
 * plain Avro binary, no framing).
 */
static bool
uses_registry(KafkaOptions *o, KafkaPart part)
{
	return o->schema_registry != NULL && inline_schema(o, part) == NULL;
}

/*
 * The registry subject a part's schema s is written under: the table
 * option value_subject or key_subject, else subject_name_strategy's name:
 * "<topic>-value" / "<topic>-key" (topic), the record's full name
 * (record), "<topic>-<full name>" (topic_record), as Confluent's
 * TopicNameStrategy, RecordNameStrategy and TopicRecordNameStrategy.  The
 * last two need a record schema (or a union of null and a record: a
 * nullable composite key column's): otherwise NULL if missing_ok, else an
 * ERROR.
 */
static char *
registry_subject(KafkaOptions *o, KafkaPart part, KafkaAvroSchema *s, bool missing_ok)
{
	const char *given = part == KAFKA_PART_KEY ? o->key_subject : o->value_subject;
	const char *what = part == KAFKA_PART_KEY ? "key" : "value";
	AvroNode   *record = s ? s->root : NULL;

	if (given)
		return pstrdup(given);
	if (o->subject_strategy == KAFKA_SUBJECT_TOPIC)
		return psprintf("%s-%s", o->topic, what);
	/* a nullable record (a nullable composite key column) is named by its record */
	if (record && record->kind == AK_UNION && record->n == 2 && record->null_branch >= 0)
		record = record->sub[1 - record->null_branch];
	if (record == NULL || record->kind != AK_RECORD)
	{
		if (missing_ok)
			return NULL;
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("subject_name_strategy '%s' of foreign table \"%s\" needs a record schema, and the %s's Avro schema is not a record",
						o->subject_strategy == KAFKA_SUBJECT_RECORD ? "record" : "topic_record",
						o->table_name, what),
				 errhint("Use subject_name_strategy 'topic', or name the subject with the option %s_subject.", what)));
	}
	if (o->subject_strategy == KAFKA_SUBJECT_RECORD)
		return pstrdup(record->name);
	return psprintf("%s-%s", o->topic, record->name);
}

/*
 * The registry subject INSERT writes the value schema schema_json (derived
 * from the table) under: registry_subject's, for ALTER's compatibility check
 * (avro_compat.c)
 */
char *
kafkaAvroValueSubject(KafkaOptions *opts, const char *schema_json)
{
	KafkaAvroSchema *s = NULL;

	if (opts->value_subject == NULL && opts->subject_strategy != KAFKA_SUBJECT_TOPIC)
	{
		char	   *error = NULL;

		s = kafkaAvroSchemaParse(schema_json, strlen(schema_json), CurrentMemoryContext, &error);
		if (s == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("the Avro schema derived from foreign table \"%s\" does not parse: %s",
							opts->table_name, error ? error : "?")));
	}
	return registry_subject(opts, KAFKA_PART_VALUE, s, false);
}

/* A writer schema of a registry id, parsed (the backend's, never freed) */
typedef struct RegistryWriter
{
	char	   *registry;		/* the registry's URL */
	int32		id;
	KafkaAvroSchema *schema;	/* NULL: unusable, see error */
	char	   *error;			/* why (not Avro, not a valid schema) */
} RegistryWriter;

static List *registry_writers = NIL;

/*
 * The writer schema of registry id: NULL with *reason if the registry does
 * not know the id (not cached: it may be registered later) or its schema
 * is not one we can read (cached).  Other registry failures are ERRORs.
 */
static KafkaAvroSchema *
registry_writer(KafkaOptions *o, int32 id, char **reason)
{
	ListCell   *lc;
	RegistryWriter *w;
	const KafkaSchema *ks;
	KafkaAvroSchema *schema = NULL;
	char	   *error = NULL;
	MemoryContext old;

	foreach(lc, registry_writers)
	{
		w = lfirst(lc);
		if (w->id == id && strcmp(w->registry, o->schema_registry) == 0)
		{
			if (w->schema == NULL)
				*reason = pstrdup(w->error);
			return w->schema;
		}
	}
	if (id < 0)
	{
		*reason = psprintf("schema id %d of the schema registry wire format is negative", id);
		return NULL;
	}
	ks = kafkaRegistrySchemaById(o, id, true);
	if (ks == NULL)
	{
		*reason = psprintf("schema id %d is unknown to the schema registry", id);
		return NULL;
	}
	if (ks->schema_type && pg_strcasecmp(ks->schema_type, "AVRO") != 0)
		error = psprintf("schema id %d of the schema registry is a %s schema, not Avro",
						 id, ks->schema_type);
	else
	{
		schema = schema_cached(ks->schema, &error);
		if (schema == NULL)
			error = psprintf("schema id %d of the schema registry is not a valid Avro schema: %s",
							 id, error);
	}
	schema_cache_init();
	old = MemoryContextSwitchTo(schema_cache_cxt);
	w = palloc0(sizeof(RegistryWriter));
	w->registry = pstrdup(o->schema_registry);
	w->id = id;
	w->schema = schema;
	w->error = error ? pstrdup(error) : NULL;
	registry_writers = lappend(registry_writers, w);
	MemoryContextSwitchTo(old);
	if (schema == NULL)
		*reason = error;
	return schema;
}

/* ---------------------------------------------------------------------
 * The schema derived from a table
 * ---------------------------------------------------------------------
 */

/* Is s a valid Avro name ([A-Za-z_][A-Za-z0-9_]*)? */
static bool
valid_avro_name(const char *s)
{
	if (!((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
		return false;
	for (const char *p = s + 1; *p; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
			return false;
	return true;
}

/* s made a valid Avro name: other characters become '_' */
static char *
avro_name(const char *s)
{
	StringInfoData b;

	initStringInfo(&b);
	if (!((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
		appendStringInfoChar(&b, '_');
	for (const char *p = s; *p; p++)
		appendStringInfoChar(&b, ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
								  (*p >= '0' && *p <= '9') || *p == '_') ? *p : '_');
	return b.data;
}

/* While a table's schema is derived: named types written so far */
typedef struct DeriveState
{
	List	   *written;		/* full names (char *) already defined */
} DeriveState;

static void derive_type(DeriveState *ds, StringInfo out, Oid typid, int32 typmod, bool nullable);

/*
 * Start the definition of a named type for a PostgreSQL type:
 * {"type":kind,"name":..,"namespace":.. (the caller adds the rest and the
 * closing brace), or, if it was defined before, append its full name and
 * return false.
 */
static bool
derive_named(DeriveState *ds, StringInfo out, Oid typid, const char *kind)
{
	HeapTuple	tp = SearchSysCache1(TYPEOID, ObjectIdGetDatum(typid));
	Form_pg_type typ;
	char	   *name;
	char	   *ns;
	char	   *full;
	ListCell   *lc;

	if (!HeapTupleIsValid(tp))
		elog(ERROR, "cache lookup failed for type %u", typid);
	typ = (Form_pg_type) GETSTRUCT(tp);
	name = avro_name(NameStr(typ->typname));
	ns = avro_name(get_namespace_name(typ->typnamespace));
	ReleaseSysCache(tp);
	full = psprintf("%s.%s", ns, name);
	foreach(lc, ds->written)
		if (strcmp(lfirst(lc), full) == 0)
		{
			escape_json(out, full);
			return false;
		}
	ds->written = lappend(ds->written, full);
	appendStringInfo(out, "{\"type\":\"%s\",\"name\":", kind);
	escape_json(out, name);
	appendStringInfoString(out, ",\"namespace\":");
	escape_json(out, ns);
	return true;
}

/* Can an enum be an Avro enum: labels that are Avro names? (in sort order) */
static List *
enum_labels(Oid typid, bool *ok)
{
	CatCList   *list = SearchSysCacheList1(ENUMTYPOIDNAME, ObjectIdGetDatum(typid));
	List	   *labels = NIL;
	List	   *orders = NIL;

	*ok = list->n_members > 0;
	for (int i = 0; i < list->n_members; i++)
	{
		Form_pg_enum e = (Form_pg_enum) GETSTRUCT(&list->members[i]->tuple);
		ListCell   *lc;
		int			pos = 0;

		if (!valid_avro_name(NameStr(e->enumlabel)))
			*ok = false;
		/* insertion by enumsortorder, the order the enum compares in */
		foreach(lc, orders)
		{
			if (*(float4 *) lfirst(lc) > e->enumsortorder)
				break;
			pos++;
		}
		{
			float4	   *o = palloc(sizeof(float4));

			*o = e->enumsortorder;
			orders = list_insert_nth(orders, pos, o);
			labels = list_insert_nth(labels, pos, pstrdup(NameStr(e->enumlabel)));
		}
	}
	ReleaseSysCacheList(list);
	return labels;
}

/* The Avro type of a PostgreSQL type (not nullable: the caller wraps) */
static void
derive_base(DeriveState *ds, StringInfo out, Oid typid, int32 typmod)
{
	Oid			base = getBaseTypeAndTypmod(typid, &typmod);
	Oid			elem = get_element_type(base);

	check_stack_depth();
	if (OidIsValid(elem))
	{
		appendStringInfoString(out, "{\"type\":\"array\",\"items\":");
		derive_type(ds, out, elem, typmod, true);
		appendStringInfoChar(out, '}');
		return;
	}
	switch (get_typtype(base))
	{
		case TYPTYPE_COMPOSITE:
			{
				TupleDesc	td;
				bool		first = true;

				if (!derive_named(ds, out, base, "record"))
					return;
				td = lookup_rowtype_tupdesc(base, -1);
				appendStringInfoString(out, ",\"fields\":[");
				for (int i = 0; i < td->natts; i++)
				{
					Form_pg_attribute a = TupleDescAttr(td, i);

					if (a->attisdropped)
						continue;
					if (!valid_avro_name(NameStr(a->attname)))
						ereport(ERROR,
								(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
								 errmsg("attribute \"%s\" of type %s is not a valid Avro field name",
										NameStr(a->attname), format_type_be(base)),
								 errhint("Avro names start with a letter or '_' and hold only letters, digits and '_'; give the table an avro_schema.")));
					if (!first)
						appendStringInfoChar(out, ',');
					first = false;
					appendStringInfoString(out, "{\"name\":");
					escape_json(out, NameStr(a->attname));
					appendStringInfoString(out, ",\"type\":");
					derive_type(ds, out, a->atttypid, a->atttypmod, !a->attnotnull);
					if (!a->attnotnull)
						appendStringInfoString(out, ",\"default\":null");
					appendStringInfoChar(out, '}');
				}
				appendStringInfoString(out, "]}");
				ReleaseTupleDesc(td);
				return;
			}
		case TYPTYPE_ENUM:
			{
				bool		ok;
				List	   *labels = enum_labels(base, &ok);
				ListCell   *lc;
				bool		first = true;

				if (!ok)
				{
					appendStringInfoString(out, "\"string\"");	/* labels Avro cannot name */
					return;
				}
				if (!derive_named(ds, out, base, "enum"))
					return;
				appendStringInfoString(out, ",\"symbols\":[");
				foreach(lc, labels)
				{
					if (!first)
						appendStringInfoChar(out, ',');
					first = false;
					escape_json(out, lfirst(lc));
				}
				appendStringInfoString(out, "]}");
				return;
			}
		default:
			break;
	}
	switch (base)
	{
		case BOOLOID:
			appendStringInfoString(out, "\"boolean\"");
			break;
		case INT2OID:
		case INT4OID:
			appendStringInfoString(out, "\"int\"");
			break;
		case INT8OID:
		case OIDOID:
			appendStringInfoString(out, "\"long\"");
			break;
		case FLOAT4OID:
			appendStringInfoString(out, "\"float\"");
			break;
		case FLOAT8OID:
			appendStringInfoString(out, "\"double\"");
			break;
		case NUMERICOID:
			{
				int			precision = ((typmod - VARHDRSZ) >> 16) & 0xffff;
				int			scale = (((typmod - VARHDRSZ) & 0x7ff) ^ 1024) - 1024;

				if (typmod >= (int32) VARHDRSZ && scale >= 0 && scale <= precision)
					appendStringInfo(out, "{\"type\":\"bytes\",\"logicalType\":\"decimal\",\"precision\":%d,\"scale\":%d}",
									 precision, scale);
				else
					appendStringInfoString(out, "\"string\"");	/* no fixed scale: exact as text */
				break;
			}
		case BYTEAOID:
			appendStringInfoString(out, "\"bytes\"");
			break;
		case DATEOID:
			appendStringInfoString(out, "{\"type\":\"int\",\"logicalType\":\"date\"}");
			break;
		case TIMEOID:
			appendStringInfoString(out, "{\"type\":\"long\",\"logicalType\":\"time-micros\"}");
			break;
		case TIMESTAMPOID:
			appendStringInfoString(out, "{\"type\":\"long\",\"logicalType\":\"local-timestamp-micros\"}");
			break;
		case TIMESTAMPTZOID:
			appendStringInfoString(out, "{\"type\":\"long\",\"logicalType\":\"timestamp-micros\"}");
			break;
		case UUIDOID:
			appendStringInfoString(out, "{\"type\":\"string\",\"logicalType\":\"uuid\"}");
			break;
		default:
			/* text, varchar, json, jsonb, and every other type as its text */
			appendStringInfoString(out, "\"string\"");
			break;
	}
}

static void
derive_type(DeriveState *ds, StringInfo out, Oid typid, int32 typmod, bool nullable)
{
	if (nullable)
		appendStringInfoString(out, "[\"null\",");
	derive_base(ds, out, typid, typmod);
	if (nullable)
		appendStringInfoChar(out, ']');
}

/*
 * For other builders of derived schemas (envelope_avro.c): the Avro type of
 * a PostgreSQL type as kafkaAvroSchemaForTable writes it, ["null", T] if
 * nullable.  *named lists the named types (composites, enums) one schema
 * has defined so far: pass the same list for every type of one schema, so
 * that a type used twice is defined once and then referred to by name.
 */
void
kafkaAvroDeriveType(StringInfo out, Oid typid, int32 typmod, bool nullable, List **named)
{
	DeriveState ds = {*named};

	derive_type(&ds, out, typid, typmod, nullable);
	*named = ds.written;
}

/* Is s a valid Avro name ([A-Za-z_][A-Za-z0-9_]*)? */
bool
kafkaAvroValidName(const char *s)
{
	return valid_avro_name(s);
}

/* s made a valid Avro name: other characters become '_' */
char *
kafkaAvroName(const char *s)
{
	return avro_name(s);
}

/*
 * Append the header of the Confluent wire format (magic byte 0, the schema
 * id as 4 bytes big-endian) to out; the Avro binary value follows it.
 */
void
kafkaAvroAppendRegistryHeader(StringInfo out, int32 id)
{
	uint32		u = (uint32) id;

	appendStringInfoChar(out, REGISTRY_MAGIC);
	appendStringInfoChar(out, (char) (u >> 24));
	appendStringInfoChar(out, (char) (u >> 16));
	appendStringInfoChar(out, (char) (u >> 8));
	appendStringInfoChar(out, (char) u);
}

/*
 * The Avro schema (JSON text) of a table's value columns: a record named
 * after the table (namespace: its schema), a field per value column named
 * by the column (or its json option); nullable columns as ["null", T] with
 * "default": null, so that adding such a column stays compatible; logical
 * types for date, time, timestamp, timestamptz, numeric(p,s) and uuid;
 * composites as records, arrays as arrays of nullable items, enums as
 * enums, numeric without a scale, json, jsonb and other types as strings.
 */
char *
kafkaAvroSchemaForTable(KafkaOptions *opts)
{
	StringInfoData out;
	DeriveState ds = {NIL};
	bool		first = true;
	HeapTuple	tp;
	Form_pg_attribute att;

	initStringInfo(&out);
	appendStringInfoString(&out, "{\"type\":\"record\",\"name\":");
	escape_json(&out, avro_name(opts->table_name ? opts->table_name : get_rel_name(opts->relid)));
	appendStringInfoString(&out, ",\"namespace\":");
	escape_json(&out, avro_name(get_namespace_name(get_rel_namespace(opts->relid))));
	appendStringInfoString(&out, ",\"fields\":[");
	for (int v = 0; v < opts->nvalue_columns; v++)
	{
		KafkaColumn *col = NULL;
		bool		notnull;

		for (int i = 0; i < opts->ncolumns; i++)
			if (!opts->columns[i].dropped && opts->columns[i].kind == KAFKA_COL_VALUE &&
				opts->columns[i].value_index == v)
				col = &opts->columns[i];
		if (col == NULL)
			continue;
		if (!valid_avro_name(col->json_name))
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
					 errmsg("column \"%s\" of foreign table \"%s\" has no valid Avro field name",
							col->name, opts->table_name),
					 errhint("Avro names start with a letter or '_' and hold only letters, digits and '_': set the column option json, or give the table an avro_schema.")));
		tp = SearchSysCache2(ATTNUM, ObjectIdGetDatum(opts->relid), Int16GetDatum(col->attnum));
		if (!HeapTupleIsValid(tp))
			elog(ERROR, "cache lookup failed for attribute %d of relation %u", col->attnum, opts->relid);
		att = (Form_pg_attribute) GETSTRUCT(tp);
		notnull = att->attnotnull;
		ReleaseSysCache(tp);
		if (!first)
			appendStringInfoChar(&out, ',');
		first = false;
		appendStringInfoString(&out, "{\"name\":");
		escape_json(&out, col->json_name);
		appendStringInfoString(&out, ",\"type\":");
		derive_type(&ds, &out, col->typid, col->typmod, !notnull);
		if (!notnull)
			appendStringInfoString(&out, ",\"default\":null");
		appendStringInfoChar(&out, '}');
	}
	appendStringInfoString(&out, "]}");
	return out.data;
}

/*
 * The Avro schema (JSON text) of a table's key column, for key_format
 * avro without key_avro_schema: the column's type as a value column's type
 * is derived (a composite as a record named after its type, a scalar as
 * its primitive or logical type, ...), a union with null unless the column
 * is NOT NULL.
 */
char *
kafkaAvroSchemaForKey(KafkaOptions *opts)
{
	StringInfoData out;
	DeriveState ds = {NIL};
	KafkaColumn *col;
	HeapTuple	tp;
	bool		notnull;

	if (opts->key_attnum == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_COLUMN_NAME),
				 errmsg("foreign table \"%s\" has no key column", opts->table_name),
				 errhint("Mark a column with OPTIONS (key 'true').")));
	col = &opts->columns[opts->key_attnum - 1];
	tp = SearchSysCache2(ATTNUM, ObjectIdGetDatum(opts->relid), Int16GetDatum(col->attnum));
	if (!HeapTupleIsValid(tp))
		elog(ERROR, "cache lookup failed for attribute %d of relation %u", col->attnum, opts->relid);
	notnull = ((Form_pg_attribute) GETSTRUCT(tp))->attnotnull;
	ReleaseSysCache(tp);
	initStringInfo(&out);
	derive_type(&ds, &out, col->typid, col->typmod, !notnull);
	return out.data;
}

/*
 * The schema a table reads and writes a part of its messages with (when
 * no registry gives each message its own): the inline option avro_schema
 * or key_avro_schema, or the schema derived from its value columns or its
 * key column.
 */
static KafkaAvroSchema *
part_schema(KafkaOptions *opts, KafkaPart part)
{
	if (part == KAFKA_PART_KEY)
	{
		if (opts->key_avro_schema)
			return kafkaAvroSchemaCached(opts->key_avro_schema, "option \"key_avro_schema\"");
		return kafkaAvroSchemaCached(kafkaAvroSchemaForKey(opts), "the schema derived from the key column");
	}
	if (opts->avro_schema)
		return kafkaAvroSchemaCached(opts->avro_schema, "option \"avro_schema\"");
	return kafkaAvroSchemaCached(kafkaAvroSchemaForTable(opts), "the schema derived from the table");
}

/* The schema of a table's values: avro_schema, or derived from its columns */
KafkaAvroSchema *
kafkaAvroTableSchema(KafkaOptions *opts)
{
	return part_schema(opts, KAFKA_PART_VALUE);
}

/* ---------------------------------------------------------------------
 * The PostgreSQL side of a conversion: what a column (or an element, an
 * attribute) is, looked up once per scan or statement
 * ---------------------------------------------------------------------
 */

typedef enum TargetKind
{
	TK_SCALAR,					/* through the type's input function */
	TK_JSON,					/* json or jsonb */
	TK_ARRAY,					/* an array: elem */
	TK_COMPOSITE				/* a composite: atts */
} TargetKind;

typedef struct PgTarget
{
	Oid			typid;			/* as declared */
	Oid			base;			/* without domains */
	int32		typmod;
	TargetKind	kind;
	struct PgTarget *elem;		/* TK_ARRAY: the element type */
	int16		elemlen;		/* TK_ARRAY: the element's storage */
	bool		elembyval;
	char		elemalign;
	int			natts;			/* TK_COMPOSITE: attributes */
	char	  **attnames;		/* their names, NULL for dropped ones */
	struct PgTarget **atts;		/* their types */
} PgTarget;

static PgTarget *
build_target(Oid typid, int32 typmod, int depth)
{
	PgTarget   *t = palloc0(sizeof(PgTarget));
	Oid			elem;

	check_stack_depth();
	t->typid = typid;
	t->typmod = typmod;
	t->base = getBaseType(typid);
	elem = get_element_type(t->base);
	if (t->base == JSONOID || t->base == JSONBOID)
		t->kind = TK_JSON;
	else if (OidIsValid(elem))
	{
		t->kind = TK_ARRAY;
		t->elem = build_target(elem, typmod, depth + 1);
		get_typlenbyvalalign(elem, &t->elemlen, &t->elembyval, &t->elemalign);
	}
	else if ((get_typtype(t->base) == TYPTYPE_COMPOSITE ||
			  (t->base == RECORDOID && typmod >= 0)) && depth < 50)
	{
		/* a named composite, or an anonymous record type (BlessTupleDesc) */
		TupleDesc	td = lookup_rowtype_tupdesc(t->base, t->base == RECORDOID ? typmod : -1);

		t->kind = TK_COMPOSITE;
		t->natts = td->natts;
		t->attnames = palloc0(sizeof(char *) * Max(td->natts, 1));
		t->atts = palloc0(sizeof(PgTarget *) * Max(td->natts, 1));
		for (int i = 0; i < td->natts; i++)
		{
			Form_pg_attribute a = TupleDescAttr(td, i);

			if (a->attisdropped)
				continue;
			t->attnames[i] = pstrdup(NameStr(a->attname));
			t->atts[i] = build_target(a->atttypid, a->atttypmod, depth + 1);
		}
		ReleaseTupleDesc(td);
	}
	else
		t->kind = TK_SCALAR;
	return t;
}

/* ---------------------------------------------------------------------
 * Reading Avro binary
 * ---------------------------------------------------------------------
 */

typedef struct AvroIn
{
	const unsigned char *start; /* the message */
	const unsigned char *p;		/* the next byte */
	const unsigned char *end;	/* one past the last */
	const char *err;			/* the first problem, or NULL */
	int			depth;			/* nesting of the value being read */
	int64		empty_items;	/* items of no bytes read so far */
} AvroIn;

static bool
fail(AvroIn *in, const char *msg)
{
	if (in->err == NULL)
		in->err = msg;
	return false;
}

static inline size_t
left(AvroIn *in)
{
	return in->end - in->p;
}

/* A zigzag varint long */
static bool
read_long(AvroIn *in, int64 *v)
{
	uint64		u = 0;
	int			shift = 0;

	for (;;)
	{
		unsigned	b;

		if (in->p >= in->end)
			return fail(in, "unexpected end of the message");
		b = *in->p++;
		if (shift == 63 && b > 1)
			return fail(in, "variable-length integer longer than 64 bits");
		u |= (uint64) (b & 0x7f) << shift;
		if ((b & 0x80) == 0)
			break;
		shift += 7;
	}
	*v = (int64) (u >> 1) ^ -(int64) (u & 1);
	return true;
}

static bool
read_int(AvroIn *in, int32 *v)
{
	int64		l;

	if (!read_long(in, &l))
		return false;
	if (l < PG_INT32_MIN || l > PG_INT32_MAX)
		return fail(in, "int value out of range");
	*v = (int32) l;
	return true;
}

/* The bytes of a bytes or string value */
static bool
read_bytes(AvroIn *in, const char **data, size_t *len)
{
	int64		l;

	if (!read_long(in, &l))
		return false;
	if (l < 0)
		return fail(in, "negative length");
	if ((uint64) l > left(in))
		return fail(in, "length exceeds the message");
	*data = (const char *) in->p;
	*len = (size_t) l;
	in->p += l;
	return true;
}

static bool
read_fixed(AvroIn *in, AvroNode *n, const char **data)
{
	if ((uint64) n->size > left(in))
		return fail(in, "unexpected end of the message");
	*data = (const char *) in->p;
	in->p += n->size;
	return true;
}

static bool
read_boolean(AvroIn *in, bool *v)
{
	if (in->p >= in->end)
		return fail(in, "unexpected end of the message");
	if (*in->p > 1)
		return fail(in, "boolean byte is neither 0 nor 1");
	*v = *in->p++ == 1;
	return true;
}

static bool
read_float(AvroIn *in, float4 *v)
{
	uint32		u;

	if (left(in) < 4)
		return fail(in, "unexpected end of the message");
	u = (uint32) in->p[0] | ((uint32) in->p[1] << 8) | ((uint32) in->p[2] << 16) | ((uint32) in->p[3] << 24);
	memcpy(v, &u, 4);
	in->p += 4;
	return true;
}

static bool
read_double(AvroIn *in, float8 *v)
{
	uint64		u = 0;

	if (left(in) < 8)
		return fail(in, "unexpected end of the message");
	for (int i = 7; i >= 0; i--)
		u = (u << 8) | in->p[i];
	memcpy(v, &u, 8);
	in->p += 8;
	return true;
}

static bool
read_enum(AvroIn *in, AvroNode *n, int *index)
{
	int32		i;

	if (!read_int(in, &i))
		return false;
	if (i < 0 || i >= n->n)
		return fail(in, "enum index out of range");
	*index = i;
	return true;
}

/* A union's branch: the node of the value that follows */
static bool
read_branch(AvroIn *in, AvroNode *n, AvroNode **branch)
{
	int64		i;

	if (!read_long(in, &i))
		return false;
	if (i < 0 || i >= n->n)
		return fail(in, "union branch index out of range");
	*branch = n->sub[i];
	return true;
}

/*
 * Blocks of an array or map: start the next one.  *count: its items (0:
 * the end).  A negative count is followed by the block's size in bytes,
 * which the items must then fill exactly (*block_end).  Counts are checked
 * against the bytes left, and items that take no bytes are capped.
 */
static bool
read_block(AvroIn *in, int item_min, int64 *count, const unsigned char **block_end)
{
	int64		c;

	if (!read_long(in, &c))
		return false;
	*block_end = NULL;
	if (c < 0)
	{
		int64		size;

		if (c == PG_INT64_MIN)
			return fail(in, "block count out of range");
		c = -c;
		if (!read_long(in, &size))
			return false;
		if (size < 0 || (uint64) size > left(in))
			return fail(in, "block size exceeds the message");
		*block_end = in->p + size;
	}
	if (item_min > 0)
	{
		if ((uint64) c > left(in) / item_min)
			return fail(in, "block count exceeds the message");
	}
	else
	{
		/* compared before adding: c may be near INT64_MAX */
		if (c > (int64) kafka_avro_max_empty_items - in->empty_items)
			return fail(in, "too many items that take no bytes");
		in->empty_items += c;
	}
	*count = c;
	return true;
}

static bool
end_block(AvroIn *in, const unsigned char *block_end)
{
	if (block_end && in->p != block_end)
		return fail(in, "block size does not match its items");
	return true;
}

static bool
enter(AvroIn *in)
{
	if (++in->depth > AVRO_MAX_DEPTH)
		return fail(in, "Avro value nested too deeply");
	return true;
}

/* Read past a value, checking it */
static bool
skip_value(AvroIn *in, AvroNode *n)
{
	const char *d;
	size_t		l;
	int64		v;
	bool		b;
	float8		f8;
	float4		f4;
	int			e;

	switch (n->kind)
	{
		case AK_NULL:
			return true;
		case AK_BOOLEAN:
			return read_boolean(in, &b);
		case AK_INT:
		case AK_LONG:
			if (!read_long(in, &v))
				return false;
			if (n->kind == AK_INT && (v < PG_INT32_MIN || v > PG_INT32_MAX))
				return fail(in, "int value out of range");
			return true;
		case AK_FLOAT:
			return read_float(in, &f4);
		case AK_DOUBLE:
			return read_double(in, &f8);
		case AK_BYTES:
		case AK_STRING:
			return read_bytes(in, &d, &l);
		case AK_FIXED:
			return read_fixed(in, n, &d);
		case AK_ENUM:
			return read_enum(in, n, &e);
		case AK_UNION:
			{
				AvroNode   *br;

				if (!enter(in) || !read_branch(in, n, &br) || !skip_value(in, br))
					return false;
				in->depth--;
				return true;
			}
		case AK_RECORD:
			if (!enter(in))
				return false;
			for (int i = 0; i < n->n; i++)
				if (!skip_value(in, n->sub[i]))
					return false;
			in->depth--;
			return true;
		case AK_ARRAY:
		case AK_MAP:
			{
				int			item_min = min_size(n->sub[0]) + (n->kind == AK_MAP ? 1 : 0);
				int64		count;
				const unsigned char *block_end;

				if (!enter(in))
					return false;
				for (;;)
				{
					if (!read_block(in, item_min, &count, &block_end))
						return false;
					if (count == 0)
						break;
					for (int64 i = 0; i < count; i++)
					{
						if (n->kind == AK_MAP && !read_bytes(in, &d, &l))
							return false;
						if (!skip_value(in, n->sub[0]))
							return false;
					}
					if (!end_block(in, block_end))
						return false;
				}
				in->depth--;
				return true;
			}
	}
	return fail(in, "unknown Avro type");
}

/* ---------------------------------------------------------------------
 * Text forms of Avro values
 * ---------------------------------------------------------------------
 */

/* Days since 1970-01-01 to a proleptic Gregorian date */
static void
civil_from_days(int64 z, int64 *y, int *m, int *d)
{
	int64		era;
	int64		doe;
	int64		yoe;
	int64		doy;
	int64		mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	*y = yoe + era * 400;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (int) (doy - (153 * mp + 2) / 5 + 1);
	*m = (int) (mp < 10 ? mp + 3 : mp - 9);
	if (*m <= 2)
		(*y)++;
}

static inline int64
floor_div(int64 a, int64 b)
{
	return a >= 0 ? a / b : -((-a + b - 1) / b);
}

/* "HH:MM:SS[.ffffff]" of microseconds after midnight (0 to 24 h) */
static void
append_time(StringInfo out, int64 us)
{
	int64		secs = us / USECS_PER_SEC;
	int			frac = (int) (us % USECS_PER_SEC);

	appendStringInfo(out, "%02d:%02d:%02d", (int) (secs / 3600), (int) (secs / 60 % 60), (int) (secs % 60));
	if (frac)
	{
		char		f[8];
		int			n = 6;

		snprintf(f, sizeof(f), "%06d", frac);
		while (n > 0 && f[n - 1] == '0')
			n--;
		appendStringInfoChar(out, '.');
		appendBinaryStringInfo(out, f, n);
	}
}

/*
 * A date (days since 1970) or a timestamp (us since 1970, zone: UTC
 * instant) as text the input functions read back: "YYYY-MM-DD", then
 * " HH:MM:SS.ffffff", then "+00", then " BC" for years before 1.  json:
 * ISO 8601 with 'T' and "+00:00", as to_json writes timestamptz in UTC.
 */
static void
append_datetime(StringInfo out, int64 days, int64 us_of_day, bool with_time, bool zone, bool json)
{
	int64		y;
	int			m;
	int			d;

	civil_from_days(days, &y, &m, &d);
	appendStringInfo(out, "%04lld-%02d-%02d", (long long) (y > 0 ? y : 1 - y), m, d);
	if (with_time)
	{
		appendStringInfoChar(out, json ? 'T' : ' ');
		append_time(out, us_of_day);
		if (zone)
			appendStringInfoString(out, json ? "+00:00" : "+00");
	}
	if (y <= 0)
		appendStringInfoString(out, " BC");
}

/* A float or double as float4out/float8out write it (shortest exact) */
static void
append_float(StringInfo out, double v, bool single, bool json)
{
	char		buf[32];

	if (isnan(v))
		appendStringInfoString(out, json ? "\"NaN\"" : "NaN");
	else if (isinf(v))
		appendStringInfoString(out, v > 0 ? (json ? "\"Infinity\"" : "Infinity") :
							   (json ? "\"-Infinity\"" : "-Infinity"));
	else
	{
		if (single)
			float_to_shortest_decimal_buf((float) v, buf);
		else
			double_to_shortest_decimal_buf(v, buf);
		appendStringInfoString(out, buf);
	}
}

/* Bytes as bytea's hex text, \x... */
static void
append_hex(StringInfo out, const char *data, size_t len)
{
	enlargeStringInfo(out, len * 2 + 2);
	out->data[out->len++] = '\\';
	out->data[out->len++] = 'x';
	out->len += hex_encode(data, len, out->data + out->len);
	out->data[out->len] = '\0';
}

/* A fixed(16) uuid as its 8-4-4-4-12 hex text */
static void
append_uuid(StringInfo out, const char *b)
{
	static const char hx[] = "0123456789abcdef";

	for (int i = 0; i < 16; i++)
	{
		if (i == 4 || i == 6 || i == 8 || i == 10)
			appendStringInfoChar(out, '-');
		appendStringInfoChar(out, hx[((unsigned char) b[i]) >> 4]);
		appendStringInfoChar(out, hx[((unsigned char) b[i]) & 15]);
	}
}

/*
 * The decimal text of an Avro decimal: big-endian two's complement
 * unscaled value b[0..len) with the node's scale.  Refuses a value with
 * more digits than the precision.
 */
static bool
append_decimal(AvroIn *in, StringInfo out, AvroNode *n, const char *data, size_t len)
{
	const unsigned char *b = (const unsigned char *) data;
	bool		neg = len > 0 && (b[0] & 0x80);
	unsigned char *mag;
	uint32	   *limbs;
	int			nlimbs = 0;
	size_t		maxbytes = (size_t) (n->precision * 0.41524 + 2);	/* log256(10) */
	StringInfoData digits;
	int			ndigits;

	/* redundant sign bytes are allowed (fixed values are sign-extended) */
	while (len > 1 && ((b[0] == 0 && !(b[1] & 0x80)) || (b[0] == 0xff && (b[1] & 0x80))))
		b++, len--;
	if (len > maxbytes)
		return fail(in, "decimal value has more digits than its precision");
	mag = palloc(Max(len, 1));
	memcpy(mag, b, len);
	if (neg)
	{
		/* magnitude of a negative value: invert and add one */
		int			carry = 1;

		for (size_t i = len; i-- > 0;)
		{
			int			v = (unsigned char) ~mag[i] + carry;

			mag[i] = (unsigned char) v;
			carry = v >> 8;
		}
	}
	/* base 10^9 limbs, least significant first */
	limbs = palloc0(sizeof(uint32) * (len / 3 + 2));
	for (size_t i = 0; i < len; i++)
	{
		uint64		carry = mag[i];

		for (int k = 0; k < nlimbs; k++)
		{
			uint64		t = (uint64) limbs[k] * 256 + carry;

			limbs[k] = (uint32) (t % 1000000000);
			carry = t / 1000000000;
		}
		if (carry)
			limbs[nlimbs++] = (uint32) carry;
	}
	initStringInfo(&digits);
	if (nlimbs == 0)
		appendStringInfoChar(&digits, '0');
	else
	{
		appendStringInfo(&digits, "%u", limbs[nlimbs - 1]);
		for (int k = nlimbs - 2; k >= 0; k--)
			appendStringInfo(&digits, "%09u", limbs[k]);
	}
	ndigits = (digits.len == 1 && digits.data[0] == '0') ? 0 : digits.len;
	if (ndigits > n->precision)
		return fail(in, "decimal value has more digits than its precision");
	if (neg)
		appendStringInfoChar(out, '-');
	if (n->scale == 0)
		appendBinaryStringInfo(out, digits.data, digits.len);
	else
	{
		int			intlen = digits.len - n->scale;

		if (intlen <= 0)
		{
			appendStringInfoString(out, "0.");
			for (int i = 0; i < -intlen; i++)
				appendStringInfoChar(out, '0');
			appendBinaryStringInfo(out, digits.data, digits.len);
		}
		else
		{
			appendBinaryStringInfo(out, digits.data, intlen);
			appendStringInfoChar(out, '.');
			appendBinaryStringInfo(out, digits.data + intlen, n->scale);
		}
	}
	pfree(digits.data);
	pfree(limbs);
	pfree(mag);
	return true;
}

/* Microseconds since 1970 of a timestamp logical value */
static bool
timestamp_us(AvroIn *in, AvroNode *n, int64 v, int64 *us)
{
	if (n->logical == AL_TIMESTAMP_MILLIS || n->logical == AL_LOCAL_TIMESTAMP_MILLIS)
	{
		if (pg_mul_s64_overflow(v, 1000, us))
			return fail(in, "timestamp out of range");
	}
	else
		*us = v;
	if (*us < PG_INT64_MIN + AVRO_EPOCH_USECS || !IS_VALID_TIMESTAMP(*us - AVRO_EPOCH_USECS))
		return fail(in, "timestamp out of range");
	return true;
}

static bool
time_us(AvroIn *in, AvroNode *n, int64 v, int64 *us)
{
	*us = n->logical == AL_TIME_MILLIS ? v * 1000 : v;
	if (*us < 0 || *us > USECS_PER_DAY)
		return fail(in, "time of day out of range");
	return true;
}

static bool
date_days(AvroIn *in, int64 v)
{
	if (!IS_VALID_DATE(v - AVRO_EPOCH_DAYS))
		return fail(in, "date out of range");
	return true;
}

/* Append a string's text (UTF-8 checked, in the server encoding) */
static bool
append_string(AvroIn *in, StringInfo out, const char *s, size_t len, bool json)
{
	char	   *reason = NULL;

	if (!kafkaToServerText(&s, &len, &reason))
		return fail(in, "string is not valid UTF-8");
	if (!json)
		appendBinaryStringInfo(out, s, len);
	else
	{
		/* escape_json needs a NUL-terminated string: text has no NUL */
		char	   *c = pnstrdup(s, len);

		escape_json(out, c);
		pfree(c);
	}
	return true;
}

/*
 * Read a scalar (not record, array, map, union, null) and append its text:
 * json: as a JSON value; otherwise the text its natural PostgreSQL type
 * reads (bytes as \x hex, dates and times ISO, decimals exact).
 */
static bool
append_scalar(AvroIn *in, AvroNode *n, StringInfo out, bool json)
{
	const char *d;
	size_t		l;
	int64		v;
	bool		b;
	float4		f4;
	float8		f8;
	int			e;

	switch (n->kind)
	{
		case AK_BOOLEAN:
			if (!read_boolean(in, &b))
				return false;
			appendStringInfoString(out, b ? "true" : "false");
			return true;
		case AK_INT:
		case AK_LONG:
			if (!read_long(in, &v))
				return false;
			if (n->kind == AK_INT && (v < PG_INT32_MIN || v > PG_INT32_MAX))
				return fail(in, "int value out of range");
			switch (n->logical)
			{
				case AL_DATE:
					if (!date_days(in, v))
						return false;
					if (json)
						appendStringInfoChar(out, '"');
					append_datetime(out, v, 0, false, false, json);
					if (json)
						appendStringInfoChar(out, '"');
					return true;
				case AL_TIME_MILLIS:
				case AL_TIME_MICROS:
					{
						int64		us;

						if (!time_us(in, n, v, &us))
							return false;
						if (json)
							appendStringInfoChar(out, '"');
						append_time(out, us);
						if (json)
							appendStringInfoChar(out, '"');
						return true;
					}
				case AL_TIMESTAMP_MILLIS:
				case AL_TIMESTAMP_MICROS:
				case AL_LOCAL_TIMESTAMP_MILLIS:
				case AL_LOCAL_TIMESTAMP_MICROS:
					{
						int64		us;
						int64		days;

						if (!timestamp_us(in, n, v, &us))
							return false;
						days = floor_div(us, USECS_PER_DAY);
						if (json)
							appendStringInfoChar(out, '"');
						append_datetime(out, days, us - days * USECS_PER_DAY, true,
										n->logical == AL_TIMESTAMP_MILLIS || n->logical == AL_TIMESTAMP_MICROS,
										json);
						if (json)
							appendStringInfoChar(out, '"');
						return true;
					}
				default:
					appendStringInfo(out, INT64_FORMAT, v);
					return true;
			}
		case AK_FLOAT:
			if (!read_float(in, &f4))
				return false;
			append_float(out, f4, true, json);
			return true;
		case AK_DOUBLE:
			if (!read_double(in, &f8))
				return false;
			append_float(out, f8, false, json);
			return true;
		case AK_STRING:
			if (!read_bytes(in, &d, &l))
				return false;
			return append_string(in, out, d, l, json);
		case AK_BYTES:
		case AK_FIXED:
			if (n->kind == AK_BYTES ? !read_bytes(in, &d, &l) : !read_fixed(in, n, &d))
				return false;
			if (n->kind == AK_FIXED)
				l = (size_t) n->size;
			if (n->logical == AL_DECIMAL)
				return append_decimal(in, out, n, d, l);
			if (json)
				appendStringInfoChar(out, '"');
			if (n->logical == AL_UUID)
				append_uuid(out, d);
			else if (json)
			{
				/* "\\x..." as to_json writes a bytea */
				appendStringInfoChar(out, '\\');
				append_hex(out, d, l);
			}
			else
				append_hex(out, d, l);
			if (json)
				appendStringInfoChar(out, '"');
			return true;
		case AK_ENUM:
			if (!read_enum(in, n, &e))
				return false;
			/* symbols are ASCII names */
			if (json)
				escape_json(out, n->names[e]);
			else
				appendStringInfoString(out, n->names[e]);
			return true;
		default:
			return fail(in, "not a scalar");
	}
}

/* Read a value and append it as JSON */
static bool
append_json(AvroIn *in, AvroNode *n, StringInfo out)
{
	switch (n->kind)
	{
		case AK_NULL:
			appendStringInfoString(out, "null");
			return true;
		case AK_UNION:
			{
				AvroNode   *br;

				if (!enter(in) || !read_branch(in, n, &br) || !append_json(in, br, out))
					return false;
				in->depth--;
				return true;
			}
		case AK_RECORD:
			if (!enter(in))
				return false;
			appendStringInfoChar(out, '{');
			for (int i = 0; i < n->n; i++)
			{
				if (i > 0)
					appendStringInfoChar(out, ',');
				escape_json(out, n->names[i]);
				appendStringInfoChar(out, ':');
				if (!append_json(in, n->sub[i], out))
					return false;
			}
			appendStringInfoChar(out, '}');
			in->depth--;
			return true;
		case AK_ARRAY:
		case AK_MAP:
			{
				bool		map = n->kind == AK_MAP;
				int			item_min = min_size(n->sub[0]) + (map ? 1 : 0);
				int64		count;
				const unsigned char *block_end;
				bool		first = true;

				if (!enter(in))
					return false;
				appendStringInfoChar(out, map ? '{' : '[');
				for (;;)
				{
					if (!read_block(in, item_min, &count, &block_end))
						return false;
					if (count == 0)
						break;
					for (int64 i = 0; i < count; i++)
					{
						if (!first)
							appendStringInfoChar(out, ',');
						first = false;
						if (map)
						{
							const char *k;
							size_t		kl;

							if (!read_bytes(in, &k, &kl) || !append_string(in, out, k, kl, true))
								return false;
							appendStringInfoChar(out, ':');
						}
						if (!append_json(in, n->sub[0], out))
							return false;
					}
					if (!end_block(in, block_end))
						return false;
				}
				appendStringInfoChar(out, map ? '}' : ']');
				in->depth--;
				return true;
			}
		default:
			return append_scalar(in, n, out, true);
	}
}


static bool append_literal(AvroIn *in, AvroNode *n, PgTarget *t, StringInfo out, bool *isnull);

/* The items of an array into an array literal "{...}" of t (an array type) */
static bool
append_array_literal(AvroIn *in, AvroNode *n, PgTarget *t, StringInfo out)
{
	int			item_min = min_size(n->sub[0]);
	int64		count;
	const unsigned char *block_end;
	bool		first = true;
	StringInfoData el;

	if (!enter(in))
		return false;
	initStringInfo(&el);
	appendStringInfoChar(out, '{');
	for (;;)
	{
		if (!read_block(in, item_min, &count, &block_end))
			return false;
		if (count == 0)
			break;
		for (int64 i = 0; i < count; i++)
		{
			AvroNode   *item = n->sub[0];
			bool		isnull = false;

			if (!first)
				appendStringInfoChar(out, ',');
			first = false;
			/* a union item: its branch decides (unions do not nest) */
			while (item->kind == AK_UNION)
			{
				if (!read_branch(in, item, &item))
					return false;
			}
			if (item->kind == AK_NULL)
				appendStringInfoString(out, "NULL");
			else if (item->kind == AK_ARRAY && t->elem->kind != TK_ARRAY &&
					 t->elem->kind != TK_COMPOSITE && t->elem->kind != TK_JSON)
			{
				/* an array of arrays: another dimension of the same array */
				if (!append_array_literal(in, item, t, out))
					return false;
			}
			else
			{
				resetStringInfo(&el);
				if (!append_literal(in, item, t->elem, &el, &isnull))
					return false;
				if (isnull)
					appendStringInfoString(out, "NULL");
				else
					kafkaAppendQuoted(out, el.data, el.len);
			}
		}
		if (!end_block(in, block_end))
			return false;
	}
	appendStringInfoChar(out, '}');
	in->depth--;
	pfree(el.data);
	return true;
}

/* A record into a record literal "(...)" of t (a composite), by field name */
static bool
append_record_literal(AvroIn *in, AvroNode *n, PgTarget *t, StringInfo out)
{
	StringInfoData *vals = palloc0(sizeof(StringInfoData) * Max(t->natts, 1));
	bool	   *have = palloc0(sizeof(bool) * Max(t->natts, 1));
	bool		first = true;

	if (!enter(in))
		return false;
	for (int i = 0; i < n->n; i++)
	{
		int			att = -1;
		bool		isnull = false;

		for (int k = 0; k < t->natts; k++)
			if (t->attnames[k] && strcmp(t->attnames[k], n->names[i]) == 0)
				att = k;
		if (att < 0)
		{
			if (!skip_value(in, n->sub[i]))
				return false;
			continue;
		}
		if (!have[att])
			initStringInfo(&vals[att]);
		else
			resetStringInfo(&vals[att]);
		if (!append_literal(in, n->sub[i], t->atts[att], &vals[att], &isnull))
			return false;
		have[att] = !isnull;
		if (isnull)
			pfree(vals[att].data);
	}
	/* record_in skips dropped attributes: no field, and no comma, for them */
	appendStringInfoChar(out, '(');
	for (int k = 0; k < t->natts; k++)
	{
		if (t->attnames[k] == NULL)
			continue;
		if (!first)
			appendStringInfoChar(out, ',');
		first = false;
		if (have[k])
			kafkaAppendQuoted(out, vals[k].data, vals[k].len);
	}
	appendStringInfoChar(out, ')');
	in->depth--;
	return true;
}

/*
 * Read a value and append the text of it that type t reads: arrays and
 * composites as literals, json as JSON, scalars as text.  A null (or a
 * union's null branch) sets *isnull and appends nothing.
 */
static bool
append_literal(AvroIn *in, AvroNode *n, PgTarget *t, StringInfo out, bool *isnull)
{
	*isnull = false;
	switch (n->kind)
	{
		case AK_NULL:
			*isnull = true;
			return true;
		case AK_UNION:
			{
				AvroNode   *br;

				if (!enter(in) || !read_branch(in, n, &br) || !append_literal(in, br, t, out, isnull))
					return false;
				in->depth--;
				return true;
			}
		default:
			break;
	}
	if (t->kind == TK_JSON)
		return append_json(in, n, out);
	if (n->kind == AK_ARRAY && t->kind == TK_ARRAY)
		return append_array_literal(in, n, t, out);
	if (n->kind == AK_RECORD && t->kind == TK_COMPOSITE)
		return append_record_literal(in, n, t, out);
	if (n->kind == AK_RECORD || n->kind == AK_ARRAY || n->kind == AK_MAP)
		return append_json(in, n, out);
	return append_scalar(in, n, out, false);
}

/* ---------------------------------------------------------------------
 * Decoding into columns
 * ---------------------------------------------------------------------
 */

/* A needed column and what it is */
typedef struct AvroColumn
{
	KafkaColumn *col;
	PgTarget   *target;
} AvroColumn;

/*
 * A needed column the writer schema has no field for, and the default of
 * its field in the latest version of the subject: written once as Avro
 * binary (avro-c, as INSERT writes a default), read like a message's field
 */
typedef struct AvroDefault
{
	AvroColumn	column;
	AvroNode   *node;			/* the field's type in the latest version */
	char	   *data;			/* the default as Avro binary */
	size_t		len;
	char	   *what;			/* "the default of field ... of subject ..." */
} AvroDefault;

/* How the fields of one writer schema map to the needed columns */
typedef struct AvroBinding
{
	KafkaAvroSchema *schema;	/* the writer schema */
	bool		by_field;		/* the root is a record whose fields fill the
								 * value columns by name; else the whole value
								 * fills the one column (the key's too) */
	int			nfields;		/* root record fields (1 for another root) */
	int		   *ncols;			/* per field: columns it fills */
	AvroColumn **cols;			/* per field: them */
	int			ndefaults;		/* columns filled from the latest version */
	AvroDefault *defaults;		/* them */
	char	   *error;			/* the table cannot read this schema: why */
} AvroBinding;

/* The latest version of a subject, fetched once per scan */
typedef struct AvroLatest
{
	char	   *subject;
	KafkaAvroSchema *schema;	/* NULL: no version, or not an Avro record */
} AvroLatest;

/* The Avro state of one scan */
typedef struct AvroDecoder
{
	MemoryContext cxt;			/* the decoder's (calls run in a per-message one) */
	AvroColumn *columns;		/* per needed column */
	List	   *bindings;		/* AvroBinding *, one per writer schema seen */
	KafkaAvroSchema *table_schema;	/* inline or derived, once resolved */
	List	   *latest;			/* AvroLatest *: subjects asked so far */
	StringInfoData text;		/* scratch */
	/* registry wire format: what avro_prepare found for the next message */
	const char *prep_data;		/* the value it looked at, or NULL */
	KafkaAvroSchema *prep_schema;	/* its writer schema, or NULL: */
	char	   *prep_reason;	/* why the message is bad */
	int32		last_id;		/* the id of the last message with a schema */
	KafkaAvroSchema *last_schema;	/* its schema, or NULL */
} AvroDecoder;

static void
avro_decoder_init(KafkaDecoder *dec)
{
	AvroDecoder *ad = palloc0(sizeof(AvroDecoder));

	ad->cxt = CurrentMemoryContext;
	ad->columns = palloc0(sizeof(AvroColumn) * Max(dec->nneeded, 1));
	for (int i = 0; i < dec->nneeded; i++)
	{
		ad->columns[i].col = dec->needed[i];
		ad->columns[i].target = build_target(dec->needed[i]->typid, dec->needed[i]->typmod, 0);
	}
	initStringInfo(&ad->text);
	dec->codec_state = ad;
}

/*
 * The latest version of the subject a writer schema belongs to (the
 * subject INSERT would register it under: value_subject, or by
 * subject_name_strategy), asked once per scan and subject: a registry
 * table's values only, with a record as writer schema.  NULL: none, or not
 * an Avro record.  Registry failures are ERRORs (called from avro_prepare,
 * outside the on_error policy).
 */
static KafkaAvroSchema *
latest_schema(KafkaDecoder *dec, AvroDecoder *ad, KafkaAvroSchema *writer)
{
	char	   *subject;
	ListCell   *lc;
	const KafkaSchema *ks;
	KafkaAvroSchema *schema = NULL;
	AvroLatest *l;
	MemoryContext old;

	if (dec->part != KAFKA_PART_VALUE || !uses_registry(dec->opts, dec->part) ||
		writer->root->kind != AK_RECORD)
		return NULL;
	subject = registry_subject(dec->opts, dec->part, writer, true);
	if (subject == NULL)
		return NULL;
	foreach(lc, ad->latest)
	{
		l = lfirst(lc);
		if (strcmp(l->subject, subject) == 0)
			return l->schema;
	}
	ks = kafkaRegistrySubjectVersion(dec->opts, subject, KAFKA_REGISTRY_LATEST, true);
	if (ks && (ks->schema_type == NULL || pg_strcasecmp(ks->schema_type, "AVRO") == 0))
	{
		char	   *error;

		schema = schema_cached(ks->schema, &error);
		if (schema && schema->root->kind != AK_RECORD)
			schema = NULL;
	}
	old = MemoryContextSwitchTo(ad->cxt);
	l = palloc(sizeof(AvroLatest));
	l->subject = pstrdup(subject);
	l->schema = schema;
	ad->latest = lappend(ad->latest, l);
	MemoryContextSwitchTo(old);
	return schema;
}

static void default_bytes(KafkaAvroSchema *s, int f, const char *what, char **data, size_t *len);

/*
 * How a writer schema fills the needed columns (once per scan and writer
 * schema): a record's fields the value columns by name; any other schema,
 * and every key, the one column.  Columns of a registry table that the
 * writer's record lacks get the default of their field in the subject's
 * latest version, if it has one.  avro_prepare makes the binding of a
 * registry message's schema before decoding, outside the on_error policy.
 */
static AvroBinding *
get_binding(KafkaDecoder *dec, AvroDecoder *ad, KafkaAvroSchema *schema)
{
	ListCell   *lc;
	AvroBinding *b;
	MemoryContext old;
	AvroNode   *root = schema->root;

	foreach(lc, ad->bindings)
	{
		b = lfirst(lc);
		if (b->schema == schema)
			return b;
	}
	old = MemoryContextSwitchTo(ad->cxt);
	b = palloc0(sizeof(AvroBinding));
	b->schema = schema;
	b->by_field = root->kind == AK_RECORD && dec->part == KAFKA_PART_VALUE;
	if (b->by_field)
	{
		KafkaAvroSchema *latest;

		b->nfields = root->n;
		b->ncols = palloc0(sizeof(int) * Max(root->n, 1));
		b->cols = palloc0(sizeof(AvroColumn *) * Max(root->n, 1));
		for (int f = 0; f < root->n; f++)
		{
			size_t		fl = strlen(root->names[f]);

			b->cols[f] = palloc(sizeof(AvroColumn) * Max(dec->nneeded, 1));
			/* several columns may map to one field: each gets the value */
			for (int i = 0; i < dec->nneeded; i++)
			{
				KafkaColumn *col = dec->needed[i];

				if (col->json_name_len == fl && memcmp(col->json_name, root->names[f], fl) == 0)
					b->cols[f][b->ncols[f]++] = ad->columns[i];
			}
		}

		/* the columns no field fills: the latest version's defaults */
		latest = latest_schema(dec, ad, schema);
		b->defaults = palloc0(sizeof(AvroDefault) * Max(dec->nneeded, 1));
		for (int i = 0; latest && latest != schema && i < dec->nneeded; i++)
		{
			KafkaColumn *col = dec->needed[i];
			AvroNode   *lr = latest->root;
			bool		filled = false;

			for (int f = 0; f < root->n && !filled; f++)
				if (strcmp(col->json_name, root->names[f]) == 0)
					filled = true;
			for (int f = 0; f < lr->n && !filled; f++)
			{
				AvroDefault *d;

				if (lr->defaults[f] == NULL || strcmp(col->json_name, lr->names[f]) != 0)
					continue;
				d = &b->defaults[b->ndefaults++];
				d->column = ad->columns[i];
				d->node = lr->sub[f];
				d->what = psprintf("the default of field \"%s\" in the latest version of subject \"%s\"",
								   lr->names[f], registry_subject(dec->opts, dec->part, schema, false));
				default_bytes(latest, f, d->what, &d->data, &d->len);
				filled = true;
			}
		}
	}
	else
	{
		b->nfields = 1;
		b->ncols = palloc0(sizeof(int));
		b->cols = palloc(sizeof(AvroColumn *));
		b->cols[0] = ad->columns;
		b->ncols[0] = dec->nneeded;
		if (dec->part == KAFKA_PART_VALUE && dec->opts->nvalue_columns != 1)
			b->error = psprintf("the Avro schema is not a record, and the foreign table has %d value columns",
								dec->opts->nvalue_columns);
	}
	ad->bindings = lappend(ad->bindings, b);
	MemoryContextSwitchTo(old);
	return b;
}

/* The text of a value into a column, through its input function */
static Datum
column_from_text(KafkaColumn *col, StringInfo s)
{
	return kafkaColumnFromText(col, s->data, s->len);
}

/*
 * Read the value of node n into column col: directly for the types that
 * match (int, long, float, double, boolean, string, bytes, date, time,
 * timestamps), through text and the column's input function otherwise.
 */
static bool
decode_column(AvroIn *in, AvroNode *n, AvroColumn *ac, StringInfo text, Datum *value, bool *isnull)
{
	KafkaColumn *col = ac->col;
	PgTarget   *t = ac->target;
	Oid			base = t->base;
	bool		null = false;

	*isnull = false;
	while (n->kind == AK_UNION)
	{
		if (!read_branch(in, n, &n))
			return false;
	}
	switch (n->kind)
	{
		case AK_NULL:
			*isnull = true;
			return true;
		case AK_BOOLEAN:
			if (base == BOOLOID)
			{
				bool		b;

				if (!read_boolean(in, &b))
					return false;
				*value = BoolGetDatum(b);
				return true;
			}
			break;
		case AK_INT:
		case AK_LONG:
			{
				int64		v;
				const unsigned char *start = in->p;

				if (!read_long(in, &v))
					return false;
				if (n->kind == AK_INT && (v < PG_INT32_MIN || v > PG_INT32_MAX))
					return fail(in, "int value out of range");
				switch (n->logical)
				{
					case AL_NONE:
						if (base == INT8OID)
						{
							*value = Int64GetDatum(v);
							return true;
						}
						if (base == INT4OID && v >= PG_INT32_MIN && v <= PG_INT32_MAX)
						{
							*value = Int32GetDatum((int32) v);
							return true;
						}
						if (base == INT2OID && v >= PG_INT16_MIN && v <= PG_INT16_MAX)
						{
							*value = Int16GetDatum((int16) v);
							return true;
						}
						break;
					case AL_DATE:
						if (base == DATEOID)
						{
							if (!date_days(in, v))
								return false;
							*value = DateADTGetDatum((DateADT) (v - AVRO_EPOCH_DAYS));
							return true;
						}
						break;
					case AL_TIME_MILLIS:
					case AL_TIME_MICROS:
						if (base == TIMEOID)
						{
							int64		us;

							if (!time_us(in, n, v, &us))
								return false;
							*value = TimeADTGetDatum(us);
							return true;
						}
						break;
					case AL_TIMESTAMP_MILLIS:
					case AL_TIMESTAMP_MICROS:
					case AL_LOCAL_TIMESTAMP_MILLIS:
					case AL_LOCAL_TIMESTAMP_MICROS:
						if ((base == TIMESTAMPTZOID &&
							 (n->logical == AL_TIMESTAMP_MILLIS || n->logical == AL_TIMESTAMP_MICROS)) ||
							(base == TIMESTAMPOID &&
							 (n->logical == AL_LOCAL_TIMESTAMP_MILLIS || n->logical == AL_LOCAL_TIMESTAMP_MICROS)))
						{
							int64		us;

							if (!timestamp_us(in, n, v, &us))
								return false;
							*value = TimestampGetDatum(us - AVRO_EPOCH_USECS);
							return true;
						}
						break;
					default:
						break;
				}
				in->p = start;	/* read again as text */
				break;
			}
		case AK_FLOAT:
		case AK_DOUBLE:
			if (base == FLOAT8OID || (base == FLOAT4OID && n->kind == AK_FLOAT))
			{
				float4		f4;
				float8		f8;

				if (n->kind == AK_FLOAT)
				{
					if (!read_float(in, &f4))
						return false;
					*value = base == FLOAT4OID ? Float4GetDatum(f4) : Float8GetDatum((float8) f4);
				}
				else
				{
					if (!read_double(in, &f8))
						return false;
					*value = Float8GetDatum(f8);
				}
				return true;
			}
			break;
		case AK_STRING:
			if (base == TEXTOID || t->kind == TK_JSON)
			{
				const char *d;
				size_t		l;
				char	   *reason = NULL;

				/* a json/jsonb column reads the string as JSON text */
				if (!read_bytes(in, &d, &l))
					return false;
				if (!kafkaToServerText(&d, &l, &reason))
					return fail(in, "string is not valid UTF-8");
				*value = kafkaColumnFromText(col, d, l);
				return true;
			}
			break;
		case AK_BYTES:
		case AK_FIXED:
			if (base == BYTEAOID && n->logical == AL_NONE)
			{
				const char *d;
				size_t		l;

				if (n->kind == AK_BYTES ? !read_bytes(in, &d, &l) : !read_fixed(in, n, &d))
					return false;
				*value = kafkaBytea(d, n->kind == AK_BYTES ? l : (size_t) n->size);
				return true;
			}
			break;
		default:
			break;
	}
	resetStringInfo(text);
	if (!append_literal(in, n, t, text, &null))
		return false;
	if (null)
	{
		*isnull = true;
		return true;
	}
	*value = column_from_text(col, text);
	return true;
}

/*
 * Decode an Avro binary value written with schema writer (the whole of
 * data[0..len)) into the needed columns of dec.  values/nulls as for
 * KafkaCodec.decode.  The framing layer of a schema registry calls this
 * with the schema of the message's id.
 */
bool
kafkaAvroDecode(KafkaDecoder *dec, KafkaAvroSchema *writer, const char *data, size_t len,
				Datum *values, bool *nulls, char **reason)
{
	AvroDecoder *ad = dec->codec_state;
	AvroBinding *b;
	AvroIn		in;
	AvroNode   *root = writer->root;

	if (ad == NULL)
	{
		avro_decoder_init(dec);
		ad = dec->codec_state;
	}
	b = get_binding(dec, ad, writer);
	if (b->error)
	{
		*reason = pstrdup(b->error);
		return false;
	}
	in.start = in.p = (const unsigned char *) data;
	in.end = in.p + len;
	in.err = NULL;
	in.depth = 0;
	in.empty_items = 0;

	for (int f = 0; f < b->nfields; f++)
	{
		AvroNode   *fn = b->by_field ? root->sub[f] : root;
		const unsigned char *start = in.p;
		const unsigned char *after = NULL;

		if (b->ncols[f] == 0)
		{
			if (!skip_value(&in, fn))
				break;
			continue;
		}
		for (int k = 0; k < b->ncols[f]; k++)
		{
			KafkaColumn *col = b->cols[f][k].col;

			in.p = start;
			in.depth = 0;
			if (!decode_column(&in, fn, &b->cols[f][k], &ad->text,
							   &values[col->attnum - 1], &nulls[col->attnum - 1]))
				break;
			after = in.p;
		}
		if (in.err)
			break;
		in.p = after;
	}
	if (in.err == NULL && in.p != in.end)
		fail(&in, psprintf("%d byte%s after the Avro value", (int) (in.end - in.p),
						   in.end - in.p == 1 ? "" : "s"));
	if (in.err)
	{
		*reason = psprintf("%s at byte %d", in.err, (int) (in.p - in.start));
		return false;
	}
	/* columns the writer lacks, with a default in the latest version */
	for (int i = 0; i < b->ndefaults; i++)
	{
		AvroDefault *d = &b->defaults[i];
		KafkaColumn *col = d->column.col;
		AvroIn		din;

		din.start = din.p = (const unsigned char *) d->data;
		din.end = din.p + d->len;
		din.err = NULL;
		din.depth = 0;
		din.empty_items = 0;
		if (!decode_column(&din, d->node, &d->column, &ad->text,
						   &values[col->attnum - 1], &nulls[col->attnum - 1]))
		{
			*reason = psprintf("%s: %s", d->what, din.err);
			return false;
		}
	}
	return true;
}

/*
 * The codec's prepare: with a schema registry, read the frame's header and
 * find the writer schema of its id (asking the registry outside on_error,
 * so that its failures are ERRORs).  A bad header or an unknown id makes
 * the message bad, with the reason kept for avro_decode.
 */
static void
avro_prepare(KafkaDecoder *dec, const char *data, size_t len)
{
	AvroDecoder *ad = dec->codec_state;
	const unsigned char *p = (const unsigned char *) data;
	int32		id;

	if (!uses_registry(dec->opts, dec->part))
		return;
	ad->prep_data = data;
	ad->prep_schema = NULL;
	ad->prep_reason = NULL;
	if (len < REGISTRY_HEADER)
	{
		ad->prep_reason = psprintf("a message of %d byte%s is shorter than the %d-byte header of the schema registry wire format",
								   (int) len, len == 1 ? "" : "s", REGISTRY_HEADER);
		return;
	}
	if (p[0] != REGISTRY_MAGIC)
	{
		ad->prep_reason = psprintf("magic byte 0x%02x is not the schema registry wire format's 0x00", p[0]);
		return;
	}
	id = (int32) (((uint32) p[1] << 24) | ((uint32) p[2] << 16) | ((uint32) p[3] << 8) | (uint32) p[4]);
	if (ad->last_schema && id == ad->last_id)
	{
		ad->prep_schema = ad->last_schema;
		return;
	}
	ad->prep_schema = registry_writer(dec->opts, id, &ad->prep_reason);
	if (ad->prep_schema)
	{
		ad->last_id = id;
		ad->last_schema = ad->prep_schema;
		/* the latest version's defaults, if any, are asked for here */
		(void) get_binding(dec, ad, ad->prep_schema);
	}
}

/*
 * The codec's decode: with a schema registry, the Avro binary after the
 * header with the writer schema of its id (fields map to columns by name);
 * else the whole value with the table's own schema.
 */
static bool
avro_decode(KafkaDecoder *dec, const char *data, size_t len, Datum *values, bool *nulls, char **reason)
{
	AvroDecoder *ad = dec->codec_state;

	if (uses_registry(dec->opts, dec->part))
	{
		KafkaAvroSchema *writer;

		if (ad->prep_data != data)
			avro_prepare(dec, data, len);
		ad->prep_data = NULL;
		writer = ad->prep_schema;
		if (writer == NULL)
		{
			*reason = ad->prep_reason;
			return false;
		}
		if (!kafkaAvroDecode(dec, writer, data + REGISTRY_HEADER, len - REGISTRY_HEADER,
							 values, nulls, reason))
		{
			*reason = psprintf("%s (after the 5-byte schema registry header)", *reason);
			return false;
		}
		return true;
	}
	if (ad->table_schema == NULL)
		ad->table_schema = part_schema(dec->opts, dec->part);
	return kafkaAvroDecode(dec, ad->table_schema, data, len, values, nulls, reason);
}

/* ---------------------------------------------------------------------
 * Encoding with avro-c
 * ---------------------------------------------------------------------
 */

/* What a row becomes with one schema */
typedef struct AvroWriter
{
	KafkaAvroSchema *schema;
	avro_value_iface_t *iface;	/* avro-c's generic class of the schema */
	avro_value_t value;			/* one value, reused row after row */
	bool		have_value;
	avro_writer_t writer;		/* a memory writer, pointed at each row's buffer */
	bool		by_field;		/* the root is a record written field by field
								 * from the value columns; else the one column
								 * (the key's too) is the whole value */
	int			nfields;		/* root record fields (1 for another root) */
	KafkaColumn **field_col;	/* per field: its column, or NULL */
	PgTarget  **field_target;	/* per field: the column's type */
	Datum	   *field_default;	/* per field without a column: its default as jsonb */
	bool	   *field_default_null; /* ... which is null */
	KafkaColumn **unmapped;		/* value columns no field takes */
	int			nunmapped;
} AvroWriter;

/* The Avro state of one statement: a writer per schema used */
typedef struct AvroEncoder
{
	MemoryContext cxt;
	List	   *writers;
	KafkaAvroSchema *table_schema;
	int32		registry_id;	/* registry wire format: the schema's id, or -1 */
} AvroEncoder;

static void
release_writer(void *arg)
{
	AvroWriter *w = arg;

	if (w->have_value)
		avro_value_decref(&w->value);
	w->have_value = false;
	if (w->iface)
		avro_value_iface_decref(w->iface);
	w->iface = NULL;
	if (w->writer)
		avro_writer_free(w->writer);
	w->writer = NULL;
}

static void
avro_fail(const char *what) pg_attribute_noreturn();

/* avro-c refused something: it says why in avro_strerror() */
static void
avro_fail(const char *what)
{
	const char *msg = avro_strerror();

	ereport(ERROR,
			(errcode(ERRCODE_DATA_EXCEPTION),
			 errmsg("could not encode %s as Avro: %s", what, msg && msg[0] ? msg : "unknown error")));
}

#define AVRO_CHECK(call, what) \
	do { if ((call) != 0) avro_fail(what); } while (0)

/* The JSON kind (JsonbValue type, jbvBinary for containers) a node reads as */
static int
json_kind_of(AvroNode *n)
{
	switch (n->kind)
	{
		case AK_NULL:
			return jbvNull;
		case AK_BOOLEAN:
			return jbvBool;
		case AK_INT:
		case AK_LONG:
			return n->logical == AL_NONE ? jbvNumeric : jbvString;
		case AK_FLOAT:
		case AK_DOUBLE:
			return jbvNumeric;
		case AK_BYTES:
		case AK_FIXED:
			return n->logical == AL_DECIMAL ? jbvNumeric : jbvString;
		case AK_STRING:
		case AK_ENUM:
			return jbvString;
		case AK_RECORD:
		case AK_MAP:
		case AK_ARRAY:
			return jbvObject;	/* containers: matched below */
		default:
			return -1;
	}
}

/* The PostgreSQL type a scalar node's text is read with */
static Oid
natural_type(AvroNode *n)
{
	switch (n->logical)
	{
		case AL_DATE:
			return DATEOID;
		case AL_TIME_MILLIS:
		case AL_TIME_MICROS:
			return TIMEOID;
		case AL_TIMESTAMP_MILLIS:
		case AL_TIMESTAMP_MICROS:
			return TIMESTAMPTZOID;
		case AL_LOCAL_TIMESTAMP_MILLIS:
		case AL_LOCAL_TIMESTAMP_MICROS:
			return TIMESTAMPOID;
		case AL_DECIMAL:
			return NUMERICOID;
		case AL_UUID:
			return UUIDOID;
		default:
			break;
	}
	switch (n->kind)
	{
		case AK_BOOLEAN:
			return BOOLOID;
		case AK_INT:
			return INT4OID;
		case AK_LONG:
			return INT8OID;
		case AK_FLOAT:
			return FLOAT4OID;
		case AK_DOUBLE:
			return FLOAT8OID;
		case AK_BYTES:
		case AK_FIXED:
			return BYTEAOID;
		default:
			return TEXTOID;
	}
}

/* Text (server encoding, not NUL-terminated) as the UTF-8 bytes of an Avro string */
static void
set_string(avro_value_t *v, const char *s, size_t len, const char *what)
{
	char	   *u = (char *) s;

	if (GetDatabaseEncoding() != PG_UTF8 && GetDatabaseEncoding() != PG_SQL_ASCII && len > 0)
	{
		u = pg_server_to_any(s, len, PG_UTF8);
		if (u != s)
			len = strlen(u);
	}
	/* avro-c copies the string with its terminating NUL, counted in the length */
	u = pnstrdup(u, len);
	AVRO_CHECK(avro_value_set_string_len(v, u, len + 1), what);
	pfree(u);
}

/* The unscaled two's complement big-endian bytes of a numeric at a scale */
static bytea *
decimal_bytes(AvroNode *n, Numeric num, const char *what)
{
	char	   *txt;
	StringInfoData digits;
	bool		neg = false;
	int			ndigits;
	unsigned char *mag;
	int			maglen = 0;
	int			len;
	bytea	   *result;

	if (numeric_is_nan(num) || numeric_is_inf(num))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("%s: an Avro decimal cannot hold %s", what,
						DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(num))))));
	/* round to the schema's scale, as a numeric(p,s) column would */
	num = DatumGetNumeric(DirectFunctionCall2(numeric_round, NumericGetDatum(num), Int32GetDatum(n->scale)));
	txt = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(num)));
	initStringInfo(&digits);
	for (const char *p = txt; *p; p++)
	{
		if (*p == '-')
			neg = true;
		else if (*p >= '0' && *p <= '9')
		{
			if (digits.len == 0 && *p == '0')
				continue;		/* leading zeros */
			appendStringInfoChar(&digits, *p);
		}
	}
	ndigits = digits.len;
	if (ndigits > n->precision)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("%s: %s does not fit an Avro decimal of precision %d and scale %d",
						what, txt, n->precision, n->scale)));
	/* decimal digits to base 256, most significant byte first */
	mag = palloc0(ndigits / 2 + 2);
	for (int i = 0; i < ndigits; i++)
	{
		int			carry = digits.data[i] - '0';

		for (int k = maglen - 1; k >= 0; k--)
		{
			int			t = mag[k] * 10 + carry;

			mag[k] = (unsigned char) (t & 0xff);
			carry = t >> 8;
		}
		if (carry)
		{
			memmove(mag + 1, mag, maglen);
			mag[0] = (unsigned char) carry;
			maglen++;
		}
	}
	/* room for the sign bit */
	len = maglen + ((maglen == 0 || (mag[0] & 0x80)) ? 1 : 0);
	if (n->kind == AK_FIXED)
	{
		if (len > n->size)
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("%s: %s does not fit an Avro decimal of %d bytes", what, txt, (int) n->size)));
		len = (int) n->size;
	}
	result = palloc0(VARHDRSZ + len);
	SET_VARSIZE(result, VARHDRSZ + len);
	memcpy((unsigned char *) VARDATA(result) + (len - maglen), mag, maglen);
	if (neg)
	{
		unsigned char *b = (unsigned char *) VARDATA(result);
		int			carry = 1;

		for (int i = len - 1; i >= 0; i--)
		{
			int			t = (unsigned char) ~b[i] + carry;

			b[i] = (unsigned char) t;
			carry = t >> 8;
		}
	}
	return result;
}

/*
 * Set a scalar node from a datum of its natural type (natural_type(n)).
 */
static void
set_natural(avro_value_t *v, AvroNode *n, Datum d, const char *what)
{
	switch (n->logical)
	{
		case AL_DATE:
			{
				DateADT		date = DatumGetDateADT(d);

				if (DATE_NOT_FINITE(date))
					ereport(ERROR,
							(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
							 errmsg("%s: an Avro date cannot be infinite", what)));
				AVRO_CHECK(avro_value_set_int(v, (int32) (date + AVRO_EPOCH_DAYS)), what);
				return;
			}
		case AL_TIME_MILLIS:
			AVRO_CHECK(avro_value_set_int(v, (int32) (DatumGetTimeADT(d) / 1000)), what);
			return;
		case AL_TIME_MICROS:
			AVRO_CHECK(avro_value_set_long(v, DatumGetTimeADT(d)), what);
			return;
		case AL_TIMESTAMP_MILLIS:
		case AL_TIMESTAMP_MICROS:
		case AL_LOCAL_TIMESTAMP_MILLIS:
		case AL_LOCAL_TIMESTAMP_MICROS:
			{
				Timestamp	ts = DatumGetTimestamp(d);
				int64		us = ts + AVRO_EPOCH_USECS;

				if (TIMESTAMP_NOT_FINITE(ts))
					ereport(ERROR,
							(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
							 errmsg("%s: an Avro timestamp cannot be infinite", what)));
				if (n->logical == AL_TIMESTAMP_MILLIS || n->logical == AL_LOCAL_TIMESTAMP_MILLIS)
					us = floor_div(us, 1000);
				AVRO_CHECK(avro_value_set_long(v, us), what);
				return;
			}
		case AL_DECIMAL:
			{
				bytea	   *b = decimal_bytes(n, DatumGetNumeric(d), what);

				if (n->kind == AK_FIXED)
					AVRO_CHECK(avro_value_set_fixed(v, VARDATA(b), VARSIZE(b) - VARHDRSZ), what);
				else
					AVRO_CHECK(avro_value_set_bytes(v, VARDATA(b), VARSIZE(b) - VARHDRSZ), what);
				return;
			}
		case AL_UUID:
			if (n->kind == AK_FIXED)
				AVRO_CHECK(avro_value_set_fixed(v, DatumGetUUIDP(d)->data, UUID_LEN), what);
			else
			{
				char	   *s = DatumGetCString(DirectFunctionCall1(uuid_out, d));

				set_string(v, s, strlen(s), what);
			}
			return;
		default:
			break;
	}
	switch (n->kind)
	{
		case AK_BOOLEAN:
			AVRO_CHECK(avro_value_set_boolean(v, DatumGetBool(d)), what);
			return;
		case AK_INT:
			AVRO_CHECK(avro_value_set_int(v, DatumGetInt32(d)), what);
			return;
		case AK_LONG:
			AVRO_CHECK(avro_value_set_long(v, DatumGetInt64(d)), what);
			return;
		case AK_FLOAT:
			AVRO_CHECK(avro_value_set_float(v, DatumGetFloat4(d)), what);
			return;
		case AK_DOUBLE:
			AVRO_CHECK(avro_value_set_double(v, DatumGetFloat8(d)), what);
			return;
		case AK_BYTES:
		case AK_FIXED:
			{
				bytea	   *b = DatumGetByteaPP(d);
				size_t		len = VARSIZE_ANY_EXHDR(b);

				if (n->kind == AK_FIXED)
				{
					if (len != (size_t) n->size)
						ereport(ERROR,
								(errcode(ERRCODE_STRING_DATA_LENGTH_MISMATCH),
								 errmsg("%s: a value of %zu byte%s does not fit Avro fixed \"%s\" of %d bytes",
										what, len, len == 1 ? "" : "s", n->name, (int) n->size)));
					AVRO_CHECK(avro_value_set_fixed(v, VARDATA_ANY(b), len), what);
				}
				else
					AVRO_CHECK(avro_value_set_bytes(v, VARDATA_ANY(b), len), what);
				return;
			}
		default:
			{
				text	   *t = DatumGetTextPP(d);

				set_string(v, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), what);
				return;
			}
	}
}

/*
 * Set a scalar node from text: bytes take the text's bytes (\x... as
 * hex), enums a symbol, the others what their natural type reads.
 */
static void
set_from_text(avro_value_t *v, AvroNode *n, const char *s, const char *what)
{
	Oid			nat = natural_type(n);

	if (n->kind == AK_ENUM)
	{
		for (int i = 0; i < n->n; i++)
			if (strcmp(n->names[i], s) == 0)
			{
				AVRO_CHECK(avro_value_set_enum(v, i), what);
				return;
			}
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("%s: \"%s\" is not a symbol of Avro enum \"%s\"", what, s, n->name)));
	}
	if (n->kind == AK_STRING && n->logical == AL_NONE)
	{
		set_string(v, s, strlen(s), what);
		return;
	}
	if (nat == BYTEAOID && !(s[0] == '\\' && s[1] == 'x'))
	{
		set_natural(v, n, PointerGetDatum(cstring_to_text(s)), what);
		return;
	}
	{
		Oid			infunc;
		Oid			ioparam;

		getTypeInputInfo(nat, &infunc, &ioparam);
		set_natural(v, n, OidInputFunctionCall(infunc, (char *) s, ioparam, -1), what);
	}
}

static void set_from_datum(AvroWriter *w, avro_value_t *v, AvroNode *n, Datum d, bool isnull,
						   PgTarget *t, FmgrInfo *out, const char *what);
static void set_from_jsonb(AvroWriter *w, avro_value_t *v, AvroNode *n, JsonbValue *jv, const char *what);

/* The branch of a union to write a value of JSON kind kind (a container: its token) in */
static int
union_branch_for_json(AvroNode *u, JsonbValue *jv)
{
	int			kind = jv->type;

	if (kind == jbvBinary)
	{
		bool		is_array = JsonContainerIsArray(jv->val.binary.data);

		for (int i = 0; i < u->n; i++)
			if (is_array ? u->sub[i]->kind == AK_ARRAY :
				(u->sub[i]->kind == AK_RECORD || u->sub[i]->kind == AK_MAP))
				return i;
		return -1;
	}
	for (int i = 0; i < u->n; i++)
		if (json_kind_of(u->sub[i]) == kind)
			return i;
	/* a string may name anything with a text form */
	if (kind == jbvString)
		for (int i = 0; i < u->n; i++)
			if (u->sub[i]->kind != AK_NULL && u->sub[i]->kind != AK_RECORD &&
				u->sub[i]->kind != AK_MAP && u->sub[i]->kind != AK_ARRAY && u->sub[i]->kind != AK_UNION)
				return i;
	return -1;
}

/* Set a record's field i that has no value: its default, or null, or an ERROR */
static void
set_missing_field(AvroWriter *w, avro_value_t *field, AvroNode *rec, int i, const char *what)
{
	AvroNode   *fn = rec->sub[i];

	if (rec->defaults[i])
	{
		Jsonb	   *jb = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(rec->defaults[i])));
		JsonbValue	jv;

		if (JB_ROOT_IS_SCALAR(jb))
			JsonbExtractScalar(&jb->root, &jv);
		else
		{
			jv.type = jbvBinary;
			jv.val.binary.data = &jb->root;
			jv.val.binary.len = VARSIZE(jb) - VARHDRSZ;
		}
		if (fn->kind == AK_UNION && jv.type != jbvNull)
		{
			avro_value_t br;

			/* a union's default is of its first branch */
			AVRO_CHECK(avro_value_set_branch(field, 0, &br), what);
			set_from_jsonb(w, &br, fn->sub[0], &jv, what);
		}
		else
			set_from_jsonb(w, field, fn, &jv, what);
		return;
	}
	if (fn->kind == AK_UNION && fn->null_branch >= 0)
	{
		avro_value_t br;

		AVRO_CHECK(avro_value_set_branch(field, fn->null_branch, &br), what);
		AVRO_CHECK(avro_value_set_null(&br), what);
		return;
	}
	if (fn->kind == AK_NULL)
	{
		AVRO_CHECK(avro_value_set_null(field), what);
		return;
	}
	ereport(ERROR,
			(errcode(ERRCODE_NOT_NULL_VIOLATION),
			 errmsg("%s: field \"%s\" of Avro record \"%s\" has no value and no default",
					what, rec->names[i], rec->name)));
}

/* Set a node from a jsonb value (a scalar, or a container as jbvBinary) */
static void
set_from_jsonb(AvroWriter *w, avro_value_t *v, AvroNode *n, JsonbValue *jv, const char *what)
{
	check_stack_depth();
	if (n->kind == AK_UNION)
	{
		int			b = jv->type == jbvNull ? n->null_branch : union_branch_for_json(n, jv);
		avro_value_t br;

		if (b < 0)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("%s: no branch of the Avro union takes this JSON value", what)));
		AVRO_CHECK(avro_value_set_branch(v, b, &br), what);
		set_from_jsonb(w, &br, n->sub[b], jv, what);
		return;
	}
	if (jv->type == jbvNull)
	{
		if (n->kind != AK_NULL)
			ereport(ERROR,
					(errcode(ERRCODE_NOT_NULL_VIOLATION),
					 errmsg("%s: JSON null for an Avro %s, which is not nullable", what,
							n->name ? n->name : "value")));
		AVRO_CHECK(avro_value_set_null(v), what);
		return;
	}
	if (jv->type == jbvBinary)
	{
		JsonbContainer *c = jv->val.binary.data;

		if (n->kind == AK_ARRAY && JsonContainerIsArray(c))
		{
			JsonbIterator *it = JsonbIteratorInit(c);
			JsonbValue	el;
			JsonbIteratorToken tok;

			while ((tok = JsonbIteratorNext(&it, &el, true)) != WJB_DONE)
			{
				avro_value_t item;

				if (tok != WJB_ELEM)
					continue;
				AVRO_CHECK(avro_value_append(v, &item, NULL), what);
				set_from_jsonb(w, &item, n->sub[0], &el, what);
			}
			return;
		}
		if (n->kind == AK_MAP && JsonContainerIsObject(c))
		{
			JsonbIterator *it = JsonbIteratorInit(c);
			JsonbValue	el;
			JsonbIteratorToken tok;
			char	   *key = NULL;

			while ((tok = JsonbIteratorNext(&it, &el, true)) != WJB_DONE)
			{
				avro_value_t item;

				if (tok == WJB_KEY)
				{
					StringInfoData k;

					/* map keys are UTF-8 strings */
					initStringInfo(&k);
					appendBinaryStringInfo(&k, el.val.string.val, el.val.string.len);
					kafkaToUtf8(&k, 0);
					key = k.data;
					continue;
				}
				if (tok != WJB_VALUE)
					continue;
				AVRO_CHECK(avro_value_add(v, key, &item, NULL, NULL), what);
				set_from_jsonb(w, &item, n->sub[0], &el, what);
			}
			return;
		}
		if (n->kind == AK_RECORD && JsonContainerIsObject(c))
		{
			for (int i = 0; i < n->n; i++)
			{
				avro_value_t field;
				JsonbValue *fv;

				AVRO_CHECK(avro_value_get_by_index(v, i, &field, NULL), what);
				fv = getKeyJsonValueFromContainer(c, n->names[i], strlen(n->names[i]), NULL);
				if (fv == NULL)
					set_missing_field(w, &field, n, i, what);
				else
					set_from_jsonb(w, &field, n->sub[i], fv, what);
			}
			return;
		}
		if (n->kind == AK_STRING)
		{
			StringInfoData s;

			initStringInfo(&s);
			JsonbToCString(&s, c, jv->val.binary.len);
			set_string(v, s.data, s.len, what);
			return;
		}
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("%s: a JSON %s cannot be written as this Avro type", what,
						JsonContainerIsArray(c) ? "array" : "object")));
	}
	switch (jv->type)
	{
		case jbvBool:
			if (n->kind == AK_BOOLEAN)
			{
				AVRO_CHECK(avro_value_set_boolean(v, jv->val.boolean), what);
				return;
			}
			set_from_text(v, n, jv->val.boolean ? "true" : "false", what);
			return;
		case jbvNumeric:
			if (n->logical == AL_NONE && (n->kind == AK_INT || n->kind == AK_LONG))
			{
				int64		i = DatumGetInt64(DirectFunctionCall1(numeric_int8, NumericGetDatum(jv->val.numeric)));

				if (n->kind == AK_INT)
				{
					if (i < PG_INT32_MIN || i > PG_INT32_MAX)
						ereport(ERROR,
								(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
								 errmsg("%s: " INT64_FORMAT " is out of range for an Avro int", what, i)));
					AVRO_CHECK(avro_value_set_int(v, (int32) i), what);
				}
				else
					AVRO_CHECK(avro_value_set_long(v, i), what);
				return;
			}
			if (n->logical == AL_DECIMAL)
			{
				set_natural(v, n, NumericGetDatum(jv->val.numeric), what);
				return;
			}
			if (n->logical == AL_DATE || n->logical == AL_TIME_MILLIS)
			{
				/* the underlying int */
				AVRO_CHECK(avro_value_set_int(v, DatumGetInt32(DirectFunctionCall1(numeric_int4, NumericGetDatum(jv->val.numeric)))), what);
				return;
			}
			if (n->logical != AL_NONE && n->kind == AK_LONG)
			{
				AVRO_CHECK(avro_value_set_long(v, DatumGetInt64(DirectFunctionCall1(numeric_int8, NumericGetDatum(jv->val.numeric)))), what);
				return;
			}
			set_from_text(v, n, DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(jv->val.numeric))), what);
			return;
		case jbvString:
			{
				char	   *s = pnstrdup(jv->val.string.val, jv->val.string.len);

				if (n->kind == AK_RECORD || n->kind == AK_ARRAY || n->kind == AK_MAP || n->kind == AK_NULL)
					ereport(ERROR,
							(errcode(ERRCODE_DATATYPE_MISMATCH),
							 errmsg("%s: a JSON string cannot be written as this Avro type", what)));
				set_from_text(v, n, s, what);
				return;
			}
		default:
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("%s: unsupported JSON value", what)));
	}
}

/* A json or jsonb datum as a JsonbValue */
static void
jsonb_value_of(Datum d, Oid base, JsonbValue *jv)
{
	Jsonb	   *jb;

	if (base == JSONOID)
		jb = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(TextDatumGetCString(d))));
	else
		jb = DatumGetJsonbP(d);
	if (JB_ROOT_IS_SCALAR(jb))
		JsonbExtractScalar(&jb->root, jv);
	else
	{
		jv->type = jbvBinary;
		jv->val.binary.data = &jb->root;
		jv->val.binary.len = VARSIZE(jb) - VARHDRSZ;
	}
}

/* The branch of a union for a non-null datum of type t */
static int
union_branch_for(AvroNode *u, PgTarget *t)
{
	int			first = -1;

	for (int i = 0; i < u->n; i++)
	{
		AvroNode   *b = u->sub[i];

		if (b->kind == AK_NULL)
			continue;
		if (first < 0)
			first = i;
		if ((t->kind == TK_ARRAY && b->kind == AK_ARRAY) ||
			(t->kind == TK_COMPOSITE && b->kind == AK_RECORD) ||
			(t->kind == TK_SCALAR && b->kind != AK_RECORD && b->kind != AK_ARRAY &&
			 b->kind != AK_MAP && natural_type(b) == t->base))
			return i;
	}
	return first;
}

/*
 * Set node n from a datum of type t (out: its output function, for the
 * text fallback; NULL to look it up).  what names the column or field for
 * errors.
 */
static void
set_from_datum(AvroWriter *w, avro_value_t *v, AvroNode *n, Datum d, bool isnull,
			   PgTarget *t, FmgrInfo *out, const char *what)
{
	check_stack_depth();
	if (n->kind == AK_UNION)
	{
		int			b;
		avro_value_t br;

		if (isnull)
			b = n->null_branch;
		else if (t->kind == TK_JSON && union_branch_for(n, t) >= 0 &&
				 n->sub[union_branch_for(n, t)]->kind != AK_STRING)
		{
			JsonbValue	jv;

			/* json into a union of containers: by the JSON value */
			jsonb_value_of(d, t->base, &jv);
			set_from_jsonb(w, v, n, &jv, what);
			return;
		}
		else
			b = union_branch_for(n, t);
		if (b < 0)
			ereport(ERROR,
					(errcode(ERRCODE_NOT_NULL_VIOLATION),
					 errmsg("%s: %s", what, isnull ? "NULL, but the Avro union has no null branch" :
							"the Avro union has only a null branch")));
		AVRO_CHECK(avro_value_set_branch(v, b, &br), what);
		set_from_datum(w, &br, n->sub[b], d, isnull, t, out, what);
		return;
	}
	if (isnull)
	{
		if (n->kind != AK_NULL)
			ereport(ERROR,
					(errcode(ERRCODE_NOT_NULL_VIOLATION),
					 errmsg("%s is NULL, but its Avro type is not nullable", what),
					 errhint("A NULL needs a union with \"null\" in the Avro schema: a nullable column, or [\"null\", ...] in the avro_schema.")));
		AVRO_CHECK(avro_value_set_null(v), what);
		return;
	}
	if (n->kind == AK_NULL)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("%s is not NULL, but its Avro type is null", what)));

	/* json and jsonb: containers and scalars by their JSON value; strings as JSON text */
	if (t->kind == TK_JSON && n->kind != AK_STRING)
	{
		JsonbValue	jv;

		jsonb_value_of(d, t->base, &jv);
		set_from_jsonb(w, v, n, &jv, what);
		return;
	}
	if (t->kind == TK_JSON)
	{
		if (t->base == JSONOID)
		{
			text	   *txt = DatumGetTextPP(d);

			set_string(v, VARDATA_ANY(txt), VARSIZE_ANY_EXHDR(txt), what);
		}
		else
		{
			Jsonb	   *jb = DatumGetJsonbP(d);
			StringInfoData s;

			initStringInfo(&s);
			JsonbToCString(&s, &jb->root, VARSIZE(jb));
			set_string(v, s.data, s.len, what);
		}
		return;
	}
	if (t->kind == TK_ARRAY && n->kind == AK_ARRAY)
	{
		ArrayType  *arr = DatumGetArrayTypeP(d);
		Datum	   *elems;
		bool	   *enulls;
		int			nelems;

		if (ARR_NDIM(arr) > 1)
			ereport(ERROR,
					(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
					 errmsg("%s: a multidimensional array cannot be written as an Avro array", what)));
		deconstruct_array(arr, ARR_ELEMTYPE(arr), t->elemlen, t->elembyval, t->elemalign,
						  &elems, &enulls, &nelems);
		for (int i = 0; i < nelems; i++)
		{
			avro_value_t item;

			AVRO_CHECK(avro_value_append(v, &item, NULL), what);
			set_from_datum(w, &item, n->sub[0], elems[i], enulls[i], t->elem, NULL, what);
		}
		return;
	}
	if (t->kind == TK_COMPOSITE && n->kind == AK_RECORD)
	{
		HeapTupleHeader rec = DatumGetHeapTupleHeader(d);
		TupleDesc	td = lookup_rowtype_tupdesc(HeapTupleHeaderGetTypeId(rec), HeapTupleHeaderGetTypMod(rec));
		HeapTupleData tuple;
		Datum	   *vals = palloc(sizeof(Datum) * Max(td->natts, 1));
		bool	   *nulls = palloc(sizeof(bool) * Max(td->natts, 1));

		tuple.t_len = HeapTupleHeaderGetDatumLength(rec);
		ItemPointerSetInvalid(&tuple.t_self);
		tuple.t_tableOid = InvalidOid;
		tuple.t_data = rec;
		heap_deform_tuple(&tuple, td, vals, nulls);
		ReleaseTupleDesc(td);
		for (int i = 0; i < n->n; i++)
		{
			avro_value_t field;
			int			att = -1;

			AVRO_CHECK(avro_value_get_by_index(v, i, &field, NULL), what);
			for (int k = 0; k < t->natts && k < td->natts; k++)
				if (t->attnames[k] && strcmp(t->attnames[k], n->names[i]) == 0)
					att = k;
			if (att < 0)
				set_missing_field(w, &field, n, i, what);
			else
				set_from_datum(w, &field, n->sub[i], vals[att], nulls[att], t->atts[att], NULL,
							   psprintf("%s.%s", what, n->names[i]));
		}
		return;
	}
	if (t->kind == TK_SCALAR && n->kind != AK_RECORD && n->kind != AK_ARRAY &&
		n->kind != AK_MAP && n->kind != AK_ENUM)
	{
		Oid			nat = natural_type(n);

		if (nat == t->base ||
			(nat == TEXTOID && (t->base == VARCHAROID || t->base == BPCHAROID)) ||
			(nat == INT8OID && (t->base == INT4OID || t->base == INT2OID)) ||
			(nat == INT4OID && t->base == INT2OID) ||
			(nat == FLOAT8OID && t->base == FLOAT4OID))
		{
			/* the same type, or one that widens to it */
			if (nat == INT8OID && t->base == INT4OID)
				d = Int64GetDatum((int64) DatumGetInt32(d));
			else if (nat == INT8OID && t->base == INT2OID)
				d = Int64GetDatum((int64) DatumGetInt16(d));
			else if (nat == INT4OID && t->base == INT2OID)
				d = Int32GetDatum((int32) DatumGetInt16(d));
			else if (nat == FLOAT8OID && t->base == FLOAT4OID)
				d = Float8GetDatum((float8) DatumGetFloat4(d));
			set_natural(v, n, d, what);
			return;
		}
	}
	if ((n->kind == AK_RECORD || n->kind == AK_ARRAY || n->kind == AK_MAP))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("%s: a value of type %s cannot be written as an Avro %s", what,
						format_type_be(t->typid),
						n->kind == AK_RECORD ? "record" : n->kind == AK_ARRAY ? "array" : "map"),
				 errhint("Use a %s column, or json or jsonb.",
						 n->kind == AK_RECORD ? "composite" : n->kind == AK_ARRAY ? "array" : "jsonb")));
	/* anything else through its text */
	{
		char	   *s;

		if (out)
			s = OutputFunctionCall(out, d);
		else
		{
			Oid			outfunc;
			bool		isvarlena;

			getTypeOutputInfo(t->typid, &outfunc, &isvarlena);
			s = OidOutputFunctionCall(outfunc, d);
		}
		set_from_text(v, n, s, what);
	}
}

/*
 * The default of field f of record schema s as Avro binary, written by
 * avro-c as INSERT writes a missing field's default (into *data, *len, in
 * the current memory context).  A default that does not fit its type is an
 * ERROR naming what (its context line: the default's own conversion, a
 * type's input function, does not say where the value came from).
 */
static void
default_context(void *arg)
{
	errcontext("%s", (const char *) arg);
}

static void
default_bytes(KafkaAvroSchema *s, int f, const char *what, char **data, size_t *len)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "kafka_fdw Avro default",
											  ALLOCSET_SMALL_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	MemoryContextCallback *cb;
	ErrorContextCallback errcb;
	AvroWriter *w = palloc0(sizeof(AvroWriter));
	avro_value_t field;
	size_t		size;
	char	   *buf;

	/* avro-c's objects go with cxt, on success and on ERROR alike */
	w->schema = s;
	cb = palloc0(sizeof(MemoryContextCallback));
	cb->func = release_writer;
	cb->arg = w;
	MemoryContextRegisterResetCallback(cxt, cb);
	w->iface = avro_generic_class_from_schema(s->schema);
	if (w->iface == NULL)
		avro_fail(what);
	AVRO_CHECK(avro_generic_value_new(w->iface, &w->value), what);
	w->have_value = true;
	AVRO_CHECK(avro_value_get_by_index(&w->value, f, &field, NULL), what);
	errcb.callback = default_context;
	errcb.arg = unconstify(char *, what);
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;
	set_missing_field(w, &field, s->root, f, what);
	error_context_stack = errcb.previous;
	AVRO_CHECK(avro_value_sizeof(&field, &size), what);
	MemoryContextSwitchTo(old);
	buf = palloc(Max(size, 1));
	w->writer = avro_writer_memory(buf, (int64_t) size);
	if (w->writer == NULL)
		avro_fail(what);
	AVRO_CHECK(avro_value_write(w->writer, &field), what);
	MemoryContextDelete(cxt);
	*data = buf;
	*len = size;
}

/* The writer of a schema for a table (once per statement and schema) */
static AvroWriter *
get_writer(KafkaEncoder *enc, AvroEncoder *ae, KafkaAvroSchema *schema)
{
	ListCell   *lc;
	AvroWriter *w;
	MemoryContext old;
	MemoryContextCallback *cb;
	AvroNode   *root = schema->root;
	KafkaOptions *o = enc->opts;

	foreach(lc, ae->writers)
	{
		w = lfirst(lc);
		if (w->schema == schema)
			return w;
	}
	old = MemoryContextSwitchTo(ae->cxt);
	w = palloc0(sizeof(AvroWriter));
	w->schema = schema;
	cb = palloc0(sizeof(MemoryContextCallback));
	cb->func = release_writer;
	cb->arg = w;
	MemoryContextRegisterResetCallback(ae->cxt, cb);
	w->iface = avro_generic_class_from_schema(schema->schema);
	if (w->iface == NULL)
		avro_fail("the schema");
	AVRO_CHECK(avro_generic_value_new(w->iface, &w->value), "a row");
	w->have_value = true;
	w->writer = avro_writer_memory(NULL, 0);
	if (w->writer == NULL)
		avro_fail("a row");

	w->unmapped = palloc0(sizeof(KafkaColumn *) * Max(enc->nvalue, 1));
	w->by_field = root->kind == AK_RECORD && enc->part == KAFKA_PART_VALUE;
	if (w->by_field)
	{
		w->nfields = root->n;
		w->field_col = palloc0(sizeof(KafkaColumn *) * Max(root->n, 1));
		w->field_target = palloc0(sizeof(PgTarget *) * Max(root->n, 1));
		for (int f = 0; f < root->n; f++)
		{
			for (int i = 0; i < enc->nvalue; i++)
			{
				KafkaColumn *col = enc->value_cols[i];

				if (strcmp(col->json_name, root->names[f]) != 0)
					continue;
				if (w->field_col[f])
					ereport(ERROR,
							(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
							 errmsg("columns \"%s\" and \"%s\" of foreign table \"%s\" both write Avro field \"%s\"",
									w->field_col[f]->name, col->name, o->table_name, root->names[f]),
							 errhint("Rename one with the column option json.")));
				w->field_col[f] = col;
				w->field_target[f] = build_target(col->typid, col->typmod, 0);
			}
			if (w->field_col[f] == NULL && root->defaults[f] == NULL &&
				!(root->sub[f]->kind == AK_UNION && root->sub[f]->null_branch >= 0) &&
				root->sub[f]->kind != AK_NULL)
				ereport(ERROR,
						(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
						 errmsg("field \"%s\" of the Avro schema has no column in foreign table \"%s\" and no default",
								root->names[f], o->table_name),
						 errhint("Add the column, or give the field a default in the avro_schema.")));
		}
		for (int i = 0; i < enc->nvalue; i++)
		{
			bool		found = false;

			for (int f = 0; f < root->n; f++)
				if (w->field_col[f] == enc->value_cols[i])
					found = true;
			if (!found)
				w->unmapped[w->nunmapped++] = enc->value_cols[i];
		}
	}
	else
	{
		if (enc->nvalue != 1)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
					 errmsg("the Avro schema of foreign table \"%s\" is not a record, and the table has %d value columns",
							o->table_name, enc->nvalue),
					 errhint("A schema other than a record writes exactly one value column.")));
		w->nfields = 1;
		w->field_col = palloc(sizeof(KafkaColumn *));
		w->field_target = palloc(sizeof(PgTarget *));
		w->field_col[0] = enc->value_cols[0];
		w->field_target[0] = build_target(enc->value_cols[0]->typid, enc->value_cols[0]->typmod, 0);
	}
	ae->writers = lappend(ae->writers, w);
	MemoryContextSwitchTo(old);
	return w;
}

static void
avro_encoder_init(KafkaEncoder *enc)
{
	AvroEncoder *ae = palloc0(sizeof(AvroEncoder));

	ae->cxt = CurrentMemoryContext;
	ae->registry_id = -1;
	enc->codec_state = ae;
}

/* The field being encoded, for errors that do not name it (input functions) */
typedef struct EncodeContext
{
	const char *field;
	const char *column;
} EncodeContext;

static void
encode_context(void *arg)
{
	EncodeContext *ec = arg;

	if (ec->field && ec->column)
		errcontext("Avro field \"%s\" from column \"%s\"", ec->field, ec->column);
	else if (ec->field)
		errcontext("Avro field \"%s\"", ec->field);
}

/*
 * Encode a row (values/nulls indexed by attnum - 1) with schema and append
 * the Avro binary value to out.  The framing layer of a schema registry
 * appends its header first.
 */
void
kafkaAvroEncode(KafkaEncoder *enc, KafkaAvroSchema *schema, Datum *values, bool *nulls, StringInfo out)
{
	AvroEncoder *ae = enc->codec_state;
	AvroWriter *w;
	AvroNode   *root = schema->root;
	size_t		size;
	EncodeContext ec = {NULL, NULL};
	ErrorContextCallback errcb;

	if (ae == NULL)
	{
		avro_encoder_init(enc);
		ae = enc->codec_state;
	}
	w = get_writer(enc, ae, schema);
	for (int i = 0; i < w->nunmapped; i++)
		if (!nulls[w->unmapped[i]->attnum - 1])
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
					 errmsg("column \"%s\" of foreign table \"%s\" has no field in the Avro schema",
							w->unmapped[i]->name, enc->opts->table_name),
					 errhint("Add the field to the avro_schema, or leave the column NULL.")));
	AVRO_CHECK(avro_value_reset(&w->value), "a row");
	errcb.callback = encode_context;
	errcb.arg = &ec;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;
	for (int f = 0; f < w->nfields; f++)
	{
		KafkaColumn *col = w->field_col[f];
		avro_value_t field;
		char	   *what;

		ec.field = w->by_field ? root->names[f] : NULL;
		ec.column = col ? col->name : NULL;

		if (w->by_field)
			AVRO_CHECK(avro_value_get_by_index(&w->value, f, &field, NULL), "a row");
		else
			field = w->value;
		if (col == NULL)
		{
			set_missing_field(w, &field, root, f, "a row");
			continue;
		}
		what = psprintf("column \"%s\"", col->name);
		set_from_datum(w, &field, w->by_field ? root->sub[f] : root,
					   values[col->attnum - 1], nulls[col->attnum - 1], w->field_target[f],
					   &col->out_func, what);
	}
	error_context_stack = errcb.previous;
	AVRO_CHECK(avro_value_sizeof(&w->value, &size), "a row");
	enlargeStringInfo(out, (int) size);
	avro_writer_memory_set_dest(w->writer, out->data + out->len, (int64_t) size);
	AVRO_CHECK(avro_value_write(w->writer, &w->value), "a row");
	out->len += (int) size;
	out->data[out->len] = '\0';
}

/* Does an Avro field take null (a union with null, or null)? */
static bool
node_nullable(const AvroNode *n)
{
	return n->kind == AK_NULL || (n->kind == AK_UNION && n->null_branch >= 0);
}

/* A nullable field's type without the null: the other branch of ["null", T] */
static const AvroNode *
node_unnull(const AvroNode *n)
{
	if (n->kind == AK_UNION && n->n == 2 && n->null_branch >= 0)
		return n->sub[1 - n->null_branch];
	return n;
}

/* The family of a logical type: the ones a column type writes alike */
static int
logical_family(AvroLogical l)
{
	switch (l)
	{
		case AL_TIME_MILLIS:
		case AL_TIME_MICROS:
			return 1;
		case AL_TIMESTAMP_MILLIS:
		case AL_TIMESTAMP_MICROS:
			return 2;
		case AL_LOCAL_TIMESTAMP_MILLIS:
		case AL_LOCAL_TIMESTAMP_MICROS:
			return 3;
		default:
			return 10 + (int) l;
	}
}

/*
 * Does a column whose derived field type is d write a field of type l the
 * same way (so writing with l is no type change)?  The same kind (with the
 * same family of logical type), int into long, bytes into fixed, or a
 * string (text, json, jsonb columns) into an enum, a structured field or a
 * union (jsonb by JSON kind).
 */
static bool record_fits(const AvroNode *derived, const AvroNode *latest, bool nested);

static bool
field_fits(const AvroNode *d, const AvroNode *l)
{
	d = node_unnull(d);
	l = node_unnull(l);
	if (d->logical == AL_DECIMAL && l->logical == AL_DECIMAL)
	{
		/*
		 * Another scale would round every value to it (numeric(10,2) into
		 * decimal(10,0): 1.23 written as 1), silently; a smaller precision
		 * is an error of a row that exceeds it.
		 */
		return d->scale == l->scale;
	}
	if (d->logical != AL_NONE || l->logical != AL_NONE)
		return d->logical != AL_NONE && l->logical != AL_NONE &&
			logical_family(d->logical) == logical_family(l->logical);
	if (d->kind == l->kind)
	{
		/*
		 * Inside: a composite's attributes as a record's fields (every field
		 * it lacks with a default), an array's items, a map's values.  A NULL
		 * where the field takes none is an error of the row, as for array
		 * items, which are nullable in every derived schema.
		 */
		check_stack_depth();
		if (d->kind == AK_RECORD)
			return record_fits(d, l, true);
		if (d->kind == AK_ARRAY || d->kind == AK_MAP)
			return field_fits(d->sub[0], l->sub[0]);
		return true;
	}
	if (d->kind == AK_INT && l->kind == AK_LONG)
		return true;
	if (d->kind == AK_BYTES && l->kind == AK_FIXED)
		return true;			/* bytea: exactly the size, else an error of the row */
	if (d->kind == AK_STRING)
		return l->kind == AK_ENUM || l->kind == AK_RECORD || l->kind == AK_MAP ||
			l->kind == AK_ARRAY || l->kind == AK_UNION;
	return false;
}

/*
 * Can the table write its values with latest, the subject's latest version,
 * instead of its derived schema?  Both are records; every field of the
 * derived schema (a value column) is a field of latest, nullable there if
 * it is nullable here (a nullable column gives NULLs), of a type the column
 * writes alike (field_fits: no type change); every other field of latest
 * has a default or takes null (it is written so).  A value the field's
 * type cannot hold is an error of the row, as with an inline avro_schema.
 * nested: the record of a composite column (field_fits), whose attributes
 * are all nullable; a NULL one where the field takes none is an error of
 * the row.
 */
static bool
record_fits(const AvroNode *derived, const AvroNode *latest, bool nested)
{
	if (derived->kind != AK_RECORD || latest->kind != AK_RECORD)
		return false;
	for (int f = 0; f < derived->n; f++)
	{
		int			g;

		for (g = 0; g < latest->n; g++)
			if (strcmp(derived->names[f], latest->names[g]) == 0)
				break;
		if (g == latest->n)
			return false;
		if (!nested && node_nullable(derived->sub[f]) && !node_nullable(latest->sub[g]))
			return false;
		if (!field_fits(derived->sub[f], latest->sub[g]))
			return false;
	}
	for (int g = 0; g < latest->n; g++)
	{
		bool		have = false;

		for (int f = 0; f < derived->n && !have; f++)
			have = strcmp(derived->names[f], latest->names[g]) == 0;
		if (!have && latest->defaults[g] == NULL && !node_nullable(latest->sub[g]))
			return false;
	}
	return true;
}

static bool
latest_fits(const AvroNode *derived, const AvroNode *latest)
{
	return record_fits(derived, latest, false);
}

/*
 * Would a table whose derived value schema is derived_json write with the
 * schema latest_json (a subject's latest version) instead of registering
 * its own (latest_fits)?  For ALTER's compatibility check (avro_compat.c).
 */
bool
kafkaAvroTableFits(const char *derived_json, const char *latest_json)
{
	char	   *error = NULL;
	KafkaAvroSchema *d = schema_cached(derived_json, &error);
	KafkaAvroSchema *l = d ? schema_cached(latest_json, &error) : NULL;

	return d && l && latest_fits(d->root, l->root);
}

/*
 * The schema and registry id a table writes its values with: a version of
 * the subject that is its derived schema; else the subject's latest version
 * when the table's columns fit it (latest_fits), so that a table that
 * writes what the subject already describes (an imported table, a table
 * with fewer columns than the producers' schema) makes no new version; else
 * the derived schema, registered after kafka_fdw's own compatibility check.
 */
static void
registry_writer_schema(KafkaEncoder *enc, AvroEncoder *ae)
{
	char	   *subject = registry_subject(enc->opts, enc->part, ae->table_schema, false);
	const char *derived = kafkaAvroSchemaJson(ae->table_schema);
	const KafkaSchema *latest;
	int32		id = kafkaAvroExistingId(enc->opts, subject, derived, &latest);

	if (id >= 0)
	{
		ae->registry_id = id;
		return;
	}
	if (enc->part == KAFKA_PART_VALUE && latest &&
		(latest->schema_type == NULL || strcmp(latest->schema_type, "AVRO") == 0))
	{
		char	   *error = NULL;
		KafkaAvroSchema *ls = schema_cached(latest->schema, &error);

		if (ls && latest_fits(ae->table_schema->root, ls->root))
		{
			ae->table_schema = ls;
			ae->registry_id = latest->id;
			return;
		}
	}
	ae->registry_id = kafkaAvroRegisterNew(enc->opts, subject, derived, NULL, latest);
}

/*
 * The codec's encode, of a value or (enc->part) of a key: the table's own
 * schema for it.  With a schema registry, the schema is the subject's
 * latest version if the table fits it, else the table's own, registered
 * under its subject (registry_writer_schema: "<topic>-value" or
 * "<topic>-key" by default; once per backend), and each value is the header
 * (magic byte 0, the id big-endian) and the Avro binary.
 */
static bool
avro_encode(KafkaEncoder *enc, Datum *values, bool *nulls)
{
	AvroEncoder *ae = enc->codec_state;

	if (ae->table_schema == NULL)
		ae->table_schema = part_schema(enc->opts, enc->part);
	if (uses_registry(enc->opts, enc->part))
	{
		uint32		id;

		if (ae->registry_id < 0)
			registry_writer_schema(enc, ae);
		id = (uint32) ae->registry_id;
		appendStringInfoChar(&enc->value, REGISTRY_MAGIC);
		appendStringInfoChar(&enc->value, (char) (id >> 24));
		appendStringInfoChar(&enc->value, (char) (id >> 16));
		appendStringInfoChar(&enc->value, (char) (id >> 8));
		appendStringInfoChar(&enc->value, (char) id);
	}
	kafkaAvroEncode(enc, ae->table_schema, values, nulls, &enc->value);
	return true;
}

PG_FUNCTION_INFO_V1(kafka_avro_schema);

/*
 * kafka.avro_schema(regclass): the Avro schema a foreign table reads and
 * writes with, whatever its format (SELECT or INSERT privilege needed).
 */
Datum
kafka_avro_schema(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	KafkaOptions *opts;
	AclResult	aclresult = pg_class_aclcheck(relid, GetUserId(), ACL_SELECT);

	if (aclresult != ACLCHECK_OK && pg_class_aclcheck(relid, GetUserId(), ACL_INSERT) != ACLCHECK_OK)
		aclcheck_error(aclresult, OBJECT_FOREIGN_TABLE, get_rel_name(relid));
	kafkaRequireKafkaTable(relid);
	opts = kafkaGetOptions(relid, NULL);
	PG_RETURN_TEXT_P(cstring_to_text(opts->avro_schema ? opts->avro_schema : kafkaAvroSchemaForTable(opts)));
}

/* ---------------------------------------------------------------------
 * Options and the codec entry
 * ---------------------------------------------------------------------
 */

/* An inline schema option must parse: an ERROR naming the option otherwise */
static void
check_schema_option(const char *option, const char *schema)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "kafka_fdw Avro schema check",
											  ALLOCSET_SMALL_SIZES);
	char	   *error;
	KafkaAvroSchema *s = kafkaAvroSchemaParse(schema, strlen(schema), cxt, &error);

	if (s == NULL)
	{
		char	   *msg = pstrdup(error);

		MemoryContextDelete(cxt);
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("option \"%s\" is not a valid Avro schema: %s", option, msg),
				 errhint("Give the writer's schema as JSON, for example '{\"type\": \"record\", \"name\": \"r\", \"fields\": [{\"name\": \"id\", \"type\": \"long\"}]}'.")));
	}
	MemoryContextDelete(cxt);
}

/*
 * The validator: avro_schema and key_avro_schema must parse; avro_schema
 * and value_subject go with format avro, key_avro_schema and key_subject
 * with key_format avro.
 */
static void
avro_validate(List *options)
{
	ListCell   *lc;
	const char *schema = NULL;
	const char *key_schema = NULL;
	const char *format = NULL;
	const char *key_format = NULL;
	const char *value_subject = NULL;
	const char *key_subject = NULL;

	foreach(lc, options)
	{
		DefElem    *def = (DefElem *) lfirst(lc);

		if (strcmp(def->defname, "avro_schema") == 0)
			schema = defGetString(def);
		else if (strcmp(def->defname, "key_avro_schema") == 0)
			key_schema = defGetString(def);
		else if (strcmp(def->defname, "format") == 0)
			format = defGetString(def);
		else if (strcmp(def->defname, "key_format") == 0)
			key_format = defGetString(def);
		else if (strcmp(def->defname, "value_subject") == 0)
			value_subject = defGetString(def);
		else if (strcmp(def->defname, "key_subject") == 0)
			key_subject = defGetString(def);
	}
	/* the format may come from the server: only a table's own other format is refused */
	if (format && pg_strcasecmp(format, "avro") != 0 && (schema || value_subject))
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
				 errmsg("option \"%s\" needs format 'avro', the foreign table has format '%s'",
						schema ? "avro_schema" : "value_subject", format)));
	if ((key_schema || key_subject) && (key_format == NULL || pg_strcasecmp(key_format, "avro") != 0))
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
				 errmsg("option \"%s\" needs key_format 'avro'", key_schema ? "key_avro_schema" : "key_subject"),
				 errhint("Add the option key_format 'avro' to the foreign table.")));
	if (schema)
		check_schema_option("avro_schema", schema);
	if (key_schema)
		check_schema_option("key_avro_schema", key_schema);
}

/* A table of format avro is used: its schema must be one it can read */
static void
avro_check_table(KafkaOptions *opts)
{
	KafkaAvroSchema *s;

	/* each message names its writer schema; INSERT derives the table's */
	if (uses_registry(opts, KAFKA_PART_VALUE))
		return;
	s = kafkaAvroTableSchema(opts);
	if (s->root->kind != AK_RECORD && opts->nvalue_columns != 1)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("the avro_schema of foreign table \"%s\" is not a record, and the table has %d value columns",
						opts->table_name, opts->nvalue_columns),
				 errhint("A schema other than a record fills exactly one value column; use a record schema to map fields to columns.")));
}

const KafkaCodec kafka_codec_avro = {
	.format = KAFKA_FORMAT_AVRO,
	.name = "avro",
	.flags = KAFKA_CODEC_KEY,
	.validate = avro_validate,
	.check_table = avro_check_table,
	.decoder_init = avro_decoder_init,
	.decode = avro_decode,
	.prepare = avro_prepare,
	.encoder_init = avro_encoder_init,
	.encode = avro_encode,
};

/* ---------------------------------------------------------------------
 * Columns for a schema (IMPORT FOREIGN SCHEMA, import.c)
 * ---------------------------------------------------------------------
 */

/*
 * The PostgreSQL type that values of node n read into whole: scalars as
 * natural_type (with decimal's precision and scale as the typmod), enums
 * as text, unions with null as their other branch (*nullable), arrays of
 * such scalars as PostgreSQL arrays, and everything else (records, maps,
 * arrays of containers, unions of several types) as jsonb.  A PostgreSQL
 * array is rectangular and of one type, so arrays of arrays are jsonb too.
 */
static Oid
import_type(AvroNode *n, int32 *typmod, bool *nullable)
{
	*typmod = -1;
	*nullable = false;
	if (n->kind == AK_UNION)
	{
		AvroNode   *other = NULL;
		int			nother = 0;

		for (int i = 0; i < n->n; i++)
		{
			if (n->sub[i]->kind == AK_NULL)
				*nullable = true;
			else
			{
				other = n->sub[i];
				nother++;
			}
		}
		if (nother == 0)
			return TEXTOID;		/* always null */
		if (nother > 1)
			return JSONBOID;
		n = other;				/* Avro forbids unions directly in unions */
	}
	switch (n->kind)
	{
		case AK_NULL:
			*nullable = true;
			return TEXTOID;
		case AK_RECORD:
		case AK_MAP:
			return JSONBOID;
		case AK_ARRAY:
			{
				AvroNode   *items = n->sub[0];
				bool		items_nullable;
				int32		items_typmod;
				Oid			elem;
				Oid			arr;

				elem = import_type(items, &items_typmod, &items_nullable);
				/* the built-in types natural_type gives (no catalog lookup) */
				switch (elem)
				{
					case BOOLOID:
						arr = BOOLARRAYOID;
						break;
					case INT4OID:
						arr = INT4ARRAYOID;
						break;
					case INT8OID:
						arr = INT8ARRAYOID;
						break;
					case FLOAT4OID:
						arr = FLOAT4ARRAYOID;
						break;
					case FLOAT8OID:
						arr = FLOAT8ARRAYOID;
						break;
					case BYTEAOID:
						arr = BYTEAARRAYOID;
						break;
					case TEXTOID:
						arr = TEXTARRAYOID;
						break;
					case DATEOID:
						arr = DATEARRAYOID;
						break;
					case TIMEOID:
						arr = TIMEARRAYOID;
						break;
					case TIMESTAMPOID:
						arr = TIMESTAMPARRAYOID;
						break;
					case TIMESTAMPTZOID:
						arr = TIMESTAMPTZARRAYOID;
						break;
					case NUMERICOID:
						arr = NUMERICARRAYOID;
						break;
					case UUIDOID:
						arr = UUIDARRAYOID;
						break;
					default:
						/* jsonb, and arrays: arrays of arrays are not rectangular */
						return JSONBOID;
				}
				*typmod = items_typmod;
				return arr;
			}
		default:
			if (n->logical == AL_DECIMAL)
				*typmod = ((n->precision << 16) | n->scale) + VARHDRSZ;
			return natural_type(n);
	}
}

/*
 * The type of one column that reads a whole value of the schema (a key
 * column: records into jsonb).
 */
Oid
kafkaAvroSchemaType(KafkaAvroSchema *s, int32 *typmod)
{
	bool		nullable;

	return import_type(s->root, typmod, &nullable);
}

/*
 * The columns that read a schema whole: for a record, one per field in
 * order (notnull: the field is not nullable, so every message written
 * with the schema has a value, and one written without the field reads
 * its default); for any other schema, one column with field NULL.  Returns their number; *defs is
 * palloc'd.
 */
int
kafkaAvroSchemaColumns(KafkaAvroSchema *s, KafkaAvroColumnDef **defs)
{
	AvroNode   *root = s->root;
	bool		nullable;

	if (root->kind != AK_RECORD)
	{
		*defs = palloc0(sizeof(KafkaAvroColumnDef));
		(*defs)[0].field = NULL;
		(*defs)[0].typid = import_type(root, &(*defs)[0].typmod, &nullable);
		(*defs)[0].notnull = false; /* a tombstone reads NULL */
		return 1;
	}
	*defs = palloc0(sizeof(KafkaAvroColumnDef) * Max(root->n, 1));
	for (int i = 0; i < root->n; i++)
	{
		KafkaAvroColumnDef *d = &(*defs)[i];

		d->field = root->names[i];
		d->typid = import_type(root->sub[i], &d->typmod, &nullable);
		d->notnull = !nullable;
	}
	return root->n;
}
