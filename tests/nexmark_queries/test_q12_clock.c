/*
 * q12 (bids per bidder per tumbling window of processing time) checked against exact
 * counts, with the processing-time clock in the test's hands (weir_run_opts.clock_ms).
 *
 * A source plays bids in phases. Before each phase it sets the clock; after it, the source
 * waits for a checkpoint whose barrier it sent behind the phase's bids to complete: the
 * barrier reaches the window operator after those bids on the one channel between them, so
 * by then every bid of the phase was given the phase's processing time. Only then does the
 * clock move on. At parallelism 1 the window, its sink and the source share one worker,
 * and a window fires (its timer is due once the clock reaches its end) in the pass that
 * reads the new time, so what the sink holds at each phase is decided too.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include <weir/config.h>
#include "nexmark.h"
#include "nexmark_queries.h"
#include <weir/weir.h>

#include "weir_test.h"

#define WINDOW_MS 1000
#define T0        1000000 /* the start of window 0, ms */
#define WAIT_MS   20000   /* the most a phase waits for its checkpoint */

static _Atomic int64_t clock_now;

static int64_t test_clock(void *arg)
{
    (void)arg;
    return atomic_load(&clock_now);
}

/* The rows the sink received, as CSV. */
static struct {
    pthread_mutex_t lock;
    const struct weir_nexmark_query *q;
    char rows[64][128];
    size_t n;
} sink = {.lock = PTHREAD_MUTEX_INITIALIZER};

static size_t sink_rows(void)
{
    pthread_mutex_lock(&sink.lock);
    size_t n = sink.n;
    pthread_mutex_unlock(&sink.lock);
    return n;
}

static int sink_process(weir_ctx *ctx, void *state, int input, const weir_rec *in, weir_emit *out)
{
    (void)ctx, (void)state, (void)input, (void)out;
    pthread_mutex_lock(&sink.lock);
    int rc = sink.n < 64 ? 0 : -ENOSPC;
    if (rc == 0 && in->len) {
        int n = sink.q->format(in, sink.rows[sink.n], sizeof sink.rows[0]);
        rc = n < 0 || (size_t)n >= sizeof sink.rows[0] ? -EMSGSIZE : 0;
        sink.n += rc == 0;
    }
    pthread_mutex_unlock(&sink.lock);
    return rc;
}

static const struct weir_operator_ops sink_ops = {.kind = "collect", .process = sink_process};

/* A phase: the clock, then these bids (bidder ids, 0-terminated). */
struct phase {
    int64_t clock_ms;
    int64_t bidders[8];
};

/* Window 0 [T0, T0+1000): bidder 1 three bids and one at its last millisecond, bidder 2
 * one. Window 1: bidder 2 two bids made exactly at its start (the boundary). Window 2: no
 * bids. Window 3: bidder 3 five bids. Then the clock passes every window's end. */
static const struct phase phases[] = {
    {T0 + 100, {1, 2, 1, 1}},
    {T0 + WINDOW_MS - 1, {1}},
    {T0 + WINDOW_MS, {2, 2}},
    {T0 + 2 * WINDOW_MS + 500, {0}},
    {T0 + 3 * WINDOW_MS + 200, {3, 3, 3, 3, 3}},
    {T0 + 10 * WINDOW_MS, {0}},
};
#define N_PHASES (sizeof phases / sizeof phases[0])

struct src {
    size_t phase, next;    /* the phase playing, and its next bid */
    bool sent;             /* every bid of the phase is emitted; waiting for its checkpoint */
    uint64_t barrier;      /* the first checkpoint taken after the phase's bids, 0: none yet */
    _Atomic uint64_t done; /* the latest completed checkpoint */
    int64_t wait_start;
};

static size_t rows_at[N_PHASES]; /* rows at the sink when phase i began */

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int emit_bid(weir_emit *out, int64_t bidder, uint64_t n)
{
    unsigned char buf[sizeof(struct weir_nexmark_event) + sizeof(struct weir_nexmark_bid) + 1];
    memset(buf, 0, sizeof buf);
    struct weir_nexmark_event *e = (void *)buf;
    struct weir_nexmark_bid *b = (void *)(e + 1);
    e->type = WEIR_NEXMARK_BID;
    e->event_number = n;
    b->auction = 1000;
    b->bidder = bidder;
    b->price = 100;
    b->date_time = n; /* event time plays no part in q12 */
    return weir_emit_copy(out, b->date_time, buf, sizeof buf);
}

static int src_open(weir_ctx *ctx, void *state, void *arg)
{
    (void)ctx, (void)state, (void)arg;
    return 0;
}

static int src_poll(weir_ctx *ctx, void *state, weir_emit *out, uint32_t max, uint32_t *emitted)
{
    struct src *s = state;
    *emitted = 0;
    if (s->phase == N_PHASES)
        return WEIR_SOURCE_DONE;
    const struct phase *ph = &phases[s->phase];
    if (!s->sent) {
        if (s->next == 0) {
            rows_at[s->phase] = sink_rows();
            atomic_store(&clock_now, ph->clock_ms);
            s->wait_start = mono_ms();
        }
        while (ph->bidders[s->next] && *emitted < max) {
            int rc = emit_bid(out, ph->bidders[s->next], 100 * s->phase + s->next);
            if (rc < 0)
                return rc;
            s->next++;
            (*emitted)++;
        }
        s->sent = ph->bidders[s->next] == 0;
        return WEIR_SOURCE_MORE;
    }
    /* The last phase waits for the windows it closes to fire instead. */
    bool last = s->phase + 1 == N_PHASES;
    if (last ? sink_rows() < 4 : !s->barrier || atomic_load(&s->done) < s->barrier) {
        if (mono_ms() - s->wait_start > WAIT_MS) {
            weir_ctx_fail(ctx, "phase %zu: waited %d ms", s->phase, WAIT_MS);
            return -ETIMEDOUT;
        }
        return WEIR_SOURCE_MORE;
    }
    s->phase++;
    s->next = 0;
    s->sent = false;
    s->barrier = 0;
    return WEIR_SOURCE_MORE;
}

/* The barrier of checkpoint id leaves the source now, behind whatever it emitted. */
static int src_snapshot(weir_ctx *ctx, void *state, uint64_t id, struct weir_snapshot_out *out)
{
    (void)ctx, (void)out;
    struct src *s = state;
    if (s->sent && !s->barrier)
        s->barrier = id;
    return 0;
}

static int src_complete(weir_ctx *ctx, void *state, uint64_t id)
{
    (void)ctx;
    struct src *s = state;
    if (id > atomic_load(&s->done))
        atomic_store(&s->done, id);
    return 0;
}

static const struct weir_source_ops src_ops = {
    .kind = "phases",
    .state_size = sizeof(struct src),
    .open = src_open,
    .poll = src_poll,
    .snapshot = src_snapshot,
    .checkpoint_complete = src_complete,
};

static int cmp_row(const void *a, const void *b)
{
    return strcmp(a, b);
}

static void run_q12(const char *backend)
{
    const struct weir_nexmark_query *q = weir_nexmark_query_find("q12");
    assert_non_null(q);
    sink.q = q;
    sink.n = 0;
    memset(rows_at, 0, sizeof rows_at);
    atomic_store(&clock_now, T0);
    const char *dir = wt_tmp_dir("q12-clock");
    char chk[600], rdb[600], b[64];
    snprintf(chk, sizeof chk, "state.checkpoints.dir=%s/chk", dir);
    snprintf(rdb, sizeof rdb, "state.backend.rocksdb.localdir=%s/rocksdb", dir);
    snprintf(b, sizeof b, "state.backend=%s", backend);
    const char *defs[] = {chk,
                          rdb,
                          b,
                          "execution.checkpointing.interval=10ms",
                          "execution.checkpointing.min-pause=0ms",
                          "metrics.reporter.prom.port=0",
                          "weir.progress=never",
                          NULL};
    weir_config *cfg = wt_config(defs);
    weir_job *job = weir_job_new("q12-clock");
    assert_non_null(job);
    struct weir_nexmark_opts g;
    weir_nexmark_opts_init(&g);
    struct weir_nexmark_query_params qp = {.gen = &g, .window_ms = WINDOW_MS};
    weir_stream *rows = q->build(weir_source(job, "phases", &src_ops, NULL), &qp);
    weir_sink(rows, "collect", &sink_ops, NULL);
    if (weir_job_error(job))
        fail_msg("%s", weir_job_error(job));
    char err[1024];
    struct weir_run_opts ro = {.parallelism = 1, .quiet = true, .clock_ms = test_clock};
    if (weir_job_run(job, cfg, &ro, NULL, err, sizeof err) < 0)
        fail_msg("q12 on %s: %s", backend, err);

    /* Each window fired once the clock reached its end, not before: rows at the sink as
     * each phase began (window 0's two at T0 + 1000, window 1's one at T0 + 2500). */
    static const size_t rows_want[N_PHASES] = {0, 0, 0, 2, 3, 3};
    for (size_t i = 0; i < N_PHASES; i++)
        if (rows_at[i] != rows_want[i])
            fail_msg("phase %zu began with %zu rows at the sink, not %zu", i, rows_at[i],
                     rows_want[i]);
    /* Exact counts; a window with no bids has no row. */
    static const char *want[] = {
        "1,4,1000000,1001000",
        "2,1,1000000,1001000",
        "2,2,1001000,1002000",
        "3,5,1003000,1004000",
    };
    qsort(sink.rows, sink.n, sizeof sink.rows[0], cmp_row);
    for (size_t i = 0; i < sink.n; i++)
        print_message("    row %s\n", sink.rows[i]);
    assert_int_equal(sink.n, 4);
    for (size_t i = 0; i < 4; i++)
        assert_string_equal(sink.rows[i], want[i]);
    weir_job_free(job);
    weir_config_free(cfg);
    wt_rm_tree(dir);
}

static void test_q12_counts_exactly_per_processing_time_window(void **state)
{
    (void)state;
    run_q12("hashmap");
}

static void test_q12_counts_exactly_on_rocksdb(void **state)
{
    (void)state;
    run_q12("rocksdb");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_q12_counts_exactly_per_processing_time_window),
        cmocka_unit_test(test_q12_counts_exactly_on_rocksdb),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
