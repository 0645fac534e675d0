-- bad messages: fail (default), skip, or junk; never a crash.
SELECT kafka_create_topic('kafka', 'bad', 1);
-- offsets: 0 good, 1 not JSON, 2 truncated, 3 wrong type, 4 not an object, 5 good, 6 trailing garbage, 7 bad escape
\! printf '%s\n' '{"id":1,"v":"a"}' 'hello' '{"id":2,"v":"b' '{"id":"three","v":"c"}' '[1,2]' '{"id":5,"v":"e"}' '{"id":6} x' '{"id":7,"v":"\q"}' | kcat -b "$KAFKA_BROKERS" -P -t bad -p 0
-- offset 8: invalid UTF-8
\! printf '{"id":8,"v":"\377"}' | kcat -b "$KAFKA_BROKERS" -P -t bad -p 0
CREATE FOREIGN TABLE bad_fail (offs bigint OPTIONS (offset 'true'), id int, v text)
  SERVER kafka OPTIONS (topic 'bad', format 'json');
-- fail: the error names topic, partition, offset and reason
SELECT * FROM bad_fail;
SELECT * FROM bad_fail WHERE offs = 2;
SELECT * FROM bad_fail WHERE offs = 3;
SELECT * FROM bad_fail WHERE offs = 4;
SELECT * FROM bad_fail WHERE offs = 6;
SELECT * FROM bad_fail WHERE offs = 7;
SELECT * FROM bad_fail WHERE offs = 8;
SELECT * FROM bad_fail WHERE offs IN (0, 5) ORDER BY offs;
-- skip: counted, with a NOTICE and in EXPLAIN ANALYZE
CREATE FOREIGN TABLE bad_skip (offs bigint OPTIONS (offset 'true'), id int, v text)
  SERVER kafka OPTIONS (topic 'bad', format 'json', on_error 'skip');
SELECT * FROM bad_skip ORDER BY offs;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT * FROM bad_skip;
-- junk: the row comes back with the raw message, the reason, and the fields that decode
CREATE FOREIGN TABLE bad_junk (offs bigint OPTIONS (offset 'true'), id int, v text,
                               raw text OPTIONS (junk 'true'), why text OPTIONS (junk_error 'true'))
  SERVER kafka OPTIONS (topic 'bad', format 'json', on_error 'junk');
SELECT offs, id, v, raw, why FROM bad_junk ORDER BY offs;
-- adjust/kafka_fdw's ignore_junk means junk
CREATE FOREIGN TABLE bad_junk2 (offs bigint OPTIONS (offset 'true'), id int, raw bytea OPTIONS (junk 'true'))
  SERVER kafka OPTIONS (topic 'bad', format 'json', ignore_junk 'true');
SELECT offs, id, raw FROM bad_junk2 WHERE raw IS NOT NULL ORDER BY offs;
-- only the listed offsets are read, so the bad ones between them do not matter
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT * FROM bad_fail WHERE offs IN (0, 5, 5, 99);
-- the key must be valid text for a text key column
SELECT kafka_create_topic('kafka', 'bad_key', 1);
\! printf 'k\377|v\n' | kcat -b "$KAFKA_BROKERS" -P -t bad_key -p 0 -K '|'
CREATE FOREIGN TABLE bad_key (k text OPTIONS (key 'true'), v text) SERVER kafka OPTIONS (topic 'bad_key', format 'text');
CREATE FOREIGN TABLE bad_key_b (k bytea OPTIONS (key 'true'), v text) SERVER kafka OPTIONS (topic 'bad_key', format 'text');
SELECT * FROM bad_key;
SELECT * FROM bad_key_b;
-- ... and a bad key is a bad message like any other
ALTER FOREIGN TABLE bad_key OPTIONS (ADD on_error 'skip');
SELECT * FROM bad_key;
