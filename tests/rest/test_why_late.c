/*
 * The watermark diagnosis (issue 13): GET /jobs/:jobid/watermark-diagnosis and `weir why-late`
 * name the Kafka partition that holds the job's watermark back. A topic of 2 partitions with
 * records in partition 0 only, read by the kafka-count built-in job (per-partition watermarks,
 * event-time windows) at parallelism 1: its one source subtask owns both partitions, and
 * partition 1, which never has a record, keeps the subtask's watermark, and so every window,
 * where it is. The document and the command must name subtask 0 and partition 1, a "since"
 * in the past that stays put while "stalled-ms" grows, and windows waiting. With
 * --idleness-ms the empty partition is reported idle and the watermark advances. An unknown
 * job id is one line and exit status 1. Skips (77) without a broker or the weir command.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "weir_test.h"

#include "kafka_fixture.h"
#include "rest_client.h"

#define RECORDS 300 /* in partition 0, event time 1000 .. 3990 ms: three 1 s windows a key */

static char topic[256];
static const char *bootstrap;

static int setup(void **state)
{
    (void)state;
    bootstrap = wt_kafka_bootstrap();
    wt_kafka_topic("whylate", 2, topic, sizeof topic);
    rd_kafka_t *p = wt_kafka_producer();
    for (int i = 0; i < RECORDS; i++) {
        char v[16];
        int n = snprintf(v, sizeof v, "k%d", i % 7);
        wt_kafka_produce(p, topic, 0, NULL, v, (size_t)n, 1000 + 10 * (int64_t)i);
    }
    wt_kafka_producer_free(p);
    return 0;
}

static void start(struct weir_proc *w, const char *tag, const char *idleness_ms)
{
    const char *args[] = {QUIET, "-D", "rest.port=0", "-D", "parallelism.default=1",
                          "kafka-count", "--bootstrap", bootstrap, "--topic", topic,
                          "--startup-mode", "earliest-offset", "--idleness-ms", idleness_ms,
                          "out", NULL};
    weir_start(w, tag, args);
    weir_wait_rest(w);
}

static json_t *diagnosis(const struct weir_proc *w)
{
    return get(w, 200, "/jobs/%s/watermark-diagnosis", w->jid);
}

static bool windows_waiting(json_t *d)
{
    return int_at(d, "timers-waiting") > 0;
}

/* Source subtask 0's entry for partition part. */
static json_t *partition(json_t *d, int part)
{
    json_t *src = json_array_get(json_object_get(d, "sources"), 0);
    return entry_with(json_object_get(src, "partitions"), "partition", part);
}

/* Runs `weir why-late -m 127.0.0.1:PORT ARG [--json]`; its exit status, stdout into out. */
static int why_late(const struct weir_proc *w, const char *arg, bool json, char *out, size_t cap)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s why-late -m 127.0.0.1:%d %s %s 2>&1", wt_weir_cmd(), w->port,
             json ? "--json" : "", arg);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    size_t n = fread(out, 1, cap - 1, f);
    out[n] = '\0';
    int st = pclose(f);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void empty_partition_holds_the_watermark_back(void **state)
{
    (void)state;
    struct weir_proc w;
    start(&w, "whylate-stall", "0");
    json_t *d = wait_doc(&w, "watermark-diagnosis", windows_waiting, "windows waiting");
    json_t *h = json_object_get(d, "held-by");
    assert_int_equal(int_at(h, "subtask"), 0);
    assert_int_equal(int_at(h, "partition"), 1);
    assert_true(json_is_null(json_object_get(h, "watermark")));
    assert_int_equal(int_at(h, "idleness-ms"), 0);
    assert_true(json_is_null(json_object_get(h, "alignment")));
    json_int_t since = int_at(h, "since"), stalled = int_at(h, "stalled-ms");
    assert_true(since <= int_at(d, "now") && stalled >= 0);
    /* partition 0 has a watermark of its own: its records' largest time minus 1 */
    assert_int_equal(int_at(partition(d, 0), "watermark"), 1000 + 10 * (RECORDS - 1) - 1);
    json_t *win = json_array_get(json_object_get(d, "vertices"), 1);
    assert_true(json_is_null(json_object_get(win, "lowest-input-watermark")));
    json_decref(d);

    sleep_ms(1500);
    d = diagnosis(&w);
    h = json_object_get(d, "held-by");
    assert_int_equal(int_at(h, "partition"), 1);
    check_still_held(h, since, stalled, 1000);
    json_int_t waiting = int_at(d, "timers-waiting");
    assert_true(waiting > 0);
    json_decref(d);

    char out[8192], want[128];
    assert_int_equal(why_late(&w, (char[]){w.jid[0], w.jid[1], w.jid[2], w.jid[3], 0}, false,
                              out, sizeof out),
                     0);
    if (!strstr(out, "held back by source \"kafka\" subtask 0 (Kafka partition 1): none yet"))
        fail_msg("why-late said: %s", out);
    snprintf(want, sizeof want, "; %lld windows waiting", (long long)waiting);
    if (!strstr(out, want) || !strstr(out, "idleness: off"))
        fail_msg("why-late said: %s (wanted \"%s\" and idleness: off)", out, want);
    assert_int_equal(why_late(&w, w.jid, true, out, sizeof out), 0);
    json_t *doc = json_loads(out, 0, NULL);
    assert_non_null(doc);
    assert_int_equal(int_at(json_object_get(doc, "held-by"), "partition"), 1);
    json_decref(doc);
    weir_stop(&w);
}

/* The window vertex's lowest input watermark, or INT64_MIN while it has none. */
static int64_t window_watermark(json_t *d)
{
    json_t *win = json_array_get(json_object_get(d, "vertices"), 1);
    json_t *wm = json_object_get(win, "lowest-input-watermark");
    return json_is_integer(wm) ? (int64_t)json_integer_value(wm) : INT64_MIN;
}

/* Partition 0 keeps getting records, one about every 100 ms, while the empty partition 1 turns
 * idle after 1 s: the watermark must pass it. (1 s, not less, so that a slow producer on a
 * loaded machine does not turn partition 0 idle too.) */
static void idle_partition_is_skipped(void **state)
{
    (void)state;
    struct weir_proc w;
    start(&w, "whylate-idle", "1000");
    rd_kafka_t *p = wt_kafka_producer();
    json_t *d = NULL;
    int64_t last_ts = 1000 + 10 * (RECORDS - 1);
    for (int i = 0; i < 600; i++) {
        last_ts += 10;
        wt_kafka_produce(p, topic, 0, NULL, "k0", 2, last_ts);
        wt_kafka_flush(p);
        sleep_ms(100);
        d = diagnosis(&w);
        if (window_watermark(d) > 1000 + 10 * (RECORDS - 1) - 1)
            break;
        json_decref(d);
        d = NULL;
    }
    wt_kafka_producer_free(p);
    if (!d) {
        dump_log(&w);
        fail_msg("the watermark never passed the idle partition");
    }
    json_t *p1 = partition(d, 1);
    assert_true(json_is_true(json_object_get(p1, "idle")));
    assert_true(json_is_null(json_object_get(p1, "watermark")));
    assert_int_equal(int_at(json_array_get(json_object_get(d, "sources"), 0), "idleness-ms"), 1000);
    json_t *h = json_object_get(d, "held-by");
    assert_int_equal(int_at(h, "partition"), 0);
    assert_int_equal(int_at(h, "idleness-ms"), 1000);
    json_decref(d);
    char out[8192];
    assert_int_equal(why_late(&w, w.jid, false, out, sizeof out), 0);
    if (strstr(out, "partition 1") || !strstr(out, "(Kafka partition 0)"))
        fail_msg("why-late should blame partition 0, not the idle 1: %s", out);
    weir_stop(&w);
}

static void unknown_job_is_one_line_and_exit_1(void **state)
{
    (void)state;
    struct weir_proc w;
    start(&w, "whylate-unknown", "0");
    char out[8192];
    assert_int_equal(why_late(&w, "ffffffff", false, out, sizeof out), 1);
    if (!strstr(out, "no running job \"ffffffff\"") || strchr(out, '\n') != out + strlen(out) - 1)
        fail_msg("why-late said: %s", out);
    check_errors(get(&w, 404, "/jobs/%s/watermark-diagnosis", "ffffffffffffffffffffffffffffffff"),
                 "not found");
    weir_stop(&w);
}

int main(void)
{
    wt_weir_cmd();
    bootstrap = wt_kafka_bootstrap();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(empty_partition_holds_the_watermark_back),
        cmocka_unit_test(idle_partition_is_skipped),
        cmocka_unit_test(unknown_job_is_one_line_and_exit_1),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
