/* Timer service: see timers.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "state_private.h"
#include "timers.h"

#define SMALL_BUCKET 16 /* dedup by linear scan up to this many entries */

static uint64_t entry_hash(uint64_t key, uint64_t ns)
{
    return state_mix64(key ^ ns * 0x9e3779b97f4a7c15ull);
}

void timers_init(struct timer_service *t)
{
    memset(t, 0, sizeof *t);
}

static void bucket_free(struct timer_bucket *b)
{
    free(b->v);
    free(b->index);
    free(b);
}

void timers_free(struct timer_service *t)
{
    for (int d = 0; d < 2; d++) {
        struct timer_domain *dm = &t->d[d];
        for (size_t i = 0; i < dm->n_heap; i++)
            bucket_free(dm->heap[i]);
        free(dm->heap);
        free(dm->map);
    }
    memset(t, 0, sizeof *t);
}

/* --- ts -> bucket map ------------------------------------------------------ */

static size_t map_slot(const struct timer_domain *dm, int64_t ts)
{
    size_t mask = dm->map_cap - 1, i = state_mix64((uint64_t)ts) & mask;
    while (dm->map[i] && dm->map[i]->ts != ts)
        i = (i + 1) & mask;
    return i;
}

/* Rebuilds the map from the heap (the live buckets), at a size fit for them. */
static int map_rebuild(struct timer_domain *dm)
{
    size_t cap = 16;
    while (cap < dm->n_heap * 4)
        cap *= 2;
    struct timer_bucket **m = calloc(cap, sizeof *m);
    if (!m)
        return -ENOMEM;
    free(dm->map);
    dm->map = m;
    dm->map_cap = cap;
    dm->map_used = dm->n_heap;
    for (size_t i = 0; i < dm->n_heap; i++)
        dm->map[map_slot(dm, dm->heap[i]->ts)] = dm->heap[i];
    return 0;
}

/* Removing a bucket from open addressing without tombstones: backward shift. */
static void map_remove(struct timer_domain *dm, int64_t ts)
{
    size_t mask = dm->map_cap - 1, i = map_slot(dm, ts);
    if (!dm->map[i])
        return;
    dm->map[i] = NULL;
    dm->map_used--;
    for (size_t j = (i + 1) & mask; dm->map[j]; j = (j + 1) & mask) {
        size_t home = state_mix64((uint64_t)dm->map[j]->ts) & mask;
        /* move j back to i when i lies cyclically in [home, j) */
        if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
            dm->map[i] = dm->map[j];
            dm->map[j] = NULL;
            i = j;
        }
    }
}

/* --- heap of buckets by ts ------------------------------------------------- */

static void heap_up(struct timer_domain *dm, size_t i)
{
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (dm->heap[p]->ts <= dm->heap[i]->ts)
            break;
        struct timer_bucket *x = dm->heap[i];
        dm->heap[i] = dm->heap[p];
        dm->heap[p] = x;
        i = p;
    }
}

static void heap_pop(struct timer_domain *dm)
{
    dm->heap[0] = dm->heap[--dm->n_heap];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < dm->n_heap && dm->heap[l]->ts < dm->heap[m]->ts)
            m = l;
        if (r < dm->n_heap && dm->heap[r]->ts < dm->heap[m]->ts)
            m = r;
        if (m == i)
            break;
        struct timer_bucket *x = dm->heap[i];
        dm->heap[i] = dm->heap[m];
        dm->heap[m] = x;
        i = m;
    }
}

static struct timer_bucket *bucket_get(struct timer_domain *dm, int64_t ts, bool create)
{
    if (dm->map_cap) {
        struct timer_bucket *b = dm->map[map_slot(dm, ts)];
        if (b || !create)
            return b;
    } else if (!create) {
        return NULL;
    }
    if (dm->n_heap == dm->cap_heap) {
        size_t ncap = dm->cap_heap ? dm->cap_heap * 2 : 16;
        struct timer_bucket **h = realloc(dm->heap, ncap * sizeof *h);
        if (!h)
            return NULL;
        dm->heap = h;
        dm->cap_heap = ncap;
    }
    struct timer_bucket *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->ts = ts;
    dm->heap[dm->n_heap++] = b;
    heap_up(dm, dm->n_heap - 1);
    if ((dm->map_used + 1) * 2 > dm->map_cap) {
        if (map_rebuild(dm) < 0)
            return NULL; /* the bucket stays in the heap, unreachable by ts: harmless */
    } else {
        dm->map[map_slot(dm, ts)] = b;
        dm->map_used++;
    }
    return b;
}

/* --- entries within a bucket ----------------------------------------------- */

static int index_rebuild(struct timer_bucket *b)
{
    uint32_t cap = 64;
    while (cap < b->n * 2 + 2)
        cap *= 2;
    uint32_t *ix = calloc(cap, sizeof *ix);
    if (!ix)
        return -ENOMEM;
    free(b->index);
    b->index = ix;
    b->index_cap = cap;
    for (uint32_t e = 0; e < b->n; e++) {
        uint32_t mask = cap - 1, i = (uint32_t)entry_hash(b->v[e].key, b->v[e].ns) & mask;
        while (ix[i]) {
            const struct timer_entry *o = &b->v[ix[i] - 1];
            if (o->key == b->v[e].key && o->ns == b->v[e].ns)
                break; /* a later entry of the same timer replaces the earlier */
            i = (i + 1) & mask;
        }
        ix[i] = e + 1;
    }
    return 0;
}

/* The newest entry of (key, ns) in the bucket, or -1. */
static long entry_find(const struct timer_bucket *b, uint64_t key, uint64_t ns)
{
    if (!b->index) {
        for (long e = (long)b->n - 1; e >= 0; e--)
            if (b->v[e].key == key && b->v[e].ns == ns)
                return e;
        return -1;
    }
    uint32_t mask = b->index_cap - 1, i = (uint32_t)entry_hash(key, ns) & mask;
    for (; b->index[i]; i = (i + 1) & mask) {
        const struct timer_entry *o = &b->v[b->index[i] - 1];
        if (o->key == key && o->ns == ns)
            return (long)b->index[i] - 1;
    }
    return -1;
}

int timers_add(struct timer_service *t, int domain, const struct weir_timer *tm)
{
    struct timer_domain *dm = &t->d[domain];
    struct timer_bucket *b = bucket_get(dm, tm->ts, true);
    if (!b)
        return -ENOMEM;
    long e = entry_find(b, tm->key, tm->ns);
    if (e >= 0 && (uint32_t)e >= b->pos) {
        if (!b->v[e].dead)
            return 1;
        b->v[e].dead = 0; /* deleted, not fired yet: alive again where it was */
        dm->live++;
        return 0;
    }
    if (b->n == b->cap) {
        uint32_t ncap = b->cap ? b->cap * 2 : 4;
        struct timer_entry *v = realloc(b->v, ncap * sizeof *v);
        if (!v)
            return -ENOMEM;
        b->v = v;
        b->cap = ncap;
    }
    b->v[b->n++] = (struct timer_entry){.key = tm->key, .ns = tm->ns, .key_group = tm->key_group};
    dm->live++;
    if (b->n > SMALL_BUCKET) {
        if (!b->index || b->n * 2 > b->index_cap) {
            if (index_rebuild(b) < 0)
                return -ENOMEM;
        } else {
            uint32_t mask = b->index_cap - 1, i = (uint32_t)entry_hash(tm->key, tm->ns) & mask;
            while (b->index[i]) {
                const struct timer_entry *o = &b->v[b->index[i] - 1];
                if (o->key == tm->key && o->ns == tm->ns)
                    break;
                i = (i + 1) & mask;
            }
            b->index[i] = b->n;
        }
    }
    return 0;
}

int timers_del(struct timer_service *t, int domain, const struct weir_timer *tm)
{
    struct timer_domain *dm = &t->d[domain];
    struct timer_bucket *b = bucket_get(dm, tm->ts, false);
    if (!b)
        return 1;
    long e = entry_find(b, tm->key, tm->ns);
    if (e < 0 || (uint32_t)e < b->pos || b->v[e].dead)
        return 1;
    b->v[e].dead = 1;
    dm->live--;
    return 0;
}

bool timers_pop_due(struct timer_service *t, int domain, int64_t upto, struct weir_timer *out)
{
    struct timer_domain *dm = &t->d[domain];
    while (dm->n_heap && dm->heap[0]->ts <= upto) {
        struct timer_bucket *b = dm->heap[0];
        while (b->pos < b->n) {
            struct timer_entry *e = &b->v[b->pos++];
            if (e->dead)
                continue;
            e->dead = 1;
            dm->live--;
            *out = (struct weir_timer){
                .ts = b->ts, .key = e->key, .ns = e->ns, .key_group = e->key_group};
            return true;
        }
        /* every timer of this timestamp fired (timers added meanwhile included) */
        map_remove(dm, b->ts);
        heap_pop(dm);
        bucket_free(b);
    }
    return false;
}

size_t timers_count(const struct timer_service *t, int domain)
{
    return t->d[domain].live;
}

int timers_foreach(const struct timer_service *t, int domain,
                   int (*fn)(void *arg, const struct weir_timer *tm), void *arg)
{
    const struct timer_domain *dm = &t->d[domain];
    for (size_t i = 0; i < dm->n_heap; i++) {
        const struct timer_bucket *b = dm->heap[i];
        for (uint32_t e = b->pos; e < b->n; e++) {
            if (b->v[e].dead)
                continue;
            struct weir_timer tm = {
                .ts = b->ts, .key = b->v[e].key, .ns = b->v[e].ns, .key_group = b->v[e].key_group};
            int rc = fn(arg, &tm);
            if (rc)
                return rc;
        }
    }
    return 0;
}
