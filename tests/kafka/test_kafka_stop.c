/*
 * Stop-with-savepoint into an exactly-once Kafka sink (issue 12), on the fixture's broker:
 * the job stopped mid-stream has committed (read_committed) exactly the lines its source read
 * before the savepoint, each once; resumed from the savepoint it commits the rest, each line
 * once in all. Skips (77) without a broker.
 */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <weir/kafka.h>

#include "weir_test.h"

#include "kafka_fixture.h"

#define LINES 20000

static int slow(weir_ctx *ctx, void *st, int input, const weir_rec *in, weir_emit *out)
{
    usleep(20); /* ~0.4 s in all: the stop comes mid-stream */
    return weir_emit_forward(out, in);
}

static const struct weir_operator_ops slow_ops = {.kind = "slow", .process = slow};

/* file source -> slow -> exactly-once Kafka sink into topic. */
static void run(const char *in, const char *topic, const char *chk, const char *from,
                struct wt_stopper *stop, struct weir_run_stats *st)
{
    weir_config *cfg = wt_config_new(WT_DEFS("execution.checkpointing.interval=100ms",
                                             "restart-strategy.type=none"));
    wt_config_set(cfg, "state.checkpoints.dir=%s", chk);
    wt_config_resolve(cfg);
    weir_job *job = weir_job_new("kafka-stop");
    struct weir_kafka_sink_opts ko = {.bootstrap = wt_kafka_bootstrap(),
                                      .topic = topic,
                                      .delivery_guarantee = WEIR_KAFKA_EXACTLY_ONCE,
                                      .transactional_id_prefix = topic};
    weir_stream *s = weir_transform(weir_source_file(job, "src", in), "slow", &slow_ops, NULL);
    weir_sink_kafka(s, "out", &ko);
    if (stop)
        wt_stopper_start(stop, job);
    wt_run_ok(job, cfg, &(struct wt_run){.restore_from = from}, st);
    if (stop)
        wt_stopper_join(stop);
    weir_job_free(job);
    weir_config_free(cfg);
}

static void count_line(const rd_kafka_message_t *m, void *arg)
{
    unsigned char *seen = arg;
    char v[32];
    int n;
    snprintf(v, sizeof v, "%.*s", (int)(m->len < 31 ? m->len : 31), (const char *)m->payload);
    if (sscanf(v, "line-%d", &n) != 1 || n < 0 || n >= LINES)
        fail_msg("a record that is no line of the input: %s", v);
    if (seen[n] < 255)
        seen[n]++;
}

/* The committed records of topic are lines 0 .. n-1, each once. */
static void assert_committed_prefix(const char *topic, uint64_t n)
{
    unsigned char *seen = calloc(LINES, 1);
    wt_kafka_read(topic, 1, 60 * 1000, count_line, seen);
    size_t twice = 0, wrong = 0;
    for (uint64_t i = 0; i < LINES; i++) {
        twice += seen[i] > 1;
        wrong += (i < n) != (seen[i] > 0);
    }
    free(seen);
    if (twice || wrong)
        fail_msg("committed in %s: %zu lines twice, %zu not in 0..%" PRIu64 " or missing", topic,
                 twice, wrong, n);
}

static void stop_commits_the_kafka_transactions_up_to_the_savepoint(void **state)
{
    char in[4096], topic[256];
    snprintf(in, sizeof in, "%s", wt_lines_file("kstop-in", LINES));
    wt_kafka_topic("stop", 1, topic, sizeof topic);
    const char *chk = wt_tmp_dir("kstop-chk");
    struct wt_stopper stop = {.dir = wt_tmp_dir("kstop-sp"), .after_ms = 250};
    struct weir_run_stats st;
    run(in, topic, chk, NULL, &stop, &st);
    wt_stopper_completed(&stop);
    if (st.source_records == 0 || st.source_records >= LINES)
        fail_msg("the stop came at %" PRIu64 " of %d lines: not mid-stream", st.source_records,
                 LINES);
    assert_committed_prefix(topic, st.source_records);

    uint64_t before = st.source_records;
    run(in, topic, chk, stop.result, NULL, &st);
    assert_int_equal(st.source_records, LINES - before);
    assert_committed_prefix(topic, LINES);
}

int main(void)
{
    wt_kafka_bootstrap();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(stop_commits_the_kafka_transactions_up_to_the_savepoint),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
