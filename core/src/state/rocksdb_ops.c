/*
 * The RocksDB backend's operations on each kind of state (key and value layout in rocksdb.c's
 * note): point reads and writes of the current key, list appends as merges, map entries and
 * prefix scans.
 */
#include "state_private.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* The key prefix of the current key in state s, in r->kbuf; returns its length. */
static inline size_t cur_key(struct rdb *r, const struct kstate *s)
{
    rdb_put_be16(r->kbuf + 2, rdb_sid_of(s));
    return KEY_PREFIX;
}

static size_t cur_map_key(struct rdb *r, const struct kstate *s, const void *ukey)
{
    rdb_put_be16(r->kbuf + 2, rdb_sid_of(s));
    memcpy(r->kbuf + KEY_PREFIX, ukey, s->key_size);
    return KEY_PREFIX + s->key_size;
}

/* The smallest key after every key that starts with prefix (bytes as a big-endian number
 * plus one); 0 when there is none (all 0xff). */
static size_t prefix_end(const uint8_t *prefix, size_t len, uint8_t *out)
{
    memcpy(out, prefix, len);
    for (size_t i = len; i-- > 0;) {
        if (out[i] != 0xff) {
            out[i]++;
            return i + 1;
        }
    }
    return 0;
}

/* ---- point operations ------------------------------------------------------------------- */

static int put_raw(struct rdb *r, const uint8_t *k, size_t klen, const void *v, size_t vlen)
{
    char *msg = NULL;
    rocksdb_put(r->db, r->wo, (const char *)k, klen, v, vlen, &msg);
    return msg ? rdb_err(r->be, msg) : 0;
}

static int del_raw(struct rdb *r, const uint8_t *k, size_t klen)
{
    char *msg = NULL;
    rocksdb_delete(r->db, r->wo, (const char *)k, klen, &msg);
    return msg ? rdb_err(r->be, msg) : 0;
}

/* [ts][payload] (or just payload) in r->vbuf for key k of state s. */
static int put_value(struct rdb *r, const struct kstate *s, const uint8_t *k, size_t klen,
                     const void *payload, size_t len)
{
    if (!s->ttl)
        return put_raw(r, k, klen, payload, len);
    if (rdb_grow(&r->vbuf, &r->vcap, len + 8) < 0)
        return state_err(s->be, -ENOMEM, "operator %s: out of memory", s->be->uid);
    int64_t now = state_now(s->be);
    memcpy(r->vbuf, &now, 8);
    memcpy(r->vbuf + 8, payload, len);
    return put_raw(r, k, klen, r->vbuf, len + 8);
}

/* Reads key k of state s into r->obuf (payload only, aligned); *len its length. Returns 1
 * when found and live, 0 when absent or expired (an expired entry is deleted), < 0 on error.
 * With update_on_read a live TTL entry is written back with the current time. */
static int get_value(struct rdb *r, const struct kstate *s, const uint8_t *k, size_t klen,
                     size_t *len)
{
    char *msg = NULL;
    rocksdb_pinnableslice_t *ps = rocksdb_get_pinned(r->db, r->ro, (const char *)k, klen, &msg);
    if (msg)
        return rdb_err(s->be, msg);
    if (!ps)
        return 0;
    size_t vlen;
    const char *v = rocksdb_pinnableslice_value(ps, &vlen);
    size_t hdr = s->ttl ? 8 : 0;
    if (!v || vlen < hdr) {
        rocksdb_pinnableslice_destroy(ps);
        return 0;
    }
    if (s->ttl) {
        int64_t now = state_now(s->be);
        if (state_expired(s, rdb_get_ts(v), now)) {
            rocksdb_pinnableslice_destroy(ps);
            return del_raw(r, k, klen);
        }
    }
    if (rdb_grow(&r->obuf, &r->ocap, vlen) < 0) {
        rocksdb_pinnableslice_destroy(ps);
        return state_err(s->be, -ENOMEM, "operator %s: out of memory", s->be->uid);
    }
    memcpy(r->obuf, v + hdr, vlen - hdr);
    *len = vlen - hdr;
    rocksdb_pinnableslice_destroy(ps);
    if (s->ttl && s->update_on_read) {
        int rc = put_value(r, s, k, klen, r->obuf, *len);
        if (rc < 0)
            return rc;
    }
    return 1;
}

const void *rdb_value_get(struct kstate *s)
{
    struct rdb *r = s->be->rdb;
    size_t len;
    int rc = get_value(r, s, r->kbuf, cur_key(r, s), &len);
    return rc == 1 && len == s->value_size ? r->obuf : NULL;
}

int rdb_value_put(struct kstate *s, const void *value)
{
    struct rdb *r = s->be->rdb;
    return put_value(r, s, r->kbuf, cur_key(r, s), value, s->value_size);
}

static int clear_prefix(struct rdb *r, const uint8_t *prefix, size_t plen)
{
    uint8_t end[KEY_PREFIX];
    size_t elen = prefix_end(prefix, plen, end);
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    rocksdb_writebatch_t *b = rocksdb_writebatch_create();
    if (!ro || !b) {
        if (ro)
            rocksdb_readoptions_destroy(ro);
        if (b)
            rocksdb_writebatch_destroy(b);
        return state_err(r->be, -ENOMEM, "operator %s: out of memory", r->be->uid);
    }
    if (elen)
        rocksdb_readoptions_set_iterate_upper_bound(ro, (const char *)end, elen);
    rocksdb_iterator_t *it = rocksdb_create_iterator(r->db, ro);
    for (rocksdb_iter_seek(it, (const char *)prefix, plen); rocksdb_iter_valid(it);
         rocksdb_iter_next(it)) {
        size_t kl;
        const char *k = rocksdb_iter_key(it, &kl);
        rocksdb_writebatch_delete(b, k, kl);
    }
    char *msg = NULL;
    rocksdb_iter_get_error(it, &msg);
    rocksdb_iter_destroy(it);
    if (!msg)
        rocksdb_write(r->db, r->wo, b, &msg);
    rocksdb_writebatch_destroy(b);
    rocksdb_readoptions_destroy(ro);
    return msg ? rdb_err(r->be, msg) : 0;
}

int rdb_clear(struct kstate *s)
{
    struct rdb *r = s->be->rdb;
    size_t klen = cur_key(r, s);
    if (s->kind == KIND_MAP) {
        uint8_t prefix[KEY_PREFIX];
        memcpy(prefix, r->kbuf, KEY_PREFIX);
        return clear_prefix(r, prefix, KEY_PREFIX);
    }
    return del_raw(r, r->kbuf, klen);
}

int rdb_reduce(struct kstate *s, const void *in)
{
    struct rdb *r = s->be->rdb;
    size_t klen = cur_key(r, s), len = 0;
    int rc = get_value(r, s, r->kbuf, klen, &len);
    if (rc < 0)
        return rc;
    void *acc = r->obuf;
    if (rc == 0 || len != s->value_size) {
        if (s->kind == KIND_REDUCING)
            memcpy(acc, in, s->value_size);
        else
            s->agg.init(acc);
        if (s->kind == KIND_AGGREGATING)
            s->agg.add(acc, in);
    } else if (s->kind == KIND_REDUCING) {
        s->reduce(acc, in);
    } else {
        s->agg.add(acc, in);
    }
    return put_value(r, s, r->kbuf, klen, acc, s->value_size);
}

/* ---- list ------------------------------------------------------------------------------- */

int rdb_list_add(struct kstate *s, const void *elem)
{
    struct rdb *r = s->be->rdb;
    size_t klen = cur_key(r, s);
    const void *op = elem;
    size_t oplen = s->value_size;
    if (s->ttl) {
        if (rdb_grow(&r->vbuf, &r->vcap, s->value_size + 8) < 0)
            return state_err(s->be, -ENOMEM, "operator %s: out of memory", s->be->uid);
        int64_t now = state_now(s->be);
        memcpy(r->vbuf, &now, 8);
        memcpy(r->vbuf + 8, elem, s->value_size);
        op = r->vbuf;
        oplen += 8;
    }
    char *msg = NULL;
    rocksdb_merge(r->db, r->wo, (const char *)r->kbuf, klen, op, oplen, &msg);
    return msg ? rdb_err(s->be, msg) : 0;
}

int rdb_list_get(struct kstate *s, const void **elems, uint32_t *n)
{
    struct rdb *r = s->be->rdb;
    size_t len = 0;
    int rc = get_value(r, s, r->kbuf, cur_key(r, s), &len);
    if (rc <= 0)
        return rc;
    *elems = len ? r->obuf : NULL;
    *n = (uint32_t)(len / s->value_size);
    return 0;
}

int rdb_list_update(struct kstate *s, const void *elems, uint32_t n)
{
    struct rdb *r = s->be->rdb;
    return put_value(r, s, r->kbuf, cur_key(r, s), elems, (size_t)n * s->value_size);
}

/* ---- map -------------------------------------------------------------------------------- */

const void *rdb_map_get(struct kstate *s, const void *ukey)
{
    struct rdb *r = s->be->rdb;
    size_t len;
    int rc = get_value(r, s, r->kbuf, cur_map_key(r, s, ukey), &len);
    return rc == 1 && len == s->value_size ? r->obuf : NULL;
}

int rdb_map_put(struct kstate *s, const void *ukey, const void *value)
{
    struct rdb *r = s->be->rdb;
    return put_value(r, s, r->kbuf, cur_map_key(r, s, ukey), value, s->value_size);
}

int rdb_map_remove(struct kstate *s, const void *ukey)
{
    struct rdb *r = s->be->rdb;
    return del_raw(r, r->kbuf, cur_map_key(r, s, ukey));
}

/* Walks the entries whose key starts with prefix; fn gets each key and raw value. */
int rdb_scan(struct rdb *r, const uint8_t *prefix, size_t plen,
             int (*fn)(void *arg, const char *k, size_t kl, const char *v, size_t vl), void *arg)
{
    uint8_t end[KEY_PREFIX];
    size_t elen = prefix_end(prefix, plen, end);
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    if (!ro)
        return state_err(r->be, -ENOMEM, "operator %s: out of memory", r->be->uid);
    if (elen)
        rocksdb_readoptions_set_iterate_upper_bound(ro, (const char *)end, elen);
    rocksdb_iterator_t *it = rocksdb_create_iterator(r->db, ro);
    int rc = 0;
    for (rocksdb_iter_seek(it, (const char *)prefix, plen); rc == 0 && rocksdb_iter_valid(it);
         rocksdb_iter_next(it)) {
        size_t kl, vl;
        const char *k = rocksdb_iter_key(it, &kl);
        const char *v = rocksdb_iter_value(it, &vl);
        rc = fn(arg, k, kl, v, vl);
    }
    char *msg = NULL;
    rocksdb_iter_get_error(it, &msg);
    rocksdb_iter_destroy(it);
    rocksdb_readoptions_destroy(ro);
    if (msg)
        return rdb_err(r->be, msg);
    return rc;
}

struct map_walk {
    struct kstate *s;
    int64_t now;
    int (*fn)(void *, const void *, const void *);
    void *arg;
    uint8_t *buf;     /* aligned copies of the user key and value */
    uint8_t *refresh; /* update_on_read: user keys to write back, back to back */
    size_t nrefresh, caprefresh;
    bool any; /* is_empty: found a live entry */
};

static int map_walk_one(void *arg, const char *k, size_t kl, const char *v, size_t vl)
{
    struct map_walk *w = arg;
    struct kstate *s = w->s;
    size_t hdr = s->ttl ? 8 : 0;
    if (kl != KEY_PREFIX + s->key_size || vl != hdr + s->value_size)
        return 0;
    if (s->ttl && state_expired(s, rdb_get_ts(v), w->now))
        return 0;
    w->any = true;
    if (!w->fn)
        return 1;
    uint32_t koff = (s->key_size + 15u) & ~15u;
    memcpy(w->buf, k + KEY_PREFIX, s->key_size);
    memcpy(w->buf + koff, v + hdr, s->value_size);
    if (s->ttl && s->update_on_read) {
        if (rdb_grow(&w->refresh, &w->caprefresh, w->nrefresh + s->key_size) == 0) {
            memcpy(w->refresh + w->nrefresh, k + KEY_PREFIX, s->key_size);
            w->nrefresh += s->key_size;
        }
    }
    return w->fn(w->arg, w->buf, w->buf + koff);
}

int rdb_map_iterate(struct kstate *s, int (*fn)(void *, const void *, const void *), void *arg)
{
    struct rdb *r = s->be->rdb;
    uint8_t prefix[KEY_PREFIX];
    cur_key(r, s);
    memcpy(prefix, r->kbuf, KEY_PREFIX);
    uint32_t koff = (s->key_size + 15u) & ~15u;
    struct map_walk w = {.s = s,
                         .now = state_now(s->be),
                         .fn = fn,
                         .arg = arg,
                         .buf = aligned_alloc(16, koff + ((s->value_size + 15u) & ~15u))};
    if (!w.buf)
        return state_err(s->be, -ENOMEM, "operator %s: out of memory", s->be->uid);
    int rc = rdb_scan(r, prefix, KEY_PREFIX, map_walk_one, &w);
    free(w.buf);
    /* Reads refresh TTL (OnReadAndWrite): write the visited entries back with the time now. */
    for (size_t off = 0; rc >= 0 && off < w.nrefresh; off += s->key_size) {
        rdb_map_get(s, w.refresh + off); /* the read refreshes the entry's TTL */
    }
    free(w.refresh);
    return rc < 0 ? rc : 0;
}

bool rdb_map_is_empty(struct kstate *s)
{
    struct rdb *r = s->be->rdb;
    uint8_t prefix[KEY_PREFIX];
    cur_key(r, s);
    memcpy(prefix, r->kbuf, KEY_PREFIX);
    struct map_walk w = {.s = s, .now = state_now(s->be)};
    rdb_scan(r, prefix, KEY_PREFIX, map_walk_one, &w);
    return !w.any;
}
