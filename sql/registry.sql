-- registry: the schema registry client (src/registry.c) and its SQL functions, against the
-- real registry of the test bed (scripts/registry.sh: Apicurio Registry's Confluent API; its URL
-- comes from SCHEMA_REGISTRY_URL).  Ids are global to the registry and other tests register
-- schemas too: ids are compared, never shown.
\getenv registry SCHEMA_REGISTRY_URL
SET client_min_messages = notice;

-- ---- options --------------------------------------------------------------------------------
-- the URL: http or https, no credentials, no query; the CA as PEM text, not a file
CREATE SERVER reg_bad FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers 'a:1', schema_registry 'ftp://host/');
CREATE SERVER reg_bad FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers 'a:1', schema_registry 'host:8081');
CREATE SERVER reg_bad FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers 'a:1', schema_registry 'http://');
CREATE SERVER reg_bad FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers 'a:1', schema_registry 'http://user:pw@host:8081');
CREATE SERVER reg_bad FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers 'a:1', schema_registry 'http://host:8081/?x=1');
CREATE SERVER reg_bad FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers 'a:1', schema_registry 'http://host :8081');
CREATE SERVER reg_bad FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers 'a:1', schema_registry_ca '/etc/ssl/certs/ca-certificates.crt');
-- credentials only in user mappings; the registry only in servers
CREATE SERVER reg_bad FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers 'a:1', schema_registry_password 'secret');
CREATE SERVER reg_bad FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers 'a:1', schema_registry_user 'u');
CREATE FOREIGN TABLE reg_bad (v text) SERVER kafka OPTIONS (topic 't', schema_registry 'http://h/');
CREATE USER MAPPING FOR CURRENT_USER SERVER kafka OPTIONS (schema_registry 'http://h/');
CREATE USER MAPPING FOR CURRENT_USER SERVER kafka OPTIONS (schema_registry_password '');
-- a server without a registry
SELECT show_error($$SELECT kafka.registry_subjects('kafka')$$);

CREATE SERVER reg FOREIGN DATA WRAPPER kafka_fdw
  OPTIONS (brokers '127.0.0.1:1', schema_registry :'registry', timeout_ms '10000');
-- a user mapping with credentials (the test registry does not ask for them)
CREATE USER MAPPING FOR CURRENT_USER SERVER reg
  OPTIONS (schema_registry_user 'reg_user', schema_registry_password 'reg-secret-pw');

-- ---- register, by id, latest ----------------------------------------------------------------
SELECT kafka.registry_register('reg', 'reg_t-value',
  '{"type":"record","name":"T","fields":[{"name":"a","type":"int"}]}') AS id1 \gset
-- idempotent, and the registry canonicalises the text: other whitespace is the same schema
SELECT kafka.registry_register('reg', 'reg_t-value',
  '{ "type": "record", "name": "T", "fields": [ {"name": "a", "type": "int"} ] }') = :id1 AS same_id;
SELECT kafka.registry_schema('reg', :id1);
SELECT id = :id1 AS same_id, version, schema FROM kafka.registry_latest('reg', 'reg_t-value');
-- subject names are escaped in URLs
SELECT kafka.registry_register('reg', 'reg/odd subject?#%',
  '{"type":"enum","name":"E","symbols":["A","B"]}') > 0 AS registered;
SELECT version, schema FROM kafka.registry_latest('reg', 'reg/odd subject?#%');
SELECT s FROM kafka.registry_subjects('reg') s WHERE s LIKE 'reg%' ORDER BY 1;

-- ---- compatibility: levels set through the API, candidates checked against v1 {a: int} -------
CREATE FUNCTION reg_matrix(subject text) RETURNS TABLE (level text, candidate text, ok boolean)
LANGUAGE plpgsql AS $$
DECLARE l text; c record;
BEGIN
  FOREACH l IN ARRAY ARRAY['BACKWARD', 'FORWARD', 'FULL', 'NONE'] LOOP
    level := kafka.registry_set_compatibility('reg', subject, l);
    FOR c IN SELECT * FROM (VALUES
      (1, 'add b without default', '{"type":"record","name":"T","fields":[{"name":"a","type":"int"},{"name":"b","type":"string"}]}'),
      (2, 'add b with default',    '{"type":"record","name":"T","fields":[{"name":"a","type":"int"},{"name":"b","type":"string","default":"x"}]}'),
      (3, 'drop a',                '{"type":"record","name":"T","fields":[]}'),
      (4, 'a int -> long',         '{"type":"record","name":"T","fields":[{"name":"a","type":"long"}]}'),
      (5, 'a int -> string',       '{"type":"record","name":"T","fields":[{"name":"a","type":"string"}]}'),
      (6, 'same',                  '{"type":"record","name":"T","fields":[{"name":"a","type":"int"}]}')) v(n, name, schema)
      ORDER BY n
    LOOP
      candidate := c.name;
      ok := (kafka.check_compatibility('reg', subject, c.schema)).is_compatible;
      RETURN NEXT;
    END LOOP;
  END LOOP;
END $$;
SELECT * FROM reg_matrix('reg_t-value');
-- the level that applies, and what check_compatibility returns
SELECT kafka.registry_set_compatibility('reg', 'reg_t-value', 'backward');
SELECT kafka.registry_compatibility('reg', 'reg_t-value');
SELECT is_compatible, level, messages IS NOT NULL AS has_messages
  FROM kafka.check_compatibility('reg', 'reg_t-value',
    '{"type":"record","name":"T","fields":[{"name":"a","type":"int"},{"name":"b","type":"string"}]}');
-- a subject without versions accepts anything
SELECT is_compatible FROM kafka.check_compatibility('reg', 'reg_nothing-value', '"string"');
-- a compatible new version is registered as version 2; an incompatible one is refused (409)
SELECT kafka.registry_register('reg', 'reg_t-value',
  '{"type":"record","name":"T","fields":[{"name":"a","type":"int"},{"name":"b","type":"string","default":"x"}]}') <> :id1 AS new_id;
SELECT version FROM kafka.registry_latest('reg', 'reg_t-value');
SELECT show_error($$SELECT kafka.registry_register('reg', 'reg_t-value',
  '{"type":"record","name":"T","fields":[{"name":"a","type":"string"}]}')$$);
SELECT version FROM kafka.registry_latest('reg', 'reg_t-value');

-- ---- errors -----------------------------------------------------------------------------------
-- invalid schemas (422)
SELECT show_error($$SELECT kafka.registry_register('reg', 'reg_bad-value', 'not json at all')$$);
SELECT show_error($$SELECT kafka.check_compatibility('reg', 'reg_t-value', '{"type":"recxord"}')$$);
-- unknown subject and id (404: 40401, 40403)
SELECT show_error($$SELECT kafka.registry_latest('reg', 'reg_no_such_subject')$$);
SELECT show_error($$SELECT kafka.registry_schema('reg', 2000000000)$$);
-- invalid arguments
SELECT show_error($$SELECT kafka.registry_set_compatibility('reg', 'reg_t-value', 'SOMETIMES')$$);
SELECT show_error($$SELECT kafka.registry_latest('reg', '')$$);
SELECT show_error($$SELECT kafka.registry_latest('reg', NULL)$$);
SELECT show_error($$SELECT kafka.registry_subjects('no_such_server')$$);
-- a URL that is not the Confluent API (Apicurio's root, without /apis/ccompat/v7)
CREATE SERVER reg_root FOREIGN DATA WRAPPER kafka_fdw
  OPTIONS (brokers '127.0.0.1:1', schema_registry :'registry', timeout_ms '10000');
SELECT regexp_replace(:'registry', '/apis/ccompat/v7$', '') AS root \gset
ALTER SERVER reg_root OPTIONS (SET schema_registry :'root');
SELECT show_error($$SELECT kafka.registry_subjects('reg_root')$$);
-- nothing listens: a clear error, well within timeout_ms
CREATE SERVER reg_down FOREIGN DATA WRAPPER kafka_fdw
  OPTIONS (brokers '127.0.0.1:1', schema_registry 'http://127.0.0.1:1', timeout_ms '3000');
SELECT clock_timestamp() AS t0 \gset
SELECT show_error($$SELECT kafka.registry_subjects('reg_down')$$);
SELECT clock_timestamp() - :'t0'::timestamptz < interval '3 s' AS within_timeout;
-- https against a plain http registry: a TLS error with a hint about the CA
SELECT regexp_replace(:'registry', '^http:', 'https:') AS https_url \gset
ALTER SERVER reg_down OPTIONS (SET schema_registry :'https_url');
SELECT show_error($$SELECT kafka.registry_subjects('reg_down')$$);

-- ---- who may use it ---------------------------------------------------------------------------
CREATE ROLE reg_plain;
SET ROLE reg_plain;
SELECT show_error($$SELECT kafka.check_compatibility('reg', 'reg_t-value', '"string"')$$);
RESET ROLE;
GRANT USAGE ON FOREIGN SERVER reg TO reg_plain;
SET ROLE reg_plain;
SELECT is_compatible, level FROM kafka.check_compatibility('reg', 'reg_t-value', '"string"');
SELECT kafka.registry_schema('reg', :id1) IS NOT NULL AS readable;
-- changing the registry is not for PUBLIC
SELECT show_error($$SELECT kafka.registry_register('reg', 'reg_t-value', '"string"')$$);
SELECT show_error($$SELECT kafka.registry_set_compatibility('reg', 'reg_t-value', 'NONE')$$);
-- a non-superuser may point a server of their own at a registry, with their own credentials
RESET ROLE;
GRANT USAGE ON FOREIGN DATA WRAPPER kafka_fdw TO reg_plain;
SET ROLE reg_plain;
CREATE SERVER reg_own FOREIGN DATA WRAPPER kafka_fdw
  OPTIONS (brokers '127.0.0.1:1', schema_registry :'registry', schema_registry_ca '-----BEGIN CERTIFICATE-----
MIIB
-----END CERTIFICATE-----');
ALTER SERVER reg_own OPTIONS (DROP schema_registry_ca);
CREATE USER MAPPING FOR CURRENT_USER SERVER reg_own
  OPTIONS (schema_registry_user 'me', schema_registry_password 'my-pw');
SELECT kafka.registry_compatibility('reg_own', 'reg_t-value');
RESET ROLE;

-- clean up
DROP SERVER reg_own CASCADE;
REVOKE ALL ON FOREIGN DATA WRAPPER kafka_fdw FROM reg_plain;
DROP SERVER reg CASCADE;
DROP SERVER reg_root, reg_down;
DROP ROLE reg_plain;
DROP FUNCTION reg_matrix(text);
