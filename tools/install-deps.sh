#!/usr/bin/env bash
# Installs the Debian 12 packages weir builds, tests and benchmarks with, but
# only those that are missing, so a second run costs one dpkg query.
set -euo pipefail

PKGS=(
  build-essential cmake pkg-config git curl ca-certificates
  libhwloc-dev hwloc libyaml-dev liburing-dev libjemalloc-dev librocksdb-dev
  librdkafka-dev libmicrohttpd-dev libcmocka-dev libbenchmark-dev libxxhash-dev
  libck-dev libdpdk-dev gnuplot-nox
  # S3-compatible checkpoint storage (io/src/storage/s3.c): libcurl 7.75+ for CURLOPT_AWS_SIGV4
  libcurl4-openssl-dev
  # the Kafka source's JSON values; kcat for the README's Kafka examples
  libjansson-dev kcat
  # the tests read weir inspect --json with jq (tests/cli/test_inspect.sh)
  jq
  # the fuzz build (make test-fuzz): clang 14, and libFuzzer's runtime
  # (libclang_rt.fuzzer-x86_64.a), which Debian 12 ships in libclang-rt-14-dev
  clang libclang-rt-14-dev
  # the Kafka tests read topics back with read_committed (tests/kafka/*.sh), and the README's
  # Kafka examples use it
  kcat
  # tools/deploy's alert rules are checked with promtool, and tests/deploy scrape a job with a
  # real Prometheus server (tools/prometheus.sh)
  prometheus
  # systemd-analyze verifies tools/deploy/systemd/weir@.service (tests/deploy/test_systemd.sh)
  systemd
  # the REST server's web dashboard is tested in a real headless browser
  # (tests/rest/test_web_dashboard.sh)
  chromium
)

# The Flink peer (bench/peers/flink) needs a JDK 17 and Maven; many machines
# bring their own, so only install Debian's when the commands are missing.
if ! command -v javac >/dev/null 2>&1; then PKGS+=(openjdk-17-jdk-headless); fi
if ! command -v mvn >/dev/null 2>&1; then PKGS+=(maven); fi
# The S3 tests run S3Proxy (tools/s3proxy.sh), one jar that needs only a Java runtime; the JDK
# above brings one, so this adds a JRE only where javac exists but java does not.
if ! command -v java >/dev/null 2>&1 && command -v javac >/dev/null 2>&1; then
  PKGS+=(openjdk-17-jre-headless)
fi

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "weir: installing missing Debian packages: ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "weir: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
