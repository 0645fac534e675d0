-- snapshot: kafka.stream_changes(..., snapshot => true) emits the rows the
-- table had when the stream started (op r), in chunks of key order
-- (kafka.snapshot_step runs one now; the worker does the same), however the
-- table changes meanwhile; changes wait until the snapshot is done and follow
-- it.  Read back through a kafka_fdw foreign table.  The stream is paused (in
-- the transaction that starts it), so the worker leaves it alone.
SET timezone = 'UTC';

-- the snapshot needs a unique key; the chunk size must be a positive integer
CREATE TABLE snap_nokey (a int, b text);
SELECT show_error($$SELECT kafka.stream_changes('snap_nokey', 'kafka', 'snap_x', snapshot => true)$$);
CREATE TABLE snap_nonunique (id int PRIMARY KEY, grp int NOT NULL, nullable int UNIQUE);
SELECT show_error($$SELECT kafka.stream_changes('snap_nonunique', 'kafka', 'snap_x', key_columns => '{grp}', snapshot => true)$$);
SELECT show_error($$SELECT kafka.stream_changes('snap_nonunique', 'kafka', 'snap_x', key_columns => '{nullable}', snapshot => true)$$);
SELECT show_error($$SELECT kafka.stream_changes('snap_nonunique', 'kafka', 'snap_x', snapshot => true, options => '{"snapshot_chunk_size": 0}')$$);
SELECT show_error($$SELECT kafka.stream_changes('snap_nonunique', 'kafka', 'snap_x', snapshot => true, options => '{"snapshot_chunk_size": "many"}')$$);
SELECT count(*) AS streams_left FROM kafka.stream WHERE relid IN ('snap_nokey'::regclass, 'snap_nonunique'::regclass);
-- a table without a snapshot: nothing to step
SELECT kafka_create_topic('kafka', 'snap_plain', 1);
BEGIN;
SELECT kafka.stream_changes('snap_nonunique', 'kafka', 'snap_plain') > 0 AS started;
SELECT kafka.pause_stream('snap_nonunique');
COMMIT;
SELECT kafka.snapshot_step('snap_nonunique') IS NULL AS nothing_to_do;
SELECT kafka.stop_stream('snap_nonunique');

-- seven rows, a two-column key, chunks of three
CREATE TABLE snap_src (region text, id int, v text NOT NULL, PRIMARY KEY (region, id));
INSERT INTO snap_src SELECT 'eu', g, 'v' || g FROM generate_series(1, 7) g;
SELECT kafka_create_topic('kafka', 'snap_topic', 1);
BEGIN;
SELECT kafka.stream_changes('snap_src', 'kafka', 'snap_topic', snapshot => true,
                            options => '{"snapshot_chunk_size": 3}') > 0 AS started;
SELECT kafka.pause_stream('snap_src');
COMMIT;
SELECT snapshot_state, snapshot_rows_done, snapshot_rows_total FROM kafka.streams WHERE source = 'snap_src'::regclass;
-- changes after the stream started, before the snapshot read the table
UPDATE snap_src SET v = 'v2 changed' WHERE id = 2;
DELETE FROM snap_src WHERE id = 3;
INSERT INTO snap_src VALUES ('eu', 100, 'new');
UPDATE snap_src SET id = 50 WHERE id = 4;          -- a change of key
-- nothing is published while the snapshot has not started: the changes wait
SELECT kafka.flush_stream('snap_src') AS sent_before_snapshot;
SELECT kafka.snapshot_step('snap_src') AS chunk_rows;
SELECT snapshot_state, snapshot_rows_done, snapshot_rows_total FROM kafka.streams WHERE source = 'snap_src'::regclass;
-- more changes, in the part not read yet and in the part read
UPDATE snap_src SET v = 'v6 changed' WHERE id = 6;
DELETE FROM snap_src WHERE id = 7;
UPDATE snap_src SET v = 'v1 changed' WHERE id = 1;
-- the snapshot rows written so far are published but the newest chunk of them (held back: it
-- may have to carry "last"; here the only one, of 5 rows), the changes wait
SELECT kafka.flush_stream('snap_src') AS sent_during_snapshot;
SELECT op, count(*) FROM kafka.outbox WHERE stream_id = (SELECT stream_id FROM kafka.stream WHERE relid = 'snap_src'::regclass)
 GROUP BY op ORDER BY op;
SELECT kafka.snapshot_step('snap_src') AS chunk_rows;
SELECT kafka.snapshot_step('snap_src') AS chunk_rows;
SELECT kafka.snapshot_step('snap_src') AS chunk_rows;
SELECT kafka.snapshot_step('snap_src') IS NULL AS snapshot_finished;
SELECT snapshot_state, snapshot_rows_done, snapshot_rows_total FROM kafka.streams WHERE source = 'snap_src'::regclass;
SELECT kafka.flush_stream('snap_src') AS sent_after_snapshot;
SELECT count(*) AS outbox_left FROM kafka.outbox WHERE stream_id = (SELECT stream_id FROM kafka.stream WHERE relid = 'snap_src'::regclass);

CREATE FOREIGN TABLE snap_topic_t (part int OPTIONS (partition 'true'), offs bigint OPTIONS (offset 'true'),
  k jsonb OPTIONS (key 'true'), h jsonb OPTIONS (headers 'true'), v jsonb)
  SERVER kafka OPTIONS (topic 'snap_topic', format 'jsonb');
CREATE VIEW snap_topic_v AS
  SELECT (h->>'kafka_fdw.event_id')::bigint AS event_id, k, v->>'op' AS op, v->'source'->>'snapshot' AS snapshot,
         v->'after' AS after, v IS NULL AS tombstone, offs, part
    FROM snap_topic_t;
SELECT wait_rows('SELECT * FROM snap_topic_t', 18);
-- in the topic's order: the table as it was when the stream started, every
-- row once as r (the last one "last"), then the changes in commit order
SELECT k, op, snapshot, after, tombstone FROM snap_topic_v ORDER BY offs;
SELECT count(*) AS r_events, count(DISTINCT k) AS r_keys FROM snap_topic_v WHERE op = 'r';
-- r events come before every change of their key (per partition, by offset)
SELECT count(*) AS r_after_a_change
  FROM snap_topic_v r JOIN snap_topic_v c ON c.k = r.k AND c.part = r.part AND c.offs < r.offs
 WHERE r.op = 'r' AND c.op IS DISTINCT FROM 'r';
-- replaying the topic (per key, last message by offset) gives the table
SELECT (SELECT array_agg(after ORDER BY after->>'id') FROM (
          SELECT DISTINCT ON (k) after, tombstone FROM snap_topic_v ORDER BY k, offs DESC) last
         WHERE NOT tombstone AND after IS NOT NULL)
     = (SELECT array_agg(to_jsonb(s) ORDER BY s.id::text) FROM snap_src s) AS replay_equals_table;

-- an empty table: the snapshot is done at once, with no r event
CREATE TABLE snap_empty (id int PRIMARY KEY);
BEGIN;
SELECT kafka.stream_changes('snap_empty', 'kafka', 'snap_plain', snapshot => true) > 0 AS started;
SELECT kafka.pause_stream('snap_empty');
COMMIT;
SELECT kafka.snapshot_step('snap_empty') AS chunk_rows;
SELECT snapshot_state, snapshot_rows_done, snapshot_rows_total FROM kafka.streams WHERE source = 'snap_empty'::regclass;
SELECT kafka.stop_stream('snap_empty');
SELECT kafka.stop_stream('snap_src');
