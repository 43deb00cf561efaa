#!/usr/bin/env bash
# Makes the seeds of tests/fuzz/corpus/ that come from real runs, and writes them there:
#   metadata/  the _metadata of a checkpoint and of a savepoint
#   state/     every state file of that checkpoint (keyed state, timers, operator state)
#   config/    weir.example.yaml and `weir config`'s output (the other config seeds, nested
#              keys, Flink aliases, anchors, flow style, are written by hand)
# Runs: window-count at -p 2 (windowed keyed state, event-time timers, exactly-once file
# sink) with a savepoint in the middle, Nexmark q9 (a join in keyed state with timers), and
# window-count on RocksDB with incremental checkpoints (state files that list RocksDB's own
# files and shared SSTs: state/rocks-incremental-*).
#   tests/fuzz/make-seeds.sh [build/tools/weir]
# The line-source seeds (corpus/file_source/) are written by hand and left alone.
set -euo pipefail
SRC="$(cd "$(dirname "$0")/../.." && pwd)"
WEIR="${1:-${WEIR:-$SRC/build/tools/weir}}"
CORPUS="$SRC/tests/fuzz/corpus"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# Runs weir run ARGS for about SECS seconds with 200 ms checkpoints, a savepoint after half
# of them when SAVEPOINT=1, then stops it (SIGTERM: a clean stop keeps the last checkpoint).
run_for() {
  local secs=$1 name=$2
  shift 2
  "$WEIR" run -D execution.checkpointing.interval=200ms -D state.checkpoints.dir="${CK:-$tmp/ck}" \
    -D state.savepoints.dir="$tmp/sp" -D metrics.reporter.prom.port=0 "$@" \
    >"$tmp/$name.log" 2>&1 &
  local pid=$!
  sleep "$secs"
  [ "${SAVEPOINT:-0}" = 1 ] && kill -USR1 $pid && sleep "$secs"
  kill -TERM $pid
  wait $pid || { cat "$tmp/$name.log" >&2; exit 1; }
}

SAVEPOINT=1 run_for 1.5 wc -p 2 window-count --unbounded --rate 200 --keys 4 --window-ms 500 \
  "$tmp/out-wc"
run_for 2 q9 -p 1 q9 --unbounded --rate 300 "$tmp/out-q9"
CK="$tmp/ck-rocks" run_for 1.5 rocks -p 1 -D state.backend=rocksdb -D state.backend.incremental=true \
  -D state.backend.rocksdb.localdir="$tmp/rocksdb" window-count --unbounded --rate 200 --keys 4 \
  --window-ms 500 "$tmp/out-rocks"

mkdir -p "$CORPUS/metadata" "$CORPUS/state" "$CORPUS/config"
rm -f "$CORPUS"/metadata/* "$CORPUS"/state/*
latest() { ls -d "$tmp/ck/$1"/chk-* | sort -t- -k2 -n | tail -1; }
for job in window-count q9; do
  chk="$(latest $job)"
  cp "$chk/_metadata" "$CORPUS/metadata/checkpoint-$job"
  for f in "$chk"/*; do
    [ "$(basename "$f")" = _metadata ] || cp "$f" "$CORPUS/state/$job-$(basename "$f")"
  done
done
cp "$tmp"/sp/savepoint-*/_metadata "$CORPUS/metadata/savepoint-window-count"
chk="$(ls -d "$tmp/ck-rocks/window-count"/chk-* | sort -t- -k2 -n | tail -1)"
cp "$chk/_metadata" "$CORPUS/metadata/checkpoint-rocks-incremental"
cp "$chk/count-0" "$CORPUS/state/rocks-incremental-count-0"

cp "$SRC/weir.example.yaml" "$CORPUS/config/weir.example.yaml"
"$WEIR" config | sed '/^memory pools/,$d' >"$CORPUS/config/weir-config-output.yaml"
chmod 644 "$CORPUS"/*/*
du -sh "$CORPUS"
