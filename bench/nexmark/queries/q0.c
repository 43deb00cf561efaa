/*
 * q0: Pass Through.
 *
 * Nexmark: every bid, as it is. The query does no work of its own, so it
 * measures what the rest costs: generating, moving and writing the events.
 * Flink SQL: SELECT auction, bidder, price, dateTime, extra FROM bid.
 *
 * Here: a filter that keeps the bid events (as Flink).
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

static weir_stream *build_q0(weir_stream *events, const struct weir_nexmark_query_params *p)
{
    return weir_filter(events, "bids", is_bid);
}

const struct weir_nexmark_query nexmark_q0 = {
    .name = "q0",
    .title = "Pass Through",
    .description = "every bid, unchanged (filter)",
    .columns = bid5_columns,
    .build = build_q0,
    .format = format_bid5,
    .origin = origin_event_header,
    .updating = NULL,
};
