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
 * Memory. Every byte (tables, list arrays, map tables) comes from heap_alloc/heap_free, which
 * charge the allocator's usable size to the env's task-heap counter before allocating; a charge
 * that would pass memory.task.heap.size fails the operation with -ENOSPC and the one-line message
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

/* Copies held for snapshot views give way to the live state: when they are what fills the
 * pool, the views are cancelled (heap_cow_reclaim) and the charge tried once more. */
static int charge(weir_keyed_backend *be, size_t n)
{
    weir_state_env *env = be->env;
    for (int tries = 0;; tries++) {
        uint64_t used = atomic_fetch_add_explicit(&env->heap_used, n, memory_order_relaxed) + n;
        if (used <= env->heap_limit)
            break;
        atomic_fetch_sub_explicit(&env->heap_used, n, memory_order_relaxed);
        /* a restore comes before any view: nothing to reclaim */
        if (tries > 0 || be->par_restore || !heap_cow_reclaim(be, n))
            return pool_exhausted(be);
    }
    if (be->par_restore)
        atomic_fetch_add_explicit(&be->par_bytes, (int64_t)n, memory_order_relaxed);
    else
        be->heap_bytes += n;
    return 0;
}

static void uncharge(weir_keyed_backend *be, size_t n)
{
    atomic_fetch_sub_explicit(&be->env->heap_used, n, memory_order_relaxed);
    if (be->par_restore)
        atomic_fetch_sub_explicit(&be->par_bytes, (int64_t)n, memory_order_relaxed);
    else
        be->heap_bytes -= n;
}

/* The backend's explicit tcache serves one thread at a time: a parallel restore's threads
 * allocate from the same arena without one (its tables are large allocations, which no
 * tcache caches anyway). */
void heap_restore_parallel_begin(weir_keyed_backend *be)
{
    atomic_store_explicit(&be->par_bytes, 0, memory_order_relaxed);
    be->par_mflags = be->mflags;
#ifdef WEIR_HAVE_JEMALLOC
    if (be->arena)
        be->mflags = (int)MALLOCX_ARENA(be->arena->ind) | MALLOCX_TCACHE_NONE;
#endif
}

void heap_restore_parallel_end(weir_keyed_backend *be)
{
    be->mflags = be->par_mflags;
    be->heap_bytes += (uint64_t)atomic_exchange_explicit(&be->par_bytes, 0, memory_order_relaxed);
}

int heap_hold(weir_keyed_backend *be, size_t n)
{
    if (charge(be, n) < 0) {
        be->err[0] = '\0'; /* not a write's error: the caller cancels its views instead */
        return -ENOSPC;
    }
    atomic_fetch_add_explicit(&be->cow_bytes, n, memory_order_relaxed);
    return 0;
}

void heap_unhold_other(weir_keyed_backend *be, size_t n)
{
    atomic_fetch_sub_explicit(&be->cow_bytes, n, memory_order_relaxed);
    atomic_fetch_sub_explicit(&be->env->heap_used, n, memory_order_relaxed);
    atomic_fetch_add_explicit(&be->freed_other, n, memory_order_relaxed);
}

void *heap_alloc(weir_keyed_backend *be, size_t size, bool zero)
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

void heap_free(weir_keyed_backend *be, void *p)
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

/* heap_free on a thread other than the backend's (a snapshot view's writer letting go of an
 * old version): no tcache, and the backend's own count is settled by its worker later
 * (heap_settle_frees). */
void heap_free_other(weir_keyed_backend *be, void *p)
{
    if (!p)
        return;
#ifdef WEIR_HAVE_JEMALLOC
    size_t n = sallocx(p, MALLOCX_TCACHE_NONE);
    dallocx(p, MALLOCX_TCACHE_NONE);
#else
    size_t n = malloc_usable_size(p);
    free(p);
#endif
    atomic_fetch_sub_explicit(&be->env->heap_used, n, memory_order_relaxed);
    atomic_fetch_add_explicit(&be->freed_other, n, memory_order_relaxed);
}

void heap_settle_frees(weir_keyed_backend *be)
{
    be->heap_bytes -= atomic_exchange_explicit(&be->freed_other, 0, memory_order_relaxed);
}

/* Like realloc; on failure p is untouched and still charged. */
void *heap_realloc(weir_keyed_backend *be, void *p, size_t size)
{
    if (!p)
        return heap_alloc(be, size, false);
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
    void *q = heap_alloc(be, size, false);
    if (!q)
        return NULL;
    size_t old = malloc_usable_size(p);
    memcpy(q, p, old < size ? old : size);
    heap_free(be, p);
    return q;
#endif
}

int heap_backend_open(weir_keyed_backend *be, char *err, size_t errlen)
{
    heap_cow_init(be);
    heap_cow_join_env(be);
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
        heap_cow_leave_env(be);
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
    heap_cow_leave_env(be);
    heap_cow_fini(be);
#ifdef WEIR_HAVE_JEMALLOC
    if (be->tcache != UINT32_MAX) {
        unsigned tc = be->tcache;
        mallctl("tcache.destroy", NULL, NULL, &tc, sizeof tc);
    }
#else
#endif
}

/* ---- cleanup, stats ---------------------------------------------------------------------- */

int heap_cleanup(weir_keyed_backend *be)
{
    int64_t now = state_now(be);
    for (uint32_t si = 0; si < be->nstates; si++) {
        struct kstate *s = be->states[si];
        for (uint32_t k = 0; k < be->nkg; k++) {
            struct htable *t = &s->tabs[k];
            if (heap_still_pinned(s, k))
                continue; /* a snapshot view reads it: the next cleanup does it */
            if (s->ttl) {
                for (uint32_t i = 0; i < t->cap;) {
                    uint8_t *sl = heap_slot_at(t, s->slot_size, i);
                    if (heap_slot_hash(sl) && heap_outer_expired(s, sl, now)) {
                        heap_remove_outer(s, t, i, false);
                        continue; /* a later entry may have moved into i */
                    }
                    i++;
                }
            }
            /* Shrink what removals left sparse (tab_delete only halves once per removal). */
            uint32_t want = heap_fit_cap(t->count);
            if (want < t->cap)
                heap_tab_resize(be, t, s->slot_size, want);
            if (s->kind == KIND_MAP) {
                for (uint32_t i = 0; i < t->cap; i++) {
                    uint8_t *sl = heap_slot_at(t, s->slot_size, i);
                    if (!heap_slot_hash(sl))
                        continue;
                    struct htable *sub = *(struct htable **)(sl + s->off_val);
                    uint32_t w = heap_fit_cap(sub->count);
                    if (w < sub->cap)
                        heap_tab_resize(be, sub, s->sub_slot_size, w);
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
                uint8_t *sl = heap_slot_at(t, s->slot_size, i);
                if (heap_slot_hash(sl))
                    st->entries += (*(struct htable **)(sl + s->off_val))->count;
            }
        }
    }
    heap_settle_frees(be);
    st->heap_bytes = be->heap_bytes;
    st->cow_bytes = atomic_load_explicit(&be->cow_bytes, memory_order_relaxed);
#ifdef WEIR_HAVE_JEMALLOC
    st->numa_bound = be->arena && be->arena->os_node >= 0 &&
                     !atomic_load_explicit(&be->arena->bind_errno, memory_order_relaxed);
#endif
}
