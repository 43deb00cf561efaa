#!/usr/bin/env bash
# Nexmark q0 q1 q2 q3 q4 q5 killed with SIGKILL at random moments and at the crash points,
# restored from the latest checkpoint and from an explicit chk-N into another checkpoint
# directory: the committed output equals a run without failures (kill_restore.sh says how).
# The queries are split over test_kill_restore_{1,2,3}.sh so that ctest -j runs them at once.
set -u
: "${WEIR:?}"
: "${WEIR_SRC:?}"
. "$WEIR_SRC/tests/support/tap.sh" nexmark-kill-restore-1
. "$WEIR_SRC/tests/nexmark_queries/kill_restore.sh"

for q in q0 q1 q2 q3 q4 q5; do kill_restore_query $q; done

echo "$passes passed, $fails failed"
[ $fails -eq 0 ]
