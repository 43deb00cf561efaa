/*
 * The state file readers, from the bytes of one state file: the file is listed in a
 * _metadata of its own (size and checksum as they are, after the fix-up of fuzz.h), opened
 * with weir_restore_open_dir and weir_restore_file_open as a restore does, and each of its
 * sections is decoded as restore.c would: TAG_KEYED | kg by the keyed-state snapshot reader
 * into a backend that owns every key group (hashmap, or RocksDB for an incremental RocksDB
 * file and a file whose size is a multiple of 8: a snapshot restores into either),
 * TAG_TIMERS | kg by chk_restore_timers; an incremental file (TAG_ROCKS_SHARED) is rebuilt
 * first by rocks_incremental_restore.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <weir/config.h>
#include <weir/state_backend.h>
#include <weir/storage.h>

#include "checkpoint.h"
#include "checkpoint_rocksdb.h"
#include "fuzz.h"
#include "storage_format.h"
#include "timers.h"

#define MAXP      128u
#define FILE_NAME "op-0.state"

static char chk[4200];
static weir_state_env *env, *rocks_env;

static weir_state_env *env_new(const char *backend)
{
    char err[512], dir[4300];
    snprintf(dir, sizeof dir, "%s/rocksdb", fuzz_dir());
    weir_state_env *e = NULL;
    weir_config *c = weir_config_new();
    if (!c || weir_config_set(c, "state.backend", backend, err, sizeof err) < 0 ||
        weir_config_set(c, "state.backend.rocksdb.localdir", dir, err, sizeof err) < 0 ||
        weir_config_set(c, "metrics.reporter.prom.port", "0", err, sizeof err) < 0 ||
        weir_config_resolve(c, err, sizeof err) < 0 ||
        weir_state_env_new(c, "fuzz", &e, err, sizeof err) < 0) {
        fprintf(stderr, "fuzz_state: %s\n", err);
        abort();
    }
    weir_config_free(c);
    return e;
}

static void setup(void)
{
    char shared[4200];
    snprintf(chk, sizeof chk, "%s/chk-1", fuzz_dir());
    snprintf(shared, sizeof shared, "%s/shared", fuzz_dir());
    if (mkdir(chk, 0700) < 0 || mkdir(shared, 0700) < 0) {
        perror(chk);
        abort();
    }
    env = env_new("hashmap");
    rocks_env = env_new("rocksdb");
}

/* A _metadata of checkpoint id that lists the state file as every key group of operator
 * "op". */
static void write_metadata(uint64_t id, uint64_t size, uint64_t checksum)
{
    struct weir_ckpt_entry e = {.operator_uid = "op",
                                .subtask = 0,
                                .parallelism = 1,
                                .kg_first = 0,
                                .kg_last = MAXP - 1,
                                .file = FILE_NAME,
                                .size_bytes = size,
                                .checksum = checksum};
    struct weir_ckpt_meta m = {.checkpoint_id = id,
                               .job = "fuzz",
                               .max_parallelism = MAXP,
                               .entry_count = 1,
                               .entries = &e};
    struct fmt_mem mem; /* meta_encode starts it */
    if (meta_encode(&m, id, &mem) < 0)
        abort();
    fuzz_write(chk, "_metadata", mem.buf, mem.len);
    fmt_mem_free(&mem);
}

static void decode_sections(weir_restore *r, weir_restore_file *f, weir_state_env *e)
{
    char err[256];
    weir_keyed_backend *be;
    struct timer_service timers;
    if (weir_keyed_backend_open(e, "op", 0, 0, MAXP - 1, MAXP, -1, &be, err, sizeof err) < 0) {
        fprintf(stderr, "fuzz_state: %s\n", err);
        abort();
    }
    timers_init(&timers);
    /* An incremental RocksDB file: the instance is rebuilt from the files it names first. */
    if (e == rocks_env && rocks_file_is_incremental(f))
        rocks_incremental_restore(be, r, f, 0, MAXP - 1, err, sizeof err);
    size_t n = weir_restore_file_section_count(f);
    for (size_t i = 0; i < n; i++) {
        uint64_t tag, len;
        if (weir_restore_file_section(f, i, &tag, &len) < 0)
            abort();
        uint64_t kind = tag & ~0xffffffffull;
        uint32_t kg = (uint32_t)tag;
        struct weir_snapshot_in *in = weir_restore_file_section_in(f, i);
        if (kind == TAG_KEYED && kg < MAXP)
            weir_keyed_backend_restore_key_group(be, kg, in);
        else if (kind == TAG_TIMERS && kg < MAXP)
            chk_restore_timers(&timers, in, kg);
    }
    timers_free(&timers);
    weir_keyed_backend_close(be);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!env)
        setup();
    if (size > (1u << 20))
        return 0;
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf)
        abort();
    memcpy(buf, data, size);
    uint64_t sum = fuzz_fix_checksums(buf, size);
    /* The checkpoint the file says it belongs to: the restore checks that it is this one. */
    uint64_t id = size >= FMT_HEADER_SIZE ? get_u64(buf + 24) : 1;
    fuzz_write(chk, FILE_NAME, buf, size);
    free(buf);
    write_metadata(id, size, sum);

    char why[512];
    weir_restore *r = NULL;
    weir_restore_file *f = NULL;
    if (weir_restore_open_dir(chk, 0, &r, why, sizeof why) == 0) {
        if (weir_restore_file_open(r, FILE_NAME, &f) == 0) {
            decode_sections(r, f, rocks_file_is_incremental(f) || size % 8 == 0 ? rocks_env : env);
            weir_restore_file_close(f);
        }
        weir_restore_close(r);
    }
    return 0;
}
