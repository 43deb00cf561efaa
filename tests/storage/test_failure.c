/*
 * A checkpoint that cannot be written (disk full, I/O error) fails with a sticky error that
 * workers see at their next call, never gets a _metadata, has its directory removed, and
 * leaves the storage able to complete the next checkpoint. Injected errors, and a real
 * 1 MiB tmpfs when this process may mount one.
 */
#include <sys/mount.h>

#include "storage_test.h"

static int setup(void **state)
{
    struct fx *f = fx_new("failure");
    f->o.num_retained = 2;
    fx_open(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    /* A failed assertion skips the test's own umount. */
    struct fx *f = *state;
    const char *mnts[] = {"tiny"};
    for (size_t i = 0; i < sizeof mnts / sizeof mnts[0]; i++) {
        char p[800];
        snprintf(p, sizeof p, "%s/%s", f->dir, mnts[i]);
        umount2(p, MNT_DETACH);
    }
    fx_free(*state);
    return 0;
}

static const char *NAMES[] = {"a", "b"};

static void injected_enospc_fails_the_checkpoint_and_the_next_succeeds(void **state)
{
    struct fx *f = *state;
    assert_int_equal(checkpoint(f->s, 1, NAMES, 2, 2, 100000, NULL, 0), 0);

    /* The third data write of checkpoint 2 fails as on a full disk. */
    weir_storage_fail_write_for_test(f->s, 3, -ENOSPC);
    weir_ckpt *ck;
    assert_int_equal(weir_ckpt_begin(f->s, 2, NULL, &ck), 0);
    weir_ckpt_file *wf;
    assert_int_equal(weir_ckpt_file_open(ck, "a", &wf), 0);
    static uint8_t buf[64 << 10];
    int rc = 0;
    /* The worker keeps writing until it is told: at its next call after the failure. */
    for (int i = 0; i < 2000 && rc == 0; i++) {
        rc = weir_ckpt_file_write(wf, buf, sizeof buf);
        if (rc == 0)
            usleep(1000);
    }
    assert_int_equal(rc, -ENOSPC);
    assert_int_equal(weir_ckpt_file_section_begin(wf, 1), -ENOSPC);
    assert_int_equal(weir_ckpt_file_submit(wf), -ENOSPC);
    assert_int_equal(weir_ckpt_file_open(ck, "b", &wf), -ENOSPC);
    struct weir_ckpt_meta m = {0};
    assert_int_equal(weir_ckpt_commit(ck, &m), -ENOSPC);
    assert_int_equal(weir_ckpt_wait(ck, 30000), -ENOSPC);
    assert_int_equal(weir_ckpt_state(ck), WEIR_CKPT_FAILED);
    char want[700];
    snprintf(want, sizeof want,
             "state.checkpoints.dir: %s/job/chk-2/a: write: No space left "
             "on device",
             f->dir);
    assert_string_equal(weir_ckpt_error(ck), want);
    weir_ckpt_release(ck);
    assert_false(path_exists("%s/job/chk-2", f->dir));

    assert_int_equal(checkpoint(f->s, 3, NAMES, 2, 2, 100000, NULL, 0), 0);
    weir_restore *r;
    assert_int_equal(weir_restore_open_latest(f->s, 0, &r), 0);
    assert_int_equal(weir_restore_meta(r)->checkpoint_id, 3);
    check_state(r, "a", 2, 100000, 300);
    weir_restore_close(r);
    struct weir_storage_stats st;
    weir_storage_stats_get(f->s, &st);
    assert_int_equal(st.checkpoints_failed, 1);
    assert_int_equal(st.checkpoints_completed, 2);
    assert_int_equal(st.buffers_in_use, 0);
}

static void injected_fsync_eio_fails_the_checkpoint(void **state)
{
    struct fx *f = *state;
    weir_storage_fail_fsync_for_test(f->s, -EIO);
    assert_int_equal(checkpoint(f->s, 1, NAMES, 2, 1, 1000, NULL, 0), -EIO);
    assert_false(path_exists("%s/job/chk-1", f->dir));
    assert_int_equal(checkpoint(f->s, 2, NAMES, 2, 1, 1000, NULL, 0), 0);
    weir_restore *r;
    assert_int_equal(weir_restore_open_latest(f->s, 0, &r), 0);
    assert_int_equal(weir_restore_meta(r)->checkpoint_id, 2);
    weir_restore_close(r);
}

/* A write that fails in the last (tail) buffer, after every full one succeeded. */
static void failure_in_the_tail_write(void **state)
{
    struct fx *f = *state;
    weir_storage_fail_write_for_test(f->s, 1, -EIO);
    const char *one[] = {"a"};
    assert_int_equal(checkpoint(f->s, 1, one, 1, 1, 100, NULL, 0), -EIO);
    assert_false(path_exists("%s/job/chk-1", f->dir));
}

/* The worker's snapshot failed (a backend error): it gives the file up. */
static void file_abort_fails_the_checkpoint(void **state)
{
    struct fx *f = *state;
    weir_ckpt *ck;
    weir_ckpt_file *wf;
    assert_int_equal(weir_ckpt_begin(f->s, 1, NULL, &ck), 0);
    assert_int_equal(write_state(ck, "b", 1, 100000, 1), 0);
    assert_int_equal(weir_ckpt_file_open(ck, "a", &wf), 0);
    assert_int_equal(weir_ckpt_file_write(wf, "xyz", 3), 0);
    weir_ckpt_file_abort(wf, -ENOMEM);
    assert_int_equal(weir_ckpt_wait(ck, 30000), -ENOMEM);
    assert_non_null(strstr(weir_ckpt_error(ck), "chk-1/a: snapshot abandoned"));
    weir_ckpt_release(ck);
    assert_false(path_exists("%s/job/chk-1", f->dir));
}

/* The real thing: a 1 MiB tmpfs. A 2 MiB checkpoint does not fit; the one after does. */
static void real_full_tmpfs(void **state)
{
    struct fx *f = *state;
    char mnt[600];
    snprintf(mnt, sizeof mnt, "%s/tiny", f->dir);
    assert_int_equal(mkdir(mnt, 0755), 0);
    if (mount("tmpfs", mnt, "tmpfs", 0, "size=1m,mode=0700") != 0) {
        fprintf(stderr, "skip: cannot mount a tmpfs here: %s\n", strerror(errno));
        skip();
    }
    struct fx g = {.dir = mnt};
    pthread_mutex_init(&g.log.mu, NULL);
    g.o = f->o;
    fx_open(&g);
    const char *one[] = {"big"};
    int rc = checkpoint(g.s, 1, one, 1, 1, 2 << 20, NULL, 0);
    assert_int_equal(rc, -ENOSPC);
    assert_false(path_exists("%s/job/chk-1", mnt));
    assert_int_equal(checkpoint(g.s, 2, one, 1, 4, 50000, NULL, 0), 0);
    weir_restore *r;
    assert_int_equal(weir_restore_open_latest(g.s, 0, &r), 0);
    assert_int_equal(weir_restore_meta(r)->checkpoint_id, 2);
    check_state(r, "big", 4, 50000, 200);
    weir_restore_close(r);
    weir_storage_close(g.s);
    assert_int_equal(umount(mnt), 0);
}

int main(void)
{
    require_io_uring();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(injected_enospc_fails_the_checkpoint_and_the_next_succeeds,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(injected_fsync_eio_fails_the_checkpoint, setup, teardown),
        cmocka_unit_test_setup_teardown(failure_in_the_tail_write, setup, teardown),
        cmocka_unit_test_setup_teardown(file_abort_fails_the_checkpoint, setup, teardown),
        cmocka_unit_test_setup_teardown(real_full_tmpfs, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
