/*
 * Checkpoint storage on an S3-compatible store (state.checkpoints.dir s3://bucket/prefix),
 * through the storage API against the s3proxy fixture's server: a second writer's _metadata
 * already in the store fails the checkpoint (If-None-Match: *, HTTP 412) and is left as it
 * was; a state file goes up as soon as it is durable, before the commit; a state file larger
 * than a part goes up in parts and comes back whole on another host. Skips (77) with the fixture's
 * reason when there is no server.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../storage/storage_test.h"

#include "remote.h" /* REMOTE_PART_BYTES */
#include "s3.h"
#include "s3_fixture.h"

static char prefix[64];

/* A storage on s3://<bucket>/<prefix>/<test> with its local copy in a scratch "host". */
static weir_storage *open_remote(struct fx *f, const char *test, const char *host, char *url,
                                 size_t len)
{
    snprintf(url, len, "s3://%s/%s/%s", getenv("WEIR_S3_BUCKET"), prefix, test);
    struct weir_storage_opts o = f->o;
    o.dir = url;
    o.job = "job";
    o.s3_endpoint = getenv("WEIR_S3_ENDPOINT");
    o.local_dir = wt_tmp_dir(host);
    o.log = log_keep;
    o.log_arg = &f->log;
    weir_storage *s;
    char err[1024];
    if (weir_storage_open(&o, &s, err, sizeof err) < 0)
        fail_msg("weir_storage_open %s: %s", url, err);
    return s;
}

static struct weir_s3 *open_s3(void)
{
    struct weir_s3 *s3;
    char err[512];
    if (weir_s3_open(&(struct weir_s3_config){.endpoint = getenv("WEIR_S3_ENDPOINT"),
                                              .bucket = getenv("WEIR_S3_BUCKET")},
                     &s3, err, sizeof err))
        fail_msg("weir_s3_open: %s", err);
    return s3;
}

static int setup(void **state)
{
    *state = fx_new("s3");
    return 0;
}

static int teardown(void **state)
{
    fx_free(*state);
    return 0;
}

static void metadata_already_in_the_store_fails_the_checkpoint(void **state)
{
    struct fx *f = *state;
    char url[256], key[256];
    weir_storage *s = open_remote(f, "race", "race-host", url, sizeof url);
    uint64_t id = weir_storage_next_id(s);
    /* Another writer of the same job completes chk-<id> first. */
    struct weir_s3 *other = open_s3();
    snprintf(key, sizeof key, "%s/race/job/chk-%llu/_metadata", prefix, (unsigned long long)id);
    assert_int_equal(weir_s3_put(other, key, "theirs", 6), 0);

    weir_ckpt *ck;
    assert_int_equal(weir_ckpt_begin(s, id, NULL, &ck), 0);
    assert_int_equal(write_state(ck, "a", 2, 1000, 1), 0);
    struct weir_ckpt_entry e = {.operator_uid = "op", .parallelism = 1, .file = "a"};
    struct weir_ckpt_meta m = {.entry_count = 1, .entries = &e, .max_parallelism = 128};
    assert_int_equal(weir_ckpt_commit(ck, &m), 0);
    assert_int_equal(weir_ckpt_wait(ck, 30000), -EEXIST);
    assert_int_equal(weir_ckpt_state(ck), WEIR_CKPT_FAILED);
    const char *why = weir_ckpt_error(ck);
    assert_non_null(strstr(why, "state.checkpoints.dir"));
    assert_non_null(strstr(why, "exists already"));
    weir_ckpt_release(ck);
    /* not complete here either */
    weir_restore *r;
    assert_int_equal(weir_restore_open_latest(s, 0, &r), -ENOENT);
    /* and once the uploader has done all it was given (close drains it), the failed
     * checkpoint's clean-up has left the other writer's _metadata as it was */
    weir_storage_close(s);
    uint8_t *got;
    size_t len;
    assert_int_equal(weir_s3_get(other, key, &got, &len), 0);
    assert_int_equal(len, 6);
    assert_memory_equal(got, "theirs", 6);
    free(got);
    /* the storage is not broken: the next checkpoint completes */
    s = open_remote(f, "race", "race-host", url, sizeof url);
    const char *names[] = {"a"};
    assert_int_equal(checkpoint(s, weir_storage_next_id(s), names, 1, 2, 1000, NULL, 0), 0);
    weir_storage_close(s);
    weir_s3_close(other);
}

/* Waits up to 10 s for key to be in the store (uploaded in the background). */
static void wait_for_object(struct weir_s3 *s3, const char *key)
{
    uint8_t *got = NULL;
    size_t len;
    int rc = -ENOENT;
    for (int i = 0; i < 1000 && rc == -ENOENT; i++) {
        if ((rc = weir_s3_get(s3, key, &got, &len)) == -ENOENT)
            usleep(10000);
    }
    if (rc != 0)
        fail_msg("%s: not in the store after 10 s: %s", key, weir_s3_error(s3));
    free(got);
}

/* A state file goes to the store as soon as it is durable, while the checkpoint is still
 * being written (no commit asked yet): the upload overlaps the other subtasks' snapshots. */
static void a_durable_file_is_uploaded_before_the_commit(void **state)
{
    struct fx *f = *state;
    char url[256], key[256];
    weir_storage *s = open_remote(f, "early", "early-host", url, sizeof url);
    weir_ckpt *ck;
    assert_int_equal(weir_ckpt_begin(s, 1, NULL, &ck), 0);
    assert_int_equal(write_state(ck, "a", 2, 1000, 1), 0);
    struct weir_s3 *s3 = open_s3();
    snprintf(key, sizeof key, "%s/early/job/chk-1/a", prefix);
    wait_for_object(s3, key);
    assert_int_equal(weir_ckpt_state(ck), WEIR_CKPT_WRITING);
    uint8_t *got = NULL;
    size_t len;
    snprintf(key, sizeof key, "%s/early/job/chk-1/_metadata", prefix);
    assert_int_equal(weir_s3_get(s3, key, &got, &len), -ENOENT);
    struct weir_ckpt_entry e = {.operator_uid = "op", .parallelism = 1, .file = "a"};
    struct weir_ckpt_meta m = {.entry_count = 1, .entries = &e, .max_parallelism = 128};
    assert_int_equal(weir_ckpt_commit(ck, &m), 0);
    assert_int_equal(weir_ckpt_wait(ck, 30000), 0);
    assert_int_equal(weir_s3_get(s3, key, &got, &len), 0);
    free(got);
    weir_ckpt_release(ck);
    weir_storage_close(s);
    weir_s3_close(s3);
}

/* An aborted checkpoint leaves nothing in the store: its files went up as soon as they were
 * durable, and the abort deletes them (a job stopped mid-checkpoint left chk-N without
 * _metadata beside the retained ones). */
static void an_aborted_checkpoint_leaves_no_objects(void **state)
{
    struct fx *f = *state;
    char url[256], key[256];
    weir_storage *s = open_remote(f, "aborted", "aborted-host", url, sizeof url);
    weir_ckpt *ck;
    assert_int_equal(weir_ckpt_begin(s, 1, NULL, &ck), 0);
    assert_int_equal(write_state(ck, "a", 2, 1000, 1), 0);
    struct weir_s3 *s3 = open_s3();
    snprintf(key, sizeof key, "%s/aborted/job/chk-1/a", prefix);
    wait_for_object(s3, key); /* uploaded while the checkpoint ran */
    weir_ckpt_abort(ck, -ECANCELED);
    weir_ckpt_wait(ck, 30000);
    weir_ckpt_release(ck);
    weir_storage_close(s); /* the uploader has done what was queued when this returns */
    struct weir_s3_list l = {0};
    snprintf(key, sizeof key, "%s/aborted/job/chk-1/", prefix);
    assert_int_equal(weir_s3_list(s3, key, NULL, 0, &l), 0);
    if (l.n)
        fail_msg("%zu objects of the aborted checkpoint left in the store, e.g. %s", l.n,
                 l.keys[0]);
    weir_s3_list_free(&l);
    weir_s3_close(s3);
}

/* A checkpoint whose object is gone from the store is skipped with a line saying so, for
 * the one before it, as a corrupt local checkpoint is: the job still starts. */
static void a_damaged_remote_checkpoint_falls_back_to_the_one_before(void **state)
{
    struct fx *f = *state;
    char url[256], key[256];
    weir_storage *s = open_remote(f, "damaged", "damaged-host-a", url, sizeof url);
    const char *names[] = {"a"};
    assert_int_equal(checkpoint(s, 1, names, 1, 2, 1000, NULL, 0), 0);
    assert_int_equal(checkpoint(s, 2, names, 1, 2, 1000, NULL, 0), 0);
    weir_storage_close(s);
    struct weir_s3 *s3 = open_s3();
    snprintf(key, sizeof key, "%s/damaged/job/chk-2/a", prefix);
    assert_int_equal(weir_s3_delete(s3, key), 0);
    weir_s3_close(s3);

    f->o.num_retained = 2;
    s = open_remote(f, "damaged", "damaged-host-b", url, sizeof url);
    assert_true(log_has(&f->log, "chk-2 in s3://"));
    assert_true(log_has(&f->log, "is unusable"));
    weir_restore *r;
    assert_int_equal(weir_restore_open_latest(s, 0, &r), 0);
    assert_int_equal(weir_restore_meta(r)->checkpoint_id, 1);
    check_state(r, "a", 2, 1000, 100);
    weir_restore_close(r);
    assert_int_equal(weir_storage_next_id(s), 3);
    weir_storage_close(s);
}

static void large_file_goes_in_parts_and_comes_back_elsewhere(void **state)
{
    struct fx *f = *state;
    char url[256];
    weir_storage *s = open_remote(f, "parts", "parts-host-a", url, sizeof url);
    const char *names[] = {"big"};
    size_t sec = REMOTE_PART_BYTES / 3 + 12345; /* 4 sections: two full parts and a tail */
    assert_int_equal(checkpoint(s, 1, names, 1, 4, sec, NULL, 0), 0);
    weir_storage_close(s);

    s = open_remote(f, "parts", "parts-host-b", url, sizeof url);
    assert_true(log_has(&f->log, "chk-1: downloaded from"));
    weir_restore *r;
    assert_int_equal(weir_restore_open_latest(s, 0, &r), 0);
    check_state(r, "big", 4, sec, 100);
    weir_restore_close(r);
    weir_storage_close(s);
}

int main(void)
{
    s3_fixture_load(prefix, sizeof prefix);
    require_io_uring();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(metadata_already_in_the_store_fails_the_checkpoint, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_durable_file_is_uploaded_before_the_commit, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(an_aborted_checkpoint_leaves_no_objects, setup, teardown),
        cmocka_unit_test_setup_teardown(a_damaged_remote_checkpoint_falls_back_to_the_one_before,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(large_file_goes_in_parts_and_comes_back_elsewhere, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
