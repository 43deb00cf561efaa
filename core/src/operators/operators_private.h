/*
 * What the window operators' files share (window.c, window_fire.c, window_slice.c,
 * window_session.c): the
 * configuration a builder makes, a subtask's state, and the steps the two kinds of windows
 * have in common. Not part of the API (weir/windows.h is). keyed.c and interval_join.c
 * share nothing with them.
 */
#ifndef WEIR_OPERATORS_PRIVATE_H
#define WEIR_OPERATORS_PRIVATE_H

#include <stdbool.h>
#include <stdint.h>

#include <weir/operator.h>
#include <weir/state.h>
#include <weir/windows.h>

/* --- session merging (a plain function, unit-tested on its own) ------------------ */

/* One open session of a key, as stored in the "sessions" list state. */
struct session {
    int64_t start, end; /* [start, end) */
    int64_t state;      /* namespace of its accumulator */
};

struct session_plan {
    struct session result;
    uint32_t n_merged; /* existing sessions absorbed, indices in merged[] */
    bool changed;      /* the set changes (false: inside one existing session) */
};

/* Where [start, end) goes in set[0..n) (disjoint, not touching): the sessions
 * it touches, the session they make together, and whose state that session
 * keeps (the earliest absorbed one's, as Flink's MergingWindowSet). merged
 * must hold n entries. Exported for tests/ops/test_window_unit.c. */
void op_session_merge(const struct session *set, uint32_t n, int64_t start, int64_t end,
                      uint32_t *merged, struct session_plan *plan);

/* --- the operators' shared configuration and subtask state ---------------------- */

enum wop { WOP_AGG, WOP_JOIN, WOP_TOPN };

struct wcfg {
    enum wop op;
    struct weir_window_spec spec;
    int64_t lateness;
    char *late_tag[2]; /* per input */
    char *error;       /* set by the builder: open() fails the job with it */
    /* aggregate */
    struct weir_aggregate_fn agg;
    weir_value_fn value;
    /* join */
    weir_join_fn join;
    uint32_t max_size[2];
    /* top-N */
    uint32_t n;
    weir_score_fn score;
};

/* A buffered record in list state (join, top-N): a fixed-size slot. */
struct slot {
    int64_t ts;
    int64_t score; /* top-N */
    uint32_t len;
    uint32_t pad;
    unsigned char data[];
};

struct wstate {
    const struct wcfg *cfg;
    weir_keyed_backend *be;
    int64_t *starts; /* windows of one record */
    int max_starts;
    /* aggregate */
    weir_value_state *acc;
    weir_value_state *legacy; /* by slices: restored per-window accumulators ("acc") */
    bool legacy_checked;      /* by slices: looked for them (after the restore) */
    /* by slices: s->accbuf holds what the last record wrote to (last_key, last_slice) */
    bool last_valid;
    uint64_t last_key;
    int64_t last_slice;
    weir_list_state *sessions;
    unsigned char *accbuf, *accbuf2;
    struct session *sbuf;
    uint32_t *merged;
    uint32_t scap;
    /* join / top-N */
    weir_list_state *list[2];
    uint32_t slot_size[2];
    unsigned char *copy[2]; /* a copy of a list's slots */
    size_t copy_cap[2];
    weir_rec *rec[2]; /* a slot rebuilt as a record */
};

/* Internal functions and tables bind inside libweir and are not exported. */
#pragma GCC visibility push(hidden)

/* window.c */

/* end - 1 + lateness, saturated (Flink's WindowOperator.cleanupTime). */
int64_t window_cleanup_time(int64_t max_ts, int64_t lateness);

/* window_fire.c */

int window_open(weir_ctx *ctx, void *state, void *arg);
void window_close(weir_ctx *ctx, void *state);
/* Room for need sessions in s->sbuf and s->merged. */
int window_ensure_sessions(struct wstate *s, uint32_t need);
/* A record that no window takes any more: counted, and to the side output. */
int window_drop_late(weir_ctx *ctx, const struct wcfg *c, int input, const weir_rec *in);
/* Fails the job for a record without a timestamp (event-time windows need one). */
int window_need_ts(weir_ctx *ctx, const weir_rec *in);
/* Adds in (or its value, with a value function) to the accumulator acc. */
void window_agg_add_value(const struct wcfg *c, void *acc, const weir_rec *in);
/* Adds in to the accumulator in the current namespace: 1 when this created it (the window
 * is new for this key), 0, or < 0. */
int window_agg_add(struct wstate *s, const weir_rec *in);
/* Emits the result of the accumulator in the current namespace, if any. */
int window_agg_emit(weir_ctx *ctx, struct wstate *s, int64_t start, int64_t end, weir_emit *out);
/* Emits the result of s->accbuf for the current key's window [start, end). */
int window_agg_emit_buf(weir_ctx *ctx, struct wstate *s, int64_t start, int64_t end,
                        weir_emit *out);

extern const struct weir_operator_ops window_agg_fixed_ops, window_join_ops, window_topn_ops;
extern const struct weir_keyed_ops window_fixed_kops;
/* weir_keyed_ops.prefetch_ns of tumbling and sliding windows and of slices: the namespace of
 * the record's last window start (the first window process() touches; a slice's start). */
bool window_prefetch_ns(const void *state, const weir_rec *r, uint64_t *ns);

/* window_slice.c */

/* Whether c's windows run by slices (window_slice.c): a sliding event-time aggregate that
 * merges, size a multiple of the slide, no lateness. */
bool window_sliced(const struct wcfg *c);
extern const struct weir_operator_ops window_agg_slice_ops;
extern const struct weir_keyed_ops window_slice_kops;

/* window_session.c */

extern const struct weir_operator_ops window_agg_session_ops;
extern const struct weir_keyed_ops window_session_kops;

#pragma GCC visibility pop

#endif
