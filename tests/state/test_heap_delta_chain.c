/*
 * Incremental heap snapshots (weir_keyed_view_pin_incremental): a chain of a full snapshot
 * and deltas, restored in order into a fresh backend, gives the state as it was at the last
 * pin of the chain.
 *
 * The property: a random sequence of updates, deletes and re-inserts (value, list, map and
 * reducing state) runs while one view at a time is in flight, written one key group per
 * operation (as the writer thread does while the worker goes on). A view is a delta when the
 * previous one was written (a checkpoint that completed), a full one after a view that was
 * aborted (its checkpoint failed: the changes it took are in no file) and every MAX_CHAIN
 * views. Each written view is restored with the whole chain before it and compared, key by
 * key, with the reference model as it was at its pin.
 *
 * The size: after 1% of the keys of a large state change, the delta is under 5% of a full
 * snapshot. What makes a delta larger, told apart (weir_keyed_view_delta_info): keys added
 * since the last pin (a load into a running job) are entries of the delta, one by one, however
 * many; a key-group table more than half of whose entries changed is written whole, and so
 * is one whose change set found no room in the task-heap pool.
 *
 * WEIR_TEST_SEED=n picks another sequence; WEIR_TEST_OPS=n another length.
 */
#include "state_model.h"
#include "state_view.h"

#define MAX_CHAIN 6 /* views per chain, the full one included */

struct chain {
    struct membuf bufs[MAX_CHAIN][MAXP];
    bool delta[MAX_CHAIN];
    int n;
};

static void chain_reset(struct chain *c)
{
    for (int i = 0; i < MAX_CHAIN; i++)
        free_bufs(c->bufs[i], MAXP);
    c->n = 0;
}

/* Restores the chain in order into a fresh backend and compares it with the model. */
static void check_chain(weir_state_env *env, struct chain *c, const struct model *at, uint64_t step)
{
    struct side r = {.be = backend_for(env, "restored", 0, 0, MAXP - 1)};
    for (int i = 0; i < c->n; i++)
        restore_all(r.be, c->bufs[i]);
    declare(&r);
    for (unsigned k = 0; k < NK; k++)
        for (unsigned ns = 0; ns < NNS; ns++)
            check(&r, at, k, ns, step);
    weir_keyed_backend_close(r.be);
}

static void a_chain_of_deltas_restores_the_state_at_each_pin(void **state)
{
    (void)state;
    uint64_t seed = wt_seed(20261208), rs = seed;
    uint64_t nops = wt_ops(30000);
    print_message("seed %" PRIu64 ", %" PRIu64 " operations\n", seed, nops);
    weir_config *cfg = config_for("hashmap", NULL);
    weir_state_env *env = env_for(cfg, "delta-chain");
    struct side h = {.be = backend_for(env, "h", 0, 0, MAXP - 1)};
    declare(&h);
    struct model *mo = calloc(1, sizeof *mo), *at = calloc(1, sizeof *mo);
    struct chain *c = calloc(1, sizeof *c);
    assert_non_null(mo);
    assert_non_null(at);
    assert_non_null(c);
    weir_keyed_view *v = NULL;
    uint32_t next_kg = 0, abort_at = 0;
    bool last_ok = false;
    unsigned fulls = 0, deltas = 0, aborted = 0, aborted_deltas = 0;

    for (uint64_t step = 0; step < nops; step++) {
        uint64_t x = wt_rand(&rs);
        if (!v && x % 53 == 0) {
            bool want = last_ok && c->n > 0 && c->n < MAX_CHAIN;
            assert_int_equal(weir_keyed_view_pin_incremental(h.be, want, &v), 0);
            /* the first pin has no record to go by: whole */
            assert_int_equal(weir_keyed_view_is_delta(v), want);
            memcpy(at, mo, sizeof *mo);
            if (!weir_keyed_view_is_delta(v))
                chain_reset(c);
            c->delta[c->n] = weir_keyed_view_is_delta(v);
            next_kg = 0;
            /* one in five aborted, midway or before writing anything */
            abort_at = (x >> 40) % 5 == 0 ? (uint32_t)((x >> 20) % MAXP) : MAXP + 1;
        }
        if (v && next_kg == abort_at) {
            aborted++;
            aborted_deltas += c->delta[c->n];
            free_bufs(c->bufs[c->n], MAXP);
            weir_keyed_view_release(v);
            v = NULL;
            last_ok = false;
        } else if (v && next_kg == MAXP) {
            weir_keyed_view_release(v);
            v = NULL;
            c->delta[c->n] ? deltas++ : fulls++;
            c->n++;
            check_chain(env, c, at, step);
            last_ok = true;
        } else if (v) {
            struct membuf *b = &c->bufs[c->n][next_kg];
            b->limit = SIZE_MAX;
            struct weir_snapshot_out o = mem_out(b);
            if (weir_keyed_view_snapshot_key_group(v, next_kg, &o) < 0)
                fail_msg("step %" PRIu64 ", key group %u: %s", step, next_kg,
                         weir_keyed_view_error(v));
            next_kg++;
        }
        x = wt_rand(&rs);
        unsigned k = (unsigned)(x % NK), ns = (unsigned)((x >> 8) % NNS);
        unsigned op = (unsigned)((x >> 16) % 13);
        uint64_t arg = (x >> 24) % 1000;
        if (op >= 3 && op <= 4 && mo->ln[k][ns] >= LMAX)
            op = 6;
        apply(&h, k, ns, op, arg);
        model_apply(mo, k, ns, op, arg);
    }
    weir_keyed_view_release(v);
    print_message("full %u, delta %u, aborted %u (%u deltas)\n", fulls, deltas, aborted,
                  aborted_deltas);
    assert_true(fulls >= 5);
    assert_true(deltas >= 20);
    assert_true(aborted_deltas >= 2);
    chain_reset(c);
    weir_keyed_backend_close(h.be);
    weir_state_env_free(env);
    weir_config_free(cfg);
    free(c);
    free(at);
    free(mo);
}

static size_t view_bytes(weir_keyed_view *v, struct membuf *bufs)
{
    size_t n = 0;
    for (uint32_t kg = 0; kg < MAXP; kg++) {
        bufs[kg].limit = SIZE_MAX;
        struct weir_snapshot_out o = mem_out(&bufs[kg]);
        assert_int_equal(weir_keyed_view_snapshot_key_group(v, kg, &o), 0);
        n += bufs[kg].len;
    }
    weir_keyed_view_release(v);
    return n;
}

static void a_delta_of_one_percent_of_the_keys_is_under_five_percent_of_a_full_one(void **state)
{
    (void)state;
    enum { KEYS = 200000 };
    weir_config *cfg = config_for("hashmap", NULL);
    weir_state_env *env = env_for(cfg, "delta-size");
    weir_keyed_backend *be = backend_for(env, "h", 0, 0, MAXP - 1);
    weir_value_state *vs = weir_value_state_get(be, "v", 16, NULL);
    weir_list_state *ls = weir_list_state_get(be, "l", 8, NULL);
    assert_non_null(vs);
    assert_non_null(ls);
    for (uint64_t k = 0; k < KEYS; k++) {
        uint64_t val[2] = {k, ~k};
        at(be, k);
        assert_int_equal(weir_value_put(vs, val), 0);
        if (k % 4 == 0)
            assert_int_equal(weir_list_add(ls, &k), 0);
    }
    static struct membuf full[MAXP], delta[MAXP], base[MAXP];
    weir_keyed_view *v;
    assert_int_equal(weir_keyed_view_pin_incremental(be, true, &v), 0);
    assert_false(weir_keyed_view_is_delta(v));
    size_t full_bytes = view_bytes(v, base);
    /* 1% of the keys, spread over every key group, updated; a few of them removed */
    uint64_t rs = 7;
    for (int i = 0; i < KEYS / 100; i++) {
        uint64_t k = wt_rand(&rs) % KEYS, val[2] = {k + 1, k};
        at(be, k);
        if (i % 10 == 0)
            assert_int_equal(weir_value_clear(vs), 0);
        else
            assert_int_equal(weir_value_put(vs, val), 0);
        if (k % 4 == 0)
            assert_int_equal(weir_list_add(ls, &k), 0);
    }
    assert_int_equal(weir_keyed_view_pin_incremental(be, true, &v), 0);
    assert_true(weir_keyed_view_is_delta(v));
    size_t delta_bytes = view_bytes(v, delta);
    assert_int_equal(weir_keyed_view_pin(be, &v), 0); /* a full one, for the check below */
    assert_false(weir_keyed_view_is_delta(v));
    size_t now_bytes = view_bytes(v, full);
    print_message("full %zu bytes, delta %zu bytes (%.2f%%)\n", full_bytes, delta_bytes,
                  100.0 * (double)delta_bytes / (double)full_bytes);
    assert_true(delta_bytes * 20 < full_bytes);

    /* and the base plus the delta is the state now, byte for byte as a full snapshot */
    weir_keyed_backend *r = backend_for(env, "r", 0, 0, MAXP - 1);
    restore_all(r, base);
    restore_all(r, delta);
    assert_non_null(weir_value_state_get(r, "v", 16, NULL));
    assert_non_null(weir_list_state_get(r, "l", 8, NULL));
    struct membuf *again = calloc(MAXP, sizeof *again);
    assert_non_null(again);
    snapshot_all(r, again);
    size_t again_bytes = 0;
    for (uint32_t kg = 0; kg < MAXP; kg++)
        again_bytes += again[kg].len;
    assert_int_equal(again_bytes, now_bytes);
    free_bufs(again, MAXP);
    free(again);
    free_bufs(full, MAXP);
    free_bufs(delta, MAXP);
    free_bufs(base, MAXP);
    weir_keyed_backend_close(r);
    weir_keyed_backend_close(be);
    weir_state_env_free(env);
    weir_config_free(cfg);
}

/* Value "v" of 16 bytes, keys [from, to). */
static void put_range(weir_keyed_backend *be, weir_value_state *vs, uint64_t from, uint64_t to,
                      uint64_t salt)
{
    for (uint64_t k = from; k < to; k++) {
        uint64_t val[2] = {k, salt};
        at(be, k);
        assert_int_equal(weir_value_put(vs, val), 0);
    }
}

/* base, then delta, restored into a fresh backend of key groups [first, last] with value
 * state "v" of vsize bytes: its snapshot is as long as now, key group by key group (the
 * values are the caller's to check: entries may lie in another order). */
static weir_keyed_backend *restore_chain(weir_state_env *env, uint32_t first, uint32_t last,
                                         struct membuf *base, struct membuf *delta,
                                         struct membuf *now, uint32_t vsize)
{
    weir_keyed_backend *r = backend_for(env, "r", 0, first, last);
    assert_non_null(weir_value_state_get(r, "v", vsize, NULL));
    restore_all(r, base);
    restore_all(r, delta);
    struct membuf *again = calloc(MAXP, sizeof *again);
    assert_non_null(again);
    snapshot_all(r, again);
    for (uint32_t kg = first; kg <= last; kg++)
        assert_int_equal(again[kg].len, now[kg].len);
    free_bufs(again, MAXP);
    free(again);
    return r;
}

/* Value "v" (vsize bytes) of key k in be starts with {k, salt}. */
static void check_value(weir_keyed_backend *be, uint32_t vsize, uint64_t k, uint64_t salt)
{
    weir_value_state *vs = weir_value_state_get(be, "v", vsize, NULL);
    assert_non_null(vs);
    at(be, k);
    const uint64_t *got = weir_value_get(vs);
    if (!got)
        fail_msg("key %" PRIu64 ": no value after the restore", k);
    assert_int_equal(got[0], k);
    assert_int_equal(got[1], salt);
}

/* bench_checkpoint --update-fraction 0.01 once measured one delta of 288 MiB among deltas of
 * 11 MiB: the tail of its load (keys new to the state) fell into that checkpoint. New keys are
 * entries of the delta, not key groups written whole, and the delta is their size. */
static void a_delta_after_a_load_is_the_new_keys_as_entries(void **state)
{
    (void)state;
    enum { KEYS = 100000, MORE = 30000 };
    weir_config *cfg = config_for("hashmap", NULL);
    weir_state_env *env = env_for(cfg, "delta-load");
    weir_keyed_backend *be = backend_for(env, "h", 0, 0, MAXP - 1);
    weir_value_state *vs = weir_value_state_get(be, "v", 16, NULL);
    assert_non_null(vs);
    put_range(be, vs, 0, KEYS, 0);
    static struct membuf base[MAXP], delta[MAXP];
    weir_keyed_view *v;
    assert_int_equal(weir_keyed_view_pin_incremental(be, true, &v), 0);
    size_t full_bytes = view_bytes(v, base);
    put_range(be, vs, KEYS, KEYS + MORE, 0); /* about 234 new keys per key group */
    assert_int_equal(weir_keyed_view_pin_incremental(be, true, &v), 0);
    assert_true(weir_keyed_view_is_delta(v));
    struct weir_keyed_delta_info di;
    weir_keyed_view_delta_info(v, &di);
    assert_int_equal(di.entries, MORE);
    assert_int_equal(di.tables_mostly, 0);
    assert_int_equal(di.tables_nomem, 0);
    assert_int_equal(di.entries_whole, 0);
    size_t delta_bytes = view_bytes(v, delta);
    print_message("full %zu bytes, delta of %d new keys %zu bytes (%.1f%%)\n", full_bytes, MORE,
                  delta_bytes, 100.0 * (double)delta_bytes / (double)full_bytes);
    /* 30% more keys: a delta of about 30% of the full snapshot */
    assert_true(delta_bytes * 10 > full_bytes * 2 && delta_bytes * 10 < full_bytes * 4);
    static struct membuf now[MAXP];
    snapshot_all(be, now);
    weir_keyed_backend *r = restore_chain(env, 0, MAXP - 1, base, delta, now, 16);
    for (uint64_t k = 0; k < KEYS + MORE; k++)
        check_value(r, 16, k, 0);
    weir_keyed_backend_close(r);
    free_bufs(now, MAXP);
    free_bufs(base, MAXP);
    free_bufs(delta, MAXP);
    weir_keyed_backend_close(be);
    weir_state_env_free(env);
    weir_config_free(cfg);
}

static void a_key_group_mostly_changed_is_written_whole_and_counted(void **state)
{
    (void)state;
    enum { KEYS = 100000 };
    weir_config *cfg = config_for("hashmap", NULL);
    weir_state_env *env = env_for(cfg, "delta-mostly");
    weir_keyed_backend *be = backend_for(env, "h", 0, 0, MAXP - 1);
    weir_value_state *vs = weir_value_state_get(be, "v", 16, NULL);
    assert_non_null(vs);
    put_range(be, vs, 0, KEYS, 0);
    static struct membuf base[MAXP], delta[MAXP];
    weir_keyed_view *v;
    assert_int_equal(weir_keyed_view_pin_incremental(be, true, &v), 0);
    view_bytes(v, base);
    put_range(be, vs, 0, KEYS * 7 / 10, 1); /* 70% of every key group's entries */
    assert_int_equal(weir_keyed_view_pin_incremental(be, true, &v), 0);
    assert_true(weir_keyed_view_is_delta(v));
    struct weir_keyed_delta_info di;
    weir_keyed_view_delta_info(v, &di);
    assert_int_equal(di.tables_mostly, MAXP);
    assert_int_equal(di.tables_nomem, 0);
    assert_int_equal(di.entries_whole, KEYS);
    assert_int_equal(di.entries, 0);
    view_bytes(v, delta);
    static struct membuf now[MAXP];
    snapshot_all(be, now);
    weir_keyed_backend *r = restore_chain(env, 0, MAXP - 1, base, delta, now, 16);
    for (uint64_t k = 0; k < KEYS; k++)
        check_value(r, 16, k, k < KEYS * 7 / 10);
    weir_keyed_backend_close(r);
    free_bufs(now, MAXP);
    free_bufs(base, MAXP);
    free_bufs(delta, MAXP);
    weir_keyed_backend_close(be);
    weir_state_env_free(env);
    weir_config_free(cfg);
}

/* Key group 0 of v into bufs[0]; v released. */
static void write_kg0(weir_keyed_view *v, struct membuf *bufs)
{
    bufs[0].limit = SIZE_MAX;
    struct weir_snapshot_out o = mem_out(&bufs[0]);
    assert_int_equal(weir_keyed_view_snapshot_key_group(v, 0, &o), 0);
    weir_keyed_view_release(v);
}

/* A change set that cannot grow in the pool gives up: its table goes whole (and the write
 * that changed it succeeds). be holds key group 0 only, 20,000 entries of 96 bytes; another
 * backend fills the pool (16 MiB) until a write fails, which leaves less room than the set of
 * up to half of be's entries (about 400 KiB) needs, but more than the write itself. */
static void a_change_set_without_pool_room_writes_its_key_group_whole_and_counts_it(void **state)
{
    (void)state;
    enum { T = 20000 };
    weir_config *cfg = config_for("hashmap", "memory.task.heap.size=16m", NULL);
    weir_state_env *env = env_for(cfg, "delta-nomem");
    weir_keyed_backend *be = backend_for(env, "h", 0, 0, 0);
    weir_keyed_backend *other = backend_for(env, "other", 0, 0, MAXP - 1);
    weir_value_state *vs = weir_value_state_get(be, "v", 96, NULL);
    weir_value_state *fill = weir_value_state_get(other, "f", 8, NULL);
    assert_non_null(vs);
    assert_non_null(fill);
    uint64_t keys[T], val[12] = {0};
    for (uint64_t k = 0, n = 0; n < T; k++)
        if (weir_key_group_of(k, MAXP) == 0) {
            keys[n++] = k;
            val[0] = k;
            at(be, k);
            assert_int_equal(weir_value_put(vs, val), 0);
        }
    static struct membuf base[MAXP], delta[MAXP];
    weir_keyed_view *v;
    assert_int_equal(weir_keyed_view_pin_incremental(be, true, &v), 0);
    write_kg0(v, base);
    int rc = 0;
    for (uint64_t k = 0; rc == 0; k++) {
        at(other, k);
        rc = weir_value_put(fill, &k);
    }
    assert_int_equal(rc, -ENOSPC);
    /* less than half of the table: only the pool's room makes it whole */
    for (uint64_t i = 0; i < T / 2 - 1; i++) {
        val[0] = keys[i];
        val[1] = 1;
        at(be, keys[i]);
        assert_int_equal(weir_value_put(vs, val), 0);
    }
    assert_int_equal(weir_keyed_view_pin_incremental(be, true, &v), 0);
    assert_true(weir_keyed_view_is_delta(v));
    struct weir_keyed_delta_info di;
    weir_keyed_view_delta_info(v, &di);
    assert_int_equal(di.tables_nomem, 1);
    assert_int_equal(di.tables_mostly, 0);
    assert_int_equal(di.entries_whole, T);
    assert_int_equal(di.entries, 0);
    write_kg0(v, delta);
    /* room for the check: only the snapshot of be now stays */
    static struct membuf now[MAXP];
    snapshot_all(be, now);
    weir_keyed_backend_close(other);
    weir_keyed_backend_close(be);
    weir_keyed_backend *r = restore_chain(env, 0, 0, base, delta, now, 96);
    for (uint64_t i = 0; i < T; i++)
        check_value(r, 96, keys[i], i < T / 2 - 1);
    weir_keyed_backend_close(r);
    free_bufs(now, MAXP);
    free_bufs(base, MAXP);
    free_bufs(delta, MAXP);
    weir_state_env_free(env);
    weir_config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_chain_of_deltas_restores_the_state_at_each_pin),
        cmocka_unit_test(a_delta_of_one_percent_of_the_keys_is_under_five_percent_of_a_full_one),
        cmocka_unit_test(a_delta_after_a_load_is_the_new_keys_as_entries),
        cmocka_unit_test(a_key_group_mostly_changed_is_written_whole_and_counted),
        cmocka_unit_test(a_change_set_without_pool_room_writes_its_key_group_whole_and_counts_it),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
