/*
 * Retention keeps execution.checkpointing.num-retained complete checkpoints. Shared files
 * (incremental RocksDB SSTs) are added once, referenced by later checkpoints without a
 * copy, counted by the _metadata files that list them, and deleted when no retained
 * checkpoint lists them any more; counts survive a restart.
 */
#include <sys/mount.h>

#include "storage_test.h"

struct rfx {
    struct fx *f;
    const char *src; /* where the "RocksDB instance" writes its SSTs */
};

static int setup(void **state)
{
    struct rfx *x = calloc(1, sizeof *x);
    x->f = fx_new("retention");
    x->f->o.num_retained = 2;
    x->src = wt_tmp_dir("storage-retention-src");
    fx_open(x->f);
    *state = x;
    return 0;
}

static int teardown(void **state)
{
    struct rfx *x = *state;
    fx_free(x->f);
    wt_rm_tree(x->src);
    free(x);
    return 0;
}

static void make_sst(struct rfx *x, const char *name, size_t size)
{
    char p[600];
    snprintf(p, sizeof p, "%s/%s", x->src, name);
    FILE *fp = fopen(p, "w");
    assert_non_null(fp);
    for (size_t i = 0; i < size; i++)
        fputc(pattern_byte(name[0], i), fp);
    fclose(fp);
}

/* A checkpoint with one state file that adds the SSTs in add[] (new this time) and lists
 * those in list[] (new and old). */
static int incremental(struct rfx *x, uint64_t id, const char **add, int nadd, const char **list,
                       int nlist)
{
    weir_ckpt *ck;
    int rc = weir_ckpt_begin(x->f->s, id, NULL, &ck);
    if (rc < 0)
        return rc;
    for (int i = 0; i < nadd; i++) {
        char p[600];
        snprintf(p, sizeof p, "%s/%s", x->src, add[i]);
        assert_int_equal(weir_ckpt_shared_add(ck, p, add[i]), 0);
    }
    assert_int_equal(write_state(ck, "rocks-0", 1, 100, id), 0);
    struct weir_ckpt_entry e = {
        .operator_uid = "agg", .parallelism = 1, .kg_last = 127, .file = "rocks-0"};
    struct weir_ckpt_shared sh[8] = {{0}};
    for (int i = 0; i < nlist; i++)
        sh[i].name = list[i];
    struct weir_ckpt_meta m = {
        .entry_count = 1, .entries = &e, .shared_count = (size_t)nlist, .shared = sh};
    assert_int_equal(weir_ckpt_commit(ck, &m), 0);
    rc = weir_ckpt_wait(ck, 30000);
    weir_ckpt_release(ck);
    return rc;
}

static bool in_shared(struct rfx *x, const char *name)
{
    return path_exists("%s/job/shared/%s", x->f->dir, name);
}

static void retention_deletes_old_checkpoints_and_unreferenced_shared_files(void **state)
{
    struct rfx *x = *state;
    weir_storage *s = x->f->s;
    make_sst(x, "000001.sst", 5000);
    make_sst(x, "000002.sst", 7000);
    make_sst(x, "000003.sst", 9000);
    make_sst(x, "000004.sst", 100);

    const char *a1[] = {"000001.sst", "000002.sst"};
    assert_int_equal(incremental(x, 1, a1, 2, a1, 2), 0);
    assert_int_equal(weir_storage_shared_refs(s, "000001.sst"), 1);
    assert_int_equal(weir_storage_shared_refs(s, "000002.sst"), 1);

    /* chk-2 keeps 000001, drops 000002 (compacted away), adds 000003. RocksDB deleted its
     * own copy of 000001 meanwhile: a reference must not need the source. */
    char p[600];
    snprintf(p, sizeof p, "%s/000001.sst", x->src);
    assert_int_equal(unlink(p), 0);
    const char *a2[] = {"000003.sst"}, *l2[] = {"000001.sst", "000003.sst"};
    assert_int_equal(incremental(x, 2, a2, 1, l2, 2), 0);
    assert_int_equal(weir_storage_shared_refs(s, "000001.sst"), 2);
    assert_int_equal(weir_storage_shared_refs(s, "000002.sst"), 1);

    /* chk-3: retained are chk-2 and chk-3; chk-1 goes, and 000002 (only chk-1 had it). */
    const char *a3[] = {"000004.sst"}, *l3[] = {"000003.sst", "000004.sst"};
    assert_int_equal(incremental(x, 3, a3, 1, l3, 2), 0);
    assert_false(path_exists("%s/job/chk-1", x->f->dir));
    assert_true(path_exists("%s/job/chk-2/_metadata", x->f->dir));
    assert_true(path_exists("%s/job/chk-3/_metadata", x->f->dir));
    assert_true(in_shared(x, "000001.sst")); /* chk-2 lists it */
    assert_false(in_shared(x, "000002.sst"));
    assert_true(in_shared(x, "000003.sst"));
    assert_int_equal(weir_storage_shared_refs(s, "000001.sst"), 1);
    assert_int_equal(weir_storage_shared_refs(s, "000003.sst"), 2);
    assert_int_equal(weir_storage_shared_refs(s, "000002.sst"), 0);

    /* The counts are rebuilt from _metadata at the next start. */
    fx_close(x->f);
    fx_open(x->f);
    s = x->f->s;
    assert_int_equal(weir_storage_shared_refs(s, "000001.sst"), 1);
    assert_int_equal(weir_storage_shared_refs(s, "000003.sst"), 2);

    /* chk-4 lists only 000004: chk-2 goes, and with it 000001. */
    const char *l4[] = {"000004.sst"};
    assert_int_equal(incremental(x, 4, NULL, 0, l4, 1), 0);
    assert_false(path_exists("%s/job/chk-2", x->f->dir));
    assert_false(in_shared(x, "000001.sst"));
    assert_true(in_shared(x, "000003.sst"));
    assert_true(in_shared(x, "000004.sst"));

    /* What restore sees: chk-4 and the path of its shared file, checked. */
    weir_restore *r;
    assert_int_equal(weir_restore_open_latest(s, 0, &r), 0);
    assert_int_equal(weir_restore_meta(r)->checkpoint_id, 4);
    assert_int_equal(weir_restore_meta(r)->shared_count, 1);
    assert_int_equal(weir_restore_meta(r)->shared[0].size_bytes, 100);
    char sp[700], want[700];
    assert_int_equal(weir_restore_shared_path(r, "000004.sst", sp, sizeof sp), 0);
    snprintf(want, sizeof want, "%s/job/shared/000004.sst", x->f->dir);
    assert_string_equal(sp, want);
    assert_int_equal(weir_restore_shared_path(r, "000001.sst", sp, sizeof sp), -ENOENT);
    weir_restore_close(r);
}

/* A shared file is hard-linked, not copied, on one filesystem; and corrupting it makes the
 * checkpoints that list it invalid. */
static void shared_file_is_linked_and_checked(void **state)
{
    struct rfx *x = *state;
    make_sst(x, "000009.sst", 3000);
    const char *a[] = {"000009.sst"};
    assert_int_equal(incremental(x, 1, a, 1, a, 1), 0);
    struct stat s1, s2;
    char p[600];
    snprintf(p, sizeof p, "%s/000009.sst", x->src);
    assert_int_equal(stat(p, &s1), 0);
    snprintf(p, sizeof p, "%s/job/shared/000009.sst", x->f->dir);
    assert_int_equal(stat(p, &s2), 0);
    assert_int_equal(s1.st_ino, s2.st_ino);
    assert_int_equal(incremental(x, 2, NULL, 0, a, 1), 0);

    flip_byte(p, 10);
    weir_restore *r;
    assert_int_equal(weir_restore_open_latest(x->f->s, 0, &r), -EBADMSG);
    assert_true(log_has(&x->f->log, "checkpoint chk-2 is corrupt (shared file 000009.sst: "
                                    "checksum mismatch)"));
}

/* A commit that lists a shared file nobody added fails; a failed checkpoint's own new
 * shared files are deleted; files in shared/ that nothing knows are swept at start. */
static void unknown_and_orphaned_shared_files(void **state)
{
    struct rfx *x = *state;
    make_sst(x, "000011.sst", 10);
    const char *a[] = {"000011.sst"}, *bad[] = {"000011.sst", "999999.sst"};
    assert_int_equal(incremental(x, 1, a, 1, bad, 2), -ENOENT);
    assert_false(path_exists("%s/job/chk-1", x->f->dir));
    assert_false(in_shared(x, "000011.sst"));
    assert_int_equal(weir_storage_shared_refs(x->f->s, "000011.sst"), 0);

    assert_int_equal(incremental(x, 2, a, 1, a, 1), 0);
    fx_close(x->f);
    char p[600];
    snprintf(p, sizeof p, "%s/job/shared/leftover.sst", x->f->dir);
    FILE *fp = fopen(p, "w");
    fputs("x", fp);
    fclose(fp);
    fx_open(x->f);
    assert_false(in_shared(x, "leftover.sst"));
    assert_true(in_shared(x, "000011.sst"));
}

/* RocksDB's directory on another filesystem: the link is refused (EXDEV), so the file is
 * copied into shared/, once, and checked the same way. */
static void shared_file_from_another_filesystem_is_copied(void **state)
{
    struct rfx *x = *state;
    char mnt[600];
    snprintf(mnt, sizeof mnt, "%s/other-fs", x->src);
    assert_int_equal(mkdir(mnt, 0755), 0);
    if (mount("tmpfs", mnt, "tmpfs", 0, "size=4m") != 0) {
        fprintf(stderr, "skip: cannot mount a tmpfs here: %s\n", strerror(errno));
        skip();
    }
    make_sst(x, "other-fs/000021.sst", 12345);
    char src[700];
    snprintf(src, sizeof src, "%s/other-fs/000021.sst", x->src);
    weir_ckpt *ck;
    assert_int_equal(weir_ckpt_begin(x->f->s, 1, NULL, &ck), 0);
    assert_int_equal(weir_ckpt_shared_add(ck, src, "000021.sst"), 0);
    struct weir_ckpt_shared sh = {.name = "000021.sst"};
    struct weir_ckpt_meta m = {.shared_count = 1, .shared = &sh};
    assert_int_equal(weir_ckpt_commit(ck, &m), 0);
    int rc = weir_ckpt_wait(ck, 30000);
    if (rc < 0)
        fprintf(stderr, "%s\n", weir_ckpt_error(ck));
    weir_ckpt_release(ck);
    umount2(mnt, MNT_DETACH);
    assert_int_equal(rc, 0);
    assert_true(in_shared(x, "000021.sst"));
    weir_restore *r;
    assert_int_equal(weir_restore_open_latest(x->f->s, 0, &r), 0);
    assert_int_equal(weir_restore_meta(r)->shared[0].size_bytes, 12345);
    weir_restore_close(r);
}

/* Savepoints are never deleted by retention. */
static void savepoints_survive_retention(void **state)
{
    struct rfx *x = *state;
    char sp[600];
    snprintf(sp, sizeof sp, "%s/savepoints/sp-1", x->src);
    weir_ckpt *ck;
    assert_int_equal(weir_savepoint_begin(x->f->s, sp, 1, NULL, &ck), 0);
    assert_int_equal(write_state(ck, "a", 1, 10, 1), 0);
    struct weir_ckpt_entry e = {.operator_uid = "op", .file = "a"};
    struct weir_ckpt_meta m = {.entry_count = 1, .entries = &e};
    assert_int_equal(weir_ckpt_commit(ck, &m), 0);
    assert_int_equal(weir_ckpt_wait(ck, 30000), 0);
    weir_ckpt_release(ck);
    const char *names[] = {"a"};
    for (uint64_t id = 1; id <= 4; id++)
        assert_int_equal(checkpoint(x->f->s, id, names, 1, 1, 10, NULL, 0), 0);
    assert_true(path_exists("%s/_metadata", sp));
    assert_false(path_exists("%s/job/chk-2", x->f->dir));
}

int main(void)
{
    require_io_uring();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            retention_deletes_old_checkpoints_and_unreferenced_shared_files, setup, teardown),
        cmocka_unit_test_setup_teardown(shared_file_is_linked_and_checked, setup, teardown),
        cmocka_unit_test_setup_teardown(unknown_and_orphaned_shared_files, setup, teardown),
        cmocka_unit_test_setup_teardown(shared_file_from_another_filesystem_is_copied, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(savepoints_survive_retention, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
