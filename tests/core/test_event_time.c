/*
 * Event time in the runtime: watermarks generated at sources (bounded
 * out-of-orderness), the minimum over inputs, idleness releasing a stalled
 * watermark, alignment pausing a fast source, the final maximal watermark, and
 * side outputs. Operators here are not keyed; keyed timers are tested with the
 * window operators.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <weir/config.h>
#include <weir/operator.h>
#include <weir/weir.h>

#include "weir_test.h"

struct tsrec {
    int src;
    int64_t ts;
};

/* A source that emits records with timestamps first + i * step, `per_poll` at
 * a time and at most once every sleep_us (without blocking its worker), then
 * lingers (no data) for linger_ms, and until source wait_for - 1 has ended when
 * wait_for is set, before it ends. */
struct src_arg {
    int id;
    int n;
    int64_t first, step;
    int per_poll, sleep_us, linger_ms;
    int wait_for;
};

/* Which sources (by id) have ended, for wait_for; cleared before each job. */
static _Atomic bool ended[4];

struct src_state {
    const struct src_arg *a;
    int i;
    struct timespec last;
    struct timespec done_at;
    bool done;
};

static int src_open(weir_ctx *ctx, void *state, void *arg)
{
    ((struct src_state *)state)->a = arg;
    return 0;
}

static int src_poll(weir_ctx *ctx, void *state, weir_emit *out, uint32_t max, uint32_t *emitted)
{
    struct src_state *s = state;
    const struct src_arg *a = s->a;
    *emitted = 0;
    if (s->i < a->n) {
        if (a->sleep_us) {
            struct timespec now;
            clock_gettime(CLOCK_MONOTONIC, &now);
            double us = (now.tv_sec - s->last.tv_sec) * 1e6 + (now.tv_nsec - s->last.tv_nsec) / 1e3;
            if (us < a->sleep_us)
                return WEIR_SOURCE_MORE;
            s->last = now;
        }
        for (int k = 0; k < a->per_poll && s->i < a->n; k++, s->i++) {
            struct tsrec r = {.src = a->id, .ts = a->first + s->i * a->step};
            int rc = weir_emit_copy(out, r.ts, &r, sizeof r);
            if (rc < 0)
                return rc;
            (*emitted)++;
        }
        if (s->i == a->n)
            clock_gettime(CLOCK_MONOTONIC, &s->done_at);
        return WEIR_SOURCE_MORE;
    }
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    double ms = (now.tv_sec - s->done_at.tv_sec) * 1e3 + (now.tv_nsec - s->done_at.tv_nsec) / 1e6;
    if (ms < a->linger_ms || (a->wait_for && !atomic_load(&ended[a->wait_for - 1])))
        return WEIR_SOURCE_MORE;
    atomic_store(&ended[a->id], true);
    return WEIR_SOURCE_DONE;
}

static const struct weir_source_ops src_ops = {
    .kind = "test", .state_size = sizeof(struct src_state), .open = src_open, .poll = src_poll};

/* What the observing sink (collector 0) saw, in order: records and watermarks. */
static int src_of(const struct wt_out *e)
{
    return ((const struct tsrec *)(const void *)e->data)->src;
}

static void run_job(weir_job *job)
{
    for (size_t i = 0; i < sizeof ended / sizeof ended[0]; i++)
        atomic_store(&ended[i], false);
    wt_run_ok(job, NULL, &(struct wt_run){.defs = WT_DEFS("pipeline.auto-watermark-interval=1ms")},
              NULL);
}

static void bounded_out_of_orderness_watermark_trails_max_timestamp(void **state)
{
    wt_collect_reset();
    static const struct src_arg a = {.id = 0,
                                     .n = 200,
                                     .first = 1000,
                                     .step = 7,
                                     .per_poll = 10,
                                     .sleep_us = 200,
                                     .linger_ms = 50};
    static const struct weir_watermark_strategy ws = {.max_out_of_orderness_ms = 5};
    weir_job *job = weir_job_new("wm");
    weir_stream *s = weir_assign_watermarks(weir_source(job, "src", &src_ops, (void *)&a), &ws);
    wt_collect_with_watermarks(s, "observe", 0);
    run_job(job);
    int64_t max_ts = INT64_MIN, last_wm = INT64_MIN;
    bool saw_final_finite = false;
    for (size_t i = 0; i < wt_collected(0); i++) {
        const struct wt_out *e = wt_out(0, i);
        if (!e->watermark) {
            /* no record is late with in-order timestamps */
            assert_true(e->ts > last_wm);
            if (e->ts > max_ts)
                max_ts = e->ts;
            continue;
        }
        assert_true(e->ts > last_wm); /* strictly increasing */
        if (e->ts != INT64_MAX) {
            assert_true(e->ts <= max_ts - 5 - 1);
            if (e->ts == 1000 + 199 * 7 - 6)
                saw_final_finite = true;
        }
        last_wm = e->ts;
    }
    assert_int_equal(max_ts, 1000 + 199 * 7);
    assert_true(saw_final_finite);        /* emitted while the source lingered */
    assert_int_equal(last_wm, INT64_MAX); /* a bounded source ends with the maximal watermark */
    weir_job_free(job);
}

/* Two sources into one operator: its watermark is the minimum. */
static void watermark_is_minimum_over_inputs(void **state)
{
    wt_collect_reset();
    static const struct src_arg fast = {
        .id = 0, .n = 100, .first = 0, .step = 10, .per_poll = 100, .linger_ms = 100};
    static const struct src_arg slow = {
        .id = 1, .n = 10, .first = 0, .step = 10, .per_poll = 10, .linger_ms = 300};
    static const struct weir_watermark_strategy ws = {.max_out_of_orderness_ms = 0};
    weir_job *job = weir_job_new("min");
    weir_stream *a = weir_assign_watermarks(weir_source(job, "fast", &src_ops, (void *)&fast), &ws);
    weir_stream *b = weir_assign_watermarks(weir_source(job, "slow", &src_ops, (void *)&slow), &ws);
    wt_collect_with_watermarks(weir_rebalance(weir_union(a, b)), "observe", 0);
    run_job(job);
    int64_t max_finite = INT64_MIN;
    for (size_t i = 0; i < wt_collected(0); i++)
        if (wt_out(0, i)->watermark && wt_out(0, i)->ts != INT64_MAX &&
            wt_out(0, i)->ts > max_finite)
            max_finite = wt_out(0, i)->ts;
    /* the slow source's last timestamp is 90: the fast one (990) cannot lead
     * the operator's watermark past 89 while the slow one lives */
    assert_int_equal(max_finite, 89);
    weir_job_free(job);
}

static int64_t max_finite_wm_before_slow_ends(void)
{
    int64_t m = INT64_MIN;
    for (size_t i = 0; i < wt_collected(0); i++)
        if (wt_out(0, i)->watermark && wt_out(0, i)->ts != INT64_MAX && wt_out(0, i)->ts > m)
            m = wt_out(0, i)->ts;
    return m;
}

static void idle_input_stops_holding_the_watermark(void **state)
{
    static const struct src_arg busy = {.id = 0,
                                        .n = 200,
                                        .first = 0,
                                        .step = 10,
                                        .per_poll = 5,
                                        .sleep_us = 1000,
                                        .linger_ms = 50};
    /* quiet outlives busy whatever the load: ended by time alone, it could end first on a
     * starved machine and let busy's watermark through without idleness */
    static const struct src_arg quiet = {
        .id = 1, .n = 3, .first = 0, .step = 1, .per_poll = 3, .linger_ms = 100, .wait_for = 1};
    for (int with_idleness = 0; with_idleness < 2; with_idleness++) {
        wt_collect_reset();
        static const struct weir_watermark_strategy plain = {.max_out_of_orderness_ms = 0};
        static const struct weir_watermark_strategy idle = {.max_out_of_orderness_ms = 0,
                                                            .idleness_ms = 20};
        weir_job *job = weir_job_new("idle");
        weir_stream *a =
            weir_assign_watermarks(weir_source(job, "busy", &src_ops, (void *)&busy), &plain);
        weir_stream *b = weir_assign_watermarks(weir_source(job, "quiet", &src_ops, (void *)&quiet),
                                                with_idleness ? &idle : &plain);
        wt_collect_with_watermarks(weir_rebalance(weir_union(a, b)), "observe", 0);
        run_job(job);
        int64_t m = max_finite_wm_before_slow_ends();
        if (with_idleness)
            assert_int_equal(m, 1989); /* the busy source's watermark, no longer held back */
        else
            assert_int_equal(m, 1); /* held at the quiet source's last timestamp - 1 */
        weir_job_free(job);
    }
}

static void alignment_pauses_the_fast_source(void **state)
{
    static const struct src_arg fast = {
        .id = 0, .n = 3000, .first = 0, .step = 1, .per_poll = 20, .linger_ms = 0};
    static const struct src_arg slow = {
        .id = 1, .n = 3000, .first = 0, .step = 1, .per_poll = 20, .sleep_us = 500, .linger_ms = 0};
    for (int aligned = 0; aligned < 2; aligned++) {
        wt_collect_reset();
        static const struct weir_watermark_strategy plain = {.max_out_of_orderness_ms = 0};
        static const struct weir_watermark_strategy al = {
            .max_out_of_orderness_ms = 0, .alignment_group = "g", .alignment_max_drift_ms = 100};
        weir_job *job = weir_job_new("align");
        weir_stream *a = weir_assign_watermarks(weir_source(job, "fast", &src_ops, (void *)&fast),
                                                aligned ? &al : &plain);
        weir_stream *b = weir_assign_watermarks(weir_source(job, "slow", &src_ops, (void *)&slow),
                                                aligned ? &al : &plain);
        wt_collect_with_watermarks(weir_rebalance(weir_union(a, b)), "observe", 0);
        run_job(job);
        int64_t max[2] = {-1, -1}, lead = 0;
        size_t recs = 0;
        for (size_t i = 0; i < wt_collected(0); i++) {
            const struct wt_out *e = wt_out(0, i);
            if (e->watermark)
                continue;
            recs++;
            if (e->ts > max[src_of(e)])
                max[src_of(e)] = e->ts;
            if (max[1] >= 0 && max[0] - max[1] > lead)
                lead = max[0] - max[1];
        }
        assert_int_equal(recs, 6000);
        if (aligned)
            assert_true(lead <= 100 + 20 + 40); /* drift + one poll + watermark lag */
        else
            assert_true(lead > 1000); /* unaligned, the fast source runs far ahead */
        weir_job_free(job);
    }
}

/* --- side outputs --------------------------------------------------------- */

static int split_odd(weir_ctx *ctx, void *state, int input, const weir_rec *in, weir_emit *out)
{
    const struct tsrec *r = (const void *)in->data;
    if (r->ts % 2)
        return weir_emit_forward(weir_ctx_side_output(ctx, "odd"), in);
    return weir_emit_forward(out, in);
}

static const struct weir_operator_ops split_ops = {.kind = "split", .process = split_odd};

static void side_output_carries_only_what_goes_there(void **state)
{
    wt_collect_reset();
    static const struct src_arg a = {.id = 0, .n = 1000, .first = 0, .step = 1, .per_poll = 100};
    weir_job *job = weir_job_new("side");
    weir_stream *main_out =
        weir_transform(weir_source(job, "src", &src_ops, (void *)&a), "split", &split_ops, NULL);
    weir_sink_blackhole(main_out, "evens");
    wt_collect_with_watermarks(weir_side_output(main_out, "odd"), "observe", 0);
    run_job(job);
    size_t recs = 0;
    for (size_t i = 0; i < wt_collected(0); i++) {
        if (wt_out(0, i)->watermark)
            continue;
        assert_int_equal(wt_out(0, i)->ts % 2, 1);
        recs++;
    }
    assert_int_equal(recs, 500);
    weir_job_free(job);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bounded_out_of_orderness_watermark_trails_max_timestamp),
        cmocka_unit_test(watermark_is_minimum_over_inputs),
        cmocka_unit_test(idle_input_stops_holding_the_watermark),
        cmocka_unit_test(alignment_pauses_the_fast_source),
        cmocka_unit_test(side_output_carries_only_what_goes_there),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    wt_collect_reset();
    return rc;
}
