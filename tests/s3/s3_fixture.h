/*
 * What the S3 tests in C share: the s3proxy fixture's server (tools/s3proxy.sh, started once
 * per ctest run, its state in $WEIR_S3_STATE) loaded into the environment, and a key prefix
 * of this process's own.
 */
#ifndef WEIR_TEST_S3_FIXTURE_H
#define WEIR_TEST_S3_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Loads $WEIR_S3_STATE/env into the environment and writes "t-<pid>" to prefix, or exits 77
 * saying why there is no server (1 when the fixture ran and left no env). */
static inline void s3_fixture_load(char *prefix, size_t prefix_len)
{
    const char *st = getenv("WEIR_S3_STATE");
    char path[1024], line[1024];
    if (!st || !*st) {
        printf("skip: WEIR_S3_STATE is not set: run through ctest (fixture s3proxy), or "
               "tools/s3proxy.sh start DIR and WEIR_S3_STATE=DIR\n");
        exit(77);
    }
    snprintf(path, sizeof path, "%s/skip", st);
    FILE *f = fopen(path, "r");
    if (f) {
        if (fgets(line, sizeof line, f))
            printf("skip: %s", line);
        fclose(f);
        exit(77);
    }
    snprintf(path, sizeof path, "%s/env", st);
    if (!(f = fopen(path, "r"))) {
        printf("%s: missing: the s3proxy fixture did not start (tools/s3proxy.sh)\n", path);
        exit(1);
    }
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        char *eq = strchr(line, '=');
        if (eq) {
            *eq = '\0';
            setenv(line, eq + 1, 1);
        }
    }
    fclose(f);
    snprintf(prefix, prefix_len, "t-%ld", (long)getpid());
}

#endif
