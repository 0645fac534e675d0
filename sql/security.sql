-- security: which librdkafka properties a non-superuser may set (an allowlist), properties
-- kafka_fdw manages, shell-safe kinit values, secrets that are never echoed, password_required,
-- and the same rules checked again when a handle is built (catalogs written by an older version).
\set VERBOSITY default
\getenv brokers KAFKA_BROKERS
CREATE ROLE kafka_sec;
GRANT USAGE ON FOREIGN DATA WRAPPER kafka_fdw TO kafka_sec;
GRANT USAGE ON FOREIGN SERVER kafka TO kafka_sec;
GRANT CREATE ON SCHEMA public TO kafka_sec;
SET ROLE kafka_sec;

-- a non-superuser: refused, although librdkafka knows them
-- (the kinit injection: librdkafka pastes the principal into a command run through sh)
CREATE USER MAPPING FOR CURRENT_USER SERVER kafka OPTIONS ("sasl.kerberos.principal" 'x; id > pwned.txt; #');
CREATE USER MAPPING FOR CURRENT_USER SERVER kafka OPTIONS ("sasl.kerberos.principal" 'kafka/host@REALM');
CREATE SERVER sec_u FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers 'a:1', "sasl.kerberos.service.name" 'kafka');
CREATE SERVER sec_u FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers 'a:1', "socket.nagle.disable" 'true');
CREATE SERVER sec_u FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers 'a:1', "plugin.library.paths" '/tmp/evil.so');
CREATE SERVER sec_u FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers 'a:1', "ssl.ca.location" '/etc/passwd');
CREATE SERVER sec_u FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers 'a:1', "debug" 'all');
-- names are matched as librdkafka matches them: case sensitively (librdkafka does not know these)
CREATE SERVER sec_u FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers 'a:1', "Sasl.Kerberos.Principal" 'x');
-- a name librdkafka does not know is an unknown option, not a permission problem
CREATE SERVER sec_u FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers 'a:1', "socket.nagle.disabled" 'true');
-- managed by kafka_fdw: refused for everyone, in every spelling librdkafka accepts
CREATE SERVER sec_u FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers 'a:1', "internal.termination.signal" '15');
CREATE SERVER sec_u FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers 'a:1', "delivery.report.only.error" 'true');
CREATE SERVER sec_u FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers 'a:1', "topic.acks" '0');
CREATE SERVER sec_u FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers 'a:1', "topic.request.required.acks" '0');
CREATE SERVER sec_u FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers 'a:1', "topic.message.timeout.ms" '1');
CREATE SERVER sec_u FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers 'a:1', "metadata.broker.list" 'b:2');
CREATE SERVER sec_u FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers 'a:1', "topic.auto.offset.reset" 'latest');
-- only a superuser may waive password_required
CREATE USER MAPPING FOR CURRENT_USER SERVER kafka OPTIONS (password_required 'false');
-- allowed: the allowlist
CREATE SERVER sec_u FOREIGN DATA WRAPPER kafka_fdw
  OPTIONS (brokers :'brokers', "client.id" 'sec', "compression.codec" 'lz4', "fetch.wait.max.ms" '20',
           "queued.min.messages" '1000', "security.protocol" 'plaintext', "sasl.mechanisms" 'PLAIN',
           "ssl.ca.pem" '-----BEGIN CERTIFICATE-----', "topic.compression.codec" 'gzip');
CREATE FOREIGN TABLE sec_t (v text) SERVER sec_u
  OPTIONS (topic 'sec_t', format 'text', "ssl.ca.pem" '-----BEGIN CERTIFICATE-----', "linger.ms" '1');
CREATE USER MAPPING FOR CURRENT_USER SERVER sec_u OPTIONS ("sasl.username" 'u', "sasl.password" 'secret');
-- kafka_fdw's own options are not librdkafka properties: Avro keys and subject names are for anyone
CREATE FOREIGN TABLE sec_avro (k bigint OPTIONS (key 'true'), v text) SERVER sec_u
  OPTIONS (topic 'sec_t', format 'avro', key_format 'avro', key_avro_schema '"long"',
           subject_name_strategy 'topic_record', value_subject 'sec-v', key_subject 'sec-k');
DROP FOREIGN TABLE sec_avro;
-- secrets only in user mappings, for everyone
ALTER SERVER sec_u OPTIONS (ADD "sasl.password" 'secret');
-- a non-superuser's own server and table work
RESET ROLE;
SELECT kafka_create_topic('kafka', 'sec_t', 1);
SET ROLE kafka_sec;
INSERT INTO sec_t VALUES ('hello');
SELECT * FROM sec_t;

-- password_required: a non-superuser on a SASL server must bring the password
ALTER SERVER sec_u OPTIONS (SET "security.protocol" 'SASL_PLAINTEXT', ADD timeout_ms '2000');
ALTER USER MAPPING FOR CURRENT_USER SERVER sec_u OPTIONS (DROP "sasl.password");
SELECT * FROM sec_t;
ALTER SERVER sec_u OPTIONS (SET "sasl.mechanisms" 'OAUTHBEARER');
SELECT * FROM sec_t;
ALTER SERVER sec_u OPTIONS (DROP "sasl.mechanisms");
SELECT * FROM sec_t;
-- a PUBLIC mapping applies too; a superuser may waive the rule
RESET ROLE;
DROP USER MAPPING FOR kafka_sec SERVER sec_u;
CREATE USER MAPPING FOR PUBLIC SERVER sec_u OPTIONS ("sasl.mechanism" 'SCRAM-SHA-256');
SET ROLE kafka_sec;
SELECT * FROM sec_t;
RESET ROLE;
ALTER USER MAPPING FOR PUBLIC SERVER sec_u OPTIONS (ADD password_required 'false');
SET ROLE kafka_sec;
-- (now it tries to log in: the test broker has no SASL listener, so it cannot connect)
SELECT show_error($$SELECT * FROM kafka_topics('sec_u')$$) NOT LIKE '%password is required%' AS tried;
-- and a non-superuser cannot modify a mapping that has the waiver (as in postgres_fdw)
ALTER USER MAPPING FOR PUBLIC SERVER sec_u OPTIONS (ADD "sasl.username" 'v');
RESET ROLE;
DROP USER MAPPING FOR PUBLIC SERVER sec_u;
ALTER SERVER sec_u OPTIONS (SET "security.protocol" 'plaintext');

-- a superuser may set any property, but kinit values must still be shell-safe
CREATE SERVER sec_s FOREIGN DATA WRAPPER kafka_fdw
  OPTIONS (brokers :'brokers', "socket.keepalive.enable" 'true', "socket.nagle.disable" 'true');
ALTER SERVER sec_s OPTIONS (ADD "sasl.kerberos.principal" 'x; id > pwned.txt; #');
ALTER SERVER sec_s OPTIONS (ADD "sasl.kerberos.service.name" 'kafka$(id)');
ALTER SERVER sec_s OPTIONS (ADD "sasl.kerberos.keytab" '/tmp/a b.keytab');
ALTER SERVER sec_s OPTIONS (ADD "sasl.kerberos.principal" 'kafka/host.example.com@EXAMPLE.COM');
-- a kinit command a superuser wrote: when used, every property it refers to must be shell-safe
CREATE SERVER sec_k FOREIGN DATA WRAPPER kafka_fdw
  OPTIONS (brokers :'brokers', "sasl.kerberos.kinit.cmd" 'kinit -k %{sasl.username}');
GRANT USAGE ON FOREIGN SERVER sec_k TO kafka_sec;
SET ROLE kafka_sec;
CREATE USER MAPPING FOR CURRENT_USER SERVER sec_k OPTIONS ("sasl.username" 'u; id > pwned.txt');
SELECT show_error($$SELECT * FROM kafka_topics('sec_k')$$);
RESET ROLE;
DROP SERVER sec_k CASCADE;
-- but not what kafka_fdw manages, nor secrets outside user mappings
ALTER SERVER sec_s OPTIONS (ADD "topic.acks" '0');
ALTER SERVER sec_s OPTIONS (ADD "internal.termination.signal" '10');
ALTER SERVER sec_s OPTIONS (ADD "ssl.key.pem" 'x');
-- a non-superuser uses a superuser's server with superuser-only properties
GRANT USAGE ON FOREIGN SERVER sec_s TO kafka_sec;
ALTER SERVER sec_s OPTIONS (DROP "sasl.kerberos.principal");
CREATE FOREIGN TABLE sec_t2 (v text) SERVER sec_s OPTIONS (topic 'sec_t', format 'text');
GRANT SELECT ON sec_t2 TO kafka_sec;
SET ROLE kafka_sec;
SELECT * FROM sec_t2;
-- ... but cannot ALTER a server holding them (the validator sees all options)
RESET ROLE;
ALTER SERVER sec_s OWNER TO kafka_sec;
SET ROLE kafka_sec;
ALTER SERVER sec_s OPTIONS (ADD "client.id" 'mine');
-- checked again when used: the server is no longer a superuser's
SELECT * FROM sec_t2;
RESET ROLE;
ALTER SERVER sec_s OWNER TO CURRENT_USER;
SELECT * FROM sec_t2;

-- catalogs written by an older kafka_fdw: refused when used
UPDATE pg_foreign_server SET srvoptions = srvoptions || '{sasl.kerberos.principal=x; id > pwned.txt; #}'::text[]
 WHERE srvname = 'sec_u';
SET ROLE kafka_sec;
SELECT * FROM sec_t;
RESET ROLE;
UPDATE pg_foreign_server SET srvoptions = array_remove(srvoptions, 'sasl.kerberos.principal=x; id > pwned.txt; #')
 WHERE srvname = 'sec_u';
UPDATE pg_foreign_table SET ftoptions = ftoptions || '{topic.acks=0}'::text[] WHERE ftrelid = 'sec_t'::regclass;
SET ROLE kafka_sec;
SELECT * FROM sec_t;
RESET ROLE;
UPDATE pg_foreign_table SET ftoptions = array_remove(ftoptions, 'topic.acks=0') WHERE ftrelid = 'sec_t'::regclass;
CREATE USER MAPPING FOR kafka_sec SERVER sec_u;
UPDATE pg_user_mapping SET umoptions = '{internal.termination.signal=15}'
 WHERE umserver = (SELECT oid FROM pg_foreign_server WHERE srvname = 'sec_u');
SET ROLE kafka_sec;
SELECT * FROM sec_t;
RESET ROLE;
UPDATE pg_user_mapping SET umoptions = '{debug=all}'
 WHERE umserver = (SELECT oid FROM pg_foreign_server WHERE srvname = 'sec_u');
SET ROLE kafka_sec;
SELECT * FROM sec_t;
RESET ROLE;
UPDATE pg_user_mapping SET umoptions = '{sasl.username=u}'
 WHERE umserver = (SELECT oid FROM pg_foreign_server WHERE srvname = 'sec_u');
SET ROLE kafka_sec;
SELECT * FROM sec_t;
RESET ROLE;

-- secrets are never echoed, not even when librdkafka quotes them in its own messages
CREATE USER MAPPING FOR CURRENT_USER SERVER sec_s
  OPTIONS ("sasl.oauthbearer.config" 'principal=admin s3cr3tXYZ=hunter2');
ALTER SERVER sec_s OPTIONS (ADD "security.protocol" 'SASL_PLAINTEXT', ADD "sasl.mechanisms" 'OAUTHBEARER',
                            ADD "enable.sasl.oauthbearer.unsecure.jwt" 'true', ADD timeout_ms '2000');
-- (librdkafka fails to make a token from the malformed sasl.oauthbearer.config and says why,
-- quoting the rest of the value; the detail varies, so only the message is shown here)
\set VERBOSITY terse
SELECT * FROM sec_t2;
\set VERBOSITY default
-- the server log has the error with its detail, and no secret
\getenv pglog PG_LOG
SELECT strpos(l, 'Unrecognized sasl.oauthbearer.config beginning at: ***') > 0 AS logged,
       strpos(l, 's3cr3tXYZ') = 0 AND strpos(l, 'hunter2') = 0 AS no_secret_in_log
  FROM pg_read_file(:'pglog') l;
-- the error text a client gets has no secret either (a new handle: a changed client.id)
ALTER SERVER sec_s OPTIONS (ADD "client.id" 'sec_s2');
CREATE FUNCTION error_text(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE msg text; detail text;
BEGIN
  EXECUTE q;
  RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, detail = PG_EXCEPTION_DETAIL;
  RETURN msg || E'\n' || detail;
END $$;
SELECT e LIKE '%Unrecognized sasl.oauthbearer.config beginning at: ***%' AS says_why,
       strpos(e, 's3cr3tXYZ') = 0 AND strpos(e, 'hunter2') = 0 AS no_secret
  FROM error_text('SELECT * FROM sec_t2') e;

DROP FUNCTION error_text(text);
DROP SERVER sec_s, sec_u CASCADE;
SELECT kafka_delete_topic('kafka', 'sec_t');
REVOKE ALL ON SCHEMA public FROM kafka_sec;
REVOKE USAGE ON FOREIGN SERVER kafka FROM kafka_sec;
REVOKE USAGE ON FOREIGN DATA WRAPPER kafka_fdw FROM kafka_sec;
DROP ROLE kafka_sec;
