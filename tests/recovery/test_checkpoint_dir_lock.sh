#!/usr/bin/env bash
# One process per job checkpoint directory: a second `weir run` of the same job on the same
# state.checkpoints.dir is refused at start with the pid of the one that holds it, and the
# first is not disturbed: it finishes with the exact output, and its checkpoints restore.
set -u
: "${WEIR:?}"
: "${WEIR_SRC:?}"
. "$WEIR_SRC/tests/support/tap.sh" ckdirlock
trap '[ -n "$pid" ] && kill -9 $pid 2>/dev/null; rm -rf "$T"' EXIT
pid=

JOB=(window-count --records 60000 --keys 20 --rate 15000 --window-ms 500)
base=(-p 2 -D metrics.reporter.prom.port=0 -D execution.checkpointing.interval=100ms
      -D restart-strategy.type=none -D weir.progress=never)

"$WEIR" run "${base[@]}" -D state.checkpoints.dir="$T/ref-ck" "${JOB[@]}" "$T/ref" >"$T/ref.log" 2>&1
cat "$T/ref"/part-*.csv | sort >"$T/ref.sorted"

"$WEIR" run "${base[@]}" -D state.checkpoints.dir="$T/ck" "${JOB[@]}" "$T/out-a" >"$T/a.log" 2>&1 &
pid=$!
# Until the first process has completed a checkpoint (at most 20 s).
for _ in $(seq 200); do
  ls "$T"/ck/window-count/chk-*/_metadata >/dev/null 2>&1 && break
  sleep 0.1
done
"$WEIR" run "${base[@]}" -D state.checkpoints.dir="$T/ck" "${JOB[@]}" "$T/out-b" >"$T/b.log" 2>&1; rc_b=$?
alive=no; kill -0 $pid 2>/dev/null && alive=yes
pid_a=$pid
wait $pid; rc_a=$?
pid=

if [ $rc_b -ne 0 ] && grep -q "state.checkpoints.dir: .*(pid $pid_a)" "$T/b.log"; then
  ok "a second process on the same checkpoint directory is refused, naming the holder's pid"
else bad "second process (rc=$rc_b, first alive while it ran: $alive)" "$T/b.log"; fi

if [ "$alive" = yes ] && [ $rc_a -eq 0 ] && cmp -s "$T/ref.sorted" <(cat "$T/out-a"/part-*.csv | sort); then
  ok "the first process finishes undisturbed, output exactly once"
else bad "first process (rc=$rc_a, alive while the second ran: $alive)" "$T/a.log"; fi

# Into the same output: the restored sink owns its files there.
"$WEIR" run "${base[@]}" -D state.checkpoints.dir="$T/ck" --from-checkpoint latest "${JOB[@]}" \
  "$T/out-a" >"$T/c.log" 2>&1; rc_c=$?
if [ $rc_c -eq 0 ] && grep -q "restored from [0-9]" "$T/c.log" &&
   cmp -s "$T/ref.sorted" <(cat "$T/out-a"/part-*.csv | sort); then
  ok "its checkpoints restore afterwards, output still exactly once"
else bad "restore after (rc=$rc_c)" "$T/c.log"; fi

echo "$passes passed, $fails failed"
[ $fails -eq 0 ]
