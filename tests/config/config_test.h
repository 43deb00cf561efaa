/*
 * Helpers only the config tests share, on top of tests/support/weir_test.h: a config's
 * printed output as a string, one line of it, and a check that a call aborts.
 */
#ifndef WEIR_CONFIG_TEST_H
#define WEIR_CONFIG_TEST_H

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <weir/config.h>

#include "weir_test.h"

/* What print(c, out) writes, as a malloc'd string. */
static inline char *print_to_string(void (*print)(const weir_config *, FILE *),
                                    const weir_config *c)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        abort();
    print(c, f);
    fclose(f);
    return buf;
}

/* The line of text that starts with start, without its newline, into buf; "" when none. */
static inline const char *line_starting(const char *text, const char *start, char *buf, size_t len)
{
    size_t sl = strlen(start);
    buf[0] = '\0';
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (strncmp(p, start, sl) == 0) {
            size_t n = strcspn(p, "\n");
            snprintf(buf, len, "%.*s", (int)n, p);
            break;
        }
    }
    return buf;
}

/* True when fn(arg) ends the process with SIGABRT. */
static inline int aborts(void (*fn)(const void *), const void *arg)
{
    int status;
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        /* The abort message is expected; keep the test log readable. */
        if (!freopen("/dev/null", "w", stderr))
            _exit(2);
        fn(arg);
        _exit(0);
    }
    if (pid < 0 || waitpid(pid, &status, 0) != pid)
        return 0;
    return WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
}

#endif
