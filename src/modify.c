/*-------------------------------------------------------------------------
 *
 * modify.c
 *		  Writing to a topic: INSERT and COPY FROM produce one message per
 *		  row; UPDATE and DELETE are refused (topics are append-only).
 *
 *		  The FDW callbacks only: a statement encodes each row (encode.c)
 *		  and sends it through a producer (producer.c), which tracks the
 *		  delivery reports.  EndForeignModify waits, interruptibly, until
 *		  every message is acknowledged or failed, and raises an ERROR that
 *		  says how many failed and why.  RETURNING waits for each row, to
 *		  return its partition and offset.
 *
 * Invariants:
 *	- The producer lives in the statement's memory context: an ERROR ends
 *	  it (producer.c purges what a non-transactional statement left).
 *	- Transactional tables: messages go into the Kafka transaction of the
 *	  PostgreSQL transaction (xact.c), committed or aborted with it.
 *
 *-------------------------------------------------------------------------
 */
#include "kafka_fdw.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/explain.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "parser/parsetree.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/timestamp.h"


/* Serve delivery reports every so many rows of a row-by-row insert (COPY) */
#define KAFKA_POLL_EVERY 1024

/* State of one INSERT or COPY into a foreign table */
typedef struct KafkaModifyState
{
	KafkaOptions *opts;
	KafkaEncoder *enc;
	KafkaProducer *p;			/* NULL: EXPLAIN only, or ended */
	MemoryContext rowcxt;		/* per row, reset before each */
	int64		rows;			/* rows produced */
} KafkaModifyState;

/* ---------------------------------------------------------------------
 * Errors
 * ---------------------------------------------------------------------
 */

/*
 * UPDATE and DELETE: a topic is a log.  Raised at plan time, before any
 * scan of the topic is planned.
 */
static void
append_only_error(CmdType op, Relation rel)
{
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("cannot %s foreign table \"%s\": Kafka topics are append-only",
					op == CMD_UPDATE ? "update" : "delete from", RelationGetRelationName(rel)),
			 errdetail("Messages in a Kafka topic cannot be changed or removed one by one; only INSERT is supported."),
			 errhint("Insert a new message instead. To stream the changes of a table to Kafka, use kafka.stream_changes() on that table.")));
}

/* ---------------------------------------------------------------------
 * Producing one row
 * ---------------------------------------------------------------------
 */

/* The partition column's value, checked against the topic */
static int32
row_partition(KafkaModifyState *st, KafkaColumn *col, Datum d)
{
	int64		p = col->typid == INT8OID ? DatumGetInt64(d) :
		col->typid == INT2OID ? DatumGetInt16(d) : DatumGetInt32(d);
	int			nparts = kafkaProducerPartitions(st->p);

	if (p < 0 || p >= nparts)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("partition " INT64_FORMAT " does not exist in Kafka topic \"%s\"", p, st->opts->topic),
				 errdetail("The topic has %d partitions, numbered from 0.", nparts),
				 errhint("Leave the partition column NULL to let the partitioner choose.")));
	return (int32) p;
}

/* The timestamp column's value in milliseconds since the Unix epoch */
static int64
row_timestamp(KafkaColumn *col, Datum d)
{
	int64		ms;

	if (col->typid == INT8OID)
		ms = DatumGetInt64(d);
	else
	{
		Timestamp	ts = DatumGetTimestamp(d);	/* timestamptz alike */

		if (TIMESTAMP_NOT_FINITE(ts))
			ereport(ERROR,
					(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
					 errmsg("message timestamp cannot be infinite")));
		/* floor division: microseconds before 2000 are negative */
		ms = kafkaTimestampToMs(ts);
	}
	/* librdkafka takes 0 as "now", and Kafka has no timestamps before 1970 */
	if (ms <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("message timestamp must be after 1970-01-01 00:00:00 UTC"),
				 errhint("Leave the timestamp column NULL to use the time of the insert.")));
	return ms;
}

/*
 * Encode a row and send it (wait: RETURNING, which waits for it).  Does not
 * wait for the broker.
 */
static void
produce_row(KafkaModifyState *st, TupleTableSlot *slot, bool wait)
{
	KafkaOptions *o = st->opts;
	MemoryContext old;
	Datum	   *values;
	bool	   *nulls;
	const char *payload = NULL;
	size_t		plen = 0;
	const char *key = NULL;
	size_t		klen = 0;
	int32		partition = RD_KAFKA_PARTITION_UA;
	int64		ts = 0;
	KafkaHeader *hdrs = NULL;
	int			nhdrs = 0;

	st->rows++;
	MemoryContextReset(st->rowcxt);
	old = MemoryContextSwitchTo(st->rowcxt);
	slot_getallattrs(slot);
	values = slot->tts_values;
	nulls = slot->tts_isnull;

	if (!kafkaEncodeValue(st->enc, values, nulls, &payload, &plen))
		payload = NULL;			/* tombstone */
	if (o->key_attnum && !nulls[o->key_attnum - 1])
		kafkaEncodeKey(st->enc, values, nulls, &key, &klen);
	if (o->partition_attnum && !nulls[o->partition_attnum - 1])
		partition = row_partition(st, &o->columns[o->partition_attnum - 1], values[o->partition_attnum - 1]);
	if (o->timestamp_attnum && !nulls[o->timestamp_attnum - 1])
		ts = row_timestamp(&o->columns[o->timestamp_attnum - 1], values[o->timestamp_attnum - 1]);
	if (o->headers_attnum && !nulls[o->headers_attnum - 1])
		nhdrs = kafkaEncodeHeaders(st->enc, values[o->headers_attnum - 1], &hdrs);
	MemoryContextSwitchTo(old);

	(void) kafkaProducerSend(st->p, NULL, partition, key, klen, payload, plen, hdrs, nhdrs, ts, wait);
}

/* ---------------------------------------------------------------------
 * Statement set-up and clean-up
 * ---------------------------------------------------------------------
 */

/*
 * Set up a statement writing to rinfo's foreign table: options, encoder,
 * the writer handle and a producer on it (a missing topic is an error
 * here, not a message timeout later), and, for transactional tables, the
 * Kafka transaction.
 */
static void
begin_modify(EState *estate, ResultRelInfo *rinfo, bool explain_only)
{
	Relation	rel = rinfo->ri_RelationDesc;
	MemoryContext old = MemoryContextSwitchTo(estate->es_query_cxt);
	KafkaModifyState *st = palloc0(sizeof(KafkaModifyState));
	KafkaHandle *h;

	st->opts = kafkaGetOptions(RelationGetRelid(rel), rel);
	rinfo->ri_FdwState = st;
	if (explain_only)
	{
		MemoryContextSwitchTo(old);
		return;
	}

	st->enc = kafkaEncoderCreate(st->opts);
	st->rowcxt = AllocSetContextCreate(estate->es_query_cxt, "kafka_fdw insert row",
									   ALLOCSET_DEFAULT_SIZES);
	h = kafkaProducerHandle(st->opts, NULL);
	st->p = kafkaProducerBegin(h, st->opts->topic, st->opts->timeout_ms,
							   st->opts->transactional ? KAFKA_PRODUCE_XACT : KAFKA_PRODUCE_PLAIN,
							   estate->es_query_cxt);
	if (st->opts->transactional)
		kafkaXactEnlist(h, st->opts);
	MemoryContextSwitchTo(old);
}

/* End of a statement: wait for the broker, report failures, release */
static void
end_modify(ResultRelInfo *rinfo)
{
	KafkaModifyState *st = rinfo->ri_FdwState;

	if (st == NULL || st->p == NULL)
		return;
	kafkaProducerWait(st->p);
	kafkaProducerCheck(st->p);
	kafkaProducerEnd(st->p);
	st->p = NULL;
}

/* ---------------------------------------------------------------------
 * FDW callbacks
 * ---------------------------------------------------------------------
 */

static int
kafkaIsForeignRelUpdatable(Relation rel)
{
	(void) rel;
	return (1 << CMD_INSERT);
}

static void
kafkaAddForeignUpdateTargets(PlannerInfo *root, Index rtindex, RangeTblEntry *target_rte,
							 Relation target_relation)
{
	(void) rtindex;
	(void) target_rte;
	append_only_error(root->parse->commandType, target_relation);
}

static List *
kafkaPlanForeignModify(PlannerInfo *root, ModifyTable *plan, Index resultRelation, int subplan_index)
{
	(void) subplan_index;
	if (plan->operation == CMD_UPDATE || plan->operation == CMD_DELETE)
	{
		RangeTblEntry *rte = planner_rt_fetch(resultRelation, root);
		Relation	rel = table_open(rte->relid, NoLock);

		append_only_error(plan->operation, rel);
	}
	return NIL;
}

static void
kafkaBeginForeignModify(ModifyTableState *mtstate, ResultRelInfo *rinfo, List *fdw_private,
						int subplan_index, int eflags)
{
	(void) fdw_private;
	(void) subplan_index;
	begin_modify(mtstate->ps.state, rinfo, (eflags & EXEC_FLAG_EXPLAIN_ONLY) != 0);
}

static void
kafkaBeginForeignInsert(ModifyTableState *mtstate, ResultRelInfo *rinfo)
{
	begin_modify(mtstate->ps.state, rinfo, false);
}

/*
 * Rows per ExecForeignBatchInsert call: the option insert_batch_size, 1 by
 * default, and always 1 where PostgreSQL needs each row back at once
 * (RETURNING, WITH CHECK OPTION, row triggers).
 *
 * Why 1 by default: production is asynchronous either way (nothing waits
 * per batch; librdkafka batches messages itself), while PostgreSQL's batch
 * path copies every row and its plan row into batch slots first.  INSERT
 * ... SELECT of a million rows measured 30% slower with batches of 10000.
 */
static int
kafkaGetForeignModifyBatchSize(ResultRelInfo *rinfo)
{
	KafkaModifyState *st = rinfo->ri_FdwState;
	TriggerDesc *trig = rinfo->ri_TrigDesc;
	KafkaOptions *o;

	if (rinfo->ri_projectReturning != NULL || rinfo->ri_WithCheckOptions != NIL ||
		(trig && (trig->trig_insert_before_row || trig->trig_insert_after_row)))
		return 1;
	o = st ? st->opts : kafkaGetOptions(RelationGetRelid(rinfo->ri_RelationDesc), rinfo->ri_RelationDesc);
	return Max(1, o->insert_batch_size);
}

static TupleTableSlot **
kafkaExecForeignBatchInsert(EState *estate, ResultRelInfo *rinfo, TupleTableSlot **slots,
							TupleTableSlot **planSlots, int *numSlots)
{
	KafkaModifyState *st = rinfo->ri_FdwState;

	(void) estate;
	(void) planSlots;
	for (int i = 0; i < *numSlots; i++)
		produce_row(st, slots[i], false);
	/* fail fast: a delivery failure reported already ends the statement */
	kafkaProducerPoll(st->p);
	return slots;
}

/* RETURNING: wait for the row, put the partition, offset and timestamp Kafka assigned into the slot */
static void
fill_returning(KafkaModifyState *st, TupleTableSlot *slot)
{
	int32		partition;
	int64		offset;
	int64		ts_ms;
	KafkaOptions *o = st->opts;
	TupleDesc	desc = slot->tts_tupleDescriptor;
	/* scratch in the row context; the tuple itself belongs to the slot */
	Datum	   *values = MemoryContextAlloc(st->rowcxt, sizeof(Datum) * desc->natts);
	bool	   *nulls = MemoryContextAlloc(st->rowcxt, sizeof(bool) * desc->natts);
	HeapTuple	tuple;

	kafkaProducerWaitMessage(st->p, &partition, &offset, &ts_ms);
	slot_getallattrs(slot);
	memcpy(values, slot->tts_values, sizeof(Datum) * desc->natts);
	memcpy(nulls, slot->tts_isnull, sizeof(bool) * desc->natts);
	/* a timestamp given on input stays */
	kafkaSetMetaColumns(o, values, nulls, partition, offset,
						o->timestamp_attnum && nulls[o->timestamp_attnum - 1] ? ts_ms : -1);
	tuple = heap_form_tuple(desc, values, nulls);
	ExecForceStoreHeapTuple(tuple, slot, true);
}

/*
 * One row: COPY FROM, and INSERTs that cannot batch.  Waits for the broker
 * only under RETURNING.
 */
static TupleTableSlot *
kafkaExecForeignInsert(EState *estate, ResultRelInfo *rinfo, TupleTableSlot *slot,
					   TupleTableSlot *planSlot)
{
	KafkaModifyState *st = rinfo->ri_FdwState;

	(void) estate;
	(void) planSlot;
	produce_row(st, slot, rinfo->ri_projectReturning != NULL);
	if (rinfo->ri_projectReturning != NULL)
		fill_returning(st, slot);	/* waits for the row */
	else if (st->rows % KAFKA_POLL_EVERY == 0)
		kafkaProducerPoll(st->p);
	return slot;
}

static void
kafkaEndForeignModify(EState *estate, ResultRelInfo *rinfo)
{
	(void) estate;
	end_modify(rinfo);
}

static void
kafkaEndForeignInsert(EState *estate, ResultRelInfo *rinfo)
{
	(void) estate;
	end_modify(rinfo);
}

static void
kafkaExplainForeignModify(ModifyTableState *mtstate, ResultRelInfo *rinfo, List *fdw_private,
						  int subplan_index, ExplainState *es)
{
	KafkaModifyState *st = rinfo->ri_FdwState;

	(void) mtstate;
	(void) fdw_private;
	(void) subplan_index;
	if (st == NULL)
		return;
	ExplainPropertyText("Kafka topic", st->opts->topic, es);
	ExplainPropertyText("Kafka format", kafkaFormatName(st->opts->format), es);
	if (st->opts->transactional)
		ExplainPropertyText("Kafka transactional", "true", es);
	if (es->analyze)
		ExplainPropertyInteger("Kafka messages produced", NULL, st->rows, es);
}

void
kafkaSetModifyRoutines(FdwRoutine *routine)
{
	routine->IsForeignRelUpdatable = kafkaIsForeignRelUpdatable;
	routine->AddForeignUpdateTargets = kafkaAddForeignUpdateTargets;
	routine->PlanForeignModify = kafkaPlanForeignModify;
	routine->BeginForeignModify = kafkaBeginForeignModify;
	routine->ExecForeignInsert = kafkaExecForeignInsert;
	routine->ExecForeignBatchInsert = kafkaExecForeignBatchInsert;
	routine->GetForeignModifyBatchSize = kafkaGetForeignModifyBatchSize;
	routine->EndForeignModify = kafkaEndForeignModify;
	routine->BeginForeignInsert = kafkaBeginForeignInsert;
	routine->EndForeignInsert = kafkaEndForeignInsert;
	routine->ExplainForeignModify = kafkaExplainForeignModify;
}
