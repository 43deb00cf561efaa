/*
 * Winning bids, shared by q4 and q9: per auction, the best bid with dateTime
 * in [auction.dateTime, auction.expires], emitted when the auction expires.
 *
 * Per auction id (the key), in keyed state:
 *   "auction"  the auction, once it arrived (a slot)
 *   "best"     the best bid so far (a slot)
 *   "pending"  bids that arrived before their auction (slots)
 * An auction registers an event-time timer at its expiry: the best bid is
 * emitted and the key's state cleared. A bid without its auction waits in
 * "pending" with a timer at its own dateTime: an auction that could still
 * join it has a dateTime <= the bid's, so once the watermark has passed that
 * no such auction can come (it would be late) and the bid is dropped.
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

struct wb_state {
    const struct wb_cfg *c;
    weir_keyed_backend *be;
    weir_value_state *auction, *best;
    weir_list_state *pending;
    uint32_t a_slot, b_slot;
    struct slot *a_buf, *best_buf, *tmp;
    unsigned char *list_buf;
    uint32_t list_cap; /* slots list_buf holds */
};

static int wb_open(weir_ctx *ctx, void *state, void *arg)
{
    struct wb_state *s = state;
    s->c = arg;
    s->be = weir_ctx_state(ctx);
    if (!s->be)
        return -EINVAL;
    s->a_slot = slot_size(s->c->a_max);
    s->b_slot = slot_size(s->c->b_max);
    s->auction = weir_value_state_get(s->be, "auction", s->a_slot, NULL);
    s->best = weir_value_state_get(s->be, "best", s->b_slot, NULL);
    s->pending = weir_list_state_get(s->be, "pending", s->b_slot, NULL);
    s->a_buf = calloc(1, s->a_slot);
    s->best_buf = calloc(1, s->b_slot);
    s->tmp = calloc(1, s->b_slot);
    if (!s->auction || !s->best || !s->pending || !s->a_buf || !s->best_buf || !s->tmp)
        return -ENOMEM;
    return 0;
}

static void wb_close(weir_ctx *ctx, void *state)
{
    struct wb_state *s = state;
    free(s->a_buf);
    free(s->best_buf);
    free(s->tmp);
    free(s->list_buf);
}

/* Copies the pending list out of the backend (its pointer dies on the next call). */
static int wb_load_pending(struct wb_state *s, uint32_t *n)
{
    const void *elems;
    int rc = weir_list_get(s->pending, &elems, n);
    if (rc < 0 || *n == 0)
        return rc;
    if (*n > s->list_cap) {
        unsigned char *b = realloc(s->list_buf, (size_t)*n * s->b_slot);
        if (!b)
            return -ENOMEM;
        s->list_buf = b;
        s->list_cap = *n;
    }
    memcpy(s->list_buf, elems, (size_t)*n * s->b_slot);
    return 0;
}

static bool wb_better(const struct wb_bid_view *b, const struct wb_bid_view *best)
{
    if (b->price != best->price)
        return b->price > best->price;
    if (b->date_time != best->date_time)
        return b->date_time < best->date_time;
    return b->event < best->event;
}

/* Offers bid slot b to the auction in s->a_buf; the best bid is in state. */
static int wb_offer(struct wb_state *s, const struct slot *b)
{
    struct wb_auction_view a;
    struct wb_bid_view v, best;
    s->c->auction_view(s->a_buf->data, &a);
    s->c->bid_view(b->data, &v);
    if (v.date_time < a.date_time || v.date_time > a.expires)
        return 0;
    const struct slot *cur = weir_value_get(s->best);
    if (cur) {
        s->c->bid_view(cur->data, &best);
        if (!wb_better(&v, &best))
            return 0;
    }
    return weir_value_put(s->best, b);
}

static int wb_process(weir_ctx *ctx, void *state, int input, const weir_rec *in, weir_emit *out)
{
    struct wb_state *s = state;
    weir_keyed_backend_set_namespace(s->be, 0);
    int rc;
    if (input == 0) {
        if ((rc = to_slot(ctx, in, s->c->a_max, s->a_buf)) < 0)
            return rc;
        if ((rc = weir_value_put(s->auction, s->a_buf)) < 0)
            return rc;
        struct wb_auction_view a;
        s->c->auction_view(s->a_buf->data, &a);
        if ((rc = weir_timer_register(ctx, WEIR_EVENT_TIME, 0, a.expires)) < 0)
            return rc;
        uint32_t n;
        if ((rc = wb_load_pending(s, &n)) < 0 || n == 0)
            return rc;
        if ((rc = weir_list_clear(s->pending)) < 0)
            return rc;
        for (uint32_t i = 0; i < n && rc == 0; i++)
            rc = wb_offer(s,
                          (const struct slot *)(const void *)(s->list_buf + (size_t)i * s->b_slot));
        return rc;
    }
    if ((rc = to_slot(ctx, in, s->c->b_max, s->tmp)) < 0)
        return rc;
    const struct slot *a = weir_value_get(s->auction);
    if (a) {
        memcpy(s->a_buf, a, sizeof *a + a->len);
        return wb_offer(s, s->tmp);
    }
    if ((rc = weir_list_add(s->pending, s->tmp)) < 0)
        return rc;
    return weir_timer_register(ctx, WEIR_EVENT_TIME, 0, in->ts);
}

static int wb_on_timer(weir_ctx *ctx, void *state, enum weir_time_domain d, uint64_t ns, int64_t ts,
                       weir_emit *out)
{
    struct wb_state *s = state;
    weir_keyed_backend_set_namespace(s->be, 0);
    int rc;
    const struct slot *a = weir_value_get(s->auction);
    if (a) {
        memcpy(s->a_buf, a, sizeof *a + a->len);
        struct wb_auction_view av;
        s->c->auction_view(s->a_buf->data, &av);
        if (ts < av.expires)
            return 0; /* a pending bid's timer; the auction's arrival already took it */
        const struct slot *b = weir_value_get(s->best);
        if (b) {
            memcpy(s->best_buf, b, sizeof *b + b->len);
            if ((rc = s->c->emit(s->a_buf, s->best_buf, ts, out)) < 0)
                return rc;
        }
        if ((rc = weir_value_clear(s->auction)) < 0 || (rc = weir_value_clear(s->best)) < 0)
            return rc;
        return weir_list_clear(s->pending);
    }
    /* No auction: drop the pending bids that can no longer join. */
    uint32_t n;
    if ((rc = wb_load_pending(s, &n)) < 0 || n == 0)
        return rc;
    uint32_t keep = 0;
    for (uint32_t i = 0; i < n; i++) {
        const struct slot *b = (const void *)(s->list_buf + (size_t)i * s->b_slot);
        struct wb_bid_view v;
        s->c->bid_view(b->data, &v);
        if (v.date_time > ts)
            memmove(s->list_buf + (size_t)keep++ * s->b_slot, b, s->b_slot);
    }
    if (keep == n)
        return 0;
    return keep ? weir_list_update(s->pending, s->list_buf, keep) : weir_list_clear(s->pending);
}

static const struct weir_operator_ops wb_ops = {.kind = "winning-bids",
                                                .state_size = sizeof(struct wb_state),
                                                .open = wb_open,
                                                .process = wb_process,
                                                .close = wb_close};
static const struct weir_keyed_ops wb_kops = {.on_timer = wb_on_timer};

weir_stream *nexmark_winning_bids(weir_stream *auctions, weir_key_fn akey, weir_stream *bids,
                                  weir_key_fn bkey, const struct wb_cfg *tmpl)
{
    struct wb_cfg *c = malloc(sizeof *c);
    if (!c)
        return NULL;
    *c = *tmpl;
    return own(weir_keyed_connect(weir_key_by(auctions, akey), weir_key_by(bids, bkey),
                                  "winning-bids", &wb_ops, &wb_kops, c),
               c);
}
