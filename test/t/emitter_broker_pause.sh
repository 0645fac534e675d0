#!/usr/bin/env bash
# The broker stops answering (SIGSTOP) in the middle of 10,000 updates of 100 keys while the
# emitter publishes continuously: every writer commits (capture never waits for Kafka), the
# backlog drains once the broker is back, and a read_committed consumer sees every change exactly
# once, in commit order per key. Prints produced, delivered, lost and duplicated counts.
set -euo pipefail
# shellcheck source=test/t/emitter_lib.sh
source "$REPO/test/t/emitter_lib.sh"
kpid=$(cat "$KAFKA_HOME/kafka.pid")
flusher=""
cleanup() { kill -CONT "$kpid" 2>/dev/null || true; [ -n "$flusher" ] && kill "$flusher" 2>/dev/null || true; }
trap cleanup EXIT

psql -c "CREATE EXTENSION IF NOT EXISTS kafka_fdw" \
     -c "CREATE SERVER IF NOT EXISTS kafka_emit_pause FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers '$KAFKA_BROKERS', timeout_ms '3000')"
psql -c "SELECT kafka_create_topic('kafka_emit_pause', 'emit_pause', 3)" >/dev/null
psql -c "CREATE TABLE emit_pause (id int PRIMARY KEY, version int NOT NULL)"
psql -c "SELECT kafka.stream_changes('emit_pause', 'kafka_emit_pause', 'emit_pause', 'upsert')" >/dev/null
first=$(psql -At -c "SELECT nextval('kafka.outbox_event_id_seq') + 1")
psql -c "INSERT INTO emit_pause SELECT g, 0 FROM generate_series(1, 100) g"

# publish continuously, as the worker does (each call a new backend: a new producer, recovery)
( while :; do psql -c "SELECT kafka.flush_stream('emit_pause', 20000)" >/dev/null 2>>"$TEST_TMP/flush.err" || true; sleep 0.2; done ) &
flusher=$!

update_rounds() { for _ in $(seq 1 "$1"); do psql -c "UPDATE emit_pause SET version = version + 1"; done; }
update_rounds 30
kill -STOP "$kpid"; echo "broker stopped"
update_rounds 40          # writers commit while Kafka does not answer
backlog=$(psql -At -c "SELECT count(*) FROM kafka.outbox o JOIN kafka.stream s USING (stream_id) WHERE s.relid = 'emit_pause'::regclass")
echo "backlog while the broker is stopped: $backlog"
[ "$backlog" -ge 4000 ] || { echo "FAIL: the 40 rounds of updates are not in the outbox ($backlog)"; exit 1; }
sleep 4
kill -CONT "$kpid"; echo "broker resumed"
update_rounds 30
kill "$flusher"; wait "$flusher" 2>/dev/null || true; flusher=""
flush_until_empty emit_pause 60
echo "flush errors while the broker was stopped: $(grep -c ERROR "$TEST_TMP/flush.err" || true)"
grep ERROR "$TEST_TMP/flush.err" | sort | uniq -c | head -5 || true

report 10100 emit_pause "$first"
# per key, versions arrive in commit order: 0, 1, ..., 100 with nothing missing or repeated
bad=$(awk -F'\t' '{ k = $4; v = $5; sub(/.*"version":/, "", v); sub(/}.*/, "", v);
        if (k in last && v != last[k] + 1) bad++; if (!(k in last) && v != 0) bad++; last[k] = v; n[k]++ }
      END { for (k in n) if (n[k] != 101 || last[k] != 100) bad++; print bad + 0 }' \
      <(sort -t$'\t' -k1,1n -k2,2n "$TEST_TMP/emit_pause.msgs"))
echo "keys out of order or incomplete: $bad"
[ "$bad" -eq 0 ] || { echo "FAIL: per-key order broken"; exit 1; }
sent=$(psql -At -c "SELECT events_sent FROM kafka.stream WHERE relid = 'emit_pause'::regclass")
[ "$sent" -eq 10100 ] || { echo "FAIL: events_sent = $sent"; exit 1; }
echo "ok"
