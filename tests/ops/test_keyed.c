/*
 * Running reduce and aggregate, deduplication (keep first / keep last, with
 * event-time and processing-time TTL) and windowed top-N, on both state
 * backends, with hand-computed expectations.
 */
#include "ops_test.h"

/* Per key, the sequence of (ts, value, id) of the trec records in collector c,
 * in arrival order (one subtask emits a key's records in order). */
static void expect_key_seq(int c, uint64_t key, const int64_t (*want)[3], size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < wt_collected(c); i++) {
        const struct wt_rec *r = wt_out_rec(c, i);
        if (r->key != key)
            continue;
        if (k >= n)
            fail_msg("key %" PRIu64 ": more than %zu records", key, n);
        assert_int_equal(wt_out(c, i)->ts, want[k][0]);
        assert_int_equal(r->value, want[k][1]);
        assert_int_equal(r->id, (uint64_t)want[k][2]);
        k++;
    }
    assert_int_equal(k, n);
}

/* --- reduce and running aggregate --------------------------------------------------- */

static void sum_keep_last_id(void *acc, const void *in)
{
    struct wt_rec *a = acc;
    const struct wt_rec *r = in;
    a->value += r->value;
    a->id = r->id;
}

static void test_reduce_emits_every_update(void **st)
{
    const char *backend = *st;
    /* clang-format off */
    static const struct wt_ev ev[] = {
        WT_D(1, 1, 1, 1),
        WT_D(2, 2, 10, 2),
        WT_D(3, 1, 2, 3),
        WT_D(4, 1, 3, 4),
    };
    /* clang-format on */
    struct wt_script sc = WT_SCRIPT(ev);
    colls_reset();
    weir_job *job = weir_job_new("reduce");
    wt_collect(
        weir_reduce(keyed_script(job, &sc), "reduce", sizeof(struct wt_rec), sum_keep_last_id),
        "out", 0);
    run_job(job, backend, 2);
    weir_job_free(job);
    assert_int_equal(atomic_load(&leftover_entries), 2 /* one value per key, kept */);
    static const int64_t k1[][3] = {{1, 1, 1}, {3, 3, 3}, {4, 6, 4}};
    static const int64_t k2[][3] = {{2, 10, 2}};
    assert_int_equal(wt_collected(0), 4);
    expect_key_seq(0, 1, k1, 3);
    expect_key_seq(0, 2, k2, 1);
}

static void test_running_aggregate_emits_result_per_record(void **st)
{
    const char *backend = *st;
    /* clang-format off */
    static const struct wt_ev ev[] = {
        WT_D(7, 1, 5, 1),
        WT_D(3, 2, 1, 2),
        WT_D(8, 1, 3, 3),
        WT_D(2, 1, 9, 4),
    };
    /* clang-format on */
    struct wt_script sc = WT_SCRIPT(ev);
    colls_reset();
    weir_job *job = weir_job_new("aggregate");
    weir_stream *k = keyed_script(job, &sc);
    wt_collect(weir_aggregate(k, "max", &weir_agg_max, wt_value_of), "out-max", 0);
    wt_collect(weir_aggregate(k, "count", &weir_agg_count, NULL), "out-count", 1);
    run_job(job, backend, 2);
    weir_job_free(job);
    assert_int_equal(atomic_load(&leftover_entries), 4 /* two operators, two keys */);
    /* per key, in order: (ts, result) */
    static const int64_t max1[][2] = {{7, 5}, {8, 5}, {2, 9}}, cnt1[][2] = {{7, 1}, {8, 2}, {2, 3}};
    for (int c = 0; c < 2; c++) {
        assert_int_equal(wt_collected(c), 4);
        size_t k1 = 0;
        for (size_t i = 0; i < 4; i++) {
            const struct wt_out *o = wt_out(c, i);
            assert_int_equal(o->len, sizeof(struct weir_keyed_result) + 8);
            const struct weir_keyed_result *r = (const void *)o->data;
            if (r->key == 2) {
                assert_int_equal(o->ts, 3);
                assert_int_equal(weir_result_i64(r->result), 1);
                continue;
            }
            const int64_t *w = c == 0 ? max1[k1] : cnt1[k1];
            assert_int_equal(o->ts, w[0]);
            assert_int_equal(weir_result_i64(r->result), w[1]);
            k1++;
        }
    }
}

/* --- dedup ---------------------------------------------------------------------------- */

static void test_dedup_keep_first_forgets_after_event_time_ttl(void **st)
{
    const char *backend = *st;
    /* clang-format off */
    static const struct wt_ev ev[] = {
        WT_D(1, 1, 0, 1),   /* kept; key 1 remembered until the watermark reaches 11 */
        WT_D(3, 1, 0, 2),
        WT_D(2, 1, 0, 3),
        WT_D(5, 2, 0, 4),   /* kept: key 2 until 15 */
        WT_W(11),           /* key 1 forgotten */
        WT_D(12, 1, 0, 5),  /* kept */
        WT_D(13, 1, 0, 6),
        WT_D(14, 2, 0, 7),
    };
    /* clang-format on */
    struct wt_script sc = WT_SCRIPT(ev);
    colls_reset();
    weir_job *job = weir_job_new("dedup-first");
    struct weir_dedup_opts o = {
        .keep = WEIR_DEDUP_KEEP_FIRST, .ttl_ms = 10, .ttl_time = WEIR_EVENT_TIME};
    wt_collect(weir_dedup(keyed_script(job, &sc), "dedup", &o), "out", 0);
    run_job(job, backend, 2);
    weir_job_free(job);
    assert_int_equal(atomic_load(&leftover_entries), 0);
    static const uint64_t want[] = {1, 4, 5};
    expect_ids(0, want, 3);
    /* records come out unchanged: id i was written at ts_of[i] */
    static const int64_t ts_of[] = {[1] = 1, [4] = 5, [5] = 12};
    for (size_t i = 0; i < wt_collected(0); i++) {
        assert_int_equal(wt_out(0, i)->len, sizeof(struct wt_rec));
        assert_int_equal(wt_out(0, i)->ts, ts_of[wt_out_rec(0, i)->id]);
    }
}

static void test_dedup_keep_first_forever_without_ttl(void **st)
{
    const char *backend = *st;
    /* clang-format off */
    static const struct wt_ev ev[] = {
        WT_D(1, 1, 0, 1),
        WT_W(1000),
        WT_D(2000, 1, 0, 2),
        WT_D(5, 3, 0, 3),
    };
    /* clang-format on */
    struct wt_script sc = WT_SCRIPT(ev);
    colls_reset();
    weir_job *job = weir_job_new("dedup-forever");
    wt_collect(weir_dedup(keyed_script(job, &sc), "dedup", NULL), "out", 0);
    run_job(job, backend, 2);
    weir_job_free(job);
    assert_int_equal(atomic_load(&leftover_entries), 2 /* keys 1 and 3, remembered */);
    static const uint64_t want[] = {1, 3};
    expect_ids(0, want, 2);
}

static void test_dedup_keep_last_emits_each_newer_row(void **st)
{
    const char *backend = *st;
    /* clang-format off */
    static const struct wt_ev ev[] = {
        WT_D(5, 1, 0, 1),
        WT_D(3, 1, 0, 2),  /* older: dropped */
        WT_D(5, 1, 0, 3),  /* as new: emitted */
        WT_D(9, 1, 0, 4),
        WT_D(7, 1, 0, 5),
        WT_D(1, 2, 0, 6),
    };
    /* clang-format on */
    struct wt_script sc = WT_SCRIPT(ev);
    colls_reset();
    weir_job *job = weir_job_new("dedup-last");
    struct weir_dedup_opts o = {.keep = WEIR_DEDUP_KEEP_LAST};
    wt_collect(weir_dedup(keyed_script(job, &sc), "dedup", &o), "out", 0);
    run_job(job, backend, 2);
    weir_job_free(job);
    assert_int_equal(atomic_load(&leftover_entries), 2);
    static const uint64_t want[] = {1, 3, 4, 6};
    expect_ids(0, want, 4);
}

static void test_dedup_keep_last_ttl_moves_with_the_last_row(void **st)
{
    const char *backend = *st;
    /* clang-format off */
    static const struct wt_ev ev[] = {
        WT_D(5, 1, 0, 1),  /* forget at 15 */
        WT_D(9, 1, 0, 2),  /* forget at 19 instead */
        WT_W(16),
        WT_D(8, 1, 0, 3),  /* still remembered: older, dropped */
        WT_W(19),
        WT_D(7, 1, 0, 4),  /* forgotten: emitted */
    };
    /* clang-format on */
    struct wt_script sc = WT_SCRIPT(ev);
    colls_reset();
    weir_job *job = weir_job_new("dedup-last-ttl");
    struct weir_dedup_opts o = {
        .keep = WEIR_DEDUP_KEEP_LAST, .ttl_ms = 10, .ttl_time = WEIR_EVENT_TIME};
    wt_collect(weir_dedup(keyed_script(job, &sc), "dedup", &o), "out", 0);
    run_job(job, backend, 1);
    weir_job_free(job);
    assert_int_equal(atomic_load(&leftover_entries), 0);
    static const uint64_t want[] = {1, 2, 4};
    expect_ids(0, want, 3);
}

static void test_dedup_processing_time_ttl_expires(void **st)
{
    const char *backend = *st;
    /* clang-format off */
    static const struct wt_ev ev[] = {
        WT_D(1, 1, 0, 1),
        WT_D(2, 1, 0, 2),
        WT_SLEEP(400),
        WT_D(3, 1, 0, 3),
        WT_D(4, 1, 0, 4),
    };
    /* clang-format on */
    struct wt_script sc = WT_SCRIPT(ev);
    colls_reset();
    weir_job *job = weir_job_new("dedup-proc-ttl");
    struct weir_dedup_opts o = {
        .keep = WEIR_DEDUP_KEEP_FIRST, .ttl_ms = 100, .ttl_time = WEIR_PROCESSING_TIME};
    wt_collect(weir_dedup(keyed_script(job, &sc), "dedup", &o), "out", 0);
    run_job(job, backend, 1);
    weir_job_free(job);
    static const uint64_t want[] = {1, 3};
    expect_ids(0, want, 2);
}

/* --- top-N ------------------------------------------------------------------------------ */

struct topn_row {
    uint64_t key;
    int64_t start, end;
    uint32_t rank;
    int64_t score, ts;
    uint64_t id;
};

static void test_top_n_per_key_and_window_with_late_refire(void **st)
{
    const char *backend = *st;
    /* clang-format off */
    static const struct wt_ev ev[] = {
        WT_D(1, 1, 5, 1),
        WT_D(2, 1, 9, 2),
        WT_D(3, 1, 5, 3),
        WT_D(4, 1, 7, 4),
        WT_D(5, 1, 9, 5),
        WT_D(11, 1, 1, 6),
        WT_D(0, 2, 3, 7),
        WT_W(9),             /* fires [0,10): key 1: 2, 5 (ties: earlier first); key 2: 7 */
        WT_D(6, 2, 4, 8),    /* allowed lateness: key 2 ranks again: 8, 7 */
        WT_W(14),            /* cleaned up */
        WT_D(7, 1, 100, 9),  /* too late */
    };
    /* clang-format on */
    struct wt_script sc = WT_SCRIPT(ev);
    colls_reset();
    weir_job *job = weir_job_new("top-n");
    struct weir_top_n_opts o = {
        .max_size = sizeof(struct wt_rec), .allowed_lateness_ms = 5, .late_tag = "late"};
    weir_stream *t =
        weir_top_n(keyed_script(job, &sc), "top2", weir_tumbling(10), 2, wt_value_of, &o);
    wt_collect(t, "out", 0);
    wt_collect(weir_side_output(t, "late"), "late-out", 1);
    run_job(job, backend, 2);
    weir_job_free(job);
    assert_int_equal(atomic_load(&leftover_entries), 0);
    static const struct topn_row want[] = {
        {1, 0, 10, 1, 9, 2, 2}, {1, 0, 10, 2, 9, 5, 5}, {2, 0, 10, 1, 3, 0, 7},
        {2, 0, 10, 1, 4, 6, 8}, {2, 0, 10, 2, 3, 0, 7}, {1, 10, 20, 1, 1, 11, 6},
    };
    size_t n = sizeof want / sizeof want[0];
    assert_int_equal(wt_collected(0), n);
    bool used[8] = {false};
    for (size_t i = 0; i < wt_collected(0); i++) {
        const struct wt_out *o2 = wt_out(0, i);
        const struct weir_top_n_result *r = (const void *)o2->data;
        assert_int_equal(o2->len, sizeof *r + sizeof(struct wt_rec));
        assert_int_equal(r->len, sizeof(struct wt_rec));
        assert_int_equal(o2->ts, r->end - 1);
        struct wt_rec tr;
        memcpy(&tr, r->data, sizeof tr);
        struct topn_row g = {r->key, r->start, r->end, r->rank, r->score, r->ts, tr.id};
        assert_int_equal(tr.value, r->score);
        size_t j;
        for (j = 0; j < n; j++)
            if (!used[j] && want[j].key == g.key && want[j].start == g.start &&
                want[j].end == g.end && want[j].rank == g.rank && want[j].score == g.score &&
                want[j].ts == g.ts && want[j].id == g.id)
                break;
        if (j == n)
            fail_msg("unexpected top-n row key %" PRIu64 " [%" PRId64 ", %" PRId64
                     ") rank %u id %" PRIu64,
                     g.key, g.start, g.end, g.rank, g.id);
        used[j] = true;
    }
    static const uint64_t late[] = {9};
    expect_ids(1, late, 1);
    assert_int_equal(atomic_load(&late_count), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        BOTH(test_reduce_emits_every_update),
        BOTH(test_running_aggregate_emits_result_per_record),
        BOTH(test_dedup_keep_first_forgets_after_event_time_ttl),
        BOTH(test_dedup_keep_first_forever_without_ttl),
        BOTH(test_dedup_keep_last_emits_each_newer_row),
        BOTH(test_dedup_keep_last_ttl_moves_with_the_last_row),
        BOTH(test_dedup_processing_time_ttl_expires),
        BOTH(test_top_n_per_key_and_window_with_late_refire),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    colls_reset();
    return rc;
}
