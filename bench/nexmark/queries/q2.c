/*
 * q2: Selection.
 *
 * Nexmark: the bids of a fixed set of auctions, here every 123rd auction id.
 * Flink SQL: SELECT auction, price FROM bid WHERE MOD(auction, 123) = 0.
 *
 * Here: a flat_map that keeps those bids as (auction, price) rows (as Flink).
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

struct q2_row {
    uint64_t event;
    int64_t auction, price;
};

static int q2_select(weir_ctx *ctx, const weir_rec *in, weir_emit *out)
{
    const struct weir_nexmark_bid *b = weir_nexmark_bid(in);
    if (!b || b->auction % 123 != 0)
        return 0;
    struct q2_row r = {ev(in)->event_number, b->auction, b->price};
    return weir_emit_copy(out, in->ts, &r, sizeof r);
}

static const char q2_columns[] = "auction,price";

static int format_q2(const weir_rec *rec, char *buf, size_t cap)
{
    HEADER(rec, buf, cap, q2_columns);
    const struct q2_row *r = (const void *)rec->data;
    return snprintf(buf, cap, "%" PRId64 ",%" PRId64, r->auction, r->price);
}

static weir_stream *build_q2(weir_stream *events, const struct weir_nexmark_query_params *p)
{
    return weir_flat_map(events, "selection", q2_select);
}

const struct weir_nexmark_query nexmark_q2 = {
    .name = "q2",
    .title = "Selection",
    .description = "bids of every 123rd auction (filter)",
    .columns = q2_columns,
    .build = build_q2,
    .format = format_q2,
    .origin = origin_row_event,
    .updating = NULL,
};
