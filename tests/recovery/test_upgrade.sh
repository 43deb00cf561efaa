#!/usr/bin/env bash
# Upgrading a job (issue 12): job_upgrade.c built as v1 runs, is stopped at a snapshot, and
# v2 (same uids, another function, its states declared in another order after a new one)
# resumes from it, on both backends, from a savepoint (full format) and from an incremental
# checkpoint. Every key's counts go 1..n once each in the committed rows, whichever version
# wrote them, and its last sum is the sum of its numbers: no state lost, none counted twice,
# none read as another. v3 declares "count" as a list: refused with one line naming the
# operator, the state and both shapes. v4 has no "tally": refused without
# --allowNonRestoredState with a line naming the uid and the flag; with it, the log names
# the uid whose state it drops. v5 renames "sum": kept without the flag (a job may declare a
# state on its first record), dropped with it; the log says which, and the final
# checkpoint has sum's entries, or none.
set -u
: "${WEIR:?}" "${WEIR_SRC:?}"
. "$WEIR_SRC/tests/support/tap.sh" upgrade
. "$WEIR_SRC/tests/support/savepoint.sh"
command -v cc >/dev/null || { echo "skip: no cc"; exit 77; }
# each version a build of the same job (one file name, so one job name: its checkpoints'
# directory) in its own directory
for v in 1 2 3 4 5; do
  mkdir -p "$T/v$v"
  cc -shared -fPIC -DJOB_VERSION=$v -I"$WEIR_SRC/core/include" "$WEIR_SRC/tests/recovery/job_upgrade.c" \
     -o "$T/v$v/upgrade.so" 2>"$T/cc.log" || { bad "job_upgrade.c v$v does not compile" "$T/cc.log"; exit 1; }
done
N=30000
seq 0 $((N - 1)) >"$T/in.txt"

# the committed rows of $1 check out against the input: per key, counts 1..n once each and
# the last sum the key's total; prints what is wrong, if anything
check_rows() {
  cat "$1"/part-*.txt 2>/dev/null | awk -F, -v n=$N '
    BEGIN { for (x = 0; x < n; x++) { want[x % 50]++; total[x % 50] += x } }
    { if (seen[$2 "," $3]++) { print "key " $2 ": count " $3 " twice"; bad = 1 }
      got[$2]++; if ($3 == want[$2] && $4 != total[$2]) { print "key " $2 ": sum " $4 ", want " total[$2]; bad = 1 }
      v[$1]++ }
    END { for (k in want) if (got[k] != want[k]) { print "key " k ": " got[k] + 0 " rows, want " want[k]; bad = 1 }
          if (!v["v1"] || !v["v2"]) { print "rows of v1: " v["v1"] + 0 ", of v2: " v["v2"] + 0; bad = 1 }
          exit bad }'
}

# v1 from scratch, stopped (kill -9) after a savepoint ($how = savepoint) or a checkpoint
# (checkpoint); sets $from to what v2 resumes from
run_v1() {
  local log=$T/$name-v1.log pid
  "$WEIR" run "${opts[@]}" "$T/v1/upgrade.so" "$T/in.txt" "$T/out-$name" 500 >"$log" 2>&1 &
  pid=$!
  from=""
  if [ $how = savepoint ]; then
    sleep 0.8
    from=$(savepoint_of $pid "$log")
  elif wait_for "$log" "checkpoint [1-9] complete" 100; then
    from=latest
  fi
  kill -9 $pid 2>/dev/null
  wait $pid 2>/dev/null
  [ $? -eq 137 ] && [ -n "$from" ] && return 0
  bad "$name: v1 was not stopped at a $how" "$log"
  return 1
}

for backend in hashmap rocksdb; do
  for how in savepoint checkpoint; do
    name=$backend-$how
    opts=(-p 2 -D weir.progress=never -D metrics.reporter.prom.port=0 -D restart-strategy.type=none
          -D state.backend=$backend -D state.backend.incremental=true
          -D state.backend.rocksdb.localdir="$T/rocks" -D state.checkpoints.dir="$T/ck-$name"
          -D state.savepoints.dir="$T/sp-$name")
    if [ $how = savepoint ]; then opts+=(-D execution.checkpointing.interval=1h)
    else opts+=(-D execution.checkpointing.interval=200ms); fi
    run_v1 || continue
    [ $from = latest ] && resume=(--from-checkpoint latest) || resume=(--fromSavepoint "$from")

    # v3 on copies (were it to run, v2 would resume from its checkpoints and output)
    cp -a "$T/out-$name" "$T/out3-$name"
    cp -a "$T/ck-$name" "$T/ck3-$name"
    "$WEIR" run "${opts[@]}" -D state.checkpoints.dir="$T/ck3-$name" "${resume[@]}" \
      "$T/v3/upgrade.so" "$T/in.txt" "$T/out3-$name" 0 >"$T/$name-v3.log" 2>&1
    rc=$?
    line='operator tally: state "count" is a value of 8-byte values in the snapshot, but the job declares a list of 8-byte elements'
    [ $rc -ne 0 ] && grep -qF "$line" "$T/$name-v3.log" \
      && ok "$name: v3 (count is a list) refused: $(grep -F "$line" "$T/$name-v3.log" | head -1)" \
      || bad "$name: v3 (count is a list): exit $rc" "$T/$name-v3.log"

    # v4 has no "tally": refused, naming its uid and the flag; with the flag its state is
    # dropped and the log says so (on copies, as v3)
    rm -rf "$T/out3-$name" "$T/ck3-$name"
    cp -a "$T/out-$name" "$T/out3-$name"
    cp -a "$T/ck-$name" "$T/ck3-$name"
    v4=("$WEIR" run "${opts[@]}" -D state.checkpoints.dir="$T/ck3-$name" "${resume[@]}")
    "${v4[@]}" "$T/v4/upgrade.so" "$T/in.txt" "$T/out3-$name" 0 >"$T/$name-v4.log" 2>&1
    rc=$?
    line='state of operator uid "tally" matches no operator of job upgrade.so; pass --allow-non-restored-state (--allowNonRestoredState) to skip it'
    [ $rc -eq 2 ] && grep -qF "$line" "$T/$name-v4.log" \
      && ok "$name: v4 (no tally) refused, naming the uid and the flag" \
      || bad "$name: v4 (no tally): exit $rc" "$T/$name-v4.log"
    "${v4[@]}" --allowNonRestoredState "$T/v4/upgrade.so" "$T/in.txt" "$T/out3-$name" 0 \
      >"$T/$name-v4.log" 2>&1
    rc=$?
    line='dropping the state of operator uid "tally": no operator of job upgrade.so has it (--allow-non-restored-state)'
    [ $rc -eq 0 ] && grep -qF "$line" "$T/$name-v4.log" \
      && ok "$name: v4 --allowNonRestoredState drops tally's state and says so" \
      || bad "$name: v4 --allowNonRestoredState: exit $rc" "$T/$name-v4.log"

    # v5 renames sum: kept, or dropped with the flag (on copies); a savepoint of v5 says
    # which (a finished job's last checkpoint holds no keyed state)
    for flag in "" --allowNonRestoredState; do
      rm -rf "$T/out3-$name" "$T/ck3-$name"
      cp -a "$T/out-$name" "$T/out3-$name"
      cp -a "$T/ck-$name" "$T/ck3-$name"
      # a log of its own: the run starts in the background, so a reused log could still
      # hold the last run's "restored from" and savepoint when wait_for reads it
      log=$T/$name-v5${flag:+-drop}.log
      "${v4[@]}" $flag -D state.savepoints.dir="$T/sp5-$name${flag:+-drop}" \
        "$T/v5/upgrade.so" "$T/in.txt" "$T/out3-$name" 500 >"$log" 2>&1 &
      pid=$!
      sp5="" entries=""
      wait_for "$log" "restored from" 300 && sp5=$(savepoint_of $pid "$log")
      kill -9 $pid 2>/dev/null
      wait $pid 2>/dev/null
      if [ -z "$flag" ]; then
        line='operator "tally": state "sum" of the snapshot is not declared by the job at open: kept for a later declaration (--allow-non-restored-state drops it)'
        want='-gt 0' what=kept
      else
        line='operator "tally": dropping state "sum" of the snapshot: the job does not declare it (--allow-non-restored-state)'
        want='-eq 0' what=dropped
      fi
      [ -n "$sp5" ] && entries=$("$WEIR" inspect --json "$sp5" 2>/dev/null \
        | jq '[.operators[] | select(.uid == "tally") | .states[] | select(.name == "sum") | .entries] | add // 0')
      grep -qF "$line" "$log" && [ -n "$entries" ] && [ "$entries" $want ] \
        && ok "$name: v5 ${flag:-without the flag}: sum $what ($entries entries in a savepoint of v5), the log says so" \
        || bad "$name: v5 ${flag:-without the flag}: sum has ${entries:-?} entries in savepoint ${sp5:-none} ($(wc -l <"$log") lines of log)" "$log"
    done

    "$WEIR" run "${opts[@]}" "${resume[@]}" "$T/v2/upgrade.so" "$T/in.txt" "$T/out-$name" 0 \
      >"$T/$name-v2.log" 2>&1 || { bad "$name: v2 from the $how" "$T/$name-v2.log"; continue; }
    if why=$(check_rows "$T/out-$name"); then
      ok "$name: v2 resumed v1's $how: every key's counts and sums carry on"
    else
      bad "$name: v2 resumed v1's $how: $(echo $why | head -c 300)"
    fi
  done
done

echo "$passes passed, $fails failed"
[ $fails -eq 0 ]
