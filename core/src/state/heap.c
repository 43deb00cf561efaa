/*
 * The hashmap keyed-state backend: per-state, per-key-group open-addressing tables in memory
 * charged to the task-heap pool.
 *
 * Layout. A state has one table per key group of its backend (so a key group's entries are
 * found, snapshotted and dropped without touching the others), keyed by (key, namespace),
 * linear probing, at most 3/4 full, backward-shift deletion (no tombstones: a table that
 * sees many clears stays as fast as a fresh one). A slot holds the entry's hash (odd; 0 is an
 * empty slot), key, namespace, the TTL timestamp when the state has TTL, then the payload:
 * the value inline (a counter update touches one cache line), a growable element array for a
 * list, or a pointer to a per-(key, namespace) table of user keys for a map, so iterating one
 * key's map never scans other keys. Tables grow by doubling and halve when an eighth full.
 *
 * Memory. Every byte (tables, list arrays, map tables) comes from halloc/hfree, which charge
 * the allocator's usable size to the env's task-heap counter before allocating; a charge that
 * would pass memory.task.heap.size fails the operation with -ENOSPC and the one-line message
 * that names the pool, never an OOM kill. With jemalloc (WEIR_HAVE_JEMALLOC) allocations go
 * to a private arena per NUMA node through an explicit tcache per backend; the arena's extent
 * hooks are jemalloc's defaults plus an mbind(MPOL_PREFERRED) of every new extent to the
 * node, so pages are placed on the worker's node whichever thread first touches them (and a
 * full node spills to another rather than invoking the OOM killer). Where mbind is refused
 * (seccomp, one-node kernels without NUMA) placement falls back to first touch by the pinned
 * worker, and weir_keyed_backend_stats says so. Without jemalloc (the sanitizer build) it is
 * malloc/free with malloc_usable_size: same accounting, no arena, no binding.
 *
 * TTL. An expired entry is never returned: a read that meets one removes it; each write to
 * a TTL state examines TTL_CLEANUP_STEP more slots of that state (Flink's incremental
 * cleanup); heap_cleanup is the full pass, which also shrinks tables and purges the arena,
 * so the pool's bytes and the process's resident memory both go down.
 */
#include "state_private.h"

#include <weir/config.h>

#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef WEIR_HAVE_JEMALLOC
#include <hwloc.h>
#include <jemalloc/jemalloc.h>
#include <linux/mempolicy.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#define MIN_CAP     8u
#define HUGE_EXTENT (2u << 20)

/* ---- memory: arenas, accounting --------------------------------------------------------- */

struct heap_arena {
#ifdef WEIR_HAVE_JEMALLOC
    extent_hooks_t hooks; /* first: jemalloc hands hooks back, we find the arena from it */
#endif
    unsigned ind;
    int node;    /* logical NUMA node, -1 for any */
    int os_node; /* the kernel's number for it; -1: no binding */
    _Atomic int bind_errno;
};

#ifdef WEIR_HAVE_JEMALLOC
static extent_hooks_t *default_hooks;

/* jemalloc's own extent allocation, then the new extent's pages preferred on the node. The
 * default hooks ignore the hooks pointer they are given, as jemalloc's own hook tests rely on. */
static void *bound_extent_alloc(extent_hooks_t *h, void *new_addr, size_t size, size_t alignment,
                                bool *zero, bool *commit, unsigned arena_ind)
{
    struct heap_arena *a = (struct heap_arena *)h;
    void *p =
        default_hooks->alloc(default_hooks, new_addr, size, alignment, zero, commit, arena_ind);
    /* Tables of a million keys are probed at random: without huge pages nearly every probe
     * also misses the TLB. The kernel backs only the 2 MiB-aligned parts, so small extents
     * are left as they are. */
    if (p && size >= HUGE_EXTENT)
        madvise(p, size, MADV_HUGEPAGE);
    if (p && a->os_node >= 0 && !atomic_load_explicit(&a->bind_errno, memory_order_relaxed)) {
        unsigned long mask[1024 / (8 * sizeof(unsigned long))] = {0};
        mask[a->os_node / (8 * sizeof(unsigned long))] |=
            1ul << (a->os_node % (8 * sizeof(unsigned long)));
        if (syscall(SYS_mbind, p, size, MPOL_PREFERRED, mask, 8 * sizeof mask, 0) != 0)
            atomic_store_explicit(&a->bind_errno, errno, memory_order_relaxed);
    }
    return p;
}

/* The kernel's number of logical NUMA node `node`, or -1 when there is nothing to bind to:
 * hwloc points at another machine (HWLOC_SYNTHETIC, an XML file), or the node is not there. */
static int os_node_of(weir_state_env *env, int node)
{
    if (node < 0)
        return -1;
    if (!env->topo) {
        hwloc_topology_t t;
        if (hwloc_topology_init(&t) < 0)
            return -1;
        if (hwloc_topology_load(t) < 0) {
            hwloc_topology_destroy(t);
            return -1;
        }
        env->topo = t;
    }
    hwloc_topology_t t = env->topo;
    if (!hwloc_topology_is_thissystem(t))
        return -1;
    hwloc_obj_t o = hwloc_get_obj_by_type(t, HWLOC_OBJ_NUMANODE, (unsigned)node);
    if (!o || o->os_index >= 1024)
        return -1;
    return (int)o->os_index;
}

static struct heap_arena *arena_new(weir_state_env *env, int node)
{
    struct heap_arena *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    a->node = node;
    a->os_node = os_node_of(env, node);
    a->hooks = *default_hooks;
    a->hooks.alloc = bound_extent_alloc;
    extent_hooks_t *hp = &a->hooks;
    size_t sz = sizeof a->ind;
    if (mallctl("arenas.create", &a->ind, &sz, &hp, sizeof hp) != 0) {
        free(a);
        return NULL;
    }
    return a;
}

static void arena_free(struct heap_arena *a)
{
    char name[64];
    snprintf(name, sizeof name, "arena.%u.destroy", a->ind);
    mallctl(name, NULL, NULL, NULL, 0);
    free(a);
}

static void arena_purge(struct heap_arena *a)
{
    char name[64];
    snprintf(name, sizeof name, "arena.%u.purge", a->ind);
    mallctl(name, NULL, NULL, NULL, 0);
}
#endif

int heap_env_init(weir_state_env *env)
{
#ifdef WEIR_HAVE_JEMALLOC
    if (!default_hooks) {
        extent_hooks_t *h;
        size_t sz = sizeof h;
        if (mallctl("arena.0.extent_hooks", &h, &sz, NULL, 0) != 0)
            return -ENOSYS;
        default_hooks = h; /* the same pointer for every process-wide call; a benign race */
    }
#endif
    return 0;
}

void heap_env_fini(weir_state_env *env)
{
#ifdef WEIR_HAVE_JEMALLOC
    /* Destroying an arena frees whatever is still in it: only safe once every backend that
     * allocated there is closed. A leak beats a use after free if the runtime got that wrong. */
    for (int i = 0; i <= HEAP_MAX_NODES; i++)
        if (env->arenas[i] && env->open_backends == 0)
            arena_free(env->arenas[i]);
    if (env->topo)
        hwloc_topology_destroy(env->topo);
#else
#endif
}

static int __attribute__((noinline)) pool_exhausted(weir_keyed_backend *be)
{
    char size[64];
    weir_format_size(be->env->heap_limit, size, sizeof size);
    return state_err(be, -ENOSPC,
                     "task heap pool exhausted: %s (memory.task.heap.size) in use by keyed state; "
                     "raise memory.task.heap.size or memory.process.size, or use state.backend: "
                     "rocksdb",
                     size);
}

static int charge(weir_keyed_backend *be, size_t n)
{
    weir_state_env *env = be->env;
    uint64_t used = atomic_fetch_add_explicit(&env->heap_used, n, memory_order_relaxed) + n;
    if (used > env->heap_limit) {
        atomic_fetch_sub_explicit(&env->heap_used, n, memory_order_relaxed);
        return pool_exhausted(be);
    }
    be->heap_bytes += n;
    return 0;
}

static void uncharge(weir_keyed_backend *be, size_t n)
{
    atomic_fetch_sub_explicit(&be->env->heap_used, n, memory_order_relaxed);
    be->heap_bytes -= n;
}

static void *halloc(weir_keyed_backend *be, size_t size, bool zero)
{
#ifdef WEIR_HAVE_JEMALLOC
    size_t usable = nallocx(size, be->mflags);
    if (charge(be, usable) < 0)
        return NULL;
    void *p = mallocx(size, be->mflags | (zero ? MALLOCX_ZERO : 0));
    if (!p) {
        uncharge(be, usable);
        state_err(be, -ENOMEM, "operator %s: out of memory for keyed state", be->uid);
    }
    return p;
#else
    void *p = zero ? calloc(1, size) : malloc(size);
    if (!p) {
        state_err(be, -ENOMEM, "operator %s: out of memory for keyed state", be->uid);
        return NULL;
    }
    if (charge(be, malloc_usable_size(p)) < 0) {
        free(p);
        return NULL;
    }
    return p;
#endif
}

static void hfree(weir_keyed_backend *be, void *p)
{
    if (!p)
        return;
#ifdef WEIR_HAVE_JEMALLOC
    uncharge(be, sallocx(p, be->mflags));
    dallocx(p, be->mflags);
#else
    uncharge(be, malloc_usable_size(p));
    free(p);
#endif
}

/* Like realloc; on failure p is untouched and still charged. */
static void *hrealloc(weir_keyed_backend *be, void *p, size_t size)
{
    if (!p)
        return halloc(be, size, false);
#ifdef WEIR_HAVE_JEMALLOC
    size_t old = sallocx(p, be->mflags), usable = nallocx(size, be->mflags);
    if (usable > old && charge(be, usable - old) < 0)
        return NULL;
    void *q = rallocx(p, size, be->mflags);
    if (!q) {
        if (usable > old)
            uncharge(be, usable - old);
        state_err(be, -ENOMEM, "operator %s: out of memory for keyed state", be->uid);
        return NULL;
    }
    if (usable < old)
        uncharge(be, old - usable);
    return q;
#else
    void *q = halloc(be, size, false);
    if (!q)
        return NULL;
    size_t old = malloc_usable_size(p);
    memcpy(q, p, old < size ? old : size);
    hfree(be, p);
    return q;
#endif
}

int heap_backend_open(weir_keyed_backend *be, char *err, size_t errlen)
{
#ifdef WEIR_HAVE_JEMALLOC
    weir_state_env *env = be->env;
    int slot = be->numa_node >= 0 && be->numa_node < HEAP_MAX_NODES ? be->numa_node + 1 : 0;
    pthread_mutex_lock(&env->lock);
    if (!env->arenas[slot])
        env->arenas[slot] = arena_new(env, slot - 1);
    be->arena = env->arenas[slot];
    pthread_mutex_unlock(&env->lock);
    if (!be->arena) {
        snprintf(err, errlen, "operator %s: cannot create a jemalloc arena for keyed state",
                 be->uid);
        return -ENOMEM;
    }
    /* An explicit tcache: the backend is used by one thread at a time, though not always the
     * thread that opened it, so the thread's own tcache is the wrong one. */
    unsigned tc;
    size_t sz = sizeof tc;
    if (mallctl("tcache.create", &tc, &sz, NULL, 0) == 0) {
        be->tcache = tc;
        be->mflags = (int)MALLOCX_ARENA(be->arena->ind) | MALLOCX_TCACHE(tc);
    } else {
        be->tcache = UINT32_MAX;
        be->mflags = (int)MALLOCX_ARENA(be->arena->ind) | MALLOCX_TCACHE_NONE;
    }
#else
#endif
    return 0;
}

void heap_backend_close(weir_keyed_backend *be)
{
#ifdef WEIR_HAVE_JEMALLOC
    if (be->tcache != UINT32_MAX) {
        unsigned tc = be->tcache;
        mallctl("tcache.destroy", NULL, NULL, &tc, sizeof tc);
    }
#else
#endif
}

/* ---- tables ----------------------------------------------------------------------------- */

static inline uint8_t *slot_at(const struct htable *t, uint32_t ss, uint32_t i)
{
    return t->slots + (size_t)i * ss;
}

static inline uint64_t slot_hash(const uint8_t *sl)
{
    return *(const uint64_t *)sl;
}

static inline uint32_t home_of(uint64_t h, uint32_t cap)
{
    return (uint32_t)(h >> 1) & (cap - 1);
}

/* Rehash into newcap slots (newcap 0 frees the table). */
static int tab_resize(weir_keyed_backend *be, struct htable *t, uint32_t ss, uint32_t newcap)
{
    uint8_t *slots = NULL;
    if (newcap) {
        slots = halloc(be, (size_t)newcap * ss, true);
        if (!slots)
            return -ENOSPC;
        for (uint32_t i = 0; i < t->cap; i++) {
            const uint8_t *src = slot_at(t, ss, i);
            uint64_t h = slot_hash(src);
            if (!h)
                continue;
            uint32_t j = home_of(h, newcap);
            while (slot_hash(slots + (size_t)j * ss))
                j = (j + 1) & (newcap - 1);
            memcpy(slots + (size_t)j * ss, src, ss);
        }
    }
    hfree(be, t->slots);
    t->slots = slots;
    t->cap = newcap;
    be->gen++;
    return 0;
}

static int tab_reserve_one(weir_keyed_backend *be, struct htable *t, uint32_t ss)
{
    if ((uint64_t)(t->count + 1) * 4 <= (uint64_t)t->cap * 3)
        return 0;
    if (t->cap >= (1u << 30))
        return state_err(be, -ENOSPC, "operator %s: a key group of keyed state has 2^30 entries",
                         be->uid);
    return tab_resize(be, t, ss, t->cap ? t->cap * 2 : MIN_CAP);
}

/* The smallest capacity that holds count entries at most half full. */
static uint32_t fit_cap(uint32_t count)
{
    if (count == 0)
        return 0;
    uint32_t c = MIN_CAP;
    while (c < 2 * count)
        c *= 2;
    return c;
}

/* Backward-shift deletion: later entries of the probe run move up, so no tombstone is left.
 * The slot's payload must already be released. A scan that deletes as it goes passes shrink
 * false (a resize would reorder what it has not seen yet) and fits the table afterwards. */
static void tab_delete(weir_keyed_backend *be, struct htable *t, uint32_t ss, uint32_t i,
                       bool shrink)
{
    uint32_t mask = t->cap - 1, j = i;
    for (;;) {
        j = (j + 1) & mask;
        uint8_t *sj = slot_at(t, ss, j);
        uint64_t hj = slot_hash(sj);
        if (!hj)
            break;
        uint32_t home = home_of(hj, t->cap);
        if (((j - home) & mask) >= ((j - i) & mask)) {
            memcpy(slot_at(t, ss, i), sj, ss);
            i = j;
        }
    }
    memset(slot_at(t, ss, i), 0, ss);
    t->count--;
    be->gen++;
    if (!shrink)
        return;
    if (t->count == 0)
        tab_resize(be, t, ss, 0);
    else if (t->cap > 64 && t->count * 8 < t->cap)
        tab_resize(be, t, ss, t->cap / 2); /* on failure the table just stays larger */
}

static inline bool outer_find(const struct htable *t, uint32_t ss, uint64_t h, uint64_t key,
                              uint64_t ns, uint32_t *idx)
{
    uint32_t mask = t->cap - 1, i = home_of(h, t->cap);
    for (;;) {
        const uint64_t *sl = (const uint64_t *)slot_at(t, ss, i);
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

static inline uint64_t mix64(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

/* Same as state.c's key_hash: restore needs it for keys that are not the current one. */
static inline uint64_t outer_hash(uint64_t key, uint64_t ns)
{
    return mix64(key ^ (ns * 0x9e3779b97f4a7c15ull)) | 1;
}

static uint64_t ukey_hash(const void *ukey, uint32_t n)
{
    const uint8_t *p = ukey;
    uint64_t h = 0x9e3779b97f4a7c15ull ^ n;
    for (; n >= 8; n -= 8, p += 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        h = mix64(h ^ v) * 0x9e3779b97f4a7c15ull;
    }
    if (n) {
        uint64_t v = 0;
        memcpy(&v, p, n);
        h = mix64(h ^ v);
    }
    return mix64(h) | 1;
}

static bool sub_find(const struct kstate *s, const struct htable *t, uint64_t h, const void *ukey,
                     uint32_t *idx)
{
    uint32_t mask = t->cap - 1, i = home_of(h, t->cap);
    for (;;) {
        const uint8_t *sl = slot_at(t, s->sub_slot_size, i);
        uint64_t sh = slot_hash(sl);
        if (!sh) {
            *idx = i;
            return false;
        }
        if (sh == h && memcmp(sl + 8, ukey, s->key_size) == 0) {
            *idx = i;
            return true;
        }
        i = (i + 1) & mask;
    }
}

/* ---- states ----------------------------------------------------------------------------- */

static inline uint32_t round8(uint32_t n)
{
    return (n + 7u) & ~7u;
}

int heap_state_init(struct kstate *s)
{
    weir_keyed_backend *be = s->be;
    uint32_t payload;
    switch (s->kind) {
    case KIND_LIST:
        payload = sizeof(struct hlist);
        break;
    case KIND_MAP:
        payload = sizeof(struct htable *);
        break;
    default:
        payload = round8(s->value_size);
        break;
    }
    /* Map entries carry their own timestamps (TTL per user key, as Flink); other kinds one
     * per (key, namespace). */
    bool outer_ts = s->ttl && s->kind != KIND_MAP;
    s->off_ts = 24;
    s->off_val = outer_ts ? 32 : 24;
    s->slot_size = s->off_val + payload;
    s->sub_off_ts = 8 + round8(s->key_size);
    s->sub_off_val = s->sub_off_ts + (s->ttl ? 8 : 0);
    s->sub_slot_size = s->sub_off_val + round8(s->value_size);
    s->tabs = halloc(be, (size_t)be->nkg * sizeof *s->tabs, true);
    return s->tabs ? 0 : -ENOSPC;
}

/* Releases what an outer slot's payload owns (a list's array, a map's table). */
static void release_payload(struct kstate *s, uint8_t *sl)
{
    weir_keyed_backend *be = s->be;
    if (s->kind == KIND_LIST) {
        struct hlist *l = (struct hlist *)(sl + s->off_val);
        hfree(be, l->elems);
        l->elems = NULL;
        l->n = l->cap = 0;
    } else if (s->kind == KIND_MAP) {
        struct htable **sub = (struct htable **)(sl + s->off_val);
        if (*sub) {
            hfree(be, (*sub)->slots);
            hfree(be, *sub);
            *sub = NULL;
        }
    }
}

void heap_state_free(struct kstate *s)
{
    weir_keyed_backend *be = s->be;
    if (!s->tabs)
        return;
    for (uint32_t k = 0; k < be->nkg; k++) {
        struct htable *t = &s->tabs[k];
        for (uint32_t i = 0; i < t->cap; i++) {
            uint8_t *sl = slot_at(t, s->slot_size, i);
            if (slot_hash(sl))
                release_payload(s, sl);
        }
        hfree(be, t->slots);
    }
    hfree(be, s->tabs);
    s->tabs = NULL;
}

static void remove_outer(struct kstate *s, struct htable *t, uint32_t idx, bool shrink)
{
    release_payload(s, slot_at(t, s->slot_size, idx));
    tab_delete(s->be, t, s->slot_size, idx, shrink);
}

static inline int64_t *ts_of(const struct kstate *s, uint8_t *sl)
{
    return (int64_t *)(sl + s->off_ts);
}

/* Removes expired entries of a map's table; true when the table is now empty. */
static bool sweep_sub(struct kstate *s, struct htable *sub, int64_t now)
{
    for (uint32_t i = 0; i < sub->cap;) {
        uint8_t *sl = slot_at(sub, s->sub_slot_size, i);
        if (slot_hash(sl) && state_expired(s, *(int64_t *)(sl + s->sub_off_ts), now)) {
            tab_delete(s->be, sub, s->sub_slot_size, i, false);
            continue; /* a later entry may have moved into i */
        }
        i++;
    }
    return sub->count == 0;
}

/* Is the outer slot expired (and should go)? For a map: are all its entries expired (the
 * expired ones are removed on the way). */
static bool outer_expired(struct kstate *s, uint8_t *sl, int64_t now)
{
    if (s->kind == KIND_MAP) {
        struct htable *sub = *(struct htable **)(sl + s->off_val);
        return sweep_sub(s, sub, now);
    }
    return state_expired(s, *ts_of(s, sl), now);
}

/* Flink's incremental cleanup: a write to a TTL state looks at a few more of its slots. */
static void ttl_step(struct kstate *s)
{
    weir_keyed_backend *be = s->be;
    int64_t now = state_now(be);
    for (int budget = TTL_CLEANUP_STEP; budget > 0; budget--) {
        struct htable *t = &s->tabs[s->cur_kgi];
        if (s->cur_slot >= t->cap) {
            s->cur_slot = 0;
            s->cur_kgi = s->cur_kgi + 1 < be->nkg ? s->cur_kgi + 1 : 0;
            continue;
        }
        uint8_t *sl = slot_at(t, s->slot_size, s->cur_slot);
        if (slot_hash(sl) && outer_expired(s, sl, now)) {
            remove_outer(s, t, s->cur_slot, false);
            continue;
        }
        s->cur_slot++;
    }
}

/* The current key's slot in s: found (true) or the empty slot where it would go. Remembered
 * until the key or any table of the backend changes, so get-then-put probes once. */
static inline bool find_cur(struct kstate *s, struct htable *t, uint32_t *idx)
{
    weir_keyed_backend *be = s->be;
    if (s->c_gen == be->gen) {
        *idx = s->c_idx;
        return s->c_found;
    }
    bool found = false;
    *idx = UINT32_MAX;
    if (t->cap)
        found = outer_find(t, s->slot_size, be->h, be->key, be->ns, idx);
    s->c_gen = be->gen;
    s->c_idx = *idx;
    s->c_found = found;
    return found;
}

/* The current key's slot, created (zeroed payload) when absent; *created says which. An
 * expired entry counts as absent: its payload is reset. NULL on error (pool exhausted). */
static uint8_t *slot_for_write(struct kstate *s, bool *created)
{
    weir_keyed_backend *be = s->be;
    if (s->ttl)
        ttl_step(s);
    struct htable *t = &s->tabs[be->kgi];
    uint32_t idx;
    if (find_cur(s, t, &idx)) {
        uint8_t *sl = slot_at(t, s->slot_size, idx);
        *created = false;
        if (s->ttl && s->kind != KIND_MAP && state_expired(s, *ts_of(s, sl), state_now(be))) {
            release_payload(s, sl);
            memset(sl + s->off_val, 0, s->slot_size - s->off_val);
            *created = true;
        }
        return sl;
    }
    if (idx == UINT32_MAX || (uint64_t)(t->count + 1) * 4 > (uint64_t)t->cap * 3) {
        if (tab_reserve_one(be, t, s->slot_size) < 0)
            return NULL;
        outer_find(t, s->slot_size, be->h, be->key, be->ns, &idx);
    }
    uint64_t *sl = (uint64_t *)slot_at(t, s->slot_size, idx);
    sl[0] = be->h;
    sl[1] = be->key;
    sl[2] = be->ns;
    t->count++;
    s->c_gen = be->gen;
    s->c_idx = idx;
    s->c_found = true;
    *created = true;
    return (uint8_t *)sl;
}

/* The current key's live slot, or NULL; an expired one is removed (except while iterating). */
static uint8_t *slot_for_read(struct kstate *s, struct htable **tp, uint32_t *idxp)
{
    weir_keyed_backend *be = s->be;
    struct htable *t = &s->tabs[be->kgi];
    uint32_t idx;
    if (!find_cur(s, t, &idx))
        return NULL;
    uint8_t *sl = slot_at(t, s->slot_size, idx);
    if (s->ttl && s->kind != KIND_MAP) {
        int64_t now = state_now(be);
        int64_t *ts = ts_of(s, sl);
        if (state_expired(s, *ts, now)) {
            if (!s->iterating)
                remove_outer(s, t, idx, true);
            return NULL;
        }
        if (s->update_on_read)
            *ts = now;
    }
    if (tp)
        *tp = t;
    if (idxp)
        *idxp = idx;
    return sl;
}

const void *heap_value_get(struct kstate *s)
{
    uint8_t *sl = slot_for_read(s, NULL, NULL);
    return sl ? sl + s->off_val : NULL;
}

static inline void touch(struct kstate *s, uint8_t *sl)
{
    if (s->ttl)
        *ts_of(s, sl) = state_now(s->be);
}

int heap_value_put(struct kstate *s, const void *value)
{
    bool created;
    uint8_t *sl = slot_for_write(s, &created);
    if (!sl)
        return -ENOSPC;
    memcpy(sl + s->off_val, value, s->value_size);
    touch(s, sl);
    return 0;
}

int heap_clear(struct kstate *s)
{
    weir_keyed_backend *be = s->be;
    struct htable *t = &s->tabs[be->kgi];
    uint32_t idx;
    if (find_cur(s, t, &idx))
        remove_outer(s, t, idx, true);
    return 0;
}

int heap_reduce(struct kstate *s, const void *in)
{
    bool created;
    uint8_t *sl = slot_for_write(s, &created);
    if (!sl)
        return -ENOSPC;
    void *acc = sl + s->off_val;
    if (s->kind == KIND_REDUCING) {
        if (created)
            memcpy(acc, in, s->value_size);
        else
            s->reduce(acc, in);
    } else {
        if (created)
            s->agg.init(acc);
        s->agg.add(acc, in);
    }
    touch(s, sl);
    return 0;
}

/* ---- list ------------------------------------------------------------------------------- */

static int list_reserve(struct kstate *s, struct hlist *l, uint32_t n)
{
    if (n <= l->cap)
        return 0;
    uint32_t cap = l->cap ? l->cap : 4;
    while (cap < n)
        cap = cap > (1u << 30) ? n : cap * 2;
    void *e = hrealloc(s->be, l->elems, (size_t)cap * s->value_size);
    if (!e)
        return -ENOSPC;
    l->elems = e;
    l->cap = cap;
    return 0;
}

/* A slot just created by slot_for_write for a list with nothing in it must not stay: an empty
 * list is an absent one. */
static void drop_if_empty(struct kstate *s, uint8_t *sl)
{
    struct hlist *l = (struct hlist *)(sl + s->off_val);
    if (l->n == 0)
        heap_clear(s);
}

int heap_list_add(struct kstate *s, const void *elem)
{
    bool created;
    uint8_t *sl = slot_for_write(s, &created);
    if (!sl)
        return -ENOSPC;
    struct hlist *l = (struct hlist *)(sl + s->off_val);
    if (list_reserve(s, l, l->n + 1) < 0) {
        drop_if_empty(s, sl);
        return -ENOSPC;
    }
    memcpy(l->elems + (size_t)l->n * s->value_size, elem, s->value_size);
    l->n++;
    touch(s, sl);
    return 0;
}

int heap_list_get(struct kstate *s, const void **elems, uint32_t *n)
{
    uint8_t *sl = slot_for_read(s, NULL, NULL);
    if (!sl)
        return 0;
    struct hlist *l = (struct hlist *)(sl + s->off_val);
    *elems = l->elems;
    *n = l->n;
    return 0;
}

int heap_list_update(struct kstate *s, const void *elems, uint32_t n)
{
    bool created;
    uint8_t *sl = slot_for_write(s, &created);
    if (!sl)
        return -ENOSPC;
    struct hlist *l = (struct hlist *)(sl + s->off_val);
    if (list_reserve(s, l, n) < 0) {
        drop_if_empty(s, sl);
        return -ENOSPC;
    }
    memcpy(l->elems, elems, (size_t)n * s->value_size);
    l->n = n;
    touch(s, sl);
    return 0;
}

/* ---- map -------------------------------------------------------------------------------- */

static struct htable *cur_sub(struct kstate *s, struct htable **tp, uint32_t *idxp)
{
    uint8_t *sl = slot_for_read(s, tp, idxp);
    return sl ? *(struct htable **)(sl + s->off_val) : NULL;
}

const void *heap_map_get(struct kstate *s, const void *ukey)
{
    struct htable *t;
    uint32_t oidx, idx;
    struct htable *sub = cur_sub(s, &t, &oidx);
    if (!sub || !sub_find(s, sub, ukey_hash(ukey, s->key_size), ukey, &idx))
        return NULL;
    uint8_t *sl = slot_at(sub, s->sub_slot_size, idx);
    if (s->ttl) {
        int64_t now = state_now(s->be);
        int64_t *ts = (int64_t *)(sl + s->sub_off_ts);
        if (state_expired(s, *ts, now)) {
            if (!s->iterating) {
                tab_delete(s->be, sub, s->sub_slot_size, idx, true);
                if (sub->count == 0)
                    remove_outer(s, t, oidx, true);
            }
            return NULL;
        }
        if (s->update_on_read)
            *ts = now;
    }
    return sl + s->sub_off_val;
}

int heap_map_put(struct kstate *s, const void *ukey, const void *value)
{
    weir_keyed_backend *be = s->be;
    bool created;
    uint8_t *osl = slot_for_write(s, &created);
    if (!osl)
        return -ENOSPC;
    struct htable **subp = (struct htable **)(osl + s->off_val);
    if (!*subp) {
        *subp = halloc(be, sizeof **subp, true);
        if (!*subp) {
            heap_clear(s);
            return -ENOSPC;
        }
    }
    struct htable *sub = *subp;
    uint64_t h = ukey_hash(ukey, s->key_size);
    uint32_t idx = 0;
    bool found = sub->cap && sub_find(s, sub, h, ukey, &idx);
    if (!found) {
        if (tab_reserve_one(be, sub, s->sub_slot_size) < 0) {
            if (sub->count == 0)
                heap_clear(s);
            return -ENOSPC;
        }
        sub_find(s, sub, h, ukey, &idx);
        sub->count++;
    }
    uint8_t *sl = slot_at(sub, s->sub_slot_size, idx);
    *(uint64_t *)sl = h;
    memcpy(sl + 8, ukey, s->key_size);
    memcpy(sl + s->sub_off_val, value, s->value_size);
    if (s->ttl)
        *(int64_t *)(sl + s->sub_off_ts) = state_now(be);
    return 0;
}

int heap_map_remove(struct kstate *s, const void *ukey)
{
    struct htable *t;
    uint32_t oidx, idx;
    struct htable *sub = cur_sub(s, &t, &oidx);
    if (!sub || !sub_find(s, sub, ukey_hash(ukey, s->key_size), ukey, &idx))
        return 0;
    tab_delete(s->be, sub, s->sub_slot_size, idx, true);
    if (sub->count == 0)
        remove_outer(s, t, oidx, true);
    return 0;
}

int heap_map_iterate(struct kstate *s, int (*fn)(void *, const void *, const void *), void *arg)
{
    struct htable *sub = cur_sub(s, NULL, NULL);
    if (!sub)
        return 0;
    int64_t now = state_now(s->be);
    int rc = 0;
    s->iterating = true;
    for (uint32_t i = 0; i < sub->cap && rc == 0; i++) {
        uint8_t *sl = slot_at(sub, s->sub_slot_size, i);
        if (!slot_hash(sl))
            continue;
        if (s->ttl) {
            int64_t *ts = (int64_t *)(sl + s->sub_off_ts);
            if (state_expired(s, *ts, now))
                continue;
            if (s->update_on_read)
                *ts = now;
        }
        rc = fn(arg, sl + 8, sl + s->sub_off_val);
    }
    s->iterating = false;
    return rc < 0 ? rc : 0;
}

bool heap_map_is_empty(struct kstate *s)
{
    struct htable *sub = cur_sub(s, NULL, NULL);
    if (!sub)
        return true;
    if (!s->ttl)
        return sub->count == 0;
    int64_t now = state_now(s->be);
    for (uint32_t i = 0; i < sub->cap; i++) {
        uint8_t *sl = slot_at(sub, s->sub_slot_size, i);
        if (slot_hash(sl) && !state_expired(s, *(int64_t *)(sl + s->sub_off_ts), now))
            return false;
    }
    return true;
}

/* ---- prefetch --------------------------------------------------------------------------- */

/* The home slot of hash h in every state's table of key group kgi (a few states at most are
 * worth it: each prefetch is a cache line the record may not touch). */
void heap_prefetch(weir_keyed_backend *be, uint64_t h, uint32_t kgi)
{
    uint32_t n = be->nstates < 4 ? be->nstates : 4;
    for (uint32_t i = 0; i < n; i++) {
        struct kstate *s = be->states[i];
        const struct htable *t = &s->tabs[kgi];
        if (t->cap)
            __builtin_prefetch(slot_at(t, s->slot_size, home_of(h, t->cap)), 1);
    }
}

/* ---- snapshot, restore, cleanup, stats -------------------------------------------------- */

int heap_snapshot_kg(weir_keyed_backend *be, uint32_t kgi, state_emit_fn emit, void *arg)
{
    int64_t now = state_now(be);
    for (uint32_t si = 0; si < be->nstates; si++) {
        struct kstate *s = be->states[si];
        struct htable *t = &s->tabs[kgi];
        for (uint32_t i = 0; i < t->cap; i++) {
            uint8_t *sl = slot_at(t, s->slot_size, i);
            if (!slot_hash(sl))
                continue;
            uint64_t key = ((uint64_t *)sl)[1], ns = ((uint64_t *)sl)[2];
            int rc = 0;
            if (s->kind == KIND_MAP) {
                struct htable *sub = *(struct htable **)(sl + s->off_val);
                for (uint32_t j = 0; j < sub->cap && rc == 0; j++) {
                    uint8_t *e = slot_at(sub, s->sub_slot_size, j);
                    if (!slot_hash(e))
                        continue;
                    int64_t ts = s->ttl ? *(int64_t *)(e + s->sub_off_ts) : 0;
                    if (!state_expired(s, ts, now))
                        rc = emit(arg, s, key, ns, e + 8, ts, e + s->sub_off_val, s->value_size);
                }
            } else {
                int64_t ts = s->ttl ? *ts_of(s, sl) : 0;
                if (state_expired(s, ts, now))
                    continue;
                if (s->kind == KIND_LIST) {
                    struct hlist *l = (struct hlist *)(sl + s->off_val);
                    if (l->n)
                        rc =
                            emit(arg, s, key, ns, NULL, ts, l->elems, (size_t)l->n * s->value_size);
                } else {
                    rc = emit(arg, s, key, ns, NULL, ts, sl + s->off_val, s->value_size);
                }
            }
            if (rc < 0)
                return rc;
        }
    }
    return 0;
}

int heap_restore_entry(struct kstate *s, uint32_t kgi, uint64_t key, uint64_t ns, const void *ukey,
                       int64_t ts, const void *payload, size_t len)
{
    weir_keyed_backend *be = s->be;
    struct htable *t = &s->tabs[kgi];
    uint64_t h = outer_hash(key, ns);
    uint32_t idx;
    bool found = t->cap && outer_find(t, s->slot_size, h, key, ns, &idx);
    if (!found) {
        if (tab_reserve_one(be, t, s->slot_size) < 0)
            return -ENOSPC;
        outer_find(t, s->slot_size, h, key, ns, &idx);
        uint64_t *sl = (uint64_t *)slot_at(t, s->slot_size, idx);
        sl[0] = h;
        sl[1] = key;
        sl[2] = ns;
        t->count++;
    }
    be->gen++;
    uint8_t *sl = slot_at(t, s->slot_size, idx);
    int rc = 0;
    switch (s->kind) {
    case KIND_LIST: {
        struct hlist *l = (struct hlist *)(sl + s->off_val);
        uint32_t n = (uint32_t)(len / s->value_size);
        rc = list_reserve(s, l, n);
        if (rc == 0) {
            memcpy(l->elems, payload, len);
            l->n = n;
        }
        break;
    }
    case KIND_MAP: {
        struct htable **subp = (struct htable **)(sl + s->off_val);
        if (!*subp && !(*subp = halloc(be, sizeof **subp, true))) {
            rc = -ENOSPC;
            break;
        }
        struct htable *sub = *subp;
        uint64_t uh = ukey_hash(ukey, s->key_size);
        uint32_t j = 0;
        if (!(sub->cap && sub_find(s, sub, uh, ukey, &j))) {
            if ((rc = tab_reserve_one(be, sub, s->sub_slot_size)) < 0)
                break;
            sub_find(s, sub, uh, ukey, &j);
            sub->count++;
        }
        uint8_t *e = slot_at(sub, s->sub_slot_size, j);
        *(uint64_t *)e = uh;
        memcpy(e + 8, ukey, s->key_size);
        memcpy(e + s->sub_off_val, payload, len);
        if (s->ttl)
            *(int64_t *)(e + s->sub_off_ts) = ts;
        break;
    }
    default:
        memcpy(sl + s->off_val, payload, len);
        break;
    }
    if (s->ttl && s->kind != KIND_MAP)
        *ts_of(s, sl) = ts;
    if (rc < 0) {
        /* Leave no empty list or map behind. */
        bool empty = s->kind == KIND_LIST  ? ((struct hlist *)(sl + s->off_val))->n == 0
                     : s->kind == KIND_MAP ? !*(struct htable **)(sl + s->off_val) ||
                                                 (*(struct htable **)(sl + s->off_val))->count == 0
                                           : false;
        if (empty)
            remove_outer(s, t, idx, true);
    }
    return rc;
}

int heap_cleanup(weir_keyed_backend *be)
{
    int64_t now = state_now(be);
    for (uint32_t si = 0; si < be->nstates; si++) {
        struct kstate *s = be->states[si];
        for (uint32_t k = 0; k < be->nkg; k++) {
            struct htable *t = &s->tabs[k];
            if (s->ttl) {
                for (uint32_t i = 0; i < t->cap;) {
                    uint8_t *sl = slot_at(t, s->slot_size, i);
                    if (slot_hash(sl) && outer_expired(s, sl, now)) {
                        remove_outer(s, t, i, false);
                        continue; /* a later entry may have moved into i */
                    }
                    i++;
                }
            }
            /* Shrink what removals left sparse (tab_delete only halves once per removal). */
            uint32_t want = fit_cap(t->count);
            if (want < t->cap)
                tab_resize(be, t, s->slot_size, want);
            if (s->kind == KIND_MAP) {
                for (uint32_t i = 0; i < t->cap; i++) {
                    uint8_t *sl = slot_at(t, s->slot_size, i);
                    if (!slot_hash(sl))
                        continue;
                    struct htable *sub = *(struct htable **)(sl + s->off_val);
                    uint32_t w = fit_cap(sub->count);
                    if (w < sub->cap)
                        tab_resize(be, sub, s->sub_slot_size, w);
                }
            }
        }
    }
    be->gen++;
#ifdef WEIR_HAVE_JEMALLOC
    /* Freed extents go back to the kernel now rather than after jemalloc's decay time. */
    if (be->tcache != UINT32_MAX) {
        unsigned tc = be->tcache;
        mallctl("tcache.flush", NULL, NULL, &tc, sizeof tc);
    }
    arena_purge(be->arena);
#else
    malloc_trim(0);
#endif
    return 0;
}

void heap_stats(weir_keyed_backend *be, struct weir_keyed_backend_stats *st)
{
    for (uint32_t si = 0; si < be->nstates; si++) {
        struct kstate *s = be->states[si];
        for (uint32_t k = 0; k < be->nkg; k++) {
            struct htable *t = &s->tabs[k];
            if (s->kind != KIND_MAP) {
                st->entries += t->count;
                continue;
            }
            for (uint32_t i = 0; i < t->cap; i++) {
                uint8_t *sl = slot_at(t, s->slot_size, i);
                if (slot_hash(sl))
                    st->entries += (*(struct htable **)(sl + s->off_val))->count;
            }
        }
    }
    st->heap_bytes = be->heap_bytes;
#ifdef WEIR_HAVE_JEMALLOC
    st->numa_bound = be->arena && be->arena->os_node >= 0 &&
                     !atomic_load_explicit(&be->arena->bind_errno, memory_order_relaxed);
#endif
}
