# Sourced by tests/nexmark_queries/test_kill_restore_*.sh (after tap.sh): each Nexmark
# query with deterministic output, at -p 2 with checkpoints every 100 ms, killed with
# SIGKILL three times (at a random moment and at the crash points WEIR_CRASH_POINT offers:
# in the middle of a task's snapshot, while _metadata is being written) and restored each
# time: first and last from an explicit chk-N into ANOTHER state.checkpoints.dir, in
# between with --from-checkpoint latest in the same one. Checkpoint ids must go on from the
# restored one wherever they are written (issue 9, item 2: a restore into a fresh directory
# numbered from 1 and committed nothing below the restored id); once a checkpoint completed
# in the new directory, the old one is deleted before the next restore (nothing in the new
# one may still need it, RocksDB's shared files neither). The committed output must equal
# a run without failures: append-only results row for row (sorted), updating results (q4,
# q17, q18, q19) as their final tables (the last row per key in the order each subtask
# committed them), as tests/nexmark_queries/test_queries.c compares them. q12 counts
# processing-time windows, whose rows depend on the clock: it is left out.
# Source subtask 1 runs four times as fast as subtask 0, so it finishes in the first
# quarter of a run and most kills land while subtask 0 still runs (issue 9, item 1: the
# checkpoints after a subtask finished held only a "finished" marker for it, and a restore
# from one of them never committed that subtask's last output).
export WEIR_TEST_NEXMARK_FAST_SUBTASK=1:4
# The first two runs must be killed: one that finished before its kill (a loaded machine,
# or too little input left to reach its crash point) is put back as it started and goes
# again, its random kill sooner (tests/support/keep.sh).
. "$WEIR_SRC/tests/support/keep.sh"

. "$WEIR_SRC/tests/nexmark_queries/canon.sh"

# the newest checkpoint of a checkpoints dir that completed (has its _metadata)
newest_chk() {
  ls -d "$1"/*/chk-* 2>/dev/null | while read -r d; do
    [ -f "$d/_metadata" ] && echo "${d##*chk-} $d"
  done | sort -n | tail -1 | cut -d' ' -f2
}

# the ids of the checkpoints in a checkpoints dir at or below $2: a run restored from chk-$2
# must number on from it, in any directory
ids_not_above() {
  local d
  for d in "$1"/*/chk-*; do
    [ -d "$d" ] && [ "${d##*chk-}" -le "$2" ] && echo "${d##*/}"
  done
}

kill_restore_query() {
  local q=$1; shift
  local args=(bench nexmark --query "$q" -p 2 --events 60000 --rate 30000 --event-rate 250
              -D metrics.reporter.prom.port=0 -D weir.progress=never
              -D execution.checkpointing.interval=100ms -D restart-strategy.type=none "$@")
  local t0; t0=$(date +%s%3N)
  if ! "$WEIR" "${args[@]}" -D state.checkpoints.dir="$T/ck-ref-$q" --output "$T/ref-$q" \
       >"$T/ref-$q.log" 2>&1; then
    bad "$q: reference run" "$T/ref-$q.log"; return
  fi
  local ref_ms=$(($(date +%s%3N) - t0))
  canon "$q" "$T/ref-$q" >"$T/ref-$q.sorted"
  local n; n=$(wc -l <"$T/ref-$q.sorted")
  [ "$n" -gt 0 ] || { bad "$q: the reference run wrote no rows"; return; }

  # three kills: a random moment, and the two crash points (the 2nd checkpoint of a run)
  local plans=(random "snapshot:2" "commit:2")
  local k=$((RANDOM % 3)) # the order varies from run to run
  plans=("${plans[@]:k}" "${plans[@]:0:k}")
  local out="$T/out-$q" ck="$T/ck-$q-0" from=() killed=0 restores="" i rc above=0 low=
  local again=0 try
  for ((i = 0; i < 3; i++)); do
    local plan=${plans[i]} log="$T/run-$q-$i.log"
    keep "$out" "$ck"
    for ((try = 0; try < KEEP_TRIES; try++)); do
      if [ "$plan" = random ]; then
        "$WEIR" "${args[@]}" -D state.checkpoints.dir="$ck" "${from[@]}" --output "$out" \
          >"$log" 2>&1 &
        # the random moment, halved on each try after a run that finished first
        local pid=$! ms=$((ref_ms * (30 + RANDOM % 40) / 100 >> try))
        sleep "$((ms / 1000)).$(printf '%03d' $((ms % 1000)))"
        kill -9 $pid 2>/dev/null
        wait $pid 2>/dev/null
        rc=$?
      else
        WEIR_CRASH_POINT=$plan "$WEIR" "${args[@]}" -D state.checkpoints.dir="$ck" "${from[@]}" \
          --output "$out" >"$log" 2>&1
        rc=$?
      fi
      low="$low$(ids_not_above "$ck" $above | tr '\n' ' ')"
      # the first two runs must be killed (the test wants 2 kills at least): one that
      # finished first goes again from what it started with (tests/support/keep.sh)
      [ $rc -eq 0 ] && [ $i -lt 2 ] || break
      again=$((again + 1))
      put_back "$out" "$ck"
    done
    if [ $rc -eq 0 ]; then
      cp "$log" "$T/final-$q.log"
      break # finished before the kill: its output is the one to compare
    fi
    [ $rc -eq 137 ] || { bad "$q: run $i ($plan) failed with $rc" "$log"; return; }
    killed=$((killed + 1))
    # restore: alternately the newest complete chk-N by its path into a new directory
    # (first and last, so that the run that finishes is one: it once committed nothing
    # below the restored id) and the latest in the same directory; before the first
    # checkpoint, start over
    local chk; chk=$(newest_chk "$ck")
    if [ -z "$chk" ]; then
      from=(--overwrite) above=0
    elif [ $((i % 2)) -eq 1 ]; then
      from=(--from-checkpoint latest)
      restores="$restores latest"
      # a checkpoint completed in this directory: the directories restored from before
      # are not needed any more (their shared files neither), so they go
      local d
      for d in "$T/ck-$q-"*; do [ "$d" = "$ck" ] || rm -rf "$d"; done
    else
      from=(--from-checkpoint "$chk")
      ck="$T/ck-$q-$((i + 1))"
      above=${chk##*chk-}
      restores="$restores ${chk##*/}->new-dir"
    fi
  done
  if [ $rc -ne 0 ]; then
    "$WEIR" "${args[@]}" -D state.checkpoints.dir="$ck" "${from[@]}" --output "$out" \
      >"$T/final-$q.log" 2>&1 || { bad "$q: final run after $killed kills" "$T/final-$q.log"; return; }
    low="$low$(ids_not_above "$ck" $above | tr '\n' ' ')"
  fi
  [ -z "$low" ] && ok "$q: checkpoint ids go on from the restored one in the new directory" \
    || bad "$q: a run restored from chk-$above into a new directory wrote $low"
  [ $killed -ge 2 ] || { bad "$q: only $killed of 3 runs were killed before they finished ($again tries went again)"; return; }
  canon "$q" "$out" >"$T/got-$q.sorted"
  if cmp -s "$T/ref-$q.sorted" "$T/got-$q.sorted"; then
    ok "$q: after $killed kills (${plans[*]}; restores:${restores:- none}; runs that finished before their kill and went again: $again) the committed output equals the run without failures ($n rows)"
  else
    bad "$q: committed output differs after $killed kills (${plans[*]}; restores:$restores): $(wc -l <"$T/got-$q.sorted") rows, expected $n" "$T/final-$q.log"
    diff "$T/ref-$q.sorted" "$T/got-$q.sorted" | head -5
  fi
  local stray; stray=$(ls -A "$out" | grep -vc '^part-[0-9]*-[0-9]*\.csv$')
  [ "$stray" -eq 0 ] && ok "$q: only committed part files are left in the output" \
    || bad "$q: $stray pending, in-progress or other files left in the output"
  rm -rf "$T/ck-ref-$q" "$T/ck-$q-"* "$T/ref-$q" "$out"
}
