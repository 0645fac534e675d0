#!/usr/bin/env bash
# A throwaway PostgreSQL 15 cluster for kafka_fdw tests and the demo.
#
#   scripts/pg.sh start        initdb (as the 'postgres' OS user) + start, wait until pg_isready
#   scripts/pg.sh stop         pg_ctl stop -m fast, then remove the cluster (no-op if not there)
#   scripts/pg.sh status       exit 0 if the cluster answers
#   scripts/pg.sh psql [ARGS]  psql into the cluster as PGUSER=postgres
#   scripts/pg.sh env          print the connection environment
#
# Environment: PGPORT (default 55432), PG_HOME (default $REPO/.tmp/pg),
#   PG_PRELOAD (shared_preload_libraries, default kafka_fdw; set PG_PRELOAD='' before the .so exists),
#   PG_BIN (default /usr/lib/postgresql/15/bin), PG_EXTRA_CONF (extra postgresql.conf lines),
#   PG_ENV_EXTRA (VAR=value words added to the server's environment, e.g. LD_PRELOAD and
#   ASAN_OPTIONS for scripts/asan.sh; only pg_ctl start and the server get them).
#
# After 'start', "$PG_HOME/env" holds `export PGHOST=... PGPORT=... PGUSER=postgres PGDATABASE=postgres`
# for other scripts to `source`.
#
# Where the cluster lives: everything is run as root but initdb/postgres refuse root, so the
# cluster runs as 'postgres'. That user must be able to traverse every directory above the data
# dir. If it can reach $PG_HOME, the cluster goes to $PG_HOME/cluster; otherwise (e.g. the repo
# is under a 0700 /root) it goes to /tmp/kafka_fdw_pg.$PGPORT. The same fallback is used when the
# unix socket path would exceed the ~107-byte sun_path limit. $PG_HOME/env records the choice.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
PGPORT=${PGPORT:-55432}
PG_HOME=${PG_HOME:-$repo/.tmp/pg}
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
PG_PRELOAD=${PG_PRELOAD-kafka_fdw}
PG_EXTRA_CONF=${PG_EXTRA_CONF:-}
read -r -a pg_env_extra <<< "${PG_ENV_EXTRA:-}"
envfile=$PG_HOME/env
fallback_base=/tmp/kafka_fdw_pg.$PGPORT

log() { echo "pg.sh: $*"; }
die() { echo "pg.sh: $*" >&2; exit 1; }

# Run a command as the postgres OS user, from a directory it can certainly enter.
as_pg() {
  if command -v runuser >/dev/null 2>&1; then
    (cd / && runuser -u postgres -- "$@")
  else
    (cd / && su postgres -s /bin/sh -c "$(printf '%q ' "$@")")
  fi
}

# Decide where the postgres-owned cluster directory goes (prints the path).
choose_base() {
  local base=$PG_HOME/cluster
  mkdir -p "$PG_HOME"
  chmod 755 "$PG_HOME" 2>/dev/null || true   # our own dir: make sure umask 077 does not lock postgres out
  if ! as_pg test -x "$PG_HOME" 2>/dev/null; then
    base=$fallback_base
  elif [ $(( ${#base} + ${#PGPORT} + 16 )) -gt 100 ]; then   # "$base/sock/.s.PGSQL.$PGPORT"
    base=$fallback_base
  fi
  echo "$base"
}

# Bases that might hold a cluster from an earlier (possibly aborted) run.
known_bases() {
  if [ -f "$envfile" ]; then sed -n 's/^export PG_BASE=//p' "$envfile" | tr -d "'\""; fi
  echo "$PG_HOME/cluster"
  echo "$fallback_base"
}

stop_base() {
  local base=$1 data=$1/data
  [ -d "$base" ] || return 0
  if [ -f "$data/postmaster.pid" ]; then
    as_pg "$PG_BIN/pg_ctl" stop -D "$data" -m fast -w -t 60 >/dev/null 2>&1 || true
    if [ -f "$data/postmaster.pid" ]; then
      # pg_ctl could not stop it (e.g. data dir half-removed): fall back to the pid in postmaster.pid.
      local pid; pid=$(head -1 "$data/postmaster.pid" 2>/dev/null || true)
      if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -QUIT "$pid" 2>/dev/null || true
        sleep 1
        kill -9 "$pid" 2>/dev/null || true
      fi
    fi
    log "stopped cluster in $base"
  fi
  rm -rf "$base"
}

stop() {
  local b
  while read -r b; do
    [ -n "$b" ] && stop_base "$b"
  done < <(known_bases | awk '!seen[$0]++')
  rm -f "$envfile"
}

start() {
  [ -x "$PG_BIN/initdb" ] || die "$PG_BIN/initdb not found (run scripts/install-deps.sh)"
  id postgres >/dev/null 2>&1 || die "OS user 'postgres' does not exist (run scripts/install-deps.sh)"
  stop   # anything stale from an earlier run of this PG_HOME/PGPORT
  if "$PG_BIN/pg_isready" -q -U postgres -h 127.0.0.1 -p "$PGPORT" 2>/dev/null; then
    die "something already listens on 127.0.0.1:$PGPORT; choose another PGPORT"
  fi

  local base; base=$(choose_base)
  local data=$base/data sock=$base/sock logfile=$base/postgresql.log
  rm -rf "$base"
  mkdir -p "$data" "$sock"
  chmod 755 "$base"
  chmod 700 "$data"
  chown -R postgres:postgres "$base"
  [ "$base" = "$fallback_base" ] && log "postgres cannot use $PG_HOME (permissions or socket path length); cluster is in $base"

  if ! as_pg "$PG_BIN/initdb" -D "$data" -U postgres -A trust -E UTF8 --locale=C --no-sync \
        > "$base/initdb.log" 2>&1; then
    cat "$base/initdb.log" >&2
    die "initdb failed"
  fi

  cat >> "$data/postgresql.conf" <<CONF

# --- kafka_fdw throwaway cluster (scripts/pg.sh) ---
port = $PGPORT
listen_addresses = '127.0.0.1'
unix_socket_directories = '$sock'
shared_preload_libraries = '$PG_PRELOAD'
fsync = off
synchronous_commit = off
full_page_writes = off
max_worker_processes = 16
max_parallel_workers = 8
max_parallel_workers_per_gather = 2
logging_collector = off
log_line_prefix = '%m [%p] %q%u@%d '
log_min_messages = warning
lc_messages = 'C'
CONF
  if [ -n "$PG_EXTRA_CONF" ]; then printf '%s\n' "$PG_EXTRA_CONF" >> "$data/postgresql.conf"; fi

  # the port is in the kernel's ephemeral range: a client's connection (to the broker) may hold it
  # as its local port for a moment, or in TIME_WAIT; then try again
  local try started=0
  for try in 1 2 3 4 5; do
    if as_pg env "${pg_env_extra[@]+"${pg_env_extra[@]}"}" "$PG_BIN/pg_ctl" start -D "$data" -l "$logfile" -w -t 60 >/dev/null 2>&1; then
      started=1
      break
    fi
    grep -q 'could not bind' "$logfile" 2>/dev/null || break
    echo "pg.sh: port $PGPORT is in use (attempt $try), trying again in 5 s" >&2
    sleep 5
  done
  if [ "$started" != 1 ]; then
    echo "pg.sh: server did not start; server log ($logfile):" >&2
    cat "$logfile" >&2 2>/dev/null || true
    stop_base "$base" >/dev/null 2>&1 || true
    exit 1
  fi
  local i
  for i in $(seq 1 60); do
    if "$PG_BIN/pg_isready" -q -U postgres -h "$sock" -p "$PGPORT"; then break; fi
    if [ "$i" -eq 60 ]; then
      echo "pg.sh: server not ready after 30 s; server log ($logfile):" >&2
      cat "$logfile" >&2 || true
      stop_base "$base" >/dev/null 2>&1 || true
      exit 1
    fi
    sleep 0.5
  done

  cat > "$envfile" <<ENV
# source me: connection settings for the kafka_fdw throwaway cluster (written by scripts/pg.sh)
export PGHOST='$sock'
export PGPORT='$PGPORT'
export PGUSER='postgres'
export PGDATABASE='postgres'
export PG_BASE='$base'
export PG_DATA='$data'
export PG_LOG='$logfile'
ENV
  log "PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') ready on 127.0.0.1:$PGPORT and socket $sock (log $logfile)"
  log "connect with: source $envfile && psql   (or: scripts/pg.sh psql)"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status)
    [ -f "$envfile" ] || { echo "stopped"; exit 1; }
    # shellcheck disable=SC1090
    source "$envfile"
    if "$PG_BIN/pg_isready" -q; then echo "running"; else echo "stopped"; exit 1; fi ;;
  env)
    [ -f "$envfile" ] || die "no cluster (run: $0 start)"
    grep '^export' "$envfile" ;;
  psql)
    shift
    [ -f "$envfile" ] || die "no cluster (run: $0 start)"
    # shellcheck disable=SC1090
    source "$envfile"
    exec "$PG_BIN/psql" "$@" ;;
  *) echo "usage: $0 start|stop|status|env|psql [psql args]" >&2; exit 2 ;;
esac
