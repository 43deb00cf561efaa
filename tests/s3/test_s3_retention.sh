#!/usr/bin/env bash
# Retention in the store: with execution.checkpointing.num-retained=2 and RocksDB incremental
# checkpoints (shared SST files), the store ends with the same two checkpoints as the local
# copy, and the same shared files: older checkpoints and the SSTs only they listed are gone.
set -u
: "${WEIR:?}" "${WEIR_SRC:?}"
. "$WEIR_SRC/tests/support/tap.sh" s3_retention
. "$WEIR_SRC/tests/s3/s3_env.sh"

# Stopped (SIGTERM) mid-stream, after at least 5 checkpoints: the retained ones then hold
# state, so they list SSTs (at end of input every window has fired and they may list none).
JOB=(window-count --records 2000000 --keys 50 --rate 20000 --window-ms 2000)
s3_run hostA "$T/out" "$T/a.log" -D execution.checkpointing.num-retained=2 \
    -D state.backend=rocksdb -D state.backend.incremental=true \
    -D state.backend.rocksdb.localdir="$T/rocks" &
pid=$!
for _ in $(seq 600); do
    [ "$(grep -c "checkpoint [0-9]* complete" "$T/a.log" 2>/dev/null)" -ge 5 ] && break
    kill -0 $pid 2>/dev/null || break
    sleep 0.1
done
kill -TERM $(pgrep -P $pid) 2>/dev/null
wait $pid
rc=$?
[ $rc -eq 0 ] && ok "the run stops cleanly" || bad "the run stops cleanly (exit $rc)" "$T/a.log"
n=$(grep -c "checkpoint [0-9]* complete" "$T/a.log")
[ "$n" -ge 5 ] && ok "$n checkpoints completed" || bad "$n checkpoints completed, want >= 5" "$T/a.log"
local_dir=$(local_job_dir hostA)
remote=$(cd "$S3DATA/window-count" && ls -d chk-* 2>/dev/null | sort | tr '\n' ' ')
kept=$(cd "$local_dir" && for c in chk-*; do [ -e "$c/_metadata" ] && echo "$c"; done | sort | tr '\n' ' ')
nk=$(echo $kept | wc -w)
if [ "$remote" = "$kept" ] && [ "$nk" -eq 2 ]; then
    ok "the store holds the two retained checkpoints only ($remote)"
else
    bad "the store holds the two retained checkpoints only: store '$remote', local '$kept'" "$T/a.log"
fi
for c in $remote; do
    [ -e "$S3DATA/window-count/$c/_metadata" ] || bad "$c in the store has no _metadata"
done
rs=$(ls "$S3DATA/window-count/shared" 2>/dev/null | sort | tr '\n' ' ')
ls_=$(ls "$local_dir/shared" | sort | tr '\n' ' ')
if [ -n "$ls_" ] && [ "$rs" = "$ls_" ]; then
    ok "the store holds the shared files the retained checkpoints list ($(echo $rs | wc -w))"
else
    bad "the store holds the shared files the retained checkpoints list: store '$rs', local '$ls_'"
fi
echo "$passes passed, $fails failed"
[ "$fails" -eq 0 ]
