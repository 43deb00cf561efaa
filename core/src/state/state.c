/*
 * Keyed state, the part both backends share: the environment (one per process run), opening
 * and closing a backend, the registry of states by name, dispatch of every state operation to
 * the hashmap (heap*.c) or RocksDB (rocksdb*.c) backend.
 *
 * Contract (state.h): a backend is used by one thread at a time; the runtime sets the current
 * key (and namespace) before each record or timer, and every state handle then works on that
 * key's entry. A key group outside the backend's range makes every operation refuse (-ERANGE,
 * NULL) with a message, rather than write an entry no snapshot of this subtask would carry.
 *
 * States of a backend (no assert_check_state: every transition is one assignment):
 *   NO KEY     after weir_keyed_backend_open: operations refuse, as for a foreign key group
 *   KEYED      after set_current_key with a key group in range: operations work on that key
 *   REFUSING   after set_current_key with a key group out of range: -ERANGE / NULL, with
 *              the message in weir_keyed_backend_error; the next in-range key leaves it
 *   (closed)   weir_keyed_backend_close frees everything; the RocksDB directory is removed
 * Snapshot and restore work in any of the first three; they do not change the current key.
 *
 * snapshot.c holds the snapshot of one key group: its format, the writer and the reader.
 */
#include "state_private.h"

#include <weir/errbuf.h>
#include <weir/config.h>
#include <weir/privdir.h>

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_VALUE_SIZE (1u << 20)

static const char *const kind_names[] = {"value", "list", "map", "reducing", "aggregating"};

/* ---- errors and time -------------------------------------------------------------------- */

/* Set by weir_keyed_backend_restore_key_group_scratch for the length of the call: a parallel
 * restore's threads each report into their own scratch, not into the shared be->err. */
static _Thread_local struct weir_restore_scratch *tl_scratch;

struct weir_restore_scratch *state_restore_scratch(void)
{
    return tl_scratch;
}

void state_restore_scratch_set(struct weir_restore_scratch *sc)
{
    tl_scratch = sc;
}

int state_err(weir_keyed_backend *be, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (tl_scratch)
        vsnprintf(tl_scratch->err, sizeof tl_scratch->err, fmt, ap);
    else
        vsnprintf(be->err, sizeof be->err, fmt, ap);
    va_end(ap);
    return rc;
}

void state_err_clear(weir_keyed_backend *be)
{
    if (tl_scratch)
        tl_scratch->err[0] = '\0';
    else
        be->err[0] = '\0';
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t state_now(const weir_keyed_backend *be)
{
    return atomic_load_explicit(&be->now_ms, memory_order_relaxed);
}

bool state_expired(const struct kstate *s, int64_t ts, int64_t now)
{
    if (!s->ttl || s->ttl_ms <= 0)
        return false;
    if (ts > INT64_MAX - s->ttl_ms)
        return false;
    return ts + s->ttl_ms <= now;
}

/* ---- environment ------------------------------------------------------------------------ */

int weir_state_env_new(const struct weir_config *cfg, const char *job_name, weir_state_env **out,
                       char *err, size_t errlen)
{
    int rc = -ENOMEM;
    *out = NULL;
    weir_state_env *env = calloc(1, sizeof *env);
    if (!env)
        return -ENOMEM;
    pthread_mutex_init(&env->lock, NULL);
    /* hashmap|rocksdb|filesystem|jobmanager: Flink's legacy names are heap backends. */
    env->kind = weir_config_get_enum(cfg, "state.backend") == 1 ? BACKEND_ROCKSDB : BACKEND_HASHMAP;
    env->job = strdup(job_name && *job_name ? job_name : "job");
    if (!env->job)
        goto err;
    const struct weir_memory_pools *pools = weir_config_pools(cfg);
    env->heap_limit = pools->task_heap;
    env->managed_bytes = pools->managed;
    env->managed = weir_config_get_bool(cfg, "state.backend.rocksdb.memory.managed");
    env->write_buffer_ratio =
        weir_config_get_double(cfg, "state.backend.rocksdb.memory.write-buffer-ratio");
    env->high_prio_ratio =
        weir_config_get_double(cfg, "state.backend.rocksdb.memory.high-prio-pool-ratio");

    if (env->kind == BACKEND_HASHMAP) {
        rc = heap_env_init(env);
        if (rc < 0) {
            errbuf_printf(err, errlen, "state.backend: hashmap: cannot set up memory arenas: %s",
                          strerror(-rc));
            goto err;
        }
    } else {
        const char *dir = weir_config_get_str(cfg, "state.backend.rocksdb.localdir");
        if (*dir) {
            env->localdir = strdup(dir);
        } else {
            char def[4096];
            if (privdir_default("state.backend.rocksdb.localdir", def, sizeof def) < 0) {
                errbuf_printf(err, errlen,
                              "state.backend.rocksdb.localdir: the default is too long: set it");
                rc = -ENAMETOOLONG;
                goto err;
            }
            env->localdir = strdup(def);
        }
        if (!env->localdir) {
            rc = -ENOMEM;
            goto err;
        }
        if (env->managed && env->managed_bytes == 0) {
            errbuf_printf(
                err, errlen,
                "state.backend: rocksdb: the managed pool is empty (memory.managed.size 0); "
                "raise memory.managed.fraction or memory.managed.size, or set "
                "state.backend.rocksdb.memory.managed: false");
            rc = -EINVAL;
            goto err;
        }
        if (env->managed && env->write_buffer_ratio <= 0) {
            errbuf_printf(err, errlen,
                          "state.backend.rocksdb.memory.write-buffer-ratio: 0: RocksDB needs some "
                          "memory for write buffers; use a ratio above 0, like 0.5");
            rc = -EINVAL;
            goto err;
        }
        rc = rdb_env_init(env, err, errlen);
        if (rc < 0)
            goto err;
    }
    *out = env;
    return 0;
err:
    weir_state_env_free(env);
    return rc;
}

void weir_state_env_free(weir_state_env *env)
{
    if (!env)
        return;
    if (env->kind == BACKEND_HASHMAP)
        heap_env_fini(env);
    else
        rdb_env_fini(env);
    pthread_mutex_destroy(&env->lock);
    free(env->localdir);
    free(env->jobdir);
    free(env->job);
    free(env);
}

const char *weir_state_env_backend_name(const weir_state_env *env)
{
    return env->kind == BACKEND_ROCKSDB ? "rocksdb" : "hashmap";
}

uint64_t weir_state_env_heap_bytes(const weir_state_env *env)
{
    return atomic_load_explicit(&env->heap_used, memory_order_relaxed);
}

/* ---- backends --------------------------------------------------------------------------- */

int weir_keyed_backend_open(weir_state_env *env, const char *operator_uid, int subtask,
                            uint32_t kg_first, uint32_t kg_last, uint32_t max_parallelism,
                            int numa_node, weir_keyed_backend **out, char *err, size_t errlen)
{
    int rc = -ENOMEM;
    *out = NULL;
    if (max_parallelism == 0 || max_parallelism > 32768 || kg_first > kg_last ||
        kg_last >= max_parallelism) {
        errbuf_printf(err, errlen,
                      "operator %s subtask %d: key groups [%u, %u] are not a range of "
                      "pipeline.max-parallelism %u",
                      operator_uid ? operator_uid : "?", subtask, kg_first, kg_last,
                      max_parallelism);
        return -EINVAL;
    }
    weir_keyed_backend *be = calloc(1, sizeof *be);
    if (!be)
        return -ENOMEM;
    be->env = env;
    be->kind = env->kind;
    be->uid = strdup(operator_uid && *operator_uid ? operator_uid : "operator");
    be->subtask = subtask;
    be->kg_first = kg_first;
    be->kg_last = kg_last;
    be->max_parallelism = max_parallelism;
    be->nkg = kg_last - kg_first + 1;
    be->numa_node = numa_node;
    be->states = calloc(STATE_MAX, sizeof *be->states);
    /* Until the owner sets the time (the runtime does at once, from its processing-time
     * clock, weir_run_opts.clock_ms), the wall clock. */
    atomic_store(&be->now_ms, wall_ms());
    if (!be->uid || !be->states) {
        errbuf_printf(err, errlen, "operator %s: out of memory opening keyed state", operator_uid);
        goto err;
    }
    /* No key yet: until the runtime sets one, operations refuse rather than use key 0. */
    be->kg = kg_first;
    be->kg_bad = true;
    rc = be->kind == BACKEND_HASHMAP ? heap_backend_open(be, err, errlen)
                                     : rdb_backend_open(be, err, errlen);
    if (rc < 0)
        goto err;
    pthread_mutex_lock(&env->lock);
    env->open_backends++;
    pthread_mutex_unlock(&env->lock);
    *out = be;
    return 0;
err:
    free(be->states);
    free(be->uid);
    free(be);
    return rc;
}

void weir_keyed_backend_close(weir_keyed_backend *be)
{
    if (!be)
        return;
    if (be->kind == BACKEND_ROCKSDB)
        rdb_views_quiesce(be); /* full snapshots being written off the worker */
    for (uint32_t i = 0; i < be->nstates; i++) {
        struct kstate *s = be->states[i];
        if (be->kind == BACKEND_HASHMAP)
            heap_state_free(s);
        free(s->name);
        free(s);
    }
    if (be->kind == BACKEND_HASHMAP)
        heap_backend_close(be);
    else
        rdb_backend_close(be);
    pthread_mutex_lock(&be->env->lock);
    be->env->open_backends--;
    pthread_mutex_unlock(&be->env->lock);
    free(be->states);
    free(be->restore_buf);
    free(be->uid);
    free(be);
}

void weir_keyed_backend_set_current_key(weir_keyed_backend *be, uint64_t key, uint32_t key_group)
{
    be->key = key;
    be->kg = key_group;
    be->kgi = key_group - be->kg_first;
    be->kg_bad = key_group < be->kg_first || key_group > be->kg_last;
    be->h = state_key_hash(key, be->ns);
    be->gen++;
    if (be->kind == BACKEND_ROCKSDB)
        rdb_set_current_key(be);
}

void weir_keyed_backend_prefetch(weir_keyed_backend *be, uint64_t key, uint32_t key_group)
{
    weir_keyed_backend_prefetch_ns(be, key, key_group, 0);
}

void weir_keyed_backend_prefetch_ns(weir_keyed_backend *be, uint64_t key, uint32_t key_group,
                                    uint64_t ns)
{
    if (be->kind == BACKEND_HASHMAP && key_group >= be->kg_first && key_group <= be->kg_last)
        heap_prefetch(be, state_key_hash(key, ns), key_group - be->kg_first);
}

uint64_t weir_keyed_backend_current_key(const weir_keyed_backend *be)
{
    return be->key;
}

void weir_keyed_backend_set_namespace(weir_keyed_backend *be, uint64_t ns)
{
    if (ns == be->ns)
        return;
    be->ns = ns;
    be->h = state_key_hash(be->key, ns);
    be->gen++;
    if (be->kind == BACKEND_ROCKSDB)
        rdb_set_namespace(be);
}

void weir_keyed_backend_set_time(weir_keyed_backend *be, int64_t now_ms)
{
    atomic_store_explicit(&be->now_ms, now_ms, memory_order_relaxed);
}

const char *weir_keyed_backend_error(const weir_keyed_backend *be)
{
    return be->err;
}

void weir_keyed_backend_key_groups(const weir_keyed_backend *be, uint32_t *first, uint32_t *last)
{
    *first = be->kg_first;
    *last = be->kg_last;
}

int weir_keyed_backend_cleanup(weir_keyed_backend *be)
{
    return be->kind == BACKEND_HASHMAP ? heap_cleanup(be) : rdb_cleanup(be);
}

int weir_keyed_backend_flush(weir_keyed_backend *be)
{
    return be->kind == BACKEND_HASHMAP ? 0 : rdb_flush(be);
}

int weir_keyed_backend_stats_get(weir_keyed_backend *be, struct weir_keyed_backend_stats *st)
{
    memset(st, 0, sizeof *st);
    if (be->kind == BACKEND_HASHMAP)
        heap_stats(be, st);
    else
        rdb_stats(be, st);
    st->state_calls = be->calls;
    return 0;
}

void weir_keyed_backend_gauges_get(weir_keyed_backend *be, struct weir_keyed_backend_gauges *g)
{
    memset(g, 0, sizeof *g);
    if (be->kind == BACKEND_HASHMAP)
        g->state_bytes = be->heap_bytes;
    else
        rdb_gauges(be, g);
}

/* ---- registry --------------------------------------------------------------------------- */

static struct kstate *find_state(weir_keyed_backend *be, const char *name)
{
    for (uint32_t i = 0; i < be->nstates; i++)
        if (strcmp(be->states[i]->name, name) == 0)
            return be->states[i];
    return NULL;
}

static void describe(const struct kstate *s, char *buf, size_t len)
{
    if (s->kind == KIND_MAP)
        snprintf(buf, len, "map of %u-byte keys to %u-byte values%s", s->key_size, s->value_size,
                 s->ttl ? " with TTL" : "");
    else
        snprintf(buf, len, "%s of %u-byte %s%s", kind_names[s->kind], s->value_size,
                 s->kind == KIND_LIST ? "elements" : "values", s->ttl ? " with TTL" : "");
}

/* The state named name, registered now if new. A state restored from a snapshot before any
 * operator declared it must match in kind, sizes and whether it has TTL (its entries are
 * stored with or without timestamps); the declaration then sets the TTL length and functions. */
struct kstate *state_declare(weir_keyed_backend *be, const char *name, enum state_kind kind,
                             uint32_t key_size, uint32_t value_size,
                             const struct weir_state_ttl *ttl, bool from_restore)
{
    bool has_ttl = ttl && ttl->ttl_ms > 0;
    if (!name || !*name || value_size == 0 || value_size > MAX_VALUE_SIZE ||
        (kind == KIND_MAP && (key_size == 0 || key_size > MAX_KEY_SIZE))) {
        state_err(be, -EINVAL, "operator %s: state \"%s\": bad name or size", be->uid,
                  name ? name : "");
        return NULL;
    }
    struct kstate *s = find_state(be, name);
    if (s) {
        if (s->kind != kind || s->key_size != key_size || s->value_size != value_size ||
            s->ttl != has_ttl) {
            char had[128], want[128];
            struct kstate tmp = {
                .kind = kind, .key_size = key_size, .value_size = value_size, .ttl = has_ttl};
            describe(s, had, sizeof had);
            describe(&tmp, want, sizeof want);
            if (from_restore && s->declared) /* an upgraded job: the snapshot has the old one */
                state_err(be, -EINVAL,
                          "operator %s: state \"%s\" is a %s in the snapshot, but the job "
                          "declares a %s",
                          be->uid, name, want, had);
            else
                state_err(be, -EINVAL, "operator %s: state \"%s\" is a %s%s, not a %s", be->uid,
                          name, had, s->declared ? "" : " in the snapshot", want);
            return NULL;
        }
        /* A job declares its states on every get: write only what changes, as a snapshot
         * thread may be reading these fields (copy-on-write views, state/heap_cow.c). */
        int64_t ttl_ms = has_ttl ? ttl->ttl_ms : 0;
        bool update_on_read = has_ttl && ttl->update_on_read;
        if (!from_restore &&
            (!s->declared || s->ttl_ms != ttl_ms || s->update_on_read != update_on_read)) {
            if (!s->declared)
                s->declared = true;
            if (s->ttl_ms != ttl_ms)
                s->ttl_ms = ttl_ms;
            if (s->update_on_read != update_on_read)
                s->update_on_read = update_on_read;
            if (be->kind == BACKEND_ROCKSDB)
                rdb_state_init(s); /* publishes the TTL to the compaction filter */
        }
        return s;
    }
    if (be->nstates >= STATE_MAX) {
        state_err(be, -ENOSPC, "operator %s: more than %d keyed states", be->uid, STATE_MAX);
        return NULL;
    }
    s = calloc(1, sizeof *s);
    if (!s || !(s->name = strdup(name))) {
        free(s);
        state_err(be, -ENOMEM, "operator %s: out of memory declaring state \"%s\"", be->uid, name);
        return NULL;
    }
    s->be = be;
    s->id = (uint16_t)be->nstates;
    s->kind = kind;
    s->declared = !from_restore;
    s->ttl = has_ttl;
    s->ttl_ms = has_ttl ? ttl->ttl_ms : 0;
    s->update_on_read = has_ttl && ttl->update_on_read;
    s->key_size = kind == KIND_MAP ? key_size : 0;
    s->value_size = value_size;
    s->c_gen = UINT64_MAX;
    if (be->kind == BACKEND_HASHMAP) {
        if (heap_state_init(s) < 0) {
            free(s->name);
            free(s);
            return NULL;
        }
    } else {
        rdb_state_init(s);
    }
    be->states[be->nstates++] = s;
    return s;
}

weir_value_state *weir_value_state_get(weir_keyed_backend *be, const char *name,
                                       uint32_t value_size, const struct weir_state_ttl *ttl)
{
    return (weir_value_state *)state_declare(be, name, KIND_VALUE, 0, value_size, ttl, false);
}

weir_list_state *weir_list_state_get(weir_keyed_backend *be, const char *name, uint32_t elem_size,
                                     const struct weir_state_ttl *ttl)
{
    return (weir_list_state *)state_declare(be, name, KIND_LIST, 0, elem_size, ttl, false);
}

weir_map_state *weir_map_state_get(weir_keyed_backend *be, const char *name, uint32_t key_size,
                                   uint32_t value_size, const struct weir_state_ttl *ttl)
{
    return (weir_map_state *)state_declare(be, name, KIND_MAP, key_size, value_size, ttl, false);
}

weir_reducing_state *weir_reducing_state_get(weir_keyed_backend *be, const char *name,
                                             uint32_t value_size, weir_reduce_fn reduce,
                                             const struct weir_state_ttl *ttl)
{
    if (!reduce) {
        state_err(be, -EINVAL, "operator %s: reducing state \"%s\" needs a reduce function",
                  be->uid, name ? name : "");
        return NULL;
    }
    struct kstate *s = state_declare(be, name, KIND_REDUCING, 0, value_size, ttl, false);
    if (s)
        s->reduce = reduce;
    return (weir_reducing_state *)s;
}

weir_aggregating_state *weir_aggregating_state_get(weir_keyed_backend *be, const char *name,
                                                   const struct weir_aggregate_fn *fn,
                                                   const struct weir_state_ttl *ttl)
{
    if (!fn || !fn->init || !fn->add || !fn->result || fn->acc_size == 0) {
        state_err(be, -EINVAL,
                  "operator %s: aggregating state \"%s\" needs acc_size, init, add and result",
                  be->uid, name ? name : "");
        return NULL;
    }
    struct kstate *s = state_declare(be, name, KIND_AGGREGATING, 0, fn->acc_size, ttl, false);
    if (s)
        s->agg = *fn;
    return (weir_aggregating_state *)s;
}

bool weir_keyed_backend_state_declared(const weir_keyed_backend *be, uint32_t id)
{
    return id < be->nstates && be->states[id]->declared;
}

int weir_keyed_backend_state_drop(weir_keyed_backend *be, uint32_t id)
{
    if (id >= be->nstates)
        return -ERANGE;
    struct kstate *s = be->states[id];
    if (be->kind == BACKEND_ROCKSDB)
        return rdb_drop_state(s);
    for (uint32_t kgi = 0; kgi < be->nkg; kgi++) {
        int rc = heap_restore_remove(s, kgi, 0, 0, true);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* ---- dispatch --------------------------------------------------------------------------- */

static int __attribute__((noinline)) key_refused(weir_keyed_backend *be)
{
    return state_err(be, -ERANGE,
                     "operator %s subtask %d: key group %u is outside this subtask's range "
                     "[%u, %u] (or no current key was set)",
                     be->uid, be->subtask, be->kg, be->kg_first, be->kg_last);
}

/* Every state call of an operator passes here: counted (a plain increment, the backend is its
 * worker's), then refused when the current key is outside the subtask's key groups. */
#define REFUSE_BAD_KEY(be, ret)                                                                    \
    do {                                                                                           \
        (be)->calls++;                                                                             \
        if (__builtin_expect((be)->kg_bad, 0)) {                                                   \
            key_refused(be);                                                                       \
            return ret;                                                                            \
        }                                                                                          \
    } while (0)

#define HEAP(be) ((be)->kind == BACKEND_HASHMAP)

const void *weir_value_get(weir_value_state *h)
{
    struct kstate *s = KS(h);
    REFUSE_BAD_KEY(s->be, NULL);
    return HEAP(s->be) ? heap_value_get(s) : rdb_value_get(s);
}

int weir_value_put(weir_value_state *h, const void *value)
{
    struct kstate *s = KS(h);
    REFUSE_BAD_KEY(s->be, -ERANGE);
    return HEAP(s->be) ? heap_value_put(s, value) : rdb_value_put(s, value);
}

static int clear_any(struct kstate *s)
{
    REFUSE_BAD_KEY(s->be, -ERANGE);
    return HEAP(s->be) ? heap_clear(s) : rdb_clear(s);
}

int weir_value_clear(weir_value_state *h)
{
    return clear_any(KS(h));
}

int weir_list_add(weir_list_state *h, const void *elem)
{
    struct kstate *s = KS(h);
    REFUSE_BAD_KEY(s->be, -ERANGE);
    return HEAP(s->be) ? heap_list_add(s, elem) : rdb_list_add(s, elem);
}

int weir_list_get(weir_list_state *h, const void **elems, uint32_t *n)
{
    struct kstate *s = KS(h);
    *elems = NULL;
    *n = 0;
    REFUSE_BAD_KEY(s->be, -ERANGE);
    return HEAP(s->be) ? heap_list_get(s, elems, n) : rdb_list_get(s, elems, n);
}

int weir_list_update(weir_list_state *h, const void *elems, uint32_t n)
{
    struct kstate *s = KS(h);
    REFUSE_BAD_KEY(s->be, -ERANGE);
    if (n == 0)
        return clear_any(s);
    return HEAP(s->be) ? heap_list_update(s, elems, n) : rdb_list_update(s, elems, n);
}

int weir_list_clear(weir_list_state *h)
{
    return clear_any(KS(h));
}

const void *weir_map_get(weir_map_state *h, const void *ukey)
{
    struct kstate *s = KS(h);
    REFUSE_BAD_KEY(s->be, NULL);
    return HEAP(s->be) ? heap_map_get(s, ukey) : rdb_map_get(s, ukey);
}

int weir_map_put(weir_map_state *h, const void *ukey, const void *value)
{
    struct kstate *s = KS(h);
    REFUSE_BAD_KEY(s->be, -ERANGE);
    return HEAP(s->be) ? heap_map_put(s, ukey, value) : rdb_map_put(s, ukey, value);
}

int weir_map_remove(weir_map_state *h, const void *ukey)
{
    struct kstate *s = KS(h);
    REFUSE_BAD_KEY(s->be, -ERANGE);
    return HEAP(s->be) ? heap_map_remove(s, ukey) : rdb_map_remove(s, ukey);
}

int weir_map_iterate(weir_map_state *h, int (*fn)(void *arg, const void *ukey, const void *value),
                     void *arg)
{
    struct kstate *s = KS(h);
    REFUSE_BAD_KEY(s->be, -ERANGE);
    return HEAP(s->be) ? heap_map_iterate(s, fn, arg) : rdb_map_iterate(s, fn, arg);
}

bool weir_map_is_empty(weir_map_state *h)
{
    struct kstate *s = KS(h);
    REFUSE_BAD_KEY(s->be, true);
    return HEAP(s->be) ? heap_map_is_empty(s) : rdb_map_is_empty(s);
}

int weir_map_clear(weir_map_state *h)
{
    return clear_any(KS(h));
}

int weir_reducing_add(weir_reducing_state *h, const void *in)
{
    struct kstate *s = KS(h);
    REFUSE_BAD_KEY(s->be, -ERANGE);
    return HEAP(s->be) ? heap_reduce(s, in) : rdb_reduce(s, in);
}

const void *weir_reducing_get(weir_reducing_state *h)
{
    return weir_value_get((weir_value_state *)h);
}

int weir_reducing_clear(weir_reducing_state *h)
{
    return clear_any(KS(h));
}

int weir_aggregating_add(weir_aggregating_state *h, const void *in)
{
    struct kstate *s = KS(h);
    REFUSE_BAD_KEY(s->be, -ERANGE);
    return HEAP(s->be) ? heap_reduce(s, in) : rdb_reduce(s, in);
}

int weir_aggregating_get(weir_aggregating_state *h, void *out)
{
    struct kstate *s = KS(h);
    REFUSE_BAD_KEY(s->be, -ERANGE);
    const void *acc = HEAP(s->be) ? heap_value_get(s) : rdb_value_get(s);
    if (!acc)
        return 1;
    s->agg.result(acc, out);
    return 0;
}

int weir_aggregating_clear(weir_aggregating_state *h)
{
    return clear_any(KS(h));
}
