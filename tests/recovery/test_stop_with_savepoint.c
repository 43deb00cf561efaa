/*
 * Stop-with-savepoint is atomic (issue 12, Flink's synchronous savepoint): the sources stop,
 * the savepoint takes their last positions, the exactly-once file sink commits exactly up to
 * it and the job ends; resuming from it commits the rest, each record once. With drain the
 * maximal watermark fires every window before the savepoint; without, open windows stay in
 * its state and fire after the resume. A savepoint that fails leaves the job running; a stop
 * waits for a checkpoint in flight; a stop of a job whose sources finished completes too.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <unistd.h>

#include <weir/config.h>
#include <weir/weir.h>
#include <weir/windows.h>

#include "checkpoint/checkpoint.h"
#include "weir_test.h"

#define LINES 20000

/* A thread that asks job to stop after_ms, then waits for the stop to settle. */
struct stopper {
    weir_job *job;
    const char *dir;
    bool drain;
    int after_ms;
    int rc;
    enum weir_stop_state state;
    char result[4096];
    pthread_t thread;
};

static void *stop_later(void *arg)
{
    struct stopper *s = arg;
    usleep((useconds_t)s->after_ms * 1000);
    s->rc = -ESRCH;
    for (int i = 0; i < 500 && s->rc == -ESRCH; i++) { /* until weir_job_run serves it */
        s->rc = weir_job_stop_with_savepoint(s->job, s->dir, s->drain);
        if (s->rc == -ESRCH)
            usleep(10 * 1000);
    }
    do {
        usleep(5 * 1000);
        s->state = weir_job_stop_status(s->job, s->result, sizeof s->result);
    } while (s->rc == 0 && s->state == WEIR_STOP_PENDING);
    return NULL;
}

static void stopper_start(struct stopper *s)
{
    assert_int_equal(pthread_create(&s->thread, NULL, stop_later, s), 0);
}

static void stopper_join(struct stopper *s)
{
    pthread_join(s->thread, NULL);
    assert_int_equal(s->rc, 0);
}

static unsigned slow_us = 20;

static int slow(weir_ctx *ctx, void *st, int input, const weir_rec *in, weir_emit *out)
{
    usleep(slow_us);
    return weir_emit_forward(out, in);
}

static const struct weir_operator_ops slow_ops = {.kind = "slow", .process = slow};

static weir_config *lines_config(const char *chk)
{
    weir_config *cfg = wt_config_new(WT_DEFS("execution.checkpointing.interval=50ms",
                                             "restart-strategy.type=none"));
    wt_config_set(cfg, "state.checkpoints.dir=%s", chk);
    wt_config_resolve(cfg);
    return cfg;
}

/* file source -> slow -> exactly-once file sink into out; rebalanced puts the slow operator
 * in a task of its own, so that the source can finish before it. */
static int run_lines(const char *in, const char *out, const char *chk, const char *from,
                     bool rebalanced, struct stopper *stop, struct wt_run *ro,
                     struct weir_run_stats *st)
{
    weir_config *cfg = lines_config(chk);
    weir_job *job = weir_job_new("stop");
    weir_stream *s = weir_source_file(job, "src", in);
    if (rebalanced)
        s = weir_rebalance(s);
    weir_sink_file_exactly_once(weir_transform(s, "slow", &slow_ops, NULL), "sink", out, NULL,
                                ".txt");
    if (stop) {
        stop->job = job;
        stopper_start(stop);
    }
    struct wt_run o = ro ? *ro : (struct wt_run){0};
    o.restore_from = from;
    char err[1024] = "";
    int rc = wt_run(job, cfg, &o, st, err, sizeof err);
    if (rc < 0)
        fprintf(stderr, "run: %s\n", err);
    if (stop)
        stopper_join(stop);
    weir_job_free(job);
    weir_config_free(cfg);
    return rc;
}

/* Committed lines are exactly 0 .. n-1, each once. */
static void assert_committed_prefix(const char *out, uint64_t n)
{
    unsigned char *seen = calloc(LINES, 1);
    size_t bad = wt_count_committed_lines(out, seen, LINES), twice = 0, wrong = 0;
    for (uint64_t i = 0; i < LINES; i++) {
        twice += seen[i] > 1;
        wrong += (i < n) != (seen[i] > 0);
    }
    free(seen);
    if (bad || twice || wrong)
        fail_msg("committed after the stop: %zu lines twice, %zu not in 0..%" PRIu64
                 " or missing from it, %zu malformed",
                 twice, wrong, n, bad);
}

static void stop_commits_up_to_the_savepoint_and_the_resume_completes_it(void **state)
{
    char in[4096];
    snprintf(in, sizeof in, "%s", wt_lines_file("stop-in", LINES));
    const char *out = wt_tmp_dir("stop-out"), *chk = wt_tmp_dir("stop-chk");
    struct stopper stop = {.dir = wt_tmp_dir("stop-sp"), .after_ms = 150};
    struct weir_run_stats st;
    slow_us = 20;
    assert_int_equal(run_lines(in, out, chk, NULL, false, &stop, NULL, &st), 0);
    if (stop.state != WEIR_STOP_COMPLETED)
        fail_msg("stop: state %d: %s", stop.state, stop.result);
    assert_non_null(strstr(stop.result, stop.dir));
    assert_false(st.cancelled);
    if (st.source_records == 0 || st.source_records >= LINES)
        fail_msg("the stop came at %" PRIu64 " of %d lines: not mid-stream", st.source_records,
                 LINES);
    /* the source took the barrier after its last line: the sink committed exactly those */
    assert_committed_prefix(out, st.source_records);

    char from[4096];
    snprintf(from, sizeof from, "%s", stop.result);
    uint64_t before = st.source_records;
    assert_int_equal(run_lines(in, out, chk, from, false, NULL, NULL, &st), 0);
    assert_int_equal(st.source_records, LINES - before); /* from the savepoint's position */
    wt_assert_lines_once(out, LINES);
}

static void a_failed_savepoint_leaves_the_job_running(void **state)
{
    char in[4096];
    snprintf(in, sizeof in, "%s", wt_lines_file("stopfail-in", LINES));
    const char *out = wt_tmp_dir("stopfail-out"), *chk = wt_tmp_dir("stopfail-chk");
    char dir[4096]; /* under a regular file: mkdir fails with ENOTDIR, root or not */
    snprintf(dir, sizeof dir, "%s/not-a-dir/sp", wt_tmp_file("stopfail-file", "x"));
    struct stopper stop = {.dir = dir, .after_ms = 150};
    struct weir_run_stats st;
    slow_us = 20;
    assert_int_equal(run_lines(in, out, chk, NULL, false, &stop, NULL, &st), 0);
    if (stop.state != WEIR_STOP_FAILED)
        fail_msg("stop into %s: state %d (%s), not failed", dir, stop.state, stop.result);
    if (!strstr(stop.result, "/not-a-dir"))
        fail_msg("the failure does not name the directory %s: %s", dir, stop.result);
    assert_int_equal(st.source_records, LINES); /* it ran to its end */
    wt_assert_lines_once(out, LINES);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(stop_commits_up_to_the_savepoint_and_the_resume_completes_it),
        cmocka_unit_test(a_failed_savepoint_leaves_the_job_running),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
