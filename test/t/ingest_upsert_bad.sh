#!/usr/bin/env bash
# An upsert job over a backlog with bad messages in it, in batches of at most 3,000 messages
# (kafka_fdw.ingest_upsert_batch_size): 1,000 keys, 20 versions of each, 20,000 messages over 3
# partitions (a key always in the same one), about one in twenty a tombstone, and in rounds 3 and
# 4 about 2% bad: a version that violates the target's CHECK, or a value that is not JSON. An upsert batch keeps
# only each key's last change and releases the messages, so a bad message makes its batch roll
# back and the worker read those partitions again, applying them one message at a time up to the
# failed batch's end, then go back to batches of last changes. The table must end equal to the
# last good change of each key (computed with awk: its value, or no row after a tombstone), every
# bad message must be a dead letter once, the job must have counted every message once, and its
# next offsets must be the high watermarks. Then two clean rounds, produced while the job is
# paused, must be applied in batches of last changes again: fewer rows written than changes.
set -euo pipefail
# shellcheck source=test/t/ingest_lib.sh
source "$REPO/test/t/ingest_lib.sh"
cleanup() {
  ingest_cleanup
  psql -c "ALTER SYSTEM RESET kafka_fdw.ingest_upsert_batch_size" -c "SELECT pg_reload_conf()" >/dev/null 2>&1 || true
}
trap cleanup EXIT

K=1000
R=20
psql -c "CREATE EXTENSION IF NOT EXISTS kafka_fdw" \
     -c "CREATE SERVER IF NOT EXISTS kafka_ing_bad FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers '$KAFKA_BROKERS')"
psql -c "SELECT kafka_create_topic('kafka_ing_bad', 'ing_upsert_bad', 3)" >/dev/null
psql <<'SQL'
CREATE FOREIGN TABLE ing_upsert_bad_k (id int, ver int, val text)
  SERVER kafka_ing_bad OPTIONS (topic 'ing_upsert_bad', format 'json');
CREATE TABLE ing_upsert_bad (id int PRIMARY KEY, ver int NOT NULL CHECK (ver < 1000), val text);
CREATE TABLE ing_upsert_bad_expect (id int PRIMARY KEY, ver int NOT NULL, val text);
SQL
psql -c "ALTER SYSTEM SET kafka_fdw.ingest_upsert_batch_size = 3000" -c "SELECT pg_reload_conf()" >/dev/null

# the changelog: round r = 1..R changes every key once, in key order; key k goes to partition
# k % 3; a change is a tombstone for about one in twenty, and in rounds 3 and 4 a CHECK violation
# (ver 1000 + r) or not JSON for about one in fifty; the expectation is the last good change of
# each key
awk -v k=$K -v r=$R -v dir="$TEST_TMP" 'BEGIN {
  for (round = 1; round <= r; round++)
    for (id = 1; id <= k; id++) {
      f = dir "/bad.p" (id % 3)
      h = (id * 31 + round * 17) % 100
      if (h < 5) {
        printf "{\"id\":%d}\t\n", id > f
        delete last[id]; tomb++
      } else if (h < 6 && (round == 3 || round == 4)) {
        printf "{\"id\":%d}\t{\"id\":%d,\"ver\":%d,\"val\":\"bad\"}\n", id, id, 1000 + round > f
        bad++
      } else if (h < 7 && (round == 3 || round == 4)) {
        printf "{\"id\":%d}\t{\"id\":%d,\"ver\":\n", id, id > f
        bad++
      } else {
        val = "k" id "v" round
        printf "{\"id\":%d}\t{\"id\":%d,\"ver\":%d,\"val\":\"%s\"}\n", id, id, round, val > f
        last[id] = round "\t" val
      }
    }
  for (id = 1; id <= k; id++) if (id in last) printf "%d\t%s\n", id, last[id] > (dir "/expect.tsv")
  printf "%d %d %d\n", k * r, tomb, bad > (dir "/counts")
}'
read -r total tombs bad < "$TEST_TMP/counts"
psql -c "\\copy ing_upsert_bad_expect FROM '$TEST_TMP/expect.tsv'"
expected=$(q -c "SELECT count(*) FROM ing_upsert_bad_expect")
echo "changelog: $total messages ($tombs tombstones, $bad bad), $expected keys expected at the end"

# a backlog: everything is in Kafka before the job starts
for p in 0 1 2; do
  produce ing_upsert_bad "$p" "$TEST_TMP/bad.p$p" 10000 0 &
  producers+=($!)
done
wait_producers
hw=$(q -c "SELECT sum(high) FROM kafka_watermarks('ing_upsert_bad_k')")
[ "$hw" -eq "$total" ] || fail "Kafka holds $hw messages, $total were produced (the producer, not the job)"

job=$(q -c "SELECT kafka.ingest('ing_upsert_bad_k', 'ing_upsert_bad', mode => 'upsert', on_error => 'dead_letter')")
JOBS=$job
echo "job: $job (upsert, dead letters)"
wait_for "every change is applied or dead-lettered" 120 "SELECT messages >= $total FROM kafka.ingest_job WHERE job_id = $job"
sleep 1   # anything applied twice would be counted now

read -r rows missing extra differ < <(q -F ' ' -c "SELECT (SELECT count(*) FROM ing_upsert_bad),
    (SELECT count(*) FROM ing_upsert_bad_expect e WHERE NOT EXISTS (SELECT 1 FROM ing_upsert_bad t WHERE t.id = e.id)),
    (SELECT count(*) FROM ing_upsert_bad t WHERE NOT EXISTS (SELECT 1 FROM ing_upsert_bad_expect e WHERE e.id = t.id)),
    (SELECT count(*) FROM ing_upsert_bad t JOIN ing_upsert_bad_expect e USING (id) WHERE (t.ver, t.val) IS DISTINCT FROM (e.ver, e.val))")
read -r msgs written dead state < <(q -F ' ' -c "SELECT messages, rows_written, dead_letters, state FROM kafka.ingest_job WHERE job_id = $job")
read -r letters distinct_letters < <(q -F ' ' -c "SELECT count(*), count(DISTINCT (partition, \"offset\")) FROM kafka.dead_letter WHERE job_id = $job")
lost=$((total > msgs ? total - msgs : 0))
dup=$((msgs > total ? msgs - total : 0))
echo "ing_upsert_bad: produced=$total ingested=$msgs lost=$lost duplicated=$dup (messages the job counted; rows_written $written)"
echo "ing_upsert_bad: rows=$rows expected=$expected keys missing=$missing keys that should be deleted=$extra stale versions=$differ"
echo "ing_upsert_bad: bad=$bad dead_letters=$dead (rows in kafka.dead_letter $letters, distinct $distinct_letters), state $state"
[ "$msgs" -eq "$total" ] || fail "the job counted $msgs messages, $total were produced"
[ "$missing" -eq 0 ] && [ "$extra" -eq 0 ] && [ "$differ" -eq 0 ] && [ "$rows" -eq "$expected" ] \
  || fail "the table differs from the last good change of each key"
[ "$dead" -eq "$bad" ] && [ "$letters" -eq "$bad" ] && [ "$distinct_letters" -eq "$bad" ] \
  || fail "$bad bad messages, but the job counted $dead dead letters ($letters rows, $distinct_letters distinct)"
[ "$state" = running ] || fail "the job is $state"
check_offsets "$job" ing_upsert_bad_k

# then a clean backlog of two more rounds, while the job is paused: past the failed batches, the
# job applies batches of last changes again (2,000 changes of 1,000 keys fit one batch: fewer rows
# than changes)
psql -c "SELECT kafka.pause_ingest($job)" >/dev/null
awk -v k=$K -v dir="$TEST_TMP" 'BEGIN {
  for (round = 21; round <= 22; round++)
    for (id = 1; id <= k; id++)
      printf "{\"id\":%d}\t{\"id\":%d,\"ver\":%d,\"val\":\"k%dv%d\"}\n", id, id, round, id, round > (dir "/clean.p" (id % 3))
}'
for p in 0 1 2; do
  produce ing_upsert_bad "$p" "$TEST_TMP/clean.p$p" 10000 0 &
  producers+=($!)
done
wait_producers
psql -c "SELECT kafka.resume_ingest($job)" >/dev/null
wait_for "the clean rounds are applied" 60 "SELECT messages >= $((total + 2 * K)) FROM kafka.ingest_job WHERE job_id = $job"
sleep 1
read -r msgs2 written2 dead2 < <(q -F ' ' -c "SELECT messages, rows_written, dead_letters FROM kafka.ingest_job WHERE job_id = $job")
read -r rows2 latest < <(q -F ' ' -c "SELECT count(*), count(*) FILTER (WHERE ver = 22 AND val = 'k' || id || 'v22') FROM ing_upsert_bad")
echo "clean rounds: messages $((msgs2 - msgs)), rows written $((written2 - written)), dead letters $((dead2 - dead)); rows $rows2, at round 22 $latest"
[ "$msgs2" -eq $((total + 2 * K)) ] || fail "the job counted $msgs2 messages, $((total + 2 * K)) were produced"
[ "$rows2" -eq "$K" ] && [ "$latest" -eq "$K" ] || fail "the table does not hold every key at round 22"
[ "$dead2" -eq "$dead" ] || fail "clean messages became dead letters"
[ "$((written2 - written))" -lt $((2 * K)) ] || fail "the clean rounds wrote $((written2 - written)) rows for $((2 * K)) changes: no batch kept only last changes"
check_offsets "$job" ing_upsert_bad_k
psql -c "SELECT kafka.stop_ingest($job)" >/dev/null
echo "ok"
