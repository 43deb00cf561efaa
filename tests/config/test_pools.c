/*
 * Resolve: the memory pools (numbers worked out by hand from the model in config.h), the
 * refusals, the machine limit, and the other cross-key checks.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "config_test.h"

#define MiB (1ull << 20)
#define GiB (1ull << 30)

static int setup(void **state)
{
    weir_config *c = weir_config_new();
    if (!c)
        return -1;
    /* Far above any configuration here, so that no test depends on this machine. */
    weir_config_set_machine_limit_for_test(c, 1ull << 40);
    *state = c;
    return 0;
}

static int teardown(void **state)
{
    weir_config_free(*state);
    unsetenv("WEIR_TEST_MEMORY_LIMIT");
    return 0;
}

static const struct weir_memory_pools *resolved(weir_config *c)
{
    wt_config_resolve(c);
    return weir_config_pools(c);
}

static void resolve_refused(weir_config *c, const char *message)
{
    char err[512] = "";
    if (weir_config_resolve(c, err, sizeof err) >= 0)
        fail_msg("resolve accepted the config");
    assert_string_equal(err, message);
}

static void sum_is_process(const struct weir_memory_pools *p)
{
    assert_int_equal(p->framework + p->task_heap + p->managed + p->network + p->overhead,
                     p->process);
}

/* P = 1728m = 1811939328. overhead: 10% is 181193932, under the 192m minimum, so 201326592.
 * total = 1610612736 (1536m). network: 10% = 161061273 (floor of .6), inside 64m..1g.
 * managed: 40% = 644245094 (floor of .4). framework 134217728. task heap: the rest,
 * 1610612736 - 134217728 - 161061273 - 644245094 = 671088641. */
static void default_pools(void **state)
{
    const struct weir_memory_pools *p = resolved(*state);
    assert_int_equal(p->process, 1811939328ull);
    assert_int_equal(p->overhead, 201326592ull);
    assert_int_equal(p->network, 161061273ull);
    assert_int_equal(p->managed, 644245094ull);
    assert_int_equal(p->framework, 134217728ull);
    assert_int_equal(p->task_heap, 671088641ull);
    sum_is_process(p);
}

/* P = 4g = 4294967296. overhead: 10% = 429496729, inside 192m..1g. total = 3865470567.
 * network 386547056, managed 1546188226, heap 3865470567 - 134217728 - 386547056 -
 * 1546188226 = 1798517557. */
static void pools_of_4g(void **state)
{
    wt_config_set(*state, "memory.process.size=4g");
    const struct weir_memory_pools *p = resolved(*state);
    assert_int_equal(p->overhead, 429496729ull);
    assert_int_equal(p->network, 386547056ull);
    assert_int_equal(p->managed, 1546188226ull);
    assert_int_equal(p->task_heap, 1798517557ull);
    sum_is_process(p);
}

/* Large P: overhead and network stop at their 1g maxima. P = 64g: total = 63g,
 * managed = 0.4 * 63g = 27058293964 (floor of .8), heap = 63g - 128m - 1g - managed. */
static void pools_clamp_at_the_maxima(void **state)
{
    wt_config_set(*state, "memory.process.size=64g");
    const struct weir_memory_pools *p = resolved(*state);
    assert_int_equal(p->overhead, GiB);
    assert_int_equal(p->network, GiB);
    assert_int_equal(p->managed, 27058293964ull);
    assert_int_equal(p->task_heap, 63 * GiB - 128 * MiB - GiB - 27058293964ull);
    sum_is_process(p);
}

/* Fractions are applied as the decimal written, like Flink's BigDecimal: 0.7 of 11811160060
 * is exactly 8267812042, where the double 0.7 (0.69999999999999996) gives 8267812041.
 * P = 12884901884: overhead and network are at their 1g maxima, total = 11811160060. */
static void fraction_of_a_size_is_exact_decimal(void **state)
{
    wt_config_set(*state, "memory.process.size=12884901884");
    wt_config_set(*state, "memory.managed.fraction=0.7");
    const struct weir_memory_pools *p = resolved(*state);
    assert_int_equal(p->overhead, GiB);
    assert_int_equal(p->managed, 8267812042ull);
    sum_is_process(p);
}

/* Managed set: heap = 1610612736 - 134217728 - 161061273 - 268435456 = 1046898279. */
static void explicit_managed_size(void **state)
{
    wt_config_set(*state, "memory.managed.size=256m");
    const struct weir_memory_pools *p = resolved(*state);
    assert_int_equal(p->managed, 256 * MiB);
    assert_int_equal(p->network, 161061273ull);
    assert_int_equal(p->task_heap, 1046898279ull);
    sum_is_process(p);
    char *out = print_to_string(weir_config_print_pools, *state);
    assert_non_null(strstr(out, "  managed     256.000 MiB memory.managed.size\n"));
    free(out);
}

static void explicit_managed_size_zero(void **state)
{
    wt_config_set(*state, "memory.managed.size=0");
    const struct weir_memory_pools *p = resolved(*state);
    assert_int_equal(p->managed, 0);
    assert_int_equal(p->task_heap, 1610612736ull - 134217728ull - 161061273ull);
}

/* Heap set, P default: heap is 512m and the other pools are as by default; 134217729 bytes
 * of P are left to no pool. */
static void explicit_task_heap_leaves_the_rest_unused(void **state)
{
    wt_config_set(*state, "memory.task.heap.size=512m");
    const struct weir_memory_pools *p = resolved(*state);
    assert_int_equal(p->task_heap, 512 * MiB);
    assert_int_equal(p->managed, 644245094ull);
    assert_int_equal(p->process -
                         (p->framework + p->task_heap + p->managed + p->network + p->overhead),
                     134217729ull);
    char *out = print_to_string(weir_config_print_pools, *state);
    assert_non_null(strstr(out, "  unused      128.000 MiB "));
    free(out);
}

/* Heap 512m and managed 256m set, P not: rest = 128m + 512m + 256m = 939524096;
 * total = rest / 0.9 = 1043915662, network = 10% of it = 104391566 (inside 64m..1g), so
 * total = 1043915662; P0 = total / 0.9 = 1159906291, overhead 10% = 115990629 is under 192m,
 * so 201326592; P = 1043915662 + 201326592 = 1245242254. */
static void process_size_derived_from_heap_and_managed(void **state)
{
    wt_config_set(*state, "memory.task.heap.size=512m");
    wt_config_set(*state, "memory.managed.size=256m");
    const struct weir_memory_pools *p = resolved(*state);
    assert_int_equal(p->network, 104391566ull);
    assert_int_equal(p->overhead, 201326592ull);
    assert_int_equal(p->process, 1245242254ull);
    sum_is_process(p);
    assert_int_equal(weir_config_get_size(*state, "memory.process.size"), 1245242254ull);
    assert_false(weir_config_is_set(*state, "memory.process.size"));
    char *out = print_to_string(weir_config_print_pools, *state);
    assert_non_null(
        strstr(out, "memory pools (memory.process.size = 1.160 GiB, the sum of the pools)\n"));
    free(out);
}

static void explicit_process_size_wins_over_derivation(void **state)
{
    wt_config_set(*state, "memory.task.heap.size=512m");
    wt_config_set(*state, "memory.managed.size=256m");
    wt_config_set(*state, "memory.process.size=2g");
    const struct weir_memory_pools *p = resolved(*state);
    assert_int_equal(p->process, 2 * GiB);
    assert_int_equal(p->task_heap, 512 * MiB);
}

/* P = 512m: overhead 192m, total 320m, network 64m (the minimum), managed 128m, framework
 * 128m; with the 16m minimum heap that is 528m. */
static void pools_over_process_size_are_refused(void **state)
{
    wt_config_set(*state, "memory.process.size=512m");
    resolve_refused(*state, "memory pools do not fit in memory.process.size 512m (512.000 MiB): "
                            "memory.overhead.* 192.000 MiB + memory.framework.size 128.000 MiB + "
                            "memory.network.* 64.000 MiB + memory.managed.fraction 128.000 MiB "
                            "+ memory.task.heap.size 16.000 MiB (the minimum) = 528.000 MiB");
}

static void explicit_parts_over_process_size_are_refused(void **state)
{
    wt_config_set(*state, "memory.managed.size=1g");
    wt_config_set(*state, "memory.task.heap.size=512m");
    wt_config_set(*state, "memory.process.size=1728m");
    resolve_refused(*state, "memory pools do not fit in memory.process.size 1728m (1.688 GiB): "
                            "memory.overhead.* 192.000 MiB + memory.framework.size 128.000 MiB + "
                            "memory.network.* 153.600 MiB + memory.managed.size 1.000 GiB + "
                            "memory.task.heap.size 512.000 MiB = 1.962 GiB");
}

static void overhead_larger_than_process_is_refused(void **state)
{
    wt_config_set(*state, "memory.process.size=100m");
    char err[512] = "";
    assert_int_equal(weir_config_resolve(*state, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "memory.process.size 100m (100.000 MiB)"));
    assert_non_null(strstr(err, "memory.overhead.* 192.000 MiB"));
}

static void fractions_leaving_no_heap_are_refused(void **state)
{
    wt_config_set(*state, "memory.managed.fraction=0.95");
    char err[512] = "";
    assert_int_equal(weir_config_resolve(*state, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "memory.managed.fraction 1.425 GiB"));
}

static void task_heap_below_minimum_is_refused(void **state)
{
    wt_config_set(*state, "memory.task.heap.size=1m");
    resolve_refused(*state,
                    "memory.task.heap.size 1m (1.000 MiB) is less than the minimum task heap, "
                    "16.000 MiB");
}

static void network_min_over_max_is_refused(void **state)
{
    wt_config_set(*state, "memory.network.min=2g");
    resolve_refused(*state,
                    "memory.network.min 2g (2.000 GiB) is greater than memory.network.max 1g "
                    "(1.000 GiB)");
}

static void overhead_min_over_max_is_refused(void **state)
{
    wt_config_set(*state, "taskmanager.memory.jvm-overhead.max=100m");
    resolve_refused(*state,
                    "memory.overhead.min 192m (192.000 MiB) is greater than memory.overhead.max "
                    "100m (100.000 MiB)");
}

static void process_size_over_machine_limit_is_refused(void **state)
{
    wt_config_set(*state, "memory.process.size=2g");
    weir_config_set_machine_limit_for_test(*state, GiB);
    resolve_refused(*state, "memory.process.size 2g (2.000 GiB) is more than this machine "
                            "allows, 1.000 GiB (the test limit)");
}

static void default_process_size_over_machine_limit_is_refused(void **state)
{
    weir_config_set_machine_limit_for_test(*state, GiB);
    resolve_refused(*state, "memory.process.size 1728m (1.688 GiB) is more than this machine "
                            "allows, 1.000 GiB (the test limit)");
}

static void derived_process_size_over_machine_limit_is_refused(void **state)
{
    wt_config_set(*state, "memory.task.heap.size=512m");
    wt_config_set(*state, "memory.managed.size=256m");
    weir_config_set_machine_limit_for_test(*state, GiB);
    resolve_refused(*state, "memory.process.size 1245242254 (1.160 GiB, the sum of the pools) is "
                            "more than this machine allows, 1.000 GiB (the test limit)");
}

static void process_size_at_machine_limit_is_accepted(void **state)
{
    wt_config_set(*state, "memory.process.size=2g");
    weir_config_set_machine_limit_for_test(*state, 2 * GiB);
    resolved(*state);
}

static void machine_limit_from_environment(void **state)
{
    weir_config_set_machine_limit_for_test(*state, 0); /* back to detecting */
    setenv("WEIR_TEST_MEMORY_LIMIT", "1g", 1);
    resolve_refused(*state, "memory.process.size 1728m (1.688 GiB) is more than this machine "
                            "allows, 1.000 GiB (WEIR_TEST_MEMORY_LIMIT)");
}

static void bad_machine_limit_in_environment_is_named(void **state)
{
    weir_config_set_machine_limit_for_test(*state, 0);
    setenv("WEIR_TEST_MEMORY_LIMIT", "lots", 1);
    resolve_refused(*state, "WEIR_TEST_MEMORY_LIMIT: \"lots\": expected a size like 4g");
}

static void machine_limit_is_detected(void **state)
{
    uint64_t bytes = 0;
    char from[4200] = "";
    unsetenv("WEIR_TEST_MEMORY_LIMIT");
    assert_int_equal(weir_machine_memory_limit(&bytes, from, sizeof from), 0);
    long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
    assert_true(bytes > 0);
    assert_true(bytes <= (uint64_t)pages * (uint64_t)psize);
    assert_true(strcmp(from, "physical memory") == 0 ||
                strncmp(from, "cgroup limit in /sys/fs/cgroup", 30) == 0);
}

static void parallelism_over_max_parallelism_is_refused(void **state)
{
    wt_config_set(*state, "parallelism.default=200");
    resolve_refused(*state, "parallelism.default 200 is greater than pipeline.max-parallelism "
                            "128; a keyed operator cannot have more subtasks than key groups");
}

/* network 161061273 bytes / 32m segments = 4 buffers, fewer than 8 per channel. */
static void network_pool_too_small_for_one_channel_is_refused(void **state)
{
    wt_config_set(*state, "memory.segment-size=32m");
    resolve_refused(*state, "memory.network.* 153.600 MiB holds 4 buffers of memory.segment-size "
                            "32m, fewer than one channel needs (network.buffers-per-channel 8)");
}

static void derived_sizes_are_readable_after_resolve(void **state)
{
    resolved(*state);
    assert_int_equal(weir_config_get_size(*state, "memory.task.heap.size"), 671088641ull);
    assert_int_equal(weir_config_get_size(*state, "memory.managed.size"), 644245094ull);
    assert_false(weir_config_is_set(*state, "memory.task.heap.size"));
}

static void resolve_again_derives_again(void **state)
{
    resolved(*state);
    wt_config_set(*state, "memory.process.size=4g");
    const struct weir_memory_pools *p = resolved(*state);
    /* The first resolve's derived heap and managed sizes must not be taken as given. */
    assert_int_equal(p->task_heap, 1798517557ull);
    assert_int_equal(p->managed, 1546188226ull);
}

static void pools_before_resolve(const void *c)
{
    weir_config_pools(c);
}

static void pools_before_resolve_aborts(void **state)
{
    assert_true(aborts(pools_before_resolve, *state));
    resolved(*state);
    wt_config_set(*state, "parallelism.default=2"); /* a set undoes resolve */
    assert_true(aborts(pools_before_resolve, *state));
}

static void print_pools_table(void **state)
{
    resolved(*state);
    char *out = print_to_string(weir_config_print_pools, *state);
    assert_string_equal(out, "memory pools (memory.process.size = 1.688 GiB)\n"
                             "  pool        size        key\n"
                             "  framework   128.000 MiB memory.framework.size\n"
                             "  task heap   640.000 MiB memory.task.heap.size\n"
                             "  managed     614.400 MiB memory.managed.fraction\n"
                             "  network     153.600 MiB memory.network.{fraction,min,max}\n"
                             "  overhead    192.000 MiB memory.overhead.{fraction,min,max}\n");
    free(out);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(default_pools),
        T(pools_of_4g),
        T(pools_clamp_at_the_maxima),
        T(fraction_of_a_size_is_exact_decimal),
        T(explicit_managed_size),
        T(explicit_managed_size_zero),
        T(explicit_task_heap_leaves_the_rest_unused),
        T(process_size_derived_from_heap_and_managed),
        T(explicit_process_size_wins_over_derivation),
        T(pools_over_process_size_are_refused),
        T(explicit_parts_over_process_size_are_refused),
        T(overhead_larger_than_process_is_refused),
        T(fractions_leaving_no_heap_are_refused),
        T(task_heap_below_minimum_is_refused),
        T(network_min_over_max_is_refused),
        T(overhead_min_over_max_is_refused),
        T(process_size_over_machine_limit_is_refused),
        T(default_process_size_over_machine_limit_is_refused),
        T(derived_process_size_over_machine_limit_is_refused),
        T(process_size_at_machine_limit_is_accepted),
        T(machine_limit_from_environment),
        T(bad_machine_limit_in_environment_is_named),
        T(machine_limit_is_detected),
        T(parallelism_over_max_parallelism_is_refused),
        T(network_pool_too_small_for_one_channel_is_refused),
        T(derived_sizes_are_readable_after_resolve),
        T(resolve_again_derives_again),
        T(pools_before_resolve_aborts),
        T(print_pools_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
#undef T
}
