/*
 * Subtasks that finish one after another while checkpoints are in flight (FLIP-147's
 * handover, issue 9): the control thread acks a checkpoint for a task that has just gone
 * DONE (ack_finished: its operators' state, the sink's staged files) while other tasks'
 * workers still snapshot the same checkpoint and later ones are triggered; completed
 * checkpoints then deliver checkpoint_complete to the finished sinks from the control thread.
 * The job: a file source at parallelism 4 -> an operator slower the higher its subtask ->
 * weir_sink_file_exactly_once, checkpoints every 10 ms, up to 4 at once, so that subtasks
 * finish about 250 ms apart across many checkpoints. Every line must be committed once; run
 * under ThreadSanitizer (make test-tsan), a race in the handover fails it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <weir/config.h>
#include <weir/weir.h>

#include "weir_test.h"

#define LINES    4000 /* lines 0 .. LINES-1, "line-%05d" */
#define ROUNDS   3
#define PARALLEL 4

/* Subtask s sleeps s * 250 us a record: with LINES / PARALLEL records each, subtasks end
 * about 250 ms apart. */
static int staggered_process(weir_ctx *ctx, void *st, int input, const weir_rec *in, weir_emit *out)
{
    int s = weir_ctx_subtask(ctx);
    if (s > 0)
        usleep((useconds_t)(250 * s));
    return weir_emit_forward(out, in);
}

static const struct weir_operator_ops staggered_ops = {.kind = "staggered",
                                                       .process = staggered_process};

static void run_once(const char *path, int round)
{
    char tag[32];
    snprintf(tag, sizeof tag, "out-%d", round);
    const char *outdir = wt_tmp_dir(tag);
    weir_config *cfg = wt_config_new(WT_DEFS("execution.checkpointing.interval=10ms",
                                             "execution.checkpointing.max-concurrent-checkpoints=4",
                                             "restart-strategy.type=none"));
    snprintf(tag, sizeof tag, "chk-%d", round);
    wt_config_set(cfg, "state.checkpoints.dir=%s", wt_tmp_dir(tag));
    wt_config_resolve(cfg);

    weir_job *job = weir_job_new("finished-during-checkpoint");
    weir_stream *s =
        weir_transform(weir_source_file(job, "lines", path), "staggered", &staggered_ops, NULL);
    weir_sink_file_exactly_once(s, "out", outdir, NULL, ".txt");
    struct weir_run_stats st;
    wt_run_ok(job, cfg, &(struct wt_run){.parallelism = PARALLEL}, &st);
    print_message("round %d: %llu checkpoints completed\n", round,
                  (unsigned long long)st.checkpoints_completed);
    /* the last subtask runs about 750 ms: checkpoints were in flight while others ended */
    assert_true(st.checkpoints_completed >= 2);

    wt_assert_lines_once(outdir, LINES);
    weir_job_free(job);
    weir_config_free(cfg);
}

static void subtasks_finishing_during_checkpoints_commit_every_line_once(void **state)
{
    char path[4096];
    snprintf(path, sizeof path, "%s", wt_lines_file("in", LINES));
    for (int round = 0; round < ROUNDS; round++)
        run_once(path, round);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(subtasks_finishing_during_checkpoints_commit_every_line_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
