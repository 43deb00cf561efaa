/*
 * The Nexmark source in a job: every event number exactly once whatever the
 * parallelism, each with the bytes weir_nexmark_event_at gives and its
 * dateTime as the record timestamp, and watermarks that never make one of its
 * own records late.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <weir/config.h>
#include "nexmark.h"
#include <weir/weir.h>

#define EVENTS 30000

/* What the sink saw, by event number. */
static struct {
    pthread_mutex_t lock;
    unsigned char *copy[EVENTS]; /* the payload */
    uint32_t len[EVENTS];
    int64_t ts[EVENTS];
    int seen[EVENTS];
    int late; /* records at or below their subtask's last watermark */
    int out_of_range;
} got = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void got_reset(void)
{
    for (int i = 0; i < EVENTS; i++)
        free(got.copy[i]);
    memset(got.copy, 0, sizeof got.copy);
    memset(got.seen, 0, sizeof got.seen);
    got.late = got.out_of_range = 0;
}

struct sink_state {
    int64_t wm;
};

static int sink_open(weir_ctx *ctx, void *state, void *arg)
{
    ((struct sink_state *)state)->wm = INT64_MIN;
    return 0;
}

static int sink_process(weir_ctx *ctx, void *state, int input, const weir_rec *in, weir_emit *out)
{
    struct sink_state *s = state;
    const struct weir_nexmark_event *e = weir_nexmark_event(in);
    pthread_mutex_lock(&got.lock);
    if (e->event_number >= EVENTS) {
        got.out_of_range++;
    } else {
        uint64_t n = e->event_number;
        got.seen[n]++;
        free(got.copy[n]);
        got.copy[n] = malloc(in->len);
        memcpy(got.copy[n], in->data, in->len);
        got.len[n] = in->len;
        got.ts[n] = in->ts;
        if (in->ts <= s->wm)
            got.late++;
    }
    pthread_mutex_unlock(&got.lock);
    return 0;
}

static int sink_watermark(weir_ctx *ctx, void *state, int64_t wm, weir_emit *out)
{
    ((struct sink_state *)state)->wm = wm;
    return 0;
}

static const struct weir_operator_ops sink_ops = {.kind = "collect",
                                                  .state_size = sizeof(struct sink_state),
                                                  .open = sink_open,
                                                  .process = sink_process,
                                                  .watermark = sink_watermark};

static void run(const struct weir_nexmark_opts *o, int p)
{
    got_reset();
    weir_job *job = weir_job_new("nexmark");
    weir_sink(weir_source_nexmark(job, "nexmark", o), "collect", &sink_ops, NULL);
    weir_config *c = weir_config_new();
    char err[512];
    assert_int_equal(weir_config_set(c, "metrics.reporter.prom.port", "0", err, sizeof err), 0);
    assert_int_equal(weir_config_set(c, "pipeline.auto-watermark-interval", "1ms", err, sizeof err),
                     0);
    assert_int_equal(weir_config_resolve(c, err, sizeof err), 0);
    struct weir_run_opts ro = {.parallelism = p, .quiet = true};
    struct weir_run_stats st;
    if (weir_job_run(job, c, &ro, &st, err, sizeof err) != 0)
        fail_msg("%s", err);
    assert_int_equal(st.source_records, EVENTS);
    weir_config_free(c);
    weir_job_free(job);
}

static int64_t date_time_of(const struct weir_nexmark_event *e)
{
    switch (e->type) {
    case WEIR_NEXMARK_PERSON:
        return ((const struct weir_nexmark_person *)(const void *)(e + 1))->date_time;
    case WEIR_NEXMARK_AUCTION:
        return ((const struct weir_nexmark_auction *)(const void *)(e + 1))->date_time;
    default:
        return ((const struct weir_nexmark_bid *)(const void *)(e + 1))->date_time;
    }
}

static void check_against_event_at(const struct weir_nexmark_opts *o)
{
    static uint64_t want[4096];
    assert_int_equal(got.out_of_range, 0);
    assert_int_equal(got.late, 0);
    for (uint64_t n = 0; n < EVENTS; n++) {
        assert_int_equal(got.seen[n], 1);
        int size = weir_nexmark_event_at(o, n, (void *)want, sizeof want);
        assert_int_equal(got.len[n], (uint32_t)size);
        assert_memory_equal(got.copy[n], want, (size_t)size);
        assert_int_equal(got.ts[n], date_time_of((const void *)want));
    }
}

static void every_parallelism_emits_the_same_events(void **state)
{
    struct weir_nexmark_opts o;
    weir_nexmark_opts_init(&o);
    o.events = EVENTS;
    o.events_per_second = 10000; /* 3 s of event time, so watermarks move */
    o.seed = 3;
    for (int p = 1; p <= 3; p++) {
        run(&o, p);
        check_against_event_at(&o);
    }
}

static void out_of_orderness_setting_keeps_records_on_time(void **state)
{
    struct weir_nexmark_opts o;
    weir_nexmark_opts_init(&o);
    o.events = EVENTS;
    o.events_per_second = 1000;
    o.max_out_of_orderness_ms = 4000;
    run(&o, 2);
    check_against_event_at(&o);
}

static void bad_options_fail_the_job_with_the_field_named(void **state)
{
    struct weir_nexmark_opts o;
    weir_nexmark_opts_init(&o);
    o.events = 10;
    o.rate_limit = -3;
    weir_job *job = weir_job_new("nexmark");
    weir_sink(weir_source_nexmark(job, "nexmark", &o), "collect", &sink_ops, NULL);
    weir_config *c = weir_config_new();
    char err[512];
    assert_int_equal(weir_config_set(c, "metrics.reporter.prom.port", "0", err, sizeof err), 0);
    assert_int_equal(weir_config_resolve(c, err, sizeof err), 0);
    struct weir_run_opts ro = {.parallelism = 1, .quiet = true};
    struct weir_run_stats st;
    assert_int_not_equal(weir_job_run(job, c, &ro, &st, err, sizeof err), 0);
    assert_non_null(strstr(err, "rate_limit"));
    weir_config_free(c);
    weir_job_free(job);
}

static int teardown(void **state)
{
    got_reset();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_parallelism_emits_the_same_events),
        cmocka_unit_test(out_of_orderness_setting_keeps_records_on_time),
        cmocka_unit_test(bad_options_fail_the_job_with_the_field_named),
    };
    return cmocka_run_group_tests(tests, NULL, teardown);
}
