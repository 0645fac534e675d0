-- options: the validator accepts what is valid and explains what is not.
\set VERBOSITY default
-- the wrapper itself takes no options
ALTER FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers 'x');
-- a server needs brokers
CREATE SERVER s1 FOREIGN DATA WRAPPER kafka_fdw;
CREATE SERVER s1 FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers 'a:1', topic 'x');
-- unknown option: not ours and not a librdkafka property; the hint lists ours
CREATE SERVER s1 FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers 'a:1', brokerz 'x');
-- librdkafka properties pass through and are checked by librdkafka
CREATE SERVER s1 FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers 'a:1', "socket.timeout.ms" 'abc');
CREATE SERVER s1 FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers 'a:1', "socket.timeout.ms" '5000', "client.rack" 'r1');
-- reserved properties point to our options
ALTER SERVER s1 OPTIONS (ADD "bootstrap.servers" 'b:2');
-- secrets only in user mappings
ALTER SERVER s1 OPTIONS (ADD "sasl.password" 'secret');
CREATE USER MAPPING FOR CURRENT_USER SERVER s1 OPTIONS ("sasl.username" 'u', "sasl.password" 'secret');
-- a user mapping takes librdkafka properties only
CREATE USER MAPPING FOR PUBLIC SERVER s1 OPTIONS (topic 'x');
-- bad values
ALTER SERVER s1 OPTIONS (ADD timeout_ms '0');
ALTER SERVER s1 OPTIONS (ADD batch_size 'many');
ALTER SERVER s1 OPTIONS (ADD format 'xml');
ALTER SERVER s1 OPTIONS (ADD isolation_level 'serializable');
-- tables need a topic
CREATE FOREIGN TABLE t1 (v text) SERVER s1;
CREATE FOREIGN TABLE t1 (v text) SERVER s1 OPTIONS (topic 'x', on_error 'ignore');
CREATE FOREIGN TABLE t1 (v text) SERVER s1 OPTIONS (topic 'x', delimiter ';;');
CREATE FOREIGN TABLE t1 (v text) SERVER s1 OPTIONS (topic 'x', brokers 'y');
-- options of adjust/kafka_fdw are accepted; those we do not need with a NOTICE
CREATE FOREIGN TABLE t1 (part int OPTIONS (partition 'true'), offs bigint OPTIONS (offset 'true'),
                         v text, junk text OPTIONS (junk 'true'), junk_error text OPTIONS (junk_error 'true'))
  SERVER s1 OPTIONS (topic 'x', format 'csv', batch_size '100', buffer_delay '100', num_partitions '4',
                     strict 'true', ignore_junk 'true');
-- column options
CREATE FOREIGN TABLE t2 (p int OPTIONS (partition 'yes please')) SERVER s1 OPTIONS (topic 'x');
CREATE FOREIGN TABLE t2 (p int OPTIONS (partition 'true', offset 'true')) SERVER s1 OPTIONS (topic 'x');
CREATE FOREIGN TABLE t2 (p int OPTIONS (color 'red')) SERVER s1 OPTIONS (topic 'x');
-- a metadata column of the wrong type is caught when the table is used
CREATE FOREIGN TABLE t3 (p text OPTIONS (partition 'true'), v text) SERVER s1 OPTIONS (topic 'x');
SELECT * FROM t3;
-- whole-value formats need exactly one value column
CREATE FOREIGN TABLE t4 (a text, b text) SERVER s1 OPTIONS (topic 'x', format 'text');
SELECT * FROM t4;
-- on_error 'junk' needs a junk column
CREATE FOREIGN TABLE t5 (a text) SERVER s1 OPTIONS (topic 'x', on_error 'junk');
SELECT * FROM t5;
-- security: a non-superuser may not set properties that read files or run commands
CREATE ROLE kafka_user;
GRANT USAGE ON FOREIGN DATA WRAPPER kafka_fdw TO kafka_user;
SET ROLE kafka_user;
CREATE SERVER s_user FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers 'a:1', "ssl.ca.location" '/etc/passwd');
CREATE SERVER s_user FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers 'a:1', "plugin.library.paths" '/tmp/evil.so');
CREATE SERVER s_user FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers 'a:1', "sasl.kerberos.kinit.cmd" 'touch /tmp/x');
CREATE SERVER s_user FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers 'a:1', "ssl.keystore.location" '/etc/shadow');
-- ... but ordinary properties are fine
CREATE SERVER s_user FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers 'a:1', "socket.timeout.ms" '5000');
-- and a non-superuser cannot create topics unless granted
SELECT kafka_create_topic('s_user', 'x');
RESET ROLE;
-- a superuser may set them
CREATE SERVER s_super FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers 'a:1', "ssl.ca.location" '/etc/ssl/certs');
DROP SERVER s_user, s_super;
REVOKE USAGE ON FOREIGN DATA WRAPPER kafka_fdw FROM kafka_user;
DROP ROLE kafka_user;
DROP SERVER s1 CASCADE;
