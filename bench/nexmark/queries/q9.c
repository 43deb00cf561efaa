/*
 * q9: Winning Bids.
 *
 * Nexmark: each closed auction with its winning bid: the highest bid with
 * dateTime in [auction.dateTime, auction.expires].
 *
 * Here: the winning bid per auction as in q4 (winning_bids.c), emitted once
 * when the auction expires, with the whole auction and bid; ties on price go
 * to the earlier dateTime, then the lower event number (Flink's ROW_NUMBER
 * leaves the last tie to arrival order). Flink's result is updating; this is
 * its final content.
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

/* The auction event and its winning bid event, each padded to 8 bytes. */
struct q9_row {
    uint32_t auction_len, bid_len;
    unsigned char data[];
};

static void q9_auction_view(const unsigned char *p, struct wb_auction_view *v)
{
    const struct weir_nexmark_auction *a = (const void *)(p + sizeof(struct weir_nexmark_event));
    v->date_time = a->date_time;
    v->expires = a->expires;
}

static void q9_bid_view(const unsigned char *p, struct wb_bid_view *v)
{
    const struct weir_nexmark_event *e = (const void *)p;
    const struct weir_nexmark_bid *b = (const void *)(e + 1);
    v->price = b->price;
    v->date_time = b->date_time;
    v->event = e->event_number;
}

static int q9_emit(const struct slot *a, const struct slot *b, int64_t ts, weir_emit *out)
{
    uint32_t apad = (a->len + 7u) & ~7u;
    struct q9_row *r = weir_emit_reserve(out, (uint32_t)sizeof *r + apad + b->len);
    if (!r)
        return -EMSGSIZE;
    r->auction_len = a->len;
    r->bid_len = b->len;
    memcpy(r->data, a->data, a->len);
    memcpy(r->data + apad, b->data, b->len);
    return weir_emit_commit(out, ts);
}

static const char q9_columns[] =
    "id,itemName,description,initialBid,reserve,dateTime,expires,seller,category,extra,"
    "auction,bidder,price,bid_dateTime,bid_extra";

static int format_q9(const weir_rec *rec, char *buf, size_t cap)
{
    HEADER(rec, buf, cap, q9_columns);
    const struct q9_row *r = (const void *)rec->data;
    const struct weir_nexmark_event *ae = (const void *)r->data;
    const struct weir_nexmark_event *be = (const void *)(r->data + ((r->auction_len + 7u) & ~7u));
    const struct weir_nexmark_auction *a = (const void *)(ae + 1);
    const struct weir_nexmark_bid *b = (const void *)(be + 1);
    return snprintf(buf, cap,
                    "%" PRId64 ",%s,%s,%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64
                    ",%" PRId64 ",%.*s,%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64 ",%.*s",
                    a->id, a->item_name, a->description, a->initial_bid, a->reserve, a->date_time,
                    a->expires, a->seller, a->category, (int)ae->extra_len, weir_nexmark_extra(ae),
                    b->auction, b->bidder, b->price, b->date_time, (int)be->extra_len,
                    weir_nexmark_extra(be));
}

static weir_stream *build_q9(weir_stream *events, const struct weir_nexmark_query_params *p)
{
    struct wb_cfg cfg = {.a_max = max_event_size(p, WEIR_NEXMARK_AUCTION),
                         .b_max = max_event_size(p, WEIR_NEXMARK_BID),
                         .auction_view = q9_auction_view,
                         .bid_view = q9_bid_view,
                         .emit = q9_emit};
    weir_stream *auctions = weir_filter(events, "auctions", is_auction);
    weir_stream *bids = weir_filter(events, "bids", is_bid);
    return nexmark_winning_bids(auctions, raw_auction_id, bids, raw_bid_auction, &cfg);
}

const struct weir_nexmark_query nexmark_q9 = {
    .name = "q9",
    .title = "Winning Bids",
    .description =
        "each auction with its winning bid, at expiry (join in keyed state, event-time timer)",
    .columns = q9_columns,
    .build = build_q9,
    .format = format_q9,
    .origin = origin_ts,
    .updating = NULL,
};
