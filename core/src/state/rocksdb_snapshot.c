/*
 * The RocksDB backend's half of a key group's snapshot (snapshot.c writes the format): walk
 * the key group's key range, leaving expired entries out; restore through one write batch
 * flushed every RESTORE_BATCH bytes. Also flush, the full TTL cleanup (compaction), stats and
 * the handles incremental checkpoints need.
 */
#include "state_private.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <weir/privdir.h>

#define RESTORE_BATCH (4u << 20)

struct snap_walk {
    weir_keyed_backend *be;
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
    if (sid >= w->be->nstates)
        return 0;
    struct kstate *s = w->be->states[sid];
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
    struct snap_walk w = {.be = be, .emit = emit, .arg = arg, .now = state_now(be)};
    return rdb_scan(be->rdb, prefix, 2, snap_one, &w);
}

int rdb_restore_begin(weir_keyed_backend *be)
{
    struct rdb *r = be->rdb;
    if (!r->batch)
        r->batch = rocksdb_writebatch_create();
    if (!r->batch)
        return state_err(be, -ENOMEM, "operator %s: out of memory", be->uid);
    rocksdb_writebatch_clear(r->batch);
    return 0;
}

static int flush_batch(struct rdb *r)
{
    char *msg = NULL;
    rocksdb_write(r->db, r->wo, r->batch, &msg);
    rocksdb_writebatch_clear(r->batch);
    return msg ? rdb_err(r->be, msg) : 0;
}

int rdb_restore_entry(struct kstate *s, uint32_t kg, uint64_t key, uint64_t ns, const void *ukey,
                      int64_t ts, const void *payload, size_t len)
{
    struct rdb *r = s->be->rdb;
    uint8_t k[KEY_PREFIX + 1024];
    rdb_put_be16(k, (uint16_t)kg);
    rdb_put_be16(k + 2, rdb_sid_of(s));
    rdb_put_be64(k + 4, key);
    rdb_put_be64(k + 12, ns);
    size_t klen = KEY_PREFIX;
    if (s->kind == KIND_MAP) {
        memcpy(k + KEY_PREFIX, ukey, s->key_size);
        klen += s->key_size;
    }
    if (s->ttl) {
        if (rdb_grow(&r->vbuf, &r->vcap, len + 8) < 0)
            return state_err(s->be, -ENOMEM, "operator %s: out of memory", s->be->uid);
        memcpy(r->vbuf, &ts, 8);
        memcpy(r->vbuf + 8, payload, len);
        rocksdb_writebatch_put(r->batch, (const char *)k, klen, (const char *)r->vbuf, len + 8);
    } else {
        rocksdb_writebatch_put(r->batch, (const char *)k, klen, payload, len);
    }
    size_t size;
    rocksdb_writebatch_data(r->batch, &size);
    return size >= RESTORE_BATCH ? flush_batch(r) : 0;
}

int rdb_restore_end(weir_keyed_backend *be, bool commit)
{
    struct rdb *r = be->rdb;
    int rc = commit ? flush_batch(r) : 0;
    rocksdb_writebatch_clear(r->batch);
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
