/*-------------------------------------------------------------------------
 *
 * snapshot.c
 *		  The initial snapshot of a stream (kafka.stream_changes(...,
 *		  snapshot => true)): the rows the table had when capture began are
 *		  written into kafka.outbox (chunks of kafka.outbox_chunk) as op 'r' events, in chunks of key order,
 *		  each chunk its own short transaction, without locking the table.
 *
 *		  The snapshot is of one point P: the commit of stream_changes, which
 *		  created the capture triggers under a lock that excludes writers.
 *		  Every change committed after P is captured in the outbox (op c, u,
 *		  d) with the full old row; none before P is.  So the state of a key
 *		  at P can be read at any later time T, from T's MVCC snapshot alone:
 *		    - if the outbox holds an event for the key, the earliest one (by
 *		      event_id, which is commit order per key) tells: its old row if
 *		      the key was its old key, else (the key appeared then) none;
 *		    - otherwise nothing committed touched the key since P and the
 *		      row as of T is the row as of P.
 *		  A chunk reads the current rows and the outbox events of a key range
 *		  in one statement (one MVCC snapshot) and writes the P state of each
 *		  key of the range as an 'r' event.  Rows deleted since P are still
 *		  emitted (from their old row); rows inserted since P are not.
 *		  While the snapshot runs, the publisher (emitter.c) sends only 'r'
 *		  events, and holds the changes in the outbox (they are needed for
 *		  the reconstruction, and must follow the 'r' of their key); after
 *		  it, the changes in event_id order.  A consumer therefore sees the
 *		  table as of P (all 'r' events, the last one with snapshot "last"),
 *		  then every change committed after P, each exactly once: no gap and
 *		  no overlap.
 *
 * Invariants:
 *	- The key of a snapshot stream is the column set of a unique,
 *	  immediate, non-partial index on NOT NULL columns (checked by
 *	  stream_changes): one row per key at every moment.
 *	- A chunk covers the key range (cursor, bound] where bound is a key of
 *	  the table; the ranges of successive chunks tile the key space, and
 *	  each chunk's cursor advances in the same transaction as its events.
 *	- Chunks and batches of a stream are serialised by the stream's
 *	  advisory lock (emitter.c); the caller holds it.
 *	- TRUNCATE during a snapshot: rows it removed that no change event
 *	  describes are not emitted (their old rows are not captured); the 't'
 *	  event follows the 'r' events, so the replayed table is still right.
 *
 *-------------------------------------------------------------------------
 */
#include "kafka_fdw.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/index.h"
#include "catalog/pg_index.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/ruleutils.h"
#include "utils/syscache.h"

PG_FUNCTION_INFO_V1(kafka_snapshot_step);

#define DEFAULT_CHUNK_SIZE 10000

/* The key columns of a snapshot, as SQL fragments */
typedef struct SnapshotKey
{
	char	   *table;			/* qualified table name */
	List	   *names;			/* quoted column names (char *) */
	List	   *literals;		/* the names as SQL string literals (JSON keys) */
	char	   *coldefs;		/* "k1 type COLLATE c, ..." for json_to_record */
} SnapshotKey;

/*
 * Is keys (column names) the column set of a unique, immediate,
 * non-partial, plain-column index whose columns are all NOT NULL?  Then
 * the table has at most one row per key value at every moment, which the
 * snapshot's reconstruction needs.
 */
static bool
key_is_unique(Relation rel, List *keys)
{
	List	   *indexes = RelationGetIndexList(rel);
	ListCell   *lc;
	Bitmapset  *want = NULL;
	bool		found = false;

	foreach(lc, keys)
	{
		AttrNumber	att = get_attnum(RelationGetRelid(rel), (char *) lfirst(lc));

		if (att == InvalidAttrNumber ||
			!TupleDescAttr(RelationGetDescr(rel), att - 1)->attnotnull)
			return false;
		want = bms_add_member(want, att);
	}
	foreach(lc, indexes)
	{
		HeapTuple	tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(lfirst_oid(lc)));
		Form_pg_index idx;
		Bitmapset  *have = NULL;
		bool		plain = true;

		if (!HeapTupleIsValid(tup))
			continue;
		idx = (Form_pg_index) GETSTRUCT(tup);
		for (int i = 0; i < idx->indnkeyatts; i++)
		{
			if (idx->indkey.values[i] == 0)
				plain = false;
			have = bms_add_member(have, idx->indkey.values[i]);
		}
		if (idx->indisunique && idx->indimmediate && idx->indisvalid && plain &&
			heap_attisnull(tup, Anum_pg_index_indpred, NULL) &&
			bms_equal(have, want))
			found = true;
		ReleaseSysCache(tup);
		if (found)
			break;
	}
	list_free(indexes);
	return found;
}

/*
 * For kafka.stream_changes(..., snapshot => true): refuse a key the
 * snapshot cannot chunk and reconstruct by, and a bad chunk size option.
 */
void
kafkaSnapshotCheck(Oid relid, List *keys, int chunk_size)
{
	Relation	rel;
	bool		ok;

	if (keys == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("a snapshot of table %s needs a key, and the table has none", get_rel_name(relid)),
				 errdetail("The snapshot reads the table in chunks of key order without locking it."),
				 errhint("Give the table a primary key, or pass key_columns naming the NOT NULL columns of a unique index.")));
	rel = table_open(relid, AccessShareLock);
	ok = key_is_unique(rel, keys);
	table_close(rel, AccessShareLock);
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("a snapshot of table %s needs a unique key", get_rel_name(relid)),
				 errdetail("The key columns are not the NOT NULL columns of a unique, non-deferrable, non-partial index."),
				 errhint("Pass key_columns naming the columns of the primary key or of such an index.")));
	if (chunk_size <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"snapshot_chunk_size\" must be a positive integer")));
}

/* SQL fragments of the key columns of relid */
static SnapshotKey *
snapshot_key(Oid relid, List *keys)
{
	SnapshotKey *k = palloc0(sizeof(SnapshotKey));
	StringInfoData defs;
	ListCell   *lc;

	k->table = quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
										  get_rel_name(relid));
	initStringInfo(&defs);
	foreach(lc, keys)
	{
		char	   *name = lfirst(lc);
		AttrNumber	att = get_attnum(relid, name);
		Oid			typid,
					collid;
		int32		typmod;

		if (att == InvalidAttrNumber)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("key column \"%s\" of table %s does not exist any more", name, get_rel_name(relid)),
					 errhint("Stop the stream and start it again.")));
		get_atttypetypmodcoll(relid, att, &typid, &typmod, &collid);
		k->names = lappend(k->names, (char *) quote_identifier(name));
		k->literals = lappend(k->literals, quote_literal_cstr(name));
		if (defs.len > 0)
			appendStringInfoString(&defs, ", ");
		appendStringInfo(&defs, "%s %s", quote_identifier(name),
						 format_type_extended(typid, typmod,
											  FORMAT_TYPE_TYPEMOD_GIVEN | FORMAT_TYPE_FORCE_QUALIFY));
		if (OidIsValid(collid))
			appendStringInfo(&defs, " COLLATE %s", generate_collation_name(collid));
	}
	k->coldefs = defs.data;
	return k;
}

/* "a.k1, a.k2" */
static char *
cols(SnapshotKey *k, const char *alias)
{
	StringInfoData b;
	ListCell   *lc;

	initStringInfo(&b);
	foreach(lc, k->names)
		appendStringInfo(&b, "%s%s.%s", b.len > 0 ? ", " : "", alias, (char *) lfirst(lc));
	return b.data;
}

/*
 * "AND (a.k1, a.k2) > (lo.k1, lo.k2) AND (...) <= (hi...)" for the range
 * (lo, hi] of a chunk; the aliases lo and hi are in FROM when used.
 */
static char *
range(SnapshotKey *k, const char *alias, bool lo, bool hi)
{
	StringInfoData b;

	initStringInfo(&b);
	if (lo)
		appendStringInfo(&b, " AND (%s) > (%s)", cols(k, alias), cols(k, "lo"));
	if (hi)
		appendStringInfo(&b, " AND (%s) <= (%s)", cols(k, alias), cols(k, "hi"));
	return b.data;
}

/* ", json_to_record($1) lo(...)" and the same for hi ($2) */
static char *
bounds_from(SnapshotKey *k, bool lo, bool hi)
{
	return psprintf("%s%s",
					lo ? psprintf(", pg_catalog.json_to_record($1::pg_catalog.json) AS lo(%s)", k->coldefs) : "",
					hi ? psprintf(", pg_catalog.json_to_record($2::pg_catalog.json) AS hi(%s)", k->coldefs) : "");
}

/*
 * The CTEs ev (the key of each captured change of the stream, old key as
 * side 0 with the old row, new key as side 1) and first (per key of the
 * range, its earliest event): the P state of the keys that changed since P.
 */
static char *
first_events_sql(SnapshotKey *k, int32 stream_id, bool lo, bool hi)
{
	return psprintf("WITH ev AS MATERIALIZED ("
					" SELECT o.event_id, x.side, x.before, %s"
					" FROM kafka.outbox o CROSS JOIN LATERAL ("
					"  SELECT 0 AS side, o.before, %s FROM pg_catalog.json_to_record(o.before) AS b(%s) WHERE o.before IS NOT NULL"
					"  UNION ALL"
					"  SELECT 1, NULL::pg_catalog.json, %s FROM pg_catalog.json_to_record(o.after) AS a(%s) WHERE o.after IS NOT NULL) x"
					" WHERE o.stream_id = %d AND o.op IN ('c', 'u', 'd')),"
					" first AS ("
					" SELECT DISTINCT ON (%s) %s, e.side, e.before"
					" FROM ev e%s WHERE true%s"
					" ORDER BY %s, e.event_id, e.side)",
					cols(k, "x"),
					cols(k, "b"), k->coldefs,
					cols(k, "a"), k->coldefs,
					stream_id,
					cols(k, "e"), cols(k, "e"),
					bounds_from(k, lo, hi), range(k, "e", lo, hi),
					cols(k, "e"));
}

/* "(f.k1, f.k2) = (t.k1, t.k2)" */
static char *
key_equal(SnapshotKey *k, const char *a, const char *b)
{
	return psprintf("(%s) = (%s)", cols(k, a), cols(k, b));
}

/* Run a query returning one row and one column; its text or NULL */
static char *
spi_value(const char *sql, int nargs, Oid *types, Datum *values, const char *nulls, int expect)
{
	int			rc = SPI_execute_with_args(sql, nargs, types, values, nulls, false, 0);

	if (rc != expect)
		elog(ERROR, "snapshot query failed (%d): %s", rc, sql);
	if (SPI_processed == 0 || SPI_tuptable == NULL)
		return NULL;
	return SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
}

/*
 * Run one chunk of the stream's snapshot in the current transaction (SPI
 * connected, the stream's advisory lock held).  The first one also counts
 * the rows the table had at P (exactly, by the same reconstruction) into
 * snapshot_rows_total.  Returns the number of 'r' events written, or -1 if
 * the stream has no snapshot to run.
 */
int64
kafkaSnapshotStep(int32 stream_id)
{
	Oid			types[3] = {TEXTOID, TEXTOID, INT4OID};
	Datum		values[3];
	char		nulls[3] = "   ";
	Datum		arg = Int32GetDatum(stream_id);
	Oid			argtype = INT4OID;
	HeapTuple	tup;
	TupleDesc	td;
	bool		isnull;
	Oid			relid;
	List	   *keys = NIL;
	char	   *state;
	char	   *cursor;
	char	   *bound;
	char	   *chunk_text;
	int64		chunk;
	SnapshotKey *k;
	int64		n;
	Datum		keyarr;

	if (SPI_execute_with_args("SELECT relid::pg_catalog.oid, key_columns::pg_catalog.text[], snapshot_state, "
							  "snapshot_cursor::pg_catalog.text, options->>'snapshot_chunk_size' "
							  "FROM kafka.stream WHERE stream_id = $1",
							  1, &argtype, &arg, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read kafka.stream");
	if (SPI_processed == 0)
		return -1;
	tup = SPI_tuptable->vals[0];
	td = SPI_tuptable->tupdesc;
	relid = DatumGetObjectId(SPI_getbinval(tup, td, 1, &isnull));
	keyarr = SPI_getbinval(tup, td, 2, &isnull);
	if (!isnull)
	{
		Datum	   *elems;
		bool	   *enulls;
		int			nk;

		deconstruct_array(DatumGetArrayTypeP(keyarr), TEXTOID, -1, false, TYPALIGN_INT,
						  &elems, &enulls, &nk);
		for (int i = 0; i < nk; i++)
			keys = lappend(keys, TextDatumGetCString(elems[i]));
	}
	state = SPI_getvalue(tup, td, 3);
	cursor = SPI_getvalue(tup, td, 4);
	chunk_text = SPI_getvalue(tup, td, 5);
	if (strcmp(state, "pending") != 0 && strcmp(state, "running") != 0)
		return -1;
	chunk = chunk_text ? strtol(chunk_text, NULL, 10) : DEFAULT_CHUNK_SIZE;
	kafkaSnapshotCheck(relid, keys, (int) Min(chunk, PG_INT32_MAX));
	k = snapshot_key(relid, keys);

	if (strcmp(state, "pending") == 0)
	{
		/* rows at P: current rows no event describes, plus old rows of earliest events */
		char	   *total = spi_value(psprintf("%s SELECT (SELECT pg_catalog.count(*) FROM %s t "
											   "WHERE NOT EXISTS (SELECT 1 FROM first f WHERE %s)) "
											   "+ (SELECT pg_catalog.count(*) FROM first WHERE side = 0)",
											   first_events_sql(k, stream_id, false, false),
											   k->table, key_equal(k, "f", "t")),
									  0, NULL, NULL, NULL, SPI_OK_SELECT);

		Datum		uvalues[2] = {CStringGetTextDatum(total), Int32GetDatum(stream_id)};
		Oid			utypes[2] = {TEXTOID, INT4OID};

		(void) spi_value("UPDATE kafka.stream SET snapshot_state = 'running', snapshot_rows_done = 0, "
						 "snapshot_rows_total = $1::pg_catalog.int8, snapshot_cursor = NULL WHERE stream_id = $2",
						 2, utypes, uvalues, NULL, SPI_OK_UPDATE);
		cursor = NULL;
	}

	/* the chunk's upper bound: the chunk-th key after the cursor, if any */
	values[0] = cursor ? CStringGetTextDatum(cursor) : (Datum) 0;
	nulls[0] = cursor ? ' ' : 'n';
	values[1] = (Datum) 0;
	nulls[1] = 'n';
	values[2] = Int32GetDatum((int32) Min(chunk, PG_INT32_MAX));
	{
		StringInfoData obj;
		ListCell   *ln,
				   *ll;

		initStringInfo(&obj);
		forboth(ln, k->names, ll, k->literals)
			appendStringInfo(&obj, "%s%s, t.%s", obj.len > 0 ? ", " : "", (char *) lfirst(ll), (char *) lfirst(ln));
		bound = spi_value(psprintf("SELECT pg_catalog.json_build_object(%s)::pg_catalog.text FROM %s t%s "
								   "WHERE true%s ORDER BY %s OFFSET $3 - 1 LIMIT 1",
								   obj.data, k->table, bounds_from(k, cursor != NULL, false),
								   range(k, "t", cursor != NULL, false), cols(k, "t")),
						  3, types, values, nulls, SPI_OK_SELECT);
	}

	/* the P state of every key of (cursor, bound], in key order */
	values[1] = bound ? CStringGetTextDatum(bound) : (Datum) 0;
	nulls[1] = bound ? ' ' : 'n';
	/*
	 * In key order, in chunks of at most 1,000 events (outbox.c), the chunk
	 * ids drawn in that order
	 */
	n = pg_strtoint64(spi_value(psprintf("%s, snap AS ("
										 " SELECT %s, pg_catalog.row_to_json(t) AS after FROM %s t%s"
										 " WHERE NOT EXISTS (SELECT 1 FROM first f WHERE %s)%s"
										 " UNION ALL"
										 " SELECT %s, f.before FROM first f WHERE f.side = 0),"
										 " num AS (SELECT s.after, pg_catalog.row_number() OVER (ORDER BY %s) AS rn FROM snap s),"
										 " ins AS (INSERT INTO kafka.outbox_chunk (chunk_id, stream_id, op, n, before, after)"
										 "  SELECT pg_catalog.nextval('kafka.outbox_event_id_seq'), %d, 'r', c.n,"
										 "         pg_catalog.array_fill(NULL::pg_catalog.json, ARRAY[c.n]), c.rows"
										 "  FROM (SELECT (rn - 1) / 1000 AS g, pg_catalog.count(*)::int AS n,"
										 "               pg_catalog.array_agg(after ORDER BY rn) AS rows"
										 "          FROM num GROUP BY 1 ORDER BY 1) c"
										 "  RETURNING n)"
										 " SELECT COALESCE(pg_catalog.sum(n), 0)::pg_catalog.text FROM ins",
										 first_events_sql(k, stream_id, cursor != NULL, bound != NULL),
										 cols(k, "t"), k->table, bounds_from(k, cursor != NULL, bound != NULL),
										 key_equal(k, "f", "t"), range(k, "t", cursor != NULL, bound != NULL),
										 cols(k, "f"),
										 cols(k, "s"), stream_id),
								3, types, values, nulls, SPI_OK_SELECT));

	values[0] = bound ? CStringGetTextDatum(bound) : (Datum) 0;
	nulls[0] = bound ? ' ' : 'n';
	values[1] = CStringGetTextDatum(psprintf(INT64_FORMAT, n));
	nulls[1] = ' ';
	values[2] = Int32GetDatum(stream_id);
	(void) spi_value("UPDATE kafka.stream SET snapshot_rows_done = snapshot_rows_done + $2::pg_catalog.int8, "
					 "snapshot_cursor = $1::pg_catalog.jsonb, "
					 "snapshot_state = CASE WHEN $1 IS NULL THEN 'done' ELSE 'running' END "
					 "WHERE stream_id = $3",
					 3, types, values, nulls, SPI_OK_UPDATE);
	return n;
}

/*
 * kafka.snapshot_step(source regclass) RETURNS bigint: run the next chunk
 * of the table's snapshot now, in the caller's transaction (tests, manual
 * runs; the worker does the same on its own).  Returns the rows written,
 * or NULL if the stream has no snapshot left to run.
 */
Datum
kafka_snapshot_step(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	Oid			save_userid;
	int			save_sec_context;
	int32		stream_id;
	int64		n;
	bool		isnull;
	Datum		arg = ObjectIdGetDatum(relid);
	Oid			argtype = OIDOID;

	if (!pg_class_ownercheck(relid, GetUserId()))
		aclcheck_error(ACLCHECK_NOT_OWNER, get_relkind_objtype(get_rel_relkind(relid)),
					   get_rel_name(relid) ? get_rel_name(relid) : "?");
	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(kafkaEmitterOwner(), save_sec_context | SECURITY_LOCAL_USERID_CHANGE);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args("SELECT stream_id FROM kafka.stream WHERE relid = $1",
							  1, &argtype, &arg, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read kafka.stream");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("table \"%s\" has no change stream", get_rel_name(relid) ? get_rel_name(relid) : "?"),
				 errhint("Start one with kafka.stream_changes().")));
	stream_id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	kafkaEmitterLockStream(stream_id);
	n = kafkaSnapshotStep(stream_id);
	SPI_finish();
	SetUserIdAndSecContext(save_userid, save_sec_context);
	if (n < 0)
		PG_RETURN_NULL();
	PG_RETURN_INT64(n);
}
