#!/usr/bin/env bash
# The whole kafka_fdw suite (scripts/test.sh: pg_regress + test/t/*.sh) with kafka_fdw built under
# AddressSanitizer, in a private copy of PostgreSQL. Fails if any test fails or if ASan wrote any
# report; prints the reports.
#
#   scripts/asan.sh                  (TESTS="..." runs a subset, as for scripts/test.sh)
#
# How (see /work/shared/notes/test-bed-facts.md, "Running the suite under AddressSanitizer"):
#  - PostgreSQL itself is not instrumented; kafka_fdw is built with -fsanitize=address
#    -fsanitize-recover=address -fno-omit-frame-pointer -g -O1 and the server runs with gcc's
#    libasan preloaded (LD_PRELOAD, passed to the server only, through scripts/pg.sh PG_ENV_EXTRA).
#  - Preloading libasan alone makes postgres hang in bindtextdomain on Debian 12 (ASan's failed
#    dlsym("swift_demangle") under glibc's locale lock); a tiny .so defining swift_demangle,
#    preloaded after libasan, avoids it.
#  - The extension is installed into a relocatable copy of the PostgreSQL tree under .tmp/asan/pg
#    (same relative layout, so its pg_config resolves every directory there), never into the
#    system's $libdir.
#  - ASAN_OPTIONS=detect_leaks=0 (the server exits without freeing), halt_on_error=0 (keep going,
#    report everything), log_path=.tmp/asan/reports/asan: one file per process that reported.
#  - Small overruns inside palloc chunks stay invisible (the server's allocator is not
#    instrumented); malloc'd memory (librdkafka, avro-c), stacks, globals and pallocs > 8 kB are seen.
#
# Environment: PG_SRC_ROOT (tree to copy PostgreSQL from: <root>/usr/{lib,share,include}/postgresql;
#   default: the root of PG_BIN if given, else /), TEST_PGPORT and TEST_KAFKA_PORT (as for
#   scripts/test.sh), TESTS, T_TIMEOUT; FUZZ_SECONDS is forced to 0 (the fuzz harnesses have their
#   own sanitizers: scripts/fuzz.sh). The cluster and broker live under .tmp/asan, so a plain
#   scripts/test.sh may run in the same checkout at the same time on other ports (both rebuild
#   the objects in src/, though: do not build concurrently).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
REPO=$(dirname "$here")
cd "$REPO"

A=$REPO/.tmp/asan
if [ -n "${PG_SRC_ROOT:-}" ]; then src=$PG_SRC_ROOT
elif [ -n "${PG_BIN:-}" ]; then src=$(cd "$PG_BIN/../../../../.." && pwd)
else src=/
fi
[ -x "$src/usr/lib/postgresql/15/bin/postgres" ] || { echo "asan.sh: no PostgreSQL 15 under $src/usr/lib/postgresql/15" >&2; exit 1; }
libasan=$(gcc -print-file-name=libasan.so)
[ -f "$libasan" ] || { echo "asan.sh: gcc's libasan.so not found (install libasan8 / gcc)" >&2; exit 1; }

# ---- a private PostgreSQL tree ----
root=$A/pg
rm -rf "$root"
mkdir -p "$root/usr/lib/postgresql" "$root/usr/share/postgresql" "$root/usr/include"
cp -a "$src/usr/lib/postgresql/15" "$root/usr/lib/postgresql/"
cp -a "$src/usr/share/postgresql/15" "$root/usr/share/postgresql/"
cp -a "$src/usr/include/postgresql" "$root/usr/include/"
chmod -R a+rX "$A"
pgbin=$root/usr/lib/postgresql/15/bin
[ "$("$pgbin/pg_config" --pkglibdir)" = "$root/usr/lib/postgresql/15/lib" ] ||
  { echo "asan.sh: the copied pg_config does not resolve into $root" >&2; exit 1; }

# ---- the swift_demangle stub ----
cat > "$A/swift_demangle.c" <<'C'
/* Preloaded after libasan: ASan's dlsym("swift_demangle") then succeeds (see scripts/asan.sh). */
#include <stddef.h>
char *swift_demangle(const char *mangled, size_t len, char *out, size_t *outlen, unsigned flags);
char *swift_demangle(const char *mangled, size_t len, char *out, size_t *outlen, unsigned flags)
{ (void) mangled; (void) len; (void) out; (void) outlen; (void) flags; return NULL; }
C
gcc -shared -fPIC -O1 -o "$A/swift_demangle.so" "$A/swift_demangle.c"

# ---- reports ----
reports=$A/reports
rm -rf "$reports"; mkdir -p "$reports"; chmod 1777 "$reports"

export PG_ENV_EXTRA="LD_PRELOAD=$libasan:$A/swift_demangle.so ASAN_OPTIONS=detect_leaks=0:halt_on_error=0:abort_on_error=0:log_path=$reports/asan"
export BUILD_CFLAGS="-Wall -Wextra -Werror -fsanitize=address -fsanitize-recover=address -fno-omit-frame-pointer -g -O1"
export FUZZ_SECONDS=0
export TEST_PG_HOME=$A/pg-test TEST_KAFKA_HOME=$A/kafka-test
rc=0
PG_BIN=$pgbin bash "$REPO/scripts/test.sh" || rc=$?

# the build really was instrumented
if [ "$(nm -D "$root/usr/lib/postgresql/15/lib/kafka_fdw.so" 2>/dev/null | grep -c __asan_ || true)" -eq 0 ]; then
  echo "asan.sh: kafka_fdw.so in $root has no ASan instrumentation" >&2; rc=1
fi
n=$(find "$reports" -type f | wc -l)
if [ "$n" -gt 0 ]; then
  echo "asan.sh: $n AddressSanitizer report file(s):"
  for f in "$reports"/*; do echo "---- $f"; cat "$f"; done
  rc=1
fi
echo "asan.sh: AddressSanitizer reports: $n (files in $reports)"
exit "$rc"
