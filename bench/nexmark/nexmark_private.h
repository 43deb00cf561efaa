/*
 * What the files of bench/nexmark share, and nothing else includes: the
 * generator's resolved options (generator.c, source.c); the helpers, state
 * slots and winning-bids operator of the queries (queries/); the measurements
 * of a bench run (measure.c, report.c).
 */
#ifndef WEIR_NEXMARK_PRIVATE_H
#define WEIR_NEXMARK_PRIVATE_H

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <weir/job.h>
#include <weir/operator.h>
#include <weir/windows.h>

#include "nexmark.h"
#include "nexmark_queries.h"

/* --- the generator (generator.c) and the source (source.c) ------------------- */

/* Options with every default resolved, and what follows from them. */
struct nexmark_cfg {
    struct weir_nexmark_opts o;
    uint64_t total;  /* person + auction + bid proportions */
    double delay_us; /* between events */
};

/* Fills c from in, every option left 0 taking its default. */
void nexmark_resolve(const struct weir_nexmark_opts *in, struct nexmark_cfg *c);
/* weir_nexmark_event_at with resolved options (nexmark_channels_init first). */
int nexmark_event_at(const struct nexmark_cfg *c, uint64_t n, struct weir_nexmark_event *out,
                     size_t cap);
/* Builds the generator's tables (bid channels, letter triples) once per process. */
void nexmark_channels_init(void);

/* --- the queries (queries/) ------------------------------------------------------ */

/* One per file, queries/qN.c; the table in queries.c lists them. */
extern const struct weir_nexmark_query nexmark_q0;
extern const struct weir_nexmark_query nexmark_q1;
extern const struct weir_nexmark_query nexmark_q2;
extern const struct weir_nexmark_query nexmark_q3;
extern const struct weir_nexmark_query nexmark_q4;
extern const struct weir_nexmark_query nexmark_q5;
extern const struct weir_nexmark_query nexmark_q7;
extern const struct weir_nexmark_query nexmark_q8;
extern const struct weir_nexmark_query nexmark_q9;
extern const struct weir_nexmark_query nexmark_q11;
extern const struct weir_nexmark_query nexmark_q12;
extern const struct weir_nexmark_query nexmark_q14;
extern const struct weir_nexmark_query nexmark_q17;
extern const struct weir_nexmark_query nexmark_q18;
extern const struct weir_nexmark_query nexmark_q19;
extern const struct weir_nexmark_query nexmark_q20;
extern const struct weir_nexmark_query nexmark_q21;
extern const struct weir_nexmark_query nexmark_q22;

/* The suite's window (q5, q7, q8, q11, q12) and q5's slide. */
#define SUITE_WINDOW_MS (10 * WEIR_SECOND)
#define SUITE_SLIDE_MS  (2 * WEIR_SECOND)

/* --- helpers of the queries ------------------------------------------------------- */

static inline const struct weir_nexmark_event *ev(const weir_rec *r)
{
    return weir_nexmark_event(r);
}

static inline int64_t window_ms(const struct weir_nexmark_query_params *p)
{
    return p && p->window_ms > 0 ? p->window_ms : SUITE_WINDOW_MS;
}

/* The most payload bytes an event of type t takes: the bound of
 * weir_nexmark_event_max_size, per type. */
static inline uint32_t max_event_size(const struct weir_nexmark_query_params *p,
                                      enum weir_nexmark_type t)
{
    struct weir_nexmark_opts d;
    weir_nexmark_opts_init(&d);
    const struct weir_nexmark_opts *g = p && p->gen ? p->gen : &d;
    uint32_t avg = t == WEIR_NEXMARK_PERSON
                       ? (g->avg_person_bytes ? g->avg_person_bytes : d.avg_person_bytes)
                   : t == WEIR_NEXMARK_AUCTION
                       ? (g->avg_auction_bytes ? g->avg_auction_bytes : d.avg_auction_bytes)
                       : (g->avg_bid_bytes ? g->avg_bid_bytes : d.avg_bid_bytes);
    return (uint32_t)(sizeof(struct weir_nexmark_event) + weir_nexmark_body_size(t) + avg +
                      avg / 5 + 3);
}

/* A record payload kept in keyed state: value and list states hold fixed-size
 * entries, so a variable-size event goes into a slot of the largest size. */
struct slot {
    uint32_t len;
    uint32_t pad;
    unsigned char data[]; /* 8-aligned, as a record's payload */
};

static inline uint32_t slot_size(uint32_t max_payload)
{
    return (uint32_t)sizeof(struct slot) + ((max_payload + 7u) & ~7u);
}

static inline int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static inline int64_t floor_mod(int64_t a, int64_t b)
{
    return a - floor_div(a, b) * b;
}

/* Frees the malloc'd arg of the operator producing s with the job. */
static inline weir_stream *own(weir_stream *s, void *arg)
{
    if (!s)
        free(arg);
    else
        weir_stream_own_arg(s, free);
    return s;
}

static inline int is_bid(weir_ctx *ctx, const weir_rec *r)
{
    return ev(r)->type == WEIR_NEXMARK_BID;
}

/* The header row for an empty payload: see weir_nexmark_sink_csv. */
#define HEADER(r, buf, cap, columns)                                                               \
    do {                                                                                           \
        if ((r)->len == 0)                                                                         \
            return snprintf((buf), (cap), "%s", (columns));                                        \
    } while (0)

/* Copies a string field of a row whose length may fall short of its array. */
static inline void copy_str(char *dst, size_t cap, const char *src, size_t len)
{
    if (len >= cap)
        len = cap - 1;
    memcpy(dst, src, len);
    dst[len] = '\0';
}

/* --- origins ---------------------------------------------------------------------- */

/* A row that is a Nexmark event as it came. */
static inline enum weir_nexmark_origin origin_event_header(const weir_rec *row, int64_t *value)
{
    *value = (int64_t)ev(row)->event_number;
    return WEIR_NEXMARK_ORIGIN_EVENT;
}

/* A row whose struct starts with the number of the event that made it. */
static inline enum weir_nexmark_origin origin_row_event(const weir_rec *row, int64_t *value)
{
    uint64_t e;
    memcpy(&e, row->data, sizeof e);
    *value = (int64_t)e;
    return WEIR_NEXMARK_ORIGIN_EVENT;
}

/* A row fired by an event-time timer at its timestamp. */
static inline enum weir_nexmark_origin origin_ts(const weir_rec *row, int64_t *value)
{
    *value = row->ts;
    return WEIR_NEXMARK_ORIGIN_EVENT_TIME;
}

/* A processing-time window's row: its timestamp is the window's end - 1 on the
 * wall clock, when its timer is due (the runtime fires a processing-time timer
 * once the clock reaches its time). */
static inline enum weir_nexmark_origin origin_wall(const weir_rec *row, int64_t *value)
{
    *value = row->ts;
    return WEIR_NEXMARK_ORIGIN_WALL_TIME;
}

/* --- formats shared by several queries -------------------------------------------- */

static const char bid5_columns[] = "auction,bidder,price,dateTime,extra";

/* auction,bidder,price,dateTime,extra of a bid event. */
static inline int format_bid5(const weir_rec *r, char *buf, size_t cap)
{
    HEADER(r, buf, cap, bid5_columns);
    const struct weir_nexmark_event *e = ev(r);
    const struct weir_nexmark_bid *b = weir_nexmark_bid(r);
    if (!b)
        return -EINVAL;
    return snprintf(buf, cap, "%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64 ",%.*s", b->auction,
                    b->bidder, b->price, b->date_time, (int)e->extra_len, weir_nexmark_extra(e));
}

static const char bid7_columns[] = "auction,bidder,price,channel,url,dateTime,extra";

/* Every column of a bid event, Nexmark's order. */
static inline int format_bid7(const weir_rec *r, char *buf, size_t cap)
{
    HEADER(r, buf, cap, bid7_columns);
    return weir_nexmark_format_csv(r, buf, cap);
}

/* A price in cents times 0.908, as DECIMAL(23, 3): milli = price * 908. */
static inline int format_milli(char *buf, size_t cap, int64_t milli)
{
    const char *sign = milli < 0 ? "-" : "";
    uint64_t m = milli < 0 ? (uint64_t)0 - (uint64_t)milli : (uint64_t)milli;
    return snprintf(buf, cap, "%s%" PRIu64 ".%03" PRIu64, sign, m / 1000, m % 1000);
}

/* Copies a record's payload into a slot of max payload bytes; fails the
 * operator when it does not fit. */
static inline int to_slot(weir_ctx *ctx, const weir_rec *in, uint32_t max, struct slot *out)
{
    if (in->len > max) {
        weir_ctx_fail(ctx, "%s: a record of %" PRIu32 " bytes; state slots hold %" PRIu32,
                      weir_ctx_uid(ctx), in->len, max);
        return -EMSGSIZE;
    }
    out->len = in->len;
    out->pad = 0;
    memcpy(out->data, in->data, in->len);
    return 0;
}

/* Keys and filters over raw events (q9, q20). */
static inline uint64_t raw_auction_id(const weir_rec *r)
{
    return (uint64_t)weir_nexmark_auction(r)->id;
}

static inline uint64_t raw_bid_auction(const weir_rec *r)
{
    return (uint64_t)weir_nexmark_bid(r)->auction;
}

static inline int is_auction(weir_ctx *ctx, const weir_rec *r)
{
    return ev(r)->type == WEIR_NEXMARK_AUCTION;
}

/* q11 and q12: the bidder of each bid, counted per window. */
struct bidder_rec {
    int64_t bidder;
};

static inline int bidders(weir_ctx *ctx, const weir_rec *in, weir_emit *out)
{
    const struct weir_nexmark_bid *b = weir_nexmark_bid(in);
    if (!b)
        return 0;
    struct bidder_rec r = {b->bidder};
    return weir_emit_copy(out, in->ts, &r, sizeof r);
}

static inline uint64_t bidder_key(const weir_rec *r)
{
    return (uint64_t)((const struct bidder_rec *)(const void *)r->data)->bidder;
}

static const char count_window_columns[] = "bidder,bid_count,starttime,endtime";

static inline int format_count_window(const weir_rec *rec, char *buf, size_t cap)
{
    HEADER(rec, buf, cap, count_window_columns);
    const struct weir_window_result *r = (const void *)rec->data;
    return snprintf(buf, cap, "%" PRIu64 ",%" PRId64 ",%" PRId64 ",%" PRId64, r->key,
                    weir_result_i64(r->result), r->start, r->end);
}

/* A keyed operator that registers no timers (q3, q19, q20). */
static const struct weir_keyed_ops no_timers = {0};

/* --- winning bids (winning_bids.c, for q4 and q9) ---------------------------------- */

/* What winning_bids reads of a query's own auction and bid rows. */

struct wb_auction_view {
    int64_t date_time, expires;
};
struct wb_bid_view {
    int64_t price, date_time;
    uint64_t event;
};

struct wb_cfg {
    uint32_t a_max, b_max; /* largest payloads of the two inputs */
    void (*auction_view)(const unsigned char *payload, struct wb_auction_view *v);
    void (*bid_view)(const unsigned char *payload, struct wb_bid_view *v);
    /* Emits the result row of auction a and its best bid b at ts. */
    int (*emit)(const struct slot *a, const struct slot *b, int64_t ts, weir_emit *out);
};

/* The winning bid of each auction, emitted when it expires: auctions keyed by
 * akey and bids keyed by bkey, connected in keyed state; tmpl is copied. */
weir_stream *nexmark_winning_bids(weir_stream *auctions, weir_key_fn akey, weir_stream *bids,
                                  weir_key_fn bkey, const struct wb_cfg *tmpl);

/* --- measuring a run (measure.c, report.c) ---------------------------------------- */

/* Generation samples: what latency-stamp records, per source subtask. */

struct gen_sample {
    uint64_t event;
    int64_t ts;
    int64_t ns; /* CLOCK_MONOTONIC when the event left the generator */
};

#define CHUNK_BITS  16
#define CHUNK       (1u << CHUNK_BITS)
#define MAX_CHUNKS  4096
#define STAMP_EVERY 64

/* One source subtask's samples: appended by its worker, read by the probes.
 * A sample is written before count is raised (release); readers load count
 * (acquire) and read only below it. */
struct gen_track {
    _Atomic uint64_t count;
    _Atomic int64_t end_ns; /* when the subtask's input ended; 0 before */
    struct gen_sample *_Atomic chunk[MAX_CHUNKS];
    /* writer only */
    uint64_t seen;
    int64_t last_ts;
};

/* The latency histogram. Log-linear: values below 64 ns exactly, then 32 buckets per power of two.
 */
#define HIST_BUCKETS (64 + 58 * 32)

struct hist {
    uint64_t n[HIST_BUCKETS];
    uint64_t count;
    int64_t max_ns;
    double sum_ns;
};

/* One completed checkpoint. */
struct ckpt_seen {
    uint64_t id, duration_ms, size_bytes;
};

/* Every checkpoint the run completed, as weir_run_opts.on_checkpoint reports them. */
struct ckpt_log {
    pthread_mutex_t lock;
    struct ckpt_seen *seen;
    size_t n, cap;
    _Atomic uint64_t completed; /* for the progress line */
};

/* What measure.c and report.c share: the whole of a run's measurements. */
struct nexmark_bench {
    const struct weir_nexmark_query *q;
    int parallelism;          /* of the sources: event n comes from subtask n % p */
    struct gen_track *tracks; /* one per source subtask */
    pthread_mutex_t lock;     /* guards what follows */
    struct hist lat;
    uint64_t rows, unmeasured;
    struct ckpt_log ckpts;
    bool progress;          /* nexmark_bench_progress prints */
    int64_t t0_ns, t1_ns;   /* CLOCK_MONOTONIC at start and stop */
    struct rusage ru0, ru1; /* the process's CPU time then */
};

/* The value below which a fraction q of the histogram's values lie. */
double nexmark_hist_quantile(const struct hist *h, double q);

static inline int64_t nexmark_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

#endif
