/*
 * What the keyed-state files share: the inside of a weir_state_env, a weir_keyed_backend and
 * a state handle, and each backend's internals. Not part of the API; the benchmark uses
 * state_rocksdb_options_new only to give the raw RocksDB peer the very options the backend
 * uses.
 *
 *   state.c          the environment, opening a backend, the registry of states by name,
 *                    dispatch of every state operation to a backend
 *   snapshot.c       the snapshot of one key group: format, writer, reader
 *   heap.c           the hashmap backend: arenas, the task-heap pool, open/close, cleanup,
 *                    stats
 *   heap_table.c     its tables and the per-kind operations
 *   heap_snapshot.c  its half of a snapshot (walking a key group, taking entries back)
 *   rocksdb.c        the RocksDB backend: environment, open/close, TTL filter, list merge
 *   rocksdb_ops.c    its per-kind operations
 *   rocksdb_snapshot.c  its half of a snapshot, cleanup, stats
 *   rocksdb_incremental.c  incremental checkpoints of a RocksDB backend (checkpoint_rocksdb.h)
 *   timers.c         the timer service on keyed state (timers.h)
 */
#ifndef WEIR_STATE_PRIVATE_H
#define WEIR_STATE_PRIVATE_H

#include <weir/state.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <rocksdb/c.h>

/* States per backend. RocksDB keys carry the state id in 15 bits (the 16th says "has TTL"),
 * and the compaction filter finds a state's TTL by id in a fixed array, so the bound is
 * fixed; an operator with more than a few dozen states is already unusual. */
#define STATE_MAX 1024

/* How many slots a write to a TTL state examines for expired entries (hashmap): Flink's
 * incremental cleanup default. */
#define TTL_CLEANUP_STEP 5

enum state_kind { KIND_VALUE, KIND_LIST, KIND_MAP, KIND_REDUCING, KIND_AGGREGATING };

enum backend_kind { BACKEND_HASHMAP, BACKEND_ROCKSDB };

/* An open-addressing table with linear probing and backward-shift deletion (no tombstones).
 * Each slot starts with its 64-bit hash, odd when the slot is used and 0 when it is empty, so
 * growing and deleting never need the key. cap is 0 (nothing allocated) or a power of two. */
struct htable {
    uint8_t *slots;
    uint32_t cap, count;
};

/* One list value (hashmap): elements back to back. */
struct hlist {
    uint8_t *elems;
    uint32_t n, cap;
};

struct kstate {
    weir_keyed_backend *be;
    char *name;
    uint16_t id; /* index in be->states; RocksDB key bytes 2-3 */
    enum state_kind kind;
    bool declared;       /* by an operator; false while it only came from a restore */
    bool ttl;            /* entries carry a timestamp; fixed at the first registration */
    bool update_on_read; /* TTL refreshed by reads too */
    int64_t ttl_ms;
    uint32_t key_size;   /* map: user key bytes; 0 otherwise */
    uint32_t value_size; /* value, list element, map value, reducing value, aggregate acc */
    weir_reduce_fn reduce;
    struct weir_aggregate_fn agg;

    /* hashmap: one table per key group of the backend, keyed by (key, namespace). A slot is
     * [hash][key][ns][ts when ttl][payload], payload = value bytes (rounded up to 8), a
     * struct hlist (list) or a struct htable * (map: a per-(key, ns) table of user keys whose
     * slots are [hash][user key, rounded][ts when ttl][value, rounded]). */
    struct htable *tabs;
    uint32_t slot_size, off_ts, off_val;             /* outer slots */
    uint32_t sub_slot_size, sub_off_ts, sub_off_val; /* map sub-table slots */
    /* The slot the last lookup of the current key ended on, valid while be->gen is c_gen:
     * a put right after a get costs no second probe. */
    uint64_t c_gen;
    uint32_t c_idx;
    bool c_found;
    bool iterating;             /* inside weir_map_iterate: reads must not move entries */
    uint32_t cur_kgi, cur_slot; /* incremental TTL cleanup cursor */
};

struct heap_arena; /* state_heap.c */
struct rdb;        /* state_rocksdb.c */

struct weir_keyed_backend {
    weir_state_env *env;
    enum backend_kind kind;
    char *uid;
    int subtask;
    uint32_t kg_first, kg_last, max_parallelism, nkg;
    int numa_node;

    /* The current key, as set by the runtime before each record or timer. */
    uint64_t key, ns, h;    /* h: hash of (key, ns), shared by all states of the backend */
    uint32_t kg, kgi;       /* kgi = kg - kg_first */
    bool kg_bad;            /* kg outside [kg_first, kg_last]: every state operation refuses */
    uint64_t gen;           /* bumped by anything that can move a hashmap slot or change the key */
    _Atomic int64_t now_ms; /* read by RocksDB's compaction filter threads */

    struct kstate **states;
    uint32_t nstates;

    char err[512];

    /* hashmap */
    struct heap_arena *arena;
    int mflags;          /* mallocx flags: arena and tcache */
    unsigned tcache;     /* explicit jemalloc tcache, 0 = none */
    uint64_t heap_bytes; /* charged to the task-heap pool by this backend */

    /* rocksdb */
    struct rdb *rdb;
};

#define HEAP_MAX_NODES 64

struct weir_state_env {
    enum backend_kind kind;
    char *job;
    pthread_mutex_t lock; /* arenas, the list of RocksDB instances */
    int open_backends;

    /* task-heap pool, shared by every hashmap backend of the process */
    uint64_t heap_limit;
    _Atomic uint64_t heap_used;
    struct heap_arena *arenas[HEAP_MAX_NODES + 1]; /* [0] any node, [n + 1] node n */
    void *topo;                                    /* hwloc_topology_t, loaded on first bind */

    /* rocksdb */
    char *localdir; /* as configured, or the default */
    char *jobdir;   /* localdir/job */
    bool managed;   /* memory sized from the managed pool */
    uint64_t managed_bytes, cache_bytes, write_buffer_bytes;
    double write_buffer_ratio, high_prio_ratio;
    rocksdb_options_t *base_opts; /* holds the one block cache every instance shares */
    struct rdb *instances;        /* open ones, to rebalance write buffers */
    int n_instances;
};

static inline struct kstate *KS(const void *handle)
{
    return (struct kstate *)handle;
}

/* Internal functions bind inside libweir (no PLT hop on the per-record path). */
#pragma GCC visibility push(hidden)

/* state.c */
#define MAX_KEY_SIZE 1024u /* a map's user key */

int state_err(weir_keyed_backend *be, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int64_t state_now(const weir_keyed_backend *be);
bool state_expired(const struct kstate *s, int64_t ts, int64_t now);
/* The state named name, registered now if new; NULL (with the backend's error) when a
 * state of that name differs in kind, sizes or TTL. */
struct kstate *state_declare(weir_keyed_backend *be, const char *name, enum state_kind kind,
                             uint32_t key_size, uint32_t value_size,
                             const struct weir_state_ttl *ttl, bool from_restore);

/* A key group's entries as the snapshot writer takes them. ukey is NULL except for map
 * entries; ts is ignored for states without TTL; payload is the value, the accumulator or
 * the list's elements back to back. */
typedef int (*state_emit_fn)(void *arg, struct kstate *s, uint64_t key, uint64_t ns,
                             const void *ukey, int64_t ts, const void *payload, size_t len);

/* state_heap.c */
int heap_env_init(weir_state_env *env);
void heap_env_fini(weir_state_env *env);
int heap_backend_open(weir_keyed_backend *be, char *err, size_t errlen);
void heap_backend_close(weir_keyed_backend *be);
int heap_state_init(struct kstate *s);
void heap_state_free(struct kstate *s);
const void *heap_value_get(struct kstate *s);
int heap_value_put(struct kstate *s, const void *value);
int heap_clear(struct kstate *s);
int heap_reduce(struct kstate *s, const void *in); /* reducing and aggregating add */
int heap_list_add(struct kstate *s, const void *elem);
int heap_list_get(struct kstate *s, const void **elems, uint32_t *n);
int heap_list_update(struct kstate *s, const void *elems, uint32_t n);
const void *heap_map_get(struct kstate *s, const void *ukey);
int heap_map_put(struct kstate *s, const void *ukey, const void *value);
int heap_map_remove(struct kstate *s, const void *ukey);
int heap_map_iterate(struct kstate *s, int (*fn)(void *, const void *, const void *), void *arg);
bool heap_map_is_empty(struct kstate *s);
int heap_snapshot_kg(weir_keyed_backend *be, uint32_t kgi, state_emit_fn emit, void *arg);
int heap_restore_entry(struct kstate *s, uint32_t kgi, uint64_t key, uint64_t ns, const void *ukey,
                       int64_t ts, const void *payload, size_t len);
void heap_prefetch(weir_keyed_backend *be, uint64_t h, uint32_t kgi);
int heap_cleanup(weir_keyed_backend *be);
void heap_stats(weir_keyed_backend *be, struct weir_keyed_backend_stats *st);

/* state_rocksdb.c */
int rdb_env_init(weir_state_env *env, char *err, size_t errlen);
void rdb_env_fini(weir_state_env *env);
int rdb_backend_open(weir_keyed_backend *be, char *err, size_t errlen);
void rdb_backend_close(weir_keyed_backend *be);
void rdb_state_init(struct kstate *s);
void rdb_set_current_key(weir_keyed_backend *be);
void rdb_set_namespace(weir_keyed_backend *be);
const void *rdb_value_get(struct kstate *s);
int rdb_value_put(struct kstate *s, const void *value);
int rdb_clear(struct kstate *s);
int rdb_reduce(struct kstate *s, const void *in);
int rdb_list_add(struct kstate *s, const void *elem);
int rdb_list_get(struct kstate *s, const void **elems, uint32_t *n);
int rdb_list_update(struct kstate *s, const void *elems, uint32_t n);
const void *rdb_map_get(struct kstate *s, const void *ukey);
int rdb_map_put(struct kstate *s, const void *ukey, const void *value);
int rdb_map_remove(struct kstate *s, const void *ukey);
int rdb_map_iterate(struct kstate *s, int (*fn)(void *, const void *, const void *), void *arg);
bool rdb_map_is_empty(struct kstate *s);
int rdb_snapshot_kg(weir_keyed_backend *be, uint32_t kg, state_emit_fn emit, void *arg);
int rdb_restore_begin(weir_keyed_backend *be);
int rdb_restore_entry(struct kstate *s, uint32_t kg, uint64_t key, uint64_t ns, const void *ukey,
                      int64_t ts, const void *payload, size_t len);
int rdb_restore_end(weir_keyed_backend *be, bool commit);
int rdb_flush(weir_keyed_backend *be);
int rdb_cleanup(weir_keyed_backend *be);
void rdb_stats(weir_keyed_backend *be, struct weir_keyed_backend_stats *st);

#pragma GCC visibility pop

/* For the benchmark's raw RocksDB peer: a copy of the options an instance of env opens with
 * (the shared block cache, write buffer size, no WAL is in the write options below), without
 * the backend's merge operator and compaction filter. Destroy with rocksdb_options_destroy. */
rocksdb_options_t *state_rocksdb_options_new(weir_state_env *env);
rocksdb_writeoptions_t *state_rocksdb_writeoptions_new(void);

#endif
