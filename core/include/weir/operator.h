/*
 * What a stateful operator sees beyond job.h: the current key and its keyed
 * state, event and processing time, timers, side outputs, two-input
 * operators. Windows, joins, dedup and top-N are written against this header
 * and state.h, the way a user would write their own.
 *
 *     static int on_timer(weir_ctx *ctx, void *st, enum weir_time_domain d, uint64_t ns,
 *                         int64_t ts, weir_emit *out)
 *     {
 *         // the runtime has set the current key and namespace of the timer
 *         ...
 *     }
 *
 *     weir_timer_register(ctx, WEIR_EVENT_TIME, window_end, window_end - 1);
 *
 * Timers are per (key, namespace, time) and deduplicated: registering the same
 * one twice fires it once. Event-time timers fire when the operator's input
 * watermark passes their time (ts <= watermark), in time order, before the
 * watermark is forwarded; processing-time timers fire when the wall clock
 * (CLOCK_REALTIME, ms) passes their time.
 */
#ifndef WEIR_OPERATOR_H
#define WEIR_OPERATOR_H

#include <stdbool.h>
#include <stdint.h>

#include <weir/job.h>
#include <weir/state.h>

#ifdef __cplusplus
extern "C" {
#endif

enum weir_time_domain { WEIR_EVENT_TIME = 0, WEIR_PROCESSING_TIME = 1 };

/* The keyed backend of a keyed operator (one that consumes key_by streams);
 * NULL for an operator that is not keyed. */
weir_keyed_backend *weir_ctx_state(weir_ctx *ctx);
/* The key of the record or timer being processed. */
uint64_t weir_ctx_current_key(const weir_ctx *ctx);
/* The operator's current input watermark (INT64_MIN before the first one). */
int64_t weir_ctx_watermark(const weir_ctx *ctx);
/* Wall-clock time in ms, as processing-time timers see it. */
int64_t weir_ctx_processing_time(const weir_ctx *ctx);

/* For the watermark diagnosis (`weir why-late`, REST /jobs/:jobid/watermark-diagnosis): a
 * source that makes its own watermarks per split (the Kafka source, per partition) reports
 * each split's watermark (INT64_MIN: none yet) and whether it is idle, as often as it
 * computes them, and the idle timeout it applies (0: never idle). Source subtasks only, from
 * their own thread; a few relaxed stores, no lock. The first 256 splits of a subtask are
 * reported, later ones are left out. */
void weir_ctx_report_split(weir_ctx *ctx, int32_t split, int64_t wm, bool idle);
void weir_ctx_report_idleness(weir_ctx *ctx, int64_t idleness_ms);

/* Timers for the current key in namespace ns (the same namespace as state). */
int weir_timer_register(weir_ctx *ctx, enum weir_time_domain d, uint64_t ns, int64_t ts);
int weir_timer_delete(weir_ctx *ctx, enum weir_time_domain d, uint64_t ns, int64_t ts);
/* weir_timer_register for a timer the caller knows is not registered (say, the state it
 * guards was just created): no deduplication lookup. Registering a live one this way makes
 * it fire twice. */
int weir_timer_register_new(weir_ctx *ctx, enum weir_time_domain d, uint64_t ns, int64_t ts);

/* Counts a record dropped for being late (metric numLateRecordsDropped). */
void weir_ctx_count_late(weir_ctx *ctx);

/* The emitter of side output `tag` of this operator: records emitted there go
 * to the streams made with weir_side_output(stream, tag). Never NULL: with no
 * consumer, records are dropped. */
weir_emit *weir_ctx_side_output(weir_ctx *ctx, const char *tag);

/* A stream of the side output `tag` of the operator producing s. */
weir_stream *weir_side_output(weir_stream *s, const char *tag);

/* Operator callbacks beyond struct weir_operator_ops, for keyed operators. */
struct weir_keyed_ops {
    /* A timer fired: current key and namespace are set. */
    int (*on_timer)(weir_ctx *ctx, void *state, enum weir_time_domain d, uint64_t ns, int64_t ts,
                    weir_emit *out);
    /* Optional, a hint the runtime asks a few records ahead: the namespace whose state
     * record r (key already known) will touch first, so the state backend can start
     * loading that entry. Returns false when it cannot tell. Changes nothing. */
    bool (*prefetch_ns)(const void *state, const weir_rec *r, uint64_t *ns);
};

/* A keyed operator over one keyed stream (from weir_key_by). */
weir_stream *weir_keyed_transform(weir_stream *keyed, const char *uid,
                                  const struct weir_operator_ops *ops,
                                  const struct weir_keyed_ops *kops, void *arg);
/* A keyed operator over two keyed streams: process() sees input 0 for
 * records of a and 1 for records of b; both are keyed by their own key_by. */
weir_stream *weir_keyed_connect(weir_stream *a, weir_stream *b, const char *uid,
                                const struct weir_operator_ops *ops,
                                const struct weir_keyed_ops *kops, void *arg);

/* --- event time at the sources ------------------------------------------- */
/* Watermarks generated from a source's record timestamps, as Flink's
 * WatermarkStrategy: every pipeline.auto-watermark-interval the source emits
 * max_timestamp - max_out_of_orderness_ms - 1. A source subtask with no record
 * for idleness_ms is marked idle and stops holding back downstream
 * watermarks until it emits again. Sources of one alignment group pause while
 * their watermark is more than alignment_max_drift_ms ahead of the group's
 * slowest. A bounded source ends with the maximal watermark, which fires all
 * event-time timers. */
struct weir_watermark_strategy {
    int64_t max_out_of_orderness_ms; /* 0: monotonous timestamps */
    int64_t idleness_ms;             /* 0: never idle */
    const char *alignment_group;     /* NULL: no alignment (the string must outlive the job) */
    int64_t alignment_max_drift_ms;
};
weir_stream *weir_assign_watermarks(weir_stream *source, const struct weir_watermark_strategy *ws);

#ifdef __cplusplus
}
#endif
#endif
