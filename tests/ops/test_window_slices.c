/*
 * Sliding windows by slices (core/src/operators/window_slice.c) give the results of sliding
 * windows kept per window: the same random out-of-order input, with watermarks and records
 * behind them, goes through an aggregate that merges (taken by slices) and the same
 * aggregate without its merge function (kept per window), in one job; their outputs must be
 * the same multiset, on both backends, at parallelism 1 and 2, and no state may be left once
 * the final watermark fired every window. A savepoint of windows kept per window restores
 * into windows by slices without losing what the open windows held.
 *
 * WEIR_TEST_SEED=n picks another input.
 */
#include "ops_test.h"

#define N_RECORDS 3000
#define N_KEYS    25
#define WM_EVERY  20
#define BOUND     25 /* watermark = max timestamp - BOUND */

static struct wt_ev gen[N_RECORDS + N_RECORDS / WM_EVERY + 1];
static size_t n_gen;

static void generate(uint64_t seed)
{
    uint64_t rng = seed;
    int64_t base = 0, max_ts = INT64_MIN, wm = INT64_MIN;
    n_gen = 0;
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
}

/* --- a checkpoint of windows kept per window, restored into windows by slices ---------- */

static const struct weir_aggregate_fn *count_fn(bool merges)
{
    static struct weir_aggregate_fn unmerged;
    unmerged = weir_agg_count;
    unmerged.merge = NULL;
    return merges ? &weir_agg_count : &unmerged;
}

/* Runs script sc through sliding(30, 10) counts (uid "w") into collector 0, by slices when
 * merges, per window otherwise; stopped with a savepoint into stop->dir after the script's
 * pause when stop is set, restored from `from` when set. */
static void run_counts(const char *backend, const struct wt_script *sc, bool merges,
                       struct wt_stopper *stop, const char *from)
{
    weir_job *job = weir_job_new("window-slices-upgrade");
    wt_collect(weir_window_aggregate(keyed_script(job, sc), "w", weir_sliding(30, 10),
                                     count_fn(merges), NULL, NULL),
               "out", 0);
    if (stop)
        wt_stopper_start(stop, job);
    struct weir_run_stats st;
    wt_run_ok(job, NULL,
              &(struct wt_run){.backend = backend,
                               .restore_from = from,
                               /* a stop needs checkpoints on; none is due in the run */
                               .defs = WT_DEFS("execution.checkpointing.interval=1h")},
              &st);
    if (stop) {
        wt_stopper_join(stop);
        wt_stopper_completed(stop);
    }
    weir_job_free(job);
}

static void test_a_checkpoint_of_windows_restores_into_slices(void **st)
{
    const char *backend = *st;
    /* clang-format off */
    static const struct wt_ev before[] = {
        WT_D(1, 1, 0, 1), WT_D(12, 1, 0, 2), WT_D(14, 2, 0, 3), WT_W(10), /* fires [-20,10) */
        WT_D(25, 1, 0, 4), WT_D(27, 2, 0, 5),
        WT_SLEEP(15000), /* stopped with a savepoint here: [-10,20) onwards are open */
    };
    static const struct wt_ev after[] = {
        WT_D(28, 1, 0, 6), WT_D(33, 2, 0, 7), WT_W(20), WT_D(41, 1, 0, 8),
    };
    static const struct wt_ev whole[] = {
        WT_D(1, 1, 0, 1), WT_D(12, 1, 0, 2), WT_D(14, 2, 0, 3), WT_W(10),
        WT_D(25, 1, 0, 4), WT_D(27, 2, 0, 5),
        WT_D(28, 1, 0, 6), WT_D(33, 2, 0, 7), WT_W(20), WT_D(41, 1, 0, 8),
    };
    /* clang-format on */
    struct wt_script sb = WT_SCRIPT(before), sa = WT_SCRIPT(after), sw = WT_SCRIPT(whole);
    colls_reset();
    run_counts(backend, &sw, false, NULL, NULL);
    size_t n_want;
    wt_collect_sort(0, NULL);
    struct wt_out *want = wt_collect_take(0, &n_want);
    colls_reset();
    struct wt_stopper stop = {.dir = wt_tmp_dir("slices-upgrade-sp"), .after_ms = 500};
    run_counts(backend, &sb, false, &stop, NULL);
    atomic_store(&leftover_entries, 0); /* the open windows, in the savepoint */
    run_counts(backend, &sa, true, NULL, stop.result);
    size_t n;
    wt_collect_sort(0, NULL);
    struct wt_out *got = wt_collect_take(0, &n);
    assert_int_equal(n, n_want);
    for (size_t i = 0; i < n; i++)
        if (wt_out_cmp(&got[i], &want[i]) != 0)
            fail_msg("result %zu of %zu differs from the run without a restore", i, n);
    assert_int_equal(atomic_load(&leftover_entries), 0);
    free(got);
    free(want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        BOTH(test_slices_give_the_results_of_windows),
        BOTH(test_a_checkpoint_of_windows_restores_into_slices),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    colls_reset();
    return rc;
}
