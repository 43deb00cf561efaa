/* Numbered-line inputs and the check of what an exactly-once file sink committed of them
 * (weir_test.h: wt_lines_file, wt_count_committed_lines, wt_assert_lines_once). */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weir_test.h"

const char *wt_lines_file(const char *tag, int lines)
{
    static char path[4096];
    snprintf(path, sizeof path, "%s/lines.txt", wt_tmp_dir(tag));
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (int i = 0; i < lines; i++)
        fprintf(f, "line-%05d\n", i);
    assert_int_equal(fclose(f), 0);
    return path;
}

void wt_committed_lines(const char *dir, void (*fn)(const char *path, const char *line, void *arg),
                        void *arg)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *de;
    while ((de = readdir(d))) {
        if (strncmp(de->d_name, "part-", 5) != 0)
            continue;
        char path[4096], line[256];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        FILE *f = fopen(path, "r");
        assert_non_null(f);
        while (fgets(line, sizeof line, f))
            fn(path, line, arg);
        fclose(f);
    }
    closedir(d);
}

struct line_count {
    unsigned char *seen;
    int lines;
    size_t bad;
};

static void count_line(const char *path, const char *line, void *arg)
{
    struct line_count *lc = arg;
    int n;
    if (sscanf(line, "line-%d", &n) != 1 || n < 0 || n >= lc->lines)
        lc->bad++;
    else if (lc->seen[n] < 255)
        lc->seen[n]++;
}

size_t wt_count_committed_lines(const char *dir, unsigned char *seen, int lines)
{
    struct line_count lc = {seen, lines, 0};
    wt_committed_lines(dir, count_line, &lc);
    return lc.bad;
}

void wt_assert_lines_once(const char *dir, int lines)
{
    unsigned char *seen = calloc((size_t)lines, 1);
    assert_non_null(seen);
    size_t bad = wt_count_committed_lines(dir, seen, lines), missing = 0, twice = 0;
    for (int i = 0; i < lines; i++) {
        missing += seen[i] == 0;
        twice += seen[i] > 1;
    }
    free(seen);
    if (missing || twice || bad)
        fail_msg("committed output in %s: %zu of %d lines missing, %zu more than once, %zu "
                 "malformed",
                 dir, missing, lines, twice, bad);
}
