/*
 * q17: Auction Statistics Report.
 *
 * Nexmark: per auction and day, the number of bids, the number in each of
 * three price bands (below 10,000, below 1,000,000, above), and the minimum,
 * maximum, average and sum of the prices.
 *
 * Here: weir_aggregate with a user aggregate keyed by auction << 20 | day
 * (exact while ids stay below 2^32), one row per bid: Flink's update stream
 * without its retractions; the last row per (auction, day) is the table.
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

struct q17_bid {
    uint64_t event;
    int64_t auction, price, day;
};

struct q17_acc {
    int64_t total, rank1, rank2, rank3, min, max, sum;
    uint64_t last_event; /* the event of the latest update: the row's origin */
};

#define Q17_DAY_BITS 20

static int q17_bids(weir_ctx *ctx, const weir_rec *in, weir_emit *out)
{
    const struct weir_nexmark_bid *b = weir_nexmark_bid(in);
    if (!b)
        return 0;
    struct q17_bid r = {ev(in)->event_number, b->auction, b->price,
                        floor_div(b->date_time, 24 * WEIR_HOUR)};
    return weir_emit_copy(out, in->ts, &r, sizeof r);
}

/* auction << 20 | day (days since 1970-01-01, UTC). */
static uint64_t q17_key(const weir_rec *r)
{
    const struct q17_bid *b = (const void *)r->data;
    return (uint64_t)b->auction << Q17_DAY_BITS |
           ((uint64_t)b->day & ((UINT64_C(1) << Q17_DAY_BITS) - 1));
}

static void q17_init(void *acc)
{
    struct q17_acc *a = acc;
    *a = (struct q17_acc){.min = INT64_MAX, .max = INT64_MIN};
}

static void q17_add(void *acc, const void *in)
{
    struct q17_acc *a = acc;
    const struct q17_bid *b = in;
    a->total++;
    a->rank1 += b->price < 10000;
    a->rank2 += b->price >= 10000 && b->price < 1000000;
    a->rank3 += b->price >= 1000000;
    if (b->price < a->min)
        a->min = b->price;
    if (b->price > a->max)
        a->max = b->price;
    a->sum += b->price;
    a->last_event = b->event;
}

static void q17_result(const void *acc, void *out)
{
    memcpy(out, acc, sizeof(struct q17_acc));
}

static const struct weir_aggregate_fn q17_agg = {.acc_size = sizeof(struct q17_acc),
                                                 .result_size = sizeof(struct q17_acc),
                                                 .init = q17_init,
                                                 .add = q17_add,
                                                 .result = q17_result};

static const char q17_columns[] = "auction,day,total_bids,rank1_bids,rank2_bids,rank3_bids,"
                                  "min_price,max_price,avg_price,sum_price";

static int format_q17(const weir_rec *rec, char *buf, size_t cap)
{
    HEADER(rec, buf, cap, q17_columns);
    const struct weir_keyed_result *r = (const void *)rec->data;
    struct q17_acc a;
    memcpy(&a, r->result, sizeof a);
    time_t day = (time_t)(r->key & ((UINT64_C(1) << Q17_DAY_BITS) - 1)) * 86400;
    struct tm tm;
    gmtime_r(&day, &tm);
    return snprintf(buf, cap,
                    "%" PRIu64 ",%04d-%02d-%02d,%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64
                    ",%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64,
                    r->key >> Q17_DAY_BITS, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, a.total,
                    a.rank1, a.rank2, a.rank3, a.min, a.max, a.total ? a.sum / a.total : 0, a.sum);
}

static enum weir_nexmark_origin origin_q17(const weir_rec *row, int64_t *value)
{
    const struct weir_keyed_result *r = (const void *)row->data;
    struct q17_acc a;
    memcpy(&a, r->result, sizeof a);
    *value = (int64_t)a.last_event;
    return WEIR_NEXMARK_ORIGIN_EVENT;
}

static weir_stream *build_q17(weir_stream *events, const struct weir_nexmark_query_params *p)
{
    weir_stream *b = weir_flat_map(events, "bids", q17_bids);
    return weir_aggregate(weir_key_by(b, q17_key), "auction-day-stats", &q17_agg, NULL);
}

const struct weir_nexmark_query nexmark_q17 = {
    .name = "q17",
    .title = "Auction Statistics Report",
    .description = "per auction and day: bid counts by price band, min/max/avg/sum (unbounded "
                   "keyed aggregate)",
    .columns = q17_columns,
    .build = build_q17,
    .format = format_q17,
    .origin = origin_q17,
    .updating = "auction,day",
};
