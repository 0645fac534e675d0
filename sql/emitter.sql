-- emitter: changes of a table captured in the writer's transaction and
-- published by kafka.flush_stream() (the worker's code), read back from the
-- topic through kafka_fdw foreign tables.  The streams are paused, so that
-- the background worker leaves them to kafka.flush_stream().  Envelopes are compared with real
-- events of Debezium's PostgreSQL connector (test/debezium-reference).
SET timezone = 'UTC';
CREATE TABLE emit_src (loyalty_id bigint PRIMARY KEY, level text NOT NULL, email text, updated_at timestamptz);
SELECT kafka_create_topic('kafka', 'emit_loyalty', 2);
SELECT kafka.stream_changes('emit_src', 'kafka', 'emit_loyalty') > 0 AS started;
SELECT kafka.pause_stream('emit_src');
CREATE FOREIGN TABLE emit_loyalty_t (part int OPTIONS (partition 'true'), offs bigint OPTIONS (offset 'true'),
  k jsonb OPTIONS (key 'true'), h jsonb OPTIONS (headers 'true'), v jsonb)
  SERVER kafka OPTIONS (topic 'emit_loyalty', format 'jsonb');
-- a view of the messages in event order: event_id header, then offset
CREATE VIEW emit_loyalty_v AS
  SELECT (h->>'kafka_fdw.event_id')::bigint AS event_id, k, v->>'op' AS op, v->'before' AS before,
         v->'after' AS after, v IS NULL AS tombstone, offs, part
    FROM emit_loyalty_t;

-- every op; a rolled-back transaction and a rolled-back savepoint leave nothing
INSERT INTO emit_src VALUES (1, 'bronze', 'a@example.com', '2024-01-02 03:04:05.5+00'), (2, 'silver', NULL, NULL);
UPDATE emit_src SET level = 'gold' WHERE loyalty_id = 1;
DELETE FROM emit_src WHERE loyalty_id = 2;
BEGIN;
INSERT INTO emit_src VALUES (3, 'rolled back', NULL, NULL);
ROLLBACK;
BEGIN;
INSERT INTO emit_src VALUES (4, 'kept', NULL, NULL);
SAVEPOINT s;
INSERT INTO emit_src VALUES (5, 'rolled back to savepoint', NULL, NULL);
UPDATE emit_src SET level = 'also rolled back' WHERE loyalty_id = 4;
ROLLBACK TO SAVEPOINT s;
COMMIT;
-- a change of key: delete of the old key, its tombstone, create of the new
UPDATE emit_src SET loyalty_id = 10 WHERE loyalty_id = 4;
-- captured, not yet published: the outbox holds 6 events
SELECT op, count(*) FROM kafka.outbox WHERE stream_id = (SELECT stream_id FROM kafka.stream WHERE relid = 'emit_src'::regclass) GROUP BY op ORDER BY op;
SELECT kafka.flush_stream('emit_src') IS NOT NULL AS flushed;
SELECT count(*) AS outbox_left FROM kafka.outbox WHERE stream_id = (SELECT stream_id FROM kafka.stream WHERE relid = 'emit_src'::regclass);
SELECT wait_rows('SELECT * FROM emit_loyalty_t', 9);
SELECT k, op, before, after, tombstone FROM emit_loyalty_v ORDER BY event_id, offs;
-- one event_id per change; each message once
SELECT count(*) AS messages, count(DISTINCT event_id) AS events, count(DISTINCT (part, offs)) AS distinct_messages
  FROM emit_loyalty_v;
-- TRUNCATE: op t without key, before and after null
TRUNCATE emit_src;
SELECT kafka.flush_stream('emit_src') IS NOT NULL AS flushed;
SELECT wait_rows('SELECT * FROM emit_loyalty_t', 10);
SELECT k, op, before, after FROM emit_loyalty_v WHERE op = 't';

-- the value and source fields are Debezium's, in Debezium's order
\set ref_c `cat test/debezium-reference/c.value.json`
CREATE FOREIGN TABLE emit_loyalty_text (offs bigint OPTIONS (offset 'true'), v text)
  SERVER kafka OPTIONS (topic 'emit_loyalty', format 'text');
SELECT (SELECT array_agg(key) FROM json_each(vj)) = (SELECT array_agg(key) FROM json_each(:'ref_c'::json)) AS value_fields,
       (SELECT array_agg(key) FROM json_each(vj->'source')) = (SELECT array_agg(key) FROM json_each((:'ref_c'::json)->'source')) AS source_fields,
       v->'source'->>'connector' AS connector, v->'source'->>'name' AS name, v->'source'->>'version' AS version,
       v->'source'->>'snapshot' AS snapshot, v->'source'->>'db' = current_database() AS db,
       v->'source'->>'schema' AS schema, v->'source'->>'table' AS table,
       v->'source'->>'sequence' = format('[null,"%s"]', v->'source'->>'lsn') AS sequence,
       jsonb_typeof(v->'source'->'txId') AS txid, jsonb_typeof(v->'source'->'ts_ms') AS source_ts,
       (v->>'ts_ms')::bigint >= (v->'source'->>'ts_ms')::bigint AS ts_order,
       (v->>'ts_us')::bigint / 1000 = (v->>'ts_ms')::bigint AS ts_us
  FROM (SELECT offs, v::jsonb AS v, v::json AS vj FROM emit_loyalty_text) m
 WHERE v->>'op' = 'c' ORDER BY offs LIMIT 1;
-- the key is an object of the key columns, as Debezium's
\set ref_key `cat test/debezium-reference/key.json`
SELECT (SELECT array_agg(key) FROM jsonb_each(k)) = (SELECT array_agg(key) FROM jsonb_each(:'ref_key'::jsonb)) AS key_fields
  FROM emit_loyalty_t WHERE v->>'op' = 'c' LIMIT 1;

-- a rolled-back flush: Kafka has the batch, PostgreSQL not; the next flush
-- reads the progress record and sends nothing again (exactly once)
INSERT INTO emit_src VALUES (20, 'once', NULL, NULL);
BEGIN;
SELECT kafka.flush_stream('emit_src') AS sent_then_rolled_back;
ROLLBACK;
SELECT count(*) AS outbox_back FROM kafka.outbox WHERE stream_id = (SELECT stream_id FROM kafka.stream WHERE relid = 'emit_src'::regclass);
SELECT kafka.flush_stream('emit_src') IS NOT NULL AS flushed;
SELECT count(*) AS outbox_left FROM kafka.outbox WHERE stream_id = (SELECT stream_id FROM kafka.stream WHERE relid = 'emit_src'::regclass);
SELECT wait_rows('SELECT * FROM emit_loyalty_t', 11);
SELECT count(*) AS copies_of_20 FROM emit_loyalty_v WHERE after->>'loyalty_id' = '20';
SELECT batch_no, events_sent, last_error FROM kafka.stream WHERE relid = 'emit_src'::regclass;
-- the progress topic holds the batches, keyed by the stream's uuid
CREATE FOREIGN TABLE emit_progress_t (k text OPTIONS (key 'true'), v jsonb) SERVER kafka OPTIONS (topic 'kafka_fdw_progress', format 'jsonb');
SELECT wait_rows($$SELECT * FROM emit_progress_t WHERE k = (SELECT stream_uuid::text FROM kafka.stream WHERE relid = 'emit_src'::regclass)$$, 3);
SELECT v->>'batch_no' AS batch_no, v->>'count' AS count, v->>'table' AS table
  FROM emit_progress_t WHERE k = (SELECT stream_uuid::text FROM kafka.stream WHERE relid = 'emit_src'::regclass)
 ORDER BY (v->>'batch_no')::int;

-- schemas = true: key and value wrapped as Kafka Connect's JsonConverter
-- does; the schemas equal the reference's but for the logical name and table
CREATE TABLE emit_src_s (loyalty_id bigint PRIMARY KEY, level text NOT NULL, email text, updated_at timestamptz);
SELECT kafka_create_topic('kafka', 'emit_loyalty_s', 1);
SELECT kafka.stream_changes('emit_src_s', 'kafka', 'emit_loyalty_s', schemas => true) > 0 AS started;
SELECT kafka.pause_stream('emit_src_s');
CREATE FOREIGN TABLE emit_loyalty_s_t (offs bigint OPTIONS (offset 'true'), k jsonb OPTIONS (key 'true'), v jsonb)
  SERVER kafka OPTIONS (topic 'emit_loyalty_s', format 'jsonb');
INSERT INTO emit_src_s VALUES (96751, 'lat-3', 'user96751@example.com', '2026-11-30 05:13:17.718206+00');
SELECT kafka.flush_stream('emit_src_s') IS NOT NULL AS flushed;
SELECT wait_rows('SELECT * FROM emit_loyalty_s_t', 1);
\set ref_rs `cat test/debezium-reference/r.schemas-enabled.value.json`
\set ref_ks `cat test/debezium-reference/key.schemas-enabled.json`
SELECT v->'schema' = replace(:'ref_rs', '"dbzs.public.loyalty.', '"kafka.public.emit_src_s.')::jsonb->'schema' AS value_schema_equal,
       k->'schema' = replace(:'ref_ks', '"dbzs.public.loyalty.', '"kafka.public.emit_src_s.')::jsonb->'schema' AS key_schema_equal,
       k->'payload' AS key_payload,
       v->'payload'->'after' = (:'ref_rs'::jsonb)->'payload'->'after' AS after_equal,
       v->'payload'->>'op' AS op
  FROM emit_loyalty_s_t;

-- Connect types of PostgreSQL types, with and without the wrapper
CREATE TABLE emit_types (id int PRIMARY KEY, n numeric(10,2), n_neg numeric(10,2), nv numeric, ts timestamptz,
  t timestamp, d date, tm time, j jsonb, u uuid, b bytea, f float8, s smallint, flag bool, a int[]);
SELECT kafka_create_topic('kafka', 'emit_types', 1);
SELECT kafka.stream_changes('emit_types', 'kafka', 'emit_types', schemas => true) > 0 AS started;
SELECT kafka.pause_stream('emit_types');
CREATE FOREIGN TABLE emit_types_t (offs bigint OPTIONS (offset 'true'), v jsonb)
  SERVER kafka OPTIONS (topic 'emit_types', format 'jsonb');
INSERT INTO emit_types VALUES (1, 123.45, -1, 1.5, '2024-01-02 03:04:05.5+02', '2024-01-02 03:04:05', '2024-01-02',
  '01:02:03.25', '{"x": [1, 2]}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '\x0102ff', 2.5, 7, true, '{1,2}');
INSERT INTO emit_types (id) VALUES (2);
SELECT kafka.flush_stream('emit_types') IS NOT NULL AS flushed;
SELECT wait_rows('SELECT * FROM emit_types_t', 2);
SELECT jsonb_pretty(v->'payload'->'after') FROM emit_types_t ORDER BY offs;
SELECT f->>'field' AS field, f->>'type' AS type, f->>'name' AS name, f->'parameters' AS parameters, f->'optional' AS optional
  FROM emit_types_t, jsonb_array_elements(v->'schema'->'fields'->1->'fields') f WHERE offs = 0;

-- upsert: key -> new row; a delete is a tombstone; a key change a tombstone
-- of the old key and the new row; TRUNCATE is not representable
CREATE TABLE emit_kv (id int PRIMARY KEY, val text);
SELECT kafka_create_topic('kafka', 'emit_kv', 1);
SELECT kafka.stream_changes('emit_kv', 'kafka', 'emit_kv', 'upsert') > 0 AS started;
SELECT kafka.pause_stream('emit_kv');
CREATE FOREIGN TABLE emit_kv_t (offs bigint OPTIONS (offset 'true'), k text OPTIONS (key 'true'), v text)
  SERVER kafka OPTIONS (topic 'emit_kv', format 'text');
INSERT INTO emit_kv VALUES (1, 'a'), (2, 'b');
UPDATE emit_kv SET val = 'a2' WHERE id = 1;
DELETE FROM emit_kv WHERE id = 2;
UPDATE emit_kv SET id = 3 WHERE id = 1;
TRUNCATE emit_kv;
SELECT kafka.flush_stream('emit_kv') IS NOT NULL AS flushed;
SELECT wait_rows('SELECT * FROM emit_kv_t', 6);
SELECT offs, k, v FROM emit_kv_t ORDER BY offs;

-- row: the new row only; no key columns: messages without key
CREATE TABLE emit_rows (a int, b text);
SELECT kafka_create_topic('kafka', 'emit_rows', 1);
SELECT kafka.stream_changes('emit_rows', 'kafka', 'emit_rows', 'row') > 0 AS started;
SELECT kafka.pause_stream('emit_rows');
CREATE FOREIGN TABLE emit_rows_t (offs bigint OPTIONS (offset 'true'), k text OPTIONS (key 'true'), v text)
  SERVER kafka OPTIONS (topic 'emit_rows', format 'text');
INSERT INTO emit_rows SELECT g, 'r' || g FROM generate_series(1, 3) g;
UPDATE emit_rows SET b = 'x' WHERE a = 2;
DELETE FROM emit_rows WHERE a = 3;
SELECT kafka.flush_stream('emit_rows') IS NOT NULL AS flushed;
SELECT wait_rows('SELECT * FROM emit_rows_t', 5);
SELECT offs, k, v FROM emit_rows_t ORDER BY offs;

-- capture is only for the triggers kafka.stream_changes made
SELECT show_error('SELECT kafka.capture()');
CREATE TABLE emit_other (id int);
SELECT stream_id AS kv_stream FROM kafka.stream WHERE relid = 'emit_kv'::regclass \gset
CREATE TRIGGER steal AFTER INSERT ON emit_other REFERENCING NEW TABLE AS n
  FOR EACH STATEMENT EXECUTE FUNCTION kafka.capture(:kv_stream);
SELECT show_error('INSERT INTO emit_other VALUES (1)');
SELECT count(*) AS outbox_rows FROM kafka.outbox WHERE stream_id = :kv_stream;

-- byte for byte: the debezium JSON (schemas = true) of edge values, as text;
-- strings with escapes and unicode, floats 1e+100, -0 and NaN, numerics of
-- many digits, json with nested objects, braces in strings, duplicate keys
-- and escapes, arrays, a composite, times in zones with odd offsets, BC and
-- infinite times, nulls; rows captured before a column is added, dropped or
-- renamed (matched by name: a column a row does not have is null)
CREATE TYPE emit_pt AS (zz int, a text);
CREATE TYPE emit_mood AS ENUM ('ok', 'sad');
CREATE TABLE emit_edge (id int PRIMARY KEY, s text, f float8, f4 real, n numeric, nd numeric(30,10),
  j json, jb jsonb, gone text, ts timestamptz, t timestamp, d date, tm time, b bytea, u uuid,
  ta text[], ia int[], p emit_pt, mood emit_mood, iv interval, flag bool, i8 bigint, sm smallint);
SELECT kafka_create_topic('kafka', 'emit_edge', 1);
SELECT kafka.stream_changes('emit_edge', 'kafka', 'emit_edge', schemas => true) > 0 AS started;
SELECT kafka.pause_stream('emit_edge');
CREATE FOREIGN TABLE emit_edge_t (offs bigint OPTIONS (offset 'true'), k text OPTIONS (key 'true'), v text)
  SERVER kafka OPTIONS (topic 'emit_edge', format 'text');
INSERT INTO emit_edge VALUES
  (1, E'q " bs \\ t \t n \n r \r bell \x07 esc \x1b del \x7f é 日本 😀 / {"x": [1]}', 1e+100, 'NaN',
   12345678901234567890.123456789012345678901234567890, 1234567890.0123456789,
   '{"a": {"b": "}{][", "c": [1, 2.50, "x\"y\\z"]}, "a" : 3,  "e": 1E3, "u": "\u00e9\/\u0001"}',
   '{"k": "{[\"]}", "n": 1e3, "nested": {"deep": [{"x": null, "yy": -0.0}]}}', 'gone',
   '2024-01-02 03:04:05.123456+05:30', '2024-01-02 03:04:05.5', '2024-02-29', '23:59:59.999999',
   '\x00ff10', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"a b","c\"d",NULL,"{}"}', '{1,NULL,3}',
   ROW(7, 'x"y'), 'sad', '1 day 02:03:04', true, -9223372036854775808, -32768),
  (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
   NULL, NULL, NULL, NULL, NULL, NULL),
  (3, '', '-0', 'Infinity', 'NaN', '-0.0000000001', '"\u00e9 \/ \" \n"', '"str"', NULL,
   'infinity', '-infinity', 'infinity', '24:00:00', '\x', NULL, '{}', '{}', ROW(NULL, NULL), 'ok',
   '-1 mon', false, 0, 0),
  (4, 'x', 1.5e-7, '3.4e38', '-7.000', '0.1', '12.5', '[1, "a", {"b": false}]', NULL,
   '0044-03-15 12:00:00 BC', '0044-03-15 12:00:00 BC', '0044-03-15 BC', '00:00:00', NULL, NULL, NULL,
   '{{1,2},{3,4}}', NULL, NULL, NULL, NULL, 9223372036854775807, 32767),
  (5, 'far', -1.7976931348623157e308, '-1e-45', '1e20', '-99999999999999999999.9999999999', 'true',
   'null', NULL, '12345-06-07 00:00:00+00', '1999-12-31 23:59:59.000001', '1970-01-01', '12:00:00.5',
   NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
SET timezone = 'America/St_Johns';
INSERT INTO emit_edge (id, ts, t) VALUES (6, '2024-07-01 12:00:00.25+00', '2024-07-01 12:00:00.25');
SET timezone = 'Europe/Amsterdam';
INSERT INTO emit_edge (id, ts) VALUES (9, '1900-01-01 00:00:00+00'), (10, '0001-01-01 00:10:00+00:19:32');
SET timezone = 'UTC';
UPDATE emit_edge SET s = E'changed\\' WHERE id = 3;
ALTER TABLE emit_edge ADD COLUMN added int DEFAULT 5;
ALTER TABLE emit_edge DROP COLUMN gone;
ALTER TABLE emit_edge RENAME COLUMN f4 TO f4_renamed;
INSERT INTO emit_edge (id, s, f4_renamed, added) VALUES (7, 'after ddl', 1.25, 6);
UPDATE emit_edge SET id = 8 WHERE id = 5;
DELETE FROM emit_edge WHERE id = 4;
SELECT kafka.flush_stream('emit_edge') IS NOT NULL AS flushed;
SELECT wait_rows('SELECT * FROM emit_edge_t', 15);
\a
SELECT offs, substring(k from '"payload":(.*)}$') AS key, substring(v from '"payload":(.*),"source":') AS payload,
       md5(k) AS key_md5, md5(regexp_replace(v, '[0-9]+', 'N', 'g')) AS value_md5
  FROM emit_edge_t ORDER BY offs;
SELECT regexp_replace(substring(v from ',"source":.*$'), '[0-9]+', 'N', 'g') AS source
  FROM emit_edge_t WHERE offs = 0;
\a
SELECT kafka.stop_stream('emit_edge');

-- a batch stops at 32 MB of captured rows, whatever kafka_fdw.emitter_batch_size says: 80 rows
-- of 600 kB (each statement its own chunk) are published in 2 batches, every row once
CREATE TABLE emit_big (id int PRIMARY KEY, s text);
SELECT kafka_create_topic('kafka', 'emit_big', 1);
SELECT kafka.stream_changes('emit_big', 'kafka', 'emit_big', 'row') > 0 AS started;
SELECT kafka.pause_stream('emit_big');
DO $$ BEGIN FOR i IN 1..80 LOOP INSERT INTO emit_big VALUES (i, repeat(chr(65 + i % 26), 600000)); END LOOP; END $$;
SELECT batch_no AS big_batches_before FROM kafka.stream WHERE relid = 'emit_big'::regclass \gset
SELECT kafka.flush_stream('emit_big') AS sent;
SELECT batch_no - :big_batches_before AS batches, events_sent FROM kafka.stream WHERE relid = 'emit_big'::regclass;
CREATE FOREIGN TABLE emit_big_t (offs bigint OPTIONS (offset 'true'), v jsonb)
  SERVER kafka OPTIONS (topic 'emit_big', format 'jsonb');
SELECT wait_rows('SELECT * FROM emit_big_t', 80);
SELECT count(*) AS messages, count(DISTINCT v->>'id') AS ids,
       bool_and(v->>'s' = repeat(chr(65 + (v->>'id')::int % 26), 600000)) AS rows_intact
  FROM emit_big_t;
SELECT kafka.stop_stream('emit_big');

-- a message Kafka refuses at once (larger than the producer's message.max.bytes), in the middle
-- of a batch that the backend hands to librdkafka on a sender thread: the batch fails with the
-- reason, its Kafka transaction is aborted and nothing counts as sent; once the limit is raised,
-- every event is published once
\getenv brokers KAFKA_BROKERS
CREATE SERVER kafka_small FOREIGN DATA WRAPPER kafka_fdw
  OPTIONS (brokers :'brokers', "message.max.bytes" '20000', timeout_ms '20000');
CREATE TABLE emit_refused (id int PRIMARY KEY, s text);
SELECT kafka_create_topic('kafka', 'emit_refused', 2);
SELECT kafka.stream_changes('emit_refused', 'kafka_small', 'emit_refused', 'row') > 0 AS started;
SELECT kafka.pause_stream('emit_refused');
INSERT INTO emit_refused SELECT g, repeat('a', 100) FROM generate_series(1, 3000) g;
INSERT INTO emit_refused VALUES (3001, repeat('b', 30000));
INSERT INTO emit_refused SELECT g, repeat('c', 100) FROM generate_series(3002, 6000) g;
SELECT kafka.flush_stream('emit_refused');
SELECT events_sent, last_error IS NULL AS no_error_recorded FROM kafka.stream WHERE relid = 'emit_refused'::regclass;
SELECT count(*) AS outbox_left FROM kafka.outbox WHERE stream_id = (SELECT stream_id FROM kafka.stream WHERE relid = 'emit_refused'::regclass);
ALTER SERVER kafka_small OPTIONS (SET "message.max.bytes" '100000');
SELECT kafka.flush_stream('emit_refused') AS sent;
CREATE FOREIGN TABLE emit_refused_t (h jsonb OPTIONS (headers 'true'), v jsonb)
  SERVER kafka OPTIONS (topic 'emit_refused', format 'jsonb');
SELECT wait_rows('SELECT * FROM emit_refused_t', 6000);
SELECT count(*) AS messages, count(DISTINCT h->>'kafka_fdw.event_id') AS events, count(DISTINCT v->>'id') AS ids,
       sum(length(v->>'s')) AS chars
  FROM emit_refused_t;
SELECT kafka.stop_stream('emit_refused');

-- a batch canceled while its messages are handed to librdkafka (statement_timeout): the session
-- goes on, the Kafka transaction is aborted, and the next flush publishes every event once
CREATE TABLE emit_cancel (id int PRIMARY KEY, s text);
SELECT kafka_create_topic('kafka', 'emit_cancel', 2);
SELECT kafka.stream_changes('emit_cancel', 'kafka', 'emit_cancel', 'row') > 0 AS started;
SELECT kafka.pause_stream('emit_cancel');
INSERT INTO emit_cancel SELECT g, repeat('d', 200) FROM generate_series(1, 300000) g;
SET statement_timeout = '150ms';
SELECT kafka.flush_stream('emit_cancel');
RESET statement_timeout;
SELECT 'still here' AS session;
SELECT kafka.flush_stream('emit_cancel') AS sent;
CREATE FOREIGN TABLE emit_cancel_t (h jsonb OPTIONS (headers 'true'), v jsonb)
  SERVER kafka OPTIONS (topic 'emit_cancel', format 'jsonb');
SELECT wait_rows('SELECT * FROM emit_cancel_t', 300000);
SELECT count(*) AS messages, count(DISTINCT h->>'kafka_fdw.event_id') AS events, count(DISTINCT v->>'id') AS ids
  FROM emit_cancel_t;
SELECT kafka.stop_stream('emit_cancel');
