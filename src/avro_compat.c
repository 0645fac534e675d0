/*-------------------------------------------------------------------------
 *
 * avro_compat.c
 *		  kafka_fdw's own Avro schema compatibility checker, after the Avro
 *		  specification's schema resolution, and its three users: INSERT
 *		  before it registers a table's schema under a subject
 *		  (kafkaAvroRegisterChecked), kafka.check_compatibility (reasons
 *		  when the registry gives none) and the event trigger that checks
 *		  ALTER FOREIGN TABLE (kafka_check_altered_avro_tables).
 *
 * Can data written with the writer schema be read with the reader schema?
 *	- records: same unqualified name, or a reader alias names the writer;
 *	  each reader field is found in the writer by its name or one of its
 *	  aliases, or has a default; writer fields the reader lacks are
 *	  skipped;
 *	- int reads as long, float, double; long as float, double; float as
 *	  double; string and bytes as each other;
 *	- enums: the reader has every writer symbol, unless it has a default;
 *	- fixed: same name and size;
 *	- arrays and maps: their items and values, recursively;
 *	- unions: each writer branch must resolve against the reader (against
 *	  some branch of a reader union); a writer that is not a union against
 *	  some branch of a reader union;
 *	- logical types count as their underlying type, except that a decimal
 *	  whose precision or scale changes is incompatible (the same bytes
 *	  would mean another number).
 * Pairs of records are memoized, so recursive types end.  Each reason
 * names the field path (the root record's name, then field names; "[]"
 * for array items, "{}" for map values) and what changed, told from the
 * old schema to the new one.
 *
 * Levels (the registry's): BACKWARD, the new schema reads the latest
 * version; FORWARD, the latest reads the new one; FULL, both; the
 * *_TRANSITIVE ones against every version; NONE, nothing.
 *
 * Schemas are parsed here with jansson (the JSON parser avro-c uses, and
 * codec_avro.c) into a tree of CNodes that keeps what the rules need and
 * avro-c drops: aliases, defaults, logical types, enum defaults.  The
 * same tree gives the canonical form that says whether two schema texts
 * are the same schema (kafkaAvroSchemasSame).
 *
 * Invariants:
 *	- jansson objects are freed on every path (PG_FINALLY); the trees are
 *	  palloc'd in the caller's memory context.
 *	- Nothing is sent to Kafka before a schema was found compatible: the
 *	  check runs when INSERT encodes its first row.
 *
 *-------------------------------------------------------------------------
 */
#include "kafka_fdw.h"

/* PostgreSQL's SQL functions json_object() and json_typeof() would clash with jansson */
#define json_object pg_json_object
#define json_typeof pg_json_typeof

#include "access/xact.h"
#include "catalog/pg_class.h"
#include "commands/defrem.h"
#include "commands/event_trigger.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "tcop/deparse_utility.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

#undef json_object
#undef json_typeof

#include <jansson.h>

/* Deepest nesting of a schema parsed here (as codec_avro.c decodes) */
#define COMPAT_MAX_DEPTH 200

/* Reasons shown in an error's detail; kafka.check_compatibility shows all */
#define COMPAT_MAX_DETAIL 20

/* kafka_fdw.check_compatibility_on_alter */
static bool compat_check_on_alter = true;

/* ---------------------------------------------------------------------
 * Schemas as the rules see them
 * ---------------------------------------------------------------------
 */

typedef enum CKind
{
	CK_NULL, CK_BOOLEAN, CK_INT, CK_LONG, CK_FLOAT, CK_DOUBLE, CK_BYTES, CK_STRING,
	CK_RECORD, CK_ENUM, CK_FIXED, CK_ARRAY, CK_MAP, CK_UNION
} CKind;

/* The type names, by CKind (primitives first: the ones a name alone gives) */
static const char *const ckind_names[] = {
	"null", "boolean", "int", "long", "float", "double", "bytes", "string",
	"record", "enum", "fixed", "array", "map", "union"
};

#define CK_LAST_PRIMITIVE CK_STRING

struct CNode;

/* A record field */
typedef struct CField
{
	char	   *name;
	List	   *aliases;		/* of char *: other names it had */
	struct CNode *type;
	char	   *deflt;			/* its default as compact JSON text, or NULL */
} CField;

/* One node of a schema */
typedef struct CNode
{
	CKind		kind;
	char	   *name;			/* named types: the full name */
	List	   *aliases;		/* named types: full names of their aliases */
	char	   *logical;		/* logicalType, or NULL */
	bool		decimal;		/* a valid decimal: precision and scale below */
	int			precision;
	int			scale;
	int64		size;			/* fixed */
	int			n;				/* record fields, enum symbols, union branches */
	CField	   *fields;			/* record */
	char	  **symbols;		/* enum */
	char	   *enum_default;	/* enum: its default symbol, or NULL */
	struct CNode **sub;			/* union: the branches; array, map: sub[0],
								 * the items or the values */
} CNode;

/* While a schema is parsed */
typedef struct SchemaParse
{
	List	   *named;			/* CNodes of the named types defined so far */
	char	   *error;			/* the first problem, or NULL */
} SchemaParse;

static CNode *parse_node(SchemaParse *ps, json_t *j, const char *ns, int depth);

static CNode *
new_cnode(CKind kind)
{
	CNode	   *n = palloc0(sizeof(CNode));

	n->kind = kind;
	return n;
}

static void
parse_error(SchemaParse *ps, char *msg)
{
	if (ps->error == NULL)
		ps->error = msg;
}

/* The part of a full name after its namespace */
static const char *
short_name(const char *full)
{
	const char *dot = strrchr(full, '.');

	return dot ? dot + 1 : full;
}

/* A name relative to a namespace: as it is if it holds a dot */
static char *
qualify(const char *name, const char *ns)
{
	if (strchr(name, '.') != NULL || ns == NULL || ns[0] == '\0')
		return pstrdup(name);
	return psprintf("%s.%s", ns, name);
}

/* The primitive a name means, or -1 */
static int
primitive_kind(const char *name)
{
	for (int k = 0; k <= CK_LAST_PRIMITIVE; k++)
		if (strcmp(ckind_names[k], name) == 0)
			return k;
	return -1;
}

/* A reference to a named type defined before */
static CNode *
resolve_name(SchemaParse *ps, const char *name, const char *ns)
{
	char	   *full = qualify(name, ns);
	ListCell   *lc;

	foreach(lc, ps->named)
	{
		CNode	   *n = lfirst(lc);

		if (strcmp(n->name, full) == 0)
			return n;
	}
	/* a name in the null namespace, used inside a namespace */
	foreach(lc, ps->named)
	{
		CNode	   *n = lfirst(lc);

		if (strcmp(n->name, name) == 0)
			return n;
	}
	parse_error(ps, psprintf("unknown type \"%s\"", name));
	return new_cnode(CK_NULL);
}

/* JSON text of a value, compact with sorted keys: equal values, equal text */
static char *
json_text(json_t *j)
{
	char	   *txt = json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT | JSON_SORT_KEYS);
	char	   *result;

	if (txt == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	result = pstrdup(txt);
	free(txt);
	return result;
}

/*
 * The logicalType of schema object j over node n: kept as written; a
 * decimal is one only with a valid precision and scale, on bytes or fixed
 * (others are ignored, as the specification asks).
 */
static void
parse_logical(CNode *n, json_t *j)
{
	json_t	   *lt = json_object_get(j, "logicalType");
	int			precision;
	int			scale = 0;

	if (lt == NULL || !json_is_string(lt))
		return;
	if (strcmp(json_string_value(lt), "decimal") == 0)
	{
		if (n->kind != CK_BYTES && n->kind != CK_FIXED)
			return;
		if (!kafkaJsonIntMember(j, "precision", &precision) || precision < 1)
			return;
		if (json_object_get(j, "scale") && !kafkaJsonIntMember(j, "scale", &scale))
			return;
		if (scale < 0 || scale > precision)
			return;
		n->decimal = true;
		n->precision = precision;
		n->scale = scale;
	}
	n->logical = pstrdup(json_string_value(lt));
}

/*
 * The name, namespace and aliases of a named type definition j; the type
 * is registered, so that its own fields may refer to it.  Returns the
 * namespace its members are relative to.
 */
static const char *
parse_named(SchemaParse *ps, CNode *n, json_t *j, const char *ns)
{
	json_t	   *name = json_object_get(j, "name");
	json_t	   *nsj = json_object_get(j, "namespace");
	json_t	   *aliases = json_object_get(j, "aliases");
	const char *own_ns = ns;
	ListCell   *lc;

	if (name == NULL || !json_is_string(name) || json_string_value(name)[0] == '\0')
	{
		parse_error(ps, psprintf("a %s without a name", ckind_names[n->kind]));
		n->name = pstrdup("");
		return ns;
	}
	if (strchr(json_string_value(name), '.') != NULL)
	{
		const char *s = json_string_value(name);

		own_ns = pnstrdup(s, strrchr(s, '.') - s);
	}
	else if (nsj != NULL && json_is_string(nsj))
		own_ns = json_string_value(nsj);
	n->name = qualify(json_string_value(name), own_ns);
	if (aliases != NULL && json_is_array(aliases))
		for (size_t i = 0; i < json_array_size(aliases); i++)
			if (json_is_string(json_array_get(aliases, i)))
				n->aliases = lappend(n->aliases,
									 qualify(json_string_value(json_array_get(aliases, i)), own_ns));
	foreach(lc, ps->named)
		if (strcmp(((CNode *) lfirst(lc))->name, n->name) == 0)
			parse_error(ps, psprintf("the type \"%s\" is defined twice", n->name));
	ps->named = lappend(ps->named, n);
	return own_ns;
}

static CNode *
parse_record(SchemaParse *ps, json_t *j, const char *ns, int depth)
{
	CNode	   *n = new_cnode(CK_RECORD);
	json_t	   *fields = json_object_get(j, "fields");

	ns = parse_named(ps, n, j, ns);
	if (fields == NULL || !json_is_array(fields))
	{
		parse_error(ps, psprintf("record \"%s\" has no \"fields\" array", n->name));
		return n;
	}
	n->n = (int) json_array_size(fields);
	n->fields = palloc0(sizeof(CField) * Max(n->n, 1));
	for (int i = 0; i < n->n; i++)
	{
		json_t	   *f = json_array_get(fields, i);
		json_t	   *fname = json_is_object(f) ? json_object_get(f, "name") : NULL;
		json_t	   *ftype = json_is_object(f) ? json_object_get(f, "type") : NULL;
		json_t	   *fdef = json_is_object(f) ? json_object_get(f, "default") : NULL;
		json_t	   *faliases = json_is_object(f) ? json_object_get(f, "aliases") : NULL;
		CField	   *cf = &n->fields[i];

		if (fname == NULL || !json_is_string(fname) || ftype == NULL)
		{
			parse_error(ps, psprintf("field %d of record \"%s\" has no name or no type", i + 1, n->name));
			cf->name = pstrdup("");
			cf->type = new_cnode(CK_NULL);
			continue;
		}
		cf->name = pstrdup(json_string_value(fname));
		if (fdef != NULL)
			cf->deflt = json_text(fdef);
		if (faliases != NULL && json_is_array(faliases))
			for (size_t a = 0; a < json_array_size(faliases); a++)
				if (json_is_string(json_array_get(faliases, a)))
					cf->aliases = lappend(cf->aliases, pstrdup(json_string_value(json_array_get(faliases, a))));
		cf->type = parse_node(ps, ftype, ns, depth + 1);
	}
	if (n->n > 1)
	{
		char	  **names = palloc(sizeof(char *) * n->n);
		const char *twice;

		for (int i = 0; i < n->n; i++)
			names[i] = n->fields[i].name;
		twice = kafkaAvroRepeatedName(names, n->n);
		if (twice)
			parse_error(ps, psprintf("record \"%s\" has the field \"%s\" twice", n->name, twice));
		pfree(names);
	}
	return n;
}

static CNode *
parse_enum(SchemaParse *ps, json_t *j, const char *ns)
{
	CNode	   *n = new_cnode(CK_ENUM);
	json_t	   *symbols = json_object_get(j, "symbols");
	json_t	   *def = json_object_get(j, "default");

	(void) parse_named(ps, n, j, ns);
	if (symbols == NULL || !json_is_array(symbols))
	{
		parse_error(ps, psprintf("enum \"%s\" has no \"symbols\" array", n->name));
		return n;
	}
	n->n = (int) json_array_size(symbols);
	n->symbols = palloc0(sizeof(char *) * Max(n->n, 1));
	for (int i = 0; i < n->n; i++)
	{
		json_t	   *s = json_array_get(symbols, i);

		if (!json_is_string(s))
		{
			parse_error(ps, psprintf("a symbol of enum \"%s\" is not a string", n->name));
			n->symbols[i] = pstrdup("");
			continue;
		}
		n->symbols[i] = pstrdup(json_string_value(s));
	}
	if (def != NULL && json_is_string(def))
		n->enum_default = pstrdup(json_string_value(def));
	return n;
}

/* The node of schema j (a name, a union, or a definition), in namespace ns */
static CNode *
parse_node(SchemaParse *ps, json_t *j, const char *ns, int depth)
{
	CNode	   *n;
	json_t	   *t;
	const char *ts;
	int			prim;

	check_stack_depth();
	CHECK_FOR_INTERRUPTS();		/* a megabyte of schema takes a while */
	if (ps->error)
		return new_cnode(CK_NULL);
	if (depth > COMPAT_MAX_DEPTH)
	{
		parse_error(ps, psprintf("schema nested more than %d levels deep", COMPAT_MAX_DEPTH));
		return new_cnode(CK_NULL);
	}
	if (json_is_string(j))
	{
		prim = primitive_kind(json_string_value(j));
		if (prim >= 0)
			return new_cnode((CKind) prim);
		return resolve_name(ps, json_string_value(j), ns);
	}
	if (json_is_array(j))
	{
		n = new_cnode(CK_UNION);
		n->n = (int) json_array_size(j);
		n->sub = palloc0(sizeof(CNode *) * Max(n->n, 1));
		for (int i = 0; i < n->n; i++)
			n->sub[i] = parse_node(ps, json_array_get(j, i), ns, depth + 1);
		return n;
	}
	if (!json_is_object(j))
	{
		parse_error(ps, pstrdup("a schema must be a type name, a union (array) or an object"));
		return new_cnode(CK_NULL);
	}
	t = json_object_get(j, "type");
	if (t == NULL)
	{
		parse_error(ps, pstrdup("a schema object has no \"type\""));
		return new_cnode(CK_NULL);
	}
	if (!json_is_string(t))
		return parse_node(ps, t, ns, depth + 1);
	ts = json_string_value(t);
	prim = primitive_kind(ts);
	if (prim >= 0)
	{
		n = new_cnode((CKind) prim);
		parse_logical(n, j);
		return n;
	}
	if (strcmp(ts, "record") == 0 || strcmp(ts, "error") == 0)
		return parse_record(ps, j, ns, depth);
	if (strcmp(ts, "enum") == 0)
		return parse_enum(ps, j, ns);
	if (strcmp(ts, "fixed") == 0)
	{
		json_t	   *size = json_object_get(j, "size");

		n = new_cnode(CK_FIXED);
		(void) parse_named(ps, n, j, ns);
		if (size == NULL || !json_is_integer(size) || json_integer_value(size) < 0)
			parse_error(ps, psprintf("fixed \"%s\" has no valid \"size\"", n->name));
		else
			n->size = (int64) json_integer_value(size);
		parse_logical(n, j);
		return n;
	}
	if (strcmp(ts, "array") == 0 || strcmp(ts, "map") == 0)
	{
		bool		array = ts[0] == 'a';
		json_t	   *items = json_object_get(j, array ? "items" : "values");

		n = new_cnode(array ? CK_ARRAY : CK_MAP);
		n->n = 1;
		n->sub = palloc(sizeof(CNode *));
		if (items == NULL)
		{
			parse_error(ps, psprintf("an %s without \"%s\"", ts, array ? "items" : "values"));
			n->sub[0] = new_cnode(CK_NULL);
		}
		else
			n->sub[0] = parse_node(ps, items, ns, depth + 1);
		return n;
	}
	/* {"type": "SomeRecord"}: a reference */
	return resolve_name(ps, ts, ns);
}

/*
 * Parse a schema text; NULL with *error (palloc'd) if it is not one this
 * checker understands.
 */
static CNode *
compat_parse(const char *text, char **error)
{
	json_t	   *volatile doc = NULL;
	json_error_t jerr;
	SchemaParse *ps = palloc0(sizeof(SchemaParse));
	CNode	   *volatile root = NULL;

	*error = NULL;
	PG_TRY();
	{
		doc = json_loadb(text, strlen(text), JSON_DECODE_ANY, &jerr);
		if (doc == NULL)
			ps->error = psprintf("not JSON: %s", jerr.text);
		else
			root = parse_node(ps, doc, "", 0);
	}
	PG_FINALLY();
	{
		if (doc)
			json_decref(doc);
	}
	PG_END_TRY();
	if (ps->error)
	{
		*error = ps->error;
		return NULL;
	}
	return root;
}

/* ---------------------------------------------------------------------
 * The canonical form: the same schema, the same text
 * ---------------------------------------------------------------------
 */

/*
 * Avro's Parsing Canonical Form (full names, only the attributes that
 * shape the binary encoding, in a fixed order) plus what changes the
 * meaning of the values: logical types (decimal precision and scale),
 * field defaults (as JSON, keys sorted) and the enum default.  Docs,
 * aliases, other properties, whitespace and attribute order drop out.
 */
static void
canon(StringInfo out, CNode *n, List **seen)
{
	switch (n->kind)
	{
		case CK_RECORD:
		case CK_ENUM:
		case CK_FIXED:
			if (list_member_ptr(*seen, n))
			{
				escape_json(out, n->name);
				return;
			}
			*seen = lappend(*seen, n);
			appendStringInfoString(out, "{\"name\":");
			escape_json(out, n->name);
			appendStringInfo(out, ",\"type\":\"%s\"", ckind_names[n->kind]);
			if (n->kind == CK_RECORD)
			{
				appendStringInfoString(out, ",\"fields\":[");
				for (int i = 0; i < n->n; i++)
				{
					appendStringInfoString(out, i ? ",{\"name\":" : "{\"name\":");
					escape_json(out, n->fields[i].name);
					appendStringInfoString(out, ",\"type\":");
					canon(out, n->fields[i].type, seen);
					if (n->fields[i].deflt)
						appendStringInfo(out, ",\"default\":%s", n->fields[i].deflt);
					appendStringInfoChar(out, '}');
				}
				appendStringInfoChar(out, ']');
			}
			else if (n->kind == CK_ENUM)
			{
				appendStringInfoString(out, ",\"symbols\":[");
				for (int i = 0; i < n->n; i++)
				{
					if (i)
						appendStringInfoChar(out, ',');
					escape_json(out, n->symbols[i]);
				}
				appendStringInfoChar(out, ']');
				if (n->enum_default)
				{
					appendStringInfoString(out, ",\"default\":");
					escape_json(out, n->enum_default);
				}
			}
			else
				appendStringInfo(out, ",\"size\":" INT64_FORMAT, n->size);
			break;
		case CK_ARRAY:
		case CK_MAP:
			appendStringInfo(out, "{\"type\":\"%s\",\"%s\":", ckind_names[n->kind],
							 n->kind == CK_ARRAY ? "items" : "values");
			canon(out, n->sub[0], seen);
			break;
		case CK_UNION:
			appendStringInfoChar(out, '[');
			for (int i = 0; i < n->n; i++)
			{
				if (i)
					appendStringInfoChar(out, ',');
				canon(out, n->sub[i], seen);
			}
			appendStringInfoChar(out, ']');
			return;
		default:
			if (n->logical == NULL)
			{
				appendStringInfo(out, "\"%s\"", ckind_names[n->kind]);
				return;
			}
			appendStringInfo(out, "{\"type\":\"%s\"", ckind_names[n->kind]);
			break;
	}
	/* primitives with a logical type, fixed, array, map: close the object */
	if (n->logical)
	{
		appendStringInfoString(out, ",\"logicalType\":");
		escape_json(out, n->logical);
		if (n->decimal)
			appendStringInfo(out, ",\"precision\":%d,\"scale\":%d", n->precision, n->scale);
	}
	appendStringInfoChar(out, '}');
}

/*
 * Are two schema texts the same schema (canonical forms equal)?  A text
 * that does not parse is the same as nothing.
 */
bool
kafkaAvroSchemasSame(const char *a, const char *b)
{
	char	   *error;
	CNode	   *na = compat_parse(a, &error);
	CNode	   *nb = na ? compat_parse(b, &error) : NULL;
	StringInfoData ca;
	StringInfoData cb;
	List	   *seen = NIL;

	if (na == NULL || nb == NULL)
		return false;
	initStringInfo(&ca);
	initStringInfo(&cb);
	canon(&ca, na, &seen);
	seen = NIL;
	canon(&cb, nb, &seen);
	return strcmp(ca.data, cb.data) == 0;
}

/* ---------------------------------------------------------------------
 * Schema resolution: can the reader read what the writer wrote?
 * ---------------------------------------------------------------------
 */

/* A pair of records being or having been compared */
typedef struct CompatPair
{
	CNode	   *r;
	CNode	   *w;
	int			state;			/* PAIR_OPEN, PAIR_OK, PAIR_BAD */
} CompatPair;

#define PAIR_OPEN 0
#define PAIR_OK 1
#define PAIR_BAD 2

/* One comparison of a reader and a writer schema */
typedef struct CompatState
{
	bool		reader_is_new;	/* the reader is the new schema (else the
								 * writer is) */
	const char *other;			/* the other one, for reasons: "version 2" */
	List	   *reasons;		/* of char * */
	List	   *silent;			/* CompatPairs of silent comparisons */
	List	   *reported;		/* CompatPairs whose reasons were given */
} CompatState;

static bool compat(CompatState *st, CNode *r, CNode *w, const char *path, bool report);

/* A type, short, for reasons */
static char *
tdesc(CNode *n, int depth)
{
	StringInfoData s;

	switch (n->kind)
	{
		case CK_RECORD:
		case CK_ENUM:
		case CK_FIXED:
			return psprintf("%s %s", ckind_names[n->kind], n->name);
		case CK_ARRAY:
		case CK_MAP:
			if (depth > 2)
				return pstrdup(ckind_names[n->kind]);
			return psprintf("%s of %s", ckind_names[n->kind], tdesc(n->sub[0], depth + 1));
		case CK_UNION:
			if (depth > 2)
				return pstrdup("union");
			initStringInfo(&s);
			appendStringInfoChar(&s, '[');
			for (int i = 0; i < n->n; i++)
				appendStringInfo(&s, "%s%s", i ? ", " : "", tdesc(n->sub[i], depth + 1));
			appendStringInfoChar(&s, ']');
			return s.data;
		default:
			if (n->decimal)
				return psprintf("%s (decimal(%d,%d))", ckind_names[n->kind], n->precision, n->scale);
			if (n->logical)
				return psprintf("%s (%s)", ckind_names[n->kind], n->logical);
			return pstrdup(ckind_names[n->kind]);
	}
}

/* Add a reason: "<path>: <what> (<which reads which>)" */
static void
add_reason(CompatState *st, const char *path, const char *what)
{
	st->reasons = lappend(st->reasons,
						  st->reader_is_new ?
						  psprintf("%s: %s (the new schema cannot read %s)", path, what, st->other) :
						  psprintf("%s: %s (%s cannot read the new schema)", path, what, st->other));
}

/* "type changed from <old> to <new>" */
static void
type_changed(CompatState *st, const char *path, CNode *r, CNode *w)
{
	CNode	   *old = st->reader_is_new ? w : r;
	CNode	   *new = st->reader_is_new ? r : w;

	add_reason(st, path, psprintf("type changed from %s to %s", tdesc(old, 0), tdesc(new, 0)));
}

/* "<what> changed from <old> to <new>", for names */
static void
name_changed(CompatState *st, const char *path, const char *what, const char *rv, const char *wv)
{
	add_reason(st, path, psprintf("%s changed from %s to %s", what,
								  st->reader_is_new ? wv : rv, st->reader_is_new ? rv : wv));
}

/* May a value of writer kind w be read as reader kind r (a promotion)? */
static bool
promotable(CKind w, CKind r)
{
	switch (w)
	{
		case CK_INT:
			return r == CK_LONG || r == CK_FLOAT || r == CK_DOUBLE;
		case CK_LONG:
			return r == CK_FLOAT || r == CK_DOUBLE;
		case CK_FLOAT:
			return r == CK_DOUBLE;
		case CK_STRING:
			return r == CK_BYTES;
		case CK_BYTES:
			return r == CK_STRING;
		default:
			return false;
	}
}

/*
 * Do the names of two named types match: the same unqualified name (as
 * the specification and Java's SchemaCompatibility say), or a reader alias
 * naming the writer?
 */
static bool
names_match(CNode *r, CNode *w)
{
	ListCell   *lc;

	if (strcmp(short_name(r->name), short_name(w->name)) == 0)
		return true;
	foreach(lc, r->aliases)
		if (strcmp((char *) lfirst(lc), w->name) == 0)
			return true;
	return false;
}

/* The specification's "match": what a reader union branch is chosen by */
static bool
shallow_match(CNode *r, CNode *w)
{
	if (r->kind == w->kind)
		return (r->kind != CK_RECORD && r->kind != CK_ENUM && r->kind != CK_FIXED) ||
			names_match(r, w);
	return promotable(w->kind, r->kind);
}

/* A decimal's precision and scale must not change */
static bool
check_decimal(CompatState *st, CNode *r, CNode *w, const char *path, bool report)
{
	bool		ok = true;

	if (!r->decimal || !w->decimal)
		return true;
	if (r->precision != w->precision)
	{
		ok = false;
		if (report)
			name_changed(st, path, "decimal precision", psprintf("%d", r->precision),
						 psprintf("%d", w->precision));
	}
	if (r->scale != w->scale)
	{
		ok = false;
		if (report)
			name_changed(st, path, "decimal scale", psprintf("%d", r->scale),
						 psprintf("%d", w->scale));
	}
	return ok;
}

/*
 * A writer that is not a union against a reader union: the first branch
 * that resolves it.  wu: the writer union w is a branch of, or NULL (the
 * reason is then a branch added or removed).
 */
static bool
reader_union(CompatState *st, CNode *ru, CNode *w, const char *path, bool report, CNode *wu)
{
	for (int i = 0; i < ru->n; i++)
		if (compat(st, ru->sub[i], w, path, false))
			return true;
	if (!report)
		return false;
	/* the reasons of the branch the specification would pick */
	for (int i = 0; i < ru->n; i++)
		if (shallow_match(ru->sub[i], w))
		{
			(void) compat(st, ru->sub[i], w, path, true);
			return false;
		}
	if (wu != NULL)
		add_reason(st, path, psprintf(st->reader_is_new ?
									  "type changed from %s to %s, and the branch %s was removed" :
									  "type changed from %s to %s, and the branch %s was added",
									  tdesc(st->reader_is_new ? wu : ru, 0),
									  tdesc(st->reader_is_new ? ru : wu, 0), tdesc(w, 0)));
	else
		type_changed(st, path, ru, w);
	return false;
}

/*
 * Names with their positions, sorted by name (name_find looks one up), so
 * that matching the fields or symbols of two schemas of many of them (a
 * megabyte of schema) costs n log n, not n squared.
 */
typedef struct NamePos
{
	const char *name;
	int			pos;
} NamePos;

static int
cmp_namepos(const void *a, const void *b)
{
	return strcmp(((const NamePos *) a)->name, ((const NamePos *) b)->name);
}

static void
name_sort(NamePos *np, int n)
{
	if (n > 1)
		qsort(np, n, sizeof(NamePos), cmp_namepos);
}

/* The position of name in np (sorted by name_sort), or -1 */
static int
name_find(const NamePos *np, int n, const char *name)
{
	NamePos		key = {name, -1};
	const NamePos *hit;

	if (n == 0)
		return -1;
	hit = bsearch(&key, np, n, sizeof(NamePos), cmp_namepos);
	return hit ? hit->pos : -1;
}

static bool
compat_record(CompatState *st, CNode *r, CNode *w, const char *path, bool report)
{
	bool		ok = true;
	NamePos    *wnames = palloc(sizeof(NamePos) * Max(w->n, 1));

	for (int k = 0; k < w->n; k++)
	{
		wnames[k].name = w->fields[k].name;
		wnames[k].pos = k;
	}
	name_sort(wnames, w->n);
	for (int i = 0; i < r->n; i++)
	{
		CField	   *rf = &r->fields[i];
		CField	   *wf = NULL;
		char	   *fpath = psprintf("%s.%s", path, rf->name);
		int			k;

		CHECK_FOR_INTERRUPTS();
		k = name_find(wnames, w->n, rf->name);
		if (k >= 0)
			wf = &w->fields[k];
		if (wf == NULL)
		{
			ListCell   *lc;

			foreach(lc, rf->aliases)
			{
				k = name_find(wnames, w->n, (char *) lfirst(lc));
				if (k >= 0)
				{
					wf = &w->fields[k];
					break;
				}
			}
		}
		if (wf != NULL)
		{
			if (!compat(st, rf->type, wf->type, fpath, report))
				ok = false;
		}
		else if (rf->deflt == NULL)
		{
			ok = false;
			if (report)
				add_reason(st, fpath, psprintf(st->reader_is_new ?
											   "field \"%s\" was added without a default" :
											   "field \"%s\" was removed, and the old schema has no default for it",
											   rf->name));
		}
		if (!ok && !report)
			return false;
	}
	return ok;
}

static bool
compat_enum(CompatState *st, CNode *r, CNode *w, const char *path, bool report)
{
	bool		ok = true;
	bool		has_default = false;
	NamePos    *rsyms;

	if (r->enum_default)
		for (int i = 0; i < r->n; i++)
			if (strcmp(r->symbols[i], r->enum_default) == 0)
				has_default = true;
	if (has_default)
		return true;
	rsyms = palloc(sizeof(NamePos) * Max(r->n, 1));
	for (int i = 0; i < r->n; i++)
	{
		rsyms[i].name = r->symbols[i];
		rsyms[i].pos = i;
	}
	name_sort(rsyms, r->n);
	for (int k = 0; k < w->n; k++)
	{
		if (name_find(rsyms, r->n, w->symbols[k]) >= 0)
			continue;
		ok = false;
		if (!report)
			return false;
		add_reason(st, path, psprintf(st->reader_is_new ?
									  "enum symbol \"%s\" was removed, and the new enum has no default" :
									  "enum symbol \"%s\" was added, and the old enum has no default",
									  w->symbols[k]));
	}
	return ok;
}

/* The rules, once r and w are known not to be a pair being compared */
static bool
compat_inner(CompatState *st, CNode *r, CNode *w, const char *path, bool report)
{
	bool		ok = true;

	if (w->kind == CK_UNION)
	{
		for (int i = 0; i < w->n; i++)
		{
			CNode	   *wb = w->sub[i];

			if (r->kind == CK_UNION)
			{
				if (reader_union(st, r, wb, path, report, w))
					continue;
			}
			else if (compat(st, r, wb, path, false))
				continue;
			else if (report)
			{
				if (shallow_match(r, wb))
					(void) compat(st, r, wb, path, true);
				else
				{
					CNode	   *old = st->reader_is_new ? w : r;
					CNode	   *new = st->reader_is_new ? r : w;

					add_reason(st, path, psprintf("type changed from %s to %s, and the branch %s cannot be read as %s",
												  tdesc(old, 0), tdesc(new, 0), tdesc(wb, 0), tdesc(r, 0)));
				}
			}
			ok = false;
			if (!report)
				return false;
		}
		return ok;
	}
	if (r->kind == CK_UNION)
		return reader_union(st, r, w, path, report, NULL);
	if (r->kind != w->kind)
	{
		if (promotable(w->kind, r->kind))
			return true;
		if (report)
			type_changed(st, path, r, w);
		return false;
	}
	switch (r->kind)
	{
		case CK_RECORD:
		case CK_ENUM:
		case CK_FIXED:
			if (!names_match(r, w))
			{
				if (report)
					name_changed(st, path, psprintf("%s name", ckind_names[r->kind]), r->name, w->name);
				return false;
			}
			if (r->kind == CK_RECORD)
				return compat_record(st, r, w, path, report);
			if (r->kind == CK_ENUM)
				return compat_enum(st, r, w, path, report);
			if (r->size != w->size)
			{
				if (report)
					name_changed(st, path, "fixed size", psprintf(INT64_FORMAT, r->size),
								 psprintf(INT64_FORMAT, w->size));
				return false;
			}
			return check_decimal(st, r, w, path, report);
		case CK_ARRAY:
			return compat(st, r->sub[0], w->sub[0], psprintf("%s[]", path), report);
		case CK_MAP:
			return compat(st, r->sub[0], w->sub[0], psprintf("%s{}", path), report);
		default:
			return check_decimal(st, r, w, path, report);
	}
}

static CompatPair *
find_pair(List *pairs, CNode *r, CNode *w)
{
	ListCell   *lc;

	foreach(lc, pairs)
	{
		CompatPair *p = lfirst(lc);

		if (p->r == r && p->w == w)
			return p;
	}
	return NULL;
}

/*
 * Can r read what w wrote?  report: add the reasons why not to st.  Pairs
 * of records are memoized: a pair met again while it is being compared is
 * taken as compatible (what is wrong with it is found where it was first
 * met), so that recursive types end; a pair whose reasons were given once
 * is only tested again.
 */
static bool
compat(CompatState *st, CNode *r, CNode *w, const char *path, bool report)
{
	CompatPair *p;
	bool		ok;

	check_stack_depth();
	CHECK_FOR_INTERRUPTS();
	if (r->kind != CK_RECORD || w->kind != CK_RECORD)
		return compat_inner(st, r, w, path, report);
	if (report)
	{
		if (find_pair(st->reported, r, w) != NULL)
			return compat(st, r, w, path, false);
		p = palloc(sizeof(CompatPair));
		p->r = r;
		p->w = w;
		p->state = PAIR_OPEN;
		st->reported = lappend(st->reported, p);
		return compat_inner(st, r, w, path, true);
	}
	p = find_pair(st->silent, r, w);
	if (p != NULL)
		return p->state != PAIR_BAD;
	p = palloc(sizeof(CompatPair));
	p->r = r;
	p->w = w;
	p->state = PAIR_OPEN;
	st->silent = lappend(st->silent, p);
	ok = compat_inner(st, r, w, path, false);
	p->state = ok ? PAIR_OK : PAIR_BAD;
	return ok;
}

/* The path of a schema's root: a record's name, else "value" */
static const char *
root_path(CNode *n)
{
	return n->kind == CK_RECORD ? short_name(n->name) : "value";
}

/*
 * Compare two parsed schemas; appends reasons to *reasons.  other: how
 * the old schema is called in reasons ("version 2").
 */
static void
compare(CNode *reader, CNode *writer, bool reader_is_new, const char *other, List **reasons)
{
	CompatState st = {0};
	CNode	   *newn = reader_is_new ? reader : writer;

	st.reader_is_new = reader_is_new;
	st.other = other;
	if (compat(&st, reader, writer, root_path(newn), true))
		return;
	if (st.reasons == NIL)		/* cannot happen; never say "incompatible" without a reason */
		type_changed(&st, root_path(newn), reader, writer);
	*reasons = list_concat(*reasons, st.reasons);
}

/* ---------------------------------------------------------------------
 * Levels and subjects
 * ---------------------------------------------------------------------
 */

/*
 * Check a new schema against the versions of a subject (const KafkaSchema
 * *s: the latest, or all of them for a transitive level) at a level;
 * returns the reasons it is incompatible (NIL: compatible).  An unknown
 * level checks nothing: the registry decides, and so it does about a
 * version this checker cannot parse (with a WARNING).  A new schema this
 * checker cannot parse is an ERROR.
 */
List *
kafkaAvroCompatCheck(const char *level, const char *schema, List *versions)
{
	const char *canonical = kafkaRegistryLevel(level);
	bool		backward;
	bool		forward;
	char	   *error;
	CNode	   *newn;
	List	   *reasons = NIL;
	ListCell   *lc;

	if (canonical == NULL || strcmp(canonical, "NONE") == 0)
		return NIL;
	backward = strncmp(canonical, "BACKWARD", 8) == 0 || strncmp(canonical, "FULL", 4) == 0;
	forward = strncmp(canonical, "FORWARD", 7) == 0 || strncmp(canonical, "FULL", 4) == 0;
	newn = compat_parse(schema, &error);
	if (newn == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot check the compatibility of an invalid Avro schema: %s", error)));
	foreach(lc, versions)
	{
		const KafkaSchema *v = lfirst(lc);
		char	   *other = psprintf("version %d", v->version);
		CNode	   *oldn;

		if (v->schema_type && pg_strcasecmp(v->schema_type, "AVRO") != 0)
		{
			reasons = lappend(reasons, psprintf("%s is a %s schema, not Avro", other, v->schema_type));
			continue;
		}
		oldn = compat_parse(v->schema, &error);
		if (oldn == NULL)
		{
			/* the registry accepted it: a gap of this checker, not of the schema */
			ereport(WARNING,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("kafka_fdw cannot check compatibility with %s of the subject: %s",
							other, error),
					 errdetail("The schema registry decides alone about that version.")));
			continue;
		}
		if (backward)
			compare(newn, oldn, true, other, &reasons);
		if (forward)
			compare(oldn, newn, false, other, &reasons);
	}
	return reasons;
}

/*
 * Check a new schema against a subject at level (the level that applies
 * to it, as the caller asked the registry): its latest version, or every
 * version for a transitive level.  latest: the subject's latest version
 * if the caller has it, else NULL (asked here).  A subject without
 * versions accepts anything.
 */
List *
kafkaAvroCompatCheckSubject(KafkaOptions *opts, const char *subject, const char *schema,
							const char *level, const KafkaSchema *latest)
{
	const char *canonical = kafkaRegistryLevel(level);
	List	   *versions = NIL;

	if (canonical == NULL || strcmp(canonical, "NONE") == 0)
		return NIL;
	if (strstr(canonical, "_TRANSITIVE") != NULL)
	{
		List	   *numbers = kafkaRegistrySubjectVersions(opts, subject);
		ListCell   *lc;

		foreach(lc, numbers)
		{
			const KafkaSchema *v = kafkaRegistrySubjectVersion(opts, subject, lfirst_int(lc), true);

			/* deleted since the list was made: nothing to be compatible with */
			if (v != NULL)
				versions = lappend(versions, (void *) v);
		}
	}
	else
	{
		if (latest == NULL)
			latest = kafkaRegistrySubjectVersion(opts, subject, KAFKA_REGISTRY_LATEST, true);
		if (latest != NULL)
			versions = list_make1((void *) latest);
	}
	return kafkaAvroCompatCheck(canonical, schema, versions);
}

/* The reasons as one detail: "At compatibility level L: r1; r2." */
static char *
reasons_detail(const char *level, List *reasons)
{
	StringInfoData s;
	ListCell   *lc;

	initStringInfo(&s);
	appendStringInfo(&s, "At compatibility level %s: ", level);
	foreach(lc, reasons)
	{
		if (foreach_current_index(lc) == COMPAT_MAX_DETAIL)
		{
			appendStringInfo(&s, "; and %d more (kafka.check_compatibility() lists them all)",
							 list_length(reasons) - COMPAT_MAX_DETAIL);
			break;
		}
		appendStringInfo(&s, "%s%s", foreach_current_index(lc) ? "; " : "", (char *) lfirst(lc));
	}
	appendStringInfoChar(&s, '.');
	return s.data;
}

#define COMPAT_HINT "Make the change compatible (a nullable column is an optional field with the default null), or change the subject's level with kafka.registry_set_compatibility('%s', '%s', level)."

/*
 * The id of a version of subject that is schema (a table's, INSERT with a
 * schema registry), or -1 if it has none; once per backend for each schema
 * text (registry.c's cache).  The latest version is used if it is the same
 * schema (canonical form), else a version the registry finds equal to it
 * (POST /subjects/{subject}).  *latest (if not NULL): the subject's latest
 * version, or NULL (none, or not asked: the id was cached).
 */
int32
kafkaAvroExistingId(KafkaOptions *opts, const char *subject, const char *schema,
					const KafkaSchema **latest_out)
{
	int32		id = kafkaRegistryRegisteredId(opts, subject, schema);
	const KafkaSchema *latest;

	if (latest_out)
		*latest_out = NULL;
	if (id >= 0)
		return id;
	latest = kafkaRegistrySubjectVersion(opts, subject, KAFKA_REGISTRY_LATEST, true);
	if (latest_out)
		*latest_out = latest;
	if (latest == NULL)
		return -1;
	if ((latest->schema_type == NULL || pg_strcasecmp(latest->schema_type, "AVRO") == 0) &&
		kafkaAvroSchemasSame(latest->schema, schema))
	{
		kafkaRegistryRemember(opts, subject, schema, latest->id);
		return latest->id;
	}
	id = kafkaRegistryLookup(opts, subject, schema, NULL, NULL);
	if (id >= 0)
		kafkaRegistryRemember(opts, subject, schema, id);
	return id;
}

/*
 * Register schema as the subject's next version (the subject has no version
 * equal to it: kafkaAvroExistingId), after kafka_fdw's own check at the
 * subject's level against latest (its latest version, NULL: none), or fail
 * (42P17) before anything is sent.  whose: what the schema is of, for the
 * error ("foreign table \"t\""); NULL: the foreign table of opts.
 */
int32
kafkaAvroRegisterNew(KafkaOptions *opts, const char *subject, const char *schema,
					 const char *whose, const KafkaSchema *latest)
{
	char	   *level;
	List	   *reasons;

	if (latest == NULL)
		return kafkaRegistryRegister(opts, subject, schema, NULL);
	level = kafkaRegistryGetCompatibility(opts, subject);
	reasons = kafkaAvroCompatCheckSubject(opts, subject, schema, level, latest);
	if (reasons != NIL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
				 errmsg("the Avro schema of %s is incompatible with subject \"%s\" in the schema registry of server \"%s\"",
						whose ? whose :
						psprintf("foreign table \"%s\"",
								 opts->table_name ? opts->table_name : get_rel_name(opts->relid)),
						subject, opts->server_name),
				 errdetail("%s", reasons_detail(level, reasons)),
				 errhint(COMPAT_HINT, opts->server_name, subject)));
	return kafkaRegistryRegister(opts, subject, schema, NULL);
}

/*
 * The id to write a schema with under a subject: an existing version equal
 * to it (kafkaAvroExistingId), else a new one (kafkaAvroRegisterNew).
 */
int32
kafkaAvroRegisterChecked(KafkaOptions *opts, const char *subject, const char *schema,
						 const char *whose)
{
	const KafkaSchema *latest;
	int32		id = kafkaAvroExistingId(opts, subject, schema, &latest);

	if (id >= 0)
		return id;
	return kafkaAvroRegisterNew(opts, subject, schema, whose, latest);
}

/* ---------------------------------------------------------------------
 * ALTER FOREIGN TABLE: the event trigger
 * ---------------------------------------------------------------------
 */

/*
 * Does an ALTER TABLE subcommand change what a table's Avro schema is made
 * of, or which subject it goes to?  Columns and their options (json
 * renames a field, key or partition takes a column out of the value);
 * table options that name the topic, the format or a schema, not the
 * others (on_error, batch_size, librdkafka's, ...).
 */
static bool
changes_schema(AlterTableCmd *at)
{
	ListCell   *lc;

	switch (at->subtype)
	{
		case AT_AddColumn:
		case AT_AddColumnRecurse:
		case AT_DropColumn:
		case AT_DropColumnRecurse:
		case AT_AlterColumnType:
		case AT_SetNotNull:
		case AT_DropNotNull:
		case AT_AlterColumnGenericOptions:
			return true;
		case AT_GenericOptions:
			foreach(lc, (List *) at->def)
			{
				const char *name = ((DefElem *) lfirst(lc))->defname;

				if (strcmp(name, "topic") == 0 || strcmp(name, "format") == 0 ||
					strstr(name, "schema") != NULL || strstr(name, "subject") != NULL)
					return true;
			}
			return false;
		default:
			return false;
	}
}

/*
 * The relations the current command changed in a way that may change an
 * Avro schema: from pg_event_trigger_ddl_commands(), whose command column
 * is the CollectedCommand itself.  An ALTER TABLE counts if one of its
 * subcommands does (for each relation it reached: a column added through
 * a parent reaches its children); other commands (RENAME, SET SCHEMA)
 * always count.  Commands of extension scripts are left alone.
 */
static List *
altered_relations(void)
{
	MemoryContext cxt = CurrentMemoryContext;
	List	   *result = NIL;
	int			rc;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	rc = SPI_execute("SELECT objid, command FROM pg_catalog.pg_event_trigger_ddl_commands()"
					 " WHERE classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND NOT in_extension",
					 true, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(rc));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		Oid			objid = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		CollectedCommand *cmd = (CollectedCommand *)
			DatumGetPointer(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull));
		MemoryContext old = MemoryContextSwitchTo(cxt);

		if (isnull || cmd == NULL)
			result = list_append_unique_oid(result, objid);
		else if (cmd->type == SCT_AlterTable)
		{
			ListCell   *lc;

			foreach(lc, cmd->d.alterTable.subcmds)
			{
				CollectedATSubcmd *sub = lfirst(lc);
				AlterTableCmd *at = (AlterTableCmd *) sub->parsetree;

				if (at == NULL || !IsA(at, AlterTableCmd) || !changes_schema(at))
					continue;
				if (sub->address.classId == RelationRelationId && OidIsValid(sub->address.objectId))
					result = list_append_unique_oid(result, sub->address.objectId);
				else
					result = list_append_unique_oid(result, objid);
			}
		}
		else
			result = list_append_unique_oid(result, objid);
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
	return result;
}

/* An option of a list, or NULL */
static const char *
option_value(List *options, const char *name)
{
	ListCell   *lc;

	foreach(lc, options)
	{
		DefElem    *def = lfirst(lc);

		if (strcmp(def->defname, name) == 0)
			return defGetString(def);
	}
	return NULL;
}

/*
 * The options of a table and the schema derived from it, or NULL if it
 * has none as it stands: an error of the FDW class (a column whose name
 * is not an Avro name, on_error 'junk' before its junk column is added,
 * ...) leaves the table to the statements that use it, which fail with
 * that error, so ALTER does not.  In a subtransaction: reading the
 * options opens the table, the derivation looks up types and opens tuple
 * descriptors.
 */
/* derived_schema's arguments and result, for kafkaInSubxactCatching */
typedef struct DeriveCall
{
	Oid			relid;
	KafkaOptions *opts;
	char	   *schema;
} DeriveCall;

static void
derive_call(void *arg)
{
	DeriveCall *c = arg;

	c->opts = kafkaGetOptions(c->relid, NULL);
	c->schema = kafkaAvroSchemaForTable(c->opts);
}

static bool
is_fdw_error(int sqlerrcode)
{
	return ERRCODE_TO_CATEGORY(sqlerrcode) == ERRCODE_FDW_ERROR;
}

static char *
derived_schema(Oid relid, KafkaOptions **optsp)
{
	DeriveCall	c = {relid, NULL, NULL};
	ErrorData  *edata = kafkaInSubxactCatching(derive_call, &c, is_fdw_error);

	if (edata != NULL)
	{
		FreeErrorData(edata);
		return NULL;
	}
	*optsp = c.opts;
	return c.schema;
}

/* What is being checked, for the context of errors (a registry that fails) */
typedef struct AlterCheck
{
	const char *table;
	const char *subject;
	const char *server;
} AlterCheck;

static void
alter_check_context(void *arg)
{
	AlterCheck *ac = arg;

	errcontext("checking the Avro schema of foreign table \"%s\" against subject \"%s\" of the schema registry of server \"%s\" (SET kafka_fdw.check_compatibility_on_alter = off skips this check)",
			   ac->table, ac->subject, ac->server);
}

/*
 * Check the schema of a foreign table after an ALTER: a kafka_fdw table of
 * format avro on a server with a schema registry and without an inline
 * avro_schema; anything else is left at once, from the catalogs alone.
 */
static void
check_altered_table(Oid relid)
{
	ForeignTable *ft;
	ForeignServer *server;
	const char *format;
	KafkaOptions *opts;
	char	   *schema;
	AlterCheck	ac;
	ErrorContextCallback errcb;
	char	   *level;
	List	   *reasons;
	const KafkaSchema *latest;

	if (get_rel_relkind(relid) != RELKIND_FOREIGN_TABLE)
		return;
	ft = GetForeignTable(relid);
	server = GetForeignServer(ft->serverid);
	if (strcmp(GetForeignDataWrapper(server->fdwid)->fdwname, KAFKA_FDW_NAME) != 0)
		return;
	format = option_value(ft->options, "format");
	if (format == NULL)
		format = option_value(server->options, "format");
	if (format == NULL || pg_strcasecmp(format, "avro") != 0 ||
		option_value(ft->options, "avro_schema") != NULL ||
		option_value(server->options, "schema_registry") == NULL ||
		option_value(ft->options, "topic") == NULL)
		return;

	schema = derived_schema(relid, &opts);
	if (schema == NULL)
		return;
	ac.table = opts->table_name;
	ac.subject = kafkaAvroValueSubject(opts, schema);
	ac.server = opts->server_name;
	errcb.callback = alter_check_context;
	errcb.arg = &ac;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;
	latest = kafkaRegistrySubjectVersion(opts, ac.subject, KAFKA_REGISTRY_LATEST, true);
	/* INSERT will write with the latest version if the table fits it: no new version */
	if (latest && (latest->schema_type == NULL || pg_strcasecmp(latest->schema_type, "AVRO") == 0) &&
		kafkaAvroTableFits(schema, latest->schema))
	{
		error_context_stack = errcb.previous;
		return;
	}
	level = kafkaRegistryGetCompatibility(opts, ac.subject);
	reasons = kafkaAvroCompatCheckSubject(opts, ac.subject, schema, level, latest);
	error_context_stack = errcb.previous;
	if (reasons != NIL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
				 errmsg("the new Avro schema of foreign table \"%s\" is incompatible with subject \"%s\" in the schema registry of server \"%s\"",
						ac.table, ac.subject, ac.server),
				 errdetail("%s", reasons_detail(level, reasons)),
				 errhint(COMPAT_HINT, ac.server, ac.subject)));
}

PG_FUNCTION_INFO_V1(kafka_check_altered_avro_tables);

/*
 * The event trigger kafka_avro_compatibility (ddl_command_end of ALTER
 * FOREIGN TABLE and ALTER TABLE): each foreign table whose derived Avro
 * schema the command may have changed must stay compatible with the
 * subject INSERT writes under ("<topic>-value" by default) at the subject's
 * level, or the command fails and is rolled back.  Runs as the user who runs the command, with that
 * user's mapping for the registry; it cannot be called from SQL.  Skipped
 * when kafka_fdw.check_compatibility_on_alter is off, and when
 * check_function_bodies is (as when a dump is restored).
 */
Datum
kafka_check_altered_avro_tables(PG_FUNCTION_ARGS)
{
	List	   *relids;
	ListCell   *lc;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_EVENT_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("kafka.check_altered_avro_tables() must be called as an event trigger")));
	if (!compat_check_on_alter || !check_function_bodies)
		PG_RETURN_VOID();
	relids = altered_relations();
	foreach(lc, relids)
		check_altered_table(lfirst_oid(lc));
	PG_RETURN_VOID();
}

/* The GUC, from _PG_init */
void
kafkaAvroCompatInit(void)
{
	DefineCustomBoolVariable("kafka_fdw.check_compatibility_on_alter",
							 "Check the new Avro schema of a foreign table on a schema registry against its subject at ALTER FOREIGN TABLE.",
							 "Off: ALTER does not ask the registry (INSERT still checks before it registers a new version).",
							 &compat_check_on_alter,
							 true,
							 PGC_USERSET, 0,
							 NULL, NULL, NULL);
}
