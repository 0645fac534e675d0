-- setup: the extension installs and a server points at the test broker.
-- Every later test uses the server "kafka" created here; the broker address
-- comes from the environment (scripts/test.sh sets KAFKA_BROKERS).
CREATE EXTENSION kafka_fdw;
SELECT fdwname, fdwhandler::regproc, fdwvalidator::regproc FROM pg_foreign_data_wrapper;
\getenv brokers KAFKA_BROKERS
CREATE SERVER kafka FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers :'brokers');
-- errors as code, message and hint (the detail, librdkafka's own words, varies)
CREATE FUNCTION show_error(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE st text; msg text; hint text;
BEGIN
  EXECUTE q;
  RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, hint = PG_EXCEPTION_HINT;
  RETURN st || ': ' || msg || CASE WHEN hint <> '' THEN E'\nHINT: ' || hint ELSE '' END;
END $$;
-- wait (up to 60 s) until a query returns true (the background workers' results)
CREATE FUNCTION wait_true(q text) RETURNS bool LANGUAGE plpgsql AS $$
DECLARE ok bool;
BEGIN
  FOR i IN 1..600 LOOP
    PERFORM pg_stat_clear_snapshot();   -- pg_stat_activity afresh
    EXECUTE q INTO ok;
    IF ok THEN RETURN true; END IF;
    PERFORM pg_sleep(0.1);
  END LOOP;
  RETURN false;
END $$;
-- Kafka writes a transaction's commit markers after its commit returned: wait
-- (up to 30 s) until a read_committed scan sees n rows of a query
CREATE FUNCTION wait_rows(q text, n bigint) RETURNS bool LANGUAGE plpgsql AS $$
DECLARE c bigint;
BEGIN
  FOR i IN 1..300 LOOP
    EXECUTE 'SELECT count(*) FROM (' || q || ') s' INTO c;
    IF c >= n THEN RETURN c = n; END IF;
    PERFORM pg_sleep(0.1);
  END LOOP;
  RETURN false;
END $$;
-- the broker answers: create a topic and see it with its partitions
SELECT kafka_create_topic('kafka', 'setup_topic', 3);
SELECT topic, partition, low, high FROM kafka_topics('kafka') WHERE topic = 'setup_topic';
-- creating it again is a clear error; deleting it makes it go (and stay) away
SELECT show_error($$SELECT kafka_create_topic('kafka', 'setup_topic', 3)$$);
SELECT kafka_delete_topic('kafka', 'setup_topic');
SELECT count(*) FROM kafka_topics('kafka') WHERE topic = 'setup_topic';
SELECT show_error($$SELECT kafka_delete_topic('kafka', 'setup_topic')$$);
-- a server whose broker does not answer fails within timeout_ms, with a hint
CREATE SERVER nowhere FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers '127.0.0.1:1', timeout_ms '1500');
SELECT show_error($$SELECT * FROM kafka_topics('nowhere')$$);
CREATE FOREIGN TABLE nowhere_t (v text) SERVER nowhere OPTIONS (topic 'x', format 'text');
SELECT show_error('SELECT * FROM nowhere_t');
