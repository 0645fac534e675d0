#!/usr/bin/env bash
# Build the libFuzzer harnesses (fuzz/, `make fuzz`) and run each for N seconds on a copy of its
# committed corpus (fuzz/corpus/<target>). Fails if any harness reports a crash, a sanitizer
# error, a leak, a timeout or an out-of-memory (libFuzzer exits non-zero and writes an artifact).
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]      SECONDS default 60; TARGETS default: all five
#
# One line per target: "fuzz/<target> ... ok (<execs> execs, <exec/s> exec/s, corpus <n> files
# <bytes> bytes)" or "fuzz/<target> ... FAILED (...)" followed by the report.
# Environment:
#   PG_BIN        PostgreSQL bin directory (its pg_config gives the headers and libpgcommon.a)
#   FUZZ_MERGE=1  afterwards add the inputs that found new coverage to fuzz/corpus/<target>
#                 (libFuzzer -merge=1: only inputs adding coverage are kept; for long runs)
#   FUZZ_JOBS     run this many targets at once (default 1)
#   FUZZ_NICE     nice level of the fuzzers (default 0)
#   FUZZ_OUT      build and work directory (default .tmp/fuzz; another one lets two runs coexist)
# Logs, working corpora and crash artifacts: $FUZZ_OUT/{logs,run,artifacts}/<target>.
# Reproduce a crash: .tmp/fuzz/bin/<target> .tmp/fuzz/artifacts/<target>/crash-...
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
REPO=$(dirname "$here")
cd "$REPO"

secs=${1:-60}
shift || true
targets=("$@")
[ "${#targets[@]}" -gt 0 ] || targets=(fuzz_json fuzz_csv fuzz_text fuzz_headers fuzz_avro)
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
PG_CONFIG=${PG_CONFIG:-$PG_BIN/pg_config}
FUZZ_JOBS=${FUZZ_JOBS:-1}
FUZZ_NICE=${FUZZ_NICE:-0}
out=${FUZZ_OUT:-$REPO/.tmp/fuzz}

make -s -C fuzz PG_CONFIG="$PG_CONFIG" OUT="$out" >/dev/null
mkdir -p "$out/logs"

run_one() {
  local t=$1 work=$out/run/$1 art=$out/artifacts/$1/ log=$out/logs/$1.log rc=0
  local args=(-max_total_time="$secs" -timeout=25 -rss_limit_mb=2560 -max_len=4096 -print_final_stats=1
              -artifact_prefix="$art")
  rm -rf "$work" "$art"; mkdir -p "$work" "$art" "$out/logs"
  cp fuzz/corpus/"$t"/* "$work"/
  [ "$t" = fuzz_json ] && args+=(-dict=fuzz/json.dict)
  nice -n "$FUZZ_NICE" "$out/bin/$t" "${args[@]}" "$work" > "$log" 2>&1 || rc=$?
  local execs eps files bytes
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  files=$(find "$work" -type f | wc -l)
  bytes=$(find "$work" -type f -printf '%s\n' | awk '{s += $1} END {print s + 0}')
  if [ "$rc" -eq 0 ] && [ -z "$(ls -A "$art")" ]; then
    if [ "${FUZZ_MERGE:-0}" = 1 ]; then
      "$out/bin/$t" -merge=1 -max_len=4096 fuzz/corpus/"$t" "$work" >> "$log" 2>&1
    fi
    echo "fuzz/$t ... ok (${execs:-?} execs, ${eps:-?} exec/s, corpus $files files $bytes bytes, ${secs} s)"
  else
    echo "fuzz/$t ... FAILED (exit $rc; artifacts: $(ls "$art" 2>/dev/null | tr '\n' ' '))"
    grep -E -A40 '^==[0-9]+==ERROR|runtime error|pg_shim:|^fuzz_[a-z]+:|headers JSON|deadly signal|^SUMMARY' "$log" | head -80 | sed 's/^/    | /'
    return 1
  fi
}

fail=0
pids=()
for t in "${targets[@]}"; do
  [ -d "fuzz/corpus/$t" ] || { echo "fuzz/$t ... FAILED (no corpus fuzz/corpus/$t)"; fail=1; continue; }
  if [ "$FUZZ_JOBS" -gt 1 ]; then
    run_one "$t" > "$out/logs/$t.result" 2>&1 &
    pids+=("$!:$t")
    if [ "${#pids[@]}" -ge "$FUZZ_JOBS" ]; then
      p=${pids[0]}; pids=("${pids[@]:1}")
      wait "${p%%:*}" || fail=1; cat "$out/logs/${p#*:}.result"
    fi
  else
    run_one "$t" || fail=1
  fi
done
for p in "${pids[@]+"${pids[@]}"}"; do
  wait "${p%%:*}" || fail=1; cat "$out/logs/${p#*:}.result"
done
exit "$fail"
