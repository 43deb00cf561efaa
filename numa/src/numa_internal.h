/*
 * What the files of numa/src share: the inside of a weir_topo. Not part of the API.
 */
#ifndef WEIR_NUMA_INTERNAL_H
#define WEIR_NUMA_INTERNAL_H

#include <stdbool.h>

#include <hwloc.h>

#include "weir/numa.h"

/* One core as placement sees it. Where hwloc has no Core objects, each PU
 * stands for a core. */
struct numa_core {
    hwloc_obj_t obj; /* the Core (or PU) object; its cpuset holds its PUs */
    int core;        /* logical index of obj among its type */
    int node;        /* logical index of the nearest NUMA node holding it */
    int package;     /* logical index of its package, 0 without packages */
};

struct weir_topo {
    hwloc_topology_t hw;
    bool synthetic; /* not this system: no thread or memory binding */
    /* The PUs weir may use: hwloc's allowed set (cgroups) and, on this system, the process's
     * CPU mask (taskset, numactl --physcpubind, systemd's CPUAffinity), as its main thread had
     * it when the topology was loaded. weir never pins the main thread, so workers placed from
     * a later run see the same mask. */
    hwloc_bitmap_t usable;
    int ncores;
    int nnodes;
    int npackages;
    struct numa_core *cores; /* ncores, in placement order: package, node, core */
};

#endif
