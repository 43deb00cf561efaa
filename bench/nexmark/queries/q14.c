/*
 * q14: Calculation.
 *
 * Nexmark: bids priced between 1M and 50M euros (0.908 * price), each with a
 * bidTimeType from the hour of its dateTime (8-18 "dayTime", 20-6 "nightTime",
 * else "otherTime") and the number of 'c' characters in its extra field (a
 * user-defined function in Flink).
 *
 * Here: a flat_map that filters and computes, HOUR() in UTC (as Flink).
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

enum { Q14_DAY = 0, Q14_NIGHT = 1, Q14_OTHER = 2 };

struct q14_row {
    uint64_t event;
    int64_t auction, bidder, price_milli, date_time, c_counts;
    uint32_t time_type, extra_len;
    char extra[];
};

static int q14_map(weir_ctx *ctx, const weir_rec *in, weir_emit *out)
{
    const struct weir_nexmark_bid *b = weir_nexmark_bid(in);
    if (!b)
        return 0;
    int64_t milli = b->price * 908; /* 0.908 * price, exactly, in thousandths */
    if (!(milli > INT64_C(1000000) * 1000 && milli < INT64_C(50000000) * 1000))
        return 0;
    const struct weir_nexmark_event *e = ev(in);
    const char *extra = weir_nexmark_extra(e);
    struct q14_row *r = weir_emit_reserve(out, (uint32_t)sizeof *r + e->extra_len + 1);
    if (!r)
        return -EMSGSIZE;
    int64_t hour = floor_mod(b->date_time, 24 * WEIR_HOUR) / WEIR_HOUR; /* HOUR() in UTC */
    r->event = e->event_number;
    r->auction = b->auction;
    r->bidder = b->bidder;
    r->price_milli = milli;
    r->date_time = b->date_time;
    r->time_type = hour >= 8 && hour <= 18   ? Q14_DAY
                   : hour <= 6 || hour >= 20 ? Q14_NIGHT
                                             : Q14_OTHER;
    int64_t c = 0;
    for (uint32_t i = 0; i < e->extra_len; i++)
        c += extra[i] == 'c';
    r->c_counts = c;
    r->extra_len = e->extra_len;
    memcpy(r->extra, extra, e->extra_len + 1);
    return weir_emit_commit(out, in->ts);
}

static const char q14_columns[] = "auction,bidder,price,bidTimeType,dateTime,extra,c_counts";

static int format_q14(const weir_rec *rec, char *buf, size_t cap)
{
    HEADER(rec, buf, cap, q14_columns);
    static const char *const types[] = {"dayTime", "nightTime", "otherTime"};
    const struct q14_row *r = (const void *)rec->data;
    char price[32];
    format_milli(price, sizeof price, r->price_milli);
    return snprintf(buf, cap, "%" PRId64 ",%" PRId64 ",%s,%s,%" PRId64 ",%.*s,%" PRId64, r->auction,
                    r->bidder, price, types[r->time_type % 3], r->date_time, (int)r->extra_len,
                    r->extra, r->c_counts);
}

static weir_stream *build_q14(weir_stream *events, const struct weir_nexmark_query_params *p)
{
    return weir_flat_map(events, "calculation", q14_map);
}

const struct weir_nexmark_query nexmark_q14 = {
    .name = "q14",
    .title = "Calculation",
    .description =
        "bids priced 1M-50M euros with day/night type and the count of 'c' in extra (filter, map)",
    .columns = q14_columns,
    .build = build_q14,
    .format = format_q14,
    .origin = origin_row_event,
    .updating = NULL,
};
