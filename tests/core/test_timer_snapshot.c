/*
 * Timers in heap snapshots. The synchronous part of a hashmap snapshot does not grow with the
 * timers: a keyed job holding 1 M event-time timers, checkpointed every 100 ms, stops its
 * worker for well under 50 ms per snapshot (the run's sync_ms_max, measured by the engine):
 * 0.16 ms here once timers are pinned like the keyed tables. Copying and sorting them on the
 * worker (the code before) stopped it for 306 ms (p50) to 482 ms (max) per snapshot. And the timers
 * a checkpoint holds are the ones of its pin, however the worker changes them while the snapshot is
 * written: a job restored from it fires each key's pending timer once, at its time, in time order.
 */
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
#include <unistd.h>

#include <weir/config.h>
#include <weir/weir.h>

#include "weir_test.h"

/* Under ASan or TSan the same job takes ten times as long: a twentieth of the timers, for
 * the memory and thread checks only (no bound on the pause). */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED true
#else
#define SANITIZED false
#endif

#define FAR           1000000000000000ll /* event time no watermark reaches before the end */
#define SYNC_BOUND_MS 50.0               /* generous: 2 shared cores */

static const struct weir_datagen_rec *gen_rec(const weir_rec *r)
{
    return (const struct weir_datagen_rec *)r->data;
}

/* ---- 1 M timers: the worker's stall per snapshot ----------------------------------------- */

#define TIMER_KEYS 1000000

/* One event-time timer per key, 4096 keys per timestamp. */
static int arm(weir_ctx *ctx, void *s, int input, const weir_rec *in, weir_emit *out)
{
    return weir_timer_register(ctx, WEIR_EVENT_TIME, 0, FAR + (int64_t)(wt_datagen_key(in) % 4096));
}

static int ignore_timer(weir_ctx *ctx, void *s, enum weir_time_domain d, uint64_t ns, int64_t ts,
                        weir_emit *out)
{
    return 0;
}

static const struct weir_operator_ops arm_ops = {.kind = "arm", .process = arm};
static const struct weir_keyed_ops arm_kops = {.on_timer = ignore_timer};

static _Atomic int completed;

static void count_completed(void *arg, const struct weir_checkpoint_event *ev)
{
    if (ev->completed)
        atomic_fetch_add(&completed, 1);
}

static void many_timers_snapshot_stops_the_worker_briefly(void **state)
{
    uint64_t keys = SANITIZED ? TIMER_KEYS / 20 : TIMER_KEYS;
    char dir[4096];
    snprintf(dir, sizeof dir, "state.checkpoints.dir=%s", wt_tmp_dir("timer-sync"));
    atomic_store(&completed, 0);
    weir_job *job = weir_job_new("timer-sync");
    /* every key four times at 3 M records/s: the timers are all there after 0.33 s, the run
     * lasts 1.3 s or more */
    struct weir_datagen_opts o = {
        .records = 4 * keys, .keys = keys, .record_size = 24, .rate = 3e6 / (SANITIZED ? 20 : 1)};
    weir_stream *s = weir_key_by(weir_source_datagen(job, "gen", &o), wt_datagen_key);
    weir_sink_blackhole(weir_keyed_transform(s, "arm", &arm_ops, &arm_kops, NULL), "sink");
    struct weir_run_stats st;
    wt_run_ok(job, NULL,
              &(struct wt_run){.backend = "hashmap",
                               .defs = WT_DEFS(dir, "execution.checkpointing.interval=100ms",
                                               "restart-strategy.type=none"),
                               .on_checkpoint = count_completed},
              &st);
    weir_job_free(job);
    print_message("snapshots %" PRIu64 ", sync ms p50 %.2f p99 %.2f max %.2f; checkpoints "
                  "completed %d\n",
                  st.snapshots, st.sync_ms_p50, st.sync_ms_p99, st.sync_ms_max,
                  atomic_load(&completed));
    assert_true(st.snapshots >= 3);
    assert_true(atomic_load(&completed) >= 3);
    if (!SANITIZED && st.sync_ms_max >= SYNC_BOUND_MS)
        fail_msg("a snapshot stopped the worker for %.1f ms (bound %.0f ms)", st.sync_ms_max,
                 SYNC_BOUND_MS);
}

/* ---- restored timers are those of the checkpoint's pin ----------------------------------- */

#define FLIP_KEYS 20000

/* Each visit of key k counts it (n) and moves its one timer between FAR + 2k and FAR + 2k + 1
 * (by n's parity): the timer a snapshot holds must agree with the count it holds. */
struct flip {
    weir_value_state *n;
};

static _Atomic uint64_t visits, max_seq;

static int flip_open(weir_ctx *ctx, void *s, void *arg)
{
    ((struct flip *)s)->n = weir_value_state_get(weir_ctx_state(ctx), "n", sizeof(uint64_t), NULL);
    return ((struct flip *)s)->n ? 0 : -ENOMEM;
}

static int64_t flip_ts(uint64_t key, uint64_t n)
{
    return FAR + (int64_t)(2 * key + n % 2);
}

static int flip(weir_ctx *ctx, void *s, int input, const weir_rec *in, weir_emit *out)
{
    struct flip *f = s;
    uint64_t key = wt_datagen_key(in), seq = gen_rec(in)->seq;
    const uint64_t *got = weir_value_get(f->n);
    uint64_t n = got ? *got + 1 : 1;
    int rc = weir_value_put(f->n, &n);
    if (rc == 0 && n > 1)
        rc = weir_timer_delete(ctx, WEIR_EVENT_TIME, 0, flip_ts(key, n - 1));
    if (rc == 0)
        rc = weir_timer_register(ctx, WEIR_EVENT_TIME, 0, flip_ts(key, n));
    atomic_fetch_add(&visits, 1);
    uint64_t m = atomic_load(&max_seq);
    while (seq > m && !atomic_compare_exchange_weak(&max_seq, &m, seq))
        ;
    return rc;
}

struct fired {
    uint64_t key;
    int64_t ts;
    int agrees; /* ts is the timer the key's count says */
};

static int flip_fired(weir_ctx *ctx, void *s, enum weir_time_domain d, uint64_t ns, int64_t ts,
                      weir_emit *out)
{
    const uint64_t *n = weir_value_get(((struct flip *)s)->n);
    uint64_t key = weir_ctx_current_key(ctx);
    struct fired fr = {.key = key, .ts = ts, .agrees = n && ts == flip_ts(key, *n)};
    return weir_emit_copy(out, ts, &fr, sizeof fr);
}

static const struct weir_operator_ops flip_ops = {
    .kind = "flip", .state_size = sizeof(struct flip), .open = flip_open, .process = flip};
static const struct weir_keyed_ops flip_kops = {.on_timer = flip_fired};

static weir_job *flip_job(uint64_t records, double rate)
{
    weir_job *job = weir_job_new("timer-flip");
    struct weir_datagen_opts o = {
        .records = records, .keys = FLIP_KEYS, .record_size = 24, .rate = rate};
    weir_stream *s = weir_key_by(weir_source_datagen(job, "gen", &o), wt_datagen_key);
    wt_collect(weir_keyed_transform(s, "flip", &flip_ops, &flip_kops, NULL), "out", 0);
    return job;
}

/* Stops the job once every key was visited twice and two more checkpoints completed since
 * (a minute at most): the retained checkpoints hold a timer per key, taken while the worker
 * keeps moving them. */
static void *stop_later(void *job)
{
    for (int i = 0; i < 6000 && atomic_load(&visits) < 2 * FLIP_KEYS; i++)
        usleep(10 * 1000);
    int base = atomic_load(&completed);
    for (int i = 0; i < 6000 && atomic_load(&completed) < base + 2; i++)
        usleep(10 * 1000);
    weir_job_cancel(job);
    return NULL;
}

static void restored_timers_are_those_of_the_checkpoint(void **state)
{
    const char *dir = wt_tmp_dir("timer-flip");
    weir_config *cfg =
        wt_config_new(WT_DEFS("execution.checkpointing.interval=50ms", "restart-strategy.type=none",
                              "state.backend=hashmap"));
    wt_config_set(cfg, "state.checkpoints.dir=%s", dir);
    wt_config_resolve(cfg);
    atomic_store(&completed, 0);
    atomic_store(&visits, 0);
    atomic_store(&max_seq, 0);
    wt_collect_reset();
    weir_job *job = flip_job(0, 100000);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, stop_later, job), 0);
    wt_run_ok(job, cfg, &(struct wt_run){.on_checkpoint = count_completed}, NULL);
    pthread_join(th, NULL);
    weir_job_free(job);
    assert_true(atomic_load(&visits) >= 2 * FLIP_KEYS);

    /* restored: the input goes on (each visit moves its key's timer) and ends, which fires
     * every timer left */
    wt_collect_reset();
    job = flip_job(atomic_load(&max_seq) + 100000, 0);
    wt_run_ok(job, cfg, &(struct wt_run){.restore_from = "latest"}, NULL);
    weir_job_free(job);
    weir_config_free(cfg);
    size_t n = wt_collected(0), disagree = 0, twice = 0, late = 0;
    unsigned char *seen = calloc(FLIP_KEYS, 1);
    assert_non_null(seen);
    int64_t prev = INT64_MIN;
    for (size_t i = 0; i < n; i++) {
        struct fired fr;
        memcpy(&fr, wt_out(0, i)->data, sizeof fr);
        disagree += !fr.agrees;
        if (fr.key < FLIP_KEYS)
            twice += seen[fr.key]++ > 0;
        late += fr.ts < prev || wt_out(0, i)->ts != fr.ts;
        prev = fr.ts;
    }
    free(seen);
    print_message("%zu timers fired: %zu disagree with their key's count, %zu keys fired twice, "
                  "%zu out of time order\n",
                  n, disagree, twice, late);
    assert_int_equal(n, FLIP_KEYS);
    assert_int_equal(disagree, 0);
    assert_int_equal(twice, 0);
    assert_int_equal(late, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(many_timers_snapshot_stops_the_worker_briefly),
        cmocka_unit_test(restored_timers_are_those_of_the_checkpoint),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
