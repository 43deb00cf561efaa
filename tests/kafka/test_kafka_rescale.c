/*
 * Kafka state at another parallelism.
 *
 * The Kafka source's offsets follow their partitions to another parallelism (union list
 * state, kafka_positions.c): a topic of 5 partitions, the kafka-count built-in job (keyed
 * event-time window counts, exactly-once file sink) at -p 2 with a checkpoint every 100 ms,
 * killed with SIGKILL once a checkpoint completed, resumed from it at -p 3, killed the same
 * way, and resumed at -p 1 to the end. Each partition is read by another subtask after each
 * restore; the committed output must equal a failure-free run's, row for row (a partition
 * that started over, or at the offset of the wrong partition, shows as a wrong count).
 *
 * The exactly-once Kafka sink's pending transactions follow too (datagen-kafka, below): every
 * record is committed once after -p 2 -> 3 -> 1, each run killed with transactions open, and
 * after -p 2 -> 3 -> 1, each run stopped with a savepoint (weir stop --savepointPath).
 * Runs the weir command ($WEIR); skips (77) without it or without a broker.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "weir_test.h"

#include "kafka_fixture.h"

#define PARTITIONS 5
/* Long enough that each killed run is still reading when its first checkpoint completes: at
 * 100,000 a quiet machine read the rest at -p 3 (2.5 M records/s) before the kill came and the
 * run finished (status 0). */
#if defined(__SANITIZE_ADDRESS__)
#define PER_PART 60000
#else
#define PER_PART 400000
#endif
#define KEYS 50

static const char *weir;
static char topic[256];

/* Starts weir at parallelism p with checkpoints in ck, resuming from (NULL: a fresh run,
 * "latest": the latest checkpoint, or a savepoint's path), killed at crash_point (NULL: none),
 * running job (NULL-terminated). Returns its pid. */
static pid_t start_job(const char *p, const char *ck, const char *from, const char *crash_point,
                       const char *log, const char *const *job)
{
    char ckdir[1100];
    snprintf(ckdir, sizeof ckdir, "state.checkpoints.dir=%s", ck);
    const char *argv[48];
    int n = 0;
    argv[n++] = weir;
    argv[n++] = "run";
    argv[n++] = "-p";
    argv[n++] = p;
    const char *defs[] = {"metrics.reporter.prom.port=0", "rest.port=0",
                          "execution.checkpointing.interval=100ms", "restart-strategy.type=none",
                          "weir.progress=never", ckdir};
    for (size_t i = 0; i < sizeof defs / sizeof *defs; i++) {
        argv[n++] = "-D";
        argv[n++] = defs[i];
    }
    if (from) {
        argv[n++] = "--from-checkpoint";
        argv[n++] = from;
    }
    while (*job && n < 47)
        argv[n++] = *job++;
    argv[n] = NULL;
    return wt_weir_start(argv, log, crash_point);
}

/* The kafka-count job into out (see start_job). */
static pid_t start_weir(const char *p, const char *out, const char *ck, bool restore,
                        const char *log)
{
    char bootstrap[300];
    snprintf(bootstrap, sizeof bootstrap, "%s", wt_kafka_bootstrap());
    const char *job[] = {"kafka-count", "--bootstrap", bootstrap, "--topic",
                         topic,         "--bounded",   "--window-ms", "1000",
                         out,           NULL};
    return start_job(p, ck, restore ? "latest" : NULL, NULL, log, job);
}

static bool log_has(const char *log, const char *what)
{
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "grep -Eq '%s' %s", what, log);
    return system(cmd) == 0;
}

static void show(const char *log)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "tail -n 5 %s >&2", log);
    if (system(cmd)) {
    }
}

/* Runs weir at p and SIGKILLs it once a checkpoint completed (the test fails when the run
 * ends first, or none completes within 30 s). */
static void run_and_kill(const char *p, const char *out, const char *ck, bool restore,
                         const char *log)
{
    pid_t pid = start_weir(p, out, ck, restore, log);
    for (int i = 0; i < 3000 && !log_has(log, "checkpoint [0-9]+ complete"); i++) {
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            show(log);
            fail_msg("-p %s ended (status %d) before a checkpoint completed: the topic is too "
                     "short for this machine",
                     p, st);
        }
        usleep(10000);
    }
    int status = wt_weir_wait(pid, 50);
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL) {
        show(log);
        fail_msg("-p %s was not killed (status %d)", p, status);
    }
}

/* The committed rows of out, sorted, written to file. */
static void committed(const char *out, const char *file)
{
    char cmd[2400];
    snprintf(cmd, sizeof cmd, "cat %s/part-*.csv 2>/dev/null | sort > %s", out, file);
    assert_int_equal(system(cmd), 0);
}

static void rescaled_twice_equals_failure_free(void **st)
{
    wt_kafka_topic("rescale", PARTITIONS, topic, sizeof topic);
    wt_kafka_fill_counts(topic, PARTITIONS, PER_PART, KEYS, 20000);

    const char *dir = wt_tmp_dir("kafka-rescale");
    char ref[1024], ref_ck[1024], out[1024], ck[1024], log[1024], a[1024], b[1024];
    snprintf(ref, sizeof ref, "%s/ref", dir);
    snprintf(ref_ck, sizeof ref_ck, "%s/ref-ck", dir);
    snprintf(out, sizeof out, "%s/out", dir);
    snprintf(ck, sizeof ck, "%s/ck", dir);
    snprintf(log, sizeof log, "%s/run.log", dir);
    snprintf(a, sizeof a, "%s/ref.sorted", dir);
    snprintf(b, sizeof b, "%s/out.sorted", dir);

    int status = wt_weir_wait(start_weir("2", ref, ref_ck, false, log), 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        show(log);
        fail_msg("reference run: status %d", status);
    }
    committed(ref, a);

    run_and_kill("2", out, ck, false, log);
    run_and_kill("3", out, ck, true, log);
    if (!log_has(log, "restored from"))
        fail_msg("the run at -p 3 did not restore the checkpoint of -p 2");
    status = wt_weir_wait(start_weir("1", out, ck, true, log), 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || !log_has(log, "restored from")) {
        show(log);
        fail_msg("the run resumed at -p 1: status %d", status);
    }
    committed(out, b);
    char cmd[4400];
    snprintf(cmd, sizeof cmd, "diff %s %s | head -n 10 >&2; cmp -s %s %s", a, b, a, b);
    if (system(cmd) != 0)
        fail_msg("the committed output after -p 2 -> 3 -> 1 differs from the failure-free run's");
}

/* --- the exactly-once Kafka sink at another parallelism ------------------------------ */

#define SINK_PARTS 4
#define SINK_N     30000

struct seen {
    unsigned char count[SINK_N];
    size_t markers, other;
};

static void count_row(const rd_kafka_message_t *m, void *arg)
{
    struct seen *r = arg;
    unsigned long long seq;
    char v[64];
    snprintf(v, sizeof v, "%.*s", (int)m->len, (const char *)m->payload);
    if (!strcmp(v, "marker"))
        r->markers++;
    else if (sscanf(v, "%llu,", &seq) != 1 || seq >= SINK_N)
        r->other++;
    else if (r->count[seq] < 255)
        r->count[seq]++;
}

/* Starts datagen-kafka (exactly-once into out) at p (see start_job). */
static pid_t sink_start(const char *p, const char *out, const char *ck, const char *from,
                        const char *crash_point, const char *log)
{
    char n[32], bootstrap[300];
    snprintf(n, sizeof n, "%d", SINK_N);
    snprintf(bootstrap, sizeof bootstrap, "%s", wt_kafka_bootstrap());
    const char *job[] = {"datagen-kafka", "--records", n, "--keys", "100", "--rate", "4000",
                         "--bootstrap", bootstrap, "--topic", out, "--delivery-guarantee",
                         "exactly-once", "--transactional-id-prefix", out,
                         "--transaction-timeout-ms", "600000", NULL};
    return start_job(p, ck, from, crash_point, log, job);
}

/* Waits for pid: killed at its crash point, or (none) ended with status 0, and restored when
 * from was set. */
static void sink_wait(pid_t pid, const char *p, const char *from, const char *crash_point,
                      const char *log)
{
    int status = wt_weir_wait(pid, 0);
    bool ok = crash_point ? WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL
                          : WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (!ok || (from && !log_has(log, "restored from"))) {
        show(log);
        fail_msg("datagen-kafka at -p %s (%s): status %d", p,
                 crash_point ? crash_point : "to the end", status);
    }
}

static void sink_run(const char *p, const char *out, const char *ck, const char *from,
                     const char *crash_point, const char *log)
{
    sink_wait(sink_start(p, out, ck, from, crash_point, log), p, from, crash_point, log);
}

/* Reads out read_committed to its end: every record once, and markers markers. */
static void sink_committed_once(const char *out, size_t markers, const char *what)
{
    struct seen *r = calloc(1, sizeof *r);
    assert_non_null(r);
    wt_kafka_read(out, 1, 120 * 1000, count_row, r);
    size_t lost = 0, twice = 0, first_bad = SINK_N;
    for (size_t i = 0; i < SINK_N; i++)
        if (r->count[i] != 1) {
            lost += r->count[i] == 0;
            twice += r->count[i] > 1;
            first_bad = first_bad < i ? first_bad : i;
        }
    size_t got = r->markers, other = r->other;
    free(r);
    if (lost || twice || other)
        fail_msg("after %s: %zu records lost, %zu read more than once (the first at seq %zu), "
                 "%zu rows not ours",
                 what, lost, twice, first_bad, other);
    if (got != markers)
        fail_msg("after %s: %zu of %zu markers read: a transaction left open still holds the "
                 "last stable offset",
                 what, got, markers);
}

/* Whether the newest of the checkpoints or savepoints whose _metadata files the shell glob
 * metas names lists a pending transaction of subtask sub (weir inspect decodes the sink's
 * state; its transactional ids are "<out>-<sub>-<slot>"); if not, the decoded state goes to
 * stderr. */
static bool pending_of(const char *metas, const char *out, int sub)
{
    char cmd[4000];
    snprintf(cmd, sizeof cmd,
             "m=$(ls %s | sort -t- -k2 -n | tail -1) && "
             "j=$(%s inspect --json \"${m%%/_metadata}\") && printf '%%s' \"$j\" | "
             "jq -e '[.. | .transactional_id? // empty | select(startswith(\"%s-%d-\"))] | "
             "length > 0' >/dev/null || { echo \"$m:\"; printf '%%s' \"$j\" | "
             "jq -c '.. | .operator_state_decoded? // empty'; false; } >&2",
             metas, weir, out, sub);
    return system(cmd) == 0;
}

/* Each run is killed once a checkpoint's _metadata is durable and before its transactions
 * commit (crash point completed:N): they are open on the broker, listed in the state, under
 * transactional ids of every old subtask. -p 2, then -p 3 (subtask 2 takes nothing and uses
 * ids no one used before; run again until it is killed with a transaction pending), then -p 1,
 * which alone must settle the ids of old subtasks 1 and 2 (transaction.timeout.ms is 10 min:
 * their open transactions hold read_committed readers, and its own read-back of their
 * transactions, until then) and commit or resend every listed transaction once. Markers
 * produced before the last run are read only when the last stable offset got past every
 * transaction the kills left open. */
static void sink_rescaled_commits_each_record_once(void **st)
{
    char out[256], ck[1024], log[1024];
    wt_kafka_topic("rescale-sink", SINK_PARTS, out, sizeof out);
    const char *dir = wt_tmp_dir("kafka-sink-rescale");
    snprintf(ck, sizeof ck, "%s/ck", dir);
    snprintf(log, sizeof log, "%s/run.log", dir);
    char metas[1100];
    snprintf(metas, sizeof metas, "%s/datagen-kafka/chk-*/_metadata", ck);

    sink_run("2", out, ck, NULL, "completed:3", log);
    /* again at -p 3 (from its own checkpoint) while its subtask 2 had nothing pending when
     * killed: a checkpoint that came before records reached it */
    for (int tries = 1;
         sink_run("3", out, ck, "latest", "completed:2", log), !pending_of(metas, out, 2);
         tries++)
        if (tries == 4) {
            show(log);
            fail_msg("%d runs at -p 3 were killed with nothing pending in subtask 2: the test "
                     "cannot show that -p 1 settles it",
                     tries);
        }
    rd_kafka_t *pr = wt_kafka_producer();
    for (int i = 0; i < SINK_PARTS; i++)
        wt_kafka_produce(pr, out, i, NULL, "marker", 6, 0);
    wt_kafka_producer_free(pr);
    sink_run("1", out, ck, "latest", NULL, log);
    sink_committed_once(out, SINK_PARTS, "-p 2 -> 3 -> 1, killed");
}

/* The output of a run stopped with a savepoint is committed (Flink's stop-with-savepoint);
 * its transaction is listed in the savepoint's state, and a restore at another parallelism
 * must find it committed, not send it again: -p 2, stopped (weir stop --savepointPath), -p 3
 * from that savepoint, stopped again, -p 1 from the second savepoint to the end. */
static void sink_stopped_and_rescaled_commits_each_record_once(void **st)
{
    char out[256], ck[1024], log[1024], sp[2][1024], from[2][1024], cmd[4400];
    wt_kafka_topic("rescale-sink-stop", SINK_PARTS, out, sizeof out);
    const char *dir = wt_tmp_dir("kafka-sink-stop");
    snprintf(ck, sizeof ck, "%s/ck", dir);
    snprintf(log, sizeof log, "%s/run.log", dir);
    const char *ps[] = {"2", "3"}, *prev = NULL;
    for (int i = 0; i < 2; i++) {
        pid_t pid = sink_start(ps[i], out, ck, prev, NULL, log);
        for (int t = 0; t < 3000 && !log_has(log, "checkpoint [0-9]+ complete"); t++)
            usleep(10000);
        snprintf(sp[i], sizeof sp[i], "%s/sp%d", dir, i);
        /* the job's REST address and id, from its log line "rest: http://A:P (job ID)" */
        snprintf(cmd, sizeof cmd,
                 "a=$(sed -n 's|.*rest: http://\\([^ ]*\\) (job \\([0-9a-f]*\\)).*|-m \\1 \\2|p' "
                 "%s | head -n 1) && %s stop --savepointPath %s $a >>%s 2>&1",
                 log, weir, sp[i], log);
        int rc = system(cmd);
        sink_wait(pid, ps[i], prev, NULL, log);
        snprintf(cmd, sizeof cmd, "sed -n 's/.*savepoint [0-9]* complete: \\([^ ]*\\) .*/\\1/p' %s",
                 log);
        FILE *f = popen(cmd, "r");
        if (rc != 0 || !f || !fgets(from[i], sizeof from[i], f) || !strchr(from[i], '/')) {
            show(log);
            fail_msg("-p %s: weir stop --savepointPath %s (status %d) left no savepoint", ps[i],
                     sp[i], rc);
        }
        pclose(f);
        from[i][strcspn(from[i], "\n")] = 0;
        char meta[sizeof from + 16]; /* what GCC allows a row of from, whatever fgets reads */
        snprintf(meta, sizeof meta, "%s/_metadata", from[i]);
        if (!pending_of(meta, out, 0))
            fail_msg("the savepoint at -p %s lists no transaction of subtask 0 (committed when "
                     "it completed): the test cannot show that a restore finds it committed",
                     ps[i]);
        prev = from[i];
    }
    sink_run("1", out, ck, prev, NULL, log);
    sink_committed_once(out, 0, "-p 2 -> 3 -> 1, stopped with savepoints");
}

int main(void)
{
    wt_kafka_bootstrap();
    weir = wt_weir_cmd(); /* exits 77 (skip) without $WEIR */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rescaled_twice_equals_failure_free),
        cmocka_unit_test(sink_rescaled_commits_each_record_once),
        cmocka_unit_test(sink_stopped_and_rescaled_commits_each_record_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
