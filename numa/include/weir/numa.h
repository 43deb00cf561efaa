/*
 * NUMA: the machine's topology, where worker threads run, and memory for rings.
 *
 * A weir_topo is hwloc's view of the machine (or of a synthetic one, for tests
 * and for trying a placement on hardware you do not have). weir_topo_place()
 * turns "n workers on these cpus" into one slot per worker: a core, the OS cpu
 * to pin to, its NUMA node and package. Workers are laid out in topology order,
 * so subtask i and i+1 share a node wherever they can. weir_numa_alloc() gives
 * zeroed, prefaulted memory on a node, in hugepages when the machine has them.
 *
 *     weir_topo *t;
 *     weir_worker_slot slots[4];
 *     char err[256];
 *     int rc = weir_topo_load(&t);
 *     if (rc < 0)
 *         return rc;
 *     rc = weir_topo_place(t, 4, "0-3", slots, err, sizeof err);
 *     if (rc < 0) {
 *         fprintf(stderr, "%s\n", err); // numa.cpus: "0-3": cpu 2 is not ...
 *         goto err;
 *     }
 *     // in worker i's thread:
 *     weir_topo_bind_thread(t, &slots[i]);
 *     weir_page_kind kind;
 *     void *ring = weir_numa_alloc(t, ring_bytes, slots[i].node, &kind);
 *     ...
 *     weir_numa_free(ring, ring_bytes);
 *     weir_topo_free(t);
 *
 * A loaded weir_topo is read-only: any number of threads may use it at once.
 * This module uses nothing else of weir.
 */
#ifndef WEIR_NUMA_H
#define WEIR_NUMA_H

#include <sched.h>
#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weir_topo weir_topo;

/* Loads this machine's topology: only the cpus this process may run on (its
 * cpuset and affinity at load time) count. If hwloc is pointed elsewhere
 * (HWLOC_SYNTHETIC, HWLOC_XMLFILE), the result is not this system and
 * weir_topo_is_synthetic() says so. Returns 0 or a negative errno. */
int weir_topo_load(weir_topo **out);

/* Builds a topology from an hwloc synthetic description, e.g.
 * "pack:2 numa:2 core:4 pu:2" (2 packages, each with 2 NUMA nodes of 4 cores
 * of 2 hyperthreads; OS cpu numbers 0..31 in order). -EINVAL if hwloc cannot
 * parse desc. */
int weir_topo_load_synthetic(const char *desc, weir_topo **out);

/* NULL is a no-op. */
void weir_topo_free(weir_topo *t);

/* Counts of the topology. A machine whose hwloc view has no Core objects counts
 * each PU as a core; one without Package objects counts as one package. */
int weir_topo_num_cores(const weir_topo *t);
int weir_topo_num_nodes(const weir_topo *t);
int weir_topo_num_packages(const weir_topo *t);

/* True when t does not describe the machine we run on (synthetic or XML):
 * binding threads and memory is then skipped. */
bool weir_topo_is_synthetic(const weir_topo *t);

/* One line for a person, e.g. "1 package, 1 NUMA node, 2 cores", with
 * " (synthetic)" appended for a synthetic topology. Returns 0, -EINVAL for a
 * NULL argument, or -ENOSPC when buf was too small (it then holds as much as
 * fits, NUL-terminated). */
int weir_topo_describe(const weir_topo *t, char *buf, size_t len);

typedef struct weir_worker_slot {
    int worker;      /* 0..n-1 */
    int core;        /* logical index of the core in the topology */
    int pu_os_index; /* OS cpu number to pin to (first PU of the core) */
    int node;        /* logical index of the NUMA node holding the core */
    int package;     /* logical index of the package */
} weir_worker_slot;

/* Places n workers, one per core, on the cores granted by cpu_list (Linux
 * cpulist syntax "0-3,8,10-11" of OS cpu numbers; NULL or "" = every core).
 * A core is granted when any of its PUs is listed; the worker pins to the
 * first listed PU of the core (with no list, the core's first PU), so no two
 * workers share a core through sibling hyperthreads. Workers are laid out in
 * topology order — package by package, node by node, core by core — so that
 * neighbouring subtask indexes share a node. out must hold n slots.
 *
 * Errors (n < 1, n greater than the granted cores, unparsable or out-of-range
 * cpu_list) return -EINVAL and a one-line message in err (when err is not NULL
 * and errlen > 0) naming `parallelism.default`/`-p` or `numa.cpus` as fits. */
int weir_topo_place(const weir_topo *t, int n, const char *cpu_list, weir_worker_slot *out,
                    char *err, size_t errlen);

/* Pins the calling thread to slot->pu_os_index (no-op returning 0 on a
 * synthetic topology). Returns 0 or a negative errno. */
int weir_topo_bind_thread(const weir_topo *t, const weir_worker_slot *slot);

/* The cpus for helper threads of NUMA node `node` (a heap snapshot's writer), given the n
 * worker slots placed: the node's cpus this process may run on whose core has no worker
 * (a worker's sibling hyperthreads are left to it too). When every core of the node has a
 * worker there is no such cpu: then all the node's cpus, and *floating is set (the helper
 * shares them with the workers). Fills *out (OS cpu numbers) and returns how many cpus it
 * holds; -EINVAL when t, out or floating is NULL, node is not a node of t, or slots is NULL
 * with n > 0. On a synthetic topology the numbers are the synthetic ones: do not bind. */
int weir_topo_helper_cpus(const weir_topo *t, int node, const weir_worker_slot *slots, int n,
                          cpu_set_t *out, bool *floating);

typedef enum {
    WEIR_PAGES_EXPLICIT_HUGE,
    WEIR_PAGES_TRANSPARENT_HUGE,
    WEIR_PAGES_NORMAL
} weir_page_kind;

/* "explicit hugepages", "transparent hugepages (madvise)", "normal pages";
 * "unknown" for any other value. */
const char *weir_page_kind_str(weir_page_kind k);

/* mmap-backed, zeroed, page-aligned memory for rings. Tries explicit hugepages
 * (MAP_HUGETLB, only when /proc/meminfo shows enough HugePages_Free not already
 * reserved, and on a bound node enough free on that node), then transparent
 * hugepages (madvise(MADV_HUGEPAGE), when THP is not "never"; the range is then
 * aligned to the THP size), else normal pages. Binds the range to NUMA node
 * `node` (logical index; -1 = no binding; ignored on a one-node machine or
 * synthetic topology, but still checked to be a node of t) with
 * hwloc_set_area_membind, then faults every page in, so the fast path never
 * takes a page fault and the pages sit on the node.
 *
 * Size is rounded up to the page size used: a small size still costs a whole
 * hugepage, so allocate rings together rather than one small range each.
 * kind_out (may be NULL) says which pages were asked of the kernel. Returns
 * NULL on failure with errno set: EINVAL (t NULL, size 0, node not in t),
 * ENOMEM, or the error of binding the range to the node (e.g. EPERM where a
 * seccomp filter forbids mbind) — retry with node -1 to run unbound. */
void *weir_numa_alloc(const weir_topo *t, size_t size, int node, weir_page_kind *kind_out);

/* Frees what weir_numa_alloc returned; size must be the size asked for.
 * NULL is a no-op. */
void weir_numa_free(void *p, size_t size);

#ifdef __cplusplus
}
#endif

#endif
