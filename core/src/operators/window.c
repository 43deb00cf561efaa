/*
 * Window operators: window aggregate (tumbling, sliding, session), window
 * join and windowed top-N, written against operator.h and state.h only.
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
 *
 * Session windows (merging). Per key, the set of open sessions is a list in
 * keyed state (namespace 0) of {start, end, state}: the session's extent and
 * the namespace its accumulator lives in (Flink's MergingWindowSet: the state
 * window stays put while the session grows, so merging moves at most the
 * accumulators of the sessions absorbed). Sessions of a key never touch each
 * other: [a, b) and [c, d) with c <= b and d >= a merge (Flink's
 * TimeWindow.intersects). Each session is in one of these states:
 *
 *     OPEN     end - 1 > watermark; fire timer (start, end - 1) and, with
 *              lateness, cleanup timer (start, end - 1 + lateness) pending.
 *              A record whose [ts, ts + gap) touches it extends it (merging
 *              with any other session it touches: session_merge()).
 *     FIRED    end - 1 <= watermark < end - 1 + lateness: the result was
 *              emitted; a record that touches it merges in and fires it
 *              again at once (or re-arms the fire timer if the merged session
 *              now ends after the watermark).
 *     GONE     the cleanup timer fired: accumulator cleared, entry removed.
 *
 * Transitions: add_session() (new / merge), the fire timer (OPEN -> FIRED),
 * the cleanup timer (FIRED -> GONE; with no lateness OPEN -> GONE in one
 * timer). A merge deletes the absorbed sessions' timers and registers the
 * result's, so no timer outlives its session; a timer that finds no session
 * of its start and time anyway (a race with a merge cannot happen, but a
 * restored set might lack one) does nothing.
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <weir/operator.h>
#include <weir/state.h>
#include <weir/windows.h>

/* --- specs and assignment ------------------------------------------------------ */

struct weir_window_spec weir_tumbling(int64_t size_ms)
{
    return (struct weir_window_spec){
        .kind = WEIR_WINDOW_TUMBLING, .size_ms = size_ms, .slide_ms = size_ms};
}

struct weir_window_spec weir_sliding(int64_t size_ms, int64_t slide_ms)
{
    return (struct weir_window_spec){
        .kind = WEIR_WINDOW_SLIDING, .size_ms = size_ms, .slide_ms = slide_ms};
}

struct weir_window_spec weir_session(int64_t gap_ms)
{
    return (struct weir_window_spec){.kind = WEIR_WINDOW_SESSION, .gap_ms = gap_ms};
}

struct weir_window_spec weir_window_offset(struct weir_window_spec spec, int64_t offset_ms)
{
    spec.offset_ms = offset_ms;
    return spec;
}

struct weir_window_spec weir_processing_time(struct weir_window_spec spec)
{
    spec.time = WEIR_PROCESSING_TIME;
    return spec;
}

int weir_window_spec_check(const struct weir_window_spec *spec, char *err, size_t errlen)
{
    switch (spec->kind) {
    case WEIR_WINDOW_TUMBLING:
    case WEIR_WINDOW_SLIDING:
        if (spec->size_ms <= 0 || spec->slide_ms <= 0) {
            snprintf(err, errlen,
                     "window size %" PRId64 " ms, slide %" PRId64 " ms: both must "
                     "be positive",
                     spec->size_ms, spec->slide_ms);
            return -EINVAL;
        }
        /* Flink's |offset| < slide; beyond it the offset only wraps around. */
        if (spec->offset_ms <= -spec->slide_ms || spec->offset_ms >= spec->slide_ms) {
            snprintf(err, errlen,
                     "window offset %" PRId64 " ms: must be within (-%" PRId64 ", %" PRId64
                     ") ms, the slide",
                     spec->offset_ms, spec->slide_ms, spec->slide_ms);
            return -EINVAL;
        }
        break;
    case WEIR_WINDOW_SESSION:
        if (spec->gap_ms <= 0) {
            snprintf(err, errlen, "session gap %" PRId64 " ms: must be positive", spec->gap_ms);
            return -EINVAL;
        }
        if (spec->time != WEIR_EVENT_TIME) {
            snprintf(err, errlen, "session windows are event-time only");
            return -EINVAL;
        }
        break;
    default:
        snprintf(err, errlen, "unknown window kind %d", (int)spec->kind);
        return -EINVAL;
    }
    if (spec->time != WEIR_EVENT_TIME && spec->time != WEIR_PROCESSING_TIME) {
        snprintf(err, errlen, "unknown time domain %d", (int)spec->time);
        return -EINVAL;
    }
    return 0;
}

int weir_window_assign(const struct weir_window_spec *spec, int64_t ts, int64_t *starts, int max)
{
    if (spec->kind == WEIR_WINDOW_SESSION || spec->size_ms <= 0 || spec->slide_ms <= 0)
        return -EINVAL;
    /* Flink's SlidingEventTimeWindows.assignWindows: from the last window
     * start at or before ts back while the window still holds ts. */
    int n = 0;
    int64_t last = weir_window_start(ts, spec->offset_ms, spec->slide_ms);
    for (int64_t s = last; s > ts - spec->size_ms; s -= spec->slide_ms) {
        if (n < max)
            starts[n] = s;
        n++;
    }
    return n;
}

/* end - 1 + lateness, saturated (Flink's WindowOperator.cleanupTime). */
static int64_t cleanup_time(int64_t max_ts, int64_t lateness)
{
    if (lateness > 0 && max_ts > INT64_MAX - lateness)
        return INT64_MAX;
    return max_ts + lateness;
}

/* --- built-in aggregates -------------------------------------------------------- */

static int64_t in_i64(const void *in)
{
    int64_t v;
    memcpy(&v, in, sizeof v);
    return v;
}

static void i64_zero(void *acc)
{
    *(int64_t *)acc = 0;
}
static void i64_min_init(void *acc)
{
    *(int64_t *)acc = INT64_MAX;
}
static void i64_max_init(void *acc)
{
    *(int64_t *)acc = INT64_MIN;
}
static void count_add(void *acc, const void *in)
{
    *(int64_t *)acc += 1;
}
static void sum_add(void *acc, const void *in)
{
    *(int64_t *)acc += in_i64(in);
}
static void sum_merge(void *acc, const void *other)
{
    *(int64_t *)acc += *(const int64_t *)other;
}
static void min_add(void *acc, const void *in)
{
    int64_t v = in_i64(in);
    if (v < *(int64_t *)acc)
        *(int64_t *)acc = v;
}
static void min_merge(void *acc, const void *other)
{
    min_add(acc, other);
}
static void max_add(void *acc, const void *in)
{
    int64_t v = in_i64(in);
    if (v > *(int64_t *)acc)
        *(int64_t *)acc = v;
}
static void max_merge(void *acc, const void *other)
{
    max_add(acc, other);
}
static void i64_result(const void *acc, void *out)
{
    memcpy(out, acc, sizeof(int64_t));
}

struct avg_acc {
    int64_t sum, count;
};
static void avg_init(void *acc)
{
    *(struct avg_acc *)acc = (struct avg_acc){0, 0};
}
static void avg_add(void *acc, const void *in)
{
    struct avg_acc *a = acc;
    a->sum += in_i64(in);
    a->count++;
}
static void avg_merge(void *acc, const void *other)
{
    struct avg_acc *a = acc;
    const struct avg_acc *b = other;
    a->sum += b->sum;
    a->count += b->count;
}
static void avg_result(const void *acc, void *out)
{
    const struct avg_acc *a = acc;
    double d = a->count ? (double)a->sum / (double)a->count : 0.0;
    memcpy(out, &d, sizeof d);
}

const struct weir_aggregate_fn weir_agg_count = {.acc_size = 8,
                                                 .result_size = 8,
                                                 .init = i64_zero,
                                                 .add = count_add,
                                                 .merge = sum_merge,
                                                 .result = i64_result};
const struct weir_aggregate_fn weir_agg_sum = {.acc_size = 8,
                                               .result_size = 8,
                                               .init = i64_zero,
                                               .add = sum_add,
                                               .merge = sum_merge,
                                               .result = i64_result};
const struct weir_aggregate_fn weir_agg_min = {.acc_size = 8,
                                               .result_size = 8,
                                               .init = i64_min_init,
                                               .add = min_add,
                                               .merge = min_merge,
                                               .result = i64_result};
const struct weir_aggregate_fn weir_agg_max = {.acc_size = 8,
                                               .result_size = 8,
                                               .init = i64_max_init,
                                               .add = max_add,
                                               .merge = max_merge,
                                               .result = i64_result};
const struct weir_aggregate_fn weir_agg_avg = {.acc_size = sizeof(struct avg_acc),
                                               .result_size = sizeof(double),
                                               .init = avg_init,
                                               .add = avg_add,
                                               .merge = avg_merge,
                                               .result = avg_result};

/* --- session merging (a plain function, unit-tested on its own) ------------------ */

/* One open session of a key, as stored in the "sessions" list state. */
struct session {
    int64_t start, end; /* [start, end) */
    int64_t state;      /* namespace of its accumulator */
};

struct session_plan {
    struct session result;
    uint32_t n_merged; /* existing sessions absorbed, indices in merged[] */
    bool changed;      /* the set changes (false: inside one existing session) */
};

/* Where [start, end) goes in set[0..n) (disjoint, not touching): the sessions
 * it touches, the session they make together, and whose state that session
 * keeps (the earliest absorbed one's, as Flink's MergingWindowSet). merged
 * must hold n entries. Exported for tests/ops/test_window_unit.c. */
void op_session_merge(const struct session *set, uint32_t n, int64_t start, int64_t end,
                      uint32_t *merged, struct session_plan *plan);
void op_session_merge(const struct session *set, uint32_t n, int64_t start, int64_t end,
                      uint32_t *merged, struct session_plan *plan)
{
    /* Sessions of the set never touch, so anything touching the merged
     * extent touches [start, end) itself: one pass finds them all. */
    plan->result = (struct session){.start = start, .end = end, .state = start};
    plan->n_merged = 0;
    int64_t first = INT64_MAX;
    for (uint32_t i = 0; i < n; i++) {
        if (set[i].start > end || set[i].end < start)
            continue;
        merged[plan->n_merged++] = i;
        if (set[i].start < plan->result.start)
            plan->result.start = set[i].start;
        if (set[i].end > plan->result.end)
            plan->result.end = set[i].end;
        if (set[i].start < first) {
            first = set[i].start;
            plan->result.state = set[i].state;
        }
    }
    plan->changed = !(plan->n_merged == 1 && set[merged[0]].start == plan->result.start &&
                      set[merged[0]].end == plan->result.end);
}

/* The set's invariant, for a session about to join set[0..n): it touches none
 * of them (checked incrementally: the rest of the set already held it). */
__attribute__((unused)) static bool session_apart(const struct session *set, uint32_t n,
                                                  const struct session *w)
{
    for (uint32_t i = 0; i < n; i++)
        if (set[i].start <= w->end && set[i].end >= w->start)
            return false;
    return w->start < w->end;
}

/* --- the operators' shared configuration and subtask state ---------------------- */

enum wop { WOP_AGG, WOP_JOIN, WOP_TOPN };

struct wcfg {
    enum wop op;
    struct weir_window_spec spec;
    int64_t lateness;
    char *late_tag[2]; /* per input */
    char *error;       /* set by the builder: open() fails the job with it */
    /* aggregate */
    struct weir_aggregate_fn agg;
    weir_value_fn value;
    /* join */
    weir_join_fn join;
    uint32_t max_size[2];
    /* top-N */
    uint32_t n;
    weir_score_fn score;
};

/* A buffered record in list state (join, top-N): a fixed-size slot. */
struct slot {
    int64_t ts;
    int64_t score; /* top-N */
    uint32_t len;
    uint32_t pad;
    unsigned char data[];
};

struct wstate {
    const struct wcfg *cfg;
    weir_keyed_backend *be;
    int64_t *starts; /* windows of one record */
    int max_starts;
    /* aggregate */
    weir_value_state *acc;
    weir_list_state *sessions;
    unsigned char *accbuf, *accbuf2;
    struct session *sbuf;
    uint32_t *merged;
    uint32_t scap;
    /* join / top-N */
    weir_list_state *list[2];
    uint32_t slot_size[2];
    unsigned char *copy[2]; /* a copy of a list's slots */
    size_t copy_cap[2];
    weir_rec *rec[2]; /* a slot rebuilt as a record */
};

static void wcfg_free(void *p)
{
    struct wcfg *c = p;
    if (!c)
        return;
    free(c->late_tag[0]);
    free(c->late_tag[1]);
    free(c->error);
    free(c);
}

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

static int ensure_sessions(struct wstate *s, uint32_t need)
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

static int w_open(weir_ctx *ctx, void *state, void *arg)
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
        s->acc = weir_value_state_get(s->be, "acc", c->agg.acc_size, NULL);
        /* 16-aligned copies: user accumulators may hold doubles or int128s. */
        s->accbuf = aligned_alloc(16, (c->agg.acc_size + 15u) & ~15u);
        s->accbuf2 = aligned_alloc(16, (c->agg.acc_size + 15u) & ~15u);
        if (!s->acc || !s->accbuf || !s->accbuf2)
            return -ENOMEM;
        if (c->spec.kind == WEIR_WINDOW_SESSION) {
            s->sessions = weir_list_state_get(s->be, "sessions", sizeof(struct session), NULL);
            if (!s->sessions || ensure_sessions(s, 8) < 0)
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

static void w_close(weir_ctx *ctx, void *state)
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
static int drop_late(weir_ctx *ctx, const struct wcfg *c, int input, const weir_rec *in)
{
    weir_ctx_count_late(ctx);
    if (c->late_tag[input])
        return weir_emit_forward(weir_ctx_side_output(ctx, c->late_tag[input]), in);
    return 0;
}

static int need_ts(weir_ctx *ctx, const weir_rec *in)
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

static void agg_add_value(const struct wcfg *c, void *acc, const weir_rec *in)
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
static int agg_add(struct wstate *s, const weir_rec *in)
{
    const struct wcfg *c = s->cfg;
    const void *cur = weir_value_get(s->acc);
    if (cur)
        memcpy(s->accbuf, cur, c->agg.acc_size);
    else
        c->agg.init(s->accbuf);
    agg_add_value(c, s->accbuf, in);
    int rc = weir_value_put(s->acc, s->accbuf);
    return rc < 0 ? rc : cur == NULL;
}

/* Emits the result of the accumulator in the current namespace, if any. */
static int agg_emit(weir_ctx *ctx, struct wstate *s, int64_t start, int64_t end, weir_emit *out)
{
    const struct wcfg *c = s->cfg;
    const void *cur = weir_value_get(s->acc);
    if (!cur)
        return 0;
    memcpy(s->accbuf, cur, c->agg.acc_size);
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
        return agg_add(s, in);
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
        return agg_emit(ctx, s, start, end, out);
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

static int fixed_process(weir_ctx *ctx, void *state, int input, const weir_rec *in, weir_emit *out)
{
    struct wstate *s = state;
    const struct wcfg *c = s->cfg;
    bool event = c->spec.time == WEIR_EVENT_TIME;
    int rc;
    if (event && (rc = need_ts(ctx, in)) < 0)
        return rc;
    int64_t ts = event ? in->ts : weir_ctx_processing_time(ctx);
    int64_t wm = weir_ctx_watermark(ctx);
    int n = weir_window_assign(&c->spec, ts, s->starts, s->max_starts);
    if (n > s->max_starts)
        n = s->max_starts;
    bool taken = false;
    for (int i = 0; i < n; i++) {
        int64_t start = s->starts[i], max_ts = start + c->spec.size_ms - 1;
        int64_t cleanup = event ? cleanup_time(max_ts, c->lateness) : max_ts;
        if (event && cleanup <= wm)
            continue; /* this window is gone */
        taken = true;
        weir_keyed_backend_set_namespace(s->be, (uint64_t)start);
        if ((rc = contents_add(ctx, s, input, in)) < 0)
            return rc;
        /* An aggregate's timers exist from the record that created its window
         * on (timers are checkpointed with the state): registering them again
         * for every record would only be deduplicated, at a hash lookup each. */
        bool fresh = c->op != WOP_AGG || rc == 1;
        enum weir_time_domain d = event ? WEIR_EVENT_TIME : WEIR_PROCESSING_TIME;
        if (event && max_ts <= wm) {
            /* Fired already; still within the allowed lateness: fire again. */
            weir_keyed_backend_set_namespace(s->be, (uint64_t)start);
            if ((rc = contents_fire(ctx, s, start, max_ts + 1, out)) < 0)
                return rc;
        } else if (fresh && (rc = weir_timer_register(ctx, d, (uint64_t)start, max_ts)) < 0) {
            return rc;
        }
        if (fresh && cleanup != max_ts &&
            (rc = weir_timer_register(ctx, d, (uint64_t)start, cleanup)) < 0)
            return rc;
    }
    if (!taken && event)
        return drop_late(ctx, c, input, in);
    return 0;
}

static int fixed_on_timer(weir_ctx *ctx, void *state, enum weir_time_domain d, uint64_t ns,
                          int64_t ts, weir_emit *out)
{
    struct wstate *s = state;
    const struct wcfg *c = s->cfg;
    int64_t start = (int64_t)ns, max_ts = start + c->spec.size_ms - 1;
    int64_t cleanup = d == WEIR_EVENT_TIME ? cleanup_time(max_ts, c->lateness) : max_ts;
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

/* --- session windows ------------------------------------------------------------------ */

/* Loads the key's sessions (namespace 0) into s->sbuf. */
static int load_sessions(struct wstate *s, uint32_t *n)
{
    const void *elems;
    weir_keyed_backend_set_namespace(s->be, 0);
    int rc = weir_list_get(s->sessions, &elems, n);
    if (rc < 0)
        return rc;
    if ((rc = ensure_sessions(s, *n + 1)) < 0)
        return rc;
    if (*n)
        memcpy(s->sbuf, elems, (size_t)*n * sizeof *s->sbuf);
    return 0;
}

static int store_sessions(struct wstate *s, uint32_t n)
{
    weir_keyed_backend_set_namespace(s->be, 0);
    if (n == 0)
        return weir_list_clear(s->sessions);
    return weir_list_update(s->sessions, s->sbuf, n);
}

/* Merges the accumulator of namespace `from` into that of `into`, clears `from`. */
static int merge_acc(struct wstate *s, int64_t from, int64_t into)
{
    const struct weir_aggregate_fn *agg = &s->cfg->agg;
    weir_keyed_backend_set_namespace(s->be, (uint64_t)from);
    const void *v = weir_value_get(s->acc);
    if (!v)
        return 0;
    memcpy(s->accbuf2, v, agg->acc_size);
    int rc = weir_value_clear(s->acc);
    if (rc < 0)
        return rc;
    weir_keyed_backend_set_namespace(s->be, (uint64_t)into);
    v = weir_value_get(s->acc);
    if (v) {
        memcpy(s->accbuf, v, agg->acc_size);
        agg->merge(s->accbuf, s->accbuf2);
    } else {
        memcpy(s->accbuf, s->accbuf2, agg->acc_size);
    }
    return weir_value_put(s->acc, s->accbuf);
}

static int session_timers(weir_ctx *ctx, const struct wcfg *c, const struct session *w, bool add)
{
    int64_t max_ts = w->end - 1, cleanup = cleanup_time(max_ts, c->lateness);
    int (*fn)(weir_ctx *, enum weir_time_domain, uint64_t, int64_t) =
        add ? weir_timer_register : weir_timer_delete;
    int rc = fn(ctx, WEIR_EVENT_TIME, (uint64_t)w->start, max_ts);
    if (rc == 0 && cleanup != max_ts)
        rc = fn(ctx, WEIR_EVENT_TIME, (uint64_t)w->start, cleanup);
    return rc;
}

static int session_process(weir_ctx *ctx, void *state, int input, const weir_rec *in,
                           weir_emit *out)
{
    struct wstate *s = state;
    const struct wcfg *c = s->cfg;
    int rc;
    if ((rc = need_ts(ctx, in)) < 0)
        return rc;
    int64_t wm = weir_ctx_watermark(ctx);
    int64_t start = in->ts;
    int64_t end = start > INT64_MAX - c->spec.gap_ms ? INT64_MAX : start + c->spec.gap_ms;
    uint32_t n;
    if ((rc = load_sessions(s, &n)) < 0)
        return rc;
    struct session_plan plan;
    op_session_merge(s->sbuf, n, start, end, s->merged, &plan);
    struct session r = plan.result;
    /* Only a session of this record alone can be late: any session still in
     * the set ends after the watermark less the lateness. */
    if (cleanup_time(r.end - 1, c->lateness) <= wm)
        return drop_late(ctx, c, input, in);
    if (plan.changed) {
        for (uint32_t i = 0; i < plan.n_merged; i++) {
            const struct session *m = &s->sbuf[s->merged[i]];
            if ((rc = session_timers(ctx, c, m, false)) < 0)
                return rc;
            if (m->state != r.state && (rc = merge_acc(s, m->state, r.state)) < 0)
                return rc;
        }
        /* Drop the absorbed sessions (indices ascending), append the result. */
        uint32_t k = 0, mi = 0;
        for (uint32_t i = 0; i < n; i++) {
            if (mi < plan.n_merged && s->merged[mi] == i) {
                mi++;
                continue;
            }
            s->sbuf[k++] = s->sbuf[i];
        }
        s->sbuf[k++] = r;
        assert(session_apart(s->sbuf, k - 1, &r));
        if ((rc = store_sessions(s, k)) < 0)
            return rc;
    }
    weir_keyed_backend_set_namespace(s->be, (uint64_t)r.state);
    if ((rc = agg_add(s, in)) < 0)
        return rc;
    int64_t max_ts = r.end - 1, cleanup = cleanup_time(max_ts, c->lateness);
    if (max_ts <= wm) {
        /* The session fired already and is within the allowed lateness. */
        weir_keyed_backend_set_namespace(s->be, (uint64_t)r.state);
        if ((rc = agg_emit(ctx, s, r.start, r.end, out)) < 0)
            return rc;
    } else if ((rc = weir_timer_register(ctx, WEIR_EVENT_TIME, (uint64_t)r.start, max_ts)) < 0) {
        return rc;
    }
    if (cleanup != max_ts)
        rc = weir_timer_register(ctx, WEIR_EVENT_TIME, (uint64_t)r.start, cleanup);
    return rc;
}

static int session_on_timer(weir_ctx *ctx, void *state, enum weir_time_domain d, uint64_t ns,
                            int64_t ts, weir_emit *out)
{
    struct wstate *s = state;
    const struct wcfg *c = s->cfg;
    if (d != WEIR_EVENT_TIME)
        return 0;
    uint32_t n;
    int rc = load_sessions(s, &n);
    if (rc < 0)
        return rc;
    uint32_t i;
    for (i = 0; i < n && s->sbuf[i].start != (int64_t)ns; i++)
        ;
    if (i == n)
        return 0; /* no such session (see the top of the file) */
    struct session w = s->sbuf[i];
    int64_t max_ts = w.end - 1, cleanup = cleanup_time(max_ts, c->lateness);
    if (ts == max_ts) {
        weir_keyed_backend_set_namespace(s->be, (uint64_t)w.state);
        if ((rc = agg_emit(ctx, s, w.start, w.end, out)) < 0)
            return rc;
    }
    if (ts == cleanup) {
        weir_keyed_backend_set_namespace(s->be, (uint64_t)w.state);
        if ((rc = weir_value_clear(s->acc)) < 0)
            return rc;
        s->sbuf[i] = s->sbuf[n - 1];
        if ((rc = store_sessions(s, n - 1)) < 0)
            return rc;
    }
    return 0;
}

/* --- builders ----------------------------------------------------------------------- */

static const struct weir_operator_ops agg_fixed_ops = {.kind = "window",
                                                       .state_size = sizeof(struct wstate),
                                                       .open = w_open,
                                                       .process = fixed_process,
                                                       .close = w_close};
static const struct weir_keyed_ops fixed_kops = {.on_timer = fixed_on_timer};
static const struct weir_operator_ops agg_session_ops = {.kind = "window",
                                                         .state_size = sizeof(struct wstate),
                                                         .open = w_open,
                                                         .process = session_process,
                                                         .close = w_close};
static const struct weir_keyed_ops session_kops = {.on_timer = session_on_timer};
static const struct weir_operator_ops join_ops = {.kind = "window_join",
                                                  .state_size = sizeof(struct wstate),
                                                  .open = w_open,
                                                  .process = fixed_process,
                                                  .close = w_close};
static const struct weir_operator_ops topn_ops = {.kind = "top_n",
                                                  .state_size = sizeof(struct wstate),
                                                  .open = w_open,
                                                  .process = fixed_process,
                                                  .close = w_close};

static void cfg_error(struct wcfg *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void cfg_error(struct wcfg *c, const char *fmt, ...)
{
    if (c->error)
        return;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&c->error, fmt, ap) < 0)
        c->error = NULL;
    va_end(ap);
}

/* Common part: copies the spec, lateness and tags, checks the spec. The
 * builders record a problem in c->error and the operator's open() fails the
 * job with it: job.h has no way for a library builder to fail the job itself
 * (see the report). */
static struct wcfg *wcfg_new(enum wop op, struct weir_window_spec spec, int64_t lateness,
                             const char *tag_a, const char *tag_b)
{
    struct wcfg *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->op = op;
    c->spec = spec;
    c->lateness = spec.time == WEIR_EVENT_TIME ? lateness : 0;
    if ((tag_a && !(c->late_tag[0] = strdup(tag_a))) ||
        (tag_b && !(c->late_tag[1] = strdup(tag_b)))) {
        wcfg_free(c);
        return NULL;
    }
    char err[256];
    if (weir_window_spec_check(&spec, err, sizeof err) < 0)
        cfg_error(c, "%s", err);
    if (lateness < 0)
        cfg_error(c, "allowed lateness %" PRId64 " ms: must be >= 0", lateness);
    return c;
}

/* When the options cannot even be copied: the operator's open() fails the job. */
static struct wcfg oom_cfg = {.error = (char *)"out of memory while building the job"};

static weir_stream *finish(weir_stream *s, struct wcfg *c)
{
    if (!s) {
        wcfg_free(c);
        return NULL;
    }
    weir_stream_own_arg(s, wcfg_free);
    return s;
}

weir_stream *weir_window_aggregate(weir_stream *keyed, const char *uid,
                                   struct weir_window_spec spec,
                                   const struct weir_aggregate_fn *agg, weir_value_fn value,
                                   const struct weir_window_opts *opts)
{
    if (!keyed)
        return NULL;
    struct weir_window_opts o = opts ? *opts : (struct weir_window_opts){0};
    struct wcfg *c = wcfg_new(WOP_AGG, spec, o.allowed_lateness_ms, o.late_tag, NULL);
    if (!c)
        return weir_keyed_transform(keyed, uid, &agg_fixed_ops, &fixed_kops, &oom_cfg);
    if (!agg || !agg->init || !agg->add || !agg->result || !agg->acc_size) {
        cfg_error(c, "the aggregate function needs acc_size, init, add and result");
    } else {
        c->agg = *agg;
        if (spec.kind == WEIR_WINDOW_SESSION && !agg->merge)
            cfg_error(c, "session windows merge, and the aggregate function has no merge");
        if (!value && agg != &weir_agg_count &&
            (agg == &weir_agg_sum || agg == &weir_agg_min || agg == &weir_agg_max ||
             agg == &weir_agg_avg))
            cfg_error(c, "the built-in sum, min, max and avg need a value function");
    }
    c->value = value;
    bool session = spec.kind == WEIR_WINDOW_SESSION;
    return finish(weir_keyed_transform(keyed, uid, session ? &agg_session_ops : &agg_fixed_ops,
                                       session ? &session_kops : &fixed_kops, c),
                  c);
}

weir_stream *weir_window_join(weir_stream *a, weir_stream *b, const char *uid,
                              struct weir_window_spec spec, weir_join_fn join,
                              const struct weir_join_opts *opts)
{
    if (!a || !b)
        return NULL;
    struct weir_join_opts o = opts ? *opts : (struct weir_join_opts){0};
    struct wcfg *c = wcfg_new(WOP_JOIN, spec, o.allowed_lateness_ms, o.late_tag_a, o.late_tag_b);
    if (!c)
        return weir_keyed_connect(a, b, uid, &join_ops, &fixed_kops, &oom_cfg);
    if (spec.kind == WEIR_WINDOW_SESSION)
        cfg_error(c, "window joins take tumbling or sliding windows, not session windows");
    if (!join)
        cfg_error(c, "no join function");
    if (!o.a_max_size || !o.b_max_size)
        cfg_error(c, "a_max_size and b_max_size (the largest record payloads) must be set");
    c->join = join;
    c->max_size[0] = o.a_max_size;
    c->max_size[1] = o.b_max_size;
    return finish(weir_keyed_connect(a, b, uid, &join_ops, &fixed_kops, c), c);
}

weir_stream *weir_top_n(weir_stream *keyed, const char *uid, struct weir_window_spec spec,
                        uint32_t n, weir_score_fn score, const struct weir_top_n_opts *opts)
{
    if (!keyed)
        return NULL;
    struct weir_top_n_opts o = opts ? *opts : (struct weir_top_n_opts){0};
    struct wcfg *c = wcfg_new(WOP_TOPN, spec, o.allowed_lateness_ms, o.late_tag, NULL);
    if (!c)
        return weir_keyed_transform(keyed, uid, &topn_ops, &fixed_kops, &oom_cfg);
    if (spec.kind == WEIR_WINDOW_SESSION)
        cfg_error(c, "top-n takes tumbling or sliding windows, not session windows");
    if (n == 0 || n > 4096)
        cfg_error(c, "n = %" PRIu32 ": must be 1 to 4096", n);
    if (!score)
        cfg_error(c, "no score function");
    if (!o.max_size)
        cfg_error(c, "max_size (the largest record payload) must be set");
    c->n = n;
    c->score = score;
    c->max_size[0] = o.max_size;
    return finish(weir_keyed_transform(keyed, uid, &topn_ops, &fixed_kops, c), c);
}
