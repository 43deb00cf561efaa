/*
 * The cpus a NUMA node's helper threads (heap snapshot writers) get: those of the node
 * whose core has no worker, or, when every core there has one, all of the node's cpus with
 * floating set. On the synthetic "pack:2 numa:2 core:4 pu:2": core c has PUs 2c and 2c+1,
 * node k holds cores 4k..4k+3 (cpus 8k..8k+7).
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

static int load(void **state)
{
    weir_topo *t = NULL;
    if (weir_topo_load_synthetic("pack:2 numa:2 core:4 pu:2", &t) != 0 || t == NULL)
        return -1;
    *state = t;
    return 0;
}

static int unload(void **state)
{
    weir_topo_free(*state);
    return 0;
}

/* The set as a string of cpu numbers, e.g. "10 11 12 13 14 15". */
static const char *cpus_str(const cpu_set_t *s)
{
    static char buf[512];
    size_t n = 0;
    buf[0] = '\0';
    for (int c = 0; c < 64; c++)
        if (CPU_ISSET(c, s))
            n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%d", n ? " " : "", c);
    return buf;
}

static void helpers_take_the_cores_of_their_node_that_have_no_worker(void **state)
{
    weir_worker_slot s[5];
    assert_int_equal(weir_topo_place(*state, 5, NULL, s, NULL, 0), 0); /* node 1: core 4 */
    cpu_set_t set;
    bool floating = true;
    assert_int_equal(weir_topo_helper_cpus(*state, 1, s, 5, &set, &floating), 6);
    assert_false(floating);
    assert_string_equal(cpus_str(&set), "10 11 12 13 14 15"); /* not core 4's sibling 9 */
}

static void helpers_float_on_a_node_whose_every_core_has_a_worker(void **state)
{
    weir_worker_slot s[5];
    assert_int_equal(weir_topo_place(*state, 5, NULL, s, NULL, 0), 0); /* node 0: cores 0-3 */
    cpu_set_t set;
    bool floating = false;
    assert_int_equal(weir_topo_helper_cpus(*state, 0, s, 5, &set, &floating), 8);
    assert_true(floating);
    assert_string_equal(cpus_str(&set), "0 1 2 3 4 5 6 7");
}

static void helpers_of_a_node_without_workers_take_all_of_it(void **state)
{
    weir_worker_slot s[5];
    assert_int_equal(weir_topo_place(*state, 5, NULL, s, NULL, 0), 0);
    cpu_set_t set;
    bool floating = true;
    assert_int_equal(weir_topo_helper_cpus(*state, 3, s, 5, &set, &floating), 8);
    assert_false(floating);
    assert_string_equal(cpus_str(&set), "24 25 26 27 28 29 30 31");
}

static void a_node_that_is_not_there_is_einval(void **state)
{
    cpu_set_t set;
    bool floating;
    assert_int_equal(weir_topo_helper_cpus(*state, 4, NULL, 0, &set, &floating), -EINVAL);
    assert_int_equal(weir_topo_helper_cpus(*state, -1, NULL, 0, &set, &floating), -EINVAL);
    assert_int_equal(weir_topo_helper_cpus(*state, 0, NULL, 1, &set, &floating), -EINVAL);
    assert_int_equal(weir_topo_helper_cpus(NULL, 0, NULL, 0, &set, &floating), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(helpers_take_the_cores_of_their_node_that_have_no_worker,
                                        load, unload),
        cmocka_unit_test_setup_teardown(helpers_float_on_a_node_whose_every_core_has_a_worker, load,
                                        unload),
        cmocka_unit_test_setup_teardown(helpers_of_a_node_without_workers_take_all_of_it, load,
                                        unload),
        cmocka_unit_test_setup_teardown(a_node_that_is_not_there_is_einval, load, unload),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
