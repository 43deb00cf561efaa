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

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KEY_PREFIX     20
#define TTL_BIT        0x8000u
#define MIN_WRITE_BUF  (1ull << 20)
#define RESTORE_BATCH  (4u << 20)
#define ROCKS_LOG_WARN 2 /* InfoLogLevel::WARN_LEVEL */

struct rdb {
    weir_keyed_backend *be;
    rocksdb_t *db;
    rocksdb_options_t *opts;
    rocksdb_writeoptions_t *wo;
    rocksdb_readoptions_t *ro;
    rocksdb_compactionfilter_t *filter;
    rocksdb_writebatch_t *batch; /* restore */
    char *dir;
    uint8_t *kbuf; /* the current key's prefix, then a user key */
    size_t kcap;
    uint8_t *vbuf; /* a value being written */
    size_t vcap;
    uint8_t *obuf; /* what a get returned: 16-byte aligned, valid until the next call */
    size_t ocap;
    uint64_t write_buffer_size;
    struct rdb *next;                  /* env->instances */
    _Atomic int64_t ttl_ms[STATE_MAX]; /* by state id; 0: no TTL */
};

/* ---- helpers ---------------------------------------------------------------------------- */

static inline void put_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static inline void put_be64(uint8_t *p, uint64_t v)
{
    v = __builtin_bswap64(v);
    memcpy(p, &v, 8);
}

static inline uint64_t get_be64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return __builtin_bswap64(v);
}

static inline int64_t get_ts(const char *v)
{
    int64_t ts;
    memcpy(&ts, v, 8);
    return ts;
}

static inline uint16_t sid_of(const struct kstate *s)
{
    return (uint16_t)(s->id | (s->ttl ? TTL_BIT : 0));
}

static int grow(uint8_t **buf, size_t *cap, size_t need)
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
static int rocks_err(weir_keyed_backend *be, char *msg)
{
    state_err(be, -EIO, "operator %s subtask %d: rocksdb: %s", be->uid, be->subtask, msg);
    free(msg);
    return -EIO;
}

/* The key prefix of the current key in state s, in r->kbuf; returns its length. */
static inline size_t cur_key(struct rdb *r, const struct kstate *s)
{
    put_be16(r->kbuf + 2, sid_of(s));
    return KEY_PREFIX;
}

static size_t cur_map_key(struct rdb *r, const struct kstate *s, const void *ukey)
{
    put_be16(r->kbuf + 2, sid_of(s));
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

static int mkdirs(char *path)
{
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        int rc = mkdir(path, 0755);
        *p = '/';
        if (rc < 0 && errno != EEXIST)
            return -errno;
    }
    if (mkdir(path, 0755) < 0 && errno != EEXIST)
        return -errno;
    struct stat st;
    if (stat(path, &st) < 0)
        return -errno;
    if (!S_ISDIR(st.st_mode))
        return -ENOTDIR;
    if (access(path, W_OK | X_OK) < 0)
        return -errno;
    return 0;
}

static int rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    return type == FTW_DP ? rmdir(path) : unlink(path);
}

static void rm_rf(const char *path)
{
    nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
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
    int64_t ts = get_ts(val);
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
            ts = get_ts(base);
    } else if (hdr) {
        n = 8;
    }
    for (int i = 0; i < nops; i++) {
        if (oplens[i] < hdr)
            continue;
        if (hdr) {
            int64_t ots = get_ts(ops[i]);
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
    char *job = sanitized(env->job);
    if (!job || asprintf(&env->jobdir, "%s/%s", env->localdir, job) < 0) {
        free(job);
        env->jobdir = NULL;
        return -ENOMEM;
    }
    free(job);
    char *dir = strdup(env->localdir);
    if (!dir)
        return -ENOMEM;
    int rc = mkdirs(dir);
    free(dir);
    if (rc == 0) {
        dir = strdup(env->jobdir);
        if (!dir)
            return -ENOMEM;
        rc = mkdirs(dir);
        free(dir);
        if (rc < 0) {
            snprintf(err, errlen, "state.backend.rocksdb.localdir: %s: %s", env->jobdir,
                     strerror(-rc));
            return rc;
        }
    } else {
        snprintf(err, errlen, "state.backend.rocksdb.localdir: %s: %s", env->localdir,
                 strerror(-rc));
        return rc;
    }

    rocksdb_options_t *base = rocksdb_options_create();
    if (!base)
        return -ENOMEM;
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
        if (msg) {
            snprintf(err, errlen, "state.backend: rocksdb: options \"%s\": %s", spec, msg);
            free(msg);
            rocksdb_options_destroy(o);
            return -EINVAL;
        }
        base = o;
    }
    env->base_opts = base;
    return 0;
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

int rdb_backend_open(weir_keyed_backend *be, char *err, size_t errlen)
{
    weir_state_env *env = be->env;
    int rc = -ENOMEM;
    struct rdb *r = calloc(1, sizeof *r);
    char *uid = sanitized(be->uid);
    if (!r || !uid)
        goto err;
    r->be = be;
    if (asprintf(&r->dir, "%s/%s-%d", env->jobdir, uid, be->subtask) < 0) {
        r->dir = NULL;
        goto err;
    }
    if (grow(&r->kbuf, &r->kcap, KEY_PREFIX + 64) < 0 || grow(&r->vbuf, &r->vcap, 256) < 0 ||
        grow(&r->obuf, &r->ocap, 256) < 0)
        goto err;
    /* Working state of a run that did not close it is of no use to anyone: start clean. */
    rm_rf(r->dir);
    rc = mkdirs(r->dir);
    if (rc < 0) {
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
    if (r) {
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
    free(uid);
    return rc;
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
    if (r->batch)
        rocksdb_writebatch_destroy(r->batch);
    rocksdb_close(r->db);
    rocksdb_options_destroy(r->opts);
    rocksdb_compactionfilter_destroy(r->filter);
    rocksdb_writeoptions_destroy(r->wo);
    rocksdb_readoptions_destroy(r->ro);
    rm_rf(r->dir);
    free(r->dir);
    free(r->kbuf);
    free(r->vbuf);
    free(r->obuf);
    free(r);
    be->rdb = NULL;
}

void rdb_state_init(struct kstate *s)
{
    struct rdb *r = s->be->rdb;
    atomic_store_explicit(&r->ttl_ms[s->id], s->ttl ? s->ttl_ms : 0, memory_order_relaxed);
    if (grow(&r->kbuf, &r->kcap, KEY_PREFIX + s->key_size) < 0)
        state_err(s->be, -ENOMEM, "operator %s: out of memory", s->be->uid);
}

void rdb_set_current_key(weir_keyed_backend *be)
{
    struct rdb *r = be->rdb;
    put_be16(r->kbuf, (uint16_t)be->kg);
    put_be64(r->kbuf + 4, be->key);
    put_be64(r->kbuf + 12, be->ns);
}

void rdb_set_namespace(weir_keyed_backend *be)
{
    put_be64(be->rdb->kbuf + 12, be->ns);
}

/* ---- point operations ------------------------------------------------------------------- */

static int put_raw(struct rdb *r, const uint8_t *k, size_t klen, const void *v, size_t vlen)
{
    char *msg = NULL;
    rocksdb_put(r->db, r->wo, (const char *)k, klen, v, vlen, &msg);
    return msg ? rocks_err(r->be, msg) : 0;
}

static int del_raw(struct rdb *r, const uint8_t *k, size_t klen)
{
    char *msg = NULL;
    rocksdb_delete(r->db, r->wo, (const char *)k, klen, &msg);
    return msg ? rocks_err(r->be, msg) : 0;
}

/* [ts][payload] (or just payload) in r->vbuf for key k of state s. */
static int put_value(struct rdb *r, const struct kstate *s, const uint8_t *k, size_t klen,
                     const void *payload, size_t len)
{
    if (!s->ttl)
        return put_raw(r, k, klen, payload, len);
    if (grow(&r->vbuf, &r->vcap, len + 8) < 0)
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
        return rocks_err(s->be, msg);
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
        if (state_expired(s, get_ts(v), now)) {
            rocksdb_pinnableslice_destroy(ps);
            return del_raw(r, k, klen);
        }
    }
    if (grow(&r->obuf, &r->ocap, vlen) < 0) {
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
    return msg ? rocks_err(r->be, msg) : 0;
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
        if (grow(&r->vbuf, &r->vcap, s->value_size + 8) < 0)
            return state_err(s->be, -ENOMEM, "operator %s: out of memory", s->be->uid);
        int64_t now = state_now(s->be);
        memcpy(r->vbuf, &now, 8);
        memcpy(r->vbuf + 8, elem, s->value_size);
        op = r->vbuf;
        oplen += 8;
    }
    char *msg = NULL;
    rocksdb_merge(r->db, r->wo, (const char *)r->kbuf, klen, op, oplen, &msg);
    return msg ? rocks_err(s->be, msg) : 0;
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
static int scan(struct rdb *r, const uint8_t *prefix, size_t plen,
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
        return rocks_err(r->be, msg);
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
    if (s->ttl && state_expired(s, get_ts(v), w->now))
        return 0;
    w->any = true;
    if (!w->fn)
        return 1;
    uint32_t koff = (s->key_size + 15u) & ~15u;
    memcpy(w->buf, k + KEY_PREFIX, s->key_size);
    memcpy(w->buf + koff, v + hdr, s->value_size);
    if (s->ttl && s->update_on_read) {
        if (grow(&w->refresh, &w->caprefresh, w->nrefresh + s->key_size) == 0) {
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
    int rc = scan(r, prefix, KEY_PREFIX, map_walk_one, &w);
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
    scan(r, prefix, KEY_PREFIX, map_walk_one, &w);
    return !w.any;
}

/* ---- snapshot, restore, cleanup, stats -------------------------------------------------- */

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
    int64_t ts = s->ttl ? get_ts(v) : 0;
    if (state_expired(s, ts, w->now) || vl == hdr)
        return 0;
    return w->emit(w->arg, s, get_be64(k + 4), get_be64(k + 12),
                   s->kind == KIND_MAP ? k + KEY_PREFIX : NULL, ts, v + hdr, vl - hdr);
}

int rdb_snapshot_kg(weir_keyed_backend *be, uint32_t kg, state_emit_fn emit, void *arg)
{
    uint8_t prefix[2];
    put_be16(prefix, (uint16_t)kg);
    struct snap_walk w = {.be = be, .emit = emit, .arg = arg, .now = state_now(be)};
    return scan(be->rdb, prefix, 2, snap_one, &w);
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
    return msg ? rocks_err(r->be, msg) : 0;
}

int rdb_restore_entry(struct kstate *s, uint32_t kg, uint64_t key, uint64_t ns, const void *ukey,
                      int64_t ts, const void *payload, size_t len)
{
    struct rdb *r = s->be->rdb;
    uint8_t k[KEY_PREFIX + 1024];
    put_be16(k, (uint16_t)kg);
    put_be16(k + 2, sid_of(s));
    put_be64(k + 4, key);
    put_be64(k + 12, ns);
    size_t klen = KEY_PREFIX;
    if (s->kind == KIND_MAP) {
        memcpy(k + KEY_PREFIX, ukey, s->key_size);
        klen += s->key_size;
    }
    if (s->ttl) {
        if (grow(&r->vbuf, &r->vcap, len + 8) < 0)
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
    return msg ? rocks_err(be, msg) : 0;
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
    scan(r, none, 0, count_one, &st->entries);
    rocksdb_property_int(r->db, "rocksdb.cur-size-all-mem-tables", &st->memtable_bytes);
    rocksdb_property_int(r->db, "rocksdb.block-cache-usage", &st->block_cache_bytes);
    rocksdb_property_int(r->db, "rocksdb.block-cache-capacity", &st->block_cache_capacity);
    rocksdb_property_int(r->db, "rocksdb.total-sst-files-size", &st->sst_bytes);
    pthread_mutex_lock(&be->env->lock);
    st->write_buffer_size = r->write_buffer_size;
    pthread_mutex_unlock(&be->env->lock);
}

/* ---- for incremental checkpoints (core/src/checkpoint_rocksdb.c) ------------------------ */

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
