/*
 * weir selftest recovery: does recovery work here, on this configuration and this disk?
 *
 * Flink's production checklist says "recovery procedure tested" and leaves the test to the
 * user. This command is that test. It loads the configuration as `weir run` does (-c FILE,
 * then -D key=value), so state.checkpoints.dir, state.backend, the pools and the restart
 * strategy are the user's, and runs a built-in stateful job on it:
 *
 *     datagen (--records N, event time = sequence number in ms) -> watermarks
 *       -> key_by(key) -> 1 s tumbling-window count -> exactly-once CSV files
 *
 * 1. once without failures (the reference), in a child process, as fast as it goes;
 * 2. again in a child process, paced to last about 3 (N+1) checkpoint intervals, killed with
 *    SIGKILL at a random moment after each run's first completed checkpoint (uniform over the
 *    next interval), N times, each next run restoring with --from-checkpoint latest; the last
 *    run reads the input to its end;
 * 3. the committed rows of 2 are compared with those of 1, as multisets (part files split
 *    rows by subtask and checkpoint), and no uncommitted part file may be left.
 *
 * Children are fork()s of this process (single-threaded until then) that run the job with
 * weir_job_run; they report over a pipe when each checkpoint ends (on_checkpoint) and when
 * the first record passes a probe after the source, which times a restore from the child's
 * start to its first record. Their stdout and stderr go to a log in the scratch directory,
 * whose last line is shown when one fails.
 *
 * Checkpoints go to the user's state.checkpoints.dir, under job names of this run's own
 * (selftest-recovery-PID and selftest-recovery-PID-ref); the output to a scratch directory
 * made inside it, so on the same filesystem. All of it is removed at the end unless --keep.
 * If execution.checkpointing.interval is 0 (off, the default) the selftest uses 1 s.
 *
 * Test hook: WEIR_SELFTEST_FAULT=lose-committed-file deletes one committed output file between
 * kills, to show that the comparison catches lost output (tests/cli/test_selftest.sh).
 * It lives here in the command, never in the engine.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <weir/config.h>
#include <weir/weir.h>
#include <weir/windows.h>

#include "cli.h"
#include "selftest.h"

#define WINDOW_MS 1000

struct selftest {
    weir_config *cfg;
    uint64_t records, keys, kills;
    bool keep;
    int64_t interval_ms;
    double rate; /* records per second of the killed runs */
    char ckdir[1024], scratch[1100], ref_out[1200], rec_out[1200];
    char ref_job[64], rec_job[64];
};

/* One child run of the job, as the parent saw it. */
struct attempt {
    pid_t pid;
    int msg_fd, status;
    bool exited;
    double t_start, t_first; /* t_first < 0: no record yet */
    int completed, failed;   /* checkpoints ended in this run */
    uint64_t last_id;
    char log[1200];
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* --- the child: the job and what it reports ------------------------------------------ */

enum { MSG_FIRST_RECORD = 1, MSG_CHECKPOINT = 2, MSG_CHECKPOINT_FAILED = 3 };
struct msg {
    uint32_t type;
    uint64_t id;
};

static int msg_fd = -1; /* the child's end of the pipe */
static atomic_bool first_seen;

static void send_msg(uint32_t type, uint64_t id)
{
    struct msg m = {.type = type, .id = id};
    /* smaller than PIPE_BUF: one write, never interleaved with another thread's */
    ssize_t n = write(msg_fd, &m, sizeof m);
    (void)n;
}

static int probe_first(weir_ctx *ctx, const weir_rec *in, weir_emit *out)
{
    if (!atomic_load_explicit(&first_seen, memory_order_relaxed) &&
        !atomic_exchange(&first_seen, true))
        send_msg(MSG_FIRST_RECORD, 0);
    return weir_emit_copy(out, in->ts, in->data, in->len);
}

static void on_checkpoint(void *arg, const struct weir_checkpoint_event *ev)
{
    if (!ev->savepoint)
        send_msg(ev->completed ? MSG_CHECKPOINT : MSG_CHECKPOINT_FAILED, ev->id);
}

static uint64_t rec_key(const weir_rec *r)
{
    return ((const struct weir_datagen_rec *)(const void *)r->data)->key;
}

static int window_row(const weir_rec *r, char *buf, size_t cap)
{
    const struct weir_window_result *w = (const void *)r->data;
    return snprintf(buf, cap, "%llu,%lld,%lld,%lld", (unsigned long long)w->key,
                    (long long)w->start, (long long)w->end, (long long)weir_result_i64(w->result));
}

/* Runs the job in this (child) process and exits: 0 finished, 1 failed, 2 not built. */
static void child_main(const struct selftest *st, const char *job_name, const char *out,
                       const char *restore, double rate)
{
    struct weir_datagen_opts o = {
        .records = st->records, .keys = st->keys, .record_size = 24, .rate = rate, .seed = 1};
    static const struct weir_watermark_strategy ws = {.max_out_of_orderness_ms = 0};
    weir_job *job = weir_job_new(job_name);
    if (!job)
        _exit(1);
    weir_stream *s = weir_assign_watermarks(weir_source_datagen(job, "datagen", &o), &ws);
    s = weir_map(s, "first-record", probe_first);
    s = weir_window_aggregate(weir_key_by(s, rec_key), "count", weir_tumbling(WINDOW_MS),
                              &weir_agg_count, NULL, NULL);
    weir_sink_file_exactly_once(s, "out", out, window_row, ".csv");
    if (weir_job_error(job)) {
        fprintf(stderr, "weir: job %s: %s\n", job_name, weir_job_error(job));
        _exit(2);
    }
    struct weir_run_opts ro = {
        .quiet = true, .restore_from = restore, .on_checkpoint = on_checkpoint};
    struct weir_run_stats rs;
    char err[1024];
    int rc = weir_job_run(job, st->cfg, &ro, &rs, err, sizeof err);
    if (rc < 0) {
        fprintf(stderr, "weir: %s\n", err);
        _exit(1);
    }
    fprintf(stderr, "weir: job %s finished: %" PRIu64 " records, %" PRIu64 " checkpoints\n",
            job_name, rs.source_records, rs.checkpoints_completed);
    _exit(0);
}

/* --- the parent: runs, kills, waits ---------------------------------------------------- */

static int spawn(const struct selftest *st, struct attempt *a, int n, const char *job_name,
                 const char *out, const char *restore, double rate)
{
    memset(a, 0, sizeof *a);
    a->t_first = -1;
    snprintf(a->log, sizeof a->log, "%s/run-%d.log", st->scratch, n);
    int log = open(a->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int p[2];
    if (log < 0 || pipe2(p, O_CLOEXEC) < 0) {
        fprintf(stderr, "weir: selftest: %s: %s\n", a->log, strerror(errno));
        if (log >= 0)
            close(log);
        return -1;
    }
    fflush(NULL);
    a->t_start = now_s();
    a->pid = fork();
    if (a->pid == 0) {
        close(p[0]);
        msg_fd = p[1];
        dup2(log, STDOUT_FILENO);
        dup2(log, STDERR_FILENO);
        child_main(st, job_name, out, restore, rate);
    }
    close(log);
    close(p[1]);
    if (a->pid < 0) {
        fprintf(stderr, "weir: selftest: fork: %s\n", strerror(errno));
        close(p[0]);
        return -1;
    }
    a->msg_fd = p[0];
    /* take_msgs reads what is there and returns */
    fcntl(p[0], F_SETFL, fcntl(p[0], F_GETFL) | O_NONBLOCK);
    return 0;
}

/* Reads the messages there are; true once the child's end is closed (it has ended). */
static bool take_msgs(struct attempt *a)
{
    struct msg m;
    ssize_t n;
    while ((n = read(a->msg_fd, &m, sizeof m)) == (ssize_t)sizeof m) {
        if (m.type == MSG_FIRST_RECORD && a->t_first < 0)
            a->t_first = now_s() - a->t_start;
        else if (m.type == MSG_CHECKPOINT)
            a->completed++, a->last_id = m.id;
        else if (m.type == MSG_CHECKPOINT_FAILED)
            a->failed++;
    }
    return n == 0;
}

/* Follows run a until it exits, until until(a) holds, or until deadline (monotonic s);
 * returns 1, 0 and -1 for the three. */
static int follow(struct attempt *a, bool (*until)(const struct attempt *), double deadline)
{
    for (;;) {
        if (until && until(a))
            return 0;
        if (now_s() >= deadline)
            return -1;
        struct pollfd pf = {.fd = a->msg_fd, .events = POLLIN};
        int rc = poll(&pf, 1, 20);
        if (rc > 0 && (pf.revents & POLLIN) && !take_msgs(a))
            continue;
        if (rc > 0 && (pf.revents & (POLLIN | POLLHUP | POLLERR))) { /* the child has ended */
            waitpid(a->pid, &a->status, 0);
            a->exited = true;
            close(a->msg_fd);
            return 1;
        }
    }
}

static void end_run(struct attempt *a)
{
    if (a->exited)
        return;
    kill(a->pid, SIGKILL);
    waitpid(a->pid, &a->status, 0);
    a->exited = true;
    take_msgs(a);
    close(a->msg_fd);
}

static bool has_checkpoint(const struct attempt *a)
{
    return a->completed > 0;
}

static bool finished_ok(const struct attempt *a)
{
    return a->exited && WIFEXITED(a->status) && WEXITSTATUS(a->status) == 0;
}

/* The last line of a run's log, for a failure's one line. */
static void last_line(const char *path, char *buf, size_t len)
{
    snprintf(buf, len, "no output (see %s)", path);
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        if (*line)
            snprintf(buf, len, "%s", line);
    }
    fclose(f);
}

static void run_failed(const struct attempt *a, const char *what, char *why, size_t len)
{
    char line[2048];
    last_line(a->log, line, sizeof line);
    if (WIFSIGNALED(a->status))
        snprintf(why, len, "%s died of signal %d: %s", what, WTERMSIG(a->status), line);
    else
        snprintf(why, len, "%s exited %d: %s", what, WEXITSTATUS(a->status), line);
}

/* --- the output: committed rows, compared ---------------------------------------------- */

struct rows {
    char **v;
    size_t n, cap;
    char **bufs; /* the files' contents the rows point into */
    size_t nbufs;
    int uncommitted; /* .part-* files: in progress or pending */
};

static void rows_free(struct rows *r)
{
    for (size_t i = 0; i < r->nbufs; i++)
        free(r->bufs[i]);
    free(r->bufs);
    free(r->v);
}

static int add_file(struct rows *r, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -errno;
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    char chunk[65536];
    size_t got;
    while (m && (got = fread(chunk, 1, sizeof chunk, f)) > 0)
        fwrite(chunk, 1, got, m);
    fclose(f);
    if (!m || fclose(m) != 0)
        return -ENOMEM;
    char **bufs = realloc(r->bufs, (r->nbufs + 1) * sizeof *bufs);
    if (!bufs) {
        free(buf);
        return -ENOMEM;
    }
    r->bufs = bufs;
    r->bufs[r->nbufs++] = buf;
    char *line = buf;
    while (*line) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        if (r->n == r->cap) {
            size_t cap = r->cap ? 2 * r->cap : 4096;
            char **v = realloc(r->v, cap * sizeof *v);
            if (!v)
                return -ENOMEM;
            r->v = v, r->cap = cap;
        }
        r->v[r->n++] = line;
        if (!nl)
            break;
        line = nl + 1;
    }
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The rows of dir's committed part files, sorted; -errno after a line on stderr. */
static int rows_read(const char *dir, struct rows *r)
{
    memset(r, 0, sizeof *r);
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "weir: selftest: %s: %s\n", dir, strerror(errno));
        return -errno;
    }
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d))) {
        if (!strncmp(e->d_name, ".part-", 6))
            r->uncommitted++;
        if (strncmp(e->d_name, "part-", 5))
            continue;
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        rc = add_file(r, path);
        if (rc < 0)
            fprintf(stderr, "weir: selftest: %s: %s\n", path, strerror(-rc));
    }
    closedir(d);
    if (rc == 0 && r->n)
        qsort(r->v, r->n, sizeof *r->v, cmp_str);
    return rc;
}

/* 0 when got holds the rows of want, each as often; else -1 and the first difference. */
static int rows_compare(const struct rows *want, const struct rows *got, char *why, size_t len)
{
    size_t i = 0, j = 0;
    while (i < want->n && j < got->n) {
        int c = strcmp(want->v[i], got->v[j]);
        if (c == 0) {
            i++, j++;
            continue;
        }
        snprintf(why, len,
                 c < 0 ? "%zu rows committed, %zu in the failure-free run; first missing: \"%s\""
                       : "%zu rows committed, %zu in the failure-free run; first extra (a "
                         "duplicate or a row the failure-free run has not): \"%s\"",
                 got->n, want->n, c < 0 ? want->v[i] : got->v[j]);
        return -1;
    }
    if (i < want->n || j < got->n) {
        snprintf(why, len, "%zu rows committed, %zu in the failure-free run; first %s: \"%s\"",
                 got->n, want->n, i < want->n ? "missing" : "extra",
                 i < want->n ? want->v[i] : got->v[j]);
        return -1;
    }
    if (got->uncommitted) {
        snprintf(why, len, "%d uncommitted part files (.part-*) left in the output",
                 got->uncommitted);
        return -1;
    }
    return 0;
}

/* --- directories ---------------------------------------------------------------------- */

/* state.checkpoints.dir, or its per-user default (core/internal/weir/privdir.h, which the
 * library does not export: the same three choices). */
static int checkpoint_dir(const weir_config *cfg, char *buf, size_t len)
{
    const char *dir = weir_config_get_str(cfg, "state.checkpoints.dir");
    const char *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME"), *tmp = getenv("TMPDIR");
    int n;
    if (*dir)
        n = snprintf(buf, len, "%s", dir);
    else if (xdg && *xdg == '/')
        n = snprintf(buf, len, "%s/weir/checkpoints", xdg);
    else if (home && *home == '/' && strcmp(home, "/"))
        n = snprintf(buf, len, "%s/.local/state/weir/checkpoints", home);
    else
        n = snprintf(buf, len, "%s/weir-%u/checkpoints", tmp && *tmp == '/' ? tmp : "/tmp",
                     (unsigned)geteuid());
    return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* mkdir -p, each new directory 0700 (weir refuses checkpoint directories others can write). */
static int mkdirs(const char *path)
{
    char p[4096];
    snprintf(p, sizeof p, "%s", path);
    for (char *s = p + 1; *s; s++)
        if (*s == '/') {
            *s = '\0';
            if (mkdir(p, 0700) < 0 && errno != EEXIST)
                return -errno;
            *s = '/';
        }
    return mkdir(p, 0700) < 0 && errno != EEXIST ? -errno : 0;
}

static int rm_one(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb, (void)ftw;
    return (type == FTW_DP ? rmdir(path) : unlink(path)) < 0 && errno != ENOENT ? -1 : 0;
}

/* rm -rf without following symbolic links. */
static void rm_tree(const char *path)
{
    struct stat sb;
    if (lstat(path, &sb) == 0)
        nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* What the runs leave: both jobs' checkpoints and RocksDB working directories, the scratch. */
static void clean_up(const struct selftest *st)
{
    char p[8192];
    const char *jobs[] = {st->ref_job, st->rec_job};
    const char *ldir = weir_config_get_str(st->cfg, "state.backend.rocksdb.localdir");
    const char *tmp = getenv("TMPDIR");
    for (int i = 0; i < 2; i++) {
        snprintf(p, sizeof p, "%s/%s", st->ckdir, jobs[i]);
        rm_tree(p);
        if (*ldir)
            snprintf(p, sizeof p, "%s/%s", ldir, jobs[i]);
        else
            snprintf(p, sizeof p, "%s/weir-%u/rocksdb/%s", tmp && *tmp == '/' ? tmp : "/tmp",
                     (unsigned)geteuid(), jobs[i]);
        rm_tree(p);
    }
    rm_tree(st->scratch);
}

/* The test hook (see the top of the file): one committed file of the output deleted, after
 * the first kill that finds one (a kill can come before the sink's first commit), else after
 * the last run. */
static void lose_committed_file(const struct selftest *st)
{
    static bool done;
    const char *fault = getenv("WEIR_SELFTEST_FAULT");
    if (done || !fault || strcmp(fault, "lose-committed-file"))
        return;
    DIR *d = opendir(st->rec_out);
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (!strncmp(e->d_name, "part-", 5)) {
            char p[1500];
            snprintf(p, sizeof p, "%s/%s", st->rec_out, e->d_name);
            if (unlink(p) == 0) {
                fprintf(stderr, "weir: selftest: WEIR_SELFTEST_FAULT: deleted %s\n", p);
                done = true;
            }
            break;
        }
    if (d)
        closedir(d);
}

/* --- the command line and the configuration ------------------------------------------- */

static void selftest_usage(FILE *out)
{
    fprintf(out,
            "usage: weir selftest recovery [-c FILE] [-D key=value]... [-p N] [--kills N]\n"
            "                              [--records N] [--keep]\n"
            "Runs a stateful job (keyed 1 s window counts into exactly-once files) on this\n"
            "configuration and its state.checkpoints.dir once without failures, then again\n"
            "killed with SIGKILL --kills times (default 5) and restored from the latest\n"
            "checkpoint each time, and compares the committed rows. --records N (or --events N,\n"
            "default 1M) sizes the input; the killed runs last about 3 (kills + 1) checkpoint\n"
            "intervals (1 s when execution.checkpointing.interval is 0). --keep keeps the\n"
            "scratch output, logs and checkpoints. Exit 0 PASS, 1 FAIL, 2 bad usage.\n");
}

static int value_of(int argc, char **argv, int *i, const char **v)
{
    const char *a = argv[*i];
    if ((a[1] == 'c' || a[1] == 'D' || a[1] == 'p') && a[2]) {
        *v = a + 2;
        return 0;
    }
    if (*i + 1 >= argc) {
        fprintf(stderr, "weir: selftest: %s needs a value\n", a);
        return -1;
    }
    *v = argv[++*i];
    return 0;
}

/* Options into st and the configuration (file, then -D, then -p); -1 after one line. */
static int selftest_args(int argc, char **argv, struct selftest *st)
{
    const char *file = NULL, *defs[256], *par = NULL;
    int n_defs = 0;
    char err[512];
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "--keep")) {
            st->keep = true;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            selftest_usage(stdout);
            exit(0);
        } else if (!strcmp(a, "--kills") || !strcmp(a, "--records") || !strcmp(a, "--events")) {
            if (value_of(argc, argv, &i, &v) < 0 ||
                (a[2] == 'k' ? cli_parse_count(NULL, a, v, &st->kills)
                             : cli_parse_total(NULL, a, v, &st->records)) < 0)
                return -1;
        } else if (!strncmp(a, "-c", 2) || !strcmp(a, "--config")) {
            if (value_of(argc, argv, &i, &file) < 0)
                return -1;
        } else if (!strncmp(a, "-p", 2) || !strcmp(a, "--parallelism")) {
            if (value_of(argc, argv, &i, &par) < 0)
                return -1;
        } else if (!strncmp(a, "-D", 2)) {
            if (value_of(argc, argv, &i, &v) < 0)
                return -1;
            if (n_defs == 256) {
                fprintf(stderr, "weir: -D: more than 256 overrides\n");
                return -1;
            }
            defs[n_defs++] = v;
        } else {
            fprintf(stderr, "weir: selftest recovery: unknown option \"%s\"\n", a);
            selftest_usage(stderr);
            return -1;
        }
    }
    if (st->kills < 1 || st->kills > 1000) {
        fprintf(stderr, "weir: --kills: %" PRIu64 ": expected 1 to 1000\n", st->kills);
        return -1;
    }
    if (file && weir_config_load_file(st->cfg, file, err, sizeof err) < 0) {
        fprintf(stderr, "weir: %s\n", err);
        return -1;
    }
    for (int d = 0; d < n_defs; d++)
        if (weir_config_set_kv(st->cfg, defs[d], err, sizeof err) < 0) {
            fprintf(stderr, "weir: -D %s\n", err);
            return -1;
        }
    if (par && weir_config_set(st->cfg, "parallelism.default", par, err, sizeof err) < 0) {
        fprintf(stderr, "weir: -p %s\n", err);
        return -1;
    }
    st->interval_ms = weir_config_get_duration_ms(st->cfg, "execution.checkpointing.interval");
    if (st->interval_ms == 0) {
        st->interval_ms = 1000;
        if (weir_config_set(st->cfg, "execution.checkpointing.interval", "1s", err, sizeof err) <
            0) {
            fprintf(stderr, "weir: %s\n", err);
            return -1;
        }
    }
    if (weir_config_resolve(st->cfg, err, sizeof err) < 0) {
        fprintf(stderr, "weir: %s\n", err);
        return -1;
    }
    return 0;
}

/* --- the selftest --------------------------------------------------------------------- */

static int setup_dirs(struct selftest *st)
{
    char tmpl[sizeof st->scratch];
    int rc = checkpoint_dir(st->cfg, st->ckdir, sizeof st->ckdir);
    if (rc == 0)
        rc = mkdirs(st->ckdir);
    snprintf(tmpl, sizeof tmpl, "%s/selftest-recovery-%d.XXXXXX", st->ckdir, (int)getpid());
    if (rc < 0 || !mkdtemp(tmpl)) {
        fprintf(stderr, "weir: selftest: state.checkpoints.dir: %s: %s\n", st->ckdir,
                strerror(rc < 0 ? -rc : errno));
        return -1;
    }
    snprintf(st->scratch, sizeof st->scratch, "%s", tmpl);
    snprintf(st->ref_out, sizeof st->ref_out, "%s/failure-free", st->scratch);
    snprintf(st->rec_out, sizeof st->rec_out, "%s/recovered", st->scratch);
    snprintf(st->ref_job, sizeof st->ref_job, "selftest-recovery-%d-ref", (int)getpid());
    snprintf(st->rec_job, sizeof st->rec_job, "selftest-recovery-%d", (int)getpid());
    return 0;
}

/* The failure-free run, unpaced; 0, or -1 with why. */
static int run_reference(const struct selftest *st, double *secs, char *why, size_t len)
{
    struct attempt a;
    if (spawn(st, &a, 0, st->ref_job, st->ref_out, NULL, 0) < 0)
        return -1;
    /* generous: a hung job must not hang the selftest for ever */
    if (follow(&a, NULL, a.t_start + 600 + 3.0 * (double)st->records / 1e4) < 0) {
        end_run(&a);
        snprintf(why, len, "the failure-free run did not end within %.0f s (see %s)",
                 600 + 3.0 * (double)st->records / 1e4, a.log);
        return -1;
    }
    *secs = now_s() - a.t_start;
    if (!finished_ok(&a)) {
        run_failed(&a, "the failure-free run", why, len);
        return -1;
    }
    printf("failure-free run: %.2f s, %d checkpoint%s\n", *secs, a.completed,
           a.completed == 1 ? "" : "s");
    return 0;
}

static void print_run(int n, const struct attempt *a, bool restored, bool killed)
{
    char first[32] = "no record yet";
    if (a->t_first >= 0)
        snprintf(first, sizeof first, "%.3f s", a->t_first);
    printf("run %d: %s, first record after %s, %d checkpoint%s completed (last %" PRIu64
           "), %d failed, %s after %.2f s\n",
           n, restored ? "restored from the latest checkpoint" : "started empty", first,
           a->completed, a->completed == 1 ? "" : "s", a->last_id, a->failed,
           killed ? "killed with SIGKILL" : "finished", now_s() - a->t_start);
}

/* The killed runs and the last one; the number of kills done, or -1 with why. */
static int run_killed(const struct selftest *st, double *restore_s, char *why, size_t len)
{
    int kills = 0;
    double first_ckpt_limit = 30.0 + 20.0 * (double)st->interval_ms / 1000;
    for (int n = 1;; n++) {
        struct attempt a;
        bool restored = kills > 0, last = (uint64_t)kills == st->kills;
        if (spawn(st, &a, n, st->rec_job, st->rec_out, restored ? "latest" : NULL, st->rate) < 0)
            return -1;
        int rc = 0;
        if (!last) {
            rc = follow(&a, has_checkpoint, a.t_start + first_ckpt_limit);
            /* then a random moment within the next interval */
            double at = now_s() + drand48() * (double)st->interval_ms / 1000;
            if (rc == 0)
                rc = follow(&a, NULL, at) < 0 ? 0 : 1;
        } else {
            rc = follow(&a, NULL, a.t_start + 600 + 10.0 * (double)st->records / st->rate);
        }
        if (rc < 0 && !last) {
            end_run(&a);
            snprintf(why, len,
                     "run %d: no checkpoint completed within %.0f s "
                     "(execution.checkpointing.interval %" PRId64 " ms; see %s)",
                     n, first_ckpt_limit, st->interval_ms, a.log);
            return -1;
        }
        if (rc < 0) {
            end_run(&a);
            snprintf(why, len, "run %d did not end (see %s)", n, a.log);
            return -1;
        }
        if (restored && a.t_first >= 0)
            restore_s[kills - 1] = a.t_first;
        if (rc == 0) { /* still running: the kill */
            end_run(&a);
            print_run(n, &a, restored, true);
            kills++;
            lose_committed_file(st);
            continue;
        }
        if (!finished_ok(&a)) {
            char what[32];
            snprintf(what, sizeof what, "run %d", n);
            run_failed(&a, what, why, len);
            return -1;
        }
        print_run(n, &a, restored, false);
        lose_committed_file(st);
        return kills;
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int selftest_recovery(struct selftest *st)
{
    char why[4096] = "";
    double ref_s = 0, *restore_s = calloc(st->kills + 1, sizeof *restore_s);
    if (!restore_s || setup_dirs(st) < 0) {
        free(restore_s);
        return EXIT_USAGE;
    }
    st->rate =
        (double)st->records / (3.0 * (double)(st->kills + 1) * (double)st->interval_ms / 1000);
    printf("weir selftest recovery: %" PRIu64 " records, %" PRIu64 " keys, %d ms windows, "
           "parallelism %" PRId64 ", state %s, checkpoints %s every %" PRId64 " ms in %s\n",
           st->records, st->keys, WINDOW_MS, weir_config_get_int(st->cfg, "parallelism.default"),
           weir_config_get_str(st->cfg, "state.backend"),
           weir_config_get_str(st->cfg, "execution.checkpointing.mode"), st->interval_ms,
           st->ckdir);
    printf("scratch: %s (%s)\n", st->scratch, st->keep ? "kept: --keep" : "removed at the end");
    double t0 = now_s();
    int kills = -1;
    if (run_reference(st, &ref_s, why, sizeof why) == 0) {
        printf("%" PRIu64 " kills at random moments, %.0f records/s\n", st->kills, st->rate);
        kills = run_killed(st, restore_s, why, sizeof why);
    }
    struct rows want, got;
    int status = EXIT_FAILED;
    if (kills >= 0 && rows_read(st->ref_out, &want) == 0) {
        if (rows_read(st->rec_out, &got) == 0) {
            if (want.n == 0)
                snprintf(why, sizeof why, "the failure-free run committed no rows");
            else if (rows_compare(&want, &got, why, sizeof why) == 0)
                status = 0;
            rows_free(&got);
        }
        rows_free(&want);
    } else if (kills >= 0) {
        snprintf(why, sizeof why, "could not read the outputs in %s", st->scratch);
    }
    if (status == 0) {
        qsort(restore_s, (size_t)kills, sizeof *restore_s, cmp_double);
        printf("recovery: PASS (%d kills, %zu rows equal to the failure-free run's; restore to "
               "first record median %.3f s, max %.3f s; failure-free %.1f s, with kills %.1f s)\n",
               kills, want.n, kills ? restore_s[kills / 2] : 0, kills ? restore_s[kills - 1] : 0,
               ref_s, now_s() - t0 - ref_s);
        if ((uint64_t)kills < st->kills)
            printf("note: the job ended after %d of %" PRIu64 " kills: give more --records\n",
                   kills, st->kills);
    } else {
        printf("recovery: FAIL: %s\n", why);
    }
    if (!st->keep)
        clean_up(st);
    if (status != 0 && !st->keep)
        printf("(the runs' logs and output are removed: --keep keeps them)\n");
    free(restore_s);
    return status;
}

int cmd_selftest(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "recovery")) {
        fprintf(stderr, "weir: selftest: expected \"recovery\" (weir selftest recovery --help)\n");
        return EXIT_USAGE;
    }
    struct selftest st = {.records = 1000000, .keys = 100, .kills = 5};
    st.cfg = weir_config_new();
    if (!st.cfg)
        return EXIT_FAILED;
    int status = EXIT_USAGE;
    if (selftest_args(argc - 2, argv + 2, &st) == 0) {
        srand48((long)now_s() ^ (long)getpid());
        status = selftest_recovery(&st);
    }
    weir_config_free(st.cfg);
    return status;
}
