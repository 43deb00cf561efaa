/*
 * A job that keeps more keyed state than the task-heap pool allows fails with
 * an error naming the pool and memory.task.heap.size, not an OOM kill; the
 * same job on RocksDB completes, every key's value read back as it was stored.
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

#define KEYS 200000 /* each seen twice: 200 k x 200-byte values, above the 32 MB pool */

struct big {
    uint64_t key;
    unsigned char bytes[192];
};

struct st {
    weir_value_state *v;
};

/* What reached the sink: one record per key, on its second visit. */
static struct {
    uint64_t records, wrong, twice;
    unsigned char seen[KEYS / 8];
} out;

static int open_fn(weir_ctx *ctx, void *s, void *arg)
{
    ((struct st *)s)->v = weir_value_state_get(weir_ctx_state(ctx), "v", sizeof(struct big), NULL);
    return ((struct st *)s)->v ? 0 : -ENOMEM;
}

/* First visit of a key: stores its value. Second: reads it back and emits the key with
 * whether the value is the one stored. */
static int process(weir_ctx *ctx, void *s, int input, const weir_rec *in, weir_emit *out_)
{
    uint64_t key = wt_datagen_key(in);
    struct big want = {.key = key};
    memset(want.bytes, (int)(key % 251), sizeof want.bytes);
    const struct big *got = weir_value_get(((struct st *)s)->v);
    if (!got)
        return weir_value_put(((struct st *)s)->v, &want);
    uint64_t res[2] = {key, memcmp(got, &want, sizeof want) == 0};
    return weir_emit_copy(out_, in->ts, res, sizeof res);
}

static const struct weir_operator_ops keep_ops = {
    .kind = "keep", .state_size = sizeof(struct st), .open = open_fn, .process = process};

/* Parallelism 1: no lock. */
static int check_sink(weir_ctx *ctx, void *s, int input, const weir_rec *in, weir_emit *o)
{
    const uint64_t *res = (const void *)in->data;
    out.records++;
    if (res[0] >= KEYS || !res[1]) {
        out.wrong++;
        return 0;
    }
    if (out.seen[res[0] / 8] & (1u << (res[0] % 8)))
        out.twice++;
    out.seen[res[0] / 8] |= (unsigned char)(1u << (res[0] % 8));
    return 0;
}

static const struct weir_operator_ops check_ops = {.kind = "check", .process = check_sink};

static int run_job(const char *backend, char *err, size_t errlen)
{
    memset(&out, 0, sizeof out);
    weir_job *job = weir_job_new("heap-limit");
    struct weir_datagen_opts o = {.records = 2 * KEYS, .keys = KEYS, .record_size = 24};
    weir_stream *s = weir_source_datagen(job, "gen", &o);
    weir_sink(weir_keyed_transform(weir_key_by(s, wt_datagen_key), "keep", &keep_ops, NULL, NULL),
              "sink", &check_ops, NULL);
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
    /* every key's value came back from RocksDB as stored, once per key */
    assert_int_equal(out.wrong, 0);
    assert_int_equal(out.twice, 0);
    assert_int_equal(out.records, KEYS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(too_much_heap_state_fails_naming_the_pool),
        cmocka_unit_test(same_job_on_rocksdb_completes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
