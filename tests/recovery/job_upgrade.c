/* A job shared object for test_upgrade.sh, built once per version (cc -DJOB_VERSION=N):
 *     weir run -p 2 ./job_upgrade-vN.so IN OUTDIR PACE_US
 * file source "lines" (a decimal number per line) -> key_by number % 50 -> keyed operator
 * "tally" -> exactly-once files "out" of "vN,key,count,sum" lines: the key's running count
 * and sum of numbers, one line per record. PACE_US: microseconds "tally" sleeps per record,
 * so that a savepoint lands in the middle of the input.
 *   v1  declares value states "count" then "sum"
 *   v2  an upgrade with the same uids and a changed function: a new map state "seen" is
 *       declared first, then "sum", then "count" (other ids than v1's), and rows say v2
 *   v3  an incompatible one: "count" is a list state now
 *   v4  "tally" is gone: lines go to "out" as they are
 *   v5  "sum" renamed "total" (which starts empty) */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <weir/operator.h>
#include <weir/state.h>
#include <weir/weir.h>

#ifndef JOB_VERSION
#define JOB_VERSION 1
#endif
#define KEYS 50

static unsigned pace_us;

struct tally {
    weir_value_state *count, *sum;
};

static uint64_t number_of(const weir_rec *in)
{
    uint64_t x = 0;
    for (uint32_t i = 0; i < in->len && in->data[i] >= '0' && in->data[i] <= '9'; i++)
        x = x * 10 + (uint64_t)(in->data[i] - '0');
    return x;
}

static uint64_t key_of(const weir_rec *in)
{
    return number_of(in) % KEYS;
}

static int tally_open(weir_ctx *ctx, void *st, void *arg)
{
    struct tally *t = st;
    weir_keyed_backend *be = weir_ctx_state(ctx);
#if JOB_VERSION == 2
    if (!weir_map_state_get(be, "seen", 8, 8, NULL))
        return -EINVAL;
    t->sum = weir_value_state_get(be, "sum", 8, NULL);
    t->count = weir_value_state_get(be, "count", 8, NULL);
#elif JOB_VERSION == 3
    if (!weir_list_state_get(be, "count", 8, NULL))
        return -EINVAL;
    t->count = t->sum = weir_value_state_get(be, "sum", 8, NULL);
#elif JOB_VERSION == 5
    t->count = weir_value_state_get(be, "count", 8, NULL);
    t->sum = weir_value_state_get(be, "total", 8, NULL);
#else
    t->count = weir_value_state_get(be, "count", 8, NULL);
    t->sum = weir_value_state_get(be, "sum", 8, NULL);
#endif
    return t->count && t->sum ? 0 : -EINVAL;
}

/* Adds 1 to count and x to sum (values returned by a get live until the next call). */
static int tally_process(weir_ctx *ctx, void *st, int input, const weir_rec *in, weir_emit *out)
{
    struct tally *t = st;
    if (pace_us)
        usleep(pace_us);
    uint64_t x = number_of(in);
    const uint64_t *p = weir_value_get(t->count);
    uint64_t count = (p ? *p : 0) + 1;
    p = weir_value_get(t->sum);
    uint64_t sum = (p ? *p : 0) + x;
    int rc = weir_value_put(t->count, &count);
    if (rc == 0)
        rc = weir_value_put(t->sum, &sum);
    if (rc < 0)
        return rc;
    char line[96];
    int n = snprintf(line, sizeof line, "v%d,%llu,%llu,%llu", JOB_VERSION,
                     (unsigned long long)(x % KEYS), (unsigned long long)count,
                     (unsigned long long)sum);
    return weir_emit_copy(out, in->ts, line, (uint32_t)n);
}

static const struct weir_operator_ops tally_ops = {.kind = "tally",
                                                   .state_size = sizeof(struct tally),
                                                   .open = tally_open,
                                                   .process = tally_process};

int weir_job_main(weir_job *job, int argc, char **argv)
{
    if (argc != 4)
        return -EINVAL;
    pace_us = (unsigned)atoi(argv[3]);
    weir_stream *s = weir_source_file(job, "lines", argv[1]);
    if (JOB_VERSION != 4)
        s = weir_keyed_transform(weir_key_by(s, key_of), "tally", &tally_ops, NULL, NULL);
    weir_sink_file_exactly_once(s, "out", argv[2], NULL, ".txt");
    return 0;
}
