/* Timer service: see timers.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "state_private.h"
#include "state_view.h"
#include "timers.h"

#define SMALL_BUCKET 16 /* dedup by linear scan up to this many entries */
#define MIN_COMPACT  64 /* fired buckets kept in the bucket list before it is compacted */

/* What views read is allocated behind this header, so that it can wait on a view's list of
 * retired memory without an allocation: entry arrays, buckets, bucket lists. */
struct retired {
    struct retired *next;
    uint64_t size; /* the block's, header included */
    uint64_t held; /* charged to t->pool while a view holds it (size), or 0 */
    uint64_t pad;  /* what follows is 16-byte aligned */
};

struct timer_view {
    struct timer_service *t;
    uint32_t epoch; /* sees the entries born <= epoch that died after it */
    struct timer_bucket **all[2];
    size_t n_all[2], live[2];
    bool released;            /* under t->lock */
    struct retired *garbage;  /* retired while this was the newest view */
    struct timer_view *newer; /* under t->lock */
    _Atomic bool cancelled;   /* set under t->lock, with err saying why (cancel_views) */
    char err[512];
};

static void *blk_alloc(size_t n, bool zero)
{
    struct retired *r = zero ? calloc(1, sizeof *r + n) : malloc(sizeof *r + n);
    if (!r)
        return NULL;
    r->size = sizeof *r + n;
    return r + 1;
}

/* No room in the pool for what the views would hold: every view in flight gives up (its
 * checkpoint fails), and what the worker retires is freed as they are released. */
static void cancel_views(struct timer_service *t, uint64_t want)
{
    char why[sizeof((struct timer_view *)0)->err];
    heap_cow_starved_why(t->pool, want, TIMERS_STARVED_MSG, why, sizeof why);
    pthread_mutex_lock(&t->lock);
    for (struct timer_view *v = t->oldest; v; v = v->newer)
        if (!v->released && !atomic_load_explicit(&v->cancelled, memory_order_relaxed)) {
            memcpy(v->err, why, sizeof why);
            /* release: pairs with the acquire loads in timers_view_foreach and
             * timers_view_error, after which err is read */
            atomic_store_explicit(&v->cancelled, true, memory_order_release);
        }
    pthread_mutex_unlock(&t->lock);
}

static void blk_free(void *p)
{
    if (p)
        free((struct retired *)p - 1);
}

/* p (a blk) is no longer reachable by the worker: freed now when no view can hold it, else
 * when the newest view and every older one are released. The worker only. */
static void retire(struct timer_service *t, void *p)
{
    if (!p)
        return;
    /* acquire: pairs with the release decrement in timers_view_release, after which the
     * released view reads nothing more; only this thread makes views */
    if (atomic_load_explicit(&t->views, memory_order_acquire) == 0) {
        blk_free(p);
        return;
    }
    struct retired *r = (struct retired *)p - 1;
    r->held = 0;
    if (t->pool) {
        if (heap_hold(t->pool, r->size) == 0)
            r->held = r->size;
        else
            cancel_views(t, r->size);
    }
    pthread_mutex_lock(&t->lock);
    if (t->newest) {
        r->next = t->newest->garbage;
        t->newest->garbage = r;
        r = NULL;
    }
    pthread_mutex_unlock(&t->lock);
    if (r && r->held) /* every view was released meanwhile */
        heap_unhold_other(t->pool, r->held);
    free(r);
}

static uint64_t entry_hash(uint64_t key, uint64_t ns)
{
    return state_mix64(key ^ ns * 0x9e3779b97f4a7c15ull);
}

static bool entry_dead(const struct timer_entry *e)
{
    return atomic_load_explicit(&e->died, memory_order_relaxed) != TIMER_ALIVE;
}

void timers_init(struct timer_service *t)
{
    memset(t, 0, sizeof *t);
    t->epoch = 1;
    pthread_mutex_init(&t->lock, NULL);
    pthread_cond_init(&t->cond, NULL);
}

void timers_free(struct timer_service *t)
{
    pthread_mutex_lock(&t->lock);
    while (atomic_load(&t->views) > 0)
        pthread_cond_wait(&t->cond, &t->lock);
    pthread_mutex_unlock(&t->lock);
    for (int d = 0; d < 2; d++) {
        struct timer_domain *dm = &t->d[d];
        for (size_t i = 0; i < dm->n_all; i++) {
            struct timer_bucket *b = dm->all[i];
            if (!atomic_load_explicit(&b->fired, memory_order_relaxed)) {
                blk_free(atomic_load_explicit(&b->v, memory_order_relaxed));
                free(b->index);
            }
            blk_free(b);
        }
        blk_free(dm->all);
        free(dm->heap);
        free(dm->map);
    }
    pthread_cond_destroy(&t->cond);
    pthread_mutex_destroy(&t->lock);
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

/* The bucket list with room for one more: a full one is replaced by one twice as large. */
static int all_reserve(struct timer_service *t, struct timer_domain *dm)
{
    if (dm->n_all < dm->cap_all)
        return 0;
    size_t ncap = dm->cap_all ? dm->cap_all * 2 : 16;
    struct timer_bucket **all = blk_alloc(ncap * sizeof *all, false);
    if (!all)
        return -ENOMEM;
    if (dm->n_all)
        memcpy(all, dm->all, dm->n_all * sizeof *all);
    retire(t, dm->all);
    dm->all = all;
    dm->cap_all = ncap;
    return 0;
}

/* Once fired buckets are half the list: a new list without them, and they are retired. */
static void all_compact(struct timer_service *t, struct timer_domain *dm)
{
    if (dm->n_fired < MIN_COMPACT || dm->n_fired * 2 < dm->n_all)
        return;
    size_t keep = dm->n_all - dm->n_fired, cap = 16;
    while (cap < keep * 2)
        cap *= 2;
    struct timer_bucket **all = blk_alloc(cap * sizeof *all, false);
    if (!all)
        return; /* kept as it is: compacted at a later fire */
    size_t n = 0;
    for (size_t i = 0; i < dm->n_all; i++) {
        if (atomic_load_explicit(&dm->all[i]->fired, memory_order_relaxed))
            retire(t, dm->all[i]);
        else
            all[n++] = dm->all[i];
    }
    retire(t, dm->all);
    dm->all = all;
    dm->n_all = n;
    dm->cap_all = cap;
    dm->n_fired = 0;
}

static struct timer_bucket *bucket_get(struct timer_service *t, struct timer_domain *dm, int64_t ts,
                                       bool create)
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
    if (all_reserve(t, dm) < 0)
        return NULL;
    struct timer_bucket *b = blk_alloc(sizeof *b, true);
    if (!b)
        return NULL;
    b->ts = ts;
    dm->all[dm->n_all++] = b; /* past every view's length: no view reads the slot */
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

/* The worker's own reads of what only it writes. */
static struct timer_entry *entries(const struct timer_bucket *b)
{
    return atomic_load_explicit(&b->v, memory_order_relaxed);
}

static uint32_t count(const struct timer_bucket *b)
{
    return atomic_load_explicit(&b->n, memory_order_relaxed);
}

static int index_rebuild(struct timer_bucket *b)
{
    uint32_t cap = 64, n = count(b);
    const struct timer_entry *v = entries(b);
    while (cap < n * 2 + 2)
        cap *= 2;
    uint32_t *ix = calloc(cap, sizeof *ix);
    if (!ix)
        return -ENOMEM;
    free(b->index);
    b->index = ix;
    b->index_cap = cap;
    for (uint32_t e = 0; e < n; e++) {
        uint32_t mask = cap - 1, i = (uint32_t)entry_hash(v[e].key, v[e].ns) & mask;
        while (ix[i]) {
            const struct timer_entry *o = &v[ix[i] - 1];
            if (o->key == v[e].key && o->ns == v[e].ns)
                break; /* a later entry of the same timer replaces the earlier */
            i = (i + 1) & mask;
        }
        ix[i] = e + 1;
    }
    b->indexed = n;
    return 0;
}

static int index_catch_up(struct timer_bucket *b);

/* The newest entry of (key, ns) in the bucket, or -1 (-ENOMEM when the index cannot grow). */
static long entry_find(struct timer_bucket *b, uint64_t key, uint64_t ns)
{
    if (b->indexed < count(b) && index_catch_up(b) < 0)
        return -ENOMEM;
    const struct timer_entry *v = entries(b);
    if (!b->index) {
        for (long e = (long)count(b) - 1; e >= 0; e--)
            if (v[e].key == key && v[e].ns == ns)
                return e;
        return -1;
    }
    uint32_t mask = b->index_cap - 1, i = (uint32_t)entry_hash(key, ns) & mask;
    for (; b->index[i]; i = (i + 1) & mask) {
        const struct timer_entry *o = &v[b->index[i] - 1];
        if (o->key == key && o->ns == ns)
            return (long)b->index[i] - 1;
    }
    return -1;
}

/* Room for one more entry: a full array is replaced by one twice as large (views may be
 * reading the old one, which is retired), published before the entry count (release:
 * pairs with the acquire load of v in timers_view_foreach). */
static int entries_reserve(struct timer_service *t, struct timer_bucket *b)
{
    uint32_t n = count(b);
    if (n < b->cap)
        return 0;
    uint32_t ncap = b->cap ? b->cap * 2 : 4;
    struct timer_entry *v = blk_alloc((size_t)ncap * sizeof *v, false), *old = entries(b);
    if (!v)
        return -ENOMEM;
    if (n)
        memcpy(v, old, (size_t)n * sizeof *v);
    atomic_store_explicit(&b->v, v, memory_order_release);
    b->cap = ncap;
    retire(t, old);
    return 0;
}

/* Puts the entries the index lacks, [indexed, n), into it, in order (a later entry of the
 * same timer replaces the earlier); small buckets are scanned and need none. */
static int index_catch_up(struct timer_bucket *b)
{
    uint32_t n = count(b);
    if (n <= SMALL_BUCKET) {
        b->indexed = n;
        return 0;
    }
    if (!b->index || n * 2 > b->index_cap)
        return index_rebuild(b);
    const struct timer_entry *v = entries(b);
    uint32_t mask = b->index_cap - 1;
    for (uint32_t e = b->indexed; e < n; e++) {
        uint32_t i = (uint32_t)entry_hash(v[e].key, v[e].ns) & mask;
        while (b->index[i]) {
            const struct timer_entry *o = &v[b->index[i] - 1];
            if (o->key == v[e].key && o->ns == v[e].ns)
                break;
            i = (i + 1) & mask;
        }
        b->index[i] = e + 1;
    }
    b->indexed = n;
    return 0;
}

/* A new live entry at the end of b, not yet in its index. */
static int entry_append(struct timer_service *t, struct timer_domain *dm, struct timer_bucket *b,
                        const struct weir_timer *tm)
{
    if (entries_reserve(t, b) < 0)
        return -ENOMEM;
    uint32_t n = count(b);
    struct timer_entry *x = &entries(b)[n];
    x->key = tm->key;
    x->ns = tm->ns;
    x->key_group = tm->key_group;
    x->born = t->epoch;
    atomic_store_explicit(&x->died, TIMER_ALIVE, memory_order_relaxed);
    /* release: pairs with the acquire load of n in timers_view_foreach (the entry is
     * written) */
    atomic_store_explicit(&b->n, n + 1, memory_order_release);
    dm->live++;
    return 0;
}

int timers_add(struct timer_service *t, int domain, const struct weir_timer *tm)
{
    struct timer_domain *dm = &t->d[domain];
    struct timer_bucket *b = bucket_get(t, dm, tm->ts, true);
    if (!b)
        return -ENOMEM;
    long e = entry_find(b, tm->key, tm->ns);
    if (e == -ENOMEM)
        return -ENOMEM;
    if (e >= 0 && (uint32_t)e >= b->pos) {
        struct timer_entry *x = &entries(b)[e];
        uint32_t died = atomic_load_explicit(&x->died, memory_order_relaxed);
        if (died == TIMER_ALIVE)
            return 1;
        /* deleted, not fired yet: alive again where it was, unless a view in flight saw it
         * deleted (it died before the newest pin): then a new entry, born now */
        if (died == t->epoch || atomic_load_explicit(&t->views, memory_order_relaxed) == 0) {
            atomic_store_explicit(&x->died, TIMER_ALIVE, memory_order_relaxed);
            dm->live++;
            return 0;
        }
    }
    return entry_append(t, dm, b, tm) < 0 || index_catch_up(b) < 0 ? -ENOMEM : 0;
}

int timers_add_new(struct timer_service *t, int domain, const struct weir_timer *tm)
{
    struct timer_domain *dm = &t->d[domain];
    struct timer_bucket *b = bucket_get(t, dm, tm->ts, true);
    if (!b)
        return -ENOMEM;
    return entry_append(t, dm, b, tm);
}

int timers_del(struct timer_service *t, int domain, const struct weir_timer *tm)
{
    struct timer_domain *dm = &t->d[domain];
    struct timer_bucket *b = bucket_get(t, dm, tm->ts, false);
    if (!b)
        return 1;
    long e = entry_find(b, tm->key, tm->ns);
    if (e < 0 || (uint32_t)e < b->pos || entry_dead(&entries(b)[e]))
        return 1;
    atomic_store_explicit(&entries(b)[e].died, t->epoch, memory_order_relaxed);
    dm->live--;
    return 0;
}

/* Every timer of b fired: out of the heap and the map; its entries go (views pinned before
 * may still read them: retired), the bucket itself with the next compaction. */
static void bucket_fired(struct timer_service *t, struct timer_domain *dm, struct timer_bucket *b)
{
    map_remove(dm, b->ts);
    heap_pop(dm);
    /* views pinned from now on skip it: they must not read the retired entries */
    atomic_store_explicit(&b->fired, t->epoch, memory_order_relaxed);
    free(b->index);
    b->index = NULL;
    retire(t, entries(b));
    dm->n_fired++;
    all_compact(t, dm);
}

bool timers_pop_due(struct timer_service *t, int domain, int64_t upto, struct weir_timer *out)
{
    struct timer_domain *dm = &t->d[domain];
    while (dm->n_heap && dm->heap[0]->ts <= upto) {
        struct timer_bucket *b = dm->heap[0];
        struct timer_entry *v = entries(b);
        while (b->pos < count(b)) {
            struct timer_entry *e = &v[b->pos++];
            if (entry_dead(e))
                continue;
            atomic_store_explicit(&e->died, t->epoch, memory_order_relaxed);
            dm->live--;
            *out = (struct weir_timer){
                .ts = b->ts, .key = e->key, .ns = e->ns, .key_group = e->key_group};
            return true;
        }
        /* every timer of this timestamp fired (timers added meanwhile included) */
        bucket_fired(t, dm, b);
    }
    return false;
}

bool timers_peek_due(const struct timer_service *t, int domain, int64_t upto, uint32_t ahead,
                     struct weir_timer *out)
{
    const struct timer_domain *dm = &t->d[domain];
    if (!dm->n_heap || dm->heap[0]->ts > upto)
        return false;
    const struct timer_bucket *b = dm->heap[0];
    uint32_t i = b->pos + ahead;
    if (i >= count(b))
        return false;
    const struct timer_entry *e = &entries(b)[i];
    *out = (struct weir_timer){.ts = b->ts, .key = e->key, .ns = e->ns, .key_group = e->key_group};
    return true;
}

size_t timers_count(const struct timer_service *t, int domain)
{
    return t->d[domain].live;
}

/* --- views ------------------------------------------------------------------ */

int timers_pin(struct timer_service *t, struct timer_view **out)
{
    struct timer_view *v = calloc(1, sizeof *v);
    if (!v)
        return -ENOMEM;
    v->t = t;
    v->epoch = t->epoch++; /* 2^32 pins of one operator before it wraps */
    for (int d = 0; d < 2; d++) {
        v->all[d] = t->d[d].all;
        v->n_all[d] = t->d[d].n_all;
        v->live[d] = t->d[d].live;
    }
    pthread_mutex_lock(&t->lock);
    if (t->newest)
        t->newest->newer = v;
    else
        t->oldest = v;
    t->newest = v;
    atomic_fetch_add_explicit(&t->views, 1, memory_order_relaxed);
    pthread_mutex_unlock(&t->lock);
    *out = v;
    return 0;
}

size_t timers_view_count(const struct timer_view *v, int domain)
{
    return v->live[domain];
}

int timers_view_foreach(const struct timer_view *v, int domain,
                        int (*fn)(void *arg, const struct weir_timer *tm), void *arg)
{
    for (size_t i = 0; i < v->n_all[domain]; i++) {
        const struct timer_bucket *b = v->all[domain][i];
        /* acquire: pairs with the release store in cancel_views */
        if (atomic_load_explicit(&v->cancelled, memory_order_acquire))
            return -ENOBUFS;
        uint32_t fired = atomic_load_explicit(&b->fired, memory_order_relaxed);
        if (fired && fired <= v->epoch)
            continue; /* fired before the pin: its entries may be gone */
        /* acquire: pairs with the release stores of n in timers_add and of v in
         * entries_reserve: [0, n) of this v or of any later one is written */
        uint32_t n = atomic_load_explicit(&b->n, memory_order_acquire);
        const struct timer_entry *e = atomic_load_explicit(&b->v, memory_order_acquire);
        for (uint32_t k = 0; k < n; k++) {
            if ((k & 1023) == 1023 && atomic_load_explicit(&v->cancelled, memory_order_acquire))
                return -ENOBUFS;
            if (e[k].born > v->epoch ||
                atomic_load_explicit(&e[k].died, memory_order_relaxed) <= v->epoch)
                continue;
            struct weir_timer tm = {
                .ts = b->ts, .key = e[k].key, .ns = e[k].ns, .key_group = e[k].key_group};
            int rc = fn(arg, &tm);
            if (rc)
                return rc;
        }
    }
    return 0;
}

void timers_view_release(struct timer_view *v)
{
    if (!v)
        return;
    struct timer_service *t = v->t;
    struct timer_view *done = NULL;
    pthread_mutex_lock(&t->lock);
    v->released = true;
    while (t->oldest && t->oldest->released) {
        struct timer_view *o = t->oldest;
        t->oldest = o->newer;
        if (!t->oldest)
            t->newest = NULL;
        o->newer = done;
        done = o;
    }
    /* Off the pool before the count drops: past it, t (and its pool) may be gone. */
    uint64_t held = 0;
    for (struct timer_view *o = done; o; o = o->newer)
        for (struct retired *r = o->garbage; r; r = r->next)
            held += r->held;
    if (held)
        heap_unhold_other(t->pool, held);
    /* release: pairs with the acquire load in retire */
    atomic_fetch_sub_explicit(&t->views, 1, memory_order_release);
    pthread_cond_broadcast(&t->cond);
    pthread_mutex_unlock(&t->lock);
    while (done) {
        struct timer_view *o = done;
        done = o->newer;
        for (struct retired *r = o->garbage, *next; r; r = next) {
            next = r->next;
            free(r);
        }
        free(o);
    }
}

void timers_set_pool(struct timer_service *t, struct weir_keyed_backend *be)
{
    t->pool = be;
}

const char *timers_view_error(const struct timer_view *v)
{
    /* acquire: pairs with the release store in cancel_views */
    return atomic_load_explicit(&v->cancelled, memory_order_acquire) ? v->err : "";
}
