/*
 * The Kafka sink against a real broker (the kafka fixture), driving the weir command as a
 * person would: datagen -> key_by -> Kafka (datagen-kafka) at parallelism 2, checkpoints
 * every 100 ms.
 *
 *  - exactly-once: killed with SIGKILL 12 times (at least 10 must land), at random moments
 *    and at the checkpoint's crash points (WEIR_CRASH_POINT snapshot:N, commit:N, and
 *    completed:N, the hard one: _metadata durable, the Kafka transaction not committed),
 *    resumed each time with --from-checkpoint latest; a read_committed reader then finds
 *    exactly the rows of a failure-free run, each once.
 *  - at-least-once: killed 4 times the same way; nothing is lost.
 *  - a producer killed in the middle of a transaction blocks read_committed readers of its
 *    partitions (transaction.timeout.ms is 10 minutes here), until the job is restored and
 *    its transactional ids are initialised again: then a record produced after it is read.
 *  - transaction.timeout.ms above the broker's transaction.max.timeout.ms: the job fails at
 *    start with one line that names transaction.timeout.ms.
 * Skips (77) without a broker.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "weir_test.h"

#include "kafka_fixture.h"

#define N     30000
#define PARTS 4

static const char *bootstrap;
static uint64_t rng;

struct run {
    const char *topic, *ck, *guarantee;
    bool restore;
    const char *crash_point; /* WEIR_CRASH_POINT, or NULL */
    int kill_after_ms;       /* > 0: SIGKILL after this long */
    const char *records;     /* NULL: N */
    const char *tto;         /* --transaction-timeout-ms, NULL: 600000 */
    const char *log;
};

/* Runs the job; returns its wait status. */
static int run_weir(const struct run *r)
{
    char ckdef[PATH_MAX + 64], records[32];
    snprintf(ckdef, sizeof ckdef, "state.checkpoints.dir=%s", r->ck);
    snprintf(records, sizeof records, "%d", N);
    const char *argv[64];
    int a = 0;
    const char *pre[] = {wt_weir_cmd(), "run",
                         "-p",          "2",
                         "-D",          "metrics.reporter.prom.port=0",
                         "-D",          "execution.checkpointing.interval=100ms",
                         "-D",          "restart-strategy.type=none",
                         "-D",          "weir.progress=never",
                         "-D",          ckdef};
    for (size_t i = 0; i < sizeof pre / sizeof *pre; i++)
        argv[a++] = pre[i];
    if (r->restore) {
        argv[a++] = "--from-checkpoint";
        argv[a++] = "latest";
    }
    const char *job[] = {"datagen-kafka",
                         "--records",
                         r->records ? r->records : records,
                         "--keys",
                         "100",
                         "--rate",
                         "1500",
                         "--bootstrap",
                         bootstrap,
                         "--topic",
                         r->topic,
                         "--delivery-guarantee",
                         r->guarantee,
                         "--transactional-id-prefix",
                         r->topic,
                         "--transaction-timeout-ms",
                         r->tto ? r->tto : "600000"};
    for (size_t i = 0; i < sizeof job / sizeof *job; i++)
        argv[a++] = job[i];
    argv[a] = NULL;
    return wt_weir_wait(wt_weir_start(argv, r->log, r->crash_point), r->kill_after_ms);
}

static void print_log(const char *log)
{
    FILE *f = fopen(log, "r");
    char line[1024];
    while (f && fgets(line, sizeof line, f))
        fprintf(stderr, "    %s", line);
    if (f)
        fclose(f);
}

static bool killed(int st)
{
    return WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL;
}

/* What a read found: how often each seq came, and its value text. */
struct rows {
    unsigned char count[N];
    char value[N][64];
    size_t other; /* the markers of the blocking test */
};

static void collect(const rd_kafka_message_t *m, void *arg)
{
    struct rows *r = arg;
    char v[64];
    unsigned long long seq;
    snprintf(v, sizeof v, "%.*s", (int)m->len, (const char *)m->payload);
    if (!strcmp(v, "marker")) {
        r->other++;
        return;
    }
    if (sscanf(v, "%llu,", &seq) != 1 || seq >= N)
        return; /* a longer run's (the blocking test) */
    if (r->count[seq] < 255)
        r->count[seq]++;
    snprintf(r->value[seq], sizeof r->value[seq], "%s", v);
}

static struct rows *read_rows(const char *topic)
{
    struct rows *r = calloc(1, sizeof *r);
    wt_kafka_read(topic, 1, 120 * 1000, collect, r);
    return r;
}

/* The rows of a failure-free exactly-once run (computed once). */
static struct rows *reference(void)
{
    static struct rows *ref;
    if (ref)
        return ref;
    char topic[256], log[PATH_MAX];
    wt_kafka_topic("ref", PARTS, topic, sizeof topic);
    const char *dir = wt_tmp_dir("kafka-ref");
    snprintf(log, sizeof log, "%s/run.log", dir);
    int st =
        run_weir(&(struct run){.topic = topic, .ck = dir, .guarantee = "exactly-once", .log = log});
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        print_log(log);
        fail_msg("the failure-free run failed");
    }
    ref = read_rows(topic);
    for (size_t i = 0; i < N; i++)
        if (ref->count[i] != 1)
            fail_msg("failure-free run: seq %zu read %d times", i, ref->count[i]);
    return ref;
}

/* Runs one plan item per kill ("random" or a crash point), then a run to the end. Returns
 * the kills that landed. */
static int run_with_kills(const char *topic, const char *guarantee, const char *const *plan,
                          int n_plan)
{
    const char *dir = wt_tmp_dir("kafka-kill");
    char ck[PATH_MAX], log[PATH_MAX];
    snprintf(ck, sizeof ck, "%s/ck", dir);
    snprintf(log, sizeof log, "%s/run.log", dir);
    int kills = 0;
    bool restore = false;
    for (int i = 0; i < n_plan; i++) {
        bool random = !strcmp(plan[i], "random");
        struct run r = {.topic = topic,
                        .ck = ck,
                        .guarantee = guarantee,
                        .restore = restore,
                        .crash_point = random ? NULL : plan[i],
                        .kill_after_ms = random ? 500 + (int)(wt_rand(&rng) % 1500) : 0,
                        .log = log};
        int st = run_weir(&r);
        if (killed(st)) {
            kills++;
        } else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            print_log(log);
            fail_msg("%s run %d (%s) failed", guarantee, i + 1, plan[i]);
        }
        restore = true;
    }
    int st = run_weir(&(struct run){
        .topic = topic, .ck = ck, .guarantee = guarantee, .restore = true, .log = log});
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        print_log(log);
        fail_msg("%s final run failed", guarantee);
    }
    return kills;
}

static void exactly_once_survives_kills(void **state)
{
    struct rows *ref = reference();
    static const char *const plan[] = {
        "completed:2", "random",      "random", "completed:3", "commit:2", "random",
        "snapshot:3",  "completed:1", "random", "random",      "commit:4", "completed:4",
    };
    char topic[256];
    wt_kafka_topic("eo-kill", PARTS, topic, sizeof topic);
    int kills = run_with_kills(topic, "exactly-once", plan, sizeof plan / sizeof *plan);
    print_message("exactly-once: %d kills\n", kills);
    assert_true(kills >= 10);
    struct rows *got = read_rows(topic);
    for (size_t i = 0; i < N; i++) {
        if (got->count[i] != 1) {
            int c = got->count[i];
            free(got);
            fail_msg("exactly-once: seq %zu read %d times after %d kills", i, c, kills);
        }
        assert_string_equal(got->value[i], ref->value[i]);
    }
    assert_int_equal(got->other, 0);
    free(got);
}

/* Restored from a checkpoint whose transaction never committed (completed:3), the sink sends
 * that transaction's records again; killed once more before the next checkpoint completes
 * (snapshot:1 of the restored run), the following restore comes from the same checkpoint
 * and must not send them a second time (it did: seen as "seq 106 read 2 times" in CI). */
static void resent_transaction_survives_a_second_kill(void **state)
{
    struct rows *ref = reference();
    static const char *const plan[] = {"completed:3", "snapshot:1", "completed:2", "commit:1"};
    char topic[256];
    wt_kafka_topic("eo-resend", PARTS, topic, sizeof topic);
    int kills = run_with_kills(topic, "exactly-once", plan, sizeof plan / sizeof *plan);
    assert_int_equal(kills, 4);
    struct rows *got = read_rows(topic);
    for (size_t i = 0; i < N; i++) {
        if (got->count[i] != 1) {
            int c = got->count[i];
            free(got);
            fail_msg("exactly-once: seq %zu read %d times after a second kill", i, c);
        }
        assert_string_equal(got->value[i], ref->value[i]);
    }
    free(got);
}

static void at_least_once_loses_nothing(void **state)
{
    static const char *const plan[] = {"random", "completed:2", "random", "commit:2"};
    char topic[256];
    wt_kafka_topic("alo-kill", PARTS, topic, sizeof topic);
    int kills = run_with_kills(topic, "at-least-once", plan, sizeof plan / sizeof *plan);
    assert_true(kills >= 3);
    struct rows *got = read_rows(topic);
    size_t dups = 0;
    for (size_t i = 0; i < N; i++) {
        if (got->count[i] == 0)
            fail_msg("at-least-once: seq %zu lost after %d kills", i, kills);
        dups += got->count[i] - 1u;
    }
    print_message("at-least-once: %d kills, %zu duplicates\n", kills, dups);
    free(got);
}

static void killed_transaction_does_not_block_readers_after_restore(void **state)
{
    char topic[256], log[PATH_MAX];
    wt_kafka_topic("eo-block", PARTS, topic, sizeof topic);
    const char *dir = wt_tmp_dir("kafka-block");
    snprintf(log, sizeof log, "%s/run.log", dir);
    char ck[PATH_MAX];
    snprintf(ck, sizeof ck, "%s/ck", dir);
    /* killed once checkpoint 3 is durable and before its transactions commit: they linger
     * on the broker, open, whatever the machine's speed */
    int st = run_weir(&(struct run){.topic = topic,
                                    .ck = ck,
                                    .guarantee = "exactly-once",
                                    .records = "1000000",
                                    .crash_point = "completed:3",
                                    .log = log});
    assert_true(killed(st));
    rd_kafka_t *p = wt_kafka_producer();
    for (int i = 0; i < PARTS; i++)
        wt_kafka_produce(p, topic, i, NULL, "marker", 6, 0);
    wt_kafka_flush(p);
    struct rows *before = read_rows(topic);
    /* the lingering transactions hold the last stable offset below the markers */
    if (before->other != 0)
        fail_msg("%zu markers read while the killed job's transactions were open: the test "
                 "cannot show what a restore changes",
                 before->other);
    st = run_weir(&(struct run){.topic = topic,
                                .ck = ck,
                                .guarantee = "exactly-once",
                                .restore = true,
                                .records = "1000000",
                                .kill_after_ms = 0,
                                .log = log,
                                .crash_point = "completed:2"});
    /* the restored job initialised its transactional ids before it was killed again, at
     * its second checkpoint */
    assert_true(killed(st));
    struct rows *after = read_rows(topic);
    size_t markers = after->other;
    if (markers != PARTS) {
        print_log(log);
        fail_msg("%zu of %d markers read after the restore", markers, PARTS);
    }
    free(before);
    free(after);
    wt_kafka_producer_free(p);
}

static void transaction_timeout_above_broker_max_names_the_key(void **state)
{
    char topic[256], log[PATH_MAX];
    wt_kafka_topic("eo-timeout", 1, topic, sizeof topic);
    const char *dir = wt_tmp_dir("kafka-timeout");
    snprintf(log, sizeof log, "%s/run.log", dir);
    int st = run_weir(&(struct run){
        .topic = topic, .ck = dir, .guarantee = "exactly-once", .tto = "3600000", .log = log});
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) != 0);
    FILE *f = fopen(log, "r");
    char line[2048];
    int lines = 0, named = 0;
    while (f && fgets(line, sizeof line, f)) {
        if (strstr(line, "transaction.timeout.ms: 3600000 is above"))
            named++;
        lines++;
    }
    if (f)
        fclose(f);
    if (named != 1) {
        print_log(log);
        fail_msg("no one line naming transaction.timeout.ms 3600000");
    }
}

int main(void)
{
    bootstrap = wt_kafka_bootstrap();
    wt_weir_cmd();
    rng = wt_seed((uint64_t)time(NULL));
    print_message("seed %llu (WEIR_TEST_SEED replays it)\n", (unsigned long long)rng);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(transaction_timeout_above_broker_max_names_the_key),
        cmocka_unit_test(killed_transaction_does_not_block_readers_after_restore),
        cmocka_unit_test(resent_transaction_survives_a_second_kill),
        cmocka_unit_test(exactly_once_survives_kills),
        cmocka_unit_test(at_least_once_loses_nothing),
    };
    if (getenv("WEIR_TEST_FILTER")) /* one test by name (a glob), as when replaying a seed */
        cmocka_set_test_filter(getenv("WEIR_TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
