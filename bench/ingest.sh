#!/usr/bin/env bash
# Benchmark (not a test: it prints, it never fails on a missed goal): ingest jobs and pipelines
# (kafka.ingest, kafka.pipeline) against kcat -C of the same topic, measured in the same run.
#
#   append    MESSAGES (1M) JSON page views (bench/read.sh's generator, PARTITIONS partitions)
#             consumed into a table (6 columns, no index) by kafka.ingest(..., parallelism => P)
#             for each P in PARALLELISM ("1 2"): wall time from the call of kafka.ingest() to
#             the moment kafka.ingest_job.messages (committed with the rows) reaches MESSAGES,
#             nothing subtracted (worker start-up, connection, metadata, the consumer's start
#             are in it, as kcat's process start and metadata are in kcat's time).
#             Goal: rate >= 0.5x kcat's.
#   upsert    MESSAGES changes of KEYS (100k) keys (10 versions each by default; a key's versions
#             in one partition, in order) into a table with a primary key, mode => 'upsert',
#             for each P in PARALLELISM; the table must end with KEYS rows, all at the last
#             version. Goal: rate >= 0.25x kcat's (of that topic). Beside it, in the same
#             round, pg_upsert_P: PostgreSQL alone applying the same changes from a local table
#             (INSERT ... ON CONFLICT DO UPDATE, batches of kafka_fdw.ingest_upsert_batch_size, one
#             transaction each; no Kafka, no decoding) in P sessions at once (each a share of the
#             keys), for each P in PARALLELISM: what the target table itself allows.
#   pipeline  kafka.pipeline over the page views topic: a join with a MEMBERS-row (100k) members
#             table (primary key), the matches inserted into a table; the same wall time until
#             the pipeline's messages reach MESSAGES; the matches must equal the ad-hoc join's.
#   lag       an ingest job (parallelism LAG_PARALLELISM, 1) runs while pgbench INSERTs RATE
#             (1000) messages/s for LAG_SECONDS (30) into the source foreign table, each carrying
#             clock_timestamp() (produced); the target's `landed timestamptz DEFAULT
#             clock_timestamp()`: p50/p95/p99/max of landed - produced. Goal: p99 <= 200 ms.
#
# Each round (REPEAT, 3) times, in this order: kcat and kcat_best of the views topic, append
# for each P (and append_nostall, see NOSTALL), kcat and kcat_best of the upsert topic, upsert
# for each P, the pipeline; medians over the rounds. kcat is `kcat -C -e -q -o beginning -f '%s\n'` (value only), kcat_best the
# same with -X fetch.wait.max.ms=10 -X queued.min.messages=10000000 (bench/read.sh): the
# stricter baseline. Rates are messages/s; a ratio is job rate / kcat rate (= kcat ms / job ms).
#
# The wait for a job runs in one psql session: clock_timestamp() before kafka.ingest(), then a
# plpgsql loop (a procedure, a transaction per poll) polling kafka.ingest_job every POLL_MS (5) ms, which also samples the job's
# workers in pg_stat_activity (state, activity, wait event: where their wall time goes; printed
# per run) and notes when the first batch committed. After each run: the workers' CPU time
# (utime + stime from /proc), the target checked (counts, sums, versions), the job stopped and its
# workers gone before the next run; CHECKPOINT before each timed run.
#
# Starts its own broker and cluster (scripts/kafka.sh, scripts/pg.sh; kafka_fdw preloaded) and
# stops them on exit (KEEP=1 leaves them running). Builds and installs with $PG_BIN/pg_config
# unless SKIP_BUILD=1 (use a private PostgreSQL copy if others share the machine's).
#
# Environment: PARTS ("append upsert pipeline lag"), MESSAGES (1000000), REPEAT (3),
#   PARTITIONS (4), PARALLELISM ("1 2"), KEYS (100000), MEMBERS (100000), RATE (1000),
#   LAG_SECONDS (30), LAG_CLIENTS (16), LAG_PARALLELISM (1), POLL_MS (5), TIMEOUT_S (900, per run),
#   NOSTALL (1: also append_nostall, the append job with parallelism 1 over a source table with
#   "queued.min.messages" NOSTALL_QUEUE (10000000): without librdkafka 2.0.x's refill stall; 0: not),
#   SOURCE_OPTIONS (extra options of the source foreign tables, e.g. `"queued.min.messages" '1000000'`),
#   PG_EXTRA_CONF (postgresql.conf lines, e.g. `kafka_fdw.ingest_batch_size = 50000`),
#   BENCH_KAFKA_PORT (29492), BENCH_PGPORT (56032), PG_BIN, KAFKA_VERSION, SKIP_BUILD, KEEP,
#   BENCH_PROFILE=1 or a list of kinds ("append upsert pipeline"; 1 = append): after the rounds,
#   perf record -g of the worker of one more run of each, parallelism 1 (.tmp/ibench/perf-KIND.txt).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
REPO=$(dirname "$here")
# shellcheck source=bench/lib.sh
source "$here/lib.sh"
cd "$REPO"

PARTS=${PARTS:-"append upsert pipeline lag"}
MESSAGES=${MESSAGES:-1000000}
REPEAT=${REPEAT:-3}
PARTITIONS=${PARTITIONS:-4}
PARALLELISM=${PARALLELISM:-"1 2"}
KEYS=${KEYS:-100000}
# storage parameters of the upsert target, e.g. UPSERT_TABLE_WITH="WITH (fillfactor = 70)" (default: none)
UPSERT_TABLE_WITH=${UPSERT_TABLE_WITH:-}
MEMBERS=${MEMBERS:-100000}
RATE=${RATE:-1000}
LAG_SECONDS=${LAG_SECONDS:-30}
LAG_CLIENTS=${LAG_CLIENTS:-16}
LAG_PARALLELISM=${LAG_PARALLELISM:-1}
POLL_MS=${POLL_MS:-5}
TIMEOUT_S=${TIMEOUT_S:-900}
SOURCE_OPTIONS=${SOURCE_OPTIONS:-}
NOSTALL=${NOSTALL:-1}
NOSTALL_QUEUE=${NOSTALL_QUEUE:-10000000}
export KAFKA_PORT=${BENCH_KAFKA_PORT:-29492}
export KAFKA_CONTROLLER_PORT=$((KAFKA_PORT + 1)) KAFKA_HOME=$REPO/.tmp/kafka-ibench KAFKA_SECURE=0
export PGPORT=${BENCH_PGPORT:-56032} PG_HOME=$REPO/.tmp/pg-ibench PG_PRELOAD=kafka_fdw
export PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
export PG_CONFIG=$PG_BIN/pg_config
export PGOPTIONS="-c client_min_messages=warning"
BROKERS=127.0.0.1:$KAFKA_PORT
work=$REPO/.tmp/ibench
mkdir -p "$work"
[ -n "$SOURCE_OPTIONS" ] && SOURCE_OPTIONS=", $SOURCE_OPTIONS"

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  set +e
  if [ "${KEEP:-}" = 1 ]; then
    echo "bench: KEEP=1: Kafka on $BROKERS, PostgreSQL: source $PG_HOME/env && $PG_BIN/psql"
  else
    "$REPO/scripts/pg.sh" stop >/dev/null 2>&1
    "$REPO/scripts/kafka.sh" stop >/dev/null 2>&1
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- build, install, services --------------------------------------------------------------
if [ "${SKIP_BUILD:-}" != 1 ]; then
  log "build and install into $("$PG_CONFIG" --pkglibdir)"
  make -j"$(nproc)" PG_CONFIG="$PG_CONFIG" >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
  make install PG_CONFIG="$PG_CONFIG" >>"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
fi
"$REPO/scripts/pg.sh" stop >/dev/null
"$REPO/scripts/kafka.sh" stop >/dev/null
if kcat -b "$BROKERS" -L -m 2 >/dev/null 2>&1; then
  echo "bench: a foreign Kafka already answers on $BROKERS; stop it first" >&2; exit 1
fi
"$REPO/scripts/kafka.sh" start >&2
"$REPO/scripts/pg.sh" start >&2
# shellcheck disable=SC1091
source "$PG_HOME/env"

q "CREATE EXTENSION kafka_fdw" >/dev/null
q "CREATE SERVER kafka FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers '$BROKERS')" >/dev/null

# a broker that has just started may still refuse to create topics for a moment; a topic that
# exists already (an attempt that timed out but went through) is fine
create_topic() {  # topic partitions
  local i out
  for i in $(seq 1 30); do
    if out=$(q "SELECT kafka_create_topic('kafka', '$1', $2)" 2>&1) || [[ $out == *"already exists"* ]]; then return 0; fi
    sleep 1
  done
  echo "bench: could not create topic $1: $out" >&2; exit 1
}
topic_size() { q "SELECT sum(high - low) FROM kafka_watermarks('$1')"; }   # of a foreign table's topic

# Wait for job $1 to have committed $2 messages, in the session that started it ($3: the
# clock_timestamp() taken before kafka.ingest()/kafka.pipeline()). Polls kafka.ingest_job every
# POLL_MS ms, a transaction each, and samples the job's workers (pg_stat_activity).
# Returns: ms to the first committed batch, ms to the last, the samples "label:count ...".
q "CREATE PROCEDURE bench_wait(INOUT job int, n bigint, t0 timestamptz, poll_ms int, timeout_s int,
     INOUT first_ms numeric DEFAULT NULL, INOUT done_ms numeric DEFAULT NULL, INOUT samples text DEFAULT NULL)
   LANGUAGE plpgsql AS \$\$
DECLARE
  m bigint; st text; err text; first_at timestamptz; s text[] := '{}';
BEGIN
  LOOP
    -- a transaction per poll: a statement that ran for the whole job would hold back the xmin
    -- horizon, so that no version the job's updates left behind could be pruned or its index
    -- entry removed while it runs (the job then pays for the bloat; PostgreSQL alone, timed
    -- without this session, would not)
    COMMIT;
    SELECT j.messages, j.state, j.last_error INTO m, st, err FROM kafka.ingest_job j WHERE j.job_id = job;
    IF m > 0 AND first_at IS NULL THEN first_at := clock_timestamp(); END IF;
    IF m >= n THEN
      first_ms := round(extract(epoch FROM first_at - t0) * 1000, 1);
      done_ms := round(extract(epoch FROM clock_timestamp() - t0) * 1000, 1);
      SELECT string_agg(w || ':' || c, ' ' ORDER BY c DESC, w) INTO samples
        FROM (SELECT w, count(*) AS c FROM unnest(s) w GROUP BY w) x;
      RETURN;
    END IF;
    IF st IS DISTINCT FROM 'running' THEN RAISE EXCEPTION 'job % is %: %', job, st, err; END IF;
    IF clock_timestamp() - t0 > make_interval(secs => timeout_s) THEN
      RAISE EXCEPTION 'job % committed % of % messages in % s (last error: %)', job, m, n, timeout_s, err;
    END IF;
    PERFORM pg_stat_clear_snapshot();
    s := s || ARRAY(SELECT CASE WHEN a.state = 'active' THEN replace(a.query, ' ', '_') ELSE a.state END || '/'
                           || coalesce(a.wait_event_type || '.' || a.wait_event, 'CPU')
                      FROM pg_stat_activity a
                     WHERE a.backend_type = 'kafka_fdw ingest'
                       AND a.application_name LIKE 'kafka_fdw ingest ' || job || '/%');
    PERFORM pg_sleep(poll_ms / 1000.0);
  END LOOP;
END \$\$" >/dev/null

# CPU seconds (utime + stime) of job $1's workers so far
job_cpu() {
  local pids p total=0 f
  pids=$(q "SELECT pid FROM pg_stat_activity WHERE backend_type = 'kafka_fdw ingest' AND application_name LIKE 'kafka_fdw ingest $1/%'")
  for p in $pids; do
    f=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null) || continue
    total=$(( total + $(awk '{ print $12 + $13 }' <<<"$f") ))
  done
  awk -v t="$total" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", t / hz }'
}

# peak resident memory (VmHWM, MB) of job $1's workers, summed
job_rss() {
  local pids p total=0 kb
  pids=$(q "SELECT pid FROM pg_stat_activity WHERE backend_type = 'kafka_fdw ingest' AND application_name LIKE 'kafka_fdw ingest $1/%'")
  for p in $pids; do
    kb=$(awk '/^VmHWM:/ { print $2 }' "/proc/$p/status" 2>/dev/null) || continue
    total=$(( total + ${kb:-0} ))
  done
  echo $(( total / 1024 ))
}

# stop job $1 and wait until its workers are gone
stop_job() {
  local i
  q "SELECT kafka.stop_ingest($1)" >/dev/null
  for i in $(seq 1 300); do
    [ "$(q "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'kafka_fdw ingest' AND application_name LIKE 'kafka_fdw ingest $1/%'")" = 0 ] && return 0
    sleep 0.05
  done
  log "WARNING: the workers of job $1 did not leave within 15 s"
}

# Run one job: $1 = the SQL call that starts it (kafka.ingest(...) or kafka.pipeline(...)), $2 =
# the messages it must commit. Sets JOB, FIRST_MS, DONE_MS, SAMPLES, CPU_S, RSS_MB (job left running).
run_job() {
  local out
  q "CHECKPOINT" >/dev/null
  out=$(psql -At -F '|' <<SQL
SELECT clock_timestamp() AS t0 \gset
SELECT $1 AS job \gset
CALL bench_wait(:job, $2, :'t0', $POLL_MS, $TIMEOUT_S);
SQL
)
  IFS='|' read -r JOB FIRST_MS DONE_MS SAMPLES <<<"$out"
  CPU_S=$(job_cpu "$JOB")
  RSS_MB=$(job_rss "$JOB")
}

# the workers' samples as shares: "idle/Extension.Extension 55% ingesting/CPU 30% ..."
shares() {
  awk '{ n = 0; for (i = 1; i <= NF; i++) { split($i, a, ":"); n += a[2] }
         for (i = 1; i <= NF && i <= 6; i++) { split($i, a, ":"); printf "%s %.0f%%  ", a[1], 100 * a[2] / n } }' <<<"$1"
}

# met BASELINE_MS JOB_MS GOAL: whether the rate ratio (BASELINE_MS / JOB_MS) reaches GOAL, unrounded
# (0.245 is printed as 0.25 but misses 0.25)
met() { awk -v a="$1" -v b="$2" -v g="$3" 'BEGIN { print (a / b >= g ? "met" : "missed") }'; }

# kcat -C of topic $1 ($2: extra options): wall ms
time_kcat() {
  local t0 t1 lines topic=$1; shift
  t0=$(date +%s%N)
  lines=$(kcat -C -b "$BROKERS" -t "$topic" -e -q -o beginning -f '%s\n' "$@" | wc -l)
  t1=$(date +%s%N)
  [ "$lines" -eq "$MESSAGES" ] || log "WARNING: kcat read $lines messages of $topic, expected $MESSAGES"
  echo $(( (t1 - t0) / 1000000 ))
}
KCAT_BEST=(-X fetch.wait.max.ms=10 -X queued.min.messages=10000000)

# produce files $work/$1.<p>.json into partition p of topic $1 (foreign table $1_k) with kcat (as bench/read.sh)
produce() {
  local topic=$1 p t0 have
  t0=$(now_ms)
  for p in $(seq 0 $((PARTITIONS - 1))); do
    kcat -b "$BROKERS" -P -t "$topic" -p "$p" -X linger.ms=50 -X batch.num.messages=10000 -l "$work/$topic.$p.json" &
  done
  wait
  have=$(topic_size "${topic}_k")
  log "produced $have messages into $topic in $(( $(now_ms) - t0 )) ms"
  [ "$have" -eq "$MESSAGES" ] || { echo "bench: topic $topic holds $have messages, expected $MESSAGES" >&2; exit 1; }
  rm -f "$work/$topic".[0-9]*.json
}

want() { [[ " $PARTS " == *" $1 "* ]]; }
summary=()
declare -A ms

# ---- data --------------------------------------------------------------------------------------
if want append || want pipeline; then
  # bench/read.sh's page views, ~135 B; partition p gets the p-th slice
  create_topic bench_views "$PARTITIONS"
  log "generating $MESSAGES page views"
  awk -v n="$MESSAGES" -v parts="$PARTITIONS" -v dir="$work" 'BEGIN {
    srand(42)
    split("propertyView search booking gallery review", vt, " ")
    split("promotion direct email partner social", og, " ")
    per = int((n + parts - 1) / parts)
    for (i = 1; i <= n; i++)
      printf "{\"session_id\":\"%08x%sgu%03d-%06d\",\"property_id\":%d,\"loyalty_id\":%d,\"view_type\":\"%s\",\"origin\":\"%s\",\"ts\":%d}\n",
        int(rand() * 4294967295), "3", int(rand() * 1000), i % 1000000, 1 + int(rand() * 9999),
        1000000 + int(rand() * 9000000), vt[1 + int(rand() * 5)], og[1 + int(rand() * 5)], 1413215458 + i \
        > (dir "/bench_views." int((i - 1) / per) ".json")
  }'
  views_bytes=$(cat "$work"/bench_views.[0-9]*.json | wc -c)
  q "CREATE FOREIGN TABLE bench_views_k (session_id text, property_id int, loyalty_id bigint, view_type text,
       origin text, ts bigint) SERVER kafka OPTIONS (topic 'bench_views', format 'json'$SOURCE_OPTIONS)" >/dev/null
  # the same without librdkafka 2.0.x's refill stall (see bench/README.md)
  q "CREATE FOREIGN TABLE bench_views_nostall_k (session_id text, property_id int, loyalty_id bigint, view_type text,
       origin text, ts bigint) SERVER kafka OPTIONS (topic 'bench_views', format 'json', \"queued.min.messages\" '$NOSTALL_QUEUE')" >/dev/null
  produce bench_views
fi
if want upsert; then
  # MESSAGES changes of KEYS keys: change i is version i / KEYS of key i % KEYS + 1, in
  # partition key % PARTITIONS (a key's versions in order, in one partition), ~125 B
  create_topic bench_changes "$PARTITIONS"
  log "generating $MESSAGES changes of $KEYS keys"
  awk -v n="$MESSAGES" -v keys="$KEYS" -v parts="$PARTITIONS" -v dir="$work" 'BEGIN {
    srand(43)
    split("bronze silver gold platinum", lv, " ")
    for (i = 0; i < n; i++) {
      k = i % keys + 1
      printf "{\"member_id\":%d,\"version\":%d,\"level\":\"%s\",\"points\":%d,\"email\":\"member%07d@example.com\",\"updated_at\":%d}\n",
        k, int(i / keys), lv[1 + int(rand() * 4)], int(rand() * 100000), k, 1413215458 + i > (dir "/bench_changes." (k % parts) ".json")
    }
  }'
  changes_bytes=$(cat "$work"/bench_changes.[0-9]*.json | wc -c)
  q "CREATE FOREIGN TABLE bench_changes_k (member_id bigint, version int, level text, points int, email text,
       updated_at bigint) SERVER kafka OPTIONS (topic 'bench_changes', format 'json'$SOURCE_OPTIONS)" >/dev/null
  # the same changes in a local table, in the files' order (a key's versions in order), for
  # pg_upsert: what PostgreSQL itself does with them, no Kafka and no decoding
  q "CREATE TABLE bench_changes_json (i bigserial PRIMARY KEY, j jsonb)" >/dev/null
  cat "$work"/bench_changes.[0-9]*.json | psql -q -c "\copy bench_changes_json (j) FROM STDIN" >/dev/null
  produce bench_changes
  last_version=$(( (MESSAGES - 1) / KEYS ))
  q "CREATE TABLE bench_changes_rows AS SELECT i, (j->>'member_id')::bigint AS member_id, (j->>'version')::int AS version,
       j->>'level' AS level, (j->>'points')::int AS points, j->>'email' AS email, (j->>'updated_at')::bigint AS updated_at
       FROM bench_changes_json; CREATE INDEX ON bench_changes_rows (i); DROP TABLE bench_changes_json" >/dev/null
  q "VACUUM ANALYZE bench_changes_rows" >/dev/null
fi
if want pipeline; then
  # members: MEMBERS ids spread over the views' loyalty_id range (1,000,000..9,999,999)
  q "CREATE TABLE bench_members (loyalty_id bigint PRIMARY KEY, level text NOT NULL, email text NOT NULL);
     INSERT INTO bench_members SELECT 1000000 + g * (9000000 / $MEMBERS),
       (ARRAY['bronze', 'silver', 'gold', 'platinum'])[1 + g % 4], 'member' || g || '@example.com'
       FROM generate_series(0, $MEMBERS - 1) g" >/dev/null
  q "VACUUM ANALYZE bench_members" >/dev/null
  PIPE_SQL="INSERT INTO bench_matches SELECT v.session_id, v.loyalty_id, v.property_id, m.level, m.email, v.ts
    FROM bench_views_k v JOIN bench_members m USING (loyalty_id)"
  log "the ad-hoc join of the views with $MEMBERS members (the pipeline's expected output)"
  expected_matches=$(q "SELECT count(*) || '|' || coalesce(sum(v.ts), 0) FROM bench_views_k v JOIN bench_members m USING (loyalty_id)")
fi

make_views_target() {
  q "DROP TABLE IF EXISTS bench_views_t; CREATE TABLE bench_views_t (session_id text, property_id int,
       loyalty_id bigint, view_type text, origin text, ts bigint)" >/dev/null
}
make_changes_target() {
  q "DROP TABLE IF EXISTS bench_changes_t; CREATE TABLE bench_changes_t (member_id bigint PRIMARY KEY,
       version int NOT NULL, level text, points int, email text, updated_at bigint) $UPSERT_TABLE_WITH" >/dev/null
}
make_matches_target() {
  q "DROP TABLE IF EXISTS bench_matches; CREATE TABLE bench_matches (session_id text, loyalty_id bigint,
       property_id int, level text, email text, ts bigint)" >/dev/null
}
# the expected sum of ts over all page views (each message exactly once)
views_ts_sum=$(awk -v n="$MESSAGES" 'BEGIN { printf "%.0f", n * 1413215458 + n * (n + 1) / 2 }')

check_append() {
  local got
  got=$(q "SELECT count(*) || '|' || coalesce(sum(ts), 0) FROM bench_views_t")
  [ "$got" = "$MESSAGES|$views_ts_sum" ] || log "WRONG RESULT: append target holds count|sum(ts) $got, expected $MESSAGES|$views_ts_sum"
}
check_upsert() {
  local got
  got=$(q "SELECT count(*) || '|' || min(version) || '|' || max(version) FROM bench_changes_t")
  [ "$got" = "$KEYS|$last_version|$last_version" ] || log "WRONG RESULT: upsert target holds count|min|max(version) $got, expected $KEYS|$last_version|$last_version"
}
check_pipeline() {
  local got
  got=$(q "SELECT count(*) || '|' || coalesce(sum(ts), 0) FROM bench_matches")
  [ "$got" = "$expected_matches" ] || log "WRONG RESULT: the pipeline wrote count|sum(ts) $got, the ad-hoc join gives $expected_matches"
}

report_run() {  # label
  log "$1: $DONE_MS ms ($(rate "$MESSAGES" "$DONE_MS") msg/s), first batch committed at $FIRST_MS ms, workers' CPU $CPU_S s, peak RSS $RSS_MB MB"
  log "   workers sampled: $(shares "$SAMPLES")"
}

# ---- the rounds ----------------------------------------------------------------------------------
kinds=()
want append && kinds+=(kcat_views kcat_best_views $(for p in $PARALLELISM; do echo "append_$p"; done))
want append && [ "$NOSTALL" = 1 ] && kinds+=(append_nostall)
want upsert && kinds+=(kcat_changes kcat_best_changes $(for p in $PARALLELISM; do echo "pg_upsert_$p"; done) $(for p in $PARALLELISM; do echo "upsert_$p"; done))
want pipeline && { want append || kinds+=(kcat_views kcat_best_views); kinds+=(pipeline); }
declare -A runs cpu firsts
for k in "${kinds[@]}"; do runs[$k]=""; cpu[$k]=""; firsts[$k]=""; done
note() {  # kind ms [cpu first]
  runs[$1]+="$2 "
  [ -n "${3:-}" ] && cpu[$1]+="$3 " && firsts[$1]+="$4 "
  return 0
}
last() { awk '{ print $NF }' <<<"${runs[$1]}"; }

if [ ${#kinds[@]} -gt 0 ]; then
  log "timing $REPEAT rounds of: ${kinds[*]}"
  for r in $(seq 1 "$REPEAT"); do
    if want append || want pipeline; then
      note kcat_views "$(time_kcat bench_views)"
      note kcat_best_views "$(time_kcat bench_views "${KCAT_BEST[@]}")"
      log "round $r (views): kcat $(last kcat_views) ms, kcat_best $(last kcat_best_views) ms"
    fi
    if want append; then
      for p in $PARALLELISM; do
        make_views_target
        run_job "kafka.ingest('bench_views_k', 'bench_views_t', parallelism => $p)" "$MESSAGES"
        stop_job "$JOB"
        check_append
        note "append_$p" "$DONE_MS" "$CPU_S" "$FIRST_MS"
        report_run "round $r: append, parallelism $p"
      done
      if [ "$NOSTALL" = 1 ]; then
        make_views_target
        run_job "kafka.ingest('bench_views_nostall_k', 'bench_views_t')" "$MESSAGES"
        stop_job "$JOB"
        check_append
        note append_nostall "$DONE_MS" "$CPU_S" "$FIRST_MS"
        report_run "round $r: append, parallelism 1, source without the refill stall"
      fi
    fi
    if want upsert; then
      note kcat_changes "$(time_kcat bench_changes)"
      note kcat_best_changes "$(time_kcat bench_changes "${KCAT_BEST[@]}")"
      log "round $r (changes): kcat $(last kcat_changes) ms, kcat_best $(last kcat_best_changes) ms"
      # PostgreSQL alone: the same changes from a local table, INSERT ... ON CONFLICT DO UPDATE
      # in batches of the upsert batch size, one transaction each, the last change of a key in a
      # batch only (as the upsert job does): the best a set-based apply does; with P sessions at
      # once (each the keys with member_id % P = its number), as the job's P workers
      for p in $PARALLELISM; do
        make_changes_target
        q "CHECKPOINT" >/dev/null
        t0=$(now_ms)
        for j in $(seq 0 $((p - 1))); do
          q "DO \$\$ DECLARE b bigint; n bigint := current_setting('kafka_fdw.ingest_upsert_batch_size')::bigint * $p;
             BEGIN b := 1; WHILE b <= $MESSAGES LOOP
               INSERT INTO bench_changes_t SELECT DISTINCT ON (member_id) member_id, version, level, points, email, updated_at
                 FROM bench_changes_rows WHERE i >= b AND i < b + n AND member_id % $p = $j ORDER BY member_id, i DESC
               ON CONFLICT (member_id) DO UPDATE SET version = EXCLUDED.version, level = EXCLUDED.level,
                 points = EXCLUDED.points, email = EXCLUDED.email, updated_at = EXCLUDED.updated_at;
               COMMIT; b := b + n; END LOOP; END \$\$" >/dev/null &
        done
        wait
        note "pg_upsert_$p" "$(( $(now_ms) - t0 ))"
        check_upsert
        log "round $r (changes): pg_upsert with $p session(s) $(last "pg_upsert_$p") ms"
      done
      for p in $PARALLELISM; do
        make_changes_target
        run_job "kafka.ingest('bench_changes_k', 'bench_changes_t', mode => 'upsert', parallelism => $p)" "$MESSAGES"
        stop_job "$JOB"
        check_upsert
        note "upsert_$p" "$DONE_MS" "$CPU_S" "$FIRST_MS"
        report_run "round $r: upsert, parallelism $p"
      done
    fi
    if want pipeline; then
      make_matches_target
      run_job "kafka.pipeline('bench_matches_$r', 'bench_views_k', \$p\$ $PIPE_SQL \$p\$)" "$MESSAGES"
      stop_job "$JOB"
      check_pipeline
      note pipeline "$DONE_MS" "$CPU_S" "$FIRST_MS"
      report_run "round $r: pipeline"
    fi
  done

  # ---- report ----------------------------------------------------------------------------------
  for k in "${kinds[@]}"; do
    # shellcheck disable=SC2086
    ms[$k]=$(median ${runs[$k]})
  done
  echo
  echo "== kafka_fdw ingest benchmark: $MESSAGES messages, $PARTITIONS partitions, $(nproc) CPUs," \
       "REPEAT=$REPEAT, $("$PG_BIN/postgres" --version | awk '{print $3}'), Kafka ${KAFKA_VERSION:-3.9.1}," \
       "load average $(cut -d' ' -f1-3 /proc/loadavg)"
  want append || want pipeline && echo "   page views: avg value $(( views_bytes / MESSAGES - 1 )) B"
  want upsert && echo "   changes: avg value $(( changes_bytes / MESSAGES - 1 )) B, $KEYS keys, versions 0..$last_version"
  [ -n "$SOURCE_OPTIONS" ] && echo "   source table options$SOURCE_OPTIONS"
  [ -n "${PG_EXTRA_CONF:-}" ] && echo "   postgresql.conf: $PG_EXTRA_CONF"
  printf '%-18s %10s %16s %12s %9s %9s %9s  %s\n' what "median ms" "range ms" "msg/s" "/kcat" "/best" "CPU s" "first batch ms"
  for k in "${kinds[@]}"; do
    # shellcheck disable=SC2086
    rng=$(minmax ${runs[$k]})
    base=views; [[ $k == *changes* || $k == upsert_* || $k == pg_upsert_* ]] && base=changes
    vs="-" vsb="-" c="-" f="-"
    if [[ $k != kcat* ]]; then
      vs=$(ratio "${ms[kcat_$base]}" "${ms[$k]}")
      vsb=$(ratio "${ms[kcat_best_$base]}" "${ms[$k]}")
      # shellcheck disable=SC2086
      c=$(median ${cpu[$k]}); f=$(median ${firsts[$k]})
    fi
    printf '%-18s %10s %16s %12s %9s %9s %9s  %s\n' "$k" "${ms[$k]}" "$rng" "$(rate "$MESSAGES" "${ms[$k]}")" "$vs" "$vsb" "$c" "$f"
  done
  echo "(msg/s: MESSAGES / median wall time; /kcat, /best: that rate over kcat's, kcat_best's (on the same"
  echo " topic); CPU s: the job's workers' utime + stime; first batch: when its first batch had committed)"
  # one line per job kind: rate, ratios to kcat and kcat_best, the goal against both
  goal_line() {  # label, kind, baseline topic, goal
    local r rb
    r=$(ratio "${ms[kcat_$3]}" "${ms[$2]}") rb=$(ratio "${ms[kcat_best_$3]}" "${ms[$2]}")
    summary+=("$1: $(rate "$MESSAGES" "${ms[$2]}") msg/s = ${r}x kcat, ${rb}x kcat_best${4:+ (goal >= ${4}x: $(met "${ms[kcat_$3]}" "${ms[$2]}" "$4"), against kcat_best $(met "${ms[kcat_best_$3]}" "${ms[$2]}" "$4"))}")
  }
  if want append; then
    for p in $PARALLELISM; do goal_line "append, parallelism $p" "append_$p" views 0.5; done
    [ "$NOSTALL" = 1 ] && goal_line "append, parallelism 1, source with queued.min.messages $NOSTALL_QUEUE (no refill stall)" append_nostall views 0.5
  fi
  if want upsert; then
    for p in $PARALLELISM; do goal_line "upsert of $KEYS keys, parallelism $p" "upsert_$p" changes 0.25; done
    for p in $PARALLELISM; do
      goal_line "PostgreSQL alone, $p session(s): INSERT ... ON CONFLICT of the same changes from a local table, batches of the upsert batch size" "pg_upsert_$p" changes 0.25
      summary+=("upsert, parallelism $p / PostgreSQL alone with $p session(s): $(ratio "${ms[pg_upsert_$p]}" "${ms[upsert_$p]}")x its rate")
    done
  fi
  if want pipeline; then
    # the planner estimates the source at the whole topic's size, in the pipeline's batches too
    make_matches_target
    echo "== plan of the pipeline's statement (as planned in a session; each batch is planned the same way)"
    q "EXPLAIN $PIPE_SQL" | sed 's/^/   /'
    goal_line "pipeline (join with $MEMBERS members, ${expected_matches%%|*} matches inserted)" pipeline views ""
  fi
fi

# ---- profile -------------------------------------------------------------------------------------
# profile KIND SQL: one more run of the job SQL starts (parallelism 1), under perf record -g of its
# worker (attached as soon as it shows up); the report goes to $work/perf-KIND.txt
profile() {
  local kind=$1 sql=$2 qpid wpid ppid data=$work/perf-$1.data txt=$work/perf-$1.txt
  log "profiling the worker of one more $kind run (parallelism 1) with perf"
  q "CHECKPOINT" >/dev/null
  psql -At -F '|' > "$work/profile.out" <<SQL &
SELECT clock_timestamp() AS t0 \gset
SELECT $sql AS job \gset
CALL bench_wait(:job, $MESSAGES, :'t0', $POLL_MS, $TIMEOUT_S);
SQL
  qpid=$!
  wpid=""
  for _ in $(seq 1 400); do
    wpid=$(q "SELECT pid FROM pg_stat_activity WHERE backend_type = 'kafka_fdw ingest' LIMIT 1")
    [ -n "$wpid" ] && break; sleep 0.01
  done
  perf record -g -F 2999 -p "$wpid" -o "$data" >/dev/null 2>&1 &
  ppid=$!
  wait "$qpid"
  kill -INT "$ppid" 2>/dev/null || true; wait "$ppid" 2>/dev/null || true
  IFS='|' read -r JOB FIRST_MS DONE_MS SAMPLES < "$work/profile.out"
  stop_job "$JOB"
  {
    perf report -i "$data" --stdio 2>/dev/null | grep -m1 'of event' || true
    echo "== share of samples by thread"
    perf report -i "$data" --no-children --stdio -g none --sort comm 2>/dev/null | grep -v '^#' | grep -v '^$' | head -8 || true
    echo "== by object (kafka_fdw.so: decoding, the ingest loop; postgres: heap, index, WAL, executor; librdkafka, libc: messages)"
    perf report -i "$data" --no-children --stdio -g none --sort dso 2>/dev/null | grep -v '^#' | grep -v '^$' | head -8 || true
    echo "== top symbols (self)"
    perf report -i "$data" --no-children --stdio -g none --sort dso,symbol 2>/dev/null | grep -v '^#' | grep -v '^$' | head -40 || true
    echo "== call graph (callers; kafka_fdw.so has frame pointers, the server binary may not)"
    perf report -i "$data" --no-children --stdio -g caller,2 --sort dso,symbol 2>/dev/null | grep -v '^#' | grep -v '^$' | head -300 || true
  } > "$txt"
  echo
  echo "== perf of the $kind worker (the run under perf: $DONE_MS ms; full report $txt)"
  sed -n '/== top symbols/q; p' "$txt"
  sed -n '/== top symbols/,/== call graph/p' "$txt" | sed -n '1,26p'
}
profile_kinds=${BENCH_PROFILE:-}
[ "$profile_kinds" = 1 ] && profile_kinds=append
if [ -n "$profile_kinds" ]; then
  if ! perf stat -e task-clock true >/dev/null 2>&1; then
    log "perf does not work here; BENCH_PROFILE skipped"
  else
    for kind in $profile_kinds; do
      case $kind in
        append) want append && { make_views_target; profile append "kafka.ingest('bench_views_k', 'bench_views_t')"; } ;;
        upsert) want upsert && { make_changes_target; profile upsert "kafka.ingest('bench_changes_k', 'bench_changes_t', mode => 'upsert')"; } ;;
        pipeline) want pipeline && { make_matches_target; profile pipeline "kafka.pipeline('bench_matches_profile', 'bench_views_k', \$p\$ $PIPE_SQL \$p\$)"; } ;;
        *) log "BENCH_PROFILE: unknown kind $kind (append, upsert, pipeline)" ;;
      esac
    done
  fi
fi

# ---- lag -------------------------------------------------------------------------------------
if want lag; then
  echo
  echo "== lag: $RATE messages/s for $LAG_SECONDS s (pgbench, $LAG_CLIENTS clients, one INSERT per message)," \
       "ingest parallelism $LAG_PARALLELISM, $PARTITIONS partitions"
  create_topic bench_lag "$PARTITIONS"
  q "CREATE FOREIGN TABLE bench_lag_k (client int, produced timestamptz)
       SERVER kafka OPTIONS (topic 'bench_lag', format 'json'$SOURCE_OPTIONS);
     CREATE TABLE bench_lag_t (client int, produced timestamptz NOT NULL, landed timestamptz NOT NULL DEFAULT clock_timestamp())" >/dev/null
  lag_job=$(q "SELECT kafka.ingest('bench_lag_k', 'bench_lag_t', parallelism => $LAG_PARALLELISM)")
  # warm-up, not counted: the workers and the producers are up before the clock runs
  q "INSERT INTO bench_lag_k SELECT -1, clock_timestamp() FROM generate_series(1, $PARTITIONS * 4)" >/dev/null
  for _ in $(seq 1 600); do
    [ "$(q "SELECT count(*) FROM bench_lag_t")" -ge $((PARTITIONS * 4)) ] && break; sleep 0.05
  done
  q "SHOW kafka_fdw.ingest_batch_wait" | sed 's/^/   kafka_fdw.ingest_batch_wait = /'
  echo 'INSERT INTO bench_lag_k (client, produced) VALUES (:client_id, clock_timestamp());' > "$work/lag.sql"
  "$PG_BIN/pgbench" -n -c "$LAG_CLIENTS" -j 2 -R "$RATE" -T "$LAG_SECONDS" -f "$work/lag.sql" > "$work/lag.pgbench" 2>&1 || {
    cat "$work/lag.pgbench" >&2; exit 1; }
  grep -E '^(number of transactions actually processed|latency average|rate limit schedule lag|tps)' "$work/lag.pgbench" | sed 's/^/   pgbench: /'
  total=$(topic_size bench_lag_k)
  for _ in $(seq 1 1200); do
    [ "$(q "SELECT count(*) FROM bench_lag_t")" -ge "$total" ] && break; sleep 0.05
  done
  lag_cpu=$(job_cpu "$lag_job")
  lag=$(q "SELECT count(*) || '|' || concat_ws('|', VARIADIC (SELECT array_agg(round(x::numeric, 1)) FROM unnest(
             percentile_cont(ARRAY[0.5, 0.95, 0.99, 1]) WITHIN GROUP (ORDER BY extract(epoch FROM landed - produced) * 1000)) x))
           FROM bench_lag_t WHERE client >= 0")
  IFS='|' read -r lag_n p50 p95 p99 pmax <<<"$lag"
  stop_job "$lag_job"
  echo "   $lag_n messages (topic holds $total with the warm-up): landed - produced p50 $p50 ms, p95 $p95 ms, p99 $p99 ms," \
       "max $pmax ms; the workers' CPU $lag_cpu s"
  summary+=("lag at $RATE msg/s for $LAG_SECONDS s: p50 $p50 ms, p95 $p95 ms, p99 $p99 ms, max $pmax ms (goal p99 <= 200 ms: $(awk -v v="$p99" 'BEGIN { print (v <= 200 ? "met" : "missed") }'))")
fi

echo
echo "== summary"
printf '  %s\n' "${summary[@]}"
