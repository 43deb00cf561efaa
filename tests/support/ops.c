/* Small operators the tests share (weir_test.h: wt_count_per_key_ops). */
#include <errno.h>
#include <stdint.h>

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
