/*
 * Recovery falls back past a latest checkpoint that is corrupt (a flipped byte), truncated,
 * or missing its _metadata, to the previous retained one, and says so in one log line; the
 * one it skipped no longer counts as retained.
 */
#include "storage_test.h"

static const char *NAMES[] = {"window-0", "window-1"};

/* chk-6 and chk-7 complete, retained. */
static int setup(void **state)
{
    struct fx *f = fx_new("recovery");
    f->o.num_retained = 2;
    fx_open(f);
    for (uint64_t id = 6; id <= 7; id++)
        assert_int_equal(checkpoint(f->s, id, NAMES, 2, 4, 30000, NULL, 0), 0);
    fx_close(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_free(*state);
    return 0;
}

static void expect_fallback_to_6(struct fx *f, const char *line)
{
    fx_open(f);
    weir_restore *r;
    assert_int_equal(weir_restore_open_latest(f->s, 0, &r), 0);
    assert_int_equal(weir_restore_meta(r)->checkpoint_id, 6);
    check_state(r, "window-0", 4, 30000, 600);
    check_state(r, "window-1", 4, 30000, 601);
    weir_restore_close(r);
    if (!log_has(&f->log, line))
        fail_msg("no log line \"%s\"", line);
    /* chk-7 no longer counts: the next checkpoint is 8, and its retention removes chk-7. */
    assert_int_equal(weir_storage_next_id(f->s), 8);
    assert_int_equal(checkpoint(f->s, 8, NAMES, 2, 1, 10, NULL, 0), 0);
    assert_false(path_exists("%s/job/chk-7", f->dir));
    assert_true(path_exists("%s/job/chk-6/_metadata", f->dir));
    assert_true(path_exists("%s/job/chk-8/_metadata", f->dir));
}

static void flipped_byte_in_a_state_file(void **state)
{
    struct fx *f = *state;
    char p[600];
    snprintf(p, sizeof p, "%s/job/chk-7/window-1", f->dir);
    flip_byte(p, 64 + 70000);
    expect_fallback_to_6(f, "checkpoint chk-7 is corrupt (window-1: block 1 checksum "
                            "mismatch): using chk-6");
}

static void flipped_byte_in_a_header(void **state)
{
    struct fx *f = *state;
    char p[600];
    snprintf(p, sizeof p, "%s/job/chk-7/window-0", f->dir);
    flip_byte(p, 30);
    expect_fallback_to_6(f, "checkpoint chk-7 is corrupt (window-0: header checksum "
                            "mismatch): using chk-6");
}

static void truncated_state_file(void **state)
{
    struct fx *f = *state;
    char p[600];
    snprintf(p, sizeof p, "%s/job/chk-7/window-0", f->dir);
    off_t size = file_size(p);
    assert_int_equal(truncate(p, size - 100), 0);
    char line[256];
    snprintf(line, sizeof line,
             "checkpoint chk-7 is corrupt (window-0: truncated: %lld bytes, "
             "_metadata says %lld): using chk-6",
             (long long)size - 100, (long long)size);
    expect_fallback_to_6(f, line);
}

static void missing_state_file(void **state)
{
    struct fx *f = *state;
    char p[600];
    snprintf(p, sizeof p, "%s/job/chk-7/window-1", f->dir);
    assert_int_equal(unlink(p), 0);
    expect_fallback_to_6(f, "checkpoint chk-7 is corrupt (window-1: No such file or "
                            "directory): using chk-6");
}

static void missing_metadata(void **state)
{
    struct fx *f = *state;
    char p[600];
    snprintf(p, sizeof p, "%s/job/chk-7/_metadata", f->dir);
    assert_int_equal(unlink(p), 0);
    expect_fallback_to_6(f, "checkpoint chk-7 is incomplete (no _metadata): using chk-6");
}

static void truncated_metadata(void **state)
{
    struct fx *f = *state;
    char p[600];
    snprintf(p, sizeof p, "%s/job/chk-7/_metadata", f->dir);
    assert_int_equal(truncate(p, file_size(p) / 2), 0);
    expect_fallback_to_6(f, "checkpoint chk-7 is corrupt (_metadata: truncated or overwritten "
                            "(no trailer)): using chk-6");
}

static void flipped_byte_in_metadata(void **state)
{
    struct fx *f = *state;
    char p[600];
    snprintf(p, sizeof p, "%s/job/chk-7/_metadata", f->dir);
    flip_byte(p, 100);
    expect_fallback_to_6(f, "checkpoint chk-7 is corrupt (_metadata: block 0 checksum "
                            "mismatch): using chk-6");
}

/* QUICK skips reading contents: a flipped payload byte is found later, when read. */
static void quick_checks_structure_only(void **state)
{
    struct fx *f = *state;
    char p[600];
    snprintf(p, sizeof p, "%s/job/chk-7/window-1", f->dir);
    flip_byte(p, 64 + 70000);
    fx_open(f);
    weir_restore *r;
    assert_int_equal(weir_restore_open_latest(f->s, WEIR_RESTORE_QUICK, &r), 0);
    assert_int_equal(weir_restore_meta(r)->checkpoint_id, 7);
    weir_restore_close(r);
    /* A truncated file is found by QUICK too. */
    snprintf(p, sizeof p, "%s/job/chk-7/window-0", f->dir);
    assert_int_equal(truncate(p, file_size(p) - 1), 0);
    assert_int_equal(weir_restore_open_latest(f->s, WEIR_RESTORE_QUICK, &r), 0);
    assert_int_equal(weir_restore_meta(r)->checkpoint_id, 6);
    weir_restore_close(r);
}

static void every_checkpoint_corrupt(void **state)
{
    struct fx *f = *state;
    char p[600];
    for (int id = 6; id <= 7; id++) {
        snprintf(p, sizeof p, "%s/job/chk-%d/window-0", f->dir, id);
        flip_byte(p, 64 + 10);
    }
    fx_open(f);
    weir_restore *r;
    assert_int_equal(weir_restore_open_latest(f->s, 0, &r), -EBADMSG);
    assert_true(log_has(&f->log, "checkpoint chk-7 is corrupt (window-0: block 0 checksum "
                                 "mismatch): no earlier complete checkpoint"));
    assert_true(log_has(&f->log, "checkpoint chk-6 is corrupt (window-0: block 0 checksum "
                                 "mismatch): no earlier complete checkpoint"));
}

/* A state file of chk-6 copied over chk-7's: valid on its own, but not what chk-7 wrote. */
static void state_file_from_another_checkpoint(void **state)
{
    struct fx *f = *state;
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "cp '%s/job/chk-6/window-0' '%s/job/chk-7/window-0'", f->dir, f->dir);
    assert_int_equal(system(cmd), 0);
    fx_open(f);
    weir_restore *r;
    assert_int_equal(weir_restore_open_latest(f->s, 0, &r), 0);
    assert_int_equal(weir_restore_meta(r)->checkpoint_id, 6);
    weir_restore_close(r);
    assert_true(log_has(&f->log, "checkpoint chk-7 is corrupt (window-0: "));
}

int main(void)
{
    require_io_uring();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(flipped_byte_in_a_state_file, setup, teardown),
        cmocka_unit_test_setup_teardown(flipped_byte_in_a_header, setup, teardown),
        cmocka_unit_test_setup_teardown(truncated_state_file, setup, teardown),
        cmocka_unit_test_setup_teardown(missing_state_file, setup, teardown),
        cmocka_unit_test_setup_teardown(missing_metadata, setup, teardown),
        cmocka_unit_test_setup_teardown(truncated_metadata, setup, teardown),
        cmocka_unit_test_setup_teardown(flipped_byte_in_metadata, setup, teardown),
        cmocka_unit_test_setup_teardown(quick_checks_structure_only, setup, teardown),
        cmocka_unit_test_setup_teardown(every_checkpoint_corrupt, setup, teardown),
        cmocka_unit_test_setup_teardown(state_file_from_another_checkpoint, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
