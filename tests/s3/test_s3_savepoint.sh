#!/usr/bin/env bash
# state.savepoints.dir s3://...: a savepoint (kill -USR1) goes to the store, _metadata last,
# and leaves no local copy behind; host A is then killed (-9), and host B, whose disks are
# empty (another local dir), restores from the savepoint's URL: the committed output equals
# the run without failures. The savepoint lies beside the checkpoints (the same prefix), and
# the checkpoints and retention of host B leave it alone. A savepoint with an object gone,
# or a name with no savepoint, fails the run in one line that names it: never another one.
set -u
: "${WEIR:?}" "${WEIR_SRC:?}"
. "$WEIR_SRC/tests/support/tap.sh" s3_savepoint
. "$WEIR_SRC/tests/s3/s3_env.sh"
# long enough that the savepoint completes before the job ends
JOB=(window-count --records 200000 --keys 50 --rate 20000 --window-ms 500)
reference_run

# each backend under a prefix of its own (rocksdb incremental: a savepoint is still full and
# holds its own SSTs)
top=$S3DIR top_data=$S3DATA
for b in hashmap rocksdb; do
    S3DIR=$top/$b S3DATA=$top_data/$b
    backend=(-D state.backend=$b)
    [ $b = rocksdb ] && backend+=(-D state.backend.incremental=true
                                  -D state.backend.rocksdb.localdir="$T/rocks")
    # host A: no periodic checkpoint (1 h), so that the savepoint is the newest snapshot
    s3_run hostA-$b "$T/out-$b" "$T/a-$b.log" -D execution.checkpointing.interval=1h \
        -D state.savepoints.dir="$S3DIR" "${backend[@]}" &
    pid=$!
    for _ in $(seq 600); do
        grep -q "rings:" "$T/a-$b.log" 2>/dev/null && break
        sleep 0.1
    done
    sleep 1
    kill -USR1 $(pgrep -P $pid)
    for _ in $(seq 1200); do
        grep -q "savepoint [0-9]* complete" "$T/a-$b.log" && break
        kill -0 $pid 2>/dev/null || break
        sleep 0.1
    done
    kill -9 $(pgrep -P $pid) 2>/dev/null
    wait $pid
    url=$(sed -n 's/.*savepoint [0-9]* complete: \([^ ]*\) .*/\1/p' "$T/a-$b.log")
    case "$url" in
    "$S3DIR"/savepoint-window-count-*) ok "$b: savepoint complete at $url" ;;
    *) bad "$b: savepoint complete at $S3DIR/savepoint-window-count-N (got '$url')" "$T/a-$b.log" ;;
    esac
    sp=$S3DATA/${url#"$S3DIR"/}
    [ -n "$url" ] && [ -f "$sp/_metadata" ] && [ "$(ls "$sp" | wc -l)" -ge 2 ] \
        && ok "$b: its _metadata and state files are in the store" \
        || bad "$b: its _metadata and state files are in the store" "$T/a-$b.log"
    stage=$T/hostA-$b/s3/$WEIR_S3_BUCKET/$PREFIX/$b/window-count/savepoints-upload
    [ -d "$stage" ] && [ -z "$(ls -A "$stage")" ] && ok "$b: no staging copy is left on host A" \
        || bad "$b: no staging copy is left on host A: $(ls "$stage")"

    s3_run hostB-$b "$T/out-$b" "$T/b-$b.log" --from-savepoint "$url" "${backend[@]}"
    rc=$?
    [ $rc -eq 0 ] && ok "$b: host B runs from the savepoint's URL" \
        || bad "$b: host B runs from the savepoint's URL (exit $rc)" "$T/b-$b.log"
    grep -q "restored from $T/hostB-$b/s3-restore/$WEIR_S3_BUCKET/$PREFIX/$b/savepoint-window-count-" \
        "$T/b-$b.log" && ok "$b: host B restored from its download" \
        || bad "$b: host B restored from its download" "$T/b-$b.log"
    committed "$T/out-$b" >"$T/got.sorted"
    if cmp -s "$T/ref.sorted" "$T/got.sorted"; then
        ok "$b: committed output equals the run without failures ($(wc -l <"$T/got.sorted") rows)"
    else
        bad "$b: committed output equals the run without failures ($(wc -l <"$T/got.sorted") rows)"
        diff "$T/ref.sorted" "$T/got.sorted" | head -5
    fi
    if grep -q "checkpoint [0-9]* complete" "$T/b-$b.log" && [ -f "$sp/_metadata" ]; then
        ok "$b: host B's checkpoints and retention left the savepoint alone"
    else
        bad "$b: host B's checkpoints and retention left the savepoint alone" "$T/b-$b.log"
    fi

    # a name with no savepoint: one line naming it
    s3_run hostC-$b "$T/outC-$b" "$T/c-$b.log" --from-checkpoint "$S3DIR/savepoint-none" "${backend[@]}"
    rc=$?
    if [ $rc -ne 0 ] && grep -q "$S3DIR/savepoint-none: no _metadata" "$T/c-$b.log" \
        && ! grep -q "restored from" "$T/c-$b.log"; then
        ok "$b: a savepoint that is not there fails, naming it"
        echo "# $(grep -m1 "savepoint-none" "$T/c-$b.log")"
    else
        bad "$b: a savepoint that is not there fails, naming it (exit $rc)" "$T/c-$b.log"
    fi
    # an object of it gone: one line naming it
    victim=$(ls "$sp" | grep -v _metadata | head -1)
    rm -f "$sp/$victim"
    s3_run hostD-$b "$T/outD-$b" "$T/d-$b.log" --from-checkpoint "$url" "${backend[@]}"
    rc=$?
    if [ $rc -ne 0 ] && grep -q "from-checkpoint $url: .*$victim.*404" "$T/d-$b.log" \
        && ! grep -q "restored from" "$T/d-$b.log"; then
        ok "$b: a savepoint with $victim gone fails, naming it"
        echo "# $(grep -m1 "$victim" "$T/d-$b.log")"
    else
        bad "$b: a savepoint with $victim gone fails, naming it (exit $rc)" "$T/d-$b.log"
    fi
done
echo "$passes passed, $fails failed"
[ "$fails" -eq 0 ]
