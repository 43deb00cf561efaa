/*
 * Kafka connectors (librdkafka). This branch has only the sink section; the source section
 * (h-kafka-src) goes before it.
 */
#ifndef WEIR_KAFKA_H
#define WEIR_KAFKA_H

#include <stddef.h>
#include <stdint.h>

#include <weir/job.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ==== sink =============================================================================== */
/*
 * Records to a Kafka topic, as Flink's KafkaSink writes them:
 *
 *     static const char *const props[] = {"linger.ms", "5", NULL};
 *     struct weir_kafka_sink_opts o = {
 *         .bootstrap = "127.0.0.1:9092",
 *         .topic = "out",
 *         .delivery_guarantee = WEIR_KAFKA_EXACTLY_ONCE,
 *         .transactional_id_prefix = "wordcount-out",
 *         .properties = props,
 *     };
 *     weir_sink_kafka(counts, "kafka-out", &o);
 *
 * Delivery guarantees (Flink's sink.delivery-guarantee):
 *   none           produce and go on; nothing waits at checkpoints (records may be lost).
 *   at-least-once  a checkpoint's snapshot waits until every record before its barrier is
 *                  acknowledged by the broker (replays after a failure may duplicate).
 *   exactly-once   the records between barriers n-1 and n form Kafka transaction n,
 *                  committed when checkpoint n completes; read_committed consumers see each
 *                  record once whatever crashes happen. Needs checkpointing (without it
 *                  everything is committed at end of input). Transactional ids are
 *                  "<prefix>-<subtask>-<slot>", slot 0..WEIR_KAFKA_SINK_PRODUCERS-1: no two
 *                  jobs (or sinks) on one cluster may share a prefix. A subtask keeps the
 *                  records of each transaction that waits for its checkpoint in memory and
 *                  in that checkpoint (the cost of surviving a crash between the checkpoint
 *                  and the Kafka commit: io/src/connectors/kafka_sink.c says why), and
 *                  restores only at the parallelism it was taken at.
 */
enum weir_kafka_delivery {
    WEIR_KAFKA_AT_LEAST_ONCE = 0, /* the default */
    WEIR_KAFKA_NONE = 1,
    WEIR_KAFKA_EXACTLY_ONCE = 2,
};

/* Producers (transactional ids) an exactly-once sink subtask uses: one transaction being
 * filled and up to WEIR_KAFKA_SINK_PRODUCERS - 1 waiting for their checkpoint to complete
 * (more wait only when checkpoints fail in a row: then the subtask fails and the job
 * restarts from its latest checkpoint). */
#define WEIR_KAFKA_SINK_PRODUCERS 4

struct weir_kafka_msg_header {
    const char *name;
    const void *value;
    size_t len;
};

/* One Kafka message made of a record. Pointers stay valid until the function is called
 * again (point into the record, or into a buffer the function keeps). */
struct weir_kafka_msg {
    const void *key; /* NULL: no key */
    size_t key_len;
    const void *value; /* NULL: a tombstone */
    size_t value_len;
    int32_t partition; /* WEIR_KAFKA_PARTITION_ANY: librdkafka's partitioner (by key) */
    const struct weir_kafka_msg_header *headers;
    size_t n_headers;
};
#define WEIR_KAFKA_PARTITION_ANY (-1)

/* Fills *msg for in (msg arrives zeroed, partition WEIR_KAFKA_PARTITION_ANY). Returns 0,
 * or a negative errno that fails the task (say why with weir_ctx_fail). */
typedef int (*weir_kafka_serialize_fn)(weir_ctx *ctx, const weir_rec *in,
                                       struct weir_kafka_msg *msg, void *arg);

struct weir_kafka_sink_opts {
    const char *bootstrap; /* bootstrap.servers, "host:port[,host:port]"; required */
    const char *topic;     /* required */
    /* NULL: value = the record's payload bytes, no key, no headers, any partition */
    weir_kafka_serialize_fn serialize;
    void *serialize_arg;
    enum weir_kafka_delivery delivery_guarantee; /* sink.delivery-guarantee */
    /* sink.transactional-id-prefix, exactly-once only; NULL: the sink's uid */
    const char *transactional_id_prefix;
    /* transaction.timeout.ms; 0: librdkafka's (60000). Must not exceed the broker's
     * transaction.max.timeout.ms (900000 by default): the sink fails at start if it does. */
    int64_t transaction_timeout_ms;
    /* librdkafka producer properties, NULL-terminated name, value pairs (Flink's
     * properties.*: a leading "properties." is dropped). */
    const char *const *properties;
};

/* Parses "none", "at-least-once" or "exactly-once" (Flink's names, any case). */
int weir_kafka_delivery_parse(const char *s, enum weir_kafka_delivery *out);

/* A Kafka sink with uid; opts and its strings are copied. A missing topic or bootstrap
 * server fails the job when it starts. */
weir_stream *weir_sink_kafka(weir_stream *in, const char *uid,
                             const struct weir_kafka_sink_opts *opts);

#ifdef __cplusplus
}
#endif
#endif
