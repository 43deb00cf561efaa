#!/usr/bin/env bash
# An exactly-once output directory belongs to one run: a second fresh run into it used to
# overwrite committed part files of the same names and leave stale ones (a second bench over
# one --output left 17,738 duplicated rows). Now a fresh run into a non-empty directory is
# refused unless --overwrite (sink.file.overwrite) says to replace the sink's part files,
# and a restore touches only the files of its own sink.
set -u
: "${WEIR:?}"
: "${WEIR_SRC:?}"
. "$WEIR_SRC/tests/support/tap.sh" out-reuse
Q=(-D metrics.reporter.prom.port=0 -D weir.progress=never -D restart-strategy.type=none)
JOB=(window-count --records 20000 --keys 20 --window-ms 100)
committed() { cat "$1"/part-*.csv 2>/dev/null | sort; }
listing() { ls -A "$1" | sort; }

"$WEIR" run "${Q[@]}" -p 2 "${JOB[@]}" "$T/ref" >"$T/log" 2>&1 || bad "reference run" "$T/log"
committed "$T/ref" >"$T/ref.sorted"
"$WEIR" run "${Q[@]}" -p 4 "${JOB[@]}" "$T/out" >"$T/log" 2>&1 || bad "first run" "$T/log"
listing "$T/out" >"$T/before"

# a second fresh run is refused, names the directory and the flag, and changes nothing
"$WEIR" run "${Q[@]}" -p 2 "${JOB[@]}" "$T/out" >"$T/log" 2>"$T/e"; rc=$?
line=$(grep -F "$T/out" "$T/e" | grep -e '--overwrite')
if [ $rc -ne 0 ] && [ -n "$line" ] && [ "$(grep -c 'not empty' "$T/e")" -eq 1 ] \
   && listing "$T/out" | cmp -s - "$T/before"; then
  ok "a fresh run into a non-empty output directory is refused"
else bad "second fresh run (rc=$rc)" "$T/e"; fi

# --from-checkpoint latest with no checkpoint yet is a fresh run, and refused the same way
"$WEIR" run "${Q[@]}" -D state.checkpoints.dir="$T/nock" --from-checkpoint latest -p 2 "${JOB[@]}" \
  "$T/out" >"$T/log" 2>"$T/e"; rc=$?
if [ $rc -ne 0 ] && grep -F "$T/out" "$T/e" | grep -q -e '--overwrite' \
   && listing "$T/out" | cmp -s - "$T/before"; then
  ok "--from-checkpoint latest with no checkpoint yet is refused into a non-empty output"
else bad "--from-checkpoint latest, no checkpoint (rc=$rc)" "$T/e"; fi

# the refusal is not restarted around (a restart would take the directory as its own)
"$WEIR" run -D metrics.reporter.prom.port=0 -D weir.progress=never -D restart-strategy.type=fixed-delay \
  -D restart-strategy.fixed-delay.attempts=2 -D restart-strategy.fixed-delay.delay=0 \
  -p 2 "${JOB[@]}" "$T/out" >"$T/log" 2>"$T/e"; rc=$?
if [ $rc -ne 0 ] && ! grep -q 'restart' "$T/e" && listing "$T/out" | cmp -s - "$T/before"; then
  ok "the refusal ends the run under a restart strategy"
else bad "refusal under a restart strategy (rc=$rc)" "$T/e"; fi

# --overwrite replaces the part files: the result is one run's, no stale part-2/part-3
"$WEIR" run "${Q[@]}" --overwrite -p 2 "${JOB[@]}" "$T/out" >"$T/log" 2>&1; rc=$?
if [ $rc -eq 0 ] && committed "$T/out" | cmp -s - "$T/ref.sorted" \
   && [ -z "$(ls -A "$T/out" | grep -e '-[23]-')" ]; then
  ok "--overwrite: the directory holds exactly one run's result"
else bad "--overwrite (rc=$rc, $(committed "$T/out" | wc -l) rows)" "$T/log"; fi

# the bench's --output, where the duplicated rows were seen
B=(bench nexmark --query q1 --events 2000 -D metrics.reporter.prom.port=0 -D weir.progress=never
   -D state.checkpoints.dir="$T/bck")
"$WEIR" "${B[@]}" --output "$T/bench" >"$T/log" 2>&1 || bad "first bench" "$T/log"
committed "$T/bench" >"$T/bench.sorted"
"$WEIR" "${B[@]}" --output "$T/bench" >"$T/log" 2>"$T/e"; rc=$?
if [ $rc -ne 0 ] && grep -F "$T/bench" "$T/e" | grep -q -e '--overwrite'; then
  ok "a second bench over one --output is refused"; else bad "second bench (rc=$rc)" "$T/e"; fi
"$WEIR" "${B[@]}" --overwrite --output "$T/bench" >"$T/log" 2>&1; rc=$?
if [ $rc -eq 0 ] && committed "$T/bench" | cmp -s - "$T/bench.sorted"; then
  ok "bench --overwrite: one run's rows"; else bad "bench --overwrite (rc=$rc)" "$T/log"; fi

# a restore keeps what is not its sink's: another suffix, another file
C=("${Q[@]}" -D execution.checkpointing.interval=50ms -D execution.checkpointing.num-retained=1000
   -D state.checkpoints.dir="$T/ck")
"$WEIR" run "${C[@]}" -p 2 "${JOB[@]}" --rate 20000 "$T/r" >"$T/log" 2>&1 || bad "checkpointed run" "$T/log"
first=$(ls -d "$T"/ck/window-count/chk-* 2>/dev/null | sort -t- -k2 -n | head -1)
touch "$T/r/.part-0-99.txt" "$T/r/.part-1-0.json.pending" "$T/r/notes.txt"
"$WEIR" run "${C[@]}" -p 2 --from-checkpoint "$first" "${JOB[@]}" --rate 20000 "$T/r" >"$T/log" 2>&1; rc=$?
if [ $rc -eq 0 ] && [ -n "$first" ] && [ -e "$T/r/.part-0-99.txt" ] && [ -e "$T/r/.part-1-0.json.pending" ] \
   && [ -e "$T/r/notes.txt" ]; then
  ok "a restore leaves files that are not its sink's"
else bad "restore from ${first:-no checkpoint} (rc=$rc): $(ls -A "$T/r" | tr '\n' ' ')" "$T/log"; fi

echo "$passes passed, $fails failed"
[ $fails -eq 0 ]
