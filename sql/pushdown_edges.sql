-- pushdown_edges: many small ranges of one partition (an IN list or = ANY of offsets) are
-- read on in one pass where they lie close together, instead of restarting the partition
-- at each (a fetch round trip each: 3,000 ranges took ~30 s, reading the whole topic 0.1 s)
SELECT kafka_create_topic('kafka', 'pde', 2);
\! seq 0 5999 | awk '{ printf "{\"x\":%d}\n", $1 }' | kcat -b "$KAFKA_BROKERS" -P -t pde -p 0
\! seq 0 999 | awk '{ printf "{\"x\":%d}\n", 100000 + $1 }' | kcat -b "$KAFKA_BROKERS" -P -t pde -p 1
CREATE FOREIGN TABLE pde (part int OPTIONS (partition 'true'), offs bigint OPTIONS (offset 'true'), x int)
  SERVER kafka OPTIONS (topic 'pde');
-- what a scan read, without the long lines
CREATE FUNCTION pde_read(q text) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE l text;
BEGIN
  FOR l IN EXECUTE 'EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) ' || q LOOP
    IF l ~ 'Kafka messages read' THEN RETURN NEXT trim(l); END IF;
  END LOOP;
END $$;
-- 3,000 ranges of one offset each, two apart: well within the timeout now
SET statement_timeout = '15s';
SELECT count(*), sum(x) FROM pde WHERE part = 0 AND offs = ANY (ARRAY(SELECT generate_series(0, 5999, 2)::bigint));
SELECT count(*), sum(x) FROM pde WHERE part + 0 = 0 AND offs + 0 = ANY (ARRAY(SELECT generate_series(0, 5999, 2)::bigint));
SELECT pde_read('SELECT * FROM pde WHERE part = 0 AND offs = ANY (ARRAY(SELECT generate_series(0, 5999, 2)::bigint))');
-- gaps of 100 (read on) and 101 (restarted) and ranges of several offsets, in both partitions
SELECT count(*), sum(x) FROM pde WHERE offs = ANY (ARRAY(SELECT generate_series(0, 5999, 101)::bigint))
   OR offs = ANY (ARRAY(SELECT generate_series(3, 5999, 201)::bigint)) OR offs BETWEEN 1010 AND 1012;
SELECT count(*), sum(x) FROM pde WHERE offs + 0 = ANY (ARRAY(SELECT generate_series(0, 5999, 101)::bigint))
   OR offs + 0 = ANY (ARRAY(SELECT generate_series(3, 5999, 201)::bigint)) OR offs + 0 BETWEEN 1010 AND 1012;
SELECT count(*), sum(x) FROM pde WHERE (offs BETWEEN 5 AND 7 OR offs BETWEEN 107 AND 109 OR offs BETWEEN 210 AND 212
   OR offs = ANY (ARRAY[400, 402, 404, 600, 999, 1000, 5999, 6000]));
SELECT count(*), sum(x) FROM pde WHERE (offs + 0 BETWEEN 5 AND 7 OR offs + 0 BETWEEN 107 AND 109 OR offs + 0 BETWEEN 210 AND 212
   OR offs + 0 = ANY (ARRAY[400, 402, 404, 600, 999, 1000, 5999, 6000]));
SELECT pde_read('SELECT * FROM pde WHERE (offs BETWEEN 5 AND 7 OR offs BETWEEN 107 AND 109 OR offs BETWEEN 210 AND 212
   OR offs = ANY (ARRAY[400, 402, 404, 600, 999, 1000, 5999, 6000]))');
-- rows in offset order within a partition, LIMIT, and a scroll cursor over read-on ranges
SELECT part, offs, x FROM pde WHERE part = 0 AND offs IN (10, 12, 14, 300, 302) LIMIT 4;
BEGIN;
DECLARE pde_c SCROLL CURSOR FOR SELECT offs, x FROM pde WHERE part = 0 AND offs IN (10, 12, 14, 300, 302);
FETCH 3 pde_c;
FETCH BACKWARD 2 pde_c;
FETCH ALL pde_c;
COMMIT;
-- parallel: the claimed ranges read on too
SET max_parallel_workers_per_gather = 2;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SELECT count(*), sum(x) FROM pde WHERE offs = ANY (ARRAY(SELECT generate_series(0, 5999, 3)::bigint));
SELECT count(*), sum(x) FROM pde WHERE offs + 0 = ANY (ARRAY(SELECT generate_series(0, 5999, 3)::bigint));
RESET max_parallel_workers_per_gather;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET statement_timeout;
