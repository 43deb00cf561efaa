/*
 * What a run says when the checkpoint it is told to start from (weir_run_opts.restore_from,
 * `weir run --from-checkpoint DIR`) cannot be used: one line that names the flag and the
 * directory, whether DIR is a checkpoint or a savepoint, never "savepoint:" for a directory
 * that may be neither.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <weir/config.h>
#include <weir/state.h>
#include <weir/weir.h>

#include "weir_test.h"

static int run_from(const char *dir, char *err, size_t errlen)
{
    weir_config *c = wt_config_new(WT_DEFS("execution.checkpointing.interval=1s"));
    wt_config_set(c, "state.checkpoints.dir=%s", wt_tmp_dir("restore-errors"));
    wt_config_resolve(c);
    weir_job *job = weir_job_new("restore-errors");
    struct weir_datagen_opts o = {.records = 100, .keys = 4, .record_size = 24};
    weir_sink_blackhole(weir_source_datagen(job, "gen", &o), "out");
    int rc = wt_run(job, c, &(struct wt_run){.restore_from = dir}, NULL, err, errlen);
    weir_job_free(job);
    weir_config_free(c);
    return rc;
}

static void a_missing_restore_directory_is_named_with_the_flag(void **state)
{
    char dir[4096], err[1024] = "", want[4200];
    snprintf(dir, sizeof dir, "%s/chk-24", wt_tmp_dir("nothing-here"));
    assert_int_equal(run_from(dir, err, sizeof err), -ENOENT);
    snprintf(want, sizeof want, "--from-checkpoint %s: %s", dir, strerror(ENOENT));
    assert_string_equal(err, want);
}

static void a_restore_directory_without_metadata_is_named_with_the_flag(void **state)
{
    const char *dir = wt_tmp_dir("no-metadata");
    char err[1024] = "", want[4200];
    assert_int_equal(run_from(dir, err, sizeof err), -ENOENT);
    snprintf(want, sizeof want,
             "--from-checkpoint %s: no _metadata (not a complete savepoint or checkpoint)", dir);
    assert_string_equal(err, want);
}

/* An operator whose state is one counter; its restore hook fails as a sink's does when a file
 * its checkpoint lists is gone: weir_ctx_fail says which file, then a negative errno. */
static int keep_snapshot(weir_ctx *ctx, void *state, uint64_t id, struct weir_snapshot_out *out)
{
    return out->write(out, state, sizeof(uint64_t));
}

static int keep_process(weir_ctx *ctx, void *state, int input, const weir_rec *in, weir_emit *out)
{
    (*(uint64_t *)state)++;
    return weir_emit_forward(out, in);
}

static int lost_restore(weir_ctx *ctx, void *state, struct weir_snapshot_in *in)
{
    weir_ctx_fail(ctx, "commit /data/out/.part-0-3.csv.pending: %s", strerror(ENOENT));
    return -ENOENT;
}

static int run_keeper(const char *dir, const char *from, bool lose, char *err, size_t errlen)
{
    weir_config *c = wt_config_new(WT_DEFS("execution.checkpointing.interval=50ms"));
    wt_config_set(c, "state.checkpoints.dir=%s", dir);
    wt_config_resolve(c);
    weir_job *job = weir_job_new("keeper");
    struct weir_datagen_opts o = {.records = 1000, .keys = 4, .record_size = 24};
    const struct weir_operator_ops ops = {.kind = "keep",
                                          .state_size = sizeof(uint64_t),
                                          .process = keep_process,
                                          .snapshot = keep_snapshot,
                                          .restore = lose ? lost_restore : NULL};
    weir_sink_blackhole(weir_transform(weir_source_datagen(job, "gen", &o), "keep", &ops, NULL),
                        "out");
    int rc = wt_run(job, c, &(struct wt_run){.restore_from = from}, NULL, err, errlen);
    weir_job_free(job);
    weir_config_free(c);
    return rc;
}

static void a_failed_restore_hook_is_reported_in_the_operators_words(void **state)
{
    const char *dir = wt_tmp_dir("restore-hook");
    char err[1024] = "";
    assert_int_equal(run_keeper(dir, NULL, false, err, sizeof err), 0); /* its final checkpoint */
    assert_int_equal(run_keeper(dir, "latest", true, err, sizeof err), -ENOENT);
    if (!strstr(err, "commit /data/out/.part-0-3.csv.pending: No such file or directory"))
        fail_msg("the restore error lost what the operator said: %s", err);
    if (!strstr(err, "operator \"keep\""))
        fail_msg("the restore error does not name the operator: %s", err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_missing_restore_directory_is_named_with_the_flag),
        cmocka_unit_test(a_restore_directory_without_metadata_is_named_with_the_flag),
        cmocka_unit_test(a_failed_restore_hook_is_reported_in_the_operators_words),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
