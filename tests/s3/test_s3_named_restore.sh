#!/usr/bin/env bash
# --from-checkpoint s3://bucket/prefix/<job>/chk-N: a checkpoint named by its URL is
# downloaded (state files, the shared ones into ../shared beside it) and restored, on another
# host whose disks are empty and whose own checkpoints go elsewhere: the committed output
# equals the run without failures. A chk-N that is not in the store, or one with a state file
# damaged, fails the run with one line naming it: never another checkpoint instead (as a
# named local directory fails).
set -u
: "${WEIR:?}" "${WEIR_SRC:?}"
. "$WEIR_SRC/tests/support/tap.sh" s3_named_restore
. "$WEIR_SRC/tests/s3/s3_env.sh"
reference_run

# each backend under a prefix of its own; rocksdb incremental: its SSTs are shared files,
# downloaded into ../shared beside the checkpoint
top=$S3DIR top_data=$S3DATA
for b in hashmap rocksdb; do
    S3DIR=$top/$b S3DATA=$top_data/$b
    backend=(-D state.backend=$b)
    [ $b = rocksdb ] && backend+=(-D state.backend.incremental=true
                                  -D state.backend.rocksdb.localdir="$T/rocks")
    # host A: killed (-9) after checkpoint 3 completed
    WEIR_CRASH_POINT=commit:4 s3_run hostA-$b "$T/out-$b" "$T/a-$b.log" "${backend[@]}"
    rc=$?
    [ $rc -eq 137 ] || grep -q SIGKILL "$T/a-$b.log" && ok "$b: host A killed after checkpoint 3" \
        || bad "$b: host A killed after checkpoint 3 (exit $rc)" "$T/a-$b.log"
    n=$(ls -d "$S3DATA"/window-count/chk-*/_metadata 2>/dev/null | sed 's/.*chk-\([0-9]*\).*/\1/' \
        | sort -n | tail -1)
    [ -n "$n" ] && ok "$b: chk-$n is complete in the store" || bad "$b: a complete chk-N in the store" "$T/a-$b.log"
    url=$S3DIR/window-count/chk-$n

    # host B: another local dir, its checkpoints under another prefix
    run_b() { # HOST LOG URL
        "$WEIR" run "${base[@]}" -D state.checkpoints.dir="$S3DIR/elsewhere" \
            -D state.backend.local-recovery.dir="$T/$1" --from-checkpoint "$3" "${backend[@]}" "${JOB[@]}" \
            "$T/out-$b" >"$2" 2>&1
    }
    run_b hostB-$b "$T/b-$b.log" "$url"
    rc=$?
    [ $rc -eq 0 ] && ok "$b: host B runs from $url" || bad "$b: host B runs from $url (exit $rc)" "$T/b-$b.log"
    dl=$T/hostB-$b/s3-restore/$WEIR_S3_BUCKET/$PREFIX/$b/window-count
    grep -q "restored from $dl/chk-$n" \
        "$T/b-$b.log" && ok "$b: host B restored chk-$n from its download" \
        || bad "$b: host B restored chk-$n from its download" "$T/b-$b.log"
    if [ $b = rocksdb ]; then
        [ -n "$(ls -A "$dl/shared" 2>/dev/null)" ] \
            && ok "$b: its shared files (SSTs) were downloaded into ../shared" \
            || bad "$b: its shared files (SSTs) were downloaded into ../shared" "$T/b-$b.log"
    fi
    committed "$T/out-$b" >"$T/got.sorted"
    if cmp -s "$T/ref.sorted" "$T/got.sorted"; then
        ok "$b: committed output equals the run without failures ($(wc -l <"$T/got.sorted") rows)"
    else
        bad "$b: committed output equals the run without failures ($(wc -l <"$T/got.sorted") rows)"
        diff "$T/ref.sorted" "$T/got.sorted" | head -5
    fi

    # not there: one line naming it, and no other checkpoint restored instead
    run_b hostC-$b "$T/c-$b.log" "$S3DIR/window-count/chk-999"
    rc=$?
    if [ $rc -ne 0 ] && grep -q "from-checkpoint $S3DIR/window-count/chk-999: no _metadata" \
        "$T/c-$b.log" && ! grep -q "restored from" "$T/c-$b.log"; then
        ok "$b: a chk-N not in the store fails, naming it"
        echo "# $(grep -m1 "chk-999" "$T/c-$b.log")"
    else
        bad "$b: a chk-N not in the store fails, naming it (exit $rc)" "$T/c-$b.log"
    fi

    # a state file damaged in the store (its last byte changed): the checksum check names it
    victim=$(ls "$S3DATA/window-count/chk-$n" | grep -v _metadata | head -1)
    f=$S3DATA/window-count/chk-$n/$victim
    size=$(stat -c %s "$f")
    printf '\377' | dd of="$f" bs=1 seek=$((size - 1)) conv=notrunc status=none
    run_b hostD-$b "$T/d-$b.log" "$url"
    rc=$?
    if [ $rc -ne 0 ] && grep -q "from-checkpoint $url: .*chk-$n.*$victim" "$T/d-$b.log" \
        && ! grep -q "restored from" "$T/d-$b.log"; then
        ok "$b: a chk-N with $victim damaged fails, naming it"
        echo "# $(grep -m1 "$victim" "$T/d-$b.log")"
    else
        bad "$b: a chk-N with $victim damaged fails, naming it (exit $rc)" "$T/d-$b.log"
    fi
done
echo "$passes passed, $fails failed"
[ "$fails" -eq 0 ]
