/*
 * State files and _metadata written through the io thread read back byte for byte, with
 * their checksums: sections spanning blocks, the zero-copy pair, tails that do and do not
 * fit the last buffer, every metadata field, and what the ack callback reports.
 */
#include "storage_test.h"

static int setup(void **state)
{
    *state = fx_new("roundtrip");
    fx_open(*state);
    return 0;
}

static int teardown(void **state)
{
    fx_free(*state);
    return 0;
}

static void sections_spanning_blocks_read_back(void **state)
{
    struct fx *f = *state;
    const char *names[] = {"window-0", "window-1"};
    /* 5 sections of 100000 bytes: blocks are 64 KiB, so sections straddle them. */
    assert_int_equal(checkpoint(f->s, 1, names, 2, 5, 100000, NULL, 0), 0);
    assert_true(path_exists("%s/job/chk-1/_metadata", f->dir));
    assert_false(path_exists("%s/job/chk-1/_metadata.tmp", f->dir));

    weir_restore *r;
    assert_int_equal(weir_restore_open_latest(f->s, 0, &r), 0);
    const struct weir_ckpt_meta *m = weir_restore_meta(r);
    assert_int_equal(m->checkpoint_id, 1);
    assert_string_equal(m->job, "job");
    assert_int_equal(m->entry_count, 2);
    check_state(r, "window-0", 5, 100000, 100);
    check_state(r, "window-1", 5, 100000, 101);
    weir_restore_close(r);
}

/* Section reads: exactly the section's bytes, -ENODATA at its end, -EIO past it. */
static void section_reader_stops_at_the_section_end(void **state)
{
    struct fx *f = *state;
    const char *names[] = {"s"};
    assert_int_equal(checkpoint(f->s, 1, names, 1, 3, 10, NULL, 0), 0);
    weir_restore *r;
    weir_restore_file *rf;
    uint8_t b[32];
    assert_int_equal(weir_restore_open_latest(f->s, 0, &r), 0);
    assert_int_equal(weir_restore_file_open(r, "s", &rf), 0);
    size_t i;
    assert_int_equal(weir_restore_file_find(rf, 2, &i), 0);
    assert_int_equal(i, 2);
    assert_int_equal(weir_restore_file_find(rf, 9, &i), -ENOENT);
    struct weir_snapshot_in *in = weir_restore_file_section_in(rf, 1);
    assert_int_equal(in->read(in, b, 4), 0);
    assert_int_equal(in->read(in, b, 7), -EIO); /* 6 left */
    assert_int_equal(in->read(in, b, 6), 0);
    assert_int_equal(in->read(in, b, 1), -ENODATA);
    assert_null(weir_restore_file_section_in(rf, 3));
    weir_restore_file *none;
    assert_int_equal(weir_restore_file_open(r, "nope", &none), -ENOENT);
    assert_null(none);
    weir_restore_file_close(NULL);
    weir_restore_file_close(rf);
    weir_restore_close(r);
}

struct acks {
    pthread_mutex_t mu;
    int files, done, status;
    char name[64];
    uint64_t size, checksum;
};

static void on_file(void *arg, weir_ckpt *ck, const struct weir_ckpt_file_info *fi, int st)
{
    struct acks *a = arg;
    pthread_mutex_lock(&a->mu);
    a->files++;
    snprintf(a->name, sizeof a->name, "%s", fi->name);
    a->size = fi->size_bytes;
    a->checksum = fi->checksum;
    a->status = st;
    pthread_mutex_unlock(&a->mu);
}

static void on_done(void *arg, weir_ckpt *ck, int st)
{
    struct acks *a = arg;
    pthread_mutex_lock(&a->mu);
    a->done++;
    pthread_mutex_unlock(&a->mu);
}

/* The zero-copy pair, a file ending exactly on a block boundary (its tail gets a buffer of
 * its own), and the ack: what file_done reports is what _metadata and the disk hold. */
static void zero_copy_and_block_boundary_and_ack(void **state)
{
    struct fx *f = *state;
    struct acks a = {.mu = PTHREAD_MUTEX_INITIALIZER};
    struct weir_ckpt_callbacks cb = {on_file, on_done, &a};
    weir_ckpt *ck;
    weir_ckpt_file *wf;
    assert_int_equal(weir_ckpt_begin(f->s, 7, &cb, &ck), 0);
    assert_int_equal(weir_ckpt_file_open(ck, "zc", &wf), 0);
    assert_int_equal(weir_ckpt_file_tell(wf), 64); /* the header */
    assert_int_equal(weir_ckpt_file_section_begin(wf, 42), 0);
    uint64_t total = 3 * (64 << 10) - 64, written = 0;
    while (written < total) {
        void *p;
        size_t avail;
        assert_int_equal(weir_ckpt_file_reserve(wf, &p, &avail), 0);
        assert_true(avail >= 1);
        size_t n = avail < 1000 ? avail : 1000;
        if (n > total - written)
            n = (size_t)(total - written);
        fill_pattern(p, n, 9, written);
        assert_int_equal(weir_ckpt_file_commit(wf, n), 0);
        written += n;
    }
    assert_int_equal(weir_ckpt_file_tell(wf), 3 * (64 << 10));
    assert_int_equal(weir_ckpt_file_submit(wf), 0);

    struct weir_ckpt_entry e = {.operator_uid = "zc-op",
                                .kg_first = WEIR_KG_NONE,
                                .kg_last = WEIR_KG_NONE,
                                .parallelism = 1,
                                .file = "zc"};
    struct weir_ckpt_meta m = {.entry_count = 1, .entries = &e};
    assert_int_equal(weir_ckpt_commit(ck, &m), 0);
    assert_int_equal(weir_ckpt_commit(ck, &m), -EBUSY);
    assert_int_equal(weir_ckpt_wait(ck, 30000), 0);
    assert_int_equal(weir_ckpt_state(ck), WEIR_CKPT_COMPLETE);
    assert_string_equal(weir_ckpt_state_str(weir_ckpt_state(ck)), "complete");
    assert_string_equal(weir_ckpt_error(ck), "");
    struct weir_ckpt_progress pr;
    weir_ckpt_progress_get(ck, &pr);
    assert_int_equal(pr.files_opened, 1);
    assert_int_equal(pr.files_durable, 1);
    assert_true(pr.settled);
    weir_ckpt_release(ck);

    assert_int_equal(a.files, 1);
    assert_int_equal(a.done, 1);
    assert_int_equal(a.status, 0);
    assert_string_equal(a.name, "zc");
    char path[600];
    snprintf(path, sizeof path, "%s/job/chk-7/zc", f->dir);
    assert_int_equal(file_size(path), a.size);

    weir_restore *r;
    assert_int_equal(weir_restore_open_latest(f->s, 0, &r), 0);
    const struct weir_ckpt_meta *rm = weir_restore_meta(r);
    assert_int_equal(rm->entries[0].size_bytes, a.size);
    assert_int_equal(rm->entries[0].checksum, a.checksum);
    assert_int_equal(rm->entries[0].kg_first, WEIR_KG_NONE);
    weir_restore_file *rf;
    assert_int_equal(weir_restore_file_open(r, "zc", &rf), 0);
    uint64_t tag, len;
    assert_int_equal(weir_restore_file_section(rf, 0, &tag, &len), 0);
    assert_int_equal(tag, 42);
    assert_int_equal(len, total);
    uint8_t *got = malloc(total), *want = malloc(total);
    struct weir_snapshot_in *in = weir_restore_file_section_in(rf, 0);
    assert_int_equal(in->read(in, got, total), 0);
    fill_pattern(want, total, 9, 0);
    assert_memory_equal(got, want, total);
    free(got);
    free(want);
    weir_restore_file_close(rf);
    weir_restore_close(r);
}

/* 5000 sections: the footer alone is larger than a 64 KiB buffer. Also: an empty file,
 * and an entry without a file. */
static void large_footer_empty_file_and_fileless_entry(void **state)
{
    struct fx *f = *state;
    weir_ckpt *ck;
    assert_int_equal(weir_ckpt_begin(f->s, 3, NULL, &ck), 0);
    assert_int_equal(write_state(ck, "many", 5000, 3, 5), 0);
    weir_ckpt_file *ef;
    assert_int_equal(weir_ckpt_file_open(ck, "empty", &ef), 0);
    assert_int_equal(weir_ckpt_file_submit(ef), 0);
    uint8_t pos[12] = "offset=1234";
    struct weir_ckpt_entry e[3] = {
        {.operator_uid = "keyed", .parallelism = 1, .kg_first = 0, .kg_last = 127, .file = "many"},
        {.operator_uid = "empty", .parallelism = 1, .file = "empty"},
        {.operator_uid = "source",
         .parallelism = 1,
         .kg_first = WEIR_KG_NONE,
         .kg_last = WEIR_KG_NONE,
         .blob = pos,
         .blob_len = sizeof pos},
    };
    struct weir_ckpt_meta m = {
        .entry_count = 3, .entries = e, .max_parallelism = 128, .timestamp_ms = 1700000000123};
    assert_int_equal(weir_ckpt_commit(ck, &m), 0);
    assert_int_equal(weir_ckpt_wait(ck, 30000), 0);
    weir_ckpt_release(ck);

    weir_restore *r;
    assert_int_equal(weir_restore_open_latest(f->s, 0, &r), 0);
    check_state(r, "many", 5000, 3, 5);
    const struct weir_ckpt_meta *rm = weir_restore_meta(r);
    assert_int_equal(rm->timestamp_ms, 1700000000123);
    assert_int_equal(rm->max_parallelism, 128);
    assert_false(rm->savepoint);
    assert_int_equal(rm->entries[0].kg_last, 127);
    assert_string_equal(rm->entries[2].operator_uid, "source");
    assert_string_equal(rm->entries[2].file, "");
    assert_int_equal(rm->entries[2].blob_len, sizeof pos);
    assert_memory_equal(rm->entries[2].blob, pos, sizeof pos);
    weir_restore_file *rf;
    assert_int_equal(weir_restore_file_open(r, "empty", &rf), 0);
    assert_int_equal(weir_restore_file_section_count(rf), 0);
    weir_restore_file_close(rf);
    weir_restore_close(r);
}

/* A byte flipped inside a section: QUICK validation does not read it, so the checkpoint
 * opens, but reading that section fails its block checksum. */
static void block_checksum_catches_a_flipped_byte_on_read(void **state)
{
    struct fx *f = *state;
    const char *names[] = {"s"};
    assert_int_equal(checkpoint(f->s, 1, names, 1, 4, 50000, NULL, 0), 0);
    char path[600];
    snprintf(path, sizeof path, "%s/job/chk-1/s", f->dir);
    flip_byte(path, 64 + 2 * 50000 + 10); /* in section 2 */
    weir_restore *r;
    weir_restore_file *rf;
    uint8_t buf[50000];
    assert_int_equal(weir_restore_open_latest(f->s, WEIR_RESTORE_QUICK, &r), 0);
    assert_int_equal(weir_restore_file_open(r, "s", &rf), 0);
    struct weir_snapshot_in *in = weir_restore_file_section_in(rf, 0);
    assert_int_equal(in->read(in, buf, sizeof buf), 0);
    in = weir_restore_file_section_in(rf, 2);
    assert_int_equal(in->read(in, buf, sizeof buf), -EBADMSG);
    weir_restore_file_close(rf);
    weir_restore_close(r);
}

static void file_names_and_bad_input(void **state)
{
    struct fx *f = *state;
    char name[256];
    assert_int_equal(weir_ckpt_file_name(name, sizeof name, "window-agg", 3), 0);
    assert_string_equal(name, "window-agg-3");
    char a[256], b[256];
    assert_int_equal(weir_ckpt_file_name(a, sizeof a, "a/b", 0), 0);
    assert_int_equal(weir_ckpt_file_name(b, sizeof b, "a-b", 0), 0);
    assert_string_not_equal(a, b);
    assert_null(strchr(a, '/'));
    assert_int_equal(weir_ckpt_file_name(name, 4, "window", 3), -ENOSPC);

    weir_ckpt *ck;
    weir_ckpt_file *wf;
    assert_int_equal(weir_ckpt_begin(f->s, 0, NULL, &ck), -EINVAL);
    assert_int_equal(weir_ckpt_begin(f->s, 1, NULL, &ck), 0);
    weir_ckpt *dup;
    assert_int_equal(weir_ckpt_begin(f->s, 1, NULL, &dup), -EEXIST);
    assert_int_equal(weir_ckpt_file_open(ck, "_metadata", &wf), -EINVAL);
    assert_int_equal(weir_ckpt_file_open(ck, ".hidden", &wf), -EINVAL);
    assert_int_equal(weir_ckpt_file_open(ck, "a/b", &wf), -EINVAL);
    assert_int_equal(weir_ckpt_file_open(ck, "x", &wf), 0);
    weir_ckpt_file *wf2;
    assert_int_equal(weir_ckpt_file_open(ck, "x", &wf2), -EEXIST);
    assert_int_equal(weir_ckpt_file_submit(wf), 0);
    /* An entry naming a file this checkpoint did not write fails the commit. */
    struct weir_ckpt_entry e = {.operator_uid = "op", .file = "ghost"};
    struct weir_ckpt_meta m = {.entry_count = 1, .entries = &e};
    assert_int_equal(weir_ckpt_commit(ck, &m), 0);
    assert_int_equal(weir_ckpt_wait(ck, 30000), -ENOENT);
    assert_non_null(strstr(weir_ckpt_error(ck), "ghost"));
    assert_false(path_exists("%s/job/chk-1", f->dir));
    weir_ckpt_release(ck);
    weir_ckpt_release(NULL);
}

int main(void)
{
    require_io_uring();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(sections_spanning_blocks_read_back, setup, teardown),
        cmocka_unit_test_setup_teardown(section_reader_stops_at_the_section_end, setup, teardown),
        cmocka_unit_test_setup_teardown(zero_copy_and_block_boundary_and_ack, setup, teardown),
        cmocka_unit_test_setup_teardown(large_footer_empty_file_and_fileless_entry, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(block_checksum_catches_a_flipped_byte_on_read, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(file_names_and_bad_input, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
