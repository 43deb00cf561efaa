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

size_t wt_count_committed_lines(const char *dir, unsigned char *seen, int lines)
{
    size_t bad = 0;
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *de;
    while ((de = readdir(d))) {
        if (strncmp(de->d_name, "part-", 5) != 0)
            continue;
        char path[4096], line[64];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        FILE *f = fopen(path, "r");
        assert_non_null(f);
        while (fgets(line, sizeof line, f)) {
            int n;
            if (sscanf(line, "line-%d", &n) != 1 || n < 0 || n >= lines)
                bad++;
            else if (seen[n] < 255)
                seen[n]++;
        }
        fclose(f);
    }
    closedir(d);
    return bad;
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
