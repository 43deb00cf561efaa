#!/usr/bin/env bash
# tools/deploy/check-names.sh NAMES FILE...
# Every metric name (flink_*, weir_*) that FILE uses (a Grafana dashboard's queries, a
# Prometheus rule file, a promtool test's series) must be one of NAMES (a file, one name a
# line: what a weir job's endpoint exports, e.g. `curl -s HOST:PORT/metrics | grep -v '^#' |
# sed 's/[{ ].*//' | sort -u`). Prints each name that is not, with its file, and exits 1 if
# any; a query over a name nobody exports shows an empty panel or an alert that never fires.
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 NAMES FILE..." >&2; exit 2; }
names=$1
shift
status=0
for f in "$@"; do
  while read -r n; do
    if ! grep -qxF "$n" "$names"; then
      echo "$f: $n: not exported by weir"
      status=1
    fi
  done < <(grep -oE '\b(flink|weir)_[A-Za-z0-9_]+' "$f" | sort -u)
done
exit $status
