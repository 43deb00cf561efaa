#!/usr/bin/env bash
# The house rules of issue 8, on the whole tree: no engine source file (core/, io/, numa/)
# of 800 lines or more, and no function over 120 lines outside tests/
# (tools/check-layout.sh prints each offender). Skips outside a git checkout.
set -euo pipefail
src=${WEIR_SRC:?}
if ! git -C "$src" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    echo "skip: $src is not a git checkout"
    exit 77
fi
"$src/tools/check-layout.sh" "$src"
echo "ok - every engine file under 800 lines, every function outside tests/ within 120 lines"
