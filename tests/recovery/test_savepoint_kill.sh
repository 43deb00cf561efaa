#!/usr/bin/env bash
# Savepoints in the middle of a kill loop (issue 9, items 1 to 3): Nexmark q5 (sliding
# windows in keyed state) and q1 (source to sink in one chain), with one source subtask
# finishing long before the other, at -p 2 with checkpoints every 200 ms, get kill -USR1
# (a savepoint) at a random moment of each run, then kill -9: at once when the savepoint
# completes, or
# once a checkpoint after it completed and a random moment later, or a random moment after
# the signal (the savepoint may be in flight). Each run is restored from its savepoint when
# that is the newest snapshot (as in Flink, restoring from an older savepoint would replay
# output that later checkpoints committed), otherwise with --from-checkpoint latest. The
# committed output equals a run without failures; and after each savepoint the next
# checkpoint still completes (a savepoint once took the next checkpoint's id, which then
# never completed).
set -u
: "${WEIR:?}"
: "${WEIR_SRC:?}"
. "$WEIR_SRC/tests/support/tap.sh" savepoint-kill
. "$WEIR_SRC/tests/support/keep.sh"
. "$WEIR_SRC/tests/support/savepoint.sh"

# source subtask 1 paces at 4 times its share (bench/nexmark/source.c), so it finishes
# first: savepoints and kills land while one subtask is finished and the other runs
export WEIR_TEST_NEXMARK_FAST_SUBTASK=1:4
rows() { for f in "$1"/part-*.csv; do [ -f "$f" ] && tail -n +2 "$f"; done | LC_ALL=C sort; }
savepoint_loop() {
  local q=$1 args n
  args=(bench nexmark --query "$q" -p 2 --events 120000 --rate 30000 --event-rate 250
        -D metrics.reporter.prom.port=0 -D weir.progress=never
        -D execution.checkpointing.interval=200ms -D restart-strategy.type=none)

  "$WEIR" "${args[@]}" -D state.checkpoints.dir="$T/ck-ref-$q" --output "$T/ref-$q" >"$T/ref.log" 2>&1 \
    || { bad "$q: reference run" "$T/ref.log"; return; }
  rows "$T/ref-$q" >"$T/ref-$q.sorted"
  n=$(wc -l <"$T/ref-$q.sorted")
  [ "$n" -gt 20 ] && ok "$q: reference run: $n rows" || bad "$q: reference run wrote $n rows"

  local out="$T/out-$q" ck="$T/ck-$q" from=() killed=0 from_sp=0 next_ok=0 next_tried=0 shift=$((RANDOM % 3))
  # a run that finished before its kill goes again from what it started with (the first
  # four must be killed; tests/support/keep.sh)
  local round=1 try=0 again=0 tried0 ok0
  while [ $round -le 5 ]; do
    log="$T/run-$q-$round.log"
    if [ $try -eq 0 ]; then keep "$out" "$ck"; tried0=$next_tried ok0=$next_ok; fi
    "$WEIR" "${args[@]}" -D state.checkpoints.dir="$ck" -D state.savepoints.dir="$T/sp-$q-$round" \
      "${from[@]}" --output "$out" >"$log" 2>&1 &
    pid=$!
    wait_for "$log" "checkpoint [0-9]+ complete" 50
    sleep "0.$((RANDOM % 4))"
    kill -USR1 $pid
    how=$(((round + shift) % 3)) # every way in five rounds, in an order that varies
    case $how in
      0) wait_for "$log" "savepoint [0-9]+ complete" 50 ;;
      1) if wait_for "$log" "savepoint [0-9]+ complete" 50; then
           sp=$(sed -n 's/.*savepoint \([0-9]*\) complete.*/\1/p' "$log")
           next_tried=$((next_tried + 1))
           # item 3: the checkpoint after the savepoint completes (it took the savepoint's id
           # and expired)
           for i in $(seq 1 50); do
             if sed -n 's/.*checkpoint \([0-9]*\) complete.*/\1/p' "$log" | awk -v s="$sp" '$1 > s { f = 1 } END { exit !f }'; then
               next_ok=$((next_ok + 1)); break
             fi
             sleep 0.1
           done
           sleep "0.$((RANDOM % 3))"
         fi ;;
      2) sleep "0.0$((RANDOM % 10))" ;;
    esac
    kill -9 $pid 2>/dev/null
    wait $pid 2>/dev/null
    rc=$?
    if [ $rc -eq 0 ] && [ $round -lt 5 ] && [ $((try + 1)) -lt $KEEP_TRIES ]; then
      put_back "$out" "$ck"
      rm -rf "$T/sp-$q-$round"
      next_tried=$tried0 next_ok=$ok0 try=$((try + 1)) again=$((again + 1))
      continue
    fi
    if [ $rc -eq 0 ]; then from=(); break; fi # finished: what it committed is the result
    [ $rc -eq 137 ] || { bad "$q: run $round failed with $rc" "$log"; break; }
    killed=$((killed + 1))
    # the savepoint, when it completed and no checkpoint completed after it; else the latest
    sp=$(sed -n 's/.*savepoint \([0-9]*\) complete: \([^ ]*\) .*/\1 \2/p' "$log")
    newest=$(sed -n 's/.*checkpoint \([0-9]*\) complete.*/\1/p' "$log" | sort -n | tail -1)
    if [ -n "$sp" ] && [ "${newest:-0}" -le "${sp%% *}" ]; then
      from=(--from-savepoint "${sp#* }")
      from_sp=$((from_sp + 1))
    elif ls -d "$ck"/*/chk-* >/dev/null 2>&1; then
      from=(--from-checkpoint latest)
    else
      from=(--overwrite)
    fi
    echo "# $q run $round: kill $how; savepoint ${sp:-none}; next: ${from[*]}"
    round=$((round + 1)) try=0
  done
  if [ ${#from[@]} -gt 0 ]; then
    "$WEIR" "${args[@]}" -D state.checkpoints.dir="$ck" "${from[@]}" --output "$out" \
      >"$T/final-$q.log" 2>&1 || bad "$q: final run after $killed kills" "$T/final-$q.log"
  fi
  [ $killed -ge 4 ] && ok "$q: $killed of 5 runs killed with SIGKILL after a savepoint was asked for ($again that finished first went again)" \
    || bad "$q: only $killed of 5 runs were killed before they finished ($again went again)"
  [ $from_sp -ge 1 ] && ok "$q: $from_sp runs restored from a savepoint" \
    || bad "$q: no run restored from a savepoint (none completed before its kill)"
  [ $next_ok -eq $next_tried ] && ok "$q: after each of $next_tried savepoints waited on, a later checkpoint completed" \
    || bad "$q: after $((next_tried - next_ok)) of $next_tried savepoints no later checkpoint completed within 5 s"
  rows "$out" >"$T/got-$q.sorted"
  if cmp -s "$T/ref-$q.sorted" "$T/got-$q.sorted"; then
    ok "$q: committed rows after $killed kills and savepoints equal the run without failures"
  else
    bad "$q: committed rows differ: $(wc -l <"$T/got-$q.sorted") rows, expected $n"
    diff "$T/ref-$q.sorted" "$T/got-$q.sorted" | head -5
  fi
}

# q5: keyed windows before the sink; q1: source to sink in one chain, so a sink finishes
# early with its subtask (the savepoint must list what it staged)
for q in q5 q1; do savepoint_loop $q; done

echo "$passes passed, $fails failed"
[ $fails -eq 0 ]
