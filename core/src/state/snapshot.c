/*
 * The snapshot of one key group, backend-independent, little-endian:
 *
 *   "WEIRKGS1"  u32 version (1)  u32 key group  u32 max parallelism  u32 number of states
 *   state descriptor, per state: u16 id  u8 kind  u8 flags (1 ttl, 2 update on read)
 *                                u32 key size  u32 value size  i64 ttl ms  u16 name length, name
 *   entry, any number:           u8 'E'  u16 state id  u64 key  u64 namespace
 *                                [user key, map]  [i64 timestamp, ttl]  u32 length, payload
 *   in a delta only (heap_cow.c):u8 'D'  u16 state id  u64 key  u64 namespace (tombstone:
 *                                the (key, namespace) is gone, a map with all its user keys)
 *                                u8 'C'  u16 state id (the state's key group is cleared)
 *   end:                         u8 'Z'  u64 number of records before  u32 crc32c of all
 *                                bytes before
 *
 * A payload is a value or accumulator (value size), or a list's elements back to back (a
 * multiple of the element size); a map has one entry per user key. Expired entries are left
 * out, as Flink's full-snapshot cleanup does. Restore matches states by name, so a snapshot
 * restores into a backend whose operator declared its states in another order, or has not
 * declared them yet (they are registered from the descriptors and matched when it does).
 */
#include "state_private.h"
#include "state_view.h"

#include <errno.h>
#include <nmmintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SNAP_MAGIC     "WEIRKGS1"
#define SNAP_VERSION   1u
#define SNAP_BUF       (64u << 10)
#define SNAP_MAX_VALUE (1u << 30) /* a payload longer than this is corruption, not data */

/* ---- snapshot writer -------------------------------------------------------------------- */

static uint32_t crc32c(uint32_t crc, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    uint64_t c = ~crc;
    for (; len >= 8; len -= 8, p += 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c = _mm_crc32_u64(c, v);
    }
    uint32_t c32 = (uint32_t)c;
    for (; len; len--, p++)
        c32 = _mm_crc32_u8(c32, *p);
    return ~c32;
}

struct snap_w {
    struct weir_snapshot_out *out;
    uint8_t *buf;
    size_t len;
    uint32_t crc;
    uint64_t entries;
};

static int w_flush(struct snap_w *w)
{
    if (!w->len)
        return 0;
    w->crc = crc32c(w->crc, w->buf, w->len);
    int rc = w->out->write(w->out, w->buf, w->len);
    w->len = 0;
    return rc < 0 ? rc : 0;
}

static int w_bytes(struct snap_w *w, const void *p, size_t n)
{
    if (w->len + n > SNAP_BUF) {
        int rc = w_flush(w);
        if (rc < 0)
            return rc;
        if (n > SNAP_BUF) {
            w->crc = crc32c(w->crc, p, n);
            rc = w->out->write(w->out, p, n);
            return rc < 0 ? rc : 0;
        }
    }
    memcpy(w->buf + w->len, p, n);
    w->len += n;
    return 0;
}

/* x86 is little-endian, which is the format's order; these say where the format fixes it. */
static int w_u8(struct snap_w *w, uint8_t v)
{
    return w_bytes(w, &v, 1);
}
static int w_u32(struct snap_w *w, uint32_t v)
{
    return w_bytes(w, &v, 4);
}
static int w_u64(struct snap_w *w, uint64_t v)
{
    return w_bytes(w, &v, 8);
}

static int emit_entry(void *arg, struct kstate *s, uint64_t key, uint64_t ns, const void *ukey,
                      int64_t ts, const void *payload, size_t len)
{
    struct snap_w *w = arg;
    uint8_t head[19];
    head[0] = payload ? 'E' : len == STATE_EMIT_CLEAR ? 'C' : 'D';
    if (!payload) {
        memcpy(head + 1, &s->id, 2);
        memcpy(head + 3, &key, 8);
        memcpy(head + 11, &ns, 8);
        w->entries++;
        return w_bytes(w, head, head[0] == 'C' ? 3 : sizeof head);
    }
    memcpy(head + 1, &s->id, 2);
    memcpy(head + 3, &key, 8);
    memcpy(head + 11, &ns, 8);
    int rc = w_bytes(w, head, sizeof head);
    if (rc == 0 && s->kind == KIND_MAP)
        rc = w_bytes(w, ukey, s->key_size);
    if (rc == 0 && s->ttl)
        rc = w_u64(w, (uint64_t)ts);
    if (rc == 0)
        rc = w_u32(w, (uint32_t)len);
    if (rc == 0)
        rc = w_bytes(w, payload, len);
    w->entries++;
    return rc;
}

/* Walks one key group's entries into emit: the live backend's or a view's. */
typedef int (*snap_walk_fn)(void *src, uint32_t kg, state_emit_fn emit, void *arg);

void state_desc_encode(const struct kstate *s, uint16_t nl, uint8_t d[STATE_DESC_BYTES])
{
    memcpy(d, &s->id, 2);
    d[2] = (uint8_t)s->kind;
    d[3] = (uint8_t)((s->ttl ? 1 : 0) | (s->update_on_read ? 2 : 0));
    memcpy(d + 4, &s->key_size, 4);
    memcpy(d + 8, &s->value_size, 4);
    memcpy(d + 12, &s->ttl_ms, 8);
    memcpy(d + 20, &nl, 2);
}

void state_desc_decode(const uint8_t d[STATE_DESC_BYTES], struct state_desc *sd)
{
    int64_t ttl_ms;
    memcpy(&sd->id, d, 2);
    sd->kind = d[2];
    memcpy(&sd->key_size, d + 4, 4);
    memcpy(&sd->value_size, d + 8, 4);
    memcpy(&ttl_ms, d + 12, 8);
    memcpy(&sd->name_len, d + 20, 2);
    sd->ttl = (struct weir_state_ttl){.ttl_ms = (d[3] & 1) ? (ttl_ms > 0 ? ttl_ms : 1) : 0,
                                      .update_on_read = (d[3] & 2) != 0};
}

/* Header, state descriptors, the entries walk gives, end marker, checksum. */
static int write_kg(struct weir_snapshot_out *out, uint32_t kg, uint32_t maxp,
                    struct kstate *const *states, uint32_t nstates, snap_walk_fn walk, void *src)
{
    struct snap_w w = {.out = out, .buf = malloc(SNAP_BUF)};
    if (!w.buf)
        return -ENOMEM;
    int rc = w_bytes(&w, SNAP_MAGIC, 8);
    if (rc == 0)
        rc = w_u32(&w, SNAP_VERSION);
    if (rc == 0)
        rc = w_u32(&w, kg);
    if (rc == 0)
        rc = w_u32(&w, maxp);
    if (rc == 0)
        rc = w_u32(&w, nstates);
    for (uint32_t i = 0; rc == 0 && i < nstates; i++) {
        const struct kstate *s = states[i];
        uint16_t nl = (uint16_t)strlen(s->name);
        uint8_t d[STATE_DESC_BYTES];
        state_desc_encode(s, nl, d);
        rc = w_bytes(&w, d, sizeof d);
        if (rc == 0)
            rc = w_bytes(&w, s->name, nl);
    }
    if (rc == 0)
        rc = walk(src, kg, emit_entry, &w);
    if (rc == 0)
        rc = w_u8(&w, 'Z');
    if (rc == 0)
        rc = w_u64(&w, w.entries);
    if (rc == 0)
        rc = w_flush(&w);
    if (rc == 0) {
        uint32_t crc = w.crc;
        rc = out->write(out, &crc, 4);
        rc = rc < 0 ? rc : 0;
    }
    free(w.buf);
    return rc;
}

static int walk_live(void *src, uint32_t kg, state_emit_fn emit, void *arg)
{
    weir_keyed_backend *be = src;
    return be->kind == BACKEND_HASHMAP ? heap_snapshot_kg(be, kg - be->kg_first, emit, arg)
                                       : rdb_snapshot_kg(be, kg, emit, arg);
}

int weir_keyed_backend_snapshot_key_group(weir_keyed_backend *be, uint32_t kg,
                                          struct weir_snapshot_out *out)
{
    if (kg < be->kg_first || kg > be->kg_last)
        return state_err(be, -ERANGE,
                         "operator %s subtask %d: snapshot of key group %u, outside [%u, %u]",
                         be->uid, be->subtask, kg, be->kg_first, be->kg_last);
    int rc = write_kg(out, kg, be->max_parallelism, be->states, be->nstates, walk_live, be);
    if (rc == -ENOMEM && !be->err[0])
        return state_err(be, rc, "operator %s: out of memory for a snapshot", be->uid);
    if (rc < 0 && !be->err[0])
        state_err(be, rc, "operator %s: snapshot of key group %u: %s", be->uid, kg, strerror(-rc));
    return rc;
}

uint32_t weir_keyed_backend_state_count(const weir_keyed_backend *be)
{
    return be->nstates;
}

const char *weir_keyed_backend_state_name(const weir_keyed_backend *be, uint32_t id,
                                          const char **kind)
{
    static const char *const kinds[] = {"value", "list", "map", "reducing", "aggregating"};
    if (id >= be->nstates)
        return NULL;
    if (kind)
        *kind = kinds[be->states[id]->kind];
    return be->states[id]->name;
}

struct walk_arg {
    int (*fn)(void *arg, const struct weir_keyed_entry *e);
    void *arg;
};

/* The snapshot writer's entries (emit_entry's), to a reader's callback. */
static int walk_entry(void *arg, struct kstate *s, uint64_t key, uint64_t ns, const void *ukey,
                      int64_t ts, const void *payload, size_t len)
{
    struct walk_arg *w = arg;
    if (!payload)
        return 0; /* a delta's removal: a live backend gives none */
    struct weir_keyed_entry e = {.state = s->id,
                                 .key = key,
                                 .ns = ns,
                                 .user_key = s->kind == KIND_MAP ? ukey : NULL,
                                 .ukey_len = s->kind == KIND_MAP ? s->key_size : 0,
                                 .value = payload,
                                 .len = len};
    return w->fn(w->arg, &e);
}

int weir_keyed_backend_walk_key_group(weir_keyed_backend *be, uint32_t kg,
                                      int (*fn)(void *arg, const struct weir_keyed_entry *e),
                                      void *arg)
{
    if (kg < be->kg_first || kg > be->kg_last)
        return -ERANGE;
    if (be->kind == BACKEND_ROCKSDB)
        return rdb_walk_raw_kg(be, kg, fn, arg);
    struct walk_arg w = {fn, arg};
    return walk_live(be, kg, walk_entry, &w);
}

/* A copy-on-write view (heap_cow.c): the same format from the version it pinned. */
static int walk_view(void *src, uint32_t kg, state_emit_fn emit, void *arg)
{
    struct weir_keyed_view *v = src;
    return heap_view_walk_kg(v, kg - heap_view_backend(v)->kg_first, emit, arg);
}

int weir_keyed_view_snapshot_key_group(weir_keyed_view *v, uint32_t kg,
                                       struct weir_snapshot_out *out)
{
    const weir_keyed_backend *be = heap_view_backend(v);
    char *err = heap_view_err(v);
    if (kg < be->kg_first || kg > be->kg_last) {
        snprintf(err, 256, "operator %s subtask %d: snapshot of key group %u, outside [%u, %u]",
                 be->uid, be->subtask, kg, be->kg_first, be->kg_last);
        return -ERANGE;
    }
    struct kstate **states;
    uint32_t n = heap_view_states(v, &states);
    int rc = write_kg(out, kg, be->max_parallelism, states, n, walk_view, v);
    if (rc < 0 && !err[0])
        snprintf(err, 256, "operator %s: snapshot of key group %u: %s", be->uid, kg, strerror(-rc));
    return rc;
}

/* A RocksDB snapshot view (rocksdb_snapshot.c): the same format from its pinned snapshot. */
static int walk_rocks_view(void *src, uint32_t kg, state_emit_fn emit, void *arg)
{
    return rdb_view_walk_kg(src, kg, emit, arg);
}

int weir_rocks_view_snapshot_key_group(weir_rocks_view *v, uint32_t kg,
                                       struct weir_snapshot_out *out)
{
    const weir_keyed_backend *be = rdb_view_backend(v);
    char *err = rdb_view_err(v);
    if (kg < be->kg_first || kg > be->kg_last) {
        snprintf(err, 256, "operator %s subtask %d: snapshot of key group %u, outside [%u, %u]",
                 be->uid, be->subtask, kg, be->kg_first, be->kg_last);
        return -ERANGE;
    }
    struct kstate **states;
    uint32_t n = rdb_view_states(v, &states);
    int rc = write_kg(out, kg, be->max_parallelism, states, n, walk_rocks_view, v);
    if (rc < 0 && !err[0])
        snprintf(err, 256, "operator %s: snapshot of key group %u: %s", be->uid, kg, strerror(-rc));
    return rc;
}

/* ---- snapshot reader -------------------------------------------------------------------- */

struct snap_r {
    weir_keyed_backend *be;
    struct weir_snapshot_in *in;
    uint32_t kg;
    uint32_t crc;        /* of every byte read so far */
    struct kstate **map; /* snapshot state id -> this backend's state */
    uint32_t nstates;    /* in the snapshot */
    uint8_t *buf;        /* the payload being read */
    size_t bufcap;
    uint64_t entries; /* read, expired ones included */
    /* The whole snapshot, read in one call when the source said its size: fields are
     * taken from memory and the checksum is computed once, over all of it, at the end. */
    const uint8_t *mem;
    size_t mem_len, mem_pos;
};

/* The next n bytes of the snapshot in memory, or NULL when fewer are left. */
static const uint8_t *mem_take(struct snap_r *r, size_t n)
{
    if (n > r->mem_len - r->mem_pos)
        return NULL;
    const uint8_t *p = r->mem + r->mem_pos;
    r->mem_pos += n;
    return p;
}

static int truncated(struct snap_r *r)
{
    return state_err(r->be, -EIO, "operator %s: snapshot of key group %u is truncated", r->be->uid,
                     r->kg);
}

static int r_bytes(struct snap_r *r, void *p, size_t n)
{
    if (n == 0)
        return 0;
    if (r->mem) {
        const uint8_t *m = mem_take(r, n);
        if (!m)
            return truncated(r);
        memcpy(p, m, n);
        return 0;
    }
    int rc = r->in->read(r->in, p, n);
    if (rc == -ENODATA || rc == -EIO)
        return truncated(r);
    if (rc < 0)
        return state_err(r->be, rc, "operator %s: reading the snapshot of key group %u: %s",
                         r->be->uid, r->kg, strerror(-rc));
    r->crc = crc32c(r->crc, p, n);
    return 0;
}

static int corrupt(struct snap_r *r, const char *what)
{
    return state_err(r->be, -EIO, "operator %s: snapshot of key group %u is corrupt: %s",
                     r->be->uid, r->kg, what);
}

/* Magic, version, key group, max parallelism: each must be this backend's. */
static int read_header(struct snap_r *r)
{
    weir_keyed_backend *be = r->be;
    uint8_t head[24];
    uint32_t version, skg, smaxp;
    int rc = r_bytes(r, head, sizeof head);
    if (rc < 0)
        return rc;
    memcpy(&version, head + 8, 4);
    memcpy(&skg, head + 12, 4);
    memcpy(&smaxp, head + 16, 4);
    memcpy(&r->nstates, head + 20, 4);
    if (memcmp(head, SNAP_MAGIC, 8) != 0)
        return corrupt(r, "not a keyed-state snapshot");
    if (version != SNAP_VERSION)
        return state_err(be, -EINVAL, "operator %s: snapshot format version %u; this weir reads %u",
                         be->uid, version, SNAP_VERSION);
    if (skg != r->kg)
        return state_err(be, -EINVAL, "operator %s: snapshot holds key group %u, not %u", be->uid,
                         skg, r->kg);
    if (smaxp != be->max_parallelism)
        return state_err(be, -EINVAL,
                         "operator %s: snapshot was taken with pipeline.max-parallelism %u; this "
                         "job has %u, and key groups cannot be re-split",
                         be->uid, smaxp, be->max_parallelism);
    if (r->nstates > STATE_MAX)
        return corrupt(r, "too many states");
    return 0;
}

/* The state descriptors, each matched by name to a state of this backend (registered now
 * if no operator declared it yet) into r->map. */
static int read_descriptors(struct snap_r *r)
{
    r->map = calloc(r->nstates ? r->nstates : 1, sizeof *r->map);
    if (!r->map)
        return -ENOMEM;
    for (uint32_t i = 0; i < r->nstates; i++) {
        uint8_t d[STATE_DESC_BYTES];
        char name[1025];
        struct state_desc sd;
        int rc = r_bytes(r, d, sizeof d);
        if (rc < 0)
            return rc;
        state_desc_decode(d, &sd);
        uint16_t id = sd.id, nl = sd.name_len;
        if (id >= r->nstates || r->map[id] || sd.kind > KIND_AGGREGATING || nl == 0 || nl > 1024)
            return corrupt(r, "bad state descriptor");
        rc = r_bytes(r, name, nl);
        if (rc < 0)
            return rc;
        name[nl] = '\0';
        r->map[id] = state_declare(r->be, name, (enum state_kind)sd.kind, sd.key_size,
                                   sd.value_size, &sd.ttl, true);
        if (!r->map[id])
            return -EINVAL;
    }
    return 0;
}

/* A payload of len bytes: in place in memory, or read into r->buf. */
static int read_payload(struct snap_r *r, uint32_t len, const void **p)
{
    if (r->mem) {
        *p = mem_take(r, len);
        return *p ? 0 : truncated(r);
    }
    if (len > r->bufcap) {
        free(r->buf);
        r->bufcap = len < 4096 ? 4096 : len;
        r->buf = malloc(r->bufcap);
        if (!r->buf) {
            r->bufcap = 0;
            return -ENOMEM;
        }
    }
    *p = r->buf;
    return r_bytes(r, r->buf, len);
}

/* A delta's tombstone ('D') or clear ('C') record, after its tag. */
static int read_removal(struct snap_r *r, uint8_t tag)
{
    weir_keyed_backend *be = r->be;
    uint8_t e[18];
    uint16_t id;
    uint64_t key = 0, ns = 0;
    int rc = r_bytes(r, e, tag == 'C' ? 2 : sizeof e);
    if (rc < 0)
        return rc;
    memcpy(&id, e, 2);
    if (tag == 'D') {
        memcpy(&key, e + 2, 8);
        memcpy(&ns, e + 10, 8);
    }
    if (id >= r->nstates)
        return corrupt(r, "removal of an unknown state");
    r->entries++;
    if (be->kind != BACKEND_HASHMAP)
        return state_err(be, -EINVAL,
                         "operator %s: an incremental heap checkpoint restores only with "
                         "state.backend: hashmap (take a savepoint to change backends)",
                         be->uid);
    return heap_restore_remove(r->map[id], r->kg - be->kg_first, key, ns, tag == 'C');
}

/* One record: 1 for the end marker, 0 for an entry (taken by the backend unless expired at
 * now, or only counted per state into counts), or an error. */
static int read_entry(struct snap_r *r, int64_t now, uint64_t *counts)
{
    weir_keyed_backend *be = r->be;
    uint8_t tag, e[18], ukey[MAX_KEY_SIZE];
    uint16_t id;
    uint64_t key, ns;
    int64_t ts = 0;
    uint32_t len;
    int rc = r_bytes(r, &tag, 1);
    if (rc < 0)
        return rc;
    if (tag == 'Z')
        return 1;
    if (tag == 'C' || tag == 'D')
        return read_removal(r, tag);
    if (tag != 'E')
        return corrupt(r, "unknown record");
    if ((rc = r_bytes(r, e, sizeof e)) < 0)
        return rc;
    memcpy(&id, e, 2);
    memcpy(&key, e + 2, 8);
    memcpy(&ns, e + 10, 8);
    if (id >= r->nstates)
        return corrupt(r, "entry of an unknown state");
    struct kstate *s = r->map[id];
    if (s->kind == KIND_MAP && (rc = r_bytes(r, ukey, s->key_size)) < 0)
        return rc;
    if (s->ttl && (rc = r_bytes(r, &ts, 8)) < 0)
        return rc;
    if ((rc = r_bytes(r, &len, 4)) < 0)
        return rc;
    bool fits = s->kind == KIND_LIST ? len > 0 && len % s->value_size == 0 : len == s->value_size;
    if (!fits || len > SNAP_MAX_VALUE)
        return corrupt(r, "entry of the wrong size");
    const void *payload;
    if ((rc = read_payload(r, len, &payload)) < 0)
        return rc;
    r->entries++;
    if (counts) {
        counts[id]++;
        return 0;
    }
    if (state_expired(s, ts, now))
        return 0;
    const void *uk = s->kind == KIND_MAP ? ukey : NULL;
    return be->kind == BACKEND_HASHMAP
               ? heap_restore_entry(s, r->kg - be->kg_first, key, ns, uk, ts, payload, len)
               : rdb_restore_entry(s, r->kg, key, ns, uk, ts, payload, len);
}

/* The end marker's entry count and the checksum of everything before it. */
static int read_trailer(struct snap_r *r)
{
    uint64_t count;
    int rc = r_bytes(r, &count, 8);
    if (rc < 0)
        return rc;
    if (r->mem)
        r->crc = crc32c(0, r->mem, r->mem_pos);
    uint32_t want = r->crc, crc;
    const uint8_t *m = r->mem ? mem_take(r, 4) : NULL;
    if (m)
        memcpy(&crc, m, 4);
    rc = r->mem ? (m ? 0 : -EIO) : r->in->read(r->in, &crc, 4);
    if (rc < 0)
        return state_err(r->be, -EIO, "operator %s: snapshot of key group %u is truncated",
                         r->be->uid, r->kg);
    if (crc != want || count != r->entries)
        return corrupt(r, crc != want ? "checksum mismatch" : "entry count mismatch");
    return 0;
}

/* The rest of the source into r->mem in one read, where it says how much is left (a
 * checkpoint's section); otherwise, or when that fails, the fields are read one by one (a
 * failed read has consumed nothing, so the field that meets the damage names it). */
static void load_whole(struct snap_r *r, uint8_t **buf, size_t *cap)
{
    struct weir_snapshot_in *in = r->in;
    uint64_t n = in->remaining ? in->remaining(in) : 0;
    if (n == 0 || n > SIZE_MAX / 2)
        return;
    if (n > *cap) {
        free(*buf);
        *cap = 0;
        if (!(*buf = malloc(n)))
            return;
        *cap = n;
    }
    if (in->read(in, *buf, n) == 0) {
        r->mem = *buf;
        r->mem_len = n;
    }
}

/* A heap backend's tables sized once for the entries each state is about to get, rather than
 * doubled and rehashed along the way: one state's count is the end marker's (bounded by what
 * the bytes can hold: it is checked only after the entries are read), several states' are
 * counted in a first pass over the snapshot in memory. A damaged snapshot is left to the
 * restoring pass to report. */
static int presize(struct snap_r *r, int64_t now)
{
    weir_keyed_backend *be = r->be;
    uint32_t kgi = r->kg - be->kg_first;
    if (!r->mem || be->kind != BACKEND_HASHMAP || !r->nstates)
        return 0;
    if (r->nstates == 1) {
        uint64_t n = 0;
        if (r->mem_len - r->mem_pos >= 12)
            memcpy(&n, r->mem + r->mem_len - 12, 8);
        uint64_t most = (r->mem_len - r->mem_pos) / (1 + 18 + 4); /* the smallest entry */
        return heap_restore_reserve(r->map[0], kgi, n < most ? n : most);
    }
    uint64_t *counts = calloc(r->nstates, sizeof *counts);
    if (!counts)
        return 0;
    size_t start = r->mem_pos;
    int rc;
    while ((rc = read_entry(r, now, counts)) == 0)
        ;
    r->mem_pos = start;
    r->entries = 0;
    state_err_clear(be);
    int res = 0;
    for (uint32_t i = 0; i < r->nstates && rc == 1 && res == 0; i++)
        res = heap_restore_reserve(r->map[i], kgi, counts[i]);
    free(counts);
    return res;
}

/* r's states from its descriptors; in a parallel restore one thread at a time, as they may
 * register states (state_declare). */
static int read_descriptors_locked(struct snap_r *r)
{
    weir_keyed_backend *be = r->be;
    if (!be->par_restore)
        return read_descriptors(r);
    pthread_mutex_lock(&be->par_lock);
    int rc = read_descriptors(r);
    pthread_mutex_unlock(&be->par_lock);
    return rc;
}

static int restore_key_group(weir_keyed_backend *be, uint32_t kg, struct weir_snapshot_in *in,
                             uint8_t **buf, size_t *cap)
{
    struct snap_r r = {.be = be, .in = in, .kg = kg};
    bool batch = false; /* RocksDB: entries go to one write batch, committed at the end */
    int rc;
    state_err_clear(be);
    if (kg < be->kg_first || kg > be->kg_last)
        return state_err(be, -ERANGE,
                         "operator %s subtask %d: restore of key group %u, outside [%u, %u]",
                         be->uid, be->subtask, kg, be->kg_first, be->kg_last);
    load_whole(&r, buf, cap);
    int64_t now = state_now(be);
    if ((rc = read_header(&r)) < 0 || (rc = read_descriptors_locked(&r)) < 0 ||
        (rc = presize(&r, now)) < 0)
        goto err;
    if (be->kind == BACKEND_ROCKSDB) {
        if ((rc = rdb_restore_begin(be)) < 0)
            goto err;
        batch = true;
    }
    while ((rc = read_entry(&r, now, NULL)) == 0)
        ;
    if (rc < 0 || (rc = read_trailer(&r)) < 0)
        goto err;
    if (batch) {
        batch = false;
        if ((rc = rdb_restore_end(be, true)) < 0)
            goto err;
    }
err:
    if (batch)
        rdb_restore_end(be, false);
    state_gen_bump(be);
    free(r.buf);
    free(r.map);
    return rc;
}

int weir_keyed_backend_restore_run_begin(weir_keyed_backend *be)
{
    return be->kind == BACKEND_ROCKSDB ? rdb_restore_run_begin(be) : 0;
}

int weir_keyed_backend_restore_run_end(weir_keyed_backend *be, bool commit)
{
    if (be->kind != BACKEND_ROCKSDB)
        return 0;
    int rc = rdb_restore_run_end(be, commit);
    be->gen++;
    return rc;
}

int weir_keyed_backend_restore_key_group(weir_keyed_backend *be, uint32_t kg,
                                         struct weir_snapshot_in *in)
{
    return restore_key_group(be, kg, in, &be->restore_buf, &be->restore_cap);
}

int weir_keyed_backend_restore_key_group_scratch(weir_keyed_backend *be, uint32_t kg,
                                                 struct weir_snapshot_in *in,
                                                 struct weir_restore_scratch *sc)
{
    state_restore_scratch_set(sc);
    int rc = restore_key_group(be, kg, in, &sc->buf, &sc->cap);
    state_restore_scratch_set(NULL);
    return rc;
}

void weir_restore_scratch_free(struct weir_restore_scratch *sc)
{
    free(sc->buf);
    sc->buf = NULL;
    sc->cap = 0;
}

int weir_keyed_backend_restore_parallel_begin(weir_keyed_backend *be)
{
    if (be->kind != BACKEND_HASHMAP)
        return -ENOTSUP;
    if (pthread_mutex_init(&be->par_lock, NULL) != 0)
        return -ENOMEM;
    heap_restore_parallel_begin(be);
    be->par_restore = true;
    return 0;
}

void weir_keyed_backend_restore_parallel_end(weir_keyed_backend *be)
{
    if (!be->par_restore)
        return;
    be->par_restore = false;
    heap_restore_parallel_end(be);
    pthread_mutex_destroy(&be->par_lock);
    be->gen++;
}
