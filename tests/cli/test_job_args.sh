#!/usr/bin/env bash
# A built-in job given a bad argument says which one, in one line, and exits 2:
# `window-count --window-ms 0` used to print only "weir_job_main returned -22".
set -u
: "${WEIR:?}"
: "${WEIR_SRC:?}"
. "$WEIR_SRC/tests/support/tap.sh" job-args
Q=(-D metrics.reporter.prom.port=0 -D weir.progress=never)

says() { # NAME TEXT JOB ARGS...: exit 2, one line holding TEXT, no "returned -22"
  local name=$1 text=$2; shift 2
  timeout 10 "$WEIR" run "${Q[@]}" "$@" >"$T/o" 2>"$T/e"; local rc=$?
  if [ $rc -eq 2 ] && [ "$(wc -l <"$T/e")" -eq 1 ] && grep -q -F -e "$text" "$T/e" \
     && ! grep -q 'returned' "$T/e"; then
    ok "$name"; else bad "$name (rc=$rc)" "$T/e"; fi
}

says "window-count --window-ms 0 names the flag and the rule" \
  "window-count: --window-ms 0: must be > 0" window-count --records 1000 --window-ms 0 "$T/w0"
says "window-count --window-ms 1.5 names the flag" \
  'window-count: --window-ms: "1.5"' window-count --records 1000 --window-ms 1.5 "$T/w1"
says "window-count --window-ms without a value says so" \
  "window-count: --window-ms needs a value" window-count --records 1000 "$T/w2" --window-ms
says "window-count without OUTPUT_DIR says what is missing" \
  "window-count: expected one OUTPUT directory" window-count --records 1000
says "copy with one path says what is missing" "copy: expected INPUT and OUTPUT" copy "$T/x"
says "an unknown job option is named" 'generate: unknown option "--bogus"' generate --bogus "$T/g"
[ ! -e "$T/w0" ] && ok "a refused job writes nothing" || bad "a refused job created its output"

echo "$passes passed, $fails failed"
[ $fails -eq 0 ]
