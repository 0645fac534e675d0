-- avro_registry: format 'avro' with the Confluent wire format of a schema registry (server
-- option schema_registry, no avro_schema): each message is byte 0, the writer schema's id
-- (4 bytes, big-endian) and Avro binary.  Reading fetches each id's schema from the registry
-- and maps its fields by name; INSERT registers the table's derived schema under
-- "<topic>-value".  Against the test bed's registry (SCHEMA_REGISTRY_URL); ids are global to
-- the registry and other tests register schemas too: ids are compared, never shown.
\getenv registry SCHEMA_REGISTRY_URL
\getenv brokers KAFKA_BROKERS
SET datestyle = 'ISO, YMD';
CREATE SERVER kreg FOREIGN DATA WRAPPER kafka_fdw
  OPTIONS (brokers :'brokers', schema_registry :'registry', timeout_ms '10000');

-- ---- INSERT then SELECT through the registry ----
SELECT kafka_create_topic('kafka', 'avreg_rt', 1);
CREATE FOREIGN TABLE avreg_rt (id int NOT NULL, name text, amount numeric(10,2), at timestamptz,
  tags text[]) SERVER kreg OPTIONS (topic 'avreg_rt', format 'avro');
INSERT INTO avreg_rt VALUES (1, 'one', 12.5, '2024-01-02 03:04:05+00', '{a,b}'), (2, NULL, NULL, NULL, NULL);
INSERT INTO avreg_rt VALUES (3, 'three', -0.01, '1999-12-31 23:59:59.5+00', '{}');
SELECT * FROM avreg_rt;
-- the subject <topic>-value has the table's schema, and every message carries its id
SELECT id AS rt_id, schema::jsonb = kafka.avro_schema('avreg_rt')::jsonb AS same_schema
  FROM kafka.registry_latest('kreg', 'avreg_rt-value') \gset
SELECT :'same_schema' AS same_schema;
CREATE FOREIGN TABLE avreg_rt_raw (v bytea) SERVER kafka OPTIONS (topic 'avreg_rt', format 'bytea');
SELECT get_byte(v, 0) AS magic, substr(v, 2, 4) = int4send(:rt_id) AS same_id, length(v) AS len
  FROM avreg_rt_raw;
-- an inline avro_schema means plain Avro binary, even on a server with a registry
CREATE FOREIGN TABLE avreg_inline (s text) SERVER kreg
  OPTIONS (topic 'avreg_inline', format 'avro', avro_schema '"string"');
SELECT kafka_create_topic('kafka', 'avreg_inline', 1);
INSERT INTO avreg_inline VALUES ('plain');
SELECT * FROM avreg_inline;
\! kcat -b "$KAFKA_BROKERS" -C -e -q -t avreg_inline -f '%s\n' | od -An -tx1 | tr -s ' '

-- ---- evolution: v1, then v2 adds a field with a default; both read in one SELECT ----
SELECT kafka_create_topic('kafka', 'avreg_evo', 1);
SELECT kafka.registry_set_compatibility('kreg', 'avreg_evo-value', 'BACKWARD');
SELECT kafka.registry_register('kreg', 'avreg_evo-value',
  '{"type":"record","name":"evo","fields":[{"name":"id","type":"long"},{"name":"name","type":"string"}]}') AS v1 \gset
SELECT kafka.registry_register('kreg', 'avreg_evo-value',
  '{"type":"record","name":"evo","fields":[{"name":"id","type":"long"},{"name":"name","type":"string"},{"name":"score","type":"int","default":0}]}') AS v2 \gset
SELECT :v1 <> :v2 AS new_id;
-- hand-made frames of both versions: {1, "a"} and {3, "c"} with v1, {2, "b", 7} with v2
CREATE FOREIGN TABLE avreg_evo_raw (v bytea) SERVER kafka OPTIONS (topic 'avreg_evo', format 'bytea');
INSERT INTO avreg_evo_raw VALUES ('\x00'::bytea || int4send(:v1) || '\x020261'::bytea),
  ('\x00'::bytea || int4send(:v2) || '\x0402620e'::bytea),
  ('\x00'::bytea || int4send(:v1) || '\x060263'::bytea);
-- a table with v2's columns: v1 messages read NULL for score
CREATE FOREIGN TABLE avreg_evo (offs bigint OPTIONS (offset 'true'), id bigint NOT NULL, name text,
  score int) SERVER kreg OPTIONS (topic 'avreg_evo', format 'avro');
SELECT * FROM avreg_evo;
-- a table with v1's columns ignores the field it lacks
CREATE FOREIGN TABLE avreg_evo_old (id bigint, name text) SERVER kreg
  OPTIONS (topic 'avreg_evo', format 'avro');
SELECT * FROM avreg_evo_old;
-- INSERT writes and registers the table's own schema; ALTER TABLE makes a new version
CREATE FOREIGN TABLE avreg_evo2 (id bigint NOT NULL, name text) SERVER kreg
  OPTIONS (topic 'avreg_evo2', format 'avro');
SELECT kafka_create_topic('kafka', 'avreg_evo2', 1);
INSERT INTO avreg_evo2 VALUES (10, 'old');
SELECT id AS e1 FROM kafka.registry_latest('kreg', 'avreg_evo2-value') \gset
ALTER FOREIGN TABLE avreg_evo2 ADD COLUMN score int;
INSERT INTO avreg_evo2 VALUES (11, 'new', 5);
SELECT id <> :e1 AS new_version FROM kafka.registry_latest('kreg', 'avreg_evo2-value');
SELECT * FROM avreg_evo2;
ALTER FOREIGN TABLE avreg_evo2 DROP COLUMN name;
SELECT * FROM avreg_evo2;

-- ---- corrupt frames: bad messages for on_error ----
SELECT kafka_create_topic('kafka', 'avreg_bad', 1);
CREATE FOREIGN TABLE avreg_bad_raw (v bytea) SERVER kafka OPTIONS (topic 'avreg_bad', format 'bytea');
-- 0 good; 1 magic byte 1; 2 a 3-byte frame; 3 unknown id 999999; 4 truncated Avro; 5 a trailing
-- byte; 6 a header alone; 7 good
INSERT INTO avreg_bad_raw VALUES ('\x00'::bytea || int4send(:v1) || '\x020261'::bytea),
  ('\x01'::bytea || int4send(:v1) || '\x020261'::bytea),
  ('\x000000'),
  ('\x00'::bytea || int4send(999999) || '\x020261'::bytea),
  ('\x00'::bytea || int4send(:v1) || '\x0206'::bytea),
  ('\x00'::bytea || int4send(:v1) || '\x02026100'::bytea),
  ('\x00'::bytea || int4send(:v1)),
  ('\x00'::bytea || int4send(:v2) || '\x0402620e'::bytea);
CREATE FOREIGN TABLE avreg_bad (offs bigint OPTIONS (offset 'true'), id bigint, name text, score int)
  SERVER kreg OPTIONS (topic 'avreg_bad', format 'avro');
SELECT * FROM avreg_bad WHERE offs = 0;
SELECT show_error($$SELECT * FROM avreg_bad WHERE offs = 1$$);
SELECT show_error($$SELECT * FROM avreg_bad WHERE offs = 3$$);
ALTER FOREIGN TABLE avreg_bad OPTIONS (ADD on_error 'skip');
SELECT * FROM avreg_bad;
SELECT count(*) FROM avreg_bad;
ALTER FOREIGN TABLE avreg_bad OPTIONS (SET on_error 'junk');
ALTER FOREIGN TABLE avreg_bad ADD COLUMN raw bytea OPTIONS (junk 'true'),
  ADD COLUMN why text OPTIONS (junk_error 'true');
SELECT offs, id, name, score, length(raw) AS raw_len, why FROM avreg_bad;
-- a registry that fails is an ERROR of its own, not a bad message
CREATE SERVER kreg_down FOREIGN DATA WRAPPER kafka_fdw
  OPTIONS (brokers :'brokers', schema_registry 'http://127.0.0.1:1', timeout_ms '3000');
CREATE FOREIGN TABLE avreg_bad_down (offs bigint OPTIONS (offset 'true'), id bigint, name text)
  SERVER kreg_down OPTIONS (topic 'avreg_bad', format 'avro', on_error 'skip');
SELECT show_error($$SELECT * FROM avreg_bad_down$$);
-- bad headers need no registry
SELECT * FROM avreg_bad_down WHERE offs IN (1, 2);
