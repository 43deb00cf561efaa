#!/usr/bin/env bash
# state.checkpoints.dir s3://...: a job killed on one host resumes on another whose disks are
# empty (a new machine): the checkpoint is downloaded from the store, and the committed
# output equals the run without failures.
set -u
: "${WEIR:?}" "${WEIR_SRC:?}"
. "$WEIR_SRC/tests/support/tap.sh" s3_restore_elsewhere
. "$WEIR_SRC/tests/s3/s3_env.sh"
reference_run

WEIR_CRASH_POINT=commit:4 s3_run hostA "$T/out" "$T/a.log"
rc=$?
[ $rc -eq 137 ] || grep -q SIGKILL "$T/a.log" && ok "host A killed after checkpoint 3" \
    || bad "host A killed after checkpoint 3 (exit $rc)" "$T/a.log"
if ls "$S3DATA"/window-count/chk-*/_metadata >/dev/null 2>&1; then
    ok "a complete checkpoint (_metadata) is in the store"
else
    bad "a complete checkpoint (_metadata) is in the store" "$T/a.log"
fi

s3_run hostB "$T/out" "$T/b.log" --from-checkpoint latest
rc=$?
[ $rc -eq 0 ] && ok "host B resumes from latest" || bad "host B resumes from latest (exit $rc)" "$T/b.log"
grep -q "downloaded from $S3DIR/window-count" "$T/b.log" \
    && ok "host B says it downloaded the checkpoint" \
    || bad "host B says it downloaded the checkpoint" "$T/b.log"
grep -q "restored from .*hostB" "$T/b.log" && ok "host B restored from its download" \
    || bad "host B restored from its download" "$T/b.log"
committed "$T/out" >"$T/got.sorted"
if cmp -s "$T/ref.sorted" "$T/got.sorted"; then
    ok "committed output equals the run without failures ($(wc -l <"$T/got.sorted") rows)"
else
    bad "committed output equals the run without failures ($(wc -l <"$T/got.sorted") rows)"
    diff "$T/ref.sorted" "$T/got.sorted" | head -5
fi
echo "$passes passed, $fails failed"
[ "$fails" -eq 0 ]
