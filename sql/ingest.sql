-- ingest: background workers consume kafka_fdw foreign tables' topics into
-- tables, exactly once (offsets stored in the batch's transaction).
SET timezone = 'UTC';

-- page views arrive as JSON; append them into a table
SELECT kafka_create_topic('kafka', 'ing_views', 3);
CREATE FOREIGN TABLE ing_views_k (part int OPTIONS (partition 'true'), offs bigint OPTIONS (offset 'true'),
  loyalty_id bigint, property_id int, url text, viewed_at timestamptz)
  SERVER kafka OPTIONS (topic 'ing_views', format 'json');
INSERT INTO ing_views_k (part, loyalty_id, property_id, url, viewed_at)
  SELECT g % 3, g, g % 10, 'https://example.com/p/' || g, '2026-11-30 10:00+00'::timestamptz + g * interval '1 s'
  FROM generate_series(1, 300) g;
-- the target has a column the topic lacks (a default) and lacks url; types differ (int8 vs numeric)
CREATE TABLE ing_views (id bigserial PRIMARY KEY, loyalty_id numeric, property_id int, viewed_at timestamptz,
  ingested_at timestamptz DEFAULT now(), part int, offs bigint, UNIQUE (part, offs));
SELECT kafka.ingest('ing_views_k', 'ing_views') AS views_job \gset
SELECT wait_true('SELECT count(*) = 300 FROM ing_views');
SELECT count(*), count(DISTINCT (part, offs)), sum(loyalty_id), min(viewed_at), max(viewed_at),
       count(ingested_at) AS defaults_filled FROM ing_views;
SELECT partition, committed_offset, lag, state FROM kafka.ingest_status WHERE job_id = :views_job ORDER BY partition;
-- more messages arrive (a second later) and are appended
SELECT pg_sleep(1.2);
INSERT INTO ing_views_k (part, loyalty_id, property_id, url) SELECT g % 3, g, 1, 'x' FROM generate_series(301, 330) g;
SELECT wait_true('SELECT count(*) = 330 FROM ing_views');
-- defaults are evaluated when each batch is written (now() is the batch transaction's start, not
-- the worker's)
SELECT (SELECT min(ingested_at) FROM ing_views WHERE loyalty_id > 300)
     - (SELECT max(ingested_at) FROM ing_views WHERE loyalty_id <= 300) >= interval '1 s' AS defaults_at_batch_time;
SELECT messages, rows_written, dead_letters, state FROM kafka.ingest_job WHERE job_id = :views_job;
-- paused: nothing more lands; resumed: the rest does
SELECT kafka.pause_ingest(:views_job);
INSERT INTO ing_views_k (part, loyalty_id, property_id, url) SELECT g % 3, g, 1, 'x' FROM generate_series(331, 340) g;
SELECT pg_sleep(1.5);
SELECT count(*) FROM ing_views;
SELECT kafka.resume_ingest(:views_job);
SELECT wait_true('SELECT count(*) = 340 FROM ing_views');
-- a column added to the target is filled from then on (matched by name)
ALTER TABLE ing_views ADD COLUMN url text;
INSERT INTO ing_views_k (part, loyalty_id, property_id, url) SELECT g % 3, g, 1, 'u' || g FROM generate_series(341, 350) g;
SELECT wait_true('SELECT count(*) = 350 FROM ing_views');
SELECT count(url) AS with_url, min(url), max(url) FROM ing_views;

-- the same topic into a partitioned table, from given offsets, by 2 workers
CREATE TABLE ing_part (loyalty_id bigint, property_id int, part int, offs bigint) PARTITION BY RANGE (loyalty_id);
CREATE TABLE ing_part_low PARTITION OF ing_part FOR VALUES FROM (0) TO (100);
CREATE TABLE ing_part_high PARTITION OF ing_part (property_id DEFAULT 7) FOR VALUES FROM (100) TO (1000);
SELECT kafka.ingest('ing_views_k', 'ing_part', start_offsets => '{10,10,10}', parallelism => 2) AS part_job \gset
SELECT wait_true('SELECT count(*) = 320 FROM ing_part');
SELECT tableoid::regclass, count(*), min(offs) FROM ing_part GROUP BY 1 ORDER BY 1;
-- identical to the serial job's rows from those offsets
SELECT count(*) AS differences FROM (
  (SELECT loyalty_id, property_id, part, offs FROM ing_part
   EXCEPT SELECT loyalty_id, property_id, part, offs FROM ing_views WHERE offs >= 10)
  UNION ALL
  (SELECT loyalty_id, property_id, part, offs FROM ing_views WHERE offs >= 10
   EXCEPT SELECT loyalty_id, property_id, part, offs FROM ing_part)) d;
SELECT count(DISTINCT pid) AS ingest_workers FROM pg_stat_activity
 WHERE backend_type = 'kafka_fdw ingest' AND application_name LIKE 'kafka_fdw ingest ' || :part_job || '/%';
SELECT kafka.stop_ingest(:part_job);
SELECT count(*) AS offsets_left FROM kafka.ingest_offset WHERE job_id = :part_job;

-- upsert: a changelog applied by key, the last change of a key wins, tombstones delete
SELECT kafka_create_topic('kafka', 'ing_levels', 2);
CREATE FOREIGN TABLE ing_levels_w (k text OPTIONS (key 'true'), v jsonb)
  SERVER kafka OPTIONS (topic 'ing_levels', format 'jsonb');
CREATE FOREIGN TABLE ing_levels_k (loyalty_id bigint, level text, points int)
  SERVER kafka OPTIONS (topic 'ing_levels', format 'json');
CREATE TABLE ing_levels (loyalty_id bigint PRIMARY KEY, level text NOT NULL, points int);
INSERT INTO ing_levels_w
  SELECT format('{"loyalty_id":%s}', g % 50 + 1), jsonb_build_object('loyalty_id', g % 50 + 1, 'level', 'v' || (g / 50), 'points', g)
  FROM generate_series(0, 149) g;
INSERT INTO ing_levels_w SELECT format('{"loyalty_id":%s}', g), NULL FROM generate_series(41, 50) g;
-- upsert batches are large (only the last change of a key in a batch is written)
SHOW kafka_fdw.ingest_upsert_batch_size;
SELECT kafka.ingest('ing_levels_k', 'ing_levels', mode => 'upsert') AS levels_job \gset
SELECT wait_true('SELECT count(*) = 40 FROM ing_levels');
SELECT count(*), min(loyalty_id), max(loyalty_id), string_agg(DISTINCT level, ','), sum(points) FROM ing_levels;
-- a later change of a key updates its row
INSERT INTO ing_levels_w VALUES ('{"loyalty_id":7}', '{"loyalty_id":7,"level":"platinum","points":1}');
SELECT wait_true($$SELECT level = 'platinum' FROM ing_levels WHERE loyalty_id = 7$$);
SELECT * FROM ing_levels WHERE loyalty_id = 7;

-- keys of other types, all changes in one batch: text, numeric (1.0, 1.00 and 1 are one key to
-- the index but not to the batch's deduplication, so all three are applied, in order: the last
-- wins) and uuid (fixed length, by reference)
SELECT kafka_create_topic('kafka', 'ing_keys', 1);
CREATE FOREIGN TABLE ing_keys_w (v jsonb) SERVER kafka OPTIONS (topic 'ing_keys', format 'jsonb');
CREATE FOREIGN TABLE ing_keys_k (name text, amount numeric, id uuid, n int)
  SERVER kafka OPTIONS (topic 'ing_keys', format 'json');
CREATE TABLE ing_keys (name text, amount numeric, id uuid, n int, PRIMARY KEY (name, amount, id));
INSERT INTO ing_keys_w VALUES
  ('{"name":"a","amount":1.0,"id":"00000000-0000-0000-0000-000000000001","n":1}'),
  ('{"name":"a","amount":1.00,"id":"00000000-0000-0000-0000-000000000001","n":2}'),
  ('{"name":"b","amount":2,"id":"00000000-0000-0000-0000-000000000002","n":3}'),
  ('{"name":"a","amount":1,"id":"00000000-0000-0000-0000-000000000001","n":4}'),
  ('{"name":"b","amount":2,"id":"00000000-0000-0000-0000-000000000002","n":5}'),
  ('{"name":"bb","amount":2,"id":"00000000-0000-0000-0000-000000000002","n":6}'),
  ('{"name":"b","amount":2,"id":"00000000-0000-0000-0000-000000000003","n":7}');
SELECT kafka.ingest('ing_keys_k', 'ing_keys', mode => 'upsert') AS keys_job \gset
SELECT wait_true(format('SELECT messages = 7 FROM kafka.ingest_job WHERE job_id = %s', :keys_job));
SELECT messages, last_error FROM kafka.ingest_job WHERE job_id = :keys_job;
SELECT name, amount, id, n FROM ing_keys ORDER BY name, id;
SELECT kafka.stop_ingest(:keys_job);
-- a change that violates a constraint, on_error 'fail': its batch goes message by message, each
-- in a subtransaction, to find it: updates of existing rows too (the row found must not keep its
-- buffer pinned past the subtransaction); the job fails there, nothing of the batch written
ALTER TABLE ing_keys ADD CHECK (n < 100);
INSERT INTO ing_keys_w VALUES
  ('{"name":"a","amount":1,"id":"00000000-0000-0000-0000-000000000001","n":8}'),
  ('{"name":"b","amount":2,"id":"00000000-0000-0000-0000-000000000002","n":500}'),
  ('{"name":"bb","amount":2,"id":"00000000-0000-0000-0000-000000000002","n":9}');
SELECT kafka.ingest('ing_keys_k', 'ing_keys', mode => 'upsert') AS keys_fail_job \gset
SELECT wait_true($$SELECT state = 'failed' FROM kafka.ingest_job WHERE job_id = $$ || :keys_fail_job);
SELECT state, error_partition, error_offset, last_error FROM kafka.ingest_job WHERE job_id = :keys_fail_job;
SELECT name, amount, id, n FROM ing_keys ORDER BY name, id;
SELECT kafka.stop_ingest(:keys_fail_job);
-- the same with dead letters: the batch is read again with the bad change as a dead letter, and
-- its key's change before it in the batch applies
SELECT kafka.ingest('ing_keys_k', 'ing_keys', mode => 'upsert', on_error => 'dead_letter') AS keys_job \gset
SELECT wait_true(format('SELECT messages = 10 FROM kafka.ingest_job WHERE job_id = %s', :keys_job));
SELECT messages, rows_written, dead_letters, last_error FROM kafka.ingest_job WHERE job_id = :keys_job;
SELECT name, amount, id, n FROM ing_keys ORDER BY name, id;
SELECT "offset", sqlstate FROM kafka.dead_letter WHERE job_id = :keys_job;
-- past the failed batch's end the job applies batches of last changes again: two changes of
-- one key, one row written
SELECT rows_written AS rows_before FROM kafka.ingest_job WHERE job_id = :keys_job \gset
INSERT INTO ing_keys_w VALUES
  ('{"name":"a","amount":1,"id":"00000000-0000-0000-0000-000000000001","n":10}'),
  ('{"name":"a","amount":1,"id":"00000000-0000-0000-0000-000000000001","n":11}');
SELECT wait_true(format('SELECT messages = 12 FROM kafka.ingest_job WHERE job_id = %s', :keys_job));
SELECT messages, rows_written - :rows_before AS rows_written, dead_letters, last_error FROM kafka.ingest_job WHERE job_id = :keys_job;
SELECT name, amount, id, n FROM ing_keys ORDER BY name, id;
SELECT kafka.stop_ingest(:keys_job);

-- the source's topic changes under a running job: its offsets are another topic's, so it stops
-- with an error instead of reading the new topic from those offsets
ALTER FOREIGN TABLE ing_levels_k OPTIONS (SET topic 'ing_views');
SELECT wait_true(format($$SELECT last_error LIKE '%%changed from "ing_levels" to "ing_views"%%' FROM kafka.ingest_job WHERE job_id = %s$$, :levels_job));
SELECT count(*), sum(points) FROM ing_levels;
ALTER FOREIGN TABLE ing_levels_k OPTIONS (SET topic 'ing_levels');

-- Debezium change events (the emitter's) applied to another table: it ends up equal to the source
CREATE TABLE ing_member (loyalty_id bigint PRIMARY KEY, level text NOT NULL, email text, since date);
-- one partition: Kafka orders a topic only within a partition, and a truncate event concerns every key
SELECT kafka_create_topic('kafka', 'ing_member_cdc', 1);
SELECT kafka.stream_changes('ing_member', 'kafka', 'ing_member_cdc', 'debezium') > 0 AS streaming;
SELECT kafka.pause_stream('ing_member');
INSERT INTO ing_member SELECT g, 'bronze', 'm' || g || '@example.com', date '2020-01-01' + g FROM generate_series(1, 30) g;
UPDATE ing_member SET level = 'gold' WHERE loyalty_id % 3 = 0;
DELETE FROM ing_member WHERE loyalty_id > 25;
TRUNCATE ing_member;
INSERT INTO ing_member SELECT g, 'silver', NULL, NULL FROM generate_series(100, 110) g;
UPDATE ing_member SET loyalty_id = 200, level = 'platinum' WHERE loyalty_id = 105;
DELETE FROM ing_member WHERE loyalty_id = 101;
SELECT kafka.flush_stream('ing_member') AS events;
CREATE FOREIGN TABLE ing_member_k (v jsonb) SERVER kafka OPTIONS (topic 'ing_member_cdc', format 'jsonb');
CREATE TABLE ing_member_copy (loyalty_id bigint PRIMARY KEY, level text NOT NULL, email text, since date);
INSERT INTO ing_member_copy VALUES (999, 'removed by the truncate event', NULL, NULL);
SELECT kafka.ingest('ing_member_k', 'ing_member_copy', mode => 'upsert', envelope => 'debezium') AS cdc_job \gset
SELECT wait_true($$SELECT messages > 0 AND messages = (SELECT count(*) FROM ing_member_k) FROM kafka.ingest_job WHERE job_id = $$ || :cdc_job);
SELECT count(*) AS differences FROM (
  (TABLE ing_member EXCEPT TABLE ing_member_copy) UNION ALL (TABLE ing_member_copy EXCEPT TABLE ing_member)) d;
SELECT * FROM ing_member_copy ORDER BY loyalty_id;

-- Debezium's representations of types read back: dates as days, timestamps and times as
-- microseconds, decimals and bytes as base64, json as a string
CREATE TABLE ing_types (id int PRIMARY KEY, d date, ts timestamp, tstz timestamptz, t time, n numeric(12,3),
  nv numeric, b bytea, j jsonb, u uuid, f float8, a int[]);
SELECT kafka_create_topic('kafka', 'ing_types_cdc', 1);
SELECT kafka.stream_changes('ing_types', 'kafka', 'ing_types_cdc', 'debezium') > 0 AS streaming;
SELECT kafka.pause_stream('ing_types');
INSERT INTO ing_types VALUES
  (1, '2024-02-29', '2024-02-29 12:34:56.789012', '2024-02-29 12:34:56.5+00', '23:59:59.999999', -123456789.125,
   -0.000123, '\x00ff10', '{"a": [1, {"b": null}]}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 1.5e300, '{1,NULL,3}'),
  (2, '1900-01-01', '1970-01-01 00:00:00', '1969-12-31 23:59:59+00', '00:00:00', 0, 12345678901234567890.5, '', '[]', NULL, -0.0, '{}'),
  (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
SELECT kafka.flush_stream('ing_types') AS events;
CREATE FOREIGN TABLE ing_types_k (v jsonb) SERVER kafka OPTIONS (topic 'ing_types_cdc', format 'jsonb');
CREATE TABLE ing_types_copy (LIKE ing_types INCLUDING ALL);
SELECT kafka.ingest('ing_types_k', 'ing_types_copy', mode => 'upsert', envelope => 'debezium') AS types_job \gset
SELECT wait_true('SELECT count(*) = 3 FROM ing_types_copy');
SELECT count(*) AS differences FROM (
  (SELECT * FROM ing_types EXCEPT SELECT * FROM ing_types_copy) UNION ALL
  (SELECT * FROM ing_types_copy EXCEPT SELECT * FROM ing_types)) d;
SELECT * FROM ing_types_copy ORDER BY id;
SELECT kafka.stop_stream('ing_types');

-- bad messages: dead letters, the job goes on; redrive after the fix
SELECT kafka_create_topic('kafka', 'ing_dl', 1);
CREATE FOREIGN TABLE ing_dl_w (v text) SERVER kafka OPTIONS (topic 'ing_dl', format 'text');
CREATE FOREIGN TABLE ing_dl_k (id int, points int) SERVER kafka OPTIONS (topic 'ing_dl', format 'json');
INSERT INTO ing_dl_w VALUES ('{"id":1,"points":10}'), ('{"id":2,"points":20}'), ('{"id":3,"points":-1}'),
  ('{"id":4, not json'), ('{"id":5,"points":"many"}'), ('{"id":6,"points":60}'), ('{"id":7,"points":-2}'), ('{"id":8,"points":80}');
CREATE TABLE ing_dl (id int PRIMARY KEY, points int CONSTRAINT points_positive CHECK (points >= 0));
SELECT kafka.ingest('ing_dl_k', 'ing_dl', on_error => 'dead_letter') AS dl_job \gset
SELECT wait_true($$SELECT messages = 8 FROM kafka.ingest_job WHERE job_id = $$ || :dl_job);
SELECT id, points FROM ing_dl ORDER BY id;
SELECT partition, "offset", convert_from(value, 'UTF8') AS value, sqlstate, error
  FROM kafka.dead_letter WHERE job_id = :dl_job ORDER BY "offset";
SELECT state, messages, rows_written, dead_letters FROM kafka.ingest_job WHERE job_id = :dl_job;
-- the cause is fixed: redrive lands the two negative ones; the malformed ones stay, with their error
ALTER TABLE ing_dl DROP CONSTRAINT points_positive;
SELECT kafka.redrive(:dl_job) AS landed;
SELECT id, points FROM ing_dl ORDER BY id;
SELECT "offset", sqlstate FROM kafka.dead_letter WHERE job_id = :dl_job ORDER BY "offset";

-- on_error 'fail': the job stops at the first bad message, which the status shows; nothing of its batch lands
CREATE TABLE ing_fail (id int PRIMARY KEY, points int);
SELECT kafka.ingest('ing_dl_k', 'ing_fail') AS fail_job \gset
SELECT wait_true($$SELECT state = 'failed' FROM kafka.ingest_job WHERE job_id = $$ || :fail_job);
SELECT state, error_partition, error_offset, last_error FROM kafka.ingest_job WHERE job_id = :fail_job;
SELECT DISTINCT state, committed_offset FROM kafka.ingest_status WHERE job_id = :fail_job;
SELECT count(*) FROM ing_fail;

-- a continuous pipeline: the stream-table join of the views with members and properties,
-- run by a worker over each new batch, with its offsets in the same transaction
CREATE TABLE ing_members (loyalty_id bigint PRIMARY KEY, level text, email text);
INSERT INTO ing_members SELECT g, CASE WHEN g % 7 = 0 THEN 'platinum' ELSE 'gold' END, 'm' || g || '@example.com'
  FROM generate_series(1, 400) g;
CREATE TABLE ing_properties (property_id int PRIMARY KEY, is_beach bool);
INSERT INTO ing_properties SELECT g, g % 2 = 0 FROM generate_series(0, 9) g;
CREATE TABLE ing_promotions (loyalty_id bigint, property_id int, email text, part int, offs bigint);
SELECT kafka_create_topic('kafka', 'ing_promos_out', 1);
CREATE FOREIGN TABLE ing_promos_k (loyalty_id bigint, property_id int, email text)
  SERVER kafka OPTIONS (topic 'ing_promos_out', format 'json');
SELECT kafka.pipeline('promotions', 'ing_views_k', $$
  WITH promo AS (
    INSERT INTO ing_promotions
    SELECT pv.loyalty_id, pv.property_id, m.email, pv.part, pv.offs
      FROM ing_views_k pv JOIN ing_members m USING (loyalty_id) JOIN ing_properties p USING (property_id)
     WHERE m.level = 'platinum' AND p.is_beach
    RETURNING loyalty_id, property_id, email)
  INSERT INTO ing_promos_k SELECT * FROM promo $$) AS promo_job \gset
SELECT wait_true($$SELECT messages >= 350 FROM kafka.ingest_job WHERE job_id = $$ || :promo_job);
-- equal to the ad-hoc join over the same offsets, each message once
SELECT count(*), count(DISTINCT (part, offs)) FROM ing_promotions;
SELECT count(*) AS differences FROM (
  (SELECT pv.loyalty_id, pv.property_id, m.email, pv.part, pv.offs
     FROM ing_views_k pv JOIN ing_members m USING (loyalty_id) JOIN ing_properties p USING (property_id)
    WHERE m.level = 'platinum' AND p.is_beach
   EXCEPT SELECT * FROM ing_promotions)
  UNION ALL
  (SELECT * FROM ing_promotions EXCEPT
   SELECT pv.loyalty_id, pv.property_id, m.email, pv.part, pv.offs
     FROM ing_views_k pv JOIN ing_members m USING (loyalty_id) JOIN ing_properties p USING (property_id)
    WHERE m.level = 'platinum' AND p.is_beach)) d;
SELECT wait_rows('SELECT * FROM ing_promos_k', (SELECT count(*) FROM ing_promotions));
-- a member turns platinum; their next view of a beach property is a promotion
UPDATE ing_members SET level = 'platinum' WHERE loyalty_id = 4;
INSERT INTO ing_views_k (part, loyalty_id, property_id, url) VALUES (0, 4, 2, 'beach'), (1, 4, 3, 'city');
SELECT wait_true($$SELECT count(*) > 0 FROM ing_promotions WHERE loyalty_id = 4$$);
SELECT loyalty_id, property_id, email FROM ing_promotions WHERE loyalty_id = 4;
SELECT name, mode, state, last_error FROM kafka.ingest_status WHERE job_id = :promo_job LIMIT 1;
-- a statement that fails stops the pipeline with the error; the batch's offsets stay
SELECT kafka.pipeline('failing', 'ing_views_k', 'INSERT INTO ing_promotions SELECT 1 / (loyalty_id - loyalty_id), 0 FROM ing_views_k') AS bad_pipe \gset
SELECT wait_true($$SELECT state = 'failed' FROM kafka.ingest_job WHERE job_id = $$ || :bad_pipe);
SELECT state, last_error, messages FROM kafka.ingest_job WHERE job_id = :bad_pipe;
SELECT show_error($$SELECT kafka.pipeline('promotions', 'ing_views_k', 'SELECT 1')$$);
SELECT show_error($$SELECT kafka.pipeline('p2', 'ing_views_k', 'SELEC 1')$$);
SELECT show_error($$SELECT kafka.pipeline('p2', 'ing_views_k', 'SELECT 1; SELECT 2')$$);
SELECT show_error($$SELECT kafka.pipeline('p2', 'ing_views_k', 'INSERT INTO no_such_table VALUES (1)')$$);

-- stop does not wait for a pipeline's slow statement: the batch is cancelled and rolls back
SELECT kafka.pipeline('sleepy', 'ing_views_k', 'SELECT pg_sleep(600) FROM ing_views_k LIMIT 1') AS sleepy \gset
SELECT wait_true(format($$SELECT count(*) = 1 FROM pg_stat_activity WHERE wait_event = 'PgSleep'
                          AND application_name = 'kafka_fdw ingest %s/0'$$, :sleepy));
SELECT kafka.stop_ingest(:sleepy);
SELECT wait_true(format($$SELECT count(*) = 0 FROM pg_stat_activity WHERE application_name = 'kafka_fdw ingest %s/0'$$, :sleepy));

-- bad arguments
SELECT show_error($$SELECT kafka.ingest('ing_levels', 'ing_dl')$$);
SELECT show_error($$SELECT kafka.ingest('ing_dl_k', 'ing_dl_k')$$);
SELECT show_error($$SELECT kafka.ingest('ing_dl_k', 'ing_dl', mode => 'merge')$$);
SELECT show_error($$SELECT kafka.ingest('ing_dl_k', 'ing_dl', envelope => 'debezium')$$);
SELECT show_error($$SELECT kafka.ingest('ing_dl_k', 'ing_part', mode => 'upsert')$$);
SELECT show_error($$SELECT kafka.ingest('ing_dl_k', 'ing_dl', parallelism => 0)$$);
SELECT show_error($$SELECT kafka.ingest('ing_dl_k', 'ing_dl', start_offsets => '{1,2}')$$);
SELECT show_error($$SELECT kafka.ingest('ing_dl_k', 'ing_dl', start_offsets => '{100}')$$);
SELECT show_error($$SELECT kafka.ingest('ing_dl_k', 'ing_dl', start_from => 'yesterday')$$);
CREATE TABLE ing_nothing (x int);
SELECT show_error($$SELECT kafka.ingest('ing_dl_k', 'ing_nothing')$$);
SELECT show_error($$SELECT kafka.stop_ingest(-1)$$);

-- a non-owner can not start, stop, pause or redrive jobs into tables of others, nor read the job tables
CREATE ROLE ing_other;
GRANT USAGE ON FOREIGN SERVER kafka TO ing_other;
GRANT SELECT ON ing_dl_k TO ing_other;
SET ROLE ing_other;
SELECT show_error($$SELECT kafka.ingest('ing_dl_k', 'ing_dl')$$);
SELECT show_error(format('SELECT kafka.stop_ingest(%s)', :dl_job));
SELECT show_error(format('SELECT kafka.pause_ingest(%s)', :dl_job));
SELECT show_error(format('SELECT kafka.redrive(%s)', :dl_job));
SELECT show_error('SELECT * FROM kafka.dead_letter');
SELECT show_error('SELECT * FROM kafka.ingest_offset');
SELECT count(*) AS jobs_visible FROM kafka.ingest_status;
RESET ROLE;

-- stopping forgets a job with its offsets and dead letters; dropping a target drops its jobs
SELECT kafka.stop_ingest(:dl_job);
SELECT count(*) FROM kafka.dead_letter WHERE job_id = :dl_job;
DROP TABLE ing_fail;
SELECT count(*) FROM kafka.ingest_job WHERE job_id = :fail_job;
SELECT kafka.stop_ingest(job_id) FROM kafka.ingest_job;
SELECT kafka.stop_stream('ing_member');
DROP OWNED BY ing_other;
DROP ROLE ing_other;
