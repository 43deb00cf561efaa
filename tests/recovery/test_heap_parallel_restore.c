/*
 * A hashmap backend's key groups restored on several threads (restore.c,
 * state.backend.restore.threads): a keyed sum over KEYS keys in MAXP key groups is
 * checkpointed part way through its input, then restored with 1 and with 4 restore threads
 * and run to the end; every key's last sum must be its total, which it is only when the
 * restore gave back every key's sum exactly (a key group lost, restored twice or into
 * another's table would show). The same at another parallelism (2 -> 3: key groups of two
 * files per subtask), from an incremental chain (a full file and deltas replayed per key
 * group in order), on RocksDB (which takes the setting and restores on one thread), and from
 * a latest checkpoint whose state files are damaged: the restore falls back to the one
 * before, as README says, and is exact from there. An incremental RocksDB checkpoint is
 * still refused by a hashmap backend.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <weir/config.h>
#include <weir/keygroup.h>
#include <weir/weir.h>

#include "weir_test.h"

#define KEYS    6000u
#define RECORDS 240000u /* 40 per key: 12 s at the first run's rate, stopped long before */
#define MAXP    "1024"

/* The first run stops at the `stop_at`th checkpoint that completes after every key has
 * reached the sink (so the later ones hold every key, and with incremental checkpoints the
 * latest is a delta on a chain); its input is not over then, so they hold the keyed state.
 * latest: the newest completed checkpoint's id. */
static int completed, stop_at;
static uint64_t latest;

static void stop_when_every_key_is_in(void *arg, const struct weir_checkpoint_event *ev)
{
    bool all = wt_best_seen_keys() == KEYS;
    if (ev->completed && ev->id > latest)
        latest = ev->id;
    if (ev->completed && all && ++completed == stop_at)
        weir_job_cancel(arg);
}

struct how {
    const char *backend;
    bool incremental;
    int threads; /* state.backend.restore.threads of the restoring run */
};

/* datagen (parallelism 1, RECORDS at 20,000/s) -> key_by -> sum (parallelism p) -> best (1).
 * The first run is stopped part way; the second restores the latest and runs to the end of
 * the input. Returns the id the second run restored (0 for the first). */
static uint64_t run(const char *dir, int p, bool restore, const struct how *h)
{
    char ckdir[4200], threads[64];
    snprintf(ckdir, sizeof ckdir, "state.checkpoints.dir=%s", dir);
    snprintf(threads, sizeof threads, "state.backend.restore.threads=%d", h->threads);
    const char *const defs[] = {ckdir,
                                h->incremental ? "state.backend.incremental=true"
                                               : "state.backend.incremental=false",
                                "execution.checkpointing.interval=100ms",
                                "execution.checkpointing.num-retained=2",
                                "pipeline.max-parallelism=" MAXP,
                                threads,
                                NULL};
    weir_job *job = weir_job_new("par-restore");
    struct weir_datagen_opts o = {
        .records = RECORDS, .keys = KEYS, .record_size = 24, .rate = restore ? 0 : 20000};
    weir_stream *s = weir_set_parallelism(weir_source_datagen(job, "gen", &o), 1);
    s = weir_keyed_transform(weir_key_by(s, wt_datagen_key), "sum", &wt_sum_per_key_ops, NULL,
                             NULL);
    weir_set_parallelism(weir_sink(s, "best", &wt_best_ops, NULL), 1);
    wt_best_reset(KEYS);
    completed = 0;
    if (!restore)
        latest = 0;
    const struct wt_run ro = {.parallelism = p,
                              .backend = h->backend,
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
    return st.restored_checkpoint;
}

static void assert_exact(const char *what)
{
    for (uint64_t k = 0; k < KEYS; k++) {
        uint64_t want = 0;
        for (uint64_t seq = k; seq < RECORDS; seq += KEYS)
            want += seq;
        if (wt_best(k) != want)
            fail_msg("%s: key %llu: sum %llu after the restore, want %llu", what,
                     (unsigned long long)k, (unsigned long long)wt_best(k),
                     (unsigned long long)want);
    }
}

/* Checkpoints at parallelism `from`, restores at `to` with h, runs to the end: exact. */
static void restore_exact(const char *tag, int from, int to, const struct how *h)
{
    const char *dir = wt_tmp_dir(tag);
    stop_at = h->incremental ? 4 : 2;
    run(dir, from, false, h);
    run(dir, to, true, h);
    char what[128];
    snprintf(what, sizeof what, "%s, p %d -> %d, %d restore threads%s", h->backend, from, to,
             h->threads, h->incremental ? ", incremental" : "");
    assert_exact(what);
}

static void one_thread_restores_exactly(void **state)
{
    (void)state;
    restore_exact("par-restore-1", 2, 2, &(struct how){"hashmap", false, 1});
}

static void four_threads_restore_exactly(void **state)
{
    (void)state;
    restore_exact("par-restore-4", 2, 2, &(struct how){"hashmap", false, 4});
}

/* p 2 -> 3: subtask 1's key groups come from both files of the checkpoint. */
static void four_threads_restore_exactly_at_another_parallelism(void **state)
{
    (void)state;
    restore_exact("par-restore-2-3", 2, 3, &(struct how){"hashmap", false, 4});
}

/* A chain of a full file and deltas, replayed per key group in order by each thread. */
static void four_threads_restore_an_incremental_chain_exactly(void **state)
{
    (void)state;
    restore_exact("par-restore-chain", 2, 3, &(struct how){"hashmap", true, 4});
}

/* RocksDB takes the setting and restores on one thread, as before. */
static void rocksdb_restores_exactly_with_the_setting(void **state)
{
    (void)state;
    restore_exact("par-restore-rocks", 2, 3, &(struct how){"rocksdb", false, 4});
}

/* An incremental RocksDB checkpoint (its state in shared SST files, no key group sections)
 * restored into a hashmap backend is refused with the line that says why, not restored
 * empty. */
static void an_incremental_rocksdb_checkpoint_is_refused_by_the_hashmap_backend(void **state)
{
    (void)state;
    const char *dir = wt_tmp_dir("par-restore-rocks-to-heap");
    stop_at = 2;
    run(dir, 2, false, &(struct how){"rocksdb", true, 4});
    char ckdir[4200], err[2048] = "";
    snprintf(ckdir, sizeof ckdir, "state.checkpoints.dir=%s", dir);
    const char *const defs[] = {ckdir, "pipeline.max-parallelism=" MAXP,
                                "state.backend.restore.threads=4", NULL};
    weir_job *job = weir_job_new("par-restore");
    struct weir_datagen_opts o = {.records = RECORDS, .keys = KEYS, .record_size = 24};
    weir_stream *s = weir_set_parallelism(weir_source_datagen(job, "gen", &o), 1);
    s = weir_keyed_transform(weir_key_by(s, wt_datagen_key), "sum", &wt_sum_per_key_ops, NULL,
                             NULL);
    weir_set_parallelism(weir_sink(s, "best", &wt_best_ops, NULL), 1);
    const struct wt_run ro = {
        .parallelism = 2, .backend = "hashmap", .defs = defs, .restore_from = "latest"};
    assert_int_not_equal(wt_run(job, NULL, &ro, NULL, err, sizeof err), 0);
    if (!strstr(err, "an incremental RocksDB checkpoint restores only with state.backend: rocksdb"))
        fail_msg("the restore was not refused as it should be: \"%s\"", err);
    weir_job_free(job);
}

/* Flips a byte in the middle of every state file of dir (not _metadata). Returns how many. */
static int damage_state_files(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *de;
    int n = 0;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.' || de->d_name[0] == '_')
            continue;
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        int fd = open(path, O_RDWR);
        struct stat sb;
        if (fd < 0 || fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) || sb.st_size < 256) {
            if (fd >= 0)
                close(fd);
            continue;
        }
        uint8_t b;
        off_t at = sb.st_size / 2;
        assert_int_equal(pread(fd, &b, 1, at), 1);
        b ^= 0x5a;
        assert_int_equal(pwrite(fd, &b, 1, at), 1);
        close(fd);
        n++;
    }
    closedir(d);
    return n;
}

/* The latest checkpoint's state files damaged: the restore falls back to the one before
 * (README: "a corrupt latest checkpoint falls back to the one before") and, on four
 * threads, is exact from there. */
static void a_damaged_latest_checkpoint_falls_back_and_restores_exactly(void **state)
{
    (void)state;
    const struct how h = {"hashmap", false, 4};
    const char *dir = wt_tmp_dir("par-restore-damaged");
    stop_at = 3;
    run(dir, 2, false, &h);
    char chk[4300];
    snprintf(chk, sizeof chk, "%s/par-restore/chk-%" PRIu64, dir, latest);
    assert_true(damage_state_files(chk) > 0);
    uint64_t restored = run(dir, 2, true, &h);
    if (restored >= latest)
        fail_msg("restored chk-%" PRIu64 ", whose state files are damaged (latest %" PRIu64 ")",
                 restored, latest);
    assert_exact("hashmap, 4 restore threads, after falling back");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(one_thread_restores_exactly),
        cmocka_unit_test(four_threads_restore_exactly),
        cmocka_unit_test(four_threads_restore_exactly_at_another_parallelism),
        cmocka_unit_test(four_threads_restore_an_incremental_chain_exactly),
        cmocka_unit_test(rocksdb_restores_exactly_with_the_setting),
        cmocka_unit_test(a_damaged_latest_checkpoint_falls_back_and_restores_exactly),
        cmocka_unit_test(an_incremental_rocksdb_checkpoint_is_refused_by_the_hashmap_backend),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
