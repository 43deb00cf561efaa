/*
 * The RocksDB keyed-state backend: one RocksDB instance per keyed operator subtask, in
 * <state.backend.rocksdb.localdir>/<job>/<operator uid>-<subtask>. The directory is working
 * state, not a checkpoint: it is removed when the backend closes (and, if a crashed run left
 * one behind, when the next one opens).
 *
 * Keys: [key group, 2 bytes BE][state id, 2 bytes BE, top bit set when the state has TTL]
 *       [key, 8 bytes BE][namespace, 8 bytes BE][user key, map state only]
 * so one key group, one state of it, and one (key, namespace) of a map are each a contiguous
 * range that an iterator walks in order. Values: [timestamp, 8 bytes, TTL states only]
 * [value | list elements back to back | map value].
 *
 * List append is a merge (a blind write, as Flink's RocksDB backend does with its string
 * append operator): the operator concatenates; with TTL an operand carries its write time,
 * and a list whose last write is older than the TTL when the next element arrives starts
 * over, so per-list expiry is the same whether or not the operands were merged yet.
 *
 * TTL: reads never return an expired entry, and delete the one they meet; a compaction
 * filter drops expired entries (it reads the state's TTL by id from an array of atomics and
 * the backend's clock, both set by the owning thread), so compaction gives the space back.
 * The filter sees neither merge operands nor (in this version) a merge's result, so a list
 * built by merges is cut down to its timestamp by the merge that finds it expired, and
 * dropped by the compaction after. rdb_cleanup flushes and compacts everything twice, for a
 * full pass.
 *
 * Memory (state.backend.rocksdb.memory.managed, true by default): the managed pool is cut
 * into one block cache, shared by every instance of the env, of managed * (1 - ratio), with
 * state.backend.rocksdb.memory.high-prio-pool-ratio of it for index and filter blocks (which
 * live in the cache, so they are counted), and write buffers of managed * ratio in total.
 * Flink bounds the write buffers with one WriteBufferManager charged to that cache; RocksDB
 * 7.8's C API (Debian 12) has no WriteBufferManager, and the options-string parser does not
 * know it either. So the budget is split instead: every open instance gets memtables of
 * budget / instances / 2 bytes (max_write_buffer_number 2), re-set with SetOptions on every
 * open and close, so the sum of all memtables stays within the budget (an instance's
 * memtables already full keep their size until they flush). The block cache is made by
 * RocksDB's options-string parser rather than rocksdb_cache_create_lru, because only that
 * route sets the high-priority pool ratio in this version; all instances copy the same
 * options object and so share that one cache.
 */
#include "state_private.h"

#include <weir/privdir.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MIN_WRITE_BUF  (1ull << 20)
#define ROCKS_LOG_WARN 2 /* InfoLogLevel::WARN_LEVEL */

/* ---- helpers ---------------------------------------------------------------------------- */

int rdb_grow(uint8_t **buf, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : 64;
    while (c < need)
        c *= 2;
    void *p = aligned_alloc(16, (c + 15) & ~(size_t)15);
    if (!p)
        return -ENOMEM;
    if (*buf)
        memcpy(p, *buf, *cap);
    free(*buf);
    *buf = p;
    *cap = c;
    return 0;
}

/* A RocksDB error as the backend's one-line reason; frees the message. */
int rdb_err(weir_keyed_backend *be, char *msg)
{
    state_err(be, -EIO, "operator %s subtask %d: rocksdb: %s", be->uid, be->subtask, msg);
    free(msg);
    return -EIO;
}

static void rm_rf(const char *path)
{
    privdir_rm_tree(path);
}

static char *sanitized(const char *s)
{
    char *d = strdup(s);
    if (d)
        for (char *p = d; *p; p++)
            if (*p == '/' || *p == ' ')
                *p = '_';
    return d;
}

/* ---- TTL in RocksDB's threads ----------------------------------------------------------- */

static int64_t key_ttl(struct rdb *r, const char *key, size_t klen)
{
    if (klen < KEY_PREFIX || !((uint8_t)key[2] & 0x80))
        return 0;
    unsigned sid = (((uint8_t)key[2] & 0x7fu) << 8) | (uint8_t)key[3];
    return sid < STATE_MAX ? atomic_load_explicit(&r->ttl_ms[sid], memory_order_relaxed) : 0;
}

static unsigned char ttl_filter(void *arg, int level, const char *key, size_t klen, const char *val,
                                size_t vlen, char **nv, size_t *nvlen, unsigned char *changed)
{
    struct rdb *r = arg;
    int64_t ttl = key_ttl(r, key, klen);
    if (ttl <= 0 || vlen < 8)
        return 0;
    int64_t ts = rdb_get_ts(val);
    return ts <= INT64_MAX - ttl && ts + ttl <= state_now(r->be);
}

static const char *ttl_filter_name(void *arg)
{
    return "weir.ttl";
}

/* List append. Without TTL the value is the concatenation of everything. With TTL each
 * operand is [time][element] and the value [time of last write][elements]: a list not
 * written for a TTL when an element arrives is dropped first, exactly as a read at that time
 * would have found it expired. */
static char *list_merge(void *arg, const char *key, size_t klen, const char *base, size_t blen,
                        const char *const *ops, const size_t *oplens, int nops,
                        unsigned char *success, size_t *outlen)
{
    struct rdb *r = arg;
    int64_t ttl = key_ttl(r, key, klen);
    size_t hdr = ttl > 0 ? 8 : 0, total = blen;
    for (int i = 0; i < nops; i++)
        total += oplens[i];
    char *out = malloc(total + 8);
    *success = 0;
    *outlen = 0; /* the C API copies *outlen bytes even when the merge failed */
    if (!out)
        return NULL;
    size_t n = 0;
    int64_t ts = INT64_MIN;
    if (base && blen >= hdr) {
        memcpy(out, base, blen);
        n = blen;
        if (hdr)
            ts = rdb_get_ts(base);
    } else if (hdr) {
        n = 8;
    }
    for (int i = 0; i < nops; i++) {
        if (oplens[i] < hdr)
            continue;
        if (hdr) {
            int64_t ots = rdb_get_ts(ops[i]);
            if (ts != INT64_MIN && ts <= INT64_MAX - ttl && ts + ttl <= ots)
                n = 8; /* the list had expired before this element came */
            ts = ots;
            memcpy(out, &ts, 8);
        }
        memcpy(out + n, ops[i] + hdr, oplens[i] - hdr);
        n += oplens[i] - hdr;
    }
    /* Expired already (a read, or a compaction, merging it now): keep only the time. The
     * compaction filter sees merge results only at their next compaction, so this is what
     * gives the elements' space back in the first one. */
    if (hdr && ts != INT64_MIN && ts <= INT64_MAX - ttl && ts + ttl <= state_now(r->be))
        n = 8;
    *success = 1;
    *outlen = n;
    return out;
}

/* Operands combine only without TTL; with TTL, whether an earlier operand survives depends
 * on the base value, which a partial merge does not see. RocksDB keeps the operands then. */
static char *list_partial_merge(void *arg, const char *key, size_t klen, const char *const *ops,
                                const size_t *oplens, int nops, unsigned char *success,
                                size_t *outlen)
{
    struct rdb *r = arg;
    *success = 0;
    *outlen = 0; /* the C API copies *outlen bytes even when the merge failed */
    if (key_ttl(r, key, klen) > 0)
        return NULL;
    return list_merge(arg, key, klen, NULL, 0, ops, oplens, nops, success, outlen);
}

static void merge_free(void *arg, const char *value, size_t len)
{
    free((void *)value);
}

static const char *merge_name(void *arg)
{
    return "weir.list-append";
}

static void nothing(void *arg)
{
}

/* ---- environment ------------------------------------------------------------------------ */

int rdb_env_init(weir_state_env *env, char *err, size_t errlen)
{
    rocksdb_options_t *base = NULL;
    int rc = -ENOMEM;
    char *job = sanitized(env->job);
    if (!job || asprintf(&env->jobdir, "%s/%s", env->localdir, job) < 0) {
        env->jobdir = NULL;
        goto err;
    }
    /* Private and never through a link (privdir.h): every path below is then safe to use by
     * name, since nobody else can put a link or a directory of their own there. */
    int fd = privdir_open(env->localdir, "state.backend.rocksdb.localdir", err, errlen);
    if (fd < 0) {
        rc = fd;
        goto err;
    }
    int jfd =
        privdir_open_at(fd, env->localdir, job, "state.backend.rocksdb.localdir", err, errlen);
    close(fd);
    if (jfd < 0) {
        rc = jfd;
        goto err;
    }
    close(jfd);

    rc = -ENOMEM;
    base = rocksdb_options_create();
    if (!base)
        goto err;
    rocksdb_options_set_create_if_missing(base, 1);
    rocksdb_options_set_info_log_level(base, ROCKS_LOG_WARN);
    rocksdb_options_set_keep_log_file_num(base, 1);
    if (env->managed) {
        env->write_buffer_bytes = (uint64_t)((double)env->managed_bytes * env->write_buffer_ratio);
        env->cache_bytes = env->managed_bytes - env->write_buffer_bytes;
        char spec[512];
        snprintf(spec, sizeof spec,
                 "max_write_buffer_number=2;"
                 "block_based_table_factory={block_cache={capacity=%llu;high_pri_pool_ratio=%.6f};"
                 "cache_index_and_filter_blocks=true;"
                 "cache_index_and_filter_blocks_with_high_priority=true;"
                 "pin_l0_filter_and_index_blocks_in_cache=true}",
                 (unsigned long long)env->cache_bytes, env->high_prio_ratio);
        rocksdb_options_t *o = rocksdb_options_create();
        char *msg = NULL;
        rocksdb_get_options_from_string(base, spec, o, &msg);
        rocksdb_options_destroy(base);
        base = o;
        if (msg) {
            snprintf(err, errlen, "state.backend: rocksdb: options \"%s\": %s", spec, msg);
            free(msg);
            rc = -EINVAL;
            goto err;
        }
    }
    env->base_opts = base;
    free(job);
    return 0;
err:
    if (base)
        rocksdb_options_destroy(base);
    free(job);
    return rc;
}

void rdb_env_fini(weir_state_env *env)
{
    if (env->base_opts)
        rocksdb_options_destroy(env->base_opts);
    if (env->jobdir)
        rmdir(env->jobdir); /* only when empty: another run may share the job name */
}

/* Memtables per instance: the budget split over open instances, two memtables each. Called
 * with env->lock held. */
static void rebalance(weir_state_env *env)
{
    if (!env->managed || env->n_instances == 0)
        return;
    uint64_t per = env->write_buffer_bytes / (uint64_t)env->n_instances / 2;
    if (per < MIN_WRITE_BUF)
        per = MIN_WRITE_BUF;
    char val[32];
    snprintf(val, sizeof val, "%llu", (unsigned long long)per);
    const char *keys[] = {"write_buffer_size"}, *vals[] = {val};
    for (struct rdb *r = env->instances; r; r = r->next) {
        if (r->write_buffer_size == per || !r->db)
            continue;
        char *msg = NULL;
        rocksdb_set_options(r->db, 1, keys, vals, &msg);
        if (msg)
            free(msg); /* keeps its old size; the next rebalance tries again */
        else
            r->write_buffer_size = per;
    }
}

rocksdb_options_t *state_rocksdb_options_new(weir_state_env *env)
{
    rocksdb_options_t *o = rocksdb_options_create_copy(env->base_opts);
    if (o && env->managed) {
        pthread_mutex_lock(&env->lock);
        uint64_t per = env->write_buffer_bytes / (uint64_t)(env->n_instances + 1) / 2;
        pthread_mutex_unlock(&env->lock);
        rocksdb_options_set_write_buffer_size(o, per < MIN_WRITE_BUF ? MIN_WRITE_BUF : per);
    }
    return o;
}

rocksdb_writeoptions_t *state_rocksdb_writeoptions_new(void)
{
    rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
    /* No WAL, as Flink: the working state is rebuilt from a checkpoint after a crash. */
    if (wo)
        rocksdb_writeoptions_disable_WAL(wo, 1);
    return wo;
}

/* ---- backend ---------------------------------------------------------------------------- */

/* Frees an instance, open or partly built, and removes its working directory. */
static void instance_free(struct rdb *r)
{
    if (r->view_sync) {
        pthread_cond_destroy(&r->view_cond);
        pthread_mutex_destroy(&r->view_lock);
    }
    if (r->batch)
        rocksdb_writebatch_destroy(r->batch);
    rdb_restore_free(r);
    if (r->db)
        rocksdb_close(r->db);
    if (r->opts)
        rocksdb_options_destroy(r->opts);
    if (r->filter)
        rocksdb_compactionfilter_destroy(r->filter);
    if (r->wo)
        rocksdb_writeoptions_destroy(r->wo);
    if (r->ro)
        rocksdb_readoptions_destroy(r->ro);
    if (r->dir)
        rm_rf(r->dir);
    free(r->dir);
    free(r->kbuf);
    free(r->vbuf);
    free(r->obuf);
    free(r);
}

int rdb_backend_open(weir_keyed_backend *be, char *err, size_t errlen)
{
    weir_state_env *env = be->env;
    int rc = -ENOMEM;
    struct rdb *r = calloc(1, sizeof *r);
    char *uid = sanitized(be->uid);
    if (!r || !uid)
        goto err;
    r->be = be;
    pthread_mutex_init(&r->view_lock, NULL);
    pthread_cond_init(&r->view_cond, NULL);
    r->view_sync = true;
    if (asprintf(&r->dir, "%s/%s-%d", env->jobdir, uid, be->subtask) < 0) {
        r->dir = NULL;
        goto err;
    }
    if (rdb_grow(&r->kbuf, &r->kcap, KEY_PREFIX + 64) < 0 ||
        rdb_grow(&r->vbuf, &r->vcap, 256) < 0 || rdb_grow(&r->obuf, &r->ocap, 256) < 0)
        goto err;
    /* Working state of a run that did not close it is of no use to anyone: start clean. */
    rm_rf(r->dir);
    if (mkdir(r->dir, 0700) < 0) {
        rc = -errno;
        snprintf(err, errlen, "state.backend.rocksdb.localdir: %s: %s", r->dir, strerror(-rc));
        goto err;
    }
    rc = -ENOMEM;
    r->opts = rocksdb_options_create_copy(env->base_opts);
    r->filter = rocksdb_compactionfilter_create(r, nothing, ttl_filter, ttl_filter_name);
    rocksdb_mergeoperator_t *mo = rocksdb_mergeoperator_create(
        r, nothing, list_merge, list_partial_merge, merge_free, merge_name);
    r->wo = state_rocksdb_writeoptions_new();
    r->ro = rocksdb_readoptions_create();
    if (!r->opts || !r->filter || !mo || !r->wo || !r->ro) {
        if (mo)
            rocksdb_mergeoperator_destroy(mo);
        goto err;
    }
    rocksdb_options_set_compaction_filter(r->opts, r->filter);
    rocksdb_options_set_merge_operator(r->opts, mo); /* the options own it from here */

    pthread_mutex_lock(&env->lock);
    if (env->managed) {
        uint64_t per = env->write_buffer_bytes / (uint64_t)(env->n_instances + 1) / 2;
        r->write_buffer_size = per < MIN_WRITE_BUF ? MIN_WRITE_BUF : per;
        rocksdb_options_set_write_buffer_size(r->opts, r->write_buffer_size);
    } else {
        r->write_buffer_size = 64ull << 20; /* RocksDB's default */
    }
    pthread_mutex_unlock(&env->lock);

    char *msg = NULL;
    r->db = rocksdb_open(r->opts, r->dir, &msg);
    if (msg) {
        snprintf(err, errlen, "state.backend.rocksdb.localdir: %s: %s", r->dir, msg);
        free(msg);
        rc = -EIO;
        goto err;
    }
    pthread_mutex_lock(&env->lock);
    r->next = env->instances;
    env->instances = r;
    env->n_instances++;
    rebalance(env);
    pthread_mutex_unlock(&env->lock);
    be->rdb = r;
    free(uid);
    return 0;
err:
    if (rc == -ENOMEM && err && errlen)
        snprintf(err, errlen, "operator %s: out of memory opening RocksDB", be->uid);
    if (r)
        instance_free(r);
    free(uid);
    return rc;
}

void rdb_views_quiesce(weir_keyed_backend *be)
{
    struct rdb *r = be->rdb;
    if (!r)
        return;
    pthread_mutex_lock(&r->view_lock);
    while (r->views > 0)
        pthread_cond_wait(&r->view_cond, &r->view_lock);
    pthread_mutex_unlock(&r->view_lock);
}

void rdb_backend_close(weir_keyed_backend *be)
{
    struct rdb *r = be->rdb;
    weir_state_env *env = be->env;
    if (!r)
        return;
    pthread_mutex_lock(&env->lock);
    for (struct rdb **p = &env->instances; *p; p = &(*p)->next) {
        if (*p == r) {
            *p = r->next;
            env->n_instances--;
            break;
        }
    }
    rebalance(env);
    pthread_mutex_unlock(&env->lock);
    instance_free(r);
    be->rdb = NULL;
}

void rdb_state_init(struct kstate *s)
{
    struct rdb *r = s->be->rdb;
    atomic_store_explicit(&r->ttl_ms[s->id], s->ttl ? s->ttl_ms : 0, memory_order_relaxed);
    if (rdb_grow(&r->kbuf, &r->kcap, KEY_PREFIX + s->key_size) < 0)
        state_err(s->be, -ENOMEM, "operator %s: out of memory", s->be->uid);
}

void rdb_set_current_key(weir_keyed_backend *be)
{
    struct rdb *r = be->rdb;
    rdb_put_be16(r->kbuf, (uint16_t)be->kg);
    rdb_put_be64(r->kbuf + 4, be->key);
    rdb_put_be64(r->kbuf + 12, be->ns);
}

void rdb_set_namespace(weir_keyed_backend *be)
{
    rdb_put_be64(be->rdb->kbuf + 12, be->ns);
}
