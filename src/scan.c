/*-------------------------------------------------------------------------
 *
 * scan.c
 *		  Reading a topic as a foreign table: planning (row estimates from
 *		  watermarks, serial and parallel paths), and the scan itself, serial
 *		  or shared among parallel workers.
 *
 * How a scan knows it is complete: when it starts, it takes the high
 * watermark of every partition it reads (the last stable offset under
 * read_committed).  A range [start, end) is done when a message with offset
 * >= end - 1 arrives, or a message beyond it, or partition EOF at or beyond
 * end (EOF before it is an ERROR).  Never a timeout: a scan that makes no
 * progress for timeout_ms fails with an ERROR, it never returns a partial
 * result.
 *
 * Parallel scans: the first participant plans the ranges into the query's
 * DSA; each participant claims several at a time (claim_ranges) and reads
 * them on its own handle like a serial scan, one range per partition at a
 * time, the others pending.
 *
 * Invariants:
 *	- Every message taken from librdkafka is destroyed on every path: the
 *	  batch array is tied to a memory context reset callback, which also
 *	  stops consuming the partitions this scan started on the cached handle.
 *	- Waits are on the latch and the queue's event pipe, in slices, with
 *	  CHECK_FOR_INTERRUPTS between them.
 *
 *-------------------------------------------------------------------------
 */
#include "kafka_fdw.h"

#include <math.h>

#include "access/heapam.h"
#include "access/parallel.h"
#include "access/table.h"
#include "catalog/pg_type.h"
#include "commands/explain.h"
#include "executor/executor.h"
#include "foreign/fdwapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "optimizer/cost.h"
#include "optimizer/optimizer.h"
#include "optimizer/pathnode.h"
#include "optimizer/paths.h"
#include "optimizer/planmain.h"
#include "optimizer/restrictinfo.h"
#include "storage/condition_variable.h"
#include "storage/spin.h"
#include "utils/builtins.h"
#include "utils/dsa.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"


/* Smallest offset slice of one partition handed to a parallel worker */
#define KAFKA_MIN_SLICE 50000
/* Most ranges a parallel participant reads or holds at once */
#define KAFKA_MAX_CLAIM 1024
/* First wait (ms) on an empty queue before waking the fetchers; it doubles */
#define KAFKA_KICK_FIRST_MS 10
/* Longest sleep on an empty queue between two looks at it */
#define KAFKA_BATCH_SLICE_MS 100
/* Messages per 8 kB page, to size a topic for parallel planning */
#define KAFKA_MSGS_PER_PAGE 50

/*
 * fdw_private of a ForeignScan: a list indexed by this enum
 * (kafkaGetForeignPlan builds it, kafkaBeginForeignScan reads it).
 */
enum FdwScanPrivateIndex
{
	FdwScanPrivateQuals,		/* IntList: the pushed-down conditions as a
								 * program of KafkaQualKinds (pushdown.c) */
	FdwScanPrivateQualText,		/* List of String: deparsed quals for EXPLAIN */
	FdwScanPrivateRetrieved,	/* IntList: attnums the query needs */
	FdwScanPrivateLimit,		/* Integer: LIMIT pushed down (-1: none) */
	FdwScanPrivateCount
};

/*
 * A partition's next range at most this many offsets after the end of the
 * one just read is read on in the same pass (the messages between are
 * fetched and dropped, never decoded): restarting the partition there costs
 * a fetch round trip (~10 ms), so thousands of small ranges (an IN list of
 * offsets) took far longer than reading the whole topic.
 */
#define KAFKA_READ_ON_GAP 100

/* Planner state kept in baserel->fdw_private */
typedef struct KafkaPlanState
{
	KafkaOptions *opts;
	double		total;			/* messages in the topic now */
	int			npartitions;	/* partitions in the topic */
	Bitmapset  *attrs;			/* attnums the query needs */
} KafkaPlanState;

/* One range of a parallel scan, in the query's DSA */
typedef struct KafkaSharedRange
{
	KafkaRange	r;
	pg_atomic_uint64 read;		/* messages read from it, for EXPLAIN ANALYZE */
} KafkaSharedRange;

/*
 * Shared state of a parallel scan, in DSM.  Its size is fixed when the plan
 * starts, but the ranges are known only when the first participant starts
 * the scan (parameters, watermarks, the partitions of the topic then): that
 * participant allocates exactly as many as it planned in the query's DSA.
 */
typedef struct KafkaParallelState
{
	slock_t		mutex;
	int			phase;			/* 0: ranges not planned, 1: planning, 2: ready */
	ConditionVariable cv;		/* signalled when phase becomes 2 */
	int			nranges;
	int			next;			/* next range to claim */
	int			participants;	/* planned participants, for fair claims */
	int64		budget;			/* messages one claim takes at most (or one range) */
	dsa_pointer ranges;			/* KafkaSharedRange[nranges], or InvalidDsaPointer */
	pg_atomic_uint64 skipped;
	pg_atomic_uint64 refills;	/* participants' refills, for EXPLAIN ANALYZE */
} KafkaParallelState;

/* A range being read by this participant */
typedef struct ActiveRange
{
	KafkaRange	r;
	int64		next;			/* next offset expected */
	int64		read;			/* messages returned or skipped */
	int64		taken;			/* offset after the last message taken from
								 * the queue (refill), or -1 */
	bool		done;
	int			shared_index;	/* index in the shared array, or -1 */
} ActiveRange;

/* A range claimed or planned but not started (its partition is busy) */
typedef struct PendingRange
{
	KafkaRange	r;
	int			shared_index;	/* index in the shared array, or -1 */
} PendingRange;

typedef struct KafkaScanState
{
	KafkaOptions *opts;
	KafkaRowReader *reader;		/* message to row */
	List	   *qual_program;	/* the pushed-down conditions (pushdown.c) */
	List	   *qual_exprs;		/* ExprStates of the pushed-down values */
	List	   *qual_texts;
	KafkaScanBounds bounds;		/* the pushed-down values, once evaluated */
	bool		have_bounds;
	Bitmapset  *attrs;			/* attnums the query needs */

	KafkaHandle *h;
	rd_kafka_topic_t *rkt;
	bool		started;		/* ranges planned and partitions started */
	List	   *pending;		/* PendingRanges not yet started */
	ActiveRange *active;		/* ranges started on the handle */
	int			nactive;
	int			maxactive;
	int			last_active;	/* index of find_active's last answer */
	int			ndone;

	rd_kafka_message_t **batch; /* messages taken from the queue, all held
								 * until the next batch (free_batch) */
	int			batch_n;
	int			batch_i;		/* the next one to read */
	int			batch_size;		/* messages a batch takes from the queue */
	int			batch_cap;		/* st->batch's capacity (refill may grow it) */

	int64		skipped;
	int64		refills;		/* fetchers woken at a low queue (refill) */
	List	   *finished;		/* ActiveRanges done, for EXPLAIN ANALYZE */
	MemoryContext rowcxt;		/* per message, reset before each */
	MemoryContext scancxt;		/* scan state: ranges, counters */
	KafkaParallelState *pstate;
	dsa_area   *area;			/* parallel: the query's DSA */
	KafkaSharedRange *shared;	/* parallel: the ranges, mapped here */
	MemoryContextCallback cleanup;

	/* error context */
	int32		cur_partition;
	int64		cur_offset;
} KafkaScanState;

/* ---------------------------------------------------------------------
 * Planning
 * ---------------------------------------------------------------------
 */

/* Messages in a topic now: sum of high - low over partitions */
static double
topic_size(KafkaOptions *opts, int *nparts)
{
	rd_kafka_t *rk = kafkaGetMeta(opts);
	int32	   *parts;
	int			n = kafkaTopicPartitions(rk, opts->topic, opts->timeout_ms, &parts);
	double		total = 0;

	for (int i = 0; i < n; i++)
	{
		int64		lo,
					hi;

		kafkaQueryWatermarks(rk, opts->topic, parts[i], opts->timeout_ms, &lo, &hi);
		total += (double) (hi - lo);
	}
	*nparts = n;
	return total;
}

/*
 * Size the relation: the messages in the topic now (or in a pipeline's
 * batch), times the selectivity of the conditions.
 */
static void
kafkaGetForeignRelSize(PlannerInfo *root, RelOptInfo *baserel, Oid foreigntableid)
{
	KafkaPlanState *ps = palloc0(sizeof(KafkaPlanState));
	ListCell   *lc;
	double		sel;

	ps->opts = kafkaGetOptions(foreigntableid, NULL);
	(void) root;
	/* a pipeline's batch (pushdown.c): its offsets, not the whole topic */
	ps->total = kafkaPinnedSize(foreigntableid, &ps->npartitions);
	if (ps->total < 0)
		ps->total = topic_size(ps->opts, &ps->npartitions);

	pull_varattnos((Node *) baserel->reltarget->exprs, baserel->relid, &ps->attrs);
	foreach(lc, baserel->baserestrictinfo)
		pull_varattnos((Node *) ((RestrictInfo *) lfirst(lc))->clause, baserel->relid, &ps->attrs);

	sel = clauselist_selectivity(root, baserel->baserestrictinfo, 0, JOIN_INNER, NULL);
	baserel->tuples = ps->total;
	baserel->rows = clamp_row_est(ps->total * sel);
	baserel->fdw_private = ps;
}

/* A serial path, and a parallel one when the topic is big enough */
static void
kafkaGetForeignPaths(PlannerInfo *root, RelOptInfo *baserel, Oid foreigntableid)
{
	KafkaPlanState *ps = baserel->fdw_private;
	/* reading and decoding a message costs about what a heap tuple does */
	Cost		startup = 10 + 2 * ps->npartitions;
	Cost		per_msg = cpu_tuple_cost * 4 + (bms_num_members(ps->attrs) > 0 ? cpu_operator_cost * 10 : 0);
	Cost		total = startup + per_msg * baserel->tuples;

	(void) foreigntableid;

	add_path(baserel, (Path *) create_foreignscan_path(root, baserel, NULL, baserel->rows,
													   startup, total, NIL, NULL, NULL, NIL));

	/*
	 * Parallel: partitions (or slices of them) shared among workers.  The
	 * worker count follows the rules for tables, with the topic's size in
	 * pages estimated at KAFKA_MSGS_PER_PAGE messages a page.
	 */
	if (baserel->consider_parallel && ps->total > 0)
	{
		int			workers = compute_parallel_worker(baserel, ps->total / KAFKA_MSGS_PER_PAGE, -1,
													  max_parallel_workers_per_gather);
		ForeignPath *pp;

		if (workers > 0)
		{
			double		divisor = workers + (parallel_leader_participation ? 1 : 0);

			pp = create_foreignscan_path(root, baserel, NULL, clamp_row_est(baserel->rows / divisor),
										 startup, startup + (total - startup) / divisor,
										 NIL, NULL, NULL, NIL);
			pp->path.parallel_aware = true;
			pp->path.parallel_safe = true;
			pp->path.parallel_workers = workers;
			add_partial_path(baserel, (Path *) pp);
		}
	}
}

/*
 * The plan: the conditions pushdown.c can evaluate become a program in
 * fdw_private (with their values in fdw_exprs), all of them stay quals.
 */
static ForeignScan *
kafkaGetForeignPlan(PlannerInfo *root, RelOptInfo *baserel, Oid foreigntableid,
					ForeignPath *best_path, List *tlist, List *scan_clauses, Plan *outer_plan)
{
	KafkaPlanState *ps = baserel->fdw_private;
	List	   *program,
			   *exprs,
			   *texts;
	List	   *attrs = NIL;
	int			x = -1;
	List	   *fdw_private;
	int			limit = -1;

	(void) foreigntableid;
	(void) best_path;
	kafkaExtractQuals(root, baserel, ps->opts, scan_clauses, &program, &exprs, &texts);
	while ((x = bms_next_member(ps->attrs, x)) >= 0)
		attrs = lappend_int(attrs, x + FirstLowInvalidHeapAttributeNumber);

	/* a LIMIT over this relation alone bounds what the first batch fetches */
	if (root->limit_tuples > 0 && bms_membership(root->all_baserels) == BMS_SINGLETON &&
		root->limit_tuples < INT_MAX)
		limit = (int) root->limit_tuples;

	fdw_private = list_make4(program, texts, attrs, makeInteger(limit));
	scan_clauses = extract_actual_clauses(scan_clauses, false);
	return make_foreignscan(tlist, scan_clauses, baserel->relid, exprs, fdw_private,
							NIL, NIL, outer_plan);
}

/* ---------------------------------------------------------------------
 * Execution
 * ---------------------------------------------------------------------
 */

/*
 * Destroy the batch's messages.  They are destroyed together rather than
 * each after it is read: librdkafka's broker thread allocates them while it
 * fetches, and a free of each between decodes contended with it for the
 * allocator's lock.
 */
static void
free_batch(KafkaScanState *st)
{
	for (int i = 0; i < st->batch_n; i++)
		rd_kafka_message_destroy(st->batch[i]);
	st->batch_n = st->batch_i = 0;
}

/* Stop the partitions this scan started and destroy held messages */
static void
release_scan(KafkaScanState *st)
{
	free_batch(st);
	if (st->rkt)
	{
		for (int i = 0; i < st->nactive; i++)
			if (st->active[i].r.partition >= 0)
				rd_kafka_consume_stop(st->rkt, st->active[i].r.partition);
		st->nactive = 0;
		rd_kafka_topic_destroy(st->rkt);
		st->rkt = NULL;
		/* what was fetched but not read must not outlive the scan */
		kafkaDrainQueue(st->h);
	}
	/* the idle handle may be retired (connection.c): forget it */
	if (st->h)
		st->h->in_use = false;
	st->h = NULL;
}

static void
cleanup_callback(void *arg)
{
	release_scan((KafkaScanState *) arg);
}

static void
scan_error_context(void *arg)
{
	KafkaScanState *st = arg;

	if (st->cur_partition >= 0)
		errcontext("Kafka message at partition %d offset " INT64_FORMAT " of topic \"%s\"",
				   st->cur_partition, st->cur_offset, st->opts->topic);
}

/*
 * Set up decoding and batching for st->opts and st->attrs, with cleanup tied
 * to the current memory context.  limit > 0 bounds the first batch.
 */
static void
init_reader(KafkaScanState *st, int limit)
{
	st->cur_partition = -1;
	st->reader = kafkaRowReaderCreate(st->opts, st->attrs);
	st->batch_size = st->opts->batch_size;
	if (limit > 0 && limit < st->batch_size)
		st->batch_size = Max(limit, 1);
	st->batch_cap = st->opts->batch_size;
	st->batch = palloc(sizeof(rd_kafka_message_t *) * st->batch_cap);
	st->rowcxt = AllocSetContextCreate(CurrentMemoryContext, "kafka_fdw row", ALLOCSET_DEFAULT_SIZES);
	st->scancxt = CurrentMemoryContext;
	st->cleanup.func = cleanup_callback;
	st->cleanup.arg = st;
	MemoryContextRegisterResetCallback(CurrentMemoryContext, &st->cleanup);
}

static void
kafkaBeginForeignScan(ForeignScanState *node, int eflags)
{
	ForeignScan *plan = (ForeignScan *) node->ss.ps.plan;
	KafkaScanState *st = palloc0(sizeof(KafkaScanState));
	Relation	rel = node->ss.ss_currentRelation;
	ListCell   *lc;
	int			limit;

	node->fdw_state = st;
	st->opts = kafkaGetOptions(RelationGetRelid(rel), rel);
	st->qual_program = list_nth(plan->fdw_private, FdwScanPrivateQuals);
	st->qual_texts = list_nth(plan->fdw_private, FdwScanPrivateQualText);
	foreach(lc, (List *) list_nth(plan->fdw_private, FdwScanPrivateRetrieved))
		st->attrs = bms_add_member(st->attrs, lfirst_int(lc));
	limit = intVal(list_nth(plan->fdw_private, FdwScanPrivateLimit));
	st->cur_partition = -1;

	if (eflags & EXEC_FLAG_EXPLAIN_ONLY)
		return;

	st->qual_exprs = ExecInitExprList(plan->fdw_exprs, (PlanState *) node);
	init_reader(st, limit);
}

/* Start reading a range on the handle */
static void
start_range(KafkaScanState *st, KafkaRange *r, int shared_index)
{
	ActiveRange *a = &st->active[st->nactive];

	a->r = *r;
	a->next = r->start;
	a->read = 0;
	a->taken = -1;
	a->done = false;
	a->shared_index = shared_index;
	a->r.partition = -1;		/* not started yet: nothing to stop */
	st->nactive++;
	if (rd_kafka_consume_start_queue(st->rkt, r->partition, r->start, st->h->queue) != 0)
		kafkaReportError(rd_kafka_last_error(),
						 psprintf("could not start reading topic \"%s\" partition %d", st->opts->topic, r->partition),
						 st->opts->topic);
	a->r.partition = r->partition;
}

/* Note a range as read, for EXPLAIN ANALYZE (and the shared counts) */
static void
record_finished(KafkaScanState *st, ActiveRange *a)
{
	ActiveRange *f = MemoryContextAlloc(st->scancxt, sizeof(ActiveRange));
	MemoryContext old = MemoryContextSwitchTo(st->scancxt);

	*f = *a;
	st->finished = lappend(st->finished, f);
	MemoryContextSwitchTo(old);
	if (st->shared && a->shared_index >= 0)
		pg_atomic_add_fetch_u64(&st->shared[a->shared_index].read, a->read);
}

/* Move finished ranges out of the active array */
static void
retire_done(KafkaScanState *st)
{
	int			j = 0;

	for (int i = 0; i < st->nactive; i++)
	{
		ActiveRange *a = &st->active[i];

		if (a->done)
		{
			rd_kafka_consume_stop(st->rkt, a->r.partition);
			record_finished(st, a);
		}
		else
			st->active[j++] = *a;
	}
	st->nactive = j;
}

/*
 * Range a has just been read, its partition's fetcher having delivered up
 * to offset seen: if the partition's next pending range starts after seen
 * and at most KAFKA_READ_ON_GAP offsets after a's end, a goes on as that
 * range, on the same fetch (no stop and restart of the partition); the
 * messages before its start are dropped by offset.  The pending ranges
 * are interleaved by partition, so the search is short.
 */
static void
read_on(KafkaScanState *st, ActiveRange *a, int64 seen)
{
	ListCell   *lc;

	foreach(lc, st->pending)
	{
		PendingRange *p = lfirst(lc);

		if (p->r.partition != a->r.partition)
			continue;
		if (p->r.start <= seen || p->r.start - a->r.end > KAFKA_READ_ON_GAP)
			return;
		record_finished(st, a);
		a->r = p->r;
		a->next = p->r.start;
		a->read = 0;
		a->done = false;
		a->shared_index = p->shared_index;
		st->pending = list_delete_nth_cell(st->pending, foreach_current_index(lc));
		pfree(p);
		return;
	}
}

/* Is a range of this partition being read? */
static bool
partition_active(KafkaScanState *st, int32 partition)
{
	for (int i = 0; i < st->nactive; i++)
		if (st->active[i].r.partition == partition)
			return true;
	return false;
}

/* Queue a range to start once its partition is free */
static void
add_pending(KafkaScanState *st, KafkaRange *r, int shared_index)
{
	PendingRange *p = MemoryContextAlloc(st->scancxt, sizeof(PendingRange));
	MemoryContext old = MemoryContextSwitchTo(st->scancxt);

	p->r = *r;
	p->shared_index = shared_index;
	st->pending = lappend(st->pending, p);
	MemoryContextSwitchTo(old);
}

/*
 * Start pending ranges whose partition became free, in their order: a
 * partition's ranges are read one after the other, in offset order.
 */
static void
start_pending(KafkaScanState *st)
{
	ListCell   *lc;
	MemoryContext old = MemoryContextSwitchTo(st->scancxt);

	foreach(lc, st->pending)
	{
		PendingRange *p = lfirst(lc);

		if (st->nactive >= st->maxactive)
			break;
		if (partition_active(st, p->r.partition))
			continue;
		st->pending = foreach_delete_current(st->pending, lc);
		start_range(st, &p->r, p->shared_index);
		pfree(p);
	}
	MemoryContextSwitchTo(old);
}

/*
 * Parallel: once this participant has read all it claimed, claim more
 * ranges nobody reads; false if none is left.  Ranges are handed out in
 * their shared order; one claim takes consecutive ranges up to the budget
 * (a slice's worth of messages), at most a fair share of those left (so
 * that many small ranges spread over the participants), and at least one.
 * A slice of a large partition is a budget by itself: it is claimed alone,
 * and the slices stay balanced among the participants.  The claimed ranges
 * are started at once on the handle, one per partition, as the serial scan
 * does; the others wait in st->pending for their partition.
 */
static bool
claim_ranges(KafkaScanState *st)
{
	KafkaParallelState *ps = st->pstate;
	int			first,
				n;

	Assert(st->nactive == 0 && st->pending == NIL);
	for (;;)
	{
		int			nranges;
		int			participants;
		int64		budget;
		int64		held = 0;
		bool		won;

		SpinLockAcquire(&ps->mutex);
		first = ps->next;
		nranges = ps->nranges;
		participants = ps->participants;
		budget = ps->budget;
		SpinLockRelease(&ps->mutex);
		if (first >= nranges)
			return false;

		/*
		 * Size the claim outside the lock (the shared array does not change
		 * once planned), then take it if nobody claimed meanwhile.
		 */
		{
			int			left = nranges - first;
			int			share = Max(1, Min(st->maxactive, (left + participants - 1) / participants));

			n = 0;
			do
			{
				held += st->shared[first + n].r.end - st->shared[first + n].r.start;
				n++;
			} while (n < share &&
					 held + (st->shared[first + n].r.end - st->shared[first + n].r.start) <= budget);
		}
		SpinLockAcquire(&ps->mutex);
		won = (ps->next == first);
		if (won)
			ps->next = first + n;
		SpinLockRelease(&ps->mutex);
		if (won)
			break;
	}
	for (int i = first; i < first + n; i++)
		add_pending(st, &st->shared[i].r, i);
	start_pending(st);
	return true;
}

/*
 * Interleave the partitions of ranges, whose ranges of one partition are
 * consecutive (runs): round k takes the k-th range of every run that has
 * one.  A partition's ranges keep their order.
 */
static List *
interleave_partitions(List *ranges)
{
	int			n = list_length(ranges);
	int		   *pos = palloc(sizeof(int) * (n + 1));	/* run k: [pos[k], end[k]) */
	int		   *end = palloc(sizeof(int) * (n + 1));
	int			nruns = 0;
	int			taken = 0;
	List	   *out = NIL;

	for (int i = 0; i < n; i++)
	{
		if (i == 0 || ((KafkaRange *) list_nth(ranges, i))->partition !=
			((KafkaRange *) list_nth(ranges, i - 1))->partition)
			pos[nruns++] = i;
		end[nruns - 1] = i + 1;
	}
	while (taken < n)
		for (int k = 0; k < nruns; k++)
			if (pos[k] < end[k])
			{
				out = lappend(out, list_nth(ranges, pos[k]++));
				taken++;
			}
	pfree(pos);
	pfree(end);
	return out;
}

/*
 * Parallel: split ranges into slices so that workers can share one large
 * partition, and interleave the partitions (the first range of each, then
 * the second of each, ...) so that one claim of many small ranges spans
 * many partitions, which one handle reads at once.  A partition's slices
 * keep their offset order.  *slice is the size of a slice.
 */
static List *
slice_ranges(List *ranges, int participants, int64 *slice)
{
	int64		total = 0;
	List	   *sliced = NIL;
	ListCell   *lc;

	foreach(lc, ranges)
	{
		KafkaRange *r = lfirst(lc);

		total += r->end - r->start;
	}
	*slice = Max(KAFKA_MIN_SLICE, total / (participants * 4) + 1);
	foreach(lc, ranges)
	{
		KafkaRange *r = lfirst(lc);

		for (int64 s = r->start; s < r->end; s += *slice)
		{
			KafkaRange *n = palloc(sizeof(KafkaRange));

			n->partition = r->partition;
			n->start = s;
			n->end = Min(r->end, s + *slice);
			sliced = lappend(sliced, n);
		}
	}

	return interleave_partitions(sliced);
}

/* Take a consumer handle of our own, its queue empty */
static void
open_handle(KafkaScanState *st)
{
	/* another scan in this query may be using a handle: kafkaGetConsumer skips it */
	st->h = kafkaGetConsumer(st->opts);
	kafkaDrainQueue(st->h);
	st->h->in_use = true;
	st->rkt = rd_kafka_topic_new(st->h->rk, st->opts->topic, NULL);
}

/*
 * Serial: start all partitions at once; a partition's later ranges wait,
 * interleaved by partition (read_on and start_pending look for the next
 * range of a partition from the start of the pending list)
 */
static void
start_serial(KafkaScanState *st, List *ranges)
{
	ListCell   *lc;

	st->maxactive = Max(list_length(ranges), 1);
	st->active = palloc0(sizeof(ActiveRange) * st->maxactive);
	foreach(lc, interleave_partitions(ranges))
	{
		KafkaRange *r = lfirst(lc);

		if (partition_active(st, r->partition))
			add_pending(st, r, -1);
		else
			start_range(st, r, -1);
	}
}

/*
 * The query's DSA, where a parallel scan keeps its ranges.  The executor
 * installs it while a participant runs the plan; we remember it for
 * EXPLAIN ANALYZE at shutdown, when it is no longer installed.
 */
static dsa_area *
shared_area(KafkaScanState *st)
{
	if (st->area == NULL)
		elog(ERROR, "kafka_fdw: parallel scan without a query DSA area");
	return st->area;
}

/* Evaluate the pushed-down conditions with the values they have now */
static void
eval_bounds(KafkaScanState *st, ExprContext *econtext)
{
	if (st->have_bounds && st->bounds.boxes)
		pfree(st->bounds.boxes);	/* a rescan's */
	kafkaEvalBounds(st->qual_program, st->qual_exprs, econtext, &st->bounds);
	st->have_bounds = true;
}

/* Plan the ranges (evaluating pushed-down values) and start reading */
static void
start_scan(ForeignScanState *node)
{
	KafkaScanState *st = node->fdw_state;
	List	   *ranges = NIL;
	ExprContext *econtext = node->ss.ps.ps_ExprContext;
	MemoryContext old = MemoryContextSwitchTo(st->scancxt);

	open_handle(st);

	if (st->pstate)
	{
		KafkaParallelState *ps = st->pstate;
		bool		plan_it = false;

		SpinLockAcquire(&ps->mutex);
		if (ps->phase == 0)
		{
			ps->phase = 1;
			plan_it = true;
		}
		SpinLockRelease(&ps->mutex);
		if (plan_it)
		{
			ListCell   *lc;
			int			n;
			int64		slice;
			dsa_pointer dp = InvalidDsaPointer;

			eval_bounds(st, econtext);
			ranges = kafkaPlanRanges(st->opts, kafkaGetMeta(st->opts), &st->bounds);
			ranges = slice_ranges(ranges, max_parallel_workers_per_gather + 1, &slice);
			n = list_length(ranges);
			if (n > 0)
			{
				KafkaSharedRange *sr;
				int			i = 0;

				dp = dsa_allocate_extended(shared_area(st), sizeof(KafkaSharedRange) * (Size) n,
										   DSA_ALLOC_HUGE);
				sr = dsa_get_address(st->area, dp);
				foreach(lc, ranges)
				{
					sr[i].r = *(KafkaRange *) lfirst(lc);
					pg_atomic_init_u64(&sr[i].read, 0);
					i++;
				}
			}
			SpinLockAcquire(&ps->mutex);
			ps->ranges = dp;
			ps->nranges = n;
			ps->participants = max_parallel_workers_per_gather + 1;
			ps->budget = slice;
			ps->phase = 2;
			SpinLockRelease(&ps->mutex);
			ConditionVariableBroadcast(&ps->cv);
		}
		else
		{
			for (;;)
			{
				int			phase;

				SpinLockAcquire(&ps->mutex);
				phase = ps->phase;
				SpinLockRelease(&ps->mutex);
				if (phase == 2)
					break;
				ConditionVariableSleep(&ps->cv, PG_WAIT_EXTENSION);
			}
			ConditionVariableCancelSleep();
		}
		/* phase 2 is final until a rescan: ranges and nranges stay as they are */
		st->shared = DsaPointerIsValid(ps->ranges) ?
			dsa_get_address(shared_area(st), ps->ranges) : NULL;
		st->maxactive = KAFKA_MAX_CLAIM;
		st->active = palloc0(sizeof(ActiveRange) * st->maxactive);
		if (st->shared)
			(void) claim_ranges(st);
	}
	else
	{
		eval_bounds(st, econtext);
		ranges = kafkaPlanRanges(st->opts, kafkaGetMeta(st->opts), &st->bounds);
		start_serial(st, ranges);
	}
	st->started = true;
	MemoryContextSwitchTo(old);
}

/*
 * Decode one message into the slot (message.c applies the on_error
 * policy).  Returns false if the message is skipped.
 */
static bool
fill_slot(KafkaScanState *st, rd_kafka_message_t *m, TupleTableSlot *slot)
{
	if (kafkaMessageToRow(st->reader, m, slot->tts_values, slot->tts_isnull) == KAFKA_ROW_SKIP)
	{
		st->skipped++;
		return false;
	}
	return true;
}

/*
 * Wake the fetchers of the ranges being read (the refill stall:
 * kafkaFetchersStopped): a seek to the offset after the last message taken
 * wakes the broker thread at once.  It drops nothing we need (the queue is
 * empty when we call this, and a message we already had would be skipped by
 * its offset).
 */
static void
kick_fetchers(KafkaScanState *st)
{
	for (int i = 0; i < st->nactive; i++)
	{
		ActiveRange *a = &st->active[i];

		if (!a->done)
			rd_kafka_seek(st->rkt, a->r.partition, Max(a->next, a->taken), 0);
	}
}

/*
 * The active range a message belongs to, or NULL.  Messages come in runs of
 * one partition (a fetch response's record batches), so the last answer is
 * tried first: a scan of many partitions does not search them per message.
 */
static inline ActiveRange *
find_active(KafkaScanState *st, int32 partition)
{
	ActiveRange *a;

	if (st->last_active < st->nactive)
	{
		a = &st->active[st->last_active];
		if (a->r.partition == partition && !a->done)
			return a;
	}
	for (int i = 0; i < st->nactive; i++)
	{
		a = &st->active[i];
		if (a->r.partition == partition && !a->done)
		{
			st->last_active = i;
			return a;
		}
	}
	return NULL;
}

/*
 * Keep librdkafka fetching while the scan decodes (kafkaFetchersStopped
 * explains the refill stall): once the fetchers stopped at a full queue and
 * the queue has fallen to a quarter of that (or a batch), take all of it as
 * the next batch and seek each range's partition to the offset after the
 * last message taken, which wakes the broker thread; the queue is empty, so
 * the seek drops nothing.  Returns true if it took a batch.
 */
static bool
refill(KafkaScanState *st)
{
	int			low = Max(st->opts->batch_size, st->h->queued_min / 4);
	ssize_t		n;

	if (!kafkaFetchersStopped(st->h, low))
		return false;
	if (st->batch_cap <= low)
	{
		st->batch = repalloc(st->batch, sizeof(rd_kafka_message_t *) * (low + 1));
		st->batch_cap = low + 1;
	}
	n = rd_kafka_consume_batch_queue(st->h->queue, 0, st->batch, st->batch_cap);
	st->batch_n = (int) Max(n, 0);
	for (int i = 0; i < st->batch_n; i++)
	{
		rd_kafka_message_t *m = st->batch[i];
		ActiveRange *a;

		if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR && (a = find_active(st, m->partition)) != NULL)
			a->taken = Max(a->taken, m->offset + 1);
	}
	kick_fetchers(st);
	kafkaFetchersWoken(st->h);
	st->refills++;
	return st->batch_n > 0;
}

/*
 * Partition EOF for an active range: the fetcher reached the end of the
 * partition at offset m->offset.  The range is done if that end is at or
 * beyond the range's end.  An end before it contradicts the watermark the
 * scan planned with (the partition lost messages, or the EOF is not what
 * it seems): that is an error, never a shorter result.
 */
static void
eof_reached(KafkaScanState *st, ActiveRange *a, rd_kafka_message_t *m, ErrorContextCallback *errcb)
{
	int64		at = m->offset;

	if (at >= a->r.end)
	{
		a->done = true;
		return;
	}
	if (at < a->next)
		return;					/* an end seen before messages we already have */
	error_context_stack = errcb->previous;
	ereport(ERROR,
			(errcode(ERRCODE_FDW_ERROR),
			 errmsg("partition %d of Kafka topic \"%s\" ended at offset " INT64_FORMAT ", before offset " INT64_FORMAT " the scan planned to read up to",
					a->r.partition, st->opts->topic, at, a->r.end),
			 errdetail("The partition held offset " INT64_FORMAT " when the scan started.", a->r.end - 1),
			 errhint("Messages may have been deleted or the partition truncated while it was read; run the query again.")));
}

/*
 * One round of the wait for the next batch (kafkaWaitUntil): take what the
 * queue holds; while it stays empty, wake the fetchers after 10, 20, 40 ...
 * ms (at most every second) and sleep on the queue's event pipe until the
 * next wake-up, at most the slice.
 */
typedef struct BatchWait
{
	KafkaScanState *st;
	int64		start_ms;		/* when the queue was first found empty */
	long		kick_interval;	/* ms until the wake-up after next */
	long		next_kick;		/* ms after start_ms of the next wake-up */
} BatchWait;

static KafkaWaitStep
batch_step(void *arg, int slice_ms)
{
	BatchWait  *w = arg;
	KafkaScanState *st = w->st;
	ssize_t		n;
	long		waited;

	n = rd_kafka_consume_batch_queue(st->h->queue, 0, st->batch, st->batch_size);
	if (n > 0)
	{
		st->batch_n = (int) n;
		st->batch_size = st->opts->batch_size;
		return KAFKA_WAIT_DONE;
	}
	kafkaServeLogs(st->h->rk);
	waited = (long) (kafkaNowMs() - w->start_ms);
	if (waited >= w->next_kick)
	{
		kick_fetchers(st);
		w->kick_interval = Min(w->kick_interval * 2, 1000);
		w->next_kick = waited + w->kick_interval;
	}
	/* sleep until the next wake-up, within the slice; interrupts are served */
	kafkaWaitHandleEvent(st->h, Max(1, Min(slice_ms, w->next_kick - waited)));
	return KAFKA_WAIT_AGAIN;
}

/* Are there ranges still to read? Starts claimed ones in parallel mode. */
static bool
more_to_read(KafkaScanState *st)
{
	retire_done(st);
	if (st->pending != NIL)
		start_pending(st);
	if (st->nactive == 0 && st->pending == NIL && st->pstate && st->shared)
		(void) claim_ranges(st);
	return st->nactive > 0;
}

/*
 * The next message of the scan as a virtual tuple in slot, or NULL at the
 * end; the scan must have been started.
 */
static TupleTableSlot *
next_message(KafkaScanState *st, TupleTableSlot *slot)
{
	ErrorContextCallback errcb;

	ExecClearTuple(slot);
	MemoryContextReset(st->rowcxt);

	errcb.callback = scan_error_context;
	errcb.arg = st;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;

	for (;;)
	{
		while (st->batch_i < st->batch_n)
		{
			rd_kafka_message_t *m = st->batch[st->batch_i++];
			ActiveRange *a = find_active(st, m->partition);
			bool		emit = false;

			if (a != NULL)
			{
				if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
					eof_reached(st, a, m, &errcb);
				else if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR)
				{
					rd_kafka_resp_err_t err = m->err;

					error_context_stack = errcb.previous;
					kafkaReportError(err, psprintf("could not read topic \"%s\" partition %d at offset " INT64_FORMAT,
												   st->opts->topic, a->r.partition, a->next),
									 st->opts->topic);
				}
				else if (m->offset >= a->r.end)
				{
					a->done = true;
					read_on(st, a, m->offset);
				}
				else if (m->offset >= a->next)
				{
					MemoryContext old = MemoryContextSwitchTo(st->rowcxt);

					st->cur_partition = m->partition;
					st->cur_offset = m->offset;
					a->next = m->offset + 1;
					a->read++;
					emit = fill_slot(st, m, slot);
					MemoryContextSwitchTo(old);
					if (a->next >= a->r.end)
					{
						a->done = true;
						read_on(st, a, m->offset);
					}
				}
			}
			if (emit)
			{
				error_context_stack = errcb.previous;
				st->cur_partition = -1;
				return ExecStoreVirtualTuple(slot);
			}
		}
		st->cur_partition = -1;

		if (!more_to_read(st))
			break;

		/* take the next batch; wait on the event pipe while the queue is empty */
		free_batch(st);
		if (refill(st))
			continue;
		{
			BatchWait w = {st, 0, KAFKA_KICK_FIRST_MS, KAFKA_KICK_FIRST_MS};

			w.start_ms = kafkaNowMs();
			if (!kafkaWaitUntil(w.start_ms + st->opts->timeout_ms, KAFKA_BATCH_SLICE_MS, NULL,
								batch_step, &w))
			{
				error_context_stack = errcb.previous;
				ereport(ERROR,
						(errcode(ERRCODE_FDW_UNABLE_TO_ESTABLISH_CONNECTION),
						 errmsg("no message from Kafka topic \"%s\" partition %d within %d ms, offset " INT64_FORMAT " expected",
								st->opts->topic, st->active[0].r.partition, st->opts->timeout_ms, st->active[0].next),
						 errhint("Check that Kafka is running; the wait is bounded by the option \"timeout_ms\".")));
			}
		}
	}
	error_context_stack = errcb.previous;

	if (st->skipped > 0 && st->pstate == NULL)
		ereport(NOTICE,
				(errmsg("skipped " INT64_FORMAT " malformed messages in topic \"%s\"", st->skipped, st->opts->topic)));
	if (st->pstate && st->skipped > 0)
	{
		pg_atomic_add_fetch_u64(&st->pstate->skipped, st->skipped);
		st->skipped = 0;
	}
	if (st->pstate && st->refills > 0)
	{
		pg_atomic_add_fetch_u64(&st->pstate->refills, st->refills);
		st->refills = 0;
	}
	release_scan(st);
	return NULL;
}

static TupleTableSlot *
kafkaIterateForeignScan(ForeignScanState *node)
{
	KafkaScanState *st = node->fdw_state;

	if (!st->started)
		start_scan(node);
	return next_message(st, node->ss.ss_ScanTupleSlot);
}

static void
kafkaReScanForeignScan(ForeignScanState *node)
{
	KafkaScanState *st = node->fdw_state;

	release_scan(st);
	st->started = false;
	st->shared = NULL;			/* ReInitializeDSM frees them */
	st->pending = NIL;
	st->finished = NIL;
	st->skipped = 0;
	st->refills = 0;
}

static void
kafkaEndForeignScan(ForeignScanState *node)
{
	KafkaScanState *st = node->fdw_state;

	if (st)
		release_scan(st);
}

/* Append an offset range: "5", "[5, 10)" or ">= 5" (sep: ", " or ",") */
static void
append_offsets(StringInfo buf, const KafkaBox *x, const char *sep)
{
	if (x->ohi == KAFKA_OFFSET_END)
		appendStringInfo(buf, ">= " INT64_FORMAT, x->olo);
	else if (x->ohi == x->olo + 1)
		appendStringInfo(buf, INT64_FORMAT, x->olo);
	else
		appendStringInfo(buf, "[" INT64_FORMAT "%s" INT64_FORMAT ")", x->olo, sep, x->ohi);
}

/*
 * EXPLAIN a set of partitions and offsets (not empty, not everything).
 * When every selected partition has the same offset ranges, as "Kafka
 * partitions" and "Kafka offsets"; otherwise as "Kafka ranges", one entry
 * per partition interval and offset range: "p1 [100,201), p2-3 7, p5- >= 10".
 */
static void
explain_boxes(KafkaScanBounds *b, ExplainState *es)
{
	StringInfoData buf;
	int			ng = 0;			/* partition intervals */
	int			glen = 0;		/* boxes of the first one */
	bool		product;		/* all intervals have the first one's offsets */

	while (glen < b->nboxes && b->boxes[glen].plo == b->boxes[0].plo)
		glen++;
	for (int i = 0; i < b->nboxes; i++)
		if (i == 0 || b->boxes[i].plo != b->boxes[i - 1].plo)
			ng++;
	product = (b->nboxes == ng * glen);
	for (int i = 0; product && i < b->nboxes; i++)
		product = b->boxes[i].olo == b->boxes[i % glen].olo &&
			b->boxes[i].ohi == b->boxes[i % glen].ohi &&
			b->boxes[i].plo == b->boxes[i - i % glen].plo;

	initStringInfo(&buf);
	if (!product)
	{
		for (int i = 0; i < b->nboxes; i++)
		{
			const KafkaBox *x = &b->boxes[i];

			if (i > 0)
				appendStringInfoString(&buf, ", ");
			if (x->phi == KAFKA_PARTITION_END)
				appendStringInfo(&buf, "p" INT64_FORMAT "-", x->plo);
			else if (x->phi == x->plo + 1)
				appendStringInfo(&buf, "p" INT64_FORMAT, x->plo);
			else
				appendStringInfo(&buf, "p" INT64_FORMAT "-" INT64_FORMAT, x->plo, x->phi - 1);
			appendStringInfoChar(&buf, ' ');
			append_offsets(&buf, x, ",");
		}
		ExplainPropertyText("Kafka ranges", buf.data, es);
		return;
	}

	/* partitions: the intervals, short ones as numbers */
	if (ng > 1 || b->boxes[0].plo > 0 || b->boxes[0].phi < KAFKA_PARTITION_END)
	{
		for (int i = 0; i < b->nboxes; i += glen)
		{
			const KafkaBox *x = &b->boxes[i];

			if (buf.len > 0)
				appendStringInfoString(&buf, ", ");
			if (x->phi == KAFKA_PARTITION_END)
				appendStringInfo(&buf, ">= " INT64_FORMAT, x->plo);
			else if (x->phi - x->plo <= 8)
			{
				for (int64 p = x->plo; p < x->phi; p++)
					appendStringInfo(&buf, "%s" INT64_FORMAT, p > x->plo ? ", " : "", p);
			}
			else
				appendStringInfo(&buf, "[" INT64_FORMAT ", " INT64_FORMAT ")", x->plo, x->phi);
		}
		ExplainPropertyText("Kafka partitions", buf.data, es);
	}
	resetStringInfo(&buf);
	if (glen > 1 || b->boxes[0].olo > 0 || b->boxes[0].ohi < KAFKA_OFFSET_END)
	{
		for (int i = 0; i < glen; i++)
		{
			if (i > 0)
				appendStringInfoString(&buf, ", ");
			append_offsets(&buf, &b->boxes[i], ", ");
		}
		ExplainPropertyText("Kafka offsets", buf.data, es);
	}
}

/*
 * EXPLAIN the partitions and offsets the pushed-down clauses select: as
 * evaluated by the scan, or, before it runs, when all values are constants.
 */
static void
explain_bounds(ForeignScanState *node, KafkaScanState *st, ExplainState *es)
{
	KafkaScanBounds *b = &st->bounds;
	ListCell   *lc;

	if (!st->have_bounds)
	{
		List	   *exprs = ((ForeignScan *) node->ss.ps.plan)->fdw_exprs;
		ExprContext *econtext;

		foreach(lc, exprs)
			if (!IsA(lfirst(lc), Const))
				return;			/* parameters: known when the scan runs */
		econtext = CreateStandaloneExprContext();
		kafkaEvalBounds(st->qual_program, ExecInitExprList(exprs, NULL), econtext, b);
		FreeExprContext(econtext, true);
		st->have_bounds = true;
	}

	if (b->nboxes == 0)
	{
		ExplainPropertyText("Kafka partitions", "none (the conditions exclude every message)", es);
		return;
	}
	if (!kafkaBoundsAll(b))
		explain_boxes(b, es);
	if (b->widened)
		ExplainPropertyText("Kafka ranges widened",
							psprintf("the conditions select more than %d ranges", KAFKA_MAX_PUSHDOWN_RANGES), es);
	if (b->ts_lo >= 0 && es->verbose)
		ExplainPropertyInteger("Kafka timestamp from", "ms", b->ts_lo, es);
}

/* Append "pN [start,end): read" for EXPLAIN ANALYZE VERBOSE */
static void
explain_range(StringInfo buf, ActiveRange *a, int64 *total)
{
	if (buf->len > 0)
		appendStringInfoString(buf, ", ");
	appendStringInfo(buf, "p%d [" INT64_FORMAT "," INT64_FORMAT "): " INT64_FORMAT,
					 a->r.partition, a->r.start, a->r.end, a->read);
	*total += a->read;
}

static void
kafkaExplainForeignScan(ForeignScanState *node, ExplainState *es)
{
	KafkaScanState *st = node->fdw_state;
	ListCell   *lc;

	ExplainPropertyText("Kafka topic", st->opts->topic, es);
	ExplainPropertyText("Kafka format", kafkaFormatName(st->opts->format), es);
	if (st->qual_texts != NIL)
	{
		StringInfoData buf;

		initStringInfo(&buf);
		foreach(lc, st->qual_texts)
		{
			if (buf.len > 0)
				appendStringInfoString(&buf, " AND ");
			appendStringInfoString(&buf, strVal(lfirst(lc)));
		}
		ExplainPropertyText("Kafka pushdown", buf.data, es);
		explain_bounds(node, st, es);
	}
	if (es->analyze)
	{
		StringInfoData buf;
		int64		total = 0;

		initStringInfo(&buf);
		foreach(lc, st->finished)
			explain_range(&buf, lfirst(lc), &total);
		/* ranges still active when the scan was stopped early (LIMIT) */
		for (int i = 0; i < st->nactive; i++)
			explain_range(&buf, &st->active[i], &total);
		ExplainPropertyInteger("Kafka messages read", NULL, total, es);
		if (buf.len > 0 && es->verbose)
			ExplainPropertyText("Kafka ranges read", buf.data, es);
		ExplainPropertyInteger("Kafka messages skipped", NULL, st->skipped, es);
		/* only when it happened: a scan over more than queued.min.messages */
		if (st->refills > 0)
			ExplainPropertyInteger("Kafka queue refills", NULL, st->refills, es);
	}
}

/* ---- ANALYZE ---- */

/*
 * Sample rows for ANALYZE: in each partition, about targrows * share of the
 * topic, read as ten evenly spaced runs of consecutive messages, so that old
 * and new data both count without reading the whole topic.  Bad messages are
 * skipped whatever on_error says.
 */
static int
kafka_acquire_sample_rows(Relation rel, int elevel, HeapTuple *rows, int targrows,
						  double *totalrows, double *totaldeadrows)
{
	KafkaScanState *st = palloc0(sizeof(KafkaScanState));
	TupleDesc	tupdesc = RelationGetDescr(rel);
	TupleTableSlot *slot = MakeSingleTupleTableSlot(tupdesc, &TTSOpsVirtual);
	MemoryContext caller = CurrentMemoryContext;
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "kafka_fdw analyze", ALLOCSET_DEFAULT_SIZES);
	KafkaScanBounds bounds;
	List	   *ranges;
	List	   *samples = NIL;
	ListCell   *lc;
	double		total = 0;
	int			nrows = 0;

	MemoryContextSwitchTo(cxt);
	st->opts = kafkaGetOptions(RelationGetRelid(rel), rel);
	st->opts->on_error = KAFKA_ON_ERROR_SKIP;
	for (int i = 1; i <= tupdesc->natts; i++)
		st->attrs = bms_add_member(st->attrs, i);
	init_reader(st, 0);
	kafkaEvalBounds(NIL, NIL, NULL, &bounds);
	ranges = kafkaPlanRanges(st->opts, kafkaGetMeta(st->opts), &bounds);
	foreach(lc, ranges)
		total += ((KafkaRange *) lfirst(lc))->end - ((KafkaRange *) lfirst(lc))->start;
	foreach(lc, ranges)
	{
		KafkaRange *r = lfirst(lc);
		int64		len = r->end - r->start;
		int64		want = (int64) ceil(targrows * (len / Max(total, 1)));
		int64		run = Max(1, (want + 9) / 10);
		int64		step = Max(run, len / 10);

		for (int64 s = r->start; s < r->end && want > 0; s += step)
		{
			KafkaRange *x = palloc(sizeof(KafkaRange));

			x->partition = r->partition;
			x->start = s;
			x->end = Min(r->end, s + Min(run, want));
			want -= x->end - x->start;
			samples = lappend(samples, x);
		}
	}
	open_handle(st);
	start_serial(st, samples);
	st->started = true;
	while (nrows < targrows && next_message(st, slot) != NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(caller);

		rows[nrows++] = heap_form_tuple(tupdesc, slot->tts_values, slot->tts_isnull);
		MemoryContextSwitchTo(old);
	}
	release_scan(st);
	ExecDropSingleTupleTableSlot(slot);
	MemoryContextSwitchTo(caller);
	MemoryContextDelete(cxt);

	*totalrows = total;
	*totaldeadrows = 0;
	ereport(elevel,
			(errmsg("\"%s\": sampled %d of %.0f messages", RelationGetRelationName(rel), nrows, total)));
	return nrows;
}

static bool
kafkaAnalyzeForeignTable(Relation relation, AcquireSampleRowsFunc *func, BlockNumber *totalpages)
{
	KafkaOptions *opts = kafkaGetOptions(RelationGetRelid(relation), relation);
	int			nparts;

	*func = kafka_acquire_sample_rows;
	*totalpages = (BlockNumber) Min(topic_size(opts, &nparts) / KAFKA_MSGS_PER_PAGE + 1, MaxBlockNumber);
	return true;
}

/* ---- parallel ---- */

/*
 * Parallel workers cannot start subtransactions: a scan whose bad messages
 * are skipped or junked in subtransactions (a needed column may run
 * user-defined code, see message.c) stays in the leader.
 */
static bool
kafkaIsForeignScanParallelSafe(PlannerInfo *root, RelOptInfo *rel, RangeTblEntry *rte)
{
	KafkaOptions *opts = kafkaGetOptions(rte->relid, NULL);
	Bitmapset  *offsets = NULL;
	Bitmapset  *attrs = NULL;
	ListCell   *lc;
	int			x = -1;

	(void) root;
	if (opts->on_error == KAFKA_ON_ERROR_FAIL)
		return true;
	pull_varattnos((Node *) rel->reltarget->exprs, rel->relid, &offsets);
	foreach(lc, rel->baserestrictinfo)
		pull_varattnos((Node *) ((RestrictInfo *) lfirst(lc))->clause, rel->relid, &offsets);
	while ((x = bms_next_member(offsets, x)) >= 0)
		if (x + FirstLowInvalidHeapAttributeNumber >= 0)	/* no system columns */
			attrs = bms_add_member(attrs, x + FirstLowInvalidHeapAttributeNumber);
	return !kafkaRowNeedsSubxact(opts, attrs);
}

static Size
kafkaEstimateDSMForeignScan(ForeignScanState *node, ParallelContext *pcxt)
{
	(void) node;
	(void) pcxt;
	return sizeof(KafkaParallelState);
}

static void
init_pstate(KafkaParallelState *ps)
{
	SpinLockInit(&ps->mutex);
	ps->phase = 0;
	ps->nranges = 0;
	ps->next = 0;
	ps->participants = 1;
	ps->budget = 0;
	ps->ranges = InvalidDsaPointer;
	ConditionVariableInit(&ps->cv);
	pg_atomic_init_u64(&ps->skipped, 0);
	pg_atomic_init_u64(&ps->refills, 0);
}

static void
kafkaInitializeDSMForeignScan(ForeignScanState *node, ParallelContext *pcxt, void *coordinate)
{
	KafkaScanState *st = node->fdw_state;

	(void) pcxt;
	init_pstate((KafkaParallelState *) coordinate);
	st->pstate = coordinate;
	st->area = node->ss.ps.state->es_query_dsa;
}

/* A rescan: the ranges are planned again (parameters may have changed) */
static void
kafkaReInitializeDSMForeignScan(ForeignScanState *node, ParallelContext *pcxt, void *coordinate)
{
	KafkaScanState *st = node->fdw_state;
	KafkaParallelState *ps = coordinate;

	(void) pcxt;
	if (DsaPointerIsValid(ps->ranges))
		dsa_free(shared_area(st), ps->ranges);
	st->shared = NULL;
	init_pstate(ps);
}

static void
kafkaInitializeWorkerForeignScan(ForeignScanState *node, shm_toc *toc, void *coordinate)
{
	KafkaScanState *st = node->fdw_state;

	(void) toc;
	st->pstate = coordinate;
	st->area = node->ss.ps.state->es_query_dsa;
}

/* Before DSM goes away: collect what all participants read, for EXPLAIN */
static void
kafkaShutdownForeignScan(ForeignScanState *node)
{
	KafkaScanState *st = node->fdw_state;
	KafkaParallelState *ps = st ? st->pstate : NULL;

	if (ps == NULL || IsParallelWorker())
		return;
	st->finished = NIL;
	if (ps->phase == 2 && DsaPointerIsValid(ps->ranges))
	{
		KafkaSharedRange *sr = dsa_get_address(shared_area(st), ps->ranges);

		for (int i = 0; i < ps->nranges; i++)
		{
			ActiveRange *a = palloc0(sizeof(ActiveRange));

			a->r = sr[i].r;
			a->read = pg_atomic_read_u64(&sr[i].read);
			st->finished = lappend(st->finished, a);
		}
	}
	st->skipped += pg_atomic_read_u64(&ps->skipped);
	st->refills += pg_atomic_read_u64(&ps->refills);
	if (st->skipped > 0)
		ereport(NOTICE,
				(errmsg("skipped " INT64_FORMAT " malformed messages in topic \"%s\"", st->skipped, st->opts->topic)));
	st->pstate = NULL;
}

void
kafkaSetScanRoutines(FdwRoutine *routine)
{
	routine->GetForeignRelSize = kafkaGetForeignRelSize;
	routine->GetForeignPaths = kafkaGetForeignPaths;
	routine->GetForeignPlan = kafkaGetForeignPlan;
	routine->BeginForeignScan = kafkaBeginForeignScan;
	routine->IterateForeignScan = kafkaIterateForeignScan;
	routine->ReScanForeignScan = kafkaReScanForeignScan;
	routine->EndForeignScan = kafkaEndForeignScan;
	routine->ExplainForeignScan = kafkaExplainForeignScan;
	routine->AnalyzeForeignTable = kafkaAnalyzeForeignTable;
	routine->IsForeignScanParallelSafe = kafkaIsForeignScanParallelSafe;
	routine->EstimateDSMForeignScan = kafkaEstimateDSMForeignScan;
	routine->InitializeDSMForeignScan = kafkaInitializeDSMForeignScan;
	routine->ReInitializeDSMForeignScan = kafkaReInitializeDSMForeignScan;
	routine->InitializeWorkerForeignScan = kafkaInitializeWorkerForeignScan;
	routine->ShutdownForeignScan = kafkaShutdownForeignScan;
}
