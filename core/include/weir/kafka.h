/*
 * Kafka connectors: the source (weir_source_kafka) and, in its own section below, the sink.
 *
 *     struct weir_kafka_source_opts o = {
 *         .bootstrap = "127.0.0.1:9092", .topic = "events",
 *         .startup_mode = WEIR_KAFKA_STARTUP_EARLIEST,
 *         .watermarks = true, .max_out_of_orderness_ms = 2000, .idleness_ms = 30000,
 *     };
 *     weir_stream *s = weir_source_kafka(job, "events", &o);
 *     ... process(): size_t n; const void *v = weir_kafka_value(weir_kafka_rec_of(in), &n);
 *
 * Every record a Kafka source emits is a struct weir_kafka_rec (its fixed part) followed by
 * the topic, key, value, headers and parsed fields; read the variable parts with the
 * accessors below, never by offset.
 */
#ifndef WEIR_KAFKA_H
#define WEIR_KAFKA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <weir/job.h>
#include <weir/record.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ==== source ============================================================================= */

/* Where a partition starts when no checkpoint says (Flink's scan.startup.mode). A partition
 * the restored checkpoint does not know (discovered since) starts at its earliest offset, as
 * Flink's KafkaSource does; one it does not know because the checkpoint was taken as another
 * instance split (kafka.instance: the partitions moved between processes) starts at the
 * group's committed offset, earliest when it has none. */
enum weir_kafka_startup_mode {
    WEIR_KAFKA_STARTUP_EARLIEST = 0, /* "earliest-offset" */
    WEIR_KAFKA_STARTUP_LATEST,       /* "latest-offset": only records produced after start */
    WEIR_KAFKA_STARTUP_GROUP,        /* "group-offsets": the group's committed offsets (a
                                        partition with none starts at its earliest) */
    WEIR_KAFKA_STARTUP_TIMESTAMP,    /* "timestamp": the first record whose timestamp is >=
                                        startup_timestamp_ms (the end when none is) */
};

/* How the value is read. A value that does not parse is a bad record (skip_bad_records). */
enum weir_kafka_format {
    WEIR_KAFKA_FORMAT_RAW = 0, /* the bytes as they are */
    WEIR_KAFKA_FORMAT_CSV,     /* one line of fields split at csv_delimiter; "..." quotes a
                                  field ("" inside is one "); fewer fields than `fields`
                                  names is a bad record, more are kept */
    WEIR_KAFKA_FORMAT_JSON,    /* a JSON object (parsed with jansson, which also rejects
                                  invalid UTF-8); the members `fields` names become the
                                  fields, a missing one is a bad record; strings as their
                                  text, anything else as compact JSON */
};

struct weir_kafka_rec;

struct weir_kafka_source_opts {
    const char *bootstrap; /* bootstrap.servers, "host:port[,host:port]" */
    const char *topic;
    /* The consumer group offsets are committed to when a checkpoint completes (for
     * monitoring only: restores read the checkpoint) and read by STARTUP_GROUP. NULL:
     * "weir-<job name>-<uid>". Partitions are assigned by weir, never by the group. */
    const char *group_id;
    enum weir_kafka_startup_mode startup_mode;
    int64_t startup_timestamp_ms; /* STARTUP_TIMESTAMP */
    /* scan.topic-partition-discovery.interval: how often the topic's partition count is
     * looked up, so that partitions added while the job runs are read (from their earliest
     * offset). 0: the partitions found at start only. The lookup is a metadata request made
     * from the source's worker (about a millisecond against a local broker). */
    int64_t discovery_interval_ms;
    /* Bounded: read up to the end offsets the partitions had at the first start (kept in
     * checkpoints, so a restore stops at the same place), then end (Flink's setBounded with
     * latest offsets). No partition discovery then. */
    bool bounded;
    enum weir_kafka_format format;
    char csv_delimiter;        /* 0: ',' */
    const char *const *fields; /* NULL-terminated names (CSV: how many at least; JSON: which
                                 members), NULL: none required */
    /* A bad record fails the job with one line naming topic, partition and offset, unless
     * this is set: it is then counted and dropped. */
    bool skip_bad_records;
    /* Event time: the record's Kafka timestamp (CreateTime or LogAppendTime), or
     * timestamp(rec, timestamp_arg) when set (WEIR_TS_NONE: none). */
    int64_t (*timestamp)(const struct weir_kafka_rec *rec, void *arg);
    void *timestamp_arg;
    /* Per-partition watermarks (as Flink's KafkaSource with a WatermarkStrategy): each
     * partition's is its largest timestamp minus max_out_of_orderness_ms minus 1; the
     * subtask emits the minimum over its partitions every pipeline.auto-watermark-interval.
     * A partition with no record for idleness_ms (0: never) stops holding it back; a subtask
     * whose partitions are all idle, or that owns none, is idle downstream. Do not also call
     * weir_assign_watermarks on this stream. */
    bool watermarks;
    int64_t max_out_of_orderness_ms;
    int64_t idleness_ms;
    /* More librdkafka consumer settings, "key=value", NULL-terminated (e.g.
     * "isolation.level=read_uncommitted"; librdkafka reads read_committed by default). */
    const char *const *properties;
    /* Several processes (one per host) sharing the topic: this one is instance `instance` of
     * `instances` and reads the partitions that the split owner below gives to the global
     * subtasks instance*p .. instance*p+p-1 of instances*p (p: this source's parallelism), so
     * N processes at the same parallelism read every partition once between them. instances
     * 0: the job configuration's kafka.instance ("i/N", -D kafka.instance=1/2; "0/1" by
     * default). instance >= instances fails the job at start. */
    int instance, instances;
};

/*
 * A Kafka topic as a source. Each subtask runs one librdkafka consumer with a manual
 * assignment: partition p of topic t belongs to subtask
 *     (((javaHash(t) * 31) & 0x7FFFFFFF) % parallelism + p) % parallelism
 * as in Flink's KafkaSourceEnumerator, so a subtask may own several partitions or none
 * (with instances N > 1, subtask s of instance i is global subtask i*parallelism + s of
 * N*parallelism in that formula). Its checkpointed state is the next offset of each partition
 * it owns, and the instance split it was taken with; a restore seeks there.
 * The strings of opts are copied. Errors (no broker answers, no such topic) fail the job at
 * start with one line that names the option.
 */
weir_stream *weir_source_kafka(weir_job *job, const char *uid,
                               const struct weir_kafka_source_opts *opts);
/* Registers the Kafka source's decoder of its checkpointed positions for weir inspect
 * (weir/inspect.h; kind "kafka"): per item the instance split it was taken with
 * ("instance", "instances") and each partition's
 * "partition", "offset" (the next to read) and "stop" (-1: unbounded). And the Kafka sink's
 * (kind "kafka-sink"): per subtask {"pending_transactions": n}, then per pending transaction
 * "transactional_id", "checkpoint", "records", "bytes" and "first_record" ({"partition",
 * "offset"} where the broker put its first record, null when none). 0 or -EEXIST. */
int weir_kafka_register_inspect_decoder(void);

/* The fixed part of every Kafka source record; the bytes after it are the accessors'. */
struct weir_kafka_rec {
    int64_t offset;
    int64_t timestamp_ms; /* the Kafka timestamp, -1 when none */
    int32_t partition;
    int32_t key_len; /* -1: null key */
    uint32_t value_len;
    uint32_t headers_len; /* bytes of the encoded headers */
    uint32_t fields_len;  /* bytes of the encoded fields */
    uint16_t topic_len;
    uint16_t n_headers;
    uint16_t n_fields;
    uint16_t flags; /* 0 */
    unsigned char data[];
};

/* The Kafka record a source record carries. */
const struct weir_kafka_rec *weir_kafka_rec_of(const weir_rec *r);
/* The topic, not NUL-terminated: *len bytes. */
const char *weir_kafka_topic(const struct weir_kafka_rec *k, size_t *len);
/* The key (NULL for a null key, *len then 0). */
const void *weir_kafka_key(const struct weir_kafka_rec *k, size_t *len);
const void *weir_kafka_value(const struct weir_kafka_rec *k, size_t *len);
/* Header i (0 .. n_headers - 1): 0, or -ENOENT past the last. *value is NULL for a null
 * value. Names and values are not NUL-terminated. */
int weir_kafka_header(const struct weir_kafka_rec *k, unsigned i, const char **name,
                      size_t *name_len, const void **value, size_t *value_len);
/* Field i of a CSV or JSON value (0 .. n_fields - 1), not NUL-terminated; NULL past the last
 * or for a JSON null. */
const char *weir_kafka_field(const struct weir_kafka_rec *k, unsigned i, size_t *len);
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
 * server fails the job when it starts, and so does a topic the broker says does not exist. */
weir_stream *weir_sink_kafka(weir_stream *in, const char *uid,
                             const struct weir_kafka_sink_opts *opts);

#ifdef __cplusplus
}
#endif
#endif
