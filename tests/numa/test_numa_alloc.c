/*
 * Ring memory: weir_numa_alloc on this machine (and on a synthetic topology,
 * where node binding is skipped). The kind of page expected is worked out here
 * from /proc/meminfo and sysfs, and checked against what the kernel reports
 * for the range in /proc/self/smaps.
 */
#include <errno.h>
#include <hwloc.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "weir/numa.h"

#define MIB ((size_t)1 << 20)

static long meminfo(const char *key)
{
    FILE *f = fopen("/proc/meminfo", "r");
    char line[256];
    long v = -1;
    size_t klen = strlen(key);
    while (f != NULL && fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, key, klen) == 0 && line[klen] == ':')
            sscanf(line + klen + 1, "%ld", &v);
    if (f != NULL)
        fclose(f);
    return v;
}

static size_t thp_size(void)
{
    FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size", "r");
    long v = 0;
    if (f != NULL) {
        if (fscanf(f, "%ld", &v) != 1)
            v = 0;
        fclose(f);
    }
    return v > 0 ? (size_t)v : 0;
}

static bool thp_not_never(void)
{
    FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
    char line[128] = "";
    if (f == NULL)
        return false;
    bool ok = fgets(line, sizeof line, f) != NULL && strstr(line, "[never]") == NULL;
    fclose(f);
    return ok && thp_size() > 0;
}

static weir_page_kind expected_kind(size_t size)
{
    long huge = meminfo("Hugepagesize") * 1024;
    long free_pages = meminfo("HugePages_Free");
    long rsvd = meminfo("HugePages_Rsvd");
    if (huge > 0 && free_pages > 0 &&
        free_pages - (rsvd > 0 ? rsvd : 0) >= (long)((size + huge - 1) / huge))
        return WEIR_PAGES_EXPLICIT_HUGE;
    if (thp_not_never())
        return WEIR_PAGES_TRANSPARENT_HUGE;
    return WEIR_PAGES_NORMAL;
}

/* The smaps entry of the mapping holding p: its VmFlags line and
 * KernelPageSize in kB. */
static bool smaps_of(const void *p, char *flags, size_t flagslen, long *kpage_kb)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    char line[512];
    bool in = false, found = false;
    while (f != NULL && fgets(line, sizeof line, f) != NULL) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, ':') != NULL &&
            line[0] != 'V') {
            in = (uintptr_t)p >= lo && (uintptr_t)p < hi;
            continue;
        }
        if (!in)
            continue;
        found = true;
        if (strncmp(line, "KernelPageSize:", 15) == 0)
            sscanf(line + 15, "%ld", kpage_kb);
        if (strncmp(line, "VmFlags:", 8) == 0)
            snprintf(flags, flagslen, "%s", line + 8);
    }
    if (f != NULL)
        fclose(f);
    return found;
}

static bool all_resident(void *p, size_t len)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t n = (len + page - 1) / page;
    unsigned char *vec = malloc(n);
    assert_non_null(vec);
    assert_int_equal(mincore(p, len, vec), 0);
    bool all = true;
    for (size_t i = 0; i < n; i++)
        all = all && (vec[i] & 1);
    free(vec);
    return all;
}

static bool unmapped(void *p, size_t len)
{
    unsigned char vec[1];
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    for (size_t off = 0; off < len; off += page)
        if (mincore((char *)p + off, 1, vec) == 0 || errno != ENOMEM)
            return false;
    return true;
}

static void assert_zeroed_and_writable(unsigned char *p, size_t size)
{
    for (size_t i = 0; i < size; i++)
        if (p[i] != 0)
            fail_msg("byte %zu is %u, not 0", i, p[i]);
    for (size_t i = 0; i < size; i++)
        p[i] = (unsigned char)(i * 31 + 7);
    for (size_t i = 0; i < size; i++)
        if (p[i] != (unsigned char)(i * 31 + 7))
            fail_msg("byte %zu did not keep what was written", i);
}

static int load_machine(void **state)
{
    weir_topo *t = NULL;
    if (weir_topo_load(&t) != 0)
        return -1;
    *state = t;
    return 0;
}

static int free_topo(void **state)
{
    weir_topo_free(*state);
    return 0;
}

static void unbound_alloc_is_zeroed_writable_and_sized(void **state)
{
    size_t size = 3 * MIB + 4099;
    weir_page_kind kind = (weir_page_kind)-1;
    unsigned char *p = weir_numa_alloc(*state, size, -1, &kind);
    assert_non_null(p);
    assert_int_equal(kind, expected_kind(size));
    assert_zeroed_and_writable(p, size);
    weir_numa_free(p, size);
}

static void node_0_alloc_is_zeroed_writable_and_sized(void **state)
{
    size_t size = 1 * MIB + 1;
    weir_page_kind kind = (weir_page_kind)-1;
    unsigned char *p = weir_numa_alloc(*state, size, 0, &kind);
    assert_non_null(p);
    assert_int_equal(kind, expected_kind(size));
    assert_zeroed_and_writable(p, size);
    weir_numa_free(p, size);
}

static void kind_is_the_one_the_kernel_gave(void **state)
{
    size_t size = 4 * MIB;
    weir_page_kind kind = (weir_page_kind)-1;
    void *p = weir_numa_alloc(*state, size, -1, &kind);
    assert_non_null(p);
    assert_true(kind == WEIR_PAGES_EXPLICIT_HUGE || kind == WEIR_PAGES_TRANSPARENT_HUGE ||
                kind == WEIR_PAGES_NORMAL);
    assert_int_equal(kind, expected_kind(size));

    char flags[512] = "";
    long kpage_kb = 0;
    assert_true(smaps_of(p, flags, sizeof flags, &kpage_kb));
    switch (kind) {
    case WEIR_PAGES_EXPLICIT_HUGE:
        assert_int_equal(kpage_kb, meminfo("Hugepagesize"));
        assert_non_null(strstr(flags, " ht"));
        break;
    case WEIR_PAGES_TRANSPARENT_HUGE:
        assert_non_null(strstr(flags, " hg"));
        assert_int_equal((uintptr_t)p % thp_size(), 0);
        break;
    case WEIR_PAGES_NORMAL:
        assert_null(strstr(flags, " hg"));
        assert_null(strstr(flags, " ht"));
        break;
    }
    weir_numa_free(p, size);
}

static void memory_is_page_aligned_and_prefaulted(void **state)
{
    size_t size = 5 * MIB + 12345;
    weir_page_kind kind;
    void *p = weir_numa_alloc(*state, size, -1, &kind);
    assert_non_null(p);
    assert_int_equal((uintptr_t)p % (uintptr_t)sysconf(_SC_PAGESIZE), 0);
    assert_true(all_resident(p, size));
    weir_numa_free(p, size);
}

static void free_unmaps_the_whole_range(void **state)
{
    size_t size = 2 * MIB + 100;
    void *p = weir_numa_alloc(*state, size, -1, NULL);
    assert_non_null(p);
    assert_false(unmapped(p, size));
    weir_numa_free(p, size);
    assert_true(unmapped(p, size));
}

static void ranges_free_in_any_order(void **state)
{
    size_t sizes[3] = {4096, 3 * MIB, 100};
    unsigned char *p[3];
    for (int i = 0; i < 3; i++) {
        p[i] = weir_numa_alloc(*state, sizes[i], -1, NULL);
        assert_non_null(p[i]);
        memset(p[i], 0x10 + i, sizes[i]);
    }
    weir_numa_free(p[1], sizes[1]);
    assert_true(unmapped(p[1], sizes[1]));
    assert_int_equal(p[0][sizes[0] - 1], 0x10);
    assert_int_equal(p[2][sizes[2] - 1], 0x12);
    weir_numa_free(p[0], sizes[0]);
    assert_true(unmapped(p[0], sizes[0]));
    assert_int_equal(p[2][0], 0x12);
    weir_numa_free(p[2], sizes[2]);
    assert_true(unmapped(p[2], sizes[2]));
}

static void bad_arguments_are_einval(void **state)
{
    errno = 0;
    assert_null(weir_numa_alloc(*state, 0, -1, NULL));
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_null(weir_numa_alloc(*state, 4096, weir_topo_num_nodes(*state), NULL));
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_null(weir_numa_alloc(*state, 4096, -2, NULL));
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_null(weir_numa_alloc(NULL, 4096, -1, NULL));
    assert_int_equal(errno, EINVAL);
}

static void impossible_size_is_enomem(void **state)
{
    errno = 0;
    assert_null(weir_numa_alloc(*state, SIZE_MAX - 10, -1, NULL));
    assert_int_equal(errno, ENOMEM);
}

static void synthetic_topology_ignores_the_node(void **state)
{
    weir_topo *t = NULL;
    assert_int_equal(weir_topo_load_synthetic("pack:2 numa:2 core:4 pu:2", &t), 0);
    weir_page_kind kind = (weir_page_kind)-1;
    unsigned char *p = weir_numa_alloc(t, 64 * 1024, 3, &kind);
    assert_non_null(p);
    assert_int_equal(kind, expected_kind(64 * 1024));
    assert_zeroed_and_writable(p, 64 * 1024);
    weir_numa_free(p, 64 * 1024);
    errno = 0;
    assert_null(weir_numa_alloc(t, 4096, 4, NULL));
    assert_int_equal(errno, EINVAL);
    weir_topo_free(t);
}

/* Only where the machine has several nodes: the pages of a range bound to node
 * k are on node k. */
static void each_node_gets_its_own_pages(void **state)
{
    const weir_topo *t = *state;
    int nodes = weir_topo_num_nodes(t);
    if (nodes < 2)
        skip();
    hwloc_topology_t hw;
    assert_int_equal(hwloc_topology_init(&hw), 0);
    assert_int_equal(hwloc_topology_load(hw), 0);
    hwloc_bitmap_t where = hwloc_bitmap_alloc();
    for (int k = 0; k < nodes; k++) {
        size_t size = 4 * MIB;
        void *p = weir_numa_alloc(t, size, k, NULL);
        assert_non_null(p);
        assert_int_equal(hwloc_get_area_memlocation(hw, p, size, where, HWLOC_MEMBIND_BYNODESET),
                         0);
        hwloc_obj_t node = hwloc_get_obj_by_type(hw, HWLOC_OBJ_NUMANODE, (unsigned)k);
        assert_non_null(node);
        assert_true(hwloc_bitmap_isequal(where, node->nodeset));
        weir_numa_free(p, size);
    }
    hwloc_bitmap_free(where);
    hwloc_topology_destroy(hw);
}

static void *alloc_free_loop(void *arg)
{
    const weir_topo *t = arg;
    for (int i = 0; i < 32; i++) {
        size_t size = 4096 * (size_t)(i + 1);
        unsigned char *p = weir_numa_alloc(t, size, -1, NULL);
        if (p == NULL)
            return (void *)1;
        p[size - 1] = 1;
        weir_numa_free(p, size);
    }
    return NULL;
}

static void threads_alloc_and_free_at_once(void **state)
{
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&th[i], NULL, alloc_free_loop, *state), 0);
    for (int i = 0; i < 4; i++) {
        void *ret = (void *)2;
        assert_int_equal(pthread_join(th[i], &ret), 0);
        assert_null(ret);
    }
}

static void free_null_is_a_no_op(void **state)
{
    weir_numa_free(NULL, 4096);
}

static void page_kinds_have_their_names(void **state)
{
    assert_string_equal(weir_page_kind_str(WEIR_PAGES_EXPLICIT_HUGE), "explicit hugepages");
    assert_string_equal(weir_page_kind_str(WEIR_PAGES_TRANSPARENT_HUGE),
                        "transparent hugepages (madvise)");
    assert_string_equal(weir_page_kind_str(WEIR_PAGES_NORMAL), "normal pages");
    assert_string_equal(weir_page_kind_str((weir_page_kind)42), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(unbound_alloc_is_zeroed_writable_and_sized),
        cmocka_unit_test(node_0_alloc_is_zeroed_writable_and_sized),
        cmocka_unit_test(kind_is_the_one_the_kernel_gave),
        cmocka_unit_test(memory_is_page_aligned_and_prefaulted),
        cmocka_unit_test(free_unmaps_the_whole_range),
        cmocka_unit_test(ranges_free_in_any_order),
        cmocka_unit_test(bad_arguments_are_einval),
        cmocka_unit_test(impossible_size_is_enomem),
        cmocka_unit_test(synthetic_topology_ignores_the_node),
        cmocka_unit_test(each_node_gets_its_own_pages),
        cmocka_unit_test(threads_alloc_and_free_at_once),
        cmocka_unit_test(free_null_is_a_no_op),
        cmocka_unit_test(page_kinds_have_their_names),
    };
    return cmocka_run_group_tests(tests, load_machine, free_topo);
}
