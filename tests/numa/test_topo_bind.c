/*
 * Pinning worker threads on this machine. Each test pins a thread of its own,
 * so the test program's main thread keeps the affinity it started with.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "weir/numa.h"

struct bind_result {
    const weir_topo *t;
    const weir_worker_slot *slot;
    int rc;
    cpu_set_t before;
    cpu_set_t after;
    int cpu_after; /* sched_getcpu() once bound */
};

static void *bind_in_thread(void *arg)
{
    struct bind_result *r = arg;
    sched_getaffinity(0, sizeof r->before, &r->before);
    r->rc = weir_topo_bind_thread(r->t, r->slot);
    sched_getaffinity(0, sizeof r->after, &r->after);
    r->cpu_after = sched_getcpu();
    return NULL;
}

static void run_bind(struct bind_result *r)
{
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, bind_in_thread, r), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
}

static void one_worker_bound_runs_only_on_its_cpu(void **state)
{
    weir_topo *t = NULL;
    assert_int_equal(weir_topo_load(&t), 0);
    weir_worker_slot s[1];
    assert_int_equal(weir_topo_place(t, 1, NULL, s, NULL, 0), 0);

    struct bind_result r = {.t = t, .slot = &s[0]};
    run_bind(&r);
    assert_int_equal(r.rc, 0);
    assert_int_equal(CPU_COUNT(&r.after), 1);
    assert_true(CPU_ISSET(s[0].pu_os_index, &r.after));
    assert_int_equal(r.cpu_after, s[0].pu_os_index);
    weir_topo_free(t);
}

static void every_worker_bound_runs_on_its_own_cpu(void **state)
{
    weir_topo *t = NULL;
    assert_int_equal(weir_topo_load(&t), 0);
    int n = weir_topo_num_cores(t);
    weir_worker_slot s[CPU_SETSIZE];
    assert_true(n <= CPU_SETSIZE);
    assert_int_equal(weir_topo_place(t, n, NULL, s, NULL, 0), 0);
    for (int w = 0; w < n; w++) {
        struct bind_result r = {.t = t, .slot = &s[w]};
        run_bind(&r);
        assert_int_equal(r.rc, 0);
        assert_int_equal(CPU_COUNT(&r.after), 1);
        assert_true(CPU_ISSET(s[w].pu_os_index, &r.after));
        assert_int_equal(r.cpu_after, s[w].pu_os_index);
    }
    weir_topo_free(t);
}

static void binding_on_synthetic_topology_leaves_affinity_alone(void **state)
{
    weir_topo *t = NULL;
    assert_int_equal(weir_topo_load_synthetic("pack:2 numa:2 core:4 pu:2", &t), 0);
    weir_worker_slot s[16];
    assert_int_equal(weir_topo_place(t, 16, NULL, s, NULL, 0), 0);
    struct bind_result r = {.t = t, .slot = &s[15]};
    run_bind(&r);
    assert_int_equal(r.rc, 0);
    assert_true(CPU_EQUAL(&r.before, &r.after));
    weir_topo_free(t);
}

static void binding_to_a_cpu_not_in_the_topology_is_einval(void **state)
{
    weir_topo *t = NULL;
    assert_int_equal(weir_topo_load(&t), 0);
    weir_worker_slot bad = {.worker = 0, .core = 0, .pu_os_index = 100000};
    struct bind_result r = {.t = t, .slot = &bad};
    run_bind(&r);
    assert_int_equal(r.rc, -EINVAL);
    assert_true(CPU_EQUAL(&r.before, &r.after));
    assert_int_equal(weir_topo_bind_thread(t, NULL), -EINVAL);
    assert_int_equal(weir_topo_bind_thread(NULL, &bad), -EINVAL);
    weir_topo_free(t);
}

/* Under `taskset -c LAST` (the process's CPU mask narrowed to the last CPU it may use) one
 * worker is placed on LAST, and more than the mask grants is refused: hwloc's allowed set
 * alone (cgroups) put the worker on cpu 0. The main thread's mask is restored after. */
static void process_cpu_mask_limits_placement(void **state)
{
    cpu_set_t before, one;
    assert_int_equal(sched_getaffinity(getpid(), sizeof before, &before), 0);
    int last = -1;
    for (int c = 0; c < CPU_SETSIZE; c++)
        if (CPU_ISSET(c, &before))
            last = c;
    if (CPU_COUNT(&before) < 2)
        skip(); /* one CPU: no narrower mask to show */
    CPU_ZERO(&one);
    CPU_SET(last, &one);
    assert_int_equal(sched_setaffinity(getpid(), sizeof one, &one), 0);
    weir_topo *t = NULL;
    int rc = weir_topo_load(&t);
    assert_int_equal(sched_setaffinity(getpid(), sizeof before, &before), 0);
    assert_int_equal(rc, 0);
    weir_worker_slot s[2];
    char err[256] = "";
    assert_int_equal(weir_topo_place(t, 1, NULL, s, err, sizeof err), 0);
    assert_int_equal(s[0].pu_os_index, last);
    assert_int_equal(weir_topo_place(t, 2, NULL, s, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "only 1 core"));
    weir_topo_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(one_worker_bound_runs_only_on_its_cpu),
        cmocka_unit_test(every_worker_bound_runs_on_its_own_cpu),
        cmocka_unit_test(binding_on_synthetic_topology_leaves_affinity_alone),
        cmocka_unit_test(binding_to_a_cpu_not_in_the_topology_is_einval),
        cmocka_unit_test(process_cpu_mask_limits_placement),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
