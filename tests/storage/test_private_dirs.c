/*
 * Checkpoint directories are the running user's own: the per-user default, refusals of a
 * directory planted as a symbolic link, owned by someone else or writable by others (each
 * one line naming the key and the path, the link's target untouched), deletion that never
 * follows a link, and modes 0600/0700 whatever the umask.
 */
#include <sys/types.h>

#include <weir/config.h>
#include <weir/privdir.h>

#include "storage_test.h"

static int try_open(const char *dir, const char *job, weir_storage **s, char *err, size_t len)
{
    struct weir_storage_opts o = {.dir = dir, .job = job, .pool_bytes = 4 << 20};
    *s = NULL;
    return weir_storage_open(&o, s, err, len);
}

static void write_file(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

/* An outside directory with one file, whose survival the tests check. */
static char *outside_with_file(const char *tmp, char *file, size_t len)
{
    static char dir[900];
    snprintf(dir, sizeof dir, "%s/outside", tmp);
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(file, len, "%s/precious", dir);
    write_file(file, "keep me");
    return dir;
}

static void default_is_the_users_state_dir(void **state)
{
    const char *tmp = wt_tmp_dir("privdir-default");
    char want[1200], err[512];
    setenv("XDG_STATE_HOME", tmp, 1);
    weir_config *c = wt_config(NULL);
    weir_storage *s;
    if (weir_storage_open_config(c, "wordcount", &s, err, sizeof err) < 0)
        fail_msg("%s", err);
    snprintf(want, sizeof want, "%s/weir/checkpoints/wordcount", tmp);
    assert_string_equal(weir_storage_job_dir(s), want);
    weir_storage_close(s);
    struct stat st;
    snprintf(want, sizeof want, "%s/weir/checkpoints", tmp);
    assert_int_equal(stat(want, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0700);

    /* Without XDG_STATE_HOME: $HOME/.local/state; without either: <TMPDIR>/weir-<uid>. */
    unsetenv("XDG_STATE_HOME");
    setenv("HOME", tmp, 1);
    assert_int_equal(privdir_default("state.checkpoints.dir", want, sizeof want), 0);
    char exp[1200];
    snprintf(exp, sizeof exp, "%s/.local/state/weir/checkpoints", tmp);
    assert_string_equal(want, exp);
    unsetenv("HOME");
    setenv("TMPDIR", tmp, 1);
    assert_int_equal(privdir_default("state.checkpoints.dir", want, sizeof want), 0);
    snprintf(exp, sizeof exp, "%s/weir-%u/checkpoints", tmp, (unsigned)geteuid());
    assert_string_equal(want, exp);
    assert_int_equal(privdir_default("state.backend.rocksdb.localdir", want, sizeof want), 0);
    snprintf(exp, sizeof exp, "%s/weir-%u/rocksdb", tmp, (unsigned)geteuid());
    assert_string_equal(want, exp);
    unsetenv("TMPDIR");
    weir_config_free(c);
    wt_rm_tree(tmp);
}

static void a_symlink_planted_as_the_default_dir_is_refused(void **state)
{
    const char *tmp = wt_tmp_dir("privdir-default-link");
    char file[1000], link[1000], parent[1000], err[512];
    const char *outside = outside_with_file(tmp, file, sizeof file);
    snprintf(parent, sizeof parent, "%s/weir", tmp);
    assert_int_equal(mkdir(parent, 0700), 0);
    snprintf(link, sizeof link, "%s/weir/checkpoints", tmp);
    assert_int_equal(symlink(outside, link), 0);
    setenv("XDG_STATE_HOME", tmp, 1);
    weir_config *c = wt_config(NULL);
    weir_storage *s = NULL;
    assert_int_equal(weir_storage_open_config(c, "job", &s, err, sizeof err), -ELOOP);
    assert_null(s);
    assert_non_null(strstr(err, "state.checkpoints.dir: "));
    assert_non_null(strstr(err, link));
    assert_non_null(strstr(err, "symbolic link"));
    assert_true(path_exists("%s", file));
    assert_false(path_exists("%s/job", outside));
    unsetenv("XDG_STATE_HOME");
    weir_config_free(c);
    wt_rm_tree(tmp);
}

static void a_symlink_planted_as_the_jobs_dir_is_refused(void **state)
{
    const char *tmp = wt_tmp_dir("privdir-job-link");
    char file[1000], root[1000], link[1000], err[512];
    const char *outside = outside_with_file(tmp, file, sizeof file);
    snprintf(root, sizeof root, "%s/ckpt", tmp);
    assert_int_equal(mkdir(root, 0700), 0);
    snprintf(link, sizeof link, "%s/ckpt/job", tmp);
    assert_int_equal(symlink(outside, link), 0);
    weir_storage *s;
    assert_int_equal(try_open(root, "job", &s, err, sizeof err), -ELOOP);
    char want[1200];
    snprintf(want, sizeof want, "state.checkpoints.dir: %s: is a symbolic link", link);
    assert_memory_equal(err, want, strlen(want));
    assert_true(path_exists("%s", file));
    assert_false(path_exists("%s/shared", outside));
    wt_rm_tree(tmp);
}

static void a_dir_writable_by_others_is_refused(void **state)
{
    const char *tmp = wt_tmp_dir("privdir-others");
    char root[1000], err[512], want[1200];
    snprintf(root, sizeof root, "%s/ckpt", tmp);
    assert_int_equal(mkdir(root, 0700), 0);
    assert_int_equal(chmod(root, 0707), 0);
    weir_storage *s;
    assert_int_equal(try_open(root, "job", &s, err, sizeof err), -EPERM);
    snprintf(want, sizeof want,
             "state.checkpoints.dir: %s: writable by group or others (mode 0707)", root);
    assert_memory_equal(err, want, strlen(want));
    assert_false(path_exists("%s/job", root));

    /* The job's own directory, too. */
    assert_int_equal(chmod(root, 0700), 0);
    snprintf(want, sizeof want, "%s/job", root);
    assert_int_equal(mkdir(want, 0770), 0);
    assert_int_equal(chmod(want, 0770), 0);
    assert_int_equal(try_open(root, "job", &s, err, sizeof err), -EPERM);
    assert_non_null(strstr(err, "/ckpt/job: writable by group or others (mode 0770)"));
    wt_rm_tree(tmp);
}

static void a_dir_owned_by_another_user_is_refused(void **state)
{
    const char *tmp = wt_tmp_dir("privdir-owner");
    char root[1000], err[512], want[1200];
    snprintf(root, sizeof root, "%s/ckpt", tmp);
    assert_int_equal(mkdir(root, 0700), 0);
    if (chown(root, 65534, 65534) < 0) {
        wt_rm_tree(tmp);
        skip(); /* only root may give a directory away */
    }
    weir_storage *s;
    assert_int_equal(try_open(root, "job", &s, err, sizeof err), -EPERM);
    snprintf(want, sizeof want, "state.checkpoints.dir: %s: owned by uid 65534, not by you (%u)",
             root, (unsigned)geteuid());
    assert_string_equal(err, want);
    wt_rm_tree(tmp);
}

/* /tmp/weir-<uid> made beforehand by someone else (here: a link, given away with lchown) in
 * a sticky world-writable directory such as /tmp. */
static void a_per_user_tmp_dir_planted_by_another_user_is_refused(void **state)
{
    const char *tmp = wt_tmp_dir("privdir-sticky");
    char sticky[1000], base[1100], file[1000], err[512];
    const char *outside = outside_with_file(tmp, file, sizeof file);
    snprintf(sticky, sizeof sticky, "%s/tmp", tmp);
    assert_int_equal(mkdir(sticky, 0700), 0);
    assert_int_equal(chmod(sticky, 01777), 0);
    snprintf(base, sizeof base, "%s/weir-%u", sticky, (unsigned)geteuid());
    assert_int_equal(symlink(outside, base), 0);
    if (lchown(base, 65534, 65534) < 0) {
        wt_rm_tree(tmp);
        skip();
    }
    setenv("TMPDIR", sticky, 1);
    unsetenv("XDG_STATE_HOME");
    unsetenv("HOME");
    char dir[1200];
    assert_int_equal(privdir_default("state.checkpoints.dir", dir, sizeof dir), 0);
    int fd = privdir_open(dir, "state.checkpoints.dir", err, sizeof err);
    assert_true(fd < 0);
    char want[1400];
    snprintf(want, sizeof want, "state.checkpoints.dir: %s: owned by uid 65534", base);
    assert_memory_equal(err, want, strlen(want));
    unsetenv("TMPDIR");
    assert_true(path_exists("%s", file));
    assert_false(path_exists("%s/checkpoints", outside));
    wt_rm_tree(tmp);
}

static void rm_tree_never_follows_a_link(void **state)
{
    const char *tmp = wt_tmp_dir("privdir-rm");
    char file[1000], tree[1000], p[1200];
    const char *outside = outside_with_file(tmp, file, sizeof file);
    snprintf(tree, sizeof tree, "%s/tree", tmp);
    assert_int_equal(mkdir(tree, 0700), 0);
    snprintf(p, sizeof p, "%s/sub", tree);
    assert_int_equal(mkdir(p, 0700), 0);
    snprintf(p, sizeof p, "%s/sub/f", tree);
    write_file(p, "x");
    snprintf(p, sizeof p, "%s/sub/link", tree);
    assert_int_equal(symlink(outside, p), 0);
    snprintf(p, sizeof p, "%s/link", tree);
    assert_int_equal(symlink(outside, p), 0);
    assert_int_equal(privdir_rm_tree(tree), 0);
    assert_false(path_exists("%s", tree));
    assert_true(path_exists("%s", file));

    /* The tree's own name a link: the link goes, not what it names. */
    snprintf(p, sizeof p, "%s/alias", tmp);
    assert_int_equal(symlink(outside, p), 0);
    assert_int_equal(privdir_rm_tree(p), 0);
    assert_true(path_exists("%s", file));
    int dfd = open(tmp, O_RDONLY | O_DIRECTORY);
    assert_int_equal(symlink(outside, p), 0);
    assert_int_equal(privdir_rm_tree_at(dfd, "alias"), 0);
    close(dfd);
    assert_true(path_exists("%s", file));
    wt_rm_tree(tmp);
}

static void checkpoint_files_are_0600_and_dirs_0700(void **state)
{
    const char *tmp = wt_tmp_dir("privdir-modes");
    char root[1000], err[512], p[1300];
    snprintf(root, sizeof root, "%s/ckpt", tmp);
    mode_t old = umask(0);
    weir_storage *s;
    if (try_open(root, "job", &s, err, sizeof err) < 0)
        fail_msg("%s", err);
    weir_ckpt *ck;
    assert_int_equal(weir_ckpt_begin(s, 1, NULL, &ck), 0);
    assert_int_equal(write_state(ck, "op-0", 2, 100, 1), 0);
    struct weir_ckpt_entry e = {
        .operator_uid = "op", .parallelism = 1, .kg_first = 0, .kg_last = 127, .file = "op-0"};
    struct weir_ckpt_meta m = {.entry_count = 1, .entries = &e, .max_parallelism = 128};
    assert_int_equal(weir_ckpt_commit(ck, &m), 0);
    assert_int_equal(weir_ckpt_wait(ck, 30000), 0);
    weir_ckpt_release(ck);
    weir_storage_close(s);
    umask(old);
    const char *dirs[] = {"", "/job", "/job/shared", "/job/chk-1"};
    const char *files[] = {"/job/chk-1/_metadata", "/job/chk-1/op-0"};
    struct stat st;
    for (size_t i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s%s", root, dirs[i]);
        assert_int_equal(stat(p, &st), 0);
        if ((st.st_mode & 07777) != 0700)
            fail_msg("%s: mode %04o, want 0700", p, (unsigned)(st.st_mode & 07777));
    }
    for (size_t i = 0; i < 2; i++) {
        snprintf(p, sizeof p, "%s%s", root, files[i]);
        assert_int_equal(stat(p, &st), 0);
        if ((st.st_mode & 07777) != 0600)
            fail_msg("%s: mode %04o, want 0600", p, (unsigned)(st.st_mode & 07777));
    }
    wt_rm_tree(tmp);
}

int main(void)
{
    require_io_uring();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(default_is_the_users_state_dir),
        cmocka_unit_test(a_symlink_planted_as_the_default_dir_is_refused),
        cmocka_unit_test(a_symlink_planted_as_the_jobs_dir_is_refused),
        cmocka_unit_test(a_dir_writable_by_others_is_refused),
        cmocka_unit_test(a_dir_owned_by_another_user_is_refused),
        cmocka_unit_test(a_per_user_tmp_dir_planted_by_another_user_is_refused),
        cmocka_unit_test(rm_tree_never_follows_a_link),
        cmocka_unit_test(checkpoint_files_are_0600_and_dirs_0700),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
