/*
 * The worker's side of a snapshot is a copy into pool buffers: it finishes while the io
 * thread is stalled (as when the disk hangs), and the bytes reach the disk afterwards. A
 * worker waits only when the pool is exhausted, and that wait is counted.
 */
#include "storage_test.h"

static int setup(void **state)
{
    struct fx *f = fx_new("nonblocking");
    f->o.buffer_size = 1 << 20;
    f->o.pool_bytes = 32 << 20;
    fx_open(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_free(*state);
    return 0;
}

static void worker_finishes_while_the_io_thread_is_stalled(void **state)
{
    struct fx *f = *state;
    weir_storage_stall_for_test(f->s, true);
    weir_ckpt *ck;
    assert_int_equal(weir_ckpt_begin(f->s, 1, NULL, &ck), 0);

    /* 16 MiB in 1 MiB sections, through the snapshot sink, then submit: all of it returns
     * although nothing can be written (not even the directory exists yet). */
    double t0 = now_s();
    assert_int_equal(write_state(ck, "big", 16, 1 << 20, 1), 0);
    double worker_s = now_s() - t0;
    fprintf(stderr, "worker side of 16 MiB: %.1f ms\n", worker_s * 1e3);
    assert_true(worker_s < 5.0); /* a copy; a wait for the disk would be forever */

    assert_false(path_exists("%s/job/chk-1", f->dir));
    struct weir_ckpt_progress p;
    weir_ckpt_progress_get(ck, &p);
    assert_int_equal(p.files_opened, 1);
    assert_int_equal(p.files_durable, 0);
    struct weir_storage_stats st;
    weir_storage_stats_get(f->s, &st);
    assert_int_equal(st.pool_waits, 0);
    assert_int_equal(st.bytes_written, 0);

    weir_storage_stall_for_test(f->s, false);
    struct weir_ckpt_entry e = {.operator_uid = "op", .file = "big", .parallelism = 1};
    struct weir_ckpt_meta m = {.entry_count = 1, .entries = &e};
    assert_int_equal(weir_ckpt_commit(ck, &m), 0);
    assert_int_equal(weir_ckpt_wait(ck, 60000), 0);
    weir_ckpt_release(ck);
    weir_restore *r;
    assert_int_equal(weir_restore_open_latest(f->s, 0, &r), 0);
    check_state(r, "big", 16, 1 << 20, 1);
    weir_restore_close(r);
    weir_storage_stats_get(f->s, &st);
    assert_int_equal(st.buffers_in_use, 0);
    assert_true(st.bytes_written >= 16u << 20);
}

struct unstaller {
    weir_storage *s;
    int delay_ms;
};

/* Once the worker is waiting for a buffer, keep the io thread stalled delay_ms longer. */
static void *unstall_later(void *arg)
{
    struct unstaller *u = arg;
    struct weir_storage_stats st;
    do {
        usleep(1000);
        weir_storage_stats_get(u->s, &st);
    } while (st.pool_waits == 0);
    usleep((useconds_t)u->delay_ms * 1000);
    weir_storage_stall_for_test(u->s, false);
    return NULL;
}

/* 40 MiB through a 32 MiB pool while stalled: the worker waits for buffers (counted), and
 * goes on as soon as the io thread frees some. */
static void exhausted_pool_is_the_only_wait_and_is_counted(void **state)
{
    struct fx *f = *state;
    weir_storage_stall_for_test(f->s, true);
    weir_ckpt *ck;
    assert_int_equal(weir_ckpt_begin(f->s, 1, NULL, &ck), 0);
    pthread_t t;
    struct unstaller u = {f->s, 400};
    static uint8_t chunk[1 << 20];
    weir_ckpt_file *wf;
    assert_int_equal(pthread_create(&t, NULL, unstall_later, &u), 0);
    double t0 = now_s();
    assert_int_equal(weir_ckpt_file_open(ck, "big", &wf), 0);
    for (int i = 0; i < 40; i++)
        assert_int_equal(weir_ckpt_file_write(wf, chunk, sizeof chunk), 0);
    assert_int_equal(weir_ckpt_file_submit(wf), 0);
    double waited = now_s() - t0;
    pthread_join(t, NULL);
    assert_true(waited >= 0.35);
    struct weir_storage_stats st;
    weir_storage_stats_get(f->s, &st);
    fprintf(stderr, "worker waited %.0f ms for buffers, %" PRIu64 " times\n",
            (double)st.pool_wait_ns / 1e6, st.pool_waits);
    assert_true(st.pool_waits >= 1);
    assert_true(st.pool_wait_ns >= 300000000ull);
    assert_true(st.buffers_allocated <= 32);
    struct weir_ckpt_entry e = {.operator_uid = "op", .file = "big", .parallelism = 1};
    struct weir_ckpt_meta m = {.entry_count = 1, .entries = &e};
    assert_int_equal(weir_ckpt_commit(ck, &m), 0);
    assert_int_equal(weir_ckpt_wait(ck, 60000), 0);
    weir_ckpt_release(ck);
}

/* Four workers write their files of the same checkpoint at once. */
struct worker {
    weir_ckpt *ck;
    int idx, rc;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    char name[16];
    snprintf(name, sizeof name, "w-%d", w->idx);
    w->rc = write_state(w->ck, name, 8, 300000, (uint64_t)w->idx * 10);
    return NULL;
}

static void concurrent_workers(void **state)
{
    struct fx *f = *state;
    weir_ckpt *ck;
    assert_int_equal(weir_ckpt_begin(f->s, 1, NULL, &ck), 0);
    pthread_t t[4];
    struct worker w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (struct worker){ck, i, 0};
        assert_int_equal(pthread_create(&t[i], NULL, worker_main, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(w[i].rc, 0);
    }
    struct weir_ckpt_entry e[4];
    char names[4][16];
    for (int i = 0; i < 4; i++) {
        snprintf(names[i], sizeof names[i], "w-%d", i);
        e[i] = (struct weir_ckpt_entry){
            .operator_uid = "op", .subtask = (uint32_t)i, .parallelism = 4, .file = names[i]};
    }
    struct weir_ckpt_meta m = {.entry_count = 4, .entries = e};
    assert_int_equal(weir_ckpt_commit(ck, &m), 0);
    assert_int_equal(weir_ckpt_wait(ck, 60000), 0);
    weir_ckpt_release(ck);
    weir_restore *r;
    assert_int_equal(weir_restore_open_latest(f->s, 0, &r), 0);
    for (int i = 0; i < 4; i++)
        check_state(r, names[i], 8, 300000, (uint64_t)i * 10);
    weir_restore_close(r);
}

int main(void)
{
    require_io_uring();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(worker_finishes_while_the_io_thread_is_stalled, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(exhausted_pool_is_the_only_wait_and_is_counted, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(concurrent_workers, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
