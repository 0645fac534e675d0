#!/usr/bin/env bash
# Ingest jobs across a broker outage and a broker restart. 80,000 JSON messages to 3 partitions: the first 30,000 are
# still being produced when the broker stops answering (SIGSTOP) for 8 s, while two append jobs
# ingest them: job A (parallelism 1) waits the outage out with its consumer; the workers of job B
# (parallelism 2) are stopped with pg_terminate_backend during the outage, so that those the
# per-database worker starts again find no broker (the error shows in kafka.ingest_status's
# last_error, and they retry); job C upserts them by id (its batches keep each key's last change,
# decoded as the messages arrive, and grow while a backlog waits). The broker resumes (SIGCONT), 30,000 more are produced; then 10,000,
# a real broker restart (scripts/kafka.sh restart: stop, start on the same data), 10,000 more. Every
# message lands exactly once in each table, and each job's next_offset per partition is the high
# watermark. Prints produced, ingested, lost and duplicated counts, and the errors the status
# showed.
set -euo pipefail
# shellcheck source=test/t/ingest_lib.sh
source "$REPO/test/t/ingest_lib.sh"
kpid=$(cat "$KAFKA_HOME/kafka.pid")
cleanup() { kill -CONT "$kpid" 2>/dev/null || true; ingest_cleanup; }
trap cleanup EXIT

N=80000
HALF=30000
psql -c "CREATE EXTENSION IF NOT EXISTS kafka_fdw" \
     -c "CREATE SERVER IF NOT EXISTS kafka_ing_pause FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers '$KAFKA_BROKERS', timeout_ms '3000')"
psql -c "SELECT kafka_create_topic('kafka_ing_pause', 'ing_bpause', 3)" >/dev/null
psql <<'SQL'
CREATE FOREIGN TABLE ing_bpause_k (part int OPTIONS (partition 'true'), offs bigint OPTIONS (offset 'true'),
  id bigint, v bigint) SERVER kafka_ing_pause OPTIONS (topic 'ing_bpause', format 'json');
CREATE TABLE ing_bpause_a (id bigint, v bigint, part int, offs bigint);
CREATE TABLE ing_bpause_b (id bigint, v bigint, part int, offs bigint);
CREATE TABLE ing_bpause_c (id bigint PRIMARY KEY, v bigint, part int, offs bigint);
SQL
joba=$(q -c "SELECT kafka.ingest('ing_bpause_k', 'ing_bpause_a')")
jobb=$(q -c "SELECT kafka.ingest('ing_bpause_k', 'ing_bpause_b', parallelism => 2)")
jobc=$(q -c "SELECT kafka.ingest('ing_bpause_k', 'ing_bpause_c', mode => 'upsert')")
JOBS="$joba,$jobb,$jobc"
echo "jobs: A $joba (parallelism 1), B $jobb (parallelism 2), C $jobc (upsert)"

awk -v n=$N -v half=$HALF -v dir="$TEST_TMP" 'BEGIN {
  for (i = 1; i <= n; i++) {
    v = (i * 7919) % 1000; sum += v
    h = i <= half ? 1 : i <= 2 * half ? 2 : i <= 70000 ? 3 : 4
    printf "{\"id\":%d}\t{\"id\":%d,\"v\":%d}\n", i, i, v > (dir "/h" h ".p" (i % 3))
  }
  print sum > (dir "/sum")
}'
psum=$(cat "$TEST_TMP/sum")
produce_half() {
  local h=$1 chunk=$2 pause=$3 p
  producers=()
  for p in 0 1 2; do
    produce ing_bpause "$p" "$TEST_TMP/h$h.p$p" "$chunk" "$pause" &
    producers+=($!)
  done
}
rows() { q -c "SELECT (SELECT count(*) FROM ing_bpause_a) || ' ' || (SELECT count(*) FROM ing_bpause_b) || ' ' || (SELECT count(*) FROM ing_bpause_c)"; }
# every table holds at least $1 rows
all_have() { echo "SELECT (SELECT count(*) >= $1 FROM ing_bpause_a) AND (SELECT count(*) >= $1 FROM ing_bpause_b) AND (SELECT count(*) >= $1 FROM ing_bpause_c)"; }
pids_of() {
  q -c "SELECT string_agg(pid::text, ',' ORDER BY pid) FROM pg_stat_activity
        WHERE backend_type = 'kafka_fdw ingest' AND application_name LIKE 'kafka_fdw ingest $1/%'"
}

# the first half, slowly: still being produced when the broker stops
produce_half 1 500 0.2
wait_for "the jobs ingest" 60 "$(all_have 3000)"
kill -STOP "$kpid"
echo "broker stopped; rows: $(rows)"
sleep 1
before=$(rows)
olda=$(pids_of "$joba")
oldb=$(pids_of "$jobb")
[ -n "$olda" ] && [ -n "$oldb" ] || fail "ingest workers missing: A '$olda', B '$oldb'"
q -c "SELECT pg_terminate_backend(pid) FROM unnest('{$oldb}'::int[]) pid" >/dev/null
echo "job B's ingest workers $oldb terminated during the outage"
errors=""
for _ in $(seq 1 28); do
  e=$(q -c "SELECT string_agg('job ' || job_id || ': ' || last_error, '; ') FROM kafka.ingest_job
            WHERE job_id IN ($JOBS) AND last_error IS NOT NULL" 2>/dev/null || true)
  if [ -n "$e" ] && [[ "$errors" != *"$e"* ]]; then errors="$errors$e"$'\n'; echo "last_error during the outage: $e"; fi
  sleep 0.25
done
during=$(rows)
echo "rows during the outage: $before -> $during; ingest workers: A $(pids_of "$joba"), B $(pids_of "$jobb")"
[ "$during" = "$before" ] || fail "rows landed while the broker was stopped ($before -> $during)"
[ "$(pids_of "$joba")" = "$olda" ] || fail "job A's worker $olda did not wait the outage out"
kill -CONT "$kpid"
echo "broker resumed after 8 s"
wait_producers
produce_half 2 10000 0
wait_producers
wait_for "every message lands after the outage" 90 "$(all_have $((2 * HALF)))"

# a real broker restart (stop, start on the same data) between two more rounds of messages
produce_half 3 10000 0
wait_producers
wait_for "the third round lands" 60 "$(all_have 70000)"
"$KAFKA_SH" restart >/dev/null
echo "broker restarted (stop, start on the same data); rows: $(rows)"
produce_half 4 10000 0
wait_producers
wait_for "every message lands after the restart" 90 "$(all_have $N)"
sleep 1   # anything written twice would come now
q -F ' ' -c "SELECT DISTINCT job_id, state, coalesce(last_error, '-') FROM kafka.ingest_status WHERE job_id IN ($JOBS) ORDER BY 1" \
  | while read -r j st e; do echo "status after the outage: job $j $st, last_error: $e"; done

echo "high watermarks: $(high_watermarks ing_bpause_k | tr '\n' ' ')"
total=$(q -c "SELECT sum(high) FROM kafka_watermarks('ing_bpause_k')")
[ "$total" -eq "$N" ] || fail "Kafka holds $total messages, $N were produced (the producer, not the jobs)"
report ing_bpause_a "$N" "$psum"
report ing_bpause_b "$N" "$psum"
report ing_bpause_c "$N" "$psum"
for j in $joba $jobb $jobc; do
  check_offsets "$j" ing_bpause_k
  m=$(q -c "SELECT messages FROM kafka.ingest_job WHERE job_id = $j")
  [ "$m" -eq "$N" ] || fail "job $j counted $m messages, not $N"
done
psql -c "SELECT kafka.stop_ingest($joba), kafka.stop_ingest($jobb), kafka.stop_ingest($jobc)" >/dev/null
echo "ok"
