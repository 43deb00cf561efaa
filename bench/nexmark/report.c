/*
 * The report of a bench run (see include/nexmark_bench.h): the progress line
 * while it runs, then the summary as text and, with --json, as JSON. Both are
 * written from one struct summary, computed once from the measurements.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <weir/job.h>

#include "nexmark_bench.h"
#include "nexmark_private.h"

/* A duration given in ms, in ms or, below one, in us. */
static void duration(double ms, char *buf, size_t len)
{
    if (ms < 1.0)
        snprintf(buf, len, "%.1f us", ms * 1000.0);
    else
        snprintf(buf, len, "%.2f ms", ms);
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

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
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

void nexmark_bench_show_progress(struct nexmark_bench *b, bool on)
{
    b->progress = on;
}

void nexmark_bench_progress(void *arg, uint64_t records, double elapsed_s, bool done)
{
    struct nexmark_bench *b = arg;
    if (!b->progress)
        return;
    char n[32], r[32];
    human((double)records, n, sizeof n);
    human(elapsed_s > 0 ? (double)records / elapsed_s : 0, r, sizeof r);
    fprintf(stderr, "\r\033[Kweir: %sevents  %sevents/s  %.1f s  %" PRIu64 " checkpoints", n, r,
            elapsed_s, nexmark_bench_checkpoints(b));
    if (done)
        fputc('\n', stderr);
}

/* What the text and the JSON report both say. */
struct summary {
    double wall, user, sys, cpu;
    double eps, epc, epw; /* events per second, per CPU second, per worker */
    uint64_t rows;        /* what reached the probe; the sink also counts header rows */
    double p50, p95, p99, lmax, lmean; /* latency in ms */
    uint64_t *durs;             /* checkpoint durations in ms, sorted; NULL when out of memory */
    size_t nck;                 /* checkpoints completed, as on_checkpoint reported them */
    double dsum;                /* sum of durs */
    uint64_t max_ms, max_bytes; /* the longest and the largest checkpoint */
};

static double tv_s(struct timeval a, struct timeval b)
{
    return (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_usec - a.tv_usec) / 1e6;
}

static void summarize(const struct nexmark_bench *b, const struct weir_run_stats *st,
                      struct summary *s)
{
    memset(s, 0, sizeof *s);
    s->wall = (double)(b->t1_ns - b->t0_ns) / 1e9;
    s->user = tv_s(b->ru0.ru_utime, b->ru1.ru_utime);
    s->sys = tv_s(b->ru0.ru_stime, b->ru1.ru_stime);
    s->cpu = s->user + s->sys;
    double n_events = (double)st->source_records;
    s->eps = s->wall > 0 ? n_events / s->wall : 0;
    s->epc = s->cpu > 0 ? n_events / s->cpu : 0;
    s->epw = st->workers ? s->eps / st->workers : 0;
    s->rows = b->rows;
    s->p50 = nexmark_hist_quantile(&b->lat, 0.50) / 1e6;
    s->p95 = nexmark_hist_quantile(&b->lat, 0.95) / 1e6;
    s->p99 = nexmark_hist_quantile(&b->lat, 0.99) / 1e6;
    s->lmax = (double)b->lat.max_ns / 1e6;
    s->lmean = b->lat.count ? b->lat.sum_ns / (double)b->lat.count / 1e6 : 0;
    /* Checkpoint durations: every completed one, as on_checkpoint reported it
     * (the final checkpoint at end of input included). */
    s->nck = b->ckpts.n;
    s->durs = calloc(s->nck ? s->nck : 1, sizeof *s->durs);
    for (size_t i = 0; s->durs && i < s->nck; i++)
        s->durs[i] = b->ckpts.seen[i].duration_ms;
    if (s->durs)
        qsort(s->durs, s->nck, sizeof *s->durs, cmp_u64);
    for (size_t i = 0; s->durs && i < s->nck; i++)
        s->dsum += (double)s->durs[i];
    for (size_t i = 0; i < s->nck; i++) {
        const struct ckpt_seen *c = &b->ckpts.seen[i];
        s->max_ms = c->duration_ms > s->max_ms ? c->duration_ms : s->max_ms;
        s->max_bytes = c->size_bytes > s->max_bytes ? c->size_bytes : s->max_bytes;
    }
}

static void print_latency(const struct nexmark_bench *b, const struct summary *s, FILE *out)
{
    if (!b->lat.count) {
        fprintf(out, "  latency      no rows to measure\n");
        return;
    }
    char l[5][32];
    duration(s->p50, l[0], sizeof l[0]);
    duration(s->p95, l[1], sizeof l[1]);
    duration(s->p99, l[2], sizeof l[2]);
    duration(s->lmax, l[3], sizeof l[3]);
    duration(s->lmean, l[4], sizeof l[4]);
    fprintf(out,
            "  latency      p50 %s  p95 %s  p99 %s  max %s  mean %s (%" PRIu64 " of %" PRIu64
            " rows sampled; sink time minus the time the row's input was generated)\n",
            l[0], l[1], l[2], l[3], l[4], b->lat.count, s->rows);
}

static void print_checkpoints(const struct weir_run_stats *st,
                              const struct nexmark_bench_info *info, const struct summary *s,
                              FILE *out)
{
    fprintf(out,
            "  checkpoints  %" PRIu64 " completed, %" PRIu64 " failed (%s, every %" PRId64 " ms)",
            st->checkpoints_completed, st->checkpoints_failed, info->mode, info->interval_ms);
    fprintf(out, "\n");
    size_t nck = s->nck;
    if (nck && s->durs)
        fprintf(out,
                "               duration (trigger to _metadata durable) min %" PRIu64
                " ms, p50 %" PRIu64 " ms, max %" PRIu64 " ms, mean %.1f ms over %zu, from %s; "
                "longest %" PRIu64 " ms, largest %.1f MiB\n",
                s->durs[0], s->durs[(nck - 1) / 2], s->durs[nck - 1], s->dsum / (double)nck, nck,
                "every checkpoint", s->max_ms, (double)s->max_bytes / 1048576.0);
    if (st->snapshots)
        fprintf(out,
                "               worker stall per snapshot (synchronous part) of keyed-state "
                "subtasks p50 %.3f ms, p99 %.3f ms, max %.3f ms over %" PRIu64 " snapshots\n",
                st->sync_ms_p50, st->sync_ms_p99, st->sync_ms_max, st->snapshots);
    if (st->other_snapshots)
        fprintf(out,
                "               worker stall per snapshot of other subtasks (sources, "
                "stateless) p50 %.3f ms, p99 %.3f ms, max %.3f ms over %" PRIu64 " snapshots\n",
                st->other_sync_ms_p50, st->other_sync_ms_p99, st->other_sync_ms_max,
                st->other_snapshots);
    if (st->skew_checkpoint_id) {
        /* checkpoint skew (the operations guide's failure mode), per subtask */
        const struct weir_subtask_checkpoint *sl = &st->skew_slowest, *fa = &st->skew_fastest,
                                             *lo = &st->skew_smallest, *hi = &st->skew_largest;
        fprintf(out,
                "               skew in checkpoint %" PRIu64 " (%d subtasks): slowest %s "
                "subtask %d of %d %" PRIu64 " ms end to end (sync %" PRIu64
                " ms, alignment %" PRIu64 " ms), fastest %s subtask %d of %d %" PRIu64
                " ms; size min %.2f MiB (%s subtask %d), max %.2f MiB (%s subtask %d)\n",
                st->skew_checkpoint_id, st->skew_subtasks, sl->task, sl->subtask, sl->parallelism,
                sl->end_to_end_ms, sl->sync_ms, sl->alignment_ms, fa->task, fa->subtask,
                fa->parallelism, fa->end_to_end_ms, (double)lo->size_bytes / 1048576.0, lo->task,
                lo->subtask, (double)hi->size_bytes / 1048576.0, hi->task, hi->subtask);
    }
    if (st->restored_checkpoint)
        fprintf(out, "               restored from checkpoint %" PRIu64 " (%.1f MiB) in %.1f ms\n",
                st->restored_checkpoint, (double)st->restored_bytes / 1048576.0, st->restore_ms);
}

static void print_text(const struct nexmark_bench *b, const struct weir_run_stats *st,
                       const struct nexmark_bench_info *info, const struct summary *s, FILE *out)
{
    char a1[32], a2[32], a3[32];
    human(s->eps, a1, sizeof a1);
    human(s->epc, a2, sizeof a2);
    human(s->epw, a3, sizeof a3);
    fprintf(out,
            "nexmark %s (%s) %s: %" PRIu64 " events in %.3f s, parallelism %d (%d worker%s), "
            "state %s\n",
            b->q->name, b->q->title, st->cancelled ? "stopped" : "finished", st->source_records,
            s->wall, info->parallelism, st->workers, st->workers == 1 ? "" : "s", info->backend);
    fprintf(out,
            "  throughput   %sevents/s over wall time; %sevents/s per core used (process CPU "
            "%.3f s: user %.3f + sys %.3f, %.2f cores busy); %sevents/s per worker\n",
            a1, a2, s->cpu, s->user, s->sys, s->wall > 0 ? s->cpu / s->wall : 0, a3);
    fprintf(out, "  rows         %" PRIu64 " result rows to %s\n", s->rows,
            info->output ? info->output : "a blackhole");
    print_latency(b, s, out);
    print_checkpoints(st, info, s, out);
}

static void json_run(FILE *f, const struct nexmark_bench *b, const struct weir_run_stats *st,
                     const struct nexmark_bench_info *info, const struct summary *s)
{
    const struct weir_nexmark_opts *gen = info->gen;
    fprintf(f, "{\n  \"query\": ");
    json_str(f, b->q->name);
    fprintf(f, ",\n  \"title\": ");
    json_str(f, b->q->title);
    fprintf(f,
            ",\n  \"events\": %" PRIu64 ",\n  \"events_requested\": %" PRIu64
            ",\n  \"rate_limit\": %.0f,\n  \"event_rate\": %.0f,\n  \"seed\": %" PRIu64
            ",\n  \"parallelism\": %d,\n  \"workers\": %d,\n  \"state_backend\": ",
            st->source_records, info->events_requested, gen->rate_limit, gen->events_per_second,
            gen->seed, info->parallelism, st->workers);
    json_str(f, info->backend);
    fprintf(f,
            ",\n  \"cancelled\": %s,\n  \"wall_s\": %.6f,\n  \"cpu_s\": %.6f,\n"
            "  \"cpu_user_s\": %.6f,\n  \"cpu_sys_s\": %.6f,\n"
            "  \"throughput\": {\"events_per_s\": %.1f, \"events_per_cpu_s\": %.1f, "
            "\"events_per_s_per_worker\": %.1f},\n  \"rows\": %" PRIu64 ",\n",
            st->cancelled ? "true" : "false", s->wall, s->cpu, s->user, s->sys, s->eps, s->epc,
            s->epw, s->rows);
    fprintf(f,
            "  \"latency_ms\": {\"samples\": %" PRIu64 ", \"unmeasured\": %" PRIu64
            ", \"p50\": %.4f, \"p95\": %.4f, \"p99\": %.4f, \"max\": %.4f, \"mean\": "
            "%.4f,\n    \"method\": \"sink arrival minus the generation time of the row's "
            "origin (the event that made it, or the moment every source subtask had "
            "generated an event later than a timer-fired row's timestamp; the window's last "
            "millisecond on the wall clock for processing-time windows); rows whose event time "
            "is "
            "not known exactly (sampled or bracketed by samples) are unmeasured; of the "
            "rest the first 4096 per subtask, then every 16th\"},\n",
            b->lat.count, b->unmeasured, s->p50, s->p95, s->p99, s->lmax, s->lmean);
}

static void json_checkpoints(FILE *f, const struct nexmark_bench *b,
                             const struct weir_run_stats *st, const struct nexmark_bench_info *info,
                             const struct summary *s)
{
    fprintf(f,
            "  \"checkpoints\": {\"mode\": \"%s\", \"interval_ms\": %" PRId64
            ", \"completed\": %" PRIu64 ", \"failed\": %" PRIu64 ", \"restored_from\": %" PRIu64
            ", \"restore_ms\": %.3f"
            ", \"max_ms\": %" PRIu64 ", \"max_bytes\": %" PRIu64
            ",\n    \"sync_ms\": {\"subtasks\": \"keyed state\", \"snapshots\": %" PRIu64
            ", \"p50\": %.4f, \"p99\": %.4f, \"max\": %.4f},\n    \"sync_ms_other\": "
            "{\"subtasks\": \"sources, stateless\", \"snapshots\": %" PRIu64
            ", \"p50\": %.4f, \"p99\": %.4f, \"max\": %.4f},\n    \"durations\": [",
            info->mode, info->interval_ms, st->checkpoints_completed, st->checkpoints_failed,
            st->restored_checkpoint, st->restore_ms, s->max_ms, s->max_bytes, st->snapshots,
            st->sync_ms_p50, st->sync_ms_p99, st->sync_ms_max, st->other_snapshots,
            st->other_sync_ms_p50, st->other_sync_ms_p99, st->other_sync_ms_max);
    const struct ckpt_seen *cks = b->ckpts.seen;
    for (size_t i = 0; i < b->ckpts.n; i++) {
        fprintf(f, "%s{", i ? ", " : "");
        if (cks[i].id)
            fprintf(f, "\"id\": %" PRIu64 ", ", cks[i].id);
        fprintf(f, "\"duration_ms\": %" PRIu64 ", \"size_bytes\": %" PRIu64 "}", cks[i].duration_ms,
                cks[i].size_bytes);
    }
    fprintf(f, "],\n    \"durations_from\": ");
    json_str(f, "every checkpoint");
    fprintf(f, "},\n  \"output\": ");
    if (info->output)
        json_str(f, info->output);
    else
        fprintf(f, "null");
    fprintf(f, "\n}\n");
}

int nexmark_bench_report(const struct nexmark_bench *b, const struct weir_run_stats *st,
                         const struct nexmark_bench_info *info, FILE *out, const char *json)
{
    struct summary s;
    summarize(b, st, &s);
    print_text(b, st, info, &s, out);
    int rc = 0;
    if (json) {
        FILE *f = fopen(json, "we");
        if (!f) {
            fprintf(stderr, "weir: --json: %s: %s\n", json, strerror(errno));
            rc = -EIO;
        } else {
            json_run(f, b, st, info, &s);
            json_checkpoints(f, b, st, info, &s);
            if (fclose(f) != 0) {
                fprintf(stderr, "weir: --json: %s: %s\n", json, strerror(errno));
                rc = -EIO;
            }
        }
    }
    free(s.durs);
    return rc;
}
