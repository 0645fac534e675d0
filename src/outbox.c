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
 *		  as row_to_json writes them).  A TRUNCATE adds one event with op t.
 *
 *		  Capture costs the writer, so it avoids SPI and the executor: the
 *		  stream is found by an index scan of kafka.stream, the outbox rows
 *		  go in by heap multi-inserts followed by their index entries
 *		  (Outbox), the column defaults are computed here, and the json of a
 *		  row is written with the column types looked up once per statement
 *		  (RowJson).  At commit, an XactCallback
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
 *	- The outbox rows are those an INSERT using the column defaults would
 *	  write (event_id = nextval once per row, txid = pg_current_xact_id(),
 *	  lsn = pg_current_wal_insert_lsn(), captured_at = clock_timestamp()),
 *	  with json byte for byte as row_to_json's.  Triggers and rules on
 *	  kafka.outbox are not fired (it has none).
 *	- The outbox is not writable by PUBLIC: capture runs as the owner of
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
#include "access/genam.h"
#include "access/heapam.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xlog.h"
#include "commands/sequence.h"
#include "common/jsonapi.h"
#include "executor/executor.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/datetime.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/pg_lsn.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"
#include "utils/xid8.h"

PG_FUNCTION_INFO_V1(kafka_capture);

/*
 * Rows (or json bytes) buffered before one heap multi-insert into
 * kafka.outbox and the index insertions of those rows.
 */
#define OUTBOX_BATCH 1000
#define OUTBOX_BATCH_BYTES (1024 * 1024)

/*
 * How one column of the source table is written as json, looked up once per
 * statement (row_to_json looks the type up again for every value).  The
 * kinds are those of json.c's json_categorize_type for built-in types.
 */
typedef enum ColumnJsonKind
{
	CJ_SKIP,					/* dropped column */
	CJ_BOOL,					/* true / false */
	CJ_NUMBER,					/* as output, quoted unless a json number */
	CJ_DATE,					/* JsonEncodeDateTime, quoted */
	CJ_TIMESTAMP,
	CJ_TIMESTAMPTZ,
	CJ_JSON,					/* json or jsonb: as output */
	CJ_STRING					/* any other built-in scalar: escaped string */
} ColumnJsonKind;

typedef struct ColumnJson
{
	ColumnJsonKind kind;
	char	   *key;			/* "name": (escaped, with separator) */
	FmgrInfo	out;			/* output function, unless bool or date/time */
} ColumnJson;

/* The json writer of the rows of one statement */
typedef struct RowJson
{
	int			natts;
	ColumnJson *cols;
	bool		generic;		/* a column needs row_to_json's general code */
	StringInfoData buf;
} RowJson;

/*
 * The outbox insertion of one statement: heap multi-inserts and index
 * insertions without the executor (an INSERT through SPI cost about 60% of
 * a captured statement).  The default values of kafka.outbox's columns are
 * computed here, with the functions the defaults call.
 */
typedef struct Outbox
{
	Relation	rel;
	Oid			seqid;			/* kafka.outbox_event_id_seq */
	EState	   *estate;
	ResultRelInfo *rri;
	BulkInsertState bistate;
	CommandId	cid;
	Datum		stream_id;
	Datum		txid;			/* pg_current_xact_id() */
	AttrNumber	att_event_id,
				att_stream_id,
				att_op,
				att_txid,
				att_lsn,
				att_captured_at,
				att_before,
				att_after;
	TupleTableSlot *slots[OUTBOX_BATCH];
	int			nslots;			/* slots created */
	int			n;				/* rows buffered */
	Size		bytes;			/* json bytes buffered */
} Outbox;

static AttrNumber outbox_column(Relation rel, const char *name, Oid typid);

/*
 * The relation the stream feeds from, or InvalidOid if the stream is gone
 * (a trigger left behind by a stream stopped in this transaction).
 */
static Oid
stream_relid(int32 stream_id)
{
	Oid			nsp = get_namespace_oid("kafka", false);
	Oid			stream_oid = get_relname_relid("stream", nsp);
	Oid			pkey_oid = get_relname_relid("stream_pkey", nsp);
	Relation	rel;
	Relation	idx;
	IndexScanDesc scan;
	ScanKeyData key;
	TupleTableSlot *slot;
	Oid			relid = InvalidOid;
	AttrNumber	att_relid;

	if (!OidIsValid(stream_oid) || !OidIsValid(pkey_oid))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("kafka.stream or its primary key kafka.stream_pkey is missing")));
	rel = table_open(stream_oid, AccessShareLock);
	idx = index_open(pkey_oid, AccessShareLock);
	att_relid = outbox_column(rel, "relid", REGCLASSOID);
	if (idx->rd_index->indrelid != stream_oid || idx->rd_index->indnkeyatts != 1 ||
		idx->rd_index->indkey.values[0] != outbox_column(rel, "stream_id", INT4OID))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("kafka.stream_pkey is not the index of kafka.stream on stream_id")));
	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_INT4EQ, Int32GetDatum(stream_id));
	slot = table_slot_create(rel, NULL);
	/* the statement's snapshot, as the query through SPI that this replaces */
	scan = index_beginscan(rel, idx,
						   ActiveSnapshotSet() ? GetActiveSnapshot() : GetTransactionSnapshot(),
						   1, 0);
	index_rescan(scan, &key, 1, NULL, 0);
	if (index_getnext_slot(scan, ForwardScanDirection, slot))
	{
		bool		isnull;
		Datum		d = slot_getattr(slot, att_relid, &isnull);

		if (!isnull)
			relid = DatumGetObjectId(d);
	}
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	index_close(idx, AccessShareLock);
	table_close(rel, AccessShareLock);
	return relid;
}

/*
 * The attribute number of column name of a table of schema kafka (outbox,
 * stream), which must have type typid
 */
static AttrNumber
outbox_column(Relation rel, const char *name, Oid typid)
{
	TupleDesc	tupdesc = RelationGetDescr(rel);

	for (int i = 0; i < tupdesc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(tupdesc, i);

		if (!att->attisdropped && strcmp(NameStr(att->attname), name) == 0)
		{
			if (att->atttypid != typid)
				break;
			return i + 1;
		}
	}
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("kafka.%s has no column \"%s\" of type %s",
					RelationGetRelationName(rel), name, format_type_be(typid)),
			 errhint("Update the extension with ALTER EXTENSION kafka_fdw UPDATE.")));
	return InvalidAttrNumber;	/* keep the compiler quiet */
}

/* Open kafka.outbox for the insertions of one statement */
static void
outbox_open(Outbox *ob, int32 stream_id)
{
	Oid			nsp = get_namespace_oid("kafka", false);
	Oid			relid = get_relname_relid("outbox", nsp);
	TupleDesc	tupdesc;
	int			ncols = 0;

	memset(ob, 0, sizeof(*ob));
	ob->seqid = get_relname_relid("outbox_event_id_seq", nsp);
	if (!OidIsValid(relid) || !OidIsValid(ob->seqid))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("kafka.outbox or its sequence kafka.outbox_event_id_seq is missing")));
	ob->rel = table_open(relid, RowExclusiveLock);
	if (ob->rel->rd_rel->relkind != RELKIND_RELATION)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("kafka.outbox is not a table")));
	tupdesc = RelationGetDescr(ob->rel);
	ob->att_event_id = outbox_column(ob->rel, "event_id", INT8OID);
	ob->att_stream_id = outbox_column(ob->rel, "stream_id", INT4OID);
	ob->att_op = outbox_column(ob->rel, "op", CHAROID);
	ob->att_txid = outbox_column(ob->rel, "txid", XID8OID);
	ob->att_lsn = outbox_column(ob->rel, "lsn", PG_LSNOID);
	ob->att_captured_at = outbox_column(ob->rel, "captured_at", TIMESTAMPTZOID);
	ob->att_before = outbox_column(ob->rel, "before", JSONOID);
	ob->att_after = outbox_column(ob->rel, "after", JSONOID);
	/* every column gets a value here: a column added later would get none */
	for (int i = 0; i < tupdesc->natts; i++)
		if (!TupleDescAttr(tupdesc, i)->attisdropped)
			ncols++;
	if (ncols != 8)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("kafka.outbox has %d columns, kafka.capture() writes 8", ncols),
				 errhint("Update the extension with ALTER EXTENSION kafka_fdw UPDATE.")));

	ob->estate = CreateExecutorState();
	ob->rri = makeNode(ResultRelInfo);
	InitResultRelInfo(ob->rri, ob->rel, 1, NULL, 0);
	ExecOpenIndices(ob->rri, false);
	ob->bistate = GetBulkInsertState();
	ob->cid = GetCurrentCommandId(true);
	ob->stream_id = Int32GetDatum(stream_id);
	ob->txid = FullTransactionIdGetDatum(GetTopFullTransactionId());
}

/*
 * Insert the buffered rows: one heap multi-insert, then the index entries
 * of each row (the primary key checks its uniqueness; the partial index of
 * snapshot rows evaluates its predicate).
 */
static void
outbox_flush(Outbox *ob)
{
	if (ob->n == 0)
		return;
	table_multi_insert(ob->rel, ob->slots, ob->n, ob->cid, 0, ob->bistate);
	for (int i = 0; i < ob->n; i++)
	{
		List	   *conflicts;

		conflicts = ExecInsertIndexTuples(ob->rri, ob->slots[i], ob->estate,
										  false, false, NULL, NIL);
		list_free(conflicts);
		ResetPerTupleExprContext(ob->estate);
	}
	ob->n = 0;
	ob->bytes = 0;
}

/*
 * Buffer one event.  event_id (nextval), lsn and captured_at are taken per
 * row in the order of the calls, as the column defaults did.  Returns true
 * when the caller may free the memory of before and after (the buffer was
 * written out).
 */
static bool
outbox_add(Outbox *ob, char op, Datum before, bool before_null, Datum after, bool after_null)
{
	TupleTableSlot *slot;
	Datum	   *values;
	bool	   *nulls;

	if (ob->n == ob->nslots)
		ob->slots[ob->nslots++] = table_slot_create(ob->rel, NULL);
	slot = ob->slots[ob->n];
	ExecClearTuple(slot);
	values = slot->tts_values;
	nulls = slot->tts_isnull;
	/* all null (dropped columns), then the eight columns */
	memset(nulls, true, sizeof(bool) * slot->tts_tupleDescriptor->natts);
	nulls[ob->att_event_id - 1] = false;
	nulls[ob->att_stream_id - 1] = false;
	nulls[ob->att_op - 1] = false;
	nulls[ob->att_txid - 1] = false;
	nulls[ob->att_lsn - 1] = false;
	nulls[ob->att_captured_at - 1] = false;
	values[ob->att_event_id - 1] = Int64GetDatum(nextval_internal(ob->seqid, false));
	values[ob->att_stream_id - 1] = ob->stream_id;
	values[ob->att_op - 1] = CharGetDatum(op);
	values[ob->att_txid - 1] = ob->txid;
	values[ob->att_lsn - 1] = LSNGetDatum(GetXLogInsertRecPtr());
	values[ob->att_captured_at - 1] = TimestampTzGetDatum(GetCurrentTimestamp());
	values[ob->att_before - 1] = before;
	nulls[ob->att_before - 1] = before_null;
	values[ob->att_after - 1] = after;
	nulls[ob->att_after - 1] = after_null;
	ExecStoreVirtualTuple(slot);
	ob->n++;
	if (!before_null)
		ob->bytes += VARSIZE_ANY(DatumGetPointer(before));
	if (!after_null)
		ob->bytes += VARSIZE_ANY(DatumGetPointer(after));
	if (ob->n == OUTBOX_BATCH || ob->bytes >= OUTBOX_BATCH_BYTES)
	{
		outbox_flush(ob);
		return true;
	}
	return false;
}

static void
outbox_close(Outbox *ob)
{
	outbox_flush(ob);
	for (int i = 0; i < ob->nslots; i++)
		ExecDropSingleTupleTableSlot(ob->slots[i]);
	ExecCloseIndices(ob->rri);
	FreeBulkInsertState(ob->bistate);
	table_finish_bulk_insert(ob->rel, 0);
	table_close(ob->rel, NoLock);
	FreeExecutorState(ob->estate);
}

/* Prepare the json writer of rows of tupdesc (the source table's) */
static void
row_json_init(RowJson *rj, TupleDesc tupdesc)
{
	bool		first = true;

	rj->natts = tupdesc->natts;
	rj->cols = palloc0(sizeof(ColumnJson) * tupdesc->natts);
	rj->generic = false;
	initStringInfo(&rj->buf);
	for (int i = 0; i < tupdesc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(tupdesc, i);
		ColumnJson *col = &rj->cols[i];
		Oid			base;
		Oid			outfunc = InvalidOid;
		bool		varlena;
		StringInfoData key;

		if (att->attisdropped)
		{
			col->kind = CJ_SKIP;
			continue;
		}
		initStringInfo(&key);
		if (!first)
			appendStringInfoChar(&key, ',');
		first = false;
		escape_json(&key, NameStr(att->attname));
		appendStringInfoChar(&key, ':');
		col->key = key.data;

		/* as json_categorize_type: domains as their base type */
		base = getBaseType(att->atttypid);
		switch (base)
		{
			case BOOLOID:
				col->kind = CJ_BOOL;
				break;
			case INT2OID:
			case INT4OID:
			case INT8OID:
			case FLOAT4OID:
			case FLOAT8OID:
			case NUMERICOID:
				col->kind = CJ_NUMBER;
				getTypeOutputInfo(base, &outfunc, &varlena);
				break;
			case DATEOID:
				col->kind = CJ_DATE;
				break;
			case TIMESTAMPOID:
				col->kind = CJ_TIMESTAMP;
				break;
			case TIMESTAMPTZOID:
				col->kind = CJ_TIMESTAMPTZ;
				break;
			case JSONOID:
			case JSONBOID:
				col->kind = CJ_JSON;
				getTypeOutputInfo(base, &outfunc, &varlena);
				break;
			default:

				/*
				 * arrays, composites and types that are not built in (a cast
				 * to json may apply): row_to_json's own code
				 */
				if (base >= FirstNormalObjectId || OidIsValid(get_element_type(base)) ||
					type_is_rowtype(base) || base == ANYARRAYOID ||
					base == ANYCOMPATIBLEARRAYOID || base == RECORDARRAYOID)
					rj->generic = true;
				col->kind = CJ_STRING;
				getTypeOutputInfo(base, &outfunc, &varlena);
				break;
		}
		if (OidIsValid(outfunc))
			fmgr_info(outfunc, &col->out);
	}
}

/*
 * The row in slot as json, byte for byte as row_to_json() writes it, in the
 * current memory context.
 */
static Datum
row_json(RowJson *rj, TupleTableSlot *slot)
{
	StringInfo	buf = &rj->buf;

	if (rj->generic)
		return DirectFunctionCall1(row_to_json, ExecFetchSlotHeapTupleDatum(slot));

	slot_getallattrs(slot);
	resetStringInfo(buf);
	appendStringInfoChar(buf, '{');
	for (int i = 0; i < rj->natts; i++)
	{
		ColumnJson *col = &rj->cols[i];
		Datum		val = slot->tts_values[i];
		char	   *str;
		char		dt[MAXDATELEN + 1];

		if (col->kind == CJ_SKIP)
			continue;
		appendStringInfoString(buf, col->key);
		if (slot->tts_isnull[i])
		{
			appendStringInfoString(buf, "null");
			continue;
		}
		switch (col->kind)
		{
			case CJ_BOOL:
				appendStringInfoString(buf, DatumGetBool(val) ? "true" : "false");
				break;
			case CJ_NUMBER:
				str = OutputFunctionCall(&col->out, val);
				if (IsValidJsonNumber(str, strlen(str)))
					appendStringInfoString(buf, str);
				else
					escape_json(buf, str);
				pfree(str);
				break;
			case CJ_DATE:
			case CJ_TIMESTAMP:
			case CJ_TIMESTAMPTZ:
				JsonEncodeDateTime(dt, val,
								   col->kind == CJ_DATE ? DATEOID :
								   col->kind == CJ_TIMESTAMP ? TIMESTAMPOID : TIMESTAMPTZOID,
								   NULL);
				appendStringInfoChar(buf, '"');
				appendStringInfoString(buf, dt);
				appendStringInfoChar(buf, '"');
				break;
			case CJ_JSON:
				str = OutputFunctionCall(&col->out, val);
				appendStringInfoString(buf, str);
				pfree(str);
				break;
			default:
				str = OutputFunctionCall(&col->out, val);
				escape_json(buf, str);
				pfree(str);
				break;
		}
	}
	appendStringInfoChar(buf, '}');
	return PointerGetDatum(cstring_to_text_with_len(buf->data, buf->len));
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
	Outbox		ob;

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

	relid = stream_relid(stream_id);
	if (!OidIsValid(relid))
	{
		/* the stream was stopped in this transaction: nothing to feed */
		SetUserIdAndSecContext(save_userid, save_sec_context);
		return PointerGetDatum(NULL);
	}
	if (relid != RelationGetRelid(td->tg_relation))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("trigger \"%s\" on table \"%s\" feeds a stream of another table",
						trig->tgname, RelationGetRelationName(td->tg_relation)),
				 errhint("Use kafka.stream_changes() to create the triggers.")));

	outbox_open(&ob, stream_id);
	if (op == 't')
		outbox_add(&ob, 't', (Datum) 0, true, (Datum) 0, true);
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
		RowJson		rj;

		row_json_init(&rj, tupdesc);
		if (olds)
			tuplestore_rescan(olds);
		if (news)
			tuplestore_rescan(news);
		for (;;)
		{
			bool		have_old = olds && tuplestore_gettupleslot(olds, true, false, oldslot);
			bool		have_new = news && tuplestore_gettupleslot(news, true, false, newslot);
			Datum		before;
			Datum		after;

			if (!have_old && !have_new)
				break;
			if ((olds && !have_old) || (news && !have_new))
				elog(ERROR, "transition tables of an UPDATE differ in length");
			oldcxt = MemoryContextSwitchTo(chunk_cxt);
			before = have_old ? row_json(&rj, oldslot) : (Datum) 0;
			after = have_new ? row_json(&rj, newslot) : (Datum) 0;
			MemoryContextSwitchTo(oldcxt);
			if (outbox_add(&ob, op, before, !have_old, after, !have_new))
				MemoryContextReset(chunk_cxt);
			CHECK_FOR_INTERRUPTS();
		}
		outbox_flush(&ob);
		ExecDropSingleTupleTableSlot(oldslot);
		ExecDropSingleTupleTableSlot(newslot);
		MemoryContextDelete(chunk_cxt);
	}
	outbox_close(&ob);

	SetUserIdAndSecContext(save_userid, save_sec_context);

	/* at commit, set the latch of this database's worker (worker.c) */
	kafkaWakeWorkerAtCommit();
	return PointerGetDatum(NULL);
}
