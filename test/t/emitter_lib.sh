# Helpers shared by the emitter fault tests (sourced, not run: not executable).
# shellcheck source=test/t/lib.sh
source "$REPO/test/t/lib.sh"

# count_topic TOPIC FIRST_EVENT_ID: read the whole topic with kcat as a read_committed consumer and
# print "messages distinct_event_ids" for messages whose kafka_fdw.event_id header is >= FIRST_EVENT_ID;
# the lines (partition, offset, event_id, key, value) are left in $TEST_TMP/TOPIC.msgs
count_topic() {
  local topic=$1 first=$2
  kcat -C -b "$KAFKA_BROKERS" -t "$topic" -e -q -X isolation.level=read_committed \
       -f '%p\t%o\t%h\t%k\t%s\n' 2>/dev/null \
    | sed -E 's/^([0-9]+)\t([0-9]+)\t.*kafka_fdw\.event_id=([0-9]+)[^\t]*\t/\1\t\2\t\3\t/' \
    | awk -F'\t' -v first="$first" '$3 >= first' > "$TEST_TMP/$topic.msgs"
  awk -F'\t' '{ n++; if (!seen[$3]++) d++ } END { printf "%d %d\n", n, d }' "$TEST_TMP/$topic.msgs"
}

# report PRODUCED TOPIC FIRST_EVENT_ID: print and check produced, delivered, lost, duplicated
report() {
  local produced=$1 topic=$2 first=$3 msgs distinct lost dup
  # Kafka writes commit markers after the commit returned: wait a little for the last batch
  for _ in $(seq 1 40); do
    read -r msgs distinct < <(count_topic "$topic" "$first")
    [ "$distinct" -ge "$produced" ] && break
    sleep 0.5
  done
  lost=$((produced - distinct))
  dup=$((msgs - distinct))
  echo "produced=$produced delivered=$distinct lost=$lost duplicated=$dup (read_committed messages: $msgs)"
  [ "$lost" -eq 0 ] || { echo "FAIL: $lost events lost"; return 1; }
  [ "$dup" -eq 0 ] || { echo "FAIL: $dup duplicates"; return 1; }
}

# flush_until_empty TABLE TRIES: call kafka.flush_stream until the stream's outbox is empty
flush_until_empty() {
  local table=$1 tries=$2 left
  for _ in $(seq 1 "$tries"); do
    psql -c "SELECT kafka.flush_stream('$table', 20000)" >/dev/null 2>&1 || true
    left=$(psql -At -c "SELECT count(*) FROM kafka.outbox o JOIN kafka.stream s USING (stream_id) WHERE s.relid = '$table'::regclass")
    [ "$left" = 0 ] && return 0
    sleep 1
  done
  echo "FAIL: $left events still in the outbox of $table"; return 1
}
