#!/usr/bin/env bash
# refill: scans over more messages than the consumer queue holds (issue 11, item 4).
# librdkafka 2.0 stops fetching while a scan's queue holds queued.min.messages and looks again
# only up to a second later; a scan takes what the queue holds when it has fallen low and seeks
# each partition to the offset after the last message taken, which wakes the fetcher. That seek
# must neither lose nor repeat a message, also for ranges that end mid-queue and in parallel.
#  - 60,000 messages in 3 partitions, read through a table whose queue holds 2,000
#    ("queued.min.messages" '2000', batch_size 500): count, distinct (partition, offset) pairs
#    and sum equal kcat's dump, serial and parallel, whole topic and offset ranges;
#  - EXPLAIN ANALYZE says the scan refilled its queue (so the path above ran) and read exactly
#    the messages it returned;
#  - the same table with the default queue reads without a refill;
#  - 300 partitions, 30,000 messages through a queue of 1,000: every refill seeks every range
#    still being read; counts, distinct offsets and sums equal kcat's, serial and parallel.
set -euo pipefail

# shellcheck source=test/t/lib.sh
source "$REPO/test/t/lib.sh"

N=60000
scratch_topics rf_srv rf_topic:3 rf_many:300

q <<SQL
CREATE FOREIGN TABLE rf_small (part int OPTIONS (partition 'true'), offs bigint OPTIONS (offset 'true'), x int)
  SERVER rf_srv OPTIONS (topic 'rf_topic', format 'json', batch_size '500', "queued.min.messages" '2000');
CREATE FOREIGN TABLE rf_default (part int OPTIONS (partition 'true'), offs bigint OPTIONS (offset 'true'), x int)
  SERVER rf_srv OPTIONS (topic 'rf_topic', format 'json');
INSERT INTO rf_default (part, x) SELECT g % 3, g * 7 + 1 FROM generate_series(0, $N - 1) g;
SQL

dump rf_topic > "$TEST_TMP/rf.txt"
# count|distinct (partition, offset)|sum, as the queries below print them
stats() { awk "$1"' { c++; if (!seen[$1 " " $2]++) d++; s += $3 } END { printf "%d|%d|%.0f\n", c, d, s }' "$2"; }
want_all=$(stats '1' "$TEST_TMP/rf.txt")
want_range=$(stats '$2 >= 1234 && $2 <= 15678' "$TEST_TMP/rf.txt")
want_part=$(stats '$1 == 1 && $2 >= 100' "$TEST_TMP/rf.txt")
[ "$want_all" = "$N|$N|$(awk -v n=$N 'BEGIN { for (g = 0; g < n; g++) s += g * 7 + 1; printf "%.0f", s }')" ] \
  || fail "kcat reads $want_all from rf_topic"
echo "ok: kcat reads $want_all (count|distinct|sum); offsets 1234-15678: $want_range; partition 1 from 100: $want_part"

SEL="SELECT count(*) || '|' || count(DISTINCT (part, offs)) || '|' || sum(x)"
Q_ALL="$SEL FROM rf_small"
Q_RANGE="$SEL FROM rf_small WHERE offs BETWEEN 1234 AND 15678"
Q_PART="$SEL FROM rf_small WHERE part = 1 AND offs >= 100"

plan=$(q -c "$PAR" -c "EXPLAIN (COSTS OFF) $Q_ALL")
grep -q 'Parallel Foreign Scan' <<<"$plan" || { echo "$plan" >&2; fail "no parallel foreign scan in the parallel plan"; }

same_serial_parallel "whole topic" "$Q_ALL" "$want_all"
same_serial_parallel "offsets 1234-15678" "$Q_RANGE" "$want_range"
same_serial_parallel "partition 1 from offset 100" "$Q_PART" "$want_part"

# the refill path ran, and the scan read exactly what it returned
explain() {  # explain SETTINGS QUERY -> "read refills"
  local plan
  plan=$(q -c "$1" -c "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) $2")
  echo "$(sed -n 's/.*Kafka messages read: \([0-9]*\).*/\1/p' <<<"$plan" | head -1) $(sed -n 's/.*Kafka queue refills: \([0-9]*\).*/\1/p' <<<"$plan" | head -1)"
}
for mode in SERIAL PAR; do
  read -r nread refills <<<"$(explain "${!mode}" "SELECT * FROM rf_small")"
  [ "$nread" = "$N" ] || fail "$mode EXPLAIN ANALYZE: $nread messages read, expected $N"
  [ -n "$refills" ] && [ "$refills" -gt 0 ] || fail "$mode EXPLAIN ANALYZE: no queue refill over $N messages with queued.min.messages 2000"
  echo "ok: $mode scan read $nread messages with $refills queue refills"
done
read -r nread refills <<<"$(explain "$SERIAL" "SELECT * FROM rf_default")"
[ "$nread" = "$N" ] && [ -z "$refills" ] || fail "default queue: $nread messages read, refills '$refills' (expected $N and none)"
echo "ok: with the default queue (100,000 messages) the scan reads $nread messages without a refill"

# many partitions: a refill seeks every range still being read
q <<SQL
CREATE FOREIGN TABLE rf_many (part int OPTIONS (partition 'true'), offs bigint OPTIONS (offset 'true'), x int)
  SERVER rf_srv OPTIONS (topic 'rf_many', format 'json', batch_size '200', "queued.min.messages" '1000');
INSERT INTO rf_many (part, x) SELECT g % 300, g * 3 + 1 FROM generate_series(0, 29999) g;
SQL
dump rf_many > "$TEST_TMP/many.txt"
want_many=$(stats '1' "$TEST_TMP/many.txt")
[ "${want_many%%|*}" = 30000 ] || fail "kcat reads $want_many from rf_many"
same_serial_parallel "300 partitions through a queue of 1,000" "$SEL FROM rf_many" "$want_many"
read -r nread refills <<<"$(explain "$SERIAL" "SELECT * FROM rf_many")"
[ "$nread" = 30000 ] && [ -n "$refills" ] && [ "$refills" -gt 0 ] || fail "300 partitions: $nread messages read, refills '$refills' (expected 30000 and some)"
echo "ok: 300 partitions: the scan read $nread messages with $refills queue refills"
