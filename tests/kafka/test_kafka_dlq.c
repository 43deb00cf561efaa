/*
 * The dead-letter queue (weir.dlq.*, weir/dlq.h) against the fixture's real broker: bad
 * records of the built-in kafka-count job (non-UTF-8 JSON, truncated JSON, a CSV line with
 * too few fields) land in a Kafka DLQ topic or a DLQ file with their original bytes and
 * headers and the DLQ's own (reason, operator, source topic, partition, offset) while the good
 * ones around them are counted once; a user function's weir_ctx_reject; a DLQ that cannot be
 * written fails the job with one line; and kill -9 mid-run, resumed from the latest
 * checkpoint: every bad record is in the DLQ at least once and the good output is exact.
 * kafka-count runs as the weir command ($WEIR); skips (77) without it or without a broker.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "weir_test.h"

#include "kafka_fixture.h"

#define WAIT_MS (120 * 1000) /* generous: the machine is loaded */

static const char *weir;

/* --- records in ------------------------------------------------------------------------ */

/* What was produced: the bad records' offsets and bytes, and how many good ones. */
#define MAX_BAD 4096
struct produced {
    int n_bad;
    struct {
        int32_t part;
        int64_t off;
        char value[64];
        size_t len;
        char trace[32]; /* its "trace" header */
    } bad[MAX_BAD];
    long long good;
};

static int64_t produce_one(rd_kafka_t *p, const char *topic, int32_t part, const char *v, size_t n,
                           int64_t ts, const char *trace)
{
    rd_kafka_headers_t *h = rd_kafka_headers_new(1);
    if (trace)
        rd_kafka_header_add(h, "trace", -1, trace, -1);
    rd_kafka_resp_err_t e;
    while ((e = rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(part),
                                  RD_KAFKA_V_VALUE((void *)v, n),
                                  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                  RD_KAFKA_V_TIMESTAMP(ts), RD_KAFKA_V_HEADERS(h),
                                  RD_KAFKA_V_END)) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
        rd_kafka_poll(p, 100);
    if (e)
        fail_msg("produce to %s: %s", topic, rd_kafka_err2str(e));
    return 0;
}

/* per_part records on each of parts partitions of topic, in order, offsets from 0: every
 * bad_every-th is one of the bad values (cycling), the rest good ones of key i % keys; event
 * time 1000 + i * 10 ms. */
static void produce(const char *topic, int parts, int per_part, int bad_every, bool json,
                    struct produced *pr)
{
    static const char *const bad_json[] = {"{\"key\": \"\xff\xfe\"}", "{\"key\": 1, \"x\"",
                                           "{\"key\": 2, \"v\": \"caf\xc3\"}"};
    static const char *const bad_csv[] = {"onlyonefield", "\"unterminated,1"};
    rd_kafka_t *p = wt_kafka_producer();
    memset(pr, 0, sizeof *pr);
    for (int i = 0; i < per_part; i++)
        for (int part = 0; part < parts; part++) {
            int64_t ts = 1000 + (int64_t)i * 10;
            if (bad_every && i % bad_every == bad_every - 1) {
                assert_true(pr->n_bad < MAX_BAD);
                const char *v = json ? bad_json[pr->n_bad % 3] : bad_csv[pr->n_bad % 2];
                typeof(pr->bad[0]) *b = &pr->bad[pr->n_bad++];
                b->part = part;
                b->off = i;
                b->len = strlen(v);
                memcpy(b->value, v, b->len);
                snprintf(b->trace, sizeof b->trace, "t-%d-%d", part, i);
                produce_one(p, topic, part, v, b->len, ts, b->trace);
                continue;
            }
            char v[64];
            int k = (i * 7 + part) % 10;
            if (json)
                snprintf(v, sizeof v, "{\"key\": %d, \"i\": %d}", k, i);
            else
                snprintf(v, sizeof v, "%d,%d", k, i);
            produce_one(p, topic, part, v, strlen(v), ts, NULL);
            pr->good++;
        }
    wt_kafka_flush(p);
    wt_kafka_producer_free(p);
}

/* --- kafka-count as the weir command ------------------------------------------------------ */

/* Runs weir kafka-count over topic into out with more -D settings (NULL-terminated) and job
 * flags; kill_ms > 0: SIGKILL after that long. Returns the wait status. */
static int run_weir(const char *topic, const char *out, const char *const *defs,
                    const char *const *flags, bool restore, int kill_ms, const char *log)
{
    char bootstrap[300];
    snprintf(bootstrap, sizeof bootstrap, "%s", wt_kafka_bootstrap());
    const char *argv[64];
    int n = 0;
    argv[n++] = weir;
    argv[n++] = "run";
    argv[n++] = "-p";
    argv[n++] = "2";
    const char *base[] = {"metrics.reporter.prom.port=0", "restart-strategy.type=none",
                          "weir.progress=never"};
    for (size_t i = 0; i < sizeof base / sizeof *base; i++) {
        argv[n++] = "-D";
        argv[n++] = base[i];
    }
    for (size_t i = 0; defs && defs[i]; i++) {
        argv[n++] = "-D";
        argv[n++] = defs[i];
    }
    if (restore) {
        argv[n++] = "--from-checkpoint";
        argv[n++] = "latest";
    }
    const char *job[] = {"kafka-count", "--bootstrap", bootstrap,     "--topic",
                         topic,         "--bounded",   "--window-ms", "1000"};
    for (size_t i = 0; i < sizeof job / sizeof *job; i++)
        argv[n++] = job[i];
    for (size_t i = 0; flags && flags[i]; i++)
        argv[n++] = flags[i];
    argv[n++] = out;
    argv[n] = NULL;
    assert_true(n < 64);
    pid_t pid = wt_weir_start(argv, log, NULL);
    return wt_weir_wait(pid, kill_ms);
}

static void show(const char *log)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "tail -n 5 %s >&2", log);
    if (system(cmd)) {
    }
}

static void run_ok(const char *topic, const char *out, const char *const *defs,
                   const char *const *flags, const char *log)
{
    int status = run_weir(topic, out, defs, flags, false, 0, log);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        show(log);
        fail_msg("weir kafka-count: status %d", status);
    }
}

/* The sum of the counts in out's committed rows (key,start,end,count). */
static long long counted(const char *out)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "cat %s/part-*.csv 2>/dev/null", out);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    long long sum = 0, k, s, e, c;
    while (fscanf(f, "%lld,%lld,%lld,%lld\n", &k, &s, &e, &c) == 4)
        sum += c;
    pclose(f);
    return sum;
}

/* --- the DLQ read back ------------------------------------------------------------------- */

/* One dead letter, as either DLQ gives it. */
struct letter {
    char reason[256], op[64], topic[256], trace[32];
    int32_t part;
    int64_t off;
    unsigned char value[64];
    size_t len;
};

/* As many as the DLQ holds: the kill test's rounds each send every bad record again (the DLQ is
 * at least once), so the count has no fixed bound. */
static struct letter *letters;
static size_t n_letters, cap_letters;

/* The next letter's slot, zeroed. */
static struct letter *new_letter(void)
{
    if (n_letters == cap_letters) {
        cap_letters = cap_letters ? 2 * cap_letters : 4 * MAX_BAD;
        letters = realloc(letters, cap_letters * sizeof *letters);
        assert_non_null(letters);
    }
    struct letter *l = &letters[n_letters++];
    memset(l, 0, sizeof *l);
    return l;
}

static void header(const rd_kafka_message_t *m, const char *name, char *buf, size_t cap)
{
    rd_kafka_headers_t *h;
    const void *v;
    size_t n;
    buf[0] = 0;
    if (rd_kafka_message_headers(m, &h) || rd_kafka_header_get_last(h, name, &v, &n))
        return;
    snprintf(buf, cap, "%.*s", (int)n, (const char *)v);
}

static void take_kafka_letter(const rd_kafka_message_t *m, void *arg)
{
    (void)arg;
    struct letter *l = new_letter();
    char num[32];
    header(m, "weir.dlq.reason", l->reason, sizeof l->reason);
    header(m, "weir.dlq.operator", l->op, sizeof l->op);
    header(m, "weir.dlq.topic", l->topic, sizeof l->topic);
    header(m, "trace", l->trace, sizeof l->trace);
    header(m, "weir.dlq.partition", num, sizeof num);
    l->part = num[0] ? atoi(num) : -1;
    header(m, "weir.dlq.offset", num, sizeof num);
    l->off = num[0] ? atoll(num) : -1;
    assert_true(m->len <= sizeof l->value);
    memcpy(l->value, m->payload, m->len);
    l->len = m->len;
}

static void read_kafka_dlq(const char *topic)
{
    n_letters = 0;
    wt_kafka_read(topic, 0, WAIT_MS, take_kafka_letter, NULL);
}

static size_t unbase64(const char *s, unsigned char *out, size_t cap)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (; *s && *s != '='; s++) {
        const char *p = strchr(tab, *s);
        assert_non_null(p);
        acc = acc << 6 | (uint32_t)(p - tab);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            assert_true(n < cap);
            out[n++] = (unsigned char)(acc >> bits);
        }
    }
    return n;
}

/* The DLQ file's lines: every one must parse (one JSON object each). */
static void read_file_dlq(const char *path)
{
    n_letters = 0;
    FILE *f = fopen(path, "r");
    if (!f)
        fail_msg("DLQ file %s: not there", path);
    char line[4096];
    while (fgets(line, sizeof line, f)) {
        json_error_t e;
        json_t *o = json_loads(line, 0, &e);
        if (!o)
            fail_msg("DLQ line does not parse (%s): %s", e.text, line);
        struct letter *l = new_letter();
        const char *reason = NULL, *op = NULL, *value = NULL;
        json_t *topic = NULL, *part = NULL, *off = NULL, *hdrs = NULL;
        if (json_unpack_ex(o, &e, 0, "{s:s, s:s, s:o, s:o, s:o, s:s, s:o}", "reason", &reason,
                           "operator", &op, "topic", &topic, "partition", &part, "offset", &off,
                           "value", &value, "headers", &hdrs) < 0)
            fail_msg("DLQ line lacks a member (%s): %s", e.text, line);
        snprintf(l->reason, sizeof l->reason, "%s", reason);
        snprintf(l->op, sizeof l->op, "%s", op);
        snprintf(l->topic, sizeof l->topic, "%s",
                 json_is_string(topic) ? json_string_value(topic) : "");
        l->part = json_is_integer(part) ? (int32_t)json_integer_value(part) : -1;
        l->off = json_is_integer(off) ? json_integer_value(off) : -1;
        l->len = unbase64(value, l->value, sizeof l->value);
        size_t i;
        json_t *h;
        json_array_foreach(hdrs, i, h)
        {
            const char *name = json_string_value(json_object_get(h, "name"));
            const char *v = json_string_value(json_object_get(h, "value"));
            if (name && v && !strcmp(name, "trace")) {
                unsigned char t[32];
                size_t n = unbase64(v, t, sizeof t - 1);
                snprintf(l->trace, sizeof l->trace, "%.*s", (int)n, (const char *)t);
            }
        }
        json_decref(o);
    }
    fclose(f);
}

/* Every bad record of pr is in the letters (at least once; exactly once when once) with its
 * bytes, its own header, the source's topic, partition and offset, operator op and a reason
 * containing why; nothing else is. */
static void assert_letters(const struct produced *pr, const char *topic, const char *op,
                           const char *why, bool once)
{
    for (size_t j = 0; j < n_letters; j++) {
        const struct letter *l = &letters[j];
        bool known = false;
        for (int i = 0; i < pr->n_bad && !known; i++)
            known = pr->bad[i].part == l->part && pr->bad[i].off == l->off;
        if (!known)
            fail_msg("dead letter of partition %d offset %lld was not a bad record", (int)l->part,
                     (long long)l->off);
    }
    for (int i = 0; i < pr->n_bad; i++) {
        int seen = 0;
        for (size_t j = 0; j < n_letters; j++) {
            const struct letter *l = &letters[j];
            if (l->part != pr->bad[i].part || l->off != pr->bad[i].off)
                continue;
            seen++;
            if (strcmp(l->topic, topic) || strcmp(l->op, op) || !strstr(l->reason, why) ||
                strcmp(l->trace, pr->bad[i].trace) || l->len != pr->bad[i].len ||
                memcmp(l->value, pr->bad[i].value, l->len))
                fail_msg("dead letter of partition %d offset %lld: topic \"%s\" operator \"%s\" "
                         "reason \"%s\" trace \"%s\", %zu bytes: not the record's (want "
                         "operator \"%s\", a reason with \"%s\", trace \"%s\", %zu bytes)",
                         (int)l->part, (long long)l->off, l->topic, l->op, l->reason, l->trace,
                         l->len, op, why, pr->bad[i].trace, pr->bad[i].len);
        }
        if (seen == 0 || (once && seen != 1))
            fail_msg("bad record of partition %d offset %lld is in the DLQ %d times",
                     (int)pr->bad[i].part, (long long)pr->bad[i].off, seen);
    }
}

/* --- kafka-count into a Kafka DLQ and a file DLQ ----------------------------------------- */

static struct produced pr;

static void kafka_count_json_bad_records_go_to_the_kafka_dlq(void **st)
{
    (void)st;
    char topic[256], dlq[256], d_type[64], d_topic[300], d_boot[300];
    wt_kafka_topic("dlqin", 2, topic, sizeof topic);
    wt_kafka_topic("dlq", 1, dlq, sizeof dlq);
    produce(topic, 2, 200, 7, true, &pr);
    snprintf(d_type, sizeof d_type, "weir.dlq.type=kafka");
    snprintf(d_topic, sizeof d_topic, "weir.dlq.topic=%s", dlq);
    snprintf(d_boot, sizeof d_boot, "weir.dlq.bootstrap-servers=%s", wt_kafka_bootstrap());
    const char *dir = wt_tmp_dir("dlq-kafka");
    char out[1024], log[1024];
    snprintf(out, sizeof out, "%s/out", dir);
    snprintf(log, sizeof log, "%s/run.log", dir);
    run_ok(topic, out, (const char *const[]){d_type, d_topic, d_boot, NULL},
           (const char *const[]){"--format", "json", NULL}, log);
    assert_int_equal(counted(out), pr.good);
    read_kafka_dlq(dlq);
    assert_int_equal(n_letters, pr.n_bad);
    assert_letters(&pr, topic, "kafka", "JSON: ", true);
}

static void kafka_count_csv_bad_records_go_to_the_file_dlq(void **st)
{
    (void)st;
    char topic[256], d_path[1100];
    wt_kafka_topic("dlqcsv", 2, topic, sizeof topic);
    produce(topic, 2, 200, 5, false, &pr);
    const char *dir = wt_tmp_dir("dlq-file");
    char out[1024], log[1024], path[1024];
    snprintf(out, sizeof out, "%s/out", dir);
    snprintf(log, sizeof log, "%s/run.log", dir);
    snprintf(path, sizeof path, "%s/dlq.jsonl", dir);
    snprintf(d_path, sizeof d_path, "weir.dlq.path=%s", path);
    run_ok(topic, out, (const char *const[]){"weir.dlq.type=file", d_path, NULL},
           (const char *const[]){"--format", "csv", "--csv-fields", "2", NULL}, log);
    assert_int_equal(counted(out), pr.good);
    read_file_dlq(path);
    assert_int_equal(n_letters, pr.n_bad);
    assert_letters(&pr, topic, "kafka", "CSV: ", true);
}

/* --- weir_ctx_reject from a user function -------------------------------------------------- */

/* Rejects every value that is not a number; emits the rest. */
static int reject_words(weir_ctx *ctx, const weir_rec *in, weir_emit *out)
{
    size_t n;
    const char *v = weir_kafka_value(weir_kafka_rec_of(in), &n);
    if (n == 0 || v[0] < '0' || v[0] > '9')
        return weir_ctx_reject(ctx, in, "not a number");
    return weir_emit_forward(out, in);
}

static uint64_t value_key(const weir_rec *r)
{
    return (uint64_t)weir_kafka_rec_of(r)->offset;
}

static const char *const quick[] = {"restart-strategy.type=none",
                                    "pipeline.auto-watermark-interval=50ms", NULL};

/* source -> key_by (the record crosses a channel) -> flat_map that rejects -> collector */
static int run_rejecting(const char *topic, const char *const *defs, char *err, size_t errlen)
{
    wt_collect_reset();
    weir_job *job = weir_job_new("dlq-reject");
    struct weir_kafka_source_opts o = {
        .bootstrap = wt_kafka_bootstrap(), .topic = topic, .bounded = true};
    weir_stream *s = weir_source_kafka(job, "src", &o);
    wt_collect(weir_flat_map(weir_key_by(s, value_key), "check", reject_words), "out", 0);
    const char *all[16];
    size_t n = 0;
    for (size_t i = 0; quick[i]; i++)
        all[n++] = quick[i];
    for (size_t i = 0; defs && defs[i]; i++)
        all[n++] = defs[i];
    all[n] = NULL;
    int rc = wt_run(job, NULL, &(struct wt_run){.parallelism = 2, .defs = all}, NULL, err, errlen);
    weir_job_free(job);
    return rc;
}

static void user_function_rejects_into_the_dlq(void **st)
{
    (void)st;
    char topic[256];
    wt_kafka_topic("dlqfn", 2, topic, sizeof topic);
    /* raw values: "bad" ones are words, from kafka-count's point of view good bytes */
    rd_kafka_t *p = wt_kafka_producer();
    memset(&pr, 0, sizeof pr);
    for (int i = 0; i < 50; i++)
        for (int part = 0; part < 2; part++) {
            char v[32];
            if (i % 4 == 3) {
                typeof(pr.bad[0]) *b = &pr.bad[pr.n_bad++];
                snprintf(b->value, sizeof b->value, "word-%d-%d\xff", part, i);
                b->len = strlen(b->value);
                b->part = part;
                b->off = i;
                snprintf(b->trace, sizeof b->trace, "u-%d-%d", part, i);
                produce_one(p, topic, part, b->value, b->len, 1000 + i, b->trace);
            } else {
                snprintf(v, sizeof v, "%d", i);
                produce_one(p, topic, part, v, strlen(v), 1000 + i, NULL);
                pr.good++;
            }
        }
    wt_kafka_flush(p);
    wt_kafka_producer_free(p);

    const char *dir = wt_tmp_dir("dlq-fn");
    char path[1024], d_path[1100], err[512];
    snprintf(path, sizeof path, "%s/dlq.jsonl", dir);
    snprintf(d_path, sizeof d_path, "weir.dlq.path=%s", path);
    /* without a DLQ the reject fails the job, naming the key that gives it one */
    assert_int_not_equal(run_rejecting(topic, NULL, err, sizeof err), 0);
    if (!strstr(err, "weir.dlq.type") || !strstr(err, "not a number"))
        fail_msg("error \"%s\" names neither weir.dlq.type nor the reason", err);
    /* with one: the rejected records there as the source read them, the rest go on */
    int rc = run_rejecting(topic, (const char *const[]){"weir.dlq.type=file", d_path, NULL}, err,
                           sizeof err);
    if (rc)
        fail_msg("run with a file DLQ failed: %s", err);
    assert_int_equal(wt_collected(0), pr.good);
    read_file_dlq(path);
    assert_int_equal(n_letters, pr.n_bad);
    assert_letters(&pr, topic, "check", "not a number", true);
}

/* Rejects the generator's records of key 3; emits the rest. */
static int reject_key3(weir_ctx *ctx, const weir_rec *in, weir_emit *out)
{
    if (wt_datagen_key(in) == 3)
        return weir_ctx_reject(ctx, in, "key 3");
    return weir_emit_forward(out, in);
}

/* A record that did not come from Kafka goes with its payload bytes and no source
 * position. */
static void rejected_generator_records_keep_their_payload(void **st)
{
    (void)st;
    const char *dir = wt_tmp_dir("dlq-gen");
    char path[1024], d_path[1100];
    snprintf(path, sizeof path, "%s/dlq.jsonl", dir);
    snprintf(d_path, sizeof d_path, "weir.dlq.path=%s", path);
    wt_collect_reset();
    weir_job *job = weir_job_new("dlq-gen");
    struct weir_datagen_opts o = {.records = 1000, .keys = 10, .record_size = 40};
    wt_collect(weir_flat_map(weir_key_by(weir_source_datagen(job, "gen", &o), wt_datagen_key),
                             "check", reject_key3),
               "out", 0);
    wt_run_ok(job, NULL,
              &(struct wt_run){.parallelism = 2,
                               .defs = (const char *const[]){"restart-strategy.type=none",
                                                             "weir.dlq.type=file", d_path, NULL}},
              NULL);
    weir_job_free(job);
    assert_int_equal(wt_collected(0), 900);
    read_file_dlq(path);
    assert_int_equal(n_letters, 100);
    for (size_t i = 0; i < n_letters; i++) {
        const struct letter *l = &letters[i];
        assert_string_equal(l->op, "check");
        assert_string_equal(l->reason, "key 3");
        assert_string_equal(l->topic, "");
        assert_int_equal(l->part, -1);
        assert_int_equal(l->off, -1);
        assert_int_equal(l->len, 40);
        assert_int_equal(((const struct weir_datagen_rec *)(const void *)l->value)->key, 3);
    }
}

/* --- the metric ------------------------------------------------------------------------ */

/* The sum of the series of metric name at url holding `with`, -1 when there are none. */
static double scrape(const char *url, const char *name, const char *with)
{
    char cmd[512], line[2048];
    snprintf(cmd, sizeof cmd, "curl -s --max-time 5 %s", url);
    FILE *f = popen(cmd, "r");
    if (!f)
        return -1;
    double sum = -1;
    size_t nl = strlen(name);
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, name, nl) || line[nl] != '{' || !strstr(line, with))
            continue;
        char *sp = strrchr(line, ' ');
        sum = (sum < 0 ? 0 : sum) + (sp ? atof(sp + 1) : 0);
    }
    pclose(f);
    return sum;
}

/* weir_operator_numRecordsDlq of the source's subtasks adds up to the bad records. */
static void dead_letters_are_counted_per_operator(void **st)
{
    (void)st;
    if (system("command -v curl >/dev/null 2>&1") != 0)
        skip(); /* no curl on PATH */
    char topic[256];
    wt_kafka_topic("dlqm", 2, topic, sizeof topic);
    produce(topic, 2, 100, 4, true, &pr);
    const char *dir = wt_tmp_dir("dlq-metric");
    char out[1024], log[1024], d_path[1100], url[256] = "";
    snprintf(out, sizeof out, "%s/out", dir);
    snprintf(log, sizeof log, "%s/run.log", dir);
    snprintf(d_path, sizeof d_path, "weir.dlq.path=%s/dlq.jsonl", dir);
    const char *argv[] = {weir,
                          "run",
                          "-p",
                          "2",
                          "-D",
                          "metrics.reporter.prom.port=20000-40000",
                          "-D",
                          "weir.progress=never",
                          "-D",
                          "weir.dlq.type=file",
                          "-D",
                          d_path,
                          "kafka-count",
                          "--bootstrap",
                          wt_kafka_bootstrap(),
                          "--topic",
                          topic,
                          "--format",
                          "json",
                          out,
                          NULL};
    pid_t pid = wt_weir_start(argv, log, NULL);
    for (int i = 0; i < 900 && !url[0]; i++) { /* "weir: metrics: URL" */
        usleep(100 * 1000);
        FILE *f = fopen(log, "r");
        char line[512];
        while (f && fgets(line, sizeof line, f))
            if (sscanf(line, "weir: metrics: %255s", url) == 1)
                break;
        if (f)
            fclose(f);
    }
    double got = -1;
    for (int i = 0; i < 450 && url[0] && got != pr.n_bad; i++) {
        got = scrape(url, "weir_operator_numRecordsDlq", "operator_name=\"kafka\"");
        if (got != pr.n_bad)
            usleep(200 * 1000);
    }
    kill(pid, SIGTERM);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!url[0])
        fail_msg("no \"weir: metrics:\" line in %s after 90 s", log);
    if (got != pr.n_bad)
        fail_msg("weir_operator_numRecordsDlq{operator_name=\"kafka\"}: %g after 90 s, %d "
                 "expected",
                 got, pr.n_bad);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* --- a DLQ that cannot be written ---------------------------------------------------------- */

static void expect_failure(const char *topic, const char *const *defs, const char *const *flags,
                           const char *want1, const char *want2)
{
    const char *dir = wt_tmp_dir("dlq-fail");
    char out[1024], log[1024], line[2048];
    snprintf(out, sizeof out, "%s/out", dir);
    snprintf(log, sizeof log, "%s/run.log", dir);
    int status = run_weir(topic, out, defs, flags, false, 0, log);
    if (!WIFEXITED(status) || WEXITSTATUS(status) == 0) {
        show(log);
        fail_msg("kafka-count with an unwritable DLQ: status %d, not a failure", status);
    }
    FILE *f = fopen(log, "r");
    assert_non_null(f);
    bool found = false;
    while (!found && fgets(line, sizeof line, f))
        found = strstr(line, want1) && strstr(line, want2);
    fclose(f);
    if (!found) {
        show(log);
        fail_msg("no line of the failure names both \"%s\" and \"%s\"", want1, want2);
    }
}

static void unwritable_dlq_fails_the_job(void **st)
{
    (void)st;
    char topic[256], d_boot[300];
    wt_kafka_topic("dlqbad", 1, topic, sizeof topic);
    produce(topic, 1, 20, 5, true, &pr);
    const char *json[] = {"--format", "json", NULL};
    /* at start: a path whose directory does not exist, a missing topic, a missing key */
    expect_failure(topic,
                   (const char *const[]){"weir.dlq.type=file",
                                         "weir.dlq.path=/nonexistent-weir-dir/dlq.jsonl", NULL},
                   json, "weir.dlq.path: /nonexistent-weir-dir/dlq.jsonl", "No such file");
    snprintf(d_boot, sizeof d_boot, "weir.dlq.bootstrap-servers=%s", wt_kafka_bootstrap());
    expect_failure(topic,
                   (const char *const[]){"weir.dlq.type=kafka", d_boot,
                                         "weir.dlq.topic=no-such-dlq-topic", NULL},
                   json, "weir.dlq.topic \"no-such-dlq-topic\"", "no such topic");
    expect_failure(topic, (const char *const[]){"weir.dlq.type=kafka", d_boot, NULL}, json,
                   "weir.dlq.type kafka needs", "weir.dlq.topic");
    expect_failure(topic, (const char *const[]){"weir.dlq.type=files", NULL}, json, "weir.dlq.type",
                   "files");
    /* mid-run: a full disk at the first bad record */
    expect_failure(topic,
                   (const char *const[]){"weir.dlq.type=file", "weir.dlq.path=/dev/full", NULL},
                   json, "weir.dlq.path: /dev/full: write: ", "No space left");
}

/* Deletes topic (DeleteTopics), waiting for the broker's answer. */
static void delete_topic(const char *topic)
{
    char e[256];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    if (rd_kafka_conf_set(c, "bootstrap.servers", wt_kafka_bootstrap(), e, sizeof e))
        fail_msg("bootstrap.servers: %s", e);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, e, sizeof e);
    assert_non_null(rk);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_DeleteTopic_t *d = rd_kafka_DeleteTopic_new(topic);
    rd_kafka_DeleteTopics(rk, &d, 1, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, WAIT_MS);
    if (!ev || rd_kafka_event_error(ev))
        fail_msg("DeleteTopics %s: %s", topic, ev ? rd_kafka_event_error_string(ev) : "no answer");
    size_t n;
    const rd_kafka_topic_result_t **r =
        rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(ev), &n);
    if (n != 1 || rd_kafka_topic_result_error(r[0]))
        fail_msg("DeleteTopics %s: %s", topic,
                 n ? rd_kafka_topic_result_error_string(r[0]) : "no result");
    rd_kafka_event_destroy(ev);
    rd_kafka_DeleteTopic_destroy(d);
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
}

/* The DLQ topic deleted while the job runs: the next dead letter is not acknowledged within
 * weir.dlq.timeout, and the job fails (at the next checkpoint's flush) with one line instead
 * of going on without it. */
static void dlq_lost_mid_run_fails_the_job(void **st)
{
    (void)st;
    char topic[256], dlq[256], d_topic[300], d_boot[300], d_ck[1100];
    wt_kafka_topic("dlqgone-in", 1, topic, sizeof topic);
    wt_kafka_topic("dlqgone", 1, dlq, sizeof dlq);
    produce(topic, 1, 10, 5, true, &pr); /* 2 bad records */
    const char *dir = wt_tmp_dir("dlq-gone");
    char out[1024], log[1024], line[2048];
    snprintf(out, sizeof out, "%s/out", dir);
    snprintf(log, sizeof log, "%s/run.log", dir);
    snprintf(d_topic, sizeof d_topic, "weir.dlq.topic=%s", dlq);
    snprintf(d_boot, sizeof d_boot, "weir.dlq.bootstrap-servers=%s", wt_kafka_bootstrap());
    snprintf(d_ck, sizeof d_ck, "state.checkpoints.dir=%s/ck", dir);
    const char *argv[] = {weir,
                          "run",
                          "-D",
                          "metrics.reporter.prom.port=0",
                          "-D",
                          "restart-strategy.type=none",
                          "-D",
                          "weir.progress=never",
                          "-D",
                          "execution.checkpointing.interval=100ms",
                          "-D",
                          d_ck,
                          "-D",
                          "weir.dlq.type=kafka",
                          "-D",
                          d_topic,
                          "-D",
                          d_boot,
                          "-D",
                          "weir.dlq.timeout=2s",
                          "kafka-count",
                          "--bootstrap",
                          wt_kafka_bootstrap(),
                          "--topic",
                          topic,
                          "--format",
                          "json",
                          out,
                          NULL};
    pid_t pid = wt_weir_start(argv, log, NULL);
    /* both dead letters there: the job runs and its DLQ works */
    n_letters = 0;
    for (int i = 0; i < 600 && n_letters < 2; i++) {
        usleep(200 * 1000);
        read_kafka_dlq(dlq);
    }
    if (n_letters < 2) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        fail_msg("%zu dead letters in the DLQ topic after 120 s, 2 expected", n_letters);
    }
    delete_topic(dlq);
    rd_kafka_t *p = wt_kafka_producer();
    produce_one(p, topic, 0, "{\"key\"", 7, 5000, "gone");
    wt_kafka_flush(p);
    wt_kafka_producer_free(p);
    int status = 0;
    pid_t w = 0;
    for (int i = 0; i < 1200 && (w = waitpid(pid, &status, WNOHANG)) == 0; i++)
        usleep(100 * 1000);
    if (w == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        fail_msg("the job still runs 120 s after its DLQ topic was deleted");
    }
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) != 0);
    FILE *f = fopen(log, "r");
    assert_non_null(f);
    bool found = false;
    while (!found && fgets(line, sizeof line, f))
        found = strstr(line, "dead-letter queue: weir.dlq.topic") && strstr(line, dlq) &&
                (strstr(line, "not delivered") || strstr(line, "not acknowledged"));
    fclose(f);
    if (!found) {
        show(log);
        fail_msg("no line names the DLQ topic that could not be written");
    }
}

/* --- kill -9 and restore --------------------------------------------------------------------- */

#define KILLS 4

static void killed_and_resumed_keeps_every_dead_letter(void **st)
{
    (void)st;
    char topic[256], dlq[256], d_topic[300], d_boot[300], d_ck[1100];
    wt_kafka_topic("dlqkill", 4, topic, sizeof topic);
    wt_kafka_topic("dlqk", 1, dlq, sizeof dlq);
#if defined(__SANITIZE_ADDRESS__)
    const int per_part = 20000;
#else
    const int per_part = 100000;
#endif
    produce(topic, 4, per_part, per_part / 1000, true, &pr); /* 4000 bad records */
    snprintf(d_topic, sizeof d_topic, "weir.dlq.topic=%s", dlq);
    snprintf(d_boot, sizeof d_boot, "weir.dlq.bootstrap-servers=%s", wt_kafka_bootstrap());
    const char *dir = wt_tmp_dir("dlq-kill");
    char ref[1024], out[1024], ck[1024], log[1024], a[1024], b[1024], cmd[8400];
    snprintf(ref, sizeof ref, "%s/ref", dir);
    snprintf(out, sizeof out, "%s/out", dir);
    snprintf(ck, sizeof ck, "%s/ck", dir);
    snprintf(d_ck, sizeof d_ck, "state.checkpoints.dir=%s", ck);
    snprintf(log, sizeof log, "%s/run.log", dir);
    snprintf(a, sizeof a, "%s/ref.sorted", dir);
    snprintf(b, sizeof b, "%s/out.sorted", dir);
    const char *json[] = {"--format", "json", NULL};
    /* the reference: no DLQ, bad records dropped */
    run_ok(topic, ref, NULL, (const char *const[]){"--format", "json", "--skip-bad-records", NULL},
           log);
    assert_int_equal(counted(ref), pr.good);
    /* linger.ms 2 s: dead letters wait in the producer that long unless flushed, so a
     * checkpoint that completed without waiting for them would be restored from with them
     * lost (killed before they left), and the DLQ would miss them */
    const char *defs[] = {"weir.dlq.type=kafka",
                          d_topic,
                          d_boot,
                          "weir.dlq.properties=linger.ms=2000",
                          "execution.checkpointing.interval=100ms",
                          d_ck,
                          NULL};
    /* Rounds as in test_kafka_kill: runs killed at random moments and resumed from the latest
     * checkpoint until one finishes, each round from scratch, until KILLS kills landed. */
    uint64_t seed = wt_seed(0x646c71ull);
    int landed = 0, rounds = 0;
    while (landed < KILLS && rounds < 10) {
        rounds++;
        wt_rm_tree(out);
        wt_rm_tree(ck);
        int kills = 0;
        for (int i = 0;; i++) {
            int ms = kills + landed < KILLS ? 150 + (int)(wt_rand(&seed) % 600) : 0;
            int status = run_weir(topic, out, defs, json, i > 0, ms, log);
            if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) {
                kills++;
                continue;
            }
            if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
                break;
            show(log);
            fail_msg("round %d, run %d: status %d", rounds, i + 1, status);
        }
        landed += kills;
        snprintf(cmd, sizeof cmd,
                 "cat %s/part-*.csv | sort > %s; cat %s/part-*.csv | sort > %s; diff %s %s | "
                 "head -n 10 >&2; cmp -s %s %s",
                 ref, a, out, b, a, b, a, b);
        if (system(cmd) != 0)
            fail_msg("round %d: committed output after %d kills differs from the failure-free "
                     "run's",
                     rounds, kills);
    }
    printf("kills landed: %d in %d rounds\n", landed, rounds);
    if (landed < KILLS)
        fail_msg("only %d kills landed in %d rounds: the job is too short for this machine", landed,
                 rounds);
    read_kafka_dlq(dlq);
    printf("dead letters: %zu for %d bad records\n", n_letters, pr.n_bad);
    assert_letters(&pr, topic, "kafka", "JSON: ", false);
}

int main(void)
{
    wt_kafka_bootstrap();
    weir = wt_weir_cmd(); /* exits 77 (skip) without $WEIR */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(kafka_count_json_bad_records_go_to_the_kafka_dlq),
        cmocka_unit_test(kafka_count_csv_bad_records_go_to_the_file_dlq),
        cmocka_unit_test(user_function_rejects_into_the_dlq),
        cmocka_unit_test(rejected_generator_records_keep_their_payload),
        cmocka_unit_test(dead_letters_are_counted_per_operator),
        cmocka_unit_test(unwritable_dlq_fails_the_job),
        cmocka_unit_test(dlq_lost_mid_run_fails_the_job),
        cmocka_unit_test(killed_and_resumed_keeps_every_dead_letter),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
