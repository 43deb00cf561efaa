/*
 * Reading checkpoints back: the scan at open (which checkpoints are retained, which shared
 * files they count), finding the newest valid checkpoint at start or restart, and reading
 * _metadata and state files with every checksum checked.
 *
 * Validation of a checkpoint directory, cheapest first: _metadata present (else the
 * checkpoint never completed), its trailer, footer, header and every checksum, its id;
 * then every state file it lists: size as recorded, trailer, footer, header, id, and
 * (unless WEIR_RESTORE_QUICK) every block and the whole-file checksum, which must equal the
 * one recorded; then every shared file: size and (unless quick) checksum.
 *
 * Each byte of a state file is read once: the validation of the checkpoint that is chosen
 * maps its state files (read-only, populated) and hashes them in place, and the restore
 * copies its sections out of those verified maps (no second read, no second hash), so a
 * damaged file is still found before any state of that checkpoint is used (and the one
 * before is chosen). A file that cannot be mapped is read and verified as before, block by
 * block, and so are all of them under WEIR_RESTORE_QUICK. The maps go at weir_restore_close.
 */
#include "storage_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* The verified state files of a checkpoint, mapped (see the top). */
struct file_map {
    const char *name; /* _metadata's */
    uint8_t *p;
    size_t len;
};
struct file_maps {
    size_t n;
    struct file_map m[];
};

static void file_maps_free(struct file_maps *fm)
{
    if (!fm)
        return;
    for (size_t i = 0; i < fm->n; i++)
        munmap(fm->m[i].p, fm->m[i].len);
    free(fm);
}

struct weir_restore {
    char *dir, *shared_dir;
    int dirfd, shared_fd;
    struct meta_owned *mo;
    struct file_maps *maps; /* NULL: none mapped */
};

struct weir_restore_file {
    struct fmt_reader rd;
    struct weir_snapshot_in in;
    uint64_t pos, end;
};

int read_metadata(int dirfd, struct meta_owned **out, char *why, size_t whylen)
{
    return read_metadata_named(dirfd, "_metadata", out, why, whylen);
}

int read_metadata_named(int dirfd, const char *name, struct meta_owned **out, char *why,
                        size_t whylen)
{
    struct fmt_reader r;
    char w[256];
    uint8_t *whole = NULL;
    int rc = fmt_reader_open(&r, dirfd, name, 0, w, sizeof w);
    if (rc < 0) {
        errbuf_printf(why, whylen, "_metadata: %s", w);
        return rc;
    }
    if (r.h.kind != FMT_KIND_METADATA) {
        errbuf_printf(why, whylen, "_metadata: not a metadata file");
        fmt_reader_close(&r);
        return -EBADMSG;
    }
    if ((rc = fmt_reader_verify(&r, 0, &whole, w, sizeof w)) < 0) {
        errbuf_printf(why, whylen, "_metadata: %s", w);
        fmt_reader_close(&r);
        return rc;
    }
    rc = meta_decode(whole, r.file_size, r.sec, r.nsec, out, why, whylen);
    if (rc == 0 && (*out)->meta.checkpoint_id != r.h.checkpoint_id) {
        errbuf_printf(why, whylen, "_metadata: checkpoint id differs from its header");
        free(*out);
        *out = NULL;
        rc = -EBADMSG;
    }
    free(whole);
    fmt_reader_close(&r);
    return rc;
}

/* Every file m lists, as described at the top. why gets "<file>: <reason>". With maps (and
 * not WEIR_RESTORE_QUICK), *maps gets the state files mapped and verified (NULL when none
 * could be), to be freed with file_maps_free; nothing on failure. */
static int validate_mapped(int dirfd, int shared_fd, const struct weir_ckpt_meta *m, unsigned flags,
                           struct file_maps **maps, char *why, size_t whylen)
{
    char w[256];
    struct file_maps *fm = NULL;
    if (maps && !(flags & WEIR_RESTORE_QUICK) && m->entry_count)
        fm = calloc(1, sizeof *fm + m->entry_count * sizeof fm->m[0]);
    for (size_t i = 0; i < m->entry_count; i++) {
        const struct weir_ckpt_entry *e = &m->entries[i];
        if (!e->file || !*e->file)
            continue;
        /* The same file listed twice: check it once. */
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++)
            seen = m->entries[j].file && !strcmp(m->entries[j].file, e->file);
        if (seen)
            continue;
        struct fmt_reader r;
        int rc = fmt_reader_open(&r, dirfd, e->file, e->size_bytes, w, sizeof w);
        if (rc == 0 && (r.h.kind != FMT_KIND_STATE || r.h.checkpoint_id != m->checkpoint_id)) {
            snprintf(w, sizeof w, "belongs to another checkpoint");
            rc = -EBADMSG;
        }
        if (rc == 0 && (flags & WEIR_RESTORE_QUICK) && r.checksum != e->checksum) {
            snprintf(w, sizeof w, "checksum differs from the one _metadata records");
            rc = -EBADMSG;
        }
        uint8_t *p = NULL;
        if (rc == 0 && fm && r.file_size <= SIZE_MAX) {
            p = mmap(NULL, (size_t)r.file_size, PROT_READ, MAP_SHARED | MAP_POPULATE, r.fd, 0);
            if (p == MAP_FAILED)
                p = NULL; /* read block by block instead */
            r.map = p;
        }
        if (rc == 0 && !(flags & WEIR_RESTORE_QUICK))
            rc = fmt_reader_verify(&r, e->checksum, NULL, w, sizeof w);
        if (p && rc == 0)
            fm->m[fm->n++] = (struct file_map){e->file, p, (size_t)r.file_size};
        else if (p)
            munmap(p, (size_t)r.file_size);
        fmt_reader_close(&r);
        if (rc < 0) {
            errbuf_printf(why, whylen, "%s: %s", e->file, w);
            file_maps_free(fm);
            return rc;
        }
    }
    for (size_t i = 0; i < m->shared_count; i++) {
        const struct weir_ckpt_shared *x = &m->shared[i];
        int fd = openat(shared_fd, x->name, O_RDONLY | O_CLOEXEC);
        int rc = 0;
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0) {
            rc = -errno;
            errbuf_printf(why, whylen, "shared file %s: %s", x->name, strerror(-rc));
        } else if ((uint64_t)st.st_size != x->size_bytes) {
            rc = -EBADMSG;
            errbuf_printf(why, whylen, "shared file %s: %llu bytes, _metadata says %llu", x->name,
                          (unsigned long long)st.st_size, (unsigned long long)x->size_bytes);
        } else if (!(flags & WEIR_RESTORE_QUICK)) {
            uint64_t size, sum;
            rc = fmt_hash_fd(fd, &size, &sum);
            if (rc == 0 && sum != x->checksum) {
                rc = -EBADMSG;
                errbuf_printf(why, whylen, "shared file %s: checksum mismatch", x->name);
            } else if (rc < 0) {
                errbuf_printf(why, whylen, "shared file %s: read: %s", x->name, strerror(-rc));
            }
        }
        if (fd >= 0)
            close(fd);
        if (rc < 0) {
            file_maps_free(fm);
            return rc;
        }
    }
    if (maps)
        *maps = fm;
    else
        file_maps_free(fm);
    return 0;
}

int validate_ckpt(int dirfd, int shared_fd, const struct weir_ckpt_meta *m, unsigned flags,
                  char *why, size_t whylen)
{
    return validate_mapped(dirfd, shared_fd, m, flags, NULL, why, whylen);
}

/* At open: every chk-N with a readable _metadata is retained (until the next commit's
 * retention), and counts its shared files; shared files nothing counts are deleted, unless
 * some _metadata could not be read (it may list files we cannot see: better to keep them). */
int storage_scan(struct weir_storage *s, char *err, size_t errlen)
{
    uint64_t *ids;
    size_t n;
    int rc = list_checkpoints(s->job_fd, &ids, &n);
    if (rc < 0) {
        errbuf_printf(err, errlen, "state.checkpoints.dir: %s: %s", s->job_dir, strerror(-rc));
        return rc;
    }
    bool unreadable = false;
    for (size_t i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof name, "chk-%" PRIu64, ids[i]);
        if (ids[i] > s->max_id)
            s->max_id = ids[i];
        int fd = openat(s->job_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
            continue;
        struct meta_owned *mo = NULL;
        char why[256];
        rc = read_metadata(fd, &mo, why, sizeof why);
        close(fd);
        if (rc == -ENOENT)
            continue; /* never completed */
        if (rc < 0 || mo->meta.checkpoint_id != ids[i]) {
            unreadable = true;
            free(mo);
            continue;
        }
        rc = retained_add(s, ids[i], &mo->meta);
        free(mo);
        if (rc < 0) {
            free(ids);
            errbuf_printf(err, errlen, "checkpoint storage: out of memory");
            return rc;
        }
    }
    free(ids);
    if (!unreadable)
        sweep_shared(s);
    return 0;
}

static int restore_new(const char *dir, int dirfd, const char *shared_dir, int shared_fd,
                       struct meta_owned *mo, struct file_maps *maps, weir_restore **out)
{
    weir_restore *r = calloc(1, sizeof *r);
    if (!r || !(r->dir = strdup(dir)) || !(r->shared_dir = strdup(shared_dir))) {
        if (r)
            free(r->dir);
        free(r);
        return -ENOMEM;
    }
    r->dirfd = dirfd;
    r->shared_fd = shared_fd;
    r->mo = mo;
    r->maps = maps;
    *out = r;
    return 0;
}

int weir_restore_open_latest(weir_storage *s, unsigned flags, weir_restore **out)
{
    uint64_t *ids;
    size_t n;
    *out = NULL;
    int rc = list_checkpoints(s->job_fd, &ids, &n);
    if (rc < 0)
        return rc;
    if (n == 0) {
        free(ids);
        return -ENOENT;
    }
    struct skipped {
        uint64_t id;
        bool incomplete;
        char why[300];
    } *skip = calloc(n, sizeof *skip);
    size_t nskip = 0;
    if (!skip) {
        free(ids);
        return -ENOMEM;
    }
    uint64_t chosen = 0;
    bool any_metadata = false;
    int chosen_fd = -1;
    struct meta_owned *chosen_mo = NULL;
    struct file_maps *chosen_maps = NULL;
    for (size_t i = n; i-- > 0;) {
        char name[32];
        snprintf(name, sizeof name, "chk-%" PRIu64, ids[i]);
        struct skipped *k = &skip[nskip];
        k->id = ids[i];
        int fd = openat(s->job_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) {
            snprintf(k->why, sizeof k->why, "%s", strerror(errno));
            nskip++;
            continue;
        }
        struct meta_owned *mo = NULL;
        rc = read_metadata(fd, &mo, k->why, sizeof k->why);
        any_metadata |= rc != -ENOENT;
        if (rc == -ENOENT) {
            k->incomplete = true;
            snprintf(k->why, sizeof k->why, "no _metadata");
        } else if (rc == 0 && mo->meta.checkpoint_id != ids[i]) {
            snprintf(k->why, sizeof k->why, "_metadata is of chk-%" PRIu64, mo->meta.checkpoint_id);
            rc = -EBADMSG;
        } else if (rc == 0 && strcmp(mo->meta.job, s->job) != 0) {
            snprintf(k->why, sizeof k->why, "_metadata is of job %s", mo->meta.job);
            rc = -EBADMSG;
        } else if (rc == 0) {
            rc = validate_mapped(fd, s->shared_fd, &mo->meta, flags, &chosen_maps, k->why,
                                 sizeof k->why);
        }
        if (rc == -ENOMEM) {
            free(mo);
            close(fd);
            goto out;
        }
        if (rc == 0) {
            chosen = ids[i];
            chosen_fd = fd;
            chosen_mo = mo;
            break;
        }
        free(mo);
        close(fd);
        nskip++;
    }
    for (size_t i = 0; i < nskip; i++) {
        char tail[64];
        if (chosen)
            snprintf(tail, sizeof tail, "using chk-%" PRIu64, chosen);
        else
            snprintf(tail, sizeof tail, "no earlier complete checkpoint");
        storage_log(s, "checkpoint chk-%" PRIu64 " is %s (%s): %s", skip[i].id,
                    skip[i].incomplete ? "incomplete" : "corrupt", skip[i].why, tail);
    }
    /* What failed no longer counts as retained: its shared files lose its references and
     * the next commit's retention deletes its directory. */
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < nskip; i++) {
        for (size_t j = 0; j < s->nret; j++) {
            if (s->ret[j].id == skip[i].id) {
                retained_drop_at(s, j);
                break;
            }
        }
    }
    pthread_mutex_unlock(&s->lock);
    if (!chosen) {
        rc = any_metadata ? -EBADMSG : -ENOENT;
        goto out;
    }
    char *dir = malloc(strlen(s->job_dir) + 32);
    int sfd = dup(s->shared_fd);
    if (!dir || sfd < 0) {
        free(dir);
        if (sfd >= 0)
            close(sfd);
        free(chosen_mo);
        file_maps_free(chosen_maps);
        close(chosen_fd);
        rc = -ENOMEM;
        goto out;
    }
    sprintf(dir, "%s/chk-%" PRIu64, s->job_dir, chosen);
    rc = restore_new(dir, chosen_fd, s->shared_dir, sfd, chosen_mo, chosen_maps, out);
    free(dir);
    if (rc < 0) {
        free(chosen_mo);
        file_maps_free(chosen_maps);
        close(chosen_fd);
        close(sfd);
    }
out:
    free(skip);
    free(ids);
    return rc;
}

int weir_restore_open_dir(const char *path, unsigned flags, weir_restore **out, char *err,
                          size_t errlen)
{
    *out = NULL;
    if (!strncmp(path, "s3://", 5)) {
        errbuf_printf(err, errlen,
                      "%s: a checkpoint in S3 is restored with latest, state.checkpoints.dir "
                      "set to its s3://bucket/prefix (a named one: not supported yet)",
                      path);
        return -EINVAL;
    }
    int dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0) {
        int rc = -errno;
        errbuf_printf(err, errlen, "%s: %s", path, strerror(-rc));
        return rc;
    }
    struct meta_owned *mo = NULL;
    char why[300];
    int rc = read_metadata(dirfd, &mo, why, sizeof why);
    if (rc < 0) {
        if (rc == -ENOENT)
            errbuf_printf(err, errlen, "%s: no _metadata (not a complete savepoint or checkpoint)",
                          path);
        else
            errbuf_printf(err, errlen, "%s: %s", path, why);
        close(dirfd);
        return rc;
    }
    /* A savepoint holds its shared files; a checkpoint directory finds them in ../shared. */
    size_t plen = strlen(path) + 16;
    char *shared = malloc(plen);
    if (!shared) {
        free(mo);
        close(dirfd);
        return -ENOMEM;
    }
    if (mo->meta.savepoint)
        snprintf(shared, plen, "%s", path);
    else
        snprintf(shared, plen, "%s/../shared", path);
    int sfd = mo->meta.savepoint ? dup(dirfd)
                                 : openat(dirfd, "../shared", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (sfd < 0 && mo->meta.shared_count) {
        rc = -errno;
        errbuf_printf(err, errlen, "%s: %s", shared, strerror(-rc));
        goto fail;
    }
    struct file_maps *maps = NULL;
    rc = validate_mapped(dirfd, sfd, &mo->meta, flags, &maps, why, sizeof why);
    if (rc < 0) {
        errbuf_printf(err, errlen, "%s: %s", path, why);
        goto fail;
    }
    rc = restore_new(path, dirfd, shared, sfd, mo, maps, out);
    if (rc < 0) {
        file_maps_free(maps);
        goto fail;
    }
    free(shared);
    return 0;
fail:
    free(shared);
    free(mo);
    if (sfd >= 0)
        close(sfd);
    close(dirfd);
    return rc;
}

const struct weir_ckpt_meta *weir_restore_meta(const weir_restore *r)
{
    return &r->mo->meta;
}

const char *weir_restore_dir(const weir_restore *r)
{
    return r->dir;
}

int weir_restore_shared_path(const weir_restore *r, const char *name, char *buf, size_t len)
{
    const struct weir_ckpt_meta *m = &r->mo->meta;
    for (size_t i = 0; i < m->shared_count; i++) {
        if (strcmp(m->shared[i].name, name) == 0) {
            int w = snprintf(buf, len, "%s/%s", r->shared_dir, name);
            return (w < 0 || (size_t)w >= len) ? -ENOSPC : 0;
        }
    }
    return -ENOENT;
}

void weir_restore_close(weir_restore *r)
{
    if (!r)
        return;
    close(r->dirfd);
    if (r->shared_fd >= 0)
        close(r->shared_fd);
    free(r->mo);
    free(r->dir);
    free(r->shared_dir);
    file_maps_free(r->maps);
    free(r);
}

/* --- state files ------------------------------------------------------------------- */

static int section_read(struct weir_snapshot_in *in, void *buf, size_t len)
{
    struct weir_restore_file *f = in->arg;
    if (len == 0)
        return 0;
    if (f->pos == f->end)
        return -ENODATA;
    if (len > f->end - f->pos)
        return -EIO;
    int rc = fmt_reader_pread(&f->rd, buf, len, f->pos, NULL, 0);
    if (rc < 0)
        return rc;
    f->pos += len;
    return 0;
}

static uint64_t section_remaining(struct weir_snapshot_in *in)
{
    const struct weir_restore_file *f = in->arg;
    return f->end - f->pos;
}

int weir_restore_file_open(weir_restore *r, const char *name, weir_restore_file **out)
{
    const struct weir_ckpt_meta *m = &r->mo->meta;
    const struct weir_ckpt_entry *e = NULL;
    *out = NULL;
    for (size_t i = 0; i < m->entry_count && !e; i++)
        if (m->entries[i].file && !strcmp(m->entries[i].file, name))
            e = &m->entries[i];
    if (!e)
        return -ENOENT;
    weir_restore_file *f = calloc(1, sizeof *f);
    if (!f)
        return -ENOMEM;
    int rc = fmt_reader_open(&f->rd, r->dirfd, name, e->size_bytes, NULL, 0);
    if (rc == 0 && (f->rd.h.kind != FMT_KIND_STATE || f->rd.checksum != e->checksum))
        rc = -EBADMSG;
    for (size_t i = 0; rc == 0 && r->maps && i < r->maps->n; i++)
        if (!strcmp(r->maps->m[i].name, name) && r->maps->m[i].len == f->rd.file_size) {
            f->rd.map = r->maps->m[i].p; /* verified when the checkpoint was chosen */
            f->rd.mapped = true;
        }
    if (rc < 0) {
        fmt_reader_close(&f->rd);
        free(f);
        return rc;
    }
    f->in.read = section_read;
    f->in.remaining = section_remaining;
    f->in.arg = f;
    *out = f;
    return 0;
}

size_t weir_restore_file_section_count(const weir_restore_file *f)
{
    return f->rd.nsec;
}

int weir_restore_file_section(const weir_restore_file *f, size_t i, uint64_t *tag,
                              uint64_t *len_bytes)
{
    if (i >= f->rd.nsec)
        return -ERANGE;
    if (tag)
        *tag = f->rd.sec[i].tag;
    if (len_bytes)
        *len_bytes = f->rd.sec[i].length;
    return 0;
}

int weir_restore_file_find(const weir_restore_file *f, uint64_t tag, size_t *i)
{
    for (size_t k = 0; k < f->rd.nsec; k++) {
        if (f->rd.sec[k].tag == tag) {
            *i = k;
            return 0;
        }
    }
    return -ENOENT;
}

struct weir_snapshot_in *weir_restore_file_section_in(weir_restore_file *f, size_t i)
{
    if (i >= f->rd.nsec)
        return NULL;
    f->pos = f->rd.sec[i].offset;
    f->end = f->pos + f->rd.sec[i].length;
    return &f->in;
}

void weir_restore_file_close(weir_restore_file *f)
{
    if (!f)
        return;
    fmt_reader_close(&f->rd);
    free(f);
}
