/*
 * Checkpoint storage: shared files (shared/<name>, incremental RocksDB SSTs).
 *
 * The registry counts, per shared file, the retained checkpoints whose _metadata list it
 * (refs) and the running checkpoints that hold it (pins); sweep_shared deletes the files
 * neither holds. weir_ckpt_shared_add (a worker) queues SHARED; the io thread (shared_copy_in)
 * copies the file into shared/ unless the registry has it already, and records it for the
 * checkpoint's _metadata. Registry functions are called under s->lock.
 */
#include "storage_impl.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* --- registry of shared files (callers hold s->lock) ---------------------------------- */

static size_t name_hash(const char *name, size_t buckets)
{
    return (size_t)(XXH3_64bits(name, strlen(name)) & (buckets - 1));
}

struct reg_ent *reg_find(weir_storage *s, const char *name)
{
    if (!s->reg)
        return NULL;
    for (struct reg_ent *e = s->reg[name_hash(name, s->reg_buckets)]; e; e = e->next)
        if (strcmp(e->name, name) == 0)
            return e;
    return NULL;
}

struct reg_ent *reg_add(weir_storage *s, const char *name, uint64_t size, uint64_t checksum)
{
    struct reg_ent *e = reg_find(s, name);
    if (e)
        return e;
    if (s->reg_count + 1 > s->reg_buckets) {
        size_t nb = s->reg_buckets ? 2 * s->reg_buckets : 64;
        struct reg_ent **t = calloc(nb, sizeof *t);
        if (!t)
            return NULL;
        for (size_t i = 0; i < s->reg_buckets; i++) {
            for (struct reg_ent *x = s->reg[i], *nx; x; x = nx) {
                nx = x->next;
                size_t h = name_hash(x->name, nb);
                x->next = t[h];
                t[h] = x;
            }
        }
        free(s->reg);
        s->reg = t;
        s->reg_buckets = nb;
    }
    size_t n = strlen(name);
    e = calloc(1, sizeof *e + n + 1);
    if (!e)
        return NULL;
    memcpy(e->name, name, n + 1);
    e->size = size;
    e->checksum = checksum;
    size_t h = name_hash(name, s->reg_buckets);
    e->next = s->reg[h];
    s->reg[h] = e;
    s->reg_count++;
    return e;
}

void reg_remove(weir_storage *s, struct reg_ent *e)
{
    struct reg_ent **pp = &s->reg[name_hash(e->name, s->reg_buckets)];
    while (*pp && *pp != e)
        pp = &(*pp)->next;
    if (*pp) {
        *pp = e->next;
        s->reg_count--;
        free(e);
    }
}

unsigned weir_storage_shared_refs(weir_storage *s, const char *name)
{
    pthread_mutex_lock(&s->lock);
    struct reg_ent *e = reg_find(s, name);
    unsigned n = e ? e->refs + e->pins : 0;
    pthread_mutex_unlock(&s->lock);
    return n;
}

/* --- a worker adds a shared file ------------------------------------------------------- */

int weir_ckpt_shared_add(weir_ckpt *ck, const char *src_path, const char *name)
{
    if (!src_path || !fmt_name_ok(name))
        return -EINVAL;
    pthread_mutex_lock(&ck->s->lock);
    int rc = atomic_load(&ck->status);
    /* While the commit waits for a file not submitted yet, that file's writer may still add
     * (a heap snapshot written off the worker, whose task acked at once): the add is queued
     * ahead of the file's submit, so ahead of the commit's check. */
    if (rc == 0 && ck->state != WEIR_CKPT_WRITING && ck->state != WEIR_CKPT_COMMITTING)
        rc = -EBUSY;
    if (rc == 0)
        atomic_fetch_add(&ck->refs, 1);
    pthread_mutex_unlock(&ck->s->lock);
    if (rc < 0)
        return rc;
    struct shared_req *r = calloc(1, sizeof *r);
    if (!r || !(r->src = strdup(src_path)) || !(r->name = strdup(name))) {
        if (r) {
            free(r->src);
            free(r);
        }
        ck_put(ck);
        return -ENOMEM;
    }
    r->ck = ck;
    r->req.type = REQ_SHARED;
    io_enqueue(ck->s, &r->req);
    return 0;
}

/* --- file records, pins and the sweep (io thread) -------------------------------------- */

bool file_rec_add(struct file_rec **v, size_t *n, size_t *cap, const char *name, uint64_t size,
                  uint64_t sum)
{
    if (*n == *cap) {
        size_t c = *cap ? 2 * *cap : 16;
        struct file_rec *nv = realloc(*v, c * sizeof *nv);
        if (!nv)
            return false;
        *v = nv;
        *cap = c;
    }
    char *d = strdup(name);
    if (!d)
        return false;
    (*v)[(*n)++] = (struct file_rec){d, size, sum};
    return true;
}

struct file_rec *file_rec_find(struct file_rec *v, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i].name, name) == 0)
            return &v[i];
    return NULL;
}

/* Under s->lock. */
bool reg_pin(struct weir_storage *s, struct weir_ckpt *ck, struct reg_ent *e)
{
    for (size_t i = 0; i < ck->npins; i++)
        if (strcmp(ck->pins[i], e->name) == 0)
            return true;
    if (ck->npins == ck->cappins) {
        size_t c = ck->cappins ? 2 * ck->cappins : 16;
        char **np = realloc(ck->pins, c * sizeof *np);
        if (!np)
            return false;
        ck->pins = np;
        ck->cappins = c;
    }
    if (!(ck->pins[ck->npins] = strdup(e->name)))
        return false;
    ck->npins++;
    e->pins++;
    return true;
}

/* Under s->lock. */
void reg_unpin_all(struct weir_storage *s, struct weir_ckpt *ck)
{
    for (size_t i = 0; i < ck->npins; i++) {
        struct reg_ent *e = reg_find(s, ck->pins[i]);
        if (e && e->pins)
            e->pins--;
        free(ck->pins[i]);
    }
    ck->npins = 0;
}

/* Deletes the shared files that no retained checkpoint lists and no running one holds
 * (and anything else in shared/ the storage does not know: leftovers of a crash). */
void sweep_shared(struct weir_storage *s)
{
    int fd = openat(s->shared_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return;
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return;
    }
    size_t n = 0, cap = 0;
    char **doomed = NULL;
    struct dirent *de;
    pthread_mutex_lock(&s->lock);
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        struct reg_ent *e = reg_find(s, de->d_name);
        if (e && (e->refs || e->pins))
            continue;
        if (e)
            reg_remove(s, e);
        if (n == cap) {
            size_t c = cap ? 2 * cap : 16;
            char **nd = realloc(doomed, c * sizeof *nd);
            if (!nd)
                break;
            doomed = nd;
            cap = c;
        }
        if (!(doomed[n] = strdup(de->d_name)))
            break;
        n++;
    }
    /* Entries whose file is gone already. */
    for (size_t b = 0; b < s->reg_buckets; b++) {
        for (struct reg_ent *e = s->reg[b], *nx; e; e = nx) {
            nx = e->next;
            if (!e->refs && !e->pins)
                reg_remove(s, e);
        }
    }
    pthread_mutex_unlock(&s->lock);
    closedir(d);
    for (size_t i = 0; i < n; i++) {
        if (unlinkat(s->shared_fd, doomed[i], 0) < 0 && errno != ENOENT)
            storage_log(s, "state.checkpoints.dir: %s/%s: cannot delete: %s", s->shared_dir,
                        doomed[i], strerror(errno));
        free(doomed[i]);
    }
    free(doomed);
}

/* --- copying a shared file in (io thread) ---------------------------------------------- */

static int copy_into(int src_fd, int dirfd, const char *name)
{
    int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    int rc = 0;
    off_t off = 0;
    for (;;) {
        ssize_t n = copy_file_range(src_fd, &off, fd, NULL, 1 << 30, 0);
        if (n > 0)
            continue;
        if (n == 0)
            break;
        if (errno == EINTR)
            continue;
        if (errno != EXDEV && errno != ENOSYS && errno != EINVAL && errno != EOPNOTSUPP) {
            rc = -errno;
            break;
        }
        /* No copy_file_range here: plain reads and writes from where it stopped. */
        char *buf = malloc(1 << 20);
        if (!buf) {
            rc = -ENOMEM;
            break;
        }
        for (;;) {
            ssize_t r = pread(src_fd, buf, 1 << 20, off);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0) {
                rc = r < 0 ? -errno : 0;
                break;
            }
            for (ssize_t w = 0; w < r;) {
                ssize_t x = write(fd, buf + w, (size_t)(r - w));
                if (x < 0 && errno == EINTR)
                    continue;
                if (x <= 0) {
                    rc = x < 0 ? -errno : -EIO;
                    break;
                }
                w += x;
            }
            if (rc)
                break;
            off += r;
        }
        free(buf);
        break;
    }
    if (rc == 0 && fsync(fd) < 0)
        rc = -errno;
    close(fd);
    if (rc < 0)
        unlinkat(dirfd, name, 0);
    return rc;
}

/* Puts src at dirfd/name: a hard link where the filesystem allows, else a copy. */
static int place_file(const char *src, int dirfd, const char *name, bool allow_link,
                      const char **what)
{
    if (allow_link) {
        *what = "link";
        if (linkat(AT_FDCWD, src, dirfd, name, 0) == 0)
            return 0;
        if (errno == EEXIST) {
            /* Unknown to the registry, so a leftover of a crash: replace it. */
            if (unlinkat(dirfd, name, 0) == 0 && linkat(AT_FDCWD, src, dirfd, name, 0) == 0)
                return 0;
        }
        if (errno != EXDEV && errno != EPERM && errno != EMLINK && errno != EOPNOTSUPP &&
            errno != EEXIST)
            return -errno;
    }
    *what = "copy";
    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return -errno;
    int rc = copy_into(in, dirfd, name);
    close(in);
    return rc;
}

void shared_copy_in(struct weir_storage *s, struct shared_req *r)
{
    struct weir_ckpt *ck = r->ck;
    int dirfd = ck->savepoint ? ck->dirfd : s->shared_fd;
    const char *dir = ck->savepoint ? ck->path : s->shared_dir, *what = "link";
    int rc = 0;
    if (ck_failed(ck) || ck->io_done)
        goto out;
    if (file_rec_find(ck->shared, ck->nshared, r->name))
        goto out; /* added twice by this checkpoint */
    if (!ck->savepoint) {
        pthread_mutex_lock(&s->lock);
        struct reg_ent *e = reg_find(s, r->name);
        bool held = e && (e->refs || e->pins);
        bool ok = held && reg_pin(s, ck, e);
        uint64_t size = held ? e->size : 0, sum = held ? e->checksum : 0;
        pthread_mutex_unlock(&s->lock);
        if (held) {
            /* Already in shared/ for a retained or running checkpoint: not copied again. */
            if (!ok || !file_rec_add(&ck->shared, &ck->nshared, &ck->capshared, r->name, size, sum))
                ck_fail(ck, -ENOMEM, true, "%s: %s/%s: out of memory", ck_key(ck), dir, r->name);
            goto out;
        }
    }
    rc = place_file(r->src, dirfd, r->name, !ck->savepoint, &what);
    if (rc < 0)
        goto fail;
    what = "checksum";
    int fd = openat(dirfd, r->name, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = -errno;
        goto fail;
    }
    uint64_t size = 0, sum = 0;
    /* A link keeps the mode RocksDB gave its SST (0644): the shared name takes ours. */
    what = "chmod";
    rc = fchmod(fd, s->file_mode) < 0 ? -errno : 0;
    if (rc == 0) {
        what = "checksum";
        rc = fmt_hash_fd(fd, &size, &sum);
    }
    /* A link shares the inode with a file we did not write: make its data durable too. */
    if (rc == 0 && fsync(fd) < 0) {
        rc = -errno;
        what = "fsync";
    }
    close(fd);
    if (rc < 0)
        goto fail;
    if (!ck->savepoint) {
        pthread_mutex_lock(&s->lock);
        struct reg_ent *e = reg_add(s, r->name, size, sum);
        bool ok = e && reg_pin(s, ck, e);
        if (ok)
            ck->bytes_shared_new += size;
        pthread_mutex_unlock(&s->lock);
        if (!ok) {
            rc = -ENOMEM;
            goto fail;
        }
        ck->added_shared = true;
    }
    if (!file_rec_add(&ck->shared, &ck->nshared, &ck->capshared, r->name, size, sum)) {
        rc = -ENOMEM;
        goto fail;
    }
    goto out;
fail:
    ck_fail(ck, rc, true, "%s: %s/%s: %s %s: %s", ck_key(ck), dir, r->name, what, r->src,
            strerror(-rc));
out:
    ck_try_settle(s, ck);
    free(r->src);
    free(r->name);
    free(r);
    ck_put(ck);
}
