/*
 * The reference model of the keyed-state property tests (test_property.c,
 * test_cow_property.c): value, list, map and reducing state over a few keys and namespaces,
 * one random operation applied to a backend (apply) and to the model (model_apply), and
 * every read of one key compared with the model (check).
 */
#ifndef WEIR_STATE_MODEL_H
#define WEIR_STATE_MODEL_H

#include "state_test.h"

#define NK   24 /* keys */
#define NNS  3  /* namespaces */
#define NUK  8  /* user keys of a map */
#define LMAX 64 /* list elements the model keeps */

struct model {
    bool has_v[NK][NNS];
    uint64_t v[NK][NNS];
    uint32_t ln[NK][NNS];
    uint32_t l[NK][NNS][LMAX];
    bool has_m[NK][NNS][NUK];
    uint64_t m[NK][NNS][NUK];
    bool has_r[NK][NNS];
    uint64_t r[NK][NNS];
};

struct side {
    weir_keyed_backend *be;
    weir_value_state *v;
    weir_list_state *l;
    weir_map_state *m;
    weir_reducing_state *r;
};

static void add(void *acc, const void *in)
{
    *(uint64_t *)acc += *(const uint64_t *)in;
}

static uint64_t key_of(unsigned k)
{
    return 1000003ull * k + 7;
}

static void declare(struct side *s)
{
    s->v = weir_value_state_get(s->be, "v", 8, NULL);
    s->l = weir_list_state_get(s->be, "l", 4, NULL);
    s->m = weir_map_state_get(s->be, "m", 8, 8, NULL);
    s->r = weir_reducing_state_get(s->be, "r", 8, add, NULL);
    assert_non_null(s->v);
    assert_non_null(s->l);
    assert_non_null(s->m);
    assert_non_null(s->r);
}

struct mcollect {
    bool seen[NUK];
    uint64_t val[NUK];
    int n;
};

static int mcollect_one(void *arg, const void *uk, const void *v)
{
    struct mcollect *c = arg;
    uint64_t k, x;
    memcpy(&k, uk, 8);
    memcpy(&x, v, 8);
    assert_true(k < NUK);
    assert_false(c->seen[k]);
    c->seen[k] = true;
    c->val[k] = x;
    c->n++;
    return 0;
}

/* Everything of key k, namespace ns, read from side s, equals the model. */
static void check(struct side *s, const struct model *mo, unsigned k, unsigned ns, uint64_t step)
{
    at(s->be, key_of(k));
    weir_keyed_backend_set_namespace(s->be, ns);
    const uint64_t *v = weir_value_get(s->v);
    if (mo->has_v[k][ns] != (v != NULL) || (v && *v != mo->v[k][ns]))
        fail_msg("step %" PRIu64 ": value of key %u ns %u", step, k, ns);
    const void *e;
    uint32_t n;
    assert_int_equal(weir_list_get(s->l, &e, &n), 0);
    if (n != mo->ln[k][ns] || (n && memcmp(e, mo->l[k][ns], n * 4u) != 0))
        fail_msg("step %" PRIu64 ": list of key %u ns %u: %u elements, want %u", step, k, ns, n,
                 mo->ln[k][ns]);
    struct mcollect c = {0};
    assert_int_equal(weir_map_iterate(s->m, mcollect_one, &c), 0);
    int want = 0;
    for (unsigned u = 0; u < NUK; u++) {
        want += mo->has_m[k][ns][u];
        if (c.seen[u] != mo->has_m[k][ns][u] || (c.seen[u] && c.val[u] != mo->m[k][ns][u]))
            fail_msg("step %" PRIu64 ": map of key %u ns %u, user key %u", step, k, ns, u);
        uint64_t uk = u;
        const uint64_t *mv = weir_map_get(s->m, &uk);
        if (mo->has_m[k][ns][u] != (mv != NULL) || (mv && *mv != mo->m[k][ns][u]))
            fail_msg("step %" PRIu64 ": map get of key %u ns %u, user key %u", step, k, ns, u);
    }
    assert_int_equal(c.n, want);
    assert_int_equal(weir_map_is_empty(s->m), want == 0);
    const uint64_t *r = weir_reducing_get(s->r);
    if (mo->has_r[k][ns] != (r != NULL) || (r && *r != mo->r[k][ns]))
        fail_msg("step %" PRIu64 ": reducing of key %u ns %u", step, k, ns);
}

static void apply(struct side *s, unsigned k, unsigned ns, unsigned op, uint64_t x)
{
    at(s->be, key_of(k));
    weir_keyed_backend_set_namespace(s->be, ns);
    uint32_t e = (uint32_t)x;
    uint64_t uk = x % NUK;
    switch (op) {
    case 0:
    case 1:
        assert_int_equal(weir_value_put(s->v, &x), 0);
        break;
    case 2:
        assert_int_equal(weir_value_clear(s->v), 0);
        break;
    case 3:
    case 4:
        assert_int_equal(weir_list_add(s->l, &e), 0);
        break;
    case 5: {
        uint32_t two[2] = {e, e + 1};
        assert_int_equal(weir_list_update(s->l, two, x % 3 == 0 ? 0 : 2), 0);
        break;
    }
    case 6:
        assert_int_equal(weir_list_clear(s->l), 0);
        break;
    case 7:
    case 8:
        assert_int_equal(weir_map_put(s->m, &uk, &x), 0);
        break;
    case 9:
        assert_int_equal(weir_map_remove(s->m, &uk), 0);
        break;
    case 10:
        if (x % 4 == 0)
            assert_int_equal(weir_map_clear(s->m), 0);
        break;
    case 11:
        assert_int_equal(weir_reducing_add(s->r, &x), 0);
        break;
    case 12:
        if (x % 3 == 0)
            assert_int_equal(weir_reducing_clear(s->r), 0);
        break;
    }
}

static void model_apply(struct model *mo, unsigned k, unsigned ns, unsigned op, uint64_t x)
{
    uint32_t e = (uint32_t)x;
    uint64_t uk = x % NUK;
    switch (op) {
    case 0:
    case 1:
        mo->has_v[k][ns] = true;
        mo->v[k][ns] = x;
        break;
    case 2:
        mo->has_v[k][ns] = false;
        break;
    case 3:
    case 4:
        if (mo->ln[k][ns] < LMAX)
            mo->l[k][ns][mo->ln[k][ns]++] = e;
        break;
    case 5:
        mo->ln[k][ns] = x % 3 == 0 ? 0 : 2;
        mo->l[k][ns][0] = e;
        mo->l[k][ns][1] = e + 1;
        break;
    case 6:
        mo->ln[k][ns] = 0;
        break;
    case 7:
    case 8:
        mo->has_m[k][ns][uk] = true;
        mo->m[k][ns][uk] = x;
        break;
    case 9:
        mo->has_m[k][ns][uk] = false;
        break;
    case 10:
        if (x % 4 == 0)
            memset(mo->has_m[k][ns], 0, sizeof mo->has_m[k][ns]);
        break;
    case 11:
        mo->r[k][ns] = mo->has_r[k][ns] ? mo->r[k][ns] + x : x;
        mo->has_r[k][ns] = true;
        break;
    case 12:
        if (x % 3 == 0)
            mo->has_r[k][ns] = false;
        break;
    }
}

#endif
