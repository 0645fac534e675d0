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
