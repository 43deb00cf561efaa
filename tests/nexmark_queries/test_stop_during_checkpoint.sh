#!/usr/bin/env bash
# SIGTERM while checkpoints are in flight, for Nexmark queries with state of every kind
# (issue 9, item 4; tests/recovery/test_stop.sh holds q5 through `weir run`): each query at
# -p 2 as fast as it goes (so that barriers queue behind records and checkpoints take a
# while), checkpoints every 50 ms, is sent SIGTERM a random moment after its first
# checkpoint completed. It ends "stopped" with exit status 0 and no failed checkpoint; every row it
# committed is a row of the run without failures (none twice, none invented); and resumed
# with --from-checkpoint latest, its committed output equals that run's.
# Append-only queries only: an updating query's intermediate rows depend on arrival order.
set -u
: "${WEIR:?}"
: "${WEIR_SRC:?}"
. "$WEIR_SRC/tests/support/tap.sh" nexmark-stop

rows() { for f in "$1"/part-*.csv; do [ -f "$f" ] && tail -n +2 "$f"; done | LC_ALL=C sort; }

stopped=0
for q in q3 q7 q9 q11 q20; do
  args=(bench nexmark --query "$q" -p 2 --events 1500000 --event-rate 2500
        -D metrics.reporter.prom.port=0 -D weir.progress=never
        -D execution.checkpointing.interval=50ms -D restart-strategy.type=none)
  "$WEIR" "${args[@]}" -D state.checkpoints.dir="$T/ck-ref-$q" --output "$T/ref-$q" \
    >"$T/ref.log" 2>&1 || { bad "$q: reference run" "$T/ref.log"; continue; }
  rows "$T/ref-$q" >"$T/ref.sorted"
  log="$T/$q.log" out="$T/out-$q"
  "$WEIR" "${args[@]}" -D state.checkpoints.dir="$T/ck-$q" --output "$out" >"$log" 2>&1 &
  pid=$!
  for i in $(seq 1 100); do
    grep -q "checkpoint [0-9]* complete" "$log" && break
    sleep 0.05
  done
  sleep "0.$((RANDOM % 4))"
  kill -TERM $pid
  wait $pid
  rc=$?
  if ! grep -q " stopped" "$log"; then
    # finished before the signal: nothing was stopped, try the next query
    [ $rc -eq 0 ] && echo "# $q finished before SIGTERM" || bad "$q: SIGTERM (rc=$rc)" "$log"
    continue
  fi
  stopped=$((stopped + 1))
  if [ $rc -eq 0 ] && ! grep -q "failed:" "$log" && grep -Eq "checkpoints:? +[0-9]+ completed, 0 failed" "$log"; then
    ok "$q: SIGTERM during checkpoints: stopped, exit 0, no checkpoint failed"
  else
    bad "$q: SIGTERM during checkpoints (rc=$rc)" "$log"
  fi
  rows "$out" >"$T/got.sorted"
  extra=$(LC_ALL=C comm -13 "$T/ref.sorted" "$T/got.sorted" | wc -l)
  [ "$extra" -eq 0 ] && ok "$q: the $(wc -l <"$T/got.sorted") rows committed before the stop are rows of the run without failures" \
    || bad "$q: $extra committed rows are not in the run without failures (or twice)"
  "$WEIR" "${args[@]}" -D state.checkpoints.dir="$T/ck-$q" --from-checkpoint latest \
    --output "$out" >"$T/resume.log" 2>&1 || { bad "$q: resume after the stop" "$T/resume.log"; continue; }
  rows "$out" >"$T/got.sorted"
  cmp -s "$T/ref.sorted" "$T/got.sorted" \
    && ok "$q: resumed from the latest checkpoint, the output equals the run without failures" \
    || bad "$q: resumed output differs: $(wc -l <"$T/got.sorted") rows, expected $(wc -l <"$T/ref.sorted")"
  rm -rf "$T/ck-ref-$q" "$T/ck-$q" "$T/ref-$q" "$out"
done

[ $stopped -ge 3 ] && ok "$stopped of 5 queries stopped by SIGTERM before they finished" \
  || bad "only $stopped of 5 queries were stopped before they finished"
echo "$passes passed, $fails failed"
[ $fails -eq 0 ]
