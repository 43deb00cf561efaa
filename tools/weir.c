/*
 * The weir command.
 *
 *   weir run [-c FILE] [-p N] [-D key=value]... JOB [ARGS...]
 *   weir config [-c FILE] [-D key=value]...
 *   weir jobs
 *   weir inspect [--json] [--key K [--state NAME]] PATH (inspect.h)
 *   weir selftest recovery [-c FILE] [-D key=value]... [--kills N] (selftest.h)
 *   weir list | savepoint | stop | cancel | checkpoint | why-late ... (cli_jobs.h)
 *
 * JOB is a built-in job (weir jobs) or a path to a job shared object exporting
 * weir_job_main, as `flink run` takes a jar. Exit status: 0 when the job
 * finished or was stopped by SIGINT/SIGTERM, 1 when it failed, 2 for bad usage
 * or configuration.
 */
#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <weir/config.h>
#include <weir/weir.h>

#include "bench_nexmark.h"
#include "builtin_jobs.h"
#include "cli.h"
#include "cli_jobs.h"
#include "cli_log.h"
#include "inspect.h"
#include "selftest.h"

static void usage(FILE *out)
{
    fprintf(
        out,
        "usage: weir run [-c FILE] [-p N] [-D key=value]...\n"
        "                [--from-checkpoint|--from-savepoint|-s latest|DIR|s3://BUCKET/KEY]\n"
        "                [--allow-non-restored-state|-n] [--overwrite] JOB [ARGS...]\n"
        "       weir config [-c FILE] [-D key=value]...\n"
        "       weir jobs\n"
        "       weir inspect [--json] [--key K [--state NAME]] PATH\n"
        "       weir bench nexmark --query QUERY --events N [...]   (see --help)\n"
        "       weir selftest recovery [-c FILE] [-D key=value]... [--kills N] [...]\n"
        "       weir list | savepoint | stop | cancel | checkpoint | why-late ...\n"
        "                                      (see weir list --help)\n"
        "JOB is a built-in job (see `weir jobs`) or a path to a job shared object, with a\n"
        "slash (./job.so). --overwrite lets a fresh run replace the part files of an\n"
        "exactly-once output directory that is not empty (sink.file.overwrite).\n"
        "--from-checkpoint latest restores the newest retained checkpoint of\n"
        "state.checkpoints.dir; a DIR or s3:// URL names one checkpoint (chk-N) or savepoint.\n"
        "Flink's spellings --fromSavepoint and --allowNonRestoredState work too.\n");
}

static const char *restore_from;
static bool allow_non_restored;
static bool overwrite;

/* Options common to run and config; returns the index of the first operand. */
static int parse_common(int argc, char **argv, bool want_job, weir_config *cfg, int *parallelism)
{
    char err[512];
    const char *file = NULL;
    int i = 1;
    /* -D values apply after the file whatever their order on the line. */
    const char *defs[256];
    int n_defs = 0;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-' || !a[1])
            break;
        if (!strcmp(a, "--")) {
            i++;
            break;
        }
        const char *val = NULL;
        char opt = a[1];
        if ((opt == 'c' || opt == 'p' || opt == 'D') && a[2])
            val = a + 2;
        else if (opt == 'c' || opt == 'p' || opt == 'D') {
            if (i + 1 >= argc) {
                fprintf(stderr, "weir: -%c needs a value\n", opt);
                return -1;
            }
            val = argv[++i];
        }
        if (!strcmp(a, "--config")) {
            opt = 'c';
            if (i + 1 >= argc) {
                fprintf(stderr, "weir: --config needs a value\n");
                return -1;
            }
            val = argv[++i];
        } else if (!strcmp(a, "--parallelism")) {
            opt = 'p';
            if (i + 1 >= argc) {
                fprintf(stderr, "weir: --parallelism needs a value\n");
                return -1;
            }
            val = argv[++i];
        } else if (!strcmp(a, "--from-checkpoint") || !strcmp(a, "--from-savepoint") ||
                   !strcmp(a, "-s") || !strcmp(a, "--fromSavepoint")) { /* Flink's spelling */
            if (i + 1 >= argc) {
                fprintf(stderr, "weir: %s needs \"latest\" or a checkpoint directory\n", a);
                return -1;
            }
            restore_from = argv[++i];
            continue;
        } else if (!strcmp(a, "--allow-non-restored-state") || !strcmp(a, "-n") ||
                   !strcmp(a, "--allowNonRestoredState")) {
            allow_non_restored = true;
            continue;
        } else if (!strcmp(a, "--overwrite")) {
            overwrite = true;
            continue;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            exit(0);
        } else if (!val) {
            fprintf(stderr, "weir: unknown option \"%s\"\n", a);
            usage(stderr);
            return -1;
        }
        switch (opt) {
        case 'c':
            file = val;
            break;
        case 'p': {
            char *end;
            long p = strtol(val, &end, 10);
            if (*end || end == val || p < 1 || p > 32768) {
                fprintf(stderr, "weir: -p: \"%s\": expected a parallelism from 1 to 32768\n", val);
                return -1;
            }
            *parallelism = (int)p;
            break;
        }
        case 'D':
            if (n_defs == 256) {
                fprintf(stderr, "weir: -D: more than 256 overrides\n");
                return -1;
            }
            defs[n_defs++] = val;
            break;
        }
    }
    if (file && weir_config_load_file(cfg, file, err, sizeof err) < 0) {
        fprintf(stderr, "weir: %s\n", err);
        return -1;
    }
    for (int d = 0; d < n_defs; d++) {
        if (weir_config_set_kv(cfg, defs[d], err, sizeof err) < 0) {
            fprintf(stderr, "weir: -D %s\n", err);
            return -1;
        }
    }
    /* after -D: the flag wins over -D sink.file.overwrite=false */
    if (overwrite && weir_config_set(cfg, "sink.file.overwrite", "true", err, sizeof err) < 0) {
        fprintf(stderr, "weir: --overwrite: %s\n", err);
        return -1;
    }
    if (parallelism && *parallelism) {
        char p[16];
        snprintf(p, sizeof p, "%d", *parallelism);
        if (weir_config_set(cfg, "parallelism.default", p, err, sizeof err) < 0) {
            fprintf(stderr, "weir: -p %s\n", err);
            return -1;
        }
    }
    if (weir_config_resolve(cfg, err, sizeof err) < 0) {
        fprintf(stderr, "weir: %s\n", err);
        return -1;
    }
    if (want_job && i >= argc) {
        fprintf(stderr, "weir: run: no JOB given; `weir jobs` lists the built-in ones\n");
        return -1;
    }
    return i;
}

static int cmd_jobs(void)
{
    printf("built-in jobs (weir run [-p N] JOB ARGS):\n");
    for (const struct builtin_job *j = builtin_jobs; j->name; j++)
        printf("  %-12s %s\n  %-12s   args: %s\n", j->name, j->summary, "", j->usage);
    nexmark_jobs_print(stdout);
    printf("or a path to a job shared object (./job.so) exporting %s (see README.md)\n",
           WEIR_JOB_MAIN_SYMBOL);
    return 0;
}

static int cmd_config(int argc, char **argv)
{
    weir_config *cfg = weir_config_new();
    if (!cfg)
        return EXIT_FAILED;
    int parallelism = 0;
    int first = parse_common(argc, argv, false, cfg, &parallelism);
    if (first < 0) {
        weir_config_free(cfg);
        return EXIT_USAGE;
    }
    if (first < argc) {
        fprintf(stderr, "weir: config: unexpected argument \"%s\"\n", argv[first]);
        weir_config_free(cfg);
        return EXIT_USAGE;
    }
    weir_config_print(cfg, stdout);
    weir_config_print_pools(cfg, stdout);
    weir_config_free(cfg);
    return 0;
}

struct progress {
    bool on;
    bool drawn;
};

static void human(double v, char *buf, size_t len)
{
    if (v >= 1e9)
        snprintf(buf, len, "%.2f G", v / 1e9);
    else if (v >= 1e6)
        snprintf(buf, len, "%.2f M", v / 1e6);
    else if (v >= 1e3)
        snprintf(buf, len, "%.2f K", v / 1e3);
    else
        snprintf(buf, len, "%.0f ", v);
}

/* The checkpoint skew line of the run summary (the operations guide's "checkpoint skew"):
 * in the last completed checkpoint, the slowest and fastest subtask end to end, and the
 * smallest and largest state. */
static void print_skew(const struct weir_run_stats *st)
{
    if (!st->skew_checkpoint_id)
        return;
    const struct weir_subtask_checkpoint *s = &st->skew_slowest, *f = &st->skew_fastest,
                                         *lo = &st->skew_smallest, *hi = &st->skew_largest;
    char a[32], b[32];
    human((double)lo->size_bytes, a, sizeof a);
    human((double)hi->size_bytes, b, sizeof b);
    fprintf(stderr,
            "weir: checkpoint skew (checkpoint %llu, %d subtasks): slowest %s subtask %d of %d "
            "%llu ms end to end (sync %llu ms, alignment %llu ms), fastest %s subtask %d of %d "
            "%llu ms; size min %sB (%s subtask %d of %d), max %sB (%s subtask %d of %d)\n",
            (unsigned long long)st->skew_checkpoint_id, st->skew_subtasks, s->task, s->subtask,
            s->parallelism, (unsigned long long)s->end_to_end_ms, (unsigned long long)s->sync_ms,
            (unsigned long long)s->alignment_ms, f->task, f->subtask, f->parallelism,
            (unsigned long long)f->end_to_end_ms, a, lo->task, lo->subtask, lo->parallelism, b,
            hi->task, hi->subtask, hi->parallelism);
}

static void show_progress(void *arg, uint64_t records, double elapsed_s, bool done)
{
    struct progress *p = arg;
    if (!p->on)
        return;
    char n[32], r[32];
    human((double)records, n, sizeof n);
    human(elapsed_s > 0 ? (double)records / elapsed_s : 0, r, sizeof r);
    fprintf(stderr, "\r\033[Kweir: %srecords  %srecords/s  %.1f s", n, r, elapsed_s);
    p->drawn = true;
    if (done)
        fputc('\n', stderr);
}

/* Loads a job shared object from a path (cmd_run never passes a bare name: dlopen would look
 * it up in the library search path) and returns its entry point, or NULL after a one-line
 * error. A job built against another job API (WEIR_ABI_VERSION, job.h) is refused before
 * it runs: its struct weir_emit may not be weir's. */
static weir_job_main_fn load_job(const char *path, void **dl_out)
{
    void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!dl) {
        fprintf(stderr, "weir: run: %s\n", dlerror());
        return NULL;
    }
    /* The handle's scope is the job .so and its dependencies: libweir does not export the
     * symbol, so only the job's own definition is found. */
    const uint32_t *abi = dlsym(dl, WEIR_ABI_VERSION_SYMBOL);
    weir_job_main_fn job_main = (weir_job_main_fn)dlsym(dl, WEIR_JOB_MAIN_SYMBOL);
    if (!abi)
        fprintf(stderr,
                "weir: run: %s: built against a weir older than ABI version checks (no %s), "
                "this weir is ABI version %d: rebuild the job\n",
                path, WEIR_ABI_VERSION_SYMBOL, WEIR_ABI_VERSION);
    else if (*abi != WEIR_ABI_VERSION)
        fprintf(stderr,
                "weir: run: %s: built against weir ABI version %" PRIu32
                ", this weir is ABI version %d: rebuild the job\n",
                path, *abi, WEIR_ABI_VERSION);
    else if (!job_main)
        fprintf(stderr, "weir: run: %s: does not export %s\n", path, WEIR_JOB_MAIN_SYMBOL);
    else {
        *dl_out = dl;
        return job_main;
    }
    dlclose(dl);
    return NULL;
}

static int cmd_run(int argc, char **argv)
{
    weir_config *cfg = weir_config_new();
    if (!cfg)
        return EXIT_FAILED;
    int parallelism = 0;
    int first = parse_common(argc, argv, true, cfg, &parallelism);
    if (first < 0) {
        weir_config_free(cfg);
        return EXIT_USAGE;
    }
    const char *name = argv[first];
    weir_job_main_fn job_main = NULL;
    void *dl = NULL;
    const struct builtin_job *bj = builtin_job_find(name);
    if (bj) {
        job_main = bj->main;
    } else if (strchr(name, '/')) {
        job_main = load_job(name, &dl);
        if (!job_main) {
            weir_config_free(cfg);
            return EXIT_USAGE;
        }
    } else if (strstr(name, ".so")) {
        fprintf(stderr,
                "weir: run: \"%s\": a job shared object is loaded from a path with a slash only, "
                "never through the library search path: write ./%s\n",
                name, name);
        weir_config_free(cfg);
        return EXIT_USAGE;
    } else {
        fprintf(stderr,
                "weir: run: \"%s\" is neither a built-in job (see `weir jobs`) nor a path to a "
                "job shared object\n",
                name);
        weir_config_free(cfg);
        return EXIT_USAGE;
    }

    const char *base = strrchr(name, '/') ? strrchr(name, '/') + 1 : name;
    weir_job *job = weir_job_new(base);
    int rc = job ? job_main(job, argc - first, argv + first) : -ENOMEM;
    if (rc != 0) {
        if (job && weir_job_error(job))
            fprintf(stderr, "weir: job %s: %s\n", base, weir_job_error(job));
        else
            fprintf(stderr,
                    "weir: job %s: could not build the job: %s returned %d (%s) and gave no "
                    "reason (weir_job_fail)\n",
                    base, WEIR_JOB_MAIN_SYMBOL, rc, strerror(rc < 0 ? -rc : rc));
        weir_job_free(job);
        weir_config_free(cfg);
        if (dl)
            dlclose(dl);
        return EXIT_USAGE;
    }

    const char *pmode = weir_config_get_str(cfg, "weir.progress");
    struct progress prog = {.on = !strcmp(pmode, "always") ||
                                  (!strcmp(pmode, "auto") && isatty(STDERR_FILENO))};
    weir_config_print_pools(cfg, stderr);
    struct weir_run_opts opts = {.parallelism = parallelism,
                                 .progress = show_progress,
                                 .progress_arg = &prog,
                                 .restore_from = restore_from,
                                 .allow_non_restored_state = allow_non_restored,
                                 .on_rest = cli_jobs_on_rest};
    cli_jobs_register_name(base);
    struct weir_run_stats st;
    char err[1024];
    cli_watch_signals(job);
    rc = weir_job_run(job, cfg, &opts, &st, err, sizeof err);
    cli_watch_signals(NULL);
    cli_jobs_unregister();
    int status = 0;
    if (rc < 0) {
        fprintf(stderr, "weir: %s\n", err);
        status = cli_run_exit_status(rc);
        if (rc == -EIO)
            status = EXIT_FAILED;
    } else {
        char a[32], b[32];
        double rate = st.elapsed_s > 0 ? (double)st.source_records / st.elapsed_s : 0;
        human(rate, a, sizeof a);
        human(st.workers ? rate / st.workers : 0, b, sizeof b);
        char chk[200] = "", from[64] = "";
        if (st.restored_checkpoint)
            snprintf(from, sizeof from, ", restored from %llu",
                     (unsigned long long)st.restored_checkpoint);
        if (st.checkpoints_completed || st.checkpoints_failed || st.restored_checkpoint)
            snprintf(chk, sizeof chk,
                     "; checkpoints: %llu completed, %llu failed, last %llu%s, %d restart%s",
                     (unsigned long long)st.checkpoints_completed,
                     (unsigned long long)st.checkpoints_failed,
                     (unsigned long long)st.last_checkpoint_id, from, st.restarts,
                     st.restarts == 1 ? "" : "s");
        print_skew(&st); /* before the last line, which says how the job ended */
        fprintf(stderr,
                "weir: job %s %s in %.3f s: %llu records from sources, %llu into sinks, "
                "%srecords/s (%srecords/s per worker, %d worker%s)%s\n",
                base, st.cancelled ? "stopped" : "finished", st.elapsed_s,
                (unsigned long long)st.source_records, (unsigned long long)st.sink_records, a, b,
                st.workers, st.workers == 1 ? "" : "s", chk);
    }
    weir_job_free(job);
    weir_config_free(cfg);
    if (dl)
        dlclose(dl);
    return status;
}

int main(int argc, char **argv)
{
    cli_log_init(); /* "<N>" levels on each line under journald */
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "run"))
        return cmd_run(argc - 1, argv + 1);
    if (!strcmp(cmd, "config"))
        return cmd_config(argc - 1, argv + 1);
    if (!strcmp(cmd, "jobs"))
        return cmd_jobs();
    if (!strcmp(cmd, "bench"))
        return cmd_bench(argc - 1, argv + 1);
    if (!strcmp(cmd, "selftest"))
        return cmd_selftest(argc - 1, argv + 1);
    if (!strcmp(cmd, "inspect"))
        return cmd_inspect(argc - 1, argv + 1);
    int rc = cmd_job_verb(argc - 1, argv + 1);
    if (rc >= 0)
        return rc;
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "weir: unknown command \"%s\"\n", cmd);
    usage(stderr);
    return EXIT_USAGE;
}
