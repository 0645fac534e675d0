/*-------------------------------------------------------------------------
 *
 * registry.c
 *		  A client of the Confluent Schema Registry API (Confluent's own,
 *		  Apicurio's /apis/ccompat/v7, Karapace, Redpanda): schemas by id,
 *		  versions of subjects, registration, compatibility checks and levels.
 *
 *		  The registry is the server option schema_registry (the API's base
 *		  URL), with schema_registry_ca (PEM text of the CAs to trust instead
 *		  of the system's) and basic-auth credentials from the user mapping
 *		  (schema_registry_user, schema_registry_password).
 *
 *		  Requests run on libcurl's multi interface in this backend: the
 *		  backend waits on its latch and curl's sockets together, in slices
 *		  of at most KAFKA_SLICE_MS, so query cancel, statement_timeout and
 *		  postmaster death act at once; each request is bounded by the
 *		  server's timeout_ms.
 *
 *		  Caches (per backend, for its lifetime): schemas by id, versions of
 *		  subjects by number, and the ids of schemas registered under a
 *		  subject, each keyed by the registry's URL and user (a user without
 *		  the right to read a schema never gets it from another user's
 *		  request).  Ids and versions never change meaning in a registry, so
 *		  nothing is invalidated; "latest" is asked every time.
 *
 * Invariants:
 *	- Only http and https; no redirects, no .netrc, no file access: the CA
 *	  is given as text, so a non-superuser's options read nothing on the
 *	  database server.
 *	- No PostgreSQL function runs inside a curl callback except allocation
 *	  that cannot fail with an ERROR (MCXT_ALLOC_NO_OOM); errors are
 *	  raised after curl returns.  Threads curl starts (its resolver) start
 *	  with every signal blocked.
 *	- An ERROR anywhere in a request (cancel included) removes the transfer
 *	  from the multi handle and frees the wait set (PG_CATCH).
 *	- The password is never part of a message.
 *	- Cached entries are never freed: pointers returned to callers stay
 *	  valid for the backend's lifetime.
 *
 *-------------------------------------------------------------------------
 */
#include "kafka_fdw.h"

#include <signal.h>
#include <pthread.h>
#include <curl/curl.h>

#include "common/hashfn.h"
#include "common/jsonapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/latch.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/wait_event.h"

/* The largest answer accepted: schemas are kilobytes, a subject list more */
#define REGISTRY_MAX_RESPONSE (64 * 1024 * 1024)

/* The most sockets one transfer uses at once (resolver, happy eyeballs) */
#define REGISTRY_MAX_SOCKETS 16

/* Longest registry message quoted in an error */
#define REGISTRY_MAX_MESSAGE 2000

#define REGISTRY_HINT_URL "Check the server option \"schema_registry\": the base URL of the registry's Confluent API, such as 'http://host:8081' (Confluent) or 'http://host:8080/apis/ccompat/v7' (Apicurio)."

/* ---- libcurl, once per backend ---------------------------------------- */

static CURLM *reg_multi = NULL;

/* the sockets curl wants watched (CURLMOPT_SOCKETFUNCTION) */
static struct
{
	curl_socket_t fd;
	int			what;			/* CURL_POLL_IN, _OUT or _INOUT */
}			reg_socks[REGISTRY_MAX_SOCKETS];
static int	reg_nsocks = 0;
static bool reg_socks_changed = false;	/* the wait set must be rebuilt */
static bool reg_socks_overflow = false; /* curl wanted more than fit */

/* when curl wants CURL_SOCKET_TIMEOUT acted on (kafkaNowMs), or -1 */
static int64 reg_timer_at = -1;

/* curl's socket callback: track what to wait for; no PostgreSQL calls */
static int
reg_socket_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
	int			i;

	(void) easy;
	(void) userp;
	(void) socketp;
	for (i = 0; i < reg_nsocks; i++)
		if (reg_socks[i].fd == s)
			break;
	if (what == CURL_POLL_REMOVE)
	{
		if (i < reg_nsocks)
		{
			reg_socks[i] = reg_socks[--reg_nsocks];
			reg_socks_changed = true;
		}
		return 0;
	}
	if (i == reg_nsocks)
	{
		if (reg_nsocks == REGISTRY_MAX_SOCKETS)
		{
			reg_socks_overflow = true;
			return 0;
		}
		reg_nsocks++;
		reg_socks[i].fd = s;
		reg_socks[i].what = 0;
	}
	if (reg_socks[i].what != what)
	{
		reg_socks[i].what = what;
		reg_socks_changed = true;
	}
	return 0;
}

/* curl's timer callback: when to call it back without socket activity */
static int
reg_timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	(void) multi;
	(void) userp;
	reg_timer_at = timeout_ms < 0 ? -1 : kafkaNowMs() + timeout_ms;
	return 0;
}

/* The multi handle of this backend, made on first use */
static CURLM *
reg_get_multi(void)
{
	if (reg_multi != NULL)
		return reg_multi;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		ereport(ERROR,
				(errcode(ERRCODE_SYSTEM_ERROR),
				 errmsg("could not initialize libcurl")));
	reg_multi = curl_multi_init();
	if (reg_multi == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory"),
				 errdetail("libcurl could not make a multi handle.")));
	curl_multi_setopt(reg_multi, CURLMOPT_SOCKETFUNCTION, reg_socket_cb);
	curl_multi_setopt(reg_multi, CURLMOPT_TIMERFUNCTION, reg_timer_cb);
	/* a few idle connections, reused by the next requests */
	curl_multi_setopt(reg_multi, CURLMOPT_MAXCONNECTS, 4L);
	return reg_multi;
}

/*
 * curl_multi_socket_action with every signal blocked, so that a thread curl
 * starts meanwhile (its threaded resolver) inherits that mask
 * (kafkaBlockSignals)
 */
static CURLMcode
reg_socket_action(curl_socket_t s, int mask, int *running)
{
	sigset_t	old;
	CURLMcode	rc;

	kafkaBlockSignals(&old);
	rc = curl_multi_socket_action(reg_multi, s, mask, running);
	kafkaRestoreSignals(&old);
	return rc;
}

/* ---- one request ----------------------------------------------------- */

/* An answer being received (written by reg_write_cb) */
typedef struct RegBuffer
{
	char	   *data;
	size_t		len;
	size_t		cap;
	bool		too_large;		/* over REGISTRY_MAX_RESPONSE */
	bool		no_memory;		/* an allocation failed */
} RegBuffer;

/*
 * curl's write callback: append to the buffer, in the request's memory
 * context.  Allocation failures and oversized answers end the transfer
 * (returning less than given) and are reported after curl returns.
 */
static size_t
reg_write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	RegBuffer  *b = userdata;
	size_t		n = size * nmemb;

	if (b->len + n + 1 > REGISTRY_MAX_RESPONSE)
	{
		b->too_large = true;
		return 0;
	}
	if (b->len + n + 1 > b->cap)
	{
		size_t		cap = Max(b->cap * 2, b->len + n + 1);
		char	   *d;

		cap = Max(cap, 4096);
		d = b->data == NULL ?
			palloc_extended(cap, MCXT_ALLOC_NO_OOM) :
			repalloc_extended(b->data, cap, MCXT_ALLOC_NO_OOM);
		if (d == NULL)
		{
			b->no_memory = true;
			return 0;
		}
		b->data = d;
		b->cap = cap;
	}
	memcpy(b->data + b->len, ptr, n);
	b->len += n;
	b->data[b->len] = '\0';
	return n;
}

/* What a request got */
typedef struct RegResponse
{
	long		status;			/* HTTP status */
	char	   *body;			/* the answer, NUL-terminated, server encoding */
	size_t		len;
	Jsonb	   *json;			/* the answer parsed, or NULL if not JSON */
	int			error_code;		/* Confluent's error_code, or 0 */
	char	   *message;		/* Confluent's message, or NULL */
} RegResponse;

/* How a request is described in messages: "GET <url>" */
typedef struct RegRequest
{
	KafkaOptions *opts;
	const char *method;			/* GET, POST, PUT */
	const char *path;			/* after the base URL, escaped */
	const char *body;			/* JSON to send, or NULL */
	char	   *url;			/* base URL + path */
} RegRequest;

/* The server option schema_registry, or an error saying it is missing */
static const char *
reg_base_url(KafkaOptions *opts)
{
	if (opts->schema_registry == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_OPTION_NAME_NOT_FOUND),
				 errmsg("server \"%s\" has no schema registry", opts->server_name),
				 errhint("Set the server option \"schema_registry\" to the base URL of a Confluent-compatible schema registry: ALTER SERVER %s OPTIONS (ADD schema_registry 'http://host:8081').",
						 quote_identifier(opts->server_name))));
	return opts->schema_registry;
}

/* The registry's own words, shortened for a message */
static char *
reg_quote(const char *s)
{
	if (s == NULL)
		return "";
	if (strlen(s) > REGISTRY_MAX_MESSAGE)
		return psprintf("%.*s...", pg_mbcliplen(s, strlen(s), REGISTRY_MAX_MESSAGE), s);
	return (char *) s;
}

/*
 * A failed transfer (no HTTP answer): unreachable, refused, name not
 * resolved, TLS, timeout.  Class 08 (connection exception): a scan does
 * not take it for a fault of the message it was decoding.
 */
static void
reg_report_transfer(RegRequest *rq, CURLcode rc, const char *errbuf, const RegBuffer *b)
{
	KafkaOptions *opts = rq->opts;
	const char *why = errbuf[0] ? errbuf : curl_easy_strerror(rc);

	if (b->too_large)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("the answer of the schema registry of server \"%s\" is larger than %d MB",
						opts->server_name, REGISTRY_MAX_RESPONSE / (1024 * 1024)),
				 errdetail("Request: %s %s.", rq->method, rq->url)));
	if (b->no_memory)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory"),
				 errdetail("Receiving the answer of the schema registry of server \"%s\".", opts->server_name)));
	switch (rc)
	{
		case CURLE_OPERATION_TIMEDOUT:
			ereport(ERROR,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 errmsg("the schema registry of server \"%s\" did not answer within %d ms",
							opts->server_name, opts->timeout_ms),
					 errdetail("Request: %s %s: %s.", rq->method, rq->url, why),
					 errhint("Check that the registry is running, or raise the option \"timeout_ms\" of server \"%s\".",
							 opts->server_name)));
			break;
		case CURLE_SSL_CONNECT_ERROR:
		case CURLE_PEER_FAILED_VERIFICATION:
		case CURLE_SSL_CERTPROBLEM:
		case CURLE_SSL_CIPHER:
		case CURLE_SSL_CACERT_BADFILE:
		case CURLE_SSL_ISSUER_ERROR:
		case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
		case CURLE_SSL_INVALIDCERTSTATUS:
		case CURLE_SSL_CRL_BADFILE:
		case CURLE_SSL_ENGINE_INITFAILED:
			ereport(ERROR,
					(errcode(ERRCODE_SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION),
					 errmsg("could not establish a TLS connection to the schema registry of server \"%s\"",
							opts->server_name),
					 errdetail("Request: %s %s: %s.", rq->method, rq->url, why),
					 errhint("If the registry's certificate is signed by a private CA, give the CA's certificate (PEM text) in the server option \"schema_registry_ca\".")));
			break;
		case CURLE_UNSUPPORTED_PROTOCOL:
		case CURLE_URL_MALFORMAT:
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
					 errmsg("invalid schema registry URL for server \"%s\"", opts->server_name),
					 errdetail("Request: %s %s: %s.", rq->method, rq->url, why),
					 errhint("%s", REGISTRY_HINT_URL)));
			break;
		default:
			ereport(ERROR,
					(errcode(ERRCODE_SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION),
					 errmsg("could not reach the schema registry of server \"%s\"", opts->server_name),
					 errdetail("Request: %s %s: %s.", rq->method, rq->url, why),
					 errhint("Check that the registry is running and the server option \"schema_registry\".")));
	}
}

/*
 * Run one transfer on the multi handle to its end, waiting on the latch
 * and curl's sockets.  Returns curl's result; raises an ERROR on cancel,
 * on the deadline and on failures of the multi interface.
 */
static CURLcode
reg_perform(RegRequest *rq, CURL *easy)
{
	KafkaOptions *opts = rq->opts;
	int64		deadline = kafkaNowMs() + opts->timeout_ms;
	WaitEventSet *volatile set = NULL;
	CURLcode	result = CURLE_OK;
	CURLMcode	mc;
	int			running = 1;
	bool		timed_out = false;

	reg_timer_at = -1;
	reg_socks_overflow = false;
	mc = curl_multi_add_handle(reg_multi, easy);
	if (mc != CURLM_OK)
		ereport(ERROR,
				(errcode(ERRCODE_SYSTEM_ERROR),
				 errmsg("libcurl could not start a request: %s", curl_multi_strerror(mc))));
	reg_socks_changed = true;

	PG_TRY();
	{
		while (running > 0)
		{
			WaitEvent	events[REGISTRY_MAX_SOCKETS + 2];
			int64		now;
			long		wait_ms;
			int			n;

			CHECK_FOR_INTERRUPTS();
			now = kafkaNowMs();
			if (reg_timer_at >= 0 && now >= reg_timer_at)
			{
				reg_timer_at = -1;
				mc = reg_socket_action(CURL_SOCKET_TIMEOUT, 0, &running);
				if (mc != CURLM_OK)
					break;
				continue;
			}
			if (now >= deadline)
			{
				/* reported by the caller, as curl's own timeout is */
				timed_out = true;
				break;
			}
			if (reg_socks_overflow)
				ereport(ERROR,
						(errcode(ERRCODE_INTERNAL_ERROR),
						 errmsg("libcurl uses more than %d sockets for one schema registry request",
								REGISTRY_MAX_SOCKETS)));
			wait_ms = Min(deadline - now, KAFKA_SLICE_MS);
			if (reg_timer_at >= 0)
				wait_ms = Min(wait_ms, reg_timer_at - now);

			/* the latch, postmaster death and the sockets curl watches */
			if (set == NULL || reg_socks_changed)
			{
				if (set != NULL)
				{
					FreeWaitEventSet(set);
					set = NULL;
				}
				set = CreateWaitEventSet(CurrentMemoryContext, reg_nsocks + 2);
				AddWaitEventToSet(set, WL_LATCH_SET, PGINVALID_SOCKET, MyLatch, NULL);
				AddWaitEventToSet(set, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET, NULL, NULL);
				for (int i = 0; i < reg_nsocks; i++)
				{
					uint32		ev = 0;

					if (reg_socks[i].what & CURL_POLL_IN)
						ev |= WL_SOCKET_READABLE;
					if (reg_socks[i].what & CURL_POLL_OUT)
						ev |= WL_SOCKET_WRITEABLE;
					AddWaitEventToSet(set, ev, reg_socks[i].fd, NULL, NULL);
				}
				reg_socks_changed = false;
			}
			n = WaitEventSetWait(set, wait_ms, events, lengthof(events), PG_WAIT_EXTENSION);
			for (int i = 0; i < n && mc == CURLM_OK; i++)
			{
				int			mask = 0;

				if (events[i].events & WL_LATCH_SET)
				{
					ResetLatch(MyLatch);
					continue;
				}
				if (events[i].events & WL_SOCKET_READABLE)
					mask |= CURL_CSELECT_IN;
				if (events[i].events & WL_SOCKET_WRITEABLE)
					mask |= CURL_CSELECT_OUT;
				if (mask != 0)
					mc = reg_socket_action(events[i].fd, mask, &running);
			}
			if (mc != CURLM_OK)
				break;
		}
		if (mc != CURLM_OK)
			ereport(ERROR,
					(errcode(ERRCODE_SYSTEM_ERROR),
					 errmsg("libcurl failed during a schema registry request: %s", curl_multi_strerror(mc)),
					 errdetail("Request: %s %s.", rq->method, rq->url)));
		/* the transfer ended: its result */
		if (timed_out)
			result = CURLE_OPERATION_TIMEDOUT;
		else
		{
			CURLMsg    *msg;
			int			left;

			result = CURLE_RECV_ERROR;
			while ((msg = curl_multi_info_read(reg_multi, &left)) != NULL)
				if (msg->msg == CURLMSG_DONE && msg->easy_handle == easy)
					result = msg->data.result;
		}
	}
	PG_CATCH();
	{
		if (set != NULL)
			FreeWaitEventSet(set);
		curl_multi_remove_handle(reg_multi, easy);
		PG_RE_THROW();
	}
	PG_END_TRY();
	if (set != NULL)
		FreeWaitEventSet(set);
	curl_multi_remove_handle(reg_multi, easy);
	return result;
}

/*
 * Parse an answer as JSON into a Jsonb, or NULL if it is not JSON (invalid
 * text, a NUL byte): checked with the JSON parser first, so that an
 * invalid answer is not an error of jsonb_in.
 */
static Jsonb *
reg_parse_json(char *data, size_t len)
{
	JsonLexContext *lex;

	if (len == 0 || len > INT_MAX || memchr(data, '\0', len) != NULL)
		return NULL;
	lex = makeJsonLexContextCstringLen(data, (int) len, GetDatabaseEncoding(), false);
	if (pg_parse_json(lex, &nullSemAction) != JSON_SUCCESS)
		return NULL;
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(data)));
}

/* A string member of a JSON object, or NULL */
static char *
json_string(Jsonb *jb, const char *key)
{
	JsonbValue	v;

	if (jb == NULL || !JB_ROOT_IS_OBJECT(jb) ||
		getKeyJsonValueFromContainer(&jb->root, key, strlen(key), &v) == NULL ||
		v.type != jbvString)
		return NULL;
	return pnstrdup(v.val.string.val, v.val.string.len);
}

/* An int32 member of a JSON object; false if absent or not an int32 */
static bool
json_int(Jsonb *jb, const char *key, int32 *out)
{
	JsonbValue	v;
	bool		error = false;

	if (jb == NULL || !JB_ROOT_IS_OBJECT(jb) ||
		getKeyJsonValueFromContainer(&jb->root, key, strlen(key), &v) == NULL ||
		v.type != jbvNumeric)
		return false;
	*out = numeric_int4_opt_error(v.val.numeric, &error);
	return !error;
}

/* The elements of a JSON array (a container) as strings: others as JSON text */
static List *
json_strings(JsonbContainer *c)
{
	List	   *result = NIL;
	uint32		n = JsonContainerSize(c);

	for (uint32 i = 0; i < n; i++)
	{
		JsonbValue *v = getIthJsonbValueFromContainer(c, i);

		if (v == NULL)
			continue;
		if (v->type == jbvString)
			result = lappend(result, pnstrdup(v->val.string.val, v->val.string.len));
		else
		{
			Jsonb	   *e = JsonbValueToJsonb(v);

			result = lappend(result, JsonbToCString(NULL, &e->root, VARSIZE(e)));
		}
	}
	return result;
}

/*
 * Send one request and return the answer, whatever its HTTP status (the
 * caller maps statuses to errors with reg_report_status).  Transfer
 * failures are raised here.  A GET that got no byte of an answer within
 * timeout_ms is sent once more, on a new connection: reading is idempotent,
 * and a registry (Apicurio here) now and then leaves one request on a kept
 * connection unanswered.  Such a request may take up to twice timeout_ms.
 */
static void
reg_request(KafkaOptions *opts, const char *method, const char *path, const char *body,
			RegResponse *resp)
{
	RegRequest	rq;
	RegBuffer	buf = {0};
	char		errbuf[CURL_ERROR_SIZE];
	struct curl_slist *volatile headers = NULL;
	CURL	   *volatile easy = NULL;
	volatile CURLcode rc = CURLE_OK;
	const char *base = reg_base_url(opts);
	size_t		blen = strlen(base);
	char	   *sendbody = NULL;
	volatile bool retried = false;

	rq.opts = opts;
	rq.method = method;
	rq.path = path;
	rq.body = body;
	/* base URL without its trailing slashes, then the path */
	while (blen > 0 && base[blen - 1] == '/')
		blen--;
	rq.url = psprintf("%.*s%s", (int) blen, base, path);
	/* the registry speaks UTF-8 */
	if (body != NULL)
		sendbody = pg_server_to_any(body, strlen(body), PG_UTF8);

	memset(resp, 0, sizeof(*resp));
	reg_get_multi();

again:
	errbuf[0] = '\0';
	PG_TRY();
	{
		struct curl_slist *h;

		easy = curl_easy_init();
		if (easy == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("out of memory"),
					 errdetail("libcurl could not make a handle.")));
#define SETOPT(o, v) \
		do { \
			if (curl_easy_setopt(easy, (o), (v)) != CURLE_OK) \
				ereport(ERROR, \
						(errcode(ERRCODE_SYSTEM_ERROR), \
						 errmsg("libcurl refused option %s", #o))); \
		} while (0)
		SETOPT(CURLOPT_URL, rq.url);
		SETOPT(CURLOPT_PROTOCOLS_STR, "http,https");
		SETOPT(CURLOPT_FOLLOWLOCATION, 0L);
		SETOPT(CURLOPT_NOSIGNAL, 1L);
#if LIBCURL_VERSION_NUM >= 0x075700
		/* an ended transfer does not wait for its resolver thread to finish */
		SETOPT(CURLOPT_QUICK_EXIT, 1L);
#endif
		SETOPT(CURLOPT_ERRORBUFFER, errbuf);
		SETOPT(CURLOPT_TIMEOUT_MS, (long) opts->timeout_ms);
		SETOPT(CURLOPT_CONNECTTIMEOUT_MS, (long) opts->timeout_ms);
		SETOPT(CURLOPT_USERAGENT, "kafka_fdw");
		if (retried)
		{
			SETOPT(CURLOPT_FRESH_CONNECT, 1L);
			SETOPT(CURLOPT_FORBID_REUSE, 1L);
		}
		SETOPT(CURLOPT_WRITEFUNCTION, reg_write_cb);
		SETOPT(CURLOPT_WRITEDATA, &buf);
		h = curl_slist_append(headers, "Accept: application/vnd.schemaregistry.v1+json, application/vnd.schemaregistry+json, application/json");
		if (h)
			headers = h;
		/* no "Expect: 100-continue" round trip before a body */
		h = h ? curl_slist_append(headers, "Expect:") : NULL;
		if (h)
			headers = h;
		if (sendbody != NULL)
		{
			h = h ? curl_slist_append(headers, "Content-Type: application/vnd.schemaregistry.v1+json") : NULL;
			if (h)
				headers = h;
			SETOPT(CURLOPT_POSTFIELDS, sendbody);
			SETOPT(CURLOPT_POSTFIELDSIZE, (long) strlen(sendbody));
		}
		if (h == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("out of memory")));
		SETOPT(CURLOPT_HTTPHEADER, headers);
		if (strcmp(method, "GET") == 0)
			SETOPT(CURLOPT_HTTPGET, 1L);
		else if (strcmp(method, "POST") != 0)
			SETOPT(CURLOPT_CUSTOMREQUEST, method);
		if (opts->schema_registry_user != NULL || opts->schema_registry_password != NULL)
		{
			SETOPT(CURLOPT_HTTPAUTH, (long) CURLAUTH_BASIC);
			SETOPT(CURLOPT_USERNAME, opts->schema_registry_user ? opts->schema_registry_user : "");
			SETOPT(CURLOPT_PASSWORD, opts->schema_registry_password ? opts->schema_registry_password : "");
		}
		if (opts->schema_registry_ca != NULL)
		{
			struct curl_blob blob;

			blob.data = opts->schema_registry_ca;
			blob.len = strlen(opts->schema_registry_ca);
			blob.flags = CURL_BLOB_COPY;
			/* this CA only, not the system's as well */
			SETOPT(CURLOPT_CAINFO, NULL);
			SETOPT(CURLOPT_CAPATH, NULL);
			SETOPT(CURLOPT_CAINFO_BLOB, &blob);
		}
#undef SETOPT

		rc = reg_perform(&rq, easy);
		if (rc == CURLE_OK)
			curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &resp->status);
	}
	PG_FINALLY();
	{
		if (easy != NULL)
			curl_easy_cleanup(easy);
		easy = NULL;
		curl_slist_free_all(headers);
		headers = NULL;
	}
	PG_END_TRY();

	if (rc == CURLE_OPERATION_TIMEDOUT && buf.len == 0 && !retried && strcmp(method, "GET") == 0)
	{
		ereport(LOG,
				(errmsg("the schema registry of server \"%s\" did not answer within %d ms; asking again on a new connection",
						opts->server_name, opts->timeout_ms),
				 errdetail("Request: %s %s.", method, rq.url)));
		retried = true;
		goto again;
	}
	if (rc != CURLE_OK)
		reg_report_transfer(&rq, rc, errbuf, &buf);

	if (buf.data != NULL)
	{
		/* UTF-8 (no NUL bytes), then in the database's encoding */
		if (!pg_verify_mbstr(PG_UTF8, buf.data, (int) buf.len, true))
			ereport(ERROR,
					(errcode(ERRCODE_PROTOCOL_VIOLATION),
					 errmsg("invalid answer from the schema registry of server \"%s\"", opts->server_name),
					 errdetail("The answer to %s %s (HTTP status %ld) is not valid UTF-8 text.",
							   method, rq.url, resp->status)));
		resp->body = pg_any_to_server(buf.data, buf.len, PG_UTF8);
		resp->len = resp->body == buf.data ? buf.len : strlen(resp->body);
	}
	else
	{
		resp->body = pstrdup("");
		resp->len = 0;
	}
	resp->json = reg_parse_json(resp->body, resp->len);
	if (resp->json != NULL)
	{
		(void) json_int(resp->json, "error_code", &resp->error_code);
		resp->message = json_string(resp->json, "message");
	}
}

/* What a request was about, for messages of reg_report_status */
typedef struct RegWhat
{
	const char *subject;		/* or NULL */
	int32		version;		/* > 0: a version of subject */
	int32		id;				/* > 0: a schema id */
} RegWhat;

/*
 * Turn an HTTP error status into an ERROR; returns if status is 2xx.
 * 404 with Confluent's codes 40401/40402/40403 and 409 are left to callers
 * that expect them (they check before calling this).
 */
static void
reg_report_status(KafkaOptions *opts, const char *method, const char *path, RegResponse *r,
				  const RegWhat *what)
{
	const char *srv = opts->server_name;
	char	   *detail;

	if (r->status >= 200 && r->status < 300)
		return;
	if (r->message != NULL)
		detail = psprintf("The registry answered %ld (error code %d) to %s %s: %s", r->status,
						  r->error_code, method, path, reg_quote(r->message));
	else
		detail = psprintf("The registry answered %ld to %s %s: %s", r->status, method, path,
						  reg_quote(r->body));

	switch (r->status)
	{
		case 401:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
					 errmsg("the schema registry of server \"%s\" refused the credentials", srv),
					 errdetail("%s", detail),
					 errhint("Give the registry's user and password as \"schema_registry_user\" and \"schema_registry_password\" in the user mapping for server \"%s\".",
							 srv)));
			break;
		case 403:
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("permission denied by the schema registry of server \"%s\"", srv),
					 errdetail("%s", detail),
					 errhint("The registry user of the user mapping for server \"%s\" lacks the right to do this.",
							 srv)));
			break;
		case 404:
			if (r->error_code == 40401 && what->subject)
				ereport(ERROR,
						(errcode(ERRCODE_UNDEFINED_OBJECT),
						 errmsg("subject \"%s\" not found in the schema registry of server \"%s\"",
								what->subject, srv),
						 errdetail("%s", detail)));
			if (r->error_code == 40402 && what->subject)
				ereport(ERROR,
						(errcode(ERRCODE_UNDEFINED_OBJECT),
						 errmsg("version %d of subject \"%s\" not found in the schema registry of server \"%s\"",
								what->version, what->subject, srv),
						 errdetail("%s", detail)));
			if (r->error_code == 40403 && what->id > 0)
				ereport(ERROR,
						(errcode(ERRCODE_UNDEFINED_OBJECT),
						 errmsg("schema %d not found in the schema registry of server \"%s\"",
								what->id, srv),
						 errdetail("%s", detail)));
			if (r->error_code == 40403 && what->subject)
				ereport(ERROR,
						(errcode(ERRCODE_UNDEFINED_OBJECT),
						 errmsg("schema not found under subject \"%s\" in the schema registry of server \"%s\"",
								what->subject, srv),
						 errdetail("%s", detail)));
			if (r->error_code >= 40400 && r->error_code < 40500)
				ereport(ERROR,
						(errcode(ERRCODE_UNDEFINED_OBJECT),
						 errmsg("not found in the schema registry of server \"%s\"", srv),
						 errdetail("%s", detail)));
			/* no Confluent error code: not the Confluent API */
			ereport(ERROR,
					(errcode(ERRCODE_PROTOCOL_VIOLATION),
					 errmsg("the schema registry of server \"%s\" does not know the request %s %s",
							srv, method, path),
					 errdetail("%s", detail),
					 errhint("%s", REGISTRY_HINT_URL)));
			break;
		case 409:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
					 what->subject ?
					 errmsg("schema is incompatible with subject \"%s\" in the schema registry of server \"%s\"",
							what->subject, srv) :
					 errmsg("the schema registry of server \"%s\" refused the request as a conflict", srv),
					 errdetail("%s", detail),
					 errhint("kafka.check_compatibility() tells whether a schema is compatible with a subject's latest version, under the subject's compatibility level.")));
			break;
		case 422:
			if (r->error_code == 42203)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("the schema registry of server \"%s\" refused the compatibility level", srv),
						 errdetail("%s", detail)));
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 r->error_code == 42201 || r->error_code == 0 ?
					 errmsg("the schema registry of server \"%s\" refused the schema as invalid", srv) :
					 errmsg("the schema registry of server \"%s\" refused the request as invalid", srv),
					 errdetail("%s", detail)));
			break;
		default:
			if (r->status >= 500)
				ereport(ERROR,
						(errcode(ERRCODE_CONNECTION_FAILURE),
						 errmsg("the schema registry of server \"%s\" failed with HTTP status %ld",
								srv, r->status),
						 errdetail("%s", detail),
						 errhint("The registry's own log may tell why; retry when it works again.")));
			ereport(ERROR,
					(errcode(ERRCODE_PROTOCOL_VIOLATION),
					 errmsg("the schema registry of server \"%s\" answered HTTP status %ld", srv, r->status),
					 errdetail("%s", detail)));
	}
}

/* An answer that should be a JSON object or array but is not */
static void
reg_report_invalid(KafkaOptions *opts, const char *method, const char *path, RegResponse *r,
				   const char *expected)
{
	ereport(ERROR,
			(errcode(ERRCODE_PROTOCOL_VIOLATION),
			 errmsg("invalid answer from the schema registry of server \"%s\"", opts->server_name),
			 errdetail("Expected %s from %s %s, got: %s", expected, method, path, reg_quote(r->body)),
			 errhint("%s", REGISTRY_HINT_URL)));
}

/* "/subjects/<escaped subject>" and so on: a path segment, percent-encoded */
static char *
reg_escape(const char *segment)
{
	char	   *utf8 = pg_server_to_any(segment, strlen(segment), PG_UTF8);
	char	   *e;
	char	   *result;

	reg_get_multi();			/* curl_global_init */
	e = curl_easy_escape(NULL, utf8, (int) strlen(utf8));
	if (e == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	result = pstrdup(e);
	curl_free(e);
	return result;
}

/* A subject name must not be empty (the registry would mean another path) */
static void
check_subject(const char *subject)
{
	if (subject == NULL || subject[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("subject name must not be empty")));
}

/* {"schema": "...", "schemaType": "..."} */
static char *
reg_schema_body(const char *schema, const char *schema_type)
{
	StringInfoData b;

	initStringInfo(&b);
	appendStringInfoString(&b, "{\"schema\":");
	escape_json(&b, schema);
	/* Confluent's default is AVRO; Apicurio guesses from the text */
	appendStringInfoString(&b, ",\"schemaType\":");
	escape_json(&b, schema_type ? schema_type : "AVRO");
	appendStringInfoChar(&b, '}');
	return b.data;
}

/* ---- caches ---------------------------------------------------------- */

typedef enum RegKeyKind
{
	REG_KEY_ID,					/* a schema by id */
	REG_KEY_VERSION,			/* a version of a subject */
	REG_KEY_REGISTERED			/* a schema text registered under a subject */
} RegKeyKind;

typedef struct RegKey
{
	RegKeyKind	kind;
	int			regno;			/* index into reg_registries */
	int32		num;			/* the id or the version */
	const char *subject;		/* or NULL */
	const char *schema;			/* REG_KEY_REGISTERED: the text, else NULL */
} RegKey;

typedef struct RegEntry
{
	RegKey		key;			/* the strings are copies in reg_cxt */
	KafkaSchema schema;			/* strings in reg_cxt */
} RegEntry;

static MemoryContext reg_cxt = NULL;
static HTAB *reg_cache = NULL;
static List *reg_registries = NIL;	/* of char *: "url\nuser", in reg_cxt */

static uint32
reg_key_hash(const void *key, Size keysize)
{
	const RegKey *k = key;
	uint32		h = hash_combine((uint32) k->kind, (uint32) k->regno);

	(void) keysize;
	h = hash_combine(h, (uint32) k->num);
	if (k->subject)
		h = hash_combine(h, string_hash(k->subject, 0));
	if (k->schema)
		h = hash_combine(h, string_hash(k->schema, 0));
	return h;
}

static int
reg_key_match(const void *a, const void *b, Size keysize)
{
	const RegKey *x = a;
	const RegKey *y = b;

	(void) keysize;
	if (x->kind != y->kind || x->regno != y->regno || x->num != y->num)
		return 1;
	if ((x->subject == NULL) != (y->subject == NULL) ||
		(x->subject && strcmp(x->subject, y->subject) != 0))
		return 1;
	if ((x->schema == NULL) != (y->schema == NULL) ||
		(x->schema && strcmp(x->schema, y->schema) != 0))
		return 1;
	return 0;
}

/* The cache's number for this registry and registry user */
static int
reg_number(KafkaOptions *opts)
{
	char	   *ident = psprintf("%s\n%s", reg_base_url(opts),
								 opts->schema_registry_user ? opts->schema_registry_user : "");
	ListCell   *lc;

	if (reg_cxt == NULL)
	{
		HASHCTL		ctl;

		reg_cxt = AllocSetContextCreate(TopMemoryContext, "kafka_fdw schema registry cache",
										ALLOCSET_DEFAULT_SIZES);
		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(RegKey);
		ctl.entrysize = sizeof(RegEntry);
		ctl.hash = reg_key_hash;
		ctl.match = reg_key_match;
		ctl.hcxt = reg_cxt;
		reg_cache = hash_create("kafka_fdw schema registry cache", 64, &ctl,
								HASH_ELEM | HASH_FUNCTION | HASH_COMPARE | HASH_CONTEXT);
	}
	foreach(lc, reg_registries)
		if (strcmp((char *) lfirst(lc), ident) == 0)
			return foreach_current_index(lc);
	{
		MemoryContext old = MemoryContextSwitchTo(reg_cxt);

		reg_registries = lappend(reg_registries, pstrdup(ident));
		MemoryContextSwitchTo(old);
	}
	return list_length(reg_registries) - 1;
}

static const KafkaSchema *
reg_cache_find(const RegKey *key)
{
	RegEntry   *e = hash_search(reg_cache, key, HASH_FIND, NULL);

	return e ? &e->schema : NULL;
}

static char *
cxt_strdup(const char *s)
{
	return s ? MemoryContextStrdup(reg_cxt, s) : NULL;
}

/*
 * Remember a schema under a key.  Everything is copied before the entry
 * is made, so that a failure leaves no half-filled entry behind.
 */
static const KafkaSchema *
reg_cache_put(const RegKey *key, const KafkaSchema *s)
{
	RegKey		k = *key;
	KafkaSchema copy = *s;
	RegEntry   *e;
	bool		found;

	k.subject = cxt_strdup(key->subject);
	k.schema = cxt_strdup(key->schema);
	copy.subject = cxt_strdup(s->subject);
	copy.schema = cxt_strdup(s->schema);
	copy.schema_type = cxt_strdup(s->schema_type);
	e = hash_search(reg_cache, &k, HASH_ENTER, &found);
	if (!found)
	{
		e->key = k;
		e->schema = copy;
	}
	return &e->schema;
}

/* ---- the API ----------------------------------------------------------- */

/*
 * The schema with this id (GET /schemas/ids/{id}), cached.  Unknown id:
 * NULL if missing_ok, else an ERROR (undefined_object).  The result lives
 * as long as the backend; subject and version are NULL and 0 (an id may
 * be registered under several subjects).
 */
const KafkaSchema *
kafkaRegistrySchemaById(KafkaOptions *opts, int32 id, bool missing_ok)
{
	RegKey		key = {REG_KEY_ID, reg_number(opts), id, NULL, NULL};
	const KafkaSchema *found = reg_cache_find(&key);
	KafkaSchema s = {0};
	RegResponse r;
	RegWhat		what = {NULL, 0, id};
	char	   *path;

	if (found)
		return found;
	path = psprintf("/schemas/ids/%d", id);
	reg_request(opts, "GET", path, NULL, &r);
	if (r.status == 404 && (r.error_code == 40403 || r.error_code == 40401) && missing_ok)
		return NULL;
	reg_report_status(opts, "GET", path, &r, &what);
	s.id = id;
	s.schema = json_string(r.json, "schema");
	if (s.schema == NULL)
		reg_report_invalid(opts, "GET", path, &r, "{\"schema\": \"...\"}");
	s.schema_type = json_string(r.json, "schemaType");
	if (s.schema_type == NULL)
		s.schema_type = "AVRO";
	return reg_cache_put(&key, &s);
}

/*
 * A version of a subject (GET /subjects/{subject}/versions/{version}), or
 * its latest with version KAFKA_REGISTRY_LATEST.  Numbered versions are
 * cached; the latest is asked every time (its answer fills the caches).
 * Unknown subject or version: NULL if missing_ok, else an ERROR.
 */
const KafkaSchema *
kafkaRegistrySubjectVersion(KafkaOptions *opts, const char *subject, int32 version, bool missing_ok)
{
	int			regno = reg_number(opts);
	RegKey		key = {REG_KEY_VERSION, regno, version, subject, NULL};
	KafkaSchema s = {0};
	RegResponse r;
	RegWhat		what = {subject, version, 0};
	char	   *path;
	const KafkaSchema *result;

	check_subject(subject);
	if (version != KAFKA_REGISTRY_LATEST)
	{
		const KafkaSchema *found;

		if (version <= 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid version %d of subject \"%s\"", version, subject),
					 errhint("Versions are numbered from 1.")));
		found = reg_cache_find(&key);
		if (found)
			return found;
	}
	path = version == KAFKA_REGISTRY_LATEST ?
		psprintf("/subjects/%s/versions/latest", reg_escape(subject)) :
		psprintf("/subjects/%s/versions/%d", reg_escape(subject), version);
	reg_request(opts, "GET", path, NULL, &r);
	if (r.status == 404 && (r.error_code == 40401 || r.error_code == 40402) && missing_ok)
		return NULL;
	reg_report_status(opts, "GET", path, &r, &what);
	s.subject = json_string(r.json, "subject");
	s.schema = json_string(r.json, "schema");
	s.schema_type = json_string(r.json, "schemaType");
	if (s.schema == NULL || !json_int(r.json, "id", &s.id) || !json_int(r.json, "version", &s.version))
		reg_report_invalid(opts, "GET", path, &r, "{\"subject\", \"version\", \"id\", \"schema\"}");
	if (s.subject == NULL)
		s.subject = (char *) subject;
	if (s.schema_type == NULL)
		s.schema_type = "AVRO";
	key.num = s.version;
	result = reg_cache_put(&key, &s);
	/* the id's schema too */
	{
		RegKey		idkey = {REG_KEY_ID, regno, s.id, NULL, NULL};
		KafkaSchema byid = s;

		byid.subject = NULL;
		byid.version = 0;
		if (reg_cache_find(&idkey) == NULL)
			(void) reg_cache_put(&idkey, &byid);
	}
	return result;
}

/*
 * Register a schema under a subject (POST /subjects/{subject}/versions)
 * and return its id.  Idempotent: a schema the subject already has keeps
 * its id and version; cached per backend, so asked once.  An incompatible
 * schema (409) or an invalid one (422) is an ERROR.  schema_type: NULL for
 * AVRO.
 */
int32
kafkaRegistryRegister(KafkaOptions *opts, const char *subject, const char *schema,
					  const char *schema_type)
{
	RegKey		key = {REG_KEY_REGISTERED, reg_number(opts), 0, subject, schema};
	const KafkaSchema *found;
	KafkaSchema s = {0};
	RegResponse r;
	RegWhat		what = {subject, 0, 0};
	char	   *path;

	check_subject(subject);
	found = reg_cache_find(&key);
	if (found)
		return found->id;
	path = psprintf("/subjects/%s/versions", reg_escape(subject));
	reg_request(opts, "POST", path, reg_schema_body(schema, schema_type), &r);
	reg_report_status(opts, "POST", path, &r, &what);
	if (!json_int(r.json, "id", &s.id))
		reg_report_invalid(opts, "POST", path, &r, "{\"id\": N}");
	s.subject = (char *) subject;
	s.schema = (char *) schema;
	s.schema_type = schema_type ? (char *) schema_type : "AVRO";
	(void) reg_cache_put(&key, &s);
	return s.id;
}

/*
 * The id kafkaRegistryRegister returned (or kafkaRegistryRemember noted)
 * for this schema text under the subject in this backend, or -1: no
 * request is made.
 */
int32
kafkaRegistryRegisteredId(KafkaOptions *opts, const char *subject, const char *schema)
{
	RegKey		key = {REG_KEY_REGISTERED, reg_number(opts), 0, subject, schema};
	const KafkaSchema *found = reg_cache_find(&key);

	return found ? found->id : -1;
}

/*
 * Note that this schema text is (equivalent to) the schema with this id
 * under the subject, as kafkaRegistryRegister would: later registrations
 * of the text in this backend return the id without asking.
 */
void
kafkaRegistryRemember(KafkaOptions *opts, const char *subject, const char *schema, int32 id)
{
	RegKey		key = {REG_KEY_REGISTERED, reg_number(opts), 0, subject, schema};
	KafkaSchema s = {0};

	check_subject(subject);
	s.id = id;
	s.subject = (char *) subject;
	s.schema = (char *) schema;
	s.schema_type = "AVRO";
	(void) reg_cache_put(&key, &s);
}

/*
 * The version numbers of a subject (GET /subjects/{subject}/versions), in
 * the registry's order (ascending), as an IntList; NIL if the subject does
 * not exist.  Not cached: versions may be added at any time.
 */
List *
kafkaRegistrySubjectVersions(KafkaOptions *opts, const char *subject)
{
	RegResponse r;
	RegWhat		what = {subject, 0, 0};
	char	   *path;
	List	   *result = NIL;
	uint32		n;

	check_subject(subject);
	path = psprintf("/subjects/%s/versions", reg_escape(subject));
	reg_request(opts, "GET", path, NULL, &r);
	if (r.status == 404 && r.error_code == 40401)
		return NIL;
	reg_report_status(opts, "GET", path, &r, &what);
	if (r.json == NULL || !JB_ROOT_IS_ARRAY(r.json) || JB_ROOT_IS_SCALAR(r.json))
		reg_report_invalid(opts, "GET", path, &r, "a JSON array of version numbers");
	n = JsonContainerSize(&r.json->root);
	for (uint32 i = 0; i < n; i++)
	{
		JsonbValue *v = getIthJsonbValueFromContainer(&r.json->root, i);
		bool		error = false;
		int32		version;

		if (v == NULL || v->type != jbvNumeric)
			reg_report_invalid(opts, "GET", path, &r, "a JSON array of version numbers");
		version = numeric_int4_opt_error(v->val.numeric, &error);
		if (error || version <= 0)
			reg_report_invalid(opts, "GET", path, &r, "a JSON array of version numbers");
		result = lappend_int(result, version);
	}
	return result;
}

/*
 * Is this schema registered under the subject (POST /subjects/{subject})?
 * Returns its id and sets *version, or returns -1 if the subject does not
 * have it (or does not exist).  Nothing is registered; not cached.
 */
int32
kafkaRegistryLookup(KafkaOptions *opts, const char *subject, const char *schema,
					const char *schema_type, int32 *version)
{
	RegResponse r;
	RegWhat		what = {subject, 0, 0};
	char	   *path;
	int32		id;
	int32		v = 0;

	check_subject(subject);
	path = psprintf("/subjects/%s", reg_escape(subject));
	reg_request(opts, "POST", path, reg_schema_body(schema, schema_type), &r);
	if (r.status == 404 && (r.error_code == 40401 || r.error_code == 40403))
		return -1;
	reg_report_status(opts, "POST", path, &r, &what);
	if (!json_int(r.json, "id", &id))
		reg_report_invalid(opts, "POST", path, &r, "{\"id\": N, \"version\": N}");
	(void) json_int(r.json, "version", &v);
	if (version)
		*version = v;
	return id;
}

/*
 * Would the registry accept this schema as the subject's next version
 * (POST /compatibility/subjects/{subject}/versions/latest?verbose=true)?
 * A subject without versions accepts anything.  *messages (if not NULL):
 * the registry's reasons, as strings (Confluent gives them; Apicurio
 * gives none).  An invalid schema (422) is an ERROR.
 */
bool
kafkaRegistryCheckCompatibility(KafkaOptions *opts, const char *subject, const char *schema,
								const char *schema_type, List **messages)
{
	RegResponse r;
	RegWhat		what = {subject, 0, 0};
	char	   *path;
	JsonbValue	v;

	check_subject(subject);
	if (messages)
		*messages = NIL;
	path = psprintf("/compatibility/subjects/%s/versions/latest?verbose=true", reg_escape(subject));
	reg_request(opts, "POST", path, reg_schema_body(schema, schema_type), &r);
	/* older Confluent registries: no such subject, so nothing to be incompatible with */
	if (r.status == 404 && (r.error_code == 40401 || r.error_code == 40402))
		return true;
	reg_report_status(opts, "POST", path, &r, &what);
	if (r.json == NULL || !JB_ROOT_IS_OBJECT(r.json) ||
		getKeyJsonValueFromContainer(&r.json->root, "is_compatible", strlen("is_compatible"), &v) == NULL ||
		v.type != jbvBool)
		reg_report_invalid(opts, "POST", path, &r, "{\"is_compatible\": true|false}");
	if (messages)
	{
		JsonbValue	m;

		if (getKeyJsonValueFromContainer(&r.json->root, "messages", strlen("messages"), &m) != NULL &&
			m.type == jbvBinary && JsonContainerIsArray(m.val.binary.data))
			*messages = json_strings(m.val.binary.data);
	}
	return v.val.boolean;
}

/* The compatibility levels of the Confluent API */
static const char *const reg_levels[] = {
	"BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE",
	"FULL", "FULL_TRANSITIVE", "NONE", NULL
};

/* The canonical spelling of a compatibility level, or NULL if invalid */
const char *
kafkaRegistryLevel(const char *level)
{
	for (const char *const *l = reg_levels; *l; l++)
		if (pg_strcasecmp(*l, level) == 0)
			return *l;
	return NULL;
}

/*
 * The compatibility level that applies to a subject (GET
 * /config/{subject}?defaultToGlobal=true: its own, else the registry's),
 * or the registry's (subject NULL).
 */
char *
kafkaRegistryGetCompatibility(KafkaOptions *opts, const char *subject)
{
	RegResponse r;
	RegWhat		what = {subject, 0, 0};
	char	   *path = NULL;
	char	   *level;

	if (subject != NULL)
	{
		check_subject(subject);
		path = psprintf("/config/%s?defaultToGlobal=true", reg_escape(subject));
		reg_request(opts, "GET", path, NULL, &r);
		/* no level of its own, or no such subject (40408, 40401): the global level */
		if (r.status == 404 && (r.error_code == 40401 || r.error_code == 40408))
			path = NULL;
	}
	if (path == NULL)
	{
		path = "/config";
		reg_request(opts, "GET", path, NULL, &r);
	}
	reg_report_status(opts, "GET", path, &r, &what);
	level = json_string(r.json, "compatibilityLevel");
	if (level == NULL)
		level = json_string(r.json, "compatibility");
	if (level == NULL)
		reg_report_invalid(opts, "GET", path, &r, "{\"compatibilityLevel\": \"...\"}");
	return level;
}

/*
 * Set the compatibility level of a subject (PUT /config/{subject}), or the
 * registry's (subject NULL).  level: one of the Confluent levels, in any
 * case.
 */
void
kafkaRegistrySetCompatibility(KafkaOptions *opts, const char *subject, const char *level)
{
	const char *canonical = kafkaRegistryLevel(level);
	RegResponse r;
	RegWhat		what = {subject, 0, 0};
	char	   *path;
	StringInfoData body;

	if (canonical == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid compatibility level \"%s\"", level),
				 errhint("Valid levels are BACKWARD, BACKWARD_TRANSITIVE, FORWARD, FORWARD_TRANSITIVE, FULL, FULL_TRANSITIVE and NONE.")));
	if (subject != NULL)
	{
		check_subject(subject);
		path = psprintf("/config/%s", reg_escape(subject));
	}
	else
		path = "/config";
	initStringInfo(&body);
	appendStringInfoString(&body, "{\"compatibility\":");
	escape_json(&body, canonical);
	appendStringInfoChar(&body, '}');
	reg_request(opts, "PUT", path, body.data, &r);
	reg_report_status(opts, "PUT", path, &r, &what);
}

/* The subjects of the registry (GET /subjects), as a list of strings */
List *
kafkaRegistrySubjects(KafkaOptions *opts)
{
	RegResponse r;
	RegWhat		what = {NULL, 0, 0};

	reg_request(opts, "GET", "/subjects", NULL, &r);
	reg_report_status(opts, "GET", "/subjects", &r, &what);
	if (r.json == NULL || !JB_ROOT_IS_ARRAY(r.json) || JB_ROOT_IS_SCALAR(r.json))
		reg_report_invalid(opts, "GET", "/subjects", &r, "a JSON array of subjects");
	return json_strings(&r.json->root);
}

/*
 * The validator's check of the server option schema_registry: an http or
 * https URL without credentials (those belong in the user mapping), query
 * or fragment.
 */
void
kafkaRegistryCheckUrl(const char *url)
{
	const char *rest;
	const char *slash;
	size_t		authlen;

	if (pg_strncasecmp(url, "http://", 7) == 0)
		rest = url + 7;
	else if (pg_strncasecmp(url, "https://", 8) == 0)
		rest = url + 8;
	else
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("invalid value for option \"schema_registry\": \"%s\"", url),
				 errdetail("The URL must start with http:// or https://."),
				 errhint("%s", REGISTRY_HINT_URL)));
	if (strlen(url) > 2048)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("option \"schema_registry\" is longer than 2048 bytes")));
	for (const char *c = url; *c; c++)
		if ((unsigned char) *c <= ' ' || *c == 0x7f)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
					 errmsg("invalid value for option \"schema_registry\": it contains a blank or control character"),
					 errhint("Percent-encode such characters in the URL.")));
	slash = strchr(rest, '/');
	authlen = slash ? (size_t) (slash - rest) : strlen(rest);
	if (authlen == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("invalid value for option \"schema_registry\": \"%s\"", url),
				 errdetail("The URL has no host."),
				 errhint("%s", REGISTRY_HINT_URL)));
	if (memchr(rest, '@', authlen) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("option \"schema_registry\" must not contain credentials"),
				 errhint("Give them as \"schema_registry_user\" and \"schema_registry_password\" in a user mapping.")));
	if (strchr(url, '?') != NULL || strchr(url, '#') != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("invalid value for option \"schema_registry\": \"%s\"", url),
				 errdetail("The URL must not have a query or a fragment."),
				 errhint("%s", REGISTRY_HINT_URL)));
}

/* The validator's check of schema_registry_ca: PEM certificates, as text */
void
kafkaRegistryCheckCa(const char *pem)
{
	if (strstr(pem, "-----BEGIN CERTIFICATE-----") == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("invalid value for option \"schema_registry_ca\""),
				 errdetail("It must hold one or more certificates in PEM format (\"-----BEGIN CERTIFICATE-----\" ...), as text, not a file name."),
				 errhint("For example: ALTER SERVER ... OPTIONS (ADD schema_registry_ca '-----BEGIN CERTIFICATE-----\n...\n-----END CERTIFICATE-----').")));
}
