/*
 * Encoding and checking of the checkpoint file format (see storage_format.h), the _metadata
 * container, and the reader that serves verified blocks.
 */
#include "storage_format.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <xxhash.h>

bool fmt_name_ok(const char *name)
{
    if (!name || !*name || name[0] == '.' || name[0] == '_')
        return false;
    size_t n = strlen(name);
    if (n > 200 || strchr(name, '/'))
        return false;
    return true;
}

/* --- header, footer, trailer --------------------------------------------------------- */

void fmt_header_encode(uint8_t out[FMT_HEADER_SIZE], uint32_t kind, uint32_t block_size,
                       uint64_t checkpoint_id)
{
    memset(out, 0, FMT_HEADER_SIZE);
    memcpy(out, FMT_MAGIC, 8);
    put_u32(out + 8, FMT_VERSION);
    put_u32(out + 12, kind);
    put_u32(out + 16, block_size);
    put_u32(out + 20, FMT_HEADER_SIZE);
    put_u64(out + 24, checkpoint_id);
    put_u64(out + 56, XXH3_64bits(out, 56));
}

int fmt_header_decode(const uint8_t in[FMT_HEADER_SIZE], struct fmt_header *h, char *why,
                      size_t whylen)
{
    if (memcmp(in, FMT_MAGIC, 8) != 0) {
        errbuf_printf(why, whylen, "not a weir checkpoint file (bad magic)");
        return -EBADMSG;
    }
    if (get_u64(in + 56) != XXH3_64bits(in, 56)) {
        errbuf_printf(why, whylen, "header checksum mismatch");
        return -EBADMSG;
    }
    h->version = get_u32(in + 8);
    h->kind = get_u32(in + 12);
    h->block_size = get_u32(in + 16);
    h->checkpoint_id = get_u64(in + 24);
    if (h->version < FMT_VERSION) {
        errbuf_printf(why, whylen,
                      "format version %u, older than the version %u this weir reads (its state "
                      "files do not say what they hold); take a new checkpoint",
                      h->version, FMT_VERSION);
        return -EBADMSG;
    }
    if (h->version != FMT_VERSION) {
        errbuf_printf(why, whylen, "format version %u, this weir reads %u", h->version,
                      FMT_VERSION);
        return -EBADMSG;
    }
    if (get_u32(in + 20) != FMT_HEADER_SIZE || h->block_size < FMT_ALIGN ||
        h->block_size > FMT_MAX_BLOCK || h->block_size % FMT_ALIGN) {
        errbuf_printf(why, whylen, "malformed header");
        return -EBADMSG;
    }
    return 0;
}

size_t fmt_footer_size(size_t nsec, size_t nblocks)
{
    return FMT_FOOTER_FIXED + nsec * FMT_SECTION_SIZE + nblocks * 8;
}

void fmt_footer_encode(uint8_t *out, const struct fmt_section *sec, size_t nsec,
                       const uint64_t *blocks, size_t nblocks)
{
    put_u32(out, FMT_END_MARKER);
    put_u32(out + 4, 0);
    put_u64(out + 8, nsec);
    put_u64(out + 16, nblocks);
    uint8_t *p = out + FMT_FOOTER_FIXED;
    for (size_t i = 0; i < nsec; i++, p += FMT_SECTION_SIZE) {
        put_u64(p, sec[i].tag);
        put_u64(p + 8, sec[i].offset);
        put_u64(p + 16, sec[i].length);
    }
    for (size_t i = 0; i < nblocks; i++, p += 8)
        put_u64(p, blocks[i]);
}

void fmt_trailer_encode(uint8_t out[FMT_TRAILER_SIZE], uint64_t data_end, uint64_t file_size,
                        uint64_t checksum)
{
    put_u64(out, data_end);
    put_u64(out + 8, file_size);
    memcpy(out + 16, FMT_TAIL_MAGIC, 8);
    put_u64(out + 24, checksum);
}

/* --- a whole file in memory ---------------------------------------------------------- */

static void mem_reserve(struct fmt_mem *m, size_t more)
{
    if (m->err || m->len + more <= m->cap)
        return;
    size_t cap = m->cap ? m->cap : 4096;
    while (cap < m->len + more)
        cap *= 2;
    uint8_t *b = realloc(m->buf, cap);
    if (!b) {
        m->err = -ENOMEM;
        return;
    }
    m->buf = b;
    m->cap = cap;
}

void fmt_mem_init(struct fmt_mem *m, uint32_t kind, uint32_t block_size, uint64_t id)
{
    memset(m, 0, sizeof *m);
    m->block_size = block_size;
    mem_reserve(m, FMT_HEADER_SIZE);
    if (m->err)
        return;
    fmt_header_encode(m->buf, kind, block_size, id);
    m->len = FMT_HEADER_SIZE;
}

static void mem_close_section(struct fmt_mem *m)
{
    if (m->nsec)
        m->sec[m->nsec - 1].length = m->len - m->sec[m->nsec - 1].offset;
}

void fmt_mem_section(struct fmt_mem *m, uint64_t tag)
{
    if (m->err)
        return;
    mem_close_section(m);
    if (m->nsec == m->capsec) {
        size_t cap = m->capsec ? 2 * m->capsec : 8;
        struct fmt_section *s = realloc(m->sec, cap * sizeof *s);
        if (!s) {
            m->err = -ENOMEM;
            return;
        }
        m->sec = s;
        m->capsec = cap;
    }
    m->sec[m->nsec++] = (struct fmt_section){.tag = tag, .offset = m->len};
}

void fmt_mem_put(struct fmt_mem *m, const void *p, size_t len)
{
    mem_reserve(m, len);
    if (m->err)
        return;
    if (len)
        memcpy(m->buf + m->len, p, len);
    m->len += len;
}

void fmt_mem_u32(struct fmt_mem *m, uint32_t v)
{
    uint8_t b[4];
    put_u32(b, v);
    fmt_mem_put(m, b, 4);
}

void fmt_mem_u64(struct fmt_mem *m, uint64_t v)
{
    uint8_t b[8];
    put_u64(b, v);
    fmt_mem_put(m, b, 8);
}

void fmt_mem_str(struct fmt_mem *m, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    fmt_mem_u32(m, (uint32_t)n);
    fmt_mem_put(m, s, n);
}

int fmt_mem_finish(struct fmt_mem *m, uint64_t *checksum)
{
    mem_close_section(m);
    if (m->err)
        return m->err;
    size_t data_end = m->len, nblocks = (data_end + m->block_size - 1) / m->block_size;
    uint64_t *blocks = calloc(nblocks, sizeof *blocks);
    if (!blocks)
        return -ENOMEM;
    for (size_t i = 0; i < nblocks; i++) {
        size_t off = i * m->block_size, n = data_end - off;
        blocks[i] = XXH3_64bits(m->buf + off, n < m->block_size ? n : m->block_size);
    }
    size_t flen = fmt_footer_size(m->nsec, nblocks);
    mem_reserve(m, flen + FMT_TRAILER_SIZE);
    if (m->err) {
        free(blocks);
        return m->err;
    }
    fmt_footer_encode(m->buf + m->len, m->sec, m->nsec, blocks, nblocks);
    free(blocks);
    m->len += flen;
    uint64_t file_size = m->len + FMT_TRAILER_SIZE;
    fmt_trailer_encode(m->buf + m->len, data_end, file_size, 0);
    uint64_t sum = XXH3_64bits(m->buf, file_size - 8);
    put_u64(m->buf + m->len + 24, sum);
    m->len = file_size;
    if (checksum)
        *checksum = sum;
    return 0;
}

void fmt_mem_free(struct fmt_mem *m)
{
    free(m->buf);
    free(m->sec);
    memset(m, 0, sizeof *m);
}

/* --- _metadata ----------------------------------------------------------------------- */

int meta_encode(const struct weir_ckpt_meta *meta, uint64_t id, struct fmt_mem *m)
{
    fmt_mem_init(m, FMT_KIND_METADATA, FMT_META_BLOCK, id);
    fmt_mem_section(m, META_INFO);
    fmt_mem_u64(m, id);
    fmt_mem_u64(m, (uint64_t)meta->timestamp_ms);
    fmt_mem_u32(m, meta->max_parallelism);
    fmt_mem_u32(m, meta->savepoint ? 1u : 0u);
    fmt_mem_str(m, meta->job);

    fmt_mem_section(m, META_ENTRIES);
    fmt_mem_u32(m, (uint32_t)meta->entry_count);
    for (size_t i = 0; i < meta->entry_count; i++) {
        const struct weir_ckpt_entry *e = &meta->entries[i];
        fmt_mem_str(m, e->operator_uid);
        fmt_mem_u32(m, e->subtask);
        fmt_mem_u32(m, e->parallelism);
        fmt_mem_u32(m, e->kg_first);
        fmt_mem_u32(m, e->kg_last);
        fmt_mem_u32(m, e->backend);
        fmt_mem_str(m, e->file);
        fmt_mem_u64(m, e->size_bytes);
        fmt_mem_u64(m, e->checksum);
        fmt_mem_u32(m, e->blob ? e->blob_len : 0);
        fmt_mem_put(m, e->blob, e->blob ? e->blob_len : 0);
    }

    fmt_mem_section(m, META_SHARED);
    fmt_mem_u32(m, (uint32_t)meta->shared_count);
    for (size_t i = 0; i < meta->shared_count; i++) {
        fmt_mem_str(m, meta->shared[i].name);
        fmt_mem_u64(m, meta->shared[i].size_bytes);
        fmt_mem_u64(m, meta->shared[i].checksum);
    }
    return fmt_mem_finish(m, NULL);
}

/* A bounded cursor over one section; any overrun sets bad. */
struct cur {
    const uint8_t *p, *end;
    bool bad;
};

static const uint8_t *take(struct cur *c, size_t n)
{
    if (c->bad || (size_t)(c->end - c->p) < n) {
        c->bad = true;
        return NULL;
    }
    const uint8_t *p = c->p;
    c->p += n;
    return p;
}
static uint32_t take_u32(struct cur *c)
{
    const uint8_t *p = take(c, 4);
    return p ? get_u32(p) : 0;
}
static uint64_t take_u64(struct cur *c)
{
    const uint8_t *p = take(c, 8);
    return p ? get_u64(p) : 0;
}

/* Arena for the decoded metadata: pass 1 (base NULL) only counts. */
struct arena {
    uint8_t *base;
    size_t used;
};

static void *arena_get(struct arena *a, size_t n, size_t align)
{
    a->used = (a->used + align - 1) & ~(align - 1);
    void *p = a->base ? a->base + a->used : NULL;
    a->used += n;
    return p;
}

static const char *take_str(struct cur *c, struct arena *a)
{
    uint32_t n = take_u32(c);
    const uint8_t *p = take(c, n);
    if (!p)
        return NULL;
    if (memchr(p, '\0', n)) {
        c->bad = true;
        return NULL;
    }
    char *s = arena_get(a, (size_t)n + 1, 1);
    if (s) {
        memcpy(s, p, n);
        s[n] = '\0';
    }
    return s;
}

static const struct fmt_section *find_sec(const struct fmt_section *sec, size_t nsec, uint64_t tag)
{
    for (size_t i = 0; i < nsec; i++)
        if (sec[i].tag == tag)
            return &sec[i];
    return NULL;
}

static int meta_pass(const uint8_t *file, const struct fmt_section *sec, size_t nsec,
                     struct arena *a, struct meta_owned **outp, char *why, size_t whylen)
{
    const struct fmt_section *si = find_sec(sec, nsec, META_INFO),
                             *se = find_sec(sec, nsec, META_ENTRIES),
                             *ss = find_sec(sec, nsec, META_SHARED);
    if (!si || !se || !ss) {
        errbuf_printf(why, whylen, "_metadata: a section is missing");
        return -EBADMSG;
    }
    struct meta_owned *mo = arena_get(a, sizeof *mo, 8);
    struct weir_ckpt_meta tmp = {0}, *m = mo ? &mo->meta : &tmp;

    struct cur c = {file + si->offset, file + si->offset + si->length, false};
    m->checkpoint_id = take_u64(&c);
    m->timestamp_ms = (int64_t)take_u64(&c);
    m->max_parallelism = take_u32(&c);
    m->savepoint = take_u32(&c) & 1;
    m->job = take_str(&c, a);
    if (c.bad)
        goto bad;

    c = (struct cur){file + se->offset, file + se->offset + se->length, false};
    uint32_t n = take_u32(&c);
    /* Each entry takes at least 48 bytes: a count beyond that is corruption, not a size to
     * allocate. */
    if (c.bad || n > se->length / 48)
        goto bad;
    struct weir_ckpt_entry *ents = arena_get(a, (size_t)n * sizeof *ents, 8);
    for (uint32_t i = 0; i < n; i++) {
        struct weir_ckpt_entry e = {0};
        e.operator_uid = take_str(&c, a);
        e.subtask = take_u32(&c);
        e.parallelism = take_u32(&c);
        e.kg_first = take_u32(&c);
        e.kg_last = take_u32(&c);
        e.backend = take_u32(&c);
        e.file = take_str(&c, a);
        e.size_bytes = take_u64(&c);
        e.checksum = take_u64(&c);
        e.blob_len = take_u32(&c);
        const uint8_t *blob = take(&c, e.blob_len);
        if (c.bad)
            goto bad;
        if (e.file && *e.file && !fmt_name_ok(e.file))
            goto bad;
        if (e.blob_len) {
            void *b = arena_get(a, e.blob_len, 8);
            if (b)
                memcpy(b, blob, e.blob_len);
            e.blob = b;
        }
        if (ents)
            ents[i] = e;
    }
    m->entries = ents;
    m->entry_count = n;

    c = (struct cur){file + ss->offset, file + ss->offset + ss->length, false};
    n = take_u32(&c);
    if (c.bad || n > ss->length / 20)
        goto bad;
    struct weir_ckpt_shared *sh = arena_get(a, (size_t)n * sizeof *sh, 8);
    for (uint32_t i = 0; i < n; i++) {
        struct weir_ckpt_shared x;
        x.name = take_str(&c, a);
        x.size_bytes = take_u64(&c);
        x.checksum = take_u64(&c);
        if (c.bad || (x.name && !fmt_name_ok(x.name)))
            goto bad;
        if (sh)
            sh[i] = x;
    }
    m->shared = sh;
    m->shared_count = n;
    if (outp)
        *outp = mo;
    return 0;
bad:
    errbuf_printf(why, whylen, "_metadata: malformed contents");
    return -EBADMSG;
}

int meta_decode(const uint8_t *file, size_t len, const struct fmt_section *sec, size_t nsec,
                struct meta_owned **out, char *why, size_t whylen)
{
    (void)len; /* sections were bounds-checked against the file by the reader */
    struct arena a = {0};
    int rc = meta_pass(file, sec, nsec, &a, NULL, why, whylen);
    if (rc < 0)
        return rc;
    a.base = malloc(a.used ? a.used : 1);
    if (!a.base)
        return -ENOMEM;
    a.used = 0;
    rc = meta_pass(file, sec, nsec, &a, out, why, whylen);
    if (rc < 0)
        free(a.base);
    return rc;
}

/* --- reader -------------------------------------------------------------------------- */

static int pread_all(int fd, void *buf, size_t len, uint64_t off)
{
    uint8_t *p = buf;
    while (len) {
        ssize_t n = pread(fd, p, len, (off_t)off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            return -EIO; /* shorter than fstat said: truncated under us */
        p += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return 0;
}

int fmt_reader_open(struct fmt_reader *r, int dirfd, const char *name, uint64_t expect_size,
                    char *why, size_t whylen)
{
    memset(r, 0, sizeof *r);
    r->blk_idx = -1;
    r->fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
    if (r->fd < 0) {
        int e = errno;
        errbuf_printf(why, whylen, "%s", strerror(e));
        return -e;
    }
    struct stat st;
    if (fstat(r->fd, &st) < 0) {
        int e = errno;
        errbuf_printf(why, whylen, "%s", strerror(e));
        fmt_reader_close(r);
        return -e;
    }
    uint64_t size = (uint64_t)st.st_size;
    uint8_t tr[FMT_TRAILER_SIZE], hd[FMT_HEADER_SIZE], fx[FMT_FOOTER_FIXED];
    int rc = -EBADMSG;
    if (expect_size && size != expect_size) {
        errbuf_printf(why, whylen, "%s: %llu bytes, _metadata says %llu",
                      size < expect_size ? "truncated" : "wrong size", (unsigned long long)size,
                      (unsigned long long)expect_size);
        goto err;
    }
    if (size < FMT_HEADER_SIZE + FMT_FOOTER_FIXED + FMT_TRAILER_SIZE) {
        errbuf_printf(why, whylen, "truncated: %llu bytes", (unsigned long long)size);
        goto err;
    }
    if ((rc = pread_all(r->fd, tr, sizeof tr, size - FMT_TRAILER_SIZE)) < 0 ||
        (rc = pread_all(r->fd, hd, sizeof hd, 0)) < 0) {
        errbuf_printf(why, whylen, "read: %s", strerror(-rc));
        goto err;
    }
    rc = -EBADMSG;
    if (memcmp(tr + 16, FMT_TAIL_MAGIC, 8) != 0) {
        errbuf_printf(why, whylen, "truncated or overwritten (no trailer)");
        goto err;
    }
    r->data_end = get_u64(tr);
    r->file_size = get_u64(tr + 8);
    r->checksum = get_u64(tr + 24);
    if (r->file_size != size) {
        errbuf_printf(why, whylen, "%llu bytes, trailer says %llu", (unsigned long long)size,
                      (unsigned long long)r->file_size);
        goto err;
    }
    if ((rc = fmt_header_decode(hd, &r->h, why, whylen)) < 0)
        goto err;
    rc = -EBADMSG;
    if (r->data_end < FMT_HEADER_SIZE || r->data_end > size - FMT_TRAILER_SIZE - FMT_FOOTER_FIXED) {
        errbuf_printf(why, whylen, "malformed trailer");
        goto err;
    }
    if ((rc = pread_all(r->fd, fx, sizeof fx, r->data_end)) < 0) {
        errbuf_printf(why, whylen, "read: %s", strerror(-rc));
        goto err;
    }
    rc = -EBADMSG;
    uint64_t nsec = get_u64(fx + 8), nblocks = get_u64(fx + 16);
    uint64_t want_blocks = (r->data_end + r->h.block_size - 1) / r->h.block_size;
    uint64_t flen = size - FMT_TRAILER_SIZE - r->data_end;
    if (get_u32(fx) != FMT_END_MARKER || nblocks != want_blocks || nsec > flen / FMT_SECTION_SIZE ||
        FMT_FOOTER_FIXED + nsec * FMT_SECTION_SIZE + nblocks * 8 != flen) {
        errbuf_printf(why, whylen, "malformed end marker");
        goto err;
    }
    uint8_t *fb = malloc(flen);
    r->sec = calloc(nsec ? nsec : 1, sizeof *r->sec);
    r->blocks = calloc(nblocks ? nblocks : 1, sizeof *r->blocks);
    r->blk = malloc(r->h.block_size);
    if (!fb || !r->sec || !r->blocks || !r->blk) {
        free(fb);
        rc = -ENOMEM;
        errbuf_printf(why, whylen, "out of memory");
        goto err;
    }
    if ((rc = pread_all(r->fd, fb, flen, r->data_end)) < 0) {
        free(fb);
        errbuf_printf(why, whylen, "read: %s", strerror(-rc));
        goto err;
    }
    const uint8_t *p = fb + FMT_FOOTER_FIXED;
    uint64_t prev_end = FMT_HEADER_SIZE;
    for (uint64_t i = 0; i < nsec; i++, p += FMT_SECTION_SIZE) {
        struct fmt_section s = {get_u64(p), get_u64(p + 8), get_u64(p + 16)};
        if (s.offset < prev_end || s.length > r->data_end - s.offset || s.offset > r->data_end) {
            free(fb);
            rc = -EBADMSG;
            errbuf_printf(why, whylen, "malformed section index");
            goto err;
        }
        prev_end = s.offset + s.length;
        r->sec[i] = s;
    }
    for (uint64_t i = 0; i < nblocks; i++, p += 8)
        r->blocks[i] = get_u64(p);
    free(fb);
    r->nsec = nsec;
    r->nblocks = nblocks;
    return 0;
err:
    fmt_reader_close(r);
    return rc;
}

int fmt_reader_verify(struct fmt_reader *r, uint64_t expect_sum, uint8_t **whole, char *why,
                      size_t whylen)
{
    XXH3_state_t *st = XXH3_createState();
    uint8_t *all = NULL;
    int rc = -ENOMEM;
    if (!st)
        return -ENOMEM;
    if (whole && !(all = malloc(r->file_size)))
        goto err;
    XXH3_64bits_reset(st);
    uint64_t off = 0, covered = r->file_size - 8;
    size_t bs = r->h.block_size;
    for (size_t i = 0; off < covered; i++) {
        /* Blocks first (each checked), then footer and trailer in block-size pieces. */
        size_t n = bs;
        if (off < r->data_end && r->data_end - off < n)
            n = (size_t)(r->data_end - off);
        if (covered - off < n)
            n = (size_t)(covered - off);
        const uint8_t *src;
        if (r->map && !all) {
            src = r->map + off;
        } else {
            uint8_t *dst = all ? all + off : r->blk;
            if ((rc = pread_all(r->fd, dst, n, off)) < 0) {
                errbuf_printf(why, whylen, "read: %s", strerror(-rc));
                goto err;
            }
            src = dst;
        }
        if (off < r->data_end && XXH3_64bits(src, n) != r->blocks[i]) {
            errbuf_printf(why, whylen, "block %zu checksum mismatch", i);
            rc = -EBADMSG;
            goto err;
        }
        XXH3_64bits_update(st, src, n);
        off += n;
    }
    r->blk_idx = -1; /* r->blk was used as scratch */
    uint64_t sum = XXH3_64bits_digest(st);
    if (sum != r->checksum) {
        errbuf_printf(why, whylen, "file checksum mismatch");
        rc = -EBADMSG;
        goto err;
    }
    if (expect_sum && sum != expect_sum) {
        errbuf_printf(why, whylen, "checksum differs from the one _metadata records");
        rc = -EBADMSG;
        goto err;
    }
    if (whole) {
        if ((rc = pread_all(r->fd, all + covered, 8, covered)) < 0)
            goto err;
        *whole = all;
    }
    XXH3_freeState(st);
    return 0;
err:
    free(all);
    XXH3_freeState(st);
    return rc;
}

int fmt_reader_pread(struct fmt_reader *r, void *buf, size_t len, uint64_t off, char *why,
                     size_t whylen)
{
    uint8_t *out = buf;
    size_t bs = r->h.block_size;
    if (r->mapped) {
        if (off >= r->data_end || len > r->data_end - off)
            return -EIO;
        memcpy(out, r->map + off, len);
        return 0;
    }
    while (len) {
        if (off >= r->data_end)
            return -EIO;
        int64_t b = (int64_t)(off / bs);
        if (b != r->blk_idx) {
            uint64_t start = (uint64_t)b * bs;
            size_t n = r->data_end - start < bs ? (size_t)(r->data_end - start) : bs;
            r->blk_idx = -1;
            int rc = pread_all(r->fd, r->blk, n, start);
            if (rc < 0) {
                errbuf_printf(why, whylen, "read: %s", strerror(-rc));
                return rc;
            }
            if (XXH3_64bits(r->blk, n) != r->blocks[b]) {
                errbuf_printf(why, whylen, "block %lld checksum mismatch", (long long)b);
                return -EBADMSG;
            }
            r->blk_idx = b;
            r->blk_len = n;
        }
        size_t in = (size_t)(off - (uint64_t)b * bs);
        size_t n = r->blk_len - in < len ? r->blk_len - in : len;
        memcpy(out, r->blk + in, n);
        out += n;
        off += n;
        len -= n;
    }
    return 0;
}

void fmt_reader_close(struct fmt_reader *r)
{
    if (r->fd >= 0)
        close(r->fd);
    free(r->sec);
    free(r->blocks);
    free(r->blk);
    memset(r, 0, sizeof *r);
    r->fd = -1;
}

int fmt_hash_fd(int fd, uint64_t *size, uint64_t *checksum)
{
    enum { CHUNK = 1 << 20 };
    uint8_t *buf = malloc(CHUNK);
    XXH3_state_t *st = XXH3_createState();
    int rc = 0;
    uint64_t total = 0;
    if (!buf || !st) {
        rc = -ENOMEM;
        goto out;
    }
    XXH3_64bits_reset(st);
    for (;;) {
        ssize_t n = pread(fd, buf, CHUNK, (off_t)total);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            rc = -errno;
            goto out;
        }
        if (n == 0)
            break;
        XXH3_64bits_update(st, buf, (size_t)n);
        total += (uint64_t)n;
    }
    *size = total;
    *checksum = XXH3_64bits_digest(st);
out:
    free(buf);
    if (st)
        XXH3_freeState(st);
    return rc;
}
