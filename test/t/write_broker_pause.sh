#!/usr/bin/env bash
# A broker that stops answering in the middle of an INSERT: the statement must fail within
# timeout_ms with librdkafka's delivery error and the count of failed messages (never report
# success), and writing works again once the broker is back.
#
# Pauses the shared test broker (SIGSTOP) for about four seconds; resumes it on every exit path.
set -euo pipefail

# shellcheck source=test/t/lib.sh
source "$REPO/test/t/lib.sh"

kpid=$(cat "$KAFKA_HOME/kafka.pid")
trap resume EXIT

psql -c "CREATE EXTENSION IF NOT EXISTS kafka_fdw" \
     -c "CREATE SERVER IF NOT EXISTS kafka_pause FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers '$KAFKA_BROKERS')"
psql -c "SELECT kafka_create_topic('kafka_pause', 't_pause', 1)" >/dev/null
psql -c "CREATE FOREIGN TABLE t_pause (id int) SERVER kafka_pause OPTIONS (topic 't_pause', timeout_ms '3000')"

# The statement checks the topic when it starts, then its SELECT sleeps for 2 s: the broker is
# paused after 1 s, so every message is produced to a broker that does not answer.
( sleep 1; kill -STOP "$kpid" ) &
t0=$(date +%s%N)
if out=$(psql -c "INSERT INTO t_pause SELECT g FROM (SELECT pg_sleep(2)) s, generate_series(1, 1000) g" 2>&1); then
  echo "FAIL: INSERT reported success while the broker was paused"; exit 1
fi
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
resume
echo "$out"
echo "failed after $ms ms"
grep -q 'ERROR:  could not write 1000 of 1000 messages to Kafka topic "t_pause": Local: Message timed out' <<<"$out" \
  || { echo "FAIL: unexpected error"; exit 1; }
grep -q 'HINT:  Check the server option "brokers"' <<<"$out" || { echo "FAIL: no hint"; exit 1; }
# 2 s of SELECT + 3 s message timeout, plus margin; never the 30 s default or a hang
[ "$ms" -ge 4000 ] && [ "$ms" -lt 20000 ] || { echo "FAIL: took $ms ms"; exit 1; }

# The broker is back: the same table works again (the broker may need a moment).
for i in $(seq 1 30); do
  if psql -c "INSERT INTO t_pause VALUES (-1)" 2>/dev/null; then
    n=$(psql -At -c "SELECT count(*) FROM t_pause WHERE id = -1")
    [ "$n" = 1 ] || { echo "FAIL: $n rows with id -1"; exit 1; }
    echo "ok: writing works again after $i attempt(s)"
    exit 0
  fi
  sleep 1
done
echo "FAIL: no successful INSERT after the broker resumed"; exit 1
