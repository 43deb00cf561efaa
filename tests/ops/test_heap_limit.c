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
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <weir/config.h>
#include <weir/weir.h>

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

static uint64_t key_of(const weir_rec *r)
{
    return ((const struct weir_datagen_rec *)(const void *)r->data)->key;
}

static int run_job(const char *backend, char *err, size_t errlen)
{
    char dir[512], kv[600];
    const char *tmp = getenv("WEIR_TEST_TMP") ? getenv("WEIR_TEST_TMP") : "/tmp";
    mkdir(tmp, 0777);
    snprintf(dir, sizeof dir, "%s/heap-limit-%d", tmp, (int)getpid());
    snprintf(kv, sizeof kv, "state.backend.rocksdb.localdir=%s", dir);
    const char *defs[] = {"metrics.reporter.prom.port=0", "memory.task.heap.size=32m",
                          "memory.managed.size=256m", kv, NULL};
    weir_config *c = weir_config_new();
    for (const char **d = defs; *d; d++)
        assert_int_equal(weir_config_set_kv(c, *d, err, errlen), 0);
    assert_int_equal(weir_config_set(c, "state.backend", backend, err, errlen), 0);
    if (weir_config_resolve(c, err, errlen) != 0)
        fail_msg("%s", err);
    weir_job *job = weir_job_new("heap-limit");
    /* 400 k keys x 200-byte values: about 90 MB of state, above the 32 MB pool */
    struct weir_datagen_opts o = {.records = 400000, .keys = 400000, .record_size = 24};
    weir_stream *s = weir_source_datagen(job, "gen", &o);
    weir_sink_blackhole(weir_keyed_transform(weir_key_by(s, key_of), "keep", &keep_ops, NULL, NULL),
                        "sink");
    struct weir_run_opts ro = {.parallelism = 1, .quiet = true};
    struct weir_run_stats st;
    int rc = weir_job_run(job, c, &ro, &st, err, errlen);
    weir_job_free(job);
    weir_config_free(c);
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
