#!/usr/bin/env bash
# A table stream's producers compress with lz4 by default, and a server's "compression.type"
# replaces that: read from the broker's own log segments (the compression codec in the attributes
# of each record batch), not from what a consumer sees, since consumers decompress transparently.
# Both streams' events must also read back whole with kcat.
set -euo pipefail
# shellcheck source=test/t/emitter_lib.sh
source "$REPO/test/t/emitter_lib.sh"

psql -c "CREATE EXTENSION IF NOT EXISTS kafka_fdw" \
     -c "CREATE SERVER IF NOT EXISTS kafka_cmp FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers '$KAFKA_BROKERS')" \
     -c "CREATE SERVER IF NOT EXISTS kafka_cmp_none FOREIGN DATA WRAPPER kafka_fdw
           OPTIONS (brokers '$KAFKA_BROKERS', \"compression.type\" 'none')"
for t in cmp_default cmp_none; do
  psql -c "SELECT kafka_create_topic('kafka_cmp', '$t', 1)" >/dev/null
  psql -c "CREATE TABLE $t (id int PRIMARY KEY, note text)"
done
psql -c "SELECT kafka.stream_changes('cmp_default', 'kafka_cmp', 'cmp_default')" >/dev/null
psql -c "SELECT kafka.stream_changes('cmp_none', 'kafka_cmp_none', 'cmp_none')" >/dev/null
for t in cmp_default cmp_none; do
  psql -c "SELECT kafka.pause_stream('$t')" >/dev/null
  psql -c "INSERT INTO $t SELECT g, repeat('hotel ', 20) || g FROM generate_series(1, 500) g"
  sent=$(psql -At -c "SELECT kafka.flush_stream('$t', 60000)")
  [ "$sent" = 500 ] || fail "flush_stream of $t sent $sent, not 500"
  n=$(kcat -b "$KAFKA_BROKERS" -C -q -e -t "$t" -X isolation.level=read_committed -f '%s\n' | grep -c '"op":"c"' || true)
  [ "$n" = 500 ] || fail "kcat read $n create events from $t, not 500"
done

# the codecs of the data batches (not the transaction markers) in a topic's log segments
codecs() {
  python3 - "$KAFKA_HOME/data/$1-0" <<'PY'
import glob, struct, sys
names = {0: "none", 1: "gzip", 2: "snappy", 3: "lz4", 4: "zstd"}
seen = {}
for path in sorted(glob.glob(sys.argv[1] + "/*.log")):
    data = open(path, "rb").read()
    pos = 0
    while pos + 23 <= len(data):
        length = struct.unpack(">i", data[pos + 8:pos + 12])[0]
        magic = data[pos + 16]
        attributes = struct.unpack(">h", data[pos + 21:pos + 23])[0]
        if magic == 2 and not attributes & 0x20:      # 0x20: a control batch (commit marker)
            codec = names.get(attributes & 7, "?")
            seen[codec] = seen.get(codec, 0) + 1
        pos += 12 + length
print(" ".join("%s:%d" % kv for kv in sorted(seen.items())) or "empty")
PY
}
d=$(codecs cmp_default) n=$(codecs cmp_none)
echo "record batches by codec: default stream $d; server with compression.type 'none' $n"
[[ $d == lz4:* ]] && [[ $d != *" "* ]] || fail "the default stream's batches should all be lz4: $d"
[[ $n == none:* ]] && [[ $n != *" "* ]] || fail "the stream of a server with compression.type 'none' should not compress: $n"
echo "ok: a stream compresses with lz4 unless its server says otherwise"
