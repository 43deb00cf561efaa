#!/usr/bin/env bash
# Nexmark q7 q8 q9 q11 q14 q17 killed with SIGKILL at random moments and at the crash points,
# restored from the latest checkpoint and from an explicit chk-N into another checkpoint
# directory: the committed output equals a run without failures (kill_restore.sh says how).
# The queries are split over test_kill_restore_{1,2,3}.sh so that ctest -j runs them at once.
# These run on RocksDB with incremental checkpoints: a restore into another directory must
# not leave the new directory's checkpoints leaning on the old one's shared files.
set -u
: "${WEIR:?}"
: "${WEIR_SRC:?}"
. "$WEIR_SRC/tests/support/tap.sh" nexmark-kill-restore-2
. "$WEIR_SRC/tests/nexmark_queries/kill_restore.sh"

for q in q7 q8 q9 q11 q14 q17; do
  kill_restore_query $q -D state.backend=rocksdb -D state.backend.incremental=true \
    -D state.backend.rocksdb.localdir="$T/rocks"
done

echo "$passes passed, $fails failed"
[ $fails -eq 0 ]
