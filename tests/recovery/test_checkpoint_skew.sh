#!/usr/bin/env bash
# Checkpoint skew (the operations guide's failure mode, issue 10): at -p 2, subtask 0's snapshot
# takes 300 ms and writes 64 KiB, subtask 1's is immediate and small. The per-subtask metrics
# of the last completed checkpoint (end to end, sync, async, alignment, size) are served with
# their task and subtask labels, and the run summary names the slow subtask.
set -u
: "${WEIR:?}" "${WEIR_SRC:?}"
. "$WEIR_SRC/tests/support/tap.sh" checkpoint-skew
trap '[ -z "${KEEP:-}" ] && rm -rf "$T"; [ -n "$BG" ] && kill -9 $BG 2>/dev/null' EXIT
BG=""

command -v cc >/dev/null || { echo "skip: no cc"; exit 77; }
command -v curl >/dev/null || { echo "skip: no curl"; exit 77; }
cc -shared -fPIC -I"$WEIR_SRC/core/include" "$WEIR_SRC/tests/recovery/job_skewed.c" \
   -o "$T/job_skewed.so" 2>"$T/cc.log" || { bad "job_skewed.c does not compile" "$T/cc.log"; exit 1; }

# 100000 records per subtask at 150 us each: about 15 s, with a checkpoint every 200 ms;
# stopped (SIGTERM) once scraped, while both subtasks run
seq -f 'line-%06g' 0 199999 >"$T/in.txt"
"$WEIR" run -p 2 -D metrics.reporter.prom.port=19700-19799 -D weir.progress=never \
  -D execution.checkpointing.interval=200ms -D state.checkpoints.dir="$T/ck" \
  "$T/job_skewed.so" "$T/in.txt" "$T/out" 0 - 300 150 >"$T/run.log" 2>&1 &
BG=$!
port=""
for _ in $(seq 1 100); do
  port=$(sed -n 's|^weir: metrics: http://127.0.0.1:\([0-9]*\)/metrics$|\1|p' "$T/run.log")
  [ -n "$port" ] && break
  sleep 0.05
done
# scrape once two checkpoints have completed (both subtasks still running)
for _ in $(seq 1 200); do
  [ "$(grep -c 'checkpoint [0-9]* complete' "$T/run.log")" -ge 2 ] && break
  kill -0 $BG 2>/dev/null || break
  sleep 0.05
done
curl -fsS "http://127.0.0.1:$port/metrics" >"$T/m" 2>&1
kill -TERM $BG 2>/dev/null
wait $BG; rc=$?; BG=""

# value of metric NAME for subtask S
val() { grep -E "^$1\{.*subtask_index=\"$2\"" "$T/m" | head -1 | awk '{print $NF}'; }
labels_ok=1
for m in weir_task_lastCheckpointEndToEndDurationMs weir_task_lastCheckpointSizeBytes \
         weir_task_lastCheckpointAlignmentDurationMs weir_task_lastCheckpointSyncDurationMs \
         weir_task_lastCheckpointAsyncDurationMs; do
  for s in 0 1; do
    grep -Eq "^$m\{job_name=\"[^\"]*\",job_id=\"[0-9a-f]{32}\",task_name=\"[^\"]+\",subtask_index=\"$s\"(,[^}]*)?\} [0-9]" "$T/m" \
      || labels_ok=0
  done
done
if [ $labels_ok -eq 1 ]; then
  ok "per-subtask checkpoint metrics are served with job, task and subtask labels"
else bad "per-subtask checkpoint metrics (port=$port)" "$T/m"; fi

e0=$(val weir_task_lastCheckpointEndToEndDurationMs 0); e1=$(val weir_task_lastCheckpointEndToEndDurationMs 1)
s0=$(val weir_task_lastCheckpointSizeBytes 0); s1=$(val weir_task_lastCheckpointSizeBytes 1)
if [ -n "$e0" ] && [ -n "$e1" ] && [ "$e0" -ge 300 ] && [ "$e0" -gt "$e1" ]; then
  ok "the slow subtask's end-to-end duration ($e0 ms) is its own, longer than the other's ($e1 ms)"
else bad "end-to-end durations per subtask ($e0, $e1)" "$T/m"; fi
if [ -n "$s0" ] && [ -n "$s1" ] && [ "$s0" -ge 65536 ] && [ "$s1" -lt 65536 ] && [ "$s1" -gt 0 ]; then
  ok "each subtask's checkpointed size is its own ($s0 and $s1 bytes)"
else bad "sizes per subtask ($s0, $s1)" "$T/m"; fi

line=$(grep '^weir: checkpoint skew' "$T/run.log" | tail -1)
if [ $rc -eq 0 ] && echo "$line" | grep -Eq 'slowest [^,]* subtask 0 of 2 [0-9]+ ms' \
   && echo "$line" | grep -Eq 'fastest [^,]* subtask 1 of 2 [0-9]+ ms' \
   && echo "$line" | grep -Eq 'size min [^ ]+ [^ ]+ \([^)]*subtask 1 of 2\), max [^ ]+ [^ ]+ \([^)]*subtask 0 of 2\)'; then
  ok "the run summary names the slow subtask and the sizes' range: ${line#weir: }"
else bad "the summary's skew line (rc=$rc): $line" "$T/run.log"; fi

echo "$passes passed, $fails failed"
[ $fails -eq 0 ]
