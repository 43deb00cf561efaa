/*
 * q21: Add Channel ID.
 *
 * Nexmark: every bid with a channel id: a fixed id for the four known
 * channels (apple, google, facebook, baidu), else the url's channel_id
 * parameter (REGEXP_EXTRACT(url, '(&|^)channel_id=([^&]*)', 2)); bids with
 * neither are dropped.
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

const struct weir_nexmark_query nexmark_q21 = {
    .name = "q21",
    .title = "Add Channel ID",
    .description = "bids with a channel id from the channel name or the url (map)",
    .columns = q21_columns,
    .build = build_q21,
    .format = format_q21,
    .origin = origin_row_event,
    .updating = NULL,
};
