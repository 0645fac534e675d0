#!/usr/bin/env bash
# upgrade: version 1.0 installed and used, then ALTER EXTENSION kafka_fdw UPDATE TO '1.1'.
# The foreign table keeps working; schema kafka, its tables, functions and views exist; the
# tables are not readable by PUBLIC.  Then changes captured under 1.1 (with this library) and the
# update to 1.2 (the outbox in chunks): the events kept, with their ids and order, and published.
# Every object of "1.0 + updates" equals a fresh install
# (a canonical description of each member: columns, constraints, indexes, function definitions,
# ACLs, config-dump list); pg_dump keeps kafka.stream's rows, and a restore has the stream back.
set -euo pipefail

# shellcheck source=test/t/lib.sh
source "$REPO/test/t/lib.sh"

B=${PG_BIN:+$PG_BIN/}
dbs=(upg_old upg_new upg_restored)
cleanup() {
  local d
  for d in "${dbs[@]}"; do q -d postgres -c "DROP DATABASE IF EXISTS $d WITH (FORCE)" >/dev/null 2>&1 || true; done
  q -d postgres -c "DROP ROLE IF EXISTS upg_plain" >/dev/null 2>&1 || true
}
trap cleanup EXIT
cleanup
for d in "${dbs[@]}"; do q -d postgres -c "CREATE DATABASE $d"; done
q -d postgres -c "CREATE ROLE upg_plain LOGIN"

# ---- 1.0, used -------------------------------------------------------------------------------
q -d upg_old <<SQL
CREATE EXTENSION kafka_fdw VERSION '1.0';
CREATE SERVER upg_srv FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers '$KAFKA_BROKERS');
SELECT kafka_create_topic('upg_srv', 'upg_topic');
CREATE FOREIGN TABLE upg_ft (v text) SERVER upg_srv OPTIONS (topic 'upg_topic', format 'text');
INSERT INTO upg_ft VALUES ('a'), ('b');
SQL
[ "$(q -d upg_old -c "SELECT extversion FROM pg_extension WHERE extname = 'kafka_fdw'")" = "1.0" ] || fail "not at 1.0"
[ "$(q -d upg_old -c "SELECT to_regnamespace('kafka') IS NULL")" = "t" ] || fail "1.0 has a schema kafka"
[ "$(q -d upg_old -c "SELECT string_agg(v, ',' ORDER BY v) FROM upg_ft")" = "a,b" ] || fail "1.0 foreign table"
echo "ok: 1.0 installed, foreign table written and read"

# ---- update ------------------------------------------------------------------------------------
q -d upg_old -c "ALTER EXTENSION kafka_fdw UPDATE TO '1.1'"
[ "$(q -d upg_old -c "SELECT extversion FROM pg_extension WHERE extname = 'kafka_fdw'")" = "1.1" ] || fail "not at 1.1"
q -d upg_old -c "INSERT INTO upg_ft VALUES ('c')"
# the event trigger of 1.1 fires on ALTER FOREIGN TABLE and leaves other formats alone
q -d upg_old -c "ALTER FOREIGN TABLE upg_ft OPTIONS (ADD on_error 'skip')"
[ "$(q -d upg_old -c "SELECT string_agg(v, ',' ORDER BY v) FROM upg_ft")" = "a,b,c" ] || fail "foreign table after the update"
echo "ok: updated to 1.1; the foreign table still reads and writes"

got=$(q -d upg_old -c "SELECT to_regclass('kafka.stream') IS NOT NULL, to_regclass('kafka.outbox') IS NOT NULL,
  to_regclass('kafka.streams') IS NOT NULL, to_regclass('kafka.workers') IS NOT NULL,
  to_regprocedure('kafka.stream_changes(regclass,name,text,text,name[],boolean,boolean,text,jsonb)') IS NOT NULL,
  to_regprocedure('kafka.stop_stream(regclass)') IS NOT NULL, to_regprocedure('kafka.pause_stream(regclass)') IS NOT NULL,
  to_regprocedure('kafka.resume_stream(regclass)') IS NOT NULL, to_regprocedure('kafka.flush_stream(regclass,int)') IS NOT NULL,
  to_regprocedure('kafka.capture()') IS NOT NULL, to_regprocedure('kafka_get_watermarks(regclass)') IS NOT NULL")
[ "$got" = "t|t|t|t|t|t|t|t|t|t|t" ] || fail "schema kafka objects after the update: $got"
got=$(q -d upg_old -c "SELECT string_agg(evtname || ' ' || evtevent || ' ' || evtfoid::regproc || ' ' || evttags::text, '; ' ORDER BY evtname)
  FROM pg_event_trigger WHERE evtname = 'kafka_avro_compatibility'")
[ "$got" = 'kafka_avro_compatibility ddl_command_end kafka.check_altered_avro_tables {"ALTER FOREIGN TABLE","ALTER TABLE"}' ] ||
  fail "the event trigger kafka_avro_compatibility after the update: '$got'"
echo "ok: schema kafka has its tables, views and functions; kafka_get_watermarks exists"

# not readable by PUBLIC
for t in kafka.stream kafka.outbox; do
  out=$(q -d upg_old -U upg_plain -c "SELECT count(*) FROM $t" 2>&1 || true)
  [[ "$out" == *"permission denied for table"* ]] || fail "a plain role reads $t: $out"
done
[ "$(q -d upg_old -U upg_plain -c "SELECT count(*) FROM kafka.streams")" = "0" ] || fail "plain role sees streams"
echo "ok: a plain role cannot read kafka.stream or kafka.outbox"

# ---- 1.1 with this library, then 1.2 ------------------------------------------------------------
# The library is newer than 1.1's SQL objects: capture still works (1.1's one row per event), and
# ALTER EXTENSION ... UPDATE turns those rows into chunks with the same event ids and order.
q -d upg_old >/dev/null <<'SQL'
SELECT kafka_create_topic('upg_srv', 'upg_cap_cdc');
CREATE TABLE upg_cap (id int PRIMARY KEY, v text);
SELECT kafka.stream_changes('upg_cap', 'upg_srv', 'upg_cap_cdc');
SELECT kafka.pause_stream('upg_cap');
INSERT INTO upg_cap VALUES (1, 'a'), (2, 'b'), (3, 'c');
UPDATE upg_cap SET v = 'b2' WHERE id = 2;
DELETE FROM upg_cap WHERE id = 3;
SQL
before=$(q -d upg_old -c "SELECT string_agg(event_id || ':' || op::text || ':' || coalesce(before::text, '-') || ':' || coalesce(after::text, '-'), ' ' ORDER BY event_id) FROM kafka.outbox")
[ "$(q -d upg_old -c "SELECT count(*) FROM kafka.outbox")" = 5 ] || fail "1.1 with the new library captured $(q -d upg_old -c "SELECT count(*) FROM kafka.outbox") events, not 5: $before"
q -d upg_old -c "ALTER EXTENSION kafka_fdw UPDATE TO '1.2'"
[ "$(q -d upg_old -c "SELECT extversion FROM pg_extension WHERE extname = 'kafka_fdw'")" = "1.2" ] || fail "not at 1.2"
after=$(q -d upg_old -c "SELECT string_agg(event_id || ':' || op::text || ':' || coalesce(before::text, '-') || ':' || coalesce(after::text, '-'), ' ' ORDER BY event_id) FROM kafka.outbox")
[ "$after" = "$before" ] || fail "the events changed in the update: before '$before', after '$after'"
got=$(q -d upg_old -c "SELECT count(*), sum(n), (SELECT seqincrement FROM pg_sequence WHERE seqrelid = 'kafka.outbox_event_id_seq'::regclass)
  FROM kafka.outbox_chunk")
[ "$got" = "5|5|1024" ] || fail "chunks after the update: $got"
q -d upg_old -c "INSERT INTO upg_cap VALUES (4, 'd'), (5, 'e')"
got=$(q -d upg_old -c "SELECT count(*), sum(n), bool_and(chunk_id > (SELECT max(chunk_id) FROM kafka.outbox_chunk WHERE n = 1))
  FROM kafka.outbox_chunk WHERE n = 2")
[ "$got" = "1|2|t" ] || fail "a new chunk after the update: $got"
[ "$(q -d upg_old -c "SELECT backlog FROM kafka.streams WHERE source = 'upg_cap'::regclass")" = 7 ] || fail "backlog is not 7"
[ "$(q -d upg_old -c "SELECT kafka.flush_stream('upg_cap')")" = 7 ] || fail "flush_stream did not send the 7 events"
got=$(kcat -b "$KAFKA_BROKERS" -C -q -e -t upg_cap_cdc -X isolation.level=read_committed -f '%h|%s\n' 2>/dev/null |
  grep '"op":' | sed -E 's/.*kafka_fdw.event_id=([0-9]+).*"op":"(.)".*/\1 \2/' | tr '\n' ' ')
[ "$(wc -w <<< "$got")" = 14 ] || fail "the topic has not 7 events: $got"
[ "$(awk '{for (i = 1; i < NF; i += 2) printf "%s", $(i + 1)}' <<< "$got")" = "cccudcc" ] || fail "the events' ops in the topic: $got"
[ "$(awk '{for (i = 1; i < NF; i += 2) print $i}' <<< "$got" | sort -n -c 2>&1 && echo sorted)" = sorted ] || fail "event ids not in order: $got"
for t in kafka.outbox_chunk kafka.outbox; do
  out=$(q -d upg_old -U upg_plain -c "SELECT count(*) FROM $t" 2>&1 || true)
  [[ "$out" == *"permission denied for"* ]] || fail "a plain role reads $t: $out"
done
q -d upg_old -c "SELECT kafka.stop_stream('upg_cap')" >/dev/null
q -d upg_old -c "SELECT kafka_delete_topic('upg_srv', 'upg_cap_cdc')" >/dev/null
echo "ok: 1.1 captured with this library; updated to 1.2, its 5 events kept as chunks (ids, order, rows); 7 published in order"

# ---- same objects as a fresh 1.1 ---------------------------------------------------------------
q -d upg_new -c "CREATE EXTENSION kafka_fdw"
describe() {
  q -d "$1" <<'SQL'
WITH m AS (
  SELECT d.classid, d.objid, d.objsubid FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
   WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e' AND e.extname = 'kafka_fdw')
SELECT pg_describe_object(classid, objid, objsubid) || ' | ' || coalesce(
  CASE classid
    WHEN 'pg_proc'::regclass THEN
      (SELECT pg_get_functiondef(p.oid) || ' acl=' || coalesce(p.proacl::text, 'default') FROM pg_proc p WHERE p.oid = objid)
    WHEN 'pg_class'::regclass THEN
      (SELECT c.relkind::text || ' acl=' || coalesce(c.relacl::text, 'default') || ' opts=' || coalesce(c.reloptions::text, '')
              || ' cols=' || coalesce((SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
                         || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
                         || coalesce(' default ' || pg_get_expr(ad.adbin, ad.adrelid), ''), ', ' ORDER BY a.attnum)
                  FROM pg_attribute a LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
                 WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), '')
              || ' cons=' || coalesce((SELECT string_agg(co.conname || ' ' || pg_get_constraintdef(co.oid), ', ' ORDER BY co.conname)
                  FROM pg_constraint co WHERE co.conrelid = c.oid), '')
              || ' idx=' || coalesce((SELECT string_agg(pg_get_indexdef(i.indexrelid), ', ' ORDER BY 1)
                  FROM pg_index i WHERE i.indrelid = c.oid), '')
              || ' view=' || coalesce(pg_get_viewdef(c.oid), '')
              || ' comment=' || coalesce(obj_description(c.oid, 'pg_class'), '')
         FROM pg_class c WHERE c.oid = objid)
    WHEN 'pg_namespace'::regclass THEN
      (SELECT 'acl=' || coalesce(n.nspacl::text, 'default') || ' owner=' || n.nspowner::regrole FROM pg_namespace n WHERE n.oid = objid)
    WHEN 'pg_event_trigger'::regclass THEN
      (SELECT t.evtevent || ' ' || t.evtfoid::regproc || ' ' || t.evtenabled::text || ' tags=' || coalesce(t.evttags::text, '')
         FROM pg_event_trigger t WHERE t.oid = objid)
    WHEN 'pg_foreign_data_wrapper'::regclass THEN
      (SELECT w.fdwhandler::regproc || ' ' || w.fdwvalidator::regproc FROM pg_foreign_data_wrapper w WHERE w.oid = objid)
  END, '')
  FROM m
UNION ALL
SELECT 'config: ' || (SELECT string_agg(c::regclass::text || '=' || coalesce(e.extcondition[i], ''), ', ' ORDER BY c::regclass::text)
                        FROM unnest(e.extconfig) WITH ORDINALITY AS u(c, i))
  FROM pg_extension e WHERE e.extname = 'kafka_fdw'
ORDER BY 1;
SQL
}
describe upg_old > "$TEST_TMP/old.txt"
describe upg_new > "$TEST_TMP/new.txt"
n=$(grep -c . "$TEST_TMP/new.txt")
[ "$n" -ge 20 ] || fail "the description of a fresh install has only $n lines"
if ! diff -u "$TEST_TMP/new.txt" "$TEST_TMP/old.txt"; then fail "1.0 + updates differ from a fresh install (diff above: - fresh, + updated)"; fi
echo "ok: 1.0 + updates = fresh install ($n member descriptions compared, incl. functions, columns, constraints, indexes, ACLs, config dump)"

# ---- pg_dump keeps the streams ---------------------------------------------------------------
q -d upg_old >/dev/null <<'SQL'
CREATE TABLE upg_src (id int PRIMARY KEY, v text);
SELECT kafka.stream_changes('upg_src', 'upg_srv', 'upg_src_cdc', envelope => 'upsert');
SQL
"${B}pg_dump" -d upg_old > "$TEST_TMP/dump.sql"
grep -q "^COPY kafka.stream (" "$TEST_TMP/dump.sql" || fail "pg_dump has no data of kafka.stream"
grep -A3 "^COPY kafka.stream (" "$TEST_TMP/dump.sql" | grep -q "upg_src_cdc" || fail "kafka.stream's row not in the dump"
grep -q "setval('kafka.stream_stream_id_seq'" "$TEST_TMP/dump.sql" || fail "the stream_id sequence is not in the dump"
grep -q "CREATE TRIGGER kafka_capture_ins" "$TEST_TMP/dump.sql" || fail "the capture triggers are not in the dump"
echo "ok: pg_dump has kafka.stream's rows, its sequence and the capture triggers"
q -d upg_restored -f "$TEST_TMP/dump.sql" > "$TEST_TMP/restore.log" 2>&1 || { cat "$TEST_TMP/restore.log"; fail "restore failed"; }
got=$(q -d upg_restored -c "SELECT s.relid::text || ' ' || s.topic || ' ' || s.envelope || ' ' || s.key_columns::text
       || ' ' || (SELECT count(*) FROM pg_trigger t WHERE t.tgrelid = s.relid AND t.tgname LIKE 'kafka_capture_%')
       FROM kafka.stream s")
[ "$got" = "upg_src upg_src_cdc upsert {id} 4" ] || fail "restored stream: '$got'"
echo "ok: restored into a new database: the stream and its 4 triggers are back"

q -d upg_old -c "SELECT kafka_delete_topic('upg_srv', 'upg_topic')" >/dev/null
