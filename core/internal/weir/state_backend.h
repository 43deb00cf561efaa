/*
 * Keyed state, the engine's half: the state environment of a run and the keyed
 * backend of one operator subtask (state.backend: hashmap | rocksdb), as the runtime,
 * the checkpoint module and the tests drive them. Operators see only the state
 * handles of <weir/state.h>, which this header includes.
 *
 *     weir_state_env *env;
 *     weir_keyed_backend *be;
 *     weir_state_env_new(cfg, "job", &env, err, sizeof err);
 *     weir_keyed_backend_open(env, "count", 0, 0, 127, 128, -1, &be, err, sizeof err);
 *     weir_keyed_backend_set_current_key(be, key, weir_key_group_of(key, 128));
 *     ... state handles read and write that key's entries ...
 *     weir_keyed_backend_snapshot_key_group(be, kg, &out);
 *     weir_keyed_backend_close(be);
 *     weir_state_env_free(env);
 *
 * Not installed: a job never calls these (core/internal is the engine's own folder).
 */
#ifndef WEIR_STATE_BACKEND_H
#define WEIR_STATE_BACKEND_H

#include <weir/state.h>

#ifdef __cplusplus
extern "C" {
#endif

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
/* The same in namespace ns (a window operator's window). */
void weir_keyed_backend_prefetch_ns(weir_keyed_backend *be, uint64_t key, uint32_t key_group,
                                    uint64_t ns);
/* Processing time used by TTL (ms); the runtime advances it. */
void weir_keyed_backend_set_time(weir_keyed_backend *be, int64_t now_ms);
/* The one-line reason of the last failure (pool exhausted, RocksDB error). */
const char *weir_keyed_backend_error(const weir_keyed_backend *be);

/* --- snapshots (checkpointing writes these through storage) ---------------- */
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
/* Brackets the restore of many key groups (restore.c: all of a subtask's), so that RocksDB
 * ingests them as one SST file when the run ends (an ingest costs fsyncs and a MANIFEST
 * write whatever its size) instead of one per key group: the key groups restored in between
 * are visible only after _end(be, true); _end(be, false), after a failed restore, drops them.
 * 0 or a negative errno (the reason in weir_keyed_backend_error); no-ops on the heap. */
int weir_keyed_backend_restore_run_begin(weir_keyed_backend *be);
int weir_keyed_backend_restore_run_end(weir_keyed_backend *be, bool commit);

/* Restoring a hashmap backend's key groups on several threads at once (checkpoint/restore.c,
 * state.backend.restore.threads). Between _begin and _end, with nothing else using the
 * backend, each thread calls _scratch with its own scratch on key groups no other thread
 * restores meanwhile (the files of a delta chain: one thread per key group, in order). A
 * failure's one-line reason is in that scratch's err, not in weir_keyed_backend_error. Tables
 * come from the backend's arena (its NUMA node) and are charged to the task-heap pool as
 * ever; _end settles the backend's own count of them. _begin returns 0, or -ENOTSUP for a
 * RocksDB backend (restore it on one thread: one write batch per key group, one instance).
 * A scratch holds a key group's bytes between calls (kept: fresh memory each time would be
 * zeroed by the kernel page by page); zero-initialize it, free it with
 * weir_restore_scratch_free. */
struct weir_restore_scratch {
    uint8_t *buf;
    size_t cap;
    char err[512];
};
int weir_keyed_backend_restore_parallel_begin(weir_keyed_backend *be);
void weir_keyed_backend_restore_parallel_end(weir_keyed_backend *be);
int weir_keyed_backend_restore_key_group_scratch(weir_keyed_backend *be, uint32_t kg,
                                                 struct weir_snapshot_in *in,
                                                 struct weir_restore_scratch *sc);
void weir_restore_scratch_free(struct weir_restore_scratch *sc);

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
    uint64_t cow_bytes;  /* hashmap: of heap_bytes, old versions kept for snapshots in flight */
    bool numa_bound;     /* hashmap: pages are bound to the backend's node (not first-touch) */
    /* rocksdb */
    uint64_t memtable_bytes;       /* rocksdb.cur-size-all-mem-tables */
    uint64_t write_buffer_size;    /* this instance's memtable size now */
    uint64_t block_cache_bytes;    /* usage of the cache all instances of the env share */
    uint64_t block_cache_capacity; /* its capacity */
    uint64_t sst_bytes;            /* rocksdb.total-sst-files-size */
    /* Calls of the operator's state handles (get, put, add, clear, ... of every state) since
     * the backend opened: a deterministic measure of per-record state work, which
     * tests/nexmark_queries/test_work_counters.c holds against committed figures. */
    uint64_t state_calls;
};
int weir_keyed_backend_stats_get(weir_keyed_backend *be, struct weir_keyed_backend_stats *st);

/* The numbers the metrics show, cheap enough for once a second (a few RocksDB properties, no
 * scan); call on the thread that owns the backend. state_bytes: hashmap, bytes charged to the
 * task heap pool; RocksDB, rocksdb.estimate-live-data-size. RocksDB only: memtable_bytes
 * (rocksdb.cur-size-all-mem-tables), block_cache_bytes (rocksdb.block-cache-usage of the
 * cache every instance of the env shares). */
struct weir_keyed_backend_gauges {
    uint64_t state_bytes, memtable_bytes, block_cache_bytes;
};
void weir_keyed_backend_gauges_get(weir_keyed_backend *be, struct weir_keyed_backend_gauges *g);

/* --- reading restored state (weir inspect, tools/inspect.c) ---------------- */

/* The states be knows, declared by an operator or registered by a restore: ids 0 to
 * weir_keyed_backend_state_count - 1, each with its name and kind ("value", "list", "map",
 * "reducing", "aggregating"). */
uint32_t weir_keyed_backend_state_count(const weir_keyed_backend *be);
const char *weir_keyed_backend_state_name(const weir_keyed_backend *be, uint32_t id,
                                          const char **kind);
/* Whether an operator declared state id; false for one only a restore registered (a state
 * of the snapshot that the job, upgraded, may no longer have). */
bool weir_keyed_backend_state_declared(const weir_keyed_backend *be, uint32_t id);
/* Deletes every entry of state id (--allow-non-restored-state: a restored state the job does
 * not declare); the state stays registered, empty. After a restore, before any snapshot. */
int weir_keyed_backend_state_drop(weir_keyed_backend *be, uint32_t id);

/* One live entry, as a snapshot writes it: user_key is NULL (ukey_len 0) except for map
 * state; value is the value, the accumulator or a list's elements back to back. A RocksDB
 * backend gives the entries of states nobody declared too (restored from an incremental
 * checkpoint written before it listed its states' names): state >= state_count. */
struct weir_keyed_entry {
    uint32_t state; /* its id */
    uint64_t key, ns;
    const void *user_key;
    uint32_t ukey_len;
    const void *value;
    size_t len;
};

/* Calls fn for each live entry of key group kg of be (expired ones left out), read-only;
 * fn's nonzero result ends the walk and is returned. 0 or a negative errno. */
int weir_keyed_backend_walk_key_group(weir_keyed_backend *be, uint32_t kg,
                                      int (*fn)(void *arg, const struct weir_keyed_entry *e),
                                      void *arg);

#ifdef __cplusplus
}
#endif
#endif
