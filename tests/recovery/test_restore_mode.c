/*
 * execution.savepoint-restore-mode (issue 12, Flink's restore modes), on both backends with
 * incremental checkpoints (a heap chain, RocksDB's shared SSTs). NO_CLAIM: a checkpoint
 * restored by path is never deleted, not even when it is in the run's own directory, where
 * retention (num-retained 1) used to delete it as the run's own; and the run's checkpoints
 * do not depend on it: deleted once the run has a checkpoint, the run's latest still
 * restores. CLAIM: the restored checkpoint belongs to the job, which deletes it once a newer
 * checkpoint subsumes it, from another directory too. A bad value is refused in one line.
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <weir/config.h>
#include <weir/weir.h>

#include "weir_test.h"

#define RECORDS 3000

static uint64_t first_completed; /* of the last run_job */

static void on_checkpoint(void *arg, const struct weir_checkpoint_event *ev)
{
    if (ev->completed && !ev->final && !first_completed)
        first_completed = ev->id;
}

/* datagen (paced, ~0.6 s) -> key_by -> keyed count "keep" -> blackhole, incremental
 * checkpoints every 50 ms into dir/ids, num-retained 1 unless keep_all; restored from `from`
 * (a path, "latest" or NULL) under mode. Returns the last checkpoint's id. */
static uint64_t run_job(const char *backend, const char *dir, const char *from, const char *mode,
                        bool keep_all)
{
    const char *const defs[] = {"execution.checkpointing.interval=50ms",
                                "state.backend.incremental=true", "restart-strategy.type=none",
                                NULL};
    weir_config *cfg = wt_config_new(defs);
    wt_config_set(cfg, "execution.checkpointing.num-retained=%d", keep_all ? 1000 : 1);
    wt_config_set(cfg, "state.checkpoints.dir=%s", dir);
    wt_config_set(cfg, "state.backend=%s", backend);
    wt_config_set(cfg, "state.backend.rocksdb.localdir=%s", wt_tmp_dir("mode-rocks"));
    if (mode)
        wt_config_set(cfg, "execution.savepoint-restore-mode=%s", mode);
    wt_config_resolve(cfg);
    weir_job *job = weir_job_new("ids");
    struct weir_datagen_opts o = {.records = RECORDS, .keys = 64, .record_size = 24, .rate = 5000};
    weir_stream *s = weir_key_by(weir_source_datagen(job, "gen", &o), wt_datagen_key);
    weir_sink_blackhole(weir_keyed_transform(s, "keep", &wt_count_per_key_ops, NULL, NULL), "sink");
    struct weir_run_stats st;
    first_completed = 0;
    wt_run_ok(job, cfg, &(struct wt_run){.restore_from = from, .on_checkpoint = on_checkpoint},
              &st);
    weir_job_free(job);
    weir_config_free(cfg);
    assert_true(st.last_checkpoint_id > 0);
    return st.last_checkpoint_id;
}

static bool exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* A first run's first checkpoint (mid-stream: keyed state, incremental files),
 * dir/ids/chk-N, into path; the later ones are kept too (num-retained 1000). */
static void first_run(const char *backend, const char *dir, char *path, size_t len)
{
    run_job(backend, dir, NULL, NULL, true);
    assert_true(first_completed > 0);
    snprintf(path, len, "%s/ids/chk-%" PRIu64, dir, first_completed);
    assert_true(exists(path));
}

static void no_claim(const char *backend)
{
    const char *a = wt_tmp_dir("noclaim-a"), *b = wt_tmp_dir("noclaim-b");
    char chk[4096];
    /* its own directory: retention used to delete it */
    first_run(backend, a, chk, sizeof chk);
    run_job(backend, a, chk, NULL, false); /* the default */
    if (!exists(chk))
        fail_msg("%s: restored with NO_CLAIM, deleted by the run's retention", chk);
    wt_rm_tree(chk);
    run_job(backend, a, "latest", NULL, false); /* the run's own checkpoint needs none of it */

    /* another directory, deleted whole once the run has a checkpoint */
    first_run(backend, a, chk, sizeof chk);
    run_job(backend, b, chk, "NO_CLAIM", false);
    assert_true(exists(chk));
    wt_rm_tree(a);
    run_job(backend, b, "latest", "NO_CLAIM", false);
}

static void claim(const char *backend)
{
    const char *a = wt_tmp_dir("claim-a"), *b = wt_tmp_dir("claim-b");
    char chk[4096];
    first_run(backend, a, chk, sizeof chk);
    run_job(backend, b, chk, "CLAIM", false);
    if (exists(chk))
        fail_msg("%s: claimed (CLAIM) and subsumed by the run's checkpoints, not deleted", chk);
    run_job(backend, b, "latest", "CLAIM", false);

    first_run(backend, a, chk, sizeof chk); /* its own directory: deleted as the run's own */
    run_job(backend, a, chk, "CLAIM", false);
    assert_false(exists(chk));
}

static void no_claim_keeps_the_snapshot_hashmap(void **state)
{
    no_claim("hashmap");
}

static void no_claim_keeps_the_snapshot_rocksdb(void **state)
{
    no_claim("rocksdb");
}

static void claim_deletes_the_snapshot_once_subsumed_hashmap(void **state)
{
    claim("hashmap");
}

static void claim_deletes_the_snapshot_once_subsumed_rocksdb(void **state)
{
    claim("rocksdb");
}

static void a_bad_mode_is_refused_naming_the_key(void **state)
{
    weir_config *cfg = weir_config_new();
    char err[512] = "";
    int rc = weir_config_set(cfg, "execution.savepoint-restore-mode", "OWN", err, sizeof err);
    if (rc == 0)
        rc = weir_config_resolve(cfg, err, sizeof err);
    weir_config_free(cfg);
    assert_true(rc < 0);
    if (!strstr(err, "OWN") || !strstr(err, "execution.savepoint-restore-mode") ||
        strchr(err, '\n'))
        fail_msg("not one line naming the value and the key: %s", err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(no_claim_keeps_the_snapshot_hashmap),
        cmocka_unit_test(no_claim_keeps_the_snapshot_rocksdb),
        cmocka_unit_test(claim_deletes_the_snapshot_once_subsumed_hashmap),
        cmocka_unit_test(claim_deletes_the_snapshot_once_subsumed_rocksdb),
        cmocka_unit_test(a_bad_mode_is_refused_naming_the_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
