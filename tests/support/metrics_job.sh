# For shell tests that scrape a running weir job's Prometheus endpoint, sourced after tap.sh:
#   metrics_job_start LOG WEIR-RUN-ARGS...   runs `weir run WEIR-RUN-ARGS` in the background
#                                            (stdout LOG.out, stderr LOG.err) and waits for
#                                            its "weir: metrics:" line: JOB_PID and JOB_PORT
#                                            set; returns 1 (JOB_PORT empty) if it never came
#   metrics_scrape FILE                      the endpoint's text into FILE
#   metrics_job_stop                         SIGTERM, and waits for it
# The port comes from 19600-19699, so that tests running at once each find one.
JOB_PID="" JOB_PORT=""
metrics_job_start() {
    local log=$1 i
    shift
    JOB_PORT=""
    "$WEIR" run -D weir.progress=never -D metrics.reporter.prom.port=19600-19699 "$@" \
        >"$log.out" 2>"$log.err" &
    JOB_PID=$!
    for i in $(seq 1 200); do
        JOB_PORT=$(sed -n 's|^weir: metrics: http://127.0.0.1:\([0-9]*\)/metrics$|\1|p' "$log.err")
        [ -n "$JOB_PORT" ] && return 0
        kill -0 "$JOB_PID" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}
metrics_scrape() { curl -fsS "http://127.0.0.1:$JOB_PORT/metrics" >"$1"; }
metrics_job_stop() {
    [ -n "$JOB_PID" ] || return 0
    kill "$JOB_PID" 2>/dev/null
    wait "$JOB_PID" 2>/dev/null
    JOB_PID=""
}
