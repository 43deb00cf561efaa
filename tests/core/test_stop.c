/*
 * Stopping a job (weir_job_cancel: what SIGTERM and SIGINT do in `weir run`) is not a
 * failure, even while a checkpoint is in flight: that checkpoint is cancelled, reported
 * with a reason that says so, not counted failed nor against
 * execution.checkpointing.tolerable-failed-checkpoints, and the run returns 0, cancelled.
 *
 * The cancel comes from inside the snapshot of a slow operator, so that the checkpoint is
 * in flight when the coordinator sees it (that task has not acked it), whatever the
 * machine's speed; the snapshot then sleeps long enough for the control thread to tick
 * several times before the task ends.
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
#include <unistd.h>

#include <weir/config.h>
#include <weir/weir.h>

#include "weir_test.h"

#define MAX_EVENTS 256

static struct {
    struct weir_checkpoint_event ev[MAX_EVENTS];
    char reason[MAX_EVENTS][256];
    int n;
} seen;

static void on_checkpoint(void *arg, const struct weir_checkpoint_event *ev)
{
    if (seen.n == MAX_EVENTS)
        return;
    seen.ev[seen.n] = *ev;
    snprintf(seen.reason[seen.n], sizeof seen.reason[0], "%s", ev->reason ? ev->reason : "");
    seen.ev[seen.n].reason = NULL;
    seen.n++;
}

static weir_job *running;        /* the job the slow snapshot cancels */
static atomic_int snapshots;     /* snapshots of "slow" taken so far */
static atomic_int cancel_at = 2; /* the snapshot that cancels the job (1-based) */

static int pass(weir_ctx *ctx, void *state, int input, const weir_rec *in, weir_emit *out)
{
    return weir_emit_forward(out, in);
}

static int cancelling_snapshot(weir_ctx *ctx, void *state, uint64_t id,
                               struct weir_snapshot_out *out)
{
    if (atomic_fetch_add(&snapshots, 1) + 1 == atomic_load(&cancel_at)) {
        weir_job_cancel(running);
        usleep(400 * 1000); /* 20 control ticks with the checkpoint still in flight */
    }
    uint64_t v = id;
    return out->write(out, &v, sizeof v);
}

static const struct weir_operator_ops slow_ops = {
    .kind = "slow", .process = pass, .snapshot = cancelling_snapshot};

/* An unbounded-looking paced source (it would run 50 s) through "slow" into a blackhole,
 * checkpointing every 50 ms; the second snapshot of "slow" cancels the job. */
static int run_and_cancel(const char *const *defs, struct weir_run_stats *st, char *err,
                          size_t errlen)
{
    memset(&seen, 0, sizeof seen);
    atomic_store(&snapshots, 0);
    weir_config *cfg = wt_config_new(defs);
    wt_config_set(cfg, "execution.checkpointing.interval=50ms");
    wt_config_set(cfg, "state.checkpoints.dir=%s", wt_tmp_dir("stop"));
    wt_config_resolve(cfg);
    weir_job *job = weir_job_new("stop");
    running = job;
    struct weir_datagen_opts o = {.records = 1000000, .keys = 16, .record_size = 24, .rate = 20000};
    weir_stream *s = weir_key_by(weir_source_datagen(job, "gen", &o), wt_datagen_key);
    weir_sink_blackhole(weir_keyed_transform(s, "slow", &slow_ops, NULL, NULL), "sink");
    int rc = wt_run(job, cfg, &(struct wt_run){.on_checkpoint = on_checkpoint}, st, err, errlen);
    running = NULL;
    weir_job_free(job);
    weir_config_free(cfg);
    return rc;
}

static void cancel_during_a_checkpoint_stops_the_job_without_failing_it(void **state)
{
    struct weir_run_stats st;
    char err[1024] = "";
    /* tolerable-failed-checkpoints is 0 by default: one failed checkpoint fails the job */
    int rc = run_and_cancel(WT_DEFS("restart-strategy.type=none"), &st, err, sizeof err);
    if (rc != 0)
        fail_msg("the stopped job returned %d: %s", rc, err);
    assert_true(st.cancelled);
    assert_int_equal(st.restarts, 0);
    assert_true(st.source_records < 1000000); /* it stopped, it did not run to the end */
}

static void a_checkpoint_cancelled_by_a_stop_is_not_counted_failed(void **state)
{
    struct weir_run_stats st;
    char err[1024] = "";
    int rc = run_and_cancel(WT_DEFS("restart-strategy.type=none",
                                    "execution.checkpointing.tolerable-failed-checkpoints=100"),
                            &st, err, sizeof err);
    if (rc != 0)
        fail_msg("the stopped job returned %d: %s", rc, err);
    assert_int_equal(st.checkpoints_failed, 0);
}

static void a_checkpoint_cancelled_by_a_stop_is_reported_as_cancelled(void **state)
{
    struct weir_run_stats st;
    char err[1024] = "";
    run_and_cancel(WT_DEFS("restart-strategy.type=none",
                           "execution.checkpointing.tolerable-failed-checkpoints=100"),
                   &st, err, sizeof err);
    int cancelled = 0;
    for (int i = 0; i < seen.n; i++) {
        if (seen.ev[i].completed)
            continue;
        print_message("checkpoint %" PRIu64 ": %s\n", seen.ev[i].id, seen.reason[i]);
        assert_string_equal(seen.reason[i], "cancelled: the job is stopping");
        cancelled++;
    }
    assert_int_equal(cancelled, 1); /* the one "slow" was snapshotting */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cancel_during_a_checkpoint_stops_the_job_without_failing_it),
        cmocka_unit_test(a_checkpoint_cancelled_by_a_stop_is_not_counted_failed),
        cmocka_unit_test(a_checkpoint_cancelled_by_a_stop_is_reported_as_cancelled),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
