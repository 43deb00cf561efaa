/*
 * _metadata is the commit point: a checkpoint whose process died before it (files durable,
 * no _metadata) is never complete; the newest complete checkpoint is found at the next
 * start; commit waits for files still being written; abort and close clean up.
 */
#include <signal.h>
#include <sys/wait.h>

#include "storage_test.h"

#include "storage_impl.h" /* storage_sync_commit_for_test */

static int setup(void **state)
{
    *state = fx_new("commit");
    return 0;
}

static int teardown(void **state)
{
    fx_free(*state);
    return 0;
}

/* In a child process: checkpoint id's files are written and durable, then the process dies
 * before the commit, as a crash would leave it. */
static void crash_before_commit(struct fx *f, uint64_t id)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        weir_storage *s;
        char err[256];
        struct weir_storage_opts o = f->o;
        o.dir = f->dir;
        o.log = NULL;
        if (weir_storage_open(&o, &s, err, sizeof err) < 0)
            _exit(2);
        weir_ckpt *ck;
        if (weir_ckpt_begin(s, id, NULL, &ck) < 0 || write_state(ck, "a", 2, 1000, 1) < 0)
            _exit(3);
        struct weir_ckpt_progress p;
        for (int i = 0; i < 10000; i++) {
            weir_ckpt_progress_get(ck, &p);
            if (p.files_durable == 1)
                _exit(0); /* no commit, no close: the process is gone */
            usleep(1000);
        }
        _exit(4);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

static void no_metadata_means_not_complete(void **state)
{
    struct fx *f = *state;
    f->o.job = "crash";
    crash_before_commit(f, 1);
    assert_true(path_exists("%s/crash/chk-1/a", f->dir));
    assert_false(path_exists("%s/crash/chk-1/_metadata", f->dir));

    fx_open(f);
    weir_restore *r;
    assert_int_equal(weir_restore_open_latest(f->s, 0, &r), -ENOENT);
    assert_true(log_has(&f->log, "checkpoint chk-1 is incomplete (no _metadata): no earlier "
                                 "complete checkpoint"));
    /* The next id skips the leftover directory. */
    assert_int_equal(weir_storage_next_id(f->s), 2);
}

static void latest_complete_checkpoint_is_found(void **state)
{
    struct fx *f = *state;
    const char *names[] = {"a", "b"};
    fx_open(f);
    for (uint64_t id = 1; id <= 3; id++)
        assert_int_equal(checkpoint(f->s, id, names, 2, 3, 20000, NULL, 0), 0);
    fx_close(f);
    crash_before_commit(f, 4);

    fx_open(f);
    assert_int_equal(weir_storage_next_id(f->s), 5);
    weir_restore *r;
    assert_int_equal(weir_restore_open_latest(f->s, 0, &r), 0);
    assert_int_equal(weir_restore_meta(r)->checkpoint_id, 3);
    check_state(r, "a", 3, 20000, 300);
    check_state(r, "b", 3, 20000, 301);
    char want[600];
    snprintf(want, sizeof want, "%s/job/chk-3", f->dir);
    assert_string_equal(weir_restore_dir(r), want);
    weir_restore_close(r);
    assert_true(log_has(&f->log, "checkpoint chk-4 is incomplete (no _metadata): using chk-3"));

    /* A retained id cannot be begun again; the leftover chk-4 can, and is replaced. */
    weir_ckpt *ck;
    assert_int_equal(weir_ckpt_begin(f->s, 3, NULL, &ck), -EEXIST);
    assert_int_equal(checkpoint(f->s, 4, names, 2, 1, 10, NULL, 0), 0);
    assert_int_equal(weir_restore_open_latest(f->s, 0, &r), 0);
    assert_int_equal(weir_restore_meta(r)->checkpoint_id, 4);
    check_state(r, "a", 1, 10, 400);
    weir_restore_close(r);
}

/* commit is asked for while the io thread has not even seen the files: it is complete only
 * once they are durable, and _metadata appears only then. */
static void commit_waits_for_files(void **state)
{
    struct fx *f = *state;
    fx_open(f);
    weir_ckpt *ck;
    weir_storage_stall_for_test(f->s, true);
    assert_int_equal(weir_ckpt_begin(f->s, 1, NULL, &ck), 0);
    assert_int_equal(write_state(ck, "a", 4, 100000, 1), 0);
    struct weir_ckpt_entry e = {.operator_uid = "op", .file = "a", .parallelism = 1};
    struct weir_ckpt_meta m = {.entry_count = 1, .entries = &e};
    assert_int_equal(weir_ckpt_commit(ck, &m), 0);
    assert_int_equal(weir_ckpt_state(ck), WEIR_CKPT_COMMITTING);
    assert_int_equal(weir_ckpt_wait(ck, 200), -ETIMEDOUT);
    assert_false(path_exists("%s/job/chk-1/_metadata", f->dir));
    /* Too late to add files. */
    weir_ckpt_file *wf;
    assert_int_equal(weir_ckpt_file_open(ck, "late", &wf), -EBUSY);
    weir_storage_stall_for_test(f->s, false);
    assert_int_equal(weir_ckpt_wait(ck, 30000), 0);
    assert_true(path_exists("%s/job/chk-1/_metadata", f->dir));
    assert_int_equal(weir_ckpt_abort(ck, -ETIMEDOUT), -EALREADY);
    weir_ckpt_release(ck);
}

static void abort_removes_the_directory(void **state)
{
    struct fx *f = *state;
    fx_open(f);
    weir_ckpt *ck;
    assert_int_equal(weir_ckpt_begin(f->s, 5, NULL, &ck), 0);
    weir_ckpt_file *wf;
    assert_int_equal(weir_ckpt_file_open(ck, "a", &wf), 0);
    uint8_t buf[200000] = {1};
    assert_int_equal(weir_ckpt_file_write(wf, buf, sizeof buf), 0);
    assert_int_equal(weir_ckpt_abort(ck, -ETIMEDOUT), 0);
    assert_int_equal(weir_ckpt_abort(ck, -ETIMEDOUT), -EALREADY);
    /* The worker learns it at its next call, and gives the file back. */
    assert_int_equal(weir_ckpt_file_write(wf, buf, sizeof buf), -ETIMEDOUT);
    assert_int_equal(weir_ckpt_file_submit(wf), -ETIMEDOUT);
    assert_int_equal(weir_ckpt_wait(ck, 30000), -ETIMEDOUT);
    assert_int_equal(weir_ckpt_state(ck), WEIR_CKPT_FAILED);
    assert_non_null(strstr(weir_ckpt_error(ck), "aborted"));
    struct weir_ckpt_meta m = {0};
    assert_int_equal(weir_ckpt_commit(ck, &m), -ETIMEDOUT);
    weir_ckpt_release(ck);
    assert_false(path_exists("%s/job/chk-5", f->dir));
    struct weir_storage_stats st;
    weir_storage_stats_get(f->s, &st);
    assert_int_equal(st.checkpoints_failed, 1);
    /* The file's last buffer comes back when the io thread takes the submit, which may be
     * after the checkpoint settled. */
    for (int i = 0; i < 5000 && st.buffers_in_use; i++) {
        usleep(1000);
        weir_storage_stats_get(f->s, &st);
    }
    assert_int_equal(st.buffers_in_use, 0);
}

/* Close with a checkpoint that was never committed: it fails and its directory goes. */
static void close_cancels_what_cannot_finish(void **state)
{
    struct fx *f = *state;
    fx_open(f);
    weir_ckpt *ck;
    assert_int_equal(weir_ckpt_begin(f->s, 2, NULL, &ck), 0);
    assert_int_equal(write_state(ck, "a", 1, 1000, 1), 0);
    weir_ckpt_release(ck);
    fx_close(f);
    assert_false(path_exists("%s/job/chk-2", f->dir));
    assert_true(path_exists("%s/job/shared", f->dir));
}

/* Kernels before 5.11 have no IORING_OP_RENAMEAT: the io thread makes the same four steps
 * with plain system calls, with the same outcome. */
static void commit_without_renameat(void **state)
{
    struct fx *f = *state;
    fx_open(f);
    storage_sync_commit_for_test(f->s);
    const char *names[] = {"a"};
    assert_int_equal(checkpoint(f->s, 1, names, 1, 2, 5000, NULL, 0), 0);
    assert_true(path_exists("%s/job/chk-1/_metadata", f->dir));
    assert_false(path_exists("%s/job/chk-1/_metadata.tmp", f->dir));
    weir_restore *r;
    assert_int_equal(weir_restore_open_latest(f->s, 0, &r), 0);
    check_state(r, "a", 2, 5000, 100);
    weir_restore_close(r);
}

int main(void)
{
    require_io_uring();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(no_metadata_means_not_complete, setup, teardown),
        cmocka_unit_test_setup_teardown(latest_complete_checkpoint_is_found, setup, teardown),
        cmocka_unit_test_setup_teardown(commit_waits_for_files, setup, teardown),
        cmocka_unit_test_setup_teardown(abort_removes_the_directory, setup, teardown),
        cmocka_unit_test_setup_teardown(close_cancels_what_cannot_finish, setup, teardown),
        cmocka_unit_test_setup_teardown(commit_without_renameat, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
