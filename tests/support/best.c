/*
 * The "best" sink of weir_test.h: the largest value each datagen key reached, and which keys
 * came at all, kept under one lock (the sink may run at any parallelism).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "weir_test.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t *best;
static bool *seen;
static size_t n_keys, n_seen;

static void free_best(void)
{
    free(best);
    free(seen);
}

void wt_best_reset(size_t keys)
{
    static bool registered;
    pthread_mutex_lock(&lock);
    if (keys != n_keys) {
        free_best();
        best = calloc(keys, sizeof *best);
        seen = calloc(keys, sizeof *seen);
        if (!best || !seen)
            abort();
        n_keys = keys;
    } else {
        memset(best, 0, keys * sizeof *best);
        memset(seen, 0, keys * sizeof *seen);
    }
    n_seen = 0;
    if (!registered)
        registered = atexit(free_best) == 0;
    pthread_mutex_unlock(&lock);
}

static int best_process(weir_ctx *ctx, void *st, int input, const weir_rec *in, weir_emit *out)
{
    const struct weir_datagen_rec *r = (const void *)in->data;
    pthread_mutex_lock(&lock);
    if (r->key >= n_keys) {
        pthread_mutex_unlock(&lock);
        weir_ctx_fail(ctx, "best sink: key %llu, wt_best_reset said %zu keys",
                      (unsigned long long)r->key, n_keys);
        return -1;
    }
    if (!seen[r->key]) {
        seen[r->key] = true;
        n_seen++;
    }
    if (r->value > best[r->key])
        best[r->key] = r->value;
    pthread_mutex_unlock(&lock);
    return 0;
}

const struct weir_operator_ops wt_best_ops = {.kind = "best", .process = best_process};

uint64_t wt_best(uint64_t key)
{
    pthread_mutex_lock(&lock);
    uint64_t v = key < n_keys ? best[key] : 0;
    pthread_mutex_unlock(&lock);
    return v;
}

size_t wt_best_seen_keys(void)
{
    pthread_mutex_lock(&lock);
    size_t n = n_seen;
    pthread_mutex_unlock(&lock);
    return n;
}
