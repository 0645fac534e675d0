#!/usr/bin/env bash
# kafka_fdw demo: deps, build + install, a real Kafka broker on 127.0.0.1:9092 and a throwaway
# PostgreSQL 15 on port 55433, then `psql -v ON_ERROR_STOP=1 -f scripts/demo.sql`.
# Both services are stopped on every exit path, unless KEEP=1 (then it prints how to connect).
#
# Environment: KEEP=1 (leave services running), KAFKA_VERSION, KAFKA_PORT (default 9092),
#   DEMO_PGPORT (default 55433).
# demo.sql gets psql variables :brokers (e.g. 127.0.0.1:9092) and env KAFKA_BROKERS.
# If scripts/demo-setup.sh exists it runs first (same env), e.g. to seed topics with kcat.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
REPO=$(dirname "$here")
cd "$REPO"

export KAFKA_PORT=${KAFKA_PORT:-9092}
export KAFKA_CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-$((KAFKA_PORT + 1))}
export KAFKA_HOME=${KAFKA_HOME:-$REPO/.tmp/kafka}
export PGPORT=${DEMO_PGPORT:-55433} PG_HOME=$REPO/.tmp/pg-demo
export PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
export KAFKA_BROKERS=127.0.0.1:$KAFKA_PORT
[ -n "${KAFKA_VERSION:-}" ] && export KAFKA_VERSION
KEEP=${KEEP:-0}
started=0

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  set +e
  if [ "$started" -eq 1 ]; then
    if [ "$KEEP" = "1" ] && [ "$rc" -eq 0 ]; then
      echo
      echo "demo.sh: KEEP=1 - Kafka ($KAFKA_BROKERS) and PostgreSQL (port $PGPORT) are still running."
      echo "  connect:  PGPORT=$PGPORT PG_HOME=$PG_HOME scripts/pg.sh psql"
      echo "       or:  source $PG_HOME/env && psql"
      echo "  kafka:    kcat -b $KAFKA_BROKERS -L"
      echo "  stop:     PGPORT=$PGPORT PG_HOME=$PG_HOME scripts/pg.sh stop; KAFKA_HOME=$KAFKA_HOME scripts/kafka.sh stop"
    else
      [ "$KEEP" = "1" ] && echo "demo.sh: failed (exit $rc); stopping services despite KEEP=1" >&2
      "$REPO/scripts/pg.sh" stop
      "$REPO/scripts/kafka.sh" stop
    fi
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

bash "$REPO/scripts/install-deps.sh"
make -j"$(nproc)" PG_CONFIG="$PG_CONFIG"
# scripts of an earlier install that this tree no longer ships (a kafka_fdw--1.1.sql) would
# shadow the 1.0 -> 1.1 update path that CREATE EXTENSION takes
rm -f "$("$PG_CONFIG" --sharedir)/extension/"kafka_fdw--*.sql
make install PG_CONFIG="$PG_CONFIG" >/dev/null

if [ ! -f "$REPO/scripts/demo.sql" ]; then
  echo "demo.sh: scripts/demo.sql missing; writing a placeholder"
  echo 'CREATE EXTENSION kafka_fdw;' > "$REPO/scripts/demo.sql"
fi

started=1
"$REPO/scripts/pg.sh" stop        # leftovers from an earlier run (pid files)
"$REPO/scripts/kafka.sh" stop
"$REPO/scripts/kafka.sh" start
"$REPO/scripts/pg.sh" start
# shellcheck disable=SC1091
source "$PG_HOME/env"

if [ -x "$REPO/scripts/demo-setup.sh" ]; then "$REPO/scripts/demo-setup.sh"; fi

echo
echo "==> psql -f scripts/demo.sql"
/usr/lib/postgresql/15/bin/psql -X -v ON_ERROR_STOP=1 -v brokers="$KAFKA_BROKERS" -f "$REPO/scripts/demo.sql"
echo
echo "demo.sh: demo finished OK"
