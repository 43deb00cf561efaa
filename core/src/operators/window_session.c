/*
 * Session windows (merging). Per key, the set of open sessions is a list in
 * keyed state (namespace 0) of {start, end, state}: the session's extent and
 * the namespace its accumulator lives in (Flink's MergingWindowSet: the state
 * window stays put while the session grows, so merging moves at most the
 * accumulators of the sessions absorbed). Sessions of a key never touch each
 * other: [a, b) and [c, d) with c <= b and d >= a merge (Flink's
 * TimeWindow.intersects). Each session is in one of these states:
 *
 *     OPEN     end - 1 > watermark; fire timer (start, end - 1) and, with
 *              lateness, cleanup timer (start, end - 1 + lateness) pending.
 *              A record whose [ts, ts + gap) touches it extends it (merging
 *              with any other session it touches: session_merge()).
 *     FIRED    end - 1 <= watermark < end - 1 + lateness: the result was
 *              emitted; a record that touches it merges in and fires it
 *              again at once (or re-arms the fire timer if the merged session
 *              now ends after the watermark).
 *     GONE     the cleanup timer fired: accumulator cleared, entry removed.
 *
 * Transitions: add_session() (new / merge), the fire timer (OPEN -> FIRED),
 * the cleanup timer (FIRED -> GONE; with no lateness OPEN -> GONE in one
 * timer). A merge deletes the absorbed sessions' timers and registers the
 * result's, so no timer outlives its session; a timer that finds no session
 * of its start and time anyway (a race with a merge cannot happen, but a
 * restored set might lack one) does nothing.
 */
#include "operators_private.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void op_session_merge(const struct session *set, uint32_t n, int64_t start, int64_t end,
                      uint32_t *merged, struct session_plan *plan)
{
    /* Sessions of the set never touch, so anything touching the merged
     * extent touches [start, end) itself: one pass finds them all. */
    plan->result = (struct session){.start = start, .end = end, .state = start};
    plan->n_merged = 0;
    int64_t first = INT64_MAX;
    for (uint32_t i = 0; i < n; i++) {
        if (set[i].start > end || set[i].end < start)
            continue;
        merged[plan->n_merged++] = i;
        if (set[i].start < plan->result.start)
            plan->result.start = set[i].start;
        if (set[i].end > plan->result.end)
            plan->result.end = set[i].end;
        if (set[i].start < first) {
            first = set[i].start;
            plan->result.state = set[i].state;
        }
    }
    plan->changed = !(plan->n_merged == 1 && set[merged[0]].start == plan->result.start &&
                      set[merged[0]].end == plan->result.end);
}

/* The set's invariant, for a session about to join set[0..n): it touches none
 * of them (checked incrementally: the rest of the set already held it). */
__attribute__((unused)) static bool session_apart(const struct session *set, uint32_t n,
                                                  const struct session *w)
{
    for (uint32_t i = 0; i < n; i++)
        if (set[i].start <= w->end && set[i].end >= w->start)
            return false;
    return w->start < w->end;
}

/* --- session windows ------------------------------------------------------------------ */

/* Loads the key's sessions (namespace 0) into s->sbuf. */
static int load_sessions(struct wstate *s, uint32_t *n)
{
    const void *elems;
    weir_keyed_backend_set_namespace(s->be, 0);
    int rc = weir_list_get(s->sessions, &elems, n);
    if (rc < 0)
        return rc;
    if ((rc = window_ensure_sessions(s, *n + 1)) < 0)
        return rc;
    if (*n)
        memcpy(s->sbuf, elems, (size_t)*n * sizeof *s->sbuf);
    return 0;
}

static int store_sessions(struct wstate *s, uint32_t n)
{
    weir_keyed_backend_set_namespace(s->be, 0);
    if (n == 0)
        return weir_list_clear(s->sessions);
    return weir_list_update(s->sessions, s->sbuf, n);
}

/* Merges the accumulator of namespace `from` into that of `into`, clears `from`. */
static int merge_acc(struct wstate *s, int64_t from, int64_t into)
{
    const struct weir_aggregate_fn *agg = &s->cfg->agg;
    weir_keyed_backend_set_namespace(s->be, (uint64_t)from);
    const void *v = weir_value_get(s->acc);
    if (!v)
        return 0;
    memcpy(s->accbuf2, v, agg->acc_size);
    int rc = weir_value_clear(s->acc);
    if (rc < 0)
        return rc;
    weir_keyed_backend_set_namespace(s->be, (uint64_t)into);
    v = weir_value_get(s->acc);
    if (v) {
        memcpy(s->accbuf, v, agg->acc_size);
        agg->merge(s->accbuf, s->accbuf2);
    } else {
        memcpy(s->accbuf, s->accbuf2, agg->acc_size);
    }
    return weir_value_put(s->acc, s->accbuf);
}

static int session_timers(weir_ctx *ctx, const struct wcfg *c, const struct session *w, bool add)
{
    int64_t max_ts = w->end - 1, cleanup = window_cleanup_time(max_ts, c->lateness);
    int (*fn)(weir_ctx *, enum weir_time_domain, uint64_t, int64_t) =
        add ? weir_timer_register : weir_timer_delete;
    int rc = fn(ctx, WEIR_EVENT_TIME, (uint64_t)w->start, max_ts);
    if (rc == 0 && cleanup != max_ts)
        rc = fn(ctx, WEIR_EVENT_TIME, (uint64_t)w->start, cleanup);
    return rc;
}

static int session_process(weir_ctx *ctx, void *state, int input, const weir_rec *in,
                           weir_emit *out)
{
    struct wstate *s = state;
    const struct wcfg *c = s->cfg;
    int rc;
    if ((rc = window_need_ts(ctx, in)) < 0)
        return rc;
    int64_t wm = weir_ctx_watermark(ctx);
    int64_t start = in->ts;
    int64_t end = start > INT64_MAX - c->spec.gap_ms ? INT64_MAX : start + c->spec.gap_ms;
    uint32_t n;
    if ((rc = load_sessions(s, &n)) < 0)
        return rc;
    struct session_plan plan;
    op_session_merge(s->sbuf, n, start, end, s->merged, &plan);
    struct session r = plan.result;
    /* Only a session of this record alone can be late: any session still in
     * the set ends after the watermark less the lateness. */
    if (window_cleanup_time(r.end - 1, c->lateness) <= wm)
        return window_drop_late(ctx, c, input, in);
    if (plan.changed) {
        for (uint32_t i = 0; i < plan.n_merged; i++) {
            const struct session *m = &s->sbuf[s->merged[i]];
            if ((rc = session_timers(ctx, c, m, false)) < 0)
                return rc;
            if (m->state != r.state && (rc = merge_acc(s, m->state, r.state)) < 0)
                return rc;
        }
        /* Drop the absorbed sessions (indices ascending), append the result. */
        uint32_t k = 0, mi = 0;
        for (uint32_t i = 0; i < n; i++) {
            if (mi < plan.n_merged && s->merged[mi] == i) {
                mi++;
                continue;
            }
            s->sbuf[k++] = s->sbuf[i];
        }
        s->sbuf[k++] = r;
        assert(session_apart(s->sbuf, k - 1, &r));
        if ((rc = store_sessions(s, k)) < 0)
            return rc;
    }
    weir_keyed_backend_set_namespace(s->be, (uint64_t)r.state);
    if ((rc = window_agg_add(s, in)) < 0)
        return rc;
    int64_t max_ts = r.end - 1, cleanup = window_cleanup_time(max_ts, c->lateness);
    if (max_ts <= wm) {
        /* The session fired already and is within the allowed lateness. */
        weir_keyed_backend_set_namespace(s->be, (uint64_t)r.state);
        if ((rc = window_agg_emit(ctx, s, r.start, r.end, out)) < 0)
            return rc;
    } else if ((rc = weir_timer_register(ctx, WEIR_EVENT_TIME, (uint64_t)r.start, max_ts)) < 0) {
        return rc;
    }
    if (cleanup != max_ts)
        rc = weir_timer_register(ctx, WEIR_EVENT_TIME, (uint64_t)r.start, cleanup);
    return rc;
}

static int session_on_timer(weir_ctx *ctx, void *state, enum weir_time_domain d, uint64_t ns,
                            int64_t ts, weir_emit *out)
{
    struct wstate *s = state;
    const struct wcfg *c = s->cfg;
    if (d != WEIR_EVENT_TIME)
        return 0;
    uint32_t n;
    int rc = load_sessions(s, &n);
    if (rc < 0)
        return rc;
    uint32_t i;
    for (i = 0; i < n && s->sbuf[i].start != (int64_t)ns; i++)
        ;
    if (i == n)
        return 0; /* no such session (see the top of the file) */
    struct session w = s->sbuf[i];
    int64_t max_ts = w.end - 1, cleanup = window_cleanup_time(max_ts, c->lateness);
    if (ts == max_ts) {
        weir_keyed_backend_set_namespace(s->be, (uint64_t)w.state);
        if ((rc = window_agg_emit(ctx, s, w.start, w.end, out)) < 0)
            return rc;
    }
    if (ts == cleanup) {
        weir_keyed_backend_set_namespace(s->be, (uint64_t)w.state);
        if ((rc = weir_value_clear(s->acc)) < 0)
            return rc;
        s->sbuf[i] = s->sbuf[n - 1];
        if ((rc = store_sessions(s, n - 1)) < 0)
            return rc;
    }
    return 0;
}

const struct weir_operator_ops window_agg_session_ops = {.kind = "window",
                                                         .state_size = sizeof(struct wstate),
                                                         .open = window_open,
                                                         .process = session_process,
                                                         .close = window_close};
const struct weir_keyed_ops window_session_kops = {.on_timer = session_on_timer};
