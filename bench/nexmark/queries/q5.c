/*
 * q5: Hot Items.
 *
 * Nexmark: which auctions got the most bids in the last period: per sliding
 * window of 10 s every 2 s, the auctions with the highest bid count.
 *
 * Here: sliding bid counts per auction (weir_window_aggregate), then per
 * window the auctions with the highest count, keyed by window end with an
 * event-time timer at the window's end. As Flink, ties are all included.
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

const struct weir_nexmark_query nexmark_q5 = {
    .name = "q5",
    .title = "Hot Items",
    .description =
        "auctions with the most bids per 10 s window sliding by 2 s (sliding window count, then "
        "max per window)",
    .columns = q5_columns,
    .build = build_q5,
    .format = format_q5,
    .origin = origin_ts,
    .updating = NULL,
};
