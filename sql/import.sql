-- import: IMPORT FOREIGN SCHEMA makes a foreign table per topic, with metadata columns and, when
-- the schema registry has an Avro schema for "<topic>-value", a typed column per field.  Against
-- the test bed's broker and registry (SCHEMA_REGISTRY_URL).  Other tests make topics in the same
-- broker: every import here is narrowed by LIMIT TO or the import option topic_prefix.  Ids are
-- global to the registry: compared, never shown.
\getenv registry SCHEMA_REGISTRY_URL
\getenv brokers KAFKA_BROKERS
SET datestyle = 'ISO, YMD';
SET timezone = 'UTC';
-- a server name that needs quoting
CREATE SERVER "kimp ""q" FOREIGN DATA WRAPPER kafka_fdw
  OPTIONS (brokers :'brokers', schema_registry :'registry', timeout_ms '10000');
-- the columns and options of the tables of a schema
CREATE FUNCTION import_columns(s text) RETURNS TABLE (tab name, col name, type text, notnull bool, options text[])
LANGUAGE sql AS $$
  SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, a.attfdwoptions
    FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
   WHERE c.relnamespace = s::regnamespace AND a.attnum > 0 AND NOT a.attisdropped
   ORDER BY c.relname, a.attnum $$;
CREATE FUNCTION import_tables(s text) RETURNS TABLE (tab name, server name, options text[])
LANGUAGE sql AS $$
  SELECT c.relname, fs.srvname, ft.ftoptions
    FROM pg_foreign_table ft JOIN pg_class c ON c.oid = ft.ftrelid
    JOIN pg_foreign_server fs ON fs.oid = ft.ftserver
   WHERE c.relnamespace = s::regnamespace ORDER BY c.relname $$;

SELECT kafka_create_topic('kafka', 'import_orders', 1);
SELECT kafka_create_topic('kafka', 'import_small', 1);
SELECT kafka_create_topic('kafka', 'import_plain', 1);
SELECT kafka_create_topic('kafka', 'import_Mixed.Case-topic', 1);
SELECT kafka_create_topic('kafka', 'import_scalar', 1);
-- a schema with every kind of Avro type; a field named like a metadata column (key)
SELECT kafka.registry_set_compatibility('kimp "q', 'import_orders-value', 'NONE');
SELECT $${"type": "record", "name": "Order",
  "namespace": "shop", "fields": [
  {"name": "id", "type": "long"},
  {"name": "qty", "type": "int"},
  {"name": "customer", "type": ["null", "string"], "default": null},
  {"name": "paid", "type": "boolean"},
  {"name": "weight", "type": "float"},
  {"name": "price", "type": "double"},
  {"name": "blob", "type": "bytes"},
  {"name": "amount", "type": {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2}},
  {"name": "day", "type": {"type": "int", "logicalType": "date"}},
  {"name": "placed", "type": {"type": "long", "logicalType": "timestamp-millis"}},
  {"name": "placedMicros", "type": ["null", {"type": "long", "logicalType": "timestamp-micros"}]},
  {"name": "local", "type": {"type": "long", "logicalType": "local-timestamp-micros"}},
  {"name": "at", "type": {"type": "int", "logicalType": "time-millis"}},
  {"name": "uid", "type": {"type": "string", "logicalType": "uuid"}},
  {"name": "status", "type": {"type": "enum", "name": "Status", "symbols": ["NEW", "PAID"]}},
  {"name": "address", "type": {"type": "record", "name": "Address", "fields": [{"name": "city", "type": "string"}]}},
  {"name": "attrs", "type": {"type": "map", "values": "string"}},
  {"name": "tags", "type": {"type": "array", "items": "string"}},
  {"name": "scores", "type": {"type": "array", "items": ["null", "int"]}},
  {"name": "days", "type": {"type": "array", "items": {"type": "int", "logicalType": "date"}}},
  {"name": "matrix", "type": {"type": "array", "items": {"type": "array", "items": "int"}}},
  {"name": "either", "type": ["string", "long"]},
  {"name": "key", "type": "string"},
  {"name": "note", "type": "string", "default": ""},
  {"name": "hash", "type": {"type": "fixed", "name": "Hash", "size": 4}}]}$$ AS orders_schema \gset
SELECT kafka.registry_register('kimp "q', 'import_orders-value', :'orders_schema') AS orders_id \gset
-- a small schema, for messages framed by hand; a field name longer than a column name
SELECT kafka.registry_set_compatibility('kimp "q', 'import_small-value', 'NONE');
SELECT kafka.registry_register('kimp "q', 'import_small-value', $${"type": "record", "name": "Small",
  "fields": [{"name": "id", "type": "long"}, {"name": "name", "type": ["null", "string"], "default": null},
  {"name": "a_field_name_that_is_much_longer_than_the_sixty_three_bytes_of_a_column_name", "type": "int"}]}$$)
  AS small_id \gset
-- its key: a long
SELECT kafka.registry_set_compatibility('kimp "q', 'import_small-key', 'NONE');
SELECT kafka.registry_register('kimp "q', 'import_small-key', '"long"') AS small_key_id \gset
-- a schema that is not a record: one column "value"
SELECT kafka.registry_set_compatibility('kimp "q', 'import_scalar-value', 'NONE');
SELECT kafka.registry_register('kimp "q', 'import_scalar-value', '{"type": "long", "logicalType": "timestamp-millis"}')
  AS scalar_id \gset
-- its key: a record, read as jsonb
SELECT kafka.registry_set_compatibility('kimp "q', 'import_scalar-key', 'NONE');
SELECT kafka.registry_register('kimp "q', 'import_scalar-key',
  '{"type": "record", "name": "ScalarKey", "fields": [{"name": "id", "type": "long"}]}') AS scalar_key_id \gset
-- JSON Schemas (kafka.registry_register registers Avro only): the key and the value are bytea
SELECT kafka_create_topic('kafka', 'import_json', 1);
\! curl -s -m 20 -o /dev/null -w '%{http_code}\n' -X POST -H 'Content-Type: application/vnd.schemaregistry.v1+json' --data '{"schemaType": "JSON", "schema": "{\"$schema\": \"http://json-schema.org/draft-07/schema#\", \"type\": \"string\"}"}' "$SCHEMA_REGISTRY_URL/subjects/import_json-key/versions"
\! curl -s -m 20 -o /dev/null -w '%{http_code}\n' -X POST -H 'Content-Type: application/vnd.schemaregistry.v1+json' --data '{"schemaType": "JSON", "schema": "{\"$schema\": \"http://json-schema.org/draft-07/schema#\", \"type\": \"object\"}"}' "$SCHEMA_REGISTRY_URL/subjects/import_json-value/versions"

-- ---- LIMIT TO: the listed topics only; a name without a topic is a notice ----
CREATE SCHEMA imp;
IMPORT FOREIGN SCHEMA anything LIMIT TO (import_orders, import_small, import_plain,
  "import_Mixed.Case-topic", import_scalar, import_json, import_missing) FROM SERVER "kimp ""q" INTO imp;
SELECT * FROM import_tables('imp');
SELECT * FROM import_columns('imp');

-- ---- the tables read and write ----
-- (a copy of import_orders for later, imported before an INSERT registers a new version)
CREATE SCHEMA imp_plain;
IMPORT FOREIGN SCHEMA kafka LIMIT TO (import_orders) FROM SERVER "kimp ""q" INTO imp_plain;
-- hand-made frames of the registered schemas: key 1, value {1, "a", 5}; no key, value {2, null, -1}
CREATE FOREIGN TABLE import_small_raw (k bytea OPTIONS (key 'true'), v bytea) SERVER kafka
  OPTIONS (topic 'import_small', format 'bytea');
INSERT INTO import_small_raw VALUES ('\x00'::bytea || int4send(:small_key_id) || '\x02'::bytea,
  '\x00'::bytea || int4send(:small_id) || '\x020202610a'::bytea),
  (NULL, '\x00'::bytea || int4send(:small_id) || '\x040001'::bytea);
SELECT "offset", key, id, name, a_field_name_that_is_much_longer_than_the_sixty_three_bytes_of_
  FROM imp.import_small;
-- INSERT writes an Avro key too
INSERT INTO imp.import_small (key, id, name, a_field_name_that_is_much_longer_than_the_sixty_three_bytes_of_)
  VALUES (7, 3, 'c', 9);
SELECT "offset", key, id, name, a_field_name_that_is_much_longer_than_the_sixty_three_bytes_of_
  FROM imp.import_small WHERE "offset" = 2;
-- INSERT through an imported Avro table, then SELECT: every mapped type round trips
INSERT INTO imp.import_orders (_key, id, qty, customer, paid, weight, price, blob, amount, day, placed,
  "placedMicros", local, at, uid, status, address, attrs, tags, scores, days, matrix, either, key, note, hash)
VALUES ('k1', 1, 2, 'ann', true, 1.5, 2.25, '\x0102', 12.34, '2024-01-02', '2024-01-02 03:04:05.678+00',
  '2024-01-02 03:04:05.678901+00', '2024-01-02 03:04:05.678901', '12:34:56.789',
  'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'PAID', '{"city": "Oslo"}', '{"a": "b"}', '{x,y}', '{1,NULL,3}',
  '{2024-01-01,2024-02-29}', '[[1, 2], [3]]', '"s"', 'field key', 'n', '\xdeadbeef'),
  ('k2', 2, 0, NULL, false, 0, 0, '', 0, '1970-01-01', '1970-01-01 00:00:00+00', NULL, '1970-01-01 00:00:00',
  '00:00:00', '00000000-0000-0000-0000-000000000000', 'NEW', '{"city": ""}', '{}', '{}', '{}', '{}', '[]', '7',
  '', '', '\x00000000');
-- INSERT wrote with the registered schema (the table fits the subject's latest version): no new
-- version, and each message carries the registered schema's id
SELECT version FROM kafka.registry_latest('kimp "q', 'import_orders-value');
-- messages of the registered schema: written through a copy of the table with the schema inline
-- (plain Avro binary), then framed with the schema's id
SELECT kafka_create_topic('kafka', 'import_orders_plain', 1);
ALTER FOREIGN TABLE imp_plain.import_orders OPTIONS (SET topic 'import_orders_plain', ADD avro_schema :'orders_schema');
INSERT INTO imp_plain.import_orders SELECT * FROM imp.import_orders;
CREATE FOREIGN TABLE import_orders_plain_raw (v bytea) SERVER kafka OPTIONS (topic 'import_orders_plain', format 'bytea');
CREATE FOREIGN TABLE import_orders_raw (k text OPTIONS (key 'true'), v bytea) SERVER kafka
  OPTIONS (topic 'import_orders', format 'bytea');
SELECT k, substr(v, 2, 4) = int4send(:orders_id) AS registered_id FROM import_orders_raw ORDER BY k;
INSERT INTO import_orders_raw SELECT 'registered', '\x00'::bytea || int4send(:orders_id) || v FROM import_orders_plain_raw;
SELECT partition, "offset", "timestamp" IS NOT NULL AS has_timestamp, _key, id, qty, customer, paid, weight,
  price, blob, amount, day, placed, "placedMicros", local, at, uid, status, address, attrs, tags, scores,
  days, matrix, either, key, note, hash
  FROM imp.import_orders ORDER BY "offset";
-- an untyped table: the value as text
INSERT INTO imp.import_plain (key, value) VALUES ('k', 'hello');
SELECT partition, "offset", key, value FROM imp.import_plain;
INSERT INTO imp.import_scalar VALUES (NULL, NULL, NULL, NULL, '2024-05-06 07:08:09+00');
-- key {"id": 3}, value 1000 ms
CREATE FOREIGN TABLE import_scalar_raw (k bytea OPTIONS (key 'true'), v bytea) SERVER kafka
  OPTIONS (topic 'import_scalar', format 'bytea');
INSERT INTO import_scalar_raw VALUES ('\x00'::bytea || int4send(:scalar_key_id) || '\x06'::bytea,
  '\x00'::bytea || int4send(:scalar_id) || '\xd00f'::bytea);
SELECT "offset", key, value FROM imp.import_scalar ORDER BY "offset";
-- importing again into the same schema fails: the tables exist
IMPORT FOREIGN SCHEMA anything LIMIT TO (import_plain) FROM SERVER "kimp ""q" INTO imp;

-- ---- EXCEPT, topic_prefix, and the import options ----
CREATE SCHEMA imp2;
IMPORT FOREIGN SCHEMA kafka EXCEPT (import_orders, "import_Mixed.Case-topic") FROM SERVER "kimp ""q" INTO imp2
  OPTIONS (topic_prefix 'import_', registry 'false', format 'jsonb', metadata 'false');
SELECT * FROM import_tables('imp2');
SELECT * FROM import_columns('imp2');
CREATE SCHEMA imp3;
IMPORT FOREIGN SCHEMA kafka FROM SERVER "kimp ""q" INTO imp3 OPTIONS (topic_prefix 'import_s', format 'bytea');
SELECT * FROM import_tables('imp3');
-- LIMIT TO outside the prefix
IMPORT FOREIGN SCHEMA kafka LIMIT TO (import_plain) FROM SERVER "kimp ""q" INTO imp3 OPTIONS (topic_prefix 'import_s');
-- internal topics are left out
SELECT kafka_create_topic('kafka', '_schemas', 1);
SELECT kafka_create_topic('kafka', '__import_internal', 1);
SELECT kafka_create_topic('kafka', '_import_under', 1);
CREATE SCHEMA imp4;
IMPORT FOREIGN SCHEMA kafka LIMIT TO (_schemas, __import_internal, _import_under) FROM SERVER kafka INTO imp4;
SELECT * FROM import_tables('imp4');
SELECT kafka_delete_topic('kafka', '_schemas');
SELECT kafka_delete_topic('kafka', '__import_internal');
SELECT kafka_delete_topic('kafka', '_import_under');

-- a topic name longer than a table name: the table name is cut, the topic option is whole
SELECT kafka_create_topic('kafka', 'import_lengthy_topic_name_that_goes_on_and_on_past_sixty_three_bytes_and_more', 1);
CREATE SCHEMA imp5;
IMPORT FOREIGN SCHEMA kafka FROM SERVER kafka INTO imp5 OPTIONS (topic_prefix 'import_lengthy');
SELECT * FROM import_tables('imp5');

-- ---- errors ----
CREATE SCHEMA imp_err;
IMPORT FOREIGN SCHEMA kafka FROM SERVER "kimp ""q" INTO imp_err OPTIONS (colour 'red');
IMPORT FOREIGN SCHEMA kafka FROM SERVER "kimp ""q" INTO imp_err OPTIONS (format 'json');
IMPORT FOREIGN SCHEMA kafka FROM SERVER "kimp ""q" INTO imp_err OPTIONS (format 'csv');
IMPORT FOREIGN SCHEMA kafka FROM SERVER "kimp ""q" INTO imp_err OPTIONS (registry 'maybe');
IMPORT FOREIGN SCHEMA kafka FROM SERVER "kimp ""q" INTO imp_err OPTIONS (metadata 'false', metadata 'true');
IMPORT FOREIGN SCHEMA kafka FROM SERVER kafka INTO imp_err OPTIONS (registry 'true');
-- two topics whose names cut to the same table name
SELECT kafka_create_topic('kafka', 'import_long_topic_name_that_goes_on_and_on_past_sixty_three_bytes_one', 1);
SELECT kafka_create_topic('kafka', 'import_long_topic_name_that_goes_on_and_on_past_sixty_three_bytes_two', 1);
IMPORT FOREIGN SCHEMA kafka FROM SERVER kafka INTO imp_err OPTIONS (topic_prefix 'import_long_');
-- an unreachable broker
CREATE SERVER imp_nowhere FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers '127.0.0.1:1', timeout_ms '1500');
SELECT show_error($$IMPORT FOREIGN SCHEMA kafka FROM SERVER imp_nowhere INTO imp_err$$);
-- an unreachable registry is an error, not untyped tables; registry 'false' imports without it
CREATE SERVER imp_reg_down FOREIGN DATA WRAPPER kafka_fdw
  OPTIONS (brokers :'brokers', schema_registry 'http://127.0.0.1:1', timeout_ms '3000');
SELECT show_error($$IMPORT FOREIGN SCHEMA kafka LIMIT TO (import_plain) FROM SERVER imp_reg_down INTO imp_err$$);
IMPORT FOREIGN SCHEMA kafka LIMIT TO (import_orders) FROM SERVER imp_reg_down INTO imp_err
  OPTIONS (registry 'false');
SELECT * FROM import_columns('imp_err');
-- USAGE on the server is needed (and CREATE on the schema)
CREATE ROLE import_user;
GRANT CREATE ON SCHEMA imp_err TO import_user;
SET ROLE import_user;
IMPORT FOREIGN SCHEMA kafka LIMIT TO (import_plain) FROM SERVER "kimp ""q" INTO imp_err;
RESET ROLE;

-- ALTER of an imported table under BACKWARD: a change after which the table still fits the
-- subject's latest version passes (INSERT goes on writing with it); one that needs a new,
-- incompatible version is refused
SELECT kafka.registry_set_compatibility('kimp "q', 'import_orders-value', 'BACKWARD');
ALTER FOREIGN TABLE imp.import_orders DROP COLUMN note;
ALTER FOREIGN TABLE imp.import_orders ADD COLUMN extra int NOT NULL DEFAULT 0;
SELECT version FROM kafka.registry_latest('kimp "q', 'import_orders-value');

-- ---- clean up ----
SET client_min_messages = warning;
DROP SCHEMA imp, imp2, imp3, imp4, imp5, imp_err, imp_plain CASCADE;
RESET client_min_messages;
DROP ROLE import_user;
DROP SERVER "kimp ""q", imp_nowhere, imp_reg_down CASCADE;
DROP FOREIGN TABLE import_small_raw, import_scalar_raw, import_orders_plain_raw, import_orders_raw;
