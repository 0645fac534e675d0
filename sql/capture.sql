-- capture: the outbox rows kafka.capture() writes (heap multi-inserts without SPI, its own json
-- writer): the json of each row byte for byte as row_to_json() writes it, for every kind of
-- column (and row_to_json's own code for arrays, composites, enums, types with casts), event_id
-- from the sequence in the statement's row order across insert batches, op, txid, lsn,
-- captured_at; index entries; a rolled-back statement leaves nothing.  The streams are created
-- paused in one transaction: the worker never publishes them.
\set VERBOSITY terse
SET timezone = 'America/New_York';
SET extra_float_digits = 0;
CREATE DOMAIN cap_posint AS int CHECK (VALUE > 0);
CREATE DOMAIN cap_word AS text;
CREATE TYPE cap_mood AS ENUM ('sad', 'ok');
CREATE TYPE cap_pair AS (x int, y text);
-- every column of a kind the capture writes itself (a dropped one too)
CREATE TABLE cap_fast (id int PRIMARY KEY, gone int, i2 int2, i8 int8, f4 float4, f8 float8,
  n numeric, b bool, d date, ts timestamp, tz timestamptz, j json, jb jsonb, t text,
  "we""ird name" varchar(20), c char(3), u uuid, by bytea, iv interval, dp cap_posint, dw cap_word,
  o oid, ch "char", x xid8, nm name);
ALTER TABLE cap_fast DROP COLUMN gone;
-- columns that need row_to_json's own code: arrays, composites, enums
CREATE TABLE cap_generic (id int PRIMARY KEY, a int[], p cap_pair, m cap_mood, t text);
BEGIN;
SELECT kafka.stream_changes('cap_fast', 'kafka', 'cap_fast_cdc') > 0 AS started;
SELECT kafka.stream_changes('cap_generic', 'kafka', 'cap_generic_cdc') > 0 AS started;
SELECT kafka.pause_stream('cap_fast'), kafka.pause_stream('cap_generic');
COMMIT;
CREATE VIEW cap_events AS
  SELECT o.*, s.relid FROM kafka.outbox o JOIN kafka.stream s USING (stream_id);

INSERT INTO cap_fast VALUES
  (1, 1, 2, 1.5, 2.25, 3.125, true, '2024-02-29', '2024-01-01 12:34:56.789', '2024-06-01 00:00:00+00',
   '{"a": [1, 2]}', '{"b": {"c": null}}', E'quote " backslash \\ newline \n tab \t ü €', 'x',
   'ab', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '\x00ff', '1 day 02:03:04', 7, 'w', 42, 'q', '123', 'nm'),
  (2, -32768, -9223372036854775808, 'NaN', 'Infinity', 'NaN', false, 'infinity', '-infinity', 'infinity',
   'null', '[]', '', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
  (3, NULL, NULL, '-Infinity', 1e300, 1e-20, NULL, '0044-03-15 BC', '2000-01-01', '1999-12-31 23:59:59.999999-08',
   NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
-- the json of each row is row_to_json's
SELECT e.after::text = row_to_json(f)::text AS same, e.op, e.before IS NULL AS no_before
  FROM cap_events e JOIN cap_fast f ON f.id = (e.after->>'id')::int
  WHERE e.relid = 'cap_fast'::regclass ORDER BY e.event_id;
SELECT after FROM cap_events WHERE relid = 'cap_fast'::regclass ORDER BY event_id LIMIT 1;
UPDATE cap_fast SET t = t || '!', f8 = 0.1 WHERE id <> 2;
-- the before image of the update is the after image of the insert
SELECT e.before::text = c.after::text AS before_same, e.after::text = row_to_json(f)::text AS after_same, e.op
  FROM cap_events e JOIN cap_fast f ON f.id = (e.after->>'id')::int
  JOIN cap_events c ON c.relid = e.relid AND c.op = 'c' AND (c.after->>'id')::int = f.id
  WHERE e.relid = 'cap_fast'::regclass AND e.op = 'u' ORDER BY e.event_id;

INSERT INTO cap_generic VALUES (1, '{1,NULL,3}', '(1,"a b")', 'ok', 't'), (2, NULL, NULL, NULL, NULL);
SELECT e.after::text = row_to_json(g)::text AS same
  FROM cap_events e JOIN cap_generic g ON g.id = (e.after->>'id')::int
  WHERE e.relid = 'cap_generic'::regclass ORDER BY e.event_id;
DELETE FROM cap_generic WHERE id = 1;
SELECT op, before::text, after IS NULL AS no_after FROM cap_events
  WHERE relid = 'cap_generic'::regclass AND op = 'd';
TRUNCATE cap_generic;
SELECT op, before IS NULL AND after IS NULL AS no_rows FROM cap_events
  WHERE relid = 'cap_generic'::regclass AND op = 't';

-- one statement of 2,500 rows (three insert batches) and large rows (batches cut by size):
-- event_ids consecutive in the statement's row order, one transaction id, lsn and captured_at
-- never decreasing, every row found through the primary key
CREATE TABLE cap_many (id int PRIMARY KEY, v text);
BEGIN;
SELECT kafka.stream_changes('cap_many', 'kafka', 'cap_many_cdc') > 0 AS started;
SELECT kafka.pause_stream('cap_many');
COMMIT;
BEGIN;
INSERT INTO cap_many SELECT g, CASE WHEN g % 300 = 0 THEN repeat('x', 400000) ELSE 'v' || g END
  FROM generate_series(1, 2500) g ORDER BY g;
SELECT pg_current_xact_id() AS txid \gset
COMMIT;
SELECT count(*) AS events,
       count(DISTINCT event_id) = count(*) AS distinct_ids,
       bool_and(txid = :'txid'::xid8) AS one_txid,
       bool_and(op = 'c' AND before IS NULL) AS inserts
  FROM cap_events WHERE relid = 'cap_many'::regclass;
SELECT count(*) FILTER (WHERE (after->>'id')::int <> rn) AS out_of_order,
       count(*) FILTER (WHERE lsn < prev_lsn OR captured_at < prev_at) AS decreasing,
       count(*) FILTER (WHERE length(after->>'v') = 400000) AS large
  FROM (SELECT after, lsn, captured_at, row_number() OVER (ORDER BY event_id) AS rn,
               lag(lsn) OVER (ORDER BY event_id) AS prev_lsn,
               lag(captured_at) OVER (ORDER BY event_id) AS prev_at
          FROM cap_events WHERE relid = 'cap_many'::regclass) s;
-- in chunks of at most 1,000 events or about 1 MB of json (the 400 kB rows cut them), event ids
-- consecutive within a chunk and growing from chunk to chunk
SELECT count(*) AS chunks, sum(n) AS events, max(n) AS largest,
       bool_and(chunk_id > coalesce(prev_end, 0)) AS growing
  FROM (SELECT chunk_id, n, lag(chunk_id + n - 1) OVER (ORDER BY chunk_id) AS prev_end
          FROM kafka.outbox_chunk
         WHERE stream_id = (SELECT stream_id FROM kafka.stream WHERE relid = 'cap_many'::regclass)) c;
SELECT count(*) FILTER (WHERE event_id <> chunk_id + i - 1) AS misnumbered
  FROM (SELECT o.event_id, c.chunk_id, row_number() OVER (PARTITION BY c.chunk_id ORDER BY o.event_id) AS i
          FROM cap_events o JOIN kafka.outbox_chunk c
            ON c.stream_id = o.stream_id AND o.event_id BETWEEN c.chunk_id AND c.chunk_id + c.n - 1
         WHERE o.relid = 'cap_many'::regclass) e;
SET enable_seqscan = off;
SET enable_bitmapscan = off;
SELECT count(*) AS by_index FROM kafka.outbox o
  WHERE o.stream_id = (SELECT stream_id FROM kafka.stream WHERE relid = 'cap_many'::regclass)
    AND o.event_id >= 0;
RESET enable_seqscan;
RESET enable_bitmapscan;
-- a rolled-back statement (savepoint) and a rolled-back transaction leave nothing
BEGIN;
SAVEPOINT s;
UPDATE cap_many SET v = 'w' WHERE id <= 1500;
ROLLBACK TO s;
DELETE FROM cap_many WHERE id = 1;
COMMIT;
BEGIN;
DELETE FROM cap_many;
ROLLBACK;
SELECT op, count(*) FROM cap_events WHERE relid = 'cap_many'::regclass GROUP BY op ORDER BY op;

-- timestamptz values are written without a time zone library lookup per value (the UTC offset
-- is looked up once per period in which it holds): the text is row_to_json's, over twelve
-- centuries and around daylight saving changes, in zones with daylight saving (Dublin's is
-- negative), offsets of 30 and 45 minutes, local mean time offsets in seconds, POSIX rules,
-- and for infinities, BC dates, year 10000 and fractions of a second
CREATE TABLE cap_ts (id int PRIMARY KEY, ts timestamptz);
SELECT kafka.stream_changes('cap_ts', 'kafka', 'cap_ts_cdc') > 0 AS started;
SELECT kafka.pause_stream('cap_ts');
CREATE FUNCTION cap_ts_check(zone text, base int) RETURNS text LANGUAGE plpgsql AS $f$
DECLARE
  n bigint;
  bad bigint;
BEGIN
  PERFORM set_config('timezone', zone, true);
  INSERT INTO cap_ts SELECT base + g,
      '1700-01-01 00:00:00+00'::timestamptz + g * interval '43 days 5 hours 3 minutes 7.123457 seconds'
    FROM generate_series(0, 9999) g;
  INSERT INTO cap_ts SELECT base + 20000 + g, '2020-03-07 00:00:00+00'::timestamptz + g * interval '7 minutes 30.5 seconds'
    FROM generate_series(0, 1999) g;
  INSERT INTO cap_ts SELECT base + 30000 + g, '2020-10-24 00:00:00+00'::timestamptz + g * interval '7 minutes 30.000001 seconds'
    FROM generate_series(0, 1999) g;
  INSERT INTO cap_ts SELECT base + 40000 + i::int, v
    FROM unnest(ARRAY['infinity', '-infinity', '0044-03-15 12:00:00 BC', '0001-01-01 00:00:00+00',
                      '0001-01-01 23:59:59.5+00', '9999-12-31 23:59:59.999999+00', '10000-01-01 00:00:00+00',
                      '2000-01-01 00:00:00.05+00', '1999-12-31 23:59:59.000001+00', NULL]::timestamptz[])
      WITH ORDINALITY AS u(v, i);
  SELECT count(*), count(*) FILTER (WHERE e.after::text IS DISTINCT FROM row_to_json(c)::text) INTO n, bad
    FROM kafka.outbox e JOIN kafka.stream s USING (stream_id) JOIN cap_ts c ON c.id = (e.after->>'id')::int
    WHERE s.relid = 'cap_ts'::regclass AND c.id >= base AND c.id < base + 100000;
  RETURN format('%s: %s rows, %s differ', zone, n, bad);
END
$f$;
SELECT cap_ts_check(zone, i::int * 100000) AS checked
  FROM unnest(ARRAY['UTC', 'America/New_York', 'Europe/Dublin', 'Europe/Amsterdam', 'Asia/Kolkata',
                    'Asia/Kathmandu', 'Australia/Lord_Howe', 'Pacific/Chatham', 'America/St_Johns',
                    'Africa/Monrovia', 'EST5EDT', '<+0330>-03:30']) WITH ORDINALITY AS u(zone, i);
SHOW timezone;

SELECT kafka.stop_stream('cap_fast'), kafka.stop_stream('cap_generic'), kafka.stop_stream('cap_many'),
       kafka.stop_stream('cap_ts');
DROP FUNCTION cap_ts_check(text, int);
DROP TABLE cap_ts;
DROP VIEW cap_events;
DROP TABLE cap_fast, cap_generic, cap_many;
DROP TYPE cap_mood, cap_pair;
DROP DOMAIN cap_posint, cap_word;
