/*-------------------------------------------------------------------------
 *
 * ingest.c
 *		  Ingest jobs: background workers that consume a kafka_fdw foreign
 *		  table's topic into an ordinary table, exactly once.
 *
 *		  A job (kafka.ingest_job, started by kafka.ingest) has parallelism N
 *		  ingest workers; worker k takes the partitions p with p % N = k.
 *		  Each is a dynamic background worker started and restarted by the
 *		  per-database worker (kafkaIngestSupervise, from worker.c), and
 *		  holds a session advisory lock on (job, k), so that a second copy
 *		  (a supervisor that restarted while the first one still ran) only
 *		  waits, as long as the supervisor that started it lives.
 *
 *		  A worker consumes its partitions from the offsets stored in
 *		  kafka.ingest_offset, collects a batch (kafka_fdw.ingest_batch_size
 *		  messages, or what arrived within kafka_fdw.ingest_batch_wait), and
 *		  writes it in one transaction that also stores each partition's
 *		  next offset: a message lands exactly once whatever crashes when.
 *		  Rows are decoded with the foreign table's definition (message.c),
 *		  matched to the target's columns by name, and written through the
 *		  executor's replication entry points (ExecSimpleRelationInsert and
 *		  friends, as logical replication's apply worker does): constraints,
 *		  triggers, defaults, generated columns and partition routing apply,
 *		  without a SQL statement per message.
 *
 *		  mode append inserts every message.  mode upsert applies a
 *		  changelog by key (the target's primary key): a message's row
 *		  replaces the row with its key, a tombstone (null value) deletes it;
 *		  envelope 'debezium' unwraps change events (c, r, u: the after
 *		  image; d: delete; t: truncate).  Within a batch only the last change
 *		  of a key is applied.
 *
 *		  Errors: a batch that fails is retried message by message, each in a
 *		  subtransaction, to find the bad ones.  on_error 'dead_letter' puts
 *		  them (raw key, value, headers, the error) into kafka.dead_letter in
 *		  the same transaction and goes on; 'fail' stops the job in state
 *		  failed with the message's partition, offset and error.  Failures
 *		  not caused by a message (Kafka down, a lock timeout) are recorded
 *		  in last_error and retried after a growing pause.
 *
 * Invariants:
 *	- Offsets move only in the transaction that wrote the batch's rows (or
 *	  dead letters); a batch's offsets are checked under FOR UPDATE against
 *	  those the worker consumed from, so a concurrent writer of the same
 *	  offsets (which the advisory lock excludes anyway) can never double a
 *	  message.
 *	- Writes run as the target table's owner (the job's owner), with that
 *	  owner's user mapping for Kafka; the owner must still have SELECT on
 *	  the source and INSERT (UPDATE, DELETE for upsert) on the target.
 *
 *-------------------------------------------------------------------------
 */
#include "kafka_fdw.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "common/hashfn.h"
#include "executor/executor.h"
#include "executor/execPartition.h"
#include "executor/nodeModifyTable.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "optimizer/optimizer.h"
#include "parser/parse_relation.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "rewrite/rewriteHandler.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "storage/procarray.h"
#include "tcop/tcopprot.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

/* advisory lock class of ingest workers: (class, job_id * 64 + k) */
#define KAFKA_INGEST_LOCK_CLASS (KAFKA_EMITTER_LOCK_CLASS + 1)
/* a failing job is retried after this long, doubling up to the max */
#define INGEST_BACKOFF_MIN_MS 1000
#define INGEST_BACKOFF_MAX_MS 10000
/* the supervisor starts a job's worker again at most this often */
#define INGEST_RESTART_MS 2000
/*
 * kafka.ingest_job.rows_per_second after a batch of $3 rows: a moving
 * average of each batch's rows over the time since the batch before (none
 * after the first batch, or after a pause of more than 10 s)
 */
#define INGEST_RATE_SQL \
	"rows_per_second = CASE WHEN last_batch_at IS NULL OR now() - last_batch_at > interval '10 s' THEN NULL " \
	"ELSE coalesce(0.7 * rows_per_second, 0) + CASE WHEN rows_per_second IS NULL THEN 1.0 ELSE 0.3 END * " \
	"$3 / greatest(extract(epoch FROM now() - last_batch_at), 0.001) END"

/* collect_batch takes at most this many messages from the queue at a time */
#define COLLECT_AT_ONCE 256
/* the topic's partitions are looked up again this often */
#define INGEST_METADATA_MS 30000

int			kafka_ingest_batch_size = 10000;
int			kafka_ingest_upsert_batch_size = 1000000;
int			kafka_pipeline_batch_size = 100000;
int			kafka_ingest_batch_wait_ms = 20;
int			kafka_max_ingest_workers = 8;

/* A job as kafka.ingest_job describes it */
typedef struct IngestJob
{
	int32		job_id;
	Oid			source;
	Oid			target;
	bool		upsert;
	bool		debezium;
	List	   *key_columns;	/* of char * */
	bool		dead_letter;	/* on_error 'dead_letter' (else 'fail') */
	int			parallelism;
	char	   *state;
	Oid			owner;			/* the target's owner; a pipeline's creator */
	bool		pipeline;		/* mode 'pipeline': runs sql over each batch */
	char	   *sql;
	char	   *name;
	Oid			progress_server;	/* a pipeline's progress records, or InvalidOid */
	char	   *topic;			/* the source's topic when the job started */
} IngestJob;

/* How a batch ended */
typedef enum BatchResult
{
	BATCH_DONE,					/* committed */
	BATCH_RESEEK,				/* stored offsets differ: consume again from them */
	BATCH_STOP,					/* the job is no longer running here */
	BATCH_FAILED				/* on_error 'fail': the job failed */
} BatchResult;

/* One target column and where its value comes from */
typedef struct TargetCol
{
	AttrNumber	attnum;			/* in the target */
	char	   *name;
	Oid			typid;
	int32		typmod;
	AttrNumber	src;			/* source (foreign table) column, 0: none */
	bool		convert;		/* types differ: through text */
	FmgrInfo	src_out;		/* source type output */
	FmgrInfo	in;				/* target type input */
	Oid			ioparam;
	bool		is_key;			/* upsert key column */
	int16		typlen;			/* key column: its type's length and byval */
	bool		typbyval;
	bool		bytes_equality; /* key column: equal bytes and equality by the
								 * primary key agree (bytes_are_equality) */
	ExprState  *deflt;			/* default when the message has no value for it */
} TargetCol;

/* The state of one ingest worker */
typedef struct IngestState
{
	IngestJob  *job;
	int			k;				/* this worker's share: partitions p % N = k */
	MemoryContext cxt;			/* lives until the consumer is reset */
	KafkaOptions *opts;
	KafkaRowReader *reader;
	KafkaHandle *h;
	rd_kafka_topic_t *rkt;
	int			nparts;			/* partitions this worker consumes */
	int32	   *parts;
	int64	   *next;			/* next offset to consume, per part */
	bool	   *known;			/* kafka.ingest_offset has a row for it */
	int64	   *eof;			/* the partition's end as its last EOF said, or -1 */
	int64	   *pos;			/* the next offset the consumer delivers, or -1 */
	int32		max_part;		/* the highest partition id of the topic */
	int		   *part_slot;		/* partition id -> index in parts, or -1 */
	int64		metadata_at;	/* kafkaNowMs() of the last partition lookup */
	/* the target */
	int			ntcols;
	TargetCol  *tcols;
	Oid			key_index;		/* upsert: the target's primary key index */
	TupleDesc	target_desc;	/* the target's row type when tcols were made */
	bool		volatile_defaults;	/* a default calls a volatile function (not nextval) */
	/* the worker's loop */
	int32		job_id;
	rd_kafka_message_t **msgs;	/* the batch being collected or written */
	int			nmsgs;
	int			maxmsgs;
	int64		checked_at;		/* pipeline: kafkaNowMs() of the last job check */
	/* upsert: after a failed batch, per partition id, the last offset to write carefully */
	int64	   *careful_end;	/* in TopMemoryContext, or NULL */
	int			ncareful;
	/* upsert with dead letters: messages that failed a batch, dead-lettered when read again */
	struct KnownBad *bad;		/* MAX_KNOWN_BAD, in TopMemoryContext, or NULL */
	int			nbad;
	int32		current_part;	/* the message being decoded into an upsert batch or applied, or -1 */
	int64		current_offset;
} IngestState;

/* A message that failed an upsert batch (its decoding or its change), and its error */
typedef struct KnownBad
{
	int32		partition;
	int64		offset;
	int			sqlerrcode;
	char		message[1024];
} KnownBad;

/*
 * Upsert batches that fail on a message (its decoding, or its change) are
 * read again with that message dead-lettered, at most this many messages
 * at a time; the next failure makes the batch's range go message by
 * message.
 */
#define MAX_KNOWN_BAD 8

static void ingest_reset(IngestState *st);
static int	part_index(IngestState *st, int32 p);
static void job_loop(int32 job_id, int k, bool pipeline) pg_attribute_noreturn();
static bool pipeline_step(IngestState *st);

/* ---------------------------------------------------------------------
 * The job row (SPI connected)
 * ---------------------------------------------------------------------
 */

static IngestJob *
load_job(int32 job_id, bool lock)
{
	Datum		arg = Int32GetDatum(job_id);
	Oid			argtype = INT4OID;
	IngestJob  *j;
	HeapTuple	tup;
	TupleDesc	td;
	bool		isnull;
	Datum		keys;

	if (SPI_execute_with_args(lock ?
							  "SELECT job_id, source::oid, target::oid, mode, envelope, key_columns::text[], "
							  "on_error, parallelism, state, sql, name, created_by, progress_server, topic FROM kafka.ingest_job WHERE job_id = $1 FOR KEY SHARE" :
							  "SELECT job_id, source::oid, target::oid, mode, envelope, key_columns::text[], "
							  "on_error, parallelism, state, sql, name, created_by, progress_server, topic FROM kafka.ingest_job WHERE job_id = $1",
							  1, &argtype, &arg, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read kafka.ingest_job");
	if (SPI_processed == 0)
		return NULL;
	tup = SPI_tuptable->vals[0];
	td = SPI_tuptable->tupdesc;
	j = palloc0(sizeof(IngestJob));
	j->job_id = DatumGetInt32(SPI_getbinval(tup, td, 1, &isnull));
	j->source = DatumGetObjectId(SPI_getbinval(tup, td, 2, &isnull));
	j->target = DatumGetObjectId(SPI_getbinval(tup, td, 3, &isnull));
	j->upsert = strcmp(SPI_getvalue(tup, td, 4), "upsert") == 0;
	j->debezium = strcmp(SPI_getvalue(tup, td, 5), "debezium") == 0;
	keys = SPI_getbinval(tup, td, 6, &isnull);
	j->key_columns = isnull ? NIL : kafkaTextArrayToList(keys);
	j->dead_letter = strcmp(SPI_getvalue(tup, td, 7), "dead_letter") == 0;
	j->parallelism = DatumGetInt32(SPI_getbinval(tup, td, 8, &isnull));
	j->state = SPI_getvalue(tup, td, 9);
	j->pipeline = strcmp(SPI_getvalue(tup, td, 4), "pipeline") == 0;
	j->sql = SPI_getvalue(tup, td, 10);
	j->name = SPI_getvalue(tup, td, 11);
	j->owner = j->pipeline ? DatumGetObjectId(SPI_getbinval(tup, td, 12, &isnull)) : kafkaRelOwner(j->target);
	j->progress_server = DatumGetObjectId(SPI_getbinval(tup, td, 13, &isnull));
	if (isnull)
		j->progress_server = InvalidOid;
	j->topic = SPI_getvalue(tup, td, 14);
	return j;
}

/* Record an error of the job (the caller's transaction) */
static void
record_job_error(int32 job_id, const char *msg, bool failed, int32 partition, int64 offset)
{
	Datum		args[5] = {Int32GetDatum(job_id), CStringGetTextDatum(msg), BoolGetDatum(failed),
	Int32GetDatum(partition), Int64GetDatum(offset)};
	Oid			types[5] = {INT4OID, TEXTOID, BOOLOID, INT4OID, INT8OID};
	char		nulls[5] = {' ', ' ', ' ', failed ? ' ' : 'n', failed ? ' ' : 'n'};

	kafkaSpiExec("UPDATE kafka.ingest_job SET last_error = $2, last_error_at = now(), "
			"state = CASE WHEN $3 THEN 'failed' ELSE state END, "
			"error_partition = CASE WHEN $3 THEN $4 ELSE error_partition END, "
			"error_offset = CASE WHEN $3 THEN $5 ELSE error_offset END "
			"WHERE job_id = $1", 5, types, args, nulls, SPI_OK_UPDATE);
}

/* ---------------------------------------------------------------------
 * Short transactions of the workers (which run outside any)
 * ---------------------------------------------------------------------
 */

/* Start a transaction with a snapshot, SPI connected */
static void
work_begin(void)
{
	kafkaWorkerStartTransaction();
	PushActiveSnapshot(GetTransactionSnapshot());
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
}

/* Commit what work_begin started, and go back to memory context cxt */
static void
work_end(MemoryContext cxt)
{
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	MemoryContextSwitchTo(cxt);
}

/*
 * A worker loop's error boundary, after the caller cleaned up (outside any
 * transaction): log the error, record it in the job's last_error, and
 * wait a growing pause (1 s, doubling to 10 s) before the next try.
 */
static void
job_error_pause(int32 job_id, const char *what, ErrorData *edata, int *backoff_ms)
{
	MemoryContext cxt = CurrentMemoryContext;

	/*
	 * stop_ingest and pause_ingest cancel a worker's batch and then take the
	 * job's row lock: give them a moment to get it before the next batch
	 * locks the row again, then look at the job again.
	 */
	if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED)
	{
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 250, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		return;
	}
	ereport(LOG,
			(errmsg("kafka_fdw: %s %d: %s", what, job_id, edata->message)));
	work_begin();
	record_job_error(job_id, edata->message, false, 0, 0);
	work_end(cxt);
	*backoff_ms = *backoff_ms ? Min(*backoff_ms * 2, INGEST_BACKOFF_MAX_MS) : INGEST_BACKOFF_MIN_MS;
	(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, *backoff_ms, PG_WAIT_EXTENSION);
	ResetLatch(MyLatch);
}

/* The job failed (on_error 'fail', a pipeline's statement): record it in a transaction of its own */
static void
job_failed(int32 job_id, const char *msg, int32 partition, int64 offset)
{
	work_begin();
	record_job_error(job_id, msg, true, partition, offset);
	work_end(CurrentMemoryContext);
}

/* ---------------------------------------------------------------------
 * The target's columns
 * ---------------------------------------------------------------------
 */

/*
 * Do equal bytes (key_bytes) and equality by the primary key's operator
 * agree for the values of this column?  Not for numeric (1.0 = 1), floats
 * (-0 = 0), bpchar (trailing spaces), text under a nondeterministic
 * collation, domains or other types, whose changes are applied with a
 * command boundary between them (cache_apply).
 */
static bool
bytes_are_equality(Form_pg_attribute att)
{
	switch (att->atttypid)
	{
		case INT2OID:
		case INT4OID:
		case INT8OID:
		case OIDOID:
		case BOOLOID:
		case CHAROID:
		case UUIDOID:
		case DATEOID:
		case TIMESTAMPOID:
		case TIMESTAMPTZOID:
		case BYTEAOID:
			return true;
		case TEXTOID:
		case VARCHAROID:
			return get_collation_isdeterministic(att->attcollation);
		default:
			return false;
	}
}

/*
 * Match the target's columns to the source's by name; check what the job
 * needs (kafka.ingest calls this too, to refuse a job that cannot work).
 * Returns the columns (*n of them) and, for upsert, *key_index.
 */
static TargetCol *
map_target(IngestJob *job, KafkaOptions *opts, Relation rel, int *n, Oid *key_index, bool for_check,
		   bool *volatile_defaults)
{
	TupleDesc	td = RelationGetDescr(rel);
	TargetCol  *cols = palloc0(sizeof(TargetCol) * Max(td->natts, 1));
	int			nc = 0;
	int			matched = 0;
	List	   *keys = job->key_columns;

	*key_index = InvalidOid;
	*volatile_defaults = false;
	if (job->upsert)
	{
		Oid			pk = RelationGetPrimaryKeyIndex(rel);
		Relation	irel;

		if (!OidIsValid(pk))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
					 errmsg("upsert target \"%s\" has no primary key", RelationGetRelationName(rel)),
					 errhint("Upsert applies changes by the target's primary key: add one.")));
		if (rel->rd_rel->relkind != RELKIND_RELATION)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("upsert into partitioned table \"%s\" is not supported", RelationGetRelationName(rel)),
					 errhint("Ingest into one of its partitions, or use mode 'append'.")));
		*key_index = pk;
		irel = index_open(pk, AccessShareLock);
		if (keys == NIL)
			for (int i = 0; i < irel->rd_index->indnkeyatts; i++)
				keys = lappend(keys, pstrdup(NameStr(TupleDescAttr(td, irel->rd_index->indkey.values[i] - 1)->attname)));
		else
		{
			/* given key columns must be the primary key's */
			bool		same = list_length(keys) == irel->rd_index->indnkeyatts;

			for (int i = 0; same && i < irel->rd_index->indnkeyatts; i++)
			{
				const char *pkcol = NameStr(TupleDescAttr(td, irel->rd_index->indkey.values[i] - 1)->attname);
				bool		found = false;
				ListCell   *lc;

				foreach(lc, keys)
					if (strcmp(lfirst(lc), pkcol) == 0)
						found = true;
				same = found;
			}
			if (!same)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("key_columns must be the columns of the primary key of \"%s\"",
								RelationGetRelationName(rel))));
		}
		index_close(irel, AccessShareLock);
		job->key_columns = keys;
	}

	for (int i = 0; i < td->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(td, i);
		TargetCol  *tc;
		ListCell   *lc;

		if (att->attisdropped || att->attgenerated)
			continue;
		tc = &cols[nc++];
		tc->attnum = att->attnum;
		tc->name = pstrdup(NameStr(att->attname));
		tc->typid = att->atttypid;
		tc->typmod = att->atttypmod;
		foreach(lc, job->key_columns)
			if (strcmp(lfirst(lc), tc->name) == 0)
				tc->is_key = true;
		get_typlenbyval(tc->typid, &tc->typlen, &tc->typbyval);
		tc->bytes_equality = bytes_are_equality(att);
		/* text input: JSON values (debezium, tombstone keys) and conversions */
		{
			Oid			infunc;

			getTypeInputInfo(tc->typid, &infunc, &tc->ioparam);
			fmgr_info(infunc, &tc->in);
		}
		/* debezium: values come from the event's JSON, by name */
		if (!job->debezium)
		{
			for (int c = 0; c < opts->ncolumns; c++)
			{
				KafkaColumn *kc = &opts->columns[c];

				if (kc->dropped || strcmp(kc->name, tc->name) != 0)
					continue;
				tc->src = kc->attnum;
				matched++;
				if (kc->typid != tc->typid)
				{
					Oid			outfunc;
					bool		varlena;

					tc->convert = true;
					getTypeOutputInfo(kc->typid, &outfunc, &varlena);
					fmgr_info(outfunc, &tc->src_out);
				}
				break;
			}
		}
		if (!for_check && !tc->src)
		{
			Expr	   *d = (Expr *) build_column_default(rel, tc->attnum);

			if (d)
			{
				tc->deflt = ExecPrepareExpr(expression_planner(d), CreateExecutorState());
				if (contain_volatile_functions_not_nextval((Node *) d))
					*volatile_defaults = true;
			}
		}
	}
	if (!job->debezium && matched == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("no column of \"%s\" has the name of a column of \"%s\"",
						RelationGetRelationName(rel), get_rel_name(job->source)),
				 errhint("Columns are matched by name.")));
	*n = nc;
	return cols;
}

/* ---------------------------------------------------------------------
 * Consuming
 * ---------------------------------------------------------------------
 */

/* Stop consuming and forget the consumer (after any error, or to re-seek) */
static void
ingest_reset(IngestState *st)
{
	if (st->rkt)
	{
		for (int i = 0; i < st->nparts; i++)
			rd_kafka_consume_stop(st->rkt, st->parts[i]);
		rd_kafka_topic_destroy(st->rkt);
		st->rkt = NULL;
	}
	if (st->h)
	{
		kafkaDrainQueue(st->h);
		st->h->in_use = false;
		st->h = NULL;
	}
	if (st->cxt)
		MemoryContextDelete(st->cxt);
	st->cxt = NULL;
	st->opts = NULL;
	st->reader = NULL;
	st->nparts = 0;
}

/* The source's options as the job's role sees them: Kafka with its user mapping */
static KafkaOptions *
options_as_owner(IngestJob *job)
{
	Oid			save_userid;
	int			save_sec;
	KafkaOptions *opts;

	GetUserIdAndSecContext(&save_userid, &save_sec);
	SetUserIdAndSecContext(job->owner, save_sec | SECURITY_LOCAL_USERID_CHANGE);
	opts = kafkaGetOptions(job->source, NULL);
	SetUserIdAndSecContext(save_userid, save_sec);
	return opts;
}

/* The stored offsets are those of the topic the job started with */
static void
check_topic(IngestJob *job, KafkaOptions *opts)
{
	if (strcmp(job->topic, opts->topic) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the topic of \"%s\" changed from \"%s\" to \"%s\" since ingest job %d started",
						get_rel_name(job->source), job->topic, opts->topic, job->job_id),
				 errdetail("The job's offsets are offsets of topic \"%s\".", job->topic),
				 errhint("Set the topic back, or stop the job and start a new one.")));
}

/*
 * What writing a job's messages needs (in a transaction): privileges of
 * the job's owner, the source's options (with the owner's user mapping),
 * a row reader, the target's columns.  In st->cxt.
 */
static void
prepare_job(IngestState *st)
{
	IngestJob  *job = st->job;
	MemoryContext old;
	Relation	rel;
	Bitmapset  *attrs = NULL;

	st->cxt = AllocSetContextCreate(TopMemoryContext, "kafka_fdw ingest", ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(st->cxt);

	if (pg_class_aclcheck(job->source, job->owner, ACL_SELECT) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("the role of ingest job %d has no SELECT privilege on \"%s\"",
						job->job_id, get_rel_name(job->source))));
	st->opts = options_as_owner(job);

	check_topic(job, st->opts);
	if (job->pipeline)
	{
		/* a pipeline reads the source in its statement: only its options here */
		MemoryContextSwitchTo(old);
		return;
	}
	if (pg_class_aclcheck(job->target, job->owner, job->upsert ? ACL_INSERT | ACL_UPDATE | ACL_DELETE : ACL_INSERT) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("the owner of \"%s\" may not write into it", get_rel_name(job->target))));

	/* the job's on_error replaces the table's skip and fail; junk stays */
	if (st->opts->on_error != KAFKA_ON_ERROR_JUNK)
		st->opts->on_error = KAFKA_ON_ERROR_FAIL;
	for (int c = 0; c < st->opts->ncolumns; c++)
		if (!st->opts->columns[c].dropped)
			attrs = bms_add_member(attrs, st->opts->columns[c].attnum);
	st->reader = kafkaRowReaderCreate(st->opts, attrs);

	rel = table_open(job->target, AccessShareLock);
	st->tcols = map_target(job, st->opts, rel, &st->ntcols, &st->key_index, false, &st->volatile_defaults);
	st->target_desc = CreateTupleDescCopy(RelationGetDescr(rel));
	table_close(rel, AccessShareLock);
	MemoryContextSwitchTo(old);
}

/*
 * Set up (in a transaction, SPI connected): prepare_job, then this
 * worker's partitions and their stored offsets, and start consuming them.
 */
static void
ingest_setup(IngestState *st)
{
	IngestJob  *job = st->job;
	MemoryContext old;
	int32	   *all;
	int			nall;
	Datum		arg = Int32GetDatum(job->job_id);
	Oid			argtype = INT4OID;

	prepare_job(st);
	old = MemoryContextSwitchTo(st->cxt);

	/* this worker's partitions, and where to start each */
	nall = kafkaTopicPartitions(kafkaGetMeta(st->opts), st->opts->topic, st->opts->timeout_ms, &all);
	st->parts = palloc(sizeof(int32) * Max(nall, 1));
	st->next = palloc(sizeof(int64) * Max(nall, 1));
	st->known = palloc0(sizeof(bool) * Max(nall, 1));
	st->eof = palloc(sizeof(int64) * Max(nall, 1));
	st->pos = palloc(sizeof(int64) * Max(nall, 1));
	for (int i = 0; i < nall; i++)
		st->eof[i] = -1;
	st->nparts = 0;
	for (int i = 0; i < nall; i++)
		if (all[i] % job->parallelism == st->k)
		{
			st->parts[st->nparts] = all[i];
			st->next[st->nparts] = RD_KAFKA_OFFSET_BEGINNING;	/* a new partition: all of it */
			st->nparts++;
		}
	st->max_part = -1;
	for (int i = 0; i < nall; i++)
		st->max_part = Max(st->max_part, all[i]);
	st->part_slot = palloc(sizeof(int) * (st->max_part + 1 + 1));
	for (int i = 0; i <= st->max_part; i++)
		st->part_slot[i] = -1;
	for (int i = 0; i < st->nparts; i++)
		st->part_slot[st->parts[i]] = i;
	st->metadata_at = kafkaNowMs();
	if (SPI_execute_with_args("SELECT partition, next_offset FROM kafka.ingest_offset WHERE job_id = $1",
							  1, &argtype, &arg, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read kafka.ingest_offset");
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		bool		isnull;
		int32		p = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1, &isnull));
		int64		o = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 2, &isnull));

		int			i = part_index(st, p);

		if (i >= 0)
		{
			st->next[i] = o;
			st->known[i] = true;
		}
	}

	if (job->pipeline)
	{
		/* a pipeline's statement reads the source itself */
		MemoryContextSwitchTo(old);
		return;
	}
	st->h = kafkaGetConsumer(st->opts);
	if (st->h->in_use)
		elog(ERROR, "the ingest consumer handle is already in use");
	kafkaDrainQueue(st->h);
	st->h->in_use = true;
	st->rkt = rd_kafka_topic_new(st->h->rk, st->opts->topic, NULL);
	if (st->rkt == NULL)
		kafkaReportError(rd_kafka_last_error(), "could not open the topic", st->opts->topic);
	for (int i = 0; i < st->nparts; i++)
		st->pos[i] = st->next[i];	/* -2 (beginning): unknown until a message */
	for (int i = 0; i < st->nparts; i++)
		if (rd_kafka_consume_start_queue(st->rkt, st->parts[i], st->next[i], st->h->queue) != 0)
		{
			int			failed = i;

			/* stop those started, then report */
			for (int j = 0; j < failed; j++)
				rd_kafka_consume_stop(st->rkt, st->parts[j]);
			st->nparts = 0;
			kafkaReportError(rd_kafka_last_error(), "could not start consuming", st->opts->topic);
		}
	MemoryContextSwitchTo(old);
}

/* The index of partition p among this worker's, or -1 */
static int
part_index(IngestState *st, int32 p)
{
	if (p < 0 || p > st->max_part)
		return -1;
	return st->part_slot[p];
}

/*
 * Wake librdkafka's fetchers with a seek to the offsets after the messages
 * taken (the queue is empty, so the seek drops nothing; a message delivered
 * again is skipped by collect_batch).
 */
static void
kick_fetchers(IngestState *st)
{
	for (int i = 0; i < st->nparts; i++)
		if (st->pos[i] >= 0)
			rd_kafka_seek(st->rkt, st->parts[i], st->pos[i], 0);
	kafkaFetchersWoken(st->h);
}

/*
 * Collect a batch: at most max messages, waiting at most wait_ms after the
 * first one (and at most naptime for the first).  Returns their number.
 *
 * librdkafka 2.0 stops fetching while the queue holds queued.min.messages
 * (kafkaFetchersStopped, checked every 1024 messages): once the queue that
 * was full is empty, the fetchers are woken at once, also when the batch
 * ends there, so that the next messages arrive while the batch is written.
 */
static int
collect_batch(IngestState *st, rd_kafka_message_t **msgs, int max, int wait_ms, int idle_ms)
{
	int			n = 0;
	int64		deadline = kafkaNowMs() + idle_ms;
	int64		empty_since = -1;
	long		kick_interval = 10;
	long		next_kick = 10;
	size_t		bytes = 0;
	int			taken = 0;

	while (n < max && bytes < KAFKA_INGEST_BATCH_BYTES)
	{
		rd_kafka_message_t *got[COLLECT_AT_ONCE];
		ssize_t		ngot;

		/* many messages per lock of the queue (and per clock read) */
		ngot = rd_kafka_consume_batch_queue(st->h->queue, 0, got, Min(max - n, COLLECT_AT_ONCE));
		kafkaServeLogs(st->h->rk);
		if (ngot <= 0)
		{
			int64		now = kafkaNowMs();
			long		waited;

			if (kafkaFetchersStopped(st->h, 0))
				kick_fetchers(st);

			if (now >= deadline)
				break;

			/*
			 * librdkafka 2.0.2 stops fetching a partition while the queue
			 * holds queued.min.messages and looks again only when its
			 * broker thread wakes, up to a second later (scan.c's
			 * kick_fetchers): while the queue stays empty, a seek to the
			 * next offset wanted wakes it, after 10, 20, 40 ... ms.  The
			 * queue is empty, so the seek drops nothing.
			 */
			if (empty_since < 0)
				empty_since = now;
			waited = (long) (now - empty_since);
			if (waited >= next_kick)
			{
				kick_fetchers(st);
				kick_interval = Min(kick_interval * 2, 1000);
				next_kick = waited + kick_interval;
			}
			kafkaWaitHandleEvent(st->h, Max(1, Min(Min(deadline - now, 100), next_kick - waited)));
			continue;
		}
		empty_since = -1;
		kick_interval = 10;
		next_kick = 10;
		if (n == 0)
			deadline = kafkaNowMs() + wait_ms;
		for (ssize_t g = 0; g < ngot; g++)
		{
			rd_kafka_message_t *m = got[g];
			int			pi;

			if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
			{
				pi = part_index(st, m->partition);
				/* the end: beyond the last message may lie transaction markers */
				if (pi >= 0)
					st->eof[pi] = m->offset;
				rd_kafka_message_destroy(m);
				continue;
			}
			if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR)
			{
				rd_kafka_resp_err_t err = m->err;

				for (ssize_t j = g; j < ngot; j++)
					rd_kafka_message_destroy(got[j]);
				for (int i = 0; i < n; i++)
					rd_kafka_message_destroy(msgs[i]);
				kafkaReportError(err, "could not consume", st->opts->topic);
			}
			pi = part_index(st, m->partition);
			/* a message taken already (delivered again after a seek): not twice */
			if (pi >= 0 && st->pos[pi] >= 0 && m->offset < st->pos[pi])
			{
				rd_kafka_message_destroy(m);
				continue;
			}
			if (pi >= 0)
				st->pos[pi] = m->offset + 1;
			msgs[n++] = m;

			/*
			 * Bounded memory whatever the message size: the batch's messages
			 * stay in memory until it commits.  (Those taken with this one
			 * were the queue's already, which queued.max.messages.kbytes
			 * bounds.)
			 */
			bytes += m->len + m->key_len;
		}
		taken += (int) ngot;
		if (taken >= 1024)
		{
			taken = 0;
			(void) kafkaFetchersStopped(st->h, 0);	/* notes a full queue */
		}
	}
	if (kafkaFetchersStopped(st->h, 0))
		kick_fetchers(st);
	return n;
}

/* ---------------------------------------------------------------------
 * Writing a batch
 * ---------------------------------------------------------------------
 */

/* What writing needs, for one transaction */
typedef struct Writer
{
	Relation	rel;
	EState	   *estate;
	ResultRelInfo *rri;
	ModifyTableState *mtstate;	/* partition routing */
	PartitionTupleRouting *proute;
	EPQState	epq;
	TupleTableSlot *slot;		/* the target's row */
	TupleTableSlot *found;		/* upsert: the existing row */
	Datum	   *src_values;		/* a decoded source row */
	bool	   *src_nulls;
	int64		rows;			/* rows inserted, updated or deleted */
	/* append into a plain table without BEFORE ROW triggers: as COPY does */
	bool		multi;
	TupleTableSlot **buffered;	/* MULTI_INSERT_ROWS slots */
	int			nbuffered;
	BulkInsertState bistate;
} Writer;

/* rows per table_multi_insert, as COPY's buffer */
#define MULTI_INSERT_ROWS 1000

static void
writer_open(IngestState *st, Writer *w, bool careful)
{
	RangeTblEntry *rte;

	memset(w, 0, sizeof(Writer));
	w->rel = table_open(st->job->target, RowExclusiveLock);

	/* the target changed (ALTER TABLE): match its columns again */
	if (!equalTupleDescs(st->target_desc, RelationGetDescr(w->rel)))
	{
		MemoryContext old = MemoryContextSwitchTo(st->cxt);

		st->tcols = map_target(st->job, st->opts, w->rel, &st->ntcols, &st->key_index, false, &st->volatile_defaults);
		st->target_desc = CreateTupleDescCopy(RelationGetDescr(w->rel));
		MemoryContextSwitchTo(old);
	}
	w->estate = CreateExecutorState();
	rte = makeNode(RangeTblEntry);
	rte->rtekind = RTE_RELATION;
	rte->relid = RelationGetRelid(w->rel);
	rte->relkind = w->rel->rd_rel->relkind;
	rte->rellockmode = RowExclusiveLock;
	ExecInitRangeTable(w->estate, list_make1(rte));
	w->rri = makeNode(ResultRelInfo);
	InitResultRelInfo(w->rri, w->rel, 1, NULL, 0);
	/* as logical replication's apply worker: lets ExecGetTriggerResultRel find it */
	w->estate->es_opened_result_relations = lappend(w->estate->es_opened_result_relations, w->rri);
	w->estate->es_output_cid = GetCurrentCommandId(true);
	ExecOpenIndices(w->rri, false);
	if (w->rel->rd_rel->relkind == RELKIND_PARTITIONED_TABLE)
	{
		w->mtstate = makeNode(ModifyTableState);
		w->mtstate->ps.plan = NULL;
		w->mtstate->ps.state = w->estate;
		w->mtstate->operation = CMD_INSERT;
		w->mtstate->resultRelInfo = w->rri;
		w->proute = ExecSetupPartitionTupleRouting(w->estate, w->rel);
	}
	EvalPlanQualInit(&w->epq, w->estate, NULL, NIL, -1);
	w->slot = ExecInitExtraTupleSlot(w->estate, RelationGetDescr(w->rel), &TTSOpsVirtual);
	w->found = table_slot_create(w->rel, &w->estate->es_tupleTable);
	w->src_values = palloc(sizeof(Datum) * Max(st->opts->ncolumns, 1));
	w->src_nulls = palloc(sizeof(bool) * Max(st->opts->ncolumns, 1));

	/*
	 * Inserting many rows at once (table_multi_insert, as COPY does) needs
	 * what COPY needs: a plain table, no BEFORE or INSTEAD OF row trigger,
	 * no volatile default that might look at the table.  A batch retried
	 * message by message (careful) inserts one row at a time.
	 */
	w->multi = !careful && !st->job->upsert && w->rel->rd_rel->relkind == RELKIND_RELATION &&
		!st->volatile_defaults &&
		!(w->rri->ri_TrigDesc &&
		  (w->rri->ri_TrigDesc->trig_insert_before_row || w->rri->ri_TrigDesc->trig_insert_instead_row));
	if (w->multi)
	{
		/*
		 * Of a copy of the row type: slots of the relation's own descriptor
		 * each hold a reference to it, and a resource owner keeps a
		 * thousand references to one descriptor in a hash whose probing is
		 * then quadratic (3% of an append worker's time).
		 */
		TupleDesc	desc = CreateTupleDescCopy(RelationGetDescr(w->rel));
		const TupleTableSlotOps *ops = table_slot_callbacks(w->rel);

		w->buffered = palloc(sizeof(TupleTableSlot *) * MULTI_INSERT_ROWS);
		for (int i = 0; i < MULTI_INSERT_ROWS; i++)
			w->buffered[i] = ExecAllocTableSlot(&w->estate->es_tupleTable, desc, ops);
		w->bistate = GetBulkInsertState();
	}
}

/* Insert the buffered rows, then their index entries and AFTER ROW triggers */
static void
writer_flush(Writer *w)
{
	ResultRelInfo *rri = w->rri;

	if (w->nbuffered == 0)
		return;
	table_multi_insert(w->rel, w->buffered, w->nbuffered, w->estate->es_output_cid, 0, w->bistate);
	for (int i = 0; i < w->nbuffered; i++)
	{
		List	   *recheck = NIL;

		if (rri->ri_NumIndices > 0)
			recheck = ExecInsertIndexTuples(rri, w->buffered[i], w->estate, false, false, NULL, NIL);
		ExecARInsertTriggers(w->estate, rri, w->buffered[i], recheck, NULL);
		list_free(recheck);
		ExecClearTuple(w->buffered[i]);
	}
	w->rows += w->nbuffered;
	w->nbuffered = 0;
}

static void
writer_close(Writer *w)
{
	if (w->bistate)
		FreeBulkInsertState(w->bistate);
	EvalPlanQualEnd(&w->epq);
	if (w->proute)
		ExecCleanupTupleRouting(w->mtstate, w->proute);
	ExecCloseIndices(w->rri);
	ExecResetTupleTable(w->estate->es_tupleTable, false);
	FreeExecutorState(w->estate);
	table_close(w->rel, NoLock);
}

/* w->slot, filled, as a virtual tuple (once) */
static void
store_row(Writer *w)
{
	if (TTS_EMPTY(w->slot))
		ExecStoreVirtualTuple(w->slot);
}

/* Insert the row in w->slot (routed to its partition) */
static void
write_insert(Writer *w)
{
	ResultRelInfo *rri = w->rri;
	TupleTableSlot *slot = w->slot;

	store_row(w);
	if (w->multi)
	{
		TupleTableSlot *b = ExecCopySlot(w->buffered[w->nbuffered], slot);
		Relation	rel = w->rel;

		/* what ExecSimpleRelationInsert does before the heap */
		if (rel->rd_att->constr && rel->rd_att->constr->has_generated_stored)
			ExecComputeStoredGenerated(w->rri, w->estate, b, CMD_INSERT);
		if (rel->rd_att->constr)
			ExecConstraints(w->rri, b, w->estate);
		if (rel->rd_rel->relispartition)
			ExecPartitionCheck(w->rri, b, w->estate, true);
		if (++w->nbuffered == MULTI_INSERT_ROWS)
			writer_flush(w);
		return;
	}
	if (w->proute)
	{
		TupleConversionMap *map;

		rri = ExecFindPartition(w->mtstate, w->rri, w->proute, slot, w->estate);
		map = rri->ri_RootToPartitionMap;
		if (map)
		{
			TupleTableSlot *pslot = rri->ri_PartitionTupleSlot;

			if (pslot == NULL)
				pslot = table_slot_create(rri->ri_RelationDesc, &w->estate->es_tupleTable);
			slot = execute_attr_map_slot(map->attrMap, slot, pslot);
		}
	}
	ExecSimpleRelationInsert(rri, w->estate, slot);
	w->rows++;
}

/* Find the row with the key in w->slot into w->found; false if none */
static bool
find_by_key(IngestState *st, Writer *w)
{
	store_row(w);
	return RelationFindReplTupleByIndex(w->rel, st->key_index, LockTupleExclusive, w->slot, w->found);
}

/* w->slot empty, every column NULL, to be filled */
static void
clear_row(Writer *w)
{
	ExecClearTuple(w->slot);
	for (int a = 0; a < w->slot->tts_tupleDescriptor->natts; a++)
	{
		w->slot->tts_isnull[a] = true;
		w->slot->tts_values[a] = (Datum) 0;
	}
}

/* The target row of a decoded source row, in w->slot */
static void
row_from_source(IngestState *st, Writer *w)
{
	clear_row(w);
	for (int i = 0; i < st->ntcols; i++)
	{
		TargetCol  *tc = &st->tcols[i];
		int			a = tc->attnum - 1;

		if (tc->src)
		{
			if (w->src_nulls[tc->src - 1])
				continue;
			if (tc->convert)
			{
				char	   *s = OutputFunctionCall(&tc->src_out, w->src_values[tc->src - 1]);

				w->slot->tts_values[a] = InputFunctionCall(&tc->in, s, tc->ioparam, tc->typmod);
			}
			else
				w->slot->tts_values[a] = w->src_values[tc->src - 1];
			w->slot->tts_isnull[a] = false;
		}
		else if (tc->deflt)
			w->slot->tts_values[a] = ExecEvalExprSwitchContext(tc->deflt, GetPerTupleExprContext(w->estate),
															   &w->slot->tts_isnull[a]);
	}
}

/*
 * The target row from a JSON object (jsonb), by column name, each value as
 * kafkaJsonValueText makes it text (Debezium's representations undone for
 * envelope 'debezium').  Only key columns if keys_only.  Columns the object
 * lacks get their default (keys_only: NULL).
 */
static void
row_from_json(IngestState *st, Writer *w, Jsonb *jb, bool keys_only)
{
	clear_row(w);
	for (int i = 0; i < st->ntcols; i++)
	{
		TargetCol  *tc = &st->tcols[i];
		int			a = tc->attnum - 1;
		JsonbValue	k;
		JsonbValue *v;
		char	   *text = NULL;

		if (keys_only && !tc->is_key)
			continue;
		k.type = jbvString;
		k.val.string.val = tc->name;
		k.val.string.len = strlen(tc->name);
		v = jb ? findJsonbValueFromContainer(&jb->root, JB_FOBJECT, &k) : NULL;
		if (v == NULL)
		{
			if (!keys_only && tc->deflt)
				w->slot->tts_values[a] = ExecEvalExprSwitchContext(tc->deflt, GetPerTupleExprContext(w->estate),
																   &w->slot->tts_isnull[a]);
			continue;
		}
		text = kafkaJsonValueText(v, tc->typid, tc->typmod, st->job->debezium);
		if (text == NULL)
			continue;
		w->slot->tts_values[a] = InputFunctionCall(&tc->in, text, tc->ioparam, tc->typmod);
		w->slot->tts_isnull[a] = false;
	}
}

/* A JSON text as jsonb; ERROR if it is not JSON */
static Jsonb *
parse_jsonb(const void *data, size_t len)
{
	char	   *s = pnstrdup(data, len);

	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(s)));
}

/* The value of key name in object jb (NULL if absent or not a container of that type) */
static JsonbValue *
json_member(Jsonb *jb, const char *name)
{
	JsonbValue	k;

	if (jb == NULL || !JB_ROOT_IS_OBJECT(jb))
		return NULL;
	k.type = jbvString;
	k.val.string.val = (char *) name;
	k.val.string.len = strlen(name);
	return findJsonbValueFromContainer(&jb->root, JB_FOBJECT, &k);
}

/* A member that is an object, as a Jsonb of its own; NULL if absent, null or not an object */
static Jsonb *
json_object_member(Jsonb *jb, const char *name)
{
	JsonbValue *v = json_member(jb, name);

	if (v == NULL || v->type != jbvBinary || !JsonContainerIsObject(v->val.binary.data))
		return NULL;
	return JsonbValueToJsonb(v);
}

/* A Debezium/Connect message: its payload when it has a schema, else itself */
static Jsonb *
unwrap_payload(Jsonb *jb)
{
	JsonbValue *schema = json_member(jb, "schema");

	if (schema && json_member(jb, "payload"))
		return json_object_member(jb, "payload");
	return jb;
}

/* What one message does to an upsert target */
typedef enum UpsertOp
{
	UP_UPSERT,
	UP_DELETE,
	UP_TRUNCATE,
	UP_NONE						/* nothing (a debezium event of another kind) */
} UpsertOp;

/*
 * Decode an upsert message into w->slot: the new row (UP_UPSERT) or the
 * key of the row to delete (UP_DELETE).
 */
static UpsertOp
upsert_decode(IngestState *st, Writer *w, rd_kafka_message_t *m)
{
	if (m->payload == NULL)
	{
		/* a tombstone: the key says which row */
		Jsonb	   *key;

		if (m->key == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("a tombstone without a key cannot delete anything")));
		key = unwrap_payload(parse_jsonb(m->key, m->key_len));
		if (!JB_ROOT_IS_OBJECT(key))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("the key of a tombstone must be a JSON object of the key columns")));
		row_from_json(st, w, key, true);
		return UP_DELETE;
	}
	if (st->job->debezium)
	{
		Jsonb	   *ev = unwrap_payload(parse_jsonb(m->payload, m->len));
		JsonbValue *op = json_member(ev, "op");
		char		c;

		if (op == NULL || op->type != jbvString || op->val.string.len != 1)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("not a Debezium change event: no \"op\"")));
		c = op->val.string.val[0];
		switch (c)
		{
			case 'c':
			case 'r':
			case 'u':
				{
					Jsonb	   *after = json_object_member(ev, "after");

					if (after == NULL)
						ereport(ERROR,
								(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
								 errmsg("Debezium event with op \"%c\" has no \"after\"", c)));
					row_from_json(st, w, after, false);
					return UP_UPSERT;
				}
			case 'd':
				{
					Jsonb	   *before = json_object_member(ev, "before");

					if (before == NULL && m->key)
						before = unwrap_payload(parse_jsonb(m->key, m->key_len));
					if (before == NULL)
						ereport(ERROR,
								(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
								 errmsg("Debezium delete event without \"before\" or key")));
					row_from_json(st, w, before, true);
					return UP_DELETE;
				}
			case 't':
				return UP_TRUNCATE;
			default:
				return UP_NONE;
		}
	}
	/* the value decoded with the foreign table's definition */
	if (kafkaMessageToRow(st->reader, m, w->src_values, w->src_nulls) == KAFKA_ROW_SKIP)
		return UP_NONE;
	row_from_source(st, w);
	return UP_UPSERT;
}

/*
 * The key columns of w->slot as bytes, to find the last change of a key
 * within a batch: appended to buf.  Equal bytes mean equal keys.  Keys
 * equal to the index but of other bytes (numeric 1.0 and 1.00, a
 * nondeterministic collation) count as different: both changes are
 * applied, in order and with a command boundary between them
 * (bytes_are_equality), so the later one still wins; only the saving is
 * lost.
 */
static void
key_bytes(IngestState *st, Writer *w, StringInfo buf)
{
	for (int i = 0; i < st->ntcols; i++)
	{
		TargetCol  *tc = &st->tcols[i];
		int			a = tc->attnum - 1;
		Datum		d = w->slot->tts_values[a];

		if (!tc->is_key)
			continue;
		if (w->slot->tts_isnull[a])
			appendStringInfoChar(buf, 'N');
		else if (tc->typbyval)
		{
			appendStringInfoChar(buf, 'V');
			appendBinaryStringInfo(buf, (char *) &d, sizeof(Datum));
		}
		else if (tc->typlen > 0)
		{
			appendStringInfoChar(buf, 'F');
			appendBinaryStringInfo(buf, DatumGetPointer(d), tc->typlen);
		}
		else
		{
			const char *p;
			int32		len;

			if (tc->typlen == -1)
			{
				struct varlena *v = pg_detoast_datum_packed((struct varlena *) DatumGetPointer(d));

				p = VARDATA_ANY(v);
				len = VARSIZE_ANY_EXHDR(v);
			}
			else
			{
				p = DatumGetCString(d);
				len = strlen(p);
			}
			appendStringInfoChar(buf, 'L');
			appendBinaryStringInfo(buf, (char *) &len, sizeof(len));
			appendBinaryStringInfo(buf, p, len);
		}
	}
}

/* A key of a batch's change (key_bytes), its bytes in the upsert cache */
typedef struct DedupKey
{
	const char *bytes;
	int			len;
} DedupKey;

static uint32
dedup_hash(const void *key, Size keysize)
{
	const DedupKey *k = key;

	(void) keysize;
	return hash_bytes((const unsigned char *) k->bytes, k->len);
}

static int
dedup_match(const void *key1, const void *key2, Size keysize)
{
	const DedupKey *a = key1;
	const DedupKey *b = key2;

	(void) keysize;
	return a->len == b->len && memcmp(a->bytes, b->bytes, a->len) == 0 ? 0 : 1;
}

/* Apply one decoded upsert change (w->slot) */
static void
upsert_apply(IngestState *st, Writer *w, UpsertOp op)
{
	if (op == UP_UPSERT)
	{
		for (int i = 0; i < st->ntcols; i++)
			if (st->tcols[i].is_key && w->slot->tts_isnull[st->tcols[i].attnum - 1])
				ereport(ERROR,
						(errcode(ERRCODE_NOT_NULL_VIOLATION),
						 errmsg("key column \"%s\" is null", st->tcols[i].name)));
		if (find_by_key(st, w))
		{
			ExecSimpleRelationUpdate(w->rri, w->estate, &w->epq, w->found, w->slot);
			w->rows++;
		}
		else
			write_insert(w);
	}
	else if (op == UP_DELETE)
	{
		if (find_by_key(st, w))
		{
			ExecSimpleRelationDelete(w->rri, w->estate, &w->epq, w->found);
			w->rows++;
		}
	}
	/* the found row's buffer pin must not outlive a message's subtransaction */
	ExecClearTuple(w->found);
}

/*
 * After a message's subtransaction rolled back: the rollback released the
 * buffer pin of a row found for it, which w->found must not release again.
 */
static void
forget_found(Writer *w)
{
	if (!TTS_EMPTY(w->found))
	{
		if (TTS_IS_BUFFERTUPLE(w->found))
			((BufferHeapTupleTableSlot *) w->found)->buffer = InvalidBuffer;
		ExecClearTuple(w->found);
	}
}

/* Delete every row of the target (a Debezium truncate event) */
static void
upsert_truncate(IngestState *st, Writer *w)
{
	Snapshot	snap = RegisterSnapshot(GetLatestSnapshot());	/* with this batch's rows */
	TableScanDesc scan = table_beginscan(w->rel, snap, 0, NULL);

	(void) st;
	while (table_scan_getnextslot(scan, ForwardScanDirection, w->found))
	{
		ExecSimpleRelationDelete(w->rri, w->estate, &w->epq, w->found);
		w->rows++;
		CHECK_FOR_INTERRUPTS();
	}
	table_endscan(scan);
	UnregisterSnapshot(snap);
}

/* The next command sees what this one wrote (as logical replication's apply worker does) */
static void
next_command(Writer *w)
{
	CommandCounterIncrement();
	w->estate->es_output_cid = GetCurrentCommandId(true);
}

/*
 * Apply a decoded upsert change (w->slot).  every_change: the next change
 * may touch the same row (a batch written message by message), so make
 * this one visible to it; else (a batch with one change per key, see
 * write_batch) only a truncate needs that, before and after it.
 */
static void
upsert_write(IngestState *st, Writer *w, UpsertOp op, bool every_change)
{
	if (op == UP_TRUNCATE)
	{
		next_command(w);
		upsert_truncate(st, w);
		next_command(w);
		return;
	}
	upsert_apply(st, w, op);
	if (every_change)
		next_command(w);
}

/* Write one message (append) or apply it (upsert) */
static void
write_message(IngestState *st, Writer *w, rd_kafka_message_t *m)
{
	if (!st->job->upsert)
	{
		if (kafkaMessageToRow(st->reader, m, w->src_values, w->src_nulls) == KAFKA_ROW_SKIP)
			return;
		row_from_source(st, w);
		write_insert(w);
	}
	else
		upsert_write(st, w, upsert_decode(st, w, m), true);
	ResetPerTupleExprContext(w->estate);
}

/*
 * Put a message into kafka.dead_letter (SPI connected) as the extension
 * owner, the worker's own role (save_userid, save_sec: as the caller saved
 * them before it took the job owner's), then go back to the job owner's.
 */
static void
dead_letter(IngestState *st, rd_kafka_message_t *m, ErrorData *edata, Oid save_userid, int save_sec)
{
	Datum		v[8];
	Oid			t[8] = {INT4OID, INT4OID, INT8OID, BYTEAOID, BYTEAOID, TEXTOID, TEXTOID, TEXTOID};
	char		n[8] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};
	rd_kafka_headers_t *hdrs = NULL;

	v[0] = Int32GetDatum(st->job->job_id);
	v[1] = Int32GetDatum(m->partition);
	v[2] = Int64GetDatum(m->offset);
	if (m->key)
		v[3] = kafkaBytea(m->key, m->key_len);
	else
		n[3] = 'n';
	if (m->payload)
		v[4] = kafkaBytea(m->payload, m->len);
	else
		n[4] = 'n';
	if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR && hdrs)
	{
		StringInfoData b;

		initStringInfo(&b);
		kafkaHeadersToJson(hdrs, &b);
		v[5] = CStringGetTextDatum(b.data);
	}
	else
		n[5] = 'n';
	v[6] = CStringGetTextDatum(edata->message ? edata->message : "unknown error");
	v[7] = CStringGetTextDatum(unpack_sql_state(edata->sqlerrcode));
	SetUserIdAndSecContext(save_userid, save_sec);
	kafkaSpiExec("INSERT INTO kafka.dead_letter (job_id, partition, \"offset\", key, value, headers, error, sqlstate) "
			"VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8)", 8, t, v, n, SPI_OK_INSERT);
	SetUserIdAndSecContext(st->job->owner, save_sec | SECURITY_LOCAL_USERID_CHANGE);
}

/* write_message's arguments, for kafkaInSubxact */
typedef struct WriteCall
{
	IngestState *st;
	Writer	   *w;
	rd_kafka_message_t *m;
} WriteCall;

static void
write_call(void *arg)
{
	WriteCall  *c = arg;

	AfterTriggerBeginQuery();
	write_message(c->st, c->w, c->m);
	AfterTriggerEndQuery(c->w->estate);
}

/*
 * Write one message in a subtransaction (message.c's kafkaInSubxact), with
 * its own AFTER trigger events: NULL if it landed, else the error it raised
 * (a message fault; other errors propagate).
 */
static ErrorData *
write_in_subxact(IngestState *st, Writer *w, rd_kafka_message_t *m)
{
	WriteCall	c = {st, w, m};
	int64		rows = w->rows;
	ErrorData  *edata = kafkaInSubxact(write_call, &c);

	if (edata)
	{
		w->rows = rows;
		forget_found(w);
	}
	return edata;
}

/*
 * Write a batch in the current transaction.  careful: each message in a
 * subtransaction, bad ones dead-lettered (or, on_error 'fail', the first
 * one makes the job fail: *bad is its index).  Returns rows written; *dead
 * the dead letters.
 */
static int64
write_batch(IngestState *st, rd_kafka_message_t **msgs, int n, bool careful, int *bad, int64 *dead,
			ErrorData **bad_error)
{
	Writer		w;
	Oid			save_userid;
	int			save_sec;

	*bad = -1;
	*dead = 0;
	GetUserIdAndSecContext(&save_userid, &save_sec);
	SetUserIdAndSecContext(st->job->owner, save_sec | SECURITY_LOCAL_USERID_CHANGE);
	writer_open(st, &w, careful);

	/*
	 * AFTER triggers (foreign keys among them) fire at the end of the batch,
	 * or, when careful, of each message, inside its subtransaction.
	 */
	if (!careful)
		AfterTriggerBeginQuery();
	for (int i = 0; i < n; i++)
	{
		if (!careful)
		{
			write_message(st, &w, msgs[i]);
			continue;
		}
		{
			ErrorData  *edata = write_in_subxact(st, &w, msgs[i]);

			if (edata == NULL)
				continue;
			if (!st->job->dead_letter)
			{
				*bad = i;
				*bad_error = edata;
				break;
			}
			dead_letter(st, msgs[i], edata, save_userid, save_sec);
			(*dead)++;
		}
	}
	writer_flush(&w);
	if (!careful)
		AfterTriggerEndQuery(w.estate);
	writer_close(&w);
	SetUserIdAndSecContext(save_userid, save_sec);
	return w.rows;
}

/*
 * Store the batch's offsets, after checking them: returns false if the
 * stored offsets are not those the worker consumed from (re-seek).  Also
 * skips messages below the stored offsets (*first: index of the first
 * message to write) -- none, normally.
 */
static bool
lock_offsets(IngestState *st)
{
	Datum		args[3] = {Int32GetDatum(st->job->job_id), Int32GetDatum(st->job->parallelism), Int32GetDatum(st->k)};
	Oid			types[3] = {INT4OID, INT4OID, INT4OID};

	/* this worker's partitions only: the others belong to its siblings */
	if (SPI_execute_with_args("SELECT partition, next_offset FROM kafka.ingest_offset "
							  "WHERE job_id = $1 AND partition % $2 = $3 ORDER BY partition FOR UPDATE",
							  3, types, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not lock kafka.ingest_offset");
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		bool		isnull;
		int32		p = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1, &isnull));
		int64		o = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 2, &isnull));
		int			i = part_index(st, p);

		if (i >= 0 && (!st->known[i] || st->next[i] != o))
			return false;
	}
	return true;
}

/* Note the offsets of n messages in last (per partition index: the highest, or -1) */
static void
note_offsets(IngestState *st, rd_kafka_message_t **msgs, int n, int64 *last)
{
	for (int i = 0; i < n; i++)
	{
		int			pi = part_index(st, msgs[i]->partition);

		if (pi < 0)
			elog(ERROR, "message of partition %d, which this ingest worker does not consume", msgs[i]->partition);
		last[pi] = Max(last[pi], msgs[i]->offset);
	}
}

/* last[] per partition index, all -1 */
static int64 *
no_offsets(IngestState *st)
{
	int64	   *last = palloc(sizeof(int64) * Max(st->nparts, 1));

	for (int i = 0; i < st->nparts; i++)
		last[i] = -1;
	return last;
}

/*
 * Store a batch's offsets (last: its highest per partition index, -1 if
 * none) and counts; false if the job no longer runs.
 */
static bool
store_offsets(IngestState *st, const int64 *last, int64 n, int64 rows, int64 dead)
{
	for (int i = 0; i < st->nparts; i++)
	{
		int64		low,
					high = -1;
		Datum		v[4];
		Oid			t[4] = {INT4OID, INT4OID, INT8OID, INT8OID};
		char		nl[4] = {' ', ' ', ' ', ' '};

		if (last[i] < 0)
			continue;
		if (rd_kafka_get_watermark_offsets(st->h->rk, st->opts->topic, st->parts[i], &low, &high) != RD_KAFKA_RESP_ERR_NO_ERROR || high < 0)
			nl[3] = 'n';
		v[0] = Int32GetDatum(st->job->job_id);
		v[1] = Int32GetDatum(st->parts[i]);
		v[2] = Int64GetDatum(last[i] + 1);
		v[3] = Int64GetDatum(high);
		kafkaSpiExec("INSERT INTO kafka.ingest_offset AS o (job_id, partition, next_offset, high_watermark, updated_at) "
				"VALUES ($1, $2, $3, $4, now()) ON CONFLICT (job_id, partition) DO UPDATE "
				"SET next_offset = $3, high_watermark = coalesce($4, o.high_watermark), updated_at = now()",
				4, t, v, nl, SPI_OK_INSERT);
	}
	{
		Datum		v[4] = {Int32GetDatum(st->job->job_id), Int64GetDatum(n), Int64GetDatum(rows), Int64GetDatum(dead)};
		Oid			t[4] = {INT4OID, INT8OID, INT8OID, INT8OID};

		/*
		 * Only while the job runs: a pause_ingest that committed while this
		 * batch was written (its UPDATE waited for that one, KEY SHARE does
		 * not block it) makes the batch roll back.
		 */
		kafkaSpiExec("UPDATE kafka.ingest_job SET messages = messages + $2, rows_written = rows_written + $3, "
					 "dead_letters = dead_letters + $4, last_batch_at = now(), last_error = NULL, last_error_at = NULL, " INGEST_RATE_SQL
					 " WHERE job_id = $1 AND state = 'running'",
					 4, t, v, NULL, SPI_OK_UPDATE);
		if (SPI_processed != 1)
			return false;
	}
	return true;
}

/* After a committed batch: the next offsets (last as store_offsets') */
static void
advance(IngestState *st, const int64 *last)
{
	for (int i = 0; i < st->nparts; i++)
		if (last[i] >= 0 && last[i] + 1 > st->next[i])
		{
			st->next[i] = last[i] + 1;
			st->known[i] = true;
		}
}

/*
 * In a batch's transaction (work_begin): BATCH_DONE if the batch may be
 * written (the job runs here with these offsets, which are now locked),
 * else BATCH_STOP or BATCH_RESEEK.
 */
static BatchResult
batch_may_write(IngestState *st)
{
	IngestJob  *job = load_job(st->job->job_id, true);

	if (job == NULL || strcmp(job->state, "running") != 0 || job->parallelism != st->job->parallelism ||
		kafkaDatabaseWanted())
		return BATCH_STOP;
	if (!lock_offsets(st))
		return BATCH_RESEEK;
	return BATCH_DONE;
}

/* End a batch's transaction: commit it if the batch was written, and go back to cxt */
static void
batch_end(BatchResult result, MemoryContext cxt)
{
	SPI_finish();
	PopActiveSnapshot();
	if (result == BATCH_RESEEK || result == BATCH_STOP)
		AbortCurrentTransaction();
	else
		CommitTransactionCommand();
	MemoryContextSwitchTo(cxt);
}

/*
 * In PG_CATCH of a batch's transaction: the error, the transaction
 * aborted, if it is a message's fault (and not rethrow_all); else the
 * error goes on.
 */
static ErrorData *
batch_fault(MemoryContext cxt, bool rethrow_all)
{
	ErrorData  *edata;

	MemoryContextSwitchTo(cxt);
	edata = CopyErrorData();
	if (rethrow_all || !kafkaErrorIsMessageFault(edata->sqlerrcode))
		PG_RE_THROW();
	FlushErrorState();
	AbortCurrentTransaction();
	MemoryContextSwitchTo(cxt);
	return edata;
}

/*
 * Write a batch and its offsets in one transaction.  A batch that fails
 * is written again message by message to find the bad ones (at once if
 * careful).
 */
static BatchResult
ingest_batch(IngestState *st, rd_kafka_message_t **msgs, int n, bool careful_first, int64 *rows_out)
{
	MemoryContext cxt = CurrentMemoryContext;
	volatile bool careful = careful_first;
	int64	   *last = no_offsets(st);

	note_offsets(st, msgs, n, last);

	for (;;)
	{
		volatile BatchResult result = BATCH_DONE;
		ErrorData  *volatile fault = NULL;

		work_begin();
		PG_TRY();
		{
			int			bad;
			int64		dead;
			ErrorData  *bad_error = NULL;
			int64		rows;

			result = batch_may_write(st);
			if (result == BATCH_DONE)
			{
				rows = write_batch(st, msgs, n, careful, &bad, &dead, &bad_error);
				if (bad >= 0)
				{
					/* on_error 'fail': nothing of the batch is written */
					char	   *msg;

					MemoryContextSwitchTo(cxt);
					msg = psprintf("message at partition %d offset " INT64_FORMAT ": %s",
								   msgs[bad]->partition, msgs[bad]->offset, bad_error->message);

					SPI_finish();
					PopActiveSnapshot();
					AbortCurrentTransaction();
					MemoryContextSwitchTo(cxt);
					work_begin();
					record_job_error(st->job->job_id, msg, true, msgs[bad]->partition, msgs[bad]->offset);
					ereport(LOG,
							(errmsg("kafka_fdw: ingest job %d failed: %s", st->job->job_id, msg),
							 errhint("Fix the cause and call kafka.resume_ingest(%d), or restart the job with on_error => 'dead_letter'.",
									 st->job->job_id)));
					result = BATCH_FAILED;
				}
				else if (!store_offsets(st, last, n, rows, dead))
					result = BATCH_STOP;
				else
					*rows_out = rows;
			}
			batch_end(result, cxt);
		}
		PG_CATCH();
		{
			fault = batch_fault(cxt, careful);
		}
		PG_END_TRY();
		if (fault == NULL)
		{
			if (result == BATCH_DONE)
				advance(st, last);
			return result;
		}
		/* a message made the batch fail: again, one by one */
		careful = true;
	}
}

/* ---------------------------------------------------------------------
 * Upsert batches: the last change of each key, as messages arrive
 * ---------------------------------------------------------------------
 */

/* messages an upsert batch takes from the queue at a time */
#define UPSERT_CHUNK 10000

/* The last change of a key in an upsert batch */
typedef struct UpsertEntry
{
	DedupKey	key;			/* the hash key: key_bytes, in the cache */
	int64		seq;			/* the change's place in the batch */
	UpsertOp	op;				/* UP_UPSERT or UP_DELETE */
	HeapTuple	row;			/* the new row, or the key of the row to delete */
	int32		partition;		/* the change's message */
	int64		offset;
} UpsertEntry;

/*
 * An upsert batch while it is collected (Kafka Streams' record cache for
 * a KTable): each message is decoded as it is taken from the queue and
 * replaces the change its key had, then it is released.  Memory holds one
 * row per key, never the batch's messages.
 */
typedef struct UpsertCache
{
	MemoryContext cxt;			/* entries, their keys and rows */
	HTAB	   *last;			/* DedupKey -> UpsertEntry */
	StringInfoData key;			/* the key being looked up */
	int64		seq;			/* changes seen */
	bool		truncate;		/* a truncate comes before the entries */
	int32		truncate_part;	/* its message */
	int64		truncate_offset;
	size_t		bytes;			/* of the entries' keys and rows */
} UpsertCache;

static void
cache_reset(UpsertCache *c)
{
	HASHCTL		ctl;

	MemoryContextReset(c->cxt);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(DedupKey);
	ctl.entrysize = sizeof(UpsertEntry);
	ctl.hash = dedup_hash;
	ctl.match = dedup_match;
	ctl.hcxt = c->cxt;
	c->last = hash_create("kafka ingest upsert batch", 1024, &ctl,
						  HASH_ELEM | HASH_FUNCTION | HASH_COMPARE | HASH_CONTEXT);
	c->bytes = 0;
}

/* Decode message m into the cache (in the batch's transaction) */
static void
cache_message(IngestState *st, Writer *w, UpsertCache *c, rd_kafka_message_t *m)
{
	MemoryContext old = MemoryContextSwitchTo(GetPerTupleMemoryContext(w->estate));
	UpsertOp	op = upsert_decode(st, w, m);
	UpsertEntry *e;
	DedupKey	k;
	bool		found;

	if (op == UP_TRUNCATE)
	{
		/* what came before is gone with the rows */
		cache_reset(c);
		c->truncate = true;
		c->truncate_part = m->partition;
		c->truncate_offset = m->offset;
	}
	else if (op != UP_NONE)
	{
		resetStringInfo(&c->key);
		key_bytes(st, w, &c->key);
		k.bytes = c->key.data;
		k.len = c->key.len;
		e = hash_search(c->last, &k, HASH_ENTER, &found);
		if (found)
		{
			c->bytes -= HEAPTUPLESIZE + e->row->t_len;
			heap_freetuple(e->row);
		}
		else
		{
			char	   *copy = MemoryContextAlloc(c->cxt, k.len);

			memcpy(copy, k.bytes, k.len);
			e->key.bytes = copy;
			c->bytes += sizeof(UpsertEntry) + k.len;
		}
		e->seq = c->seq++;
		e->op = op;
		e->partition = m->partition;
		e->offset = m->offset;
		MemoryContextSwitchTo(c->cxt);
		e->row = heap_form_tuple(w->slot->tts_tupleDescriptor, w->slot->tts_values, w->slot->tts_isnull);
		c->bytes += HEAPTUPLESIZE + e->row->t_len;
	}
	MemoryContextSwitchTo(old);
	ResetPerTupleExprContext(w->estate);
}

static int
entry_seq_cmp(const void *a, const void *b)
{
	int64		x = (*(UpsertEntry *const *) a)->seq;
	int64		y = (*(UpsertEntry *const *) b)->seq;

	return x < y ? -1 : x > y;
}

/*
 * Apply the cache: the truncate, then each key's last change, in the order
 * the changes came.  Returns rows written.
 */
static int64
cache_apply(IngestState *st, Writer *w, UpsertCache *c)
{
	long		n = hash_get_num_entries(c->last);
	UpsertEntry **entries = palloc(sizeof(UpsertEntry *) * Max(n, 1));
	HASH_SEQ_STATUS it;
	UpsertEntry *e;
	long		i = 0;
	bool		keys_exact = true;

	/*
	 * Each key once means each row once, so no change needs to see the one
	 * before it if equal bytes are equal keys; else two changes may reach
	 * one row (numeric 1.0 and 1), and each must see the one before.
	 */
	for (int col = 0; col < st->ntcols; col++)
		if (st->tcols[col].is_key && !st->tcols[col].bytes_equality)
			keys_exact = false;
	hash_seq_init(&it, c->last);
	while ((e = hash_seq_search(&it)) != NULL)
		entries[i++] = e;
	if (i != n)
		elog(ERROR, "upsert batch holds %ld keys, found %ld", n, i);
	qsort(entries, n, sizeof(UpsertEntry *), entry_seq_cmp);

	/* a change that fails is known by its message (st->current_part and _offset) */
	AfterTriggerBeginQuery();
	if (c->truncate)
	{
		st->current_part = c->truncate_part;
		st->current_offset = c->truncate_offset;
		upsert_write(st, w, UP_TRUNCATE, true);
	}
	for (i = 0; i < n; i++)
	{
		st->current_part = entries[i]->partition;
		st->current_offset = entries[i]->offset;
		ExecClearTuple(w->slot);
		heap_deform_tuple(entries[i]->row, w->slot->tts_tupleDescriptor, w->slot->tts_values, w->slot->tts_isnull);
		upsert_write(st, w, entries[i]->op, !keys_exact);
		ResetPerTupleExprContext(w->estate);
		if ((i & 1023) == 1023)
			CHECK_FOR_INTERRUPTS();
	}
	/* AFTER triggers (foreign keys) concern the whole batch */
	st->current_part = -1;
	AfterTriggerEndQuery(w->estate);
	pfree(entries);
	return w->rows;
}

/* The known bad message m, or NULL */
static KnownBad *
known_bad(IngestState *st, rd_kafka_message_t *m)
{
	for (int i = 0; i < st->nbad; i++)
		if (st->bad[i].partition == m->partition && st->bad[i].offset == m->offset)
			return &st->bad[i];
	return NULL;
}

/* Forget the known bad messages the job has committed past */
static void
forget_bad(IngestState *st)
{
	int			keep = 0;

	for (int i = 0; i < st->nbad; i++)
	{
		int			pi = part_index(st, st->bad[i].partition);

		if (pi >= 0 && st->known[pi] && st->next[pi] <= st->bad[i].offset)
			st->bad[keep++] = st->bad[i];
	}
	st->nbad = keep;
}

/*
 * Collect an upsert batch into the cache, in the batch's transaction: the
 * first chunk is in st->msgs; more while the chunks come full (a backlog)
 * up to max messages and KAFKA_INGEST_BATCH_BYTES of the cache.  Offsets
 * go to last, messages taken to *taken, dead letters (known bad messages)
 * to *dead.  Returns rows written.
 */
static int64
upsert_collect_write(IngestState *st, int max, int64 *last, int64 *taken, int64 *dead)
{
	Writer		w;
	UpsertCache c;
	Oid			save_userid;
	int			save_sec;
	int64		rows;

	GetUserIdAndSecContext(&save_userid, &save_sec);
	SetUserIdAndSecContext(st->job->owner, save_sec | SECURITY_LOCAL_USERID_CHANGE);
	writer_open(st, &w, false);
	memset(&c, 0, sizeof(c));
	c.cxt = AllocSetContextCreate(CurrentMemoryContext, "kafka ingest upsert batch", ALLOCSET_DEFAULT_SIZES);
	initStringInfo(&c.key);
	cache_reset(&c);
	for (;;)
	{
		int			n = st->nmsgs;

		note_offsets(st, st->msgs, n, last);
		*taken += n;
		for (int i = 0; i < n; i++)
		{
			rd_kafka_message_t *m = st->msgs[i];
			KnownBad   *kb = st->nbad > 0 ? known_bad(st, m) : NULL;

			if (kb)
			{
				/* failed when this batch was read before */
				ErrorData	edata;

				memset(&edata, 0, sizeof(edata));
				edata.message = kb->message;
				edata.sqlerrcode = kb->sqlerrcode;
				dead_letter(st, m, &edata, save_userid, save_sec);
				(*dead)++;
				continue;
			}
			st->current_part = m->partition;
			st->current_offset = m->offset;
			cache_message(st, &w, &c, m);
			st->current_part = -1;
		}
		for (int i = 0; i < n; i++)
			rd_kafka_message_destroy(st->msgs[i]);
		st->nmsgs = 0;

		/* a chunk not full: the queue ran dry, the job has caught up */
		if (n < UPSERT_CHUNK || *taken >= max || c.bytes >= KAFKA_INGEST_BATCH_BYTES)
			break;
		CHECK_FOR_INTERRUPTS();
		st->nmsgs = collect_batch(st, st->msgs, Min(UPSERT_CHUNK, max - *taken),
								  kafka_ingest_batch_wait_ms, kafka_ingest_batch_wait_ms);
		if (st->nmsgs == 0)
			break;
	}
	rows = cache_apply(st, &w, &c);
	writer_close(&w);
	MemoryContextDelete(c.cxt);
	SetUserIdAndSecContext(save_userid, save_sec);
	return rows;
}

/*
 * Whether partitions must be written message by message: an upsert batch
 * failed on a message of them, and the job has not yet passed its end.
 * Returns at most how many messages that range still holds (offsets left,
 * or INT_MAX if a partition's next offset is not known yet), 0 if none.
 */
static int64
careful_pending(IngestState *st)
{
	int64		left = 0;

	if (st->careful_end == NULL)
		return 0;
	for (int i = 0; i < st->nparts; i++)
	{
		int32		p = st->parts[i];

		if (p >= st->ncareful || st->careful_end[p] < 0)
			continue;
		if (!st->known[i] || st->next[i] < 0)
			left = INT_MAX;
		else if (st->next[i] <= st->careful_end[p])
			left = Min(left + st->careful_end[p] - st->next[i] + 1, INT_MAX);
	}
	if (left > 0)
		return left;
	pfree(st->careful_end);
	st->careful_end = NULL;
	st->ncareful = 0;
	return 0;
}

/*
 * An upsert batch (the first chunk in st->msgs), in one transaction with
 * its offsets.  If a message fails, nothing is written and the batch's
 * partitions are consumed again from the stored offsets (its messages
 * were not kept): with dead letters, a failure known by its message makes
 * that message a dead letter when it is read again (KnownBad); else the
 * partitions are written message by message up to where the batch ended
 * (careful_pending), to dead-letter the bad ones or fail.
 */
static BatchResult
upsert_batch(IngestState *st, int max, int64 *rows_out)
{
	MemoryContext cxt = CurrentMemoryContext;
	int64	   *last = no_offsets(st);
	volatile BatchResult result = BATCH_DONE;
	ErrorData  *volatile fault = NULL;
	int64		taken = 0;
	int64		dead = 0;

	st->current_part = -1;
	work_begin();
	PG_TRY();
	{
		int64		rows;

		result = batch_may_write(st);
		if (result == BATCH_DONE)
		{
			rows = upsert_collect_write(st, max, last, &taken, &dead);
			if (!store_offsets(st, last, taken, rows, dead))
				result = BATCH_STOP;
			else
				*rows_out = rows;
		}
		batch_end(result, cxt);
	}
	PG_CATCH();
	{
		fault = batch_fault(cxt, false);
	}
	PG_END_TRY();
	if (fault != NULL && st->current_part >= 0 && st->job->dead_letter && st->nbad < MAX_KNOWN_BAD)
	{
		/*
		 * A message that does not decode, or a change that does not apply:
		 * read the batch again with that message dead-lettered.  Its key's
		 * other changes are then the batch's as they would be message by
		 * message: the one before it in the batch, if any, is applied.
		 */
		KnownBad   *kb;

		if (st->bad == NULL)
			st->bad = MemoryContextAllocZero(TopMemoryContext, sizeof(KnownBad) * MAX_KNOWN_BAD);
		kb = &st->bad[st->nbad++];
		kb->partition = st->current_part;
		kb->offset = st->current_offset;
		kb->sqlerrcode = fault->sqlerrcode;
		strlcpy(kb->message, fault->message ? fault->message : "unknown error", sizeof(kb->message));
		st->current_part = -1;
		ereport(LOG,
				(errmsg("kafka_fdw: ingest job %d: the message at partition %d offset " INT64_FORMAT " failed (%s); its upsert batch is read again with it as a dead letter",
						st->job->job_id, kb->partition, kb->offset, kb->message)));
		return BATCH_RESEEK;
	}
	st->current_part = -1;
	if (fault != NULL)
	{
		/* the messages taken so far (and the chunk being decoded) are the batch */
		note_offsets(st, st->msgs, st->nmsgs, last);
		if (st->careful_end)
			pfree(st->careful_end);
		st->ncareful = st->max_part + 1;
		st->careful_end = MemoryContextAlloc(TopMemoryContext, sizeof(int64) * Max(st->ncareful, 1));
		for (int p = 0; p < st->ncareful; p++)
			st->careful_end[p] = -1;
		for (int i = 0; i < st->nparts; i++)
			st->careful_end[st->parts[i]] = last[i];
		ereport(LOG,
				(errmsg("kafka_fdw: ingest job %d: a message of an upsert batch failed (%s); its messages are read again and applied one by one",
						st->job->job_id, fault->message)));
		return BATCH_RESEEK;
	}
	if (result == BATCH_DONE)
	{
		advance(st, last);
		forget_bad(st);
	}
	return result;
}

/*
 * Idle: partitions whose end (their last EOF) lies beyond the next offset
 * end in transaction markers (or messages of aborted transactions, which
 * read_committed skips).  Store the end as their next offset, so that the
 * lag shows 0 and a restart does not read them again.
 */
static void
skip_to_ends(IngestState *st)
{
	bool		any = false;
	MemoryContext cxt = CurrentMemoryContext;
	bool		stored = false;

	for (int i = 0; i < st->nparts; i++)
		if (st->eof[i] > st->next[i] && st->next[i] >= 0)
			any = true;
	if (!any)
		return;
	work_begin();
	{
		IngestJob  *job = load_job(st->job->job_id, true);

		if (job && strcmp(job->state, "running") == 0 && lock_offsets(st))
		{
			for (int i = 0; i < st->nparts; i++)
			{
				Datum		v[3] = {Int32GetDatum(st->job->job_id), Int32GetDatum(st->parts[i]), Int64GetDatum(st->eof[i])};
				Oid			t[3] = {INT4OID, INT4OID, INT8OID};

				if (st->eof[i] <= st->next[i] || st->next[i] < 0)
					continue;
				kafkaSpiExec("INSERT INTO kafka.ingest_offset AS o (job_id, partition, next_offset, high_watermark, updated_at) "
							 "VALUES ($1, $2, $3, $3, now()) ON CONFLICT (job_id, partition) DO UPDATE "
							 "SET next_offset = $3, high_watermark = greatest(o.high_watermark, $3), updated_at = now()",
							 3, t, v, NULL, SPI_OK_INSERT);
			}
			stored = true;
		}
	}
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	MemoryContextSwitchTo(cxt);
	if (stored)
		for (int i = 0; i < st->nparts; i++)
			if (st->eof[i] > st->next[i] && st->next[i] >= 0)
			{
				st->next[i] = st->eof[i];
				st->known[i] = true;
			}
}

/* ---------------------------------------------------------------------
 * The ingest worker
 * ---------------------------------------------------------------------
 */

/* Is the job there and running, and is this worker (k) still one of its N? */
static IngestJob *
job_if_running(int32 job_id, int k)
{
	IngestJob  *job = NULL;

	/* DROP DATABASE, ALTER DATABASE ... waits for the database: leave (the supervisor does too) */
	if (kafkaDatabaseWanted())
		return NULL;

	if (OidIsValid(get_namespace_oid("kafka", true)) &&
		OidIsValid(get_relname_relid("ingest_job", get_namespace_oid("kafka", true))))
	{
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		job = load_job(job_id, false);
		if (job && (strcmp(job->state, "running") != 0 || k >= job->parallelism))
			job = NULL;
		if (job)
		{
			MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
			IngestJob  *copy = palloc(sizeof(IngestJob));
			ListCell   *lc;

			*copy = *job;
			copy->state = pstrdup(job->state);
			copy->sql = job->sql ? pstrdup(job->sql) : NULL;
			copy->name = job->name ? pstrdup(job->name) : NULL;
			copy->topic = pstrdup(job->topic);
			copy->key_columns = NIL;
			foreach(lc, job->key_columns)
				copy->key_columns = lappend(copy->key_columns, pstrdup(lfirst(lc)));
			MemoryContextSwitchTo(old);
			job = copy;
		}
		SPI_finish();
	}
	return job;
}

void
kafka_ingest_main(Datum arg)
{
	int32		job_id = DatumGetInt32(arg);
	Oid			dboid;
	int			k;
	LOCKTAG		tag;

	memcpy(&dboid, MyBgworkerEntry->bgw_extra, sizeof(Oid));
	memcpy(&k, MyBgworkerEntry->bgw_extra + sizeof(Oid), sizeof(int));
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);
	{
		char		name[64];

		snprintf(name, sizeof(name), "kafka_fdw ingest %d/%d", job_id, k);
		SetConfigOption("application_name", name, PGC_USERSET, PGC_S_SESSION);
		pgstat_report_appname(name);
	}

	/*
	 * One worker per (job, k): a second copy waits here, but only while the
	 * per-database worker that started it lives.  Each restart of that
	 * worker starts a new copy of every (job, k) while the first copy runs
	 * on; copies of the gone ones leave, or they would pile up, one more per
	 * restart, until no worker slot is left.
	 */
	pgstat_report_activity(STATE_RUNNING, "waiting for its job's lock");
	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, KAFKA_INGEST_LOCK_CLASS, (uint32) (job_id * 64 + k), 2);
	for (;;)
	{
		bool		got;

		kafkaWorkerStartTransaction();
		got = LockAcquire(&tag, ExclusiveLock, true, true) != LOCKACQUIRE_NOT_AVAIL;
		CommitTransactionCommand();
		if (got)
			break;
		if (BackendPidGetProc(MyBgworkerEntry->bgw_notify_pid) == NULL)
			proc_exit(0);
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 1000, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}

	/* a pipeline runs its statement instead of consuming */
	{
		IngestJob  *job;

		kafkaWorkerStartTransaction();
		PushActiveSnapshot(GetTransactionSnapshot());
		job = job_if_running(job_id, k);
		PopActiveSnapshot();
		CommitTransactionCommand();
		if (job == NULL)
			proc_exit(0);
		if (job->pipeline)
		{
			job_loop(job_id, k, true);
			proc_exit(0);		/* not reached */
		}
	}

	job_loop(job_id, k, false);
}

/*
 * Set when a foreign table, server or user mapping changed (a syscache
 * invalidation, seen at the start of a transaction): the worker builds its
 * options and consumer again, so that ALTER FOREIGN TABLE (a new topic, a
 * property) and ALTER USER MAPPING apply within a naptime.
 */
static bool options_stale = false;

static void
options_invalidated(Datum arg, int cacheid, uint32 hashvalue)
{
	(void) arg;
	(void) cacheid;
	(void) hashvalue;
	options_stale = true;
}

/* The job is gone, stopped, or no longer has a share k: leave */
static void
leave_if_not_running(IngestState *st)
{
	IngestJob  *job;

	kafkaWorkerStartTransaction();
	PushActiveSnapshot(GetTransactionSnapshot());
	job = job_if_running(st->job_id, st->k);
	PopActiveSnapshot();
	CommitTransactionCommand();
	if (job == NULL)
	{
		pgstat_report_activity(STATE_IDLE, NULL);
		proc_exit(0);
	}
}

/* (Re)start consuming if needed (first time, after an error, metadata refresh) */
static void
ingest_prepare(IngestState *st)
{
	IngestJob  *job;
	MemoryContext cxt = CurrentMemoryContext;

	if (st->rkt != NULL && kafkaNowMs() - st->metadata_at <= INGEST_METADATA_MS && !options_stale)
		return;
	options_stale = false;
	ingest_reset(st);
	kafkaWorkerStartTransaction();
	PushActiveSnapshot(GetTransactionSnapshot());
	job = job_if_running(st->job_id, st->k);
	if (job == NULL)
	{
		PopActiveSnapshot();
		CommitTransactionCommand();
		pgstat_report_activity(STATE_IDLE, NULL);
		proc_exit(0);
	}
	st->job = job;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	ingest_setup(st);
	work_end(cxt);
}

/* One round of an ingest worker: collect a batch and write it, or find nothing to do */
static bool
ingest_step(IngestState *st)
{
	int64		rows = 0;
	BatchResult r;
	int			max;
	int			chunk;
	bool		upsert;
	int64		careful;

	ingest_prepare(st);

	/*
	 * An upsert batch applies only the last change of each key it holds: the
	 * larger the batch, the fewer rows a changelog costs (Kafka Streams'
	 * record cache does the same for a KTable).  It is collected a chunk at
	 * a time (upsert_batch), unless a failed batch is being written message
	 * by message.
	 */
	careful = st->job->upsert ? careful_pending(st) : 0;
	upsert = st->job->upsert && careful == 0;
	max = upsert ? kafka_ingest_upsert_batch_size : kafka_ingest_batch_size;
	chunk = upsert ? Min(max, UPSERT_CHUNK) : max;
	/* message by message only as far as the failed batch went */
	if (careful > 0)
		chunk = (int) Min(chunk, careful);
	if (st->maxmsgs < chunk)
	{
		if (st->msgs)
			pfree(st->msgs);
		st->msgs = MemoryContextAlloc(TopMemoryContext, sizeof(rd_kafka_message_t *) * chunk);
		st->maxmsgs = chunk;
	}
	pgstat_report_activity(STATE_IDLE, NULL);
	st->nmsgs = collect_batch(st, st->msgs, chunk, kafka_ingest_batch_wait_ms, kafka_naptime_ms);
	if (st->nmsgs == 0)
	{
		/* idle: move past transaction markers; is the job still running? */
		skip_to_ends(st);
		leave_if_not_running(st);
		return false;
	}
	pgstat_report_activity(STATE_RUNNING, "ingesting");
	if (upsert)
		r = upsert_batch(st, max, &rows);
	else
		r = ingest_batch(st, st->msgs, st->nmsgs, st->job->upsert, &rows);
	for (int i = 0; i < st->nmsgs; i++)
		rd_kafka_message_destroy(st->msgs[i]);
	st->nmsgs = 0;
	if (r == BATCH_STOP || r == BATCH_FAILED)
	{
		ingest_reset(st);
		proc_exit(0);
	}
	if (r == BATCH_RESEEK)
		ingest_reset(st);
	return true;
}

/*
 * The loop of an ingest or pipeline worker, with its error boundary: an
 * error (Kafka unreachable, a lock, anything not a message's fault) is
 * recorded in the job's last_error and the round is tried again after a
 * growing pause, from the stored offsets.
 */
static void
job_loop(int32 job_id, int k, bool pipeline)
{
	IngestState st;
	volatile int backoff_ms = 0;
	MemoryContext loop_cxt = AllocSetContextCreate(TopMemoryContext, "kafka_fdw ingest loop",
												   ALLOCSET_DEFAULT_SIZES);

	memset(&st, 0, sizeof(st));
	st.job_id = job_id;
	st.k = k;
	CacheRegisterSyscacheCallback(FOREIGNTABLEREL, options_invalidated, (Datum) 0);
	CacheRegisterSyscacheCallback(FOREIGNSERVEROID, options_invalidated, (Datum) 0);
	CacheRegisterSyscacheCallback(USERMAPPINGOID, options_invalidated, (Datum) 0);
	if (pipeline)
	{
		/* a transactional sink's producers are named after the pipeline: a new worker fences the old */
		kafkaSetTxnIdBase(psprintf("kafka_fdw-" UINT64_FORMAT "-%u-pipeline-%d",
								   GetSystemIdentifier(), MyDatabaseId, job_id));
	}
	for (;;)
	{
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		MemoryContextSwitchTo(loop_cxt);
		PG_TRY();
		{
			if (pipeline ? pipeline_step(&st) : ingest_step(&st))
				backoff_ms = 0;
		}
		PG_CATCH();
		{
			ErrorData  *edata;
			int			b = backoff_ms;

			MemoryContextSwitchTo(loop_cxt);
			edata = CopyErrorData();
			FlushErrorState();
			AbortOutOfAnyTransaction();
			for (int i = 0; i < st.nmsgs; i++)
				rd_kafka_message_destroy(st.msgs[i]);
			st.nmsgs = 0;
			kafkaUnpinRanges();
			ingest_reset(&st);
			job_error_pause(job_id, pipeline ? "pipeline" : "ingest job", edata, &b);
			backoff_ms = b;
		}
		PG_END_TRY();
		MemoryContextReset(loop_cxt);
	}
}

/* ---------------------------------------------------------------------
 * Pipelines: the user's statement over each batch of the source
 * ---------------------------------------------------------------------
 */

/* Is an error of a pipeline's statement worth retrying (Kafka, locks, resources)? */
static bool
pipeline_error_is_transient(int sqlerrcode)
{
	switch (ERRCODE_TO_CATEGORY(sqlerrcode))
	{
		case ERRCODE_CONNECTION_EXCEPTION:
		case ERRCODE_TRANSACTION_ROLLBACK:
		case ERRCODE_INSUFFICIENT_RESOURCES:
		case ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE:
		case ERRCODE_OPERATOR_INTERVENTION:
		case ERRCODE_SYSTEM_ERROR:
		case ERRCODE_FDW_ERROR:
			return true;
		default:
			return false;
	}
}

/*
 * The next batch: per partition, from the stored offset to the last
 * stable offset, at most kafka_fdw.pipeline_batch_size offsets in all.
 * The statement's scans stream the messages, so the bound is the
 * transaction's size, not memory: under a backlog, large batches spread
 * what the statement costs per run (its plan, a hash of a joined table)
 * over many messages.
 * Returns the number of non-empty ranges (in *ranges).
 */
static int
pipeline_ranges(IngestState *st, KafkaRange **ranges, int64 **highs)
{
	rd_kafka_t *meta = kafkaGetMeta(st->opts);
	int			per_part = Max(1, kafka_pipeline_batch_size / Max(st->nparts, 1));
	int			n = 0;

	*ranges = palloc(sizeof(KafkaRange) * Max(st->nparts, 1));
	*highs = palloc(sizeof(int64) * Max(st->nparts, 1));
	for (int i = 0; i < st->nparts; i++)
	{
		int64		low,
					high,
					start;

		kafkaQueryWatermarks(meta, st->opts->topic, st->parts[i], st->opts->timeout_ms, &low, &high);
		start = st->next[i] < 0 ? low : st->next[i];
		if (start < low)
		{
			ereport(WARNING,
					(errcode(ERRCODE_WARNING),
					 errmsg("kafka_fdw: pipeline %d: offsets " INT64_FORMAT " to " INT64_FORMAT " of partition %d were deleted by Kafka before the pipeline read them",
							st->job->job_id, start, low - 1, st->parts[i])));
			start = low;
		}
		if (start >= high)
			continue;
		(*ranges)[n].partition = st->parts[i];
		(*ranges)[n].start = start;
		(*ranges)[n].end = Min(high, start + per_part);
		(*highs)[n] = high;
		n++;
	}
	return n;
}

/* A pipeline's key in the progress topic */
static char *
pipeline_key(int32 job_id)
{
	return psprintf("pipeline-" UINT64_FORMAT "-%u-%d", GetSystemIdentifier(), MyDatabaseId, job_id);
}

/*
 * The statement wrote to a transactional kafka_fdw table: a Kafka
 * transaction commits just before this PostgreSQL transaction.  Put the
 * pipeline's offsets after this batch into it as a progress record
 * (progress.c), so that if PostgreSQL does not commit after Kafka did,
 * the next worker finds the batch done (pipeline_recover) and does not
 * write its messages again.
 */
static bool
pipeline_progress(IngestState *st, IngestJob *job, KafkaRange *ranges, int n, Oid *new_server)
{
	Oid			serverid,
				userid;
	int			timeout_ms;
	bool		several;
	KafkaHandle *h = kafkaXactOnly(&serverid, &userid, &timeout_ms, &several);
	StringInfoData b;
	KafkaProducer *p;
	char	   *key = pipeline_key(st->job->job_id);

	if (h == NULL)
	{
		if (several)
			ereport(LOG,
					(errmsg("kafka_fdw: pipeline %d wrote to transactional Kafka tables of several servers or settings in one batch: its Kafka output is at least once",
							st->job->job_id),
					 errhint("Exactly-once output needs one transactional sink (one server, one set of settings).")));
		return true;
	}

	/*
	 * Recovery must know where to look before the first record is there:
	 * a sink on a server not recorded yet makes this batch roll back; the
	 * caller records the server in a transaction of its own and runs the
	 * batch again.
	 */
	if (job->progress_server != serverid)
	{
		*new_server = serverid;
		return false;
	}
	initStringInfo(&b);
	appendStringInfo(&b, "{\"job_id\":%d,\"offsets\":[", st->job->job_id);
	for (int i = 0; i < st->nparts; i++)
	{
		int64		next = st->next[i];

		for (int r = 0; r < n; r++)
			if (ranges[r].partition == st->parts[i])
				next = ranges[r].end;
		if (next < 0)
			continue;
		appendStringInfo(&b, "%s[%d," INT64_FORMAT "]", b.data[b.len - 1] == '[' ? "" : ",", st->parts[i], next);
	}
	appendStringInfoString(&b, "]}");
	/* the progress topic exists: pipeline_recover made it when this server was recorded */
	p = kafkaProducerBegin(h, KAFKA_DEFAULT_PROGRESS_TOPIC, timeout_ms, KAFKA_PRODUCE_XACT, CurrentMemoryContext);
	(void) kafkaProducerSend(p, NULL, RD_KAFKA_PARTITION_UA, key, strlen(key), b.data, b.len, NULL, 0, 0, false);
	kafkaProducerWait(p);
	kafkaProducerCheck(p);
	kafkaProducerEnd(p);
	return true;
}

/*
 * Before a pipeline's first batch in this process (and after any error):
 * if it has written progress records, the last committed one may be ahead
 * of the stored offsets (Kafka committed a batch, PostgreSQL did not):
 * move the offsets there.  In a transaction, SPI connected.
 */
static void
pipeline_recover(IngestJob *job)
{
	Datum		arg = Int32GetDatum(job->job_id);
	Oid			argtype = INT4OID;
	bool		isnull;
	Oid			serverid;
	char	   *value = NULL;

	if (SPI_execute_with_args("SELECT progress_server FROM kafka.ingest_job WHERE job_id = $1",
							  1, &argtype, &arg, NULL, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not read kafka.ingest_job");
	serverid = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	if (isnull)
		return;
	{
		KafkaOptions *popts = kafkaGetServerOptionsFor(serverid, job->owner);

		/* the first batch with this sink may have rolled back before making it */
		kafkaEnsureProgressTopic(popts, KAFKA_DEFAULT_PROGRESS_TOPIC);
		if (!kafkaReadLastProgress(popts, KAFKA_DEFAULT_PROGRESS_TOPIC, pipeline_key(job->job_id), &value))
			return;
	}
	{
		Datum		v[2] = {Int32GetDatum(job->job_id), CStringGetTextDatum(value)};
		Oid			t[2] = {INT4OID, TEXTOID};

		kafkaSpiExec("INSERT INTO kafka.ingest_offset AS o (job_id, partition, next_offset, updated_at) "
					 "SELECT $1, (e->>0)::int, (e->>1)::bigint, now() FROM jsonb_array_elements($2::jsonb->'offsets') e "
					 "ON CONFLICT (job_id, partition) DO UPDATE SET next_offset = excluded.next_offset, updated_at = now() "
					 "WHERE o.next_offset < excluded.next_offset",
					 2, t, v, NULL, SPI_OK_INSERT);
		if (SPI_processed > 0)
			ereport(LOG,
					(errmsg("kafka_fdw: pipeline %d: a batch had reached Kafka but not PostgreSQL; the offsets of " UINT64_FORMAT " partition(s) moved past it",
							job->job_id, SPI_processed)));
	}
}

/* Run the statement over one batch and store its offsets, in one transaction */
static BatchResult
pipeline_batch(IngestState *st, KafkaRange *ranges, int64 *highs, int n)
{
	MemoryContext cxt = CurrentMemoryContext;
	volatile BatchResult result = BATCH_DONE;
	ErrorData  *volatile failure = NULL;
	volatile Oid new_server = InvalidOid;

	work_begin();
	PG_TRY();
	{
		IngestJob  *job = load_job(st->job->job_id, true);

		if (job == NULL || strcmp(job->state, "running") != 0 || strcmp(job->sql, st->job->sql) != 0 ||
			kafkaDatabaseWanted())
			result = BATCH_STOP;
		else if (!lock_offsets(st))
			result = BATCH_RESEEK;
		else
		{
			Oid			save_userid;
			int			save_sec;
			int			nest = NewGUCNestLevel();
			uint64		rows;
			int64		offsets = 0;

			/* the statement, as the pipeline's role, reads only this batch */
			(void) set_config_option("max_parallel_workers_per_gather", "0",
									 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
			kafkaPinRanges(st->job->source, ranges, n);
			GetUserIdAndSecContext(&save_userid, &save_sec);
			SetUserIdAndSecContext(st->job->owner, save_sec | SECURITY_LOCAL_USERID_CHANGE);
			if (SPI_execute(st->job->sql, false, 0) < 0)
				ereport(ERROR,
						(errcode(ERRCODE_INTERNAL_ERROR),
						 errmsg("the statement of pipeline %d failed", st->job->job_id)));
			rows = SPI_processed;
			SetUserIdAndSecContext(save_userid, save_sec);
			kafkaUnpinRanges();
			AtEOXact_GUC(true, nest);

			for (int i = 0; i < n; i++)
			{
				Datum		v[4] = {Int32GetDatum(st->job->job_id), Int32GetDatum(ranges[i].partition),
				Int64GetDatum(ranges[i].end), Int64GetDatum(highs[i])};
				Oid			t[4] = {INT4OID, INT4OID, INT8OID, INT8OID};

				kafkaSpiExec("INSERT INTO kafka.ingest_offset AS o (job_id, partition, next_offset, high_watermark, updated_at) "
							 "VALUES ($1, $2, $3, $4, now()) ON CONFLICT (job_id, partition) DO UPDATE "
							 "SET next_offset = $3, high_watermark = $4, updated_at = now()",
							 4, t, v, NULL, SPI_OK_INSERT);
				offsets += ranges[i].end - ranges[i].start;
			}
			{
				Datum		v[3] = {Int32GetDatum(st->job->job_id), Int64GetDatum(offsets), Int64GetDatum((int64) rows)};
				Oid			t[3] = {INT4OID, INT8OID, INT8OID};

				kafkaSpiExec("UPDATE kafka.ingest_job SET messages = messages + $2, rows_written = rows_written + $3, "
							 "last_batch_at = now(), last_error = NULL, last_error_at = NULL, " INGEST_RATE_SQL " WHERE job_id = $1 AND state = 'running'",
							 3, t, v, NULL, SPI_OK_UPDATE);
				if (SPI_processed != 1)
					result = BATCH_STOP;
			}
			{
				Oid			server = InvalidOid;

				if (result == BATCH_DONE && !pipeline_progress(st, job, ranges, n, &server))
				{
					new_server = server;
					result = BATCH_RESEEK;	/* after recording new_server */
				}
			}
		}
		SPI_finish();
		PopActiveSnapshot();
		if (result == BATCH_DONE)
			CommitTransactionCommand();
		else
			AbortCurrentTransaction();
		MemoryContextSwitchTo(cxt);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		kafkaUnpinRanges();
		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		if (pipeline_error_is_transient(edata->sqlerrcode))
			PG_RE_THROW();		/* retried after a pause */
		FlushErrorState();
		AbortCurrentTransaction();
		MemoryContextSwitchTo(cxt);
		failure = edata;
	}
	PG_END_TRY();
	if (failure)
	{
		char	   *msg = psprintf("statement failed on the batch from %d partition(s): %s", n, failure->message);

		job_failed(st->job->job_id, msg, ranges[0].partition, ranges[0].start);
		MemoryContextSwitchTo(cxt);
		ereport(LOG,
				(errmsg("kafka_fdw: pipeline %d failed: %s", st->job->job_id, msg),
				 errhint("Fix the cause and call kafka.resume_ingest(%d).", st->job->job_id)));
		return BATCH_FAILED;
	}
	if (OidIsValid(new_server))
	{
		/* the batch rolled back (its Kafka transaction too): record the sink's server, then again */
		Datum		v[2] = {Int32GetDatum(st->job->job_id), ObjectIdGetDatum(new_server)};
		Oid			t[2] = {INT4OID, OIDOID};

		work_begin();
		kafkaSpiExec("UPDATE kafka.ingest_job SET progress_server = $2 WHERE job_id = $1", 2, t, v, NULL, SPI_OK_UPDATE);
		work_end(cxt);
	}
	if (result == BATCH_DONE)
		for (int i = 0; i < n; i++)
		{
			int			pi = part_index(st, ranges[i].partition);

			st->next[pi] = ranges[i].end;
			st->known[pi] = true;
		}
	return result;
}

/* One round of a pipeline's worker: run its statement over the next batch, or find none */
static bool
pipeline_step(IngestState *st)
{
	KafkaRange *ranges;
	int64	   *highs;
	int			n;
	BatchResult r;
	MemoryContext cxt = CurrentMemoryContext;

	if (st->cxt == NULL || kafkaNowMs() - st->metadata_at > INGEST_METADATA_MS || options_stale ||
		kafkaNowMs() - st->checked_at > kafka_naptime_ms)
	{
		IngestJob  *job;

		kafkaWorkerStartTransaction();
		PushActiveSnapshot(GetTransactionSnapshot());
		job = job_if_running(st->job_id, 0);
		if (job == NULL)
		{
			PopActiveSnapshot();
			CommitTransactionCommand();
			proc_exit(0);
		}
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		if (st->cxt == NULL || kafkaNowMs() - st->metadata_at > INGEST_METADATA_MS || options_stale)
		{
			bool		recover = st->cxt == NULL;

			options_stale = false;
			ingest_reset(st);
			st->job = job;
			if (recover)
				pipeline_recover(job);
			ingest_setup(st);
		}
		work_end(cxt);
		st->checked_at = kafkaNowMs();
	}
	pgstat_report_activity(STATE_RUNNING, "looking for new messages");
	n = pipeline_ranges(st, &ranges, &highs);
	if (n == 0)
	{
		pgstat_report_activity(STATE_IDLE, NULL);
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 Max(kafka_ingest_batch_wait_ms, 10), PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		return false;
	}
	pgstat_report_activity(STATE_RUNNING, "running its statement");
	r = pipeline_batch(st, ranges, highs, n);
	if (r == BATCH_STOP || r == BATCH_FAILED)
		proc_exit(0);
	if (r == BATCH_RESEEK)
		ingest_reset(st);
	return true;
}

/* ---------------------------------------------------------------------
 * Supervision, from the per-database worker
 * ---------------------------------------------------------------------
 */

typedef struct IngestChild
{
	int32		job_id;
	int			k;
	BackgroundWorkerHandle *handle;
	int64		started_at;
} IngestChild;

static List *children = NIL;	/* of IngestChild *, in TopMemoryContext */

static bool
start_child(IngestChild *c)
{
	char		extra[sizeof(Oid) + sizeof(int)];
	bool		ok;

	memcpy(extra, &MyDatabaseId, sizeof(Oid));
	memcpy(extra + sizeof(Oid), &c->k, sizeof(int));
	ok = kafkaStartBgworker("kafka_ingest_main", psprintf("kafka_fdw ingest job %d worker %d", c->job_id, c->k),
							"kafka_fdw ingest", Int32GetDatum(c->job_id), extra, sizeof(extra), &c->handle);
	c->started_at = kafkaNowMs();
	return ok;
}

/*
 * Inside a transaction, SPI not connected: does this database have running
 * ingest jobs?
 */
bool
kafkaIngestHasJobs(void)
{
	bool		result = false;
	Oid			nsp = get_namespace_oid("kafka", true);

	if (!OidIsValid(nsp) || !OidIsValid(get_relname_relid("ingest_job", nsp)))
		return false;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute("SELECT EXISTS (SELECT 1 FROM kafka.ingest_job WHERE state = 'running')", true, 1) == SPI_OK_SELECT)
	{
		bool		isnull;

		result = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	}
	SPI_finish();
	return result;
}

/*
 * Called by the per-database worker outside a transaction: keep a worker
 * running for every (running job, k < parallelism); forget the others
 * (they exit by themselves when their job stops).  Returns whether any job
 * runs.
 */
bool
kafkaIngestSupervise(void)
{
	List	   *want = NIL;		/* pairs job_id, parallelism */
	List	   *unstarted = NIL;	/* jobs a worker could not be started for */
	List	   *limited = NIL;	/* jobs waiting for kafka_fdw.max_ingest_workers */
	ListCell   *lc;
	Oid			nsp;
	MemoryContext caller = CurrentMemoryContext;	/* the worker's loop context */

	kafkaWorkerStartTransaction();
	PushActiveSnapshot(GetTransactionSnapshot());
	nsp = get_namespace_oid("kafka", true);
	if (OidIsValid(nsp) && OidIsValid(get_relname_relid("ingest_job", nsp)))
	{
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		if (SPI_execute("SELECT job_id, parallelism FROM kafka.ingest_job WHERE state = 'running'", true, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not read kafka.ingest_job");
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			bool		isnull;
			MemoryContext old = MemoryContextSwitchTo(caller);

			want = lappend_int(want, DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull)));
			want = lappend_int(want, DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull)));
			MemoryContextSwitchTo(old);
		}
		SPI_finish();
	}
	PopActiveSnapshot();
	CommitTransactionCommand();
	MemoryContextSwitchTo(caller);

	/* forget children that stopped and are not wanted */
	foreach(lc, children)
	{
		IngestChild *c = lfirst(lc);
		pid_t		pid;
		bool		wanted = false;

		for (int i = 0; i < list_length(want); i += 2)
			if (list_nth_int(want, i) == c->job_id && c->k < list_nth_int(want, i + 1))
				wanted = true;
		if (!wanted && GetBackgroundWorkerPid(c->handle, &pid) == BGWH_STOPPED)
		{
			children = foreach_delete_current(children, lc);
			pfree(c->handle);
			pfree(c);
		}
	}
	/* start the missing ones; restart stopped ones, not too often */
	for (int i = 0; i < list_length(want); i += 2)
	{
		int32		job_id = list_nth_int(want, i);
		int			n = list_nth_int(want, i + 1);

		for (int k = 0; k < n; k++)
		{
			IngestChild *c = NULL;
			pid_t		pid;

			foreach(lc, children)
			{
				IngestChild *x = lfirst(lc);

				if (x->job_id == job_id && x->k == k)
					c = x;
			}
			if (c == NULL && list_length(children) >= kafka_max_ingest_workers)
			{
				/* the oldest jobs (lowest job_id) get the workers there are */
				limited = lappend_int(limited, job_id);
				continue;
			}
			if (c == NULL)
			{
				c = MemoryContextAllocZero(TopMemoryContext, sizeof(IngestChild));
				c->job_id = job_id;
				c->k = k;
				if (!start_child(c))
				{
					ereport(WARNING,
							(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
							 errmsg("kafka_fdw: could not start an ingest worker for job %d", job_id),
							 errhint("Raise max_worker_processes.")));
					pfree(c);
					unstarted = lappend_int(unstarted, job_id);
					continue;
				}
				{
					MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

					children = lappend(children, c);
					MemoryContextSwitchTo(old);
				}
			}
			else if (GetBackgroundWorkerPid(c->handle, &pid) == BGWH_STOPPED &&
					 kafkaNowMs() - c->started_at >= INGEST_RESTART_MS)
			{
				pfree(c->handle);
				c->handle = NULL;
				if (!start_child(c))
				{
					ereport(WARNING,
							(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
							 errmsg("kafka_fdw: could not start an ingest worker for job %d", job_id),
							 errhint("Raise max_worker_processes.")));
					unstarted = lappend_int(unstarted, job_id);
				}
			}
		}
	}

	/* a job without its workers says so in its status */
	if (unstarted != NIL || limited != NIL)
	{
		work_begin();
		foreach(lc, unstarted)
			record_job_error(lfirst_int(lc),
							 "could not start a background worker for this job: all max_worker_processes slots are taken",
							 false, 0, 0);
		foreach(lc, limited)
			record_job_error(lfirst_int(lc),
							 psprintf("waiting for a worker: kafka_fdw.max_ingest_workers (%d) ingest workers run in this database",
									  kafka_max_ingest_workers),
							 false, 0, 0);
		work_end(caller);
	}
	return want != NIL;
}

/* ---------------------------------------------------------------------
 * kafka.redrive
 * ---------------------------------------------------------------------
 */

/* Read the message at (partition, offset) again; NULL if Kafka no longer has it */
static rd_kafka_message_t *
fetch_one(IngestState *st, int32 partition, int64 offset)
{
	int64		low,
				high;
	rd_kafka_message_t *volatile found = NULL;
	int64		deadline = kafkaNowMs() + st->opts->timeout_ms;

	kafkaQueryWatermarks(kafkaGetMeta(st->opts), st->opts->topic, partition, st->opts->timeout_ms, &low, &high);
	if (offset < low || offset >= high)
		return NULL;
	kafkaDrainQueue(st->h);
	if (rd_kafka_consume_start_queue(st->rkt, partition, offset, st->h->queue) != 0)
		kafkaReportError(rd_kafka_last_error(), "could not start consuming", st->opts->topic);
	PG_TRY();
	{
		while (found == NULL)
		{
			rd_kafka_message_t *m = rd_kafka_consume_queue(st->h->queue, 0);

			kafkaServeLogs(st->h->rk);
			if (m == NULL)
			{
				if (kafkaNowMs() >= deadline)
					ereport(ERROR,
							(errcode(ERRCODE_FDW_UNABLE_TO_ESTABLISH_CONNECTION),
							 errmsg("could not read partition %d offset " INT64_FORMAT " of topic \"%s\" within %d ms",
									partition, offset, st->opts->topic, st->opts->timeout_ms)));
				kafkaWaitHandleEvent(st->h, 100);
				continue;
			}
			if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR && m->offset >= offset)
			{
				if (m->offset == offset)
					found = m;
				else
				{
					/* compacted away */
					rd_kafka_message_destroy(m);
					break;
				}
			}
			else if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR && m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
			{
				rd_kafka_resp_err_t err = m->err;

				rd_kafka_message_destroy(m);
				kafkaReportError(err, "could not consume", st->opts->topic);
			}
			else if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
			{
				rd_kafka_message_destroy(m);
				break;
			}
			else
				rd_kafka_message_destroy(m);
		}
	}
	PG_FINALLY();
	{
		rd_kafka_consume_stop(st->rkt, partition);
		kafkaDrainQueue(st->h);
	}
	PG_END_TRY();
	return found;
}

/* Write one re-read dead letter: true if it landed (its row is then deleted) */
static bool
redrive_one(IngestState *st, int64 id, rd_kafka_message_t *m)
{
	volatile bool landed = false;
	Datum		v[3];
	Oid			t[3] = {INT8OID, TEXTOID, TEXTOID};

	v[0] = Int64GetDatum(id);
	PG_TRY();
	{
		int			bad;
		int64		dead;
		ErrorData  *bad_error = NULL;

		(void) write_batch(st, &m, 1, true, &bad, &dead, &bad_error);
		if (bad < 0)
		{
			kafkaSpiExec("DELETE FROM kafka.dead_letter WHERE dead_letter_id = $1", 1, t, v, NULL, SPI_OK_DELETE);
			landed = true;
		}
		else
		{
			v[1] = CStringGetTextDatum(bad_error->message ? bad_error->message : "unknown error");
			v[2] = CStringGetTextDatum(unpack_sql_state(bad_error->sqlerrcode));
			kafkaSpiExec("UPDATE kafka.dead_letter SET error = $2, sqlstate = $3, failed_at = now() "
						 "WHERE dead_letter_id = $1", 3, t, v, NULL, SPI_OK_UPDATE);
		}
	}
	PG_CATCH();
	{
		rd_kafka_message_destroy(m);
		PG_RE_THROW();
	}
	PG_END_TRY();
	rd_kafka_message_destroy(m);
	return landed;
}

/* Every dead letter of the job, in partition and offset order */
static int64
redrive_all(IngestState *st, int32 job_id)
{
	Datum		arg = Int32GetDatum(job_id);
	Oid			argtype = INT4OID;
	SPITupleTable *dl;
	uint64		ndl;
	int64		landed = 0;

	if (SPI_execute_with_args("SELECT dead_letter_id, partition, \"offset\" FROM kafka.dead_letter "
							  "WHERE job_id = $1 ORDER BY partition, \"offset\" FOR UPDATE",
							  1, &argtype, &arg, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read kafka.dead_letter");
	dl = SPI_tuptable;
	ndl = SPI_processed;
	for (uint64 i = 0; i < ndl; i++)
	{
		bool		isnull;
		int64		id = DatumGetInt64(SPI_getbinval(dl->vals[i], dl->tupdesc, 1, &isnull));
		int32		partition = DatumGetInt32(SPI_getbinval(dl->vals[i], dl->tupdesc, 2, &isnull));
		int64		offset = DatumGetInt64(SPI_getbinval(dl->vals[i], dl->tupdesc, 3, &isnull));
		rd_kafka_message_t *m = fetch_one(st, partition, offset);

		if (m == NULL)
		{
			ereport(WARNING,
					(errcode(ERRCODE_NO_DATA),
					 errmsg("dead letter " INT64_FORMAT " (partition %d offset " INT64_FORMAT ") is no longer in Kafka: kept",
							id, partition, offset)));
			continue;
		}
		if (redrive_one(st, id, m))
			landed++;
		CHECK_FOR_INTERRUPTS();
	}
	if (landed > 0)
	{
		Datum		v[2] = {Int32GetDatum(job_id), Int64GetDatum(landed)};
		Oid			t[2] = {INT4OID, INT8OID};

		kafkaSpiExec("UPDATE kafka.ingest_job SET rows_written = rows_written + $2 WHERE job_id = $1",
					 2, t, v, NULL, SPI_OK_UPDATE);
	}
	return landed;
}

/*
 * Retry the dead letters of a job in the current transaction (SPI
 * connected, as the extension owner): each message is read from Kafka
 * again and written as the job would; those that land are removed, the
 * others get their new error.  Returns the number that landed.
 */
int64
kafkaIngestRedrive(int32 job_id)
{
	IngestState st;
	IngestJob  *job;
	volatile int64 landed = 0;

	job = load_job(job_id, false);
	if (job == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("ingest job %d does not exist", job_id)));
	memset(&st, 0, sizeof(st));
	st.job = job;
	prepare_job(&st);
	st.job->dead_letter = false;	/* a failure is reported here, not dead-lettered again */
	st.h = kafkaGetConsumer(st.opts);
	if (st.h->in_use)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_IN_USE),
				 errmsg("the Kafka consumer of this session is in use"),
				 errhint("Call kafka.redrive() outside a query that reads a Kafka table.")));
	st.h->in_use = true;
	st.rkt = rd_kafka_topic_new(st.h->rk, st.opts->topic, NULL);
	PG_TRY();
	{
		landed = redrive_all(&st, job_id);
	}
	PG_CATCH();
	{
		rd_kafka_topic_destroy(st.rkt);
		st.h->in_use = false;
		PG_RE_THROW();
	}
	PG_END_TRY();
	rd_kafka_topic_destroy(st.rkt);
	st.h->in_use = false;
	if (st.cxt)
		MemoryContextDelete(st.cxt);
	return landed;
}

/*
 * For kafka.ingest: can a job with these settings work?  Checks the
 * target's columns against the source's (by name), the upsert key; returns
 * the key columns (upsert).
 */
List *
kafkaIngestCheck(Oid source, Oid target, bool upsert, bool debezium, List *key_columns)
{
	IngestJob	job;
	KafkaOptions *opts;
	Relation	rel;
	int			n;
	Oid			key_index;
	bool		volatile_defaults;

	memset(&job, 0, sizeof(job));
	job.source = source;
	job.target = target;
	job.upsert = upsert;
	job.debezium = debezium;
	job.key_columns = key_columns;
	opts = kafkaGetOptions(source, NULL);
	rel = table_open(target, AccessShareLock);
	(void) map_target(&job, opts, rel, &n, &key_index, true, &volatile_defaults);
	table_close(rel, AccessShareLock);
	return job.key_columns;
}
