/*
 * The hashmap backend's tables and the operations of each kind of state on them (layout and
 * TTL in heap.c's note): find the current key's slot, read, write, remove, lists, maps, the
 * incremental TTL cleanup and prefetch.
 */
#include "state_private.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MIN_CAP 8u

/* ---- tables ----------------------------------------------------------------------------- */

/* Rehash into newcap slots (newcap 0 frees the table). */
int heap_tab_resize(weir_keyed_backend *be, struct htable *t, uint32_t ss, uint32_t newcap)
{
    uint8_t *slots = NULL;
    if (newcap) {
        slots = heap_alloc(be, (size_t)newcap * ss, true);
        if (!slots)
            return -ENOSPC;
        for (uint32_t i = 0; i < t->cap; i++) {
            const uint8_t *src = heap_slot_at(t, ss, i);
            uint64_t h = heap_slot_hash(src);
            if (!h)
                continue;
            uint32_t j = heap_home_of(h, newcap);
            while (heap_slot_hash(slots + (size_t)j * ss))
                j = (j + 1) & (newcap - 1);
            memcpy(slots + (size_t)j * ss, src, ss);
        }
    }
    heap_free(be, t->slots);
    t->slots = slots;
    t->cap = newcap;
    state_gen_bump(be);
    return 0;
}

int heap_tab_reserve_one(weir_keyed_backend *be, struct htable *t, uint32_t ss)
{
    if ((uint64_t)(t->count + 1) * 4 <= (uint64_t)t->cap * 3)
        return 0;
    if (t->cap >= (1u << 30))
        return state_err(be, -ENOSPC, "operator %s: a key group of keyed state has 2^30 entries",
                         be->uid);
    return heap_tab_resize(be, t, ss, t->cap ? t->cap * 2 : MIN_CAP);
}

int heap_tab_reserve(weir_keyed_backend *be, struct htable *t, uint32_t ss, uint64_t n)
{
    uint64_t want = t->count + n, cap = t->cap ? t->cap : MIN_CAP;
    while (want * 4 > cap * 3 && cap <= (1u << 30))
        cap *= 2;
    if (cap == t->cap || cap > (1u << 30))
        return 0; /* room already, or more than a table holds: the per-entry path says so */
    return heap_tab_resize(be, t, ss, (uint32_t)cap);
}

/* The smallest capacity that holds count entries at most half full. */
uint32_t heap_fit_cap(uint32_t count)
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
        uint8_t *sj = heap_slot_at(t, ss, j);
        uint64_t hj = heap_slot_hash(sj);
        if (!hj)
            break;
        uint32_t home = heap_home_of(hj, t->cap);
        if (((j - home) & mask) >= ((j - i) & mask)) {
            memcpy(heap_slot_at(t, ss, i), sj, ss);
            i = j;
        }
    }
    memset(heap_slot_at(t, ss, i), 0, ss);
    t->count--;
    state_gen_bump(be);
    if (!shrink)
        return;
    if (t->count == 0)
        heap_tab_resize(be, t, ss, 0);
    else if (t->cap > 64 && t->count * 8 < t->cap)
        heap_tab_resize(be, t, ss, t->cap / 2); /* on failure the table just stays larger */
}

uint64_t heap_ukey_hash(const void *ukey, uint32_t n)
{
    const uint8_t *p = ukey;
    uint64_t h = 0x9e3779b97f4a7c15ull ^ n;
    for (; n >= 8; n -= 8, p += 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        h = state_mix64(h ^ v) * 0x9e3779b97f4a7c15ull;
    }
    if (n) {
        uint64_t v = 0;
        memcpy(&v, p, n);
        h = state_mix64(h ^ v);
    }
    return state_mix64(h) | 1;
}

bool heap_sub_find(const struct kstate *s, const struct htable *t, uint64_t h, const void *ukey,
                   uint32_t *idx)
{
    uint32_t mask = t->cap - 1, i = heap_home_of(h, t->cap);
    for (;;) {
        const uint8_t *sl = heap_slot_at(t, s->sub_slot_size, i);
        uint64_t sh = heap_slot_hash(sl);
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
    s->tabs = heap_alloc(be, (size_t)be->nkg * sizeof *s->tabs, true);
    s->pins = heap_alloc(be, (size_t)be->nkg * sizeof *s->pins, true);
    if (!s->tabs || !s->pins)
        return -ENOSPC;
    return be->track_dirty ? heap_dirty_init(s) : 0;
}

/* Releases what an outer slot's payload owns (a list's array, a map's table). */
static void release_payload(struct kstate *s, uint8_t *sl)
{
    weir_keyed_backend *be = s->be;
    if (s->kind == KIND_LIST) {
        struct hlist *l = (struct hlist *)(sl + s->off_val);
        heap_free(be, l->elems);
        l->elems = NULL;
        l->n = l->cap = 0;
    } else if (s->kind == KIND_MAP) {
        struct htable **sub = (struct htable **)(sl + s->off_val);
        if (*sub) {
            heap_free(be, (*sub)->slots);
            heap_free(be, *sub);
            *sub = NULL;
        }
    }
}

void heap_state_free(struct kstate *s)
{
    weir_keyed_backend *be = s->be;
    heap_cow_quiesce(be); /* no view reads the tables any more */
    heap_dirty_free(s);
    if (s->pins) {
        for (uint32_t k = 0; k < be->nkg; k++)
            free(s->pins[k]); /* only the live table holds it now */
        heap_free(be, s->pins);
        s->pins = NULL;
    }
    if (!s->tabs)
        return;
    for (uint32_t k = 0; k < be->nkg; k++) {
        struct htable *t = &s->tabs[k];
        for (uint32_t i = 0; i < t->cap; i++) {
            uint8_t *sl = heap_slot_at(t, s->slot_size, i);
            if (heap_slot_hash(sl))
                release_payload(s, sl);
        }
        heap_free(be, t->slots);
    }
    heap_free(be, s->tabs);
    s->tabs = NULL;
}

void heap_remove_outer(struct kstate *s, struct htable *t, uint32_t idx, bool shrink)
{
    const uint64_t *sl = (const uint64_t *)heap_slot_at(t, s->slot_size, idx);
    heap_dirty_mark(s, (uint32_t)(t - s->tabs), sl[0], sl[1], sl[2]);
    release_payload(s, heap_slot_at(t, s->slot_size, idx));
    tab_delete(s->be, t, s->slot_size, idx, shrink);
}

/* Removes expired entries of a map's table; true when the table is now empty. */
static bool sweep_sub(struct kstate *s, struct htable *sub, int64_t now)
{
    for (uint32_t i = 0; i < sub->cap;) {
        uint8_t *sl = heap_slot_at(sub, s->sub_slot_size, i);
        if (heap_slot_hash(sl) && state_expired(s, *(int64_t *)(sl + s->sub_off_ts), now)) {
            tab_delete(s->be, sub, s->sub_slot_size, i, false);
            continue; /* a later entry may have moved into i */
        }
        i++;
    }
    return sub->count == 0;
}

/* Is the outer slot expired (and should go)? For a map: are all its entries expired (the
 * expired ones are removed on the way). */
bool heap_outer_expired(struct kstate *s, uint8_t *sl, int64_t now)
{
    if (s->kind == KIND_MAP) {
        struct htable *sub = *(struct htable **)(sl + s->off_val);
        return sweep_sub(s, sub, now);
    }
    return state_expired(s, *heap_ts_of(s, sl), now);
}

/* Flink's incremental cleanup: a write to a TTL state looks at a few more of its slots. */
static void ttl_step(struct kstate *s)
{
    weir_keyed_backend *be = s->be;
    int64_t now = state_now(be);
    for (int budget = TTL_CLEANUP_STEP; budget > 0; budget--) {
        struct htable *t = &s->tabs[s->cur_kgi];
        /* A table a snapshot view still reads is left for a later pass, not copied. */
        if (s->cur_slot >= t->cap || heap_still_pinned(s, s->cur_kgi)) {
            s->cur_slot = 0;
            s->cur_kgi = s->cur_kgi + 1 < be->nkg ? s->cur_kgi + 1 : 0;
            continue;
        }
        uint8_t *sl = heap_slot_at(t, s->slot_size, s->cur_slot);
        if (heap_slot_hash(sl) && heap_outer_expired(s, sl, now)) {
            heap_remove_outer(s, t, s->cur_slot, false);
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
        found = heap_outer_find(t, s->slot_size, be->h, be->key, be->ns, idx);
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
    if (heap_unpin(s, be->kgi) < 0)
        return NULL;
    heap_dirty_mark(s, be->kgi, be->h, be->key, be->ns);
    if (s->ttl)
        ttl_step(s);
    struct htable *t = &s->tabs[be->kgi];
    uint32_t idx;
    if (find_cur(s, t, &idx)) {
        uint8_t *sl = heap_slot_at(t, s->slot_size, idx);
        *created = false;
        if (s->ttl && s->kind != KIND_MAP && state_expired(s, *heap_ts_of(s, sl), state_now(be))) {
            release_payload(s, sl);
            memset(sl + s->off_val, 0, s->slot_size - s->off_val);
            *created = true;
        }
        return sl;
    }
    if (idx == UINT32_MAX || (uint64_t)(t->count + 1) * 4 > (uint64_t)t->cap * 3) {
        if (heap_tab_reserve_one(be, t, s->slot_size) < 0)
            return NULL;
        heap_outer_find(t, s->slot_size, be->h, be->key, be->ns, &idx);
    }
    uint64_t *sl = (uint64_t *)heap_slot_at(t, s->slot_size, idx);
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
    /* A TTL read may remove or touch the entry: the table must be the live state's own
     * (when no copy can be had, the read changes nothing). */
    if (s->ttl)
        heap_unpin(s, be->kgi);
    struct htable *t = &s->tabs[be->kgi];
    uint32_t idx;
    if (!find_cur(s, t, &idx))
        return NULL;
    uint8_t *sl = heap_slot_at(t, s->slot_size, idx);
    if (s->ttl && s->kind != KIND_MAP) {
        int64_t now = state_now(be);
        int64_t *ts = heap_ts_of(s, sl);
        bool own = !s->pins[be->kgi];
        if (state_expired(s, *ts, now)) {
            if (!s->iterating && own)
                heap_remove_outer(s, t, idx, true);
            return NULL;
        }
        if (s->update_on_read && own) {
            *ts = now; /* a change of the entry: the next delta carries it */
            heap_dirty_mark(s, s->be->kgi, s->be->h, s->be->key, s->be->ns);
        }
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
        *heap_ts_of(s, sl) = state_now(s->be);
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
    if (heap_unpin(s, be->kgi) < 0)
        return -ENOSPC;
    struct htable *t = &s->tabs[be->kgi];
    uint32_t idx;
    if (find_cur(s, t, &idx))
        heap_remove_outer(s, t, idx, true);
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

int heap_list_reserve(struct kstate *s, struct hlist *l, uint32_t n)
{
    if (n <= l->cap)
        return 0;
    uint32_t cap = l->cap ? l->cap : 4;
    while (cap < n)
        cap = cap > (1u << 30) ? n : cap * 2;
    void *e = heap_realloc(s->be, l->elems, (size_t)cap * s->value_size);
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
    if (heap_list_reserve(s, l, l->n + 1) < 0) {
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
    if (heap_list_reserve(s, l, n) < 0) {
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
    if (!sub || !heap_sub_find(s, sub, heap_ukey_hash(ukey, s->key_size), ukey, &idx))
        return NULL;
    uint8_t *sl = heap_slot_at(sub, s->sub_slot_size, idx);
    if (s->ttl) {
        int64_t now = state_now(s->be);
        int64_t *ts = (int64_t *)(sl + s->sub_off_ts);
        bool own = !s->pins[s->be->kgi];
        if (state_expired(s, *ts, now)) {
            if (!s->iterating && own) {
                heap_dirty_mark(s, s->be->kgi, s->be->h, s->be->key, s->be->ns);
                tab_delete(s->be, sub, s->sub_slot_size, idx, true);
                if (sub->count == 0)
                    heap_remove_outer(s, t, oidx, true);
            }
            return NULL;
        }
        if (s->update_on_read && own) {
            *ts = now; /* a change of the entry: the next delta carries it */
            heap_dirty_mark(s, s->be->kgi, s->be->h, s->be->key, s->be->ns);
        }
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
        *subp = heap_alloc(be, sizeof **subp, true);
        if (!*subp) {
            heap_clear(s);
            return -ENOSPC;
        }
    }
    struct htable *sub = *subp;
    uint64_t h = heap_ukey_hash(ukey, s->key_size);
    uint32_t idx = 0;
    bool found = sub->cap && heap_sub_find(s, sub, h, ukey, &idx);
    if (!found) {
        if (heap_tab_reserve_one(be, sub, s->sub_slot_size) < 0) {
            if (sub->count == 0)
                heap_clear(s);
            return -ENOSPC;
        }
        heap_sub_find(s, sub, h, ukey, &idx);
        sub->count++;
    }
    uint8_t *sl = heap_slot_at(sub, s->sub_slot_size, idx);
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
    if (heap_unpin(s, s->be->kgi) < 0)
        return -ENOSPC;
    struct htable *sub = cur_sub(s, &t, &oidx);
    if (!sub || !heap_sub_find(s, sub, heap_ukey_hash(ukey, s->key_size), ukey, &idx))
        return 0;
    heap_dirty_mark(s, s->be->kgi, s->be->h, s->be->key, s->be->ns);
    tab_delete(s->be, sub, s->sub_slot_size, idx, true);
    if (sub->count == 0)
        heap_remove_outer(s, t, oidx, true);
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
        uint8_t *sl = heap_slot_at(sub, s->sub_slot_size, i);
        if (!heap_slot_hash(sl))
            continue;
        if (s->ttl) {
            int64_t *ts = (int64_t *)(sl + s->sub_off_ts);
            if (state_expired(s, *ts, now))
                continue;
            if (s->update_on_read && !s->pins[s->be->kgi]) {
                *ts = now; /* a change of the entry: the next delta carries it */
                heap_dirty_mark(s, s->be->kgi, s->be->h, s->be->key, s->be->ns);
            }
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
        uint8_t *sl = heap_slot_at(sub, s->sub_slot_size, i);
        if (heap_slot_hash(sl) && !state_expired(s, *(int64_t *)(sl + s->sub_off_ts), now))
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
            __builtin_prefetch(heap_slot_at(t, s->slot_size, heap_home_of(h, t->cap)), 1);
    }
}
