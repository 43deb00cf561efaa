/*
 * Interval join (Flink's IntervalJoinOperator), written against operator.h
 * and state.h only.
 *
 * Per key and side (a = input 0, b = input 1) the buffered records are kept
 * as Flink keeps them, a map from timestamp to the records of that timestamp:
 * map state "a-ts" / "b-ts" (namespace 0) holds the timestamps that have
 * records, and list state "a" / "b" in namespace = that timestamp holds the
 * records. A record of a at ts joins the b records at timestamps in
 * [ts + lower, ts + upper]; one of b at ts joins the a records in
 * [ts - upper, ts - lower]. A buffered record is in one of two states:
 *
 *     BUFFERED  added by process(); joins every later record of the other
 *               side in its range. A cleanup timer is pending at the last
 *               time the other side can still match it: a: ts + max(upper, 0),
 *               b: ts + max(-lower, 0); timer namespace 0 for a, 1 for b.
 *     GONE      the watermark reached the cleanup time: the timer cleared the
 *               list of that timestamp and removed it from the map.
 *
 * A record with ts < watermark is late (as in Flink) and never buffered.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <weir/operator.h>
#include <weir/state.h>
#include <weir/windows.h>

struct ijcfg {
    const char *error; /* static text: open() fails the job with it */
    int64_t lower, upper;
    weir_join_fn join;
    uint32_t max_size[2];
    char *late_tag[2];
};

/* A buffered record in list state: a fixed-size slot. */
struct ijslot {
    uint32_t len;
    uint32_t pad;
    unsigned char data[];
};

struct ijstate {
    const struct ijcfg *cfg;
    weir_keyed_backend *be;
    weir_map_state *ts_map[2];
    weir_list_state *list[2];
    uint32_t slot_size[2];
    struct ijslot *slot; /* scratch slot of the larger size */
    weir_rec *rec[2];    /* a slot rebuilt as a record */
    int64_t *match;      /* timestamps of the other side in range */
    size_t n_match, cap_match;
    unsigned char *copy; /* a copy of one list's slots */
    size_t copy_cap;
};

static void ijcfg_free(void *p)
{
    struct ijcfg *c = p;
    if (!c)
        return;
    free(c->late_tag[0]);
    free(c->late_tag[1]);
    free(c);
}

static int ij_open(weir_ctx *ctx, void *state, void *arg)
{
    struct ijstate *s = state;
    const struct ijcfg *c = arg;
    s->cfg = c;
    if (c->error) {
        weir_ctx_fail(ctx, "interval join \"%s\": %s", weir_ctx_uid(ctx), c->error);
        return -EINVAL;
    }
    s->be = weir_ctx_state(ctx);
    if (!s->be) {
        weir_ctx_fail(ctx, "interval join \"%s\": not a keyed operator", weir_ctx_uid(ctx));
        return -EINVAL;
    }
    static const char *const map_names[2] = {"a-ts", "b-ts"}, *const list_names[2] = {"a", "b"};
    uint32_t biggest = 0;
    for (int i = 0; i < 2; i++) {
        s->slot_size[i] = (uint32_t)sizeof(struct ijslot) + ((c->max_size[i] + 7u) & ~7u);
        if (s->slot_size[i] > biggest)
            biggest = s->slot_size[i];
        s->ts_map[i] = weir_map_state_get(s->be, map_names[i], sizeof(int64_t), 1, NULL);
        s->list[i] = weir_list_state_get(s->be, list_names[i], s->slot_size[i], NULL);
        s->rec[i] = malloc(WEIR_REC_HEADER + s->slot_size[i]);
        if (!s->ts_map[i] || !s->list[i] || !s->rec[i])
            return -ENOMEM;
    }
    s->slot = calloc(1, biggest);
    return s->slot ? 0 : -ENOMEM;
}

static void ij_close(weir_ctx *ctx, void *state)
{
    struct ijstate *s = state;
    free(s->slot);
    free(s->rec[0]);
    free(s->rec[1]);
    free(s->match);
    free(s->copy);
}

static int64_t sat_add(int64_t a, int64_t b)
{
    if (b > 0 && a > INT64_MAX - b)
        return INT64_MAX;
    if (b < 0 && a < INT64_MIN - b)
        return INT64_MIN;
    return a + b;
}

struct range {
    struct ijstate *s;
    int64_t lo, hi;
};

static int collect_in_range(void *arg, const void *ukey, const void *value)
{
    struct range *r = arg;
    struct ijstate *s = r->s;
    int64_t ts;
    memcpy(&ts, ukey, sizeof ts);
    if (ts < r->lo || ts > r->hi)
        return 0;
    if (s->n_match == s->cap_match) {
        size_t n = s->cap_match ? s->cap_match * 2 : 16;
        int64_t *m = realloc(s->match, n * sizeof *m);
        if (!m)
            return -ENOMEM;
        s->match = m;
        s->cap_match = n;
    }
    s->match[s->n_match++] = ts;
    return 0;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static const weir_rec *as_rec(struct ijstate *s, int side, const struct ijslot *sl, int64_t ts)
{
    weir_rec *r = s->rec[side];
    r->len = sl->len;
    r->kind = WEIR_REC_DATA;
    r->flags = 0;
    r->ts = ts;
    memcpy(r->data, sl->data, sl->len);
    return r;
}

/* Joins `in` (side `me`) with every buffered record of the other side whose
 * timestamp lies in [lo, hi], in timestamp order, then arrival order. */
static int join_other(weir_ctx *ctx, struct ijstate *s, int me, const weir_rec *in, int64_t lo,
                      int64_t hi, weir_emit *out)
{
    int other = 1 - me;
    struct range r = {.s = s, .lo = lo, .hi = hi};
    s->n_match = 0;
    weir_keyed_backend_set_namespace(s->be, 0);
    int rc = weir_map_iterate(s->ts_map[other], collect_in_range, &r);
    if (rc < 0)
        return rc;
    if (s->n_match > 1)
        qsort(s->match, s->n_match, sizeof *s->match, cmp_i64);
    for (size_t k = 0; k < s->n_match; k++) {
        int64_t ots = s->match[k];
        const void *elems;
        uint32_t n;
        weir_keyed_backend_set_namespace(s->be, (uint64_t)ots);
        if ((rc = weir_list_get(s->list[other], &elems, &n)) < 0)
            return rc;
        size_t bytes = (size_t)n * s->slot_size[other];
        if (bytes > s->copy_cap) {
            unsigned char *p = realloc(s->copy, bytes);
            if (!p)
                return -ENOMEM;
            s->copy = p;
            s->copy_cap = bytes;
        }
        if (bytes)
            memcpy(s->copy, elems, bytes);
        int64_t ts = in->ts > ots ? in->ts : ots;
        for (uint32_t j = 0; j < n; j++) {
            const struct ijslot *sl =
                (const struct ijslot *)(const void *)(s->copy + (size_t)j * s->slot_size[other]);
            const weir_rec *o = as_rec(s, other, sl, ots);
            rc = me == 0 ? s->cfg->join(ctx, in, o, ts, out) : s->cfg->join(ctx, o, in, ts, out);
            if (rc < 0)
                return rc;
        }
    }
    return 0;
}

static int ij_process(weir_ctx *ctx, void *state, int input, const weir_rec *in, weir_emit *out)
{
    struct ijstate *s = state;
    const struct ijcfg *c = s->cfg;
    int me = input ? 1 : 0;
    if (in->ts == WEIR_TS_NONE) {
        weir_ctx_fail(ctx,
                      "interval join \"%s\": a record without timestamp; the join needs "
                      "sources with timestamps (weir_assign_watermarks)",
                      weir_ctx_uid(ctx));
        return -EINVAL;
    }
    if (in->len > c->max_size[me]) {
        weir_ctx_fail(ctx,
                      "interval join \"%s\": a record of %" PRIu32 " bytes on input %c "
                      "exceeds %s = %" PRIu32,
                      weir_ctx_uid(ctx), in->len, me ? 'b' : 'a', me ? "b_max_size" : "a_max_size",
                      c->max_size[me]);
        return -EMSGSIZE;
    }
    int64_t wm = weir_ctx_watermark(ctx);
    if (wm != INT64_MIN && in->ts < wm) {
        weir_ctx_count_late(ctx);
        if (c->late_tag[me])
            return weir_emit_forward(weir_ctx_side_output(ctx, c->late_tag[me]), in);
        return 0;
    }
    /* Buffer it first, as Flink does; then join it with the other side. */
    memset(s->slot, 0, s->slot_size[me]);
    s->slot->len = in->len;
    memcpy(s->slot->data, in->data, in->len);
    weir_keyed_backend_set_namespace(s->be, (uint64_t)in->ts);
    int rc = weir_list_add(s->list[me], s->slot);
    if (rc < 0)
        return rc;
    static const unsigned char one = 1;
    weir_keyed_backend_set_namespace(s->be, 0);
    if ((rc = weir_map_put(s->ts_map[me], &in->ts, &one)) < 0)
        return rc;
    /* a.ts + lower <= b.ts <= a.ts + upper, seen from either side. */
    int64_t lo = me == 0 ? sat_add(in->ts, c->lower) : sat_add(in->ts, -c->upper);
    int64_t hi = me == 0 ? sat_add(in->ts, c->upper) : sat_add(in->ts, -c->lower);
    if ((rc = join_other(ctx, s, me, in, lo, hi, out)) < 0)
        return rc;
    /* The last time the other side can still match this record. */
    int64_t reach = me == 0 ? c->upper : -c->lower;
    int64_t cleanup = reach > 0 ? sat_add(in->ts, reach) : in->ts;
    return weir_timer_register(ctx, WEIR_EVENT_TIME, (uint64_t)me, cleanup);
}

static int ij_on_timer(weir_ctx *ctx, void *state, enum weir_time_domain d, uint64_t ns, int64_t ts,
                       weir_emit *out)
{
    struct ijstate *s = state;
    const struct ijcfg *c = s->cfg;
    if (d != WEIR_EVENT_TIME || ns > 1)
        return 0;
    int me = (int)ns;
    int64_t reach = me == 0 ? c->upper : -c->lower;
    int64_t bucket = reach > 0 ? ts - reach : ts;
    weir_keyed_backend_set_namespace(s->be, (uint64_t)bucket);
    int rc = weir_list_clear(s->list[me]);
    if (rc < 0)
        return rc;
    weir_keyed_backend_set_namespace(s->be, 0);
    return weir_map_remove(s->ts_map[me], &bucket);
}

static const struct weir_operator_ops ij_ops = {.kind = "interval_join",
                                                .state_size = sizeof(struct ijstate),
                                                .open = ij_open,
                                                .process = ij_process,
                                                .close = ij_close};
static const struct weir_keyed_ops ij_kops = {.on_timer = ij_on_timer};
static const struct ijcfg oom_cfg = {.error = "out of memory while building the job"};

weir_stream *weir_interval_join(weir_stream *a, weir_stream *b, const char *uid, int64_t lower_ms,
                                int64_t upper_ms, weir_join_fn join,
                                const struct weir_join_opts *opts)
{
    if (!a || !b)
        return NULL;
    struct weir_join_opts o = opts ? *opts : (struct weir_join_opts){0};
    struct ijcfg *c = calloc(1, sizeof *c);
    if (!c || (o.late_tag_a && !(c->late_tag[0] = strdup(o.late_tag_a))) ||
        (o.late_tag_b && !(c->late_tag[1] = strdup(o.late_tag_b)))) {
        ijcfg_free(c);
        return weir_keyed_connect(a, b, uid, &ij_ops, &ij_kops, (void *)&oom_cfg);
    }
    if (lower_ms > upper_ms)
        c->error = "lower bound above upper bound: need a.ts + lower <= b.ts <= a.ts + upper";
    if (!join)
        c->error = "no join function";
    if (!o.a_max_size || !o.b_max_size)
        c->error = "a_max_size and b_max_size (the largest record payloads) must be set";
    c->lower = lower_ms;
    c->upper = upper_ms;
    c->join = join;
    c->max_size[0] = o.a_max_size;
    c->max_size[1] = o.b_max_size;
    weir_stream *s = weir_keyed_connect(a, b, uid, &ij_ops, &ij_kops, c);
    if (!s)
        ijcfg_free(c);
    else
        weir_stream_own_arg(s, ijcfg_free);
    return s;
}
