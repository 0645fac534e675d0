-- handles: kafka_fdw.max_handles caps the librdkafka handles a session keeps
-- (each has its own threads and sockets); idle ones are retired to stay
-- under it, and a query that needs more at once than allowed is refused.
\set VERBOSITY default
SHOW kafka_fdw.max_handles;
-- a superuser setting: a user cannot raise it
CREATE ROLE kafka_handles_user;
SET ROLE kafka_handles_user;
SET kafka_fdw.max_handles = 1000;
RESET ROLE;
DROP ROLE kafka_handles_user;
SET kafka_fdw.max_handles = 1;
SET kafka_fdw.max_handles = 1001;

SELECT kafka_create_topic('kafka', 'handles_t', 1);
CREATE FOREIGN TABLE handles_t (id int) SERVER kafka OPTIONS (topic 'handles_t');
INSERT INTO handles_t SELECT g FROM generate_series(1, 3) g;
-- two tables with their own librdkafka properties: their own handles
CREATE FOREIGN TABLE handles_a (id int) SERVER kafka OPTIONS (topic 'handles_t', "client.id" 'handles_a');
CREATE FOREIGN TABLE handles_b (id int) SERVER kafka OPTIONS (topic 'handles_t', "client.id" 'handles_b');

-- at the smallest cap, alternating scans retire each other's used handles
SET kafka_fdw.max_handles = 2;
SELECT count(*), sum(id) FROM handles_a;
SELECT count(*), sum(id) FROM handles_b;
SELECT count(*), sum(id) FROM handles_a;
SELECT count(*), sum(id) FROM handles_b;
INSERT INTO handles_a VALUES (4);
SELECT count(*), sum(id) FROM handles_b;

-- two scans running at once need two consumers and a metadata handle:
-- nothing idle is left to retire, so the query is refused (not truncated)
SET enable_hashjoin = off;
SET enable_mergejoin = off;
SELECT count(*) FROM handles_t x JOIN handles_t y ON x.id <= y.id;
-- with room, the same query works, in the same session
SET kafka_fdw.max_handles = 3;
SELECT count(*) FROM handles_t x JOIN handles_t y ON x.id <= y.id;
RESET kafka_fdw.max_handles;
RESET enable_hashjoin;
RESET enable_mergejoin;
SELECT count(*) FROM handles_t x JOIN handles_t y ON x.id <= y.id;
DROP FOREIGN TABLE handles_t, handles_a, handles_b;
SELECT kafka_delete_topic('kafka', 'handles_t');
