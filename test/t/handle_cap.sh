#!/usr/bin/env bash
# Bounded resources per backend (kafka_fdw.max_handles): a non-superuser who owns a server
# changes its options 200 times in one session, scanning a table after each change. Every
# change makes new librdkafka handles (a consumer and a metadata handle); without a cap the
# backend kept them all (8 threads and ~18 file descriptors each: 1,600 threads after 200
# changes). The test samples the backend's thread and fd counts from /proc while the session
# runs and asserts they stay within a bound derived from the cap (a resource bound, not a
# timing one), and that all 200 scans returned the right rows.
set -euo pipefail

# shellcheck source=test/t/lib.sh
source "$REPO/test/t/lib.sh"

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
N=200

cap=$(psql -At -c "SHOW kafka_fdw.max_handles")
echo "kafka_fdw.max_handles = $cap"

psql <<SQL
CREATE EXTENSION IF NOT EXISTS kafka_fdw;
DO \$\$ BEGIN
  IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'hc_user') THEN DROP OWNED BY hc_user; DROP ROLE hc_user; END IF;
END \$\$;
DROP SERVER IF EXISTS hc_admin CASCADE;
CREATE ROLE hc_user LOGIN;
GRANT USAGE ON FOREIGN DATA WRAPPER kafka_fdw TO hc_user;
CREATE SCHEMA hc AUTHORIZATION hc_user;
CREATE SERVER hc_admin FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers '$KAFKA_BROKERS');
SELECT kafka_create_topic('hc_admin', 't_handle_cap_$$', 2);
CREATE FOREIGN TABLE hc.w (id int) SERVER hc_admin OPTIONS (topic 't_handle_cap_$$');
INSERT INTO hc.w SELECT g FROM generate_series(1, 10) g;
DROP FOREIGN TABLE hc.w;
SQL

# The user's own server and table; then N x (change an option, scan) in ONE session.
psql -U hc_user <<SQL
CREATE SERVER hc_srv FOREIGN DATA WRAPPER kafka_fdw
  OPTIONS (brokers '$KAFKA_BROKERS', "client.id" 'c0', timeout_ms '20000');
CREATE USER MAPPING FOR hc_user SERVER hc_srv;
CREATE FOREIGN TABLE hc.t (id int) SERVER hc_srv OPTIONS (topic 't_handle_cap_$$');
SQL

script=$TEST_TMP/session.sql
{
  echo "SELECT 'pid=' || pg_backend_pid();"
  for i in $(seq 1 $N); do
    echo "ALTER SERVER hc_srv OPTIONS (SET \"client.id\" 'c$i');"
    echo "SELECT 'scan $i: ' || count(*) || ' ' || sum(id) FROM hc.t;"
  done
  echo "SELECT 'done';"
  echo "SELECT pg_sleep(120);"
} > "$script"

out=$TEST_TMP/session.out
"$PG_BIN/psql" -X -q -At -U hc_user -f "$script" > "$out" 2>&1 &
spid=$!
cleanup() { kill "$spid" 2>/dev/null || true; }
trap cleanup EXIT

pid=""
for _ in $(seq 1 100); do
  pid=$(sed -n 's/^pid=//p' "$out" | head -1)
  [ -n "$pid" ] && break
  sleep 0.1
done
[ -n "$pid" ] || { echo "FAIL: no backend pid"; cat "$out"; exit 1; }
echo "backend pid $pid"

# Sample while the session runs, until it reports done (or psql exits on an error).
max_thr=0 max_fd=0
sample() {
  local thr fd
  thr=$(awk '/^Threads:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || echo 0)
  fd=$(ls "/proc/$pid/fd" 2>/dev/null | wc -l)
  [ "${thr:-0}" -gt "$max_thr" ] && max_thr=$thr
  [ "${fd:-0}" -gt "$max_fd" ] && max_fd=$fd
  return 0
}
while kill -0 "$spid" 2>/dev/null && ! grep -q '^done$' "$out"; do
  sample
  sleep 0.2
done
sample
sleep 1
sample
final_thr=$(awk '/^Threads:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || echo "?")
final_fd=$(ls "/proc/$pid/fd" 2>/dev/null | wc -l)
psql -c "SELECT pg_terminate_backend($pid)" >/dev/null || true
wait "$spid" 2>/dev/null || true
trap - EXIT

echo "threads: max $max_thr, at the end $final_thr; fds: max $max_fd, at the end $final_fd"

ok=$(grep -c '^scan [0-9]*: 10 55$' "$out" || true)
echo "$ok of $N scans returned 10 rows with sum 55"
if [ "$ok" != "$N" ]; then
  grep -v '^scan [0-9]*: 10 55$' "$out" | head -20
  echo "FAIL: not every scan returned the right rows"; exit 1
fi
grep -q '^done$' "$out" || { echo "FAIL: session did not finish"; exit 1; }

# Each handle has about 8 threads and 18 fds; a backend without handles has 1 thread, ~10 fds.
bound_thr=$((cap * 10 + 30))
bound_fd=$((cap * 24 + 60))
echo "bounds from the cap: threads <= $bound_thr, fds <= $bound_fd"
[ "$max_thr" -le "$bound_thr" ] || { echo "FAIL: $max_thr threads exceed $bound_thr"; exit 1; }
[ "$max_fd" -le "$bound_fd" ] || { echo "FAIL: $max_fd fds exceed $bound_fd"; exit 1; }

psql <<SQL >/dev/null
DROP OWNED BY hc_user;
DROP ROLE hc_user;
DROP SERVER hc_admin CASCADE;
SQL
echo "ok"
