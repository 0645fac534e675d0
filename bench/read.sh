#!/usr/bin/env bash
# kafka_fdw read benchmark (a benchmark, not a test: it prints, it never fails on a missed goal).
#
# Produces MESSAGES JSON messages (~140 B, PARTITIONS partitions) with kcat, then times, N rounds each
# (the kinds interleaved round by round, so that drift and noise hit them alike):
#   kcat        kcat -C of the whole topic, value only (-f '%s\n')          <- the baseline
#   kcat_meta   the same with partition, offset and key (-f '%p %o %k %s\n')
#   kcat_best   value only, the fastest kcat: -X fetch.wait.max.ms=10 (as kafka_fdw sets it; kcat's
#               500 ms default is paid at the end of the partitions) and -X queued.min.messages=10000000
#               (no refill stall, see bench/README.md)                  <- the stricter baseline
#   count       SELECT count(*)                                  (serial)
#   decode      5 value columns decoded, filtered and aggregated (serial)
#   parallel    the decode query with max_parallel_workers_per_gather = 2
#   nostall     the serial decode query over a table with "queued.min.messages" '10000000': what the
#               scan does without librdkafka 2.0.x's refill stall (it then buffers, see its RSS)
# Every query runs in a fresh psql, timed by the wall clock around it (like kcat, a fresh process
# that connects, reads metadata and fetches); the server-side statement time (psql \timing) is
# shown beside it. Then the backend peak RSS (VmHWM) of the serial decode query, and medians,
# ratios and PASS/MISS against the goals of the read path.
#
# Starts its own Kafka (scripts/kafka.sh) and PostgreSQL (scripts/pg.sh), builds and installs
# kafka_fdw with $PG_BIN/pg_config, and stops both on every exit path.
#
# Environment:
#   PG_BIN          PostgreSQL bin directory (default /usr/lib/postgresql/15/bin); make install
#                   writes into its pkglibdir: use a private PostgreSQL copy when others share the machine
#   N               rounds per measurement (default 5)
#   MESSAGES        messages to produce (default 1000000)
#   PARTITIONS      partitions of the topic (default 4)
#   RSS_GOAL_MB     bound on the backend's peak RSS growth during the serial decode query (default 64)
#   BENCH_KAFKA_PORT  Kafka port (default 29292; the controller listens on BENCH_KAFKA_PORT+1)
#   BENCH_PGPORT    PostgreSQL port (default 55832)
#   SKIP_BUILD=1    do not build and install (use what $PG_BIN's pkglibdir has)
#   KEEP=1          leave Kafka and PostgreSQL running at the end (prints how to connect)
#   BENCH_PROFILE=1 after the timings: sample the wait event of one serial decode query (where its wall
#                   time goes), and profile the backend with perf (perf record -g) during two serial
#                   decode queries over the nostall table (where the CPU goes; .tmp/bench/perf-decode.txt)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
REPO=$(dirname "$here")
# shellcheck source=bench/lib.sh
source "$here/lib.sh"
cd "$REPO"

N=${N:-5}
MESSAGES=${MESSAGES:-1000000}
PARTITIONS=${PARTITIONS:-4}
export KAFKA_PORT=${BENCH_KAFKA_PORT:-29292}
export KAFKA_CONTROLLER_PORT=$((KAFKA_PORT + 1)) KAFKA_HOME=$REPO/.tmp/kafka-bench
export PGPORT=${BENCH_PGPORT:-55832} PG_HOME=$REPO/.tmp/pg-bench
export PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
export PG_CONFIG=$PG_BIN/pg_config
BROKERS=127.0.0.1:$KAFKA_PORT
TOPIC=bench_views
work=$REPO/.tmp/bench
mkdir -p "$work"

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  set +e
  if [ "${KEEP:-}" = "1" ]; then
    echo
    echo "KEEP=1: Kafka on $BROKERS and PostgreSQL left running; connect with"
    echo "  source $PG_HOME/env && $PG_BIN/psql        (table $TOPIC)"
    echo "stop with: PGPORT=$PGPORT PG_HOME=$PG_HOME PG_BIN=$PG_BIN scripts/pg.sh stop;" \
         "KAFKA_HOME=$KAFKA_HOME scripts/kafka.sh stop"
    exit "$rc"
  fi
  "$REPO/scripts/pg.sh" stop >/dev/null
  "$REPO/scripts/kafka.sh" stop >/dev/null
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- build, install, services --------------------------------------------------------------
if [ "${SKIP_BUILD:-}" != "1" ]; then
  log "building and installing into $("$PG_CONFIG" --pkglibdir)"
  make clean >/dev/null
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
PSQL=("$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1)

# ---- data ------------------------------------------------------------------------------------
"${PSQL[@]}" <<SQL
CREATE EXTENSION kafka_fdw;
CREATE SERVER kafka FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers '$BROKERS');
SELECT kafka_create_topic('kafka', '$TOPIC', $PARTITIONS);
CREATE FOREIGN TABLE $TOPIC (
    part int OPTIONS (partition 'true'), offs bigint OPTIONS (offset 'true'),
    session_id text, property_id int, loyalty_id bigint, view_type text, origin text, ts bigint)
  SERVER kafka OPTIONS (topic '$TOPIC', format 'json');
CREATE FOREIGN TABLE ${TOPIC}_nostall (
    session_id text, property_id int, loyalty_id bigint, view_type text, origin text, ts bigint)
  SERVER kafka OPTIONS (topic '$TOPIC', format 'json', "queued.min.messages" '10000000');
SQL

# One message per line, like
# {"session_id":"676fc8983gu563-000001","property_id":7879,"loyalty_id":6764532,"view_type":"propertyView","origin":"promotion","ts":1413215458}
# Partition i gets lines i*M/P .. (i+1)*M/P-1 (kcat -p per slice), so partitions are equal.
data=$work/views.json
if ! [ -f "$data" ] || [ "$(wc -l < "$data")" -ne "$MESSAGES" ]; then
  log "generating $MESSAGES messages in $data"
  awk -v n="$MESSAGES" 'BEGIN {
    srand(42)
    split("propertyView search booking gallery review", vt, " ")
    split("promotion direct email partner social", og, " ")
    for (i = 1; i <= n; i++)
      printf "{\"session_id\":\"%08x%sgu%03d-%06d\",\"property_id\":%d,\"loyalty_id\":%d,\"view_type\":\"%s\",\"origin\":\"%s\",\"ts\":%d}\n",
        int(rand() * 4294967295), "3", int(rand() * 1000), i % 1000000, 1 + int(rand() * 9999),
        1000000 + int(rand() * 9000000), vt[1 + int(rand() * 5)], og[1 + int(rand() * 5)], 1413215458 + i
  }' > "$data"
fi
bytes=$(wc -c < "$data")
avg=$(( bytes / MESSAGES - 1 ))
log "producing $MESSAGES messages (avg value $avg B, $((bytes / 1048576)) MB) into $PARTITIONS partitions with kcat"
per=$(( (MESSAGES + PARTITIONS - 1) / PARTITIONS ))
t0=$(date +%s%N)
for p in $(seq 0 $((PARTITIONS - 1))); do
  split_file=$work/views.$p.json
  awk -v lo=$((p * per + 1)) -v hi=$(((p + 1) * per)) 'NR >= lo && NR <= hi' "$data" > "$split_file"
  kcat -b "$BROKERS" -P -t "$TOPIC" -p "$p" -X linger.ms=50 -X batch.num.messages=10000 -l "$split_file" &
done
wait
rm -f "$work"/views.[0-9]*.json
produce_s=$(awk -v d=$(( $(date +%s%N) - t0 )) 'BEGIN { printf "%.1f", d / 1e9 }')
have=$("${PSQL[@]}" -At -c "SELECT sum(high - low) FROM kafka_watermarks('$TOPIC')")
log "produced in $produce_s s; topic holds $have messages"
if [ "$have" -ne "$MESSAGES" ]; then echo "bench: topic holds $have messages, expected $MESSAGES" >&2; exit 1; fi

# ---- queries ---------------------------------------------------------------------------------
Q_COUNT="SELECT count(*) FROM $TOPIC"
# 5 value columns decoded; aggregates that parallelize (partial + combine), a filter on a decoded column
Q_DECODE="SELECT count(*), sum(loyalty_id), max(session_id), min(origin), count(*) FILTER (WHERE view_type = 'propertyView') FROM $TOPIC WHERE property_id > 100"
SERIAL="SET max_parallel_workers_per_gather = 0"
PAR="SET max_parallel_workers_per_gather = 2"
par_note=""

# Is the decode query parallel with 2 workers launched? If the planner does not choose it, make
# parallelism free (and say so).
plan=$("${PSQL[@]}" -At -c "$PAR" -c "EXPLAIN (COSTS OFF) $Q_DECODE")
if ! grep -q "Workers Planned: 2" <<<"$plan"; then
  PAR="$PAR; SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0"
  par_note="(planner did not choose 2 workers by itself: parallel_setup_cost = parallel_tuple_cost = 0)"
  plan=$("${PSQL[@]}" -At -c "$PAR" -c "EXPLAIN (COSTS OFF) $Q_DECODE")
fi
echo "== plan of the parallel decode query $par_note"
echo "$plan" | sed 's/^/   /'
analyze=$("${PSQL[@]}" -At -c "$PAR" -c "EXPLAIN (ANALYZE, TIMING OFF, COSTS OFF) $Q_DECODE")
launched=$(sed -n 's/.*Workers Launched: \([0-9]*\).*/\1/p' <<<"$analyze" | head -1)
echo "== EXPLAIN ANALYZE: Workers Launched: ${launched:-none}"
[ "${launched:-0}" = "2" ] || echo "   WARNING: not 2 workers; the parallel timing below is not what it claims"
serial_plan=$("${PSQL[@]}" -At -c "$SERIAL" -c "EXPLAIN (ANALYZE, TIMING OFF, COSTS OFF) $Q_DECODE")
echo "== EXPLAIN ANALYZE of the serial decode query"
echo "$serial_plan" | sed 's/^/   /'

# The answers must not depend on the plan
a_serial=$("${PSQL[@]}" -At -c "$SERIAL" -c "$Q_DECODE")
a_par=$("${PSQL[@]}" -At -c "$PAR" -c "$Q_DECODE")
a_count=$("${PSQL[@]}" -At -c "$SERIAL" -c "$Q_COUNT")
echo "== answers: count=$a_count decode serial=[$a_serial] parallel=[$a_par]"
if [ "$a_count" != "$MESSAGES" ] || [ "$a_serial" != "$a_par" ]; then
  echo "bench: WRONG ANSWER (count $a_count of $MESSAGES, or serial != parallel): timings are meaningless" >&2
fi

# time_cmd NAME CMD...: wall ms of CMD into $work/NAME.wall (and the psql statement ms into NAME.stmt)
time_kcat() {
  local name=$1 fmt=$2 t0 t1 lines; shift 2
  t0=$(date +%s%N)
  lines=$(kcat -C -b "$BROKERS" -t "$TOPIC" -e -q -o beginning -f "$fmt" "$@" | wc -l)
  t1=$(date +%s%N)
  [ "$lines" -eq "$MESSAGES" ] || log "WARNING: $name read $lines lines, expected $MESSAGES"
  echo $(( (t1 - t0) / 1000000 )) >> "$work/$name.wall"
}
time_sql() {
  local name=$1 settings=$2 query=$3 t0 t1 out
  t0=$(date +%s%N)
  out=$("${PSQL[@]}" -At -c "$settings" -c '\timing on' -c "$query")
  t1=$(date +%s%N)
  echo $(( (t1 - t0) / 1000000 )) >> "$work/$name.wall"
  sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' <<<"$out" | tail -1 >> "$work/$name.stmt"
}
kinds=(kcat kcat_meta kcat_best count decode parallel nostall)
for k in "${kinds[@]}"; do rm -f "$work/$k.wall" "$work/$k.stmt"; done
log "timing $N rounds of: ${kinds[*]}"
for r in $(seq 1 "$N"); do
  time_kcat kcat '%s\n'
  time_kcat kcat_meta '%p %o %k %s\n'
  time_kcat kcat_best '%s\n' -X fetch.wait.max.ms=10 -X queued.min.messages=10000000
  time_sql count "$SERIAL" "$Q_COUNT"
  time_sql decode "$SERIAL" "$Q_DECODE"
  time_sql parallel "$PAR" "$Q_DECODE"
  time_sql nostall "$SERIAL" "${Q_DECODE/FROM $TOPIC /FROM ${TOPIC}_nostall }"
  log "round $r: $(for k in "${kinds[@]}"; do printf '%s=%sms ' "$k" "$(tail -1 "$work/$k.wall")"; done)"
done

# ---- backend peak RSS --------------------------------------------------------------------------
# VmHWM of the backend itself (pg_read_file of /proc/self/status, as superuser): after connecting
# and a trivial query, then after the serial decode query and after count(*), in fresh sessions.
hwm_sql="SELECT round((regexp_match(pg_read_file('/proc/self/status'), 'VmHWM:\s+(\d+)'))[1]::int / 1024.0, 1)"
rss_base=$("${PSQL[@]}" -At -c "SELECT 1" -c "$hwm_sql" | tail -1)
rss_decode=$("${PSQL[@]}" -At -c "$SERIAL" -c "$Q_DECODE" -c "$hwm_sql" | tail -1)
rss_count=$("${PSQL[@]}" -At -c "$SERIAL" -c "$Q_COUNT" -c "$hwm_sql" | tail -1)
rss_nostall=$("${PSQL[@]}" -At -c "$SERIAL" -c "${Q_DECODE/FROM $TOPIC /FROM ${TOPIC}_nostall }" -c "$hwm_sql" | tail -1)

# ---- CPU: how much of the machine a serial scan uses, so how much 2 workers can gain ------------
# Busy CPU time of the whole machine (/proc/stat: user, nice, system, irq, softirq, against those
# plus idle, iowait and steal; the backend with its
# librdkafka threads, parallel workers, the broker's JVM, psql, anything else) over one query each
# in a fresh session. If the serial scan keeps B of the $(nproc) CPUs busy, 2 workers that need no
# more CPU time in all can be at most $(nproc) / B times faster.
cpu_busy_total() { awk '$1 == "cpu" { b = $2 + $3 + $4 + $7 + $8; print b, b + $5 + $6 + $9 }' /proc/stat; }
cpu_run() {  # cpu_run NAME SETTINGS QUERY -> "wall_ms busy_cpus" into cpu_NAME
  local b0 t0 b1 t1 w0 w1
  sleep 1
  read -r b0 t0 < <(cpu_busy_total); w0=$(date +%s%N)
  "${PSQL[@]}" -At -c "$2" -c "$3" >/dev/null
  read -r b1 t1 < <(cpu_busy_total); w1=$(date +%s%N)
  printf -v "cpu_$1" '%s %s' $(( (w1 - w0) / 1000000 )) \
    "$(awk -v b=$((b1 - b0)) -v t=$((t1 - t0)) -v n="$(nproc)" 'BEGIN { printf "%.2f", (t > 0 ? n * b / t : 0) }')"
}
cpu_run decode "$SERIAL" "$Q_DECODE"
cpu_run parallel "$PAR" "$Q_DECODE"
read -r cw busy <<<"$cpu_decode"
read -r pw pbusy <<<"$cpu_parallel"
ceiling=$(awk -v b="$busy" -v n="$(nproc)" 'BEGIN { printf "%.2f", (b > 0 ? n / b : 0) }')

# ---- report ------------------------------------------------------------------------------------
declare -A med
echo
echo "== kafka_fdw read benchmark: $MESSAGES messages, avg value $avg B, $PARTITIONS partitions," \
     "$(nproc) CPUs, N=$N, $("$PG_BIN/postgres" --version | awk '{print $3}'), Kafka ${KAFKA_VERSION:-3.9.1}"
printf '%-10s %12s %16s %14s  %s\n' what "median ms" "range ms" "stmt ms" "command"
# shellcheck disable=SC2046   # the files hold one number a line
for k in "${kinds[@]}"; do
  med[$k]=$(median $(<"$work/$k.wall"))
  stmt="-"
  [ -s "$work/$k.stmt" ] && stmt=$(median $(<"$work/$k.stmt"))
  case $k in
    kcat) cmd="kcat -C -e -q -o beginning -f '%s\\n'" ;;
    kcat_meta) cmd="kcat -C -e -q -o beginning -f '%p %o %k %s\\n'" ;;
    kcat_best) cmd="kcat ... -f '%s\\n' -X fetch.wait.max.ms=10 -X queued.min.messages=10000000" ;;
    count) cmd="$Q_COUNT (serial)" ;;
    decode) cmd="decode 5 columns + filter (serial)" ;;
    parallel) cmd="the same, 2 workers" ;;
    nostall) cmd="decode, serial, table option queued.min.messages 10000000" ;;
  esac
  printf '%-10s %12s %16s %14s  %s\n' "$k" "${med[$k]}" "$(minmax $(<"$work/$k.wall"))" "$stmt" "$cmd"
done
r_decode=$(ratio "${med[decode]}" "${med[kcat]}")
r_count=$(ratio "${med[count]}" "${med[kcat]}")
r_speedup=$(ratio "${med[decode]}" "${med[parallel]}")
r_speedup_ns=$(ratio "${med[nostall]}" "${med[parallel]}")
topic_mb=$(awk -v b="$bytes" 'BEGIN { printf "%.0f", b / 1048576 }')
rss_growth=$(awk -v a="$rss_decode" -v b="$rss_base" 'BEGIN { printf "%.0f", a - b }')
# "Bounded": the scan streams, so what it holds must not grow with the topic. The bound is fixed:
# batch_size (10000) messages plus librdkafka's fetch buffers fit well within 64 MB.
rss_goal=${RSS_GOAL_MB:-64}
echo
printf '%-44s %10s %10s  %s\n' measure value goal verdict
printf '%-44s %10s %10s  %s\n' "serial decode / kcat" "$r_decode" "<= 1.5" "$(verdict "$r_decode" "<=" 1.5)"
printf '%-44s %10s %10s  %s\n' "count(*) / kcat" "$r_count" "<= 1.1" "$(verdict "$r_count" "<=" 1.1)"
r_decode_b=$(ratio "${med[decode]}" "${med[kcat_best]}")
r_count_b=$(ratio "${med[count]}" "${med[kcat_best]}")
printf '%-44s %10s %10s  %s\n' "serial decode / kcat_best (stricter)" "$r_decode_b" "<= 1.5" "$(verdict "$r_decode_b" "<=" 1.5)"
printf '%-44s %10s %10s  %s\n' "count(*) / kcat_best (stricter)" "$r_count_b" "<= 0.9" "$(verdict "$r_count_b" "<=" 0.9)"
printf '%-44s %10s %10s  %s\n' "decode serial / 2 workers (speed-up)" "$r_speedup" ">= 1.7" "$(verdict "$r_speedup" ">=" 1.7)"
printf '%-44s %10s %10s  %s\n' "decode without stall / 2 workers (speed-up)" "$r_speedup_ns" ">= 1.7" "$(verdict "$r_speedup_ns" ">=" 1.7)"
printf '%-44s %10s %10s  %s\n' "  CPUs busy during one serial decode query" "$busy" "-" "(of $(nproc); ${cw} ms)"
printf '%-44s %10s %10s  %s\n' "  CPUs busy during one parallel decode query" "$pbusy" "-" "(of $(nproc); ${pw} ms)"
printf '%-44s %10s %10s  %s\n' "  so 2 workers can be at most this faster" "$ceiling" "-" "($(nproc) / serial's busy CPUs, if they need no more CPU time)"
printf '%-44s %10s %10s  %s\n' "decode without refill stall / kcat_best" "$(ratio "${med[nostall]}" "${med[kcat_best]}")" "-" "(what the scan could do)"
printf '%-44s %10s %10s  %s\n' "kcat with metadata / kcat" "$(ratio "${med[kcat_meta]}" "${med[kcat]}")" "-" "(for reference)"
printf '%-44s %10s %10s  %s\n' "backend peak RSS, fresh session (MB)" "$rss_base" "-" ""
printf '%-44s %10s %10s  %s\n' "backend peak RSS, count(*) (MB)" "$rss_count" "-" ""
printf '%-44s %10s %10s  %s\n' "backend peak RSS, serial decode (MB)" "$rss_decode" "-" ""
printf '%-44s %10s %10s  %s\n' "  growth over fresh session (MB; topic $topic_mb MB)" "$rss_growth" "<= $rss_goal" "$(verdict "$rss_growth" "<=" "$rss_goal")"
printf '%-44s %10s %10s  %s\n' "backend peak RSS, decode without stall (MB)" "$rss_nostall" "-" "(buffers what it cannot keep up with)"
[ -n "$par_note" ] && echo "note: parallel query $par_note"
echo "(wall ms: fresh process each, connect + plan + scan; stmt ms: psql \\timing of the statement alone)"

# ---- optional profile ------------------------------------------------------------------------
if [ "${BENCH_PROFILE:-}" = "1" ]; then
  if perf stat -e instructions true >/dev/null 2>&1; then
    # where the wall time of the serial decode query goes: sample its session's wait event
    PGAPPNAME=kafka_fdw_bench_waits "${PSQL[@]}" -At -c "$SERIAL" -c "$Q_DECODE" >/dev/null &
    qpid=$!
    while kill -0 "$qpid" 2>/dev/null; do
      "${PSQL[@]}" -At -c "SELECT coalesce(wait_event, 'on CPU') FROM pg_stat_activity WHERE application_name = 'kafka_fdw_bench_waits' AND state = 'active'"
      sleep 0.02
    done > "$work/waits.txt"
    wait "$qpid" || true
    echo
    echo "== serial decode query: its session's wait event, sampled every ~30 ms (Extension = waiting for librdkafka)"
    sort "$work/waits.txt" | uniq -c | sort -rn | sed 's/^/   /'
    echo "   in order: $(uniq -c "$work/waits.txt" | awk '{ n = $1; $1 = ""; printf "%s x%d, ", substr($0, 2), n }' | sed 's/, $//')"

    # where the CPU goes, without the stall's idle time: the nostall table
    NOSTALL_Q="${Q_DECODE/FROM $TOPIC /FROM ${TOPIC}_nostall }"
    log "profiling two serial decode queries over ${TOPIC}_nostall with perf (report in $work/perf-decode.txt)"
    # one session (found by its application_name) sleeps until perf is attached, then runs the queries
    PGAPPNAME=kafka_fdw_bench_profile "${PSQL[@]}" -At -c "SELECT pg_sleep(2)" -c "$SERIAL" -c "$NOSTALL_Q" -c "$NOSTALL_Q" >/dev/null &
    qpid=$!
    bpid=""
    for _ in $(seq 1 50); do
      bpid=$("${PSQL[@]}" -At -c "SELECT pid FROM pg_stat_activity WHERE application_name = 'kafka_fdw_bench_profile'")
      [ -n "$bpid" ] && break; sleep 0.1
    done
    perf record -g -F 999 -p "$bpid" -o "$work/perf-decode.data" >/dev/null 2>&1 &
    ppid=$!
    wait "$qpid"
    # perf record -p ends when the backend exits (psql is done); TERM in case it did not
    sleep 0.5; kill -TERM "$ppid" 2>/dev/null || true; wait "$ppid" 2>/dev/null || true
    {
      echo "== share of samples by thread"
      perf report -i "$work/perf-decode.data" --no-children --stdio -g none --sort comm 2>/dev/null | grep -v '^#' | grep -v '^$' | head -5 || true
      echo "== top symbols (self)"
      perf report -i "$work/perf-decode.data" --no-children --stdio -g none --sort comm,dso,symbol 2>/dev/null | grep -v '^#' | grep -v '^$' | head -30 || true
      echo "== call graph of the backend thread"
      perf report -i "$work/perf-decode.data" --children --stdio -g caller,0.5 --comm postgres --sort symbol 2>/dev/null | grep -v '^#' | grep -v '^$' | head -150 || true
    } > "$work/perf-decode.txt"
    echo
    echo "== perf profile of the backend during 2 serial decode queries over ${TOPIC}_nostall (full report: $work/perf-decode.txt)"
    sed -n '1,40p' "$work/perf-decode.txt"
  else
    log "perf does not work here; BENCH_PROFILE skipped"
  fi
fi
