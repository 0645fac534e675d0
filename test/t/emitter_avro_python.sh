#!/usr/bin/env bash
# emitter_avro_python: the change events a stream with format => 'avro' publishes (Debezium's
# envelope in the Confluent wire format, schemas registered in SCHEMA_REGISTRY_URL, the test
# bed's registry) are read by the client users run: confluent-kafka-python's AvroDeserializer
# ($REGISTRY_PYTHON, test/t/emitter_avro_python.py) decodes every key and value with its writer
# schema, before and after an ALTER TABLE ADD COLUMN (a second version of the value schema).
set -euo pipefail

# shellcheck source=test/t/lib.sh
source "$REPO/test/t/lib.sh"

DB=emitter_avro_python
[ -n "${SCHEMA_REGISTRY_URL:-}" ] || fail "no SCHEMA_REGISTRY_URL (scripts/test.sh starts the registry)"
[ -x "${REGISTRY_PYTHON:-}" ] || fail "no REGISTRY_PYTHON (scripts/registry.sh fetch)"
py() { timeout --kill-after=5 90 "$REGISTRY_PYTHON" "$REPO/test/t/emitter_avro_python.py" "$@"; }
q() { timeout --kill-after=5 60 "$PSQL" -X -q -At -v ON_ERROR_STOP=1 -d "$DB" "$@"; }
cleanup() {
  timeout 30 "$PSQL" -X -q -At -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT

"$PSQL" -X -q -At -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $DB" \
  -c "CREATE DATABASE $DB"
# a topic (and subjects) of its own, so that a re-run against the same broker and registry starts afresh
topic=emit_avpy_$(date +%s)_$$
q <<SQL
SET client_min_messages = warning;
SET timezone = 'UTC';
CREATE EXTENSION kafka_fdw;
CREATE SERVER kreg FOREIGN DATA WRAPPER kafka_fdw
  OPTIONS (brokers '$KAFKA_BROKERS', schema_registry '$SCHEMA_REGISTRY_URL', timeout_ms '10000');
SELECT kafka_create_topic('kreg', '$topic', 1);
SELECT kafka.registry_set_compatibility('kreg', '$topic-value', 'BACKWARD');
SELECT kafka.registry_set_compatibility('kreg', '$topic-key', 'BACKWARD');
CREATE TABLE member (id int PRIMARY KEY, big bigint NOT NULL, name text, amount numeric(10,2),
  at timestamptz, day date, u uuid, flag bool, doc jsonb);
SELECT kafka.stream_changes('member', 'kreg', '$topic', format => 'avro');
SELECT kafka.pause_stream('member');
INSERT INTO member VALUES (1, 9007199254740993, 'ann', 12.5, '2024-01-02 03:04:05.678901+00',
  '2024-01-02', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', true, '{"x": [1, 2]}');
UPDATE member SET amount = -0.01, name = NULL WHERE id = 1;
DELETE FROM member WHERE id = 1;
SELECT kafka.flush_stream('member');
ALTER TABLE member ADD COLUMN score int;
INSERT INTO member (id, big, score) VALUES (2, -1, 42);
SELECT kafka.flush_stream('member');
SQL
echo "published: 4 events (5 messages) in two schema versions"

got=$(py consume "$KAFKA_BROKERS" "$SCHEMA_REGISTRY_URL" "$topic" 5) || fail "AvroDeserializer: $got"
src='"source": {"connector": "postgresql", "name": "kreg", "schema": "public", "snapshot": "false", "table": "member", "version": "kafka_fdw-1.2"}, "transaction": null, "ts": ["int", "int", "int"]'
row1='{"amount": "12.50", "at": "2024-01-02 03:04:05.678901+00:00", "big": 9007199254740993, "day": "2024-01-02", "doc": "{\"x\": [1, 2]}", "flag": true, "id": 1, "name": "ann", "u": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"}'
row1u='{"amount": "-0.01", "at": "2024-01-02 03:04:05.678901+00:00", "big": 9007199254740993, "day": "2024-01-02", "doc": "{\"x\": [1, 2]}", "flag": true, "id": 1, "name": null, "u": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"}'
row2='{"amount": null, "at": null, "big": -1, "day": null, "doc": null, "flag": null, "id": 2, "name": null, "score": 42, "u": null}'
want="{\"after\": $row1, \"before\": null, \"key\": {\"id\": 1}, \"op\": \"c\", $src}
{\"after\": $row1u, \"before\": $row1, \"key\": {\"id\": 1}, \"op\": \"u\", $src}
{\"after\": null, \"before\": $row1u, \"key\": {\"id\": 1}, \"op\": \"d\", $src}
{\"key\": {\"id\": 1}, \"value\": \"tombstone\"}
{\"after\": $row2, \"before\": null, \"key\": {\"id\": 2}, \"op\": \"c\", $src}"
[ "$got" = "$want" ] || fail "AvroDeserializer of the stream's events:
$got
want:
$want"
echo "ok: AvroDeserializer reads the Debezium events (keys, c/u/d, tombstone, two schema versions)"
