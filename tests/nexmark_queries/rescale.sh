# Sourced by tests/nexmark_queries/test_rescale_*.sh (after tap.sh): rescale_query Q ARGS...
# runs Nexmark query Q (ARGS: the state backend's -D options) at -p 2, stops it with a
# savepoint (`weir stop --savepointPath DIR JOBID`, without --drain: open windows carry over
# through the savepoint; the run must exit 0, finished), resumes that savepoint (-s PATH) at
# -p 3, stops it the same way, and resumes that one at -p 1 to the end (RESCALE_PS,
# RESCALE_LAST and RESCALE_DELAYS say otherwise). RESCALE_STOP=kill takes each savepoint with
# kill -USR1 and then kills the run with SIGKILL instead: the run goes on past its savepoint,
# so the restored run must also drop what the killed one wrote after it (in-progress and
# pending part files of subtasks that may not exist at the new parallelism). Operator state
# moves with the parallelism (op_state.c): the sources' splits and positions, the
# exactly-once file sink's pending files, q7's local windows; keyed state by key groups. The
# committed output must equal a run at -p 2 without interruption (canon.sh: rows, or an
# updating query's final table), and only committed part files are left.
. "$WEIR_SRC/tests/nexmark_queries/canon.sh"

RESCALE_EVENTS=30000
RESCALE_RATE=10000 # events/s of the runs that are stopped: 3 s each, stopped at about 0.2 s
RESCALE_DELAYS=0.15 # from each stopped run's start to its savepoint, s (the last: the rest)
RESCALE_PS="2 3"   # the parallelism of each run that is stopped
RESCALE_LAST=1     # the parallelism of the last run, to the end
RESCALE_STOP=stop  # or kill: how each stopped run's savepoint is taken (above)
export WEIR_RUNTIME_DIR="$T/run" # the job registry `weir stop JOBID` looks in: this test's own

# rescale_savepoint LOG PID DELAY DIR: once PID runs (its job registered), waits DELAY and
# stops it with a savepoint into DIR (RESCALE_STOP=kill: asks for a savepoint with SIGUSR1
# and kills PID with SIGKILL once it completed); sets sp to the savepoint's path, empty after
# a bad line when none completed or the stopped run did not finish with exit status 0
rescale_savepoint() {
  local log=$1 pid=$2 delay=$3 dir=$4 i id= rc
  for ((i = 0; i < 500; i++)); do
    id=$(sed -n 's/^weir: rest: .*(job \([0-9a-f]\{32\}\))$/\1/p' "$log" 2>/dev/null)
    [ -n "$id" ] && [ -e "$WEIR_RUNTIME_DIR/$id.job" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.01
  done
  sleep "$delay"
  sp=
  if [ "$RESCALE_STOP" = kill ]; then
    kill -USR1 "$pid" 2>/dev/null
    for ((i = 0; i < 500; i++)); do
      grep -q "savepoint [0-9]* complete" "$log" && break
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.01
    done
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    sp=$(sed -n 's/^weir: savepoint [0-9]* complete: \([^ ]*\) .*/\1/p' "$log")
    [ -n "$sp" ] || bad "no savepoint completed" "$log"
    return
  fi
  "$WEIR" stop --savepointPath "$dir" "$id" >"$log.stop" 2>&1
  local src=$?
  wait "$pid"; rc=$?
  local p; p=$(sed -n 's/^Savepoint completed. Path: //p' "$log.stop")
  if [ $src -ne 0 ] || [ -z "$p" ] || [ "${p#"$dir/"}" = "$p" ] || [ ! -e "$p/_metadata" ]; then
    bad "weir stop --savepointPath $dir $id (exit $src) printed no savepoint under $dir" "$log.stop"
  elif [ $rc -ne 0 ] || ! grep -q "^nexmark q[0-9]* (.*) finished: " "$log"; then
    bad "the run stopped with a savepoint exited $rc, not 0 finished" "$log"
  else
    sp=$p
  fi
}

rescale_query() {
  local q=$1; shift
  local args=(bench nexmark --query "$q" --events $RESCALE_EVENTS --event-rate 250
              -D metrics.reporter.prom.port=0 -D rest.port=0 -D weir.progress=never
              -D execution.checkpointing.interval=1h -D restart-strategy.type=none "$@")
  if ! "$WEIR" "${args[@]}" -p 2 -D state.checkpoints.dir="$T/ck-ref-$q" --output "$T/ref-$q" \
       >"$T/ref-$q.log" 2>&1; then
    bad "$q: reference run" "$T/ref-$q.log"; return
  fi
  canon "$q" "$T/ref-$q" >"$T/ref-$q.sorted"
  local n; n=$(wc -l <"$T/ref-$q.sorted")
  [ "$n" -gt 0 ] || { bad "$q: the reference run wrote no rows"; return; }

  # the runs: each stopped one (RESCALE_PS) with its savepoint, then the last to the end; every
  # run after the first must restore the savepoint before it
  local out="$T/out-$q" from=() p sp log i=0 rate delays=($RESCALE_DELAYS)
  for p in $RESCALE_PS $RESCALE_LAST; do
    i=$((i + 1)) log="$T/run-$q-$i.log"
    rate=(--rate $RESCALE_RATE)
    [ $i -le $(wc -w <<<"$RESCALE_PS") ] || rate=()
    "$WEIR" "${args[@]}" -p $p "${rate[@]}" -D state.checkpoints.dir="$T/ck-$q" \
      -D state.savepoints.dir="$T/sp-$q-$i" "${from[@]}" --output "$out" >"$log" 2>&1 &
    if [ ${#rate[@]} -gt 0 ]; then
      rescale_savepoint "$log" $! "${delays[i - 1]:-${delays[-1]}}" "$T/sp-$q-$i"
      [ -n "$sp" ] || { bad "$q: run $i at -p $p: no savepoint (above)"; return; }
    elif ! wait $!; then
      bad "$q: the last run, resumed at -p $p" "$log"; return
    fi
    [ $i -eq 1 ] || grep -qF "restored from ${from[1]} (" "$log" \
      || { bad "$q: run $i at -p $p did not restore ${from[1]}" "$log"; return; }
    from=(-s "$sp")
  done
  local how="-p ${RESCALE_PS// /, $RESCALE_STOP, -p }, $RESCALE_STOP, -p $RESCALE_LAST"
  canon "$q" "$out" >"$T/got-$q.sorted"
  if cmp -s "$T/ref-$q.sorted" "$T/got-$q.sorted"; then
    ok "$q: $how: the committed output equals the run without interruption ($n rows)"
  else
    bad "$q: committed output after $how differs: $(wc -l <"$T/got-$q.sorted") rows, expected $n" "$log"
    diff "$T/ref-$q.sorted" "$T/got-$q.sorted" | head -5
  fi
  local stray; stray=$(ls -A "$out" | grep -vc '^part-[0-9]*-[0-9]*\.csv$')
  [ "$stray" -eq 0 ] && ok "$q: only committed part files are left in the output" \
    || bad "$q: $stray pending, in-progress or other files left in the output"
  rm -rf "$T/ck-ref-$q" "$T/ck-$q" "$T/sp-$q-"* "$T/ref-$q" "$out"
}

# every Nexmark query with deterministic output (q12 counts processing-time windows)
RESCALE_QUERIES="q0 q1 q2 q3 q4 q5 q7 q8 q9 q11 q14 q17 q18 q19 q20 q21 q22"
