/*
 * One storage per job checkpoint directory: a second open of the same <dir>/<job> is refused
 * with -EBUSY and the holder's pid, while another job in the same directory opens, and the
 * directory is free again once the first storage closes.
 */
#include "storage_test.h"

static int open_job(const char *dir, const char *job, weir_storage **s, char *err, size_t len)
{
    struct weir_storage_opts o = {.dir = dir, .job = job, .pool_bytes = 4 << 20};
    return weir_storage_open(&o, s, err, len);
}

static void a_second_open_of_a_job_dir_is_refused_with_the_holders_pid(void **state)
{
    const char *tmp = wt_tmp_dir("storage-lock");
    char err[512] = "", want[1200];
    weir_storage *a, *b = NULL, *other;
    if (open_job(tmp, "job", &a, err, sizeof err) < 0)
        fail_msg("%s", err);
    assert_int_equal(open_job(tmp, "job", &b, err, sizeof err), -EBUSY);
    assert_null(b);
    snprintf(want, sizeof want,
             "state.checkpoints.dir: %s/job: in use by another weir process (pid %ld)", tmp,
             (long)getpid());
    assert_memory_equal(err, want, strlen(want));

    if (open_job(tmp, "other-job", &other, err, sizeof err) < 0)
        fail_msg("%s", err);
    weir_storage_close(other);

    weir_storage_close(a);
    if (open_job(tmp, "job", &b, err, sizeof err) < 0)
        fail_msg("%s", err);
    weir_storage_close(b);
    wt_rm_tree(tmp);
}

int main(void)
{
    require_io_uring();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_second_open_of_a_job_dir_is_refused_with_the_holders_pid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
