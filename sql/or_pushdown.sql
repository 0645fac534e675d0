-- or_pushdown: OR, IN and = ANY on the partition and offset columns become a set of
-- (partition, offset range) pairs, so that a scan reads only the messages they select
-- (issue 11). Every result is compared with the same query with pushdown defeated
-- (part + 0, offs + 0), and EXPLAIN ANALYZE shows messages read = rows returned.
SELECT kafka_create_topic('kafka', 'orp', 4);
-- 700 messages per partition: x = partition * 1000 + offset
\! for p in 0 1 2 3; do seq 0 699 | awk -v p=$p '{ printf "{\"x\":%d}\n", p * 1000 + $1 }' | kcat -b "$KAFKA_BROKERS" -P -t orp -p $p; done
CREATE FOREIGN TABLE orp (part int OPTIONS (partition 'true'), offs bigint OPTIONS (offset 'true'),
                          ts timestamptz OPTIONS (timestamp 'true'), x int)
  SERVER kafka OPTIONS (topic 'orp', format 'json');
SELECT count(*), sum(x), sum(DISTINCT x) FROM orp;
-- the rows a condition selects, with pushdown and without (part + 0, offs + 0 are not pushed)
CREATE FUNCTION orp_check(cond text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE pushed text; plain text; q text;
BEGIN
  q := 'SELECT count(*) || '' rows, sum '' || coalesce(sum(x), 0) || '', md5 '' || '
       'md5(coalesce(string_agg(part || '':'' || offs || '':'' || x, '','' ORDER BY part, offs), '''')) FROM orp WHERE ';
  EXECUTE q || cond INTO pushed;
  EXECUTE q || regexp_replace(regexp_replace(cond, '\mpart\M', '(part + 0)', 'g'), '\moffs\M', '(offs + 0)', 'g')
    INTO plain;
  RETURN CASE WHEN pushed = plain THEN pushed ELSE 'DIFFERENT: ' || pushed || ' / ' || plain END;
END $$;
-- what a scan read: the ranges it selected and the messages it read, next to the rows
-- (lines of more than 100 characters are cut, with their length)
CREATE FUNCTION orp_read(q text) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE l text;
BEGIN
  FOR l IN EXECUTE 'EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) ' || q LOOP
    l := trim(l);
    IF length(l) > 100 THEN l := left(l, 80) || ' ... (' || length(l) || ' characters)'; END IF;
    IF l ~ 'Foreign Scan|Kafka (partitions|offsets|ranges|messages read)|Gather' THEN RETURN NEXT l; END IF;
  END LOOP;
END $$;

-- (partition, offset) pairs: a row IN list
EXPLAIN (COSTS OFF) SELECT * FROM orp WHERE (part, offs) IN ((1, 1), (2, 2));
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT * FROM orp WHERE (part, offs) IN ((1, 1), (2, 2));
SELECT part, offs, x FROM orp WHERE (part, offs) IN ((1, 1), (2, 2)) ORDER BY part;
SELECT orp_check('(part, offs) IN ((1, 1), (2, 2))');
-- a conjunction of disjunctions: every partition with every offset
EXPLAIN (COSTS OFF) SELECT * FROM orp WHERE (part = 1 OR part = 2) AND (offs = 3 OR offs = 4);
SELECT orp_read('SELECT * FROM orp WHERE (part = 1 OR part = 2) AND (offs = 3 OR offs = 4)');
SELECT orp_check('(part = 1 OR part = 2) AND (offs = 3 OR offs = 4)');
-- two offset ranges of one partition
EXPLAIN (COSTS OFF) SELECT * FROM orp
 WHERE (part = 1 AND offs BETWEEN 100 AND 200) OR (part = 1 AND offs BETWEEN 500 AND 600);
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT * FROM orp
 WHERE (part = 1 AND offs BETWEEN 100 AND 200) OR (part = 1 AND offs BETWEEN 500 AND 600);
SELECT orp_check('(part = 1 AND offs BETWEEN 100 AND 200) OR (part = 1 AND offs BETWEEN 500 AND 600)');
-- different offsets in different partitions
EXPLAIN (COSTS OFF) SELECT * FROM orp WHERE ((part = 1 OR part = 2) AND offs = 3) OR (part = 3 AND offs > 10);
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT * FROM orp
 WHERE ((part = 1 OR part = 2) AND offs = 3) OR (part = 3 AND offs > 10);
SELECT orp_check('((part = 1 OR part = 2) AND offs = 3) OR (part = 3 AND offs > 10)');
-- = ANY (array) and IN lists
EXPLAIN (COSTS OFF) SELECT * FROM orp WHERE part = ANY (ARRAY[0, 2]) AND offs IN (5, 6, 7, 650);
SELECT orp_read('SELECT * FROM orp WHERE part = ANY (ARRAY[0, 2]) AND offs IN (5, 6, 7, 650)');
SELECT orp_check('part = ANY (ARRAY[0, 2]) AND offs IN (5, 6, 7, 650)');
SELECT orp_read('SELECT * FROM orp WHERE (part IN (0, 3) AND offs IN (1, 2)) OR (part = 2 AND offs = ANY (''{9,8}''))');
SELECT orp_check('(part IN (0, 3) AND offs IN (1, 2)) OR (part = 2 AND offs = ANY (''{9,8}''))');
-- overlapping and adjacent ranges are merged
EXPLAIN (COSTS OFF) SELECT * FROM orp
 WHERE part = 0 AND (offs BETWEEN 10 AND 20 OR offs BETWEEN 15 AND 30 OR offs = 31 OR offs IN (33, 34, 35));
SELECT orp_check('part = 0 AND (offs BETWEEN 10 AND 20 OR offs BETWEEN 15 AND 30 OR offs = 31 OR offs IN (33, 34, 35))');
-- partitions next to each other with the same offsets are one interval
EXPLAIN (COSTS OFF) SELECT * FROM orp WHERE (part = 1 AND offs < 5) OR (part = 2 AND offs < 5) OR (part = 3 AND offs = 9);
SELECT orp_check('(part = 1 AND offs < 5) OR (part = 2 AND offs < 5) OR (part = 3 AND offs = 9)');
-- a partition the topic does not have reads nothing; negative partitions and offsets select nothing
SELECT orp_read('SELECT * FROM orp WHERE (part = 99 AND offs < 5) OR (part = 2 AND offs = 699) OR part = 1000000');
SELECT orp_check('(part = 99 AND offs < 5) OR (part = 2 AND offs = 699) OR part = 1000000');
EXPLAIN (COSTS OFF) SELECT * FROM orp WHERE part = -1 OR offs = -5 OR offs < -1;
SELECT orp_check('part = -1 OR offs = -5 OR offs < -1');
EXPLAIN (COSTS OFF) SELECT * FROM orp WHERE (part = -1 OR part = 2) AND offs IN (-1, 0, 1) AND offs >= -10;
SELECT orp_check('(part = -1 OR part = 2) AND offs IN (-1, 0, 1) AND offs >= -10');
SELECT orp_check('part > -5 AND part < 1 AND offs <= 2');
SELECT orp_check('part IN (-3, 2147483647) OR offs > 9223372036854775806 OR offs = 9223372036854775807');
SELECT orp_check('part = ANY (ARRAY[5000000000, 1]::bigint[]) AND offs = 2');
-- NULL compares to nothing
EXPLAIN (COSTS OFF) SELECT * FROM orp WHERE (part = 1 OR part = NULL) AND offs IN (NULL, 3);
SELECT orp_check('(part = 1 OR part = NULL) AND offs IN (NULL, 3)');
-- what cannot be pushed inside an OR: the whole OR stays a filter
EXPLAIN (COSTS OFF) SELECT * FROM orp WHERE part = 1 OR x = 3005;
SELECT orp_check('part = 1 OR x = 3005');
EXPLAIN (COSTS OFF) SELECT * FROM orp WHERE (part = 1 OR offs % 2 = 0) AND offs < 3;
SELECT orp_check('(part = 1 OR offs % 2 = 0) AND offs < 3');
EXPLAIN (COSTS OFF) SELECT * FROM orp WHERE (part = 1 OR NOT (part = 2 AND offs = 3)) AND offs < 2;
SELECT orp_check('(part = 1 OR NOT (part = 2 AND offs = 3)) AND offs < 2');
-- ... but a term of a conjunction inside it can be left out
EXPLAIN (COSTS OFF) SELECT * FROM orp WHERE (part = 1 AND x > 1005) OR (part = 2 AND offs < 2);
SELECT orp_check('(part = 1 AND x > 1005) OR (part = 2 AND offs < 2)');
-- timestamps: a lower bound at the top; inside an OR it narrows nothing
EXPLAIN (COSTS OFF, VERBOSE) SELECT x FROM orp WHERE ts >= '2000-01-01' AND (part = 1 OR part = 3) AND offs < 2;
SELECT orp_check('ts >= ''2000-01-01'' AND (part = 1 OR part = 3) AND offs < 2');
EXPLAIN (COSTS OFF) SELECT * FROM orp WHERE (part = 1 AND ts >= '2000-01-01') OR (part = 2 AND offs < 2);
SELECT orp_check('(part = 1 AND ts >= ''2000-01-01'') OR (part = 2 AND offs < 2)');
SELECT orp_check('(part = 1 AND ts > now() + interval ''1 day'') OR (part = 2 AND offs < 2)');

-- parameters: the set is computed when the scan starts (a generic plan shows it once run)
SET plan_cache_mode = force_generic_plan;
PREPARE orq(int, int, bigint, bigint) AS SELECT count(*), sum(x) FROM orp
  WHERE (part = $1 AND offs BETWEEN $3 AND $3 + 9) OR (part = $2 AND offs < $4);
EXPLAIN (COSTS OFF) EXECUTE orq(1, 2, 100, 5);
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) EXECUTE orq(1, 2, 100, 5);
EXECUTE orq(1, 2, 100, 5);
SELECT orp_check('(part = 1 AND offs BETWEEN 100 AND 109) OR (part = 2 AND offs < 5)');
EXECUTE orq(3, 3, 600, 2);
SELECT orp_check('(part = 3 AND offs BETWEEN 600 AND 609) OR (part = 3 AND offs < 2)');
EXECUTE orq(NULL, 0, 0, 3);
PREPARE orq2(int[], bigint[], int, bigint) AS SELECT count(*), sum(x) FROM orp
  WHERE (part = ANY ($1) AND offs = ANY ($2)) OR (part = $3 AND offs >= $4);
SELECT orp_read('EXECUTE orq2(''{0,1}'', ''{10,11,12,300}'', 3, 695)');
EXECUTE orq2('{0,1}', '{10,11,12,300}', 3, 695);
SELECT orp_check('(part = ANY (''{0,1}'') AND offs = ANY (''{10,11,12,300}'')) OR (part = 3 AND offs >= 695)');
EXECUTE orq2('{}', '{1}', 2, 699);
EXECUTE orq2(NULL, '{1}', NULL, 0);
DEALLOCATE orq;
DEALLOCATE orq2;
RESET plan_cache_mode;
-- a parameter of each outer row: the set is computed again on each rescan
SELECT v.p, s.c, s.total FROM (VALUES (0), (2), (3)) v(p),
  LATERAL (SELECT count(*) c, sum(x) total FROM orp WHERE (part = v.p AND offs < 3) OR (part = v.p + 1 AND offs = 7)) s
 ORDER BY 1;
SELECT v.p, s.c, s.total FROM (VALUES (0), (2), (3)) v(p),
  LATERAL (SELECT count(*) c, sum(x) total FROM orp WHERE ((part + 0) = v.p AND (offs + 0) < 3) OR ((part + 0) = v.p + 1 AND (offs + 0) = 7)) s
 ORDER BY 1;

-- beyond 10,000 ranges a set is widened (a union to the range enclosing it, an
-- intersection to the smaller side): still the right rows
SELECT orp_read('SELECT * FROM orp WHERE offs = ANY (ARRAY(SELECT generate_series(0, 30000, 2)))');
SELECT orp_check('offs = ANY (ARRAY(SELECT generate_series(0, 30000, 2)))');
SELECT orp_read('SELECT * FROM orp WHERE (part = 0 AND offs = ANY (ARRAY(SELECT generate_series(0, 19998, 2))))
  OR (part = 1 AND offs = ANY (ARRAY(SELECT generate_series(1, 19999, 2))))');
SELECT orp_check('(part = 0 AND offs = ANY (ARRAY(SELECT generate_series(0, 19998, 2))))
  OR (part = 1 AND offs = ANY (ARRAY(SELECT generate_series(1, 19999, 2))))');
SELECT orp_read('SELECT * FROM orp WHERE offs = ANY (ARRAY(SELECT generate_series(0, 18000, 2)))
  AND (part = ANY (ARRAY(SELECT generate_series(0, 18000, 2))) OR part = 1)');
SELECT orp_check('offs = ANY (ARRAY(SELECT generate_series(0, 18000, 2)))
  AND (part = ANY (ARRAY(SELECT generate_series(0, 18000, 2))) OR part = 1)');
-- ... and under the cap, many ranges are read exactly
SELECT orp_read('SELECT * FROM orp WHERE part = 2 AND offs = ANY (ARRAY(SELECT generate_series(0, 19998, 2)))');
SELECT orp_check('part = 2 AND offs = ANY (ARRAY(SELECT generate_series(0, 19998, 2)))');

-- a parallel scan shares the ranges of the set among the workers; same rows as serial
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF) SELECT count(*), sum(x) FROM orp
 WHERE (part = 1 AND offs BETWEEN 100 AND 200) OR (part IN (0, 2) AND offs IN (5, 6, 600)) OR (part = 3 AND offs >= 650);
SELECT orp_read('SELECT count(*), sum(x) FROM orp
 WHERE (part = 1 AND offs BETWEEN 100 AND 200) OR (part IN (0, 2) AND offs IN (5, 6, 600)) OR (part = 3 AND offs >= 650)');
SELECT count(*), sum(x) FROM orp
 WHERE (part = 1 AND offs BETWEEN 100 AND 200) OR (part IN (0, 2) AND offs IN (5, 6, 600)) OR (part = 3 AND offs >= 650);
SELECT orp_check('(part = 1 AND offs BETWEEN 100 AND 200) OR (part IN (0, 2) AND offs IN (5, 6, 600)) OR (part = 3 AND offs >= 650)');
SET max_parallel_workers_per_gather = 0;
SELECT count(*), sum(x) FROM orp
 WHERE (part = 1 AND offs BETWEEN 100 AND 200) OR (part IN (0, 2) AND offs IN (5, 6, 600)) OR (part = 3 AND offs >= 650);
RESET ALL;

DROP FUNCTION orp_check(text);
DROP FUNCTION orp_read(text);
DROP FOREIGN TABLE orp;
SELECT kafka_delete_topic('kafka', 'orp');
