/* See cli_log.h. The stream is fopencookie's: glibc locks it per call as it does stderr, so
 * threads' lines do not interleave within a line (it is line buffered), and the cookie keeps
 * only whether the next byte starts a line. Bytes go straight to fd 2, so nothing waits in a
 * buffer of ours when the process dies. */
#include "cli_log.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static bool at_line_start = true;

static bool has(const char *line, size_t len, const char *word)
{
    return memmem(line, len, word, strlen(word)) != NULL;
}

int cli_log_level(const char *line, size_t len)
{
    static const char *const errors[] = {"fail", "error", "cannot", "could not", "out of memory",
                                         "unknown", "needs a value", "unexpected argument",
                                         "refus", "SIGKILL", "not running"};
    static const char *const warnings[] = {"warning", "restart", "retry", "retrying", "stall",
                                           "falling back", "instead", "will not", "not taken",
                                           "skipp", "dropped", "lost"};
    for (size_t i = 0; i < sizeof errors / sizeof *errors; i++)
        if (has(line, len, errors[i]))
            return 3;
    for (size_t i = 0; i < sizeof warnings / sizeof *warnings; i++)
        if (has(line, len, warnings[i]))
            return 4;
    return 6;
}

static int write_all(const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(STDERR_FILENO, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* A line's level is read from the bytes of this call up to its newline: a line written in
 * pieces (fputs, vfprintf, fputc) reaches us whole, as the stream is line buffered. */
static ssize_t journal_write(void *cookie, const char *buf, size_t size)
{
    (void)cookie;
    size_t off = 0;
    while (off < size) {
        const char *nl = memchr(buf + off, '\n', size - off);
        size_t end = nl ? (size_t)(nl - buf) + 1 : size;
        if (at_line_start) {
            char pre[4] = {'<', (char)('0' + cli_log_level(buf + off, end - off)), '>', 0};
            if (write_all(pre, 3) < 0)
                return off ? (ssize_t)off : -1;
        }
        if (write_all(buf + off, end - off) < 0)
            return off ? (ssize_t)off : -1;
        at_line_start = nl != NULL;
        off = end;
    }
    return (ssize_t)size;
}

/* systemd's contract: JOURNAL_STREAM is "DEVICE:INODE" of the stream it connected, and a
 * process must check that stderr is still that stream (a redirect replaces it). */
static bool stderr_is_journal(void)
{
    const char *js = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;
    if (!js || sscanf(js, "%llu:%llu", &dev, &ino) != 2 || fstat(STDERR_FILENO, &st) < 0)
        return false;
    return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void cli_log_init(void)
{
    if (!stderr_is_journal())
        return;
    FILE *f = fopencookie(NULL, "w", (cookie_io_functions_t){.write = journal_write});
    if (!f)
        return; /* plain lines, as without the journal */
    setvbuf(f, NULL, _IOLBF, 0);
    fflush(stderr);
    stderr = f;
}
