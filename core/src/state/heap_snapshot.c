/*
 * The hashmap backend's half of a key group's snapshot (snapshot.c writes the format): walk a
 * key group's entries in table order, leaving expired ones out, and take restored entries
 * back into the tables.
 */
#include "state_private.h"

#include <errno.h>
#include <string.h>

int heap_walk_slot(struct kstate *s, const uint8_t *sl, int64_t now, bool delta, state_emit_fn emit,
                   void *arg)
{
    uint64_t key = ((const uint64_t *)sl)[1], ns = ((const uint64_t *)sl)[2];
    int rc = 0;
    if (s->kind == KIND_MAP) {
        /* A delta replaces the whole map of (key, ns): user keys removed since go too. */
        if (delta)
            rc = emit(arg, s, key, ns, NULL, 0, NULL, STATE_EMIT_TOMBSTONE);
        const struct htable *sub = *(struct htable *const *)(sl + s->off_val);
        for (uint32_t j = 0; j < sub->cap && rc == 0; j++) {
            uint8_t *e = heap_slot_at(sub, s->sub_slot_size, j);
            if (!heap_slot_hash(e))
                continue;
            int64_t ts = s->ttl ? *(int64_t *)(e + s->sub_off_ts) : 0;
            if (!state_expired(s, ts, now))
                rc = emit(arg, s, key, ns, e + 8, ts, e + s->sub_off_val, s->value_size);
        }
        return rc;
    }
    int64_t ts = s->ttl ? *(const int64_t *)(sl + s->off_ts) : 0;
    const struct hlist *l = (const struct hlist *)(sl + s->off_val);
    if (state_expired(s, ts, now) || (s->kind == KIND_LIST && !l->n))
        return delta ? emit(arg, s, key, ns, NULL, 0, NULL, STATE_EMIT_TOMBSTONE) : 0;
    if (s->kind == KIND_LIST)
        return emit(arg, s, key, ns, NULL, ts, l->elems, (size_t)l->n * s->value_size);
    return emit(arg, s, key, ns, NULL, ts, sl + s->off_val, s->value_size);
}

int heap_walk_table(struct kstate *s, const uint8_t *slots, uint32_t cap, int64_t now,
                    state_emit_fn emit, void *arg)
{
    for (uint32_t i = 0; i < cap; i++) {
        const uint8_t *sl = slots + (size_t)i * s->slot_size;
        if (!heap_slot_hash(sl))
            continue;
        int rc = heap_walk_slot(s, sl, now, false, emit, arg);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int heap_snapshot_kg(weir_keyed_backend *be, uint32_t kgi, state_emit_fn emit, void *arg)
{
    int64_t now = state_now(be);
    for (uint32_t si = 0; si < be->nstates; si++) {
        struct kstate *s = be->states[si];
        int rc = heap_walk_table(s, s->tabs[kgi].slots, s->tabs[kgi].cap, now, emit, arg);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int heap_restore_reserve(struct kstate *s, uint32_t kgi, uint64_t n)
{
    if (s->kind == KIND_MAP || n == 0)
        return 0;
    if (heap_unpin(s, kgi) < 0)
        return -ENOSPC;
    return heap_tab_reserve(s->be, &s->tabs[kgi], s->slot_size, n) < 0 ? -ENOSPC : 0;
}

int heap_restore_entry(struct kstate *s, uint32_t kgi, uint64_t key, uint64_t ns, const void *ukey,
                       int64_t ts, const void *payload, size_t len)
{
    weir_keyed_backend *be = s->be;
    struct htable *t = &s->tabs[kgi];
    if (heap_unpin(s, kgi) < 0)
        return -ENOSPC;
    uint64_t h = state_key_hash(key, ns);
    uint32_t idx;
    bool found = t->cap && heap_outer_find(t, s->slot_size, h, key, ns, &idx);
    if (!found) {
        if (heap_tab_reserve_one(be, t, s->slot_size) < 0)
            return -ENOSPC;
        heap_outer_find(t, s->slot_size, h, key, ns, &idx);
        uint64_t *sl = (uint64_t *)heap_slot_at(t, s->slot_size, idx);
        sl[0] = h;
        sl[1] = key;
        sl[2] = ns;
        t->count++;
    }
    state_gen_bump(be);
    uint8_t *sl = heap_slot_at(t, s->slot_size, idx);
    int rc = 0;
    switch (s->kind) {
    case KIND_LIST: {
        struct hlist *l = (struct hlist *)(sl + s->off_val);
        uint32_t n = (uint32_t)(len / s->value_size);
        rc = heap_list_reserve(s, l, n);
        if (rc == 0) {
            memcpy(l->elems, payload, len);
            l->n = n;
        }
        break;
    }
    case KIND_MAP: {
        struct htable **subp = (struct htable **)(sl + s->off_val);
        if (!*subp && !(*subp = heap_alloc(be, sizeof **subp, true))) {
            rc = -ENOSPC;
            break;
        }
        struct htable *sub = *subp;
        uint64_t uh = heap_ukey_hash(ukey, s->key_size);
        uint32_t j = 0;
        if (!(sub->cap && heap_sub_find(s, sub, uh, ukey, &j))) {
            if ((rc = heap_tab_reserve_one(be, sub, s->sub_slot_size)) < 0)
                break;
            heap_sub_find(s, sub, uh, ukey, &j);
            sub->count++;
        }
        uint8_t *e = heap_slot_at(sub, s->sub_slot_size, j);
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
        *heap_ts_of(s, sl) = ts;
    if (rc < 0) {
        /* Leave no empty list or map behind. */
        bool empty = s->kind == KIND_LIST  ? ((struct hlist *)(sl + s->off_val))->n == 0
                     : s->kind == KIND_MAP ? !*(struct htable **)(sl + s->off_val) ||
                                                 (*(struct htable **)(sl + s->off_val))->count == 0
                                           : false;
        if (empty)
            heap_remove_outer(s, t, idx, true);
    }
    return rc;
}

int heap_restore_remove(struct kstate *s, uint32_t kgi, uint64_t key, uint64_t ns, bool clear)
{
    struct htable *t = &s->tabs[kgi];
    if (heap_unpin(s, kgi) < 0)
        return -ENOSPC;
    state_gen_bump(s->be);
    if (clear) {
        for (uint32_t i = 0; i < t->cap;) {
            if (heap_slot_hash(heap_slot_at(t, s->slot_size, i)))
                heap_remove_outer(s, t, i, false);
            else
                i++;
        }
        return heap_tab_resize(s->be, t, s->slot_size, 0);
    }
    uint32_t idx;
    if (t->cap && heap_outer_find(t, s->slot_size, state_key_hash(key, ns), key, ns, &idx))
        heap_remove_outer(s, t, idx, true);
    return 0;
}
