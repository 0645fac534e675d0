#!/usr/bin/env bash
# Avro benchmark (a benchmark, not a test: it prints, it never fails on a missed goal).
#
# The same MESSAGES page views (6 fields: 3 strings, an int, 2 longs; nullable columns, so the
# Avro schema has unions as the derived schema makes them) are written by INSERT ... SELECT
# into three topics of PARTITIONS partitions:
#   json        format 'json'                               (~140 B a message)
#   avro        format 'avro', the derived schema inline    (plain Avro binary, ~60 B)
#   avro_reg    format 'avro' on a server with a schema registry (Confluent wire format:
#               0x00, the schema id, Avro binary), with REGISTRY=1 (default; 0 skips it)
# Then, N rounds each, interleaved round by round so that drift and noise hit them alike:
#   kcat_json / kcat_avro   kcat -C of the topic, value only, as fast as kcat gets
#                           (-X fetch.wait.max.ms=10 -X queued.min.messages=10000000, the
#                           "kcat_best" of bench/read.sh)                  <- the baselines
#   scan_json / scan_avro / scan_avro_reg
#                           SELECT decoding the 6 columns, filtered and aggregated (serial)
#   ins_json / ins_avro / ins_avro_reg
#                           INSERT ... SELECT of INSERT_ROWS rows into a fresh topic (confirmed by
#                           the broker before the statement returns)
# Every query runs in a fresh psql, timed by the wall clock around it, like kcat (a fresh
# process that connects, reads metadata and fetches). The answers of the three scans must be
# equal (else the timings are meaningless and it says so). Prints medians and ratios; the goal
# of issue 9: Avro decode no slower than JSON decode (scan_avro / scan_json <= 1.0).
#
# Starts its own Kafka (scripts/kafka.sh), PostgreSQL (scripts/pg.sh) and, with REGISTRY=1,
# schema registry (scripts/registry.sh), builds and installs kafka_fdw with $PG_BIN/pg_config,
# and stops them on every exit path.
#
# Environment:
#   PG_BIN          PostgreSQL bin directory (default /usr/lib/postgresql/15/bin); make install
#                   writes into its pkglibdir: use a private PostgreSQL copy when others share the machine
#   N               rounds (default 5)
#   MESSAGES        messages of the scanned topics (default 1000000)
#   INSERT_ROWS     rows of each timed INSERT (default 200000)
#   PARTITIONS      partitions of every topic (default 4)
#   REGISTRY        1 (default): also the registry wire format; 0: inline schema only
#   BENCH_KAFKA_PORT  Kafka port (default 29392; the controller listens on BENCH_KAFKA_PORT+1)
#   BENCH_PGPORT    PostgreSQL port (default 55932)
#   BENCH_REGISTRY_PORT  registry port (default 28081; its management port is the next one)
#   SKIP_BUILD=1    do not build and install
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
REPO=$(dirname "$here")
# shellcheck source=bench/lib.sh
source "$here/lib.sh"
cd "$REPO"

N=${N:-5}
MESSAGES=${MESSAGES:-1000000}
INSERT_ROWS=${INSERT_ROWS:-200000}
PARTITIONS=${PARTITIONS:-4}
REGISTRY=${REGISTRY:-1}
export KAFKA_PORT=${BENCH_KAFKA_PORT:-29392}
export KAFKA_CONTROLLER_PORT=$((KAFKA_PORT + 1)) KAFKA_HOME=$REPO/.tmp/kafka-bench-avro
export PGPORT=${BENCH_PGPORT:-55932} PG_HOME=$REPO/.tmp/pg-bench-avro
export REGISTRY_PORT=${BENCH_REGISTRY_PORT:-28081} REGISTRY_HOME=$REPO/.tmp/registry-bench
export PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
export PG_CONFIG=$PG_BIN/pg_config
BROKERS=127.0.0.1:$KAFKA_PORT
work=$REPO/.tmp/bench-avro
mkdir -p "$work"

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  set +e
  "$REPO/scripts/pg.sh" stop >/dev/null
  "$REPO/scripts/kafka.sh" stop >/dev/null
  [ "$REGISTRY" = 1 ] && "$REPO/scripts/registry.sh" stop >/dev/null
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- build, install, services --------------------------------------------------------------
if [ "${SKIP_BUILD:-}" != "1" ]; then
  log "building and installing into $("$PG_CONFIG" --pkglibdir)"
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
reg_server=""
if [ "$REGISTRY" = 1 ]; then
  "$REPO/scripts/registry.sh" start >&2
  # shellcheck disable=SC1091
  source "$REGISTRY_HOME/registry.env"
  reg_server="CREATE SERVER kreg FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers '$BROKERS', schema_registry '$SCHEMA_REGISTRY_URL');"
fi
# shellcheck disable=SC1091
source "$PG_HOME/env"
PSQL=("$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1)

COLS="session_id text, property_id int, loyalty_id bigint, view_type text, origin text, ts bigint"
# deterministic rows like bench/read.sh's page views
ROWS_SQL="SELECT lpad(to_hex((g * 2654435761) % 4294967295), 8, '0') || '3gu' || lpad((g % 1000)::text, 3, '0') || '-' || lpad((g % 1000000)::text, 6, '0'),
   1 + (g * 7919) % 9999, 1000000 + (g * 104729) % 9000000,
   (ARRAY['propertyView','search','booking','gallery','review'])[1 + g % 5],
   (ARRAY['promotion','direct','email','partner','social'])[1 + (g / 5) % 5], 1413215458 + g
 FROM generate_series(1::bigint, @N@) g"
kinds_fmt=(json avro)
[ "$REGISTRY" = 1 ] && kinds_fmt+=(avro_reg)

table_sql() {   # table_sql FMT NAME TOPIC: the CREATE FOREIGN TABLE of one format
  case $1 in
    json) echo "CREATE FOREIGN TABLE $2 ($COLS) SERVER kafka OPTIONS (topic '$3', format 'json');" ;;
    avro) echo "CREATE FOREIGN TABLE $2 ($COLS) SERVER kafka OPTIONS (topic '$3', format 'avro');" ;;
    avro_reg) echo "CREATE FOREIGN TABLE $2 ($COLS) SERVER kreg OPTIONS (topic '$3', format 'avro');" ;;
  esac
}

"${PSQL[@]}" <<SQL
CREATE EXTENSION kafka_fdw;
CREATE SERVER kafka FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers '$BROKERS');
$reg_server
SQL
for f in "${kinds_fmt[@]}"; do
  "${PSQL[@]}" -c "SELECT kafka_create_topic('kafka', 'bench_$f', $PARTITIONS)" -c "$(table_sql "$f" "views_$f" "bench_$f")" >/dev/null
done

# ---- data ----------------------------------------------------------------------------------
for f in "${kinds_fmt[@]}"; do
  t0=$(date +%s%N)
  "${PSQL[@]}" -c "INSERT INTO views_$f ${ROWS_SQL//@N@/$MESSAGES}"
  have=$("${PSQL[@]}" -At -c "SELECT sum(high - low) FROM kafka_watermarks('views_$f')")
  bytes=$(kcat -C -b "$BROKERS" -t "bench_$f" -e -q -o beginning -f '%S\n' | awk '{ s += $1 } END { print s }')
  log "bench_$f: $have messages, avg value $((bytes / MESSAGES)) B, written in $(( ($(date +%s%N) - t0) / 1000000 )) ms"
  [ "$have" -eq "$MESSAGES" ] || { echo "bench: bench_$f holds $have messages, expected $MESSAGES" >&2; exit 1; }
  echo "$((bytes / MESSAGES))" > "$work/avg_$f"
done

Q="SELECT count(*), sum(loyalty_id), max(session_id), min(origin), sum(ts), count(*) FILTER (WHERE view_type = 'propertyView') FROM @T@ WHERE property_id > 100"
SERIAL="SET max_parallel_workers_per_gather = 0"
answers=()
for f in "${kinds_fmt[@]}"; do
  a=$("${PSQL[@]}" -At -c "$SERIAL" -c "${Q//@T@/views_$f}")
  answers+=("$a")
  echo "== answer of views_$f: $a"
done
wrong=0
for a in "${answers[@]}"; do [ "$a" = "${answers[0]}" ] || wrong=1; done
[ "$wrong" = 0 ] || echo "bench: WRONG ANSWER: the scans differ; timings are meaningless" >&2

# ---- timings -------------------------------------------------------------------------------
time_kcat() {   # time_kcat NAME TOPIC
  local t0 t1 n
  t0=$(date +%s%N)
  n=$(kcat -C -b "$BROKERS" -t "$2" -e -q -o beginning -f '%s' \
        -X fetch.wait.max.ms=10 -X queued.min.messages=10000000 | wc -c)
  t1=$(date +%s%N)
  [ "$n" -gt 0 ] || log "WARNING: kcat read nothing from $2"
  echo $(( (t1 - t0) / 1000000 )) >> "$work/$1.wall"
}
time_sql() {   # time_sql NAME SQL...
  local name=$1 t0 t1; shift
  t0=$(date +%s%N)
  "${PSQL[@]}" -At "$@" >/dev/null
  t1=$(date +%s%N)
  echo $(( (t1 - t0) / 1000000 )) >> "$work/$name.wall"
}
kinds=(kcat_json kcat_avro)
for f in "${kinds_fmt[@]}"; do kinds+=("scan_$f"); done
for f in "${kinds_fmt[@]}"; do kinds+=("ins_$f"); done
for k in "${kinds[@]}"; do rm -f "$work/$k.wall"; done
log "timing $N rounds of: ${kinds[*]}"
for r in $(seq 1 "$N"); do
  time_kcat kcat_json bench_json
  time_kcat kcat_avro bench_avro
  for f in "${kinds_fmt[@]}"; do
    time_sql "scan_$f" -c "$SERIAL" -c "${Q//@T@/views_$f}"
  done
  for f in "${kinds_fmt[@]}"; do
    srv=kafka; [ "$f" = avro_reg ] && srv=kreg
    "${PSQL[@]}" -c "SELECT kafka_create_topic('$srv', 'ins_${f}_$r', $PARTITIONS)" \
      -c "$(table_sql "$f" "ins_${f}_$r" "ins_${f}_$r")" >/dev/null
    time_sql "ins_$f" -c "INSERT INTO ins_${f}_$r ${ROWS_SQL//@N@/$INSERT_ROWS}"
  done
  log "round $r: $(for k in "${kinds[@]}"; do printf '%s=%sms ' "$k" "$(tail -1 "$work/$k.wall")"; done)"
done

# ---- report --------------------------------------------------------------------------------
declare -A med
echo
echo "== kafka_fdw Avro benchmark: $MESSAGES messages (avg value: json $(cat "$work/avg_json") B, avro $(cat "$work/avg_avro") B)," \
     "$PARTITIONS partitions, INSERT $INSERT_ROWS rows, $(nproc) CPUs, N=$N"
printf '%-14s %10s %14s\n' what "median ms" "range ms"
# shellcheck disable=SC2046   # the files hold one number a line
for k in "${kinds[@]}"; do
  med[$k]=$(median $(<"$work/$k.wall"))
  printf '%-14s %10s %14s\n' "$k" "${med[$k]}" "$(minmax $(<"$work/$k.wall"))"
done
echo
printf '%-44s %8s %8s  %s\n' measure ratio goal verdict
r=$(ratio "${med[scan_avro]}" "${med[scan_json]}")
printf '%-44s %8s %8s  %s\n' "Avro scan / JSON scan (inline schema)" "$r" "<= 1.0" "$(verdict "$r" "<=" 1.0)"
if [ "$REGISTRY" = 1 ]; then
  r=$(ratio "${med[scan_avro_reg]}" "${med[scan_json]}")
  printf '%-44s %8s %8s  %s\n' "Avro scan / JSON scan (registry wire format)" "$r" "<= 1.0" "$(verdict "$r" "<=" 1.0)"
fi
printf '%-44s %8s %8s\n' "Avro scan / kcat -C of the Avro topic" "$(ratio "${med[scan_avro]}" "${med[kcat_avro]}")" "-"
printf '%-44s %8s %8s\n' "JSON scan / kcat -C of the JSON topic" "$(ratio "${med[scan_json]}" "${med[kcat_json]}")" "-"
printf '%-44s %8s %8s\n' "Avro INSERT / JSON INSERT (inline schema)" "$(ratio "${med[ins_avro]}" "${med[ins_json]}")" "-"
[ "$REGISTRY" = 1 ] && printf '%-44s %8s %8s\n' "Avro INSERT / JSON INSERT (registry)" "$(ratio "${med[ins_avro_reg]}" "${med[ins_json]}")" "-"
echo "(wall ms of a fresh process each: connect + plan + scan or write)"
