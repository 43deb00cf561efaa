/*
 * Checkpoint files of an older format version are refused with a message that says so
 * (format version 2: state files describe themselves and _metadata entries name their
 * backend; version 1 files cannot be checked that way, and no released weir wrote them).
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include <weir/storage.h>

#include "storage/storage_format.h"
#include "weir_test.h"

/* A _metadata with no entries, valid in every checksum, whose header says version. */
static void write_metadata_of_version(const char *dir, uint32_t version)
{
    struct fmt_mem m;
    struct weir_ckpt_meta meta = {.job = "old", .max_parallelism = 128};
    assert_int_equal(meta_encode(&meta, 3, &m), 0);
    /* meta_encode wrote the header of today's version: rewrite it and every checksum */
    struct fmt_mem v;
    fmt_mem_init(&v, FMT_KIND_METADATA, FMT_META_BLOCK, 3);
    put_u32(v.buf + 8, version);
    put_u64(v.buf + 56, XXH3_64bits(v.buf, 56));
    uint64_t data_end = get_u64(m.buf + m.len - FMT_TRAILER_SIZE);
    /* sections as encoded, in order */
    size_t nsec = get_u64(m.buf + data_end + 8);
    for (size_t i = 0; i < nsec; i++) {
        const uint8_t *s = m.buf + data_end + FMT_FOOTER_FIXED + i * FMT_SECTION_SIZE;
        fmt_mem_section(&v, get_u64(s));
        fmt_mem_put(&v, m.buf + get_u64(s + 8), get_u64(s + 16));
    }
    assert_int_equal(fmt_mem_finish(&v, NULL), 0);
    char path[4096];
    snprintf(path, sizeof path, "%s/_metadata", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, v.buf, v.len), (ssize_t)v.len);
    close(fd);
    fmt_mem_free(&m);
    fmt_mem_free(&v);
}

static void today_s_version_restores(void **state)
{
    const char *dir = wt_tmp_dir("version-now");
    write_metadata_of_version(dir, FMT_VERSION);
    weir_restore *r = NULL;
    char err[1024] = "";
    if (weir_restore_open_dir(dir, 0, &r, err, sizeof err) != 0)
        fail_msg("%s", err);
    weir_restore_close(r);
}

static void a_checkpoint_of_format_version_1_is_refused_as_older(void **state)
{
    const char *dir = wt_tmp_dir("version-1");
    write_metadata_of_version(dir, 1);
    weir_restore *r = NULL;
    char err[1024] = "";
    assert_int_equal(weir_restore_open_dir(dir, 0, &r, err, sizeof err), -EBADMSG);
    if (!strstr(err, dir) || !strstr(err, "format version 1, older than") || strchr(err, '\n'))
        fail_msg("the refusal does not say the version is older: %s", err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(today_s_version_restores),
        cmocka_unit_test(a_checkpoint_of_format_version_1_is_refused_as_older),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
