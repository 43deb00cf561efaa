/*
 * Built-in data generator and blackhole sink.
 *
 * The generator is deterministic from its seed: record seq carries
 * key = seq % keys (or a hash of seed and seq, uniform in [0, keys)) and
 * value = hash(seed, seq), so any subtask split produces the same records.
 * The sequence is split into residue classes: split (r, m) is seq = r, r + m, r + 2m, ...,
 * and a fresh run gives subtask i of p the split (i, p); a rate limit is shared evenly among
 * splits. Each split and its next seq is one item of split list state (WEIR_STATE_SPLIT), so
 * a restore at another parallelism deals whole splits to the subtasks (one may run several,
 * in seq order; one with none finishes at once and does not hold the watermark back).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include <weir/errbuf.h>
#include <weir/job.h>
#include <weir/state.h>

#include "decoders.h"

static inline uint64_t splitmix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

struct dg_split {
    uint64_t next, stride; /* the item's layout, and a position's before splits existed */
};

struct datagen {
    struct weir_datagen_opts o;
    struct dg_split *sp;
    size_t n_sp;
    uint64_t emitted;
    double rate; /* this subtask's records per second */
    uint64_t start_ns;
};

/* Whether split x has records left. */
static bool dg_live(const struct datagen *g, const struct dg_split *x)
{
    return !g->o.records || x->next < g->o.records;
}

/* The live split with the lowest next seq, NULL when all have ended. */
static struct dg_split *dg_next(struct datagen *g)
{
    struct dg_split *b = NULL;
    for (size_t i = 0; i < g->n_sp; i++)
        if (dg_live(g, &g->sp[i]) && (!b || g->sp[i].next < b->next))
            b = &g->sp[i];
    return b;
}

static void dg_rate(struct datagen *g)
{
    g->rate = 0;
    for (size_t i = 0; i < g->n_sp && g->o.rate > 0; i++)
        g->rate += g->o.rate / (double)g->sp[i].stride;
}

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int datagen_open(weir_ctx *ctx, void *state, void *arg)
{
    struct datagen *g = state;
    g->o = *(const struct weir_datagen_opts *)arg;
    g->sp = malloc(sizeof *g->sp);
    if (!g->sp)
        return -ENOMEM;
    g->sp[0] = (struct dg_split){(uint64_t)weir_ctx_subtask(ctx),
                                 (uint64_t)weir_ctx_parallelism(ctx)};
    g->n_sp = 1;
    dg_rate(g);
    g->start_ns = mono_ns();
    return 0;
}

static void datagen_close(weir_ctx *ctx, void *state)
{
    struct datagen *g = state;
    free(g->sp);
    g->sp = NULL;
}

static int datagen_poll(weir_ctx *ctx, void *state, weir_emit *out, uint32_t max, uint32_t *emitted)
{
    struct datagen *g = state;
    const struct weir_datagen_opts *o = &g->o;
    uint64_t n = max;
    if (g->rate > 0) {
        double due = (double)(mono_ns() - g->start_ns) * 1e-9 * g->rate;
        uint64_t allowed = due > (double)g->emitted ? (uint64_t)due - g->emitted : 0;
        if (allowed < n)
            n = allowed;
    }
    uint64_t keys = o->keys ? o->keys : (o->records ? o->records : UINT64_MAX);
    uint32_t i = 0;
    struct dg_split *x = dg_next(g);
    for (; i < n && x; i++, x = dg_next(g)) {
        uint64_t seq = x->next;
        struct weir_datagen_rec *r = weir_emit_reserve(out, o->record_size);
        if (!r)
            return -EMSGSIZE;
        r->seq = seq;
        r->key =
            o->random ? splitmix64(o->seed ^ (seq * 0xd1342543de82ef95ull)) % keys : seq % keys;
        r->value = splitmix64(o->seed + seq);
        int rc =
            weir_emit_commit(out, (int64_t)(o->records_per_ms ? seq / o->records_per_ms : seq));
        if (rc < 0)
            return rc;
        x->next += x->stride;
    }
    g->emitted += i;
    *emitted = i;
    return x ? WEIR_SOURCE_MORE : WEIR_SOURCE_DONE;
}

/* Positions: each live split, its next seq. */
static int datagen_snapshot(weir_ctx *ctx, void *state, uint64_t id, struct weir_snapshot_out *out)
{
    struct datagen *g = state;
    int rc = 0;
    for (size_t i = 0; i < g->n_sp && rc == 0; i++)
        if (dg_live(g, &g->sp[i]))
            rc = weir_snapshot_write_item(out, &g->sp[i], sizeof g->sp[i]);
    return rc;
}

/* The splits dealt to this subtask replace its first one. */
static int datagen_restore(weir_ctx *ctx, void *state, const struct weir_state_item *items,
                           size_t n)
{
    struct datagen *g = state;
    struct dg_split *v = calloc(n ? n : 1, sizeof *v);
    if (!v)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        if (items[i].len == sizeof *v)
            memcpy(&v[i], items[i].data, sizeof *v);
        if (v[i].stride == 0) {
            weir_ctx_fail(ctx,
                          "datagen \"%s\": subtask %" PRIu32 "'s position is not a split "
                          "(%zu bytes): a checkpoint of another source under this uid?",
                          weir_ctx_uid(ctx), items[i].subtask, items[i].len);
            free(v);
            return -EINVAL;
        }
    }
    free(g->sp);
    g->sp = v;
    g->n_sp = n;
    dg_rate(g);
    return 0;
}

/* For weir inspect: one item that datagen_snapshot wrote. */
int datagen_decode_item(const void *item, size_t len, json_t **out, char *err, size_t errlen)
{
    struct dg_split x;
    if (len != sizeof x) {
        errbuf_printf(err, errlen, "a datagen split is %zu bytes, not %zu", sizeof x, len);
        return -EBADMSG;
    }
    memcpy(&x, item, sizeof x);
    if (x.stride == 0) {
        errbuf_printf(err, errlen, "a datagen split with stride 0 (next %" PRIu64 ")", x.next);
        return -EBADMSG;
    }
    *out = json_pack("{s:I, s:I, s:I}", "residue", (json_int_t)(x.next % x.stride), "stride",
                     (json_int_t)x.stride, "next", (json_int_t)x.next);
    return *out ? 0 : -ENOMEM;
}

static const struct weir_source_ops datagen_ops = {
    .kind = "datagen",
    .state_size = sizeof(struct datagen),
    .open = datagen_open,
    .poll = datagen_poll,
    .close = datagen_close,
    .snapshot = datagen_snapshot,
    .state_mode = WEIR_STATE_SPLIT,
    .restore_items = datagen_restore,
};

weir_stream *weir_source_datagen(weir_job *job, const char *uid,
                                 const struct weir_datagen_opts *opts)
{
    if (!job)
        return NULL;
    struct weir_datagen_opts *copy = malloc(sizeof *copy);
    if (!copy)
        return NULL;
    *copy = opts ? *opts : (struct weir_datagen_opts){0};
    if (copy->record_size < sizeof(struct weir_datagen_rec))
        copy->record_size = sizeof(struct weir_datagen_rec);
    weir_stream *s = weir_source(job, uid, &datagen_ops, copy);
    if (!s) {
        free(copy);
        return NULL;
    }
    weir_stream_own_arg(s, free);
    return s;
}

int weir_format_datagen(const weir_rec *r, char *buf, size_t cap)
{
    if (r->len < sizeof(struct weir_datagen_rec))
        return -EINVAL;
    const struct weir_datagen_rec *d = (const void *)r->data;
    return snprintf(buf, cap, "%" PRIu64 ",%" PRIu64 ",%" PRIu64, d->seq, d->key, d->value);
}

/* --- blackhole ------------------------------------------------------------- */

static int blackhole_process(weir_ctx *ctx, void *state, int input, const weir_rec *in,
                             weir_emit *out)
{
    /* Read the record so the benchmark measures delivery, not just the header. */
    __asm__ volatile("" : : "r"(in->len ? in->data[0] : 0) : "memory");
    return 0;
}

static const struct weir_operator_ops blackhole_ops = {.kind = "blackhole",
                                                       .process = blackhole_process};

weir_stream *weir_sink_blackhole(weir_stream *in, const char *uid)
{
    return weir_sink(in, uid, &blackhole_ops, NULL);
}
