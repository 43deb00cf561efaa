#!/usr/bin/env bash
# Counts on the command line: --records 0 and --records 0.5 used to mean "unbounded" (0.5
# truncated to 0, and 0 was the generator's unbounded). A count is a whole number above 0;
# unbounded is said with --unbounded, wherever a count is taken.
set -u
: "${WEIR:?}"
: "${WEIR_SRC:?}"
. "$WEIR_SRC/tests/support/tap.sh" counts
trap 'rm -rf "$T"; [ -n "${BG:-}" ] && kill -9 $BG 2>/dev/null' EXIT
Q=(-D metrics.reporter.prom.port=0 -D weir.progress=never)

# refused NAME FLAG VALUE WORD CMD...: exit 2, one line naming the flag, the value and WORD
refused() {
  local name=$1 flag=$2 value=$3 word=$4; shift 4
  timeout 5 "$WEIR" "$@" >"$T/o" 2>"$T/e"; local rc=$?
  if [ $rc -eq 2 ] && [ "$(wc -l <"$T/e")" -eq 1 ] && grep -q -e "$flag" "$T/e" \
     && grep -q -F "\"$value\"" "$T/e" && grep -q -e "$word" "$T/e"; then
    ok "$name"; else bad "$name (rc=$rc)" "$T/e"; fi
}

# (--rate: before the fix these ran unbounded until the timeout)
for j in "pipeline" "generate $T/g" "window-count $T/w"; do
  set -- $j
  refused "$1 --records 0 is refused, pointing to --unbounded" --records 0 --unbounded \
    run "${Q[@]}" "$1" --rate 1000 --records 0 "${@:2}"
  refused "$1 --records 0.5 is refused" --records 0.5 'whole' \
    run "${Q[@]}" "$1" --rate 1000 --records 0.5 "${@:2}"
  rm -rf "$T/g" "$T/w"
done
refused "q1 --events 0 is refused" --events 0 --unbounded run "${Q[@]}" q1 --rate 1000 --events 0
refused "q1 --events 2.5 is refused" --events 2.5 'whole' run "${Q[@]}" q1 --events 2.5
refused "bench nexmark --events 0 is refused" --events 0 --unbounded \
  bench nexmark --query q1 --rate 1000 --events 0
refused "bench nexmark --events 0.5 is refused" --events 0.5 'whole' \
  bench nexmark --query q1 --rate 1000 --events 0.5
refused "pipeline --keys 1.5 is refused" --keys 1.5 'whole' run "${Q[@]}" pipeline --keys 1.5

timeout 5 "$WEIR" run "${Q[@]}" pipeline --rate 1000 --records 10 --unbounded >"$T/o" 2>"$T/e"; rc=$?
if [ $rc -eq 2 ] && [ "$(wc -l <"$T/e")" -eq 1 ] && grep -q -e '--records' "$T/e" && grep -q -e '--unbounded' "$T/e"; then
  ok "--records with --unbounded is refused"; else bad "--records with --unbounded (rc=$rc)" "$T/e"; fi

# --unbounded runs until stopped: window-count, a Nexmark query, the bench
unbounded() { # NAME CMD...
  local name=$1; shift
  "$WEIR" "$@" >"$T/o" 2>"$T/e" &
  BG=$!
  sleep 1.5
  kill -TERM $BG; wait $BG; local rc=$?; BG=""
  if [ $rc -eq 0 ] && ! grep -q 'finished' "$T/e"; then ok "$name"; else bad "$name (rc=$rc)" "$T/e"; fi
}
unbounded "window-count --unbounded runs until stopped" run "${Q[@]}" window-count --unbounded --rate 5000 "$T/wu"
unbounded "q1 --unbounded runs until stopped" run "${Q[@]}" q1 --unbounded --rate 5000
unbounded "bench nexmark --unbounded runs until stopped" bench nexmark --query q1 --unbounded --rate 5000 "${Q[@]}"

echo "$passes passed, $fails failed"
[ $fails -eq 0 ]
