/*
 * Nexmark over Kafka (weir bench nexmark --kafka BOOTSTRAP), as the Nexmark Flink benchmark's
 * Kafka mode: the generator's events are first written into a topic of their own
 * (nexmark_kafka_produce), then the query reads that topic with weir_source_kafka
 * (nexmark_kafka_source) instead of generating them.
 *
 * The topic holds event n at partition n % partitions, its value the event's payload bytes
 * (struct weir_nexmark_event, the type's struct, extra: what weir_nexmark_event_at writes)
 * and its Kafka timestamp the event's dateTime. With partitions = the run's parallelism each
 * source subtask reads one partition, events n = i, i + p, ... in order, as subtask i of the
 * generator source emits them; event time is each event's own dateTime, and watermarks are
 * per partition with the generator's max_out_of_orderness_ms, so the queries see the same
 * events with the same timestamps and give the same rows.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include <weir/job.h>
#include <weir/kafka.h>
#include <weir/record.h>

#include "nexmark.h"
#include "nexmark_bench.h"

#define ADMIN_TIMEOUT_MS 30000

static int set(rd_kafka_conf_t *c, const char *k, const char *v, char *err, size_t errlen)
{
    char why[256];
    if (rd_kafka_conf_set(c, k, v, why, sizeof why) == RD_KAFKA_CONF_OK)
        return 0;
    snprintf(err, errlen, "--kafka: librdkafka %s=%s: %s", k, v, why);
    return -EINVAL;
}

/* Creates topic with partitions partitions (replication 1) and waits until each has a
 * leader. */
static int create_topic(rd_kafka_t *rk, const char *bootstrap, const char *topic, int partitions,
                        char *err, size_t errlen)
{
    char why[512] = "";
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(topic, partitions, 1, why, sizeof why);
    if (!nt) {
        snprintf(err, errlen, "--kafka: topic %s: %s", topic, why);
        return -EINVAL;
    }
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *o = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_operation_timeout(o, ADMIN_TIMEOUT_MS, why, sizeof why);
    rd_kafka_CreateTopics(rk, &nt, 1, o, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, ADMIN_TIMEOUT_MS + 5000);
    int rc = 0;
    if (!ev) {
        snprintf(err, errlen, "--kafka %s: no answer to CreateTopics %s in %d s", bootstrap, topic,
                 ADMIN_TIMEOUT_MS / 1000 + 5);
        rc = -ETIMEDOUT;
    } else if (rd_kafka_event_error(ev)) {
        snprintf(err, errlen, "--kafka %s: CreateTopics %s: %s", bootstrap, topic,
                 rd_kafka_event_error_string(ev));
        rc = -EIO;
    } else {
        size_t n;
        const rd_kafka_topic_result_t **r =
            rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
        for (size_t i = 0; i < n && rc == 0; i++)
            if (rd_kafka_topic_result_error(r[i])) {
                snprintf(err, errlen, "--kafka %s: CreateTopics %s: %s", bootstrap, topic,
                         rd_kafka_topic_result_error_string(r[i]));
                rc = -EIO;
            }
    }
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_NewTopic_destroy(nt);
    rd_kafka_queue_destroy(q);
    if (rc < 0)
        return rc;
    rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topic, NULL);
    for (int i = 0; i < 600; i++) { /* 60 s */
        const struct rd_kafka_metadata *md;
        if (rd_kafka_metadata(rk, 0, t, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
            bool ok = md->topic_cnt == 1 && !md->topics[0].err &&
                      md->topics[0].partition_cnt == partitions;
            for (int p = 0; ok && p < partitions; p++)
                ok = md->topics[0].partitions[p].leader >= 0;
            rd_kafka_metadata_destroy(md);
            if (ok) {
                rd_kafka_topic_destroy(t);
                return 0;
            }
        }
        struct timespec ts = {0, 100000000};
        nanosleep(&ts, NULL);
    }
    rd_kafka_topic_destroy(t);
    snprintf(err, errlen, "--kafka %s: topic %s: %d partitions without leaders after 60 s",
             bootstrap, topic, partitions);
    return -ETIMEDOUT;
}

struct delivery {
    uint64_t failed;
    char first[256];
};

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    struct delivery *d = opaque;
    (void)rk;
    if (m->err && d->failed++ == 0)
        snprintf(d->first, sizeof d->first, "partition %d: %s", (int)m->partition,
                 rd_kafka_err2str(m->err));
}

int nexmark_kafka_produce(const struct weir_nexmark_opts *gen, const char *bootstrap,
                          const char *topic, int partitions, struct nexmark_kafka_produced *st,
                          char *err, size_t errlen)
{
    memset(st, 0, sizeof *st);
    if (gen->events == 0) {
        snprintf(err, errlen, "--kafka writes the events first: give --events N, not --unbounded");
        return -EINVAL;
    }
    size_t cap = weir_nexmark_event_max_size(gen);
    struct weir_nexmark_event *buf = aligned_alloc(8, (cap + 7) & ~(size_t)7);
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    struct delivery d = {0};
    char why[512];
    int rc = -ENOMEM;
    if (!buf || !c)
        goto err;
    /* Throughput over latency: large batches; acks from the leader only (one broker). */
    if ((rc = set(c, "bootstrap.servers", bootstrap, err, errlen)) < 0 ||
        (rc = set(c, "acks", "1", err, errlen)) < 0 ||
        (rc = set(c, "linger.ms", "20", err, errlen)) < 0 ||
        (rc = set(c, "batch.size", "1048576", err, errlen)) < 0 ||
        (rc = set(c, "queue.buffering.max.messages", "1000000", err, errlen)) < 0)
        goto err;
    rd_kafka_conf_set_dr_msg_cb(c, on_delivery);
    rd_kafka_conf_set_opaque(c, &d);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, why, sizeof why);
    if (!rk) {
        snprintf(err, errlen, "--kafka %s: %s", bootstrap, why);
        rc = -EINVAL;
        goto err;
    }
    c = NULL; /* the handle owns it */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if ((rc = create_topic(rk, bootstrap, topic, partitions, err, errlen)) < 0)
        goto err_rk;
    for (uint64_t n = 0; n < gen->events; n++) {
        int size = weir_nexmark_event_at(gen, n, buf, cap);
        if (size < 0 || (size_t)size > cap) {
            snprintf(err, errlen, "nexmark: event %" PRIu64 " does not fit %zu bytes", n, cap);
            rc = -EOVERFLOW;
            goto err_rk;
        }
        int64_t ts = weir_nexmark_time_at(gen, n);
        for (;;) {
            rd_kafka_resp_err_t e = rd_kafka_producev(
                rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION((int32_t)(n % partitions)),
                RD_KAFKA_V_VALUE(buf, (size_t)size), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                RD_KAFKA_V_TIMESTAMP(ts), RD_KAFKA_V_END);
            if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
                break;
            if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                snprintf(err, errlen, "--kafka %s: produce to %s: %s", bootstrap, topic,
                         rd_kafka_err2str(e));
                rc = -EIO;
                goto err_rk;
            }
            rd_kafka_poll(rk, 10); /* the queue is full: let deliveries drain it */
        }
        st->bytes += (uint64_t)size;
        if ((n & 1023) == 0)
            rd_kafka_poll(rk, 0);
    }
    if (rd_kafka_flush(rk, 300000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(err, errlen, "--kafka %s: %d events not acknowledged after 300 s", bootstrap,
                 rd_kafka_outq_len(rk));
        rc = -ETIMEDOUT;
        goto err_rk;
    }
    if (d.failed) {
        snprintf(err, errlen, "--kafka %s: %" PRIu64 " events not written to %s, the first: %s",
                 bootstrap, d.failed, topic, d.first);
        rc = -EIO;
        goto err_rk;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    st->events = gen->events;
    st->seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
    rc = 0;
err_rk:
    rd_kafka_destroy(rk);
err:
    if (c)
        rd_kafka_conf_destroy(c);
    free(buf);
    if (rc == -ENOMEM)
        snprintf(err, errlen, "--kafka: out of memory");
    return rc;
}

/* An event's dateTime, read from its bytes (the value need not be aligned). */
static int64_t value_time(const unsigned char *v, size_t n)
{
    struct weir_nexmark_event e;
    size_t at = sizeof e;
    int64_t ts;
    if (n < sizeof e)
        return WEIR_TS_NONE;
    memcpy(&e, v, sizeof e);
    switch (e.type) {
    case WEIR_NEXMARK_PERSON:
        at += offsetof(struct weir_nexmark_person, date_time);
        break;
    case WEIR_NEXMARK_AUCTION:
        at += offsetof(struct weir_nexmark_auction, date_time);
        break;
    default:
        at += offsetof(struct weir_nexmark_bid, date_time);
        break;
    }
    if (n < at + sizeof ts)
        return WEIR_TS_NONE;
    memcpy(&ts, v + at, sizeof ts);
    return ts;
}

static int64_t kafka_event_time(const struct weir_kafka_rec *k, void *arg)
{
    size_t n;
    const void *v = weir_kafka_value(k, &n);
    (void)arg;
    return v ? value_time(v, n) : WEIR_TS_NONE;
}

/* The Kafka record's value is the event: emitted as the generator source emits it. */
static int kafka_to_event(weir_ctx *ctx, const weir_rec *in, weir_emit *out)
{
    size_t n;
    const void *v = weir_kafka_value(weir_kafka_rec_of(in), &n);
    if (!v || n < sizeof(struct weir_nexmark_event) || n > UINT32_MAX) {
        weir_ctx_fail(ctx, "nexmark over Kafka: a record of %zu bytes is not an event", n);
        return -EBADMSG;
    }
    return weir_emit_copy(out, in->ts, v, (uint32_t)n);
}

weir_stream *nexmark_kafka_source(weir_job *job, const char *uid, const char *bootstrap,
                                  const char *topic, const struct weir_nexmark_opts *gen)
{
    struct weir_kafka_source_opts o = {
        .bootstrap = bootstrap,
        .topic = topic,
        .startup_mode = WEIR_KAFKA_STARTUP_EARLIEST,
        .bounded = true,
        .format = WEIR_KAFKA_FORMAT_RAW,
        .timestamp = kafka_event_time,
        .watermarks = true,
        .max_out_of_orderness_ms = gen->max_out_of_orderness_ms,
    };
    return weir_map(weir_source_kafka(job, uid, &o), "kafka-event", kafka_to_event);
}
