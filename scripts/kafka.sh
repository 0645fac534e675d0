#!/usr/bin/env bash
# A real single-node Apache Kafka broker (KRaft, combined broker+controller) for tests and the demo.
#
#   scripts/kafka.sh fetch   resolve the broker jars from Maven Central with mvn (cached)
#   scripts/kafka.sh start   format storage, start the broker in the background, wait until it answers
#   scripts/kafka.sh stop    stop the broker started by 'start' (by PID)
#   scripts/kafka.sh status
#
# Environment: KAFKA_VERSION (default 3.9.1), KAFKA_PORT (default 9092), KAFKA_CONTROLLER_PORT (9093),
# KAFKA_HOME (state dir, default $REPO/.tmp/kafka), KAFKA_CACHE (jar cache, default ~/.cache/kafka_fdw).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
KAFKA_VERSION=${KAFKA_VERSION:-3.9.1}
KAFKA_PORT=${KAFKA_PORT:-9092}
KAFKA_CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-9093}
KAFKA_HOME=${KAFKA_HOME:-$repo/.tmp/kafka}
KAFKA_CACHE=${KAFKA_CACHE:-$HOME/.cache/kafka_fdw}
KAFKA_HEAP=${KAFKA_HEAP:-512m}
libdir=$KAFKA_CACHE/kafka-$KAFKA_VERSION
pidfile=$KAFKA_HOME/kafka.pid

major=${KAFKA_VERSION%%.*}

fetch() {
  if [ -f "$libdir/.complete" ]; then return 0; fi
  mkdir -p "$libdir"
  local pom; pom=$(mktemp -d)/pom.xml
  local logdeps
  if [ "$major" -ge 4 ]; then
    logdeps='<dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j2-impl</artifactId><version>2.24.3</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId><version>2.24.3</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-api</artifactId><version>2.24.3</version></dependency>'
  else
    logdeps='<dependency><groupId>org.slf4j</groupId><artifactId>slf4j-reload4j</artifactId><version>1.7.36</version></dependency>
    <dependency><groupId>ch.qos.reload4j</groupId><artifactId>reload4j</artifactId><version>1.2.25</version></dependency>'
  fi
  cat > "$pom" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>kafka_fdw.testbed</groupId><artifactId>broker</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$KAFKA_VERSION</version></dependency>
    $logdeps
  </dependencies>
</project>
POM
  echo "kafka.sh: resolving Apache Kafka $KAFKA_VERSION jars with mvn"
  mvn -B -q -f "$pom" org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$libdir"
  touch "$libdir/.complete"
}

java_opts() {
  if [ "$major" -ge 4 ]; then
    cat > "$KAFKA_HOME/log4j2.properties" <<'L'
status = warn
appender.f.type = File
appender.f.name = F
appender.f.fileName = ${sys:kafka.logs.dir}/server.log
appender.f.layout.type = PatternLayout
appender.f.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.f.ref = F
L
    echo "-Dlog4j2.configurationFile=file:$KAFKA_HOME/log4j2.properties"
  else
    cat > "$KAFKA_HOME/log4j.properties" <<'L'
log4j.rootLogger=INFO, F
log4j.appender.F=org.apache.log4j.FileAppender
log4j.appender.F.File=${kafka.logs.dir}/server.log
log4j.appender.F.layout=org.apache.log4j.PatternLayout
log4j.appender.F.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka=INFO
log4j.logger.org.apache.kafka=INFO
L
    echo "-Dlog4j.configuration=file:$KAFKA_HOME/log4j.properties"
  fi
}

running() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

ready() { kcat -b "127.0.0.1:$KAFKA_PORT" -L -m 2 2>/dev/null | grep -q "broker 1 at"; }

start() {
  fetch
  if running; then echo "kafka.sh: already running (pid $(cat "$pidfile"))"; return 0; fi
  rm -rf "$KAFKA_HOME/data" "$KAFKA_HOME/logs"
  mkdir -p "$KAFKA_HOME/data" "$KAFKA_HOME/logs"
  cat > "$KAFKA_HOME/server.properties" <<P
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$KAFKA_HOME/data
num.partitions=1
auto.create.topics.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
group.initial.rebalance.delay.ms=0
log.cleaner.dedupe.buffer.size=33554432
log.retention.hours=-1
log.segment.bytes=134217728
P
  local opts; opts=$(java_opts)
  local cp="$libdir/*"
  local cid; cid=$(java -cp "$cp" $opts -Dkafka.logs.dir="$KAFKA_HOME/logs" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -1)
  java -cp "$cp" $opts -Dkafka.logs.dir="$KAFKA_HOME/logs" kafka.tools.StorageTool format \
      -c "$KAFKA_HOME/server.properties" -t "$cid" --ignore-formatted > "$KAFKA_HOME/logs/format.log" 2>&1
  nohup java -Xms256m -Xmx$KAFKA_HEAP -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true \
      -cp "$cp" $opts -Dkafka.logs.dir="$KAFKA_HOME/logs" \
      kafka.Kafka "$KAFKA_HOME/server.properties" > "$KAFKA_HOME/logs/stdout.log" 2>&1 < /dev/null &
  echo $! > "$pidfile"
  local i
  for i in $(seq 1 240); do
    if ready; then echo "kafka.sh: Kafka $KAFKA_VERSION ready on 127.0.0.1:$KAFKA_PORT (pid $(cat "$pidfile"))"; return 0; fi
    if ! running; then echo "kafka.sh: broker exited; last log lines:" >&2; tail -30 "$KAFKA_HOME/logs/stdout.log" "$KAFKA_HOME/logs/server.log" >&2 || true; return 1; fi
    sleep 0.5
  done
  echo "kafka.sh: broker did not answer within 120 s" >&2
  tail -30 "$KAFKA_HOME/logs/server.log" >&2 || true
  stop; return 1
}

stop() {
  if ! [ -f "$pidfile" ]; then return 0; fi
  local pid; pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    local i
    for i in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
  echo "kafka.sh: stopped"
}

case "${1:-}" in
  fetch) fetch ;;
  start) start ;;
  stop) stop ;;
  status) if running && ready; then echo "running"; else echo "stopped"; exit 1; fi ;;
  *) echo "usage: $0 fetch|start|stop|status" >&2; exit 2 ;;
esac
