/*
 * A randomized property: the same random out-of-order input, with
 * watermarks and records later than them, gives the same output from every
 * operator at parallelism 1 and 4, on the hashmap and the RocksDB backend
 * (each run is compared with parallelism 1 on hashmap). Two outputs are also
 * checked against a direct computation from the input: a sliding count
 * whose lateness no record exceeds (its last firing per window counts every
 * record of the window) and keep-first dedup without TTL (the first record of
 * each key).
 *
 * Determinism: the source has one subtask, so each keyed subtask sees its
 * keys' records and the watermarks in script order at any parallelism. The
 * joins have two inputs whose watermarks arrive at their own pace, so only
 * records that are not behind the watermark already emitted take part in
 * them (side 0 or 1); the others (side 2) go to the one-input operators only.
 *
 * WEIR_TEST_SEED=n picks another input.
 */
#include "ops_test.h"

#define N_RECORDS 2000
#define N_KEYS    40
#define WM_EVERY  25
#define BOUND     30 /* watermark = max timestamp - BOUND */

static struct wt_ev *gen;
static size_t n_gen;

static uint64_t rng_state;
static uint64_t rnd(void)
{
    return wt_rand(&rng_state);
}

static void generate(uint64_t seed)
{
    rng_state = seed;
    free(gen);
    gen = calloc(N_RECORDS + N_RECORDS / WM_EVERY + 2, sizeof *gen);
    assert_non_null(gen);
    n_gen = 0;
    int64_t base = 0, max_ts = INT64_MIN, wm = INT64_MIN;
    for (int i = 0; i < N_RECORDS; i++) {
        base += (int64_t)(rnd() % 3);
        int64_t ts = base - (int64_t)(rnd() % (BOUND + 5)); /* a few beyond the bound */
        if (rnd() % 40 == 0)
            ts = base - 40 - (int64_t)(rnd() % 150); /* well behind the watermark */
        if (ts > max_ts)
            max_ts = ts;
        struct wt_ev e = WT_D(ts, rnd() % N_KEYS, (int64_t)(rnd() % 1000) - 200, (uint64_t)i);
        e.r.side = ts > wm ? (uint32_t)(rnd() % 2) : 2;
        gen[n_gen++] = e;
        if (i % WM_EVERY == WM_EVERY - 1 && max_ts - BOUND > wm) {
            wm = max_ts - BOUND;
            gen[n_gen++] = (struct wt_ev)WT_W(wm);
        }
    }
}

static int join_ids(weir_ctx *ctx, const weir_rec *a, const weir_rec *b, int64_t ts, weir_emit *out)
{
    uint64_t v[4] = {wt_rec_of(a)->key, wt_rec_of(a)->id, wt_rec_of(b)->id, (uint64_t)ts};
    return weir_emit_copy(out, ts, v, sizeof v);
}

static void sum_values(void *acc, const void *in)
{
    ((struct wt_rec *)acc)->value += ((const struct wt_rec *)in)->value;
}

/* The window operators. A sliding count whose lateness no record exceeds is
 * also the oracle: its last firing per window counts every record. */
static void build_windows(weir_job *job, const struct wt_script *sc)
{
    weir_stream *k = weir_key_by(wt_script_source(job, "src", sc), wt_key_of);
    struct weir_window_opts late15 = {.allowed_lateness_ms = 15, .late_tag = "late"};
    weir_stream *w = weir_window_aggregate(k, "tumbling-sum", weir_tumbling(10), &weir_agg_sum,
                                           wt_value_of, &late15);
    wt_collect(w, "c0", 0);
    wt_collect(weir_side_output(w, "late"), "c1", 1);
    struct weir_window_opts forever = {.allowed_lateness_ms = 1000000};
    wt_collect(weir_window_aggregate(k, "sliding-count", weir_sliding(30, 10), &weir_agg_count,
                                     NULL, &forever),
               "c2", 2);
    struct weir_window_opts late10 = {.allowed_lateness_ms = 10, .late_tag = "late"};
    w = weir_window_aggregate(k, "session-max", weir_session(8), &weir_agg_max, wt_value_of,
                              &late10);
    wt_collect(w, "c3", 3);
    wt_collect(weir_side_output(w, "late"), "c4", 4);
    struct weir_top_n_opts tn = {
        .max_size = sizeof(struct wt_rec), .allowed_lateness_ms = 5, .late_tag = "late"};
    w = weir_top_n(k, "top3", weir_tumbling(25), 3, wt_value_of, &tn);
    wt_collect(w, "c5", 5);
    wt_collect(weir_side_output(w, "late"), "c6", 6);
}

/* Joins, dedup, reduce. Two jobs rather than one keep the number of keyed
 * backends of a run (a RocksDB instance each) small. */
static void build_others(weir_job *job, const struct wt_script *sc)
{
    weir_stream *src = wt_script_source(job, "src", sc);
    weir_stream *k = weir_key_by(src, wt_key_of);
    struct weir_dedup_opts last = {
        .keep = WEIR_DEDUP_KEEP_LAST, .ttl_ms = 50, .ttl_time = WEIR_EVENT_TIME};
    wt_collect(weir_dedup(k, "dedup-last", &last), "c7", 7);
    wt_collect(weir_dedup(k, "dedup-first", NULL), "c8", 8);
    wt_collect(weir_reduce(k, "reduce", sizeof(struct wt_rec), sum_values), "c9", 9);
    weir_stream *a, *b;
    split_keyed(src, &a, &b);
    struct weir_join_opts jo = {.a_max_size = sizeof(struct wt_rec),
                                .b_max_size = sizeof(struct wt_rec)};
    wt_collect(weir_window_join(a, b, "window-join", weir_sliding(20, 10), join_ids, &jo), "c10",
               10);
    wt_collect(weir_interval_join(a, b, "interval-join", -5, 10, join_ids, &jo), "c11", 11);
}

struct snapshot {
    struct wt_out *v[WT_COLLECTORS];
    size_t n[WT_COLLECTORS];
    long late;
    long leftover; /* state entries left at the end */
};

static void take(struct snapshot *s)
{
    for (int c = 0; c < WT_COLLECTORS; c++) {
        wt_collect_sort(c, NULL);
        s->v[c] = wt_collect_take(c, &s->n[c]);
    }
    s->late = atomic_load(&late_count);
    s->leftover = atomic_load(&leftover_entries);
}

static void drop(struct snapshot *s)
{
    for (int c = 0; c < WT_COLLECTORS; c++)
        free(s->v[c]);
}

static void run_once(const char *backend, int p, struct snapshot *s)
{
    struct wt_script sc = {.ev = gen, .n = n_gen};
    colls_reset();
    weir_job *job = weir_job_new("property-windows");
    build_windows(job, &sc);
    run_job(job, backend, p);
    weir_job_free(job);
    job = weir_job_new("property-others");
    build_others(job, &sc);
    run_job(job, backend, p);
    weir_job_free(job);
    take(s);
}

static void compare(const struct snapshot *ref, const struct snapshot *got, const char *what)
{
    for (int c = 0; c < WT_COLLECTORS; c++) {
        if (ref->n[c] != got->n[c])
            fail_msg("%s: collector %d: %zu records, reference %zu", what, c, got->n[c], ref->n[c]);
        for (size_t i = 0; i < ref->n[c]; i++)
            if (wt_out_cmp(&ref->v[c][i], &got->v[c][i]) != 0)
                fail_msg("%s: collector %d differs from the reference at sorted record %zu", what,
                         c, i);
    }
    assert_int_equal(got->late, ref->late);
    assert_int_equal(got->leftover, ref->leftover);
}

/* Checks the outputs that can be computed directly from the input. */
static void check_oracles(const struct snapshot *s)
{
    /* sliding count, lateness never exceeded: per (key, window) the largest
     * count is the number of records */
    static int64_t count[N_KEYS][4096];
    memset(count, 0, sizeof count);
    const struct weir_window_spec sl = weir_sliding(30, 10);
    int64_t min_start = INT64_MAX, starts[3];
    for (size_t i = 0; i < n_gen; i++) {
        if (gen[i].kind != WT_EV_DATA)
            continue;
        int n = weir_window_assign(&sl, gen[i].ts, starts, 3);
        assert_int_equal(n, 3);
        if (starts[2] < min_start)
            min_start = starts[2];
    }
    size_t windows = 0;
    for (size_t i = 0; i < n_gen; i++) {
        if (gen[i].kind != WT_EV_DATA)
            continue;
        weir_window_assign(&sl, gen[i].ts, starts, 3);
        for (int j = 0; j < 3; j++) {
            int64_t w = (starts[j] - min_start) / 10;
            assert_true(w >= 0 && w < 4096);
            if (count[gen[i].r.key][w]++ == 0)
                windows++;
        }
    }
    static int64_t seen[N_KEYS][4096];
    memset(seen, 0, sizeof seen);
    size_t distinct = 0;
    for (size_t i = 0; i < s->n[2]; i++) {
        const struct weir_window_result *r = (const void *)s->v[2][i].data;
        int64_t w = (r->start - min_start) / 10;
        assert_true(r->key < N_KEYS && w >= 0 && w < 4096);
        assert_int_equal(r->end - r->start, 30);
        int64_t c = weir_result_i64(r->result);
        assert_true(c >= 1 && c <= count[r->key][w]);
        if (seen[r->key][w] == 0)
            distinct++;
        if (c > seen[r->key][w])
            seen[r->key][w] = c;
    }
    assert_int_equal(distinct, windows);
    for (int k = 0; k < N_KEYS; k++)
        for (int w = 0; w < 4096; w++)
            assert_int_equal(seen[k][w], count[k][w]);
    /* keep-first, forever: the first record of each key */
    bool first_seen[N_KEYS] = {false};
    size_t firsts = 0;
    for (size_t i = 0; i < n_gen; i++) {
        if (gen[i].kind != WT_EV_DATA || first_seen[gen[i].r.key])
            continue;
        first_seen[gen[i].r.key] = true;
        firsts++;
        bool found = false;
        for (size_t j = 0; j < s->n[8] && !found; j++)
            found = ((const struct wt_rec *)(const void *)s->v[8][j].data)->id == gen[i].r.id;
        assert_true(found);
    }
    assert_int_equal(s->n[8], firsts);
    /* state left at the end: reduce and keep-first dedup remember each key;
     * every window, join, top-N and TTL'd entry was cleaned up by its timer */
    assert_int_equal(s->leftover, 2 * N_KEYS);
    /* every operator produced something: the input exercises all of them */
    for (int c = 0; c < WT_COLLECTORS; c++)
        if (s->n[c] == 0)
            fail_msg("collector %d is empty: the input does not exercise it", c);
}

static void test_parallelism_1_and_4_agree_on_both_backends(void **st)
{
    uint64_t seed = wt_seed(42);
    generate(seed);
    struct snapshot ref, got;
    run_once("hashmap", 1, &ref);
    check_oracles(&ref);
    static const struct {
        const char *backend;
        int p;
    } runs[] = {{"hashmap", 4}, {"rocksdb", 1}, {"rocksdb", 4}};
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
        char what[128];
        snprintf(what, sizeof what, "seed %" PRIu64 ", %s, parallelism %d", seed, runs[i].backend,
                 runs[i].p);
        run_once(runs[i].backend, runs[i].p, &got);
        compare(&ref, &got, what);
        drop(&got);
    }
    drop(&ref);
    free(gen);
    gen = NULL;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parallelism_1_and_4_agree_on_both_backends),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    colls_reset();
    return rc;
}
