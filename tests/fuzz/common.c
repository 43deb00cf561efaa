/* The scratch directory and the checksum fix-up of fuzz.h, for every fuzz target. */
#include "fuzz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <xxhash.h>

#include "storage_format.h"

static char dir[4096];

static void dir_remove(void)
{
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "fuzz: could not remove %s\n", dir);
}

const char *fuzz_dir(void)
{
    if (dir[0])
        return dir;
    const char *tmp = getenv("TMPDIR");
    if (tmp && *tmp)
        mkdir(tmp, 0700); /* the ctest's build/test-tmp may not exist yet */
    snprintf(dir, sizeof dir, "%s/weir-fuzz-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        perror(dir);
        abort();
    }
    atexit(dir_remove);
    return dir;
}

void fuzz_write(const char *d, const char *name, const void *buf, size_t len)
{
    char path[4400];
    snprintf(path, sizeof path, "%s/%s", d, name);
    FILE *f = fopen(path, "wb");
    if (!f || (len && fwrite(buf, 1, len, f) != len) || fclose(f) != 0) {
        perror(path);
        abort();
    }
}

uint64_t fuzz_fix_checksums(uint8_t *buf, size_t len)
{
    if (len < FMT_HEADER_SIZE + FMT_FOOTER_FIXED + FMT_TRAILER_SIZE)
        return 0;
    put_u64(buf + 56, XXH3_64bits(buf, 56));
    uint8_t *tr = buf + len - FMT_TRAILER_SIZE;
    put_u64(tr + 8, len);
    uint64_t data_end = get_u64(tr);
    uint32_t bs = get_u32(buf + 16);
    if (bs >= FMT_ALIGN && bs <= FMT_MAX_BLOCK && data_end >= FMT_HEADER_SIZE &&
        data_end <= len - FMT_TRAILER_SIZE - FMT_FOOTER_FIXED) {
        const uint8_t *fx = buf + data_end;
        uint64_t nsec = get_u64(fx + 8), nblocks = get_u64(fx + 16);
        uint64_t flen = len - FMT_TRAILER_SIZE - data_end;
        uint64_t at = FMT_FOOTER_FIXED + (nsec < flen ? nsec * FMT_SECTION_SIZE : flen);
        for (uint64_t i = 0; i < nblocks && at + 8 <= flen; i++, at += 8) {
            uint64_t off = i * bs;
            if (off >= data_end)
                break;
            uint64_t n = data_end - off < bs ? data_end - off : bs;
            put_u64(buf + data_end + at, XXH3_64bits(buf + off, n));
        }
    }
    uint64_t sum = XXH3_64bits(buf, len - 8);
    put_u64(buf + len - 8, sum);
    return sum;
}
