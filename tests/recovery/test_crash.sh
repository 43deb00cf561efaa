#!/usr/bin/env bash
# Crash test: a stateful keyed job (event-time tumbling windows in keyed state,
# exactly-once file sink) is killed with SIGKILL again and again, at random
# moments and at chosen points (in the middle of a task's snapshot, while
# _metadata is being committed), and resumed with --from-checkpoint latest each
# time, on both state backends, on the hashmap backend once more with incremental
# checkpoints (chains of a full file and deltas, a full one every third), and with
# unaligned checkpoints (barriers overtake the records in flight, which are saved and
# replayed on restore). The committed output must equal, row for row, the output of
# a run without failures. In AT_LEAST_ONCE mode nothing may be lost. 57 kills in all
# (at least 30 must land before a run finishes).
set -u
: "${WEIR:?}"
: "${WEIR_SRC:?}"
. "$WEIR_SRC/tests/support/tap.sh" crash
kills=0

JOB=(window-count --records 150000 --keys 50 --rate 25000 --window-ms 500)
base=(-p 2 -D metrics.reporter.prom.port=0 -D execution.checkpointing.interval=100ms
      -D restart-strategy.type=none -D weir.progress=never)

committed() { cat "$1"/part-*.csv 2>/dev/null | sort; }
extra=() # more -D settings for run_with_kills

# Delta files of incremental heap checkpoints in CK's shared/ (a chain file's u32 at byte
# 12 is 1 for a delta), counted before a restart: the restore replays a chain with deltas.
deltas_restored=0
count_deltas() {
  local n=0 f
  for f in "$1"/*/shared/*.heap; do
    [ -f "$f" ] && [ "$(od -An -tu4 -j12 -N4 "$f" | tr -d ' ')" = 1 ] && n=$((n + 1))
  done
  [ $n -gt 0 ] && deltas_restored=$((deltas_restored + 1))
}

# reference: no failure
"$WEIR" run "${base[@]}" -D state.checkpoints.dir="$T/ref-ck" "${JOB[@]}" "$T/ref" >"$T/ref.log" 2>&1 \
  || { bad "reference run" "$T/ref.log"; echo "$passes passed, $fails failed"; exit 1; }
committed "$T/ref" >"$T/ref.sorted"
rows=$(wc -l <"$T/ref.sorted")
[ "$rows" -eq 15000 ] && ok "reference run: 15000 window rows" || bad "reference run has $rows rows"

# run_until_done MODE BACKEND OUT CK KILLPLAN...: each plan item is "random" or a
# WEIR_CRASH_POINT value; a run is killed per item, then one run completes.
run_with_kills() {
  local mode=$1 backend=$2 out=$3 ck=$4; shift 4
  # RocksDB runs with incremental checkpoints (shared SST files), hashmap-incr is the
  # hashmap backend with them (heap delta chains)
  local incr=false
  [ "$backend" = rocksdb ] && incr=true
  [ "$backend" = hashmap-incr ] && { incr=true; backend=hashmap; }
  local args=("${base[@]}" "${extra[@]}" -D execution.checkpointing.mode=$mode -D state.backend=$backend
              -D state.backend.incremental=$incr -D state.backend.incremental.heap.max-chain-length=2
              -D state.backend.rocksdb.localdir="$T/rocks" -D state.checkpoints.dir="$ck")
  local from=() i=0
  for plan in "$@"; do
    i=$((i + 1))
    if [ "$plan" = random ]; then
      "$WEIR" run "${args[@]}" "${from[@]}" "${JOB[@]}" "$out" >"$T/run.log" 2>&1 &
      local pid=$!
      sleep "0.$((RANDOM % 5 + 2))"
      kill -9 $pid 2>/dev/null
      wait $pid 2>/dev/null
    else
      # the process kills itself at the chosen point of checkpoint N
      WEIR_CRASH_POINT=$plan "$WEIR" run "${args[@]}" "${from[@]}" "${JOB[@]}" "$out" >"$T/run.log" 2>&1
    fi
    local rc=$?
    if [ $rc -eq 137 ] || grep -q "SIGKILL" "$T/run.log"; then
      kills=$((kills + 1))
    elif [ $rc -ne 0 ]; then
      bad "$mode/$backend run $i ($plan) failed with $rc" "$T/run.log"; return 1
    fi
    [ "$incr" = true ] && [ "$backend" = hashmap ] && count_deltas "$ck"
    from=(--from-checkpoint latest)
  done
  "$WEIR" run "${args[@]}" "${from[@]}" "${JOB[@]}" "$out" >"$T/run.log" 2>&1 \
    || { bad "$mode/$backend final run" "$T/run.log"; return 1; }
  return 0
}

for backend in hashmap hashmap-incr rocksdb; do
  out="$T/eo-$backend"
  plan=(random random snapshot:2 random commit:2 random snapshot:3 random commit:3 random random random random)
  if run_with_kills EXACTLY_ONCE $backend "$out" "$T/ck-eo-$backend" "${plan[@]}"; then
    committed "$out" >"$T/got.sorted"
    if cmp -s "$T/ref.sorted" "$T/got.sorted"; then
      ok "EXACTLY_ONCE on $backend: output after ${#plan[@]} crashes equals the run without failures"
    else
      bad "EXACTLY_ONCE on $backend: output differs ($(wc -l <"$T/got.sorted") rows)"
      diff "$T/ref.sorted" "$T/got.sorted" | head -5
    fi
    # nothing half-written is visible
    stray=$(ls -A "$out" | grep -v '^part-.*\.csv$' | grep -vc '^\.')
    [ "$stray" -eq 0 ] && ok "EXACTLY_ONCE on $backend: only committed files are visible" \
      || bad "EXACTLY_ONCE on $backend: $stray unexpected visible files"
  fi
done

# Unaligned checkpoints: the window tasks have two inputs each (the key_by shuffle at -p 2),
# and the kills land in the middle of a task's snapshot too. The sources run 8 times faster
# (the output does not depend on the rate: event time is the sequence number), so that the
# channels hold records when barriers overtake them.
out="$T/unaligned"
job_ref=("${JOB[@]}")
JOB=(window-count --records 150000 --keys 50 --rate 200000 --window-ms 500)
extra=(-D execution.checkpointing.unaligned.enabled=true)
plan=(random snapshot:2 random snapshot:3 random commit:2 random snapshot:4)
if run_with_kills EXACTLY_ONCE hashmap "$out" "$T/ck-unaligned" "${plan[@]}"; then
  committed "$out" >"$T/got.sorted"
  if cmp -s "$T/ref.sorted" "$T/got.sorted"; then
    ok "unaligned checkpoints: output after ${#plan[@]} crashes equals the run without failures"
  else
    bad "unaligned checkpoints: output differs ($(wc -l <"$T/got.sorted") rows)"
    diff "$T/ref.sorted" "$T/got.sorted" | head -5
  fi
fi
# And starting aligned, switching after 20 ms (execution.checkpointing.aligned-checkpoint-timeout).
out="$T/unaligned-timeout"
extra=(-D execution.checkpointing.unaligned.enabled=true
       -D execution.checkpointing.aligned-checkpoint-timeout=20ms)
plan=(random snapshot:2 random commit:3)
if run_with_kills EXACTLY_ONCE hashmap "$out" "$T/ck-unaligned-timeout" "${plan[@]}"; then
  committed "$out" >"$T/got.sorted"
  if cmp -s "$T/ref.sorted" "$T/got.sorted"; then
    ok "aligned-checkpoint-timeout: output after ${#plan[@]} crashes equals the run without failures"
  else
    bad "aligned-checkpoint-timeout: output differs ($(wc -l <"$T/got.sorted") rows)"
    diff "$T/ref.sorted" "$T/got.sorted" | head -5
  fi
fi
extra=()
JOB=("${job_ref[@]}")

# AT_LEAST_ONCE: no alignment, so a window may count a replayed record twice,
# but every window of the reference is there with at least its count.
out="$T/alo"
if run_with_kills AT_LEAST_ONCE hashmap "$out" "$T/ck-alo" random random snapshot:2 random random random; then
  committed "$out" >"$T/alo.sorted"
  missing=$(awk -F, 'NR==FNR { got[$1","$2","$3] = ($1","$2","$3 in got && got[$1","$2","$3] > $4) ? got[$1","$2","$3] : $4; next }
                    { k = $1","$2","$3; if (!(k in got) || got[k] < $4) m++ } END { print m + 0 }' \
            "$T/alo.sorted" "$T/ref.sorted")
  [ "$missing" -eq 0 ] && ok "AT_LEAST_ONCE: nothing lost after 6 crashes" \
    || bad "AT_LEAST_ONCE: $missing windows missing or short"
fi

[ $deltas_restored -ge 3 ] && ok "hashmap-incr: $deltas_restored restarts from chains with deltas" \
  || bad "hashmap-incr: only $deltas_restored restarts found a delta in shared/"
[ $kills -ge 30 ] && ok "$kills processes killed with SIGKILL" || bad "only $kills kills"
echo "$passes passed, $fails failed"
[ $fails -eq 0 ]
