#!/usr/bin/env bash
# The layout's two size limits, checked on the tree (issue 8): no engine source file
# (core/, io/, numa/) of 800 lines or more, and no function over 120 lines outside tests/.
# A function is what clang-format writes for one: a line ending in ')' and a '{' alone at
# column 0 on the next, closed by the next '}' at column 0.
# Prints each offender and exits 1 if there is one.
set -euo pipefail
cd "${1:-$(dirname "$0")/..}"
fail=0
while read -r n f; do
    [ "$f" = total ] && continue
    if [ "$n" -ge 800 ]; then
        echo "file too long: $f: $n lines (limit 799)"
        fail=1
    fi
done < <(git ls-files 'core/*.c' 'core/*.h' 'io/*.c' 'io/*.h' 'numa/*.c' 'numa/*.h' | xargs -r wc -l)

long=$(git ls-files '*.c' '*.cc' | grep -v '^tests/' | xargs -r awk '
    FNR == 1 { name = ""; start = 0 }
    /\)[ \t]*$/ { cand = $0; candline = FNR; next }
    /^\{[ \t]*$/ && candline == FNR - 1 { name = cand; start = FNR; next }
    /^\}/ && start {
        if (FNR - start - 1 > 120)
            printf "function too long: %s:%d: %d lines: %s\n", FILENAME, start - 1, FNR - start - 1, name
        start = 0
    }')
if [ -n "$long" ]; then
    echo "$long"
    fail=1
fi
exit $fail
