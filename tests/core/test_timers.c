/* The timer service: time order, deduplication, deletion. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>

#include <cmocka.h>

#include "timers.h"

static struct weir_timer tm(int64_t ts, uint64_t key, uint64_t ns)
{
    return (struct weir_timer){.ts = ts, .key = key, .ns = ns};
}

static void due_timers_pop_in_time_order(void **state)
{
    struct timer_service t;
    timers_init(&t);
    int64_t ts[] = {50, 10, 40, 20, 30};
    for (int i = 0; i < 5; i++)
        assert_int_equal(timers_add(&t, 0, &(struct weir_timer){.ts = ts[i], .key = (uint64_t)i}),
                         0);
    struct weir_timer out;
    int64_t expect[] = {10, 20, 30};
    for (int i = 0; i < 3; i++) {
        assert_true(timers_pop_due(&t, 0, 35, &out));
        assert_int_equal(out.ts, expect[i]);
    }
    assert_false(timers_pop_due(&t, 0, 35, &out));
    assert_int_equal(timers_count(&t, 0), 2);
    timers_free(&t);
}

static void same_timer_twice_fires_once(void **state)
{
    struct timer_service t;
    timers_init(&t);
    struct weir_timer a = tm(10, 7, 3);
    assert_int_equal(timers_add(&t, 0, &a), 0);
    assert_int_equal(timers_add(&t, 0, &a), 1);
    struct weir_timer b = tm(10, 7, 4); /* other namespace: a different timer */
    assert_int_equal(timers_add(&t, 0, &b), 0);
    struct weir_timer out;
    int n = 0;
    while (timers_pop_due(&t, 0, 100, &out))
        n++;
    assert_int_equal(n, 2);
    timers_free(&t);
}

static void deleted_timer_does_not_fire(void **state)
{
    struct timer_service t;
    timers_init(&t);
    struct weir_timer a = tm(10, 1, 0), b = tm(20, 1, 0);
    timers_add(&t, 0, &a);
    timers_add(&t, 0, &b);
    assert_int_equal(timers_del(&t, 0, &a), 0);
    assert_int_equal(timers_del(&t, 0, &a), 1);
    struct weir_timer out;
    assert_true(timers_pop_due(&t, 0, 100, &out));
    assert_int_equal(out.ts, 20);
    assert_false(timers_pop_due(&t, 0, 100, &out));
    /* registered again after deletion: fires once */
    timers_add(&t, 0, &a);
    assert_true(timers_pop_due(&t, 0, 100, &out));
    assert_int_equal(out.ts, 10);
    assert_false(timers_pop_due(&t, 0, 100, &out));
    timers_free(&t);
}

static void domains_are_separate(void **state)
{
    struct timer_service t;
    timers_init(&t);
    struct weir_timer a = tm(10, 1, 0);
    timers_add(&t, 1, &a);
    struct weir_timer out;
    assert_false(timers_pop_due(&t, 0, 100, &out));
    assert_true(timers_pop_due(&t, 1, 100, &out));
    timers_free(&t);
}

static void many_timers_with_churn_stay_consistent(void **state)
{
    struct timer_service t;
    timers_init(&t);
    srand(1);
    /* 100000 registrations over 1000 distinct (ts, key) pairs, half deleted */
    static unsigned char live[1000];
    for (int i = 0; i < 100000; i++) {
        int id = rand() % 1000;
        struct weir_timer x = tm(id / 10, (uint64_t)(id % 10), 0);
        if (rand() % 2) {
            timers_add(&t, 0, &x);
            live[id] = 1;
        } else {
            timers_del(&t, 0, &x);
            live[id] = 0;
        }
    }
    size_t expect = 0;
    for (int i = 0; i < 1000; i++)
        expect += live[i];
    assert_int_equal(timers_count(&t, 0), expect);
    struct weir_timer out;
    size_t n = 0;
    int64_t last = INT64_MIN;
    while (timers_pop_due(&t, 0, INT64_MAX, &out)) {
        assert_true(out.ts >= last);
        assert_true(live[out.ts * 10 + (int64_t)out.key]);
        last = out.ts;
        n++;
    }
    assert_int_equal(n, expect);
    timers_free(&t);
}

/* One timestamp with many timers (a window over many keys) and many
 * timestamps with one timer each (per-record cleanup timers), interleaved. */
static void big_buckets_and_many_timestamps(void **state)
{
    struct timer_service t;
    timers_init(&t);
    for (uint64_t k = 0; k < 50000; k++) {
        struct weir_timer w = tm(1000, k, 7), c = tm(2000 + (int64_t)k, k, 0);
        assert_int_equal(timers_add(&t, 0, &w), 0);
        assert_int_equal(timers_add(&t, 0, &c), 0);
        assert_int_equal(timers_add(&t, 0, &w), 1); /* deduplicated in the big bucket */
    }
    for (uint64_t k = 0; k < 50000; k += 2) {
        struct weir_timer w = tm(1000, k, 7), c = tm(2000 + (int64_t)k, k, 0);
        assert_int_equal(timers_del(&t, 0, &w), 0);
        assert_int_equal(timers_del(&t, 0, &c), 0);
    }
    assert_int_equal(timers_count(&t, 0), 50000);
    struct weir_timer out;
    size_t n = 0;
    while (timers_pop_due(&t, 0, 1000, &out)) {
        assert_int_equal(out.ts, 1000);
        assert_int_equal(out.key % 2, 1);
        n++;
    }
    assert_int_equal(n, 25000);
    /* a timer fired at 1000 can be registered again and fires again */
    struct weir_timer again = tm(1000, 1, 7);
    assert_int_equal(timers_add(&t, 0, &again), 0);
    assert_true(timers_pop_due(&t, 0, 1000, &out));
    assert_false(timers_pop_due(&t, 0, 1000, &out));
    int64_t last = 0;
    n = 0;
    while (timers_pop_due(&t, 0, INT64_MAX, &out)) {
        assert_true(out.ts > last);
        assert_int_equal((uint64_t)(out.ts - 2000), out.key);
        assert_int_equal(out.key % 2, 1);
        last = out.ts;
        n++;
    }
    assert_int_equal(n, 25000);
    assert_int_equal(timers_count(&t, 0), 0);
    timers_free(&t);
}

/* ---- views: what a snapshot's writer reads while the worker goes on ------------------ */

/* Which of the (ts, key) pairs ts in [0, 64), key in [0, 64) a walk saw; ns 0. */
struct seen {
    unsigned char v[64][64];
    size_t n, bad;
};

static int see(void *arg, const struct weir_timer *x)
{
    struct seen *s = arg;
    if (x->ts < 0 || x->ts >= 64 || x->key >= 64 || s->v[x->ts][x->key]++)
        s->bad++;
    s->n++;
    return 0;
}

/* The view walks exactly the pairs alive() says, each once, and counts as many. */
static void assert_view(const struct timer_view *v, bool (*alive)(int64_t ts, uint64_t key))
{
    struct seen *s = calloc(1, sizeof *s);
    assert_non_null(s);
    assert_int_equal(timers_view_foreach(v, 0, see, s), 0);
    size_t expect = 0, wrong = 0;
    for (int64_t ts = 0; ts < 64; ts++)
        for (uint64_t k = 0; k < 64; k++) {
            expect += alive(ts, k);
            wrong += alive(ts, k) != (s->v[ts][k] == 1);
        }
    assert_int_equal(s->bad, 0);
    assert_int_equal(wrong, 0);
    assert_int_equal(s->n, expect);
    assert_int_equal(timers_view_count(v, 0), expect);
    free(s);
}

/* At the first pin: ts 1..40 with keys 0..63 each but key 8 of ts 20 (deleted before). */
static bool at_first_pin(int64_t ts, uint64_t k)
{
    return ts >= 1 && ts <= 40 && !(ts == 20 && k == 8);
}

/* At the second: ts 1..10 fired; ts 11..40 but key 9 of ts 20 (deleted), key 8 of ts 20
 * registered again; ts 41..63 keys 0..63 added; ts 5 key 3 registered again (fired before). */
static bool at_second_pin(int64_t ts, uint64_t k)
{
    if (ts == 5 && k == 3)
        return true;
    return ts > 10 && !(ts == 20 && k == 9);
}

/* A view sees the timers of its pin, whatever the worker does after it: deletions, timers
 * registered again after a deletion the view saw, whole timestamps fired (and their buckets
 * reclaimed), entry arrays and bucket lists grown; two views at once, released in either
 * order. Under ASan this is also the proof that nothing a view reads is freed under it. */
static void view_sees_the_timers_of_its_pin(void **state)
{
    for (int order = 0; order < 2; order++) {
        struct timer_service t;
        timers_init(&t);
        for (int64_t ts = 1; ts <= 40; ts++)
            for (uint64_t k = 0; k < 64; k++)
                assert_int_equal(timers_add(&t, 0, &(struct weir_timer){.ts = ts, .key = k}), 0);
        struct weir_timer d8 = tm(20, 8, 0), d9 = tm(20, 9, 0), r3 = tm(5, 3, 0);
        assert_int_equal(timers_del(&t, 0, &d8), 0);
        struct timer_view *v1 = NULL, *v2 = NULL;
        assert_int_equal(timers_pin(&t, &v1), 0);
        assert_view(v1, at_first_pin);

        assert_int_equal(timers_del(&t, 0, &d9), 0);
        assert_int_equal(timers_add(&t, 0, &d8), 0); /* v1 saw it deleted */
        struct weir_timer out;
        size_t fired = 0;
        while (timers_pop_due(&t, 0, 10, &out))
            fired++;
        assert_int_equal(fired, 10 * 64);
        assert_int_equal(timers_add(&t, 0, &r3), 0);
        for (int64_t ts = 41; ts < 64; ts++)
            for (uint64_t k = 0; k < 64; k++)
                assert_int_equal(timers_add(&t, 0, &(struct weir_timer){.ts = ts, .key = k}), 0);
        assert_view(v1, at_first_pin);
        assert_int_equal(timers_pin(&t, &v2), 0);
        assert_view(v2, at_second_pin);

        /* the worker goes on: everything fires (buckets reclaimed under both views) */
        fired = 0;
        while (timers_pop_due(&t, 0, INT64_MAX, &out))
            fired++;
        assert_int_equal(fired, timers_view_count(v2, 0));
        assert_view(v1, at_first_pin);
        assert_view(v2, at_second_pin);
        timers_view_release(order ? v2 : v1);
        assert_view(order ? v1 : v2, order ? at_first_pin : at_second_pin);
        timers_view_release(order ? v1 : v2);
        timers_free(&t);
    }
}

/* Timers added without the deduplication lookup (timers_add_new: a window's new
 * accumulator) are still found by a later timers_add or timers_del in the same bucket, from
 * a small bucket on to a big indexed one, interleaved with indexed adds: each fires once. */
static void new_timers_are_found_by_later_lookups(void **state)
{
    struct timer_service t;
    timers_init(&t);
    const uint64_t n = 20000;
    for (uint64_t k = 0; k < n; k++) {
        struct weir_timer w = tm(1000, k, 7), old = tm(1000, k - 2, 7), other = tm(1000, n + k, 7);
        assert_int_equal(timers_add_new(&t, 0, &w), 0);
        if (k % 7 == 3) /* one of the last few new ones, and an indexed add of another key */
            assert_int_equal(timers_add(&t, 0, &old), 1);
        if (k % 5 == 0)
            assert_int_equal(timers_add(&t, 0, &other), 0);
    }
    for (uint64_t k = 0; k < n; k += 2) {
        struct weir_timer w = tm(1000, k, 7);
        assert_int_equal(timers_del(&t, 0, &w), 0);
    }
    struct weir_timer one = tm(1000, 1, 7);
    assert_int_equal(timers_add(&t, 0, &one), 1);
    size_t left = n / 2 + n / 5;
    assert_int_equal(timers_count(&t, 0), left);
    char *seen = calloc(2 * n, 1);
    assert_non_null(seen);
    struct weir_timer out;
    size_t fired = 0;
    while (timers_pop_due(&t, 0, 1000, &out)) {
        assert_true(out.key % 2 == 1 || out.key >= n);
        assert_int_equal(seen[out.key]++, 0);
        fired++;
    }
    assert_int_equal(fired, left);
    free(seen);
    timers_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(due_timers_pop_in_time_order),
        cmocka_unit_test(same_timer_twice_fires_once),
        cmocka_unit_test(deleted_timer_does_not_fire),
        cmocka_unit_test(domains_are_separate),
        cmocka_unit_test(many_timers_with_churn_stay_consistent),
        cmocka_unit_test(big_buckets_and_many_timestamps),
        cmocka_unit_test(new_timers_are_found_by_later_lookups),
        cmocka_unit_test(view_sees_the_timers_of_its_pin),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
