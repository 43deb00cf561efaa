/*
 * The environment a suite fixture left for its tests (tools/s3proxy.sh, tools/kafka.sh): each
 * writes STATE/env (VAR=value lines) when its server runs, or STATE/skip with the reason when
 * it cannot run one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weir_test.h"

void wt_fixture_env(const char *state_var, const char *fixture, const char *script)
{
    const char *st = getenv(state_var);
    char path[1024], line[1024];
    if (!st || !*st) {
        printf("skip: %s is not set: run through ctest (fixture %s), or %s start DIR and "
               "%s=DIR\n",
               state_var, fixture, script, state_var);
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
        printf("%s: missing: the %s fixture did not start (%s)\n", path, fixture, script);
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
}
