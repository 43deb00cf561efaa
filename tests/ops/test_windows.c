/*
 * Window aggregates on the real runtime, on both state backends, with
 * hand-computed expectations: tumbling, sliding and session windows over
 * out-of-order input, allowed lateness (late firings), records too late for
 * any window (side output, counted), processing-time windows, and option
 * errors that fail the job with a reason.
 */
#include "ops_test.h"

/* A window result with an int64 result, as the tests expect them. */
struct wres {
    uint64_t key;
    int64_t start, end, v;
};

/* Checks collector c against want[] (any order; the result timestamp must be
 * end - 1). */
static void expect_windows(int c, const struct wres *want, size_t n)
{
    struct wres *got = calloc(wt_collected(c) + 1, sizeof *got);
    assert_non_null(got);
    for (size_t i = 0; i < wt_collected(c); i++) {
        const struct wt_out *o = wt_out(c, i);
        assert_int_equal(o->len, sizeof(struct weir_window_result) + 8);
        const struct weir_window_result *r = (const void *)o->data;
        got[i] = (struct wres){r->key, r->start, r->end, weir_result_i64(r->result)};
        assert_int_equal(o->ts, r->end - 1);
    }
    bool *used = calloc(n + 1, 1);
    for (size_t i = 0; i < wt_collected(c); i++) {
        size_t j;
        for (j = 0; j < n; j++)
            if (!used[j] && !memcmp(&got[i], &want[j], sizeof got[i]))
                break;
        if (j == n)
            fail_msg("collector %d: unexpected result key %" PRIu64 " [%" PRId64 ", %" PRId64
                     ") = %" PRId64,
                     c, got[i].key, got[i].start, got[i].end, got[i].v);
        used[j] = true;
    }
    for (size_t j = 0; j < n; j++)
        if (!used[j])
            fail_msg("collector %d: missing result key %" PRIu64 " [%" PRId64 ", %" PRId64
                     ") = %" PRId64,
                     c, want[j].key, want[j].start, want[j].end, want[j].v);
    free(used);
    free(got);
}

/* --- tumbling ------------------------------------------------------------------------ */

static void test_tumbling_sum_fires_on_watermark_and_drops_late(void **st)
{
    const char *backend = *st;
    /* clang-format off */
    static const struct wt_ev ev[] = {
        WT_D(1, 1, 1, 1),
        WT_D(5, 1, 2, 2),
        WT_D(12, 1, 4, 3),
        WT_D(3, 2, 10, 4),
        WT_W(9),             /* fires [0,10) */
        WT_D(8, 1, 100, 5),  /* [0,10) is gone: late */
        WT_D(15, 2, 20, 6),
        WT_D(19, 1, 8, 7),
        WT_W(25),
        WT_D(21, 1, 1, 8),
    };
    /* clang-format on */
    struct wt_script sc = WT_SCRIPT(ev);
    colls_reset();
    weir_job *job = weir_job_new("tumbling");
    struct weir_window_opts o = {.late_tag = "late"};
    weir_stream *w = weir_window_aggregate(keyed_script(job, &sc), "sum", weir_tumbling(10),
                                           &weir_agg_sum, wt_value_of, &o);
    wt_collect(w, "out", 0);
    wt_collect(weir_side_output(w, "late"), "late-out", 1);
    run_job(job, backend, 2);
    weir_job_free(job);
    assert_int_equal(atomic_load(&leftover_entries), 0);
    static const struct wres want[] = {
        {1, 0, 10, 3}, {1, 10, 20, 12}, {1, 20, 30, 1}, {2, 0, 10, 10}, {2, 10, 20, 20}};
    expect_windows(0, want, 5);
    static const uint64_t late[] = {5};
    expect_ids(1, late, 1);
    assert_int_equal(wt_out(1, 0)->ts, 8); /* the late record, unchanged */
    assert_int_equal(atomic_load(&late_count), 1);
}

static void test_builtin_aggregates_per_window(void **st)
{
    const char *backend = *st;
    /* clang-format off */
    static const struct wt_ev ev[] = {
        WT_D(3, 1, 4, 1),
        WT_D(12, 1, 10, 2),
        WT_D(0, 1, -2, 3),
        WT_D(5, 2, 5, 4),
        WT_D(9, 1, 7, 5),
        WT_D(19, 1, 1, 6),
    };
    /* clang-format on */
    struct wt_script sc = WT_SCRIPT(ev);
    colls_reset();
    weir_job *job = weir_job_new("aggregates");
    weir_stream *k = keyed_script(job, &sc);
    const struct weir_aggregate_fn *aggs[] = {&weir_agg_count, &weir_agg_sum, &weir_agg_min,
                                              &weir_agg_max, &weir_agg_avg};
    const char *uids[] = {"count", "sum", "min", "max", "avg"};
    for (int i = 0; i < 5; i++) {
        char sink[32];
        snprintf(sink, sizeof sink, "out-%s", uids[i]);
        wt_collect(weir_window_aggregate(k, uids[i], weir_tumbling(10), aggs[i],
                                         i == 0 ? NULL : wt_value_of, NULL),
                   sink, i);
    }
    run_job(job, backend, 2);
    weir_job_free(job);
    assert_int_equal(atomic_load(&leftover_entries), 0);
    static const struct wres count[] = {{1, 0, 10, 3}, {1, 10, 20, 2}, {2, 0, 10, 1}};
    static const struct wres sum[] = {{1, 0, 10, 9}, {1, 10, 20, 11}, {2, 0, 10, 5}};
    static const struct wres min[] = {{1, 0, 10, -2}, {1, 10, 20, 1}, {2, 0, 10, 5}};
    static const struct wres max[] = {{1, 0, 10, 7}, {1, 10, 20, 10}, {2, 0, 10, 5}};
    expect_windows(0, count, 3);
    expect_windows(1, sum, 3);
    expect_windows(2, min, 3);
    expect_windows(3, max, 3);
    assert_int_equal(wt_collected(4), 3);
    for (size_t i = 0; i < 3; i++) {
        const struct weir_window_result *r = (const void *)wt_out(4, i)->data;
        double want = r->key == 2 ? 5.0 : r->start == 0 ? 3.0 : 5.5;
        assert_true(weir_result_double(r->result) == want);
    }
}

/* --- sliding ------------------------------------------------------------------------- */

static void test_sliding_sum_negative_ts_and_partly_late_record(void **st)
{
    const char *backend = *st;
    /* clang-format off */
    static const struct wt_ev ev[] = {
        WT_D(7, 1, 2, 1),
        WT_D(1, 1, 1, 2),
        WT_D(-3, 1, 8, 3),
        WT_D(12, 1, 4, 4),
        WT_W(4),            /* fires [-10,0) and [-5,5) */
        WT_D(2, 1, 16, 5),  /* [-5,5) is gone, [0,10) is not: taken, not late */
    };
    /* clang-format on */
    struct wt_script sc = WT_SCRIPT(ev);
    colls_reset();
    weir_job *job = weir_job_new("sliding");
    struct weir_window_opts o = {.late_tag = "late"};
    weir_stream *w = weir_window_aggregate(keyed_script(job, &sc), "sum", weir_sliding(10, 5),
                                           &weir_agg_sum, wt_value_of, &o);
    wt_collect(w, "out", 0);
    wt_collect(weir_side_output(w, "late"), "late-out", 1);
    run_job(job, backend, 2);
    weir_job_free(job);
    assert_int_equal(atomic_load(&leftover_entries), 0);
    static const struct wres want[] = {
        {1, -10, 0, 8}, {1, -5, 5, 9}, {1, 0, 10, 19}, {1, 5, 15, 6}, {1, 10, 20, 4}};
    expect_windows(0, want, 5);
    assert_int_equal(wt_collected(1), 0);
    assert_int_equal(atomic_load(&late_count), 0);
}

/* --- allowed lateness ------------------------------------------------------------------ */

static void test_allowed_lateness_refires_then_side_outputs(void **st)
{
    const char *backend = *st;
    /* clang-format off */
    static const struct wt_ev ev[] = {
        WT_D(1, 1, 1, 1),
        WT_D(4, 1, 2, 2),
        WT_W(9),              /* fires [0,10) = 3 */
        WT_D(3, 1, 10, 3),    /* late, allowed: fires again, 13 */
        WT_W(13),
        WT_D(5, 1, 100, 4),   /* still allowed: 113 */
        WT_W(14),             /* 9 + 5: the window is cleaned up */
        WT_D(6, 1, 1000, 5),  /* too late */
        WT_D(15, 1, 7, 6),
        WT_W(30),
    };
    /* clang-format on */
    struct wt_script sc = WT_SCRIPT(ev);
    colls_reset();
    weir_job *job = weir_job_new("lateness");
    struct weir_window_opts o = {.allowed_lateness_ms = 5, .late_tag = "late"};
    weir_stream *w = weir_window_aggregate(keyed_script(job, &sc), "sum", weir_tumbling(10),
                                           &weir_agg_sum, wt_value_of, &o);
    wt_collect(w, "out", 0);
    wt_collect(weir_side_output(w, "late"), "late-out", 1);
    run_job(job, backend, 2);
    weir_job_free(job);
    assert_int_equal(atomic_load(&leftover_entries), 0);
    static const struct wres want[] = {
        {1, 0, 10, 3}, {1, 0, 10, 13}, {1, 0, 10, 113}, {1, 10, 20, 7}};
    expect_windows(0, want, 4);
    static const uint64_t late[] = {5};
    expect_ids(1, late, 1);
    assert_int_equal(atomic_load(&late_count), 1);
}

static void test_too_late_without_side_output_is_counted(void **st)
{
    const char *backend = *st;
    /* clang-format off */
    static const struct wt_ev ev[] = {
        WT_D(1, 1, 1, 1),
        WT_W(20),
        WT_D(2, 1, 1, 2),
        WT_D(3, 7, 1, 3),
    };
    /* clang-format on */
    struct wt_script sc = WT_SCRIPT(ev);
    colls_reset();
    weir_job *job = weir_job_new("late-count");
    wt_collect(weir_window_aggregate(keyed_script(job, &sc), "count", weir_tumbling(10),
                                     &weir_agg_count, NULL, NULL),
               "out", 0);
    run_job(job, backend, 2);
    weir_job_free(job);
    assert_int_equal(atomic_load(&leftover_entries), 0);
    static const struct wres want[] = {{1, 0, 10, 1}};
    expect_windows(0, want, 1);
    assert_int_equal(atomic_load(&late_count), 2);
}

/* --- session windows ------------------------------------------------------------------- */

static void test_session_windows_merge_out_of_order(void **st)
{
    const char *backend = *st;
    /* clang-format off */
    static const struct wt_ev ev[] = {
        WT_D(1, 1, 1, 1),      /* [1,11) */
        WT_D(15, 1, 2, 2),     /* [15,25) */
        WT_D(8, 1, 4, 3),      /* [8,18) bridges both: [1,25) = 7 */
        WT_D(30, 2, 10, 4),    /* [30,40) */
        WT_D(40, 2, 20, 5),    /* [40,50) touches it: [30,50) = 30 */
        WT_W(24),              /* fires [1,25) and cleans it up */
        WT_D(26, 1, 100, 6),   /* a new session [26,36) */
        WT_D(10, 1, 1000, 7),  /* [10,20) alone, late */
    };
    /* clang-format on */
    struct wt_script sc = WT_SCRIPT(ev);
    colls_reset();
    weir_job *job = weir_job_new("session");
    struct weir_window_opts o = {.late_tag = "late"};
    weir_stream *w = weir_window_aggregate(keyed_script(job, &sc), "sum", weir_session(10),
                                           &weir_agg_sum, wt_value_of, &o);
    wt_collect(w, "out", 0);
    wt_collect(weir_side_output(w, "late"), "late-out", 1);
    run_job(job, backend, 2);
    weir_job_free(job);
    assert_int_equal(atomic_load(&leftover_entries), 0);
    static const struct wres want[] = {{1, 1, 25, 7}, {1, 26, 36, 100}, {2, 30, 50, 30}};
    expect_windows(0, want, 3);
    static const uint64_t late[] = {7};
    expect_ids(1, late, 1);
    assert_int_equal(atomic_load(&late_count), 1);
}

/* A user aggregate with merge, over whole payloads (no value function):
 * sum of squares and count. */
struct sq_acc {
    int64_t sum_sq, n;
};
static void sq_init(void *acc)
{
    *(struct sq_acc *)acc = (struct sq_acc){0, 0};
}
static void sq_add(void *acc, const void *in)
{
    const struct wt_rec *r = in;
    struct sq_acc *a = acc;
    a->sum_sq += r->value * r->value;
    a->n++;
}
static void sq_merge(void *acc, const void *other)
{
    struct sq_acc *a = acc;
    const struct sq_acc *b = other;
    a->sum_sq += b->sum_sq;
    a->n += b->n;
}
static void sq_result(const void *acc, void *out)
{
    memcpy(out, acc, sizeof(struct sq_acc));
}
static const struct weir_aggregate_fn sq_agg = {.acc_size = sizeof(struct sq_acc),
                                                .result_size = sizeof(struct sq_acc),
                                                .init = sq_init,
                                                .add = sq_add,
                                                .merge = sq_merge,
                                                .result = sq_result};

static void test_session_lateness_merges_into_fired_session(void **st)
{
    const char *backend = *st;
    /* clang-format off */
    static const struct wt_ev ev[] = {
        WT_D(0, 1, 1, 1),    /* [0,10) */
        WT_W(9),             /* fires [0,10): 1 */
        WT_D(12, 1, 2, 2),   /* [12,22), apart */
        WT_D(5, 1, 4, 3),    /* [5,15) joins both: [0,22) = 1 + 4 + 16, not fired yet */
        WT_W(21),            /* fires [0,22) */
        WT_D(3, 1, 8, 4),    /* inside [0,22), fired, allowed: fires again */
        WT_W(41),            /* 21 + 20: cleaned up */
        WT_D(30, 1, 16, 5),  /* [30,40) alone: fired by the watermark already, allowed */
        WT_D(2, 1, 32, 6),   /* [2,12) alone, 11 + 20 <= 41: too late */
    };
    /* clang-format on */
    struct wt_script sc = WT_SCRIPT(ev);
    colls_reset();
    weir_job *job = weir_job_new("session-late");
    struct weir_window_opts o = {.allowed_lateness_ms = 20, .late_tag = "late"};
    weir_stream *w =
        weir_window_aggregate(keyed_script(job, &sc), "sq", weir_session(10), &sq_agg, NULL, &o);
    wt_collect(w, "out", 0);
    wt_collect(weir_side_output(w, "late"), "late-out", 1);
    run_job(job, backend, 1);
    weir_job_free(job);
    assert_int_equal(atomic_load(&leftover_entries), 0);
    struct want {
        int64_t start, end, sum_sq, n;
    } want[] = {{0, 10, 1, 1}, {0, 22, 21, 3}, {0, 22, 85, 4}, {30, 40, 256, 1}};
    assert_int_equal(wt_collected(0), 4);
    wt_collect_sort(0, NULL);
    /* sorted by bytes: key, then start (little-endian, all >= 0 and < 256) ... check as a set */
    bool used[4] = {false};
    for (size_t i = 0; i < 4; i++) {
        const struct wt_out *o2 = wt_out(0, i);
        assert_int_equal(o2->len, sizeof(struct weir_window_result) + sizeof(struct sq_acc));
        const struct weir_window_result *r = (const void *)o2->data;
        struct sq_acc a;
        memcpy(&a, r->result, sizeof a);
        size_t j;
        for (j = 0; j < 4; j++)
            if (!used[j] && want[j].start == r->start && want[j].end == r->end &&
                want[j].sum_sq == a.sum_sq && want[j].n == a.n)
                break;
        if (j == 4)
            fail_msg("unexpected session [%" PRId64 ", %" PRId64 ") sum_sq %" PRId64 " n %" PRId64,
                     r->start, r->end, a.sum_sq, a.n);
        used[j] = true;
        assert_int_equal(r->key, 1);
        assert_int_equal(o2->ts, r->end - 1);
    }
    static const uint64_t late[] = {6};
    expect_ids(1, late, 1);
    assert_int_equal(atomic_load(&late_count), 1);
}

/* --- processing time ------------------------------------------------------------------- */

static void test_processing_time_tumbling_counts_every_record_once(void **st)
{
    const char *backend = *st;
    /* 60 records over about 300 ms of wall clock, then a pause so the last
     * windows' processing-time timers fire before the input ends. */
    static struct wt_ev ev[60 + 12 + 1];
    size_t n = 0;
    for (int i = 0; i < 60; i++) {
        ev[n++] = (struct wt_ev)WT_D(WEIR_TS_NONE, (uint64_t)(i % 3), 1, (uint64_t)i);
        if (i % 5 == 4)
            ev[n++] = (struct wt_ev)WT_SLEEP(25);
    }
    ev[n++] = (struct wt_ev)WT_SLEEP(400);
    struct wt_script sc = {.ev = ev, .n = n};
    colls_reset();
    weir_job *job = weir_job_new("proc-time");
    wt_collect(weir_window_aggregate(keyed_script(job, &sc), "count",
                                     weir_processing_time(weir_tumbling(100)), &weir_agg_count,
                                     NULL, NULL),
               "out", 0);
    run_job(job, backend, 2);
    weir_job_free(job);
    assert_int_equal(atomic_load(&leftover_entries), 0);
    int64_t total[3] = {0, 0, 0};
    assert_true(wt_collected(0) >= 3);
    for (size_t i = 0; i < wt_collected(0); i++) {
        const struct weir_window_result *r = (const void *)wt_out(0, i)->data;
        assert_true(r->key < 3);
        assert_int_equal(r->end - r->start, 100);
        assert_int_equal(r->start % 100, 0);
        assert_int_equal(wt_out(0, i)->ts, r->end - 1);
        total[r->key] += weir_result_i64(r->result);
    }
    for (int k = 0; k < 3; k++)
        assert_int_equal(total[k], 20);
}

/* --- option errors --------------------------------------------------------------------- */

static void test_session_with_an_aggregate_without_merge_fails_the_job(void **st)
{
    static const struct wt_ev ev[] = {WT_D(1, 1, 1, 1)};
    struct wt_script sc = WT_SCRIPT(ev);
    struct weir_aggregate_fn nomerge = sq_agg;
    nomerge.merge = NULL;
    colls_reset();
    weir_job *job = weir_job_new("bad");
    wt_collect(weir_window_aggregate(keyed_script(job, &sc), "sess", weir_session(10), &nomerge,
                                     NULL, NULL),
               "out", 0);
    char err[512];
    run_job_expect_fail(job, "hashmap", err, sizeof err);
    assert_non_null(strstr(err, "sess"));
    assert_non_null(strstr(err, "merge"));
    weir_job_free(job);
}

static void test_negative_window_size_fails_the_job(void **st)
{
    static const struct wt_ev ev[] = {WT_D(1, 1, 1, 1)};
    struct wt_script sc = WT_SCRIPT(ev);
    colls_reset();
    weir_job *job = weir_job_new("bad");
    wt_collect(weir_window_aggregate(keyed_script(job, &sc), "neg", weir_tumbling(-5),
                                     &weir_agg_sum, wt_value_of, NULL),
               "out", 0);
    char err[512];
    run_job_expect_fail(job, "hashmap", err, sizeof err);
    assert_non_null(strstr(err, "neg"));
    assert_non_null(strstr(err, "-5"));
    weir_job_free(job);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        BOTH(test_tumbling_sum_fires_on_watermark_and_drops_late),
        BOTH(test_builtin_aggregates_per_window),
        BOTH(test_sliding_sum_negative_ts_and_partly_late_record),
        BOTH(test_allowed_lateness_refires_then_side_outputs),
        BOTH(test_too_late_without_side_output_is_counted),
        BOTH(test_session_windows_merge_out_of_order),
        BOTH(test_session_lateness_merges_into_fired_session),
        BOTH(test_processing_time_tumbling_counts_every_record_once),
        cmocka_unit_test(test_session_with_an_aggregate_without_merge_fails_the_job),
        cmocka_unit_test(test_negative_window_size_fails_the_job),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    colls_reset();
    return rc;
}
