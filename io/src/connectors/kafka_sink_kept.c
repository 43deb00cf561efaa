/*
 * What the exactly-once Kafka sink (kafka_sink.c) keeps of a transaction and how a restore
 * learns whether it committed: the records in a flat buffer, as its checkpoint stores them,
 * and a read_committed read at the offset of its first acknowledged record.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include <weir/job.h>
#include <weir/kafka.h>

#include "connectors_private.h"

#define NO_LEN           UINT32_MAX
#define PROBE_TIMEOUT_MS 60000

int kept_put(struct kept_buf *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        size_t nc = b->cap ? b->cap : 4096;
        while (nc < b->len + n)
            nc *= 2;
        unsigned char *np = realloc(b->p, nc);
        if (!np)
            return -ENOMEM;
        b->p = np;
        b->cap = nc;
    }
    if (n)
        memcpy(b->p + b->len, p, n);
    b->len += n;
    return 0;
}

static int put_u32(struct kept_buf *b, uint32_t v)
{
    return kept_put(b, &v, sizeof v);
}

/* A kept record: partition, key length, value length, header count (u32 each; NO_LEN: no
 * key / no value), key, value, then per header its name length, value length, name,
 * value. */
int kept_put_rec(struct kept_buf *b, const struct weir_kafka_msg *m)
{
    int rc = put_u32(b, (uint32_t)m->partition);
    rc |= put_u32(b, m->key ? (uint32_t)m->key_len : NO_LEN);
    rc |= put_u32(b, m->value ? (uint32_t)m->value_len : NO_LEN);
    rc |= put_u32(b, (uint32_t)m->n_headers);
    if (m->key)
        rc |= kept_put(b, m->key, m->key_len);
    if (m->value)
        rc |= kept_put(b, m->value, m->value_len);
    for (size_t i = 0; i < m->n_headers; i++) {
        const struct weir_kafka_msg_header *h = &m->headers[i];
        rc |= put_u32(b, (uint32_t)strlen(h->name));
        rc |= put_u32(b, h->value ? (uint32_t)h->len : NO_LEN);
        rc |= kept_put(b, h->name, strlen(h->name));
        if (h->value)
            rc |= kept_put(b, h->value, h->len);
    }
    return rc ? -ENOMEM : 0;
}

static bool get_u32(const struct kept_buf *b, size_t *at, uint32_t *v)
{
    if (b->len - *at < sizeof *v)
        return false;
    memcpy(v, b->p + *at, sizeof *v);
    *at += sizeof *v;
    return true;
}

static bool get_bytes(const struct kept_buf *b, size_t *at, uint32_t len, const void **p)
{
    if (len == NO_LEN) {
        *p = NULL;
        return true;
    }
    if (b->len - *at < len)
        return false;
    *p = b->p + *at;
    *at += len;
    return true;
}

/* The kept record at *at, as produce arguments: hdrs is the caller's (NULL when none). */
bool kept_get_rec(const struct kept_buf *b, size_t *at, struct weir_kafka_msg *m,
                  rd_kafka_headers_t **hdrs)
{
    uint32_t part, kl, vl, nh;
    *hdrs = NULL;
    if (!get_u32(b, at, &part) || !get_u32(b, at, &kl) || !get_u32(b, at, &vl) ||
        !get_u32(b, at, &nh))
        return false;
    *m = (struct weir_kafka_msg){.partition = (int32_t)part,
                                 .key_len = kl == NO_LEN ? 0 : kl,
                                 .value_len = vl == NO_LEN ? 0 : vl};
    if (!get_bytes(b, at, kl, &m->key) || !get_bytes(b, at, vl, &m->value))
        return false;
    if (nh)
        *hdrs = rd_kafka_headers_new(nh);
    for (uint32_t i = 0; i < nh; i++) {
        uint32_t nl, hl;
        const void *name, *val;
        if (!get_u32(b, at, &nl) || !get_u32(b, at, &hl) || nl == NO_LEN ||
            !get_bytes(b, at, nl, &name) || !get_bytes(b, at, hl, &val)) {
            rd_kafka_headers_destroy(*hdrs);
            *hdrs = NULL;
            return false;
        }
        rd_kafka_header_add(*hdrs, name, (ssize_t)nl, val, hl == NO_LEN ? 0 : (ssize_t)hl);
    }
    return true;
}

int kafka_set_prop(weir_ctx *ctx, rd_kafka_conf_t *conf, const char *k, const char *v)
{
    char errstr[512];
    if (rd_kafka_conf_set(conf, k, v, errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
        weir_ctx_fail(ctx, "kafka sink property %s=%s: %s", k, v, errstr);
        return -EINVAL;
    }
    return 0;
}

int kafka_probe_committed(weir_ctx *ctx, const struct kafka_probe *t, bool *committed)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char errstr[512];
    int rc = kafka_set_prop(ctx, conf, "bootstrap.servers", t->bootstrap);
    for (char *const *p = t->props; rc == 0 && p && *p; p += 2) {
        /* security and client settings apply to the consumer too; producer-only ones
         * would fail it, so only the connection's are passed on */
        const char *k = strncmp(p[0], "properties.", 11) == 0 ? p[0] + 11 : p[0];
        if (!strncmp(k, "security.", 9) || !strncmp(k, "sasl.", 5) || !strncmp(k, "ssl.", 4) ||
            !strcmp(k, "client.id") || !strncmp(k, "broker.", 7) || !strncmp(k, "test.", 5))
            rc = kafka_set_prop(ctx, conf, k, p[1]);
    }
    if (rc == 0)
        rc = kafka_set_prop(ctx, conf, "isolation.level", "read_committed");
    if (rc == 0)
        rc = kafka_set_prop(ctx, conf, "enable.partition.eof", "true");
    if (rc == 0)
        rc = kafka_set_prop(ctx, conf, "auto.offset.reset", "error");
    if (rc == 0)
        rc = kafka_set_prop(ctx, conf, "group.id", "weir-kafka-sink-probe");
    if (rc == 0)
        rc = kafka_set_prop(ctx, conf, "enable.auto.commit", "false");
    if (rc < 0) {
        rd_kafka_conf_destroy(conf);
        return rc;
    }
    rd_kafka_t *c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    if (!c) {
        rd_kafka_conf_destroy(conf);
        weir_ctx_fail(ctx, "kafka sink: read_committed consumer: %s", errstr);
        return -EINVAL;
    }
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, t->topic, t->partition)->offset = t->offset;
    rd_kafka_resp_err_t err = rd_kafka_assign(c, l);
    rd_kafka_topic_partition_list_destroy(l);
    rc = -ETIMEDOUT;
    for (int waited = 0; err == 0 && rc == -ETIMEDOUT && waited < PROBE_TIMEOUT_MS; waited += 500) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 500);
        if (!m)
            continue;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            /* At the end: read_committed skipped the record if the end is past it; if not,
             * the last stable offset is still below it (another producer's transaction is
             * open there), and only waiting tells. */
            if (m->offset > t->offset) {
                *committed = false;
                rc = 0;
            }
        } else if (m->err) {
            err = m->err;
        } else if (m->offset == t->offset) {
            /* ours, or the topic is not the one the checkpoint wrote to */
            if (t->value_len != m->len || (m->len && memcmp(t->value, m->payload, m->len))) {
                weir_ctx_fail(ctx,
                              "kafka sink %s [%" PRId32 "] offset %" PRId64 ": not the record "
                              "checkpoint %" PRIu64 " says this sink wrote there (was the "
                              "topic recreated?)",
                              t->topic, t->partition, t->offset, t->chk);
                rc = -EIO;
            } else {
                *committed = true;
                rc = 0;
            }
        } else {
            *committed = false; /* read_committed skipped it */
            rc = 0;
        }
        rd_kafka_message_destroy(m);
    }
    if (err) {
        weir_ctx_fail(ctx,
                      "kafka sink %s [%" PRId32 "] offset %" PRId64 ": reading back "
                      "transaction of checkpoint %" PRIu64 ": %s",
                      t->topic, t->partition, t->offset, t->chk, rd_kafka_err2str(err));
        rc = -EIO;
    } else if (rc == -ETIMEDOUT) {
        weir_ctx_fail(ctx,
                      "kafka sink %s [%" PRId32 "] offset %" PRId64 ": no answer in %d ms "
                      "reading back the transaction of checkpoint %" PRIu64,
                      t->topic, t->partition, t->offset, PROBE_TIMEOUT_MS, t->chk);
    }
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    return rc;
}