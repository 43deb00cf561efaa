/*
 * The weir command as the tests that drive it run it (weir_test.h, "the weir command"): fork,
 * its output into a log, an optional WEIR_CRASH_POINT, and a SIGKILL after a delay.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <string.h>
#include <unistd.h>

#include "weir_test.h"

const char *wt_weir_cmd(void)
{
    const char *w = getenv("WEIR");
    if (!w || !*w) {
        fprintf(stderr, "skip: WEIR (the weir command) is not set: run through ctest\n");
        exit(77);
    }
    return w;
}

pid_t wt_weir_start(const char *const *argv, const char *log, const char *crash_point)
{
    /* the log is emptied here, before the run starts: a caller that polls it (for a
     * completed checkpoint, say) must not read the previous run's lines from it */
    int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        fail_msg("%s: %s", log, strerror(errno));
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        if (dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
            _exit(126);
        if (crash_point)
            setenv("WEIR_CRASH_POINT", crash_point, 1);
        else
            unsetenv("WEIR_CRASH_POINT");
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    int fork_errno = errno;
    close(fd);
    if (pid < 0)
        fail_msg("fork for %s: %s", argv[0], strerror(fork_errno));
    return pid;
}

int wt_weir_wait(pid_t pid, int kill_after_ms)
{
    if (kill_after_ms > 0) {
        struct timespec ts = {kill_after_ms / 1000, (kill_after_ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
            ;
        kill(pid, SIGKILL);
    }
    int st;
    pid_t w;
    while ((w = waitpid(pid, &st, 0)) < 0 && errno == EINTR)
        ;
    if (w != pid)
        fail_msg("waitpid %d: %s", (int)pid, strerror(errno));
    return st;
}
