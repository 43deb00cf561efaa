#!/usr/bin/env bash
# A source subtask that finished before the savepoint, restored at the same and at another
# parallelism: with source subtask 0 four times as fast as its share, it has read all its
# events when the first stop with a savepoint is taken (1 s into a run of 3 s): it owns no live split then.
# The splits are dealt again on restore (op_state.c) and may land on subtask 0: a restored
# subtask must run what it was dealt, not finish because the old subtask 0 had finished. q1
# (source to sink in one chain) and q5 (keyed windows), -p 2 -> 2 and -p 2 -> 3 -> 1, on the
# hashmap backend (rescale.sh says how the output is compared).
set -u
: "${WEIR:?}"
: "${WEIR_SRC:?}"
. "$WEIR_SRC/tests/support/tap.sh" nexmark-rescale-finished
. "$WEIR_SRC/tests/nexmark_queries/rescale.sh"

export WEIR_TEST_NEXMARK_FAST_SUBTASK=0:4
RESCALE_DELAYS="1 0.15" # the first savepoint once subtask 0 finished
for q in q1 q5; do
  RESCALE_PS="2" RESCALE_LAST=2 rescale_query "$q"
  RESCALE_PS="2 3" RESCALE_LAST=1 rescale_query "$q"
done

echo "$passes passed, $fails failed"
[ $fails -eq 0 ]
