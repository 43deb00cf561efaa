/*
 * Running keyed operators: reduce, aggregate and deduplication, written
 * against operator.h and state.h only.
 *
 * Deduplication keeps, per key, one value-state entry: the timestamp of the
 * last record it emitted. A key is in one of two states:
 *
 *     UNSEEN      no entry (never seen, or forgotten): the next record is
 *                 emitted (keep first and keep last alike) -> REMEMBERED.
 *     REMEMBERED  entry = ts of the last emitted record. keep first: every
 *                 record is dropped. keep last: a record with ts >= entry is
 *                 emitted and becomes the entry, an older one is dropped.
 *
 * REMEMBERED -> UNSEEN after the TTL: with processing time, the backend's state
 * TTL expires the entry (OnCreateAndWrite); with event time, an event-time
 * timer at entry + ttl clears it (each new entry moves the timer).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <weir/operator.h>
#include <weir/state.h>
#include <weir/windows.h>

struct kcfg {
    const char *error; /* static text: open() fails the job with it */
    /* reduce */
    uint32_t value_size;
    weir_reduce_fn reduce;
    /* aggregate */
    struct weir_aggregate_fn agg;
    weir_value_fn value;
    /* dedup */
    struct weir_dedup_opts dedup;
};

struct kstate {
    const struct kcfg *cfg;
    weir_keyed_backend *be;
    weir_value_state *value;
    weir_aggregating_state *agg;
    unsigned char *buf;
};

static int k_open_common(weir_ctx *ctx, struct kstate *s, const struct kcfg *c, const char *what)
{
    s->cfg = c;
    if (c->error) {
        weir_ctx_fail(ctx, "%s \"%s\": %s", what, weir_ctx_uid(ctx), c->error);
        return -EINVAL;
    }
    s->be = weir_ctx_state(ctx);
    if (!s->be) {
        weir_ctx_fail(ctx, "%s \"%s\": not a keyed operator", what, weir_ctx_uid(ctx));
        return -EINVAL;
    }
    return 0;
}

static void k_close(weir_ctx *ctx, void *state)
{
    free(((struct kstate *)state)->buf);
}

static const struct kcfg oom_cfg = {.error = "out of memory while building the job"};

static weir_stream *finish(weir_stream *s, struct kcfg *c)
{
    if (!s)
        free(c);
    else
        weir_stream_own_arg(s, free);
    return s;
}

/* --- reduce -------------------------------------------------------------------- */

static int reduce_open(weir_ctx *ctx, void *state, void *arg)
{
    struct kstate *s = state;
    const struct kcfg *c = arg;
    int rc = k_open_common(ctx, s, c, "reduce");
    if (rc < 0)
        return rc;
    s->value = weir_value_state_get(s->be, "value", c->value_size, NULL);
    s->buf = aligned_alloc(16, (c->value_size + 15u) & ~15u);
    return s->value && s->buf ? 0 : -ENOMEM;
}

static int reduce_process(weir_ctx *ctx, void *state, int input, const weir_rec *in, weir_emit *out)
{
    struct kstate *s = state;
    const struct kcfg *c = s->cfg;
    if (in->len != c->value_size) {
        weir_ctx_fail(ctx,
                      "reduce \"%s\": a record of %" PRIu32 " bytes; this reduce takes "
                      "records of value_size = %" PRIu32 " bytes",
                      weir_ctx_uid(ctx), in->len, c->value_size);
        return -EINVAL;
    }
    const void *cur = weir_value_get(s->value);
    if (cur) {
        memcpy(s->buf, cur, c->value_size);
        c->reduce(s->buf, in->data);
    } else {
        memcpy(s->buf, in->data, c->value_size);
    }
    int rc = weir_value_put(s->value, s->buf);
    if (rc < 0)
        return rc;
    return weir_emit_copy(out, in->ts, s->buf, c->value_size);
}

static const struct weir_operator_ops reduce_ops = {.kind = "reduce",
                                                    .state_size = sizeof(struct kstate),
                                                    .open = reduce_open,
                                                    .process = reduce_process,
                                                    .close = k_close};
static const struct weir_keyed_ops no_timers = {0};

weir_stream *weir_reduce(weir_stream *keyed, const char *uid, uint32_t value_size,
                         weir_reduce_fn reduce)
{
    if (!keyed)
        return NULL;
    struct kcfg *c = calloc(1, sizeof *c);
    if (!c)
        return weir_keyed_transform(keyed, uid, &reduce_ops, &no_timers, (void *)&oom_cfg);
    if (!value_size)
        c->error = "value_size must be positive";
    if (!reduce)
        c->error = "no reduce function";
    c->value_size = value_size;
    c->reduce = reduce;
    return finish(weir_keyed_transform(keyed, uid, &reduce_ops, &no_timers, c), c);
}

/* --- running aggregate ------------------------------------------------------------ */

static int aggregate_open(weir_ctx *ctx, void *state, void *arg)
{
    struct kstate *s = state;
    const struct kcfg *c = arg;
    int rc = k_open_common(ctx, s, c, "aggregate");
    if (rc < 0)
        return rc;
    s->agg = weir_aggregating_state_get(s->be, "acc", &c->agg, NULL);
    return s->agg ? 0 : -ENOMEM;
}

static int aggregate_process(weir_ctx *ctx, void *state, int input, const weir_rec *in,
                             weir_emit *out)
{
    struct kstate *s = state;
    const struct kcfg *c = s->cfg;
    int rc;
    if (c->value) {
        int64_t v = c->value(in);
        rc = weir_aggregating_add(s->agg, &v);
    } else {
        rc = weir_aggregating_add(s->agg, in->data);
    }
    if (rc < 0)
        return rc;
    struct weir_keyed_result *r =
        weir_emit_reserve(out, (uint32_t)sizeof(struct weir_keyed_result) + c->agg.result_size);
    if (!r)
        return -EMSGSIZE;
    r->key = weir_ctx_current_key(ctx);
    if ((rc = weir_aggregating_get(s->agg, r->result)) < 0)
        return rc;
    return weir_emit_commit(out, in->ts);
}

static const struct weir_operator_ops aggregate_ops = {.kind = "aggregate",
                                                       .state_size = sizeof(struct kstate),
                                                       .open = aggregate_open,
                                                       .process = aggregate_process};

weir_stream *weir_aggregate(weir_stream *keyed, const char *uid,
                            const struct weir_aggregate_fn *agg, weir_value_fn value)
{
    if (!keyed)
        return NULL;
    struct kcfg *c = calloc(1, sizeof *c);
    if (!c)
        return weir_keyed_transform(keyed, uid, &aggregate_ops, &no_timers, (void *)&oom_cfg);
    if (!agg || !agg->init || !agg->add || !agg->result || !agg->acc_size)
        c->error = "the aggregate function needs acc_size, init, add and result";
    else
        c->agg = *agg;
    if (!value && (agg == &weir_agg_sum || agg == &weir_agg_min || agg == &weir_agg_max ||
                   agg == &weir_agg_avg))
        c->error = "the built-in sum, min, max and avg need a value function";
    c->value = value;
    return finish(weir_keyed_transform(keyed, uid, &aggregate_ops, &no_timers, c), c);
}

/* --- deduplication ----------------------------------------------------------------- */

static bool event_ttl(const struct kcfg *c)
{
    return c->dedup.ttl_ms > 0 && c->dedup.ttl_time == WEIR_EVENT_TIME;
}

static int dedup_open(weir_ctx *ctx, void *state, void *arg)
{
    struct kstate *s = state;
    const struct kcfg *c = arg;
    int rc = k_open_common(ctx, s, c, "dedup");
    if (rc < 0)
        return rc;
    struct weir_state_ttl ttl = {.ttl_ms = c->dedup.ttl_ms};
    bool proc_ttl = c->dedup.ttl_ms > 0 && c->dedup.ttl_time == WEIR_PROCESSING_TIME;
    s->value = weir_value_state_get(s->be, "last-ts", sizeof(int64_t), proc_ttl ? &ttl : NULL);
    return s->value ? 0 : -ENOMEM;
}

/* ts + ttl, saturated. */
static int64_t forget_at(int64_t ts, int64_t ttl)
{
    return ts > INT64_MAX - ttl ? INT64_MAX : ts + ttl;
}

static int dedup_process(weir_ctx *ctx, void *state, int input, const weir_rec *in, weir_emit *out)
{
    struct kstate *s = state;
    const struct kcfg *c = s->cfg;
    bool by_event = event_ttl(c);
    if ((by_event || c->dedup.keep == WEIR_DEDUP_KEEP_LAST) && in->ts == WEIR_TS_NONE) {
        weir_ctx_fail(ctx,
                      "dedup \"%s\": a record without timestamp; keep-last and event-time "
                      "TTL need a source with timestamps (weir_assign_watermarks)",
                      weir_ctx_uid(ctx));
        return -EINVAL;
    }
    weir_keyed_backend_set_namespace(s->be, 0);
    const int64_t *prev = weir_value_get(s->value);
    int64_t last = 0;
    bool seen = prev != NULL;
    if (seen)
        memcpy(&last, prev, sizeof last);
    if (seen && (c->dedup.keep == WEIR_DEDUP_KEEP_FIRST || in->ts < last))
        return 0; /* a duplicate */
    int rc = weir_value_put(s->value, &in->ts);
    if (rc < 0)
        return rc;
    if (by_event) {
        if (seen && forget_at(last, c->dedup.ttl_ms) != forget_at(in->ts, c->dedup.ttl_ms) &&
            (rc = weir_timer_delete(ctx, WEIR_EVENT_TIME, 0, forget_at(last, c->dedup.ttl_ms))) < 0)
            return rc;
        if ((rc = weir_timer_register(ctx, WEIR_EVENT_TIME, 0,
                                      forget_at(in->ts, c->dedup.ttl_ms))) < 0)
            return rc;
    }
    return weir_emit_forward(out, in);
}

static int dedup_on_timer(weir_ctx *ctx, void *state, enum weir_time_domain d, uint64_t ns,
                          int64_t ts, weir_emit *out)
{
    struct kstate *s = state;
    const struct kcfg *c = s->cfg;
    if (d != WEIR_EVENT_TIME || !event_ttl(c))
        return 0;
    weir_keyed_backend_set_namespace(s->be, 0);
    const int64_t *prev = weir_value_get(s->value);
    if (!prev)
        return 0;
    int64_t last;
    memcpy(&last, prev, sizeof last);
    /* Only the timer of the current entry forgets the key. */
    if (forget_at(last, c->dedup.ttl_ms) != ts)
        return 0;
    return weir_value_clear(s->value);
}

static const struct weir_operator_ops dedup_ops = {.kind = "dedup",
                                                   .state_size = sizeof(struct kstate),
                                                   .open = dedup_open,
                                                   .process = dedup_process};
static const struct weir_keyed_ops dedup_kops = {.on_timer = dedup_on_timer};

weir_stream *weir_dedup(weir_stream *keyed, const char *uid, const struct weir_dedup_opts *opts)
{
    if (!keyed)
        return NULL;
    struct kcfg *c = calloc(1, sizeof *c);
    if (!c)
        return weir_keyed_transform(keyed, uid, &dedup_ops, &dedup_kops, (void *)&oom_cfg);
    if (opts)
        c->dedup = *opts;
    if (c->dedup.keep != WEIR_DEDUP_KEEP_FIRST && c->dedup.keep != WEIR_DEDUP_KEEP_LAST)
        c->error = "keep must be WEIR_DEDUP_KEEP_FIRST or WEIR_DEDUP_KEEP_LAST";
    if (c->dedup.ttl_ms < 0)
        c->error = "ttl_ms must be >= 0 (0: remember keys forever)";
    if (c->dedup.ttl_time != WEIR_EVENT_TIME && c->dedup.ttl_time != WEIR_PROCESSING_TIME)
        c->error = "ttl_time must be WEIR_EVENT_TIME or WEIR_PROCESSING_TIME";
    return finish(weir_keyed_transform(keyed, uid, &dedup_ops, &dedup_kops, c), c);
}
