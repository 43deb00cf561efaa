/*
 * Routes: where a chain's records go. The tail operator's emit partitions each
 * record over the writers of every route (forward, rebalance, hash by key
 * group, broadcast); inside a chain, emit calls the next operator directly.
 */
#include <weir/keygroup.h>

#include "runtime_private.h"

int route_control(struct task *t, const weir_rec *r)
{
    /* every watermark and idleness leaving the task passes here, a source's own too */
    wm_note_out(t, r);
    for (int i = 0; i < t->n_routes; i++) {
        struct route *rt = &t->routes[i];
        for (int j = 0; j < rt->n; j++) {
            int rc = writer_put(rt->w[j], r);
            if (rc < 0)
                return rc;
            writer_flush(rt->w[j]);
        }
    }
    return 0;
}

/* One data record to one route, by its partitioning. */
static inline int route_put(struct route *rt, const weir_rec *r)
{
    switch (rt->part) {
    case PART_DEFAULT:
    case PART_FORWARD:
        return writer_put(rt->w[0], r);
    case PART_REBALANCE:
        return writer_put(rt->w[rt->rr++ % (uint32_t)rt->n], r);
    case PART_HASH: {
        /* key group = murmur % max parallelism; the owner comes from a table
         * built with weir_key_group_subtask, so no division per record. */
        uint32_t h = weir_murmur_int(weir_key_hash_code(rt->key(r)));
        uint32_t kg = rt->kg_mask ? h & rt->kg_mask : h % rt->max_parallelism;
        return writer_put(rt->w[rt->owner[kg]], r);
    }
    case PART_BROADCAST:
        for (int j = 0; j < rt->n; j++) {
            int rc = writer_put(rt->w[j], r);
            if (rc < 0)
                return rc;
        }
        return 0;
    }
    return 0;
}

int push_routes(weir_emit *e, const weir_rec *r)
{
    struct task *t = e->target;
    if (__builtin_expect(r->kind != WEIR_REC_DATA, 0))
        return route_control(t, r);
    t->n_out_local++;
    t->n_out_bytes += weir_rec_size(r->len);
    t->n_out_bytes_recs++;
    for (int i = 0; i < t->n_routes; i++) {
        struct route *rt = &t->routes[i];
        if (rt->tag)
            continue; /* side output routes take only what weir_ctx_side_output emits */
        int rc = route_put(rt, r);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* A sink's output goes nowhere; emitting from a sink is a bug in the job. */
int push_nowhere(weir_emit *e, const weir_rec *r)
{
    return 0;
}

/* A side output: the same partitioners, only the routes of that tag. */
int push_side(weir_emit *e, const weir_rec *r)
{
    struct side_emit *se = (struct side_emit *)e;
    struct task *t = se->task;
    if (r->kind != WEIR_REC_DATA)
        return 0; /* control events go to every route from the task itself */
    for (int i = 0; i < t->n_routes; i++) {
        if (t->routes[i].tag != se->tag)
            continue;
        int rc = route_put(&t->routes[i], r);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int push_source(weir_emit *e, const weir_rec *r)
{
    struct op_inst *op = e->target;
    struct task *t = op->task;
    if (__builtin_expect(r->kind == WEIR_REC_STATUS, 0)) {
        /* A source's own idleness (weir_emit_idle) with a watermark strategy: past the
         * chain, to every route, as source_time's, which it keeps in step with. */
        bool idle = r->ts == 1;
        if (idle == t->src_idle)
            return 0;
        t->src_idle = idle;
        return route_control(t, r);
    }
    if (r->kind == WEIR_REC_DATA) {
        if (r->ts != WEIR_TS_NONE && r->ts > t->max_ts)
            t->max_ts = r->ts;
        t->last_data_ns = t->worker->now_ns;
        if (__builtin_expect(t->src_idle, 0)) {
            t->src_idle = false;
            weir_rec st = {.kind = WEIR_REC_STATUS, .ts = 0};
            int rc = route_control(t, &st);
            if (rc < 0)
                return rc;
        }
    }
    return op->fwd.push(&op->fwd, r);
}

int push_op(weir_emit *e, const weir_rec *r)
{
    struct op_inst *next = e->target;
    if (__builtin_expect(r->kind == WEIR_REC_WATERMARK, 0))
        return deliver_watermark(next, r->ts);
    if (__builtin_expect(r->kind != WEIR_REC_DATA, 0)) /* a source's idleness: down the chain */
        return r->kind == WEIR_REC_STATUS ? next->emit.push(&next->emit, r) : 0;
    next->records++;
    return next->node->op->process(&next->ctx, next->state, 0, r, &next->emit);
}
