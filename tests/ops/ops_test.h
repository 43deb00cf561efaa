/*
 * What only the operator tests share, on top of tests/support/weir_test.h (scripted source,
 * collectors, running): every test runs once per backend, late records and state left
 * behind are counted, the scripted source keyed, the ids a collector got, and the join tests'
 * split of a script into two keyed streams.
 *
 * Every operator test runs once per backend: cmocka's prestate carries the backend name
 * ("hashmap" or "rocksdb"), see BOTH().
 */
#ifndef OPS_TEST_H
#define OPS_TEST_H

#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <weir/config.h>
#include <weir/operator.h>
#include <weir/weir.h>
#include <weir/windows.h>
#include <weir/state_backend.h>

#include "weir_test.h"

#define BOTH(f)                                                                                    \
    cmocka_unit_test_prestate(f, (void *)"hashmap"), cmocka_unit_test_prestate(f, (void *)"rocksd" \
                                                                                          "b")

static atomic_long late_count __attribute__((unused));
static atomic_long leftover_entries __attribute__((unused)); /* state left when the job ended */

/* Empties the collectors and the counters below before a test's job. */
static inline void colls_reset(void)
{
    wt_collect_reset();
    atomic_store(&late_count, 0);
    atomic_store(&leftover_entries, 0);
}

static inline int is_side_a(weir_ctx *ctx, const weir_rec *in)
{
    return wt_rec_of(in)->side == 0;
}

static inline int is_side_b(weir_ctx *ctx, const weir_rec *in)
{
    return wt_rec_of(in)->side == 1;
}

/* Splits a scripted stream into its a and b records, keyed, in one subtask
 * (so that per key the order of records and watermarks is the script's). */
static inline void split_keyed(weir_stream *src, weir_stream **a, weir_stream **b)
{
    *a = weir_key_by(weir_set_parallelism(weir_filter(src, "side-a", is_side_a), 1), wt_key_of);
    *b = weir_key_by(weir_set_parallelism(weir_filter(src, "side-b", is_side_b), 1), wt_key_of);
}

/* The scripted source, keyed by the records' key. */
static inline weir_stream *keyed_script(weir_job *job, const struct wt_script *sc)
{
    return weir_key_by(wt_script_source(job, "src", sc), wt_key_of);
}

/* The ids of the records in collector c (wt_rec payloads), sorted, are ids[0 .. n). */
static inline void expect_ids(int c, const uint64_t *ids, size_t n)
{
    assert_int_equal(wt_collected(c), n);
    uint64_t *got = calloc(n + 1, sizeof *got);
    assert_non_null(got);
    for (size_t i = 0; i < n; i++)
        got[i] = wt_out_rec(c, i)->id;
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && got[j - 1] > got[j]; j--) {
            uint64_t t = got[j];
            got[j] = got[j - 1];
            got[j - 1] = t;
        }
    for (size_t i = 0; i < n; i++)
        assert_int_equal(got[i], ids[i]);
    free(got);
}

/* --- late records are counted: weir_ctx_count_late, wrapped ------------------------- */

/* The ops tests link with --wrap for these two (tests/CMakeLists.txt): the engine's calls
 * come here, which count, then call the engine's function. */
void __real_weir_ctx_count_late(weir_ctx *ctx);
void __wrap_weir_ctx_count_late(weir_ctx *ctx)
{
    atomic_fetch_add(&late_count, 1);
    __real_weir_ctx_count_late(ctx);
}

/* State left behind: the runtime closes each keyed backend when the job ends,
 * after the final watermark fired every timer; the entries still stored then
 * are state an operator never cleaned up. Wrapped like the above. */
void __real_weir_keyed_backend_close(weir_keyed_backend *be);
void __wrap_weir_keyed_backend_close(weir_keyed_backend *be)
{
    struct weir_keyed_backend_stats st;
    if (be && weir_keyed_backend_stats_get(be, &st) == 0)
        atomic_fetch_add(&leftover_entries, (long)st.entries);
    __real_weir_keyed_backend_close(be);
}

/* --- running ------------------------------------------------------------------------- */

/* Runs job on backend at parallelism p; the test fails with the job's error. */
static inline void run_job(weir_job *job, const char *backend, int p)
{
    wt_run_ok(job, NULL, &(struct wt_run){.backend = backend, .parallelism = p}, NULL);
}

/* Like run_job on one subtask, but the job must fail; err gets its error line. */
static inline void run_job_expect_fail(weir_job *job, const char *backend, char *err, size_t errlen)
{
    assert_true(wt_run(job, NULL, &(struct wt_run){.backend = backend}, NULL, err, errlen) < 0);
}

#endif
