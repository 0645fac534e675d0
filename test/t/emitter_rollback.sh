#!/usr/bin/env bash
# kafka.flush_stream publishes several batches (several Kafka transactions) in the caller's
# PostgreSQL transaction. When that transaction rolls back after Kafka committed some of them (a
# ROLLBACK, an error in a later statement, a ROLLBACK TO SAVEPOINT), their outbox rows come back:
# the next flush must find every one of those events in the progress topic and send none again.
# Also: a backlog whose event ids are too fragmented for one progress record is cut, with a NOTICE,
# and published by the next call. Prints produced, delivered, lost and duplicated counts.
set -euo pipefail
# shellcheck source=test/t/emitter_lib.sh
source "$REPO/test/t/emitter_lib.sh"

psql -c "CREATE EXTENSION IF NOT EXISTS kafka_fdw" \
     -c "CREATE SERVER IF NOT EXISTS kafka_emit_rb FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers '$KAFKA_BROKERS')"
psql -c "SELECT kafka_create_topic('kafka_emit_rb', 'emit_rb', 2)" >/dev/null
psql -c "CREATE TABLE emit_rb (id int PRIMARY KEY, v int)"
psql -c "SELECT kafka.stream_changes('emit_rb', 'kafka_emit_rb', 'emit_rb', 'upsert')" >/dev/null
# paused: only kafka.flush_stream publishes
psql -c "SELECT kafka.pause_stream('emit_rb')" >/dev/null
first=$(psql -At -c "SELECT nextval('kafka.outbox_event_id_seq') + 1")
outbox() { psql -At -c "SELECT count(*) FROM kafka.outbox o JOIN kafka.stream s USING (stream_id) WHERE s.relid = 'emit_rb'::regclass"; }
# one statement per row: a chunk of the outbox per event, so that batches of 10 are 10 chunks
# (a batch is whole chunks; one INSERT of 100 rows would be one chunk, one batch)
insert() { psql -c "DO \$\$ BEGIN FOR i IN $1..$2 LOOP INSERT INTO emit_rb VALUES (i, 0); END LOOP; END \$\$"; }

echo "round 1: ten batches of 10 in one transaction, then ROLLBACK"
insert 1 100
sent=$(psql -At -c "BEGIN" -c "SET LOCAL kafka_fdw.emitter_batch_size = 10" \
            -c "SELECT kafka.flush_stream('emit_rb', 60000)" -c "ROLLBACK")
echo "  sent in the rolled-back transaction: $sent; outbox after: $(outbox)"
[ "$sent" = 100 ] || { echo "FAIL: flush_stream sent $sent"; exit 1; }
[ "$(outbox)" = 100 ] || { echo "FAIL: the rollback should leave the rows in the outbox"; exit 1; }
again=$(psql -At -c "SELECT kafka.flush_stream('emit_rb', 60000)")
echo "  the next flush sent: $again; outbox: $(outbox)"
[ "$again" = 0 ] && [ "$(outbox)" = 0 ] || { echo "FAIL: recovery should have removed all 100 (sent $again)"; exit 1; }
report 100 emit_rb "$first"

echo "round 2: batches, then an error in a later statement of the transaction"
insert 101 200
psql -c "BEGIN" -c "SET LOCAL kafka_fdw.emitter_batch_size = 7" \
     -c "SELECT kafka.flush_stream('emit_rb', 60000)" -c "SELECT 1/0" -c "COMMIT" >/dev/null 2>&1 \
  && { echo "FAIL: the transaction should have failed"; exit 1; }
again=$(psql -At -c "SELECT kafka.flush_stream('emit_rb', 60000)")
echo "  the next flush sent: $again"
[ "$again" = 0 ] || { echo "FAIL: sent $again again"; exit 1; }
report 200 emit_rb "$first"

echo "round 3: ROLLBACK TO SAVEPOINT, then more batches and COMMIT in the same transaction"
insert 201 300
out=$(psql -At -c "BEGIN" -c "SET LOCAL kafka_fdw.emitter_batch_size = 10" -c "SAVEPOINT a" \
           -c "SELECT kafka.flush_stream('emit_rb', 60000)" -c "ROLLBACK TO SAVEPOINT a" \
           -c "INSERT INTO emit_rb SELECT g, 0 FROM generate_series(301, 350) g" \
           -c "SELECT kafka.flush_stream('emit_rb', 60000)" -c "COMMIT" | tr '\n' ' ')
echo "  flushes sent: $out; outbox after: $(outbox)"
# the first flush sends 100; the second finds them in Kafka and can not send the 50 rows its own
# transaction inserted (not committed yet)
[ "$out" = "100 0 " ] || { echo "FAIL: expected '100 0', got '$out'"; exit 1; }
again=$(psql -At -c "SELECT kafka.flush_stream('emit_rb', 60000)")
[ "$again" = 50 ] || { echo "FAIL: the last flush sent $again, not 50"; exit 1; }
report 350 emit_rb "$first"

echo "round 4: a backlog too fragmented for one progress record"
# every other event id belongs to another sequence user: 30,000 events in 30,000 ranges
psql -c "DO \$\$ BEGIN FOR i IN 1001..31000 LOOP INSERT INTO emit_rb VALUES (i, 1); PERFORM nextval('kafka.outbox_event_id_seq'); END LOOP; END \$\$"
psql -At -c "SET kafka_fdw.emitter_batch_size = 100000" -c "SELECT kafka.flush_stream('emit_rb', 120000)" \
  > "$TEST_TMP/r4.out" 2> "$TEST_TMP/r4.err"
part=$(tail -n 1 "$TEST_TMP/r4.out")
echo "  first call sent $part; $(grep -o 'NOTICE:.*' "$TEST_TMP/r4.err" | head -1)"
grep -q "NOTICE:  kafka.flush_stream stopped after $part events" "$TEST_TMP/r4.err" \
  || { echo "FAIL: no NOTICE about the cut"; cat "$TEST_TMP/r4.err"; exit 1; }
[ "$part" -gt 1000 ] && [ "$part" -lt 30000 ] || { echo "FAIL: the first call sent $part"; exit 1; }
rest=$(psql -At -c "SET kafka_fdw.emitter_batch_size = 100000" -c "SELECT kafka.flush_stream('emit_rb', 120000)")
echo "  second call sent $rest"
[ $((part + rest)) -eq 30000 ] || { echo "FAIL: $part + $rest is not 30000"; exit 1; }
report 30350 emit_rb "$first"
sent=$(psql -At -c "SELECT events_sent FROM kafka.stream WHERE relid = 'emit_rb'::regclass")
[ "$sent" -eq 30350 ] || { echo "FAIL: events_sent = $sent"; exit 1; }
echo "ok"
