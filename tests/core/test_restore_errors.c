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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_missing_restore_directory_is_named_with_the_flag),
        cmocka_unit_test(a_restore_directory_without_metadata_is_named_with_the_flag),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
