/*
 * q12: Processing Time Windows.
 *
 * Nexmark: how many bids each user makes within a fixed stretch of processing
 * time: 10 s tumbling windows on the wall clock, not on event time.
 *
 * Here: processing-time tumbling windows per bidder, a count. Windows still
 * open when a bounded run ends do not fire (as Flink in streaming mode). The
 * rows depend on how fast the run goes: they are measured from the window's
 * last millisecond on the wall clock (origin_wall).
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

static weir_stream *build_q12(weir_stream *events, const struct weir_nexmark_query_params *p)
{
    weir_stream *b = weir_flat_map(events, "bidders", bidders);
    return weir_window_aggregate(weir_key_by(b, bidder_key), "processing-time-windows",
                                 weir_processing_time(weir_tumbling(window_ms(p))), &weir_agg_count,
                                 NULL, NULL);
}

const struct weir_nexmark_query nexmark_q12 = {
    .name = "q12",
    .title = "Processing Time Windows",
    .description = "bids per bidder per 10 s of processing time",
    .columns = count_window_columns,
    .build = build_q12,
    .format = format_count_window,
    .origin = origin_wall,
    .updating = NULL,
};
