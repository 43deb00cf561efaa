/*
 * records-lag-max (LAG_MAX) and pendingRecords (PENDING: the partitions' lags summed, here one
 * partition's) on the Prometheus endpoint follow a consumer that falls behind (issue 11): an
 * in-process job reads a topic through a slow map (at most 1000 records/s: the sleep bounds
 * it, however fast the machine), the test produces records much faster than that, and the
 * metrics must rise from 0 to well above 1000, then fall back to 0 once production stopped
 * and the job caught up; also after transactions, whose last
 * offset is a marker no consumer receives. Waits for conditions, generous bounds.
 * Skips (77) without a broker or curl.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "weir_test.h"

#include "kafka_fixture.h"

#define RECORDS 5000
#define SLOW_US 1000 /* per record in the map */
#define WAIT_S  180

/* Flink's names: the KafkaSourceReader's, and the source's pendingRecords */
#define KAFKA_SOURCE "flink_taskmanager_job_task_operator_KafkaSourceReader_KafkaConsumer_"
#define LAG_MAX      KAFKA_SOURCE "records_lag_max"
#define CONSUMED     KAFKA_SOURCE "records_consumed_total"
#define PENDING      "flink_taskmanager_job_task_operator_pendingRecords"

static char url[128];

/* The sum of every series of metric name, or -1 when the endpoint does not answer or has
 * none. */
static double scrape(const char *name)
{
    char cmd[256], line[2048];
    snprintf(cmd, sizeof cmd, "curl -s --max-time 5 %s", url);
    FILE *f = popen(cmd, "r");
    if (!f)
        return -1;
    double sum = -1;
    size_t nl = strlen(name);
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, name, nl) || line[nl] != '{')
            continue;
        char *sp = strrchr(line, ' ');
        sum = (sum < 0 ? 0 : sum) + (sp ? atof(sp + 1) : 0);
    }
    pclose(f);
    return sum;
}

/* A port free now (the kernel's pick), for the job's endpoint. */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

static int slow_map(weir_ctx *ctx, const weir_rec *r, weir_emit *o)
{
    (void)ctx;
    usleep(SLOW_US);
    return weir_emit_forward(o, r);
}

struct bg {
    weir_job *job;
    const char *const *defs;
    int rc;
    char err[512];
    _Atomic bool done;
};

static void *bg_main(void *arg)
{
    struct bg *b = arg;
    b->rc = wt_run(b->job, NULL, &(struct wt_run){.parallelism = 1, .defs = b->defs}, NULL, b->err,
                   sizeof b->err);
    b->done = true;
    return NULL;
}

/* Waits until metric name's value satisfies cmp against v (>=: ge, else ==). */
static double wait_metric(struct bg *b, time_t t0, const char *name, bool ge, double v)
{
    double got = -1;
    while (!b->done && time(NULL) - t0 < WAIT_S) {
        got = scrape(name);
        if (ge ? got >= v : got == v)
            return got;
        usleep(100 * 1000);
    }
    weir_job_cancel(b->job);
    fail_msg("%s: %g, waited %d s for %s %g (job %s)", name, got, WAIT_S, ge ? ">=" : "==", v,
             b->done ? "ended" : "running");
    return got;
}

struct job {
    struct bg b;
    pthread_t th;
    char port[64];
    const char *defs[4];
};

/* topic -> slow map -> collector 0 at -p 1, unbounded, its endpoint at url. */
static void job_start(struct job *j, const char *topic)
{
    int pn = free_port();
    snprintf(j->port, sizeof j->port, "metrics.reporter.prom.port=%d", pn);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/metrics", pn);
    j->defs[0] = j->port;
    j->defs[1] = "pipeline.auto-watermark-interval=50ms";
    j->defs[2] = "restart-strategy.type=none";
    j->defs[3] = NULL;
    wt_collect_reset();
    j->b = (struct bg){.job = weir_job_new("kafka-lag"), .defs = j->defs};
    struct weir_kafka_source_opts o = {.bootstrap = wt_kafka_bootstrap(), .topic = topic};
    wt_collect(weir_map(weir_source_kafka(j->b.job, "src", &o), "slow", slow_map), "out", 0);
    assert_int_equal(pthread_create(&j->th, NULL, bg_main, &j->b), 0);
}

static void job_stop(struct job *j)
{
    weir_job_cancel(j->b.job);
    pthread_join(j->th, NULL);
    weir_job_free(j->b.job);
    if (j->b.rc)
        fail_msg("job: %s", j->b.err);
}

static void lag_max_rises_then_falls_to_zero(void **st)
{
    char t[256];
    wt_kafka_topic("lag", 1, t, sizeof t);
    struct job j;
    job_start(&j, t);
    time_t t0 = time(NULL);

    /* nothing to read yet: lag 0 */
    wait_metric(&j.b, t0, LAG_MAX, false, 0);
    rd_kafka_t *p = wt_kafka_producer();
    for (int i = 0; i < RECORDS; i++)
        wt_kafka_produce(p, t, 0, NULL, "x", 1, 0);
    wt_kafka_flush(p);
    wt_kafka_producer_free(p);
    /* produced within a few seconds, read at most 1000/s: far behind */
    double high = wait_metric(&j.b, t0, LAG_MAX, true, 1000);
    printf("records-lag-max rose to %g\n", high);
    wait_metric(&j.b, t0, PENDING, true, 1000);
    /* production stopped: caught up, back to 0 */
    wait_metric(&j.b, t0, CONSUMED, false, RECORDS);
    wait_metric(&j.b, t0, LAG_MAX, false, 0);
    wait_metric(&j.b, t0, PENDING, false, 0);
    printf("back to 0 after %ld s\n", (long)(time(NULL) - t0));
    job_stop(&j);
    assert_int_equal(wt_collected(0), RECORDS);
}

/* A transactional producer's partition ends with a marker, never delivered: the lag must
 * still come back to 0 (it stayed at 1, the marker, before the position moved past markers
 * at partition EOF), also after an aborted transaction. */
static void lag_max_back_to_zero_after_transactions(void **st)
{
    char t[256], id[300];
    wt_kafka_topic("lag-txn", 1, t, sizeof t);
    struct job j;
    job_start(&j, t);
    time_t t0 = time(NULL);
    wait_metric(&j.b, t0, LAG_MAX, false, 0);
    snprintf(id, sizeof id, "%s-tx", t);
    rd_kafka_t *p = wt_kafka_txn_producer(id);
    for (int n = 0; n < 4; n++) {
        assert_null(rd_kafka_begin_transaction(p));
        for (int i = 0; i < 10; i++)
            wt_kafka_produce(p, t, 0, NULL, "x", 1, 0);
        wt_kafka_flush(p);
        if (n == 3) /* the last one aborted */
            assert_null(rd_kafka_abort_transaction(p, 60 * 1000));
        else
            assert_null(rd_kafka_commit_transaction(p, 60 * 1000));
    }
    rd_kafka_destroy(p);
    wait_metric(&j.b, t0, CONSUMED, false, 30);
    wait_metric(&j.b, t0, LAG_MAX, false, 0);
    job_stop(&j);
    assert_int_equal(wt_collected(0), 30);
}

int main(void)
{
    wt_kafka_bootstrap();
    if (system("command -v curl >/dev/null 2>&1") != 0) {
        printf("skip: no curl on PATH\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(lag_max_rises_then_falls_to_zero),
        cmocka_unit_test(lag_max_back_to_zero_after_transactions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
