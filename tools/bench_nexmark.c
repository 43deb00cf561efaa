/*
 * weir bench nexmark: one Nexmark query, with checkpoints, measured.
 *
 *   weir bench nexmark --query qN --events N|--unbounded [-p N] [-c FILE] [-D key=value]...
 *                      [--rate R] [--event-rate R] [--seed S]
 *                      [--dump-events DIR] [--output DIR] [--json PATH]
 *                      [--from-checkpoint latest|DIR|s3://...] [--allow-non-restored-state]
 *                      [--overwrite] [--kafka BOOTSTRAP]
 *
 * The job is source "nexmark" -> "latency-stamp" -> the query -> "latency-probe"
 * -> sink (a blackhole, or with --output exactly-once CSV files). With --kafka the
 * events are first written into a new topic "nexmark-<query>-<run id>" of as many
 * partitions as the parallelism (timed and reported), and source "nexmark" is a
 * Kafka source reading it (bench/nexmark/kafka.c), then "kafka-event". Checkpoints
 * are on: EXACTLY_ONCE every 10 s unless -c or -D say otherwise; a failure ends
 * the run (restart-strategy.type none unless set), so that the figures are of
 * one attempt. --dump-events without --query writes the events and stops.
 *
 * This file is the command line; what is measured and how, and the report,
 * are bench/nexmark's (measure.c, report.c).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <weir/config.h>
#include <weir/weir.h>

#include "bench_nexmark.h"
#include "cli.h"
#include "cli_jobs.h"
#include "nexmark.h"
#include "nexmark_bench.h"
#include "nexmark_queries.h"

/* A positive event-time rate: below one event per second spreads a run over
 * days of event time. One-line error naming the flag (cli_error). */
static int parse_rate(weir_job *job, const char *flag, const char *v, double *out)
{
    char *end;
    errno = 0;
    double r = strtod(v, &end);
    if (*end == 'k' || *end == 'K')
        r *= 1e3, end++;
    else if (*end == 'm' || *end == 'M')
        r *= 1e6, end++;
    if (end == v || *end || errno || !(r > 0) || r > 1e12) {
        cli_error(job, "%s: \"%s\": expected a positive rate like 0.5, 1000 or 10M", flag, v);
        return -EINVAL;
    }
    *out = r;
    return 0;
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

/* --- the command ------------------------------------------------------------------- */

static void bench_usage(FILE *out)
{
    fprintf(out, "usage: weir bench nexmark --query QUERY --events N|--unbounded [-p N] [-c FILE]\n"
                 "                          [-D key=value]...\n"
                 "                          [--rate R] [--event-rate R] [--seed S]\n"
                 "                          [--dump-events DIR] [--output DIR] [--json PATH]\n"
                 "                          [--from-checkpoint latest|DIR|s3://...] "
                 "[--allow-non-restored-state]\n"
                 "                          [--overwrite] [--kafka BOOTSTRAP]\n"
                 "QUERY is one of:");
    for (const struct weir_nexmark_query *const *q = weir_nexmark_queries; *q; q++)
        fprintf(out, " %s", (*q)->name);
    fprintf(out,
            "\n"
            "Checkpoints are on (EXACTLY_ONCE, execution.checkpointing.interval 10 s) and a\n"
            "failure ends the run (restart-strategy.type none) unless -c or -D say otherwise.\n"
            "--rate limits events per wall-clock second (default: as fast as possible);\n"
            "--event-rate sets Nexmark's event-time rate (default 10M/s). --output DIR writes\n"
            "the result rows exactly once as DIR/part-*.csv (a DIR that is not empty only\n"
            "with --overwrite, which replaces its part files); --json PATH the measurements.\n"
            "With --dump-events DIR and no --query, only the events are written (as CSV).\n"
            "--kafka HOST:PORT writes the events into a new topic nexmark-QUERY-RUNID (as many\n"
            "partitions as -p) first, then runs the query reading it (Nexmark's Kafka mode).\n");
}

struct bench_opts {
    const struct weir_nexmark_query *q;
    uint64_t events, seed;
    bool events_set;
    double rate, event_rate;
    const char *dump_dir, *output, *json, *restore_from, *config_file;
    const char *kafka; /* bootstrap servers: the events go through a topic */
    bool allow_non_restored, overwrite, unbounded;
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

/* What the options say together: one line and -1 when they do not fit. */
static int bench_opts_check(const struct bench_opts *o)
{
    if (!o->q && !o->dump_dir) {
        fprintf(stderr, "weir: bench nexmark: --query is required (e.g. --query q5)\n");
        return -1;
    }
    if (o->events_set == o->unbounded) {
        fprintf(stderr, "weir: bench nexmark: %s\n",
                o->unbounded ? "--events and --unbounded: give one of them"
                             : "--events N (a count like 10M) or --unbounded is required");
        return -1;
    }
    if (o->unbounded && o->dump_dir) {
        fprintf(stderr, "weir: bench nexmark: --dump-events writes a bounded run: give --events N, "
                        "not --unbounded\n");
        return -1;
    }
    if (o->kafka && (o->unbounded || o->rate > 0)) {
        fprintf(stderr,
                "weir: bench nexmark: --kafka writes --events N into a topic first and "
                "reads them as fast as it can: %s\n",
                o->unbounded ? "not with --unbounded" : "not with --rate");
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
        } else if (!strcmp(a, "--overwrite")) {
            o->overwrite = true;
            continue;
        } else if (!strcmp(a, "--unbounded")) {
            o->unbounded = true; /* events 0: the generator's "no end" */
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
                                                     "--kafka",
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
            if (cli_parse_total(NULL, "--events", v, &o->events) < 0)
                return -1;
            o->events_set = true;
        } else if (!strcmp(a, "--rate")) {
            if (cli_parse_count(NULL, "--rate", v, &n) < 0)
                return -1;
            o->rate = (double)n;
        } else if (!strcmp(a, "--event-rate") || !strcmp(a, "--events-per-second")) {
            if (parse_rate(NULL, a, v, &o->event_rate) < 0)
                return -1;
        } else if (!strcmp(a, "--seed")) {
            if (cli_parse_count(NULL, "--seed", v, &o->seed) < 0)
                return -1;
        } else if (!strcmp(a, "--dump-events")) {
            o->dump_dir = v;
        } else if (!strcmp(a, "--output")) {
            o->output = v;
        } else if (!strcmp(a, "--json")) {
            o->json = v;
        } else if (!strcmp(a, "--kafka")) {
            o->kafka = v;
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
    return bench_opts_check(o);
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
    if (o->overwrite && weir_config_set(cfg, "sink.file.overwrite", "true", err, sizeof err) < 0)
        goto bad;
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

/* The generator's options from the command line; -EINVAL after one line. */
static int bench_gen(const struct bench_opts *o, struct weir_nexmark_opts *gen)
{
    weir_nexmark_opts_init(gen);
    gen->events = o->events;
    gen->seed = o->seed;
    gen->rate_limit = o->rate;
    if (o->event_rate > 0)
        gen->events_per_second = o->event_rate;
    char err[1024];
    if (weir_nexmark_opts_check(gen, err, sizeof err) < 0) {
        fprintf(stderr, "weir: %s\n", err);
        return -EINVAL;
    }
    return 0;
}

/* The job: source "nexmark" -> "latency-stamp" -> the query -> "latency-probe"
 * -> sink. NULL when out of memory; a build error is the job's sticky error. */
static weir_job *bench_job(const struct bench_opts *o, struct nexmark_bench *b,
                           const struct weir_nexmark_opts *gen, const char *topic, char *name,
                           size_t name_len)
{
    snprintf(name, name_len, "nexmark-%s", o->q->name);
    weir_job *job = weir_job_new(name);
    if (!job)
        return NULL;
    struct weir_nexmark_query_params qp = {.gen = gen};
    weir_stream *src = topic ? nexmark_kafka_source(job, "nexmark", o->kafka, topic, gen)
                             : weir_source_nexmark(job, "nexmark", gen);
    weir_stream *events = nexmark_bench_stamp(b, src);
    weir_stream *rows = nexmark_bench_probe(b, o->q->build(events, &qp));
    if (o->output)
        weir_nexmark_sink_csv(rows, o->q, o->output);
    else
        weir_sink_blackhole(rows, "sink");
    return job;
}

/* Runs the built job once, measured, and reports; the exit status. */
static int bench_measure(const struct bench_opts *o, weir_config *cfg,
                         const struct weir_nexmark_opts *gen, weir_job *job, const char *job_name,
                         struct nexmark_bench *b)
{
    const char *pmode = weir_config_get_str(cfg, "weir.progress");
    nexmark_bench_show_progress(b, !strcmp(pmode, "always") ||
                                       (!strcmp(pmode, "auto") && isatty(STDERR_FILENO)));
    weir_config_print_pools(cfg, stderr);
    struct nexmark_bench_info info = {
        .gen = gen,
        .events_requested = o->events,
        .parallelism = (int)weir_config_get_int(cfg, "parallelism.default"),
        .backend = weir_config_get_str(cfg, "state.backend"),
        .mode = weir_config_get_str(cfg, "execution.checkpointing.mode"),
        .interval_ms = weir_config_get_duration_ms(cfg, "execution.checkpointing.interval"),
        .output = o->output,
    };
    const char *dir = weir_config_get_str(cfg, "state.checkpoints.dir");
    fprintf(stderr,
            "weir: bench nexmark %s (%s): %" PRIu64 " events, parallelism %d, state %s, "
            "checkpoints %s every %" PRId64 " ms to %s/%s\n",
            o->q->name, o->q->title, o->events, info.parallelism, info.backend, info.mode,
            info.interval_ms, *dir ? dir : "~/.local/state/weir/checkpoints", job_name);

    struct weir_run_opts ro = {.parallelism = info.parallelism,
                               .progress = nexmark_bench_progress,
                               .progress_arg = b,
                               .restore_from = o->restore_from,
                               .allow_non_restored_state = o->allow_non_restored,
                               .on_checkpoint = nexmark_bench_on_checkpoint,
                               .on_checkpoint_arg = b,
                               .on_rest = cli_jobs_on_rest};
    struct weir_run_stats st;
    memset(&st, 0, sizeof st);
    char err[1024];
    cli_watch_signals(job);
    cli_jobs_register_name(job_name); /* `weir list`, `weir stop JOBID` reach the bench too */
    nexmark_bench_start(b);
    int rc = weir_job_run(job, cfg, &ro, &st, err, sizeof err);
    nexmark_bench_stop(b);
    cli_jobs_unregister();
    cli_watch_signals(NULL);
    if (rc < 0) {
        fprintf(stderr, "weir: %s\n", err);
        return cli_run_exit_status(rc);
    }
    return nexmark_bench_report(b, &st, &info, stdout, o->json) < 0 ? EXIT_FAILED : 0;
}

/* --kafka: the events into a new topic named for the query and the run, timed; one line on
 * stdout. 0, or an exit status after one line on stderr. */
static int bench_produce(const struct bench_opts *o, const struct weir_nexmark_opts *gen,
                         int partitions, char *topic, size_t topic_len)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    snprintf(topic, topic_len, "nexmark-%s-%lld-%ld", o->q->name, (long long)now.tv_sec,
             (long)getpid());
    fprintf(stderr,
            "weir: bench nexmark: writing %" PRIu64 " events into topic %s (%d "
            "partitions) on %s\n",
            gen->events, topic, partitions, o->kafka);
    struct nexmark_kafka_produced st;
    char err[1024];
    if (nexmark_kafka_produce(gen, o->kafka, topic, partitions, &st, err, sizeof err) < 0) {
        fprintf(stderr, "weir: %s\n", err);
        return EXIT_FAILED;
    }
    printf("produce %s: %" PRIu64 " events (%.1f MiB) into %d partitions in %.3f s: %.0f "
           "events/s\n",
           topic, st.events, (double)st.bytes / (1 << 20), partitions, st.seconds,
           st.seconds > 0 ? (double)st.events / st.seconds : 0);
    fflush(stdout);
    return 0;
}

static int bench_run(const struct bench_opts *o, weir_config *cfg,
                     const struct weir_nexmark_opts *gen)
{
    int p = (int)weir_config_get_int(cfg, "parallelism.default");
    char topic[256];
    if (o->kafka) {
        int status = bench_produce(o, gen, p, topic, sizeof topic);
        if (status)
            return status;
    }
    struct nexmark_bench *b = nexmark_bench_new(o->q, p);
    char job_name[64];
    weir_job *job =
        b ? bench_job(o, b, gen, o->kafka ? topic : NULL, job_name, sizeof job_name) : NULL;
    if (!job) {
        fprintf(stderr, "weir: out of memory\n");
        nexmark_bench_free(b);
        return EXIT_FAILED;
    }
    int status;
    if (weir_job_error(job)) {
        fprintf(stderr, "weir: job %s: %s\n", job_name, weir_job_error(job));
        status = EXIT_USAGE;
    } else {
        status = bench_measure(o, cfg, gen, job, job_name, b);
    }
    weir_job_free(job);
    nexmark_bench_free(b);
    return status;
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
    weir_config *cfg = bench_config(&o);
    if (!cfg)
        return EXIT_USAGE;
    struct weir_nexmark_opts gen;
    int status = bench_gen(&o, &gen) < 0 ? EXIT_USAGE : 0;
    if (status == 0 && o.dump_dir && nexmark_dump_events(&gen, o.dump_dir) < 0)
        status = EXIT_FAILED;
    if (status == 0 && o.q) /* without --query, only the events were asked for */
        status = bench_run(&o, cfg, &gen);
    weir_config_free(cfg);
    return status;
}

/* --- the queries as built-in jobs ------------------------------------------------------ */

#define RUN_USAGE "[--events N | --unbounded] [--rate R] [--event-rate R] [--seed S] [OUTPUT_DIR]"

/* weir run qN [options] [OUTPUT_DIR]: argv[0] is the query's name. */
static int nexmark_job_main(weir_job *job, int argc, char **argv)
{
    const struct weir_nexmark_query *q = weir_nexmark_query_find(argv[0]);
    if (!q) {
        weir_job_fail(job, "\"%s\" is not a Nexmark query", argv[0]);
        return -EINVAL;
    }
    struct weir_nexmark_opts *gen = malloc(sizeof *gen);
    if (!gen)
        return -ENOMEM;
    weir_nexmark_opts_init(gen);
    gen->events = 10000000;
    const char *out = NULL;
    bool events = false, unbounded = false;
    for (int i = 1; i < argc; i++) {
        uint64_t n;
        const char *a = argv[i];
        if (a[0] != '-') {
            if (out) {
                weir_job_fail(job, "one OUTPUT_DIR at most (\"%s\", \"%s\")", out, a);
                goto bad;
            }
            out = a;
            continue;
        }
        if (!strcmp(a, "--unbounded")) {
            unbounded = true;
            continue;
        }
        if (i + 1 >= argc) {
            weir_job_fail(job, "%s needs a value", a);
            goto bad;
        }
        const char *v = argv[++i];
        if (!strcmp(a, "--events")) {
            if (cli_parse_total(job, "--events", v, &gen->events) < 0)
                goto bad;
            events = true;
        } else if (!strcmp(a, "--rate")) {
            if (cli_parse_count(job, "--rate", v, &n) < 0)
                goto bad;
            gen->rate_limit = (double)n;
        } else if (!strcmp(a, "--event-rate")) {
            if (parse_rate(job, "--event-rate", v, &gen->events_per_second) < 0)
                goto bad;
        } else if (!strcmp(a, "--seed")) {
            if (cli_parse_count(job, "--seed", v, &gen->seed) < 0)
                goto bad;
        } else {
            weir_job_fail(job, "unknown option \"%s\"; options: %s", a, RUN_USAGE);
            goto bad;
        }
    }
    if (events && unbounded) {
        weir_job_fail(job, "--events and --unbounded: give one of them");
        goto bad;
    }
    if (unbounded)
        gen->events = 0; /* the generator's "no end" */
    char err[256];
    if (weir_nexmark_opts_check(gen, err, sizeof err) < 0) {
        weir_job_fail(job, "%s", err);
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
