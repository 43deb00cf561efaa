#!/usr/bin/env bash
# Failures that are not crashes: a corrupt latest checkpoint falls back to the
# one before; a checkpoint that cannot be written (disk full) is counted as
# failed while the job goes on; an operator that fails restarts the job from
# its latest checkpoint under the restart strategy, and fails it when the
# strategy says so.
set -u
: "${WEIR:?}" "${WEIR_SRC:?}"
. "$WEIR_SRC/tests/support/tap.sh" failures

JOB=(window-count --records 100000 --keys 20 --rate 25000 --window-ms 500)
base=(-p 2 -D metrics.reporter.prom.port=0 -D execution.checkpointing.interval=100ms
      -D restart-strategy.type=none -D weir.progress=never)

"$WEIR" run "${base[@]}" -D state.checkpoints.dir="$T/ref-ck" "${JOB[@]}" "$T/ref" >"$T/ref.log" 2>&1
cat "$T/ref"/part-*.csv | sort >"$T/ref.sorted"

# --- corrupt latest checkpoint: bytes flipped, truncated, _metadata missing ---
for how in flip truncate nometa; do
  ck="$T/ck-$how"
  args=("${base[@]}" -D state.checkpoints.dir="$ck" -D execution.checkpointing.num-retained=3)
  "$WEIR" run "${args[@]}" "${JOB[@]}" "$T/out-$how" >"$T/run.log" 2>&1 &
  pid=$!
  # at least two complete checkpoints, so that the latest has one before it to fall back to
  # (a fixed sleep was too short under ThreadSanitizer)
  for _ in $(seq 300); do grep -q "checkpoint 3 complete" "$T/run.log" && break; sleep 0.1; done
  kill -9 $pid; wait $pid 2>/dev/null
  latest=$(ls -d "$ck"/window-count/chk-* | sed 's/.*chk-//' | sort -n | tail -1)
  dir="$ck/window-count/chk-$latest"
  [ -f "$dir/_metadata" ] || { latest=$((latest - 1)); dir="$ck/window-count/chk-$latest"; }
  f=$(ls "$dir" | grep -v _metadata | head -1)
  case $how in
    flip)     printf '\xff\xff\xff\xff' | dd of="$dir/$f" bs=1 seek=100 conv=notrunc 2>/dev/null ;;
    truncate) truncate -s 80 "$dir/$f" ;;
    nometa)   rm -f "$dir/_metadata" ;;
  esac
  "$WEIR" run "${args[@]}" --from-checkpoint latest "${JOB[@]}" "$T/out-$how" >"$T/run.log" 2>&1; rc=$?
  prev=$((latest - 1))
  if [ $rc -eq 0 ] && grep -q "restored from .*chk-$prev " "$T/run.log" \
     && { [ $how = nometa ] || grep -q "chk-$latest is corrupt" "$T/run.log"; }; then
    ok "latest checkpoint $how: falls back to chk-$prev with a log line"
  else
    bad "latest checkpoint $how (rc=$rc, latest=$latest)" "$T/run.log"
  fi
done

# --- disk full while writing a checkpoint: counted, the job goes on ---
WEIR_TEST_CKPT_WRITE_ERROR=3 "$WEIR" run "${base[@]}" -D state.checkpoints.dir="$T/ck-full" \
  -D execution.checkpointing.tolerable-failed-checkpoints=3 "${JOB[@]}" "$T/out-full" >"$T/run.log" 2>&1; rc=$?
if [ $rc -eq 0 ] && grep -q "checkpoint [0-9]* failed: .*No space left on device" "$T/run.log" \
   && grep -Eq "checkpoints: [0-9]+ completed, [1-9][0-9]* failed" "$T/run.log" \
   && cmp -s "$T/ref.sorted" <(cat "$T/out-full"/part-*.csv | sort); then
  ok "a checkpoint that hits a full disk fails, is counted, and the job finishes exactly once"
else bad "disk full (rc=$rc)" "$T/run.log"; fi
# no partial checkpoint is ever left looking complete
partial=0
for d in "$T/ck-full"/window-count/chk-*; do
  [ -f "$d/_metadata" ] || partial=$((partial + 1))
done
[ $partial -eq 0 ] && ok "no checkpoint directory without _metadata is left behind" || bad "$partial partial checkpoint dirs"

# too many failed checkpoints fail the job
WEIR_TEST_CKPT_WRITE_ERROR=1 "$WEIR" run "${base[@]}" -D state.checkpoints.dir="$T/ck-full2" \
  -D execution.checkpointing.tolerable-failed-checkpoints=0 "${JOB[@]}" "$T/out-full2" >"$T/run.log" 2>&1; rc=$?
if [ $rc -eq 1 ] && grep -q "execution.checkpointing.tolerable-failed-checkpoints" "$T/run.log"; then
  ok "failed checkpoints beyond tolerable-failed-checkpoints fail the job"
else bad "tolerable failed checkpoints (rc=$rc)" "$T/run.log"; fi

# --- many checkpoints in one run: pendings are recycled (64 slots), output exact ---
# 10 s of input: a checkpoint here takes 20-60 ms (min-pause holds the next one until the
# last has ended), so well over 64 complete even on a loaded machine.
"$WEIR" run -p 2 -D metrics.reporter.prom.port=0 -D weir.progress=never \
  -D execution.checkpointing.interval=20ms -D state.checkpoints.dir="$T/ck-many" \
  window-count --records 100000 --keys 20 --rate 10000 --window-ms 500 \
  "$T/out-many" >"$T/run.log" 2>&1; rc=$?
n=$(sed -n 's/.*checkpoints: \([0-9]*\) completed.*/\1/p' "$T/run.log")
if [ $rc -eq 0 ] && [ "${n:-0}" -gt 64 ] && cmp -s "$T/ref.sorted" <(cat "$T/out-many"/part-*.csv | sort); then
  ok "$n checkpoints in one run (more than the 64 pending slots), output exactly once"
else bad "many checkpoints (rc=$rc, n=$n)" "$T/run.log"; fi

# --- state matched by uid: unknown uids refused unless --allow-non-restored-state ---
chk=$(ls -d "$T/ck-full"/window-count/chk-* | sort -t- -k2 -n | tail -1)
"$WEIR" run "${base[@]}" -D state.checkpoints.dir="$T/ck-other" --from-checkpoint "$chk" \
  generate --records 1000 "$T/gen-out" >"$T/run.log" 2>&1; rc=$?
if [ $rc -eq 2 ] && grep -q 'uids "count", "out" match no operator' "$T/run.log" \
   && grep -q -- '--allow-non-restored-state' "$T/run.log"; then
  ok "state of unknown operator uids is refused in one line naming every uid and the flag"
else bad "unknown uid (rc=$rc)" "$T/run.log"; fi
"$WEIR" run "${base[@]}" -D state.checkpoints.dir="$T/ck-other" --from-checkpoint "$chk" \
  --allow-non-restored-state generate --records 1000 "$T/gen-out2" >"$T/run.log" 2>&1; rc=$?
if [ $rc -eq 0 ] && grep -q "restored from" "$T/run.log" \
   && grep -q 'dropping the state of operator uid "count"' "$T/run.log" \
   && grep -q 'dropping the state of operator uid "out"' "$T/run.log"; then
  ok "--allow-non-restored-state skips them, a log line naming each, and restores the rest"
else bad "--allow-non-restored-state (rc=$rc)" "$T/run.log"; fi

# --- checkpoint metrics on the Prometheus endpoint, scraped with curl ---
"$WEIR" run -p 2 -D metrics.reporter.prom.port=19500-19599 -D weir.progress=never \
  -D execution.checkpointing.interval=200ms -D state.checkpoints.dir="$T/ck-metrics" \
  "${JOB[@]}" "$T/out-metrics" >"$T/run.log" 2>&1 &
pid=$!
port=""
for i in $(seq 1 50); do
  port=$(sed -n 's|^weir: metrics: http://127.0.0.1:\([0-9]*\)/metrics$|\1|p' "$T/run.log")
  [ -n "$port" ] && break
  sleep 0.1
done
sleep 1.5
curl -fsS "http://127.0.0.1:$port/metrics" >"$T/m" 2>&1
kill $pid; wait $pid 2>/dev/null
if grep -Eq '^flink_jobmanager_job_numberOfCompletedCheckpoints\{job_name="window-count",job_id="[0-9a-f]{32}"(,[^}]*)?\} [1-9]' "$T/m" \
   && grep -q '^flink_jobmanager_job_lastCheckpointDuration' "$T/m" && grep -q '^flink_jobmanager_job_lastCheckpointSize' "$T/m" \
   && grep -q '^flink_jobmanager_job_numRestarts' "$T/m" && grep -q '^weir_task_checkpointAlignmentTimeNs' "$T/m" \
   && grep -q '^weir_task_lastCheckpointAsyncDurationMs' "$T/m"; then
  ok "checkpoint metrics are served to Prometheus"
else bad "checkpoint metrics (port=$port)" "$T/m"; fi

echo "$passes passed, $fails failed"
[ $fails -eq 0 ]
