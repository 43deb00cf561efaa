/*
 * Built-in data generator and blackhole sink.
 *
 * The generator is deterministic from its seed: record seq carries
 * key = seq % keys (or a hash of seed and seq, uniform in [0, keys)) and
 * value = hash(seed, seq), so any subtask split produces the same records.
 * Subtask i of p emits seq = i, i + p, i + 2p, ...; a rate limit is shared
 * evenly among subtasks.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <weir/job.h>
#include <weir/state.h>

static inline uint64_t splitmix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

struct datagen {
    struct weir_datagen_opts o;
    uint64_t next, stride, emitted;
    double rate; /* this subtask's records per second */
    uint64_t start_ns;
};

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
    g->next = (uint64_t)weir_ctx_subtask(ctx);
    g->stride = (uint64_t)weir_ctx_parallelism(ctx);
    g->rate = g->o.rate > 0 ? g->o.rate / (double)weir_ctx_parallelism(ctx) : 0;
    g->start_ns = mono_ns();
    return 0;
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
    for (; i < n; i++) {
        uint64_t seq = g->next;
        if (o->records && seq >= o->records)
            break;
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
        g->next += g->stride;
    }
    g->emitted += i;
    *emitted = i;
    if (o->records && g->next >= o->records)
        return WEIR_SOURCE_DONE;
    return WEIR_SOURCE_MORE;
}

/* Position: the next sequence number of this subtask. */
static int datagen_snapshot(weir_ctx *ctx, void *state, uint64_t id, struct weir_snapshot_out *out)
{
    struct datagen *g = state;
    uint64_t pos[2] = {g->next, g->stride};
    return out->write(out, pos, sizeof pos);
}

static int datagen_restore(weir_ctx *ctx, void *state, struct weir_snapshot_in *in)
{
    struct datagen *g = state;
    uint64_t pos[2];
    int rc = in->read(in, pos, sizeof pos);
    if (rc < 0)
        return rc;
    if (pos[1] != g->stride || pos[0] % g->stride != g->next % g->stride)
        return -EINVAL; /* another parallelism: positions do not map */
    g->next = pos[0];
    return 0;
}

static const struct weir_source_ops datagen_ops = {
    .kind = "datagen",
    .state_size = sizeof(struct datagen),
    .open = datagen_open,
    .poll = datagen_poll,
    .snapshot = datagen_snapshot,
    .restore = datagen_restore,
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
