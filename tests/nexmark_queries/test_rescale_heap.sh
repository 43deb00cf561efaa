#!/usr/bin/env bash
# Rescale on the hashmap backend: every Nexmark query with output at -p 2, stopped with a
# savepoint, resumed at -p 3, stopped with a savepoint, resumed at -p 1 commits what a run
# without interruption does (rescale.sh says how). q1 (the most part files) and q7 (local
# windows) also with kill -9 after each savepoint: what a run wrote after its savepoint, at a
# parallelism the next run does not have, must not be committed nor left behind.
set -u
: "${WEIR:?}"
: "${WEIR_SRC:?}"
. "$WEIR_SRC/tests/support/tap.sh" nexmark-rescale-heap
. "$WEIR_SRC/tests/nexmark_queries/rescale.sh"

for q in $RESCALE_QUERIES; do rescale_query "$q" -D state.backend=hashmap; done
for q in q1 q7; do RESCALE_STOP=kill rescale_query "$q" -D state.backend=hashmap; done

echo "$passes passed, $fails failed"
[ $fails -eq 0 ]
