/*
 * Built-in jobs. They use only the public API, so each is also an example of
 * how a job shared object is written.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <weir/kafka.h>
#include <weir/weir.h>

#include "bench_nexmark.h"
#include "builtin_jobs.h"
#include "cli.h"

/* Options shared by the generator jobs; -EINVAL after the job's error. */
static int datagen_args(weir_job *job, int argc, char **argv, struct weir_datagen_opts *o)
{
    static const struct option longopts[] = {
        {"records", required_argument, NULL, 'n'},     {"keys", required_argument, NULL, 'k'},
        {"record-size", required_argument, NULL, 's'}, {"rate", required_argument, NULL, 'r'},
        {"seed", required_argument, NULL, 'S'},        {"random", no_argument, NULL, 'R'},
        {"unbounded", no_argument, NULL, 'u'},         {NULL, 0, NULL, 0},
    };
    uint64_t v;
    bool records = false, unbounded = false;
    optind = 1;
    opterr = 0; /* getopt's own message would be a second line */
    int c;
    while ((c = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
        switch (c) {
        case 'n':
            if (cli_parse_total(job, "--records", optarg, &o->records) < 0)
                return -EINVAL;
            records = true;
            break;
        case 'k':
            if (cli_parse_count(job, "--keys", optarg, &o->keys) < 0)
                return -EINVAL;
            break;
        case 's':
            if (cli_parse_count(job, "--record-size", optarg, &v) < 0)
                return -EINVAL;
            if (v < sizeof(struct weir_datagen_rec) || v > (1u << 24)) {
                weir_job_fail(job, "--record-size: \"%s\": expected %zu to 16777216 bytes", optarg,
                              sizeof(struct weir_datagen_rec));
                return -EINVAL;
            }
            o->record_size = (uint32_t)v;
            break;
        case 'r':
            if (cli_parse_count(job, "--rate", optarg, &v) < 0)
                return -EINVAL;
            o->rate = (double)v;
            break;
        case 'S':
            if (cli_parse_count(job, "--seed", optarg, &o->seed) < 0)
                return -EINVAL;
            break;
        case 'R':
            o->random = true;
            break;
        case 'u':
            unbounded = true;
            break;
        case ':':
            weir_job_fail(job, "%s needs a value", argv[optind - 1]);
            return -EINVAL;
        default:
            weir_job_fail(job, "unknown option \"%s\"; see `weir jobs`", argv[optind - 1]);
            return -EINVAL;
        }
    }
    if (records && unbounded) {
        weir_job_fail(job, "--records and --unbounded: give one of them");
        return -EINVAL;
    }
    if (unbounded)
        o->records = 0; /* the generator's "no end" */
    return 0;
}

/* --- pipeline: generator -> map -> filter -> key_by -> blackhole ------------ */

static int scale_value(weir_ctx *ctx, const weir_rec *in, weir_emit *out)
{
    struct weir_datagen_rec *o = weir_emit_reserve(out, in->len);
    if (!o)
        return -EMSGSIZE;
    memcpy(o, in->data, in->len);
    o->value = o->value * 3 + 1;
    return weir_emit_commit(out, in->ts);
}

static int drop_sixteenth(weir_ctx *ctx, const weir_rec *in)
{
    const struct weir_datagen_rec *r = (const void *)in->data;
    return (r->value & 15) != 0;
}

static uint64_t datagen_key(const weir_rec *r)
{
    return ((const struct weir_datagen_rec *)(const void *)r->data)->key;
}

static int job_pipeline(weir_job *job, int argc, char **argv)
{
    struct weir_datagen_opts o = {.records = 50000000, .keys = 1000000, .record_size = 64};
    if (datagen_args(job, argc, argv, &o) < 0)
        return -EINVAL;
    weir_stream *s = weir_source_datagen(job, "datagen", &o);
    s = weir_map(s, "map", scale_value);
    s = weir_filter(s, "filter", drop_sixteenth);
    weir_sink_blackhole(weir_key_by(s, datagen_key), "blackhole");
    return 0;
}

/* --- generate: generator -> key_by -> file, "seq,key,value" lines ----------- */

static int job_generate(weir_job *job, int argc, char **argv)
{
    struct weir_datagen_opts o = {.records = 1000, .keys = 0, .record_size = 24};
    if (datagen_args(job, argc, argv, &o) < 0)
        return -EINVAL;
    if (optind != argc - 1) {
        weir_job_fail(job, "expected one OUTPUT path after the options");
        return -EINVAL;
    }
    weir_stream *s = weir_source_datagen(job, "datagen", &o);
    weir_sink_file(weir_key_by(s, datagen_key), "file", argv[optind], weir_format_datagen);
    return 0;
}

/* --- copy and split-words: file -> file -------------------------------------- */

static int split_words(weir_ctx *ctx, const weir_rec *line, weir_emit *out)
{
    const char *s = (const char *)line->data, *e = s + line->len;
    while (s < e) {
        while (s < e && (*s == ' ' || *s == '\t' || *s == '\r'))
            s++;
        const char *w = s;
        while (s < e && *s != ' ' && *s != '\t' && *s != '\r')
            s++;
        if (s > w) {
            int rc = weir_emit_copy(out, line->ts, w, (uint32_t)(s - w));
            if (rc < 0)
                return rc;
        }
    }
    return 0;
}

/* FNV-1a of the word's bytes: the same word always reaches the same subtask. */
static uint64_t word_key(const weir_rec *r)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (uint32_t i = 0; i < r->len; i++)
        h = (h ^ r->data[i]) * 0x100000001b3ull;
    return h;
}

static int two_paths(weir_job *job, int argc, char **argv)
{
    if (argc != 3) {
        weir_job_fail(job, "expected INPUT and OUTPUT paths");
        return -EINVAL;
    }
    return cli_output_not_input(job, argv[1], argv[2]);
}

static int job_copy(weir_job *job, int argc, char **argv)
{
    if (two_paths(job, argc, argv) < 0)
        return -EINVAL;
    weir_sink_file(weir_source_file(job, "lines", argv[1]), "file", argv[2], NULL);
    return 0;
}

static int job_split_words(weir_job *job, int argc, char **argv)
{
    if (two_paths(job, argc, argv) < 0)
        return -EINVAL;
    weir_stream *words =
        weir_flat_map(weir_source_file(job, "lines", argv[1]), "split", split_words);
    weir_sink_file(weir_key_by(words, word_key), "file", argv[2], NULL);
    return 0;
}

/* --- window-count: keyed tumbling-window counts, exactly-once to files ------- */

static int window_row(const weir_rec *r, char *buf, size_t cap)
{
    const struct weir_window_result *w = (const void *)r->data;
    return snprintf(buf, cap, "%llu,%lld,%lld,%lld", (unsigned long long)w->key,
                    (long long)w->start, (long long)w->end, (long long)weir_result_i64(w->result));
}

static int job_window_count(weir_job *job, int argc, char **argv)
{
    struct weir_datagen_opts o = {.records = 200000, .keys = 100, .record_size = 24};
    int64_t window_ms = 1000;
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--window-ms")) {
            uint64_t v;
            if (i + 1 == argc) {
                weir_job_fail(job, "--window-ms needs a value");
                return -EINVAL;
            }
            if (cli_parse_count(job, "--window-ms", argv[i + 1], &v) < 0)
                return -EINVAL;
            if (v == 0 || v > INT64_MAX / 2) {
                weir_job_fail(job, "--window-ms %s: must be > 0%s", argv[i + 1],
                              v ? " and below 4.6e18" : "");
                return -EINVAL;
            }
            window_ms = (int64_t)v;
            memmove(&argv[i], &argv[i + 2], (size_t)(argc - i - 2) * sizeof *argv);
            argc -= 2;
            break;
        }
    if (datagen_args(job, argc, argv, &o) < 0)
        return -EINVAL;
    if (optind != argc - 1) {
        weir_job_fail(job, "expected one OUTPUT directory after the options");
        return -EINVAL;
    }
    /* event time = seq (ms): each source subtask's timestamps only grow */
    static const struct weir_watermark_strategy ws = {.max_out_of_orderness_ms = 0};
    weir_stream *s = weir_assign_watermarks(weir_source_datagen(job, "datagen", &o), &ws);
    weir_stream *w = weir_window_aggregate(weir_key_by(s, datagen_key), "count",
                                           weir_tumbling(window_ms), &weir_agg_count, NULL, NULL);
    weir_sink_file_exactly_once(w, "out", argv[optind], window_row, ".csv");
    return 0;
}

/* --- kafka-count: Kafka topic -> keyed tumbling-window count -> exactly-once files -------- */

/* The key of a Kafka record: its value (raw) or first field (csv, json) as a number when it
 * is one, else the FNV-1a hash of its bytes. */
static uint64_t kafka_key(const weir_rec *r)
{
    const struct weir_kafka_rec *k = weir_kafka_rec_of(r);
    size_t n;
    const char *v = k->n_fields ? weir_kafka_field(k, 0, &n) : weir_kafka_value(k, &n);
    if (!v)
        return 0;
    uint64_t num = 0;
    bool digits = n > 0 && n <= 19;
    for (size_t i = 0; i < n && digits; i++) {
        digits = v[i] >= '0' && v[i] <= '9';
        num = num * 10 + (uint64_t)(v[i] - '0');
    }
    if (digits)
        return num;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)v[i]) * 0x100000001b3ull;
    return h;
}

/* --csv-fields N: the names of N CSV fields (a line with fewer is a bad record, the
 * dead-letter queue's when there is one), NULL for 0 or after the job's error. */
static const char *const *csv_fields(weir_job *job, const char *arg)
{
    static const char *const names[] = {"f1",  "f2",  "f3",  "f4",  "f5",  "f6",  "f7",  "f8", "f9",
                                        "f10", "f11", "f12", "f13", "f14", "f15", "f16", NULL};
    uint64_t v;
    if (cli_parse_count(job, "--csv-fields", arg, &v) < 0)
        return NULL;
    if (v > 16) {
        weir_job_fail(job, "--csv-fields %s: at most 16", arg);
        return NULL;
    }
    return v ? names + 16 - v : NULL;
}

/* kafka-count's options into o and *window_ms; -EINVAL after the job's error. */
static int kafka_count_args(weir_job *job, int argc, char **argv, struct weir_kafka_source_opts *op,
                            uint64_t *window_ms)
{
    struct weir_kafka_source_opts o = *op;
    static const struct option longopts[] = {
        {"bootstrap", required_argument, NULL, 'b'},
        {"topic", required_argument, NULL, 't'},
        {"group", required_argument, NULL, 'g'},
        {"startup-mode", required_argument, NULL, 'm'},
        {"startup-timestamp", required_argument, NULL, 'T'},
        {"format", required_argument, NULL, 'f'},
        {"window-ms", required_argument, NULL, 'w'},
        {"out-of-orderness-ms", required_argument, NULL, 'o'},
        {"idleness-ms", required_argument, NULL, 'i'},
        {"discovery-interval-ms", required_argument, NULL, 'd'},
        {"bounded", no_argument, NULL, 'B'},
        {"skip-bad-records", no_argument, NULL, 's'},
        {"csv-fields", required_argument, NULL, 'F'},
        {"property", required_argument, NULL, 'P'},
        {NULL, 0, NULL, 0},
    };
    static const char *props[17]; /* librdkafka settings, NULL-terminated */
    size_t n_props = 0;
    uint64_t v;
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
        switch (c) {
        case 'b':
            o.bootstrap = optarg;
            break;
        case 't':
            o.topic = optarg;
            break;
        case 'g':
            o.group_id = optarg;
            break;
        case 'm':
            if (!strcmp(optarg, "earliest-offset"))
                o.startup_mode = WEIR_KAFKA_STARTUP_EARLIEST;
            else if (!strcmp(optarg, "latest-offset"))
                o.startup_mode = WEIR_KAFKA_STARTUP_LATEST;
            else if (!strcmp(optarg, "group-offsets"))
                o.startup_mode = WEIR_KAFKA_STARTUP_GROUP;
            else if (!strcmp(optarg, "timestamp"))
                o.startup_mode = WEIR_KAFKA_STARTUP_TIMESTAMP;
            else {
                weir_job_fail(job,
                              "--startup-mode \"%s\": expected earliest-offset, "
                              "latest-offset, group-offsets or timestamp",
                              optarg);
                return -EINVAL;
            }
            break;
        case 'T':
            if (cli_parse_count(job, "--startup-timestamp", optarg, &v) < 0)
                return -EINVAL;
            o.startup_timestamp_ms = (int64_t)v;
            break;
        case 'f':
            if (!strcmp(optarg, "raw"))
                o.format = WEIR_KAFKA_FORMAT_RAW;
            else if (!strcmp(optarg, "csv"))
                o.format = WEIR_KAFKA_FORMAT_CSV;
            else if (!strcmp(optarg, "json"))
                o.format = WEIR_KAFKA_FORMAT_JSON;
            else {
                weir_job_fail(job, "--format \"%s\": expected raw, csv or json", optarg);
                return -EINVAL;
            }
            break;
        case 'w':
            if (cli_parse_count(job, "--window-ms", optarg, window_ms) < 0)
                return -EINVAL;
            if (*window_ms == 0 || *window_ms > INT64_MAX / 2) {
                weir_job_fail(job, "--window-ms %s: must be > 0 and below 4.6e18", optarg);
                return -EINVAL;
            }
            break;
        case 'o':
            if (cli_parse_count(job, "--out-of-orderness-ms", optarg, &v) < 0)
                return -EINVAL;
            o.max_out_of_orderness_ms = (int64_t)v;
            break;
        case 'i':
            if (cli_parse_count(job, "--idleness-ms", optarg, &v) < 0)
                return -EINVAL;
            o.idleness_ms = (int64_t)v;
            break;
        case 'd':
            if (cli_parse_count(job, "--discovery-interval-ms", optarg, &v) < 0)
                return -EINVAL;
            o.discovery_interval_ms = (int64_t)v;
            break;
        case 'B':
            o.bounded = true;
            break;
        case 's':
            o.skip_bad_records = true;
            break;
        case 'F': /* a job error (sticky) when optarg is bad: weir run refuses the job */
            o.fields = csv_fields(job, optarg);
            break;
        case 'P':
            if (!strchr(optarg, '=') || n_props == 16) {
                weir_job_fail(job, "--property \"%s\": expected KEY=VALUE (at most 16)", optarg);
                return -EINVAL;
            }
            props[n_props++] = optarg;
            props[n_props] = NULL;
            o.properties = props;
            break;
        case ':':
            weir_job_fail(job, "%s needs a value", argv[optind - 1]);
            return -EINVAL;
        default:
            weir_job_fail(job, "unknown option \"%s\"; see `weir jobs`", argv[optind - 1]);
            return -EINVAL;
        }
    }
    *op = o;
    return 0;
}

static int job_kafka_count(weir_job *job, int argc, char **argv)
{
    struct weir_kafka_source_opts o = {.watermarks = true};
    uint64_t window_ms = 1000;
    if (kafka_count_args(job, argc, argv, &o, &window_ms) < 0)
        return -EINVAL;
    if (!o.bootstrap || !o.topic) {
        weir_job_fail(job, "--bootstrap HOST:PORT and --topic T are needed");
        return -EINVAL;
    }
    if (optind != argc - 1) {
        weir_job_fail(job, "expected one OUTPUT directory after the options");
        return -EINVAL;
    }
    /* a field for the key when the value has a format: the first CSV field, the JSON "key" */
    static const char *const json_key[] = {"key", NULL};
    if (o.format == WEIR_KAFKA_FORMAT_JSON)
        o.fields = json_key;
    weir_stream *s = weir_source_kafka(job, "kafka", &o);
    weir_stream *w =
        weir_window_aggregate(weir_key_by(s, kafka_key), "count", weir_tumbling((int64_t)window_ms),
                              &weir_agg_count, NULL, NULL);
    weir_sink_file_exactly_once(w, "out", argv[optind], window_row, ".csv");
    return 0;
}

/* --- datagen-kafka: generator -> key_by -> Kafka topic ----------------------- */

/* value "seq,key,value", key the decimal key: in buffers of the worker's thread, valid until
 * its next call as the sink asks */
static int datagen_kafka_msg(weir_ctx *ctx, const weir_rec *in, struct weir_kafka_msg *m, void *arg)
{
    static _Thread_local char value[96], key[24];
    const struct weir_datagen_rec *r = (const void *)in->data;
    int vl = weir_format_datagen(in, value, sizeof value);
    int kl = snprintf(key, sizeof key, "%llu", (unsigned long long)r->key);
    if (vl < 0 || (size_t)vl >= sizeof value)
        return -EMSGSIZE;
    *m = (struct weir_kafka_msg){.key = key,
                                 .key_len = (size_t)kl,
                                 .value = value,
                                 .value_len = (size_t)vl,
                                 .partition = WEIR_KAFKA_PARTITION_ANY};
    return 0;
}

/* Takes NAME VALUE out of argv (getopt in datagen_args would refuse it); 1 when found. */
static int take_opt(weir_job *job, int *argc, char **argv, const char *name, const char **val)
{
    for (int i = 1; i < *argc; i++) {
        if (strcmp(argv[i], name) != 0)
            continue;
        if (i + 1 == *argc) {
            weir_job_fail(job, "%s needs a value", name);
            return -EINVAL;
        }
        *val = argv[i + 1];
        memmove(&argv[i], &argv[i + 2], (size_t)(*argc - i - 2) * sizeof *argv);
        *argc -= 2;
        return 1;
    }
    return 0;
}

static int job_datagen_kafka(weir_job *job, int argc, char **argv)
{
    struct weir_datagen_opts o = {.records = 100000, .keys = 1000, .record_size = 24};
    struct weir_kafka_sink_opts k = {.serialize = datagen_kafka_msg};
    const char *g = NULL, *tto = NULL, *props[2 * 16 + 1] = {0};
    int np = 0, rc;
    if (take_opt(job, &argc, argv, "--bootstrap", &k.bootstrap) < 0 ||
        take_opt(job, &argc, argv, "--topic", &k.topic) < 0 ||
        take_opt(job, &argc, argv, "--delivery-guarantee", &g) < 0 ||
        take_opt(job, &argc, argv, "--transactional-id-prefix", &k.transactional_id_prefix) < 0 ||
        take_opt(job, &argc, argv, "--transaction-timeout-ms", &tto) < 0)
        return -EINVAL;
    const char *kv;
    while ((rc = take_opt(job, &argc, argv, "--property", &kv)) == 1) {
        const char *eq = strchr(kv, '=');
        if (!eq || eq == kv || np == 2 * 16) {
            weir_job_fail(job, "--property %s: expected NAME=VALUE (16 at most)", kv);
            return -EINVAL;
        }
        props[np++] = strndup(kv, (size_t)(eq - kv)); /* lives as long as the process */
        props[np++] = eq + 1;
    }
    if (rc < 0)
        return -EINVAL;
    k.properties = props;
    if (!k.bootstrap || !k.topic) {
        weir_job_fail(job, "--bootstrap and --topic are required");
        return -EINVAL;
    }
    if (g && weir_kafka_delivery_parse(g, &k.delivery_guarantee) < 0) {
        weir_job_fail(job, "--delivery-guarantee %s: expected none, at-least-once or exactly-once",
                      g);
        return -EINVAL;
    }
    if (tto) {
        uint64_t v;
        if (cli_parse_count(job, "--transaction-timeout-ms", tto, &v) < 0)
            return -EINVAL;
        k.transaction_timeout_ms = (int64_t)v;
    }
    if (datagen_args(job, argc, argv, &o) < 0)
        return -EINVAL;
    if (optind != argc) {
        weir_job_fail(job, "unexpected argument \"%s\"", argv[optind]);
        return -EINVAL;
    }
    weir_stream *s = weir_source_datagen(job, "datagen", &o);
    weir_sink_kafka(weir_key_by(s, datagen_key), "kafka", &k);
    return 0;
}

/* --- kafka-window: Kafka topic -> keyed tumbling-window count -> Kafka topic ----------- */

/* key: the window's key in decimal, value: "key,start,end,count" (kafka-count's rows); in
 * buffers of the worker's thread, valid until its next call as the sink asks */
static int window_kafka_msg(weir_ctx *ctx, const weir_rec *in, struct weir_kafka_msg *m, void *arg)
{
    static _Thread_local char value[96], key[24];
    const struct weir_window_result *w = (const void *)in->data;
    int vl = window_row(in, value, sizeof value);
    int kl = snprintf(key, sizeof key, "%llu", (unsigned long long)w->key);
    if (vl < 0 || (size_t)vl >= sizeof value)
        return -EMSGSIZE;
    m->key = key;
    m->key_len = (size_t)kl;
    m->value = value;
    m->value_len = (size_t)vl;
    return 0;
}

/* kafka-window --rate R: each subtask passes its share of R records per second on, sleeping
 * in its worker when ahead. A source batch (up to 1024 records) then takes a while, and a
 * checkpoint barrier waits behind it: for tests and demos that need a run to last, not for
 * production. */
struct pace {
    double ns_per_rec;
    uint64_t start_ns, n;
};

static uint64_t pace_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int pace_open(weir_ctx *ctx, void *state, void *arg)
{
    struct pace *p = state;
    p->ns_per_rec = 1e9 * weir_ctx_parallelism(ctx) / *(const double *)arg;
    p->start_ns = pace_now_ns();
    return 0;
}

static int pace_process(weir_ctx *ctx, void *state, int input, const weir_rec *in, weir_emit *out)
{
    struct pace *p = state;
    uint64_t due = p->start_ns + (uint64_t)((double)++p->n * p->ns_per_rec);
    uint64_t now = pace_now_ns();
    if (due > now && !weir_ctx_stopping(ctx)) {
        uint64_t d = due - now;
        nanosleep(&(struct timespec){(time_t)(d / 1000000000u), (long)(d % 1000000000u)}, NULL);
    }
    return weir_emit_forward(out, in);
}

static const struct weir_operator_ops pace_ops = {
    .kind = "map",
    .state_size = sizeof(struct pace),
    .open = pace_open,
    .process = pace_process,
};

static int job_kafka_window(weir_job *job, int argc, char **argv)
{
    struct weir_kafka_source_opts o = {.watermarks = true};
    struct weir_kafka_sink_opts k = {.serialize = window_kafka_msg};
    uint64_t window_ms = 1000, rate = 0;
    const char *g = NULL, *tto = NULL, *r = NULL;
    /* the sink's options first: kafka-count's getopt refuses what it does not know */
    if (take_opt(job, &argc, argv, "--sink-topic", &k.topic) < 0 ||
        take_opt(job, &argc, argv, "--delivery-guarantee", &g) < 0 ||
        take_opt(job, &argc, argv, "--transactional-id-prefix", &k.transactional_id_prefix) < 0 ||
        take_opt(job, &argc, argv, "--transaction-timeout-ms", &tto) < 0 ||
        take_opt(job, &argc, argv, "--rate", &r) < 0)
        return -EINVAL;
    if (g && weir_kafka_delivery_parse(g, &k.delivery_guarantee) < 0) {
        weir_job_fail(job, "--delivery-guarantee %s: expected none, at-least-once or exactly-once",
                      g);
        return -EINVAL;
    }
    if (tto) {
        uint64_t v;
        if (cli_parse_count(job, "--transaction-timeout-ms", tto, &v) < 0)
            return -EINVAL;
        k.transaction_timeout_ms = (int64_t)v;
    }
    if (r && cli_parse_count(job, "--rate", r, &rate) < 0)
        return -EINVAL;
    if (kafka_count_args(job, argc, argv, &o, &window_ms) < 0)
        return -EINVAL;
    if (!o.bootstrap || !o.topic || !k.topic) {
        weir_job_fail(job, "--bootstrap HOST:PORT, --topic T and --sink-topic OUT are needed");
        return -EINVAL;
    }
    if (optind != argc) {
        weir_job_fail(job, "unexpected argument \"%s\"", argv[optind]);
        return -EINVAL;
    }
    k.bootstrap = o.bootstrap;
    static const char *const json_key[] = {"key", NULL};
    if (o.format == WEIR_KAFKA_FORMAT_JSON)
        o.fields = json_key;
    weir_stream *s = weir_source_kafka(job, "kafka", &o);
    if (rate) {
        double *arg = malloc(sizeof *arg);
        if (!arg) {
            weir_job_fail(job, "--rate: out of memory");
            return -ENOMEM;
        }
        *arg = (double)rate;
        s = weir_transform(s, "pace", &pace_ops, arg);
        weir_stream_own_arg(s, free);
    }
    weir_stream *w =
        weir_window_aggregate(weir_key_by(s, kafka_key), "count", weir_tumbling((int64_t)window_ms),
                              &weir_agg_count, NULL, NULL);
    weir_sink_kafka(w, "kafka-out", &k);
    return 0;
}

const struct builtin_job builtin_jobs[] = {
    {"pipeline", "[--records N | --unbounded] [--keys K] [--record-size B] [--rate R] [--seed S]",
     "generator -> map -> filter -> key_by -> blackhole (the benchmark pipeline)", job_pipeline},
    {"generate", "[--records N | --unbounded] [--keys K] [--rate R] [--seed S] OUTPUT",
     "generator -> key_by -> file of \"seq,key,value\" lines", job_generate},
    {"copy", "INPUT OUTPUT", "file -> file, line by line", job_copy},
    {"window-count",
     "[--records N | --unbounded] [--keys K] [--rate R] [--seed S] [--window-ms W] "
     "OUTPUT_DIR",
     "generator -> key_by -> tumbling event-time window count -> exactly-once files "
     "(key,start,end,count)",
     job_window_count},
    {"split-words", "INPUT OUTPUT", "file -> split into words -> key_by word -> file",
     job_split_words},
    {"kafka-count",
     "--bootstrap HOST:PORT --topic T [--group G] [--startup-mode earliest-offset|latest-offset|"
     "group-offsets|timestamp] [--startup-timestamp MS] [--format raw|csv|json] [--window-ms W] "
     "[--out-of-orderness-ms M] [--idleness-ms I] [--discovery-interval-ms D] [--bounded] "
     "[--skip-bad-records] [--csv-fields N] [--property KEY=VALUE (librdkafka)]... OUTPUT_DIR "
     "(bad records go to the dead-letter queue with -D weir.dlq.type=kafka|file)",
     "Kafka topic -> key_by value (csv: first field, json: \"key\") -> tumbling event-time "
     "window count (Kafka timestamps, per-partition watermarks) -> exactly-once files "
     "(key,start,end,count)",
     job_kafka_count},
    {"kafka-window",
     "--bootstrap HOST:PORT --topic T --sink-topic OUT [--delivery-guarantee none|at-least-once|"
     "exactly-once] [--transactional-id-prefix P] [--transaction-timeout-ms MS] [--rate R] "
     "[kafka-count's options but OUTPUT_DIR]",
     "Kafka topic -> key_by value -> tumbling event-time window count (Kafka timestamps, "
     "per-partition watermarks) -> Kafka topic OUT (key: the key, value: key,start,end,count)",
     job_kafka_window},
    {"datagen-kafka",
     "[--records N | --unbounded] [--keys K] [--rate R] [--seed S] --bootstrap B --topic T "
     "[--delivery-guarantee none|at-least-once|exactly-once] [--transactional-id-prefix P] "
     "[--transaction-timeout-ms MS] [--property NAME=VALUE]...",
     "generator -> key_by -> Kafka topic (key: the key, value: \"seq,key,value\")",
     job_datagen_kafka},
    {NULL, NULL, NULL, NULL},
};

const struct builtin_job *builtin_job_find(const char *name)
{
    for (const struct builtin_job *j = builtin_jobs; j->name; j++)
        if (strcmp(j->name, name) == 0)
            return j;
    return nexmark_builtin_job_find(name); /* q0 .. q22 */
}
