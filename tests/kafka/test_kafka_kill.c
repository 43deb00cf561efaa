/*
 * The Kafka source's offsets survive kill -9: a topic of 4 partitions, the kafka-count
 * built-in job (keyed event-time window counts, exactly-once file sink) at -p 2 with a
 * checkpoint every 100 ms, killed with SIGKILL at random moments again and again and resumed
 * each time with --from-checkpoint latest, then run to the end (in rounds until 6 kills landed).
 * The committed output must equal a failure-free run's, row for row: the file sink is exactly-once
 * already, so a record read twice or never after a restore (a wrong offset) shows as a wrong count.
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

#define PARTITIONS 4
/* Records per partition, event time 1000 .. 100999 ms on each: 100 windows. The sanitizer
 * build reads several times slower: fewer records keep its runs as long. */
#if defined(__SANITIZE_ADDRESS__)
#define PER_PART 50000
#else
#define PER_PART 300000
#endif
#define KEYS  50
#define KILLS 6

static const char *weir;
static char topic[256];

/* Runs weir with the job's arguments into out, checkpoints in ck; kill_ms > 0: SIGKILL it
 * after that long. Returns its wait status. */
static int run_weir(const char *out, const char *ck, bool restore, int kill_ms, const char *log)
{
    char ckdir[1100], bootstrap[300];
    snprintf(ckdir, sizeof ckdir, "state.checkpoints.dir=%s", ck);
    snprintf(bootstrap, sizeof bootstrap, "%s", wt_kafka_bootstrap());
    const char *argv[40];
    int n = 0;
    argv[n++] = weir;
    argv[n++] = "run";
    argv[n++] = "-p";
    argv[n++] = "2";
    const char *defs[] = {"metrics.reporter.prom.port=0", "execution.checkpointing.interval=100ms",
                          "restart-strategy.type=none", "weir.progress=never", ckdir};
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
    pid_t pid = wt_weir_start(argv, log, NULL);
    return wt_weir_wait(pid, kill_ms);
}

/* The committed rows of out, sorted, written to file. */
static void committed(const char *out, const char *file)
{
    char cmd[2400];
    snprintf(cmd, sizeof cmd, "cat %s/part-*.csv 2>/dev/null | sort > %s", out, file);
    assert_int_equal(system(cmd), 0);
}

static size_t lines(const char *file)
{
    FILE *f = fopen(file, "r");
    assert_non_null(f);
    size_t n = 0;
    int c;
    while ((c = fgetc(f)) != EOF)
        n += c == '\n';
    fclose(f);
    return n;
}

static void show(const char *log)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "tail -n 5 %s >&2", log);
    if (system(cmd)) {
    }
}

static void killed_and_resumed_equals_failure_free(void **st)
{
    wt_kafka_topic("kill", PARTITIONS, topic, sizeof topic);
    wt_kafka_fill_counts(topic, PARTITIONS, PER_PART, KEYS, 100000);

    const char *dir = wt_tmp_dir("kafka-kill");
    char ref[1024], ref_ck[1024], out[1024], ck[1024], log[1024], a[1024], b[1024];
    snprintf(ref, sizeof ref, "%s/ref", dir);
    snprintf(ref_ck, sizeof ref_ck, "%s/ref-ck", dir);
    snprintf(out, sizeof out, "%s/out", dir);
    snprintf(ck, sizeof ck, "%s/ck", dir);
    snprintf(log, sizeof log, "%s/run.log", dir);
    snprintf(a, sizeof a, "%s/ref.sorted", dir);
    snprintf(b, sizeof b, "%s/out.sorted", dir);

    int status = run_weir(ref, ref_ck, false, 0, log);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        show(log);
        fail_msg("reference run: status %d", status);
    }
    committed(ref, a);
    /* 100 windows of 1 s, 50 keys */
    assert_int_equal(lines(a), 100 * KEYS);

    /* Rounds: each kills runs at random moments (within 1 s of their start) and resumes them
     * with --from-checkpoint latest until one finishes before its kill, then compares the
     * committed output with the reference; rounds go on, each from scratch, until KILLS kills
     * landed in all (at most 10 rounds), so a machine fast enough to finish early only makes
     * more rounds. */
    uint64_t seed = wt_seed(0x6b61666b61ull);
    int landed = 0, rounds = 0;
    while (landed < KILLS && rounds < 10) {
        rounds++;
        wt_rm_tree(out);
        wt_rm_tree(ck);
        int kills = 0;
        for (int i = 0;; i++) {
            int ms = kills + landed < KILLS ? 200 + (int)(wt_rand(&seed) % 800) : 0;
            status = run_weir(out, ck, i > 0, ms, log);
            if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) {
                kills++;
                continue;
            }
            if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
                break;
            show(log);
            fail_msg("round %d, run %d: status %d", rounds, i + 1, status);
        }
        landed += kills;
        committed(out, b);
        char cmd[4400];
        snprintf(cmd, sizeof cmd, "diff %s %s | head -n 10 >&2; cmp -s %s %s", a, b, a, b);
        if (system(cmd) != 0)
            fail_msg("round %d: committed output after %d kills differs from the failure-free "
                     "run's (%zu rows, %zu expected)",
                     rounds, kills, lines(b), lines(a));
    }
    printf("kills landed: %d in %d rounds\n", landed, rounds);
    if (landed < KILLS)
        fail_msg("only %d kills landed before runs finished in %d rounds: the job is too short "
                 "for this machine",
                 landed, rounds);
}

int main(void)
{
    wt_kafka_bootstrap();
    weir = wt_weir_cmd(); /* exits 77 (skip) without $WEIR */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(killed_and_resumed_equals_failure_free),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
