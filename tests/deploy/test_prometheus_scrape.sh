#!/usr/bin/env bash
# A real Prometheus server (fixture prometheus: tools/prometheus.sh) scrapes a running weir job:
# the target is up, its HTTP API returns the job's series under Flink's names with the job's
# id, a checkpoint count that moves, and weir's alert rules evaluate against them without error.
set -u
: "${WEIR:?}"
: "${WEIR_SRC:?}"
: "${WEIR_PROMETHEUS_STATE:?run through ctest (fixture prometheus)}"
. "$WEIR_SRC/tests/support/tap.sh" prometheus-scrape
. "$WEIR_SRC/tests/support/metrics_job.sh"
[ -s "$WEIR_PROMETHEUS_STATE/skip" ] && { echo "skip: $(cat "$WEIR_PROMETHEUS_STATE/skip")"; exit 77; }
[ -s "$WEIR_PROMETHEUS_STATE/env" ] || { echo "not ok - no Prometheus server: $WEIR_PROMETHEUS_STATE/env"; exit 1; }
. "$WEIR_PROMETHEUS_STATE/env"
trap 'echo "[]" >"$WEIR_PROMETHEUS_TARGETS"; metrics_job_stop; rm -rf "$T"' EXIT
api() { # PATH [curl -G args]: the API's JSON on stdout
  local p=$1
  shift
  curl -fsS -G "$WEIR_PROMETHEUS_URL/api/v1/$p" "$@"
}
# Polls `api ARGS | jq -e FILTER` for up to 30 s.
api_until() {
  local filter=$1 i
  shift
  for i in $(seq 1 150); do
    api "$@" 2>/dev/null | jq -e "$filter" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  return 1
}

if ! metrics_job_start "$T/job" -p 2 -D state.checkpoints.dir="$T/chk" \
     -D execution.checkpointing.interval=500ms window-count --unbounded --rate 5000 "$T/out" \
   || ! metrics_scrape "$T/m"; then
  bad "the job starts and serves its metrics" "$T/job.err"
  echo "1..$((passes + fails))"; exit 1
fi
id=$(sed -n 's/^flink_jobmanager_job_numRestarts{.*job_id="\([0-9a-f]*\)".*/\1/p' "$T/m")
printf '[{"targets": ["127.0.0.1:%s"]}]\n' "$JOB_PORT" >"$WEIR_PROMETHEUS_TARGETS"

api_until ".data.activeTargets | any(.scrapeUrl == \"http://127.0.0.1:$JOB_PORT/metrics\" and .health == \"up\")" targets \
  && ok "Prometheus scrapes the job's endpoint (target up)" || { api targets >"$T/t"; bad "target not up" "$T/t"; }
q="flink_jobmanager_job_numberOfCompletedCheckpoints{job_id=\"$id\"}"
api_until '.data.result | length == 1 and (.[0].value[1] | tonumber) >= 2' query --data-urlencode "query=$q" \
  && ok "its HTTP API returns the job's completed checkpoints, counting up" \
  || { api query --data-urlencode "query=$q" >"$T/q"; bad "query $q" "$T/q"; }
api series --data-urlencode "match[]={job_id=\"$id\"}" >"$T/series" 2>&1
if jq -e '[.data[].__name__] | (index("flink_taskmanager_job_task_numRecordsIn") != null)
          and (index("flink_taskmanager_job_task_currentInputWatermark") != null)
          and (index("weir_memory_pool_usedBytes") != null)' "$T/series" >/dev/null \
   && [ "$(jq '[.data[] | select(.task_name == "count -> out")] | length' "$T/series")" -gt 0 ]; then
  ok "the job's series carry Flink's names and labels ($(jq '.data | length' "$T/series") series)"
else
  bad "series of job $id" "$T/series"
fi
api_until '.data.groups | length > 0 and all(.[].rules[]; .health == "ok")' rules \
  && ok "weir's alert rules evaluate against the job's series without error" \
  || { api rules >"$T/r"; bad "rules" "$T/r"; }
echo "1..$((passes + fails))"
[ "$fails" -eq 0 ]
