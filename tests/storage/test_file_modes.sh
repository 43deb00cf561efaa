#!/usr/bin/env bash
# Checkpoint and savepoint files and directories have the modes that
# state.checkpoints.file-mode and state.checkpoints.directory-mode say (0600 and 0700 by
# default), whatever the umask, RocksDB's SSTs in shared/ included (they kept RocksDB's 0644);
# modes that let the group or others write are refused (a directory they can write is refused
# by the next run anyway, privdir.h).
set -u
: "${WEIR:?}"
: "${WEIR_SRC:?}"
. "$WEIR_SRC/tests/support/tap.sh" file-modes
Q=(-D metrics.reporter.prom.port=0)

# wait_for FILE PATTERN: up to 30 s until FILE has a line matching PATTERN.
wait_for() {
  for _ in $(seq 300); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  return 1
}

# run_with_savepoint DIR [-D ...]: an unbounded RocksDB incremental job with checkpoints in
# DIR/chk; once shared/ holds an SST, a savepoint into DIR/sp; then a stop. rc = its exit.
run_with_savepoint() {
  local d=$1; shift
  "$WEIR" run "${Q[@]}" -D state.backend=rocksdb -D state.backend.incremental=true \
    -D execution.checkpointing.interval=100ms -D execution.checkpointing.num-retained=2 \
    -D state.checkpoints.dir="$d/chk" -D execution.checkpointing.savepoint-dir="$d/sp" \
    -D state.backend.rocksdb.localdir="$d/rdb" "$@" \
    window-count --unbounded --rate 50000 --keys 1000 "$d/out" 2>"$d/e" &
  local pid=$! sst=""
  for _ in $(seq 300); do
    sst=$(find "$d/chk/window-count/shared" -name '*.sst' 2>/dev/null | head -1)
    [ -n "$sst" ] && break
    sleep 0.1
  done
  kill -USR1 $pid
  wait_for "$d/e" 'savepoint [0-9]* complete'
  kill -TERM $pid
  wait $pid
  rc=$?
  [ -n "$sst" ] || echo "no SST reached shared/" >>"$d/e"
}

# modes_are DIR FILE_MODE DIR_MODE PATHS...: every file and directory found under PATHS has
# its mode; the offenders go to DIR/wrong.
modes_are() {
  local d=$1 fm=$2 dm=$3; shift 3
  find "$@" \( -type f ! -perm "$fm" -o -type d ! -perm "$dm" \) -printf '%m %p\n' >"$d/wrong"
  [ ! -s "$d/wrong" ] && [ "$(find "$@" -name '*.sst' | wc -l)" -gt 0 ] &&
    [ "$(find "$@" -name _metadata | wc -l)" -gt 1 ]
}

mkdir -p "$T/a"
( umask 022; run_with_savepoint "$T/a"; exit $rc ); rc=$?
if [ $rc -eq 0 ] && modes_are "$T/a" 600 700 "$T/a/chk/window-count" "$T/a/sp"; then
  ok "by default checkpoint and savepoint files are 0600 and directories 0700, SSTs too"
else
  bad "default modes (rc=$rc): $(head -5 "$T/a/wrong" 2>/dev/null | tr '\n' ' ')" "$T/a/e"
fi

mkdir -p "$T/b"
( umask 077; run_with_savepoint "$T/b" -D state.checkpoints.file-mode=0640 \
    -D state.checkpoints.directory-mode=0750; exit $rc ); rc=$?
if [ $rc -eq 0 ] && modes_are "$T/b" 640 750 "$T/b/chk/window-count" "$T/b/sp"; then
  ok "file-mode 0640 and directory-mode 0750 are the modes on disk, under umask 077 too"
else
  bad "configured modes (rc=$rc): $(head -5 "$T/b/wrong" 2>/dev/null | tr '\n' ' ')" "$T/b/e"
fi

# refused KEY VALUE: exit 2 before running, one line naming the key and the value.
refused() {
  "$WEIR" run "${Q[@]}" -D state.checkpoints.dir="$T/r" -D "$1=$2" \
    window-count --records 10 "$T/r-out" >"$T/o" 2>"$T/e"
  local rc=$?
  if [ $rc -eq 2 ] && [ "$(wc -l <"$T/e")" -eq 1 ] && grep -qF "$1" "$T/e" &&
     grep -qF "$2" "$T/e" && [ ! -e "$T/r-out" ]; then
    ok "$1=$2 is refused: $(cat "$T/e")"
  else
    bad "$1=$2 is refused (rc=$rc)" "$T/e"
  fi
}
refused state.checkpoints.file-mode 0666
refused state.checkpoints.file-mode 0602
refused state.checkpoints.file-mode 0660
refused state.checkpoints.file-mode 0400
refused state.checkpoints.file-mode rw-r--r--
refused state.checkpoints.file-mode 04600
refused state.checkpoints.directory-mode 0777
refused state.checkpoints.directory-mode 0770
refused state.checkpoints.directory-mode 0703
refused state.checkpoints.directory-mode 0600

echo "$passes passed, $fails failed"
[ $fails -eq 0 ]
