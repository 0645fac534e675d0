-- transforms: single message transforms of streams (options of
-- kafka.stream_changes): columns left out (include/exclude), masked, hashed
-- with a salt, and a SQL transform function run as the table's owner.  The
-- messages are published by kafka.flush_stream() (or the worker) and read
-- back from the topics through kafka_fdw foreign tables.
SET timezone = 'UTC';
CREATE TABLE tf_cards (id int PRIMARY KEY, holder text, card text, cvv text, note text);

-- bad options are refused when the stream starts
SELECT show_error($$SELECT kafka.stream_changes('tf_cards', 'kafka', 'x', options => '{"include": ["id"], "exclude": ["cvv"]}')$$);
SELECT show_error($$SELECT kafka.stream_changes('tf_cards', 'kafka', 'x', options => '{"exclude": ["nope"]}')$$);
SELECT show_error($$SELECT kafka.stream_changes('tf_cards', 'kafka', 'x', options => '{"exclude": "cvv"}')$$);
SELECT show_error($$SELECT kafka.stream_changes('tf_cards', 'kafka', 'x', options => '{"exclude": ["id"]}')$$);
SELECT show_error($$SELECT kafka.stream_changes('tf_cards', 'kafka', 'x', options => '{"include": ["card"]}')$$);
-- options is an allowlist of keys: a misspelt key is an error, not a transform silently left out
SELECT show_error($$SELECT kafka.stream_changes('tf_cards', 'kafka', 'x', options => '{"masks": {"card": 4}}')$$);
SELECT show_error($$SELECT kafka.stream_changes('tf_cards', 'kafka', 'x', options => '["mask"]')$$);
SELECT show_error($$SELECT kafka.stream_changes('tf_cards', 'kafka', 'x', options => '{"progress_topic": "a b"}')$$);
SELECT show_error($$SELECT kafka.stream_changes('tf_cards', 'kafka', 'x', options => '{"mask": {"id": 4}}')$$);
SELECT show_error($$SELECT kafka.stream_changes('tf_cards', 'kafka', 'x', options => '{"mask": {"card": -1}}')$$);
SELECT show_error($$SELECT kafka.stream_changes('tf_cards', 'kafka', 'x', options => '{"mask": {"card": "4"}}')$$);
SELECT show_error($$SELECT kafka.stream_changes('tf_cards', 'kafka', 'x', options => '{"mask": ["card"]}')$$);
SELECT show_error($$SELECT kafka.stream_changes('tf_cards', 'kafka', 'x', options => '{"hash": ["card"]}')$$);
SELECT show_error($$SELECT kafka.stream_changes('tf_cards', 'kafka', 'x', options => '{"hash": ["card"], "hash_salt": ""}')$$);
SELECT show_error($$SELECT kafka.stream_changes('tf_cards', 'kafka', 'x', options => '{"hash_salt": "s"}')$$);
SELECT show_error($$SELECT kafka.stream_changes('tf_cards', 'kafka', 'x', options => '{"mask": {"card": 4}, "hash": ["card"], "hash_salt": "s"}')$$);
SELECT show_error($$SELECT kafka.stream_changes('tf_cards', 'kafka', 'x', options => '{"mask": {"card": 4}, "exclude": ["card"]}')$$);
SELECT show_error($$SELECT kafka.stream_changes('tf_cards', 'kafka', 'x', options => '{"transform": "no_such_function"}')$$);
SELECT show_error($$SELECT kafka.stream_changes('tf_cards', 'kafka', 'x', options => '{"transform": "lower(text)"}')$$);
SELECT show_error($$SELECT kafka.stream_changes('tf_cards', 'kafka', 'x', options => '{"transform": 1}')$$);
SELECT show_error($$SELECT kafka.stream_changes('tf_cards', 'kafka', 'x', options => '[]')$$);
SELECT count(*) AS streams FROM kafka.stream WHERE relid = 'tf_cards'::regclass;

-- the seed's credit cards: card masked but for its last 4 characters, the
-- holder masked entirely, cvv left out; in before (UPDATE, DELETE) as in after
SELECT kafka_create_topic('kafka', 'tf_cards', 1);
SELECT kafka.stream_changes('tf_cards', 'kafka', 'tf_cards',
                            options => '{"mask": {"card": 4, "holder": 0}, "exclude": ["cvv"]}') > 0 AS started;
SELECT kafka.pause_stream('tf_cards');
SELECT options - 'schemas' - 'format' AS options FROM kafka.stream WHERE relid = 'tf_cards'::regclass;
CREATE FOREIGN TABLE tf_cards_t (offs bigint OPTIONS (offset 'true'), k jsonb OPTIONS (key 'true'), v jsonb)
  SERVER kafka OPTIONS (topic 'tf_cards', format 'jsonb');
CREATE FOREIGN TABLE tf_cards_raw (offs bigint OPTIONS (offset 'true'), k text OPTIONS (key 'true'), v text)
  SERVER kafka OPTIONS (topic 'tf_cards', format 'text');
INSERT INTO tf_cards VALUES (1, 'Ann Lee', '4444-3333-2222-1111', '123', 'ok'),
                            (2, 'Zoë Ünal', NULL, '999', 'no card yet');
UPDATE tf_cards SET card = '5555 6666 7777 8888', note = 'new card' WHERE id = 1;
DELETE FROM tf_cards WHERE id = 1;
SELECT kafka.flush_stream('tf_cards') AS sent;
SELECT wait_rows('SELECT * FROM tf_cards_t', 5);
SELECT offs, k, v->>'op' AS op, v->'before' AS before, v->'after' AS after FROM tf_cards_t ORDER BY offs;
-- the raw values are in no message
SELECT count(*) AS leaks FROM tf_cards_raw
 WHERE v ~ '(3333|2222|6666|7777)[- ]|Ann|Lee|Zoë|Ünal|"cvv"|"123"|"999"' OR k ~ '3333|cvv';
-- a column renamed under a running stream fails it instead of leaking
ALTER TABLE tf_cards RENAME COLUMN card TO card_no;
INSERT INTO tf_cards VALUES (3, 'C', '1234-5678-9012-3456', '000', NULL);
SELECT show_error($$SELECT kafka.flush_stream('tf_cards')$$);
-- renamed back, the change goes out; it was captured under the name card_no,
-- which the table no longer has: left out (columns are published by their
-- names at publish time)
ALTER TABLE tf_cards RENAME COLUMN card_no TO card;
SELECT kafka.flush_stream('tf_cards') AS sent;
SELECT wait_rows('SELECT * FROM tf_cards_t', 6);
SELECT v->'after' AS after FROM tf_cards_t ORDER BY offs DESC LIMIT 1;

-- include and hash (upsert): the key column hashed too, the same way in the
-- key and the value; compared with sha256() of salt || value in SQL
CREATE TABLE tf_users (email text PRIMARY KEY, name text, secret text, age int);
SELECT kafka_create_topic('kafka', 'tf_users', 1);
SELECT kafka.stream_changes('tf_users', 'kafka', 'tf_users', 'upsert',
                            options => '{"include": ["email", "name", "age"], "hash": ["email", "age"], "hash_salt": "pepper"}') > 0 AS started;
SELECT kafka.pause_stream('tf_users');
CREATE FOREIGN TABLE tf_users_t (offs bigint OPTIONS (offset 'true'), k jsonb OPTIONS (key 'true'), v jsonb)
  SERVER kafka OPTIONS (topic 'tf_users', format 'jsonb');
INSERT INTO tf_users VALUES ('a@example.com', 'A', 's3cr3t', 42), ('b@example.com', 'B', 'hidden', NULL);
UPDATE tf_users SET name = 'A2' WHERE email = 'a@example.com';
DELETE FROM tf_users WHERE email = 'b@example.com';
SELECT kafka.flush_stream('tf_users') AS sent;
SELECT wait_rows('SELECT * FROM tf_users_t', 4);
SELECT offs,
       k->>'email' = encode(sha256(convert_to('pepper' || 'a@example.com', 'UTF8')), 'hex') AS key_a,
       k->>'email' = encode(sha256(convert_to('pepper' || 'b@example.com', 'UTF8')), 'hex') AS key_b,
       v->>'email' = k->>'email' AS value_email_is_key,
       v->>'age' = encode(sha256(convert_to('pepper42', 'UTF8')), 'hex') AS age_hashed,
       v ? 'age' AND v->'age' = 'null' AS age_null,
       v->>'name' AS name, v ? 'secret' AS has_secret, v IS NULL AS tombstone
  FROM tf_users_t ORDER BY offs;

-- the transform function: called with each value, returns what is sent
-- (NULL drops the message, and a dropped delete its tombstone); it runs as
-- the table's owner, not as the superuser publishing
CREATE ROLE kafka_tf_owner;
GRANT CREATE ON SCHEMA public TO kafka_tf_owner;
GRANT USAGE ON FOREIGN SERVER kafka TO kafka_tf_owner;
CREATE FUNCTION tf_enrich(e jsonb) RETURNS jsonb LANGUAGE sql AS $$
  SELECT CASE WHEN coalesce(nullif(e->'after', 'null'), e->'before')->>'status' = 'draft' THEN NULL
         ELSE jsonb_build_object('op', e->>'op', 'id', coalesce(nullif(e->'after', 'null'), e->'before')->'id',
                                 'status', e->'after'->>'status', 'run_as', current_user::text) END
$$;
CREATE FUNCTION tf_private(e jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT e $$;
REVOKE EXECUTE ON FUNCTION tf_private(jsonb) FROM PUBLIC;
SELECT kafka_create_topic('kafka', 'tf_orders', 1);
SET ROLE kafka_tf_owner;
CREATE TABLE tf_orders (id int PRIMARY KEY, status text);
-- an owner cannot use a function they may not execute (nor can a superuser for them)
SELECT show_error($$SELECT kafka.stream_changes('tf_orders', 'kafka', 'tf_orders', options => '{"transform": "tf_private"}')$$);
RESET ROLE;
SELECT show_error($$SELECT kafka.stream_changes('tf_orders', 'kafka', 'tf_orders', options => '{"transform": "tf_private(jsonb)"}')$$);
SET ROLE kafka_tf_owner;
SELECT kafka.stream_changes('tf_orders', 'kafka', 'tf_orders', options => '{"transform": "tf_enrich"}') > 0 AS started;
SELECT kafka.pause_stream('tf_orders');
INSERT INTO tf_orders VALUES (1, 'new'), (2, 'draft'), (3, 'new');
UPDATE tf_orders SET status = 'paid' WHERE id = 1;
DELETE FROM tf_orders WHERE id = 2;
DELETE FROM tf_orders WHERE id = 3;
RESET ROLE;
SELECT options->>'transform' AS transform FROM kafka.stream WHERE relid = 'tf_orders'::regclass;
CREATE FOREIGN TABLE tf_orders_t (offs bigint OPTIONS (offset 'true'), k jsonb OPTIONS (key 'true'), v jsonb)
  SERVER kafka OPTIONS (topic 'tf_orders', format 'jsonb');
-- published by the superuser: 6 events, 2 dropped (the draft's insert and
-- delete, with its tombstone), the others transformed
-- (paused by its owner: the worker, which may have begun its first batch of
-- the stream before the pause, does not publish them; they are all here)
SELECT state, (SELECT count(*) FROM kafka.outbox o WHERE o.stream_id = s.stream_id) AS backlog
  FROM kafka.stream s WHERE relid = 'tf_orders'::regclass;
SELECT kafka.flush_stream('tf_orders') AS sent;
SELECT wait_rows('SELECT * FROM tf_orders_t', 5);
SELECT offs, k, v FROM tf_orders_t ORDER BY offs;
-- EXECUTE revoked from the owner later: the stream fails, nothing is sent
INSERT INTO tf_orders VALUES (4, 'new');
REVOKE EXECUTE ON FUNCTION tf_enrich(jsonb) FROM PUBLIC;
SELECT show_error($$SELECT kafka.flush_stream('tf_orders')$$);
GRANT EXECUTE ON FUNCTION tf_enrich(jsonb) TO PUBLIC;

-- a transform that raises an error: the worker records it, publishes
-- nothing and loses nothing; once the function is fixed, everything is sent
CREATE TABLE tf_fail (id int PRIMARY KEY, v text);
CREATE FUNCTION tf_check(e jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
  IF e->'after'->>'id' = '13' THEN
    RAISE EXCEPTION 'unlucky row %', e->'after'->>'id';
  END IF;
  RETURN e;
END $$;
SELECT kafka_create_topic('kafka', 'tf_fail', 1);
SELECT kafka.stream_changes('tf_fail', 'kafka', 'tf_fail', options => '{"transform": "tf_check"}') > 0 AS started;
SELECT kafka.pause_stream('tf_fail');
CREATE FOREIGN TABLE tf_fail_t (offs bigint OPTIONS (offset 'true'), h jsonb OPTIONS (headers 'true'), v jsonb)
  SERVER kafka OPTIONS (topic 'tf_fail', format 'jsonb');
INSERT INTO tf_fail VALUES (12, 'a'), (13, 'b'), (14, 'c');
-- from flush_stream: the error, with the function and the table
SELECT show_error($$SELECT kafka.flush_stream('tf_fail')$$);
-- from the worker: last_error, state failing, the backlog kept
SELECT kafka.resume_stream('tf_fail');
SELECT wait_true($$SELECT last_error IS NOT NULL FROM kafka.stream WHERE relid = 'tf_fail'::regclass$$) AS failed;
SELECT state, backlog, events_sent, last_error FROM kafka.streams WHERE source = 'tf_fail'::regclass;
CREATE OR REPLACE FUNCTION tf_check(e jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
  RETURN e || '{"checked": true}';
END $$;
SELECT wait_true($$SELECT events_sent = 3 FROM kafka.stream WHERE relid = 'tf_fail'::regclass$$) AS published;
SELECT wait_rows('SELECT * FROM tf_fail_t', 3);
SELECT state, backlog, events_sent, last_error FROM kafka.streams WHERE source = 'tf_fail'::regclass;
SELECT v->'after'->>'id' AS id, v->>'checked' AS checked, count(*) AS copies
  FROM tf_fail_t GROUP BY 1, 2 ORDER BY 1;

SELECT kafka.stop_stream('tf_cards');
SELECT kafka.stop_stream('tf_users');
SELECT kafka.stop_stream('tf_fail');
DROP TABLE tf_orders;
REVOKE ALL ON SCHEMA public FROM kafka_tf_owner;
REVOKE ALL ON FOREIGN SERVER kafka FROM kafka_tf_owner;
DROP ROLE kafka_tf_owner;

-- byte for byte: rows rewritten by column rules keep every other value as
-- it was (as text); masked and hashed values of strings with escapes
CREATE TABLE tf_edge (id int PRIMARY KEY, s text, f float8, j json, a int[], n numeric, gone text, secret text);
SELECT kafka_create_topic('kafka', 'tf_edge', 1);
SELECT kafka.stream_changes('tf_edge', 'kafka', 'tf_edge', 'upsert',
                            options => '{"mask": {"s": 3}, "hash": ["n"], "exclude": ["secret"], "hash_salt": "salt"}') > 0 AS started;
SELECT kafka.pause_stream('tf_edge');
CREATE FOREIGN TABLE tf_edge_t (offs bigint OPTIONS (offset 'true'), k text OPTIONS (key 'true'), v text)
  SERVER kafka OPTIONS (topic 'tf_edge', format 'text');
INSERT INTO tf_edge VALUES
  (1, E'a "quoted" \\ back\tslash é😀', 1e+100, '{"b": 1, "a": {"x": "}"}, "b": 2}', '{1,2}', 1.50, 'g', 's'),
  (2, NULL, 'NaN', '"\u00e9"', '{}', 'NaN', NULL, NULL),
  (3, E'\n', '-0', '1E2', NULL, -0.0, NULL, NULL);
ALTER TABLE tf_edge DROP COLUMN gone;
INSERT INTO tf_edge VALUES (4, 'post', 2.5, 'false', '{5}', 7, 'x');
SELECT kafka.flush_stream('tf_edge') AS sent;
SELECT wait_rows('SELECT * FROM tf_edge_t', 4);
\a
SELECT offs, k, v FROM tf_edge_t ORDER BY offs;
\a
-- the same rules, debezium
CREATE TABLE tf_edge_d (id int PRIMARY KEY, s text, f float8, j json, a int[], n numeric, secret text);
SELECT kafka_create_topic('kafka', 'tf_edge_d', 1);
SELECT kafka.stream_changes('tf_edge_d', 'kafka', 'tf_edge_d',
                            options => '{"mask": {"s": 3}, "hash": ["n"], "exclude": ["secret"], "hash_salt": "salt"}') > 0 AS started;
SELECT kafka.pause_stream('tf_edge_d');
CREATE FOREIGN TABLE tf_edge_d_t (offs bigint OPTIONS (offset 'true'), k text OPTIONS (key 'true'), v text)
  SERVER kafka OPTIONS (topic 'tf_edge_d', format 'text');
INSERT INTO tf_edge_d SELECT id, s, f, j, a, n, secret FROM tf_edge;
UPDATE tf_edge_d SET s = 'upd' WHERE id = 1;
SELECT kafka.flush_stream('tf_edge_d') AS sent;
SELECT wait_rows('SELECT * FROM tf_edge_d_t', 5);
\a
SELECT offs, k, substring(v from '^(.*),"source":') AS rows FROM tf_edge_d_t ORDER BY offs;
\a
SELECT kafka.stop_stream('tf_edge');
SELECT kafka.stop_stream('tf_edge_d');
