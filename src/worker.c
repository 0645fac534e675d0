/*-------------------------------------------------------------------------
 *
 * worker.c
 *		  The background workers of kafka_fdw: one launcher per cluster and
 *		  one worker per database that has streams; their shared memory, the
 *		  GUCs they act on, and the function behind the kafka.workers view.
 *
 *		  The launcher is a static background worker registered by _PG_init
 *		  when kafka_fdw is in shared_preload_libraries.  It is connected to
 *		  no database (like autovacuum's launcher it only reads the shared
 *		  catalog pg_database).  At start it probes every database that
 *		  allows connections with a short-lived worker, which exits at once
 *		  where the extension is not installed or has no streams; afterwards
 *		  kafkaWakeWorker(db) asks it for a worker.  Per-database workers are
 *		  dynamic background workers; the launcher restarts one that died
 *		  with an error after KAFKA_RESTART_DELAY_MS.
 *
 * Invariants:
 *	- A slot of KafkaWorkerShared is free when dboid is InvalidOid; only the
 *	  launcher frees slots, anyone may claim one (under the lock) by setting
 *	  dboid and start_requested.
 *	- slot->latch is set only while the worker runs and has not decided to
 *	  exit; kafkaWakeWorker sets wake_pending under the lock, and a worker
 *	  leaves only after seeing wake_pending false under the same lock, so a
 *	  wake is never lost between "no streams" and the exit.
 *	- A worker never holds a database open against DROP DATABASE, ALTER
 *	  DATABASE or CREATE DATABASE ... TEMPLATE: every loop it tests whether
 *	  someone waits for the database exclusively and leaves if so.
 *	- After a crash restart shared memory is new: the launcher comes back
 *	  (bgw_restart_time) and probes all databases again.
 *
 *-------------------------------------------------------------------------
 */
#include "kafka_fdw.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_database.h"
#include "commands/extension.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "tcop/tcopprot.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(kafka_worker_status);

/* a worker that died with an error is started again after this long */
#define KAFKA_RESTART_DELAY_MS	5000
/* a worker that left for an exclusive lock on its database tries again after this long */
#define KAFKA_YIELD_DELAY_MS	10000
#define KAFKA_ERROR_LEN			256

/* What a slot's worker is doing */
typedef enum KafkaWorkerState
{
	KW_FREE = 0,				/* slot unused */
	KW_REQUESTED,				/* waiting for the launcher to start it */
	KW_STARTING,				/* registered, not yet in its loop */
	KW_RUNNING,					/* in its loop */
	KW_EXITED,					/* left cleanly: no streams (or no extension) */
	KW_RESTART					/* died or yielded: the launcher starts it at restart_at */
} KafkaWorkerState;

static const char *const kafka_state_names[] = {
	"free", "requested", "starting", "running", "exited", "restart pending"
};

/* One per-database worker, in shared memory */
typedef struct KafkaWorkerSlot
{
	Oid			dboid;			/* its database; InvalidOid: slot free */
	KafkaWorkerState state;		/* see above */
	pid_t		pid;			/* while running, else 0 */
	Latch	   *latch;			/* while running and not leaving, else NULL */
	bool		wake_pending;	/* kafkaWakeWorker called since the last check */
	bool		start_requested;	/* a wake arrived while no worker ran */
	bool		restart;		/* start it again when it exits (cleared on a
								 * clean exit) */
	bool		probe;			/* started by the launcher's probe */
	TimestampTz restart_at;		/* KW_RESTART: not before this */
	TimestampTz started;		/* when the current/last worker started */
	TimestampTz last_loop;		/* end of its last loop */
	int64		loops;			/* loops done by the current worker */
	int64		events_sent;	/* events published by the current worker */
	int			restarts;		/* times restarted after an error */
	TimestampTz last_error_at;	/* when it last died with an error */
	char		last_error[KAFKA_ERROR_LEN];	/* that error's message */
} KafkaWorkerSlot;

/* The shared state of the launcher and the workers */
typedef struct KafkaWorkerShared
{
	LWLock	   *lock;			/* protects everything below */
	pid_t		launcher_pid;	/* 0 when the launcher is not running */
	Latch	   *launcher_latch; /* its latch, NULL when not running */
	TimestampTz launcher_started;	/* when it started */
	bool		slots_full;		/* a wake found no free slot (launcher warns) */
	int			nslots;			/* kafka_fdw.max_workers at start */
	KafkaWorkerSlot slots[FLEXIBLE_ARRAY_MEMBER];
} KafkaWorkerShared;

/* GUCs */
int			kafka_max_workers = 8;
int			kafka_naptime_ms = 1000;
int			kafka_emitter_batch_size = 100000;

/* was this library loaded by shared_preload_libraries? */
static bool kafka_preloaded = false;

static KafkaWorkerShared *kafka_shared = NULL;
static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/* this process's slot, when it is a per-database worker */
static int	my_slot = -1;
static emit_log_hook_type prev_emit_log_hook = NULL;

/* wake this database's worker when the transaction commits */
static bool wake_at_commit = false;
static bool wake_callback_registered = false;

PGDLLEXPORT void kafka_launcher_main(Datum arg);
PGDLLEXPORT void kafka_worker_main(Datum arg);

static Size
shared_size(void)
{
	return add_size(offsetof(KafkaWorkerShared, slots),
					mul_size(sizeof(KafkaWorkerSlot), kafka_max_workers));
}

static void
worker_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(shared_size());
	RequestNamedLWLockTranche("kafka_fdw", 1);
}

static void
worker_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	kafka_shared = ShmemInitStruct("kafka_fdw workers", shared_size(), &found);
	if (!found)
	{
		memset(kafka_shared, 0, shared_size());
		kafka_shared->lock = &(GetNamedLWLockTranche("kafka_fdw"))->lock;
		kafka_shared->nslots = kafka_max_workers;
	}
	LWLockRelease(AddinShmemInitLock);
}

/*
 * Register the GUCs and, when preloaded, shared memory and the launcher.
 * Called from _PG_init.
 */
void
kafkaWorkerInit(void)
{
	BackgroundWorker bgw;

	DefineCustomIntVariable("kafka_fdw.naptime",
							"Time a kafka_fdw worker sleeps when it has nothing to publish.",
							"Commits of captured changes wake it at once; the naptime bounds how late it notices other changes (a paused stream resumed elsewhere, DROP EXTENSION).",
							&kafka_naptime_ms,
							1000, 10, 3600 * 1000,
							PGC_SIGHUP, GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomIntVariable("kafka_fdw.emitter_batch_size",
							"Changes a kafka_fdw worker publishes in one Kafka transaction (whole chunks of the outbox: at most 999 more; and at most 32 MB of captured rows).",
							NULL,
							&kafka_emitter_batch_size,
							100000, 1, 1000000,
							PGC_SUSET, 0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("kafka_fdw.ingest_batch_size",
							"Maximum number of messages an ingest worker writes in one transaction.",
							NULL,
							&kafka_ingest_batch_size,
							10000, 1, 1000000,
							PGC_SIGHUP, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("kafka_fdw.ingest_upsert_batch_size",
							"Maximum number of messages an upsert ingest job applies in one transaction.",
							"Only the last change of each key in a batch is written: larger batches write fewer rows. "
							"A batch grows beyond its first chunk only while messages are waiting, and holds one row per key.",
							&kafka_ingest_upsert_batch_size,
							1000000, 1, 100000000,
							PGC_SIGHUP, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("kafka_fdw.pipeline_batch_size",
							"Maximum number of offsets a pipeline's statement reads in one batch.",
							"A batch ends at the last stable offsets: it holds this many only while a backlog waits.",
							&kafka_pipeline_batch_size,
							100000, 1, 10000000,
							PGC_SIGHUP, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("kafka_fdw.max_ingest_workers",
							"Maximum number of ingest and pipeline workers of one database.",
							"Jobs beyond it wait for a worker, oldest first, and say so in their last_error.",
							&kafka_max_ingest_workers,
							8, 0, 1024,
							PGC_SIGHUP, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("kafka_fdw.ingest_batch_wait",
							"How long an ingest worker waits for more messages before it writes a batch.",
							NULL,
							&kafka_ingest_batch_wait_ms,
							20, 0, 60000,
							PGC_SIGHUP, GUC_UNIT_MS,
							NULL, NULL, NULL);

	/*
	 * A PGC_POSTMASTER setting can only be defined while preloading (a later
	 * load would be FATAL); without preloading there are no workers.
	 */
	if (!process_shared_preload_libraries_in_progress)
		return;
	kafka_preloaded = true;
	DefineCustomIntVariable("kafka_fdw.max_workers",
							"Maximum number of databases whose changes kafka_fdw streams at once.",
							"Each database with streams uses one background worker (max_worker_processes must leave room for them and the launcher).",
							&kafka_max_workers,
							8, 1, 1000,
							PGC_POSTMASTER, 0,
							NULL, NULL, NULL);

	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = worker_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = worker_shmem_startup;

	memset(&bgw, 0, sizeof(bgw));
	bgw.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	bgw.bgw_start_time = BgWorkerStart_RecoveryFinished;
	bgw.bgw_restart_time = 5;
	snprintf(bgw.bgw_library_name, BGW_MAXLEN, "kafka_fdw");
	snprintf(bgw.bgw_function_name, BGW_MAXLEN, "kafka_launcher_main");
	snprintf(bgw.bgw_name, BGW_MAXLEN, "kafka_fdw launcher");
	snprintf(bgw.bgw_type, BGW_MAXLEN, "kafka_fdw launcher");
	RegisterBackgroundWorker(&bgw);
}

/*
 * ERROR unless kafka_fdw was preloaded: streams need the background workers.
 */
void
kafkaRequireWorkers(void)
{
	if (!kafka_preloaded || kafka_shared == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("kafka_fdw background workers are not running"),
				 errdetail("Streams are published by background workers, which exist only when the library is preloaded."),
				 errhint("Add kafka_fdw to shared_preload_libraries in postgresql.conf and restart the server.")));
}

/*
 * Wake the worker of database dboid, or ask the launcher to start one.
 * Cheap, never errors: safe to call from a commit callback.  A no-op when
 * kafka_fdw was not preloaded.
 */
void
kafkaWakeWorker(Oid dboid)
{
	KafkaWorkerSlot *slot = NULL;
	Latch	   *latch = NULL;
	int			i;

	if (!kafka_preloaded || kafka_shared == NULL || !OidIsValid(dboid))
		return;

	LWLockAcquire(kafka_shared->lock, LW_EXCLUSIVE);
	for (i = 0; i < kafka_shared->nslots; i++)
		if (kafka_shared->slots[i].dboid == dboid)
		{
			slot = &kafka_shared->slots[i];
			break;
		}
	if (slot == NULL)
	{
		for (i = 0; i < kafka_shared->nslots; i++)
			if (kafka_shared->slots[i].dboid == InvalidOid)
			{
				slot = &kafka_shared->slots[i];
				memset(slot, 0, sizeof(*slot));
				slot->dboid = dboid;
				slot->state = KW_REQUESTED;
				break;
			}
		if (slot == NULL)
			kafka_shared->slots_full = true;
	}
	if (slot != NULL)
	{
		slot->wake_pending = true;
		if (slot->latch != NULL)
			latch = slot->latch;
		else
			slot->start_requested = true;
	}
	if (latch == NULL)
		latch = kafka_shared->launcher_latch;
	LWLockRelease(kafka_shared->lock);

	if (latch != NULL)
		SetLatch(latch);
}

static void
wake_xact_callback(XactEvent event, void *arg pg_attribute_unused())
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			if (wake_at_commit)
				kafkaWakeWorker(MyDatabaseId);
			wake_at_commit = false;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			wake_at_commit = false;
			break;
		default:
			break;
	}
}

/*
 * Wake this database's worker when the current transaction commits (what
 * it must see is not visible before).  Nothing happens on abort.
 */
void
kafkaWakeWorkerAtCommit(void)
{
	if (!wake_callback_registered)
	{
		RegisterXactCallback(wake_xact_callback, NULL);
		wake_callback_registered = true;
	}
	wake_at_commit = true;
}

/*
 * Start a transaction of a background worker (the emitter, ingest and
 * per-database workers): its statement start time is now, as for a
 * session's statement, so that now() in it (column defaults, the status
 * columns) is the transaction's start, not the worker's.
 */
void
kafkaWorkerStartTransaction(void)
{
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
}

/* ---------------------------------------------------------------------------
 * The launcher
 * ---------------------------------------------------------------------------
 */

/* A database as the launcher sees it */
typedef struct KafkaDb
{
	Oid			oid;
	bool		allowconn;
	bool		istemplate;
	char		name[NAMEDATALEN];
} KafkaDb;

/*
 * Databases of the cluster, from the shared catalog pg_database (as
 * autovacuum's get_database_list does).  Returns a palloc'd array in the
 * caller's context.
 */
static KafkaDb *
database_list(int *n)
{
	MemoryContext cxt = CurrentMemoryContext;
	KafkaDb    *dbs;
	int			cap = 16;
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;

	dbs = palloc(sizeof(KafkaDb) * cap);
	*n = 0;
	kafkaWorkerStartTransaction();
	(void) GetTransactionSnapshot();
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while (HeapTupleIsValid(tup = heap_getnext(scan, ForwardScanDirection)))
	{
		Form_pg_database pgdb = (Form_pg_database) GETSTRUCT(tup);
		MemoryContext old;

		old = MemoryContextSwitchTo(cxt);
		if (*n == cap)
		{
			cap *= 2;
			dbs = repalloc(dbs, sizeof(KafkaDb) * cap);
		}
		MemoryContextSwitchTo(old);
		dbs[*n].oid = pgdb->oid;
		dbs[*n].allowconn = pgdb->datallowconn;
		dbs[*n].istemplate = pgdb->datistemplate;
		strlcpy(dbs[*n].name, NameStr(pgdb->datname), NAMEDATALEN);
		(*n)++;
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	CommitTransactionCommand();
	MemoryContextSwitchTo(cxt);
	return dbs;
}

static KafkaDb *
find_db(KafkaDb *dbs, int n, Oid oid)
{
	int			i;

	for (i = 0; i < n; i++)
		if (dbs[i].oid == oid)
			return &dbs[i];
	return NULL;
}

/*
 * Should the launcher start slot's worker now?  A worker waiting for its
 * restart delay waits, even if woken: one that fails at once must not be
 * restarted by every commit.
 */
static bool
slot_wants_start(KafkaWorkerSlot *slot, TimestampTz now)
{
	if (slot->dboid == InvalidOid)
		return false;
	if (slot->state == KW_RESTART)
		return slot->restart_at <= now;
	return slot->state == KW_REQUESTED || slot->start_requested;
}

static void
launcher_detach(int code pg_attribute_unused(), Datum arg pg_attribute_unused())
{
	LWLockAcquire(kafka_shared->lock, LW_EXCLUSIVE);
	kafka_shared->launcher_pid = 0;
	kafka_shared->launcher_latch = NULL;
	LWLockRelease(kafka_shared->lock);
}

/*
 * Register a dynamic background worker of kafka_fdw that connects to a
 * database: function (of this library), its bgw_name and bgw_type, main
 * argument and extra bytes (at most BGW_EXTRALEN); it notifies this
 * process.  The handle is allocated in TopMemoryContext.  Returns false if
 * no background worker slot is free.
 */
bool
kafkaStartBgworker(const char *function, const char *name, const char *type, Datum arg,
				   const void *extra, size_t extralen, BackgroundWorkerHandle **handle)
{
	BackgroundWorker bgw;
	MemoryContext old;
	bool		ok;

	if (extralen > BGW_EXTRALEN)
		elog(ERROR, "background worker extra data too long");
	memset(&bgw, 0, sizeof(bgw));
	bgw.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	bgw.bgw_start_time = BgWorkerStart_RecoveryFinished;
	bgw.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(bgw.bgw_library_name, BGW_MAXLEN, "kafka_fdw");
	snprintf(bgw.bgw_function_name, BGW_MAXLEN, "%s", function);
	snprintf(bgw.bgw_name, BGW_MAXLEN, "%s", name);
	snprintf(bgw.bgw_type, BGW_MAXLEN, "%s", type);
	bgw.bgw_main_arg = arg;
	if (extralen > 0)
		memcpy(bgw.bgw_extra, extra, extralen);
	bgw.bgw_notify_pid = MyProcPid;
	old = MemoryContextSwitchTo(TopMemoryContext);
	ok = RegisterDynamicBackgroundWorker(&bgw, handle);
	MemoryContextSwitchTo(old);
	return ok;
}

/* Register the dynamic worker of slot i; false if no bgworker slot was free */
static bool
start_worker(int i, const char *dbname, BackgroundWorkerHandle **handle)
{
	return kafkaStartBgworker("kafka_worker_main", psprintf("kafka_fdw worker for database %s", dbname),
							  "kafka_fdw worker", Int32GetDatum(i), NULL, 0, handle);
}

/*
 * The launcher: keeps a worker running for every database that asked for
 * one (kafkaWakeWorker) and restarts those that died with an error.
 */
void
kafka_launcher_main(Datum arg pg_attribute_unused())
{
	BackgroundWorkerHandle **handles;
	MemoryContext loop_cxt;
	KafkaDb    *dbs;
	int			ndbs;
	int			i;
	bool		warned_full = false;
	bool		warned_bgw = false;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	SetConfigOption("application_name", "kafka_fdw launcher", PGC_USERSET, PGC_S_SESSION);
	pgstat_report_appname("kafka_fdw launcher");

	handles = MemoryContextAllocZero(TopMemoryContext,
									 sizeof(BackgroundWorkerHandle *) * kafka_shared->nslots);
	loop_cxt = AllocSetContextCreate(TopMemoryContext, "kafka_fdw launcher loop",
									 ALLOCSET_DEFAULT_SIZES);

	/* register the exit cleanup before publishing what it cleans */
	before_shmem_exit(launcher_detach, (Datum) 0);
	LWLockAcquire(kafka_shared->lock, LW_EXCLUSIVE);
	kafka_shared->launcher_pid = MyProcPid;
	kafka_shared->launcher_latch = MyLatch;
	kafka_shared->launcher_started = GetCurrentTimestamp();
	LWLockRelease(kafka_shared->lock);

	/*
	 * Workers of an earlier launcher (it died, the postmaster did not
	 * restart) cannot be watched without their handles: stop them and start
	 * them again as ours.
	 */
	for (;;)
	{
		bool		left = false;

		LWLockAcquire(kafka_shared->lock, LW_EXCLUSIVE);
		for (i = 0; i < kafka_shared->nslots; i++)
		{
			KafkaWorkerSlot *slot = &kafka_shared->slots[i];

			if (slot->pid != 0)
			{
				left = true;
				(void) kill(slot->pid, SIGTERM);
			}
			else if (slot->dboid != InvalidOid)
			{
				slot->state = KW_REQUESTED;
				slot->restart = true;
			}
		}
		LWLockRelease(kafka_shared->lock);
		if (!left)
			break;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 100, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}

	/* probe every database that may have streams */
	MemoryContextSwitchTo(loop_cxt);
	dbs = database_list(&ndbs);
	LWLockAcquire(kafka_shared->lock, LW_EXCLUSIVE);
	for (i = 0; i < ndbs; i++)
	{
		int			j,
					freeslot = -1;
		bool		have = false;

		if (!dbs[i].allowconn || dbs[i].istemplate)
			continue;
		for (j = 0; j < kafka_shared->nslots; j++)
		{
			if (kafka_shared->slots[j].dboid == dbs[i].oid)
				have = true;
			else if (kafka_shared->slots[j].dboid == InvalidOid && freeslot < 0)
				freeslot = j;
		}
		if (have)
			continue;
		if (freeslot < 0)
		{
			/* more databases than slots: they start on their first wake */
			ereport(LOG,
					(errmsg("kafka_fdw launcher: not probing database \"%s\": all %d worker slots are in use",
							dbs[i].name, kafka_shared->nslots),
					 errhint("Its worker starts when a stream there is changed; raise kafka_fdw.max_workers to probe all databases at start.")));
			continue;
		}
		memset(&kafka_shared->slots[freeslot], 0, sizeof(KafkaWorkerSlot));
		kafka_shared->slots[freeslot].dboid = dbs[i].oid;
		kafka_shared->slots[freeslot].state = KW_REQUESTED;
		kafka_shared->slots[freeslot].probe = true;
	}
	LWLockRelease(kafka_shared->lock);

	for (;;)
	{
		TimestampTz now;
		long		sleep_ms = 60 * 1000L;
		bool		need_dbs = false;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		MemoryContextReset(loop_cxt);
		MemoryContextSwitchTo(loop_cxt);

		/* workers that stopped: was that the end, or do they come back? */
		for (i = 0; i < kafka_shared->nslots; i++)
		{
			KafkaWorkerSlot *slot = &kafka_shared->slots[i];
			pid_t		pid;

			if (handles[i] == NULL ||
				GetBackgroundWorkerPid(handles[i], &pid) != BGWH_STOPPED)
				continue;
			pfree(handles[i]);
			handles[i] = NULL;
			LWLockAcquire(kafka_shared->lock, LW_EXCLUSIVE);
			slot->pid = 0;
			slot->latch = NULL;
			if (slot->start_requested)
				slot->state = KW_REQUESTED;
			else if (slot->restart)
			{
				/* died with an error (or SIGTERM), or yielded the database */
				if (slot->state != KW_RESTART)
				{
					slot->state = KW_RESTART;
					slot->restart_at = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
																   KAFKA_RESTART_DELAY_MS);
				}
				slot->restarts++;
			}
			else
				slot->state = KW_EXITED;
			LWLockRelease(kafka_shared->lock);
			need_dbs = true;
		}

		/* which slots want a worker now */
		now = GetCurrentTimestamp();
		LWLockAcquire(kafka_shared->lock, LW_SHARED);
		for (i = 0; i < kafka_shared->nslots; i++)
		{
			KafkaWorkerSlot *slot = &kafka_shared->slots[i];

			if (handles[i] != NULL || slot->dboid == InvalidOid)
				continue;
			if (slot_wants_start(slot, now) || slot->state == KW_EXITED)
				need_dbs = true;
			else if (slot->state == KW_RESTART)
				sleep_ms = Min(sleep_ms,
							   Max(1, TimestampDifferenceMilliseconds(now, slot->restart_at)));
		}
		if (kafka_shared->slots_full && !warned_full)
		{
			warned_full = true;
			ereport(WARNING,
					(errmsg("kafka_fdw: all %d worker slots are in use; a database's streams are not published",
							kafka_shared->nslots),
					 errhint("Raise kafka_fdw.max_workers (and max_worker_processes) and restart the server.")));
		}
		LWLockRelease(kafka_shared->lock);

		if (need_dbs)
		{
			dbs = database_list(&ndbs);
			LWLockAcquire(kafka_shared->lock, LW_EXCLUSIVE);
			for (i = 0; i < kafka_shared->nslots; i++)
			{
				KafkaWorkerSlot *slot = &kafka_shared->slots[i];
				KafkaDb    *db;
				bool		start;

				if (handles[i] != NULL || slot->dboid == InvalidOid)
					continue;
				db = find_db(dbs, ndbs, slot->dboid);
				start = slot_wants_start(slot, now);
				if (db == NULL || !db->allowconn || (slot->state == KW_EXITED && !start))
				{
					/* dropped database, or a clean exit nobody asked to undo */
					memset(slot, 0, sizeof(*slot));
					kafka_shared->slots_full = false;
					continue;
				}
				if (!start)
					continue;
				if (!start_worker(i, db->name, &handles[i]))
				{
					handles[i] = NULL;
					if (!warned_bgw)
						ereport(WARNING,
								(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
								 errmsg("kafka_fdw: could not start a worker for database \"%s\": no background worker slot is free",
										db->name),
								 errhint("Raise max_worker_processes.")));
					warned_bgw = true;
					slot->state = KW_RESTART;
					slot->restart_at = TimestampTzPlusMilliseconds(now, KAFKA_RESTART_DELAY_MS);
					sleep_ms = Min(sleep_ms, KAFKA_RESTART_DELAY_MS);
					continue;
				}
				slot->state = KW_STARTING;
				slot->start_requested = false;
				slot->restart = true;	/* until it exits cleanly */
			}
			LWLockRelease(kafka_shared->lock);
		}

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 sleep_ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

/* ---------------------------------------------------------------------------
 * The per-database worker
 * ---------------------------------------------------------------------------
 */

/*
 * emit_log_hook of a worker: remember its last ERROR or FATAL (a worker
 * dies with either) for kafka.workers.  No lock: the error may have been
 * raised while holding it; a torn read only garbles a message.
 */
static void
worker_log_hook(ErrorData *edata)
{
	if (prev_emit_log_hook)
		prev_emit_log_hook(edata);
	if (edata->elevel >= ERROR && my_slot >= 0 && kafka_shared != NULL)
	{
		KafkaWorkerSlot *slot = &kafka_shared->slots[my_slot];

		strlcpy(slot->last_error, edata->message ? edata->message : "unknown error",
				KAFKA_ERROR_LEN);
		slot->last_error_at = GetCurrentTimestamp();
	}
}

static void
worker_detach(int code pg_attribute_unused(), Datum arg pg_attribute_unused())
{
	KafkaWorkerSlot *slot = &kafka_shared->slots[my_slot];

	LWLockAcquire(kafka_shared->lock, LW_EXCLUSIVE);
	slot->latch = NULL;
	slot->pid = 0;
	LWLockRelease(kafka_shared->lock);
}

/* Leave cleanly: unless a wake arrived meanwhile, the launcher lets us go */
static bool
worker_leave(bool come_back)
{
	KafkaWorkerSlot *slot = &kafka_shared->slots[my_slot];

	LWLockAcquire(kafka_shared->lock, LW_EXCLUSIVE);
	if (slot->wake_pending && !come_back)
	{
		LWLockRelease(kafka_shared->lock);
		return false;
	}
	slot->latch = NULL;
	slot->restart = come_back;
	if (come_back)
	{
		slot->state = KW_RESTART;
		slot->restart_at = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													   KAFKA_YIELD_DELAY_MS);
	}
	else
		slot->state = KW_EXITED;
	LWLockRelease(kafka_shared->lock);
	return true;
}

/*
 * Does another session want this database to itself?  DROP DATABASE, ALTER
 * DATABASE RENAME/SET TABLESPACE and CREATE DATABASE ... TEMPLATE lock it
 * (ShareLock or stronger) and then wait a few seconds for other sessions to
 * leave: a lock that conflicts with theirs (as a connecting backend takes)
 * tells.
 */
bool
kafkaDatabaseWanted(void)
{
	LOCKTAG		tag;

	SET_LOCKTAG_OBJECT(tag, InvalidOid, DatabaseRelationId, MyDatabaseId, 0);
	if (LockAcquire(&tag, RowExclusiveLock, false, true) == LOCKACQUIRE_NOT_AVAIL)
		return true;
	LockRelease(&tag, RowExclusiveLock, false);
	return false;
}

/* Inside a transaction: is the extension (1.1 or later) here, with streams or ingest jobs? */
static bool
have_streams(void)
{
	Oid			nsp;

	if (!OidIsValid(get_extension_oid(KAFKA_FDW_NAME, true)))
		return false;
	nsp = get_namespace_oid("kafka", true);
	if (!OidIsValid(nsp) || !OidIsValid(get_relname_relid("stream", nsp)))
		return false;
	return kafkaEmitterHasStreams() || kafkaIngestHasJobs();
}

/*
 * A per-database worker: publishes the streams of its database until there
 * are none (or the extension is dropped), then exits; the launcher starts
 * it again on the next kafkaWakeWorker.
 */
void
kafka_worker_main(Datum arg)
{
	KafkaWorkerSlot *slot;
	Oid			dboid;
	MemoryContext loop_cxt;

	my_slot = DatumGetInt32(arg);
	slot = &kafka_shared->slots[my_slot];

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	LWLockAcquire(kafka_shared->lock, LW_SHARED);
	dboid = slot->dboid;
	LWLockRelease(kafka_shared->lock);
	if (!OidIsValid(dboid))
		proc_exit(0);

	BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);
	SetConfigOption("application_name", "kafka_fdw worker", PGC_USERSET, PGC_S_SESSION);
	pgstat_report_appname("kafka_fdw worker");

	LWLockAcquire(kafka_shared->lock, LW_EXCLUSIVE);
	if (slot->pid != 0 || slot->dboid != dboid)
	{
		/* a worker of an earlier launcher that started late: not needed */
		LWLockRelease(kafka_shared->lock);
		proc_exit(0);
	}
	LWLockRelease(kafka_shared->lock);
	before_shmem_exit(worker_detach, (Datum) 0);
	LWLockAcquire(kafka_shared->lock, LW_EXCLUSIVE);
	slot->pid = MyProcPid;
	slot->latch = MyLatch;
	slot->state = KW_RUNNING;
	slot->start_requested = false;	/* the first check below sees what it asked for */
	slot->started = GetCurrentTimestamp();
	slot->loops = 0;
	slot->events_sent = 0;
	LWLockRelease(kafka_shared->lock);

	loop_cxt = AllocSetContextCreate(TopMemoryContext, "kafka_fdw worker loop",
									 ALLOCSET_DEFAULT_SIZES);
	prev_emit_log_hook = emit_log_hook;
	emit_log_hook = worker_log_hook;

	for (;;)
	{
		bool		streams;
		bool		wanted;
		int64		sent;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		/* wakes from now on are for the check below or a later one */
		LWLockAcquire(kafka_shared->lock, LW_EXCLUSIVE);
		slot->wake_pending = false;
		LWLockRelease(kafka_shared->lock);

		pgstat_report_activity(STATE_RUNNING, "checking streams");
		kafkaWorkerStartTransaction();
		PushActiveSnapshot(GetTransactionSnapshot());
		wanted = kafkaDatabaseWanted();
		streams = !wanted && have_streams();
		PopActiveSnapshot();
		CommitTransactionCommand();
		MemoryContextSwitchTo(loop_cxt);

		if (wanted)
		{
			ereport(LOG,
					(errmsg("kafka_fdw worker leaves database %u: another session needs it to itself",
							MyDatabaseId),
					 errdetail("The launcher starts the worker again in %d s or when a stream of the database changes.",
							   KAFKA_YIELD_DELAY_MS / 1000)));
			worker_leave(true);
			proc_exit(0);
		}
		if (!streams)
		{
			if (worker_leave(false))
			{
				pgstat_report_activity(STATE_IDLE, NULL);
				proc_exit(0);
			}
			continue;		/* a wake arrived: look again */
		}

		/* ingest jobs run in workers of their own: keep them running */
		pgstat_report_activity(STATE_RUNNING, "supervising ingest jobs");
		(void) kafkaIngestSupervise();
		MemoryContextSwitchTo(loop_cxt);

		pgstat_report_activity(STATE_RUNNING, "publishing");
		sent = kafkaEmitterWork();

		LWLockAcquire(kafka_shared->lock, LW_EXCLUSIVE);
		slot->loops++;
		slot->events_sent += sent;
		slot->last_loop = GetCurrentTimestamp();
		LWLockRelease(kafka_shared->lock);

		MemoryContextReset(loop_cxt);
		if (sent == 0)
		{
			pgstat_report_activity(STATE_IDLE, NULL);
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 kafka_naptime_ms, PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
		}
	}
}

/* ---------------------------------------------------------------------------
 * Observability
 * ---------------------------------------------------------------------------
 */

/*
 * kafka.worker_status(): the launcher and every per-database worker slot.
 * Members of pg_read_all_stats (and superusers) see all databases; others
 * see the launcher and the worker of their own database.
 */
Datum
kafka_worker_status(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	bool		all = has_privs_of_role(GetUserId(), ROLE_PG_READ_ALL_STATS);
	KafkaWorkerSlot *copy;
	int			n,
				i;
	pid_t		lpid;
	TimestampTz lstarted;

	InitMaterializedSRF(fcinfo, 0);
	if (kafka_shared == NULL)
		PG_RETURN_VOID();

	n = kafka_shared->nslots;
	copy = palloc(sizeof(KafkaWorkerSlot) * n);
	LWLockAcquire(kafka_shared->lock, LW_SHARED);
	memcpy(copy, kafka_shared->slots, sizeof(KafkaWorkerSlot) * n);
	lpid = kafka_shared->launcher_pid;
	lstarted = kafka_shared->launcher_started;
	LWLockRelease(kafka_shared->lock);

	/* columns: kind, pid, database, state, started, last_loop, loops, events_sent, restarts, last_error, last_error_at */
	{
		Datum		values[11];
		bool		nulls[11];

		memset(nulls, true, sizeof(nulls));
		values[0] = CStringGetTextDatum("launcher");
		nulls[0] = false;
		if (lpid != 0)
		{
			values[1] = Int32GetDatum(lpid);
			nulls[1] = false;
			values[4] = TimestampTzGetDatum(lstarted);
			nulls[4] = false;
		}
		values[3] = CStringGetTextDatum(lpid != 0 ? "running" : "stopped");
		nulls[3] = false;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	for (i = 0; i < n; i++)
	{
		KafkaWorkerSlot *s = &copy[i];
		Datum		values[11];
		bool		nulls[11];

		if (s->dboid == InvalidOid || (!all && s->dboid != MyDatabaseId))
			continue;
		memset(nulls, false, sizeof(nulls));
		values[0] = CStringGetTextDatum("worker");
		values[1] = Int32GetDatum(s->pid);
		nulls[1] = s->pid == 0;
		values[2] = ObjectIdGetDatum(s->dboid);
		values[3] = CStringGetTextDatum(kafka_state_names[s->state]);
		values[4] = TimestampTzGetDatum(s->started);
		nulls[4] = s->started == 0;
		values[5] = TimestampTzGetDatum(s->last_loop);
		nulls[5] = s->last_loop == 0;
		values[6] = Int64GetDatum(s->loops);
		values[7] = Int64GetDatum(s->events_sent);
		values[8] = Int32GetDatum(s->restarts);
		values[9] = CStringGetTextDatum(s->last_error);
		nulls[9] = s->last_error[0] == '\0';
		values[10] = TimestampTzGetDatum(s->last_error_at);
		nulls[10] = s->last_error_at == 0;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	PG_RETURN_VOID();
}
