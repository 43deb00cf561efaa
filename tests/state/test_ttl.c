/*
 * State TTL on both backends with an injected clock (weir_keyed_backend_set_time): expiry
 * after write, after read (update_on_read), per list and per map entry, for reducing and
 * aggregating state; expired entries are never returned nor snapshotted; and cleanup really
 * frees: the hashmap's task-heap bytes go down, RocksDB's entries are gone after compaction.
 */
#include "state_test.h"

#define T0 1000000

static const struct weir_state_ttl ttl_write = {.ttl_ms = 100};
static const struct weir_state_ttl ttl_read = {.ttl_ms = 100, .update_on_read = true};

static void value_expires_after_write(void **state)
{
    struct fx *f = *state;
    weir_value_state *v = weir_value_state_get(f->be, "v", 8, &ttl_write);
    assert_non_null(v);
    at(f->be, 1);
    uint64_t x = 5;
    weir_keyed_backend_set_time(f->be, T0);
    weir_value_put(v, &x);
    weir_keyed_backend_set_time(f->be, T0 + 50);
    assert_non_null(weir_value_get(v)); /* a read does not extend it */
    weir_keyed_backend_set_time(f->be, T0 + 99);
    assert_non_null(weir_value_get(v));
    weir_keyed_backend_set_time(f->be, T0 + 100);
    assert_null(weir_value_get(v));
    /* A write after expiry starts over. */
    weir_value_put(v, &x);
    weir_keyed_backend_set_time(f->be, T0 + 199);
    assert_non_null(weir_value_get(v));
    weir_keyed_backend_set_time(f->be, T0 + 200);
    assert_null(weir_value_get(v));
}

static void value_expires_after_read_with_update_on_read(void **state)
{
    struct fx *f = *state;
    weir_value_state *v = weir_value_state_get(f->be, "v", 8, &ttl_read);
    at(f->be, 1);
    uint64_t x = 5;
    weir_keyed_backend_set_time(f->be, T0);
    weir_value_put(v, &x);
    weir_keyed_backend_set_time(f->be, T0 + 90);
    assert_non_null(weir_value_get(v)); /* now lives until T0 + 190 */
    weir_keyed_backend_set_time(f->be, T0 + 180);
    assert_non_null(weir_value_get(v)); /* until T0 + 280 */
    weir_keyed_backend_set_time(f->be, T0 + 279);
    assert_int_equal(*(const uint64_t *)weir_value_get(v), 5); /* until T0 + 379 */
    weir_keyed_backend_set_time(f->be, T0 + 379);
    assert_null(weir_value_get(v));
}

static void list_expires_as_a_whole_and_restarts(void **state)
{
    struct fx *f = *state;
    weir_list_state *l = weir_list_state_get(f->be, "l", 4, &ttl_write);
    at(f->be, 1);
    uint32_t a = 1, b = 2, c = 3;
    weir_keyed_backend_set_time(f->be, T0);
    weir_list_add(l, &a);
    weir_keyed_backend_set_time(f->be, T0 + 60);
    weir_list_add(l, &b); /* a write: the list lives until T0 + 160 */
    const void *e;
    uint32_t n;
    weir_keyed_backend_set_time(f->be, T0 + 159);
    weir_list_get(l, &e, &n);
    assert_int_equal(n, 2);
    weir_keyed_backend_set_time(f->be, T0 + 160);
    weir_list_get(l, &e, &n);
    assert_int_equal(n, 0);
    /* An add after expiry, without a read in between, starts a new list. */
    weir_keyed_backend_set_time(f->be, T0 + 300);
    weir_list_add(l, &a);
    weir_keyed_backend_set_time(f->be, T0 + 500);
    weir_list_add(l, &c);
    weir_list_get(l, &e, &n);
    assert_int_equal(n, 1);
    assert_int_equal(*(const uint32_t *)e, 3);
}

static void map_entries_expire_one_by_one(void **state)
{
    struct fx *f = *state;
    weir_map_state *m = weir_map_state_get(f->be, "m", 8, 8, &ttl_write);
    at(f->be, 1);
    uint64_t k1 = 1, k2 = 2, v = 9;
    weir_keyed_backend_set_time(f->be, T0);
    weir_map_put(m, &k1, &v);
    weir_keyed_backend_set_time(f->be, T0 + 50);
    weir_map_put(m, &k2, &v);
    weir_keyed_backend_set_time(f->be, T0 + 120);
    assert_null(weir_map_get(m, &k1));
    assert_non_null(weir_map_get(m, &k2));
    assert_false(weir_map_is_empty(m));
    weir_keyed_backend_set_time(f->be, T0 + 150);
    assert_null(weir_map_get(m, &k2));
    assert_true(weir_map_is_empty(m));
}

static int count_entries(void *arg, const void *k, const void *v)
{
    (*(int *)arg)++;
    return 0;
}

static void map_iterate_skips_expired_entries(void **state)
{
    struct fx *f = *state;
    weir_map_state *m = weir_map_state_get(f->be, "m", 8, 8, &ttl_write);
    at(f->be, 1);
    for (uint64_t i = 0; i < 10; i++) {
        weir_keyed_backend_set_time(f->be, T0 + (int64_t)i * 10);
        weir_map_put(m, &i, &i);
    }
    weir_keyed_backend_set_time(f->be, T0 + 145); /* entries written at T0+50.. live */
    int n = 0;
    weir_map_iterate(m, count_entries, &n);
    assert_int_equal(n, 5);
}

static void sum(void *acc, const void *in)
{
    *(int64_t *)acc += *(const int64_t *)in;
}

static void count_init(void *acc)
{
    *(int64_t *)acc = 0;
}

static void count_add(void *acc, const void *in)
{
    ++*(int64_t *)acc;
}

static void count_result(const void *acc, void *out)
{
    memcpy(out, acc, 8);
}

static void reducing_and_aggregating_expire(void **state)
{
    struct fx *f = *state;
    static const struct weir_aggregate_fn count = {8, 8, count_init, count_add, NULL, count_result};
    weir_reducing_state *r = weir_reducing_state_get(f->be, "r", 8, sum, &ttl_write);
    weir_aggregating_state *a = weir_aggregating_state_get(f->be, "a", &count, &ttl_write);
    at(f->be, 1);
    int64_t x = 4, out;
    weir_keyed_backend_set_time(f->be, T0);
    weir_reducing_add(r, &x);
    weir_aggregating_add(a, &x);
    weir_reducing_add(r, &x);
    weir_aggregating_add(a, &x);
    weir_keyed_backend_set_time(f->be, T0 + 99);
    assert_int_equal(*(const int64_t *)weir_reducing_get(r), 8);
    assert_int_equal(weir_aggregating_get(a, &out), 0);
    assert_int_equal(out, 2);
    weir_keyed_backend_set_time(f->be, T0 + 100);
    assert_null(weir_reducing_get(r));
    assert_int_equal(weir_aggregating_get(a, &out), 1);
    /* Adding to an expired accumulator starts from scratch. */
    weir_keyed_backend_set_time(f->be, T0 + 300);
    weir_reducing_add(r, &x);
    weir_aggregating_add(a, &x);
    assert_int_equal(*(const int64_t *)weir_reducing_get(r), 4);
    weir_aggregating_get(a, &out);
    assert_int_equal(out, 1);
}

static void snapshot_leaves_expired_entries_out(void **state)
{
    struct fx *f = *state;
    weir_value_state *v = weir_value_state_get(f->be, "v", 8, &ttl_write);
    uint64_t key = 77, x = 1;
    uint32_t kg = weir_key_group_of(key, MAXP);
    at(f->be, key);
    weir_keyed_backend_set_time(f->be, T0);
    weir_value_put(v, &x);
    struct membuf live = {.limit = SIZE_MAX}, dead = {.limit = SIZE_MAX};
    struct weir_snapshot_out o1 = mem_out(&live), o2 = mem_out(&dead);
    assert_int_equal(weir_keyed_backend_snapshot_key_group(f->be, kg, &o1), 0);
    weir_keyed_backend_set_time(f->be, T0 + 100);
    assert_int_equal(weir_keyed_backend_snapshot_key_group(f->be, kg, &o2), 0);
    assert_true(dead.len < live.len);
    /* The live snapshot, restored after the entry's time, restores nothing live. */
    weir_keyed_backend *be2 = backend_for(f->env, "other", 0, 0, MAXP - 1);
    weir_keyed_backend_set_time(be2, T0 + 100);
    struct weir_snapshot_in in = mem_in(&live);
    assert_int_equal(weir_keyed_backend_restore_key_group(be2, kg, &in), 0);
    weir_value_state *v2 = weir_value_state_get(be2, "v", 8, &ttl_write);
    at(be2, key);
    assert_null(weir_value_get(v2));
    weir_keyed_backend_close(be2);
    free(live.data);
    free(dead.data);
}

static void cleanup_frees_expired_entries(void **state)
{
    struct fx *f = *state;
    const uint64_t n = 20000;
    weir_value_state *v = weir_value_state_get(f->be, "v", 8, &ttl_write);
    weir_list_state *l = weir_list_state_get(f->be, "l", 8, &ttl_write);
    weir_map_state *m = weir_map_state_get(f->be, "m", 8, 8, &ttl_write);
    weir_value_state *keep = weir_value_state_get(f->be, "keep", 8, NULL);
    struct weir_keyed_backend_stats before, after;
    weir_keyed_backend_set_time(f->be, T0);
    weir_keyed_backend_stats_get(f->be, &before);
    uint64_t empty_heap = before.heap_bytes;
    for (uint64_t k = 0; k < n; k++) {
        at(f->be, k);
        weir_value_put(v, &k);
        weir_list_add(l, &k);
        weir_list_add(l, &k);
        weir_map_put(m, &k, &k);
        if (k < 10)
            weir_value_put(keep, &k);
    }
    weir_keyed_backend_stats_get(f->be, &before);
    assert_int_equal(before.entries, 3 * n + 10);
    weir_keyed_backend_set_time(f->be, T0 + 1000);
    if (strcmp(f->backend, "rocksdb") == 0) {
        /* Expired, not yet compacted: still on disk (the compaction filter has not run). */
        assert_int_equal(weir_keyed_backend_flush(f->be), 0);
        weir_keyed_backend_stats_get(f->be, &before);
        assert_int_equal(before.entries, 3 * n + 10);
        assert_true(before.sst_bytes > 0);
    }
    assert_int_equal(weir_keyed_backend_cleanup(f->be), 0);
    weir_keyed_backend_stats_get(f->be, &after);
    assert_int_equal(after.entries, 10); /* only the state without TTL */
    if (strcmp(f->backend, "hashmap") == 0) {
        assert_true(before.heap_bytes > empty_heap + n * 32);
        /* Everything but the few "keep" entries and the states' per-key-group arrays is back
         * in the pool. */
        assert_true(after.heap_bytes < empty_heap + 64 * 1024);
        assert_int_equal(weir_state_env_heap_bytes(f->env), after.heap_bytes);
    } else {
        assert_true(after.sst_bytes < before.sst_bytes);
    }
    for (uint64_t k = 0; k < 10; k++) {
        at(f->be, k);
        assert_int_equal(*(const uint64_t *)weir_value_get(keep), k);
    }
}

static void writes_clean_up_incrementally(void **state)
{
    /* hashmap: each write to a TTL state examines a few slots, so expired keys that are never
     * read again still go away. */
    struct fx *f = *state;
    if (strcmp(f->backend, "hashmap") != 0)
        skip(); /* rocksdb: compaction does it, see cleanup_frees_expired_entries */
    weir_value_state *v = weir_value_state_get(f->be, "v", 8, &ttl_write);
    weir_keyed_backend_set_time(f->be, T0);
    for (uint64_t k = 0; k < 1000; k++) {
        at(f->be, k);
        weir_value_put(v, &k);
    }
    weir_keyed_backend_set_time(f->be, T0 + 500);
    for (uint64_t i = 0; i < 20000; i++) {
        at(f->be, 1000000 + i % 10);
        weir_value_put(v, &i);
    }
    struct weir_keyed_backend_stats st;
    weir_keyed_backend_stats_get(f->be, &st);
    assert_int_equal(st.entries, 10);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        BOTH(value_expires_after_write),
        BOTH(value_expires_after_read_with_update_on_read),
        BOTH(list_expires_as_a_whole_and_restarts),
        BOTH(map_entries_expire_one_by_one),
        BOTH(map_iterate_skips_expired_entries),
        BOTH(reducing_and_aggregating_expire),
        BOTH(snapshot_leaves_expired_entries_out),
        BOTH(cleanup_frees_expired_entries),
        BOTH(writes_clean_up_incrementally),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    return rc;
}
