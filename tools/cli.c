/* Shared pieces of the weir command: see cli.h. */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

void cli_error(weir_job *job, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (job)
        weir_job_fail(job, "%s", msg);
    else
        fprintf(stderr, "weir: %s\n", msg);
}

int cli_parse_count(weir_job *job, const char *flag, const char *v, uint64_t *out)
{
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (end == v || errno)
        goto bad;
    if (*end == 'k' || *end == 'K')
        d *= 1e3, end++;
    else if (*end == 'm' || *end == 'M')
        d *= 1e6, end++;
    else if (*end == 'g' || *end == 'G' || *end == 'b' || *end == 'B')
        d *= 1e9, end++;
    if (*end || !(d >= 0) || d > 1.8e19 || d != (double)(uint64_t)d)
        goto bad;
    *out = (uint64_t)d;
    return 0;
bad:
    cli_error(job, "%s: \"%s\": expected a whole count like 1000000, 1e6 or 10M", flag, v);
    return -EINVAL;
}

int cli_parse_total(weir_job *job, const char *flag, const char *v, uint64_t *out)
{
    int rc = cli_parse_count(job, flag, v, out);
    if (rc == 0 && *out == 0) {
        cli_error(job, "%s: \"%s\": expected a count above 0; a run without end is --unbounded",
                  flag, v);
        rc = -EINVAL;
    }
    return rc;
}

int cli_output_not_input(weir_job *job, const char *in, const char *out)
{
    struct stat si, so;
    if (stat(in, &si) < 0 || stat(out, &so) < 0)
        return 0; /* a missing INPUT is the source's error; a missing OUTPUT is not INPUT */
    if (si.st_dev == so.st_dev && si.st_ino == so.st_ino) {
        weir_job_fail(job,
                      "OUTPUT \"%s\" is the INPUT \"%s\": writing it would empty what the job "
                      "reads; give another OUTPUT",
                      out, in);
        return -EINVAL;
    }
    if (!S_ISDIR(so.st_mode))
        return 0;
    /* At parallelism > 1 OUTPUT is a directory of part files, rewritten as the job runs. */
    char *real = realpath(in, NULL);
    if (!real)
        return 0;
    char *slash = strrchr(real, '/');
    slash[slash == real] = 0; /* the directory INPUT is in: "/" for "/x" */
    struct stat sd;
    int in_out = stat(real, &sd) == 0 && sd.st_dev == so.st_dev && sd.st_ino == so.st_ino;
    free(real);
    if (in_out) {
        weir_job_fail(job,
                      "INPUT \"%s\" is in the OUTPUT directory \"%s\", whose part files the job "
                      "rewrites; give another OUTPUT",
                      in, out);
        return -EINVAL;
    }
    return 0;
}

static weir_job *volatile running_job;
static volatile sig_atomic_t signals_seen;

static void on_signal(int sig)
{
    if (signals_seen++ && running_job) {
        static const char msg[] = "\nweir: second signal, exiting now\n";
        (void)!write(2, msg, sizeof msg - 1);
        _exit(130);
    }
    if (running_job)
        weir_job_cancel(running_job);
}

static void on_usr1(int sig)
{
    if (running_job)
        weir_job_savepoint(running_job);
}

void cli_watch_signals(weir_job *job)
{
    running_job = job;
    if (!job)
        return;
    signals_seen = 0;
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    struct sigaction su = {.sa_handler = on_usr1};
    sigemptyset(&su.sa_mask);
    sigaction(SIGUSR1, &su, NULL);
}

int cli_run_exit_status(int rc)
{
    return rc == -EINVAL || rc == -ENOMEM || rc == -EEXIST || rc == -EADDRINUSE ? EXIT_USAGE
                                                                                : EXIT_FAILED;
}
