/*
 * Copy-on-write snapshot views of the hashmap backend hold the state as it was when they
 * were pinned: a random sequence of updates, deletes and re-inserts (value, list, map and
 * reducing state) runs on one backend while up to four views are in flight, each written
 * one key group at a time between the operations (as the writer thread does while the
 * worker goes on). A finished view is restored into a fresh backend and compared, key by
 * key, with the reference model as it was at the view's pin; some views are aborted midway
 * or before writing anything. The live backend is checked against the current model after
 * every operation, so a copy that went wrong shows on either side. Under ASan, every pinned
 * version must be freed (views released in any order, the backend closed with views
 * released).
 *
 * WEIR_TEST_SEED=n picks another sequence; WEIR_TEST_OPS=n another length.
 */
#include "state_model.h"
#include "state_view.h"

#define INFLIGHT 4

struct inflight {
    weir_keyed_view *v;
    struct model *at; /* the model at the pin */
    struct membuf bufs[MAXP];
    uint32_t next_kg;  /* key groups written so far */
    uint32_t abort_at; /* release after this many key groups; > MAXP: never */
    uint64_t pinned_step;
};

static void release(struct inflight *f)
{
    weir_keyed_view_release(f->v);
    free_bufs(f->bufs, MAXP);
    free(f->at);
    memset(f, 0, sizeof *f);
}

/* Restores a finished view into a fresh backend and compares every key with the model. */
static void check_view(weir_state_env *env, struct inflight *f, uint64_t step)
{
    struct side r = {.be = backend_for(env, "restored", 0, 0, MAXP - 1)};
    restore_all(r.be, f->bufs);
    declare(&r);
    for (unsigned k = 0; k < NK; k++)
        for (unsigned ns = 0; ns < NNS; ns++)
            check(&r, f->at, k, ns, f->pinned_step);
    weir_keyed_backend_close(r.be);
    (void)step;
}

/* One more key group of view f written, or the view finished (checked) or aborted. */
static bool advance(weir_state_env *env, struct inflight *f, uint64_t step)
{
    if (f->next_kg == f->abort_at)
        return true;
    if (f->next_kg == MAXP) {
        check_view(env, f, step);
        return true;
    }
    struct membuf *b = &f->bufs[f->next_kg];
    b->limit = SIZE_MAX;
    struct weir_snapshot_out o = mem_out(b);
    if (weir_keyed_view_snapshot_key_group(f->v, f->next_kg, &o) < 0)
        fail_msg("view of step %" PRIu64 ", key group %u: %s", f->pinned_step, f->next_kg,
                 weir_keyed_view_error(f->v));
    f->next_kg++;
    return false;
}

static void views_hold_the_state_as_pinned_while_it_changes(void **state)
{
    uint64_t seed = wt_seed(20261207), rs = seed;
    uint64_t nops = wt_ops(40000);
    print_message("seed %" PRIu64 ", %" PRIu64 " operations\n", seed, nops);
    weir_config *cfg = config_for("hashmap", NULL);
    weir_state_env *env = env_for(cfg, "cow-prop");
    struct side h = {.be = backend_for(env, "h", 0, 0, MAXP - 1)};
    declare(&h);
    struct model *mo = calloc(1, sizeof *mo);
    struct inflight *fl = calloc(INFLIGHT, sizeof *fl);
    assert_non_null(mo);
    assert_non_null(fl);
    unsigned pinned = 0, checked = 0, aborted = 0;

    for (uint64_t step = 0; step < nops; step++) {
        uint64_t x = wt_rand(&rs);
        if (x % 97 == 0) {
            for (int i = 0; i < INFLIGHT; i++) {
                if (fl[i].v)
                    continue;
                assert_int_equal(weir_keyed_view_pin(h.be, &fl[i].v), 0);
                fl[i].at = malloc(sizeof *mo);
                assert_non_null(fl[i].at);
                memcpy(fl[i].at, mo, sizeof *mo);
                fl[i].pinned_step = step;
                /* one in four aborted: before writing, or midway */
                fl[i].abort_at = (x >> 40) % 4 == 0 ? (uint32_t)((x >> 20) % MAXP) : MAXP + 1;
                pinned++;
                break;
            }
        }
        for (int i = 0; i < INFLIGHT; i++) {
            if (!fl[i].v)
                continue;
            bool aborting = fl[i].next_kg == fl[i].abort_at;
            if (advance(env, &fl[i], step)) {
                aborting ? aborted++ : checked++;
                release(&fl[i]);
            }
        }
        x = wt_rand(&rs);
        unsigned k = (unsigned)(x % NK), ns = (unsigned)((x >> 8) % NNS);
        unsigned op = (unsigned)((x >> 16) % 13);
        uint64_t arg = (x >> 24) % 1000;
        if (op >= 3 && op <= 4 && mo->ln[k][ns] >= LMAX)
            op = 6;
        apply(&h, k, ns, op, arg);
        model_apply(mo, k, ns, op, arg);
        check(&h, mo, k, ns, step);
    }
    for (int i = 0; i < INFLIGHT; i++)
        if (fl[i].v) {
            aborted++;
            release(&fl[i]); /* still in flight at the end: aborted */
        }
    print_message("views pinned %u, restored and checked %u, aborted %u\n", pinned, checked,
                  aborted);
    assert_true(checked >= 10);
    assert_true(aborted >= 2);
    for (unsigned k = 0; k < NK; k++)
        for (unsigned ns = 0; ns < NNS; ns++)
            check(&h, mo, k, ns, nops);
    struct weir_keyed_backend_stats st;
    assert_int_equal(weir_keyed_backend_stats_get(h.be, &st), 0);
    weir_keyed_backend_close(h.be);
    weir_state_env_free(env);
    weir_config_free(cfg);
    free(fl);
    free(mo);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(views_hold_the_state_as_pinned_while_it_changes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
