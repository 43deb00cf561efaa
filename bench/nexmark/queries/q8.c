/*
 * q8: Monitor New Users.
 *
 * Nexmark: the people who joined and opened an auction within the same 10 s
 * tumbling window: id, name and the window's start.
 *
 * Here: persons and auction sellers in the same window, joined on
 * id = seller in keyed state, one row per person and window when the window
 * ends (Flink groups each side by window first: same rows).
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

const struct weir_nexmark_query nexmark_q8 = {
    .name = "q8",
    .title = "Monitor New Users",
    .description = "people who joined and opened an auction in the same 10 s window (window join)",
    .columns = q8_columns,
    .build = build_q8,
    .format = format_q8,
    .origin = origin_ts,
    .updating = NULL,
};
