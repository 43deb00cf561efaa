/*
 * The collect sink: collectors 0 .. WT_COLLECTORS - 1 gather what a job's sinks receive,
 * with the subtask that received each record, for exact assertions once the job ended.
 * And the scripted source, which plays records and watermarks from an array and can wait
 * for a collector (WT_WAIT).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <weir/operator.h>

#include "weir_test.h"

struct collector {
    pthread_mutex_t lock;
    struct wt_out *v;
    size_t n, cap;
    unsigned slow_every, slow_us, seen; /* wt_collect_slow */
};

static struct collector colls[WT_COLLECTORS] = {
#define L                                                                                          \
    {                                                                                              \
        .lock = PTHREAD_MUTEX_INITIALIZER                                                          \
    }
    L, L, L, L, L, L, L, L, L, L, L, L,
#undef L
};
_Static_assert(WT_COLLECTORS == 12, "one initializer per collector");

static struct collector *coll(int c)
{
    if (c < 0 || c >= WT_COLLECTORS)
        fail_msg("collector %d: there are %d", c, WT_COLLECTORS);
    return &colls[c];
}

void wt_collect_reset(void)
{
    for (int i = 0; i < WT_COLLECTORS; i++) {
        struct collector *k = &colls[i];
        pthread_mutex_lock(&k->lock);
        free(k->v);
        k->v = NULL;
        k->n = k->cap = 0;
        k->slow_every = k->slow_us = k->seen = 0;
        pthread_mutex_unlock(&k->lock);
    }
}

/* Appends one entry; the payload is copied by the caller under the lock. */
static struct wt_out *append(struct collector *k)
{
    if (k->n == k->cap) {
        size_t ncap = k->cap ? k->cap * 2 : 64;
        struct wt_out *v = realloc(k->v, ncap * sizeof *v);
        if (!v)
            return NULL;
        k->v = v;
        k->cap = ncap;
    }
    struct wt_out *o = &k->v[k->n++];
    memset(o, 0, offsetof(struct wt_out, data));
    return o;
}

static int collect_process(weir_ctx *ctx, void *state, int input, const weir_rec *in,
                           weir_emit *out)
{
    struct collector *k = weir_ctx_arg(ctx);
    if (in->len > WT_OUT_MAX)
        return -EMSGSIZE;
    pthread_mutex_lock(&k->lock);
    bool slow = k->slow_every && ++k->seen % k->slow_every == 0;
    unsigned us = k->slow_us;
    struct wt_out *o = append(k);
    if (o) {
        o->ts = in->ts;
        o->subtask = weir_ctx_subtask(ctx);
        o->parallelism = weir_ctx_parallelism(ctx);
        o->len = in->len;
        memcpy(o->data, in->data, in->len);
    }
    pthread_mutex_unlock(&k->lock);
    if (slow)
        usleep(us); /* outside the lock: the other subtasks go on */
    return o ? 0 : -ENOMEM;
}

static int collect_watermark(weir_ctx *ctx, void *state, int64_t wm, weir_emit *out)
{
    struct collector *k = weir_ctx_arg(ctx);
    pthread_mutex_lock(&k->lock);
    struct wt_out *o = append(k);
    if (o) {
        o->ts = wm;
        o->watermark = true;
        o->subtask = weir_ctx_subtask(ctx);
        o->parallelism = weir_ctx_parallelism(ctx);
    }
    pthread_mutex_unlock(&k->lock);
    return o ? weir_emit_watermark(out, wm) : -ENOMEM;
}

static const struct weir_operator_ops collect_ops = {.kind = "collect", .process = collect_process};
/* A separate kind: without a watermark callback the runtime forwards watermarks itself, and
 * collectors that do not keep them should see the runtime exactly as other sinks do. */
static const struct weir_operator_ops collect_wm_ops = {
    .kind = "collect", .process = collect_process, .watermark = collect_watermark};

weir_stream *wt_collect(weir_stream *in, const char *uid, int c)
{
    return weir_sink(in, uid, &collect_ops, coll(c));
}

weir_stream *wt_collect_with_watermarks(weir_stream *in, const char *uid, int c)
{
    return weir_sink(in, uid, &collect_wm_ops, coll(c));
}

void wt_collect_slow(int c, unsigned every, unsigned us)
{
    struct collector *k = coll(c);
    pthread_mutex_lock(&k->lock);
    k->slow_every = every;
    k->slow_us = us;
    pthread_mutex_unlock(&k->lock);
}

size_t wt_collected(int c)
{
    struct collector *k = coll(c);
    pthread_mutex_lock(&k->lock);
    size_t n = k->n;
    pthread_mutex_unlock(&k->lock);
    return n;
}

size_t wt_collected_by(int c, int subtask)
{
    struct collector *k = coll(c);
    size_t n = 0;
    pthread_mutex_lock(&k->lock);
    for (size_t i = 0; i < k->n; i++)
        n += k->v[i].subtask == subtask;
    pthread_mutex_unlock(&k->lock);
    return n;
}

const struct wt_out *wt_out(int c, size_t i)
{
    struct collector *k = coll(c);
    if (i >= k->n)
        fail_msg("collector %d: entry %zu of %zu", c, i, k->n);
    return &k->v[i];
}

int wt_out_cmp(const void *a, const void *b)
{
    const struct wt_out *x = a, *y = b;
    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    int r = memcmp(x->data, y->data, x->len);
    if (r)
        return r;
    return (x->ts > y->ts) - (x->ts < y->ts);
}

void wt_collect_sort(int c, int (*cmp)(const void *, const void *))
{
    struct collector *k = coll(c);
    pthread_mutex_lock(&k->lock);
    if (k->n)
        qsort(k->v, k->n, sizeof *k->v, cmp ? cmp : wt_out_cmp);
    pthread_mutex_unlock(&k->lock);
}

struct wt_out *wt_collect_take(int c, size_t *n)
{
    struct collector *k = coll(c);
    pthread_mutex_lock(&k->lock);
    struct wt_out *v = k->v;
    *n = k->n;
    k->v = NULL;
    k->n = k->cap = 0;
    pthread_mutex_unlock(&k->lock);
    return v;
}

/* ---- the scripted source --------------------------------------------------------------- */

#define WAIT_LIMIT_MS 20000

struct script_state {
    size_t pos;
    int64_t until_ms; /* end of a WT_SLEEP in progress, 0 = none */
    int64_t wait_start_ms;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One step of the script; 1 when it must be tried again later, else 0 or an errno. */
static int step(weir_ctx *ctx, struct script_state *s, const struct wt_ev *e, weir_emit *out)
{
    switch (e->kind) {
    case WT_EV_DATA:
        return weir_emit_copy(out, e->ts, &e->r, sizeof e->r);
    case WT_EV_WM:
        return weir_emit_watermark(out, e->ts);
    case WT_EV_SLEEP:
        if (!s->until_ms)
            s->until_ms = now_ms() + e->ts;
        if (now_ms() < s->until_ms)
            return 1;
        s->until_ms = 0;
        return 0;
    case WT_EV_WAIT:
        if (!s->wait_start_ms)
            s->wait_start_ms = now_ms();
        if (wt_collected((int)e->r.key) < (size_t)e->ts) {
            if (now_ms() - s->wait_start_ms > WAIT_LIMIT_MS) {
                weir_ctx_fail(ctx,
                              "script: waited 20 s for %" PRId64 " records in collector %" PRIu64,
                              e->ts, e->r.key);
                return -ETIMEDOUT;
            }
            return 1;
        }
        s->wait_start_ms = 0;
        return 0;
    }
    return -EINVAL;
}

static int script_poll(weir_ctx *ctx, void *state, weir_emit *out, uint32_t max, uint32_t *emitted)
{
    struct script_state *s = state;
    const struct wt_script *sc = weir_ctx_arg(ctx);
    *emitted = 0;
    while (s->pos < sc->n && *emitted < max) {
        const struct wt_ev *e = &sc->ev[s->pos];
        int rc = step(ctx, s, e, out);
        if (rc < 0)
            return rc;
        if (rc > 0)
            return WEIR_SOURCE_MORE;
        if (e->kind == WT_EV_DATA)
            ++*emitted;
        s->pos++;
    }
    return s->pos < sc->n ? WEIR_SOURCE_MORE : WEIR_SOURCE_DONE;
}

static const struct weir_source_ops script_ops = {
    .kind = "script", .state_size = sizeof(struct script_state), .poll = script_poll};

weir_stream *wt_script_source(weir_job *job, const char *uid, const struct wt_script *sc)
{
    /* One subtask: each key's records and the watermarks reach their keyed subtask in
     * script order, whatever the operator's parallelism. */
    return weir_set_parallelism(weir_source(job, uid, &script_ops, (void *)sc), 1);
}

const struct wt_rec *wt_rec_of(const weir_rec *r)
{
    return (const struct wt_rec *)(const void *)r->data;
}

uint64_t wt_key_of(const weir_rec *r)
{
    return wt_rec_of(r)->key;
}

int64_t wt_value_of(const weir_rec *r)
{
    return wt_rec_of(r)->value;
}

const struct wt_rec *wt_out_rec(int c, size_t i)
{
    return (const struct wt_rec *)(const void *)wt_out(c, i)->data;
}
