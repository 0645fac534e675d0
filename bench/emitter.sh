#!/usr/bin/env bash
# Benchmark (not a test): the table-change emitter (kafka.stream_changes), in three parts, each with
# its baseline measured in the same run:
#
#   insert   INSERT ... SELECT of ROWS (100k) rows into a table without a stream, with a paused stream
#            (capture only) and with a running stream (capture; the worker publishes after commit),
#            REPEAT times, medians and ratios; the same for SMALL_TX single-row INSERT transactions
#            (pgbench, one client). Goal: with/without <= 1.3x.
#   drain    DRAIN_ROWS (1M) changes captured while the stream is paused, then resumed: time until the
#            worker has published them all (kafka.stream.events_sent), for each kafka_fdw.emitter_batch_size
#            in BATCH_SIZES; vs kcat -P of the very same messages (keys and values dumped from the
#            stream's topic), with librdkafka's defaults, with acks=all + idempotence, and with
#            those and lz4 (the stream's default compression); a kcat round follows each drain.
#            Goal: emitter rate >= 0.5x kcat's.
#   snapshot a stream started with snapshot => true on a table of SNAPSHOT_ROWS (1M) rows: time until
#            every row is published as an 'r' event (no goal; Debezium's connector: 15k-22k rows/s).
#   latency  pgbench at RATE (1000) single-row UPDATE transactions per second for LAT_SECONDS (30),
#            each writing clock_timestamp() into the row, the stream running with default settings;
#            latency = broker append time (the broker runs with log.message.timestamp.type=LogAppendTime,
#            kcat's %T) - the row's clock_timestamp(); p50/p90/p99/max. Goal: p99 <= 20 ms.
#
# Starts its own broker and cluster (scripts/kafka.sh, scripts/pg.sh; kafka_fdw preloaded) and
# stops them on exit (KEEP=1 leaves them running). Builds and installs with $PG_BIN/pg_config
# unless SKIP_BUILD=1 (use a private PostgreSQL copy if others share the machine's).
#
# Environment: PARTS ("insert drain snapshot latency"), ROWS (100000), SMALL_TX (20000), REPEAT (5),
#   DRAIN_ROWS (1000000), DRAIN_REPEAT (1), SNAPSHOT_ROWS (1000000), BATCH_SIZES ("100000", the default), RATE (1000),
#   LAT_SECONDS (30), BENCH_KAFKA_PORT (29392), BENCH_PGPORT (55932), PG_BIN, KAFKA_VERSION.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
REPO=$(dirname "$here")
# shellcheck source=bench/lib.sh
source "$here/lib.sh"
cd "$REPO"

PARTS=${PARTS:-"insert drain snapshot latency"}
ROWS=${ROWS:-100000}
SMALL_TX=${SMALL_TX:-20000}
REPEAT=${REPEAT:-5}
DRAIN_ROWS=${DRAIN_ROWS:-1000000}
DRAIN_REPEAT=${DRAIN_REPEAT:-1}
SNAPSHOT_ROWS=${SNAPSHOT_ROWS:-1000000}
BATCH_SIZES=${BATCH_SIZES:-"100000"}
RATE=${RATE:-1000}
LAT_SECONDS=${LAT_SECONDS:-30}
export KAFKA_PORT=${BENCH_KAFKA_PORT:-29392}
export KAFKA_CONTROLLER_PORT=$((KAFKA_PORT + 1)) KAFKA_HOME=$REPO/.tmp/kafka-ebench KAFKA_SECURE=0
export KAFKA_EXTRA_PROPS="log.message.timestamp.type=LogAppendTime"
export PGPORT=${BENCH_PGPORT:-55932} PG_HOME=$REPO/.tmp/pg-ebench PG_PRELOAD=kafka_fdw
export PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
export PG_CONFIG=$PG_BIN/pg_config
export PGOPTIONS="-c client_min_messages=warning"
work=$REPO/.tmp/ebench
mkdir -p "$work"

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ "${KEEP:-}" != 1 ]; then
    "$REPO/scripts/pg.sh" stop >/dev/null 2>&1 || true
    "$REPO/scripts/kafka.sh" stop >/dev/null 2>&1 || true
  else
    echo "bench: KEEP=1: Kafka on 127.0.0.1:$KAFKA_PORT, PostgreSQL: source $PG_HOME/env && $PG_BIN/psql"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ "${SKIP_BUILD:-}" != 1 ]; then
  echo "bench: build and install into $("$PG_CONFIG" --pkglibdir)"
  make -s -j"$(nproc)" PG_CONFIG="$PG_CONFIG" >/dev/null
  make -s install PG_CONFIG="$PG_CONFIG" >/dev/null
fi

"$REPO/scripts/pg.sh" stop >/dev/null
"$REPO/scripts/kafka.sh" stop >/dev/null
"$REPO/scripts/kafka.sh" start
"$REPO/scripts/pg.sh" start >/dev/null
# shellcheck disable=SC1091
source "$PG_HOME/env"
BROKERS=127.0.0.1:$KAFKA_PORT

q "CREATE EXTENSION kafka_fdw" >/dev/null
q "CREATE SERVER kafka FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers '$BROKERS')" >/dev/null

# a broker that has just started may still refuse to create topics for a moment; a topic that
# exists already (an attempt that timed out but went through) is fine
create_topic() {
  local i out
  for i in $(seq 1 30); do
    if out=$(q "SELECT kafka_create_topic('kafka', '$1', 1)" 2>&1) || [[ $out == *"already exists"* ]]; then return 0; fi
    sleep 1
  done
  echo "bench: could not create topic $1: $out" >&2; exit 1
}

# statement time (ms) of one SQL command in a fresh session, commit included
timed() { psql -c '\timing on' -c "$1" | awk '/^Time:/ { print $2 }'; }
# "wall_ms cpu_ms" of one SQL command in a fresh session: statement time (commit included) and
# the CPU time the backend spent on it (/proc/self/schedstat, ns), which the machine's noise
# (other processes, page cache, WAL segment creation) moves much less than the wall time
timed_cpu() {
  psql -At -c "SELECT split_part(pg_read_file('/proc/self/schedstat'), ' ', 1) AS c0" \
    -c '\timing on' -c "$1" -c '\timing off' \
    -c "SELECT 'cpu', split_part(pg_read_file('/proc/self/schedstat'), ' ', 1)" |
    awk -F'|' 'NR == 1 { c0 = $1 } /^Time:/ { split($0, a, " "); w = a[2] } $1 == "cpu" { printf "%s %.1f\n", w, ($2 - c0) / 1e6 }'
}

# wait until the stream of table $1 has sent $2 events in all (at most 20 minutes). One session
# polls every 10 ms: a psql per poll forks a backend each time, and at 50 polls a second those
# took about a fifth of the 2 CPUs from the worker being measured (kcat's rounds pay no such cost)
wait_sent() {
  local t=$1 n=$2
  if ! q "DO \$\$ DECLARE deadline timestamptz := clock_timestamp() + interval '20 minutes'; BEGIN
          WHILE (SELECT events_sent FROM kafka.stream WHERE relid = '$t'::regclass) < $n LOOP
            IF clock_timestamp() > deadline THEN RAISE EXCEPTION 'timed out'; END IF;
            PERFORM pg_sleep(0.01);
          END LOOP; END \$\$" >/dev/null; then
    echo "bench: the stream of $t did not send $n events" >&2
    q "SELECT * FROM kafka.streams" >&2
    exit 1
  fi
}
sent() { q "SELECT events_sent FROM kafka.stream WHERE relid = '$1'::regclass"; }

# a loyalty table: bigint key and four columns
make_table() {
  q "DROP TABLE IF EXISTS $1; CREATE TABLE $1 (loyalty_id bigint PRIMARY KEY DEFAULT nextval('bench_ids'),
       level text NOT NULL, email text, points int NOT NULL, updated_at timestamptz NOT NULL)" >/dev/null
}
q "CREATE SEQUENCE bench_ids" >/dev/null
insert_sql() {  # table, rows
  echo "INSERT INTO $1 SELECT nextval('bench_ids'), CASE g % 3 WHEN 0 THEN 'bronze' WHEN 1 THEN 'silver' ELSE 'gold' END,
          'member' || g || '@example.com', g % 5000, '2024-01-01 00:00:00+00'::timestamptz + g * interval '1 second'
     FROM generate_series(1, $2) g"
}
start_stream() {  # table, topic
  create_topic "$2"
  q "SELECT kafka.stream_changes('$1', 'kafka', '$2')" >/dev/null
}
summary=()

# ---------------------------------------------------------------------------------------------
# Part 1: INSERT with and without a stream
# ---------------------------------------------------------------------------------------------
if [[ " $PARTS " == *" insert "* ]]; then
  echo; echo "== insert: $ROWS rows by INSERT ... SELECT, $SMALL_TX single-row INSERT transactions"
  make_table b_plain; make_table b_paused; make_table b_running
  start_stream b_paused ebench_paused; q "SELECT kafka.pause_stream('b_paused')" >/dev/null
  start_stream b_running ebench_running
  # warm-up, untimed: plans, caches, the worker's producer (init_transactions, progress topic)
  for t in b_plain b_paused b_running; do psql -c "$(insert_sql $t "$ROWS")"; done
  wait_sent b_running "$ROWS"
  reset_tables() {
    psql -c "SELECT kafka.stop_stream('b_paused')" 2>/dev/null >/dev/null
    q "TRUNCATE b_plain, b_paused" >/dev/null
    start_stream b_paused ebench_paused; q "SELECT kafka.pause_stream('b_paused')" >/dev/null
    local before; before=$(sent b_running)
    q "TRUNCATE b_running" >/dev/null
    wait_sent b_running $((before + 1))
    q "VACUUM ANALYZE kafka.outbox_chunk" >/dev/null
    q "VACUUM b_plain, b_paused, b_running" >/dev/null
  }
  plain=() paused=() running=() published=() plain_cpu=() paused_cpu=() running_cpu=()
  for r in $(seq 1 "$REPEAT"); do
    reset_tables
    order="b_plain b_paused b_running"; [ $((r % 2)) -eq 0 ] && order="b_running b_paused b_plain"
    for t in $order; do
      before=$(sent b_running 2>/dev/null || echo 0)
      # no checkpoint (the inserts write ~20 MB of WAL each) lands in one variant's statement only
      q "CHECKPOINT" >/dev/null
      t0=$(now_ms)
      read -r ms cpu < <(timed_cpu "$(insert_sql $t "$ROWS")")
      case $t in
        b_plain) plain+=("$ms"); plain_cpu+=("$cpu") ;;
        b_paused) paused+=("$ms"); paused_cpu+=("$cpu") ;;
        b_running)
          running+=("$ms"); running_cpu+=("$cpu")
          wait_sent b_running $((before + ROWS))
          published+=($(( $(now_ms) - t0 ))) ;;
      esac
    done
    echo "run $r: no stream ${plain[-1]} ms (cpu ${plain_cpu[-1]}), paused stream ${paused[-1]} ms (cpu ${paused_cpu[-1]}), running stream ${running[-1]} ms (cpu ${running_cpu[-1]}; all published after ${published[-1]} ms)"
  done
  mp=$(median "${plain[@]}") mz=$(median "${paused[@]}") mr=$(median "${running[@]}") mpub=$(median "${published[@]}")
  cp=$(median "${plain_cpu[@]}") cz=$(median "${paused_cpu[@]}") cr=$(median "${running_cpu[@]}")
  echo "median of $REPEAT runs, INSERT ... SELECT of $ROWS rows (statement time; the backend's CPU time):"
  echo "  no stream        ${mp} ms; cpu ${cp} ms"
  echo "  paused stream    ${mz} ms   ratio $(ratio "$mz" "$mp"); cpu ${cz} ms   ratio $(ratio "$cz" "$cp")"
  echo "  running stream   ${mr} ms   ratio $(ratio "$mr" "$mp"); cpu ${cr} ms   ratio $(ratio "$cr" "$cp")   (in Kafka after ${mpub} ms: $(rate "$ROWS" "$mpub") changes/s end to end)"
  summary+=("INSERT ... SELECT $ROWS rows: with/without stream $(ratio "$mz" "$mp")x paused, $(ratio "$mr" "$mp")x running (goal <= 1.3x); backend CPU $(ratio "$cz" "$cp")x paused, $(ratio "$cr" "$cp")x running")

  # single-row transactions: pgbench, one client
  echo "INSERT INTO :tbl (level, email, points, updated_at) VALUES ('gold', 'member@example.com', 42, now());" > "$work/small.sql"
  small() {  # table -> tps
    "$PG_BIN/pgbench" -n -c 1 -t "$SMALL_TX" -D tbl="$1" -f "$work/small.sql" 2>&1 |
      awk '/^tps/ { print $3; exit }'
  }
  sp=() sz=() sr=()
  for r in $(seq 1 3); do
    reset_tables
    sp+=("$(small b_plain)"); sz+=("$(small b_paused)")
    before=$(sent b_running); sr+=("$(small b_running)"); wait_sent b_running $((before + SMALL_TX))
    echo "run $r: tps no stream ${sp[-1]}, paused ${sz[-1]}, running ${sr[-1]}"
  done
  tp=$(median "${sp[@]}") tz=$(median "${sz[@]}") tr=$(median "${sr[@]}")
  echo "median of 3 runs, $SMALL_TX single-row INSERT transactions (1 client):"
  echo "  no stream ${tp} tps, paused stream ${tz} tps (time ratio $(ratio "$tp" "$tz")), running stream ${tr} tps (time ratio $(ratio "$tp" "$tr"))"
  summary+=("single-row INSERT transactions: time with/without stream $(ratio "$tp" "$tz")x paused, $(ratio "$tp" "$tr")x running")
fi

# ---------------------------------------------------------------------------------------------
# Part 2: draining a backlog vs kcat -P
# ---------------------------------------------------------------------------------------------
if [[ " $PARTS " == *" drain "* ]]; then
  echo; echo "== drain: $DRAIN_ROWS backlogged changes, batch sizes: $BATCH_SIZES"
  make_table b_drain
  rm -f "$work/drain.tsv"
  n=0 nk=0
  declare -A drain_ms
  k=() ks=() kz=()
  # one round of kcat -P of the drained messages (after each drain, so that both see the machine
  # in the same state: its speed swings by up to 1.7x from one minute to the next)
  kcat_round() {
    nk=$((nk + 1))
    create_topic ebench_kcat_$nk; create_topic ebench_kcat_same_$nk; create_topic ebench_kcat_lz4_$nk
    t0=$(now_ms); kcat -b "$BROKERS" -P -K '\t' -t ebench_kcat_$nk < "$work/drain.tsv"; k+=($(( $(now_ms) - t0 )))
    t0=$(now_ms); kcat -b "$BROKERS" -P -K '\t' -t ebench_kcat_same_$nk -X acks=all -X enable.idempotence=true < "$work/drain.tsv"
    ks+=($(( $(now_ms) - t0 )))
    # the stream's own compression (lz4 by default), for reference
    t0=$(now_ms); kcat -b "$BROKERS" -P -K '\t' -t ebench_kcat_lz4_$nk -X acks=all -X enable.idempotence=true -X compression.type=lz4 < "$work/drain.tsv"
    kz+=($(( $(now_ms) - t0 )))
    echo "  kcat round $nk: ${k[-1]} ms, with acks=all+idempotence ${ks[-1]} ms, and lz4 ${kz[-1]} ms"
  }
  for bs in $BATCH_SIZES; do
    q "ALTER SYSTEM SET kafka_fdw.emitter_batch_size = $bs" >/dev/null
    q "SELECT pg_reload_conf()" >/dev/null
    times=()
    for r in $(seq 1 "$DRAIN_REPEAT"); do
      n=$((n + 1)) topic=ebench_drain_$n
      psql -c "SELECT kafka.stop_stream('b_drain')" >/dev/null 2>&1 || true
      q "TRUNCATE b_drain" >/dev/null
      q "VACUUM kafka.outbox_chunk" >/dev/null
      start_stream b_drain "$topic"
      q "SELECT kafka.pause_stream('b_drain')" >/dev/null
      cap=$(timed "$(insert_sql b_drain "$DRAIN_ROWS")")
      # autovacuum of the 1M rows just inserted, or a checkpoint of their WAL, would otherwise run
      # during some drains and not others
      q "VACUUM ANALYZE kafka.outbox_chunk, b_drain" >/dev/null
      q "CHECKPOINT" >/dev/null
      t0=$(now_ms)
      q "SELECT kafka.resume_stream('b_drain')" >/dev/null
      wait_sent b_drain "$DRAIN_ROWS"
      ms=$(( $(now_ms) - t0 ))
      times+=("$ms")
      echo "batch size $bs, run $r: captured in $cap ms; drained in $ms ms ($(rate "$DRAIN_ROWS" "$ms") changes/s)"
      if [ ! -s "$work/drain.tsv" ]; then
        # the same messages for kcat: keys and values of the first drained topic
        kcat -b "$BROKERS" -C -q -e -t "$topic" -X isolation.level=read_committed -f '%k\t%s\n' > "$work/drain.tsv"
        got=$(wc -l < "$work/drain.tsv")
        if [ "$got" != "$DRAIN_ROWS" ]; then echo "bench: topic $topic has $got messages, expected $DRAIN_ROWS" >&2; exit 1; fi
        avg=$(( $(wc -c < "$work/drain.tsv") / DRAIN_ROWS ))
      fi
      kcat_round
    done
    drain_ms[$bs]=$(median "${times[@]}")
  done
  q "ALTER SYSTEM RESET kafka_fdw.emitter_batch_size" >/dev/null; q "SELECT pg_reload_conf()" >/dev/null
  while [ "${#k[@]}" -lt 3 ]; do kcat_round; done

  mk=$(median "${k[@]}") mks=$(median "${ks[@]}") mkz=$(median "${kz[@]}")
  echo "$DRAIN_ROWS messages of ~$avg bytes (key + value), medians:"
  echo "  kcat -P (librdkafka defaults)      ${mk} ms  $(rate "$DRAIN_ROWS" "$mk") msg/s"
  echo "  kcat -P (acks=all, idempotence)    ${mks} ms  $(rate "$DRAIN_ROWS" "$mks") msg/s"
  echo "  kcat -P (the same and lz4)         ${mkz} ms  $(rate "$DRAIN_ROWS" "$mkz") msg/s"
  for bs in $BATCH_SIZES; do
    d=${drain_ms[$bs]}
    echo "  emitter, batch size $bs        ${d} ms  $(rate "$DRAIN_ROWS" "$d") changes/s   rate ratio vs kcat $(ratio "$mk" "$d") (vs kcat acks=all $(ratio "$mks" "$d"), vs kcat acks=all+lz4 $(ratio "$mkz" "$d"))"
    summary+=("drain of $DRAIN_ROWS changes, batch size $bs: $(rate "$DRAIN_ROWS" "$d") changes/s = $(ratio "$mk" "$d")x kcat's rate (goal >= 0.5x)")
  done
  rm -f "$work/drain.tsv"
fi

# ---------------------------------------------------------------------------------------------
# Part 2b: the initial snapshot of a table of SNAPSHOT_ROWS rows
# ---------------------------------------------------------------------------------------------
if [[ " $PARTS " == *" snapshot "* ]]; then
  echo; echo "== snapshot: a stream started with snapshot => true on a table of $SNAPSHOT_ROWS rows"
  make_table b_snap
  q "$(insert_sql b_snap "$SNAPSHOT_ROWS")" >/dev/null
  q "VACUUM ANALYZE b_snap" >/dev/null
  q "CHECKPOINT" >/dev/null
  create_topic ebench_snapshot
  t0=$(now_ms)
  q "SELECT kafka.stream_changes('b_snap', 'kafka', 'ebench_snapshot', snapshot => true)" >/dev/null
  wait_sent b_snap "$SNAPSHOT_ROWS"
  ms=$(( $(now_ms) - t0 ))
  got=$(kcat -b "$BROKERS" -C -q -e -t ebench_snapshot -X isolation.level=read_committed -f '%s\n' | grep -c '"op":"r"')
  if [ "$got" != "$SNAPSHOT_ROWS" ]; then echo "bench: topic ebench_snapshot has $got snapshot events, expected $SNAPSHOT_ROWS" >&2; exit 1; fi
  echo "  $SNAPSHOT_ROWS rows read, written to the outbox and published in $ms ms: $(rate "$SNAPSHOT_ROWS" "$ms") rows/s"
  summary+=("initial snapshot of $SNAPSHOT_ROWS rows: $(rate "$SNAPSHOT_ROWS" "$ms") rows/s (Debezium's connector on this kind of machine: 15k-22k rows/s)")
  psql -c "SELECT kafka.stop_stream('b_snap')" >/dev/null 2>&1 || true
fi

# ---------------------------------------------------------------------------------------------
# Part 3: change-to-topic latency at a steady rate
# ---------------------------------------------------------------------------------------------
if [[ " $PARTS " == *" latency "* ]]; then
  echo; echo "== latency: $RATE single-row UPDATE transactions/s for $LAT_SECONDS s, default settings"
  q "DROP TABLE IF EXISTS b_lat; CREATE TABLE b_lat (id int PRIMARY KEY, n bigint NOT NULL, ts timestamptz NOT NULL);
     INSERT INTO b_lat SELECT g, 0, clock_timestamp() FROM generate_series(1, 10000) g" >/dev/null
  start_stream b_lat ebench_latency
  # the producer is up (init_transactions, recovery) before the clock runs
  q "UPDATE b_lat SET n = n + 1, ts = clock_timestamp() WHERE id = 1" >/dev/null
  wait_sent b_lat 1
  q "SHOW kafka_fdw.naptime" | sed 's/^/  kafka_fdw.naptime = /'
  printf '%s\n' '\set id random(1, 10000)' \
    'UPDATE b_lat SET n = n + 1, ts = clock_timestamp() WHERE id = :id;' > "$work/lat.sql"
  "$PG_BIN/pgbench" -n -c 4 -j 2 -R "$RATE" -T "$LAT_SECONDS" -f "$work/lat.sql" > "$work/lat.pgbench" 2>&1
  grep -E '^(number of transactions actually processed|latency average|rate limit schedule lag|tps)' "$work/lat.pgbench" | sed 's/^/  pgbench: /'
  total=$(awk '/actually processed/ { split($0, a, ": "); split(a[2], b, "/"); print b[1] }' "$work/lat.pgbench")
  wait_sent b_lat $((total + 1))
  kcat -b "$BROKERS" -C -q -e -t ebench_latency -X isolation.level=read_committed -f '%T\t%s\n' > "$work/lat.tsv"
  python3 - "$work/lat.tsv" <<'PY' | tee "$work/lat.summary"
import datetime, json, sys
lat = []
for line in open(sys.argv[1]):
    t, _, value = line.rstrip('\n').partition('\t')
    v = json.loads(value)
    if not v or not v.get('after'):
        continue
    ts = datetime.datetime.fromisoformat(v['after']['ts'])
    lat.append(int(t) - ts.timestamp() * 1000)
lat = lat[1:]   # the warm-up change
lat.sort()
def p(q): return lat[min(len(lat) - 1, int(q * len(lat)))]
print(f"  {len(lat)} changes: latency p50 {p(0.5):.1f} ms, p90 {p(0.9):.1f} ms, p99 {p(0.99):.1f} ms, max {lat[-1]:.1f} ms")
PY
  summary+=("latency at $RATE changes/s:$(sed 's/^ *[0-9]* changes://' "$work/lat.summary") (goal p99 <= 20 ms)")
fi

echo; echo "== summary"
printf '  %s\n' "${summary[@]}"
