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
-- a table with v2's columns: v1 messages read v2's default for score (the subject's latest)
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

-- ---- key_format 'avro' with the registry: the key in the wire format, subject <topic>-key ----
SELECT kafka_create_topic('kafka', 'avreg_key', 1);
CREATE TYPE avreg_kt AS (id int, region text);
CREATE FOREIGN TABLE avreg_key (offs bigint OPTIONS (offset 'true'), k bigint OPTIONS (key 'true') NOT NULL,
  name text) SERVER kreg OPTIONS (topic 'avreg_key', format 'avro', key_format 'avro');
INSERT INTO avreg_key (k, name) VALUES (1, 'one'), (-2, 'minus two');
SELECT * FROM avreg_key ORDER BY offs;
SELECT s AS subject FROM kafka.registry_subjects('kreg') s WHERE s LIKE 'avreg_key-%' ORDER BY 1;
SELECT id AS key_id, schema AS key_schema FROM kafka.registry_latest('kreg', 'avreg_key-key') \gset
SELECT :'key_schema' AS key_schema;
CREATE FOREIGN TABLE avreg_key_raw (offs bigint OPTIONS (offset 'true'), k bytea OPTIONS (key 'true'), v bytea)
  SERVER kafka OPTIONS (topic 'avreg_key', format 'bytea');
SELECT offs, get_byte(k, 0) AS magic, substr(k, 2, 4) = int4send(:key_id) AS same_id, substr(k, 6) AS avro
  FROM avreg_key_raw ORDER BY offs;
-- a record key (a composite key column, nullable: a union with null)
CREATE FOREIGN TABLE avreg_key2 (offs bigint OPTIONS (offset 'true'), k avreg_kt OPTIONS (key 'true'),
  name text) SERVER kreg OPTIONS (topic 'avreg_key2', format 'avro', key_format 'avro');
SELECT kafka_create_topic('kafka', 'avreg_key2', 1);
INSERT INTO avreg_key2 (k, name) VALUES ('(7,eu)', 'seven'), (NULL, 'no key');
SELECT offs, k, (k).id, name FROM avreg_key2 ORDER BY offs;
SELECT schema::jsonb AS key_schema FROM kafka.registry_latest('kreg', 'avreg_key2-key');
-- read as jsonb; a key that is not in the wire format is a bad message: "key: ..."
CREATE FOREIGN TABLE avreg_key2_raw (k bytea OPTIONS (key 'true'), v bytea)
  SERVER kafka OPTIONS (topic 'avreg_key2', format 'bytea');
INSERT INTO avreg_key2_raw SELECT '\x01020304'::bytea, v FROM avreg_key2_raw LIMIT 1;
CREATE FOREIGN TABLE avreg_key2_json (offs bigint OPTIONS (offset 'true'), k jsonb OPTIONS (key 'true'),
  name text, why text OPTIONS (junk_error 'true')) SERVER kreg
  OPTIONS (topic 'avreg_key2', format 'avro', key_format 'avro', on_error 'junk');
SELECT * FROM avreg_key2_json ORDER BY offs;
-- an inline key schema keeps plain Avro keys on a registry server (the value stays framed)
CREATE FOREIGN TABLE avreg_key3 (offs bigint OPTIONS (offset 'true'), k text OPTIONS (key 'true'),
  name text) SERVER kreg OPTIONS (topic 'avreg_key3', format 'avro', key_format 'avro', key_avro_schema '"string"');
SELECT kafka_create_topic('kafka', 'avreg_key3', 1);
INSERT INTO avreg_key3 (k, name) VALUES ('k1', 'x');
SELECT * FROM avreg_key3;
CREATE FOREIGN TABLE avreg_key3_raw (k bytea OPTIONS (key 'true'), v bytea)
  SERVER kafka OPTIONS (topic 'avreg_key3', format 'bytea');
SELECT k, get_byte(v, 0) AS value_magic FROM avreg_key3_raw;
SELECT count(*) AS key3_key_subjects FROM kafka.registry_subjects('kreg') s WHERE s = 'avreg_key3-key';

-- ---- subject naming: subject_name_strategy, value_subject, key_subject (reading is by id) ----
SELECT kafka_create_topic('kafka', 'avreg_sn', 1);
CREATE FOREIGN TABLE avreg_sn_rec (k avreg_kt OPTIONS (key 'true'), v text) SERVER kreg
  OPTIONS (topic 'avreg_sn', format 'avro', key_format 'avro', subject_name_strategy 'record');
CREATE FOREIGN TABLE avreg_sn_tr (k avreg_kt OPTIONS (key 'true'), v text) SERVER kreg
  OPTIONS (topic 'avreg_sn', format 'avro', key_format 'avro', subject_name_strategy 'topic_record');
CREATE FOREIGN TABLE avreg_sn_given (k avreg_kt OPTIONS (key 'true'), v text) SERVER kreg
  OPTIONS (topic 'avreg_sn', format 'avro', key_format 'avro', subject_name_strategy 'record',
           value_subject 'avreg_sn_values', key_subject 'avreg_sn_keys');
INSERT INTO avreg_sn_rec VALUES ('(1,a)', 'record');
INSERT INTO avreg_sn_tr VALUES ('(2,b)', 'topic_record');
INSERT INTO avreg_sn_given VALUES ('(3,c)', 'given');
SELECT s AS subject FROM kafka.registry_subjects('kreg') s
  WHERE s LIKE '%avreg_sn%' OR s LIKE '%avreg_kt%' ORDER BY 1;
SELECT * FROM avreg_sn_rec;
-- the record strategies need a record (or a nullable one): a scalar key cannot name its subject
CREATE FOREIGN TABLE avreg_sn_bad (k bigint OPTIONS (key 'true'), v text) SERVER kreg
  OPTIONS (topic 'avreg_sn', format 'avro', key_format 'avro', subject_name_strategy 'record');
SELECT show_error($$INSERT INTO avreg_sn_bad VALUES (1, 'x')$$);
ALTER FOREIGN TABLE avreg_sn_bad OPTIONS (ADD key_subject 'avreg_sn_long_keys');
INSERT INTO avreg_sn_bad VALUES (1, 'x');
SELECT count(*) FROM avreg_sn_rec;

-- ---- defaults from the latest version: a field the writer lacks reads as the latest default ----
SELECT kafka_create_topic('kafka', 'avreg_def', 1);
SELECT kafka.registry_set_compatibility('kreg', 'avreg_def-value', 'BACKWARD');
-- v1: a message INSERTed through a table with v1's columns (registers the derived schema)
CREATE FOREIGN TABLE avreg_def_v1 (id bigint NOT NULL, name text) SERVER kreg
  OPTIONS (topic 'avreg_def', format 'avro');
INSERT INTO avreg_def_v1 VALUES (1, 'ann');
-- v2: v1 and three fields with defaults (a union's default is of its first branch)
SELECT kafka.registry_register('kreg', 'avreg_def-value',
  jsonb_set(kafka.avro_schema('avreg_def_v1')::jsonb, '{fields}',
    (kafka.avro_schema('avreg_def_v1')::jsonb -> 'fields') ||
    '[{"name": "score", "type": "int", "default": 42},
      {"name": "tag", "type": ["string", "null"], "default": "none"},
      {"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}, "default": 86400000},
      {"name": "note", "type": ["null", "string"], "default": null}]')::text) AS def_v2 \gset
-- a v2 message, by hand: {2, "bob", 7, "t", 0, null}
CREATE FOREIGN TABLE avreg_def_raw (v bytea) SERVER kafka OPTIONS (topic 'avreg_def', format 'bytea');
INSERT INTO avreg_def_raw VALUES ('\x00'::bytea || int4send(:def_v2) || '\x040206626f620e0002740000'::bytea);
-- a table with v2's columns and one no version has: the v1 message gets v2's defaults
CREATE FOREIGN TABLE avreg_def (offs bigint OPTIONS (offset 'true'), id bigint, name text, score int,
  tag text, at timestamptz, note text, other text) SERVER kreg OPTIONS (topic 'avreg_def', format 'avro');
SET timezone = 'UTC';
SELECT * FROM avreg_def ORDER BY offs;
-- columns read through other types take the default the same way
CREATE FOREIGN TABLE avreg_def_as (offs bigint OPTIONS (offset 'true'), score numeric, tag varchar(4), at text, note jsonb)
  SERVER kreg OPTIONS (topic 'avreg_def', format 'avro');
SELECT * FROM avreg_def_as ORDER BY offs;
-- the subject is the one INSERT would write to: a subject without versions gives no defaults
ALTER FOREIGN TABLE avreg_def OPTIONS (ADD value_subject 'avreg_def_nosuch-value');
SELECT * FROM avreg_def ORDER BY offs;
RESET timezone;
