#!/usr/bin/env bash
# parallel_stress: parallel scans give exactly the serial result, every time (issue 10, "prove the
# read path safe": a parallel sum once came out one message short). Loops parallel queries and
# compares count, sum and count(DISTINCT (part, offs)) with what kcat reads from the topics:
#  - 4 partitions of 100 messages (the shape of sql/read.sql), whole topic and offs >= 50, 50 times;
#  - 4 partitions of 600 messages, an IN list of 300 offsets (1200 one-message ranges, several
#    ranges of one partition claimed by one participant), 50 times;
#  - one partition of 100001 messages, sliced into [0,50000) [50000,100000) [100000,100001): with
#    2 workers and with 1 (one participant then reads several slices of the same partition, one
#    after the other, on one handle), 10 times each;
# each loop in one session (the leader reuses its cached handle, as in pg_regress), and the first
# shape also in 10 fresh sessions. Bounded by the iteration counts; no timing is asserted.
set -euo pipefail

# shellcheck source=test/t/lib.sh
source "$REPO/test/t/lib.sh"

cleanup() {
  for t in pst_small pst_in pst_big; do
    q -c "SELECT kafka_delete_topic('pst_srv', '$t')" >/dev/null 2>&1 || true
  done
  q -c "DROP SERVER IF EXISTS pst_srv CASCADE" >/dev/null 2>&1 || true
}
trap cleanup EXIT

q >/dev/null <<SQL
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS kafka_fdw;
CREATE SERVER pst_srv FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers '$KAFKA_BROKERS');
SELECT kafka_create_topic('pst_srv', 'pst_small', 4);
SELECT kafka_create_topic('pst_srv', 'pst_in', 4);
SELECT kafka_create_topic('pst_srv', 'pst_big', 1);
SQL
for p in 0 1 2 3; do
  seq 0 99 | awk -v p=$p '{ printf "{\"x\":%d}\n", p * 1000 + ($1 % 7) * 10 + $1 }' | kcat -b "$KAFKA_BROKERS" -P -t pst_small -p $p
  seq 0 599 | awk -v p=$p '{ printf "{\"x\":%d}\n", p * 7 + $1 * 3 + 2 }' | kcat -b "$KAFKA_BROKERS" -P -t pst_in -p $p
done
seq 1 100001 | awk '{ printf "{\"x\":%d}\n", $1 }' | kcat -b "$KAFKA_BROKERS" -P -t pst_big -p 0
q <<SQL
CREATE FOREIGN TABLE pst_small (part int OPTIONS (partition 'true'), offs bigint OPTIONS (offset 'true'), x int)
  SERVER pst_srv OPTIONS (topic 'pst_small', format 'json');
CREATE FOREIGN TABLE pst_in (part int OPTIONS (partition 'true'), offs bigint OPTIONS (offset 'true'), x int)
  SERVER pst_srv OPTIONS (topic 'pst_in', format 'json');
CREATE FOREIGN TABLE pst_big (part int OPTIONS (partition 'true'), offs bigint OPTIONS (offset 'true'), x int)
  SERVER pst_srv OPTIONS (topic 'pst_big', format 'json');
SQL

dump pst_small > "$TEST_TMP/small.txt"
dump pst_in > "$TEST_TMP/in.txt"
dump pst_big > "$TEST_TMP/big.txt"
# count|sum|distinct (partition, offset) pairs of the lines selected by an awk condition
stats() { awk "$1"' { c++; s += $3; if (!(($1, $2) in seen)) { seen[$1, $2] = 1; d++ } } END { printf "%d|%.0f|%d\n", c, s, d }' "$2"; }
want_small=$(stats '1' "$TEST_TMP/small.txt")
want_small50=$(stats '$2 >= 50' "$TEST_TMP/small.txt")
want_in=$(stats '$2 % 2 == 0 && $2 <= 598' "$TEST_TMP/in.txt")
want_big=$(stats '1' "$TEST_TMP/big.txt")
[ "$want_small" = "400|$(awk 'BEGIN { for (p = 0; p < 4; p++) for (o = 0; o < 100; o++) s += p * 1000 + (o % 7) * 10 + o; print s }')|400" ] \
  || fail "kcat reads $want_small from pst_small"
[ "${want_small50%%|*}" = 200 ] || fail "kcat reads $want_small50 from pst_small at offsets >= 50"
[ "${want_in%%|*}" = 1200 ] || fail "kcat reads $want_in from pst_in at even offsets"
[ "$want_big" = "100001|$(( 100001 * 100002 / 2 ))|100001" ] || fail "kcat reads $want_big from pst_big"
echo "ok: kcat reads pst_small $want_small (offs >= 50: $want_small50), pst_in IN list $want_in, pst_big $want_big"

SERIAL="SET max_parallel_workers_per_gather = 0;"
PAR="SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0; SET max_parallel_workers_per_gather = 2;"
PAR1="SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0; SET max_parallel_workers_per_gather = 1;"
agg() { echo "SELECT count(*) || '|' || sum(x) || '|' || count(DISTINCT (part, offs)) FROM $1;"; }
Q_SMALL=$(agg pst_small)
Q_SMALL50=$(agg "pst_small WHERE offs >= 50")
Q_IN=$(agg "pst_in WHERE offs IN ($(seq -s, 0 2 598))")
Q_BIG=$(agg pst_big)

# the parallel plans are parallel, and the big one is sliced
for query in Q_SMALL Q_IN Q_BIG; do
  plan=$(q -c "$PAR" -c "EXPLAIN (COSTS OFF) ${!query}")
  grep -q 'Parallel Foreign Scan' <<<"$plan" || { echo "$plan" >&2; fail "$query: no parallel foreign scan"; }
done
plan=$(q -c "$PAR" -c "EXPLAIN (ANALYZE, VERBOSE, COSTS OFF, TIMING OFF, SUMMARY OFF) $Q_BIG")
grep -q 'p0 \[0,50000): 50000, p0 \[50000,100000): 50000, p0 \[100000,100001): 1' <<<"$plan" \
  || { echo "$plan" >&2; fail "pst_big: not read as three slices"; }

# loop NAME N SETTINGS QUERY WANT: the query N times in one session; every answer must be WANT
loop() {
  local out bad
  out=$({ echo "$3"; for _ in $(seq "$2"); do echo "$4"; done; } | q)
  [ "$(wc -l <<<"$out")" = "$2" ] || fail "$1: $(wc -l <<<"$out") answers, expected $2"
  bad=$(grep -c -v -x -F "$5" <<<"$out" || true)
  [ "$bad" = 0 ] || { sort <<<"$out" | uniq -c >&2; fail "$1: $bad of $2 answers differ from $5"; }
  echo "ok: $1: $2 times $5"
}
loop "pst_small serial" 5 "$SERIAL" "$Q_SMALL" "$want_small"
loop "pst_small parallel" 50 "$PAR" "$Q_SMALL" "$want_small"
loop "pst_small offs >= 50 parallel" 50 "$PAR" "$Q_SMALL50" "$want_small50"
loop "pst_in IN list parallel" 50 "$PAR" "$Q_IN" "$want_in"
loop "pst_big serial" 2 "$SERIAL" "$Q_BIG" "$want_big"
loop "pst_big parallel, 2 workers" 10 "$PAR" "$Q_BIG" "$want_big"
loop "pst_big parallel, 1 worker" 10 "$PAR1" "$Q_BIG" "$want_big"
for i in $(seq 10); do
  got=$(q -c "$PAR" -c "$Q_SMALL50")
  [ "$got" = "$want_small50" ] || fail "pst_small offs >= 50, fresh session $i: $got, expected $want_small50"
done
echo "ok: pst_small offs >= 50 parallel in 10 fresh sessions: $want_small50"
