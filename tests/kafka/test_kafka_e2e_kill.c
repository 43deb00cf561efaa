/*
 * Kafka in and out, end to end, against a real broker (the kafka fixture): the kafka-window
 * built-in job (Kafka topic of 4 partitions, per-partition watermarks, event time from the
 * record timestamps -> key_by -> event-time tumbling window count -> Kafka sink) at -p 2 with
 * a checkpoint every 100 ms, driving the weir command as a person would.
 *
 * The input topic is produced once, up front: 50 keys spread over every partition, 20 windows
 * of 1 s of event time, read --bounded so that runs end. Runs that are to be killed pass
 * --rate 5000 (a map that holds the job to 5000 records/s), so that a kill lands mid-run on a
 * fast machine too; the last run of each series and the reference run go at full speed
 * (--rate 1G: the map stays, as the checkpoints hold its uid).
 *
 *  - exactly-once: killed with SIGKILL 12 times (at least 10 must land), at random moments and
 *    at the checkpoint's crash points (WEIR_CRASH_POINT snapshot:N, commit:N, completed:N),
 *    resumed each time with --from-checkpoint latest, then run to the end: a read_committed
 *    reader finds exactly the rows of a failure-free run, each once.
 *  - at-least-once: killed 4 times the same way: every row of the failure-free run is there
 *    (replays may write a row again, always with the same count).
 *
 * A longer soak (bench/kafka_e2e_soak.sh) runs the exactly-once series with more kills:
 * WEIR_E2E_KILLS=N (the plan below, repeated) and a larger input to match; WEIR_TEST_SEED
 * replays a seed. Runs the weir command ($WEIR); skips (77) without it, without a broker, and
 * under ThreadSanitizer (as the other fork-and-kill tests do).
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

#define PARTS    4
#define KEYS     50
#define MAX_ROWS (KEYS * 1000)
#define RATE     "5000" /* records/s of a run that is to be killed */
#define FAST     "1G"   /* records/s of the others: no limit */
#define BATCH    128    /* records a partition per Kafka batch of the input */

static const char *weir;
static const char *bootstrap;
static char in_topic[256];
static int per_part = 25000; /* records per partition */
static size_t windows = 20;  /* of 1 s: event time 1000 .. windows * 1000 + 999 ms */
static size_t rows_n = KEYS * 20;
static int soak_kills; /* WEIR_E2E_KILLS, 0: the CI plan */
static uint64_t rng;
static int64_t expected[MAX_ROWS]; /* each (key, window)'s count, from what was produced */

struct run {
    const char *out, *ck, *guarantee, *log;
    bool restore;
    const char *crash_point; /* WEIR_CRASH_POINT, or NULL */
    int kill_after_ms;       /* > 0: SIGKILL after this long */
    bool paced;              /* --rate RATE, else --rate FAST (the pace map stays: it is in
                                the checkpoints) */
};

/* Runs the job; returns its wait status. */
static int run_weir(const struct run *r)
{
    char ckdef[PATH_MAX + 64];
    snprintf(ckdef, sizeof ckdef, "state.checkpoints.dir=%s", r->ck);
    const char *argv[64];
    int a = 0;
    const char *pre[] = {weir, "run",
                         "-p", "2",
                         "-D", "metrics.reporter.prom.port=0",
                         "-D", "execution.checkpointing.interval=100ms",
                         "-D", "restart-strategy.type=none",
                         "-D", "weir.progress=never",
                         "-D", ckdef};
    for (size_t i = 0; i < sizeof pre / sizeof *pre; i++)
        argv[a++] = pre[i];
    if (r->restore) {
        argv[a++] = "--from-checkpoint";
        argv[a++] = "latest";
    }
    const char *job[] = {"kafka-window",
                         "--bootstrap",
                         bootstrap,
                         "--topic",
                         in_topic,
                         "--bounded",
                         "--window-ms",
                         "1000",
                         "--sink-topic",
                         r->out,
                         "--delivery-guarantee",
                         r->guarantee,
                         "--transactional-id-prefix",
                         r->out,
                         "--transaction-timeout-ms",
                         "600000",
                         "--property",
                         "fetch.message.max.bytes=1"};
    for (size_t i = 0; i < sizeof job / sizeof *job; i++)
        argv[a++] = job[i];
    argv[a++] = "--rate";
    argv[a++] = r->paced ? RATE : FAST;
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

/* What a read found: how often each (key, window) row came and its count. */
struct rows {
    unsigned reads[MAX_ROWS];
    int64_t count[MAX_ROWS];
    size_t other;  /* rows that are no (key, window) of the input */
    size_t differ; /* a row read again with another count */
};

static void collect(const rd_kafka_message_t *m, void *arg)
{
    struct rows *r = arg;
    char v[96];
    unsigned long long key;
    long long start, end, count;
    snprintf(v, sizeof v, "%.*s", (int)m->len, (const char *)m->payload);
    if (sscanf(v, "%llu,%lld,%lld,%lld", &key, &start, &end, &count) != 4 || key >= KEYS ||
        start % 1000 || end != start + 1000 || start < 1000 || start > (long long)windows * 1000) {
        r->other++;
        return;
    }
    size_t i = key * windows + (size_t)(start / 1000 - 1);
    if (r->reads[i]++ && r->count[i] != count)
        r->differ++;
    r->count[i] = count;
}

/* committed: read_committed, else read_uncommitted */
static struct rows *read_rows(const char *topic, int committed)
{
    struct rows *r = calloc(1, sizeof *r);
    assert_non_null(r);
    wt_kafka_read(topic, committed, 120 * 1000, collect, r);
    return r;
}

/* The input, once: record i of partition p has key (7i + p) mod KEYS as its value (the job
 * keys by it) and event time 1000 + i * windows * 1000 / per_part. Flushed every BATCH
 * records a partition, so that no Kafka batch holds more: with fetch.message.max.bytes=1
 * (one batch a partition a fetch) a subtask reads its two partitions in step. Else a fetch
 * brings a megabyte of one partition, which a paced run reads for seconds while its other
 * partition's watermark holds every window back, and a killed run writes nothing. */
static void produce_input(void)
{
    wt_kafka_topic("e2e-in", PARTS, in_topic, sizeof in_topic);
    rd_kafka_t *p = wt_kafka_producer();
    for (int i = 0; i < per_part; i++)
        for (int part = 0; part < PARTS; part++) {
            char v[16];
            int key = (i * 7 + part) % KEYS;
            int64_t ts = 1000 + (int64_t)i * (int64_t)windows * 1000 / per_part;
            snprintf(v, sizeof v, "%d", key);
            wt_kafka_produce(p, in_topic, part, NULL, v, strlen(v), ts);
            expected[(size_t)key * windows + (size_t)(ts / 1000 - 1)]++;
            if (part == PARTS - 1 && i % BATCH == BATCH - 1)
                wt_kafka_flush(p);
        }
    wt_kafka_flush(p);
    wt_kafka_producer_free(p);
}

/* The rows of a failure-free exactly-once run (computed once): each (key, window) once, with
 * the count the input holds. */
static struct rows *reference(void)
{
    static struct rows *ref;
    if (ref)
        return ref;
    char out[256], ck[PATH_MAX], log[PATH_MAX];
    wt_kafka_topic("e2e-ref", PARTS, out, sizeof out);
    const char *dir = wt_tmp_dir("kafka-e2e-ref");
    snprintf(ck, sizeof ck, "%s/ck", dir);
    snprintf(log, sizeof log, "%s/run.log", dir);
    int st = run_weir(&(struct run){.out = out, .ck = ck, .guarantee = "exactly-once", .log = log});
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        print_log(log);
        fail_msg("the failure-free run failed (status %d)", st);
    }
    ref = read_rows(out, 1);
    assert_int_equal(ref->other, 0);
    for (size_t i = 0; i < rows_n; i++)
        if (ref->reads[i] != 1 || ref->count[i] != expected[i])
            fail_msg("failure-free run: key %zu window %zu read %u times, count %lld, %lld "
                     "expected",
                     i / windows, i % windows, ref->reads[i], (long long)ref->count[i],
                     (long long)expected[i]);
    return ref;
}

/* Runs one plan item per kill ("random" or a crash point), then a run to the end at full
 * speed. Returns the kills that landed. */
static int run_with_kills(const char *out, const char *guarantee, const char *const *plan,
                          int n_plan, int kills_wanted)
{
    const char *dir = wt_tmp_dir("kafka-e2e-kill");
    char ck[PATH_MAX], log[PATH_MAX];
    snprintf(ck, sizeof ck, "%s/ck", dir);
    snprintf(log, sizeof log, "%s/run.log", dir);
    int kills = 0;
    for (int i = 0; i < kills_wanted; i++) {
        const char *what = plan[i % n_plan];
        bool random = !strcmp(what, "random");
        struct run r = {.out = out,
                        .ck = ck,
                        .guarantee = guarantee,
                        .log = log,
                        .restore = i > 0,
                        .crash_point = random ? NULL : what,
                        .kill_after_ms = random ? 500 + (int)(wt_rand(&rng) % 1500) : 0,
                        .paced = true};
        int st = run_weir(&r);
        if (killed(st)) {
            kills++;
        } else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            print_log(log);
            fail_msg("%s run %d (%s) failed (status %d)", guarantee, i + 1, what, st);
        }
    }
    /* the kills came while rows were being written (read_uncommitted: a killed run's open
     * transactions hold read_committed readers back until the next run starts) */
    struct rows *before = read_rows(out, 0);
    size_t written = 0;
    for (size_t i = 0; i < rows_n; i++)
        written += before->reads[i] > 0;
    free(before);
    print_message("%s: %zu of %zu rows written (committed or not) before the last run\n", guarantee,
                  written, rows_n);
    if (written == 0)
        fail_msg("%s: no row written before the last run: the kills came too early to test "
                 "anything",
                 guarantee);
    int st = run_weir(
        &(struct run){.out = out, .ck = ck, .guarantee = guarantee, .log = log, .restore = true});
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        print_log(log);
        fail_msg("%s final run failed (status %d)", guarantee, st);
    }
    return kills;
}

static void exactly_once_survives_kills(void **state)
{
    struct rows *ref = reference();
    static const char *const plan[] = {
        "completed:2", "snapshot:1",  "random", "completed:3", "commit:2", "random",
        "snapshot:3",  "completed:1", "random", "random",      "commit:4", "completed:4",
    };
    int n_plan = sizeof plan / sizeof *plan;
    int wanted = soak_kills ? soak_kills : n_plan;
    char out[256];
    wt_kafka_topic("e2e-eo", PARTS, out, sizeof out);
    int kills = run_with_kills(out, "exactly-once", plan, n_plan, wanted);
    struct rows *got = read_rows(out, 1);
    size_t wrong = 0, first = rows_n;
    for (size_t i = 0; i < rows_n; i++)
        if (got->reads[i] != 1 || got->count[i] != ref->count[i]) {
            wrong++;
            if (first == rows_n)
                first = i;
        }
    /* one line a soak can grep for */
    printf("kafka e2e exactly-once: %d of %d kills landed, %zu rows of %zu wrong, %zu unknown: "
           "%s\n",
           kills, wanted, wrong, rows_n, got->other, wrong || got->other ? "FAIL" : "ok");
    if (wrong)
        fail_msg("exactly-once: key %zu window %zu read %u times, count %lld (%lld in a "
                 "failure-free run) after %d kills",
                 first / windows, first % windows, got->reads[first], (long long)got->count[first],
                 (long long)ref->count[first], kills);
    assert_int_equal(got->other, 0);
    free(got);
    if (kills < wanted * 5 / 6)
        fail_msg("only %d of %d kills landed before runs finished", kills, wanted);
}

static void at_least_once_loses_nothing(void **state)
{
    struct rows *ref = reference();
    static const char *const plan[] = {"random", "completed:2", "random", "commit:2"};
    char out[256];
    wt_kafka_topic("e2e-alo", PARTS, out, sizeof out);
    int kills = run_with_kills(out, "at-least-once", plan, 4, 4);
    assert_true(kills >= 3);
    struct rows *got = read_rows(out, 1);
    size_t dups = 0;
    for (size_t i = 0; i < rows_n; i++) {
        if (got->reads[i] == 0 || got->count[i] != ref->count[i])
            fail_msg("at-least-once: key %zu window %zu read %u times, count %lld (%lld in a "
                     "failure-free run) after %d kills",
                     i / windows, i % windows, got->reads[i], (long long)got->count[i],
                     (long long)ref->count[i], kills);
        dups += got->reads[i] - 1u;
    }
    /* a replayed window fires again with the count it had: the same row */
    assert_int_equal(got->differ, 0);
    assert_int_equal(got->other, 0);
    print_message("at-least-once: %d kills, %zu rows written again\n", kills, dups);
    free(got);
}

int main(void)
{
#if defined(__SANITIZE_THREAD__)
    /* Every run is a ThreadSanitizer weir killed at random: slow, and the fork-and-kill tests
     * run in the plain and ASan builds. */
    printf("skip: the kill tests do not run under ThreadSanitizer\n");
    return 77;
#endif
    bootstrap = wt_kafka_bootstrap();
    weir = wt_weir_cmd(); /* exits 77 (skip) without $WEIR */
    const char *k = getenv("WEIR_E2E_KILLS");
    if (k && *k) {
        soak_kills = atoi(k);
        if (soak_kills < 1) {
            fprintf(stderr, "WEIR_E2E_KILLS=%s: expected a count above 0\n", k);
            return 1;
        }
        /* a killed run reads at most about 2 s at RATE: enough input that the last kill
         * still lands mid-run */
        if (soak_kills * 2500 > per_part)
            per_part = soak_kills * 2500;
        /* a window a second of a paced run, as in CI */
        windows = (size_t)per_part / 1250;
        if (windows > MAX_ROWS / KEYS) {
            fprintf(stderr, "WEIR_E2E_KILLS=%s: at most %d\n", k, MAX_ROWS / KEYS / 2);
            return 1;
        }
        rows_n = KEYS * windows;
    }
    rng = wt_seed((uint64_t)time(NULL));
    print_message("seed %llu (WEIR_TEST_SEED replays it)\n", (unsigned long long)rng);
    produce_input();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(exactly_once_survives_kills),
        cmocka_unit_test(at_least_once_loses_nothing),
    };
    if (soak_kills) /* the soak: the exactly-once series only */
        cmocka_set_test_filter("exactly_once_survives_kills");
    return cmocka_run_group_tests(tests, NULL, NULL);
}
