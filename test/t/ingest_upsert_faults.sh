#!/usr/bin/env bash
# An upsert job survives crashes: a changelog of 10,000 keys, 12 versions of each key (about one
# change in ten a tombstone, and the last change of every fifth key a tombstone), 120,000
# messages over 3 partitions (a key always in the same one), is applied while the ingest worker
# is SIGKILLed twice in the middle of a batch (it sleeps 0.1 s in a trigger of the target for 4 of
# the keys, rows written before; the postmaster restarts every backend). The table must end equal
# to the last change of each key (computed with awk from what was produced: its value, or no row
# after a tombstone), the job must have counted every message once, and its next_offset per
# partition must be the partition's high watermark. Prints produced, ingested, lost and
# duplicated counts.
set -euo pipefail
# shellcheck source=test/t/ingest_lib.sh
source "$REPO/test/t/ingest_lib.sh"
trap ingest_cleanup EXIT

K=10000
R=12
psql -c "CREATE EXTENSION IF NOT EXISTS kafka_fdw" \
     -c "CREATE SERVER IF NOT EXISTS kafka_ing_faults FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers '$KAFKA_BROKERS')"
psql -c "SELECT kafka_create_topic('kafka_ing_faults', 'ing_upsert', 3)" >/dev/null
psql <<'SQL'
CREATE FOREIGN TABLE ing_upsert_k (id int, ver int, val text)
  SERVER kafka_ing_faults OPTIONS (topic 'ing_upsert', format 'json');
CREATE TABLE ing_upsert (id int PRIMARY KEY, ver int NOT NULL, val text);
CREATE TABLE ing_upsert_expect (id int PRIMARY KEY, ver int NOT NULL, val text);
SQL
# a batch that writes key 2500, 5000, 7500 or 10000 stays open 0.1 s: the kills hit there
slow_trigger ing_upsert "NEW.id % 2500 = 0" 0.1
job=$(q -c "SELECT kafka.ingest('ing_upsert_k', 'ing_upsert', mode => 'upsert')")
JOBS=$job
echo "job: $job (upsert)"

# the changelog: round r = 1..R changes every key once, in key order; key k goes to partition
# k % 3; a change is a tombstone (key, empty value) for about one in ten, and in the last round
# for every fifth key; the expectation is the last change of each key
awk -v k=$K -v r=$R -v dir="$TEST_TMP" 'BEGIN {
  for (round = 1; round <= r; round++)
    for (id = 1; id <= k; id++) {
      f = dir "/up.p" (id % 3)
      if ((id * 31 + round * 17) % 10 == 0 || (round == r && id % 5 == 0)) {
        printf "{\"id\":%d}\t\n", id > f
        delete last[id]; tomb++
      } else {
        val = "k" id "v" round
        printf "{\"id\":%d}\t{\"id\":%d,\"ver\":%d,\"val\":\"%s\"}\n", id, id, round, val > f
        last[id] = round "\t" val
      }
    }
  for (id = 1; id <= k; id++) if (id in last) printf "%d\t%s\n", id, last[id] > (dir "/expect.tsv")
  printf "%d %d\n", k * r, tomb > (dir "/counts")
}'
read -r total tombs < "$TEST_TMP/counts"
psql -c "\\copy ing_upsert_expect FROM '$TEST_TMP/expect.tsv'"
expected=$(q -c "SELECT count(*) FROM ing_upsert_expect")
echo "changelog: $total messages ($tombs tombstones), $expected keys expected at the end"

for p in 0 1 2; do
  produce ing_upsert "$p" "$TEST_TMP/up.p$p" 4000 0.3 &
  producers+=($!)
done
messages() { q -c "SELECT messages FROM kafka.ingest_job WHERE job_id = $job"; }

wait_for "the job applies changes" 60 "SELECT messages >= 10000 FROM kafka.ingest_job WHERE job_id = $job"
echo "kill 1: messages applied before: $(messages)"
kill_ingest_mid_batch "kill 1" 30
echo "kill 1: messages applied after the crash restart: $(messages)"
wait_for "kill 1: the ingest worker comes back" 60 \
  "SELECT count(*) = 1 FROM pg_stat_activity WHERE $(workers_sql)"
wait_for "the job goes on" 60 "SELECT messages >= $((total / 2)) FROM kafka.ingest_job WHERE job_id = $job"
echo "kill 2: messages applied before: $(messages)"
kill_ingest_mid_batch "kill 2" 30
echo "kill 2: messages applied after the crash restart: $(messages)"
wait_producers
hw=$(q -c "SELECT sum(high) FROM kafka_watermarks('ing_upsert_k')")
[ "$hw" -eq "$total" ] || fail "Kafka holds $hw messages, $total were produced (the producer, not the job)"
wait_for "every change is applied" 90 "SELECT messages >= $total FROM kafka.ingest_job WHERE job_id = $job"
sleep 1   # anything applied twice would be counted now

read -r rows missing extra differ < <(compare_upsert ing_upsert ing_upsert_expect)
read -r msgs written < <(q -F ' ' -c "SELECT messages, rows_written FROM kafka.ingest_job WHERE job_id = $job")
lost=$((total > msgs ? total - msgs : 0))
dup=$((msgs > total ? msgs - total : 0))
echo "ing_upsert: produced=$total ingested=$msgs lost=$lost duplicated=$dup (messages the job counted; rows_written $written)"
echo "ing_upsert: rows=$rows expected=$expected keys missing=$missing keys that should be deleted=$extra stale versions=$differ"
[ "$msgs" -eq "$total" ] || fail "the job counted $msgs messages, $total were produced"
[ "$missing" -eq 0 ] && [ "$extra" -eq 0 ] && [ "$differ" -eq 0 ] && [ "$rows" -eq "$expected" ] \
  || fail "the table differs from the last change of each key"
check_offsets "$job" ing_upsert_k
echo "job $job: last_error=$(q -c "SELECT coalesce(last_error, '-') FROM kafka.ingest_job WHERE job_id = $job")"
psql -c "SELECT kafka.stop_ingest($job)" >/dev/null
echo "ok"
