# What the S3 checkpoint tests (tests/s3/test_s3_*.sh) share, sourced after tap.sh: the
# fixture's server (tools/s3proxy.sh, started once per ctest run) or a skip with its reason,
# a prefix of this test's own (s3://$WEIR_S3_BUCKET/$PREFIX), the keyed job of the crash
# tests and its failure-free reference output.
if [ -z "${WEIR_S3_STATE:-}" ]; then
    echo "skip: WEIR_S3_STATE is not set: run through ctest (fixture s3proxy)"
    exit 77
fi
if [ -e "$WEIR_S3_STATE/skip" ]; then
    echo "skip: $(cat "$WEIR_S3_STATE/skip")"
    exit 77
fi
set -a
. "$WEIR_S3_STATE/env"
set +a
PREFIX="t-$$-$(basename "$0" .sh)"
S3DIR="s3://$WEIR_S3_BUCKET/$PREFIX"
# Where the server keeps objects (S3Proxy's filesystem backend: one file per object).
S3DATA="$WEIR_S3_STATE/data/$WEIR_S3_BUCKET/$PREFIX"

JOB=(window-count --records 60000 --keys 50 --rate 20000 --window-ms 500)
base=(-p 2 -D metrics.reporter.prom.port=0 -D execution.checkpointing.interval=100ms
      -D restart-strategy.type=none -D weir.progress=never -D s3.endpoint="$WEIR_S3_ENDPOINT")
committed() { cat "$1"/part-*.csv 2>/dev/null | sort; }

# reference_run: $T/ref.sorted, the output of a run without failures (local checkpoints)
reference_run() {
    "$WEIR" run "${base[@]}" -D state.checkpoints.dir="$T/ref-ck" "${JOB[@]}" "$T/ref" \
        >"$T/ref.log" 2>&1 || { bad "reference run" "$T/ref.log"; exit 1; }
    committed "$T/ref" >"$T/ref.sorted"
}

# s3_run HOST OUT LOG [args...]: the job with checkpoints in the store and its local copy on
# "host" HOST (a directory of its own, as another machine's disk would be)
s3_run() {
    local host=$1 out=$2 log=$3
    shift 3
    "$WEIR" run "${base[@]}" -D state.checkpoints.dir="$S3DIR" \
        -D state.backend.local-recovery.dir="$T/$host" "$@" "${JOB[@]}" "$out" >"$log" 2>&1
}

# the local copy of job window-count on HOST
local_job_dir() { echo "$T/$1/s3/$WEIR_S3_BUCKET/$PREFIX/window-count"; }

# s3_run_stop N HOST OUT LOG [args...]: s3_run until N more checkpoints completed, then a
# SIGTERM (a clean stop: the newest checkpoint is complete in the store and locally alike)
s3_run_stop() {
    local want=$1 host=$2 out=$3 log=$4
    shift 4
    s3_run "$host" "$out" "$log" "$@" &
    local pid=$!
    for _ in $(seq 600); do
        [ "$(grep -c "checkpoint [0-9]* complete" "$log" 2>/dev/null)" -ge "$want" ] && break
        kill -0 $pid 2>/dev/null || break
        sleep 0.1
    done
    kill -TERM $(pgrep -P $pid) 2>/dev/null
    wait $pid
}
