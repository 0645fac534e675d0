-- streams: the SQL API of table streams (kafka.stream_changes, stop/pause/resume), its checks
-- (owner, server USAGE, table kind, keys), the catalog rows it writes, the capture triggers,
-- the views and their privileges.  Publishing is not tested here (no DML on streamed tables).
\set VERBOSITY terse
CREATE TABLE st_pk (id int PRIMARY KEY, v text);
CREATE TABLE st_ri (a int NOT NULL, b int NOT NULL, c text);
CREATE UNIQUE INDEX st_ri_ab ON st_ri (b, a);
ALTER TABLE st_ri REPLICA IDENTITY USING INDEX st_ri_ab;
CREATE TABLE st_nokey (a int, b text);
CREATE TABLE st_part (id int PRIMARY KEY, v text) PARTITION BY RANGE (id);
CREATE TABLE st_part_1 PARTITION OF st_part FOR VALUES FROM (0) TO (100);

-- keys default to the primary key, else the replica identity index; none: a NOTICE, NULL keys
SELECT kafka.stream_changes('st_pk', 'kafka', 'st_pk_cdc') > 0 AS started;
SELECT kafka.stream_changes('st_ri', 'kafka', 'st_ri_cdc', envelope => 'upsert') > 0 AS started;
-- a snapshot needs a unique key (sql/snapshot.sql tests snapshots)
SELECT kafka.stream_changes('st_nokey', 'kafka', 'st_nokey_cdc', envelope => 'row', snapshot => true) > 0 AS started;
SELECT kafka.stream_changes('st_nokey', 'kafka', 'st_nokey_cdc', envelope => 'row') > 0 AS started;
SELECT kafka.stream_changes('st_part', 'kafka', 'st_part_cdc', key_columns => '{v,id}', schemas => true) > 0 AS started;
SELECT relid, server, topic, envelope, key_columns, options, state, snapshot_state,
       created_by::regrole, stream_uuid IS NOT NULL AS has_uuid
  FROM kafka.stream ORDER BY stream_id;
-- the capture triggers: one per event, statement level, transition tables, the stream_id as argument
SELECT tgname, pg_get_triggerdef(t.oid) ~ ('EXECUTE FUNCTION kafka\.capture\(''' || s.stream_id || '''\)$') AS calls_capture,
       pg_get_triggerdef(t.oid) ~ 'FOR EACH STATEMENT' AS per_statement,
       substring(pg_get_triggerdef(t.oid) from 'REFERENCING (.*) FOR EACH') AS transition_tables
  FROM pg_trigger t JOIN kafka.stream s ON s.relid = t.tgrelid
 WHERE t.tgrelid = 'st_pk'::regclass ORDER BY tgname;
SELECT tgrelid::regclass, count(*) FROM pg_trigger WHERE tgname LIKE 'kafka_capture_%' GROUP BY 1 ORDER BY 1;

-- bad input
SELECT kafka.stream_changes('st_pk', 'kafka', 'again');
SELECT kafka.stream_changes('st_nokey', 'kafka', 'x', envelope => 'upsert');
SELECT kafka.stream_changes('st_part_1', 'kafka', 'x', envelope => 'avro');
SELECT kafka.stream_changes('st_part_1', 'kafka', '');
SELECT kafka.stream_changes('st_part_1', 'kafka', 'x', key_columns => '{nope}');
SELECT kafka.stream_changes('st_part_1', 'kafka', 'x', key_columns => '{id,id}');
SELECT kafka.stream_changes('st_part_1', 'nosuchserver', 'x');
SELECT kafka.stream_changes('st_part_1', NULL, 'x');
CREATE FOREIGN DATA WRAPPER st_other_fdw;
CREATE SERVER st_other FOREIGN DATA WRAPPER st_other_fdw;
SELECT kafka.stream_changes('st_part_1', 'st_other', 'x');
CREATE VIEW st_view AS SELECT * FROM st_pk;
SELECT kafka.stream_changes('st_view', 'kafka', 'x');
CREATE TEMP TABLE st_temp (id int PRIMARY KEY);
SELECT kafka.stream_changes('st_temp', 'kafka', 'x');
SELECT kafka.stream_changes('kafka.outbox_chunk', 'kafka', 'x');
SELECT kafka.pause_stream('st_part_1');

-- the views: state (paused, failing), backlog and its age
SELECT kafka.pause_stream('st_ri');
-- a chunk of two events (as kafka.capture() writes one per statement), and one inserted as 1.1
-- wrote its outbox rows (the view makes it a chunk of one)
INSERT INTO kafka.outbox_chunk (chunk_id, stream_id, op, n, before, after)
  SELECT nextval('kafka.outbox_event_id_seq'), stream_id, 'c', 2, '{NULL,NULL}', '{"{\"id\": 1}","{\"id\": 2}"}'
    FROM kafka.stream WHERE relid = 'st_pk'::regclass;
INSERT INTO kafka.outbox (stream_id, op, after)
  SELECT stream_id, 'c', '{"id": 3}' FROM kafka.stream WHERE relid = 'st_pk'::regclass;
SELECT o.op, o.after::text, o.event_id = c.chunk_id + 1 AS second_of_chunk, c.n
  FROM kafka.outbox o JOIN kafka.outbox_chunk c ON c.stream_id = o.stream_id
   AND o.event_id BETWEEN c.chunk_id AND c.chunk_id + c.n - 1
 WHERE o.stream_id = (SELECT stream_id FROM kafka.stream WHERE relid = 'st_pk'::regclass)
 ORDER BY o.event_id;
UPDATE kafka.stream SET last_error = 'broker down', last_error_at = now() WHERE relid = 'st_nokey'::regclass;
SELECT source, topic, envelope, key_columns, state, backlog, backlog_age >= '0'::interval AS has_age,
       events_sent, last_error, snapshot_state
  FROM kafka.streams ORDER BY stream_id;
-- an error older than the last publication: running again
UPDATE kafka.stream SET last_sent_at = now() + interval '1 s' WHERE relid = 'st_nokey'::regclass;
SELECT source, state FROM kafka.streams WHERE source = 'st_nokey'::regclass;
SELECT kafka.resume_stream('st_ri');
SELECT source, state FROM kafka.streams WHERE source = 'st_ri'::regclass;
-- the launcher runs (this cluster preloads kafka_fdw)
SELECT kind, state, pid IS NOT NULL AS has_pid FROM kafka.workers WHERE kind = 'launcher';

-- privileges: a non-owner is refused; the tables of schema kafka are not readable by PUBLIC;
-- the view shows the streams of one's own tables only
CREATE ROLE kafka_st_user;
GRANT CREATE ON SCHEMA public TO kafka_st_user;
SET ROLE kafka_st_user;
SELECT kafka.stream_changes('st_part_1', 'kafka', 'x');
SELECT kafka.stop_stream('st_pk');
SELECT kafka.pause_stream('st_pk');
SELECT kafka.resume_stream('st_pk');
SELECT * FROM kafka.stream;
SELECT * FROM kafka.outbox;
SELECT * FROM kafka.outbox_chunk;
INSERT INTO kafka.outbox_chunk (chunk_id, stream_id, op, n, before, after) VALUES (1, 1, 'c', 1, '{NULL}', '{NULL}');
INSERT INTO kafka.outbox (stream_id, op) VALUES (1, 'c');
SELECT count(*) FROM kafka.streams;
CREATE TABLE st_mine (id int PRIMARY KEY);
-- the owner of a table still needs USAGE on the server
SELECT kafka.stream_changes('st_mine', 'kafka', 'x');
RESET ROLE;
GRANT USAGE ON FOREIGN SERVER kafka TO kafka_st_user;
SET ROLE kafka_st_user;
SELECT kafka.stream_changes('st_mine', 'kafka', 'st_mine_cdc') > 0 AS started;
SELECT source, topic, key_columns FROM kafka.streams;
-- nobody can attach the capture function to a table of their own (it writes the outbox)
CREATE TRIGGER evil AFTER INSERT ON st_mine FOR EACH STATEMENT EXECUTE FUNCTION kafka.capture('1');
SELECT kafka.stop_stream('st_mine');
DROP TABLE st_mine;
RESET ROLE;

-- stop_stream: triggers, stream and backlog go; a NOTICE counts the discarded changes
SELECT kafka.stop_stream('st_pk');
SELECT count(*) AS triggers_left FROM pg_trigger WHERE tgrelid = 'st_pk'::regclass;
SELECT count(*) AS backlog_left FROM kafka.outbox o
  WHERE NOT EXISTS (SELECT 1 FROM kafka.stream s WHERE s.stream_id = o.stream_id);
SELECT kafka.stop_stream('st_pk');
-- a dropped table takes its stream along
DROP TABLE st_part;
SELECT relid FROM kafka.stream ORDER BY stream_id;
SELECT kafka.stop_stream('st_ri');
SELECT kafka.stop_stream('st_nokey');
SELECT count(*) AS streams_left FROM kafka.stream;

DROP VIEW st_view;
DROP TABLE st_pk, st_ri, st_nokey, st_temp;
DROP SERVER st_other;
DROP FOREIGN DATA WRAPPER st_other_fdw;
REVOKE ALL ON SCHEMA public FROM kafka_st_user;
REVOKE USAGE ON FOREIGN SERVER kafka FROM kafka_st_user;
DROP ROLE kafka_st_user;
