-- adjust_edges: edge cases of the adjust/kafka_fdw compatibility features found by a hostile
-- reading (kafka_get_watermarks on relations that are not kafka_fdw tables, junk_error of a
-- message with very many failures).
\getenv brokers KAFKA_BROKERS

-- kafka_get_watermarks / kafka_watermarks take a kafka_fdw foreign table only: any other
-- relation (a table, a catalog, a foreign table of another wrapper) is refused with 42809,
-- not read as if its options were a Kafka table's
CREATE TABLE adje_plain (i int);
CREATE FOREIGN DATA WRAPPER adje_other;
CREATE SERVER adje_other_srv FOREIGN DATA WRAPPER adje_other OPTIONS (brokers :'brokers');
CREATE FOREIGN TABLE adje_other_t (part int) SERVER adje_other_srv OPTIONS (topic 'adje');
SELECT show_error($$SELECT * FROM kafka_get_watermarks('adje_plain')$$);
SELECT show_error($$SELECT * FROM kafka_get_watermarks('pg_class')$$);
SELECT show_error($$SELECT * FROM kafka_watermarks('adje_other_t')$$);
SELECT show_error($$SELECT * FROM kafka_get_watermarks('adje_other_t')$$);
SELECT * FROM kafka_get_watermarks(NULL);
DROP FOREIGN TABLE adje_other_t;
DROP SERVER adje_other_srv;
DROP FOREIGN DATA WRAPPER adje_other;
DROP TABLE adje_plain;

-- strict json under junk handling: junk_error names the first 100 keys no column maps to and
-- counts the rest (a message of many short keys must not give a junk_error, and a list of
-- failures, many times its own size); the fields that decode are kept
SELECT kafka_create_topic('kafka', 'adje_keys', 1);
\! python3 -c 'print("{" + ",".join("\"k%d\": %d" % (i, i) for i in range(250)) + ", \"a\": 7}")' | kcat -b "$KAFKA_BROKERS" -P -t adje_keys -p 0
\! python3 -c 'print("{" + ",".join("\"k\": 1" for i in range(150)) + ", \"a\": \"x\", \"b\": 2}")' | kcat -b "$KAFKA_BROKERS" -P -t adje_keys -p 0
CREATE FOREIGN TABLE adje_keys (offs bigint OPTIONS (offset 'true'), a int, why text OPTIONS (junk_error 'true'))
  SERVER kafka OPTIONS (topic 'adje_keys', strict 'true');
SELECT offs, a, array_length(string_to_array(why, E'\n'), 1) AS failures,
       (string_to_array(why, E'\n'))[1] AS first, (string_to_array(why, E'\n'))[100] AS hundredth,
       (string_to_array(why, E'\n'))[101] AS then, (string_to_array(why, E'\n'))[102] AS last
  FROM adje_keys ORDER BY offs;
-- under fail the first unknown key is the error
ALTER FOREIGN TABLE adje_keys OPTIONS (ADD on_error 'fail');
SELECT show_error('SELECT * FROM adje_keys');

-- junk columns of varchar(n) are refused when used (nothing would hold their values to n
-- characters); varchar without a length is text
CREATE FOREIGN TABLE adje_vc (offs bigint OPTIONS (offset 'true'), a int, why varchar(3) OPTIONS (junk_error 'true'))
  SERVER kafka OPTIONS (topic 'adje_keys');
SELECT show_error('SELECT * FROM adje_vc');
ALTER FOREIGN TABLE adje_vc ALTER COLUMN why TYPE varchar;
SELECT offs, a, length(why) > 3 AS long FROM adje_vc ORDER BY offs;
CREATE FOREIGN TABLE adje_vc2 (a int, raw varchar(10) OPTIONS (junk 'true')) SERVER kafka OPTIONS (topic 'adje_keys');
SELECT show_error('SELECT * FROM adje_vc2');
DROP FOREIGN TABLE adje_vc, adje_vc2, adje_keys;

-- encoding 'SQL_ASCII' in a SQL_ASCII database: bytes as they are, but never a zero byte (a
-- text value cannot hold one: it was returned inside the value, which then compared and
-- concatenated wrongly); value, junk and key alike
SELECT kafka_create_topic('kafka', 'adje_nul', 1);
\! printf 'ab\000cd' > /tmp/adje_nul.$KAFKA_PORT && kcat -b "$KAFKA_BROKERS" -P -t adje_nul -p 0 -k 'k1' /tmp/adje_nul.$KAFKA_PORT
\! rm -f /tmp/adje_nul.$KAFKA_PORT; printf 'k\000z\tx\377y\n' | kcat -b "$KAFKA_BROKERS" -P -t adje_nul -p 0 -K '\t'
SELECT current_database() AS adje_db \gset
CREATE DATABASE adje_sqlascii ENCODING 'SQL_ASCII' TEMPLATE template0 LC_COLLATE 'C' LC_CTYPE 'C';
\c adje_sqlascii
SET client_min_messages = warning;
CREATE EXTENSION kafka_fdw;
RESET client_min_messages;
CREATE SERVER kafka FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers :'brokers');
CREATE FOREIGN TABLE adje_nul (offs bigint OPTIONS (offset 'true'), k text OPTIONS (key 'true'), v text,
                               raw text OPTIONS (junk 'true'), why text OPTIONS (junk_error 'true'))
  SERVER kafka OPTIONS (topic 'adje_nul', format 'text', encoding 'SQL_ASCII');
SELECT offs, k::bytea, v::bytea, raw::bytea, why FROM adje_nul ORDER BY offs;
ALTER FOREIGN TABLE adje_nul OPTIONS (SET format 'json');
ALTER FOREIGN TABLE adje_nul RENAME COLUMN v TO a;
SELECT offs, k::bytea, a::bytea, raw::bytea, why FROM adje_nul ORDER BY offs;
\c :adje_db
DROP DATABASE adje_sqlascii;
