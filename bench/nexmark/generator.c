/*
 * The Nexmark generator (see include/nexmark.h for the contract).
 *
 * Event n is built the way Beam's Generator builds the event with id n: a
 * java.util.Random seeded per event, then the same calls in the same order
 * (PersonGenerator, AuctionGenerator, BidGenerator, StringsGenerator,
 * PriceGenerator, LongGenerator), so that the Java port in
 * bench/peers/flink/ makes the same events. Where Nexmark is not
 * deterministic (Flink's nexmark draws bid channel URLs from an unseeded
 * Random) the URLs here come from Random(channel): see channel_table().
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <weir/job.h>
#include "nexmark.h"
#include <weir/operator.h>
#include <weir/state.h>

#include "nexmark_private.h"
#include "nexmark_random.h"

/* Nexmark's constants (GeneratorConfig, *Generator classes). */
#define HOT_AUCTION_RATIO  100
#define HOT_SELLER_RATIO   100
#define HOT_BIDDER_RATIO   100
#define PERSON_ID_LEAD     10
#define AUCTION_ID_LEAD    10
#define HOT_CHANNELS_RATIO 2
#define CHANNELS_NUMBER    10000
#define NUM_HOT_CHANNELS   4

/* Mixes the seed into the per-event Random seed; seed 0 leaves Beam's
 * Random(eventId). */
#define SEED_MULTIPLIER UINT64_C(0x9E3779B97F4A7C15)

static const char *const us_states[] = {"AZ", "CA", "ID", "OR", "WA", "WY"};
static const char *const us_cities[] = {"Phoenix",  "Los Angeles", "San Francisco", "Boise",
                                        "Portland", "Bend",        "Redmond",       "Seattle",
                                        "Kent",     "Cheyenne"};
static const char *const first_names[] = {"Peter", "Paul",  "Luke",  "John",   "Saul",  "Vicky",
                                          "Kate",  "Julie", "Sarah", "Deiter", "Walter"};
static const char *const last_names[] = {"Shultz", "Abrams", "Spencer", "White", "Bartels",
                                         "Walton", "Smith",  "Jones",   "Noris"};
static const char *const hot_channels[NUM_HOT_CHANNELS] = {"Google", "Facebook", "Baidu", "Apple"};

#define COUNT(a) ((int32_t)(sizeof(a) / sizeof((a)[0])))

/* --- options ----------------------------------------------------------------- */

void weir_nexmark_opts_init(struct weir_nexmark_opts *o)
{
    *o = (struct weir_nexmark_opts){
        .events = 0,
        .seed = 0,
        .events_per_second = 10000000.0,
        .base_time_ms = WEIR_NEXMARK_DEFAULT_BASE_TIME_MS,
        .person_proportion = 1,
        .auction_proportion = 3,
        .bid_proportion = 46,
        .hot_auction_ratio = 2,
        .hot_bidders_ratio = 4,
        .hot_sellers_ratio = 4,
        .num_in_flight_auctions = 100,
        .num_active_people = 1000,
        .avg_person_bytes = 200,
        .avg_auction_bytes = 500,
        .avg_bid_bytes = 100,
        .max_out_of_orderness_ms = 0,
        .rate_limit = 0,
    };
}

void nexmark_resolve(const struct weir_nexmark_opts *in, struct nexmark_cfg *c)
{
    struct weir_nexmark_opts d;
    weir_nexmark_opts_init(&d);
    c->o = *in;
#define DEF(f)                                                                                     \
    if (!c->o.f)                                                                                   \
    c->o.f = d.f
    DEF(events_per_second);
    DEF(person_proportion);
    DEF(auction_proportion);
    DEF(bid_proportion);
    DEF(hot_auction_ratio);
    DEF(hot_bidders_ratio);
    DEF(hot_sellers_ratio);
    DEF(num_in_flight_auctions);
    DEF(num_active_people);
    DEF(avg_person_bytes);
    DEF(avg_auction_bytes);
    DEF(avg_bid_bytes);
#undef DEF
    c->total = (uint64_t)c->o.person_proportion + c->o.auction_proportion + c->o.bid_proportion;
    c->delay_us = 1000000.0 / c->o.events_per_second;
}

int weir_nexmark_opts_check(const struct weir_nexmark_opts *o, char *err, size_t errlen)
{
    struct nexmark_cfg c;
    nexmark_resolve(o, &c);
    const struct weir_nexmark_opts *r = &c.o;
#define BAD(...)                                                                                   \
    do {                                                                                           \
        if (err && errlen)                                                                         \
            snprintf(err, errlen, __VA_ARGS__);                                                    \
        return -EINVAL;                                                                            \
    } while (0)
    if (!(r->events_per_second > 0) || !isfinite(r->events_per_second))
        BAD("nexmark events_per_second: %g: expected a positive rate", r->events_per_second);
    if (r->rate_limit < 0 || !isfinite(r->rate_limit))
        BAD("nexmark rate_limit: %g: expected 0 (as fast as possible) or a positive rate",
            r->rate_limit);
    if (r->max_out_of_orderness_ms < 0)
        BAD("nexmark max_out_of_orderness_ms: %" PRId64 ": expected >= 0",
            r->max_out_of_orderness_ms);
    /* Java ints in the reference generator: keep every product in range. */
    if (c.total > 1000000)
        BAD("nexmark proportions: %" PRIu64 " in all: expected at most 1000000", c.total);
    if (r->hot_auction_ratio > INT32_MAX || r->hot_bidders_ratio > INT32_MAX ||
        r->hot_sellers_ratio > INT32_MAX)
        BAD("nexmark hot ratios: expected at most %d", INT32_MAX);
    if (r->num_in_flight_auctions > 100000000 || r->num_active_people > 100000000)
        BAD("nexmark num_in_flight_auctions/num_active_people: expected at most 100000000");
    if (r->avg_person_bytes > 1000000 || r->avg_auction_bytes > 1000000 ||
        r->avg_bid_bytes > 1000000)
        BAD("nexmark avg_*_bytes: expected at most 1000000");
#undef BAD
    return 0;
}

/* --- Nexmark's id and time arithmetic (GeneratorConfig, *Generator) ----------- */

static int64_t time_at(const struct nexmark_cfg *c, uint64_t n)
{
    /* Java: baseTime + (long)(eventNumber * interEventDelayUs) / 1000L; the cast
     * saturates in Java, so clamp rather than overflow. */
    double us = (double)n * c->delay_us;
    int64_t l = us >= 9.2e18 ? INT64_MAX : (int64_t)us;
    return c->o.base_time_ms + l / 1000;
}

/* Event id's place in the proportions: Beam divides by their total in each of the
 * functions below; an event divides once (a 64-bit division is most of a cheap draw). */
struct pos {
    int64_t epoch, offset; /* id / total, id % total */
};

static struct pos pos_of(const struct nexmark_cfg *c, int64_t id)
{
    return (struct pos){id / (int64_t)c->total, id % (int64_t)c->total};
}

static enum weir_nexmark_type type_at(const struct nexmark_cfg *c, struct pos p)
{
    if (p.offset < (int64_t)c->o.person_proportion)
        return WEIR_NEXMARK_PERSON;
    if (p.offset < (int64_t)c->o.person_proportion + c->o.auction_proportion)
        return WEIR_NEXMARK_AUCTION;
    return WEIR_NEXMARK_BID;
}

static enum weir_nexmark_type type_of(const struct nexmark_cfg *c, uint64_t id)
{
    return type_at(c, pos_of(c, (int64_t)id));
}

static int64_t last_base0_person_id(const struct nexmark_cfg *c, struct pos p)
{
    int64_t pp = c->o.person_proportion;
    int64_t epoch = p.epoch, offset = p.offset;
    if (offset >= pp)
        offset = pp - 1;
    return epoch * pp + offset;
}

static int64_t last_base0_auction_id(const struct nexmark_cfg *c, struct pos p)
{
    int64_t pp = c->o.person_proportion, ap = c->o.auction_proportion;
    int64_t epoch = p.epoch, offset = p.offset;
    if (offset < pp) {
        epoch--;
        offset = ap - 1;
    } else if (offset >= pp + ap) {
        offset = ap - 1;
    } else {
        offset -= pp;
    }
    return epoch * ap + offset;
}

/* LongGenerator.nextLong: nextInt below Integer.MAX_VALUE, else a skewed
 * abs(nextLong() % n) (Java's remainder keeps the dividend's sign). */
static int64_t next_long(struct jrand *r, int64_t n)
{
    if (n < INT32_MAX)
        return jrand_next_int_bound(r, (int32_t)n);
    int64_t v = jrand_next_long(r) % n;
    return v < 0 ? -v : v;
}

static int64_t next_base0_person_id(const struct nexmark_cfg *c, struct pos id, struct jrand *r)
{
    int64_t num_people = last_base0_person_id(c, id) + 1;
    int64_t active =
        num_people < (int64_t)c->o.num_active_people ? num_people : (int64_t)c->o.num_active_people;
    int64_t n = next_long(r, active + PERSON_ID_LEAD);
    return num_people - active + n;
}

static int64_t next_base0_auction_id(const struct nexmark_cfg *c, struct pos id, struct jrand *r)
{
    int64_t max_auction = last_base0_auction_id(c, id);
    int64_t min_auction = max_auction - (int64_t)c->o.num_in_flight_auctions;
    if (min_auction < 0)
        min_auction = 0;
    return min_auction + next_long(r, max_auction - min_auction + 1 + AUCTION_ID_LEAD);
}

/* PriceGenerator.nextPrice: Math.round(Math.pow(10, nextDouble() * 6) * 100).
 * pow costs about three times exp, and the price only needs the rounded value:
 * exp(x ln 10) * 100 is within 1e-14 (relative) of the exact power times 100
 * (x < 6: the product x ln 10 is off by under 3e-15, exp and the multiply by an ulp
 * each), as pow's result is, so wherever it lies further than 2^-40 (relative) from
 * a half-integer, Math.round of either is the same integer. Closer (1,292 prices of
 * 10^8 random draws, where exp's was at most 2.5e-15 from pow's) the price is pow's. */
static int64_t next_price(struct jrand *r)
{
    double x = jrand_next_double(r) * 6.0;
    double v = exp(x * 2.302585092994045684) * 100.0; /* v >= 100 */
    if (fabs(v - (floor(v) + 0.5)) > v * 0x1p-40)
        return java_round(v);
    return java_round(pow(10.0, x) * 100.0);
}

static int64_t next_auction_length_ms(const struct nexmark_cfg *c, uint64_t n, int64_t ts,
                                      struct jrand *r)
{
    /* When will the auction num_in_flight_auctions beyond this one be made? */
    uint64_t ahead = ((uint64_t)c->o.num_in_flight_auctions * c->total) / c->o.auction_proportion;
    int64_t horizon_ms = time_at(c, n + ahead) - ts;
    int64_t bound = horizon_ms * 2 > 1 ? horizon_ms * 2 : 1;
    return 1 + next_long(r, bound);
}

/* StringsGenerator.nextString into buf (cap >= max_len): length 3 +
 * nextInt(max_len - 3), each char `special` with probability 1/13 else a-z,
 * then Java's trim() (which only a ' ' special can trigger). Returns the length. */
static size_t next_string(struct jrand *r, int32_t max_len, char special, char *buf)
{
    int32_t len = 3 + jrand_next_int_bound(r, max_len - 3);
    for (int32_t i = 0; i < len; i++)
        buf[i] =
            jrand_next_int_bound(r, 13) == 0 ? special : (char)('a' + jrand_next_int_bound(r, 26));
    size_t b = 0, e = (size_t)len;
    while (b < e && (unsigned char)buf[b] <= ' ')
        b++;
    while (e > b && (unsigned char)buf[e - 1] <= ' ')
        e--;
    if (b)
        memmove(buf, buf + b, e - b);
    buf[e - b] = '\0';
    return e - b;
}

/* StringsGenerator.nextExtra: the length of the extra that pads current_size
 * to about avg (+-20%), drawing what Java draws before nextExactString. */
static int32_t next_extra_len(struct jrand *r, int32_t current_size, int32_t avg)
{
    if (current_size > avg)
        return 0;
    avg -= current_size;
    int32_t delta = (int32_t)java_round(avg * 0.2);
    int32_t min_size = avg - delta;
    return min_size + (delta == 0 ? 0 : jrand_next_int_bound(r, 2 * delta));
}

/* Java's three letters (char)('a' + m % 26), (char)('a' + (m / 26) % 26),
 * (char)('a' + (m / 676) % 26) for m in 0..17575 at [0][m], for -m at [1][m]
 * (Java's / and % truncate: -m gives 'a' minus), then a byte to store four at once.
 * 140 KiB: it stays in L2 where a division per letter would not be cheaper. */
static char letter_triples[2][17576][4];
static pthread_once_t letter_triples_once = PTHREAD_ONCE_INIT;

static void letter_triples_build(void)
{
    for (int32_t m = 0; m < 17576; m++) {
        for (int k = 0, d = 1; k < 3; k++, d *= 26) {
            letter_triples[0][m][k] = (char)('a' + m / d % 26);
            letter_triples[1][m][k] = (char)('a' - m / d % 26);
        }
    }
}

/* StringsGenerator.nextExactString: six letters per nextInt(); a negative int
 * gives the characters below 'a' that Java's (char)('a' + rnd % 26) gives. */
static void next_exact_string(struct jrand *r, int32_t len, char *buf)
{
    /* Java's rnd % 26, rnd /= 26 six times is a chain of dependent divisions.
     * Truncating division (Java's and C's) is odd in rnd and composes,
     * rnd / 26 / 26 == rnd / 676, so the six letters are the triples of
     * |rnd| % 26^3 and (|rnd| / 26^3) % 26^3, from rnd's sign's table. Each store
     * writes a byte past its three: the next letters or extra's NUL (buf[len])
     * overwrite it. */
    int32_t i = 0;
    for (; i + 6 <= len; i += 6) {
        int32_t rnd = jrand_next_int(r);
        const char(*t)[4] = letter_triples[rnd < 0];
        uint32_t a0 = rnd < 0 ? 0u - (uint32_t)rnd : (uint32_t)rnd;
        uint32_t a3 = a0 / 17576, a6 = a0 / 308915776;
        memcpy(buf + i, t[a0 - 17576 * a3], 4);
        memcpy(buf + i + 3, t[a3 - 17576 * a6], 4);
    }
    int32_t rnd = 0, left = 0;
    for (; i < len; i++) {
        if (left == 0) {
            rnd = jrand_next_int(r);
            left = 6;
        }
        buf[i] = (char)('a' + rnd % 26);
        rnd /= 26;
        left--;
    }
    buf[len] = '\0';
}

/* --- bid channels --------------------------------------------------------- */

struct channel {
    uint8_t channel_len, url_len;
    char channel[WEIR_NEXMARK_CHANNEL_CAP];
    char url[WEIR_NEXMARK_URL_CAP];
};

/* Channels 0..9999, then the hot ones. Flink's nexmark draws each channel's base
 * URL and its channel_id suffix (9 in 10) from an unseeded Random; here they come
 * from Random(channel) (Random(10000 + i) for hot channel i), in the same order
 * of calls, so every run and the Java peer agree. */
static struct channel channels[CHANNELS_NUMBER + NUM_HOT_CHANNELS];
static pthread_once_t channels_once = PTHREAD_ONCE_INIT;

static size_t base_url(struct jrand *r, char *url)
{
    static const char prefix[] = "https://www.nexmark.com/";
    size_t len = sizeof prefix - 1;
    memcpy(url, prefix, len);
    for (int i = 0; i < 3; i++) {
        len += next_string(r, 5, '_', url + len);
        url[len++] = '/';
    }
    memcpy(url + len, "item.htm?query=1", sizeof "item.htm?query=1");
    return len + sizeof "item.htm?query=1" - 1;
}

static void channels_build(void)
{
    char buf[WEIR_NEXMARK_URL_CAP];
    for (int32_t i = 0; i < CHANNELS_NUMBER + NUM_HOT_CHANNELS; i++) {
        struct channel *ch = &channels[i];
        struct jrand r;
        jrand_seed(&r, i);
        size_t len = base_url(&r, buf);
        if (i < CHANNELS_NUMBER) {
            if (jrand_next_int_bound(&r, 10) > 0) {
                /* Math.abs(Integer.reverse(c)): reverse(1) is Integer.MIN_VALUE,
                 * which abs leaves negative. */
                uint32_t rev = 0;
                for (int b = 0; b < 32; b++)
                    rev |= (((uint32_t)i >> b) & 1u) << (31 - b);
                int64_t v = (int32_t)rev;
                if (v < 0 && v != INT32_MIN)
                    v = -v;
                len += (size_t)snprintf(buf + len, sizeof buf - len, "&channel_id=%" PRId64, v);
            }
            ch->channel_len = (uint8_t)snprintf(ch->channel, sizeof ch->channel, "channel-%d", i);
        } else {
            const char *h = hot_channels[i - CHANNELS_NUMBER];
            ch->channel_len = (uint8_t)strlen(h);
            memcpy(ch->channel, h, ch->channel_len + 1);
        }
        ch->url_len = (uint8_t)len;
        memcpy(ch->url, buf, len + 1);
    }
}

void nexmark_channels_init(void)
{
    pthread_once(&channels_once, channels_build);
    pthread_once(&letter_triples_once, letter_triples_build);
}

/* --- events -------------------------------------------------------------------- */

static void set_str(char *dst, uint8_t *len, const char *src)
{
    size_t n = strlen(src);
    memcpy(dst, src, n + 1);
    *len = (uint8_t)n;
}

/* Generates event n (Beam's event id, firstEventId 0) of type type at id: the
 * body into body (zeroed here), the extra's Random position left in r for
 * next_exact_string. Returns the extra's length. */
static int32_t make_event(const struct nexmark_cfg *c, uint64_t n, struct pos id,
                          enum weir_nexmark_type type, struct jrand *r, void *body)
{
    int64_t ts = time_at(c, n);
    jrand_seed(r, (int64_t)(c->o.seed * SEED_MULTIPLIER + n));
    switch (type) {
    case WEIR_NEXMARK_PERSON: {
        struct weir_nexmark_person *p = body;
        memset(p, 0, sizeof *p);
        p->id = last_base0_person_id(c, id) + WEIR_NEXMARK_FIRST_PERSON_ID;
        p->date_time = ts;
        const char *first = first_names[jrand_next_int_bound(r, COUNT(first_names))];
        const char *last = last_names[jrand_next_int_bound(r, COUNT(last_names))];
        p->name_len = (uint8_t)snprintf(p->name, sizeof p->name, "%s %s", first, last);
        size_t e = next_string(r, 7, ' ', p->email_address);
        p->email_address[e++] = '@';
        e += next_string(r, 5, ' ', p->email_address + e);
        memcpy(p->email_address + e, ".com", 5);
        p->email_address_len = (uint8_t)(e + 4);
        int32_t d[4];
        for (int i = 0; i < 4; i++)
            d[i] = jrand_next_int_bound(r, 10000);
        p->credit_card_len = (uint8_t)snprintf(p->credit_card, sizeof p->credit_card,
                                               "%04d %04d %04d %04d", d[0], d[1], d[2], d[3]);
        set_str(p->city, &p->city_len, us_cities[jrand_next_int_bound(r, COUNT(us_cities))]);
        set_str(p->state, &p->state_len, us_states[jrand_next_int_bound(r, COUNT(us_states))]);
        int32_t size = 8 + p->name_len + p->email_address_len + p->credit_card_len + p->city_len +
                       p->state_len;
        return next_extra_len(r, size, (int32_t)c->o.avg_person_bytes);
    }
    case WEIR_NEXMARK_AUCTION: {
        struct weir_nexmark_auction *a = body;
        memset(a, 0, sizeof *a);
        a->id = last_base0_auction_id(c, id) + WEIR_NEXMARK_FIRST_AUCTION_ID;
        a->date_time = ts;
        int64_t seller;
        if (jrand_next_int_bound(r, (int32_t)c->o.hot_sellers_ratio) > 0)
            seller = (last_base0_person_id(c, id) / HOT_SELLER_RATIO) * HOT_SELLER_RATIO;
        else
            seller = next_base0_person_id(c, id, r);
        a->seller = seller + WEIR_NEXMARK_FIRST_PERSON_ID;
        a->category =
            WEIR_NEXMARK_FIRST_CATEGORY_ID + jrand_next_int_bound(r, WEIR_NEXMARK_NUM_CATEGORIES);
        a->initial_bid = next_price(r);
        a->expires = ts + next_auction_length_ms(c, n, ts, r);
        a->item_name_len = (uint8_t)next_string(r, 20, ' ', a->item_name);
        a->description_len = (uint8_t)next_string(r, 100, ' ', a->description);
        a->reserve = a->initial_bid + next_price(r);
        int32_t size = 8 + a->item_name_len + a->description_len + 8 + 8 + 8 + 8 + 8;
        return next_extra_len(r, size, (int32_t)c->o.avg_auction_bytes);
    }
    case WEIR_NEXMARK_BID:
    default: {
        struct weir_nexmark_bid *b = body;
        /* every byte is written below: the strings are copied whole, zeros and all */
        memset((char *)b + sizeof b->url + offsetof(struct weir_nexmark_bid, url), 0,
               sizeof *b - sizeof b->url - offsetof(struct weir_nexmark_bid, url));
        int64_t auction, bidder;
        if (jrand_next_int_bound(r, (int32_t)c->o.hot_auction_ratio) > 0)
            auction = (last_base0_auction_id(c, id) / HOT_AUCTION_RATIO) * HOT_AUCTION_RATIO;
        else
            auction = next_base0_auction_id(c, id, r);
        b->auction = auction + WEIR_NEXMARK_FIRST_AUCTION_ID;
        if (jrand_next_int_bound(r, (int32_t)c->o.hot_bidders_ratio) > 0)
            bidder = (last_base0_person_id(c, id) / HOT_BIDDER_RATIO) * HOT_BIDDER_RATIO + 1;
        else
            bidder = next_base0_person_id(c, id, r);
        b->bidder = bidder + WEIR_NEXMARK_FIRST_PERSON_ID;
        b->price = next_price(r);
        b->date_time = ts;
        const struct channel *ch;
        if (jrand_next_int_bound(r, HOT_CHANNELS_RATIO) > 0)
            ch = &channels[CHANNELS_NUMBER + jrand_next_int_bound(r, NUM_HOT_CHANNELS)];
        else
            ch = &channels[jrand_next_int_bound(r, CHANNELS_NUMBER)];
        b->channel_len = ch->channel_len;
        memcpy(b->channel, ch->channel, sizeof b->channel);
        b->url_len = ch->url_len;
        memcpy(b->url, ch->url, sizeof b->url);
        return next_extra_len(r, 8 + 8 + 8 + 8, (int32_t)c->o.avg_bid_bytes);
    }
    }
}

/* The generator with its resolved options: what the source and event_at share. */
int nexmark_event_at(const struct nexmark_cfg *c, uint64_t n, struct weir_nexmark_event *out,
                     size_t cap)
{
    union {
        struct weir_nexmark_person p;
        struct weir_nexmark_auction a;
        struct weir_nexmark_bid b;
    } scratch; /* the body when out cannot hold it: only the size is returned */
    struct pos id = pos_of(c, (int64_t)n);
    enum weir_nexmark_type type = type_at(c, id);
    size_t body_size = weir_nexmark_body_size(type);
    void *body = sizeof *out + body_size <= cap ? (void *)(out + 1) : (void *)&scratch;
    struct jrand r;
    int32_t extra_len = make_event(c, n, id, type, &r, body);
    size_t size = sizeof *out + body_size + (size_t)extra_len + 1;
    if (size > cap || size > INT32_MAX)
        return size > INT32_MAX ? -EOVERFLOW : (int)size;
    *out = (struct weir_nexmark_event){
        .type = (uint8_t)type, .extra_len = (uint32_t)extra_len, .event_number = n};
    next_exact_string(&r, extra_len, (char *)(out + 1) + body_size);
    return (int)size;
}

size_t weir_nexmark_event_max_size(const struct weir_nexmark_opts *o)
{
    struct nexmark_cfg c;
    nexmark_resolve(o, &c);
    /* extra <= (avg - size) + round(0.2 * (avg - size)) - 1 < 1.2 * avg + 1 */
    size_t max = 0;
    const uint32_t avg[3] = {c.o.avg_person_bytes, c.o.avg_auction_bytes, c.o.avg_bid_bytes};
    for (int t = 0; t < 3; t++) {
        size_t s = sizeof(struct weir_nexmark_event) +
                   weir_nexmark_body_size((enum weir_nexmark_type)t) + avg[t] + avg[t] / 5 + 2 + 1;
        if (s > max)
            max = s;
    }
    return max;
}

int weir_nexmark_event_at(const struct weir_nexmark_opts *o, uint64_t n,
                          struct weir_nexmark_event *out, size_t cap)
{
    if (weir_nexmark_opts_check(o, NULL, 0) < 0)
        return -EINVAL;
    nexmark_channels_init();
    struct nexmark_cfg c;
    nexmark_resolve(o, &c);
    return nexmark_event_at(&c, n, out, cap);
}

enum weir_nexmark_type weir_nexmark_type_at(const struct weir_nexmark_opts *o, uint64_t n)
{
    struct nexmark_cfg c;
    nexmark_resolve(o, &c);
    return type_of(&c, n);
}

int64_t weir_nexmark_time_at(const struct weir_nexmark_opts *o, uint64_t n)
{
    struct nexmark_cfg c;
    nexmark_resolve(o, &c);
    return time_at(&c, n);
}

/* --- CSV ---------------------------------------------------------------------------- */

const char *weir_nexmark_type_name(enum weir_nexmark_type t)
{
    switch (t) {
    case WEIR_NEXMARK_PERSON:
        return "person";
    case WEIR_NEXMARK_AUCTION:
        return "auction";
    case WEIR_NEXMARK_BID:
        return "bid";
    }
    return "?";
}

const char *weir_nexmark_csv_header(enum weir_nexmark_type t)
{
    switch (t) {
    case WEIR_NEXMARK_PERSON:
        return "id,name,emailAddress,creditCard,city,state,dateTime,extra";
    case WEIR_NEXMARK_AUCTION:
        return "id,itemName,description,initialBid,reserve,dateTime,expires,seller,category,"
               "extra";
    case WEIR_NEXMARK_BID:
        return "auction,bidder,price,channel,url,dateTime,extra";
    }
    return "";
}

int weir_nexmark_event_csv(const struct weir_nexmark_event *e, char *buf, size_t cap)
{
    const char *extra = weir_nexmark_extra(e);
    int x = (int)e->extra_len;
    switch (e->type) {
    case WEIR_NEXMARK_PERSON: {
        const struct weir_nexmark_person *p = (const void *)(e + 1);
        return snprintf(buf, cap, "%" PRId64 ",%s,%s,%s,%s,%s,%" PRId64 ",%.*s", p->id, p->name,
                        p->email_address, p->credit_card, p->city, p->state, p->date_time, x,
                        extra);
    }
    case WEIR_NEXMARK_AUCTION: {
        const struct weir_nexmark_auction *a = (const void *)(e + 1);
        return snprintf(buf, cap,
                        "%" PRId64 ",%s,%s,%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64
                        ",%" PRId64 ",%.*s",
                        a->id, a->item_name, a->description, a->initial_bid, a->reserve,
                        a->date_time, a->expires, a->seller, a->category, x, extra);
    }
    case WEIR_NEXMARK_BID: {
        const struct weir_nexmark_bid *b = (const void *)(e + 1);
        return snprintf(buf, cap, "%" PRId64 ",%" PRId64 ",%" PRId64 ",%s,%s,%" PRId64 ",%.*s",
                        b->auction, b->bidder, b->price, b->channel, b->url, b->date_time, x,
                        extra);
    }
    }
    return -EINVAL;
}

int weir_nexmark_format_csv(const weir_rec *r, char *buf, size_t cap)
{
    if (r->len < sizeof(struct weir_nexmark_event))
        return -EINVAL;
    const struct weir_nexmark_event *e = weir_nexmark_event(r);
    if (e->type > WEIR_NEXMARK_BID || r->len < weir_nexmark_event_size(e))
        return -EINVAL;
    return weir_nexmark_event_csv(e, buf, cap);
}
