/*
 * q1: Currency Conversion.
 *
 * Nexmark: every bid with its price turned from dollars into euros (times
 * 0.908). Flink SQL: SELECT auction, bidder, 0.908 * price AS price, dateTime,
 * extra FROM bid.
 *
 * Here: a flat_map from bid to a row with price * 908 in thousandths, printed
 * as the exact DECIMAL(23, 3) Flink prints (as Flink).
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

struct q1_row {
    uint64_t event;
    int64_t auction, bidder;
    int64_t price_milli; /* price * 0.908 in thousandths */
    int64_t date_time;
    uint32_t extra_len;
    uint32_t pad;
    char extra[]; /* extra_len bytes and a NUL */
};

static int q1_map(weir_ctx *ctx, const weir_rec *in, weir_emit *out)
{
    const struct weir_nexmark_bid *b = weir_nexmark_bid(in);
    if (!b)
        return 0;
    const struct weir_nexmark_event *e = ev(in);
    struct q1_row *r = weir_emit_reserve(out, (uint32_t)sizeof *r + e->extra_len + 1);
    if (!r)
        return -EMSGSIZE;
    r->event = e->event_number;
    r->auction = b->auction;
    r->bidder = b->bidder;
    r->price_milli = b->price * 908;
    r->date_time = b->date_time;
    r->extra_len = e->extra_len;
    r->pad = 0;
    memcpy(r->extra, weir_nexmark_extra(e), e->extra_len + 1);
    return weir_emit_commit(out, in->ts);
}

static const char q1_columns[] = "auction,bidder,price,dateTime,extra";

static int format_q1(const weir_rec *rec, char *buf, size_t cap)
{
    HEADER(rec, buf, cap, q1_columns);
    const struct q1_row *r = (const void *)rec->data;
    char price[32];
    format_milli(price, sizeof price, r->price_milli);
    return snprintf(buf, cap, "%" PRId64 ",%" PRId64 ",%s,%" PRId64 ",%.*s", r->auction, r->bidder,
                    price, r->date_time, (int)r->extra_len, r->extra);
}

static weir_stream *build_q1(weir_stream *events, const struct weir_nexmark_query_params *p)
{
    return weir_flat_map(events, "currency-conversion", q1_map);
}

const struct weir_nexmark_query nexmark_q1 = {
    .name = "q1",
    .title = "Currency Conversion",
    .description = "every bid with its price in euros (map)",
    .columns = q1_columns,
    .build = build_q1,
    .format = format_q1,
    .origin = origin_row_event,
    .updating = NULL,
};
