#!/usr/bin/env bash
# Nexmark q18 q19 q20 q21 q22 killed with SIGKILL at random moments and at the crash points,
# restored from the latest checkpoint and from an explicit chk-N into another checkpoint
# directory: the committed output equals a run without failures (kill_restore.sh says how).
# The queries are split over test_kill_restore_{1,2,3}.sh so that ctest -j runs them at once.
set -u
: "${WEIR:?}"
: "${WEIR_SRC:?}"
. "$WEIR_SRC/tests/support/tap.sh" nexmark-kill-restore-3
. "$WEIR_SRC/tests/nexmark_queries/kill_restore.sh"

for q in q18 q19 q20 q21 q22; do kill_restore_query $q; done

echo "$passes passed, $fails failed"
[ $fails -eq 0 ]
