/*
 * The copies that copy-on-write snapshot views hold are charged to the task-heap pool, and
 * they give way to the live state: when the worker's state grows while a view holds copies
 * and the pool runs out, the views are cancelled (their checkpoints fail with the named
 * error), the copies only they held are freed, and the write goes on. Only when no copy is
 * held and the write still does not fit does it fail with the pool named, as before. The
 * views are driven on the test's thread, as the writer thread would between key groups, so
 * a worker that waited for a view's writer would hang here.
 *
 * The timers' versions a snapshot holds (what the worker replaced or fired while a timer view
 * was in flight) are charged the same way, to the same pool and metric; when the pool has no
 * room for them the timer view is cancelled, not the worker's work.
 */
#include "state_test.h"
#include "state_view.h"
#include "timers.h"

#define POOL_MSG                                                                                   \
    "task heap pool exhausted: 16.000 MiB (memory.task.heap.size) in use by keyed state; raise "   \
    "memory.task.heap.size or memory.process.size, or use state.backend: rocksdb"
#define VAL 96 /* bytes per value */

struct big {
    uint64_t key;
    unsigned char pad[VAL - 8];
};

static int put_key(weir_keyed_backend *be, weir_value_state *v, uint64_t key, unsigned char fill)
{
    struct big b = {.key = key};
    memset(b.pad, fill, sizeof b.pad);
    at(be, key);
    return weir_value_put(v, &b);
}

/* The backend's bytes in the pool, its held copies included. */
static uint64_t heap_bytes(weir_keyed_backend *be)
{
    struct weir_keyed_backend_stats st = {0};
    assert_int_equal(weir_keyed_backend_stats_get(be, &st), 0);
    return st.heap_bytes;
}

static uint64_t cow_bytes(weir_keyed_backend *be)
{
    struct weir_keyed_backend_stats st = {0};
    assert_int_equal(weir_keyed_backend_stats_get(be, &st), 0);
    return st.cow_bytes;
}

/* Keys 0 .. n-1 until the backend holds about `bytes`; how many. */
static uint64_t fill_to(weir_keyed_backend *be, weir_value_state *v, uint64_t bytes)
{
    uint64_t n = 0;
    while (heap_bytes(be) < bytes) {
        for (uint64_t end = n + 1000; n < end; n++)
            assert_int_equal(put_key(be, v, n, 1), 0);
    }
    return n;
}

/* Two backends ("op" and "other") of one env whose task heap pool is 16 MiB, each with a
 * value state "v" of struct big. */
struct two {
    weir_config *c;
    weir_state_env *env;
    weir_keyed_backend *be, *other;
    weir_value_state *v, *ov;
};

static void two_open(struct two *t)
{
    t->c = config_for("hashmap", "memory.task.heap.size=16m", NULL);
    t->env = env_for(t->c, "cow-memory");
    t->be = backend_for(t->env, "op", 0, 0, MAXP - 1);
    t->other = backend_for(t->env, "other", 0, 0, MAXP - 1);
    t->v = weir_value_state_get(t->be, "v", sizeof(struct big), NULL);
    t->ov = weir_value_state_get(t->other, "v", sizeof(struct big), NULL);
    assert_non_null(t->v);
    assert_non_null(t->ov);
}

static void two_close(struct two *t)
{
    weir_keyed_backend_close(t->other);
    weir_keyed_backend_close(t->be);
    weir_state_env_free(t->env);
    weir_config_free(t->c);
}

/* Every key group of view v, as its writer thread would; the first error's code. */
static int write_view(weir_keyed_view *v, struct membuf *bufs)
{
    for (uint32_t kg = 0; kg < MAXP; kg++) {
        bufs[kg].limit = SIZE_MAX;
        struct weir_snapshot_out o = mem_out(&bufs[kg]);
        int rc = weir_keyed_view_snapshot_key_group(v, kg, &o);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static void check_values(weir_keyed_backend *be, weir_value_state *v, uint64_t n, uint64_t upd,
                         unsigned char fill)
{
    for (uint64_t k = 0; k < n; k++) {
        at(be, k);
        const struct big *b = weir_value_get(v);
        assert_non_null(b);
        assert_int_equal(b->key, k);
        assert_int_equal(b->pad[0], k < upd ? fill : 1);
    }
}

static void growth_with_copies_held_cancels_the_views_and_goes_on(void **state)
{
    weir_config *c = config_for("hashmap", "memory.task.heap.size=16m", NULL);
    weir_state_env *env = env_for(c, "cow-memory");
    weir_keyed_backend *be = backend_for(env, "op", 0, 0, MAXP - 1);
    weir_value_state *v = weir_value_state_get(be, "v", sizeof(struct big), NULL);
    assert_non_null(v);
    uint64_t n = fill_to(be, v, 5u << 20);
    weir_keyed_view *view = NULL;
    assert_int_equal(weir_keyed_view_pin(be, &view), 0);
    /* every key group written: each gets its own copy, the view holds the old versions */
    for (uint64_t k = 0; k < n; k++)
        assert_int_equal(put_key(be, v, k, 2), 0);
    assert_true(cow_bytes(be) >= (4u << 20));
    /* growth to about 12 MiB of live state: fits the pool only without the held copies */
    uint64_t grown = n;
    while (heap_bytes(be) - cow_bytes(be) < (12u << 20) || grown < 2 * n) {
        int rc = put_key(be, v, grown, 1);
        if (rc < 0)
            fail_msg("put of key %" PRIu64 " (%" PRIu64 " bytes in the backend): %s", grown,
                     heap_bytes(be), weir_keyed_backend_error(be));
        grown++;
    }
    assert_int_equal(cow_bytes(be), 0);
    struct membuf bufs[MAXP] = {0};
    assert_int_equal(write_view(view, bufs), -ENOBUFS);
    const char *why = weir_keyed_view_error(view);
    print_message("the view gave up: %s\n", why);
    assert_non_null(strstr(why, "operator op: copy-on-write snapshot aborted"));
    assert_non_null(strstr(why, "memory.task.heap.size (16.000 MiB:"));
    assert_non_null(strstr(why, "held for the snapshot); raise memory.task.heap.size"));
    weir_keyed_view_release(view);
    free_bufs(bufs, MAXP);
    check_values(be, v, grown, n, 2);

    /* the next view is whole again */
    assert_int_equal(weir_keyed_view_pin(be, &view), 0);
    assert_int_equal(write_view(view, bufs), 0);
    weir_keyed_view_release(view);
    weir_config *rc = config_for("hashmap", NULL); /* a pool of its own for the copy */
    weir_state_env *renv = env_for(rc, "cow-memory-restored");
    weir_keyed_backend *r = backend_for(renv, "restored", 0, 0, MAXP - 1);
    restore_all(r, bufs);
    weir_value_state *rv = weir_value_state_get(r, "v", sizeof(struct big), NULL);
    assert_non_null(rv);
    check_values(r, rv, grown, n, 2);
    free_bufs(bufs, MAXP);
    weir_keyed_backend_close(r);
    weir_state_env_free(renv);
    weir_config_free(rc);
    weir_keyed_backend_close(be);
    weir_state_env_free(env);
    weir_config_free(c);
}

/* The pool is the env's: copies that one backend's view holds give way to another
 * backend's growth too (another subtask's worker), on the growing worker's thread. */
static void copies_of_another_backend_give_way_to_growth(void **state)
{
    struct two t;
    two_open(&t);
    weir_keyed_backend *be = t.be, *other = t.other;
    weir_value_state *v = t.v, *ov = t.ov;
    uint64_t n = fill_to(be, v, 5u << 20);
    weir_keyed_view *view = NULL;
    assert_int_equal(weir_keyed_view_pin(be, &view), 0);
    for (uint64_t k = 0; k < n; k++)
        assert_int_equal(put_key(be, v, k, 2), 0);
    assert_true(cow_bytes(be) >= (4u << 20));
    uint64_t grown = 0;
    while (heap_bytes(other) < (8u << 20)) {
        int rc = put_key(other, ov, grown, 1);
        if (rc < 0)
            fail_msg("put of key %" PRIu64 " in the other backend: %s", grown,
                     weir_keyed_backend_error(other));
        grown++;
    }
    assert_int_equal(cow_bytes(be), 0);
    struct membuf bufs[MAXP] = {0};
    assert_int_equal(write_view(view, bufs), -ENOBUFS);
    assert_non_null(
        strstr(weir_keyed_view_error(view), "operator op: copy-on-write snapshot aborted"));
    weir_keyed_view_release(view);
    free_bufs(bufs, MAXP);
    check_values(be, v, n, n, 2);
    check_values(other, ov, grown, 0, 1);
    two_close(&t);
}

/* With no copy held, a pinned view has nothing to give back: growth past the pool fails the
 * write with the pool named, and the view, not in the way, is written whole. */
static void exhaustion_without_copies_fails_with_the_pool_named(void **state)
{
    struct two t;
    two_open(&t);
    weir_keyed_backend *be = t.be, *other = t.other;
    weir_value_state *v = t.v, *ov = t.ov;
    uint64_t n = fill_to(be, v, 4u << 20);
    weir_keyed_view *view = NULL;
    assert_int_equal(weir_keyed_view_pin(be, &view), 0);
    int rc = 0;
    for (uint64_t k = 0; rc == 0 && k < 10000000; k++)
        rc = put_key(other, ov, k, 1); /* the other backend grows; be's pins are not copies */
    assert_int_equal(rc, -ENOSPC);
    assert_string_equal(weir_keyed_backend_error(other), POOL_MSG);
    struct membuf bufs[MAXP] = {0};
    assert_int_equal(write_view(view, bufs), 0);
    weir_keyed_view_release(view);
    free_bufs(bufs, MAXP);
    check_values(be, v, n, 0, 1);
    two_close(&t);
}

/* Cancelling the views is not enough when the live state alone outgrows the pool: the write
 * fails with the pool named, and the cancelled view says why it gave up. */
static void growth_past_the_pool_after_the_cancel_fails_with_the_pool_named(void **state)
{
    weir_config *c = config_for("hashmap", "memory.task.heap.size=16m", NULL);
    weir_state_env *env = env_for(c, "cow-memory");
    weir_keyed_backend *be = backend_for(env, "op", 0, 0, MAXP - 1);
    weir_value_state *v = weir_value_state_get(be, "v", sizeof(struct big), NULL);
    assert_non_null(v);
    uint64_t n = fill_to(be, v, 4u << 20);
    weir_keyed_view *view = NULL;
    assert_int_equal(weir_keyed_view_pin(be, &view), 0);
    for (uint64_t k = 0; k < n; k++)
        assert_int_equal(put_key(be, v, k, 2), 0);
    int rc = 0;
    uint64_t k = n;
    for (; rc == 0 && k < 10000000; k++)
        rc = put_key(be, v, k, 1);
    assert_int_equal(rc, -ENOSPC);
    assert_string_equal(weir_keyed_backend_error(be), POOL_MSG);
    struct membuf bufs[MAXP] = {0};
    assert_int_equal(write_view(view, bufs), -ENOBUFS);
    assert_non_null(strstr(weir_keyed_view_error(view), "copy-on-write snapshot aborted"));
    weir_keyed_view_release(view);
    free_bufs(bufs, MAXP);
    check_values(be, v, k - 1, n, 2);
    weir_keyed_backend_close(be);
    weir_state_env_free(env);
    weir_config_free(c);
}

/* ts 1..nts, keys 0..nkeys-1 each. */
static void add_timers(struct timer_service *t, int64_t nts, uint64_t nkeys)
{
    for (int64_t ts = 1; ts <= nts; ts++)
        for (uint64_t k = 0; k < nkeys; k++)
            assert_int_equal(timers_add(t, 0, &(struct weir_timer){.ts = ts, .key = k}), 0);
}

static size_t fire_upto(struct timer_service *t, int64_t ts)
{
    struct weir_timer out;
    size_t n = 0;
    while (timers_pop_due(t, 0, ts, &out))
        n++;
    return n;
}

static int count_one(void *arg, const struct weir_timer *tm)
{
    (void)tm;
    (*(size_t *)arg)++;
    return 0;
}

static void timer_versions_a_view_holds_are_charged_to_the_pool_until_it_is_released(void **state)
{
    weir_config *c = config_for("hashmap", "memory.task.heap.size=16m", NULL);
    weir_state_env *env = env_for(c, "cow-memory");
    weir_keyed_backend *be = backend_for(env, "op", 0, 0, MAXP - 1);
    struct timer_service t;
    timers_init(&t);
    timers_set_pool(&t, be);
    add_timers(&t, 40, 1000);
    uint64_t before = heap_bytes(be), pool_before = weir_state_env_heap_bytes(env);
    /* no view: what the worker replaces goes at once, nothing held */
    assert_int_equal(fire_upto(&t, 5), 5 * 1000);
    assert_int_equal(cow_bytes(be), 0);
    struct timer_view *v = NULL;
    assert_int_equal(timers_pin(&t, &v), 0);
    /* fired while the view is in flight: 15 buckets' entry arrays (1024 x 32 bytes) held */
    assert_int_equal(fire_upto(&t, 20), 15 * 1000);
    uint64_t held = cow_bytes(be);
    print_message("held for the view: %" PRIu64 " bytes\n", held);
    assert_true(held >= 15 * 1024 * sizeof(struct timer_entry));
    assert_int_equal(heap_bytes(be), before + held);
    assert_int_equal(weir_state_env_heap_bytes(env), pool_before + held);
    size_t n = 0;
    assert_int_equal(timers_view_foreach(v, 0, count_one, &n), 0);
    assert_int_equal(n, 35 * 1000);
    assert_string_equal(timers_view_error(v), "");
    timers_view_release(v);
    assert_int_equal(cow_bytes(be), 0);
    assert_int_equal(heap_bytes(be), before);
    assert_int_equal(weir_state_env_heap_bytes(env), pool_before);
    timers_free(&t);
    weir_keyed_backend_close(be);
    weir_state_env_free(env);
    weir_config_free(c);
}

/* A pool the keyed state fills: the versions the view would hold find no room, the view is
 * cancelled (its checkpoint fails with the pool named), the worker fires every timer. */
static void timer_versions_without_pool_room_cancel_the_view_and_the_worker_goes_on(void **state)
{
    weir_config *c = config_for("hashmap", "memory.task.heap.size=16m", NULL);
    weir_state_env *env = env_for(c, "cow-memory");
    weir_keyed_backend *be = backend_for(env, "op", 0, 0, MAXP - 1);
    weir_value_state *v = weir_value_state_get(be, "v", sizeof(struct big), NULL);
    assert_non_null(v);
    struct timer_service t;
    timers_init(&t);
    timers_set_pool(&t, be);
    add_timers(&t, 40, 1000);
    int rc = 0;
    for (uint64_t k = 0; rc == 0; k++)
        rc = put_key(be, v, k, 1);
    assert_int_equal(rc, -ENOSPC);
    struct timer_view *tv = NULL;
    assert_int_equal(timers_pin(&t, &tv), 0);
    assert_int_equal(fire_upto(&t, INT64_MAX), 40 * 1000);
    assert_true(weir_state_env_heap_bytes(env) <= (16u << 20));
    size_t n = 0;
    assert_int_equal(timers_view_foreach(tv, 0, count_one, &n), -ENOBUFS);
    const char *why = timers_view_error(tv);
    print_message("the view gave up: %s\n", why);
    assert_non_null(strstr(why, "operator op: copy-on-write snapshot aborted: the timers"));
    assert_non_null(strstr(why, "memory.task.heap.size (16.000 MiB:"));
    timers_view_release(tv);
    assert_int_equal(cow_bytes(be), 0);
    /* the next view is whole again */
    add_timers(&t, 3, 10);
    assert_int_equal(timers_pin(&t, &tv), 0);
    n = 0;
    assert_int_equal(timers_view_foreach(tv, 0, count_one, &n), 0);
    assert_int_equal(n, 30);
    timers_view_release(tv);
    timers_free(&t);
    weir_keyed_backend_close(be);
    weir_state_env_free(env);
    weir_config_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(growth_with_copies_held_cancels_the_views_and_goes_on),
        cmocka_unit_test(copies_of_another_backend_give_way_to_growth),
        cmocka_unit_test(exhaustion_without_copies_fails_with_the_pool_named),
        cmocka_unit_test(growth_past_the_pool_after_the_cancel_fails_with_the_pool_named),
        cmocka_unit_test(timer_versions_a_view_holds_are_charged_to_the_pool_until_it_is_released),
        cmocka_unit_test(timer_versions_without_pool_room_cancel_the_view_and_the_worker_goes_on),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
