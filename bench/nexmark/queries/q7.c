/*
 * q7: Highest Bid.
 *
 * Nexmark: the bid(s) with the highest price in each 10 s tumbling window.
 *
 * Here: a local maximum per source subtask in operator state, then a global
 * one keyed by window (Flink's local-global aggregation). Flink joins on
 * B.dateTime BETWEEN end - 10 s AND end, which also admits a bid at exactly
 * `end` with the same price; here only bids of the window [start, end).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <weir/operator.h>
#include <weir/state.h>
#include <weir/windows.h>

#include "nexmark_private.h"

struct q7_cfg {
    int64_t size_ms;
    uint32_t bid_max; /* largest bid event */
};

/* Stage one, per source subtask (operator state): the open windows, each with
 * its highest price and the bids that have it. */
struct q7_window {
    int64_t start, max;
    uint32_t n, cap;
    unsigned char *bids; /* n slots */
};

struct q7_local {
    const struct q7_cfg *c;
    uint32_t slot;
    struct q7_window *w;
    uint32_t n, cap;
    int64_t wm;
};

static int q7_local_open(weir_ctx *ctx, void *state, void *arg)
{
    struct q7_local *s = state;
    s->c = arg;
    s->slot = slot_size(s->c->bid_max);
    s->wm = INT64_MIN;
    return 0;
}

static void q7_local_close(weir_ctx *ctx, void *state)
{
    struct q7_local *s = state;
    for (uint32_t i = 0; i < s->n; i++)
        free(s->w[i].bids);
    free(s->w);
}

static struct q7_window *q7_window_get(struct q7_local *s, int64_t start)
{
    for (uint32_t i = 0; i < s->n; i++)
        if (s->w[i].start == start)
            return &s->w[i];
    if (s->n == s->cap) {
        uint32_t ncap = s->cap ? s->cap * 2 : 4;
        struct q7_window *w = realloc(s->w, ncap * sizeof *w);
        if (!w)
            return NULL;
        s->w = w;
        s->cap = ncap;
    }
    /* kept sorted by start: windows fire in order */
    uint32_t at = s->n;
    while (at > 0 && s->w[at - 1].start > start)
        at--;
    memmove(&s->w[at + 1], &s->w[at], (s->n - at) * sizeof *s->w);
    s->n++;
    s->w[at] = (struct q7_window){.start = start, .max = INT64_MIN};
    return &s->w[at];
}

static int q7_window_add(struct q7_local *s, struct q7_window *w, const void *payload, uint32_t len)
{
    if (w->n == w->cap) {
        uint32_t ncap = w->cap ? w->cap * 2 : 2;
        unsigned char *b = realloc(w->bids, (size_t)ncap * s->slot);
        if (!b)
            return -ENOMEM;
        w->bids = b;
        w->cap = ncap;
    }
    struct slot *sl = (void *)(w->bids + (size_t)w->n++ * s->slot);
    sl->len = len;
    sl->pad = 0;
    memcpy(sl->data, payload, len);
    return 0;
}

static int q7_local_process(weir_ctx *ctx, void *state, int input, const weir_rec *in,
                            weir_emit *out)
{
    struct q7_local *s = state;
    const struct weir_nexmark_bid *b = weir_nexmark_bid(in);
    if (!b)
        return 0;
    if (in->len > s->c->bid_max) {
        weir_ctx_fail(ctx, "%s: a bid of %" PRIu32 " bytes; slots hold %" PRIu32, weir_ctx_uid(ctx),
                      in->len, s->c->bid_max);
        return -EMSGSIZE;
    }
    int64_t start = weir_window_start(in->ts, 0, s->c->size_ms);
    if (start + s->c->size_ms - 1 <= s->wm)
        return 0; /* its window has fired: late (the sources keep order, so never) */
    struct q7_window *w = q7_window_get(s, start);
    if (!w)
        return -ENOMEM;
    if (b->price < w->max)
        return 0;
    if (b->price > w->max) {
        w->max = b->price;
        w->n = 0;
    }
    return q7_window_add(s, w, in->data, in->len);
}

/* Emits the windows that end at or before wm, oldest first. */
static int q7_local_fire(struct q7_local *s, int64_t wm, weir_emit *out)
{
    uint32_t done = 0;
    int rc = 0;
    for (; done < s->n && rc == 0; done++) {
        struct q7_window *w = &s->w[done];
        int64_t last = w->start + s->c->size_ms - 1;
        if (last > wm)
            break;
        for (uint32_t i = 0; i < w->n && rc == 0; i++) {
            const struct slot *sl = (const void *)(w->bids + (size_t)i * s->slot);
            rc = weir_emit_copy(out, last, sl->data, sl->len);
        }
        free(w->bids);
    }
    if (rc < 0)
        return rc;
    /* s->w is NULL until a subtask's first window (a subtask restored after its input
     * ended never has one): memmove may not see NULL, even for 0 bytes */
    if (s->n > done)
        memmove(s->w, s->w + done, (s->n - done) * sizeof *s->w);
    s->n -= done;
    return 0;
}

static int q7_local_watermark(weir_ctx *ctx, void *state, int64_t wm, weir_emit *out)
{
    struct q7_local *s = state;
    s->wm = wm;
    int rc = q7_local_fire(s, wm, out);
    return rc < 0 ? rc : weir_emit_watermark(out, wm);
}

static int q7_local_end(weir_ctx *ctx, void *state, weir_emit *out)
{
    return q7_local_fire(state, INT64_MAX, out);
}

/* Operator state: split list state, one item per open window (its start, its highest price,
 * how many bids have it, then their slots), so that a restore at another parallelism deals
 * whole windows to the subtasks. */
static int q7_local_snapshot(weir_ctx *ctx, void *state, uint64_t id, struct weir_snapshot_out *o)
{
    struct q7_local *s = state;
    int rc = 0;
    for (uint32_t i = 0; i < s->n && rc == 0; i++) {
        const struct q7_window *w = &s->w[i];
        size_t len = 3 * sizeof(int64_t) + (size_t)w->n * s->slot;
        unsigned char *item = malloc(len);
        if (!item)
            return -ENOMEM;
        int64_t wh[3] = {w->start, w->max, (int64_t)w->n};
        memcpy(item, wh, sizeof wh);
        if (w->n)
            memcpy(item + sizeof wh, w->bids, (size_t)w->n * s->slot);
        rc = weir_snapshot_write_item(o, item, len);
        free(item);
    }
    return rc;
}

/* Merges a window of another subtask into this one's: the higher price wins, equal prices
 * keep the bids of both. */
static int q7_local_merge(struct q7_local *s, const int64_t wh[3], const unsigned char *bids)
{
    struct q7_window *w = q7_window_get(s, wh[0]);
    if (!w)
        return -ENOMEM;
    if (wh[1] < w->max)
        return 0;
    if (wh[1] > w->max) {
        w->max = wh[1];
        w->n = 0;
    }
    for (int64_t k = 0; k < wh[2]; k++) {
        const struct slot *sl = (const void *)(bids + (size_t)k * s->slot);
        int rc = q7_window_add(s, w, sl->data, sl->len);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int q7_local_restore(weir_ctx *ctx, void *state, const struct weir_state_item *items,
                            size_t n)
{
    struct q7_local *s = state;
    for (size_t i = 0; i < n; i++) {
        int64_t wh[3];
        if (items[i].len >= sizeof wh)
            memcpy(wh, items[i].data, sizeof wh);
        if (items[i].len < sizeof wh || wh[2] < 0 ||
            items[i].len != sizeof wh + (size_t)wh[2] * s->slot) {
            weir_ctx_fail(ctx,
                          "%s: a window of subtask %" PRIu32 " is %zu bytes, not one of bid "
                          "slots of %" PRIu32 " bytes (another avg bid size?)",
                          weir_ctx_uid(ctx), items[i].subtask, items[i].len, s->slot);
            return -EINVAL;
        }
        int rc = q7_local_merge(s, wh, (const unsigned char *)items[i].data + sizeof wh);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static const struct weir_operator_ops q7_local_ops = {.kind = "local-max",
                                                      .state_size = sizeof(struct q7_local),
                                                      .open = q7_local_open,
                                                      .process = q7_local_process,
                                                      .watermark = q7_local_watermark,
                                                      .end = q7_local_end,
                                                      .close = q7_local_close,
                                                      .snapshot = q7_local_snapshot,
                                                      .state_mode = WEIR_STATE_SPLIT,
                                                      .restore_items = q7_local_restore};

/* Stage two, keyed by window (its end - 1, the local winners' timestamp): the
 * highest of the local maxima and its bids, emitted at the window's end. */
struct q7_state {
    const struct q7_cfg *c;
    weir_keyed_backend *be;
    weir_value_state *max;
    weir_list_state *bids;
    uint32_t slot;
    struct slot *tmp;
    unsigned char *list_buf;
    uint32_t list_cap;
};

static int q7_open(weir_ctx *ctx, void *state, void *arg)
{
    struct q7_state *s = state;
    s->c = arg;
    s->be = weir_ctx_state(ctx);
    if (!s->be)
        return -EINVAL;
    s->slot = slot_size(s->c->bid_max);
    s->max = weir_value_state_get(s->be, "max", sizeof(int64_t), NULL);
    s->bids = weir_list_state_get(s->be, "bids", s->slot, NULL);
    s->tmp = calloc(1, s->slot);
    return s->max && s->bids && s->tmp ? 0 : -ENOMEM;
}

static void q7_close(weir_ctx *ctx, void *state)
{
    struct q7_state *s = state;
    free(s->tmp);
    free(s->list_buf);
}

static int q7_process(weir_ctx *ctx, void *state, int input, const weir_rec *in, weir_emit *out)
{
    struct q7_state *s = state;
    const struct weir_nexmark_bid *b = weir_nexmark_bid(in);
    if (!b)
        return -EINVAL;
    int rc = to_slot(ctx, in, s->c->bid_max, s->tmp);
    if (rc < 0)
        return rc;
    weir_keyed_backend_set_namespace(s->be, 0);
    const int64_t *max = weir_value_get(s->max);
    if (max && b->price < *max)
        return 0;
    if (max && b->price == *max)
        return weir_list_add(s->bids, s->tmp);
    bool first = !max;
    if ((rc = weir_value_put(s->max, &b->price)) < 0 ||
        (rc = weir_list_update(s->bids, s->tmp, 1)) < 0)
        return rc;
    return first ? weir_timer_register(ctx, WEIR_EVENT_TIME, 0, in->ts) : 0;
}

static int q7_on_timer(weir_ctx *ctx, void *state, enum weir_time_domain d, uint64_t ns, int64_t ts,
                       weir_emit *out)
{
    struct q7_state *s = state;
    weir_keyed_backend_set_namespace(s->be, 0);
    const void *elems;
    uint32_t n;
    int rc = weir_list_get(s->bids, &elems, &n);
    if (rc < 0 || n == 0)
        return rc;
    if (n > s->list_cap) {
        unsigned char *b = realloc(s->list_buf, (size_t)n * s->slot);
        if (!b)
            return -ENOMEM;
        s->list_buf = b;
        s->list_cap = n;
    }
    memcpy(s->list_buf, elems, (size_t)n * s->slot);
    for (uint32_t i = 0; i < n && rc == 0; i++) {
        const struct slot *sl = (const void *)(s->list_buf + (size_t)i * s->slot);
        rc = weir_emit_copy(out, ts, sl->data, sl->len);
    }
    if (rc == 0 && (rc = weir_value_clear(s->max)) == 0)
        rc = weir_list_clear(s->bids);
    return rc;
}

static const struct weir_operator_ops q7_ops = {.kind = "highest-bid",
                                                .state_size = sizeof(struct q7_state),
                                                .open = q7_open,
                                                .process = q7_process,
                                                .close = q7_close};
static const struct weir_keyed_ops q7_kops = {.on_timer = q7_on_timer};

static uint64_t rec_ts_key(const weir_rec *r)
{
    return (uint64_t)r->ts;
}

static weir_stream *build_q7(weir_stream *events, const struct weir_nexmark_query_params *p)
{
    struct q7_cfg *c = malloc(sizeof *c);
    if (!c)
        return NULL;
    *c = (struct q7_cfg){.size_ms = window_ms(p), .bid_max = max_event_size(p, WEIR_NEXMARK_BID)};
    weir_stream *local = own(weir_transform(events, "local-max", &q7_local_ops, c), c);
    /* Stage two reads the same config; the job frees it once, with stage one. */
    return weir_keyed_transform(weir_key_by(local, rec_ts_key), "highest-bid", &q7_ops, &q7_kops,
                                c);
}

const struct weir_nexmark_query nexmark_q7 = {
    .name = "q7",
    .title = "Highest Bid",
    .description =
        "the highest bids of each 10 s window (local then global max per tumbling window)",
    .columns = bid5_columns,
    .build = build_q7,
    .format = format_bid5,
    .origin = origin_ts,
    .updating = NULL,
};
