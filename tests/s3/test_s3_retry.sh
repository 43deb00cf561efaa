#!/usr/bin/env bash
# s3.retry.max-attempts, s3.retry.initial-backoff: requests that fail transiently are retried
# with backoff. Between weir and the store runs a fault-injecting proxy
# (tests/support/s3_fault_proxy.py) that fails the first N requests of a kind: checkpoints
# complete through HTTP 503 on PUTs, through connections dropped while listing, and through a
# conditional PUT of _metadata whose answer is lost after it took effect (the retry's 412 is
# our own object, not another writer's); with s3.retry.max-attempts=1 the checkpoint fails,
# in one line that names the object and the key; a 404 is never retried.
set -u
: "${WEIR:?}" "${WEIR_SRC:?}"
. "$WEIR_SRC/tests/support/tap.sh" s3_retry
. "$WEIR_SRC/tests/s3/s3_env.sh"
command -v python3 >/dev/null || { echo "skip: no python3 (it runs the fault proxy)"; exit 77; }
PROXY_PID=
trap '[ -n "$PROXY_PID" ] && kill "$PROXY_PID" 2>/dev/null; rm -rf "$T"' EXIT

# proxy NAME MATCH N HOW: a proxy that fails the first N requests matching MATCH; its
# endpoint in $PEP, its log in $T/NAME.plog
proxy() {
    if [ -n "$PROXY_PID" ]; then
        kill "$PROXY_PID" 2>/dev/null
        wait "$PROXY_PID" 2>/dev/null
    fi
    python3 "$WEIR_SRC/tests/support/s3_fault_proxy.py" --upstream "${WEIR_S3_ENDPOINT#*://}" \
        --port-file "$T/$1.port" --log "$T/$1.plog" --match "$2" --fail "$3" --how "$4" &
    PROXY_PID=$!
    for _ in $(seq 600); do
        [ -s "$T/$1.port" ] && break
        sleep 0.1
    done
    PEP="http://127.0.0.1:$(cat "$T/$1.port" 2>/dev/null)"
}

# run_stop NAME N [args...]: the job through the proxy, checkpoints under a prefix of its
# own, until N checkpoints completed (then SIGTERM) or it ended
run_stop() {
    local name=$1 want=$2 log=$T/$1.log
    shift 2
    "$WEIR" run "${base[@]}" -D s3.endpoint="$PEP" -D state.checkpoints.dir="$S3DIR/$name" \
        -D state.backend.local-recovery.dir="$T/$name.local" "$@" "${JOB[@]}" "$T/$name.out" \
        >"$log" 2>&1 &
    local pid=$!
    for _ in $(seq 1200); do
        [ "$(grep -c "checkpoint [0-9]* complete" "$log" 2>/dev/null)" -ge "$want" ] && break
        kill -0 $pid 2>/dev/null || break
        sleep 0.1
    done
    kill -TERM $pid 2>/dev/null
    wait $pid
}

faults() { grep -c '^fault' "$T/$1.plog" 2>/dev/null; }

# state files and _metadata alike: the first 4 PUTs answer 503
proxy put503 '^PUT ' 4 503
run_stop put503 2
[ "$(faults put503)" = 4 ] && ok "the proxy answered 503 to 4 PUTs" \
    || bad "the proxy answered 503 to 4 PUTs ($(faults put503))" "$T/put503.plog"
[ "$(grep -c "checkpoint [0-9]* complete" "$T/put503.log")" -ge 2 ] \
    && ok "checkpoints complete through HTTP 503" \
    || bad "checkpoints complete through HTTP 503" "$T/put503.log"

# the listing at open: the first 2 answers never come (connection closed)
proxy listdrop '^GET .*list-type=2' 2 drop
run_stop listdrop 1
[ "$(faults listdrop)" = 2 ] && ok "the proxy dropped 2 list requests" \
    || bad "the proxy dropped 2 list requests ($(faults listdrop))" "$T/listdrop.plog"
grep -q "checkpoint [0-9]* complete" "$T/listdrop.log" \
    && ok "the job starts and checkpoints through dropped connections" \
    || bad "the job starts and checkpoints through dropped connections" "$T/listdrop.log"

# SlowDown on _metadata, then a _metadata PUT that is stored but whose answer is lost
proxy slow '^PUT .*/_metadata' 2 slowdown
run_stop slow 1
[ "$(faults slow)" = 2 ] && grep -q "checkpoint [0-9]* complete" "$T/slow.log" \
    && ok "a checkpoint completes through SlowDown on _metadata" \
    || bad "a checkpoint completes through SlowDown on _metadata ($(faults slow))" "$T/slow.log"
proxy lose '^PUT .*/_metadata' 1 lose
run_stop lose 1
if [ "$(faults lose)" = 1 ] && grep -q "forwarded: 200" "$T/lose.plog" \
    && grep -q "PUT .*/_metadata 412" "$T/lose.plog"; then
    ok "the retried conditional PUT met its own stored _metadata (412)"
else
    bad "the retried conditional PUT met its own stored _metadata (412)" "$T/lose.plog"
fi
grep -q "checkpoint [0-9]* complete" "$T/lose.log" && ! grep -q "exists already" "$T/lose.log" \
    && ok "that checkpoint completes (not taken for another writer's)" \
    || bad "that checkpoint completes (not taken for another writer's)" "$T/lose.log"

# one attempt: the first 503 on _metadata fails the checkpoint, naming object and key
proxy once '^PUT .*/_metadata' 1000 503
run_stop once 1 -D s3.retry.max-attempts=1
if ! grep -q "checkpoint [0-9]* complete" "$T/once.log" && [ "$(faults once)" -ge 1 ]; then
    ok "with s3.retry.max-attempts=1 no checkpoint completes through 503"
else
    bad "with s3.retry.max-attempts=1 no checkpoint completes through 503" "$T/once.log"
fi
if grep -q "chk-[0-9]*/_metadata: HTTP 503 ServiceUnavailable.*; 1 attempt (s3.retry.max-attempts)" \
    "$T/once.log"; then
    ok "the failure names the object and s3.retry.max-attempts"
else
    bad "the failure names the object and s3.retry.max-attempts" "$T/once.log"
fi
# a 404 is final: one GET of the missing _metadata, no retry
proxy nf 'nothing-matches' 0 503
"$WEIR" run "${base[@]}" -D s3.endpoint="$PEP" -D state.checkpoints.dir="$S3DIR/nf" \
    -D state.backend.local-recovery.dir="$T/nf.local" \
    --from-checkpoint "$S3DIR/nf/window-count/chk-999" "${JOB[@]}" "$T/nf.out" >"$T/nf.log" 2>&1
if [ "$(grep -c 'GET .*chk-999/_metadata 404' "$T/nf.plog")" = 1 ] \
    && grep -q "chk-999: no _metadata" "$T/nf.log"; then
    ok "a 404 is not retried"
else
    bad "a 404 is not retried" "$T/nf.plog"
fi
echo "$passes passed, $fails failed"
[ "$fails" -eq 0 ]
