/*
 * Restart strategies: the number of restarts and the delays Flink's
 * strategies give, then failure; and a job whose operator fails restarts from
 * its latest checkpoint with nothing lost or duplicated.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <weir/config.h>
#include <weir/weir.h>

#include "weir_test.h"

#include "restart.h"

static void none_never_restarts(void **state)
{
    weir_config *c = wt_config(NULL);
    struct restart_strategy rs;
    assert_int_equal(restart_strategy_init(&rs, c), 0);
    int64_t d;
    assert_int_equal(rs.type, RESTART_NONE);
    assert_int_equal(restart_next(&rs, 0, &d), -1);
    restart_strategy_free(&rs);
    weir_config_free(c);
}

static void checkpointing_without_a_strategy_means_exponential_delay(void **state)
{
    static const char *const d[] = {"execution.checkpointing.interval=1s", NULL};
    weir_config *c = wt_config(d);
    struct restart_strategy rs;
    assert_int_equal(restart_strategy_init(&rs, c), 0);
    assert_int_equal(rs.type, RESTART_EXPONENTIAL);
    restart_strategy_free(&rs);
    weir_config_free(c);
}

static void fixed_delay_restarts_attempts_times_then_fails(void **state)
{
    static const char *const d[] = {"restart-strategy.type=fixed-delay",
                                    "restart-strategy.fixed-delay.attempts=3",
                                    "restart-strategy.fixed-delay.delay=250ms", NULL};
    weir_config *c = wt_config(d);
    struct restart_strategy rs;
    assert_int_equal(restart_strategy_init(&rs, c), 0);
    int64_t delay;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(restart_next(&rs, i * 1000, &delay), 0);
        assert_int_equal(delay, 250);
    }
    assert_int_equal(restart_next(&rs, 5000, &delay), -1);
    restart_strategy_free(&rs);
    weir_config_free(c);
}

static void exponential_delay_doubles_up_to_the_max_and_resets(void **state)
{
    static const char *const d[] = {
        "restart-strategy.type=exponential-delay",
        "restart-strategy.exponential-delay.initial-backoff=1s",
        "restart-strategy.exponential-delay.backoff-multiplier=2",
        "restart-strategy.exponential-delay.max-backoff=10s",
        "restart-strategy.exponential-delay.jitter-factor=0",
        "restart-strategy.exponential-delay.reset-backoff-threshold=1min",
        "restart-strategy.exponential-delay.attempts-before-reset-backoff=6",
        NULL};
    weir_config *c = wt_config(d);
    struct restart_strategy rs;
    assert_int_equal(restart_strategy_init(&rs, c), 0);
    /* Flink's documented example: 1 s, 2 s, 4 s, 8 s, 10 s, 10 s */
    int64_t want[] = {1000, 2000, 4000, 8000, 10000, 10000}, delay, now = 0;
    for (int i = 0; i < 6; i++) {
        assert_int_equal(restart_next(&rs, now, &delay), 0);
        assert_int_equal(delay, want[i]);
        now += delay + 100;
    }
    /* attempts-before-reset-backoff used up without a reset: the job fails */
    assert_int_equal(restart_next(&rs, now, &delay), -1);
    /* after running longer than the threshold, the backoff starts over */
    struct restart_strategy rs2;
    restart_strategy_init(&rs2, c);
    restart_next(&rs2, 0, &delay);
    restart_next(&rs2, 1000, &delay);
    assert_int_equal(delay, 2000);
    assert_int_equal(restart_next(&rs2, 1000 + 61000, &delay), 0);
    assert_int_equal(delay, 1000);
    restart_strategy_free(&rs);
    restart_strategy_free(&rs2);
    weir_config_free(c);
}

static void failure_rate_fails_on_too_many_failures_in_the_interval(void **state)
{
    static const char *const d[] = {"restart-strategy.type=failure-rate",
                                    "restart-strategy.failure-rate.max-failures-per-interval=2",
                                    "restart-strategy.failure-rate.failure-rate-interval=10s",
                                    "restart-strategy.failure-rate.delay=100ms", NULL};
    weir_config *c = wt_config(d);
    struct restart_strategy rs;
    assert_int_equal(restart_strategy_init(&rs, c), 0);
    int64_t delay;
    assert_int_equal(restart_next(&rs, 0, &delay), 0);
    assert_int_equal(delay, 100);
    assert_int_equal(restart_next(&rs, 20000, &delay), 0); /* the first is out of the window */
    assert_int_equal(restart_next(&rs, 25000, &delay), 0);
    assert_int_equal(restart_next(&rs, 26000, &delay), -1); /* 2 within 10 s already */
    restart_strategy_free(&rs);
    weir_config_free(c);
}

/* --- a job whose operator fails -------------------------------------------- */

static int fail_budget; /* failures left to inject */

static int flaky(weir_ctx *ctx, const weir_rec *in, weir_emit *out)
{
    const struct weir_datagen_rec *r = (const void *)in->data;
    if (r->seq == 30000 && __atomic_load_n(&fail_budget, __ATOMIC_SEQ_CST) > 0) {
        __atomic_sub_fetch(&fail_budget, 1, __ATOMIC_SEQ_CST);
        weir_ctx_fail(ctx, "injected failure at seq %llu", (unsigned long long)r->seq);
        return -EIO;
    }
    return weir_emit_forward(out, in);
}

static void failing_operator_restarts_from_checkpoint(void **state)
{
    weir_config *c = wt_config_new(WT_DEFS(
        "execution.checkpointing.interval=50ms", "restart-strategy.type=fixed-delay",
        "restart-strategy.fixed-delay.attempts=2", "restart-strategy.fixed-delay.delay=200ms"));
    wt_config_set(c, "state.checkpoints.dir=%s", wt_tmp_dir("restart"));
    wt_config_resolve(c);
    fail_budget = 1;
    wt_best_reset(10); /* the largest running sum per key */
    weir_job *job = weir_job_new("flaky");
    struct weir_datagen_opts o = {.records = 60000, .keys = 10, .record_size = 24, .rate = 60000};
    weir_stream *s = weir_map(weir_source_datagen(job, "gen", &o), "flaky", flaky);
    weir_sink(weir_keyed_transform(weir_key_by(s, wt_datagen_key), "sum", &wt_sum_per_key_ops, NULL,
                                   NULL),
              "best", &wt_best_ops, NULL);
    const struct wt_run ro = {.parallelism = 2};
    struct weir_run_stats st;
    char err[512] = "";
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = wt_run(job, c, &ro, &st, err, sizeof err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (rc != 0)
        fail_msg("%s", err);
    assert_int_equal(st.restarts, 1);
    assert_true(st.checkpoints_completed >= 1);
    /* the restart waited the configured delay */
    double s_el = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    assert_true(s_el >= 0.2);
    for (uint64_t k = 0; k < 10; k++) {
        uint64_t want = 0;
        for (uint64_t seq = k; seq < 60000; seq += 10)
            want += seq;
        assert_int_equal(wt_best(k), want); /* nothing lost, nothing counted twice */
    }
    weir_job_free(job);

    /* always failing: 2 restarts, then the job fails naming them */
    fail_budget = 1000;
    job = weir_job_new("flaky2");
    s = weir_map(weir_source_datagen(job, "gen", &o), "flaky", flaky);
    weir_sink(weir_keyed_transform(weir_key_by(s, wt_datagen_key), "sum", &wt_sum_per_key_ops, NULL,
                                   NULL),
              "best", &wt_best_ops, NULL);
    rc = wt_run(job, c, &ro, &st, err, sizeof err);
    assert_int_equal(rc, -EIO);
    assert_int_equal(st.restarts, 2);
    assert_non_null(strstr(err, "injected failure at seq 30000"));
    assert_non_null(strstr(err, "after 2 restarts"));
    weir_job_free(job);
    weir_config_free(c);
}

/* --- failures a restart cannot fix, and what the restart line says ---------- */

/* Restarts at once, up to 3 times: a job that restarts at all shows it in st.restarts. */
#define RESTARTS_3                                                                                 \
    "execution.checkpointing.interval=50ms", "restart-strategy.type=exponential-delay",            \
        "restart-strategy.exponential-delay.initial-backoff=10ms",                                 \
        "restart-strategy.exponential-delay.attempts-before-reset-backoff=3"

static weir_config *restart_config(const char *const *defs)
{
    weir_config *c = wt_config_new(defs);
    wt_config_set(c, "state.checkpoints.dir=%s", wt_tmp_dir("restart"));
    wt_config_resolve(c);
    return c;
}

static void an_output_path_that_does_not_exist_fails_the_job_without_restarts(void **state)
{
    weir_config *c = restart_config(WT_DEFS(RESTARTS_3));
    char path[4096];
    snprintf(path, sizeof path, "%s/no/such/dir/out.csv", wt_tmp_dir("missing"));
    weir_job *job = weir_job_new("missing-output");
    struct weir_datagen_opts o = {.records = 1000, .keys = 10, .record_size = 24};
    weir_sink_file(weir_source_datagen(job, "gen", &o), "out", path, weir_format_datagen);
    struct weir_run_stats st;
    char err[1024] = "";
    int rc = wt_run(job, c, NULL, &st, err, sizeof err);
    print_message("%s\n", err);
    assert_int_equal(st.restarts, 0);
    assert_int_equal(rc, -ENOENT);
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, strerror(ENOENT)));
    assert_non_null(strstr(err, "not restarted"));
    weir_job_free(job);
    weir_config_free(c);
}

static int refused(weir_ctx *ctx, const weir_rec *in, weir_emit *out)
{
    weir_ctx_fail(ctx, "/srv/out: %s", strerror(EACCES));
    return -EACCES;
}

static void a_permission_error_while_running_fails_the_job_without_restarts(void **state)
{
    weir_config *c = restart_config(WT_DEFS(RESTARTS_3));
    weir_job *job = weir_job_new("refused");
    struct weir_datagen_opts o = {.records = 1000, .keys = 10, .record_size = 24};
    weir_sink_blackhole(weir_map(weir_source_datagen(job, "gen", &o), "refused", refused), "out");
    struct weir_run_stats st;
    char err[1024] = "";
    int rc = wt_run(job, c, NULL, &st, err, sizeof err);
    print_message("%s\n", err);
    assert_int_equal(st.restarts, 0);
    assert_int_equal(rc, -EACCES);
    assert_non_null(strstr(err, "/srv/out: Permission denied"));
    weir_job_free(job);
    weir_config_free(c);
}

/* Runs job with messages on (not quiet) and returns what it wrote to stderr. */
static char *run_capturing_stderr(weir_job *job, weir_config *c, struct weir_run_stats *st)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/stderr", wt_tmp_dir("stderr"));
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    FILE *f = fopen(path, "w+");
    assert_non_null(f);
    dup2(fileno(f), STDERR_FILENO);
    const struct weir_run_opts ro = {.parallelism = 1};
    char err[1024] = "";
    weir_job_run(job, c, &ro, st, err, sizeof err);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *text = calloc(1, (size_t)n + 1);
    assert_non_null(text);
    assert_int_equal(fread(text, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    return text;
}

static uint64_t fail_at_seq; /* flaky_at fails on this record, once per budget */

static int flaky_at(weir_ctx *ctx, const weir_rec *in, weir_emit *out)
{
    const struct weir_datagen_rec *r = (const void *)in->data;
    if (r->seq == fail_at_seq && __atomic_load_n(&fail_budget, __ATOMIC_SEQ_CST) > 0) {
        __atomic_sub_fetch(&fail_budget, 1, __ATOMIC_SEQ_CST);
        weir_ctx_fail(ctx, "injected failure at seq %llu", (unsigned long long)r->seq);
        return -EIO;
    }
    return weir_emit_forward(out, in);
}

/* The job fails once on record seq and restarts; checkpoints every interval. */
static char *run_flaky_at(uint64_t seq, const char *interval, struct weir_run_stats *st)
{
    char every[64];
    snprintf(every, sizeof every, "execution.checkpointing.interval=%s", interval);
    weir_config *c = restart_config(WT_DEFS(
        every, "restart-strategy.type=fixed-delay", "restart-strategy.fixed-delay.attempts=1",
        "restart-strategy.fixed-delay.delay=0ms", "weir.progress=never"));
    fail_at_seq = seq;
    fail_budget = 1;
    weir_job *job = weir_job_new("flaky-at");
    struct weir_datagen_opts o = {.records = 60000, .keys = 10, .record_size = 24, .rate = 60000};
    weir_sink_blackhole(weir_map(weir_source_datagen(job, "gen", &o), "flaky", flaky_at), "out");
    char *text = run_capturing_stderr(job, c, st);
    weir_job_free(job);
    weir_config_free(c);
    return text;
}

static void the_restart_line_says_it_starts_over_when_no_checkpoint_completed(void **state)
{
    struct weir_run_stats st;
    /* the first record, and no checkpoint before it: on a loaded machine a 50 ms interval
     * can complete one before the source's first record reaches the operator */
    char *text = run_flaky_at(0, "1h", &st);
    print_message("%s", text);
    assert_int_equal(st.restarts, 1);
    assert_non_null(strstr(text, "restarting from the beginning: no checkpoint completed yet"));
    assert_null(strstr(text, "latest checkpoint"));
    free(text);
}

static void the_restart_line_names_the_checkpoint_it_restarts_from(void **state)
{
    struct weir_run_stats st;
    char *text = run_flaky_at(30000, "50ms", &st); /* half a second in: checkpoints completed */
    print_message("%s", text);
    assert_int_equal(st.restarts, 1);
    assert_true(st.restored_checkpoint > 0);
    char want[64];
    snprintf(want, sizeof want, "restarting from checkpoint %llu\n",
             (unsigned long long)st.restored_checkpoint);
    assert_non_null(strstr(text, want));
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(none_never_restarts),
        cmocka_unit_test(checkpointing_without_a_strategy_means_exponential_delay),
        cmocka_unit_test(fixed_delay_restarts_attempts_times_then_fails),
        cmocka_unit_test(exponential_delay_doubles_up_to_the_max_and_resets),
        cmocka_unit_test(failure_rate_fails_on_too_many_failures_in_the_interval),
        cmocka_unit_test(failing_operator_restarts_from_checkpoint),
        cmocka_unit_test(an_output_path_that_does_not_exist_fails_the_job_without_restarts),
        cmocka_unit_test(a_permission_error_while_running_fails_the_job_without_restarts),
        cmocka_unit_test(the_restart_line_says_it_starts_over_when_no_checkpoint_completed),
        cmocka_unit_test(the_restart_line_names_the_checkpoint_it_restarts_from),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
