-- fuzz_findings: decoder bugs found while building the fuzz harnesses (fuzz/), checked through SQL.

-- A JSON object into a composite type whose first attribute was dropped: the record literal
-- got a leading comma ("(,...)") and record_in refused it with "too many columns".
SELECT kafka_create_topic('kafka', 'ff_dropped', 1);
\! printf '%s\n' '{"r":{"b":"x","c":2},"rs":[{"c":3},null,{"b":"z \"q\""}]}' '{"r":{}}' | kcat -b "$KAFKA_BROKERS" -P -t ff_dropped -p 0
CREATE TYPE ff_rec AS (a int, b text, c int);
ALTER TYPE ff_rec DROP ATTRIBUTE a;
CREATE FOREIGN TABLE ff_dropped (offs bigint OPTIONS (offset 'true'), r ff_rec, rs ff_rec[])
  SERVER kafka OPTIONS (topic 'ff_dropped', format 'json');
SELECT offs, r, (r).b, (r).c, rs FROM ff_dropped ORDER BY offs;

-- CSV options the record format cannot work with (found by the CSV round-trip oracle): a quote
-- (or delimiter, escape) that is a newline made a message's last quoted field "unterminated",
-- since the trailing newline ends the record; a delimiter equal to the quote is ambiguous (COPY
-- refuses both).
CREATE FOREIGN TABLE ff_csv (a text, b text) SERVER kafka
  OPTIONS (topic 'ff_csv', format 'csv', quote E'\n');
CREATE FOREIGN TABLE ff_csv (a text, b text) SERVER kafka
  OPTIONS (topic 'ff_csv', format 'csv', delimiter E'\r');
CREATE FOREIGN TABLE ff_csv (a text, b text) SERVER kafka
  OPTIONS (topic 'ff_csv', format 'csv', delimiter '"');
CREATE FOREIGN TABLE ff_csv (a text, b text) SERVER kafka
  OPTIONS (topic 'ff_csv', format 'csv', delimiter '|', quote '|');
CREATE FOREIGN TABLE ff_csv (a text, b text) SERVER kafka
  OPTIONS (topic 'ff_csv', format 'csv', delimiter '|', quote '''', escape '\');
ALTER FOREIGN TABLE ff_csv OPTIONS (SET quote '|');
ALTER FOREIGN TABLE ff_csv OPTIONS (SET escape E'\n');
SELECT kafka_create_topic('kafka', 'ff_csv', 1);
\! printf '%s\n' "'a|b'|'it\\'s'" | kcat -b "$KAFKA_BROKERS" -P -t ff_csv -p 0
SELECT a, b FROM ff_csv;
