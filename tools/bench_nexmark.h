/* `weir bench nexmark` and the Nexmark queries as built-in jobs (`weir run q5`). */
#ifndef WEIR_TOOLS_BENCH_NEXMARK_H
#define WEIR_TOOLS_BENCH_NEXMARK_H

#include <stdio.h>

#include "builtin_jobs.h"

/* weir bench nexmark ...: argv[0] is "bench". Returns the exit status. */
int cmd_bench(int argc, char **argv);

/* The built-in job that runs Nexmark query `name` ("q5"), or NULL. */
const struct builtin_job *nexmark_builtin_job_find(const char *name);

/* Lists the queries as built-in jobs, in the format of `weir jobs`. */
void nexmark_jobs_print(FILE *out);

#endif
