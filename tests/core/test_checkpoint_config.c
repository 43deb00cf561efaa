/*
 * The checkpoint coordinator's settings, exercised rather than read back as defaults
 * (tests/storage/test_config.c checks those): execution.checkpointing.min-pause keeps a gap
 * between one checkpoint's end and the next trigger, execution.checkpointing.timeout expires
 * a checkpoint that cannot finish and counts it failed, and
 * execution.checkpointing.max-concurrent-checkpoints bounds how many are in flight. And
 * weir_run_opts.on_checkpoint itself: each checkpoint reported once as it ends, ids
 * increasing, the final one last.
 *
 * What a checkpoint did is read from its on_checkpoint event: it ended when the event came
 * (monotonic clock, on the control thread) and was triggered duration_ms before. The control
 * thread ticks every 20 ms and durations are whole milliseconds, so every assertion is an
 * ordering or an inequality with a margin, never an exact time.
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <weir/config.h>
#include <weir/weir.h>

#include "weir_test.h"

/* Slack for the clock readings of one event (callback latency, whole-ms durations). */
#define MARGIN_MS 5

/* ---- what on_checkpoint reported ------------------------------------------------------- */

#define MAX_EVENTS 4096

struct event {
    struct weir_checkpoint_event ev; /* reason copied below, the rest as reported */
    char reason[256];
    double end_ms; /* monotonic clock when reported */
};

static struct {
    struct event v[MAX_EVENTS];
    int n;
    int overflow;
} seen;

static double mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Runs on the control thread, one call at a time; the test reads seen after the run. */
static void on_checkpoint(void *arg, const struct weir_checkpoint_event *ev)
{
    if (seen.n == MAX_EVENTS) {
        seen.overflow++;
        return;
    }
    struct event *e = &seen.v[seen.n++];
    e->end_ms = mono_ms();
    e->ev = *ev;
    snprintf(e->reason, sizeof e->reason, "%s", ev->reason ? ev->reason : "");
    e->ev.reason = NULL;
}

static double start_ms(const struct event *e)
{
    return e->end_ms - (double)e->ev.duration_ms;
}

/* ---- the job: a paced source, an operator whose snapshot can be slow, a sink ----------- */

static atomic_int slow_snapshot_ms; /* each snapshot of the "slow" operator sleeps this long */
static atomic_int slow_snapshots;   /* ... for this many snapshots; -1: all */

static int pass(weir_ctx *ctx, void *state, int input, const weir_rec *in, weir_emit *out)
{
    return weir_emit_forward(out, in);
}

static int slow_snapshot(weir_ctx *ctx, void *state, uint64_t id, struct weir_snapshot_out *out)
{
    int left = atomic_load(&slow_snapshots);
    if (left != 0) {
        if (left > 0)
            atomic_fetch_sub(&slow_snapshots, 1);
        usleep((useconds_t)atomic_load(&slow_snapshot_ms) * 1000);
    }
    uint64_t v = id;
    return out->write(out, &v, sizeof v);
}

static const struct weir_operator_ops slow_ops = {
    .kind = "slow", .process = pass, .snapshot = slow_snapshot};

/* records at rate per second (so the job lasts records / rate seconds), through "slow" in a
 * task of its own (key_by is never chained), into a blackhole; checkpointing as defs say. */
static int run_job(uint64_t records, double rate, const char *const *defs,
                   struct weir_run_stats *st, char *err, size_t errlen)
{
    memset(&seen, 0, sizeof seen);
    weir_config *cfg = wt_config_new(defs);
    wt_config_set(cfg, "state.checkpoints.dir=%s", wt_tmp_dir("checkpoint-config"));
    wt_config_resolve(cfg);
    weir_job *job = weir_job_new("ckpt");
    struct weir_datagen_opts o = {.records = records, .keys = 16, .record_size = 24, .rate = rate};
    weir_stream *s = weir_key_by(weir_source_datagen(job, "gen", &o), wt_datagen_key);
    weir_sink_blackhole(weir_keyed_transform(s, "slow", &slow_ops, NULL, NULL), "sink");
    struct wt_run ro = {.on_checkpoint = on_checkpoint};
    int rc = wt_run(job, cfg, &ro, st, err, errlen);
    weir_job_free(job);
    weir_config_free(cfg);
    assert_int_equal(seen.overflow, 0);
    return rc;
}

static void run_job_ok(uint64_t records, double rate, const char *const *defs,
                       struct weir_run_stats *st)
{
    char err[1024] = "";
    if (run_job(records, rate, defs, st, err, sizeof err) != 0)
        fail_msg("%s", err);
}

static int count_completed(bool final)
{
    int n = 0;
    for (int i = 0; i < seen.n; i++)
        n += seen.v[i].ev.completed && seen.v[i].ev.final == final;
    return n;
}

/* ---- on_checkpoint --------------------------------------------------------------------- */

static void on_checkpoint_reports_each_checkpoint_once_in_id_order(void **state)
{
    atomic_store(&slow_snapshots, 0);
    struct weir_run_stats st;
    run_job_ok(20000, 20000, WT_DEFS("execution.checkpointing.interval=50ms"), &st);
    assert_true(count_completed(false) >= 3); /* a second of 50 ms intervals */
    uint64_t completed = 0, failed = 0;
    for (int i = 0; i < seen.n; i++) {
        const struct weir_checkpoint_event *e = &seen.v[i].ev;
        if (i > 0)
            assert_true(e->id > seen.v[i - 1].ev.id); /* strictly increasing: none twice */
        assert_false(e->savepoint);
        assert_int_equal(e->final, i == seen.n - 1); /* the final one, and only it, last */
        if (e->completed) {
            completed++;
            assert_string_equal(seen.v[i].reason, "");
        } else {
            failed++;
        }
    }
    assert_true(seen.v[seen.n - 1].ev.completed);
    assert_true(seen.v[seen.n - 1].ev.size_bytes > 0); /* the slow operator wrote its id */
    /* every checkpoint the run counted was reported, once */
    assert_int_equal(completed, st.checkpoints_completed);
    assert_int_equal(failed, st.checkpoints_failed);
    assert_int_equal(seen.v[seen.n - 1].ev.id, st.last_checkpoint_id);
}

static void no_checkpointing_reports_nothing(void **state)
{
    atomic_store(&slow_snapshots, 0);
    struct weir_run_stats st;
    run_job_ok(2000, 0, NULL, &st);
    assert_int_equal(seen.n, 0);
    assert_int_equal(st.checkpoints_completed, 0);
}

/* ---- min-pause ------------------------------------------------------------------------- */

static void min_pause_separates_a_checkpoint_end_from_the_next_trigger(void **state)
{
    const int min_pause_ms = 150;
    atomic_store(&slow_snapshots, 0);
    struct weir_run_stats st;
    /* The interval alone would trigger at every 20 ms tick. */
    run_job_ok(
        30000, 20000,
        WT_DEFS("execution.checkpointing.interval=10ms", "execution.checkpointing.min-pause=150ms"),
        &st);
    int gaps = 0;
    for (int i = 1; i < seen.n; i++) {
        const struct event *prev = &seen.v[i - 1], *e = &seen.v[i];
        if (e->ev.final)
            continue; /* taken when the input ended, not by the interval */
        double gap = start_ms(e) - prev->end_ms;
        if (gap < min_pause_ms - MARGIN_MS)
            fail_msg("checkpoint %" PRIu64 " triggered %.1f ms after checkpoint %" PRIu64
                     " ended; min-pause is %d ms",
                     e->ev.id, gap, prev->ev.id, min_pause_ms);
        gaps++;
    }
    /* 1.5 s of input: several pauses, far fewer checkpoints than 10 ms intervals */
    assert_true(gaps >= 3);
    assert_true(st.checkpoints_completed <= (uint64_t)(1500 / min_pause_ms + 2));
}

/* ---- timeout --------------------------------------------------------------------------- */

static void checkpoint_over_the_timeout_expires_and_counts_failed(void **state)
{
    /* The first snapshot of "slow" takes 1 s; the timeout is 200 ms. */
    atomic_store(&slow_snapshot_ms, 1000);
    atomic_store(&slow_snapshots, 1);
    struct weir_run_stats st;
    run_job_ok(40000, 20000,
               WT_DEFS("execution.checkpointing.interval=50ms",
                       "execution.checkpointing.timeout=200ms",
                       "execution.checkpointing.tolerable-failed-checkpoints=100"),
               &st);
    const struct event *expired = NULL;
    for (int i = 0; i < seen.n && !expired; i++)
        if (!seen.v[i].ev.completed)
            expired = &seen.v[i];
    if (!expired)
        fail_msg("no checkpoint expired (%d reported, %" PRIu64 " completed)", seen.n,
                 st.checkpoints_completed);
    print_message("expired: checkpoint %" PRIu64 " after %" PRIu64 " ms: %s\n", expired->ev.id,
                  expired->ev.duration_ms, expired->reason);
    assert_true(expired->ev.duration_ms >= 200);
    /* the reason names the timeout and its key, not errno's "Connection timed out" */
    assert_string_equal(expired->reason, "expired after 200 ms (execution.checkpointing.timeout)");
    assert_true(st.checkpoints_failed >= 1);
    assert_int_equal(st.checkpoints_failed,
                     (uint64_t)(seen.n - count_completed(false) - count_completed(true)));
    /* the job went on: later checkpoints, the final one included, completed */
    assert_true(count_completed(false) >= 1);
    assert_int_equal(count_completed(true), 1);
    assert_true(seen.v[seen.n - 1].ev.id > expired->ev.id);
}

/* ---- max-concurrent-checkpoints -------------------------------------------------------- */

/* The most checkpoints in flight at one time, each counted from trigger to end, shrunk by
 * MARGIN_MS at both ends so that one ending and the next starting in the same tick do not
 * count as overlapping. */
static int max_in_flight(void)
{
    int most = 0;
    for (int i = 0; i < seen.n; i++) {
        /* at the moment checkpoint i started: those started before and not yet ended */
        double t = start_ms(&seen.v[i]) + MARGIN_MS;
        int n = 0;
        for (int j = 0; j < seen.n; j++)
            n += start_ms(&seen.v[j]) + MARGIN_MS <= t && seen.v[j].end_ms - MARGIN_MS > t;
        if (n > most)
            most = n;
    }
    return most;
}

static void max_concurrent_bounds_the_checkpoints_in_flight(void **state)
{
    /* Every snapshot of "slow" takes 100 ms and the interval is 10 ms: without the bound
     * a new checkpoint would start at every tick while others wait for "slow". */
    atomic_store(&slow_snapshot_ms, 100);
    atomic_store(&slow_snapshots, -1);
    struct weir_run_stats st;
    run_job_ok(30000, 20000,
               WT_DEFS("execution.checkpointing.interval=10ms",
                       "execution.checkpointing.max-concurrent-checkpoints=2",
                       "execution.checkpointing.timeout=5s"),
               &st);
    atomic_store(&slow_snapshots, 0);
    int most = max_in_flight();
    print_message("%d checkpoints, at most %d in flight\n", seen.n, most);
    assert_true(count_completed(false) >= 3);
    assert_true(most <= 2);
    assert_int_equal(most, 2); /* the bound was reached: the setting, not slowness, held it */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(on_checkpoint_reports_each_checkpoint_once_in_id_order),
        cmocka_unit_test(no_checkpointing_reports_nothing),
        cmocka_unit_test(min_pause_separates_a_checkpoint_end_from_the_next_trigger),
        cmocka_unit_test(checkpoint_over_the_timeout_expires_and_counts_failed),
        cmocka_unit_test(max_concurrent_bounds_the_checkpoints_in_flight),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
