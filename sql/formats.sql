-- formats: json (flat, nested, arrays, composites, escapes), csv, text, bytea, jsonb.
SELECT kafka_create_topic('kafka', 'fmt_json', 1);
-- one message per line, written with printf so that the bytes are exact
\! printf '%s\n' '{"id":1,"name":"plain","price":9.5,"ok":true,"tags":["a","b"],"nums":[1,2,3],"addr":{"city":"Maui","zip":96793},"doc":{"x":[1,{"y":null}]}}' '{"id":2,"name":"esc \"q\" \\ \/ \u00e9 \ud83c\udf34 tab\tnl\n","price":-1e2,"ok":false,"tags":[],"nums":[[1,2],[3,4]],"addr":{"zip":null,"city":"A \"b\""},"doc":"str"}' '  { "id" : 3 , "extra" : {"deep":[[[]]]} , "name" : null }  ' '{"id":4,"Weird Key":"mapped","nums":[null,5]}' '{}' | kcat -b "$KAFKA_BROKERS" -P -t fmt_json -p 0
CREATE TYPE addr AS (city text, zip int);
CREATE FOREIGN TABLE fmt_json (
    offs bigint OPTIONS (offset 'true'),
    id int, name text, price numeric, ok bool, tags text[], nums int[], addr addr, doc jsonb,
    weird text OPTIONS (json 'Weird Key'), doc_text text OPTIONS (json 'doc'))
  SERVER kafka OPTIONS (topic 'fmt_json', format 'json');
SELECT offs, id, name, price, ok, tags, nums, addr, doc, weird, doc_text FROM fmt_json ORDER BY offs;
-- the escapes decode to the exact characters
SELECT id, length(name), name = E'esc "q" \\ / \u00e9 \U0001F334 tab\tnl\n' AS exact FROM fmt_json WHERE id = 2;
-- only the needed columns are decoded; count(*) decodes nothing
SELECT count(*) FROM fmt_json;
SELECT id FROM fmt_json WHERE offs <= 1 ORDER BY id;

SELECT kafka_create_topic('kafka', 'fmt_csv', 1);
\! printf '%s\n' '1,plain,2.5' '2,"with, comma","3"' '3,"quote ""inside""",' '4,"",' '5,,NaN' | kcat -b "$KAFKA_BROKERS" -P -t fmt_csv -p 0
CREATE FOREIGN TABLE fmt_csv (offs bigint OPTIONS (offset 'true'), id int, label text, v float8)
  SERVER kafka OPTIONS (topic 'fmt_csv', format 'csv');
-- an unquoted empty field is NULL, a quoted one is an empty string (as in COPY)
SELECT offs, id, label, label IS NULL AS label_null, v FROM fmt_csv ORDER BY offs;
SELECT kafka_create_topic('kafka', 'fmt_csv2', 1);
\! printf '%s\n' "1;semi;NULL" "2;'it''s';7" "3;short" | kcat -b "$KAFKA_BROKERS" -P -t fmt_csv2 -p 0
CREATE FOREIGN TABLE fmt_csv2 (id int, label text, v int)
  SERVER kafka OPTIONS (topic 'fmt_csv2', format 'csv', delimiter ';', quote '''', null 'NULL');
SELECT * FROM fmt_csv2 ORDER BY id;
-- strict: the field count must match
ALTER FOREIGN TABLE fmt_csv2 OPTIONS (ADD strict 'true');
SELECT * FROM fmt_csv2 ORDER BY id;

-- whole-value formats, with a key, headers and a tombstone (kcat -Z: empty value is NULL)
SELECT kafka_create_topic('kafka', 'fmt_raw', 1);
\! printf '%s\n' 'k1|{"a": 1}' 'k2|[1, 2]' 'k3|' | kcat -b "$KAFKA_BROKERS" -P -t fmt_raw -p 0 -K '|' -Z -H h1=v1 -H h2=v2
CREATE FOREIGN TABLE fmt_text (k text OPTIONS (key 'true'), h jsonb OPTIONS (headers 'true'), v text)
  SERVER kafka OPTIONS (topic 'fmt_raw', format 'text');
CREATE FOREIGN TABLE fmt_bytea (k bytea OPTIONS (key 'true'), v bytea)
  SERVER kafka OPTIONS (topic 'fmt_raw', format 'bytea');
CREATE FOREIGN TABLE fmt_jsonb (k text OPTIONS (key 'true'), v jsonb)
  SERVER kafka OPTIONS (topic 'fmt_raw', format 'jsonb');
SELECT k, h, v, v IS NULL AS tombstone FROM fmt_text ORDER BY k;
SELECT k, v FROM fmt_bytea ORDER BY k;
SELECT k, v, jsonb_typeof(v) FROM fmt_jsonb ORDER BY k;
-- the timestamp column as bigint milliseconds and as timestamp
CREATE FOREIGN TABLE fmt_ts2 (ms bigint OPTIONS (timestamp 'true'), v text)
  SERVER kafka OPTIONS (topic 'fmt_raw', format 'text');
CREATE FOREIGN TABLE fmt_ts3 (tz timestamptz OPTIONS (timestamp 'true'), v text)
  SERVER kafka OPTIONS (topic 'fmt_raw', format 'text');
SELECT count(*) FROM fmt_ts2 a JOIN fmt_ts3 b USING (v)
 WHERE to_timestamp(a.ms / 1000.0) = b.tz AND a.ms > 1700000000000;
-- messages are UTF-8: a database in another encoding gets the text converted
SELECT kafka_create_topic('kafka', 'fmt_latin', 1);
\! printf '%s\n' 'café|{"name":"crème brûlée","n":1}' | kcat -b "$KAFKA_BROKERS" -P -t fmt_latin -p 0 -K '|'
CREATE DATABASE kafka_fdw_latin1 ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0;
\c kafka_fdw_latin1
SET client_encoding = 'UTF8';
CREATE EXTENSION kafka_fdw;
\getenv brokers KAFKA_BROKERS
CREATE SERVER kafka FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers :'brokers');
CREATE FOREIGN TABLE fmt_latin (k text OPTIONS (key 'true'), name text, n int)
  SERVER kafka OPTIONS (topic 'fmt_latin', format 'json');
SELECT k, name, length(name), convert_to(name, 'LATIN1') FROM fmt_latin;
\c contrib_regression
DROP DATABASE kafka_fdw_latin1;
