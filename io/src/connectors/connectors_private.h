/*
 * @internal What the connectors share: for the file sinks (file.c, file_2pc.c), one record
 * made into one line of text, by the job's format function or as the record's own bytes; for
 * the Kafka sink, what it keeps of its transactions.
 */
#ifndef WEIR_CONNECTORS_PRIVATE_H
#define WEIR_CONNECTORS_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include <weir/job.h>
#include <weir/kafka.h>

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

/* rd_kafka_conf_set, failing ctx with one line naming the property. */
int kafka_set_prop(weir_ctx *ctx, rd_kafka_conf_t *conf, const char *k, const char *v);

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
