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
 *   heap_cow.c       copy-on-write snapshot views of its tables (state_view.h)
 *   rocksdb.c        the RocksDB backend: environment, open/close, TTL filter, list merge
 *   rocksdb_ops.c    its per-kind operations
 *   rocksdb_snapshot.c  its half of a snapshot, cleanup, stats
 *   rocksdb_incremental.c  incremental checkpoints of a RocksDB backend (checkpoint_rocksdb.h)
 *   rocksdb_names.c  their list of the states' names and ids, matched by name on restore
 *   timers.c         the timer service on keyed state (timers.h)
 */
#ifndef WEIR_STATE_PRIVATE_H
#define WEIR_STATE_PRIVATE_H

#include <weir/state.h>
#include <weir/state_backend.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

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
    /* hashmap, per key group: the table's slots as pinned by snapshot views (heap_cow.c),
     * NULL when no view shares them. While set, nothing of that table may change in place:
     * every write first calls heap_unpin. */
    struct heap_pin **pins;
    /* hashmap, per key group: the (key, namespace) pairs changed since the last incremental
     * pin (heap_cow.c), NULL while the backend does not track them (be->track_dirty). */
    struct heap_dirty *dirty;
};

/* What changed in one key-group table of a state since the last incremental pin: a set of
 * (key, namespace) pairs, an htable whose slots are [hash][key][ns] (HEAP_DIRTY_SS bytes,
 * found with heap_outer_find), or whole: too much of the table changed (DIRTY_MOSTLY) or no
 * memory for the set (DIRTY_NOMEM), so the next delta writes the table whole. */
enum { DIRTY_MOSTLY = 1, DIRTY_NOMEM = 2 };
struct heap_dirty {
    struct htable set;
    uint8_t whole; /* 0, DIRTY_MOSTLY or DIRTY_NOMEM */
};
#define HEAP_DIRTY_SS 24u

/* A key group's table (slots, and the lists and maps they point to) shared between the
 * live state and snapshot views. refs: views holding it, plus 1 while the live table still
 * uses these slots. The last one to let go frees it, on whichever thread. */
struct heap_pin {
    _Atomic uint32_t refs;
    uint8_t *slots;
    uint32_t cap, count;
    uint64_t bytes; /* a deep copy's size, counted in be->cow_bytes once copied */
    struct kstate *s;
};

struct heap_arena; /* heap.c */
struct rdb;        /* rocksdb.c */

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
    uint64_t calls; /* state calls of the operator (weir_keyed_backend_stats.state_calls) */

    char err[512];
    /* snapshot.c: a key group's snapshot read whole on restore, kept for the next one (fresh
     * memory for each would be zeroed by the kernel page by page); freed at close */
    uint8_t *restore_buf;
    size_t restore_cap;

    /* hashmap */
    struct heap_arena *arena;
    int mflags;          /* mallocx flags: arena and tcache */
    unsigned tcache;     /* explicit jemalloc tcache, 0 = none */
    uint64_t heap_bytes; /* charged to the task-heap pool by this backend */
    /* copy-on-write snapshots (heap_cow.c): views not yet released, bytes of old versions
     * kept for views (the extra memory of copy-on-write, in the task-heap pool), and the
     * views a full pool may cancel (cow_list: pinned and not yet letting go; under cow_lock) */
    pthread_mutex_t cow_lock;
    pthread_cond_t cow_cond;
    int cow_views;
    struct weir_keyed_view *cow_list;
    struct weir_keyed_backend *env_next; /* in env->heaps, under env->lock */
    _Atomic uint64_t cow_bytes;
    _Atomic uint64_t freed_other; /* freed by a view's writer, not yet off heap_bytes */
    bool track_dirty;             /* since the first incremental pin: kstate.dirty kept */
    /* A parallel restore (weir_keyed_backend_restore_parallel_begin .. _end): several threads
     * restore distinct key groups at once. Set and cleared with no other thread in the
     * backend. Meanwhile charges go to par_bytes (folded into heap_bytes at the end), gen is
     * left alone (bumped once at the end: nothing caches a slot during a restore), states
     * are registered under par_lock and allocations bypass the backend's one tcache. */
    bool par_restore;
    _Atomic int64_t par_bytes;
    int par_mflags; /* mflags before the parallel restore */
    pthread_mutex_t par_lock;

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
    struct weir_keyed_backend *heaps; /* open hashmap backends (heap_cow_reclaim), under lock */
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

/* Flink's MurmurHash finalizer; over (key, namespace) it is the hashmap backend's slot hash,
 * odd so that 0 can mark an empty slot. The current key (state.c) and a restored entry's
 * key (heap_snapshot.c) hash alike. */
static inline uint64_t state_mix64(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

static inline uint64_t state_key_hash(uint64_t key, uint64_t ns)
{
    return state_mix64(key ^ (ns * 0x9e3779b97f4a7c15ull)) | 1;
}

/* Internal functions bind inside libweir (no PLT hop on the per-record path). */
#pragma GCC visibility push(hidden)

/* state.c */
#define MAX_KEY_SIZE 1024u /* a map's user key */

int state_err(weir_keyed_backend *be, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Empties the error state_err would write now (the backend's, or a parallel restore
 * thread's own: weir_keyed_backend_restore_key_group_scratch). */
void state_err_clear(weir_keyed_backend *be);
/* The restore scratch of the calling thread while it is in
 * weir_keyed_backend_restore_key_group_scratch, else NULL. */
struct weir_restore_scratch *state_restore_scratch(void);
void state_restore_scratch_set(struct weir_restore_scratch *sc);
/* be->gen++, except during a parallel restore (see par_restore). */
static inline void state_gen_bump(weir_keyed_backend *be)
{
    if (!be->par_restore)
        be->gen++;
}
int64_t state_now(const weir_keyed_backend *be);
bool state_expired(const struct kstate *s, int64_t ts, int64_t now);
/* The state named name, registered now if new; NULL (with the backend's error) when a
 * state of that name differs in kind, sizes or TTL. */
struct kstate *state_declare(weir_keyed_backend *be, const char *name, enum state_kind kind,
                             uint32_t key_size, uint32_t value_size,
                             const struct weir_state_ttl *ttl, bool from_restore);

/* A key group's entries as the snapshot writer takes them. ukey is NULL except for map
 * entries; ts is ignored for states without TTL; payload is the value, the accumulator or
 * the list's elements back to back. A delta (heap_cow.c) also gives, with payload NULL,
 * len STATE_EMIT_TOMBSTONE: (key, ns) is gone (a map: all its user keys), or len
 * STATE_EMIT_CLEAR: the state's whole table of this key group goes (key, ns ignored). */
#define STATE_EMIT_TOMBSTONE 0u
#define STATE_EMIT_CLEAR     1u
typedef int (*state_emit_fn)(void *arg, struct kstate *s, uint64_t key, uint64_t ns,
                             const void *ukey, int64_t ts, const void *payload, size_t len);

/* snapshot.c: a state descriptor's fixed part as snapshots write it (its format note), 22
 * bytes before the name: from s with a name of nl bytes, and back (ttl as a declaration
 * takes it). The list of an incremental RocksDB checkpoint's states uses it too. */
#define STATE_DESC_BYTES 22
struct state_desc {
    uint16_t id, name_len;
    uint8_t kind;
    uint32_t key_size, value_size;
    struct weir_state_ttl ttl;
};
void state_desc_encode(const struct kstate *s, uint16_t nl, uint8_t d[STATE_DESC_BYTES]);
void state_desc_decode(const uint8_t d[STATE_DESC_BYTES], struct state_desc *sd);

/* heap*.c */
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
/* The entries of one table (slots, cap) of s, as heap_snapshot_kg walks them. */
int heap_walk_table(struct kstate *s, const uint8_t *slots, uint32_t cap, int64_t now,
                    state_emit_fn emit, void *arg);
/* heap_cow.c: before any change to table kgi of s, gives the live table its own copy when
 * a view still reads the pinned one (0, or -ENOSPC with the pool's error). */
int heap_unpin_slow(struct kstate *s, uint32_t kgi);
static inline int heap_unpin(struct kstate *s, uint32_t kgi)
{
    return s->pins[kgi] ? heap_unpin_slow(s, kgi) : 0;
}
/* Unpins table kgi when no view holds it any more (no copy); true when it is still pinned. */
bool heap_still_pinned(struct kstate *s, uint32_t kgi);
/* Waits for every view of be to be released and frees what they left (before close). */
void heap_cow_quiesce(weir_keyed_backend *be);
/* heap_cow.c, on be's worker when the task-heap pool has no room for `want` more bytes:
 * cancels the views that hold copies, of be and of every other hashmap backend of the env
 * (their checkpoints fail with the named error), and frees what only they held; true when
 * the charge is worth retrying. Never waits for a view's writer, only for views already
 * letting go. */
bool heap_cow_reclaim(weir_keyed_backend *be, uint64_t want);
/* heap_cow.c: be in, and out of, the env's list of hashmap backends that heap_cow_reclaim
 * walks (open, close). */
void heap_cow_join_env(weir_keyed_backend *be);
void heap_cow_leave_env(weir_keyed_backend *be);
void heap_cow_init(weir_keyed_backend *be);
struct weir_keyed_view;
int heap_view_walk_kg(struct weir_keyed_view *v, uint32_t kgi, state_emit_fn emit, void *arg);
const weir_keyed_backend *heap_view_backend(const struct weir_keyed_view *v);
char *heap_view_err(struct weir_keyed_view *v);
uint32_t heap_view_states(struct weir_keyed_view *v, struct kstate ***states);
void heap_cow_fini(weir_keyed_backend *be);
int heap_restore_entry(struct kstate *s, uint32_t kgi, uint64_t key, uint64_t ns, const void *ukey,
                       int64_t ts, const void *payload, size_t len);
/* A delta's tombstone of (key, ns), or (clear) the state's whole table kgi. */
int heap_restore_remove(struct kstate *s, uint32_t kgi, uint64_t key, uint64_t ns, bool clear);
/* One outer slot's entries as heap_walk_table gives them; a delta (tombstone_first) gives a
 * map's tombstone before its entries, and a tombstone for an expired value or list. */
int heap_walk_slot(struct kstate *s, const uint8_t *sl, int64_t now, bool delta, state_emit_fn emit,
                   void *arg);
/* heap_cow.c: records that (h, key, ns) of table kgi of s changed (tracking on). */
void heap_dirty_mark_slow(struct kstate *s, uint32_t kgi, uint64_t h, uint64_t key, uint64_t ns);
static inline void heap_dirty_mark(struct kstate *s, uint32_t kgi, uint64_t h, uint64_t key,
                                   uint64_t ns)
{
    if (s->dirty)
        heap_dirty_mark_slow(s, kgi, h, key, ns);
}
/* Allocates s->dirty when its backend tracks changes (a state declared after the first
 * incremental pin); frees it. */
int heap_dirty_init(struct kstate *s);
void heap_dirty_free(struct kstate *s);
/* Room in table kgi of s for n more entries, in one allocation, before a restore inserts them
 * (a map's user keys live in per-key tables: nothing is reserved for them). */
int heap_restore_reserve(struct kstate *s, uint32_t kgi, uint64_t n);
/* heap.c: what weir_keyed_backend_restore_parallel_begin/_end change in the allocator. */
void heap_restore_parallel_begin(weir_keyed_backend *be);
void heap_restore_parallel_end(weir_keyed_backend *be);
void heap_prefetch(weir_keyed_backend *be, uint64_t h, uint32_t kgi);
int heap_cleanup(weir_keyed_backend *be);
void heap_stats(weir_keyed_backend *be, struct weir_keyed_backend_stats *st);

/* heap*.c, between its files: the memory of the task-heap pool (heap.c) and the tables
 * (heap_table.c). */
void *heap_alloc(weir_keyed_backend *be, size_t size, bool zero);
void heap_free(weir_keyed_backend *be, void *p);
void heap_free_other(weir_keyed_backend *be, void *p);
void heap_settle_frees(weir_keyed_backend *be);
/* Memory kept for snapshot views that is not the backend's own (timers.c's retired
 * versions): n bytes charged to the pool and counted in cow_bytes (the worker; a full pool
 * first cancels the keyed views holding copies, as a write does), -ENOSPC when they do not
 * fit even then; let go of on any thread. */
int heap_hold(weir_keyed_backend *be, size_t n);
void heap_unhold_other(weir_keyed_backend *be, size_t n);
/* COW_STARVED_MSG's values for be (its pool, its use with want more, its held bytes) in fmt,
 * a format of that shape, into buf. */
void heap_cow_starved_why(weir_keyed_backend *be, uint64_t want, const char *fmt, char *buf,
                          size_t len);
void *heap_realloc(weir_keyed_backend *be, void *p, size_t size);
int heap_tab_resize(weir_keyed_backend *be, struct htable *t, uint32_t ss, uint32_t newcap);
int heap_tab_reserve_one(weir_keyed_backend *be, struct htable *t, uint32_t ss);
/* Grows t once so that n more entries fit under the load factor heap_tab_reserve_one keeps. */
int heap_tab_reserve(weir_keyed_backend *be, struct htable *t, uint32_t ss, uint64_t n);
uint32_t heap_fit_cap(uint32_t count);
uint64_t heap_ukey_hash(const void *ukey, uint32_t n);
bool heap_sub_find(const struct kstate *s, const struct htable *t, uint64_t h, const void *ukey,
                   uint32_t *idx);
void heap_remove_outer(struct kstate *s, struct htable *t, uint32_t idx, bool shrink);
bool heap_outer_expired(struct kstate *s, uint8_t *sl, int64_t now);
int heap_list_reserve(struct kstate *s, struct hlist *l, uint32_t n);

static inline uint8_t *heap_slot_at(const struct htable *t, uint32_t ss, uint32_t i)
{
    return t->slots + (size_t)i * ss;
}

static inline uint64_t heap_slot_hash(const uint8_t *sl)
{
    return *(const uint64_t *)sl;
}

static inline uint32_t heap_home_of(uint64_t h, uint32_t cap)
{
    return (uint32_t)(h >> 1) & (cap - 1);
}

static inline bool heap_outer_find(const struct htable *t, uint32_t ss, uint64_t h, uint64_t key,
                                   uint64_t ns, uint32_t *idx)
{
    uint32_t mask = t->cap - 1, i = heap_home_of(h, t->cap);
    for (;;) {
        const uint64_t *sl = (const uint64_t *)heap_slot_at(t, ss, i);
        if (sl[0] == 0) {
            *idx = i;
            return false;
        }
        if (sl[0] == h && sl[1] == key && sl[2] == ns) {
            *idx = i;
            return true;
        }
        i = (i + 1) & mask;
    }
}

static inline int64_t *heap_ts_of(const struct kstate *s, uint8_t *sl)
{
    return (int64_t *)(sl + s->off_ts);
}

/* rocksdb*.c */
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
/* weir inspect (weir_keyed_backend_walk_key_group): every entry of key group kg by its state
 * id, those of states nobody declared too (an incremental checkpoint written before it listed
 * its states' names): their user key is what follows the namespace, their value what follows
 * the timestamp when the id's TTL bit is set. */
int rdb_walk_raw_kg(weir_keyed_backend *be, uint32_t kg,
                    int (*fn)(void *arg, const struct weir_keyed_entry *e), void *arg);
int rdb_restore_begin(weir_keyed_backend *be);
int rdb_restore_entry(struct kstate *s, uint32_t kg, uint64_t key, uint64_t ns, const void *ukey,
                      int64_t ts, const void *payload, size_t len);
int rdb_restore_end(weir_keyed_backend *be, bool commit);
int rdb_restore_run_begin(weir_keyed_backend *be);
int rdb_restore_run_end(weir_keyed_backend *be, bool commit);
int rdb_flush(weir_keyed_backend *be);
/* rocksdb_names.c: deletes every entry of s, key group by key group (one range each). */
int rdb_drop_state(struct kstate *s);
int rdb_cleanup(weir_keyed_backend *be);
void rdb_stats(weir_keyed_backend *be, struct weir_keyed_backend_stats *st);
void rdb_gauges(weir_keyed_backend *be, struct weir_keyed_backend_gauges *g);

/* rocksdb*.c, between its files: the instance of a backend and the key layout (rocksdb.c's
 * note). */
#define KEY_PREFIX 20
#define TTL_BIT    0x8000u

struct rdb {
    weir_keyed_backend *be;
    rocksdb_t *db;
    rocksdb_options_t *opts;
    rocksdb_writeoptions_t *wo;
    rocksdb_readoptions_t *ro;
    rocksdb_compactionfilter_t *filter;
    rocksdb_writebatch_t *batch; /* restore of a small key group */
    struct rdb_restore *restore; /* restore: the key group's entries (rocksdb_snapshot.c) */
    char *dir;
    uint8_t *kbuf; /* the current key's prefix, then a user key */
    size_t kcap;
    uint8_t *vbuf; /* a value being written */
    size_t vcap;
    uint8_t *obuf; /* what a get returned: 16-byte aligned, valid until the next call */
    size_t ocap;
    uint64_t write_buffer_size;
    struct rdb *next;                  /* env->instances */
    _Atomic int64_t ttl_ms[STATE_MAX]; /* by state id; 0: no TTL */
    /* Snapshot views in flight (weir_rocks_view): the backend's close waits for them. */
    pthread_mutex_t view_lock;
    pthread_cond_t view_cond;
    int views;
    bool view_sync; /* view_lock and view_cond initialized */
};

static inline void rdb_put_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static inline void rdb_put_be64(uint8_t *p, uint64_t v)
{
    v = __builtin_bswap64(v);
    memcpy(p, &v, 8);
}

static inline uint64_t rdb_get_be64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return __builtin_bswap64(v);
}

static inline int64_t rdb_get_ts(const char *v)
{
    int64_t ts;
    memcpy(&ts, v, 8);
    return ts;
}

static inline uint16_t rdb_sid_of(const struct kstate *s)
{
    return (uint16_t)(s->id | (s->ttl ? TTL_BIT : 0));
}

int rdb_grow(uint8_t **buf, size_t *cap, size_t need);
/* A RocksDB snapshot view (rocksdb_snapshot.c): its backend, the states it pinned, and the
 * walk of one key group as it was at the pin; errors go to the view's own message. */
struct weir_rocks_view;
/* Waits until no view of be's instance is in flight (they read its states, its instance):
 * first thing when the backend closes. */
void rdb_views_quiesce(weir_keyed_backend *be);
const weir_keyed_backend *rdb_view_backend(const struct weir_rocks_view *v);
char *rdb_view_err(struct weir_rocks_view *v);
uint32_t rdb_view_states(struct weir_rocks_view *v, struct kstate ***states);
int rdb_view_walk_kg(struct weir_rocks_view *v, uint32_t kg, state_emit_fn emit, void *arg);
void rdb_restore_free(struct rdb *r);
/* A RocksDB error as the backend's one-line reason; frees the message; -EIO. */
int rdb_err(weir_keyed_backend *be, char *msg);
/* Walks the entries whose key starts with prefix; fn gets each key and raw value. */
int rdb_scan(struct rdb *r, const uint8_t *prefix, size_t plen,
             int (*fn)(void *arg, const char *k, size_t kl, const char *v, size_t vl), void *arg);

/* For incremental checkpoints (rocksdb_incremental.c): whether be is a RocksDB backend with
 * an open instance, and that instance's handles and directory. */
bool rdb_is_rocksdb(const weir_keyed_backend *be);
void rdb_handles(weir_keyed_backend *be, rocksdb_t **db, rocksdb_options_t **opts,
                 rocksdb_writeoptions_t **wo, const char **dir);
/* Moves the SST file at path into db (RocksDB's IngestExternalFile, move_files): to the
 * bottommost level where no file overlaps it, with a sequence number above every entry db
 * holds. 0, or -EIO with RocksDB's reason in *msg (free with rocksdb_free). */
int rdb_ingest_file(rocksdb_t *db, const char *path, char **msg);
/* Makes the RocksDB instance in dir (a checkpoint rebuilt beside the live one) be's own, in
 * place of its live instance; on failure be has an empty instance again. */
int rdb_adopt_instance(weir_keyed_backend *be, const char *dir, char *err, size_t errlen);

#pragma GCC visibility pop

/* For the benchmark's raw RocksDB peer: a copy of the options an instance of env opens with
 * (the shared block cache, write buffer size, no WAL is in the write options below), without
 * the backend's merge operator and compaction filter. Destroy with rocksdb_options_destroy. */
rocksdb_options_t *state_rocksdb_options_new(weir_state_env *env);
rocksdb_writeoptions_t *state_rocksdb_writeoptions_new(void);

#endif
