-- adjust/kafka_fdw compatibility: junk handling, strict, encoding, force_not_null,
-- force_null, kafka_get_watermarks, and the DDL of an adjust/kafka_fdw table as it is.
\getenv brokers KAFKA_BROKERS

-- CSV messages like adjust/kafka_fdw's junk test: 0 good, 1 an extra field, 2 a bad date,
-- 3 an unterminated quote, 4 three failures, 5 a field short, 6 good with a NULL time
SELECT kafka_create_topic('kafka', 'adj_csv', 1);
\! printf '%s\n' '91,correct line,2015-01-01,2015-01-01 01:31:00' '131,"additional data",2015-01-01,2015-01-01 02:11:00,aditional data' '371,"invalid date",invalid_date,2015-01-01 06:11:00' '401,"unterminated string","2015-01-01,2015-01-01 06:41:00' '999999999999999,"invalid number, invalid date and extra data",20-20-2015,2015-01-01 09:31:00,extra data' '501,short' '521,"null time",2015-01-01,' | kcat -b "$KAFKA_BROKERS" -P -t adj_csv -p 0

-- a table with junk and junk_error columns handles bad messages without further options:
-- every field that decodes is kept, junk_error lists every failure, one per line
CREATE FOREIGN TABLE adj_csv_junk (
    part int OPTIONS (partition 'true'),
    offs bigint OPTIONS (offset 'true'),
    some_int int,
    some_text text,
    some_date date,
    some_time timestamp,
    junk text OPTIONS (junk 'true'),
    junk_err text OPTIONS (junk_error 'true'))
  SERVER kafka OPTIONS (format 'csv', topic 'adj_csv', batch_size '30', buffer_delay '100');
SELECT offs, some_int, some_text, some_date, some_time, junk, string_to_array(junk_err, E'\n')
  FROM adj_csv_junk WHERE offs >= 0 AND part = 0 ORDER BY offs;
-- only the junk columns: the same messages are found
SELECT offs FROM adj_csv_junk WHERE junk_err IS NOT NULL ORDER BY offs;
-- strict: a field short is a failure too
ALTER FOREIGN TABLE adj_csv_junk OPTIONS (ADD strict 'true');
SELECT offs, some_int, some_text, string_to_array(junk_err, E'\n')
  FROM adj_csv_junk WHERE junk_err IS NOT NULL ORDER BY offs;
-- an explicit on_error wins over the junk columns
ALTER FOREIGN TABLE adj_csv_junk OPTIONS (ADD on_error 'fail');
SELECT show_error('SELECT * FROM adj_csv_junk');
ALTER FOREIGN TABLE adj_csv_junk OPTIONS (SET on_error 'skip', DROP strict);
SELECT offs, some_int, junk, junk_err FROM adj_csv_junk ORDER BY offs;
-- ignore_junk 'true' without junk columns: the rows come back with the failed fields NULL
CREATE FOREIGN TABLE adj_csv_ignore (
    part int OPTIONS (partition 'true'),
    offs bigint OPTIONS (offset 'true'),
    some_int int,
    some_text text,
    some_date date,
    some_time timestamp)
  SERVER kafka OPTIONS (format 'csv', topic 'adj_csv', batch_size '30', buffer_delay '100', ignore_junk 'true');
SELECT * FROM adj_csv_ignore WHERE offs >= 0 AND part = 0 ORDER BY offs;
-- without junk handling extra fields are ignored and missing ones NULL; fail stops at
-- the first error as always
ALTER FOREIGN TABLE adj_csv_ignore OPTIONS (DROP ignore_junk);
SELECT * FROM adj_csv_ignore WHERE offs IN (0, 1, 5, 6) ORDER BY offs;
SELECT show_error('SELECT * FROM adj_csv_ignore WHERE offs = 4');
-- on_error given on the server is explicit too; ignore_junk on the table overrides it
CREATE SERVER kafka_failing FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers :'brokers', on_error 'fail');
CREATE FOREIGN TABLE adj_srv (offs bigint OPTIONS (offset 'true'), some_int int, some_text text,
                              some_date date, some_time timestamp, why text OPTIONS (junk_error 'true'))
  SERVER kafka_failing OPTIONS (format 'csv', topic 'adj_csv');
SELECT show_error('SELECT * FROM adj_srv');
ALTER FOREIGN TABLE adj_srv OPTIONS (ADD ignore_junk 'true');
SELECT offs, some_int, some_text, why FROM adj_srv WHERE offs IN (2, 4) ORDER BY offs;
-- ... and the table's on_error wins over its ignore_junk
ALTER FOREIGN TABLE adj_srv OPTIONS (ADD on_error 'skip');
SELECT offs, some_int, some_text, why FROM adj_srv ORDER BY offs;
DROP FOREIGN TABLE adj_srv;
DROP SERVER kafka_failing;

-- JSON: 0 good, 1 a key the table lacks, 2 an object into int and a bad date, 3 a string
-- that is not a number, 4 a bad escape, 5 truncated, 6 out of range and a bad date,
-- 7 a repeated key (the last counts), 8 not an object
SELECT kafka_create_topic('kafka', 'adj_json', 1);
\! printf '%s\n' '{"int_val": 1, "text_val": "correct line", "date_val": "2015-01-12", "time_val": "2015-01-12T13:42:21"}' '{"int_val": 2, "text_val": "additional data", "date_val": "2015-01-12", "more_val": "too much data"}' '{"int_val": {"a": 1}, "text_val": "object into int", "date_val": "foob"}' '{"int_val": "nine", "text_val": "string into int", "date_val": "2015-01-12"}' '{"int_val": 4, "text_val": "bad \q escape", "date_val": "2015-01-12"}' '{"int_val": 5, "text_val": "trunc' '{"int_val": "9998119999999999", "text_val": "invalid number and date", "date_val": "2015-13-13"}' '{"int_val": 7, "time_val": "2015-01-12T13:43:01", "time_val": "2015-01-12T13:42:51"}' '[1, 2]' | kcat -b "$KAFKA_BROKERS" -P -t adj_json -p 0
CREATE FOREIGN TABLE adj_json_junk (
    part int OPTIONS (partition 'true'),
    offs bigint OPTIONS (offset 'true'),
    int_val int,
    text_val text,
    some_date date OPTIONS (json 'date_val'),
    time_val timestamp,
    junk text OPTIONS (junk 'true'),
    junk_err text OPTIONS (junk_error 'true'))
  SERVER kafka OPTIONS (format 'json', topic 'adj_json');
SELECT offs, int_val, text_val, some_date, time_val, junk IS NOT NULL AS junk,
       string_to_array(junk_err, E'\n') FROM adj_json_junk ORDER BY offs;
-- strict: a key the table lacks is a failure too
ALTER FOREIGN TABLE adj_json_junk OPTIONS (ADD strict 'true');
SELECT offs, int_val, text_val, string_to_array(junk_err, E'\n')
  FROM adj_json_junk WHERE offs IN (0, 1, 3) ORDER BY offs;
-- strict with on_error fail: an error (a key of a column the query does not need is
-- no failure); skip: skipped
CREATE FOREIGN TABLE adj_json_strict (offs bigint OPTIONS (offset 'true'), int_val int, text_val text,
                                      date_val text, time_val text)
  SERVER kafka OPTIONS (format 'json', topic 'adj_json', strict 'true');
SELECT offs, int_val FROM adj_json_strict WHERE offs = 0;
SELECT show_error('SELECT offs, int_val FROM adj_json_strict WHERE offs = 1');
ALTER FOREIGN TABLE adj_json_strict OPTIONS (ADD on_error 'skip');
SELECT offs, int_val, text_val FROM adj_json_strict ORDER BY offs;
-- without strict, the extra key is no failure
ALTER FOREIGN TABLE adj_json_strict OPTIONS (DROP strict);
SELECT offs, int_val, text_val FROM adj_json_strict WHERE offs IN (0, 1) ORDER BY offs;
-- ignore_junk without junk columns
CREATE FOREIGN TABLE adj_json_ignore (offs bigint OPTIONS (offset 'true'), int_val int, text_val text,
                                      date_val date)
  SERVER kafka OPTIONS (format 'json', topic 'adj_json', ignore_junk 'true');
SELECT * FROM adj_json_ignore ORDER BY offs;
-- a column whose input function runs user code (a domain) is salvaged in a
-- subtransaction of its own; the others are kept
CREATE DOMAIN adj_small AS int CHECK (VALUE < 100);
CREATE FOREIGN TABLE adj_json_dom (offs bigint OPTIONS (offset 'true'), int_val adj_small, text_val text,
                                   why text OPTIONS (junk_error 'true'))
  SERVER kafka OPTIONS (format 'json', topic 'adj_json');
SELECT offs, int_val, text_val, why FROM adj_json_dom WHERE offs IN (0, 3, 6) ORDER BY offs;
-- the key is salvaged on its own as well
SELECT kafka_create_topic('kafka', 'adj_key', 1);
\! printf '%s\n' '1|{"n": 1}' 'x|{"n": 2}' 'y|{"n": "z"}' | kcat -b "$KAFKA_BROKERS" -P -t adj_key -p 0 -K '|'
CREATE FOREIGN TABLE adj_key (k int OPTIONS (key 'true'), n int, why text OPTIONS (junk_error 'true'))
  SERVER kafka OPTIONS (format 'json', topic 'adj_key');
SELECT k, n, string_to_array(why, E'\n') FROM adj_key ORDER BY n;

-- force_not_null and force_null, as in COPY
SELECT kafka_create_topic('kafka', 'adj_force', 1);
\! printf '%s\n' '1,,,""' '2,"","",' '3,x,"y",z' | kcat -b "$KAFKA_BROKERS" -P -t adj_force -p 0
CREATE FOREIGN TABLE adj_force (id int, plain text, fnn text OPTIONS (force_not_null 'true'),
                                fn text OPTIONS (force_null 'true'))
  SERVER kafka OPTIONS (format 'csv', topic 'adj_force');
SELECT id, plain IS NULL AS plain_null, fnn IS NULL AS fnn_null, fnn, fn IS NULL AS fn_null, fn
  FROM adj_force ORDER BY id;
-- with a null string: force_not_null reads the null string itself
SELECT kafka_create_topic('kafka', 'adj_force2', 1);
\! printf '%s\n' '1,NULL,NULL,"NULL"' '2,"NULL","NULL",NULL' | kcat -b "$KAFKA_BROKERS" -P -t adj_force2 -p 0
CREATE FOREIGN TABLE adj_force2 (id int, plain text, fnn text OPTIONS (force_not_null 'true'),
                                 both_ text OPTIONS (force_not_null 'true', force_null 'true'))
  SERVER kafka OPTIONS (format 'csv', topic 'adj_force2', null 'NULL');
SELECT id, plain, plain IS NULL AS plain_null, fnn, fnn IS NULL AS fnn_null, both_, both_ IS NULL AS both_null
  FROM adj_force2 ORDER BY id;
-- they are column options of csv value columns
SELECT show_error($$CREATE FOREIGN TABLE adj_force3 (a text OPTIONS (force_null 'maybe')) SERVER kafka OPTIONS (topic 'adj_force')$$);
CREATE FOREIGN TABLE adj_force3 (a text OPTIONS (force_null 'true')) SERVER kafka OPTIONS (topic 'adj_force', format 'json');
SELECT show_error('SELECT * FROM adj_force3');
CREATE FOREIGN TABLE adj_force4 (o bigint OPTIONS (offset 'true', force_not_null 'true'), a text)
  SERVER kafka OPTIONS (topic 'adj_force', format 'csv');
SELECT show_error('SELECT * FROM adj_force4');

-- encoding: messages in another encoding than UTF-8, converted both ways
SELECT show_error($$CREATE FOREIGN TABLE adj_enc_bad (v text) SERVER kafka OPTIONS (topic 'adj_enc', encoding 'klingon')$$);
SELECT kafka_create_topic('kafka', 'adj_enc', 1);
CREATE FOREIGN TABLE adj_enc (offs bigint OPTIONS (offset 'true'), k text OPTIONS (key 'true'), v text)
  SERVER kafka OPTIONS (topic 'adj_enc', format 'text', encoding 'latin1');
SELECT show_error($$ALTER FOREIGN TABLE adj_enc OPTIONS (SET encoding 'UTF-9')$$);
CREATE FOREIGN TABLE adj_enc_raw (offs bigint OPTIONS (offset 'true'), k bytea OPTIONS (key 'true'), v bytea)
  SERVER kafka OPTIONS (topic 'adj_enc', format 'bytea');
CREATE FOREIGN TABLE adj_enc_utf8 (offs bigint OPTIONS (offset 'true'), v text)
  SERVER kafka OPTIONS (topic 'adj_enc', format 'text');
INSERT INTO adj_enc (k, v) VALUES ('clé', 'crème brûlée');
-- a character LATIN1 does not have: an error, nothing sent
SELECT show_error($$INSERT INTO adj_enc (k, v) VALUES ('k', 'euro €')$$);
SELECT offs, k, v FROM adj_enc_raw ORDER BY offs;
SELECT offs, k, v FROM adj_enc ORDER BY offs;
SELECT show_error('SELECT * FROM adj_enc_utf8');
-- JSON and CSV in WIN1252 (0x80 is the euro sign), and a junk row shows the message as text
SELECT kafka_create_topic('kafka', 'adj_enc_json', 1);
\! printf '{"name":"5 \200","n":1}\n{"name":"caf\351","n":"x"}\n' | kcat -b "$KAFKA_BROKERS" -P -t adj_enc_json -p 0
CREATE FOREIGN TABLE adj_enc_json (offs bigint OPTIONS (offset 'true'), name text, n int,
                                   raw text OPTIONS (junk 'true'), why text OPTIONS (junk_error 'true'))
  SERVER kafka OPTIONS (topic 'adj_enc_json', format 'json', encoding 'WIN1252');
SELECT offs, name, n, raw, why FROM adj_enc_json ORDER BY offs;
-- INSERT writes JSON in WIN1252 too
INSERT INTO adj_enc_json (name, n) VALUES ('€ 3', 3);
CREATE FOREIGN TABLE adj_enc_json_raw (offs bigint OPTIONS (offset 'true'), v bytea)
  SERVER kafka OPTIONS (topic 'adj_enc_json', format 'bytea');
SELECT v FROM adj_enc_json_raw WHERE offs = 2;
SELECT offs, name, n FROM adj_enc_json WHERE offs = 2;
-- bytes that are not valid in the encoding: a bad message
SELECT kafka_create_topic('kafka', 'adj_enc_sjis', 1);
\! printf '\202\240\n\202\n' | kcat -b "$KAFKA_BROKERS" -P -t adj_enc_sjis -p 0
CREATE FOREIGN TABLE adj_enc_sjis (offs bigint OPTIONS (offset 'true'), v text, raw bytea OPTIONS (junk 'true'),
                                   why text OPTIONS (junk_error 'true'))
  SERVER kafka OPTIONS (topic 'adj_enc_sjis', format 'text', encoding 'SJIS');
SELECT offs, v, raw, why FROM adj_enc_sjis ORDER BY offs;
-- an encoding without a conversion to and from the database's: refused when written
SELECT show_error($$CREATE FOREIGN TABLE adj_enc_mule (v text) SERVER kafka OPTIONS (topic 'adj_enc', encoding 'MULE_INTERNAL')$$);

-- kafka_get_watermarks: adjust/kafka_fdw's name and columns for kafka_watermarks
SELECT * FROM kafka_get_watermarks('adj_csv_junk');
SELECT * FROM kafka_get_watermarks(rel => 'adj_json_junk'::regclass);
SELECT w.partition, w.offset_low = k.low AND w.offset_high = k.high AS same
  FROM kafka_get_watermarks('adj_csv_junk') w JOIN kafka_watermarks('adj_csv_junk') k USING (partition);

-- a non-superuser may set these options (they read no files and load nothing)
CREATE ROLE adj_user;
GRANT USAGE ON FOREIGN SERVER kafka TO adj_user;
CREATE SCHEMA adj_schema AUTHORIZATION adj_user;
SET ROLE adj_user;
CREATE FOREIGN TABLE adj_schema.t (part int OPTIONS (partition 'true'), offs bigint OPTIONS (offset 'true'),
                                   a int, b text OPTIONS (force_not_null 'true'), c text OPTIONS (force_null 'true'),
                                   junk text OPTIONS (junk 'true'), junk_error text OPTIONS (junk_error 'true'))
  SERVER kafka OPTIONS (topic 'adj_csv', format 'csv', encoding 'LATIN1', strict 'true', ignore_junk 'true',
                        batch_size '30', buffer_delay '100', num_partitions '1', delimiter ',', quote '"', null '');
ALTER FOREIGN TABLE adj_schema.t OPTIONS (SET encoding 'UTF8');
RESET ROLE;
DROP SCHEMA adj_schema CASCADE;
REVOKE USAGE ON FOREIGN SERVER kafka FROM adj_user;
DROP ROLE adj_user;
