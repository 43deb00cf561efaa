/*
 * The RocksDB backend's half of a key group's snapshot (snapshot.c writes the format): walk
 * the key group's key range, leaving expired entries out; restore by writing the key group
 * into an SST file that the instance ingests (the note above rdb_restore_begin). Also flush, the
 * full TTL cleanup (compaction), stats and the handles incremental checkpoints need.
 */
#include "checkpoint_rocksdb.h"
#include "state_private.h"
#include "state_view.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <weir/privdir.h>

struct snap_walk {
    struct kstate *const *states; /* the backend's, or those a view pinned */
    uint32_t nstates;
    state_emit_fn emit;
    void *arg;
    int64_t now;
};

static int snap_one(void *arg, const char *kc, size_t kl, const char *v, size_t vl)
{
    struct snap_walk *w = arg;
    const uint8_t *k = (const uint8_t *)kc;
    if (kl < KEY_PREFIX)
        return 0;
    unsigned sid = ((k[2] & 0x7fu) << 8) | k[3];
    if (sid >= w->nstates)
        return 0;
    struct kstate *s = w->states[sid];
    size_t hdr = s->ttl ? 8 : 0;
    if (vl < hdr || kl != KEY_PREFIX + s->key_size)
        return 0;
    int64_t ts = s->ttl ? rdb_get_ts(v) : 0;
    if (state_expired(s, ts, w->now) || vl == hdr)
        return 0;
    return w->emit(w->arg, s, rdb_get_be64(k + 4), rdb_get_be64(k + 12),
                   s->kind == KIND_MAP ? k + KEY_PREFIX : NULL, ts, v + hdr, vl - hdr);
}

int rdb_snapshot_kg(weir_keyed_backend *be, uint32_t kg, state_emit_fn emit, void *arg)
{
    uint8_t prefix[2];
    rdb_put_be16(prefix, (uint16_t)kg);
    struct snap_walk w = {.states = be->states,
                          .nstates = be->nstates,
                          .emit = emit,
                          .arg = arg,
                          .now = state_now(be)};
    return rdb_scan(be->rdb, prefix, 2, snap_one, &w);
}

struct raw_walk {
    weir_keyed_backend *be;
    int (*fn)(void *arg, const struct weir_keyed_entry *e);
    void *arg;
    int64_t now;
};

static int raw_one(void *arg, const char *kc, size_t kl, const char *v, size_t vl)
{
    struct raw_walk *w = arg;
    const uint8_t *k = (const uint8_t *)kc;
    if (kl < KEY_PREFIX)
        return 0;
    unsigned sid = ((k[2] & 0x7fu) << 8) | k[3];
    struct kstate *s = sid < w->be->nstates ? w->be->states[sid] : NULL;
    size_t hdr = (k[2] & 0x80u) ? 8 : 0;
    if (vl <= hdr || (s && state_expired(s, hdr ? rdb_get_ts(v) : 0, w->now)))
        return 0;
    struct weir_keyed_entry e = {.state = sid,
                                 .key = rdb_get_be64(k + 4),
                                 .ns = rdb_get_be64(k + 12),
                                 .user_key = kl > KEY_PREFIX ? k + KEY_PREFIX : NULL,
                                 .ukey_len = (uint32_t)(kl - KEY_PREFIX),
                                 .value = v + hdr,
                                 .len = vl - hdr};
    return w->fn(w->arg, &e);
}

int rdb_walk_raw_kg(weir_keyed_backend *be, uint32_t kg,
                    int (*fn)(void *arg, const struct weir_keyed_entry *e), void *arg)
{
    uint8_t prefix[2];
    rdb_put_be16(prefix, (uint16_t)kg);
    struct raw_walk w = {.be = be, .fn = fn, .arg = arg, .now = state_now(be)};
    return rdb_scan(be->rdb, prefix, 2, raw_one, &w);
}

/* ---- snapshot views: full snapshots written off the worker ------------------------------ */

/* A view pins a RocksDB snapshot (a sequence number: the instance keeps what it reads alive,
 * whatever the worker writes, deletes or compacts away meanwhile), the states registered then,
 * and the time then (what is expired). Pinning costs the same at any state size; the walk
 * runs on a writer thread with its own read options and iterators (RocksDB's reads are
 * thread-safe beside the worker's writes), and errors go to the view's message, never to the
 * backend's. The compaction filter drops what expired by its own clock even under a
 * snapshot: an entry that expires between the pin and its walk may be left out, as it would
 * be at restore. */
struct weir_rocks_view {
    weir_keyed_backend *be;
    struct rdb *r;
    const rocksdb_snapshot_t *snap;
    struct kstate **states;
    uint32_t nstates;
    int64_t now;
    char err[512];
};

bool weir_rocks_view_applies(const weir_keyed_backend *be)
{
    return be && be->kind == BACKEND_ROCKSDB && be->rdb && be->rdb->db;
}

int weir_rocks_view_pin(weir_keyed_backend *be, weir_rocks_view **out)
{
    *out = NULL;
    if (!weir_rocks_view_applies(be))
        return state_err(be, -EINVAL, "operator %s: no RocksDB instance for a snapshot view",
                         be->uid);
    struct rdb *r = be->rdb;
    weir_rocks_view *v = calloc(1, sizeof *v);
    if (v)
        v->states = malloc((be->nstates ? be->nstates : 1) * sizeof *v->states);
    if (!v || !v->states) {
        if (v)
            free(v->states);
        free(v);
        return state_err(be, -ENOMEM, "operator %s: out of memory for a snapshot view", be->uid);
    }
    v->be = be;
    v->r = r;
    v->now = state_now(be);
    v->nstates = be->nstates;
    memcpy(v->states, be->states, be->nstates * sizeof *v->states);
    v->snap = rocksdb_create_snapshot(r->db);
    pthread_mutex_lock(&r->view_lock);
    r->views++;
    pthread_mutex_unlock(&r->view_lock);
    *out = v;
    return 0;
}

const weir_keyed_backend *rdb_view_backend(const struct weir_rocks_view *v)
{
    return v->be;
}

char *rdb_view_err(struct weir_rocks_view *v)
{
    return v->err;
}

const char *weir_rocks_view_error(const weir_rocks_view *v)
{
    return v->err;
}

uint32_t rdb_view_states(struct weir_rocks_view *v, struct kstate ***states)
{
    *states = v->states;
    return v->nstates;
}

int rdb_view_walk_kg(struct weir_rocks_view *v, uint32_t kg, state_emit_fn emit, void *arg)
{
    uint8_t lo[2], hi[2];
    rdb_put_be16(lo, (uint16_t)kg);
    rdb_put_be16(hi, (uint16_t)(kg + 1)); /* key groups are below 32768: no overflow */
    struct snap_walk w = {
        .states = v->states, .nstates = v->nstates, .emit = emit, .arg = arg, .now = v->now};
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    if (!ro)
        return -ENOMEM;
    rocksdb_readoptions_set_snapshot(ro, v->snap);
    rocksdb_readoptions_set_iterate_upper_bound(ro, (const char *)hi, sizeof hi);
    rocksdb_readoptions_set_fill_cache(ro, 0); /* a one-off scan: keep the worker's blocks */
    rocksdb_iterator_t *it = rocksdb_create_iterator(v->r->db, ro);
    int rc = 0;
    for (rocksdb_iter_seek(it, (const char *)lo, sizeof lo); rc == 0 && rocksdb_iter_valid(it);
         rocksdb_iter_next(it)) {
        size_t kl, vl;
        const char *k = rocksdb_iter_key(it, &kl);
        const char *val = rocksdb_iter_value(it, &vl);
        rc = snap_one(&w, k, kl, val, vl);
    }
    char *msg = NULL;
    rocksdb_iter_get_error(it, &msg);
    rocksdb_iter_destroy(it);
    rocksdb_readoptions_destroy(ro);
    if (msg) {
        snprintf(v->err, sizeof v->err,
                 "operator %s: reading the RocksDB snapshot of key group %u: %s", v->be->uid, kg,
                 msg);
        rocksdb_free(msg);
        return -EIO;
    }
    return rc;
}

void weir_rocks_view_release(weir_rocks_view *v)
{
    if (!v)
        return;
    struct rdb *r = v->r;
    rocksdb_release_snapshot(r->db, v->snap);
    free(v->states);
    free(v);
    pthread_mutex_lock(&r->view_lock);
    r->views--;
    pthread_cond_broadcast(&r->view_cond);
    pthread_mutex_unlock(&r->view_lock);
}

/* ---- restore: key groups written into SSTs, ingested ------------------------------------ */

/* The restore of one key group (snapshot.c reads the format and calls begin, entry per entry,
 * end). RocksDB's write path (memtable inserts, flushes, then compactions of what was flushed)
 * cost 12-13 s per GiB, so the entries are instead gathered in memory as the instance keeps
 * them (key, value), sorted by key unless they came in order (a snapshot the RocksDB backend
 * wrote comes in key order when the states keep their ids; a heap snapshot comes in hash
 * order), written into an SST file with RocksDB's SstFileWriter and ingested: the file is
 * moved (hard-linked) into the instance, to the bottommost level where no other file overlaps
 * it, as Flink's restore of a full snapshot into RocksDB does. Nothing of a key group reaches
 * the instance before end(commit): a snapshot found corrupt at its checksum leaves nothing.
 *
 * An ingest costs a MANIFEST write and fsyncs whatever the file's size (3-20 ms each on the
 * dev VM), so within a run (rdb_restore_run_begin/_end: restore.c restores all of a subtask's
 * key groups in one) the key groups go into one SST, each appended as it ends, ingested once
 * when the run ends; a key group below the one before (another state file, at another
 * parallelism) starts the next SST. Outside a run each key group is ingested at its end,
 * and one of less than RESTORE_INGEST_MIN bytes goes through one write batch instead.
 *
 * Past RESTORE_CHUNK bytes the entries of a key group gathered so far become an SST of their
 * own (memory stays bounded); these may overlap each other, so each is ingested on its own,
 * in order: a later file wins a key that repeats, as a later put would. */
#define RESTORE_INGEST_MIN (256u << 10)
#define RESTORE_CHUNK      (64u << 20)

struct rdb_restore {
    uint8_t *arena; /* entries: u32 key length, u32 value length, key, value */
    size_t len, cap;
    size_t *idx; /* each entry's offset in arena, in the order they came */
    size_t n, ncap;
    bool sorted; /* every key so far came after the one before */
    uint32_t kg;
    unsigned files; /* SSTs written for this key group, weir-restore-<kg>-<i>.sst */
    /* a run */
    bool run;
    rocksdb_envoptions_t *eo;
    rocksdb_sstfilewriter_t *w; /* the run's SST being written, weir-restore-run-<seq>.sst */
    char w_path[4200];
    uint32_t w_kg; /* the last key group w took */
    unsigned seq;
    char **ready; /* SSTs written, to ingest when the run ends, in order */
    size_t nready;
};

_Atomic uint64_t rdb_restore_ssts_ingested;

static void drop_ready(struct rdb_restore *rs)
{
    for (size_t i = 0; i < rs->nready; i++) {
        unlink(rs->ready[i]);
        free(rs->ready[i]);
    }
    free(rs->ready);
    rs->ready = NULL;
    rs->nready = 0;
}

static void drop_writer(struct rdb_restore *rs)
{
    if (rs->w) {
        rocksdb_sstfilewriter_destroy(rs->w);
        unlink(rs->w_path);
    }
    rs->w = NULL;
}

void rdb_restore_free(struct rdb *r)
{
    struct rdb_restore *rs = r->restore;
    if (!rs)
        return;
    drop_writer(rs);
    drop_ready(rs);
    if (rs->eo)
        rocksdb_envoptions_destroy(rs->eo);
    free(rs->arena);
    free(rs->idx);
    free(rs);
    r->restore = NULL;
}

static const uint8_t *entry_key(const struct rdb_restore *rs, size_t off, uint32_t *kl)
{
    memcpy(kl, rs->arena + off, 4);
    return rs->arena + off + 8;
}

static const uint8_t *entry_value(const struct rdb_restore *rs, size_t off, uint32_t *vl)
{
    uint32_t kl;
    memcpy(&kl, rs->arena + off, 4);
    memcpy(vl, rs->arena + off + 4, 4);
    return rs->arena + off + 8 + kl;
}

/* RocksDB's default (bytewise) comparator. */
static int key_cmp(const uint8_t *a, uint32_t al, const uint8_t *b, uint32_t bl)
{
    int c = memcmp(a, b, al < bl ? al : bl);
    return c ? c : (al > bl) - (al < bl);
}

/* By key, then by arrival (offsets grow), so that of a repeated key the last one is last. */
static int by_key(const void *pa, const void *pb, void *arg)
{
    const struct rdb_restore *rs = arg;
    size_t a = *(const size_t *)pa, b = *(const size_t *)pb;
    uint32_t al, bl;
    const uint8_t *ka = entry_key(rs, a, &al), *kb = entry_key(rs, b, &bl);
    int c = key_cmp(ka, al, kb, bl);
    return c ? c : (a > b) - (a < b);
}

static void sst_path(const struct rdb *r, uint32_t kg, unsigned i, char *path, size_t len)
{
    snprintf(path, len, "%s/weir-restore-%u-%u.sst", r->dir, kg, i);
}

/* The entries gathered so far, sorted, into w (a key that repeats written once, its last
 * value); the arena is empty again. */
static void put_sorted(struct rdb_restore *rs, rocksdb_sstfilewriter_t *w, char **msg)
{
    if (!rs->sorted)
        qsort_r(rs->idx, rs->n, sizeof *rs->idx, by_key, rs);
    for (size_t i = 0; i < rs->n && !*msg; i++) {
        uint32_t kl, vl, nl;
        const uint8_t *k = entry_key(rs, rs->idx[i], &kl);
        if (i + 1 < rs->n) {
            const uint8_t *next = entry_key(rs, rs->idx[i + 1], &nl);
            if (key_cmp(k, kl, next, nl) == 0)
                continue; /* the next one is later */
        }
        const uint8_t *v = entry_value(rs, rs->idx[i], &vl);
        rocksdb_sstfilewriter_put(w, (const char *)k, kl, (const char *)v, vl, msg);
    }
    rs->len = rs->n = 0;
    rs->sorted = true;
}

static rocksdb_sstfilewriter_t *writer_open(struct rdb *r, const char *path, char **msg)
{
    struct rdb_restore *rs = r->restore;
    if (!rs->eo && !(rs->eo = rocksdb_envoptions_create()))
        return NULL;
    rocksdb_sstfilewriter_t *w = rocksdb_sstfilewriter_create(rs->eo, r->opts);
    if (w)
        rocksdb_sstfilewriter_open(w, path, msg);
    return w;
}

/* The entries gathered so far into the key group's next SST file of its own. */
static int write_sst(weir_keyed_backend *be)
{
    struct rdb *r = be->rdb;
    struct rdb_restore *rs = r->restore;
    char path[4200], *msg = NULL;
    sst_path(r, rs->kg, rs->files, path, sizeof path);
    rocksdb_sstfilewriter_t *w = writer_open(r, path, &msg);
    if (!w)
        return state_err(be, -ENOMEM, "operator %s: out of memory", be->uid);
    rs->files++; /* removed by end() from here, written or not */
    if (!msg)
        put_sorted(rs, w, &msg);
    if (!msg)
        rocksdb_sstfilewriter_finish(w, &msg);
    rocksdb_sstfilewriter_destroy(w);
    rs->len = rs->n = 0;
    return msg ? rdb_err(be, msg) : 0;
}

static int add_ready(weir_keyed_backend *be, const char *path)
{
    struct rdb_restore *rs = be->rdb->restore;
    char **v = realloc(rs->ready, (rs->nready + 1) * sizeof *v);
    if (v)
        rs->ready = v;
    if (!v || !(v[rs->nready] = strdup(path)))
        return state_err(be, -ENOMEM, "operator %s: out of memory", be->uid);
    rs->nready++;
    return 0;
}

/* The run's SST being written, finished and added to those to ingest. */
static int close_run_sst(weir_keyed_backend *be)
{
    struct rdb_restore *rs = be->rdb->restore;
    char *msg = NULL;
    if (!rs->w)
        return 0;
    rocksdb_sstfilewriter_finish(rs->w, &msg);
    rocksdb_sstfilewriter_destroy(rs->w);
    rs->w = NULL;
    int rc = msg ? rdb_err(be, msg) : add_ready(be, rs->w_path);
    if (rc < 0)
        unlink(rs->w_path);
    return rc;
}

/* The key group's entries (one chunk) appended to the run's SST: a new one when the key group
 * is not above the last one it took. */
static int append_to_run(weir_keyed_backend *be)
{
    struct rdb *r = be->rdb;
    struct rdb_restore *rs = r->restore;
    char *msg = NULL;
    int rc = rs->w && rs->kg <= rs->w_kg ? close_run_sst(be) : 0;
    if (rc == 0 && !rs->w) {
        snprintf(rs->w_path, sizeof rs->w_path, "%s/weir-restore-run-%u.sst", r->dir, rs->seq++);
        rs->w = writer_open(r, rs->w_path, &msg);
        if (!rs->w)
            return state_err(be, -ENOMEM, "operator %s: out of memory", be->uid);
    }
    if (rc == 0 && !msg)
        put_sorted(rs, rs->w, &msg);
    rs->w_kg = rs->kg;
    return rc < 0 ? rc : msg ? rdb_err(be, msg) : 0;
}

int rdb_ingest_file(rocksdb_t *db, const char *path, char **msg)
{
    rocksdb_ingestexternalfileoptions_t *io = rocksdb_ingestexternalfileoptions_create();
    if (!io) {
        *msg = strdup("out of memory");
        return -ENOMEM;
    }
    rocksdb_ingestexternalfileoptions_set_move_files(io, 1);
    const char *files[] = {path};
    rocksdb_ingest_external_file(db, files, 1, io, msg);
    rocksdb_ingestexternalfileoptions_destroy(io);
    if (*msg)
        return -EIO;
    atomic_fetch_add_explicit(&rdb_restore_ssts_ingested, 1, memory_order_relaxed);
    return 0;
}

static int restore_state(weir_keyed_backend *be)
{
    struct rdb *r = be->rdb;
    if (!r->restore && !(r->restore = calloc(1, sizeof *r->restore)))
        return state_err(be, -ENOMEM, "operator %s: out of memory", be->uid);
    return 0;
}

int rdb_restore_run_begin(weir_keyed_backend *be)
{
    int rc = restore_state(be);
    if (rc == 0)
        be->rdb->restore->run = true;
    return rc;
}

/* Every SST of the run ingested, in the order written (commit), or removed. */
int rdb_restore_run_end(weir_keyed_backend *be, bool commit)
{
    struct rdb *r = be->rdb;
    struct rdb_restore *rs = r->restore;
    if (!rs || !rs->run)
        return 0;
    rs->run = false;
    int rc = commit ? close_run_sst(be) : 0;
    drop_writer(rs);
    for (size_t i = 0; i < rs->nready && commit && rc == 0; i++) {
        char *msg = NULL;
        if (rdb_ingest_file(r->db, rs->ready[i], &msg) < 0)
            rc = rdb_err(be, msg);
    }
    drop_ready(rs); /* moved by a successful ingest; otherwise ours to remove */
    return rc;
}

int rdb_restore_begin(weir_keyed_backend *be)
{
    int rc = restore_state(be);
    if (rc < 0)
        return rc;
    struct rdb_restore *rs = be->rdb->restore;
    rs->len = rs->n = 0;
    rs->sorted = true;
    rs->files = 0;
    return 0;
}

int rdb_restore_entry(struct kstate *s, uint32_t kg, uint64_t key, uint64_t ns, const void *ukey,
                      int64_t ts, const void *payload, size_t len)
{
    weir_keyed_backend *be = s->be;
    struct rdb_restore *rs = be->rdb->restore;
    uint32_t klen = KEY_PREFIX + (s->kind == KIND_MAP ? s->key_size : 0);
    uint32_t vlen = (uint32_t)len + (s->ttl ? 8 : 0);
    size_t need = rs->len + 8 + klen + vlen;
    if (rs->n == rs->ncap) {
        size_t ncap = rs->ncap ? rs->ncap * 2 : 4096;
        size_t *idx = realloc(rs->idx, ncap * sizeof *idx);
        if (!idx)
            return state_err(be, -ENOMEM, "operator %s: out of memory", be->uid);
        rs->idx = idx;
        rs->ncap = ncap;
    }
    if (rdb_grow(&rs->arena, &rs->cap, need) < 0)
        return state_err(be, -ENOMEM, "operator %s: out of memory", be->uid);
    uint8_t *e = rs->arena + rs->len, *k = e + 8;
    memcpy(e, &klen, 4);
    memcpy(e + 4, &vlen, 4);
    rdb_put_be16(k, (uint16_t)kg);
    rdb_put_be16(k + 2, rdb_sid_of(s));
    rdb_put_be64(k + 4, key);
    rdb_put_be64(k + 12, ns);
    if (s->kind == KIND_MAP)
        memcpy(k + KEY_PREFIX, ukey, s->key_size);
    uint8_t *v = k + klen;
    if (s->ttl) {
        memcpy(v, &ts, 8);
        v += 8;
    }
    memcpy(v, payload, len);
    if (rs->n && rs->sorted) {
        uint32_t pl;
        const uint8_t *prev = entry_key(rs, rs->idx[rs->n - 1], &pl);
        rs->sorted = key_cmp(prev, pl, k, klen) < 0;
    }
    rs->kg = kg;
    rs->idx[rs->n++] = rs->len;
    rs->len = need;
    return rs->len >= RESTORE_CHUNK ? write_sst(be) : 0;
}

/* A small key group: its entries, in the order they came, through one write batch. */
static int put_batch(weir_keyed_backend *be)
{
    struct rdb *r = be->rdb;
    struct rdb_restore *rs = r->restore;
    if (!r->batch && !(r->batch = rocksdb_writebatch_create()))
        return state_err(be, -ENOMEM, "operator %s: out of memory", be->uid);
    rocksdb_writebatch_clear(r->batch);
    for (size_t i = 0; i < rs->n; i++) {
        uint32_t kl, vl;
        const uint8_t *k = entry_key(rs, rs->idx[i], &kl);
        const uint8_t *v = entry_value(rs, rs->idx[i], &vl);
        rocksdb_writebatch_put(r->batch, (const char *)k, kl, (const char *)v, vl);
    }
    char *msg = NULL;
    rocksdb_write(r->db, r->wo, r->batch, &msg);
    rocksdb_writebatch_clear(r->batch);
    return msg ? rdb_err(be, msg) : 0;
}

int rdb_restore_end(weir_keyed_backend *be, bool commit)
{
    struct rdb *r = be->rdb;
    struct rdb_restore *rs = r->restore;
    int rc = 0;
    if (!rs)
        return 0;
    if (commit && rs->run && rs->files == 0)
        rc = rs->n ? append_to_run(be) : 0;
    else if (commit && rs->files == 0 && rs->len < RESTORE_INGEST_MIN)
        rc = rs->n ? put_batch(be) : 0;
    else if (commit && rs->n)
        rc = write_sst(be);
    char path[4200];
    for (unsigned i = 0; i < rs->files; i++) {
        sst_path(r, rs->kg, i, path, sizeof path);
        char *msg = NULL;
        if (commit && rc == 0 && rs->run) {
            rc = add_ready(be, path);
            continue;
        }
        if (commit && rc == 0 && rdb_ingest_file(r->db, path, &msg) < 0)
            rc = rdb_err(be, msg);
        unlink(path); /* moved by a successful ingest; otherwise ours to remove */
    }
    rs->len = rs->n = 0;
    rs->files = 0;
    rs->sorted = true;
    return rc;
}

int rdb_flush(weir_keyed_backend *be)
{
    struct rdb *r = be->rdb;
    char *msg = NULL;
    rocksdb_flushoptions_t *fo = rocksdb_flushoptions_create();
    if (!fo)
        return state_err(be, -ENOMEM, "operator %s: out of memory", be->uid);
    rocksdb_flushoptions_set_wait(fo, 1);
    rocksdb_flush(r->db, fo, &msg);
    rocksdb_flushoptions_destroy(fo);
    return msg ? rdb_err(be, msg) : 0;
}

int rdb_cleanup(weir_keyed_backend *be)
{
    struct rdb *r = be->rdb;
    int rc = rdb_flush(be);
    if (rc < 0)
        return rc;
    /* The whole range: with a compaction filter set, RocksDB compacts the bottommost level
     * too, so every expired entry meets the filter. Twice: a list built by merges becomes a
     * plain value in the first pass (the filter does not see merge operands, nor, in this
     * version, the merge result), which the second pass filters. */
    rocksdb_compact_range(r->db, NULL, 0, NULL, 0);
    rocksdb_compact_range(r->db, NULL, 0, NULL, 0);
    return 0;
}

static int count_one(void *arg, const char *k, size_t kl, const char *v, size_t vl)
{
    (*(uint64_t *)arg)++;
    return 0;
}

void rdb_stats(weir_keyed_backend *be, struct weir_keyed_backend_stats *st)
{
    struct rdb *r = be->rdb;
    uint8_t none[1] = {0};
    rdb_scan(r, none, 0, count_one, &st->entries);
    rocksdb_property_int(r->db, "rocksdb.cur-size-all-mem-tables", &st->memtable_bytes);
    rocksdb_property_int(r->db, "rocksdb.block-cache-usage", &st->block_cache_bytes);
    rocksdb_property_int(r->db, "rocksdb.block-cache-capacity", &st->block_cache_capacity);
    rocksdb_property_int(r->db, "rocksdb.total-sst-files-size", &st->sst_bytes);
    pthread_mutex_lock(&be->env->lock);
    st->write_buffer_size = r->write_buffer_size;
    pthread_mutex_unlock(&be->env->lock);
}

/* Under env->lock, as swap_db sets r->db: a restore may adopt another instance. */
void rdb_gauges(weir_keyed_backend *be, struct weir_keyed_backend_gauges *g)
{
    pthread_mutex_lock(&be->env->lock);
    rocksdb_t *db = be->rdb->db;
    rocksdb_property_int(db, "rocksdb.estimate-live-data-size", &g->state_bytes);
    rocksdb_property_int(db, "rocksdb.cur-size-all-mem-tables", &g->memtable_bytes);
    rocksdb_property_int(db, "rocksdb.block-cache-usage", &g->block_cache_bytes);
    pthread_mutex_unlock(&be->env->lock);
}

/* ---- for incremental checkpoints (rocksdb_incremental.c) ------------------------ */

bool rdb_is_rocksdb(const weir_keyed_backend *be)
{
    return be && be->kind == BACKEND_ROCKSDB && be->rdb;
}

void rdb_handles(weir_keyed_backend *be, rocksdb_t **db, rocksdb_options_t **opts,
                 rocksdb_writeoptions_t **wo, const char **dir)
{
    *db = be->rdb->db;
    *opts = be->rdb->opts;
    *wo = be->rdb->wo;
    *dir = be->rdb->dir;
}

/* The live instance is closed and removed, dir renamed in its place (the same parent
 * directory) and opened with the instance's options. No IDENTITY (a RocksDB checkpoint has
 * none; one a state file brought is removed): RocksDB gives the instance a new identity, so
 * that the SSTs it writes from here are named apart, in the storage's shared/, from those
 * the checkpointed instance wrote after this checkpoint (a failed checkpoint's) or another
 * subtask restored from the same one writes. */
/* Sets r->db under env->lock (rebalance walks the instances from other threads), with the
 * write buffer size rebalance gave the instance before in the options it opens with. */
static void swap_db(struct rdb *r, rocksdb_t *db)
{
    weir_state_env *env = r->be->env;
    pthread_mutex_lock(&env->lock);
    if (env->managed)
        rocksdb_options_set_write_buffer_size(r->opts, r->write_buffer_size);
    r->db = db;
    pthread_mutex_unlock(&env->lock);
}

int rdb_adopt_instance(weir_keyed_backend *be, const char *dir, char *err, size_t errlen)
{
    struct rdb *r = be->rdb;
    char path[4200], *msg = NULL;
    snprintf(path, sizeof path, "%s/IDENTITY", dir);
    int rc = unlink(path) < 0 && errno != ENOENT ? -errno : 0;
    if (rc < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(-rc));
        return rc;
    }
    rocksdb_t *old = r->db;
    swap_db(r, NULL);
    rocksdb_close(old);
    privdir_rm_tree(r->dir);
    rocksdb_t *db = NULL;
    if (rename(dir, r->dir) < 0) {
        rc = -errno;
        snprintf(err, errlen, "moving %s to %s: %s", dir, r->dir, strerror(-rc));
    } else {
        db = rocksdb_open(r->opts, r->dir, &msg);
        if (msg) {
            snprintf(err, errlen, "opening the RocksDB checkpoint in %s: %s", r->dir, msg);
            rocksdb_free(msg);
            rc = -EIO;
        }
    }
    if (rc < 0) { /* an empty instance, as the backend had */
        privdir_rm_tree(r->dir);
        msg = NULL;
        if (mkdir(r->dir, 0700) == 0)
            db = rocksdb_open(r->opts, r->dir, &msg);
        rocksdb_free(msg);
    }
    swap_db(r, db);
    return rc;
}
