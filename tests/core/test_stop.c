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
/* before it cancels, that snapshot holds its checkpoint this long, so that later ones are
 * triggered too (max-concurrent-checkpoints) and are in flight when the stop comes */
static atomic_int hold_ms = 0;

static int pass(weir_ctx *ctx, void *state, int input, const weir_rec *in, weir_emit *out)
{
    return weir_emit_forward(out, in);
}

static int cancelling_snapshot(weir_ctx *ctx, void *state, uint64_t id,
                               struct weir_snapshot_out *out)
{
    if (atomic_fetch_add(&snapshots, 1) + 1 == atomic_load(&cancel_at)) {
        usleep((useconds_t)atomic_load(&hold_ms) * 1000u);
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

/* A counting source whose position is its state: one record per poll, 2 ms apart, at -p 2.
 * At position stop_at, subtask 0's poll holds its worker 300 ms (six checkpoint intervals:
 * the next checkpoint is triggered meanwhile, and subtask 1 takes it) and then stops the job,
 * so that subtask 0 ends for the stop without having taken that checkpoint. Subtask 1's sink
 * takes 300 ms to end once stopping (a sink flushing), so the job is still running when
 * subtask 0 has finished. Without stop_at each subtask ends at position end_at. */
struct counter {
    uint64_t pos;
};
static atomic_ullong stop_at, end_at, polled[2];

static int counter_poll(weir_ctx *ctx, void *st, weir_emit *out, uint32_t max, uint32_t *emitted)
{
    struct counter *c = st;
    int sub = weir_ctx_subtask(ctx);
    *emitted = 0;
    if (atomic_load(&end_at) && c->pos >= atomic_load(&end_at))
        return WEIR_SOURCE_DONE;
    if (sub == 0 && atomic_load(&stop_at) && c->pos == atomic_load(&stop_at)) {
        usleep(300 * 1000);
        weir_job_cancel(running);
    } else {
        usleep(2000);
    }
    int rc = weir_emit_copy(out, (int64_t)c->pos, &c->pos, sizeof c->pos);
    if (rc < 0)
        return rc;
    c->pos++;
    atomic_fetch_add(&polled[sub & 1], 1);
    *emitted = 1;
    return WEIR_SOURCE_MORE;
}

static int counter_snapshot(weir_ctx *ctx, void *st, uint64_t id, struct weir_snapshot_out *out)
{
    return out->write(out, st, sizeof(struct counter));
}

static int counter_restore(weir_ctx *ctx, void *st, struct weir_snapshot_in *in)
{
    return in->read(in, st, sizeof(struct counter));
}

static const struct weir_source_ops counter_ops = {.kind = "counter",
                                                   .state_size = sizeof(struct counter),
                                                   .poll = counter_poll,
                                                   .snapshot = counter_snapshot,
                                                   .restore = counter_restore};

static int drop(weir_ctx *ctx, void *state, int input, const weir_rec *in, weir_emit *out)
{
    return 0;
}

static int slow_end_when_stopping(weir_ctx *ctx, void *state, weir_emit *out)
{
    if (weir_ctx_subtask(ctx) == 1 && weir_ctx_stopping(ctx))
        usleep(300 * 1000);
    return 0;
}

static const struct weir_operator_ops slow_end_sink = {
    .kind = "slow-end", .process = drop, .end = slow_end_when_stopping};

static int run_counter(const char *dir, const char *restore_from, struct weir_run_stats *st)
{
    weir_config *cfg = wt_config_new(WT_DEFS("restart-strategy.type=none"));
    wt_config_set(cfg, "execution.checkpointing.interval=50ms");
    wt_config_set(cfg, "state.checkpoints.dir=%s", dir);
    wt_config_resolve(cfg);
    weir_job *job = weir_job_new("stop-counter");
    running = job;
    weir_sink(weir_source(job, "counter", &counter_ops, NULL), "sink", &slow_end_sink, NULL);
    char err[1024] = "";
    atomic_store(&polled[0], 0);
    atomic_store(&polled[1], 0);
    int rc =
        wt_run(job, cfg,
               &(struct wt_run){
                   .parallelism = 2, .restore_from = restore_from, .on_checkpoint = on_checkpoint},
               st, err, sizeof err);
    if (rc != 0)
        print_message("run: %s\n", err);
    running = NULL;
    weir_job_free(job);
    weir_config_free(cfg);
    return rc;
}

/* The checkpoint triggered while subtask 0's source was busy waits on it; the source then
 * ends for the stop without taking it. That checkpoint must not complete with the source
 * recorded as finished (it was cut short, not at its end), or a resume from it would read
 * no more of subtask 0's input: the resumed run goes on from where the stopped one was. */
static void a_stop_before_a_source_took_a_checkpoint_does_not_finish_it(void **state)
{
    const char *dir = wt_tmp_dir("stop-counter");
    struct weir_run_stats st;
    memset(&seen, 0, sizeof seen);
    atomic_store(&stop_at, 100);
    atomic_store(&end_at, 0);
    assert_int_equal(run_counter(dir, NULL, &st), 0);
    assert_true(st.cancelled);
    assert_true(st.checkpoints_completed >= 1);
    for (int i = 0; i < seen.n; i++)
        print_message("checkpoint %" PRIu64 ": %s\n", seen.ev[i].id,
                      seen.ev[i].completed ? "completed" : seen.reason[i]);
    atomic_store(&stop_at, 0);
    atomic_store(&end_at, 400);
    assert_int_equal(run_counter(dir, "latest", &st), 0);
    assert_false(st.cancelled);
    /* subtask 0 stopped at position 101 at most: it reads on to 400 */
    if (atomic_load(&polled[0]) < 299)
        fail_msg("the resumed run's subtask 0 read %llu records, from checkpoint %" PRIu64
                 ": it was restored as finished",
                 (unsigned long long)atomic_load(&polled[0]), st.restored_checkpoint);
}

/* With tolerable-failed-checkpoints 0 and max-concurrent-checkpoints 3, the stop comes while
 * three checkpoints are in flight: each is cancelled, none counted failed, and the run ends
 * stopped, not failed. */
static void a_stop_with_several_checkpoints_in_flight_fails_none(void **state)
{
    struct weir_run_stats st;
    char err[1024] = "";
    atomic_store(&hold_ms, 400); /* 8 intervals: two more checkpoints start meanwhile */
    int rc = run_and_cancel(WT_DEFS("restart-strategy.type=none",
                                    "execution.checkpointing.max-concurrent-checkpoints=3"),
                            &st, err, sizeof err);
    atomic_store(&hold_ms, 0);
    if (rc != 0)
        fail_msg("the stopped job returned %d: %s", rc, err);
    assert_true(st.cancelled);
    assert_int_equal(st.checkpoints_failed, 0);
    int cancelled = 0;
    for (int i = 0; i < seen.n; i++)
        if (!seen.ev[i].completed) {
            assert_string_equal(seen.reason[i], "cancelled: the job is stopping");
            cancelled++;
        }
    assert_int_equal(cancelled, 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cancel_during_a_checkpoint_stops_the_job_without_failing_it),
        cmocka_unit_test(a_checkpoint_cancelled_by_a_stop_is_not_counted_failed),
        cmocka_unit_test(a_checkpoint_cancelled_by_a_stop_is_reported_as_cancelled),
        cmocka_unit_test(a_stop_with_several_checkpoints_in_flight_fails_none),
        cmocka_unit_test(a_stop_before_a_source_took_a_checkpoint_does_not_finish_it),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
