/*
 * Several weir processes sharing one topic (kafka.instance=i/N, README "Running one weir per
 * host" and "Rescaling across hosts"), on both state backends:
 *
 * - two processes, -D kafka.instance=0/2 and 1/2, run side by side (bounded kafka-count at
 *   -p 2 over a 4-partition topic) and their committed rows together equal one process's
 *   (0/1) row for row: each key lives in one partition, so no (key, window) is split between
 *   the two;
 * - rescaling 2 -> 1 by the documented procedure: the two run unbounded, are stopped
 *   (SIGTERM) once their windows fired and a checkpoint with their last offsets completed,
 *   and one process restores instance 0's latest checkpoint as kafka.instance=0/1; the
 *   partitions instance 1 read start at the consumer group's committed offsets, so after more
 *   records the rows of all runs together equal one failure-free process's: nothing read
 *   twice or never. (Before the rule they started at the earliest offset: instance 1's rows
 *   came twice.) The marker key that closes the windows is left out of the comparison: its
 *   last window was open in instance 1's keyed state at the stop, and keyed state does not
 *   move between processes (the documented limit).
 *
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
#include <time.h>
#include <unistd.h>

#include "weir_test.h"

#include "kafka_fixture.h"

#define PARTITIONS 4
#define PER_PART   2000 /* records per partition and phase */
#define KEYS       40   /* key k lives in partition k % PARTITIONS */
#define MARKER     "999999"
#define WAIT_S     240

static const char *weir;
static const char *const backends[] = {"hashmap", "rocksdb"};

/* Produces one phase: per partition PER_PART records of its keys with event times base ..
 * base + 9999 ms (10 windows of 1 s), then a marker record at marker_ts that moves every
 * partition's watermark past those windows. */
static void produce_phase(const char *topic, int64_t base, int64_t marker_ts)
{
    rd_kafka_t *p = wt_kafka_producer();
    for (int part = 0; part < PARTITIONS; part++) {
        for (int i = 0; i < PER_PART; i++) {
            char v[16];
            snprintf(v, sizeof v, "%d", part + PARTITIONS * (i % (KEYS / PARTITIONS)));
            wt_kafka_produce(p, topic, part, NULL, v, strlen(v),
                             base + (int64_t)i * 10000 / PER_PART);
        }
        wt_kafka_produce(p, topic, part, NULL, MARKER, strlen(MARKER), marker_ts);
    }
    wt_kafka_flush(p);
    wt_kafka_producer_free(p);
}

struct run {
    const char *instance; /* "i/N" */
    const char *out, *ck, *log, *backend, *topic, *group;
    bool bounded, restore;
};

/* Starts weir (kafka-count -p 2) as r says; returns its pid. */
static pid_t start(const struct run *r)
{
    char ckdir[1100], rocks[1200], inst[64], backend[64], bootstrap[300];
    snprintf(ckdir, sizeof ckdir, "state.checkpoints.dir=%s", r->ck);
    /* two processes on one host need their own (the default is per job name) */
    snprintf(rocks, sizeof rocks, "state.backend.rocksdb.localdir=%s-rocksdb", r->ck);
    snprintf(inst, sizeof inst, "kafka.instance=%s", r->instance);
    snprintf(backend, sizeof backend, "state.backend=%s", r->backend);
    snprintf(bootstrap, sizeof bootstrap, "%s", wt_kafka_bootstrap());
    const char *argv[48];
    int n = 0;
    argv[n++] = weir;
    argv[n++] = "run";
    argv[n++] = "-p";
    argv[n++] = "2";
    const char *defs[] = {"metrics.reporter.prom.port=0",
                          "execution.checkpointing.interval=100ms",
                          "restart-strategy.type=none",
                          "weir.progress=never",
                          ckdir,
                          rocks,
                          inst,
                          backend};
    for (size_t i = 0; i < sizeof defs / sizeof *defs; i++) {
        argv[n++] = "-D";
        argv[n++] = defs[i];
    }
    if (r->restore) {
        argv[n++] = "--from-checkpoint";
        argv[n++] = "latest";
    }
    const char *job[] = {"kafka-count", "--bootstrap", bootstrap,     "--topic", r->topic,
                         "--group",     r->group,      "--window-ms", "1000"};
    for (size_t i = 0; i < sizeof job / sizeof *job; i++)
        argv[n++] = job[i];
    if (r->bounded)
        argv[n++] = "--bounded";
    argv[n++] = r->out;
    argv[n] = NULL;
    pid_t pid = wt_weir_start(argv, r->log, NULL);
    return pid;
}

static void show(const char *log)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "echo '--- %s' >&2; tail -n 8 %s >&2", log, log);
    if (system(cmd)) {
    }
}

/* Waits for pid; fails unless it exited 0 (finished, or stopped by SIGTERM). */
static void wait_ok(pid_t pid, const char *log, const char *what)
{
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        show(log);
        fail_msg("%s: wait status %d", what, status);
    }
}

/* The committed rows of the directories (space-separated), sorted, without the marker key's
 * rows, into file; returns how many. */
static size_t rows(const char *dirs, const char *file)
{
    char cmd[4400];
    snprintf(cmd, sizeof cmd,
             "for d in %s; do cat $d/part-*.csv 2>/dev/null; done | grep -v '^" MARKER
             ",' | sort > %s",
             dirs, file);
    if (system(cmd) != 0) { /* grep -v exits 1 when nothing is left: an empty file */
    }
    FILE *f = fopen(file, "r");
    assert_non_null(f);
    size_t n = 0;
    int c;
    while ((c = fgetc(f)) != EOF)
        n += c == '\n';
    fclose(f);
    return n;
}

static void same_rows(const char *a, const char *b, const char *what)
{
    char cmd[2400];
    snprintf(cmd, sizeof cmd, "diff %s %s | head -n 10 >&2; cmp -s %s %s", a, b, a, b);
    if (system(cmd) != 0)
        fail_msg("%s: rows differ from one process's (diff above)", what);
}

/* Whether group has committed every partition's end offset. */
static bool group_at_end(const char *topic, const char *group)
{
    char err[256];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    if (rd_kafka_conf_set(c, "bootstrap.servers", wt_kafka_bootstrap(), err, sizeof err) ||
        rd_kafka_conf_set(c, "group.id", group, err, sizeof err))
        fail_msg("consumer conf: %s", err);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof err);
    assert_non_null(rk);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(PARTITIONS);
    for (int p = 0; p < PARTITIONS; p++)
        rd_kafka_topic_partition_list_add(l, topic, p);
    bool at_end = rd_kafka_committed(rk, l, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR;
    for (int p = 0; p < PARTITIONS && at_end; p++) {
        int64_t lo, hi;
        at_end = !l->elems[p].err &&
                 !rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, 10000) &&
                 l->elems[p].offset == hi;
    }
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_destroy(rk);
    return at_end;
}

/* Waits until dirs hold at least want rows (markers aside) and, when topic is set, group has
 * committed every partition's end; fails after WAIT_S, or when a run (pid[0], pid[1] unless
 * 0) ended. */
static void wait_for(const char *dirs, const char *file, size_t want, const char *topic,
                     const char *group, const pid_t *pid, const char *log0, const char *log1)
{
    time_t end = time(NULL) + WAIT_S;
    for (;;) {
        for (int i = 0; i < 2; i++) {
            int status;
            if (pid[i] > 0 && waitpid(pid[i], &status, WNOHANG) == pid[i]) {
                show(i ? log1 : log0);
                fail_msg("a run ended (wait status %d) before its rows were in", status);
            }
        }
        size_t n = rows(dirs, file);
        if (n >= want && (!topic || group_at_end(topic, group)))
            return;
        if (time(NULL) > end) {
            show(log0);
            if (log1)
                show(log1);
            fail_msg("after %d s: %zu committed rows of %zu, group %s at its end: %d", WAIT_S, n,
                     want, group, topic ? group_at_end(topic, group) : -1);
        }
        usleep(100000);
    }
}

struct paths {
    char dir[1024], ref[1100], ref_ck[1100], ref_rows[1100];
    char out[2][1100], ck[2][1100], log[2][1100], rows[1100], both[2300];
};

static void paths_init(struct paths *p, const char *tag)
{
    snprintf(p->dir, sizeof p->dir, "%s", wt_tmp_dir(tag));
    snprintf(p->ref, sizeof p->ref, "%s/ref", p->dir);
    snprintf(p->ref_ck, sizeof p->ref_ck, "%s/ref-ck", p->dir);
    snprintf(p->ref_rows, sizeof p->ref_rows, "%s/ref.rows", p->dir);
    snprintf(p->rows, sizeof p->rows, "%s/out.rows", p->dir);
    for (int i = 0; i < 2; i++) {
        snprintf(p->out[i], sizeof p->out[i], "%s/out%d", p->dir, i);
        snprintf(p->ck[i], sizeof p->ck[i], "%s/ck%d", p->dir, i);
        snprintf(p->log[i], sizeof p->log[i], "%s/run%d.log", p->dir, i);
    }
    snprintf(p->both, sizeof p->both, "%s %s", p->out[0], p->out[1]);
}

/* One process (0/1), bounded, fresh: the reference rows. */
static size_t reference(struct paths *p, const char *topic, const char *backend)
{
    char log[1200], group[300];
    snprintf(log, sizeof log, "%s/ref.log", p->dir);
    snprintf(group, sizeof group, "%s-ref", topic);
    struct run r = {.instance = "0/1",
                    .out = p->ref,
                    .ck = p->ref_ck,
                    .log = log,
                    .backend = backend,
                    .topic = topic,
                    .group = group,
                    .bounded = true};
    wait_ok(start(&r), log, "the one-process run");
    return rows(p->ref, p->ref_rows);
}

static void two_instances_equal_one_process(void **st)
{
    (void)st;
    for (size_t b = 0; b < sizeof backends / sizeof *backends; b++) {
        char topic[256], group[300];
        wt_kafka_topic("hosts", PARTITIONS, topic, sizeof topic);
        snprintf(group, sizeof group, "%s-g", topic);
        produce_phase(topic, 1000, 100000);
        struct paths p;
        paths_init(&p, "kafka-hosts");
        size_t ref = reference(&p, topic, backends[b]);
        assert_int_equal(ref, 10 * KEYS);

        pid_t pid[2];
        for (int i = 0; i < 2; i++) {
            struct run r = {.instance = i ? "1/2" : "0/2",
                            .out = p.out[i],
                            .ck = p.ck[i],
                            .log = p.log[i],
                            .backend = backends[b],
                            .topic = topic,
                            .group = group,
                            .bounded = true};
            pid[i] = start(&r);
        }
        for (int i = 0; i < 2; i++)
            wait_ok(pid[i], p.log[i], i ? "instance 1/2" : "instance 0/2");
        /* each read its half: 2 partitions, 20 keys, 10 windows */
        for (int i = 0; i < 2; i++)
            assert_int_equal(rows(p.out[i], p.rows), 10 * KEYS / 2);
        rows(p.both, p.rows);
        same_rows(p.ref_rows, p.rows, backends[b]);
        printf("%s: 0/2 and 1/2 together: %d rows, equal to 0/1's\n", backends[b], 10 * KEYS);
    }
}

static void rescale_two_to_one_loses_and_repeats_nothing(void **st)
{
    (void)st;
    for (size_t b = 0; b < sizeof backends / sizeof *backends; b++) {
        char topic[256], group[300];
        wt_kafka_topic("rescale", PARTITIONS, topic, sizeof topic);
        snprintf(group, sizeof group, "%s-g", topic);
        struct paths p;
        paths_init(&p, "kafka-rescale");

        /* Two processes, unbounded, over phase 1; stopped once its 10 windows are committed
         * and the group holds every partition's end offset (a checkpoint after the last
         * record completed in both). */
        produce_phase(topic, 1000, 100000);
        pid_t pid[2];
        for (int i = 0; i < 2; i++) {
            struct run r = {.instance = i ? "1/2" : "0/2",
                            .out = p.out[i],
                            .ck = p.ck[i],
                            .log = p.log[i],
                            .backend = backends[b],
                            .topic = topic,
                            .group = group};
            pid[i] = start(&r);
        }
        wait_for(p.both, p.rows, 10 * KEYS, topic, group, pid, p.log[0], p.log[1]);
        for (int i = 0; i < 2; i++) {
            kill(pid[i], SIGTERM);
            wait_ok(pid[i], p.log[i], i ? "instance 1/2" : "instance 0/2");
        }

        /* Phase 2, read by one process restored from instance 0's checkpoint as 0/1. */
        produce_phase(topic, 200000, 300000);
        struct run r = {.instance = "0/1",
                        .out = p.out[0],
                        .ck = p.ck[0],
                        .log = p.log[0],
                        .backend = backends[b],
                        .topic = topic,
                        .group = group,
                        .restore = true};
        pid_t one[2] = {start(&r), 0};
        /* Windows fire in event-time order, so a phase-1 window read again would be
         * committed before the last of phase 2's: 20 windows of rows means all are in. */
        wait_for(p.both, p.rows, 20 * KEYS, NULL, NULL, one, p.log[0], NULL);
        kill(one[0], SIGTERM);
        wait_ok(one[0], p.log[0], "instance 0/1");
        char cmd[1300];
        snprintf(cmd, sizeof cmd, "grep -q 'checkpoint taken as kafka.instance 0/2' %s", p.log[0]);
        assert_int_equal(system(cmd), 0);

        size_t ref = reference(&p, topic, backends[b]);
        assert_int_equal(ref, 20 * KEYS);
        assert_int_equal(rows(p.both, p.rows), 20 * KEYS);
        same_rows(p.ref_rows, p.rows, backends[b]);
        printf("%s: 2 -> 1 instances: %d rows, equal to one failure-free process's\n", backends[b],
               20 * KEYS);
    }
}

int main(void)
{
    wt_kafka_bootstrap();
    weir = wt_weir_cmd(); /* exits 77 (skip) without $WEIR */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(two_instances_equal_one_process),
        cmocka_unit_test(rescale_two_to_one_loses_and_repeats_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
