/*
 * A randomized property: one random sequence of operations on value, list, map and reducing
 * state, over a few keys and namespaces, applied to the hashmap backend, the RocksDB backend
 * and a plain reference model, reads back the same at every step. Halfway, each backend is
 * snapshotted and restored into a fresh backend of the other kind, and the sequence goes on
 * there, so the snapshot format is checked with whatever state the sequence built.
 *
 * WEIR_TEST_SEED=n picks another sequence; WEIR_TEST_OPS=n another length.
 */
#include "state_model.h"

/* Snapshot every key group of s->be, restore into a fresh backend of env, close the old. */
static void move(struct side *s, weir_state_env *env, const char *uid)
{
    struct membuf bufs[MAXP] = {0};
    snapshot_all(s->be, bufs);
    weir_keyed_backend_close(s->be);
    s->be = backend_for(env, uid, 0, 0, MAXP - 1);
    restore_all(s->be, bufs);
    free_bufs(bufs, MAXP);
    declare(s);
}

static void backends_and_model_agree(void **state)
{
    uint64_t seed = wt_seed(20240611), rs = seed;
    uint64_t nops = wt_ops(30000);
    print_message("seed %" PRIu64 ", %" PRIu64 " operations\n", seed, nops);

    weir_config *ch = config_for("hashmap", NULL), *cr = config_for("rocksdb", NULL);
    weir_state_env *eh = env_for(ch, "prop-h"), *er = env_for(cr, "prop-r");
    struct side h = {.be = backend_for(eh, "h", 0, 0, MAXP - 1)};
    struct side r = {.be = backend_for(er, "r", 0, 0, MAXP - 1)};
    declare(&h);
    declare(&r);
    struct model *mo = calloc(1, sizeof *mo);
    assert_non_null(mo);

    for (uint64_t step = 0; step < nops; step++) {
        if (step == nops / 2) {
            /* Swap backends through the snapshot format. */
            struct side t = h;
            h = r;
            r = t;
            move(&h, eh, "h2"); /* was rocksdb, now hashmap */
            move(&r, er, "r2"); /* was hashmap, now rocksdb */
            for (unsigned k = 0; k < NK; k++)
                for (unsigned ns = 0; ns < NNS; ns++) {
                    check(&h, mo, k, ns, step);
                    check(&r, mo, k, ns, step);
                }
        }
        uint64_t x = wt_rand(&rs);
        unsigned k = (unsigned)(x % NK), ns = (unsigned)((x >> 8) % NNS);
        unsigned op = (unsigned)((x >> 16) % 13);
        uint64_t arg = (x >> 24) % 1000;
        if (op >= 3 && op <= 4 && mo->ln[k][ns] >= LMAX)
            op = 6; /* keep lists within what the model holds */
        apply(&h, k, ns, op, arg);
        apply(&r, k, ns, op, arg);
        model_apply(mo, k, ns, op, arg);
        check(&h, mo, k, ns, step);
        check(&r, mo, k, ns, step);
        if (step % 5000 == 4999)
            for (unsigned kk = 0; kk < NK; kk++)
                for (unsigned nn = 0; nn < NNS; nn++) {
                    check(&h, mo, kk, nn, step);
                    check(&r, mo, kk, nn, step);
                }
    }
    weir_keyed_backend_close(h.be);
    weir_keyed_backend_close(r.be);
    weir_state_env_free(eh);
    weir_state_env_free(er);
    weir_config_free(ch);
    weir_config_free(cr);
    free(mo);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(backends_and_model_agree),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    return rc;
}
