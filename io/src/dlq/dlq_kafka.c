/*
 * The Kafka dead-letter queue (weir.dlq.type kafka): one idempotent producer (acks=all) per
 * run, writing each dead letter to weir.dlq.topic with its original key and value bytes, its
 * original headers, and these headers after them:
 *
 *   weir.dlq.reason     why it was rejected (one line)
 *   weir.dlq.operator   the uid of the operator that rejected it
 *   weir.dlq.topic      the source topic          } only for a record that came from a
 *   weir.dlq.partition  its partition, decimal   } Kafka source (weir_ctx_reject of any
 *   weir.dlq.offset     its offset, decimal      } other record sends its payload bytes)
 *
 * write() queues the record (librdkafka batches); flush() waits until every queued record is
 * acknowledged, at most weir.dlq.timeout. A record not acknowledged in weir.dlq.timeout
 * (message.timeout.ms: a broker down that long), or refused by the broker, fails the job with
 * one line: the writer's first error is sticky, and nothing is dropped. open() checks that the
 * topic exists, from the cluster's full metadata (a request naming the topic could make the
 * broker create it).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "dlq_private.h"

#define META_TIMEOUT_MS 10000

struct dlq_kafka {
    struct weir_dlq_writer w; /* first: the runtime's handle */
    rd_kafka_t *rk;
    char *topic, *bootstrap;
    int64_t timeout_ms;
    rd_kafka_resp_err_t dr_err; /* the first failed delivery (sticky) */
    int64_t dr_offset;          /* its source offset, -1: none */
};

/* Each dead letter's opaque is its source offset, for the line that names a lost one. */
static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    struct dlq_kafka *k = opaque;
    (void)rk;
    if (m->err && !k->dr_err) {
        k->dr_err = m->err;
        k->dr_offset = (int64_t)(intptr_t)m->_private;
    }
}

static int dr_check(struct dlq_kafka *k)
{
    if (!k->dr_err)
        return 0;
    snprintf(k->w.err, sizeof k->w.err,
             "weir.dlq.topic \"%s\" on %s: the dead letter of source offset %" PRId64
             " was not delivered: %s (weir.dlq.timeout %" PRId64 " ms)",
             k->topic, k->bootstrap, k->dr_offset, rd_kafka_err2str(k->dr_err), k->timeout_ms);
    return -EIO;
}

static int kafka_write(struct weir_dlq_writer *w, const struct weir_dlq_rec *r)
{
    struct dlq_kafka *k = (struct dlq_kafka *)w;
    rd_kafka_headers_t *h = rd_kafka_headers_new(r->n_headers + 5);
    char part[16], off[24];
    for (size_t i = 0; i < r->n_headers; i++)
        rd_kafka_header_add(h, r->headers[i].name, -1, r->headers[i].value,
                            r->headers[i].value ? (ssize_t)r->headers[i].len : 0);
    rd_kafka_header_add(h, WEIR_DLQ_H_REASON, -1, r->reason, -1);
    rd_kafka_header_add(h, WEIR_DLQ_H_OPERATOR, -1, r->operator, - 1);
    if (r->topic) {
        snprintf(part, sizeof part, "%" PRId32, r->partition);
        snprintf(off, sizeof off, "%" PRId64, r->offset);
        rd_kafka_header_add(h, WEIR_DLQ_H_TOPIC, -1, r->topic, -1);
        rd_kafka_header_add(h, WEIR_DLQ_H_PARTITION, -1, part, -1);
        rd_kafka_header_add(h, WEIR_DLQ_H_OFFSET, -1, off, -1);
    }
    for (;;) {
        rd_kafka_resp_err_t e = rd_kafka_producev(
            k->rk, RD_KAFKA_V_TOPIC(k->topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_KEY((void *)r->key, r->key ? r->key_len : 0),
            RD_KAFKA_V_VALUE((void *)r->value, r->value_len), RD_KAFKA_V_HEADERS(h),
            RD_KAFKA_V_OPAQUE((void *)(intptr_t)r->offset), RD_KAFKA_V_END);
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
            break; /* the message owns h now */
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL || k->dr_err) {
            rd_kafka_headers_destroy(h);
            if (k->dr_err)
                return dr_check(k);
            snprintf(w->err, sizeof w->err, "weir.dlq.topic \"%s\" on %s: produce: %s", k->topic,
                     k->bootstrap, rd_kafka_err2str(e));
            return -EIO;
        }
        rd_kafka_poll(k->rk, 100); /* the queue drains as the broker acks, or records expire */
    }
    rd_kafka_poll(k->rk, 0); /* delivery reports so far */
    return dr_check(k);
}

static int kafka_flush(struct weir_dlq_writer *w)
{
    struct dlq_kafka *k = (struct dlq_kafka *)w;
    /* message.timeout.ms bounds each record's wait: past it librdkafka reports it failed, so
     * this ends; the margin covers the reports' own way back */
    rd_kafka_resp_err_t e = rd_kafka_flush(k->rk, (int)(k->timeout_ms + 5000));
    int rc = dr_check(k);
    if (rc == 0 && (e || rd_kafka_outq_len(k->rk) > 0)) {
        snprintf(w->err, sizeof w->err,
                 "weir.dlq.topic \"%s\" on %s: %d dead letters not acknowledged in %" PRId64
                 " ms (weir.dlq.timeout)",
                 k->topic, k->bootstrap, rd_kafka_outq_len(k->rk), k->timeout_ms);
        rc = -ETIMEDOUT;
    }
    return rc;
}

static void kafka_free(struct weir_dlq_writer *w)
{
    struct dlq_kafka *k = (struct dlq_kafka *)w;
    if (k->rk) {
        /* a run that ended well flushed already; one that failed does not wait for a broker
         * that may be gone (its records are read again after the restore) */
        rd_kafka_purge(k->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_poll(k->rk, 0);
        rd_kafka_destroy(k->rk);
    }
    free(k->topic);
    free(k->bootstrap);
    free(k);
}

static int conf_set(rd_kafka_conf_t *c, const char *key, const char *v, const char *cfg_key,
                    char *err, size_t errlen)
{
    char e[256];
    if (rd_kafka_conf_set(c, key, v, e, sizeof e) == RD_KAFKA_CONF_OK)
        return 0;
    snprintf(err, errlen, "%s: %s=%s: %s", cfg_key, key, v, e);
    return -EINVAL;
}

/* weir.dlq.properties: key=value[,key=value]. */
static int set_properties(rd_kafka_conf_t *c, const char *props, char *err, size_t errlen)
{
    char *copy = strdup(props), *save = NULL;
    if (!copy)
        return -ENOMEM;
    int rc = 0;
    for (char *kv = strtok_r(copy, ",", &save); kv && rc == 0; kv = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(kv, '=');
        if (!eq) {
            snprintf(err, errlen, "weir.dlq.properties: \"%s\": expected key=value", kv);
            rc = -EINVAL;
            break;
        }
        *eq = 0;
        rc = conf_set(c, kv, eq + 1, "weir.dlq.properties", err, errlen);
    }
    free(copy);
    return rc;
}

/* Whether topic exists, from the cluster's metadata (all topics: no auto-creation). */
static int topic_check(struct dlq_kafka *k, char *err, size_t errlen)
{
    const struct rd_kafka_metadata *md;
    rd_kafka_resp_err_t e = rd_kafka_metadata(k->rk, 1, NULL, &md, META_TIMEOUT_MS);
    if (e) {
        snprintf(err, errlen,
                 "weir.dlq.bootstrap-servers %s: no metadata in %d s (%s): check the DLQ broker "
                 "address",
                 k->bootstrap, META_TIMEOUT_MS / 1000, rd_kafka_err2str(e));
        return -EHOSTUNREACH;
    }
    int rc = -ENOENT;
    for (int i = 0; i < md->topic_cnt; i++)
        if (!strcmp(md->topics[i].topic, k->topic) && !md->topics[i].err &&
            md->topics[i].partition_cnt > 0)
            rc = 0;
    rd_kafka_metadata_destroy(md);
    if (rc < 0)
        snprintf(err, errlen, "weir.dlq.topic \"%s\": no such topic on %s: create it first",
                 k->topic, k->bootstrap);
    return rc;
}

int dlq_kafka_open(const weir_config *cfg, const char *job_name, struct weir_dlq_writer **out,
                   char *err, size_t errlen)
{
    const char *topic = weir_config_get_str(cfg, "weir.dlq.topic");
    const char *bootstrap = weir_config_get_str(cfg, "weir.dlq.bootstrap-servers");
    if (!topic || !*topic || !bootstrap || !*bootstrap) {
        snprintf(err, errlen, "weir.dlq.type kafka needs weir.dlq.%s",
                 !topic || !*topic ? "topic (the DLQ topic)"
                                   : "bootstrap-servers (the DLQ cluster, host:port)");
        return -EINVAL;
    }
    struct dlq_kafka *k = calloc(1, sizeof *k);
    if (!k || !(k->topic = strdup(topic)) || !(k->bootstrap = strdup(bootstrap))) {
        if (k)
            free(k->topic);
        free(k);
        snprintf(err, errlen, "weir.dlq.topic: out of memory");
        return -ENOMEM;
    }
    k->w = (struct weir_dlq_writer){.write = kafka_write, .flush = kafka_flush, .free = kafka_free};
    k->timeout_ms = weir_config_get_duration_ms(cfg, "weir.dlq.timeout");
    char client[300], tmo[24], e[512];
    snprintf(client, sizeof client, "weir-%s-dlq", job_name);
    snprintf(tmo, sizeof tmo, "%" PRId64, k->timeout_ms);
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    int rc;
    if ((rc = conf_set(c, "bootstrap.servers", bootstrap, "weir.dlq.bootstrap-servers", err,
                       errlen)) < 0 ||
        (rc = conf_set(c, "client.id", client, "weir.dlq.type", err, errlen)) < 0 ||
        (rc = conf_set(c, "acks", "all", "weir.dlq.type", err, errlen)) < 0 ||
        (rc = conf_set(c, "enable.idempotence", "true", "weir.dlq.type", err, errlen)) < 0 ||
        (rc = conf_set(c, "linger.ms", "5", "weir.dlq.type", err, errlen)) < 0 ||
        (rc = conf_set(c, "message.timeout.ms", tmo, "weir.dlq.timeout", err, errlen)) < 0 ||
        (rc = set_properties(c, weir_config_get_str(cfg, "weir.dlq.properties"), err, errlen)) <
            0) {
        rd_kafka_conf_destroy(c);
        goto err;
    }
    rd_kafka_conf_set_opaque(c, k);
    rd_kafka_conf_set_dr_msg_cb(c, on_delivery);
    if (!(k->rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, e, sizeof e))) {
        rd_kafka_conf_destroy(c);
        snprintf(err, errlen, "weir.dlq.type kafka: producer: %s", e);
        rc = -EINVAL;
        goto err;
    }
    if ((rc = topic_check(k, err, errlen)) < 0)
        goto err;
    *out = &k->w;
    return 0;
err:
    kafka_free(&k->w);
    return rc;
}
