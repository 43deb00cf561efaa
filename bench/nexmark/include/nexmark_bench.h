/*
 * Measuring one run of a Nexmark query, as `weir bench nexmark` does: the
 * latency of result rows from the generation of their input to the sink, every
 * checkpoint the run completed, throughput over wall and CPU time; then the
 * report, as text and as JSON. bench/nexmark/measure.c says what is measured
 * and how. The command line (tools/bench_nexmark.c) builds the job and calls:
 *
 *     struct nexmark_bench *b = nexmark_bench_new(q, parallelism);
 *     weir_stream *events = nexmark_bench_stamp(b, weir_source_nexmark(job, "nexmark", &gen));
 *     weir_stream *rows = nexmark_bench_probe(b, q->build(events, &qp));
 *     weir_sink_blackhole(rows, "sink");
 *     struct weir_run_opts ro = {.progress = nexmark_bench_progress, .progress_arg = b,
 *                                .on_checkpoint = nexmark_bench_on_checkpoint,
 *                                .on_checkpoint_arg = b};
 *     nexmark_bench_start(b);
 *     rc = weir_job_run(job, cfg, &ro, &st, err, sizeof err);
 *     nexmark_bench_stop(b);
 *     nexmark_bench_report(b, &st, &info, stdout, json_path);
 *     nexmark_bench_free(b);
 */
#ifndef WEIR_NEXMARK_BENCH_H
#define WEIR_NEXMARK_BENCH_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <weir/job.h>

#include "nexmark.h"
#include "nexmark_queries.h"

struct nexmark_bench;

/* A bench of query q whose sources run at this parallelism; NULL when out of
 * memory. */
struct nexmark_bench *nexmark_bench_new(const struct weir_nexmark_query *q, int parallelism);
/* NULL is a no-op. After the job that used it is freed. */
void nexmark_bench_free(struct nexmark_bench *b);

/* Chains "latency-stamp" to the source's events: it samples when events were
 * generated. */
weir_stream *nexmark_bench_stamp(struct nexmark_bench *b, weir_stream *events);
/* Chains "latency-probe" to the query's rows, before the sink: it measures
 * each row's latency from those samples and counts the rows. */
weir_stream *nexmark_bench_probe(struct nexmark_bench *b, weir_stream *rows);

/* weir_run_opts.on_checkpoint, with arg b: logs each completed checkpoint. */
void nexmark_bench_on_checkpoint(void *arg, const struct weir_checkpoint_event *ev);
/* Checkpoints completed so far. */
uint64_t nexmark_bench_checkpoints(struct nexmark_bench *b);
/* weir_run_opts.progress, with arg b: a progress line on stderr when on. */
void nexmark_bench_progress(void *arg, uint64_t records, double elapsed_s, bool done);
void nexmark_bench_show_progress(struct nexmark_bench *b, bool on);

/* Around weir_job_run: wall clock and process CPU time. */
void nexmark_bench_start(struct nexmark_bench *b);
void nexmark_bench_stop(struct nexmark_bench *b);

/* What the report says of the run besides the measurements. */
struct nexmark_bench_info {
    const struct weir_nexmark_opts *gen;
    uint64_t events_requested;
    int parallelism;
    const char *backend; /* state.backend */
    const char *mode;    /* execution.checkpointing.mode */
    int64_t interval_ms; /* execution.checkpointing.interval */
    const char *output;  /* the CSV directory, or NULL for a blackhole */
};

/* Writes the report to out, and as JSON to the file json unless it is NULL.
 * 0, or -EIO (and one line on stderr) when the JSON could not be written. */
int nexmark_bench_report(const struct nexmark_bench *b, const struct weir_run_stats *st,
                         const struct nexmark_bench_info *info, FILE *out, const char *json);

/* The first o->events events as DIR/person.csv, auction.csv and bid.csv, then
 * one line on stderr; 0, or a negative errno after one line on stderr. */
int nexmark_dump_events(const struct weir_nexmark_opts *o, const char *dir);

/* --- Nexmark over Kafka (kafka.c) --- */

struct nexmark_kafka_produced {
    uint64_t events, bytes;
    double seconds; /* creating the topic, producing, and every acknowledgement */
};

/* Creates topic (partitions partitions, replication 1) on bootstrap and writes gen's
 * events into it: event n to partition n % partitions, its payload as the value, its
 * dateTime as the timestamp; returns when the broker acknowledged them all. 0, or a
 * negative errno with one line in err naming --kafka (an unbounded gen is refused). */
int nexmark_kafka_produce(const struct weir_nexmark_opts *gen, const char *bootstrap,
                          const char *topic, int partitions, struct nexmark_kafka_produced *st,
                          char *err, size_t errlen);
/* The events of topic as the generator source emits them (record ts = dateTime, per-partition
 * watermarks with gen's max_out_of_orderness_ms), bounded: source uid, then "kafka-event". */
weir_stream *nexmark_kafka_source(weir_job *job, const char *uid, const char *bootstrap,
                                  const char *topic, const struct weir_nexmark_opts *gen);

#endif
