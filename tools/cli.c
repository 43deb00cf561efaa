/* Shared pieces of the weir command: see cli.h. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "cli.h"

int cli_parse_count(const char *flag, const char *v, uint64_t *out)
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
    if (*end || !(d >= 0) || d > 1.8e19)
        goto bad;
    *out = (uint64_t)d;
    return 0;
bad:
    fprintf(stderr, "weir: %s: \"%s\": expected a non-negative count like 1000000, 1e6 or 10M\n",
            flag, v);
    return -EINVAL;
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
