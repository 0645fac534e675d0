-- emitter_avro: streams with format => 'avro' publish Debezium's events (and the upsert and row
-- envelopes) as Confluent's AvroConverter does: byte 0, the schema id (4 bytes), Avro binary,
-- with the value schema <server>.<schema>.<table>.Envelope (before/after: ...Value) under
-- <topic>-value and the key record ...Key under <topic>-key.  Published by kafka.flush_stream()
-- (the streams are paused, so the worker leaves them alone, but for the failing-stream case),
-- read back through foreign tables of format 'avro' on the same registry (each message with
-- its writer schema).  Against the test bed's registry (SCHEMA_REGISTRY_URL); ids are global
-- to the registry: compared, never shown.
\getenv registry SCHEMA_REGISTRY_URL
\getenv brokers KAFKA_BROKERS
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';
CREATE SERVER ea_reg FOREIGN DATA WRAPPER kafka_fdw
  OPTIONS (brokers :'brokers', schema_registry :'registry', timeout_ms '10000');

-- ---- refused at stream_changes ----
CREATE TABLE ea_src (id int PRIMARY KEY, big bigint NOT NULL, name text, amount numeric(10,2),
  at timestamptz, day date, u uuid, flag bool, doc jsonb, note text);
-- a server without a schema registry
SELECT show_error($$SELECT kafka.stream_changes('ea_src', 'kafka', 'x', format => 'avro')$$);
SELECT show_error($$SELECT kafka.stream_changes('ea_src', 'ea_reg', 'x', format => 'xml')$$);
SELECT show_error($$SELECT kafka.stream_changes('ea_src', 'ea_reg', 'x', options => '{"format": "avro"}')$$);
SELECT show_error($$SELECT kafka.stream_changes('ea_src', 'ea_reg', 'x', format => 'avro', schemas => true)$$);
CREATE FUNCTION ea_tf(jsonb) RETURNS jsonb LANGUAGE sql AS 'SELECT $1';
SELECT show_error($$SELECT kafka.stream_changes('ea_src', 'ea_reg', 'x', format => 'avro',
  options => '{"transform": "ea_tf"}')$$);
CREATE TABLE "ea bad" (id int PRIMARY KEY, "no-avro" text);
SELECT show_error($$SELECT kafka.stream_changes('"ea bad"', 'ea_reg', 'x', format => 'avro')$$);
-- leaving the column out is fine
SELECT kafka.stream_changes('"ea bad"', 'ea_reg', 'ea_bad', format => 'avro',
  options => '{"exclude": ["no-avro"]}') > 0 AS started;
SELECT kafka.stop_stream('"ea bad"');

-- ---- debezium ----
SELECT kafka_create_topic('kafka', 'ea_dbz', 1);
SELECT kafka.registry_set_compatibility('ea_reg', 'ea_dbz-value', 'BACKWARD');
SELECT kafka.registry_set_compatibility('ea_reg', 'ea_dbz-key', 'BACKWARD');
SELECT kafka.stream_changes('ea_src', 'ea_reg', 'ea_dbz', format => 'avro') > 0 AS started;
SELECT kafka.pause_stream('ea_src');
SELECT options FROM kafka.stream WHERE relid = 'ea_src'::regclass;
INSERT INTO ea_src VALUES
  (1, 9007199254740993, 'one', 12.5, '2024-01-02 03:04:05.678901+00', '2024-01-02',
   'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', true, '{"x": [1, 2], "y": null}', 'n'),
  (2, -1, NULL, -0.01, '1969-12-31 23:59:59.5+00', '1900-03-01', NULL, false, '"s"', NULL);
UPDATE ea_src SET name = 'uno', amount = amount * 2 WHERE id = 1;
DELETE FROM ea_src WHERE id = 2;
UPDATE ea_src SET id = 3 WHERE id = 1;   -- a key change: d, tombstone, c
TRUNCATE ea_src;                          -- op t, without key
SELECT kafka.flush_stream('ea_src') AS sent;
SELECT backlog AS outbox_left FROM kafka.streams WHERE source = 'ea_src'::regclass;
-- each message with its writer schema from the registry
CREATE FOREIGN TABLE ea_dbz_t (offs bigint OPTIONS (offset 'true'), k bytea OPTIONS (key 'true'),
  h jsonb OPTIONS (headers 'true'), before jsonb, after jsonb, source jsonb, op text, ts_ms bigint,
  ts_us bigint, ts_ns bigint) SERVER ea_reg OPTIONS (topic 'ea_dbz', format 'avro');
SELECT wait_rows('SELECT * FROM ea_dbz_t', 9);
SELECT offs, op, k IS NULL AS no_key, before, after FROM ea_dbz_t ORDER BY offs;
-- a tombstone after each delete; the event_id header on every message
SELECT offs, op IS NULL AND after IS NULL AS tombstone, h ? 'kafka_fdw.event_id' AS has_event_id
  FROM ea_dbz_t ORDER BY offs;
-- the source block as the JSON envelope's: strings and longs, nullable where Debezium's are
SELECT source->>'version' AS version, source->>'connector' AS connector, source->>'name' AS name,
       source->>'snapshot' AS snapshot, source->>'db' = current_database() AS db,
       source->>'schema' AS schema, source->>'table' AS table,
       source->>'sequence' = format('[null,"%s"]', source->>'lsn') AS sequence,
       jsonb_typeof(source->'txId') AS txid, jsonb_typeof(source->'ts_ms') AS source_ts,
       source->'xmin' AS xmin, ts_ms >= (source->>'ts_ms')::bigint AS ts_order,
       ts_us / 1000 = ts_ms AS ts_us, ts_ns / 1000 = ts_us AS ts_ns
  FROM ea_dbz_t WHERE offs = 0;
-- the Envelope is Debezium's, in its order; after refers to the Value record by name
SELECT s->>'name' AS name, s->>'namespace' AS namespace,
       (SELECT string_agg(f->>'name', ',') FROM jsonb_array_elements(s->'fields') f) AS fields,
       s->'fields'->1->'type' AS after_type, s->'fields'->4 AS op,
       s->'fields'->2->'type'->>'name' AS source_name, s->'fields'->3->'type' AS transaction_type,
       (SELECT string_agg(f->>'name' || ':' || (f->'type')::text, ' ') FROM jsonb_array_elements(s->'fields'->2->'type'->'fields') f) AS source_fields
  FROM (SELECT schema::jsonb AS s FROM kafka.registry_latest('ea_reg', 'ea_dbz-value')) r;
-- Value: the columns as the schema derived for a foreign table types them
SELECT f->>'name' AS field, f->'type' AS type, f->'default' AS "default"
  FROM kafka.registry_latest('ea_reg', 'ea_dbz-value') r,
       jsonb_array_elements((r.schema::jsonb)->'fields'->0->'type'->1->'fields') f;
SELECT schema::jsonb AS key_schema FROM kafka.registry_latest('ea_reg', 'ea_dbz-key');
-- every message is framed with the id of its subject's latest version
SELECT id AS value_id FROM kafka.registry_latest('ea_reg', 'ea_dbz-value') \gset
SELECT id AS key_id FROM kafka.registry_latest('ea_reg', 'ea_dbz-key') \gset
CREATE FOREIGN TABLE ea_dbz_raw (offs bigint OPTIONS (offset 'true'), k bytea OPTIONS (key 'true'), v bytea)
  SERVER kafka OPTIONS (topic 'ea_dbz', format 'bytea');
SELECT offs, get_byte(v, 0) AS magic, substr(v, 2, 4) = int4send(:value_id) AS value_id,
       get_byte(k, 0) AS key_magic, substr(k, 2, 4) = int4send(:key_id) AS key_id,
       substr(k, 6) AS key_avro
  FROM ea_dbz_raw ORDER BY offs;
-- typed: after as the table's own row type
CREATE FOREIGN TABLE ea_dbz_typed (offs bigint OPTIONS (offset 'true'), op text, after ea_src)
  SERVER ea_reg OPTIONS (topic 'ea_dbz', format 'avro');
SELECT offs, op, (after).id, (after).big, (after).name, (after).amount, (after).at, (after).day,
       (after).u, (after).flag, (after).note
  FROM ea_dbz_typed WHERE after IS NOT NULL ORDER BY offs;
SELECT (after).amount + 1 AS amount_plus_1, (after).at + interval '1 day' AS next_day,
       (after).day - date '2024-01-01' AS days
  FROM ea_dbz_typed WHERE offs = 0;
DROP FOREIGN TABLE ea_dbz_typed;   -- it uses the row type of ea_src, which changes below

-- ---- schema change: a new version, old and new messages both readable ----
ALTER TABLE ea_src ADD COLUMN extra text;
INSERT INTO ea_src (id, big, extra) VALUES (4, 4, 'new column');
SELECT kafka.flush_stream('ea_src') AS sent;
SELECT wait_rows('SELECT * FROM ea_dbz_t', 10);
SELECT id <> :value_id AS new_version, schema::jsonb->'fields'->0->'type'->1->'fields'->-1 AS extra_field
  FROM kafka.registry_latest('ea_reg', 'ea_dbz-value');
SELECT offs, op, after->'id' AS id, after->'extra' AS extra, after ? 'extra' AS has_extra
  FROM ea_dbz_t WHERE op IN ('c', 'u') ORDER BY offs;
-- a registry that cannot be reached fails the batch like Kafka would: nothing sent, nothing lost
ALTER SERVER ea_reg OPTIONS (SET schema_registry 'http://127.0.0.1:1');
INSERT INTO ea_src (id, big) VALUES (6, 6);
SELECT show_error($$SELECT kafka.flush_stream('ea_src')$$);
SELECT backlog AS outbox_kept, last_error FROM kafka.streams WHERE source = 'ea_src'::regclass;
ALTER SERVER ea_reg OPTIONS (SET schema_registry :'registry');
SELECT kafka.flush_stream('ea_src') AS sent;
SELECT wait_rows('SELECT * FROM ea_dbz_t', 11);

-- a change the subject's level refuses: the worker's batch fails with the registry's reason,
-- the events stay in the outbox; a level that accepts it lets them through, once
ALTER TABLE ea_src ALTER COLUMN big TYPE text;
INSERT INTO ea_src (id, big) VALUES (5, 'five');
SELECT show_error($$SELECT kafka.flush_stream('ea_src')$$);
SELECT kafka.resume_stream('ea_src');
SELECT wait_true($$SELECT last_error IS NOT NULL FROM kafka.streams WHERE source = 'ea_src'::regclass$$);
SELECT state, backlog, last_error FROM kafka.streams WHERE source = 'ea_src'::regclass;
SELECT kafka.registry_set_compatibility('ea_reg', 'ea_dbz-value', 'NONE');
SELECT wait_true($$SELECT backlog = 0 FROM kafka.streams WHERE source = 'ea_src'::regclass$$);
SELECT kafka.pause_stream('ea_src');
SELECT state, backlog, last_error FROM kafka.streams WHERE source = 'ea_src'::regclass;
SELECT wait_rows('SELECT * FROM ea_dbz_t', 12);
SELECT offs, op, after->'id' AS id, after->'big' AS big FROM ea_dbz_t WHERE offs >= 9 ORDER BY offs;
-- each event once
SELECT count(*) AS messages, count(DISTINCT h->>'kafka_fdw.event_id') AS events,
       count(DISTINCT (h->>'kafka_fdw.event_id', op)) AS distinct_messages FROM ea_dbz_t;

-- ---- upsert: the Value record of the new row, tombstones for deletes ----
CREATE TABLE ea_kv (id int PRIMARY KEY, val text, n numeric(10,2));
SELECT kafka_create_topic('kafka', 'ea_kv', 1);
SELECT kafka.registry_set_compatibility('ea_reg', 'ea_kv-value', 'NONE');
SELECT kafka.registry_set_compatibility('ea_reg', 'ea_kv-key', 'BACKWARD');
SELECT kafka.stream_changes('ea_kv', 'ea_reg', 'ea_kv', envelope => 'upsert', format => 'avro') > 0 AS started;
SELECT kafka.pause_stream('ea_kv');
INSERT INTO ea_kv VALUES (1, 'a', 1.5), (2, 'b', NULL);
UPDATE ea_kv SET val = 'a2' WHERE id = 1;
DELETE FROM ea_kv WHERE id = 2;
UPDATE ea_kv SET id = 3 WHERE id = 1;
TRUNCATE ea_kv;
-- a NOT NULL column added with a default while changes wait: they take PostgreSQL's missing value
INSERT INTO ea_kv VALUES (10, 'before the column', 0);
ALTER TABLE ea_kv ADD COLUMN lvl int NOT NULL DEFAULT 7;
INSERT INTO ea_kv VALUES (11, 'after the column', 0, 8);
SELECT kafka.flush_stream('ea_kv') AS sent;
CREATE FOREIGN TABLE ea_kv_t (offs bigint OPTIONS (offset 'true'), k bytea OPTIONS (key 'true'),
  id int, val text, n numeric, lvl int) SERVER ea_reg OPTIONS (topic 'ea_kv', format 'avro');
CREATE FOREIGN TABLE ea_kv_raw (offs bigint OPTIONS (offset 'true'), v bytea)
  SERVER kafka OPTIONS (topic 'ea_kv', format 'bytea');
SELECT wait_rows('SELECT * FROM ea_kv_t', 8);
SELECT t.offs, substr(t.k, 6) AS key_avro, t.id, t.val, t.n, t.lvl, r.v IS NULL AS tombstone
  FROM ea_kv_t t JOIN ea_kv_raw r USING (offs) ORDER BY offs;
SELECT schema::jsonb AS kv_value_schema FROM kafka.registry_latest('ea_reg', 'ea_kv-value');

-- ---- row: the new row, no key columns: no key ----
CREATE TABLE ea_rows (a int, b text);
SELECT kafka_create_topic('kafka', 'ea_rows', 1);
SELECT kafka.registry_set_compatibility('ea_reg', 'ea_rows-value', 'BACKWARD');
SELECT kafka.stream_changes('ea_rows', 'ea_reg', 'ea_rows', envelope => 'row', format => 'avro') > 0 AS started;
SELECT kafka.pause_stream('ea_rows');
INSERT INTO ea_rows VALUES (1, 'x'), (NULL, NULL);
SELECT kafka.flush_stream('ea_rows') AS sent;
CREATE FOREIGN TABLE ea_rows_t (offs bigint OPTIONS (offset 'true'), k bytea OPTIONS (key 'true'),
  a int, b text) SERVER ea_reg OPTIONS (topic 'ea_rows', format 'avro');
SELECT wait_rows('SELECT * FROM ea_rows_t', 2);
SELECT offs, k, a, b FROM ea_rows_t ORDER BY offs;
SELECT count(*) AS key_subjects FROM kafka.registry_subjects('ea_reg') s WHERE s = 'ea_rows-key';

-- ---- an initial snapshot: op r, source.snapshot "true", the last one "last" ----
CREATE TABLE ea_snap (id int PRIMARY KEY, v text);
INSERT INTO ea_snap VALUES (1, 'a'), (2, 'b'), (3, 'c');
SELECT kafka_create_topic('kafka', 'ea_snap', 1);
SELECT kafka.registry_set_compatibility('ea_reg', 'ea_snap-value', 'BACKWARD');
BEGIN;
SELECT kafka.stream_changes('ea_snap', 'ea_reg', 'ea_snap', snapshot => true, format => 'avro',
                            options => '{"snapshot_chunk_size": 2}') > 0 AS started;
SELECT kafka.pause_stream('ea_snap');
COMMIT;
UPDATE ea_snap SET v = 'b2' WHERE id = 2;
SELECT kafka.snapshot_step('ea_snap') AS chunk_1;
SELECT kafka.snapshot_step('ea_snap') AS chunk_2;
SELECT kafka.snapshot_step('ea_snap') AS chunk_3;
SELECT kafka.flush_stream('ea_snap') AS sent;
CREATE FOREIGN TABLE ea_snap_t (offs bigint OPTIONS (offset 'true'), before jsonb, after jsonb,
  source jsonb, op text) SERVER ea_reg OPTIONS (topic 'ea_snap', format 'avro');
SELECT wait_rows('SELECT * FROM ea_snap_t', 4);
SELECT op, source->>'snapshot' AS snapshot, before, after FROM ea_snap_t ORDER BY offs;

-- ---- masked and hashed columns are strings ----
CREATE TABLE ea_cards (id int PRIMARY KEY, card text, pin int);
SELECT kafka_create_topic('kafka', 'ea_cards', 1);
SELECT kafka.registry_set_compatibility('ea_reg', 'ea_cards-value', 'BACKWARD');
SELECT kafka.stream_changes('ea_cards', 'ea_reg', 'ea_cards', envelope => 'row', format => 'avro',
  options => '{"mask": {"card": 4}, "hash": ["pin"], "hash_salt": "s"}') > 0 AS started;
SELECT kafka.pause_stream('ea_cards');
INSERT INTO ea_cards VALUES (1, '4444-3333-2222-1111', 1234);
SELECT kafka.flush_stream('ea_cards') AS sent;
CREATE FOREIGN TABLE ea_cards_t (id int, card text, pin text)
  SERVER ea_reg OPTIONS (topic 'ea_cards', format 'avro');
SELECT wait_rows('SELECT * FROM ea_cards_t', 1);
SELECT id, card, pin = encode(sha256(convert_to('s' || '1234', 'UTF8')), 'hex') AS pin_hashed FROM ea_cards_t;
SELECT f->>'name' AS field, f->'type' AS type
  FROM kafka.registry_latest('ea_reg', 'ea_cards-value') r, jsonb_array_elements((r.schema::jsonb)->'fields') f;

SELECT kafka.stop_stream('ea_src');
SELECT kafka.stop_stream('ea_kv');
SELECT kafka.stop_stream('ea_rows');
SELECT kafka.stop_stream('ea_cards');
SELECT kafka.stop_stream('ea_snap');
