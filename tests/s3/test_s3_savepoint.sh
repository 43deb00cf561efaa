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

# host A: no periodic checkpoint (1 h), so that the savepoint is the newest snapshot
s3_run hostA "$T/out" "$T/a.log" -D execution.checkpointing.interval=1h \
    -D state.savepoints.dir="$S3DIR" &
pid=$!
for _ in $(seq 600); do
    grep -q "rings:" "$T/a.log" 2>/dev/null && break
    sleep 0.1
done
sleep 1
kill -USR1 $(pgrep -P $pid)
for _ in $(seq 1200); do
    grep -q "savepoint [0-9]* complete" "$T/a.log" && break
    kill -0 $pid 2>/dev/null || break
    sleep 0.1
done
kill -9 $(pgrep -P $pid) 2>/dev/null
wait $pid
url=$(sed -n 's/.*savepoint [0-9]* complete: \([^ ]*\) .*/\1/p' "$T/a.log")
case "$url" in
"$S3DIR"/savepoint-window-count-*) ok "savepoint complete at $url" ;;
*) bad "savepoint complete at $S3DIR/savepoint-window-count-N (got '$url')" "$T/a.log" ;;
esac
sp=$S3DATA/${url#"$S3DIR"/}
[ -n "$url" ] && [ -f "$sp/_metadata" ] && [ "$(ls "$sp" | wc -l)" -ge 2 ] \
    && ok "its _metadata and state files are in the store" \
    || bad "its _metadata and state files are in the store" "$T/a.log"
stage=$(local_job_dir hostA)/savepoints-upload
[ -z "$(ls -A "$stage" 2>/dev/null)" ] && ok "no staging copy is left on host A" \
    || bad "no staging copy is left on host A: $(ls "$stage")"

s3_run hostB "$T/out" "$T/b.log" --from-savepoint "$url"
rc=$?
[ $rc -eq 0 ] && ok "host B runs from the savepoint's URL" \
    || bad "host B runs from the savepoint's URL (exit $rc)" "$T/b.log"
grep -q "restored from $T/hostB/s3-restore/$WEIR_S3_BUCKET/$PREFIX/savepoint-window-count-" \
    "$T/b.log" && ok "host B restored from its download" \
    || bad "host B restored from its download" "$T/b.log"
committed "$T/out" >"$T/got.sorted"
if cmp -s "$T/ref.sorted" "$T/got.sorted"; then
    ok "committed output equals the run without failures ($(wc -l <"$T/got.sorted") rows)"
else
    bad "committed output equals the run without failures ($(wc -l <"$T/got.sorted") rows)"
    diff "$T/ref.sorted" "$T/got.sorted" | head -5
fi
if grep -q "checkpoint [0-9]* complete" "$T/b.log" && [ -f "$sp/_metadata" ]; then
    ok "host B's checkpoints and retention left the savepoint alone"
else
    bad "host B's checkpoints and retention left the savepoint alone" "$T/b.log"
fi

# a name with no savepoint: one line naming it
s3_run hostC "$T/outC" "$T/c.log" --from-checkpoint "$S3DIR/savepoint-none"
rc=$?
if [ $rc -ne 0 ] && grep -q "$S3DIR/savepoint-none: no _metadata" "$T/c.log" \
    && ! grep -q "restored from" "$T/c.log"; then
    ok "a savepoint that is not there fails, naming it"
    echo "# $(grep -m1 "savepoint-none" "$T/c.log")"
else
    bad "a savepoint that is not there fails, naming it (exit $rc)" "$T/c.log"
fi
# an object of it gone: one line naming it
victim=$(ls "$sp" | grep -v _metadata | head -1)
rm -f "$sp/$victim"
s3_run hostD "$T/outD" "$T/d.log" --from-checkpoint "$url"
rc=$?
if [ $rc -ne 0 ] && grep -q "from-checkpoint $url: .*$victim.*404" "$T/d.log" \
    && ! grep -q "restored from" "$T/d.log"; then
    ok "a savepoint with $victim gone fails, naming it"
    echo "# $(grep -m1 "$victim" "$T/d.log")"
else
    bad "a savepoint with $victim gone fails, naming it (exit $rc)" "$T/d.log"
fi
echo "$passes passed, $fails failed"
[ "$fails" -eq 0 ]
