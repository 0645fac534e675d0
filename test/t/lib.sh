# Helpers shared by the scripted tests (sourced, not run: not executable, so scripts/test.sh
# does not take it for a test). A test sources it first,
#   source "$REPO/test/t/lib.sh"
# and defines after it what it does differently (a q on its own database, a fail that shows
# more); emitter_lib.sh and ingest_lib.sh source it too.

# psql of the suite's PostgreSQL (PG_BIN), or the one on PATH
PSQL=${PG_BIN:+$PG_BIN/}psql

# psql ARGS...: psql without psqlrc, quiet, stopping at the first error
psql() { "${PG_BIN:-/usr/lib/postgresql/15/bin}/psql" -X -q -v ON_ERROR_STOP=1 "$@"; }

# q ARGS...: the same, printing bare values (unaligned, tuples only)
q() { "$PSQL" -X -q -At -v ON_ERROR_STOP=1 "$@"; }

# fail MESSAGE: say what failed and end the test
fail() { echo "FAIL: $*" >&2; exit 1; }

# now_ms: the time in milliseconds since the epoch
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# resume: let the broker a test stalled with kill -STOP "$kpid" run again (exit traps call it)
resume() { kill -CONT "$kpid" 2>/dev/null || true; }

# as_pg CMD...: run CMD as the cluster's owner, from / (pg_ctl, postgres)
as_pg() { (cd / && runuser -u postgres -- "$@"); }

# dump TOPIC: what TOPIC holds as kcat reads it, one "partition offset x" line per message
# {"x":N} (the messages of the parallel scan tests)
dump() { kcat -b "$KAFKA_BROKERS" -C -t "$1" -o beginning -e -q -f '%p %o %s\n' | sed 's/{"x":\([0-9]*\)}/\1/'; }

# scratch_topics SERVER TOPIC:PARTITIONS...: create the extension, a server SERVER on the suite's
# broker and the topics; at exit (a trap on EXIT) delete the topics and drop the server with
# everything on it (a test's large topics would slow the tests after it down)
scratch_topics() {
  local server=$1 t sql=""; shift
  SCRATCH_SERVER=$server SCRATCH_TOPICS=()
  for t in "$@"; do
    SCRATCH_TOPICS+=("${t%%:*}")
    sql+="SELECT kafka_create_topic('$server', '${t%%:*}', ${t##*:});"
  done
  trap scratch_cleanup EXIT
  q -c "CREATE EXTENSION IF NOT EXISTS kafka_fdw" \
    -c "CREATE SERVER $server FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers '$KAFKA_BROKERS')" \
    -c "$sql" >/dev/null
}
scratch_cleanup() {
  local t
  for t in "${SCRATCH_TOPICS[@]}"; do
    q -c "SELECT kafka_delete_topic('$SCRATCH_SERVER', '$t')" >/dev/null 2>&1 || true
  done
  q -c "DROP SERVER IF EXISTS $SCRATCH_SERVER CASCADE" >/dev/null 2>&1 || true
}

# Settings for a serial plan, and for a parallel one with 2 workers (parallelism made free)
SERIAL="SET max_parallel_workers_per_gather = 0"
PAR="SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0; SET max_parallel_workers_per_gather = 2"

# same_serial_parallel NAME QUERY WANT: QUERY prints WANT with a serial plan and with a parallel one
same_serial_parallel() {
  local got
  got=$(q -c "$SERIAL" -c "$2")
  [ "$got" = "$3" ] || fail "$1 serial: $got, expected $3"
  got=$(q -c "$PAR" -c "$2")
  [ "$got" = "$3" ] || fail "$1 parallel: $got, expected $3"
  echo "ok: $1 serial and parallel: $got"
}
