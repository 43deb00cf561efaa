/*
 * Memory for rings: mmap-backed, zeroed, prefaulted, on a node, in the largest
 * pages the machine will give.
 *
 * The kind of page decides the length that was mapped (a size rounded up to
 * 2 MiB, or to 4 KiB), and munmap of explicit hugepages needs that exact
 * length, so each live range is kept in a small list: allocation is setup
 * work, never on the fast path, and a mutex and a walk are cheap there.
 */
#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "numa_internal.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif

#define THP_ENABLED_PATH "/sys/kernel/mm/transparent_hugepage/enabled"
#define THP_SIZE_PATH    "/sys/kernel/mm/transparent_hugepage/hpage_pmd_size"

struct page_sizes {
    size_t base; /* sysconf(_SC_PAGESIZE) */
    size_t huge; /* default hugetlb page size (Hugepagesize), 0 without hugetlbfs */
    size_t thp;  /* transparent hugepage size, 0 without THP */
};

static pthread_once_t sizes_once = PTHREAD_ONCE_INIT;
static struct page_sizes sizes;

struct mapping {
    struct mapping *next;
    void *addr;
    size_t len;  /* what was mapped, what munmap needs */
    size_t size; /* what the caller asked for */
};

/* Live ranges, newest first. */
static pthread_mutex_t mappings_lock = PTHREAD_MUTEX_INITIALIZER;
static struct mapping *mappings;

/* The value of a "Key:   123 kB" line of /proc/meminfo, -1 if absent. */
static long meminfo_value(const char *key)
{
    FILE *f = fopen("/proc/meminfo", "re");
    if (f == NULL)
        return -1;
    char line[256];
    long v = -1;
    size_t klen = strlen(key);
    while (fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
            if (sscanf(line + klen + 1, "%ld", &v) != 1)
                v = -1;
            break;
        }
    }
    fclose(f);
    return v;
}

static long file_long(const char *path)
{
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return -1;
    long v;
    if (fscanf(f, "%ld", &v) != 1)
        v = -1;
    fclose(f);
    return v;
}

static void read_sizes(void)
{
    long base = sysconf(_SC_PAGESIZE);
    sizes.base = base > 0 ? (size_t)base : 4096;
    long huge_kb = meminfo_value("Hugepagesize");
    sizes.huge = huge_kb > 0 ? (size_t)huge_kb * 1024 : 0;
    long thp = file_long(THP_SIZE_PATH);
    sizes.thp = thp > 0 && (size_t)thp > sizes.base ? (size_t)thp : 0;
}

/* THP is usable unless the kernel lacks it or it is set to "[never]". */
static bool thp_enabled(void)
{
    if (sizes.thp == 0)
        return false;
    FILE *f = fopen(THP_ENABLED_PATH, "re");
    if (f == NULL)
        return false;
    char line[128] = "";
    char *ok = fgets(line, sizeof line, f);
    fclose(f);
    return ok != NULL && strstr(line, "[never]") == NULL;
}

/* Whether npages explicit hugepages can be had: free and not already promised
 * to another mapping, and on the node the range will be bound to, since a
 * fault on a node without one would fail. */
static bool explicit_fits(size_t npages, hwloc_obj_t node)
{
    long free_pages = meminfo_value("HugePages_Free");
    long rsvd = meminfo_value("HugePages_Rsvd");
    if (free_pages <= 0 || (rsvd > 0 ? free_pages - rsvd : free_pages) < (long)npages)
        return false;
    if (node == NULL)
        return true;
    char path[128];
    snprintf(path, sizeof path,
             "/sys/devices/system/node/node%u/hugepages/hugepages-%zukB/free_hugepages",
             node->os_index, sizes.huge / 1024);
    long on_node = file_long(path);
    return on_node >= (long)npages;
}

/* Rounds size up to a multiple of align (a power of two); 0 on overflow. */
static size_t round_up(size_t size, size_t align)
{
    if (size > SIZE_MAX - (align - 1))
        return 0;
    return (size + align - 1) & ~(align - 1);
}

static int bind_range(const weir_topo *t, void *p, size_t len, hwloc_obj_t node)
{
    if (node == NULL)
        return 0;
    if (hwloc_set_area_membind(t->hw, p, len, node->nodeset, HWLOC_MEMBIND_BIND,
                               HWLOC_MEMBIND_BYNODESET | HWLOC_MEMBIND_STRICT) < 0)
        return errno ? -errno : -EINVAL;
    return 0;
}

/* Faults every page in, under the range's memory policy. MADV_POPULATE_WRITE
 * reports a failure (no hugepage left on the node) as an error where touching
 * the pages would raise SIGBUS; kernels before 5.14 only have touching. */
static int populate(void *p, size_t len, size_t page)
{
    if (madvise(p, len, MADV_POPULATE_WRITE) == 0)
        return 0;
    if (errno != EINVAL)
        return -errno;
    for (size_t off = 0; off < len; off += page)
        ((volatile char *)p)[off] = 0;
    return 0;
}

static void *map_explicit(size_t len)
{
    void *p =
        mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

/* len bytes aligned to the THP size, so that every 2 MiB of it can be one
 * hugepage: over-map by one THP and trim both ends. */
static void *map_thp(size_t len)
{
    size_t over = len + sizes.thp;
    if (over < len)
        return NULL;
    char *raw = mmap(NULL, over, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED)
        return NULL;
    char *p = (char *)(((uintptr_t)raw + sizes.thp - 1) & ~(uintptr_t)(sizes.thp - 1));
    if (p > raw)
        munmap(raw, (size_t)(p - raw));
    if (p + len < raw + over)
        munmap(p + len, (size_t)(raw + over - (p + len)));
    if (madvise(p, len, MADV_HUGEPAGE) < 0) {
        munmap(p, len);
        return NULL;
    }
    return p;
}

static void *map_normal(size_t len)
{
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

void *weir_numa_alloc(const weir_topo *t, size_t size, int node, weir_page_kind *kind_out)
{
    if (t == NULL || size == 0 || node < -1 || node >= t->nnodes) {
        errno = EINVAL;
        return NULL;
    }
    pthread_once(&sizes_once, read_sizes);

    hwloc_obj_t nodeobj = NULL;
    if (node >= 0 && !t->synthetic && t->nnodes > 1) {
        nodeobj = hwloc_get_obj_by_type(t->hw, HWLOC_OBJ_NUMANODE, (unsigned)node);
        if (nodeobj == NULL) {
            errno = EINVAL;
            return NULL;
        }
    }

    int rc;
    void *p = NULL;
    size_t len = 0;
    weir_page_kind kind = WEIR_PAGES_NORMAL;
    struct mapping *m = malloc(sizeof *m);
    if (m == NULL) {
        rc = -ENOMEM;
        goto err;
    }

    /* Explicit hugepages, if the pool has enough; a failure to fault them in
     * (someone took them meanwhile) falls through to the next kind. */
    len = sizes.huge != 0 ? round_up(size, sizes.huge) : 0;
    if (len != 0 && explicit_fits(len / sizes.huge, nodeobj) && (p = map_explicit(len)) != NULL) {
        rc = bind_range(t, p, len, nodeobj);
        if (rc < 0)
            goto err;
        if (populate(p, len, sizes.huge) == 0) {
            kind = WEIR_PAGES_EXPLICIT_HUGE;
            goto done;
        }
        munmap(p, len);
        p = NULL;
    }

    len = thp_enabled() ? round_up(size, sizes.thp) : 0;
    if (len != 0 && (p = map_thp(len)) != NULL) {
        kind = WEIR_PAGES_TRANSPARENT_HUGE;
    } else {
        len = round_up(size, sizes.base);
        if (len == 0) {
            rc = -ENOMEM;
            goto err;
        }
        p = map_normal(len);
        if (p == NULL) {
            rc = -errno;
            goto err;
        }
        kind = WEIR_PAGES_NORMAL;
    }
    rc = bind_range(t, p, len, nodeobj);
    if (rc < 0)
        goto err;
    rc = populate(p, len, sizes.base);
    if (rc < 0)
        goto err;

done:
    *m = (struct mapping){.addr = p, .len = len, .size = size};
    pthread_mutex_lock(&mappings_lock);
    m->next = mappings;
    mappings = m;
    pthread_mutex_unlock(&mappings_lock);
    if (kind_out != NULL)
        *kind_out = kind;
    return p;

err:
    if (p != NULL)
        munmap(p, len);
    free(m);
    errno = -rc;
    return NULL;
}

void weir_numa_free(void *p, size_t size)
{
    if (p == NULL)
        return;
    pthread_mutex_lock(&mappings_lock);
    struct mapping **pp = &mappings;
    while (*pp != NULL && (*pp)->addr != p)
        pp = &(*pp)->next;
    struct mapping *m = *pp;
    if (m != NULL)
        *pp = m->next;
    pthread_mutex_unlock(&mappings_lock);

    /* Not ours, or freed twice: unmapping a guessed length could take someone
     * else's memory with it, so leave it. */
    assert(m != NULL && "weir_numa_free: pointer not from weir_numa_alloc");
    if (m == NULL)
        return;
    assert(m->size == size && "weir_numa_free: size differs from the one allocated");
    munmap(m->addr, m->len);
    free(m);
}

const char *weir_page_kind_str(weir_page_kind k)
{
    switch (k) {
    case WEIR_PAGES_EXPLICIT_HUGE:
        return "explicit hugepages";
    case WEIR_PAGES_TRANSPARENT_HUGE:
        return "transparent hugepages (madvise)";
    case WEIR_PAGES_NORMAL:
        return "normal pages";
    }
    return "unknown";
}
