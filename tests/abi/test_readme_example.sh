#!/usr/bin/env bash
# The README's job example is tests/cli/job_upper.c, the file the tests build and run: the
# ```c block between the README's begin/end markers equals the file line for line.
set -u
: "${WEIR_SRC:?}"
T="${WEIR_TEST_TMP:-/tmp}/readme.$$"
mkdir -p "$T"
trap 'rm -rf "$T"' EXIT
awk '/^<!-- end tests\/cli\/job_upper.c -->/ {on = 0}
     on && !/^```/ {print}
     /^<!-- begin tests\/cli\/job_upper.c -->/ {on = 1}' "$WEIR_SRC/README.md" >"$T/example.c"
if [ -s "$T/example.c" ] && diff -u "$WEIR_SRC/tests/cli/job_upper.c" "$T/example.c" >"$T/diff"; then
  echo "ok - README's job example is tests/cli/job_upper.c"
else
  echo "not ok - README's job example is tests/cli/job_upper.c"; sed 's/^/    /' "$T/diff"; exit 1
fi
