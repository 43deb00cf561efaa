/*
 * Copy-on-write snapshot views of the hashmap backend (state_view.h has the contract).
 *
 * Granularity is a state's key-group table, as Flink's CopyOnWriteStateMap versions its
 * whole map and copies per entry: here a view pins every table (refs + 1 on a struct
 * heap_pin per table, made on the first pin), and the worker's first change to a pinned
 * table copies that key group's table deeply (its slots, and the list arrays and map tables
 * they point to) unless no view holds it any more, in which case it only drops the pin. A
 * key group is 1/max-parallelism of a subtask's state, so one copy is short, and a key group
 * that is not written while a view is in flight is never copied.
 *
 * Threads: pin and unpin run on the backend's worker; views are written and released on any
 * thread. A view that lets go of the last reference to an old version frees it there
 * (heap_free_other: no tcache; the pool's counter at once, the backend's own count settled
 * by the worker), so neither the pin nor the worker pays for freeing it.
 *
 * A full pool (heap_cow_reclaim, from heap.c's charge, and a copy that does not fit): the
 * copies give way to the live state. The worker cancels every view on be->cow_list and
 * drops their pins itself, freeing the versions only they held, so it never waits for a
 * writer, which may be waiting for the io thread's buffers. A writer takes its own
 * reference to the version of the key group it is writing (under the view's walk_lock,
 * never held while writing), so that one version outlives a cancel until the writer
 * notices it, at its next entry, and lets go. Lock order: cow_lock, then walk_lock.
 */
#include "state_private.h"
#include "state_view.h"

#include <weir/config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct weir_keyed_view {
    weir_keyed_backend *be;
    int64_t now; /* expiry is judged as of the pin */
    uint32_t nstates, nkg;
    struct kstate **states;
    /* [state * nkg + kgi]; NULL: the table was empty, or the view was cancelled. Read by the
     * writer and cleared by a cancel under walk_lock; by release once off be->cow_list. */
    struct heap_pin **pins;
    /* A delta view: [state * nkg + kgi], what changed since the previous incremental pin.
     * NULL: the view writes everything. */
    struct heap_dirty *dirty;
    struct weir_keyed_delta_info delta; /* what dirty holds, counted at the pin */
    bool counted;                       /* in be->cow_views and on be->cow_list */
    struct weir_keyed_view *next;
    pthread_mutex_t walk_lock;
    _Atomic bool cancelled; /* set under walk_lock, with err saying why */
    char err[512];
};

void heap_cow_init(weir_keyed_backend *be)
{
    pthread_mutex_init(&be->cow_lock, NULL);
    pthread_cond_init(&be->cow_cond, NULL);
}

void heap_cow_fini(weir_keyed_backend *be)
{
    heap_cow_quiesce(be);
    pthread_cond_destroy(&be->cow_cond);
    pthread_mutex_destroy(&be->cow_lock);
}

/* Frees what a table version owns: its lists, its maps, its slots; on the backend's worker
 * or (other) on a view's writer. */
static void free_version(struct kstate *s, uint8_t *slots, uint32_t cap, uint32_t upto, bool other)
{
    weir_keyed_backend *be = s->be;
    void (*fr)(weir_keyed_backend *, void *) = other ? heap_free_other : heap_free;
    for (uint32_t i = 0; i < upto && i < cap; i++) {
        uint8_t *sl = slots + (size_t)i * s->slot_size;
        if (!heap_slot_hash(sl))
            continue;
        if (s->kind == KIND_LIST) {
            fr(be, ((struct hlist *)(sl + s->off_val))->elems);
        } else if (s->kind == KIND_MAP) {
            struct htable *sub = *(struct htable **)(sl + s->off_val);
            if (sub) {
                fr(be, sub->slots);
                fr(be, sub);
            }
        }
    }
    fr(be, slots);
}

static void free_pin(struct heap_pin *p, bool other)
{
    weir_keyed_backend *be = p->s->be;
    free_version(p->s, p->slots, p->cap, p->cap, other);
    atomic_fetch_sub_explicit(&be->cow_bytes, p->bytes, memory_order_relaxed);
    free(p);
}

void heap_cow_quiesce(weir_keyed_backend *be)
{
    pthread_mutex_lock(&be->cow_lock);
    while (be->cow_views > 0)
        pthread_cond_wait(&be->cow_cond, &be->cow_lock);
    pthread_mutex_unlock(&be->cow_lock);
    heap_settle_frees(be);
}

/* A deep copy of table t of s into *out (slots, lists, maps), charged to the pool; its size
 * in *bytes. -ENOSPC (nothing kept) when the pool cannot hold it. */
static int copy_version(struct kstate *s, const struct htable *t, uint8_t **out, uint64_t *bytes)
{
    weir_keyed_backend *be = s->be;
    size_t n = (size_t)t->cap * s->slot_size;
    uint8_t *slots = heap_alloc(be, n, false);
    if (!slots)
        return -ENOSPC;
    memcpy(slots, t->slots, n);
    *bytes = n;
    if (s->kind != KIND_LIST && s->kind != KIND_MAP) {
        *out = slots;
        return 0;
    }
    for (uint32_t i = 0; i < t->cap; i++) {
        uint8_t *sl = slots + (size_t)i * s->slot_size;
        if (!heap_slot_hash(sl))
            continue;
        void *copy = NULL;
        size_t len;
        if (s->kind == KIND_LIST) {
            struct hlist *l = (struct hlist *)(sl + s->off_val);
            len = (size_t)l->cap * s->value_size;
            if (l->elems && (copy = heap_alloc(be, len, false)) != NULL) {
                memcpy(copy, l->elems, (size_t)l->n * s->value_size);
                l->elems = copy;
            }
        } else {
            struct htable **subp = (struct htable **)(sl + s->off_val);
            struct htable *sub = heap_alloc(be, sizeof *sub, false);
            len = sizeof *sub + (size_t)(*subp)->cap * s->sub_slot_size;
            copy = sub;
            if (sub) {
                *sub = **subp;
                sub->slots = sub->cap ? heap_alloc(be, len - sizeof *sub, false) : NULL;
                if (sub->cap && !sub->slots) {
                    heap_free(be, sub);
                    copy = NULL;
                } else {
                    if (sub->cap)
                        memcpy(sub->slots, (*subp)->slots, len - sizeof *sub);
                    *subp = sub;
                }
            }
        }
        if (!copy && (s->kind == KIND_MAP || ((struct hlist *)(sl + s->off_val))->elems)) {
            /* Undo: entries before i point at copies, i and after at the originals. */
            memset(sl, 0, (size_t)(t->cap - i) * s->slot_size);
            free_version(s, slots, t->cap, i, false);
            return -ENOSPC;
        }
        *bytes += len;
    }
    *out = slots;
    return 0;
}

/* Lets go of every pin v holds; the last holder of a version frees it (other: not on the
 * backend's worker). */
static void drop_pins(weir_keyed_view *v, bool other)
{
    for (size_t i = 0; i < (size_t)v->nstates * v->nkg; i++) {
        struct heap_pin *p = v->pins[i];
        v->pins[i] = NULL;
        if (p && atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) == 1)
            free_pin(p, other);
    }
}

/* Cancels every view on be's list (why: COW_STARVED_MSG's values) and drops their pins, on
 * be's worker (owner) or another backend's; then waits for views already letting go (off
 * the list: they never wait on a worker) so that what they held is freed too. */
void heap_cow_starved_why(weir_keyed_backend *be, uint64_t want, const char *fmt, char *buf,
                          size_t len)
{
    char limit[32], used[32], held[32];
    weir_format_size(be->env->heap_limit, limit, sizeof limit);
    weir_format_size(atomic_load_explicit(&be->env->heap_used, memory_order_relaxed) + want, used,
                     sizeof used);
    weir_format_size(atomic_load_explicit(&be->cow_bytes, memory_order_relaxed), held, sizeof held);
    snprintf(buf, len, fmt, be->uid, limit, used, held);
}

static void cancel_views(weir_keyed_backend *be, uint64_t want, bool owner)
{
    char why[sizeof((weir_keyed_view *)0)->err];
    heap_cow_starved_why(be, want, COW_STARVED_MSG, why, sizeof why);
    pthread_mutex_lock(&be->cow_lock);
    int listed = 0;
    for (weir_keyed_view *v = be->cow_list; v; v = v->next, listed++) {
        pthread_mutex_lock(&v->walk_lock);
        if (!atomic_load_explicit(&v->cancelled, memory_order_relaxed)) {
            memcpy(v->err, why, sizeof why);
            /* release: pairs with the acquire loads in heap_view_walk_kg and cancel_emit,
             * after which the writer reads err */
            atomic_store_explicit(&v->cancelled, true, memory_order_release);
        }
        drop_pins(v, !owner);
        pthread_mutex_unlock(&v->walk_lock);
    }
    while (be->cow_views > listed) {
        pthread_cond_wait(&be->cow_cond, &be->cow_lock);
        listed = 0;
        for (weir_keyed_view *v = be->cow_list; v; v = v->next)
            listed++;
    }
    pthread_mutex_unlock(&be->cow_lock);
    if (owner)
        heap_settle_frees(be);
}

/* The env's lock keeps every listed backend open meanwhile (heap_cow_leave_env). */
bool heap_cow_reclaim(weir_keyed_backend *be, uint64_t want)
{
    bool any = false;
    pthread_mutex_lock(&be->env->lock);
    for (weir_keyed_backend *o = be->env->heaps; o; o = o->env_next) {
        if (!atomic_load_explicit(&o->cow_bytes, memory_order_relaxed))
            continue; /* nothing held beside the live state */
        cancel_views(o, want, o == be);
        any = true;
    }
    pthread_mutex_unlock(&be->env->lock);
    return any;
}

void heap_cow_join_env(weir_keyed_backend *be)
{
    pthread_mutex_lock(&be->env->lock);
    be->env_next = be->env->heaps;
    be->env->heaps = be;
    pthread_mutex_unlock(&be->env->lock);
}

void heap_cow_leave_env(weir_keyed_backend *be)
{
    pthread_mutex_lock(&be->env->lock);
    weir_keyed_backend **pp = &be->env->heaps;
    while (*pp && *pp != be)
        pp = &(*pp)->env_next;
    if (*pp)
        *pp = be->env_next;
    pthread_mutex_unlock(&be->env->lock);
}

/* No room in the pool for a copy of p even with the held copies gone: the views in flight
 * are cancelled, and once none holds p the worker writes in place. Only a writer in the
 * middle of p's key group still holds it: it lets go at its next entry (cancel_emit) or as
 * soon as the io thread takes its buffer. The pool's error the failed copy left is not the
 * write's: cleared. */
static void starved(weir_keyed_backend *be, struct heap_pin *p, uint64_t want)
{
    be->err[0] = '\0';
    cancel_views(be, want, true);
    pthread_mutex_lock(&be->cow_lock);
    while (atomic_load_explicit(&p->refs, memory_order_acquire) != 1)
        pthread_cond_wait(&be->cow_cond, &be->cow_lock);
    pthread_mutex_unlock(&be->cow_lock);
}

int heap_unpin_slow(struct kstate *s, uint32_t kgi)
{
    weir_keyed_backend *be = s->be;
    struct heap_pin *p = s->pins[kgi];
    struct htable *t = &s->tabs[kgi];
    if (atomic_load_explicit(&p->refs, memory_order_acquire) == 1) {
        s->pins[kgi] = NULL; /* no view holds it: the live table keeps it as it is */
        free(p);
        return 0;
    }
    uint8_t *copy;
    uint64_t bytes;
    if (copy_version(s, t, &copy, &bytes) < 0) {
        starved(be, p, (uint64_t)t->cap * s->slot_size);
        s->pins[kgi] = NULL;
        free(p);
        return 0;
    }
    t->slots = copy;
    s->pins[kgi] = NULL;
    be->gen++;
    p->bytes = bytes;
    atomic_fetch_add_explicit(&be->cow_bytes, bytes, memory_order_relaxed);
    if (atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) == 1)
        free_pin(p, false); /* the views let go meanwhile */
    return 0;
}

bool heap_still_pinned(struct kstate *s, uint32_t kgi)
{
    struct heap_pin *p = s->pins[kgi];
    if (!p)
        return false;
    if (atomic_load_explicit(&p->refs, memory_order_acquire) != 1)
        return true;
    s->pins[kgi] = NULL;
    free(p);
    return false;
}

/* ---- what changed since the last incremental pin ----------------------------------------- */

int heap_dirty_init(struct kstate *s)
{
    if (!s->dirty)
        s->dirty = heap_alloc(s->be, (size_t)s->be->nkg * sizeof *s->dirty, true);
    return s->dirty ? 0 : -ENOSPC;
}

void heap_dirty_free(struct kstate *s)
{
    if (!s->dirty)
        return;
    for (uint32_t k = 0; k < s->be->nkg; k++)
        heap_free(s->be, s->dirty[k].set.slots);
    heap_free(s->be, s->dirty);
    s->dirty = NULL;
}

/* Past this many changed entries, and half the table, a key group is written whole: the set
 * would cost about as much as the table, and the delta as much as a full one. */
#define DIRTY_WHOLE_MIN 64u

static void dirty_whole(struct kstate *s, struct heap_dirty *d, uint8_t why)
{
    heap_free(s->be, d->set.slots);
    d->set = (struct htable){0};
    d->whole = why;
}

void heap_dirty_mark_slow(struct kstate *s, uint32_t kgi, uint64_t h, uint64_t key, uint64_t ns)
{
    struct heap_dirty *d = &s->dirty[kgi];
    uint32_t idx;
    if (d->whole || (d->set.cap && heap_outer_find(&d->set, HEAP_DIRTY_SS, h, key, ns, &idx)))
        return;
    if (d->set.count >= DIRTY_WHOLE_MIN && (uint64_t)d->set.count * 2 >= s->tabs[kgi].count) {
        dirty_whole(s, d, DIRTY_MOSTLY);
        return;
    }
    if (heap_tab_reserve_one(s->be, &d->set, HEAP_DIRTY_SS) < 0) {
        s->be->err[0] = '\0'; /* not the write's error: the key group goes whole instead */
        dirty_whole(s, d, DIRTY_NOMEM);
        return;
    }
    heap_outer_find(&d->set, HEAP_DIRTY_SS, h, key, ns, &idx);
    uint64_t *e = (uint64_t *)heap_slot_at(&d->set, HEAP_DIRTY_SS, idx);
    e[0] = h;
    e[1] = key;
    e[2] = ns;
    d->set.count++;
}

/* The pin of an incremental view takes every state's sets (a pointer each, as the tables)
 * and leaves empty ones: the next delta holds what changes from now on. */
static int take_dirty_sets(weir_keyed_backend *be, weir_keyed_view *v)
{
    size_t n = (size_t)v->nstates * v->nkg;
    v->dirty = calloc(n ? n : 1, sizeof *v->dirty);
    if (!v->dirty)
        return -ENOMEM;
    for (uint32_t si = 0; si < v->nstates; si++) {
        struct kstate *s = v->states[si];
        if (!s->dirty)
            continue;
        for (uint32_t k = 0; k < v->nkg; k++) {
            v->delta.entries += s->dirty[k].set.count;
            v->delta.tables_mostly += s->dirty[k].whole == DIRTY_MOSTLY;
            v->delta.tables_nomem += s->dirty[k].whole == DIRTY_NOMEM;
            if (s->dirty[k].whole)
                v->delta.entries_whole += s->tabs[k].count;
        }
        memcpy(&v->dirty[(size_t)si * v->nkg], s->dirty, v->nkg * sizeof *s->dirty);
        memset(s->dirty, 0, v->nkg * sizeof *s->dirty);
    }
    (void)be;
    return 0;
}

/* The changes of table kgi of state si, read from the pinned version: each changed
 * (key, ns) as it is now, or its tombstone; or the whole table after a clear. */
static int walk_delta(weir_keyed_view *v, uint32_t si, uint32_t kgi, struct heap_pin *p,
                      state_emit_fn emit, void *arg)
{
    struct kstate *s = v->states[si];
    const struct heap_dirty *d = &v->dirty[(size_t)si * v->nkg + kgi];
    if (d->whole) {
        int rc = emit(arg, s, 0, 0, NULL, 0, NULL, STATE_EMIT_CLEAR);
        return rc < 0 || !p ? rc : heap_walk_table(s, p->slots, p->cap, v->now, emit, arg);
    }
    struct htable t = {.slots = p ? p->slots : NULL, .cap = p ? p->cap : 0};
    for (uint32_t i = 0; i < d->set.cap; i++) {
        const uint64_t *e = (const uint64_t *)heap_slot_at(&d->set, HEAP_DIRTY_SS, i);
        if (!e[0])
            continue;
        uint32_t idx;
        int rc =
            t.cap && heap_outer_find(&t, s->slot_size, e[0], e[1], e[2], &idx)
                ? heap_walk_slot(s, heap_slot_at(&t, s->slot_size, idx), v->now, true, emit, arg)
                : emit(arg, s, e[1], e[2], NULL, 0, NULL, STATE_EMIT_TOMBSTONE);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* ---- views ------------------------------------------------------------------------------ */

bool weir_keyed_view_applies(const weir_keyed_backend *be)
{
    return be && be->kind == BACKEND_HASHMAP;
}

const _Atomic uint64_t *weir_keyed_view_bytes(const weir_keyed_backend *be)
{
    return weir_keyed_view_applies(be) ? &be->cow_bytes : NULL;
}

static int pin(weir_keyed_backend *be, bool take_dirty, weir_keyed_view **out)
{
    heap_settle_frees(be);
    weir_keyed_view *v = calloc(1, sizeof *v);
    size_t n = (size_t)be->nstates * be->nkg;
    if (v) {
        v->states = malloc((be->nstates ? be->nstates : 1) * sizeof *v->states);
        v->pins = calloc(n ? n : 1, sizeof *v->pins);
    }
    if (!v || !v->states || !v->pins) {
        weir_keyed_view_release(v);
        return state_err(be, -ENOMEM, "operator %s: out of memory for a snapshot view", be->uid);
    }
    pthread_mutex_init(&v->walk_lock, NULL);
    v->be = be;
    v->now = state_now(be);
    v->nstates = be->nstates;
    v->nkg = be->nkg;
    memcpy(v->states, be->states, be->nstates * sizeof *v->states);
    for (uint32_t si = 0; si < be->nstates; si++) {
        struct kstate *s = be->states[si];
        for (uint32_t k = 0; k < be->nkg; k++) {
            struct htable *t = &s->tabs[k];
            if (!t->count)
                continue;
            struct heap_pin *p = s->pins[k];
            if (!p) {
                if (!(p = calloc(1, sizeof *p))) {
                    weir_keyed_view_release(v);
                    return state_err(be, -ENOMEM, "operator %s: out of memory for a snapshot view",
                                     be->uid);
                }
                atomic_init(&p->refs, 1);
                p->slots = t->slots;
                p->cap = t->cap;
                p->count = t->count;
                p->s = s;
                s->pins[k] = p;
            }
            atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed);
            v->pins[(size_t)si * be->nkg + k] = p;
        }
    }
    if (take_dirty && take_dirty_sets(be, v) < 0) {
        weir_keyed_view_release(v);
        return state_err(be, -ENOMEM, "operator %s: out of memory for a snapshot view", be->uid);
    }
    pthread_mutex_lock(&be->cow_lock);
    be->cow_views++;
    v->counted = true;
    v->next = be->cow_list;
    be->cow_list = v;
    pthread_mutex_unlock(&be->cow_lock);
    *out = v;
    return 0;
}

int weir_keyed_view_pin(weir_keyed_backend *be, weir_keyed_view **out)
{
    return pin(be, false, out);
}

int weir_keyed_view_pin_incremental(weir_keyed_backend *be, bool delta, weir_keyed_view **out)
{
    if (!be->track_dirty) {
        /* From now on every change is recorded; this pin has nothing to go by: whole. */
        for (uint32_t si = 0; si < be->nstates; si++)
            if (heap_dirty_init(be->states[si]) < 0) {
                for (uint32_t j = 0; j <= si; j++)
                    heap_dirty_free(be->states[j]);
                return state_err(be, -ENOMEM, "operator %s: out of memory for a snapshot view",
                                 be->uid);
            }
        be->track_dirty = true;
        delta = false;
    }
    int rc = pin(be, true, out);
    if (rc == 0 && !delta) {
        weir_keyed_view *v = *out;
        for (size_t i = 0; i < (size_t)v->nstates * v->nkg; i++)
            heap_free(be, v->dirty[i].set.slots);
        free(v->dirty);
        v->dirty = NULL;
    }
    return rc;
}

bool weir_keyed_view_is_delta(const weir_keyed_view *v)
{
    return v->dirty != NULL;
}

void weir_keyed_view_delta_info(const weir_keyed_view *v, struct weir_keyed_delta_info *out)
{
    *out = v->dirty ? v->delta : (struct weir_keyed_delta_info){0};
}

void weir_keyed_view_release(weir_keyed_view *v)
{
    if (!v)
        return;
    weir_keyed_backend *be = v->be;
    if (be && v->counted) {
        /* Off the list first: a cancel no longer touches v's pins after that. */
        pthread_mutex_lock(&be->cow_lock);
        weir_keyed_view **pp = &be->cow_list;
        while (*pp != v)
            pp = &(*pp)->next;
        *pp = v->next;
        pthread_mutex_unlock(&be->cow_lock);
    }
    if (be) {
        /* The last holder of an old version frees it here, off the worker. */
        drop_pins(v, true);
        for (size_t i = 0; v->dirty && i < (size_t)v->nstates * v->nkg; i++)
            heap_free_other(be, v->dirty[i].set.slots);
        pthread_mutex_lock(&be->cow_lock);
        if (v->counted)
            be->cow_views--;
        pthread_cond_broadcast(&be->cow_cond);
        pthread_mutex_unlock(&be->cow_lock);
        pthread_mutex_destroy(&v->walk_lock);
    }
    free(v->states);
    free(v->pins);
    free(v->dirty);
    free(v);
}

const char *weir_keyed_view_error(const weir_keyed_view *v)
{
    return v->err;
}

const weir_keyed_backend *heap_view_backend(const weir_keyed_view *v)
{
    return v->be;
}

char *heap_view_err(weir_keyed_view *v)
{
    return v->err;
}

uint32_t heap_view_states(weir_keyed_view *v, struct kstate ***states)
{
    *states = v->states;
    return v->nstates;
}

/* What a writer's walk emits through: the view's entries, until the view is cancelled. */
struct walk {
    weir_keyed_view *v;
    state_emit_fn emit;
    void *arg;
};

static int cancel_emit(void *arg, struct kstate *s, uint64_t key, uint64_t ns, const void *ukey,
                       int64_t ts, const void *payload, size_t len)
{
    struct walk *w = arg;
    /* acquire: pairs with the release store in cancel_views */
    if (atomic_load_explicit(&w->v->cancelled, memory_order_acquire))
        return -ENOBUFS;
    return w->emit(w->arg, s, key, ns, ukey, ts, payload, len);
}

/* The view's table kgi of each state, walked as heap_snapshot_kg walks the live one: the
 * version is taken (a reference of the writer's own) under walk_lock, written without it. */
int heap_view_walk_kg(weir_keyed_view *v, uint32_t kgi, state_emit_fn emit, void *arg)
{
    struct walk w = {.v = v, .emit = emit, .arg = arg};
    int rc = 0;
    for (uint32_t si = 0; rc == 0 && si < v->nstates; si++) {
        pthread_mutex_lock(&v->walk_lock);
        struct heap_pin *p = v->pins[(size_t)si * v->nkg + kgi];
        if (atomic_load_explicit(&v->cancelled, memory_order_acquire))
            rc = -ENOBUFS;
        else if (p)
            atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed);
        pthread_mutex_unlock(&v->walk_lock);
        if (rc < 0 || (!p && !v->dirty))
            continue;
        rc = v->dirty ? walk_delta(v, si, kgi, p, cancel_emit, &w)
                      : heap_walk_table(v->states[si], p->slots, p->cap, v->now, cancel_emit, &w);
        if (p && atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) == 1)
            free_pin(p, true);
        if (atomic_load_explicit(&v->cancelled, memory_order_acquire)) {
            /* a starved worker may wait for this version (starved) */
            pthread_mutex_lock(&v->be->cow_lock);
            pthread_cond_broadcast(&v->be->cow_cond);
            pthread_mutex_unlock(&v->be->cow_lock);
            rc = -ENOBUFS;
        }
    }
    return rc;
}
