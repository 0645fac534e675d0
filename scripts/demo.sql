-- The hotel chain demo (see README): page views stream into Kafka, loyalty
-- levels live in a table, and plain SQL joins the stream with the table.
\set ECHO queries
\pset footer on

CREATE EXTENSION IF NOT EXISTS kafka_fdw;
CREATE SERVER kafka FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers :'brokers');
SELECT kafka_create_topic('kafka', 'page_views', 4);

-- A topic is a foreign table: metadata columns by option, the rest from the JSON value.
CREATE FOREIGN TABLE page_views (
    part int OPTIONS (partition 'true'),
    offs bigint OPTIONS (offset 'true'),
    ts timestamptz OPTIONS (timestamp 'true'),
    session_id text OPTIONS (json 'sessionId'),
    property_id int OPTIONS (json 'propertyId'),
    loyalty_id bigint OPTIONS (json 'loyaltyId'),
    view_type text OPTIONS (json 'viewType'),
    origin text)
  SERVER kafka OPTIONS (topic 'page_views', format 'json');

-- Page views arrive from the web site (here: kcat, the Kafka command-line client).
\! printf '%s\n' '{"sessionId":"676fc8983gu563","viewType":"propertyView","propertyId":7879,"loyaltyId":6764532,"origin":"promotion"}' '{"sessionId":"a1","viewType":"propertyView","propertyId":1001,"loyaltyId":538,"origin":"search"}' '{"sessionId":"a1","viewType":"search","propertyId":1002,"loyaltyId":538,"origin":"search"}' '{"sessionId":"b7","viewType":"propertyView","propertyId":1001,"loyaltyId":17,"origin":"newsletter"}' '{"sessionId":"c3","viewType":"propertyView","propertyId":1003,"loyaltyId":538,"origin":"promotion"}' | kcat -b "$KAFKA_BROKERS" -P -t page_views

-- ... and from SQL: INSERT produces a message, confirmed by the broker before it returns.
INSERT INTO page_views (session_id, view_type, property_id, loyalty_id, origin)
VALUES ('d9', 'propertyView', 1003, 17, 'search'), ('e2', 'propertyView', 1001, 538, 'newsletter')
RETURNING part, offs, session_id;

SELECT part, offs, session_id, view_type, property_id, loyalty_id, origin
  FROM page_views ORDER BY part, offs;

-- State lives in tables.
CREATE TABLE loyalty (loyalty_id bigint PRIMARY KEY, level text NOT NULL);
INSERT INTO loyalty VALUES (6764532, 'gold'), (538, 'platinum'), (17, 'silver');
CREATE TABLE properties (property_id int PRIMARY KEY, location text NOT NULL, is_beach bool NOT NULL);
INSERT INTO properties VALUES (7879, 'Aspen', false), (1001, 'Waikiki', true), (1002, 'Chicago', false),
                              (1003, 'Maui', true);

-- The stream-table join: platinum members looking at beach properties.
SELECT v.session_id, v.loyalty_id, l.level, p.location, v.ts
  FROM page_views v
  JOIN loyalty l USING (loyalty_id)
  JOIN properties p USING (property_id)
 WHERE l.level = 'platinum' AND p.is_beach AND v.view_type = 'propertyView'
 ORDER BY v.ts, v.session_id;

-- Pushdown: only partition 0 from offset 0 is read.
EXPLAIN (COSTS OFF) SELECT * FROM page_views WHERE part = 0 AND offs >= 0;
