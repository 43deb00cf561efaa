/*
 * A full RocksDB checkpoint (state.backend.incremental: false) or savepoint serializes its
 * keyed state off the worker (snapshot.c: a RocksDB snapshot pinned on the worker, written
 * on a writer thread): the worker's stall (the synchronous part, weir_run_stats sync_ms_*)
 * stays far below what writing the state takes (the checkpoint's duration). Before, every
 * entry was serialized on the worker, and the stall was most of the checkpoint. Bounds are
 * generous (a quarter) for a loaded machine.
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <weir/config.h>
#include <weir/weir.h>

#include "weir_test.h"

#define KEYS 80000

struct keep {
    weir_value_state *v;
};

struct val {
    uint64_t key, n;
    unsigned char pad[240]; /* about 20 MiB of state at KEYS */
};

static int keep_open(weir_ctx *ctx, void *s, void *arg)
{
    ((struct keep *)s)->v =
        weir_value_state_get(weir_ctx_state(ctx), "v", sizeof(struct val), NULL);
    return ((struct keep *)s)->v ? 0 : -ENOMEM;
}

static int keep_process(weir_ctx *ctx, void *s, int input, const weir_rec *in, weir_emit *out)
{
    const struct val *got = weir_value_get(((struct keep *)s)->v);
    struct val v = {.key = wt_datagen_key(in), .n = got ? got->n + 1 : 1};
    memset(v.pad, (int)(v.n & 0xff), sizeof v.pad);
    return weir_value_put(((struct keep *)s)->v, &v);
}

static const struct weir_operator_ops keep_ops = {
    .kind = "keep", .state_size = sizeof(struct keep), .open = keep_open, .process = keep_process};

static uint64_t max_duration_ms, completed;

static void on_checkpoint(void *arg, const struct weir_checkpoint_event *ev)
{
    if (!ev->completed)
        return;
    completed++;
    if (ev->duration_ms > max_duration_ms)
        max_duration_ms = ev->duration_ms;
}

static void full_rocksdb_checkpoint_does_not_stall_the_worker(void **state)
{
    max_duration_ms = completed = 0;
    char dir[4096];
    snprintf(dir, sizeof dir, "state.checkpoints.dir=%s", wt_tmp_dir("rocks-full-async"));
    weir_job *job = weir_job_new("rocks-full-async");
    /* every key written three times, paced over about 3 s: checkpoints of the whole state */
    struct weir_datagen_opts o = {
        .records = 3 * KEYS, .keys = KEYS, .record_size = 24, .rate = KEYS};
    weir_stream *s = weir_key_by(weir_source_datagen(job, "gen", &o), wt_datagen_key);
    weir_sink_blackhole(weir_keyed_transform(s, "keep", &keep_ops, NULL, NULL), "sink");
    struct weir_run_stats st;
    wt_run_ok(job, NULL,
              &(struct wt_run){.backend = "rocksdb",
                               .defs = WT_DEFS(dir, "execution.checkpointing.interval=300ms",
                                               "state.backend.incremental=false",
                                               "restart-strategy.type=none"),
                               .on_checkpoint = on_checkpoint},
              &st);
    weir_job_free(job);
    print_message("%" PRIu64 " checkpoints, the longest %" PRIu64 " ms; keyed stall over %" PRIu64
                  " snapshots: p50 %.3f p99 %.3f max %.3f ms\n",
                  completed, max_duration_ms, st.snapshots, st.sync_ms_p50, st.sync_ms_p99,
                  st.sync_ms_max);
    assert_true(completed >= 2);
    assert_true(st.snapshots >= 2);
    /* the largest state took max_duration_ms to write; the worker stalled for a fraction */
    assert_true(st.sync_ms_max * 4 < (double)max_duration_ms);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(full_rocksdb_checkpoint_does_not_stall_the_worker),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
