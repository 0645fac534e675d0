#!/usr/bin/env bash
# parallel_ranges: a parallel scan shares every range it planned, however many there are (issue 10,
# item 3: the shared state used to hold at most 1024 ranges and dropped the rest silently).
#  - a topic of 1100 partitions, 3 messages each: count and sum, serial and parallel;
#    offs IN (0, 2) over it: 2200 single-message ranges;
#  - a topic of 4 partitions of 600 messages: offs IN (<300 even offsets>) selects 1200 messages,
#    1200 ranges; serial and parallel;
#  - the same IN list as a parameter of a rescanned parallel scan (a LATERAL subquery under a
#    nested loop: the Gather is re-initialized with a new list for each outer row);
#  - an OR of (partition, offsets) conditions (issue 11): a union of ranges of different
#    partitions, shared among the workers; exactly the messages selected are read.
# The expected counts and sums come from kcat's dump of the topics, not from kafka_fdw.
# The topics are deleted at the end (a 1100-partition topic would slow later tests down).
set -euo pipefail

# shellcheck source=test/t/lib.sh
source "$REPO/test/t/lib.sh"

BIGP=1100
scratch_topics pr_srv "pr_big:$BIGP" pr_in:4

q <<SQL
CREATE FOREIGN TABLE pr_big (part int OPTIONS (partition 'true'), offs bigint OPTIONS (offset 'true'), x int)
  SERVER pr_srv OPTIONS (topic 'pr_big', format 'json');
CREATE FOREIGN TABLE pr_in (part int OPTIONS (partition 'true'), offs bigint OPTIONS (offset 'true'), x int)
  SERVER pr_srv OPTIONS (topic 'pr_in', format 'json');
INSERT INTO pr_big (part, x) SELECT g % $BIGP, g * 7 + 1 FROM generate_series(0, 3 * $BIGP - 1) g;
INSERT INTO pr_in (part, x) SELECT g % 4, g * 3 + 2 FROM generate_series(0, 2399) g;
SQL

dump pr_big > "$TEST_TMP/big.txt"
dump pr_in > "$TEST_TMP/in.txt"
stats() { awk "$1"' { c++; s += $3 } END { printf "%d|%d\n", c, s }' "$2"; }
want_big=$(stats '1' "$TEST_TMP/big.txt")
want_big_in=$(stats '$2 == 0 || $2 == 2' "$TEST_TMP/big.txt")
nparts=$(awk '{ print $1 }' "$TEST_TMP/big.txt" | sort -u | wc -l)
[ "$want_big" = "$((3 * BIGP))|$(awk -v n=$((3 * BIGP)) 'BEGIN { for (g = 0; g < n; g++) s += g * 7 + 1; print s }')" ] \
  || fail "kcat reads $want_big from pr_big"
[ "$nparts" = "$BIGP" ] || fail "kcat sees messages in $nparts partitions, expected $BIGP"
want_in=$(stats '$2 % 2 == 0 && $2 <= 598' "$TEST_TMP/in.txt")
want_or=$(stats '($1 == 0 && $2 >= 10 && $2 <= 300) || (($1 == 1 || $1 == 2) && $2 % 2 == 0 && $2 <= 598) ||
                 ($1 == 3 && $2 > 500) || ($1 == 3 && $2 == 5) || ($1 == 0 && $2 == 599)' "$TEST_TMP/in.txt")
[ "${want_in%|*}" = "1200" ] || fail "kcat: $want_in messages at even offsets up to 598 in pr_in, expected 1200"
echo "ok: kcat reads pr_big $want_big (count|sum) over $nparts partitions, offsets 0 and 2: $want_big_in; pr_in even offsets: $want_in"

INLIST=$(seq -s, 0 2 598)
Q_BIG="SELECT count(*) || '|' || sum(x) FROM pr_big"
Q_BIG_IN="SELECT count(*) || '|' || sum(x) FROM pr_big WHERE offs IN (0, 2)"
Q_IN="SELECT count(*) || '|' || sum(x) FROM pr_in WHERE offs IN ($INLIST)"
Q_OR="SELECT count(*) || '|' || sum(x) FROM pr_in WHERE (part = 0 AND offs BETWEEN 10 AND 300)
  OR (part IN (1, 2) AND offs IN ($INLIST)) OR (part = 3 AND offs > 500) OR (part, offs) IN ((3, 5), (0, 599))"

for query in Q_BIG Q_BIG_IN Q_IN Q_OR; do
  plan=$(q -c "$PAR" -c "EXPLAIN (COSTS OFF) ${!query}")
  grep -q 'Gather' <<<"$plan" || { echo "$plan" >&2; fail "$query: no Gather in the parallel plan"; }
  grep -q 'Parallel Foreign Scan' <<<"$plan" || { echo "$plan" >&2; fail "$query: no parallel foreign scan"; }
  plan=$(q -c "$SERIAL" -c "EXPLAIN (COSTS OFF) ${!query}")
  if grep -q 'Gather' <<<"$plan"; then echo "$plan" >&2; fail "$query: Gather in the serial plan"; fi
done
echo "ok: parallel plans use a Gather and a parallel foreign scan, serial plans do not"

same_serial_parallel "pr_big, $BIGP partitions" "$Q_BIG" "$want_big"
same_serial_parallel "pr_big offs IN (0, 2)" "$Q_BIG_IN" "$want_big_in"
same_serial_parallel "pr_in offs IN (300 values)" "$Q_IN" "$want_in"
same_serial_parallel "pr_in OR of partition and offset conditions" "$Q_OR" "$want_or"

# all participants' reads reach EXPLAIN ANALYZE (per-range counters in shared memory)
plan=$(q -c "$PAR" -c "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) $Q_IN")
read_msgs=$(sed -n 's/.*Kafka messages read: \([0-9]*\).*/\1/p' <<<"$plan" | head -1)
[ "$read_msgs" = "${want_in%|*}" ] || { echo "$plan" >&2; fail "parallel EXPLAIN ANALYZE: $read_msgs messages read, expected ${want_in%|*}"; }
echo "ok: parallel EXPLAIN ANALYZE counts $read_msgs messages read"
plan=$(q -c "$PAR" -c "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) $Q_OR")
read_msgs=$(sed -n 's/.*Kafka messages read: \([0-9]*\).*/\1/p' <<<"$plan" | head -1)
[ "$read_msgs" = "${want_or%|*}" ] || { echo "$plan" >&2; fail "parallel EXPLAIN ANALYZE of the OR: $read_msgs messages read, expected ${want_or%|*}"; }
grep -q 'Kafka ranges: p0 \[10,301), p0 599, p1-2 0, p1-2 2, ' <<<"$plan" || { echo "$plan" >&2; fail "parallel EXPLAIN ANALYZE of the OR: ranges not shown"; }
echo "ok: parallel EXPLAIN ANALYZE of the OR reads exactly the $read_msgs messages selected"

# a rescanned parallel scan: a new IN list (an InitPlan parameter) for each outer row
want_rescan="0|$(stats '$2 % 2 == 0 && $2 <= 598' "$TEST_TMP/in.txt"),1|$(stats '$2 % 2 == 1 && $2 <= 597' "$TEST_TMP/in.txt"),2|$(stats '$2 % 2 == 0 && $2 >= 2 && $2 <= 598' "$TEST_TMP/in.txt")"
Q_RESCAN="SELECT string_agg(v.a || '|' || s.c, ',' ORDER BY v.ord) FROM (VALUES (1, 0), (2, 1), (3, 2)) v(ord, a)
  CROSS JOIN LATERAL (SELECT count(*) || '|' || sum(x) c FROM pr_in
                      WHERE offs = ANY (ARRAY(SELECT generate_series(v.a, 598, 2)))) s"
NOJOIN="SET enable_hashjoin = off; SET enable_mergejoin = off; SET enable_material = off"
plan=$(q -c "$PAR" -c "$NOJOIN" -c "EXPLAIN (COSTS OFF) $Q_RESCAN")
grep -q 'Nested Loop' <<<"$plan" && grep -q 'Gather' <<<"$plan" || { echo "$plan" >&2; fail "rescan: expected a Gather under a nested loop"; }
got=$(q -c "$PAR" -c "$NOJOIN" -c "$Q_RESCAN")
[ "$got" = "$want_rescan" ] || fail "rescanned parallel scan: $got, expected $want_rescan"
got=$(q -c "$SERIAL" -c "$NOJOIN" -c "$Q_RESCAN")
[ "$got" = "$want_rescan" ] || fail "rescanned serial scan: $got, expected $want_rescan"
echo "ok: rescanned parallel and serial scans: $got"
