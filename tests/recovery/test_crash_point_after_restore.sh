#!/usr/bin/env bash
# WEIR_CRASH_POINT=commit:N kills the run at the Nth checkpoint this run takes, counted from
# this run's first checkpoint id. After a restore from chk-K into another checkpoint
# directory, ids continue from K (issue 9 item 2) while the hook counted from that directory's
# next id (1): commit:2 aimed at id 2, which this run never takes, and the kill tests that
# restore elsewhere ran without their kill.
set -u
: "${WEIR:?}"
: "${WEIR_SRC:?}"
. "$WEIR_SRC/tests/support/tap.sh" crash-point
Q=(-D metrics.reporter.prom.port=0 -D weir.progress=never -D restart-strategy.type=none
   -D execution.checkpointing.interval=100ms -D execution.checkpointing.num-retained=1000)
JOB=(window-count --records 20000 --keys 20 --rate 20000 --window-ms 100)

"$WEIR" run "${Q[@]}" -D state.checkpoints.dir="$T/a" -p 2 "${JOB[@]}" "$T/out-a" >"$T/log" 2>&1 \
  || { bad "first run" "$T/log"; echo "$passes passed, $fails failed"; exit 1; }
# the third checkpoint: the restored run still has most of its input ahead
k=$(ls "$T/a/window-count" | sed -n 's/^chk-//p' | sort -n | sed -n 3p)
[ -n "$k" ] || { bad "fewer than 3 checkpoints in the first run"; echo "$passes passed, $fails failed"; exit 1; }

WEIR_CRASH_POINT=commit:2 "$WEIR" run "${Q[@]}" -D state.checkpoints.dir="$T/b" -p 2 \
  --from-checkpoint "$T/a/window-count/chk-$k" "${JOB[@]}" "$T/out-a" >"$T/log" 2>&1; rc=$?
want="WEIR_CRASH_POINT commit:$((k + 2)) reached"
if [ $rc -eq 137 ] && grep -q "$want" "$T/log"; then
  ok "after a restore from chk-$k into another directory, commit:2 kills at checkpoint $((k + 2))"
else bad "commit:2 after a restore from chk-$k (rc=$rc, wanted '$want')" "$T/log"; fi

# restored in its own directory (the kill tests' --from-checkpoint latest), the same count
WEIR_CRASH_POINT=commit:1 "$WEIR" run "${Q[@]}" -D state.checkpoints.dir="$T/b" -p 2 \
  --from-checkpoint latest "${JOB[@]}" "$T/out-a" >"$T/log" 2>&1; rc=$?
last=$(grep -o 'restored from .*(checkpoint [0-9]*)' "$T/log" | grep -o '[0-9]*)$' | tr -d ')')
if [ $rc -eq 137 ] && [ -n "$last" ] && grep -q "WEIR_CRASH_POINT commit:" "$T/log" \
   && [ "$(grep -o 'WEIR_CRASH_POINT commit:[0-9]*' "$T/log" | grep -o '[0-9]*$')" -gt "$last" ]; then
  ok "restored from latest (checkpoint $last), commit:1 kills at a checkpoint after it"
else bad "commit:1 after --from-checkpoint latest (rc=$rc)" "$T/log"; fi

echo "$passes passed, $fails failed"
[ $fails -eq 0 ]
