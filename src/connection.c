/*-------------------------------------------------------------------------
 *
 * connection.c
 *		  librdkafka handles for kafka_fdw: a per-backend cache keyed by the
 *		  complete configuration (server, user mapping, table properties),
 *		  librdkafka log and error routing to the backend thread,
 *		  interruptible waits, metadata and watermark requests in short
 *		  slices, and error translation.
 *		  Writers (INSERT) get their own producer handles: idempotent, with
 *		  acks=all, delivery reports served on the backend by rd_kafka_poll,
 *		  and, for transactional tables, a transactional.id per session.
 *
 *		  A handle is never destroyed once used: librdkafka 2.0.2 (Debian 12)
 *		  can hang forever in rd_kafka_destroy() after a consumer fetched
 *		  (a leaked partition reference, librdkafka issue #4674), and no
 *		  timeout or cancel can end that wait.  Since the cache key is the
 *		  whole configuration, a changed server or user mapping simply makes
 *		  a new handle; the old one idles until the backend exits, when the
 *		  operating system reclaims it (producers are flushed first).
 *
 * Invariants:
 *	- Handles are created lazily, never in the postmaster.
 *	- librdkafka's own threads never call into PostgreSQL: log.queue routes
 *	  logs to the main queue, served here by rd_kafka_poll on our thread,
 *	  and the callbacks only copy into static buffers.
 *	- No blocking librdkafka call lasts longer than KAFKA_SLICE_MS; between
 *	  slices we CHECK_FOR_INTERRUPTS, so cancel and statement_timeout work.
 *
 *-------------------------------------------------------------------------
 */
#include "kafka_fdw.h"

#include <fcntl.h>
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

#define KAFKA_SLICE_MS 100

typedef enum HandleKind
{
	HANDLE_CONSUMER,			/* fetches messages for scans */
	HANDLE_PRODUCER,			/* produces messages, runs admin requests */
	HANDLE_META,				/* metadata, watermarks, offsets for times */
	HANDLE_WRITER,				/* INSERT: idempotent producer, acks=all */
	HANDLE_TXN_WRITER			/* INSERT into a transactional table */
} HandleKind;

#define IS_PRODUCER_KIND(k) ((k) == HANDLE_PRODUCER || (k) == HANDLE_WRITER || (k) == HANDLE_TXN_WRITER)

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

/* One cached handle */
typedef struct CachedHandle
{
	char	   *confkey;		/* kind + serialized configuration */
	HandleKind	kind;
	bool		invalid;		/* failed: never handed out again */
	KafkaHandle h;
} CachedHandle;

static List *handle_cache = NIL;	/* of CachedHandle *, in TopMemoryContext */
static bool callbacks_registered = false;

/* Errors seen by error_cb during the last poll (copied, never ereported there) */
static rd_kafka_resp_err_t last_error = RD_KAFKA_RESP_ERR_NO_ERROR;
static char last_error_str[512];
static bool last_error_fatal = false;

/* Logs seen by log_cb, emitted after the poll */
#define LOG_RING 16
static char log_ring[LOG_RING][512];
static int	log_ring_level[LOG_RING];
static int	log_ring_n = 0;

static void
log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	(void) rk;
	if (log_ring_n >= LOG_RING)
		return;
	snprintf(log_ring[log_ring_n], sizeof(log_ring[0]), "%s: %s", fac, buf);
	log_ring_level[log_ring_n++] = level;
}

static void
error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	(void) rk;
	(void) opaque;
	last_error = (rd_kafka_resp_err_t) err;
	last_error_fatal = (err == RD_KAFKA_RESP_ERR__FATAL);
	strlcpy(last_error_str, reason, sizeof(last_error_str));
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
	pfree(ch->confkey);
	pfree(ch);
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

static void
set_conf(rd_kafka_conf_t *conf, const char *name, const char *value)
{
	char		errstr[512];

	if (rd_kafka_conf_set(conf, name, value, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK)
	{
		rd_kafka_conf_destroy(conf);
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("invalid librdkafka property \"%s\" = \"%s\"", name, value),
				 errdetail("%s", errstr)));
	}
}

/* The configuration a handle of this kind gets, as a list of name=value */
static List *
handle_config(KafkaOptions *opts, HandleKind kind)
{
	List	   *conf = NIL;
	ListCell   *lc;

#define ADD(n, v) conf = lappend(conf, makeDefElem((n), (Node *) makeString(pstrdup(v)), -1))
	ADD("bootstrap.servers", opts->brokers);
	ADD("client.id", "kafka_fdw");
	/* defaults the user may override */
	if (kind == HANDLE_CONSUMER)
		ADD("fetch.wait.max.ms", "10");
	if (kind == HANDLE_WRITER || kind == HANDLE_TXN_WRITER)
	{
		/*
		 * Throughput: a statement produces everything before it waits, so
		 * let librdkafka fill large batches; a short linger bounds the
		 * latency of small statements.
		 */
		ADD("linger.ms", "5");
		ADD("batch.num.messages", "10000");
		ADD("batch.size", "4000000");
		ADD("queue.buffering.max.messages", "500000");
		/* a missing topic is an error, not a new topic */
		ADD("allow.auto.create.topics", "false");
		if (kind == HANDLE_TXN_WRITER)
			ADD("transaction.timeout.ms", psprintf("%d", Max(60000, opts->timeout_ms)));
	}
	foreach(lc, opts->rdkafka_props)
		conf = lappend(conf, lfirst(lc));
	ADD("log.queue", "true");
	if (kind == HANDLE_WRITER || kind == HANDLE_TXN_WRITER)
	{
		/* no silent loss, no duplicates; librdkafka fails what it cannot deliver in time */
		ADD("acks", "all");
		ADD("enable.idempotence", "true");
		ADD("message.timeout.ms", psprintf("%d", opts->timeout_ms));
	}
	if (kind == HANDLE_CONSUMER || kind == HANDLE_META)
	{
		ADD("enable.partition.eof", "true");
		/* never jump over messages that retention deleted during a scan */
		ADD("auto.offset.reset", "error");
		ADD("enable.auto.commit", "false");
		ADD("isolation.level", opts->read_committed ? "read_committed" : "read_uncommitted");
	}
#undef ADD
	return conf;
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

static CachedHandle *
get_handle(KafkaOptions *opts, HandleKind kind)
{
	List	   *conflist = handle_config(opts, kind);
	char	   *key = config_key(conflist, kind);
	ListCell   *lc;
	CachedHandle *ch;
	rd_kafka_conf_t *conf;
	char		errstr[512];
	char	   *txn_id = NULL;

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
			return ch;
	}

	conf = rd_kafka_conf_new();
	foreach(lc, conflist)
	{
		DefElem    *d = lfirst(lc);

		set_conf(conf, d->defname, defGetString(d));
	}
	rd_kafka_conf_set_log_cb(conf, log_cb);
	rd_kafka_conf_set_error_cb(conf, error_cb);
	if (kind == HANDLE_WRITER || kind == HANDLE_TXN_WRITER)
		rd_kafka_conf_set_dr_msg_cb(conf, kafkaDeliveryReport);
	if (kind == HANDLE_TXN_WRITER)
		txn_id = transactional_id(key);
	if (txn_id)
		set_conf(conf, "transactional.id", txn_id);

	ch = MemoryContextAllocZero(TopMemoryContext, sizeof(CachedHandle));
	ch->kind = kind;
	ch->h.event_fd[0] = ch->h.event_fd[1] = -1;
	ch->h.txn_id = txn_id;
	ch->h.rk = rd_kafka_new(IS_PRODUCER_KIND(kind) ? RD_KAFKA_PRODUCER : RD_KAFKA_CONSUMER,
							conf, errstr, sizeof(errstr));
	if (ch->h.rk == NULL)
	{
		rd_kafka_conf_destroy(conf);
		if (txn_id)
			pfree(txn_id);
		pfree(ch);
		ereport(ERROR,
				(errcode(ERRCODE_FDW_UNABLE_TO_ESTABLISH_CONNECTION),
				 errmsg("could not create Kafka client: %s", errstr)));
	}
	ch->confkey = MemoryContextStrdup(TopMemoryContext, key);
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
	return MemoryContextStrdup(TopMemoryContext,
							   psprintf("kafka_fdw-" UINT64_FORMAT "-%d-%s-%d-%d",
										GetSystemIdentifier(), PostPortNumber,
										dbname ? dbname : "?", (int) MyBackendId, e->n));
}

/*
 * The producer handle for INSERTs into a table with these options: a
 * transactional one if the table is transactional.  Rebuilt if librdkafka
 * reported a fatal error on it (an idempotent producer cannot recover).
 */
KafkaHandle *
kafkaGetWriter(KafkaOptions *opts)
{
	HandleKind	kind = opts->transactional ? HANDLE_TXN_WRITER : HANDLE_WRITER;
	CachedHandle *ch = get_handle(opts, kind);

	if (!ch->h.in_use && rd_kafka_fatal_error(ch->h.rk, NULL, 0) != RD_KAFKA_RESP_ERR_NO_ERROR)
	{
		ch->invalid = true;
		ch = get_handle(opts, kind);
	}
	return &ch->h;
}

/*
 * A handle that must not be used again (fatal error, a Kafka transaction in
 * an unknown state): a new one is made on next use; this one idles until
 * the backend exits (see the file header).
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
	return &get_handle(opts, HANDLE_CONSUMER)->h;
}

/*
 * A handle for metadata and offset requests.  Separate from the scan
 * consumer: Kafka answers the requests of one connection in order, so a
 * ListOffsets would wait behind a long-polling Fetch.
 */
rd_kafka_t *
kafkaGetMeta(KafkaOptions *opts)
{
	return get_handle(opts, HANDLE_META)->h.rk;
}

rd_kafka_t *
kafkaGetProducer(KafkaOptions *opts)
{
	return get_handle(opts, HANDLE_PRODUCER)->h.rk;
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

/* Milliseconds of a monotonic clock, for bounding waits */
int64
kafkaNowMs(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
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
	rd_kafka_topic_t *rkt = topic ? rd_kafka_topic_new(rk, topic, NULL) : NULL;
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR__TIMED_OUT;
	int64		deadline = kafkaNowMs() + timeout_ms;
	const char *what = topic ? psprintf("read metadata of topic \"%s\"", topic) : "list topics";

	last_error = RD_KAFKA_RESP_ERR_NO_ERROR;
	for (;;)
	{
		err = rd_kafka_metadata(rk, topic == NULL, rkt, &md, KAFKA_SLICE_MS);
		if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
		{
			rd_kafka_resp_err_t terr = RD_KAFKA_RESP_ERR_NO_ERROR;

			if (topic)
				terr = md->topic_cnt == 1 ? md->topics[0].err : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC;
			if (terr == RD_KAFKA_RESP_ERR_NO_ERROR)
				break;
			rd_kafka_metadata_destroy(md);
			md = NULL;
			err = terr;
			/* a new topic may need a moment for its leaders to be elected */
			if (terr != RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE)
				break;
		}
		kafkaServeLogs(rk);
		if (CONNECT_REFUSED())
			report_connect_refused(what);
		if (kafkaNowMs() >= deadline)
			break;
		CHECK_FOR_INTERRUPTS();
		if (err != RD_KAFKA_RESP_ERR__TIMED_OUT)
			pg_usleep(KAFKA_SLICE_MS * 1000L);
	}
	if (rkt)
		rd_kafka_topic_destroy(rkt);
	if (md == NULL)
	{
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
	return md;
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

/*
 * Low and high watermark of a partition, asked in short slices.  With
 * isolation.level=read_committed, high is the last stable offset.
 */
void
kafkaQueryWatermarks(rd_kafka_t *rk, const char *topic, int32 partition,
					 int timeout_ms, int64 *low, int64 *high)
{
	int64		deadline = kafkaNowMs() + timeout_ms;
	rd_kafka_resp_err_t err;

	last_error = RD_KAFKA_RESP_ERR_NO_ERROR;
	for (;;)
	{
		int64_t		lo,
					hi;

		err = rd_kafka_query_watermark_offsets(rk, topic, partition, &lo, &hi, KAFKA_SLICE_MS * 5);
		if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
		{
			*low = lo;
			*high = hi;
			return;
		}
		kafkaServeLogs(rk);
		if (CONNECT_REFUSED())
			report_connect_refused(psprintf("read watermarks of topic \"%s\" partition %d", topic, partition));
		if (kafkaNowMs() >= deadline ||
			(err != RD_KAFKA_RESP_ERR__TIMED_OUT && err != RD_KAFKA_RESP_ERR__TRANSPORT &&
			 err != RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE &&
			 err != RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION))
			break;
		CHECK_FOR_INTERRUPTS();
	}
	kafkaReportError(err, psprintf("could not read watermarks of topic \"%s\" partition %d", topic, partition), topic);
}

/*
 * The earliest offset of a partition whose timestamp is >= ts_ms; the high
 * watermark if there is none.
 */
int64
kafkaOffsetForTime(rd_kafka_t *rk, const char *topic, int32 partition, int64 ts_ms, int timeout_ms)
{
	int64		deadline = kafkaNowMs() + timeout_ms;
	rd_kafka_resp_err_t err;

	last_error = RD_KAFKA_RESP_ERR_NO_ERROR;
	for (;;)
	{
		rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
		int64		off;

		rd_kafka_topic_partition_list_add(l, topic, partition)->offset = ts_ms;
		err = rd_kafka_offsets_for_times(rk, l, KAFKA_SLICE_MS * 5);
		if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
			err = l->elems[0].err;
		off = l->elems[0].offset;
		rd_kafka_topic_partition_list_destroy(l);
		if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
			return off;			/* -1 (OFFSET_END) if no such message */
		kafkaServeLogs(rk);
		if (CONNECT_REFUSED())
			report_connect_refused(psprintf("look up offsets by timestamp in topic \"%s\" partition %d", topic, partition));
		if (kafkaNowMs() >= deadline ||
			(err != RD_KAFKA_RESP_ERR__TIMED_OUT && err != RD_KAFKA_RESP_ERR__TRANSPORT &&
			 err != RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE))
			break;
		CHECK_FOR_INTERRUPTS();
	}
	kafkaReportError(err, psprintf("could not look up offsets by timestamp in topic \"%s\" partition %d", topic, partition), topic);
}
