/*
 * A checkpoint's requests to the io thread (begin, commit, abort) are fields of the
 * checkpoint itself. A checkpoint can settle (and its owner release it) while one of them
 * still waits in the io thread's queue, here an abort queued behind another checkpoint's
 * writes at queue depth 1: the queued request must keep the checkpoint alive until the io
 * thread has taken it. Before that, ASan saw a heap-use-after-free in the io thread's loop
 * (first met as a rare failure of core_test_restart).
 */
#include "storage_test.h"

static int setup(void **state)
{
    struct fx *f = fx_new("abort-queue");
    f->o.buffer_size = 1 << 20;
    f->o.pool_bytes = 32 << 20;
    f->o.queue_depth = 1; /* one write in flight: what follows a write waits behind it */
    fx_open(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_free(*state);
    return 0;
}

static void released_checkpoint_outlives_its_queued_abort(void **state)
{
    struct fx *f = *state;
    for (uint64_t round = 0; round < 8; round++) {
        weir_ckpt *a, *b;
        weir_storage_stall_for_test(f->s, true);
        assert_int_equal(weir_ckpt_begin(f->s, 2 * round + 1, NULL, &a), 0);
        assert_int_equal(weir_ckpt_begin(f->s, 2 * round + 2, NULL, &b), 0);
        assert_int_equal(write_state(b, "big", 16, 1 << 20, round), 0);
        /* a fails now; its begin settles it, its abort request queues behind b's writes */
        assert_int_equal(weir_ckpt_abort(a, -ECANCELED), 0);
        weir_storage_stall_for_test(f->s, false);
        assert_int_equal(weir_ckpt_wait(a, 60000), -ECANCELED);
        weir_ckpt_release(a); /* the owner is done with a; the io thread is not */

        struct weir_ckpt_entry e = {.operator_uid = "op", .file = "big", .parallelism = 1};
        struct weir_ckpt_meta m = {.entry_count = 1, .entries = &e};
        assert_int_equal(weir_ckpt_commit(b, &m), 0);
        assert_int_equal(weir_ckpt_wait(b, 60000), 0);
        weir_ckpt_release(b);
    }
    struct weir_storage_stats st;
    weir_storage_stats_get(f->s, &st);
    assert_int_equal(st.buffers_in_use, 0);
}

int main(void)
{
    require_io_uring();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(released_checkpoint_outlives_its_queued_abort, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
