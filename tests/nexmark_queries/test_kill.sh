#!/usr/bin/env bash
# `weir bench nexmark --output DIR` is exactly once across kill -9: a query is
# killed with SIGKILL several times while it writes, resumed each time with
# --from-checkpoint latest, and the committed files DIR/*.csv then hold every
# result row of a run without failures exactly once (as multisets), each file
# starting with the header row, and nothing else is visible in DIR.
# The first kill lands at a random moment, the others a random moment after their run
# completed a checkpoint; a run that finished before its kill goes again
# (tests/support/keep.sh). q11 keeps session windows in keyed state; q7 keeps
# per-window maxima in operator state and keyed state. Both at parallelism 2,
# checkpoints every 100 ms.
set -u
: "${WEIR:?}"
: "${WEIR_SRC:?}"
. "$WEIR_SRC/tests/support/tap.sh" nexmark-kill
. "$WEIR_SRC/tests/support/keep.sh"

# rows of the committed files, header rows left out, sorted
rows() { cat "$1"/*.csv 2>/dev/null | grep -vx "$2" | sort; }

check_query() {
  local q=$1 header=$2 kills=$3; shift 3
  local args=(bench nexmark --query "$q" -p 2 "$@" -D metrics.reporter.prom.port=0
              -D weir.progress=never -D execution.checkpointing.interval=100ms
              -D restart-strategy.type=none)
  # reference: no failure
  if ! "$WEIR" "${args[@]}" -D state.checkpoints.dir="$T/ck-ref-$q" --output "$T/ref-$q" \
       >"$T/ref.log" 2>&1; then
    bad "$q: reference run" "$T/ref.log"; return
  fi
  rows "$T/ref-$q" "$header" >"$T/ref-$q.sorted"
  local n; n=$(wc -l <"$T/ref-$q.sorted")
  [ "$n" -gt 50 ] && ok "$q: reference run wrote $n rows" || bad "$q: reference run wrote $n rows"

  local out="$T/out-$q" from=() killed=0 again=0 i try rc
  for ((i = 0; i < kills; i++)); do
    # a run that finished before its kill goes again from what it started with, killed
    # sooner (tests/support/keep.sh)
    keep "$out" "$T/ck-$q"
    for ((try = 0; try < KEEP_TRIES; try++)); do
      "$WEIR" "${args[@]}" -D state.checkpoints.dir="$T/ck-$q" "${from[@]}" --output "$out" \
        >"$T/run.log" 2>&1 &
      local pid=$! ms w
      if [ $i -eq 0 ]; then
        # the first kill at a random moment (it may land before the first checkpoint)
        ms=$(((500 + RANDOM % 4 * 100) >> try))
      else
        # the others once this run completed a checkpoint (up to 30 s on a loaded machine),
        # and a random moment later: the last run then always has one to restore
        for ((w = 0; w < 1500; w++)); do
          grep -q "checkpoint [0-9]* complete" "$T/run.log" && break
          kill -0 $pid 2>/dev/null || break
          sleep 0.02
        done
        ms=$(((RANDOM % 300) >> try))
      fi
      sleep "0.$(printf '%03d' $ms)"
      kill -9 $pid 2>/dev/null
      wait $pid 2>/dev/null
      rc=$?
      [ $rc -eq 0 ] || break
      again=$((again + 1))
      put_back "$out" "$T/ck-$q"
    done
    [ $rc -eq 137 ] && killed=$((killed + 1))
    # resume from the newest complete checkpoint once there is one; before that, start
    # again over what the killed run left (a fresh run into a used directory says --overwrite)
    if ls "$T/ck-$q"/*/chk-*/_metadata >/dev/null 2>&1; then from=(--from-checkpoint latest)
    else from=(--overwrite); fi
  done
  if ! "$WEIR" "${args[@]}" -D state.checkpoints.dir="$T/ck-$q" "${from[@]}" --output "$out" \
       >"$T/run.log" 2>&1; then
    bad "$q: final run after $killed kills" "$T/run.log"; return
  fi
  [ "$killed" -ge $((kills - 1)) ] \
    && ok "$q: $killed of $kills runs killed with SIGKILL ($again that finished first went again)" \
    || bad "$q: only $killed of $kills runs were killed before they finished ($again went again)"
  grep -q "restored from checkpoint" "$T/run.log" && ok "$q: the last run restored a checkpoint" \
    || bad "$q: the last run did not restore a checkpoint" "$T/run.log"
  rows "$out" "$header" >"$T/got-$q.sorted"
  if cmp -s "$T/ref-$q.sorted" "$T/got-$q.sorted"; then
    ok "$q: committed rows after $killed kills equal the run without failures, each once"
  else
    bad "$q: committed rows differ: $(wc -l <"$T/got-$q.sorted") rows, expected $n"
    diff "$T/ref-$q.sorted" "$T/got-$q.sorted" | head -5
  fi
  local headless=0 f
  for f in "$out"/*.csv; do
    [ "$(head -1 "$f")" = "$header" ] || headless=$((headless + 1))
  done
  [ $headless -eq 0 ] && ok "$q: every committed file starts with the header row" \
    || bad "$q: $headless committed files without a header row"
  local stray; stray=$(ls -A "$out" | grep -v '^part-[0-9]*-[0-9]*\.csv$' | grep -vc '^\.')
  [ "$stray" -eq 0 ] && ok "$q: only committed files are visible" \
    || bad "$q: $stray unexpected visible files in $out"
}

check_query q11 "bidder,bid_count,starttime,endtime" 4 --events 120000 --rate 40000 --event-rate 4000
check_query q7 "auction,bidder,price,dateTime,extra" 3 --events 90000 --rate 40000 --event-rate 150

echo "$passes passed, $fails failed"
[ $fails -eq 0 ]
