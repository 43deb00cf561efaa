/*
 * @internal What the file connectors (file.c, file_2pc.c) share: one record made into one
 * line of text, by the job's format function or as the record's own bytes; and what the
 * Kafka source's two files share.
 */
#ifndef WEIR_CONNECTORS_PRIVATE_H
#define WEIR_CONNECTORS_PRIVATE_H

#include <stddef.h>

#include <weir/job.h>

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

#include <stdbool.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include <weir/kafka.h>

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
/* The payload bytes of m's record (*headers_len: of its headers), and the record written. */
size_t kafka_rec_size(const rd_kafka_message_t *m, const char *topic, const struct kafka_fields *f,
                      size_t *headers_len);
void kafka_rec_write(struct weir_kafka_rec *k, const rd_kafka_message_t *m, const char *topic,
                     const struct kafka_fields *f, size_t headers_len);

#endif
