/*
 * The Kafka sink against librdkafka's mock cluster (in process, no broker): every record
 * reaches the topic under each delivery guarantee, with and without checkpoints, at
 * parallelism 2, with the key and value the job chose; bad options fail with one line. The
 * mock cluster does not hide aborted transactions, so what exactly-once promises across
 * crashes is tested against a real broker (test_kafka_sink_kill.sh); here exactly-once
 * is checked for committing every transaction it opened, each record once.
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <weir/config.h>
#include <weir/kafka.h>
#include <weir/weir.h>

#include "weir_test.h"

#define N     20000
#define PARTS 3

static rd_kafka_t *mock_rk;
static rd_kafka_mock_cluster_t *mock;
static char bootstrap[512];
static int topic_no;

static int setup(void **st)
{
    char errstr[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "0", NULL, 0);
    mock_rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!mock_rk)
        fail_msg("rd_kafka_new: %s", errstr);
    mock = rd_kafka_mock_cluster_new(mock_rk, 1);
    if (!mock)
        fail_msg("rd_kafka_mock_cluster_new failed");
    snprintf(bootstrap, sizeof bootstrap, "%s", rd_kafka_mock_cluster_bootstraps(mock));
    return 0;
}

static int teardown(void **st)
{
    rd_kafka_mock_cluster_destroy(mock);
    rd_kafka_destroy(mock_rk);
    return 0;
}

/* A new topic of PARTS partitions; its name lives until the next call. */
static const char *new_topic(void)
{
    static char name[64];
    snprintf(name, sizeof name, "sink-%d", ++topic_no);
    if (rd_kafka_mock_topic_create(mock, name, PARTS, 1) != 0)
        fail_msg("mock topic %s", name);
    return name;
}

/* Reads every partition of topic to its end: counts[seq] += 1 for each "seq,key,value"
 * value whose key is the decimal key; returns the messages read. */
static size_t read_topic(const char *topic, unsigned char *counts, size_t n)
{
    char errstr[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    const char *kv[][2] = {{"bootstrap.servers", bootstrap},
                           {"group.id", "t"},
                           {"enable.partition.eof", "true"},
                           {"auto.offset.reset", "earliest"},
                           {"isolation.level", "read_committed"}};
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++)
        assert_int_equal(rd_kafka_conf_set(conf, kv[i][0], kv[i][1], errstr, sizeof errstr), 0);
    rd_kafka_t *c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    assert_non_null(c);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(PARTS);
    for (int p = 0; p < PARTS; p++)
        rd_kafka_topic_partition_list_add(l, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    assert_int_equal(rd_kafka_assign(c, l), 0);
    rd_kafka_topic_partition_list_destroy(l);
    size_t got = 0;
    int eofs = 0;
    for (int idle = 0; eofs < PARTS && idle < 60;) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 1000);
        if (!m) {
            idle++;
            continue;
        }
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            eofs++;
        } else if (m->err) {
            fail_msg("consume: %s", rd_kafka_message_errstr(m));
        } else {
            char v[128], k[32];
            unsigned long long seq, key, val, kk;
            snprintf(v, sizeof v, "%.*s", (int)m->len, (const char *)m->payload);
            snprintf(k, sizeof k, "%.*s", (int)m->key_len, (const char *)m->key);
            if (sscanf(v, "%llu,%llu,%llu", &seq, &key, &val) != 3 || sscanf(k, "%llu", &kk) != 1 ||
                kk != key || seq >= n)
                fail_msg("unexpected message key \"%s\" value \"%s\"", k, v);
            if (counts[seq] < 255)
                counts[seq]++;
            got++;
        }
        rd_kafka_message_destroy(m);
    }
    assert_int_equal(eofs, PARTS);
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    return got;
}

static int datagen_msg(weir_ctx *ctx, const weir_rec *in, struct weir_kafka_msg *m, void *arg)
{
    static _Thread_local char v[96], k[24];
    const struct weir_datagen_rec *r = (const void *)in->data;
    int vl = weir_format_datagen(in, v, sizeof v);
    int kl = snprintf(k, sizeof k, "%llu", (unsigned long long)r->key);
    *m = (struct weir_kafka_msg){.key = k,
                                 .key_len = (size_t)kl,
                                 .value = v,
                                 .value_len = (size_t)vl,
                                 .partition = WEIR_KAFKA_PARTITION_ANY};
    return 0;
}

/* datagen (N records) -> key_by -> Kafka sink at parallelism 2; returns weir_job_run's
 * result and the run's stats. */
static int run_sink(const char *topic, enum weir_kafka_delivery g, const char *interval,
                    const char *const *props, struct weir_run_stats *st, char *err, size_t errlen)
{
    char dir[1024], iv[128];
    snprintf(dir, sizeof dir, "state.checkpoints.dir=%s", wt_tmp_dir("ck"));
    snprintf(iv, sizeof iv, "execution.checkpointing.interval=%s", interval ? interval : "0");
    weir_job *job = weir_job_new("kafka-sink");
    struct weir_datagen_opts o = {.records = N, .keys = 100, .record_size = 24, .rate = 100000};
    struct weir_kafka_sink_opts k = {.bootstrap = bootstrap,
                                     .topic = topic,
                                     .serialize = datagen_msg,
                                     .delivery_guarantee = g,
                                     .transactional_id_prefix = topic,
                                     .properties = props};
    weir_sink_kafka(weir_key_by(weir_source_datagen(job, "gen", &o), wt_datagen_key), "kafka", &k);
    int rc = wt_run(job, NULL, &(struct wt_run){.parallelism = 2, .defs = WT_DEFS(dir, iv)}, st,
                    err, errlen);
    weir_job_free(job);
    return rc;
}

static void every_record_once(enum weir_kafka_delivery g, const char *interval)
{
    const char *topic = new_topic();
    struct weir_run_stats st;
    char err[512] = "";
    int rc = run_sink(topic, g, interval, NULL, &st, err, sizeof err);
    if (rc != 0)
        fail_msg("run: %s", err);
    if (interval)
        assert_true(st.checkpoints_completed >= 1);
    unsigned char *counts = calloc(N, 1);
    assert_int_equal(read_topic(topic, counts, N), N);
    for (size_t i = 0; i < N; i++)
        if (counts[i] != 1)
            fail_msg("seq %zu read %d times", i, counts[i]);
    free(counts);
}

static void none_delivers_every_record(void **st)
{
    every_record_once(WEIR_KAFKA_NONE, NULL);
}

static void none_with_checkpoints_delivers_every_record(void **st)
{
    every_record_once(WEIR_KAFKA_NONE, "30ms");
}

static void at_least_once_with_checkpoints_delivers_every_record(void **st)
{
    every_record_once(WEIR_KAFKA_AT_LEAST_ONCE, "30ms");
}

static void exactly_once_without_checkpoints_commits_at_end(void **st)
{
    every_record_once(WEIR_KAFKA_EXACTLY_ONCE, NULL);
}

static void exactly_once_with_checkpoints_commits_every_record_once(void **st)
{
    every_record_once(WEIR_KAFKA_EXACTLY_ONCE, "30ms");
}

static void bad_property_names_it(void **st)
{
    char err[512] = "";
    static const char *const props[] = {"properties.no.such.property", "1", NULL};
    int rc = run_sink(new_topic(), WEIR_KAFKA_AT_LEAST_ONCE, NULL, props, NULL, err, sizeof err);
    assert_true(rc < 0);
    if (!strstr(err, "no.such.property") || strchr(err, '\n'))
        fail_msg("error does not name the property on one line: %s", err);
}

static void delivery_guarantee_parses_flink_names(void **st)
{
    enum weir_kafka_delivery g;
    assert_int_equal(weir_kafka_delivery_parse("exactly-once", &g), 0);
    assert_int_equal(g, WEIR_KAFKA_EXACTLY_ONCE);
    assert_int_equal(weir_kafka_delivery_parse("AT_LEAST_ONCE", &g), 0);
    assert_int_equal(g, WEIR_KAFKA_AT_LEAST_ONCE);
    assert_int_equal(weir_kafka_delivery_parse("none", &g), 0);
    assert_int_equal(g, WEIR_KAFKA_NONE);
    assert_int_equal(weir_kafka_delivery_parse("twice", &g), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(none_delivers_every_record),
        cmocka_unit_test(none_with_checkpoints_delivers_every_record),
        cmocka_unit_test(at_least_once_with_checkpoints_delivers_every_record),
        cmocka_unit_test(exactly_once_without_checkpoints_commits_at_end),
        cmocka_unit_test(exactly_once_with_checkpoints_commits_every_record_once),
        cmocka_unit_test(bad_property_names_it),
        cmocka_unit_test(delivery_guarantee_parses_flink_names),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
