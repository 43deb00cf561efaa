/*
 * A savepoint's target gets the checks the checkpoint directory has (core/src/util/privdir.c):
 * state.savepoints.dir (the savepoint path's parent) and the savepoint directory are refused
 * when they are symbolic links or writable by others, with one line naming the key and the
 * path; what weir creates of them is private (0700). Before, the savepoint was written
 * wherever a link another local user planted pointed, and into directories anyone could
 * write.
 */
#include "storage_test.h"

static struct fx *f;

static int setup(void **state)
{
    f = fx_new("sp-private");
    fx_open(f);
    return 0;
}

static int teardown(void **state)
{
    fx_free(f);
    return 0;
}

/* A one-file savepoint at path; 0 or its error, with the line in err. */
static int savepoint_at(const char *path, char *err, size_t errlen)
{
    weir_ckpt *ck;
    int rc = weir_savepoint_begin(f->s, path, 5, NULL, &ck);
    if (rc < 0)
        return rc;
    int wrc = write_state(ck, "op-0", 1, 1000, 1);
    struct weir_ckpt_entry e = {.operator_uid = "op",
                                .parallelism = 1,
                                .kg_first = WEIR_KG_NONE,
                                .kg_last = WEIR_KG_NONE,
                                .file = "op-0"};
    struct weir_ckpt_meta m = {.entry_count = 1, .entries = &e, .max_parallelism = 128};
    if (wrc == 0)
        wrc = weir_ckpt_commit(ck, &m);
    rc = weir_ckpt_wait(ck, 30000);
    snprintf(err, errlen, "%s", weir_ckpt_error(ck));
    weir_ckpt_release(ck);
    return rc;
}

static void expect_refused(const char *path, const char *shown, const char *why)
{
    char err[1024];
    int rc = savepoint_at(path, err, sizeof err);
    if (rc == 0)
        fail_msg("a savepoint at %s was written (%s)", path, why);
    if (!strstr(err, "state.savepoints.dir") || !strstr(err, shown) || strchr(err, '\n'))
        fail_msg("the refusal does not name state.savepoints.dir and %s: %s", shown, err);
    assert_false(path_exists("%s/_metadata", path));
}

static void a_savepoint_dir_that_is_a_link_is_refused(void **state)
{
    const char *real = wt_tmp_dir("sp-real"), *top = wt_tmp_dir("sp-top");
    char link[4096], path[4200];
    snprintf(link, sizeof link, "%s/savepoints", top);
    assert_int_equal(symlink(real, link), 0);
    snprintf(path, sizeof path, "%s/savepoint-1", link);
    expect_refused(path, link, "state.savepoints.dir is a link");
    assert_false(path_exists("%s/savepoint-1", real));
}

static void a_savepoint_target_that_is_a_link_is_refused(void **state)
{
    const char *real = wt_tmp_dir("sp-real2"), *top = wt_tmp_dir("sp-top2");
    char path[4200];
    snprintf(path, sizeof path, "%s/savepoint-1", top);
    assert_int_equal(symlink(real, path), 0);
    expect_refused(path, path, "the savepoint directory is a link");
    assert_false(path_exists("%s/_metadata", real));
}

static void a_savepoints_dir_writable_by_others_is_refused(void **state)
{
    const char *top = wt_tmp_dir("sp-open");
    char dir[4096], path[4200];
    snprintf(dir, sizeof dir, "%s/savepoints", top);
    assert_int_equal(mkdir(dir, 0700), 0);
    assert_int_equal(chmod(dir, 0777), 0);
    snprintf(path, sizeof path, "%s/savepoint-1", dir);
    expect_refused(path, dir, "state.savepoints.dir is writable by others");
}

static void what_weir_creates_of_the_target_is_private(void **state)
{
    const char *top = wt_tmp_dir("sp-made");
    char path[4200], err[1024];
    snprintf(path, sizeof path, "%s/a/b/savepoint-1", top);
    if (savepoint_at(path, err, sizeof err) != 0)
        fail_msg("%s", err);
    const char *dirs[] = {"a", "a/b", "a/b/savepoint-1"};
    for (int i = 0; i < 3; i++) {
        char p[4300];
        struct stat st;
        snprintf(p, sizeof p, "%s/%s", top, dirs[i]);
        assert_int_equal(lstat(p, &st), 0);
        if ((st.st_mode & 0777) != 0700)
            fail_msg("%s: mode %o, not 0700", p, st.st_mode & 0777);
    }
}

int main(void)
{
    require_io_uring();
    umask(022);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_savepoint_dir_that_is_a_link_is_refused),
        cmocka_unit_test(a_savepoint_target_that_is_a_link_is_refused),
        cmocka_unit_test(a_savepoints_dir_writable_by_others_is_refused),
        cmocka_unit_test(what_weir_creates_of_the_target_is_private),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
