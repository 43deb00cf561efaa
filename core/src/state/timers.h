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
 */
#ifndef WEIR_TIMERS_H
#define WEIR_TIMERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct weir_timer {
    int64_t ts;
    uint64_t key;
    uint64_t ns;
    uint32_t key_group;
};

struct timer_entry {
    uint64_t key;
    uint64_t ns;
    uint32_t key_group;
    uint32_t dead; /* deleted, or already fired */
};

struct timer_bucket {
    int64_t ts;
    struct timer_entry *v;
    uint32_t n, cap, pos; /* entries [pos, n) are still to fire */
    uint32_t *index;      /* open addressing over (key, ns): entry index + 1; NULL while small */
    uint32_t index_cap;
};

struct timer_domain {
    struct timer_bucket **heap; /* by ts */
    size_t n_heap, cap_heap;
    struct timer_bucket **map; /* ts -> bucket, open addressing, no deletions but rebuilds */
    size_t map_cap, map_used;
    size_t live;
};

struct timer_service {
    struct timer_domain d[2]; /* by enum weir_time_domain */
};

void timers_init(struct timer_service *t);
void timers_free(struct timer_service *t);
/* 0 when registered, 1 when it already was, -ENOMEM. */
int timers_add(struct timer_service *t, int domain, const struct weir_timer *tm);
/* 0 when deleted, 1 when there was no such timer. */
int timers_del(struct timer_service *t, int domain, const struct weir_timer *tm);
/* Pops the earliest live timer with ts <= upto into *out; false when none. */
bool timers_pop_due(struct timer_service *t, int domain, int64_t upto, struct weir_timer *out);
size_t timers_count(const struct timer_service *t, int domain);
/* Calls fn for every live timer of the domain (any order), for snapshots. */
int timers_foreach(const struct timer_service *t, int domain,
                   int (*fn)(void *arg, const struct weir_timer *tm), void *arg);

#endif
