/*-------------------------------------------------------------------------
 *
 * emitter.c
 *		  Publishing of the table-change emitter: committed kafka.outbox rows
 *		  go to the stream's topic exactly once, in event_id order.
 *
 *		  Each stream has its own transactional producer
 *		  (transactional.id kafka_fdw-<system id>-<database oid>-emit-<stream
 *		  uuid>).  A batch (at most kafka_fdw.emitter_batch_size events) is
 *		  one Kafka transaction holding its messages and a progress record
 *		  (key: stream uuid; value: batch_no and the event_ids as an
 *		  int8multirange) in the progress topic (compacted, one partition,
 *		  created on first use).  After Kafka committed, the same PostgreSQL
 *		  transaction that read the batch deletes its outbox rows and
 *		  advances kafka.stream.batch_no.
 *
 *		  Recovery, whenever a producer is new (first use in this process,
 *		  after any error) or a PostgreSQL transaction that committed a
 *		  batch in Kafka rolled back: init_transactions fences any older
 *		  producer of the stream and finishes its transaction; then the last
 *		  progress record of the stream is read (read_committed, once the
 *		  partition's open transactions are decided, from the tail
 *		  backwards).  If its batch_no is beyond kafka.stream.batch_no, that
 *		  batch reached Kafka but PostgreSQL did not record it: its outbox
 *		  rows are deleted and batch_no set.  So a read_committed consumer
 *		  sees every change exactly once, whatever crashes when.
 *
 *		  The worker (worker.c) calls kafkaEmitterWork() outside any
 *		  transaction; kafka.flush_stream() runs the same batch code in the
 *		  caller's transaction.  A transaction-level advisory lock per stream
 *		  serialises them.
 *
 * Invariants:
 *	- Outbox rows are deleted only in the transaction that saw Kafka
 *	  acknowledge their batch's commit, or by recovery from a progress
 *	  record that Kafka committed.
 *	- Events of one stream are sent in event_id order, which is commit
 *	  order per key (outbox.c); librdkafka's idempotent producer keeps the
 *	  order within a partition.
 *	- A stream with a snapshot (snapshot.c) sends its 'r' events first:
 *	  while the snapshot runs, only them (the newest held back, so that the
 *	  last one can be marked "last"), the changes once it is done.
 *	- Every wait for Kafka is bounded by the server's timeout_ms and runs
 *	  in short slices with CHECK_FOR_INTERRUPTS.
 *	- A Kafka transaction that failed or whose commit outcome is unknown is
 *	  never reused: its handle is dropped, and the next producer's
 *	  init_transactions finishes it before recovery reads the progress.
 *
 *-------------------------------------------------------------------------
 */
#include "kafka_fdw.h"

#include "access/detoast.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/pg_class.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "executor/spi.h"
#include "foreign/foreign.h"
#include "miscadmin.h"
#include "access/xlog.h"
#include "storage/latch.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"
#include "utils/pg_lsn.h"
#include "utils/xid8.h"

PG_FUNCTION_INFO_V1(kafka_flush_stream);

/*
 * The event id ranges of one progress record take at most this many bytes
 * of text (a record must stay below the broker's message.max.bytes, 1 MB by
 * default): a batch is cut where its record would exceed it.
 */
#define PROGRESS_MAX_EVENTS_TEXT 400000
/* retry a failing stream after this long, doubling up to the max */
#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS 10000
/*
 * A batch stops at kafka_fdw.emitter_batch_size events or at this many bytes
 * of captured rows, whichever comes first (one chunk at least): the batch's
 * rows and its messages are in the worker's memory together.
 */
#define EMITTER_BATCH_BYTES (32 * 1024 * 1024)
/* snapshot chunks without rows run in one worker transaction, at most */
#define SNAPSHOT_EMPTY_CHUNKS 100

/* A batch of at least this many events is handed to librdkafka on a sender thread */
#define EMITTER_OFFLOAD_MIN 1000

/* Testing aid (superuser): pause between the Kafka commit and the outbox delete */
static int	emitter_commit_delay_ms = 0;

/* A stream as kafka.stream describes it */
typedef struct StreamInfo
{
	int32		stream_id;
	char	   *uuid;
	Oid			relid;
	char	   *server;
	char	   *topic;
	char	   *envelope;
	List	   *key_columns;	/* of char * */
	bool		schemas;
	KafkaFormat format;			/* of the messages: json or avro */
	char	   *progress_topic;
	bool		running;
	int64		batch_no;
	Jsonb	   *options;		/* kafka.stream.options (transforms: transform.c) */
	char	   *snapshot_state;	/* none, pending, running, done (snapshot.c) */
} StreamInfo;

/* A range [lo, hi) of event ids */
typedef struct IdRange
{
	int64		lo;
	int64		hi;
} IdRange;

/* What this process knows about a stream it published */
typedef struct StreamState
{
	int32		stream_id;
	bool		recovered;		/* progress checked with the current producer */

	/*
	 * The current PostgreSQL transaction deleted outbox rows of the stream
	 * (batches Kafka committed, or recovery): sent holds their event ids,
	 * base_batch_no the stream's batch_no before.  Every progress record of
	 * the transaction lists them all, so that if it rolls back (even after
	 * several batches of kafka.flush_stream), the last record tells recovery
	 * every event Kafka has.
	 */
	bool		touched;
	int64		base_batch_no;
	IdRange    *sent;			/* sorted, disjoint, in TopMemoryContext */
	int			nsent;
	int64		retry_at;		/* kafkaNowMs() before which the worker skips it */
	int			backoff_ms;
} StreamState;

static List *stream_states = NIL;	/* of StreamState *, in TopMemoryContext */
static bool xact_cb_registered = false;

static StreamState *
state_of(int32 stream_id)
{
	ListCell   *lc;
	StreamState *st;

	foreach(lc, stream_states)
	{
		st = lfirst(lc);
		if (st->stream_id == stream_id)
			return st;
	}
	st = MemoryContextAllocZero(TopMemoryContext, sizeof(StreamState));
	st->stream_id = stream_id;
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		stream_states = lappend(stream_states, st);
		MemoryContextSwitchTo(old);
	}
	return st;
}

/*
 * A PostgreSQL transaction that committed batches in Kafka rolled back:
 * their outbox rows are back, so the progress must be read again before
 * the next batch (else they would be sent twice).  A transaction that
 * published cannot be prepared: its outcome would be decided later by
 * another session, while Kafka already has the batches.
 */
static void
emitter_xact_callback(XactEvent event, void *arg)
{
	ListCell   *lc;

	(void) arg;
	if (event == XACT_EVENT_PRE_PREPARE)
	{
		foreach(lc, stream_states)
		{
			StreamState *st = lfirst(lc);

			if (st->touched)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("cannot PREPARE a transaction that published a change stream"),
						 errhint("Call kafka.flush_stream() outside the transaction, or leave publishing to the worker.")));
		}
		return;
	}
	if (event != XACT_EVENT_COMMIT && event != XACT_EVENT_ABORT &&
		event != XACT_EVENT_PARALLEL_COMMIT && event != XACT_EVENT_PARALLEL_ABORT)
		return;
	foreach(lc, stream_states)
	{
		StreamState *st = lfirst(lc);

		if (st->touched && (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT))
			st->recovered = false;
		st->touched = false;
		st->nsent = 0;
	}
}

/*
 * A subtransaction rolled back: outbox deletes it made are undone while the
 * transaction goes on, so recovery must run before the next batch.  (The
 * transaction's record of what it sent stays: it still has to be listed.)
 */
static void
emitter_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						 SubTransactionId parentSubid, void *arg)
{
	ListCell   *lc;

	(void) mySubid;
	(void) parentSubid;
	(void) arg;
	if (event != SUBXACT_EVENT_ABORT_SUB)
		return;
	foreach(lc, stream_states)
	{
		StreamState *st = lfirst(lc);

		if (st->touched)
			st->recovered = false;
	}
}

/* The union of two sorted lists of ranges (out has room for na + nb); returns its length */
static pg_noinline int
ranges_union(const IdRange *a, int na, const IdRange *b, int nb, IdRange *out)
{
	int			n = 0,
				i = 0,
				j = 0;

	while (i < na || j < nb)
	{
		IdRange		r = (j >= nb || (i < na && a[i].lo <= b[j].lo)) ? a[i++] : b[j++];

		if (n > 0 && r.lo <= out[n - 1].hi)
			out[n - 1].hi = Max(out[n - 1].hi, r.hi);
		else
			out[n++] = r;
	}
	return n;
}

/* The int8multirange text of sorted ranges */
static char *
ranges_text(const IdRange *r, int n)
{
	StringInfoData b;

	initStringInfo(&b);
	appendStringInfoChar(&b, '{');
	for (int i = 0; i < n; i++)
		appendStringInfo(&b, "%s[" INT64_FORMAT "," INT64_FORMAT ")", i > 0 ? "," : "", r[i].lo, r[i].hi);
	appendStringInfoChar(&b, '}');
	return b.data;
}

/*
 * The current transaction deleted the outbox rows of these event ids (sorted
 * ranges): add them to what the stream's progress records list.
 * base_batch_no is the stream's batch_no before the transaction's first.
 */
static void
note_sent(StreamState *st, int64 base_batch_no, const IdRange *add, int nadd)
{
	IdRange    *merged;

	if (!xact_cb_registered)
	{
		RegisterXactCallback(emitter_xact_callback, NULL);
		RegisterSubXactCallback(emitter_subxact_callback, NULL);
		xact_cb_registered = true;
	}
	if (!st->touched)
	{
		st->touched = true;
		st->base_batch_no = base_batch_no;
		st->nsent = 0;
	}
	merged = MemoryContextAlloc(TopMemoryContext, sizeof(IdRange) * Max(st->nsent + nadd, 1));
	st->nsent = ranges_union(st->sent, st->nsent, add, nadd, merged);
	if (st->sent)
		pfree(st->sent);
	st->sent = merged;
}

void
kafkaEmitterInit(void)
{
	DefineCustomIntVariable("kafka_fdw.emitter_commit_delay_ms",
							"Testing aid: pause after a batch's Kafka commit, before PostgreSQL records it.",
							NULL,
							&emitter_commit_delay_ms,
							0, 0, 600000,
							PGC_SUSET, GUC_NOT_IN_SAMPLE | GUC_UNIT_MS,
							NULL, NULL, NULL);
}

/* ---------------------------------------------------------------------
 * Streams in kafka.stream (SPI; the caller is connected)
 * ---------------------------------------------------------------------
 */

static char *
spi_text(HeapTuple tup, TupleDesc td, int col)
{
	char	   *v = SPI_getvalue(tup, td, col);

	return v;
}

/* Read the stream with this id (or of this table if relid is valid); NULL if none */
static StreamInfo *
load_stream(int32 stream_id, Oid relid)
{
	Datum		arg;
	Oid			argtype;
	StreamInfo *s;
	HeapTuple	tup;
	TupleDesc	td;
	bool		isnull;
	Datum		keys;
	int			rc;

	if (OidIsValid(relid))
	{
		arg = ObjectIdGetDatum(relid);
		argtype = OIDOID;
	}
	else
	{
		arg = Int32GetDatum(stream_id);
		argtype = INT4OID;
	}
	rc = SPI_execute_with_args(psprintf("SELECT stream_id, stream_uuid::text, relid::oid, server::text, topic, envelope, "
										"key_columns::text[], coalesce((options->>'schemas')::bool, false), "
										"coalesce(options->>'progress_topic', '%s'), state = 'running', batch_no, options::text, "
										"snapshot_state, coalesce(options->>'format', 'json') "
										"FROM kafka.stream WHERE %s = $1",
										KAFKA_DEFAULT_PROGRESS_TOPIC,
										OidIsValid(relid) ? "relid" : "stream_id"),
							   1, &argtype, &arg, NULL, false, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not read kafka.stream");
	if (SPI_processed == 0)
		return NULL;
	tup = SPI_tuptable->vals[0];
	td = SPI_tuptable->tupdesc;
	s = palloc0(sizeof(StreamInfo));
	s->stream_id = DatumGetInt32(SPI_getbinval(tup, td, 1, &isnull));
	s->uuid = spi_text(tup, td, 2);
	s->relid = DatumGetObjectId(SPI_getbinval(tup, td, 3, &isnull));
	s->server = spi_text(tup, td, 4);
	s->topic = spi_text(tup, td, 5);
	s->envelope = spi_text(tup, td, 6);
	keys = SPI_getbinval(tup, td, 7, &isnull);
	s->key_columns = isnull ? NIL : kafkaTextArrayToList(keys);
	s->schemas = DatumGetBool(SPI_getbinval(tup, td, 8, &isnull));
	s->progress_topic = spi_text(tup, td, 9);
	s->running = DatumGetBool(SPI_getbinval(tup, td, 10, &isnull));
	s->batch_no = DatumGetInt64(SPI_getbinval(tup, td, 11, &isnull));
	s->options = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(spi_text(tup, td, 12))));
	s->snapshot_state = spi_text(tup, td, 13);
	s->format = strcmp(spi_text(tup, td, 14), "avro") == 0 ? KAFKA_FORMAT_AVRO : KAFKA_FORMAT_JSON;
	return s;
}

/* Take the stream's advisory lock (transaction level); false if busy and !wait */
static bool
lock_stream(int32 stream_id, bool wait)
{
	Datum		args[2] = {Int32GetDatum(KAFKA_EMITTER_LOCK_CLASS), Int32GetDatum(stream_id)};
	Oid			types[2] = {INT4OID, INT4OID};
	bool		isnull;

	if (SPI_execute_with_args(wait ? "SELECT pg_advisory_xact_lock($1, $2) IS NULL"
							  : "SELECT pg_try_advisory_xact_lock($1, $2)",
							  2, types, args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not lock the stream");
	return DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/* The same, waiting, for snapshot.c (SPI connected) */
void
kafkaEmitterLockStream(int32 stream_id)
{
	(void) lock_stream(stream_id, true);
}

/* Has the stream a snapshot still to write into the outbox? */
static bool
snapshot_open(StreamInfo *s)
{
	return strcmp(s->snapshot_state, "pending") == 0 || strcmp(s->snapshot_state, "running") == 0;
}

/* Record a failure of the stream (its own transaction is the caller's) */
static void
record_error(int32 stream_id, const char *msg)
{
	Datum		args[2] = {Int32GetDatum(stream_id), CStringGetTextDatum(msg)};
	Oid			types[2] = {INT4OID, TEXTOID};

	if (SPI_execute_with_args("UPDATE kafka.stream SET last_error = $2, last_error_at = now() "
							  "WHERE stream_id = $1", 2, types, args, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not update kafka.stream");
}

/* ---------------------------------------------------------------------
 * Kafka transactions
 * ---------------------------------------------------------------------
 */

/* Raise an ERROR for a failed transactional call; destroys error */
static void
txn_error(rd_kafka_error_t *error, const char *what, StreamInfo *s) pg_attribute_noreturn();
static void
txn_error(rd_kafka_error_t *error, const char *what, StreamInfo *s)
{
	char		msg[512];
	rd_kafka_resp_err_t code = rd_kafka_error_code(error);

	strlcpy(msg, rd_kafka_error_string(error), sizeof(msg));
	rd_kafka_error_destroy(error);
	ereport(ERROR,
			(errcode(kafkaErrcode(code)),
			 errmsg("could not %s of the change stream of table \"%s\": %s", what,
					get_rel_name(s->relid) ? get_rel_name(s->relid) : "?", msg),
			 kafkaErrcode(code) == ERRCODE_FDW_UNABLE_TO_ESTABLISH_CONNECTION ?
			 errhint("Check that Kafka is running; the changes stay in kafka.outbox and are sent when it is back.") : 0));
}

/*
 * The last committed progress record of the stream (progress.c): batch_no
 * and the event_ids (int8multirange text).  Returns false if there is none.
 */
static bool
read_last_progress(KafkaOptions *opts, StreamInfo *s, int64 *batch_no, char **events)
{
	char	   *value = NULL;
	bool		found = kafkaReadLastProgress(opts, s->progress_topic, s->uuid, &value);

	if (!found)
		return false;
	{
		Datum		arg = CStringGetTextDatum(value);
		Oid			argtype = TEXTOID;
		bool		isnull;

		if (SPI_execute_with_args("SELECT ($1::jsonb->>'batch_no')::bigint, $1::jsonb->>'events'",
								  1, &argtype, &arg, NULL, true, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not parse a progress record");
		*batch_no = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		*events = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	}
	return true;
}

/*
 * Recovery: a batch that Kafka committed but PostgreSQL did not record is
 * removed from the outbox now.
 */
static void
recover(KafkaOptions *opts, StreamInfo *s)
{
	int64		batch_no;
	char	   *events;

	if (!read_last_progress(opts, s, &batch_no, &events))
		return;
	if (batch_no > s->batch_no)
	{
		Datum		args[3] = {Int32GetDatum(s->stream_id), CStringGetTextDatum(events), Int64GetDatum(batch_no)};
		Oid			types[3] = {INT4OID, TEXTOID, INT8OID};
		uint64		n;
		IdRange    *r;
		int			nr;

		/*
		 * The record lists every event its PostgreSQL transaction had sent
		 * (note_sent): all of them are in Kafka.  Some may be gone from the
		 * outbox already; only the rows deleted now count as sent now.
		 */
		if (SPI_execute_with_args("SELECT lower(r), upper(r) FROM unnest($2::int8multirange) r ORDER BY 1",
								  2, types, args, NULL, true, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not read a progress record");
		nr = (int) SPI_processed;
		r = palloc(sizeof(IdRange) * Max(nr, 1));
		for (int i = 0; i < nr; i++)
		{
			bool		isnull;

			r[i].lo = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
			r[i].hi = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull));
		}
		/*
		 * Batches are whole chunks: a chunk whose first event is in a range
		 * was sent whole.  One index range scan per range.
		 */
		if (SPI_execute_with_args("WITH gone AS (DELETE FROM kafka.outbox_chunk o USING unnest($2::int8multirange) r "
								  "WHERE o.stream_id = $1 AND o.chunk_id >= lower(r) AND o.chunk_id < upper(r) RETURNING o.n) "
								  "SELECT coalesce(sum(n), 0)::int8 FROM gone",
								  3, types, args, NULL, false, 0) != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "could not delete from kafka.outbox_chunk");
		{
			bool		isnull;

			n = (uint64) DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		}
		if (SPI_execute_with_args(psprintf("UPDATE kafka.stream SET batch_no = $3, events_sent = events_sent + " UINT64_FORMAT ", "
										   "last_sent_at = now() WHERE stream_id = $1", n),
								  3, types, args, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "could not update kafka.stream");
		note_sent(state_of(s->stream_id), s->batch_no, r, nr);
		ereport(LOG,
				(errmsg("kafka_fdw: stream of table \"%s\": batch " INT64_FORMAT " had reached Kafka; removed its " UINT64_FORMAT " events from the outbox",
						get_rel_name(s->relid) ? get_rel_name(s->relid) : "?", batch_no, n)));
		s->batch_no = batch_no;
	}
}

static int64
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/*
 * Commit the Kafka transaction of h, in slices, within timeout_ms.  Not
 * interruptible: a cancelled commit would leave its outcome unknown, and
 * the wait is bounded.  A failure raises an ERROR (the caller drops the
 * producer: the outcome is unknown).
 */
static void
commit_transaction(KafkaHandle *h, StreamInfo *s, int timeout_ms)
{
	int64		deadline = kafkaNowMs() + timeout_ms;

	for (;;)
	{
		rd_kafka_error_t *error = rd_kafka_commit_transaction(h->rk, kafkaSliceMs(deadline, 500));

		kafkaServeLogs(h->rk);
		if (error == NULL)
			return;
		if (rd_kafka_error_is_retriable(error) && kafkaNowMs() < deadline)
		{
			rd_kafka_error_destroy(error);
			continue;
		}
		txn_error(error, "commit the Kafka transaction", s);
	}
}

/*
 * Publish one batch of the stream in the current transaction (SPI
 * connected, stream lock held).  Returns the number of events sent.
 *
 * The messages go through producer.c, as INSERT's do: the stream's
 * transactional producer is a writer handle with the stream's
 * transactional.id, pinned (in_use) from the begin of its Kafka
 * transaction to its end, so that the handle cap never retires it
 * mid-transaction.  The producer waits for every delivery report before
 * the commit, so that a message Kafka refused fails the batch with its
 * own reason.
 */
/* One chunk of kafka.outbox_chunk (outbox.c), read for a batch */
typedef struct Chunk
{
	int64		chunk_id;		/* event ids chunk_id .. chunk_id + n - 1 */
	char		op;
	int			n;
	uint64		txid;
	int64		lsn;
	int64		captured_us;	/* since the Unix epoch */
	char	  **before;			/* n row_to_json texts or NULLs */
	char	  **after;
} Chunk;


/* The n json texts of a json[] of a chunk (NULL elements as NULL) */
static char **
chunk_rows(Datum arr, int n)
{
	Datum	   *elems;
	bool	   *nulls;
	int			nelems;
	char	  **out;

	deconstruct_array(DatumGetArrayTypeP(arr), JSONOID, -1, false, TYPALIGN_INT, &elems, &nulls, &nelems);
	if (nelems != n)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("a chunk of kafka.outbox_chunk has %d rows for %d events", nelems, n)));
	out = palloc(sizeof(char *) * n);
	for (int i = 0; i < n; i++)
		out[i] = nulls[i] ? NULL : text_to_cstring(DatumGetTextPP(elems[i]));
	pfree(elems);
	pfree(nulls);
	return out;
}

/*
 * The oldest committed chunks of the stream, in chunk_id (event_id) order:
 * whole chunks until they hold at least limit events or EMITTER_BATCH_BYTES
 * of rows (one at least), in
 * *nchunks; its snapshot chunks only (op 'r') if snapshot_rows.  *more
 * says whether another chunk follows.  Chunks the current transaction
 * wrote are not committed (kafka.flush_stream runs in the caller's
 * transaction): they wait.
 */
static SPIPlanPtr read_plans[2];	/* changes, snapshot chunks */

static Chunk *
read_outbox(int32 stream_id, bool snapshot_rows, int64 limit, int *nchunks, bool *more)
{
	Datum		args[1] = {Int32GetDatum(stream_id)};
	Oid			types[1] = {INT4OID};
	Portal		portal;
	Chunk	   *chunks = NULL;
	int			n = 0;
	int			room = 0;
	int64		events = 0;
	int64		bytes = 0;		/* of the chunks' rows, as stored before compression */
	bool		full_batch = false;

	*more = false;
	if (!OidIsValid(get_relname_relid("outbox_chunk", get_namespace_oid("kafka", false))))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("kafka_fdw's library is newer than its SQL objects in this database"),
				 errdetail("The changes stay in kafka.outbox until the extension is updated."),
				 errhint("Run ALTER EXTENSION kafka_fdw UPDATE.")));
	/* planned once per process (a batch follows every commit of the table) */
	if (read_plans[snapshot_rows] == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare_cursor(snapshot_rows ?
											  "SELECT chunk_id, op, n, txid, lsn, captured_at, before, after "
											  "FROM kafka.outbox_chunk WHERE stream_id = $1 AND op = 'r' "
											  "AND txid IS DISTINCT FROM pg_current_xact_id_if_assigned() ORDER BY chunk_id" :
											  "SELECT chunk_id, op, n, txid, lsn, captured_at, before, after "
											  "FROM kafka.outbox_chunk WHERE stream_id = $1 "
											  "AND txid IS DISTINCT FROM pg_current_xact_id_if_assigned() ORDER BY chunk_id",
											  1, types, CURSOR_OPT_NO_SCROLL);

		if (plan == NULL || SPI_keepplan(plan) != 0)
			elog(ERROR, "could not prepare the query of kafka.outbox_chunk: %s", SPI_result_code_string(SPI_result));
		read_plans[snapshot_rows] = plan;
	}
	portal = SPI_cursor_open(NULL, read_plans[snapshot_rows], args, NULL, false);
	for (;;)
	{
		SPITupleTable *tt;

		/* a few chunks at a time: one chunk may hold 1,000 events, or one */
		SPI_cursor_fetch(portal, true, full_batch ? 1 : (int) Min(Max(limit - events, 1), 64));
		tt = SPI_tuptable;
		if (SPI_processed == 0)
			break;
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			HeapTuple	tup = tt->vals[i];
			TupleDesc	td = tt->tupdesc;
			bool		isnull[8];
			Datum		v[8];
			Chunk	   *c;

			if (full_batch)
			{
				*more = true;
				break;
			}
			for (int k = 0; k < 8; k++)
				v[k] = SPI_getbinval(tup, td, k + 1, &isnull[k]);
			if (n == room)
			{
				room = Max(16, room * 2);
				chunks = chunks ? repalloc(chunks, sizeof(Chunk) * room) : palloc(sizeof(Chunk) * room);
			}
			c = &chunks[n++];
			c->chunk_id = DatumGetInt64(v[0]);
			c->op = DatumGetChar(v[1]);
			c->n = DatumGetInt32(v[2]);
			c->txid = U64FromFullTransactionId(DatumGetFullTransactionId(v[3]));
			c->lsn = (int64) DatumGetLSN(v[4]);
			c->captured_us = DatumGetTimestampTz(v[5]) + KAFKA_PG_EPOCH_US;
			if (c->n < 1 || c->n > KAFKA_OUTBOX_ID_STEP)
				ereport(ERROR,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg("chunk " INT64_FORMAT " of kafka.outbox_chunk has %d events", c->chunk_id, c->n)));
			bytes += toast_raw_datum_size(v[6]) + toast_raw_datum_size(v[7]);
			c->before = chunk_rows(v[6], c->n);
			c->after = chunk_rows(v[7], c->n);
			events += c->n;
			full_batch = events >= limit || bytes >= EMITTER_BATCH_BYTES;
		}
		SPI_freetuptable(tt);
		if (*more)
			break;
	}
	SPI_cursor_close(portal);
	*nchunks = n;
	return chunks;
}

/* The event id ranges of chunks (out has room for n); returns their number */
static pg_noinline int
chunks_to_ranges(const Chunk *chunks, int n, IdRange *out)
{
	int			nr = 0;

	for (int i = 0; i < n; i++)
	{
		if (nr > 0 && chunks[i].chunk_id == out[nr - 1].hi)
			out[nr - 1].hi += chunks[i].n;
		else
		{
			out[nr].lo = chunks[i].chunk_id;
			out[nr].hi = chunks[i].chunk_id + chunks[i].n;
			nr++;
		}
	}
	return nr;
}

/*
 * Make both transactional producers of a stream ready: init_transactions
 * fences older instances of each transactional.id (a killed worker, a
 * flush_stream of another session) and finishes the transaction they left
 * open, so that the progress topic then tells what reached Kafka.
 */
static void
init_producers(KafkaOptions *opts, char **txn_ids)
{
	KafkaHandle *a = kafkaProducerHandle(opts, txn_ids[0]);

	if (!a->txn_ready)
		kafkaTxnInit(a, opts->timeout_ms);
	/* kept from being retired while the second one is made */
	a->pinned = a->in_use = true;
	PG_TRY();
	{
		KafkaHandle *b = kafkaProducerHandle(opts, txn_ids[1]);

		if (!b->txn_ready)
			kafkaTxnInit(b, opts->timeout_ms);
	}
	PG_FINALLY();
	{
		a->pinned = a->in_use = false;
	}
	PG_END_TRY();
}

/*
 * The producer of the stream's next batch, ready, after recovery if needed.
 */
static pg_noinline KafkaHandle *
batch_producer(KafkaOptions *opts, StreamInfo *s, StreamState *st)
{
	char	   *txn_ids[2];
	KafkaHandle *h;

	/*
	 * Two transactional producers take turns, by the parity of the batch
	 * number: right after a commit, the coordinator is still writing the
	 * commit markers of that transactional.id for a few milliseconds, and a
	 * new transaction of the same id would be refused with
	 * CONCURRENT_TRANSACTIONS and retried by librdkafka 20 ms later, on most
	 * batches of a stream that keeps up with its table.  The even id is the
	 * one version 1.1 used.
	 */
	txn_ids[0] = psprintf("kafka_fdw-" UINT64_FORMAT "-%u-emit-%s",
						  GetSystemIdentifier(), MyDatabaseId, s->uuid);
	txn_ids[1] = psprintf("%s-b", txn_ids[0]);
	for (int attempt = 0;; attempt++)
	{
		if (!st->recovered)
		{
			init_producers(opts, txn_ids);
			kafkaEnsureProgressTopic(opts, s->progress_topic);
			recover(opts, s);
			st->recovered = true;
		}
		h = kafkaProducerHandle(opts, txn_ids[(s->batch_no + 1) & 1]);
		if (h->txn_ready)
			break;
		/* a new handle (the old one was retired): fence and recover again */
		st->recovered = false;
		if (attempt > 0)
		{
			/* both were initialized just now: one that keeps being retired only needs its own */
			kafkaTxnInit(h, opts->timeout_ms);
			break;
		}
	}

	return h;
}

static int64
publish_batch(StreamInfo *s, bool *full)
{
	ForeignServer *server = GetForeignServerByName(s->server, false);
	Oid			table_owner = kafkaRelOwner(s->relid);
	KafkaOptions *opts;
	StreamState *st = state_of(s->stream_id);
	KafkaHandle *h;
	Chunk	   *chunks = NULL;
	int			nchunks = 0;
	bool		more;
	volatile uint64 nrows;
	Relation	rel;
	KafkaEnvelope *env;
	KafkaTransform *tf;
	MemoryContext evcxt;
	MemoryContext batchcxt;
	volatile bool begun = false;
	KafkaProducer *volatile p = NULL;
	int64		batch_size = kafka_emitter_batch_size;	/* at least 1 */
	char	   *events;
	char	   *dbname = get_database_name(MyDatabaseId);
	bool		snapshot_batch = false;
	bool		snapshot_last = false;
	IdRange    *ranges;
	IdRange    *allranges;
	int			nranges;
	int			nall;

	*full = false;

	/*
	 * The stream writes as the table's owner: with the owner's user mapping
	 * (never the worker's or the extension owner's credentials), and only
	 * while the owner may still use the server.
	 */
	if (pg_foreign_server_aclcheck(server->serverid, table_owner, ACL_USAGE) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("the owner of table \"%s\" has no USAGE privilege on foreign server \"%s\"",
						get_rel_name(s->relid), s->server),
				 errhint("GRANT USAGE ON FOREIGN SERVER %s TO the table's owner, or stop the stream.",
						 quote_identifier(s->server))));
	opts = kafkaGetServerOptionsFor(server->serverid, table_owner);

	/*
	 * The stream's producers compress with lz4 unless the server or the user
	 * mapping chooses a compression: change events in JSON shrink to a
	 * fraction, which saves the broker most of its work per message (see
	 * bench/README.md) as well as disk and network.  Materialize's Kafka
	 * sinks default to lz4 too.  Every librdkafka build has lz4.
	 */
	opts->writer_compression = "lz4";
	/* a batch is produced at once, then flushed: see kafkaHandleConfig */
	opts->writer_linger_ms = 1000;

	h = batch_producer(opts, s, st);

	/*
	 * Snapshot chunks ('r', snapshot.c) go first, before every change: while
	 * the snapshot runs only they are sent (the changes wait in the outbox,
	 * which the snapshot reads them from); the last 'r' event, once the
	 * snapshot is done, is marked "last".  Whether a chunk follows the batch
	 * tells whether it holds the last one.
	 */
	if (strcmp(s->snapshot_state, "none") != 0)
	{
		chunks = read_outbox(s->stream_id, true, batch_size, &nchunks, &more);
		if (nchunks > 0)
		{
			/*
			 * While the snapshot runs, the newest 'r' chunk is held back: a
			 * later snapshot chunk may find no row, and this one must then
			 * carry "last".
			 */
			snapshot_batch = true;
			snapshot_last = !snapshot_open(s) && !more;
			if (snapshot_open(s) && !more)
				nchunks--;
			if (nchunks == 0)
				return 0;
		}
		else if (snapshot_open(s))
			return 0;
	}
	if (!snapshot_batch)
		chunks = read_outbox(s->stream_id, false, batch_size, &nchunks, &more);
	if (nchunks == 0)
		return 0;

	/*
	 * The progress record lists the batch's events and those of every
	 * earlier batch of this PostgreSQL transaction (note_sent).  If that
	 * would be too long, send the longest prefix of the batch's chunks that
	 * fits (none: *full, this transaction can publish no more).
	 */
	ranges = palloc(sizeof(IdRange) * nchunks);
	allranges = palloc(sizeof(IdRange) * (nchunks + (st->touched ? st->nsent : 0)));
	{
		int			wanted = nchunks,
					lo = 0,
					hi = nchunks;

		for (;;)
		{
			nranges = chunks_to_ranges(chunks, nchunks, ranges);
			nall = ranges_union(st->touched ? st->sent : NULL, st->touched ? st->nsent : 0,
								ranges, nranges, allranges);
			events = ranges_text(allranges, nall);
			if (strlen(events) <= PROGRESS_MAX_EVENTS_TEXT)
			{
				lo = nchunks;
				if (lo >= hi)
					break;
			}
			else
				hi = nchunks - 1;
			/* binary search for the longest prefix that fits */
			nchunks = lo + (hi - lo + 1) / 2;
			if (nchunks == 0)
			{
				*full = true;
				return 0;
			}
		}
		if (nchunks < wanted)
			snapshot_last = false;	/* the last 'r' event is not in this batch */
	}
	nrows = 0;
	for (int c = 0; c < nchunks; c++)
		nrows += chunks[c].n;

	rel = table_open(s->relid, AccessShareLock);
	tf = kafkaTransformParse(s->options, s->relid, s->key_columns);
	env = kafkaEnvelopeCreate(rel, kafkaEnvelopeKind(s->envelope), s->format, s->schemas,
							  s->server, dbname ? dbname : "?", s->key_columns, tf);
	table_close(rel, AccessShareLock);

	/*
	 * Avro: the schemas of the table as it is now are registered before the
	 * Kafka transaction begins, so that a registry that fails or refuses
	 * them fails the batch with nothing sent (retried like a Kafka failure).
	 */
	kafkaEnvelopeRegister(env, opts, s->topic);

	batchcxt = AllocSetContextCreate(CurrentMemoryContext, "kafka emitter batch", ALLOCSET_DEFAULT_SIZES);
	evcxt = AllocSetContextCreate(batchcxt, "kafka emitter event", ALLOCSET_DEFAULT_SIZES);

	h->pinned = h->in_use = true;
	PG_TRY();
	{
		rd_kafka_error_t *error;
		int64		t_ns = now_ns();
		char	   *progress;
		KafkaHeader hdrs[2];
		char		idbuf[32];
		Oid			save_userid;
		int			save_sec;
		int			nestlevel;
		uint64		sent_events = 0;

		/* checks the topic before a Kafka transaction is open */
		p = kafkaProducerBegin(h, s->topic, opts->timeout_ms, KAFKA_PRODUCE_TXN, batchcxt);
		/*
		 * A large batch: librdkafka takes its messages on a thread of its
		 * own while the next are encoded.  Not for the few events of a
		 * stream that keeps up with its table, where starting the thread
		 * would cost more than it saves.
		 */
		if (nrows >= EMITTER_OFFLOAD_MIN)
			kafkaProducerOffload(p);
		hdrs[0].name = "kafka_fdw.stream";
		hdrs[0].value = s->uuid;
		hdrs[0].len = strlen(s->uuid);
		hdrs[1].name = "kafka_fdw.event_id";
		hdrs[1].value = idbuf;

		error = rd_kafka_begin_transaction(h->rk);
		if (error)
		{
			kafkaHandleFailed(h);
			txn_error(error, "begin a Kafka transaction", s);
		}
		begun = true;

		/*
		 * The events are encoded as the table's owner: the input and output
		 * functions of its column types (a domain's CHECK, inside a
		 * composite) run as a security-restricted operation with
		 * search_path pinned, as PostgreSQL runs index expressions during
		 * maintenance, never as the worker's role.  An ERROR restores both
		 * (transaction abort).
		 */
		GetUserIdAndSecContext(&save_userid, &save_sec);
		SetUserIdAndSecContext(table_owner,
							   save_sec | SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION);
		nestlevel = NewGUCNestLevel();
		(void) set_config_option("search_path", "pg_catalog, pg_temp",
								 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
		for (int c = 0; c < nchunks; c++)
		{
			Chunk	   *chunk = &chunks[c];

			for (int i = 0; i < chunk->n; i++)
			{
				KafkaChangeEvent ev;
				KafkaEnvMessage msgs[KAFKA_ENV_MAX_MESSAGES];
				int			nmsg;
				MemoryContext old = MemoryContextSwitchTo(evcxt);

				ev.event_id = chunk->chunk_id + i;
				ev.op = chunk->op;
				ev.txid = chunk->txid;
				ev.lsn = chunk->lsn;
				ev.captured_us = chunk->captured_us;
				ev.before = chunk->before[i];
				ev.after = chunk->after[i];
				ev.snapshot = !snapshot_batch ? NULL :
					(snapshot_last && c == nchunks - 1 && i == chunk->n - 1) ? "last" : "true";

				nmsg = kafkaEnvelopeEncode(env, &ev, t_ns, msgs);
				hdrs[1].len = snprintf(idbuf, sizeof(idbuf), INT64_FORMAT, ev.event_id);
				for (int m = 0; m < nmsg; m++)
				{
					/*
					 * The transform function sees each message value; a
					 * value it drops takes the tombstone that follows it
					 * along (a dropped delete deletes nothing downstream).
					 */
					if (tf && tf->function && msgs[m].value)
					{
						msgs[m].value = kafkaTransformCall(tf, msgs[m].value);
						if (msgs[m].value == NULL)
						{
							if (m + 1 < nmsg && msgs[m + 1].value == NULL)
								m++;
							continue;
						}
						msgs[m].value_len = strlen(msgs[m].value);
					}
					(void) kafkaProducerSend(p, NULL, RD_KAFKA_PARTITION_UA,
											 msgs[m].key, msgs[m].key_len,
											 msgs[m].value, msgs[m].value_len,
											 hdrs, 2, 0, false);
				}
				MemoryContextSwitchTo(old);
				MemoryContextReset(evcxt);
				if ((++sent_events & 1023) == 0)
					kafkaProducerPoll(p);	/* fail fast; interrupts */
			}
		}
		AtEOXact_GUC(true, nestlevel);
		SetUserIdAndSecContext(save_userid, save_sec);

		/*
		 * The progress record follows the change events without waiting for
		 * them: the last flush waits for all (a failure of any aborts the
		 * Kafka transaction, record included).  The progress partition,
		 * which every stream of the cluster shares and whose open
		 * transactions hold back the recovery of all of them, joins this
		 * transaction only for that last wait, and registering it costs no
		 * round trip of its own.
		 */
		/* the progress record, in the same Kafka transaction */
		{
			StringInfoData b;

			initStringInfo(&b);
			appendStringInfoString(&b, "{\"stream_uuid\":");
			escape_json(&b, s->uuid);
			appendStringInfoString(&b, ",\"table\":");
			escape_json(&b, psprintf("%s.%s", env->schema, env->table));
			appendStringInfo(&b, ",\"batch_no\":" INT64_FORMAT ",\"since_batch_no\":" INT64_FORMAT ",\"events\":",
							 s->batch_no + 1, st->touched ? st->base_batch_no : s->batch_no);
			escape_json(&b, events);
			appendStringInfo(&b, ",\"count\":" UINT64_FORMAT ",\"committed_at\":", nrows);
			escape_json(&b, timestamptz_to_str(GetCurrentTimestamp()));
			appendStringInfoChar(&b, '}');
			progress = b.data;
		}
		(void) kafkaProducerSend(p, kafkaProducerTopic(p, s->progress_topic), RD_KAFKA_PARTITION_UA,
								 s->uuid, strlen(s->uuid), progress, strlen(progress),
								 NULL, 0, 0, false);

		/* every message acknowledged (or the ERROR of the first failure), then commit */
		kafkaProducerWait(p);
		kafkaProducerCheck(p);
		kafkaProducerEnd(p);
		commit_transaction(h, s, opts->timeout_ms);
		begun = false;
	}
	PG_CATCH();
	{
		/*
		 * The Kafka transaction failed or its outcome is unknown: never use
		 * this producer again.  The next one's init_transactions finishes
		 * it, and recovery reads what reached Kafka.
		 */
		/* its sender thread stops before the handle is given up */
		if (p)
			kafkaProducerEnd(p);
		if (begun)
			kafkaHandleFailed(h);
		h->pinned = h->in_use = false;
		st->recovered = false;
		PG_RE_THROW();
	}
	PG_END_TRY();
	h->pinned = h->in_use = false;
	MemoryContextDelete(batchcxt);

	note_sent(st, s->batch_no, ranges, nranges);

	if (emitter_commit_delay_ms > 0)
		(void) WaitLatch(MyLatch, WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, emitter_commit_delay_ms, PG_WAIT_EXTENSION);

	/* PostgreSQL records the batch */
	{
		Datum		dargs[3] = {Int32GetDatum(s->stream_id), (Datum) 0, Int64GetDatum(s->batch_no + 1)};
		Oid			dtypes[3] = {INT4OID, INT8ARRAYOID, INT8OID};
		Datum	   *idd = palloc(sizeof(Datum) * nchunks);

		/* chunk_id = ANY (int8[]): an index scan of the batch's chunks */
		for (int c = 0; c < nchunks; c++)
			idd[c] = Int64GetDatum(chunks[c].chunk_id);
		dargs[1] = PointerGetDatum(construct_array(idd, nchunks, INT8OID, sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		if (SPI_execute_with_args("DELETE FROM kafka.outbox_chunk WHERE stream_id = $1 AND chunk_id = ANY ($2)",
								  3, dtypes, dargs, NULL, false, 0) != SPI_OK_DELETE)
			elog(ERROR, "could not delete from kafka.outbox_chunk");
		if (SPI_processed != (uint64) nchunks)
			elog(ERROR, "deleted " UINT64_FORMAT " outbox chunks of a batch of %d", SPI_processed, nchunks);
		if (SPI_execute_with_args(psprintf("UPDATE kafka.stream SET batch_no = $3, events_sent = events_sent + " UINT64_FORMAT ", "
										   "last_sent_at = now(), last_error = NULL, last_error_at = NULL WHERE stream_id = $1", nrows),
								  3, dtypes, dargs, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "could not update kafka.stream");
	}
	s->batch_no++;
	return (int64) nrows;
}

/* ---------------------------------------------------------------------
 * Entry points
 * ---------------------------------------------------------------------
 */

/* The owner of kafka.stream: the extension owner (a schema kafka it owns) */
Oid
kafkaEmitterOwner(void)
{
	return kafkaRelOwner(get_relname_relid("stream", get_namespace_oid("kafka", false)));
}

/*
 * kafka.flush_stream(source regclass, timeout_ms int) RETURNS bigint: publish
 * the committed backlog of the table's stream now, from this backend, in
 * the caller's transaction.  Returns the number of events sent.
 */
Datum
kafka_flush_stream(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	int32		timeout_ms = PG_GETARG_INT32(1);
	int64		total = 0;
	int64		deadline;
	StreamInfo *s;

	Oid			save_userid;
	int			save_sec_context;

	if (!pg_class_ownercheck(relid, GetUserId()))
		aclcheck_error(ACLCHECK_NOT_OWNER, get_relkind_objtype(get_rel_relkind(relid)),
					   get_rel_name(relid) ? get_rel_name(relid) : "?");
	if (timeout_ms <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("timeout_ms must be positive")));
	deadline = kafkaNowMs() + timeout_ms;

	/*
	 * The emitter's tables are the extension owner's and not readable by
	 * PUBLIC: publish as that role, as the worker does (its user mapping
	 * applies), having checked that the caller owns the table.
	 */
	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(kafkaEmitterOwner(), save_sec_context | SECURITY_LOCAL_USERID_CHANGE);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	s = load_stream(0, relid);
	if (s == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("table \"%s\" has no change stream", get_rel_name(relid) ? get_rel_name(relid) : "?"),
				 errhint("Start one with kafka.stream_changes().")));
	(void) lock_stream(s->stream_id, true);
	s = load_stream(s->stream_id, InvalidOid);	/* as of after the lock */
	for (;;)
	{
		bool		full;
		int64		n = publish_batch(s, &full);

		total += n;
		if (full)
		{
			ereport(NOTICE,
					(errmsg("kafka.flush_stream stopped after " INT64_FORMAT " events: the progress record of one transaction can list no more",
							total),
					 errdetail("The event ids of one transaction's batches are listed in each of its progress records, in at most %d bytes.",
							   PROGRESS_MAX_EVENTS_TEXT),
					 errhint("Call kafka.flush_stream() again, in a new transaction, for the rest; the worker also publishes it.")));
			break;
		}
		if (n == 0)
			break;
		if (kafkaNowMs() >= deadline)
			ereport(ERROR,
					(errcode(ERRCODE_QUERY_CANCELED),
					 errmsg("could not publish the backlog of table \"%s\" within %d ms",
							get_rel_name(relid), timeout_ms),
					 errdetail(INT64_FORMAT " events were sent; the rest stays in kafka.outbox.", total)));
		CHECK_FOR_INTERRUPTS();
	}
	SPI_finish();
	SetUserIdAndSecContext(save_userid, save_sec_context);
	PG_RETURN_INT64(total);
}

/* Is the extension (its schema kafka) installed in this database? */
static bool
installed(void)
{
	return OidIsValid(get_namespace_oid("kafka", true)) &&
		OidIsValid(get_relname_relid("stream", get_namespace_oid("kafka", true)));
}

/*
 * Inside a transaction: does this database have any stream?  The worker
 * exits when not.
 */
bool
kafkaEmitterHasStreams(void)
{
	bool		result;
	bool		isnull;

	if (!installed())
		return false;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute("SELECT EXISTS (SELECT 1 FROM kafka.stream)", true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read kafka.stream");
	result = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_finish();
	return result;
}

/*
 * Called by the worker outside any transaction: publish at most one batch
 * of every running stream of this database, each in its own transaction.
 * A failing stream gets its error recorded in kafka.stream (last_error,
 * last_error_at) and is retried after a growing pause (1 to 10 s), while
 * the other streams carry on: the per-stream catch below is the worker's
 * error boundary, like the main loop of any background worker.  Returns the
 * number of events sent (0: nothing to do now).  Each transaction sets the
 * statement start first, as postgres.c does for a client's statement:
 * otherwise now() (last_sent_at, last_error_at) would be the time the
 * worker started, and kafka.streams could not tell a failing stream.
 */
int64
kafkaEmitterWork(void)
{
	List	   *volatile ids = NIL;
	ListCell   *lc;
	volatile int64 total = 0;
	MemoryContext workcxt = AllocSetContextCreate(TopMemoryContext, "kafka emitter work",
												  ALLOCSET_DEFAULT_SIZES);
	MemoryContext oldcxt = MemoryContextSwitchTo(workcxt);

	kafkaWorkerStartTransaction();
	PushActiveSnapshot(GetTransactionSnapshot());
	if (installed())
	{
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		if (SPI_execute("SELECT stream_id FROM kafka.stream WHERE state = 'running' ORDER BY stream_id",
						true, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not read kafka.stream");
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			bool		isnull;
			MemoryContext spicxt = MemoryContextSwitchTo(workcxt);

			ids = lappend_int(ids, DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull)));
			MemoryContextSwitchTo(spicxt);
		}
		SPI_finish();
	}
	PopActiveSnapshot();
	CommitTransactionCommand();
	MemoryContextSwitchTo(workcxt);

	foreach(lc, ids)
	{
		int32		stream_id = lfirst_int(lc);
		StreamState *st = state_of(stream_id);

		if (st->retry_at > kafkaNowMs())
			continue;

		PG_TRY();
		{
			StreamInfo *s;

			kafkaWorkerStartTransaction();
			PushActiveSnapshot(GetTransactionSnapshot());
			if (SPI_connect() != SPI_OK_CONNECT)
				elog(ERROR, "SPI_connect failed");
			s = load_stream(stream_id, InvalidOid);

			/*
			 * A snapshot still running: write its next chunk of 'r' events
			 * and commit them (they must be committed before they are
			 * published), then publish as usual.  Chunks that found no row
			 * (keys all inserted since the snapshot's point) do not count:
			 * run the next one at once.
			 */
			if (s && s->running && snapshot_open(s) && lock_stream(stream_id, false))
			{
				for (int empty = 0; empty < SNAPSHOT_EMPTY_CHUNKS; empty++)
				{
					s = load_stream(stream_id, InvalidOid);
					if (s == NULL || !snapshot_open(s) || kafkaSnapshotStep(stream_id) != 0)
						break;
					CHECK_FOR_INTERRUPTS();
				}
				SPI_finish();
				PopActiveSnapshot();
				CommitTransactionCommand();
				kafkaWorkerStartTransaction();
				PushActiveSnapshot(GetTransactionSnapshot());
				if (SPI_connect() != SPI_OK_CONNECT)
					elog(ERROR, "SPI_connect failed");
				s = load_stream(stream_id, InvalidOid);
			}
			if (s && s->running && lock_stream(stream_id, false))
			{
				bool		full;

				/* as of after the lock: paused meanwhile? (pause_stream takes the lock) */
				s = load_stream(stream_id, InvalidOid);
				if (s && s->running)
					total += publish_batch(s, &full);
				st->backoff_ms = 0;
				st->retry_at = 0;
			}
			SPI_finish();
			PopActiveSnapshot();
			CommitTransactionCommand();
		}
		PG_CATCH();
		{
			ErrorData  *edata;

			MemoryContextSwitchTo(workcxt);
			edata = CopyErrorData();
			FlushErrorState();
			AbortCurrentTransaction();
			ereport(LOG,
					(errmsg("kafka_fdw: could not publish stream %d: %s", stream_id, edata->message)));
			st->recovered = false;
			st->backoff_ms = st->backoff_ms ? Min(st->backoff_ms * 2, BACKOFF_MAX_MS) : BACKOFF_MIN_MS;
			st->retry_at = kafkaNowMs() + st->backoff_ms;
			/* remember it in kafka.stream, for kafka.streams */
			kafkaWorkerStartTransaction();
			PushActiveSnapshot(GetTransactionSnapshot());
			if (SPI_connect() == SPI_OK_CONNECT)
			{
				record_error(stream_id, edata->message);
				SPI_finish();
			}
			PopActiveSnapshot();
			CommitTransactionCommand();
			MemoryContextSwitchTo(workcxt);
		}
		PG_END_TRY();
	}
	MemoryContextSwitchTo(oldcxt);
	MemoryContextDelete(workcxt);
	return total;
}
