#!/usr/bin/env bash
# registry_faults: the schema registry client against a registry that hangs, is slow, refuses,
# fails or answers nonsense (test/t/fake_registry.py, one server playing each by URL path), plain
# and over TLS.  Never a hang, never a crash, always a clear error:
#   (a) a registry that never answers: timeout_ms '2000' ends the call with an error naming it,
#       after the GET was sent once more on a new connection (two requests, two timeouts)
#       after 2-8 s
#   (b) the same with timeout_ms '60000': pg_cancel_backend from a second session ends it within
#       5 s (the session then works with a good registry), and statement_timeout 1 s and
#       pg_terminate_backend too
#   (c) 401, 403, 404 with and without a Confluent code, 409, 422, 500, 503, 418, a non-JSON
#       answer, bytes that are not UTF-8, a 70 MB answer, a redirect: each its SQLSTATE and message
#   (d) basic auth from the user mapping: right credentials work, wrong ones get 401; the
#       password shows in no message and not in the server log
#   (e) https: the registry's CA given as schema_registry_ca works; without it, or with another
#       CA, a TLS error with a hint
#   (f) a slow registry within timeout_ms works; schemas by id are cached (asked once)
#   (g) a latest version whose default does not fit its field's type (Apicurio refuses such a
#       schema, older Confluent registries take it): reading a message without the field is an
#       ERROR whose context names the field and the subject
# The bounds (8 s, 5 s) are correctness bounds (the wait is bounded), not performance thresholds.
# It needs no registry from scripts/test.sh: it brings its own.
set -euo pipefail

# shellcheck source=test/t/lib.sh
source "$REPO/test/t/lib.sh"

export PGAPPNAME=regfault_test
DB=registry_faults
q() { "$PSQL" -X -q -At -v ON_ERROR_STOP=1 -d "$DB" "$@"; }
T=$TEST_TMP
PY=/usr/bin/python3; [ -x "$PY" ] || PY=python3

fake_pids=()
bg_pid=""
cleanup() {
  local p
  if [ -n "$bg_pid" ]; then kill "$bg_pid" 2>/dev/null || true; fi
  for p in "${fake_pids[@]+"${fake_pids[@]}"}"; do kill "$p" 2>/dev/null || true; done
  # a killed psql does not end its backend's query: end the sessions of this test
  local pids
  pids=$(PGAPPNAME=regfault_cleanup timeout 20 "$PSQL" -X -q -At -d postgres -c "SELECT pid FROM pg_stat_activity
      WHERE application_name LIKE 'regfault%' AND application_name <> 'regfault_cleanup'" 2>/dev/null || true)
  for p in $pids; do
    PGAPPNAME=regfault_cleanup timeout 20 "$PSQL" -X -q -At -d postgres -c "SELECT pg_terminate_backend($p)" >/dev/null 2>&1 || true
  done
  PGAPPNAME=regfault_cleanup timeout 30 "$PSQL" -X -q -At -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT

# start_fake NAME [--cert C --key K]: start a fake registry; its port in $fake_port
fake_port=""
start_fake() {
  local name=$1; shift
  rm -f "$T/$name.port"
  "$PY" "$REPO/test/t/fake_registry.py" --port-file "$T/$name.port" --log "$T/$name.log" --lifetime 280 "$@" \
      > "$T/$name.out" 2>&1 &
  fake_pids+=($!)
  local i
  for i in $(seq 1 100); do
    if [ -s "$T/$name.port" ]; then fake_port=$(cat "$T/$name.port"); return 0; fi
    sleep 0.05
  done
  cat "$T/$name.out" >&2
  fail "the fake registry $name did not start"
}

start_fake plain
port=$fake_port
base=http://127.0.0.1:$port

"$PSQL" -X -q -At -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
q > /dev/null <<SQL
CREATE EXTENSION kafka_fdw;
-- code: message [| hint]
CREATE FUNCTION err(q text) RETURNS text LANGUAGE plpgsql AS \$\$
DECLARE st text; msg text; hint text;
BEGIN
  EXECUTE q;
  RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, hint = PG_EXCEPTION_HINT;
  RETURN st || ': ' || msg || CASE WHEN hint <> '' THEN ' | ' || hint ELSE '' END;
END \$\$;
CREATE FUNCTION mk(name text, url text, timeout_ms int) RETURNS void LANGUAGE plpgsql AS \$\$
BEGIN
  EXECUTE format('CREATE SERVER %I FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers %L, schema_registry %L, timeout_ms %L)',
                 name, '127.0.0.1:1', url, timeout_ms);
END \$\$;
SELECT mk('hang2', '$base/hang', 2000);
SELECT mk('hang60', '$base/hang', 60000);
SELECT mk('ok', '$base/ok', 5000);
SELECT mk('slow', '$base/slow/1000', 5000);
SQL

# ---- (a) timeout_ms bounds a registry that never answers ---------------------------------------
t0=$(now_ms)
out=$(q -c "SELECT err('SELECT kafka.registry_subjects(''hang2'')')")
ms=$(( $(now_ms) - t0 ))
[[ "$out" == "08006: the schema registry of server \"hang2\" did not answer within 2000 ms"* ]] || fail "(a) $out"
# at least the two attempts of 2 s; the upper bound only tells a bounded wait from a hang (the
# fake registry never answers), with room for a loaded machine
[ "$ms" -ge 3500 ] && [ "$ms" -lt 30000 ] || fail "(a) the error came after $ms ms, expected two attempts of 2 s"
n=$(grep -c '^GET /hang/subjects ' "$T/plain.log" || true)
[ "$n" = 2 ] || fail "(a) the hanging registry got $n requests for the subjects, expected 2 (the GET once more)"
echo "ok: (a) a hanging registry: '$out' after $ms ms, $n requests"

# ---- (b) cancel and statement_timeout ----------------------------------------------------------
# one session: a call that hangs (cancelled from outside), then a call to a good registry
PGAPPNAME=regfault_b "$PSQL" -X -q -At -d "$DB" -c "SELECT kafka.registry_schema('hang60', 1)" \
    -c "SELECT 'after: ' || kafka.registry_schema('ok', 7)" > "$T/b.out" 2>&1 &
bg_pid=$!
bpid=""
for i in $(seq 1 200); do
  bpid=$(q -c "SELECT pid FROM pg_stat_activity WHERE application_name = 'regfault_b' AND state = 'active' AND wait_event = 'Extension'")
  [ -n "$bpid" ] && break
  kill -0 "$bg_pid" 2>/dev/null || { cat "$T/b.out" >&2; fail "(b) the call ended before it could be cancelled"; }
  sleep 0.05
done
[ -n "$bpid" ] || fail "(b) the call never waited for the registry"
sleep 1
kill -0 "$bg_pid" 2>/dev/null || { cat "$T/b.out" >&2; fail "(b) the call to a hanging registry ended by itself"; }
[ "$(q -c "SELECT pg_cancel_backend($bpid)")" = t ] || fail "(b) pg_cancel_backend failed"
t0=$(now_ms)
for i in $(seq 1 100); do kill -0 "$bg_pid" 2>/dev/null || break; sleep 0.05; done
ms=$(( $(now_ms) - t0 ))
kill -0 "$bg_pid" 2>/dev/null && fail "(b) the session did not end its call within 5 s of pg_cancel_backend"
wait "$bg_pid" || true
bg_pid=""
grep -q "canceling statement due to user request" "$T/b.out" || { cat "$T/b.out" >&2; fail "(b) no cancel error"; }
grep -q '^after: "string"$' "$T/b.out" || { cat "$T/b.out" >&2; fail "(b) the session did not work after the cancel"; }
echo "ok: (b) pg_cancel_backend of a call to a hanging registry: ended after $ms ms; the session works after it"

# pg_terminate_backend ends such a session cleanly (test.sh checks the log for crashes)
PGAPPNAME=regfault_term "$PSQL" -X -q -At -d "$DB" -c "SELECT kafka.registry_subjects('hang60')" > "$T/term.out" 2>&1 &
bg_pid=$!
tpid=""
for i in $(seq 1 200); do
  tpid=$(q -c "SELECT pid FROM pg_stat_activity WHERE application_name = 'regfault_term' AND state = 'active' AND wait_event = 'Extension'")
  [ -n "$tpid" ] && break
  sleep 0.05
done
[ -n "$tpid" ] || { cat "$T/term.out" >&2; fail "(b) the call never waited for the registry"; }
[ "$(q -c "SELECT pg_terminate_backend($tpid)")" = t ] || fail "(b) pg_terminate_backend failed"
for i in $(seq 1 100); do kill -0 "$bg_pid" 2>/dev/null || break; sleep 0.05; done
kill -0 "$bg_pid" 2>/dev/null && fail "(b) the session did not end within 5 s of pg_terminate_backend"
wait "$bg_pid" || true
bg_pid=""
grep -q "terminating connection due to administrator command" "$T/term.out" || { cat "$T/term.out" >&2; fail "(b) no termination message"; }
echo "ok: (b) pg_terminate_backend of a call to a hanging registry"

t0=$(now_ms)
out=$(q -c "SET statement_timeout = '1s'" -c "SELECT kafka.registry_subjects('hang60')" 2>&1 || true)
ms=$(( $(now_ms) - t0 ))
[ "$out" = "ERROR:  canceling statement due to statement timeout" ] || fail "(b) statement_timeout: $out"
[ "$ms" -lt 30000 ] || fail "(b) statement_timeout 1 s took $ms ms (the server's timeout_ms is 60 s)"
echo "ok: (b) statement_timeout 1 s: '$out' after $ms ms"

# ---- (c) HTTP errors and bad answers -----------------------------------------------------------
check() {  # check SERVER-URL-SUFFIX SQL EXPECTED-PREFIX
  local url=$1 sql=$2 want=$3 got
  got=$(q -c "ALTER SERVER ok OPTIONS (SET schema_registry '$base/$url')" -c "SELECT err(\$q\$$sql\$q\$)")
  [[ "$got" == "$want"* ]] || fail "(c) $url: $sql: got '$got', expected '$want...'"
  echo "ok: (c) $url: $got"
}
check status/401 "SELECT kafka.registry_subjects('ok')" \
  '28000: the schema registry of server "ok" refused the credentials | Give the registry'"'"'s user and password as "schema_registry_user" and "schema_registry_password"'
check status/403 "SELECT kafka.registry_schema('ok', 1)" '42501: permission denied by the schema registry of server "ok"'
check status/404 "SELECT kafka.registry_subjects('ok')" '42704: not found in the schema registry of server "ok"'
check ok "SELECT kafka.registry_latest('ok', '')" '22023: subject name must not be empty'
check ok "SELECT kafka.registry_latest('ok', 'missing/x')" '42704: subject "missing/x" not found in the schema registry of server "ok"'
check nothing "SELECT kafka.registry_subjects('ok')" '08P01: the schema registry of server "ok" does not know the request GET /subjects'
check status/409 "SELECT kafka.registry_register('ok', 's', '\"int\"')" '42P17: schema is incompatible with subject "s" in the schema registry of server "ok"'
check status/422 "SELECT kafka.registry_register('ok', 's', '\"int\"')" '22023: the schema registry of server "ok" refused the schema as invalid'
check status/500 "SELECT kafka.registry_subjects('ok')" '08006: the schema registry of server "ok" failed with HTTP status 500'
check status/503 "SELECT kafka.check_compatibility('ok', 's', '\"int\"')" '08006: the schema registry of server "ok" failed with HTTP status 503'
check status/418 "SELECT kafka.registry_subjects('ok')" '08P01: the schema registry of server "ok" answered HTTP status 418'
check garbage "SELECT kafka.registry_subjects('ok')" '08P01: invalid answer from the schema registry of server "ok"'
check garbage "SELECT kafka.registry_schema('ok', 5)" '08P01: invalid answer from the schema registry of server "ok"'
check binary "SELECT kafka.registry_schema('ok', 6)" '08P01: invalid answer from the schema registry of server "ok"'
check big "SELECT kafka.registry_subjects('ok')" '54000: the answer of the schema registry of server "ok" is larger than 64 MB'
check redirect "SELECT kafka.registry_subjects('ok')" '08P01: the schema registry of server "ok" answered HTTP status 302'
# a working one: answers as a registry does, messages of check_compatibility passed on
check ok "SELECT kafka.registry_register('ok', 's', '\"int\"')" 'no error'
got=$(q -c "SELECT is_compatible, level, messages FROM kafka.check_compatibility('ok', 's', '\"int\"')")
[ "$got" = 'f|BACKWARD|{"fake reason one","fake reason two"}' ] || fail "(c) check_compatibility: $got"
echo "ok: (c) check_compatibility passes the registry's reasons on: $got"

# ---- (d) basic auth ----------------------------------------------------------------------------
q > /dev/null <<SQL
SELECT mk('auth', '$base/auth', 5000);
CREATE USER MAPPING FOR CURRENT_USER SERVER auth OPTIONS (schema_registry_user 'reguser', schema_registry_password 's3cret-pw');
SQL
got=$(q -c "SELECT kafka.registry_schema('auth', 11)")
[ "$got" = '"string"' ] || fail "(d) with the right credentials: $got"
grep -q "^GET /auth/schemas/ids/11 Basic " "$T/plain.log" || fail "(d) no basic auth header was sent"
q -c "ALTER USER MAPPING FOR CURRENT_USER SERVER auth OPTIONS (SET schema_registry_password 'wrong-pw-123')"
got=$(q -c "SELECT err('SELECT kafka.registry_schema(''auth'', 12)')")
[[ "$got" == '28000: the schema registry of server "auth" refused the credentials'* ]] || fail "(d) wrong password: $got"
out=$(q -c "SELECT kafka.registry_schema('auth', 12)" 2>&1 || true)
[[ "$out" != *wrong-pw-123* && "$out" != *s3cret-pw* ]] || fail "(d) a password shows in a message: $out"
if [ -n "${PG_LOG:-}" ] && [ -f "$PG_LOG" ] && grep -q -e 'wrong-pw-123' -e 's3cret-pw' <(grep -v -e 'USER MAPPING' "$PG_LOG"); then
  fail "(d) a registry password is in the server log (outside the text of CREATE/ALTER USER MAPPING)"
fi
echo "ok: (d) basic auth from the user mapping; a wrong password is a clear 401 error and never shown"

# ---- (e) https with a private CA ---------------------------------------------------------------
(
  cd "$T"
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=regfault CA" -keyout ca.key -out ca.pem 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout srv.key -out srv.csr 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' > srv.ext
  openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile srv.ext -out srv.pem 2>/dev/null
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=other CA" -keyout other.key -out other.pem 2>/dev/null
)
start_fake tls --cert "$T/srv.pem" --key "$T/srv.key"
tport=$fake_port
q -c "SELECT mk('tls', 'https://127.0.0.1:$tport/ok', 5000)" > /dev/null
got=$(q -c "SELECT err('SELECT kafka.registry_subjects(''tls'')')")
[[ "$got" == '08001: could not establish a TLS connection to the schema registry of server "tls" | If the registry'"'"'s certificate is signed by a private CA, give the CA'"'"'s certificate (PEM text) in the server option "schema_registry_ca".' ]] \
  || fail "(e) without the CA: $got"
echo "ok: (e) https without the registry's CA: $got"
echo "ALTER SERVER tls OPTIONS (ADD schema_registry_ca :'ca')" | q -v ca="$(cat "$T/other.pem")"
got=$(q -c "SELECT err('SELECT kafka.registry_subjects(''tls'')')")
[[ "$got" == '08001: could not establish a TLS connection'* ]] || fail "(e) with another CA: $got"
echo "ALTER SERVER tls OPTIONS (SET schema_registry_ca :'ca')" | q -v ca="$(cat "$T/ca.pem")"
got=$(q -c "SELECT string_agg(s, ',') FROM kafka.registry_subjects('tls') s")
[ "$got" = "fake-subject" ] || fail "(e) with the CA: $got"
echo "ok: (e) https with schema_registry_ca: works; with another CA: a TLS error"

# ---- (f) slow but within timeout_ms; the cache -------------------------------------------------
t0=$(now_ms)
got=$(q -c "SELECT kafka.registry_schema('slow', 99) || kafka.registry_schema('slow', 99)")
ms=$(( $(now_ms) - t0 ))
[ "$got" = '"string""string"' ] || fail "(f) slow: $got"
[ "$(grep -c '^GET /slow/1000/schemas/ids/99 ' "$T/plain.log")" = 1 ] || fail "(f) schema 99 was asked more than once in one session"
echo "ok: (f) a registry answering after 1 s within timeout_ms 5000: works; the second lookup of an id is cached ($ms ms)"

# ---- (g) a default that is not of its field's type ---------------------------------------------
topic=regfault_baddefault_$$
q > /dev/null <<SQL
CREATE SERVER bd FOREIGN DATA WRAPPER kafka_fdw
  OPTIONS (brokers '$KAFKA_BROKERS', schema_registry '$base/baddefault', timeout_ms '5000');
CREATE USER MAPPING FOR CURRENT_USER SERVER bd;
SELECT kafka_create_topic('bd', '$topic', 1);
CREATE FOREIGN TABLE bd_raw (v bytea) SERVER bd OPTIONS (topic '$topic', format 'bytea');
-- schema id 1 (r {zz: long}), zz = 2
INSERT INTO bd_raw VALUES ('\x000000000104');
CREATE FOREIGN TABLE bd (a bigint, zz bigint) SERVER bd OPTIONS (topic '$topic', format 'avro');
SQL
out=$(q -c "SELECT * FROM bd" 2>&1 || true)
grep -q 'invalid input syntax for type bigint: "notalong"' <<<"$out" || fail "(g) $out"
grep -q "CONTEXT:  the default of field \"a\" in the latest version of subject \"$topic-value\"" <<<"$out" ||
  fail "(g) no context naming the default: $out"
q -c "SELECT kafka_delete_topic('bd', '$topic')" > /dev/null
echo "ok: (g) a default that is no long: $(tr '\n' ' ' <<<"$out")"

# ---- the server is fine --------------------------------------------------------------------------
[ "$(q -c "SELECT 1")" = 1 ] || fail "the server does not answer"
echo "ok: all registry fault cases"
