-- format avro: plain Avro binary values with an inline schema (avro_schema),
-- or the schema derived from the table; every type both ways; evolution by
-- field name; bad schemas refused at DDL time; bad messages under on_error.
SET datestyle = 'ISO, YMD';

-- ---- the schema option is checked when it is written ----
SELECT kafka_create_topic('kafka', 'avro_ddl', 1);
SELECT show_error($$CREATE FOREIGN TABLE avro_nok (v text) SERVER kafka
  OPTIONS (topic 'avro_ddl', format 'avro', avro_schema '{"type": "record", "name": "r", "fields": [')$$);
SELECT show_error($$CREATE FOREIGN TABLE avro_nok (v text) SERVER kafka
  OPTIONS (topic 'avro_ddl', format 'avro', avro_schema '{"type": "record", "name": "r", "fields": [{"name": "v", "type": "strin"}]}')$$);
SELECT show_error($$CREATE FOREIGN TABLE avro_nok (v text) SERVER kafka
  OPTIONS (topic 'avro_ddl', format 'avro', avro_schema '{"type": "enum", "name": "e", "symbols": ["a", "a"]}')$$);
SELECT show_error($$CREATE FOREIGN TABLE avro_nok (v text) SERVER kafka
  OPTIONS (topic 'avro_ddl', format 'json', avro_schema '"string"')$$);
SELECT show_error($$CREATE FOREIGN TABLE avro_nok (v text) SERVER kafka
  OPTIONS (topic 'avro_ddl', format 'avro', avro_schema '')$$);
CREATE FOREIGN TABLE avro_ddl (v text) SERVER kafka
  OPTIONS (topic 'avro_ddl', format 'avro', avro_schema '"string"');
SELECT show_error($$ALTER FOREIGN TABLE avro_ddl OPTIONS (SET avro_schema '{"type": "array"}')$$);
SELECT show_error($$ALTER FOREIGN TABLE avro_ddl OPTIONS (SET format 'xml')$$);
-- a schema that is not a record fills the one value column; two are refused when used
ALTER FOREIGN TABLE avro_ddl ADD COLUMN w text;
SELECT show_error('SELECT * FROM avro_ddl');
ALTER FOREIGN TABLE avro_ddl DROP COLUMN w;
INSERT INTO avro_ddl VALUES ('one string'), ('');
SELECT * FROM avro_ddl;
\! kcat -b "$KAFKA_BROKERS" -C -e -q -t avro_ddl -f '%s\n' | od -An -tx1 | tr -s ' '
-- a derived schema needs Avro names
CREATE FOREIGN TABLE avro_names ("my col" int) SERVER kafka OPTIONS (topic 'avro_ddl', format 'avro');
SELECT show_error($$SELECT kafka.avro_schema('avro_names')$$);
ALTER FOREIGN TABLE avro_names ALTER COLUMN "my col" OPTIONS (json 'my_col');
SELECT kafka.avro_schema('avro_names');
SELECT show_error($$SELECT kafka.avro_schema('pg_class')$$);

-- ---- the schema derived from a table, and a round trip of every column type ----
CREATE TYPE avro_mood AS ENUM ('sad', 'ok', 'happy');
CREATE TYPE avro_pt AS (x int, y text);
CREATE TABLE avro_src (
  id int NOT NULL, b bool, s smallint, l bigint, r real, d float8, t text, v varchar(10), by bytea,
  n numeric(10,2), nn numeric, dt date, tm time, ts timestamp, tz timestamptz, u uuid,
  j json, jb jsonb, arr int[], tarr text[], p avro_pt, parr avro_pt[], m avro_mood, iv interval, o oid);
INSERT INTO avro_src VALUES
 (1, true, 7, 1234567890123, 1.5, 2.25, 'héllo "w"', 'var', '\x00ff10', 12345678.91, 3.14159, '2024-02-29',
  '13:14:15.123456', '2024-01-02 03:04:05.678901', '2024-01-02 03:04:05.678+02',
  'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"a": [1, 2], "b": "x"}', '{"b": {"c": null}, "d": 1.5}',
  '{1,NULL,3}', '{"x y",NULL,""}', '(5,"five")', ARRAY['(1,a)'::avro_pt, NULL, '(2,)'::avro_pt], 'happy',
  '1 day 02:00', 4000000000),
 (2, false, -32768, -9223372036854775808, 'NaN', '-Infinity', '', '', '', -0.01, -1e-20, '4713-01-01 BC',
  '24:00:00', '1900-01-01 00:00:00', '1969-12-31 23:59:59.999999+00', '00000000-0000-0000-0000-000000000000',
  '[]', '"str"', '{}', '{}', '(,)', '{}', 'sad', '-1 mon', 0),
 (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL, NULL, NULL, NULL);
SELECT kafka_create_topic('kafka', 'avro_rt', 1);
CREATE FOREIGN TABLE avro_rt (offs bigint OPTIONS (offset 'true'),
  id int NOT NULL, b bool, s smallint, l bigint, r real, d float8, t text, v varchar(10), by bytea,
  n numeric(10,2), nn numeric, dt date, tm time, ts timestamp, tz timestamptz, u uuid,
  j json, jb jsonb, arr int[], tarr text[], p avro_pt, parr avro_pt[], m avro_mood, iv interval, o oid)
  SERVER kafka OPTIONS (topic 'avro_rt', format 'avro');
SELECT kafka.avro_schema('avro_rt');
INSERT INTO avro_rt (id, b, s, l, r, d, t, v, by, n, nn, dt, tm, ts, tz, u, j, jb, arr, tarr, p, parr, m, iv, o)
  SELECT * FROM avro_src ORDER BY id;
SELECT * FROM avro_rt ORDER BY offs;
-- exactly what went in (json compared as text: it is kept byte for byte)
SELECT count(*) AS differing FROM (
  SELECT id, b, s, l, r, d, t, v, by, n, nn, dt, tm, ts, tz, u, j::text, jb, arr, tarr, p, parr, m, iv, o FROM avro_rt
  EXCEPT
  SELECT id, b, s, l, r, d, t, v, by, n, nn, dt, tm, ts, tz, u, j::text, jb, arr, tarr, p, parr, m, iv, o FROM avro_src) x;
-- the bytes of row 3: the int 3, then branch 0 (null) of each of the 24 nullable fields
\! kcat -b "$KAFKA_BROKERS" -C -e -q -t avro_rt -o 2 -c 1 -f '%s' | od -An -tx1 | tr -s ' '
-- NOT NULL columns are not unions: NULL cannot be written
SELECT show_error($$INSERT INTO avro_rt (id) VALUES (NULL)$$);
-- a value a column's Avro type cannot hold
SELECT show_error($$INSERT INTO avro_rt (id, ts) VALUES (4, 'infinity')$$);
SELECT show_error($$INSERT INTO avro_rt (id, arr) VALUES (4, '{{1,2},{3,4}}')$$);

-- ---- an inline schema with every Avro type ----
CREATE TYPE avro_point AS (x int, y text);
CREATE TYPE avro_color AS ENUM ('red', 'green', 'blue');
SELECT kafka_create_topic('kafka', 'avro_all', 1);
CREATE FOREIGN TABLE avro_all (offs bigint OPTIONS (offset 'true'),
  nul text, b bool, i int, l bigint, f real, d float8, by bytea, s text, rec avro_point, arr bigint[],
  m jsonb, e avro_color, u text, fx bytea, dt date, tms time, tus time, tsms timestamptz, tsus timestamptz,
  ltms timestamp, ltus timestamp, dec numeric, decf numeric, uid uuid, uidf uuid, recs avro_point[])
  SERVER kafka OPTIONS (topic 'avro_all', format 'avro', avro_schema $${
    "type": "record", "name": "all_types", "namespace": "test", "fields": [
      {"name": "nul", "type": "null"},
      {"name": "b", "type": "boolean"},
      {"name": "i", "type": "int"},
      {"name": "l", "type": "long"},
      {"name": "f", "type": "float"},
      {"name": "d", "type": "double"},
      {"name": "by", "type": "bytes"},
      {"name": "s", "type": "string"},
      {"name": "rec", "type": {"type": "record", "name": "point",
        "fields": [{"name": "x", "type": "int"}, {"name": "y", "type": ["null", "string"]}]}},
      {"name": "arr", "type": {"type": "array", "items": "long"}},
      {"name": "m", "type": {"type": "map", "values": ["null", "double"]}},
      {"name": "e", "type": {"type": "enum", "name": "color", "symbols": ["red", "green", "blue"]}},
      {"name": "u", "type": ["null", "string"]},
      {"name": "fx", "type": {"type": "fixed", "name": "four", "size": 4}},
      {"name": "dt", "type": {"type": "int", "logicalType": "date"}},
      {"name": "tms", "type": {"type": "int", "logicalType": "time-millis"}},
      {"name": "tus", "type": {"type": "long", "logicalType": "time-micros"}},
      {"name": "tsms", "type": {"type": "long", "logicalType": "timestamp-millis"}},
      {"name": "tsus", "type": {"type": "long", "logicalType": "timestamp-micros"}},
      {"name": "ltms", "type": {"type": "long", "logicalType": "local-timestamp-millis"}},
      {"name": "ltus", "type": {"type": "long", "logicalType": "local-timestamp-micros"}},
      {"name": "dec", "type": {"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 3}},
      {"name": "decf", "type": {"type": "fixed", "name": "dec8", "size": 8, "logicalType": "decimal",
        "precision": 18, "scale": 2}},
      {"name": "uid", "type": {"type": "string", "logicalType": "uuid"}},
      {"name": "uidf", "type": {"type": "fixed", "name": "uuid16", "size": 16, "logicalType": "uuid"}},
      {"name": "recs", "type": {"type": "array", "items": "point"}}]}$$);
INSERT INTO avro_all (nul, b, i, l, f, d, by, s, rec, arr, m, e, u, fx, dt, tms, tus, tsms, tsus, ltms, ltus,
                      dec, decf, uid, uidf, recs) VALUES
 (NULL, true, -2147483648, 9223372036854775807, 3.25, 1e300, '\xdeadbeef', 'ünïcode ☃', '(1,one)', '{1,-2,3}',
  '{"a": 1.5, "b": null}', 'green', 'nullable', '\x01020304', '2000-01-01', '23:59:59.999', '00:00:00.000001',
  '2024-06-01 12:00:00.123+00', '2024-06-01 12:00:00.123456+00', '1970-01-01 00:00:00.001',
  '0001-01-01 00:00:00.000001', 123456.789, -9999999999999999.99, '6ba7b810-9dad-11d1-80b4-00c04fd430c8',
  '6ba7b811-9dad-11d1-80b4-00c04fd430c8', ARRAY['(1,)', '(2,b)']::avro_point[]),
 (NULL, false, 0, 0, '-Infinity', -0.5, '', '', '(0,)', '{}', '{}', 'red', NULL, '\x00000000', '1969-12-31',
  '00:00', '24:00', '1969-12-31 23:59:59.999+00', '1970-01-01 00:00:00+00', '2038-01-19 03:14:08',
  '1969-12-31 23:59:59.999999', -0.001, 0, '00000000-0000-0000-0000-000000000000',
  'ffffffff-ffff-ffff-ffff-ffffffffffff', '{}');
SELECT * FROM avro_all ORDER BY offs;
-- sub-millisecond digits do not fit the -millis types: they are cut off (as Java's toEpochMilli)
INSERT INTO avro_all (b, i, l, f, d, by, s, rec, arr, m, e, fx, dt, tms, tus, tsms, tsus, ltms, ltus,
                      dec, decf, uid, uidf, recs) VALUES
 (true, 1, 1, 1, 1, '', '', '(1,)', '{}', '{}', 'blue', '\x00000000', '2024-01-01', '10:00:00.123999', '10:00',
  '2024-01-01 10:00:00.123999+00', '2024-01-01 10:00+00', '2024-01-01 10:00:00.999999', '2024-01-01 10:00',
  0.0005, 0.005, '6ba7b812-9dad-11d1-80b4-00c04fd430c8', '6ba7b813-9dad-11d1-80b4-00c04fd430c8', '{}');
SELECT tms, tsms, ltms, dec, decf FROM avro_all WHERE offs = 2;
-- what the encoder refuses, before anything is sent
SELECT show_error($$INSERT INTO avro_all (b) VALUES (true)$$);
SELECT show_error($$INSERT INTO avro_all (nul, b, i, l, f, d, by, s, rec, arr, m, e, fx, dt, tms, tus, tsms, tsus, ltms, ltus, dec, decf, uid, uidf, recs)
  VALUES ('x', true, 1, 1, 1, 1, '', '', '(1,)', '{}', '{}', 'red', '\x00000000', '2024-01-01', '10:00', '10:00', now(), now(), now(), now(), 0, 0, gen_random_uuid(), gen_random_uuid(), '{}')$$);
SELECT show_error($$INSERT INTO avro_all (b, i, l, f, d, by, s, rec, arr, m, e, fx, dt, tms, tus, tsms, tsus, ltms, ltus, dec, decf, uid, uidf, recs)
  VALUES (true, 1, 1, 1, 1, '', '', '(1,)', '{}', '{}', 'red', '\x00', '2024-01-01', '10:00', '10:00', now(), now(), now(), now(), 0, 0, gen_random_uuid(), gen_random_uuid(), '{}')$$);
SELECT show_error($$INSERT INTO avro_all (b, i, l, f, d, by, s, rec, arr, m, e, fx, dt, tms, tus, tsms, tsus, ltms, ltus, dec, decf, uid, uidf, recs)
  VALUES (true, 1, 1, 1, 1, '', '', '(1,)', '{}', '{}', 'red', '\x00000000', '2024-01-01', '10:00', '10:00', now(), now(), now(), now(), 1234567, 0, gen_random_uuid(), gen_random_uuid(), '{}')$$);
SELECT show_error($$INSERT INTO avro_all (b, i, l, f, d, by, s, rec, arr, m, e, fx, dt, tms, tus, tsms, tsus, ltms, ltus, dec, decf, uid, uidf, recs)
  VALUES (true, 1, 1, 1, 1, '', '', '(1,)', '{}', '{"k": "not a number"}', 'red', '\x00000000', '2024-01-01', '10:00', '10:00', now(), now(), now(), now(), 0, 0, gen_random_uuid(), gen_random_uuid(), '{}')$$);

-- ---- other columns for the same records: by name, renamed, as json, as text ----
CREATE FOREIGN TABLE avro_all_as (offs bigint OPTIONS (offset 'true'),
  missing text, ident bigint OPTIONS (json 'i'), rec jsonb, arr json, m text, e text, recs jsonb,
  tsus text, ltus text, dt text, dec text, by text, fx text, uidf text, b text, f float8, s varchar(5))
  SERVER kafka OPTIONS (topic 'avro_all', format 'avro', avro_schema '"string"');
ALTER FOREIGN TABLE avro_all_as OPTIONS (SET avro_schema
  '{"type":"record","name":"all_types","namespace":"test","fields":[{"name":"nul","type":"null"},{"name":"b","type":"boolean"},{"name":"i","type":"int"},{"name":"l","type":"long"},{"name":"f","type":"float"},{"name":"d","type":"double"},{"name":"by","type":"bytes"},{"name":"s","type":"string"},{"name":"rec","type":{"type":"record","name":"point","fields":[{"name":"x","type":"int"},{"name":"y","type":["null","string"]}]}},{"name":"arr","type":{"type":"array","items":"long"}},{"name":"m","type":{"type":"map","values":["null","double"]}},{"name":"e","type":{"type":"enum","name":"color","symbols":["red","green","blue"]}},{"name":"u","type":["null","string"]},{"name":"fx","type":{"type":"fixed","name":"four","size":4}},{"name":"dt","type":{"type":"int","logicalType":"date"}},{"name":"tms","type":{"type":"int","logicalType":"time-millis"}},{"name":"tus","type":{"type":"long","logicalType":"time-micros"}},{"name":"tsms","type":{"type":"long","logicalType":"timestamp-millis"}},{"name":"tsus","type":{"type":"long","logicalType":"timestamp-micros"}},{"name":"ltms","type":{"type":"long","logicalType":"local-timestamp-millis"}},{"name":"ltus","type":{"type":"long","logicalType":"local-timestamp-micros"}},{"name":"dec","type":{"type":"bytes","logicalType":"decimal","precision":9,"scale":3}},{"name":"decf","type":{"type":"fixed","name":"dec8","size":8,"logicalType":"decimal","precision":18,"scale":2}},{"name":"uid","type":{"type":"string","logicalType":"uuid"}},{"name":"uidf","type":{"type":"fixed","name":"uuid16","size":16,"logicalType":"uuid"}},{"name":"recs","type":{"type":"array","items":"point"}}]}');
SELECT offs, missing, ident, rec, arr, m, e, recs, tsus, ltus, dt, dec, by, fx, uidf, b, f
  FROM avro_all_as ORDER BY offs;
-- a string longer than the column is the type's own error
SELECT show_error('SELECT s FROM avro_all_as WHERE offs = 0');
-- count(*) decodes nothing
SELECT count(*) FROM avro_all_as;

-- ---- schema evolution: the fields of the schema to the columns of the table ----
SELECT kafka_create_topic('kafka', 'avro_evo', 1);
CREATE FOREIGN TABLE avro_evo_v1 (id bigint NOT NULL, name text) SERVER kafka
  OPTIONS (topic 'avro_evo', format 'avro', avro_schema
  '{"type":"record","name":"person","fields":[{"name":"id","type":"long"},{"name":"name","type":["null","string"],"default":null}]}');
INSERT INTO avro_evo_v1 VALUES (1, 'ann'), (2, NULL);
-- a table with a column the record lacks (NULL), without one of its fields (ignored), and a renamed one
CREATE FOREIGN TABLE avro_evo_t2 (offs bigint OPTIONS (offset 'true'), email text, who text OPTIONS (json 'name'))
  SERVER kafka OPTIONS (topic 'avro_evo', format 'avro', avro_schema
  '{"type":"record","name":"person","fields":[{"name":"id","type":"long"},{"name":"name","type":["null","string"],"default":null}]}');
SELECT * FROM avro_evo_t2 ORDER BY offs;
-- v2 adds a field with a default: INSERT through a table without the column writes the default
CREATE FOREIGN TABLE avro_evo_v2 (id bigint NOT NULL, name text) SERVER kafka
  OPTIONS (topic 'avro_evo', format 'avro', avro_schema
  '{"type":"record","name":"person","fields":[{"name":"id","type":"long"},{"name":"name","type":["null","string"],"default":null},{"name":"score","type":"int","default":42}]}');
INSERT INTO avro_evo_v2 VALUES (3, 'cy');
ALTER FOREIGN TABLE avro_evo_v2 ADD COLUMN score int;
INSERT INTO avro_evo_v2 VALUES (4, 'dee', 7);
-- a column no field takes can only be NULL
ALTER FOREIGN TABLE avro_evo_v2 ADD COLUMN extra text;
SELECT show_error($$INSERT INTO avro_evo_v2 VALUES (5, 'eve', 1, 'lost?')$$);
-- an inline schema is the writer's schema of every message: v2 messages read with v1 are bad
-- (the schema registry gives each message its own writer schema)
ALTER FOREIGN TABLE avro_evo_v1 OPTIONS (ADD on_error 'skip');
SELECT * FROM avro_evo_v1;
ALTER FOREIGN TABLE avro_evo_v2 OPTIONS (ADD on_error 'skip');
SELECT id, name, score FROM avro_evo_v2;

-- ---- bad messages: the decoder stays inside the message and says why ----
SELECT kafka_create_topic('kafka', 'avro_bad', 1);
CREATE FOREIGN TABLE avro_bad_raw (v bytea) SERVER kafka OPTIONS (topic 'avro_bad', format 'bytea');
-- {"id": long, "s": string}: 0 good; 1 truncated; 2 random bytes; 3 trailing byte; 4 invalid UTF-8;
-- 5 negative length; 6 a 65-bit varint; 7 empty; 8 good
INSERT INTO avro_bad_raw VALUES ('\x0206666f6f'), ('\x0206666f'), ('\x9c4e11d3f0a7'), ('\x0206666f6f00'),
  ('\x0202ff'), ('\x0201'), ('\xffffffffffffffffff7f02'), (''), ('\x0400');
CREATE FOREIGN TABLE avro_bad (offs bigint OPTIONS (offset 'true'), id bigint, s text) SERVER kafka
  OPTIONS (topic 'avro_bad', format 'avro', avro_schema
  '{"type":"record","name":"r","fields":[{"name":"id","type":"long"},{"name":"s","type":"string"}]}');
SELECT * FROM avro_bad WHERE offs IN (0, 8) ORDER BY offs;
SELECT * FROM avro_bad WHERE offs = 1;
SELECT * FROM avro_bad WHERE offs = 4;
ALTER FOREIGN TABLE avro_bad OPTIONS (ADD on_error 'skip');
SELECT * FROM avro_bad ORDER BY offs;
ALTER FOREIGN TABLE avro_bad OPTIONS (SET on_error 'junk');
ALTER FOREIGN TABLE avro_bad ADD COLUMN raw bytea OPTIONS (junk 'true'), ADD COLUMN why text OPTIONS (junk_error 'true');
SELECT * FROM avro_bad ORDER BY offs;
-- the same bytes read with other schemas
SELECT kafka_create_topic('kafka', 'avro_bad2', 1);
CREATE FOREIGN TABLE avro_bad2_raw (v bytea) SERVER kafka OPTIONS (topic 'avro_bad2', format 'bytea');
-- 0: 2^31 items of null in 6 bytes (avro-c's reader would loop for minutes); 1: a block of a
-- million longs in 4 bytes; 2: union branch 2 of 2; 3: boolean byte 2; 4: enum symbol 3 of 3;
-- 5: a block size that does not match its items; 6: recursion 300 deep; 7: a date out of range;
-- 8: a decimal with more digits than its precision; 9: good; 10: 1,000 items of null, then a block
-- of 2^63 - 501 more (the count of such items overflowed: found by fuzz_avro)
INSERT INTO avro_bad2_raw VALUES ('\xfeffffff0f00'), ('\x0080897a0202'), ('\x000004'), ('\x00000002'),
  ('\x0000000006'), ('\x000000000001060200000000'), (('\x000000000000' || repeat('02', 300))::bytea),
  ('\x00000000000000feffffff0f00'), ('\x0000000000000000187fffffffffffffffffffffff'), ('\x000000000000000000'),
  ('\xd00f96f8ffffffffffffff0100');
CREATE FOREIGN TABLE avro_bad2 (offs bigint OPTIONS (offset 'true'), nulls text, longs text, u text,
  b bool, e text, blk text, deep jsonb, dt date, dec numeric, raw bytea OPTIONS (junk 'true'),
  why text OPTIONS (junk_error 'true')) SERVER kafka
  OPTIONS (topic 'avro_bad2', format 'avro', on_error 'junk', avro_schema $$
  {"type": "record", "name": "r", "fields": [
    {"name": "nulls", "type": {"type": "array", "items": "null"}},
    {"name": "longs", "type": {"type": "array", "items": "long"}},
    {"name": "u", "type": ["null", "string"]},
    {"name": "b", "type": "boolean"},
    {"name": "e", "type": {"type": "enum", "name": "abc", "symbols": ["a", "b", "c"]}},
    {"name": "blk", "type": {"type": "array", "items": "int"}},
    {"name": "deep", "type": ["null", {"type": "record", "name": "node",
      "fields": [{"name": "next", "type": ["null", "node"]}]}]},
    {"name": "dt", "type": {"type": "int", "logicalType": "date"}},
    {"name": "dec", "type": {"type": "bytes", "logicalType": "decimal", "precision": 4, "scale": 1}}]}$$);
SELECT offs, nulls, longs, u, b, e, blk, deep, dt, dec, why FROM avro_bad2 ORDER BY offs;

-- ---- key_format 'avro': the key column in Avro (plain binary: no registry here) ----
-- the options are checked when written
SELECT show_error($$CREATE FOREIGN TABLE avro_knok (k bigint OPTIONS (key 'true'), v text) SERVER kafka
  OPTIONS (topic 'avro_keys', key_format 'xml')$$);
SELECT show_error($$CREATE FOREIGN TABLE avro_knok (k bigint OPTIONS (key 'true'), v text) SERVER kafka
  OPTIONS (topic 'avro_keys', key_avro_schema '"long"')$$);
SELECT show_error($$CREATE FOREIGN TABLE avro_knok (k bigint OPTIONS (key 'true'), v text) SERVER kafka
  OPTIONS (topic 'avro_keys', key_format 'avro', key_avro_schema '{"type": "lng"}')$$);
SELECT show_error($$CREATE FOREIGN TABLE avro_knok (k bigint OPTIONS (key 'true'), v text) SERVER kafka
  OPTIONS (topic 'avro_keys', key_subject 'k')$$);
SELECT show_error($$CREATE FOREIGN TABLE avro_knok (k bigint OPTIONS (key 'true'), v text) SERVER kafka
  OPTIONS (topic 'avro_keys', format 'json', value_subject 'v')$$);
SELECT show_error($$CREATE FOREIGN TABLE avro_knok (k bigint OPTIONS (key 'true'), v text) SERVER kafka
  OPTIONS (topic 'avro_keys', subject_name_strategy 'TopicNameStrategy')$$);
SELECT show_error($$CREATE FOREIGN TABLE avro_knok (k bigint OPTIONS (key 'true'), v text) SERVER kafka
  OPTIONS (topic 'avro_keys', key_subject '')$$);
-- a scalar key: bigint NOT NULL is the Avro long (derived); the value stays json
SELECT kafka_create_topic('kafka', 'avro_keys', 1);
CREATE FOREIGN TABLE avro_keys (offs bigint OPTIONS (offset 'true'), k bigint OPTIONS (key 'true') NOT NULL, v text)
  SERVER kafka OPTIONS (topic 'avro_keys', key_format 'avro');
INSERT INTO avro_keys (k, v) VALUES (1, 'one'), (-64, 'minus 64'), (-9223372036854775808, 'min');
SELECT * FROM avro_keys ORDER BY offs;
-- the keys are Avro longs (zigzag varints), the values JSON
CREATE FOREIGN TABLE avro_keys_raw (offs bigint OPTIONS (offset 'true'), k bytea OPTIONS (key 'true'), v text)
  SERVER kafka OPTIONS (topic 'avro_keys', format 'text');
SELECT * FROM avro_keys_raw ORDER BY offs;
-- a record key: a composite key column is an Avro record (derived: named after the type);
-- a nullable key column is a union with null, and a NULL key is a message without a key
CREATE TYPE avro_kt AS (id int, region text);
SELECT kafka_create_topic('kafka', 'avro_keys2', 1);
CREATE FOREIGN TABLE avro_keys2 (offs bigint OPTIONS (offset 'true'), k avro_kt OPTIONS (key 'true'), n int)
  SERVER kafka OPTIONS (topic 'avro_keys2', format 'avro', key_format 'avro');
INSERT INTO avro_keys2 (k, n) VALUES ('(7,eu)', 1), ('(8,)', 2), (NULL, 3);
SELECT offs, k, (k).region, n FROM avro_keys2 ORDER BY offs;
CREATE FOREIGN TABLE avro_keys2_raw (offs bigint OPTIONS (offset 'true'), k bytea OPTIONS (key 'true'), v bytea)
  SERVER kafka OPTIONS (topic 'avro_keys2', format 'bytea');
SELECT * FROM avro_keys2_raw ORDER BY offs;
-- an inline key schema (key_avro_schema, plain Avro binary) into other column types: the same
-- record keys as jsonb
CREATE FOREIGN TABLE avro_keys2_json (offs bigint OPTIONS (offset 'true'), k jsonb OPTIONS (key 'true'), n int)
  SERVER kafka OPTIONS (topic 'avro_keys2', format 'avro', key_format 'avro', key_avro_schema
  '["null", {"type": "record", "name": "avro_kt", "fields": [{"name": "id", "type": ["null", "int"]}, {"name": "region", "type": ["null", "string"]}]}]');
SELECT * FROM avro_keys2_json ORDER BY offs;
-- jsonb keys written with an inline schema
INSERT INTO avro_keys2_json (k, n) VALUES ('{"id": 9, "region": "us"}', 4);
SELECT offs, k, n FROM avro_keys2 WHERE offs = 3;
-- a text key with a string schema, and a key type the schema cannot hold
SELECT kafka_create_topic('kafka', 'avro_keys3', 1);
CREATE FOREIGN TABLE avro_keys3 (k text OPTIONS (key 'true'), v text)
  SERVER kafka OPTIONS (topic 'avro_keys3', format 'text', key_format 'avro', key_avro_schema '"string"');
INSERT INTO avro_keys3 VALUES ('ключ', 'a');
SELECT * FROM avro_keys3;
ALTER FOREIGN TABLE avro_keys3 OPTIONS (SET key_avro_schema '"long"');
SELECT show_error($$INSERT INTO avro_keys3 VALUES ('not a number', 'b')$$);
-- bad keys are bad messages for on_error, their reason starts with "key: "
-- (offsets 3: a truncated varint; 4: a byte after the long; 5: no key, NULL; 6: good)
INSERT INTO avro_keys_raw (k, v) VALUES ('\x80', '{"v": "bad 1"}'), ('\x0200', '{"v": "bad 2"}'),
  (NULL, '{"v": "no key"}'), ('\x06', '{"v": "three"}');
SELECT show_error('SELECT * FROM avro_keys');
ALTER FOREIGN TABLE avro_keys OPTIONS (ADD on_error 'skip');
SELECT * FROM avro_keys ORDER BY offs;
-- a query without the key column does not decode keys
SELECT count(*), count(v) FROM avro_keys;
ALTER FOREIGN TABLE avro_keys OPTIONS (SET on_error 'junk');
ALTER FOREIGN TABLE avro_keys ADD COLUMN why text OPTIONS (junk_error 'true');
SELECT * FROM avro_keys ORDER BY offs;

-- a megabyte of schema (120000 enum symbols, 40000 fields) is checked in n log n: repeated
-- symbols and fields were looked for pair by pair (over 30 s, not cancellable)
SET statement_timeout = '10s';
CREATE FUNCTION avro_big_schema(n int, repeat int, enum bool) RETURNS text LANGUAGE sql AS $$
  SELECT CASE WHEN enum THEN '{"type":"record","name":"r","fields":[{"name":"v","type":{"type":"enum","name":"e","symbols":['
    || (SELECT string_agg(format('"s%s"', i), ',') FROM generate_series(1, n) i)
    || coalesce(format(',"s%s"', repeat), '') || ']}}]}'
  ELSE '{"type":"record","name":"r","fields":['
    || (SELECT string_agg(format('{"name":"f%s","type":"int"}', i), ',') FROM generate_series(1, n) i)
    || coalesce(format(',{"name":"f%s","type":"long"}', repeat), '') || ']}' END $$;
DO $$
BEGIN
  EXECUTE format('CREATE FOREIGN TABLE avro_big_enum (v text) SERVER kafka OPTIONS (topic %L, format %L, avro_schema %L)',
    'avro_big', 'avro', avro_big_schema(120000, NULL, true));
  EXECUTE format('CREATE FOREIGN TABLE avro_wide (f1 int) SERVER kafka OPTIONS (topic %L, format %L, avro_schema %L)',
    'avro_big', 'avro', avro_big_schema(40000, NULL, false));
END $$;
SELECT show_error(format('CREATE FOREIGN TABLE avro_big_bad (v text) SERVER kafka OPTIONS (topic %L, format %L, avro_schema %L)',
  'avro_big', 'avro', avro_big_schema(120000, 77, true)));
SELECT show_error(format('CREATE FOREIGN TABLE avro_big_bad (f1 int) SERVER kafka OPTIONS (topic %L, format %L, avro_schema %L)',
  'avro_big', 'avro', avro_big_schema(40000, 39999, false)));
RESET statement_timeout;
DROP FOREIGN TABLE avro_big_enum, avro_wide;
DROP FUNCTION avro_big_schema(int, int, bool);

DROP FOREIGN TABLE avro_ddl, avro_names, avro_rt, avro_all, avro_all_as, avro_evo_v1, avro_evo_t2, avro_evo_v2,
  avro_bad_raw, avro_bad, avro_bad2_raw, avro_bad2, avro_keys, avro_keys_raw, avro_keys2, avro_keys2_raw,
  avro_keys2_json, avro_keys3;
DROP TABLE avro_src;
DROP TYPE avro_mood, avro_pt, avro_point, avro_color, avro_kt;
RESET datestyle;
