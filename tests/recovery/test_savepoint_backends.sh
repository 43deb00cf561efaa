#!/usr/bin/env bash
# Restore across state backends for a whole job (issue 12): a savepoint is backend-independent,
# so a job can move between the heap and RocksDB with one. Nexmark queries with keyed state
# and timers (q5: sliding windows; q9: a join with event-time timers; q20: an incremental
# join in map and list state) run on the heap backend, take a savepoint (kill -USR1) and are killed; resume on
# RocksDB (incremental checkpoints on) from it, take another and are killed; and finish on
# the heap backend from that one. The committed rows equal a run without interruption.
# Checkpoints are off (a 1 h interval), so each savepoint is the newest snapshot: what a run
# committed after it would otherwise be committed twice.
set -u
: "${WEIR:?}"
: "${WEIR_SRC:?}"
. "$WEIR_SRC/tests/support/tap.sh" savepoint-backends
. "$WEIR_SRC/tests/support/savepoint.sh"

rows() { for f in "$1"/part-*.csv; do [ -f "$f" ] && tail -n +2 "$f"; done | LC_ALL=C sort; }
heap=(-D state.backend=hashmap)
rocks=(-D state.backend=rocksdb -D state.backend.incremental=true
       -D state.backend.rocksdb.localdir="$T/rocks")

# run Q NAME FROM BACKEND...: one run of query Q from savepoint FROM ("-": none) that takes a
# savepoint once it has run a while and is then killed; sets $sp to the savepoint's path
run_and_savepoint() {
  local q=$1 name=$2 from=$3 log="$T/$1-$2.log" pid rc
  shift 3
  local args=(run "${base[@]}" "$@")
  [ "$from" != - ] && args+=(--fromSavepoint "$from")
  "$WEIR" "${args[@]}" $q "${job[@]}" "$T/out-$q" >"$log" 2>&1 &
  pid=$!
  sleep 1
  sp=$(savepoint_of $pid "$log")
  kill -9 $pid 2>/dev/null
  wait $pid 2>/dev/null
  rc=$?
  if [ -n "$sp" ] && [ $rc -eq 137 ]; then
    ok "$q: $name: savepoint $sp, then killed"
    return 0
  fi
  bad "$q: $name: no savepoint before the kill (exit $rc)" "$log"
  return 1
}

for q in q5 q9 q20; do
  base=(-p 2 -D metrics.reporter.prom.port=0 -D weir.progress=never
        -D restart-strategy.type=none -D execution.checkpointing.interval=1h
        -D state.savepoints.dir="$T/sp-$q")
  job=(--events 150000 --rate 25000 --event-rate 500)
  "$WEIR" run "${base[@]}" -D state.checkpoints.dir="$T/ck-ref-$q" $q "${job[@]}" "$T/ref-$q" \
    >"$T/ref-$q.log" 2>&1 || { bad "$q: reference run" "$T/ref-$q.log"; continue; }
  base+=(-D state.checkpoints.dir="$T/ck-$q")
  rows "$T/ref-$q" >"$T/ref-$q.sorted"
  n=$(wc -l <"$T/ref-$q.sorted")
  [ "$n" -gt 20 ] && ok "$q: reference run: $n rows" || bad "$q: reference run wrote $n rows"

  run_and_savepoint $q heap - "${heap[@]}" || continue
  first=$sp
  run_and_savepoint $q "heap savepoint -> rocksdb" "$sp" "${rocks[@]}" || continue
  grep -q "restored from $first" "$T/$q-heap savepoint -> rocksdb.log" \
    && ok "$q: RocksDB restored the heap backend's savepoint" \
    || bad "$q: RocksDB did not say it restored $first" "$T/$q-heap savepoint -> rocksdb.log"
  ls "$T/rocks"/*/* >/dev/null 2>&1 && ok "$q: that run kept its state in RocksDB ($T/rocks)" \
    || bad "$q: no RocksDB instance under $T/rocks"
  rm -rf "$T/rocks"
  "$WEIR" run "${base[@]}" "${heap[@]}" --fromSavepoint "$sp" $q "${job[@]}" "$T/out-$q" \
    >"$T/$q-final.log" 2>&1 || { bad "$q: rocksdb savepoint -> heap: the last run" "$T/$q-final.log"; continue; }
  grep -q "restored from $sp" "$T/$q-final.log" \
    && ok "$q: the heap backend restored RocksDB's savepoint and finished" \
    || bad "$q: the last run did not say it restored $sp" "$T/$q-final.log"
  rows "$T/out-$q" >"$T/got-$q.sorted"
  if cmp -s "$T/ref-$q.sorted" "$T/got-$q.sorted"; then
    ok "$q: committed rows after heap -> rocksdb -> heap equal the uninterrupted run ($n)"
  else
    bad "$q: committed rows differ: $(wc -l <"$T/got-$q.sorted") rows, expected $n"
    diff "$T/ref-$q.sorted" "$T/got-$q.sorted" | head -5
  fi
done

echo "$passes passed, $fails failed"
[ $fails -eq 0 ]
