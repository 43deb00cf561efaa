/*
 * The Kafka source's metrics on the Prometheus endpoint of a running kafka-count ($WEIR):
 * records consumed, per-partition current and committed offsets (committed when a checkpoint
 * completes), per-partition records-lag and records-lag-max back at 0 once everything is
 * read, and all of it moving when more records arrive, under the names Flink's
 * KafkaSourceReader has (tests/metrics/flink_names.txt). Skips (77) without a broker or WEIR.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "weir_test.h"

#include "kafka_fixture.h"

static const char *weir;
static char topic[256], url[256], log_path[1024];

static void produce(int partition, int n)
{
    rd_kafka_t *p = wt_kafka_producer();
    for (int i = 0; i < n; i++)
        wt_kafka_produce(p, topic, partition, NULL, "7", 1, 0);
    wt_kafka_flush(p);
    wt_kafka_producer_free(p);
}

/* The sum of every series of metric name whose labels hold `with` (NULL: all), or -1 when
 * the endpoint does not answer or has none. */
static double scrape(const char *name, const char *with)
{
    char cmd[512], line[2048];
    snprintf(cmd, sizeof cmd, "curl -s --max-time 5 %s", url);
    FILE *f = popen(cmd, "r");
    if (!f)
        return -1;
    double sum = -1;
    size_t nl = strlen(name);
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, name, nl) || line[nl] != '{' || (with && !strstr(line, with)))
            continue;
        char *sp = strrchr(line, ' ');
        sum = (sum < 0 ? 0 : sum) + (sp ? atof(sp + 1) : 0);
    }
    pclose(f);
    return sum;
}

struct want {
    const char *name, *with;
    double value;
};

/* Waits (at most 90 s) until every want holds. */
static void wait_metrics(const struct want *w, size_t n)
{
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        size_t ok = 0;
        double got = 0;
        for (; ok < n; ok++)
            if ((got = scrape(w[ok].name, w[ok].with)) != w[ok].value)
                break;
        if (ok == n)
            return;
        clock_gettime(CLOCK_MONOTONIC, &t);
        if (t.tv_sec - t0.tv_sec > 90)
            fail_msg("%s{%s}: %g after 90 s, expected %g", w[ok].name, w[ok].with ? w[ok].with : "",
                     got, w[ok].value);
        usleep(200 * 1000);
    }
}

/* Every name tests/metrics/flink_names.txt says the Kafka source exports (Flink's
 * KafkaSourceReader names) is on the endpoint. */
static void flink_kafka_names_exported(void)
{
    const char *src = getenv("WEIR_SRC");
    char path[1024], line[512], name[256], scope[64], by[64];
    snprintf(path, sizeof path, "%s/tests/metrics/flink_names.txt", src ? src : ".");
    FILE *f = fopen(path, "r");
    if (!f)
        fail_msg("%s: cannot open (WEIR_SRC)", path);
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#' || sscanf(line, "%255s %63s %63s", name, scope, by) != 3 ||
            strcmp(by, "kafka-source") != 0)
            continue;
        if (scrape(name, NULL) < 0)
            fail_msg("%s (tests/metrics/flink_names.txt, kafka-source) is not exported", name);
        n++;
    }
    fclose(f);
    assert_true(n >= 5);
}

static void consumed_lag_and_committed_offsets(void **st)
{
    wt_kafka_topic("metrics", 3, topic, sizeof topic);
    for (int p = 0; p < 3; p++)
        produce(p, 100 * (p + 1));
    const char *dir = wt_tmp_dir("kafka-metrics");
    char out[1100], ck[1100];
    snprintf(out, sizeof out, "%s/out", dir);
    snprintf(ck, sizeof ck, "state.checkpoints.dir=%s/ck", dir);
    snprintf(log_path, sizeof log_path, "%s/run.log", dir);
    const char *argv[] = {weir,
                          "run",
                          "-p",
                          "2",
                          "-D",
                          "metrics.reporter.prom.port=20000-40000",
                          "-D",
                          "execution.checkpointing.interval=200ms",
                          "-D",
                          ck,
                          "-D",
                          "weir.progress=never",
                          "kafka-count",
                          "--bootstrap",
                          wt_kafka_bootstrap(),
                          "--topic",
                          topic,
                          out,
                          NULL};
    pid_t pid = wt_weir_start(argv, log_path, NULL);
    /* its endpoint, from the line "weir: metrics: URL" */
    for (int i = 0; i < 900 && !url[0]; i++) {
        usleep(100 * 1000);
        FILE *f = fopen(log_path, "r");
        char line[512];
        while (f && fgets(line, sizeof line, f))
            if (sscanf(line, "weir: metrics: %255s", url) == 1)
                break;
        if (f)
            fclose(f);
    }
    if (!url[0]) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        fail_msg("no \"weir: metrics:\" line in %s after 90 s", log_path);
    }
    const struct want first[] = {
        {"flink_taskmanager_job_task_operator_KafkaSourceReader_KafkaConsumer_records_consumed_total", NULL, 600},
        {"flink_taskmanager_job_task_operator_KafkaSourceReader_topic_partition_currentOffset", "partition=\"2\"", 300},
        {"flink_taskmanager_job_task_operator_KafkaSourceReader_topic_partition_committedOffset", "partition=\"0\"", 100},
        {"flink_taskmanager_job_task_operator_KafkaSourceReader_topic_partition_committedOffset", "partition=\"1\"", 200},
        {"flink_taskmanager_job_task_operator_KafkaSourceReader_topic_partition_committedOffset", "partition=\"2\"", 300},
        {"weir_operator_KafkaSourceReader_topic_partition_recordsLag", NULL, 0},
        {"flink_taskmanager_job_task_operator_KafkaSourceReader_KafkaConsumer_records_lag_max", NULL, 0},
    };
    wait_metrics(first, sizeof first / sizeof *first);
    flink_kafka_names_exported();
    produce(1, 50);
    const struct want more[] = {
        {"flink_taskmanager_job_task_operator_KafkaSourceReader_KafkaConsumer_records_consumed_total", NULL, 650},
        {"flink_taskmanager_job_task_operator_KafkaSourceReader_topic_partition_committedOffset", "partition=\"1\"", 250},
        {"flink_taskmanager_job_task_operator_KafkaSourceReader_KafkaConsumer_records_lag_max", NULL, 0},
    };
    wait_metrics(more, sizeof more / sizeof *more);
    kill(pid, SIGTERM);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

int main(void)
{
    wt_kafka_bootstrap();
    weir = wt_weir_cmd(); /* exits 77 (skip) without $WEIR */
    if (system("command -v curl >/dev/null 2>&1") != 0) {
        printf("skip: no curl on PATH\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(consumed_lag_and_committed_offsets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
