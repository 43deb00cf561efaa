#!/usr/bin/env bash
# A local Prometheus server (Debian's prometheus package) for the tests that have one scrape a
# running weir job (tests/deploy/test_prometheus_scrape.sh).
#
#   tools/prometheus.sh start STATE_DIR   start it on 127.0.0.1 and a free port, scraping every
#                                         second the targets listed in STATE_DIR/targets.json
#                                         (file_sd: a test writes its job's endpoint there) and
#                                         loading tools/deploy/prometheus/weir-alerts.yml; wait
#                                         until ready. STATE_DIR/env then holds
#                                         WEIR_PROMETHEUS_URL and WEIR_PROMETHEUS_TARGETS
#   tools/prometheus.sh stop STATE_DIR    stop it (by pid) and remove its data
#
# ctest starts it once per run (fixture prometheus in tests/CMakeLists.txt). Without the
# prometheus command, start writes STATE_DIR/skip with the reason and exits 0, and the tests
# that need the server exit 77 with it.
set -euo pipefail

die() { echo "prometheus.sh: $*" >&2; exit 1; }
[ $# -eq 2 ] || die "usage: $0 start|stop STATE_DIR"
CMD=$1 STATE=$2
SRC=$(cd "$(dirname "$0")/.." && pwd)

stop() {
  if [ -s "$STATE/pid" ]; then
    local pid
    pid=$(cat "$STATE/pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -rf "$STATE/data" "$STATE/pid" "$STATE/env"
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start() {
  mkdir -p "$STATE"
  stop
  rm -f "$STATE/skip"
  if ! command -v prometheus >/dev/null; then
    echo "Prometheus unavailable: no prometheus command (tools/install-deps.sh installs it)" \
      >"$STATE/skip"
    echo "prometheus.sh: skip: no prometheus command" >&2
    exit 0
  fi
  echo '[]' >"$STATE/targets.json"
  cat >"$STATE/prometheus.yml" <<EOC
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - $SRC/tools/deploy/prometheus/weir-alerts.yml
scrape_configs:
  - job_name: weir
    file_sd_configs:
      - files: [$STATE/targets.json]
        refresh_interval: 1s
EOC
  local port=""
  for p in $(seq 19090 19189); do
    if port_free "$p"; then port=$p; break; fi
  done
  [ -n "$port" ] || die "no free port in 19090-19189"
  prometheus --config.file="$STATE/prometheus.yml" --storage.tsdb.path="$STATE/data" \
    --web.listen-address="127.0.0.1:$port" --log.level=warn >"$STATE/log" 2>&1 &
  echo $! >"$STATE/pid"
  for _ in $(seq 1 300); do
    if curl -fsS "http://127.0.0.1:$port/-/ready" >/dev/null 2>&1; then
      printf 'WEIR_PROMETHEUS_URL=http://127.0.0.1:%s\nWEIR_PROMETHEUS_TARGETS=%s\n' \
        "$port" "$STATE/targets.json" >"$STATE/env"
      echo "prometheus.sh: http://127.0.0.1:$port"
      return 0
    fi
    kill -0 "$(cat "$STATE/pid")" 2>/dev/null || { tail -20 "$STATE/log" >&2; die "prometheus exited"; }
    sleep 0.1
  done
  tail -20 "$STATE/log" >&2
  die "prometheus not ready on port $port after 30 s"
}

case $CMD in
  start) start ;;
  stop) stop ;;
  *) die "usage: $0 start|stop STATE_DIR" ;;
esac
