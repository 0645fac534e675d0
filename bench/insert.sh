#!/usr/bin/env bash
# Benchmark (not a test): how fast INSERT writes to Kafka compared with kcat.
#
#   INSERT INTO <json foreign table> SELECT ... FROM generate_series(1, ROWS)
#     vs
#   kcat -P of the same ROWS payloads (the same JSON, byte for byte, ~135 bytes each),
#
# each into a fresh topic, in the same run, REPEAT times (alternating which goes first);
# prints the medians and the ratio pg/kcat. Both commands are timed end to end (process
# start, connection, producer start-up, until the broker acknowledged every message).
# INSERT writes with acks=all and idempotence (kafka_fdw always does); kcat runs with
# librdkafka's defaults, and once more with the same guarantees as INSERT for reference.
#
# Starts its own broker and cluster (scripts/kafka.sh, scripts/pg.sh) on their own ports
# and stops them on exit (KEEP=1 leaves them running).
#
# Environment: ROWS (1000000), REPEAT (3), PARTITIONS (1), BENCH_KAFKA_PORT (29192),
#   BENCH_PGPORT (55732), PG_BIN (/usr/lib/postgresql/15/bin), KAFKA_VERSION.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
REPO=$(dirname "$here")
# shellcheck source=bench/lib.sh
source "$here/lib.sh"
cd "$REPO"

ROWS=${ROWS:-1000000}
REPEAT=${REPEAT:-3}
PARTITIONS=${PARTITIONS:-1}
export KAFKA_PORT=${BENCH_KAFKA_PORT:-29192}
export KAFKA_CONTROLLER_PORT=$((KAFKA_PORT + 1)) KAFKA_HOME=$REPO/.tmp/kafka-bench
export PGPORT=${BENCH_PGPORT:-55732} PG_HOME=$REPO/.tmp/pg-bench
export PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
export PG_CONFIG=$PG_BIN/pg_config
work=$REPO/.tmp/bench
payloads=$work/payloads.json

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ "${KEEP:-}" != 1 ]; then
    "$REPO/scripts/pg.sh" stop >/dev/null 2>&1 || true
    "$REPO/scripts/kafka.sh" stop >/dev/null 2>&1 || true
  else
    echo "bench: KEEP=1: Kafka on 127.0.0.1:$KAFKA_PORT, PostgreSQL: source $PG_HOME/env && $PG_BIN/psql"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "bench: build and install into $("$PG_CONFIG" --pkglibdir)"
make -s clean PG_CONFIG="$PG_CONFIG" >/dev/null
make -s -j"$(nproc)" PG_CONFIG="$PG_CONFIG" >/dev/null
make -s install PG_CONFIG="$PG_CONFIG" >/dev/null

"$REPO/scripts/pg.sh" stop >/dev/null
"$REPO/scripts/kafka.sh" stop >/dev/null
"$REPO/scripts/kafka.sh" start
"$REPO/scripts/pg.sh" start >/dev/null
# shellcheck disable=SC1091
source "$PG_HOME/env"
BROKERS=127.0.0.1:$KAFKA_PORT

psql -c "CREATE EXTENSION kafka_fdw" \
     -c "CREATE SERVER kafka FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers '$BROKERS')"

# The payloads, exactly as kafka_fdw's json encoder writes the rows of the INSERT below.
mkdir -p "$work"
# A page view event of the hotel-chain demo (scripts/demo.sql), with an id.
awk -v n="$ROWS" 'BEGIN {
  for (g = 1; g <= n; g++)
    printf "{\"id\":%d,\"session_id\":\"676fc8983gu563-%d\",\"property_id\":%d,\"loyalty_id\":%d,\"view_type\":\"%s\",\"origin\":\"promotion\"}\n",
           g, g, g % 10000, g * 7, (g % 2 == 0 ? "propertyView" : "search")
}' > "$payloads"
echo "bench: $ROWS payloads, $(( $(wc -c < "$payloads") / ROWS - 1 )) bytes on average, $PARTITIONS partition(s) per topic"

insert_sql() {
  cat <<SQL
INSERT INTO $1 SELECT g, '676fc8983gu563-' || g, g % 10000, g * 7,
       CASE WHEN g % 2 = 0 THEN 'propertyView' ELSE 'search' END, 'promotion'
  FROM generate_series(1, $ROWS) g
SQL
}

now_ns() { date +%s%N; }
# messages in a topic, from the watermarks
count() { psql -At -c "SELECT sum(high - low) FROM kafka_topics('kafka') WHERE topic = '$1'"; }

pg_times=() kcat_times=() kcat_same_times=()
run_kcat() {  # topic, extra kcat args...
  local t=$1; shift
  local t0; t0=$(now_ns)
  kcat -b "$BROKERS" -P -t "$t" "$@" < "$payloads"
  echo $(( ($(now_ns) - t0) / 1000000 ))
}
run_pg() {
  local t=$1 t0
  t0=$(now_ns)
  insert_sql "$t" | psql
  echo $(( ($(now_ns) - t0) / 1000000 ))
}

# a broker that has just started may still refuse to create topics for a moment
create_topic() {
  local i
  for i in $(seq 1 30); do
    if psql -c "SELECT kafka_create_topic('kafka', '$1', $PARTITIONS)" >/dev/null 2>&1; then return 0; fi
    sleep 1
  done
  psql -c "SELECT kafka_create_topic('kafka', '$1', $PARTITIONS)" >/dev/null
}

# Warm-up, untimed, one full round: the broker's JIT compiler, page cache, first connections
create_topic bench_warmup
psql -c "CREATE FOREIGN TABLE bench_warmup (id bigint, session_id text, property_id int, loyalty_id bigint,
                                            view_type text, origin text)
           SERVER kafka OPTIONS (topic 'bench_warmup', format 'json')"
kcat -b "$BROKERS" -P -t bench_warmup < "$payloads"
insert_sql bench_warmup | psql

for r in $(seq 1 "$REPEAT"); do
  tp=bench_pg_$r tk=bench_kcat_$r ts=bench_kcat_same_$r
  create_topic "$tp"; create_topic "$tk"; create_topic "$ts"
  psql -c "CREATE FOREIGN TABLE $tp (id bigint, session_id text, property_id int, loyalty_id bigint,
                                     view_type text, origin text)
             SERVER kafka OPTIONS (topic '$tp', format 'json')" >/dev/null
  if [ $((r % 2)) -eq 1 ]; then
    k=$(run_kcat "$tk"); p=$(run_pg "$tp")
  else
    p=$(run_pg "$tp"); k=$(run_kcat "$tk")
  fi
  s=$(run_kcat "$ts" -X acks=all -X enable.idempotence=true)
  for t in "$tp" "$tk" "$ts"; do
    c=$(count "$t")
    if [ "$c" != "$ROWS" ]; then echo "bench: topic $t has $c messages, expected $ROWS" >&2; exit 1; fi
  done
  if [ "$r" -eq 1 ]; then
    first_pg=$(kcat -b "$BROKERS" -C -q -t "$tp" -p 0 -o beginning -c 1 -e)
    if [ "$PARTITIONS" -eq 1 ] && [ "$first_pg" != "$(head -1 "$payloads")" ]; then
      echo "bench: INSERT wrote a different payload than kcat:" >&2
      echo "  $first_pg" >&2; echo "  $(head -1 "$payloads")" >&2; exit 1
    fi
  fi
  echo "run $r: kcat ${k} ms, INSERT ${p} ms, kcat with acks=all+idempotence ${s} ms"
  pg_times+=("$p") kcat_times+=("$k") kcat_same_times+=("$s")
done

mp=$(median "${pg_times[@]}") mk=$(median "${kcat_times[@]}") ms=$(median "${kcat_same_times[@]}")
echo
echo "median of $REPEAT runs, $ROWS messages:"
echo "  kcat -P (librdkafka defaults)            ${mk} ms  ($(rate "$ROWS" "$mk") msg/s)"
echo "  kcat -P (acks=all, idempotence)          ${ms} ms"
echo "  INSERT ... SELECT (acks=all, idempotence) ${mp} ms  ($(rate "$ROWS" "$mp") msg/s)"
echo "ratio INSERT/kcat: $(ratio "$mp" "$mk")  (vs kcat with the same guarantees: $(ratio "$mp" "$ms"))"
