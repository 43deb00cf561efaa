/*
 * Helpers shared by the keyed-state tests: a resolved config for a backend, an env and a
 * backend over a key-group range, a memory snapshot sink/source, and the table that runs
 * every test once per backend ("hashmap: name", "rocksdb: name").
 *
 * RocksDB directories go under a scratch directory of tests/support, removed at exit.
 */
#ifndef WEIR_STATE_TEST_H
#define WEIR_STATE_TEST_H

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>

#include <weir/config.h>
#include <weir/keygroup.h>
#include <weir/state.h>
#include <weir/state_backend.h>

#include "weir_test.h"

#define MAXP 128u

/* The scratch directory of this program's RocksDB instances (removed at exit). */
static inline const char *test_dir(void)
{
    static const char *dir;
    if (!dir)
        dir = wt_tmp_dir("state");
    return dir;
}

/* A resolved config for backend, with extra -D settings (NULL-terminated). */
static inline weir_config *config_for(const char *backend, ...)
{
    weir_config *c = wt_config_new(NULL);
    wt_config_set(c, "state.backend=%s", backend);
    wt_config_set(c, "state.backend.rocksdb.localdir=%s", test_dir());
    va_list ap;
    va_start(ap, backend);
    for (const char *s; (s = va_arg(ap, const char *));)
        wt_config_set(c, "%s", s);
    va_end(ap);
    weir_config_set_machine_limit_for_test(c, 1ull << 40);
    wt_config_resolve(c);
    return c;
}

static inline weir_state_env *env_for(const weir_config *c, const char *job)
{
    char err[512] = "";
    weir_state_env *env = NULL;
    if (weir_state_env_new(c, job, &env, err, sizeof err) < 0)
        fail_msg("%s", err);
    return env;
}

static inline weir_keyed_backend *backend_for(weir_state_env *env, const char *uid, int subtask,
                                              uint32_t first, uint32_t last)
{
    char err[512] = "";
    weir_keyed_backend *be = NULL;
    if (weir_keyed_backend_open(env, uid, subtask, first, last, MAXP, -1, &be, err, sizeof err) < 0)
        fail_msg("%s", err);
    weir_keyed_backend_set_time(be, 1000000);
    return be;
}

/* Sets the current key (its key group from Flink's formula). */
static inline void at(weir_keyed_backend *be, uint64_t key)
{
    weir_keyed_backend_set_current_key(be, key, weir_key_group_of(key, MAXP));
}

/* The fixture of a test that runs on one backend over all key groups. */
struct fx {
    const char *backend;
    weir_config *cfg;
    weir_state_env *env;
    weir_keyed_backend *be;
};

static inline int fx_setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    f->backend = *state;
    f->cfg = config_for(f->backend, NULL);
    f->env = env_for(f->cfg, "test");
    f->be = backend_for(f->env, "op", 0, 0, MAXP - 1);
    *state = f;
    return 0;
}

static inline int fx_teardown(void **state)
{
    struct fx *f = *state;
    weir_keyed_backend_close(f->be);
    weir_state_env_free(f->env);
    weir_config_free(f->cfg);
    free(f);
    return 0;
}

/* Every test twice: once on each backend. */
#define BOTH(fn)                                                                                   \
    {"hashmap: " #fn, fn, fx_setup, fx_teardown, (void *)"hashmap"},                               \
    {                                                                                              \
        "rocksdb: " #fn, fn, fx_setup, fx_teardown, (void *)"rocksdb"                              \
    }

/* ---- snapshots in memory ---------------------------------------------------------------- */

struct membuf {
    uint8_t *data;
    size_t len, cap, pos;
    size_t limit; /* reads stop here (truncation); SIZE_MAX: none */
    size_t reads; /* read calls, counted */
};

static int mem_write(struct weir_snapshot_out *o, const void *buf, size_t len)
{
    struct membuf *m = o->arg;
    if (m->len + len > m->cap) {
        size_t c = m->cap ? m->cap : 4096;
        while (c < m->len + len)
            c *= 2;
        m->data = realloc(m->data, c);
        assert_non_null(m->data);
        m->cap = c;
    }
    memcpy(m->data + m->len, buf, len);
    m->len += len;
    return 0;
}

static int mem_read(struct weir_snapshot_in *in, void *buf, size_t len)
{
    struct membuf *m = in->arg;
    size_t end = m->limit < m->len ? m->limit : m->len;
    m->reads++;
    if (m->pos == end)
        return -ENODATA;
    if (m->pos + len > end) {
        m->pos = end;
        return -EIO;
    }
    memcpy(buf, m->data + m->pos, len);
    m->pos += len;
    return 0;
}

static inline struct weir_snapshot_out mem_out(struct membuf *m)
{
    return (struct weir_snapshot_out){.write = mem_write, .arg = m};
}

static inline struct weir_snapshot_in mem_in(struct membuf *m)
{
    m->pos = 0;
    m->reads = 0;
    return (struct weir_snapshot_in){.read = mem_read, .arg = m};
}

static uint64_t mem_remaining(struct weir_snapshot_in *in)
{
    struct membuf *m = in->arg;
    size_t end = m->limit < m->len ? m->limit : m->len;
    return end - m->pos;
}

/* As a checkpoint's section is read: the source says how many bytes are left. */
static inline struct weir_snapshot_in mem_in_sized(struct membuf *m)
{
    struct weir_snapshot_in in = mem_in(m);
    in.remaining = mem_remaining;
    return in;
}

/* Snapshots every key group of `from` in [first, last] into bufs[kg]. */
static inline void snapshot_all(weir_keyed_backend *from, struct membuf *bufs)
{
    uint32_t first, last;
    weir_keyed_backend_key_groups(from, &first, &last);
    for (uint32_t kg = first; kg <= last; kg++) {
        bufs[kg].limit = SIZE_MAX;
        struct weir_snapshot_out o = mem_out(&bufs[kg]);
        int rc = weir_keyed_backend_snapshot_key_group(from, kg, &o);
        if (rc < 0)
            fail_msg("snapshot kg %u: %s", kg, weir_keyed_backend_error(from));
    }
}

/* Restores bufs[kg] for every key group `to` owns, in one run, as restore.c does. */
static inline void restore_all(weir_keyed_backend *to, struct membuf *bufs)
{
    uint32_t first, last;
    weir_keyed_backend_key_groups(to, &first, &last);
    if (weir_keyed_backend_restore_run_begin(to) < 0)
        fail_msg("restore: %s", weir_keyed_backend_error(to));
    for (uint32_t kg = first; kg <= last; kg++) {
        struct weir_snapshot_in in = mem_in_sized(&bufs[kg]);
        int rc = weir_keyed_backend_restore_key_group(to, kg, &in);
        if (rc < 0)
            fail_msg("restore kg %u: %s", kg, weir_keyed_backend_error(to));
    }
    if (weir_keyed_backend_restore_run_end(to, true) < 0)
        fail_msg("restore: %s", weir_keyed_backend_error(to));
}

static inline void free_bufs(struct membuf *bufs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(bufs[i].data);
        bufs[i] = (struct membuf){0};
    }
}

#endif
