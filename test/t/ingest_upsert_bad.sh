#!/usr/bin/env bash
# An upsert job over a backlog with bad messages in it, in batches of at most 3,000 messages
# (kafka_fdw.ingest_upsert_batch_size): 1,000 keys, 20 versions of each, 20,000 messages over 3
# partitions (a key always in the same one), about one in twenty a tombstone, in rounds 3 and 4
# about 2% bad (a version that violates the target's CHECK, or a value that is not JSON), and the
# last change of every 97th key a CHECK violation. An upsert batch keeps only each key's last
# change and releases the messages: a message that does not decode makes its batch roll back and
# be read again with that message dead-lettered; a change that fails to apply makes the batch's
# partitions be read again and applied one message at a time up to where it ended. The table must
# end equal to the last good change of each key (computed with awk: its value, or no row after a
# tombstone); every message that is not JSON and every bad last change must be a dead letter once
# (an earlier bad change may be superseded within its batch, and is then never applied), no good
# message may be one; the job must have counted every message once, and its next offsets must be
# the high watermarks. Then two clean rounds, produced while the job is paused, must be applied in
# batches of last changes again: fewer rows written than changes.
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
CREATE TABLE ing_upsert_bad_msgs (partition int, "offset" bigint, kind text, PRIMARY KEY (partition, "offset"));
SQL
psql -c "ALTER SYSTEM SET kafka_fdw.ingest_upsert_batch_size = 3000" -c "SELECT pg_reload_conf()" >/dev/null

# the changelog: round r = 1..R changes every key once, in key order; key k goes to partition
# k % 3; a change is a tombstone for about one in twenty, and in rounds 3 and 4 a CHECK violation
# (ver 1000 + r) or not JSON for about one in fifty; the expectation is the last good change of
# each key
awk -v k=$K -v r=$R -v dir="$TEST_TMP" 'BEGIN {
  for (round = 1; round <= r; round++)
    for (id = 1; id <= k; id++) {
      p = id % 3
      f = dir "/bad.p" p
      off = n[p]++
      h = (id * 31 + round * 17) % 100
      if (h < 5) {
        printf "{\"id\":%d}\t\n", id > f
        delete last[id]; tomb++
      } else if (h < 6 && (round == 3 || round == 4)) {
        printf "{\"id\":%d}\t{\"id\":%d,\"ver\":%d,\"val\":\"bad\"}\n", id, id, 1000 + round > f
        printf "%d\t%d\tcheck\n", p, off > (dir "/bad.tsv")
        bad++
      } else if (h < 7 && (round == 3 || round == 4)) {
        printf "{\"id\":%d}\t{\"id\":%d,\"ver\":\n", id, id > f
        printf "%d\t%d\tjson\n", p, off > (dir "/bad.tsv")
        bad++
      } else if (round == r && id % 97 == 0) {
        printf "{\"id\":%d}\t{\"id\":%d,\"ver\":%d,\"val\":\"bad\"}\n", id, id, 1000 + round > f
        printf "%d\t%d\tlast\n", p, off > (dir "/bad.tsv")
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
psql -c "\\copy ing_upsert_bad_expect FROM '$TEST_TMP/expect.tsv'" -c "\\copy ing_upsert_bad_msgs FROM '$TEST_TMP/bad.tsv'"
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

read -r rows missing extra differ < <(compare_upsert ing_upsert_bad ing_upsert_bad_expect)
read -r msgs written dead state < <(q -F ' ' -c "SELECT messages, rows_written, dead_letters, state FROM kafka.ingest_job WHERE job_id = $job")
read -r letters distinct_letters stray json_missing < <(q -F ' ' -c "SELECT count(*), count(DISTINCT (partition, \"offset\")),
    count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM ing_upsert_bad_msgs b WHERE (b.partition, b.\"offset\") = (d.partition, d.\"offset\"))),
    (SELECT count(*) FROM ing_upsert_bad_msgs b WHERE b.kind IN ('json', 'last') AND NOT EXISTS
       (SELECT 1 FROM kafka.dead_letter d2 WHERE d2.job_id = $job AND (d2.partition, d2.\"offset\") = (b.partition, b.\"offset\")))
  FROM kafka.dead_letter d WHERE job_id = $job")
json_bad=$(q -c "SELECT count(*) FROM ing_upsert_bad_msgs WHERE kind IN ('json', 'last')")
lost=$((total > msgs ? total - msgs : 0))
dup=$((msgs > total ? msgs - total : 0))
echo "ing_upsert_bad: produced=$total ingested=$msgs lost=$lost duplicated=$dup (messages the job counted; rows_written $written)"
echo "ing_upsert_bad: rows=$rows expected=$expected keys missing=$missing keys that should be deleted=$extra stale versions=$differ"
echo "ing_upsert_bad: bad=$bad ($json_bad not JSON or a key's last change) dead_letters=$dead (rows in kafka.dead_letter $letters, distinct $distinct_letters, not bad $stray, not-JSON ones missing $json_missing), state $state"
[ "$msgs" -eq "$total" ] || fail "the job counted $msgs messages, $total were produced"
[ "$missing" -eq 0 ] && [ "$extra" -eq 0 ] && [ "$differ" -eq 0 ] && [ "$rows" -eq "$expected" ] \
  || fail "the table differs from the last good change of each key"
# a message that does not decode is always a dead letter, and so is a key's last change that
# violates the CHECK; an earlier one is one unless a later change of its key in the same batch
# superseded it (then it is never applied)
[ "$json_missing" -eq 0 ] || fail "$json_missing of the $json_bad messages that are not JSON or a key's last change are no dead letters"
[ "$stray" -eq 0 ] || fail "$stray dead letters are good messages"
[ "$letters" -eq "$distinct_letters" ] && [ "$dead" -eq "$letters" ] \
  || fail "the job counted $dead dead letters, kafka.dead_letter holds $letters ($distinct_letters distinct)"
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
