/*-------------------------------------------------------------------------
 *
 * message.c
 *		  One Kafka message to one row: the value (through the codecs), the
 *		  key (raw, or through the codec of key_format), the headers, the
 *		  partition, offset and timestamp columns, and the on_error policy
 *		  (fail, skip, junk) for a message that cannot be decoded.  Needs no executor state: a scan and a background worker
 *		  call it alike (kafkaRowReaderCreate, then kafkaMessageToRow).
 *
 * What a bad message is: any error raised while converting its value, key
 * or headers, except errors the message cannot have caused (see
 * kafkaErrorIsMessageFault): cancellation, shortage of memory or other
 * resources, transaction state, system and internal errors.  Those always
 * abort the query.
 *
 * Recovering from an error safely: a type input function may run
 * user-defined code (a domain's CHECK, an extension's input function) or
 * hold a resource when it fails (a lock, a buffer pin, a tuple descriptor
 * reference of a composite type).  Catching such an error with PG_TRY
 * alone leaves that behind (leak warnings, a backend deadlocked on its own
 * lock), so when the policy is skip or junk and a column to decode may run
 * such code, each message is decoded in an internal subtransaction, as
 * PL/pgSQL does for an exception block.  Built-in types whose input
 * functions hold nothing (numbers, text, json, timestamps, arrays and
 * ranges of those, ...) are decoded under a plain PG_TRY: the clean path
 * pays nothing.  Policy fail needs neither: the error aborts the query.
 *
 * Junk rows keep what decodes (as adjust/kafka_fdw's do): under 'junk' a
 * message that failed is decoded a second time, part by part
 * (salvage_message): the value of json and csv field by field, each field
 * guarded as above, so that a field that fails is NULL and the others are
 * kept, and junk_error lists every failure, one per line.  Only bad
 * messages take that path; a good one is decoded once, as under 'fail'.
 *
 * Invariants:
 *	- Parallel mode forbids subtransactions: a scan that needs them is not
 *	  parallel safe (kafkaRowNeedsSubxact).  If the query runs in parallel
 *	  mode anyway (a Gather elsewhere in the plan), a bad message whose
 *	  decoding may have run user-defined code fails the query (with a
 *	  context line saying why) rather than being skipped unsafely.
 *	- When the junk or junk_error column is needed, every column that can
 *	  make a message bad is decoded, so "WHERE junk_error IS NOT NULL" finds
 *	  the messages "SELECT *" would junk.
 *
 *-------------------------------------------------------------------------
 */
#include "kafka_fdw.h"

#include "access/parallel.h"
#include "access/transam.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

/* One header while the headers object is built */
typedef struct HeaderRef
{
	const char *name;
	const void *value;
	size_t		size;
	size_t		index;			/* position in the message */
	bool		keep;			/* false: a later header has the same name */
} HeaderRef;

/*
 * Is this error one a bad message can cause (so skip and junk may swallow
 * it)?  Everything is, except what comes from the environment: connection
 * (08), transaction state (25, e.g. a read-only transaction), transaction
 * rollback (40: deadlock, serialization), insufficient resources (53: out
 * of memory, disk full), operator intervention (57: cancel, statement
 * timeout, shutdown), system errors (58), configuration (F0), data or
 * index corruption (XX001, XX002), and lock_timeout (55P03).  A plain
 * internal error (XX000) counts as the message's: input functions of
 * extensions report bad input with elog(ERROR) (hstore: "Unexpected end
 * of string").
 */
bool
kafkaErrorIsMessageFault(int sqlerrcode)
{
	if (sqlerrcode == ERRCODE_LOCK_NOT_AVAILABLE)
		return false;
	if (sqlerrcode == ERRCODE_INTERNAL_ERROR)
		return true;
	switch (ERRCODE_TO_CATEGORY(sqlerrcode))
	{
		case ERRCODE_CONNECTION_EXCEPTION:
		case ERRCODE_INVALID_TRANSACTION_STATE:
		case ERRCODE_TRANSACTION_ROLLBACK:
		case ERRCODE_INSUFFICIENT_RESOURCES:
		case ERRCODE_OPERATOR_INTERVENTION:
		case ERRCODE_SYSTEM_ERROR:
		case ERRCODE_CONFIG_FILE_ERROR:
		case ERRCODE_INTERNAL_ERROR:
			return false;
		default:
			return true;
	}
}

/*
 * Does the input function of this type hold nothing across an error and run
 * no user-defined code?  Built-in base types, their arrays and built-in
 * ranges, except the reg* types (catalog lookups).  Domains, composites,
 * enums, and every type of an extension or a user (OID beyond the
 * bootstrap catalog) may run user code or hold a resource.
 */
bool
kafkaTypeInputIsPlain(Oid typid)
{
	Oid			elem;
	char		typtype;

	if (typid >= FirstGenbkiObjectId)
		return false;
	elem = get_element_type(typid);
	if (OidIsValid(elem))
		return kafkaTypeInputIsPlain(elem);
	switch (typid)
	{
		case REGPROCOID:
		case REGPROCEDUREOID:
		case REGOPEROID:
		case REGOPERATOROID:
		case REGCLASSOID:
		case REGCOLLATIONOID:
		case REGTYPEOID:
		case REGROLEOID:
		case REGNAMESPACEOID:
		case REGCONFIGOID:
		case REGDICTIONARYOID:
			return false;
		default:
			break;
	}
	typtype = get_typtype(typid);
	return typtype == TYPTYPE_BASE || typtype == TYPTYPE_RANGE || typtype == TYPTYPE_MULTIRANGE;
}

/*
 * The columns to fill for a query that needs attrs (attnums; 0 is a
 * whole-row reference): all of them for a whole-row reference, and when
 * the junk or junk_error column is needed (whether a message is bad
 * depends on every column that decodes something).
 */
static Bitmapset *
columns_to_fill(KafkaOptions *o, Bitmapset *attrs)
{
	Bitmapset  *set = bms_copy(attrs);

	if (bms_is_member(0, attrs) ||
		(o->junk_attnum && bms_is_member(o->junk_attnum, attrs)) ||
		(o->junk_error_attnum && bms_is_member(o->junk_error_attnum, attrs)))
	{
		for (int i = 0; i < o->ncolumns; i++)
			if (!o->columns[i].dropped)
				set = bms_add_member(set, o->columns[i].attnum);
	}
	return set;
}

/* Does decoding this column set need a subtransaction under skip or junk? */
static bool
needs_subxact(KafkaOptions *o, Bitmapset *fill)
{
	if (o->on_error == KAFKA_ON_ERROR_FAIL)
		return false;
	for (int i = 0; i < o->ncolumns; i++)
	{
		KafkaColumn *col = &o->columns[i];

		if (col->dropped || !bms_is_member(col->attnum, fill))
			continue;
		if ((col->kind == KAFKA_COL_VALUE || col->kind == KAFKA_COL_KEY) &&
			!kafkaTypeInputIsPlain(col->typid))
			return true;
	}
	return false;
}

/*
 * Will reading these columns (attnums) of a table decode messages in
 * subtransactions?  Such a scan must not run in a parallel worker.
 */
bool
kafkaRowNeedsSubxact(KafkaOptions *opts, Bitmapset *attrs)
{
	return needs_subxact(opts, columns_to_fill(opts, attrs));
}

/*
 * A reader that fills the columns in attrs (attnums; 0 is a whole-row
 * reference) from messages of a table with these options.  It lives in the
 * current memory context.
 */
KafkaRowReader *
kafkaRowReaderCreate(KafkaOptions *opts, Bitmapset *attrs)
{
	KafkaRowReader *r = palloc0(sizeof(KafkaRowReader));
	Bitmapset  *fill = columns_to_fill(opts, attrs);

	r->opts = opts;
	r->dec = kafkaDecoderCreate(opts, fill);
	r->need_key = opts->key_attnum && bms_is_member(opts->key_attnum, fill);
	if (r->need_key && opts->key_codec)
		r->key_dec = kafkaKeyDecoderCreate(opts);
	r->need_headers = opts->headers_attnum && bms_is_member(opts->headers_attnum, fill);
	r->need_ts = opts->timestamp_attnum && bms_is_member(opts->timestamp_attnum, fill);
	r->use_subxact = needs_subxact(opts, fill);
	return r;
}

/*
 * Header text (a name or a value) as a JSON string: valid UTF-8 without NUL
 * as text (in the server encoding), anything else as \x hex, as bytea
 * prints it.
 */
static void
append_header_text(StringInfo buf, const char *data, size_t len)
{
	if (memchr(data, '\0', len) == NULL && pg_verify_mbstr(PG_UTF8, data, len, true))
	{
		const char *s = data;
		size_t		l = len;
		char	   *why = NULL;

		if (kafkaToServerText(&s, &l, &why))
		{
			escape_json(buf, pnstrdup(s, l));
			return;
		}
	}
	{
		char	   *hex = palloc(len * 2 + 3);

		hex[0] = '\\';
		hex[1] = 'x';
		hex_encode(data, len, hex + 2);
		hex[len * 2 + 2] = '\0';
		escape_json(buf, hex);
	}
}

/* qsort: by name, then by position */
static int
header_cmp(const void *a, const void *b)
{
	const HeaderRef *x = *(HeaderRef *const *) a;
	const HeaderRef *y = *(HeaderRef *const *) b;
	int			c = strcmp(x->name, y->name);

	if (c != 0)
		return c;
	return x->index < y->index ? -1 : (x->index > y->index ? 1 : 0);
}

/*
 * Append the headers (hdrs may be NULL: none) to buf as a JSON object
 * {name: value}, in message order, one key per name: a repeated name keeps
 * its last value (as jsonb does, so json and jsonb columns agree).  Values
 * that are not valid text, and names that are not valid UTF-8, are \x hex;
 * a null value is null.
 */
void
kafkaHeadersToJson(rd_kafka_headers_t *hdrs, StringInfo buf)
{
	size_t		n = hdrs ? rd_kafka_header_cnt(hdrs) : 0;
	HeaderRef  *h = NULL;
	bool		first = true;

	appendStringInfoChar(buf, '{');
	if (n > 0)
	{
		size_t		got = 0;

		h = palloc(sizeof(HeaderRef) * n);
		while (got < n &&
			   rd_kafka_header_get_all(hdrs, got, &h[got].name, &h[got].value, &h[got].size) == RD_KAFKA_RESP_ERR_NO_ERROR)
		{
			h[got].index = got;
			h[got].keep = true;
			got++;
		}
		n = got;
	}
	if (n > 1)
	{
		HeaderRef **sorted = palloc(sizeof(HeaderRef *) * n);

		for (size_t i = 0; i < n; i++)
			sorted[i] = &h[i];
		qsort(sorted, n, sizeof(HeaderRef *), header_cmp);
		for (size_t i = 0; i + 1 < n; i++)
			if (strcmp(sorted[i]->name, sorted[i + 1]->name) == 0)
				sorted[i]->keep = false;
		pfree(sorted);
	}
	for (size_t i = 0; i < n; i++)
	{
		if (!h[i].keep)
			continue;
		if (!first)
			appendStringInfoChar(buf, ',');
		first = false;
		append_header_text(buf, h[i].name, strlen(h[i].name));
		appendStringInfoChar(buf, ':');
		if (h[i].value == NULL)
			appendStringInfoString(buf, "null");
		else
			append_header_text(buf, h[i].value, h[i].size);
	}
	appendStringInfoChar(buf, '}');
	if (h)
		pfree(h);
}

/* The headers of a message into the headers column (json or jsonb) */
static Datum
headers_datum(const rd_kafka_message_t *m, KafkaColumn *col)
{
	rd_kafka_headers_t *hdrs = NULL;
	StringInfoData buf;

	initStringInfo(&buf);
	if (rd_kafka_message_headers(m, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR)
		hdrs = NULL;
	kafkaHeadersToJson(hdrs, &buf);
	return InputFunctionCall(&col->in_func, buf.data, col->in_ioparam, col->typmod);
}

/* The key into the key column (text keys in the message encoding) */
static Datum
key_datum(const rd_kafka_message_t *m, KafkaColumn *col, int encoding, bool *isnull)
{
	char	   *err = NULL;
	const char *key;
	size_t		len;

	if (m->key == NULL)
	{
		*isnull = true;
		return (Datum) 0;
	}
	*isnull = false;
	if (col->typid == BYTEAOID)
		return kafkaBytea(m->key, m->key_len);
	key = m->key;
	len = m->key_len;
	if (!kafkaEncodedToServerText(encoding, &key, &len, &err))
		ereport(ERROR,
				(errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
				 errmsg("message key is not valid %s",
						encoding == PG_UTF8 ? "UTF-8" :
						pg_encoding_to_char(encoding == PG_SQL_ASCII ? GetDatabaseEncoding() : encoding)),
				 errhint("Use a bytea key column for binary keys.")));
	return kafkaColumnFromText(col, key, len);
}

/*
 * Decode the value, key and headers of a message: what a bad message can
 * break.  Returns false with *reason for a malformed value or key (a key's
 * reason starts with "key: "); a conversion error is an ERROR.
 */
static bool
decode_content(KafkaRowReader *r, const rd_kafka_message_t *m, Datum *values, bool *nulls, char **reason)
{
	KafkaOptions *o = r->opts;

	if (!kafkaDecodeValue(r->dec, m->payload, m->len, values, nulls, reason))
		return false;
	if (r->key_dec)
	{
		/* key_format: the key's codec fills the key column (none: NULL) */
		if (!kafkaDecodeValue(r->key_dec, m->key, m->key_len, values, nulls, reason))
		{
			*reason = psprintf("key: %s", *reason);
			return false;
		}
	}
	else if (r->need_key)
		values[o->key_attnum - 1] = key_datum(m, &o->columns[o->key_attnum - 1], o->encoding,
											  &nulls[o->key_attnum - 1]);
	if (r->need_headers)
	{
		values[o->headers_attnum - 1] = headers_datum(m, &o->columns[o->headers_attnum - 1]);
		nulls[o->headers_attnum - 1] = false;
	}
	return true;
}

/*
 * Run fn(arg) in an internal subtransaction, so that an error raised by
 * user-defined code releases what that code held (locks, buffer pins,
 * tuple descriptor references) when it is rolled back: the pattern of
 * PL/pgSQL's exception blocks.  What fn builds in the caller's memory
 * context survives.  Returns NULL if fn returned, else the error it
 * raised, copied into the caller's memory context, if caught(its SQLSTATE)
 * says so; any other error is raised again once the subtransaction is
 * rolled back.
 */
ErrorData *
kafkaInSubxactCatching(void (*fn) (void *arg), void *arg, bool (*caught) (int sqlerrcode))
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	ErrorData  *volatile result = NULL;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		fn(arg);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
		if (!caught(edata->sqlerrcode))
			ReThrowError(edata);
		result = edata;
	}
	PG_END_TRY();
	return result;
}

/*
 * kafkaInSubxactCatching for the errors that are the message's fault
 * (kafkaErrorIsMessageFault).  Also for ingest.c's writes.
 */
ErrorData *
kafkaInSubxact(void (*fn) (void *arg), void *arg)
{
	return kafkaInSubxactCatching(fn, arg, kafkaErrorIsMessageFault);
}

/* decode_content's arguments and result, for kafkaRunGuarded */
typedef struct DecodeCall
{
	KafkaRowReader *r;
	const rd_kafka_message_t *m;
	Datum	   *values;
	bool	   *nulls;
	char	  **reason;
	bool		ok;
} DecodeCall;

static void
decode_call(void *arg)
{
	DecodeCall *c = arg;

	c->ok = decode_content(c->r, c->m, c->values, c->nulls, c->reason);
}

/*
 * Decode, catching an error that is the message's fault into *reason
 * (kafkaRunGuarded): under PG_TRY alone (plain) for columns whose input
 * functions hold nothing across an error (!use_subxact), so flushing the
 * error is safe; else in an internal subtransaction.  Other errors are
 * raised.
 */
static bool
decode_guarded(KafkaRowReader *r, const rd_kafka_message_t *m, Datum *values, bool *nulls,
			   char **reason, bool plain)
{
	DecodeCall	c = {r, m, values, nulls, reason, false};
	char	   *err = kafkaRunGuarded(decode_call, &c, plain);

	if (err)
	{
		*reason = err;
		return false;
	}
	return c.ok;
}

/*
 * Run fn(arg), which converts part of a message (one field, the key, the
 * headers), catching an error that is the message's fault: returns NULL if
 * fn returned, else the error's message (any other error is raised).
 * plain: fn runs only input functions that hold nothing across an error
 * (kafkaTypeInputIsPlain), so PG_TRY is enough; otherwise fn runs in an
 * internal subtransaction, or, in parallel mode, where none can start,
 * unguarded: its error fails the query.  For on_error 'junk' (salvage).
 */
char *
kafkaRunGuarded(void (*fn) (void *arg), void *arg, bool plain)
{
	MemoryContext cxt = CurrentMemoryContext;
	char	   *volatile result = NULL;

	if (!plain)
	{
		ErrorData  *edata;

		if (IsInParallelMode())
		{
			fn(arg);
			return NULL;
		}
		edata = kafkaInSubxact(fn, arg);
		if (edata == NULL)
			return NULL;
		return edata->message ? edata->message : "unknown error";
	}
	PG_TRY();
	{
		fn(arg);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		if (!kafkaErrorIsMessageFault(edata->sqlerrcode))
			PG_RE_THROW();
		FlushErrorState();
		result = edata->message ? edata->message : "unknown error";
	}
	PG_END_TRY();
	return result;
}

/* One part of a message, converted by kafkaRunGuarded (salvage_message) */
typedef struct PartCall
{
	KafkaRowReader *r;
	const rd_kafka_message_t *m;
	Datum	   *values;
	bool	   *nulls;
	KafkaDecoder *dec;			/* codec_call: the value's or the key's codec */
	const void *data;			/* codec_call: what it decodes */
	size_t		len;
	char	   *reason;			/* codec_call: why it is malformed */
	bool		ok;				/* codec_call: not malformed */
} PartCall;

/* The value, or (key_format) the key, with its codec */
static void
codec_call(void *arg)
{
	PartCall   *c = arg;

	c->ok = kafkaDecodeValue(c->dec, c->data, c->len, c->values, c->nulls, &c->reason);
}

static void
key_call(void *arg)
{
	PartCall   *c = arg;
	KafkaOptions *o = c->r->opts;

	c->values[o->key_attnum - 1] = key_datum(c->m, &o->columns[o->key_attnum - 1], o->encoding,
											 &c->nulls[o->key_attnum - 1]);
}

static void
headers_call(void *arg)
{
	PartCall   *c = arg;
	KafkaOptions *o = c->r->opts;

	c->values[o->headers_attnum - 1] = headers_datum(c->m, &o->columns[o->headers_attnum - 1]);
	c->nulls[o->headers_attnum - 1] = false;
}

/*
 * on_error 'junk': decode a message that failed again, part by part, so
 * that its row keeps everything that decodes, as adjust/kafka_fdw does.  The
 * value of a format that can (KAFKA_CODEC_BY_FIELD: json, csv) is decoded
 * field by field, a field that fails left NULL; of another format as a
 * whole; then the key and the headers.  Returns every failure, in order.
 * The slow path only: a message that decodes is decoded once, as under
 * 'fail', so good messages cost nothing more.
 */
static List *
salvage_message(KafkaRowReader *r, const rd_kafka_message_t *m, Datum *values, bool *nulls)
{
	KafkaOptions *o = r->opts;
	KafkaDecoder *dec = r->dec;
	PartCall	c = {r, m, values, nulls, r->dec, m->payload, m->len, NULL, false};
	bool		by_field = (dec->codec->flags & KAFKA_CODEC_BY_FIELD) != 0;
	char	   *volatile err = NULL;
	List	   *errors;

	memset(nulls, true, sizeof(bool) * o->ncolumns);
	dec->errors = NIL;
	dec->salvage = by_field;
	PG_TRY();
	{
		/*
		 * By field, each field is guarded itself and the rest holds nothing,
		 * so PG_TRY is enough around it, except in parallel mode, where a
		 * field that runs user code is not guarded: its error must fail the
		 * query.
		 */
		err = kafkaRunGuarded(codec_call, &c,
							  !r->use_subxact || (by_field && !IsInParallelMode()));
	}
	PG_FINALLY();
	{
		dec->salvage = false;
	}
	PG_END_TRY();
	errors = dec->errors;
	dec->errors = NIL;
	if (err != NULL || !c.ok)
	{
		/* the value failed as a whole: none of its columns */
		memset(nulls, true, sizeof(bool) * o->ncolumns);
		errors = lappend(errors, err ? err : (c.reason ? c.reason : "unknown error"));
	}
	if (r->key_dec)
	{
		/* a codec may run any type's input: in a subtransaction */
		c.dec = r->key_dec;
		c.data = m->key;
		c.len = m->key_len;
		c.ok = false;
		c.reason = NULL;
		err = kafkaRunGuarded(codec_call, &c, false);
		if (err || !c.ok)
		{
			nulls[o->key_attnum - 1] = true;
			errors = lappend(errors, psprintf("key: %s", err ? err : (c.reason ? c.reason : "unknown error")));
		}
	}
	else if (r->need_key)
	{
		err = kafkaRunGuarded(key_call, &c, kafkaTypeInputIsPlain(o->columns[o->key_attnum - 1].typid));
		if (err)
		{
			nulls[o->key_attnum - 1] = true;
			errors = lappend(errors, err);
		}
	}
	if (r->need_headers)
	{
		err = kafkaRunGuarded(headers_call, &c, true);
		if (err)
		{
			nulls[o->headers_attnum - 1] = true;
			errors = lappend(errors, err);
		}
	}
	return errors;
}

/* The message value in the database encoding for kafkaRunGuarded (junk_text) */
typedef struct JunkText
{
	int			encoding;
	const char *data;
	size_t		len;
	bool		ok;
} JunkText;

static void
junk_text_call(void *arg)
{
	JunkText   *j = arg;
	char	   *why = NULL;

	j->ok = kafkaEncodedToServerText(j->encoding, &j->data, &j->len, &why);
}

/*
 * The raw value of a bad message for a text junk column: its text in the
 * database encoding, or NULL (false) if it is not valid text of the
 * message encoding or has characters the database cannot hold.
 */
static bool
junk_text(KafkaOptions *o, const rd_kafka_message_t *m, Datum *value)
{
	JunkText	j = {o->encoding, m->payload, m->len, false};

	if (kafkaRunGuarded(junk_text_call, &j, true) != NULL || !j.ok)
		return false;
	*value = PointerGetDatum(cstring_to_text_with_len(j.data, j.len));
	return true;
}

static void
parallel_mode_context(void *arg)
{
	(void) arg;
	errcontext("on_error cannot apply: the query runs in parallel mode, where a message "
			   "whose columns may run user-defined code cannot be decoded in a subtransaction");
}

/*
 * Fill values/nulls (indexed by attnum - 1, as many as the table has
 * columns) from message m, applying the on_error policy.  Returns
 * KAFKA_ROW_SKIP if the message is to be skipped (on_error 'skip'),
 * KAFKA_ROW_JUNK if it was bad and its row carries the junk columns.
 */
KafkaRowResult
kafkaMessageToRow(KafkaRowReader *r, const rd_kafka_message_t *m, Datum *values, bool *nulls)
{
	KafkaOptions *o = r->opts;
	char	   *reason = NULL;
	bool		ok;
	KafkaRowResult res = KAFKA_ROW_OK;
	List	   *errors;

	memset(nulls, true, sizeof(bool) * o->ncolumns);
	kafkaDecodePrepare(r->dec, m->payload, m->len);
	if (r->key_dec)
		kafkaDecodePrepare(r->key_dec, m->key, m->key_len);

	if (o->on_error == KAFKA_ON_ERROR_FAIL)
		ok = decode_content(r, m, values, nulls, &reason);
	else if (!r->use_subxact || !IsInParallelMode())
		ok = decode_guarded(r, m, values, nulls, &reason, !r->use_subxact);
	else
	{
		ErrorContextCallback errcb;

		errcb.callback = parallel_mode_context;
		errcb.arg = NULL;
		errcb.previous = error_context_stack;
		error_context_stack = &errcb;
		/* a malformed message (false, *reason) is still skipped or junked */
		ok = decode_content(r, m, values, nulls, &reason);
		error_context_stack = errcb.previous;
	}

	if (!ok)
	{
		if (o->on_error == KAFKA_ON_ERROR_FAIL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("malformed %s message in topic \"%s\" partition %d offset " INT64_FORMAT ": %s",
							kafkaFormatName(o->format), o->topic, m->partition, m->offset, reason),
					 errhint("Set the foreign table option on_error to 'skip' or 'junk' to read past bad messages.")));
		if (o->on_error == KAFKA_ON_ERROR_SKIP)
			return KAFKA_ROW_SKIP;
		res = KAFKA_ROW_JUNK;

		/* junk: keep what decodes, say what failed */
		if (r->use_subxact && IsInParallelMode())
		{
			ErrorContextCallback errcb;

			errcb.callback = parallel_mode_context;
			errcb.arg = NULL;
			errcb.previous = error_context_stack;
			error_context_stack = &errcb;
			errors = salvage_message(r, m, values, nulls);
			error_context_stack = errcb.previous;
		}
		else
			errors = salvage_message(r, m, values, nulls);
		/* decoding again found nothing (an input function that changed its mind) */
		if (errors == NIL)
			errors = list_make1(reason ? reason : "unknown error");
		if (o->junk_attnum)
		{
			KafkaColumn *jc = &o->columns[o->junk_attnum - 1];

			nulls[o->junk_attnum - 1] = true;
			if (m->payload && jc->typid == BYTEAOID)
			{
				values[o->junk_attnum - 1] = kafkaBytea(m->payload, m->len);
				nulls[o->junk_attnum - 1] = false;
			}
			else if (m->payload && junk_text(o, m, &values[o->junk_attnum - 1]))
				nulls[o->junk_attnum - 1] = false;
		}
		if (o->junk_error_attnum)
		{
			StringInfoData buf;
			ListCell   *lc;

			/* every failure, one per line */
			initStringInfo(&buf);
			foreach(lc, errors)
			{
				if (buf.len > 0)
					appendStringInfoChar(&buf, '\n');
				appendStringInfoString(&buf, (const char *) lfirst(lc));
			}
			values[o->junk_error_attnum - 1] = PointerGetDatum(cstring_to_text_with_len(buf.data, buf.len));
			nulls[o->junk_error_attnum - 1] = false;
		}
	}

	{
		rd_kafka_timestamp_type_t tstype = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE;
		int64		ms = r->need_ts ? rd_kafka_message_timestamp(m, &tstype) : -1;

		kafkaSetMetaColumns(o, values, nulls, m->partition, m->offset,
							tstype != RD_KAFKA_TIMESTAMP_NOT_AVAILABLE ? ms : -1);
	}
	return res;
}
