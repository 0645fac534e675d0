/* kafka_fdw--1.1.sql: install script */

\echo Use "CREATE EXTENSION kafka_fdw" to load this file. \quit

CREATE FUNCTION kafka_fdw_handler()
RETURNS fdw_handler
AS 'MODULE_PATHNAME'
LANGUAGE C STRICT;

CREATE FUNCTION kafka_fdw_validator(text[], oid)
RETURNS void
AS 'MODULE_PATHNAME'
LANGUAGE C STRICT;

CREATE FOREIGN DATA WRAPPER kafka_fdw
  HANDLER kafka_fdw_handler
  VALIDATOR kafka_fdw_validator;

COMMENT ON FOREIGN DATA WRAPPER kafka_fdw IS 'Apache Kafka topics as foreign tables';

CREATE FUNCTION kafka_create_topic(server name, topic text, partitions int DEFAULT 1,
                                   replication_factor int DEFAULT 1)
RETURNS void
AS 'MODULE_PATHNAME'
LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION kafka_create_topic(name, text, int, int) IS 'create a Kafka topic through a kafka_fdw server';

CREATE FUNCTION kafka_delete_topic(server name, topic text)
RETURNS void
AS 'MODULE_PATHNAME'
LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION kafka_delete_topic(name, text) IS 'delete a Kafka topic through a kafka_fdw server';

CREATE FUNCTION kafka_topics(server name,
                             OUT topic text, OUT partition int, OUT low bigint, OUT high bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME'
LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION kafka_topics(name) IS 'topics of a kafka_fdw server with their partitions and watermarks';

CREATE FUNCTION kafka_watermarks(foreign_table regclass,
                                 OUT partition int, OUT low bigint, OUT high bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME'
LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION kafka_watermarks(regclass) IS 'low and high watermark of each partition of a kafka_fdw foreign table';

REVOKE ALL ON FUNCTION kafka_create_topic(name, text, int, int) FROM PUBLIC;
REVOKE ALL ON FUNCTION kafka_delete_topic(name, text) FROM PUBLIC;

-- ---------------------------------------------------------------------------
-- 1.1: the table-change emitter (schema kafka).
-- NOTE (branch emitter): this is the emitter helper's working copy of the
-- design's DDL, enough to test capture and publishing; the worker branch owns
-- the final scripts (views, API checks), which take precedence at merge.
-- ---------------------------------------------------------------------------
CREATE SCHEMA kafka;
GRANT USAGE ON SCHEMA kafka TO PUBLIC;

CREATE TABLE kafka.stream (
  stream_id    serial PRIMARY KEY,
  stream_uuid  uuid NOT NULL DEFAULT gen_random_uuid(),
  relid        regclass NOT NULL UNIQUE,
  server       name NOT NULL,
  topic        text NOT NULL,
  envelope     text NOT NULL CHECK (envelope IN ('debezium','upsert','row')),
  key_columns  name[],
  options      jsonb NOT NULL DEFAULT '{}',
  state        text NOT NULL DEFAULT 'running' CHECK (state IN ('running','paused')),
  snapshot_state text NOT NULL DEFAULT 'none' CHECK (snapshot_state IN ('none','pending','running','done')),
  snapshot_rows_done bigint NOT NULL DEFAULT 0,
  snapshot_rows_total bigint,
  batch_no     bigint NOT NULL DEFAULT 0,
  events_sent  bigint NOT NULL DEFAULT 0,
  last_sent_at timestamptz,
  last_error   text,
  last_error_at timestamptz,
  created_by   oid NOT NULL DEFAULT current_user::regrole::oid,
  created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE kafka.outbox (
  event_id     bigserial PRIMARY KEY,
  stream_id    int NOT NULL,
  op           "char" NOT NULL,
  txid         xid8 NOT NULL DEFAULT pg_current_xact_id(),
  lsn          pg_lsn NOT NULL DEFAULT pg_current_wal_insert_lsn(),
  captured_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
  before       json,
  after        json
);
CREATE INDEX ON kafka.outbox (stream_id, event_id);
SELECT pg_catalog.pg_extension_config_dump('kafka.stream', '');
SELECT pg_catalog.pg_extension_config_dump('kafka.outbox', '');
SELECT pg_catalog.pg_extension_config_dump('kafka.stream_stream_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('kafka.outbox_event_id_seq', '');
REVOKE ALL ON ALL TABLES IN SCHEMA kafka FROM PUBLIC;

-- capture: the trigger function of the kafka_capture_* triggers (src/outbox.c)
CREATE FUNCTION kafka.capture()
RETURNS trigger
AS 'MODULE_PATHNAME', 'kafka_capture'
LANGUAGE C;

-- publish the committed backlog of a stream now, from this backend (src/emitter.c)
CREATE FUNCTION kafka.flush_stream(source regclass, timeout_ms int DEFAULT 30000)
RETURNS bigint
AS 'MODULE_PATHNAME', 'kafka_flush_stream'
LANGUAGE C STRICT VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;
REVOKE ALL ON FUNCTION kafka.flush_stream(regclass, int) FROM PUBLIC;

-- Placeholder of the worker branch's kafka.stream_changes (same signature):
-- inserts the stream and creates the capture triggers.
CREATE FUNCTION kafka.stream_changes(source regclass, server name, topic text,
                                     envelope text DEFAULT 'debezium',
                                     key_columns name[] DEFAULT NULL,
                                     snapshot bool DEFAULT false,
                                     schemas bool DEFAULT false,
                                     options jsonb DEFAULT '{}')
RETURNS int
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  sid int;
  keys name[] := key_columns;
BEGIN
  IF NOT pg_has_role(session_user, (SELECT relowner FROM pg_class WHERE oid = source), 'USAGE') THEN
    RAISE EXCEPTION 'must be owner of table %', source USING ERRCODE = '42501';
  END IF;
  IF keys IS NULL THEN
    SELECT array_agg(a.attname ORDER BY k.ord) INTO keys
      FROM pg_index i, unnest(i.indkey) WITH ORDINALITY k(attnum, ord), pg_attribute a
     WHERE i.indrelid = source AND i.indisprimary AND a.attrelid = source AND a.attnum = k.attnum;
  END IF;
  INSERT INTO kafka.stream (relid, server, topic, envelope, key_columns, options)
  VALUES (source, server, topic, envelope, keys,
          options || jsonb_build_object('schemas', schemas))
  RETURNING stream_id INTO sid;
  EXECUTE format('CREATE TRIGGER kafka_capture_ins AFTER INSERT ON %s REFERENCING NEW TABLE AS kafka_new '
                 'FOR EACH STATEMENT EXECUTE FUNCTION kafka.capture(%s)', source, sid);
  EXECUTE format('CREATE TRIGGER kafka_capture_upd AFTER UPDATE ON %s REFERENCING OLD TABLE AS kafka_old NEW TABLE AS kafka_new '
                 'FOR EACH STATEMENT EXECUTE FUNCTION kafka.capture(%s)', source, sid);
  EXECUTE format('CREATE TRIGGER kafka_capture_del AFTER DELETE ON %s REFERENCING OLD TABLE AS kafka_old '
                 'FOR EACH STATEMENT EXECUTE FUNCTION kafka.capture(%s)', source, sid);
  EXECUTE format('CREATE TRIGGER kafka_capture_trunc AFTER TRUNCATE ON %s '
                 'FOR EACH STATEMENT EXECUTE FUNCTION kafka.capture(%s)', source, sid);
  RETURN sid;
END $$;
REVOKE ALL ON FUNCTION kafka.stream_changes(regclass, name, text, text, name[], bool, bool, jsonb) FROM PUBLIC;
