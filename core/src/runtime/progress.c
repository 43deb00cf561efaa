/*
 * Progress: event time at the sources (periodic watermarks, idleness,
 * watermark alignment groups), the watermark gate of a task with several
 * inputs (the minimum over its live, non-idle inputs), timers firing as
 * watermarks and processing time advance.
 */
#include <weir/operator.h>
#include <weir/state.h>

#include "runtime_private.h"

#define TIMER_PREFETCH_AHEAD 8 /* timers looked ahead for state prefetch */

static int fire_timers(struct op_inst *op, int domain, int64_t upto)
{
    struct weir_timer tm, ahead;
    const struct weir_keyed_ops *k = op->node->kops;
    while (timers_pop_due(&op->timers, domain, upto, &tm)) {
        /* A window's timers fire in the order their keys came, random over the key space:
         * start loading the state of the one a few on, so the cache misses overlap. */
        if (timers_peek_due(&op->timers, domain, upto, TIMER_PREFETCH_AHEAD - 1, &ahead))
            weir_keyed_backend_prefetch_ns(op->backend, ahead.key, ahead.key_group, ahead.ns);
        set_key(op, tm.key, tm.key_group);
        weir_keyed_backend_set_namespace(op->backend, tm.ns);
        int rc = k->on_timer(&op->ctx, op->state, (enum weir_time_domain)domain, tm.ns, tm.ts,
                             &op->emit);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Event-time timers up to wm fire before the watermark moves on, as in Flink. */
int deliver_watermark(struct op_inst *op, int64_t wm)
{
    op->wm = wm;
    if (op->backend && op->node->kops && op->node->kops->on_timer) {
        int rc = fire_timers(op, WEIR_EVENT_TIME, wm);
        if (rc < 0)
            return rc;
    }
    if (op->node->op && op->node->op->watermark)
        return op->node->op->watermark(&op->ctx, op->state, wm, &op->emit);
    return weir_emit_watermark(&op->emit, wm);
}

void gate_watermark(struct task *t)
{
    int64_t wm = INT64_MAX;
    int active = 0, live = 0;
    for (int i = 0; i < t->n_in; i++) {
        if (t->in[i].ended)
            continue;
        live++;
        if (t->in[i].idle)
            continue; /* an idle input does not hold the watermark back */
        active++;
        if (t->in[i].wm < wm)
            wm = t->in[i].wm;
    }
    /* Every live input idle: this task is idle too, downstream should know. */
    bool all_idle = live > 0 && active == 0;
    if (all_idle != t->idle_sent) {
        t->idle_sent = all_idle;
        weir_rec st = {.kind = WEIR_REC_STATUS, .ts = all_idle ? 1 : 0};
        route_control(t, &st);
    }
    if (active > 0 && wm > t->wm) {
        t->wm = wm;
        atomic_store_explicit(&t->wm_in_pub, wm, memory_order_relaxed);
        atomic_store_explicit(&t->wm_in_ms, wm_wall_ms(), memory_order_relaxed);
        int rc = deliver_watermark(&t->ops[0], wm);
        if (rc < 0)
            task_fail_rc(t, &t->ops[0], rc);
    }
}

void align_leave(struct task *t)
{
    if (t->align_wm)
        atomic_store_explicit(t->align_wm, INT64_MAX, memory_order_relaxed);
}

/* Periodic watermarks, idleness and alignment of a source with a watermark
 * strategy. Returns 1 when the source must pause (alignment), 0 to go on. */
int source_time(struct task *t)
{
    const struct weir_watermark_strategy *ws = t->wms;
    uint64_t now = t->worker->now_ns;
    struct op_inst *src = &t->ops[0];
    if (t->last_data_ns == 0)
        t->last_data_ns = now;
    if (now - t->last_wm_ns >= t->rt->wm_interval_ns) {
        t->last_wm_ns = now;
        if (t->max_ts != INT64_MIN) {
            int64_t wm = t->max_ts - ws->max_out_of_orderness_ms - 1;
            if (wm > t->last_wm) {
                t->last_wm = wm;
                int rc = weir_emit_watermark(&src->emit, wm);
                if (rc < 0)
                    return rc;
            }
        }
        if (ws->idleness_ms && !t->src_idle &&
            now - t->last_data_ns >= (uint64_t)ws->idleness_ms * 1000000ull) {
            t->src_idle = true;
            weir_rec st = {.kind = WEIR_REC_STATUS, .ts = 1};
            int rc = route_control(t, &st);
            if (rc < 0)
                return rc;
        }
        if (t->align_wm)
            atomic_store_explicit(t->align_wm, t->src_idle ? INT64_MAX : t->last_wm,
                                  memory_order_relaxed);
    }
    if (t->align) {
        int64_t min = INT64_MAX;
        for (int i = 0; i < t->align->n; i++) {
            int64_t w = atomic_load_explicit(&t->align->wm[i], memory_order_relaxed);
            if (w < min)
                min = w;
        }
        int64_t mine =
            t->max_ts == INT64_MIN ? INT64_MIN : t->max_ts - ws->max_out_of_orderness_ms - 1;
        if (min != INT64_MAX && mine != INT64_MIN &&
            mine > (min == INT64_MIN ? INT64_MIN + t->align->max_drift_ms
                                     : min + t->align->max_drift_ms))
            return 1;
    }
    return 0;
}

/* Processing time for TTL and processing-time timers of a task's keyed head. */
void task_processing_time(struct task *t)
{
    struct op_inst *op = &t->ops[0];
    if (!op->backend || t->state == TASK_DONE)
        return;
    int64_t now = rt_processing_ms(t->rt);
    weir_keyed_backend_set_time(op->backend, now);
    if (op->node->kops && op->node->kops->on_timer &&
        timers_count(&op->timers, WEIR_PROCESSING_TIME)) {
        /* a timer fires once the clock has passed its time (windows.h) */
        int rc = fire_timers(op, WEIR_PROCESSING_TIME, now - 1);
        if (rc < 0)
            task_fail_rc(t, op, rc);
    }
}
