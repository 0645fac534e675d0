/* kafka_fdw--1.0.sql: install script */

\echo Use "CREATE EXTENSION kafka_fdw" to load this file. \quit

CREATE FUNCTION kafka_fdw_handler()
RETURNS fdw_handler
AS 'MODULE_PATHNAME'
LANGUAGE C STRICT;

CREATE FUNCTION kafka_fdw_validator(text[], oid)
RETURNS void
AS 'MODULE_PATHNAME'
LANGUAGE C STRICT;

CREATE FOREIGN DATA WRAPPER kafka_fdw
  HANDLER kafka_fdw_handler
  VALIDATOR kafka_fdw_validator;

COMMENT ON FOREIGN DATA WRAPPER kafka_fdw IS 'Apache Kafka topics as foreign tables';

CREATE FUNCTION kafka_create_topic(server name, topic text, partitions int DEFAULT 1,
                                   replication_factor int DEFAULT 1)
RETURNS void
AS 'MODULE_PATHNAME'
LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION kafka_create_topic(name, text, int, int) IS 'create a Kafka topic through a kafka_fdw server';

CREATE FUNCTION kafka_delete_topic(server name, topic text)
RETURNS void
AS 'MODULE_PATHNAME'
LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION kafka_delete_topic(name, text) IS 'delete a Kafka topic through a kafka_fdw server';

CREATE FUNCTION kafka_topics(server name,
                             OUT topic text, OUT partition int, OUT low bigint, OUT high bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME'
LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION kafka_topics(name) IS 'topics of a kafka_fdw server with their partitions and watermarks';

CREATE FUNCTION kafka_watermarks(foreign_table regclass,
                                 OUT partition int, OUT low bigint, OUT high bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME'
LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION kafka_watermarks(regclass) IS 'low and high watermark of each partition of a kafka_fdw foreign table';

REVOKE ALL ON FUNCTION kafka_create_topic(name, text, int, int) FROM PUBLIC;
REVOKE ALL ON FUNCTION kafka_delete_topic(name, text) FROM PUBLIC;
