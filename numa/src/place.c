/*
 * Worker placement: which core, which cpu, which node each worker gets.
 *
 * The core table is already in placement order (see topo.c); placing is
 * filtering it by numa.cpus and taking the first n cores. Every way a person
 * can get the numbers wrong ends in a one-line message that names the key.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>

#include "numa_internal.h"

#define CPULIST_EXAMPLE "\"0-3,8,10-11\""

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (err == NULL || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static const char *skip_blanks(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* A decimal cpu number; saturates at INT_MAX, which no machine has. NULL if p
 * does not start with a digit. */
static const char *parse_cpu(const char *p, long *v)
{
    if (*p < '0' || *p > '9')
        return NULL;
    long x = 0;
    for (; *p >= '0' && *p <= '9'; p++)
        x = x > (INT_MAX - 9) / 10 ? INT_MAX : x * 10 + (*p - '0');
    *v = x;
    return p;
}

/* Parses a Linux cpulist into req, checking each cpu against avail. The range
 * is walked only as far as avail reaches, so "0-999999999" costs nothing. */
static int parse_cpulist(const char *list, hwloc_const_bitmap_t avail, hwloc_bitmap_t req,
                         char *err, size_t errlen)
{
    long last_avail = hwloc_bitmap_last(avail);
    const char *p = skip_blanks(list);
    for (;;) {
        long lo, hi;
        const char *q = parse_cpu(p, &lo);
        if (q == NULL)
            goto syntax;
        p = skip_blanks(q);
        hi = lo;
        if (*p == '-') {
            q = parse_cpu(skip_blanks(p + 1), &hi);
            if (q == NULL) {
                p = skip_blanks(p + 1);
                goto syntax;
            }
            p = skip_blanks(q);
        }
        if (hi < lo) {
            set_err(err, errlen, "numa.cpus: \"%s\": range %ld-%ld runs backwards (write %ld-%ld)",
                    list, lo, hi, hi, lo);
            return -EINVAL;
        }
        for (long c = lo; c <= hi; c++) {
            if (c > last_avail || !hwloc_bitmap_isset(avail, (unsigned)c)) {
                char have[256];
                hwloc_bitmap_list_snprintf(have, sizeof have, avail);
                set_err(err, errlen,
                        "numa.cpus: \"%s\": cpu %ld is not one this process can run on "
                        "(available cpus: %s)",
                        list, c, have);
                return -EINVAL;
            }
            if (hwloc_bitmap_set(req, (unsigned)c) < 0) {
                set_err(err, errlen, "numa.cpus: \"%s\": out of memory", list);
                return -ENOMEM;
            }
        }
        if (*p == '\0')
            return 0;
        if (*p != ',')
            goto syntax;
        p = skip_blanks(p + 1);
    }

syntax:
    if (*p == '\0')
        set_err(err, errlen,
                "numa.cpus: \"%s\": cpu list ends too soon (expected OS cpu numbers like %s)", list,
                CPULIST_EXAMPLE);
    else
        set_err(err, errlen,
                "numa.cpus: \"%s\": not a cpu list at \"%s\" (expected OS cpu numbers like %s)",
                list, p, CPULIST_EXAMPLE);
    return -EINVAL;
}

int weir_topo_place(const weir_topo *t, int n, const char *cpu_list, weir_worker_slot *out,
                    char *err, size_t errlen)
{
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (t == NULL || out == NULL) {
        set_err(err, errlen, "weir_topo_place: no topology or no slots to fill");
        return -EINVAL;
    }
    if (n < 1) {
        set_err(err, errlen,
                "parallelism.default: %d: must be at least 1 (set -p or "
                "parallelism.default)",
                n);
        return -EINVAL;
    }

    bool all = cpu_list == NULL || *skip_blanks(cpu_list) == '\0';
    hwloc_bitmap_t req = hwloc_bitmap_alloc();
    hwloc_bitmap_t pus = hwloc_bitmap_alloc();
    int rc = -ENOMEM;
    if (req == NULL || pus == NULL)
        goto err;

    hwloc_const_bitmap_t avail = t->usable;
    if (all) {
        if (hwloc_bitmap_copy(req, avail) < 0)
            goto err;
    } else {
        rc = parse_cpulist(cpu_list, avail, req, err, errlen);
        if (rc < 0)
            goto err;
    }

    int granted = 0;
    for (int i = 0; i < t->ncores; i++)
        granted += hwloc_bitmap_intersects(t->cores[i].obj->cpuset, req);
    if (n > granted) {
        if (all)
            set_err(err, errlen,
                    "parallelism.default: %d: only %d core%s to run workers on (lower -p or "
                    "parallelism.default to at most %d)",
                    n, granted, granted == 1 ? "" : "s", granted);
        else
            set_err(err, errlen,
                    "parallelism.default: %d: numa.cpus \"%s\" grants only %d core%s (lower -p "
                    "or parallelism.default, or widen numa.cpus)",
                    n, cpu_list, granted, granted == 1 ? "" : "s");
        rc = -EINVAL;
        goto err;
    }

    int w = 0;
    for (int i = 0; i < t->ncores && w < n; i++) {
        const struct numa_core *c = &t->cores[i];
        if (hwloc_bitmap_and(pus, c->obj->cpuset, req) < 0)
            goto err;
        if (hwloc_bitmap_iszero(pus))
            continue;
        out[w] = (weir_worker_slot){
            .worker = w,
            .core = c->core,
            .pu_os_index = hwloc_bitmap_first(pus),
            .node = c->node,
            .package = c->package,
        };
        w++;
    }
    rc = 0;

err:
    if (rc == -ENOMEM && err != NULL && errlen > 0 && err[0] == '\0')
        set_err(err, errlen, "numa: out of memory placing %d workers", n);
    hwloc_bitmap_free(pus);
    hwloc_bitmap_free(req);
    return rc;
}

static bool core_has_worker(int core, const weir_worker_slot *slots, int n)
{
    for (int w = 0; w < n; w++)
        if (slots[w].core == core)
            return true;
    return false;
}

int weir_topo_helper_cpus(const weir_topo *t, int node, const weir_worker_slot *slots, int n,
                          cpu_set_t *out, bool *floating)
{
    if (t == NULL || out == NULL || floating == NULL || node < 0 || node >= t->nnodes ||
        (n > 0 && slots == NULL))
        return -EINVAL;
    hwloc_const_bitmap_t avail = t->usable;
    cpu_set_t all;
    CPU_ZERO(&all);
    CPU_ZERO(out);
    int spare = 0, total = 0;
    for (int i = 0; i < t->ncores; i++) {
        const struct numa_core *c = &t->cores[i];
        if (c->node != node)
            continue;
        bool taken = core_has_worker(c->core, slots, n);
        int pu;
        hwloc_bitmap_foreach_begin(pu, c->obj->cpuset)
        {
            if (pu < CPU_SETSIZE && hwloc_bitmap_isset(avail, (unsigned)pu)) {
                CPU_SET(pu, &all);
                total++;
                if (!taken) {
                    CPU_SET(pu, out);
                    spare++;
                }
            }
        }
        hwloc_bitmap_foreach_end();
    }
    *floating = spare == 0;
    if (spare == 0)
        *out = all;
    return spare ? spare : total;
}
