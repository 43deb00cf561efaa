/*
 * The table of the Nexmark queries (see include/nexmark_queries.h) and their
 * CSV sink. Each query is a file of its own, queries/qN.c, written against the
 * public API as a user would: a build function over the stream of Nexmark
 * events, a row struct, a CSV formatter, and its entry (nexmark_qN).
 *
 * How each query is cut, and where it departs from the Flink SQL of the
 * nexmark/nexmark repository (the queries Flink's benchmark runs):
 *
 *   q0  filter bids                                            (as Flink)
 *   q1  flat_map bid -> price * 0.908 as an exact DECIMAL(23,3) (as Flink)
 *   q2  flat_map bids of every 123rd auction                   (as Flink)
 *   q3  persons in OR/ID/CA and category-10 auctions, keyed by person id, an
 *       incremental join in keyed state: a person is kept, an auction is kept
 *       only until its seller arrives (ids are unique, so no later row could
 *       join it); Flink's regular join keeps both sides forever. Same rows.
 *   q4  winning bid per auction (max price among bids with dateTime in
 *       [auction.dateTime, expires]) fixed when the auction expires (an
 *       event-time timer, as Beam's WinningBids), then a running average per
 *       category. Flink SQL updates both levels on every bid; the final table
 *       (the last row per category) is the same, AVG truncated to BIGINT.
 *   q5  sliding 10 s / 2 s bid counts per auction (weir_window_aggregate), then
 *       per window the auctions with the highest count (keyed by window end,
 *       an event-time timer at the window's end). As Flink, ties included.
 *   q7  per 10 s window the bids with the highest price: a local maximum per
 *       source subtask in operator state, then a global one keyed by window
 *       (Flink's local-global aggregation). Flink joins on
 *       B.dateTime BETWEEN end - 10 s AND end, which also admits a bid at exactly
 *       `end` with the same price; here only bids of the window [start, end).
 *   q8  persons and auction sellers in the same 10 s tumbling window, joined
 *       on id = seller in keyed state, one row per person and window when the
 *       window ends (Flink groups each side by window first: same rows).
 *   q9  winning bid per auction as in q4, emitted once when the auction
 *       expires with the whole auction and bid; ties on price go to the earlier
 *       dateTime, then the lower event number (Flink's ROW_NUMBER leaves the
 *       last tie to arrival order). Flink's result is updating; this is its
 *       final content.
 *   q11 session windows (10 s gap) per bidder, count (weir_window_aggregate).
 *   q12 processing-time 10 s tumbling windows per bidder, count. Windows still
 *       open when a bounded run ends do not fire (as Flink in streaming mode).
 *   q14 filter on 0.908 * price, bidTimeType from HOUR(dateTime) in UTC,
 *       count of 'c' in extra                                  (as Flink)
 *   q17 per (auction, day) running count/min/max/avg/sum with price bands
 *       (weir_aggregate with a user aggregate), one row per bid: Flink's
 *       update stream without its retractions.
 *   q18 last bid per (bidder, auction) by dateTime (weir_dedup keep-last):
 *       Flink's rowtime deduplication as an upsert stream.
 *   q19 top 10 bids by price per auction, unbounded, in keyed state: each bid
 *       that enters re-emits the rows whose rank changed (ties: the earlier
 *       arrival ranks higher); the last row per (auction, rank_number) is
 *       Flink's table.
 *   q20 bids joined with their category-10 auction (keyed by auction id): an
 *       auction of another category is remembered as a marker so that its
 *       bids are dropped at once instead of kept forever, as Flink's join
 *       (which filters before the join) keeps them. Same rows.
 *   q21 channel_id from the channel or the url's channel_id parameter  (as Flink)
 *   q22 the url's directories (SPLIT_INDEX(url, '/', 3..5))           (as Flink)
 *
 * Keys are 64-bit: q17 keys by auction << 20 | day, q18 by bidder << 32 ^
 * auction, both exact while ids stay below 2^32 (some 7e10 events).
 */
#include <stdbool.h>
#include <stddef.h>
#include <strings.h>

#include <weir/job.h>
#include <weir/operator.h>

#include "nexmark_private.h"

/* --- the table ---------------------------------------------------------------------- */

const struct weir_nexmark_query *const weir_nexmark_queries[WEIR_NEXMARK_QUERIES + 1] = {
    [WEIR_NEXMARK_Q0] = &nexmark_q0,   [WEIR_NEXMARK_Q1] = &nexmark_q1,
    [WEIR_NEXMARK_Q2] = &nexmark_q2,   [WEIR_NEXMARK_Q3] = &nexmark_q3,
    [WEIR_NEXMARK_Q4] = &nexmark_q4,   [WEIR_NEXMARK_Q5] = &nexmark_q5,
    [WEIR_NEXMARK_Q7] = &nexmark_q7,   [WEIR_NEXMARK_Q8] = &nexmark_q8,
    [WEIR_NEXMARK_Q9] = &nexmark_q9,   [WEIR_NEXMARK_Q11] = &nexmark_q11,
    [WEIR_NEXMARK_Q12] = &nexmark_q12, [WEIR_NEXMARK_Q14] = &nexmark_q14,
    [WEIR_NEXMARK_Q17] = &nexmark_q17, [WEIR_NEXMARK_Q18] = &nexmark_q18,
    [WEIR_NEXMARK_Q19] = &nexmark_q19, [WEIR_NEXMARK_Q20] = &nexmark_q20,
    [WEIR_NEXMARK_Q21] = &nexmark_q21, [WEIR_NEXMARK_Q22] = &nexmark_q22,
    [WEIR_NEXMARK_QUERIES] = NULL,
};

const struct weir_nexmark_query *weir_nexmark_query_find(const char *name)
{
    if (!name)
        return NULL;
    for (int i = 0; i < WEIR_NEXMARK_QUERIES; i++)
        if (strcasecmp(weir_nexmark_queries[i]->name, name) == 0)
            return weir_nexmark_queries[i];
    return NULL;
}

/* --- CSV output ---------------------------------------------------------------------- */

/* Emits an empty record (the header row) before the first row of every part
 * file: a file starts at the first row after open or after a checkpoint, when
 * the sink chained behind this operator has rolled its file. */
struct header_state {
    bool due;
};

static int header_open(weir_ctx *ctx, void *state, void *arg)
{
    ((struct header_state *)state)->due = true;
    return 0;
}

static int header_process(weir_ctx *ctx, void *state, int input, const weir_rec *in, weir_emit *out)
{
    struct header_state *s = state;
    if (s->due) {
        s->due = false;
        int rc = weir_emit_copy(out, in->ts, "", 0);
        if (rc < 0)
            return rc;
    }
    return weir_emit_forward(out, in);
}

static int header_snapshot(weir_ctx *ctx, void *state, uint64_t id, struct weir_snapshot_out *o)
{
    ((struct header_state *)state)->due = true;
    return 0;
}

/* No items (a header is due after any restore, as after open): list state only so that a
 * restore at another parallelism is not refused. */
static int header_restore(weir_ctx *ctx, void *state, const struct weir_state_item *items,
                          size_t n)
{
    return 0;
}

static const struct weir_operator_ops header_ops = {.kind = "csv-header",
                                                    .state_size = sizeof(struct header_state),
                                                    .open = header_open,
                                                    .process = header_process,
                                                    .snapshot = header_snapshot,
                                                    .state_mode = WEIR_STATE_SPLIT,
                                                    .restore_items = header_restore};

weir_stream *weir_nexmark_sink_csv(weir_stream *rows, const struct weir_nexmark_query *q,
                                   const char *dir)
{
    if (!rows || !q)
        return NULL;
    weir_stream *h = weir_forward(weir_transform(rows, "csv-header", &header_ops, NULL));
    return weir_sink_file_exactly_once(h, "sink", dir, q->format, ".csv");
}
