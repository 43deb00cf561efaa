/*
 * @internal What the connectors share: for the file sinks (file.c, file_2pc.c), one record
 * made into one line of text, by the job's format function or as the record's own bytes; for
 * the Kafka source, what its two files share; for the Kafka sink, what it keeps of its
 * transactions.
 */
#ifndef WEIR_CONNECTORS_PRIVATE_H
#define WEIR_CONNECTORS_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include <weir/dlq.h>
#include <weir/job.h>
#include <weir/kafka.h>
#include <weir/metrics.h>

/* A line buffer a sink owns, grown to fit the longest line formatted so far. */
struct line_buf {
    char *line;
    size_t cap;
};

/* Sets *text and *len to the line for in, without its newline: fmt's output in lb (grown
 * as it needs), or the record's bytes when fmt is NULL. Returns 0, -ENOMEM, or fmt's
 * negative error (the task failed with "format function failed: ..."). */
int line_format(weir_ctx *ctx, weir_format_fn fmt, const weir_rec *in, struct line_buf *lb,
                const char **text, size_t *len);

/* --- Kafka (kafka_source.c: the consumer; kafka_record.c: records, values, options) --- */

/* The options, copied (strings included) when the job is built. */
struct kopts {
    struct weir_kafka_source_opts o;
    char **strings; /* everything below points into these */
    size_t n_strings;
    size_t n_fields, n_props;
    const char *job_name; /* for the default group id */
};

extern const struct weir_source_ops kafka_source_ops;

/* A value's fields: (offset into text, length; UINT32_MAX: null) pairs, and their text. */
struct kafka_fields {
    uint32_t (*pair)[2];
    size_t n, cap;
    char *text;
    size_t len, text_cap;
};
void kafka_fields_free(struct kafka_fields *f);
/* Appends the fields of one CSV line / the named members of one JSON object to f. Returns 0,
 * -ENOMEM, or -EBADMSG with why (fewer than want CSV fields, a missing member, bad JSON). */
int kafka_parse_csv(struct kafka_fields *f, const char *v, size_t n, char delim, size_t want,
                    char *why, size_t whylen);
int kafka_parse_json(struct kafka_fields *f, const char *v, size_t n, const char *const *names,
                     size_t n_names, char *why, size_t whylen);
/* Sends m to the dead-letter queue (weir_ctx_dlq: when weir_ctx_dlq_on) with its key, value,
 * headers, topic, partition and offset, rejected for why; 0 or a negative errno, the job
 * failed. */
int kafka_to_dlq(weir_ctx *ctx, const rd_kafka_message_t *m, const char *topic, const char *why);
/* The payload bytes of m's record (*headers_len: of its headers), and the record written. */
size_t kafka_rec_size(const rd_kafka_message_t *m, const char *topic, const struct kafka_fields *f,
                      size_t *headers_len);
void kafka_rec_write(struct weir_kafka_rec *k, const rd_kafka_message_t *m, const char *topic,
                     const struct kafka_fields *f, size_t headers_len);
/* kafka_offsets.c: the subtask that reads partition of topic (Flink's split owner); an
 * offset reset error of partition id at next: 1 when next is still in the log (assign it
 * again), else -ERANGE with the job failed naming topic, partition and offsets; a partition
 * EOF event at end: moves *next there (at most to stop), true when it moved. */
int kafka_split_owner(const char *topic, int32_t partition, int parallelism);
/* kafka.instance of a source at parallelism: opts' when instances > 0, else the job
 * configuration's; 0, or -EINVAL with ctx failed. Whether subtask (of parallelism, in
 * instance of instances) owns partition. Whether a checkpoint taken as instance i_was of
 * n_was moved partitions (another split than instance of instances; one line on stderr). */
int kafka_instance_of(weir_ctx *ctx, const char *uid, const struct weir_kafka_source_opts *o,
                      int parallelism, int *instance, int *instances);
bool kafka_owns(const char *topic, int32_t partition, int instance, int instances, int parallelism,
                int subtask);
bool kafka_instance_moved(const char *uid, int subtask, uint32_t i_was, uint32_t n_was,
                          int instance, int instances);
/* A source subtask's position (kafka_source.c's snapshot): magic, version, count of
 * partitions, the instance split (instance, instances), then per partition its id, next and
 * stop offsets. kafka_position_head reads the head into head[5] (version 1, without the
 * split, reads as 0/1): 0, -EINVAL with ctx failed, or the reader's error. */
#define KAFKA_SNAP_MAGIC   0x4b41464bu /* "KFAK" */
#define KAFKA_SNAP_VERSION 2u
int kafka_position_head(weir_ctx *ctx, const char *uid, struct weir_snapshot_in *in,
                        uint32_t head[5]);
/* kafka_positions.c: a position restored, and those of every old subtask (union list state)
 * into *out (realloc'd) and *n; *moved when one was taken as another instance split. 0, or a
 * negative errno with ctx failed. A weir_snapshot_out into a malloc'd buffer p (free it). */
struct kafka_restored {
    int32_t part;
    int64_t next, stop;
};
int kafka_positions_restore(weir_ctx *ctx, const char *uid, int subtask, int instance,
                            int instances, const struct weir_state_item *items, size_t n_items,
                            struct kafka_restored **out, int *n, bool *moved);
struct kafka_mem_out {
    struct weir_snapshot_out out;
    unsigned char *p;
    size_t len, cap;
};
void kafka_mem_out_init(struct kafka_mem_out *m);
/* kafka_metrics.c: one partition's records-lag, current and committed offset series, under
 * labels plus topic and partition, in a cell allocated apart (the registry keeps pointers
 * into it while the partition table grows); the cell starts at next. 0, or -ENOMEM with ctx
 * failed naming the source uid and the partition. */
struct kafka_pcell {
    _Atomic uint64_t lag, current, committed;
};
int kafka_partition_metrics(weir_ctx *ctx, weir_metrics *m, const char *labels, const char *uid,
                            const char *topic, int32_t partition, int64_t next,
                            struct kafka_pcell **out);
int kafka_offset_refused(weir_ctx *ctx, rd_kafka_t *rk, const char *uid, const char *topic,
                         int32_t id, int64_t next, const char *why);
bool kafka_eof_moved(int64_t *next, int64_t stop, int64_t end);
/* kafka_batch.c: the source's read-ahead from the consumer queue. kafka_batch_next: the next
 * message (the caller destroys it), NULL when none is queued now; kafka_batch_free destroys
 * those not handed out and the queue, before the consumer is closed. */
#define KAFKA_BATCH 256
struct kafka_batch {
    rd_kafka_queue_t *q; /* the consumer's, taken at the first call */
    rd_kafka_message_t *m[KAFKA_BATCH];
    int at, n; /* m[at..n) not handed out yet */
};
rd_kafka_message_t *kafka_batch_next(struct kafka_batch *b, rd_kafka_t *rk);
void kafka_batch_free(struct kafka_batch *b);
/* --- the Kafka sink (kafka_sink.c), its kept transactions (kafka_sink_kept.c) --- */

/* The records of one transaction, as its checkpoint stores them. */
struct kept_buf {
    unsigned char *p;
    size_t len, cap;
};
/* Appends n bytes (p may be NULL when n is 0); 0 or -ENOMEM. */
int kept_put(struct kept_buf *b, const void *p, size_t n);
/* Appends one message: partition, key, value and headers; 0 or -ENOMEM. */
int kept_put_rec(struct kept_buf *b, const struct weir_kafka_msg *m);
/* The message at *at (moved past it), pointing into b; *hdrs is the caller's to free (NULL
 * when none). false: b ends or is corrupt there. */
bool kept_get_rec(const struct kept_buf *b, size_t *at, struct weir_kafka_msg *m,
                  rd_kafka_headers_t **hdrs);

/* A PRECOMMITTED transaction as a checkpoint keeps it (one list-state item each, see
 * kafka_sink_kept.c for the layout): the transactional.id it ran under, the checkpoint that
 * pre-committed it, its records and where the first of them landed. */
struct kept_txn {
    const char *tid; /* not NUL-terminated: tid_len bytes */
    uint32_t tid_len;
    uint64_t chk, n_recs;
    int32_t probe_part;
    int64_t probe_off; /* -1: none acknowledged */
    uint64_t probe_at; /* where the probed record is in recs */
    struct kept_buf recs;
};
/* The sink's items: one head per subtask (how many transactions it lists), then one per
 * transaction. */
int kept_write_head(struct weir_snapshot_out *out, uint32_t n_txns);
int kept_write_txn(struct weir_snapshot_out *out, const struct kept_txn *t);
/* Appends the transactions of one item to *v (n of cap), pointing into item (which must
 * outlive them): none for a head, one for a transaction, all of them for the state of a
 * weir before list state (one blob per subtask). 0, -ENOMEM, or -EBADMSG with err. */
int kept_parse_item(const void *item, size_t len, struct kept_txn **v, size_t *n, size_t *cap,
                    char *err, size_t errlen);
/* weir inspect's decoder of those items (weir/inspect.h weir_state_decoder; kind "kafka-sink",
 * registered with the source's by weir_kafka_register_inspect_decoder). */
struct json_t;
int kafka_sink_decode_item(const void *item, size_t len, struct json_t **out, char *err,
                           size_t errlen);

/* rd_kafka_conf_set, failing ctx with one line naming the property. */
int kafka_set_prop(weir_ctx *ctx, rd_kafka_conf_t *conf, const char *k, const char *v);

/* Whether the broker knows topic, asked at the sink's open: one that says it does not fails
 * ctx with one line naming it (-ENOENT); 0 otherwise, no answer included. */
int kafka_check_topic(weir_ctx *ctx, rd_kafka_t *rk, const char *bootstrap, const char *topic);

/* Where a kept transaction's first acknowledged record is, and its value. */
struct kafka_probe {
    const char *bootstrap;
    char *const *props; /* the sink's librdkafka properties: name, value, ..., NULL */
    const char *topic;
    int32_t partition;
    int64_t offset;
    uint64_t chk; /* for messages */
    const void *value;
    size_t value_len;
};
/* Reads the partition read_committed from the offset, after the transactional ids were
 * initialised: *committed is whether the record there is the one kept (its transaction
 * committed) or read_committed skipped it (aborted). 0, or a negative errno with ctx
 * failed (a record there that is not ours, no answer in 60 s). */
int kafka_probe_committed(weir_ctx *ctx, const struct kafka_probe *p, bool *committed);

#endif
