/* Small operators the tests share (weir_test.h: wt_count_per_key_ops, wt_sum_per_key_ops). */
#include <errno.h>
#include <stdint.h>

#include <weir/job.h>
#include <weir/state.h>
#include <weir/weir.h>

#include "weir_test.h"

/* Keeps a count per key in the value state "n" and forwards each record. */
static int count_per_key(weir_ctx *ctx, void *state, int input, const weir_rec *in, weir_emit *out)
{
    weir_value_state *v = weir_value_state_get(weir_ctx_state(ctx), "n", sizeof(uint64_t), NULL);
    if (!v)
        return -ENOMEM;
    const uint64_t *old = weir_value_get(v);
    uint64_t n = (old ? *old : 0) + 1;
    int rc = weir_value_put(v, &n);
    return rc < 0 ? rc : weir_emit_forward(out, in);
}

const struct weir_operator_ops wt_count_per_key_ops = {.kind = "keep", .process = count_per_key};

struct sums {
    weir_value_state *sum;
};

static int sum_open(weir_ctx *ctx, void *st, void *arg)
{
    struct sums *s = st;
    s->sum = weir_value_state_get(weir_ctx_state(ctx), "sum", sizeof(uint64_t), NULL);
    return s->sum ? 0 : -ENOMEM;
}

/* Emits (key, running sum of seq): with exactly-once state the last one per key is the true
 * total, a lost record makes it smaller, a duplicate larger. */
static int sum_process(weir_ctx *ctx, void *st, int input, const weir_rec *in, weir_emit *out)
{
    struct sums *s = st;
    const struct weir_datagen_rec *r = (const void *)in->data;
    const uint64_t *old = weir_value_get(s->sum);
    uint64_t v = (old ? *old : 0) + r->seq;
    int rc = weir_value_put(s->sum, &v);
    if (rc < 0)
        return rc;
    struct weir_datagen_rec o = {.key = r->key, .value = v};
    return weir_emit_copy(out, in->ts, &o, sizeof o);
}

const struct weir_operator_ops wt_sum_per_key_ops = {
    .kind = "sum", .state_size = sizeof(struct sums), .open = sum_open, .process = sum_process};
