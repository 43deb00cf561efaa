/*
 * The dead-letter queue, runtime side (weir/dlq.h): weir_ctx_reject and weir_ctx_dlq send a
 * record to the run's writer (io/src/dlq/) under one lock and count it per operator; the
 * checkpoint coordinator calls rt_dlq_flush before it commits a checkpoint's _metadata, and
 * the run flushes once more at its end, so every dead letter of a record before a completed
 * checkpoint's barrier is durable (at-least-once into the DLQ).
 *
 * Dead letters are rare by nature (a record that fails), so one mutex over one writer for
 * all workers is simple and cheap enough; the lock also orders a flush after the writes it
 * must cover. The first failure is sticky (rt->dlq_err): the run fails with the writer's
 * line and every later reject fails too, so nothing is dropped silently.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <weir/config.h>
#include <weir/kafka.h>

#include "runtime_private.h"

int rt_dlq_open(struct runtime *rt, char *err, size_t errlen)
{
    pthread_mutex_init(&rt->dlq_lock, NULL);
    return weir_dlq_open(rt->cfg, rt->job->name, &rt->dlq, err, errlen);
}

/* Under dlq_lock: the run fails once with the writer's line. */
static int writer_failed(struct runtime *rt, int rc)
{
    if (!rt->dlq_err) {
        rt->dlq_err = rc;
        rt_fail(rt, "dead-letter queue: %s", rt->dlq->err);
    }
    return rc;
}

int rt_dlq_flush(struct runtime *rt)
{
    if (!rt->dlq)
        return 0;
    pthread_mutex_lock(&rt->dlq_lock);
    int rc = rt->dlq_err;
    if (rc == 0 && (rc = rt->dlq->flush(rt->dlq)) < 0)
        writer_failed(rt, rc);
    pthread_mutex_unlock(&rt->dlq_lock);
    return rc;
}

void rt_dlq_close(struct runtime *rt)
{
    if (!rt->dlq)
        return;
    rt->dlq->free(rt->dlq);
    rt->dlq = NULL;
    pthread_mutex_destroy(&rt->dlq_lock);
}

bool weir_ctx_dlq_on(const weir_ctx *ctx)
{
    return ctx->rt->dlq != NULL;
}

int weir_ctx_dlq(weir_ctx *ctx, struct weir_dlq_rec *r)
{
    struct runtime *rt = ctx->rt;
    r->operator= ctx->op->node->uid;
    if (!rt->dlq) {
        weir_ctx_fail(ctx,
                      "record rejected (%s) and no dead-letter queue: set weir.dlq.type to kafka "
                      "or file",
                      r->reason ? r->reason : "no reason given");
        return -EINVAL;
    }
    pthread_mutex_lock(&rt->dlq_lock);
    int rc = rt->dlq_err;
    if (rc == 0 && (rc = rt->dlq->write(rt->dlq, r)) < 0)
        writer_failed(rt, rc);
    pthread_mutex_unlock(&rt->dlq_lock);
    if (rc == 0)
        atomic_fetch_add_explicit(&ctx->op->dlq, 1, memory_order_relaxed);
    return rc;
}

/* The original Kafka record of a source record: key, value, headers, topic, partition and
 * offset. Header names are copied to be NUL-terminated (into *names, the caller's to free
 * with *hdrs). Returns 0, -EINVAL when rec is not a whole weir_kafka_rec, or -ENOMEM. */
static int kafka_original(const weir_rec *rec, struct weir_dlq_rec *r, char *topic, size_t cap,
                          struct weir_kafka_msg_header **hdrs, char **names)
{
    if (rec->len < sizeof(struct weir_kafka_rec))
        return -EINVAL;
    const struct weir_kafka_rec *k = weir_kafka_rec_of(rec);
    size_t need = sizeof *k + k->topic_len + (k->key_len > 0 ? (size_t)k->key_len : 0) +
                  k->value_len + k->headers_len + k->fields_len;
    if (need > rec->len)
        return -EINVAL;
    size_t n;
    const char *t = weir_kafka_topic(k, &n);
    snprintf(topic, cap, "%.*s", (int)n, t);
    r->topic = topic;
    r->partition = k->partition;
    r->offset = k->offset;
    r->timestamp_ms = k->timestamp_ms;
    r->key = weir_kafka_key(k, &r->key_len);
    r->value = weir_kafka_value(k, &r->value_len);
    if (k->n_headers == 0)
        return 0;
    size_t name_bytes = 0;
    for (unsigned i = 0; i < k->n_headers; i++) {
        const char *name;
        const void *v;
        size_t nl, vl;
        if (weir_kafka_header(k, i, &name, &nl, &v, &vl) < 0)
            return -EINVAL;
        name_bytes += nl + 1;
    }
    *hdrs = calloc(k->n_headers, sizeof **hdrs);
    *names = malloc(name_bytes);
    if (!*hdrs || !*names)
        return -ENOMEM;
    char *p = *names;
    for (unsigned i = 0; i < k->n_headers; i++) {
        const char *name;
        size_t nl;
        weir_kafka_header(k, i, &name, &nl, &(*hdrs)[i].value, &(*hdrs)[i].len);
        memcpy(p, name, nl);
        p[nl] = 0;
        (*hdrs)[i].name = p;
        p += nl + 1;
    }
    r->headers = *hdrs;
    r->n_headers = k->n_headers;
    return 0;
}

int weir_ctx_reject(weir_ctx *ctx, const weir_rec *rec, const char *reason)
{
    struct weir_dlq_rec r = {.reason = reason ? reason : "rejected",
                             .value = rec->data,
                             .value_len = rec->len,
                             .partition = -1,
                             .offset = -1,
                             .timestamp_ms = -1};
    struct weir_kafka_msg_header *hdrs = NULL;
    char *names = NULL, topic[256];
    if ((rec->flags & WEIR_REC_F_KAFKA) && ctx->rt->dlq) {
        int rc = kafka_original(rec, &r, topic, sizeof topic, &hdrs, &names);
        if (rc == -ENOMEM) {
            free(hdrs);
            free(names);
            weir_ctx_fail(ctx, "out of memory sending a record to the dead-letter queue");
            return rc;
        }
        if (rc < 0) /* not a whole Kafka record after all: its payload bytes, as any other */
            r = (struct weir_dlq_rec){.reason = r.reason,
                                      .value = rec->data,
                                      .value_len = rec->len,
                                      .partition = -1,
                                      .offset = -1,
                                      .timestamp_ms = -1};
    }
    int rc = weir_ctx_dlq(ctx, &r);
    free(hdrs);
    free(names);
    return rc;
}
