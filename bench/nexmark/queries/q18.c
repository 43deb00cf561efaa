/*
 * q18: Find Last Bid.
 *
 * Nexmark: the last bid (by dateTime) of each bidder on each auction.
 *
 * Here: weir_dedup keep-last keyed by bidder << 32 ^ auction (exact while ids
 * stay below 2^32): Flink's rowtime deduplication as an upsert stream.
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

static uint64_t q18_key(const weir_rec *r)
{
    const struct weir_nexmark_bid *b = weir_nexmark_bid(r);
    return (uint64_t)b->bidder << 32 ^ (uint64_t)b->auction;
}

static weir_stream *build_q18(weir_stream *events, const struct weir_nexmark_query_params *p)
{
    struct weir_dedup_opts o = {.keep = WEIR_DEDUP_KEEP_LAST};
    return weir_dedup(weir_key_by(weir_filter(events, "bids", is_bid), q18_key), "last-bid", &o);
}

const struct weir_nexmark_query nexmark_q18 = {
    .name = "q18",
    .title = "Find Last Bid",
    .description = "the latest bid per bidder and auction (dedup keep-last)",
    .columns = bid7_columns,
    .build = build_q18,
    .format = format_bid7,
    .origin = origin_event_header,
    .updating = "auction,bidder",
};
