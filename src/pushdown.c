/*-------------------------------------------------------------------------
 *
 * pushdown.c
 *		  Turning WHERE clauses on the partition, offset and timestamp columns
 *		  into the partitions and offset ranges a scan reads.
 *
 * Invariants:
 *	- Pushdown only narrows what is read; every clause is still checked
 *	  locally by the executor, so a conservative range is always correct.
 *	- The compared value may be a Const, a Param or any stable expression
 *	  without Vars: it is evaluated when the scan starts (and on rescan),
 *	  so prepared statements and parameterized joins work.
 *
 *-------------------------------------------------------------------------
 */
#include "kafka_fdw.h"

#include "utils/memutils.h"

#include "access/stratnum.h"
#include "catalog/pg_am.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "executor/executor.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "optimizer/clauses.h"
#include "parser/parsetree.h"
#include "lib/qunique.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/ruleutils.h"
#include "utils/timestamp.h"


/* Is node a Var of our relation with the given attnum (through relabels)? */
static bool
is_our_var(Node *node, Index relid, AttrNumber attnum)
{
	while (node && IsA(node, RelabelType))
		node = (Node *) ((RelabelType *) node)->arg;
	return node && IsA(node, Var) && ((Var *) node)->varno == (int) relid &&
		((Var *) node)->varlevelsup == 0 && ((Var *) node)->varattno == attnum && attnum > 0;
}

/* Which metadata column a Var is, if any */
static int
column_role(Node *node, Index relid, KafkaOptions *opts)
{
	if (opts->partition_attnum && is_our_var(node, relid, opts->partition_attnum))
		return KAFKA_COL_PARTITION;
	if (opts->offset_attnum && is_our_var(node, relid, opts->offset_attnum))
		return KAFKA_COL_OFFSET;
	if (opts->timestamp_attnum && is_our_var(node, relid, opts->timestamp_attnum))
		return KAFKA_COL_TIMESTAMP;
	return KAFKA_COL_VALUE;
}

static bool
is_int_type(Oid t)
{
	return t == INT2OID || t == INT4OID || t == INT8OID;
}

/* May the other side be evaluated once at scan start? */
static bool
is_runtime_constant(Node *node)
{
	return !contain_var_clause(node) && !contain_volatile_functions(node) &&
		!contain_agg_clause(node) && !contain_window_function(node);
}

/*
 * The btree strategy of opno for a column of type coltype compared with a
 * value of type valtype, or 0 if we do not push it down.
 */
static int
op_strategy(Oid opno, Oid coltype, Oid valtype)
{
	Oid			opclass;
	Oid			family;

	if (is_int_type(coltype))
	{
		if (!is_int_type(valtype))
			return 0;
	}
	else if (coltype != valtype)
		return 0;
	opclass = GetDefaultOpClass(coltype, BTREE_AM_OID);
	if (!OidIsValid(opclass))
		return 0;
	family = get_opclass_family(opclass);
	return get_op_opfamily_strategy(opno, family);
}

static int
strategy_kind(int role, int strategy)
{
	static const int part[] = {-1, KQ_PART_LT, KQ_PART_LE, KQ_PART_EQ, KQ_PART_GE, KQ_PART_GT};
	static const int off[] = {-1, KQ_OFF_LT, KQ_OFF_LE, KQ_OFF_EQ, KQ_OFF_GE, KQ_OFF_GT};

	if (strategy < 1 || strategy > 5)
		return -1;
	if (role == KAFKA_COL_PARTITION)
		return part[strategy];
	if (role == KAFKA_COL_OFFSET)
		return off[strategy];
	/* timestamps give lower bounds only (CreateTime need not be monotonic) */
	if (strategy == BTGreaterEqualStrategyNumber || strategy == BTEqualStrategyNumber)
		return KQ_TS_GE;
	if (strategy == BTGreaterStrategyNumber)
		return KQ_TS_GT;
	return -1;
}

/*
 * A context to deparse clauses on baserel for EXPLAIN.  The relation's Vars
 * carry its index in the query's range table, which need not be 1 (joins,
 * self-joins, subqueries, CTEs): deparse against the whole range table, as
 * EXPLAIN does, naming only this relation.
 */
static List *
deparse_context(PlannerInfo *root, RelOptInfo *baserel)
{
	PlannedStmt *pstmt = makeNode(PlannedStmt);

	pstmt->rtable = root->parse->rtable;
	return deparse_context_for_plan_tree(pstmt,
										 select_rtable_names_for_explain(pstmt->rtable,
																		 bms_make_singleton(baserel->relid)));
}

/*
 * Find the clauses we can push down.  kinds gets a KafkaQualKind per clause,
 * exprs the value expression to evaluate at scan start, texts the clause as
 * SQL for EXPLAIN.
 */
void
kafkaExtractQuals(PlannerInfo *root, RelOptInfo *baserel, KafkaOptions *opts,
				  List *clauses, List **kinds, List **exprs, List **texts)
{
	ListCell   *lc;
	List	   *dpcontext = NIL;

	*kinds = NIL;
	*exprs = NIL;
	*texts = NIL;
	foreach(lc, clauses)
	{
		Expr	   *clause = (Expr *) lfirst(lc);
		int			kind = -1;
		Node	   *value = NULL;

		if (IsA(clause, RestrictInfo))
			clause = ((RestrictInfo *) clause)->clause;

		if (IsA(clause, OpExpr) && list_length(((OpExpr *) clause)->args) == 2)
		{
			OpExpr	   *op = (OpExpr *) clause;
			Node	   *l = linitial(op->args);
			Node	   *r = lsecond(op->args);
			Oid			opno = op->opno;
			int			role = column_role(l, baserel->relid, opts);

			if (role == KAFKA_COL_VALUE)
			{
				/* value op column: commute */
				role = column_role(r, baserel->relid, opts);
				opno = get_commutator(opno);
				value = l;
				l = r;
			}
			else
				value = r;
			if (role != KAFKA_COL_VALUE && OidIsValid(opno) && is_runtime_constant(value))
				kind = strategy_kind(role, op_strategy(opno, exprType(l), exprType(value)));
		}
		else if (IsA(clause, ScalarArrayOpExpr))
		{
			ScalarArrayOpExpr *sa = (ScalarArrayOpExpr *) clause;
			Node	   *l = linitial(sa->args);
			int			role = column_role(l, baserel->relid, opts);

			value = lsecond(sa->args);
			if (sa->useOr && (role == KAFKA_COL_PARTITION || role == KAFKA_COL_OFFSET) &&
				is_runtime_constant(value) &&
				op_strategy(sa->opno, exprType(l), get_element_type(exprType(value))) == BTEqualStrategyNumber)
				kind = role == KAFKA_COL_PARTITION ? KQ_PART_IN : KQ_OFF_IN;
		}

		if (kind < 0)
			continue;
		*kinds = lappend_int(*kinds, kind);
		*exprs = lappend(*exprs, value);
		if (dpcontext == NIL)
			dpcontext = deparse_context(root, baserel);
		*texts = lappend(*texts, makeString(deparse_expression((Node *) clause, dpcontext, false, false)));
	}
}

/* A Datum of an integer or timestamp type as int64 (timestamps: Unix ms) */
static int64
datum_int64(Datum d, Oid type)
{
	switch (type)
	{
		case INT2OID:
			return DatumGetInt16(d);
		case INT4OID:
			return DatumGetInt32(d);
		case INT8OID:
			return DatumGetInt64(d);
		case TIMESTAMPOID:
		case TIMESTAMPTZOID:
			{
				Timestamp	ts = DatumGetTimestamp(d);

				if (TIMESTAMP_NOT_FINITE(ts))
					return TIMESTAMP_IS_NOBEGIN(ts) ? PG_INT64_MIN : PG_INT64_MAX;
				/* rounded down: the bound stays conservative */
				return kafkaTimestampToMs(ts);
			}
	}
	elog(ERROR, "unexpected type %u in kafka_fdw pushdown", type);
	return 0;
}

static int
cmp_int64(const void *a, const void *b)
{
	int64		x = *(const int64 *) a;
	int64		y = *(const int64 *) b;

	return x < y ? -1 : x > y ? 1 : 0;
}

/* Intersect an optional set with another */
static List *
intersect_set(List *cur, bool cur_set, List *other)
{
	List	   *res = NIL;
	ListCell   *lc;

	if (!cur_set)
		return other;
	foreach(lc, cur)
		if (list_member_int(other, lfirst_int(lc)))
			res = lappend_int(res, lfirst_int(lc));
	return res;
}

/*
 * Evaluate the pushed-down clauses into bounds.  A NULL value makes the
 * clause false, so the scan reads nothing.
 */
void
kafkaEvalBounds(List *kinds, List *exprstates, ExprContext *econtext, KafkaScanBounds *b)
{
	ListCell   *lk,
			   *le;

	memset(b, 0, sizeof(*b));
	b->part_lo = 0;
	b->part_hi = PG_INT32_MAX;
	b->off_lo = 0;
	b->off_hi = PG_INT64_MAX;
	b->ts_lo = -1;
	b->noff_set = -1;

	forboth(lk, kinds, le, exprstates)
	{
		int			kind = lfirst_int(lk);
		ExprState  *es = (ExprState *) lfirst(le);
		Oid			type = exprType((Node *) es->expr);
		bool		isnull;
		Datum		d = ExecEvalExprSwitchContext(es, econtext, &isnull);
		int64		v;

		if (isnull)
		{
			b->empty = true;
			continue;
		}
		if (kind == KQ_PART_IN || kind == KQ_OFF_IN)
		{
			ArrayType  *arr = DatumGetArrayTypeP(d);
			Oid			et = ARR_ELEMTYPE(arr);
			int16		typlen;
			bool		typbyval;
			char		typalign;
			Datum	   *elems;
			bool	   *enulls;
			int			n;
			List	   *set = NIL;

			get_typlenbyvalalign(et, &typlen, &typbyval, &typalign);
			deconstruct_array(arr, et, typlen, typbyval, typalign, &elems, &enulls, &n);
			for (int i = 0; i < n; i++)
			{
				if (enulls[i])
					continue;
				v = datum_int64(elems[i], et);
				if (kind == KQ_PART_IN && v >= 0 && v <= PG_INT32_MAX)
					set = lappend_int(set, (int) v);
			}
			if (kind == KQ_PART_IN)
			{
				b->partitions = intersect_set(b->partitions, b->partitions_set, set);
				b->partitions_set = true;
			}
			else
			{
				int64	   *set = palloc(sizeof(int64) * Max(n, 1));
				int			m = 0;

				for (int i = 0; i < n; i++)
					if (!enulls[i])
						set[m++] = datum_int64(elems[i], et);
				qsort(set, m, sizeof(int64), cmp_int64);
				m = (int) qunique(set, m, sizeof(int64), cmp_int64);
				/* two IN lists: keep what both allow */
				if (b->noff_set >= 0)
				{
					int			k = 0;

					for (int i = 0; i < m; i++)
						if (bsearch(&set[i], b->off_set, b->noff_set, sizeof(int64), cmp_int64))
							set[k++] = set[i];
					m = k;
				}
				b->off_set = set;
				b->noff_set = m;
				if (m == 0)
					b->empty = true;
			}
			continue;
		}

		v = datum_int64(d, type);
		switch (kind)
		{
			case KQ_PART_EQ:
				b->partitions = intersect_set(b->partitions, b->partitions_set,
											  (v >= 0 && v <= PG_INT32_MAX) ? list_make1_int((int) v) : NIL);
				b->partitions_set = true;
				break;
			case KQ_PART_LT:
				b->part_hi = Min(b->part_hi, v);
				break;
			case KQ_PART_LE:
				if (v < PG_INT32_MAX)
					b->part_hi = Min(b->part_hi, v + 1);
				break;
			case KQ_PART_GT:
				b->part_lo = Max(b->part_lo, v < PG_INT32_MAX ? v + 1 : v);
				if (v >= PG_INT32_MAX)
					b->empty = true;
				break;
			case KQ_PART_GE:
				b->part_lo = Max(b->part_lo, v);
				break;
			case KQ_OFF_EQ:
				b->off_lo = Max(b->off_lo, v);
				b->off_hi = v < PG_INT64_MAX ? Min(b->off_hi, v + 1) : b->off_hi;
				break;
			case KQ_OFF_LT:
				b->off_hi = Min(b->off_hi, v);
				break;
			case KQ_OFF_LE:
				if (v < PG_INT64_MAX)
					b->off_hi = Min(b->off_hi, v + 1);
				break;
			case KQ_OFF_GT:
				if (v == PG_INT64_MAX)
					b->empty = true;
				else
					b->off_lo = Max(b->off_lo, v + 1);
				break;
			case KQ_OFF_GE:
				b->off_lo = Max(b->off_lo, v);
				break;
			case KQ_TS_GE:
			case KQ_TS_GT:
				b->ts_lo = Max(b->ts_lo, v);
				break;
		}
	}
	if (b->part_lo >= b->part_hi || b->off_lo >= b->off_hi)
		b->empty = true;
}

/*
 * The ranges a scan reads: for each wanted partition, [start, end) from the
 * low and high watermarks taken now, narrowed by the bounds.
 */
/*
 * A pipeline (ingest.c) pins the scans of its source table to the offsets
 * of its batch while it runs the user's statement in this backend.
 */
static Oid	pin_relid = InvalidOid;
static KafkaRange *pin_ranges = NULL;
static int	pin_n = 0;

void
kafkaPinRanges(Oid relid, const KafkaRange *ranges, int n)
{
	if (pin_ranges)
		pfree(pin_ranges);
	pin_ranges = MemoryContextAlloc(TopMemoryContext, sizeof(KafkaRange) * Max(n, 1));
	memcpy(pin_ranges, ranges, sizeof(KafkaRange) * n);
	pin_n = n;
	pin_relid = relid;
}

void
kafkaUnpinRanges(void)
{
	pin_relid = InvalidOid;
	pin_n = 0;
}

/* The messages of a pinned table's ranges (for its size estimate); -1 if not pinned */
double
kafkaPinnedSize(Oid relid, int *nparts)
{
	double		total = 0;

	if (!OidIsValid(pin_relid) || relid != pin_relid)
		return -1;
	for (int i = 0; i < pin_n; i++)
		total += (double) (pin_ranges[i].end - pin_ranges[i].start);
	*nparts = pin_n;
	return total;
}

static const KafkaRange *
pinned_range(int32 partition)
{
	for (int i = 0; i < pin_n; i++)
		if (pin_ranges[i].partition == partition)
			return &pin_ranges[i];
	return NULL;
}

List *
kafkaPlanRanges(KafkaOptions *opts, rd_kafka_t *rk, KafkaScanBounds *b)
{
	int32	   *parts;
	int			nparts;
	List	   *ranges = NIL;

	if (b->empty)
		return NIL;
	nparts = kafkaTopicPartitions(rk, opts->topic, opts->timeout_ms, &parts);
	for (int i = 0; i < nparts; i++)
	{
		int32		p = parts[i];
		int64		low,
					high;
		KafkaRange *r;

		if (p < b->part_lo || p >= b->part_hi)
			continue;
		if (b->partitions_set && !list_member_int(b->partitions, p))
			continue;
		if (OidIsValid(pin_relid) && opts->relid == pin_relid && pinned_range(p) == NULL)
			continue;
		kafkaQueryWatermarks(rk, opts->topic, p, opts->timeout_ms, &low, &high);
		r = palloc(sizeof(KafkaRange));
		r->partition = p;
		r->start = Max(low, b->off_lo);
		r->end = Min(high, b->off_hi);
		if (OidIsValid(pin_relid) && opts->relid == pin_relid)
		{
			/* a pipeline's batch: only its offsets */
			r->start = Max(r->start, pinned_range(p)->start);
			r->end = Min(r->end, pinned_range(p)->end);
		}
		if (b->ts_lo >= 0 && r->start < r->end)
		{
			int64		o = kafkaOffsetForTime(rk, opts->topic, p, b->ts_lo, opts->timeout_ms);

			r->start = o < 0 ? r->end : Max(r->start, o);
		}
		if (r->start >= r->end)
		{
			pfree(r);
			continue;
		}
		if (b->noff_set < 0)
		{
			ranges = lappend(ranges, r);
			continue;
		}
		/* offset IN (...): one range per run of consecutive listed offsets */
		for (int i = 0; i < b->noff_set; i++)
		{
			int64		o = b->off_set[i];
			KafkaRange *x;

			if (o < r->start || o >= r->end)
				continue;
			if (ranges != NIL)
			{
				KafkaRange *last = llast(ranges);

				if (last->partition == p && last->end == o)
				{
					last->end = o + 1;
					continue;
				}
			}
			x = palloc(sizeof(KafkaRange));
			x->partition = p;
			x->start = o;
			x->end = o + 1;
			ranges = lappend(ranges, x);
		}
		pfree(r);
	}
	return ranges;
}
