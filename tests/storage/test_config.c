/*
 * The checkpoint and restart-strategy keys: Flink's names, defaults and aliases, and
 * weir_storage_open_config reading them (an empty state.checkpoints.dir means the user's
 * state directory, core/internal/weir/privdir.h).
 */
#include <weir/config.h>

#include "storage_test.h"

static void checkpoint_keys_have_flinks_defaults(void **state)
{
    weir_config *c = weir_config_new();
    assert_non_null(c);
    assert_string_equal(weir_config_get_str(c, "state.checkpoints.dir"), "");
    assert_int_equal(weir_config_get_duration_ms(c, "execution.checkpointing.interval"), 0);
    assert_int_equal(weir_config_get_duration_ms(c, "execution.checkpointing.min-pause"), 0);
    assert_int_equal(weir_config_get_duration_ms(c, "execution.checkpointing.timeout"),
                     10 * 60 * 1000);
    assert_int_equal(weir_config_get_int(c, "execution.checkpointing.max-concurrent-checkpoints"),
                     1);
    assert_int_equal(weir_config_get_int(c, "execution.checkpointing.num-retained"), 1);
    assert_string_equal(weir_config_get_str(c, "execution.checkpointing.mode"), "EXACTLY_ONCE");
    assert_int_equal(weir_config_get_int(c, "execution.checkpointing.tolerable-failed-checkpoints"),
                     0);
    assert_string_equal(weir_config_get_str(c, "state.savepoints.dir"), "");
    assert_string_equal(weir_config_get_str(c, "restart-strategy.type"), "none");
    assert_int_equal(weir_config_get_int(c, "restart-strategy.fixed-delay.attempts"), 1);
    assert_int_equal(weir_config_get_duration_ms(c, "restart-strategy.fixed-delay.delay"), 1000);
    assert_int_equal(
        weir_config_get_duration_ms(c, "restart-strategy.exponential-delay.initial-backoff"), 1000);
    assert_int_equal(
        weir_config_get_duration_ms(c, "restart-strategy.exponential-delay.max-backoff"), 300000);
    assert_true(
        weir_config_get_double(c, "restart-strategy.exponential-delay.backoff-multiplier") == 2.0);
    assert_int_equal(weir_config_get_duration_ms(
                         c, "restart-strategy.exponential-delay.reset-backoff-threshold"),
                     3600000);
    assert_true(weir_config_get_double(c, "restart-strategy.exponential-delay.jitter-factor") ==
                0.1);
    assert_int_equal(
        weir_config_get_int(c, "restart-strategy.exponential-delay.attempts-before-reset-backoff"),
        2147483647);
    assert_int_equal(
        weir_config_get_int(c, "restart-strategy.failure-rate.max-failures-per-interval"), 1);
    assert_int_equal(
        weir_config_get_duration_ms(c, "restart-strategy.failure-rate.failure-rate-interval"),
        60000);
    assert_int_equal(weir_config_get_duration_ms(c, "restart-strategy.failure-rate.delay"), 1000);
    weir_config_free(c);
}

static void flink_spellings_and_aliases(void **state)
{
    weir_config *c = weir_config_new();
    char err[512];
    assert_int_equal(weir_config_set_kv(c, "state.checkpoints.num-retained=3", err, sizeof err), 0);
    assert_int_equal(weir_config_get_int(c, "execution.checkpointing.num-retained"), 3);
    assert_int_equal(
        weir_config_set_kv(c, "execution.checkpointing.mode=at_least_once", err, sizeof err), 0);
    assert_string_equal(weir_config_get_str(c, "execution.checkpointing.mode"), "AT_LEAST_ONCE");
    assert_int_equal(weir_config_get_enum(c, "execution.checkpointing.mode"), 1);
    assert_int_equal(
        weir_config_set_kv(c, "execution.checkpointing.interval=30 s", err, sizeof err), 0);
    assert_int_equal(weir_config_get_duration_ms(c, "execution.checkpointing.interval"), 30000);
    assert_int_equal(weir_config_set_kv(c, "restart-strategy.type=Fixed-Delay", err, sizeof err),
                     0);
    assert_int_equal(weir_config_get_enum(c, "restart-strategy.type"), 1);
    assert_int_equal(
        weir_config_set_kv(c, "execution.checkpointing.dir=/data/ckpt", err, sizeof err), 0);
    assert_string_equal(weir_config_get_str(c, "state.checkpoints.dir"), "/data/ckpt");
    assert_true(weir_config_set_kv(c, "execution.checkpointing.num-retained=0", err, sizeof err) <
                0);
    assert_true(weir_config_set_kv(c, "execution.checkpointing.mode=twice", err, sizeof err) < 0);
    assert_non_null(strstr(err, "EXACTLY_ONCE"));
    weir_config_free(c);
}

static void open_config_uses_the_users_state_dir_by_default(void **state)
{
    const char *tmp = wt_tmp_dir("storage-config");
    setenv("XDG_STATE_HOME", tmp, 1);
    weir_config *c = weir_config_new();
    char err[512];
    assert_int_equal(
        weir_config_set_kv(c, "execution.checkpointing.num-retained=2", err, sizeof err), 0);
    assert_int_equal(weir_config_resolve(c, err, sizeof err), 0);
    weir_storage *s;
    int rc = weir_storage_open_config(c, "wordcount", &s, err, sizeof err);
    if (rc < 0)
        fail_msg("%s", err);
    char want[1200];
    snprintf(want, sizeof want, "%s/weir/checkpoints/wordcount", tmp);
    assert_string_equal(weir_storage_job_dir(s), want);
    assert_true(path_exists("%s/shared", want));
    assert_string_equal(weir_storage_state_str(s), "ready");
    weir_storage_close(s);

    /* A directory that cannot be made: one line naming the key, the path, the reason. */
    char file[800];
    snprintf(file, sizeof file, "%s/plain-file", tmp);
    FILE *fp = fopen(file, "w");
    fclose(fp);
    char kv[1000];
    snprintf(kv, sizeof kv, "state.checkpoints.dir=%s/sub", file);
    assert_int_equal(weir_config_set_kv(c, kv, err, sizeof err), 0);
    assert_int_equal(weir_config_resolve(c, err, sizeof err), 0);
    assert_int_equal(weir_storage_open_config(c, "wordcount", &s, err, sizeof err), -ENOTDIR);
    snprintf(want, sizeof want,
             "state.checkpoints.dir: %s/sub: Not a "
             "directory",
             file);
    assert_string_equal(err, want);
    assert_int_equal(weir_storage_open_config(c, "a/b", &s, err, sizeof err), -EINVAL);
    weir_config_free(c);
    weir_storage_close(NULL);
    wt_rm_tree(tmp);
}

int main(void)
{
    require_io_uring();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(checkpoint_keys_have_flinks_defaults),
        cmocka_unit_test(flink_spellings_and_aliases),
        cmocka_unit_test(open_config_uses_the_users_state_dir_by_default),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
