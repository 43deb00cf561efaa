/*
 * The per-subtask checkpoint size (weir_task_lastCheckpointSizeBytes, the run summary's skew
 * line) counts every file a subtask's snapshot writes, not only its operators' state files:
 * an incremental heap subtask's chain file (written off the worker, a shared file), an
 * incremental RocksDB subtask's SSTs new to shared/, and an unaligned subtask's channel-state
 * file. Checked as an invariant: in the last completed
 * checkpoint of a job of two subtasks, the two subtasks' sizes add up to what the checkpoint
 * stored (its files plus the shared files new to it, the checkpoint event's size).
 */
#include <errno.h>
#include <inttypes.h>
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

#define IDS 4096
static uint64_t size_of_id[IDS]; /* what each completed checkpoint stored, by id */

static void on_checkpoint(void *arg, const struct weir_checkpoint_event *ev)
{
    if (ev->completed && ev->id < IDS)
        size_of_id[ev->id] = ev->size_bytes;
}

static void assert_subtasks_add_up(const struct weir_run_stats *st)
{
    uint64_t id = st->skew_checkpoint_id;
    print_message("checkpoint %" PRIu64 ": %d subtasks, smallest %" PRIu64 " bytes (%s %d), "
                  "largest %" PRIu64 " bytes (%s %d); the checkpoint stored %" PRIu64 "\n",
                  id, st->skew_subtasks, st->skew_smallest.size_bytes, st->skew_smallest.task,
                  st->skew_smallest.subtask, st->skew_largest.size_bytes, st->skew_largest.task,
                  st->skew_largest.subtask, id < IDS ? size_of_id[id] : 0);
    assert_true(id > 0 && id < IDS);
    assert_int_equal(st->skew_subtasks, 2);
    assert_true(size_of_id[id] > 0);
    assert_int_equal(st->skew_smallest.size_bytes + st->skew_largest.size_bytes, size_of_id[id]);
}

/* ---- incremental heap checkpoints: the chain file --------------------------------------- */

#define KEYS 20000

struct keep {
    weir_value_state *v;
};

struct val {
    uint64_t key, n;
    unsigned char pad[48];
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
    return weir_value_put(((struct keep *)s)->v, &v);
}

static const struct weir_operator_ops keep_ops = {
    .kind = "keep", .state_size = sizeof(struct keep), .open = keep_open, .process = keep_process};

/* A keyed job that keeps every key's count, its input paced over about 1.5 s and
 * checkpointed every 150 ms, incrementally (settings in defs) on backend. */
static void run_incremental(const char *backend, const char *const *defs, const char *tag,
                            struct weir_run_stats *st)
{
    memset(size_of_id, 0, sizeof size_of_id);
    char dir[4096];
    snprintf(dir, sizeof dir, "state.checkpoints.dir=%s", wt_tmp_dir(tag));
    weir_job *job = weir_job_new(tag);
    struct weir_datagen_opts o = {
        .records = 3 * KEYS, .keys = KEYS, .record_size = 24, .rate = 2 * KEYS};
    weir_stream *s = weir_key_by(weir_source_datagen(job, "gen", &o), wt_datagen_key);
    weir_sink_blackhole(weir_keyed_transform(s, "keep", &keep_ops, NULL, NULL), "sink");
    weir_config *cfg = wt_config_new(defs);
    wt_config_set(cfg, "%s", dir);
    wt_config_set(cfg, "state.backend=%s", backend);
    wt_config_set(cfg, "state.backend.rocksdb.localdir=%s", wt_tmp_dir("size-rocks-local"));
    wt_config_resolve(cfg);
    wt_run_ok(job, cfg, &(struct wt_run){.on_checkpoint = on_checkpoint}, st);
    weir_job_free(job);
    weir_config_free(cfg);
}

/* the checkpoints taken while it runs are chains of a full file and deltas */
static void heap_chain_file_counts_in_the_subtask_size(void **state)
{
    struct weir_run_stats st;
    run_incremental("hashmap",
                    WT_DEFS("execution.checkpointing.interval=150ms",
                            "state.backend.incremental=true", "restart-strategy.type=none"),
                    "size-chain", &st);
    assert_subtasks_add_up(&st);
}

/* the checkpoints hand the instance's new SSTs to shared/ */
static void rocksdb_shared_files_count_in_the_subtask_size(void **state)
{
    struct weir_run_stats st;
    run_incremental("rocksdb",
                    WT_DEFS("execution.checkpointing.interval=150ms",
                            "state.backend.incremental=true", "restart-strategy.type=none"),
                    "size-rocks", &st);
    assert_subtasks_add_up(&st);
}

/* ---- unaligned checkpoints: the channel-state file --------------------------------------- */

/* 5 ms every 20 records: the ring into it stays full, so its channel state is not empty */
static int slow(weir_ctx *ctx, void *state, int input, const weir_rec *in, weir_emit *out)
{
    static _Thread_local unsigned n;
    if (++n % 20 == 0)
        usleep(5000);
    return 0;
}

static const struct weir_operator_ops slow_ops = {.kind = "slow", .process = slow};

static void channel_state_file_counts_in_the_subtask_size(void **state)
{
    memset(size_of_id, 0, sizeof size_of_id);
    char dir[4096];
    snprintf(dir, sizeof dir, "state.checkpoints.dir=%s", wt_tmp_dir("size-channels"));
    weir_job *job = weir_job_new("size-channels");
    /* about 1 s at 4 ms a record in 20; no state: the slow subtask's only file is its
     * channel state */
    struct weir_datagen_opts o = {.records = 4000, .keys = 64, .record_size = 24};
    weir_stream *s = weir_rebalance(weir_source_datagen(job, "gen", &o));
    weir_sink_blackhole(weir_transform(s, "slow", &slow_ops, NULL), "sink");
    struct weir_run_stats st;
    wt_run_ok(job, NULL,
              &(struct wt_run){.defs = WT_DEFS(dir, "execution.checkpointing.interval=100ms",
                                               "execution.checkpointing.unaligned.enabled=true",
                                               "network.buffers-per-channel=16",
                                               "memory.segment-size=4kb",
                                               "execution.checkpointing.tolerable-failed-"
                                               "checkpoints=1000",
                                               "restart-strategy.type=none"),
                               .on_checkpoint = on_checkpoint},
              &st);
    weir_job_free(job);
    assert_true(st.unaligned_snapshots >= 1);
    assert_subtasks_add_up(&st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(heap_chain_file_counts_in_the_subtask_size),
        cmocka_unit_test(rocksdb_shared_files_count_in_the_subtask_size),
        cmocka_unit_test(channel_state_file_counts_in_the_subtask_size),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
