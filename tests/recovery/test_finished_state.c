/*
 * A subtask that finishes early keeps its state in every later checkpoint (issue 9, as
 * Flink's FLIP-147): what an exactly-once sink staged at end of input is listed by every
 * checkpoint taken after, so a restore from one of them commits it. Before, such a
 * checkpoint held only a "finished" marker for the subtask: the restore skipped the sink's
 * hook and the staged file stayed .pending, never committed, while the job ended with
 * success.
 *
 * The job: a file source at parallelism 2 (subtask 1 reads the second half and finishes at
 * once) -> an operator slow on subtask 0 only -> weir_sink_file_exactly_once. Subtask 0 fails
 * once, after a checkpoint taken when subtask 1 had finished completed; the job restarts
 * in-process from the latest checkpoint.
 */
#include <errno.h>
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

#define LINES 40000 /* lines 0 .. LINES-1, "line-%05d" */

static atomic_int ended_1; /* the slow operator's subtask 1 reached end of input */
static atomic_int armed;   /* a checkpoint completed after ended_1 */
static atomic_int ready;   /* one completed after that: it was taken with subtask 1 done */
static atomic_int fail_budget;

static void on_checkpoint(void *arg, const struct weir_checkpoint_event *ev)
{
    if (!ev->completed || ev->savepoint)
        return;
    /* max-concurrent-checkpoints=1: the checkpoint after `armed` was triggered after
     * subtask 1's end of input */
    if (atomic_load(&armed))
        atomic_store(&ready, 1);
    if (atomic_load(&ended_1))
        atomic_store(&armed, 1);
}

/* Slow on subtask 0 until a checkpoint with subtask 1 finished completed, then fails once
 * there. */
static int slow_process(weir_ctx *ctx, void *st, int input, const weir_rec *in, weir_emit *out)
{
    if (weir_ctx_subtask(ctx) == 0) {
        if (!atomic_load(&ready)) {
            usleep(1000);
        } else if (atomic_fetch_sub(&fail_budget, 1) > 0) {
            weir_ctx_fail(ctx, "injected failure after subtask 1 finished");
            return -EIO;
        }
    }
    return weir_emit_forward(out, in);
}

static int slow_end(weir_ctx *ctx, void *st, weir_emit *out)
{
    if (weir_ctx_subtask(ctx) == 1)
        atomic_store(&ended_1, 1);
    return 0;
}

static const struct weir_operator_ops slow_ops = {
    .kind = "slow-on-0", .process = slow_process, .end = slow_end};

static void early_finished_subtask_output_is_committed_after_a_restart(void **state)
{
    char path[4096];
    snprintf(path, sizeof path, "%s", wt_lines_file("in", LINES));
    const char *outdir = wt_tmp_dir("out");

    weir_config *cfg = wt_config_new(WT_DEFS(
        "execution.checkpointing.interval=50ms",
        "execution.checkpointing.max-concurrent-checkpoints=1", "restart-strategy.type=fixed-delay",
        "restart-strategy.fixed-delay.attempts=1", "restart-strategy.fixed-delay.delay=50ms"));
    wt_config_set(cfg, "state.checkpoints.dir=%s", wt_tmp_dir("chk"));
    wt_config_resolve(cfg);
    atomic_store(&ended_1, 0);
    atomic_store(&armed, 0);
    atomic_store(&ready, 0);
    atomic_store(&fail_budget, 1);

    weir_job *job = weir_job_new("finished-early");
    weir_stream *s = weir_transform(weir_source_file(job, "lines", path), "slow", &slow_ops, NULL);
    weir_sink_file_exactly_once(s, "out", outdir, NULL, ".txt");
    struct weir_run_stats st;
    wt_run_ok(job, cfg, &(struct wt_run){.parallelism = 2, .on_checkpoint = on_checkpoint}, &st);
    assert_int_equal(st.restarts, 1); /* the failure was injected, after subtask 1 finished */

    wt_assert_lines_once(outdir, LINES);
    weir_job_free(job);
    weir_config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(early_finished_subtask_output_is_committed_after_a_restart),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
