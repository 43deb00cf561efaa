/*
 * Windows, joins, deduplication, top-N and running aggregates: operators built
 * on keyed state (state.h) and timers (operator.h), the way a user would write
 * them. None is a special case in the runtime, all their state lives in the
 * keyed backend (so checkpoints capture it and both backends hold it), and
 * their timers are the operator's timers.
 *
 *     static uint64_t bid_auction(const weir_rec *r) { return BID(r)->auction; }
 *     static int64_t bid_price(const weir_rec *r) { return BID(r)->price; }
 *
 *     // the highest price per auction and minute, late bids up to 10 s after
 *     // the watermark still count, later ones go to "late-bids"
 *     struct weir_window_opts wo = {.allowed_lateness_ms = 10 * WEIR_SECOND,
 *                                   .late_tag = "late-bids"};
 *     weir_stream *max = weir_window_aggregate(weir_key_by(bids, bid_auction), "max-price",
 *                                              weir_tumbling(WEIR_MINUTE), &weir_agg_max,
 *                                              bid_price, &wo);
 *     // each record of max is a struct weir_window_result {auction, start, end, int64 max},
 *     // with timestamp end - 1
 *     weir_sink_blackhole(weir_side_output(max, "late-bids"), "late");
 *
 * Time is Flink's: a window [start, end) holds timestamps start <= ts < end and
 * fires when the watermark reaches end - 1 (its max timestamp), through an
 * event-time timer; it is late once end - 1 + allowed lateness <= watermark. A
 * record that is late for every window it belongs to is dropped: it goes to
 * the side output `late_tag` when one is set, and is counted as a late record
 * (numLateRecordsDropped) either way. A record that arrives after its window
 * fired but before the window is late updates the window and fires it again
 * at once (Flink's EventTimeTrigger): downstream sees the updated result as
 * another record for the same window. A bounded source ends with the maximal
 * watermark, so every open window fires at the end of a bounded job.
 *
 * Result timestamps: window results carry end - 1; running aggregates, reduce,
 * dedup carry the input record's timestamp; an interval join result carries
 * max(a.ts, b.ts).
 */
#ifndef WEIR_WINDOWS_H
#define WEIR_WINDOWS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <weir/job.h>
#include <weir/operator.h>
#include <weir/record.h>
#include <weir/state.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef WEIR_SECOND
#define WEIR_SECOND INT64_C(1000) /* ms */
#endif
#ifndef WEIR_MINUTE
#define WEIR_MINUTE (60 * WEIR_SECOND)
#endif
#ifndef WEIR_HOUR
#define WEIR_HOUR (60 * WEIR_MINUTE)
#endif

/* --- window specs ----------------------------------------------------------- */

enum weir_window_kind {
    WEIR_WINDOW_TUMBLING = 0,
    WEIR_WINDOW_SLIDING = 1,
    WEIR_WINDOW_SESSION = 2, /* merging: [ts, ts + gap) windows that touch or overlap merge */
};

/* Made by the functions below; plain data, passed by value. */
struct weir_window_spec {
    enum weir_window_kind kind;
    enum weir_time_domain time; /* WEIR_EVENT_TIME unless weir_processing_time() */
    int64_t size_ms;            /* tumbling, sliding */
    int64_t slide_ms;           /* sliding (tumbling: = size) */
    int64_t gap_ms;             /* session */
    int64_t offset_ms;          /* windows start at offset + k * slide, as Flink's offset */
};

struct weir_window_spec weir_tumbling(int64_t size_ms);
struct weir_window_spec weir_sliding(int64_t size_ms, int64_t slide_ms);
struct weir_window_spec weir_session(int64_t gap_ms);
/* The same windows with Flink's offset (e.g. -8 h for days in UTC+8). */
struct weir_window_spec weir_window_offset(struct weir_window_spec spec, int64_t offset_ms);
/* The same windows in processing time (tumbling and sliding only): records are
 * assigned by the wall clock when they arrive and a window fires when the
 * clock passes end - 1. Lateness does not apply. Windows still open when a
 * bounded job's input ends do not fire: the runtime fires no processing-time
 * timer at the end of input (as Flink in STREAMING mode). */
struct weir_window_spec weir_processing_time(struct weir_window_spec spec);

/* Checks a spec: 0, or -EINVAL with a one-line reason in err. */
int weir_window_spec_check(const struct weir_window_spec *spec, char *err, size_t errlen);

/* Flink's TimeWindow.getWindowStartWithOffset: the start of the window of
 * length `slide` that holds ts (floor, also for negative timestamps). */
static inline int64_t weir_window_start(int64_t ts, int64_t offset_ms, int64_t slide_ms)
{
    int64_t r = (ts - offset_ms) % slide_ms;
    if (r < 0)
        r += slide_ms;
    return ts - r;
}

/* The starts of the tumbling or sliding windows that hold ts, latest first
 * (each window is [start, start + size_ms)); at most max are written. Returns
 * how many windows hold ts (ceil(size / slide) or one less), which may exceed
 * max, or -EINVAL for a session spec. */
int weir_window_assign(const struct weir_window_spec *spec, int64_t ts, int64_t *starts, int max);

struct weir_window_opts {
    int64_t allowed_lateness_ms; /* event time only; 0 = none */
    const char *late_tag;        /* side output of records too late; NULL = drop (counted) */
};

/* --- aggregates ------------------------------------------------------------- */

/* Extracts the int64 a built-in aggregate adds. A user aggregate given a
 * value function receives a const int64_t *; given NULL, it receives the
 * record's payload (in->data). */
typedef int64_t (*weir_value_fn)(const weir_rec *in);

/* Built-in aggregate functions over int64 values. Results: count, sum, min,
 * max are an int64_t; avg is a double (sum / count). All of them merge, so
 * they work with session windows. count needs no value function. */
extern const struct weir_aggregate_fn weir_agg_count;
extern const struct weir_aggregate_fn weir_agg_sum;
extern const struct weir_aggregate_fn weir_agg_min;
extern const struct weir_aggregate_fn weir_agg_max;
extern const struct weir_aggregate_fn weir_agg_avg;

/* Payload of a window_aggregate result record; timestamp end - 1. The record
 * is sizeof(struct weir_window_result) + agg->result_size bytes long. */
struct weir_window_result {
    uint64_t key;
    int64_t start, end; /* the window [start, end) */
    unsigned char result[];
};

/* Payload of a running aggregate's result; timestamp of the input record. */
struct weir_keyed_result {
    uint64_t key;
    unsigned char result[];
};

/* The int64 / double result of a built-in aggregate, read from a result record's
 * result bytes (memcpy: the payload is a byte array). */
static inline int64_t weir_result_i64(const unsigned char *result)
{
    int64_t v;
    memcpy(&v, result, sizeof v);
    return v;
}
static inline double weir_result_double(const unsigned char *result)
{
    double v;
    memcpy(&v, result, sizeof v);
    return v;
}

/* Per key and window, aggregates incrementally (one accumulator per key and
 * window in keyed state) and emits one struct weir_window_result when the
 * window fires. keyed comes from weir_key_by. agg is copied; its functions
 * must outlive the job. Session windows need agg->merge. opts may be NULL. */
weir_stream *weir_window_aggregate(weir_stream *keyed, const char *uid,
                                   struct weir_window_spec spec,
                                   const struct weir_aggregate_fn *agg, weir_value_fn value,
                                   const struct weir_window_opts *opts);

/* Running aggregate: per key, adds each record and emits the updated result
 * (struct weir_keyed_result) with the record's timestamp. */
weir_stream *weir_aggregate(weir_stream *keyed, const char *uid,
                            const struct weir_aggregate_fn *agg, weir_value_fn value);

/* Running reduce (Flink's KeyedStream.reduce): records are value_size bytes;
 * the first record of a key is its value, each later one replaces it with
 * reduce(value, record), and every record emits the updated value (value_size
 * bytes, the record's timestamp). A record of another size fails the job. */
weir_stream *weir_reduce(weir_stream *keyed, const char *uid, uint32_t value_size,
                         weir_reduce_fn reduce);

/* --- joins ------------------------------------------------------------------ */

/* Called for each joined pair; emits any number of records, normally with
 * timestamp ts (window joins: window end - 1; interval joins: max(a.ts, b.ts)).
 * The current key is weir_ctx_current_key(ctx). a and b are valid for the
 * call only. Returns 0 or a negative errno (fails the job). */
typedef int (*weir_join_fn)(weir_ctx *ctx, const weir_rec *a, const weir_rec *b, int64_t ts,
                            weir_emit *out);

struct weir_join_opts {
    /* Largest payload of a record of a / of b, in bytes: keyed state keeps
     * records in slots of this size. A larger record fails the job. */
    uint32_t a_max_size, b_max_size;
    int64_t allowed_lateness_ms; /* window joins only */
    /* Side outputs for records of a / b that are too late; NULL = drop (counted). */
    const char *late_tag_a, *late_tag_b;
};

/* Window join (Flink's a.join(b).where().equalTo().window()): for each key and
 * tumbling or sliding window, when the window fires, join(a, b) for every pair
 * of a record of a and a record of b in it (a in arrival order, then b in
 * arrival order). a and b come from weir_key_by, their keys must agree. With
 * allowed lateness, a late-but-allowed record fires its window again and every
 * pair of the window is emitted again, as Flink's window join does. */
weir_stream *weir_window_join(weir_stream *a, weir_stream *b, const char *uid,
                              struct weir_window_spec spec, weir_join_fn join,
                              const struct weir_join_opts *opts);

/* Interval join (Flink's a.intervalJoin(b).between(lower, upper)): per key,
 * join(a, b) for every pair with a.ts + lower_ms <= b.ts <= a.ts + upper_ms,
 * emitted as soon as the second of the two arrives. A record is buffered in
 * keyed state until the watermark passes the last time it can still join
 * (a: ts + upper, b: ts - lower), when an event-time timer removes it. As in
 * Flink, a record with ts < watermark is late: dropped (or side output) and
 * counted. */
weir_stream *weir_interval_join(weir_stream *a, weir_stream *b, const char *uid, int64_t lower_ms,
                                int64_t upper_ms, weir_join_fn join,
                                const struct weir_join_opts *opts);

/* --- deduplication ------------------------------------------------------------ */

enum weir_dedup_keep {
    /* The first record of a key (by arrival) is emitted; the rest are dropped
     * while the key is remembered. Flink SQL's keep-first-row (append-only). */
    WEIR_DEDUP_KEEP_FIRST = 0,
    /* A record is emitted when its timestamp is >= that of the last record
     * emitted for its key, so the output is the sequence of new last rows (Flink
     * SQL's rowtime keep-last-row as an upsert stream, without retractions);
     * out-of-order older records are dropped. */
    WEIR_DEDUP_KEEP_LAST = 1,
};

struct weir_dedup_opts {
    enum weir_dedup_keep keep;
    /* How long a key is remembered; 0 = forever. Event time: until the
     * watermark passes (timestamp of the last record emitted) + ttl_ms, when an
     * event-time timer forgets the key. Processing time: state TTL (Flink SQL's
     * table.exec.state.ttl), ttl_ms after the key was last written. */
    int64_t ttl_ms;
    enum weir_time_domain ttl_time;
};

/* Deduplicates per key; emits the kept records unchanged. opts NULL = keep
 * first, forever. */
weir_stream *weir_dedup(weir_stream *keyed, const char *uid, const struct weir_dedup_opts *opts);

/* --- top-N -------------------------------------------------------------------- */

/* Ranks records: higher is better. */
typedef int64_t (*weir_score_fn)(const weir_rec *in);

struct weir_top_n_opts {
    uint32_t max_size; /* largest payload, in bytes: the state slot size */
    int64_t allowed_lateness_ms;
    const char *late_tag;
};

/* Payload of a top-N result record; timestamp end - 1. */
struct weir_top_n_result {
    uint64_t key;
    int64_t start, end; /* the window */
    uint32_t rank;      /* 1 = highest score */
    uint32_t len;       /* bytes of data: the ranked record's payload */
    int64_t score;
    int64_t ts; /* the ranked record's timestamp */
    unsigned char data[];
};

/* Per key and tumbling or sliding event-time window, keeps the n records with
 * the highest score (ties: the earlier arrival ranks higher) and, when the
 * window fires, emits them as n (or fewer) struct weir_top_n_result records in
 * rank order. A late-but-allowed record re-emits the whole updated ranking.
 * This is Flink SQL's windowed Top-N (ROW_NUMBER over a window TVF), not its
 * unbounded, retracting Top-N. */
weir_stream *weir_top_n(weir_stream *keyed, const char *uid, struct weir_window_spec spec,
                        uint32_t n, weir_score_fn score, const struct weir_top_n_opts *opts);

#ifdef __cplusplus
}
#endif
#endif
