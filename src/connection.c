/*-------------------------------------------------------------------------
 *
 * connection.c
 *		  librdkafka handles for kafka_fdw: a per-backend cache keyed by the
 *		  complete configuration (server, user mapping, table properties;
 *		  built and checked by kafkaHandleConfig in rdkafka_conf.c),
 *		  librdkafka log and error routing to the backend thread, with the
 *		  handle's secrets cut out,
 *		  the one helper for bounded, interruptible waits (kafkaWaitUntil),
 *		  metadata and watermark requests in short slices, and error
 *		  translation.
 *		  Writers get their own producer handles: idempotent, with acks=all,
 *		  delivery reports served on the backend by rd_kafka_poll (the
 *		  callback is the caller's: producer.c's), and, for transactional
 *		  tables, a transactional.id per session, or one the caller chose.
 *
 *		  Since the cache key is the whole configuration, a changed server or
 *		  user mapping simply makes a new handle and the old one idles.  Each
 *		  handle costs about 8 threads and 18 file descriptors, so a backend
 *		  keeps at most kafka_fdw.max_handles of them (a superuser setting).
 *		  When a new one is needed at the cap, idle handles are retired,
 *		  least recently used first: destroyed on a helper thread while the
 *		  backend waits a bounded time.  Never on the backend thread:
 *		  librdkafka 2.0.2 (Debian 12) can hang forever in rd_kafka_destroy()
 *		  after a consumer fetched (a leaked partition reference, librdkafka
 *		  issue #4674), and no timeout or cancel can end that wait.  A destroy
 *		  that does not finish in time leaves a "zombie" that still counts
 *		  against the cap until it finishes; if nothing idle is left to
 *		  retire, the new handle is refused with an ERROR.  At backend exit
 *		  the operating system reclaims what is left (producers are flushed
 *		  first).
 *
 * Invariants:
 *	- Handles are created lazily, never in the postmaster.
 *	- librdkafka's own threads never call into PostgreSQL: log.queue routes
 *	  logs to the main queue, served here by rd_kafka_poll on our thread,
 *	  and the callbacks only copy into static buffers (redacting secrets).
 *	- No blocking librdkafka call lasts longer than KAFKA_SLICE_MS; between
 *	  slices we CHECK_FOR_INTERRUPTS, so cancel and statement_timeout work.
 *	- A handle in use (a scan started on it, a statement or a Kafka
 *	  transaction writing through it) is never retired.  Metadata and admin
 *	  handles are handed out as bare rd_kafka_t pointers that callers use
 *	  at once and never keep across another request for a handle.
 *	- The retiring helper thread runs librdkafka only (queue and handle
 *	  destroy, close()), with every signal blocked; it never calls
 *	  PostgreSQL.  Only handles with nothing left to serve (rd_kafka_outq_len
 *	  0: no message, delivery report or callback pending) are retired, so
 *	  the destroy has no application callback to run.
 *
 *-------------------------------------------------------------------------
 */
#include "kafka_fdw.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include "access/xlog.h"
#include "commands/dbcommands.h"
#include "commands/defrem.h"
#include "lib/stringinfo.h"
#include "nodes/makefuncs.h"
#include "miscadmin.h"
#include "postmaster/postmaster.h"
#include "storage/backendid.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "utils/memutils.h"
#include "utils/syscache.h"
#include "utils/wait_event.h"

/*
 * transactional.id numbers handed out in this backend, by configuration key:
 * a handle rebuilt for the same configuration reuses its id, so that its
 * init_transactions fences the old handle and aborts what it left open.
 */
typedef struct TxnIdEntry
{
	char	   *confkey;
	int			n;
} TxnIdEntry;

static List *txn_ids = NIL;		/* of TxnIdEntry *, in TopMemoryContext */

static char *transactional_id(const char *confkey);
static char *txn_id_base = NULL;	/* kafkaSetTxnIdBase */

/* One cached handle */
typedef struct CachedHandle
{
	char	   *confkey;		/* kind + serialized configuration */
	HandleKind	kind;
	bool		invalid;		/* failed: never handed out again */
	uint64		last_used;		/* use_clock when last handed out (LRU) */
	KafkaSecrets *secrets;		/* cut out of its logs and errors */
	KafkaHandle h;
} CachedHandle;

static List *handle_cache = NIL;	/* of CachedHandle *, in TopMemoryContext */
static bool callbacks_registered = false;
static uint64 use_clock = 0;

/*
 * A handle being destroyed on a helper thread.  malloc'd: the helper reads
 * it; only the backend frees it, after joining the thread.
 */
typedef struct RetiringHandle
{
	pthread_t	thread;
	rd_kafka_t *rk;
	rd_kafka_queue_t *queue;
	int			event_fd[2];
	int64		started_ms;		/* kafkaNowMs() when retired */
	int			done;			/* set by the helper (__atomic) when finished */
	struct CachedHandle *owner; /* the cache entry, freed once done (opaque) */
} RetiringHandle;

static List *retiring = NIL;	/* of RetiringHandle *, in TopMemoryContext */

/* How long the backend waits for one retired handle's destroy to finish */
#define KAFKA_RETIRE_WAIT_MS 5000

/* Errors seen by error_cb during the last poll (copied, never ereported there) */
static rd_kafka_resp_err_t last_error = RD_KAFKA_RESP_ERR_NO_ERROR;
static char last_error_str[512];
static bool last_error_fatal = false;

/* Logs seen by log_cb, emitted after the poll */
#define LOG_RING 16
static char log_ring[LOG_RING][512];
static int	log_ring_level[LOG_RING];
static int	log_ring_n = 0;

/*
 * The callbacks run on the backend thread inside rd_kafka_poll (log.queue);
 * the handle's opaque is its CachedHandle, whose secrets are cut out of
 * the text before anything keeps it.
 */
static void
log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	CachedHandle *ch = rd_kafka_opaque(rk);

	if (log_ring_n >= LOG_RING)
		return;
	snprintf(log_ring[log_ring_n], sizeof(log_ring[0]), "%s: %s", fac, buf);
	kafkaRedact(log_ring[log_ring_n], sizeof(log_ring[0]), ch ? ch->secrets : NULL);
	log_ring_level[log_ring_n++] = level;
}

static void
error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	CachedHandle *ch = opaque;

	(void) rk;
	last_error = (rd_kafka_resp_err_t) err;
	last_error_fatal = (err == RD_KAFKA_RESP_ERR__FATAL);
	strlcpy(last_error_str, reason, sizeof(last_error_str));
	kafkaRedact(last_error_str, sizeof(last_error_str), ch ? ch->secrets : NULL);
}

/*
 * Serve logs and errors of a handle on this thread.  Logs of librdkafka
 * level <= 3 (error) go to the server log as WARNING-free LOG lines; the rest
 * at DEBUG1.
 */
void
kafkaServeLogs(rd_kafka_t *rk)
{
	rd_kafka_poll(rk, 0);
	for (int i = 0; i < log_ring_n; i++)
		ereport(log_ring_level[i] <= 4 ? LOG : DEBUG1,
				(errmsg_internal("kafka_fdw: librdkafka: %s", log_ring[i])));
	log_ring_n = 0;
}

int
kafkaErrcode(rd_kafka_resp_err_t err)
{
	switch (err)
	{
		case RD_KAFKA_RESP_ERR__TRANSPORT:
		case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
		case RD_KAFKA_RESP_ERR__RESOLVE:
		case RD_KAFKA_RESP_ERR__TIMED_OUT:
		case RD_KAFKA_RESP_ERR__AUTHENTICATION:
		case RD_KAFKA_RESP_ERR__SSL:
			return ERRCODE_FDW_UNABLE_TO_ESTABLISH_CONNECTION;
		case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
		case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
			return ERRCODE_FDW_TABLE_NOT_FOUND;
		case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
			return ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE;
		case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
		case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
		case RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED:
		case RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED:
			return ERRCODE_INSUFFICIENT_PRIVILEGE;
		case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
			return ERRCODE_PROGRAM_LIMIT_EXCEEDED;
		case RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS:
			return ERRCODE_DUPLICATE_OBJECT;
		default:
			return ERRCODE_FDW_ERROR;
	}
}

/*
 * Fail at once when the broker refused our credentials or its certificate
 * could not be verified.  librdkafka treats both like any broken connection
 * and retries forever, so a wrong password or CA would otherwise surface only
 * as a timeout after timeout_ms, with the reason hidden in a detail line.
 * Waiting longer cannot help: the next attempt is refused the same way.
 * Other TLS errors (a handshake cut short by a restarting broker) may pass,
 * so only a failed verification counts; OpenSSL names it so in the reason.
 * Call after serving the handle's errors (kafkaServeLogs) in a wait loop that
 * reset last_error, when CONNECT_REFUSED().
 */
#define CONNECT_REFUSED() \
	(last_error == RD_KAFKA_RESP_ERR__AUTHENTICATION || \
	 (last_error == RD_KAFKA_RESP_ERR__SSL && strstr(last_error_str, "certificate verify failed") != NULL))

static void
pg_attribute_noreturn()
report_connect_refused(const char *what)
{
	if (last_error == RD_KAFKA_RESP_ERR__SSL)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_UNABLE_TO_ESTABLISH_CONNECTION),
				 errmsg("could not %s: the TLS certificate of the Kafka broker could not be verified", what),
				 errdetail("librdkafka reported: %s", last_error_str),
				 errhint("Give the certificate of the CA that signed the broker's certificate in \"ssl.ca.pem\", and name the brokers by a host name or address the certificate was issued for.")));
	ereport(ERROR,
			(errcode(ERRCODE_FDW_UNABLE_TO_ESTABLISH_CONNECTION),
			 errmsg("could not %s: Kafka authentication failed", what),
			 errdetail("librdkafka reported: %s", last_error_str),
			 errhint("Check \"security.protocol\" and \"sasl.mechanisms\" in the server options, and the credentials (such as \"sasl.username\" and \"sasl.password\") in the user mapping.")));
}

/*
 * The one place librdkafka errors become PostgreSQL errors.
 */
void
kafkaReportError(rd_kafka_resp_err_t err, const char *what, const char *topic)
{
	int			code = kafkaErrcode(err);

	if (code == ERRCODE_FDW_TABLE_NOT_FOUND && topic)
		ereport(ERROR,
				(errcode(code),
				 errmsg("Kafka topic \"%s\" does not exist", topic),
				 errhint("Create the topic, for example with kafka_create_topic(server, topic, partitions).")));
	ereport(ERROR,
			(errcode(code),
			 errmsg("%s: %s", what, rd_kafka_err2str(err)),
			 last_error != RD_KAFKA_RESP_ERR_NO_ERROR && last_error != err ?
			 errdetail("librdkafka reported: %s", last_error_str) : 0,
			 code == ERRCODE_FDW_UNABLE_TO_ESTABLISH_CONNECTION ?
			 errhint("Check the server option \"brokers\" and that Kafka is running; the wait is bounded by the option \"timeout_ms\".") : 0));
}

/*
 * Destroy every message or event waiting in a consumer's queue, so that
 * nothing an earlier scan fetched is mistaken for the next scan's data and
 * no fetched message holds memory after its scan.
 */
void
kafkaDrainQueue(KafkaHandle *h)
{
	rd_kafka_event_t *ev;

	while ((ev = rd_kafka_queue_poll(h->queue, 0)) != NULL)
		rd_kafka_event_destroy(ev);
	h->fetch_stopped = false;
}

/*
 * librdkafka 2.0.x's refill stall, and the cheap way around it.  A partition
 * is not fetched while the consumer queue holds queued.min.messages (for a
 * queue that partitions forward to, the sum over them), and librdkafka looks
 * again only when the broker thread wakes for something else: I/O, an
 * operation, or a second later (rd_kafka_toppar_fetch_decide answers "never"
 * rather than a backoff; 2.2 added fetch.queue.backoff.ms for that).  A
 * consumer slower than Kafka (any scan that decodes) fills the queue, drains
 * it, and then waits for the rest of that second, again and again.
 *
 * A consumer calls this after taking messages.  It notes when the queue holds
 * queued.min.messages (the fetchers stop) and returns true once, after that,
 * the queue has fallen to low_water or less: the caller then takes all the
 * queue holds, seeks each partition to the offset after the last message it
 * took (an operation, which wakes the broker thread; the queue is empty, so
 * the seek drops nothing), and calls kafkaFetchersWoken.  The fetch runs
 * while the caller works through what it took, and memory stays bounded by
 * queued.min.messages plus low_water messages.  Always false with a
 * librdkafka that has fetch.queue.backoff.ms (rdkafka_conf.c sets it).
 */
bool
kafkaFetchersStopped(KafkaHandle *h, int low_water)
{
	int			len;

	if (h->queued_min <= 0)
		return false;
	len = rd_kafka_queue_length(h->queue);
	if (len >= h->queued_min)
	{
		h->fetch_stopped = true;
		return false;
	}
	return h->fetch_stopped && len <= low_water;
}

void
kafkaFetchersWoken(KafkaHandle *h)
{
	h->fetch_stopped = false;
}

static void
free_secrets(KafkaSecrets *s)
{
	for (int i = 0; i < s->n; i++)
		pfree(s->values[i]);
	pfree(s->values);
	pfree(s);
}

/* Destroy a handle that was never used (its set-up failed) */
static void
destroy_unused(CachedHandle *ch)
{
	if (ch->h.queue)
		rd_kafka_queue_destroy(ch->h.queue);
	if (ch->h.rk)
		rd_kafka_destroy_flags(ch->h.rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
	if (ch->h.event_fd[0] >= 0)
		close(ch->h.event_fd[0]);
	if (ch->h.event_fd[1] >= 0)
		close(ch->h.event_fd[1]);
	if (ch->h.txn_id)
		pfree((char *) ch->h.txn_id);
	free_secrets(ch->secrets);
	pfree(ch->confkey);
	pfree(ch);
}

/* ---------------------------------------------------------------------
 * The cap on handles per backend (kafka_fdw.max_handles)
 * ---------------------------------------------------------------------
 */

/*
 * Body of the helper thread that destroys a retired handle.  librdkafka and
 * libc only: no PostgreSQL function may run on this thread.
 */
static void *
retire_thread(void *arg)
{
	RetiringHandle *r = arg;

	if (r->queue)
		rd_kafka_queue_destroy(r->queue);
	/* simple (partition) consumers have no group to leave */
	rd_kafka_destroy_flags(r->rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
	if (r->event_fd[0] >= 0)
		close(r->event_fd[0]);
	if (r->event_fd[1] >= 0)
		close(r->event_fd[1]);
	__atomic_store_n(&r->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* Join the helper threads that finished and forget their handles */
static void
reap_retired(void)
{
	ListCell   *lc;

	foreach(lc, retiring)
	{
		RetiringHandle *r = lfirst(lc);

		if (!__atomic_load_n(&r->done, __ATOMIC_ACQUIRE))
			continue;
		/* done is its last store: the join returns at once */
		(void) pthread_join(r->thread, NULL);
		if (r->owner->h.txn_id)
			pfree((char *) r->owner->h.txn_id);
		free_secrets(r->owner->secrets);
		pfree(r->owner->confkey);
		pfree(r->owner);
		elog(DEBUG1, "kafka_fdw: retired a librdkafka handle in " INT64_FORMAT " ms",
			 kafkaNowMs() - r->started_ms);
		free(r);
		retiring = foreach_delete_current(retiring, lc);
	}
}

/*
 * Could this handle be retired now?  Not while a scan, a statement or a
 * Kafka transaction uses it; a producer only with nothing left to deliver
 * or report, so that destroying it runs no callback of ours.
 */
static bool
retirable(CachedHandle *ch)
{
	if (ch->h.in_use)
		return false;
	rd_kafka_poll(ch->h.rk, 0);	/* serve what is already there */
	return rd_kafka_outq_len(ch->h.rk) == 0;
}

/*
 * Block every signal on the backend thread until kafkaRestoreSignals(old):
 * a thread started meanwhile (ours, or one a library starts, such as
 * curl's threaded resolver) inherits that mask, so that the backend's
 * handlers run on the backend thread alone; signals that arrive meanwhile
 * are delivered when the mask is restored.
 */
void
kafkaBlockSignals(sigset_t *old)
{
	sigset_t	all;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, old);
}

void
kafkaRestoreSignals(const sigset_t *old)
{
	pthread_sigmask(SIG_SETMASK, old, NULL);
}

/*
 * Start a helper thread that runs librdkafka only, never PostgreSQL, with
 * every signal blocked.  Returns pthread_create's result.
 */
int
kafkaStartThread(pthread_t *thread, void *(*fn) (void *), void *arg)
{
	sigset_t	old;
	int			rc;

	kafkaBlockSignals(&old);
	rc = pthread_create(thread, NULL, fn, arg);
	kafkaRestoreSignals(&old);
	return rc;
}

/*
 * Take an idle handle out of the cache and destroy it on a helper thread.
 * Returns its tracking entry.  If no thread can be started, the handle
 * stays cached and the ERROR says why.
 */
static RetiringHandle *
retire(CachedHandle *ch)
{
	RetiringHandle *r = malloc(sizeof(RetiringHandle));
	int			rc;

	if (r == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	r->rk = ch->h.rk;
	r->queue = ch->h.queue;
	r->event_fd[0] = ch->h.event_fd[0];
	r->event_fd[1] = ch->h.event_fd[1];
	r->started_ms = kafkaNowMs();
	r->done = 0;
	/* reserve the list cell first: nothing can fail after the thread runs */
	{
		MemoryContext oldcxt = MemoryContextSwitchTo(TopMemoryContext);

		retiring = lappend(retiring, r);
		MemoryContextSwitchTo(oldcxt);
	}
	rc = kafkaStartThread(&r->thread, retire_thread, r);
	if (rc != 0)
	{
		retiring = list_delete_ptr(retiring, r);
		free(r);
		errno = rc;
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_RESOURCES),
				 errmsg("could not start a thread to destroy an idle Kafka client handle: %m")));
	}
	/*
	 * The handle's opaque is ch (its log and error callbacks read ch->secrets),
	 * so ch lives until the destroy finished: reap_retired frees it.
	 */
	handle_cache = list_delete_ptr(handle_cache, ch);
	r->owner = ch;
	return r;
}

/* One round of wait_retired: has the helper thread finished? */
static KafkaWaitStep
retired_step(void *arg, int slice_ms)
{
	RetiringHandle *r = arg;

	(void) slice_ms;
	return __atomic_load_n(&r->done, __ATOMIC_ACQUIRE) ? KAFKA_WAIT_DONE : KAFKA_WAIT_SLEEP;
}

/* Wait, interruptibly, until r's destroy finished or timeout_ms passed */
static void
wait_retired(RetiringHandle *r, int timeout_ms)
{
	/* on the latch in 5 ms slices: the thread cannot signal us */
	(void) kafkaWaitUntil(kafkaNowMs() + timeout_ms, 5, NULL, retired_step, r);
}

/*
 * Make room for one more handle under kafka_fdw.max_handles: retire idle
 * handles (failed ones first, then the least recently used) until the
 * handles cached plus those still being destroyed are fewer than the cap.
 * Each retired handle gets KAFKA_RETIRE_WAIT_MS to be destroyed; one that
 * takes longer keeps counting until it finishes.  Raises an ERROR when
 * nothing idle is left to retire.
 */
static void
make_room(void)
{
	for (;;)
	{
		ListCell   *lc;
		CachedHandle *victim = NULL;
		RetiringHandle *r;
		int			nbusy = 0;

		reap_retired();
		if (list_length(handle_cache) + list_length(retiring) < kafka_max_handles)
			return;
		foreach(lc, handle_cache)
		{
			CachedHandle *ch = lfirst(lc);

			if (!retirable(ch))
			{
				nbusy++;
				continue;
			}
			if (victim == NULL ||
				(ch->invalid && !victim->invalid) ||
				(ch->invalid == victim->invalid && ch->last_used < victim->last_used))
				victim = ch;
		}
		if (victim == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
					 errmsg("too many Kafka client handles in this session"),
					 errdetail("The session holds %d librdkafka handles, %d of them busy (used by the current query or transaction, or with messages outstanding), and %d more are still being destroyed; kafka_fdw.max_handles is %d.",
							   list_length(handle_cache), nbusy, list_length(retiring), kafka_max_handles),
					 errhint("Read fewer Kafka servers, user mappings or tables with their own librdkafka properties in one transaction, or ask a superuser to raise \"kafka_fdw.max_handles\".")));
		kafkaServeLogs(victim->h.rk);
		r = retire(victim);
		wait_retired(r, KAFKA_RETIRE_WAIT_MS);
	}
}

/*
 * The end of a process that made librdkafka handles.  They are not
 * destroyed (see the file header), so their threads still run when exit()
 * calls the atexit handlers, among them OpenSSL's cleanup: a broker thread
 * in a TLS handshake then uses freed OpenSSL state and the process dies of
 * SIGSEGV, which makes the postmaster restart every session (seen with a
 * broker certificate that fails verification: the thread retries the
 * handshake at once).  So once PostgreSQL's own exit work is done (every
 * on_proc_exit callback ran), our atexit handler, registered after
 * OpenSSL's and so run before it, ends the process with _exit() and the
 * same exit code, skipping the atexit handlers of the libraries.
 */
static int	proc_exit_code = 0;
static bool handles_made = false;

static void
remember_exit_code(int code, Datum arg)
{
	(void) arg;
	proc_exit_code = code;
}

static void
exit_without_library_cleanup(void)
{
	if (handles_made)
		_exit(proc_exit_code);
}

/*
 * Backend exit: give producers a bounded time to deliver what they hold;
 * handles are not destroyed (see the file header), the process ends them.
 */
static void
exit_callback(int code, Datum arg)
{
	ListCell   *lc;

	(void) code;
	(void) arg;
	foreach(lc, handle_cache)
	{
		CachedHandle *ch = lfirst(lc);

		if (IS_PRODUCER_KIND(ch->kind))
			rd_kafka_flush(ch->h.rk, 2000);
	}
	handle_cache = NIL;
}

static char *
config_key(List *conf, HandleKind kind)
{
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	appendStringInfo(&buf, "%d", (int) kind);
	foreach(lc, conf)
	{
		DefElem    *d = lfirst(lc);

		appendStringInfo(&buf, "\x1f%s=%s", d->defname, defGetString(d));
	}
	return buf.data;
}

/*
 * The cached handle of this kind for these options, or a new one.
 * Writers: dr_cb is their delivery report callback; a transactional
 * writer's transactional.id is txn_id, or the session's one if NULL.
 */
static CachedHandle *
get_handle(KafkaOptions *opts, HandleKind kind, const char *txn_id_wanted, KafkaDeliveryFn dr_cb)
{
	List	   *conflist = kafkaHandleConfig(opts, kind);
	char	   *key = config_key(conflist, kind);
	ListCell   *lc;
	CachedHandle *ch;
	rd_kafka_conf_t *conf;
	char		errstr[512];
	char	   *txn_id = NULL;

	/*
	 * A chosen transactional.id makes a handle of its own (an emitter's
	 * handle is its stream's).
	 */
	if (kind == HANDLE_TXN_WRITER && txn_id_wanted)
		key = psprintf("%s\x1ftransactional.id=%s", key, txn_id_wanted);

	if (!callbacks_registered)
	{
		before_shmem_exit(exit_callback, (Datum) 0);
		callbacks_registered = true;
	}

	foreach(lc, handle_cache)
	{
		ch = lfirst(lc);
		/* a consumer busy with another scan of this query cannot be shared */
		if (!ch->invalid && strcmp(ch->confkey, key) == 0 &&
			!(kind == HANDLE_CONSUMER && ch->h.in_use))
		{
			ch->last_used = ++use_clock;
			return ch;
		}
	}

	make_room();
	conf = kafkaNewConf(conflist);
	rd_kafka_conf_set_log_cb(conf, log_cb);
	rd_kafka_conf_set_error_cb(conf, error_cb);
	if ((kind == HANDLE_WRITER || kind == HANDLE_TXN_WRITER) && dr_cb)
		rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
	if (kind == HANDLE_TXN_WRITER)
		txn_id = txn_id_wanted ? MemoryContextStrdup(TopMemoryContext, txn_id_wanted)
			: transactional_id(key);
	if (txn_id)
		kafkaConfSet(conf, "transactional.id", txn_id);

	ch = MemoryContextAllocZero(TopMemoryContext, sizeof(CachedHandle));
	ch->kind = kind;
	ch->last_used = ++use_clock;
	ch->h.event_fd[0] = ch->h.event_fd[1] = -1;
	ch->h.txn_id = txn_id;
	ch->secrets = kafkaSecretsOf(conflist, TopMemoryContext);
	rd_kafka_conf_set_opaque(conf, ch);
	ch->h.rk = rd_kafka_new(IS_PRODUCER_KIND(kind) ? RD_KAFKA_PRODUCER : RD_KAFKA_CONSUMER,
							conf, errstr, sizeof(errstr));
	if (ch->h.rk != NULL && !handles_made)
	{
		/* after rd_kafka_new: OpenSSL registered its atexit handler by now */
		on_proc_exit(remember_exit_code, (Datum) 0);
		if (atexit(exit_without_library_cleanup) != 0)
			elog(WARNING, "kafka_fdw: could not register an exit handler");
		handles_made = true;
	}
	if (ch->h.rk == NULL)
	{
		rd_kafka_conf_destroy(conf);
		kafkaRedact(errstr, sizeof(errstr), ch->secrets);
		if (txn_id)
			pfree(txn_id);
		free_secrets(ch->secrets);
		pfree(ch);
		ereport(ERROR,
				(errcode(ERRCODE_FDW_UNABLE_TO_ESTABLISH_CONNECTION),
				 errmsg("could not create Kafka client: %s", errstr)));
	}
	ch->confkey = MemoryContextStrdup(TopMemoryContext, key);
	if (kind == HANDLE_CONSUMER && !kafkaHasFetchQueueBackoff())
	{
		char		val[32];
		size_t		sz = sizeof(val);

		if (rd_kafka_conf_get(rd_kafka_conf(ch->h.rk), "queued.min.messages", val, &sz) == RD_KAFKA_CONF_OK)
			ch->h.queued_min = atoi(val);
	}
	/* route logs to the main queue, served by kafkaServeLogs */
	rd_kafka_set_log_queue(ch->h.rk, NULL);

	if (pipe(ch->h.event_fd) != 0 ||
		fcntl(ch->h.event_fd[0], F_SETFL, O_NONBLOCK) != 0 ||
		fcntl(ch->h.event_fd[1], F_SETFL, O_NONBLOCK) != 0)
	{
		destroy_unused(ch);
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create pipe for Kafka events: %m")));
	}
	/* consumers get a queue for fetched messages; producers use the main queue */
	ch->h.queue = IS_PRODUCER_KIND(kind) ? rd_kafka_queue_get_main(ch->h.rk)
		: rd_kafka_queue_new(ch->h.rk);
	rd_kafka_queue_io_event_enable(ch->h.queue, ch->h.event_fd[1], "1", 1);

	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		handle_cache = lappend(handle_cache, ch);
		MemoryContextSwitchTo(old);
	}
	return ch;
}

/*
 * The transactional.id of a transactional writer with this configuration:
 * kafka_fdw-<system identifier>-<port>-<database>-<backend id>-<n>.
 *
 * Unique among live sessions (a backend id belongs to one live backend of
 * one cluster at a time), and stable for a backend slot: a later session in
 * the same slot, or a handle rebuilt after a failure, calls
 * init_transactions with the same id, which fences a zombie and aborts the
 * transaction a crashed session left open instead of letting it block
 * read_committed consumers until transaction.timeout.ms.  Allocated in
 * TopMemoryContext.
 */
static char *
transactional_id(const char *confkey)
{
	ListCell   *lc;
	TxnIdEntry *e = NULL;
	char	   *dbname = get_database_name(MyDatabaseId);

	foreach(lc, txn_ids)
	{
		TxnIdEntry *t = lfirst(lc);

		if (strcmp(t->confkey, confkey) == 0)
			e = t;
	}
	if (e == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		e = palloc(sizeof(TxnIdEntry));
		e->confkey = pstrdup(confkey);
		e->n = list_length(txn_ids);
		txn_ids = lappend(txn_ids, e);
		MemoryContextSwitchTo(old);
	}
	if (txn_id_base)
		return MemoryContextStrdup(TopMemoryContext, psprintf("%s-%d", txn_id_base, e->n));
	return MemoryContextStrdup(TopMemoryContext,
							   psprintf("kafka_fdw-" UINT64_FORMAT "-%d-%s-%d-%d",
										GetSystemIdentifier(), PostPortNumber,
										dbname ? dbname : "?", (int) MyBackendId, e->n));
}

/*
 * A process that stands for something lasting (a pipeline's worker) names
 * its transactional.ids after it, so that the next process of the same
 * thing fences this one's producers and finishes their open transactions.
 */
void
kafkaSetTxnIdBase(const char *base)
{
	txn_id_base = MemoryContextStrdup(TopMemoryContext, base);
}

/*
 * The producer handle for writes with these options, its delivery reports
 * going to dr_cb (producer.c's): a transactional one if the table is
 * transactional (the session's transactional.id), or if txn_id is given
 * (that transactional.id: a producer whose Kafka transactions its caller
 * runs, such as the emitter's).  Rebuilt if librdkafka reported a fatal
 * error on it (an idempotent producer cannot recover).
 */
KafkaHandle *
kafkaGetWriter(KafkaOptions *opts, const char *txn_id, KafkaDeliveryFn dr_cb)
{
	HandleKind	kind = opts->transactional || txn_id ? HANDLE_TXN_WRITER : HANDLE_WRITER;
	CachedHandle *ch = get_handle(opts, kind, txn_id, dr_cb);

	if (!ch->h.in_use && rd_kafka_fatal_error(ch->h.rk, NULL, 0) != RD_KAFKA_RESP_ERR_NO_ERROR)
	{
		ch->invalid = true;
		ch = get_handle(opts, kind, txn_id, dr_cb);
	}
	return &ch->h;
}

/*
 * A handle that must not be used again (fatal error, a Kafka transaction in
 * an unknown state): a new one is made on next use; this one idles until it
 * is retired, first among the idle ones, or the backend exits.
 */
void
kafkaHandleFailed(KafkaHandle *h)
{
	CachedHandle *ch = (CachedHandle *) ((char *) h - offsetof(CachedHandle, h));

	ch->invalid = true;
}

KafkaHandle *
kafkaGetConsumer(KafkaOptions *opts)
{
	return &get_handle(opts, HANDLE_CONSUMER, NULL, NULL)->h;
}

/*
 * A handle for metadata and offset requests.  Separate from the scan
 * consumer: Kafka answers the requests of one connection in order, so a
 * ListOffsets would wait behind a long-polling Fetch.
 */
rd_kafka_t *
kafkaGetMeta(KafkaOptions *opts)
{
	return get_handle(opts, HANDLE_META, NULL, NULL)->h.rk;
}

rd_kafka_t *
kafkaGetProducer(KafkaOptions *opts)
{
	return get_handle(opts, HANDLE_PRODUCER, NULL, NULL)->h.rk;
}

/*
 * Wait until the handle's queue signals new events, the latch is set, or
 * timeout_ms passes; then serve interrupts.  Drains the event pipe.
 */
void
kafkaWaitHandleEvent(KafkaHandle *h, long timeout_ms)
{
	char		buf[64];
	int			rc;

	rc = WaitLatchOrSocket(MyLatch,
						   WL_LATCH_SET | WL_SOCKET_READABLE | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						   h->event_fd[0], timeout_ms, PG_WAIT_EXTENSION);
	if (rc & WL_LATCH_SET)
		ResetLatch(MyLatch);
	while (read(h->event_fd[0], buf, sizeof(buf)) > 0)
		;
	CHECK_FOR_INTERRUPTS();
}

/*
 * The next slice of a wait that ends at deadline_ms: at most max_slice_ms,
 * at least 1 ms.
 */
int
kafkaSliceMs(int64 deadline_ms, int max_slice_ms)
{
	int64		left = deadline_ms - kafkaNowMs();

	return (int) Max(1, Min(max_slice_ms, left));
}

/*
 * The one bounded, interruptible wait of kafka_fdw: call step until it
 * says KAFKA_WAIT_DONE (returns true) or deadline_ms passes (returns false;
 * the caller raises its own error).  step runs at least once.  Each round
 * gets a slice of at most max_slice_ms, cut at the deadline: a step that
 * blocks in librdkafka (KAFKA_WAIT_AGAIN) blocks at most that long; after
 * KAFKA_WAIT_SLEEP the slice is spent waiting on the latch and, if h is
 * given, h's event pipe (librdkafka writes to it when a report or event
 * arrives).  Interrupts are served after every round that is not the
 * last, so cancel and statement_timeout act within a slice.
 */
bool
kafkaWaitUntil(int64 deadline_ms, int max_slice_ms, KafkaHandle *h, KafkaWaitFn step, void *arg)
{
	for (;;)
	{
		KafkaWaitStep r = step(arg, kafkaSliceMs(deadline_ms, max_slice_ms));

		if (r == KAFKA_WAIT_DONE)
			return true;
		if (kafkaNowMs() >= deadline_ms)
			return false;
		if (r == KAFKA_WAIT_SLEEP)
		{
			int			slice = kafkaSliceMs(deadline_ms, max_slice_ms);

			if (h)
				kafkaWaitHandleEvent(h, slice);
			else
			{
				int			rc = WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
										   slice, PG_WAIT_EXTENSION);

				if (rc & WL_LATCH_SET)
					ResetLatch(MyLatch);
			}
		}
		CHECK_FOR_INTERRUPTS();
	}
}

/* Milliseconds of a monotonic clock, for bounding waits */
int64
kafkaNowMs(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A metadata request in rounds of kafkaWaitUntil */
typedef struct MetadataWait
{
	rd_kafka_t *rk;
	const char *topic;			/* NULL: all topics */
	rd_kafka_topic_t *rkt;		/* its handle */
	const struct rd_kafka_metadata *md; /* the answer, once it came */
	rd_kafka_resp_err_t err;	/* else why not */
	const char *what;			/* for the error on refused credentials */
} MetadataWait;

static KafkaWaitStep
metadata_step(void *arg, int slice_ms)
{
	MetadataWait *w = arg;

	w->err = rd_kafka_metadata(w->rk, w->topic == NULL, w->rkt, &w->md, slice_ms);
	if (w->err == RD_KAFKA_RESP_ERR_NO_ERROR)
	{
		rd_kafka_resp_err_t terr = RD_KAFKA_RESP_ERR_NO_ERROR;

		if (w->topic)
			terr = w->md->topic_cnt == 1 ? w->md->topics[0].err : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC;
		if (terr == RD_KAFKA_RESP_ERR_NO_ERROR)
			return KAFKA_WAIT_DONE;
		rd_kafka_metadata_destroy(w->md);
		w->md = NULL;
		w->err = terr;
		/* a new topic may need a moment for its leaders to be elected */
		if (terr != RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE)
			return KAFKA_WAIT_DONE;
	}
	else
		w->md = NULL;
	kafkaServeLogs(w->rk);
	if (CONNECT_REFUSED())
		report_connect_refused(w->what);
	/* a request that timed out waited already; other errors come at once */
	return w->err == RD_KAFKA_RESP_ERR__TIMED_OUT ? KAFKA_WAIT_AGAIN : KAFKA_WAIT_SLEEP;
}

/*
 * Metadata of one topic (topic != NULL) or of all topics, asked in short
 * slices until the broker answers or timeout_ms passes.  For one topic, a
 * missing topic is an ERROR, and a topic whose leaders are not elected yet
 * is asked again.  The caller destroys the result.
 */
const struct rd_kafka_metadata *
kafkaMetadata(rd_kafka_t *rk, const char *topic, int timeout_ms)
{
	MetadataWait w;
	const char *what = topic ? psprintf("read metadata of topic \"%s\"", topic) : "list topics";

	w.rk = rk;
	w.topic = topic;
	w.rkt = topic ? rd_kafka_topic_new(rk, topic, NULL) : NULL;
	w.md = NULL;
	w.err = RD_KAFKA_RESP_ERR__TIMED_OUT;
	w.what = what;
	last_error = RD_KAFKA_RESP_ERR_NO_ERROR;
	PG_TRY();
	{
		(void) kafkaWaitUntil(kafkaNowMs() + timeout_ms, KAFKA_SLICE_MS, NULL, metadata_step, &w);
	}
	PG_FINALLY();
	{
		if (w.rkt)
			rd_kafka_topic_destroy(w.rkt);
	}
	PG_END_TRY();
	if (w.md == NULL)
	{
		rd_kafka_resp_err_t err = w.err;

		if (err == RD_KAFKA_RESP_ERR__TIMED_OUT || err == RD_KAFKA_RESP_ERR__TRANSPORT ||
			err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_UNABLE_TO_ESTABLISH_CONNECTION),
					 errmsg("could not reach Kafka to %s within %d ms", what, timeout_ms),
					 last_error != RD_KAFKA_RESP_ERR_NO_ERROR ?
					 errdetail("librdkafka reported: %s", last_error_str) : 0,
					 errhint("Check the server option \"brokers\" and that Kafka is running; the wait is bounded by the option \"timeout_ms\".")));
		kafkaReportError(err, psprintf("could not %s", what), topic);
	}
	return w.md;
}

/*
 * Partitions of a topic, in ascending order.  Returns their number;
 * *partitions is a palloc'd array of their ids.
 */
int
kafkaTopicPartitions(rd_kafka_t *rk, const char *topic, int timeout_ms, int32 **partitions)
{
	const struct rd_kafka_metadata *md = kafkaMetadata(rk, topic, timeout_ms);
	int			n;

	n = md->topics[0].partition_cnt;
	*partitions = palloc(sizeof(int32) * Max(n, 1));
	for (int i = 0; i < n; i++)
		(*partitions)[i] = md->topics[0].partitions[i].id;
	rd_kafka_metadata_destroy(md);
	/* partition ids in ascending order */
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && (*partitions)[j - 1] > (*partitions)[j]; j--)
		{
			int32		t = (*partitions)[j];

			(*partitions)[j] = (*partitions)[j - 1];
			(*partitions)[j - 1] = t;
		}
	return n;
}

/* A watermark or offsets-for-times request in rounds of kafkaWaitUntil */
typedef struct OffsetsWait
{
	rd_kafka_t *rk;
	const char *topic;
	int32		partition;
	int64		ts_ms;			/* offsets for times: the timestamp */
	int64		low;			/* the answer: watermarks, or the offset */
	int64		high;
	rd_kafka_resp_err_t err;	/* else why not */
	const char *what;			/* for the error on refused credentials */
} OffsetsWait;

static KafkaWaitStep
watermarks_step(void *arg, int slice_ms)
{
	OffsetsWait *w = arg;
	int64_t		lo,
				hi;

	w->err = rd_kafka_query_watermark_offsets(w->rk, w->topic, w->partition, &lo, &hi, slice_ms);
	if (w->err == RD_KAFKA_RESP_ERR_NO_ERROR)
	{
		w->low = lo;
		w->high = hi;
		return KAFKA_WAIT_DONE;
	}
	kafkaServeLogs(w->rk);
	if (CONNECT_REFUSED())
		report_connect_refused(w->what);
	if (w->err != RD_KAFKA_RESP_ERR__TIMED_OUT && w->err != RD_KAFKA_RESP_ERR__TRANSPORT &&
		w->err != RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE &&
		w->err != RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION)
		return KAFKA_WAIT_DONE;	/* not worth asking again */
	return KAFKA_WAIT_AGAIN;
}

/*
 * Low and high watermark of a partition, asked in short slices.  With
 * isolation.level=read_committed, high is the last stable offset.
 */
void
kafkaQueryWatermarks(rd_kafka_t *rk, const char *topic, int32 partition,
					 int timeout_ms, int64 *low, int64 *high)
{
	OffsetsWait w = {rk, topic, partition, 0, 0, 0, RD_KAFKA_RESP_ERR__TIMED_OUT,
		psprintf("read watermarks of topic \"%s\" partition %d", topic, partition)};

	last_error = RD_KAFKA_RESP_ERR_NO_ERROR;
	(void) kafkaWaitUntil(kafkaNowMs() + timeout_ms, KAFKA_SLICE_MS * 5, NULL, watermarks_step, &w);
	if (w.err == RD_KAFKA_RESP_ERR_NO_ERROR)
	{
		*low = w.low;
		*high = w.high;
		return;
	}
	kafkaReportError(w.err, psprintf("could not read watermarks of topic \"%s\" partition %d", topic, partition), topic);
}

static KafkaWaitStep
offset_for_time_step(void *arg, int slice_ms)
{
	OffsetsWait *w = arg;
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);

	rd_kafka_topic_partition_list_add(l, w->topic, w->partition)->offset = w->ts_ms;
	w->err = rd_kafka_offsets_for_times(w->rk, l, slice_ms);
	if (w->err == RD_KAFKA_RESP_ERR_NO_ERROR)
		w->err = l->elems[0].err;
	w->low = l->elems[0].offset;
	rd_kafka_topic_partition_list_destroy(l);
	if (w->err == RD_KAFKA_RESP_ERR_NO_ERROR)
		return KAFKA_WAIT_DONE;
	kafkaServeLogs(w->rk);
	if (CONNECT_REFUSED())
		report_connect_refused(w->what);
	if (w->err != RD_KAFKA_RESP_ERR__TIMED_OUT && w->err != RD_KAFKA_RESP_ERR__TRANSPORT &&
		w->err != RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE)
		return KAFKA_WAIT_DONE;	/* not worth asking again */
	return KAFKA_WAIT_AGAIN;
}

/*
 * The earliest offset of a partition whose timestamp is >= ts_ms; the high
 * watermark if there is none.
 */
int64
kafkaOffsetForTime(rd_kafka_t *rk, const char *topic, int32 partition, int64 ts_ms, int timeout_ms)
{
	OffsetsWait w = {rk, topic, partition, ts_ms, 0, 0, RD_KAFKA_RESP_ERR__TIMED_OUT,
		psprintf("look up offsets by timestamp in topic \"%s\" partition %d", topic, partition)};

	last_error = RD_KAFKA_RESP_ERR_NO_ERROR;
	(void) kafkaWaitUntil(kafkaNowMs() + timeout_ms, KAFKA_SLICE_MS * 5, NULL, offset_for_time_step, &w);
	if (w.err == RD_KAFKA_RESP_ERR_NO_ERROR)
		return w.low;			/* -1 (OFFSET_END) if no such message */
	kafkaReportError(w.err, psprintf("could not look up offsets by timestamp in topic \"%s\" partition %d", topic, partition), topic);
}
