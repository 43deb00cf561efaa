/*
 * The run's worker-stall figures (weir_run_stats sync_ms_*) are those of the subtasks that
 * hold keyed state; the other subtasks' stalls (a source's position, a stateless operator)
 * are counted apart (other_*). Pooled, a source's near-zero stalls made half the snapshots
 * of a source -> keyed job, and its p50 was the source's. Here the keyed operator's snapshot
 * takes at least 30 ms of its worker's time and the source's takes next to none.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <weir/weir.h>

#include "weir_test.h"

#define KEYED_STALL_MS 30

static int pass(weir_ctx *ctx, void *state, int input, const weir_rec *in, weir_emit *out)
{
    return weir_emit_forward(out, in);
}

static int slow_snapshot(weir_ctx *ctx, void *state, uint64_t id, struct weir_snapshot_out *out)
{
    usleep(KEYED_STALL_MS * 1000);
    return out->write(out, &id, sizeof id);
}

static const struct weir_operator_ops slow_ops = {
    .kind = "slow", .process = pass, .snapshot = slow_snapshot};

static void stall_figures_are_the_keyed_subtasks_and_the_others_apart(void **state)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "state.checkpoints.dir=%s", wt_tmp_dir("sync-percentiles"));
    weir_job *job = weir_job_new("sync-percentiles");
    /* 1.5 s at 20 k records/s, a checkpoint every 100 ms */
    struct weir_datagen_opts o = {.records = 30000, .keys = 16, .record_size = 24, .rate = 20000};
    weir_stream *s = weir_key_by(weir_source_datagen(job, "gen", &o), wt_datagen_key);
    weir_sink_blackhole(weir_keyed_transform(s, "slow", &slow_ops, NULL, NULL), "sink");
    struct wt_run ro = {.defs = WT_DEFS(dir, "execution.checkpointing.interval=100ms")};
    struct weir_run_stats st;
    wt_run_ok(job, NULL, &ro, &st);
    weir_job_free(job);
    print_message("keyed: %llu snapshots, p50 %.3f p99 %.3f max %.3f ms; others: %llu snapshots, "
                  "p50 %.3f p99 %.3f max %.3f ms\n",
                  (unsigned long long)st.snapshots, st.sync_ms_p50, st.sync_ms_p99, st.sync_ms_max,
                  (unsigned long long)st.other_snapshots, st.other_sync_ms_p50,
                  st.other_sync_ms_p99, st.other_sync_ms_max);
    assert_true(st.snapshots >= 2);
    assert_true(st.other_snapshots >= 2); /* the source's, one per checkpoint */
    assert_true(st.sync_ms_p50 >= KEYED_STALL_MS * 0.9);
    assert_true(st.sync_ms_max >= st.sync_ms_p99 && st.sync_ms_p99 >= st.sync_ms_p50);
    assert_true(st.other_sync_ms_max >= st.other_sync_ms_p50);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(stall_figures_are_the_keyed_subtasks_and_the_others_apart),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
