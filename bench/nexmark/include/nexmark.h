/*
 * Nexmark: the auction event generator of the Nexmark benchmark, as Apache
 * Beam's Nexmark and the nexmark/nexmark repository (the one Flink's benchmark
 * runs) implement it, as a weir source and as a pure function.
 *
 * The stream is Person, Auction and Bid events in the proportion 1:3:46 (per
 * 50 events: event n is a person when n % 50 == 0, an auction when
 * n % 50 in 1..3, a bid otherwise). Event n is a function of the options and n
 * alone: its fields come from a java.util.Random seeded with
 * seed * 0x9E3779B97F4A7C15 + n (with seed 0 that is Beam's new Random(eventId)),
 * reproduced bit for bit here, so the Java port in bench/peers/flink produces
 * the same events byte for byte. Its dateTime (and record timestamp) is
 * base_time_ms + (int64)(n * 1e6 / events_per_second) / 1000: event time runs
 * at the configured rate whatever the wall clock does. Source subtask i of p
 * emits n = i, i + p, i + 2p, ...: the same events for any parallelism, and
 * each subtask's timestamps only grow.
 *
 * A record's payload is a struct weir_nexmark_event, then the struct of its
 * type, then `extra` (extra_len bytes and a NUL). Strings are fixed-capacity
 * char arrays holding a NUL-terminated string and its length; no string holds a
 * comma, a quote or a newline.
 *
 *     struct weir_nexmark_opts o;
 *     weir_nexmark_opts_init(&o);          // Nexmark's defaults
 *     o.events = 10000000;
 *     weir_stream *events = weir_source_nexmark(job, "nexmark", &o);
 *     weir_stream *bids = weir_filter(events, "bids", is_bid);
 *
 *     static int is_bid(weir_ctx *ctx, const weir_rec *r)
 *     {
 *         (void)ctx;
 *         return weir_nexmark_bid(r) != NULL;
 *     }
 *     static uint64_t bid_auction(const weir_rec *r)
 *     {
 *         return (uint64_t)weir_nexmark_bid(r)->auction;
 *     }
 */
#ifndef WEIR_NEXMARK_H
#define WEIR_NEXMARK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <weir/job.h>
#include <weir/record.h>

#ifdef __cplusplus
extern "C" {
#endif

enum weir_nexmark_type {
    WEIR_NEXMARK_PERSON = 0,
    WEIR_NEXMARK_AUCTION = 1,
    WEIR_NEXMARK_BID = 2,
};

/* Ids start here, as in Nexmark, so that small runs still join. */
#define WEIR_NEXMARK_FIRST_PERSON_ID   1000
#define WEIR_NEXMARK_FIRST_AUCTION_ID  1000
#define WEIR_NEXMARK_FIRST_CATEGORY_ID 10
#define WEIR_NEXMARK_NUM_CATEGORIES    5

/* String capacities in bytes, NUL included; each holds the longest string the
 * generator makes (in parentheses) with room to spare. */
#define WEIR_NEXMARK_NAME_CAP        24  /* "Walter Bartels" (14) */
#define WEIR_NEXMARK_EMAIL_CAP       24  /* 6 + "@" + 4 + ".com" (15) */
#define WEIR_NEXMARK_CREDIT_CARD_CAP 20  /* "dddd dddd dddd dddd" (19) */
#define WEIR_NEXMARK_CITY_CAP        16  /* "San Francisco" (13) */
#define WEIR_NEXMARK_STATE_CAP       4   /* "CA" (2) */
#define WEIR_NEXMARK_ITEM_NAME_CAP   24  /* nextString(20) (19) */
#define WEIR_NEXMARK_DESCRIPTION_CAP 104 /* nextString(100) (99) */
#define WEIR_NEXMARK_CHANNEL_CAP     16  /* "channel-9999" (12) */
#define WEIR_NEXMARK_URL_CAP         80  /* base url + "&channel_id=-2147483648" (78) */

/* The header of every Nexmark record's payload. */
struct weir_nexmark_event {
    uint8_t type; /* enum weir_nexmark_type */
    uint8_t reserved[3];
    uint32_t extra_len;    /* bytes of extra after the type's struct (a NUL follows them) */
    uint64_t event_number; /* n: the event's position in the stream */
};

struct weir_nexmark_person {
    int64_t id;
    int64_t date_time; /* epoch ms; the record's timestamp */
    uint8_t name_len, email_address_len, credit_card_len, city_len, state_len;
    char name[WEIR_NEXMARK_NAME_CAP];
    char email_address[WEIR_NEXMARK_EMAIL_CAP];
    char credit_card[WEIR_NEXMARK_CREDIT_CARD_CAP];
    char city[WEIR_NEXMARK_CITY_CAP];
    char state[WEIR_NEXMARK_STATE_CAP];
};

struct weir_nexmark_auction {
    int64_t id;
    int64_t initial_bid;
    int64_t reserve;
    int64_t date_time; /* epoch ms; the record's timestamp */
    int64_t expires;   /* epoch ms */
    int64_t seller;    /* a person id */
    int64_t category;  /* 10..14 */
    uint8_t item_name_len, description_len;
    char item_name[WEIR_NEXMARK_ITEM_NAME_CAP];
    char description[WEIR_NEXMARK_DESCRIPTION_CAP];
};

struct weir_nexmark_bid {
    int64_t auction;   /* an auction id */
    int64_t bidder;    /* a person id */
    int64_t price;     /* in cents */
    int64_t date_time; /* epoch ms; the record's timestamp */
    uint8_t channel_len, url_len;
    char channel[WEIR_NEXMARK_CHANNEL_CAP];
    char url[WEIR_NEXMARK_URL_CAP];
};

/*
 * Options. Fields left 0 take Nexmark's default (in parentheses), except
 * events, seed, base_time_ms, max_out_of_orderness_ms and rate_limit, where 0
 * is a value; weir_nexmark_opts_init() fills in every default.
 */
struct weir_nexmark_opts {
    uint64_t events; /* 0 = unbounded */
    uint64_t seed;   /* 0 = Beam's events */
    /* Event-time rate (10,000,000, the TPS of Flink's nexmark): event n has
     * dateTime base_time_ms + (int64)(n * (1e6 / events_per_second)) / 1000. */
    double events_per_second;
    int64_t base_time_ms; /* dateTime of event 0 (init: 2024-01-01T00:00:00Z) */
    /* Event kinds per person_proportion + auction_proportion + bid_proportion
     * events (1, 3, 46). */
    uint32_t person_proportion, auction_proportion, bid_proportion;
    /* A bid is for a hot auction with probability 1 - 1/hot_auction_ratio (2),
     * by a hot bidder with 1 - 1/hot_bidders_ratio (4); an auction is by a hot
     * seller with 1 - 1/hot_sellers_ratio (4). */
    uint32_t hot_auction_ratio, hot_bidders_ratio, hot_sellers_ratio;
    /* Other bids pick among the last num_in_flight_auctions auctions (100)
     * plus 10 ahead, other bidders and sellers among the last
     * num_active_people people (1000) plus 10 ahead. */
    uint32_t num_in_flight_auctions, num_active_people;
    /* Average event sizes in bytes that extra pads to (200, 500, 100). */
    uint32_t avg_person_bytes, avg_auction_bytes, avg_bid_bytes;
    /* The source's watermarks lag its latest timestamp by this (init: 0; the
     * events of one subtask are in order). */
    int64_t max_out_of_orderness_ms;
    /* Wall-clock events per second over all subtasks; 0 = as fast as possible. */
    double rate_limit;
};

/* 2024-01-01T00:00:00Z in epoch ms. */
#define WEIR_NEXMARK_DEFAULT_BASE_TIME_MS INT64_C(1704067200000)

/* Sets every field to its default (events 0: unbounded). */
void weir_nexmark_opts_init(struct weir_nexmark_opts *o);
/* 0, or -EINVAL with a one-line reason naming the field and value in err. */
int weir_nexmark_opts_check(const struct weir_nexmark_opts *o, char *err, size_t errlen);

/* The most payload bytes one event of these options takes. */
size_t weir_nexmark_event_max_size(const struct weir_nexmark_opts *o);

/* Writes event n into out (cap bytes): the header, the type's struct, extra and
 * its NUL. Returns the payload size, which is larger than cap when the event did
 * not fit (out is then incomplete), or -EINVAL for options that do not check.
 * Pure: the same options and n give the same bytes (unused bytes of the string
 * arrays are zero). */
int weir_nexmark_event_at(const struct weir_nexmark_opts *o, uint64_t n,
                          struct weir_nexmark_event *out, size_t cap);
/* The type of event n, without generating it. */
enum weir_nexmark_type weir_nexmark_type_at(const struct weir_nexmark_opts *o, uint64_t n);
/* dateTime of event n in epoch ms. */
int64_t weir_nexmark_time_at(const struct weir_nexmark_opts *o, uint64_t n);

/* All three kinds, record ts = dateTime, with watermarks (bounded
 * out-of-orderness, max_out_of_orderness_ms) assigned at the source. Subtask i
 * of p emits event numbers i, i + p, ...; a checkpoint records the next one.
 * opts is copied. */
weir_stream *weir_source_nexmark(weir_job *job, const char *uid,
                                 const struct weir_nexmark_opts *opts);
/* Registers the Nexmark source's decoder of its checkpointed splits for weir inspect
 * (weir/inspect.h; kind "nexmark"): per split "residue", "stride" (its events are residue,
 * residue + stride, ...) and "next_event", the number of the event it emits next. 0 or
 * -EEXIST. */
int weir_nexmark_register_inspect_decoder(void);

/* --- viewing a record ---------------------------------------------------- */

static inline const struct weir_nexmark_event *weir_nexmark_event(const weir_rec *r)
{
    return (const struct weir_nexmark_event *)(const void *)r->data;
}

/* The event's struct when it is of that type, else NULL. */
static inline const struct weir_nexmark_person *weir_nexmark_person(const weir_rec *r)
{
    const struct weir_nexmark_event *e = weir_nexmark_event(r);
    return e->type == WEIR_NEXMARK_PERSON ? (const struct weir_nexmark_person *)(e + 1) : NULL;
}
static inline const struct weir_nexmark_auction *weir_nexmark_auction(const weir_rec *r)
{
    const struct weir_nexmark_event *e = weir_nexmark_event(r);
    return e->type == WEIR_NEXMARK_AUCTION ? (const struct weir_nexmark_auction *)(e + 1) : NULL;
}
static inline const struct weir_nexmark_bid *weir_nexmark_bid(const weir_rec *r)
{
    const struct weir_nexmark_event *e = weir_nexmark_event(r);
    return e->type == WEIR_NEXMARK_BID ? (const struct weir_nexmark_bid *)(e + 1) : NULL;
}

/* Bytes of the type's struct that follows the header. */
static inline size_t weir_nexmark_body_size(enum weir_nexmark_type t)
{
    return t == WEIR_NEXMARK_PERSON    ? sizeof(struct weir_nexmark_person)
           : t == WEIR_NEXMARK_AUCTION ? sizeof(struct weir_nexmark_auction)
                                       : sizeof(struct weir_nexmark_bid);
}

/* extra: e->extra_len bytes, NUL-terminated. */
static inline const char *weir_nexmark_extra(const struct weir_nexmark_event *e)
{
    return (const char *)(e + 1) + weir_nexmark_body_size((enum weir_nexmark_type)e->type);
}

/* Payload bytes of an event: header, body, extra and its NUL. */
static inline size_t weir_nexmark_event_size(const struct weir_nexmark_event *e)
{
    return sizeof *e + weir_nexmark_body_size((enum weir_nexmark_type)e->type) + e->extra_len + 1;
}

/* --- CSV (weir bench nexmark --dump-events) ------------------------------ */

/* The header row of the CSV of a type, Nexmark's field names:
 *   person.csv:  id,name,emailAddress,creditCard,city,state,dateTime,extra
 *   auction.csv: id,itemName,description,initialBid,reserve,dateTime,expires,seller,category,extra
 *   bid.csv:     auction,bidder,price,channel,url,dateTime,extra
 * dateTime and expires are epoch ms; strings are written as they are (none
 * holds a comma or quote). */
const char *weir_nexmark_csv_header(enum weir_nexmark_type t);
/* "person", "auction", "bid". */
const char *weir_nexmark_type_name(enum weir_nexmark_type t);
/* One CSV row (no newline) of an event into buf; returns its length, or the
 * length needed when it exceeds cap (as snprintf). */
int weir_nexmark_event_csv(const struct weir_nexmark_event *e, char *buf, size_t cap);
/* The same for a record (a weir_format_fn, for weir_sink_file). */
int weir_nexmark_format_csv(const weir_rec *r, char *buf, size_t cap);

#ifdef __cplusplus
}
#endif
#endif
