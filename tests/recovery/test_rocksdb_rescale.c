/*
 * A keyed operator on RocksDB with incremental checkpoints, checkpointed at parallelism 2 and
 * restored at 1 and at 3 (restore.c, rocksdb_incremental.c): each restored subtask opens the
 * checkpointed instance whose key groups overlap its own the most, deletes what it does not
 * own as ranges, and takes in only the entries of the key groups it owns that the other
 * instance holds, as one SST it ingests (Flink's choice of the initial handle). The restored sums
 * are exact: the first run stops part way through its input, the second restores its latest
 * checkpoint and runs to the end.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <weir/config.h>
#include <weir/keygroup.h>
#include <weir/weir.h>

#include "weir_test.h"

#include "checkpoint_rocksdb.h"

#define KEYS    2000u
#define RECORDS 20000u
#define MAXP    128u

/* Stops the first run at the second checkpoint that completes after every key has reached
 * the sink (one checkpoint at a time: the second was triggered after the first completed), so
 * that the restored checkpoint holds every key; its input is not over then, so the checkpoint
 * holds the keyed state (a task that has finished gives none). */
static int completed;

static void stop_when_every_key_is_in(void *arg, const struct weir_checkpoint_event *ev)
{
    bool all = wt_best_seen_keys() == KEYS;
    if (ev->completed && all && ++completed == 2)
        weir_job_cancel(arg);
}

/* datagen (parallelism 1, RECORDS at 10,000/s) -> key_by -> sum (parallelism p) -> best (1);
 * the first run is stopped part way, the second restores the latest and runs
 * to the end of the input. */
static void run(const char *dir, int p, bool restore)
{
    char ckdir[4200];
    snprintf(ckdir, sizeof ckdir, "state.checkpoints.dir=%s", dir);
    const char *const defs[] = {ckdir, "state.backend.incremental=true",
                                "execution.checkpointing.interval=100ms", NULL};
    weir_job *job = weir_job_new("rescale");
    struct weir_datagen_opts o = {
        .records = RECORDS, .keys = KEYS, .record_size = 24, .rate = restore ? 0 : 10000};
    weir_stream *s = weir_set_parallelism(weir_source_datagen(job, "gen", &o), 1);
    s = weir_keyed_transform(weir_key_by(s, wt_datagen_key), "sum", &wt_sum_per_key_ops, NULL,
                             NULL);
    weir_set_parallelism(weir_sink(s, "best", &wt_best_ops, NULL), 1);
    wt_best_reset(KEYS);
    completed = 0;
    const struct wt_run ro = {.parallelism = p,
                              .backend = "rocksdb",
                              .defs = defs,
                              .restore_from = restore ? "latest" : NULL,
                              .on_checkpoint = restore ? NULL : stop_when_every_key_is_in,
                              .on_checkpoint_arg = job};
    struct weir_run_stats st;
    wt_run_ok(job, NULL, &ro, &st);
    if (restore)
        assert_true(st.restored_checkpoint > 0);
    else
        assert_true(st.cancelled);
    weir_job_free(job);
}

/* Keys whose key group is in [first, last]: the entries of those key groups. */
static uint64_t keys_in(uint32_t first, uint32_t last)
{
    uint64_t n = 0;
    for (uint64_t k = 0; k < KEYS; k++) {
        uint32_t kg = weir_key_group_of(k, MAXP);
        n += kg >= first && kg <= last;
    }
    return n;
}

/* Checkpoints at parallelism 2 part way through the input, restores at `to` and runs to the
 * end: every key's last sum is its total. Returns the entries the restore took from an
 * instance other than the one it opened; *ssts, the SST files it ingested them as. */
static uint64_t rescale(const char *tag, int to, uint64_t *ssts)
{
    const char *dir = wt_tmp_dir(tag);
    run(dir, 2, false);
    uint64_t before = atomic_load(&rocks_restore_entries_copied);
    uint64_t ingested = atomic_load(&rdb_restore_ssts_ingested);
    run(dir, to, true);
    uint64_t copied = atomic_load(&rocks_restore_entries_copied) - before;
    *ssts = atomic_load(&rdb_restore_ssts_ingested) - ingested;
    for (uint64_t k = 0; k < KEYS; k++) {
        uint64_t want = 0;
        for (uint64_t seq = k; seq < RECORDS; seq += KEYS)
            want += seq;
        if (wt_best(k) != want)
            fail_msg("key %llu: sum %llu after the restore at parallelism %d, want %llu",
                     (unsigned long long)k, (unsigned long long)wt_best(k), to,
                     (unsigned long long)want);
    }
    return copied;
}

/* p 2 -> 1: the one subtask opens the first instance (an equal overlap: 64 key groups each)
 * and takes in only the second's entries, as one ingested SST. */
static void scale_in_from_2_to_1_is_exact_and_copies_one_instance(void **state)
{
    (void)state;
    uint64_t ssts;
    assert_int_equal(rescale("rocks-rescale-2-1", 1, &ssts), keys_in(64, 127));
    assert_int_equal(ssts, 1);
}

/* p 2 -> 3: subtask 1 owns key groups 43..85, 21 of them in instance 0 (0..63) and 22 in
 * instance 1 (64..127): it opens instance 1 and takes in only 43..63, as one ingested SST.
 * Subtasks 0 and 2 each open one instance and take in nothing. */
static void scale_out_from_2_to_3_is_exact_and_opens_the_widest_overlap(void **state)
{
    (void)state;
    assert_int_equal(weir_key_group_range_start(1, MAXP, 3), 43);
    assert_int_equal(weir_key_group_range_end(1, MAXP, 3), 85);
    uint64_t ssts;
    assert_int_equal(rescale("rocks-rescale-2-3", 3, &ssts), keys_in(43, 63));
    assert_int_equal(ssts, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(scale_in_from_2_to_1_is_exact_and_copies_one_instance),
        cmocka_unit_test(scale_out_from_2_to_3_is_exact_and_opens_the_widest_overlap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
