#!/usr/bin/env bash
# A real single-node Apache Kafka broker (KRaft, combined broker+controller) for tests and the demo.
#
#   scripts/kafka.sh fetch   resolve the broker jars from Maven Central with mvn (cached)
#   scripts/kafka.sh start   format storage, start the broker in the background, wait until it answers
#   scripts/kafka.sh stop    stop the broker started by 'start' (by PID)
#   scripts/kafka.sh restart stop the broker and start it again on the same data (a broker restart)
#   scripts/kafka.sh status
#
# Environment: KAFKA_VERSION (default 3.9.1), KAFKA_PORT (default 9092), KAFKA_CONTROLLER_PORT (9093),
# KAFKA_HOME (state dir, default $REPO/.tmp/kafka), KAFKA_CACHE (jar cache, default ~/.cache/kafka_fdw),
# KAFKA_SECURE (default 1: also start the secured listeners below; 0: PLAINTEXT only),
# KAFKA_EXTRA_PROPS (lines appended to server.properties, e.g. for benchmarks).
#
# Secured listeners (KAFKA_SECURE=1), next to the PLAINTEXT one, for tests of SASL and TLS:
#   SASL_PLAINTEXT on KAFKA_PORT+2   mechanisms PLAIN and SCRAM-SHA-256
#   SSL            on KAFKA_PORT+3   server certificate only (no client certificates)
#   SASL_SSL       on KAFKA_PORT+4   PLAIN and SCRAM-SHA-256 over TLS
# Every start generates fresh secrets under $KAFKA_HOME/secure (mode 700): a CA (openssl), the
# broker's key and certificate for 127.0.0.1/localhost signed by it in a PKCS12 keystore, and random
# passwords for the PLAIN user (in the listeners' JAAS configuration) and the SCRAM-SHA-256 user
# (created by the broker's own storage tool, kafka.tools.StorageTool format --add-scram).
# $KAFKA_HOME/secure.env (mode 600) exports for tests: KAFKA_SASL_PORT, KAFKA_SSL_PORT,
# KAFKA_SASL_SSL_PORT, KAFKA_PLAIN_USER/_PASSWORD, KAFKA_SCRAM_USER/_PASSWORD, KAFKA_CA (PEM file),
# KAFKA_BROKER_VERSION.
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
KAFKA_SECURE=${KAFKA_SECURE:-1}
KAFKA_SASL_PORT=$((KAFKA_PORT + 2))
KAFKA_SSL_PORT=$((KAFKA_PORT + 3))
KAFKA_SASL_SSL_PORT=$((KAFKA_PORT + 4))
secdir=$KAFKA_HOME/secure

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

# kcat_secure PORT PROTOCOL [MECHANISM USER PASSWORD]: kcat -L against a secured listener
kcat_secure() {
  local args=(-b "127.0.0.1:$1" -L -m 2 -X "security.protocol=$2")
  case "$2" in SSL|SASL_SSL) args+=(-X "ssl.ca.location=$secdir/ca.pem") ;; esac
  if [ $# -gt 2 ]; then args+=(-X "sasl.mechanisms=$3" -X "sasl.username=$4" -X "sasl.password=$5"); fi
  kcat "${args[@]}" 2>/dev/null | grep -q "broker 1 at"
}

# Ready when every listener answers (the secured ones with their credentials).
ready() {
  kcat -b "127.0.0.1:$KAFKA_PORT" -L -m 2 2>/dev/null | grep -q "broker 1 at" || return 1
  # the secured listeners exist when this start made secrets for them
  [ -f "$KAFKA_HOME/secure.env" ] || return 0
  # shellcheck disable=SC1091
  . "$KAFKA_HOME/secure.env"
  # PLAIN, not SCRAM: librdkafka before 2.6.1 (kcat's too) fails SCRAM against Kafka 4.x brokers
  # (it repeats the client nonce, which 4.x rejects as invalid credentials)
  kcat_secure "$KAFKA_SASL_PORT" SASL_PLAINTEXT PLAIN "$KAFKA_PLAIN_USER" "$KAFKA_PLAIN_PASSWORD" &&
  kcat_secure "$KAFKA_SSL_PORT" SSL &&
  kcat_secure "$KAFKA_SASL_SSL_PORT" SASL_SSL PLAIN "$KAFKA_PLAIN_USER" "$KAFKA_PLAIN_PASSWORD"
}

# Fresh secrets for the secured listeners: CA, broker certificate in a PKCS12 keystore, passwords,
# and secure.env for tests.  Everything stays under $KAFKA_HOME (the repository's .tmp by default).
make_secrets() {
  rm -rf "$secdir"
  mkdir -p "$secdir"; chmod 700 "$secdir"
  local ks_pass plain_pass scram_pass
  ks_pass=$(openssl rand -hex 16); plain_pass=$(openssl rand -hex 12); scram_pass=$(openssl rand -hex 12)
  (
    cd "$secdir"
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=kafka_fdw test CA" \
        -keyout ca.key -out ca.pem 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout broker.key -out broker.csr 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' > broker.ext
    openssl x509 -req -in broker.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 \
        -extfile broker.ext -out broker.pem 2>/dev/null
    openssl pkcs12 -export -in broker.pem -inkey broker.key -certfile ca.pem -name broker \
        -passout "pass:$ks_pass" -out broker.p12
    rm -f broker.csr broker.ext ca.srl
  )
  cat > "$secdir/broker.properties" <<P
ssl.keystore.type=PKCS12
ssl.keystore.location=$secdir/broker.p12
ssl.keystore.password=$ks_pass
ssl.key.password=$ks_pass
ssl.client.auth=none
sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256
listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_alice="$plain_pass";
listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_alice="$plain_pass";
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
P
  (umask 077; cat > "$KAFKA_HOME/secure.env") <<E
export KAFKA_SASL_PORT=$KAFKA_SASL_PORT
export KAFKA_SSL_PORT=$KAFKA_SSL_PORT
export KAFKA_SASL_SSL_PORT=$KAFKA_SASL_SSL_PORT
export KAFKA_PLAIN_USER=alice
export KAFKA_PLAIN_PASSWORD=$plain_pass
export KAFKA_SCRAM_USER=bob
export KAFKA_SCRAM_PASSWORD=$scram_pass
export KAFKA_CA=$secdir/ca.pem
export KAFKA_BROKER_VERSION=$KAFKA_VERSION
E
}

start() {
  fetch
  if running; then echo "kafka.sh: already running (pid $(cat "$pidfile"))"; return 0; fi
  rm -rf "$KAFKA_HOME/data" "$KAFKA_HOME/logs" "$KAFKA_HOME/secure.env"
  mkdir -p "$KAFKA_HOME/data" "$KAFKA_HOME/logs"
  local listeners="PLAINTEXT://127.0.0.1:$KAFKA_PORT" protomap="CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"
  local scram=()
  if [ "$KAFKA_SECURE" = 1 ]; then
    make_secrets
    listeners="$listeners,SASL_PLAINTEXT://127.0.0.1:$KAFKA_SASL_PORT,SSL://127.0.0.1:$KAFKA_SSL_PORT,SASL_SSL://127.0.0.1:$KAFKA_SASL_SSL_PORT"
    protomap="$protomap,SASL_PLAINTEXT:SASL_PLAINTEXT,SSL:SSL,SASL_SSL:SASL_SSL"
    # shellcheck disable=SC1091
    . "$KAFKA_HOME/secure.env"
    scram=(--add-scram "SCRAM-SHA-256=[name=$KAFKA_SCRAM_USER,password=$KAFKA_SCRAM_PASSWORD]")
  fi
  cat > "$KAFKA_HOME/server.properties" <<P
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=$listeners,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=$listeners
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=$protomap
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
  if [ "$KAFKA_SECURE" = 1 ]; then cat "$secdir/broker.properties" >> "$KAFKA_HOME/server.properties"; fi
  if [ -n "${KAFKA_EXTRA_PROPS:-}" ]; then printf '%s\n' "$KAFKA_EXTRA_PROPS" >> "$KAFKA_HOME/server.properties"; fi
  chmod 600 "$KAFKA_HOME/server.properties"
  local opts; opts=$(java_opts)
  local cp="$libdir/*"
  local cid; cid=$(java -cp "$cp" $opts -Dkafka.logs.dir="$KAFKA_HOME/logs" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -1)
  java -cp "$cp" $opts -Dkafka.logs.dir="$KAFKA_HOME/logs" kafka.tools.StorageTool format \
      -c "$KAFKA_HOME/server.properties" -t "$cid" --ignore-formatted "${scram[@]+"${scram[@]}"}" \
      > "$KAFKA_HOME/logs/format.log" 2>&1 || { echo "kafka.sh: storage format failed:" >&2; cat "$KAFKA_HOME/logs/format.log" >&2; return 1; }
  launch
}

# Start the broker process on the existing configuration and data; wait until it answers
launch() {
  local opts; opts=$(java_opts)
  local cp="$libdir/*"
  nohup java -Xms256m -Xmx$KAFKA_HEAP -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true \
      -cp "$cp" $opts -Dkafka.logs.dir="$KAFKA_HOME/logs" \
      kafka.Kafka "$KAFKA_HOME/server.properties" > "$KAFKA_HOME/logs/stdout.log" 2>&1 < /dev/null &
  echo $! > "$pidfile"
  local deadline=$((SECONDS + 120))
  while [ "$SECONDS" -lt "$deadline" ]; do
    if ready; then
      echo "kafka.sh: Kafka $KAFKA_VERSION ready on 127.0.0.1:$KAFKA_PORT (pid $(cat "$pidfile"))"
      if [ "$KAFKA_SECURE" = 1 ]; then
        echo "kafka.sh: secured listeners: SASL_PLAINTEXT $KAFKA_SASL_PORT, SSL $KAFKA_SSL_PORT, SASL_SSL $KAFKA_SASL_SSL_PORT (credentials in $KAFKA_HOME/secure.env)"
      fi
      return 0
    fi
    if ! running; then echo "kafka.sh: broker exited; last log lines:" >&2; tail -n 30 "$KAFKA_HOME/logs/stdout.log" "$KAFKA_HOME/logs/server.log" >&2 || true; return 1; fi
    sleep 0.5
  done
  echo "kafka.sh: broker did not answer within 120 s" >&2
  tail -n 30 "$KAFKA_HOME/logs/server.log" >&2 || true
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

# Stop the broker and start it again on the same data and configuration (a broker restart)
restart() {
  [ -f "$KAFKA_HOME/server.properties" ] || { echo "kafka.sh: no broker to restart" >&2; return 1; }
  stop
  launch
}

case "${1:-}" in
  fetch) fetch ;;
  start) start ;;
  stop) stop ;;
  restart) restart ;;
  status) if running && ready; then echo "running"; else echo "stopped"; exit 1; fi ;;
  *) echo "usage: $0 fetch|start|stop|restart|status" >&2; exit 2 ;;
esac
