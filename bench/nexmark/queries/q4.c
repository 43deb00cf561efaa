/*
 * q4: Average Price for a Category.
 *
 * Nexmark: for each category, the average of the winning prices of its closed
 * auctions. An auction's winning price is its highest bid with dateTime in
 * [auction.dateTime, auction.expires].
 *
 * Here: the winning bid per auction (winning_bids.c) is fixed when the auction
 * expires (an event-time timer, as Beam's WinningBids), then a running average
 * per category. Flink SQL updates both levels on every bid; the final table
 * (the last row per category) is the same, AVG truncated to BIGINT.
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

struct q4_auction {
    uint64_t event;
    int64_t id, category, date_time, expires;
};

struct q4_bid {
    uint64_t event;
    int64_t auction, price, date_time;
};

/* Stage one's row: an auction's winning price, at its expiry. */
struct q4_winner {
    int64_t auction, category, price;
};

static int q4_auctions(weir_ctx *ctx, const weir_rec *in, weir_emit *out)
{
    const struct weir_nexmark_auction *a = weir_nexmark_auction(in);
    if (!a)
        return 0;
    struct q4_auction r = {ev(in)->event_number, a->id, a->category, a->date_time, a->expires};
    return weir_emit_copy(out, in->ts, &r, sizeof r);
}

static int q4_bids(weir_ctx *ctx, const weir_rec *in, weir_emit *out)
{
    const struct weir_nexmark_bid *b = weir_nexmark_bid(in);
    if (!b)
        return 0;
    struct q4_bid r = {ev(in)->event_number, b->auction, b->price, b->date_time};
    return weir_emit_copy(out, in->ts, &r, sizeof r);
}

static uint64_t q4_auction_id(const weir_rec *r)
{
    return (uint64_t)((const struct q4_auction *)(const void *)r->data)->id;
}

static uint64_t q4_bid_auction(const weir_rec *r)
{
    return (uint64_t)((const struct q4_bid *)(const void *)r->data)->auction;
}

static void q4_auction_view(const unsigned char *p, struct wb_auction_view *v)
{
    const struct q4_auction *a = (const void *)p;
    v->date_time = a->date_time;
    v->expires = a->expires;
}

static void q4_bid_view(const unsigned char *p, struct wb_bid_view *v)
{
    const struct q4_bid *b = (const void *)p;
    v->price = b->price;
    v->date_time = b->date_time;
    v->event = b->event;
}

static int q4_emit(const struct slot *a, const struct slot *b, int64_t ts, weir_emit *out)
{
    const struct q4_auction *av = (const void *)a->data;
    const struct q4_bid *bv = (const void *)b->data;
    struct q4_winner w = {av->id, av->category, bv->price};
    return weir_emit_copy(out, ts, &w, sizeof w);
}

static uint64_t q4_winner_category(const weir_rec *r)
{
    return (uint64_t)((const struct q4_winner *)(const void *)r->data)->category;
}

/* AVG over BIGINT is a BIGINT in Flink: sum / count, truncated. */
struct q4_acc {
    int64_t sum, count;
};

static void q4_init(void *acc)
{
    memset(acc, 0, sizeof(struct q4_acc));
}

static void q4_add(void *acc, const void *in)
{
    struct q4_acc *a = acc;
    const struct q4_winner *w = in;
    a->sum += w->price;
    a->count++;
}

static void q4_merge(void *acc, const void *other)
{
    struct q4_acc *a = acc;
    const struct q4_acc *o = other;
    a->sum += o->sum;
    a->count += o->count;
}

static void q4_result(const void *acc, void *out)
{
    const struct q4_acc *a = acc;
    int64_t avg = a->count ? a->sum / a->count : 0;
    memcpy(out, &avg, sizeof avg);
}

static const struct weir_aggregate_fn q4_avg = {.acc_size = sizeof(struct q4_acc),
                                                .result_size = sizeof(int64_t),
                                                .init = q4_init,
                                                .add = q4_add,
                                                .merge = q4_merge,
                                                .result = q4_result};

static const char q4_columns[] = "id,final";

static int format_q4(const weir_rec *rec, char *buf, size_t cap)
{
    HEADER(rec, buf, cap, q4_columns);
    const struct weir_keyed_result *r = (const void *)rec->data;
    return snprintf(buf, cap, "%" PRIu64 ",%" PRId64, r->key, weir_result_i64(r->result));
}

static weir_stream *build_q4(weir_stream *events, const struct weir_nexmark_query_params *p)
{
    static const struct wb_cfg cfg = {.a_max = sizeof(struct q4_auction),
                                      .b_max = sizeof(struct q4_bid),
                                      .auction_view = q4_auction_view,
                                      .bid_view = q4_bid_view,
                                      .emit = q4_emit};
    weir_stream *auctions = weir_flat_map(events, "auctions", q4_auctions);
    weir_stream *bids = weir_flat_map(events, "bids", q4_bids);
    weir_stream *winners =
        nexmark_winning_bids(auctions, q4_auction_id, bids, q4_bid_auction, &cfg);
    return weir_aggregate(weir_key_by(winners, q4_winner_category), "category-average", &q4_avg,
                          NULL);
}

const struct weir_nexmark_query nexmark_q4 = {
    .name = "q4",
    .title = "Average Price for a Category",
    .description =
        "average winning price per category (winning bid at expiry by event-time timer, then a "
        "running average)",
    .columns = q4_columns,
    .build = build_q4,
    .format = format_q4,
    .origin = origin_ts,
    .updating = "id",
};
