/*
 * q3: Local Item Suggestion.
 *
 * Nexmark: who sells in Oregon, Idaho or California in category 10: the name,
 * city and state of each such seller, with the id of each such auction. A join
 * of persons (state in OR, ID, CA) with auctions (category 10) on
 * person.id = auction.seller.
 *
 * Here: both sides keyed by person id, an incremental join in keyed state: a
 * person is kept, an auction is kept only until its seller arrives (ids are
 * unique, so no later row could join it); Flink's regular join keeps both
 * sides forever. Same rows.
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

const struct weir_nexmark_query nexmark_q3 = {
    .name = "q3",
    .title = "Local Item Suggestion",
    .description =
        "sellers in OR, ID or CA of category-10 auctions (incremental join in keyed state)",
    .columns = q3_columns,
    .build = build_q3,
    .format = format_q3,
    .origin = origin_row_event,
    .updating = NULL,
};
