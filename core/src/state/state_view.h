/*
 * Copy-on-write snapshot views of a hashmap keyed backend (heap_cow.c), for the task side of
 * a checkpoint (checkpoint/snapshot.c).
 *
 * Pinning is the synchronous part of a heap snapshot: on the backend's worker, it takes a
 * reference to every key group's table of every state (a pointer and a count each, never the
 * entries), so it costs the same at any state size. From then on the worker's first change
 * to a pinned table gives the live state its own copy of that key group's table (its
 * slots, lists and maps); the view keeps reading the version it pinned. Writing the view
 * (the snapshot format of snapshot.c, unchanged) and releasing it may run on any thread,
 * one at a time per view, while the worker goes on. Several views may be in flight; every
 * one must be released (written or not: an aborted checkpoint releases it too), and the
 * backend's close waits for them.
 *
 * The old versions kept for views are the extra memory of copy-on-write: they stay charged
 * to the task-heap pool (memory.task.heap.size) until the last view holding them lets go,
 * and weir_keyed_backend_stats reports them as cow_bytes, with the timers' versions their
 * views hold (timers.h, timers_set_pool).
 */
#ifndef WEIR_STATE_VIEW_H
#define WEIR_STATE_VIEW_H

#include <weir/state.h>
#include <weir/state_backend.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct weir_keyed_view weir_keyed_view;

/* Whether be can be snapshotted through a view (the hashmap backend). */
bool weir_keyed_view_applies(const weir_keyed_backend *be);

/* Pins be's state as it is now (be's worker). 0, or -ENOMEM (the backend's error says so). */
int weir_keyed_view_pin(weir_keyed_backend *be, weir_keyed_view **out);

/* Incremental heap checkpoints (a chain of a full snapshot and deltas, checkpoint/heap_chain.c):
 * the first call starts recording, per state and key group, which (key, namespace) pairs
 * change (every put, merge, append, remove, TTL refresh); each call hands what was recorded
 * since the previous one to the view and starts afresh. With delta, and when recording was
 * on since the previous call, the view writes only those entries as they are at the pin, a
 * tombstone for each that is gone, and a key group that changed mostly (or whose record ran
 * out of memory) whole after a clear marker: restored after the snapshot the previous call
 * pinned, it gives the state at this pin. weir_keyed_view_is_delta says which the view
 * writes. Such a delta is valid only on top of the view of the previous call: when that one
 * was not written and kept (a failed or aborted checkpoint), the caller must take a full one.
 * weir_keyed_view_pin (savepoints) leaves the record alone. */
int weir_keyed_view_pin_incremental(weir_keyed_backend *be, bool delta, weir_keyed_view **out);
bool weir_keyed_view_is_delta(const weir_keyed_view *v);

/* What a delta view writes, counted at its pin (all zero for a full view): the changed
 * entries it writes one by one, and the key-group tables (one per state and key group) it
 * writes whole, by why: more than half of the table's entries changed (and at least 64), or
 * the task-heap pool (memory.task.heap.size) had no room to grow the table's change set.
 * entries_whole: the live entries of those tables at the pin, what writing them whole adds.
 * A delta is large either because many entries changed (new keys too: loading state into a
 * running job makes deltas as large as what was loaded) or because of tables written whole;
 * this tells which. */
struct weir_keyed_delta_info {
    uint64_t entries, entries_whole;
    uint32_t tables_mostly, tables_nomem;
};
void weir_keyed_view_delta_info(const weir_keyed_view *v, struct weir_keyed_delta_info *out);

/* Writes key group kg of the view in the format of weir_keyed_backend_snapshot_key_group.
 * Any thread. On error, weir_keyed_view_error says why. */
int weir_keyed_view_snapshot_key_group(weir_keyed_view *v, uint32_t kg,
                                       struct weir_snapshot_out *out);
const char *weir_keyed_view_error(const weir_keyed_view *v);

/* What a view's writer says when the task-heap pool had no room for the live state beside
 * the copies kept for views: the worker cancelled the views in flight and freed what only
 * they held (heap_cow_reclaim), the view gives up (-ENOBUFS) at its next key group, its
 * checkpoint fails (counted against tolerable-failed-checkpoints), the worker goes on. The
 * values: operator uid, the pool's size, its bytes in use, the copies' bytes. */
#define COW_STARVED_MSG                                                                            \
    "operator %s: copy-on-write snapshot aborted: the copies of keyed state changed while it "     \
    "is written need more than memory.task.heap.size (%s: %s in use, %s held for the "             \
    "snapshot); raise memory.task.heap.size or lower the state's size"

/* The same for the timers' versions a timer view holds (timers_set_pool): its writer gives
 * up (timers_view_foreach: -ENOBUFS) and the checkpoint fails. */
#define TIMERS_STARVED_MSG                                                                         \
    "operator %s: copy-on-write snapshot aborted: the timers replaced or fired while it is "       \
    "written need more than memory.task.heap.size (%s: %s in use, %s held for the snapshot); "     \
    "raise memory.task.heap.size or lower the state's size"

/* The bytes of old versions kept for views in flight, the timers' included (the metric
 * weir_operator_stateCopyOnWriteBytes); NULL for a backend without views. */
const _Atomic uint64_t *weir_keyed_view_bytes(const weir_keyed_backend *be);

/* Lets the view go (any thread); NULL is a no-op. */
void weir_keyed_view_release(weir_keyed_view *v);

/* Full snapshots of a RocksDB keyed backend off the worker (rocksdb_snapshot.c): pinning takes
 * a RocksDB snapshot (a point-in-time read view, the same cost at any state size) on the
 * backend's worker; writing it (the same format as weir_keyed_backend_snapshot_key_group, so a
 * heap backend restores it) and releasing it may run on any thread, one at a time per view,
 * while the worker goes on writing. Every view must be released, written or not; the
 * backend's close waits for them. */
typedef struct weir_rocks_view weir_rocks_view;
/* Whether be is a RocksDB backend with an open instance. */
bool weir_rocks_view_applies(const weir_keyed_backend *be);
/* be's worker. 0, or negative errno (the backend's error says why). */
int weir_rocks_view_pin(weir_keyed_backend *be, weir_rocks_view **out);
/* Any thread. On error, weir_rocks_view_error says why. */
int weir_rocks_view_snapshot_key_group(weir_rocks_view *v, uint32_t kg,
                                       struct weir_snapshot_out *out);
const char *weir_rocks_view_error(const weir_rocks_view *v);
/* Any thread; NULL is a no-op. */
void weir_rocks_view_release(weir_rocks_view *v);

#endif
