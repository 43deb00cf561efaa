/*
 * The address-space check at set-up: a run under an address-space limit (ulimit -v,
 * RLIMIT_AS) that its memory cannot fit in is refused before anything is mapped, with the
 * sum, the limit and the keys that lower the sum.
 *
 * Near the limit, mappings fail wherever they happen to fall: in a worker's first
 * allocation, jemalloc creating that thread's arena dereferences NULL (a segfault in
 * hwloc_bitmap_alloc under weir_topo_bind_thread), so handling failed allocations is not
 * enough; the run must not start that close to the limit.
 *
 * What is counted: memory.process.size, the budget of every pool (heap, managed, network
 * with its rings, framework, overhead with the checkpoint storage's snapshot buffers); the
 * stacks of the run's threads, whose whole size counts against RLIMIT_AS; and what is
 * mapped from files already (the program and its libraries), which the budget does not
 * cover. RLIMIT_MEMLOCK is not checked: nothing weir maps is locked (hugepages come from
 * hugetlbfs or THP, neither counts against it).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <weir/config.h>

#include "runtime_private.h"

/* Besides the workers: checkpoint storage's io thread, the metrics sampler, the metrics
 * endpoint, the REST endpoint and RocksDB's background threads (flush and compaction). */
#define HELPER_THREADS 5

/* Bytes mapped from files (and the kernel's named areas) now: the lines of
 * /proc/self/maps with a path. Anonymous memory is the pools' business. */
static uint64_t file_mapped_bytes(void)
{
    FILE *f = fopen("/proc/self/maps", "re");
    if (!f)
        return 0;
    char line[512];
    uint64_t sum = 0;
    while (fgets(line, sizeof line, f)) {
        uint64_t lo, hi;
        int path_at = 0;
        if (sscanf(line, "%" SCNx64 "-%" SCNx64 " %*s %*s %*s %*s %n", &lo, &hi, &path_at) < 2)
            continue;
        if (path_at > 0 && line[path_at] != '\0' && line[path_at] != '\n' && hi > lo)
            sum += hi - lo;
        /* A line longer than the buffer: skip the rest of it. */
        while (!strchr(line, '\n') && fgets(line, sizeof line, f))
            ;
    }
    fclose(f);
    return sum;
}

static uint64_t thread_stack_bytes(void)
{
    pthread_attr_t a;
    size_t size = 0;
    if (pthread_getattr_default_np(&a) == 0) {
        pthread_attr_getstacksize(&a, &size);
        pthread_attr_destroy(&a);
    }
    return size ? size : 8u << 20;
}

int check_address_space(struct runtime *rt, int workers, char *err, size_t errlen)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_AS, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
        return 0;
    uint64_t process = weir_config_pools(rt->cfg)->process;
    uint64_t stack = thread_stack_bytes();
    int threads = workers + HELPER_THREADS;
    uint64_t stacks = (uint64_t)threads * stack;
    uint64_t files = file_mapped_bytes();
    uint64_t need = process + stacks + files;
    if (need <= (uint64_t)rl.rlim_cur)
        return 0;
    char p[32], s[32], fl[32], n[32], l[32];
    weir_format_size(process, p, sizeof p);
    weir_format_size(stack, s, sizeof s);
    weir_format_size(files, fl, sizeof fl);
    weir_format_size(need, n, sizeof n);
    weir_format_size((uint64_t)rl.rlim_cur, l, sizeof l);
    bool derived = !weir_config_is_set(rt->cfg, "memory.process.size") &&
                   weir_config_is_set(rt->cfg, "memory.task.heap.size");
    snprintf(err, errlen,
             "the address-space limit (RLIMIT_AS, ulimit -v %" PRIu64 ") of %s cannot hold "
             "what this run maps: memory.process.size %s%s + %d thread stacks of %s (%d workers) + "
             "%s of program and libraries = %s; lower %s or the "
             "parallelism (-p, parallelism.default), or raise ulimit -v",
             (uint64_t)rl.rlim_cur / 1024, l, p,
             derived ? " (the sum of memory.task.heap.size, memory.managed.size and the rest)" : "",
             threads, s, workers, fl, n,
             derived ? "memory.task.heap.size or memory.managed.size" : "memory.process.size");
    return -EINVAL;
}
