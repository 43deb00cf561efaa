#!/usr/bin/env bash
# Runs weir's libFuzzer targets (tests/fuzz/fuzz_<target>.c) from a clang build of their own.
#
#   tools/fuzz.sh                      every target, 20 s each (FUZZ_SECONDS)
#   tools/fuzz.sh metadata 3600        one target for an hour
#   tools/fuzz.sh all 600              every target, 10 min each
#   tools/fuzz.sh --scratch all 20     what `make test-fuzz` runs: new corpus entries are
#                                      thrown away afterwards
#   tools/fuzz.sh --list               the targets
#
# Each target starts from its seeds in tests/fuzz/corpus/<target>/ and the inputs in
# tests/fuzz/regressions/<target>/, which it only reads, with tests/fuzz/<target>.dict as its
# dictionary where there is one. What it adds to the corpus goes to
# $WEIR_FUZZ_DIR/<target>/corpus (default ~/.cache/weir-fuzz), outside the repository, and is
# read again by the next run; findings (crash-*, leak-*, timeout-*, oom-*) go to
# $WEIR_FUZZ_DIR/<target>/findings and are printed with the command that reproduces each.
# Exit status: 0 when every target ran clean, 1 when one found something or failed to run.
set -euo pipefail

SRC="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="${BUILD_FUZZ:-$SRC/build-fuzz}"
JOBS="${JOBS:-$(nproc)}"
scratch=0
if [ "${1:-}" = "--scratch" ]; then scratch=1; shift; fi

targets() { (cd "$SRC/tests/fuzz" && ls fuzz_*.c | sed 's/^fuzz_//; s/\.c$//'); }

if [ "${1:-}" = "--list" ]; then targets; exit 0; fi
what="${1:-all}"
secs="${2:-${FUZZ_SECONDS:-20}}"
case "$secs" in ''|*[!0-9]*) echo "fuzz.sh: seconds: '$secs' is not a whole number" >&2; exit 2;; esac
if [ "$what" = all ]; then
  list=$(targets)
elif [ -f "$SRC/tests/fuzz/fuzz_$what.c" ]; then
  list=$what
else
  echo "fuzz.sh: no target '$what'; the targets: $(targets | tr '\n' ' ')" >&2
  exit 2
fi

command -v clang >/dev/null || {
  echo "fuzz.sh: clang is missing: run tools/install-deps.sh (clang, libclang-rt-14-dev)" >&2
  exit 1
}
CC=clang CXX=clang++ cmake -S "$SRC" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DWEIR_FUZZ=ON -DWEIR_BENCH=OFF >/dev/null
cmake --build "$BUILD" -j "$JOBS" --target fuzzers >/dev/null

if [ $scratch = 1 ]; then
  work="$(mktemp -d "${TMPDIR:-/tmp}/weir-fuzz.XXXXXX")"
else
  work="${WEIR_FUZZ_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/weir-fuzz}"
fi
export TMPDIR="$work/tmp"
mkdir -p "$TMPDIR"

failed=0
for t in $list; do
  bin="$BUILD/tests/fuzz/fuzz_$t"
  corpus="$work/$t/corpus" findings="$work/$t/findings"
  mkdir -p "$corpus" "$findings"
  seeds=()
  for d in corpus regressions; do
    [ -d "$SRC/tests/fuzz/$d/$t" ] && seeds+=("$SRC/tests/fuzz/$d/$t")
  done
  dict=()
  [ -f "$SRC/tests/fuzz/$t.dict" ] && dict=(-dict="$SRC/tests/fuzz/$t.dict")
  log="$work/$t/fuzz.log"
  echo "fuzz_$t: ${secs}s, corpus $corpus" >&2
  stamp="$work/$t/.started"
  touch "$stamp"
  rc=0
  # Findings must be reproducible: no -fork, one process; a leak, a timeout (10 s one input)
  # or a memory blow-up (2 GB) is a finding too.
  "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
    -print_final_stats=1 -artifact_prefix="$findings/" "${dict[@]}" "$corpus" "${seeds[@]}" \
    >"$log" 2>&1 || rc=$?
  grep -E '^#[0-9]+[[:space:]]+(DONE|INITED)' "$log" | tail -2 | sed "s/^/  /" >&2 || true
  grep -E '^stat::number_of_executed_units' "$log" | sed "s/^/  /" >&2 || true
  found=$(find "$findings" -type f -newer "$stamp")
  if [ $rc -ne 0 ] || [ -n "$found" ]; then
    failed=1
    echo "fuzz_$t FAILED (exit $rc); the end of $log:" >&2
    tail -40 "$log" >&2
    for f in $found; do
      echo "finding: $f" >&2
      echo "  reproduce: $bin $f" >&2
      echo "  keep as a regression: cp $f $SRC/tests/fuzz/regressions/$t/" >&2
    done
  fi
done
if [ $scratch = 1 ]; then
  if [ $failed = 0 ]; then rm -rf "$work"; else echo "fuzz.sh: kept $work" >&2; fi
fi
exit $failed
