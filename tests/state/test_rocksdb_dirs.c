/*
 * RocksDB's working directories are the running user's own: a link planted where the local
 * directory or the job's directory would be is refused, with the key and the path, and the
 * start-clean removal of <localdir>/<job>/<uid>-<subtask> never reaches through it; the
 * default is a per-user directory made 0700.
 */
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <weir/privdir.h>

#include "state_test.h"

static bool exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

/* <tmp>/outside/op-0/precious: what a rm -rf of <localdir>/job/op-0 through a link would
 * delete. */
static void plant_outside(const char *tmp, char *outside, char *precious, size_t len)
{
    snprintf(outside, len, "%.800s/outside", tmp);
    assert_int_equal(mkdir(outside, 0700), 0);
    char sub[1200];
    snprintf(sub, sizeof sub, "%.800s/op-0", outside);
    assert_int_equal(mkdir(sub, 0700), 0);
    snprintf(precious, len, "%.800s/op-0/precious", outside);
    FILE *fp = fopen(precious, "w");
    assert_non_null(fp);
    fputs("keep me", fp);
    fclose(fp);
}

static int env_new(const char *localdir, weir_state_env **env, char *err, size_t len)
{
    weir_config *c = wt_config_new(NULL);
    wt_config_set(c, "state.backend=rocksdb");
    if (localdir)
        wt_config_set(c, "state.backend.rocksdb.localdir=%s", localdir);
    weir_config_set_machine_limit_for_test(c, 1ull << 40);
    wt_config_resolve(c);
    int rc = weir_state_env_new(c, "job", env, err, len);
    weir_config_free(c);
    return rc;
}

static void a_link_planted_as_the_jobs_dir_is_refused_and_its_target_kept(void **state)
{
    const char *tmp = wt_tmp_dir("rocksdb-job-link");
    char outside[1000], precious[1000], local[1000], link[1100], err[512] = "";
    plant_outside(tmp, outside, precious, sizeof outside);
    snprintf(local, sizeof local, "%s/local", tmp);
    assert_int_equal(mkdir(local, 0700), 0);
    snprintf(link, sizeof link, "%s/job", local);
    assert_int_equal(symlink(outside, link), 0);

    weir_state_env *env = NULL;
    int rc = env_new(local, &env, err, sizeof err);
    if (rc == 0) {
        /* Today's code: the backend's start-clean rm -rf runs through the link. */
        weir_keyed_backend *be = NULL;
        weir_keyed_backend_open(env, "op", 0, 0, MAXP - 1, MAXP, -1, &be, err, sizeof err);
        weir_keyed_backend_close(be);
        weir_state_env_free(env);
    }
    assert_true(exists(precious));
    assert_int_equal(rc, -ELOOP);
    char want[1300];
    snprintf(want, sizeof want, "state.backend.rocksdb.localdir: %s: is a symbolic link", link);
    assert_memory_equal(err, want, strlen(want));
    wt_rm_tree(tmp);
}

static void a_localdir_writable_by_others_is_refused(void **state)
{
    const char *tmp = wt_tmp_dir("rocksdb-others");
    char local[1000], err[512] = "";
    snprintf(local, sizeof local, "%s/local", tmp);
    assert_int_equal(mkdir(local, 0700), 0);
    assert_int_equal(chmod(local, 0777), 0);
    weir_state_env *env = NULL;
    int rc = env_new(local, &env, err, sizeof err);
    weir_state_env_free(env);
    assert_int_equal(rc, -EPERM);
    char want[1200];
    snprintf(want, sizeof want,
             "state.backend.rocksdb.localdir: %s: writable by group or others (mode 0777)", local);
    assert_memory_equal(err, want, strlen(want));
    wt_rm_tree(tmp);
}

static void the_default_localdir_is_per_user_and_private(void **state)
{
    const char *tmp = wt_tmp_dir("rocksdb-default");
    char err[512] = "", want[1200];
    setenv("TMPDIR", tmp, 1);
    weir_state_env *env = NULL;
    if (env_new(NULL, &env, err, sizeof err) < 0)
        fail_msg("%s", err);
    weir_keyed_backend *be = NULL;
    if (weir_keyed_backend_open(env, "op", 0, 0, MAXP - 1, MAXP, -1, &be, err, sizeof err) < 0)
        fail_msg("%s", err);
    snprintf(want, sizeof want, "%s/weir-%u/rocksdb/job/op-0", tmp, (unsigned)geteuid());
    struct stat st;
    assert_int_equal(stat(want, &st), 0);
    snprintf(want, sizeof want, "%s/weir-%u", tmp, (unsigned)geteuid());
    assert_int_equal(stat(want, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0700);
    weir_keyed_backend_close(be);
    weir_state_env_free(env);
    unsetenv("TMPDIR");
    wt_rm_tree(tmp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_link_planted_as_the_jobs_dir_is_refused_and_its_target_kept),
        cmocka_unit_test(a_localdir_writable_by_others_is_refused),
        cmocka_unit_test(the_default_localdir_is_per_user_and_private),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
