#!/usr/bin/env bash
# A checkpoint directory that is read-only (EROFS) or full (ENOSPC) for a moment: the
# hook WEIR_TEST_CKPT_FAULT=ERR:N:K (core/src/checkpoint/test_hooks.c) fails the Nth to
# (N+K-1)th checkpoints of the process in the storage layer (read-only: making chk-ID;
# full: writing its _metadata after its state files); ERR:final:K the final checkpoint. We run as root, so chmod would not
# do it. As in Flink, a checkpoint storage write failure fails that checkpoint and counts
# against execution.checkpointing.tolerable-failed-checkpoints; it is not a fatal job
# error, even for EROFS, which an operator's own write makes fatal: past the tolerance the
# job restarts in-process from its latest checkpoint under the restart strategy; within
# it the job goes on. Either way it finishes with exit 0 and its committed output equals a
# run without failures, and no checkpoint directory is left without its _metadata.
set -u
: "${WEIR:?}" "${WEIR_SRC:?}"
. "$WEIR_SRC/tests/support/tap.sh" checkpoint-storage-faults

JOB=(window-count --records 60000 --keys 20 --rate 25000 --window-ms 500)
base=(-p 2 -D metrics.reporter.prom.port=0 -D execution.checkpointing.interval=100ms
      -D weir.progress=never)
rows() { cat "$1"/part-*.csv 2>/dev/null | LC_ALL=C sort; }

"$WEIR" run "${base[@]}" -D restart-strategy.type=none -D state.checkpoints.dir="$T/ref-ck" \
  "${JOB[@]}" "$T/ref" >"$T/ref.log" 2>&1 || bad "reference run" "$T/ref.log"
rows "$T/ref" >"$T/ref.sorted"

# check NAME LOG OUT CK: exit status in $rc; the output and checkpoint directory
check_output() {
  if cmp -s "$T/ref.sorted" <(rows "$3"); then ok "$1: the committed output equals the run without failures"
  else bad "$1: the committed output differs ($(rows "$3" | wc -l) rows, expected $(wc -l <"$T/ref.sorted"))" "$2"; fi
  local partial=0 d
  for d in "$4"/window-count/chk-*; do
    [ -d "$d" ] && [ ! -f "$d/_metadata" ] && partial=$((partial + 1))
  done
  [ $partial -eq 0 ] && ok "$1: no checkpoint directory without _metadata is left" \
    || bad "$1: $partial checkpoint directories without _metadata left"
}

# --- past the tolerance (0): each failed checkpoint restarts the job in-process ---
for err in erofs enospc; do
  name="$err for 2 checkpoints, tolerance 0"
  ck="$T/ck-$err" out="$T/out-$err" log="$T/$err.log"
  WEIR_TEST_CKPT_FAULT=$err:3:2 "$WEIR" run "${base[@]}" -D state.checkpoints.dir="$ck" \
    -D execution.checkpointing.tolerable-failed-checkpoints=0 \
    -D restart-strategy.type=fixed-delay -D restart-strategy.fixed-delay.attempts=5 \
    -D restart-strategy.fixed-delay.delay=10ms "${JOB[@]}" "$out" >"$log" 2>&1
  rc=$?
  want=$([ $err = erofs ] && echo "Read-only file system" || echo "No space left on device")
  restarts=$(grep -c "restarting from checkpoint [0-9]*" "$log")
  if [ $rc -eq 0 ] && grep -q "checkpoint [0-9]* failed: .*$want" "$log" && [ "$restarts" -ge 2 ] \
     && ! grep -q "not restarted" "$log"; then
    ok "$name: each failed checkpoint restarts the job from its latest checkpoint ($restarts restarts), exit 0"
  else
    bad "$name: rc=$rc, $restarts restarts from a checkpoint" "$log"
  fi
  check_output "$name" "$log" "$out" "$ck"
  # ids are never reused, across in-process restarts too (Flink's counter only goes up)
  reused=$(grep -oE "(checkpoint|savepoint) [0-9]+ (complete|failed)" "$log" | awk '{print $2}' \
           | sort -n | uniq -d | tr '\n' ' ')
  [ -z "$reused" ] && ok "$name: no checkpoint id is used twice across the restarts" \
    || bad "$name: checkpoint ids used twice: $reused" "$log"
done

# --- within the tolerance: the job goes on without a restart ---
ck="$T/ck-tol" out="$T/out-tol" log="$T/tol.log"
WEIR_TEST_CKPT_FAULT=erofs:2:3 "$WEIR" run "${base[@]}" -D state.checkpoints.dir="$ck" \
  -D execution.checkpointing.tolerable-failed-checkpoints=3 \
  -D restart-strategy.type=fixed-delay -D restart-strategy.fixed-delay.attempts=5 \
  "${JOB[@]}" "$out" >"$log" 2>&1
rc=$?
if [ $rc -eq 0 ] && [ "$(grep -c "checkpoint [0-9]* failed: .*Read-only file system" "$log")" -eq 3 ] \
   && ! grep -q "restarting" "$log" && grep -Eq "checkpoints: [0-9]+ completed, 3 failed" "$log"; then
  ok "erofs for 3 checkpoints, tolerance 3: 3 checkpoints fail, the job goes on without a restart"
else
  bad "erofs for 3 checkpoints, tolerance 3 (rc=$rc)" "$log"
fi
check_output "erofs within the tolerance" "$log" "$out" "$ck"

# --- the final checkpoint (end of input, where finished tasks' staged output is listed) ---
ck="$T/ck-final" out="$T/out-final" log="$T/final.log"
WEIR_TEST_CKPT_FAULT=enospc:final:1 "$WEIR" run "${base[@]}" -D state.checkpoints.dir="$ck" \
  -D restart-strategy.type=fixed-delay -D restart-strategy.fixed-delay.attempts=2 \
  -D restart-strategy.fixed-delay.delay=10ms "${JOB[@]}" "$out" >"$log" 2>&1
rc=$?
if [ $rc -eq 0 ] && grep -q "checkpoint [0-9]* failed: .*No space left on device" "$log" \
   && grep -q "restarting from checkpoint [0-9]*" "$log"; then
  ok "enospc for the final checkpoint: the job restarts from its latest checkpoint, exit 0"
else
  bad "enospc for the final checkpoint (rc=$rc)" "$log"
fi
check_output "enospc for the final checkpoint" "$log" "$out" "$ck"
stray=$(ls -A "$out" | grep -c '^\.')
[ "$stray" -eq 0 ] && ok "enospc for the final checkpoint: no pending or in-progress file is left" \
  || bad "enospc for the final checkpoint: $stray pending or in-progress files left"

echo "$passes passed, $fails failed"
[ $fails -eq 0 ]
