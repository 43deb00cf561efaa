/*
 * The checkpoint and savepoint _metadata reader, from the bytes of a _metadata file: the
 * restore's read_metadata (trailer, footer, header, checksums, meta_decode), then, for what
 * decodes, weir_restore_open_dir on its directory, which checks every file it lists as
 * --from-checkpoint does. Checksums are made to agree first (fuzz.h). What decodes must
 * encode (meta_encode, the commit's writer) to a _metadata that decodes to the same.
 */
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <weir/storage.h>

#include "fuzz.h"
#include "storage_impl.h"

static char chk[4200];
static int chk_fd = -1;

static void setup(void)
{
    char shared[4200];
    snprintf(chk, sizeof chk, "%s/chk-1", fuzz_dir());
    snprintf(shared, sizeof shared, "%s/shared", fuzz_dir());
    if ((mkdir(chk, 0700) < 0 || mkdir(shared, 0700) < 0) ||
        (chk_fd = open(chk, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        perror(chk);
        abort();
    }
}

/* Reads every field, so that a pointer past the arena shows under ASan. */
static size_t touch(const struct weir_ckpt_meta *m)
{
    size_t n = strlen(m->job ? m->job : "");
    for (size_t i = 0; i < m->entry_count; i++) {
        const struct weir_ckpt_entry *e = &m->entries[i];
        n += strlen(e->operator_uid ? e->operator_uid : "") + strlen(e->file ? e->file : "");
        for (uint32_t b = 0; b < e->blob_len; b++)
            n += ((const uint8_t *)e->blob)[b];
    }
    for (size_t i = 0; i < m->shared_count; i++)
        n += strlen(m->shared[i].name ? m->shared[i].name : "");
    return n;
}

static bool same_str(const char *a, const char *b)
{
    return !strcmp(a ? a : "", b ? b : "");
}

static bool same_meta(const struct weir_ckpt_meta *a, const struct weir_ckpt_meta *b)
{
    if (a->checkpoint_id != b->checkpoint_id || a->timestamp_ms != b->timestamp_ms ||
        a->max_parallelism != b->max_parallelism || a->savepoint != b->savepoint ||
        !same_str(a->job, b->job) || a->entry_count != b->entry_count ||
        a->shared_count != b->shared_count)
        return false;
    for (size_t i = 0; i < a->entry_count; i++) {
        const struct weir_ckpt_entry *x = &a->entries[i], *y = &b->entries[i];
        if (!same_str(x->operator_uid, y->operator_uid) || x->subtask != y->subtask ||
            x->parallelism != y->parallelism || x->kg_first != y->kg_first ||
            x->kg_last != y->kg_last || !same_str(x->file, y->file) ||
            x->size_bytes != y->size_bytes || x->checksum != y->checksum ||
            x->blob_len != y->blob_len || (x->blob_len && memcmp(x->blob, y->blob, x->blob_len)))
            return false;
    }
    for (size_t i = 0; i < a->shared_count; i++) {
        const struct weir_ckpt_shared *x = &a->shared[i], *y = &b->shared[i];
        if (!same_str(x->name, y->name) || x->size_bytes != y->size_bytes ||
            x->checksum != y->checksum)
            return false;
    }
    return true;
}

/* meta, written by meta_encode and read back by read_metadata, is meta. */
static void round_trip(const struct weir_ckpt_meta *meta)
{
    struct fmt_mem mem; /* meta_encode starts it */
    struct meta_owned *back = NULL;
    char why[512];
    if (meta_encode(meta, meta->checkpoint_id, &mem) < 0)
        abort();
    fuzz_write(chk, "_metadata", mem.buf, mem.len);
    fmt_mem_free(&mem);
    if (read_metadata(chk_fd, &back, why, sizeof why) < 0) {
        fprintf(stderr, "a decoded _metadata, encoded again, does not read back: %s\n", why);
        abort();
    }
    if (!same_meta(meta, &back->meta)) {
        fprintf(stderr, "a decoded _metadata, encoded and decoded again, differs\n");
        abort();
    }
    free(back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (chk_fd < 0)
        setup();
    if (size > (1u << 20))
        return 0;
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf)
        abort();
    memcpy(buf, data, size);
    fuzz_fix_checksums(buf, size);
    fuzz_write(chk, "_metadata", buf, size);
    free(buf);

    struct meta_owned *mo = NULL;
    char why[512];
    if (read_metadata(chk_fd, &mo, why, sizeof why) == 0) {
        volatile size_t sink = touch(&mo->meta);
        (void)sink;
        weir_restore *r = NULL;
        if (weir_restore_open_dir(chk, 0, &r, why, sizeof why) == 0) {
            sink = touch(weir_restore_meta(r));
            weir_restore_close(r);
        }
        round_trip(&mo->meta);
        free(mo);
    }
    return 0;
}
