/*-------------------------------------------------------------------------
 *
 * pg_shim.c
 *		  Just enough of the PostgreSQL backend for the kafka_fdw decoders
 *		  (src/codec*.c, compiled unchanged) to run inside a libFuzzer
 *		  process: palloc on malloc with a per-input arena, StringInfo,
 *		  ereport via siglongjmp, the database encoding and UTF-8
 *		  conversion, and a fake type catalog with input functions.
 *
 * Why a shim and not the real backend: there is no libpostgres, and the
 * point is to fuzz OUR parsing code.  Every allocation is its own malloc
 * chunk of exactly the requested size and StringInfo starts small and
 * grows exactly as the backend's does, so AddressSanitizer sees an
 * overrun by one byte that the backend's allocator would hide.
 * Encoding verification and UTF-8 helpers come from PostgreSQL's own
 * libpgcommon (common/wchar.c); JSON input is checked with jansson.
 *
 * Oracles beyond crashes (abort() so that libFuzzer reports them):
 *	- every string handed to a type input function, and every text datum,
 *	  is valid in the database encoding (the codec's documented invariant);
 *	- a composite type's TupleDesc reference is released on every path
 *	  that returns normally (the backend warns about a reference leak);
 *	- pfree and repalloc only get pointers palloc returned.
 *
 *-------------------------------------------------------------------------
 */
#include "fuzz_shim.h"

#include <stdio.h>
#include <stdlib.h>

#include "catalog/pg_type.h"
#include "mb/pg_wchar.h"
#include "nodes/bitmapset.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "access/xact.h"
#include "access/parallel.h"
#include "utils/resowner.h"
#include "utils/typcache.h"

/* ---- per-input arena ------------------------------------------------------------------------ */

#define CHUNK_MAGIC 0x6b61666b61636875ULL

typedef struct ShimChunk
{
	struct ShimChunk *prev;
	struct ShimChunk *next;
	size_t		size;
	uint64		magic;
	uint64		persistent;		/* in persistent_arena: kept across inputs */
} ShimChunk;

static ShimChunk *arena;		/* doubly linked list of live chunks */
static ShimChunk *persistent_arena; /* chunks that outlive inputs (shim_persistent) */
static int	in_input;
static bool shim_persistent;	/* allocate into persistent_arena */

MemoryContext CurrentMemoryContext = NULL;
MemoryContext TopMemoryContext = NULL;
MemoryContext ErrorContext = NULL;
sigjmp_buf *PG_exception_stack = NULL;
ErrorContextCallback *error_context_stack = NULL;

sigjmp_buf *shim_error_jmp = NULL;
char		shim_last_error[256];

static void shim_error(const char *fmt,...) pg_attribute_printf(1, 2) pg_attribute_noreturn();

static ShimChunk *
chunk_of(void *p)
{
	ShimChunk  *c = (ShimChunk *) ((char *) p - sizeof(ShimChunk));

	if (p == NULL || c->magic != CHUNK_MAGIC)
	{
		fprintf(stderr, "pg_shim: pfree/repalloc of a pointer palloc did not return: %p\n", p);
		abort();
	}
	return c;
}

static void *
shim_alloc(Size size, bool zero, bool huge)
{
	ShimChunk  *c;

	if (!in_input && !shim_persistent)
	{
		fprintf(stderr, "pg_shim: palloc outside an input\n");
		abort();
	}
	if (huge ? !AllocHugeSizeIsValid(size) : !AllocSizeIsValid(size))
		shim_error("invalid memory alloc request size %zu", size);
	c = malloc(sizeof(ShimChunk) + size);
	if (c == NULL)
		shim_error("out of memory");
	if (zero)
		memset(c + 1, 0, size);
	c->size = size;
	c->magic = CHUNK_MAGIC;
	c->persistent = shim_persistent;
	c->prev = NULL;
	if (shim_persistent)
	{
		c->next = persistent_arena;
		if (persistent_arena)
			persistent_arena->prev = c;
		persistent_arena = c;
		return c + 1;
	}
	c->next = arena;
	if (arena)
		arena->prev = c;
	arena = c;
	return c + 1;
}

static void
unlink_chunk(ShimChunk *c)
{
	ShimChunk **head = c->persistent ? &persistent_arena : &arena;

	if (c->prev)
		c->prev->next = c->next;
	else
		*head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->magic = 0;
}

/* Between these, pallocs outlive the input (state a harness keeps, such as a parsed schema) */
void
shim_persistent_begin(void)
{
	shim_persistent = true;
}

void
shim_persistent_end(void)
{
	shim_persistent = false;
}

void *
palloc(Size size)
{
	return shim_alloc(size, false, false);
}

void *
palloc0(Size size)
{
	return shim_alloc(size, true, false);
}

void *
palloc_extended(Size size, int flags)
{
	return shim_alloc(size, (flags & MCXT_ALLOC_ZERO) != 0, (flags & MCXT_ALLOC_HUGE) != 0);
}

void *
MemoryContextAlloc(MemoryContext context, Size size)
{
	(void) context;
	return palloc(size);
}

void *
MemoryContextAllocZero(MemoryContext context, Size size)
{
	(void) context;
	return palloc0(size);
}

void
pfree(void *pointer)
{
	ShimChunk  *c = chunk_of(pointer);

	unlink_chunk(c);
	free(c);
}

void *
repalloc(void *pointer, Size size)
{
	ShimChunk  *c = chunk_of(pointer);
	void	   *n = palloc(size);

	memcpy(n, pointer, Min(size, c->size));
	pfree(pointer);
	return n;
}

void *
repalloc_huge(void *pointer, Size size)
{
	ShimChunk  *c = chunk_of(pointer);
	void	   *n = shim_alloc(size, false, true);

	memcpy(n, pointer, Min(size, c->size));
	pfree(pointer);
	return n;
}

char *
pstrdup(const char *in)
{
	size_t		len = strlen(in);
	char	   *out = palloc(len + 1);

	memcpy(out, in, len + 1);
	return out;
}

char *
pnstrdup(const char *in, Size len)
{
	char	   *out;

	len = strnlen(in, len);
	out = palloc(len + 1);
	memcpy(out, in, len);
	out[len] = '\0';
	return out;
}

size_t
pvsnprintf(char *buf, size_t len, const char *fmt, va_list args)
{
	int			n = vsnprintf(buf, len, fmt, args);

	if (n < 0)
		shim_error("vsnprintf failed");
	return (size_t) n < len ? (size_t) n : (size_t) n + 1;
}

char *
psprintf(const char *fmt,...)
{
	va_list		ap;
	int			n;
	char	   *out;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	out = palloc(n + 1);
	va_start(ap, fmt);
	vsnprintf(out, n + 1, fmt, ap);
	va_end(ap);
	return out;
}

/* ---- errors --------------------------------------------------------------------------------- */

static int	err_level;

static void shim_throw(void) pg_attribute_noreturn();

static void
shim_throw(void)
{
	if (shim_error_jmp == NULL)
	{
		fprintf(stderr, "pg_shim: ERROR outside the harness's trap: %s\n", shim_last_error);
		abort();
	}
	siglongjmp(*shim_error_jmp, 1);
}

static void
shim_error(const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(shim_last_error, sizeof(shim_last_error), fmt, ap);
	va_end(ap);
	shim_throw();
}

bool
errstart(int elevel, const char *domain)
{
	(void) domain;
	err_level = elevel;
	shim_last_error[0] = '\0';
	return elevel >= ERROR;		/* lower levels are not shown */
}

bool
errstart_cold(int elevel, const char *domain)
{
	return errstart(elevel, domain);
}

void
errfinish(const char *filename, int lineno, const char *funcname)
{
	(void) filename;
	(void) lineno;
	(void) funcname;
	if (err_level >= PANIC)
		abort();
	if (err_level >= ERROR)
		shim_throw();
}

int
errcode(int sqlerrcode)
{
	(void) sqlerrcode;
	return 0;
}

#define SHIM_FORMAT_INTO_LAST_ERROR(fmt) \
	do { \
		va_list ap; \
		va_start(ap, fmt); \
		vsnprintf(shim_last_error, sizeof(shim_last_error), fmt, ap); \
		va_end(ap); \
	} while (0)

int
errmsg(const char *fmt,...)
{
	SHIM_FORMAT_INTO_LAST_ERROR(fmt);
	return 0;
}

int
errmsg_internal(const char *fmt,...)
{
	SHIM_FORMAT_INTO_LAST_ERROR(fmt);
	return 0;
}

int
errdetail(const char *fmt,...)
{
	(void) fmt;
	return 0;
}

int
errdetail_internal(const char *fmt,...)
{
	(void) fmt;
	return 0;
}

int
errhint(const char *fmt,...)
{
	(void) fmt;
	return 0;
}

int
errcontext_msg(const char *fmt,...)
{
	(void) fmt;
	return 0;
}

/* CHECK_FOR_INTERRUPTS: no interrupt ever arrives in a fuzzing process */
volatile sig_atomic_t InterruptPending = false;

void
ProcessInterrupts(void)
{
}

int
set_errcontext_domain(const char *domain)
{
	(void) domain;
	return 0;
}

void
pg_re_throw(void)
{
	shim_throw();
}

void
FlushErrorState(void)
{
	shim_last_error[0] = '\0';
}

/* ---- StringInfo (same growth rules as lib/stringinfo.c, a small first buffer) ---------------- */

void
initStringInfo(StringInfo str)
{
	str->maxlen = 8;			/* small on purpose: ASan sees overruns early */
	str->data = palloc(str->maxlen);
	resetStringInfo(str);
}

StringInfo
makeStringInfo(void)
{
	StringInfo	s = palloc(sizeof(StringInfoData));

	initStringInfo(s);
	return s;
}

void
resetStringInfo(StringInfo str)
{
	str->data[0] = '\0';
	str->len = 0;
	str->cursor = 0;
}

void
enlargeStringInfo(StringInfo str, int needed)
{
	int			newlen;

	if (needed < 0)
		shim_error("invalid string enlargement request size: %d", needed);
	if (((Size) needed) >= (MaxAllocSize - (Size) str->len))
		shim_error("out of memory: cannot enlarge string buffer containing %d bytes by %d more bytes",
				   str->len, needed);
	needed += str->len + 1;
	if (needed <= str->maxlen)
		return;
	newlen = 2 * str->maxlen;
	while (needed > newlen)
		newlen = 2 * newlen;
	if (newlen > (int) MaxAllocSize)
		newlen = (int) MaxAllocSize;
	str->data = repalloc(str->data, newlen);
	str->maxlen = newlen;
}

void
appendBinaryStringInfo(StringInfo str, const char *data, int datalen)
{
	enlargeStringInfo(str, datalen);
	memcpy(str->data + str->len, data, datalen);
	str->len += datalen;
	str->data[str->len] = '\0';
}

void
appendBinaryStringInfoNT(StringInfo str, const char *data, int datalen)
{
	enlargeStringInfo(str, datalen);
	memcpy(str->data + str->len, data, datalen);
	str->len += datalen;
}

void
appendStringInfoString(StringInfo str, const char *s)
{
	appendBinaryStringInfo(str, s, strlen(s));
}

void
appendStringInfoChar(StringInfo str, char ch)
{
	if (str->len + 1 >= str->maxlen)
		enlargeStringInfo(str, 1);
	str->data[str->len] = ch;
	str->len++;
	str->data[str->len] = '\0';
}

void
appendStringInfoSpaces(StringInfo str, int count)
{
	if (count > 0)
	{
		enlargeStringInfo(str, count);
		memset(str->data + str->len, ' ', count);
		str->len += count;
		str->data[str->len] = '\0';
	}
}

int
appendStringInfoVA(StringInfo str, const char *fmt, va_list args)
{
	int			avail = str->maxlen - str->len;
	int			n = vsnprintf(str->data + str->len, avail, fmt, args);

	if (n < 0)
		shim_error("vsnprintf failed");
	if (n < avail)
	{
		str->len += n;
		return 0;
	}
	str->data[str->len] = '\0';
	return n + 1;
}

void
appendStringInfo(StringInfo str, const char *fmt,...)
{
	for (;;)
	{
		va_list		args;
		int			needed;

		va_start(args, fmt);
		needed = appendStringInfoVA(str, fmt, args);
		va_end(args);
		if (needed == 0)
			break;
		enlargeStringInfo(str, needed);
	}
}

/* ---- encoding ------------------------------------------------------------------------------- */

static int	db_encoding = PG_UTF8;

int
GetDatabaseEncoding(void)
{
	return db_encoding;
}

bool
pg_verify_mbstr(int encoding, const char *mbstr, int len, bool noError)
{
	bool		ok = len >= 0 && pg_encoding_verifymbstr(encoding, mbstr, len) == len;

	if (!ok && !noError)
		shim_error("invalid byte sequence for encoding \"%s\"", pg_enc2name_tbl[encoding].name);
	return ok;
}

bool
pg_verifymbstr(const char *mbstr, int len, bool noError)
{
	return pg_verify_mbstr(db_encoding, mbstr, len, noError);
}

/* Is a NUL-terminated string valid in the database encoding? */
static bool
valid_in_db(const char *s, size_t len)
{
	return pg_encoding_verifymbstr(db_encoding, s, len) == (int) len;
}

/* UTF-8 to the database encoding: identity, or UTF-8 -> LATIN1 (the one conversion we model) */
char *
pg_any_to_server(const char *s, int len, int encoding)
{
	const unsigned char *p = (const unsigned char *) s;
	const unsigned char *end = p + len;
	char	   *out;
	int			n = 0;

	if (len <= 0)
		return unconstify(char *, s);
	if (encoding != PG_UTF8)
	{
		fprintf(stderr, "pg_shim: pg_any_to_server from encoding %d is not modelled\n", encoding);
		abort();
	}
	if (db_encoding == PG_UTF8 || db_encoding == PG_SQL_ASCII)
	{
		pg_verify_mbstr(PG_UTF8, s, len, false);
		return unconstify(char *, s);
	}
	if (db_encoding != PG_LATIN1)
		abort();
	out = palloc(len + 1);
	while (p < end)
	{
		int			l;
		pg_wchar	c;

		if (*p == 0)
			shim_error("invalid byte sequence for encoding \"UTF8\": 0x00");
		l = pg_utf_mblen(p);
		if (l > end - p || !pg_utf8_islegal(p, l))
			shim_error("invalid byte sequence for encoding \"UTF8\"");
		c = utf8_to_unicode(p);
		if (c > 0xFF)
			shim_error("character with byte sequence in encoding \"UTF8\" has no equivalent in encoding \"LATIN1\"");
		out[n++] = (char) c;
		p += l;
	}
	out[n] = '\0';
	return out;
}

void
pg_unicode_to_server(pg_wchar c, unsigned char *s)
{
	if (c == 0 || c > 0x10FFFF || is_utf16_surrogate_first(c) || is_utf16_surrogate_second(c))
	{
		fprintf(stderr, "pg_shim: pg_unicode_to_server got an invalid code point U+%04X\n", (unsigned) c);
		abort();				/* the backend's would ERROR; the caller should have checked */
	}
	if (db_encoding == PG_UTF8)
	{
		unicode_to_utf8(c, s);
		s[pg_utf_mblen(s)] = '\0';
		return;
	}
	if (db_encoding == PG_SQL_ASCII ? c > 0x7F : c > 0xFF)
		shim_error("conversion to the server encoding is not possible for this character");
	s[0] = (unsigned char) c;
	s[1] = '\0';
}

/* ---- text and bytea ------------------------------------------------------------------------- */

text *
cstring_to_text_with_len(const char *s, int len)
{
	text	   *t;

	if (len < 0 || !valid_in_db(s, len))
	{
		fprintf(stderr, "pg_shim: text datum of %d bytes is not valid in the database encoding\n", len);
		abort();
	}
	t = palloc(len + VARHDRSZ);
	SET_VARSIZE(t, len + VARHDRSZ);
	memcpy(VARDATA(t), s, len);
	return t;
}

text *
cstring_to_text(const char *s)
{
	return cstring_to_text_with_len(s, strlen(s));
}

static const char hextbl[] = "0123456789abcdef";

uint64
hex_encode(const char *src, size_t len, char *dst)
{
	for (size_t i = 0; i < len; i++)
	{
		*dst++ = hextbl[((unsigned char) src[i] >> 4) & 0xF];
		*dst++ = hextbl[(unsigned char) src[i] & 0xF];
	}
	return (uint64) len * 2;
}

/* JSON string quoting with the escapes json.c's escape_json uses */
void
escape_json(StringInfo buf, const char *str)
{
	appendStringInfoChar(buf, '"');
	for (const char *p = str; *p; p++)
	{
		switch (*p)
		{
			case '\b':
				appendStringInfoString(buf, "\\b");
				break;
			case '\f':
				appendStringInfoString(buf, "\\f");
				break;
			case '\n':
				appendStringInfoString(buf, "\\n");
				break;
			case '\r':
				appendStringInfoString(buf, "\\r");
				break;
			case '\t':
				appendStringInfoString(buf, "\\t");
				break;
			case '"':
				appendStringInfoString(buf, "\\\"");
				break;
			case '\\':
				appendStringInfoString(buf, "\\\\");
				break;
			default:
				if ((unsigned char) *p < ' ')
					appendStringInfo(buf, "\\u%04x", (int) *p);
				else
					appendStringInfoChar(buf, *p);
				break;
		}
	}
	appendStringInfoChar(buf, '"');
}

/* ---- Bitmapset ------------------------------------------------------------------------------ */

bool
bms_is_member(int x, const Bitmapset *a)
{
	if (x < 0)
		shim_error("negative bitmapset member not allowed");
	if (a == NULL || x / BITS_PER_BITMAPWORD >= a->nwords)
		return false;
	return (a->words[x / BITS_PER_BITMAPWORD] & ((bitmapword) 1 << (x % BITS_PER_BITMAPWORD))) != 0;
}

Bitmapset *
shim_attnum_set(uint32 mask, int ncolumns)
{
	Bitmapset  *b = palloc0(offsetof(Bitmapset, words) + sizeof(bitmapword) * 2);

	b->nwords = 2;
	for (int i = 0; i < ncolumns && i < 32; i++)
		if (mask & (1u << i))
			b->words[(i + 1) / BITS_PER_BITMAPWORD] |= (bitmapword) 1 << ((i + 1) % BITS_PER_BITMAPWORD);
	return b;
}

Bitmapset *
bms_copy(const Bitmapset *a)
{
	Bitmapset  *b;
	size_t		sz;

	if (a == NULL)
		return NULL;
	sz = offsetof(Bitmapset, words) + a->nwords * sizeof(bitmapword);
	b = palloc(sz);
	memcpy(b, a, sz);
	return b;
}

Bitmapset *
bms_add_member(Bitmapset *a, int x)
{
	int			w = x / BITS_PER_BITMAPWORD;

	if (x < 0)
		shim_error("negative bitmapset member not allowed");
	if (a == NULL || w >= a->nwords)
	{
		int			n = w + 1;
		Bitmapset  *b = palloc0(offsetof(Bitmapset, words) + n * sizeof(bitmapword));

		b->nwords = n;
		if (a)
			memcpy(b->words, a->words, a->nwords * sizeof(bitmapword));
		a = b;
	}
	a->words[w] |= (bitmapword) 1 << (x % BITS_PER_BITMAPWORD);
	return a;
}

/* ---- link-only stand-ins: src/message.c refers to them, the harnesses never reach them ---- */

ResourceOwner CurrentResourceOwner = NULL;

#define SHIM_UNREACHABLE(name) \
	do { fprintf(stderr, "pg_shim: %s is not modelled\n", name); abort(); } while (0)

bool
IsInParallelMode(void)
{
	return false;
}

void
BeginInternalSubTransaction(const char *name)
{
	(void) name;
	SHIM_UNREACHABLE("BeginInternalSubTransaction");
}

void
ReleaseCurrentSubTransaction(void)
{
	SHIM_UNREACHABLE("ReleaseCurrentSubTransaction");
}

void
RollbackAndReleaseCurrentSubTransaction(void)
{
	SHIM_UNREACHABLE("RollbackAndReleaseCurrentSubTransaction");
}

ErrorData *
CopyErrorData(void)
{
	SHIM_UNREACHABLE("CopyErrorData");
}

void
ReThrowError(ErrorData *edata)
{
	(void) edata;
	SHIM_UNREACHABLE("ReThrowError");
}

/*
 * Link-only stand-ins for what the encoders and the option checks (in the
 * same codec files as the decoders) call: the harnesses only decode.
 */

#include "nodes/makefuncs.h"
#include "commands/defrem.h"

Datum
FunctionCall1Coll(FmgrInfo *flinfo, Oid collation, Datum arg1)
{
	(void) flinfo;
	(void) collation;
	(void) arg1;
	SHIM_UNREACHABLE("FunctionCall1Coll");
}

char *
JsonbToCString(StringInfo out, JsonbContainer *in, int estimated_len)
{
	(void) out;
	(void) in;
	(void) estimated_len;
	SHIM_UNREACHABLE("JsonbToCString");
}

char *
OutputFunctionCall(FmgrInfo *flinfo, Datum val)
{
	(void) flinfo;
	(void) val;
	SHIM_UNREACHABLE("OutputFunctionCall");
}

char *
defGetString(DefElem *def)
{
	(void) def;
	SHIM_UNREACHABLE("defGetString");
}

void
fmgr_info(Oid functionId, FmgrInfo *finfo)
{
	(void) functionId;
	(void) finfo;
	SHIM_UNREACHABLE("fmgr_info");
}

char *
get_rel_name(Oid relid)
{
	(void) relid;
	SHIM_UNREACHABLE("get_rel_name");
}

List *
list_make1_impl(NodeTag t, ListCell datum1)
{
	(void) t;
	(void) datum1;
	SHIM_UNREACHABLE("list_make1_impl");
}

FuncExpr *
makeFuncExpr(Oid funcid, Oid rettype, List *args, Oid funccollid, Oid inputcollid, CoercionForm fformat)
{
	(void) funcid;
	(void) rettype;
	(void) args;
	(void) funccollid;
	(void) inputcollid;
	(void) fformat;
	SHIM_UNREACHABLE("makeFuncExpr");
}

Const *
makeNullConst(Oid consttype, int32 consttypmod, Oid constcollid)
{
	(void) consttype;
	(void) consttypmod;
	(void) constcollid;
	SHIM_UNREACHABLE("makeNullConst");
}

struct varlena *
pg_detoast_datum(struct varlena *datum)
{
	(void) datum;
	SHIM_UNREACHABLE("pg_detoast_datum");
}

struct varlena *
pg_detoast_datum_packed(struct varlena *datum)
{
	(void) datum;
	SHIM_UNREACHABLE("pg_detoast_datum_packed");
}

int
pg_lltoa(int64 value, char *a)
{
	(void) value;
	(void) a;
	SHIM_UNREACHABLE("pg_lltoa");
}

int
pg_ltoa(int32 value, char *a)
{
	(void) value;
	(void) a;
	SHIM_UNREACHABLE("pg_ltoa");
}

char *
pg_server_to_any(const char *s, int len, int encoding)
{
	(void) s;
	(void) len;
	(void) encoding;
	SHIM_UNREACHABLE("pg_server_to_any");
}

char *
text_to_cstring(const text *t)
{
	(void) t;
	SHIM_UNREACHABLE("text_to_cstring");
}


/* ---- what codec_avro.c needs beyond the other codecs ----------------------------------------- */

#include "access/htup_details.h"
#include "foreign/foreign.h"
#include "miscadmin.h"
#include "nodes/pg_list.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/catcache.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"
#include "utils/syscache.h"

void
check_stack_depth(void)
{
	/* the decoder bounds its nesting itself; the harness has no stack limit to check */
}

/* reset callbacks (avro-c's schema is released by one): run at the end of the input */
static MemoryContextCallback *shim_callbacks[64];
static int	shim_ncallbacks;

void
MemoryContextRegisterResetCallback(MemoryContext context, MemoryContextCallback *cb)
{
	(void) context;
	if (shim_persistent)
		return;					/* what a harness keeps is never released */
	if (shim_ncallbacks >= (int) lengthof(shim_callbacks))
	{
		fprintf(stderr, "pg_shim: too many reset callbacks in one input\n");
		abort();
	}
	shim_callbacks[shim_ncallbacks++] = cb;
}

static void
shim_run_callbacks(void)
{
	while (shim_ncallbacks > 0)
	{
		MemoryContextCallback *cb = shim_callbacks[--shim_ncallbacks];

		cb->func(cb->arg);
	}
}

/* Lists: elements always in their own chunk, grown by doubling */
List *
lappend(List *list, void *datum)
{
	if (list == NIL)
	{
		list = palloc(sizeof(List));
		list->type = T_List;
		list->length = 0;
		list->max_length = 4;
		list->elements = palloc(sizeof(ListCell) * list->max_length);
	}
	else if (list->length >= list->max_length)
	{
		list->max_length *= 2;
		list->elements = repalloc(list->elements, sizeof(ListCell) * list->max_length);
	}
	list->elements[list->length++].ptr_value = datum;
	return list;
}

/* lcons: lappend, then move the new element to the front */
List *
lcons(void *datum, List *list)
{
	list = lappend(list, datum);
	memmove(&list->elements[1], &list->elements[0], sizeof(ListCell) * (list->length - 1));
	list->elements[0].ptr_value = datum;
	return list;
}

void
get_typlenbyvalalign(Oid typid, int16 *typlen, bool *typbyval, char *typalign)
{
	switch (typid)
	{
		case INT4OID:
			*typlen = 4;
			*typbyval = true;
			*typalign = TYPALIGN_INT;
			break;
		case INT8OID:
			*typlen = 8;
			*typbyval = true;
			*typalign = TYPALIGN_DOUBLE;
			break;
		case BOOLOID:
			*typlen = 1;
			*typbyval = true;
			*typalign = TYPALIGN_CHAR;
			break;
		default:
			*typlen = -1;
			*typbyval = false;
			*typalign = TYPALIGN_INT;
			break;
	}
}

/* link-only: the encoder, the derived schema and the schema cache */

MemoryContext CacheMemoryContext = NULL;

MemoryContext
AllocSetContextCreateInternal(MemoryContext parent, const char *name, Size minContextSize,
							  Size initBlockSize, Size maxBlockSize)
{
	(void) parent;
	(void) name;
	(void) minContextSize;
	(void) initBlockSize;
	(void) maxBlockSize;
	SHIM_UNREACHABLE("AllocSetContextCreateInternal");
}

void
MemoryContextDelete(MemoryContext context)
{
	(void) context;
	SHIM_UNREACHABLE("MemoryContextDelete");
}

char *
MemoryContextStrdup(MemoryContext context, const char *string)
{
	(void) context;
	(void) string;
	SHIM_UNREACHABLE("MemoryContextStrdup");
}

struct HeapTupleHeaderData *
DatumGetHeapTupleHeader(Datum t)
{
	(void) t;
	SHIM_UNREACHABLE("DatumGetHeapTupleHeader");
}

Datum
DirectFunctionCall1Coll(PGFunction func, Oid collation, Datum arg1)
{
	(void) func;
	(void) collation;
	(void) arg1;
	SHIM_UNREACHABLE("DirectFunctionCall1Coll");
}

Datum
DirectFunctionCall2Coll(PGFunction func, Oid collation, Datum arg1, Datum arg2)
{
	(void) func;
	(void) collation;
	(void) arg1;
	(void) arg2;
	SHIM_UNREACHABLE("DirectFunctionCall2Coll");
}

ForeignDataWrapper *
GetForeignDataWrapper(Oid fdwid)
{
	(void) fdwid;
	SHIM_UNREACHABLE("GetForeignDataWrapper");
}

ForeignServer *
GetForeignServer(Oid serverid)
{
	(void) serverid;
	SHIM_UNREACHABLE("GetForeignServer");
}

ForeignTable *
GetForeignTable(Oid relid)
{
	(void) relid;
	SHIM_UNREACHABLE("GetForeignTable");
}

Oid
GetUserId(void)
{
	SHIM_UNREACHABLE("GetUserId");
}

bool
JsonbExtractScalar(JsonbContainer *jbc, JsonbValue *res)
{
	(void) jbc;
	(void) res;
	SHIM_UNREACHABLE("JsonbExtractScalar");
}

JsonbIterator *
JsonbIteratorInit(JsonbContainer *container)
{
	(void) container;
	SHIM_UNREACHABLE("JsonbIteratorInit");
}

JsonbIteratorToken
JsonbIteratorNext(JsonbIterator **it, JsonbValue *val, bool skipNested)
{
	(void) it;
	(void) val;
	(void) skipNested;
	SHIM_UNREACHABLE("JsonbIteratorNext");
}

JsonbValue *
getKeyJsonValueFromContainer(JsonbContainer *container, const char *keyVal, int keyLen, JsonbValue *res)
{
	(void) container;
	(void) keyVal;
	(void) keyLen;
	(void) res;
	SHIM_UNREACHABLE("getKeyJsonValueFromContainer");
}

Datum
OidInputFunctionCall(Oid functionId, char *str, Oid typioparam, int32 typmod)
{
	(void) functionId;
	(void) str;
	(void) typioparam;
	(void) typmod;
	SHIM_UNREACHABLE("OidInputFunctionCall");
}

char *
OidOutputFunctionCall(Oid functionId, Datum val)
{
	(void) functionId;
	(void) val;
	SHIM_UNREACHABLE("OidOutputFunctionCall");
}

void
ReleaseCatCacheList(CatCList *list)
{
	(void) list;
	SHIM_UNREACHABLE("ReleaseCatCacheList");
}

void
ReleaseSysCache(HeapTuple tuple)
{
	(void) tuple;
	SHIM_UNREACHABLE("ReleaseSysCache");
}

HeapTuple
SearchSysCache1(int cacheId, Datum key1)
{
	(void) cacheId;
	(void) key1;
	SHIM_UNREACHABLE("SearchSysCache1");
}

HeapTuple
SearchSysCache2(int cacheId, Datum key1, Datum key2)
{
	(void) cacheId;
	(void) key1;
	(void) key2;
	SHIM_UNREACHABLE("SearchSysCache2");
}

struct catclist *
SearchSysCacheList(int cacheId, int nkeys, Datum key1, Datum key2, Datum key3)
{
	(void) cacheId;
	(void) nkeys;
	(void) key1;
	(void) key2;
	(void) key3;
	SHIM_UNREACHABLE("SearchSysCacheList");
}

void
aclcheck_error(AclResult aclerr, ObjectType objtype, const char *objectname)
{
	(void) aclerr;
	(void) objtype;
	(void) objectname;
	SHIM_UNREACHABLE("aclcheck_error");
}

AclResult
pg_class_aclcheck(Oid table_oid, Oid roleid, AclMode mode)
{
	(void) table_oid;
	(void) roleid;
	(void) mode;
	SHIM_UNREACHABLE("pg_class_aclcheck");
}

void
deconstruct_array(ArrayType *array, Oid elmtype, int elmlen, bool elmbyval, char elmalign,
				  Datum **elemsp, bool **nullsp, int *nelemsp)
{
	(void) array;
	(void) elmtype;
	(void) elmlen;
	(void) elmbyval;
	(void) elmalign;
	(void) elemsp;
	(void) nullsp;
	(void) nelemsp;
	SHIM_UNREACHABLE("deconstruct_array");
}

char *
format_type_be(Oid type_oid)
{
	(void) type_oid;
	SHIM_UNREACHABLE("format_type_be");
}

Oid
getBaseTypeAndTypmod(Oid typid, int32 *typmod)
{
	(void) typid;
	(void) typmod;
	SHIM_UNREACHABLE("getBaseTypeAndTypmod");
}

void
getTypeInputInfo(Oid type, Oid *typInput, Oid *typIOParam)
{
	(void) type;
	(void) typInput;
	(void) typIOParam;
	SHIM_UNREACHABLE("getTypeInputInfo");
}

void
getTypeOutputInfo(Oid type, Oid *typOutput, bool *typIsVarlena)
{
	(void) type;
	(void) typOutput;
	(void) typIsVarlena;
	SHIM_UNREACHABLE("getTypeOutputInfo");
}

char *
get_namespace_name(Oid nspid)
{
	(void) nspid;
	SHIM_UNREACHABLE("get_namespace_name");
}

Oid
get_rel_namespace(Oid relid)
{
	(void) relid;
	SHIM_UNREACHABLE("get_rel_namespace");
}

char
get_rel_relkind(Oid relid)
{
	(void) relid;
	SHIM_UNREACHABLE("get_rel_relkind");
}

void
heap_deform_tuple(HeapTuple tuple, TupleDesc tupleDesc, Datum *values, bool *isnull)
{
	(void) tuple;
	(void) tupleDesc;
	(void) values;
	(void) isnull;
	SHIM_UNREACHABLE("heap_deform_tuple");
}

KafkaOptions *
kafkaGetOptions(Oid foreigntableid, Relation rel)
{
	(void) foreigntableid;
	(void) rel;
	SHIM_UNREACHABLE("kafkaGetOptions");
}

/* the harnesses give no server a schema registry: codec_avro.c never asks one */
const KafkaSchema *
kafkaRegistrySchemaById(KafkaOptions *opts, int32 id, bool missing_ok)
{
	(void) opts;
	(void) id;
	(void) missing_ok;
	SHIM_UNREACHABLE("kafkaRegistrySchemaById");
}

const KafkaSchema *
kafkaRegistrySubjectVersion(KafkaOptions *opts, const char *subject, int32 version, bool missing_ok)
{
	(void) opts;
	(void) subject;
	(void) version;
	(void) missing_ok;
	SHIM_UNREACHABLE("kafkaRegistrySubjectVersion");
}

int32
kafkaRegistryRegister(KafkaOptions *opts, const char *subject, const char *schema,
					  const char *schema_type)
{
	(void) opts;
	(void) subject;
	(void) schema;
	(void) schema_type;
	SHIM_UNREACHABLE("kafkaRegistryRegister");
}

void
kafkaRequireKafkaTable(Oid relid)
{
	(void) relid;
	SHIM_UNREACHABLE("kafkaRequireKafkaTable");
}

int32
kafkaAvroExistingId(KafkaOptions *opts, const char *subject, const char *schema,
					const KafkaSchema **latest)
{
	(void) opts;
	(void) subject;
	(void) schema;
	(void) latest;
	SHIM_UNREACHABLE("kafkaAvroExistingId");
}

int32
kafkaAvroRegisterNew(KafkaOptions *opts, const char *subject, const char *schema,
					 const char *whose, const KafkaSchema *latest)
{
	(void) opts;
	(void) subject;
	(void) schema;
	(void) whose;
	(void) latest;
	SHIM_UNREACHABLE("kafkaAvroRegisterNew");
}

List *
list_insert_nth(List *list, int pos, void *datum)
{
	(void) list;
	(void) pos;
	(void) datum;
	SHIM_UNREACHABLE("list_insert_nth");
}

bool
numeric_is_inf(Numeric num)
{
	(void) num;
	SHIM_UNREACHABLE("numeric_is_inf");
}

bool
numeric_is_nan(Numeric num)
{
	(void) num;
	SHIM_UNREACHABLE("numeric_is_nan");
}

#define SHIM_UNREACHABLE_FMGR(fn) \
	Datum fn(PG_FUNCTION_ARGS); \
	Datum fn(PG_FUNCTION_ARGS) { (void) fcinfo; SHIM_UNREACHABLE(#fn); }

SHIM_UNREACHABLE_FMGR(numeric_int4)
SHIM_UNREACHABLE_FMGR(numeric_int8)
SHIM_UNREACHABLE_FMGR(numeric_out)
SHIM_UNREACHABLE_FMGR(numeric_round)
SHIM_UNREACHABLE_FMGR(uuid_out)
SHIM_UNREACHABLE_FMGR(jsonb_in)

/* ---- the fake type catalog ------------------------------------------------------------------ */

static TupleDesc composite_td;	/* SHIM_COMPOSITE_OID */
static TupleDesc inner_td;		/* SHIM_INNER_OID */
static TupleDesc leaddrop_td;	/* SHIM_LEADDROP_OID */

static TupleDesc
make_td(Oid typid, int natts, const char *const *names, const Oid *types)
{
	TupleDesc	td = calloc(1, offsetof(struct TupleDescData, attrs) + natts * sizeof(FormData_pg_attribute));

	td->natts = natts;
	td->tdtypeid = typid;
	td->tdtypmod = -1;
	td->tdrefcount = 0;
	for (int i = 0; i < natts; i++)
	{
		Form_pg_attribute a = TupleDescAttr(td, i);

		a->attnum = i + 1;
		if (names[i] == NULL)
		{
			a->attisdropped = true;
			snprintf(NameStr(a->attname), NAMEDATALEN, "........pg.dropped.%d........", i + 1);
		}
		else
			snprintf(NameStr(a->attname), NAMEDATALEN, "%s", names[i]);
		a->atttypid = types[i];
		a->atttypmod = -1;
	}
	return td;
}

static void
init_catalog(void)
{
	static const char *const cn[] = {"a", "b", "c", "d"};
	static const Oid ct[] = {INT4OID, TEXTOID, INT4ARRAYOID, SHIM_INNER_OID};
	static const char *const in[] = {"x", NULL, "y"};
	static const Oid it[] = {TEXTOID, INT4OID, BOOLOID};
	static const char *const ln[] = {NULL, "p", "q"};
	static const Oid lt[] = {INT4OID, TEXTOID, INT4OID};

	if (composite_td)
		return;
	composite_td = make_td(SHIM_COMPOSITE_OID, 4, cn, ct);
	inner_td = make_td(SHIM_INNER_OID, 3, in, it);
	leaddrop_td = make_td(SHIM_LEADDROP_OID, 3, ln, lt);
}

Oid
get_element_type(Oid typid)
{
	switch (typid)
	{
		case INT4ARRAYOID:
			return INT4OID;
		case TEXTARRAYOID:
			return TEXTOID;
		case INT8ARRAYOID:
			return INT8OID;
		case BOOLARRAYOID:
			return BOOLOID;
		case JSONBARRAYOID:
			return JSONBOID;
		case SHIM_COMPOSITE_ARR_OID:
			return SHIM_COMPOSITE_OID;
		default:
			return InvalidOid;
	}
}

Oid
getBaseType(Oid typid)
{
	return typid == SHIM_DOMAIN_OID ? INT4ARRAYOID : typid;
}

char
get_typtype(Oid typid)
{
	if (typid == SHIM_COMPOSITE_OID || typid == SHIM_INNER_OID || typid == SHIM_LEADDROP_OID)
		return TYPTYPE_COMPOSITE;
	if (typid == SHIM_DOMAIN_OID)
		return TYPTYPE_DOMAIN;
	return TYPTYPE_BASE;
}

TupleDesc
lookup_rowtype_tupdesc(Oid type_id, int32 typmod)
{
	TupleDesc	td;

	(void) typmod;
	init_catalog();
	if (type_id == SHIM_COMPOSITE_OID)
		td = composite_td;
	else if (type_id == SHIM_INNER_OID)
		td = inner_td;
	else if (type_id == SHIM_LEADDROP_OID)
		td = leaddrop_td;
	else
		shim_error("type %u is not composite", type_id);
	td->tdrefcount++;
	return td;
}

void
DecrTupleDescRefCount(TupleDesc tupdesc)
{
	if (--tupdesc->tdrefcount < 0)
	{
		fprintf(stderr, "pg_shim: TupleDesc of type %u released more often than looked up\n", tupdesc->tdtypeid);
		abort();
	}
}

/* ---- input functions ------------------------------------------------------------------------ */

static Datum
int_in(const char *s, int64 lo, int64 hi, Oid typid)
{
	const char *p = s;
	bool		neg = false;
	int64		v = 0;

	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == '\f' || *p == '\v')
		p++;
	if (*p == '-' || *p == '+')
		neg = *p++ == '-';
	if (!isdigit((unsigned char) *p))
		shim_error("invalid input syntax for type integer: \"%s\"", s);
	for (; isdigit((unsigned char) *p); p++)
	{
		int			d = *p - '0';

		if (v > (PG_INT64_MAX - d) / 10)
			shim_error("value \"%s\" is out of range", s);
		v = v * 10 + d;
	}
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == '\f' || *p == '\v')
		p++;
	if (*p)
		shim_error("invalid input syntax for type integer: \"%s\"", s);
	if (neg)
		v = -v;
	if (v < lo || v > hi)
		shim_error("value \"%s\" is out of range", s);
	switch (typid)
	{
		case INT2OID:
			return Int16GetDatum((int16) v);
		case INT4OID:
			return Int32GetDatum((int32) v);
		default:
			return Int64GetDatum(v);
	}
}

static Datum
shim_bool_in(const char *s)
{
	static const char *const t[] = {"t", "true", "yes", "on", "1", "y"};
	static const char *const f[] = {"f", "false", "no", "off", "0", "n"};

	for (int i = 0; i < 6; i++)
	{
		if (pg_strcasecmp(s, t[i]) == 0)
			return BoolGetDatum(true);
		if (pg_strcasecmp(s, f[i]) == 0)
			return BoolGetDatum(false);
	}
	shim_error("invalid input syntax for type boolean: \"%s\"", s);
}

static Datum
shim_bytea_in(const char *s)
{
	size_t		len = strlen(s);
	bytea	   *b;

	if (len >= 2 && s[0] == '\\' && s[1] == 'x')
	{
		size_t		n = 0;

		b = palloc(VARHDRSZ + (len - 2) / 2 + 1);
		for (const char *p = s + 2; *p;)
		{
			int			h,
						l;

			if (isspace((unsigned char) *p))
			{
				p++;
				continue;
			}
			h = kafkaHexDigit(p[0]);
			l = p[1] ? kafkaHexDigit(p[1]) : -1;
			if (h < 0 || l < 0)
				shim_error("invalid hexadecimal data");
			((unsigned char *) VARDATA(b))[n++] = (unsigned char) ((h << 4) | l);
			p += 2;
		}
		SET_VARSIZE(b, VARHDRSZ + n);
		return PointerGetDatum(b);
	}
	b = palloc(VARHDRSZ + len);
	SET_VARSIZE(b, VARHDRSZ + len);
	memcpy(VARDATA(b), s, len);
	return PointerGetDatum(b);
}

/* in json_check.c */
extern bool shim_json_valid(const char *s, char *err, int errlen);

static Datum
shim_json_in(const char *s)
{
	char		err[160];

	if (!shim_json_valid(s, err, sizeof(err)))
		shim_error("invalid input syntax for type json: %s", err);
	return PointerGetDatum(cstring_to_text(s));
}

/*
 * array_in / record_in stand-in: the literal must open and close with the
 * right bracket and have balanced quotes (backslash escapes inside).
 */
static Datum
literal_in(const char *s, char open, char close)
{
	const char *p = s;
	bool		inq = false;
	int			depth = 0;

	while (isspace((unsigned char) *p))
		p++;
	if (*p != open)
		shim_error("malformed literal: \"%s\"", s);
	for (; *p; p++)
	{
		if (inq)
		{
			if (*p == '\\' && p[1])
				p++;
			else if (*p == '"')
				inq = false;
			continue;
		}
		if (*p == '"')
			inq = true;
		else if (*p == '\\' && p[1])
			p++;
		else if (*p == open)
			depth++;
		else if (*p == close && --depth < 0)
			shim_error("malformed literal: \"%s\"", s);
	}
	if (inq || depth != 0)
		shim_error("malformed literal: \"%s\"", s);
	return PointerGetDatum(cstring_to_text(s));
}

/*
 * record_in stand-in with record_in's field rules: one field per attribute
 * that is not dropped, separated by commas; a field is empty (NULL) or runs
 * to the next unquoted ',' or ')', with "..." quoting ("" and \ escapes).
 */
static Datum
shim_record_in(const char *s, Oid typid)
{
	TupleDesc	td = lookup_rowtype_tupdesc(typid, -1);
	const char *p = s;
	bool		needcomma = false;

	td->tdrefcount--;			/* we only read it */
	while (isspace((unsigned char) *p))
		p++;
	if (*p++ != '(')
		shim_error("malformed record literal: \"%s\": missing left parenthesis", s);
	for (int i = 0; i < td->natts; i++)
	{
		bool		inq = false;

		if (TupleDescAttr(td, i)->attisdropped)
			continue;
		if (needcomma)
		{
			if (*p != ',')
				shim_error("malformed record literal: \"%s\": too few columns", s);
			p++;
		}
		needcomma = true;
		while (inq || (*p != ',' && *p != ')'))
		{
			if (*p == '\0')
				shim_error("malformed record literal: \"%s\": unexpected end of input", s);
			if (*p == '\\')
			{
				if (*++p == '\0')
					shim_error("malformed record literal: \"%s\": unexpected end of input", s);
			}
			else if (*p == '"')
			{
				if (!inq)
					inq = true;
				else if (p[1] == '"')
					p++;
				else
					inq = false;
			}
			p++;
		}
	}
	if (*p++ != ')')
		shim_error("malformed record literal: \"%s\": too many columns", s);
	while (isspace((unsigned char) *p))
		p++;
	if (*p)
		shim_error("malformed record literal: \"%s\": junk after right parenthesis", s);
	return PointerGetDatum(cstring_to_text(s));
}

/* numeric_in stand-in: [-]digits[.digits], or NaN / Infinity; a text datum */
static Datum
shim_numeric_in(const char *s)
{
	const char *p = s;

	if (strcmp(s, "NaN") == 0 || strcmp(s, "Infinity") == 0 || strcmp(s, "-Infinity") == 0)
		return PointerGetDatum(cstring_to_text(s));
	if (*p == '-')
		p++;
	if (!isdigit((unsigned char) *p))
		shim_error("invalid input syntax for type numeric: \"%s\"", s);
	while (isdigit((unsigned char) *p))
		p++;
	if (*p == '.')
	{
		p++;
		if (!isdigit((unsigned char) *p))
			shim_error("invalid input syntax for type numeric: \"%s\"", s);
		while (isdigit((unsigned char) *p))
			p++;
	}
	if (*p)
		shim_error("invalid input syntax for type numeric: \"%s\"", s);
	return PointerGetDatum(cstring_to_text(s));
}

/* uuid_in stand-in: 32 hex digits, dashes after 8, 12, 16, 20; a text datum */
static Datum
shim_uuid_in(const char *s)
{
	int			n = 0;

	for (const char *p = s; *p; p++)
	{
		if (*p == '-' && (n == 8 || n == 12 || n == 16 || n == 20))
			continue;
		if (kafkaHexDigit(*p) < 0 || ++n > 32)
			shim_error("invalid input syntax for type uuid: \"%s\"", s);
	}
	if (n != 32)
		shim_error("invalid input syntax for type uuid: \"%s\"", s);
	return PointerGetDatum(cstring_to_text(s));
}

Datum
InputFunctionCall(FmgrInfo *flinfo, char *str, Oid typioparam, int32 typmod)
{
	Oid			typid = flinfo->fn_oid;

	(void) typioparam;
	(void) typmod;
	if (str == NULL)
		return (Datum) 0;
	if (!valid_in_db(str, strlen(str)))
	{
		fprintf(stderr, "pg_shim: input function of type %u got text invalid in the database encoding\n", typid);
		abort();
	}
	switch (typid)
	{
		case TEXTOID:
			return PointerGetDatum(cstring_to_text(str));
		case INT2OID:
			return int_in(str, PG_INT16_MIN, PG_INT16_MAX, typid);
		case INT4OID:
			return int_in(str, PG_INT32_MIN, PG_INT32_MAX, typid);
		case INT8OID:
			return int_in(str, PG_INT64_MIN + 1, PG_INT64_MAX, typid);
		case BOOLOID:
			return shim_bool_in(str);
		case BYTEAOID:
			return shim_bytea_in(str);
		case JSONOID:
		case JSONBOID:
			return shim_json_in(str);
		case SHIM_COMPOSITE_OID:
		case SHIM_INNER_OID:
		case SHIM_LEADDROP_OID:
			return shim_record_in(str, typid);
		case FLOAT4OID:
		case FLOAT8OID:
			{
				char	   *end;
				double		v = strtod(str, &end);

				if (end == str || *end != '\0')
					shim_error("invalid input syntax for type double precision: \"%s\"", str);
				return Float8GetDatum(v);
			}
		case NUMERICOID:
			return shim_numeric_in(str);
		case UUIDOID:
			return shim_uuid_in(str);
		case DATEOID:
		case TIMEOID:
		case TIMESTAMPOID:
		case TIMESTAMPTZOID:
			/* the codecs build these directly; text for them must at least start with a digit */
			if (!isdigit((unsigned char) str[0]))
				shim_error("invalid input syntax for type %u: \"%s\"", typid, str);
			return (Datum) 0;
		default:
			if (OidIsValid(get_element_type(getBaseType(typid))))
				return literal_in(str, '{', '}');
			fprintf(stderr, "pg_shim: no input function for type %u\n", typid);
			abort();
	}
}

/* ---- harness helpers ------------------------------------------------------------------------ */

void
shim_begin_input(int encoding)
{
	init_catalog();
	if (in_input || arena)
	{
		fprintf(stderr, "pg_shim: input started twice\n");
		abort();
	}
	in_input = 1;
	db_encoding = encoding;
	shim_last_error[0] = '\0';
}

void
shim_end_input(bool errored)
{
	static int	verbose = -1;

	if (verbose < 0)
		verbose = getenv("SHIM_VERBOSE") != NULL;
	if (verbose)
		fprintf(stderr, "pg_shim: input %s%s\n", errored ? "ended with ERROR: " : "decoded",
				errored ? shim_last_error : "");
	/* after an ERROR the backend's resource owner releases the references */
	if (!errored && (composite_td->tdrefcount != 0 || inner_td->tdrefcount != 0 ||
					 leaddrop_td->tdrefcount != 0))
	{
		fprintf(stderr, "pg_shim: TupleDesc reference leak (%d, %d, %d)\n",
				composite_td->tdrefcount, inner_td->tdrefcount, leaddrop_td->tdrefcount);
		abort();
	}
	composite_td->tdrefcount = 0;
	inner_td->tdrefcount = 0;
	leaddrop_td->tdrefcount = 0;
	shim_run_callbacks();
	while (arena)
	{
		ShimChunk  *c = arena;

		unlink_chunk(c);
		free(c);
	}
	in_input = 0;
	shim_error_jmp = NULL;
}

static char
category_of(Oid typid)
{
	if (get_typtype(typid) == TYPTYPE_COMPOSITE)
		return TYPCATEGORY_COMPOSITE;
	if (OidIsValid(get_element_type(getBaseType(typid))))
		return TYPCATEGORY_ARRAY;
	switch (typid)
	{
		case TEXTOID:
			return TYPCATEGORY_STRING;
		case BOOLOID:
			return TYPCATEGORY_BOOLEAN;
		case INT2OID:
		case INT4OID:
		case INT8OID:
			return TYPCATEGORY_NUMERIC;
		default:
			return TYPCATEGORY_USER;
	}
}

void
shim_make_column(KafkaColumn *col, AttrNumber attnum, const char *name, Oid typid, int value_index)
{
	memset(col, 0, sizeof(*col));
	col->attnum = attnum;
	col->name = pstrdup(name);
	col->json_name = col->name;
	col->json_name_len = strlen(name);
	col->kind = KAFKA_COL_VALUE;
	col->typid = typid;
	col->typmod = -1;
	col->value_index = value_index;
	col->in_func.fn_oid = typid;
	col->in_ioparam = typid;
	col->category = category_of(typid);
}

KafkaOptions *
shim_make_options(KafkaFormat format, int ncolumns)
{
	KafkaOptions *o = palloc0(sizeof(KafkaOptions));

	o->format = format;
	o->on_error = KAFKA_ON_ERROR_FAIL;
	o->csv_delimiter = ',';
	o->csv_quote = '"';
	o->csv_escape = '"';
	o->csv_null = "";
	o->encoding = PG_UTF8;
	o->ncolumns = ncolumns;
	o->columns = palloc0(sizeof(KafkaColumn) * Max(ncolumns, 1));
	return o;
}

void
shim_check_datums(KafkaOptions *o, Datum *values, bool *nulls)
{
	for (int i = 0; i < o->ncolumns; i++)
	{
		KafkaColumn *col = &o->columns[i];
		struct varlena *v;
		uint32		sum = 0;

		if (nulls[i] || col->kind != KAFKA_COL_VALUE)
			continue;
		if (col->typid == INT2OID || col->typid == INT4OID || col->typid == INT8OID || col->typid == BOOLOID ||
			col->typid == FLOAT4OID || col->typid == FLOAT8OID || col->typid == DATEOID || col->typid == TIMEOID ||
			col->typid == TIMESTAMPOID || col->typid == TIMESTAMPTZOID)
			continue;			/* passed by value */
		v = (struct varlena *) DatumGetPointer(values[i]);
		if (v == NULL || VARATT_IS_EXTENDED(v) || VARSIZE(v) < VARHDRSZ)
		{
			fprintf(stderr, "pg_shim: column %d has a broken varlena datum\n", i + 1);
			abort();
		}
		/* touch every byte: ASan reports a datum pointing into freed or short memory */
		for (uint32 k = 0; k < VARSIZE(v) - VARHDRSZ; k++)
			sum += (unsigned char) VARDATA(v)[k];
		(void) sum;
		if (col->typid != BYTEAOID && !valid_in_db(VARDATA(v), VARSIZE(v) - VARHDRSZ))
		{
			fprintf(stderr, "pg_shim: column %d holds text invalid in the database encoding\n", i + 1);
			abort();
		}
	}
}
