/*
 * The window operators' subtask state (open, close, the contents of a window: accumulator,
 * buffered records, ranking) and non-merging windows (tumbling, sliding).
 *
 * Non-merging windows (tumbling, sliding). A window [start, end) of a key is
 * the state namespace `start`: its contents (accumulator, buffered records,
 * ranking) live in keyed state under that namespace, and its timers are
 * (namespace start, end - 1) to fire and (namespace start, end - 1 +
 * lateness) to clean up; with no lateness they are one timer. A timer thus
 * names its window: end = start + size. Per record and window it belongs to:
 *
 *     late (end - 1 + lateness <= watermark)  -> skip this window
 *     otherwise add to the window, then
 *         end - 1 <= watermark (fired before)  -> fire now (late firing)
 *         else                                  -> timer at end - 1
 *     a record skipped by all its windows is dropped: counted, side output.
 */
#include "operators_private.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint32_t slot_size(uint32_t max)
{
    return (uint32_t)sizeof(struct slot) + ((max + 7u) & ~7u);
}

static int grow(void **buf, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap : 256;
    while (n < need)
        n *= 2;
    void *p = realloc(*buf, n);
    if (!p)
        return -ENOMEM;
    *buf = p;
    *cap = n;
    return 0;
}

int window_ensure_sessions(struct wstate *s, uint32_t need)
{
    if (need <= s->scap)
        return 0;
    uint32_t n = s->scap ? s->scap * 2 : 8;
    while (n < need)
        n *= 2;
    struct session *sb = realloc(s->sbuf, n * sizeof *sb);
    if (!sb)
        return -ENOMEM;
    s->sbuf = sb;
    uint32_t *m = realloc(s->merged, n * sizeof *m);
    if (!m)
        return -ENOMEM;
    s->merged = m;
    s->scap = n;
    return 0;
}

int window_open(weir_ctx *ctx, void *state, void *arg)
{
    struct wstate *s = state;
    const struct wcfg *c = arg;
    s->cfg = c;
    if (c->error) {
        weir_ctx_fail(ctx, "%s \"%s\": %s",
                      c->op == WOP_AGG    ? "window aggregate"
                      : c->op == WOP_JOIN ? "window join"
                                          : "top-n",
                      weir_ctx_uid(ctx), c->error);
        return -EINVAL;
    }
    s->be = weir_ctx_state(ctx);
    if (!s->be) {
        weir_ctx_fail(ctx, "window \"%s\": not a keyed operator", weir_ctx_uid(ctx));
        return -EINVAL;
    }
    if (c->spec.kind != WEIR_WINDOW_SESSION) {
        int64_t n = (c->spec.size_ms + c->spec.slide_ms - 1) / c->spec.slide_ms;
        if (n > 1 << 20) {
            weir_ctx_fail(ctx,
                          "window \"%s\": size / slide = %" PRId64 " windows per record; "
                          "at most 1048576",
                          weir_ctx_uid(ctx), n);
            return -EINVAL;
        }
        s->max_starts = (int)n;
        s->starts = calloc((size_t)n, sizeof *s->starts);
        if (!s->starts)
            return -ENOMEM;
    }
    switch (c->op) {
    case WOP_AGG:
        /* By slices, an accumulator per slice ("slice"), else one per window ("acc"): a
         * checkpoint of the one restores no state of the other. */
        s->acc = weir_value_state_get(s->be, window_sliced(c) ? "slice" : "acc", c->agg.acc_size,
                                      NULL);
        /* 16-aligned copies: user accumulators may hold doubles or int128s. */
        s->accbuf = aligned_alloc(16, (c->agg.acc_size + 15u) & ~15u);
        s->accbuf2 = aligned_alloc(16, (c->agg.acc_size + 15u) & ~15u);
        if (!s->acc || !s->accbuf || !s->accbuf2)
            return -ENOMEM;
        if (c->spec.kind == WEIR_WINDOW_SESSION) {
            s->sessions = weir_list_state_get(s->be, "sessions", sizeof(struct session), NULL);
            if (!s->sessions || window_ensure_sessions(s, 8) < 0)
                return -ENOMEM;
        }
        break;
    case WOP_JOIN:
    case WOP_TOPN: {
        int n = c->op == WOP_JOIN ? 2 : 1;
        for (int i = 0; i < n; i++) {
            s->slot_size[i] = slot_size(c->max_size[i]);
            const char *name = c->op == WOP_TOPN ? "top" : i == 0 ? "a" : "b";
            s->list[i] = weir_list_state_get(s->be, name, s->slot_size[i], NULL);
            /* Big enough for a record of max_size and for a slot (join_add). */
            s->rec[i] = malloc(WEIR_REC_HEADER + s->slot_size[i]);
            if (!s->list[i] || !s->rec[i])
                return -ENOMEM;
        }
        break;
    }
    }
    return 0;
}

void window_close(weir_ctx *ctx, void *state)
{
    struct wstate *s = state;
    free(s->starts);
    free(s->accbuf);
    free(s->accbuf2);
    free(s->sbuf);
    free(s->merged);
    for (int i = 0; i < 2; i++) {
        free(s->copy[i]);
        free(s->rec[i]);
    }
}

/* A record that no window takes any more: counted, and to the side output. */
int window_drop_late(weir_ctx *ctx, const struct wcfg *c, int input, const weir_rec *in)
{
    weir_ctx_count_late(ctx);
    if (c->late_tag[input])
        return weir_emit_forward(weir_ctx_side_output(ctx, c->late_tag[input]), in);
    return 0;
}

int window_need_ts(weir_ctx *ctx, const weir_rec *in)
{
    if (in->ts != WEIR_TS_NONE)
        return 0;
    weir_ctx_fail(ctx,
                  "window \"%s\": a record without timestamp; event-time windows need a "
                  "source with timestamps (weir_assign_watermarks)",
                  weir_ctx_uid(ctx));
    return -EINVAL;
}

/* --- window contents: what each operator keeps per window ------------------------- */

/* Copies the slots of list i in the current namespace into s->copy[i]. */
static int load_list(struct wstate *s, int i, const struct slot **slots, uint32_t *n)
{
    const void *elems;
    int rc = weir_list_get(s->list[i], &elems, n);
    if (rc < 0)
        return rc;
    size_t bytes = (size_t)*n * s->slot_size[i];
    if (grow((void **)&s->copy[i], &s->copy_cap[i], bytes + s->slot_size[i]) < 0)
        return -ENOMEM;
    if (bytes)
        memcpy(s->copy[i], elems, bytes);
    *slots = (const struct slot *)(const void *)s->copy[i];
    return 0;
}

static const struct slot *slot_at(const struct wstate *s, int i, uint32_t k)
{
    return (const struct slot *)(const void *)(s->copy[i] + (size_t)k * s->slot_size[i]);
}

static const weir_rec *slot_rec(struct wstate *s, int i, const struct slot *sl)
{
    weir_rec *r = s->rec[i];
    r->len = sl->len;
    r->kind = WEIR_REC_DATA;
    r->flags = 0;
    r->ts = sl->ts;
    memcpy(r->data, sl->data, sl->len);
    return r;
}

static int check_size(weir_ctx *ctx, const struct wcfg *c, int input, const weir_rec *in)
{
    if (in->len <= c->max_size[input])
        return 0;
    weir_ctx_fail(ctx,
                  "%s \"%s\": a record of %" PRIu32 " bytes on input %c exceeds its "
                  "max size of %" PRIu32 " bytes; raise %s",
                  c->op == WOP_JOIN ? "window join" : "top-n", weir_ctx_uid(ctx), in->len,
                  input ? 'b' : 'a', c->max_size[input],
                  c->op == WOP_JOIN ? (input ? "b_max_size" : "a_max_size") : "max_size");
    return -EMSGSIZE;
}

void window_agg_add_value(const struct wcfg *c, void *acc, const weir_rec *in)
{
    if (c->value) {
        int64_t v = c->value(in);
        c->agg.add(acc, &v);
    } else {
        c->agg.add(acc, in->data);
    }
}

/* Adds `in` to the accumulator in the current namespace. Returns 1 when this
 * created the accumulator (the window is new for this key), 0, or < 0. */
int window_agg_add(struct wstate *s, const weir_rec *in)
{
    const struct wcfg *c = s->cfg;
    const void *cur = weir_value_get(s->acc);
    if (cur)
        memcpy(s->accbuf, cur, c->agg.acc_size);
    else
        c->agg.init(s->accbuf);
    window_agg_add_value(c, s->accbuf, in);
    int rc = weir_value_put(s->acc, s->accbuf);
    return rc < 0 ? rc : cur == NULL;
}

/* Emits the result of the accumulator in the current namespace, if any. */
int window_agg_emit(weir_ctx *ctx, struct wstate *s, int64_t start, int64_t end, weir_emit *out)
{
    const void *cur = weir_value_get(s->acc);
    if (!cur)
        return 0;
    memcpy(s->accbuf, cur, s->cfg->agg.acc_size);
    return window_agg_emit_buf(ctx, s, start, end, out);
}

/* Emits the result of s->accbuf for the current key's window [start, end). */
int window_agg_emit_buf(weir_ctx *ctx, struct wstate *s, int64_t start, int64_t end,
                        weir_emit *out)
{
    const struct wcfg *c = s->cfg;
    uint32_t len = (uint32_t)sizeof(struct weir_window_result) + c->agg.result_size;
    struct weir_window_result *r = weir_emit_reserve(out, len);
    if (!r)
        return -EMSGSIZE;
    r->key = weir_ctx_current_key(ctx);
    r->start = start;
    r->end = end;
    c->agg.result(s->accbuf, r->result);
    return weir_emit_commit(out, end - 1);
}

static int join_add(weir_ctx *ctx, struct wstate *s, int input, const weir_rec *in)
{
    int rc = check_size(ctx, s->cfg, input, in);
    if (rc < 0)
        return rc;
    struct slot *sl = (struct slot *)(void *)s->rec[input]; /* scratch of slot size */
    memset(sl, 0, s->slot_size[input]);
    sl->ts = in->ts;
    sl->len = in->len;
    memcpy(sl->data, in->data, in->len);
    return weir_list_add(s->list[input], sl);
}

static int join_fire(weir_ctx *ctx, struct wstate *s, int64_t end, weir_emit *out)
{
    const struct slot *a, *b;
    uint32_t na, nb;
    int rc = load_list(s, 0, &a, &na);
    if (rc < 0 || na == 0)
        return rc;
    if ((rc = load_list(s, 1, &b, &nb)) < 0)
        return rc;
    for (uint32_t i = 0; i < na; i++) {
        const weir_rec *ra = slot_rec(s, 0, slot_at(s, 0, i));
        for (uint32_t j = 0; j < nb; j++) {
            rc = s->cfg->join(ctx, ra, slot_rec(s, 1, slot_at(s, 1, j)), end - 1, out);
            if (rc < 0)
                return rc;
        }
    }
    return 0;
}

/* Inserts `in` into the ranking of the current namespace: sorted by score,
 * descending, an equal score after the ones already there; at most n kept. */
static int topn_add(weir_ctx *ctx, struct wstate *s, const weir_rec *in)
{
    const struct wcfg *c = s->cfg;
    int rc = check_size(ctx, c, 0, in);
    if (rc < 0)
        return rc;
    const struct slot *slots;
    uint32_t n;
    if ((rc = load_list(s, 0, &slots, &n)) < 0)
        return rc;
    int64_t score = c->score(in);
    uint32_t pos = n;
    for (uint32_t i = 0; i < n; i++) {
        if (score > slot_at(s, 0, i)->score) {
            pos = i;
            break;
        }
    }
    if (pos >= c->n)
        return 0; /* not in the top n: nothing changes */
    uint32_t sz = s->slot_size[0];
    unsigned char *base = s->copy[0];
    /* load_list left room for one more slot. */
    memmove(base + (size_t)(pos + 1) * sz, base + (size_t)pos * sz, (size_t)(n - pos) * sz);
    struct slot *sl = (struct slot *)(void *)(base + (size_t)pos * sz);
    memset(sl, 0, sz);
    sl->ts = in->ts;
    sl->score = score;
    sl->len = in->len;
    memcpy(sl->data, in->data, in->len);
    n++;
    if (n > c->n)
        n = c->n;
    return weir_list_update(s->list[0], base, n);
}

static int topn_fire(weir_ctx *ctx, struct wstate *s, int64_t start, int64_t end, weir_emit *out)
{
    const struct slot *slots;
    uint32_t n;
    int rc = load_list(s, 0, &slots, &n);
    if (rc < 0)
        return rc;
    for (uint32_t i = 0; i < n; i++) {
        const struct slot *sl = slot_at(s, 0, i);
        struct weir_top_n_result *r =
            weir_emit_reserve(out, (uint32_t)sizeof(struct weir_top_n_result) + sl->len);
        if (!r)
            return -EMSGSIZE;
        r->key = weir_ctx_current_key(ctx);
        r->start = start;
        r->end = end;
        r->rank = i + 1;
        r->len = sl->len;
        r->score = sl->score;
        r->ts = sl->ts;
        memcpy(r->data, sl->data, sl->len);
        if ((rc = weir_emit_commit(out, end - 1)) < 0)
            return rc;
    }
    return 0;
}

static int contents_add(weir_ctx *ctx, struct wstate *s, int input, const weir_rec *in)
{
    switch (s->cfg->op) {
    case WOP_AGG:
        return window_agg_add(s, in);
    case WOP_JOIN:
        return join_add(ctx, s, input, in);
    case WOP_TOPN:
        return topn_add(ctx, s, in);
    }
    return -EINVAL;
}

static int contents_fire(weir_ctx *ctx, struct wstate *s, int64_t start, int64_t end,
                         weir_emit *out)
{
    switch (s->cfg->op) {
    case WOP_AGG:
        return window_agg_emit(ctx, s, start, end, out);
    case WOP_JOIN:
        return join_fire(ctx, s, end, out);
    case WOP_TOPN:
        return topn_fire(ctx, s, start, end, out);
    }
    return -EINVAL;
}

static int contents_clear(struct wstate *s)
{
    switch (s->cfg->op) {
    case WOP_AGG:
        return weir_value_clear(s->acc);
    case WOP_JOIN: {
        int rc = weir_list_clear(s->list[0]);
        return rc < 0 ? rc : weir_list_clear(s->list[1]);
    }
    case WOP_TOPN:
        return weir_list_clear(s->list[0]);
    }
    return -EINVAL;
}

/* --- non-merging windows (tumbling, sliding) -------------------------------------- */

/* A window's timer at ts. An aggregate's accumulator and its timers come and go together
 * (created by the same record, gone at cleanup), so a new accumulator means no live timer:
 * registered without the deduplication lookup (a cache miss per key and window). */
static int fixed_timer(weir_ctx *ctx, bool agg, enum weir_time_domain d, int64_t start,
                       int64_t ts)
{
    return agg ? weir_timer_register_new(ctx, d, (uint64_t)start, ts)
               : weir_timer_register(ctx, d, (uint64_t)start, ts);
}

static int fixed_process(weir_ctx *ctx, void *state, int input, const weir_rec *in, weir_emit *out)
{
    struct wstate *s = state;
    const struct wcfg *c = s->cfg;
    bool event = c->spec.time == WEIR_EVENT_TIME;
    int rc;
    if (event && (rc = window_need_ts(ctx, in)) < 0)
        return rc;
    int64_t ts = event ? in->ts : weir_ctx_processing_time(ctx);
    int64_t wm = weir_ctx_watermark(ctx);
    int n = weir_window_assign(&c->spec, ts, s->starts, s->max_starts);
    if (n > s->max_starts)
        n = s->max_starts;
    bool taken = false;
    for (int i = 0; i < n; i++) {
        int64_t start = s->starts[i], max_ts = start + c->spec.size_ms - 1;
        int64_t cleanup = event ? window_cleanup_time(max_ts, c->lateness) : max_ts;
        if (event && cleanup <= wm)
            continue; /* this window is gone */
        taken = true;
        weir_keyed_backend_set_namespace(s->be, (uint64_t)start);
        if ((rc = contents_add(ctx, s, input, in)) < 0)
            return rc;
        /* An aggregate's timers exist from the record that created its window
         * on (timers are checkpointed with the state): registering them again
         * for every record would only be deduplicated, at a hash lookup each. */
        bool agg = c->op == WOP_AGG, fresh = !agg || rc == 1;
        enum weir_time_domain d = event ? WEIR_EVENT_TIME : WEIR_PROCESSING_TIME;
        if (event && max_ts <= wm) {
            /* Fired already; still within the allowed lateness: fire again. */
            weir_keyed_backend_set_namespace(s->be, (uint64_t)start);
            if ((rc = contents_fire(ctx, s, start, max_ts + 1, out)) < 0)
                return rc;
        } else if (fresh && (rc = fixed_timer(ctx, agg, d, start, max_ts)) < 0) {
            return rc;
        }
        if (fresh && cleanup != max_ts && (rc = fixed_timer(ctx, agg, d, start, cleanup)) < 0)
            return rc;
    }
    if (!taken && event)
        return window_drop_late(ctx, c, input, in);
    return 0;
}

static int fixed_on_timer(weir_ctx *ctx, void *state, enum weir_time_domain d, uint64_t ns,
                          int64_t ts, weir_emit *out)
{
    struct wstate *s = state;
    const struct wcfg *c = s->cfg;
    int64_t start = (int64_t)ns, max_ts = start + c->spec.size_ms - 1;
    int64_t cleanup = d == WEIR_EVENT_TIME ? window_cleanup_time(max_ts, c->lateness) : max_ts;
    int rc;
    weir_keyed_backend_set_namespace(s->be, ns);
    if (ts == max_ts && (rc = contents_fire(ctx, s, start, max_ts + 1, out)) < 0)
        return rc;
    if (ts == cleanup) {
        weir_keyed_backend_set_namespace(s->be, ns);
        if ((rc = contents_clear(s)) < 0)
            return rc;
    }
    return 0;
}

const struct weir_operator_ops window_agg_fixed_ops = {.kind = "window",
                                                       .state_size = sizeof(struct wstate),
                                                       .open = window_open,
                                                       .process = fixed_process,
                                                       .close = window_close};
/* Event time only: a processing-time window is known only when process() reads the clock. */
bool window_prefetch_ns(const void *state, const weir_rec *r, uint64_t *ns)
{
    const struct wcfg *c = ((const struct wstate *)state)->cfg;
    if (c->spec.time != WEIR_EVENT_TIME || r->ts == WEIR_TS_NONE)
        return false;
    *ns = (uint64_t)weir_window_start(r->ts, c->spec.offset_ms, c->spec.slide_ms);
    return true;
}

const struct weir_keyed_ops window_fixed_kops = {.on_timer = fixed_on_timer,
                                                 .prefetch_ns = window_prefetch_ns};
const struct weir_operator_ops window_join_ops = {.kind = "window_join",
                                                  .state_size = sizeof(struct wstate),
                                                  .open = window_open,
                                                  .process = fixed_process,
                                                  .close = window_close};
const struct weir_operator_ops window_topn_ops = {.kind = "top_n",
                                                  .state_size = sizeof(struct wstate),
                                                  .open = window_open,
                                                  .process = fixed_process,
                                                  .close = window_close};
