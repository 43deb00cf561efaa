#!/usr/bin/env bash
# The kill -9 suite once against the S3-compatible store (issue 10): the keyed window job
# with state.checkpoints.dir=s3://..., killed with SIGKILL at random moments and at chosen
# points (in a task's snapshot, while _metadata is being committed, which here is while the
# checkpoint is being uploaded) and resumed with --from-checkpoint latest, on both backends
# (RocksDB with incremental checkpoints: shared SSTs uploaded once; the hashmap backend with
# incremental checkpoints too: its chains of a full file and deltas, a full one every third,
# are shared files uploaded once and listed by later checkpoints). The local copy is on
# with local recovery, and every other restart is on an empty "host", which must download.
# The committed output must equal the run without failures. 10 kills per backend.
set -u
: "${WEIR:?}" "${WEIR_SRC:?}"
. "$WEIR_SRC/tests/support/tap.sh" s3_crash
. "$WEIR_SRC/tests/s3/s3_env.sh"
reference_run
kills=0

# Restarts that found a delta of a heap chain in the store (a chain file's u32 at byte 12 is
# 1 for a delta): the hashmap runs restore chains that went through S3.
deltas_restored=0
count_deltas() {
    local n=0 f
    for f in "$1"/*.heap; do
        [ -f "$f" ] && [ "$(od -An -tu4 -j12 -N4 "$f" | tr -d ' ')" = 1 ] && n=$((n + 1))
    done
    [ $n -gt 0 ] && deltas_restored=$((deltas_restored + 1))
}

run_with_kills() { # BACKEND OUT PLAN...
    local backend=$1 out=$2
    shift 2
    local args=(-D state.backend=$backend -D state.backend.incremental=true
                -D state.backend.incremental.heap.max-chain-length=2
                -D state.backend.rocksdb.localdir="$T/rocks-$backend"
                -D state.backend.local-recovery=true)
    local from=() i=0 host
    for plan in "$@"; do
        i=$((i + 1))
        host="$backend-host$((i % 2))"
        if [ "$plan" = random ]; then
            s3_run "$host" "$out" "$T/run.log" "${args[@]}" "${from[@]}" &
            local pid=$!
            sleep "0.$((RANDOM % 5 + 3))"
            kill -9 $(pgrep -P $pid) 2>/dev/null
            wait $pid 2>/dev/null
        else
            WEIR_CRASH_POINT=$plan s3_run "$host" "$out" "$T/run.log" "${args[@]}" "${from[@]}"
        fi
        local rc=$?
        if [ $rc -eq 137 ] || grep -q "SIGKILL" "$T/run.log"; then
            kills=$((kills + 1))
        elif [ $rc -ne 0 ]; then
            bad "$backend run $i ($plan) failed with $rc" "$T/run.log"
            return 1
        fi
        from=(--from-checkpoint latest)
        count_deltas "$S3DATA/$backend/window-count/shared"
    done
    s3_run "$backend-final" "$out" "$T/run.log" "${args[@]}" "${from[@]}" \
        || { bad "$backend final run" "$T/run.log"; return 1; }
}

for backend in hashmap rocksdb; do
    out="$T/out-$backend"
    S3DIR="s3://$WEIR_S3_BUCKET/$PREFIX/$backend"
    plan=(random snapshot:2 random commit:2 random snapshot:3 commit:3 random commit:2 random)
    if run_with_kills $backend "$out" "${plan[@]}"; then
        committed "$out" >"$T/got.sorted"
        if cmp -s "$T/ref.sorted" "$T/got.sorted"; then
            ok "$backend: output after ${#plan[@]} crashes equals the run without failures"
        else
            bad "$backend: output differs ($(wc -l <"$T/got.sorted") rows)"
            diff "$T/ref.sorted" "$T/got.sorted" | head -5
        fi
    fi
done
[ $deltas_restored -ge 2 ] && ok "hashmap: $deltas_restored restarts with a heap chain's delta in the store" \
    || bad "hashmap: only $deltas_restored restarts found a heap chain's delta in the store"
[ "$kills" -ge 16 ] && ok "$kills kills landed" || bad "$kills kills landed, want >= 16"
echo "$passes passed, $fails failed"
[ "$fails" -eq 0 ]
