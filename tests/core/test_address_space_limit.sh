#!/usr/bin/env bash
# Under an address-space limit (ulimit -v, RLIMIT_AS) a job either runs or refuses to start
# with one line that says why: never a signal, never "could not start worker thread 1" with
# no reason. It used to segfault in thread start (jemalloc <- hwloc_bitmap_alloc <-
# weir_topo_bind_thread) once the limit was about what the workers' stacks and arenas map.
set -u
: "${WEIR:?}"
: "${WEIR_SRC:?}"
: "${WEIR_BUILD:?}"
# AddressSanitizer reserves terabytes of shadow memory: no address-space limit fits it.
if grep -q '^WEIR_SANITIZE:BOOL=ON' "$WEIR_BUILD/CMakeCache.txt" 2>/dev/null; then
  echo "skip: a sanitizer build cannot run under ulimit -v"
  exit 77
fi
. "$WEIR_SRC/tests/support/tap.sh" as-limit
Q=(-D metrics.reporter.prom.port=0)
# The reason a failing run gives: the limit itself, or what the system call said.
REASON='RLIMIT_AS|Cannot allocate memory|Resource temporarily unavailable|out of memory'

# run NAME KB ARGS...: weir under ulimit -v KB; sets rc, and $T/e holds its stderr.
run() {
  local kb=$1; shift
  rm -rf "$T/out"
  ( ulimit -v "$kb" && exec timeout 120 "$WEIR" "$@" ) >"$T/o" 2>"$T/e"
  rc=$?
}

# One rung of the ladder: exit 0, or exit 1 or 2 with a last line "weir: ..." that gives a
# reason; a refusal before the job starts (exit 2) names RLIMIT_AS and the keys to lower.
rung() {
  local name=$1 kb=$2; shift 2
  run "$kb" "$@"
  local last
  last=$(tail -1 "$T/e")
  if [ $rc -eq 0 ]; then
    ok "$name, ulimit -v $kb: runs"
  elif [ $rc -ge 128 ] || [ $rc -eq 124 ]; then
    bad "$name, ulimit -v $kb: ended by signal $((rc - 128)) (rc=$rc)" "$T/e"
  elif [ $rc -ne 1 ] && [ $rc -ne 2 ]; then
    bad "$name, ulimit -v $kb: exit $rc" "$T/e"
  elif [[ $last != weir:* ]] || ! grep -Eq "$REASON" <<<"$last"; then
    bad "$name, ulimit -v $kb: exit $rc without a reason: $last" "$T/e"
  else
    ok "$name, ulimit -v $kb: exit $rc: ${last:0:100}"
  fi
}

for kb in 50000 70000 100000 150000 200000 400000 800000 1600000 4000000; do
  rung "window-count -p 4" $kb run "${Q[@]}" -p 4 window-count --records 20000 "$T/out"
  rung "nexmark q12 -p 4" $kb bench nexmark --query q12 --events 20000 -p 4 "${Q[@]}"
done

# The refusal is a configuration error that names the sum, the limit and the keys.
run 200000 run "${Q[@]}" -p 4 window-count --records 20000 "$T/out"
if [ $rc -eq 2 ] && [ "$(grep -c . "$T/e")" -ge 1 ] && tail -1 "$T/e" | grep -q 'RLIMIT_AS' &&
   tail -1 "$T/e" | grep -q 'memory.process.size' && tail -1 "$T/e" | grep -q 'ulimit -v'; then
  ok "a limit below memory.process.size is refused with exit 2, naming the key and the limit"
else
  bad "a limit below memory.process.size is refused (rc=$rc)" "$T/e"
fi

# A job whose pools fit the limit runs: the check is not a refusal of every limit.
run 1000000 run "${Q[@]}" -p 4 -D memory.process.size=700m window-count --records 20000 "$T/out"
if [ $rc -eq 0 ]; then ok "memory.process.size 700m runs under ulimit -v 1000000"
else bad "memory.process.size 700m under ulimit -v 1000000 (rc=$rc)" "$T/e"; fi

echo "$passes passed, $fails failed"
[ $fails -eq 0 ]
