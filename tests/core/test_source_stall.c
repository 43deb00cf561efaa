/*
 * A source that misses checkpoint triggers (issue 9's hardening, found by a TSan run of q11
 * on RocksDB with max-concurrent-checkpoints 3): the coordinator publishes only the newest
 * id in rt->chk.trigger, so a source whose worker was busy for two trigger intervals (a long
 * synchronous snapshot of another task on its worker, here a stall in a chained operator)
 * saw only the last one. It never took the checkpoints in between, which then waited for its
 * ack until execution.checkpointing.timeout, and a downstream task that received one of them
 * from the other source aligned on it, abandoned it for the skipping source's newer barrier,
 * then blocked an input on the older barrier's late twin (chk_on_barrier's assertion).
 *
 * The job: a file source at parallelism 2 -> an operator that stalls subtask 0 for 400 ms
 * every 1250 records and slows subtask 1 a little -> key_by -> an exactly-once file sink at
 * parallelism 2 (two inputs each), checkpoints every 10 ms, up to 4 at once, 2 s timeout.
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

#define LINES 20000 /* lines 0 .. LINES-1, "line-%05d" */

static int stall_process(weir_ctx *ctx, void *st, int input, const weir_rec *in, weir_emit *out)
{
    static _Thread_local unsigned long n; /* only subtask 0 counts, on its worker thread */
    if (weir_ctx_subtask(ctx) == 0) {
        if (++n % 1250 == 0)
            usleep(400000);
    } else {
        usleep(50);
    }
    return weir_emit_forward(out, in);
}

static const struct weir_operator_ops stall_ops = {.kind = "stall", .process = stall_process};

static uint64_t line_key(const weir_rec *r)
{
    uint64_t h = 1469598103934665603ull;
    for (uint32_t i = 0; i < r->len; i++)
        h = (h ^ ((const unsigned char *)r->data)[i]) * 1099511628211ull;
    return h;
}

static void a_source_that_misses_triggers_takes_every_checkpoint(void **state)
{
    char path[4096];
    snprintf(path, sizeof path, "%s", wt_lines_file("in", LINES));
    const char *outdir = wt_tmp_dir("out");

    weir_config *cfg =
        wt_config_new(WT_DEFS("execution.checkpointing.interval=10ms",
                              "execution.checkpointing.max-concurrent-checkpoints=4",
                              "execution.checkpointing.timeout=2s", "restart-strategy.type=none"));
    wt_config_set(cfg, "state.checkpoints.dir=%s", wt_tmp_dir("chk"));
    wt_config_resolve(cfg);

    weir_job *job = weir_job_new("source-stall");
    weir_stream *s =
        weir_transform(weir_source_file(job, "lines", path), "stall", &stall_ops, NULL);
    weir_sink_file_exactly_once(weir_key_by(s, line_key), "out", outdir, NULL, ".txt");
    struct weir_run_stats st;
    wt_run_ok(job, cfg, &(struct wt_run){.parallelism = 2}, &st);
    print_message("%llu checkpoints completed, %llu failed\n",
                  (unsigned long long)st.checkpoints_completed,
                  (unsigned long long)st.checkpoints_failed);
    assert_int_equal(st.checkpoints_failed, 0);

    wt_assert_lines_once(outdir, LINES);
    weir_job_free(job);
    weir_config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_source_that_misses_triggers_takes_every_checkpoint),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
