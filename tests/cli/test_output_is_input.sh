#!/usr/bin/env bash
# A job whose output is its own input is refused before it runs: weir run copy X X used to
# empty X (the sink truncates what the source is about to read) and report success.
set -u
: "${WEIR:?}"
: "${WEIR_SRC:?}"
. "$WEIR_SRC/tests/support/tap.sh" out-is-in
Q=(-D metrics.reporter.prom.port=0)
printf 'alpha beta\ngamma\n' >"$T/ref"

# refused: exit 2, the input untouched, one line naming INPUT and OUTPUT
refused() { # name, input file, then weir run arguments
  local name=$1 in=$2; shift 2
  cp "$T/ref" "$in"
  "$WEIR" run "${Q[@]}" "$@" >"$T/o" 2>"$T/e"; local rc=$?
  if [ $rc -eq 2 ] && cmp -s "$T/ref" "$in" && [ "$(wc -l <"$T/e")" -eq 1 ] \
     && grep -q 'INPUT' "$T/e" && grep -q 'OUTPUT' "$T/e"; then
    ok "$name"; else bad "$name (rc=$rc)" "$T/e"; fi
}

refused "copy X X is refused" "$T/x" copy "$T/x" "$T/x"
refused "copy X ./X (another spelling) is refused" "$T/x" copy "$T/x" "$T/./x"
ln -s x "$T/link"
refused "copy X LINK-TO-X is refused" "$T/x" copy "$T/x" "$T/link"
ln "$T/x" "$T/hard"
refused "copy X HARDLINK-OF-X is refused" "$T/x" copy "$T/x" "$T/hard"
refused "split-words X X is refused" "$T/x" split-words "$T/x" "$T/x"
mkdir -p "$T/dir"
refused "copy DIR/part-0 DIR at -p 2 (input in the output directory) is refused" \
  "$T/dir/part-0" -p 2 copy "$T/dir/part-0" "$T/dir"

# and a distinct output still works
"$WEIR" run "${Q[@]}" copy "$T/x" "$T/y" >"$T/o" 2>"$T/e"; rc=$?
if [ $rc -eq 0 ] && cmp -s "$T/x" "$T/y"; then ok "copy X Y copies"; else bad "copy X Y (rc=$rc)" "$T/e"; fi

echo "$passes passed, $fails failed"
[ $fails -eq 0 ]
