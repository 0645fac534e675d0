#!/usr/bin/env bash
# THE kafka_fdw test command: deps, -Werror build, install, a real Kafka broker + a throwaway
# PostgreSQL 15 cluster, pg_regress (make installcheck), then every executable test/t/*.sh.
# Ends with exactly one line "N passed, M failed"; exits non-zero on any failure.
# Kafka and PostgreSQL are stopped on every exit path (including build failures and Ctrl-C).
#
# Environment:
#   TESTS="a b"      run only these tests: names with sql/NAME.sql go to pg_regress (REGRESS=...),
#                    names with test/t/NAME.sh run as scripted tests; default: everything
#   KAFKA_VERSION    broker version for scripts/kafka.sh (default there: 3.9.1)
#   BUILD_CFLAGS     PG_CFLAGS for the build (default "-Wall -Wextra -Werror"; CI=true forces -Werror)
#   TEST_PGPORT      PostgreSQL port (default 55432)
#   TEST_KAFKA_PORT  Kafka port (default 19092; the controller listens on the next port)
#   PG_BIN           PostgreSQL bin directory (default /usr/lib/postgresql/15/bin); a private copy of
#                    the PostgreSQL tree lets two checkouts test side by side without sharing $libdir
#   T_TIMEOUT        per scripted test timeout in seconds (default 300)
#   FUZZ_SECONDS     seconds each libFuzzer harness runs (default 60; 0 skips the fuzz phase);
#                    TESTS="fuzz" or TESTS="fuzz_json ..." selects the harnesses
#   TEST_PG_HOME, TEST_KAFKA_HOME  where the throwaway cluster and broker live (default .tmp/pg-test,
#                    .tmp/kafka-test); scripts/asan.sh uses its own
#   TEST_REGISTRY    auto (default): start a schema registry (scripts/registry.sh, Apicurio) when a
#                    selected test mentions SCHEMA_REGISTRY_URL; 1: always; 0: never
#   TEST_REGISTRY_PORT  its port (default 18081; its management interface listens on the next port);
#                    TEST_REGISTRY_HOME its state (default .tmp/registry-test). Tests get
#                    SCHEMA_REGISTRY_URL (its Confluent API) and REGISTRY_PYTHON (a python with
#                    confluent_kafka[avro]) in their environment.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
REPO=$(dirname "$here")
cd "$REPO"

export KAFKA_PORT=${TEST_KAFKA_PORT:-19092}
export KAFKA_CONTROLLER_PORT=$((KAFKA_PORT + 1)) KAFKA_HOME=${TEST_KAFKA_HOME:-$REPO/.tmp/kafka-test}
export PGPORT=${TEST_PGPORT:-55432} PG_HOME=${TEST_PG_HOME:-$REPO/.tmp/pg-test}
export PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
export PG_CONFIG=$PG_BIN/pg_config
export REGISTRY_PORT=${TEST_REGISTRY_PORT:-18081} REGISTRY_HOME=${TEST_REGISTRY_HOME:-$REPO/.tmp/registry-test}
TEST_REGISTRY=${TEST_REGISTRY:-auto}
[ -n "${KAFKA_VERSION:-}" ] && export KAFKA_VERSION
BUILD_CFLAGS=${BUILD_CFLAGS:--Wall -Wextra -Werror}
if [ "${CI:-}" = "true" ] && [[ " $BUILD_CFLAGS " != *" -Werror "* ]]; then BUILD_CFLAGS="$BUILD_CFLAGS -Werror"; fi
T_TIMEOUT=${T_TIMEOUT:-300}
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
logdir=$REPO/.tmp/test-logs

passed=0 failed=0
failures=()
phase="" phase_t0=0 all_done=0
timings=()

now() { date +%s%N; }
secs() { awk -v d="$1" 'BEGIN { printf "%.1f", d / 1e9 }'; }
begin() { phase=$1; phase_t0=$(now); echo; echo "==> [$phase]"; }
end_phase() {
  local t; t=$(secs $(( $(now) - phase_t0 )))
  timings+=("$phase ${t}s"); echo "<== [$phase] ${t} s"; phase=""
}

# run_child VAR LOG CMD...: run CMD in the background (output to LOG, stdin /dev/null) and wait for it,
# so that INT/TERM interrupt the wait at once (bash defers traps while a foreground child runs);
# the cleanup trap then kills the child. VAR receives CMD's exit status.
child=""
registry_starter=""   # a background scripts/registry.sh start
run_child() {
  local __var=$1 __log=$2 __rc=0; shift 2
  "$@" > "$__log" 2>&1 < /dev/null &
  child=$!
  wait "$child" || __rc=$?
  child=""
  printf -v "$__var" '%s' "$__rc"
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  set +e
  if [ -n "$child" ]; then kill -TERM "$child" 2>/dev/null; wait "$child" 2>/dev/null; fi
  if [ -n "$registry_starter" ]; then kill -TERM "$registry_starter" 2>/dev/null; wait "$registry_starter" 2>/dev/null; fi
  if [ -n "$phase" ] && [ "$all_done" -eq 0 ]; then
    # A phase aborted (set -e, kafka/pg start failure, signal): that is a failure of its own.
    echo "test.sh: phase '$phase' aborted (exit $rc)" >&2
    timings+=("$phase aborted")
    failed=$((failed + 1)); failures+=("phase:$phase")
  fi
  # Always (also after a build failure): pid-file based and a no-op when nothing runs.
  echo; echo "==> [teardown]"
  "$REPO/scripts/pg.sh" stop
  "$REPO/scripts/kafka.sh" stop
  "$REPO/scripts/registry.sh" stop
  echo
  local IFS=','
  echo "timings: ${timings[*]:-none}" | sed 's/,/, /g'
  unset IFS
  if [ "${#failures[@]}" -gt 0 ]; then echo "failed: ${failures[*]}"; fi
  echo "$passed passed, $failed failed"
  if [ "$failed" -gt 0 ] || [ "$rc" -ne 0 ]; then exit 1; fi
  exit 0
}
trap cleanup EXIT
trap 'echo "test.sh: interrupted" >&2; exit 130' INT
trap 'echo "test.sh: terminated" >&2; exit 143' TERM

# ---- which tests -------------------------------------------------------------------------------
regress_sel="" scripted_sel=() fuzz_sel=() select=0
all_fuzz=(fuzz_json fuzz_csv fuzz_text fuzz_headers fuzz_avro)
all_scripts=()
for f in test/t/*.sh; do
  [ -e "$f" ] || continue
  if [ -x "$f" ]; then all_scripts+=("$f"); else echo "test.sh: note: $f is not executable, skipped"; fi
done
if [ -n "${TESTS:-}" ]; then
  select=1
  for name in $TESTS; do
    name=${name%.sql}; name=${name%.sh}; name=${name#sql/}; name=${name#test/t/}
    if [ "$name" = fuzz ]; then
      fuzz_sel+=("${all_fuzz[@]}")
    elif [[ " ${all_fuzz[*]} " == *" $name "* ]]; then
      fuzz_sel+=("$name")
    elif [ -f "test/t/$name.sh" ] && ! [ -f "sql/$name.sql" ]; then
      scripted_sel+=("test/t/$name.sh")
    else
      regress_sel="${regress_sel:+$regress_sel }$name"   # unknown names: let pg_regress complain
    fi
  done
else
  scripted_sel=("${all_scripts[@]+"${all_scripts[@]}"}")
  fuzz_sel=("${all_fuzz[@]}")
fi

# A schema registry only when a selected test uses one (it costs a JVM start, ~10 s, in parallel
# with Kafka's): tests that do mention SCHEMA_REGISTRY_URL.
need_registry=0
case "$TEST_REGISTRY" in
  1) need_registry=1 ;;
  0) ;;
  *)
    reg_files=()
    if [ "$select" -eq 1 ]; then
      for name in $regress_sel; do [ -f "sql/$name.sql" ] && reg_files+=("sql/$name.sql"); done
    else
      for f in sql/*.sql; do [ -e "$f" ] && reg_files+=("$f"); done
    fi
    reg_files+=("${scripted_sel[@]+"${scripted_sel[@]}"}")
    if [ "${#reg_files[@]}" -gt 0 ] && grep -q SCHEMA_REGISTRY_URL "${reg_files[@]}"; then need_registry=1; fi
    ;;
esac

# ---- deps + build ------------------------------------------------------------------------------
begin deps
bash "$REPO/scripts/install-deps.sh"
end_phase

begin build
make clean >/dev/null
make -j"$(nproc)" PG_CONFIG="$PG_CONFIG" PG_CFLAGS="$BUILD_CFLAGS"
end_phase

begin install
# scripts of an earlier install that this tree no longer ships (a kafka_fdw--1.1.sql) would
# shadow the 1.0 -> 1.1 update path that CREATE EXTENSION takes
rm -f "$("$PG_CONFIG" --sharedir)/extension/"kafka_fdw--*.sql
make install PG_CONFIG="$PG_CONFIG" >/dev/null
echo "installed into $("$PG_CONFIG" --pkglibdir)"
end_phase

# ---- fuzzing: libFuzzer harnesses of the decoders (no broker or server needed, so before them) ----
if [ "${#fuzz_sel[@]}" -gt 0 ] && [ "$FUZZ_SECONDS" = 0 ]; then
  echo; echo "test.sh: FUZZ_SECONDS=0: fuzz phase not run (${fuzz_sel[*]} not counted)"
elif [ "${#fuzz_sel[@]}" -gt 0 ]; then
  begin fuzz
  mkdir -p "$logdir"
  fuzz_rc=0
  run_child fuzz_rc "$logdir/fuzz.log" env PG_BIN="$PG_BIN" "$REPO/scripts/fuzz.sh" "$FUZZ_SECONDS" "${fuzz_sel[@]}"
  cat "$logdir/fuzz.log"
  fp=$(grep -c '^fuzz/.* \.\.\. ok' "$logdir/fuzz.log" || true)
  ff=$(grep -c '^fuzz/.* \.\.\. FAILED' "$logdir/fuzz.log" || true)
  passed=$((passed + fp)); failed=$((failed + ff))
  while read -r n; do failures+=("fuzz:$n"); done < <(sed -n 's|^fuzz/\([^ ]*\) \.\.\. FAILED.*|\1|p' "$logdir/fuzz.log")
  if [ "$fuzz_rc" -ne 0 ] && [ "$ff" -eq 0 ]; then
    failed=$((failed + 1)); failures+=("fuzz:build(exit $fuzz_rc)")
  fi
  end_phase
fi

# ---- services ----------------------------------------------------------------------------------
if [ "$select" -eq 1 ] && [ -z "$regress_sel" ] && [ "${#scripted_sel[@]}" -eq 0 ]; then
  all_done=1   # only harnesses were selected: no broker or server needed
  exit 0
fi
begin services
# Leftovers from an earlier aborted run (found via their pid files) must not survive.
"$REPO/scripts/pg.sh" stop
"$REPO/scripts/kafka.sh" stop
"$REPO/scripts/registry.sh" stop
if kcat -b "127.0.0.1:$KAFKA_PORT" -L -m 2 >/dev/null 2>&1; then
  echo "test.sh: a foreign Kafka already answers on 127.0.0.1:$KAFKA_PORT; stop it first" >&2; exit 1
fi
if [ "$need_registry" -eq 1 ]; then
  # fetched first, alone (mvn and pip; cached): two mvn runs must not share ~/.m2 at once
  "$REPO/scripts/registry.sh" fetch
  mkdir -p "$logdir"
  "$REPO/scripts/registry.sh" start > "$logdir/registry-start.log" 2>&1 < /dev/null &
  registry_starter=$!
else
  echo "test.sh: no selected test uses a schema registry; not started (TEST_REGISTRY=1 starts one)"
fi
"$REPO/scripts/kafka.sh" start
if [ -n "$registry_starter" ]; then
  reg_rc=0
  wait "$registry_starter" || reg_rc=$?
  registry_starter=""
  cat "$logdir/registry-start.log"
  if [ "$reg_rc" -ne 0 ]; then echo "test.sh: the schema registry did not start (exit $reg_rc)" >&2; exit 1; fi
  # SCHEMA_REGISTRY_URL, REGISTRY_PYTHON (exported), for pg_regress and the scripted tests
  # shellcheck disable=SC1091
  source "$REGISTRY_HOME/registry.env"
fi
# the secured listeners' ports, users, passwords and CA (exported), for test/t/secure.sh
# shellcheck disable=SC1091
source "$KAFKA_HOME/secure.env"
# sql/write.sql checks that PREPARE TRANSACTION works, or is refused with our error
export PG_EXTRA_CONF="${PG_EXTRA_CONF:+$PG_EXTRA_CONF
}max_prepared_transactions = 10"
"$REPO/scripts/pg.sh" start
# shellcheck disable=SC1091
source "$PG_HOME/env"
export KAFKA_BROKERS=127.0.0.1:$KAFKA_PORT
end_phase

# ---- pg_regress --------------------------------------------------------------------------------
run_regress=1
if [ "$select" -eq 1 ] && [ -z "$regress_sel" ]; then run_regress=0; fi
if [ "$run_regress" -eq 1 ] && ! make -n installcheck PG_CONFIG="$PG_CONFIG" >/dev/null 2>&1; then
  echo "test.sh: Makefile has no installcheck target (REGRESS not defined); skipping pg_regress"
  run_regress=0
fi
if [ "$run_regress" -eq 1 ]; then
  begin pg_regress
  mkdir -p "$logdir"
  rm -f regression.diffs regression.out
  regress_args=()
  [ -n "$regress_sel" ] && regress_args+=("REGRESS=$regress_sel")
  regress_rc=0
  run_child regress_rc "$logdir/pg_regress.log" make installcheck PG_CONFIG="$PG_CONFIG" "${regress_args[@]+"${regress_args[@]}"}"
  cat "$logdir/pg_regress.log"
  # PG15: "test foo   ... ok   12 ms", "     foo ... FAILED   3 ms", "... failed (ignored)";
  # PG16+ TAP: "ok 1   - foo   12 ms", "not ok 2   + foo".
  read -r rp rf rfails < <(awk '
    /^not ok [0-9]+ +[-+] / { sub(/^not ok [0-9]+ +[-+] +/, ""); f++; names = names $1 ","; next }
    /^ok [0-9]+ +[-+] /     { p++; next }
    /\.\.\. +ok( |$)/       { p++; next }
    /\.\.\. +failed \(ignored\)/ { p++; next }
    /\.\.\. +FAILED/        { line = $0; sub(/^ *(test +)?/, "", line); split(line, a, / +/); f++; names = names a[1] ","; next }
    END { printf "%d %d %s\n", p, f, (names == "" ? "-" : names) }' "$logdir/pg_regress.log")
  passed=$((passed + rp)); failed=$((failed + rf))
  if [ "$rf" -gt 0 ]; then IFS=',' read -r -a fn <<< "${rfails%,}"; for n in "${fn[@]}"; do failures+=("regress:$n"); done; fi
  if [ "$regress_rc" -ne 0 ] && [ "$rf" -eq 0 ]; then
    # pg_regress itself failed (cannot connect, missing file, ...) without a per-test verdict.
    failed=$((failed + 1)); failures+=("regress:pg_regress(exit $regress_rc)")
  fi
  echo "pg_regress: ok=$rp failed=$rf (make exit $regress_rc)"
  if [ "$regress_rc" -ne 0 ] || [ "$rf" -gt 0 ]; then
    if [ -f regression.diffs ]; then echo "---- regression.diffs ----"; cat regression.diffs; echo "---- end regression.diffs ----"; fi
    if [ -n "${PG_LOG:-}" ] && [ -f "$PG_LOG" ]; then echo "---- server log (last 50 lines) ----"; tail -50 "$PG_LOG"; fi
  fi
  end_phase
fi

# ---- scripted tests ----------------------------------------------------------------------------
if [ "${#scripted_sel[@]}" -gt 0 ]; then
  begin scripted
  mkdir -p "$logdir"
  for t in "${scripted_sel[@]}"; do
    name=$(basename "$t" .sh)
    if ! [ -x "$t" ]; then echo "t/$name ... FAILED (not executable)"; failed=$((failed + 1)); failures+=("t:$name"); continue; fi
    scratch=$REPO/.tmp/t/$name
    rm -rf "$scratch"; mkdir -p "$scratch"
    t0=$(now)
    trc=0
    run_child trc "$logdir/t-$name.log" env KAFKA_BROKERS="$KAFKA_BROKERS" KAFKA_PORT="$KAFKA_PORT" KAFKA_HOME="$KAFKA_HOME" \
        PGHOST="$PGHOST" PGPORT="$PGPORT" PGUSER="$PGUSER" PGDATABASE="$PGDATABASE" PG_LOG="${PG_LOG:-}" \
        REPO="$REPO" TEST_TMP="$scratch" \
        SCHEMA_REGISTRY_URL="${SCHEMA_REGISTRY_URL:-}" REGISTRY_PYTHON="${REGISTRY_PYTHON:-}" \
        KAFKA_SH="$REPO/scripts/kafka.sh" PG_SH="$REPO/scripts/pg.sh" PG_ENV="$PG_HOME/env" \
        timeout --kill-after=10 "$T_TIMEOUT" "$t"
    dt=$(secs $(( $(now) - t0 )))
    if [ "$trc" -eq 0 ]; then
      echo "t/$name ... ok (${dt} s)"; passed=$((passed + 1))
    else
      why="exit $trc"; [ "$trc" -eq 124 ] && why="timeout after ${T_TIMEOUT} s"
      echo "t/$name ... FAILED ($why, ${dt} s); output:"
      sed 's/^/    | /' "$logdir/t-$name.log"
      failed=$((failed + 1)); failures+=("t:$name")
    fi
  done
  end_phase
fi

# ---- no crash ----------------------------------------------------------------------------------
# Tests SIGKILL processes on purpose (signal 9); any other signal that ended a server process (a
# segmentation fault, an abort) is a crash of our code, whichever test it happened under.
if [ -n "${PG_LOG:-}" ] && [ -f "$PG_LOG" ] && { [ "$run_regress" -eq 1 ] || [ "${#scripted_sel[@]}" -gt 0 ]; }; then
  crashes=$(grep -E 'was terminated by signal [0-9]+' "$PG_LOG" | grep -vE 'terminated by signal 9([^0-9]|$)' || true)
  if [ -n "$crashes" ]; then
    echo "server crashes ... FAILED:"; sed 's/^/    | /' <<<"$crashes"
    grep -B2 -A20 -E 'was terminated by signal ([0-8]|1[0-9])' "$PG_LOG" | head -80 | sed 's/^/    | /'
    failed=$((failed + 1)); failures+=("server-crash")
  else
    echo "server crashes ... none (ok)"; passed=$((passed + 1))
  fi
fi

all_done=1
# cleanup (EXIT trap) stops the services and prints the summary line.
