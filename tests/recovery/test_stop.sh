#!/usr/bin/env bash
# Stopping is not failing: SIGTERM or SIGINT to `weir run` while checkpoints are in flight
# (q5 at -p 2 checkpoints every 50 ms, and its checkpoints take longer than that, so one is
# nearly always in flight) ends the job "stopped" with exit status 0; the checkpoint the stop
# cut short is logged as cancelled and not counted failed.
set -u
: "${WEIR:?}"
: "${WEIR_SRC:?}"
. "$WEIR_SRC/tests/support/tap.sh" stop

for sig in TERM INT; do
  log="$T/$sig.log"
  "$WEIR" run -p 2 -D metrics.reporter.prom.port=0 -D weir.progress=never \
    -D execution.checkpointing.interval=50ms -D state.checkpoints.dir="$T/ck-$sig" \
    q5 --events 50000000 >"$log" 2>&1 &
  pid=$!
  # stop once a checkpoint has completed (so that the next ones are under way)
  for i in $(seq 1 100); do
    grep -q "checkpoint [0-9]* complete" "$log" && break
    sleep 0.1
  done
  sleep 0.3
  kill -"$sig" $pid
  wait $pid; rc=$?
  if [ $rc -eq 0 ] && grep -q "job q5 stopped" "$log" && ! grep -q "failed:" "$log" \
     && grep -Eq "checkpoints: [0-9]+ completed, 0 failed" "$log"; then
    ok "SIG$sig during checkpoints: stopped, exit 0, no checkpoint failed"
  else
    bad "SIG$sig during checkpoints (rc=$rc)" "$log"
  fi
  if grep -q "checkpoint [0-9]* cancelled: the job is stopping" "$log"; then
    echo "# SIG$sig: $(grep "cancelled: the job is stopping" "$log")"
  fi
done

echo "$passes passed, $fails failed"
[ $fails -eq 0 ]
