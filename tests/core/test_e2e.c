/*
 * End-to-end jobs on the real runtime (workers, rings, placement), small
 * inputs, exact expected outputs: every record arrives exactly once, every key
 * reaches exactly the subtask Flink's key-group formula names, backpressure
 * with tiny rings does not deadlock, bounded jobs drain, cancellation stops an
 * unbounded job with nothing in flight lost.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <weir/config.h>
#include <weir/weir.h>

#include "weir_test.h"

/* The datagen record collector 0 received as entry i. */
static const struct weir_datagen_rec *got(size_t i)
{
    return (const void *)wt_out(0, i)->data;
}

/* Orders collector entries by datagen sequence number. */
static int cmp_seq(const void *a, const void *b)
{
    const struct weir_datagen_rec *x = (const void *)((const struct wt_out *)a)->data;
    const struct weir_datagen_rec *y = (const void *)((const struct wt_out *)b)->data;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int add_one(weir_ctx *ctx, const weir_rec *in, weir_emit *out)
{
    struct weir_datagen_rec *o = weir_emit_reserve(out, in->len);
    if (!o)
        return -EMSGSIZE;
    memcpy(o, in->data, in->len);
    o->value += 1;
    return weir_emit_commit(out, in->ts);
}

static int keep_even_seq(weir_ctx *ctx, const weir_rec *in)
{
    return ((const struct weir_datagen_rec *)(const void *)in->data)->seq % 2 == 0;
}

static int run(weir_job *job, weir_config *cfg, int p, struct weir_run_stats *st, char *err,
               size_t errlen)
{
    return wt_run(job, cfg, &(struct wt_run){.parallelism = p}, st, err, errlen);
}

/* datagen -> map -> filter -> key_by -> collect at parallelism p. */
static void keyed_pipeline_exactly_once(int p)
{
    wt_collect_reset();
    const uint64_t n = 50000, keys = 1000;
    weir_config *cfg = wt_config(NULL);
    weir_job *job = weir_job_new("e2e");
    struct weir_datagen_opts o = {.records = n, .keys = keys, .record_size = 64, .seed = 7};
    weir_stream *s = weir_source_datagen(job, "gen", &o);
    s = weir_map(s, "add-one", add_one);
    s = weir_filter(s, "even", keep_even_seq);
    wt_collect(weir_key_by(s, wt_datagen_key), "collect", 0);
    struct weir_run_stats st;
    char err[1024] = "";
    int rc = run(job, cfg, p, &st, err, sizeof err);
    if (rc != 0)
        fail_msg("%s", err);
    assert_int_equal(st.source_records, n);
    assert_int_equal(st.sink_records, n / 2);
    assert_int_equal(wt_collected(0), n / 2);
    wt_collect_sort(0, cmp_seq);
    for (size_t i = 0; i < wt_collected(0); i++) {
        /* every even seq exactly once, in order after sorting: no loss, no duplicate */
        assert_int_equal(got(i)->seq, 2 * i);
        assert_int_equal(got(i)->key, got(i)->seq % keys);
        /* every key at exactly the subtask Flink's formula names */
        uint32_t kg = weir_key_group_of(got(i)->key, 128);
        assert_int_equal(wt_out(0, i)->subtask, weir_key_group_subtask(kg, 128, (uint32_t)p));
        assert_int_equal(wt_out(0, i)->parallelism, p);
    }
    weir_job_free(job);
    weir_config_free(cfg);
}

static void every_record_arrives_once_and_keys_reach_one_subtask_p1(void **state)
{
    keyed_pipeline_exactly_once(1);
}

static void every_record_arrives_once_and_keys_reach_one_subtask_p2(void **state)
{
    keyed_pipeline_exactly_once(2);
}

static void every_record_arrives_once_and_keys_reach_one_subtask_p4(void **state)
{
    keyed_pipeline_exactly_once(4);
}

static void rebalance_spreads_records_evenly(void **state)
{
    wt_collect_reset();
    weir_config *cfg = wt_config(NULL);
    weir_job *job = weir_job_new("rebalance");
    struct weir_datagen_opts o = {.records = 40000, .record_size = 24};
    weir_stream *s = weir_set_parallelism(weir_source_datagen(job, "gen", &o), 1);
    weir_set_parallelism(wt_collect(weir_rebalance(s), "collect", 0), 4);
    char err[512];
    struct weir_run_stats st;
    if (run(job, cfg, 4, &st, err, sizeof err) != 0)
        fail_msg("%s", err);
    assert_int_equal(wt_collected(0), 40000);
    for (int i = 0; i < 4; i++)
        assert_int_equal(wt_collected_by(0, i), 10000);
    weir_job_free(job);
    weir_config_free(cfg);
}

static void broadcast_reaches_every_subtask(void **state)
{
    wt_collect_reset();
    weir_config *cfg = wt_config(NULL);
    weir_job *job = weir_job_new("broadcast");
    struct weir_datagen_opts o = {.records = 5000, .record_size = 24};
    weir_stream *s = weir_set_parallelism(weir_source_datagen(job, "gen", &o), 1);
    weir_set_parallelism(wt_collect(weir_broadcast(s), "collect", 0), 3);
    char err[512];
    struct weir_run_stats st;
    if (run(job, cfg, 3, &st, err, sizeof err) != 0)
        fail_msg("%s", err);
    assert_int_equal(wt_collected(0), 15000);
    for (int i = 0; i < 3; i++)
        assert_int_equal(wt_collected_by(0, i), 5000);
    weir_job_free(job);
    weir_config_free(cfg);
}

static void union_merges_two_sources(void **state)
{
    wt_collect_reset();
    weir_config *cfg = wt_config(NULL);
    weir_job *job = weir_job_new("union");
    struct weir_datagen_opts a = {.records = 3000, .record_size = 24};
    struct weir_datagen_opts b = {.records = 2000, .record_size = 32};
    weir_stream *u =
        weir_union(weir_source_datagen(job, "a", &a), weir_source_datagen(job, "b", &b));
    wt_collect(weir_key_by(u, wt_datagen_key), "collect", 0);
    char err[512];
    struct weir_run_stats st;
    if (run(job, cfg, 2, &st, err, sizeof err) != 0)
        fail_msg("%s", err);
    assert_int_equal(st.source_records, 5000);
    assert_int_equal(wt_collected(0), 5000);
    wt_collect_sort(0, cmp_seq);
    /* seq 0..1999 twice (both sources), 2000..2999 once */
    for (size_t i = 0; i < 4000; i++)
        assert_int_equal(got(i)->seq, i / 2);
    for (size_t i = 4000; i < 5000; i++)
        assert_int_equal(got(i)->seq, i - 2000);
    weir_job_free(job);
    weir_config_free(cfg);
}

/* Rings of two small buffers and a sink that sleeps: producers are parked again
 * and again; the job must still finish with every record. */
static void tiny_rings_and_slow_sink_do_not_deadlock(void **state)
{
    for (int p = 2; p <= 4; p += 2) {
        wt_collect_reset();
        wt_collect_slow(0, 64, 50);
        static const char *const defs[] = {"network.buffers-per-channel=2",
                                           "memory.segment-size=4kb", NULL};
        weir_config *cfg = wt_config(defs);
        weir_job *job = weir_job_new("backpressure");
        struct weir_datagen_opts o = {.records = 60000, .keys = 97, .record_size = 200};
        weir_stream *s = weir_map(weir_source_datagen(job, "gen", &o), "add-one", add_one);
        wt_collect(weir_key_by(s, wt_datagen_key), "collect", 0);
        char err[512];
        struct weir_run_stats st;
        if (run(job, cfg, p, &st, err, sizeof err) != 0)
            fail_msg("%s", err);
        assert_int_equal(wt_collected(0), 60000);
        wt_collect_sort(0, cmp_seq);
        for (size_t i = 0; i < wt_collected(0); i++)
            assert_int_equal(got(i)->seq, i);
        weir_job_free(job);
        weir_config_free(cfg);
    }
}

static void buffer_timeout_zero_still_delivers_everything(void **state)
{
    wt_collect_reset();
    static const char *const defs[] = {"execution.buffer-timeout=0", NULL};
    weir_config *cfg = wt_config(defs);
    weir_job *job = weir_job_new("timeout0");
    struct weir_datagen_opts o = {.records = 20000, .record_size = 24};
    wt_collect(weir_rebalance(weir_source_datagen(job, "gen", &o)), "collect", 0);
    char err[512];
    struct weir_run_stats st;
    if (run(job, cfg, 2, &st, err, sizeof err) != 0)
        fail_msg("%s", err);
    assert_int_equal(wt_collected(0), 20000);
    weir_job_free(job);
    weir_config_free(cfg);
}

/* --- cancellation ------------------------------------------------------------ */

struct bg_run {
    weir_job *job;
    weir_config *cfg;
    int rc;
    struct weir_run_stats st;
    char err[512];
};

static void *bg_main(void *arg)
{
    struct bg_run *b = arg;
    b->rc = run(b->job, b->cfg, 2, &b->st, b->err, sizeof b->err);
    return NULL;
}

static void cancel_stops_unbounded_job_and_drains(void **state)
{
    wt_collect_reset();
    struct bg_run b = {.cfg = wt_config(NULL)};
    b.job = weir_job_new("unbounded");
    struct weir_datagen_opts o = {.records = 0, .keys = 100, .record_size = 24, .rate = 200000};
    wt_collect(weir_key_by(weir_source_datagen(b.job, "gen", &o), wt_datagen_key), "collect", 0);
    pthread_t th;
    pthread_create(&th, NULL, bg_main, &b);
    usleep(300000);
    weir_job_cancel(b.job);
    pthread_join(th, NULL);
    if (b.rc != 0)
        fail_msg("%s", b.err);
    assert_true(b.st.cancelled);
    assert_true(b.st.source_records > 0);
    /* everything the sources emitted before stopping reached the sink */
    assert_int_equal(b.st.sink_records, b.st.source_records);
    assert_int_equal(wt_collected(0), b.st.source_records);
    weir_job_free(b.job);
    weir_config_free(b.cfg);
}

/* --- failures ------------------------------------------------------------------ */

static int fail_at_1000(weir_ctx *ctx, const weir_rec *in, weir_emit *out)
{
    const struct weir_datagen_rec *r = (const void *)in->data;
    if (r->seq == 1000) {
        weir_ctx_fail(ctx, "record %llu is poison", (unsigned long long)r->seq);
        return -EINVAL;
    }
    return weir_emit_forward(out, in);
}

static void failing_operator_fails_job_with_its_uid(void **state)
{
    weir_config *cfg = wt_config(NULL);
    weir_job *job = weir_job_new("poison");
    struct weir_datagen_opts o = {.records = 100000, .record_size = 24};
    weir_stream *s = weir_map(weir_source_datagen(job, "gen", &o), "poison-map", fail_at_1000);
    weir_sink_blackhole(weir_rebalance(s), "sink");
    char err[512] = "";
    struct weir_run_stats st;
    assert_int_not_equal(run(job, cfg, 2, &st, err, sizeof err), 0);
    assert_non_null(strstr(err, "poison-map"));
    assert_non_null(strstr(err, "record 1000 is poison"));
    weir_job_free(job);
    weir_config_free(cfg);
}

static void network_pool_too_small_names_the_keys(void **state)
{
    static const char *const defs[] = {"memory.segment-size=1mb", "network.buffers-per-channel=64",
                                       NULL};
    weir_config *cfg = wt_config(defs);
    weir_job *job = weir_job_new("big");
    struct weir_datagen_opts o = {.records = 10, .record_size = 24};
    weir_sink_blackhole(weir_key_by(weir_source_datagen(job, "gen", &o), wt_datagen_key), "sink");
    char err[1024] = "";
    struct weir_run_stats st;
    assert_int_equal(run(job, cfg, 2, &st, err, sizeof err), -ENOMEM);
    assert_non_null(strstr(err, "memory.network."));
    assert_non_null(strstr(err, "network.buffers-per-channel"));
    assert_non_null(strstr(err, "4 channels"));
    weir_job_free(job);
    weir_config_free(cfg);
}

/* --- file source split ------------------------------------------------------------ */

static int line_to_rec(weir_ctx *ctx, const weir_rec *in, weir_emit *out)
{
    struct weir_datagen_rec r = {0};
    char buf[32];
    size_t n = in->len < sizeof buf - 1 ? in->len : sizeof buf - 1;
    memcpy(buf, in->data, n);
    buf[n] = 0;
    r.seq = strtoull(buf + 5, NULL, 10); /* "line-N" */
    r.key = r.seq;
    return weir_emit_copy(out, in->ts, &r, sizeof r);
}

static void file_source_reads_every_line_once_at_any_parallelism(void **state)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/lines.txt", wt_tmp_dir("e2e"));
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    const int lines = 10007;
    for (int i = 0; i < lines; i++)
        fprintf(f, "line-%d%s", i, i + 1 < lines ? "\n" : ""); /* no final newline */
    fclose(f);
    for (int p = 1; p <= 4; p++) {
        wt_collect_reset();
        weir_config *cfg = wt_config(NULL);
        weir_job *job = weir_job_new("lines");
        weir_stream *s = weir_map(weir_source_file(job, "src", path), "parse", line_to_rec);
        wt_collect(weir_rebalance(s), "collect", 0);
        char err[512];
        struct weir_run_stats st;
        if (run(job, cfg, p, &st, err, sizeof err) != 0)
            fail_msg("%s", err);
        assert_int_equal(wt_collected(0), lines);
        wt_collect_sort(0, cmp_seq);
        for (size_t i = 0; i < wt_collected(0); i++)
            assert_int_equal(got(i)->seq, i);
        weir_job_free(job);
        weir_config_free(cfg);
    }
    unlink(path);
}

static void missing_input_file_names_path_and_operator(void **state)
{
    weir_config *cfg = wt_config(NULL);
    weir_job *job = weir_job_new("missing");
    weir_sink_blackhole(weir_source_file(job, "src", "/nonexistent/in.txt"), "sink");
    char err[512] = "";
    struct weir_run_stats st;
    assert_int_not_equal(run(job, cfg, 1, &st, err, sizeof err), 0);
    assert_non_null(strstr(err, "/nonexistent/in.txt: No such file or directory"));
    assert_non_null(strstr(err, "src"));
    weir_job_free(job);
    weir_config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_record_arrives_once_and_keys_reach_one_subtask_p1),
        cmocka_unit_test(every_record_arrives_once_and_keys_reach_one_subtask_p2),
        cmocka_unit_test(every_record_arrives_once_and_keys_reach_one_subtask_p4),
        cmocka_unit_test(rebalance_spreads_records_evenly),
        cmocka_unit_test(broadcast_reaches_every_subtask),
        cmocka_unit_test(union_merges_two_sources),
        cmocka_unit_test(tiny_rings_and_slow_sink_do_not_deadlock),
        cmocka_unit_test(buffer_timeout_zero_still_delivers_everything),
        cmocka_unit_test(cancel_stops_unbounded_job_and_drains),
        cmocka_unit_test(failing_operator_fails_job_with_its_uid),
        cmocka_unit_test(network_pool_too_small_names_the_keys),
        cmocka_unit_test(file_source_reads_every_line_once_at_any_parallelism),
        cmocka_unit_test(missing_input_file_names_path_and_operator),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    wt_collect_reset();
    return rc;
}
