/*
 * q22: Get URL Directories.
 *
 * Nexmark: every bid with the first three directories of its url
 * (SPLIT_INDEX(url, '/', 3), 4 and 5).
 *
 * Here: a flat_map (as Flink).
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

const struct weir_nexmark_query nexmark_q22 = {
    .name = "q22",
    .title = "Get URL Directories",
    .description = "bids with the first three directories of their url (map)",
    .columns = q22_columns,
    .build = build_q22,
    .format = format_q22,
    .origin = origin_row_event,
    .updating = NULL,
};
