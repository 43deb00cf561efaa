/*
 * Timer service of one keyed operator subtask: event-time and processing-time
 * timers per (key, namespace, time), deduplicated, popped in time order.
 *
 * A min-heap per domain orders the timers; a hash set holds the live ones, so
 * registering a timer twice keeps one and deleting one just drops it from the
 * set (its heap entry is skipped when it surfaces). Internal.
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

struct timer_heap {
    struct weir_timer *v;
    size_t n, cap;
};

struct timer_set {
    struct weir_timer *slot;
    uint8_t *used; /* 0 empty, 1 live, 2 deleted (tombstone) */
    size_t cap, live, tomb;
};

struct timer_service {
    struct timer_heap heap[2]; /* by enum weir_time_domain */
    struct timer_set set[2];
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

#endif
