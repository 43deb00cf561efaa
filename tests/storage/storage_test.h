/*
 * Helpers only the checkpoint storage tests share, on top of tests/support/weir_test.h
 * (scratch directories): a storage whose log lines are kept for assertions, deterministic
 * state files, and ways to damage files on disk. Each test program includes this once.
 */
#ifndef WEIR_STORAGE_TEST_H
#define WEIR_STORAGE_TEST_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <liburing.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <weir/storage.h>
#include <weir/storage_test_hooks.h>

#include "weir_test.h"

/* ---- skip when io_uring is missing (exit 77, as ctest's SKIP_RETURN_CODE) ----------- */

static __attribute__((unused)) void require_io_uring(void)
{
    struct io_uring ring;
    int rc = io_uring_queue_init(4, &ring, 0);
    if (rc < 0) {
        fprintf(stderr, "skip: io_uring unavailable: %s\n", strerror(-rc));
        exit(77);
    }
    io_uring_queue_exit(&ring);
}

/* ---- files ---------------------------------------------------------------------------- */

static __attribute__((unused)) bool path_exists(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
static __attribute__((unused)) bool path_exists(const char *fmt, ...)
{
    char p[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p, sizeof p, fmt, ap);
    va_end(ap);
    struct stat st;
    return stat(p, &st) == 0;
}

/* ---- a log that tests can read ------------------------------------------------------- */

struct logbuf {
    pthread_mutex_t mu;
    char lines[32][512];
    int n;
};

static __attribute__((unused)) void log_keep(void *arg, const char *line)
{
    struct logbuf *l = arg;
    pthread_mutex_lock(&l->mu);
    if (l->n < 32)
        snprintf(l->lines[l->n++], sizeof l->lines[0], "%s", line);
    pthread_mutex_unlock(&l->mu);
    fprintf(stderr, "[log] weir: %s\n", line);
}

static __attribute__((unused)) bool log_has(struct logbuf *l, const char *needle)
{
    bool found = false;
    pthread_mutex_lock(&l->mu);
    for (int i = 0; i < l->n && !found; i++)
        found = strstr(l->lines[i], needle) != NULL;
    pthread_mutex_unlock(&l->mu);
    return found;
}

/* ---- storage ------------------------------------------------------------------------- */

struct fx {
    const char *dir; /* a scratch directory of tests/support */
    weir_storage *s;
    struct logbuf log;
    struct weir_storage_opts o;
};

static __attribute__((unused)) weir_storage *fx_open(struct fx *f)
{
    char err[512] = "";
    f->o.dir = f->dir;
    if (!f->o.job)
        f->o.job = "job";
    f->o.log = log_keep;
    f->o.log_arg = &f->log;
    int rc = weir_storage_open(&f->o, &f->s, err, sizeof err);
    if (rc < 0)
        fail_msg("weir_storage_open: %s (%d)", err, rc);
    return f->s;
}

static __attribute__((unused)) struct fx *fx_new(const char *tag)
{
    struct fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    pthread_mutex_init(&f->log.mu, NULL);
    char name[64];
    snprintf(name, sizeof name, "storage-%s", tag);
    f->dir = wt_tmp_dir(name);
    f->o.buffer_size = 64 << 10; /* small: several blocks per file in the tests */
    f->o.pool_bytes = 4 << 20;
    f->o.num_retained = 3;
    return f;
}

static __attribute__((unused)) void fx_close(struct fx *f)
{
    weir_storage_close(f->s);
    f->s = NULL;
}

static __attribute__((unused)) void fx_free(struct fx *f)
{
    if (!f)
        return;
    fx_close(f);
    wt_rm_tree(f->dir); /* now: the next test's files need the room */
    free(f);
}

/* ---- deterministic contents ---------------------------------------------------------- */

static __attribute__((unused)) uint8_t pattern_byte(uint64_t seed, uint64_t i)
{
    uint64_t x = (seed + 1) * 0x9e3779b97f4a7c15ull + i * 0xbf58476d1ce4e5b9ull;
    x ^= x >> 29;
    return (uint8_t)(x * 0x94d049bb133111ebull >> 56);
}

static __attribute__((unused)) void fill_pattern(uint8_t *p, size_t n, uint64_t seed,
                                                 uint64_t start)
{
    for (size_t i = 0; i < n; i++)
        p[i] = pattern_byte(seed, start + i);
}

/* Writes nsec sections of sec_bytes each (section k tagged k, seeded seed + k) through the
 * snapshot_out sink, in odd-sized pieces, and submits. */
static __attribute__((unused)) int write_state(weir_ckpt *ck, const char *name, unsigned nsec,
                                               size_t sec_bytes, uint64_t seed)
{
    weir_ckpt_file *f;
    int rc = weir_ckpt_file_open(ck, name, &f);
    if (rc < 0)
        return rc;
    uint8_t *buf = malloc(sec_bytes ? sec_bytes : 1);
    assert_non_null(buf);
    for (unsigned k = 0; k < nsec; k++) {
        if ((rc = weir_ckpt_file_section_begin(f, k)) < 0)
            break;
        fill_pattern(buf, sec_bytes, seed + k, 0);
        struct weir_snapshot_out *out = weir_ckpt_file_out(f);
        for (size_t off = 0; off < sec_bytes && rc == 0;) {
            size_t n = sec_bytes - off < 7777 ? sec_bytes - off : 7777;
            rc = out->write(out, buf + off, n);
            off += n;
        }
        if (rc < 0)
            break;
    }
    free(buf);
    if (rc < 0) {
        weir_ckpt_file_abort(f, rc);
        return rc;
    }
    return weir_ckpt_file_submit(f);
}

/* Reads section k of name back and compares with write_state's pattern. */
static __attribute__((unused)) void check_state(weir_restore *r, const char *name, unsigned nsec,
                                                size_t sec_bytes, uint64_t seed)
{
    weir_restore_file *f;
    assert_int_equal(weir_restore_file_open(r, name, &f), 0);
    assert_int_equal(weir_restore_file_section_count(f), nsec);
    uint8_t *got = malloc(sec_bytes + 1), *want = malloc(sec_bytes + 1);
    assert_non_null(got);
    assert_non_null(want);
    for (unsigned k = 0; k < nsec; k++) {
        uint64_t tag, len;
        assert_int_equal(weir_restore_file_section(f, k, &tag, &len), 0);
        assert_int_equal(tag, k);
        assert_int_equal(len, sec_bytes);
        struct weir_snapshot_in *in = weir_restore_file_section_in(f, k);
        assert_non_null(in);
        if (sec_bytes)
            assert_int_equal(in->read(in, got, sec_bytes), 0);
        fill_pattern(want, sec_bytes, seed + k, 0);
        assert_memory_equal(got, want, sec_bytes);
        assert_int_equal(in->read(in, got, 1), -ENODATA);
    }
    free(got);
    free(want);
    weir_restore_file_close(f);
}

/* Begins checkpoint id, writes one state file per name, commits with one entry per file, and
 * waits. Returns the checkpoint's status. */
static __attribute__((unused)) int checkpoint(weir_storage *s, uint64_t id, const char **names,
                                              unsigned nfiles, unsigned nsec, size_t sec_bytes,
                                              const char **shared, unsigned nshared)
{
    weir_ckpt *ck;
    int rc = weir_ckpt_begin(s, id, NULL, &ck);
    if (rc < 0)
        return rc;
    struct weir_ckpt_entry ents[16];
    struct weir_ckpt_shared sh[16];
    memset(ents, 0, sizeof ents);
    memset(sh, 0, sizeof sh);
    for (unsigned i = 0; i < nfiles; i++) {
        rc = write_state(ck, names[i], nsec, sec_bytes, id * 100 + i);
        ents[i] = (struct weir_ckpt_entry){.operator_uid = "op",
                                           .subtask = i,
                                           .parallelism = nfiles,
                                           .kg_first = i,
                                           .kg_last = i,
                                           .file = names[i]};
    }
    for (unsigned i = 0; i < nshared; i++)
        sh[i].name = shared[i];
    struct weir_ckpt_meta m = {.entry_count = nfiles,
                               .entries = ents,
                               .shared_count = nshared,
                               .shared = sh,
                               .max_parallelism = 128};
    if (weir_ckpt_commit(ck, &m) < 0 && rc == 0)
        rc = weir_ckpt_status(ck);
    int st = weir_ckpt_wait(ck, 30000);
    weir_ckpt_release(ck);
    return st;
}

/* ---- damaging files ------------------------------------------------------------------ */

static __attribute__((unused)) void flip_byte(const char *path, off_t off)
{
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    uint8_t b;
    assert_int_equal(pread(fd, &b, 1, off), 1);
    b ^= 0x5a;
    assert_int_equal(pwrite(fd, &b, 1, off), 1);
    close(fd);
}

static __attribute__((unused)) off_t file_size(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return st.st_size;
}

static __attribute__((unused)) double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#endif
