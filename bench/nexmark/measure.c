/*
 * Measuring a run of a Nexmark query (see include/nexmark_bench.h): the
 * operators chained around the query, the checkpoint log and the clocks.
 *
 * What is measured, and how:
 *   throughput  events the sources emitted / wall time of weir_job_run, and /
 *               the process CPU time (user + system, every thread: getrusage)
 *               over the same span: events per second, and per core used.
 *   latency     per result row, sink arrival minus the moment the row could
 *               first have been computed from generated events (the query's
 *               origin, nexmark_queries.h): the generation time of the event
 *               that made the row, or, for rows that a watermark or timer
 *               fires, the moment every source subtask had generated an event
 *               later than the row's timestamp. "latency-stamp", chained to
 *               each source subtask, records (event number, timestamp,
 *               CLOCK_MONOTONIC) for every 64th event and for the first event
 *               of each new millisecond of event time; "latency-probe", chained
 *               before the sink, looks the origin up in those samples. An
 *               event's time is known when it was sampled or when samples on
 *               both sides bracket it (interpolated by event number); rows of
 *               other events are not measured (never extrapolated), so a row
 *               that reaches the probe within the generator's own call (maps
 *               and filters chained to the source) is measured only for the
 *               sampled events. Of the measurable rows, the first 4096 of each
 *               subtask and every 16th after go into a log-linear histogram
 *               (3 % buckets). Processing-time windows (q12) measure from the
 *               window's last millisecond on the wall clock, when its timer is due.
 *   checkpoints every checkpoint the run completed, as the runtime reports
 *               it to weir_run_opts.on_checkpoint (id, trigger to _metadata
 *               durable, size; savepoints left out), and the run stats (the
 *               longest and largest checkpoint, the workers' synchronous
 *               snapshot time).
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <weir/job.h>
#include <weir/operator.h>

#include "nexmark_bench.h"
#include "nexmark_private.h"

static int64_t real_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* --- generation samples and the latency histogram ---------------------------------- */

static struct gen_sample *track_at(struct gen_track *t, uint64_t i)
{
    return &atomic_load_explicit(&t->chunk[i >> CHUNK_BITS], memory_order_relaxed)[i & (CHUNK - 1)];
}

static int hist_index(int64_t v)
{
    if (v < 64)
        return v < 0 ? 0 : (int)v;
    int e = 63 - __builtin_clzll((uint64_t)v);
    int sub = (int)(((uint64_t)v >> (e - 5)) & 31);
    return 64 + (e - 6) * 32 + sub;
}

/* The middle of bucket i. */
static double hist_value(int i)
{
    if (i < 64)
        return i;
    int e = (i - 64) / 32 + 6, sub = (i - 64) % 32;
    double lo = ldexp(32 + sub, e - 5), width = ldexp(1, e - 5);
    return lo + width / 2;
}

static void hist_add(struct hist *h, int64_t v)
{
    if (v < 0)
        v = 0;
    h->n[hist_index(v)]++;
    h->count++;
    h->sum_ns += (double)v;
    if (v > h->max_ns)
        h->max_ns = v;
}

double nexmark_hist_quantile(const struct hist *h, double q)
{
    if (!h->count)
        return 0;
    uint64_t want = (uint64_t)ceil(q * (double)h->count), seen = 0;
    if (want == 0)
        want = 1;
    for (int i = 0; i < HIST_BUCKETS; i++) {
        seen += h->n[i];
        if (seen >= want) {
            double v = hist_value(i);
            return v > (double)h->max_ns ? (double)h->max_ns : v;
        }
    }
    return (double)h->max_ns;
}

/* latency-stamp: chained to each source subtask. */
struct stamp_state {
    struct gen_track *t;
};

static int stamp_open(weir_ctx *ctx, void *state, void *arg)
{
    struct nexmark_bench *b = arg;
    struct stamp_state *s = state;
    int i = weir_ctx_subtask(ctx);
    if (i >= b->parallelism) {
        weir_ctx_fail(ctx, "latency-stamp: subtask %d of a bench made for parallelism %d", i,
                      b->parallelism);
        return -EINVAL;
    }
    s->t = &b->tracks[i];
    /* a restart replays from a checkpoint: start the samples over */
    atomic_store_explicit(&s->t->count, 0, memory_order_release);
    atomic_store(&s->t->end_ns, 0);
    s->t->seen = 0;
    s->t->last_ts = INT64_MIN;
    return 0;
}

static int stamp_process(weir_ctx *ctx, void *state, int input, const weir_rec *in, weir_emit *out)
{
    struct gen_track *t = ((struct stamp_state *)state)->t;
    if ((t->seen++ & (STAMP_EVERY - 1)) == 0 || in->ts != t->last_ts) {
        uint64_t i = atomic_load_explicit(&t->count, memory_order_relaxed);
        if (i < (uint64_t)MAX_CHUNKS * CHUNK) {
            struct gen_sample *c =
                atomic_load_explicit(&t->chunk[i >> CHUNK_BITS], memory_order_relaxed);
            if (!c) {
                c = malloc(CHUNK * sizeof *c);
                if (c)
                    atomic_store_explicit(&t->chunk[i >> CHUNK_BITS], c, memory_order_relaxed);
            }
            if (c) {
                c[i & (CHUNK - 1)] = (struct gen_sample){weir_nexmark_event(in)->event_number,
                                                         in->ts, nexmark_mono_ns()};
                /* pairs with the probes' acquire load of count */
                atomic_store_explicit(&t->count, i + 1, memory_order_release);
            }
        }
        t->last_ts = in->ts;
    }
    return weir_emit_forward(out, in);
}

static int stamp_end(weir_ctx *ctx, void *state, weir_emit *out)
{
    atomic_store(&((struct stamp_state *)state)->t->end_ns, nexmark_mono_ns());
    return 0;
}

static const struct weir_operator_ops stamp_ops = {.kind = "latency-stamp",
                                                   .state_size = sizeof(struct stamp_state),
                                                   .open = stamp_open,
                                                   .process = stamp_process,
                                                   .end = stamp_end};

/* Generation time of event n, or -1 when it is not in the samples. */
static int64_t gen_time_of_event(struct nexmark_bench *b, uint64_t n)
{
    struct gen_track *t = &b->tracks[n % (uint64_t)b->parallelism];
    /* pairs with stamp_process's release store of count */
    uint64_t cnt = atomic_load_explicit(&t->count, memory_order_acquire);
    if (!cnt || track_at(t, 0)->event > n)
        return -1;
    uint64_t lo = 0, hi = cnt; /* last sample with event <= n: in [lo, hi) */
    while (hi - lo > 1) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (track_at(t, mid)->event <= n)
            lo = mid;
        else
            hi = mid;
    }
    const struct gen_sample *a = track_at(t, lo);
    if (a->event == n)
        return a->ns;
    if (lo + 1 == cnt)
        return -1; /* past the last sample: not bracketed (yet) */
    const struct gen_sample *z = track_at(t, lo + 1);
    return a->ns + (int64_t)((double)(z->ns - a->ns) * (double)(n - a->event) /
                             (double)(z->event - a->event));
}

/* Whether event n's generation time is known: it is a sample, or a later
 * sample brackets it. A chained pipeline (the row reaches the probe in the
 * generator's call) knows it only for the sampled events themselves. */
static bool event_measurable(struct nexmark_bench *b, uint64_t n)
{
    struct gen_track *t = &b->tracks[n % (uint64_t)b->parallelism];
    /* pairs with stamp_process's release store of count */
    uint64_t cnt = atomic_load_explicit(&t->count, memory_order_acquire);
    return cnt && track_at(t, cnt - 1)->event >= n;
}

/* When every source subtask had generated an event later than ts. */
static int64_t gen_time_after(struct nexmark_bench *b, int64_t ts)
{
    int64_t when = -1;
    for (int i = 0; i < b->parallelism; i++) {
        struct gen_track *t = &b->tracks[i];
        /* pairs with stamp_process's release store of count */
        uint64_t cnt = atomic_load_explicit(&t->count, memory_order_acquire);
        int64_t end = atomic_load(&t->end_ns);
        int64_t w;
        if (!cnt) {
            if (!end)
                continue; /* nothing generated yet here: it cannot hold the row back */
            w = end;
        } else if (track_at(t, cnt - 1)->ts <= ts) {
            /* it ended (or went on) without a later event: its last one counts */
            w = end ? end : track_at(t, cnt - 1)->ns;
        } else {
            uint64_t lo = 0, hi = cnt - 1; /* first sample with ts > ts: in [lo, hi] */
            while (lo < hi) {
                uint64_t mid = lo + (hi - lo) / 2;
                if (track_at(t, mid)->ts > ts)
                    hi = mid;
                else
                    lo = mid + 1;
            }
            w = track_at(t, lo)->ns;
        }
        if (w > when)
            when = w;
    }
    return when;
}

/* latency-probe: chained before the sink. */
struct probe_state {
    struct nexmark_bench *b;
    struct hist h;
    uint64_t rows, measurable, unmeasured;
};

static int probe_open(weir_ctx *ctx, void *state, void *arg)
{
    struct probe_state *s = state;
    memset(s, 0, sizeof *s);
    s->b = arg;
    return 0;
}

static int probe_process(weir_ctx *ctx, void *state, int input, const weir_rec *in, weir_emit *out)
{
    struct probe_state *s = state;
    s->rows++;
    int64_t v;
    enum weir_nexmark_origin o = s->b->q->origin(in, &v);
    if (o == WEIR_NEXMARK_ORIGIN_EVENT && !event_measurable(s->b, (uint64_t)v)) {
        s->unmeasured++;
        return weir_emit_forward(out, in);
    }
    /* the first 4096 measurable rows, then every 16th */
    uint64_t k = s->measurable++;
    if (k < 4096 || (k & 15) == 0) {
        int64_t gen = -1, now;
        switch (o) {
        case WEIR_NEXMARK_ORIGIN_EVENT:
            gen = gen_time_of_event(s->b, (uint64_t)v);
            now = nexmark_mono_ns();
            break;
        case WEIR_NEXMARK_ORIGIN_EVENT_TIME:
            gen = gen_time_after(s->b, v);
            now = nexmark_mono_ns();
            break;
        case WEIR_NEXMARK_ORIGIN_WALL_TIME:
        default:
            gen = v * 1000000;
            now = real_ns();
            break;
        }
        if (gen < 0)
            s->unmeasured++;
        else
            hist_add(&s->h, now - gen);
    }
    return weir_emit_forward(out, in);
}

static void probe_close(weir_ctx *ctx, void *state)
{
    struct probe_state *s = state;
    struct nexmark_bench *b = s->b;
    if (!b)
        return;
    pthread_mutex_lock(&b->lock);
    for (int i = 0; i < HIST_BUCKETS; i++)
        b->lat.n[i] += s->h.n[i];
    b->lat.count += s->h.count;
    b->lat.sum_ns += s->h.sum_ns;
    if (s->h.max_ns > b->lat.max_ns)
        b->lat.max_ns = s->h.max_ns;
    b->rows += s->rows;
    b->unmeasured += s->unmeasured;
    pthread_mutex_unlock(&b->lock);
}

static const struct weir_operator_ops probe_ops = {.kind = "latency-probe",
                                                   .state_size = sizeof(struct probe_state),
                                                   .open = probe_open,
                                                   .process = probe_process,
                                                   .close = probe_close};

weir_stream *nexmark_bench_stamp(struct nexmark_bench *b, weir_stream *events)
{
    return weir_transform(events, "latency-stamp", &stamp_ops, b);
}

weir_stream *nexmark_bench_probe(struct nexmark_bench *b, weir_stream *rows)
{
    return weir_transform(rows, "latency-probe", &probe_ops, b);
}

/* --- checkpoints ------------------------------------------------------------------- */

void nexmark_bench_on_checkpoint(void *arg, const struct weir_checkpoint_event *ev)
{
    struct ckpt_log *l = &((struct nexmark_bench *)arg)->ckpts;
    if (!ev->completed || ev->savepoint)
        return;
    pthread_mutex_lock(&l->lock);
    if (l->n == l->cap) {
        size_t ncap = l->cap ? l->cap * 2 : 64;
        struct ckpt_seen *ns = realloc(l->seen, ncap * sizeof *ns);
        if (ns) {
            l->seen = ns;
            l->cap = ncap;
        }
    }
    if (l->n < l->cap)
        l->seen[l->n++] = (struct ckpt_seen){ev->id, ev->duration_ms, ev->size_bytes};
    pthread_mutex_unlock(&l->lock);
    atomic_fetch_add(&l->completed, 1);
}

uint64_t nexmark_bench_checkpoints(struct nexmark_bench *b)
{
    return atomic_load(&b->ckpts.completed);
}

/* --- the bench ---------------------------------------------------------------------- */

struct nexmark_bench *nexmark_bench_new(const struct weir_nexmark_query *q, int parallelism)
{
    struct nexmark_bench *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->q = q;
    b->parallelism = parallelism;
    pthread_mutex_init(&b->lock, NULL);
    pthread_mutex_init(&b->ckpts.lock, NULL);
    b->tracks = calloc((size_t)parallelism, sizeof *b->tracks);
    if (!b->tracks) {
        nexmark_bench_free(b);
        return NULL;
    }
    return b;
}

void nexmark_bench_free(struct nexmark_bench *b)
{
    if (!b)
        return;
    for (int i = 0; b->tracks && i < b->parallelism; i++)
        for (int c = 0; c < MAX_CHUNKS; c++)
            free(atomic_load(&b->tracks[i].chunk[c]));
    free(b->tracks);
    free(b->ckpts.seen);
    pthread_mutex_destroy(&b->ckpts.lock);
    pthread_mutex_destroy(&b->lock);
    free(b);
}

void nexmark_bench_start(struct nexmark_bench *b)
{
    getrusage(RUSAGE_SELF, &b->ru0);
    b->t0_ns = nexmark_mono_ns();
}

void nexmark_bench_stop(struct nexmark_bench *b)
{
    b->t1_ns = nexmark_mono_ns();
    getrusage(RUSAGE_SELF, &b->ru1);
}
