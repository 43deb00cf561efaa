/*
 * Writes the events of weir's Nexmark generator as person.csv, auction.csv and
 * bid.csv (header rows of Nexmark's field names, events in event-number order),
 * for the Flink peer's test that the Java port makes the same events. Not a
 * test itself (tests/CMakeLists.txt builds test_*.c only): the peer's Maven
 * test compiles it against a build's libweir_nexmark.a and libweir when
 * `weir bench nexmark --dump-events` is not available.
 *
 *     nexmark_dump [--events N] [--seed S] [--events-per-second R] [--base-time MS] DIR
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nexmark.h"

static int parse_u64(const char *flag, const char *v, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (errno || end == v || *end) {
        fprintf(stderr, "nexmark_dump: %s: \"%s\": expected a non-negative integer\n", flag, v);
        return -1;
    }
    *out = x;
    return 0;
}

int main(int argc, char **argv)
{
    struct weir_nexmark_opts o;
    weir_nexmark_opts_init(&o);
    o.events = 100000;
    const char *dir = NULL;
    for (int i = 1; i < argc; i++) {
        uint64_t v;
        if (i + 1 < argc && !strcmp(argv[i], "--events")) {
            if (parse_u64(argv[i], argv[i + 1], &o.events) < 0)
                return 2;
            i++;
        } else if (i + 1 < argc && !strcmp(argv[i], "--seed")) {
            if (parse_u64(argv[i], argv[i + 1], &o.seed) < 0)
                return 2;
            i++;
        } else if (i + 1 < argc && !strcmp(argv[i], "--events-per-second")) {
            if (parse_u64(argv[i], argv[i + 1], &v) < 0)
                return 2;
            o.events_per_second = (double)v;
            i++;
        } else if (i + 1 < argc && !strcmp(argv[i], "--base-time")) {
            if (parse_u64(argv[i], argv[i + 1], &v) < 0)
                return 2;
            o.base_time_ms = (int64_t)v;
            i++;
        } else if (argv[i][0] != '-' && !dir) {
            dir = argv[i];
        } else {
            fprintf(stderr,
                    "nexmark_dump: %s: unknown argument; usage: nexmark_dump [--events N] "
                    "[--seed S] [--events-per-second R] [--base-time MS] DIR\n",
                    argv[i]);
            return 2;
        }
    }
    if (!dir) {
        fprintf(stderr, "nexmark_dump: expected an output DIR\n");
        return 2;
    }
    char err[200];
    if (weir_nexmark_opts_check(&o, err, sizeof err) < 0) {
        fprintf(stderr, "nexmark_dump: %s\n", err);
        return 2;
    }
    FILE *f[3];
    for (int t = 0; t < 3; t++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s.csv", dir, weir_nexmark_type_name(t));
        f[t] = fopen(path, "w");
        if (!f[t]) {
            fprintf(stderr, "nexmark_dump: %s: %s\n", path, strerror(errno));
            return 1;
        }
        fprintf(f[t], "%s\n", weir_nexmark_csv_header(t));
    }
    size_t cap = weir_nexmark_event_max_size(&o);
    struct weir_nexmark_event *e = aligned_alloc(8, (cap + 7) & ~(size_t)7);
    char *line = malloc(2 * cap + 256);
    if (!e || !line)
        return 1;
    for (uint64_t n = 0; n < o.events; n++) {
        int size = weir_nexmark_event_at(&o, n, e, cap);
        if (size < 0 || (size_t)size > cap) {
            fprintf(stderr, "nexmark_dump: event %" PRIu64 ": does not fit %zu bytes\n", n, cap);
            return 1;
        }
        weir_nexmark_event_csv(e, line, 2 * cap + 256);
        fprintf(f[e->type], "%s\n", line);
    }
    for (int t = 0; t < 3; t++)
        if (fclose(f[t]) != 0) {
            fprintf(stderr, "nexmark_dump: %s.csv: %s\n", weir_nexmark_type_name(t),
                    strerror(errno));
            return 1;
        }
    free(line);
    free(e);
    return 0;
}
