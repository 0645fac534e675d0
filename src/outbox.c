/*-------------------------------------------------------------------------
 *
 * outbox.c
 *		  Change capture for the table-change emitter: kafka.capture(), the
 *		  trigger function of the kafka_capture_* statement triggers that
 *		  kafka.stream_changes() creates on a source table.
 *
 *		  Each INSERT, UPDATE or DELETE statement calls it once with its
 *		  transition tables (kafka_new, kafka_old); every row becomes one
 *		  event row in kafka.outbox (op c, u or d, the full old and new rows
 *		  as row_to_json writes them), inserted in chunks of CAPTURE_CHUNK
 *		  rows by one saved INSERT ... SELECT FROM unnest(...) plan.  A
 *		  TRUNCATE adds one event with op t.  At commit, an XactCallback
 *		  wakes this database's emitter worker (kafkaWakeWorkerAtCommit), so that
 *		  publishing starts at once instead of at the next poll.
 *
 * Invariants:
 *	- Capture happens inside the writer's transaction: the outbox rows
 *	  commit or roll back (whole transaction or savepoint) with the change
 *	  itself, so a rolled-back change leaves nothing and a committed one is
 *	  never lost.
 *	- Nothing here talks to Kafka: a writer never waits for, nor fails
 *	  because of, the broker.
 *	- event_id (bigserial) is drawn at the end of the statement, after the
 *	  statement took its row locks, so for one key event_ids grow in
 *	  commit order; the publisher sends in event_id order.
 *	- The outbox is not writable by PUBLIC: the insert runs as the owner of
 *	  kafka.outbox (the extension owner), in a restricted security context.
 *	  A trigger may only feed the stream of the table it fires on.
 *
 *-------------------------------------------------------------------------
 */
#include "kafka_fdw.h"

#include "access/xact.h"
#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"
#include "utils/tuplestore.h"

PG_FUNCTION_INFO_V1(kafka_capture);

/* Rows per INSERT into kafka.outbox */
#define CAPTURE_CHUNK 10000

/* The saved plan of the outbox INSERT (per backend) */
static SPIPlanPtr insert_plan = NULL;

/*
 * The relation the stream feeds from, or InvalidOid if the stream is gone
 * (a trigger left behind by a stream stopped in this transaction).
 */
static Oid
stream_relid(int32 stream_id)
{
	Datum		arg = Int32GetDatum(stream_id);
	Oid			argtype = INT4OID;
	Oid			relid = InvalidOid;

	if (SPI_execute_with_args("SELECT relid::oid FROM kafka.stream WHERE stream_id = $1",
							  1, &argtype, &arg, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read kafka.stream");
	if (SPI_processed == 1)
	{
		bool		isnull;

		relid = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	}
	return relid;
}

/* Insert n events (ops, before, after arrays of n) into kafka.outbox */
static void
insert_events(int32 stream_id, int n, Datum *ops, Datum *before, bool *before_null,
			  Datum *after, bool *after_null)
{
	Datum		args[4];
	int			dims[1] = {n};
	int			lbs[1] = {1};

	if (n == 0)
		return;
	if (insert_plan == NULL)
	{
		Oid			types[4] = {INT4OID, CHARARRAYOID, JSONARRAYOID, JSONARRAYOID};
		SPIPlanPtr	plan;

		plan = SPI_prepare("INSERT INTO kafka.outbox (stream_id, op, before, after) "
						   "SELECT $1, u.op, u.b, u.a FROM unnest($2, $3, $4) AS u(op, b, a)",
						   4, types);
		if (plan == NULL)
			elog(ERROR, "could not prepare the outbox insert: %s", SPI_result_code_string(SPI_result));
		SPI_keepplan(plan);
		insert_plan = plan;
	}
	args[0] = Int32GetDatum(stream_id);
	args[1] = PointerGetDatum(construct_md_array(ops, NULL, 1, dims, lbs, CHAROID, 1, true, TYPALIGN_CHAR));
	args[2] = PointerGetDatum(construct_md_array(before, before_null, 1, dims, lbs, JSONOID, -1, false, TYPALIGN_INT));
	args[3] = PointerGetDatum(construct_md_array(after, after_null, 1, dims, lbs, JSONOID, -1, false, TYPALIGN_INT));
	if (SPI_execute_plan(insert_plan, args, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not insert into kafka.outbox");
}

/* The row in slot as json, as row_to_json() writes it */
static Datum
row_json(TupleTableSlot *slot)
{
	return DirectFunctionCall1(row_to_json, ExecFetchSlotHeapTupleDatum(slot));
}

/*
 * kafka.capture(stream_id): AFTER ... FOR EACH STATEMENT trigger with
 * transition tables.  Old and new tuplestores of an UPDATE hold the rows in
 * the same order, so the i-th old row is the before image of the i-th new
 * row.
 */
Datum
kafka_capture(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	Trigger    *trig;
	int32		stream_id;
	char		op;
	Oid			save_userid;
	int			save_sec_context;
	Oid			outbox_owner;
	Oid			relid;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("kafka.capture() must be called as a trigger"),
				 errhint("Use kafka.stream_changes() to capture the changes of a table.")));
	trig = td->tg_trigger;
	if (!TRIGGER_FIRED_AFTER(td->tg_event) || !TRIGGER_FIRED_FOR_STATEMENT(td->tg_event) ||
		trig->tgnargs != 1)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("kafka.capture() must be an AFTER ... FOR EACH STATEMENT trigger with the stream id as argument"),
				 errhint("Use kafka.stream_changes() to create the triggers.")));
	stream_id = pg_strtoint32(trig->tgargs[0]);

	if (TRIGGER_FIRED_BY_INSERT(td->tg_event))
		op = 'c';
	else if (TRIGGER_FIRED_BY_UPDATE(td->tg_event))
		op = 'u';
	else if (TRIGGER_FIRED_BY_DELETE(td->tg_event))
		op = 'd';
	else
		op = 't';
	if ((op == 'c' && td->tg_newtable == NULL) ||
		(op == 'u' && (td->tg_newtable == NULL || td->tg_oldtable == NULL)) ||
		(op == 'd' && td->tg_oldtable == NULL))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("kafka.capture() needs the transition tables of the statement"),
				 errhint("Use kafka.stream_changes() to create the triggers.")));

	/* the outbox is the extension owner's: write it as that role */
	{
		Oid			outbox = get_relname_relid("outbox", get_namespace_oid("kafka", false));
		HeapTuple	tp = SearchSysCache1(RELOID, ObjectIdGetDatum(outbox));

		if (!HeapTupleIsValid(tp))
			elog(ERROR, "kafka.outbox is missing");
		outbox_owner = ((Form_pg_class) GETSTRUCT(tp))->relowner;
		ReleaseSysCache(tp);
	}
	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(outbox_owner, save_sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	relid = stream_relid(stream_id);
	if (!OidIsValid(relid))
	{
		/* the stream was stopped in this transaction: nothing to feed */
		SPI_finish();
		SetUserIdAndSecContext(save_userid, save_sec_context);
		return PointerGetDatum(NULL);
	}
	if (relid != RelationGetRelid(td->tg_relation))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("trigger \"%s\" on table \"%s\" feeds a stream of another table",
						trig->tgname, RelationGetRelationName(td->tg_relation)),
				 errhint("Use kafka.stream_changes() to create the triggers.")));

	if (op == 't')
	{
		Datum		o = CharGetDatum('t');
		Datum		none = (Datum) 0;
		bool		isnull = true;

		insert_events(stream_id, 1, &o, &none, &isnull, &none, &isnull);
	}
	else
	{
		MemoryContext chunk_cxt = AllocSetContextCreate(CurrentMemoryContext,
														"kafka capture chunk",
														ALLOCSET_DEFAULT_SIZES);
		MemoryContext oldcxt;
		TupleDesc	tupdesc = RelationGetDescr(td->tg_relation);
		TupleTableSlot *oldslot = MakeSingleTupleTableSlot(tupdesc, &TTSOpsMinimalTuple);
		TupleTableSlot *newslot = MakeSingleTupleTableSlot(tupdesc, &TTSOpsMinimalTuple);
		Tuplestorestate *olds = op != 'c' ? td->tg_oldtable : NULL;
		Tuplestorestate *news = op != 'd' ? td->tg_newtable : NULL;
		Datum	   *ops = palloc(sizeof(Datum) * CAPTURE_CHUNK);
		Datum	   *before = palloc(sizeof(Datum) * CAPTURE_CHUNK);
		Datum	   *after = palloc(sizeof(Datum) * CAPTURE_CHUNK);
		bool	   *before_null = palloc(sizeof(bool) * CAPTURE_CHUNK);
		bool	   *after_null = palloc(sizeof(bool) * CAPTURE_CHUNK);
		int			n = 0;

		if (olds)
			tuplestore_rescan(olds);
		if (news)
			tuplestore_rescan(news);
		for (;;)
		{
			bool		have_old = olds && tuplestore_gettupleslot(olds, true, false, oldslot);
			bool		have_new = news && tuplestore_gettupleslot(news, true, false, newslot);

			if (!have_old && !have_new)
				break;
			if ((olds && !have_old) || (news && !have_new))
				elog(ERROR, "transition tables of an UPDATE differ in length");
			oldcxt = MemoryContextSwitchTo(chunk_cxt);
			ops[n] = CharGetDatum(op);
			before_null[n] = !have_old;
			before[n] = have_old ? row_json(oldslot) : (Datum) 0;
			after_null[n] = !have_new;
			after[n] = have_new ? row_json(newslot) : (Datum) 0;
			MemoryContextSwitchTo(oldcxt);
			if (++n == CAPTURE_CHUNK)
			{
				insert_events(stream_id, n, ops, before, before_null, after, after_null);
				MemoryContextReset(chunk_cxt);
				n = 0;
			}
			CHECK_FOR_INTERRUPTS();
		}
		insert_events(stream_id, n, ops, before, before_null, after, after_null);
		ExecDropSingleTupleTableSlot(oldslot);
		ExecDropSingleTupleTableSlot(newslot);
		MemoryContextDelete(chunk_cxt);
	}

	SPI_finish();
	SetUserIdAndSecContext(save_userid, save_sec_context);

	/* at commit, set the latch of this database's worker (worker.c) */
	kafkaWakeWorkerAtCommit();
	return PointerGetDatum(NULL);
}
