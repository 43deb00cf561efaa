#!/usr/bin/env bash
# A subtask that finishes early, then kill -9 and --from-checkpoint latest (issue 9): a file
# source -> an operator slow on subtask 0 only -> the exactly-once file sink, at -p 2. Subtask 1
# reads the second half of the input and finishes at once; the process is killed while subtask
# 0 is still busy, after checkpoints taken with subtask 1 finished completed, and resumed.
# Every input line must be committed exactly once (the bug: subtask 1's lines stayed in a
# .pending file, rc 0, "finished").
set -u
: "${WEIR:?}" "${WEIR_SRC:?}"
. "$WEIR_SRC/tests/support/tap.sh" finished-kill

command -v cc >/dev/null || { echo "skip: no cc"; exit 77; }
cc -shared -fPIC -I"$WEIR_SRC/core/include" "$WEIR_SRC/tests/recovery/job_skewed.c" \
   -o "$T/job_skewed.so" 2>"$T/cc.log" || { bad "job_skewed.c does not compile" "$T/cc.log"; exit 1; }

seq -f 'line-%05g' 0 9999 >"$T/in.txt"
args=(-p 2 -D metrics.reporter.prom.port=0 -D execution.checkpointing.interval=50ms
      -D restart-strategy.type=none -D weir.progress=never -D state.checkpoints.dir="$T/ck")

# subtask 0 sleeps 2 ms per record (about 10 s for its 5000); killed long before it ends
"$WEIR" run "${args[@]}" "$T/job_skewed.so" "$T/in.txt" "$T/out" 2000 "$T/done-1" >"$T/run1.log" 2>&1 &
pid=$!
# wait for subtask 1's end of input, then for two more completed checkpoints: the second was
# taken after subtask 1 had finished
n=0
for _ in $(seq 1 400); do
  [ -e "$T/done-1" ] && break
  sleep 0.05
done
[ -e "$T/done-1" ] && n=$(grep -c 'checkpoint [0-9]* complete' "$T/run1.log")
for _ in $(seq 1 400); do
  [ -e "$T/done-1" ] || break
  [ "$(grep -c 'checkpoint [0-9]* complete' "$T/run1.log")" -ge $((n + 2)) ] && break
  sleep 0.05
done
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
rc=$?
if [ $rc -eq 137 ] && [ -e "$T/done-1" ]; then
  ok "killed with SIGKILL while subtask 0 was busy and subtask 1 had finished"
else
  bad "the first run was not killed in time (rc $rc)" "$T/run1.log"
fi

"$WEIR" run "${args[@]}" --from-checkpoint latest "$T/job_skewed.so" "$T/in.txt" "$T/out" 0 - \
  >"$T/run2.log" 2>&1
rc=$?
[ $rc -eq 0 ] && ok "resumed run finished" || bad "resumed run failed (rc $rc)" "$T/run2.log"

cat "$T/out"/part-*.txt 2>/dev/null | sort >"$T/got.txt"
if cmp -s "$T/in.txt" "$T/got.txt"; then
  ok "every line committed exactly once"
else
  bad "committed output: $(wc -l <"$T/got.txt") lines of 10000, $(sort "$T/got.txt" | uniq -d | wc -l) twice, $(comm -23 "$T/in.txt" "$T/got.txt" | wc -l) missing"
fi
left=$(ls -A "$T/out" | grep -c '^\.part-')
[ "$left" -eq 0 ] && ok "no pending or in-progress files left" || bad "$left pending or in-progress files left"

echo "$passes passed, $fails failed"
[ $fails -eq 0 ]
