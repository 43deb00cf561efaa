#!/usr/bin/env bash
# A run killed before its first checkpoint completed, resumed the way a supervisor resumes
# it (--from-checkpoint latest, which finds no complete checkpoint), must start over and
# commit exactly what a run without failures commits. Its exactly-once file sink had left
# in-progress files in the output directory; the resumed run refused them ("not empty, and
# a fresh run ... would mix its part files") and so failed on every restart, which the
# crash test hit under ThreadSanitizer when its first kill came before any checkpoint.
# Committed part files there, with no checkpoint that explains them, are still refused.
set -u
: "${WEIR:?}"
: "${WEIR_SRC:?}"
. "$WEIR_SRC/tests/support/tap.sh" crash-first
Q=(-p 2 -D metrics.reporter.prom.port=0 -D weir.progress=never -D restart-strategy.type=none
   -D execution.checkpointing.interval=1s)
JOB=(window-count --records 40000 --keys 20 --rate 20000 --window-ms 100)
committed() { cat "$1"/part-*.csv 2>/dev/null | sort; }

"$WEIR" run "${Q[@]}" -D state.checkpoints.dir="$T/ref-ck" "${JOB[@]}" "$T/ref" >"$T/log" 2>&1 \
  || { bad "reference run" "$T/log"; echo "$passes passed, $fails failed"; exit 1; }
committed "$T/ref" >"$T/ref.sorted"

for backend in hashmap rocksdb; do
  args=("${Q[@]}" -D state.backend=$backend -D state.backend.rocksdb.localdir="$T/rocks-$backend"
        -D state.checkpoints.dir="$T/ck-$backend")
  out="$T/out-$backend"
  # killed in the middle of the first checkpoint's snapshot: a second of windows written
  WEIR_CRASH_POINT=snapshot:1 "$WEIR" run "${args[@]}" "${JOB[@]}" "$out" >"$T/log" 2>&1; rc=$?
  hidden=$(ls -A "$out" 2>/dev/null | grep -c '^\.part-')
  if [ $rc -ne 137 ] || [ "$hidden" -eq 0 ]; then
    bad "$backend: the first run was not killed with in-progress files (rc $rc, $hidden files)" "$T/log"
    continue
  fi
  if "$WEIR" run "${args[@]}" --from-checkpoint latest "${JOB[@]}" "$out" >"$T/log" 2>&1; then
    committed "$out" >"$T/got.sorted"
    if cmp -s "$T/ref.sorted" "$T/got.sorted"; then
      ok "$backend: resumed with no checkpoint over $hidden in-progress files, output exact"
    else bad "$backend: output differs ($(wc -l <"$T/got.sorted") rows)"; fi
  else bad "$backend: --from-checkpoint latest after a kill before the first checkpoint" "$T/log"; fi
done

# committed files and no checkpoint that explains them: refused, nothing deleted
mkdir -p "$T/other" && echo "1,0,100,5" >"$T/other/part-0-0.csv"
if "$WEIR" run "${Q[@]}" -D state.checkpoints.dir="$T/ck-other" --from-checkpoint latest \
     "${JOB[@]}" "$T/other" >"$T/log" 2>&1; then
  bad "a directory with committed files and no checkpoint was taken over"
elif grep -q "not empty" "$T/log" && [ -f "$T/other/part-0-0.csv" ]; then
  ok "committed files without a checkpoint: refused, left in place"
else bad "committed files without a checkpoint: wrong failure" "$T/log"; fi

echo "$passes passed, $fails failed"
[ $fails -eq 0 ]
