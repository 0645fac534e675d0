#!/usr/bin/env bash
# avro_registry_python: format 'avro' on a schema registry (SCHEMA_REGISTRY_URL, the test bed's)
# interoperates with the client users run, confluent-kafka-python's Avro serializers
# ($REGISTRY_PYTHON, test/t/avro_registry_python.py), with schema evolution in between:
#   (a) its AvroSerializer writes messages with v1, then v2 (adds score with a default); one
#       SELECT reads all typed (v1 messages: score is v2's default, the subject's latest)
#   (b) INSERT writes rows, ALTER FOREIGN TABLE adds a column, INSERT writes more; its
#       AvroDeserializer reads both versions back by their ids
#   (c) keys (key_format 'avro'): its AvroSerializer's record keys read by SELECT into a
#       composite key column; INSERT's keys read by its AvroDeserializer
set -euo pipefail

# shellcheck source=test/t/lib.sh
source "$REPO/test/t/lib.sh"

DB=avro_registry_python
[ -n "${SCHEMA_REGISTRY_URL:-}" ] || fail "no SCHEMA_REGISTRY_URL (scripts/test.sh starts the registry)"
[ -x "${REGISTRY_PYTHON:-}" ] || fail "no REGISTRY_PYTHON (scripts/registry.sh fetch)"
# every step is bounded, so that a hang says which step it was and what the server was doing
# (the scripted-test timeout would only say "timeout")
py() { timeout --kill-after=5 90 "$REGISTRY_PYTHON" "$REPO/test/t/avro_registry_python.py" "$@"; }
q() { timeout --kill-after=5 60 "$PSQL" -X -q -At -v ON_ERROR_STOP=1 -d "$DB" "$@"; }
diagnose() {
  echo "--- pg_stat_activity:" >&2
  timeout 10 "$PSQL" -X -At -d postgres -c "SELECT pid, backend_type, state, wait_event_type, wait_event, left(query, 120)
    FROM pg_stat_activity WHERE datname = '$DB'" >&2 || true
  local PGLOG=${PG_HOME:-}/cluster/postgresql.log
  if [ -f "$PGLOG" ]; then echo "--- PostgreSQL log (tail):" >&2; tail -n 30 "$PGLOG" >&2; fi
  echo "--- registry: $(curl -s -m 5 -o /dev/null -w '%{http_code} in %{time_total} s' "$SCHEMA_REGISTRY_URL/subjects" || echo 'no answer in 5 s')" >&2
}
step() {   # step WHAT CMD...: run CMD; on failure or timeout say which step and diagnose
  local what=$1 rc=0; shift
  "$@" || rc=$?
  if [ "$rc" -ne 0 ]; then
    [ "$rc" -eq 124 ] && echo "step '$what' timed out" >&2 || echo "step '$what' failed (exit $rc)" >&2
    diagnose; exit 1
  fi
}
cleanup() {
  timeout 30 "$PSQL" -X -q -At -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT

"$PSQL" -X -q -At -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $DB" \
  -c "CREATE DATABASE $DB"
q <<SQL
SET client_min_messages = warning;
CREATE EXTENSION kafka_fdw;
CREATE SERVER kreg FOREIGN DATA WRAPPER kafka_fdw
  OPTIONS (brokers '$KAFKA_BROKERS', schema_registry '$SCHEMA_REGISTRY_URL', timeout_ms '10000');
SELECT kafka_create_topic('kreg', 'avpy_in', 1);
SELECT kafka_create_topic('kreg', 'avpy_out', 1);
SELECT kafka_create_topic('kreg', 'avpy_kin', 1);
SELECT kafka_create_topic('kreg', 'avpy_kout', 1);
SQL

# (a) confluent-kafka-python writes, SELECT reads
step "AvroSerializer produce" py produce "$KAFKA_BROKERS" "$SCHEMA_REGISTRY_URL" avpy_in
got=$(step "SELECT" q <<'SQL'
SET timezone = 'UTC';
CREATE FOREIGN TABLE avpy_in (id bigint NOT NULL, name text, at timestamptz, score int)
  SERVER kreg OPTIONS (topic 'avpy_in', format 'avro');
SELECT id, coalesce(name, '-'), at, coalesce(score::text, '-') FROM avpy_in ORDER BY id;
SQL
)
want="1|ann|2024-01-02 03:04:05.678+00|0
2|-|1970-01-01 00:00:00+00|0
3|cy|2030-06-07 08:09:10+00|42"
[ "$got" = "$want" ] || fail "(a) SELECT of messages written by AvroSerializer:
$got
want:
$want"
echo "(a) ok: AvroSerializer v1 and v2 read by one SELECT"

# (b) INSERT writes, confluent-kafka-python reads
step "INSERT, ALTER, INSERT" q <<'SQL'
SET timezone = 'UTC';
CREATE FOREIGN TABLE avpy_out (id bigint NOT NULL, name text, at timestamptz)
  SERVER kreg OPTIONS (topic 'avpy_out', format 'avro');
INSERT INTO avpy_out VALUES (1, 'ann', '2024-01-02 03:04:05.678901+00'), (2, NULL, NULL);
ALTER FOREIGN TABLE avpy_out ADD COLUMN score int;
INSERT INTO avpy_out VALUES (3, 'cy', '2030-06-07 08:09:10+00', 42);
SQL
got=$(step "AvroDeserializer consume" py consume "$KAFKA_BROKERS" "$SCHEMA_REGISTRY_URL" avpy_out 3)
want='{"at": "2024-01-02 03:04:05.678901+00:00", "id": 1, "name": "ann"}
{"at": null, "id": 2, "name": null}
{"at": "2030-06-07 08:09:10+00:00", "id": 3, "name": "cy", "score": 42}'
[ "$got" = "$want" ] || fail "(b) AvroDeserializer of messages written by INSERT:
$got
want:
$want"
echo "(b) ok: INSERT before and after ALTER TABLE read by AvroDeserializer"

# (c) keys: confluent-kafka-python's record keys read by SELECT, INSERT's keys read by it
step "AvroSerializer produce keyed" py produce_keyed "$KAFKA_BROKERS" "$SCHEMA_REGISTRY_URL" avpy_kin
got=$(step "SELECT keyed" q <<'SQL'
CREATE TYPE avpy_key AS (id bigint, region text);
CREATE FOREIGN TABLE avpy_kin (k avpy_key OPTIONS (key 'true'), id bigint NOT NULL, name text)
  SERVER kreg OPTIONS (topic 'avpy_kin', format 'avro', key_format 'avro');
SELECT k, (k).region = '', id, coalesce(name, '-') FROM avpy_kin ORDER BY id;
SQL
)
want="(7,eu)|f|1|ann
(-8,\"\")|t|2|-"
[ "$got" = "$want" ] || fail "(c) SELECT of keys written by AvroSerializer:
$got
want:
$want"
step "INSERT keyed" q <<'SQL'
CREATE FOREIGN TABLE avpy_kout (k avpy_key OPTIONS (key 'true') NOT NULL, n int)
  SERVER kreg OPTIONS (topic 'avpy_kout', format 'avro', key_format 'avro');
INSERT INTO avpy_kout VALUES ('(1,us)', 10), ('(2,)', 20);
SQL
got=$(step "AvroDeserializer consume keyed" py consume_keyed "$KAFKA_BROKERS" "$SCHEMA_REGISTRY_URL" avpy_kout 2)
want='{"key": {"id": 1, "region": "us"}, "value": {"n": 10}}
{"key": {"id": 2, "region": null}, "value": {"n": 20}}'
[ "$got" = "$want" ] || fail "(c) AvroDeserializer of keys written by INSERT:
$got
want:
$want"
echo "(c) ok: record keys both ways"
