#!/usr/bin/env bash
# loaded: complete results under CPU load. Two CPU hogs (yes > /dev/null) run for the whole test,
# so that the broker, librdkafka's threads and the backend are descheduled at random moments;
# SELECT count(*) (and a sum of a decoded column) over 300k messages equals what was produced,
# three times in a row, serial and with the plan the planner picks (parallel where it likes).
set -euo pipefail

# shellcheck source=test/t/lib.sh
source "$REPO/test/t/lib.sh"

hogs=()
cleanup() {
  local p
  for p in "${hogs[@]+"${hogs[@]}"}"; do kill "$p" 2>/dev/null || true; done
  for p in "${hogs[@]+"${hogs[@]}"}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

N=300000
data=$TEST_TMP/loaded.json
awk -v n="$N" 'BEGIN { for (i = 1; i <= n; i++) printf "{\"id\":%d,\"pad\":\"%s\"}\n", i, substr("abcdefghijklmnopqrstuvwxyz0123456789", 1 + i % 20) }' > "$data"
want_sum=$(awk -v n="$N" 'BEGIN { printf "%.0f", n * (n + 1) / 2 }')

q <<SQL
CREATE EXTENSION IF NOT EXISTS kafka_fdw;
CREATE SERVER loaded_srv FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers '$KAFKA_BROKERS');
SELECT kafka_create_topic('loaded_srv', 'loaded_t', 3);
CREATE FOREIGN TABLE loaded_t (id bigint, pad text) SERVER loaded_srv OPTIONS (topic 'loaded_t', format 'json');
SQL
# round-robin over the 3 partitions, a third each
for p in 0 1 2; do
  awk -v p=$p 'NR % 3 == p' "$data" | kcat -b "$KAFKA_BROKERS" -P -t loaded_t -p $p -X linger.ms=20 &
done
wait
have=$(q -c "SELECT sum(high - low) FROM kafka_watermarks('loaded_t')")
[ "$have" = "$N" ] || fail "topic holds $have messages, expected $N"

yes > /dev/null & hogs+=($!)
yes > /dev/null & hogs+=($!)
echo "ok: $N messages produced; CPU hogs ${hogs[*]} running on $(nproc) CPUs"

t0=$(date +%s)
for i in 1 2 3; do
  got=$(q -c "SET max_parallel_workers_per_gather = 0" -c "SELECT count(*) FROM loaded_t")
  [ "$got" = "$N" ] || fail "serial count(*) run $i under load: $got, expected $N"
done
echo "ok: serial count(*) = $N three times in a row under load"
for i in 1 2 3; do
  got=$(q -c "SELECT count(*), sum(id) FROM loaded_t")
  [ "$got" = "$N|$want_sum" ] || fail "count(*), sum(id) run $i under load: $got, expected $N|$want_sum"
done
echo "ok: count(*), sum(id) = $N|$want_sum three times in a row under load (default plan)"
echo "   $(( $(date +%s) - t0 )) s for the 6 queries under load"
