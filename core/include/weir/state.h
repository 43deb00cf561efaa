/*
 * Keyed state: what an operator keeps per key, behind one interface with two
 * backends (state.backend: hashmap | rocksdb).
 *
 * A keyed operator (one that consumes a key_by stream) owns a keyed backend
 * for the key groups of its subtask. Before each record (and each timer) the
 * runtime sets the current key; state handles then read and write the entry of
 * that key in the current namespace (0, or a window the operator selected).
 *
 *     struct count_state { weir_value_state *count; };
 *
 *     static int open(weir_ctx *ctx, void *st, void *arg)
 *     {
 *         struct count_state *s = st;
 *         s->count = weir_value_state_get(weir_ctx_state(ctx), "count", sizeof(uint64_t), NULL);
 *         return s->count ? 0 : -ENOMEM;
 *     }
 *
 *     static int process(weir_ctx *ctx, void *st, int input, const weir_rec *in, weir_emit *out)
 *     {
 *         struct count_state *s = st;
 *         const uint64_t *old = weir_value_get(s->count);
 *         uint64_t n = (old ? *old : 0) + 1;
 *         return weir_value_put(s->count, &n);
 *     }
 *
 * Keys are 64-bit (weir_key_fn); key group = weir_key_group_of(key, max parallelism).
 * Values are fixed-size byte blobs (value_size), except list elements and map
 * values, whose sizes are given per state as well. Pointers returned by get
 * functions stay valid until the next call on any state of the same backend.
 *
 * Errors: functions return 0 or a negative errno. -ENOSPC from a hashmap
 * backend means the task-heap pool is exhausted; the backend has already
 * recorded a one-line message naming the pool and memory.task.heap.size
 * (weir_keyed_backend_error) and the runtime fails the job with it.
 *
 * This header is the operator's half of keyed state: the handles above. The engine's
 * half (the state environment, opening backends, snapshots by key group) is not part of
 * the job API and lives in core/internal/weir/state_backend.h.
 */
#ifndef WEIR_STATE_H
#define WEIR_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct weir_config;

typedef struct weir_state_env weir_state_env;         /* one per process run */
typedef struct weir_keyed_backend weir_keyed_backend; /* one per keyed operator subtask */
typedef struct weir_value_state weir_value_state;
typedef struct weir_list_state weir_list_state;
typedef struct weir_map_state weir_map_state;
typedef struct weir_reducing_state weir_reducing_state;
typedef struct weir_aggregating_state weir_aggregating_state;

/* State TTL, as Flink's StateTtlConfig: entries expire ttl_ms after they were
 * last written (or read, with update_on_read); expired entries are never
 * returned and are removed (memory or disk space actually freed) by cleanup.
 * The clock is weir_keyed_backend_set_time's. A map's entries expire one by
 * one, as in Flink; a list expires as a whole, ttl_ms after its last add or
 * update (Flink times each element), and an add to an expired list starts a
 * new one. */
struct weir_state_ttl {
    int64_t ttl_ms;      /* 0 = no TTL */
    bool update_on_read; /* OnReadAndWrite instead of OnCreateAndWrite */
};

/* The namespace the state handles of be read and write from now on: 0, or a window (or
 * any 64-bit id) the operator selected, as Flink's setCurrentNamespace. The runtime sets
 * the current key before each record and timer; the namespace is the operator's. */
void weir_keyed_backend_set_namespace(weir_keyed_backend *be, uint64_t ns);

/* --- state handles (operators call these, usually in open) ----------------- */
/* Declaring the same name twice returns the same handle; a name declared
 * with another kind or size is an error (NULL). */
weir_value_state *weir_value_state_get(weir_keyed_backend *be, const char *name,
                                       uint32_t value_size, const struct weir_state_ttl *ttl);
const void *weir_value_get(weir_value_state *s); /* NULL when absent or expired */
int weir_value_put(weir_value_state *s, const void *value);
int weir_value_clear(weir_value_state *s);

weir_list_state *weir_list_state_get(weir_keyed_backend *be, const char *name, uint32_t elem_size,
                                     const struct weir_state_ttl *ttl);
int weir_list_add(weir_list_state *s, const void *elem);
/* All elements, contiguous, in insertion order; *n = 0 when absent. */
int weir_list_get(weir_list_state *s, const void **elems, uint32_t *n);
int weir_list_update(weir_list_state *s, const void *elems, uint32_t n); /* replace */
int weir_list_clear(weir_list_state *s);

weir_map_state *weir_map_state_get(weir_keyed_backend *be, const char *name, uint32_t key_size,
                                   uint32_t value_size, const struct weir_state_ttl *ttl);
const void *weir_map_get(weir_map_state *s, const void *ukey);
int weir_map_put(weir_map_state *s, const void *ukey, const void *value);
int weir_map_remove(weir_map_state *s, const void *ukey);
/* Calls fn for every entry of the current key and namespace (order unspecified
 * for hashmap, by key bytes for rocksdb); fn returns 0 to go on, 1 to stop,
 * < 0 to fail. fn must not modify this map state. */
int weir_map_iterate(weir_map_state *s, int (*fn)(void *arg, const void *ukey, const void *value),
                     void *arg);
bool weir_map_is_empty(weir_map_state *s);
int weir_map_clear(weir_map_state *s);

/* Reducing: value = reduce(value, in). */
typedef void (*weir_reduce_fn)(void *acc, const void *in);
weir_reducing_state *weir_reducing_state_get(weir_keyed_backend *be, const char *name,
                                             uint32_t value_size, weir_reduce_fn reduce,
                                             const struct weir_state_ttl *ttl);
int weir_reducing_add(weir_reducing_state *s, const void *in);
const void *weir_reducing_get(weir_reducing_state *s);
int weir_reducing_clear(weir_reducing_state *s);

/* Aggregating: acc = add(acc, in), starting from init(acc); result(acc, out). */
struct weir_aggregate_fn {
    uint32_t acc_size;
    uint32_t result_size;
    void (*init)(void *acc);
    void (*add)(void *acc, const void *in);
    /* For session windows, and sliding windows kept by slices (a window's result is the
     * merge of its slices'); may be NULL. */
    void (*merge)(void *acc, const void *other);
    void (*result)(const void *acc, void *out);
};
weir_aggregating_state *weir_aggregating_state_get(weir_keyed_backend *be, const char *name,
                                                   const struct weir_aggregate_fn *fn,
                                                   const struct weir_state_ttl *ttl);
int weir_aggregating_add(weir_aggregating_state *s, const void *in);
/* The current result into out (result_size bytes); 1 when absent, 0 when written. */
int weir_aggregating_get(weir_aggregating_state *s, void *out);
int weir_aggregating_clear(weir_aggregating_state *s);

/* --- snapshot streams ------------------------------------------------------ */
/* A byte sink in the style of Redis's rio: the same snapshot code writes to
 * an io_uring file, a memory buffer in a test, or a savepoint. */
struct weir_snapshot_out {
    int (*write)(struct weir_snapshot_out *o, const void *buf, size_t len);
    void *arg;
};
struct weir_snapshot_in {
    /* Reads exactly len bytes; -ENODATA at a clean end, -EIO when truncated. */
    int (*read)(struct weir_snapshot_in *in, void *buf, size_t len);
    void *arg;
    /* Bytes left to read; NULL where the source cannot tell. A reader that knows the
     * size reads a key group's snapshot in one call instead of field by field. */
    uint64_t (*remaining)(struct weir_snapshot_in *in);
};

#ifdef __cplusplus
}
#endif
#endif
