#!/usr/bin/env bash
# many_partitions: exact counts and sums over a 32-partition topic of 200k messages produced by kcat
# (keyed, so the default partitioner spreads them unevenly over all partitions), serial and with
# parallel workers forced; every query three times, each time complete. The expected count and
# sum come from the generated file (awk), the expected per-partition counts from the watermarks.
set -euo pipefail

# shellcheck source=test/t/lib.sh
source "$REPO/test/t/lib.sh"

N=200000
P=32
data=$TEST_TMP/many.tsv
# key \t {"x": i, "g": "..."}; x are distinct, so a lost or doubled message changes the sum
awk -v n="$N" 'BEGIN { for (i = 1; i <= n; i++) printf "key-%d\t{\"x\":%d,\"g\":\"g%d\"}\n", i * 7919, i * 3 + (i % 11), i % 97 }' > "$data"
read -r want_count want_sum < <(awk -F'\t' '{ split($2, a, /[:,]/); c++; s += a[2] } END { printf "%d %.0f\n", c, s }' "$data")
[ "$want_count" = "$N" ] || fail "generated $want_count lines"

q <<SQL
CREATE EXTENSION IF NOT EXISTS kafka_fdw;
CREATE SERVER many_srv FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers '$KAFKA_BROKERS');
SELECT kafka_create_topic('many_srv', 'many_parts', $P);
CREATE FOREIGN TABLE many_parts (part int OPTIONS (partition 'true'), offs bigint OPTIONS (offset 'true'),
    x bigint, g text) SERVER many_srv OPTIONS (topic 'many_parts', format 'json');
SQL
kcat -b "$KAFKA_BROKERS" -P -t many_parts -K '\t' -X linger.ms=20 -l "$data"

wm=$(q -c "SELECT count(*), sum(high - low), count(*) FILTER (WHERE high > low) FROM kafka_watermarks('many_parts')")
[ "$wm" = "$P|$N|$P" ] || fail "watermarks: partitions|messages|non-empty = $wm, expected $P|$N|$P"
echo "ok: produced $N messages (sum of x $want_sum) into $P partitions, all of them non-empty"

want="$want_count|$want_sum"
QUERY="SELECT count(*), sum(x) FROM many_parts"

for i in 1 2 3; do
  got=$(q -c "$SERIAL" -c "$QUERY")
  [ "$got" = "$want" ] || fail "serial run $i: count|sum = $got, expected $want"
done
echo "ok: serial count and sum exact 3 times: $want"

plan=$(q -c "$PAR" -c "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) $QUERY")
launched=$(sed -n 's/.*Workers Launched: \([0-9]*\).*/\1/p' <<<"$plan" | head -1)
read_msgs=$(sed -n 's/.*Kafka messages read: \([0-9]*\).*/\1/p' <<<"$plan" | head -1)
if [ -z "$launched" ] || [ "$launched" -lt 1 ]; then echo "$plan" >&2; fail "parallel plan: no worker launched"; fi
[ "$read_msgs" = "$N" ] || { echo "$plan" >&2; fail "parallel EXPLAIN ANALYZE: $read_msgs messages read, expected $N"; }
echo "ok: parallel plan, Workers Launched: $launched, Kafka messages read: $read_msgs"
for i in 1 2 3; do
  got=$(q -c "$PAR" -c "$QUERY")
  [ "$got" = "$want" ] || fail "parallel run $i: count|sum = $got, expected $want"
done
echo "ok: parallel count and sum exact 3 times: $want"

# per partition: what each partition holds, no more, no less, in both plans
want_parts=$(q -c "SELECT string_agg(partition || ':' || (high - low), ',' ORDER BY partition) FROM kafka_watermarks('many_parts')")
for mode in SERIAL PAR; do
  got=$(q -c "${!mode}" -c "SELECT string_agg(part || ':' || n, ',' ORDER BY part) FROM (SELECT part, count(*) n FROM many_parts GROUP BY part) s")
  [ "$got" = "$want_parts" ] || fail "$mode per-partition counts differ from the watermarks: got $got, expected $want_parts"
  got=$(q -c "${!mode}" -c "SELECT count(*) FROM (SELECT part, offs FROM many_parts GROUP BY part, offs HAVING count(*) > 1) d")
  [ "$got" = "0" ] || fail "$mode: $got (partition, offset) pairs returned more than once"
done
echo "ok: per-partition counts equal the watermarks and no message is returned twice, serial and parallel"
