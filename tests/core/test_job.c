/*
 * Job graph building, validation and planning (chaining): each invalid graph
 * gets an error that names the operator and what to change.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <weir/config.h>
#include <weir/weir.h>

#include "weir_test.h"

static int pass(weir_ctx *ctx, const weir_rec *in, weir_emit *out)
{
    return weir_emit_forward(out, in);
}

static int keep(weir_ctx *ctx, const weir_rec *in)
{
    return 1;
}

static uint64_t key0(const weir_rec *r)
{
    return r->len;
}

static const struct weir_datagen_opts gen = {.records = 10, .record_size = 24};

/* Plans the job and returns the plan line, or the error. */
static const char *plan_of(weir_job *job, int p)
{
    static char buf[2048];
    char err[512];
    weir_config *c = wt_config(NULL);
    int rc = weir_job_describe_plan(job, c, p, buf, sizeof buf, err, sizeof err);
    weir_config_free(c);
    if (rc != 0)
        snprintf(buf, sizeof buf, "ERROR: %s", err);
    return buf;
}

static void forward_edges_of_equal_parallelism_chain(void **state)
{
    weir_job *job = weir_job_new("j");
    weir_stream *s = weir_source_datagen(job, "gen", &gen);
    s = weir_filter(weir_map(s, "map", pass), "filter", keep);
    weir_sink_blackhole(weir_key_by(s, key0), "sink");
    assert_string_equal(plan_of(job, 2), "[gen -> map -> filter x2] =hash=> sink; [sink x2]");
    weir_job_free(job);
}

static void different_parallelism_breaks_chain_with_rebalance(void **state)
{
    weir_job *job = weir_job_new("j");
    weir_stream *s = weir_set_parallelism(weir_source_datagen(job, "gen", &gen), 1);
    weir_sink_blackhole(weir_map(s, "map", pass), "sink");
    assert_string_equal(plan_of(job, 3), "[gen x1] =rebalance=> map; [map -> sink x3]");
    weir_job_free(job);
}

static void fan_out_is_not_chained(void **state)
{
    weir_job *job = weir_job_new("j");
    weir_stream *s = weir_source_datagen(job, "gen", &gen);
    weir_sink_blackhole(s, "a");
    weir_sink_blackhole(s, "b");
    assert_string_equal(plan_of(job, 1), "[gen x1] =forward=> a =forward=> b; [a x1]; [b x1]");
    weir_job_free(job);
}

static void set_name_shows_in_plan(void **state)
{
    weir_job *job = weir_job_new("j");
    weir_stream *s = weir_set_name(weir_source_datagen(job, "gen", &gen), "Generator");
    weir_sink_blackhole(s, "sink");
    assert_string_equal(plan_of(job, 1), "[Generator -> sink x1]");
    weir_job_free(job);
}

static void duplicate_uid_is_refused(void **state)
{
    weir_job *job = weir_job_new("j");
    weir_stream *s = weir_source_datagen(job, "gen", &gen);
    assert_null(weir_map(s, "gen", pass));
    assert_string_equal(weir_job_error(job),
                        "operator uid \"gen\" is used twice; uids must be unique in a job");
    /* sticky: later calls on NULL streams stay NULL, the first error stays */
    assert_null(weir_sink_blackhole(NULL, "sink"));
    assert_non_null(strstr(plan_of(job, 1), "used twice"));
    weir_job_free(job);
}

static void empty_uid_is_refused(void **state)
{
    weir_job *job = weir_job_new("j");
    assert_null(weir_source_datagen(job, "", &gen));
    assert_non_null(strstr(weir_job_error(job), "uid"));
    weir_job_free(job);
}

static void job_without_sink_is_refused(void **state)
{
    weir_job *job = weir_job_new("nosink");
    weir_map(weir_source_datagen(job, "gen", &gen), "map", pass);
    assert_string_equal(plan_of(job, 1),
                        "ERROR: operator \"map\": its output goes nowhere; add a sink (e.g. "
                        "weir_sink_blackhole) or remove it");
    weir_job_free(job);
}

static void empty_job_is_refused(void **state)
{
    weir_job *job = weir_job_new("empty");
    assert_string_equal(plan_of(job, 1), "ERROR: job empty: has no operators");
    weir_job_free(job);
}

static void sink_output_cannot_be_consumed(void **state)
{
    weir_job *job = weir_job_new("j");
    weir_stream *sink = weir_sink_blackhole(weir_source_datagen(job, "gen", &gen), "sink");
    assert_null(weir_map(sink, "after", pass));
    assert_non_null(strstr(weir_job_error(job), "sink \"sink\" has no output stream"));
    weir_job_free(job);
}

static void explicit_forward_with_different_parallelism_is_refused(void **state)
{
    weir_job *job = weir_job_new("j");
    weir_stream *s = weir_set_parallelism(weir_source_datagen(job, "gen", &gen), 1);
    weir_set_parallelism(weir_sink_blackhole(weir_forward(s), "sink"), 2);
    assert_string_equal(plan_of(job, 1),
                        "ERROR: forward edge \"gen\" -> \"sink\" joins parallelism 1 to 2; use "
                        "rebalance or key_by, or give both the same parallelism");
    weir_job_free(job);
}

static void parallelism_above_max_parallelism_is_refused(void **state)
{
    weir_job *job = weir_job_new("j");
    weir_sink_blackhole(weir_source_datagen(job, "gen", &gen), "sink");
    assert_string_equal(plan_of(job, 129),
                        "ERROR: operator \"gen\": parallelism 129 exceeds "
                        "pipeline.max-parallelism 128: raise pipeline.max-parallelism or lower "
                        "the parallelism");
    weir_job_free(job);
}

static void zero_parallelism_is_refused(void **state)
{
    weir_job *job = weir_job_new("j");
    assert_null(weir_set_parallelism(weir_source_datagen(job, "gen", &gen), 0));
    assert_string_equal(weir_job_error(job), "operator \"gen\": parallelism 0: must be at least 1");
    weir_job_free(job);
}

static void key_by_without_function_is_refused(void **state)
{
    weir_job *job = weir_job_new("j");
    assert_null(weir_key_by(weir_source_datagen(job, "gen", &gen), NULL));
    assert_string_equal(weir_job_error(job), "key_by: no key function");
    weir_job_free(job);
}

static int op_pass(weir_ctx *ctx, void *state, int input, const weir_rec *in, weir_emit *out)
{
    return 0;
}

/* List state without the hook that takes its items back would be restored into nothing. */
static void list_state_without_restore_items_is_refused(void **state)
{
    static const struct weir_operator_ops split = {
        .kind = "k", .process = op_pass, .state_mode = WEIR_STATE_SPLIT};
    weir_job *job = weir_job_new("j");
    assert_null(weir_sink(weir_source_datagen(job, "gen", &gen), "sink", &split, NULL));
    assert_string_equal(weir_job_error(job),
                        "operator \"sink\": state_mode is list state (WEIR_STATE_SPLIT) but it "
                        "has no restore_items hook to take the items back");
    weir_job_free(job);
}

static void key_groups_follow_flink(void **state)
{
    /* Reference values printed by Flink 2.3.0's own org.apache.flink.util.MathUtils:
     * murmurHash(Long.hashCode(k)), that % 128, and the owner at parallelism 3. */
    static const struct {
        uint64_t key;
        uint32_t murmur, kg, owner;
    } flink[] = {
        {0, 593689054, 94, 2},
        {1, 68075478, 86, 2},
        {42, 1134849565, 29, 0},
        {1000, 3506311, 7, 0},
        {123456789, 1088346449, 81, 1},
        {UINT64_MAX, 593689054, 94, 2},
        {4294967296ull, 68075478, 86, 2},
    };
    for (size_t i = 0; i < sizeof flink / sizeof flink[0]; i++) {
        assert_int_equal(weir_murmur_int(weir_key_hash_code(flink[i].key)), flink[i].murmur);
        assert_int_equal(weir_key_group_of(flink[i].key, 128), flink[i].kg);
        assert_int_equal(weir_key_group_subtask(flink[i].kg, 128, 3), flink[i].owner);
    }
    assert_int_equal(weir_key_group_range_start(0, 128, 3), 0);
    assert_int_equal(weir_key_group_range_end(0, 128, 3), 42);
    assert_int_equal(weir_key_group_range_start(1, 128, 3), 43);
    assert_int_equal(weir_key_group_range_end(1, 128, 3), 85);
    assert_int_equal(weir_key_group_range_start(2, 128, 3), 86);
    assert_int_equal(weir_key_group_range_end(2, 128, 3), 127);
    /* every key group's owner agrees with the ranges */
    for (uint32_t p = 1; p <= 16; p++)
        for (uint32_t kg = 0; kg < 128; kg++) {
            uint32_t i = weir_key_group_subtask(kg, 128, p);
            assert_true(kg >= weir_key_group_range_start(i, 128, p));
            assert_true(kg <= weir_key_group_range_end(i, 128, p));
        }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(forward_edges_of_equal_parallelism_chain),
        cmocka_unit_test(different_parallelism_breaks_chain_with_rebalance),
        cmocka_unit_test(fan_out_is_not_chained),
        cmocka_unit_test(set_name_shows_in_plan),
        cmocka_unit_test(duplicate_uid_is_refused),
        cmocka_unit_test(empty_uid_is_refused),
        cmocka_unit_test(job_without_sink_is_refused),
        cmocka_unit_test(empty_job_is_refused),
        cmocka_unit_test(sink_output_cannot_be_consumed),
        cmocka_unit_test(explicit_forward_with_different_parallelism_is_refused),
        cmocka_unit_test(parallelism_above_max_parallelism_is_refused),
        cmocka_unit_test(zero_parallelism_is_refused),
        cmocka_unit_test(key_by_without_function_is_refused),
        cmocka_unit_test(list_state_without_restore_items_is_refused),
        cmocka_unit_test(key_groups_follow_flink),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
