#!/usr/bin/env bash
# The publishing backend is SIGKILLed mid-batch (the postmaster then restarts every backend), and
# the postmaster itself is stopped with -m immediate and started again:
#  1. after Kafka committed a batch but before PostgreSQL recorded it (held there with the testing
#     setting kafka_fdw.emitter_commit_delay_ms): the outbox still has the batch; the next flush
#     finds it in the progress topic and sends nothing again;
#  2. while a large batch is being produced (before the Kafka commit): the aborted Kafka
#     transaction stays invisible to read_committed consumers; the next flush sends it all.
# Each round prints produced, delivered, lost and duplicated counts (read_committed consumer).
set -euo pipefail
# shellcheck source=test/t/emitter_lib.sh
source "$REPO/test/t/emitter_lib.sh"
# shellcheck disable=SC1090
source "$PG_ENV"
# the server's extra environment (scripts/asan.sh: LD_PRELOAD of libasan), as scripts/pg.sh starts it
read -r -a pg_env_extra <<< "${PG_ENV_EXTRA:-}"
# the test cluster runs with synchronous_commit = off, which may lose the last commits in an
# immediate shutdown (the source rows with their outbox rows): this test's sessions commit durably
export PGOPTIONS="-c synchronous_commit=on"

psql -c "CREATE EXTENSION IF NOT EXISTS kafka_fdw" \
     -c "CREATE SERVER IF NOT EXISTS kafka_emit_crash FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers '$KAFKA_BROKERS')"
psql -c "SELECT kafka_create_topic('kafka_emit_crash', 'emit_crash', 2)" >/dev/null
psql -c "CREATE TABLE emit_crash (id int PRIMARY KEY, payload text)"
psql -c "SELECT kafka.stream_changes('emit_crash', 'kafka_emit_crash', 'emit_crash', 'debezium')" >/dev/null
# paused: the background worker leaves the stream to kafka.flush_stream (this test kills it)
psql -c "SELECT kafka.pause_stream('emit_crash')" >/dev/null
first=$(psql -At -c "SELECT nextval('kafka.outbox_event_id_seq') + 1")

wait_ready() {
  for _ in $(seq 1 120); do
    if "$PG_BIN/pg_isready" -q && psql -c "SELECT 1" >/dev/null 2>&1; then return 0; fi
    sleep 0.5
  done
  echo "FAIL: PostgreSQL did not come back"; exit 1
}
flush_pid() { psql -At -c "SELECT pid FROM pg_stat_activity WHERE query LIKE 'SELECT kafka.flush_stream(%' AND pid <> pg_backend_pid()"; }
outbox() { psql -At -c "SELECT count(*) FROM kafka.outbox o JOIN kafka.stream s USING (stream_id) WHERE s.relid = 'emit_crash'::regclass"; }

# --- round 1: SIGKILL between the Kafka commit and the PostgreSQL commit ----------------------
psql -c "INSERT INTO emit_crash SELECT g, repeat('x', 100) FROM generate_series(1, 3000) g"
( psql -c "SET kafka_fdw.emitter_commit_delay_ms = 60000" -c "SELECT kafka.flush_stream('emit_crash', 120000)" >/dev/null 2>&1 || true ) &
bg=$!
# wait until the batch is committed in Kafka (visible to read_committed)
for i in $(seq 1 120); do
  read -r msgs _ < <(count_topic emit_crash "$first")
  [ "$msgs" -ge 3000 ] && break
  sleep 0.5
done
[ "$msgs" -ge 3000 ] || { echo "FAIL: the batch never reached Kafka ($msgs)"; exit 1; }
pid=$(flush_pid)
[ -n "$pid" ] || { echo "FAIL: no flushing backend"; exit 1; }
kill -KILL "$pid"; echo "round 1: SIGKILLed backend $pid after the Kafka commit"
wait "$bg" || true
wait_ready
left=$(outbox); echo "round 1: outbox after the crash: $left"
[ "$left" -eq 3000 ] || { echo "FAIL: PostgreSQL should not have recorded the batch ($left)"; exit 1; }
psql -c "SELECT kafka.flush_stream('emit_crash')" >/dev/null
[ "$(outbox)" -eq 0 ] || { echo "FAIL: recovery left rows in the outbox"; exit 1; }
report 3000 emit_crash "$first"

# --- round 2: immediate shutdown while a large batch is produced, then start again ------------
psql -c "INSERT INTO emit_crash SELECT g, repeat('y', 2000) FROM generate_series(3001, 13000) g"
( psql -c "SELECT kafka.flush_stream('emit_crash', 120000)" >/dev/null 2>&1 || true ) &
bg=$!
for _ in $(seq 1 100); do [ -n "$(flush_pid)" ] && break; sleep 0.05; done
sleep 0.3
as_pg "$PG_BIN/pg_ctl" stop -D "$PG_DATA" -m immediate -w >/dev/null
wait "$bg" || true
echo "round 2: postmaster stopped (-m immediate)"
as_pg env "${pg_env_extra[@]+"${pg_env_extra[@]}"}" "$PG_BIN/pg_ctl" start -D "$PG_DATA" -l "$PG_LOG" -w -t 60 >/dev/null
wait_ready
sleep 1     # let the markers of a transaction committed before the stop be written
read -r msgs _ < <(count_topic emit_crash "$first")
echo "round 2: read_committed messages after the restart: $msgs"
echo "round 2: outbox after the restart: $(outbox)"
flush_until_empty emit_crash 30
rows=$(psql -At -c "SELECT count(*) FROM emit_crash")
[ "$rows" -eq 13000 ] || { echo "FAIL: $rows source rows after the restart"; exit 1; }
report 13000 emit_crash "$first"

# --- round 3: pg_terminate_backend while a large batch is handed to librdkafka ----------------
# The backend ends (FATAL) while its sender thread (producer.c) still hands messages over: no
# crash (the postmaster would end every other session, the bystander's too), and the next flush
# sends every event once.
psql -c "INSERT INTO emit_crash SELECT g, repeat('z', 300) FROM generate_series(13001, 313000) g"
psql -c "CREATE FOREIGN TABLE emit_crash_ft (v text) SERVER kafka_emit_crash OPTIONS (topic 'emit_crash', format 'text')" >/dev/null
# the sum of the partitions' high watermarks: every message appended, in open transactions too
high() { psql -At -c "SELECT sum(offset_high) FROM kafka_get_watermarks('emit_crash_ft')"; }
high0=$(high)
signals_before=$(grep -c "terminated by signal" "$PG_LOG" || true)
( psql -c "SELECT pg_sleep(120) AS bystander" >/dev/null 2>&1 || true ) &
sleeper=$!
( psql -c "SELECT kafka.flush_stream('emit_crash', 120000)" >/dev/null 2>&1 || true ) &
bg=$!
# terminated as soon as the flush is handing messages to Kafka (the topic grows), long before it
# is done with its 300,000
for _ in $(seq 1 1200); do [ "$(high)" -gt $((high0 + 1000)) ] && break; sleep 0.05; done
pid=$(flush_pid)
[ -n "$pid" ] || { echo "FAIL: no flushing backend (the flush was over already?)"; exit 1; }
bystander=$(psql -At -c "SELECT pid FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(120)%'")
[ -n "$bystander" ] || { echo "FAIL: no bystander session"; exit 1; }
psql -At -c "SELECT pg_terminate_backend($pid)" >/dev/null
wait "$bg" || true
# every message in the topic, those of open and aborted Kafka transactions too: more than the
# 16,000 of rounds 1 and 2 if the backend was producing when it was terminated
all=$(kcat -C -b "$KAFKA_BROKERS" -t emit_crash -e -q -X isolation.level=read_uncommitted -f '.\n' 2>/dev/null | wc -l)
echo "round 3: terminated backend $pid mid-flush; messages in the topic (read_uncommitted): $all"
[ "$all" -gt 16000 ] || { echo "FAIL: the backend had produced nothing yet"; exit 1; }
sleep 1
[ "$(psql -At -c "SELECT count(*) FROM pg_stat_activity WHERE pid = $bystander")" = 1 ] ||
  { echo "FAIL: the bystander session $bystander is gone (the backend crashed?)"; exit 1; }
signals_after=$(grep -c "terminated by signal" "$PG_LOG" || true)
[ "$signals_after" = "$signals_before" ] || { echo "FAIL: a process was terminated by a signal"; exit 1; }
psql -At -c "SELECT pg_cancel_backend($bystander)" >/dev/null
wait "$sleeper" || true
flush_until_empty emit_crash 30
report 313000 emit_crash "$first"
echo "ok"
