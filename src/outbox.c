/*-------------------------------------------------------------------------
 *
 * outbox.c
 *		  Change capture for the table-change emitter: kafka.capture(), the
 *		  trigger function of the kafka_capture_* statement triggers that
 *		  kafka.stream_changes() creates on a source table.
 *
 *		  Each INSERT, UPDATE or DELETE statement calls it once with its
 *		  transition tables (kafka_new, kafka_old); every row becomes one
 *		  event (op c, u or d, the full old and new rows as row_to_json
 *		  writes them), up to 1,000 events of the statement one row of
 *		  kafka.outbox_chunk.  A TRUNCATE adds one event with op t.
 *
 *		  Capture costs the writer, so it avoids SPI and the executor: the
 *		  stream is found by an index scan of kafka.stream, a chunk goes in
 *		  as one heap tuple and one index entry (Outbox), the column
 *		  defaults are computed here, and the json of a row is written with
 *		  the column types looked up once per statement (RowJson), straight
 *		  into the data area of the chunk's json[] array (ChunkColumn: no
 *		  datum per event, no copy into the array), which is compressed
 *		  (lz4) when it is too big for the heap tuple.  One row per event
 *		  (as 1.1 wrote) cost about as much as the source row itself: a
 *		  heap tuple, an index entry and a sequence step each.  At
 *		  commit, an XactCallback wakes this database's emitter worker
 *		  (kafkaWakeWorkerAtCommit), so that publishing starts at once
 *		  instead of at the next poll.
 *
 * Invariants:
 *	- Capture happens inside the writer's transaction: the outbox rows
 *	  commit or roll back (whole transaction or savepoint) with the change
 *	  itself, so a rolled-back change leaves nothing and a committed one is
 *	  never lost.
 *	- Nothing here talks to Kafka: a writer never waits for, nor fails
 *	  because of, the broker.
 *	- A chunk's id (nextval of kafka.outbox_event_id_seq, which steps by
 *	  KAFKA_OUTBOX_ID_STEP) is drawn when the chunk is written, at the end
 *	  of the statement, after the statement took its row locks; its events
 *	  have the ids chunk_id .. chunk_id + n - 1 in the statement's row
 *	  order.  So for one key event_ids grow in commit order; the publisher
 *	  sends in event_id order.
 *	- A chunk holds the events of one statement, all of one op.  Its row is
 *	  what an INSERT using the column defaults would write (txid =
 *	  pg_current_xact_id(), lsn = pg_current_wal_insert_lsn(), captured_at
 *	  = clock_timestamp(), once per chunk), with json byte for byte as
 *	  row_to_json's.  Triggers and rules on kafka.outbox_chunk are not fired
 *	  (it has none).
 *	- The outbox is not writable by PUBLIC: capture runs as the owner of
 *	  kafka.outbox (the extension owner), in a restricted security context.
 *	  A trigger may only feed the stream of the table it fires on.
 *	- A library newer than the extension's SQL objects (1.1's kafka.outbox
 *	  table, before ALTER EXTENSION ... UPDATE) still captures, as 1.1 did.
 *
 *-------------------------------------------------------------------------
 */
#include "kafka_fdw.h"

#include "access/xact.h"
#include "access/heaptoast.h"
#include "access/toast_internals.h"
#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_sequence.h"
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
#include "executor/spi.h"
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
#include "pgtime.h"

PG_FUNCTION_INFO_V1(kafka_capture);

/*
 * Changes of one chunk: one row of kafka.outbox_chunk holds at most this
 * many events (and the sequence kafka.outbox_event_id_seq steps by
 * KAFKA_OUTBOX_ID_STEP, so the event ids of a chunk never reach the next
 * chunk's), or about this many bytes of json.
 */
#define OUTBOX_CHUNK 1000
#define OUTBOX_CHUNK_BYTES (1024 * 1024)

StaticAssertDecl(OUTBOX_CHUNK <= KAFKA_OUTBOX_ID_STEP, "a chunk's event ids must stay below the next chunk's");

/*
 * How one column of the source table is written as json, looked up once per
 * statement (row_to_json looks the type up again for every value).  The
 * kinds are those of json.c's json_categorize_type for built-in types.
 */
typedef enum ColumnJsonKind
{
	CJ_SKIP,					/* dropped column */
	CJ_BOOL,					/* true / false */
	CJ_INT2,					/* as int2out, int4out, int8out write them */
	CJ_INT4,
	CJ_INT8,
	CJ_NUMBER,					/* as output, quoted unless a json number */
	CJ_DATE,					/* JsonEncodeDateTime, quoted */
	CJ_TIMESTAMP,
	CJ_TIMESTAMPTZ,
	CJ_JSON,					/* json: its text as is (json_out) */
	CJ_JSONB,					/* jsonb: as output */
	CJ_TEXT,					/* text, varchar, bpchar: the text, escaped */
	CJ_STRING					/* any other built-in scalar: escaped string */
} ColumnJsonKind;

typedef struct ColumnJson
{
	ColumnJsonKind kind;
	char	   *key;			/* "name": (escaped, with separator) */
	int			keylen;			/* strlen(key) */
	FmgrInfo	out;			/* output function, where one is called */
} ColumnJson;

/* The json writer of the rows of one statement */
typedef struct RowJson
{
	int			natts;
	ColumnJson *cols;
	bool		generic;		/* a column needs row_to_json's general code */

	/*
	 * timestamptz_json: the session time zone's UTC offset (gmtoff, seconds)
	 * holds for Unix times lo <= t < hi in zone
	 */
	pg_tz	   *tz_zone;
	pg_time_t	tz_lo;
	pg_time_t	tz_hi;
	long		tz_gmtoff;
} RowJson;

/*
 * One json[] column of the chunk being filled (before or after), built in
 * place: the elements as construct_md_array lays them out in the array's
 * data area (each a 4-byte varlena header and the json text, at an int
 * aligned offset), so that neither a datum per event nor a copy of them all
 * into the array is needed.
 */
typedef struct ChunkColumn
{
	StringInfoData data;		/* the data area of the array */
	bool		hasnull;		/* some event has no row here */
	bool		nulls[OUTBOX_CHUNK];
} ChunkColumn;

/*
 * The outbox insertion of one statement: its changes in chunks, each one
 * row of kafka.outbox_chunk inserted without the executor (one heap tuple,
 * one index entry, one sequence step per chunk).  The default values of
 * the chunk's columns are computed here, with the functions the defaults
 * call.
 */
typedef struct Outbox
{
	Relation	rel;
	Oid			seqid;			/* kafka.outbox_event_id_seq */
	EState	   *estate;
	ResultRelInfo *rri;
	BulkInsertState bistate;
	CommandId	cid;
	TupleTableSlot *slot;
	Datum		stream_id;
	Datum		txid;			/* pg_current_xact_id() */
	char		op;
	AttrNumber	att_chunk_id,
				att_stream_id,
				att_op,
				att_n,
				att_txid,
				att_lsn,
				att_captured_at,
				att_before,
				att_after;
	/* the chunk being filled */
	ChunkColumn before;
	ChunkColumn after;
	int			n;				/* events buffered */
	/* 1.1's layout (library updated, extension not yet): one row per event through SPI */
	bool		legacy;
	SPIPlanPtr	legacy_plan;
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

/* The sequence's step must be the one the chunks' event ids rely on */
static void
check_sequence_step(Oid seqid)
{
	HeapTuple	tp = SearchSysCache1(SEQRELID, ObjectIdGetDatum(seqid));
	int64		step;

	if (!HeapTupleIsValid(tp))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("kafka.outbox_event_id_seq is not a sequence")));
	step = ((Form_pg_sequence) GETSTRUCT(tp))->seqincrement;
	ReleaseSysCache(tp);
	if (step != KAFKA_OUTBOX_ID_STEP)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("kafka.outbox_event_id_seq steps by " INT64_FORMAT ", kafka.capture() needs %d",
						step, KAFKA_OUTBOX_ID_STEP),
				 errhint("ALTER SEQUENCE kafka.outbox_event_id_seq INCREMENT BY %d restores it.",
						 KAFKA_OUTBOX_ID_STEP)));
}

/* Open kafka.outbox_chunk for the insertions of one statement of op */
static void
outbox_open(Outbox *ob, int32 stream_id, char op)
{
	Oid			nsp = get_namespace_oid("kafka", false);
	Oid			relid = get_relname_relid("outbox_chunk", nsp);
	TupleDesc	tupdesc;
	int			ncols = 0;

	memset(ob, 0, sizeof(*ob));
	ob->op = op;
	ob->stream_id = Int32GetDatum(stream_id);
	ob->seqid = get_relname_relid("outbox_event_id_seq", nsp);
	if (!OidIsValid(relid) && OidIsValid(get_relname_relid("outbox", nsp)) &&
		get_rel_relkind(get_relname_relid("outbox", nsp)) == RELKIND_RELATION)
	{
		/*
		 * Version 1.1's kafka.outbox, one row per event: this library was
		 * installed and ALTER EXTENSION kafka_fdw UPDATE not run yet.  The
		 * writer must not fail for that: its changes go in as 1.1 wrote
		 * them (the column defaults), slowly, and the update converts them.
		 */
		ob->legacy = true;
		return;
	}
	if (!OidIsValid(relid) || !OidIsValid(ob->seqid))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("kafka.outbox_chunk or its sequence kafka.outbox_event_id_seq is missing")));
	check_sequence_step(ob->seqid);
	ob->rel = table_open(relid, RowExclusiveLock);
	if (ob->rel->rd_rel->relkind != RELKIND_RELATION)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("kafka.outbox_chunk is not a table")));
	tupdesc = RelationGetDescr(ob->rel);
	ob->att_chunk_id = outbox_column(ob->rel, "chunk_id", INT8OID);
	ob->att_stream_id = outbox_column(ob->rel, "stream_id", INT4OID);
	ob->att_op = outbox_column(ob->rel, "op", CHAROID);
	ob->att_n = outbox_column(ob->rel, "n", INT4OID);
	ob->att_txid = outbox_column(ob->rel, "txid", XID8OID);
	ob->att_lsn = outbox_column(ob->rel, "lsn", PG_LSNOID);
	ob->att_captured_at = outbox_column(ob->rel, "captured_at", TIMESTAMPTZOID);
	ob->att_before = outbox_column(ob->rel, "before", JSONARRAYOID);
	ob->att_after = outbox_column(ob->rel, "after", JSONARRAYOID);
	/* every column gets a value here: a column added later would get none */
	for (int i = 0; i < tupdesc->natts; i++)
		if (!TupleDescAttr(tupdesc, i)->attisdropped)
			ncols++;
	if (ncols != 9)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("kafka.outbox_chunk has %d columns, kafka.capture() writes 9", ncols),
				 errhint("Update the extension with ALTER EXTENSION kafka_fdw UPDATE.")));

	ob->estate = CreateExecutorState();
	ob->rri = makeNode(ResultRelInfo);
	InitResultRelInfo(ob->rri, ob->rel, 1, NULL, 0);
	ExecOpenIndices(ob->rri, false);
	ob->bistate = GetBulkInsertState();
	ob->cid = GetCurrentCommandId(true);
	ob->slot = table_slot_create(ob->rel, NULL);
	ob->txid = FullTransactionIdGetDatum(GetTopFullTransactionId());
	initStringInfo(&ob->before.data);
	initStringInfo(&ob->after.data);
}

/* 1.1's layout: one INSERT per event, the other columns by their defaults */
static void
outbox_legacy_insert(Outbox *ob, Datum before, bool before_null, Datum after, bool after_null)
{
	Datum		values[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};

	if (ob->legacy_plan == NULL)
	{
		Oid			types[4] = {INT4OID, CHAROID, JSONOID, JSONOID};

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		ob->legacy_plan = SPI_prepare("INSERT INTO kafka.outbox (stream_id, op, before, after) "
									  "VALUES ($1, $2, $3, $4)", 4, types);
		if (ob->legacy_plan == NULL)
			elog(ERROR, "could not prepare the insertion into kafka.outbox: %s",
				 SPI_result_code_string(SPI_result));
	}
	values[0] = ob->stream_id;
	values[1] = CharGetDatum(ob->op);
	values[2] = before;
	nulls[2] = before_null ? 'n' : ' ';
	values[3] = after;
	nulls[3] = after_null ? 'n' : ' ';
	if (SPI_execute_plan(ob->legacy_plan, values, nulls, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not insert into kafka.outbox");
}

/*
 * Start the json[] element of the ob->n-th event in column cc: returns the
 * buffer to append the json text to, then chunk_value_end.  Elements are
 * int aligned (TYPALIGN_INT, json's) with the padding zeroed, as
 * construct_md_array writes them.
 */
static StringInfo
chunk_value_begin(ChunkColumn *cc, int i, int *start)
{
	StringInfo	d = &cc->data;
	int			pad = INTALIGN(d->len) - d->len;

	cc->nulls[i] = false;
	enlargeStringInfo(d, pad + VARHDRSZ);
	memset(d->data + d->len, 0, pad + VARHDRSZ);
	d->len += pad;
	*start = d->len;
	d->len += VARHDRSZ;
	return d;
}

static void
chunk_value_end(ChunkColumn *cc, int start)
{
	SET_VARSIZE(cc->data.data + start, cc->data.len - start);
}

static void
chunk_value_null(ChunkColumn *cc, int i)
{
	cc->nulls[i] = true;
	cc->hasnull = true;
}

/*
 * The json[] array of n elements of cc, byte for byte what
 * construct_md_array makes of them.  An array too big to stay in the heap
 * tuple is compressed (lz4) here: the column's storage is EXTERNAL, so the
 * toaster would store it uncompressed, in about one toast tuple and index
 * entry per 2 kB, which cost the writer more than compressing (json rows
 * of one table compress several times).  The readers detoast the array as
 * any other.
 */
static Datum
chunk_array(ChunkColumn *cc, int n)
{
	int			dataoffset = cc->hasnull ? ARR_OVERHEAD_WITHNULLS(1, n) : 0;
	Size		hdrlen = cc->hasnull ? (Size) dataoffset : ARR_OVERHEAD_NONULLS(1);
	Size		nbytes = hdrlen + INTALIGN(cc->data.len);
	ArrayType  *a;

	if (!AllocSizeIsValid(nbytes))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("array size exceeds the maximum allowed (%d)",
						(int) MaxAllocSize)));
	a = (ArrayType *) palloc0(nbytes);
	SET_VARSIZE(a, nbytes);
	a->ndim = 1;
	a->dataoffset = dataoffset;
	a->elemtype = JSONOID;
	ARR_DIMS(a)[0] = n;
	ARR_LBOUND(a)[0] = 1;
	if (cc->hasnull)
	{
		bits8	   *bitmap = ARR_NULLBITMAP(a);

		for (int i = 0; i < n; i++)
			if (!cc->nulls[i])
				bitmap[i / BITS_PER_BYTE] |= 1 << (i % BITS_PER_BYTE);
	}
	memcpy(ARR_DATA_PTR(a), cc->data.data, cc->data.len);
#ifdef USE_LZ4
	if (nbytes > TOAST_TUPLE_THRESHOLD)
	{
		Datum		compressed = toast_compress_datum(PointerGetDatum(a),
													  TOAST_LZ4_COMPRESSION);

		if (DatumGetPointer(compressed) != NULL)
		{
			pfree(a);
			return compressed;
		}
	}
#endif
	return PointerGetDatum(a);
}

/*
 * Insert the buffered chunk: its event ids (one sequence step), lsn and
 * captured_at are taken now, after the statement took its row locks.
 */
static void
outbox_flush(Outbox *ob)
{
	TupleTableSlot *slot = ob->slot;
	Datum	   *values;
	bool	   *nulls;
	List	   *conflicts;
	MemoryContext oldcxt;

	if (ob->n == 0 || ob->legacy)
		return;
	/* the arrays and their toasted copies: gone with the chunk */
	oldcxt = MemoryContextSwitchTo(GetPerTupleMemoryContext(ob->estate));
	ExecClearTuple(slot);
	values = slot->tts_values;
	nulls = slot->tts_isnull;
	/* all null (dropped columns), then the nine columns */
	memset(nulls, true, sizeof(bool) * slot->tts_tupleDescriptor->natts);
	nulls[ob->att_chunk_id - 1] = nulls[ob->att_stream_id - 1] = nulls[ob->att_op - 1] =
		nulls[ob->att_n - 1] = nulls[ob->att_txid - 1] = nulls[ob->att_lsn - 1] =
		nulls[ob->att_captured_at - 1] = nulls[ob->att_before - 1] = nulls[ob->att_after - 1] = false;
	values[ob->att_chunk_id - 1] = Int64GetDatum(nextval_internal(ob->seqid, false));
	values[ob->att_stream_id - 1] = ob->stream_id;
	values[ob->att_op - 1] = CharGetDatum(ob->op);
	values[ob->att_n - 1] = Int32GetDatum(ob->n);
	values[ob->att_txid - 1] = ob->txid;
	values[ob->att_lsn - 1] = LSNGetDatum(GetXLogInsertRecPtr());
	values[ob->att_captured_at - 1] = TimestampTzGetDatum(GetCurrentTimestamp());
	values[ob->att_before - 1] = chunk_array(&ob->before, ob->n);
	values[ob->att_after - 1] = chunk_array(&ob->after, ob->n);
	ExecStoreVirtualTuple(slot);
	table_tuple_insert(ob->rel, slot, ob->cid, 0, ob->bistate);
	conflicts = ExecInsertIndexTuples(ob->rri, slot, ob->estate, false, false, NULL, NIL);
	list_free(conflicts);
	MemoryContextSwitchTo(oldcxt);
	ResetPerTupleExprContext(ob->estate);
	ob->n = 0;
	resetStringInfo(&ob->before.data);
	resetStringInfo(&ob->after.data);
	ob->before.hasnull = ob->after.hasnull = false;
}

/*
 * Count the event whose values were just written; write the chunk out when
 * it is full (events or bytes).
 */
static void
outbox_event_done(Outbox *ob)
{
	ob->n++;
	if (ob->n == OUTBOX_CHUNK ||
		(Size) ob->before.data.len + ob->after.data.len >= OUTBOX_CHUNK_BYTES)
		outbox_flush(ob);
}

static void
outbox_close(Outbox *ob)
{
	if (ob->legacy)
	{
		if (ob->legacy_plan)
		{
			SPI_freeplan(ob->legacy_plan);
			SPI_finish();
		}
		return;
	}
	outbox_flush(ob);
	pfree(ob->before.data.data);
	pfree(ob->after.data.data);
	ExecDropSingleTupleTableSlot(ob->slot);
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
	rj->tz_zone = NULL;
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
		col->keylen = key.len;

		/* as json_categorize_type: domains as their base type */
		base = getBaseType(att->atttypid);
		switch (base)
		{
			case BOOLOID:
				col->kind = CJ_BOOL;
				break;
			case INT2OID:
				col->kind = CJ_INT2;
				break;
			case INT4OID:
				col->kind = CJ_INT4;
				break;
			case INT8OID:
				col->kind = CJ_INT8;
				break;
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
				col->kind = CJ_JSON;
				break;
			case JSONBOID:
				col->kind = CJ_JSONB;
				getTypeOutputInfo(base, &outfunc, &varlena);
				break;
			case TEXTOID:
			case VARCHAROID:
			case BPCHAROID:
				/* their output functions write the text as is */
				col->kind = CJ_TEXT;
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
 * A timestamptz as JsonEncodeDateTime() writes it (timestamp2tm() in the
 * session time zone, EncodeDateTime() in XSD style: 2024-01-02T03:04:05.5+01:00)
 * into out (room for MAXDATELEN), without its time zone library lookup for
 * every value: the offset is looked up once per period in which it holds
 * (pg_next_dst_boundary, as timestamp2tm's pg_localtime finds it).  Only
 * for years 1 to 9999 and offsets of whole minutes; returns the length
 * written, or -1 for JsonEncodeDateTime() to write it.  sql/capture.sql
 * compares the result with row_to_json() over centuries in several zones.
 */
static int
timestamptz_json(RowJson *rj, TimestampTz ts, char *out)
{
	/* 0001-01-02 to 9999-12-30 UTC: no UTC offset (< 1 day) leaves years 1-9999 */
	const TimestampTz lo = (TimestampTz) (1721426 + 1 - POSTGRES_EPOCH_JDATE) * USECS_PER_DAY;
	const TimestampTz hi = (TimestampTz) (5373484 - 1 - POSTGRES_EPOCH_JDATE) * USECS_PER_DAY;
	int64		fsec;
	int64		secs;
	int64		local;
	int64		days;
	int			sod;
	int			year;
	int			mon;
	int			mday;
	long		off;
	char	   *p = out;

	if (ts < lo || ts >= hi)
		return -1;
	/* whole seconds since the Unix epoch, rounded down, as timestamp2tm does */
	fsec = ts % USECS_PER_SEC;
	if (fsec < 0)
		fsec += USECS_PER_SEC;
	secs = (ts - fsec) / USECS_PER_SEC + (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY;
	if (rj->tz_zone != session_timezone || secs < rj->tz_lo || secs >= rj->tz_hi)
	{
		pg_time_t	t = (pg_time_t) secs;
		long		before_gmtoff;
		long		after_gmtoff;
		int			before_isdst;
		int			after_isdst;
		pg_time_t	boundary;
		int			r;

		struct pg_tm *tm;

		rj->tz_zone = NULL;
		r = pg_next_dst_boundary(&t, &before_gmtoff, &before_isdst, &boundary,
								 &after_gmtoff, &after_isdst, session_timezone);
		if (r < 0 || before_gmtoff % SECS_PER_MINUTE != 0)
			return -1;
		/* the offset timestamp2tm's pg_localtime finds, or the general path */
		tm = pg_localtime(&t, session_timezone);
		if (tm == NULL || tm->tm_gmtoff != before_gmtoff)
			return -1;
		rj->tz_zone = session_timezone;
		rj->tz_lo = t;
		rj->tz_hi = r == 0 ? PG_INT64_MAX : boundary;
		rj->tz_gmtoff = before_gmtoff;
	}
	off = rj->tz_gmtoff;
	local = secs + off;
	days = local / SECS_PER_DAY;
	if (local % SECS_PER_DAY < 0)
		days--;
	sod = (int) (local - days * SECS_PER_DAY);
	j2date((int) (days + UNIX_EPOCH_JDATE), &year, &mon, &mday);
	if (year < 1 || year > 9999)
		return -1;
	p = kafkaPutIsoDateTime(p, year, mon, mday, sod / SECS_PER_HOUR, sod / SECS_PER_MINUTE % MINS_PER_HOUR,
							sod % SECS_PER_MINUTE, (int) fsec);
	/* as EncodeTimezone in XSD style: +hh:mm */
	*p++ = off >= 0 ? '+' : '-';
	if (off < 0)
		off = -off;
	{
		int			hh = (int) (off / SECS_PER_HOUR);
		int			mm = (int) (off / SECS_PER_MINUTE % MINS_PER_HOUR);

		p[0] = '0' + hh / 10;
		p[1] = '0' + hh % 10;
		p[2] = ':';
		p[3] = '0' + mm / 10;
		p[4] = '0' + mm % 10;
		p[5] = '\0';
		p += 5;
	}
	return (int) (p - out);
}

/*
 * Append the row in slot to buf as json, byte for byte as row_to_json()
 * writes it.  Memory it allocates is in the current memory context.
 */
static void
row_json(RowJson *rj, TupleTableSlot *slot, StringInfo buf)
{
	if (rj->generic)
	{
		text	   *t = DatumGetTextPP(DirectFunctionCall1(row_to_json,
														   ExecFetchSlotHeapTupleDatum(slot)));

		appendBinaryStringInfo(buf, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
		pfree(t);
		return;
	}

	slot_getallattrs(slot);
	appendStringInfoCharMacro(buf, '{');
	for (int i = 0; i < rj->natts; i++)
	{
		ColumnJson *col = &rj->cols[i];
		Datum		val = slot->tts_values[i];
		char	   *str;
		text	   *t;
		int			len;

		if (col->kind == CJ_SKIP)
			continue;
		appendBinaryStringInfo(buf, col->key, col->keylen);
		if (slot->tts_isnull[i])
		{
			appendBinaryStringInfo(buf, "null", 4);
			continue;
		}
		switch (col->kind)
		{
			case CJ_BOOL:
				if (DatumGetBool(val))
					appendBinaryStringInfo(buf, "true", 4);
				else
					appendBinaryStringInfo(buf, "false", 5);
				break;
			case CJ_INT2:
			case CJ_INT4:
			case CJ_INT8:
				/* as int2out, int4out and int8out: always a json number */
				enlargeStringInfo(buf, MAXINT8LEN + 1);
				str = buf->data + buf->len;
				len = col->kind == CJ_INT2 ? pg_itoa(DatumGetInt16(val), str) :
					col->kind == CJ_INT4 ? pg_ltoa(DatumGetInt32(val), str) :
					pg_lltoa(DatumGetInt64(val), str);
				buf->len += len;
				break;
			case CJ_NUMBER:
				str = OutputFunctionCall(&col->out, val);
				kafkaAppendJsonNumber(buf, str);
				pfree(str);
				break;
			case CJ_DATE:
			case CJ_TIMESTAMP:
			case CJ_TIMESTAMPTZ:
				enlargeStringInfo(buf, MAXDATELEN + 3);
				str = buf->data + buf->len;
				str[0] = '"';
				if (col->kind == CJ_TIMESTAMPTZ &&
					(len = timestamptz_json(rj, DatumGetTimestampTz(val), str + 1)) >= 0)
				{
					str[len + 1] = '"';
					buf->len += len + 2;
					buf->data[buf->len] = '\0';
					break;
				}
				JsonEncodeDateTime(str + 1, val,
								   col->kind == CJ_DATE ? DATEOID :
								   col->kind == CJ_TIMESTAMP ? TIMESTAMPOID : TIMESTAMPTZOID,
								   NULL);
				len = strlen(str + 1);
				str[len + 1] = '"';
				buf->len += len + 2;
				buf->data[buf->len] = '\0';
				break;
			case CJ_JSON:
				/* json_out writes the text as is */
				t = DatumGetTextPP(val);
				appendBinaryStringInfo(buf, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
				if ((Pointer) t != DatumGetPointer(val))
					pfree(t);
				break;
			case CJ_TEXT:
				t = DatumGetTextPP(val);
				kafkaAppendJsonString(buf, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
				if ((Pointer) t != DatumGetPointer(val))
					pfree(t);
				break;
			case CJ_JSONB:
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
	appendStringInfoCharMacro(buf, '}');
}

/* The row in slot as a json datum (1.1's outbox, one row per event) */
static Datum
row_json_datum(RowJson *rj, TupleTableSlot *slot, StringInfo buf)
{
	resetStringInfo(buf);
	row_json(rj, slot, buf);
	return PointerGetDatum(cstring_to_text_with_len(buf->data, buf->len));
}

/* Add one event: its old and new rows (NULL if none) */
static void
capture_event(Outbox *ob, RowJson *rj, TupleTableSlot *oldslot, TupleTableSlot *newslot,
			  StringInfo scratch)
{
	int			start;

	if (ob->legacy)
	{
		outbox_legacy_insert(ob,
							 oldslot ? row_json_datum(rj, oldslot, scratch) : (Datum) 0,
							 oldslot == NULL,
							 newslot ? row_json_datum(rj, newslot, scratch) : (Datum) 0,
							 newslot == NULL);
		return;
	}
	if (oldslot)
	{
		row_json(rj, oldslot, chunk_value_begin(&ob->before, ob->n, &start));
		chunk_value_end(&ob->before, start);
	}
	else
		chunk_value_null(&ob->before, ob->n);
	if (newslot)
	{
		row_json(rj, newslot, chunk_value_begin(&ob->after, ob->n, &start));
		chunk_value_end(&ob->after, start);
	}
	else
		chunk_value_null(&ob->after, ob->n);
	outbox_event_done(ob);
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

	outbox_open(&ob, stream_id, op);
	if (op == 't')
		capture_event(&ob, NULL, NULL, NULL, NULL);
	else
	{
		MemoryContext row_cxt = AllocSetContextCreate(CurrentMemoryContext,
													  "kafka capture row",
													  ALLOCSET_DEFAULT_SIZES);
		MemoryContext oldcxt;
		TupleDesc	tupdesc = RelationGetDescr(td->tg_relation);
		TupleTableSlot *oldslot = MakeSingleTupleTableSlot(tupdesc, &TTSOpsMinimalTuple);
		TupleTableSlot *newslot = MakeSingleTupleTableSlot(tupdesc, &TTSOpsMinimalTuple);
		Tuplestorestate *olds = op != 'c' ? td->tg_oldtable : NULL;
		Tuplestorestate *news = op != 'd' ? td->tg_newtable : NULL;
		RowJson		rj;
		StringInfoData scratch;

		row_json_init(&rj, tupdesc);
		initStringInfo(&scratch);
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
			oldcxt = MemoryContextSwitchTo(row_cxt);
			capture_event(&ob, &rj, have_old ? oldslot : NULL, have_new ? newslot : NULL,
						  &scratch);
			MemoryContextSwitchTo(oldcxt);
			MemoryContextReset(row_cxt);
			CHECK_FOR_INTERRUPTS();
		}
		outbox_flush(&ob);
		ExecDropSingleTupleTableSlot(oldslot);
		ExecDropSingleTupleTableSlot(newslot);
		pfree(scratch.data);
		MemoryContextDelete(row_cxt);
	}
	outbox_close(&ob);

	SetUserIdAndSecContext(save_userid, save_sec_context);

	/* at commit, set the latch of this database's worker (worker.c) */
	kafkaWakeWorkerAtCommit();
	return PointerGetDatum(NULL);
}
