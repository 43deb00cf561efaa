#!/usr/bin/env bash
# bench_checkpoint's flags (issue 10): --state-mb sets the heap state; a size whose memory
# (twice the state its keys take, 430 bytes a key at most, plus 1 GiB) is more than
# MemAvailable is refused with one line naming the flag and the value, before anything runs;
# 1024 and 4096 are accepted where memory allows.
set -u
: "${WEIR_BUILD:?}" "${WEIR_SRC:?}"
. "$WEIR_SRC/tests/support/tap.sh" bench-checkpoint-flags
B="$WEIR_BUILD/bench/bench_checkpoint"
[ -x "$B" ] || { echo "skip: no $B (WEIR_BENCH=OFF)"; exit 77; }
avail=$(awk '/^MemAvailable:/ {print int($2 / 1024)}' /proc/meminfo)

"$B" --state-mb 100000000 >"$T/big.out" 2>"$T/big.err"; rc=$?
if [ $rc -eq 2 ] && [ "$(wc -l <"$T/big.err")" -eq 1 ] \
   && grep -q -- '^bench_checkpoint: --state-mb 100000000 needs about .* MiB .*MemAvailable.*lower --state-mb$' "$T/big.err" \
   && [ ! -s "$T/big.out" ]; then
  ok "a --state-mb above the memory available is refused in one line naming the flag"
else bad "--state-mb 100000000 (rc=$rc)" "$T/big.err"; fi

"$B" --state-mb lots >"$T/bad.out" 2>"$T/bad.err"; rc=$?
if [ $rc -eq 2 ] && grep -q -- '^bench_checkpoint: --state-mb: lots: not a positive number$' "$T/bad.err"; then
  ok "a --state-mb that is not a number is refused naming the flag and the value"
else bad "--state-mb lots (rc=$rc)" "$T/bad.err"; fi

for mb in 1024 4096; do
  # bench_checkpoint.cc's needed_mb: mb x 8192 keys of 430 bytes, twice, plus 1 GiB
  need=$(((mb * 8192 * 430 + 1048575) / 1048576 * 2 + 1024))
  if [ "$avail" -lt $need ]; then
    echo "# --state-mb $mb: needs $need MiB, $avail MiB available, not enough here"
    continue
  fi
  "$B" --state-mb $mb --benchmark_list_tests >"$T/l.out" 2>"$T/l.err"; rc=$?
  if [ $rc -eq 0 ] && grep -q BM_CheckpointOverhead "$T/l.out"; then
    ok "--state-mb $mb is accepted ($avail MiB available)"
  else bad "--state-mb $mb (rc=$rc)" "$T/l.err"; fi
done

echo "$passes passed, $fails failed"
[ $fails -eq 0 ]
