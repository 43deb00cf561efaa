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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(due_timers_pop_in_time_order),
        cmocka_unit_test(same_timer_twice_fires_once),
        cmocka_unit_test(deleted_timer_does_not_fire),
        cmocka_unit_test(domains_are_separate),
        cmocka_unit_test(many_timers_with_churn_stay_consistent),
        cmocka_unit_test(big_buckets_and_many_timestamps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
