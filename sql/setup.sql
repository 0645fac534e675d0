-- setup: the extension installs and a server points at the test broker.
-- Every later test uses the server "kafka" created here; the broker address
-- comes from the environment (scripts/test.sh sets KAFKA_BROKERS).
CREATE EXTENSION kafka_fdw;
SELECT fdwname, fdwhandler::regproc, fdwvalidator::regproc FROM pg_foreign_data_wrapper;
\getenv brokers KAFKA_BROKERS
CREATE SERVER kafka FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers :'brokers');
-- the broker answers: create a topic and see it with its partitions
SELECT kafka_create_topic('kafka', 'setup_topic', 3);
SELECT topic, partition, low, high FROM kafka_topics('kafka') WHERE topic = 'setup_topic';
-- a server whose broker does not answer fails within timeout_ms, with a hint
CREATE SERVER nowhere FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers '127.0.0.1:1', timeout_ms '1500');
SELECT * FROM kafka_topics('nowhere');
CREATE FOREIGN TABLE nowhere_t (v text) SERVER nowhere OPTIONS (topic 'x', format 'text');
SELECT * FROM nowhere_t;
