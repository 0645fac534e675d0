-- read: a topic as a foreign table; complete results, metadata columns, pushdown.
\getenv brokers KAFKA_BROKERS
SELECT kafka_create_topic('kafka', 'page_views', 4);
-- 100 page views per partition, produced with kcat into explicit partitions
\! for p in 0 1 2 3; do seq 0 99 | awk -v p=$p '{ printf "k%d-%d\t{\"session_id\":\"s%d-%d\",\"property_id\":%d,\"loyalty_id\":%d,\"view_type\":\"%s\",\"origin\":\"promotion\"}\n", p, $1, p, $1, ($1 % 7), p*1000+$1, ($1 % 2 ? "propertyView" : "search") }' | kcat -b "$KAFKA_BROKERS" -P -t page_views -p $p -K '\t' -H src=kcat; done
CREATE FOREIGN TABLE page_views (
    part int OPTIONS (partition 'true'), offs bigint OPTIONS (offset 'true'),
    ts timestamptz OPTIONS (timestamp 'true'), k text OPTIONS (key 'true'),
    h jsonb OPTIONS (headers 'true'),
    session_id text, property_id int, loyalty_id bigint, view_type text, origin text)
  SERVER kafka OPTIONS (topic 'page_views', format 'json');
SELECT * FROM kafka_watermarks('page_views');
-- every message, every time
SELECT count(*), sum(loyalty_id), count(DISTINCT session_id) FROM page_views;
SELECT part, count(*), min(offs), max(offs), sum(property_id) FROM page_views GROUP BY part ORDER BY part;
SELECT part, offs, k, h, session_id, property_id, loyalty_id, view_type, origin
  FROM page_views WHERE part = 2 AND offs < 3 ORDER BY offs;
SELECT count(*) FROM page_views WHERE ts > now() - interval '1 hour' AND ts <= now();
-- pushdown: partition =, IN, ranges; offset comparisons and BETWEEN
EXPLAIN (COSTS OFF) SELECT * FROM page_views WHERE part = 1;
SELECT count(*), min(offs), max(offs) FROM page_views WHERE part = 1;
EXPLAIN (COSTS OFF) SELECT * FROM page_views WHERE part IN (0, 3) AND offs BETWEEN 10 AND 19;
SELECT part, count(*), min(offs), max(offs) FROM page_views WHERE part IN (0, 3) AND offs BETWEEN 10 AND 19 GROUP BY part ORDER BY part;
SELECT count(*) FROM page_views WHERE part >= 2 AND offs > 97;
SELECT count(*) FROM page_views WHERE part < 1 AND offs <= 4;
SELECT count(*) FROM page_views WHERE offs = 50;
SELECT count(*) FROM page_views WHERE part = 1 AND part = 2;
SELECT count(*) FROM page_views WHERE part = 9;
SELECT count(*) FROM page_views WHERE offs >= 1000;
-- pushed-down values may be parameters
PREPARE q(int, bigint) AS SELECT count(*), min(offs) FROM page_views WHERE part = $1 AND offs >= $2;
EXECUTE q(1, 90);
EXECUTE q(3, 0);
EXECUTE q(NULL, 0);
DEALLOCATE q;
-- EXPLAIN ANALYZE shows what was read per partition
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT * FROM page_views WHERE part = 3 AND offs >= 95;
-- a join with a table
CREATE TABLE loyalty (loyalty_id bigint PRIMARY KEY, level text);
INSERT INTO loyalty SELECT g, CASE WHEN g % 3 = 0 THEN 'platinum' ELSE 'silver' END FROM generate_series(0, 3999) g;
SELECT l.level, count(*) FROM page_views v JOIN loyalty l USING (loyalty_id) GROUP BY l.level ORDER BY 1;
-- a missing topic is a clear error
CREATE FOREIGN TABLE missing (v text) SERVER kafka OPTIONS (topic 'no_such_topic', format 'text');
SELECT * FROM missing;
-- timestamp lower bounds become offsets (offsets-for-times): two batches 1.5 s apart
SELECT kafka_create_topic('kafka', 'ts_topic', 2);
\! for p in 0 1; do seq 1 30 | kcat -b "$KAFKA_BROKERS" -P -t ts_topic -p $p; done; sleep 1.5; for p in 0 1; do seq 31 40 | kcat -b "$KAFKA_BROKERS" -P -t ts_topic -p $p; done
CREATE FOREIGN TABLE ts_topic (part int OPTIONS (partition 'true'), offs bigint OPTIONS (offset 'true'),
                               ts timestamptz OPTIONS (timestamp 'true'), v int)
  SERVER kafka OPTIONS (topic 'ts_topic', format 'text');
SELECT min(ts) AS second_batch FROM ts_topic WHERE v > 30 \gset
-- a generic plan keeps the (run-dependent) timestamp out of the EXPLAIN output
SET plan_cache_mode = force_generic_plan;
PREPARE since(timestamptz) AS SELECT count(*), min(v), max(v) FROM ts_topic WHERE ts >= $1;
PREPARE between_(timestamptz) AS SELECT count(*) FROM ts_topic WHERE ts BETWEEN $1 AND now();
EXECUTE since(:'second_batch');
-- only the second batch is read
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) EXECUTE since(:'second_batch');
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) EXECUTE between_(:'second_batch');
RESET plan_cache_mode;
-- after the last message: nothing is read
SELECT count(*) FROM ts_topic WHERE ts > now() + interval '1 day';
-- LIMIT without ORDER BY stops early
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT * FROM page_views LIMIT 7;
-- planning: estimates come from the watermarks
EXPLAIN SELECT * FROM page_views;
-- ANALYZE samples the topic: row count and column statistics
ANALYZE page_views;
SELECT reltuples FROM pg_class WHERE relname = 'page_views';
SELECT attname, n_distinct, most_common_vals FROM pg_stats
 WHERE tablename = 'page_views' AND attname IN ('part', 'view_type', 'origin') ORDER BY attname;
-- parallel scan: shared among workers, same result as serial
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF) SELECT count(*), sum(loyalty_id) FROM page_views;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT count(*), sum(loyalty_id) FROM page_views;
SELECT count(*), sum(loyalty_id), count(DISTINCT session_id) FROM page_views;
SELECT part, count(*), sum(property_id) FROM page_views WHERE offs >= 50 GROUP BY part ORDER BY part;
RESET ALL;
-- one large partition is sliced by offsets among the workers
SELECT kafka_create_topic('kafka', 'one_big', 1);
\! seq 1 120000 | kcat -b "$KAFKA_BROKERS" -P -t one_big -p 0
CREATE FOREIGN TABLE one_big (offs bigint OPTIONS (offset 'true'), v int)
  SERVER kafka OPTIONS (topic 'one_big', format 'text');
SELECT count(*), sum(v), min(offs), max(offs) FROM one_big;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET max_parallel_workers_per_gather = 2;
-- (which worker reads which slice varies: per-worker lines are left out)
CREATE FUNCTION explain_shared(q text) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE l text;
BEGIN
  FOR l IN EXECUTE 'EXPLAIN (ANALYZE, VERBOSE, COSTS OFF, TIMING OFF, SUMMARY OFF) ' || q LOOP
    IF l !~ 'Worker \d+:' THEN RETURN NEXT l; END IF;
  END LOOP;
END $$;
SELECT explain_shared('SELECT count(*), sum(v) FROM one_big');
SELECT count(*), sum(v), min(offs), max(offs) FROM one_big;
SELECT count(*), sum(v) FROM one_big WHERE offs >= 49990 AND offs < 50010;
RESET ALL;
