/*-------------------------------------------------------------------------
 *
 * pushdown.c
 *		  Turning WHERE clauses on the partition, offset and timestamp columns
 *		  into the partitions and offset ranges a scan reads.
 *
 * At planning, the clauses become a program (kafkaExtractQuals): comparisons
 * of the partition and offset columns with a value, combined with AND and OR
 * as in the clauses, and lower bounds on the timestamp among the top-level
 * conjuncts.  When the scan starts, the values are evaluated and the program
 * becomes a set of (partition, offset) pairs (kafkaEvalBounds): a
 * conjunction intersects its terms' sets, a disjunction unites them.  A
 * clause, or a part of one, that cannot be pushed stands for "every
 * message": it drops out of a conjunction, and leaves a disjunction
 * unrestricted.
 *
 * A set is kept as boxes, partition interval x offset interval, in a
 * canonical form: sorted by partition then offset; the boxes of one
 * partition interval share it and intervals are disjoint; one interval's
 * offset ranges are disjoint and not adjacent (overlapping and adjacent
 * ranges are merged), and two adjacent intervals with the same ranges are
 * one.  Equal sets have equal forms, and EXPLAIN shows them compactly.
 *
 * Invariants:
 *	- Pushdown only narrows what is read; every clause is still checked
 *	  locally by the executor, so a conservative set is always correct.
 *	- The compared value may be a Const, a Param or any stable expression
 *	  without Vars: it is evaluated when the scan starts (and on rescan),
 *	  so prepared statements and parameterized joins work.
 *	- A set never holds more than KAFKA_MAX_PUSHDOWN_RANGES boxes, and
 *	  combining two sets does bounded work: beyond, a union is widened to
 *	  the one box enclosing it and an intersection to the smaller of its two
 *	  operands; a set is never narrowed.
 *
 *-------------------------------------------------------------------------
 */
#include "kafka_fdw.h"

#include "access/stratnum.h"
#include "catalog/pg_am.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "optimizer/clauses.h"
#include "parser/parsetree.h"
#include "lib/qunique.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
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
 * The btree operator families of the column types seen while extracting
 * one relation's clauses: a long OR compares the same columns many times,
 * and GetDefaultOpClass scans pg_opclass.
 */
typedef struct FamilyCache
{
	int			n;
	Oid			type[4];
	Oid			family[4];
} FamilyCache;

/*
 * The btree strategy of opno for a column of type coltype compared with a
 * value of type valtype, or 0 if we do not push it down.
 */
static int
op_strategy(FamilyCache *fc, Oid opno, Oid coltype, Oid valtype)
{
	Oid			family = InvalidOid;
	int			i;

	if (is_int_type(coltype))
	{
		if (!is_int_type(valtype))
			return 0;
	}
	else if (coltype != valtype)
		return 0;
	for (i = 0; i < fc->n; i++)
		if (fc->type[i] == coltype)
			break;
	if (i < fc->n)
		family = fc->family[i];
	else
	{
		Oid			opclass = GetDefaultOpClass(coltype, BTREE_AM_OID);

		if (OidIsValid(opclass))
			family = get_opclass_family(opclass);
		if (fc->n < (int) lengthof(fc->type))
		{
			fc->type[fc->n] = coltype;
			fc->family[fc->n] = family;
			fc->n++;
		}
	}
	if (!OidIsValid(family))
		return 0;
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

/* The clauses being turned into a program (kafkaExtractQuals) */
typedef struct ExtractContext
{
	Index		relid;			/* our relation's index in the range table */
	KafkaOptions *opts;
	List	   *program;		/* IntList: KafkaQualKinds and term counts */
	List	   *exprs;			/* the values the comparisons compare with */
	FamilyCache families;		/* of the column types seen */
} ExtractContext;

/*
 * A comparison of the partition, offset or timestamp column with a value we
 * can evaluate at scan start: its KafkaQualKind, or -1.  Timestamps count
 * only where top is true (a conjunct of the whole WHERE clause): their
 * bound is one for the whole scan.
 */
static int
leaf_kind(ExtractContext *cx, Node *clause, bool top, Node **value)
{
	int			kind = -1;

	if (IsA(clause, OpExpr) && list_length(((OpExpr *) clause)->args) == 2)
	{
		OpExpr	   *op = (OpExpr *) clause;
		Node	   *l = linitial(op->args);
		Node	   *r = lsecond(op->args);
		Oid			opno = op->opno;
		int			role = column_role(l, cx->relid, cx->opts);

		if (role == KAFKA_COL_VALUE)
		{
			/* value op column: commute */
			role = column_role(r, cx->relid, cx->opts);
			opno = get_commutator(opno);
			*value = l;
			l = r;
		}
		else
			*value = r;
		if (role != KAFKA_COL_VALUE && OidIsValid(opno) && is_runtime_constant(*value))
			kind = strategy_kind(role, op_strategy(&cx->families, opno, exprType(l), exprType(*value)));
	}
	else if (IsA(clause, ScalarArrayOpExpr))
	{
		ScalarArrayOpExpr *sa = (ScalarArrayOpExpr *) clause;
		Node	   *l = linitial(sa->args);
		int			role = column_role(l, cx->relid, cx->opts);

		*value = lsecond(sa->args);
		if (sa->useOr && (role == KAFKA_COL_PARTITION || role == KAFKA_COL_OFFSET) &&
			is_runtime_constant(*value) &&
			op_strategy(&cx->families, sa->opno, exprType(l), get_element_type(exprType(*value))) == BTEqualStrategyNumber)
			kind = role == KAFKA_COL_PARTITION ? KQ_PART_IN : KQ_OFF_IN;
	}
	if ((kind == KQ_TS_GE || kind == KQ_TS_GT) && !top)
		kind = -1;
	return kind;
}

/*
 * Append the program of clause to cx.  Returns false, appending nothing, if
 * it restricts nothing we can push: a conjunction keeps the terms that do,
 * a disjunction needs all of its terms.
 */
static bool
extract_term(ExtractContext *cx, Node *clause, bool top)
{
	check_stack_depth();
	if (IsA(clause, RestrictInfo))
		clause = (Node *) ((RestrictInfo *) clause)->clause;

	if (is_andclause(clause) || is_orclause(clause))
	{
		bool		is_and = is_andclause(clause);
		int			plen = list_length(cx->program);
		int			elen = list_length(cx->exprs);
		int			n = 0;
		ListCell   *lc;

		cx->program = lappend_int(cx->program, is_and ? KQ_AND : KQ_OR);
		cx->program = lappend_int(cx->program, 0);	/* the count, set below */
		foreach(lc, ((BoolExpr *) clause)->args)
		{
			if (extract_term(cx, lfirst(lc), top && is_and))
				n++;
			else if (!is_and)
			{
				n = 0;			/* a term that restricts nothing: nor does the OR */
				break;
			}
		}
		if (n == 0)
		{
			cx->program = list_truncate(cx->program, plen);
			cx->exprs = list_truncate(cx->exprs, elen);
			return false;
		}
		lfirst_int(list_nth_cell(cx->program, plen + 1)) = n;
		return true;
	}
	else
	{
		Node	   *value = NULL;
		int			kind = leaf_kind(cx, clause, top, &value);

		if (kind < 0)
			return false;
		cx->program = lappend_int(cx->program, kind);
		cx->exprs = lappend(cx->exprs, value);
		return true;
	}
}

/*
 * Find what of the clauses we can push down.  program gets the conditions
 * (the top-level clauses are its terms, AND-ed), exprs the values they
 * compare with, in the program's order, to evaluate at scan start; texts
 * the clauses that contributed, as SQL for EXPLAIN.
 */
void
kafkaExtractQuals(PlannerInfo *root, RelOptInfo *baserel, KafkaOptions *opts,
				  List *clauses, List **program, List **exprs, List **texts)
{
	ExtractContext cx;
	ListCell   *lc;
	List	   *dpcontext = NIL;

	cx.relid = baserel->relid;
	cx.opts = opts;
	cx.program = NIL;
	cx.exprs = NIL;
	cx.families.n = 0;
	*texts = NIL;
	foreach(lc, clauses)
	{
		Node	   *clause = lfirst(lc);

		if (IsA(clause, RestrictInfo))
			clause = (Node *) ((RestrictInfo *) clause)->clause;
		if (!extract_term(&cx, clause, true))
			continue;
		if (dpcontext == NIL)
			dpcontext = deparse_context(root, baserel);
		*texts = lappend(*texts, makeString(deparse_expression(clause, dpcontext, false, false)));
	}
	*program = cx.program;
	*exprs = cx.exprs;
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

/* ---------------------------------------------------------------------
 * Sets of (partition, offset) pairs
 * ---------------------------------------------------------------------
 */

/* Most offset ranges one union or intersection of two sets looks at */
#define KAFKA_MAX_COMBINE_WORK (100 * KAFKA_MAX_PUSHDOWN_RANGES)

/* A set in canonical form (see the file header) */
typedef struct RangeSet
{
	int			n;
	KafkaBox   *b;
} RangeSet;

static const RangeSet set_nothing = {0, NULL};

/* The set of one box, clipped to the partitions and offsets that exist */
static RangeSet
set_box(int64 plo, int64 phi, int64 olo, int64 ohi)
{
	RangeSet	s = set_nothing;

	plo = Max(plo, 0);
	phi = Min(phi, KAFKA_PARTITION_END);
	olo = Max(olo, 0);
	ohi = Min(ohi, KAFKA_OFFSET_END);
	if (plo < phi && olo < ohi)
	{
		s.n = 1;
		s.b = palloc(sizeof(KafkaBox));
		s.b[0].plo = plo;
		s.b[0].phi = phi;
		s.b[0].olo = olo;
		s.b[0].ohi = ohi;
	}
	return s;
}

static bool
box_is_all(const KafkaBox *b)
{
	return b->plo == 0 && b->phi == KAFKA_PARTITION_END && b->olo == 0 && b->ohi == KAFKA_OFFSET_END;
}

static bool
set_is_all(const RangeSet *s)
{
	return s->n == 1 && box_is_all(&s->b[0]);
}

/* The one box enclosing two sets, not both empty */
static RangeSet
set_hull(const RangeSet *a, const RangeSet *b)
{
	int64		plo = PG_INT64_MAX,
				phi = PG_INT64_MIN,
				olo = PG_INT64_MAX,
				ohi = PG_INT64_MIN;
	const RangeSet *sets[2] = {a, b};

	for (int k = 0; k < 2; k++)
		for (int i = 0; i < sets[k]->n; i++)
		{
			const KafkaBox *x = &sets[k]->b[i];

			plo = Min(plo, x->plo);
			phi = Max(phi, x->phi);
			olo = Min(olo, x->olo);
			ohi = Max(ohi, x->ohi);
		}
	return set_box(plo, phi, olo, ohi);
}

/* Index of the first box after the partition interval of box i */
static int
next_group(const RangeSet *s, int i)
{
	int			j = i + 1;

	while (j < s->n && s->b[j].plo == s->b[i].plo)
		j++;
	return j;
}

/*
 * Sorted, disjoint, non-adjacent offset ranges (of a's and b's boxes):
 * their union or intersection into out; returns how many.
 */
static int
combine_offsets(const KafkaBox *a, int na, const KafkaBox *b, int nb, bool is_and, KafkaBox *out)
{
	int			i = 0,
				j = 0,
				n = 0;

	if (is_and)
	{
		while (i < na && j < nb)
		{
			int64		lo = Max(a[i].olo, b[j].olo);
			int64		hi = Min(a[i].ohi, b[j].ohi);

			if (lo < hi)
			{
				out[n].olo = lo;
				out[n].ohi = hi;
				n++;
			}
			if (a[i].ohi < b[j].ohi)
				i++;
			else
				j++;
		}
		return n;
	}
	while (i < na || j < nb)
	{
		const KafkaBox *x = (j >= nb || (i < na && a[i].olo <= b[j].olo)) ? &a[i++] : &b[j++];

		/* overlapping or adjacent: one range */
		if (n > 0 && x->olo <= out[n - 1].ohi)
			out[n - 1].ohi = Max(out[n - 1].ohi, x->ohi);
		else
		{
			out[n].olo = x->olo;
			out[n].ohi = x->ohi;
			n++;
		}
	}
	return n;
}

/*
 * The union or intersection of two sets, in canonical form, into *out.
 * The partition axis is cut at every end of an interval of either set; in
 * each piece, the two sets' offset ranges are combined; a piece next to the
 * previous one with the same ranges extends it.  Returns false if the
 * result would exceed KAFKA_MAX_PUSHDOWN_RANGES boxes or the work
 * KAFKA_MAX_COMBINE_WORK.
 */
static bool
set_combine(const RangeSet *a, const RangeSet *b, bool is_and, RangeSet *out)
{
	int64	   *cuts = palloc(sizeof(int64) * 2 * (a->n + b->n));
	int			ncuts = 0;
	int			ia = 0,
				ib = 0;
	int			last = -1;		/* first box of the last interval in out */
	int			space = 16;
	KafkaBox   *tmp = palloc(sizeof(KafkaBox) * (a->n + b->n));
	int64		work = 0;
	const RangeSet *sets[2] = {a, b};

	for (int k = 0; k < 2; k++)
		for (int i = 0; i < sets[k]->n; i = next_group(sets[k], i))
		{
			cuts[ncuts++] = sets[k]->b[i].plo;
			cuts[ncuts++] = sets[k]->b[i].phi;
		}
	qsort(cuts, ncuts, sizeof(int64), cmp_int64);
	ncuts = (int) qunique(cuts, ncuts, sizeof(int64), cmp_int64);

	out->n = 0;
	out->b = palloc(sizeof(KafkaBox) * space);
	for (int k = 0; k + 1 < ncuts; k++)
	{
		int64		x = cuts[k],
					y = cuts[k + 1];
		int			na = 0,
					nb = 0,
					nt;

		/* the intervals of a and b that hold [x, y), if any */
		while (ia < a->n && a->b[ia].phi <= x)
			ia = next_group(a, ia);
		if (ia < a->n && a->b[ia].plo <= x)
			na = next_group(a, ia) - ia;
		while (ib < b->n && b->b[ib].phi <= x)
			ib = next_group(b, ib);
		if (ib < b->n && b->b[ib].plo <= x)
			nb = next_group(b, ib) - ib;

		work += na + nb;
		if (work > KAFKA_MAX_COMBINE_WORK)
			return false;
		nt = combine_offsets(a->b + ia, na, b->b + ib, nb, is_and, tmp);
		if (nt == 0)
			continue;

		if (last >= 0 && out->b[last].phi == x && out->n - last == nt)
		{
			bool		same = true;

			for (int i = 0; i < nt && same; i++)
				same = out->b[last + i].olo == tmp[i].olo && out->b[last + i].ohi == tmp[i].ohi;
			if (same)
			{
				for (int i = last; i < out->n; i++)
					out->b[i].phi = y;
				continue;
			}
		}
		if (out->n + nt > KAFKA_MAX_PUSHDOWN_RANGES)
			return false;
		if (out->n + nt > space)
		{
			space = Max(space * 2, out->n + nt);
			out->b = repalloc(out->b, sizeof(KafkaBox) * space);
		}
		last = out->n;
		for (int i = 0; i < nt; i++)
		{
			KafkaBox   *o = &out->b[out->n++];

			o->plo = x;
			o->phi = y;
			o->olo = tmp[i].olo;
			o->ohi = tmp[i].ohi;
		}
	}
	return true;
}

/* a AND b; too large or costly: the smaller of the two, a superset */
static RangeSet
set_and(RangeSet a, RangeSet b, bool *widened)
{
	RangeSet	r;

	if (a.n == 0 || set_is_all(&b))
		return a;
	if (b.n == 0 || set_is_all(&a))
		return b;
	if (set_combine(&a, &b, true, &r))
		return r;
	*widened = true;
	return a.n <= b.n ? a : b;
}

/* a OR b; too large or costly: the box enclosing both */
static RangeSet
set_or(RangeSet a, RangeSet b, bool *widened)
{
	RangeSet	r;

	if (a.n == 0 || set_is_all(&b))
		return b;
	if (b.n == 0 || set_is_all(&a))
		return a;
	if (set_combine(&a, &b, false, &r))
		return r;
	*widened = true;
	return set_hull(&a, &b);
}

/*
 * The set of sorted distinct values, as partitions (all offsets) or as
 * offsets (all partitions): runs of consecutive values become one interval.
 * Values outside the partitions or offsets that exist are left out.
 */
static RangeSet
set_of_values(int64 *v, int n, bool partitions, bool *widened)
{
	RangeSet	s = set_nothing;
	int64		end = partitions ? KAFKA_PARTITION_END : KAFKA_OFFSET_END;
	int			i = 0;

	s.b = palloc(sizeof(KafkaBox) * Max(n, 1));
	while (i < n)
	{
		int64		lo = v[i],
					hi;

		if (lo < 0 || lo >= end)
		{
			i++;
			continue;
		}
		hi = lo + 1;
		while (++i < n && v[i] == hi && hi < end)
			hi++;
		if (partitions)
		{
			s.b[s.n].plo = lo;
			s.b[s.n].phi = hi;
			s.b[s.n].olo = 0;
			s.b[s.n].ohi = KAFKA_OFFSET_END;
		}
		else
		{
			s.b[s.n].plo = 0;
			s.b[s.n].phi = KAFKA_PARTITION_END;
			s.b[s.n].olo = lo;
			s.b[s.n].ohi = hi;
		}
		s.n++;
	}
	if (s.n > KAFKA_MAX_PUSHDOWN_RANGES)
	{
		*widened = true;
		return set_hull(&s, &set_nothing);
	}
	return s;
}

/* v + 1, or v if that overflows (the value is beyond every offset anyway) */
static int64
succ(int64 v)
{
	return v < PG_INT64_MAX ? v + 1 : v;
}

/* The program being evaluated (kafkaEvalBounds) */
typedef struct EvalContext
{
	List	   *program;
	int			pc;				/* next step of the program */
	List	   *exprstates;
	int			next_expr;		/* the value of the next comparison */
	ExprContext *econtext;
	int64		ts_lo;			/* timestamp lower bound, or -1 */
	bool		widened;		/* a set was widened (the cap) */
} EvalContext;

/* The set of a comparison with the value of the next expression */
static RangeSet
eval_leaf(EvalContext *ec, int kind)
{
	ExprState  *es = list_nth(ec->exprstates, ec->next_expr++);
	Oid			type = exprType((Node *) es->expr);
	bool		isnull;
	Datum		d = ExecEvalExprSwitchContext(es, ec->econtext, &isnull);
	int64		v,
				lo = PG_INT64_MIN,
				hi = PG_INT64_MAX;

	/* a NULL value makes the comparison NULL: no row */
	if (isnull)
		return set_nothing;

	if (kind == KQ_PART_IN || kind == KQ_OFF_IN)
	{
		ArrayType  *arr = DatumGetArrayTypeP(d);
		Oid			et = ARR_ELEMTYPE(arr);
		int16		typlen;
		bool		typbyval;
		char		typalign;
		Datum	   *elems;
		bool	   *enulls;
		int			n,
					m = 0;
		int64	   *vals;

		get_typlenbyvalalign(et, &typlen, &typbyval, &typalign);
		deconstruct_array(arr, et, typlen, typbyval, typalign, &elems, &enulls, &n);
		vals = palloc(sizeof(int64) * Max(n, 1));
		for (int i = 0; i < n; i++)
			if (!enulls[i])		/* NULL elements match nothing */
				vals[m++] = datum_int64(elems[i], et);
		qsort(vals, m, sizeof(int64), cmp_int64);
		m = (int) qunique(vals, m, sizeof(int64), cmp_int64);
		return set_of_values(vals, m, kind == KQ_PART_IN, &ec->widened);
	}

	v = datum_int64(d, type);
	switch (kind)
	{
		case KQ_PART_EQ:
		case KQ_OFF_EQ:
			lo = v;
			hi = succ(v);
			break;
		case KQ_PART_LT:
		case KQ_OFF_LT:
			hi = v;
			break;
		case KQ_PART_LE:
		case KQ_OFF_LE:
			hi = succ(v);
			break;
		case KQ_PART_GT:
		case KQ_OFF_GT:
			if (v == PG_INT64_MAX)
				return set_nothing;
			lo = v + 1;
			break;
		case KQ_PART_GE:
		case KQ_OFF_GE:
			lo = v;
			break;
		case KQ_TS_GE:
		case KQ_TS_GT:
			ec->ts_lo = Max(ec->ts_lo, v);
			return set_box(0, KAFKA_PARTITION_END, 0, KAFKA_OFFSET_END);
		default:
			elog(ERROR, "unexpected kafka_fdw pushdown step %d", kind);
	}
	if (kind == KQ_PART_EQ || kind == KQ_PART_LT || kind == KQ_PART_LE ||
		kind == KQ_PART_GT || kind == KQ_PART_GE)
		return set_box(lo, hi, 0, KAFKA_OFFSET_END);
	return set_box(0, KAFKA_PARTITION_END, lo, hi);
}

/* The set of the next term of the program */
static RangeSet
eval_term(EvalContext *ec)
{
	int			kind = list_nth_int(ec->program, ec->pc++);
	int			n;
	RangeSet	r;

	check_stack_depth();
	if (kind != KQ_AND && kind != KQ_OR)
		return eval_leaf(ec, kind);

	n = list_nth_int(ec->program, ec->pc++);
	if (kind == KQ_AND)
	{
		r = set_box(0, KAFKA_PARTITION_END, 0, KAFKA_OFFSET_END);
		for (int i = 0; i < n; i++)
			r = set_and(r, eval_term(ec), &ec->widened);
	}
	else
	{
		RangeSet   *terms = palloc(sizeof(RangeSet) * n);

		for (int i = 0; i < n; i++)
			terms[i] = eval_term(ec);
		/* pairwise, so that a long OR costs n log n, not n^2 */
		for (int step = 1; step < n; step *= 2)
			for (int i = 0; i + step < n; i += 2 * step)
				terms[i] = set_or(terms[i], terms[i + step], &ec->widened);
		r = terms[0];
	}
	return r;
}

/*
 * Evaluate the pushed-down program (kafkaExtractQuals) into bounds, with
 * the values of its expressions now.  The boxes are allocated in the
 * current memory context; the work in a temporary one.
 */
void
kafkaEvalBounds(List *program, List *exprstates, ExprContext *econtext, KafkaScanBounds *b)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "kafka_fdw pushdown",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	EvalContext ec;
	RangeSet	r = set_box(0, KAFKA_PARTITION_END, 0, KAFKA_OFFSET_END);

	ec.program = program;
	ec.pc = 0;
	ec.exprstates = exprstates;
	ec.next_expr = 0;
	ec.econtext = econtext;
	ec.ts_lo = -1;
	ec.widened = false;
	while (ec.pc < list_length(program))
		r = set_and(r, eval_term(&ec), &ec.widened);
	if (ec.next_expr != list_length(exprstates))
		elog(ERROR, "kafka_fdw pushdown program does not match its values");

	MemoryContextSwitchTo(old);
	b->nboxes = r.n;
	b->boxes = palloc(sizeof(KafkaBox) * Max(r.n, 1));
	if (r.n > 0)
		memcpy(b->boxes, r.b, sizeof(KafkaBox) * r.n);
	b->ts_lo = ec.ts_lo;
	b->widened = ec.widened;
	MemoryContextDelete(cxt);
}

/* Do the bounds leave every partition and offset (timestamps aside)? */
bool
kafkaBoundsAll(const KafkaScanBounds *b)
{
	return b->nboxes == 1 && box_is_all(&b->boxes[0]);
}

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

/*
 * The ranges a scan reads: for each partition of the topic the bounds
 * select, [start, end) from the low and high watermarks taken now, narrowed
 * by the timestamp bound (offsets for times) and by a pipeline's pin, then
 * cut by the bounds' offset ranges of that partition.  A partition's ranges
 * are consecutive in the list, in offset order.  Partitions the bounds name
 * but the topic lacks are no error: they hold no message.
 */
List *
kafkaPlanRanges(KafkaOptions *opts, rd_kafka_t *rk, KafkaScanBounds *b)
{
	int32	   *parts;
	int			nparts;
	List	   *ranges = NIL;
	bool		pinned = OidIsValid(pin_relid) && opts->relid == pin_relid;

	if (b->nboxes == 0)
		return NIL;
	nparts = kafkaTopicPartitions(rk, opts->topic, opts->timeout_ms, &parts);
	for (int i = 0; i < nparts; i++)
	{
		int32		p = parts[i];
		int64		low,
					high,
					start,
					end;
		int			lo = 0,
					hi = b->nboxes,
					first,
					last;

		/* the boxes of p's partition interval: [first, last) */
		while (lo < hi)
		{
			int			mid = lo + (hi - lo) / 2;

			if (b->boxes[mid].phi <= p)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo >= b->nboxes || b->boxes[lo].plo > p)
			continue;
		first = last = lo;
		while (last < b->nboxes && b->boxes[last].plo == b->boxes[first].plo)
			last++;
		if (pinned && pinned_range(p) == NULL)
			continue;

		kafkaQueryWatermarks(rk, opts->topic, p, opts->timeout_ms, &low, &high);
		start = Max(low, b->boxes[first].olo);
		end = Min(high, b->boxes[last - 1].ohi);
		if (pinned)
		{
			/* a pipeline's batch: only its offsets */
			start = Max(start, pinned_range(p)->start);
			end = Min(end, pinned_range(p)->end);
		}
		if (b->ts_lo >= 0 && start < end)
		{
			int64		o = kafkaOffsetForTime(rk, opts->topic, p, b->ts_lo, opts->timeout_ms);

			start = o < 0 ? end : Max(start, o);
		}
		for (int j = first; j < last && start < end; j++)
		{
			KafkaRange *r;

			if (b->boxes[j].ohi <= start)
				continue;
			if (b->boxes[j].olo >= end)
				break;
			r = palloc(sizeof(KafkaRange));
			r->partition = p;
			r->start = Max(start, b->boxes[j].olo);
			r->end = Min(end, b->boxes[j].ohi);
			ranges = lappend(ranges, r);
		}
	}
	return ranges;
}
