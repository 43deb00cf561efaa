/*
 * weir bench nexmark: one Nexmark query, with checkpoints, measured.
 *
 *   weir bench nexmark --query qN --events N [-p N] [-c FILE] [-D key=value]...
 *                      [--rate R] [--event-rate R] [--seed S]
 *                      [--dump-events DIR] [--output DIR] [--json PATH]
 *                      [--from-checkpoint latest|DIR] [--allow-non-restored-state]
 *
 * The job is source "nexmark" -> "latency-stamp" -> the query -> "latency-probe"
 * -> sink (a blackhole, or with --output exactly-once CSV files). Checkpoints
 * are on: EXACTLY_ONCE every 10 s unless -c or -D say otherwise; a failure ends
 * the run (restart-strategy.type none unless set), so that the figures are of
 * one attempt. --dump-events without --query writes the events and stops.
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
 *   checkpoints the runtime's weir_job_lastCheckpointDuration and
 *               weir_job_lastCompletedCheckpointId gauges, read from the
 *               Prometheus endpoint every 100 ms while the job runs (each
 *               completed checkpoint once, unless two complete within 100 ms),
 *               and the run stats (the last, longest and largest checkpoint,
 *               the workers' synchronous snapshot time).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <weir/config.h>
#include "nexmark.h"
#include "nexmark_queries.h"
#include <weir/weir.h>

#include "bench_nexmark.h"
#include "cli.h"

#define EXIT_FAILED 1
#define EXIT_USAGE  2

/* --- small helpers --------------------------------------------------------------- */

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t real_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* A duration given in ms, in ms or, below one, in us. */
static void duration(double ms, char *buf, size_t len)
{
    if (ms < 1.0)
        snprintf(buf, len, "%.1f us", ms * 1000.0);
    else
        snprintf(buf, len, "%.2f ms", ms);
}

/* A positive event-time rate: below one event per second spreads a run over
 * days of event time. One-line error naming the flag. */
static int parse_rate(const char *flag, const char *v, double *out)
{
    char *end;
    errno = 0;
    double r = strtod(v, &end);
    if (*end == 'k' || *end == 'K')
        r *= 1e3, end++;
    else if (*end == 'm' || *end == 'M')
        r *= 1e6, end++;
    if (end == v || *end || errno || !(r > 0) || r > 1e12) {
        fprintf(stderr, "weir: %s: \"%s\": expected a positive rate like 0.5, 1000 or 10M\n", flag,
                v);
        return -EINVAL;
    }
    *out = r;
    return 0;
}

static void human(double v, char *buf, size_t len)
{
    if (v >= 1e9)
        snprintf(buf, len, "%.2f G", v / 1e9);
    else if (v >= 1e6)
        snprintf(buf, len, "%.2f M", v / 1e6);
    else if (v >= 1e3)
        snprintf(buf, len, "%.2f K", v / 1e3);
    else
        snprintf(buf, len, "%.0f ", v);
}

/* --- generation samples (latency-stamp) -------------------------------------------- */

struct gen_sample {
    uint64_t event;
    int64_t ts;
    int64_t ns; /* CLOCK_MONOTONIC when the event left the generator */
};

#define CHUNK_BITS  16
#define CHUNK       (1u << CHUNK_BITS)
#define MAX_CHUNKS  4096
#define STAMP_EVERY 64

/* One source subtask's samples: appended by its worker, read by the probes.
 * A sample is written before count is raised (release); readers load count
 * (acquire) and read only below it. */
struct gen_track {
    _Atomic uint64_t count;
    _Atomic int64_t end_ns; /* when the subtask's input ended; 0 before */
    struct gen_sample *_Atomic chunk[MAX_CHUNKS];
    /* writer only */
    uint64_t seen;
    int64_t last_ts;
};

static struct gen_sample *track_at(struct gen_track *t, uint64_t i)
{
    return &atomic_load_explicit(&t->chunk[i >> CHUNK_BITS], memory_order_relaxed)[i & (CHUNK - 1)];
}

/* --- latency histogram --------------------------------------------------------------- */

/* Log-linear: values below 64 ns exactly, then 32 buckets per power of two. */
#define HIST_BUCKETS (64 + 58 * 32)

struct hist {
    uint64_t n[HIST_BUCKETS];
    uint64_t count;
    int64_t max_ns;
    double sum_ns;
};

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

static double hist_quantile(const struct hist *h, double q)
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

/* --- the bench's shared state ------------------------------------------------------- */

struct bench {
    const struct weir_nexmark_query *q;
    int parallelism;          /* of the sources: event n comes from subtask n % p */
    struct gen_track *tracks; /* one per source subtask */
    pthread_mutex_t lock;     /* guards what follows */
    struct hist lat;
    uint64_t rows, unmeasured;
};

/* latency-stamp: chained to each source subtask. */
struct stamp_state {
    struct gen_track *t;
};

static int stamp_open(weir_ctx *ctx, void *state, void *arg)
{
    struct bench *b = arg;
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
                c[i & (CHUNK - 1)] =
                    (struct gen_sample){weir_nexmark_event(in)->event_number, in->ts, mono_ns()};
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
    atomic_store(&((struct stamp_state *)state)->t->end_ns, mono_ns());
    return 0;
}

static const struct weir_operator_ops stamp_ops = {.kind = "latency-stamp",
                                                   .state_size = sizeof(struct stamp_state),
                                                   .open = stamp_open,
                                                   .process = stamp_process,
                                                   .end = stamp_end};

/* Generation time of event n, or -1 when it is not in the samples. */
static int64_t gen_time_of_event(struct bench *b, uint64_t n)
{
    struct gen_track *t = &b->tracks[n % (uint64_t)b->parallelism];
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
static bool event_measurable(struct bench *b, uint64_t n)
{
    struct gen_track *t = &b->tracks[n % (uint64_t)b->parallelism];
    uint64_t cnt = atomic_load_explicit(&t->count, memory_order_acquire);
    return cnt && track_at(t, cnt - 1)->event >= n;
}

/* When every source subtask had generated an event later than ts. */
static int64_t gen_time_after(struct bench *b, int64_t ts)
{
    int64_t when = -1;
    for (int i = 0; i < b->parallelism; i++) {
        struct gen_track *t = &b->tracks[i];
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
    struct bench *b;
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
            now = mono_ns();
            break;
        case WEIR_NEXMARK_ORIGIN_EVENT_TIME:
            gen = gen_time_after(s->b, v);
            now = mono_ns();
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
    struct bench *b = s->b;
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

/* --- checkpoint durations from the Prometheus endpoint ------------------------------- */

struct ckpt_seen {
    uint64_t id, duration_ms, size_bytes;
};

/* Every checkpoint the run completed, as weir_run_opts.on_checkpoint reports them. */
struct ckpt_log {
    pthread_mutex_t lock;
    struct ckpt_seen *seen;
    size_t n, cap;
    _Atomic uint64_t completed; /* for the progress line */
};

static void ckpt_logged(void *arg, const struct weir_checkpoint_event *ev)
{
    struct ckpt_log *l = arg;
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

/* A port nothing listens on now, for the metrics endpoint. */
static unsigned free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    unsigned port = 0;
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
        port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* --- events to CSV (--dump-events) -------------------------------------------------- */

static int dump_events(const struct weir_nexmark_opts *o, const char *dir)
{
    if (mkdir(dir, 0777) < 0 && errno != EEXIST) {
        fprintf(stderr, "weir: --dump-events: %s: %s\n", dir, strerror(errno));
        return -errno;
    }
    FILE *f[3] = {NULL, NULL, NULL};
    int rc = 0;
    for (int t = 0; t < 3 && rc == 0; t++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s.csv", dir,
                 weir_nexmark_type_name((enum weir_nexmark_type)t));
        f[t] = fopen(path, "we");
        if (!f[t]) {
            fprintf(stderr, "weir: --dump-events: %s: %s\n", path, strerror(errno));
            rc = -EIO;
            break;
        }
        setvbuf(f[t], NULL, _IOFBF, 1 << 20);
        fprintf(f[t], "%s\n", weir_nexmark_csv_header((enum weir_nexmark_type)t));
    }
    size_t cap = weir_nexmark_event_max_size(o);
    struct weir_nexmark_event *e = aligned_alloc(8, (cap + 7) & ~(size_t)7);
    char *line = malloc(4096);
    size_t line_cap = 4096;
    if (!e || !line)
        rc = -ENOMEM;
    for (uint64_t n = 0; rc == 0 && n < o->events; n++) {
        int size = weir_nexmark_event_at(o, n, e, cap);
        if (size < 0 || (size_t)size > cap) {
            fprintf(stderr, "weir: --dump-events: event %" PRIu64 " could not be generated\n", n);
            rc = -EINVAL;
            break;
        }
        int len = weir_nexmark_event_csv(e, line, line_cap);
        if (len >= 0 && (size_t)len >= line_cap) {
            char *nl = realloc(line, (size_t)len + 1);
            if (!nl) {
                rc = -ENOMEM;
                break;
            }
            line = nl;
            line_cap = (size_t)len + 1;
            len = weir_nexmark_event_csv(e, line, line_cap);
        }
        FILE *out = f[e->type % 3];
        if (len < 0 || fwrite(line, 1, (size_t)len, out) != (size_t)len || putc('\n', out) == EOF) {
            fprintf(stderr, "weir: --dump-events: writing %s/%s.csv failed\n", dir,
                    weir_nexmark_type_name((enum weir_nexmark_type)e->type));
            rc = -EIO;
        }
    }
    for (int t = 0; t < 3; t++)
        if (f[t] && fclose(f[t]) != 0 && rc == 0) {
            fprintf(stderr, "weir: --dump-events: closing %s/%s.csv: %s\n", dir,
                    weir_nexmark_type_name((enum weir_nexmark_type)t), strerror(errno));
            rc = -EIO;
        }
    free(e);
    free(line);
    return rc;
}

/* --- the command ------------------------------------------------------------------- */

static void bench_usage(FILE *out)
{
    fprintf(
        out,
        "usage: weir bench nexmark --query QUERY --events N [-p N] [-c FILE] [-D key=value]...\n"
        "                          [--rate R] [--event-rate R] [--seed S]\n"
        "                          [--dump-events DIR] [--output DIR] [--json PATH]\n"
        "                          [--from-checkpoint latest|DIR] [--allow-non-restored-state]\n"
        "QUERY is one of:");
    for (const struct weir_nexmark_query *const *q = weir_nexmark_queries; *q; q++)
        fprintf(out, " %s", (*q)->name);
    fprintf(out,
            "\n"
            "Checkpoints are on (EXACTLY_ONCE, execution.checkpointing.interval 10 s) and a\n"
            "failure ends the run (restart-strategy.type none) unless -c or -D say otherwise.\n"
            "--rate limits events per wall-clock second (default: as fast as possible);\n"
            "--event-rate sets Nexmark's event-time rate (default 10M/s). --output DIR writes\n"
            "the result rows exactly once as DIR/part-*.csv; --json PATH the measurements.\n"
            "With --dump-events DIR and no --query, only the events are written (as CSV).\n");
}

struct bench_opts {
    const struct weir_nexmark_query *q;
    uint64_t events, seed;
    bool events_set;
    double rate, event_rate;
    const char *dump_dir, *output, *json, *restore_from, *config_file;
    bool allow_non_restored;
    int parallelism;
    const char *defs[256];
    int n_defs;
};

static int need_value(int argc, char **argv, int i, const char *flag)
{
    if (i + 1 >= argc) {
        fprintf(stderr, "weir: bench nexmark: %s needs a value\n", flag);
        return -1;
    }
    return 0;
}

static int parse_bench(int argc, char **argv, struct bench_opts *o)
{
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *v = NULL;
        /* -pN, -Dk=v and -cFILE as weir run takes them */
        if (a[0] == '-' && (a[1] == 'p' || a[1] == 'D' || a[1] == 'c') && a[2]) {
            v = a + 2;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            bench_usage(stdout);
            exit(0);
        } else if (!strcmp(a, "--allow-non-restored-state") || !strcmp(a, "-n")) {
            o->allow_non_restored = true;
            continue;
        } else if (a[0] == '-') {
            static const char *const with_value[] = {"--query",
                                                     "-q",
                                                     "--events",
                                                     "--rate",
                                                     "--event-rate",
                                                     "--events-per-second",
                                                     "--seed",
                                                     "--dump-events",
                                                     "--output",
                                                     "--json",
                                                     "--from-checkpoint",
                                                     "--from-savepoint",
                                                     "-s",
                                                     "-c",
                                                     "--config",
                                                     "-p",
                                                     "--parallelism",
                                                     "-D",
                                                     NULL};
            bool known = false;
            for (int k = 0; with_value[k] && !known; k++)
                known = !strcmp(a, with_value[k]);
            if (!known) {
                fprintf(stderr, "weir: bench nexmark: unknown option \"%s\"\n", a);
                bench_usage(stderr);
                return -1;
            }
            if (need_value(argc, argv, i, a) < 0)
                return -1;
            v = argv[++i];
        } else {
            fprintf(stderr, "weir: bench nexmark: unexpected argument \"%s\"\n", a);
            return -1;
        }
        uint64_t n;
        if (!strcmp(a, "--query") || !strcmp(a, "-q")) {
            o->q = weir_nexmark_query_find(v);
            if (!o->q) {
                fprintf(stderr, "weir: --query: \"%s\": expected one of", v);
                for (const struct weir_nexmark_query *const *q = weir_nexmark_queries; *q; q++)
                    fprintf(stderr, " %s", (*q)->name);
                fputc('\n', stderr);
                return -1;
            }
        } else if (!strcmp(a, "--events")) {
            if (cli_parse_count("--events", v, &o->events) < 0)
                return -1;
            o->events_set = true;
        } else if (!strcmp(a, "--rate")) {
            if (cli_parse_count("--rate", v, &n) < 0)
                return -1;
            o->rate = (double)n;
        } else if (!strcmp(a, "--event-rate") || !strcmp(a, "--events-per-second")) {
            if (parse_rate(a, v, &o->event_rate) < 0)
                return -1;
        } else if (!strcmp(a, "--seed")) {
            if (cli_parse_count("--seed", v, &o->seed) < 0)
                return -1;
        } else if (!strcmp(a, "--dump-events")) {
            o->dump_dir = v;
        } else if (!strcmp(a, "--output")) {
            o->output = v;
        } else if (!strcmp(a, "--json")) {
            o->json = v;
        } else if (!strcmp(a, "--from-checkpoint") || !strcmp(a, "--from-savepoint") ||
                   !strcmp(a, "-s")) {
            o->restore_from = v;
        } else if (!strcmp(a, "-c") || !strcmp(a, "--config") || (a[1] == 'c' && a[2])) {
            o->config_file = v;
        } else if (!strcmp(a, "-p") || !strcmp(a, "--parallelism") || (a[1] == 'p' && a[2])) {
            char *end;
            long p = strtol(v, &end, 10);
            if (*end || end == v || p < 1 || p > 32768) {
                fprintf(stderr, "weir: -p: \"%s\": expected a parallelism from 1 to 32768\n", v);
                return -1;
            }
            o->parallelism = (int)p;
        } else if (!strcmp(a, "-D") || (a[1] == 'D' && a[2])) {
            if (o->n_defs == 256) {
                fprintf(stderr, "weir: -D: more than 256 overrides\n");
                return -1;
            }
            o->defs[o->n_defs++] = v;
        } else {
            fprintf(stderr, "weir: bench nexmark: unknown option \"%s\"\n", a);
            bench_usage(stderr);
            return -1;
        }
    }
    if (!o->q && !o->dump_dir) {
        fprintf(stderr, "weir: bench nexmark: --query is required (e.g. --query q5)\n");
        return -1;
    }
    if (!o->events_set || o->events == 0) {
        fprintf(stderr, "weir: bench nexmark: --events: expected a positive count like 10M\n");
        return -1;
    }
    /* q17 and q18 pack two ids into one 64-bit key, exact below 2^32 */
    if (o->events > UINT64_C(40000000000)) {
        fprintf(stderr, "weir: --events: %" PRIu64 ": at most 4e10 (ids must stay below 2^32)\n",
                o->events);
        return -1;
    }
    return 0;
}

/* Config: file, then -D, then the bench's defaults for what neither set. */
static weir_config *bench_config(const struct bench_opts *o)
{
    char err[512];
    weir_config *cfg = weir_config_new();
    if (!cfg)
        return NULL;
    if (o->config_file && weir_config_load_file(cfg, o->config_file, err, sizeof err) < 0)
        goto bad;
    for (int d = 0; d < o->n_defs; d++)
        if (weir_config_set_kv(cfg, o->defs[d], err, sizeof err) < 0) {
            fprintf(stderr, "weir: -D %s\n", err);
            weir_config_free(cfg);
            return NULL;
        }
    if (o->parallelism) {
        char p[16];
        snprintf(p, sizeof p, "%d", o->parallelism);
        if (weir_config_set(cfg, "parallelism.default", p, err, sizeof err) < 0)
            goto bad;
    }
    if (!weir_config_is_set(cfg, "execution.checkpointing.interval") &&
        weir_config_set(cfg, "execution.checkpointing.interval", "10 s", err, sizeof err) < 0)
        goto bad;
    /* A failure ends a measured run (Flink would restart it with exponential
     * delay once checkpoints are on, and the figures would mix two attempts). */
    if (!weir_config_is_set(cfg, "restart-strategy.type") &&
        weir_config_set(cfg, "restart-strategy.type", "none", err, sizeof err) < 0)
        goto bad;
    /* The metrics endpoint gets a port of its own unless one was chosen, so that
     * two benches on one host do not collide. */
    if (!weir_config_is_set(cfg, "metrics.reporter.prom.port")) {
        unsigned port = free_port();
        char p[16];
        snprintf(p, sizeof p, "%u", port);
        if (port && weir_config_set(cfg, "metrics.reporter.prom.port", p, err, sizeof err) < 0)
            goto bad;
    }
    if (weir_config_resolve(cfg, err, sizeof err) < 0)
        goto bad;
    return cfg;
bad:
    fprintf(stderr, "weir: %s\n", err);
    weir_config_free(cfg);
    return NULL;
}

struct progress {
    bool on;
    struct ckpt_log *log;
};

static void show_progress(void *arg, uint64_t records, double elapsed_s, bool done)
{
    struct progress *p = arg;
    if (!p->on)
        return;
    char n[32], r[32];
    human((double)records, n, sizeof n);
    human(elapsed_s > 0 ? (double)records / elapsed_s : 0, r, sizeof r);
    fprintf(stderr, "\r\033[Kweir: %sevents  %sevents/s  %.1f s  %" PRIu64 " checkpoints", n, r,
            elapsed_s, atomic_load(&p->log->completed));
    if (done)
        fputc('\n', stderr);
}

/* JSON string body: the values written here need no escapes beyond these. */
static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; s && *s; s++) {
        if (*s == '"' || *s == '\\')
            fputc('\\', f);
        if ((unsigned char)*s < 0x20)
            fprintf(f, "\\u%04x", *s);
        else
            fputc(*s, f);
    }
    fputc('"', f);
}

int cmd_bench(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "nexmark") != 0) {
        fprintf(stderr, "weir: bench: expected \"nexmark\" (weir bench nexmark --query q5 "
                        "--events 10M)\n");
        return EXIT_USAGE;
    }
    struct bench_opts o = {0};
    if (parse_bench(argc - 2, argv + 2, &o) < 0)
        return EXIT_USAGE;
    struct ckpt_log cl = {.lock = PTHREAD_MUTEX_INITIALIZER};
    weir_config *cfg = bench_config(&o);
    if (!cfg)
        return EXIT_USAGE;

    struct weir_nexmark_opts gen;
    weir_nexmark_opts_init(&gen);
    gen.events = o.events;
    gen.seed = o.seed;
    gen.rate_limit = o.rate;
    if (o.event_rate > 0)
        gen.events_per_second = o.event_rate;
    char err[1024];
    if (weir_nexmark_opts_check(&gen, err, sizeof err) < 0) {
        fprintf(stderr, "weir: %s\n", err);
        weir_config_free(cfg);
        return EXIT_USAGE;
    }
    if (o.dump_dir) {
        int64_t t0 = mono_ns();
        if (dump_events(&gen, o.dump_dir) < 0) {
            weir_config_free(cfg);
            return EXIT_FAILED;
        }
        fprintf(stderr, "weir: wrote %" PRIu64 " events to %s/{person,auction,bid}.csv in %.2f s\n",
                o.events, o.dump_dir, (double)(mono_ns() - t0) / 1e9);
        if (!o.q) { /* only the events were asked for */
            weir_config_free(cfg);
            return 0;
        }
    }

    int p = (int)weir_config_get_int(cfg, "parallelism.default");
    struct bench b = {.q = o.q, .parallelism = p, .lock = PTHREAD_MUTEX_INITIALIZER};
    b.tracks = calloc((size_t)p, sizeof *b.tracks);
    char job_name[64];
    snprintf(job_name, sizeof job_name, "nexmark-%s", o.q->name);
    weir_job *job = b.tracks ? weir_job_new(job_name) : NULL;
    if (!job) {
        fprintf(stderr, "weir: out of memory\n");
        free(b.tracks);
        weir_config_free(cfg);
        return EXIT_FAILED;
    }
    struct weir_nexmark_query_params qp = {.gen = &gen};
    weir_stream *events = weir_source_nexmark(job, "nexmark", &gen);
    events = weir_transform(events, "latency-stamp", &stamp_ops, &b);
    weir_stream *rows = o.q->build(events, &qp);
    rows = weir_transform(rows, "latency-probe", &probe_ops, &b);
    if (o.output)
        weir_nexmark_sink_csv(rows, o.q, o.output);
    else
        weir_sink_blackhole(rows, "sink");
    if (weir_job_error(job)) {
        fprintf(stderr, "weir: job %s: %s\n", job_name, weir_job_error(job));
        weir_job_free(job);
        free(b.tracks);
        weir_config_free(cfg);
        return EXIT_USAGE;
    }

    const char *pmode = weir_config_get_str(cfg, "weir.progress");
    struct progress prog = {.on = !strcmp(pmode, "always") ||
                                  (!strcmp(pmode, "auto") && isatty(STDERR_FILENO)),
                            .log = &cl};
    weir_config_print_pools(cfg, stderr);
    int64_t interval_ms = weir_config_get_duration_ms(cfg, "execution.checkpointing.interval");
    const char *mode = weir_config_get_str(cfg, "execution.checkpointing.mode");
    const char *backend = weir_config_get_str(cfg, "state.backend");
    fprintf(stderr,
            "weir: bench nexmark %s (%s): %" PRIu64 " events, parallelism %d, state %s, "
            "checkpoints %s every %" PRId64 " ms to %s/%s\n",
            o.q->name, o.q->title, o.events, p, backend, mode, interval_ms,
            *weir_config_get_str(cfg, "state.checkpoints.dir")
                ? weir_config_get_str(cfg, "state.checkpoints.dir")
                : "<tmp>/weir-checkpoints",
            job_name);

    struct weir_run_opts ro = {.parallelism = p,
                               .progress = show_progress,
                               .progress_arg = &prog,
                               .restore_from = o.restore_from,
                               .allow_non_restored_state = o.allow_non_restored,
                               .on_checkpoint = ckpt_logged,
                               .on_checkpoint_arg = &cl};
    struct weir_run_stats st;
    memset(&st, 0, sizeof st);
    cli_watch_signals(job);
    struct rusage ru0, ru1;
    getrusage(RUSAGE_SELF, &ru0);
    int64_t t0 = mono_ns();
    int rc = weir_job_run(job, cfg, &ro, &st, err, sizeof err);
    int64_t t1 = mono_ns();
    getrusage(RUSAGE_SELF, &ru1);
    cli_watch_signals(NULL);
    if (rc < 0) {
        fprintf(stderr, "weir: %s\n", err);
        weir_job_free(job);
        for (int i = 0; i < p; i++)
            for (int c = 0; c < MAX_CHUNKS; c++)
                free(atomic_load(&b.tracks[i].chunk[c]));
        free(b.tracks);
        free(cl.seen);
        weir_config_free(cfg);
        return rc == -EINVAL || rc == -ENOMEM ? EXIT_USAGE : EXIT_FAILED;
    }

    double wall = (double)(t1 - t0) / 1e9;
    double user = (double)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec) +
                  (double)(ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec) / 1e6;
    double sys = (double)(ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) +
                 (double)(ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) / 1e6;
    double cpu = user + sys;
    double n_events = (double)st.source_records;
    double eps = wall > 0 ? n_events / wall : 0, epc = cpu > 0 ? n_events / cpu : 0;
    double epw = st.workers ? eps / st.workers : 0;
    /* rows: what reached the probe; the sink also counts header rows */
    uint64_t n_rows = b.rows;
    double p50 = hist_quantile(&b.lat, 0.50) / 1e6, p95 = hist_quantile(&b.lat, 0.95) / 1e6,
           p99 = hist_quantile(&b.lat, 0.99) / 1e6, lmax = (double)b.lat.max_ns / 1e6;
    double lmean = b.lat.count ? b.lat.sum_ns / (double)b.lat.count / 1e6 : 0;
    /* Checkpoint durations: every completed one, as on_checkpoint reported it
     * (the final checkpoint at end of input included). */
    struct ckpt_seen *cks = cl.seen;
    size_t nck = cl.n;
    const char *ck_from = "every checkpoint";
    uint64_t *durs = calloc(nck ? nck : 1, sizeof *durs);
    for (size_t i = 0; durs && i < nck; i++)
        durs[i] = cks[i].duration_ms;
    if (durs)
        qsort(durs, nck, sizeof *durs, cmp_u64);
    double dsum = 0;
    for (size_t i = 0; durs && i < nck; i++)
        dsum += (double)durs[i];

    char a1[32], a2[32], a3[32];
    human(eps, a1, sizeof a1);
    human(epc, a2, sizeof a2);
    human(epw, a3, sizeof a3);
    printf("nexmark %s (%s) %s: %" PRIu64 " events in %.3f s, parallelism %d (%d worker%s), "
           "state %s\n",
           o.q->name, o.q->title, st.cancelled ? "stopped" : "finished", st.source_records, wall, p,
           st.workers, st.workers == 1 ? "" : "s", backend);
    printf("  throughput   %sevents/s over wall time; %sevents/s per core used (process CPU "
           "%.3f s: user %.3f + sys %.3f, %.2f cores busy); %sevents/s per worker\n",
           a1, a2, cpu, user, sys, wall > 0 ? cpu / wall : 0, a3);
    printf("  rows         %" PRIu64 " result rows to %s\n", n_rows,
           o.output ? o.output : "a blackhole");
    if (b.lat.count) {
        char l[5][32];
        duration(p50, l[0], sizeof l[0]);
        duration(p95, l[1], sizeof l[1]);
        duration(p99, l[2], sizeof l[2]);
        duration(lmax, l[3], sizeof l[3]);
        duration(lmean, l[4], sizeof l[4]);
        printf("  latency      p50 %s  p95 %s  p99 %s  max %s  mean %s (%" PRIu64 " of %" PRIu64
               " rows sampled; sink time minus the time the row's input was generated)\n",
               l[0], l[1], l[2], l[3], l[4], b.lat.count, n_rows);
    } else
        printf("  latency      no rows to measure\n");
    printf("  checkpoints  %" PRIu64 " completed, %" PRIu64 " failed (%s, every %" PRId64 " ms)",
           st.checkpoints_completed, st.checkpoints_failed, mode, interval_ms);
    printf("\n");
    if (nck && durs)
        printf("               duration (trigger to _metadata durable) min %" PRIu64
               " ms, p50 %" PRIu64 " ms, max %" PRIu64 " ms, mean %.1f ms over %zu, from %s; "
               "longest %" PRIu64 " ms, largest %.1f MiB\n",
               durs[0], durs[(nck - 1) / 2], durs[nck - 1], dsum / (double)nck, nck, ck_from,
               st.max_checkpoint_ms, (double)st.max_checkpoint_bytes / 1048576.0);
    if (st.snapshots)
        printf("               worker stall per snapshot (synchronous part) p50 %.3f ms, p99 "
               "%.3f ms, max %.3f ms over %" PRIu64 " snapshots\n",
               st.sync_ms_p50, st.sync_ms_p99, st.sync_ms_max, st.snapshots);
    if (st.restored_checkpoint)
        printf("               restored from checkpoint %" PRIu64 " (%.1f MiB) in %.1f ms\n",
               st.restored_checkpoint, (double)st.restored_bytes / 1048576.0, st.restore_ms);

    int status = 0;
    if (o.json) {
        FILE *f = fopen(o.json, "we");
        if (!f) {
            fprintf(stderr, "weir: --json: %s: %s\n", o.json, strerror(errno));
            status = EXIT_FAILED;
        } else {
            fprintf(f, "{\n  \"query\": ");
            json_str(f, o.q->name);
            fprintf(f, ",\n  \"title\": ");
            json_str(f, o.q->title);
            fprintf(f,
                    ",\n  \"events\": %" PRIu64 ",\n  \"events_requested\": %" PRIu64
                    ",\n  \"rate_limit\": %.0f,\n  \"event_rate\": %.0f,\n  \"seed\": %" PRIu64
                    ",\n  \"parallelism\": %d,\n  \"workers\": %d,\n  \"state_backend\": ",
                    st.source_records, o.events, gen.rate_limit, gen.events_per_second, gen.seed, p,
                    st.workers);
            json_str(f, backend);
            fprintf(f,
                    ",\n  \"cancelled\": %s,\n  \"wall_s\": %.6f,\n  \"cpu_s\": %.6f,\n"
                    "  \"cpu_user_s\": %.6f,\n  \"cpu_sys_s\": %.6f,\n"
                    "  \"throughput\": {\"events_per_s\": %.1f, \"events_per_cpu_s\": %.1f, "
                    "\"events_per_s_per_worker\": %.1f},\n  \"rows\": %" PRIu64 ",\n",
                    st.cancelled ? "true" : "false", wall, cpu, user, sys, eps, epc, epw, n_rows);
            fprintf(
                f,
                "  \"latency_ms\": {\"samples\": %" PRIu64 ", \"unmeasured\": %" PRIu64
                ", \"p50\": %.4f, \"p95\": %.4f, \"p99\": %.4f, \"max\": %.4f, \"mean\": "
                "%.4f,\n    \"method\": \"sink arrival minus the generation time of the row's "
                "origin (the event that made it, or the moment every source subtask had "
                "generated an event later than a timer-fired row's timestamp; the window's last "
                "millisecond on the wall clock for processing-time windows); rows whose event time "
                "is "
                "not known exactly (sampled or bracketed by samples) are unmeasured; of the "
                "rest the first 4096 per subtask, then every 16th\"},\n",
                b.lat.count, b.unmeasured, p50, p95, p99, lmax, lmean);
            fprintf(f,
                    "  \"checkpoints\": {\"mode\": \"%s\", \"interval_ms\": %" PRId64
                    ", \"completed\": %" PRIu64 ", \"failed\": %" PRIu64
                    ", \"restored_from\": %" PRIu64 ", \"restore_ms\": %.3f"
                    ", \"max_ms\": %" PRIu64 ", \"max_bytes\": %" PRIu64
                    ",\n    \"sync_ms\": {\"snapshots\": %" PRIu64
                    ", \"p50\": %.4f, \"p99\": %.4f, \"max\": %.4f},\n    \"durations\": [",
                    mode, interval_ms, st.checkpoints_completed, st.checkpoints_failed,
                    st.restored_checkpoint, st.restore_ms, st.max_checkpoint_ms,
                    st.max_checkpoint_bytes, st.snapshots, st.sync_ms_p50, st.sync_ms_p99,
                    st.sync_ms_max);
            for (size_t i = 0; i < nck; i++) {
                fprintf(f, "%s{", i ? ", " : "");
                if (cks[i].id)
                    fprintf(f, "\"id\": %" PRIu64 ", ", cks[i].id);
                fprintf(f, "\"duration_ms\": %" PRIu64 ", \"size_bytes\": %" PRIu64 "}",
                        cks[i].duration_ms, cks[i].size_bytes);
            }
            fprintf(f, "],\n    \"durations_from\": ");
            json_str(f, ck_from);
            fprintf(f, "},\n  \"output\": ");
            if (o.output)
                json_str(f, o.output);
            else
                fprintf(f, "null");
            fprintf(f, "\n}\n");
            if (fclose(f) != 0) {
                fprintf(stderr, "weir: --json: %s: %s\n", o.json, strerror(errno));
                status = EXIT_FAILED;
            }
        }
    }
    free(durs);
    weir_job_free(job);
    for (int i = 0; i < p; i++)
        for (int c = 0; c < MAX_CHUNKS; c++)
            free(atomic_load(&b.tracks[i].chunk[c]));
    free(b.tracks);
    free(cl.seen);
    weir_config_free(cfg);
    return status;
}

/* --- the queries as built-in jobs ------------------------------------------------------ */

#define RUN_USAGE "[--events N] [--rate R] [--event-rate R] [--seed S] [OUTPUT_DIR]"

/* weir run qN [options] [OUTPUT_DIR]: argv[0] is the query's name. */
static int nexmark_job_main(weir_job *job, int argc, char **argv)
{
    const struct weir_nexmark_query *q = weir_nexmark_query_find(argv[0]);
    if (!q)
        return -EINVAL;
    struct weir_nexmark_opts *gen = malloc(sizeof *gen);
    if (!gen)
        return -ENOMEM;
    weir_nexmark_opts_init(gen);
    gen->events = 10000000;
    const char *out = NULL;
    for (int i = 1; i < argc; i++) {
        uint64_t n;
        const char *a = argv[i];
        if (a[0] != '-') {
            if (out) {
                fprintf(stderr, "weir: job %s: one OUTPUT_DIR at most (\"%s\", \"%s\")\n", q->name,
                        out, a);
                goto bad;
            }
            out = a;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "weir: job %s: %s needs a value\n", q->name, a);
            goto bad;
        }
        const char *v = argv[++i];
        if (!strcmp(a, "--events")) {
            if (cli_parse_count("--events", v, &gen->events) < 0)
                goto bad;
        } else if (!strcmp(a, "--rate")) {
            if (cli_parse_count("--rate", v, &n) < 0)
                goto bad;
            gen->rate_limit = (double)n;
        } else if (!strcmp(a, "--event-rate")) {
            if (parse_rate("--event-rate", v, &gen->events_per_second) < 0)
                goto bad;
        } else if (!strcmp(a, "--seed")) {
            if (cli_parse_count("--seed", v, &gen->seed) < 0)
                goto bad;
        } else {
            fprintf(stderr, "weir: job %s: unknown option \"%s\"; options: %s\n", q->name, a,
                    RUN_USAGE);
            goto bad;
        }
    }
    char err[256];
    if (weir_nexmark_opts_check(gen, err, sizeof err) < 0) {
        fprintf(stderr, "weir: job %s: %s\n", q->name, err);
        goto bad;
    }
    struct weir_nexmark_query_params qp = {.gen = gen};
    weir_stream *rows = q->build(weir_source_nexmark(job, "nexmark", gen), &qp);
    if (out)
        weir_nexmark_sink_csv(rows, q, out);
    else
        weir_sink_blackhole(rows, "sink");
    free(gen); /* the source and the queries copy what they keep */
    return weir_job_error(job) ? -EINVAL : 0;
bad:
    free(gen);
    return -EINVAL;
}

static struct builtin_job nexmark_jobs[64];
static char nexmark_summaries[64][200];

static void nexmark_jobs_init(void)
{
    if (nexmark_jobs[0].name)
        return;
    int i = 0;
    for (const struct weir_nexmark_query *const *qp = weir_nexmark_queries; *qp && i < 63;
         qp++, i++) {
        const struct weir_nexmark_query *q = *qp;
        snprintf(nexmark_summaries[i], sizeof nexmark_summaries[i], "Nexmark %s: %s", q->title,
                 q->description);
        nexmark_jobs[i] =
            (struct builtin_job){q->name, RUN_USAGE, nexmark_summaries[i], nexmark_job_main};
    }
}

const struct builtin_job *nexmark_builtin_job_find(const char *name)
{
    nexmark_jobs_init();
    for (const struct builtin_job *j = nexmark_jobs; j->name; j++)
        if (strcmp(j->name, name) == 0)
            return j;
    return NULL;
}

void nexmark_jobs_print(FILE *out)
{
    nexmark_jobs_init();
    fprintf(out,
            "Nexmark queries (weir run [-p N] QUERY %s; with OUTPUT_DIR: exactly-once CSV "
            "files, else a blackhole; measured: weir bench nexmark --query QUERY):\n",
            RUN_USAGE);
    for (const struct builtin_job *j = nexmark_jobs; j->name; j++)
        fprintf(out, "  %-12s %s\n", j->name, j->summary);
}
