/* kafka_fdw--1.0--1.1.sql: streams of table changes (schema kafka), kafka_get_watermarks */

\echo Use "ALTER EXTENSION kafka_fdw UPDATE TO '1.1'" to load this file. \quit

-- kafka_fdw--1.1.sql is kafka_fdw--1.0.sql followed by this file: keep them equal
-- (test/t/upgrade.sh compares a fresh 1.1 with 1.0 updated to 1.1).

-- adjust/kafka_fdw's name (and column names) for kafka_watermarks
CREATE FUNCTION kafka_get_watermarks(rel regclass,
                                     OUT partition int, OUT offset_low bigint, OUT offset_high bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'kafka_watermarks'
LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION kafka_get_watermarks(regclass)
  IS 'low and high watermark of each partition of a kafka_fdw foreign table (adjust/kafka_fdw''s name for kafka_watermarks)';

CREATE SCHEMA kafka;
COMMENT ON SCHEMA kafka IS 'kafka_fdw streams: definitions, outbox, API and views';
GRANT USAGE ON SCHEMA kafka TO PUBLIC;

-- One row per streamed table
CREATE TABLE kafka.stream (
  stream_id    serial PRIMARY KEY,
  stream_uuid  uuid NOT NULL DEFAULT gen_random_uuid(),
  relid        regclass NOT NULL UNIQUE,
  server       name NOT NULL,
  topic        text NOT NULL,
  envelope     text NOT NULL CHECK (envelope IN ('debezium', 'upsert', 'row')),
  key_columns  name[],
  options      jsonb NOT NULL DEFAULT '{}',
  state        text NOT NULL DEFAULT 'running' CHECK (state IN ('running', 'paused')),
  snapshot_state text NOT NULL DEFAULT 'none' CHECK (snapshot_state IN ('none', 'pending', 'running', 'done')),
  snapshot_rows_done bigint NOT NULL DEFAULT 0,
  snapshot_rows_total bigint,
  snapshot_cursor jsonb,                -- the last key the snapshot has read (snapshot.c)
  batch_no     bigint NOT NULL DEFAULT 0,
  events_sent  bigint NOT NULL DEFAULT 0,
  last_sent_at timestamptz,
  last_error   text,
  last_error_at timestamptz,
  created_by   oid NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE kafka.stream IS 'streamed tables (kafka.stream_changes)';

-- Captured changes not yet published, in the writers' transactions
CREATE TABLE kafka.outbox (
  event_id     bigserial,
  stream_id    int NOT NULL,
  op           "char" NOT NULL,
  txid         xid8 NOT NULL DEFAULT pg_current_xact_id(),
  lsn          pg_lsn NOT NULL DEFAULT pg_current_wal_insert_lsn(),
  captured_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
  before       json,
  after        json,
  -- one index: a second one (event_id alone) would cost the writers ~15% more per captured row
  PRIMARY KEY (stream_id, event_id)
);
-- snapshot rows (op r) are published before the changes: find them at once
CREATE INDEX outbox_stream_snapshot ON kafka.outbox (stream_id, event_id) WHERE op = 'r';
COMMENT ON TABLE kafka.outbox IS 'changes captured by kafka.capture, deleted once published';

SELECT pg_catalog.pg_extension_config_dump('kafka.stream', '');
SELECT pg_catalog.pg_extension_config_dump('kafka.stream_stream_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('kafka.outbox', '');
SELECT pg_catalog.pg_extension_config_dump('kafka.outbox_event_id_seq', '');

-- The capture trigger function (statement triggers with transition tables
-- kafka_new / kafka_old, argument: the stream_id).  It writes kafka.outbox,
-- which its callers cannot: SECURITY DEFINER.  Not executable by PUBLIC, so
-- only kafka.stream_changes (as the extension owner) creates triggers with it.
CREATE FUNCTION kafka.capture()
RETURNS trigger
AS 'MODULE_PATHNAME', 'kafka_capture'
LANGUAGE C SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION kafka.stream_changes(source regclass, server name, topic text,
                                     envelope text DEFAULT 'debezium',
                                     key_columns name[] DEFAULT NULL,
                                     snapshot boolean DEFAULT false,
                                     schemas boolean DEFAULT false,
                                     format text DEFAULT 'json',
                                     options jsonb DEFAULT '{}')
RETURNS int
AS 'MODULE_PATHNAME', 'kafka_stream_changes'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION kafka.stream_changes(regclass, name, text, text, name[], boolean, boolean, text, jsonb)
  IS 'stream the changes of a table to a Kafka topic (table owner only); returns the stream_id';

CREATE FUNCTION kafka.stop_stream(source regclass)
RETURNS void
AS 'MODULE_PATHNAME', 'kafka_stop_stream'
LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION kafka.stop_stream(regclass)
  IS 'stop streaming a table: drops its triggers, its stream and its unpublished changes';

CREATE FUNCTION kafka.pause_stream(source regclass)
RETURNS void
AS 'MODULE_PATHNAME', 'kafka_pause_stream'
LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION kafka.pause_stream(regclass)
  IS 'stop publishing a stream; changes are still captured';

CREATE FUNCTION kafka.resume_stream(source regclass)
RETURNS void
AS 'MODULE_PATHNAME', 'kafka_resume_stream'
LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION kafka.resume_stream(regclass) IS 'publish a paused stream again';

CREATE FUNCTION kafka.flush_stream(source regclass, timeout_ms int DEFAULT 30000)
RETURNS bigint
AS 'MODULE_PATHNAME', 'kafka_flush_stream'
LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION kafka.flush_stream(regclass, int)
  IS 'publish the committed backlog of a stream now, from this session; returns the events published';

CREATE FUNCTION kafka.snapshot_step(source regclass)
RETURNS bigint
AS 'MODULE_PATHNAME', 'kafka_snapshot_step'
LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION kafka.snapshot_step(regclass)
  IS 'write the next chunk of the initial snapshot of a stream now; returns its rows, or null when no snapshot is left';

CREATE FUNCTION kafka.worker_status(OUT kind text, OUT pid int, OUT datid oid, OUT state text,
                                    OUT started timestamptz, OUT last_loop timestamptz,
                                    OUT loops bigint, OUT events_sent bigint, OUT restarts int,
                                    OUT last_error text, OUT last_error_at timestamptz)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'kafka_worker_status'
LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION kafka.worker_status()
  IS 'the kafka_fdw launcher and per-database workers, from shared memory';

-- A dropped table takes its stream and backlog along, and its ingest jobs.
CREATE FUNCTION kafka.drop_streams_of_dropped_tables()
RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF to_regclass('kafka.stream') IS NULL OR to_regclass('kafka.outbox') IS NULL THEN
    RETURN;                             -- the extension itself is being dropped
  END IF;
  WITH gone AS (
    DELETE FROM kafka.stream s
     USING pg_event_trigger_dropped_objects() d
     WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objsubid = 0
       AND d.objid = s.relid::oid
    RETURNING s.stream_id)
  DELETE FROM kafka.outbox o USING gone WHERE o.stream_id = gone.stream_id;
  -- ingest jobs whose source or target is gone (their offsets and dead letters cascade)
  DELETE FROM kafka.ingest_job j
   USING pg_event_trigger_dropped_objects() d
   WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objsubid = 0
     AND d.objid IN (j.source::oid, j.target::oid);
END
$$;
CREATE EVENT TRIGGER kafka_drop_streams ON sql_drop
  EXECUTE FUNCTION kafka.drop_streams_of_dropped_tables();

-- Per stream: state, backlog, progress, errors.  Shows the streams of tables
-- the caller owns (all for superusers and members of pg_monitor).
CREATE VIEW kafka.streams WITH (security_barrier) AS
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
       (SELECT count(*) FROM kafka.outbox o WHERE o.stream_id = s.stream_id) AS backlog,
       now() - (SELECT o.captured_at FROM kafka.outbox o WHERE o.stream_id = s.stream_id
                ORDER BY o.event_id LIMIT 1) AS backlog_age,
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
COMMENT ON VIEW kafka.streams IS 'streams of the tables you own: state, backlog, events sent, last error, snapshot progress';

-- The launcher and the per-database workers (other databases' workers only
-- for superusers and members of pg_read_all_stats).
CREATE VIEW kafka.workers AS
SELECT w.kind, w.pid, w.datid, d.datname, w.state, w.started, w.last_loop,
       w.loops, w.events_sent, w.restarts, w.last_error, w.last_error_at
  FROM kafka.worker_status() w
  LEFT JOIN pg_database d ON d.oid = w.datid;
COMMENT ON VIEW kafka.workers IS 'the kafka_fdw background workers and their state';

-- Ingest jobs: a background worker consumes a kafka_fdw foreign table's
-- topic into an ordinary table (append or upsert), exactly once: each
-- partition's next offset is stored in the transaction that writes the rows.
CREATE TABLE kafka.ingest_job (
  job_id       serial PRIMARY KEY,
  name         text UNIQUE,             -- pipelines
  source       regclass NOT NULL,       -- the kafka_fdw foreign table
  topic        text NOT NULL,           -- its topic when the job started (the offsets are this topic's)
  target       regclass,                -- the ordinary or partitioned table (not for pipelines)
  mode         text NOT NULL CHECK (mode IN ('append', 'upsert', 'pipeline')),
  sql          text,                    -- a pipeline's statement
  progress_server oid,                  -- a pipeline's transactional Kafka sink: where its progress records are
  CHECK ((mode = 'pipeline') = (sql IS NOT NULL) AND (mode = 'pipeline') = (target IS NULL)),
  envelope     text NOT NULL DEFAULT 'none' CHECK (envelope IN ('none', 'debezium')),
  key_columns  name[],                  -- upsert: the target's key
  on_error     text NOT NULL DEFAULT 'fail' CHECK (on_error IN ('fail', 'dead_letter')),
  parallelism  int NOT NULL DEFAULT 1 CHECK (parallelism BETWEEN 1 AND 64),
  start_from   text NOT NULL,           -- as given: earliest, latest, a time or offsets
  state        text NOT NULL DEFAULT 'running' CHECK (state IN ('running', 'paused', 'failed')),
  messages     bigint NOT NULL DEFAULT 0,   -- messages consumed (committed)
  rows_written bigint NOT NULL DEFAULT 0,   -- rows inserted, updated or deleted
  dead_letters bigint NOT NULL DEFAULT 0,
  last_batch_at timestamptz,
  rows_per_second float8,               -- moving average over recent batches
  last_error   text,
  last_error_at timestamptz,
  error_partition int,                  -- on_error 'fail': the message that failed
  error_offset bigint,
  created_by   oid NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE kafka.ingest_job IS 'topics consumed into tables (kafka.ingest) and continuous pipelines (kafka.pipeline)';

-- The next offset of each partition of a job, written in the batch's transaction
CREATE TABLE kafka.ingest_offset (
  job_id       int NOT NULL REFERENCES kafka.ingest_job ON DELETE CASCADE,
  partition    int NOT NULL,
  next_offset  bigint NOT NULL,
  high_watermark bigint,                -- as the worker last saw it
  updated_at   timestamptz,
  PRIMARY KEY (job_id, partition)
);
COMMENT ON TABLE kafka.ingest_offset IS 'per job and partition: the offset of the next message to ingest';

-- Messages a job could not decode or write (on_error 'dead_letter')
CREATE TABLE kafka.dead_letter (
  dead_letter_id bigserial PRIMARY KEY,
  job_id       int NOT NULL REFERENCES kafka.ingest_job ON DELETE CASCADE,
  partition    int NOT NULL,
  "offset"     bigint NOT NULL,
  key          bytea,
  value        bytea,
  headers      jsonb,
  error        text NOT NULL,
  sqlstate     text NOT NULL,
  failed_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX dead_letter_job ON kafka.dead_letter (job_id, partition, "offset");
COMMENT ON TABLE kafka.dead_letter IS 'messages an ingest job could not decode or write';

SELECT pg_catalog.pg_extension_config_dump('kafka.ingest_job', '');
SELECT pg_catalog.pg_extension_config_dump('kafka.ingest_job_job_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('kafka.ingest_offset', '');
SELECT pg_catalog.pg_extension_config_dump('kafka.dead_letter', '');
SELECT pg_catalog.pg_extension_config_dump('kafka.dead_letter_dead_letter_id_seq', '');

CREATE FUNCTION kafka.ingest(source regclass, target regclass,
                             mode text DEFAULT 'append',
                             start_from text DEFAULT 'earliest',
                             start_time timestamptz DEFAULT NULL,
                             start_offsets bigint[] DEFAULT NULL,
                             key_columns name[] DEFAULT NULL,
                             envelope text DEFAULT 'none',
                             on_error text DEFAULT 'fail',
                             parallelism int DEFAULT 1)
RETURNS int
AS 'MODULE_PATHNAME', 'kafka_ingest'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION kafka.ingest(regclass, regclass, text, text, timestamptz, bigint[], name[], text, text, int)
  IS 'consume a kafka_fdw foreign table''s topic into a table, continuously and exactly once (target owner only); returns the job_id';

CREATE FUNCTION kafka.pipeline(name text, source regclass, sql text,
                               start_from text DEFAULT 'earliest',
                               start_time timestamptz DEFAULT NULL,
                               start_offsets bigint[] DEFAULT NULL)
RETURNS int
AS 'MODULE_PATHNAME', 'kafka_pipeline'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION kafka.pipeline(text, regclass, text, text, timestamptz, bigint[])
  IS 'run a SQL statement over each new batch of a kafka_fdw foreign table, continuously, with the batch''s offsets in the same transaction; returns the job_id';

CREATE FUNCTION kafka.stop_ingest(job int)
RETURNS void
AS 'MODULE_PATHNAME', 'kafka_stop_ingest'
LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION kafka.stop_ingest(int) IS 'stop an ingest job and forget its offsets and dead letters';

CREATE FUNCTION kafka.pause_ingest(job int)
RETURNS void
AS 'MODULE_PATHNAME', 'kafka_pause_ingest'
LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION kafka.pause_ingest(int) IS 'stop consuming; the offsets stay';

CREATE FUNCTION kafka.resume_ingest(job int)
RETURNS void
AS 'MODULE_PATHNAME', 'kafka_resume_ingest'
LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION kafka.resume_ingest(int) IS 'consume again from the stored offsets (also a failed job)';

CREATE FUNCTION kafka.redrive(job int)
RETURNS bigint
AS 'MODULE_PATHNAME', 'kafka_redrive'
LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION kafka.redrive(int)
  IS 'retry the dead letters of a job now; removes those that land, returns their number';

-- Per job and partition: offsets, lag, state, errors.  Jobs into tables the
-- caller owns (all for superusers and members of pg_monitor).
CREATE VIEW kafka.ingest_status WITH (security_barrier) AS
SELECT j.job_id,
       j.name,
       j.source,
       j.target,
       j.mode,
       o.partition,
       o.next_offset AS committed_offset,
       o.high_watermark,
       greatest(o.high_watermark - o.next_offset, 0) AS lag,
       CASE WHEN j.state <> 'running' THEN j.state
            WHEN o.high_watermark - o.next_offset > 10000 THEN 'catching up'
            ELSE 'running' END AS state,
       j.messages,
       j.rows_written,
       CASE WHEN j.last_batch_at > now() - interval '10 s' THEN round(j.rows_per_second::numeric, 1) ELSE 0 END
         AS rows_per_second,
       j.dead_letters,
       (SELECT count(*) FROM kafka.dead_letter d WHERE d.job_id = j.job_id
           AND d.partition = o.partition) AS dead_letters_waiting,
       o.updated_at,
       j.last_error,
       j.last_error_at,
       j.error_partition,
       j.error_offset
  FROM kafka.ingest_job j
  LEFT JOIN kafka.ingest_offset o USING (job_id)
 WHERE pg_has_role(coalesce((SELECT c.relowner FROM pg_class c WHERE c.oid = j.target),
                         (SELECT r.oid FROM pg_roles r WHERE r.oid = j.created_by),
                         (SELECT r.oid FROM pg_roles r WHERE r.rolname = 'pg_monitor')), 'USAGE')
    OR pg_has_role('pg_monitor', 'USAGE');
COMMENT ON VIEW kafka.ingest_status IS 'ingest jobs into the tables you own, per partition: offsets, lag, state, errors';

-- The schema registry of a server (server option schema_registry; registry_api.c).  Each
-- needs USAGE on the server and uses the caller's user mapping (schema_registry_user,
-- schema_registry_password).
CREATE FUNCTION kafka.check_compatibility(server name, subject text, schema text,
                                          OUT is_compatible boolean, OUT level text,
                                          OUT messages text[])
RETURNS record
AS 'MODULE_PATHNAME', 'kafka_check_compatibility'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION kafka.check_compatibility(name, text, text)
  IS 'would the schema registry accept this schema as the subject''s next version? (with the level that applies and the registry''s reasons)';

CREATE FUNCTION kafka.registry_subjects(server name)
RETURNS SETOF text
AS 'MODULE_PATHNAME', 'kafka_registry_subjects'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION kafka.registry_subjects(name) IS 'subjects of the schema registry of a server';

CREATE FUNCTION kafka.registry_schema(server name, id int)
RETURNS text
AS 'MODULE_PATHNAME', 'kafka_registry_schema'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION kafka.registry_schema(name, int) IS 'the schema with this id in the schema registry of a server';

CREATE FUNCTION kafka.registry_latest(server name, subject text,
                                      OUT id int, OUT version int, OUT schema text)
RETURNS record
AS 'MODULE_PATHNAME', 'kafka_registry_latest'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION kafka.registry_latest(name, text) IS 'the latest version of a subject in the schema registry of a server';

CREATE FUNCTION kafka.registry_register(server name, subject text, schema text)
RETURNS int
AS 'MODULE_PATHNAME', 'kafka_registry_register'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION kafka.registry_register(name, text, text)
  IS 'register an Avro schema under a subject (idempotent); returns its id';

CREATE FUNCTION kafka.registry_compatibility(server name, subject text DEFAULT NULL)
RETURNS text
AS 'MODULE_PATHNAME', 'kafka_registry_compatibility'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION kafka.registry_compatibility(name, text)
  IS 'the compatibility level that applies to a subject (NULL: the registry''s)';

CREATE FUNCTION kafka.registry_set_compatibility(server name, subject text, level text)
RETURNS text
AS 'MODULE_PATHNAME', 'kafka_registry_set_compatibility'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION kafka.registry_set_compatibility(name, text, text)
  IS 'set the compatibility level of a subject (NULL: the registry''s); returns the level that applies';

-- The Avro schema of a foreign table: its avro_schema option, or the one
-- derived from its columns (what format 'avro' reads and INSERT writes).
CREATE FUNCTION kafka.avro_schema(foreign_table regclass)
RETURNS text
AS 'MODULE_PATHNAME', 'kafka_avro_schema'
LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION kafka.avro_schema(regclass)
  IS 'the Avro schema of a kafka_fdw foreign table: its avro_schema option, or the one derived from its columns';

-- ALTER FOREIGN TABLE (and ALTER TABLE on a foreign table) of a table of format 'avro' on a
-- server with a schema registry and without avro_schema: the table's new derived schema must
-- stay compatible with the subject "<topic>-value" at the subject's level, or the command fails
-- (avro_compat.c).  Runs as the user who runs the command; other tables cost a catalog lookup.
CREATE FUNCTION kafka.check_altered_avro_tables()
RETURNS event_trigger
AS 'MODULE_PATHNAME', 'kafka_check_altered_avro_tables'
LANGUAGE C;
COMMENT ON FUNCTION kafka.check_altered_avro_tables()
  IS 'event trigger: an altered Avro foreign table on a schema registry must stay compatible with its subject';
CREATE EVENT TRIGGER kafka_avro_compatibility ON ddl_command_end
  WHEN TAG IN ('ALTER FOREIGN TABLE', 'ALTER TABLE')
  EXECUTE FUNCTION kafka.check_altered_avro_tables();

REVOKE ALL ON ALL TABLES IN SCHEMA kafka FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA kafka FROM PUBLIC;
GRANT SELECT ON kafka.streams, kafka.workers, kafka.ingest_status TO PUBLIC;
REVOKE ALL ON FUNCTION kafka.capture() FROM PUBLIC;
REVOKE ALL ON FUNCTION kafka.drop_streams_of_dropped_tables() FROM PUBLIC;
REVOKE ALL ON FUNCTION kafka.check_altered_avro_tables() FROM PUBLIC;
-- they change the registry for every user of a subject: granted by a superuser
REVOKE ALL ON FUNCTION kafka.registry_register(name, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION kafka.registry_set_compatibility(name, text, text) FROM PUBLIC;
