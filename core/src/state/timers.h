/*
 * Timer service of one keyed operator subtask: event-time and processing-time
 * timers per (key, namespace, time), deduplicated, popped in time order.
 *
 * Timers are bucketed by timestamp: a min-heap orders the distinct
 * timestamps, and each bucket keeps its timers in insertion order. Windows
 * make few timestamps with many timers each (a 1 s window over 1 M keys is
 * one bucket of 1 M timers), so firing a window is a sequential scan of one
 * array, and the bucket is freed at once when it is done, instead of 1 M
 * heap pops and hash-set deletions. Deduplication looks in the bucket of the
 * timer's timestamp only: by linear scan while the bucket is small, by an
 * index table once it grows. Deleting a timer flags its entry; the scan skips
 * it. Internal.
 *
 * Snapshots pin a view (timers_pin, on the worker, in constant time) that a writer thread
 * reads while the worker goes on adding, deleting and firing timers. Versioned rather than
 * copied: the service counts epochs (a pin closes one), each entry records the epoch it was
 * added in (born) and the one it was deleted or fired in (died), and a view of epoch E sees
 * the entries born <= E that died after E. What a view may read is never changed in place
 * but for died, which only moves from "alive" to an epoch after every view's (a deleted
 * timer registered again is revived in place only when no view could tell, otherwise
 * appended anew): an entry array that grows is replaced, a bucket that fired stays until
 * the list of buckets is compacted into a new one, and the views pin the list (its array
 * and length) they read. What the worker replaces while views are in flight is retired to
 * the newest view and freed when it and every older view are released (epoch-based
 * reclamation); with no view in flight it is freed at once.
 */
#ifndef WEIR_TIMERS_H
#define WEIR_TIMERS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct weir_timer {
    int64_t ts;
    uint64_t key;
    uint64_t ns;
    uint32_t key_group;
};

#define TIMER_ALIVE UINT32_MAX /* timer_entry.died of a live timer */

struct timer_entry {
    uint64_t key;
    uint64_t ns;
    uint32_t key_group;
    uint32_t born;         /* the service's epoch when added */
    _Atomic uint32_t died; /* the epoch it was deleted or fired in; TIMER_ALIVE */
};

struct timer_bucket {
    int64_t ts;
    /* Published with release stores (v before n) for views: a view reads [0, n) of any v
     * it loads after n. Grown into a new array, never realloc'd. */
    struct timer_entry *_Atomic v;
    _Atomic uint32_t n;
    uint32_t cap, pos; /* entries [pos, n) are still to fire */
    uint32_t *index;   /* open addressing over (key, ns): entry index + 1; NULL while small */
    uint32_t index_cap;
    uint32_t indexed; /* entries [0, indexed) are in index (timers_add_new leaves the rest) */
    _Atomic uint32_t fired; /* the epoch its last timer fired in; 0 while it has timers */
};

struct timer_domain {
    struct timer_bucket **heap; /* by ts, the buckets with timers to fire */
    size_t n_heap, cap_heap;
    struct timer_bucket **map; /* ts -> bucket, open addressing, no deletions but rebuilds */
    size_t map_cap, map_used;
    size_t live;
    /* Every bucket not yet reclaimed, fired ones included, in creation order: what views
     * read. Appended in place, replaced by a new array when it grows or is compacted. */
    struct timer_bucket **all;
    size_t n_all, cap_all, n_fired;
};

struct timer_view;
struct weir_keyed_backend;

struct timer_service {
    struct timer_domain d[2]; /* by enum weir_time_domain */
    uint32_t epoch;           /* entries added now are born in it; a pin closes it */
    /* Views not yet freed, oldest first (pin appends on the worker, release pops on any
     * thread), under lock; views counts those not released. */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct timer_view *oldest, *newest;
    _Atomic int views;
    /* What retired memory held for views is charged to (timers_set_pool); NULL: nothing. */
    struct weir_keyed_backend *pool;
};

void timers_init(struct timer_service *t);
void timers_free(struct timer_service *t);
/* 0 when registered, 1 when it already was, -ENOMEM. */
int timers_add(struct timer_service *t, int domain, const struct weir_timer *tm);
/* timers_add of a timer the caller knows has no live entry: appended without the
 * deduplication lookup and left out of the bucket's index until a lookup needs it. */
int timers_add_new(struct timer_service *t, int domain, const struct weir_timer *tm);
/* 0 when deleted, 1 when there was no such timer. */
int timers_del(struct timer_service *t, int domain, const struct weir_timer *tm);
/* Pops the earliest live timer with ts <= upto into *out; false when none. */
bool timers_pop_due(struct timer_service *t, int domain, int64_t upto, struct weir_timer *out);
/* The timer `ahead` entries after the next one timers_pop_due would give (in the same
 * timestamp; dead ones counted), to prefetch its state; false when there is none. */
bool timers_peek_due(const struct timer_service *t, int domain, int64_t upto, uint32_t ahead,
                     struct weir_timer *out);
size_t timers_count(const struct timer_service *t, int domain);

/* Pins the timers as they are now (the worker; constant time): 0 or -ENOMEM. */
int timers_pin(struct timer_service *t, struct timer_view **out);
/* The live timers of the domain at the pin: how many, and each to fn (any order; any
 * thread, one at a time per view). fn's nonzero result ends the walk and is returned. */
size_t timers_view_count(const struct timer_view *v, int domain);
int timers_view_foreach(const struct timer_view *v, int domain,
                        int (*fn)(void *arg, const struct weir_timer *tm), void *arg);
/* Lets the view go (any thread); NULL is a no-op. timers_free waits for every view. */
void timers_view_release(struct timer_view *v);

/* Charges what the views hold to be's task-heap pool (memory.task.heap.size), as the
 * copy-on-write copies of its keyed state (counted in its cow_bytes, the metric
 * weir_operator_stateCopyOnWriteBytes): the entry arrays, buckets and bucket lists the
 * worker replaced or fired while a view was in flight, from their retirement until the
 * last view that may read them is released. be (a hashmap backend, or NULL) outlives t's
 * views. When the pool has no room for them even once the keyed copies gave way
 * (heap_cow_reclaim), every view in flight is cancelled: timers_view_foreach returns
 * -ENOBUFS and timers_view_error says why (the pool named); the worker goes on, and what it
 * retired is freed as the views are released. */
void timers_set_pool(struct timer_service *t, struct weir_keyed_backend *be);
/* Why the view was cancelled; "" while it was not. */
const char *timers_view_error(const struct timer_view *v);

#endif
