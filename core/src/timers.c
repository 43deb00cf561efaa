/* Timer service: see timers.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "timers.h"

/* murmur3's 64-bit finalizer over the three fields: linear probing needs
 * well-mixed low bits. */
static uint64_t timer_hash(const struct weir_timer *tm)
{
    uint64_t h = (uint64_t)tm->ts * 0x9e3779b97f4a7c15ull ^ tm->key ^
                 tm->ns * 0xc2b2ae3d27d4eb4full;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    return h ^ (h >> 33);
}

static bool timer_eq(const struct weir_timer *a, const struct weir_timer *b)
{
    return a->ts == b->ts && a->key == b->key && a->ns == b->ns;
}

static bool heap_less(const struct weir_timer *a, const struct weir_timer *b)
{
    if (a->ts != b->ts)
        return a->ts < b->ts;
    if (a->key != b->key)
        return a->key < b->key;
    return a->ns < b->ns;
}

void timers_init(struct timer_service *t)
{
    memset(t, 0, sizeof *t);
}

void timers_free(struct timer_service *t)
{
    for (int d = 0; d < 2; d++) {
        free(t->heap[d].v);
        free(t->set[d].slot);
        free(t->set[d].used);
    }
    memset(t, 0, sizeof *t);
}

/* Returns the slot holding tm, or the first free slot for it (tombstone or
 * empty) with *found = false. */
static size_t set_find(const struct timer_set *s, const struct weir_timer *tm, bool *found)
{
    size_t mask = s->cap - 1, i = timer_hash(tm) & mask, free_slot = SIZE_MAX;
    for (;; i = (i + 1) & mask) {
        if (s->used[i] == 0) {
            *found = false;
            return free_slot != SIZE_MAX ? free_slot : i;
        }
        if (s->used[i] == 2) {
            if (free_slot == SIZE_MAX)
                free_slot = i;
        } else if (timer_eq(&s->slot[i], tm)) {
            *found = true;
            return i;
        }
    }
}

static int set_grow(struct timer_set *s)
{
    size_t ncap = s->cap ? s->cap * 2 : 64;
    if (s->live * 4 < s->cap)
        ncap = s->cap; /* mostly tombstones: rehash at the same size */
    struct weir_timer *slot = calloc(ncap, sizeof *slot);
    uint8_t *used = calloc(ncap, 1);
    if (!slot || !used) {
        free(slot);
        free(used);
        return -ENOMEM;
    }
    struct timer_set n = {.slot = slot, .used = used, .cap = ncap};
    for (size_t i = 0; i < s->cap; i++) {
        if (s->used[i] != 1)
            continue;
        bool found;
        size_t j = set_find(&n, &s->slot[i], &found);
        n.slot[j] = s->slot[i];
        n.used[j] = 1;
        n.live++;
    }
    free(s->slot);
    free(s->used);
    *s = n;
    return 0;
}

static int heap_push(struct timer_heap *h, const struct weir_timer *tm)
{
    if (h->n == h->cap) {
        size_t ncap = h->cap ? h->cap * 2 : 64;
        struct weir_timer *v = realloc(h->v, ncap * sizeof *v);
        if (!v)
            return -ENOMEM;
        h->v = v;
        h->cap = ncap;
    }
    size_t i = h->n++;
    h->v[i] = *tm;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!heap_less(&h->v[i], &h->v[p]))
            break;
        struct weir_timer x = h->v[i];
        h->v[i] = h->v[p];
        h->v[p] = x;
        i = p;
    }
    return 0;
}

static void heap_pop(struct timer_heap *h)
{
    h->v[0] = h->v[--h->n];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < h->n && heap_less(&h->v[l], &h->v[m]))
            m = l;
        if (r < h->n && heap_less(&h->v[r], &h->v[m]))
            m = r;
        if (m == i)
            break;
        struct weir_timer x = h->v[i];
        h->v[i] = h->v[m];
        h->v[m] = x;
        i = m;
    }
}

int timers_add(struct timer_service *t, int domain, const struct weir_timer *tm)
{
    struct timer_set *s = &t->set[domain];
    if ((s->live + s->tomb + 1) * 2 > s->cap && set_grow(s) < 0)
        return -ENOMEM;
    bool found;
    size_t i = set_find(s, tm, &found);
    if (found)
        return 1;
    if (heap_push(&t->heap[domain], tm) < 0)
        return -ENOMEM;
    if (s->used[i] == 2)
        s->tomb--;
    s->slot[i] = *tm;
    s->used[i] = 1;
    s->live++;
    return 0;
}

int timers_del(struct timer_service *t, int domain, const struct weir_timer *tm)
{
    struct timer_set *s = &t->set[domain];
    if (!s->cap)
        return 1;
    bool found;
    size_t i = set_find(s, tm, &found);
    if (!found)
        return 1;
    s->used[i] = 2;
    s->live--;
    s->tomb++;
    return 0;
}

bool timers_pop_due(struct timer_service *t, int domain, int64_t upto, struct weir_timer *out)
{
    struct timer_heap *h = &t->heap[domain];
    struct timer_set *s = &t->set[domain];
    while (h->n && h->v[0].ts <= upto) {
        struct weir_timer tm = h->v[0];
        heap_pop(h);
        bool found;
        size_t i = set_find(s, &tm, &found);
        if (!found)
            continue; /* deleted, or a duplicate entry of one already fired */
        s->used[i] = 2;
        s->live--;
        s->tomb++;
        *out = tm;
        return true;
    }
    return false;
}

size_t timers_count(const struct timer_service *t, int domain)
{
    return t->set[domain].live;
}
