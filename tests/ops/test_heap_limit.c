/*
 * A job that keeps more keyed state than the task-heap pool allows fails with
 * an error naming the pool and memory.task.heap.size, not an OOM kill; the
 * same job on RocksDB completes.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <weir/config.h>
#include <weir/weir.h>

#include "weir_test.h"

struct big {
    unsigned char bytes[200];
};

struct st {
    weir_value_state *v;
};

static int open_fn(weir_ctx *ctx, void *s, void *arg)
{
    ((struct st *)s)->v = weir_value_state_get(weir_ctx_state(ctx), "v", sizeof(struct big), NULL);
    return ((struct st *)s)->v ? 0 : -ENOMEM;
}

static int process(weir_ctx *ctx, void *s, int input, const weir_rec *in, weir_emit *out)
{
    struct big b;
    memset(&b, 7, sizeof b);
    return weir_value_put(((struct st *)s)->v, &b);
}

static const struct weir_operator_ops keep_ops = {
    .kind = "keep", .state_size = sizeof(struct st), .open = open_fn, .process = process};

static int run_job(const char *backend, char *err, size_t errlen)
{
    weir_job *job = weir_job_new("heap-limit");
    /* 400 k keys x 200-byte values: about 90 MB of state, above the 32 MB pool */
    struct weir_datagen_opts o = {.records = 400000, .keys = 400000, .record_size = 24};
    weir_stream *s = weir_source_datagen(job, "gen", &o);
    weir_sink_blackhole(
        weir_keyed_transform(weir_key_by(s, wt_datagen_key), "keep", &keep_ops, NULL, NULL),
        "sink");
    struct wt_run ro = {
        .backend = backend,
        .defs = WT_DEFS("memory.task.heap.size=32m", "memory.managed.size=256m"),
    };
    int rc = wt_run(job, NULL, &ro, NULL, err, errlen);
    weir_job_free(job);
    return rc;
}

static void too_much_heap_state_fails_naming_the_pool(void **state)
{
    char err[1024] = "";
    int rc = run_job("hashmap", err, sizeof err);
    print_message("%s\n", err);
    assert_int_not_equal(rc, 0);
    assert_non_null(strstr(err, "task heap"));
    assert_non_null(strstr(err, "memory.task.heap.size"));
    assert_non_null(strstr(err, "rocksdb"));
}

static void same_job_on_rocksdb_completes(void **state)
{
    char err[1024] = "";
    if (run_job("rocksdb", err, sizeof err) != 0)
        fail_msg("%s", err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(too_much_heap_state_fails_naming_the_pool),
        cmocka_unit_test(same_job_on_rocksdb_completes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
