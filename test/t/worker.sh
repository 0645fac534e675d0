#!/usr/bin/env bash
# worker: the background workers of kafka_fdw (this cluster preloads kafka_fdw).
# The launcher runs (pg_stat_activity.backend_type); streams in two databases get a worker each;
# a reload (SIGHUP) keeps them; a worker stopped with pg_terminate_backend comes back by itself;
# a SIGKILLed worker makes the postmaster restart everything, and launcher and workers come back;
# so they do after pg_ctl restart; DROP EXTENSION stops its database's worker; DROP DATABASE
# (without FORCE) is not blocked by a worker or an ingest job's worker; without shared_preload_libraries the API refuses
# with a hint (a second, throwaway cluster).
set -euo pipefail

# shellcheck source=test/t/lib.sh
source "$REPO/test/t/lib.sh"

B=${PG_BIN:+$PG_BIN/}
fail() { echo "FAIL: $*" >&2; echo "--- server log (tail) ---" >&2; tail -30 "${PG_LOG:-/dev/null}" >&2 || true; exit 1; }
# shellcheck disable=SC1090
source "$PG_ENV"   # PG_DATA, PG_LOG of the suite's cluster

pg2_home=$TEST_TMP/pg2
pg2_port=""
cleanup() {
  local d
  for d in wk_a wk_b; do q -d postgres -c "DROP DATABASE IF EXISTS $d WITH (FORCE)" >/dev/null 2>&1 || true; done
  if [ -n "$pg2_port" ]; then PGPORT=$pg2_port PG_HOME=$pg2_home "$PG_SH" stop >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT

# wait_for WHAT SQL EXPECTED [SECONDS]: poll (in database postgres) until SQL prints EXPECTED
wait_for() {
  local what=$1 sql=$2 want=$3 secs=${4:-60} got="" i
  for i in $(seq 1 $((secs * 4))); do
    got=$(q -d postgres -c "$sql" 2>/dev/null || true)
    [ "$got" = "$want" ] && return 0
    sleep 0.25
  done
  fail "$what: waited ${secs} s for '$want', last saw '$got'"
}
workers_sql="SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_stat_activity WHERE backend_type = 'kafka_fdw worker' AND datname LIKE 'wk_%'"
pid_of() { q -d postgres -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'kafka_fdw worker' AND datname = '$1'"; }
launcher_sql="SELECT count(*) || ' ' || min(application_name) FROM pg_stat_activity WHERE backend_type = 'kafka_fdw launcher'"

cleanup
wait_for "launcher" "$launcher_sql" "1 kafka_fdw launcher" 30
echo "ok: the launcher runs (backend_type and application_name 'kafka_fdw launcher')"

# ---- two databases, a worker each ----------------------------------------------------------
for d in wk_a wk_b; do
  q -d postgres -c "CREATE DATABASE $d"
  q -d $d <<SQL
CREATE EXTENSION kafka_fdw;
CREATE SERVER wk_srv FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers '$KAFKA_BROKERS');
CREATE TABLE wk_t (id int PRIMARY KEY, v text);
SELECT kafka.stream_changes('wk_t', 'wk_srv', '${d}_cdc');
SQL
done >/dev/null
wait_for "a worker per database" "$workers_sql" "wk_a,wk_b" 60
got=$(q -d wk_a -c "SELECT kind || ':' || state FROM kafka.workers WHERE kind = 'launcher' OR datname = 'wk_a' ORDER BY kind")
[ "$got" = $'launcher:running\nworker:running' ] || fail "kafka.workers in wk_a: $got"
app=$(q -d postgres -c "SELECT DISTINCT application_name FROM pg_stat_activity WHERE backend_type = 'kafka_fdw worker'")
[ "$app" = "kafka_fdw worker" ] || fail "worker application_name: $app"
echo "ok: streams in two databases: a worker in each (kafka.workers says running)"

# ---- SIGHUP keeps them ---------------------------------------------------------------------
a=$(pid_of wk_a); b=$(pid_of wk_b)
q -d postgres -c "ALTER SYSTEM SET kafka_fdw.naptime = '300ms'" -c "SELECT pg_reload_conf()" >/dev/null
sleep 2
[ "$(pid_of wk_a) $(pid_of wk_b)" = "$a $b" ] || fail "workers changed after a reload: $a $b -> $(pid_of wk_a) $(pid_of wk_b)"
q -d postgres -c "ALTER SYSTEM RESET kafka_fdw.naptime" -c "SELECT pg_reload_conf()" >/dev/null
echo "ok: a reload (SIGHUP) keeps the workers ($a, $b)"

# ---- pg_terminate_backend: restarted by the launcher ----------------------------------------
q -d postgres -c "SELECT pg_terminate_backend($a)" >/dev/null
wait_for "worker of wk_a after pg_terminate_backend" \
  "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'kafka_fdw worker' AND datname = 'wk_a' AND pid <> $a" "1" 60
got=$(q -d wk_a -c "SELECT restarts || ' ' || last_error || ' ' || (last_error_at IS NOT NULL) FROM kafka.workers WHERE datname = 'wk_a'")
[ "$got" = '1 terminating background worker "kafka_fdw worker" due to administrator command true' ] || fail "kafka.workers restarts/last_error of wk_a: $got"
echo "ok: a terminated worker came back by itself (pid $a -> $(pid_of wk_a)); kafka.workers: restarts = 1, last_error says why"

# ---- SIGKILL: the postmaster restarts all; launcher and workers come back --------------------
a=$(pid_of wk_a); l=$(q -d postgres -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'kafka_fdw launcher'")
kill -KILL "$a"
wait_for "launcher after SIGKILL of a worker" \
  "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'kafka_fdw launcher' AND pid <> $l" "1" 90
wait_for "workers after SIGKILL of a worker" "$workers_sql" "wk_a,wk_b" 90
echo "ok: SIGKILL of worker $a: crash restart, launcher ($l -> new) and both workers came back by themselves"

# ---- pg_ctl restart -------------------------------------------------------------------------
a=$(pid_of wk_a)
read -r -a pg_env_extra <<< "${PG_ENV_EXTRA:-}"   # scripts/asan.sh: LD_PRELOAD of libasan
(cd / && runuser -u postgres -- env "${pg_env_extra[@]+"${pg_env_extra[@]}"}" "${B}pg_ctl" restart -D "$PG_DATA" -m fast -w -t 120 -l "$PG_LOG" >/dev/null)
wait_for "workers after pg_ctl restart" "$workers_sql" "wk_a,wk_b" 90
[ "$(pid_of wk_a)" != "$a" ] || fail "the worker of wk_a has its old pid after a restart"
echo "ok: pg_ctl restart: both workers came back"

# ---- DROP EXTENSION stops the worker of its database -----------------------------------------
q -d wk_b -c "DROP EXTENSION kafka_fdw CASCADE" 2>/dev/null
wait_for "worker of wk_b after DROP EXTENSION" "$workers_sql" "wk_a" 30
sleep 2
[ "$(q -d postgres -c "$workers_sql")" = "wk_a" ] || fail "a worker for wk_b came back after DROP EXTENSION"
echo "ok: DROP EXTENSION in wk_b stopped its worker; wk_a's runs on"

# ---- DROP DATABASE is not blocked by the worker, nor by an ingest job's worker -------------
q -d wk_a <<SQL >/dev/null
SELECT kafka_create_topic('wk_srv', 'wk_a_in', 1);
CREATE FOREIGN TABLE wk_in (id int) SERVER wk_srv OPTIONS (topic 'wk_a_in', format 'json');
CREATE TABLE wk_landed (id int);
SELECT kafka.ingest('wk_in', 'wk_landed');
INSERT INTO wk_in VALUES (1), (2);
SQL
wait_for "an ingest job's worker in wk_a" "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'kafka_fdw ingest' AND datname = 'wk_a'" "1" 30
[ -n "$(pid_of wk_a)" ] || fail "no worker in wk_a before DROP DATABASE"
oid_a=$(q -d postgres -c "SELECT oid FROM pg_database WHERE datname = 'wk_a'")
q -d postgres -c "DROP DATABASE wk_a" || fail "DROP DATABASE wk_a failed while its worker ran"
# (other databases of the suite's cluster may have streams and workers of their own)
wait_for "no worker of wk_a after DROP DATABASE" "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'kafka_fdw worker' AND datid = $oid_a" "0" 30
wait_for "no ingest worker of wk_a after DROP DATABASE" "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'kafka_fdw ingest' AND datid = $oid_a" "0" 30
echo "ok: DROP DATABASE (without FORCE) with a running worker and an ingest job succeeded; the workers left"

# ---- without shared_preload_libraries: a clear error with a hint ---------------------------
for p in $(seq $((PGPORT + 20)) $((PGPORT + 60))); do
  if ! "${B}pg_isready" -q -h 127.0.0.1 -p "$p" 2>/dev/null && ! ss -ltn 2>/dev/null | grep -q ":$p "; then pg2_port=$p; break; fi
done
[ -n "$pg2_port" ] || fail "no free port for the second cluster"
PGPORT=$pg2_port PG_HOME=$pg2_home PG_PRELOAD='' PG_EXTRA_CONF='' "$PG_SH" start >/dev/null
out=$(
  # shellcheck disable=SC1091
  source "$pg2_home/env"
  q -d postgres <<'SQL' 2>&1 || true
\set VERBOSITY default
CREATE EXTENSION kafka_fdw;
CREATE SERVER s FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers '127.0.0.1:1');
CREATE TABLE t (id int PRIMARY KEY);
SELECT count(*) AS worker_rows FROM kafka.workers;
SELECT kafka.stream_changes('t', 's', 'x');
SQL
)
echo "$out" | sed 's/^/    /'
[[ "$out" == *"ERROR:  kafka_fdw background workers are not running"* ]] || fail "no error without preloading"
[[ "$out" == *"HINT:  Add kafka_fdw to shared_preload_libraries"* ]] || fail "no hint without preloading"
[[ "$(echo "$out" | head -1)" == "0" ]] || fail "kafka.workers not empty without preloading"
echo "ok: without shared_preload_libraries, kafka.stream_changes refuses with a hint"
