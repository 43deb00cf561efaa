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

/* --- environment and backends (the runtime calls these) ------------------- */

/* Reads state.backend, state.backend.rocksdb.localdir and the memory pools
 * (task heap for hashmap, managed for RocksDB's shared block cache and write
 * buffer manager) from a resolved config. */
int weir_state_env_new(const struct weir_config *cfg, const char *job_name, weir_state_env **out,
                       char *err, size_t errlen);
void weir_state_env_free(weir_state_env *env);
const char *weir_state_env_backend_name(const weir_state_env *env); /* "hashmap" | "rocksdb" */
uint64_t weir_state_env_heap_bytes(const weir_state_env *env); /* bytes charged to task heap now */

/* Key groups [kg_first, kg_last] of max_parallelism; numa_node -1 = any. */
int weir_keyed_backend_open(weir_state_env *env, const char *operator_uid, int subtask,
                            uint32_t kg_first, uint32_t kg_last, uint32_t max_parallelism,
                            int numa_node, weir_keyed_backend **out, char *err, size_t errlen);
void weir_keyed_backend_close(weir_keyed_backend *be);
void weir_keyed_backend_set_current_key(weir_keyed_backend *be, uint64_t key, uint32_t key_group);
uint64_t weir_keyed_backend_current_key(const weir_keyed_backend *be);
/* A hint, for the runtime's batch loop: the record after next (or a few after) will set this
 * key, in namespace 0. The hashmap backend starts loading that key's slot in each state's
 * table, so the cache misses of several records overlap instead of queueing one after the
 * other (a million random keys: about 2x the operations per second). RocksDB: no-op. */
void weir_keyed_backend_prefetch(weir_keyed_backend *be, uint64_t key, uint32_t key_group);
void weir_keyed_backend_set_namespace(weir_keyed_backend *be, uint64_t ns);
/* Processing time used by TTL (ms); the runtime advances it. */
void weir_keyed_backend_set_time(weir_keyed_backend *be, int64_t now_ms);
/* The one-line reason of the last failure (pool exhausted, RocksDB error). */
const char *weir_keyed_backend_error(const weir_keyed_backend *be);

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
    void (*merge)(void *acc, const void *other); /* for merging (session) windows; may be NULL */
    void (*result)(const void *acc, void *out);
};
weir_aggregating_state *weir_aggregating_state_get(weir_keyed_backend *be, const char *name,
                                                   const struct weir_aggregate_fn *fn,
                                                   const struct weir_state_ttl *ttl);
int weir_aggregating_add(weir_aggregating_state *s, const void *in);
/* The current result into out (result_size bytes); 1 when absent, 0 when written. */
int weir_aggregating_get(weir_aggregating_state *s, void *out);
int weir_aggregating_clear(weir_aggregating_state *s);

/* --- snapshots (checkpointing writes these through storage) ---------------- */
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
};
/* Every live entry of key group kg, in a backend-independent format (so a
 * hashmap snapshot restores into rocksdb and vice versa). */
int weir_keyed_backend_snapshot_key_group(weir_keyed_backend *be, uint32_t kg,
                                          struct weir_snapshot_out *out);
/* Restores one key group's entries written by snapshot_key_group, into a
 * backend that owns kg (any parallelism, same max parallelism). States are
 * matched by name; ones the operator has not declared yet are registered from
 * the snapshot and matched when it does. Errors: -EIO for truncated or corrupt
 * input (checksum), -EINVAL for another key group or max parallelism or a
 * state of another shape, -ERANGE for a key group the backend does not own;
 * after an error the key group may be partly restored (the job fails). */
int weir_keyed_backend_restore_key_group(weir_keyed_backend *be, uint32_t kg,
                                         struct weir_snapshot_in *in);

/* --- maintenance and introspection ----------------------------------------- */

/* The key groups this backend owns, [*first, *last]. */
void weir_keyed_backend_key_groups(const weir_keyed_backend *be, uint32_t *first, uint32_t *last);

/* Removes every expired entry now and gives the room back: hashmap entries are freed and
 * tables shrink (the pool's bytes go down); RocksDB flushes and compacts its whole range, so
 * the compaction filter drops expired entries and their disk space. Reads and writes of TTL
 * state already clean up as they go (hashmap: expired entries met by a read, and a few slots
 * per write; RocksDB: expired entries met by a read, and every compaction); this is the full
 * pass, for a quiet moment or a test. Returns 0 or a negative errno. */
int weir_keyed_backend_cleanup(weir_keyed_backend *be);

/* RocksDB: writes the memtables out to SST files and waits (what a native checkpoint of the
 * instance wants first). hashmap: nothing to do. Returns 0 or a negative errno. */
int weir_keyed_backend_flush(weir_keyed_backend *be);

struct weir_keyed_backend_stats {
    uint64_t entries;    /* stored entries, expired ones not yet removed included; one per
                            (key, namespace) and, for map state, one per user key. RocksDB:
                            counted by a scan of the instance, so not for a hot path. */
    uint64_t heap_bytes; /* charged to the task-heap pool by this backend (hashmap) */
    bool numa_bound;     /* hashmap: pages are bound to the backend's node (not first-touch) */
    /* rocksdb */
    uint64_t memtable_bytes;       /* rocksdb.cur-size-all-mem-tables */
    uint64_t write_buffer_size;    /* this instance's memtable size now */
    uint64_t block_cache_bytes;    /* usage of the cache all instances of the env share */
    uint64_t block_cache_capacity; /* its capacity */
    uint64_t sst_bytes;            /* rocksdb.total-sst-files-size */
};
int weir_keyed_backend_stats_get(weir_keyed_backend *be, struct weir_keyed_backend_stats *st);

#ifdef __cplusplus
}
#endif
#endif
