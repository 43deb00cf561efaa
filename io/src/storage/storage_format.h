/*
 * The on-disk format of every file checkpoint storage writes (state files and _metadata),
 * little-endian, version 2 (version 1 had no backend in _metadata entries, and its state files
 * did not describe themselves; it is refused, as no released weir wrote it):
 *
 *   offset 0            header, 64 bytes
 *                         0  "WEIRSNAP"        magic
 *                         8  u32 version       FMT_VERSION
 *                        12  u32 kind          FMT_KIND_STATE | FMT_KIND_METADATA
 *                        16  u32 block_size    checksum granularity (a multiple of 4096)
 *                        20  u32 header_size   64
 *                        24  u64 checkpoint id
 *                        32  24 zero bytes     reserved
 *                        56  u64 XXH3-64 of bytes 0..55
 *   64                  sections, back to back (their bounds are in the footer)
 *   data_end            footer ("end marker"):
 *                         u32 "WEND", u32 0, u64 section count, u64 block count,
 *                         per section: u64 tag, u64 offset, u64 length,
 *                         per block: u64 XXH3-64 of bytes [i*block_size, min(.., data_end))
 *   file_size - 32      trailer: u64 data_end, u64 file_size, "WEIRTAIL",
 *                         u64 XXH3-64 of bytes [0, file_size - 8)
 *
 * Blocks cover the header and the sections; the footer and the trailer are covered by the
 * whole-file checksum. A reader checks the trailer (truncation shows as a wrong size or a
 * missing "WEIRTAIL"), the footer's shape, the header checksum, then every block it reads.
 * The index in the footer lets a restore at another parallelism read only the key groups
 * it needs.
 */
#ifndef WEIR_STORAGE_FORMAT_H
#define WEIR_STORAGE_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <weir/errbuf.h>
#include <weir/state.h>
#include <weir/storage.h>

#define FMT_MAGIC        "WEIRSNAP"
#define FMT_TAIL_MAGIC   "WEIRTAIL"
#define FMT_END_MARKER   0x444e4557u /* "WEND" */
#define FMT_VERSION      2u
#define FMT_HEADER_SIZE  64u
#define FMT_TRAILER_SIZE 32u
#define FMT_FOOTER_FIXED 24u /* marker, reserved, two counts */
#define FMT_SECTION_SIZE 24u
#define FMT_ALIGN        4096u
#define FMT_META_BLOCK   (64u << 10)
#define FMT_MAX_BLOCK    (1u << 30)

enum { FMT_KIND_STATE = 1, FMT_KIND_METADATA = 2 };

/* Metadata section tags. */
enum { META_INFO = 1, META_ENTRIES = 2, META_SHARED = 3 };

struct fmt_section {
    uint64_t tag, offset, length;
};

struct fmt_header {
    uint32_t version, kind, block_size;
    uint64_t checkpoint_id;
};

static inline void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static inline void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint32_t get_u32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++)
        v |= (uint32_t)p[i] << (8 * i);
    return v;
}
static inline uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

void fmt_header_encode(uint8_t out[FMT_HEADER_SIZE], uint32_t kind, uint32_t block_size,
                       uint64_t checkpoint_id);
/* 0, or -EBADMSG with the reason in why. */
int fmt_header_decode(const uint8_t in[FMT_HEADER_SIZE], struct fmt_header *h, char *why,
                      size_t whylen);

size_t fmt_footer_size(size_t nsec, size_t nblocks);
void fmt_footer_encode(uint8_t *out, const struct fmt_section *sec, size_t nsec,
                       const uint64_t *blocks, size_t nblocks);
void fmt_trailer_encode(uint8_t out[FMT_TRAILER_SIZE], uint64_t data_end, uint64_t file_size,
                        uint64_t checksum);

/* A whole file built in memory (the _metadata file): the same format, one writer. */
struct fmt_mem {
    uint8_t *buf;
    size_t len, cap;
    struct fmt_section *sec;
    size_t nsec, capsec;
    uint32_t block_size;
    int err;
};
void fmt_mem_init(struct fmt_mem *m, uint32_t kind, uint32_t block_size, uint64_t id);
void fmt_mem_section(struct fmt_mem *m, uint64_t tag);
void fmt_mem_put(struct fmt_mem *m, const void *p, size_t len);
void fmt_mem_u32(struct fmt_mem *m, uint32_t v);
void fmt_mem_u64(struct fmt_mem *m, uint64_t v);
void fmt_mem_str(struct fmt_mem *m, const char *s); /* u32 length + bytes; NULL as "" */
/* Appends footer and trailer. Returns 0 or -ENOMEM; *checksum gets the whole-file one. */
int fmt_mem_finish(struct fmt_mem *m, uint64_t *checksum);
void fmt_mem_free(struct fmt_mem *m);

/* _metadata <-> struct weir_ckpt_meta. encode writes meta as given. */
int meta_encode(const struct weir_ckpt_meta *meta, uint64_t id, struct fmt_mem *m);

/* A parsed _metadata in one allocation. */
struct meta_owned {
    struct weir_ckpt_meta meta;
    /* entries, shared and strings follow */
};
/* Parses the bytes of a whole _metadata file (already checked by fmt_reader_verify). */
int meta_decode(const uint8_t *file, size_t len, const struct fmt_section *sec, size_t nsec,
                struct meta_owned **out, char *why, size_t whylen);

/* Reading one file. */
struct fmt_reader {
    int fd;
    uint64_t file_size, data_end, checksum;
    struct fmt_header h;
    struct fmt_section *sec;
    size_t nsec;
    uint64_t *blocks;
    size_t nblocks;
    uint8_t *blk; /* one block, verified; blk_idx its index or -1 */
    int64_t blk_idx;
    size_t blk_len;
    /* The whole file mapped (not owned): fmt_reader_verify hashes it in place; once verified,
     * fmt_reader_pread copies out of it without reading or hashing again (mapped). */
    const uint8_t *map;
    bool mapped;
};
/* Opens and checks trailer, footer and header. expect_size: the size _metadata records, or
 * 0. Returns 0, or a negative errno with the reason in why (-EBADMSG for a malformed file,
 * errno of open/read). */
int fmt_reader_open(struct fmt_reader *r, int dirfd, const char *name, uint64_t expect_size,
                    char *why, size_t whylen);
/* Reads every byte: every block checksum and the whole-file checksum (and expect_sum when
 * not 0). If whole is not NULL the file's bytes are left there (for _metadata; malloc'd). */
int fmt_reader_verify(struct fmt_reader *r, uint64_t expect_sum, uint8_t **whole, char *why,
                      size_t whylen);
/* Copies len bytes at offset off (< data_end) out of verified blocks (or, with mapped, out of
 * the verified map). */
int fmt_reader_pread(struct fmt_reader *r, void *buf, size_t len, uint64_t off, char *why,
                     size_t whylen);
void fmt_reader_close(struct fmt_reader *r);

/* XXH3-64 of a whole file that is not ours (shared files); size too. */
int fmt_hash_fd(int fd, uint64_t *size, uint64_t *checksum);

/* A valid name for a file in a checkpoint directory. */
bool fmt_name_ok(const char *name);

#endif
