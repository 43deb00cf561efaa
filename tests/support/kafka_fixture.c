/*
 * The Kafka tests' broker, topics, producer and reader (kafka_fixture.h), on librdkafka: the
 * admin API creates topics and partitions, a plain consumer with manual assignment reads a
 * topic back to its end (partition EOF events say where the end is).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "weir_test.h"

#include "kafka_fixture.h"

static char bootstrap[256];

const char *wt_kafka_bootstrap(void)
{
    if (bootstrap[0])
        return bootstrap;
    wt_fixture_env("WEIR_KAFKA_STATE", "kafka", "tools/kafka.sh");
    const char *b = getenv("WEIR_KAFKA_BOOTSTRAP");
    if (!b || !*b) {
        printf("%s/env: no WEIR_KAFKA_BOOTSTRAP in it\n", getenv("WEIR_KAFKA_STATE"));
        exit(1);
    }
    snprintf(bootstrap, sizeof bootstrap, "%s", b);
    return bootstrap;
}

static void set(rd_kafka_conf_t *c, const char *k, const char *v)
{
    char err[256];
    if (rd_kafka_conf_set(c, k, v, err, sizeof err) != RD_KAFKA_CONF_OK)
        fail_msg("librdkafka %s=%s: %s", k, v, err);
}

static rd_kafka_t *handle(rd_kafka_type_t type, rd_kafka_conf_t *c)
{
    char err[512];
    set(c, "bootstrap.servers", wt_kafka_bootstrap());
    rd_kafka_t *rk = rd_kafka_new(type, c, err, sizeof err);
    if (!rk) {
        rd_kafka_conf_destroy(c);
        fail_msg("rd_kafka_new: %s", err);
    }
    return rk;
}

/* Waits until metadata lists topic with partitions partitions, each with a leader. */
static void await_partitions(rd_kafka_t *rk, const char *topic, int partitions)
{
    rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topic, NULL);
    const char *why = "no answer";
    for (int i = 0; i < 600; i++) { /* 60 s */
        const struct rd_kafka_metadata *md;
        rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, t, &md, 5000);
        if (e) {
            why = rd_kafka_err2str(e);
        } else {
            int ok = md->topic_cnt == 1 && !md->topics[0].err &&
                     md->topics[0].partition_cnt == partitions;
            for (int p = 0; ok && p < md->topics[0].partition_cnt; p++)
                ok = md->topics[0].partitions[p].leader >= 0;
            why = md->topic_cnt == 1 && md->topics[0].err ? rd_kafka_err2str(md->topics[0].err)
                                                          : "partitions not all there";
            rd_kafka_metadata_destroy(md);
            if (ok) {
                rd_kafka_topic_destroy(t);
                return;
            }
        }
        usleep(100 * 1000);
    }
    rd_kafka_topic_destroy(t);
    fail_msg("topic %s: %d partitions not ready after 60 s: %s", topic, partitions, why);
}

/* Runs one admin request already sent on q and returns its result event, or fails. */
static rd_kafka_event_t *admin_result(rd_kafka_queue_t *q, const char *what)
{
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 60 * 1000);
    if (!ev)
        fail_msg("%s: no answer from the broker in 60 s", what);
    if (rd_kafka_event_error(ev)) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", rd_kafka_event_error_string(ev));
        rd_kafka_event_destroy(ev);
        fail_msg("%s: %s", what, msg);
    }
    return ev;
}

static void check_topic_results(rd_kafka_event_t *ev, const rd_kafka_topic_result_t **r, size_t n,
                                const char *what)
{
    for (size_t i = 0; i < n; i++) {
        if (rd_kafka_topic_result_error(r[i])) {
            char msg[512];
            snprintf(msg, sizeof msg, "%s %s: %s", what, rd_kafka_topic_result_name(r[i]),
                     rd_kafka_topic_result_error_string(r[i]));
            rd_kafka_event_destroy(ev);
            fail_msg("%s", msg);
        }
    }
}

void wt_kafka_topic(const char *tag, int partitions, char *name, size_t name_len)
{
    static unsigned n;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(name, name_len, "wt-%s-%ld-%u-%lx", tag, (long)getpid(), n++,
             (unsigned long)(ts.tv_nsec ^ ts.tv_sec) & 0xffffff);
    rd_kafka_t *rk = handle(RD_KAFKA_PRODUCER, rd_kafka_conf_new());
    char err[512];
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(name, partitions, 1, err, sizeof err);
    if (!nt)
        fail_msg("rd_kafka_NewTopic_new %s: %s", name, err);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *o = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_operation_timeout(o, 30 * 1000, err, sizeof err);
    rd_kafka_CreateTopics(rk, &nt, 1, o, q);
    rd_kafka_event_t *ev = admin_result(q, "CreateTopics");
    size_t cnt;
    const rd_kafka_topic_result_t **r =
        rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &cnt);
    check_topic_results(ev, r, cnt, "CreateTopics");
    rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_NewTopic_destroy(nt);
    rd_kafka_queue_destroy(q);
    await_partitions(rk, name, partitions);
    rd_kafka_destroy(rk);
}

void wt_kafka_add_partitions(const char *topic, int total)
{
    rd_kafka_t *rk = handle(RD_KAFKA_PRODUCER, rd_kafka_conf_new());
    char err[512];
    rd_kafka_NewPartitions_t *np = rd_kafka_NewPartitions_new(topic, total, err, sizeof err);
    if (!np)
        fail_msg("rd_kafka_NewPartitions_new %s: %s", topic, err);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *o = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATEPARTITIONS);
    rd_kafka_AdminOptions_set_operation_timeout(o, 30 * 1000, err, sizeof err);
    rd_kafka_CreatePartitions(rk, &np, 1, o, q);
    rd_kafka_event_t *ev = admin_result(q, "CreatePartitions");
    size_t cnt;
    const rd_kafka_topic_result_t **r =
        rd_kafka_CreatePartitions_result_topics(rd_kafka_event_CreatePartitions_result(ev), &cnt);
    check_topic_results(ev, r, cnt, "CreatePartitions");
    rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_NewPartitions_destroy(np);
    rd_kafka_queue_destroy(q);
    await_partitions(rk, topic, total);
    rd_kafka_destroy(rk);
}

/* Delivery failures of the producers of this process (the callback runs in the thread that
 * polls or flushes, the test's). */
static unsigned delivery_errors;
static char delivery_error[256];

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    if (m->err) {
        delivery_errors++;
        snprintf(delivery_error, sizeof delivery_error, "%s [%d]: %s",
                 m->rkt ? rd_kafka_topic_name(m->rkt) : "?", (int)m->partition,
                 rd_kafka_err2str(m->err));
    }
}

rd_kafka_t *wt_kafka_producer(void)
{
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    set(c, "enable.idempotence", "true");
    set(c, "linger.ms", "5");
    rd_kafka_conf_set_dr_msg_cb(c, on_delivery);
    return handle(RD_KAFKA_PRODUCER, c);
}

rd_kafka_t *wt_kafka_txn_producer(const char *id)
{
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    set(c, "transactional.id", id);
    set(c, "linger.ms", "5");
    rd_kafka_conf_set_dr_msg_cb(c, on_delivery);
    rd_kafka_t *p = handle(RD_KAFKA_PRODUCER, c);
    rd_kafka_error_t *e = rd_kafka_init_transactions(p, 60 * 1000);
    if (e)
        fail_msg("init_transactions %s: %s", id, rd_kafka_error_string(e));
    return p;
}

void wt_kafka_produce(rd_kafka_t *p, const char *topic, int32_t partition, const char *key,
                      const void *value, size_t value_len, int64_t ts_ms)
{
    for (;;) {
        rd_kafka_resp_err_t e = rd_kafka_producev(
            p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
            RD_KAFKA_V_KEY(key, key ? strlen(key) : 0), RD_KAFKA_V_VALUE((void *)value, value_len),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_TIMESTAMP(ts_ms), RD_KAFKA_V_END);
        if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            rd_kafka_poll(p, 100);
            continue;
        }
        if (e)
            fail_msg("produce to %s [%d]: %s", topic, (int)partition, rd_kafka_err2str(e));
        rd_kafka_poll(p, 0);
        return;
    }
}

void wt_kafka_flush(rd_kafka_t *p)
{
    rd_kafka_resp_err_t e = rd_kafka_flush(p, 60 * 1000);
    if (e)
        fail_msg("flush: %s (%d records still queued after 60 s)", rd_kafka_err2str(e),
                 rd_kafka_outq_len(p));
    if (delivery_errors)
        fail_msg("%u records not delivered, the last: %s", delivery_errors, delivery_error);
}

void wt_kafka_producer_free(rd_kafka_t *p)
{
    rd_kafka_flush(p, 10 * 1000);
    rd_kafka_destroy(p);
}

size_t wt_kafka_read(const char *topic, int committed, int timeout_ms,
                     void (*fn)(const rd_kafka_message_t *m, void *arg), void *arg)
{
    static unsigned n;
    char group[128];
    snprintf(group, sizeof group, "wt-reader-%ld-%u", (long)getpid(), n++);
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    set(c, "group.id", group);
    set(c, "enable.auto.commit", "false");
    set(c, "enable.partition.eof", "true");
    set(c, "isolation.level", committed ? "read_committed" : "read_uncommitted");
    rd_kafka_t *rk = handle(RD_KAFKA_CONSUMER, c);

    const struct rd_kafka_metadata *md;
    rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topic, NULL);
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, t, &md, 10 * 1000);
    rd_kafka_topic_destroy(t);
    if (e || md->topic_cnt != 1 || md->topics[0].err)
        fail_msg("metadata of %s: %s", topic,
                 rd_kafka_err2str(e               ? e
                                  : md->topic_cnt ? md->topics[0].err
                                                  : e));
    int parts = md->topics[0].partition_cnt;
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(parts);
    for (int p = 0; p < parts; p++)
        rd_kafka_topic_partition_list_add(l, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    if ((e = rd_kafka_assign(rk, l)))
        fail_msg("assign %s: %s", topic, rd_kafka_err2str(e));
    rd_kafka_topic_partition_list_destroy(l);

    char *eof = calloc((size_t)parts, 1);
    int at_end = 0;
    size_t read = 0;
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (at_end < parts) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        long ms = (now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000;
        if (ms > timeout_ms) {
            free(eof);
            rd_kafka_destroy(rk);
            fail_msg("read %s: %d of %d partitions at their end after %d ms (%zu records)", topic,
                     at_end, parts, timeout_ms, read);
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
        if (!m)
            continue;
        int p = m->partition;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            if (p >= 0 && p < parts && !eof[p]) {
                eof[p] = 1;
                at_end++;
            }
        } else if (m->err) {
            char msg[256];
            snprintf(msg, sizeof msg, "%s", rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            free(eof);
            rd_kafka_destroy(rk);
            fail_msg("read %s: %s", topic, msg);
        } else {
            if (p >= 0 && p < parts && eof[p]) {
                eof[p] = 0;
                at_end--;
            }
            read++;
            if (fn)
                fn(m, arg);
        }
        rd_kafka_message_destroy(m);
    }
    free(eof);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return read;
}

void wt_kafka_fill_counts(const char *topic, int partitions, int per_part, int keys,
                          int64_t span_ms)
{
    rd_kafka_t *p = wt_kafka_producer();
    for (int i = 0; i < per_part; i++)
        for (int part = 0; part < partitions; part++) {
            char v[16];
            snprintf(v, sizeof v, "%d", (i * 7 + part) % keys);
            wt_kafka_produce(p, topic, part, NULL, v, strlen(v),
                             1000 + (int64_t)i * span_ms / per_part);
        }
    wt_kafka_flush(p);
    wt_kafka_producer_free(p);
}
