/*
 * The line file source's record splitting, from the bytes of an input file: a job of
 * weir_source_file into a sink that keeps every line, at parallelism 1 + size % 4 (so the
 * split between subtasks falls anywhere), with 4 KiB segments (the largest line 4080
 * bytes). Each line must come out once, whichever subtask reads it: the lines a job emits
 * are the file's lines ('\n'-separated, a last line without one included), in any order;
 * a job that fails must fail for a line longer than the largest record.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <weir/config.h>
#include <weir/job.h>
#include <weir/weir.h>

#include "fuzz.h"

#define MAX_LINE (4096 - 16)

struct line {
    size_t off, len; /* in the input, or in arena */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct line *got;
static size_t ngot, capgot;
static uint8_t *arena; /* copies of the emitted lines */
static size_t arena_len, arena_cap;

static int keep(weir_ctx *ctx, void *state, int input, const weir_rec *in, weir_emit *out)
{
    pthread_mutex_lock(&lock);
    if (ngot == capgot && !(got = realloc(got, (capgot = capgot * 2 + 64) * sizeof *got)))
        abort();
    if (arena_len + in->len > arena_cap) /* sized up front: never moves while lines point in */
        abort();
    memcpy(arena + arena_len, in->data, in->len);
    got[ngot++] = (struct line){arena_len, in->len};
    arena_len += in->len;
    pthread_mutex_unlock(&lock);
    return 0;
}

static const struct weir_operator_ops keep_ops = {.kind = "keep", .process = keep};

static const uint8_t *base; /* for cmp_line: the bytes the lines are offsets into */

static int cmp_line(const void *a, const void *b)
{
    const struct line *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(base + x->off, base + y->off, n);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* The file's lines, as offsets into data; *longest gets the longest. */
static struct line *split(const uint8_t *data, size_t size, size_t *n, size_t *longest)
{
    struct line *v = malloc((size + 1) * sizeof *v);
    if (!v)
        abort();
    *n = 0;
    *longest = 0;
    for (size_t at = 0; at < size;) {
        const uint8_t *nl = memchr(data + at, '\n', size - at);
        size_t len = nl ? (size_t)(nl - (data + at)) : size - at;
        v[(*n)++] = (struct line){at, len};
        if (len > *longest)
            *longest = len;
        at += len + (nl ? 1 : 0);
    }
    return v;
}

static void check(const uint8_t *data, size_t size, int p, int rc, const char *err)
{
    size_t nwant, longest;
    struct line *want = split(data, size, &nwant, &longest);
    if (rc < 0) {
        if (longest <= MAX_LINE) {
            fprintf(stderr, "the job failed at parallelism %d with no line over %d bytes: %s\n", p,
                    MAX_LINE, err);
            abort();
        }
        free(want);
        return;
    }
    if (longest > MAX_LINE) {
        fprintf(stderr, "a line of %zu bytes passed at parallelism %d (largest record %d)\n",
                longest, p, MAX_LINE);
        abort();
    }
    base = data;
    qsort(want, nwant, sizeof *want, cmp_line);
    base = arena;
    if (ngot) /* got is NULL until a line came */
        qsort(got, ngot, sizeof *got, cmp_line);
    bool same = nwant == ngot;
    for (size_t i = 0; same && i < nwant; i++)
        same = want[i].len == got[i].len &&
               !memcmp(data + want[i].off, arena + got[i].off, want[i].len);
    if (!same) {
        fprintf(stderr,
                "parallelism %d: the file has %zu lines, the source emitted %zu, or "
                "other ones\n",
                p, nwant, ngot);
        abort();
    }
    free(want);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[1024] = "", path[4300];
    if (size > (1u << 16))
        return 0;
    snprintf(path, sizeof path, "%s/input", fuzz_dir());
    fuzz_write(fuzz_dir(), "input", data, size);
    int p = 1 + (int)(size % 4);

    ngot = arena_len = 0;
    arena_cap = size + 1;
    if (!(arena = malloc(arena_cap)))
        abort();
    weir_config *c = weir_config_new();
    if (!c || weir_config_set(c, "metrics.reporter.prom.port", "0", err, sizeof err) < 0 ||
        weir_config_set(c, "memory.segment-size", "4kb", err, sizeof err) < 0 ||
        weir_config_resolve(c, err, sizeof err) < 0) {
        fprintf(stderr, "fuzz_file_source: %s\n", err);
        abort();
    }
    weir_job *job = weir_job_new("fuzz");
    weir_stream *s = weir_set_parallelism(weir_source_file(job, "src", path), p);
    weir_set_parallelism(weir_sink(s, "keep", &keep_ops, NULL), 1);
    struct weir_run_opts ro = {.parallelism = p, .quiet = true};
    struct weir_run_stats st;
    int rc = weir_job_run(job, c, &ro, &st, err, sizeof err);
    check(data, size, p, rc, err);
    weir_job_free(job);
    weir_config_free(c);
    free(arena);
    arena = NULL;
    return 0;
}
