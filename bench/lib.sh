# Helpers shared by the benchmarks (sourced by bench/*.sh after they set REPO; not run by itself).

# log MESSAGE: progress, on stderr
log() { echo "bench: $*" >&2; }

# now_ms: the time in milliseconds since the epoch
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# psql ARGS...: the benchmark cluster's psql (PG_BIN), quiet, stopping at the first error;
# q SQL: one statement, printing bare values
psql() { "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 "$@"; }
q() { psql -At -c "$1"; }

# median N...: the median of the numbers (the mean of the middle two for an even count; nan
# for none). A file of one number a line: median $(<FILE)
median() {
  printf '%s\n' "$@" | sort -n |
    awk 'NF { a[++n] = $1 } END { if (n == 0) print "nan"; else if (n % 2) print a[(n + 1) / 2]; else print (a[n / 2] + a[n / 2 + 1]) / 2 }'
}

# minmax N...: "lowest..highest" of the numbers
minmax() { printf '%s\n' "$@" | sort -n | awk 'NF { if (!n++) lo = $1; hi = $1 } END { printf "%s..%s", lo, hi }'; }

# ratio A B: A / B, two decimals
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

# rate N MS: N things in MS milliseconds, per second
rate() { awk -v n="$1" -v t="$2" 'BEGIN { printf "%.0f", n / t * 1000 }'; }

# verdict V OP GOAL: PASS when V OP GOAL holds (OP is <= or >=), MISS otherwise
verdict() { awk -v v="$1" -v op="$2" -v g="$3" 'BEGIN { ok = (op == "<=" ? v <= g : v >= g); print (ok ? "PASS" : "MISS") }'; }
