/*
 * Window assignment and session merging as plain functions, no runtime:
 * which windows a timestamp belongs to (Flink's formulas, negative
 * timestamps and offsets included), spec checks, the built-in aggregates, and
 * how a new session merges into a key's set of sessions.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <weir/windows.h>

/* The session merge plan (op_session_merge) is the window operators' own. */
#include "operators_private.h"

static void test_tumbling_assigns_one_window_floor_for_negative_ts(void **st)
{
    struct weir_window_spec w = weir_tumbling(10);
    int64_t s[4];
    assert_int_equal(weir_window_assign(&w, 0, s, 4), 1);
    assert_int_equal(s[0], 0);
    assert_int_equal(weir_window_assign(&w, 9, s, 4), 1);
    assert_int_equal(s[0], 0);
    assert_int_equal(weir_window_assign(&w, 10, s, 4), 1);
    assert_int_equal(s[0], 10);
    assert_int_equal(weir_window_assign(&w, -1, s, 4), 1);
    assert_int_equal(s[0], -10);
    assert_int_equal(weir_window_assign(&w, -10, s, 4), 1);
    assert_int_equal(s[0], -10);
    assert_int_equal(weir_window_assign(&w, -11, s, 4), 1);
    assert_int_equal(s[0], -20);
}

static void test_tumbling_offset_shifts_window_starts(void **st)
{
    struct weir_window_spec w = weir_window_offset(weir_tumbling(10), 3);
    int64_t s[2];
    assert_int_equal(weir_window_assign(&w, 3, s, 2), 1);
    assert_int_equal(s[0], 3);
    assert_int_equal(weir_window_assign(&w, 2, s, 2), 1);
    assert_int_equal(s[0], -7);
    w = weir_window_offset(weir_tumbling(10), -3);
    assert_int_equal(weir_window_assign(&w, 7, s, 2), 1);
    assert_int_equal(s[0], 7);
    assert_int_equal(weir_window_assign(&w, 6, s, 2), 1);
    assert_int_equal(s[0], -3);
}

static void test_sliding_assigns_size_over_slide_windows_latest_first(void **st)
{
    struct weir_window_spec w = weir_sliding(10, 5);
    int64_t s[4];
    assert_int_equal(weir_window_assign(&w, 7, s, 4), 2);
    assert_int_equal(s[0], 5);
    assert_int_equal(s[1], 0);
    assert_int_equal(weir_window_assign(&w, -3, s, 4), 2);
    assert_int_equal(s[0], -5);
    assert_int_equal(s[1], -10);
    /* size not a multiple of slide: 2 or 3 windows */
    w = weir_sliding(10, 4);
    assert_int_equal(weir_window_assign(&w, 8, s, 4), 3); /* [8,18) [4,14) [0,10) */
    assert_int_equal(s[0], 8);
    assert_int_equal(s[1], 4);
    assert_int_equal(s[2], 0);
    assert_int_equal(weir_window_assign(&w, 10, s, 4), 2); /* [8,18) [4,14) */
    assert_int_equal(s[0], 8);
    assert_int_equal(s[1], 4);
    /* more windows than room: the count, and the first max written */
    assert_int_equal(weir_window_assign(&w, 8, s, 1), 3);
    assert_int_equal(s[0], 8);
    /* slide > size: gaps hold no window */
    w = weir_sliding(5, 10);
    assert_int_equal(weir_window_assign(&w, 3, s, 4), 1);
    assert_int_equal(s[0], 0);
    assert_int_equal(weir_window_assign(&w, 7, s, 4), 0);
}

static void test_session_spec_has_no_fixed_windows(void **st)
{
    struct weir_window_spec w = weir_session(10);
    int64_t s[1];
    assert_int_equal(weir_window_assign(&w, 3, s, 1), -EINVAL);
}

static void test_spec_check_rejects_bad_sizes_with_a_reason(void **st)
{
    char err[256];
    struct weir_window_spec w = weir_tumbling(0);
    assert_int_equal(weir_window_spec_check(&w, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "positive"));
    w = weir_sliding(10, -1);
    assert_int_equal(weir_window_spec_check(&w, err, sizeof err), -EINVAL);
    w = weir_session(0);
    assert_int_equal(weir_window_spec_check(&w, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "gap"));
    w = weir_processing_time(weir_session(10));
    assert_int_equal(weir_window_spec_check(&w, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "event-time"));
    w = weir_window_offset(weir_tumbling(10), 10);
    assert_int_equal(weir_window_spec_check(&w, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "offset"));
    w = weir_processing_time(weir_sliding(10, 5));
    assert_int_equal(weir_window_spec_check(&w, err, sizeof err), 0);
    assert_int_equal(w.time, WEIR_PROCESSING_TIME);
}

static void agg_feed(const struct weir_aggregate_fn *f, void *acc, const int64_t *v, int n)
{
    f->init(acc);
    for (int i = 0; i < n; i++)
        f->add(acc, &v[i]);
}

static void test_builtin_aggregates_add_and_merge(void **st)
{
    const int64_t x[] = {4, -2, 7}, y[] = {10, 1};
    unsigned char a[16], b[16], out[8];
    struct {
        const struct weir_aggregate_fn *f;
        int64_t rx, rxy;
    } cases[] = {{&weir_agg_count, 3, 5},
                 {&weir_agg_sum, 9, 20},
                 {&weir_agg_min, -2, -2},
                 {&weir_agg_max, 7, 10}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct weir_aggregate_fn *f = cases[i].f;
        assert_int_equal(f->result_size, 8);
        agg_feed(f, a, x, 3);
        f->result(a, out);
        assert_int_equal(weir_result_i64(out), cases[i].rx);
        agg_feed(f, b, y, 2);
        f->merge(a, b);
        f->result(a, out);
        assert_int_equal(weir_result_i64(out), cases[i].rxy);
    }
    agg_feed(&weir_agg_avg, a, x, 3);
    weir_agg_avg.result(a, out);
    assert_true(weir_result_double(out) == 3.0);
    agg_feed(&weir_agg_avg, b, y, 2);
    weir_agg_avg.merge(a, b);
    weir_agg_avg.result(a, out);
    assert_true(weir_result_double(out) == 4.0);
}

static void test_session_alone_is_new_and_keeps_its_own_state(void **st)
{
    struct session set[] = {{0, 10, 0}, {30, 40, 33}};
    uint32_t merged[2];
    struct session_plan p;
    op_session_merge(set, 2, 15, 25, merged, &p);
    assert_int_equal(p.n_merged, 0);
    assert_true(p.changed);
    assert_int_equal(p.result.start, 15);
    assert_int_equal(p.result.end, 25);
    assert_int_equal(p.result.state, 15);
}

static void test_session_inside_one_changes_nothing(void **st)
{
    struct session set[] = {{0, 20, 5}};
    uint32_t merged[1];
    struct session_plan p;
    op_session_merge(set, 1, 3, 13, merged, &p);
    assert_int_equal(p.n_merged, 1);
    assert_false(p.changed);
    assert_int_equal(p.result.start, 0);
    assert_int_equal(p.result.end, 20);
    assert_int_equal(p.result.state, 5);
}

static void test_session_touching_windows_merge_as_in_flink(void **st)
{
    /* [30,40) and [40,50) touch: Flink's TimeWindow.intersects is inclusive. */
    struct session set[] = {{30, 40, 30}};
    uint32_t merged[1];
    struct session_plan p;
    op_session_merge(set, 1, 40, 50, merged, &p);
    assert_int_equal(p.n_merged, 1);
    assert_true(p.changed);
    assert_int_equal(p.result.start, 30);
    assert_int_equal(p.result.end, 50);
    assert_int_equal(p.result.state, 30);
    op_session_merge(set, 1, 20, 30, merged, &p);
    assert_int_equal(p.n_merged, 1);
    assert_int_equal(p.result.start, 20);
    assert_int_equal(p.result.end, 40);
    /* one ms apart: separate */
    op_session_merge(set, 1, 41, 51, merged, &p);
    assert_int_equal(p.n_merged, 0);
}

static void test_session_bridging_two_merges_three_keeping_earliest_state(void **st)
{
    /* stored in no particular order; the earliest absorbed session's state wins */
    struct session set[] = {{15, 25, 17}, {100, 110, 100}, {1, 11, 1}};
    uint32_t merged[3];
    struct session_plan p;
    op_session_merge(set, 3, 8, 18, merged, &p);
    assert_int_equal(p.n_merged, 2);
    assert_int_equal(merged[0], 0);
    assert_int_equal(merged[1], 2);
    assert_true(p.changed);
    assert_int_equal(p.result.start, 1);
    assert_int_equal(p.result.end, 25);
    assert_int_equal(p.result.state, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tumbling_assigns_one_window_floor_for_negative_ts),
        cmocka_unit_test(test_tumbling_offset_shifts_window_starts),
        cmocka_unit_test(test_sliding_assigns_size_over_slide_windows_latest_first),
        cmocka_unit_test(test_session_spec_has_no_fixed_windows),
        cmocka_unit_test(test_spec_check_rejects_bad_sizes_with_a_reason),
        cmocka_unit_test(test_builtin_aggregates_add_and_merge),
        cmocka_unit_test(test_session_alone_is_new_and_keeps_its_own_state),
        cmocka_unit_test(test_session_inside_one_changes_nothing),
        cmocka_unit_test(test_session_touching_windows_merge_as_in_flink),
        cmocka_unit_test(test_session_bridging_two_merges_three_keeping_earliest_state),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
