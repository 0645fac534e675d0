-- The hotel chain demo (see README): page views stream into Kafka, loyalty
-- levels live in a table, and plain SQL joins the stream with the table.
\set ECHO queries
\pset footer on

CREATE EXTENSION IF NOT EXISTS kafka_fdw;
CREATE SERVER kafka FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers :'brokers');
SELECT kafka_create_topic('kafka', 'page_views', 4);

-- A topic is a foreign table: metadata columns by option, the rest from the JSON value.
CREATE FOREIGN TABLE page_views (
    part int OPTIONS (partition 'true'),
    offs bigint OPTIONS (offset 'true'),
    ts timestamptz OPTIONS (timestamp 'true'),
    session_id text OPTIONS (json 'sessionId'),
    property_id int OPTIONS (json 'propertyId'),
    loyalty_id bigint OPTIONS (json 'loyaltyId'),
    view_type text OPTIONS (json 'viewType'),
    origin text)
  SERVER kafka OPTIONS (topic 'page_views', format 'json');

-- Page views arrive from the web site (here: kcat, the Kafka command-line client).
\! printf '%s\n' '{"sessionId":"676fc8983gu563","viewType":"propertyView","propertyId":7879,"loyaltyId":6764532,"origin":"promotion"}' '{"sessionId":"a1","viewType":"propertyView","propertyId":1001,"loyaltyId":538,"origin":"search"}' '{"sessionId":"a1","viewType":"search","propertyId":1002,"loyaltyId":538,"origin":"search"}' '{"sessionId":"b7","viewType":"propertyView","propertyId":1001,"loyaltyId":17,"origin":"newsletter"}' '{"sessionId":"c3","viewType":"propertyView","propertyId":1003,"loyaltyId":538,"origin":"promotion"}' | kcat -b "$KAFKA_BROKERS" -P -t page_views

-- ... and from SQL: INSERT produces a message, confirmed by the broker before it returns.
INSERT INTO page_views (session_id, view_type, property_id, loyalty_id, origin)
VALUES ('d9', 'propertyView', 1003, 17, 'search'), ('e2', 'propertyView', 1001, 538, 'newsletter')
RETURNING part, offs, session_id;

SELECT part, offs, session_id, view_type, property_id, loyalty_id, origin
  FROM page_views ORDER BY part, offs;

-- State lives in tables.
CREATE TABLE loyalty (loyalty_id bigint PRIMARY KEY, level text NOT NULL);
INSERT INTO loyalty VALUES (6764532, 'gold'), (538, 'platinum'), (17, 'silver');
CREATE TABLE properties (property_id int PRIMARY KEY, location text NOT NULL, is_beach bool NOT NULL);
INSERT INTO properties VALUES (7879, 'Aspen', false), (1001, 'Waikiki', true), (1002, 'Chicago', false),
                              (1003, 'Maui', true);

-- The stream-table join: platinum members looking at beach properties.
SELECT v.session_id, v.loyalty_id, l.level, p.location, v.ts
  FROM page_views v
  JOIN loyalty l USING (loyalty_id)
  JOIN properties p USING (property_id)
 WHERE l.level = 'platinum' AND p.is_beach AND v.view_type = 'propertyView'
 ORDER BY v.ts, v.session_id;

-- Pushdown: only partition 0 from offset 0 is read.
EXPLAIN (COSTS OFF) SELECT * FROM page_views WHERE part = 0 AND offs >= 0;

-- ===================================================================================
-- Tables to streams, streams to tables, and the join run continuously.
-- ===================================================================================
\set ECHO none
-- wait (up to 30 s) until a query returns true; returns how long it took
CREATE FUNCTION demo_wait(q text) RETURNS interval LANGUAGE plpgsql AS $$
DECLARE ok bool; t0 timestamptz := clock_timestamp();
BEGIN
  LOOP
    EXECUTE q INTO ok;
    IF ok THEN RETURN clock_timestamp() - t0; END IF;
    IF clock_timestamp() - t0 > interval '30 s' THEN RAISE EXCEPTION 'demo: timed out waiting for: %', q; END IF;
    PERFORM pg_sleep(0.01);
  END LOOP;
END $$;
\set ECHO queries

-- 1. The loyalty table is streamed out (CDC by triggers and an outbox, Debezium's format),
--    with a snapshot of the rows it already has.
SELECT kafka_create_topic('kafka', 'loyalty_cdc', 1);
SELECT kafka.stream_changes('loyalty', 'kafka', 'loyalty_cdc', 'debezium', snapshot => true) AS stream_id;

-- 2. ... and that CDC topic is applied to a cache table by an ingest job (upsert by key):
--    the table view of the stream, as another service (or database) would keep it.
CREATE FOREIGN TABLE loyalty_cdc (event jsonb) SERVER kafka OPTIONS (topic 'loyalty_cdc', format 'jsonb');
CREATE TABLE loyalty_cache (loyalty_id bigint PRIMARY KEY, level text NOT NULL);
SELECT kafka.ingest('loyalty_cdc', 'loyalty_cache', mode => 'upsert', envelope => 'debezium') AS cache_job \gset
SELECT demo_wait($$SELECT count(*) = 3 FROM loyalty_cache$$) IS NOT NULL AS cache_filled;
TABLE loyalty_cache ORDER BY loyalty_id;

-- 3. Promotions: a continuous pipeline joins each new batch of page views with the cache and
--    the properties, and writes promotions for platinum members looking at beach properties
--    to a topic, in the same transaction as its offsets.
SELECT kafka_create_topic('kafka', 'promotions', 1);
CREATE FOREIGN TABLE promotions (session_id text, loyalty_id bigint, level text, location text)
  SERVER kafka OPTIONS (topic 'promotions', format 'json');
SELECT kafka.pipeline('promotions', 'page_views', $$
  INSERT INTO promotions
  SELECT v.session_id, v.loyalty_id, c.level, p.location
    FROM page_views v JOIN loyalty_cache c USING (loyalty_id) JOIN properties p USING (property_id)
   WHERE c.level = 'platinum' AND p.is_beach AND v.view_type = 'propertyView' $$) AS promo_job \gset
SELECT demo_wait(format($$SELECT messages = (SELECT count(*) FROM page_views)
                          FROM kafka.ingest_job WHERE job_id = %s$$, :promo_job)) IS NOT NULL AS caught_up;
SELECT session_id, loyalty_id, level, location FROM promotions ORDER BY session_id;

-- 4. Member 17 becomes platinum.  The change travels: loyalty -> trigger -> outbox -> emitter ->
--    topic loyalty_cdc -> ingest job -> loyalty_cache.  Then 17 looks at Maui.
UPDATE loyalty SET level = 'platinum' WHERE loyalty_id = 17;
SELECT demo_wait($$SELECT level = 'platinum' FROM loyalty_cache WHERE loyalty_id = 17$$) AS level_change_reached_cache;
INSERT INTO page_views (session_id, view_type, property_id, loyalty_id, origin)
VALUES ('f5', 'propertyView', 1003, 17, 'search');
SELECT demo_wait($$SELECT count(*) > 0 FROM promotions WHERE session_id = 'f5'$$) AS view_reached_promotions;
SELECT session_id, loyalty_id, level, location FROM promotions ORDER BY session_id;

-- The jobs, as the status view shows them
SELECT job_id, coalesce(name, mode) AS job, partition, committed_offset, lag, state, messages, rows_written
  FROM kafka.ingest_status ORDER BY job_id, partition;
SELECT source, topic, envelope, state, backlog, events_sent FROM kafka.streams;

-- The promotions are exactly the expected ones (each once), or the demo fails
DO $$
DECLARE got text; want text := 'a1/538/Waikiki,c3/538/Maui,e2/538/Waikiki,f5/17/Maui';
BEGIN
  SELECT string_agg(session_id || '/' || loyalty_id || '/' || location, ',' ORDER BY session_id) INTO got FROM promotions;
  IF got IS DISTINCT FROM want THEN
    RAISE EXCEPTION 'demo: promotions are %, expected %', got, want;
  END IF;
  RAISE NOTICE 'demo: the 4 expected promotions, each once: %', got;
END $$;
