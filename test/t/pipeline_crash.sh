#!/usr/bin/env bash
# A pipeline whose sink is a transactional kafka_fdw table: its output must appear exactly once to
# read_committed consumers although the worker is SIGKILLed after the Kafka commit and before the
# PostgreSQL commit of a batch (held there with the testing setting kafka_fdw.xact_commit_delay_ms).
# The restarted worker finds the batch in the progress topic and moves its offsets past it.
# Prints produced, delivered, lost and duplicated counts.
set -euo pipefail
# shellcheck source=test/t/emitter_lib.sh
source "$REPO/test/t/emitter_lib.sh"

cleanup() {
  psql -c "ALTER SYSTEM RESET kafka_fdw.xact_commit_delay_ms" -c "SELECT pg_reload_conf()" >/dev/null 2>&1 || true
}
trap cleanup EXIT
wait_for() {  # wait_for SECONDS SQL: until the query prints t
  local deadline=$((SECONDS + $1)) out
  while [ "$SECONDS" -lt "$deadline" ]; do
    out=$(psql -At -c "$2" 2>/dev/null || true)
    [ "$out" = t ] && return 0
    sleep 0.2
  done
  echo "FAIL: timed out waiting for: $2"; exit 1
}

psql -c "CREATE EXTENSION IF NOT EXISTS kafka_fdw" \
     -c "CREATE SERVER IF NOT EXISTS kafka_pipe_crash FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers '$KAFKA_BROKERS')"
psql -c "SELECT kafka_create_topic('kafka_pipe_crash', 'pipe_in', 2)" \
     -c "SELECT kafka_create_topic('kafka_pipe_crash', 'pipe_out', 1)" >/dev/null
psql -c "CREATE FOREIGN TABLE pipe_in (id int, v int) SERVER kafka_pipe_crash OPTIONS (topic 'pipe_in', format 'json')" \
     -c "CREATE FOREIGN TABLE pipe_out (id int, v int) SERVER kafka_pipe_crash OPTIONS (topic 'pipe_out', format 'json', transactional 'true')"
psql -c "INSERT INTO pipe_in SELECT g, g * 10 FROM generate_series(1, 1000) g"

# every batch now waits 30 s between its Kafka commit and its PostgreSQL commit
psql -c "ALTER SYSTEM SET kafka_fdw.xact_commit_delay_ms = 30000" -c "SELECT pg_reload_conf()" >/dev/null
job=$(psql -At -c "SELECT kafka.pipeline('pipe_crash', 'pipe_in', 'INSERT INTO pipe_out SELECT id, v FROM pipe_in')")
# the first batch (all 1000) is committed in Kafka, not yet in PostgreSQL
for _ in $(seq 1 150); do
  n=$(kcat -C -b "$KAFKA_BROKERS" -t pipe_out -e -q -X isolation.level=read_committed -f '%s\n' 2>/dev/null | wc -l)
  [ "$n" -ge 1000 ] && break
  sleep 0.2
done
echo "read_committed output before the crash: $n"
[ "$n" -eq 1000 ] || { echo "FAIL: the batch did not reach Kafka ($n)"; grep -a "kafka_fdw" "$PG_LOG" | tail -20; exit 1; }
committed=$(psql -At -c "SELECT sum(next_offset) FROM kafka.ingest_offset WHERE job_id = $job")
echo "offsets stored in PostgreSQL before the crash: $committed"
[ "$committed" -eq 0 ] || { echo "FAIL: PostgreSQL should not have committed the batch yet"; exit 1; }
psql -c "SELECT pid, datname, application_name, state, wait_event, query FROM pg_stat_activity WHERE backend_type = 'kafka_fdw ingest'"
pid=$(psql -At -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'kafka_fdw ingest' AND datname = current_database() AND application_name = 'kafka_fdw ingest $job/0'")
[ -n "$pid" ] || { echo "FAIL: no pipeline worker"; exit 1; }
psql -c "ALTER SYSTEM RESET kafka_fdw.xact_commit_delay_ms" -c "SELECT pg_reload_conf()" >/dev/null
kill -KILL "$pid"; echo "SIGKILLed pipeline worker $pid between the Kafka and the PostgreSQL commit"
sleep 2
for _ in $(seq 1 120); do
  psql -c "SELECT 1" >/dev/null 2>&1 && break
  sleep 0.5
done
# the restarted worker recovers: offsets move past the batch, nothing is written again
wait_for 60 "SELECT sum(next_offset) = 1000 FROM kafka.ingest_offset WHERE job_id = $job"
psql -c "INSERT INTO pipe_in SELECT g, g * 10 FROM generate_series(1001, 1100) g"
wait_for 60 "SELECT sum(next_offset) = 1100 FROM kafka.ingest_offset WHERE job_id = $job"
sleep 1
kcat -C -b "$KAFKA_BROKERS" -t pipe_out -e -q -X isolation.level=read_committed -f '%s\n' 2>/dev/null \
  | sed -E 's/.*"id":([0-9]+).*/\1/' | sort -n > "$TEST_TMP/out.ids"
total=$(wc -l < "$TEST_TMP/out.ids"); distinct=$(uniq < "$TEST_TMP/out.ids" | wc -l)
echo "produced=1100 delivered=$distinct lost=$((1100 - distinct)) duplicated=$((total - distinct))"
[ "$distinct" -eq 1100 ] || { echo "FAIL: $((1100 - distinct)) lost"; exit 1; }
[ "$total" -eq "$distinct" ] || { echo "FAIL: $((total - distinct)) duplicates"; exit 1; }
psql -At -c "SELECT state, messages FROM kafka.ingest_job WHERE job_id = $job"
psql -c "SELECT kafka.stop_ingest($job)" >/dev/null
echo ok
