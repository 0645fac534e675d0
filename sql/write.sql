-- write: INSERT and COPY produce one message per row, confirmed by the broker;
-- RETURNING gives partition and offset; transactional tables commit and roll
-- back with PostgreSQL; UPDATE and DELETE are refused.
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';

-- json: every metadata column, explicit partitions, and the value columns as JSON
SELECT kafka_create_topic('kafka', 'w_json', 2);
CREATE TYPE w_pair AS (a int, b text);
CREATE FOREIGN TABLE w_json (
    part int OPTIONS (partition 'true'), offs bigint OPTIONS (offset 'true'),
    ts timestamptz OPTIONS (timestamp 'true'), k text OPTIONS (key 'true'),
    h jsonb OPTIONS (headers 'true'),
    id int, name text OPTIONS (json 'full_name'), price numeric, ok bool, tags text[],
    doc jsonb, raw json, at timestamptz, f float8, pair w_pair, d date)
  SERVER kafka OPTIONS (topic 'w_json', format 'json');
INSERT INTO w_json (part, offs, ts, k, h, id, name, price, ok, tags, doc, raw, at, f, pair, d) VALUES
  (0, 999, '2024-01-02 03:04:05.678+00', 'k1', '{"src": "pg", "n": 1, "z": null, "o": {"p": [1, 2]}}',
   1, 'one "quoted" ünï', 1.50, true, '{a,"b c"}', '{"x": [1, null]}', '[1, 2]', '2024-01-01 00:00:00+00',
   'NaN', '(7,seven)', '2024-02-29'),
  (1, NULL, '2024-01-02 03:04:06+00', NULL, NULL, 2, NULL, NULL, false, '{}', NULL, NULL, NULL, 2.5, NULL, NULL),
  (1, NULL, '2024-01-02 03:04:07+00', 'k3', '{}', 3, 'three', -0.001, NULL, NULL, 'null', '{}', NULL, -1e300, '(,)', NULL);
-- read back: the offset given on input is ignored, Kafka assigns it
SELECT part, offs, ts, k, h, id, name, price, ok, tags, doc, raw, at, f, pair, d FROM w_json ORDER BY part, offs;
-- the messages as other clients see them
\! kcat -b "$KAFKA_BROKERS" -C -e -q -t w_json -p 0 -f 'p%p o%o k=%k ts=%T h=%h %s\n'
\! kcat -b "$KAFKA_BROKERS" -C -e -q -t w_json -p 1 -f 'p%p o%o k=%k ts=%T h=%h %s\n'

-- RETURNING waits for each row's acknowledgement and returns what Kafka assigned
INSERT INTO w_json (part, id) VALUES (1, 4), (0, 5), (1, 6) RETURNING part, offs, ts IS NOT NULL AS has_ts, id;
-- (a past timestamp: Kafka 4 refuses timestamps more than an hour ahead by default)
INSERT INTO w_json (part, ts, id) VALUES (0, '2021-06-01 00:00:00+00', 7) RETURNING part, offs, ts, id;

-- the partition column must name a partition of the topic; NULL lets the partitioner choose
INSERT INTO w_json (part, id) VALUES (2, 8);
INSERT INTO w_json (part, id) VALUES (-1, 8);
INSERT INTO w_json (part, k, id) VALUES (NULL, 'any', 9) RETURNING part IN (0, 1) AS partitioned, id;
SELECT count(*) FROM w_json;
-- headers must be an object; timestamps must be after the epoch
INSERT INTO w_json (h, id) VALUES ('[1, 2]', 10);
INSERT INTO w_json (ts, id) VALUES ('1969-12-31 23:59:59+00', 10);
INSERT INTO w_json (ts, id) VALUES ('infinity', 10);

-- key types: bytea raw, integers by their output function; timestamps as timestamp and bigint
SELECT kafka_create_topic('kafka', 'w_keys', 1);
CREATE FOREIGN TABLE w_keys_b (offs bigint OPTIONS (offset 'true'), k bytea OPTIONS (key 'true'),
    ts timestamp OPTIONS (timestamp 'true'), v text) SERVER kafka OPTIONS (topic 'w_keys', format 'text');
CREATE FOREIGN TABLE w_keys_i (offs bigint OPTIONS (offset 'true'), k bigint OPTIONS (key 'true'),
    ts bigint OPTIONS (timestamp 'true'), v text) SERVER kafka OPTIONS (topic 'w_keys', format 'text');
INSERT INTO w_keys_b (k, ts, v) VALUES ('\x00ff41', '2024-03-01 12:00:00', 'binary key');
INSERT INTO w_keys_i (k, ts, v) VALUES (42, 1700000000123, 'integer key');
SELECT offs, k, ts, v FROM w_keys_b ORDER BY offs;
SELECT offs, ts, v FROM w_keys_i WHERE offs = 1;
\! kcat -b "$KAFKA_BROKERS" -C -e -q -t w_keys -f 'o%o key=%K:%k ts=%T %s\n' | od -An -c | tr -s ' '

-- csv: COPY-compatible with the table's delimiter, quote, escape and null string
SELECT kafka_create_topic('kafka', 'w_csv', 1);
CREATE FOREIGN TABLE w_csv (offs bigint OPTIONS (offset 'true'), k int OPTIONS (key 'true'),
    a text, b int, c text, junk text OPTIONS (junk 'true'))
  SERVER kafka OPTIONS (topic 'w_csv', format 'csv', delimiter ';', null 'NULL');
INSERT INTO w_csv (k, a, b, c, junk) VALUES
  (1, 'plain', 1, 'x', 'ignored'), (2, 'semi;colon "q"', NULL, '', NULL), (3, 'NULL', 3, E'line\nbreak', NULL),
  (4, NULL, NULL, NULL, NULL);
-- COPY FROM writes through the same path
COPY w_csv (k, a, b, c) FROM STDIN WITH (FORMAT csv);
5,copied,5,y
6,"with,comma",6,
\.
SELECT offs, k, a, b, c, junk FROM w_csv ORDER BY offs;
\! kcat -b "$KAFKA_BROKERS" -C -e -q -t w_csv -f 'k=%k [%s]\n'
CREATE FOREIGN TABLE w_csv2 (a text, b text) SERVER kafka OPTIONS (topic 'w_csv2', format 'csv', quote '''', escape '\');
SELECT kafka_create_topic('kafka', 'w_csv2', 1);
INSERT INTO w_csv2 VALUES ('it''s', 'back\slash'), ('', NULL);
\! kcat -b "$KAFKA_BROKERS" -C -e -q -t w_csv2 -f '[%s]\n'
SELECT a, b, a = '' AS empty, b IS NULL AS null FROM w_csv2;

-- text, bytea, jsonb: the one value column is the whole value; NULL is a tombstone
SELECT kafka_create_topic('kafka', 'w_whole', 1);
CREATE FOREIGN TABLE w_text (offs bigint OPTIONS (offset 'true'), v text) SERVER kafka OPTIONS (topic 'w_whole', format 'text');
CREATE FOREIGN TABLE w_bytea (offs bigint OPTIONS (offset 'true'), v bytea) SERVER kafka OPTIONS (topic 'w_whole', format 'bytea');
CREATE FOREIGN TABLE w_jsonb (offs bigint OPTIONS (offset 'true'), v jsonb) SERVER kafka OPTIONS (topic 'w_whole', format 'jsonb');
INSERT INTO w_text (v) VALUES ('hello, world'), (NULL);
INSERT INTO w_bytea (v) VALUES ('\xdeadbeef00');
INSERT INTO w_jsonb (v) VALUES ('{"a": [1, {"b": null}]}');
SELECT offs, v, v IS NULL AS tombstone FROM w_bytea ORDER BY offs;
SELECT offs, v FROM w_jsonb WHERE offs = 3;
\! kcat -b "$KAFKA_BROKERS" -C -e -q -t w_whole -f 'o%o len=%S\n'

-- a many-row INSERT ... SELECT is batched and every row arrives once
SELECT kafka_create_topic('kafka', 'w_many', 3);
CREATE FOREIGN TABLE w_many (part int OPTIONS (partition 'true'), k text OPTIONS (key 'true'), n int, s text)
  SERVER kafka OPTIONS (topic 'w_many', format 'json', insert_batch_size '1000');
INSERT INTO w_many (k, n, s) SELECT 'key' || (g % 100), g, repeat('x', g % 50) FROM generate_series(1, 20000) g;
SELECT count(*), count(DISTINCT n), sum(n), sum(length(s)) FROM w_many;
-- a key always goes to the same partition
SELECT count(*) FROM (SELECT k FROM w_many GROUP BY k HAVING count(DISTINCT part) > 1) x;
EXPLAIN (COSTS OFF) INSERT INTO w_many (n) VALUES (1);
-- rows keep their order, also when some carry a timestamp or headers
SELECT kafka_create_topic('kafka', 'w_order', 1);
CREATE FOREIGN TABLE w_order (offs bigint OPTIONS (offset 'true'), ts bigint OPTIONS (timestamp 'true'),
    h jsonb OPTIONS (headers 'true'), n int) SERVER kafka OPTIONS (topic 'w_order');
INSERT INTO w_order (ts, h, n)
  SELECT CASE WHEN g % 700 = 0 THEN 1700000000000 + g END, CASE WHEN g % 900 = 0 THEN '{"x": "y"}'::jsonb END, g
    FROM generate_series(1, 3000) g;
SELECT count(*), bool_and(offs = n - 1) AS in_order, count(*) FILTER (WHERE ts = 1700000000000 + n) AS given_ts,
       count(*) FILTER (WHERE h = '{"x": "y"}') AS with_headers FROM w_order;
-- ... and when librdkafka's queue is full and the statement has to wait for room
SELECT kafka_create_topic('kafka', 'w_queue', 1);
CREATE FOREIGN TABLE w_queue (offs bigint OPTIONS (offset 'true'), n int)
  SERVER kafka OPTIONS (topic 'w_queue', "queue.buffering.max.messages" '100', "linger.ms" '1');
INSERT INTO w_queue (n) SELECT g FROM generate_series(1, 3000) g;
SELECT count(*), bool_and(offs = n - 1) AS in_order FROM w_queue;

-- errors: the statement fails, saying why and how many messages failed
\set VERBOSITY terse
-- an unreachable broker fails within timeout_ms
CREATE SERVER w_nowhere FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers '127.0.0.1:1', timeout_ms '2000');
CREATE FOREIGN TABLE w_nowhere_t (v text) SERVER w_nowhere OPTIONS (topic 'w_whole', format 'text');
DO $$
DECLARE t0 timestamptz := clock_timestamp();
BEGIN
  INSERT INTO w_nowhere_t VALUES ('lost?');
  RAISE NOTICE 'no error';
EXCEPTION WHEN fdw_unable_to_establish_connection THEN
  RAISE NOTICE 'unreachable broker: %, within the timeout: %', SQLERRM, clock_timestamp() - t0 < interval '6 seconds';
END $$;
-- a missing topic
CREATE FOREIGN TABLE w_missing (v text) SERVER kafka OPTIONS (topic 'w_no_such_topic', format 'text');
INSERT INTO w_missing VALUES ('x');
-- a message larger than librdkafka allows, and larger than the broker allows
INSERT INTO w_text (v) VALUES ('small'), (repeat('x', 1100000));
CREATE FOREIGN TABLE w_text_big (v text) SERVER kafka OPTIONS (topic 'w_whole', format 'text', "message.max.bytes" '3000000');
\set VERBOSITY default
INSERT INTO w_text_big VALUES (repeat('y', 1500000));
SELECT offs, length(v) FROM w_bytea ORDER BY offs;
-- producer settings kafka_fdw owns are refused, with a hint
ALTER FOREIGN TABLE w_text OPTIONS (ADD acks '1');
ALTER FOREIGN TABLE w_text OPTIONS (ADD "transactional.id" 'mine');
ALTER FOREIGN TABLE w_text OPTIONS (ADD transactional 'maybe');

-- UPDATE and DELETE: topics are append-only
UPDATE w_text SET v = 'changed';
DELETE FROM w_text WHERE offs = 0;
DELETE FROM w_text;

-- transactional: messages are visible to read_committed consumers only after COMMIT
SELECT kafka_create_topic('kafka', 'w_tx', 1);
CREATE FOREIGN TABLE w_tx (offs bigint OPTIONS (offset 'true'), part int OPTIONS (partition 'true'), id int, note text)
  SERVER kafka OPTIONS (topic 'w_tx', format 'json', transactional 'true', insert_batch_size '10');
BEGIN;
INSERT INTO w_tx (id) SELECT g FROM generate_series(1, 5) g;
-- not even this transaction reads its own uncommitted messages
SELECT count(*) FROM w_tx;
ROLLBACK;
SELECT count(*) FROM w_tx;
\! echo "read_committed: $(kcat -b "$KAFKA_BROKERS" -C -e -q -t w_tx -X isolation.level=read_committed | wc -l), read_uncommitted: $(kcat -b "$KAFKA_BROKERS" -C -e -q -t w_tx -X isolation.level=read_uncommitted | wc -l)"
BEGIN;
INSERT INTO w_tx (id) SELECT g FROM generate_series(11, 15) g;
INSERT INTO w_tx (id, note) VALUES (16, 'second statement');
COMMIT;
SELECT count(*), min(id), max(id) FROM w_tx;
\! echo "read_committed: $(kcat -b "$KAFKA_BROKERS" -C -e -q -t w_tx -X isolation.level=read_committed | wc -l)"
-- a statement that fails midway leaves nothing visible, though 1500 rows had been sent
INSERT INTO w_tx (id)
  SELECT CASE WHEN g = 2095 THEN (SELECT 'boom' FROM pg_sleep(0.5))::int ELSE g END FROM generate_series(101, 2200) g;
SELECT count(*) FROM w_tx;
\! n=$(kcat -b "$KAFKA_BROKERS" -C -e -q -t w_tx -X isolation.level=read_uncommitted | wc -l); echo "read_committed: $(kcat -b "$KAFKA_BROKERS" -C -e -q -t w_tx -X isolation.level=read_committed | wc -l), aborted messages in the log: $([ "$n" -gt 1000 ] && echo yes || echo no)"
-- so does a failure in our own encoding, and one in a later statement of the transaction
INSERT INTO w_tx (part, id) SELECT CASE WHEN g = 50 THEN 3 ELSE 0 END, g FROM generate_series(1, 60) g;
BEGIN;
INSERT INTO w_tx (id) VALUES (300);
INSERT INTO w_tx (id) VALUES (301), (1/0);
COMMIT;
SELECT count(*), max(id) FROM w_tx;
-- rolling back to a savepoint cannot take back sent messages: the transaction cannot commit
BEGIN;
INSERT INTO w_tx (id) VALUES (400);
SAVEPOINT s;
INSERT INTO w_tx (id) VALUES (401);
ROLLBACK TO SAVEPOINT s;
COMMIT;
BEGIN;
INSERT INTO w_tx (id) VALUES (410);
SAVEPOINT s;
INSERT INTO w_tx (id) VALUES (411);
ROLLBACK TO SAVEPOINT s;
INSERT INTO w_tx (id) VALUES (412);
ROLLBACK;
-- savepoints without messages in them are fine
BEGIN;
SAVEPOINT s1;
ROLLBACK TO SAVEPOINT s1;
INSERT INTO w_tx (id) VALUES (500);
SAVEPOINT s2;
SELECT 1 AS one;
ROLLBACK TO SAVEPOINT s2;
SAVEPOINT s3;
INSERT INTO w_tx (id) VALUES (501);
RELEASE SAVEPOINT s3;
COMMIT;
SELECT id FROM w_tx WHERE id >= 300 ORDER BY id;
-- PREPARE TRANSACTION is refused for transactional tables ...
BEGIN;
INSERT INTO w_tx (id) VALUES (600);
PREPARE TRANSACTION 'w_tx_prepared';
SELECT count(*) FROM pg_prepared_xacts;
SELECT count(*), max(id) FROM w_tx;
-- ... but not for others, whose messages are delivered at once
BEGIN;
INSERT INTO w_text (v) VALUES ('prepared');
PREPARE TRANSACTION 'w_text_prepared';
COMMIT PREPARED 'w_text_prepared';
SELECT offs, convert_from(v, 'UTF8') FROM w_bytea WHERE v = 'prepared'::bytea;
\! echo "read_committed: $(kcat -b "$KAFKA_BROKERS" -C -e -q -t w_tx -X isolation.level=read_committed | wc -l)"
