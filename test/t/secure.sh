#!/usr/bin/env bash
# secure: SASL and TLS against the secured listeners of the test broker (scripts/kafka.sh), whose
# ports, users, passwords and CA come from $KAFKA_HOME/secure.env (exported by scripts/test.sh).
#   (1) SASL_PLAINTEXT with SCRAM-SHA-256 and with PLAIN, SSL and SASL_SSL: rows INSERTed through
#       the secured server are read back through the PLAINTEXT one and the other way round
#   (2) a non-superuser gives the CA inline (ssl.ca.pem) on their own server or table, and their
#       own SASL_SSL credentials in their user mapping; file paths (ssl.ca.location) stay refused
#   (3) secrets only in user mappings: sasl.password / ssl.key.pem in server or table options
#       refused; another role's mapping options are invisible in pg_user_mappings
#   (4) a wrong password fails with a clear authentication error, long before timeout_ms (60 s:
#       waiting for it was the old behaviour; the bound checks that it no longer waits, it is not a
#       speed threshold); so does a broker certificate signed by another CA
#   (5) password_required (postgres_fdw's rule): a non-superuser needs sasl.password in the user
#       mapping (own or PUBLIC) of a SASL server; only a superuser may set password_required 'false'
set -euo pipefail

# shellcheck source=test/t/lib.sh
source "$REPO/test/t/lib.sh"

ok() { echo "ok: $*"; }
if [ -z "${KAFKA_SASL_PORT:-}" ] && [ -f "$KAFKA_HOME/secure.env" ]; then
  # shellcheck disable=SC1091
  . "$KAFKA_HOME/secure.env"
fi
for v in KAFKA_SASL_PORT KAFKA_SSL_PORT KAFKA_SASL_SSL_PORT KAFKA_PLAIN_USER KAFKA_PLAIN_PASSWORD \
         KAFKA_SCRAM_USER KAFKA_SCRAM_PASSWORD KAFKA_CA; do
  [ -n "${!v:-}" ] || fail "$v is not set: the broker was started without its secured listeners (KAFKA_SECURE=0?)"
done
[ -s "$KAFKA_CA" ] || fail "CA file $KAFKA_CA missing"

# librdkafka before 2.6.1 (Debian 12: 2.0.2) cannot do SCRAM against Kafka 4.x brokers: it repeats
# the client nonce in its final message, and 4.x rejects that as invalid credentials (librdkafka
# PR 4895). There SCRAM must fail with the authentication error, and SASL_SSL is tested with PLAIN.
ver_ge() { printf '%s\n%s\n' "$2" "$1" | sort -V -C; }   # ver_ge A B: A >= B
rdkafka=$(pkg-config --modversion rdkafka 2>/dev/null || kcat -V | grep -o 'librdkafka [0-9.]*' | cut -d' ' -f2)
[ -n "$rdkafka" ] || fail "cannot tell the librdkafka version"
scram_ok=1
if [ "${KAFKA_BROKER_VERSION:-3.9.1}" != "${KAFKA_BROKER_VERSION#[4-9].}" ] && ! ver_ge "$rdkafka" 2.6.1; then scram_ok=0; fi
if [ "$scram_ok" = 1 ]; then
  MECH=SCRAM-SHA-256 MECH_USER=$KAFKA_SCRAM_USER MECH_PW=$KAFKA_SCRAM_PASSWORD
else
  MECH=PLAIN MECH_USER=$KAFKA_PLAIN_USER MECH_PW=$KAFKA_PLAIN_PASSWORD
fi
echo "librdkafka $rdkafka, Kafka ${KAFKA_BROKER_VERSION:-?}: SCRAM usable: $scram_ok; SASL_SSL tested with $MECH"

SASL=127.0.0.1:$KAFKA_SASL_PORT SSL=127.0.0.1:$KAFKA_SSL_PORT SASL_SSL=127.0.0.1:$KAFKA_SASL_SSL_PORT
CA=$(cat "$KAFKA_CA")
vars=(-v ca="$CA" -v scram_user="$KAFKA_SCRAM_USER" -v scram_pw="$KAFKA_SCRAM_PASSWORD"
      -v plain_user="$KAFKA_PLAIN_USER" -v plain_pw="$KAFKA_PLAIN_PASSWORD"
      -v mech="$MECH" -v mech_user="$MECH_USER" -v mech_pw="$MECH_PW")
# q: run SQL, stop at the first error (psql interpolates :'var' only in SQL read from stdin, not -c); qe: run SQL expected to fail, print its messages (verbose)
q() { "$PSQL" -X -q -At -v ON_ERROR_STOP=1 "${vars[@]}" "$@"; }
qe() { "$PSQL" -X -q -At -v VERBOSITY=verbose "${vars[@]}" "$@" 2>&1 || true; }
expect_error() {  # expect_error WHAT OUTPUT PATTERN...: OUTPUT has an ERROR and every PATTERN
  local what=$1 out=$2; shift 2
  grep -q "ERROR" <<< "$out" || fail "$what: no error; output: $out"
  local p
  for p in "$@"; do grep -qF -- "$p" <<< "$out" || fail "$what: expected \"$p\" in: $out"; done
}

# ---- set-up: topics through the PLAINTEXT listener, roles ------------------------------------
q <<SQL
CREATE EXTENSION IF NOT EXISTS kafka_fdw;
CREATE SERVER secure_plain FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers '$KAFKA_BROKERS');
SELECT kafka_create_topic('secure_plain', t, 1)
  FROM unnest(ARRAY['secure_scram', 'secure_plainmech', 'secure_ssl', 'secure_ssl_tab', 'secure_sasl_ssl']) t \g /dev/null
-- the same topics through PLAINTEXT, to check what the secured servers read and write
SELECT format('CREATE FOREIGN TABLE %I (v text) SERVER secure_plain OPTIONS (topic %L, format ''text'')', t || '_clear', t)
  FROM unnest(ARRAY['secure_scram', 'secure_plainmech', 'secure_ssl', 'secure_ssl_tab', 'secure_sasl_ssl']) t \gexec
-- non-superusers: secure_alice makes her own servers; secure_bob only uses the superuser's
CREATE ROLE secure_alice LOGIN;
CREATE ROLE secure_bob LOGIN;
GRANT USAGE ON FOREIGN DATA WRAPPER kafka_fdw TO secure_alice;
CREATE SCHEMA secure_alice AUTHORIZATION secure_alice;   -- first in her search_path ("\$user")
SQL

# check_roundtrip NAME TOPIC ROLE: INSERT 3 rows through secure table NAME (as ROLE), read them back
# through the PLAINTEXT server (TOPIC_clear); then INSERT 2 rows through PLAINTEXT and read all 5 through NAME
check_roundtrip() {
  local name=$1 topic=$2 role=$3 got want
  got=$(q -c "SET ROLE $role" -c "INSERT INTO $name SELECT '$topic secured ' || i FROM generate_series(1, 3) i RETURNING v" | paste -sd,)
  want="$topic secured 1,$topic secured 2,$topic secured 3"
  [ "$got" = "$want" ] || fail "$name: INSERT RETURNING gave '$got'"
  got=$(q -c "SELECT string_agg(v, ',' ORDER BY v) FROM ${topic}_clear")
  [ "$got" = "$want" ] || fail "$name: read back through PLAINTEXT: '$got', expected '$want'"
  q -c "INSERT INTO ${topic}_clear VALUES ('$topic clear 1'), ('$topic clear 2')" >/dev/null
  got=$(q -c "SET ROLE $role" -c "SELECT string_agg(v, ',' ORDER BY v) FROM $name")
  want="$topic clear 1,$topic clear 2,$want"
  [ "$got" = "$want" ] || fail "$name: read through the secured server: '$got', expected '$want'"
  got=$(q -c "SET ROLE $role" -c "SELECT count(*) FROM $name WHERE v LIKE '%secured%'")
  [ "$got" = 3 ] || fail "$name: $got secured rows, expected 3"
  ok "$name ($role): 3 rows written and 5 read over the secured listener match the PLAINTEXT side"
}

# ---- (1) SASL_PLAINTEXT: SCRAM-SHA-256 and PLAIN (superuser's servers) ------------------------
q <<SQL
CREATE SERVER secure_scram FOREIGN DATA WRAPPER kafka_fdw
  OPTIONS (brokers '$SASL', "security.protocol" 'SASL_PLAINTEXT', "sasl.mechanisms" 'SCRAM-SHA-256');
CREATE USER MAPPING FOR postgres SERVER secure_scram
  OPTIONS ("sasl.username" :'scram_user', "sasl.password" :'scram_pw');
CREATE FOREIGN TABLE secure_scram_t (v text) SERVER secure_scram OPTIONS (topic 'secure_scram', format 'text');
CREATE SERVER secure_plainmech FOREIGN DATA WRAPPER kafka_fdw
  OPTIONS (brokers '$SASL', "security.protocol" 'SASL_PLAINTEXT', "sasl.mechanisms" 'PLAIN');
CREATE USER MAPPING FOR postgres SERVER secure_plainmech
  OPTIONS ("sasl.username" :'plain_user', "sasl.password" :'plain_pw');
CREATE FOREIGN TABLE secure_plainmech_t (v text) SERVER secure_plainmech OPTIONS (topic 'secure_plainmech', format 'text');
SQL
if [ "$scram_ok" = 1 ]; then
  check_roundtrip secure_scram_t secure_scram postgres
else
  out=$(qe -c "SELECT * FROM secure_scram_t")
  expect_error "SCRAM with librdkafka $rdkafka against Kafka $KAFKA_BROKER_VERSION" "$out" "Kafka authentication failed"
  ok "SCRAM-SHA-256 with librdkafka $rdkafka against Kafka $KAFKA_BROKER_VERSION fails with the authentication error (librdkafka < 2.6.1)"
fi
check_roundtrip secure_plainmech_t secure_plainmech postgres

# ---- (2) a non-superuser: SSL with the CA inline, SASL_SSL with her own credentials ------------
q <<SQL
SET ROLE secure_alice;
-- the CA on the server
CREATE SERVER secure_ssl FOREIGN DATA WRAPPER kafka_fdw
  OPTIONS (brokers '$SSL', "security.protocol" 'SSL', "ssl.ca.pem" :'ca');
CREATE FOREIGN TABLE secure_ssl_t (v text) SERVER secure_ssl OPTIONS (topic 'secure_ssl', format 'text');
-- the CA on the table
CREATE SERVER secure_ssl2 FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers '$SSL', "security.protocol" 'SSL');
CREATE FOREIGN TABLE secure_ssl_tab_t (v text) SERVER secure_ssl2
  OPTIONS (topic 'secure_ssl_tab', format 'text', "ssl.ca.pem" :'ca');
-- SASL_SSL with SCRAM (PLAIN where SCRAM cannot work): her own user mapping
CREATE SERVER secure_sasl_ssl FOREIGN DATA WRAPPER kafka_fdw
  OPTIONS (brokers '$SASL_SSL', "security.protocol" 'SASL_SSL', "sasl.mechanisms" :'mech', "ssl.ca.pem" :'ca');
CREATE USER MAPPING FOR secure_alice SERVER secure_sasl_ssl
  OPTIONS ("sasl.username" :'mech_user', "sasl.password" :'mech_pw');
CREATE FOREIGN TABLE secure_sasl_ssl_t (v text) SERVER secure_sasl_ssl OPTIONS (topic 'secure_sasl_ssl', format 'text');
SQL
[ "$(q -c "SELECT rolsuper FROM pg_roles WHERE rolname = 'secure_alice'")" = f ] || fail "secure_alice is a superuser"
check_roundtrip secure_ssl_t secure_ssl secure_alice
check_roundtrip secure_ssl_tab_t secure_ssl_tab secure_alice
check_roundtrip secure_sasl_ssl_t secure_sasl_ssl secure_alice

out=$(qe -c "SET ROLE secure_alice" -c "CREATE SERVER secure_ssl_file FOREIGN DATA WRAPPER kafka_fdw
  OPTIONS (brokers '$SSL', \"security.protocol\" 'SSL', \"ssl.ca.location\" '$KAFKA_CA')")
expect_error "ssl.ca.location by a non-superuser" "$out" "permission denied" "ssl.ca.location"
ok "a non-superuser cannot make the server read the CA from a file (ssl.ca.location)"

# ---- (3) secrets only in user mappings; pg_user_mappings hides them from other roles ----------
out=$(qe -c "ALTER SERVER secure_scram OPTIONS (ADD \"sasl.password\" 'x')")
expect_error "sasl.password in server options" "$out" "sasl.password" "not allowed in server options"
out=$(qe -c "ALTER FOREIGN TABLE secure_scram_t OPTIONS (ADD \"sasl.password\" 'x')")
expect_error "sasl.password in table options" "$out" "sasl.password" "not allowed in foreign table options"
out=$(qe -c "ALTER SERVER secure_ssl OPTIONS (ADD \"ssl.key.pem\" 'x')")
expect_error "ssl.key.pem in server options" "$out" "ssl.key.pem" "not allowed in server options"
ok "sasl.password and ssl.key.pem are refused in server and table options"

q -c "GRANT USAGE ON FOREIGN SERVER secure_sasl_ssl TO secure_bob" -c "SET ROLE secure_alice" \
  -c "GRANT USAGE ON FOREIGN SERVER secure_sasl_ssl TO secure_bob"
got=$(q -c "SET ROLE secure_alice" -c "SELECT umoptions FROM pg_user_mappings WHERE srvname = 'secure_sasl_ssl' AND usename = 'secure_alice'")
grep -qF "sasl.password=$MECH_PW" <<< "$got" || fail "secure_alice does not see her own mapping's options: '$got'"
got=$(q -c "SET ROLE secure_bob" -c "SELECT count(*), count(umoptions) FROM pg_user_mappings WHERE srvname = 'secure_sasl_ssl' AND usename = 'secure_alice'")
[ "$got" = "1|0" ] || fail "secure_bob sees secure_alice's mapping options (count, count(umoptions)) = $got"
got=$(q -c "SET ROLE secure_bob" -c "SELECT count(*) FROM pg_user_mappings WHERE umoptions::text LIKE '%$KAFKA_SCRAM_PASSWORD%' OR umoptions::text LIKE '%$KAFKA_PLAIN_PASSWORD%'")
[ "$got" = 0 ] || fail "secure_bob sees $got mappings with a password"
got=$(q -c "SET ROLE secure_bob" -c "SELECT count(*) FROM pg_user_mapping" 2>&1 || true)
grep -q "permission denied" <<< "$got" || fail "secure_bob can read pg_user_mapping: $got"
ok "pg_user_mappings shows a mapping's options to its role, not to another role"

# ---- (4) a wrong password, an untrusted certificate -------------------------------------------
q <<SQL
CREATE SERVER secure_wrong_scram FOREIGN DATA WRAPPER kafka_fdw
  OPTIONS (brokers '$SASL', "security.protocol" 'SASL_PLAINTEXT', "sasl.mechanisms" 'SCRAM-SHA-256', timeout_ms '60000');
CREATE USER MAPPING FOR postgres SERVER secure_wrong_scram
  OPTIONS ("sasl.username" :'scram_user', "sasl.password" 'not-the-password');
CREATE FOREIGN TABLE secure_wrong_scram_t (v text) SERVER secure_wrong_scram OPTIONS (topic 'secure_scram', format 'text');
CREATE SERVER secure_wrong_plain FOREIGN DATA WRAPPER kafka_fdw
  OPTIONS (brokers '$SASL_SSL', "security.protocol" 'SASL_SSL', "sasl.mechanisms" 'PLAIN', "ssl.ca.pem" :'ca', timeout_ms '60000');
CREATE USER MAPPING FOR postgres SERVER secure_wrong_plain
  OPTIONS ("sasl.username" :'plain_user', "sasl.password" 'not-the-password');
CREATE FOREIGN TABLE secure_wrong_plain_t (v text) SERVER secure_wrong_plain OPTIONS (topic 'secure_plainmech', format 'text');
SQL
for stmt in "SELECT * FROM secure_wrong_scram_t" "INSERT INTO secure_wrong_scram_t VALUES ('lost')" \
            "SELECT * FROM secure_wrong_plain_t" "INSERT INTO secure_wrong_plain_t VALUES ('lost')"; do
  t0=$(now_ms)
  out=$(timeout 180 "$PSQL" -X -q -At -v VERBOSITY=verbose -c "$stmt" 2>&1 || true)
  ms=$(( $(now_ms) - t0 ))
  expect_error "$stmt" "$out" "Kafka authentication failed" "SASL authentication error" "sasl.password"
  [ "$ms" -lt 60000 ] || fail "$stmt: the authentication error came after $ms ms, i.e. after waiting for timeout_ms (60000)"
  ok "$stmt: authentication error after $ms ms: $(grep ERROR <<< "$out" | head -1)"
done
got=$(q -c "SELECT (SELECT count(*) FROM secure_scram_clear WHERE v = 'lost') + (SELECT count(*) FROM secure_plainmech_clear WHERE v = 'lost')")
[ "$got" = 0 ] || fail "a row INSERTed with a wrong password reached the topic"

openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=another CA" \
  -keyout "$TEST_TMP/other.key" -out "$TEST_TMP/other.pem" 2>/dev/null
q -v other="$(cat "$TEST_TMP/other.pem")" <<SQL
CREATE SERVER secure_wrong_ca FOREIGN DATA WRAPPER kafka_fdw
  OPTIONS (brokers '$SSL', "security.protocol" 'SSL', "ssl.ca.pem" :'other', timeout_ms '60000');
CREATE FOREIGN TABLE secure_wrong_ca_t (v text) SERVER secure_wrong_ca OPTIONS (topic 'secure_ssl', format 'text');
SQL
t0=$(now_ms)
out=$(timeout 180 "$PSQL" -X -q -At -c "SELECT * FROM secure_wrong_ca_t" 2>&1 || true)
ms=$(( $(now_ms) - t0 ))
expect_error "a broker certificate from another CA" "$out" "TLS certificate of the Kafka broker could not be verified" \
  "certificate verify failed" "ssl.ca.pem"
[ "$ms" -lt 60000 ] || fail "the certificate error came after $ms ms, i.e. after waiting for timeout_ms (60000)"
ok "an untrusted broker certificate: error after $ms ms: $(grep ERROR <<< "$out" | head -1)"

# Sessions that end while a broker thread retries its TLS handshake: the process must exit
# cleanly (exit() once ran OpenSSL's atexit cleanup under that thread, which then died of SIGSEGV
# in a few percent of such sessions and made the postmaster restart every session).
crashes_before=$(grep -c 'was terminated by signal 11' "$PG_LOG" || true)
for j in 1 2 3; do
  ( for _ in $(seq 1 20); do timeout 180 "$PSQL" -X -q -At -c "SELECT * FROM secure_wrong_ca_t" >/dev/null 2>&1 || true; done ) &
done
wait
crashes_after=$(grep -c 'was terminated by signal 11' "$PG_LOG" || true)
[ "$crashes_after" = "$crashes_before" ] || fail "$((crashes_after - crashes_before)) of 60 sessions ending after a TLS failure crashed (SIGSEGV)"
ok "60 sessions ended after a TLS failure, none crashed"

# ---- (5) password_required --------------------------------------------------------------------
# secure_bob (not a superuser) uses the superuser's SASL server (PLAIN)
q -c "GRANT USAGE ON FOREIGN SERVER secure_plainmech TO secure_bob" -c "GRANT SELECT, INSERT ON secure_plainmech_t TO secure_bob"
out=$(qe -c "SET ROLE secure_bob" -c "SELECT * FROM secure_plainmech_t")
expect_error "no user mapping" "$out" "2F003" "password is required" \
  "Non-superusers must provide credentials in the user mapping for server"
ok "a non-superuser without a user mapping is refused: $(grep ERROR <<< "$out" | head -1)"

q <<< "CREATE USER MAPPING FOR secure_bob SERVER secure_plainmech OPTIONS (\"sasl.username\" :'plain_user')"
out=$(qe -c "SET ROLE secure_bob" -c "INSERT INTO secure_plainmech_t VALUES ('bob without password')")
expect_error "a user mapping without sasl.password" "$out" "2F003" "password is required"
ok "a non-superuser whose user mapping has no sasl.password is refused"

out=$(qe -c "SET ROLE secure_bob" -c "ALTER USER MAPPING FOR secure_bob SERVER secure_plainmech OPTIONS (ADD password_required 'false')")
grep -q "ERROR:  42501: .*password_required" <<< "$out" \
  || fail "a non-superuser set password_required 'false' (or not refused with 42501): $out"
ok "only a superuser may set password_required 'false'"

# a superuser's password_required 'false': kafka_fdw no longer asks; librdkafka gets no password
q -c "ALTER USER MAPPING FOR secure_bob SERVER secure_plainmech OPTIONS (ADD password_required 'false')"
out=$(qe -c "SET ROLE secure_bob" -c "SELECT * FROM secure_plainmech_t")
grep -q "ERROR" <<< "$out" || fail "SASL without a password worked: $out"
grep -q "password is required" <<< "$out" && fail "password_required 'false' still asks for a password: $out"
ok "password_required 'false' set by a superuser lifts the check: $(grep ERROR <<< "$out" | head -1)"

# with sasl.password in his own mapping, or in the PUBLIC mapping, secure_bob reads and writes
q <<< "DROP USER MAPPING FOR secure_bob SERVER secure_plainmech;
  CREATE USER MAPPING FOR secure_bob SERVER secure_plainmech OPTIONS (\"sasl.username\" :'plain_user', \"sasl.password\" :'plain_pw')"
got=$(q -c "SET ROLE secure_bob" -c "SELECT count(*) FROM secure_plainmech_t")
[ "$got" = 5 ] || fail "secure_bob with his own mapping read $got rows, expected 5"
q <<< "DROP USER MAPPING FOR secure_bob SERVER secure_plainmech;
  CREATE USER MAPPING FOR PUBLIC SERVER secure_plainmech OPTIONS (\"sasl.username\" :'plain_user', \"sasl.password\" :'plain_pw')"
got=$(q -c "SET ROLE secure_bob" -c "INSERT INTO secure_plainmech_t VALUES ('bob via PUBLIC') RETURNING v")
[ "$got" = "bob via PUBLIC" ] || fail "secure_bob with the PUBLIC mapping: INSERT gave '$got'"
got=$(q -c "SELECT count(*) FROM secure_plainmech_clear")
[ "$got" = 6 ] || fail "after secure_bob's INSERT the topic holds $got rows, expected 6"
ok "a non-superuser with sasl.password in his own or the PUBLIC mapping reads and writes"
