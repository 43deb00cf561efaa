/*
 * A bounded Kafka source (opts.bounded, --bounded) on a topic written by a transactional
 * producer ends (issue 11). Its stop offset is the partition's end (read_committed: the last
 * stable offset), and the last offset below it is a transaction marker (commit or abort), never
 * delivered as a record; the records of an aborted transaction are not delivered either. The
 * source used to wait for a record at that offset forever. Each case runs the job in a thread
 * and fails when it has not ended after WAIT_MS; the counts must be the committed records, each
 * once. Also kafka-count --bounded (the weir command, $WEIR) on such a topic: it exits 0 and
 * its window counts add up to the committed records. Skips (77) without a broker.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "weir_test.h"

#include "kafka_fixture.h"

#define WAIT_MS (90 * 1000) /* generous: the machine is loaded; a bounded run takes ~1 s */

static const char *const quick[] = {"restart-strategy.type=none",
                                    "pipeline.auto-watermark-interval=50ms", NULL};

/* --- a transactional producer ------------------------------------------------------------ */

static rd_kafka_t *txn_producer(const char *topic)
{
    static unsigned n;
    char id[400];
    snprintf(id, sizeof id, "%s-tx-%u", topic, n++);
    return wt_kafka_txn_producer(id);
}

static void txn_check(rd_kafka_error_t *e, const char *what)
{
    if (e)
        fail_msg("%s: %s", what, rd_kafka_error_string(e));
}

/* One transaction of n records "<from>" .. "<from + n - 1>" on partition, timestamps
 * 1000 + value; committed or aborted (after a flush: an abort purges what is queued). */
static void txn(rd_kafka_t *p, const char *topic, int partition, int from, int n, bool commit)
{
    txn_check(rd_kafka_begin_transaction(p), "begin_transaction");
    for (int i = 0; i < n; i++) {
        char v[32];
        snprintf(v, sizeof v, "%d", from + i);
        wt_kafka_produce(p, topic, partition, NULL, v, strlen(v), 1000 + from + i);
    }
    if (commit) {
        txn_check(rd_kafka_commit_transaction(p, 60 * 1000), "commit_transaction");
    } else {
        wt_kafka_flush(p);
        txn_check(rd_kafka_abort_transaction(p, 60 * 1000), "abort_transaction");
    }
}

static rd_kafka_t *consumer(const char *isolation)
{
    char err[512];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    if (rd_kafka_conf_set(c, "bootstrap.servers", wt_kafka_bootstrap(), err, sizeof err) ||
        rd_kafka_conf_set(c, "isolation.level", isolation, err, sizeof err))
        fail_msg("consumer config: %s", err);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof err);
    if (!rk)
        fail_msg("rd_kafka_new: %s", err);
    return rk;
}

/* Waits until every partition's last stable offset (a read_committed ListOffsets) is its high
 * watermark: commit_transaction and abort_transaction return before the broker has written
 * the transaction's markers, and until then a bounded run's stop offset (the last stable
 * offset at its start) is below the transaction, so it would not read that far. */
static void await_stable(const char *topic, int partitions)
{
    rd_kafka_t *rc = consumer("read_committed"), *ru = consumer("read_uncommitted");
    for (int p = 0; p < partitions; p++) {
        int64_t lo, lso = -1, hw = -2;
        for (int i = 0; i < 600 && lso != hw; i++) { /* 60 s */
            if (i)
                usleep(100 * 1000);
            if (rd_kafka_query_watermark_offsets(rc, topic, p, &lo, &lso, 10000) ||
                rd_kafka_query_watermark_offsets(ru, topic, p, &lo, &hw, 10000))
                lso = -1, hw = -2;
        }
        if (lso != hw)
            fail_msg("%s [%d]: last stable offset %lld, high watermark %lld after 60 s", topic, p,
                     (long long)lso, (long long)hw);
    }
    rd_kafka_destroy(rc);
    rd_kafka_destroy(ru);
}

/* --- a bounded job in a thread ----------------------------------------------------------- */

struct bg {
    weir_job *job;
    int parallelism;
    int rc;
    char err[512];
    _Atomic bool done;
};

static void *bg_main(void *arg)
{
    struct bg *b = arg;
    b->rc = wt_run(b->job, NULL, &(struct wt_run){.parallelism = b->parallelism, .defs = quick},
                   NULL, b->err, sizeof b->err);
    b->done = true;
    return NULL;
}

static long long ms_since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (t.tv_sec - t0->tv_sec) * 1000LL + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

/* Runs source -> collector 0 bounded at parallelism; fails when it does not end within
 * WAIT_MS. Every collected value is in [0, limit) and arrives once (seen[v] set). */
static size_t run_bounded(const char *topic, int parallelism, char *seen, int limit)
{
    wt_collect_reset();
    struct bg b = {.job = weir_job_new("kafka-bounded-txn"), .parallelism = parallelism};
    struct weir_kafka_source_opts o = {
        .bootstrap = wt_kafka_bootstrap(), .topic = topic, .bounded = true};
    wt_collect(weir_source_kafka(b.job, "src", &o), "out", 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, bg_main, &b), 0);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (!b.done && ms_since(&t0) < WAIT_MS)
        usleep(20 * 1000);
    bool ended = b.done;
    if (!ended)
        weir_job_cancel(b.job);
    pthread_join(th, NULL);
    weir_job_free(b.job);
    if (!ended)
        fail_msg("bounded run at -p %d on %s did not end in %d s (%zu records read)", parallelism,
                 topic, WAIT_MS / 1000, wt_collected(0));
    if (b.rc)
        fail_msg("bounded run: %s", b.err);
    memset(seen, 0, (size_t)limit);
    for (size_t i = 0; i < wt_collected(0); i++) {
        const struct weir_kafka_rec *k = (const void *)wt_out(0, i)->data;
        size_t n;
        const char *v = weir_kafka_value(k, &n);
        char buf[32];
        snprintf(buf, sizeof buf, "%.*s", (int)n, v);
        int x = atoi(buf);
        if (x < 0 || x >= limit || seen[x])
            fail_msg("value %d read twice or out of range", x);
        seen[x] = 1;
    }
    return wt_collected(0);
}

/* Two partitions, each ending with a commit marker. */
static void committed_transactions_end(void **st)
{
    char t[256], seen[200];
    wt_kafka_topic("txn-commit", 2, t, sizeof t);
    rd_kafka_t *p = txn_producer(t);
    txn(p, t, 0, 0, 40, true);
    txn(p, t, 1, 40, 30, true);
    txn(p, t, 0, 70, 20, true);
    rd_kafka_destroy(p);
    await_stable(t, 2);
    for (int par = 1; par <= 2; par++)
        assert_int_equal(run_bounded(t, par, seen, 200), 90);
}

/* Committed records, then an aborted transaction last on partition 0: its records and its
 * marker are below the stop offset and none is delivered. Partition 1 mixes a plain
 * (idempotent, not transactional) producer's records with a committed transaction. */
static void aborted_transaction_at_the_end(void **st)
{
    char t[256], seen[200];
    wt_kafka_topic("txn-abort", 2, t, sizeof t);
    rd_kafka_t *plain = wt_kafka_producer();
    for (int i = 0; i < 10; i++) {
        char v[32];
        snprintf(v, sizeof v, "%d", 100 + i);
        wt_kafka_produce(plain, t, 1, NULL, v, strlen(v), 1100 + i);
    }
    wt_kafka_flush(plain);
    wt_kafka_producer_free(plain);
    rd_kafka_t *p = txn_producer(t);
    txn(p, t, 0, 0, 50, true);
    txn(p, t, 1, 50, 5, true);
    txn(p, t, 0, 150, 30, false); /* aborted: values 150 .. 179 never read */
    rd_kafka_destroy(p);
    await_stable(t, 2);
    for (int par = 1; par <= 2; par++) {
        assert_int_equal(run_bounded(t, par, seen, 200), 65);
        for (int v = 150; v < 180; v++)
            assert_false(seen[v]);
    }
}

/* An aborted transaction alone: nothing to read, and the run still ends. */
static void only_aborted_records_end_with_none(void **st)
{
    char t[256], seen[200];
    wt_kafka_topic("txn-only-abort", 1, t, sizeof t);
    rd_kafka_t *p = txn_producer(t);
    txn(p, t, 0, 0, 25, false);
    rd_kafka_destroy(p);
    await_stable(t, 1);
    assert_int_equal(run_bounded(t, 1, seen, 200), 0);
}

/* --- kafka-count, the weir command -------------------------------------------------------- */

static void kafka_count_bounded_ends_with_the_committed_counts(void **st)
{
    const char *weir = getenv("WEIR");
    if (!weir || !*weir)
        skip(); /* run through ctest */
    char t[256];
    wt_kafka_topic("txn-count", 3, t, sizeof t);
    rd_kafka_t *p = txn_producer(t);
    for (int part = 0; part < 3; part++)
        txn(p, t, part, part * 100, 100, true);
    txn(p, t, 2, 1000, 40, false);
    rd_kafka_destroy(p);
    await_stable(t, 3);

    const char *dir = wt_tmp_dir("kafka-bounded-txn");
    char out[1100], ck[1100], log[1100];
    snprintf(out, sizeof out, "%s/out", dir);
    snprintf(ck, sizeof ck, "state.checkpoints.dir=%s/ck", dir);
    snprintf(log, sizeof log, "%s/run.log", dir);
    const char *argv[] = {weir,
                          "run",
                          "-p",
                          "2",
                          "-D",
                          "metrics.reporter.prom.port=0",
                          "-D",
                          ck,
                          "-D",
                          "weir.progress=never",
                          "kafka-count",
                          "--bootstrap",
                          wt_kafka_bootstrap(),
                          "--topic",
                          t,
                          "--bounded",
                          out,
                          NULL};
    pid_t pid = wt_weir_start(argv, log, NULL);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int status = 0;
    pid_t w;
    while ((w = waitpid(pid, &status, WNOHANG)) == 0 && ms_since(&t0) < WAIT_MS)
        usleep(50 * 1000);
    if (w == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        fail_msg("kafka-count --bounded on %s did not end in %d s (log: %s)", t, WAIT_MS / 1000,
                 log);
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("kafka-count --bounded: status %d (log: %s)", status, log);
    /* key,start,end,count: the counts add up to the 300 committed records */
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "cat %s/part-*.csv | awk -F, '{s += $4} END {print s + 0}'", out);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    long sum = -1;
    assert_int_equal(fscanf(f, "%ld", &sum), 1);
    pclose(f);
    assert_int_equal(sum, 300);
}

int main(void)
{
    wt_kafka_bootstrap();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(committed_transactions_end),
        cmocka_unit_test(aborted_transaction_at_the_end),
        cmocka_unit_test(only_aborted_records_end_with_none),
        cmocka_unit_test(kafka_count_bounded_ends_with_the_committed_counts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
