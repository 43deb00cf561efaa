/*
 * q19: Auction TOP-10 Price.
 *
 * Nexmark: per auction, the 10 bids with the highest price, with their rank.
 *
 * Here: unbounded top-N in keyed state: each bid that enters re-emits the
 * rows whose rank changed (ties: the earlier arrival ranks higher); the last
 * row per (auction, rank_number) is Flink's table.
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

#define Q19_N 10

struct q19_row {
    uint64_t event; /* the bid whose arrival changed the ranking */
    uint32_t rank, len;
    unsigned char bid[]; /* the bid event at this rank */
};

/* Per auction: its best bids (at most 10 slots) in rank order. */
struct q19_state {
    const uint32_t *bid_max;
    weir_keyed_backend *be;
    weir_list_state *top;
    uint32_t slot;
    unsigned char *buf; /* Q19_N + 1 slots */
};

static int q19_open(weir_ctx *ctx, void *state, void *arg)
{
    struct q19_state *s = state;
    s->bid_max = arg;
    s->be = weir_ctx_state(ctx);
    if (!s->be)
        return -EINVAL;
    s->slot = slot_size(*s->bid_max);
    s->top = weir_list_state_get(s->be, "top", s->slot, NULL);
    s->buf = calloc(Q19_N + 1, s->slot);
    return s->top && s->buf ? 0 : -ENOMEM;
}

static void q19_close(weir_ctx *ctx, void *state)
{
    free(((struct q19_state *)state)->buf);
}

static int64_t slot_bid_price(const unsigned char *slot)
{
    const struct slot *sl = (const void *)slot;
    const struct weir_nexmark_event *e = (const void *)sl->data;
    return ((const struct weir_nexmark_bid *)(const void *)(e + 1))->price;
}

static int q19_process(weir_ctx *ctx, void *state, int input, const weir_rec *in, weir_emit *out)
{
    struct q19_state *s = state;
    const struct weir_nexmark_bid *b = weir_nexmark_bid(in);
    if (!b)
        return -EINVAL;
    if (in->len > *s->bid_max) {
        weir_ctx_fail(ctx, "%s: a bid of %" PRIu32 " bytes; slots hold %" PRIu32, weir_ctx_uid(ctx),
                      in->len, *s->bid_max);
        return -EMSGSIZE;
    }
    weir_keyed_backend_set_namespace(s->be, 0);
    const void *elems;
    uint32_t n;
    int rc = weir_list_get(s->top, &elems, &n);
    if (rc < 0)
        return rc;
    if (n > Q19_N)
        n = Q19_N;
    /* rank: after every bid with a price >= this one (earlier arrivals win ties) */
    uint32_t at = 0;
    while (at < n &&
           slot_bid_price((const unsigned char *)elems + (size_t)at * s->slot) >= b->price)
        at++;
    if (at == Q19_N)
        return 0;
    if (n) { /* an absent list is NULL: memcpy may not see it, even for 0 bytes */
        memcpy(s->buf, elems, (size_t)at * s->slot);
        memcpy(s->buf + (size_t)(at + 1) * s->slot,
               (const unsigned char *)elems + (size_t)at * s->slot, (size_t)(n - at) * s->slot);
    }
    struct slot *sl = (void *)(s->buf + (size_t)at * s->slot);
    memset(sl, 0, s->slot);
    sl->len = in->len;
    memcpy(sl->data, in->data, in->len);
    if (n < Q19_N)
        n++;
    if ((rc = weir_list_update(s->top, s->buf, n)) < 0)
        return rc;
    /* Every rank from the new bid's down changed. */
    uint64_t event = ev(in)->event_number;
    for (uint32_t i = at; i < n && rc == 0; i++) {
        const struct slot *x = (const void *)(s->buf + (size_t)i * s->slot);
        struct q19_row *r = weir_emit_reserve(out, (uint32_t)sizeof *r + x->len);
        if (!r)
            return -EMSGSIZE;
        r->event = event;
        r->rank = i + 1;
        r->len = x->len;
        memcpy(r->bid, x->data, x->len);
        rc = weir_emit_commit(out, in->ts);
    }
    return rc;
}

static const struct weir_operator_ops q19_ops = {.kind = "top-10",
                                                 .state_size = sizeof(struct q19_state),
                                                 .open = q19_open,
                                                 .process = q19_process,
                                                 .close = q19_close};

static const char q19_columns[] = "auction,bidder,price,channel,url,dateTime,extra,rank_number";

static int format_q19(const weir_rec *rec, char *buf, size_t cap)
{
    HEADER(rec, buf, cap, q19_columns);
    const struct q19_row *r = (const void *)rec->data;
    int n = weir_nexmark_event_csv((const void *)r->bid, buf, cap);
    if (n < 0)
        return n;
    size_t used = (size_t)n < cap ? (size_t)n : cap;
    int m = snprintf(buf + used, cap - used, ",%" PRIu32, r->rank);
    if ((size_t)n >= cap) /* the bid did not fit: say how long the whole row is */
        m = snprintf(NULL, 0, ",%" PRIu32, r->rank);
    return m < 0 ? m : n + m;
}

static uint64_t bid_auction_key(const weir_rec *r)
{
    return (uint64_t)weir_nexmark_bid(r)->auction;
}

static weir_stream *build_q19(weir_stream *events, const struct weir_nexmark_query_params *p)
{
    uint32_t *bid_max = malloc(sizeof *bid_max);
    if (!bid_max)
        return NULL;
    *bid_max = max_event_size(p, WEIR_NEXMARK_BID);
    weir_stream *bids = weir_filter(events, "bids", is_bid);
    return own(weir_keyed_transform(weir_key_by(bids, bid_auction_key), "top-10", &q19_ops,
                                    &no_timers, bid_max),
               bid_max);
}

const struct weir_nexmark_query nexmark_q19 = {
    .name = "q19",
    .title = "Auction TOP-10 Price",
    .description = "the 10 highest bids per auction (unbounded top-N)",
    .columns = q19_columns,
    .build = build_q19,
    .format = format_q19,
    .origin = origin_row_event,
    .updating = "auction,rank_number",
};
