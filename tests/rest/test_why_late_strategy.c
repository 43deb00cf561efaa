/*
 * The watermark diagnosis (GET /jobs/:jobid/watermark-diagnosis) for a source with a
 * watermark strategy (weir_assign_watermarks), in process: a source at parallelism 2 whose
 * subtask 0 emits a record a millisecond (event time 10 ms apart) and whose subtask 1 never
 * emits one, keyed into 1 s event-time windows. Without idleness subtask 1 holds the
 * watermark back: the document names it, with no watermark and a since that stays while
 * stalled-ms grows, and windows wait. With idleness_ms it is reported idle, the watermark
 * advances, and the holder is subtask 0: an idle subtask is never blamed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <weir/windows.h>

#include "weir_test.h"

#include "rest_client.h"

struct half {
    int64_t start_ms;
    uint64_t i;
};

/* Subtask 0: one record per millisecond since its first poll; subtask 1: none, ever. */
static int half_poll(weir_ctx *ctx, void *st, weir_emit *out, uint32_t max, uint32_t *emitted)
{
    struct half *h = st;
    int64_t now = weir_ctx_processing_time(ctx);
    *emitted = 0;
    if (weir_ctx_subtask(ctx) != 0)
        return WEIR_SOURCE_MORE;
    if (!h->start_ms)
        h->start_ms = now;
    while (*emitted < max && h->i < (uint64_t)(now - h->start_ms)) {
        struct wt_rec r = {.key = h->i % 5, .value = 1, .id = h->i};
        int rc = weir_emit_copy(out, 1000 + 10 * (int64_t)h->i, &r, sizeof r);
        if (rc < 0)
            return rc;
        h->i++;
        ++*emitted;
    }
    return WEIR_SOURCE_MORE;
}

static const struct weir_source_ops half_ops = {
    .kind = "half", .state_size = sizeof(struct half), .poll = half_poll};

struct runner {
    weir_job *job;
    weir_config *cfg;
    pthread_t thread;
    pthread_mutex_t lock;
    struct weir_proc p; /* port and jid once the REST API serves */
    int rc;
    char err[512];
};

static void on_rest(void *arg, const char *job_id, const char *url)
{
    struct runner *r = arg;
    pthread_mutex_lock(&r->lock);
    snprintf(r->p.jid, sizeof r->p.jid, "%s", job_id);
    sscanf(url, "http://%*[0-9.]:%d", &r->p.port);
    pthread_mutex_unlock(&r->lock);
}

static void *run(void *arg)
{
    struct runner *r = arg;
    struct weir_run_opts o = {.parallelism = 2, .quiet = true, .on_rest = on_rest,
                              .on_rest_arg = r};
    r->rc = weir_job_run(r->job, r->cfg, &o, NULL, r->err, sizeof r->err);
    return NULL;
}

/* Starts the job in a thread and waits until its REST API serves. */
static void start(struct runner *r, int64_t idleness_ms)
{
    static struct weir_watermark_strategy ws;
    ws = (struct weir_watermark_strategy){.idleness_ms = idleness_ms};
    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->lock, NULL);
    r->job = weir_job_new("why-late-strategy");
    weir_stream *s = weir_assign_watermarks(weir_source(r->job, "half", &half_ops, NULL), &ws);
    weir_stream *w = weir_window_aggregate(weir_key_by(s, wt_key_of), "count",
                                           weir_tumbling(1000), &weir_agg_count, wt_value_of, NULL);
    wt_collect_reset();
    wt_collect(w, "out", 0);
    r->cfg = wt_config(WT_DEFS("rest.enabled=true", "rest.port=0")); /* wt_config turns it off */
    assert_int_equal(pthread_create(&r->thread, NULL, run, r), 0);
    for (int i = 0; i < 1200; i++) {
        pthread_mutex_lock(&r->lock);
        bool up = r->p.port > 0;
        pthread_mutex_unlock(&r->lock);
        if (up)
            return;
        sleep_ms(50);
    }
    fail_msg("the job's REST API did not start in 60 s");
}

static void stop(struct runner *r)
{
    weir_job_cancel(r->job);
    pthread_join(r->thread, NULL);
    if (r->rc != 0)
        fail_msg("the job ended with %d: %s", r->rc, r->err);
    weir_job_free(r->job);
    weir_config_free(r->cfg);
    pthread_mutex_destroy(&r->lock);
}

static json_t *diagnosis(struct runner *r)
{
    return get(&r->p, 200, "/jobs/%s/watermark-diagnosis", r->p.jid);
}

static json_t *source(json_t *d, int subtask)
{
    return entry_with(json_object_get(d, "sources"), "subtask", subtask);
}

static json_t *window_vertex(json_t *d)
{
    return json_array_get(json_object_get(d, "vertices"), 1);
}

/* Windows wait, and subtask 0 has a watermark (before it, both subtasks have none). */
static bool windows_waiting(json_t *d)
{
    return int_at(d, "timers-waiting") > 0 &&
           json_is_integer(json_object_get(source(d, 0), "watermark"));
}

static bool advanced(json_t *d)
{
    return json_is_integer(json_object_get(window_vertex(d), "lowest-input-watermark")) &&
           json_is_true(json_object_get(source(d, 1), "idle"));
}

static void silent_subtask_holds_the_watermark_back(void **state)
{
    (void)state;
    struct runner r;
    start(&r, 0);
    json_t *d = wait_doc(&r.p, "watermark-diagnosis", windows_waiting, "windows waiting");
    json_t *h = json_object_get(d, "held-by");
    assert_int_equal(int_at(h, "subtask"), 1);
    assert_true(json_is_null(json_object_get(h, "partition")));
    assert_true(json_is_null(json_object_get(h, "watermark")));
    assert_int_equal(int_at(h, "idleness-ms"), 0);
    assert_true(json_is_integer(json_object_get(source(d, 0), "watermark")));
    assert_true(json_is_null(json_object_get(window_vertex(d), "lowest-input-watermark")));
    json_int_t since = int_at(h, "since"), stalled = int_at(h, "stalled-ms");
    json_decref(d);
    sleep_ms(1200);
    d = diagnosis(&r);
    h = json_object_get(d, "held-by");
    assert_int_equal(int_at(h, "subtask"), 1);
    check_still_held(h, since, stalled, 1000);
    json_decref(d);
    stop(&r);
}

static void idle_subtask_is_not_blamed(void **state)
{
    (void)state;
    struct runner r;
    start(&r, 1000); /* 1 s: a loaded machine does not pause subtask 0 that long */
    json_t *d = wait_doc(&r.p, "watermark-diagnosis", advanced,
                         "the watermark advancing past the idle subtask");
    json_t *h = json_object_get(d, "held-by");
    if (int_at(h, "subtask") != 0) {
        char *text = json_dumps(d, JSON_COMPACT);
        fail_msg("the holder should be subtask 0, not the idle 1: %s", text);
    }
    assert_int_equal(int_at(h, "idleness-ms"), 1000);
    json_decref(d);
    stop(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(silent_subtask_holds_the_watermark_back),
        cmocka_unit_test(idle_subtask_is_not_blamed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
