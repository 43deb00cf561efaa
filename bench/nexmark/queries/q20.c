/*
 * q20: Expand Bid with Auction.
 *
 * Nexmark: every bid joined with its auction's fields, for auctions of
 * category 10.
 *
 * Here: bids and auctions keyed by auction id, an incremental join: an
 * auction of another category is remembered as a marker so that its bids are
 * dropped at once instead of kept forever, as Flink's join (which filters
 * before the join) keeps them. Same rows.
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

/* The bid event and its auction event, each padded to 8 bytes. */
struct q20_row {
    uint64_t event;
    uint32_t bid_len, auction_len;
    unsigned char data[];
};

/* Per auction id: the auction when its category is 10, a marker when it is
 * not, and the bids that came before it. */
struct q20_state {
    const struct wb_cfg *c; /* a_max, b_max */
    weir_keyed_backend *be;
    weir_value_state *auction, *other;
    weir_list_state *pending;
    uint32_t a_slot, b_slot;
    struct slot *a_buf, *tmp;
    unsigned char *list_buf;
    uint32_t list_cap;
};

static int q20_open(weir_ctx *ctx, void *state, void *arg)
{
    struct q20_state *s = state;
    s->c = arg;
    s->be = weir_ctx_state(ctx);
    if (!s->be)
        return -EINVAL;
    s->a_slot = slot_size(s->c->a_max);
    s->b_slot = slot_size(s->c->b_max);
    s->auction = weir_value_state_get(s->be, "auction", s->a_slot, NULL);
    s->other = weir_value_state_get(s->be, "other-category", sizeof(int64_t), NULL);
    s->pending = weir_list_state_get(s->be, "pending", s->b_slot, NULL);
    s->a_buf = calloc(1, s->a_slot);
    s->tmp = calloc(1, s->b_slot);
    return s->auction && s->other && s->pending && s->a_buf && s->tmp ? 0 : -ENOMEM;
}

static void q20_close(weir_ctx *ctx, void *state)
{
    struct q20_state *s = state;
    free(s->a_buf);
    free(s->tmp);
    free(s->list_buf);
}

static int q20_emit(const struct slot *bid, const struct slot *auction, uint64_t event, int64_t ts,
                    weir_emit *out)
{
    uint32_t bpad = (bid->len + 7u) & ~7u;
    struct q20_row *r = weir_emit_reserve(out, (uint32_t)sizeof *r + bpad + auction->len);
    if (!r)
        return -EMSGSIZE;
    r->event = event;
    r->bid_len = bid->len;
    r->auction_len = auction->len;
    memcpy(r->data, bid->data, bid->len);
    memcpy(r->data + bpad, auction->data, auction->len);
    return weir_emit_commit(out, ts);
}

static int q20_process(weir_ctx *ctx, void *state, int input, const weir_rec *in, weir_emit *out)
{
    struct q20_state *s = state;
    weir_keyed_backend_set_namespace(s->be, 0);
    int rc;
    if (input == 0) {
        const struct weir_nexmark_auction *a = weir_nexmark_auction(in);
        bool wanted = a->category == 10;
        if (!wanted) {
            if ((rc = weir_value_put(s->other, &(int64_t){1})) < 0)
                return rc;
        } else {
            if ((rc = to_slot(ctx, in, s->c->a_max, s->a_buf)) < 0 ||
                (rc = weir_value_put(s->auction, s->a_buf)) < 0)
                return rc;
        }
        const void *elems;
        uint32_t n;
        if ((rc = weir_list_get(s->pending, &elems, &n)) < 0 || n == 0)
            return rc;
        if (n > s->list_cap) {
            unsigned char *b = realloc(s->list_buf, (size_t)n * s->b_slot);
            if (!b)
                return -ENOMEM;
            s->list_buf = b;
            s->list_cap = n;
        }
        memcpy(s->list_buf, elems, (size_t)n * s->b_slot);
        if ((rc = weir_list_clear(s->pending)) < 0 || !wanted)
            return rc;
        uint64_t event = ev(in)->event_number;
        for (uint32_t i = 0; i < n && rc == 0; i++)
            rc = q20_emit((const void *)(s->list_buf + (size_t)i * s->b_slot), s->a_buf, event,
                          in->ts, out);
        return rc;
    }
    if ((rc = to_slot(ctx, in, s->c->b_max, s->tmp)) < 0)
        return rc;
    const struct slot *a = weir_value_get(s->auction);
    if (a) {
        memcpy(s->a_buf, a, sizeof *a + a->len);
        return q20_emit(s->tmp, s->a_buf, ev(in)->event_number, in->ts, out);
    }
    if (weir_value_get(s->other))
        return 0;
    return weir_list_add(s->pending, s->tmp);
}

static const struct weir_operator_ops q20_ops = {.kind = "expand-bid",
                                                 .state_size = sizeof(struct q20_state),
                                                 .open = q20_open,
                                                 .process = q20_process,
                                                 .close = q20_close};

static const char q20_columns[] =
    "auction,bidder,price,channel,url,bid_dateTime,bid_extra,itemName,description,initialBid,"
    "reserve,auction_dateTime,expires,seller,category,auction_extra";

static int format_q20(const weir_rec *rec, char *buf, size_t cap)
{
    HEADER(rec, buf, cap, q20_columns);
    const struct q20_row *r = (const void *)rec->data;
    const struct weir_nexmark_event *be = (const void *)r->data;
    const struct weir_nexmark_event *ae = (const void *)(r->data + ((r->bid_len + 7u) & ~7u));
    const struct weir_nexmark_bid *b = (const void *)(be + 1);
    const struct weir_nexmark_auction *a = (const void *)(ae + 1);
    return snprintf(buf, cap,
                    "%" PRId64 ",%" PRId64 ",%" PRId64 ",%s,%s,%" PRId64 ",%.*s,%s,%s,%" PRId64
                    ",%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64 ",%.*s",
                    b->auction, b->bidder, b->price, b->channel, b->url, b->date_time,
                    (int)be->extra_len, weir_nexmark_extra(be), a->item_name, a->description,
                    a->initial_bid, a->reserve, a->date_time, a->expires, a->seller, a->category,
                    (int)ae->extra_len, weir_nexmark_extra(ae));
}

static weir_stream *build_q20(weir_stream *events, const struct weir_nexmark_query_params *p)
{
    struct wb_cfg *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->a_max = max_event_size(p, WEIR_NEXMARK_AUCTION);
    c->b_max = max_event_size(p, WEIR_NEXMARK_BID);
    weir_stream *auctions = weir_filter(events, "auctions", is_auction);
    weir_stream *bids = weir_filter(events, "bids", is_bid);
    return own(weir_keyed_connect(weir_key_by(auctions, raw_auction_id),
                                  weir_key_by(bids, raw_bid_auction), "expand-bid", &q20_ops,
                                  &no_timers, c),
               c);
}

const struct weir_nexmark_query nexmark_q20 = {
    .name = "q20",
    .title = "Expand Bid with Auction",
    .description = "bids with their auction, for category-10 auctions (incremental join)",
    .columns = q20_columns,
    .build = build_q20,
    .format = format_q20,
    .origin = origin_row_event,
    .updating = NULL,
};
