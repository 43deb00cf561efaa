/*
 * A broker outage (issue 11): Kafka -> slow map -> exactly-once Kafka sink, in process, on a
 * broker of this test's own (tools/kafka.sh start in a scratch directory, not the shared
 * fixture's, which other tests use at the same time). Once the job is under way the broker
 * is stopped for 10 s (tools/kafka.sh pause, keeping its data) and started again on the same
 * port with the same state (resume). The job must ride it out: librdkafka retries, and
 * checkpoints either wait (the sink's snapshot waits for its records' acknowledgements) or,
 * with execution.checkpointing.timeout=3s, fail and recover within
 * execution.checkpointing.tolerable-failed-checkpoints (or the job restarts by its restart
 * strategy from its latest checkpoint); it ends cleanly, and a read_committed read of the
 * output finds every input record exactly once.
 * Skips (77) when Kafka cannot run here (the reason tools/kafka.sh gives) or without WEIR_SRC.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "weir_test.h"

#include "kafka_fixture.h"

#define RECORDS  6000
#define PARTS    2
#define SLOW_US  3000 /* per record in the map: about 9 s of work per subtask at -p 2 */
#define WAIT_S   400  /* the job's end, generous: a restart and a loaded machine */
#define OUTAGE_S 10

static char kafka_sh[1024], state[1100];
static char in[256], out[256];
static _Atomic uint64_t mapped;

static int kafka(const char *cmd)
{
    char line[2400];
    snprintf(line, sizeof line, "WEIR_KAFKA_LIFETIME=900 bash %s %s %s >/dev/null", kafka_sh, cmd,
             state);
    return system(line);
}

static int slow_map(weir_ctx *ctx, const weir_rec *r, weir_emit *o)
{
    (void)ctx;
    usleep(SLOW_US);
    atomic_fetch_add(&mapped, 1);
    return weir_emit_forward(o, r);
}

/* The value of the Kafka record as the message's value. */
static int value_only(weir_ctx *ctx, const weir_rec *r, struct weir_kafka_msg *m, void *arg)
{
    (void)ctx;
    (void)arg;
    size_t n;
    m->value = weir_kafka_value((const struct weir_kafka_rec *)r->data, &n);
    m->value_len = n;
    return 0;
}

struct bg {
    weir_job *job;
    const char *const *defs;
    int rc;
    char err[512];
    struct weir_run_stats st;
    _Atomic bool done;
};

/* Checkpoints wait out the outage (a sink's snapshot waits for every record to be
 * acknowledged), or, with a timeout shorter than the outage, fail and the later ones recover
 * within tolerable-failed-checkpoints. */
static const char *const waiting[] = {"execution.checkpointing.interval=300ms",
                                      "execution.checkpointing.tolerable-failed-checkpoints=1000",
                                      "restart-strategy.type=fixed-delay",
                                      "restart-strategy.fixed-delay.attempts=20",
                                      "restart-strategy.fixed-delay.delay=2s",
                                      "pipeline.auto-watermark-interval=50ms",
                                      NULL};
static const char *const failing[] = {"execution.checkpointing.interval=300ms",
                                      "execution.checkpointing.timeout=3s",
                                      "execution.checkpointing.tolerable-failed-checkpoints=1000",
                                      "restart-strategy.type=fixed-delay",
                                      "restart-strategy.fixed-delay.attempts=20",
                                      "restart-strategy.fixed-delay.delay=2s",
                                      "pipeline.auto-watermark-interval=50ms",
                                      NULL};

static void *bg_main(void *arg)
{
    struct bg *b = arg;
    b->rc = wt_run(b->job, NULL, &(struct wt_run){.parallelism = 2, .defs = b->defs}, &b->st,
                   b->err, sizeof b->err);
    b->done = true;
    return NULL;
}

static char seen[RECORDS];
static size_t dups, strays;

static void on_read(const rd_kafka_message_t *m, void *arg)
{
    (void)arg;
    char buf[32];
    snprintf(buf, sizeof buf, "%.*s", (int)m->len, m->payload ? (const char *)m->payload : "");
    int v = atoi(buf);
    if (v < 0 || v >= RECORDS)
        strays++;
    else if (seen[v]++)
        dups++;
}

static void outage(const char *const *defs, bool must_fail_checkpoints)
{
    memset(seen, 0, sizeof seen);
    dups = strays = 0;
    atomic_store(&mapped, 0);
    wt_kafka_topic("outage-in", PARTS, in, sizeof in);
    wt_kafka_topic("outage-out", PARTS, out, sizeof out);
    rd_kafka_t *p = wt_kafka_producer();
    for (int i = 0; i < RECORDS; i++) {
        char v[16];
        snprintf(v, sizeof v, "%d", i);
        wt_kafka_produce(p, in, i % PARTS, NULL, v, strlen(v), 1000 + i);
    }
    wt_kafka_flush(p);
    wt_kafka_producer_free(p);

    struct bg b = {.job = weir_job_new("kafka-outage"), .defs = defs};
    struct weir_kafka_source_opts so = {
        .bootstrap = wt_kafka_bootstrap(), .topic = in, .bounded = true};
    char prefix[300];
    snprintf(prefix, sizeof prefix, "%s-tx", out);
    struct weir_kafka_sink_opts ko = {.bootstrap = wt_kafka_bootstrap(),
                                      .topic = out,
                                      .serialize = value_only,
                                      .delivery_guarantee = WEIR_KAFKA_EXACTLY_ONCE,
                                      .transactional_id_prefix = prefix};
    weir_sink_kafka(weir_map(weir_source_kafka(b.job, "src", &so), "slow", slow_map), "out", &ko);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, bg_main, &b), 0);

    /* under way: a sixth of the records through the map */
    time_t t0 = time(NULL);
    while (atomic_load(&mapped) < RECORDS / 6 && !b.done && time(NULL) - t0 < WAIT_S)
        usleep(50 * 1000);
    bool early = b.done || atomic_load(&mapped) >= RECORDS / 2;
    uint64_t at = atomic_load(&mapped);
    assert_int_equal(kafka("pause"), 0);
    printf("broker stopped after %llu records mapped\n", (unsigned long long)at);
    sleep(OUTAGE_S); /* the outage itself */
    int resumed = kafka("resume");
    printf("broker started again (%llu records mapped)\n",
           (unsigned long long)atomic_load(&mapped));
    while (!b.done && time(NULL) - t0 < WAIT_S)
        usleep(100 * 1000);
    bool ended = b.done;
    if (!ended)
        weir_job_cancel(b.job);
    pthread_join(th, NULL);
    weir_job_free(b.job);
    assert_int_equal(resumed, 0);
    if (!ended)
        fail_msg("the job did not end %d s after its start", WAIT_S);
    if (b.rc)
        fail_msg("the job failed: %s", b.err);
    printf("restarts %d, checkpoints completed %llu, failed %llu\n", b.st.restarts,
           (unsigned long long)b.st.checkpoints_completed,
           (unsigned long long)b.st.checkpoints_failed);
    if (early)
        fail_msg("the job was half done before the broker stopped: the outage tested nothing");
    if (must_fail_checkpoints && b.st.checkpoints_failed == 0 && b.st.restarts == 0)
        fail_msg("no checkpoint failed (timeout 3 s) in a 10 s outage: the outage tested nothing");

    size_t n = wt_kafka_read(out, 1, 120 * 1000, on_read, NULL);
    size_t missing = 0;
    for (int i = 0; i < RECORDS; i++)
        missing += !seen[i];
    if (missing || dups || strays || n != RECORDS)
        fail_msg("read_committed: %zu records, %zu missing, %zu duplicated, %zu not ours (%d "
                 "expected once each)",
                 n, missing, dups, strays, RECORDS);
}

static void broker_stopped_10s_checkpoints_wait(void **st)
{
    outage(waiting, false);
}

static void broker_stopped_10s_checkpoints_fail_and_recover(void **st)
{
    outage(failing, true);
}

static int stop_broker(void **st)
{
    (void)st; /* after the last test, passed or not */
    kafka("stop");
    return 0;
}

int main(void)
{
    const char *src = getenv("WEIR_SRC");
    if (!src || !*src) {
        printf("skip: WEIR_SRC (the source tree, for tools/kafka.sh) is not set: run through "
               "ctest\n");
        return 77;
    }
    snprintf(kafka_sh, sizeof kafka_sh, "%s/tools/kafka.sh", src);
    snprintf(state, sizeof state, "%s/k", wt_tmp_dir("kafka-outage"));
    if (kafka("start") != 0) {
        printf("tools/kafka.sh start %s failed\n", state);
        return 1;
    }
    setenv("WEIR_KAFKA_STATE", state, 1); /* the fixture's helpers, on this broker */
    wt_kafka_bootstrap();                 /* exits 77 with kafka.sh's reason */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(broker_stopped_10s_checkpoints_wait),
        cmocka_unit_test(broker_stopped_10s_checkpoints_fail_and_recover),
    };
    return cmocka_run_group_tests(tests, NULL, stop_broker);
}
