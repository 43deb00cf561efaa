#!/usr/bin/env bash
# A running job's endpoint against tests/metrics/flink_names.txt (Flink's names, written down
# from its metrics reference): every name the list says the engine exports is there, with
# Flink's labels for its scope; every flink_* name exported is one the list has (no name of
# our own making under Flink's prefix); everything else is under weir_. The job runs RocksDB
# with checkpoints, so that the state and checkpoint metrics have values worth reading.
set -u
: "${WEIR:?}"
: "${WEIR_SRC:?}"
. "$WEIR_SRC/tests/support/tap.sh" flink-names
. "$WEIR_SRC/tests/support/metrics_job.sh"
trap 'metrics_job_stop; rm -rf "$T"' EXIT
LIST="$WEIR_SRC/tests/metrics/flink_names.txt"

if ! metrics_job_start "$T/job" -p 2 -D state.backend=rocksdb -D state.checkpoints.dir="$T/chk" \
     -D execution.checkpointing.interval=300ms window-count --unbounded --rate 20000 "$T/out"; then
  bad "the job starts and names its metrics endpoint" "$T/job.err"
  echo "1..$((passes + fails))"; exit 1
fi
val() { grep -E "^$1" "$T/m" | head -1 | awk '{ print $NF }'; }
# Values worth reading: a completed checkpoint, a watermark, the managed pool's use (workers
# publish state gauges once a second), the task heap's size under both names. Polled: on a
# loaded machine the first watermark or gauge can take a few seconds.
values_ok() {
  wm=$(val 'flink_taskmanager_job_task_currentInputWatermark\{')
  used=$(val 'weir_memory_pool_usedBytes\{.*pool="managed"')
  heap_cap=$(val 'weir_memory_pool_capacityBytes\{.*pool="task_heap"')
  heap_max=$(val 'flink_taskmanager_Status_JVM_Memory_Heap_Max\{')
  grep -Eq '^flink_jobmanager_job_numberOfCompletedCheckpoints\{[^}]*\} [1-9]' "$T/m" \
    && [ "${wm:-x}" -gt 0 ] 2>/dev/null && [ "${used:-0}" -gt 0 ] 2>/dev/null \
    && [ -n "$heap_cap" ] && [ "$heap_cap" = "$heap_max" ]
}
for i in $(seq 1 300); do
  metrics_scrape "$T/m" 2>/dev/null && values_ok && break
  sleep 0.1
done
if values_ok; then
  ok "watermark ($wm), managed pool use ($used) and task heap size ($heap_cap) have values"
else
  bad "gauge values after 30 s: watermark '$wm', managed used '$used', heap '$heap_cap' vs '$heap_max'" "$T/job.err"
fi
metrics_job_stop

grep -v '^#' "$T/m" | sed 's/[{ ].*//' | sort -u >"$T/exported"
awk '!/^#/ && NF { print $1 }' "$LIST" | sort -u >"$T/flink"
awk '!/^#/ && $3 == "core" { print $1 }' "$LIST" | sort -u >"$T/want"

comm -23 "$T/want" "$T/exported" >"$T/missing"
[ ! -s "$T/missing" ] && ok "every Flink name the list claims for the engine is exported" \
  || bad "Flink names the list claims but the endpoint lacks" "$T/missing"
grep '^flink_' "$T/exported" | comm -23 - "$T/flink" >"$T/unknown"
[ ! -s "$T/unknown" ] && ok "every flink_* name exported is in Flink's reference list" \
  || bad "flink_* names not in tests/metrics/flink_names.txt" "$T/unknown"
grep -Ev '^(flink|weir)_' "$T/exported" >"$T/stray"
[ ! -s "$T/stray" ] && ok "every other name is under weir_" || bad "names under neither prefix" "$T/stray"

# Flink's labels per scope: job_name and job_id everywhere a job is, task_name and
# subtask_index for a task, operator_name and subtask_index for an operator; host everywhere
# and tm_id ("<host>:<pid>") in the task manager's scopes, as Flink's reporter adds them.
HOST=$(hostname)
TM="host=\"$HOST\",tm_id=\"$HOST:[0-9]+\""
labels_bad() {
  grep -E "^$1" "$T/m" | grep -Ev "^$1[A-Za-z_]*\{job_name=\"window-count\",job_id=\"[0-9a-f]{32}\"$2"
}
{
  labels_bad flink_jobmanager_job_ ",host=\"$HOST\"\\}"
  labels_bad flink_taskmanager_job_task_ ",task_name=\"[^\"]+\",subtask_index=\"[01]\",$TM\\}" \
    | grep -v '^flink_taskmanager_job_task_operator_'
  labels_bad flink_taskmanager_job_task_operator_ ",operator_name=\"[^\"]+\",subtask_index=\"[01]\",$TM[,}]"
  grep -E '^flink_taskmanager_Status_' "$T/m" | grep -Ev "\\{job_name=\"window-count\",job_id=\"[0-9a-f]{32}\",$TM\\}"
} >"$T/labels"
[ ! -s "$T/labels" ] && ok "series carry Flink's labels for their scope" \
  || bad "series without Flink's labels for their scope" "$T/labels"


# Flink's reporter keys: filterLabelValueCharacters filters label values as Flink's default
# does; a Flink configuration's factory.class is taken when it names the Prometheus reporter,
# and refused, naming the key, when it names another.
if metrics_job_start "$T/filter" -D metrics.reporter.prom.filterLabelValueCharacters=true      pipeline --unbounded --rate 1000 && metrics_scrape "$T/f"; then
  grep -q '^flink_taskmanager_job_task_numRecordsIn{job_name="pipeline",job_id="[0-9a-f]*",task_name="datagen____map____filter",' "$T/f" \
    && ok "filterLabelValueCharacters=true turns what Flink filters into '_'" \
    || bad "filtered label values" "$T/f"
else
  bad "a job with filterLabelValueCharacters=true" "$T/filter.err"
fi
metrics_job_stop
F=org.apache.flink.metrics
"$WEIR" run -D metrics.reporter.prom.factory.class=$F.prometheus.PrometheusReporterFactory \
  -D weir.progress=never pipeline --records 10 >"$T/o" 2>"$T/e" \
  && ok "factory.class naming the Prometheus reporter is taken" || bad "factory.class" "$T/e"
"$WEIR" run -D metrics.reporter.prom.factory.class=$F.jmx.JMXReporterFactory \
  pipeline --records 10 >"$T/o" 2>"$T/e"; rc=$?
[ $rc -eq 2 ] && grep -q 'metrics.reporter.prom.factory.class: "org.apache.flink.metrics.jmx' "$T/e" \
  && ok "another reporter's factory.class is an error naming the key" || bad "factory.class JMX (rc=$rc)" "$T/e"
echo "1..$((passes + fails))"
[ "$fails" -eq 0 ]
