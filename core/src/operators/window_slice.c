/*
 * Sliding event-time window aggregates by slices (panes), as Flink SQL's window slicing: a
 * window of size n * slide is n slices of one slide each, so a record updates the
 * accumulator of its one slice instead of those of its n windows, and a window's result is
 * the merge of its slices when it fires. Taken when the aggregate merges, the size is a
 * multiple of the slide (and larger), and there is no allowed lateness; other windows run
 * in window_fire.c.
 *
 * State: value state "slice", one accumulator per (key, slice start) namespace. Timers: one
 * per (key, window) as in window_fire.c, (namespace start, end - 1), but registered only by
 * the record that creates a slice (for the first window of the slice not fired yet) and by
 * the firing of a window for the next one while a slice after its oldest remains, a chain
 * that ends when no slice of the key is left. Per record and per window:
 *
 *     record, slice s = [start, start + slide) of its timestamp
 *         s + size - 1 <= watermark (its last window fired)  -> late: dropped, counted
 *         otherwise add to slice s (without reading it when the record before wrote it and
 *         no timer fired since: runs of one key, as Nexmark's hot auctions make, cost one
 *         put per record); when that created it, a timer for the first
 *         window [e - size, e) with s in it and e - 1 > watermark
 *     timer of window [start, end)
 *         merge its slices (oldest first): emit the result when any exists
 *         clear the oldest slice if any (no later window holds it)
 *         a slice after the oldest exists -> timer of the next window [start + slide, ...)
 *
 * The results are those of window_fire.c's path for the same records: every window with a
 * record fires once, at end - 1, with the merge of the records of its slices.
 */
#include "operators_private.h"

#include <errno.h>
#include <string.h>

#include <weir/state_backend.h>

bool window_sliced(const struct wcfg *c)
{
    const struct weir_window_spec *w = &c->spec;
    return c->op == WOP_AGG && c->agg.merge && w->kind == WEIR_WINDOW_SLIDING &&
           w->time == WEIR_EVENT_TIME && c->lateness == 0 && w->slide_ms > 0 &&
           w->size_ms > w->slide_ms && w->size_ms % w->slide_ms == 0;
}

/* A checkpoint taken while these windows were kept per window (before slices, or with an
 * aggregate that did not merge) holds state "acc", an accumulator per window namespace, and
 * the windows' timers: such a window fires here with its "acc" merged into its slices', so
 * that the records it had before the restore still count. Keyed state is restored after
 * open, so this looks once, at the first record or timer. */
static int take_legacy(struct wstate *s)
{
    s->legacy_checked = true;
    uint32_t n = weir_keyed_backend_state_count(s->be);
    for (uint32_t id = 0; id < n; id++) {
        const char *name = weir_keyed_backend_state_name(s->be, id, NULL);
        if (name && strcmp(name, "acc") == 0) {
            s->legacy = weir_value_state_get(s->be, "acc", s->cfg->agg.acc_size, NULL);
            return s->legacy ? 0 : -EINVAL;
        }
    }
    return 0;
}

/* The restored per-window accumulator of the window at ns (see window_slice_open) into
 * s->accbuf, then cleared: 1 when there was one, 0, or < 0. */
static int merge_legacy(struct wstate *s, uint64_t ns, bool first)
{
    weir_keyed_backend_set_namespace(s->be, ns);
    const void *acc = weir_value_get(s->legacy);
    if (!acc)
        return 0;
    if (first)
        memcpy(s->accbuf, acc, s->cfg->agg.acc_size);
    else
        s->cfg->agg.merge(s->accbuf, acc);
    int rc = weir_value_clear(s->legacy);
    return rc < 0 ? rc : 1;
}

static int slice_process(weir_ctx *ctx, void *state, int input, const weir_rec *in,
                         weir_emit *out)
{
    struct wstate *s = state;
    const struct wcfg *c = s->cfg;
    int rc = window_need_ts(ctx, in);
    if (rc < 0 || (__builtin_expect(!s->legacy_checked, 0) && (rc = take_legacy(s)) < 0))
        return rc;
    int64_t size = c->spec.size_ms, slide = c->spec.slide_ms;
    int64_t wm = weir_ctx_watermark(ctx);
    int64_t start = weir_window_start(in->ts, c->spec.offset_ms, slide);
    if (start + size - 1 <= wm)
        return window_drop_late(ctx, c, input, in);
    weir_keyed_backend_set_namespace(s->be, (uint64_t)start);
    uint64_t key = weir_ctx_current_key(ctx);
    if (s->last_valid && s->last_key == key && s->last_slice == start) {
        /* the slice the record before wrote, still in s->accbuf: no read */
        window_agg_add_value(c, s->accbuf, in);
        return weir_value_put(s->acc, s->accbuf);
    }
    rc = window_agg_add(s, in);
    s->last_valid = rc >= 0;
    s->last_key = key;
    s->last_slice = start;
    if (rc != 1)
        return rc; /* < 0, or the slice existed: its timers exist */
    int64_t end = start + slide;
    while (end - 1 <= wm)
        end += slide;
    return weir_timer_register(ctx, WEIR_EVENT_TIME, (uint64_t)(end - size), end - 1);
}

/* Merges the slices of [start, start + size) into s->accbuf: how many exist; *oldest says
 * whether the oldest does, *later whether one after it does. */
static int merge_slices(struct wstate *s, int64_t start, bool *oldest, bool *later)
{
    const struct wcfg *c = s->cfg;
    int64_t slide = c->spec.slide_ms, n = c->spec.size_ms / slide;
    int found = 0;
    *oldest = *later = false;
    for (int64_t i = 0; i < n; i++) {
        weir_keyed_backend_set_namespace(s->be, (uint64_t)(start + i * slide));
        const void *acc = weir_value_get(s->acc);
        if (!acc)
            continue;
        if (found++ == 0)
            memcpy(s->accbuf, acc, c->agg.acc_size);
        else
            c->agg.merge(s->accbuf, acc);
        *(i > 0 ? later : oldest) = true;
    }
    return found;
}

static int slice_on_timer(weir_ctx *ctx, void *state, enum weir_time_domain d, uint64_t ns,
                          int64_t ts, weir_emit *out)
{
    struct wstate *s = state;
    const struct wcfg *c = s->cfg;
    int64_t start = (int64_t)ns, size = c->spec.size_ms, slide = c->spec.slide_ms;
    bool oldest, later;
    if (d != WEIR_EVENT_TIME || ts != start + size - 1)
        return 0; /* not a timer of this operator's */
    s->last_valid = false; /* s->accbuf is the merge's from here, the slice may go */
    if (!s->legacy_checked && take_legacy(s) < 0)
        return -EINVAL;
    int found = merge_slices(s, start, &oldest, &later), rc = 0;
    if (s->legacy && (rc = merge_legacy(s, ns, found == 0)) < 0)
        return rc;
    if (found + rc > 0 && (rc = window_agg_emit_buf(ctx, s, start, start + size, out)) < 0)
        return rc;
    if (oldest) {
        weir_keyed_backend_set_namespace(s->be, ns);
        if ((rc = weir_value_clear(s->acc)) < 0)
            return rc;
    }
    if (!later)
        return 0;
    return weir_timer_register(ctx, WEIR_EVENT_TIME, (uint64_t)(start + slide), ts + slide);
}

const struct weir_operator_ops window_agg_slice_ops = {.kind = "window",
                                                       .state_size = sizeof(struct wstate),
                                                       .open = window_open,
                                                       .process = slice_process,
                                                       .close = window_close};
const struct weir_keyed_ops window_slice_kops = {.on_timer = slice_on_timer,
                                                 .prefetch_ns = window_prefetch_ns};
