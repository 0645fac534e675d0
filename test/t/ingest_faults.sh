#!/usr/bin/env bash
# Ingest jobs survive crashes exactly once. 200,000 JSON messages (unique id, a value to sum) are
# produced to 3 partitions, in four phases, while an append job with parallelism 1 and one with
# parallelism 2 (into another table) ingest them:
#  1. the ingest workers are SIGKILLed while one of them writes a batch (the postmaster restarts
#     every backend; the per-database worker starts the ingest workers again);
#  2. they are stopped with pg_terminate_backend while one writes a batch (no crash: the
#     per-database worker starts them again);
#  3. the per-database worker (their supervisor) is stopped with pg_terminate_backend, twice: the
#     ingest workers it started go on, each new supervisor starts copies that wait for them (an
#     advisory lock per job and share), and the copies of a supervisor that is gone leave: at
#     most two ingest processes per job and share, not one more per supervisor restart;
#  4. the postmaster is stopped with -m immediate while a batch is written, and started again.
# Each fault hits while messages are still being produced; those "while a batch is written" hit
# a worker sleeping in a trigger of the target (0.2 s for every 10,000th id), rows written before. Each table must end with exactly one
# row per message (count, distinct ids, distinct (partition, offset), sum of the values), each
# job must have counted N messages, and its next_offset per partition must be the partition's high
# watermark. Prints produced, ingested, lost and duplicated counts.
set -euo pipefail
# shellcheck source=test/t/ingest_lib.sh
source "$REPO/test/t/ingest_lib.sh"
trap ingest_cleanup EXIT

N=200000
END1=60000
END2=120000
END3=150000
SHARES=3   # ingest workers: 1 + 2
psql -c "CREATE EXTENSION IF NOT EXISTS kafka_fdw" \
     -c "CREATE SERVER IF NOT EXISTS kafka_ing_faults FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers '$KAFKA_BROKERS')"
psql -c "SELECT kafka_create_topic('kafka_ing_faults', 'ing_faults', 3)" >/dev/null
psql <<'SQL'
CREATE FOREIGN TABLE ing_faults_k (part int OPTIONS (partition 'true'), offs bigint OPTIONS (offset 'true'),
  id bigint, v bigint) SERVER kafka_ing_faults OPTIONS (topic 'ing_faults', format 'json');
-- no unique constraint: a duplicate must show up as a second row, not as an error
CREATE TABLE ing_faults_p1 (id bigint, v bigint, part int, offs bigint);
CREATE TABLE ing_faults_p2 (id bigint, v bigint, part int, offs bigint);
SQL
# a batch with a 10,000th id stays open 0.2 s: the faults hit there
slow_trigger ing_faults_p1 "NEW.id % 10000 = 0" 0.2
slow_trigger ing_faults_p2 "NEW.id % 10000 = 0" 0.2
job1=$(q -c "SELECT kafka.ingest('ing_faults_k', 'ing_faults_p1')")
job2=$(q -c "SELECT kafka.ingest('ing_faults_k', 'ing_faults_p2', parallelism => 2)")
JOBS="$job1,$job2"
echo "jobs: $job1 (parallelism 1), $job2 (parallelism 2)"

# messages: id 1..N to partition id % 3, value (id * 7919) % 1000; key TAB value lines per phase
# and partition
awk -v n=$N -v e1=$END1 -v e2=$END2 -v e3=$END3 -v dir="$TEST_TMP" 'BEGIN {
  for (i = 1; i <= n; i++) {
    v = (i * 7919) % 1000; sum += v
    printf "{\"id\":%d}\t{\"id\":%d,\"v\":%d}\n", i, i, v > (dir "/ph" (i > e3 ? 4 : i > e2 ? 3 : i > e1 ? 2 : 1) ".p" (i % 3))
  }
  print sum > (dir "/sum")
}'
psum=$(cat "$TEST_TMP/sum")

# produce_phase H [CHUNK PAUSE]: the phase's three partitions in parallel, in chunks (the jobs
# ingest meanwhile)
produce_phase() {
  local h=$1 chunk=${2:-4000} pause=${3:-0.2} p
  producers=()
  for p in 0 1 2; do
    produce ing_faults "$p" "$TEST_TMP/ph$h.p$p" "$chunk" "$pause" &
    producers+=($!)
  done
}
rows() { q -c "SELECT (SELECT count(*) FROM ing_faults_p1) || ' ' || (SELECT count(*) FROM ing_faults_p2)"; }
both_have() { echo "SELECT (SELECT count(*) FROM ing_faults_p1) >= $1 AND (SELECT count(*) FROM ing_faults_p2) >= $1"; }
workers_back() {
  wait_for "$1: the $SHARES ingest workers come back" 60 \
    "SELECT count(*) = $SHARES FROM pg_stat_activity WHERE $(workers_sql) AND pid NOT IN (${2:-0})"
}
supervisor() { q -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'kafka_fdw worker' AND datname = current_database()"; }
ingest_procs() {
  q -c "SELECT count(*) || ' (' || count(*) FILTER (WHERE state = 'active' AND query = 'waiting for its job''s lock') || ' waiting for the lock)'
        FROM pg_stat_activity WHERE $(workers_sql)"
}

# --- 1: SIGKILL while a batch is written --------------------------------------------------------
produce_phase 1
wait_for "round 1: the jobs ingest" 60 "$(both_have 20000)"
echo "round 1: rows before the kill: $(rows)"
kill_ingest_mid_batch "round 1" 30
echo "round 1: rows after the crash restart: $(rows)"
workers_back "round 1"
wait_producers
wait_for "round 1: phase 1 lands" 90 "$(both_have $END1)"
echo "round 1: rows once phase 1 landed: $(rows)"

# --- 2: pg_terminate_backend while a batch is written -----------------------------------------
produce_phase 2
wait_for "round 2: phase 2 arrives" 60 "$(both_have $((END1 + 10000)))"
old=$(ingest_pids | paste -sd,)
[ -n "$old" ] || fail "round 2: no ingest worker runs"
terminate_ingest_mid_batch "round 2" 30
echo "round 2: rows after the termination: $(rows)"
workers_back "round 2" "$old"
wait_producers
wait_for "round 2: phase 2 lands" 90 "$(both_have $END2)"
echo "round 2: rows once phase 2 landed: $(rows)"

# --- 3: the per-database worker is terminated twice --------------------------------------------
produce_phase 3 1000 1   # slowly: lasts through the supervisor restarts (~5 s each)
wait_for "round 3: phase 3 arrives" 60 "$(both_have $((END2 + 3000)))"
for i in 1 2; do
  sup=$(supervisor)
  [ -n "$sup" ] || fail "round 3: no per-database worker"
  q -c "SELECT pg_terminate_backend($sup)" >/dev/null
  wait_for "round 3: a new per-database worker" 30 \
    "SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'kafka_fdw worker' AND datname = current_database() AND pid <> $sup"
  wait_for "round 3: the new per-database worker starts copies of the ingest workers" 30 \
    "SELECT count(*) >= 2 * $SHARES FROM pg_stat_activity WHERE $(workers_sql)"
  echo "round 3: per-database worker $sup terminated; its successor runs; ingest processes: $(ingest_procs); rows: $(rows)"
done
sleep 2.5   # copies whose supervisor is gone notice it within a second
procs=$(ingest_procs)
echo "round 3: ingest processes after two supervisor restarts: $procs"
[ "${procs%% *}" -le $((2 * SHARES)) ] || fail "round 3: $procs ingest processes for $SHARES shares: copies pile up at each supervisor restart"
wait_producers
wait_for "round 3: phase 3 lands" 90 "$(both_have $END3)"
echo "round 3: rows once phase 3 landed: $(rows)"

# --- 4: immediate shutdown while a batch is written, then start -------------------------------
produce_phase 4
wait_for "round 4: phase 4 arrives" 60 "$(both_have $((END3 + 10000)))"
immediate_restart "round 4" 30
echo "round 4: rows after the restart: $(rows)"
wait_producers
wait_for "round 4: every message lands" 90 "$(both_have $N)"
sleep 1   # anything written twice would come now

echo "high watermarks: $(high_watermarks ing_faults_k | tr '\n' ' ')"
total=$(q -c "SELECT sum(high) FROM kafka_watermarks('ing_faults_k')")
[ "$total" -eq "$N" ] || fail "Kafka holds $total messages, $N were produced (the producer, not the jobs)"
report ing_faults_p1 "$N" "$psum"
report ing_faults_p2 "$N" "$psum"
check_offsets "$job1" ing_faults_k
check_offsets "$job2" ing_faults_k
q -F ' ' -c "SELECT job_id, state, messages, rows_written, coalesce(last_error, '-') FROM kafka.ingest_job WHERE job_id IN ($JOBS) ORDER BY 1" \
  | while read -r j s m r e; do
      echo "job $j: state=$s messages=$m rows_written=$r last_error=$e"
      [ "$m" -eq "$N" ] && [ "$r" -eq "$N" ] || fail "job $j counted $m messages and $r rows, not $N"
    done
psql -c "SELECT kafka.stop_ingest($job1), kafka.stop_ingest($job2)" >/dev/null
echo "ok"
