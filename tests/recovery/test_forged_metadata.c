/*
 * A _metadata whose checksums are right but whose entries do not describe the state files
 * they name (issue 9 item 7: the key-group ranges of two subtasks swapped, the state files of
 * two subtasks or two operators swapped, a subtask's entry left out) is refused at restore
 * with one line: for a file, naming it, the field, what _metadata says and what the file
 * says; for entries that contradict each other, the operator and subtask. Before, such a checkpoint
 * restored "successfully" with empty keyed state (each subtask looked for its key groups in a file
 * that holds others) or with another operator's state.
 *
 * The checkpoint is real (two keyed operators at parallelism 2, both backends, RocksDB
 * incremental too); the forgery rewrites its _metadata with the storage's own format code
 * (meta_decode, meta_encode), so every checksum in it is valid.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <weir/config.h>
#include <weir/weir.h>

#include "storage/storage_format.h"
#include "weir_test.h"

#define MAX_EVENTS 256

static struct {
    uint64_t id[MAX_EVENTS];
    int n;
    uint64_t savepoint; /* its id, 0: none completed */
} kept;                 /* completed checkpoints taken while the job ran (not the final one) */

static void on_checkpoint(void *arg, const struct weir_checkpoint_event *ev)
{
    if (ev->completed && ev->savepoint)
        kept.savepoint = ev->id;
    else if (ev->completed && !ev->final && kept.n < MAX_EVENTS)
        kept.id[kept.n++] = ev->id;
}

static void *savepoint_later(void *job)
{
    usleep(150 * 1000);
    weir_job_savepoint(job);
    return NULL;
}

/* datagen (paced, ~0.4 s) -> key_by -> "keep-a" -> key_by -> "keep-b" -> blackhole at
 * parallelism 2, checkpoints every 100 ms into dir, every one retained; a savepoint at
 * 0.15 s when asked. */
static int run_job(const char *backend, const char *dir, const char *from, bool savepoint,
                   char *err, size_t errlen)
{
    kept.n = 0;
    kept.savepoint = 0;
    weir_config *cfg = wt_config_new(WT_DEFS("execution.checkpointing.interval=100ms",
                                             "execution.checkpointing.num-retained=100",
                                             "restart-strategy.type=none"));
    wt_config_set(cfg, "state.checkpoints.dir=%s", dir);
    if (!strcmp(backend, "rocksdb-incremental")) {
        wt_config_set(cfg, "state.backend=rocksdb");
        wt_config_set(cfg, "state.backend.incremental=true");
    } else {
        wt_config_set(cfg, "state.backend=%s", backend);
    }
    wt_config_set(cfg, "state.backend.rocksdb.localdir=%s", wt_tmp_dir("forged-rocksdb"));
    wt_config_resolve(cfg);
    weir_job *job = weir_job_new("forged");
    struct weir_datagen_opts o = {.records = 1600, .keys = 64, .record_size = 24, .rate = 4000};
    weir_stream *s = weir_key_by(weir_source_datagen(job, "gen", &o), wt_datagen_key);
    s = weir_key_by(weir_keyed_transform(s, "keep-a", &wt_count_per_key_ops, NULL, NULL),
                    wt_datagen_key);
    weir_sink_blackhole(weir_keyed_transform(s, "keep-b", &wt_count_per_key_ops, NULL, NULL),
                        "sink");
    struct wt_run ro = {.parallelism = 2, .restore_from = from, .on_checkpoint = on_checkpoint};
    pthread_t t;
    if (savepoint)
        assert_int_equal(pthread_create(&t, NULL, savepoint_later, job), 0);
    int rc = wt_run(job, cfg, &ro, NULL, err, errlen);
    if (savepoint)
        pthread_join(t, NULL);
    weir_job_free(job);
    weir_config_free(cfg);
    return rc;
}

/* ckpt/_metadata decoded (the caller frees *mo); *id its checkpoint id. */
static struct meta_owned *read_metadata(const char *ckpt, uint64_t *id)
{
    int dfd = open(ckpt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_true(dfd >= 0);
    struct fmt_reader r;
    char why[512] = "";
    uint8_t *whole = NULL;
    if (fmt_reader_open(&r, dfd, "_metadata", 0, why, sizeof why) < 0 ||
        fmt_reader_verify(&r, 0, &whole, why, sizeof why) < 0)
        fail_msg("%s/_metadata: %s", ckpt, why);
    struct meta_owned *mo = NULL;
    if (meta_decode(whole, r.file_size, r.sec, r.nsec, &mo, why, sizeof why) < 0)
        fail_msg("%s/_metadata: %s", ckpt, why);
    *id = r.h.checkpoint_id;
    fmt_reader_close(&r);
    free(whole);
    close(dfd);
    return mo;
}

/* Whether every subtask of keep-a and keep-b has a state file in ckpt: a subtask that had
 * finished when the checkpoint was taken has none, and a forgery of its file would change
 * nothing (so the forgery would "restore"). */
static bool keyed_files_in(const char *ckpt)
{
    uint64_t id;
    struct meta_owned *mo = read_metadata(ckpt, &id);
    int files = 0;
    for (size_t i = 0; i < mo->meta.entry_count; i++) {
        const struct weir_ckpt_entry *e = &mo->meta.entries[i];
        if ((!strcmp(e->operator_uid, "keep-a") || !strcmp(e->operator_uid, "keep-b")) && e->file &&
            *e->file)
            files++;
    }
    free(mo);
    return files == 4;
}

/* A checkpoint taken while both keyed operators ran, "DIR/forged/chk-N" (the middle one of
 * those completed, or the latest before it whose keyed subtasks all have state files: under
 * load the middle one may come after some finished), or a savepoint,
 * "DIR/forged/savepoint-forged-N", in path. */
static void take_checkpoint(const char *backend, const char *tag, bool savepoint, char *path,
                            size_t len)
{
    const char *dir = wt_tmp_dir(tag);
    char err[1024] = "";
    assert_int_equal(run_job(backend, dir, NULL, savepoint, err, sizeof err), 0);
    if (savepoint && !kept.savepoint)
        fail_msg("the savepoint did not complete");
    if (kept.n < 1)
        fail_msg("no checkpoint completed while the job ran");
    if (savepoint) {
        snprintf(path, len, "%s/forged/savepoint-forged-%" PRIu64, dir, kept.savepoint);
        return;
    }
    for (int i = kept.n / 2; i >= 0; i--) {
        snprintf(path, len, "%s/forged/chk-%" PRIu64, dir, kept.id[i]);
        if (keyed_files_in(path))
            return;
    }
    fail_msg("%s: no checkpoint up to chk-%" PRIu64 " holds a state file of every keyed subtask",
             backend, kept.id[kept.n / 2]);
}

typedef void (*forge_fn)(struct weir_ckpt_entry *e, size_t *n);

static struct weir_ckpt_entry *entry_of(struct weir_ckpt_entry *e, size_t n, const char *uid,
                                        uint32_t subtask)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(e[i].operator_uid, uid) && e[i].subtask == subtask)
            return &e[i];
    fail_msg("no entry for %s subtask %u", uid, subtask);
    return NULL;
}

/* Rewrites ckpt/_metadata through forge with valid checksums. */
static void rewrite_metadata(const char *ckpt, forge_fn forge)
{
    uint64_t id;
    struct meta_owned *mo = read_metadata(ckpt, &id);
    int dfd = open(ckpt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_true(dfd >= 0);
    if (forge)
        forge((struct weir_ckpt_entry *)mo->meta.entries, &mo->meta.entry_count);
    struct fmt_mem m;
    assert_int_equal(meta_encode(&mo->meta, id, &m), 0);
    free(mo);
    int fd = openat(dfd, "_metadata", O_WRONLY | O_TRUNC | O_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, m.buf, m.len), (ssize_t)m.len);
    close(fd);
    close(dfd);
    fmt_mem_free(&m);
}

/* The key-group ranges of keep-a's two subtasks swapped. */
static void swap_key_group_ranges(struct weir_ckpt_entry *e, size_t *n)
{
    struct weir_ckpt_entry *a = entry_of(e, *n, "keep-a", 0), *b = entry_of(e, *n, "keep-a", 1);
    assert_int_not_equal(a->kg_first, WEIR_KG_NONE);
    uint32_t f = a->kg_first, l = a->kg_last;
    a->kg_first = b->kg_first;
    a->kg_last = b->kg_last;
    b->kg_first = f;
    b->kg_last = l;
}

/* keep-a's state files of subtasks 0 and 1 swapped, with the entries' subtasks and key
 * groups left consistent: only the files can tell. */
static void swap_subtask_files(struct weir_ckpt_entry *e, size_t *n)
{
    struct weir_ckpt_entry *a = entry_of(e, *n, "keep-a", 0), *b = entry_of(e, *n, "keep-a", 1);
    struct weir_ckpt_entry t = *a;
    a->file = b->file;
    a->size_bytes = b->size_bytes;
    a->checksum = b->checksum;
    b->file = t.file;
    b->size_bytes = t.size_bytes;
    b->checksum = t.checksum;
}

/* keep-a's and keep-b's state files of subtask 0 swapped (with their sizes and checksums). */
static void swap_state_files(struct weir_ckpt_entry *e, size_t *n)
{
    struct weir_ckpt_entry *a = entry_of(e, *n, "keep-a", 0), *b = entry_of(e, *n, "keep-b", 0);
    struct weir_ckpt_entry t = *a;
    a->file = b->file;
    a->size_bytes = b->size_bytes;
    a->checksum = b->checksum;
    b->file = t.file;
    b->size_bytes = t.size_bytes;
    b->checksum = t.checksum;
}

/* keep-a's subtask 1 left out: its key groups would restore empty. */
static void drop_an_entry(struct weir_ckpt_entry *e, size_t *n)
{
    struct weir_ckpt_entry *a = entry_of(e, *n, "keep-a", 1);
    size_t i = (size_t)(a - e);
    memmove(a, a + 1, (*n - i - 1) * sizeof *a);
    (*n)--;
}

static void check_forgery(const char *backend, const char *tag, bool savepoint, forge_fn forge,
                          const char *want_field)
{
    char ckpt[4096], err[2048] = "";
    take_checkpoint(backend, tag, savepoint, ckpt, sizeof ckpt);
    rewrite_metadata(ckpt, forge);
    int rc = run_job(backend, wt_tmp_dir(tag), ckpt, false, err, sizeof err);
    if (!forge) {
        if (rc != 0)
            fail_msg("%s: a rewritten but unchanged _metadata did not restore: %s", backend, err);
        return;
    }
    if (rc == 0)
        fail_msg("%s: a forged _metadata (%s) restored", backend, want_field);
    assert_int_equal(rc, -EBADMSG);
    if (!strstr(err, want_field) || !strstr(err, "_metadata") || !strstr(err, ckpt) ||
        strchr(err, '\n'))
        fail_msg("%s: the refusal does not name the file and %s: %s", backend, want_field, err);
}

static const char *backends[] = {"hashmap", "rocksdb", "rocksdb-incremental"};

static void an_unchanged_rewritten_metadata_restores(void **state)
{
    for (size_t i = 0; i < 3; i++)
        check_forgery(backends[i], "forged-none", false, NULL, NULL);
}

static void swapped_key_group_ranges_are_refused(void **state)
{
    for (size_t i = 0; i < 3; i++)
        check_forgery(backends[i], "forged-kg", false, swap_key_group_ranges,
                      "key groups that subtask did not own");
}

static void swapped_state_files_of_two_subtasks_are_refused(void **state)
{
    for (size_t i = 0; i < 3; i += 2) /* hashmap, rocksdb-incremental */
        check_forgery(backends[i], "forged-sub", false, swap_subtask_files,
                      "subtask: _metadata says");
}

static void swapped_state_files_of_two_operators_are_refused(void **state)
{
    for (size_t i = 0; i < 3; i += 2) /* hashmap, rocksdb-incremental */
        check_forgery(backends[i], "forged-files", false, swap_state_files,
                      "operator_uid: _metadata says");
}

static void a_metadata_without_one_subtask_s_entry_is_refused(void **state)
{
    check_forgery("hashmap", "forged-drop", false, drop_an_entry, "no entry for subtask 1");
}

static void a_savepoint_with_swapped_subtask_files_is_refused(void **state)
{
    check_forgery("hashmap", "forged-sp", true, NULL, NULL);
    check_forgery("hashmap", "forged-sp", true, swap_subtask_files, "subtask: _metadata says");
    check_forgery("rocksdb-incremental", "forged-sp", true, swap_subtask_files,
                  "subtask: _metadata says");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(an_unchanged_rewritten_metadata_restores),
        cmocka_unit_test(swapped_key_group_ranges_are_refused),
        cmocka_unit_test(swapped_state_files_of_two_subtasks_are_refused),
        cmocka_unit_test(swapped_state_files_of_two_operators_are_refused),
        cmocka_unit_test(a_metadata_without_one_subtask_s_entry_is_refused),
        cmocka_unit_test(a_savepoint_with_swapped_subtask_files_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
