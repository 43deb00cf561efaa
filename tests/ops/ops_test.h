/*
 * What the operator tests share: a scripted source (records with given
 * timestamps, watermarks, pauses), sinks that collect into arrays, a runner
 * that sets the state backend, and exact comparison of what came out.
 *
 * Every operator test runs once per backend: cmocka's prestate carries the
 * backend name ("hashmap" or "rocksdb"), see BOTH().
 */
#ifndef OPS_TEST_H
#define OPS_TEST_H

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <weir/config.h>
#include <weir/operator.h>
#include <weir/weir.h>
#include <weir/windows.h>

#define BOTH(f)                                                                                    \
    cmocka_unit_test_prestate(f, (void *)"hashmap"), cmocka_unit_test_prestate(f, (void *)"rocksd" \
                                                                                          "b")

/* The payload of every test record. */
struct trec {
    uint64_t key;
    int64_t value;
    uint64_t id;
    uint32_t side; /* 0: stream a, 1: stream b (joins) */
    uint32_t pad;
};

enum ev_kind { EV_DATA, EV_WM, EV_SLEEP, EV_WAIT };

/* One step of a scripted source. */
struct ev {
    enum ev_kind kind;
    int64_t ts;    /* data: timestamp; wm: the watermark; sleep: ms; wait: count */
    struct trec r; /* data; wait: r.key = collector index */
};

/* D(ts, key, value, id): a record of stream a (the only stream of one-input
 * tests); DB: a record of stream b; W(wm): a watermark. */
#define D(ts_, key_, val_, id_)                                                                    \
    {                                                                                              \
        .kind = EV_DATA, .ts = (ts_), .r = {.key = (key_), .value = (val_), .id = (id_) }          \
    }
#define DB(ts_, key_, val_, id_)                                                                   \
    {                                                                                              \
        .kind = EV_DATA, .ts = (ts_), .r = {                                                       \
            .key = (key_),                                                                         \
            .value = (val_),                                                                       \
            .id = (id_),                                                                           \
            .side = 1                                                                              \
        }                                                                                          \
    }
#define W(ts_)                                                                                     \
    {                                                                                              \
        .kind = EV_WM, .ts = (ts_)                                                                 \
    }
#define SLEEP(ms_)                                                                                 \
    {                                                                                              \
        .kind = EV_SLEEP, .ts = (ms_)                                                              \
    }
/* Waits until collector c holds at least n records: an operator has acted on
 * everything before (e.g. fired a window on a watermark) — for tests whose
 * outcome would otherwise depend on when a second input's watermark arrives. */
#define WAIT(c_, n_)                                                                               \
    {                                                                                              \
        .kind = EV_WAIT, .ts = (n_), .r = {.key = (c_) }                                           \
    }

struct script {
    const struct ev *ev;
    size_t n;
};
#define SCRIPT(arr) ((struct script){.ev = (arr), .n = sizeof(arr) / sizeof((arr)[0])})

/* --- collectors ------------------------------------------------------------------- */

#define OUT_MAX 128
struct out {
    int64_t ts;
    uint32_t len;
    uint32_t pad;
    _Alignas(8) unsigned char data[OUT_MAX]; /* the payload, aligned as in a record */
};

struct coll {
    pthread_mutex_t lock;
    struct out *v;
    size_t n, cap;
};

#define N_COLL 12
static struct coll colls[N_COLL] __attribute__((unused));
static atomic_long late_count __attribute__((unused));
static atomic_long leftover_entries __attribute__((unused)); /* state left when the job ended */

static inline void colls_reset(void)
{
    for (int i = 0; i < N_COLL; i++) {
        free(colls[i].v);
        colls[i].v = NULL;
        colls[i].n = colls[i].cap = 0;
        pthread_mutex_init(&colls[i].lock, NULL);
    }
    atomic_store(&late_count, 0);
    atomic_store(&leftover_entries, 0);
}

static inline size_t coll_count(int c)
{
    pthread_mutex_lock(&colls[c].lock);
    size_t n = colls[c].n;
    pthread_mutex_unlock(&colls[c].lock);
    return n;
}

static inline int collect_process(weir_ctx *ctx, void *state, int input, const weir_rec *in,
                                  weir_emit *out)
{
    struct coll *c = weir_ctx_arg(ctx);
    if (in->len > OUT_MAX)
        return -EMSGSIZE;
    pthread_mutex_lock(&c->lock);
    if (c->n == c->cap) {
        size_t ncap = c->cap ? c->cap * 2 : 64;
        struct out *v = realloc(c->v, ncap * sizeof *v);
        if (!v) {
            pthread_mutex_unlock(&c->lock);
            return -ENOMEM;
        }
        c->v = v;
        c->cap = ncap;
    }
    struct out *o = &c->v[c->n++];
    memset(o, 0, sizeof *o);
    o->ts = in->ts;
    o->len = in->len;
    memcpy(o->data, in->data, in->len);
    pthread_mutex_unlock(&c->lock);
    return 0;
}

static const struct weir_operator_ops collect_ops
    __attribute__((unused)) = {.kind = "collect", .process = collect_process};

static inline void collect(weir_stream *s, const char *uid, int c)
{
    weir_sink(s, uid, &collect_ops, &colls[c]);
}

static inline int cmp_out(const void *a, const void *b)
{
    const struct out *x = a, *y = b;
    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    int r = memcmp(x->data, y->data, x->len);
    if (r)
        return r;
    return (x->ts > y->ts) - (x->ts < y->ts);
}

static inline void coll_sort(int c)
{
    qsort(colls[c].v, colls[c].n, sizeof(struct out), cmp_out);
}

/* --- the scripted source ----------------------------------------------------------- */

struct src_state {
    size_t pos;
    int64_t until_ms; /* end of a SLEEP in progress, 0 = none */
    int64_t wait_start_ms;
};

static inline int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline int script_poll(weir_ctx *ctx, void *state, weir_emit *out, uint32_t max,
                              uint32_t *emitted)
{
    struct src_state *s = state;
    const struct script *sc = weir_ctx_arg(ctx);
    *emitted = 0;
    while (s->pos < sc->n && *emitted < max) {
        const struct ev *e = &sc->ev[s->pos];
        int rc = 0;
        switch (e->kind) {
        case EV_DATA:
            rc = weir_emit_copy(out, e->ts, &e->r, sizeof e->r);
            ++*emitted;
            break;
        case EV_WM:
            rc = weir_emit_watermark(out, e->ts);
            break;
        case EV_SLEEP:
            if (!s->until_ms)
                s->until_ms = now_ms() + e->ts;
            if (now_ms() < s->until_ms)
                return WEIR_SOURCE_MORE;
            s->until_ms = 0;
            break;
        case EV_WAIT:
            if (!s->wait_start_ms)
                s->wait_start_ms = now_ms();
            if (coll_count((int)e->r.key) < (size_t)e->ts) {
                if (now_ms() - s->wait_start_ms > 20000) {
                    weir_ctx_fail(ctx,
                                  "script: waited 20 s for %" PRId64 " records in "
                                  "collector %" PRIu64,
                                  e->ts, e->r.key);
                    return -ETIMEDOUT;
                }
                return WEIR_SOURCE_MORE;
            }
            s->wait_start_ms = 0;
            break;
        }
        if (rc < 0)
            return rc;
        s->pos++;
    }
    return s->pos < sc->n ? WEIR_SOURCE_MORE : WEIR_SOURCE_DONE;
}

static const struct weir_source_ops script_ops __attribute__((unused)) = {
    .kind = "script", .state_size = sizeof(struct src_state), .poll = script_poll};

static inline weir_stream *script_source(weir_job *job, const char *uid, const struct script *sc)
{
    /* One subtask: each key's records and the watermarks reach their keyed
     * subtask in script order, whatever the operator's parallelism. */
    return weir_set_parallelism(weir_source(job, uid, &script_ops, (void *)sc), 1);
}

static inline uint64_t key_of(const weir_rec *r)
{
    return ((const struct trec *)(const void *)r->data)->key;
}

static inline int64_t value_of(const weir_rec *r)
{
    return ((const struct trec *)(const void *)r->data)->value;
}

static inline const struct trec *trec_of(const weir_rec *r)
{
    return (const struct trec *)(const void *)r->data;
}

/* The trec payload of record i of collector c. */
static inline const struct trec *out_trec(int c, size_t i)
{
    return (const struct trec *)(const void *)colls[c].v[i].data;
}

static inline int is_side_a(weir_ctx *ctx, const weir_rec *in)
{
    return trec_of(in)->side == 0;
}

static inline int is_side_b(weir_ctx *ctx, const weir_rec *in)
{
    return trec_of(in)->side == 1;
}

/* Splits a scripted stream into its a and b records, keyed, in one subtask
 * (so that per key the order of records and watermarks is the script's). */
static inline void split_keyed(weir_stream *src, weir_stream **a, weir_stream **b)
{
    *a = weir_key_by(weir_set_parallelism(weir_filter(src, "side-a", is_side_a), 1), key_of);
    *b = weir_key_by(weir_set_parallelism(weir_filter(src, "side-b", is_side_b), 1), key_of);
}

/* --- late records are counted: weir_ctx_count_late, wrapped ------------------------- */

/* The ops tests link with --wrap for these two (tests/CMakeLists.txt): the engine's calls
 * come here, which count, then call the engine's function. */
void __real_weir_ctx_count_late(weir_ctx *ctx);
void __wrap_weir_ctx_count_late(weir_ctx *ctx)
{
    atomic_fetch_add(&late_count, 1);
    __real_weir_ctx_count_late(ctx);
}

/* State left behind: the runtime closes each keyed backend when the job ends,
 * after the final watermark fired every timer; the entries still stored then
 * are state an operator never cleaned up. Wrapped like the above. */
void __real_weir_keyed_backend_close(weir_keyed_backend *be);
void __wrap_weir_keyed_backend_close(weir_keyed_backend *be)
{
    struct weir_keyed_backend_stats st;
    if (be && weir_keyed_backend_stats_get(be, &st) == 0)
        atomic_fetch_add(&leftover_entries, (long)st.entries);
    __real_weir_keyed_backend_close(be);
}

/* --- running ------------------------------------------------------------------------- */

static inline void run_job_ex(weir_job *job, const char *backend, int p, const char *const *defs)
{
    assert_null(weir_job_error(job));
    static atomic_int seq;
    char err[512], dir[512];
    const char *tmp = getenv("WEIR_TEST_TMP");
    if (!tmp || !*tmp)
        tmp = "/tmp";
    mkdir(tmp, 0755);
    snprintf(dir, sizeof dir, "%s/ops", tmp);
    mkdir(dir, 0755);
    snprintf(dir, sizeof dir, "%s/ops/%d-%d", tmp, (int)getpid(), atomic_fetch_add(&seq, 1));
    mkdir(dir, 0755);
    weir_config *cfg = weir_config_new();
    assert_non_null(cfg);
    if (weir_config_set(cfg, "metrics.reporter.prom.port", "0", err, sizeof err) ||
        weir_config_set(cfg, "state.backend", backend, err, sizeof err) ||
        weir_config_set(cfg, "state.backend.rocksdb.localdir", dir, err, sizeof err))
        fail_msg("%s", err);
    for (; defs && *defs; defs++)
        if (weir_config_set_kv(cfg, *defs, err, sizeof err))
            fail_msg("%s", err);
    if (weir_config_resolve(cfg, err, sizeof err))
        fail_msg("%s", err);
    struct weir_run_opts o = {.parallelism = p, .quiet = true};
    struct weir_run_stats st;
    int rc = weir_job_run(job, cfg, &o, &st, err, sizeof err);
    weir_config_free(cfg);
    rmdir(dir); /* the backend removed its instances; only when empty */
    if (rc != 0)
        fail_msg("job %s on %s, parallelism %d: %s", weir_job_name(job), backend, p, err);
}

static inline void run_job(weir_job *job, const char *backend, int p)
{
    run_job_ex(job, backend, p, NULL);
}

/* Like run_job but the job must fail; returns the error line. */
static inline void run_job_expect_fail(weir_job *job, const char *backend, char *err, size_t errlen)
{
    weir_config *cfg = weir_config_new();
    char e[512];
    assert_non_null(cfg);
    assert_int_equal(weir_config_set(cfg, "metrics.reporter.prom.port", "0", e, sizeof e), 0);
    assert_int_equal(weir_config_set(cfg, "state.backend", backend, e, sizeof e), 0);
    assert_int_equal(weir_config_resolve(cfg, e, sizeof e), 0);
    struct weir_run_opts o = {.parallelism = 1, .quiet = true};
    struct weir_run_stats st;
    int rc = weir_job_run(job, cfg, &o, &st, err, errlen);
    weir_config_free(cfg);
    assert_true(rc < 0);
}

#endif
