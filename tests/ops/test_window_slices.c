/*
 * Sliding windows by slices (core/src/operators/window_slice.c) give the results of sliding
 * windows kept per window: the same random out-of-order input, with watermarks and records
 * behind them, goes through an aggregate that merges (taken by slices) and the same
 * aggregate without its merge function (kept per window), in one job; their outputs must be
 * the same multiset, on both backends, at parallelism 1 and 2, and no state may be left once
 * the final watermark fired every window.
 *
 * WEIR_TEST_SEED=n picks another input.
 */
#include "ops_test.h"

#define N_RECORDS 3000
#define N_KEYS    25
#define WM_EVERY  20
#define BOUND     25 /* watermark = max timestamp - BOUND */

static struct wt_ev *gen;
static size_t n_gen;

static void generate(uint64_t seed)
{
    uint64_t rng = seed;
    free(gen);
    gen = calloc(N_RECORDS + N_RECORDS / WM_EVERY + 2, sizeof *gen);
    assert_non_null(gen);
    n_gen = 0;
    int64_t base = 0, max_ts = INT64_MIN, wm = INT64_MIN;
    for (int i = 0; i < N_RECORDS; i++) {
        base += (int64_t)(wt_rand(&rng) % 3);
        /* mostly within the bound, some behind the watermark by up to a window or more */
        int64_t behind = (int64_t)(wt_rand(&rng) % (wt_rand(&rng) % 8 ? BOUND : 4 * BOUND));
        int64_t ts = base - behind;
        if (ts > max_ts)
            max_ts = ts;
        gen[n_gen++] = (struct wt_ev)WT_D(ts, wt_rand(&rng) % N_KEYS,
                                          (int64_t)(wt_rand(&rng) % 1000) - 300, (uint64_t)i);
        if (i % WM_EVERY == WM_EVERY - 1 && max_ts - BOUND > wm) {
            wm = max_ts - BOUND;
            gen[n_gen++] = (struct wt_ev)WT_W(wm);
        }
    }
}

/* Pairs of collectors (2i by slices, 2i + 1 per window): one aggregate, one window spec. */
static void add_pair(weir_stream *k, int i, struct weir_window_spec spec,
                     const struct weir_aggregate_fn *agg, weir_value_fn value)
{
    struct weir_aggregate_fn *unmerged = malloc(sizeof *unmerged);
    assert_non_null(unmerged);
    *unmerged = *agg;
    unmerged->merge = NULL;
    char uid[32], sink[32];
    snprintf(uid, sizeof uid, "sliced-%d", i);
    snprintf(sink, sizeof sink, "out-sliced-%d", i);
    wt_collect(weir_window_aggregate(k, uid, spec, agg, value, NULL), sink, 2 * i);
    snprintf(uid, sizeof uid, "windowed-%d", i);
    snprintf(sink, sizeof sink, "out-windowed-%d", i);
    /* the builder copies the aggregate: it may go once the job is built */
    wt_collect(weir_window_aggregate(k, uid, spec, unmerged, value, NULL), sink, 2 * i + 1);
    free(unmerged);
}

static void run_pairs(const char *backend, int p)
{
    struct wt_script sc = {.ev = gen, .n = n_gen};
    colls_reset();
    weir_job *job = weir_job_new("window-slices");
    weir_stream *k = keyed_script(job, &sc);
    add_pair(k, 0, weir_sliding(30, 10), &weir_agg_count, NULL);
    add_pair(k, 1, weir_window_offset(weir_sliding(40, 10), 3), &weir_agg_sum, wt_value_of);
    add_pair(k, 2, weir_sliding(20, 5), &weir_agg_min, wt_value_of);
    add_pair(k, 3, weir_sliding(100, 20), &weir_agg_avg, wt_value_of);
    run_job(job, backend, p);
    weir_job_free(job);
    char what[96];
    for (int i = 0; i < 4; i++) {
        snprintf(what, sizeof what, "%s, parallelism %d, pair %d", backend, p, i);
        size_t n[2];
        struct wt_out *v[2];
        for (int j = 0; j < 2; j++) {
            wt_collect_sort(2 * i + j, NULL);
            v[j] = wt_collect_take(2 * i + j, &n[j]);
        }
        if (n[0] != n[1])
            fail_msg("%s: %zu results by slices, %zu per window", what, n[0], n[1]);
        if (n[0] < 100)
            fail_msg("%s: only %zu results: the input exercises too little", what, n[0]);
        for (size_t r = 0; r < n[0]; r++)
            if (wt_out_cmp(&v[0][r], &v[1][r]) != 0)
                fail_msg("%s: result %zu of %zu differs", what, r, n[0]);
        free(v[0]);
        free(v[1]);
    }
    /* late records count once per operator: each pair drops the same ones */
    assert_int_equal(atomic_load(&late_count) % 2, 0);
    assert_true(atomic_load(&late_count) > 0);
    assert_int_equal(atomic_load(&leftover_entries), 0);
}

static void test_slices_give_the_results_of_windows(void **st)
{
    const char *backend = *st;
    generate(wt_seed(14));
    run_pairs(backend, 1);
    run_pairs(backend, 2);
    free(gen);
    gen = NULL;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        BOTH(test_slices_give_the_results_of_windows),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    colls_reset();
    return rc;
}
