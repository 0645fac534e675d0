#!/usr/bin/env bash
# An ingest job over a topic with 1,000 partitions (two workers, each taking half of them): every one
# of 6,000 keyed messages lands exactly once, and the job keeps one offset row per partition, each
# at its partition's high watermark; then the same for an upsert job (two workers) keyed by
# partition and offset. Expected count and sum come from the generated file.
set -euo pipefail

# shellcheck source=test/t/lib.sh
source "$REPO/test/t/lib.sh"

job=""
cleanup() { [ -n "$job" ] && q -c "SELECT kafka.stop_ingest($job)" >/dev/null 2>&1 || true; }
trap cleanup EXIT

N=6000
P=1000
data=$TEST_TMP/imp.tsv
awk -v n="$N" 'BEGIN { for (i = 1; i <= n; i++) printf "k%d\t{\"x\":%d}\n", i * 7919, i * 3 + (i % 11) }' > "$data"
want_sum=$(awk -F'\t' '{ split($2, a, /[:}]/); s += a[2] } END { printf "%.0f\n", s }' "$data")

q <<SQL
CREATE EXTENSION IF NOT EXISTS kafka_fdw;
CREATE SERVER imp_srv FOREIGN DATA WRAPPER kafka_fdw OPTIONS (brokers '$KAFKA_BROKERS');
SELECT kafka_create_topic('imp_srv', 'imp_parts', $P);
CREATE FOREIGN TABLE imp_parts (part int OPTIONS (partition 'true'), offs bigint OPTIONS (offset 'true'),
    x bigint) SERVER imp_srv OPTIONS (topic 'imp_parts', format 'json');
CREATE TABLE imp_landed (part int, offs bigint, x bigint, UNIQUE (part, offs));
CREATE TABLE imp_upserted (part int, offs bigint, x bigint, PRIMARY KEY (part, offs));
SQL
kcat -b "$KAFKA_BROKERS" -P -t imp_parts -K '\t' -X linger.ms=20 -l "$data"
nonempty=$(q -c "SELECT count(*) FILTER (WHERE high > low) || '/' || count(*) || '/' || sum(high - low) FROM kafka_watermarks('imp_parts')")
echo "partitions non-empty/all/messages: $nonempty"

# check_job JOB TABLE: every message landed once in TABLE, one offset row per partition at its
# high watermark
check_job() {
  local job=$1 t=$2 got rows behind
  for _ in $(seq 1 240); do
    got=$(q -c "SELECT count(*) FROM $t")
    [ "$got" -ge "$N" ] && break
    sleep 0.5
  done
  sleep 1   # anything written twice would come now
  got=$(q -c "SELECT count(*) || '|' || count(DISTINCT (part, offs)) || '|' || coalesce(sum(x), 0) FROM $t")
  echo "$t: produced=$N landed|distinct|sum=$got (expected $N|$N|$want_sum)"
  [ "$got" = "$N|$N|$want_sum" ] || fail "$t: landed $got, expected $N|$N|$want_sum"
  rows=$(q -c "SELECT count(*) FROM kafka.ingest_offset WHERE job_id = $job")
  [ "$rows" -eq "$P" ] || fail "job $job: $rows offset rows, expected $P"
  behind=$(q -c "SELECT count(*) FROM kafka.ingest_offset o JOIN kafka_watermarks('imp_parts') w USING (partition)
                 WHERE o.job_id = $job AND o.next_offset <> w.high")
  [ "$behind" -eq 0 ] || fail "job $job: $behind partitions' offsets differ from their high watermark"
  echo "ok: $t: $P offset rows, each at its partition's high watermark"
}

job=$(q -c "SELECT kafka.ingest('imp_parts', 'imp_landed', parallelism => 2)")
check_job "$job" imp_landed
q -c "SELECT kafka.stop_ingest($job)" >/dev/null
# an upsert job over the same 1,000 partitions, its target keyed by (partition, offset)
job=$(q -c "SELECT kafka.ingest('imp_parts', 'imp_upserted', mode => 'upsert', parallelism => 2)")
check_job "$job" imp_upserted
