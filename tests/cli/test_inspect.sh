#!/usr/bin/env bash
# weir inspect (issue 12): checkpoints that the built-in window-count job takes at -p 2 on
# both backends, incremental and not, read back without the job. The keyed state of the
# checkpoint (one window per key, all keys, counted since the start) must say what the
# sources put in: the datagen subtasks' positions (their operator state decoded, each
# split's "next", which is the little-endian u64 of its bytes too) give every key's count,
# which --key/--state must print; --json has the operators, the 50 keys and their 50
# event-time timers. A byte flipped in a state file or a shared file or _metadata, or a
# state file missing, gives one line naming the file and the checksum or the error, exit 1;
# a directory that is not a checkpoint, exit 2. The Nexmark source's splits (q1) are decoded
# too; the Kafka sink's pending transactions: tests/kafka/test_kafka_rescale.c (a broker).
set -u
: "${WEIR:?}"
: "${WEIR_SRC:?}"
. "$WEIR_SRC/tests/support/tap.sh" inspect
command -v jq >/dev/null || { echo "skip: no jq (tools/install-deps.sh installs it)"; exit 77; }

KEYS=50
# the u64 that 16 hex digits hold, little-endian
le64() { local h=$1 v="" i; for ((i = 14; i >= 0; i -= 2)); do v+=${h:i:2}; done; echo $((16#$v)); }
# the count of key k in the checkpoint: the records seq = k (mod KEYS) below next of the
# source subtask that emits them (seq = subtask mod 2 at -p 2)
expect_count() {
  local k=$1 next=$2
  [ "$next" -gt "$k" ] && echo $(((next - k + KEYS - 1) / KEYS)) || echo 0
}
# inverts the byte in the middle of file $1
flip() {
  local off b
  off=$(($(stat -c %s "$1") / 2))
  b=$(od -An -tu1 -j $off -N1 "$1" | tr -d ' ')
  printf "\\x$(printf %02x $((b ^ 255)))" | dd of="$1" bs=1 seek=$off conv=notrunc 2>/dev/null
}
wait_for() { # until file $1 exists, or process $2 ended, or 60 s passed
  local i
  for i in $(seq 1 600); do
    [ -f "$1" ] && return
    kill -0 "$2" 2>/dev/null || return
    sleep 0.1
  done
}
newest() { # the newest complete checkpoint under $1
  ls -d "$1"/window-count/chk-* 2>/dev/null | sed 's/.*chk-//' | sort -n | while read -r n; do
    [ -f "$1/window-count/chk-$n/_metadata" ] && echo "$1/window-count/chk-$n"
  done | tail -1
}

for backend in hashmap rocksdb; do
  for inc in false true; do
    name="$backend incremental=$inc"
    ck="$T/ck-$backend-$inc" log="$T/run-$backend-$inc.log"
    "$WEIR" run -p 2 -D state.backend=$backend -D state.backend.incremental=$inc \
      -D state.checkpoints.dir="$ck" -D execution.checkpointing.interval=100ms \
      -D execution.checkpointing.num-retained=100 -D metrics.reporter.prom.port=0 \
      -D weir.progress=never -D restart-strategy.type=none \
      window-count --unbounded --rate 4000 --keys $KEYS --window-ms 1000000000000 \
      "$T/out-$backend-$inc" >"$log" 2>&1 &
    pid=$!
    # a checkpoint past the eighth: several deltas of a heap chain, SSTs shared by several
    wait_for "$ck/window-count/chk-9/_metadata" $pid
    # a savepoint too (the portable format, whatever the backend)
    kill -USR1 $pid 2>/dev/null
    for i in $(seq 1 600); do
      grep -q "savepoint [0-9]* complete" "$log" && break
      kill -0 $pid 2>/dev/null || break
      sleep 0.1
    done
    kill -9 $pid 2>/dev/null # no final checkpoint: windows stay open in the newest one
    wait $pid 2>/dev/null
    chk=$(newest "$ck")
    if [ -z "$chk" ] || [ ! -f "$ck/window-count/chk-9/_metadata" ]; then
      bad "$name: no ninth checkpoint" "$log"
      continue
    fi
    if ! "$WEIR" inspect --json "$chk" >"$T/j" 2>"$T/e"; then
      bad "$name: inspect --json $chk" "$T/e"
      continue
    fi
    sp=$(sed -n 's/.*savepoint [0-9]* complete: \([^ ]*\) (weir run.*/\1/p' "$log")
    if [ -n "$sp" ] && "$WEIR" inspect --json "$sp" >"$T/s" 2>"$T/e"; then
      jq -e --argjson k $KEYS '.savepoint and (.operators[] | select(.uid == "count")
          | .timers.event_time == $k and (.states[] | select(.name == "acc") | .entries == $k))' \
        "$T/s" >/dev/null && ok "$name: savepoint: $KEYS entries of acc, $KEYS timers" \
        || bad "$name: savepoint $sp" "$T/s"
    else
      bad "$name: savepoint ${sp:-not taken}" "$T/e"
    fi
    id=${chk##*chk-}
    jq -e --argjson id "$id" '.checkpoint_id == $id and .job == "window-count" and .checksums_verified
        and .max_parallelism == 128' "$T/j" >/dev/null \
      && ok "$name: checkpoint $id of window-count, checksums verified" || bad "$name: header" "$T/j"
    jq -e '[.operators[].uid] | sort == ["count", "datagen", "out"]' "$T/j" >/dev/null \
      && ok "$name: operators datagen, count, out" || bad "$name: operators" "$T/j"
    jq -e '.operators[] | select(.uid == "count") | .parallelism == 2 and .keyed
        and .key_groups_per_subtask == 64 and ([.subtasks[].key_groups] == [[0, 63], [64, 127]])' \
      "$T/j" >/dev/null && ok "$name: count is keyed, 2 subtasks of 64 key groups" \
      || bad "$name: count's parallelism and key groups" "$T/j"
    # the window's state, by name on every backend (an incremental RocksDB checkpoint lists
    # its states' names beside the ids its instance keys entries by)
    st=acc kind=value
    entries=$(jq --arg st "$st" '.operators[] | select(.uid == "count") | .states[] | select(.name == $st) | .entries' "$T/j")
    timers=$(jq '.operators[] | select(.uid == "count") | .timers.event_time' "$T/j")
    [ "$entries" = $KEYS ] && ok "$name: state $st has $KEYS entries" \
      || bad "$name: state $st has ${entries:-no} entries, not $KEYS" "$T/j"
    [ "$timers" = $KEYS ] && ok "$name: $KEYS event-time timers" \
      || bad "$name: ${timers:-no} event-time timers, not $KEYS" "$T/j"
    want_backend=$backend
    [ $inc = true ] && want_backend=$([ $backend = rocksdb ] && echo rocksdb-incremental || echo hashmap-incremental)
    jq -e --arg b "$want_backend" '.operators[] | select(.uid == "count") | .backend == $b' "$T/j" >/dev/null \
      && ok "$name: backend $want_backend" || bad "$name: backend is not $want_backend" "$T/j"
    if [ $inc = true ]; then
      jq -e '.shared | length > 2' "$T/j" >/dev/null && ok "$name: shared files listed (a chain of deltas, SSTs)" \
        || bad "$name: no shared files" "$T/j"
    fi
    # every key's count from the sources' positions; --key/--state prints key 7's and 10's
    # (the positions decoded, "operator_state_decoded": split s of 2, next as the bytes say)
    for s in 0 1; do
      sel='.operators[] | select(.uid == "datagen") | .subtasks[] | select(.subtask == $s)'
      hex=$(jq -r --argjson s $s "$sel | .operator_state_hex" "$T/j")
      next[$s]=$(jq -r --argjson s $s "$sel | .operator_state_decoded[0].next" "$T/j")
      jq -e --argjson s $s --argjson n "$(le64 "${hex:0:16}")" "$sel | .operator_state_kind == \"datagen\"
          and .operator_state_decoded == [{residue: \$s, stride: 2, next: \$n}]" "$T/j" >/dev/null \
        && ok "$name: datagen subtask $s decoded: split $s of 2, next ${next[$s]}" \
        || bad "$name: datagen subtask $s decoded" "$T/j"
    done
    for k in 7 10; do
      want=$(expect_count $k ${next[$((k % 2))]})
      if "$WEIR" inspect --key $k --state "$st" "$chk" >"$T/k" 2>"$T/e"; then
        got=$(sed -n 's/.*state "'$st'" key '$k' namespace [0-9-]*: \([0-9a-f]*\).*/\1/p' "$T/k")
        [ -n "$got" ] && [ "$(le64 "$got")" = "$want" ] \
          && ok "$name: --key $k --state $st: count $want (source position ${next[$((k % 2))]})" \
          || bad "$name: --key $k --state $st printed \"$(cat "$T/k")\", want count $want"
      else
        bad "$name: --key $k --state $st" "$T/e"
      fi
    done
    "$WEIR" inspect --key $((KEYS + 3)) --state "$st" "$chk" >/dev/null 2>"$T/e"
    rc=$?
    [ $rc -eq 1 ] && grep -q "has no value" "$T/e" && ok "$name: a key without a value: exit 1" \
      || bad "$name: a key without a value: exit $rc" "$T/e"
    "$WEIR" inspect "$chk" >"$T/t" 2>"$T/e" && grep -q "every checksum verified" "$T/t" \
      && grep -qF "state \"$st\" ($kind): $KEYS entries" "$T/t" \
      && grep -qF "datagen state, 1 item: residue=1 stride=2 next=${next[1]}" "$T/t" \
      && ok "$name: text output" || bad "$name: text output" "$T/t"

    # a flipped byte in the count operator's state file of subtask 0
    file=$(jq -r '.operators[] | select(.uid == "count") | .subtasks[0].file' "$T/j")
    cp -a "$chk" "$T/corrupt"
    [ $inc = true ] && cp -a "$ck/window-count/shared" "$T/shared"
    flip "$T/corrupt/$file"
    "$WEIR" inspect "$T/corrupt" >"$T/o" 2>"$T/e"
    rc=$?
    [ $rc -eq 1 ] && [ "$(wc -l <"$T/e")" -eq 1 ] && grep -q "$file" "$T/e" && grep -q "checksum" "$T/e" \
      && ok "$name: a flipped byte in $file: exit 1, $(cat "$T/e")" \
      || bad "$name: a flipped byte in $file: exit $rc" "$T/e"
    rm -rf "$T/corrupt" "$T/shared"
    if [ $backend-$inc = hashmap-false ]; then
      # a flipped byte in _metadata; a state file missing: damage too (exit 1), not "not a
      # checkpoint" (exit 2)
      cp -a "$chk" "$T/corrupt"
      flip "$T/corrupt/_metadata"
      "$WEIR" inspect "$T/corrupt" >/dev/null 2>"$T/e"
      rc=$?
      [ $rc -eq 1 ] && [ "$(wc -l <"$T/e")" -eq 1 ] && grep -q "_metadata: .*checksum" "$T/e" \
        && ok "$name: a flipped byte in _metadata: exit 1, $(cat "$T/e")" \
        || bad "$name: a flipped byte in _metadata: exit $rc" "$T/e"
      cp -a "$chk/_metadata" "$T/corrupt/_metadata"
      rm "$T/corrupt/$file"
      "$WEIR" inspect "$T/corrupt" >/dev/null 2>"$T/e"
      rc=$?
      [ $rc -eq 1 ] && [ "$(wc -l <"$T/e")" -eq 1 ] && grep -q "$file: No such file" "$T/e" \
        && ok "$name: $file missing: exit 1, $(cat "$T/e")" \
        || bad "$name: $file missing: exit $rc" "$T/e"
      rm -rf "$T/corrupt"
      # -D: the scratch backends' settings
      "$WEIR" inspect -D memory.task.heap.size=64m "$chk" >/dev/null 2>"$T/e" \
        && ok "$name: -D memory.task.heap.size=64m" || bad "$name: -D memory.task.heap.size=64m" "$T/e"
      "$WEIR" inspect -D no.such.key=1 "$chk" >/dev/null 2>"$T/e"
      rc=$?
      [ $rc -eq 2 ] && grep -q "no.such.key" "$T/e" && ok "$name: -D no.such.key=1: exit 2" \
        || bad "$name: -D no.such.key=1: exit $rc" "$T/e"
    fi
    if [ $inc = true ]; then
      # a flipped byte in a shared file (an SST, a heap chain file)
      sh=$(jq -r '.shared | max_by(.bytes) | .name' "$T/j")
      cp -a "$ck" "$T/ckc"
      f="$T/ckc/window-count/shared/$sh"
      flip "$f"
      "$WEIR" inspect "$T/ckc/window-count/chk-$id" >/dev/null 2>"$T/e"
      rc=$?
      [ $rc -eq 1 ] && [ "$(wc -l <"$T/e")" -eq 1 ] && grep -q "shared file $sh: checksum" "$T/e" \
        && ok "$name: a flipped byte in shared file $sh: exit 1" \
        || bad "$name: a flipped byte in shared file $sh: exit $rc" "$T/e"
      rm -rf "$T/ckc"
    fi
  done
done

# the Nexmark source's splits, decoded: q1 at -p 2, killed after a few checkpoints; subtask s
# holds split (s, 2) and the event it emits next, of its residue
ck="$T/ck-nexmark" log="$T/run-nexmark.log"
"$WEIR" run -p 2 -D state.checkpoints.dir="$ck" -D execution.checkpointing.interval=100ms \
  -D metrics.reporter.prom.port=0 -D weir.progress=never -D restart-strategy.type=none \
  q1 --unbounded --rate 4000 >"$log" 2>&1 &
pid=$!
wait_for "$ck/q1/chk-3/_metadata" $pid
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
if [ ! -f "$ck/q1/chk-3/_metadata" ]; then
  bad "nexmark: no third checkpoint" "$log"
elif ! "$WEIR" inspect --json "$ck/q1/chk-3" >"$T/j" 2>"$T/e"; then
  bad "nexmark: inspect --json" "$T/e"
else
  for s in 0 1; do
    jq -e --argjson s $s '.operators[] | select(.uid == "nexmark") | .subtasks[]
        | select(.subtask == $s) | .operator_state_kind == "nexmark"
        and (.operator_state_decoded | length == 1 and .[0].residue == $s and .[0].stride == 2
             and .[0].next_event > $s and .[0].next_event % 2 == $s)' "$T/j" >/dev/null \
      && ok "nexmark: subtask $s decoded: split $s of 2, next event $(jq --argjson s $s '.operators[]
           | select(.uid == "nexmark") | .subtasks[] | select(.subtask == $s)
           | .operator_state_decoded[0].next_event' "$T/j")" \
      || bad "nexmark: subtask $s decoded" "$T/j"
  done
fi

# not a checkpoint: a directory without _metadata, a path that does not exist
mkdir -p "$T/empty"
for p in "$T/empty" "$T/nothing-here"; do
  "$WEIR" inspect "$p" >/dev/null 2>"$T/e"
  rc=$?
  [ $rc -eq 2 ] && [ "$(wc -l <"$T/e")" -eq 1 ] && grep -q "$p" "$T/e" \
    && ok "not a checkpoint ($p): exit 2, $(cat "$T/e")" || bad "not a checkpoint ($p): exit $rc" "$T/e"
done
"$WEIR" inspect >/dev/null 2>&1
[ $? -eq 2 ] && ok "no PATH: exit 2" || bad "no PATH: not exit 2"

echo "# $passes passed, $fails failed"
[ $fails -eq 0 ]
