/*
 * Where keyed state's memory and files come from: a hashmap that outgrows a small task-heap
 * pool fails with the one-line message naming the pool and memory.task.heap.size (and the
 * same workload fits on rocksdb); the pool's bytes come back on close and are shared by all
 * backends of an env; RocksDB instances share one block cache sized from the managed pool and
 * split the write-buffer budget; a bad state.backend.rocksdb.localdir is named; the instance
 * directory is removed on close; the backend keys and their aliases.
 */
#include <sys/stat.h>
#include <unistd.h>

#include "state_test.h"

#define POOL_MSG                                                                                   \
    "task heap pool exhausted: 16.000 MiB (memory.task.heap.size) in use by keyed state; raise "   \
    "memory.task.heap.size or memory.process.size, or use state.backend: rocksdb"

/* Puts 24-byte values for keys 0..n-1; returns how many went in before an error. */
static uint64_t put_many(weir_keyed_backend *be, uint64_t n, int *rc)
{
    weir_value_state *v = weir_value_state_get(be, "v", 24, NULL);
    assert_non_null(v);
    uint64_t val[3] = {1, 2, 3};
    for (uint64_t k = 0; k < n; k++) {
        at(be, k);
        val[0] = k;
        *rc = weir_value_put(v, val);
        if (*rc < 0)
            return k;
    }
    *rc = 0;
    return n;
}

static void hashmap_beyond_the_task_heap_fails_with_the_pool_named(void **state)
{
    weir_config *c = config_for("hashmap", "memory.task.heap.size=16m", NULL);
    weir_state_env *env = env_for(c, "job");
    weir_keyed_backend *be = backend_for(env, "op", 0, 0, MAXP - 1);
    int rc;
    uint64_t n = put_many(be, 2000000, &rc);
    assert_int_equal(rc, -ENOSPC);
    assert_string_equal(weir_keyed_backend_error(be), POOL_MSG);
    assert_true(n > 100000);
    assert_true(weir_state_env_heap_bytes(env) <= 16ull << 20);
    /* What is in stays readable, and the failed put left nothing half-made. */
    weir_value_state *v = weir_value_state_get(be, "v", 24, NULL);
    at(be, n / 2);
    assert_int_equal(*(const uint64_t *)weir_value_get(v), n / 2);
    weir_keyed_backend_close(be);
    assert_int_equal(weir_state_env_heap_bytes(env), 0);
    weir_state_env_free(env);
    weir_config_free(c);

    /* The same workload on rocksdb, same pool sizes. */
    c = config_for("rocksdb", "memory.task.heap.size=16m", NULL);
    env = env_for(c, "job");
    be = backend_for(env, "op", 0, 0, MAXP - 1);
    assert_int_equal(put_many(be, 2000000, &rc), 2000000);
    assert_int_equal(rc, 0);
    assert_int_equal(weir_state_env_heap_bytes(env), 0);
    weir_keyed_backend_close(be);
    weir_state_env_free(env);
    weir_config_free(c);
}

static void lists_and_maps_beyond_the_pool_fail_the_same_way(void **state)
{
    weir_config *c = config_for("hashmap", "memory.task.heap.size=16m", NULL);
    weir_state_env *env = env_for(c, "job");
    weir_keyed_backend *be = backend_for(env, "op", 0, 0, MAXP - 1);
    weir_list_state *l = weir_list_state_get(be, "l", 64, NULL);
    char elem[64] = {0};
    int rc = 0;
    at(be, 1);
    for (int i = 0; i < 1000000 && rc == 0; i++)
        rc = weir_list_add(l, elem);
    assert_int_equal(rc, -ENOSPC);
    assert_string_equal(weir_keyed_backend_error(be), POOL_MSG);
    weir_list_clear(l);
    weir_map_state *m = weir_map_state_get(be, "m", 8, 8, NULL);
    rc = 0;
    for (uint64_t i = 0; i < 10000000 && rc == 0; i++)
        rc = weir_map_put(m, &i, &i);
    assert_int_equal(rc, -ENOSPC);
    assert_string_equal(weir_keyed_backend_error(be), POOL_MSG);
    weir_keyed_backend_close(be);
    assert_int_equal(weir_state_env_heap_bytes(env), 0);
    weir_state_env_free(env);
    weir_config_free(c);
}

static void backends_of_an_env_share_the_pool(void **state)
{
    weir_config *c = config_for("hashmap", "memory.task.heap.size=16m", NULL);
    weir_state_env *env = env_for(c, "job");
    weir_keyed_backend *a = backend_for(env, "a", 0, 0, 63);
    weir_keyed_backend *b = backend_for(env, "b", 1, 64, 127);
    weir_value_state *va = weir_value_state_get(a, "v", 8, NULL);
    weir_value_state *vb = weir_value_state_get(b, "v", 8, NULL);
    uint64_t x = 1;
    int rc = 0;
    uint64_t k;
    /* Fill a until the pool is full; then b cannot get a byte. */
    for (k = 0; rc == 0; k++) {
        if (weir_key_group_of(k, MAXP) > 63)
            continue;
        at(a, k);
        rc = weir_value_put(va, &x);
    }
    assert_int_equal(rc, -ENOSPC);
    struct weir_keyed_backend_stats sa, sb;
    weir_keyed_backend_stats_get(a, &sa);
    weir_keyed_backend_stats_get(b, &sb);
    assert_int_equal(sa.heap_bytes + sb.heap_bytes, weir_state_env_heap_bytes(env));
    rc = 0;
    for (k = 0; rc == 0 && k < 1000000; k++) {
        if (weir_key_group_of(k, MAXP) < 64)
            continue;
        at(b, k);
        rc = weir_value_put(vb, &x);
    }
    assert_int_equal(rc, -ENOSPC);
    weir_keyed_backend_close(a); /* frees a's bytes: b can go on */
    at(b, k);
    assert_int_equal(weir_value_put(vb, &x), 0);
    weir_keyed_backend_close(b);
    assert_int_equal(weir_state_env_heap_bytes(env), 0);
    weir_state_env_free(env);
    weir_config_free(c);
}

static void rocksdb_instances_share_one_cache_and_split_write_buffers(void **state)
{
    weir_config *c = config_for("rocksdb", "memory.managed.size=256m", NULL);
    weir_state_env *env = env_for(c, "job");
    weir_keyed_backend *a = backend_for(env, "a", 0, 0, 63);
    struct weir_keyed_backend_stats st;
    weir_keyed_backend_stats_get(a, &st);
    /* write-buffer-ratio 0.5: 128m of cache, 128m of memtables, two per instance. */
    assert_int_equal(st.block_cache_capacity, 128ull << 20);
    assert_int_equal(st.write_buffer_size, 64ull << 20);
    weir_keyed_backend *b = backend_for(env, "b", 1, 64, 127);
    weir_keyed_backend_stats_get(a, &st);
    assert_int_equal(st.write_buffer_size, 32ull << 20);
    weir_keyed_backend_stats_get(b, &st);
    assert_int_equal(st.write_buffer_size, 32ull << 20);
    /* Reads through b fill the cache a reports: it is the same cache. */
    weir_value_state *v = weir_value_state_get(b, "v", 8, NULL);
    for (uint64_t k = 0; k < 20000; k++) {
        if (weir_key_group_of(k, MAXP) < 64)
            continue;
        at(b, k);
        weir_value_put(v, &k);
    }
    assert_int_equal(weir_keyed_backend_flush(b), 0);
    for (uint64_t k = 0; k < 20000; k++) {
        if (weir_key_group_of(k, MAXP) < 64)
            continue;
        at(b, k);
        assert_int_equal(*(const uint64_t *)weir_value_get(v), k);
    }
    struct weir_keyed_backend_stats sa, sb;
    weir_keyed_backend_stats_get(a, &sa);
    weir_keyed_backend_stats_get(b, &sb);
    assert_true(sb.block_cache_bytes > 0);
    assert_int_equal(sa.block_cache_bytes, sb.block_cache_bytes);
    weir_keyed_backend_close(b);
    weir_keyed_backend_stats_get(a, &st);
    assert_int_equal(st.write_buffer_size, 64ull << 20);
    weir_keyed_backend_close(a);
    weir_state_env_free(env);
    weir_config_free(c);
}

static void bad_localdir_is_named(void **state)
{
    char file[1200], kv[1300], want[1400], err[1500] = "";
    snprintf(file, sizeof file, "%s/a-file", test_dir());
    FILE *fp = fopen(file, "w");
    assert_non_null(fp);
    fclose(fp);
    snprintf(kv, sizeof kv, "state.backend.rocksdb.localdir=%s/x", file);
    weir_config *c = config_for("rocksdb", kv, NULL);
    weir_state_env *env = NULL;
    assert_int_equal(weir_state_env_new(c, "job", &env, err, sizeof err), -ENOTDIR);
    assert_null(env);
    snprintf(want, sizeof want, "state.backend.rocksdb.localdir: %s/x: Not a directory", file);
    assert_string_equal(err, want);
    weir_config_free(c);
    /* The hashmap backend does not care. */
    c = config_for("hashmap", kv, NULL);
    env = env_for(c, "job");
    weir_state_env_free(env);
    weir_config_free(c);
}

static void rocksdb_directory_is_working_state_removed_on_close(void **state)
{
    weir_config *c = config_for("rocksdb", NULL);
    weir_state_env *env = env_for(c, "my job");
    char dir[1200];
    snprintf(dir, sizeof dir, "%s/my_job/win_agg-3", test_dir());
    /* A directory left by a crashed run is cleared, not reused. */
    mkdir(dir, 0755);
    char stale[1300];
    snprintf(stale, sizeof stale, "%s/CURRENT", dir);
    FILE *fp = fopen(stale, "w");
    fputs("garbage\n", fp);
    fclose(fp);
    weir_keyed_backend *be = backend_for(env, "win/agg", 3, 0, MAXP - 1);
    struct stat st;
    assert_int_equal(stat(dir, &st), 0);
    weir_value_state *v = weir_value_state_get(be, "v", 8, NULL);
    at(be, 1);
    uint64_t x = 1;
    assert_int_equal(weir_value_put(v, &x), 0);
    weir_keyed_backend_close(be);
    assert_int_equal(stat(dir, &st), -1);
    weir_state_env_free(env);
    snprintf(dir, sizeof dir, "%s/my_job", test_dir());
    assert_int_equal(stat(dir, &st), -1);
    weir_config_free(c);
}

static void backend_keys_take_flink_spellings(void **state)
{
    const char *cases[][2] = {
        {"state.backend=hashmap", "hashmap"},    {"state.backend=rocksdb", "rocksdb"},
        {"state.backend=RocksDB", "rocksdb"},    {"state.backend.type=rocksdb", "rocksdb"},
        {"state.backend=filesystem", "hashmap"}, {"state.backend=jobmanager", "hashmap"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        weir_config *c = config_for("hashmap", cases[i][0], NULL);
        weir_state_env *env = env_for(c, "job");
        assert_string_equal(weir_state_env_backend_name(env), cases[i][1]);
        weir_state_env_free(env);
        weir_config_free(c);
    }
    weir_config *c = weir_config_new();
    char err[256] = "";
    assert_string_equal(weir_config_get_str(c, "state.backend"), "hashmap");
    assert_true(weir_config_get_bool(c, "state.backend.rocksdb.memory.managed"));
    assert_true(weir_config_get_double(c, "state.backend.rocksdb.memory.write-buffer-ratio") ==
                0.5);
    assert_true(weir_config_get_double(c, "state.backend.rocksdb.memory.high-prio-pool-ratio") ==
                0.1);
    assert_false(weir_config_get_bool(c, "state.backend.incremental"));
    assert_int_equal(
        weir_config_set_kv(c, "execution.checkpointing.incremental=true", err, sizeof err), 0);
    assert_true(weir_config_get_bool(c, "state.backend.incremental"));
    assert_int_not_equal(weir_config_set_kv(c, "state.backend=memory", err, sizeof err), 0);
    assert_string_equal(err, "state.backend: \"memory\": expected one of hashmap, rocksdb, "
                             "filesystem, jobmanager");
    weir_config_free(c);
}

static void rocksdb_without_managed_memory_is_refused_or_unmanaged(void **state)
{
    weir_config *c = config_for("rocksdb", "memory.managed.size=0", NULL);
    weir_state_env *env = NULL;
    char err[512] = "";
    assert_int_equal(weir_state_env_new(c, "job", &env, err, sizeof err), -EINVAL);
    assert_string_equal(err,
                        "state.backend: rocksdb: the managed pool is empty (memory.managed.size "
                        "0); raise memory.managed.fraction or memory.managed.size, or set "
                        "state.backend.rocksdb.memory.managed: false");
    weir_config_free(c);
    c = config_for("rocksdb", "memory.managed.size=0", "state.backend.rocksdb.memory.managed=false",
                   NULL);
    env = env_for(c, "job");
    weir_keyed_backend *be = backend_for(env, "op", 0, 0, MAXP - 1);
    weir_value_state *v = weir_value_state_get(be, "v", 8, NULL);
    at(be, 1);
    uint64_t x = 1;
    assert_int_equal(weir_value_put(v, &x), 0);
    weir_keyed_backend_close(be);
    weir_state_env_free(env);
    weir_config_free(c);
}

static void backend_open_with_a_bad_range_is_refused(void **state)
{
    weir_config *c = config_for("hashmap", NULL);
    weir_state_env *env = env_for(c, "job");
    weir_keyed_backend *be = NULL;
    char err[256] = "";
    assert_int_equal(weir_keyed_backend_open(env, "op", 2, 10, 128, 128, -1, &be, err, sizeof err),
                     -EINVAL);
    assert_string_equal(err, "operator op subtask 2: key groups [10, 128] are not a range of "
                             "pipeline.max-parallelism 128");
    assert_null(be);
    weir_state_env_free(env);
    weir_config_free(c);
}

static void numa_node_binding_is_reported(void **state)
{
    weir_config *c = config_for("hashmap", NULL);
    weir_state_env *env = env_for(c, "job");
    weir_keyed_backend *be = NULL;
    char err[256] = "";
    assert_int_equal(weir_keyed_backend_open(env, "op", 0, 0, 127, 128, 0, &be, err, sizeof err),
                     0);
    weir_value_state *v = weir_value_state_get(be, "v", 8, NULL);
    for (uint64_t k = 0; k < 100000; k++) {
        at(be, k);
        assert_int_equal(weir_value_put(v, &k), 0);
    }
    struct weir_keyed_backend_stats st;
    weir_keyed_backend_stats_get(be, &st);
    /* Bound where jemalloc is linked and the kernel lets us mbind; never in the sanitizer build
     * (no arenas). Either way the state works; print which, for the log. */
    print_message("numa node 0 binding: %s\n", st.numa_bound ? "bound" : "first touch");
#ifdef WEIR_SANITIZE
    assert_false(st.numa_bound);
#endif
    weir_keyed_backend_close(be);
    weir_state_env_free(env);
    weir_config_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hashmap_beyond_the_task_heap_fails_with_the_pool_named),
        cmocka_unit_test(lists_and_maps_beyond_the_pool_fail_the_same_way),
        cmocka_unit_test(backends_of_an_env_share_the_pool),
        cmocka_unit_test(rocksdb_instances_share_one_cache_and_split_write_buffers),
        cmocka_unit_test(bad_localdir_is_named),
        cmocka_unit_test(rocksdb_directory_is_working_state_removed_on_close),
        cmocka_unit_test(backend_keys_take_flink_spellings),
        cmocka_unit_test(rocksdb_without_managed_memory_is_refused_or_unmanaged),
        cmocka_unit_test(backend_open_with_a_bad_range_is_refused),
        cmocka_unit_test(numa_node_binding_is_reported),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    return rc;
}
