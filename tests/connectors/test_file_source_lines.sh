#!/usr/bin/env bash
# The file source's longest line is the longest record, memory.segment-size minus 16 bytes,
# as the README says: it used to stop at 1 MiB whatever the segment size. A longer line
# fails the job with one line naming the file, the line number and the key.
set -u
: "${WEIR:?}"
: "${WEIR_SRC:?}"
. "$WEIR_SRC/tests/support/tap.sh" file-lines
Q=(-D metrics.reporter.prom.port=0 -D weir.progress=never)
long() { head -c "$1" /dev/zero | tr '\0' x; echo; }

# a 2 MiB line with 4 MiB segments is one record
{ echo first; long 2097152; echo last; } >"$T/big.txt"
"$WEIR" run "${Q[@]}" -D memory.segment-size=4mb copy "$T/big.txt" "$T/big.out" >"$T/o" 2>"$T/e"; rc=$?
if [ $rc -eq 0 ] && cmp -s "$T/big.txt" "$T/big.out"; then
  ok "a 2 MiB line passes with memory.segment-size 4mb"; else bad "2 MiB line (rc=$rc)" "$T/e"; fi

# the largest record exactly (32 KiB - 16) passes at the default segment size; one byte more fails
{ echo a; long 32752; echo b; } >"$T/edge.txt"
"$WEIR" run "${Q[@]}" copy "$T/edge.txt" "$T/edge.out" >"$T/o" 2>"$T/e"; rc=$?
if [ $rc -eq 0 ] && cmp -s "$T/edge.txt" "$T/edge.out"; then
  ok "a line of segment size - 16 bytes passes"; else bad "line of 32752 bytes (rc=$rc)" "$T/e"; fi

# too long: one line with FILE:LINE and the key, at -p 1 and with the line in subtask 2's half
for p in 1 2; do
  # 38,893 bytes of short lines, then the long one: past the middle, so subtask 2's at -p 2
  { for i in $(seq 1 4000); do echo "line $i"; done; long 32753; echo end; } >"$T/over.txt"
  "$WEIR" run "${Q[@]}" -p $p copy "$T/over.txt" "$T/over$p.out" >"$T/o" 2>"$T/e"; rc=$?
  line=$(grep -F "$T/over.txt:4001:" "$T/e")
  if [ $rc -ne 0 ] && [ "$(echo "$line" | grep -c 'memory.segment-size')" -eq 1 ] \
     && [ "$(grep -c 'segment-size' "$T/e")" -eq 1 ]; then
    ok "-p $p: a line over the largest record names file, line number and key"
  else bad "-p $p: too long a line (rc=$rc)" "$T/e"; fi
done

# a line over 1 MiB with the default segment size says the same, not "longer than 1048576"
{ echo a; long 1100000; } >"$T/mib.txt"
"$WEIR" run "${Q[@]}" copy "$T/mib.txt" "$T/mib.out" >"$T/o" 2>"$T/e"; rc=$?
if [ $rc -ne 0 ] && grep -F "$T/mib.txt:2:" "$T/e" | grep -q 'memory.segment-size'; then
  ok "a line over 1 MiB names the key too"; else bad "line over 1 MiB (rc=$rc)" "$T/e"; fi

echo "$passes passed, $fails failed"
[ $fails -eq 0 ]
