/*
 * Keyed state semantics, each test on both backends: value, list, map, reducing and
 * aggregating state; keys and namespaces isolate; declarations; key groups outside the
 * backend's range are refused; tables survive growth and heavy deletion.
 */
#include "state_test.h"

static void value_put_get_clear(void **state)
{
    struct fx *f = *state;
    weir_value_state *v = weir_value_state_get(f->be, "v", sizeof(uint64_t), NULL);
    assert_non_null(v);
    at(f->be, 7);
    assert_null(weir_value_get(v));
    uint64_t x = 42;
    assert_int_equal(weir_value_put(v, &x), 0);
    const uint64_t *got = weir_value_get(v);
    assert_non_null(got);
    assert_int_equal(*got, 42);
    x = 43;
    assert_int_equal(weir_value_put(v, &x), 0);
    assert_int_equal(*(const uint64_t *)weir_value_get(v), 43);
    assert_int_equal(weir_value_clear(v), 0);
    assert_null(weir_value_get(v));
    assert_int_equal(weir_value_clear(v), 0); /* clearing nothing is fine */
}

static void value_of_odd_size_round_trips(void **state)
{
    struct fx *f = *state;
    char val[13];
    weir_value_state *v = weir_value_state_get(f->be, "v13", sizeof val, NULL);
    assert_non_null(v);
    for (uint64_t k = 0; k < 50; k++) {
        at(f->be, k);
        memset(val, (int)('a' + k % 26), sizeof val);
        assert_int_equal(weir_value_put(v, val), 0);
    }
    for (uint64_t k = 0; k < 50; k++) {
        at(f->be, k);
        memset(val, (int)('a' + k % 26), sizeof val);
        const void *got = weir_value_get(v);
        assert_non_null(got);
        assert_memory_equal(got, val, sizeof val);
    }
}

static void keys_isolate(void **state)
{
    struct fx *f = *state;
    weir_value_state *v = weir_value_state_get(f->be, "v", sizeof(uint64_t), NULL);
    for (uint64_t k = 1; k <= 3; k++) {
        at(f->be, k);
        uint64_t x = k * 100;
        assert_int_equal(weir_value_put(v, &x), 0);
    }
    at(f->be, 2);
    weir_value_clear(v);
    at(f->be, 1);
    assert_int_equal(*(const uint64_t *)weir_value_get(v), 100);
    at(f->be, 2);
    assert_null(weir_value_get(v));
    at(f->be, 3);
    assert_int_equal(*(const uint64_t *)weir_value_get(v), 300);
    assert_int_equal(weir_keyed_backend_current_key(f->be), 3);
}

static void namespaces_isolate(void **state)
{
    struct fx *f = *state;
    weir_value_state *v = weir_value_state_get(f->be, "v", sizeof(uint64_t), NULL);
    weir_list_state *l = weir_list_state_get(f->be, "l", sizeof(uint32_t), NULL);
    at(f->be, 9);
    for (uint64_t ns = 0; ns < 4; ns++) {
        weir_keyed_backend_set_namespace(f->be, ns);
        uint64_t x = 1000 + ns;
        uint32_t e = (uint32_t)ns;
        assert_int_equal(weir_value_put(v, &x), 0);
        assert_int_equal(weir_list_add(l, &e), 0);
    }
    weir_keyed_backend_set_namespace(f->be, 2);
    weir_value_clear(v);
    weir_list_clear(l);
    for (uint64_t ns = 0; ns < 4; ns++) {
        weir_keyed_backend_set_namespace(f->be, ns);
        const void *elems;
        uint32_t n;
        assert_int_equal(weir_list_get(l, &elems, &n), 0);
        if (ns == 2) {
            assert_null(weir_value_get(v));
            assert_int_equal(n, 0);
            continue;
        }
        /* elems is valid until the next call on the backend: check it first. */
        assert_int_equal(n, 1);
        assert_int_equal(*(const uint32_t *)elems, ns);
        assert_int_equal(*(const uint64_t *)weir_value_get(v), 1000 + ns);
    }
}

static void states_isolate(void **state)
{
    struct fx *f = *state;
    weir_value_state *a = weir_value_state_get(f->be, "a", sizeof(uint64_t), NULL);
    weir_value_state *b = weir_value_state_get(f->be, "b", sizeof(uint64_t), NULL);
    at(f->be, 5);
    uint64_t x = 1, y = 2;
    weir_value_put(a, &x);
    weir_value_put(b, &y);
    assert_int_equal(*(const uint64_t *)weir_value_get(a), 1);
    assert_int_equal(*(const uint64_t *)weir_value_get(b), 2);
    weir_value_clear(a);
    assert_null(weir_value_get(a));
    assert_int_equal(*(const uint64_t *)weir_value_get(b), 2);
}

static void declaring_twice_gives_the_same_handle(void **state)
{
    struct fx *f = *state;
    weir_value_state *a = weir_value_state_get(f->be, "count", 8, NULL);
    assert_non_null(a);
    assert_ptr_equal(weir_value_state_get(f->be, "count", 8, NULL), a);
}

static void declaring_with_another_kind_or_size_fails(void **state)
{
    struct fx *f = *state;
    assert_non_null(weir_value_state_get(f->be, "count", 8, NULL));
    assert_null(weir_value_state_get(f->be, "count", 4, NULL));
    assert_string_equal(weir_keyed_backend_error(f->be),
                        "operator op: state \"count\" is a value of 8-byte values, not a value "
                        "of 4-byte values");
    assert_null(weir_list_state_get(f->be, "count", 8, NULL));
    struct weir_state_ttl ttl = {.ttl_ms = 10};
    assert_null(weir_value_state_get(f->be, "count", 8, &ttl));
    assert_null(weir_map_state_get(f->be, "count", 8, 8, NULL));
}

static void list_keeps_insertion_order(void **state)
{
    struct fx *f = *state;
    weir_list_state *l = weir_list_state_get(f->be, "l", sizeof(uint64_t), NULL);
    assert_non_null(l);
    at(f->be, 3);
    const void *elems;
    uint32_t n = 99;
    assert_int_equal(weir_list_get(l, &elems, &n), 0);
    assert_int_equal(n, 0);
    for (uint64_t i = 0; i < 1000; i++)
        assert_int_equal(weir_list_add(l, &i), 0);
    assert_int_equal(weir_list_get(l, &elems, &n), 0);
    assert_int_equal(n, 1000);
    for (uint64_t i = 0; i < 1000; i++)
        assert_int_equal(((const uint64_t *)elems)[i], i);
}

static void list_update_replaces_and_empty_update_clears(void **state)
{
    struct fx *f = *state;
    weir_list_state *l = weir_list_state_get(f->be, "l", sizeof(uint32_t), NULL);
    at(f->be, 3);
    uint32_t a = 1, b[3] = {7, 8, 9};
    weir_list_add(l, &a);
    weir_list_add(l, &a);
    assert_int_equal(weir_list_update(l, b, 3), 0);
    const void *elems;
    uint32_t n;
    weir_list_get(l, &elems, &n);
    assert_int_equal(n, 3);
    assert_memory_equal(elems, b, sizeof b);
    uint32_t c = 10;
    weir_list_add(l, &c);
    weir_list_get(l, &elems, &n);
    assert_int_equal(n, 4);
    assert_int_equal(((const uint32_t *)elems)[3], 10);
    assert_int_equal(weir_list_update(l, NULL, 0), 0);
    weir_list_get(l, &elems, &n);
    assert_int_equal(n, 0);
    weir_list_add(l, &c);
    assert_int_equal(weir_list_clear(l), 0);
    weir_list_get(l, &elems, &n);
    assert_int_equal(n, 0);
}

struct collect {
    uint64_t keys[64], vals[64];
    int n, stop_after;
};

static int collect_one(void *arg, const void *ukey, const void *value)
{
    struct collect *c = arg;
    memcpy(&c->keys[c->n], ukey, 8);
    memcpy(&c->vals[c->n], value, 8);
    c->n++;
    return c->stop_after && c->n >= c->stop_after ? 1 : 0;
}

static int fail_one(void *arg, const void *ukey, const void *value)
{
    return -EPIPE;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void map_put_get_remove_iterate(void **state)
{
    struct fx *f = *state;
    weir_map_state *m = weir_map_state_get(f->be, "m", 8, 8, NULL);
    assert_non_null(m);
    at(f->be, 11);
    assert_true(weir_map_is_empty(m));
    for (uint64_t i = 0; i < 20; i++) {
        uint64_t uk = i * 7, v = i * 100;
        assert_int_equal(weir_map_put(m, &uk, &v), 0);
    }
    at(f->be, 12); /* another key's map is separate */
    uint64_t uk = 5, v = 5;
    weir_map_put(m, &uk, &v);
    at(f->be, 11);
    assert_false(weir_map_is_empty(m));
    uk = 14;
    assert_int_equal(*(const uint64_t *)weir_map_get(m, &uk), 200);
    uk = 15;
    assert_null(weir_map_get(m, &uk));
    uk = 14;
    v = 201;
    weir_map_put(m, &uk, &v);
    assert_int_equal(*(const uint64_t *)weir_map_get(m, &uk), 201);
    assert_int_equal(weir_map_remove(m, &uk), 0);
    assert_null(weir_map_get(m, &uk));
    assert_int_equal(weir_map_remove(m, &uk), 0);

    struct collect c = {0};
    assert_int_equal(weir_map_iterate(m, collect_one, &c), 0);
    assert_int_equal(c.n, 19);
    qsort(c.keys, (size_t)c.n, 8, cmp_u64);
    for (int i = 0, j = 0; i < 20; i++) {
        if (i == 2)
            continue;
        assert_int_equal(c.keys[j++], (uint64_t)i * 7);
    }
    struct collect stop = {.stop_after = 3};
    assert_int_equal(weir_map_iterate(m, collect_one, &stop), 0);
    assert_int_equal(stop.n, 3);
    assert_int_equal(weir_map_iterate(m, fail_one, NULL), -EPIPE);

    assert_int_equal(weir_map_clear(m), 0);
    assert_true(weir_map_is_empty(m));
    struct collect none = {0};
    weir_map_iterate(m, collect_one, &none);
    assert_int_equal(none.n, 0);
    at(f->be, 12);
    assert_false(weir_map_is_empty(m));
}

static void map_iterates_rocksdb_in_key_byte_order(void **state)
{
    struct fx *f = *state;
    if (strcmp(f->backend, "rocksdb") != 0)
        skip(); /* hashmap order is unspecified */
    weir_map_state *m = weir_map_state_get(f->be, "m", 8, 8, NULL);
    at(f->be, 1);
    for (uint64_t i = 0; i < 30; i++) {
        uint64_t uk = __builtin_bswap64(29 - i), v = i; /* big-endian: byte order = number order */
        weir_map_put(m, &uk, &v);
    }
    struct collect c = {0};
    weir_map_iterate(m, collect_one, &c);
    assert_int_equal(c.n, 30);
    for (int i = 0; i < 30; i++)
        assert_int_equal(__builtin_bswap64(c.keys[i]), (uint64_t)i);
}

static void sum(void *acc, const void *in)
{
    *(int64_t *)acc += *(const int64_t *)in;
}

static void reducing_reduces(void **state)
{
    struct fx *f = *state;
    weir_reducing_state *r = weir_reducing_state_get(f->be, "sum", 8, sum, NULL);
    assert_non_null(r);
    at(f->be, 4);
    assert_null(weir_reducing_get(r));
    for (int64_t i = 1; i <= 10; i++)
        assert_int_equal(weir_reducing_add(r, &i), 0);
    assert_int_equal(*(const int64_t *)weir_reducing_get(r), 55);
    weir_reducing_clear(r);
    assert_null(weir_reducing_get(r));
    int64_t x = -3;
    weir_reducing_add(r, &x);
    assert_int_equal(*(const int64_t *)weir_reducing_get(r), -3);
}

struct avg_acc {
    int64_t sum, count;
};

static void avg_init(void *acc)
{
    *(struct avg_acc *)acc = (struct avg_acc){0, 0};
}

static void avg_add(void *acc, const void *in)
{
    struct avg_acc *a = acc;
    a->sum += *(const int64_t *)in;
    a->count++;
}

static void avg_result(const void *acc, void *out)
{
    const struct avg_acc *a = acc;
    *(double *)out = a->count ? (double)a->sum / (double)a->count : 0;
}

static const struct weir_aggregate_fn avg = {
    .acc_size = sizeof(struct avg_acc),
    .result_size = sizeof(double),
    .init = avg_init,
    .add = avg_add,
    .result = avg_result,
};

static void aggregating_aggregates(void **state)
{
    struct fx *f = *state;
    weir_aggregating_state *a = weir_aggregating_state_get(f->be, "avg", &avg, NULL);
    assert_non_null(a);
    at(f->be, 4);
    double out = -1;
    assert_int_equal(weir_aggregating_get(a, &out), 1);
    int64_t xs[] = {2, 4, 9};
    for (int i = 0; i < 3; i++)
        assert_int_equal(weir_aggregating_add(a, &xs[i]), 0);
    assert_int_equal(weir_aggregating_get(a, &out), 0);
    assert_true(out == 5.0);
    at(f->be, 5);
    assert_int_equal(weir_aggregating_get(a, &out), 1);
    at(f->be, 4);
    weir_aggregating_clear(a);
    assert_int_equal(weir_aggregating_get(a, &out), 1);
}

static void key_group_outside_the_range_is_refused(void **state)
{
    struct fx *f = *state;
    weir_keyed_backend *half = backend_for(f->env, "half", 1, 64, 127);
    weir_value_state *v = weir_value_state_get(half, "v", 8, NULL);
    weir_list_state *l = weir_list_state_get(half, "l", 8, NULL);
    weir_map_state *m = weir_map_state_get(half, "m", 8, 8, NULL);
    uint64_t x = 1;
    /* No key set yet: refused as well. */
    assert_int_equal(weir_value_put(v, &x), -ERANGE);
    uint64_t key = 0;
    while (weir_key_group_of(key, MAXP) >= 64)
        key++;
    at(half, key);
    assert_int_equal(weir_value_put(v, &x), -ERANGE);
    char want[256];
    snprintf(want, sizeof want,
             "operator half subtask 1: key group %u is outside this subtask's range [64, 127] "
             "(or no current key was set)",
             weir_key_group_of(key, MAXP));
    assert_string_equal(weir_keyed_backend_error(half), want);
    assert_null(weir_value_get(v));
    assert_int_equal(weir_list_add(l, &x), -ERANGE);
    assert_int_equal(weir_map_put(m, &x, &x), -ERANGE);
    struct membuf b = {.limit = SIZE_MAX};
    struct weir_snapshot_out o = mem_out(&b);
    assert_int_equal(weir_keyed_backend_snapshot_key_group(half, 3, &o), -ERANGE);
    while (weir_key_group_of(key, MAXP) < 64)
        key++;
    at(half, key);
    assert_int_equal(weir_value_put(v, &x), 0);
    weir_keyed_backend_close(half);
    free(b.data);
}

static void many_keys_survive_growth_and_deletion(void **state)
{
    struct fx *f = *state;
    const uint64_t n = 60000;
    weir_value_state *v = weir_value_state_get(f->be, "v", 8, NULL);
    for (uint64_t k = 0; k < n; k++) {
        at(f->be, k * 2654435761u);
        uint64_t x = k;
        assert_int_equal(weir_value_put(v, &x), 0);
    }
    for (uint64_t k = 0; k < n; k += 2) {
        at(f->be, k * 2654435761u);
        assert_int_equal(weir_value_clear(v), 0);
    }
    for (uint64_t k = 0; k < n; k++) {
        at(f->be, k * 2654435761u);
        const uint64_t *got = weir_value_get(v);
        if (k % 2 == 0) {
            assert_null(got);
        } else {
            assert_non_null(got);
            assert_int_equal(*got, k);
        }
    }
    struct weir_keyed_backend_stats st;
    weir_keyed_backend_stats_get(f->be, &st);
    assert_int_equal(st.entries, n / 2);
}

static void get_then_put_updates_the_right_entry(void **state)
{
    /* The hashmap remembers the slot a get found; a put of another key must not use it. */
    struct fx *f = *state;
    weir_value_state *v = weir_value_state_get(f->be, "v", 8, NULL);
    weir_value_state *w = weir_value_state_get(f->be, "w", 8, NULL);
    for (uint64_t k = 0; k < 2000; k++) {
        at(f->be, k);
        const uint64_t *old = weir_value_get(v);
        uint64_t x = (old ? *old : 0) + k;
        weir_value_get(w);
        at(f->be, k + 1); /* moved on between the get and the put */
        weir_value_put(w, &x);
        at(f->be, k);
        weir_value_put(v, &x);
    }
    for (uint64_t k = 0; k < 2000; k++) {
        at(f->be, k);
        assert_int_equal(*(const uint64_t *)weir_value_get(v), k);
        at(f->be, k + 1);
        assert_int_equal(*(const uint64_t *)weir_value_get(w), k);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        BOTH(value_put_get_clear),
        BOTH(value_of_odd_size_round_trips),
        BOTH(keys_isolate),
        BOTH(namespaces_isolate),
        BOTH(states_isolate),
        BOTH(declaring_twice_gives_the_same_handle),
        BOTH(declaring_with_another_kind_or_size_fails),
        BOTH(list_keeps_insertion_order),
        BOTH(list_update_replaces_and_empty_update_clears),
        BOTH(map_put_get_remove_iterate),
        BOTH(map_iterates_rocksdb_in_key_byte_order),
        BOTH(reducing_reduces),
        BOTH(aggregating_aggregates),
        BOTH(key_group_outside_the_range_is_refused),
        BOTH(many_keys_survive_growth_and_deletion),
        BOTH(get_then_put_updates_the_right_entry),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    return rc;
}
