/*
 * Restoring an incremental RocksDB checkpoint rebuilds the instance from what its state file
 * lists: shared SSTs linked under a local name (TAG_ROCKS_SHARED) and small files written
 * under theirs (TAG_ROCKS_FILE). Those names and sizes come from a file on disk, perhaps a
 * savepoint someone else handed over: a name that leaves the scratch directory or a size past
 * the section is refused, and nothing is written outside.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <weir/config.h>
#include <weir/state_backend.h>
#include <weir/storage.h>

#include "checkpoint_rocksdb.h"
#include "state_private.h"
#include "storage_format.h"
#include "weir_test.h"

#define MAXP 128u

struct ckpt {
    char chk[4096];
    weir_state_env *env;
    weir_keyed_backend *be;
    weir_restore *r;
    weir_restore_file *f;
};

static void write_file(const char *dir, const char *name, const void *buf, size_t len)
{
    char path[8192];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(buf, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

/* Checkpoint 1 of one operator "op" whose state file is the sections section() wrote into m,
 * listing one shared file "000001.sst" (written to ../shared), opened for restore with a
 * RocksDB backend for every key group. */
static void open_ckpt(struct ckpt *c, const char *tag, void (*section)(struct fmt_mem *m))
{
    char err[512], rocks[4200], shared[4200];
    const char *root = wt_tmp_dir(tag);
    snprintf(c->chk, sizeof c->chk, "%s/chk-1", root);
    snprintf(shared, sizeof shared, "%s/shared", root);
    snprintf(rocks, sizeof rocks, "%s/rocksdb", root);
    assert_int_equal(mkdir(c->chk, 0700), 0);
    assert_int_equal(mkdir(shared, 0700), 0);
    write_file(shared, "000001.sst", "not an sst", 10);

    struct fmt_mem m;
    uint64_t sum;
    fmt_mem_init(&m, FMT_KIND_STATE, FMT_ALIGN, 1);
    section(&m);
    assert_int_equal(fmt_mem_finish(&m, &sum), 0);
    write_file(c->chk, "op-0", m.buf, m.len);
    struct weir_ckpt_entry e = {.operator_uid = "op",
                                .parallelism = 1,
                                .kg_last = MAXP - 1,
                                .file = "op-0",
                                .size_bytes = m.len,
                                .checksum = sum};
    struct weir_ckpt_shared sh = {.name = "000001.sst", .size_bytes = 10};
    uint64_t size;
    char path[8192];
    snprintf(path, sizeof path, "%s/000001.sst", shared);
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(fmt_hash_fd(fd, &size, &sh.checksum), 0);
    close(fd);
    struct weir_ckpt_meta meta = {.checkpoint_id = 1,
                                  .job = "job",
                                  .max_parallelism = MAXP,
                                  .entry_count = 1,
                                  .entries = &e,
                                  .shared_count = 1,
                                  .shared = &sh};
    fmt_mem_free(&m);
    assert_int_equal(meta_encode(&meta, 1, &m), 0);
    write_file(c->chk, "_metadata", m.buf, m.len);
    fmt_mem_free(&m);

    weir_config *cfg = wt_config_new(NULL);
    wt_config_set(cfg, "state.backend=rocksdb");
    wt_config_set(cfg, "state.backend.rocksdb.localdir=%s", rocks);
    wt_config_resolve(cfg);
    assert_int_equal(weir_state_env_new(cfg, "job", &c->env, err, sizeof err), 0);
    weir_config_free(cfg);
    if (weir_keyed_backend_open(c->env, "op", 0, 0, MAXP - 1, MAXP, -1, &c->be, err, sizeof err))
        fail_msg("%s", err);
    if (weir_restore_open_dir(c->chk, 0, &c->r, err, sizeof err) < 0)
        fail_msg("%s", err);
    assert_int_equal(weir_restore_file_open(c->r, "op-0", &c->f), 0);
}

static void close_ckpt(struct ckpt *c)
{
    weir_restore_file_close(c->f);
    weir_restore_close(c->r);
    weir_keyed_backend_close(c->be);
    weir_state_env_free(c->env);
}

/* The directory the backend's scratch directory (<instance>.restore) sits in. */
static void parent_of_scratch(weir_keyed_backend *be, char *buf, size_t len)
{
    rocksdb_t *db;
    rocksdb_options_t *opts;
    rocksdb_writeoptions_t *wo;
    const char *dir;
    rdb_handles(be, &db, &opts, &wo, &dir);
    char copy[4096];
    snprintf(copy, sizeof copy, "%s", dir);
    snprintf(buf, len, "%s", dirname(copy));
}

static bool exists_in(const char *dir, const char *name)
{
    char path[8192];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return lstat(path, &st) == 0;
}

static void small_file_named_up(struct fmt_mem *m)
{
    fmt_mem_section(m, TAG_ROCKS_FILE | 0);
    fmt_mem_str(m, "../escaped");
    fmt_mem_u64(m, 5);
    fmt_mem_put(m, "owned", 5);
}

static void small_file_name_leaving_the_scratch_directory_is_refused(void **state)
{
    struct ckpt c;
    char err[512] = "", parent[4096];
    open_ckpt(&c, "incr-small-name", small_file_named_up);
    parent_of_scratch(c.be, parent, sizeof parent);
    int rc = rocks_incremental_restore(c.be, c.r, c.f, 0, MAXP - 1, err, sizeof err);
    assert_false(exists_in(parent, "escaped"));
    assert_int_equal(rc, -EBADMSG);
    assert_non_null(strstr(err, "names a RocksDB file \"../escaped\", not a plain file name"));
    close_ckpt(&c);
}

static void shared_file_linked_up(struct fmt_mem *m)
{
    fmt_mem_section(m, TAG_ROCKS_SHARED);
    fmt_mem_u32(m, 1);
    fmt_mem_str(m, "000001.sst");
    fmt_mem_str(m, "../linked");
}

static void shared_file_local_name_leaving_the_scratch_directory_is_refused(void **state)
{
    struct ckpt c;
    char err[512] = "", parent[4096];
    open_ckpt(&c, "incr-shared-name", shared_file_linked_up);
    parent_of_scratch(c.be, parent, sizeof parent);
    int rc = rocks_incremental_restore(c.be, c.r, c.f, 0, MAXP - 1, err, sizeof err);
    assert_false(exists_in(parent, "linked"));
    assert_int_equal(rc, -EBADMSG);
    assert_non_null(strstr(err, "\"../linked\", not a plain file name"));
    close_ckpt(&c);
}

static void small_file_larger_than_its_section(struct fmt_mem *m)
{
    fmt_mem_section(m, TAG_ROCKS_FILE | 0);
    fmt_mem_str(m, "OPTIONS-000001");
    fmt_mem_u64(m, 1ull << 50);
    fmt_mem_put(m, "short", 5);
}

/* A size is checked against the section before anything is allocated for it. */
static void small_file_size_past_its_section_is_refused(void **state)
{
    struct ckpt c;
    char err[512] = "";
    open_ckpt(&c, "incr-small-size", small_file_larger_than_its_section);
    int rc = rocks_incremental_restore(c.be, c.r, c.f, 0, MAXP - 1, err, sizeof err);
    assert_int_equal(rc, -EBADMSG);
    assert_non_null(strstr(err, "more than its section holds"));
    close_ckpt(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(small_file_name_leaving_the_scratch_directory_is_refused),
        cmocka_unit_test(shared_file_local_name_leaving_the_scratch_directory_is_refused),
        cmocka_unit_test(small_file_size_past_its_section_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
