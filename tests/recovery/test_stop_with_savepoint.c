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
#include <unistd.h>

#include <weir/config.h>
#include <weir/weir.h>
#include <weir/windows.h>

#include "checkpoint/checkpoint.h"
#include "weir_test.h"

#define LINES 20000

static weir_job *running; /* the job run_lines runs, for the test hooks */
/* its stop's state and savepoint path or failure when it ended */
static enum weir_stop_state ended_state;
static char ended_result[4096];

static unsigned slow_us = 20;
static _Atomic int started; /* a record went through the slow operator, or a checkpoint completed */

static int slow(weir_ctx *ctx, void *st, int input, const weir_rec *in, weir_emit *out)
{
    atomic_store(&started, 1);
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
                     bool rebalanced, struct wt_stopper *stop, struct wt_run *ro,
                     struct weir_run_stats *st)
{
    weir_config *cfg = lines_config(chk);
    weir_job *job = running = weir_job_new("stop");
    weir_stream *s = weir_source_file(job, "src", in);
    if (rebalanced)
        s = weir_rebalance(s);
    weir_sink_file_exactly_once(weir_transform(s, "slow", &slow_ops, NULL), "sink", out, NULL,
                                ".txt");
    atomic_store(&started, 0);
    if (stop) {
        stop->ready = &started;
        wt_stopper_start(stop, job);
    }
    struct wt_run o = ro ? *ro : (struct wt_run){0};
    o.restore_from = from;
    char err[1024] = "";
    int rc = wt_run(job, cfg, &o, st, err, sizeof err);
    if (rc < 0)
        fprintf(stderr, "run: %s\n", err);
    if (stop)
        wt_stopper_join(stop);
    ended_state = weir_job_stop_status(job, ended_result, sizeof ended_result);
    weir_job_free(job);
    weir_config_free(cfg);
    return rc;
}

/* Committed lines (of lines) are exactly 0 .. n-1, each once. */
static void assert_committed_prefix(const char *out, int lines, uint64_t n)
{
    unsigned char *seen = calloc((size_t)lines, 1);
    size_t bad = wt_count_committed_lines(out, seen, lines), twice = 0, wrong = 0;
    for (uint64_t i = 0; i < (uint64_t)lines; i++) {
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
    struct wt_stopper stop = {.dir = wt_tmp_dir("stop-sp"), .after_ms = 150};
    struct weir_run_stats st;
    slow_us = 20;
    assert_int_equal(run_lines(in, out, chk, NULL, false, &stop, NULL, &st), 0);
    wt_stopper_completed(&stop);
    assert_non_null(strstr(stop.result, stop.dir));
    assert_false(st.cancelled);
    if (st.source_records == 0 || st.source_records >= LINES)
        fail_msg("the stop came at %" PRIu64 " of %d lines: not mid-stream", st.source_records,
                 LINES);
    /* the source took the barrier after its last line: the sink committed exactly those */
    assert_committed_prefix(out, LINES, st.source_records);

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
    struct wt_stopper stop = {.dir = dir, .after_ms = 150};
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

/* The stop is asked for while checkpoint c commits (the test hook holds it there a while):
 * the stop's savepoint waits for c, which completes, and then stops the job as above. */
static struct wt_stopper in_flight_stop;
static _Atomic uint64_t in_flight_id;
static _Atomic int in_flight_completed;

static void commit_submitted(uint64_t id)
{
    uint64_t none = 0;
    if (!atomic_compare_exchange_strong(&in_flight_id, &none, id))
        return;
    in_flight_stop.rc = weir_job_stop_with_savepoint(running, in_flight_stop.dir, false);
    usleep(50 * 1000);
}

static void on_in_flight(void *arg, const struct weir_checkpoint_event *ev)
{
    if (ev->id == atomic_load(&in_flight_id) && ev->completed)
        atomic_store(&in_flight_completed, 1);
}

static void a_stop_waits_for_the_checkpoint_in_flight(void **state)
{
    char in[4096];
    snprintf(in, sizeof in, "%s", wt_lines_file("stopfly-in", LINES));
    const char *out = wt_tmp_dir("stopfly-out"), *chk = wt_tmp_dir("stopfly-chk");
    in_flight_stop = (struct wt_stopper){.dir = wt_tmp_dir("stopfly-sp"), .rc = -1};
    static const struct chk_test_hooks hooks = {.commit_submitted = commit_submitted};
    struct weir_run_stats st;
    slow_us = 20;
    chk_test_hooks = &hooks;
    int rc = run_lines(in, out, chk, NULL, false, NULL,
                       &(struct wt_run){.on_checkpoint = on_in_flight}, &st);
    chk_test_hooks = NULL;
    assert_int_equal(rc, 0);
    assert_int_equal(in_flight_stop.rc, 0);
    if (ended_state != WEIR_STOP_COMPLETED)
        fail_msg("stop: state %d: %s", ended_state, ended_result);
    assert_true(atomic_load(&in_flight_completed)); /* the stop did not cut c short */
    assert_int_equal(st.checkpoints_failed, 0);
    assert_true(st.last_checkpoint_id > atomic_load(&in_flight_id)); /* the savepoint, after c */
    assert_committed_prefix(out, LINES, st.source_records);
}

/* The source (2000 lines, in a task of its own) has finished long before the stop; the slow
 * operator downstream has not: the savepoint lists the source as finished and completes once
 * the rest has drained, every line committed once; its resume reads nothing again. */
static void a_stop_after_the_sources_finished_completes(void **state)
{
    enum { FEW = 2000 };
    char in[4096];
    snprintf(in, sizeof in, "%s", wt_lines_file("stopfin-in", FEW));
    const char *out = wt_tmp_dir("stopfin-out"), *chk = wt_tmp_dir("stopfin-chk");
    struct wt_stopper stop = {.dir = wt_tmp_dir("stopfin-sp"), .after_ms = 500};
    struct weir_run_stats st;
    slow_us = 1000; /* 2 s downstream, a few ms for the source */
    assert_int_equal(run_lines(in, out, chk, NULL, true, &stop, NULL, &st), 0);
    wt_stopper_completed(&stop);
    assert_int_equal(st.source_records, FEW);
    assert_committed_prefix(out, FEW, FEW);

    char from[4096];
    snprintf(from, sizeof from, "%s", stop.result);
    assert_int_equal(run_lines(in, out, chk, from, true, NULL, NULL, &st), 0);
    assert_int_equal(st.source_records, 0);
    assert_committed_prefix(out, FEW, FEW);
}

/* --- windows: datagen (event time seq / 10 ms) -> 100 ms tumbling count per key ------------ */

#define WIN_RECORDS 10000
#define WIN_KEYS    4
#define WIN_MS      100
#define WINDOWS     (WIN_RECORDS / 10 / WIN_MS) /* per key */
#define WIN_FULL    (WIN_RECORDS / WINDOWS / WIN_KEYS)

static int format_window(const weir_rec *r, char *buf, size_t cap)
{
    const struct weir_window_result *w = (const void *)r->data;
    return snprintf(buf, cap, "%" PRIu64 ",%" PRId64 ",%" PRId64, w->key, w->start,
                    weir_result_i64(w->result));
}

/* a_drain_published_mid_step_still_fires_every_window: hold_source_step holds from the first
 * completed checkpoint on (hold_from), and sees whether it held across the stop's trigger */
static bool hold_from_started;
static _Atomic int hold_from, held_across;

static void on_started(void *arg, const struct weir_checkpoint_event *ev)
{
    if (ev->completed) {
        if (hold_from_started)
            atomic_store(&hold_from, 1);
        atomic_store(&started, 1);
    }
}

static int run_windows(const char *out, const char *chk, const char *from, struct wt_stopper *stop,
                       struct weir_run_stats *st)
{
    weir_config *cfg = lines_config(chk);
    weir_job *job = weir_job_new("stopwin");
    struct weir_datagen_opts o = {.records = WIN_RECORDS,
                                  .keys = WIN_KEYS,
                                  .record_size = 24,
                                  .rate = 10000,
                                  .records_per_ms = 10};
    static const struct weir_watermark_strategy ws = {0};
    weir_stream *s = weir_assign_watermarks(weir_source_datagen(job, "gen", &o), &ws);
    s = weir_window_aggregate(weir_key_by(s, wt_datagen_key), "count", weir_tumbling(WIN_MS),
                              &weir_agg_count, NULL, NULL);
    weir_sink_file_exactly_once(s, "sink", out, format_window, ".csv");
    atomic_store(&started, 0);
    if (stop) {
        stop->ready = &started;
        wt_stopper_start(stop, job);
    }
    char err[1024] = "";
    int rc = wt_run(job, cfg, &(struct wt_run){.restore_from = from, .on_checkpoint = on_started},
                    st, err, sizeof err);
    if (rc < 0)
        fprintf(stderr, "run: %s\n", err);
    if (stop)
        wt_stopper_join(stop);
    weir_job_free(job);
    weir_config_free(cfg);
    return rc;
}

struct windows {
    unsigned char seen[WIN_KEYS][WINDOWS];
    uint64_t sum;
    int partial, n;
};

static void add_window(const char *path, const char *line, void *arg)
{
    struct windows *w = arg;
    uint64_t key;
    int64_t start, count;
    if (sscanf(line, "%" SCNu64 ",%" SCNd64 ",%" SCNd64, &key, &start, &count) != 3 ||
        key >= WIN_KEYS || start < 0 || start / WIN_MS >= WINDOWS)
        fail_msg("%s: malformed: %s", path, line);
    if (w->seen[key][start / WIN_MS]++)
        fail_msg("window key %" PRIu64 " at %" PRId64 " committed twice", key, start);
    w->sum += (uint64_t)count;
    w->partial += count != WIN_FULL;
    w->n++;
}

/* Sums the committed counts into *sum; returns how many windows are committed, failing on a
 * window committed twice, and counts in *partial those with fewer than WIN_FULL records. */
static int committed_windows(const char *dir, uint64_t *sum, int *partial)
{
    static struct windows w;
    memset(&w, 0, sizeof w);
    wt_committed_lines(dir, add_window, &w);
    *sum = w.sum;
    *partial = w.partial;
    return w.n;
}

/* Holds a source's step, once it loaded the trigger, until the coordinator has published
 * another: the stop's own (held_across set when the step had loaded an older one), or a
 * checkpoint's (then the next step is held). As a worker preempted at that point would be:
 * the step must act on the trigger it loaded, not on a newer one. */

static void hold_source_step(const _Atomic uint64_t *trigger, const _Atomic uint64_t *stop_id,
                             uint64_t loaded)
{
    if (!atomic_load(&hold_from) || atomic_load(&held_across))
        return;
    for (int i = 0; i < 300; i++) {
        uint64_t stop = atomic_load(stop_id), now = atomic_load(trigger);
        if (stop && now >= stop) {
            atomic_store(&held_across, loaded < stop);
            return;
        }
        if (now != loaded)
            return;
        usleep(10 * 1000);
    }
}

static void drain_stop(const char *name, bool hold)
{
    char dir[3][64];
    for (int i = 0; i < 3; i++)
        snprintf(dir[i], sizeof dir[i], "%s-%s", name, i == 0 ? "out" : i == 1 ? "chk" : "sp");
    const char *out = wt_tmp_dir(dir[0]), *chk = wt_tmp_dir(dir[1]);
    struct wt_stopper stop = {.dir = wt_tmp_dir(dir[2]), .drain = true, .after_ms = 300};
    static const struct chk_test_hooks hooks = {.source_step = hold_source_step};
    struct weir_run_stats st;
    atomic_store(&held_across, 0);
    atomic_store(&hold_from, 0);
    if (hold) { /* from the first completed checkpoint on, as the stopper waits for it */
        hold_from_started = true;
        chk_test_hooks = &hooks;
    }
    int rc = run_windows(out, chk, NULL, &stop, &st);
    chk_test_hooks = NULL;
    hold_from_started = false;
    assert_int_equal(rc, 0);
    wt_stopper_completed(&stop);
    if (hold && !atomic_load(&held_across))
        fail_msg("the source's step was not held across the stop's trigger");
    if (st.source_records == 0 || st.source_records >= WIN_RECORDS)
        fail_msg("the stop came at %" PRIu64 " records: not mid-stream", st.source_records);
    uint64_t sum;
    int partial;
    committed_windows(out, &sum, &partial);
    /* every record read is in a committed window: the open ones fired, partial */
    assert_int_equal(sum, st.source_records);
    assert_true(partial >= 1);
}

static void stop_with_drain_fires_every_window_before_the_savepoint(void **state)
{
    drain_stop("drain", false);
}

/* The stop's trigger is published while a source's step is between loading the trigger and
 * taking the barriers up to it (fresh-clone make test, ASan: 2000 of 3637 records read were
 * in committed windows, the savepoint's barrier having gone out before the maximal
 * watermark). */
static void a_drain_published_mid_step_still_fires_every_window(void **state)
{
    drain_stop("drainmid", true);
}

static void stop_without_drain_keeps_open_windows_for_the_resume(void **state)
{
    const char *out = wt_tmp_dir("nodrain-out"), *chk = wt_tmp_dir("nodrain-chk");
    struct wt_stopper stop = {.dir = wt_tmp_dir("nodrain-sp"), .after_ms = 300};
    struct weir_run_stats st;
    assert_int_equal(run_windows(out, chk, NULL, &stop, &st), 0);
    wt_stopper_completed(&stop);
    uint64_t sum;
    int partial;
    committed_windows(out, &sum, &partial);
    assert_int_equal(partial, 0); /* only windows the watermark passed fired */
    assert_true(sum < st.source_records);

    char from[4096];
    snprintf(from, sizeof from, "%s", stop.result);
    assert_int_equal(run_windows(out, chk, from, NULL, &st), 0);
    assert_int_equal(committed_windows(out, &sum, &partial), WIN_KEYS * WINDOWS);
    assert_int_equal(partial, 0); /* the windows open at the stop resumed from its state */
    assert_int_equal(sum, WIN_RECORDS);
}

/* A job that is not running (never run, or run to its end) cannot be stopped. */
static void a_job_not_running_is_not_stopped(void **state)
{
    weir_job *job = weir_job_new("idle");
    assert_int_equal(weir_job_stop_with_savepoint(job, NULL, false), -ESRCH);
    char why[256] = "x";
    assert_int_equal(weir_job_stop_status(job, why, sizeof why), WEIR_STOP_NONE);
    assert_string_equal(why, "");
    weir_job_free(job);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(stop_commits_up_to_the_savepoint_and_the_resume_completes_it),
        cmocka_unit_test(a_failed_savepoint_leaves_the_job_running),
        cmocka_unit_test(a_stop_waits_for_the_checkpoint_in_flight),
        cmocka_unit_test(a_stop_after_the_sources_finished_completes),
        cmocka_unit_test(stop_with_drain_fires_every_window_before_the_savepoint),
        cmocka_unit_test(a_drain_published_mid_step_still_fires_every_window),
        cmocka_unit_test(stop_without_drain_keeps_open_windows_for_the_resume),
        cmocka_unit_test(a_job_not_running_is_not_stopped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
