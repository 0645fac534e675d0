/* kafka_fdw--1.1--1.2.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION kafka_fdw UPDATE TO '1.2'" to load this file. \quit

-- Writers capturing now wait: no change may commit into 1.1's table after its rows were copied
LOCK TABLE kafka.outbox IN ACCESS EXCLUSIVE MODE;

-- The outbox holds chunks of changes instead of one row per change: a
-- captured statement writes one row per up to 1,000 changes (one heap tuple,
-- one index entry, one sequence step), which takes the capture's cost from
-- about 2x the source statement's to a fraction of it, and lets the worker
-- read and delete a batch as a few rows.  The events of a chunk have the
-- event ids chunk_id .. chunk_id + n - 1; the sequence steps by 1024, so the
-- ids of different chunks never meet.  kafka.outbox is now a view with one
-- row per event, as the table was.
CREATE TABLE kafka.outbox_chunk (
  chunk_id     bigint NOT NULL,         -- the event id of the first event
  stream_id    int NOT NULL,
  op           "char" NOT NULL,         -- of every event of the chunk: c, u, d, t or r
  n            int NOT NULL CHECK (n BETWEEN 1 AND 1024),
  txid         xid8 NOT NULL DEFAULT pg_current_xact_id(),
  lsn          pg_lsn NOT NULL DEFAULT pg_current_wal_insert_lsn(),
  captured_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
  before       json[] NOT NULL,         -- n elements, NULL where an event has no old row
  after        json[] NOT NULL,         -- n elements, NULL where an event has no new row
  CHECK (cardinality(before) = n AND cardinality(after) = n),
  PRIMARY KEY (stream_id, chunk_id)
);
-- the rows of a chunk are written once and read as a whole: not compressed by the toaster
-- (kafka.capture compresses a chunk that would be toasted with lz4 itself, where the server has it)
ALTER TABLE kafka.outbox_chunk ALTER COLUMN before SET STORAGE EXTERNAL,
                               ALTER COLUMN after SET STORAGE EXTERNAL;
-- snapshot chunks (op r) are published before the changes: find them at once
CREATE INDEX outbox_chunk_snapshot ON kafka.outbox_chunk (stream_id, chunk_id) WHERE op = 'r';
COMMENT ON TABLE kafka.outbox_chunk IS 'changes captured by kafka.capture, in chunks of one statement, deleted once published';

-- the changes 1.1 captured, each its own chunk, in event id order
INSERT INTO kafka.outbox_chunk (chunk_id, stream_id, op, n, txid, lsn, captured_at, before, after)
  SELECT event_id, stream_id, op, 1, txid, lsn, captured_at, ARRAY[before], ARRAY[after]
    FROM kafka.outbox ORDER BY event_id;
-- The backlog counts events (the sum of the chunks' sizes)
CREATE OR REPLACE VIEW kafka.streams WITH (security_barrier) AS
SELECT s.stream_id,
       s.relid AS source,
       s.server,
       s.topic,
       s.envelope,
       coalesce(s.options->>'format', 'json') AS format,
       s.key_columns,
       CASE WHEN s.state = 'paused' THEN 'paused'
            WHEN s.last_error_at IS NOT NULL
             AND (s.last_sent_at IS NULL OR s.last_error_at > s.last_sent_at) THEN 'failing'
            ELSE 'running' END AS state,
       (SELECT coalesce(sum(o.n), 0) FROM kafka.outbox_chunk o WHERE o.stream_id = s.stream_id) AS backlog,
       now() - (SELECT o.captured_at FROM kafka.outbox_chunk o WHERE o.stream_id = s.stream_id
                ORDER BY o.chunk_id LIMIT 1) AS backlog_age,
       s.events_sent,
       s.last_sent_at,
       s.batch_no,
       s.last_error,
       s.last_error_at,
       s.snapshot_state,
       s.snapshot_rows_done,
       s.snapshot_rows_total,
       s.created_at
  FROM kafka.stream s
 WHERE pg_has_role((SELECT c.relowner FROM pg_class c WHERE c.oid = s.relid), 'USAGE')
    OR pg_has_role('pg_monitor', 'USAGE');

-- the sequence (bigserial of 1.1) outlives the table: it numbers the chunks
ALTER SEQUENCE kafka.outbox_event_id_seq OWNED BY NONE;
-- out of the extension first: that also takes it off the pg_dump config list
ALTER EXTENSION kafka_fdw DROP TABLE kafka.outbox;
DROP TABLE kafka.outbox;
ALTER SEQUENCE kafka.outbox_event_id_seq INCREMENT BY 1024 NO MAXVALUE;
-- the next chunk's id is above every id of 1.1
SELECT pg_catalog.setval('kafka.outbox_event_id_seq',
                         greatest(coalesce((SELECT max(chunk_id) FROM kafka.outbox_chunk), 0),
                                  (SELECT last_value FROM kafka.outbox_event_id_seq)) + 1, true);

-- one row per event, as the table kafka.outbox of 1.1
CREATE VIEW kafka.outbox AS
SELECT c.chunk_id + e.i - 1 AS event_id,
       c.stream_id,
       c.op,
       c.txid,
       c.lsn,
       c.captured_at,
       e.before,
       e.after
  FROM kafka.outbox_chunk c
 CROSS JOIN LATERAL unnest(c.before, c.after) WITH ORDINALITY AS e(before, after, i);
COMMENT ON VIEW kafka.outbox IS 'the changes of kafka.outbox_chunk, one row per event';

-- An INSERT into the view (1.1's way: a library older than this script, or a writer that waited
-- for this update) becomes a chunk of one event, with the defaults 1.1's columns had
CREATE FUNCTION kafka.outbox_insert()
RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  INSERT INTO kafka.outbox_chunk (chunk_id, stream_id, op, n, txid, lsn, captured_at, before, after)
  VALUES (nextval('kafka.outbox_event_id_seq'), NEW.stream_id, NEW.op, 1,
          coalesce(NEW.txid, pg_current_xact_id()), coalesce(NEW.lsn, pg_current_wal_insert_lsn()),
          coalesce(NEW.captured_at, clock_timestamp()), ARRAY[NEW.before], ARRAY[NEW.after]);
  RETURN NEW;
END
$$;
CREATE TRIGGER outbox_insert INSTEAD OF INSERT ON kafka.outbox
  FOR EACH ROW EXECUTE FUNCTION kafka.outbox_insert();
REVOKE ALL ON FUNCTION kafka.outbox_insert() FROM PUBLIC;

SELECT pg_catalog.pg_extension_config_dump('kafka.outbox_chunk', '');

-- A dropped table takes its stream and backlog along, and its ingest jobs.
CREATE OR REPLACE FUNCTION kafka.drop_streams_of_dropped_tables()
RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF to_regclass('kafka.stream') IS NULL OR to_regclass('kafka.outbox_chunk') IS NULL THEN
    RETURN;                             -- the extension itself is being dropped
  END IF;
  WITH gone AS (
    DELETE FROM kafka.stream s
     USING pg_event_trigger_dropped_objects() d
     WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objsubid = 0
       AND d.objid = s.relid::oid
    RETURNING s.stream_id)
  DELETE FROM kafka.outbox_chunk o USING gone WHERE o.stream_id = gone.stream_id;
  -- ingest jobs whose source or target is gone (their offsets and dead letters cascade)
  DELETE FROM kafka.ingest_job j
   USING pg_event_trigger_dropped_objects() d
   WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objsubid = 0
     AND d.objid IN (j.source::oid, j.target::oid);
END
$$;

REVOKE ALL ON kafka.outbox_chunk, kafka.outbox FROM PUBLIC;
