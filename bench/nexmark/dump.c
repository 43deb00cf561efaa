/*
 * weir bench nexmark --dump-events DIR: the generator's events as
 * person.csv, auction.csv and bid.csv, in event-number order, for comparing
 * with another implementation (the Flink peer's generator).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "nexmark.h"
#include "nexmark_bench.h"
#include "nexmark_private.h"

static int dump(const struct weir_nexmark_opts *o, const char *dir)
{
    if (mkdir(dir, 0777) < 0 && errno != EEXIST) {
        fprintf(stderr, "weir: --dump-events: %s: %s\n", dir, strerror(errno));
        return -errno;
    }
    FILE *f[3] = {NULL, NULL, NULL};
    int rc = 0;
    for (int t = 0; t < 3 && rc == 0; t++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s.csv", dir,
                 weir_nexmark_type_name((enum weir_nexmark_type)t));
        f[t] = fopen(path, "we");
        if (!f[t]) {
            fprintf(stderr, "weir: --dump-events: %s: %s\n", path, strerror(errno));
            rc = -EIO;
            break;
        }
        setvbuf(f[t], NULL, _IOFBF, 1 << 20);
        fprintf(f[t], "%s\n", weir_nexmark_csv_header((enum weir_nexmark_type)t));
    }
    size_t cap = weir_nexmark_event_max_size(o);
    struct weir_nexmark_event *e = aligned_alloc(8, (cap + 7) & ~(size_t)7);
    char *line = malloc(4096);
    size_t line_cap = 4096;
    if (!e || !line)
        rc = -ENOMEM;
    for (uint64_t n = 0; rc == 0 && n < o->events; n++) {
        int size = weir_nexmark_event_at(o, n, e, cap);
        if (size < 0 || (size_t)size > cap) {
            fprintf(stderr, "weir: --dump-events: event %" PRIu64 " could not be generated\n", n);
            rc = -EINVAL;
            break;
        }
        int len = weir_nexmark_event_csv(e, line, line_cap);
        if (len >= 0 && (size_t)len >= line_cap) {
            char *nl = realloc(line, (size_t)len + 1);
            if (!nl) {
                rc = -ENOMEM;
                break;
            }
            line = nl;
            line_cap = (size_t)len + 1;
            len = weir_nexmark_event_csv(e, line, line_cap);
        }
        FILE *out = f[e->type % 3];
        if (len < 0 || fwrite(line, 1, (size_t)len, out) != (size_t)len || putc('\n', out) == EOF) {
            fprintf(stderr, "weir: --dump-events: writing %s/%s.csv failed\n", dir,
                    weir_nexmark_type_name((enum weir_nexmark_type)e->type));
            rc = -EIO;
        }
    }
    for (int t = 0; t < 3; t++)
        if (f[t] && fclose(f[t]) != 0 && rc == 0) {
            fprintf(stderr, "weir: --dump-events: closing %s/%s.csv: %s\n", dir,
                    weir_nexmark_type_name((enum weir_nexmark_type)t), strerror(errno));
            rc = -EIO;
        }
    free(e);
    free(line);
    return rc;
}

int nexmark_dump_events(const struct weir_nexmark_opts *o, const char *dir)
{
    int64_t t0 = nexmark_mono_ns();
    int rc = dump(o, dir);
    if (rc == 0)
        fprintf(stderr, "weir: wrote %" PRIu64 " events to %s/{person,auction,bid}.csv in %.2f s\n",
                o->events, dir, (double)(nexmark_mono_ns() - t0) / 1e9);
    return rc;
}
