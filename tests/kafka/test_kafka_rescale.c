/*
 * The Kafka source's offsets follow their partitions to another parallelism (union list
 * state, kafka_positions.c): a topic of 5 partitions, the kafka-count built-in job (keyed
 * event-time window counts, exactly-once file sink) at -p 2 with a checkpoint every 100 ms,
 * killed with SIGKILL once a checkpoint completed, resumed from it at -p 3, killed the same
 * way, and resumed at -p 1 to the end. Each partition is read by another subtask after each
 * restore; the committed output must equal a failure-free run's, row for row (a partition
 * that started over, or at the offset of the wrong partition, shows as a wrong count).
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

/* Starts weir at parallelism p into out, checkpoints in ck, resuming the latest checkpoint
 * when restore. Returns its pid. */
static pid_t start_weir(const char *p, const char *out, const char *ck, bool restore,
                        const char *log)
{
    char ckdir[1100], bootstrap[300];
    snprintf(ckdir, sizeof ckdir, "state.checkpoints.dir=%s", ck);
    snprintf(bootstrap, sizeof bootstrap, "%s", wt_kafka_bootstrap());
    const char *argv[40];
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
    if (restore) {
        argv[n++] = "--from-checkpoint";
        argv[n++] = "latest";
    }
    const char *job[] = {"kafka-count", "--bootstrap", bootstrap, "--topic", topic,
                         "--bounded",   "--window-ms", "1000",    out};
    for (size_t i = 0; i < sizeof job / sizeof *job; i++)
        argv[n++] = job[i];
    argv[n] = NULL;
    return wt_weir_start(argv, log, NULL);
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

int main(void)
{
    wt_kafka_bootstrap();
    weir = getenv("WEIR");
    if (!weir || !*weir) {
        printf("skip: WEIR (the weir command) is not set: run through ctest\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rescaled_twice_equals_failure_free),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
