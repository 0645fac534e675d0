#!/usr/bin/env bash
# cancel: a scan waiting on a stalled broker ends promptly; it never hangs for timeout_ms or longer.
# The broker is stalled with SIGSTOP (connections stay open, requests go unanswered: the worst case
# for a client) and always resumed with SIGCONT on exit.
#   (a) statement_timeout 1 s, broker stalled before the statement (waits in planning, metadata),
#       and stalled in the middle of a scan (waits for a fetch): "canceling statement due to
#       statement timeout" within 5 s, although timeout_ms is 60 s
#   (b) pg_cancel_backend from a second session on a scan stalled in the middle: returns within 5 s
#   (c) no statement_timeout, timeout_ms 3000: the scan fails with an error naming timeout_ms within
#       2-10 s, stalled before the statement and in the middle of a scan
#   and afterwards, with the broker back, the same scans return complete results.
# The 5 s and 10 s bounds are correctness bounds (the wait is bounded), not performance thresholds.
set -euo pipefail

# shellcheck source=test/t/lib.sh
source "$REPO/test/t/lib.sh"

export PGAPPNAME=cancel_test   # every session of this test, so that the exit trap can end them all
KAFKA_HOME=${KAFKA_HOME:-$REPO/.tmp/kafka-test}
kpid=$(cat "$KAFKA_HOME/kafka.pid")
kill -0 "$kpid"

bg_pid=""
cleanup() {
  resume
  if [ -n "$bg_pid" ]; then kill "$bg_pid" 2>/dev/null || true; fi
  # a killed psql does not end its backend's query: end the sessions of this test
  local pids p
  pids=$(PGAPPNAME=cancel_cleanup timeout 20 "$PSQL" -X -q -At -c "SELECT pid FROM pg_stat_activity
      WHERE application_name LIKE 'cancel%' AND application_name <> 'cancel_cleanup'" 2>/dev/null || true)
  for p in $pids; do
    PGAPPNAME=cancel_cleanup timeout 20 "$PSQL" -X -q -At -c "SELECT pg_terminate_backend($p)" >/dev/null 2>&1 || true
  done
}
trap cleanup EXIT
stall() { kill -STOP "$kpid"; }

broker_ok() {
  local i
  for i in $(seq 1 60); do
    if kcat -b "$KAFKA_BROKERS" -L -t cancel_t -m 2 2>/dev/null | grep -q "partition 0, leader 1"; then return 0; fi
    sleep 0.5
  done
  fail "broker did not answer within 30 s after SIGCONT"
}

N=100000
q <<SQL
CREATE EXTENSION IF NOT EXISTS kafka_fdw;
CREATE SERVER cancel_srv FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers '$KAFKA_BROKERS');
SELECT kafka_create_topic('cancel_srv', 'cancel_t', 1);
-- a normal table, and "slow" ones whose reads keep going back to the broker: every fetch returns
-- one record batch of 10 messages (the broker sends the first batch whole even when it exceeds
-- fetch.message.max.bytes), so a scan takes seconds and a stall in its middle stalls its fetches
CREATE FOREIGN TABLE cancel_t (v text) SERVER cancel_srv
  OPTIONS (topic 'cancel_t', format 'text', timeout_ms '60000');
CREATE FOREIGN TABLE cancel_slow (v text) SERVER cancel_srv
  OPTIONS (topic 'cancel_t', format 'text', timeout_ms '60000', "fetch.message.max.bytes" '64');
CREATE FOREIGN TABLE cancel_short (v text) SERVER cancel_srv
  OPTIONS (topic 'cancel_t', format 'text', timeout_ms '3000');
CREATE FOREIGN TABLE cancel_short_slow (v text) SERVER cancel_srv
  OPTIONS (topic 'cancel_t', format 'text', timeout_ms '3000', "fetch.message.max.bytes" '64');
SQL
seq 1 "$N" | awk '{ printf "message number %d of the cancel test\n", $1 }' \
  | kcat -b "$KAFKA_BROKERS" -P -t cancel_t -p 0 -X batch.num.messages=10   # record batches of 10
got=$(q -c "SELECT count(*) FROM cancel_t")
[ "$got" = "$N" ] || fail "count before the stall: $got, expected $N"
t0=$(now_ms)
got=$(q -c "SET max_parallel_workers_per_gather = 0" -c "SELECT count(*) FROM cancel_slow")
slow_ms=$(( $(now_ms) - t0 ))
[ "$got" = "$N" ] || fail "slow count: $got, expected $N"
echo "ok: $N messages; a scan of the slow table takes $slow_ms ms"

# run_timed LIMIT_MS OUTFILE PSQL-ARGS...: run psql, print elapsed ms; fail if it takes longer than
# 60 s (a hang) -- the callers check their own bounds
run_timed() {
  local out=$1; shift
  local t0 rc=0
  t0=$(now_ms)
  timeout 60 "$PSQL" -X -q -At "$@" > "$out" 2>&1 || rc=$?
  [ "$rc" -ne 124 ] || { cat "$out" >&2; fail "psql did not return within 60 s: hung"; }
  echo $(( $(now_ms) - t0 ))
}

# start_scan NAME TABLE SETTINGS: start a serial count(*) of TABLE in the background, in a session
# named NAME; return once it is inside the scan, waiting for Kafka (wait event "Extension")
start_scan() {
  local name=$1 table=$2 settings=$3 i w
  PGAPPNAME=cancel_$name "$PSQL" -X -q -At -c "SET max_parallel_workers_per_gather = 0" -c "$settings" \
      -c "SELECT count(*) FROM $table" > "$TEST_TMP/$name.out" 2>&1 &
  bg_pid=$!
  for i in $(seq 1 200); do
    w=$(q -c "SELECT wait_event FROM pg_stat_activity WHERE application_name = 'cancel_$name' AND state = 'active' AND query LIKE 'SELECT count(*)%'")
    if [ "$w" = "Extension" ]; then return 0; fi
    kill -0 "$bg_pid" 2>/dev/null || { cat "$TEST_TMP/$name.out" >&2; fail "$name: the scan ended before it could be stalled"; }
    sleep 0.02
  done
  fail "$name: the scan never waited for Kafka"
}
# wait_bg: wait for the background scan, print ms since $1
wait_bg() {
  local t0=$1 i
  for i in $(seq 1 600); do
    kill -0 "$bg_pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$bg_pid" 2>/dev/null; then fail "the stalled scan did not end within 60 s"; fi
  wait "$bg_pid" || true
  bg_pid=""
  echo $(( $(now_ms) - t0 ))
}

# ---- (a) statement_timeout --------------------------------------------------------------------
stall
ms=$(run_timed "$TEST_TMP/a1.out" -c "SET statement_timeout = '1s'" -c "SELECT count(*) FROM cancel_t")
resume
grep -q "canceling statement due to statement timeout" "$TEST_TMP/a1.out" || { cat "$TEST_TMP/a1.out" >&2; fail "(a) stalled before: no statement timeout error"; }
[ "$ms" -lt 5000 ] || fail "(a) stalled before: statement_timeout 1 s took $ms ms"
echo "ok: (a) broker stalled before the statement: statement timeout after $ms ms"
broker_ok

start_scan a2 cancel_slow "SET statement_timeout = '1s'"
stall
t0=$(now_ms)
ms=$(wait_bg "$t0")
resume
grep -q "canceling statement due to statement timeout" "$TEST_TMP/a2.out" || { cat "$TEST_TMP/a2.out" >&2; fail "(a) stalled mid-scan: no statement timeout error"; }
[ "$ms" -lt 5000 ] || fail "(a) stalled mid-scan: the statement ended $ms ms after the stall"
echo "ok: (a) broker stalled mid-scan: statement timeout $ms ms after the stall"
broker_ok

# ---- (b) pg_cancel_backend from a second session ----------------------------------------------
start_scan b cancel_slow "SELECT 1"
stall
sleep 0.5
kill -0 "$bg_pid" 2>/dev/null || fail "(b) the scan ended although the broker is stalled"
bpid=$(q -c "SELECT pid FROM pg_stat_activity WHERE application_name = 'cancel_b' AND state = 'active'")
[ -n "$bpid" ] || fail "(b) the scanning session is not active"
[ "$(q -c "SELECT pg_cancel_backend($bpid)")" = "t" ] || fail "(b) pg_cancel_backend($bpid) failed"
t0=$(now_ms)
ms=$(wait_bg "$t0")
resume
grep -q "canceling statement due to user request" "$TEST_TMP/b.out" || { cat "$TEST_TMP/b.out" >&2; fail "(b) no cancel error"; }
[ "$ms" -lt 5000 ] || fail "(b) the scan ended $ms ms after pg_cancel_backend"
echo "ok: (b) pg_cancel_backend of a stalled scan: ended after $ms ms"
broker_ok

# ---- (c) timeout_ms '3000' without statement_timeout ------------------------------------------
stall
ms=$(run_timed "$TEST_TMP/c1.out" -c "SELECT count(*) FROM cancel_short")
resume
grep -q "ERROR" "$TEST_TMP/c1.out" && grep -qi "timeout_ms\|within 3000 ms" "$TEST_TMP/c1.out" \
  || { cat "$TEST_TMP/c1.out" >&2; fail "(c) stalled before: no error naming timeout_ms"; }
[ "$ms" -ge 2000 ] && [ "$ms" -lt 10000 ] || { cat "$TEST_TMP/c1.out" >&2; fail "(c) stalled before: failed after $ms ms, expected 3-10 s"; }
echo "ok: (c) broker stalled before the statement: error after $ms ms: $(grep ERROR "$TEST_TMP/c1.out" | head -1)"
broker_ok

start_scan c2 cancel_short_slow "SELECT 1"
stall
t0=$(now_ms)
ms=$(wait_bg "$t0")
resume
grep -q "ERROR" "$TEST_TMP/c2.out" && grep -qi "timeout_ms\|within 3000 ms" "$TEST_TMP/c2.out" \
  || { cat "$TEST_TMP/c2.out" >&2; fail "(c) stalled mid-scan: no error naming timeout_ms"; }
[ "$ms" -ge 2000 ] && [ "$ms" -lt 10000 ] || { cat "$TEST_TMP/c2.out" >&2; fail "(c) stalled mid-scan: failed $ms ms after the stall, expected 3-10 s"; }
echo "ok: (c) broker stalled mid-scan: error $ms ms after the stall: $(grep ERROR "$TEST_TMP/c2.out" | head -1)"
broker_ok

# ---- afterwards: complete results again -------------------------------------------------------
got=$(q -c "SELECT count(*) FROM cancel_t")
[ "$got" = "$N" ] || fail "count after the stalls: $got, expected $N"
got=$(q -c "SET max_parallel_workers_per_gather = 0" -c "SELECT count(*) FROM cancel_slow")
[ "$got" = "$N" ] || fail "slow count after the stalls: $got, expected $N"
echo "ok: complete results after the broker came back"
