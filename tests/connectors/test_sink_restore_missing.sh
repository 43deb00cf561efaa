#!/usr/bin/env bash
# A restore whose checkpoint lists committed or pending output files that are gone (deleted
# by hand, another disk mounted) fails with one line naming the missing file, not a bare
# "No such file or directory" under the wrong subtask (issue 9: errors name the value).
set -u
: "${WEIR:?}"
: "${WEIR_SRC:?}"
. "$WEIR_SRC/tests/support/tap.sh" sink-restore-missing
A=(-p 2 -D metrics.reporter.prom.port=0 -D weir.progress=never -D restart-strategy.type=none
   -D state.checkpoints.dir="$T/ck")
JOB=(window-count --records 200000 --keys 50 --rate 20000 --window-ms 200 "$T/out")

"$WEIR" run "${A[@]}" -D execution.checkpointing.interval=100ms "${JOB[@]}" >"$T/run.log" 2>&1 &
pid=$!
for _ in $(seq 150); do grep -q "checkpoint 5 complete" "$T/run.log" && break; sleep 0.1; done
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
grep -q "checkpoint 5 complete" "$T/run.log" || { bad "no fifth checkpoint before the kill" "$T/run.log"; echo "0 passed, 1 failed"; exit 1; }
rm -rf "$T/out"/* "$T/out"/.[!.]*
"$WEIR" run "${A[@]}" --from-checkpoint latest "${JOB[@]}" >"$T/re.log" 2>&1
rc=$?
line=$(grep "restoring its state failed" "$T/re.log")
if [ $rc -ne 0 ] && [[ "$line" == *"$T/out/"* ]]; then
  ok "the restore names the missing output file: ${line#weir: }"
else
  bad "restore with the output files gone (rc=$rc): ${line:-no restore error}" "$T/re.log"
fi
echo "$passes passed, $fails failed"
[ $fails -eq 0 ]
