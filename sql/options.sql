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
-- on_error 'junk' without a junk column is accepted: a bad message's row keeps what decodes
CREATE FOREIGN TABLE t5 (a text) SERVER s1 OPTIONS (topic 'x', on_error 'junk');
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
-- integer options are digits with an optional sign: no blanks, units or exponents
ALTER SERVER s1 OPTIONS (ADD timeout_ms ' 100');
ALTER SERVER s1 OPTIONS (ADD timeout_ms '100 ');
ALTER SERVER s1 OPTIONS (ADD timeout_ms '100ms');
ALTER SERVER s1 OPTIONS (ADD timeout_ms '1e3');
ALTER SERVER s1 OPTIONS (ADD timeout_ms '');
CREATE FOREIGN TABLE t6 (v text) SERVER s1 OPTIONS (topic 'x', num_partitions '99999999999');
ALTER SERVER s1 OPTIONS (ADD timeout_ms '+1500');
ALTER SERVER s1 OPTIONS (DROP timeout_ms);
-- brokers: host:port entries separated by commas, at most 100 of them and 4096 bytes
CREATE SERVER s2 FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers '');
CREATE SERVER s2 FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers 'a:1,,b:2');
CREATE SERVER s2 FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers 'a:1,');
CREATE SERVER s2 FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers 'a b:1');
CREATE SERVER s2 FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers 'a:99999');
CREATE SERVER s2 FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers 'a:port');
CREATE SERVER s2 FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers 'a:');
CREATE SERVER s2 FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers '::1:9092');
CREATE SERVER s2 FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers 'http://a:1');
SELECT string_agg('b' || g, ',') AS many_brokers FROM generate_series(1, 300) g \gset
CREATE SERVER s2 FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers :'many_brokers');
SELECT string_agg(repeat('h', 100) || g || ':9092', ',') AS long_brokers FROM generate_series(1, 50) g \gset
CREATE SERVER s2 FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers :'long_brokers');
-- ... valid lists: names, IPv4, bracketed IPv6, protocol prefixes, blanks after commas, no port
CREATE SERVER s2 FOREIGN DATA WRAPPER kafka_fdw
  OPTIONS (brokers 'k1.example:9092, 10.0.0.2:9093,[::1]:9094,SSL://k4:9095,k5,[fe80::1]');
SELECT string_agg('b' || g || ':9092', ',') AS hundred_brokers FROM generate_series(1, 100) g \gset
ALTER SERVER s2 OPTIONS (SET brokers :'hundred_brokers');
DROP SERVER s2;
-- CSV: delimiter, quote and escape must keep a record unambiguous (COPY's rules)
CREATE FOREIGN TABLE t7 (a text, b text) SERVER s1 OPTIONS (topic 'x', format 'csv', delimiter '"');
CREATE FOREIGN TABLE t7 (a text, b text) SERVER s1 OPTIONS (topic 'x', format 'csv', quote ',');
CREATE FOREIGN TABLE t7 (a text, b text) SERVER s1 OPTIONS (topic 'x', format 'csv', delimiter ';', escape ';');
CREATE FOREIGN TABLE t7 (a text, b text) SERVER s1 OPTIONS (topic 'x', format 'csv', delimiter '|', quote '|', escape '\');
CREATE FOREIGN TABLE t7 (a text, b text) SERVER s1 OPTIONS (topic 'x', format 'csv', delimiter E'\n');
CREATE FOREIGN TABLE t7 (a text, b text) SERVER s1 OPTIONS (topic 'x', format 'csv', quote E'\r');
CREATE FOREIGN TABLE t7 (a text, b text) SERVER s1 OPTIONS (topic 'x', format 'csv', null 'a,b');
CREATE FOREIGN TABLE t7 (a text, b text) SERVER s1 OPTIONS (topic 'x', format 'csv', null '"');
CREATE FOREIGN TABLE t7 (a text, b text) SERVER s1 OPTIONS (topic 'x', format 'csv', null E'x\ny');
-- quote and escape may be the same (the default); a valid table, then ALTERs that would break it
CREATE FOREIGN TABLE t7 (a text, b text) SERVER s1
  OPTIONS (topic 'x', format 'csv', delimiter ';', quote '''', escape '''', null 'NULL');
ALTER FOREIGN TABLE t7 OPTIONS (SET delimiter '''');
ALTER FOREIGN TABLE t7 OPTIONS (DROP quote, DROP escape, SET delimiter '"');
-- a catalog entry written before these checks is refused when the table is used
UPDATE pg_foreign_table SET ftoptions = ARRAY['topic=x', 'format=csv', 'delimiter=;', 'escape=;']
 WHERE ftrelid = 't7'::regclass;
SELECT * FROM t7;
DROP FOREIGN TABLE t7;
-- two columns with the same role: column options are checked one column at a time,
-- so the table is refused when it is used (read or written)
CREATE FOREIGN TABLE t8 (p1 int OPTIONS (partition 'true'), p2 int OPTIONS (partition 'true'), v text)
  SERVER s1 OPTIONS (topic 'x');
SELECT * FROM t8;
INSERT INTO t8 (v) VALUES ('x');
CREATE FOREIGN TABLE t9 (k1 text OPTIONS (key 'true'), v text, k2 text OPTIONS (key 'true'))
  SERVER s1 OPTIONS (topic 'x');
INSERT INTO t9 (v) VALUES ('x');
CREATE FOREIGN TABLE t10 (h1 jsonb OPTIONS (headers 'true'), o1 bigint OPTIONS (offset 'true'),
                          o2 bigint OPTIONS (offset 'true'), v text) SERVER s1 OPTIONS (topic 'x');
SELECT count(*) FROM t10;
DROP FOREIGN TABLE t8, t9, t10;
DROP SERVER s1 CASCADE;
