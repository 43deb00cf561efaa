/*
 * Window join and interval join of two keyed streams, on both state
 * backends, with hand-computed pairs. Both inputs come from one scripted
 * source split by side, so per key the order of records and watermarks is
 * the script's; where an outcome would depend on when the other input's
 * watermark arrives, the script waits for the operator to have acted.
 */
#include "ops_test.h"

/* What the test join function emits per pair. */
struct jres {
    uint64_t key, a_id, b_id;
    int64_t ts;
};

static int join_ids(weir_ctx *ctx, const weir_rec *a, const weir_rec *b, int64_t ts, weir_emit *out)
{
    const struct wt_rec *ra = wt_rec_of(a), *rb = wt_rec_of(b);
    /* the current key is both records' key */
    if (ra->key != weir_ctx_current_key(ctx) || rb->key != ra->key || ra->side != 0 ||
        rb->side != 1)
        return -EPROTO;
    struct jres j = {.key = ra->key, .a_id = ra->id, .b_id = rb->id, .ts = ts};
    return weir_emit_copy(out, ts, &j, sizeof j);
}

static void expect_pairs(int c, const struct jres *want, size_t n)
{
    bool *used = calloc(n + 1, 1);
    for (size_t i = 0; i < wt_collected(c); i++) {
        const struct wt_out *o = wt_out(c, i);
        assert_int_equal(o->len, sizeof(struct jres));
        struct jres g;
        memcpy(&g, o->data, sizeof g);
        assert_int_equal(o->ts, g.ts);
        size_t j;
        for (j = 0; j < n; j++)
            if (!used[j] && !memcmp(&g, &want[j], sizeof g))
                break;
        if (j == n)
            fail_msg("unexpected pair key %" PRIu64 " a %" PRIu64 " b %" PRIu64 " ts %" PRId64,
                     g.key, g.a_id, g.b_id, g.ts);
        used[j] = true;
    }
    for (size_t j = 0; j < n; j++)
        if (!used[j])
            fail_msg("missing pair key %" PRIu64 " a %" PRIu64 " b %" PRIu64 " ts %" PRId64,
                     want[j].key, want[j].a_id, want[j].b_id, want[j].ts);
    free(used);
}

static void test_window_join_pairs_per_key_and_window(void **st)
{
    const char *backend = *st;
    /* clang-format off */
    static const struct wt_ev ev[] = {
        WT_D(1, 1, 0, 1),
        WT_D(5, 1, 0, 2),
        WT_D(12, 1, 0, 3),
        WT_D(3, 2, 0, 4),
        WT_DB(2, 1, 0, 11),
        WT_DB(8, 1, 0, 12),
        WT_DB(15, 1, 0, 13),
        WT_DB(9, 3, 0, 14),
        WT_W(9),              /* fires [0,10): four pairs of key 1 */
        WT_WAIT(0, 4),        /* ... on both inputs: now the window is gone */
        WT_D(4, 1, 0, 5),     /* too late on a */
        WT_DB(7, 1, 0, 15),   /* too late on b */
    };
    /* clang-format on */
    struct wt_script sc = WT_SCRIPT(ev);
    colls_reset();
    weir_job *job = weir_job_new("window-join");
    weir_stream *a, *b;
    split_keyed(wt_script_source(job, "src", &sc), &a, &b);
    struct weir_join_opts o = {.a_max_size = sizeof(struct wt_rec),
                               .b_max_size = sizeof(struct wt_rec),
                               .late_tag_a = "late-a",
                               .late_tag_b = "late-b"};
    weir_stream *j = weir_window_join(a, b, "join", weir_tumbling(10), join_ids, &o);
    wt_collect(j, "out", 0);
    wt_collect(weir_side_output(j, "late-a"), "late-a-out", 1);
    wt_collect(weir_side_output(j, "late-b"), "late-b-out", 2);
    run_job(job, backend, 2);
    weir_job_free(job);
    assert_int_equal(atomic_load(&leftover_entries), 0);
    static const struct jres want[] = {
        {1, 1, 11, 9}, {1, 1, 12, 9}, {1, 2, 11, 9}, {1, 2, 12, 9}, {1, 3, 13, 19}};
    expect_pairs(0, want, 5);
    assert_int_equal(wt_collected(1), 1);
    assert_int_equal(wt_out_rec(1, 0)->id, 5);
    assert_int_equal(wt_collected(2), 1);
    assert_int_equal(wt_out_rec(2, 0)->id, 15);
    assert_int_equal(atomic_load(&late_count), 2);
}

static void test_window_join_sliding_pairs_in_every_shared_window(void **st)
{
    const char *backend = *st;
    /* clang-format off */
    static const struct wt_ev ev[] = {
        WT_D(4, 1, 0, 1),    /* windows [0,10) [-5,5) */
        WT_DB(6, 1, 0, 11),  /* [5,15) [0,10) */
        WT_DB(1, 1, 0, 12),  /* [0,10) [-5,5) */
    };
    /* clang-format on */
    struct wt_script sc = WT_SCRIPT(ev);
    colls_reset();
    weir_job *job = weir_job_new("window-join-sliding");
    weir_stream *a, *b;
    split_keyed(wt_script_source(job, "src", &sc), &a, &b);
    struct weir_join_opts o = {.a_max_size = sizeof(struct wt_rec),
                               .b_max_size = sizeof(struct wt_rec)};
    wt_collect(weir_window_join(a, b, "join", weir_sliding(10, 5), join_ids, &o), "out", 0);
    run_job(job, backend, 1);
    weir_job_free(job);
    assert_int_equal(atomic_load(&leftover_entries), 0);
    static const struct jres want[] = {{1, 1, 11, 9}, {1, 1, 12, 9}, {1, 1, 12, 4}};
    expect_pairs(0, want, 3);
}

static void test_window_join_late_record_refires_all_pairs(void **st)
{
    const char *backend = *st;
    /* clang-format off */
    static const struct wt_ev ev[] = {
        WT_D(1, 1, 0, 1),
        WT_DB(2, 1, 0, 11),
        WT_W(9),             /* fires [0,10): (1, 11) */
        WT_WAIT(0, 1),
        WT_DB(5, 1, 0, 12),  /* late, allowed (9 + 10 > 9): fires again, both pairs */
        WT_W(19),            /* the window is cleaned up */
        WT_SLEEP(200),       /* ... on both inputs */
        WT_D(3, 1, 0, 2),    /* too late */
    };
    /* clang-format on */
    struct wt_script sc = WT_SCRIPT(ev);
    colls_reset();
    weir_job *job = weir_job_new("window-join-lateness");
    weir_stream *a, *b;
    split_keyed(wt_script_source(job, "src", &sc), &a, &b);
    struct weir_join_opts o = {.a_max_size = sizeof(struct wt_rec),
                               .b_max_size = sizeof(struct wt_rec),
                               .allowed_lateness_ms = 10,
                               .late_tag_a = "late-a"};
    weir_stream *j = weir_window_join(a, b, "join", weir_tumbling(10), join_ids, &o);
    wt_collect(j, "out", 0);
    wt_collect(weir_side_output(j, "late-a"), "late-a-out", 1);
    run_job(job, backend, 2);
    weir_job_free(job);
    assert_int_equal(atomic_load(&leftover_entries), 0);
    static const struct jres want[] = {{1, 1, 11, 9}, {1, 1, 11, 9}, {1, 1, 12, 9}};
    expect_pairs(0, want, 3);
    assert_int_equal(wt_collected(1), 1);
    assert_int_equal(wt_out_rec(1, 0)->id, 2);
    assert_int_equal(atomic_load(&late_count), 1);
}

static void test_interval_join_pairs_within_bounds_and_drops_late(void **st)
{
    const char *backend = *st;
    /* b.ts in [a.ts - 2, a.ts + 3] */
    /* clang-format off */
    static const struct wt_ev ev[] = {
        WT_D(10, 1, 0, 1),
        WT_DB(8, 1, 0, 11),   /* joins a1 (10) */
        WT_DB(13, 1, 0, 12),  /* joins a1 (13) */
        WT_DB(14, 1, 0, 13),  /* too far from a1 */
        WT_D(12, 1, 0, 2),    /* joins b12 (13), b13 (14); not b11 */
        WT_DB(7, 1, 0, 14),   /* a in [4, 9]: none */
        WT_D(10, 2, 0, 3),
        WT_DB(10, 2, 0, 15),  /* key 2 */
        WT_W(20),             /* every buffered record is past its last match */
        WT_SLEEP(200),        /* ... and the watermark has reached the join on both inputs */
        WT_DB(19, 1, 0, 16),  /* 19 < 20: late */
        WT_D(25, 1, 0, 4),
        WT_DB(26, 1, 0, 17),
        WT_DB(23, 1, 0, 18),
        WT_DB(21, 1, 0, 19),
    };
    /* clang-format on */
    struct wt_script sc = WT_SCRIPT(ev);
    colls_reset();
    weir_job *job = weir_job_new("interval-join");
    weir_stream *a, *b;
    split_keyed(wt_script_source(job, "src", &sc), &a, &b);
    struct weir_join_opts o = {.a_max_size = sizeof(struct wt_rec),
                               .b_max_size = sizeof(struct wt_rec),
                               .late_tag_b = "late-b"};
    weir_stream *j = weir_interval_join(a, b, "ijoin", -2, 3, join_ids, &o);
    wt_collect(j, "out", 0);
    wt_collect(weir_side_output(j, "late-b"), "late-b-out", 1);
    run_job(job, backend, 2);
    weir_job_free(job);
    assert_int_equal(atomic_load(&leftover_entries), 0);
    static const struct jres want[] = {{1, 1, 11, 10}, {1, 1, 12, 13}, {1, 2, 12, 13},
                                       {1, 2, 13, 14}, {2, 3, 15, 10}, {1, 4, 17, 26},
                                       {1, 4, 18, 25}};
    expect_pairs(0, want, 7);
    assert_int_equal(wt_collected(1), 1);
    assert_int_equal(wt_out_rec(1, 0)->id, 16);
    assert_int_equal(atomic_load(&late_count), 1);
}

static void test_interval_join_negative_interval(void **st)
{
    const char *backend = *st;
    /* b.ts in [a.ts - 5, a.ts - 1]: b strictly before a */
    /* clang-format off */
    static const struct wt_ev ev[] = {
        WT_DB(3, 1, 0, 11),
        WT_DB(5, 1, 0, 12),
        WT_D(6, 1, 0, 1),
        WT_DB(6, 1, 0, 13),
        WT_D(10, 1, 0, 2),
    };
    /* clang-format on */
    struct wt_script sc = WT_SCRIPT(ev);
    colls_reset();
    weir_job *job = weir_job_new("interval-join-neg");
    weir_stream *a, *b;
    split_keyed(wt_script_source(job, "src", &sc), &a, &b);
    struct weir_join_opts o = {.a_max_size = sizeof(struct wt_rec),
                               .b_max_size = sizeof(struct wt_rec)};
    wt_collect(weir_interval_join(a, b, "ijoin", -5, -1, join_ids, &o), "out", 0);
    run_job(job, backend, 1);
    weir_job_free(job);
    assert_int_equal(atomic_load(&leftover_entries), 0);
    static const struct jres want[] = {
        {1, 1, 11, 6}, {1, 1, 12, 6}, {1, 2, 12, 10}, {1, 2, 13, 10}};
    expect_pairs(0, want, 4);
}

static void test_join_record_larger_than_max_size_fails_the_job(void **st)
{
    static const struct wt_ev ev[] = {WT_D(1, 1, 0, 1), WT_DB(1, 1, 0, 2)};
    struct wt_script sc = WT_SCRIPT(ev);
    colls_reset();
    weir_job *job = weir_job_new("too-big");
    weir_stream *a, *b;
    split_keyed(wt_script_source(job, "src", &sc), &a, &b);
    struct weir_join_opts o = {.a_max_size = 8, .b_max_size = sizeof(struct wt_rec)};
    wt_collect(weir_interval_join(a, b, "ijoin", 0, 1, join_ids, &o), "out", 0);
    char err[512];
    run_job_expect_fail(job, "hashmap", err, sizeof err);
    assert_non_null(strstr(err, "a_max_size"));
    weir_job_free(job);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        BOTH(test_window_join_pairs_per_key_and_window),
        BOTH(test_window_join_sliding_pairs_in_every_shared_window),
        BOTH(test_window_join_late_record_refires_all_pairs),
        BOTH(test_interval_join_pairs_within_bounds_and_drops_late),
        BOTH(test_interval_join_negative_interval),
        cmocka_unit_test(test_join_record_larger_than_max_size_fails_the_job),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    colls_reset();
    return rc;
}
