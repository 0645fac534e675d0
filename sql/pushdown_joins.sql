-- pushdown_joins: pushdown when the foreign table is not the first relation of the query
-- (joins, self-joins, LATERAL, CTEs, parameterized nested loops, UNION ALL, inheritance).
-- Clauses used to be deparsed for EXPLAIN as if the table were range-table entry 1, which
-- failed with "bogus varno". Each result is compared with the same query over a local copy.
SELECT kafka_create_topic('kafka', 'pj', 4);
-- 50 messages per partition: x = partition * 1000 + offset
\! for p in 0 1 2 3; do seq 0 49 | awk -v p=$p '{ printf "{\"x\":%d}\n", p * 1000 + $1 }' | kcat -b "$KAFKA_BROKERS" -P -t pj -p $p; done
CREATE FOREIGN TABLE pj (part int OPTIONS (partition 'true'), offs bigint OPTIONS (offset 'true'), x int)
  SERVER kafka OPTIONS (topic 'pj', format 'json');
-- what kcat wrote (so that a shortfall below says whether writing or reading lost messages)
SELECT partition, low, high FROM kafka_watermarks('pj') ORDER BY 1;
CREATE TABLE pj_local AS SELECT p AS part, o::bigint AS offs, p * 1000 + o AS x
  FROM generate_series(0, 3) p, generate_series(0, 49) o;
CREATE TABLE pj_loyalty (loyalty_id int, level text);
INSERT INTO pj_loyalty VALUES (1, 'gold'), (2, 'silver'), (7, 'none');
-- the same rows as the local copy
SELECT count(*) FROM (SELECT * FROM pj EXCEPT SELECT * FROM pj_local) d;
SELECT count(*) FROM (SELECT * FROM pj_local EXCEPT SELECT * FROM pj) d;

-- a join with a local table, filtered on the partition of the foreign table (relid 2)
EXPLAIN (COSTS OFF)
SELECT count(*) FROM pj_loyalty l JOIN pj v ON l.loyalty_id = v.part WHERE v.part = 1;
SELECT count(*), sum(x) FROM pj_loyalty l JOIN pj v ON l.loyalty_id = v.part WHERE v.part = 1;
SELECT count(*), sum(x) FROM pj_loyalty l JOIN pj_local v ON l.loyalty_id = v.part WHERE v.part = 1;

-- a self-join, each side with its own pushdown
EXPLAIN (COSTS OFF)
SELECT count(*) FROM pj a JOIN pj b ON a.part = b.part AND a.offs = b.offs + 1
 WHERE a.part = 2 AND b.part IN (2, 3) AND b.offs < 10;
SELECT count(*), sum(a.x - b.x) FROM pj a JOIN pj b ON a.part = b.part AND a.offs = b.offs + 1
 WHERE a.part = 2 AND b.part IN (2, 3) AND b.offs < 10;
SELECT count(*), sum(a.x - b.x) FROM pj_local a JOIN pj_local b ON a.part = b.part AND a.offs = b.offs + 1
 WHERE a.part = 2 AND b.part IN (2, 3) AND b.offs < 10;

-- a LATERAL subquery: the partition comes from the outer row, as a parameter
EXPLAIN (COSTS OFF)
SELECT l.loyalty_id, s.n, s.total FROM pj_loyalty l,
  LATERAL (SELECT count(*) n, sum(x) total FROM pj WHERE part = l.loyalty_id AND offs < 5) s ORDER BY 1;
SELECT l.loyalty_id, s.n, s.total FROM pj_loyalty l,
  LATERAL (SELECT count(*) n, sum(x) total FROM pj WHERE part = l.loyalty_id AND offs < 5) s ORDER BY 1;
SELECT l.loyalty_id, s.n, s.total FROM pj_loyalty l,
  LATERAL (SELECT count(*) n, sum(x) total FROM pj_local WHERE part = l.loyalty_id AND offs < 5) s ORDER BY 1;

-- a parameterized nested loop: the inner foreign scan is rescanned with each outer row's value
SET enable_hashjoin = off;
SET enable_mergejoin = off;
EXPLAIN (COSTS OFF)
SELECT l.loyalty_id, v.offs, v.x FROM pj_loyalty l
  JOIN LATERAL (SELECT * FROM pj WHERE part = l.loyalty_id AND offs >= 48 OFFSET 0) v ON true ORDER BY 1, 2;
SELECT l.loyalty_id, v.offs, v.x FROM pj_loyalty l
  JOIN LATERAL (SELECT * FROM pj WHERE part = l.loyalty_id AND offs >= 48 OFFSET 0) v ON true ORDER BY 1, 2;
RESET enable_hashjoin;
RESET enable_mergejoin;
-- and a prepared join whose pushed-down value is a statement parameter (generic plan)
SET plan_cache_mode = force_generic_plan;
PREPARE pj_q(int) AS
  SELECT l.level, count(*), sum(v.x) FROM pj_loyalty l JOIN pj v ON v.part = l.loyalty_id
   WHERE v.part = $1 AND v.offs BETWEEN 10 AND 19 GROUP BY l.level;
EXPLAIN (COSTS OFF) EXECUTE pj_q(2);
EXECUTE pj_q(2);
EXECUTE pj_q(3);
DEALLOCATE pj_q;
RESET plan_cache_mode;

-- a join against a CTE, and a CTE over the foreign table
EXPLAIN (COSTS OFF)
WITH c AS MATERIALIZED (SELECT 3 AS p)
SELECT count(*) FROM c JOIN pj ON pj.part = c.p WHERE pj.part = 3 AND pj.offs >= 40;
WITH c AS MATERIALIZED (SELECT 3 AS p)
SELECT count(*), sum(x) FROM c JOIN pj ON pj.part = c.p WHERE pj.part = 3 AND pj.offs >= 40;
WITH c AS MATERIALIZED (SELECT 3 AS p)
SELECT count(*), sum(x) FROM c JOIN pj_local ON pj_local.part = c.p WHERE pj_local.part = 3 AND pj_local.offs >= 40;
EXPLAIN (COSTS OFF)
WITH k AS MATERIALIZED (SELECT * FROM pj WHERE part = 0 AND offs < 7)
SELECT l.level, count(*) FROM pj_loyalty l, k GROUP BY l.level ORDER BY 1;
WITH k AS MATERIALIZED (SELECT * FROM pj WHERE part = 0 AND offs < 7)
SELECT l.level, count(*), sum(k.x) FROM pj_loyalty l, k GROUP BY l.level ORDER BY 1;

-- UNION ALL of two scans of the table, and the table as an inheritance child
EXPLAIN (COSTS OFF)
SELECT count(*) FROM (SELECT x FROM pj WHERE part = 0 UNION ALL SELECT x FROM pj WHERE part = 1 AND offs < 3) u;
SELECT count(*), sum(x) FROM (SELECT x FROM pj WHERE part = 0 UNION ALL SELECT x FROM pj WHERE part = 1 AND offs < 3) u;
CREATE TABLE pj_parent (part int, offs bigint, x int);
CREATE FOREIGN TABLE pj_child () INHERITS (pj_parent) SERVER kafka OPTIONS (topic 'pj', format 'json');
ALTER FOREIGN TABLE pj_child ALTER part OPTIONS (partition 'true'), ALTER offs OPTIONS (offset 'true');
EXPLAIN (COSTS OFF) SELECT count(*) FROM pj_parent WHERE part = 3 AND offs < 20;
SELECT count(*), sum(x) FROM pj_parent WHERE part = 3 AND offs < 20;

DROP TABLE pj_parent CASCADE;
DROP TABLE pj_local, pj_loyalty;
DROP FOREIGN TABLE pj;
SELECT kafka_delete_topic('kafka', 'pj');
