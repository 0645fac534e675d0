-- avro_compat: kafka_fdw's own Avro schema compatibility checker (src/avro_compat.c), used by
-- kafka.check_compatibility (reasons when the registry gives none), by INSERT before it
-- registers a table's schema, and by the event trigger on ALTER FOREIGN TABLE.  Against the
-- test bed's registry (SCHEMA_REGISTRY_URL, Apicurio: its default level is NONE, so every
-- subject here gets its level explicitly); ids are never shown (Apicurio's may skip numbers),
-- versions are (they count per subject).
\getenv registry SCHEMA_REGISTRY_URL
\getenv brokers KAFKA_BROKERS
CREATE SERVER acs FOREIGN DATA WRAPPER kafka_fdw
  OPTIONS (brokers :'brokers', schema_registry :'registry', timeout_ms '10000');
-- errors with their detail (the field-level reasons; not for connection errors, whose detail
-- has timings) and the first line of their context
CREATE FUNCTION show_error_detail(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE st text; msg text; det text; hint text; ctx text;
BEGIN
  EXECUTE q;
  RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL,
    hint = PG_EXCEPTION_HINT, ctx = PG_EXCEPTION_CONTEXT;
  ctx := split_part(ctx, E'\n', 1);
  RETURN st || ': ' || msg || CASE WHEN det <> '' AND st NOT LIKE '08%' THEN E'\nDETAIL: ' || det ELSE '' END
    || CASE WHEN hint <> '' THEN E'\nHINT: ' || hint ELSE '' END
    || CASE WHEN ctx LIKE 'checking%' THEN E'\nCONTEXT: ' || ctx ELSE '' END;
END $$;

-- ---- the rules, through kafka.check_compatibility ------------------------------------------
-- each case: a subject of its own with version 1 registered (at level NONE), then the case's
-- level; registry_ok is the registry's verdict, messages kafka_fdw's reasons (Apicurio gives
-- none; when the two disagree, a first message says so)
CREATE FUNCTION ac_case(subject text, level text, v1 text, candidate text)
RETURNS TABLE (registry_ok boolean, messages text[]) LANGUAGE plpgsql AS $$
BEGIN
  PERFORM kafka.registry_set_compatibility('acs', subject, 'NONE');
  PERFORM kafka.registry_register('acs', subject, v1);
  PERFORM kafka.registry_set_compatibility('acs', subject, level);
  RETURN QUERY SELECT c.is_compatible, c.messages FROM kafka.check_compatibility('acs', subject, candidate) c;
END $$;
CREATE FUNCTION rec(fields text, name text DEFAULT 'r') RETURNS text LANGUAGE sql
  AS $$ SELECT '{"type":"record","name":"' || name || '","namespace":"ac","fields":[' || fields || ']}' $$;

SELECT n, c.* FROM (VALUES
  -- records: a field added with and without a default, a field removed
  (1, 'BACKWARD', rec('{"name":"a","type":"int"}'),
      rec('{"name":"a","type":"int"},{"name":"b","type":"string"}')),
  (2, 'BACKWARD', rec('{"name":"a","type":"int"}'),
      rec('{"name":"a","type":"int"},{"name":"b","type":"string","default":"x"}')),
  (3, 'BACKWARD', rec('{"name":"a","type":"int"},{"name":"b","type":"string"}'),
      rec('{"name":"a","type":"int"}')),
  (4, 'FORWARD', rec('{"name":"a","type":"int"},{"name":"b","type":"string"}'),
      rec('{"name":"a","type":"int"}')),
  (5, 'FORWARD', rec('{"name":"a","type":"int"},{"name":"b","type":"string","default":"x"}'),
      rec('{"name":"a","type":"int"}')),
  -- a field renamed with an alias; a record renamed (aliases of the reader only)
  (6, 'BACKWARD', rec('{"name":"a","type":"int"}'),
      rec('{"name":"a2","type":"int","aliases":["a"]}')),
  (7, 'BACKWARD', rec('{"name":"a","type":"int"}'), rec('{"name":"a","type":"int"}', 's')),
  (8, 'BACKWARD', rec('{"name":"a","type":"int"}'),
      '{"type":"record","name":"s","aliases":["ac.r"],"fields":[{"name":"a","type":"int"}]}'),
  -- promotions allowed and refused
  (9, 'BACKWARD', rec('{"name":"a","type":"int"}'), rec('{"name":"a","type":"long"}')),
  (10, 'BACKWARD', rec('{"name":"a","type":"long"}'), rec('{"name":"a","type":"int"}')),
  (11, 'FORWARD', rec('{"name":"a","type":"int"}'), rec('{"name":"a","type":"double"}')),
  (12, 'BACKWARD', rec('{"name":"a","type":"float"}'), rec('{"name":"a","type":"double"}')),
  (13, 'BACKWARD', rec('{"name":"a","type":"string"}'), rec('{"name":"a","type":"bytes"}')),
  (14, 'BACKWARD', rec('{"name":"a","type":"string"}'), rec('{"name":"a","type":"int"}')),
  -- enums: a symbol removed (with and without a reader default), a symbol added
  (15, 'BACKWARD', rec('{"name":"e","type":{"type":"enum","name":"E","symbols":["A","B","C"]}}'),
      rec('{"name":"e","type":{"type":"enum","name":"E","symbols":["A","B"]}}')),
  (16, 'BACKWARD', rec('{"name":"e","type":{"type":"enum","name":"E","symbols":["A","B","C"]}}'),
      rec('{"name":"e","type":{"type":"enum","name":"E","symbols":["A","B"],"default":"A"}}')),
  (17, 'FORWARD', rec('{"name":"e","type":{"type":"enum","name":"E","symbols":["A","B"]}}'),
      rec('{"name":"e","type":{"type":"enum","name":"E","symbols":["A","B","C"]}}')),
  -- unions: widened, narrowed, a branch dropped from a nullable type
  (18, 'BACKWARD', rec('{"name":"a","type":"string"}'), rec('{"name":"a","type":["null","string"]}')),
  (19, 'FORWARD', rec('{"name":"a","type":"string"}'), rec('{"name":"a","type":["null","string"]}')),
  (20, 'BACKWARD', rec('{"name":"a","type":["null","string"]}'), rec('{"name":"a","type":"string"}')),
  (21, 'BACKWARD', rec('{"name":"a","type":["null","string","int"]}'),
      rec('{"name":"a","type":["null","string"]}')),
  (22, 'BACKWARD', rec('{"name":"a","type":["null","int"]}'), rec('{"name":"a","type":["null","long"]}')),
  -- nested records, arrays and maps: the path names the field
  (23, 'BACKWARD', rec('{"name":"addr","type":{"type":"record","name":"A","fields":[{"name":"city","type":"string"}]}}'),
      rec('{"name":"addr","type":{"type":"record","name":"A","fields":[{"name":"city","type":"int"},{"name":"zip","type":"string"}]}}')),
  (24, 'BACKWARD', rec('{"name":"tags","type":{"type":"array","items":"string"}}'),
      rec('{"name":"tags","type":{"type":"array","items":"int"}}')),
  (25, 'BACKWARD', rec('{"name":"m","type":{"type":"map","values":"int"}}'),
      rec('{"name":"m","type":{"type":"map","values":"long"}}')),
  -- fixed: the size; decimal: precision and scale
  (26, 'BACKWARD', rec('{"name":"h","type":{"type":"fixed","name":"H","size":16}}'),
      rec('{"name":"h","type":{"type":"fixed","name":"H","size":32}}')),
  (27, 'BACKWARD', rec('{"name":"p","type":{"type":"bytes","logicalType":"decimal","precision":10,"scale":2}}'),
      rec('{"name":"p","type":{"type":"bytes","logicalType":"decimal","precision":10,"scale":3}}')),
  (28, 'BACKWARD', rec('{"name":"t","type":{"type":"long","logicalType":"timestamp-millis"}}'),
      rec('{"name":"t","type":{"type":"long","logicalType":"timestamp-micros"}}')),
  -- a recursive type: the check ends, and finds the change inside it
  (29, 'BACKWARD', rec('{"name":"v","type":"int"},{"name":"next","type":["null","r"],"default":null}'),
      rec('{"name":"v","type":"long"},{"name":"next","type":["null","r"],"default":null}')),
  (30, 'BACKWARD', rec('{"name":"v","type":"int"},{"name":"next","type":["null","r"],"default":null}'),
      rec('{"name":"v","type":"string"},{"name":"next","type":["null","r"],"default":null}')),
  -- FULL: both directions; NONE: anything
  (31, 'FULL', rec('{"name":"a","type":"int"}'),
      rec('{"name":"a","type":"int"},{"name":"b","type":"string","default":"x"}')),
  (32, 'FULL', rec('{"name":"a","type":"int"}'), rec('{"name":"a","type":"long"}')),
  (33, 'NONE', rec('{"name":"a","type":"int"}'), rec('{"name":"a","type":"string"}')),
  -- a nullable record whose field changes: the reason is inside the union's record branch
  (34, 'BACKWARD', rec('{"name":"a","type":["null",{"type":"record","name":"A","fields":[{"name":"x","type":"int"}]}]}'),
      rec('{"name":"a","type":["null",{"type":"record","name":"A","fields":[{"name":"x","type":"string"}]}]}')),
  -- named types referred to with and without their namespace
  (35, 'BACKWARD', rec('{"name":"a","type":{"type":"record","name":"In","fields":[{"name":"x","type":"int"}]}},{"name":"b","type":"In"},{"name":"c","type":"ac.In"}'),
      rec('{"name":"a","type":{"type":"record","name":"In","namespace":"ac","fields":[{"name":"x","type":"long"}]}},{"name":"b","type":"ac.In"},{"name":"c","type":"In"}'))
) v(n, level, v1, candidate), LATERAL ac_case('ac_case' || n || '-value', level, v1, candidate) c
ORDER BY n;

-- ---- each level against three versions: the transitive ones see version 1 too ----------------
-- v1 {a, b} (b without a default), v2 gives b a default, v3 adds c with a default
SELECT kafka.registry_set_compatibility('acs', 'ac_levels-value', 'NONE');
SELECT kafka.registry_register('acs', 'ac_levels-value', s) > 0 AS registered FROM unnest(ARRAY[
  rec('{"name":"a","type":"int"},{"name":"b","type":"string"}'),
  rec('{"name":"a","type":"int"},{"name":"b","type":"string","default":"x"}'),
  rec('{"name":"a","type":"int"},{"name":"b","type":"string","default":"x"},{"name":"c","type":"int","default":0}')]) s;
SELECT version FROM kafka.registry_latest('acs', 'ac_levels-value');
-- candidates: "drop b" (v1 cannot read it), "c without default" (cannot read v1 and v2)
CREATE FUNCTION ac_levels() RETURNS TABLE (level text, candidate text, registry_ok boolean, messages text[])
LANGUAGE plpgsql AS $$
DECLARE l text; c record;
BEGIN
  FOREACH l IN ARRAY ARRAY['BACKWARD', 'BACKWARD_TRANSITIVE', 'FORWARD', 'FORWARD_TRANSITIVE', 'FULL',
                           'FULL_TRANSITIVE', 'NONE'] LOOP
    level := kafka.registry_set_compatibility('acs', 'ac_levels-value', l);
    FOR c IN SELECT * FROM (VALUES
        (1, 'drop b', rec('{"name":"a","type":"int"},{"name":"c","type":"int","default":0}')),
        (2, 'c without default', rec('{"name":"a","type":"int"},{"name":"b","type":"string","default":"x"},{"name":"c","type":"int"}')))
        v(k, name, schema) ORDER BY k LOOP
      candidate := c.name;
      SELECT x.is_compatible, x.messages INTO registry_ok, messages
        FROM kafka.check_compatibility('acs', 'ac_levels-value', c.schema) x;
      RETURN NEXT;
    END LOOP;
  END LOOP;
END $$;
SELECT * FROM ac_levels();

-- ---- INSERT: an incompatible schema is refused before anything is sent -------------------------
SELECT kafka_create_topic('kafka', 'ac_ins', 1);
CREATE FOREIGN TABLE ac_ins (id bigint NOT NULL, name text) SERVER acs
  OPTIONS (topic 'ac_ins', format 'avro');
CREATE FOREIGN TABLE ac_ins_raw (v bytea) SERVER kafka OPTIONS (topic 'ac_ins', format 'bytea');
SELECT kafka.registry_set_compatibility('acs', 'ac_ins-value', 'BACKWARD');
SELECT kafka.registry_register('acs', 'ac_ins-value', kafka.avro_schema('ac_ins')) > 0 AS registered;
-- a NOT NULL column (a field without a default) added while the check at ALTER is off
SET kafka_fdw.check_compatibility_on_alter = off;
ALTER FOREIGN TABLE ac_ins ADD COLUMN score int NOT NULL;
RESET kafka_fdw.check_compatibility_on_alter;
SELECT show_error_detail($$INSERT INTO ac_ins VALUES (1, 'a', 7)$$);
SELECT count(*) AS messages FROM ac_ins_raw;
SELECT version FROM kafka.registry_latest('acs', 'ac_ins-value');
-- nullable: compatible, registered as version 2, then written
ALTER FOREIGN TABLE ac_ins ALTER COLUMN score DROP NOT NULL;
INSERT INTO ac_ins VALUES (1, 'a', 7);
SELECT version FROM kafka.registry_latest('acs', 'ac_ins-value');
SELECT * FROM ac_ins;

-- ---- INSERT: a latest version that is the same schema is used, not bumped ----------------------
SELECT kafka_create_topic('kafka', 'ac_same', 1);
CREATE FOREIGN TABLE ac_same (id bigint NOT NULL, name text, amount numeric(10,2)) SERVER acs
  OPTIONS (topic 'ac_same', format 'avro');
CREATE FOREIGN TABLE ac_same_raw (v bytea) SERVER kafka OPTIONS (topic 'ac_same', format 'bytea');
SELECT kafka.registry_set_compatibility('acs', 'ac_same-value', 'NONE');
-- registered by someone else: the same schema with a doc, other key order and spacing
SELECT kafka.registry_register('acs', 'ac_same-value',
  (kafka.avro_schema('ac_same')::jsonb || '{"doc": "registered by hand"}')::text) > 0 AS registered;
SELECT schema::jsonb ? 'doc' AS has_doc, version FROM kafka.registry_latest('acs', 'ac_same-value');
SELECT kafka.registry_set_compatibility('acs', 'ac_same-value', 'FULL');
INSERT INTO ac_same VALUES (1, 'a', 1.5), (2, NULL, NULL);
-- still version 1, and the messages carry its id
SELECT version FROM kafka.registry_latest('acs', 'ac_same-value');
SELECT id AS same_id FROM kafka.registry_latest('acs', 'ac_same-value') \gset
SELECT count(*) AS messages, bool_and(substr(v, 2, 4) = int4send(:same_id)) AS latest_id FROM ac_same_raw;
SELECT * FROM ac_same;

-- an older version that is the table's schema (the registry's lookup finds it) is used too
SELECT kafka_create_topic('kafka', 'ac_old', 1);
CREATE FOREIGN TABLE ac_old (id bigint NOT NULL) SERVER acs OPTIONS (topic 'ac_old', format 'avro');
CREATE FOREIGN TABLE ac_old_raw (v bytea) SERVER kafka OPTIONS (topic 'ac_old', format 'bytea');
SELECT kafka.registry_set_compatibility('acs', 'ac_old-value', 'NONE');
SELECT kafka.registry_register('acs', 'ac_old-value', kafka.avro_schema('ac_old')) AS old_v1 \gset
SELECT kafka.registry_register('acs', 'ac_old-value', jsonb_set(kafka.avro_schema('ac_old')::jsonb, '{fields}',
  (kafka.avro_schema('ac_old')::jsonb -> 'fields') || '[{"name": "x", "type": ["null", "string"], "default": null}]')::text)
  <> :old_v1 AS new_id;
SELECT kafka.registry_set_compatibility('acs', 'ac_old-value', 'FULL');
INSERT INTO ac_old VALUES (1);
SELECT version FROM kafka.registry_latest('acs', 'ac_old-value');
SELECT count(*) AS messages, bool_and(substr(v, 2, 4) = int4send(:old_v1)) AS version_1_id FROM ac_old_raw;

-- a composite column fits a record field only if its attributes do: with a field the composite
-- lacks and that has no default, the table does not fit (every INSERT failed: "field x has no
-- value"), and its own schema is registered
SELECT kafka_create_topic('kafka', 'ac_nest', 1);
CREATE TYPE ac_part AS (y text);
CREATE TYPE ac_part2 AS (x bigint, y text);
CREATE FOREIGN TABLE ac_nest (id bigint NOT NULL, c ac_part NOT NULL) SERVER acs
  OPTIONS (topic 'ac_nest', format 'avro');
CREATE FOREIGN TABLE ac_nest2 (id bigint NOT NULL, c ac_part2 NOT NULL) SERVER acs
  OPTIONS (topic 'ac_nest', format 'avro');
SELECT kafka.registry_set_compatibility('acs', 'ac_nest-value', 'NONE');
SELECT kafka.registry_register('acs', 'ac_nest-value', '{"type": "record", "name": "r", "fields": [
  {"name": "id", "type": "long"}, {"name": "c", "type": {"type": "record", "name": "inner", "fields": [
  {"name": "x", "type": "long"}, {"name": "y", "type": "string"}]}}]}') > 0 AS registered;
-- every attribute a field: written with version 1
INSERT INTO ac_nest2 VALUES (1, '(5,a)');
SELECT version FROM kafka.registry_latest('acs', 'ac_nest-value');
-- no attribute for x: the table's own schema, version 2
INSERT INTO ac_nest VALUES (2, '(b)');
SELECT version FROM kafka.registry_latest('acs', 'ac_nest-value');
SELECT * FROM ac_nest2 ORDER BY id;
DROP FOREIGN TABLE ac_nest, ac_nest2;
DROP TYPE ac_part, ac_part2;
-- a decimal of another scale does not fit: writing with it rounded every value to its scale
-- (numeric(10,2) into decimal(10,0): 1.23 was written as 1, silently)
SELECT kafka_create_topic('kafka', 'ac_dec', 1);
CREATE FOREIGN TABLE ac_dec (id bigint NOT NULL, amt numeric(10,2) NOT NULL) SERVER acs
  OPTIONS (topic 'ac_dec', format 'avro');
SELECT kafka.registry_set_compatibility('acs', 'ac_dec-value', 'NONE');
SELECT kafka.registry_register('acs', 'ac_dec-value', '{"type": "record", "name": "ac_dec", "fields": [
  {"name": "id", "type": "long"},
  {"name": "amt", "type": {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 0}}]}') > 0 AS registered;
INSERT INTO ac_dec VALUES (1, 1.23);
SELECT version FROM kafka.registry_latest('acs', 'ac_dec-value');
SELECT * FROM ac_dec;
DROP FOREIGN TABLE ac_dec;

-- ---- ALTER FOREIGN TABLE: the event trigger --------------------------------------------------
SELECT kafka_create_topic('kafka', 'ac_alt', 1);
CREATE FOREIGN TABLE ac_alt (id bigint NOT NULL, name text, score int NOT NULL) SERVER acs
  OPTIONS (topic 'ac_alt', format 'avro');
SELECT kafka.registry_set_compatibility('acs', 'ac_alt-value', 'BACKWARD');
INSERT INTO ac_alt VALUES (1, 'a', 7);
SELECT version FROM kafka.registry_latest('acs', 'ac_alt-value');
CREATE VIEW ac_alt_columns AS SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod)
    || CASE WHEN attnotnull THEN ' not null' ELSE '' END, ', ' ORDER BY attnum) AS columns
  FROM pg_attribute WHERE attrelid = 'ac_alt'::regclass AND attnum > 0 AND NOT attisdropped;
-- refused under BACKWARD, and rolled back: a NOT NULL column added, a type changed, a NOT NULL
-- column renamed
SELECT show_error_detail($$ALTER FOREIGN TABLE ac_alt ADD COLUMN extra int NOT NULL$$);
SELECT show_error_detail($$ALTER FOREIGN TABLE ac_alt ALTER COLUMN name TYPE int$$);
SELECT show_error_detail($$ALTER FOREIGN TABLE ac_alt ALTER COLUMN score TYPE text$$);
SELECT show_error_detail($$ALTER FOREIGN TABLE ac_alt RENAME COLUMN id TO ident$$);
-- accepted: the table still fits the subject's latest version, which INSERT then writes with
-- (no new version): a column made NOT NULL (no NULLs into a nullable field), a new table name
-- (the record keeps its registered name)
BEGIN;
ALTER FOREIGN TABLE ac_alt ALTER COLUMN name SET NOT NULL;
ALTER FOREIGN TABLE ac_alt RENAME TO ac_alt2;
ROLLBACK;
-- ALTER TABLE on a foreign table is checked too
SELECT show_error_detail($$ALTER TABLE ac_alt ADD COLUMN extra int NOT NULL$$);
SELECT columns FROM ac_alt_columns;
-- a NOT NULL column dropped: fine for BACKWARD (the new schema ignores the field), refused by
-- FULL (version 1 has no default for it)
BEGIN;
ALTER FOREIGN TABLE ac_alt DROP COLUMN score;
ROLLBACK;
SELECT kafka.registry_set_compatibility('acs', 'ac_alt-value', 'FULL');
SELECT show_error_detail($$ALTER FOREIGN TABLE ac_alt DROP COLUMN score$$);
SELECT kafka.registry_set_compatibility('acs', 'ac_alt-value', 'BACKWARD');
-- a new schema (namespace) is no change either
CREATE SCHEMA ac_other;
ALTER FOREIGN TABLE ac_alt SET SCHEMA ac_other;
ALTER FOREIGN TABLE ac_other.ac_alt SET SCHEMA public;
DROP SCHEMA ac_other;
-- accepted: a nullable column added, int widened to bigint (int -> long)
ALTER FOREIGN TABLE ac_alt ADD COLUMN note text;
ALTER FOREIGN TABLE ac_alt ALTER COLUMN score TYPE bigint;
SELECT columns FROM ac_alt_columns;
-- not registered until INSERT writes with it
SELECT version FROM kafka.registry_latest('acs', 'ac_alt-value');
INSERT INTO ac_alt VALUES (2, 'b', 8, 'n');
SELECT version FROM kafka.registry_latest('acs', 'ac_alt-value');
SELECT * FROM ac_alt;
-- options that change nothing of the schema ask nothing; a topic of a subject without versions
-- accepts anything
ALTER FOREIGN TABLE ac_alt OPTIONS (ADD on_error 'skip');
ALTER FOREIGN TABLE ac_alt OPTIONS (SET topic 'ac_alt_other');
ALTER FOREIGN TABLE ac_alt ADD COLUMN extra int NOT NULL;
ALTER FOREIGN TABLE ac_alt DROP COLUMN extra;
ALTER FOREIGN TABLE ac_alt OPTIONS (SET topic 'ac_alt');

-- ---- the trigger runs as the table's owner, who needs no privilege beyond the table's --------
CREATE ROLE ac_owner;
GRANT USAGE ON FOREIGN SERVER acs TO ac_owner;
GRANT CREATE ON SCHEMA public TO ac_owner;
SET ROLE ac_owner;
CREATE FOREIGN TABLE ac_owned (id bigint NOT NULL) SERVER acs OPTIONS (topic 'ac_owned', format 'avro');
RESET ROLE;
SELECT kafka.registry_set_compatibility('acs', 'ac_owned-value', 'BACKWARD');
SELECT kafka.registry_register('acs', 'ac_owned-value', kafka.avro_schema('ac_owned')) > 0 AS registered;
SET ROLE ac_owner;
ALTER FOREIGN TABLE ac_owned ADD COLUMN name text;
SELECT show_error_detail($$ALTER FOREIGN TABLE ac_owned ADD COLUMN n int NOT NULL$$);
-- the event trigger's function is not for calling
SELECT show_error_detail($$SELECT kafka.check_altered_avro_tables()$$);
RESET ROLE;

-- ---- a registry that does not answer -------------------------------------------------------
CREATE SERVER acs_down FOREIGN DATA WRAPPER kafka_fdw
  OPTIONS (brokers :'brokers', schema_registry 'http://127.0.0.1:1', timeout_ms '3000');
CREATE FOREIGN TABLE ac_down (id bigint NOT NULL) SERVER acs_down OPTIONS (topic 'ac_down', format 'avro');
SELECT show_error_detail($$ALTER FOREIGN TABLE ac_down ADD COLUMN name text$$);
-- skipped when asked to, and when check_function_bodies is off (as in a restore of a dump)
SET kafka_fdw.check_compatibility_on_alter = off;
ALTER FOREIGN TABLE ac_down ADD COLUMN name text;
RESET kafka_fdw.check_compatibility_on_alter;
SET check_function_bodies = off;
ALTER FOREIGN TABLE ac_down ADD COLUMN name2 text;
RESET check_function_bodies;
-- tables the check does not concern never ask the registry: another format, an inline schema,
-- a server without a registry, ordinary tables, owner changes
CREATE FOREIGN TABLE ac_down_json (id bigint) SERVER acs_down OPTIONS (topic 'ac_down', format 'json');
ALTER FOREIGN TABLE ac_down_json ADD COLUMN name text NOT NULL;
CREATE FOREIGN TABLE ac_down_inline (id bigint) SERVER acs_down
  OPTIONS (topic 'ac_down', format 'avro', avro_schema '{"type":"record","name":"r","fields":[{"name":"id","type":["null","long"]}]}');
ALTER FOREIGN TABLE ac_down_inline ADD COLUMN name text NOT NULL;
CREATE FOREIGN TABLE ac_plain_avro (id bigint) SERVER kafka OPTIONS (topic 'ac_down', format 'avro');
ALTER FOREIGN TABLE ac_plain_avro ADD COLUMN name text NOT NULL;
CREATE TABLE ac_ordinary (id int);
ALTER TABLE ac_ordinary ADD COLUMN name text NOT NULL;
ALTER FOREIGN TABLE ac_down OWNER TO ac_owner;
-- a column that is no Avro name: the table has no derived schema, ALTER is not refused for it
ALTER FOREIGN TABLE ac_down ADD COLUMN "bad-name" text;

-- 40000 fields on each side are matched by name in n log n (they were matched pair by pair: over
-- 30 s, not cancellable)
SET statement_timeout = '10s';
SELECT kafka.registry_register('acs', 'ac_wide-value', (SELECT '{"type":"record","name":"w","fields":['
  || string_agg(format('{"name":"f%s","type":"int"}', i), ',') || ']}' FROM generate_series(1, 40000) i)) > 0 AS registered;
SELECT kafka.registry_set_compatibility('acs', 'ac_wide-value', 'BACKWARD');
SELECT is_compatible, level, messages FROM kafka.check_compatibility('acs', 'ac_wide-value',
  (SELECT '{"type":"record","name":"w","fields":['
     || string_agg(format('{"name":"g%s","type":"int","default":0}', i), ',') || ']}' FROM generate_series(1, 40000) i));
RESET statement_timeout;

-- clean up
DROP FOREIGN TABLE ac_owned, ac_down;
DROP SERVER acs_down CASCADE;
REVOKE ALL ON FOREIGN SERVER acs FROM ac_owner;
REVOKE ALL ON SCHEMA public FROM ac_owner;
DROP ROLE ac_owner;
DROP VIEW ac_alt_columns;
DROP TABLE ac_ordinary;
DROP FOREIGN TABLE ac_plain_avro;
DROP SERVER acs CASCADE;
DROP FUNCTION ac_case(text, text, text, text), ac_levels(), rec(text, text), show_error_detail(text);
SELECT kafka_delete_topic('kafka', t) FROM unnest(ARRAY['ac_ins', 'ac_same', 'ac_old', 'ac_alt', 'ac_nest', 'ac_dec']) t;
