#!/usr/bin/env bash
# The Grafana dashboard's queries and the alert rules (and their tests' series) use only names
# weir exports: those of a running job (RocksDB, checkpoints, a DLQ, so that every family the
# engine registers is there) and the Kafka ones tests/metrics/flink_names.txt lists (the Kafka
# tests check those against a job reading Kafka).
set -u
: "${WEIR:?}"
: "${WEIR_SRC:?}"
. "$WEIR_SRC/tests/support/tap.sh" deploy-names
. "$WEIR_SRC/tests/support/metrics_job.sh"
trap 'metrics_job_stop; rm -rf "$T"' EXIT
D="$WEIR_SRC/tools/deploy"

if metrics_job_start "$T/job" -p 2 -D state.backend=rocksdb -D state.checkpoints.dir="$T/chk" \
     -D execution.checkpointing.interval=1s -D weir.dlq.type=file -D weir.dlq.path="$T/dlq" \
     window-count --unbounded --rate 1000 "$T/out" && metrics_scrape "$T/m"; then
  ok "a job's metrics are scraped"
else
  bad "the job starts and serves its metrics" "$T/job.err"
fi
metrics_job_stop
{
  grep -v '^#' "$T/m" | sed 's/[{ ].*//'
  awk '!/^#/ && NF { print $1 }' "$WEIR_SRC/tests/metrics/flink_names.txt"
} | sort -u >"$T/names"

"$D/check-names.sh" "$T/names" "$D/grafana/weir-dashboard.json" >"$T/dash" 2>&1 \
  && ok "the dashboard's queries use only exported names" || bad "dashboard names" "$T/dash"
"$D/check-names.sh" "$T/names" "$D/prometheus/weir-alerts.yml" \
  "$D/prometheus/weir-alerts.test.yml" >"$T/rules" 2>&1 \
  && ok "the alert rules and their tests use only exported names" || bad "rule names" "$T/rules"
# The check itself: a name nobody exports is caught.
echo '{"expr": "rate(flink_taskmanager_job_task_numRecordsInn[1m])"}' >"$T/typo.json"
if ! "$D/check-names.sh" "$T/names" "$T/typo.json" >"$T/typo" 2>&1 \
   && grep -q 'numRecordsInn: not exported' "$T/typo"; then
  ok "a misspelt name is reported"
else
  bad "check-names.sh let a misspelt name through" "$T/typo"
fi
# A dashboard Grafana can load: JSON, a uid, panels each with at least one query.
jq -e '.uid and (.panels | length > 0) and all(.panels[]; (.targets | length) > 0)' \
  "$D/grafana/weir-dashboard.json" >/dev/null 2>"$T/jq" \
  && ok "the dashboard is JSON with a uid and a query in every panel" || bad "dashboard JSON" "$T/jq"
echo "1..$((passes + fails))"
[ "$fails" -eq 0 ]
