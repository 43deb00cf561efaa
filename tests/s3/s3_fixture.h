/*
 * What the S3 tests in C share: the s3proxy fixture's server (tools/s3proxy.sh, started once
 * per ctest run, its state in $WEIR_S3_STATE) loaded into the environment, and a key prefix
 * of this process's own.
 */
#ifndef WEIR_TEST_S3_FIXTURE_H
#define WEIR_TEST_S3_FIXTURE_H

#include <stdio.h>
#include <unistd.h>

#include "weir_test.h"

/* Loads $WEIR_S3_STATE/env into the environment and writes "t-<pid>" to prefix, or exits 77
 * saying why there is no server (1 when the fixture ran and left no env). */
static inline void s3_fixture_load(char *prefix, size_t prefix_len)
{
    wt_fixture_env("WEIR_S3_STATE", "s3proxy", "tools/s3proxy.sh");
    snprintf(prefix, prefix_len, "t-%ld", (long)getpid());
}

#endif
