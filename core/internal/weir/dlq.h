/*
 * @internal The dead-letter queue (weir.dlq.* keys): where a record that a source cannot read
 * or a user function rejects (weir_ctx_reject) goes instead of failing the job. Not part of
 * the installed API.
 *
 * Core holds the API (runtime/dlq.c: weir_ctx_reject, weir_ctx_dlq, the per-operator count
 * and the flush before each checkpoint's _metadata); io holds the writers (io/src/dlq/: a
 * Kafka topic, a JSON-lines file) behind the small interface below, so that core never
 * touches librdkafka.
 *
 *     struct weir_dlq_rec r = {.value = bytes, .value_len = n, .reason = "bad JSON", ...};
 *     if (weir_ctx_dlq_on(ctx))
 *         rc = weir_ctx_dlq(ctx, &r); // 0, or a negative errno with the job failed
 *
 * Durability (at-least-once into the DLQ): write() may buffer; flush() returns once every
 * record written before it is durable (Kafka: acknowledged by the broker with acks=all; a
 * file: written and fsynced). The coordinator flushes after every task acked checkpoint n
 * and before it commits n's _metadata, so a checkpoint never completes before the DLQ
 * records of the records before its barrier are durable. A writer that fails stays failed
 * (sticky) and the job fails with its one line; a record is never dropped.
 */
#ifndef WEIR_DLQ_H
#define WEIR_DLQ_H

#include <stddef.h>
#include <stdint.h>

#include <weir/config.h>
#include <weir/job.h>
#include <weir/kafka.h>

/* One dead letter. Pointers are valid for the write() call only. */
struct weir_dlq_rec {
    const void *key; /* NULL: no key */
    size_t key_len;
    const void *value; /* the original bytes; NULL only when value_len is 0 */
    size_t value_len;
    const struct weir_kafka_msg_header *headers; /* the original record's, kept */
    size_t n_headers;
    const char *reason;   /* why it was rejected, one line */
    const char *operator; /* the uid of the operator that rejected it */
    const char *topic;    /* the source topic; NULL when it came from no Kafka record */
    int32_t partition;    /* with topic */
    int64_t offset;       /* with topic */
    int64_t timestamp_ms; /* the Kafka timestamp, -1: none */
};

/* The DLQ headers every dead letter carries (Kafka headers; the file's JSON members). */
#define WEIR_DLQ_H_REASON    "weir.dlq.reason"
#define WEIR_DLQ_H_OPERATOR  "weir.dlq.operator"
#define WEIR_DLQ_H_TOPIC     "weir.dlq.topic"
#define WEIR_DLQ_H_PARTITION "weir.dlq.partition"
#define WEIR_DLQ_H_OFFSET    "weir.dlq.offset"

/* A writer. write() and flush() return 0 or a negative errno with err filled with one line
 * naming what failed and the key that changes it; they are called under the runtime's DLQ
 * lock (one caller at a time). free(NULL) is not called. */
struct weir_dlq_writer {
    int (*write)(struct weir_dlq_writer *w, const struct weir_dlq_rec *r);
    int (*flush)(struct weir_dlq_writer *w);
    void (*free)(struct weir_dlq_writer *w);
    char err[512];
};

/* io/src/dlq/dlq.c: the writer weir.dlq.type names (*out NULL for none). A bad value or a
 * DLQ that cannot be opened (no broker, a missing topic, an unwritable path) returns a
 * negative errno with one line in err naming the value and its key. */
int weir_dlq_open(const weir_config *cfg, const char *job_name, struct weir_dlq_writer **out,
                  char *err, size_t errlen);

/* runtime/dlq.c. Whether the run has a DLQ (weir.dlq.type is not none). */
bool weir_ctx_dlq_on(const weir_ctx *ctx);
/* Sends r to the DLQ as ctx's operator (r->operator is set here) and counts it in the
 * operator's weir_operator_numRecordsDlq. Returns 0, or a negative errno with the job failed
 * (no DLQ: the line names weir.dlq.type; a writer error: the writer's line). */
int weir_ctx_dlq(weir_ctx *ctx, struct weir_dlq_rec *r);

#endif
