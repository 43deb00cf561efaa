#!/usr/bin/env bash
# state.backend.local-recovery: true with checkpoints in the store. A restart on the same
# host restores from the local copy when it matches the remote checkpoint; when a file of the
# local copy is corrupt, or missing, the checkpoint is downloaded from the store instead. The
# committed output after all of it equals the run without failures.
set -u
: "${WEIR:?}" "${WEIR_SRC:?}"
. "$WEIR_SRC/tests/support/tap.sh" s3_local_recovery
. "$WEIR_SRC/tests/s3/s3_env.sh"
reference_run
lr=(-D state.backend.local-recovery=true)
local_dir=$(local_job_dir hostA)

# the newest complete local checkpoint's largest state file
victim() {
    local d
    d=$(ls -d "$local_dir"/chk-* | sort -t- -k2 -n | while read -r c; do
        [ -e "$c/_metadata" ] && echo "$c"; done | tail -1)
    ls -S "$d" | grep -v '^_metadata$' | head -1 | sed "s|^|$d/|"
}

# Each run stops cleanly (SIGTERM) after a few checkpoints, so that the newest checkpoint is
# complete both in the store and locally (a kill between the remote _metadata and the local
# one leaves a local copy without _metadata, which is downloaded too, but is not this test).
s3_run_stop 3 hostA "$T/out" "$T/1.log" "${lr[@]}"
s3_run_stop 3 hostA "$T/out" "$T/2.log" "${lr[@]}" --from-checkpoint latest
if grep -q "local recovery: the local copy in $local_dir matches $S3DIR" "$T/2.log" &&
    ! grep -q "downloaded from" "$T/2.log"; then
    ok "a restart on the same host restores from the matching local copy"
else
    bad "a restart on the same host restores from the matching local copy" "$T/2.log"
fi

f=$(victim)
size=$(stat -c %s "$f")
printf 'X' | dd of="$f" bs=1 seek=$((size / 2)) conv=notrunc status=none
s3_run_stop 3 hostA "$T/out" "$T/3.log" "${lr[@]}" --from-checkpoint latest
if grep -q "downloaded from $S3DIR/window-count .*: $(basename "$f"): " "$T/3.log"; then
    ok "a corrupt local file ($(basename "$f")): the remote checkpoint is downloaded"
else
    bad "a corrupt local file ($(basename "$f")): the remote checkpoint is downloaded" "$T/3.log"
fi

f=$(victim)
rm -f "$f"
s3_run hostA "$T/out" "$T/4.log" "${lr[@]}" --from-checkpoint latest
rc=$?
if [ $rc -eq 0 ] && grep -q "downloaded from $S3DIR/window-count .*: $(basename "$f"): " "$T/4.log"; then
    ok "a missing local file ($(basename "$f")): the remote checkpoint is downloaded"
else
    bad "a missing local file ($(basename "$f")): the remote checkpoint is downloaded (exit $rc)" "$T/4.log"
fi
committed "$T/out" >"$T/got.sorted"
if cmp -s "$T/ref.sorted" "$T/got.sorted"; then
    ok "committed output equals the run without failures"
else
    bad "committed output equals the run without failures ($(wc -l <"$T/got.sorted") rows)"
    diff "$T/ref.sorted" "$T/got.sorted" | head -5
fi
echo "$passes passed, $fails failed"
[ "$fails" -eq 0 ]
