/*
 * Checkpoint ids come from one counter, savepoints included, and continue from a restored
 * id whatever directory the new checkpoints go to (issue 9). Both failures lost committed
 * output: a savepoint took the id of the next checkpoint, which then never completed; a
 * restore into a fresh state.checkpoints.dir numbered from 1, so an exactly-once sink, which
 * commits what checkpoints up to the completed id staged, committed nothing until the new
 * run passed the restored id.
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

#define MAX_EVENTS 1024

static struct {
    struct weir_checkpoint_event v[MAX_EVENTS];
    int n;
} seen;

static void on_checkpoint(void *arg, const struct weir_checkpoint_event *ev)
{
    if (seen.n < MAX_EVENTS) {
        seen.v[seen.n] = *ev;
        seen.v[seen.n++].reason = NULL;
    }
    if (!ev->completed)
        fprintf(stderr, "checkpoint %" PRIu64 " failed: %s\n", ev->id, ev->reason);
}

struct saver {
    weir_job *job;
    int after_ms;
};

static void *savepoint_later(void *arg)
{
    struct saver *s = arg;
    usleep((useconds_t)s->after_ms * 1000);
    weir_job_savepoint(s->job);
    return NULL;
}

/* datagen (paced) -> key_by -> keyed state "keep" -> blackhole, checkpoints every 100 ms into
 * dir; a savepoint asked for after savepoint_after_ms when that is > 0. */
static void run_job(const char *dir, const char *restore_from, uint64_t records,
                    int savepoint_after_ms)
{
    memset(&seen, 0, sizeof seen);
    weir_config *cfg =
        wt_config_new(WT_DEFS("execution.checkpointing.interval=100ms",
                              "execution.checkpointing.timeout=3s", "restart-strategy.type=none"));
    wt_config_set(cfg, "state.checkpoints.dir=%s", dir);
    wt_config_resolve(cfg);
    weir_job *job = weir_job_new("ids");
    struct weir_datagen_opts o = {.records = records, .keys = 64, .record_size = 24, .rate = 4000};
    weir_stream *s = weir_key_by(weir_source_datagen(job, "gen", &o), wt_datagen_key);
    weir_sink_blackhole(weir_keyed_transform(s, "keep", &wt_count_per_key_ops, NULL, NULL), "sink");
    pthread_t t;
    struct saver sv = {job, savepoint_after_ms};
    if (savepoint_after_ms > 0)
        assert_int_equal(pthread_create(&t, NULL, savepoint_later, &sv), 0);
    struct wt_run ro = {.restore_from = restore_from, .on_checkpoint = on_checkpoint};
    struct weir_run_stats st;
    wt_run_ok(job, cfg, &ro, &st);
    if (savepoint_after_ms > 0)
        pthread_join(t, NULL);
    assert_int_equal(st.checkpoints_failed, 0);
    weir_job_free(job);
    weir_config_free(cfg);
}

static void savepoint_and_checkpoints_take_ids_from_one_counter(void **state)
{
    run_job(wt_tmp_dir("ids-savepoint"), NULL, 4000, 300); /* ~1 s, savepoint at 0.3 s */
    int savepoints = 0;
    for (int i = 0; i < seen.n; i++) {
        savepoints += seen.v[i].savepoint;
        assert_true(seen.v[i].completed);
        for (int j = 0; j < i; j++)
            if (seen.v[j].id == seen.v[i].id)
                fail_msg("id %" PRIu64 " taken twice (%s and %s)", seen.v[i].id,
                         seen.v[j].savepoint ? "savepoint" : "checkpoint",
                         seen.v[i].savepoint ? "savepoint" : "checkpoint");
    }
    assert_int_equal(savepoints, 1);
    assert_true(seen.n >= 3); /* checkpoints before and after the savepoint */
}

static void restore_into_another_directory_continues_ids(void **state)
{
    const char *a = wt_tmp_dir("ids-a");
    run_job(a, NULL, 2000, 0);
    assert_true(seen.n >= 2);
    uint64_t last = seen.v[seen.n - 1].id;
    assert_true(seen.v[seen.n - 1].final);
    char from[1024];
    snprintf(from, sizeof from, "%s/ids/chk-%" PRIu64, a, last);

    run_job(wt_tmp_dir("ids-b"), from, 2000, 0);
    assert_true(seen.n >= 1);
    for (int i = 0; i < seen.n; i++)
        if (seen.v[i].id <= last)
            fail_msg("checkpoint %" PRIu64 " after restoring checkpoint %" PRIu64, seen.v[i].id,
                     last);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(savepoint_and_checkpoints_take_ids_from_one_counter),
        cmocka_unit_test(restore_into_another_directory_continues_ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
