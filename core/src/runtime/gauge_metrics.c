/*
 * The run's gauges read at scrape time (README "Metrics"): the watermark each subtask holds
 * and its lag behind the wall clock, the keyed operators' state size (RocksDB's
 * estimate-live-data-size, memtables and block cache), and every memory pool's capacity and,
 * where weir measures it, its use. Workers publish what they own (task_publish); the functions
 * here only read atomics, the pools' sizes and the state env's heap counter.
 */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <weir/config.h>
#include <weir/metrics.h>

#include "runtime_private.h"

static double watermark(void *arg)
{
    const struct task *t = arg;
    return (double)atomic_load_explicit(&t->wm_pub, memory_order_relaxed);
}

/* Wall clock minus the watermark, in ms: NaN before the first watermark (Prometheus shows
 * the series, an alert on it does not fire), 0 once the input has ended. */
static double watermark_lag_ms(void *arg)
{
    const struct task *t = arg;
    int64_t wm = atomic_load_explicit(&t->wm_pub, memory_order_relaxed);
    struct timespec ts;
    if (wm == INT64_MIN)
        return NAN;
    if (wm == INT64_MAX)
        return 0;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 - wm);
}

static int register_watermarks(struct runtime *rt, struct task *t, const char *labels)
{
    int rc = 0;
    if (!t->is_source)
        rc |= weir_metrics_add_fn(rt->metrics, WEIR_FLINK_TASK "currentInputWatermark",
                                  "The lowest watermark of the subtask's inputs (ms)", labels,
                                  watermark, t);
    else if (t->wms) {
        char ol[1280];
        rc = rt_labels(rt, "operator_name", t->ops[0].node->name, t->subtask, ol, sizeof ol);
        if (rc < 0)
            return rc;
        rc |= weir_metrics_add_fn(rt->metrics, WEIR_FLINK_OPERATOR "currentOutputWatermark",
                                  "The last watermark the source subtask emitted (ms)", ol,
                                  watermark, t);
    } else
        return 0; /* a source without a watermark strategy has no watermark */
    rc |= weir_metrics_add_fn(rt->metrics, WEIR_ONLY_TASK "watermarkLagMs",
                              "Wall clock minus the subtask's watermark (ms; NaN before the "
                              "first watermark)",
                              labels, watermark_lag_ms, t);
    return rc;
}

static int register_state(struct runtime *rt, struct op_inst *op, int subtask)
{
    char l[1400];
    int rc = rt_labels(rt, "operator_name", op->node->name, subtask, l, sizeof l);
    if (rc < 0)
        return rc;
    if (strcmp(weir_state_env_backend_name(rt->state_env), "rocksdb") != 0)
        return weir_metrics_add_u64(rt->metrics, WEIR_ONLY_OPERATOR "stateBytes",
                                    "Bytes the operator's hashmap state holds in the task heap "
                                    "pool",
                                    WEIR_METRIC_GAUGE, l, &op->state_bytes_pub);
    /* Flink with state.backend.rocksdb.metrics.column-family-as-variable: weir keeps all of an
     * operator's states in RocksDB's default column family. */
    rc = weir_metrics_labels_append(l, sizeof l, "column_family", "default");
    if (rc < 0)
        return rc;
    rc |= weir_metrics_add_u64(
        rt->metrics, WEIR_FLINK_OPERATOR "column_family_rocksdb_estimate_live_data_size",
        "RocksDB rocksdb.estimate-live-data-size of the operator subtask's instance (bytes)",
        WEIR_METRIC_GAUGE, l, &op->state_bytes_pub);
    rc |= weir_metrics_add_u64(
        rt->metrics, WEIR_FLINK_OPERATOR "column_family_rocksdb_cur_size_all_mem_tables",
        "RocksDB rocksdb.cur-size-all-mem-tables of the instance (bytes)", WEIR_METRIC_GAUGE, l,
        &op->memtable_bytes_pub);
    rc |= weir_metrics_add_u64(rt->metrics,
                               WEIR_FLINK_OPERATOR "column_family_rocksdb_block_cache_usage",
                               "RocksDB rocksdb.block-cache-usage: the block cache every "
                               "instance shares (bytes, in the managed pool)",
                               WEIR_METRIC_GAUGE, l, &op->cache_bytes_pub);
    return rc;
}

static double task_heap_used(void *arg)
{
    const struct runtime *rt = arg;
    return rt->state_env ? (double)weir_state_env_heap_bytes(rt->state_env) : 0;
}

/* RocksDB's use of the managed pool: the shared block cache once, every instance's
 * memtables. */
static double managed_used(void *arg)
{
    const struct runtime *rt = arg;
    uint64_t cache = 0, memtables = 0;
    for (int i = 0; i < rt->n_tasks; i++)
        for (int j = 0; j < rt->tasks[i].n_ops; j++) {
            const struct op_inst *op = &rt->tasks[i].ops[j];
            uint64_t c = atomic_load_explicit(&op->cache_bytes_pub, memory_order_relaxed);
            cache = c > cache ? c : cache;
            memtables += atomic_load_explicit(&op->memtable_bytes_pub, memory_order_relaxed);
        }
    return (double)(cache + memtables);
}

static double network_used(void *arg)
{
    const struct runtime *rt = arg;
    uint64_t sum = 0;
    for (int b = 0; b < rt->n_blocks; b++)
        sum += rt->blocks[b].size;
    return (double)sum;
}

static double constant(void *arg)
{
    return (double)*(const uint64_t *)arg;
}

/* The pools, as the metrics and the REST API's /taskmanagers document name them; used is
 * NULL where weir does not measure the pool's use. */
static const struct {
    const char *name;
    size_t capacity; /* offset in struct weir_memory_pools */
    double (*used)(void *arg);
} POOLS[RT_POOLS] = {
    {"framework", offsetof(struct weir_memory_pools, framework), NULL},
    {"task_heap", offsetof(struct weir_memory_pools, task_heap), task_heap_used},
    {"managed", offsetof(struct weir_memory_pools, managed), managed_used},
    {"network", offsetof(struct weir_memory_pools, network), network_used},
    {"overhead", offsetof(struct weir_memory_pools, overhead), NULL},
};

static const uint64_t *pool_capacity(const struct weir_memory_pools *p, int i)
{
    return (const uint64_t *)((const char *)p + POOLS[i].capacity);
}

void rt_pools(const struct runtime *rt, const struct weir_config *cfg, struct rt_pool *out)
{
    const struct weir_memory_pools *p = weir_config_pools(cfg);
    for (int i = 0; i < RT_POOLS; i++) {
        out[i].name = POOLS[i].name;
        out[i].capacity = *pool_capacity(p, i);
        out[i].used = rt && POOLS[i].used ? (int64_t)POOLS[i].used((void *)rt) : -1;
    }
}

static int register_pools(struct runtime *rt)
{
    const struct weir_memory_pools *p = weir_config_pools(rt->cfg);
    char job[600];
    int rc = rt_labels(rt, NULL, NULL, -1, job, sizeof job);
    for (int i = 0; i < RT_POOLS && rc == 0; i++) {
        char l[700];
        snprintf(l, sizeof l, "%s", job);
        if ((rc = weir_metrics_labels_append(l, sizeof l, "pool", POOLS[i].name)) < 0)
            return rc;
        rc |= weir_metrics_add_fn(rt->metrics, "weir_memory_pool_capacityBytes",
                                  "Size of the memory pool (memory.* keys; weir run prints them)",
                                  l, constant, (void *)pool_capacity(p, i));
        if (POOLS[i].used)
            rc |= weir_metrics_add_fn(rt->metrics, "weir_memory_pool_usedBytes",
                                      "Bytes of the pool in use (task heap: hashmap state; "
                                      "managed: RocksDB's block cache and memtables; network: "
                                      "the rings)",
                                      l, POOLS[i].used, rt);
    }
    /* The operations guide's heap and managed memory gauges under Flink's names: weir's task
     * heap pool is where a Flink job's heap state lives, and running out of it fails the job
     * as an OutOfMemoryError would. */
    rc |= weir_metrics_add_fn(rt->metrics, "flink_taskmanager_Status_JVM_Memory_Heap_Used",
                              "The task heap pool's use (bytes)", job, task_heap_used, rt);
    rc |= weir_metrics_add_fn(rt->metrics, "flink_taskmanager_Status_JVM_Memory_Heap_Max",
                              "The task heap pool's size (bytes)", job, constant,
                              (void *)&p->task_heap);
    rc |= weir_metrics_add_fn(rt->metrics, "flink_taskmanager_Status_Flink_Memory_Managed_Used",
                              "The managed pool's use (bytes)", job, managed_used, rt);
    rc |= weir_metrics_add_fn(rt->metrics, "flink_taskmanager_Status_Flink_Memory_Managed_Total",
                              "The managed pool's size (bytes)", job, constant,
                              (void *)&p->managed);
    return rc;
}

/* weir's own: each worker thread's time, and where it runs (cpu, NUMA node) as labels. */
static int register_workers(struct runtime *rt)
{
    int rc = 0;
    for (int i = 0; i < rt->n_workers && rc == 0; i++) {
        struct worker *w = &rt->workers[i];
        char l[700], v[3][16];
        snprintf(v[0], sizeof v[0], "%d", w->id);
        snprintf(v[1], sizeof v[1], "%d", w->slot.pu_os_index);
        snprintf(v[2], sizeof v[2], "%d", w->slot.node);
        if ((rc = rt_labels(rt, NULL, NULL, -1, l, sizeof l)) < 0 ||
            (rc = weir_metrics_labels_append(l, sizeof l, "worker", v[0])) < 0 ||
            (rc = weir_metrics_labels_append(l, sizeof l, "cpu", v[1])) < 0 ||
            (rc = weir_metrics_labels_append(l, sizeof l, "numa_node", v[2])) < 0)
            return rc;
        rc |= weir_metrics_add_time_share(rt->metrics, "weir_worker_busyTimeMsPerSecond",
                                          "Milliseconds per second the worker moved records",
                                          l, &w->busy_ns, 5);
        rc |= weir_metrics_add_time_share(rt->metrics, "weir_worker_spinTimeMsPerSecond",
                                          "Milliseconds per second the worker polled its subtasks "
                                          "and found nothing to do or only full outputs",
                                          l, &w->spin_ns, 5);
        rc |= weir_metrics_add_time_share(rt->metrics, "weir_worker_sleepTimeMsPerSecond",
                                          "Milliseconds per second the worker slept, parked "
                                          "until a producer woke it",
                                          l, &w->sleep_ns, 5);
    }
    return rc;
}

int register_gauges(struct runtime *rt)
{
    int rc = register_pools(rt);
    if (rc == 0)
        rc = register_workers(rt);
    for (int i = 0; i < rt->n_tasks && rc == 0; i++) {
        struct task *t = &rt->tasks[i];
        char labels[1024];
        if ((rc = rt_labels(rt, "task_name", t->chain_name, t->subtask, labels, sizeof labels)))
            return rc;
        rc = register_watermarks(rt, t, labels);
        for (int j = 0; j < t->n_ops && rc == 0; j++)
            if (t->ops[j].backend)
                rc = register_state(rt, &t->ops[j], t->subtask);
    }
    return rc < 0 ? rc : rc ? -ENOMEM : 0;
}
