/*
 * Loading topologies: synthetic ones exactly as described, and this machine as
 * hwloc and the kernel see it.
 */
#include <errno.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "weir/numa.h"

static void synthetic_counts_packages_nodes_and_cores(void **state)
{
    weir_topo *t = NULL;
    assert_int_equal(weir_topo_load_synthetic("pack:2 numa:2 core:4 pu:2", &t), 0);
    assert_non_null(t);
    assert_int_equal(weir_topo_num_packages(t), 2);
    assert_int_equal(weir_topo_num_nodes(t), 4);
    assert_int_equal(weir_topo_num_cores(t), 16);
    assert_true(weir_topo_is_synthetic(t));
    weir_topo_free(t);
}

static void synthetic_describe_is_one_line_with_plurals(void **state)
{
    weir_topo *t = NULL;
    char buf[128];
    assert_int_equal(weir_topo_load_synthetic("pack:2 numa:2 core:4 pu:2", &t), 0);
    assert_int_equal(weir_topo_describe(t, buf, sizeof buf), 0);
    assert_string_equal(buf, "2 packages, 4 NUMA nodes, 16 cores (synthetic)");
    weir_topo_free(t);

    assert_int_equal(weir_topo_load_synthetic("pack:1 core:1 pu:1", &t), 0);
    assert_int_equal(weir_topo_describe(t, buf, sizeof buf), 0);
    assert_string_equal(buf, "1 package, 1 NUMA node, 1 core (synthetic)");
    weir_topo_free(t);
}

static void describe_into_small_buffer_truncates_with_enospc(void **state)
{
    weir_topo *t = NULL;
    char buf[10];
    assert_int_equal(weir_topo_load_synthetic("pack:2 numa:2 core:4 pu:2", &t), 0);
    assert_int_equal(weir_topo_describe(t, buf, sizeof buf), -ENOSPC);
    assert_string_equal(buf, "2 package");
    assert_int_equal(weir_topo_describe(t, buf, 0), -EINVAL);
    assert_int_equal(weir_topo_describe(NULL, buf, sizeof buf), -EINVAL);
    weir_topo_free(t);
}

static void unparsable_synthetic_description_is_einval(void **state)
{
    weir_topo *t = (weir_topo *)&t;
    assert_int_equal(weir_topo_load_synthetic("pack:x core:banana", &t), -EINVAL);
    assert_null(t);
    t = (weir_topo *)&t;
    assert_int_equal(weir_topo_load_synthetic(NULL, &t), -EINVAL);
    assert_null(t);
    assert_int_equal(weir_topo_load_synthetic("pack:1 pu:1", NULL), -EINVAL);
}

static void free_null_is_a_no_op(void **state)
{
    weir_topo_free(NULL);
}

static void this_machine_loads_as_real(void **state)
{
    weir_topo *t = NULL;
    assert_int_equal(weir_topo_load(&t), 0);
    assert_non_null(t);
    assert_false(weir_topo_is_synthetic(t));
    assert_true(weir_topo_num_cores(t) >= 1);
    assert_true(weir_topo_num_nodes(t) >= 1);
    assert_true(weir_topo_num_packages(t) >= 1);
    weir_topo_free(t);
}

/* Every core gets a worker on a cpu this process may run on, and no cpu twice. */
static void this_machine_places_one_worker_per_allowed_core(void **state)
{
    weir_topo *t = NULL;
    assert_int_equal(weir_topo_load(&t), 0);
    int n = weir_topo_num_cores(t);
    cpu_set_t allowed;
    assert_int_equal(sched_getaffinity(0, sizeof allowed, &allowed), 0);
    assert_true(n <= CPU_COUNT(&allowed));

    weir_worker_slot s[CPU_SETSIZE + 1];
    char err[256];
    assert_int_equal(weir_topo_place(t, n, NULL, s, err, sizeof err), 0);
    for (int w = 0; w < n; w++) {
        assert_int_equal(s[w].worker, w);
        assert_true(CPU_ISSET(s[w].pu_os_index, &allowed));
        assert_in_range(s[w].node, 0, weir_topo_num_nodes(t) - 1);
        assert_in_range(s[w].package, 0, weir_topo_num_packages(t) - 1);
        for (int v = 0; v < w; v++) {
            assert_int_not_equal(s[v].pu_os_index, s[w].pu_os_index);
            assert_int_not_equal(s[v].core, s[w].core);
        }
    }
    assert_int_equal(weir_topo_place(t, n + 1, NULL, s, err, sizeof err), -EINVAL);
    char want[64];
    snprintf(want, sizeof want, "parallelism.default: %d: only %d core", n + 1, n);
    assert_non_null(strstr(err, want));
    weir_topo_free(t);
}

static void this_machine_describe_matches_counts(void **state)
{
    weir_topo *t = NULL;
    assert_int_equal(weir_topo_load(&t), 0);
    int p = weir_topo_num_packages(t);
    int n = weir_topo_num_nodes(t);
    int c = weir_topo_num_cores(t);
    char want[128], buf[128];
    snprintf(want, sizeof want, "%d package%s, %d NUMA node%s, %d core%s", p, p == 1 ? "" : "s", n,
             n == 1 ? "" : "s", c, c == 1 ? "" : "s");
    assert_int_equal(weir_topo_describe(t, buf, sizeof buf), 0);
    assert_string_equal(buf, want);
    weir_topo_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(synthetic_counts_packages_nodes_and_cores),
        cmocka_unit_test(synthetic_describe_is_one_line_with_plurals),
        cmocka_unit_test(describe_into_small_buffer_truncates_with_enospc),
        cmocka_unit_test(unparsable_synthetic_description_is_einval),
        cmocka_unit_test(free_null_is_a_no_op),
        cmocka_unit_test(this_machine_loads_as_real),
        cmocka_unit_test(this_machine_places_one_worker_per_allowed_core),
        cmocka_unit_test(this_machine_describe_matches_counts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
