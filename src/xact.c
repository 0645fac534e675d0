/*-------------------------------------------------------------------------
 *
 * xact.c
 *		  Kafka transactions tied to PostgreSQL transactions, for foreign
 *		  tables with the option transactional 'true'.
 *
 *		  The first INSERT into such a table in a PostgreSQL transaction
 *		  begins a Kafka transaction on the writer handle (after
 *		  init_transactions, once per handle).  The Kafka transaction
 *		  commits in PRE_COMMIT, so that a failure to commit it makes the
 *		  PostgreSQL COMMIT fail, and aborts with the PostgreSQL transaction.
 *		  read_committed consumers (kafka_fdw scans by default) see the
 *		  messages only after both commit.
 *
 *		  Kept apart from modify.c because its life is the transaction's,
 *		  not the statement's: one Kafka transaction spans all statements
 *		  of a PostgreSQL transaction.
 *
 * Invariants:
 *	- Blocking transactional calls run in slices with a deadline of the
 *	  table's timeout_ms; none can hang.
 *	- The abort callback never raises an ERROR: a failed abort is a
 *	  WARNING, and the handle is rebuilt, so that init_transactions with the
 *	  same transactional.id fences the old producer and aborts what it
 *	  left open.
 *	- COMMIT says only what is known: the messages of a Kafka transaction
 *	  are called invisible only if Kafka acknowledged its abort, or if
 *	  kafka_fdw never asked Kafka to commit it.  A commit that timed out or
 *	  failed otherwise has an unknown outcome (the request may have reached
 *	  the broker); its producer is never reused, so the next write's
 *	  init_transactions makes the coordinator finish it first.
 *	- A COMMIT waits at most the table's timeout_ms per Kafka transaction,
 *	  an abort after an abortable commit error included.
 *	- A savepoint rolled back after messages were produced inside it dooms
 *	  the transaction: Kafka cannot take back part of a transaction, so
 *	  COMMIT fails instead of publishing messages of rolled-back work.
 *	- PREPARE TRANSACTION is refused: a Kafka transaction cannot outlive
 *	  its producer session.
 *	- Open Kafka transactions are aborted before the handle cache is
 *	  destroyed at backend exit (our exit callback is registered after the
 *	  cache's, so it runs first).
 *
 *-------------------------------------------------------------------------
 */
#include "kafka_fdw.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "storage/latch.h"
#include "utils/wait_event.h"

/* Longest single transactional call */
#define KAFKA_TXN_SLICE_MS 500

/* A Kafka transaction open in the current PostgreSQL transaction */
typedef struct EnlistedTxn
{
	KafkaHandle *h;
	int			timeout_ms;		/* table's timeout_ms: bound of commit/abort */
	bool		commit_requested;	/* commit_transaction was called */
	Oid			serverid;		/* the server and user mapping of the table */
	Oid			userid;			/* that began it */
} EnlistedTxn;

/* Testing aid (superuser): pause after the Kafka commit, before PostgreSQL's */
static int	xact_commit_delay_ms = 0;

static List *enlisted = NIL;	/* of EnlistedTxn *, in TopTransactionContext */
static bool callbacks_registered = false;

/* Savepoint tracking: messages produced, and the count when each subxact began */
static int64 nproduced = 0;
static int64 *sub_start = NULL; /* by nesting level; -1: began before we knew */
static int	sub_size = 0;
static bool doomed = false;

/* A copy of a librdkafka error's text, and its flags; destroys it */
typedef struct TxnError
{
	rd_kafka_resp_err_t code;
	char		msg[512];
	bool		retriable;
	bool		abortable;
	bool		fatal;
} TxnError;

static void
take_error(rd_kafka_error_t *error, TxnError *out)
{
	out->code = rd_kafka_error_code(error);
	strlcpy(out->msg, rd_kafka_error_string(error), sizeof(out->msg));
	out->retriable = rd_kafka_error_is_retriable(error);
	out->abortable = rd_kafka_error_txn_requires_abort(error);
	out->fatal = rd_kafka_error_is_fatal(error);
	rd_kafka_error_destroy(error);
}

/*
 * The next slice of a wait that ends at deadline: at most KAFKA_TXN_SLICE_MS.
 * Commit and abort loop on their own instead of kafkaWaitUntil: they must
 * not be interrupted (a cancelled commit would leave its outcome unknown;
 * the abort runs in the abort path).
 */
static int
slice_until(int64 deadline)
{
	return kafkaSliceMs(deadline, KAFKA_TXN_SLICE_MS);
}

/*
 * Abort the Kafka transaction of h, in slices until deadline.  Returns
 * whether Kafka acknowledged the abort; *te gets the last error if not.
 */
static bool
abort_until(KafkaHandle *h, int64 deadline, TxnError *te)
{
	for (;;)
	{
		rd_kafka_error_t *error = rd_kafka_abort_transaction(h->rk, slice_until(deadline));

		if (error == NULL)
			return true;
		take_error(error, te);
		kafkaServeLogs(h->rk);
		if (!te->retriable || kafkaNowMs() >= deadline)
			return false;
	}
}

/*
 * Abort the Kafka transaction of one handle.  Called from the abort path:
 * never raises an ERROR.  A transaction whose commit was requested is not
 * aborted (librdkafka refuses while the commit runs); its outcome is
 * unknown, which commit_one has reported.
 */
static void
abort_one(EnlistedTxn *e)
{
	TxnError	te;

	if (e->commit_requested)
	{
		kafkaHandleFailed(e->h);
		return;
	}
	if (abort_until(e->h, kafkaNowMs() + e->timeout_ms, &te))
		return;
	ereport(WARNING,
			(errcode(kafkaErrcode(te.code)),
			 errmsg("could not abort Kafka transaction of transactional.id \"%s\": %s", e->h->txn_id, te.msg),
			 errdetail("kafka_fdw never asked Kafka to commit this transaction, so its messages do not become visible to read_committed consumers, but those consumers do not read past them until the broker aborts it: when the next transactional write of this session through the same server and settings starts a new producer with the same transactional.id, or after transaction.timeout.ms.")));
	kafkaHandleFailed(e->h);
}

/* Abort every open Kafka transaction and forget them */
static void
abort_all(void)
{
	ListCell   *lc;

	foreach(lc, enlisted)
	{
		EnlistedTxn *e = lfirst(lc);

		abort_one(e);
		e->h->in_use = false;
	}
	enlisted = NIL;
}

/*
 * Commit one Kafka transaction, resuming after slices; the whole wait,
 * including an abort after an abortable error, stays within timeout_ms.
 * Not interruptible: a cancelled commit would leave its outcome unknown.
 * On failure, takes the transaction off the list (the abort callback must
 * not touch it) and raises an ERROR (the PostgreSQL transaction then
 * aborts) that says only what is known: its messages are invisible only if
 * Kafka acknowledged an abort.  ncommitted: Kafka transactions of this
 * PostgreSQL transaction committed before this one.
 */
static void
commit_one(EnlistedTxn *e, int ncommitted)
{
	int64		deadline = kafkaNowMs() + e->timeout_ms;
	TxnError	te;
	TxnError	ate;
	const char *before;

	e->commit_requested = true;
	for (;;)
	{
		rd_kafka_error_t *error = rd_kafka_commit_transaction(e->h->rk, slice_until(deadline));

		if (error == NULL)
			return;
		take_error(error, &te);
		kafkaServeLogs(e->h->rk);
		if (!te.retriable || te.abortable || kafkaNowMs() >= deadline)
			break;
	}
	enlisted = list_delete_ptr(enlisted, e);
	e->h->in_use = false;
	before = ncommitted == 0 ? "" :
		psprintf(" %d other Kafka transaction%s of this PostgreSQL transaction committed before.",
				 ncommitted, ncommitted == 1 ? "" : "s");

	/* librdkafka refused to commit and wants an abort: try, within the rest */
	if (te.abortable)
	{
		if (abort_until(e->h, Max(deadline, kafkaNowMs() + 100), &ate))
			ereport(ERROR,
					(errcode(kafkaErrcode(te.code)),
					 errmsg("could not commit Kafka transaction: %s", te.msg),
					 errdetail("The PostgreSQL transaction is rolled back, and Kafka acknowledged the abort of the Kafka transaction: none of its messages become visible to read_committed consumers.%s", before)));
		kafkaHandleFailed(e->h);
		ereport(ERROR,
				(errcode(kafkaErrcode(te.code)),
				 errmsg("could not commit Kafka transaction: %s", te.msg),
				 errdetail("The PostgreSQL transaction is rolled back. Kafka did not acknowledge the abort of the Kafka transaction within %d ms (%s): its outcome in Kafka is unknown.%s",
						   e->timeout_ms, ate.msg, before),
				 errhint("The next transactional write of this session through the same server and settings uses a new producer with the same transactional.id, which makes Kafka finish the old transaction first.")));
	}

	/*
	 * Timed out, or failed otherwise: the commit request may have reached
	 * the broker (even a stalled one reads it later from its socket), and
	 * may still complete.  The producer is not reused: the next write
	 * initializes a new one with the same transactional.id, which makes the
	 * coordinator finish the old transaction first.
	 */
	kafkaHandleFailed(e->h);
	if (te.retriable)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_UNABLE_TO_ESTABLISH_CONNECTION),
				 errmsg("could not commit Kafka transaction within %d ms", e->timeout_ms),
				 errdetail("The PostgreSQL transaction is rolled back, but the outcome of the Kafka transaction is unknown: if the commit request reached the broker, its messages become visible to read_committed consumers.%s", before),
				 errhint("Check that Kafka is running; the wait is bounded by the option \"timeout_ms\".")));
	ereport(ERROR,
			(errcode(kafkaErrcode(te.code)),
			 errmsg("could not commit Kafka transaction: %s", te.msg),
			 errdetail("The PostgreSQL transaction is rolled back, but the outcome of the Kafka transaction is unknown: if Kafka committed it, its messages become visible to read_committed consumers.%s", before)));
}

static void
forget_transaction(void)
{
	enlisted = NIL;
	doomed = false;
	nproduced = 0;
	for (int i = 0; i < sub_size; i++)
		sub_start[i] = -1;
}

static void
xact_callback(XactEvent event, void *arg)
{
	(void) arg;
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
			if (enlisted == NIL)
				break;
			if (doomed)
				ereport(ERROR,
						(errcode(ERRCODE_TRANSACTION_ROLLBACK),
						 errmsg("cannot commit a transaction that rolled back to a savepoint after writing to a transactional Kafka table"),
						 errdetail("Messages already sent in a Kafka transaction cannot be taken back one by one; the whole transaction is rolled back."),
						 errhint("Roll back the whole transaction and retry it, or write to transactional kafka_fdw tables outside of savepoints that may roll back.")));
			{
				int			ncommitted = 0;

				while (enlisted != NIL)
				{
					EnlistedTxn *e = linitial(enlisted);

					commit_one(e, ncommitted++);
					enlisted = list_delete_first(enlisted);
					e->h->in_use = false;
				}
				if (xact_commit_delay_ms > 0)
					(void) WaitLatch(MyLatch, WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, xact_commit_delay_ms, PG_WAIT_EXTENSION);
			}
			break;
		case XACT_EVENT_PRE_PREPARE:
			if (enlisted != NIL)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("cannot prepare a transaction that wrote to a transactional Kafka table"),
						 errdetail("A Kafka transaction belongs to its producer session and cannot outlive it."),
						 errhint("Commit the transaction instead, or use a table without the option \"transactional\".")));
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			abort_all();
			forget_transaction();
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PREPARE:
			forget_transaction();
			break;
		default:
			break;
	}
}

static void
subxact_callback(SubXactEvent event, SubTransactionId mySubid, SubTransactionId parentSubid, void *arg)
{
	int			level = GetCurrentTransactionNestLevel();

	(void) mySubid;
	(void) parentSubid;
	(void) arg;
	if (event == SUBXACT_EVENT_START_SUB)
	{
		if (level >= sub_size)
		{
			int			n = Max(level + 1, sub_size * 2);

			sub_start = sub_start == NULL ? MemoryContextAlloc(TopMemoryContext, sizeof(int64) * n)
				: repalloc(sub_start, sizeof(int64) * n);
			for (int i = sub_size; i < n; i++)
				sub_start[i] = -1;
			sub_size = n;
		}
		sub_start[level] = nproduced;
	}
	else if (event == SUBXACT_EVENT_ABORT_SUB)
	{
		/* a subtransaction that began before our first write counts from 0 */
		int64		start = level < sub_size && sub_start[level] >= 0 ? sub_start[level] : 0;

		if (nproduced > start)
			doomed = true;
		if (level < sub_size)
			sub_start[level] = -1;
	}
}

/* Backend exit: abort open Kafka transactions while the handles exist */
static void
exit_callback(int code, Datum arg)
{
	(void) code;
	(void) arg;
	abort_all();
}

/* init_transactions in rounds of kafkaWaitUntil */
typedef struct InitWait
{
	KafkaHandle *h;
	TxnError	te;				/* the last error */
} InitWait;

static KafkaWaitStep
init_step(void *arg, int slice_ms)
{
	InitWait   *w = arg;
	rd_kafka_error_t *error = rd_kafka_init_transactions(w->h->rk, slice_ms);

	if (error == NULL)
	{
		w->te.code = RD_KAFKA_RESP_ERR_NO_ERROR;
		return KAFKA_WAIT_DONE;
	}
	take_error(error, &w->te);
	kafkaServeLogs(w->h->rk);
	return w->te.retriable ? KAFKA_WAIT_AGAIN : KAFKA_WAIT_DONE;
}

/*
 * init_transactions on a transactional producer, in slices, resumable,
 * interruptibly, until timeout_ms: fences an older producer with the same
 * transactional.id and aborts what it left open.  Also for producers whose
 * Kafka transactions their caller runs (the emitter).
 */
void
kafkaTxnInit(KafkaHandle *h, int timeout_ms)
{
	InitWait	w;

	w.h = h;
	w.te.code = RD_KAFKA_RESP_ERR_NO_ERROR;
	if (kafkaWaitUntil(kafkaNowMs() + timeout_ms, KAFKA_TXN_SLICE_MS, NULL, init_step, &w) &&
		w.te.code == RD_KAFKA_RESP_ERR_NO_ERROR)
	{
		h->txn_ready = true;
		return;
	}
	if (w.te.fatal || !w.te.retriable)
		kafkaHandleFailed(h);
	ereport(ERROR,
			(errcode(w.te.retriable ? ERRCODE_FDW_UNABLE_TO_ESTABLISH_CONNECTION : kafkaErrcode(w.te.code)),
			 errmsg("could not initialize Kafka transactions for transactional.id \"%s\": %s", h->txn_id, w.te.msg),
			 w.te.retriable ?
			 errhint("Check that Kafka is running and has a transaction coordinator; the wait is bounded by the option \"timeout_ms\".") : 0));
}

/*
 * Make sure a Kafka transaction is open on h for the current PostgreSQL
 * transaction.
 */
void
kafkaXactEnlist(KafkaHandle *h, KafkaOptions *opts)
{
	rd_kafka_error_t *error;
	EnlistedTxn *e;
	MemoryContext old;

	if (!callbacks_registered)
	{
		RegisterXactCallback(xact_callback, NULL);
		RegisterSubXactCallback(subxact_callback, NULL);
		before_shmem_exit(exit_callback, (Datum) 0);
		callbacks_registered = true;
	}
	if (doomed)
		ereport(ERROR,
				(errcode(ERRCODE_IN_FAILED_SQL_TRANSACTION),
				 errmsg("this transaction rolled back to a savepoint after writing to a transactional Kafka table and cannot commit"),
				 errhint("Roll back the whole transaction.")));
	if (kafkaXactHolds(h))
		return;

	if (!h->txn_ready)
		kafkaTxnInit(h, opts->timeout_ms);
	error = rd_kafka_begin_transaction(h->rk);
	if (error != NULL)
	{
		TxnError	te;

		take_error(error, &te);
		kafkaHandleFailed(h);
		ereport(ERROR,
				(errcode(kafkaErrcode(te.code)),
				 errmsg("could not begin Kafka transaction for transactional.id \"%s\": %s", h->txn_id, te.msg),
				 errhint("Retry the transaction; kafka_fdw uses a new producer.")));
	}
	old = MemoryContextSwitchTo(TopTransactionContext);
	e = palloc(sizeof(EnlistedTxn));
	e->h = h;
	e->timeout_ms = opts->timeout_ms;
	e->commit_requested = false;
	e->serverid = opts->serverid;
	e->userid = opts->userid;
	enlisted = lappend(enlisted, e);
	MemoryContextSwitchTo(old);
	h->in_use = true;
}

/* Count messages produced in Kafka transactions, for savepoint tracking */
void
kafkaXactProduced(int64 n)
{
	nproduced += n;
}

/* Does a Kafka transaction of the current PostgreSQL transaction use h? */
bool
kafkaXactHolds(KafkaHandle *h)
{
	ListCell   *lc;

	foreach(lc, enlisted)
		if (((EnlistedTxn *) lfirst(lc))->h == h)
			return true;
	return false;
}

/*
 * The one Kafka transaction open in the current PostgreSQL transaction, for
 * a progress record that must commit with it (ingest.c's pipelines): its
 * handle, the server and user mapping of the table that began it, and its
 * timeout_ms.  NULL if there is none.  With several (tables of different
 * servers or settings: separate Kafka transactions, committed one after
 * the other), no single record can describe them: NULL, *several set.
 */
KafkaHandle *
kafkaXactOnly(Oid *serverid, Oid *userid, int *timeout_ms, bool *several)
{
	EnlistedTxn *e;

	*several = list_length(enlisted) > 1;
	if (list_length(enlisted) != 1)
		return NULL;
	e = linitial(enlisted);
	*serverid = e->serverid;
	*userid = e->userid;
	*timeout_ms = e->timeout_ms;
	return e->h;
}

void
kafkaXactInit(void)
{
	DefineCustomIntVariable("kafka_fdw.xact_commit_delay_ms",
							"Testing aid: pause after the Kafka commit of a transactional write, before PostgreSQL's commit.",
							NULL,
							&xact_commit_delay_ms,
							0, 0, 600000,
							PGC_SUSET, GUC_NOT_IN_SAMPLE | GUC_UNIT_MS,
							NULL, NULL, NULL);
}
