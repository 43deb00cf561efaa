/*
 * Worker placement on synthetic topologies: this machine has one node, so the
 * interesting layouts are described to hwloc instead.
 *
 * "pack:2 numa:2 core:4 pu:2": 2 packages x 2 nodes x 4 cores x 2 PUs. Core c
 * has PUs 2c and 2c+1; node k holds cores 4k..4k+3; package p nodes 2p, 2p+1.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "weir/numa.h"

#define TWO_BY_TWO "pack:2 numa:2 core:4 pu:2"

static int load_two_by_two(void **state)
{
    weir_topo *t = NULL;
    int rc = weir_topo_load_synthetic(TWO_BY_TWO, &t);
    if (rc != 0 || t == NULL)
        return -1;
    *state = t;
    return 0;
}

static int free_topo(void **state)
{
    weir_topo_free(*state);
    return 0;
}

static void assert_slot(const weir_worker_slot *s, int worker, int core, int pu, int node,
                        int package)
{
    assert_int_equal(s->worker, worker);
    assert_int_equal(s->core, core);
    assert_int_equal(s->pu_os_index, pu);
    assert_int_equal(s->node, node);
    assert_int_equal(s->package, package);
}

static void sixteen_workers_fill_nodes_in_topology_order(void **state)
{
    weir_worker_slot s[16];
    char err[256] = "untouched";
    assert_int_equal(weir_topo_place(*state, 16, NULL, s, err, sizeof err), 0);
    assert_string_equal(err, "");
    for (int w = 0; w < 16; w++)
        assert_slot(&s[w], w, w, 2 * w, w / 4, w / 8);
    /* The groups the brief names, spelled out. */
    assert_int_equal(s[3].node, 0);
    assert_int_equal(s[4].node, 1);
    assert_int_equal(s[7].package, 0);
    assert_int_equal(s[8].node, 2);
    assert_int_equal(s[8].package, 1);
    assert_int_equal(s[15].node, 3);
}

static void five_workers_fill_node_0_then_start_node_1(void **state)
{
    weir_worker_slot s[6];
    memset(s, 0x5a, sizeof s);
    assert_int_equal(weir_topo_place(*state, 5, NULL, s, NULL, 0), 0);
    for (int w = 0; w < 4; w++)
        assert_slot(&s[w], w, w, 2 * w, 0, 0);
    assert_slot(&s[4], 4, 4, 8, 1, 0);
    /* Only n slots are written. */
    assert_int_equal(s[5].worker, 0x5a5a5a5a);
}

static void empty_cpu_list_means_every_core(void **state)
{
    weir_worker_slot s[16];
    assert_int_equal(weir_topo_place(*state, 16, "", s, NULL, 0), 0);
    assert_slot(&s[15], 15, 15, 30, 3, 1);
    assert_int_equal(weir_topo_place(*state, 16, "  ", s, NULL, 0), 0);
    assert_slot(&s[15], 15, 15, 30, 3, 1);
}

static void seventeen_workers_on_sixteen_cores_names_parallelism(void **state)
{
    weir_worker_slot s[17];
    char err[256];
    assert_int_equal(weir_topo_place(*state, 17, NULL, s, err, sizeof err), -EINVAL);
    assert_string_equal(err, "parallelism.default: 17: only 16 cores to run workers on (lower -p "
                             "or parallelism.default to at most 16)");
}

static void zero_workers_names_parallelism(void **state)
{
    weir_worker_slot s[1];
    char err[256];
    assert_int_equal(weir_topo_place(*state, 0, NULL, s, err, sizeof err), -EINVAL);
    assert_string_equal(err, "parallelism.default: 0: must be at least 1 (set -p or "
                             "parallelism.default)");
    assert_int_equal(weir_topo_place(*state, -3, NULL, s, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "parallelism.default: -3:"));
}

static void cpu_list_of_nodes_1_and_3_places_only_there(void **state)
{
    weir_worker_slot s[8];
    char err[256];
    assert_int_equal(weir_topo_place(*state, 8, "8-15,24-31", s, err, sizeof err), 0);
    for (int w = 0; w < 4; w++)
        assert_slot(&s[w], w, 4 + w, 8 + 2 * w, 1, 0);
    for (int w = 4; w < 8; w++)
        assert_slot(&s[w], w, 8 + w, 16 + 2 * w, 3, 1);
}

static void cpu_list_order_does_not_change_topology_order(void **state)
{
    weir_worker_slot s[8];
    assert_int_equal(weir_topo_place(*state, 8, "24-31,8-15", s, NULL, 0), 0);
    assert_slot(&s[0], 0, 4, 8, 1, 0);
    assert_slot(&s[7], 7, 15, 30, 3, 1);
}

static void more_workers_than_cpu_list_grants_names_both_keys(void **state)
{
    weir_worker_slot s[9];
    char err[256];
    assert_int_equal(weir_topo_place(*state, 9, "8-15,24-31", s, err, sizeof err), -EINVAL);
    assert_string_equal(err, "parallelism.default: 9: numa.cpus \"8-15,24-31\" grants only 8 cores "
                             "(lower -p or parallelism.default, or widen numa.cpus)");
}

static void bad_cpu_list_syntax_names_numa_cpus_and_value(void **state)
{
    weir_worker_slot s[1];
    char err[256];
    assert_int_equal(weir_topo_place(*state, 1, "0-x", s, err, sizeof err), -EINVAL);
    assert_string_equal(err, "numa.cpus: \"0-x\": not a cpu list at \"x\" (expected OS cpu "
                             "numbers like \"0-3,8,10-11\")");

    static const char *bad[] = {"abc", "0,,1", "1-", "0;1", "-1", "0,", "1 2", "0x1", "+1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        assert_int_equal(weir_topo_place(*state, 1, bad[i], s, err, sizeof err), -EINVAL);
        char want[64];
        snprintf(want, sizeof want, "numa.cpus: \"%s\": ", bad[i]);
        assert_non_null(strstr(err, want));
        assert_null(strchr(err, '\n'));
    }
}

static void trailing_comma_says_list_ends_too_soon(void **state)
{
    weir_worker_slot s[1];
    char err[256];
    assert_int_equal(weir_topo_place(*state, 1, "0,", s, err, sizeof err), -EINVAL);
    assert_string_equal(err, "numa.cpus: \"0,\": cpu list ends too soon (expected OS cpu numbers "
                             "like \"0-3,8,10-11\")");
}

static void reversed_range_is_rejected(void **state)
{
    weir_worker_slot s[1];
    char err[256];
    assert_int_equal(weir_topo_place(*state, 1, "7-3", s, err, sizeof err), -EINVAL);
    assert_string_equal(err, "numa.cpus: \"7-3\": range 7-3 runs backwards (write 3-7)");
}

static void cpu_beyond_the_topology_names_the_cpu(void **state)
{
    weir_worker_slot s[1];
    char err[256];
    assert_int_equal(weir_topo_place(*state, 1, "30-40", s, err, sizeof err), -EINVAL);
    assert_string_equal(err, "numa.cpus: \"30-40\": cpu 32 is not one this process can run on "
                             "(available cpus: 0-31)");
    assert_int_equal(weir_topo_place(*state, 1, "99999999999999999999", s, err, sizeof err),
                     -EINVAL);
    assert_non_null(strstr(err, "numa.cpus: \"99999999999999999999\": cpu "));
}

static void first_pu_of_each_core_never_a_sibling(void **state)
{
    weir_worker_slot s[16];
    assert_int_equal(weir_topo_place(*state, 16, NULL, s, NULL, 0), 0);
    for (int w = 0; w < 16; w++) {
        assert_int_equal(s[w].pu_os_index % 2, 0);
        for (int v = 0; v < w; v++)
            assert_int_not_equal(s[v].pu_os_index / 2, s[w].pu_os_index / 2);
    }
}

static void cpu_list_of_siblings_pins_to_the_listed_pu(void **state)
{
    weir_worker_slot s[4];
    assert_int_equal(weir_topo_place(*state, 4, "1,3,5,7", s, NULL, 0), 0);
    for (int w = 0; w < 4; w++)
        assert_slot(&s[w], w, w, 2 * w + 1, 0, 0);
}

static void both_pus_of_a_core_grant_one_core(void **state)
{
    weir_worker_slot s[3];
    char err[256];
    assert_int_equal(weir_topo_place(*state, 2, "0-3", s, err, sizeof err), 0);
    assert_slot(&s[0], 0, 0, 0, 0, 0);
    assert_slot(&s[1], 1, 1, 2, 0, 0);
    assert_int_equal(weir_topo_place(*state, 3, "0-3", s, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "grants only 2 cores"));
}

static void blanks_around_items_are_allowed(void **state)
{
    weir_worker_slot s[3];
    assert_int_equal(weir_topo_place(*state, 3, " 8 - 9 , 24 ,26", s, NULL, 0), 0);
    assert_slot(&s[0], 0, 4, 8, 1, 0);
    assert_slot(&s[1], 1, 12, 24, 3, 1);
    assert_slot(&s[2], 2, 13, 26, 3, 1);
}

static void long_cpu_list_error_stays_in_the_buffer(void **state)
{
    weir_worker_slot s[1];
    char err[16];
    memset(err, 'x', sizeof err);
    assert_int_equal(weir_topo_place(*state, 1, "0-x", s, err, sizeof err), -EINVAL);
    assert_int_equal(strlen(err), sizeof err - 1);
    assert_memory_equal(err, "numa.cpus: \"0-x", sizeof err - 1);
}

static void nodes_above_packages_keep_package_order(void **state)
{
    weir_topo *t = NULL;
    assert_int_equal(weir_topo_load_synthetic("numa:2 pack:2 core:2 pu:1", &t), 0);
    weir_worker_slot s[8];
    assert_int_equal(weir_topo_place(t, 8, NULL, s, NULL, 0), 0);
    for (int w = 0; w < 8; w++)
        assert_slot(&s[w], w, w, w, w / 4, w / 2);
    weir_topo_free(t);
}

static void topology_without_cores_places_on_pus(void **state)
{
    weir_topo *t = NULL;
    assert_int_equal(weir_topo_load_synthetic("pack:1 pu:4", &t), 0);
    assert_int_equal(weir_topo_num_cores(t), 4);
    weir_worker_slot s[4];
    assert_int_equal(weir_topo_place(t, 4, NULL, s, NULL, 0), 0);
    for (int w = 0; w < 4; w++)
        assert_slot(&s[w], w, w, w, 0, 0);
    weir_topo_free(t);
}

static void null_arguments_are_einval(void **state)
{
    weir_worker_slot s[1];
    char err[128];
    assert_int_equal(weir_topo_place(NULL, 1, NULL, s, err, sizeof err), -EINVAL);
    assert_int_equal(weir_topo_place(*state, 1, NULL, NULL, err, sizeof err), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sixteen_workers_fill_nodes_in_topology_order),
        cmocka_unit_test(five_workers_fill_node_0_then_start_node_1),
        cmocka_unit_test(empty_cpu_list_means_every_core),
        cmocka_unit_test(seventeen_workers_on_sixteen_cores_names_parallelism),
        cmocka_unit_test(zero_workers_names_parallelism),
        cmocka_unit_test(cpu_list_of_nodes_1_and_3_places_only_there),
        cmocka_unit_test(cpu_list_order_does_not_change_topology_order),
        cmocka_unit_test(more_workers_than_cpu_list_grants_names_both_keys),
        cmocka_unit_test(bad_cpu_list_syntax_names_numa_cpus_and_value),
        cmocka_unit_test(trailing_comma_says_list_ends_too_soon),
        cmocka_unit_test(reversed_range_is_rejected),
        cmocka_unit_test(cpu_beyond_the_topology_names_the_cpu),
        cmocka_unit_test(first_pu_of_each_core_never_a_sibling),
        cmocka_unit_test(cpu_list_of_siblings_pins_to_the_listed_pu),
        cmocka_unit_test(both_pus_of_a_core_grant_one_core),
        cmocka_unit_test(blanks_around_items_are_allowed),
        cmocka_unit_test(long_cpu_list_error_stays_in_the_buffer),
        cmocka_unit_test(nodes_above_packages_keep_package_order),
        cmocka_unit_test(topology_without_cores_places_on_pus),
        cmocka_unit_test(null_arguments_are_einval),
    };
    return cmocka_run_group_tests(tests, load_two_by_two, free_topo);
}
