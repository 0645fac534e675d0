/*-------------------------------------------------------------------------
 *
 * codec_json.c
 *		  Format json: one JSON object per message, its keys the value
 *		  columns (by name, or the column option json).
 *
 *		  Decoding: a single-pass scanner walks the top-level object; values
 *		  of keys no needed column maps to are skipped (structurally
 *		  checked) without being converted.  Strings -> the column's input
 *		  function (text directly); numbers and booleans -> their literal;
 *		  null -> NULL; objects and arrays -> json/jsonb columns as they
 *		  are, text columns as JSON text, array columns as PostgreSQL arrays
 *		  and composite columns as records (both recursively).  With the
 *		  table option strict, a key no value column maps to is an error.
 *		  In salvage mode (message.c, on_error 'junk') a field that fails
 *		  is left NULL and the others are decoded.
 *
 *		  Encoding (INSERT): one object of the value columns by their json
 *		  name; NULL as null, numbers and booleans as literals, json/jsonb
 *		  embedded, everything else (arrays, composites, dates, ...) the way
 *		  PostgreSQL's to_json() writes it.
 *
 *-------------------------------------------------------------------------
 */
#include "kafka_fdw.h"

#include "catalog/pg_type.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "nodes/makefuncs.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/typcache.h"

typedef struct JsonScanner
{
	const char *p;				/* current position */
	const char *end;			/* end of input */
	const char *err;			/* first error, or NULL */
} JsonScanner;

static inline void
skip_ws(JsonScanner *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
		s->p++;
}

static bool
fail(JsonScanner *s, const char *msg)
{
	if (s->err == NULL)
		s->err = msg;
	return false;
}

/*
 * After a member of an object or array: true with *more if a comma follows
 * (the comma is taken), true with !*more at the closing bracket (taken);
 * false, with the error set, at anything else.
 */
static bool
after_member(JsonScanner *s, char close, bool *more)
{
	skip_ws(s);
	if (s->p < s->end && (*s->p == ',' || *s->p == close))
	{
		*more = *s->p++ == ',';
		return true;
	}
	return fail(s, close == '}' ? "expected ',' or '}' in JSON object" : "expected ',' or ']' in JSON array");
}

/*
 * Scan a string starting at the opening quote.  On return *start and *len are the
 * raw content between the quotes and *escaped tells whether it has escapes.
 */
static bool
scan_string(JsonScanner *s, const char **start, size_t *len, bool *escaped)
{
	const char *p = s->p + 1;

	*escaped = false;
	*start = p;
	for (;;)
	{
		const char *q = memchr(p, '"', s->end - p);
		const char *b;

		if (q == NULL)
			return fail(s, "unterminated string");
		/* a quote is escaped if preceded by an odd number of backslashes */
		b = q;
		while (b > *start && b[-1] == '\\')
			b--;
		if (((q - b) & 1) == 0)
		{
			*escaped = memchr(*start, '\\', q - *start) != NULL;
			*len = q - *start;
			s->p = q + 1;
			return true;
		}
		p = q + 1;
	}
}


/* Unescape JSON string content into buf; false with *err on a bad escape */
static bool
unescape(const char *p, size_t len, StringInfo buf, const char **err)
{
	const char *end = p + len;

	resetStringInfo(buf);
	while (p < end)
	{
		const char *bs = memchr(p, '\\', end - p);

		if (bs == NULL)
		{
			appendBinaryStringInfo(buf, p, end - p);
			break;
		}
		appendBinaryStringInfo(buf, p, bs - p);
		p = bs + 1;
		if (p >= end)
			return (*err = "bad escape in string", false);
		switch (*p)
		{
			case '"':
			case '\\':
			case '/':
				appendStringInfoChar(buf, *p);
				p++;
				break;
			case 'b':
				appendStringInfoChar(buf, '\b');
				p++;
				break;
			case 'f':
				appendStringInfoChar(buf, '\f');
				p++;
				break;
			case 'n':
				appendStringInfoChar(buf, '\n');
				p++;
				break;
			case 'r':
				appendStringInfoChar(buf, '\r');
				p++;
				break;
			case 't':
				appendStringInfoChar(buf, '\t');
				p++;
				break;
			case 'u':
				{
					pg_wchar	c = 0;
					char		out[MAX_UNICODE_EQUIVALENT_STRING + 1];

					for (int k = 0; k < 2; k++)
					{
						int			v = 0;

						if (end - p < 5)
							return (*err = "bad \\u escape in string", false);
						for (int i = 1; i <= 4; i++)
						{
							int			h = kafkaHexDigit(p[i]);

							if (h < 0)
								return (*err = "bad \\u escape in string", false);
							v = v * 16 + h;
						}
						p += 5;
						if (k == 0)
						{
							c = v;
							if (!is_utf16_surrogate_first(c))
								break;
							if (end - p < 2 || p[0] != '\\' || p[1] != 'u')
								return (*err = "unpaired Unicode surrogate in string", false);
							p++;
						}
						else
						{
							if (!is_utf16_surrogate_second(v))
								return (*err = "unpaired Unicode surrogate in string", false);
							c = surrogate_pair_to_codepoint(c, v);
						}
					}
					if (c == 0)
						return (*err = "\\u0000 cannot be converted to text", false);
					if (is_utf16_surrogate_second(c))
						return (*err = "unpaired Unicode surrogate in string", false);
					pg_unicode_to_server(c, (unsigned char *) out);
					appendStringInfoString(buf, out);
					break;
				}
			default:
				return (*err = "bad escape in string", false);
		}
	}
	return true;
}

static bool skip_value(JsonScanner *s, int depth);

/* strict, on_error 'junk': the unknown keys of a message junk_error names */
#define JSON_MAX_LISTED_KEYS 100

/* Skip an object or array starting at its opening bracket */
static bool
skip_container(JsonScanner *s, int depth)
{
	char		close = *s->p == '{' ? '}' : ']';
	bool		obj = *s->p == '{';
	bool		first = true;

	if (depth > 200)
		return fail(s, "JSON nested too deeply");
	s->p++;
	for (;;)
	{
		skip_ws(s);
		if (s->p >= s->end)
			return fail(s, "unexpected end of JSON");
		if (*s->p == close && first)
		{
			s->p++;
			return true;
		}
		if (obj)
		{
			const char *k;
			size_t		kl;
			bool		esc;

			if (*s->p != '"')
				return fail(s, "expected string key in JSON object");
			if (!scan_string(s, &k, &kl, &esc))
				return false;
			skip_ws(s);
			if (s->p >= s->end || *s->p != ':')
				return fail(s, "expected ':' in JSON object");
			s->p++;
		}
		if (!skip_value(s, depth + 1))
			return false;
		skip_ws(s);
		if (s->p >= s->end)
			return fail(s, "unexpected end of JSON");
		if (*s->p == ',')
		{
			s->p++;
			first = false;
			continue;
		}
		if (*s->p == close)
		{
			s->p++;
			return true;
		}
		return fail(s, obj ? "expected ',' or '}' in JSON object" : "expected ',' or ']' in JSON array");
	}
}

static bool
scan_literal(JsonScanner *s)
{
	const char *p = s->p;

	while (p < s->end && (isalnum((unsigned char) *p) || *p == '-' || *p == '+' || *p == '.'))
		p++;
	if (p == s->p)
		return fail(s, "unexpected character in JSON");
	s->p = p;
	return true;
}

static bool
skip_value(JsonScanner *s, int depth)
{
	skip_ws(s);
	if (s->p >= s->end)
		return fail(s, "unexpected end of JSON");
	if (*s->p == '"')
	{
		const char *st;
		size_t		l;
		bool		e;

		return scan_string(s, &st, &l, &e);
	}
	if (*s->p == '{' || *s->p == '[')
		return skip_container(s, depth);
	return scan_literal(s);
}

/* Is the literal [p, p+len) a valid JSON number / true / false / null? */
static bool
valid_literal(const char *p, size_t len)
{
	const char *e = p + len;

	if ((len == 4 && memcmp(p, "true", 4) == 0) || (len == 5 && memcmp(p, "false", 5) == 0) ||
		(len == 4 && memcmp(p, "null", 4) == 0))
		return true;
	if (p < e && *p == '-')
		p++;
	if (p >= e || !isdigit((unsigned char) *p))
		return false;
	if (*p == '0')
		p++;
	else
		while (p < e && isdigit((unsigned char) *p))
			p++;
	if (p < e && *p == '.')
	{
		p++;
		if (p >= e || !isdigit((unsigned char) *p))
			return false;
		while (p < e && isdigit((unsigned char) *p))
			p++;
	}
	if (p < e && (*p == 'e' || *p == 'E'))
	{
		p++;
		if (p < e && (*p == '+' || *p == '-'))
			p++;
		if (p >= e || !isdigit((unsigned char) *p))
			return false;
		while (p < e && isdigit((unsigned char) *p))
			p++;
	}
	return p == e;
}

static bool json_to_pg_literal(JsonScanner *s, Oid typid, StringInfo out, int depth);

/*
 * The text of the scalar JSON value at s->p (not end of input): a string's
 * content, unescaped; a number or literal as it is written; and an object or
 * array meant for a type that is neither an array nor a composite, as its
 * JSON text.
 */
static bool
json_scalar_literal(JsonScanner *s, StringInfo out, int depth)
{
	if (*s->p == '"')
	{
		const char *st;
		size_t		l;
		bool		esc;

		if (!scan_string(s, &st, &l, &esc))
			return false;
		if (esc)
		{
			StringInfoData u;

			initStringInfo(&u);
			if (!unescape(st, l, &u, &s->err))
				return false;
			appendBinaryStringInfo(out, u.data, u.len);
			pfree(u.data);
		}
		else
			appendBinaryStringInfo(out, st, l);
		return true;
	}
	{
		/* number, literal, or a container into a non-array/composite: JSON text */
		const char *st = s->p;

		if (*s->p == '{' || *s->p == '[')
		{
			if (!skip_container(s, depth))
				return false;
		}
		else
		{
			if (!scan_literal(s))
				return false;
			if (!valid_literal(st, s->p - st))
				return fail(s, "invalid JSON literal");
		}
		appendBinaryStringInfo(out, st, s->p - st);
		return true;
	}
}

/*
 * The array literal '{...}' of array type typid (element type elemtype) for
 * the JSON array at s->p (its '[').  Elements are quoted, null gives NULL; a
 * nested JSON array is another dimension unless the element type takes
 * arrays, records or JSON itself.
 */
static bool
json_array_literal(JsonScanner *s, Oid typid, Oid elemtype, StringInfo out, int depth)
{
	bool		first = true;
	bool		more;

	s->p++;
	appendStringInfoChar(out, '{');
	for (;;)
	{
		skip_ws(s);
		if (s->p < s->end && *s->p == ']' && first)
		{
			s->p++;
			break;
		}
		if (!first)
			appendStringInfoChar(out, ',');
		skip_ws(s);
		if (s->p < s->end && *s->p == '[' && !OidIsValid(get_element_type(elemtype)) &&
			get_typtype(getBaseType(elemtype)) != TYPTYPE_COMPOSITE && elemtype != JSONOID &&
			elemtype != JSONBOID)
		{
			/* a nested array: another dimension of the same array */
			if (!json_to_pg_literal(s, typid, out, depth + 1))
				return false;
		}
		else
		{
			StringInfoData el;

			initStringInfo(&el);
			if (s->end - s->p >= 4 && memcmp(s->p, "null", 4) == 0)
			{
				s->p += 4;
				appendStringInfoString(out, "NULL");
			}
			else
			{
				if (!json_to_pg_literal(s, elemtype, &el, depth + 1))
					return false;
				kafkaAppendQuoted(out, el.data, el.len);
			}
			pfree(el.data);
		}
		first = false;
		if (!after_member(s, ']', &more))
			return false;
		if (!more)
			break;
	}
	appendStringInfoChar(out, '}');
	return true;
}

/*
 * The record literal '(...)' of composite type typid (or a domain over one)
 * for the JSON object at s->p (its '{').  Keys match attributes by name;
 * other keys are skipped, and attributes without a key or with null are
 * left empty (NULL).
 */
static bool
json_record_literal(JsonScanner *s, Oid typid, StringInfo out, int depth)
{
	TupleDesc	td = lookup_rowtype_tupdesc(getBaseType(typid), -1);
	int			natts = td->natts;
	char	  **vals = palloc0(sizeof(char *) * Max(natts, 1));
	int		   *lens = palloc0(sizeof(int) * Max(natts, 1));
	bool		first = true;
	bool		more;

	s->p++;
	for (;;)
	{
		const char *k;
		size_t		kl;
		bool		esc;
		int			att = -1;

		skip_ws(s);
		if (s->p < s->end && *s->p == '}' && first)
		{
			s->p++;
			break;
		}
		if (s->p >= s->end || *s->p != '"')
		{
			ReleaseTupleDesc(td);
			return fail(s, "expected string key in JSON object");
		}
		if (!scan_string(s, &k, &kl, &esc))
		{
			ReleaseTupleDesc(td);
			return false;
		}
		for (int i = 0; i < natts; i++)
		{
			Form_pg_attribute a = TupleDescAttr(td, i);

			if (!a->attisdropped && strlen(NameStr(a->attname)) == kl &&
				memcmp(NameStr(a->attname), k, kl) == 0)
				att = i;
		}
		skip_ws(s);
		if (s->p >= s->end || *s->p != ':')
		{
			ReleaseTupleDesc(td);
			return fail(s, "expected ':' in JSON object");
		}
		s->p++;
		skip_ws(s);
		if (att < 0)
		{
			if (!skip_value(s, depth + 1))
			{
				ReleaseTupleDesc(td);
				return false;
			}
		}
		else if (s->end - s->p >= 4 && memcmp(s->p, "null", 4) == 0)
		{
			s->p += 4;
			vals[att] = NULL;
		}
		else
		{
			StringInfoData el;

			initStringInfo(&el);
			if (!json_to_pg_literal(s, TupleDescAttr(td, att)->atttypid, &el, depth + 1))
			{
				ReleaseTupleDesc(td);
				return false;
			}
			vals[att] = el.data;
			lens[att] = el.len;
		}
		first = false;
		if (!after_member(s, '}', &more))
		{
			ReleaseTupleDesc(td);
			return false;
		}
		if (!more)
			break;
	}
	/* record_in skips dropped attributes: no field, and no comma, for them */
	appendStringInfoChar(out, '(');
	first = true;
	for (int i = 0; i < natts; i++)
	{
		if (TupleDescAttr(td, i)->attisdropped)
			continue;
		if (!first)
			appendStringInfoChar(out, ',');
		first = false;
		if (vals[i])
			kafkaAppendQuoted(out, vals[i], lens[i]);
	}
	appendStringInfoChar(out, ')');
	ReleaseTupleDesc(td);
	return true;
}

/*
 * Convert the JSON value at s->p into the text literal of type typid, for
 * arrays and composites.  Scalars give their text; nested arrays/records
 * recurse; anything else gives JSON text.
 */
static bool
json_to_pg_literal(JsonScanner *s, Oid typid, StringInfo out, int depth)
{
	Oid			elemtype = get_element_type(typid);
	char		typtype = get_typtype(getBaseType(typid));

	skip_ws(s);
	if (s->p >= s->end)
		return fail(s, "unexpected end of JSON");
	if (depth > 100)
		return fail(s, "JSON nested too deeply");

	if (*s->p == '[' && OidIsValid(elemtype))
		return json_array_literal(s, typid, elemtype, out, depth);
	if (*s->p == '{' && typtype == TYPTYPE_COMPOSITE)
		return json_record_literal(s, typid, out, depth);
	return json_scalar_literal(s, out, depth);
}

/* Does column col map to the top-level key k? */
static inline bool
key_matches(KafkaColumn *col, const char *k, size_t kl)
{
	return col->json_name_len == kl && memcmp(col->json_name, k, kl) == 0;
}

/*
 * Where the value of a needed column is in the message: its extent and, for
 * a string, its content, so that converting it scans nothing again.
 */
typedef struct JsonValueRef
{
	const char *start;			/* first byte of the value; NULL: key absent */
	const char *end;			/* one past its last byte */
	const char *str;			/* string: content between the quotes */
	size_t		len;			/* its length */
	bool		escaped;		/* string: it has escapes */
} JsonValueRef;

/* Scan (and structurally check) the value at s->p, recording where it is */
static bool
scan_value_ref(JsonScanner *s, JsonValueRef *v)
{
	v->start = s->p;
	v->escaped = false;
	if (*s->p == '"')
	{
		if (!scan_string(s, &v->str, &v->len, &v->escaped))
			return false;
	}
	else if (*s->p == '{' || *s->p == '[')
	{
		if (!skip_container(s, 0))
			return false;
	}
	else if (!scan_literal(s))
		return false;
	v->end = s->p;
	return true;
}

/* Convert one JSON value, scanned into v, into column col */
static bool
decode_field(KafkaDecoder *dec, JsonScanner *s, KafkaColumn *col, JsonValueRef *v, Datum *value, bool *isnull)
{
	const char *st = v->start;

	*isnull = false;
	s->p = v->end;				/* errors point after the value */
	if (*st == '"')
	{
		const char *str = v->str;
		size_t		len = v->len;

		if (col->typid == JSONOID || col->typid == JSONBOID)
		{
			*value = kafkaColumnFromText(col, st, v->end - st);
			return true;
		}
		if (v->escaped)
		{
			if (!unescape(str, len, &dec->buf, &s->err))
				return false;
			str = dec->buf.data;
			len = dec->buf.len;
		}
		*value = kafkaColumnFromText(col, str, len);
		return true;
	}
	if (*st == '{' || *st == '[')
	{
		bool		structured = (*st == '[' && OidIsValid(get_element_type(col->typid))) ||
			(*st == '{' && col->category == TYPCATEGORY_COMPOSITE);

		if (structured)
		{
			resetStringInfo(&dec->buf2);
			s->p = st;
			if (!json_to_pg_literal(s, col->typid, &dec->buf2, 0))
				return false;
			*value = kafkaColumnFromText(col, dec->buf2.data, dec->buf2.len);
			return true;
		}
		*value = kafkaColumnFromText(col, st, v->end - st);
		return true;
	}
	if (!valid_literal(st, v->end - st))
		return fail(s, "invalid JSON literal");
	if (v->end - st == 4 && memcmp(st, "null", 4) == 0)
	{
		*isnull = true;
		return true;
	}
	*value = kafkaColumnFromText(col, st, v->end - st);
	return true;
}

/* One field for kafkaSalvageField */
typedef struct JsonField
{
	KafkaDecoder *dec;
	JsonScanner *s;
	KafkaColumn *col;
	JsonValueRef *v;
	Datum	   *value;
	bool	   *isnull;
} JsonField;

static void
json_field_call(void *arg)
{
	JsonField  *f = arg;

	(void) decode_field(f->dec, f->s, f->col, f->v, f->value, f->isnull);
}

/*
 * Salvage mode: convert one field, so that whatever fails (a bad escape or
 * literal, a value of the wrong shape for the column, the type's input
 * function) leaves the field NULL and is recorded, and the others go on.
 */
static void
salvage_field(KafkaDecoder *dec, JsonScanner *s, const char *data, KafkaColumn *col, JsonValueRef *v,
			  Datum *value, bool *isnull)
{
	JsonField	f = {dec, s, col, v, value, isnull};

	kafkaSalvageField(dec, col, json_field_call, &f, isnull);
	if (s->err)
	{
		*isnull = true;
		dec->errors = lappend(dec->errors, psprintf("%s at byte %d", s->err, (int) (s->p - data)));
		s->err = NULL;
	}
}

/* Is k (kl bytes) the key of a value column of the table (strict)? */
static bool
key_is_column(KafkaOptions *o, const char *k, size_t kl)
{
	for (int i = 0; i < o->ncolumns; i++)
	{
		KafkaColumn *col = &o->columns[i];

		if (!col->dropped && col->kind == KAFKA_COL_VALUE && key_matches(col, k, kl))
			return true;
	}
	return false;
}

/*
 * Which needed column a key is for.  Messages of a topic mostly have their
 * keys in the same order, so the answer for each key position of the last
 * message is tried first: one comparison per key instead of one per needed
 * column.
 */
#define JSON_KEY_HINTS 64		/* key positions remembered */
#define JSON_HINT_KEY_LEN 32	/* a key no column needs: its bytes kept */

typedef struct JsonKeyHint
{
	int			col;			/* needed index, -1: no column, -2: not known */
	int			len;			/* col -1: the key's length and bytes */
	char		key[JSON_HINT_KEY_LEN];
} JsonKeyHint;

typedef struct JsonDecodeState
{
	JsonValueRef *refs;			/* per needed column: where its value is */
	int		   *next_same;		/* per needed column: the next one with the
								 * same key, or -1 */
	JsonKeyHint hints[JSON_KEY_HINTS];
} JsonDecodeState;

static JsonDecodeState *
json_decode_state(KafkaDecoder *dec)
{
	JsonDecodeState *st = dec->codec_state;

	if (st == NULL)
	{
		/* the decoder's own context: calls run in a per-message one */
		MemoryContext cxt = GetMemoryChunkContext(dec);
		int			n = Max(dec->nneeded, 1);

		st = MemoryContextAllocZero(cxt, sizeof(JsonDecodeState));
		st->refs = MemoryContextAlloc(cxt, sizeof(JsonValueRef) * n);
		st->next_same = MemoryContextAlloc(cxt, sizeof(int) * n);
		for (int i = 0; i < dec->nneeded; i++)
		{
			KafkaColumn *a = dec->needed[i];

			st->next_same[i] = -1;
			for (int j = i + 1; j < dec->nneeded; j++)
				if (key_matches(dec->needed[j], a->json_name, a->json_name_len))
				{
					st->next_same[i] = j;
					break;
				}
		}
		for (int i = 0; i < JSON_KEY_HINTS; i++)
			st->hints[i].col = -2;
		dec->codec_state = st;
	}
	return st;
}

/*
 * The first needed column (by index) whose key is k, or -1; pos is the
 * key's position in the message.  Only the first of several columns with
 * one key is answered (json_decode copies its value to the others).
 */
static inline int
key_column(KafkaDecoder *dec, JsonDecodeState *st, int pos, const char *k, size_t kl)
{
	JsonKeyHint *h = pos < JSON_KEY_HINTS ? &st->hints[pos] : NULL;
	int			found = -1;

	if (kl == 0)
		return -1;
	if (h)
	{
		if (h->col >= 0 && key_matches(dec->needed[h->col], k, kl))
			return h->col;
		if (h->col == -1 && h->len == (int) kl && memcmp(h->key, k, kl) == 0)
			return -1;
	}
	for (int i = 0; i < dec->nneeded; i++)
		if (key_matches(dec->needed[i], k, kl))
		{
			found = i;
			break;
		}
	if (h)
	{
		h->col = found;
		if (found < 0)
		{
			/* a long key no column needs is looked up each time */
			if (kl <= JSON_HINT_KEY_LEN)
				memcpy(h->key, k, kl);
			else
				h->col = -2;
			h->len = (int) kl;
		}
	}
	return found;
}

/*
 * Decode a JSON object message.  A first pass checks the whole object and
 * notes where the value of each needed column is; a key that appears twice
 * counts with its last value (as in jsonb), so only then are the values
 * converted, each once.
 */
static bool
json_decode(KafkaDecoder *dec, const char *data, size_t len,
			Datum *values, bool *nulls, char **reason)
{
	JsonScanner s = {data, data + len, NULL};
	bool		first = true;
	bool		more;
	JsonDecodeState *st = json_decode_state(dec);
	JsonValueRef *refs = st->refs;
	int			unknown_keys = 0;	/* strict, salvage: keys no column maps to */
	int			pos = 0;		/* the key's position in the object */

	for (int i = 0; i < dec->nneeded; i++)
		refs[i].start = NULL;

	skip_ws(&s);
	if (s.p >= s.end || *s.p != '{')
	{
		*reason = pstrdup("message is not a JSON object");
		return false;
	}
	s.p++;
	for (;;)
	{
		const char *k;
		size_t		kl;
		bool		esc;

		skip_ws(&s);
		if (s.p < s.end && *s.p == '}' && first)
		{
			s.p++;
			break;
		}
		if (s.p >= s.end || *s.p != '"')
		{
			fail(&s, "expected string key in JSON object");
			break;
		}
		if (!scan_string(&s, &k, &kl, &esc))
			break;
		if (esc)
		{
			if (!unescape(k, kl, &dec->buf, &s.err))
				break;
			k = pstrdup(dec->buf.data);
			kl = dec->buf.len;
		}
		skip_ws(&s);
		if (s.p >= s.end || *s.p != ':')
		{
			fail(&s, "expected ':' in JSON object");
			break;
		}
		s.p++;
		skip_ws(&s);
		if (s.p >= s.end)
		{
			fail(&s, "unexpected end of JSON");
			break;
		}
		{
			int			matched = key_column(dec, st, pos++, k, kl);

			if (matched >= 0)
			{
				if (!scan_value_ref(&s, &refs[matched]))
					break;
				/* several columns may map to one key: each notes the value */
				for (int i = st->next_same[matched]; i >= 0; i = st->next_same[i])
					refs[i] = refs[matched];
			}
			if (matched < 0)
			{
				/* strict: a key the table lacks is an error */
				if (unlikely(dec->opts->strict) && !key_is_column(dec->opts, k, kl))
				{
					/*
					 * junk_error lists the first ones and counts the rest: a
					 * message of many short keys must not make it (and the
					 * list) many times the size of the message
					 */
					if (!dec->salvage || ++unknown_keys <= JSON_MAX_LISTED_KEYS)
					{
						char	   *problem = psprintf("JSON key \"%s\" is not a column of the foreign table",
													   pnstrdup(k, kl));

						if (!dec->salvage)
						{
							*reason = problem;
							return false;
						}
						dec->errors = lappend(dec->errors, problem);
					}
				}
				if (!skip_value(&s, 1))
					break;
			}
		}
		first = false;
		if (!after_member(&s, '}', &more) || !more)
			break;
	}
	if (unknown_keys > JSON_MAX_LISTED_KEYS)
		dec->errors = lappend(dec->errors,
							  psprintf("%d more JSON keys that are not columns of the foreign table",
									   unknown_keys - JSON_MAX_LISTED_KEYS));
	if (s.err == NULL)
	{
		skip_ws(&s);
		if (s.p != s.end)
			fail(&s, "unexpected data after the JSON object");
	}
	for (int i = 0; s.err == NULL && i < dec->nneeded; i++)
	{
		KafkaColumn *col = dec->needed[i];

		if (refs[i].start == NULL)
			continue;
		if (likely(!dec->salvage))
			(void) decode_field(dec, &s, col, &refs[i], &values[col->attnum - 1], &nulls[col->attnum - 1]);
		else
			salvage_field(dec, &s, data, col, &refs[i], &values[col->attnum - 1], &nulls[col->attnum - 1]);
	}
	if (s.err)
	{
		*reason = psprintf("%s at byte %d", s.err, (int) (s.p - data));
		return false;
	}
	return true;
}

/* ---------------------------------------------------------------------
 * Encoding
 * ---------------------------------------------------------------------
 */

/* How a value column is written into a JSON object */
typedef enum JsonKind
{
	JK_INT2,					/* integers: the literal, formatted in place */
	JK_INT4,
	JK_INT8,
	JK_INTEGER,					/* oid: the literal from the output function */
	JK_NUMBER,					/* float/numeric: literal, or a string for NaN/Infinity */
	JK_BOOL,					/* true/false */
	JK_TEXT,					/* text/varchar: an escaped string */
	JK_JSON,					/* json: embedded as it is */
	JK_JSONB,					/* jsonb: embedded */
	JK_OTHER					/* to_json() */
} JsonKind;

static JsonKind
json_kind(Oid typid)
{
	switch (getBaseType(typid))
	{
		case INT2OID:
			return JK_INT2;
		case INT4OID:
			return JK_INT4;
		case INT8OID:
			return JK_INT8;
		case OIDOID:
			return JK_INTEGER;
		case FLOAT4OID:
		case FLOAT8OID:
		case NUMERICOID:
			return JK_NUMBER;
		case BOOLOID:
			return JK_BOOL;
		case TEXTOID:
		case VARCHAROID:
			return JK_TEXT;
		case JSONOID:
			return JK_JSON;
		case JSONBOID:
			return JK_JSONB;
		default:
			return JK_OTHER;
	}
}

/*
 * A to_json() call for one column type.  to_json() looks at the type of its
 * argument expression, so the FmgrInfo gets a dummy expression of that type;
 * it then caches its type lookups in fn_extra, once per statement.
 */
static void
init_to_json(FmgrInfo *finfo, KafkaColumn *col)
{
	Node	   *arg = (Node *) makeNullConst(col->typid, col->typmod, InvalidOid);

	fmgr_info(F_TO_JSON, finfo);
	fmgr_info_set_expr((Node *) makeFuncExpr(F_TO_JSON, JSONOID, list_make1(arg),
											 InvalidOid, InvalidOid, COERCE_EXPLICIT_CALL),
					   finfo);
}

/* Bytes a JSON string cannot hold as they are: control characters, '"', '\\' */
static bool json_escape_byte[256];
static bool json_escape_ready = false;

static void
init_json_escape(void)
{
	for (int c = 0; c < 256; c++)
		json_escape_byte[c] = c < 0x20 || c == '"' || c == '\\';
	json_escape_ready = true;
}

/* The JSON encoder of one statement: how each value column is written */
typedef struct JsonEncoder
{
	int		   *kind;			/* JsonKind of each value column */
	char	  **keys;			/* escaped "name": prefix of each */
	int		   *key_len;		/* their lengths */
	FmgrInfo   *to_json;		/* to_json() for the JK_OTHER ones */
} JsonEncoder;

static void
json_encoder_init(KafkaEncoder *enc)
{
	JsonEncoder *je = palloc0(sizeof(JsonEncoder));
	int			n = Max(enc->nvalue, 1);

	if (!json_escape_ready)
		init_json_escape();
	je->kind = palloc0(sizeof(int) * n);
	je->keys = palloc0(sizeof(char *) * n);
	je->key_len = palloc0(sizeof(int) * n);
	je->to_json = palloc0(sizeof(FmgrInfo) * n);
	for (int i = 0; i < enc->nvalue; i++)
	{
		KafkaColumn *col = enc->value_cols[i];
		StringInfoData k;

		initStringInfo(&k);
		if (i > 0)
			appendStringInfoChar(&k, ',');
		escape_json(&k, col->json_name);
		appendStringInfoChar(&k, ':');
		je->keys[i] = k.data;
		je->key_len[i] = k.len;
		je->kind[i] = json_kind(col->typid);
		if (je->kind[i] == JK_OTHER)
			init_to_json(&je->to_json[i], col);
	}
	enc->codec_state = je;
}

/*
 * Make room for n more bytes.  The hot path below writes into the buffer
 * directly after reserving, instead of a function call per piece; the
 * buffer's terminating NUL is restored once per message.
 */
static inline void
reserve(StringInfo buf, int n)
{
	if (unlikely(buf->len + n >= buf->maxlen))
		enlargeStringInfo(buf, n);
}

static inline void
put(StringInfo buf, const char *s, int n)
{
	memcpy(buf->data + buf->len, s, n);
	buf->len += n;
}

/*
 * A JSON string from text that need not be NUL-terminated, escaped as
 * escape_json() does, byte for byte, but copying unescaped runs at once:
 * text without quotes or control characters is one memcpy.  For the JSON
 * encoder and the capture of changes (outbox.c).
 */
void
kafkaAppendJsonString(StringInfo buf, const char *s, int len)
{
	const unsigned char *p = (const unsigned char *) s;
	const unsigned char *end = p + len;

	if (unlikely(!json_escape_ready))
		init_json_escape();
	reserve(buf, len + 2);
	buf->data[buf->len++] = '"';
	for (;;)
	{
		const unsigned char *run = p;
		unsigned char c;

		while (p < end && !json_escape_byte[*p])
			p++;
		put(buf, (const char *) run, p - run);
		if (p >= end)
			break;
		/* an escape: up to 6 bytes instead of 1 */
		reserve(buf, (end - p) + 6 + 1);
		c = *p++;
		buf->data[buf->len++] = '\\';
		switch (c)
		{
			case '"':
			case '\\':
				buf->data[buf->len++] = c;
				break;
			case '\b':
				buf->data[buf->len++] = 'b';
				break;
			case '\f':
				buf->data[buf->len++] = 'f';
				break;
			case '\n':
				buf->data[buf->len++] = 'n';
				break;
			case '\r':
				buf->data[buf->len++] = 'r';
				break;
			case '\t':
				buf->data[buf->len++] = 't';
				break;
			default:
				buf->len += snprintf(buf->data + buf->len, 6, "u%04x", c);
				break;
		}
	}
	buf->data[buf->len++] = '"';
	buf->data[buf->len] = '\0';	/* room was reserved */
}

/*
 * The output of a float or numeric as to_json and row_to_json write it: a
 * JSON number, or a string for NaN and (-)Infinity, the only outputs of
 * those types that do not start with a digit after an optional sign (for
 * them this is IsValidJsonNumber's answer).  For the JSON encoder and the
 * capture of changes (outbox.c).
 */
void
kafkaAppendJsonNumber(StringInfo buf, const char *s)
{
	const char *d = *s == '-' ? s + 1 : s;

	if (*d >= '0' && *d <= '9')
		appendStringInfoString(buf, s);
	else
		escape_json(buf, s);
}

static bool
json_encode(KafkaEncoder *enc, Datum *values, bool *nulls)
{
	StringInfo	buf = &enc->value;
	JsonEncoder *je = enc->codec_state;

	reserve(buf, 2);
	buf->data[buf->len++] = '{';
	for (int i = 0; i < enc->nvalue; i++)
	{
		KafkaColumn *col = enc->value_cols[i];
		Datum		d = values[col->attnum - 1];

		/* key, and room for any fixed-size value */
		reserve(buf, je->key_len[i] + 24);
		put(buf, je->keys[i], je->key_len[i]);
		if (nulls[col->attnum - 1])
		{
			put(buf, "null", 4);
			continue;
		}
		switch ((JsonKind) je->kind[i])
		{
			case JK_INT2:
				buf->len += pg_ltoa(DatumGetInt16(d), buf->data + buf->len);
				break;
			case JK_INT4:
				buf->len += pg_ltoa(DatumGetInt32(d), buf->data + buf->len);
				break;
			case JK_INT8:
				buf->len += pg_lltoa(DatumGetInt64(d), buf->data + buf->len);
				break;
			case JK_INTEGER:
				appendStringInfoString(buf, OutputFunctionCall(&col->out_func, d));
				break;
			case JK_NUMBER:
				kafkaAppendJsonNumber(buf, OutputFunctionCall(&col->out_func, d));
				break;
			case JK_BOOL:
				if (DatumGetBool(d))
					put(buf, "true", 4);
				else
					put(buf, "false", 5);
				break;
			case JK_TEXT:
				{
					text	   *t = DatumGetTextPP(d);

					kafkaAppendJsonString(buf, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
					break;
				}
			case JK_JSON:
				kafkaAppendText(buf, d);
				break;
			case JK_JSONB:
				{
					Jsonb	   *jb = DatumGetJsonbP(d);

					JsonbToCString(buf, &jb->root, VARSIZE(jb));
					break;
				}
			case JK_OTHER:
				kafkaAppendText(buf, FunctionCall1(&je->to_json[i], d));
				break;
		}
	}
	reserve(buf, 2);
	buf->data[buf->len++] = '}';
	buf->data[buf->len] = '\0';
	return true;
}

const KafkaCodec kafka_codec_json = {
	.format = KAFKA_FORMAT_JSON,
	.name = "json",
	.flags = KAFKA_CODEC_TEXT | KAFKA_CODEC_BY_FIELD,
	.decode = json_decode,
	.encoder_init = json_encoder_init,
	.encode = json_encode,
};
