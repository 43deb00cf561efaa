/*
 * A Kafka sink whose topic does not exist fails at start, with one line naming the topic and
 * the option (issue 11), under each delivery guarantee: before, the job failed only when a
 * record's delivery timed out (about 30 s on), and a job that sent nothing ended "cleanly".
 * The jobs here send nothing (a bounded source on an empty topic), so only the start can tell.
 * Against the fixture's real broker (auto.create.topics.enable=false); skips (77) without one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "weir_test.h"

#include "kafka_fixture.h"

static void fails_at_start(enum weir_kafka_delivery g)
{
    char in[256], missing[128];
    wt_kafka_topic("sink-topic-in", 1, in, sizeof in);
    snprintf(missing, sizeof missing, "wt-no-such-topic-%ld-%d", (long)getpid(), (int)g);
    weir_job *job = weir_job_new("kafka-sink-missing-topic");
    struct weir_kafka_source_opts so = {
        .bootstrap = wt_kafka_bootstrap(), .topic = in, .bounded = true};
    struct weir_kafka_sink_opts ko = {
        .bootstrap = wt_kafka_bootstrap(), .topic = missing, .delivery_guarantee = g};
    weir_sink_kafka(weir_source_kafka(job, "src", &so), "out", &ko);
    char err[512] = "";
    const char *const defs[] = {"restart-strategy.type=none",
                                "execution.checkpointing.interval=200ms", NULL};
    int rc = wt_run(job, NULL, &(struct wt_run){.defs = defs}, NULL, err, sizeof err);
    weir_job_free(job);
    if (rc == 0)
        fail_msg("a sink to the missing topic %s ran without an error", missing);
    if (!strstr(err, missing) || !strstr(err, "opts.topic") || strchr(err, '\n'))
        fail_msg("the error does not name %s and opts.topic in one line: %s", missing, err);
}

static void at_least_once_missing_topic_fails_at_start(void **st)
{
    fails_at_start(WEIR_KAFKA_AT_LEAST_ONCE);
}

static void exactly_once_missing_topic_fails_at_start(void **st)
{
    fails_at_start(WEIR_KAFKA_EXACTLY_ONCE);
}

int main(void)
{
    wt_kafka_bootstrap();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(at_least_once_missing_topic_fails_at_start),
        cmocka_unit_test(exactly_once_missing_topic_fails_at_start),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
