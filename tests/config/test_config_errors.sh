#!/usr/bin/env bash
# Configuration errors as a person meets them on the command line: one line that says what is
# wrong, and exit status 2 from weir config, weir run and weir bench nexmark alike.
set -u
: "${WEIR:?}"
: "${WEIR_SRC:?}"
. "$WEIR_SRC/tests/support/tap.sh" config-errors
Q=(-D metrics.reporter.prom.port=0 -D weir.progress=never)

# Each command line must exit 2 with exactly one line on stderr that matches the pattern.
refused() {
  local what="$1" pattern="$2"
  shift 2
  "$WEIR" "$@" >"$T/o" 2>"$T/e"
  local rc=$?
  if [ $rc -eq 2 ] && [ "$(wc -l <"$T/e")" -eq 1 ] && grep -Eq -- "$pattern" "$T/e"; then
    ok "$what"
  else
    bad "$what (rc=$rc)" "$T/e"
  fi
}

P='^weir: -D noequals: expected key=value'
refused "weir config -D without = says what is missing" "$P" config -D noequals
refused "weir run -D without = says what is missing" "$P" run "${Q[@]}" -D noequals pipeline
refused "weir bench -D without = says what is missing" "$P" \
  bench nexmark --query q1 --events 10 -D noequals
refused "-Dnoequals (attached) says what is missing" "$P" config -Dnoequals

P='execution.checkpointing.interval: "18446744073710ms": too long; the largest duration is 36500 d'
refused "weir config: a duration that overflows" "$P" \
  config -D execution.checkpointing.interval=18446744073710ms
refused "weir bench: a duration that overflows" "$P" \
  bench nexmark --query q1 --events 10 -D execution.checkpointing.interval=18446744073710ms

P='unknown key "foo"'
printf 'foo: {}\n' >"$T/foo.yaml"
refused "weir config -c: an unknown key" "$P" config -c "$T/foo.yaml"
refused "weir run -c: an unknown key" "$P" run "${Q[@]}" -c "$T/foo.yaml" pipeline
refused "weir bench -c: an unknown key" "$P" bench nexmark --query q1 --events 10 -c "$T/foo.yaml"

{
  echo 'l0: &l0 {}'
  for lv in 1 2 3 4 5 6 7 8 9; do
    printf 'l%d: &l%d {' $lv $lv
    for i in 0 1 2 3 4 5 6 7 8 9; do printf '%s%d: *l%d' "$([ $i -gt 0 ] && echo ', ')" $i $((lv - 1)); done
    echo '}'
  done
} >"$T/bomb.yaml"
refused "weir config -c: an alias bomb, at once" "after expanding aliases" config -c "$T/bomb.yaml"

refused "weir config -c: a missing file" "/nonexistent.yaml: No such file or directory" \
  config -c /nonexistent.yaml
refused "weir bench: a missing file" "/nonexistent.yaml: No such file or directory" \
  bench nexmark --query q1 --events 10 -c /nonexistent.yaml

echo "$passes passed, $fails failed"
[ $fails -eq 0 ]
