/*
 * q11: User Sessions.
 *
 * Nexmark: how many bids each user makes in each of their sessions, a session
 * ending after 10 s without a bid.
 *
 * Here: session windows (10 s gap) per bidder, a count
 * (weir_window_aggregate).
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

static weir_stream *build_q11(weir_stream *events, const struct weir_nexmark_query_params *p)
{
    weir_stream *b = weir_flat_map(events, "bidders", bidders);
    return weir_window_aggregate(weir_key_by(b, bidder_key), "user-sessions",
                                 weir_session(window_ms(p)), &weir_agg_count, NULL, NULL);
}

const struct weir_nexmark_query nexmark_q11 = {
    .name = "q11",
    .title = "User Sessions",
    .description = "bids per bidder session, 10 s gap (session windows)",
    .columns = count_window_columns,
    .build = build_q11,
    .format = format_count_window,
    .origin = origin_ts,
    .updating = NULL,
};
