/*
 * A savepoint is the same snapshot at a path a person chose: written through the same
 * calls, self-contained (shared files copied in), readable after the directory is moved,
 * refused on a directory that holds something, and invisible to checkpoint recovery.
 */
#include "storage_test.h"

struct sfx {
    struct fx *f;
    const char *elsewhere;
};

static int setup(void **state)
{
    struct sfx *x = calloc(1, sizeof *x);
    x->f = fx_new("savepoint");
    x->elsewhere = wt_tmp_dir("storage-savepoint-target");
    fx_open(x->f);
    *state = x;
    return 0;
}

static int teardown(void **state)
{
    struct sfx *x = *state;
    fx_free(x->f);
    wt_rm_tree(x->elsewhere);
    free(x);
    return 0;
}

static int write_savepoint(struct sfx *x, const char *path, const char *sst)
{
    weir_ckpt *ck;
    int rc = weir_savepoint_begin(x->f->s, path, 12, NULL, &ck);
    if (rc < 0)
        return rc;
    assert_string_equal(weir_ckpt_dir(ck), path);
    assert_int_equal(weir_ckpt_id(ck), 12);
    if (sst)
        assert_int_equal(weir_ckpt_shared_add(ck, sst, "000001.sst"), 0);
    /* With an injected error the worker may learn it here already. */
    int wrc = write_state(ck, "window-0", 3, 70000, 5);
    uint8_t blob[] = {1, 2, 3};
    struct weir_ckpt_entry e[2] = {
        {.operator_uid = "window", .parallelism = 1, .kg_last = 127, .file = "window-0"},
        {.operator_uid = "source",
         .parallelism = 1,
         .kg_first = WEIR_KG_NONE,
         .kg_last = WEIR_KG_NONE,
         .blob = blob,
         .blob_len = 3},
    };
    struct weir_ckpt_shared sh = {.name = "000001.sst"};
    struct weir_ckpt_meta m = {.entry_count = 2,
                               .entries = e,
                               .max_parallelism = 128,
                               .shared_count = sst ? 1 : 0,
                               .shared = &sh};
    if (wrc == 0)
        wrc = weir_ckpt_commit(ck, &m);
    rc = weir_ckpt_wait(ck, 30000);
    assert_true(wrc == 0 || wrc == rc);
    if (rc < 0)
        fprintf(stderr, "savepoint: %s\n", weir_ckpt_error(ck));
    weir_ckpt_release(ck);
    return rc;
}

static void check_savepoint(const char *path, bool with_sst)
{
    weir_restore *r;
    char err[512] = "";
    int rc = weir_restore_open_dir(path, 0, &r, err, sizeof err);
    if (rc < 0)
        fail_msg("%s", err);
    const struct weir_ckpt_meta *m = weir_restore_meta(r);
    assert_true(m->savepoint);
    assert_int_equal(m->checkpoint_id, 12);
    assert_string_equal(m->job, "job");
    assert_int_equal(m->entry_count, 2);
    assert_int_equal(m->entries[1].blob_len, 3);
    check_state(r, "window-0", 3, 70000, 5);
    if (with_sst) {
        char p[800], want[800];
        assert_int_equal(weir_restore_shared_path(r, "000001.sst", p, sizeof p), 0);
        snprintf(want, sizeof want, "%s/000001.sst", path);
        assert_string_equal(p, want);
        assert_int_equal(file_size(p), 4000);
    }
    weir_restore_close(r);
}

static void savepoint_to_any_directory_reads_back(void **state)
{
    struct sfx *x = *state;
    char sst[600], sp[600];
    snprintf(sst, sizeof sst, "%s/000001.sst", x->elsewhere);
    FILE *fp = fopen(sst, "w");
    for (int i = 0; i < 4000; i++)
        fputc(i & 0xff, fp);
    fclose(fp);
    /* A parent that does not exist yet. */
    snprintf(sp, sizeof sp, "%s/savepoints/savepoint-12", x->elsewhere);
    assert_int_equal(write_savepoint(x, sp, sst), 0);
    assert_true(path_exists("%s/_metadata", sp));
    check_savepoint(sp, true);
    /* Self-contained: the SST is a copy, and nothing is in the checkpoint directories. */
    struct stat a, b;
    char copy[700];
    snprintf(copy, sizeof copy, "%s/000001.sst", sp);
    assert_int_equal(stat(sst, &a), 0);
    assert_int_equal(stat(copy, &b), 0);
    assert_int_not_equal(a.st_ino, b.st_ino);
    assert_false(path_exists("%s/job/shared/000001.sst", x->f->dir));
    weir_restore *r;
    assert_int_equal(weir_restore_open_latest(x->f->s, 0, &r), -ENOENT);

    /* Portable: moved elsewhere, it still reads. */
    char moved[700];
    snprintf(moved, sizeof moved, "%s/moved", x->elsewhere);
    assert_int_equal(rename(sp, moved), 0);
    check_savepoint(moved, true);
}

static void savepoint_into_an_existing_empty_directory(void **state)
{
    struct sfx *x = *state;
    char sp[600];
    snprintf(sp, sizeof sp, "%s/empty", x->elsewhere);
    assert_int_equal(mkdir(sp, 0755), 0);
    assert_int_equal(write_savepoint(x, sp, NULL), 0);
    check_savepoint(sp, false);
}

static void savepoint_refuses_a_directory_with_files(void **state)
{
    struct sfx *x = *state;
    char sp[600], keep[700];
    snprintf(sp, sizeof sp, "%s/full", x->elsewhere);
    assert_int_equal(mkdir(sp, 0755), 0);
    snprintf(keep, sizeof keep, "%s/precious", sp);
    FILE *fp = fopen(keep, "w");
    fputs("mine", fp);
    fclose(fp);
    weir_ckpt *ck;
    assert_int_equal(weir_savepoint_begin(x->f->s, sp, 1, NULL, &ck), 0);
    assert_int_equal(weir_ckpt_wait(ck, 30000), -EEXIST);
    char want[700];
    snprintf(want, sizeof want, "savepoint: %s: directory is not empty", sp);
    assert_string_equal(weir_ckpt_error(ck), want);
    weir_ckpt_release(ck);
    assert_true(path_exists("%s", keep));
}

static void failed_savepoint_leaves_nothing(void **state)
{
    struct sfx *x = *state;
    char sp[600];
    snprintf(sp, sizeof sp, "%s/sp-fail", x->elsewhere);
    weir_storage_fail_write_for_test(x->f->s, 1, -EIO);
    assert_int_equal(write_savepoint(x, sp, NULL), -EIO);
    assert_false(path_exists("%s", sp));
    char err[512];
    weir_restore *r;
    assert_int_equal(weir_restore_open_dir(sp, 0, &r, err, sizeof err), -ENOENT);
}

static void restore_dir_errors_name_the_path(void **state)
{
    struct sfx *x = *state;
    char err[512];
    weir_restore *r;
    assert_int_equal(weir_restore_open_dir(x->elsewhere, 0, &r, err, sizeof err), -ENOENT);
    char want[700];
    snprintf(want, sizeof want,
             "%s: no _metadata (not a complete savepoint or "
             "checkpoint)",
             x->elsewhere);
    assert_string_equal(err, want);
    /* A checkpoint directory can be opened directly too (restore from chk-N). */
    const char *names[] = {"a"};
    assert_int_equal(checkpoint(x->f->s, 3, names, 1, 2, 100, NULL, 0), 0);
    char chk[700];
    snprintf(chk, sizeof chk, "%s/job/chk-3", x->f->dir);
    assert_int_equal(weir_restore_open_dir(chk, 0, &r, err, sizeof err), 0);
    assert_false(weir_restore_meta(r)->savepoint);
    check_state(r, "a", 2, 100, 300);
    weir_restore_close(r);
}

int main(void)
{
    require_io_uring();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(savepoint_to_any_directory_reads_back, setup, teardown),
        cmocka_unit_test_setup_teardown(savepoint_into_an_existing_empty_directory, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(savepoint_refuses_a_directory_with_files, setup, teardown),
        cmocka_unit_test_setup_teardown(failed_savepoint_leaves_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(restore_dir_errors_name_the_path, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
