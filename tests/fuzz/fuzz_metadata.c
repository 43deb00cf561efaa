/*
 * The checkpoint and savepoint _metadata reader, from the bytes of a _metadata file: the
 * restore's read_metadata (trailer, footer, header, checksums, meta_decode), then, for what
 * decodes, weir_restore_open_dir on its directory, which checks every file it lists as
 * --from-checkpoint does. Checksums are made to agree first (fuzz.h).
 */
#include <fcntl.h>
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
        free(mo);
        weir_restore *r = NULL;
        if (weir_restore_open_dir(chk, 0, &r, why, sizeof why) == 0) {
            sink = touch(weir_restore_meta(r));
            weir_restore_close(r);
        }
    }
    return 0;
}
