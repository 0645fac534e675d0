#!/usr/bin/env bash
# Initial snapshot with concurrent writers (issue 7 item 8): a table of 50,000 rows is streamed with
# snapshot => true and chunks of 1,000 rows, run by the background worker, while four writers update,
# insert, delete and re-key random rows (single statements and ranges) before and during the
# snapshot. Then a read_committed consumer reads the whole topic and checks:
#  - every row the table had when the stream started is emitted exactly once as op r, with its
#    state at that point (version 0: no r shows a later change), and no other r (no gap, no overlap);
#  - in every partition all r events come before every change; exactly one r is "last";
#  - replaying the topic per key in offset order gives the table as it is at the end (no change lost);
#  - every event_id once (no duplicates);
#  - no writer ever waited for a lock held by the emitter (sampled), and all writers finished.
# Prints the counts.
set -euo pipefail
# shellcheck source=test/t/emitter_lib.sh
source "$REPO/test/t/emitter_lib.sh"
writers=()
cleanup() { touch "$TEST_TMP/stop"; for p in "${writers[@]+"${writers[@]}"}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
ROWS=50000

psql -c "CREATE EXTENSION IF NOT EXISTS kafka_fdw" \
     -c "CREATE SERVER IF NOT EXISTS kafka_emit_snap FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers '$KAFKA_BROKERS')"
psql -c "SELECT kafka_create_topic('kafka_emit_snap', 'emit_snap', 3)" >/dev/null
psql -c "CREATE TABLE emit_snap (id int PRIMARY KEY, version int NOT NULL, note text)" \
     -c "INSERT INTO emit_snap SELECT g, 0, 'initial ' || g FROM generate_series(1, $ROWS) g"
# started paused (in one transaction, so the worker does not begin at once): the writers' first
# changes are captured before the snapshot reads anything
psql -c "BEGIN" \
     -c "SELECT kafka.stream_changes('emit_snap', 'kafka_emit_snap', 'emit_snap', snapshot => true, options => '{\"snapshot_chunk_size\": 1000}')" \
     -c "SELECT kafka.pause_stream('emit_snap')" -c "COMMIT" >/dev/null

# writer W: random single-row updates, inserts of new keys, deletes, range updates and key changes,
# each statement its own transaction; stops when $TEST_TMP/stop exists
writer() {
  local w=$1 i=0 r
  while [ ! -e "$TEST_TMP/stop" ]; do
    echo "SELECT pg_sleep(0.05);"     # a steady load, not a flood: ~100 statements/s per writer
    for _ in $(seq 1 5); do
      i=$((i + 1))
      r=$(( (RANDOM * 32768 + RANDOM) % (ROWS + 10000) + 1 ))
      case $((RANDOM % 10)) in
        0|1|2|3) echo "UPDATE emit_snap SET version = version + 1, note = 'w$w-$i' WHERE id = $r;" ;;
        4) echo "UPDATE emit_snap SET version = version + 1 WHERE id BETWEEN $r AND $((r + 20));" ;;
        5|6) echo "INSERT INTO emit_snap VALUES ($((ROWS + r)), 1, 'ins w$w-$i') ON CONFLICT (id) DO UPDATE SET version = emit_snap.version + 1;" ;;
        7|8) echo "DELETE FROM emit_snap WHERE id = $r;" ;;
        9) echo "UPDATE emit_snap SET id = id + 1000000 * $w, version = version + 1 WHERE id = $r;" ;;
      esac
    done
  done | psql -v ON_ERROR_STOP=0 >/dev/null 2>>"$TEST_TMP/writer$w.err"
  echo "$?" > "$TEST_TMP/writer$w.rc"
}
for w in 1 2 3 4; do writer "$w" & writers+=($!); done
sleep 2
psql -c "SELECT kafka.resume_stream('emit_snap')" >/dev/null
echo "stream resumed: the worker runs the snapshot while 4 writers change the table"

# watch: progress, and whether a writer waits for a lock held by the emitter (worker or flush)
blocked=0 samples=0 state=""
for _ in $(seq 1 1200); do
  read -r state done total < <(psql -At -F' ' -c "SELECT snapshot_state, snapshot_rows_done, coalesce(snapshot_rows_total, -1) FROM kafka.streams WHERE source = 'emit_snap'::regclass")
  b=$(psql -At -c "SELECT count(*) FROM pg_stat_activity a, unnest(pg_blocking_pids(a.pid)) bp
                    WHERE a.query LIKE '%emit_snap%' AND a.backend_type = 'client backend'
                      AND bp IN (SELECT pid FROM pg_stat_activity WHERE backend_type = 'kafka_fdw worker'
                                 OR query LIKE '%kafka.flush_stream%' OR query LIKE '%kafka.snapshot_step%')")
  blocked=$((blocked + b)); samples=$((samples + 1))
  [ $((samples % 25)) -eq 1 ] && echo "snapshot $state: $done of $total rows"
  [ "$state" = done ] && break
  sleep 0.2
done
echo "snapshot $state: $done of $total rows; lock waits on the emitter seen in $samples samples: $blocked"
[ "$state" = done ] || { echo "FAIL: the snapshot did not finish"; exit 1; }
sleep 2                       # changes after the snapshot, too
touch "$TEST_TMP/stop"
for p in "${writers[@]}"; do wait "$p" || true; done
writers=()
for w in 1 2 3 4; do
  rc=$(cat "$TEST_TMP/writer$w.rc")
  other=$(grep ERROR "$TEST_TMP/writer$w.err" | grep -vc 'duplicate key value' || true)
  echo "writer $w: exit $rc, errors other than key collisions: $other"
  [ "$rc" = 0 ] && [ "$other" = 0 ] || { echo "FAIL: writer $w"; head -5 "$TEST_TMP/writer$w.err"; exit 1; }
done
psql -At -c "SELECT 'writes: ' || n_tup_ins || ' inserted, ' || n_tup_upd || ' updated, ' || n_tup_del || ' deleted'
             FROM pg_stat_user_tables WHERE relid = 'emit_snap'::regclass"
flush_until_empty emit_snap 120
[ "$blocked" -eq 0 ] || { echo "FAIL: writers waited for the emitter's locks"; exit 1; }

# read the whole topic (read_committed) until every event sent is there
sent=$(psql -At -c "SELECT events_sent FROM kafka.stream WHERE relid = 'emit_snap'::regclass")
for _ in $(seq 1 60); do
  kcat -C -b "$KAFKA_BROKERS" -t emit_snap -e -q -X isolation.level=read_committed \
       -f '%p\x01%o\x01%h\x01%k\x01%s\n' 2>/dev/null > "$TEST_TMP/msgs" || true
  have=$(sed -E 's/.*kafka_fdw\.event_id=([0-9]+).*/\1/' "$TEST_TMP/msgs" | sort -u | wc -l)
  [ "$have" -ge "$sent" ] && break
  sleep 0.5
done
echo "events sent: $sent; distinct event_ids in the topic: $have; messages: $(wc -l < "$TEST_TMP/msgs")"
psql -c "CREATE TABLE emit_snap_msgs (p int, o bigint, h text, k text, v text)"
psql -c "\\copy emit_snap_msgs FROM '$TEST_TMP/msgs' WITH (FORMAT csv, DELIMITER E'\\x01', QUOTE E'\\x02')"
psql -c "CREATE TABLE emit_snap_m AS
           SELECT p, o, substring(h FROM 'kafka_fdw\.event_id=([0-9]+)')::bigint AS event_id,
                  k::jsonb AS k, nullif(v, '')::jsonb AS v FROM emit_snap_msgs"

psql -At -F' ' <<'SQL' > "$TEST_TMP/checks"
SELECT 'rows_at_start', count(*) FROM emit_snap_m WHERE v->>'op' = 'r';
SELECT 'r_keys', count(DISTINCT k) FROM emit_snap_m WHERE v->>'op' = 'r';
SELECT 'r_keys_not_initial', count(*) FROM emit_snap_m WHERE v->>'op' = 'r'
   AND NOT ((k->>'id')::int BETWEEN 1 AND 50000 AND (v->'after'->>'version')::int = 0
            AND v->'after'->>'note' = 'initial ' || (k->>'id'));
SELECT 'last_markers', count(*) FROM emit_snap_m WHERE v->'source'->>'snapshot' = 'last';
SELECT 'last_is_last_r', count(*) FROM emit_snap_m WHERE v->'source'->>'snapshot' = 'last'
   AND event_id = (SELECT max(event_id) FROM emit_snap_m WHERE v->>'op' = 'r');
WITH last_r AS (SELECT p, max(o) AS o FROM emit_snap_m WHERE v->>'op' = 'r' GROUP BY p)
SELECT 'changes_before_r', count(*) FROM emit_snap_m c JOIN last_r USING (p)
 WHERE (c.v IS NULL OR c.v->>'op' <> 'r') AND c.o < last_r.o;
SELECT 'changes', count(*) FROM emit_snap_m WHERE v IS NOT NULL AND v->>'op' <> 'r';
SELECT 'duplicated_messages', count(*) - count(DISTINCT (event_id, k, coalesce(v->>'op', 'tombstone'))) FROM emit_snap_m;
WITH last AS (SELECT DISTINCT ON (k) k, v FROM emit_snap_m ORDER BY k, p, o DESC),
     replay AS (SELECT (v->'after'->>'id')::int AS id, (v->'after'->>'version')::int AS version, v->'after'->>'note' AS note
                  FROM last WHERE v IS NOT NULL AND v->>'op' <> 'd')
SELECT 'replay_mismatches', count(*) FROM replay r FULL JOIN emit_snap t USING (id)
 WHERE r.id IS NULL OR t.id IS NULL OR r.version IS DISTINCT FROM t.version OR r.note IS DISTINCT FROM t.note;
SELECT 'table_rows', count(*) FROM emit_snap;
SELECT 'progress', snapshot_rows_done || '/' || snapshot_rows_total FROM kafka.stream WHERE relid = 'emit_snap'::regclass;
SQL
cat "$TEST_TMP/checks"
val() { awk -v n="$1" '$1 == n { print $2 }' "$TEST_TMP/checks"; }
fail=0
[ "$(val rows_at_start)" = "$ROWS" ] || { echo "FAIL: $(val rows_at_start) r events, expected $ROWS"; fail=1; }
[ "$(val r_keys)" = "$ROWS" ] || { echo "FAIL: r events for $(val r_keys) keys"; fail=1; }
[ "$(val r_keys_not_initial)" = 0 ] || { echo "FAIL: r events not of the initial rows"; fail=1; }
[ "$(val last_markers)" = 1 ] && [ "$(val last_is_last_r)" = 1 ] || { echo "FAIL: the \"last\" marker"; fail=1; }
[ "$(val changes_before_r)" = 0 ] || { echo "FAIL: changes published before snapshot rows"; fail=1; }
[ "$(val changes)" -gt 0 ] || { echo "FAIL: no change events"; fail=1; }
[ "$(val duplicated_messages)" = 0 ] || { echo "FAIL: duplicates"; fail=1; }
[ "$(val replay_mismatches)" = 0 ] || { echo "FAIL: the replayed topic differs from the table"; fail=1; }
[ "$(val progress)" = "$ROWS/$ROWS" ] || { echo "FAIL: progress $(val progress)"; fail=1; }
[ "$have" -eq "$sent" ] || { echo "FAIL: $have event_ids in the topic, $sent sent"; fail=1; }
psql -c "SELECT kafka.stop_stream('emit_snap')" >/dev/null    # leave no stream (and no worker) behind
[ "$fail" = 0 ] && echo "ok"
exit "$fail"
