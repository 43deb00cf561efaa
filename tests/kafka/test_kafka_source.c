/*
 * The Kafka source (weir_source_kafka) against the fixture's real broker: startup modes,
 * the one-line errors for a bad bootstrap and a missing topic, what reaches the operator
 * (key, value, headers, topic, partition, offset, timestamp; CSV and JSON fields), bad
 * records, per-partition watermarks and idleness, partitions != parallelism, and partitions
 * added while the job runs. Every test has topics of its own; skips (77) without a broker.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "weir_test.h"

#include "kafka_fixture.h"

#define WAIT_MS (90 * 1000) /* generous: the machine is loaded */

static const char *const quick[] = {"restart-strategy.type=none",
                                    "pipeline.auto-watermark-interval=50ms", NULL};

static struct weir_kafka_source_opts opts_for(const char *topic)
{
    return (struct weir_kafka_source_opts){.bootstrap = wt_kafka_bootstrap(), .topic = topic};
}

/* Records "<from>" .. "<from + n - 1>" on partition, key "k<i % 5>", timestamp ts0 + i. */
static void produce_seq(const char *topic, int partition, int from, int n, int64_t ts0)
{
    rd_kafka_t *p = wt_kafka_producer();
    for (int i = 0; i < n; i++) {
        char v[32], k[32];
        snprintf(v, sizeof v, "%d", from + i);
        snprintf(k, sizeof k, "k%d", (from + i) % 5);
        wt_kafka_produce(p, topic, partition, k, v, strlen(v), ts0 + i);
    }
    wt_kafka_flush(p);
    wt_kafka_producer_free(p);
}

static long long value_num(const struct wt_out *o)
{
    const struct weir_kafka_rec *k = (const void *)o->data;
    size_t n;
    const char *v = weir_kafka_value(k, &n);
    char buf[32];
    snprintf(buf, sizeof buf, "%.*s", (int)n, v);
    return atoll(buf);
}

/* Runs a bounded source -> collector 0 job and returns how many records arrived. */
static size_t run_bounded(const struct weir_kafka_source_opts *o, int parallelism)
{
    wt_collect_reset();
    weir_job *job = weir_job_new("kafka-bounded");
    struct weir_kafka_source_opts b = *o;
    b.bounded = true;
    wt_collect(weir_source_kafka(job, "src", &b), "out", 0);
    wt_run_ok(job, NULL, &(struct wt_run){.parallelism = parallelism, .defs = quick}, NULL);
    weir_job_free(job);
    return wt_collected(0);
}

/* --- a job in the background ------------------------------------------------------------ */

struct bg {
    weir_job *job;
    int parallelism;
    int rc;
    char err[512];
    pthread_t th;
    _Atomic bool done;
};

static void *bg_main(void *arg)
{
    struct bg *b = arg;
    b->rc = wt_run(b->job, NULL, &(struct wt_run){.parallelism = b->parallelism, .defs = quick},
                   NULL, b->err, sizeof b->err);
    b->done = true;
    return NULL;
}

static void bg_start(struct bg *b)
{
    assert_int_equal(pthread_create(&b->th, NULL, bg_main, b), 0);
}

static void bg_stop(struct bg *b)
{
    weir_job_cancel(b->job);
    pthread_join(b->th, NULL);
    if (b->rc)
        fail_msg("job %s: %s", weir_job_name(b->job), b->err);
    weir_job_free(b->job);
}

static long long ms_since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (t.tv_sec - t0->tv_sec) * 1000LL + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

/* Waits until pred(arg) holds; fails saying what after WAIT_MS. */
static void wait_for(bool (*pred)(void *), void *arg, const char *what)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (!pred(arg)) {
        if (ms_since(&t0) > WAIT_MS)
            fail_msg("waited %d s for %s", WAIT_MS / 1000, what);
        usleep(20 * 1000);
    }
}

static bool collected_at_least(void *arg)
{
    return wt_collected(0) >= (size_t)(uintptr_t)arg;
}

/* --- startup modes ---------------------------------------------------------------------- */

static void startup_earliest_reads_everything(void **st)
{
    char t[256];
    wt_kafka_topic("earliest", 3, t, sizeof t);
    for (int p = 0; p < 3; p++)
        produce_seq(t, p, p * 100, 100, 1000);
    struct weir_kafka_source_opts o = opts_for(t);
    assert_int_equal(run_bounded(&o, 2), 300);
    /* each value once */
    char seen[300] = {0};
    for (size_t i = 0; i < wt_collected(0); i++) {
        long long v = value_num(wt_out(0, i));
        assert_true(v >= 0 && v < 300);
        assert_false(seen[v]);
        seen[v] = 1;
    }
}

static void startup_timestamp_skips_older_records(void **st)
{
    char t[256];
    wt_kafka_topic("timestamp", 2, t, sizeof t);
    produce_seq(t, 0, 0, 100, 1000);   /* ts 1000 .. 1099 */
    produce_seq(t, 1, 100, 100, 2000); /* ts 2000 .. 2099 */
    struct weir_kafka_source_opts o = opts_for(t);
    o.startup_mode = WEIR_KAFKA_STARTUP_TIMESTAMP;
    o.startup_timestamp_ms = 1050;
    assert_int_equal(run_bounded(&o, 1), 50 + 100);
    for (size_t i = 0; i < wt_collected(0); i++)
        assert_true(wt_out(0, i)->ts >= 1050);
    o.startup_timestamp_ms = 5000; /* past every record: from the end */
    assert_int_equal(run_bounded(&o, 1), 0);
}

/* Group commits offset off of partition 0 of topic t. */
static void commit_group(const char *t, const char *group, int64_t off)
{
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    char err[256];
    assert_int_equal(
        rd_kafka_conf_set(c, "bootstrap.servers", wt_kafka_bootstrap(), err, sizeof err),
        RD_KAFKA_CONF_OK);
    assert_int_equal(rd_kafka_conf_set(c, "group.id", group, err, sizeof err), RD_KAFKA_CONF_OK);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof err);
    assert_non_null(rk);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, t, 0)->offset = off;
    assert_int_equal(rd_kafka_commit(rk, l, 0), 0);
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_destroy(rk);
}

static void startup_group_offsets_resume_where_committed(void **st)
{
    char t[256], group[300];
    wt_kafka_topic("group", 2, t, sizeof t);
    snprintf(group, sizeof group, "%s-g", t);
    produce_seq(t, 0, 0, 100, 1000);
    produce_seq(t, 1, 100, 100, 1000);
    /* the group committed 30 on partition 0, nothing on 1 (which starts at its earliest) */
    commit_group(t, group, 30);
    struct weir_kafka_source_opts o = opts_for(t);
    o.startup_mode = WEIR_KAFKA_STARTUP_GROUP;
    o.group_id = group;
    assert_int_equal(run_bounded(&o, 1), 70 + 100);
    for (size_t i = 0; i < wt_collected(0); i++) {
        long long v = value_num(wt_out(0, i));
        assert_true(v >= 30);
    }
}

static bool saw_new(void *arg)
{
    for (size_t i = 0; i < wt_collected(0); i++)
        if (value_num(wt_out(0, i)) >= 1000)
            return true;
    /* keep producing until the job, started at the latest offsets, sees one */
    produce_seq(arg, 0, 1000, 1, 5000);
    usleep(100 * 1000);
    return false;
}

static void startup_latest_reads_only_new_records(void **st)
{
    char t[256];
    wt_kafka_topic("latest", 1, t, sizeof t);
    produce_seq(t, 0, 0, 50, 1000); /* old: values < 1000 */
    wt_collect_reset();
    struct bg b = {.job = weir_job_new("kafka-latest"), .parallelism = 1};
    struct weir_kafka_source_opts o = opts_for(t);
    o.startup_mode = WEIR_KAFKA_STARTUP_LATEST;
    wt_collect(weir_source_kafka(b.job, "src", &o), "out", 0);
    bg_start(&b);
    wait_for(saw_new, t, "a record produced after the start");
    bg_stop(&b);
    for (size_t i = 0; i < wt_collected(0); i++)
        assert_true(value_num(wt_out(0, i)) >= 1000);
}

/* --- errors ------------------------------------------------------------------------------ */

/* Deletes the records of partition 0 of topic t below offset before (DeleteRecords). */
static void delete_records(const char *t, int64_t before)
{
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    char err[256];
    assert_int_equal(
        rd_kafka_conf_set(c, "bootstrap.servers", wt_kafka_bootstrap(), err, sizeof err),
        RD_KAFKA_CONF_OK);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof err);
    assert_non_null(rk);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, t, 0)->offset = before;
    rd_kafka_DeleteRecords_t *d = rd_kafka_DeleteRecords_new(l);
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_DeleteRecords(rk, &d, 1, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, WAIT_MS);
    assert_non_null(ev);
    if (rd_kafka_event_error(ev))
        fail_msg("DeleteRecords %s below %lld: %s", t, (long long)before,
                 rd_kafka_event_error_string(ev));
    const rd_kafka_topic_partition_list_t *r =
        rd_kafka_DeleteRecords_result_offsets(rd_kafka_event_DeleteRecords_result(ev));
    assert_true(r && r->cnt == 1);
    if (r->elems[0].err)
        fail_msg("DeleteRecords %s below %lld: %s", t, (long long)before,
                 rd_kafka_err2str(r->elems[0].err));
    rd_kafka_event_destroy(ev);
    rd_kafka_DeleteRecords_destroy(d);
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
}

static bool bg_done(void *arg)
{
    return ((struct bg *)arg)->done;
}

/* Issue 11: a start offset the broker no longer has (records deleted below it, as retention
 * does to a checkpoint's offset) must fail the job naming it. With auto.offset.reset at its
 * default (latest) the partition jumped to its end and the bounded run never ended. */
static void deleted_start_offset_fails_naming_it(void **st)
{
    char t[256], group[300];
    wt_kafka_topic("deleted", 1, t, sizeof t);
    snprintf(group, sizeof group, "%s-g", t);
    produce_seq(t, 0, 0, 100, 1000);
    commit_group(t, group, 30);
    delete_records(t, 50);
    wt_collect_reset();
    struct bg b = {.job = weir_job_new("kafka-deleted"), .parallelism = 1};
    struct weir_kafka_source_opts o = opts_for(t);
    o.startup_mode = WEIR_KAFKA_STARTUP_GROUP;
    o.group_id = group;
    o.bounded = true;
    wt_collect(weir_source_kafka(b.job, "src", &o), "out", 0);
    bg_start(&b);
    wait_for(bg_done, &b, "the job to end (it stalled at offset 30?)");
    pthread_join(b.th, NULL);
    assert_int_not_equal(b.rc, 0);
    assert_non_null(strstr(b.err, t));
    assert_non_null(strstr(b.err, "offset 30"));
    assert_non_null(strstr(b.err, "no longer in the log"));
    assert_null(strchr(b.err, '\n'));
    assert_int_equal(wt_collected(0), 0);
    weir_job_free(b.job);
}

static void bad_bootstrap_names_the_option(void **st)
{
    weir_job *job = weir_job_new("kafka-bad-bootstrap");
    struct weir_kafka_source_opts o = {.bootstrap = "127.0.0.1:1", .topic = "t", .bounded = true};
    wt_collect(weir_source_kafka(job, "src", &o), "out", 0);
    char err[512];
    assert_int_not_equal(wt_run(job, NULL, &(struct wt_run){.defs = quick}, NULL, err, sizeof err),
                         0);
    assert_non_null(strstr(err, "127.0.0.1:1"));
    assert_non_null(strstr(err, "opts.bootstrap"));
    assert_null(strchr(err, '\n'));
    weir_job_free(job);
}

static void missing_topic_names_the_option(void **st)
{
    weir_job *job = weir_job_new("kafka-missing-topic");
    struct weir_kafka_source_opts o = opts_for("wt-no-such-topic");
    wt_collect(weir_source_kafka(job, "src", &o), "out", 0);
    char err[512];
    assert_int_not_equal(wt_run(job, NULL, &(struct wt_run){.defs = quick}, NULL, err, sizeof err),
                         0);
    assert_non_null(strstr(err, "wt-no-such-topic"));
    assert_non_null(strstr(err, "opts.topic"));
    weir_job_free(job);
}

/* --- what reaches the operator ------------------------------------------------------------ */

static void record_carries_key_value_headers_and_position(void **st)
{
    char t[256];
    wt_kafka_topic("fields", 2, t, sizeof t);
    rd_kafka_t *p = wt_kafka_producer();
    assert_int_equal(rd_kafka_producev(p, RD_KAFKA_V_TOPIC(t), RD_KAFKA_V_PARTITION(1),
                                       RD_KAFKA_V_KEY("the-key", 7), RD_KAFKA_V_VALUE("v1", 2),
                                       RD_KAFKA_V_HEADER("h1", "x", 1),
                                       RD_KAFKA_V_HEADER("trace", "abc", 3),
                                       RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                       RD_KAFKA_V_TIMESTAMP(123456), RD_KAFKA_V_END),
                     0);
    wt_kafka_produce(p, t, 1, NULL, "v2", 2, 123457); /* null key, no headers */
    wt_kafka_flush(p);
    wt_kafka_producer_free(p);
    struct weir_kafka_source_opts o = opts_for(t);
    assert_int_equal(run_bounded(&o, 1), 2);
    const struct weir_kafka_rec *k = (const void *)wt_out(0, 0)->data;
    size_t n;
    const char *s = weir_kafka_topic(k, &n);
    assert_int_equal(n, strlen(t));
    assert_memory_equal(s, t, n);
    assert_int_equal(k->partition, 1);
    assert_int_equal(k->offset, 0);
    assert_int_equal(k->timestamp_ms, 123456);
    assert_int_equal(wt_out(0, 0)->ts, 123456); /* event time: the Kafka timestamp */
    const void *key = weir_kafka_key(k, &n);
    assert_int_equal(n, 7);
    assert_memory_equal(key, "the-key", 7);
    const void *v = weir_kafka_value(k, &n);
    assert_int_equal(n, 2);
    assert_memory_equal(v, "v1", 2);
    assert_int_equal(k->n_headers, 2);
    const char *name;
    size_t nl, vl;
    const void *hv;
    assert_int_equal(weir_kafka_header(k, 1, &name, &nl, &hv, &vl), 0);
    assert_int_equal(nl, 5);
    assert_memory_equal(name, "trace", 5);
    assert_int_equal(vl, 3);
    assert_memory_equal(hv, "abc", 3);
    assert_int_equal(weir_kafka_header(k, 2, &name, &nl, &hv, &vl), -ENOENT);
    k = (const void *)wt_out(0, 1)->data;
    assert_int_equal(k->offset, 1);
    assert_null(weir_kafka_key(k, &n));
    assert_int_equal(k->n_headers, 0);
}

static void produce_values(const char *topic, const char *const *values)
{
    rd_kafka_t *p = wt_kafka_producer();
    for (size_t i = 0; values[i]; i++)
        wt_kafka_produce(p, topic, 0, NULL, values[i], strlen(values[i]), 1000 + (int64_t)i);
    wt_kafka_flush(p);
    wt_kafka_producer_free(p);
}

static void assert_field(const struct wt_out *o, unsigned i, const char *want)
{
    size_t n;
    const char *f = weir_kafka_field((const void *)o->data, i, &n);
    if (!want) {
        assert_null(f);
        return;
    }
    assert_non_null(f);
    char buf[128];
    snprintf(buf, sizeof buf, "%.*s", (int)n, f);
    assert_string_equal(buf, want);
}

static void csv_values_split_into_fields(void **st)
{
    char t[256];
    wt_kafka_topic("csv", 1, t, sizeof t);
    produce_values(t, (const char *const[]){"a,b,c", "\"x,y\",\"say \"\"hi\"\"\",", "1;2", NULL});
    struct weir_kafka_source_opts o = opts_for(t);
    o.format = WEIR_KAFKA_FORMAT_CSV;
    assert_int_equal(run_bounded(&o, 1), 3);
    assert_field(wt_out(0, 0), 0, "a");
    assert_field(wt_out(0, 0), 2, "c");
    assert_field(wt_out(0, 0), 3, NULL);
    assert_field(wt_out(0, 1), 0, "x,y");
    assert_field(wt_out(0, 1), 1, "say \"hi\"");
    assert_field(wt_out(0, 1), 2, "");
    assert_field(wt_out(0, 2), 0, "1;2");
    /* at ';' the quoted field of record 1 is followed by ',': a bad record, skipped */
    o.csv_delimiter = ';';
    o.skip_bad_records = true;
    assert_int_equal(run_bounded(&o, 1), 2);
    assert_field(wt_out(0, 1), 0, "1");
    assert_field(wt_out(0, 1), 1, "2");
}

static void json_values_give_the_named_members(void **st)
{
    char t[256];
    wt_kafka_topic("json", 1, t, sizeof t);
    produce_values(t, (const char *const[]){"{\"id\": 7, \"name\": \"caf\\u00e9\", \"x\": [1,2]}",
                                            "{\"name\": null, \"id\": \"8\", \"x\": {}}", NULL});
    struct weir_kafka_source_opts o = opts_for(t);
    o.format = WEIR_KAFKA_FORMAT_JSON;
    o.fields = (const char *const[]){"id", "name", "x", NULL};
    assert_int_equal(run_bounded(&o, 1), 2);
    assert_field(wt_out(0, 0), 0, "7");
    assert_field(wt_out(0, 0), 1, "caf\xc3\xa9");
    assert_field(wt_out(0, 0), 2, "[1,2]");
    assert_field(wt_out(0, 1), 0, "8");
    assert_field(wt_out(0, 1), 1, NULL);
    assert_field(wt_out(0, 1), 2, "{}");
}

/* A bad record fails the job naming topic, partition and offset; with skip_bad_records the
 * good ones around it are read once each. */
static void bad_record(const char *tag, enum weir_kafka_format fmt, const char *bad,
                       const char *why)
{
    char t[256];
    wt_kafka_topic(tag, 1, t, sizeof t);
    produce_values(t, (const char *const[]){
                          fmt == WEIR_KAFKA_FORMAT_JSON ? "{\"a\":1,\"b\":2}" : "1,2", bad,
                          fmt == WEIR_KAFKA_FORMAT_JSON ? "{\"a\":3,\"b\":4}" : "3,4", NULL});
    struct weir_kafka_source_opts o = opts_for(t);
    o.format = fmt;
    o.fields = (const char *const[]){"a", "b", NULL};
    o.bounded = true;
    weir_job *job = weir_job_new("kafka-bad");
    wt_collect(weir_source_kafka(job, "src", &o), "out", 0);
    char err[512], want[400];
    assert_int_not_equal(wt_run(job, NULL, &(struct wt_run){.defs = quick}, NULL, err, sizeof err),
                         0);
    snprintf(want, sizeof want, "topic %s partition 0 offset 1: ", t);
    if (!strstr(err, want) || !strstr(err, why))
        fail_msg("error \"%s\" lacks \"%s\" or \"%s\"", err, want, why);
    weir_job_free(job);
    o.skip_bad_records = true;
    assert_int_equal(run_bounded(&o, 1), 2);
    assert_int_equal(((const struct weir_kafka_rec *)(const void *)wt_out(0, 1)->data)->offset, 2);
}

static void bad_csv_line_names_its_offset(void **st)
{
    bad_record("badcsv", WEIR_KAFKA_FORMAT_CSV, "only-one-field", "CSV: 1 fields, 2 expected");
}

static void truncated_json_names_its_offset(void **st)
{
    bad_record("badjson", WEIR_KAFKA_FORMAT_JSON, "{\"a\": 1, \"b\"", "JSON: ");
}

static void non_utf8_json_is_a_bad_record(void **st)
{
    bad_record("badutf8", WEIR_KAFKA_FORMAT_JSON, "{\"a\": \"\xff\xfe\", \"b\": 1}", "JSON: ");
}

/* --- per-partition watermarks ------------------------------------------------------------- */

/* The largest watermark collector 0 saw below the end-of-input one. */
static int64_t max_watermark(void)
{
    int64_t wm = INT64_MIN;
    for (size_t i = 0; i < wt_collected(0); i++) {
        const struct wt_out *o = wt_out(0, i);
        if (o->watermark && o->ts != INT64_MAX && o->ts > wm)
            wm = o->ts;
    }
    return wm;
}

struct wm_wait {
    int64_t at_least;
};

static bool watermark_reached(void *arg)
{
    return max_watermark() >= ((struct wm_wait *)arg)->at_least;
}

/* Partition 1 far behind partition 0 holds the subtask's watermark at its own. */
static void slow_partition_holds_the_watermark(void **st)
{
    char t[256];
    wt_kafka_topic("wmhold", 2, t, sizeof t);
    produce_seq(t, 0, 0, 100, 1000000); /* ts 1000000 .. 1000099 */
    produce_seq(t, 1, 100, 100, 1000);  /* ts 1000 .. 1099 */
    wt_collect_reset();
    struct bg b = {.job = weir_job_new("kafka-wm"), .parallelism = 1};
    struct weir_kafka_source_opts o = opts_for(t);
    o.watermarks = true;
    wt_collect_with_watermarks(weir_source_kafka(b.job, "src", &o), "out", 0);
    bg_start(&b);
    wait_for(watermark_reached, &(struct wm_wait){.at_least = 1098}, "watermark 1098");
    /* let a few more watermark intervals pass: it must stay at partition 1's */
    usleep(500 * 1000);
    bg_stop(&b);
    assert_int_equal(max_watermark(), 1099 - 1);
}

/* A partition with no records holds nothing back once idle: the watermark reaches the
 * other partition's. Without idleness it would never move (checked first). */
static void idle_partition_stops_holding_the_watermark(void **st)
{
    char t[256];
    wt_kafka_topic("wmidle", 2, t, sizeof t);
    produce_seq(t, 0, 0, 100, 5000); /* partition 1 stays empty */
    wt_collect_reset();
    struct bg b = {.job = weir_job_new("kafka-idle"), .parallelism = 1};
    struct weir_kafka_source_opts o = opts_for(t);
    o.watermarks = true;
    wt_collect_with_watermarks(weir_source_kafka(b.job, "src", &o), "out", 0);
    bg_start(&b);
    wait_for(collected_at_least, (void *)(uintptr_t)100, "100 records");
    usleep(1000 * 1000);
    bg_stop(&b);
    assert_int_equal(max_watermark(), INT64_MIN); /* held by the empty partition */

    wt_collect_reset();
    b = (struct bg){.job = weir_job_new("kafka-idle"), .parallelism = 1};
    o.idleness_ms = 300;
    wt_collect_with_watermarks(weir_source_kafka(b.job, "src", &o), "out", 0);
    bg_start(&b);
    wait_for(watermark_reached, &(struct wm_wait){.at_least = 5098}, "watermark 5098");
    bg_stop(&b);
}

/* --- partitions != parallelism ------------------------------------------------------------ */

static uint64_t value_key(const weir_rec *r)
{
    const struct weir_kafka_rec *k = weir_kafka_rec_of(r);
    size_t n;
    const char *v = weir_kafka_value(k, &n);
    char buf[32];
    snprintf(buf, sizeof buf, "%.*s", (int)n, v);
    return (uint64_t)atoll(buf) % 7;
}

static int pass(weir_ctx *ctx, const weir_rec *in, weir_emit *out)
{
    return weir_emit_forward(out, in);
}

/* 3 partitions at parallelism p: windows of [0, 1000) fire while the job runs, so every
 * source subtask's watermark (or idleness, for the one with no partition at p = 4) reaches
 * the window operators, through a map chained to the source (idleness goes past the chain
 * to the subtask's outputs). */
static void windows_fire(int parallelism)
{
    char t[256];
    wt_kafka_topic("windows", 3, t, sizeof t);
    for (int p = 0; p < 3; p++) {
        produce_seq(t, p, p * 1000, 100, 1);         /* window [0, 1000): ts 1 .. 100 */
        produce_seq(t, p, p * 1000 + 100, 10, 3000); /* moves every partition past it */
    }
    wt_collect_reset();
    struct bg b = {.job = weir_job_new("kafka-windows"), .parallelism = parallelism};
    struct weir_kafka_source_opts o = opts_for(t);
    o.watermarks = true;
    weir_stream *s = weir_map(weir_source_kafka(b.job, "src", &o), "pass", pass);
    wt_collect(weir_window_aggregate(weir_key_by(s, value_key), "count", weir_tumbling(1000),
                                     &weir_agg_count, NULL, NULL),
               "out", 0);
    bg_start(&b);
    wait_for(collected_at_least, (void *)(uintptr_t)7, "the 7 counts of window [0, 1000)");
    bg_stop(&b);
    int64_t total = 0;
    for (size_t i = 0; i < wt_collected(0); i++) {
        const struct weir_window_result *w = (const void *)wt_out(0, i)->data;
        if (w->start == 0)
            total += weir_result_i64(w->result);
    }
    assert_int_equal(total, 300);
}

static void three_partitions_at_p2(void **st)
{
    windows_fire(2);
}

static void three_partitions_at_p4_one_subtask_idle(void **st)
{
    windows_fire(4);
}

/* --- partition discovery ------------------------------------------------------------------ */

static bool saw_value(void *arg)
{
    long long want = (long long)(uintptr_t)arg;
    for (size_t i = 0; i < wt_collected(0); i++)
        if (value_num(wt_out(0, i)) == want)
            return true;
    return false;
}

static void partition_added_while_running_is_read(void **st)
{
    char t[256];
    wt_kafka_topic("discover", 1, t, sizeof t);
    produce_seq(t, 0, 0, 10, 1000);
    wt_collect_reset();
    struct bg b = {.job = weir_job_new("kafka-discover"), .parallelism = 2};
    struct weir_kafka_source_opts o = opts_for(t);
    o.discovery_interval_ms = 200;
    wt_collect(weir_source_kafka(b.job, "src", &o), "out", 0);
    bg_start(&b);
    wait_for(collected_at_least, (void *)(uintptr_t)10, "the first 10 records");
    wt_kafka_add_partitions(t, 3);
    produce_seq(t, 1, 500, 1, 1000);
    produce_seq(t, 2, 700, 1, 1000); /* produced before the source found it: from earliest */
    wait_for(saw_value, (void *)(uintptr_t)500, "the record on partition 1");
    wait_for(saw_value, (void *)(uintptr_t)700, "the record on partition 2");
    bg_stop(&b);
    assert_int_equal(wt_collected(0), 12);
}

int main(void)
{
    printf("broker: %s\n", wt_kafka_bootstrap());
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(startup_earliest_reads_everything),
        cmocka_unit_test(startup_timestamp_skips_older_records),
        cmocka_unit_test(startup_group_offsets_resume_where_committed),
        cmocka_unit_test(startup_latest_reads_only_new_records),
        cmocka_unit_test(bad_bootstrap_names_the_option),
        cmocka_unit_test(deleted_start_offset_fails_naming_it),
        cmocka_unit_test(missing_topic_names_the_option),
        cmocka_unit_test(record_carries_key_value_headers_and_position),
        cmocka_unit_test(csv_values_split_into_fields),
        cmocka_unit_test(json_values_give_the_named_members),
        cmocka_unit_test(bad_csv_line_names_its_offset),
        cmocka_unit_test(truncated_json_names_its_offset),
        cmocka_unit_test(non_utf8_json_is_a_bad_record),
        cmocka_unit_test(slow_partition_holds_the_watermark),
        cmocka_unit_test(idle_partition_stops_holding_the_watermark),
        cmocka_unit_test(three_partitions_at_p2),
        cmocka_unit_test(three_partitions_at_p4_one_subtask_idle),
        cmocka_unit_test(partition_added_while_running_is_read),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
