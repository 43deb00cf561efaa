/*
 * Loading a topology and the per-core table placement works from.
 *
 * hwloc's tree is walked once at load: each core gets its NUMA node and
 * package, and the table is sorted into placement order (package, node, core)
 * so that weir_topo_place() only has to filter it.
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <hwloc/glibc-sched.h>

#include "numa_internal.h"

/* The NUMA node a core's memory should come from: of the nodes whose cpuset
 * holds the core, the one with the fewest cpus (the most local one when nodes
 * nest, as with HBM beside DRAM), the lowest logical index on a tie. */
static int node_of(hwloc_topology_t hw, hwloc_obj_t core)
{
    hwloc_obj_t best = NULL;
    hwloc_obj_t first_touching = NULL;
    for (hwloc_obj_t n = hwloc_get_next_obj_by_type(hw, HWLOC_OBJ_NUMANODE, NULL); n != NULL;
         n = hwloc_get_next_obj_by_type(hw, HWLOC_OBJ_NUMANODE, n)) {
        if (hwloc_bitmap_isincluded(core->cpuset, n->cpuset)) {
            if (best == NULL || hwloc_bitmap_weight(n->cpuset) < hwloc_bitmap_weight(best->cpuset))
                best = n;
        } else if (first_touching == NULL && hwloc_bitmap_intersects(core->cpuset, n->cpuset)) {
            first_touching = n;
        }
    }
    if (best != NULL)
        return (int)best->logical_index;
    if (first_touching != NULL)
        return (int)first_touching->logical_index;
    return 0;
}

static int cmp_core(const void *a, const void *b)
{
    const struct numa_core *x = a;
    const struct numa_core *y = b;
    if (x->package != y->package)
        return x->package < y->package ? -1 : 1;
    if (x->node != y->node)
        return x->node < y->node ? -1 : 1;
    return (x->core > y->core) - (x->core < y->core);
}

static int build_core_table(weir_topo *t)
{
    hwloc_obj_type_t type = HWLOC_OBJ_CORE;
    int n = hwloc_get_nbobjs_by_type(t->hw, HWLOC_OBJ_CORE);
    if (n <= 0) {
        type = HWLOC_OBJ_PU;
        n = hwloc_get_nbobjs_by_type(t->hw, HWLOC_OBJ_PU);
    }
    if (n <= 0)
        return -ENODEV;

    t->cores = calloc((size_t)n, sizeof *t->cores);
    if (t->cores == NULL)
        return -ENOMEM;
    for (int i = 0; i < n; i++) {
        hwloc_obj_t obj = hwloc_get_obj_by_type(t->hw, type, (unsigned)i);
        if (obj == NULL || obj->cpuset == NULL || hwloc_bitmap_iszero(obj->cpuset))
            return -ENODEV;
        hwloc_obj_t pkg = hwloc_get_ancestor_obj_by_type(t->hw, HWLOC_OBJ_PACKAGE, obj);
        t->cores[i] = (struct numa_core){
            .obj = obj,
            .core = (int)obj->logical_index,
            .node = node_of(t->hw, obj),
            .package = pkg != NULL ? (int)pkg->logical_index : 0,
        };
    }
    qsort(t->cores, (size_t)n, sizeof *t->cores, cmp_core);
    t->ncores = n;

    int nodes = hwloc_get_nbobjs_by_type(t->hw, HWLOC_OBJ_NUMANODE);
    int packages = hwloc_get_nbobjs_by_type(t->hw, HWLOC_OBJ_PACKAGE);
    t->nnodes = nodes > 0 ? nodes : 1;
    t->npackages = packages > 0 ? packages : 1;
    return 0;
}

/* t->usable: hwloc's allowed PUs, and on this system only those of the process's CPU mask
 * (hwloc's allowed set follows cgroups, not sched_setaffinity: under `taskset -c 1` workers
 * were placed on cpu 0). A mask that shares nothing with the allowed set is ignored. */
static int load_usable(weir_topo *t)
{
    t->usable = hwloc_bitmap_dup(hwloc_topology_get_allowed_cpuset(t->hw));
    if (t->usable == NULL)
        return -ENOMEM;
    if (t->synthetic)
        return 0;
    cpu_set_t mask;
    if (sched_getaffinity(getpid(), sizeof mask, &mask) < 0)
        return 0; /* no mask to honour */
    hwloc_bitmap_t proc = hwloc_bitmap_alloc();
    if (proc == NULL)
        return -ENOMEM;
    int rc = hwloc_cpuset_from_glibc_sched_affinity(t->hw, proc, &mask, sizeof mask);
    if (rc == 0 && hwloc_bitmap_intersects(proc, t->usable))
        rc = hwloc_bitmap_and(t->usable, t->usable, proc);
    hwloc_bitmap_free(proc);
    return rc < 0 ? -ENOMEM : 0;
}

/* desc NULL: this machine. */
static int load(const char *desc, weir_topo **out)
{
    if (out == NULL)
        return -EINVAL;
    *out = NULL;
    /* A library built against one hwloc ABI must not run on another. */
    if ((hwloc_get_api_version() >> 16) != (HWLOC_API_VERSION >> 16))
        return -ENOTSUP;

    int rc;
    weir_topo *t = calloc(1, sizeof *t);
    if (t == NULL)
        return -ENOMEM;
    if (hwloc_topology_init(&t->hw) < 0) {
        rc = errno ? -errno : -ENOMEM;
        free(t);
        return rc;
    }
    /* Placement needs packages, nodes, cores and PUs; caches only cost load time. */
    hwloc_topology_set_cache_types_filter(t->hw, HWLOC_TYPE_FILTER_KEEP_NONE);
    hwloc_topology_set_icache_types_filter(t->hw, HWLOC_TYPE_FILTER_KEEP_NONE);
    if (desc != NULL && hwloc_topology_set_synthetic(t->hw, desc) < 0) {
        rc = -EINVAL;
        goto err;
    }
    if (hwloc_topology_load(t->hw) < 0) {
        rc = errno ? -errno : -EINVAL;
        goto err;
    }
    t->synthetic = desc != NULL || !hwloc_topology_is_thissystem(t->hw);
    rc = load_usable(t);
    if (rc == 0)
        rc = build_core_table(t);
    if (rc < 0)
        goto err;
    *out = t;
    return 0;

err:
    weir_topo_free(t);
    return rc;
}

int weir_topo_load(weir_topo **out)
{
    return load(NULL, out);
}

int weir_topo_load_synthetic(const char *desc, weir_topo **out)
{
    if (desc == NULL) {
        if (out != NULL)
            *out = NULL;
        return -EINVAL;
    }
    return load(desc, out);
}

void weir_topo_free(weir_topo *t)
{
    if (t == NULL)
        return;
    hwloc_bitmap_free(t->usable);
    free(t->cores);
    hwloc_topology_destroy(t->hw);
    free(t);
}

int weir_topo_num_cores(const weir_topo *t)
{
    return t != NULL ? t->ncores : -EINVAL;
}

int weir_topo_num_nodes(const weir_topo *t)
{
    return t != NULL ? t->nnodes : -EINVAL;
}

int weir_topo_num_packages(const weir_topo *t)
{
    return t != NULL ? t->npackages : -EINVAL;
}

bool weir_topo_is_synthetic(const weir_topo *t)
{
    return t != NULL && t->synthetic;
}

static const char *plural(int n)
{
    return n == 1 ? "" : "s";
}

int weir_topo_describe(const weir_topo *t, char *buf, size_t len)
{
    if (t == NULL || buf == NULL || len == 0)
        return -EINVAL;
    int w = snprintf(buf, len, "%d package%s, %d NUMA node%s, %d core%s%s", t->npackages,
                     plural(t->npackages), t->nnodes, plural(t->nnodes), t->ncores,
                     plural(t->ncores), t->synthetic ? " (synthetic)" : "");
    if (w < 0)
        return -EIO;
    return (size_t)w < len ? 0 : -ENOSPC;
}

int weir_topo_bind_thread(const weir_topo *t, const weir_worker_slot *slot)
{
    if (t == NULL || slot == NULL || slot->pu_os_index < 0)
        return -EINVAL;
    if (t->synthetic)
        return 0;
    if (!hwloc_bitmap_isset(t->usable, (unsigned)slot->pu_os_index))
        return -EINVAL;

    hwloc_bitmap_t set = hwloc_bitmap_alloc();
    if (set == NULL)
        return -ENOMEM;
    int rc = 0;
    if (hwloc_bitmap_only(set, (unsigned)slot->pu_os_index) < 0)
        rc = -ENOMEM;
    else if (hwloc_set_cpubind(t->hw, set, HWLOC_CPUBIND_THREAD) < 0)
        rc = errno ? -errno : -EINVAL;
    hwloc_bitmap_free(set);
    return rc;
}
