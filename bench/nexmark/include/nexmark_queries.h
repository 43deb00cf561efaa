/*
 * The Nexmark queries as weir jobs: each query is a function that adds its
 * operators to a stream of Nexmark events (weir_source_nexmark) and returns the
 * stream of its result rows, built from the public API only (filters and maps,
 * windows.h operators, keyed state and timers), the way a user would write it.
 * `weir run q5`, `weir bench nexmark --query q5` and the tests build them from
 * the table weir_nexmark_queries.
 *
 *     const struct weir_nexmark_query *q = weir_nexmark_query_find("q5");
 *     struct weir_nexmark_opts o;
 *     weir_nexmark_opts_init(&o);
 *     o.events = 10000000;
 *     struct weir_nexmark_query_params qp = {.gen = &o};
 *     weir_stream *rows = q->build(weir_source_nexmark(job, "nexmark", &o), &qp);
 *     weir_nexmark_sink_csv(rows, q, "out");     // out/part-*.csv, exactly once
 *
 * Rows are the query's own structs; q->format writes one as a CSV line in the
 * columns of q->columns (the Flink SQL query's output columns; TIMESTAMP
 * columns as epoch ms, DECIMAL(23, 3) prices with three decimals). A record
 * with an empty payload formats as the header row (q->columns): that is how
 * weir_nexmark_sink_csv starts every part file with one.
 *
 * Queries whose Flink SQL result is an updating table (a group aggregate, a
 * deduplication, an unbounded Top-N) emit every update as a new row and no
 * retractions (q->updating): the last row per key (q->updating says which
 * columns are the key) is the table's final content.
 */
#ifndef WEIR_NEXMARK_QUERIES_H
#define WEIR_NEXMARK_QUERIES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <weir/job.h>
#include "nexmark.h"
#include <weir/record.h>

#ifdef __cplusplus
extern "C" {
#endif

/* What a query's build function may take from the caller. */
struct weir_nexmark_query_params {
    /* The generator's options (required): state slots that hold whole events
     * are sized from them (weir_nexmark_event_max_size). */
    const struct weir_nexmark_opts *gen;
    /* The query's window (q5 size, q7, q8, q12 size, q11 session gap) in ms;
     * 0 = the suite's 10 s. For tests that cannot wait 10 s of wall clock. */
    int64_t window_ms;
    /* q5's slide in ms; 0 = the suite's 2 s. */
    int64_t slide_ms;
};

/* When a result row could first have been computed, for latency measurement
 * (weir bench nexmark): see weir_nexmark_query.origin. */
enum weir_nexmark_origin {
    /* value = the event number whose arrival made the row */
    WEIR_NEXMARK_ORIGIN_EVENT = 0,
    /* value = an event time: the row was determined once every source subtask
     * had generated an event later than it (a window's end - 1, an expiry) */
    WEIR_NEXMARK_ORIGIN_EVENT_TIME = 1,
    /* value = wall-clock time (CLOCK_REALTIME, ms) at which the row was
     * due (a processing-time window's end - 1, when its timer is due) */
    WEIR_NEXMARK_ORIGIN_WALL_TIME = 2,
};

struct weir_nexmark_query {
    const char *name;        /* "q5" */
    const char *title;       /* "Hot Items" */
    const char *description; /* one line: what is computed, and how here */
    const char *columns;     /* the CSV header row, Flink's column names */
    /* Adds the query to events (the stream of weir_source_nexmark) and returns
     * the result rows; NULL (and the job's sticky error) on failure. Operator
     * uids are the query's own ("bids", "hot-items", ...). */
    weir_stream *(*build)(weir_stream *events, const struct weir_nexmark_query_params *p);
    weir_format_fn format; /* one row as CSV, no newline; empty payload: the header */
    /* The origin of a row (see enum weir_nexmark_origin) into *value. */
    enum weir_nexmark_origin (*origin)(const weir_rec *row, int64_t *value);
    /* NULL: an append-only result. Else the rows are updates of a table keyed
     * by these leading columns (e.g. "auction,day"): the last row of a key wins. */
    const char *updating;
};

/* The queries, in suite order: weir_nexmark_queries[WEIR_NEXMARK_Q5] is q5. */
enum weir_nexmark_query_id {
    WEIR_NEXMARK_Q0,
    WEIR_NEXMARK_Q1,
    WEIR_NEXMARK_Q2,
    WEIR_NEXMARK_Q3,
    WEIR_NEXMARK_Q4,
    WEIR_NEXMARK_Q5,
    WEIR_NEXMARK_Q7,
    WEIR_NEXMARK_Q8,
    WEIR_NEXMARK_Q9,
    WEIR_NEXMARK_Q11,
    WEIR_NEXMARK_Q12,
    WEIR_NEXMARK_Q14,
    WEIR_NEXMARK_Q17,
    WEIR_NEXMARK_Q18,
    WEIR_NEXMARK_Q19,
    WEIR_NEXMARK_Q20,
    WEIR_NEXMARK_Q21,
    WEIR_NEXMARK_Q22,
    WEIR_NEXMARK_QUERIES /* how many; weir_nexmark_queries[WEIR_NEXMARK_QUERIES] is NULL */
};

/* Each query's entry, indexed by enum weir_nexmark_query_id, then NULL. Each
 * entry is defined in its own file, bench/nexmark/queries/qN.c. */
extern const struct weir_nexmark_query *const weir_nexmark_queries[WEIR_NEXMARK_QUERIES + 1];

/* The query named name ("q5", or "Q5"); NULL when there is none. */
const struct weir_nexmark_query *weir_nexmark_query_find(const char *name);

/* Exactly-once CSV output of a query: every part file DIR/part-<subtask>-<n>.csv
 * starts with the header row, then rows (weir_sink_file_exactly_once, so files
 * appear only when the checkpoint that covers them completes). Adds an operator
 * "csv-header" chained before the sink "sink". */
weir_stream *weir_nexmark_sink_csv(weir_stream *rows, const struct weir_nexmark_query *q,
                                   const char *dir);

#ifdef __cplusplus
}
#endif
#endif
