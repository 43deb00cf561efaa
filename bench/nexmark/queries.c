/*
 * The Nexmark queries (see include/nexmark_queries.h), written against the public
 * API as a user would: each query is a build function over the stream of
 * Nexmark events, a row struct and a CSV formatter.
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
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "nexmark.h"
#include "nexmark_queries.h"
#include <weir/operator.h>
#include <weir/state.h>
#include <weir/windows.h>

#define SUITE_WINDOW_MS (10 * WEIR_SECOND)
#define SUITE_SLIDE_MS  (2 * WEIR_SECOND)

/* --- helpers ------------------------------------------------------------------- */

static const struct weir_nexmark_event *ev(const weir_rec *r)
{
    return weir_nexmark_event(r);
}

static int64_t window_ms(const struct weir_nexmark_query_params *p)
{
    return p && p->window_ms > 0 ? p->window_ms : SUITE_WINDOW_MS;
}

/* The most payload bytes an event of type t takes: the bound of
 * weir_nexmark_event_max_size, per type. */
static uint32_t max_event_size(const struct weir_nexmark_query_params *p, enum weir_nexmark_type t)
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

static uint32_t slot_size(uint32_t max_payload)
{
    return (uint32_t)sizeof(struct slot) + ((max_payload + 7u) & ~7u);
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static int64_t floor_mod(int64_t a, int64_t b)
{
    return a - floor_div(a, b) * b;
}

/* Frees the malloc'd arg of the operator producing s with the job. */
static weir_stream *own(weir_stream *s, void *arg)
{
    if (!s)
        free(arg);
    else
        weir_stream_own_arg(s, free);
    return s;
}

static int is_bid(weir_ctx *ctx, const weir_rec *r)
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
static void copy_str(char *dst, size_t cap, const char *src, size_t len)
{
    if (len >= cap)
        len = cap - 1;
    memcpy(dst, src, len);
    dst[len] = '\0';
}

/* --- origins ---------------------------------------------------------------------- */

/* A row that is a Nexmark event as it came. */
static enum weir_nexmark_origin origin_event_header(const weir_rec *row, int64_t *value)
{
    *value = (int64_t)ev(row)->event_number;
    return WEIR_NEXMARK_ORIGIN_EVENT;
}

/* A row whose struct starts with the number of the event that made it. */
static enum weir_nexmark_origin origin_row_event(const weir_rec *row, int64_t *value)
{
    uint64_t e;
    memcpy(&e, row->data, sizeof e);
    *value = (int64_t)e;
    return WEIR_NEXMARK_ORIGIN_EVENT;
}

/* A row fired by an event-time timer at its timestamp. */
static enum weir_nexmark_origin origin_ts(const weir_rec *row, int64_t *value)
{
    *value = row->ts;
    return WEIR_NEXMARK_ORIGIN_EVENT_TIME;
}

/* A processing-time window's row: its timestamp is the window's end - 1 on the
 * wall clock, when its timer is due (the runtime fires a processing-time timer
 * once the clock reaches its time). */
static enum weir_nexmark_origin origin_wall(const weir_rec *row, int64_t *value)
{
    *value = row->ts;
    return WEIR_NEXMARK_ORIGIN_WALL_TIME;
}

/* --- formats shared by several queries -------------------------------------------- */

static const char bid5_columns[] = "auction,bidder,price,dateTime,extra";

/* auction,bidder,price,dateTime,extra of a bid event. */
static int format_bid5(const weir_rec *r, char *buf, size_t cap)
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
static int format_bid7(const weir_rec *r, char *buf, size_t cap)
{
    HEADER(r, buf, cap, bid7_columns);
    return weir_nexmark_format_csv(r, buf, cap);
}

/* A price in cents times 0.908, as DECIMAL(23, 3): milli = price * 908. */
static int format_milli(char *buf, size_t cap, int64_t milli)
{
    const char *sign = milli < 0 ? "-" : "";
    uint64_t m = milli < 0 ? (uint64_t)0 - (uint64_t)milli : (uint64_t)milli;
    return snprintf(buf, cap, "%s%" PRIu64 ".%03" PRIu64, sign, m / 1000, m % 1000);
}

/* ==================================================================================
 * q0: pass-through
 * ================================================================================== */

static weir_stream *build_q0(weir_stream *events, const struct weir_nexmark_query_params *p)
{
    return weir_filter(events, "bids", is_bid);
}

/* ==================================================================================
 * q1: currency conversion
 * ================================================================================== */

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

/* ==================================================================================
 * q2: selection
 * ================================================================================== */

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

/* ==================================================================================
 * q3: local item suggestion (incremental join)
 * ================================================================================== */

struct q3_person {
    uint64_t event;
    int64_t id;
    char name[WEIR_NEXMARK_NAME_CAP];
    char city[WEIR_NEXMARK_CITY_CAP];
    char state[WEIR_NEXMARK_STATE_CAP];
    uint32_t pad;
};

struct q3_auction {
    uint64_t event;
    int64_t id, seller;
};

struct q3_row {
    uint64_t event;
    int64_t auction;
    char name[WEIR_NEXMARK_NAME_CAP];
    char city[WEIR_NEXMARK_CITY_CAP];
    char state[WEIR_NEXMARK_STATE_CAP];
    uint32_t pad;
};

static int q3_persons(weir_ctx *ctx, const weir_rec *in, weir_emit *out)
{
    const struct weir_nexmark_person *p = weir_nexmark_person(in);
    if (!p || (strcmp(p->state, "OR") && strcmp(p->state, "ID") && strcmp(p->state, "CA")))
        return 0;
    struct q3_person *r = weir_emit_reserve(out, sizeof *r);
    if (!r)
        return -EMSGSIZE;
    memset(r, 0, sizeof *r);
    r->event = ev(in)->event_number;
    r->id = p->id;
    copy_str(r->name, sizeof r->name, p->name, p->name_len);
    copy_str(r->city, sizeof r->city, p->city, p->city_len);
    copy_str(r->state, sizeof r->state, p->state, p->state_len);
    return weir_emit_commit(out, in->ts);
}

static int q3_auctions(weir_ctx *ctx, const weir_rec *in, weir_emit *out)
{
    const struct weir_nexmark_auction *a = weir_nexmark_auction(in);
    if (!a || a->category != 10)
        return 0;
    struct q3_auction r = {ev(in)->event_number, a->id, a->seller};
    return weir_emit_copy(out, in->ts, &r, sizeof r);
}

static uint64_t q3_person_id(const weir_rec *r)
{
    return (uint64_t)((const struct q3_person *)(const void *)r->data)->id;
}

static uint64_t q3_auction_seller(const weir_rec *r)
{
    return (uint64_t)((const struct q3_auction *)(const void *)r->data)->seller;
}

struct q3_state {
    weir_keyed_backend *be;
    weir_value_state *person;
    weir_list_state *auctions; /* ids of auctions whose seller has not arrived */
    int64_t *ids;
    uint32_t ids_cap;
};

static int q3_open(weir_ctx *ctx, void *state, void *arg)
{
    struct q3_state *s = state;
    s->be = weir_ctx_state(ctx);
    if (!s->be)
        return -EINVAL;
    s->person = weir_value_state_get(s->be, "person", sizeof(struct q3_person), NULL);
    s->auctions = weir_list_state_get(s->be, "auctions", sizeof(int64_t), NULL);
    return s->person && s->auctions ? 0 : -ENOMEM;
}

static void q3_close(weir_ctx *ctx, void *state)
{
    free(((struct q3_state *)state)->ids);
}

static int q3_emit(const struct q3_person *p, int64_t auction, uint64_t event, int64_t ts,
                   weir_emit *out)
{
    struct q3_row *r = weir_emit_reserve(out, sizeof *r);
    if (!r)
        return -EMSGSIZE;
    memset(r, 0, sizeof *r);
    r->event = event;
    r->auction = auction;
    memcpy(r->name, p->name, sizeof r->name);
    memcpy(r->city, p->city, sizeof r->city);
    memcpy(r->state, p->state, sizeof r->state);
    return weir_emit_commit(out, ts);
}

static int q3_process(weir_ctx *ctx, void *state, int input, const weir_rec *in, weir_emit *out)
{
    struct q3_state *s = state;
    weir_keyed_backend_set_namespace(s->be, 0);
    if (input == 1) { /* a person: kept for the auctions to come */
        const struct q3_person *p = (const void *)in->data;
        int rc = weir_value_put(s->person, p);
        if (rc < 0)
            return rc;
        const void *elems;
        uint32_t n;
        if ((rc = weir_list_get(s->auctions, &elems, &n)) < 0 || n == 0)
            return rc;
        if (n > s->ids_cap) {
            int64_t *ids = realloc(s->ids, n * sizeof *ids);
            if (!ids)
                return -ENOMEM;
            s->ids = ids;
            s->ids_cap = n;
        }
        memcpy(s->ids, elems, n * sizeof *s->ids);
        if ((rc = weir_list_clear(s->auctions)) < 0)
            return rc;
        for (uint32_t i = 0; i < n && rc == 0; i++)
            rc = q3_emit(p, s->ids[i], p->event, in->ts, out);
        return rc;
    }
    const struct q3_auction *a = (const void *)in->data;
    const struct q3_person *p = weir_value_get(s->person);
    if (!p)
        return weir_list_add(s->auctions, &a->id);
    struct q3_person copy = *p;
    return q3_emit(&copy, a->id, a->event, in->ts, out);
}

static const struct weir_operator_ops q3_ops = {.kind = "incremental-join",
                                                .state_size = sizeof(struct q3_state),
                                                .open = q3_open,
                                                .process = q3_process,
                                                .close = q3_close};
static const struct weir_keyed_ops no_timers = {0};

static const char q3_columns[] = "name,city,state,id";

static int format_q3(const weir_rec *rec, char *buf, size_t cap)
{
    HEADER(rec, buf, cap, q3_columns);
    const struct q3_row *r = (const void *)rec->data;
    return snprintf(buf, cap, "%s,%s,%s,%" PRId64, r->name, r->city, r->state, r->auction);
}

static weir_stream *build_q3(weir_stream *events, const struct weir_nexmark_query_params *p)
{
    weir_stream *auctions = weir_flat_map(events, "auctions", q3_auctions);
    weir_stream *persons = weir_flat_map(events, "persons", q3_persons);
    return weir_keyed_connect(weir_key_by(auctions, q3_auction_seller),
                              weir_key_by(persons, q3_person_id), "incremental-join", &q3_ops,
                              &no_timers, NULL);
}

/* ==================================================================================
 * Winning bids (q4, q9): per auction, the best bid with dateTime in
 * [auction.dateTime, auction.expires], emitted when the auction expires.
 *
 * Per auction id (the key), in keyed state:
 *   "auction"  the auction, once it arrived (a slot)
 *   "best"     the best bid so far (a slot)
 *   "pending"  bids that arrived before their auction (slots)
 * An auction registers an event-time timer at its expiry: the best bid is
 * emitted and the key's state cleared. A bid without its auction waits in
 * "pending" with a timer at its own dateTime: an auction that could still
 * join it has a dateTime <= the bid's, so once the watermark has passed that
 * no such auction can come (it would be late) and the bid is dropped.
 * ================================================================================== */

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

struct wb_state {
    const struct wb_cfg *c;
    weir_keyed_backend *be;
    weir_value_state *auction, *best;
    weir_list_state *pending;
    uint32_t a_slot, b_slot;
    struct slot *a_buf, *best_buf, *tmp;
    unsigned char *list_buf;
    uint32_t list_cap; /* slots list_buf holds */
};

static int wb_open(weir_ctx *ctx, void *state, void *arg)
{
    struct wb_state *s = state;
    s->c = arg;
    s->be = weir_ctx_state(ctx);
    if (!s->be)
        return -EINVAL;
    s->a_slot = slot_size(s->c->a_max);
    s->b_slot = slot_size(s->c->b_max);
    s->auction = weir_value_state_get(s->be, "auction", s->a_slot, NULL);
    s->best = weir_value_state_get(s->be, "best", s->b_slot, NULL);
    s->pending = weir_list_state_get(s->be, "pending", s->b_slot, NULL);
    s->a_buf = calloc(1, s->a_slot);
    s->best_buf = calloc(1, s->b_slot);
    s->tmp = calloc(1, s->b_slot);
    if (!s->auction || !s->best || !s->pending || !s->a_buf || !s->best_buf || !s->tmp)
        return -ENOMEM;
    return 0;
}

static void wb_close(weir_ctx *ctx, void *state)
{
    struct wb_state *s = state;
    free(s->a_buf);
    free(s->best_buf);
    free(s->tmp);
    free(s->list_buf);
}

static int to_slot(weir_ctx *ctx, const weir_rec *in, uint32_t max, struct slot *out)
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

/* Copies the pending list out of the backend (its pointer dies on the next call). */
static int wb_load_pending(struct wb_state *s, uint32_t *n)
{
    const void *elems;
    int rc = weir_list_get(s->pending, &elems, n);
    if (rc < 0 || *n == 0)
        return rc;
    if (*n > s->list_cap) {
        unsigned char *b = realloc(s->list_buf, (size_t)*n * s->b_slot);
        if (!b)
            return -ENOMEM;
        s->list_buf = b;
        s->list_cap = *n;
    }
    memcpy(s->list_buf, elems, (size_t)*n * s->b_slot);
    return 0;
}

static bool wb_better(const struct wb_bid_view *b, const struct wb_bid_view *best)
{
    if (b->price != best->price)
        return b->price > best->price;
    if (b->date_time != best->date_time)
        return b->date_time < best->date_time;
    return b->event < best->event;
}

/* Offers bid slot b to the auction in s->a_buf; the best bid is in state. */
static int wb_offer(struct wb_state *s, const struct slot *b)
{
    struct wb_auction_view a;
    struct wb_bid_view v, best;
    s->c->auction_view(s->a_buf->data, &a);
    s->c->bid_view(b->data, &v);
    if (v.date_time < a.date_time || v.date_time > a.expires)
        return 0;
    const struct slot *cur = weir_value_get(s->best);
    if (cur) {
        s->c->bid_view(cur->data, &best);
        if (!wb_better(&v, &best))
            return 0;
    }
    return weir_value_put(s->best, b);
}

static int wb_process(weir_ctx *ctx, void *state, int input, const weir_rec *in, weir_emit *out)
{
    struct wb_state *s = state;
    weir_keyed_backend_set_namespace(s->be, 0);
    int rc;
    if (input == 0) {
        if ((rc = to_slot(ctx, in, s->c->a_max, s->a_buf)) < 0)
            return rc;
        if ((rc = weir_value_put(s->auction, s->a_buf)) < 0)
            return rc;
        struct wb_auction_view a;
        s->c->auction_view(s->a_buf->data, &a);
        if ((rc = weir_timer_register(ctx, WEIR_EVENT_TIME, 0, a.expires)) < 0)
            return rc;
        uint32_t n;
        if ((rc = wb_load_pending(s, &n)) < 0 || n == 0)
            return rc;
        if ((rc = weir_list_clear(s->pending)) < 0)
            return rc;
        for (uint32_t i = 0; i < n && rc == 0; i++)
            rc = wb_offer(s,
                          (const struct slot *)(const void *)(s->list_buf + (size_t)i * s->b_slot));
        return rc;
    }
    if ((rc = to_slot(ctx, in, s->c->b_max, s->tmp)) < 0)
        return rc;
    const struct slot *a = weir_value_get(s->auction);
    if (a) {
        memcpy(s->a_buf, a, sizeof *a + a->len);
        return wb_offer(s, s->tmp);
    }
    if ((rc = weir_list_add(s->pending, s->tmp)) < 0)
        return rc;
    return weir_timer_register(ctx, WEIR_EVENT_TIME, 0, in->ts);
}

static int wb_on_timer(weir_ctx *ctx, void *state, enum weir_time_domain d, uint64_t ns, int64_t ts,
                       weir_emit *out)
{
    struct wb_state *s = state;
    weir_keyed_backend_set_namespace(s->be, 0);
    int rc;
    const struct slot *a = weir_value_get(s->auction);
    if (a) {
        memcpy(s->a_buf, a, sizeof *a + a->len);
        struct wb_auction_view av;
        s->c->auction_view(s->a_buf->data, &av);
        if (ts < av.expires)
            return 0; /* a pending bid's timer; the auction's arrival already took it */
        const struct slot *b = weir_value_get(s->best);
        if (b) {
            memcpy(s->best_buf, b, sizeof *b + b->len);
            if ((rc = s->c->emit(s->a_buf, s->best_buf, ts, out)) < 0)
                return rc;
        }
        if ((rc = weir_value_clear(s->auction)) < 0 || (rc = weir_value_clear(s->best)) < 0)
            return rc;
        return weir_list_clear(s->pending);
    }
    /* No auction: drop the pending bids that can no longer join. */
    uint32_t n;
    if ((rc = wb_load_pending(s, &n)) < 0 || n == 0)
        return rc;
    uint32_t keep = 0;
    for (uint32_t i = 0; i < n; i++) {
        const struct slot *b = (const void *)(s->list_buf + (size_t)i * s->b_slot);
        struct wb_bid_view v;
        s->c->bid_view(b->data, &v);
        if (v.date_time > ts)
            memmove(s->list_buf + (size_t)keep++ * s->b_slot, b, s->b_slot);
    }
    if (keep == n)
        return 0;
    return keep ? weir_list_update(s->pending, s->list_buf, keep) : weir_list_clear(s->pending);
}

static const struct weir_operator_ops wb_ops = {.kind = "winning-bids",
                                                .state_size = sizeof(struct wb_state),
                                                .open = wb_open,
                                                .process = wb_process,
                                                .close = wb_close};
static const struct weir_keyed_ops wb_kops = {.on_timer = wb_on_timer};

static uint64_t raw_auction_id(const weir_rec *r)
{
    return (uint64_t)weir_nexmark_auction(r)->id;
}

static uint64_t raw_bid_auction(const weir_rec *r)
{
    return (uint64_t)weir_nexmark_bid(r)->auction;
}

static int is_auction(weir_ctx *ctx, const weir_rec *r)
{
    return ev(r)->type == WEIR_NEXMARK_AUCTION;
}

/* --- q4: average price for a category ------------------------------------------ */

struct q4_auction {
    uint64_t event;
    int64_t id, category, date_time, expires;
};

struct q4_bid {
    uint64_t event;
    int64_t auction, price, date_time;
};

/* Stage one's row: an auction's winning price, at its expiry. */
struct q4_winner {
    int64_t auction, category, price;
};

static int q4_auctions(weir_ctx *ctx, const weir_rec *in, weir_emit *out)
{
    const struct weir_nexmark_auction *a = weir_nexmark_auction(in);
    if (!a)
        return 0;
    struct q4_auction r = {ev(in)->event_number, a->id, a->category, a->date_time, a->expires};
    return weir_emit_copy(out, in->ts, &r, sizeof r);
}

static int q4_bids(weir_ctx *ctx, const weir_rec *in, weir_emit *out)
{
    const struct weir_nexmark_bid *b = weir_nexmark_bid(in);
    if (!b)
        return 0;
    struct q4_bid r = {ev(in)->event_number, b->auction, b->price, b->date_time};
    return weir_emit_copy(out, in->ts, &r, sizeof r);
}

static uint64_t q4_auction_id(const weir_rec *r)
{
    return (uint64_t)((const struct q4_auction *)(const void *)r->data)->id;
}

static uint64_t q4_bid_auction(const weir_rec *r)
{
    return (uint64_t)((const struct q4_bid *)(const void *)r->data)->auction;
}

static void q4_auction_view(const unsigned char *p, struct wb_auction_view *v)
{
    const struct q4_auction *a = (const void *)p;
    v->date_time = a->date_time;
    v->expires = a->expires;
}

static void q4_bid_view(const unsigned char *p, struct wb_bid_view *v)
{
    const struct q4_bid *b = (const void *)p;
    v->price = b->price;
    v->date_time = b->date_time;
    v->event = b->event;
}

static int q4_emit(const struct slot *a, const struct slot *b, int64_t ts, weir_emit *out)
{
    const struct q4_auction *av = (const void *)a->data;
    const struct q4_bid *bv = (const void *)b->data;
    struct q4_winner w = {av->id, av->category, bv->price};
    return weir_emit_copy(out, ts, &w, sizeof w);
}

static uint64_t q4_winner_category(const weir_rec *r)
{
    return (uint64_t)((const struct q4_winner *)(const void *)r->data)->category;
}

/* AVG over BIGINT is a BIGINT in Flink: sum / count, truncated. */
struct q4_acc {
    int64_t sum, count;
};

static void q4_init(void *acc)
{
    memset(acc, 0, sizeof(struct q4_acc));
}

static void q4_add(void *acc, const void *in)
{
    struct q4_acc *a = acc;
    const struct q4_winner *w = in;
    a->sum += w->price;
    a->count++;
}

static void q4_merge(void *acc, const void *other)
{
    struct q4_acc *a = acc;
    const struct q4_acc *o = other;
    a->sum += o->sum;
    a->count += o->count;
}

static void q4_result(const void *acc, void *out)
{
    const struct q4_acc *a = acc;
    int64_t avg = a->count ? a->sum / a->count : 0;
    memcpy(out, &avg, sizeof avg);
}

static const struct weir_aggregate_fn q4_avg = {.acc_size = sizeof(struct q4_acc),
                                                .result_size = sizeof(int64_t),
                                                .init = q4_init,
                                                .add = q4_add,
                                                .merge = q4_merge,
                                                .result = q4_result};

static const char q4_columns[] = "id,final";

static int format_q4(const weir_rec *rec, char *buf, size_t cap)
{
    HEADER(rec, buf, cap, q4_columns);
    const struct weir_keyed_result *r = (const void *)rec->data;
    return snprintf(buf, cap, "%" PRIu64 ",%" PRId64, r->key, weir_result_i64(r->result));
}

static weir_stream *winning_bids(weir_stream *auctions, weir_key_fn akey, weir_stream *bids,
                                 weir_key_fn bkey, const struct wb_cfg *tmpl)
{
    struct wb_cfg *c = malloc(sizeof *c);
    if (!c)
        return NULL;
    *c = *tmpl;
    return own(weir_keyed_connect(weir_key_by(auctions, akey), weir_key_by(bids, bkey),
                                  "winning-bids", &wb_ops, &wb_kops, c),
               c);
}

static weir_stream *build_q4(weir_stream *events, const struct weir_nexmark_query_params *p)
{
    static const struct wb_cfg cfg = {.a_max = sizeof(struct q4_auction),
                                      .b_max = sizeof(struct q4_bid),
                                      .auction_view = q4_auction_view,
                                      .bid_view = q4_bid_view,
                                      .emit = q4_emit};
    weir_stream *auctions = weir_flat_map(events, "auctions", q4_auctions);
    weir_stream *bids = weir_flat_map(events, "bids", q4_bids);
    weir_stream *winners = winning_bids(auctions, q4_auction_id, bids, q4_bid_auction, &cfg);
    return weir_aggregate(weir_key_by(winners, q4_winner_category), "category-average", &q4_avg,
                          NULL);
}

/* --- q9: winning bids ------------------------------------------------------------ */

/* The auction event and its winning bid event, each padded to 8 bytes. */
struct q9_row {
    uint32_t auction_len, bid_len;
    unsigned char data[];
};

static void q9_auction_view(const unsigned char *p, struct wb_auction_view *v)
{
    const struct weir_nexmark_auction *a = (const void *)(p + sizeof(struct weir_nexmark_event));
    v->date_time = a->date_time;
    v->expires = a->expires;
}

static void q9_bid_view(const unsigned char *p, struct wb_bid_view *v)
{
    const struct weir_nexmark_event *e = (const void *)p;
    const struct weir_nexmark_bid *b = (const void *)(e + 1);
    v->price = b->price;
    v->date_time = b->date_time;
    v->event = e->event_number;
}

static int q9_emit(const struct slot *a, const struct slot *b, int64_t ts, weir_emit *out)
{
    uint32_t apad = (a->len + 7u) & ~7u;
    struct q9_row *r = weir_emit_reserve(out, (uint32_t)sizeof *r + apad + b->len);
    if (!r)
        return -EMSGSIZE;
    r->auction_len = a->len;
    r->bid_len = b->len;
    memcpy(r->data, a->data, a->len);
    memcpy(r->data + apad, b->data, b->len);
    return weir_emit_commit(out, ts);
}

static const char q9_columns[] =
    "id,itemName,description,initialBid,reserve,dateTime,expires,seller,category,extra,"
    "auction,bidder,price,bid_dateTime,bid_extra";

static int format_q9(const weir_rec *rec, char *buf, size_t cap)
{
    HEADER(rec, buf, cap, q9_columns);
    const struct q9_row *r = (const void *)rec->data;
    const struct weir_nexmark_event *ae = (const void *)r->data;
    const struct weir_nexmark_event *be = (const void *)(r->data + ((r->auction_len + 7u) & ~7u));
    const struct weir_nexmark_auction *a = (const void *)(ae + 1);
    const struct weir_nexmark_bid *b = (const void *)(be + 1);
    return snprintf(buf, cap,
                    "%" PRId64 ",%s,%s,%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64
                    ",%" PRId64 ",%.*s,%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64 ",%.*s",
                    a->id, a->item_name, a->description, a->initial_bid, a->reserve, a->date_time,
                    a->expires, a->seller, a->category, (int)ae->extra_len, weir_nexmark_extra(ae),
                    b->auction, b->bidder, b->price, b->date_time, (int)be->extra_len,
                    weir_nexmark_extra(be));
}

static weir_stream *build_q9(weir_stream *events, const struct weir_nexmark_query_params *p)
{
    struct wb_cfg cfg = {.a_max = max_event_size(p, WEIR_NEXMARK_AUCTION),
                         .b_max = max_event_size(p, WEIR_NEXMARK_BID),
                         .auction_view = q9_auction_view,
                         .bid_view = q9_bid_view,
                         .emit = q9_emit};
    weir_stream *auctions = weir_filter(events, "auctions", is_auction);
    weir_stream *bids = weir_filter(events, "bids", is_bid);
    return winning_bids(auctions, raw_auction_id, bids, raw_bid_auction, &cfg);
}

/* ==================================================================================
 * q5: hot items
 * ================================================================================== */

struct q5_bid {
    int64_t auction;
};

struct q5_row {
    int64_t auction, num;
};

static int q5_bids(weir_ctx *ctx, const weir_rec *in, weir_emit *out)
{
    const struct weir_nexmark_bid *b = weir_nexmark_bid(in);
    if (!b)
        return 0;
    struct q5_bid r = {b->auction};
    return weir_emit_copy(out, in->ts, &r, sizeof r);
}

static uint64_t q5_bid_auction(const weir_rec *r)
{
    return (uint64_t)((const struct q5_bid *)(const void *)r->data)->auction;
}

static uint64_t window_result_end(const weir_rec *r)
{
    return (uint64_t)((const struct weir_window_result *)(const void *)r->data)->end;
}

/* Per window (the key: its end), the highest count and the auctions with it;
 * an event-time timer at the window's end - 1 emits them once every count of
 * the window has arrived (window results precede the watermark that fired
 * them). */
struct q5_state {
    weir_keyed_backend *be;
    weir_value_state *max;
    weir_list_state *auctions;
    int64_t *ids;
    uint32_t ids_cap;
};

static int q5_open(weir_ctx *ctx, void *state, void *arg)
{
    struct q5_state *s = state;
    s->be = weir_ctx_state(ctx);
    if (!s->be)
        return -EINVAL;
    s->max = weir_value_state_get(s->be, "max", sizeof(int64_t), NULL);
    s->auctions = weir_list_state_get(s->be, "auctions", sizeof(int64_t), NULL);
    return s->max && s->auctions ? 0 : -ENOMEM;
}

static void q5_close(weir_ctx *ctx, void *state)
{
    free(((struct q5_state *)state)->ids);
}

static int q5_process(weir_ctx *ctx, void *state, int input, const weir_rec *in, weir_emit *out)
{
    struct q5_state *s = state;
    const struct weir_window_result *w = (const void *)in->data;
    int64_t count = weir_result_i64(w->result), auction = (int64_t)w->key;
    weir_keyed_backend_set_namespace(s->be, 0);
    const int64_t *max = weir_value_get(s->max);
    int rc;
    if (max && count < *max)
        return 0;
    if (max && count == *max)
        return weir_list_add(s->auctions, &auction);
    bool first = !max;
    if ((rc = weir_value_put(s->max, &count)) < 0 ||
        (rc = weir_list_update(s->auctions, &auction, 1)) < 0)
        return rc;
    return first ? weir_timer_register(ctx, WEIR_EVENT_TIME, 0, in->ts) : 0;
}

static int q5_on_timer(weir_ctx *ctx, void *state, enum weir_time_domain d, uint64_t ns, int64_t ts,
                       weir_emit *out)
{
    struct q5_state *s = state;
    weir_keyed_backend_set_namespace(s->be, 0);
    const int64_t *max = weir_value_get(s->max);
    if (!max)
        return 0;
    int64_t num = *max;
    const void *elems;
    uint32_t n;
    int rc = weir_list_get(s->auctions, &elems, &n);
    if (rc < 0 || n == 0)
        return rc;
    if (n > s->ids_cap) {
        int64_t *ids = realloc(s->ids, n * sizeof *ids);
        if (!ids)
            return -ENOMEM;
        s->ids = ids;
        s->ids_cap = n;
    }
    memcpy(s->ids, elems, n * sizeof *s->ids);
    for (uint32_t i = 0; i < n && rc == 0; i++) {
        struct q5_row r = {s->ids[i], num};
        rc = weir_emit_copy(out, ts, &r, sizeof r);
    }
    if (rc == 0 && (rc = weir_value_clear(s->max)) == 0)
        rc = weir_list_clear(s->auctions);
    return rc;
}

static const struct weir_operator_ops q5_ops = {.kind = "hot-items",
                                                .state_size = sizeof(struct q5_state),
                                                .open = q5_open,
                                                .process = q5_process,
                                                .close = q5_close};
static const struct weir_keyed_ops q5_kops = {.on_timer = q5_on_timer};

static const char q5_columns[] = "auction,num";

static int format_q5(const weir_rec *rec, char *buf, size_t cap)
{
    HEADER(rec, buf, cap, q5_columns);
    const struct q5_row *r = (const void *)rec->data;
    return snprintf(buf, cap, "%" PRId64 ",%" PRId64, r->auction, r->num);
}

static weir_stream *build_q5(weir_stream *events, const struct weir_nexmark_query_params *p)
{
    int64_t slide = p && p->slide_ms > 0 ? p->slide_ms : SUITE_SLIDE_MS;
    weir_stream *bids = weir_flat_map(events, "bids", q5_bids);
    weir_stream *counts =
        weir_window_aggregate(weir_key_by(bids, q5_bid_auction), "auction-bids",
                              weir_sliding(window_ms(p), slide), &weir_agg_count, NULL, NULL);
    return weir_keyed_transform(weir_key_by(counts, window_result_end), "hot-items", &q5_ops,
                                &q5_kops, NULL);
}

/* ==================================================================================
 * q7: highest bid
 * ================================================================================== */

struct q7_cfg {
    int64_t size_ms;
    uint32_t bid_max; /* largest bid event */
};

/* Stage one, per source subtask (operator state): the open windows, each with
 * its highest price and the bids that have it. */
struct q7_window {
    int64_t start, max;
    uint32_t n, cap;
    unsigned char *bids; /* n slots */
};

struct q7_local {
    const struct q7_cfg *c;
    uint32_t slot;
    struct q7_window *w;
    uint32_t n, cap;
    int64_t wm;
};

static int q7_local_open(weir_ctx *ctx, void *state, void *arg)
{
    struct q7_local *s = state;
    s->c = arg;
    s->slot = slot_size(s->c->bid_max);
    s->wm = INT64_MIN;
    return 0;
}

static void q7_local_close(weir_ctx *ctx, void *state)
{
    struct q7_local *s = state;
    for (uint32_t i = 0; i < s->n; i++)
        free(s->w[i].bids);
    free(s->w);
}

static struct q7_window *q7_window_get(struct q7_local *s, int64_t start)
{
    for (uint32_t i = 0; i < s->n; i++)
        if (s->w[i].start == start)
            return &s->w[i];
    if (s->n == s->cap) {
        uint32_t ncap = s->cap ? s->cap * 2 : 4;
        struct q7_window *w = realloc(s->w, ncap * sizeof *w);
        if (!w)
            return NULL;
        s->w = w;
        s->cap = ncap;
    }
    /* kept sorted by start: windows fire in order */
    uint32_t at = s->n;
    while (at > 0 && s->w[at - 1].start > start)
        at--;
    memmove(&s->w[at + 1], &s->w[at], (s->n - at) * sizeof *s->w);
    s->n++;
    s->w[at] = (struct q7_window){.start = start, .max = INT64_MIN};
    return &s->w[at];
}

static int q7_window_add(struct q7_local *s, struct q7_window *w, const void *payload, uint32_t len)
{
    if (w->n == w->cap) {
        uint32_t ncap = w->cap ? w->cap * 2 : 2;
        unsigned char *b = realloc(w->bids, (size_t)ncap * s->slot);
        if (!b)
            return -ENOMEM;
        w->bids = b;
        w->cap = ncap;
    }
    struct slot *sl = (void *)(w->bids + (size_t)w->n++ * s->slot);
    sl->len = len;
    sl->pad = 0;
    memcpy(sl->data, payload, len);
    return 0;
}

static int q7_local_process(weir_ctx *ctx, void *state, int input, const weir_rec *in,
                            weir_emit *out)
{
    struct q7_local *s = state;
    const struct weir_nexmark_bid *b = weir_nexmark_bid(in);
    if (!b)
        return 0;
    if (in->len > s->c->bid_max) {
        weir_ctx_fail(ctx, "%s: a bid of %" PRIu32 " bytes; slots hold %" PRIu32, weir_ctx_uid(ctx),
                      in->len, s->c->bid_max);
        return -EMSGSIZE;
    }
    int64_t start = weir_window_start(in->ts, 0, s->c->size_ms);
    if (start + s->c->size_ms - 1 <= s->wm)
        return 0; /* its window has fired: late (the sources keep order, so never) */
    struct q7_window *w = q7_window_get(s, start);
    if (!w)
        return -ENOMEM;
    if (b->price < w->max)
        return 0;
    if (b->price > w->max) {
        w->max = b->price;
        w->n = 0;
    }
    return q7_window_add(s, w, in->data, in->len);
}

/* Emits the windows that end at or before wm, oldest first. */
static int q7_local_fire(struct q7_local *s, int64_t wm, weir_emit *out)
{
    uint32_t done = 0;
    int rc = 0;
    for (; done < s->n && rc == 0; done++) {
        struct q7_window *w = &s->w[done];
        int64_t last = w->start + s->c->size_ms - 1;
        if (last > wm)
            break;
        for (uint32_t i = 0; i < w->n && rc == 0; i++) {
            const struct slot *sl = (const void *)(w->bids + (size_t)i * s->slot);
            rc = weir_emit_copy(out, last, sl->data, sl->len);
        }
        free(w->bids);
    }
    if (rc < 0)
        return rc;
    memmove(s->w, s->w + done, (s->n - done) * sizeof *s->w);
    s->n -= done;
    return 0;
}

static int q7_local_watermark(weir_ctx *ctx, void *state, int64_t wm, weir_emit *out)
{
    struct q7_local *s = state;
    s->wm = wm;
    int rc = q7_local_fire(s, wm, out);
    return rc < 0 ? rc : weir_emit_watermark(out, wm);
}

static int q7_local_end(weir_ctx *ctx, void *state, weir_emit *out)
{
    return q7_local_fire(state, INT64_MAX, out);
}

/* Operator state: the open windows and their bids. */
static int q7_local_snapshot(weir_ctx *ctx, void *state, uint64_t id, struct weir_snapshot_out *o)
{
    struct q7_local *s = state;
    uint64_t hdr[2] = {s->n, s->slot};
    int rc = o->write(o, hdr, sizeof hdr);
    for (uint32_t i = 0; i < s->n && rc == 0; i++) {
        const struct q7_window *w = &s->w[i];
        int64_t wh[3] = {w->start, w->max, (int64_t)w->n};
        rc = o->write(o, wh, sizeof wh);
        if (rc == 0 && w->n)
            rc = o->write(o, w->bids, (size_t)w->n * s->slot);
    }
    return rc;
}

static int q7_local_restore(weir_ctx *ctx, void *state, struct weir_snapshot_in *in)
{
    struct q7_local *s = state;
    uint64_t hdr[2];
    int rc = in->read(in, hdr, sizeof hdr);
    if (rc == -ENODATA)
        return 0;
    if (rc < 0)
        return rc;
    if (hdr[1] != s->slot) {
        weir_ctx_fail(ctx,
                      "%s: checkpoint holds bid slots of %" PRIu64 " bytes, this job %" PRIu32
                      " (another avg bid size?)",
                      weir_ctx_uid(ctx), hdr[1], s->slot);
        return -EINVAL;
    }
    for (uint64_t i = 0; i < hdr[0]; i++) {
        int64_t wh[3];
        if ((rc = in->read(in, wh, sizeof wh)) < 0)
            return rc;
        struct q7_window *w = q7_window_get(s, wh[0]);
        if (!w)
            return -ENOMEM;
        w->max = wh[1];
        w->n = 0;
        for (int64_t k = 0; k < wh[2]; k++) {
            if (w->n == w->cap) {
                uint32_t ncap = w->cap ? w->cap * 2 : 2;
                unsigned char *b = realloc(w->bids, (size_t)ncap * s->slot);
                if (!b)
                    return -ENOMEM;
                w->bids = b;
                w->cap = ncap;
            }
            if ((rc = in->read(in, w->bids + (size_t)w->n * s->slot, s->slot)) < 0)
                return rc;
            w->n++;
        }
    }
    return 0;
}

static const struct weir_operator_ops q7_local_ops = {.kind = "local-max",
                                                      .state_size = sizeof(struct q7_local),
                                                      .open = q7_local_open,
                                                      .process = q7_local_process,
                                                      .watermark = q7_local_watermark,
                                                      .end = q7_local_end,
                                                      .close = q7_local_close,
                                                      .snapshot = q7_local_snapshot,
                                                      .restore = q7_local_restore};

/* Stage two, keyed by window (its end - 1, the local winners' timestamp): the
 * highest of the local maxima and its bids, emitted at the window's end. */
struct q7_state {
    const struct q7_cfg *c;
    weir_keyed_backend *be;
    weir_value_state *max;
    weir_list_state *bids;
    uint32_t slot;
    struct slot *tmp;
    unsigned char *list_buf;
    uint32_t list_cap;
};

static int q7_open(weir_ctx *ctx, void *state, void *arg)
{
    struct q7_state *s = state;
    s->c = arg;
    s->be = weir_ctx_state(ctx);
    if (!s->be)
        return -EINVAL;
    s->slot = slot_size(s->c->bid_max);
    s->max = weir_value_state_get(s->be, "max", sizeof(int64_t), NULL);
    s->bids = weir_list_state_get(s->be, "bids", s->slot, NULL);
    s->tmp = calloc(1, s->slot);
    return s->max && s->bids && s->tmp ? 0 : -ENOMEM;
}

static void q7_close(weir_ctx *ctx, void *state)
{
    struct q7_state *s = state;
    free(s->tmp);
    free(s->list_buf);
}

static int q7_process(weir_ctx *ctx, void *state, int input, const weir_rec *in, weir_emit *out)
{
    struct q7_state *s = state;
    const struct weir_nexmark_bid *b = weir_nexmark_bid(in);
    if (!b)
        return -EINVAL;
    int rc = to_slot(ctx, in, s->c->bid_max, s->tmp);
    if (rc < 0)
        return rc;
    weir_keyed_backend_set_namespace(s->be, 0);
    const int64_t *max = weir_value_get(s->max);
    if (max && b->price < *max)
        return 0;
    if (max && b->price == *max)
        return weir_list_add(s->bids, s->tmp);
    bool first = !max;
    if ((rc = weir_value_put(s->max, &b->price)) < 0 ||
        (rc = weir_list_update(s->bids, s->tmp, 1)) < 0)
        return rc;
    return first ? weir_timer_register(ctx, WEIR_EVENT_TIME, 0, in->ts) : 0;
}

static int q7_on_timer(weir_ctx *ctx, void *state, enum weir_time_domain d, uint64_t ns, int64_t ts,
                       weir_emit *out)
{
    struct q7_state *s = state;
    weir_keyed_backend_set_namespace(s->be, 0);
    const void *elems;
    uint32_t n;
    int rc = weir_list_get(s->bids, &elems, &n);
    if (rc < 0 || n == 0)
        return rc;
    if (n > s->list_cap) {
        unsigned char *b = realloc(s->list_buf, (size_t)n * s->slot);
        if (!b)
            return -ENOMEM;
        s->list_buf = b;
        s->list_cap = n;
    }
    memcpy(s->list_buf, elems, (size_t)n * s->slot);
    for (uint32_t i = 0; i < n && rc == 0; i++) {
        const struct slot *sl = (const void *)(s->list_buf + (size_t)i * s->slot);
        rc = weir_emit_copy(out, ts, sl->data, sl->len);
    }
    if (rc == 0 && (rc = weir_value_clear(s->max)) == 0)
        rc = weir_list_clear(s->bids);
    return rc;
}

static const struct weir_operator_ops q7_ops = {.kind = "highest-bid",
                                                .state_size = sizeof(struct q7_state),
                                                .open = q7_open,
                                                .process = q7_process,
                                                .close = q7_close};
static const struct weir_keyed_ops q7_kops = {.on_timer = q7_on_timer};

static uint64_t rec_ts_key(const weir_rec *r)
{
    return (uint64_t)r->ts;
}

static weir_stream *build_q7(weir_stream *events, const struct weir_nexmark_query_params *p)
{
    struct q7_cfg *c = malloc(sizeof *c);
    if (!c)
        return NULL;
    *c = (struct q7_cfg){.size_ms = window_ms(p), .bid_max = max_event_size(p, WEIR_NEXMARK_BID)};
    weir_stream *local = own(weir_transform(events, "local-max", &q7_local_ops, c), c);
    /* Stage two reads the same config; the job frees it once, with stage one. */
    return weir_keyed_transform(weir_key_by(local, rec_ts_key), "highest-bid", &q7_ops, &q7_kops,
                                c);
}

/* ==================================================================================
 * q8: monitor new users (window join)
 * ================================================================================== */

struct q8_person {
    uint64_t event;
    int64_t id;
    char name[WEIR_NEXMARK_NAME_CAP];
};

struct q8_seller {
    uint64_t event;
    int64_t seller;
};

struct q8_row {
    int64_t id, start;
    char name[WEIR_NEXMARK_NAME_CAP];
};

static int q8_persons(weir_ctx *ctx, const weir_rec *in, weir_emit *out)
{
    const struct weir_nexmark_person *p = weir_nexmark_person(in);
    if (!p)
        return 0;
    struct q8_person r = {.event = ev(in)->event_number, .id = p->id};
    copy_str(r.name, sizeof r.name, p->name, p->name_len);
    return weir_emit_copy(out, in->ts, &r, sizeof r);
}

static int q8_sellers(weir_ctx *ctx, const weir_rec *in, weir_emit *out)
{
    const struct weir_nexmark_auction *a = weir_nexmark_auction(in);
    if (!a)
        return 0;
    struct q8_seller r = {ev(in)->event_number, a->seller};
    return weir_emit_copy(out, in->ts, &r, sizeof r);
}

static uint64_t q8_person_id(const weir_rec *r)
{
    return (uint64_t)((const struct q8_person *)(const void *)r->data)->id;
}

static uint64_t q8_seller_id(const weir_rec *r)
{
    return (uint64_t)((const struct q8_seller *)(const void *)r->data)->seller;
}

/* Per person id and window (namespace = window start): the person's name when
 * they joined in it, and whether they sold in it; the window's end emits the
 * person when both hold. */
struct q8_state {
    const int64_t *size_ms;
    weir_keyed_backend *be;
    weir_value_state *person, *sold;
};

static int q8_open(weir_ctx *ctx, void *state, void *arg)
{
    struct q8_state *s = state;
    s->size_ms = arg;
    s->be = weir_ctx_state(ctx);
    if (!s->be)
        return -EINVAL;
    s->person = weir_value_state_get(s->be, "person", WEIR_NEXMARK_NAME_CAP, NULL);
    s->sold = weir_value_state_get(s->be, "sold", sizeof(int64_t), NULL);
    return s->person && s->sold ? 0 : -ENOMEM;
}

static int q8_process(weir_ctx *ctx, void *state, int input, const weir_rec *in, weir_emit *out)
{
    struct q8_state *s = state;
    int64_t start = weir_window_start(in->ts, 0, *s->size_ms);
    int64_t last = start + *s->size_ms - 1;
    if (last <= weir_ctx_watermark(ctx)) {
        weir_ctx_count_late(ctx);
        return 0;
    }
    weir_keyed_backend_set_namespace(s->be, (uint64_t)start);
    int rc;
    if (input == 0)
        rc = weir_value_put(s->person, ((const struct q8_person *)(const void *)in->data)->name);
    else
        rc = weir_value_put(s->sold, &(int64_t){1});
    return rc < 0 ? rc : weir_timer_register(ctx, WEIR_EVENT_TIME, (uint64_t)start, last);
}

static int q8_on_timer(weir_ctx *ctx, void *state, enum weir_time_domain d, uint64_t ns, int64_t ts,
                       weir_emit *out)
{
    struct q8_state *s = state;
    weir_keyed_backend_set_namespace(s->be, ns);
    const char *name = weir_value_get(s->person);
    struct q8_row r = {.id = (int64_t)weir_ctx_current_key(ctx), .start = (int64_t)ns};
    bool have_person = name != NULL;
    if (name)
        memcpy(r.name, name, sizeof r.name);
    bool sold = weir_value_get(s->sold) != NULL;
    int rc = 0;
    if (have_person && sold)
        rc = weir_emit_copy(out, ts, &r, sizeof r);
    if (rc == 0 && have_person)
        rc = weir_value_clear(s->person);
    if (rc == 0 && sold)
        rc = weir_value_clear(s->sold);
    return rc;
}

static const struct weir_operator_ops q8_ops = {.kind = "new-users",
                                                .state_size = sizeof(struct q8_state),
                                                .open = q8_open,
                                                .process = q8_process};
static const struct weir_keyed_ops q8_kops = {.on_timer = q8_on_timer};

static const char q8_columns[] = "id,name,stime";

static int format_q8(const weir_rec *rec, char *buf, size_t cap)
{
    HEADER(rec, buf, cap, q8_columns);
    const struct q8_row *r = (const void *)rec->data;
    return snprintf(buf, cap, "%" PRId64 ",%s,%" PRId64, r->id, r->name, r->start);
}

static weir_stream *build_q8(weir_stream *events, const struct weir_nexmark_query_params *p)
{
    int64_t *size = malloc(sizeof *size);
    if (!size)
        return NULL;
    *size = window_ms(p);
    weir_stream *persons = weir_flat_map(events, "persons", q8_persons);
    weir_stream *sellers = weir_flat_map(events, "sellers", q8_sellers);
    return own(weir_keyed_connect(weir_key_by(persons, q8_person_id),
                                  weir_key_by(sellers, q8_seller_id), "new-users", &q8_ops,
                                  &q8_kops, size),
               size);
}

/* ==================================================================================
 * q11: user sessions; q12: processing-time windows
 * ================================================================================== */

struct bidder_rec {
    int64_t bidder;
};

static int bidders(weir_ctx *ctx, const weir_rec *in, weir_emit *out)
{
    const struct weir_nexmark_bid *b = weir_nexmark_bid(in);
    if (!b)
        return 0;
    struct bidder_rec r = {b->bidder};
    return weir_emit_copy(out, in->ts, &r, sizeof r);
}

static uint64_t bidder_key(const weir_rec *r)
{
    return (uint64_t)((const struct bidder_rec *)(const void *)r->data)->bidder;
}

static const char count_window_columns[] = "bidder,bid_count,starttime,endtime";

static int format_count_window(const weir_rec *rec, char *buf, size_t cap)
{
    HEADER(rec, buf, cap, count_window_columns);
    const struct weir_window_result *r = (const void *)rec->data;
    return snprintf(buf, cap, "%" PRIu64 ",%" PRId64 ",%" PRId64 ",%" PRId64, r->key,
                    weir_result_i64(r->result), r->start, r->end);
}

static weir_stream *build_q11(weir_stream *events, const struct weir_nexmark_query_params *p)
{
    weir_stream *b = weir_flat_map(events, "bidders", bidders);
    return weir_window_aggregate(weir_key_by(b, bidder_key), "user-sessions",
                                 weir_session(window_ms(p)), &weir_agg_count, NULL, NULL);
}

static weir_stream *build_q12(weir_stream *events, const struct weir_nexmark_query_params *p)
{
    weir_stream *b = weir_flat_map(events, "bidders", bidders);
    return weir_window_aggregate(weir_key_by(b, bidder_key), "processing-time-windows",
                                 weir_processing_time(weir_tumbling(window_ms(p))), &weir_agg_count,
                                 NULL, NULL);
}

/* ==================================================================================
 * q14: calculation
 * ================================================================================== */

enum { Q14_DAY = 0, Q14_NIGHT = 1, Q14_OTHER = 2 };

struct q14_row {
    uint64_t event;
    int64_t auction, bidder, price_milli, date_time, c_counts;
    uint32_t time_type, extra_len;
    char extra[];
};

static int q14_map(weir_ctx *ctx, const weir_rec *in, weir_emit *out)
{
    const struct weir_nexmark_bid *b = weir_nexmark_bid(in);
    if (!b)
        return 0;
    int64_t milli = b->price * 908; /* 0.908 * price, exactly, in thousandths */
    if (!(milli > INT64_C(1000000) * 1000 && milli < INT64_C(50000000) * 1000))
        return 0;
    const struct weir_nexmark_event *e = ev(in);
    const char *extra = weir_nexmark_extra(e);
    struct q14_row *r = weir_emit_reserve(out, (uint32_t)sizeof *r + e->extra_len + 1);
    if (!r)
        return -EMSGSIZE;
    int64_t hour = floor_mod(b->date_time, 24 * WEIR_HOUR) / WEIR_HOUR; /* HOUR() in UTC */
    r->event = e->event_number;
    r->auction = b->auction;
    r->bidder = b->bidder;
    r->price_milli = milli;
    r->date_time = b->date_time;
    r->time_type = hour >= 8 && hour <= 18   ? Q14_DAY
                   : hour <= 6 || hour >= 20 ? Q14_NIGHT
                                             : Q14_OTHER;
    int64_t c = 0;
    for (uint32_t i = 0; i < e->extra_len; i++)
        c += extra[i] == 'c';
    r->c_counts = c;
    r->extra_len = e->extra_len;
    memcpy(r->extra, extra, e->extra_len + 1);
    return weir_emit_commit(out, in->ts);
}

static const char q14_columns[] = "auction,bidder,price,bidTimeType,dateTime,extra,c_counts";

static int format_q14(const weir_rec *rec, char *buf, size_t cap)
{
    HEADER(rec, buf, cap, q14_columns);
    static const char *const types[] = {"dayTime", "nightTime", "otherTime"};
    const struct q14_row *r = (const void *)rec->data;
    char price[32];
    format_milli(price, sizeof price, r->price_milli);
    return snprintf(buf, cap, "%" PRId64 ",%" PRId64 ",%s,%s,%" PRId64 ",%.*s,%" PRId64, r->auction,
                    r->bidder, price, types[r->time_type % 3], r->date_time, (int)r->extra_len,
                    r->extra, r->c_counts);
}

static weir_stream *build_q14(weir_stream *events, const struct weir_nexmark_query_params *p)
{
    return weir_flat_map(events, "calculation", q14_map);
}

/* ==================================================================================
 * q17: auction statistics report
 * ================================================================================== */

struct q17_bid {
    uint64_t event;
    int64_t auction, price, day;
};

struct q17_acc {
    int64_t total, rank1, rank2, rank3, min, max, sum;
    uint64_t last_event; /* the event of the latest update: the row's origin */
};

#define Q17_DAY_BITS 20

static int q17_bids(weir_ctx *ctx, const weir_rec *in, weir_emit *out)
{
    const struct weir_nexmark_bid *b = weir_nexmark_bid(in);
    if (!b)
        return 0;
    struct q17_bid r = {ev(in)->event_number, b->auction, b->price,
                        floor_div(b->date_time, 24 * WEIR_HOUR)};
    return weir_emit_copy(out, in->ts, &r, sizeof r);
}

/* auction << 20 | day (days since 1970-01-01, UTC). */
static uint64_t q17_key(const weir_rec *r)
{
    const struct q17_bid *b = (const void *)r->data;
    return (uint64_t)b->auction << Q17_DAY_BITS |
           ((uint64_t)b->day & ((UINT64_C(1) << Q17_DAY_BITS) - 1));
}

static void q17_init(void *acc)
{
    struct q17_acc *a = acc;
    *a = (struct q17_acc){.min = INT64_MAX, .max = INT64_MIN};
}

static void q17_add(void *acc, const void *in)
{
    struct q17_acc *a = acc;
    const struct q17_bid *b = in;
    a->total++;
    a->rank1 += b->price < 10000;
    a->rank2 += b->price >= 10000 && b->price < 1000000;
    a->rank3 += b->price >= 1000000;
    if (b->price < a->min)
        a->min = b->price;
    if (b->price > a->max)
        a->max = b->price;
    a->sum += b->price;
    a->last_event = b->event;
}

static void q17_result(const void *acc, void *out)
{
    memcpy(out, acc, sizeof(struct q17_acc));
}

static const struct weir_aggregate_fn q17_agg = {.acc_size = sizeof(struct q17_acc),
                                                 .result_size = sizeof(struct q17_acc),
                                                 .init = q17_init,
                                                 .add = q17_add,
                                                 .result = q17_result};

static const char q17_columns[] = "auction,day,total_bids,rank1_bids,rank2_bids,rank3_bids,"
                                  "min_price,max_price,avg_price,sum_price";

static int format_q17(const weir_rec *rec, char *buf, size_t cap)
{
    HEADER(rec, buf, cap, q17_columns);
    const struct weir_keyed_result *r = (const void *)rec->data;
    struct q17_acc a;
    memcpy(&a, r->result, sizeof a);
    time_t day = (time_t)(r->key & ((UINT64_C(1) << Q17_DAY_BITS) - 1)) * 86400;
    struct tm tm;
    gmtime_r(&day, &tm);
    return snprintf(buf, cap,
                    "%" PRIu64 ",%04d-%02d-%02d,%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64
                    ",%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64,
                    r->key >> Q17_DAY_BITS, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, a.total,
                    a.rank1, a.rank2, a.rank3, a.min, a.max, a.total ? a.sum / a.total : 0, a.sum);
}

static enum weir_nexmark_origin origin_q17(const weir_rec *row, int64_t *value)
{
    const struct weir_keyed_result *r = (const void *)row->data;
    struct q17_acc a;
    memcpy(&a, r->result, sizeof a);
    *value = (int64_t)a.last_event;
    return WEIR_NEXMARK_ORIGIN_EVENT;
}

static weir_stream *build_q17(weir_stream *events, const struct weir_nexmark_query_params *p)
{
    weir_stream *b = weir_flat_map(events, "bids", q17_bids);
    return weir_aggregate(weir_key_by(b, q17_key), "auction-day-stats", &q17_agg, NULL);
}

/* ==================================================================================
 * q18: find last bid
 * ================================================================================== */

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

/* ==================================================================================
 * q19: auction top-10 price
 * ================================================================================== */

#define Q19_N 10

struct q19_row {
    uint64_t event; /* the bid whose arrival changed the ranking */
    uint32_t rank, len;
    unsigned char bid[]; /* the bid event at this rank */
};

/* Per auction: its best bids (at most 10 slots) in rank order. */
struct q19_state {
    const uint32_t *bid_max;
    weir_keyed_backend *be;
    weir_list_state *top;
    uint32_t slot;
    unsigned char *buf; /* Q19_N + 1 slots */
};

static int q19_open(weir_ctx *ctx, void *state, void *arg)
{
    struct q19_state *s = state;
    s->bid_max = arg;
    s->be = weir_ctx_state(ctx);
    if (!s->be)
        return -EINVAL;
    s->slot = slot_size(*s->bid_max);
    s->top = weir_list_state_get(s->be, "top", s->slot, NULL);
    s->buf = calloc(Q19_N + 1, s->slot);
    return s->top && s->buf ? 0 : -ENOMEM;
}

static void q19_close(weir_ctx *ctx, void *state)
{
    free(((struct q19_state *)state)->buf);
}

static int64_t slot_bid_price(const unsigned char *slot)
{
    const struct slot *sl = (const void *)slot;
    const struct weir_nexmark_event *e = (const void *)sl->data;
    return ((const struct weir_nexmark_bid *)(const void *)(e + 1))->price;
}

static int q19_process(weir_ctx *ctx, void *state, int input, const weir_rec *in, weir_emit *out)
{
    struct q19_state *s = state;
    const struct weir_nexmark_bid *b = weir_nexmark_bid(in);
    if (!b)
        return -EINVAL;
    if (in->len > *s->bid_max) {
        weir_ctx_fail(ctx, "%s: a bid of %" PRIu32 " bytes; slots hold %" PRIu32, weir_ctx_uid(ctx),
                      in->len, *s->bid_max);
        return -EMSGSIZE;
    }
    weir_keyed_backend_set_namespace(s->be, 0);
    const void *elems;
    uint32_t n;
    int rc = weir_list_get(s->top, &elems, &n);
    if (rc < 0)
        return rc;
    if (n > Q19_N)
        n = Q19_N;
    /* rank: after every bid with a price >= this one (earlier arrivals win ties) */
    uint32_t at = 0;
    while (at < n &&
           slot_bid_price((const unsigned char *)elems + (size_t)at * s->slot) >= b->price)
        at++;
    if (at == Q19_N)
        return 0;
    if (n) { /* an absent list is NULL: memcpy may not see it, even for 0 bytes */
        memcpy(s->buf, elems, (size_t)at * s->slot);
        memcpy(s->buf + (size_t)(at + 1) * s->slot,
               (const unsigned char *)elems + (size_t)at * s->slot, (size_t)(n - at) * s->slot);
    }
    struct slot *sl = (void *)(s->buf + (size_t)at * s->slot);
    memset(sl, 0, s->slot);
    sl->len = in->len;
    memcpy(sl->data, in->data, in->len);
    if (n < Q19_N)
        n++;
    if ((rc = weir_list_update(s->top, s->buf, n)) < 0)
        return rc;
    /* Every rank from the new bid's down changed. */
    uint64_t event = ev(in)->event_number;
    for (uint32_t i = at; i < n && rc == 0; i++) {
        const struct slot *x = (const void *)(s->buf + (size_t)i * s->slot);
        struct q19_row *r = weir_emit_reserve(out, (uint32_t)sizeof *r + x->len);
        if (!r)
            return -EMSGSIZE;
        r->event = event;
        r->rank = i + 1;
        r->len = x->len;
        memcpy(r->bid, x->data, x->len);
        rc = weir_emit_commit(out, in->ts);
    }
    return rc;
}

static const struct weir_operator_ops q19_ops = {.kind = "top-10",
                                                 .state_size = sizeof(struct q19_state),
                                                 .open = q19_open,
                                                 .process = q19_process,
                                                 .close = q19_close};

static const char q19_columns[] = "auction,bidder,price,channel,url,dateTime,extra,rank_number";

static int format_q19(const weir_rec *rec, char *buf, size_t cap)
{
    HEADER(rec, buf, cap, q19_columns);
    const struct q19_row *r = (const void *)rec->data;
    int n = weir_nexmark_event_csv((const void *)r->bid, buf, cap);
    if (n < 0)
        return n;
    size_t used = (size_t)n < cap ? (size_t)n : cap;
    int m = snprintf(buf + used, cap - used, ",%" PRIu32, r->rank);
    if ((size_t)n >= cap) /* the bid did not fit: say how long the whole row is */
        m = snprintf(NULL, 0, ",%" PRIu32, r->rank);
    return m < 0 ? m : n + m;
}

static uint64_t bid_auction_key(const weir_rec *r)
{
    return (uint64_t)weir_nexmark_bid(r)->auction;
}

static weir_stream *build_q19(weir_stream *events, const struct weir_nexmark_query_params *p)
{
    uint32_t *bid_max = malloc(sizeof *bid_max);
    if (!bid_max)
        return NULL;
    *bid_max = max_event_size(p, WEIR_NEXMARK_BID);
    weir_stream *bids = weir_filter(events, "bids", is_bid);
    return own(weir_keyed_transform(weir_key_by(bids, bid_auction_key), "top-10", &q19_ops,
                                    &no_timers, bid_max),
               bid_max);
}

/* ==================================================================================
 * q20: expand bid with auction
 * ================================================================================== */

/* The bid event and its auction event, each padded to 8 bytes. */
struct q20_row {
    uint64_t event;
    uint32_t bid_len, auction_len;
    unsigned char data[];
};

/* Per auction id: the auction when its category is 10, a marker when it is
 * not, and the bids that came before it. */
struct q20_state {
    const struct wb_cfg *c; /* a_max, b_max */
    weir_keyed_backend *be;
    weir_value_state *auction, *other;
    weir_list_state *pending;
    uint32_t a_slot, b_slot;
    struct slot *a_buf, *tmp;
    unsigned char *list_buf;
    uint32_t list_cap;
};

static int q20_open(weir_ctx *ctx, void *state, void *arg)
{
    struct q20_state *s = state;
    s->c = arg;
    s->be = weir_ctx_state(ctx);
    if (!s->be)
        return -EINVAL;
    s->a_slot = slot_size(s->c->a_max);
    s->b_slot = slot_size(s->c->b_max);
    s->auction = weir_value_state_get(s->be, "auction", s->a_slot, NULL);
    s->other = weir_value_state_get(s->be, "other-category", sizeof(int64_t), NULL);
    s->pending = weir_list_state_get(s->be, "pending", s->b_slot, NULL);
    s->a_buf = calloc(1, s->a_slot);
    s->tmp = calloc(1, s->b_slot);
    return s->auction && s->other && s->pending && s->a_buf && s->tmp ? 0 : -ENOMEM;
}

static void q20_close(weir_ctx *ctx, void *state)
{
    struct q20_state *s = state;
    free(s->a_buf);
    free(s->tmp);
    free(s->list_buf);
}

static int q20_emit(const struct slot *bid, const struct slot *auction, uint64_t event, int64_t ts,
                    weir_emit *out)
{
    uint32_t bpad = (bid->len + 7u) & ~7u;
    struct q20_row *r = weir_emit_reserve(out, (uint32_t)sizeof *r + bpad + auction->len);
    if (!r)
        return -EMSGSIZE;
    r->event = event;
    r->bid_len = bid->len;
    r->auction_len = auction->len;
    memcpy(r->data, bid->data, bid->len);
    memcpy(r->data + bpad, auction->data, auction->len);
    return weir_emit_commit(out, ts);
}

static int q20_process(weir_ctx *ctx, void *state, int input, const weir_rec *in, weir_emit *out)
{
    struct q20_state *s = state;
    weir_keyed_backend_set_namespace(s->be, 0);
    int rc;
    if (input == 0) {
        const struct weir_nexmark_auction *a = weir_nexmark_auction(in);
        bool wanted = a->category == 10;
        if (!wanted) {
            if ((rc = weir_value_put(s->other, &(int64_t){1})) < 0)
                return rc;
        } else {
            if ((rc = to_slot(ctx, in, s->c->a_max, s->a_buf)) < 0 ||
                (rc = weir_value_put(s->auction, s->a_buf)) < 0)
                return rc;
        }
        const void *elems;
        uint32_t n;
        if ((rc = weir_list_get(s->pending, &elems, &n)) < 0 || n == 0)
            return rc;
        if (n > s->list_cap) {
            unsigned char *b = realloc(s->list_buf, (size_t)n * s->b_slot);
            if (!b)
                return -ENOMEM;
            s->list_buf = b;
            s->list_cap = n;
        }
        memcpy(s->list_buf, elems, (size_t)n * s->b_slot);
        if ((rc = weir_list_clear(s->pending)) < 0 || !wanted)
            return rc;
        uint64_t event = ev(in)->event_number;
        for (uint32_t i = 0; i < n && rc == 0; i++)
            rc = q20_emit((const void *)(s->list_buf + (size_t)i * s->b_slot), s->a_buf, event,
                          in->ts, out);
        return rc;
    }
    if ((rc = to_slot(ctx, in, s->c->b_max, s->tmp)) < 0)
        return rc;
    const struct slot *a = weir_value_get(s->auction);
    if (a) {
        memcpy(s->a_buf, a, sizeof *a + a->len);
        return q20_emit(s->tmp, s->a_buf, ev(in)->event_number, in->ts, out);
    }
    if (weir_value_get(s->other))
        return 0;
    return weir_list_add(s->pending, s->tmp);
}

static const struct weir_operator_ops q20_ops = {.kind = "expand-bid",
                                                 .state_size = sizeof(struct q20_state),
                                                 .open = q20_open,
                                                 .process = q20_process,
                                                 .close = q20_close};

static const char q20_columns[] =
    "auction,bidder,price,channel,url,bid_dateTime,bid_extra,itemName,description,initialBid,"
    "reserve,auction_dateTime,expires,seller,category,auction_extra";

static int format_q20(const weir_rec *rec, char *buf, size_t cap)
{
    HEADER(rec, buf, cap, q20_columns);
    const struct q20_row *r = (const void *)rec->data;
    const struct weir_nexmark_event *be = (const void *)r->data;
    const struct weir_nexmark_event *ae = (const void *)(r->data + ((r->bid_len + 7u) & ~7u));
    const struct weir_nexmark_bid *b = (const void *)(be + 1);
    const struct weir_nexmark_auction *a = (const void *)(ae + 1);
    return snprintf(buf, cap,
                    "%" PRId64 ",%" PRId64 ",%" PRId64 ",%s,%s,%" PRId64 ",%.*s,%s,%s,%" PRId64
                    ",%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64 ",%.*s",
                    b->auction, b->bidder, b->price, b->channel, b->url, b->date_time,
                    (int)be->extra_len, weir_nexmark_extra(be), a->item_name, a->description,
                    a->initial_bid, a->reserve, a->date_time, a->expires, a->seller, a->category,
                    (int)ae->extra_len, weir_nexmark_extra(ae));
}

static weir_stream *build_q20(weir_stream *events, const struct weir_nexmark_query_params *p)
{
    struct wb_cfg *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->a_max = max_event_size(p, WEIR_NEXMARK_AUCTION);
    c->b_max = max_event_size(p, WEIR_NEXMARK_BID);
    weir_stream *auctions = weir_filter(events, "auctions", is_auction);
    weir_stream *bids = weir_filter(events, "bids", is_bid);
    return own(weir_keyed_connect(weir_key_by(auctions, raw_auction_id),
                                  weir_key_by(bids, raw_bid_auction), "expand-bid", &q20_ops,
                                  &no_timers, c),
               c);
}

/* ==================================================================================
 * q21: add channel id; q22: get URL directories
 * ================================================================================== */

struct q21_row {
    uint64_t event;
    int64_t auction, bidder, price;
    char channel[WEIR_NEXMARK_CHANNEL_CAP];
    char channel_id[WEIR_NEXMARK_URL_CAP];
};

/* REGEXP_EXTRACT(url, '(&|^)channel_id=([^&]*)', 2): the first channel_id
 * parameter at the start or after '&'; NULL when there is none. */
static const char *url_channel_id(const char *url, size_t *len)
{
    static const char key[] = "channel_id=";
    for (const char *p = url; (p = strstr(p, key)) != NULL; p++) {
        if (p != url && p[-1] != '&')
            continue;
        const char *v = p + sizeof key - 1;
        *len = strcspn(v, "&");
        return v;
    }
    return NULL;
}

static int q21_map(weir_ctx *ctx, const weir_rec *in, weir_emit *out)
{
    static const char *const known[] = {"apple", "google", "facebook", "baidu"};
    const struct weir_nexmark_bid *b = weir_nexmark_bid(in);
    if (!b)
        return 0;
    int k = -1;
    for (int i = 0; i < 4 && k < 0; i++)
        if (strcasecmp(b->channel, known[i]) == 0)
            k = i;
    size_t idlen = 0;
    const char *id = k < 0 ? url_channel_id(b->url, &idlen) : NULL;
    if (k < 0 && !id)
        return 0;
    struct q21_row *r = weir_emit_reserve(out, sizeof *r);
    if (!r)
        return -EMSGSIZE;
    memset(r, 0, sizeof *r);
    r->event = ev(in)->event_number;
    r->auction = b->auction;
    r->bidder = b->bidder;
    r->price = b->price;
    copy_str(r->channel, sizeof r->channel, b->channel, b->channel_len);
    if (k >= 0)
        r->channel_id[0] = (char)('0' + k);
    else
        copy_str(r->channel_id, sizeof r->channel_id, id, idlen);
    return weir_emit_commit(out, in->ts);
}

static const char q21_columns[] = "auction,bidder,price,channel,channel_id";

static int format_q21(const weir_rec *rec, char *buf, size_t cap)
{
    HEADER(rec, buf, cap, q21_columns);
    const struct q21_row *r = (const void *)rec->data;
    return snprintf(buf, cap, "%" PRId64 ",%" PRId64 ",%" PRId64 ",%s,%s", r->auction, r->bidder,
                    r->price, r->channel, r->channel_id);
}

static weir_stream *build_q21(weir_stream *events, const struct weir_nexmark_query_params *p)
{
    return weir_flat_map(events, "channel-id", q21_map);
}

struct q22_row {
    uint64_t event;
    int64_t auction, bidder, price;
    char channel[WEIR_NEXMARK_CHANNEL_CAP];
    /* dir1..dir3 in text, NUL-separated; a missing part is an empty string
     * (SQL NULL, an empty CSV field) */
    char text[WEIR_NEXMARK_URL_CAP];
};

static int q22_map(weir_ctx *ctx, const weir_rec *in, weir_emit *out)
{
    const struct weir_nexmark_bid *b = weir_nexmark_bid(in);
    if (!b)
        return 0;
    struct q22_row *r = weir_emit_reserve(out, sizeof *r);
    if (!r)
        return -EMSGSIZE;
    memset(r, 0, sizeof *r);
    r->event = ev(in)->event_number;
    r->auction = b->auction;
    r->bidder = b->bidder;
    r->price = b->price;
    copy_str(r->channel, sizeof r->channel, b->channel, b->channel_len);
    /* SPLIT_INDEX(url, '/', 3..5): zero-based parts between '/' */
    const char *p = b->url, *end = b->url + strnlen(b->url, sizeof b->url);
    size_t used = 0;
    for (int part = 0; part <= 5 && p <= end; part++) {
        const char *q = memchr(p, '/', (size_t)(end - p));
        if (!q)
            q = end;
        if (part >= 3) {
            size_t len = (size_t)(q - p);
            memcpy(r->text + used, p, len); /* the three parts are shorter than the url */
            used += len + 1;
        }
        p = q + 1;
    }
    return weir_emit_commit(out, in->ts);
}

static const char q22_columns[] = "auction,bidder,price,channel,dir1,dir2,dir3";

static int format_q22(const weir_rec *rec, char *buf, size_t cap)
{
    HEADER(rec, buf, cap, q22_columns);
    const struct q22_row *r = (const void *)rec->data;
    const char *d1 = r->text, *d2 = d1 + strlen(d1) + 1, *d3 = d2 + strlen(d2) + 1;
    return snprintf(buf, cap, "%" PRId64 ",%" PRId64 ",%" PRId64 ",%s,%s,%s,%s", r->auction,
                    r->bidder, r->price, r->channel, d1, d2, d3);
}

static weir_stream *build_q22(weir_stream *events, const struct weir_nexmark_query_params *p)
{
    return weir_flat_map(events, "url-directories", q22_map);
}

/* ==================================================================================
 * The table
 * ================================================================================== */

const struct weir_nexmark_query weir_nexmark_queries[] = {
    {"q0", "Pass Through", "every bid, unchanged (filter)", bid5_columns, build_q0, format_bid5,
     origin_event_header, NULL},
    {"q1", "Currency Conversion", "every bid with its price in euros (map)", q1_columns, build_q1,
     format_q1, origin_row_event, NULL},
    {"q2", "Selection", "bids of every 123rd auction (filter)", q2_columns, build_q2, format_q2,
     origin_row_event, NULL},
    {"q3", "Local Item Suggestion",
     "sellers in OR, ID or CA of category-10 auctions (incremental join in keyed state)",
     q3_columns, build_q3, format_q3, origin_row_event, NULL},
    {"q4", "Average Price for a Category",
     "average winning price per category (winning bid at expiry by event-time timer, then a "
     "running average)",
     q4_columns, build_q4, format_q4, origin_ts, "id"},
    {"q5", "Hot Items",
     "auctions with the most bids per 10 s window sliding by 2 s (sliding window count, then "
     "max per window)",
     q5_columns, build_q5, format_q5, origin_ts, NULL},
    {"q7", "Highest Bid",
     "the highest bids of each 10 s window (local then global max per tumbling window)",
     bid5_columns, build_q7, format_bid5, origin_ts, NULL},
    {"q8", "Monitor New Users",
     "people who joined and opened an auction in the same 10 s window (window join)", q8_columns,
     build_q8, format_q8, origin_ts, NULL},
    {"q9", "Winning Bids",
     "each auction with its winning bid, at expiry (join in keyed state, event-time timer)",
     q9_columns, build_q9, format_q9, origin_ts, NULL},
    {"q11", "User Sessions", "bids per bidder session, 10 s gap (session windows)",
     count_window_columns, build_q11, format_count_window, origin_ts, NULL},
    {"q12", "Processing Time Windows", "bids per bidder per 10 s of processing time",
     count_window_columns, build_q12, format_count_window, origin_wall, NULL},
    {"q14", "Calculation",
     "bids priced 1M-50M euros with day/night type and the count of 'c' in extra (filter, map)",
     q14_columns, build_q14, format_q14, origin_row_event, NULL},
    {"q17", "Auction Statistics Report",
     "per auction and day: bid counts by price band, min/max/avg/sum (unbounded keyed aggregate)",
     q17_columns, build_q17, format_q17, origin_q17, "auction,day"},
    {"q18", "Find Last Bid", "the latest bid per bidder and auction (dedup keep-last)",
     bid7_columns, build_q18, format_bid7, origin_event_header, "auction,bidder"},
    {"q19", "Auction TOP-10 Price", "the 10 highest bids per auction (unbounded top-N)",
     q19_columns, build_q19, format_q19, origin_row_event, "auction,rank_number"},
    {"q20", "Expand Bid with Auction",
     "bids with their auction, for category-10 auctions (incremental join)", q20_columns, build_q20,
     format_q20, origin_row_event, NULL},
    {"q21", "Add Channel ID", "bids with a channel id from the channel name or the url (map)",
     q21_columns, build_q21, format_q21, origin_row_event, NULL},
    {"q22", "Get URL Directories", "bids with the first three directories of their url (map)",
     q22_columns, build_q22, format_q22, origin_row_event, NULL},
    {NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL},
};

const struct weir_nexmark_query *weir_nexmark_query_find(const char *name)
{
    if (!name)
        return NULL;
    for (const struct weir_nexmark_query *q = weir_nexmark_queries; q->name; q++)
        if (strcasecmp(q->name, name) == 0)
            return q;
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

static int header_restore(weir_ctx *ctx, void *state, struct weir_snapshot_in *in)
{
    return 0;
}

static const struct weir_operator_ops header_ops = {.kind = "csv-header",
                                                    .state_size = sizeof(struct header_state),
                                                    .open = header_open,
                                                    .process = header_process,
                                                    .snapshot = header_snapshot,
                                                    .restore = header_restore};

weir_stream *weir_nexmark_sink_csv(weir_stream *rows, const struct weir_nexmark_query *q,
                                   const char *dir)
{
    if (!rows || !q)
        return NULL;
    weir_stream *h = weir_forward(weir_transform(rows, "csv-header", &header_ops, NULL));
    return weir_sink_file_exactly_once(h, "sink", dir, q->format, ".csv");
}
