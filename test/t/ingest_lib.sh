# Helpers shared by the ingest fault tests (sourced, not run: not executable).
# Every wait is bounded: it polls until a deadline, then fails with what it last saw.
# A test sets JOBS to its jobs' ids (comma-separated): the helpers look at those jobs' workers
# only (the database is shared with the other tests), and ingest_cleanup stops those jobs.
# Faults "while a batch is written" find a worker sleeping in a trigger of the target table
# (slow_trigger: pg_sleep for some rows), so that the batch is certainly open, with rows
# written, when the fault hits, however loaded the machine is.
# shellcheck source=test/t/lib.sh
source "$REPO/test/t/lib.sh"
q() { psql -At "$@"; }
# shellcheck disable=SC1090
source "$PG_ENV"   # PG_DATA, PG_LOG of the suite's cluster
# the server's extra environment (scripts/asan.sh: LD_PRELOAD of libasan), as scripts/pg.sh starts it
read -r -a pg_env_extra <<< "${PG_ENV_EXTRA:-}"
# the test cluster runs with synchronous_commit = off: this test's own sessions commit durably (the
# ingest workers keep the cluster's setting: a commit lost in a crash takes its offsets along)
export PGOPTIONS="-c synchronous_commit=on"
JOBS=""
producers=()

# ingest_cleanup: on exit: stop the producers and the test's jobs (a failed test must not leave
# workers behind for the next tests)
ingest_cleanup() {
  local p
  for p in "${producers[@]+"${producers[@]}"}"; do kill "$p" 2>/dev/null || true; done
  if [ -n "$JOBS" ]; then
    q -c "SELECT kafka.stop_ingest(job_id) FROM kafka.ingest_job WHERE job_id IN ($JOBS)" >/dev/null 2>&1 || true
  fi
}

fail() {
  echo "FAIL: $*"
  echo "--- ingest status ---"
  q -F ' ' -c "SELECT job_id, partition, committed_offset, high_watermark, state, last_error FROM kafka.ingest_status
               WHERE job_id IN (${JOBS:-0}) ORDER BY 1, 2" 2>&1 || true
  echo "--- server log (tail) ---"
  tail -30 "${PG_LOG:-/dev/null}" || true
  exit 1
}

# slow_trigger TABLE CONDITION SECONDS: a BEFORE INSERT OR UPDATE row trigger on TABLE that sleeps
# SECONDS for the rows where CONDITION (on NEW) holds
slow_trigger() {
  psql <<SQL
CREATE FUNCTION $1_slow() RETURNS trigger LANGUAGE plpgsql AS \$\$
BEGIN
  IF $2 THEN PERFORM pg_sleep($3); END IF;
  RETURN NEW;
END \$\$;
CREATE TRIGGER slow BEFORE INSERT OR UPDATE ON $1 FOR EACH ROW EXECUTE FUNCTION $1_slow();
SQL
}

# wait_ready: the server accepts queries again (after a crash restart or a start)
wait_ready() {
  local i
  for i in $(seq 1 240); do
    if "$PG_BIN/pg_isready" -q && q -c "SELECT 1" >/dev/null 2>&1; then return 0; fi
    sleep 0.25
  done
  fail "PostgreSQL did not come back within 60 s"
}

# wait_for WHAT SECONDS SQL: poll until SQL prints t; fails at once when one of JOBS failed
wait_for() {
  local what=$1 secs=$2 sql=$3 got="" failed="" i
  for i in $(seq 1 $((secs * 5))); do
    got=$(q -c "$sql" 2>/dev/null || true)
    [ "$got" = t ] && return 0
    if [ -n "$JOBS" ]; then
      failed=$(q -c "SELECT string_agg(job_id || ': ' || last_error, '; ') FROM kafka.ingest_job
                     WHERE job_id IN ($JOBS) AND state = 'failed'" 2>/dev/null || true)
      [ -z "$failed" ] || fail "$what: a job failed: $failed"
    fi
    sleep 0.2
  done
  fail "$what: not true after ${secs} s: $sql"
}

# the ingest workers of JOBS (application_name "kafka_fdw ingest JOB/K")
workers_sql() {
  echo "backend_type = 'kafka_fdw ingest' AND application_name ~ ('^kafka_fdw ingest (' || replace('$JOBS', ',', '|') || ')/')"
}

# ingest_pids [SLEEPING]: pids of the ingest workers of JOBS (SLEEPING=1: only those in the middle
# of a batch, sleeping in a slow_trigger)
ingest_pids() {
  local cond="true"
  [ "${1:-0}" = 1 ] && cond="state = 'active' AND wait_event = 'PgSleep' AND backend_xid IS NOT NULL"
  q -c "SELECT pid FROM pg_stat_activity WHERE $(workers_sql) AND $cond"
}

# find_batch WHAT SECONDS: wait until an ingest worker is in the middle of a batch; sets
# batch_pids to all the workers' pids, those in a batch first
batch_pids=""
find_batch() {
  local what=$1 secs=$2 pids="" i
  for i in $(seq 1 $((secs * 50))); do
    pids=$(ingest_pids 1 2>/dev/null || true)
    [ -n "$pids" ] && break
    sleep 0.02
  done
  [ -n "$pids" ] || fail "$what: no ingest worker was in the middle of a batch within ${secs} s"
  batch_pids=$(printf '%s\n%s\n' "$pids" "$(ingest_pids 2>/dev/null || true)" | awk 'NF && !seen[$0]++' | paste -sd' ')
}

# kill_ingest_mid_batch WHAT SECONDS: SIGKILL the ingest workers while one is in the middle of a
# batch; the postmaster then restarts every backend
kill_ingest_mid_batch() {
  find_batch "$1" "$2"
  # shellcheck disable=SC2086
  kill -KILL $batch_pids 2>/dev/null || true
  echo "$1: SIGKILLed ingest workers $batch_pids (the first one in the middle of a batch)"
  sleep 0.5
  wait_ready
}

# terminate_ingest_mid_batch WHAT SECONDS: pg_terminate_backend (SIGTERM) of the ingest workers
# while one is in the middle of a batch; no crash: the per-database worker starts them again
terminate_ingest_mid_batch() {
  find_batch "$1" "$2"
  q -c "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM unnest('{${batch_pids// /,}}'::int[]) pid" >/dev/null
  echo "$1: terminated ingest workers $batch_pids (the first one in the middle of a batch)"
}

# immediate_restart WHAT SECONDS: pg_ctl stop -m immediate while an ingest worker is in the middle
# of a batch, then start again
immediate_restart() {
  find_batch "$1" "$2"
  as_pg "$PG_BIN/pg_ctl" stop -D "$PG_DATA" -m immediate -w >/dev/null
  echo "$1: postmaster stopped (-m immediate) while worker ${batch_pids%% *} was in the middle of a batch"
  as_pg env "${pg_env_extra[@]+"${pg_env_extra[@]}"}" "$PG_BIN/pg_ctl" start -D "$PG_DATA" -l "$PG_LOG" -w -t 60 >/dev/null \
    || fail "$1: the server did not start again"
  wait_ready
}

# produce TOPIC PARTITION FILE CHUNK PAUSE: produce FILE's lines (key TAB value; an empty value is a
# tombstone) to one partition, CHUNK lines per kcat run, PAUSE seconds between runs; idempotent, so
# that a broker that stalls cannot make the producer write a message twice
produce() {
  local topic=$1 part=$2 file=$3 chunk=$4 pause=$5 dir f
  dir=$(mktemp -d "$TEST_TMP/chunks.XXXXXX")
  split -l "$chunk" -d -a 4 "$file" "$dir/c."
  for f in "$dir"/c.*; do
    kcat -P -b "$KAFKA_BROKERS" -t "$topic" -p "$part" -K $'\t' -Z \
         -X enable.idempotence=true -X message.timeout.ms=120000 < "$f" 2>>"$TEST_TMP/kcat.err" \
      || { echo "kcat failed on $f" >> "$TEST_TMP/kcat.err"; return 1; }
    sleep "$pause"
  done
}

# wait_producers: wait for the background producers (pids in the array producers)
wait_producers() {
  local p
  for p in "${producers[@]+"${producers[@]}"}"; do
    wait "$p" || fail "a producer failed: $(tail -3 "$TEST_TMP/kcat.err")"
  done
  producers=()
}

# compare_upsert TABLE EXPECT: "rows missing extra differ" of TABLE (id, ver, val) against EXPECT,
# the last change of each key: its rows, keys missing, keys that should be deleted, stale versions
compare_upsert() {
  q -F ' ' -c "SELECT (SELECT count(*) FROM $1),
    (SELECT count(*) FROM $2 e WHERE NOT EXISTS (SELECT 1 FROM $1 t WHERE t.id = e.id)),
    (SELECT count(*) FROM $1 t WHERE NOT EXISTS (SELECT 1 FROM $2 e WHERE e.id = t.id)),
    (SELECT count(*) FROM $1 t JOIN $2 e USING (id) WHERE (t.ver, t.val) IS DISTINCT FROM (e.ver, e.val))"
}

# high_watermarks FOREIGN_TABLE: "partition high" lines
high_watermarks() { q -F ' ' -c "SELECT partition, high FROM kafka_watermarks('$1') ORDER BY 1"; }

# check_offsets JOB FOREIGN_TABLE: every partition's next offset is its high watermark
check_offsets() {
  local job=$1 ft=$2 bad
  bad=$(q -F ' ' -c "SELECT w.partition, w.high, o.next_offset FROM kafka_watermarks('$ft') w
                     LEFT JOIN kafka.ingest_offset o ON o.job_id = $job AND o.partition = w.partition
                     WHERE o.next_offset IS DISTINCT FROM w.high")
  echo "job $job offsets: $(q -F ':' -c "SELECT partition, next_offset FROM kafka.ingest_offset WHERE job_id = $job ORDER BY 1" | tr '\n' ' ')"
  [ -z "$bad" ] || fail "job $job: next_offset differs from the high watermark (partition high next_offset): $bad"
}

# report TABLE PRODUCED PRODUCED_SUM: count ids 1..PRODUCED in TABLE (columns id, v, part, offs);
# print and check produced, ingested, lost and duplicated counts, the sum of v, and that no Kafka
# message (partition, offset) was written twice
report() {
  local t=$1 produced=$2 psum=$3 rows distinct sum stray twice lost dup
  read -r rows distinct sum stray twice < <(q -F ' ' -c "SELECT count(*), count(DISTINCT id), coalesce(sum(v), 0),
      count(*) FILTER (WHERE id NOT BETWEEN 1 AND $produced), count(*) - count(DISTINCT (part, offs)) FROM $t")
  lost=$((produced - distinct))
  dup=$((rows - distinct))
  echo "$t: produced=$produced ingested=$rows lost=$lost duplicated=$dup sum=$sum (produced sum $psum)"
  [ "$stray" -eq 0 ] || fail "$t: $stray rows with ids never produced"
  [ "$lost" -eq 0 ] || fail "$t: $lost messages lost"
  [ "$dup" -eq 0 ] || fail "$t: $dup duplicates"
  [ "$twice" -eq 0 ] || fail "$t: $twice Kafka messages (partition, offset) written twice"
  [ "$sum" = "$psum" ] || fail "$t: sum $sum, produced $psum"
}
