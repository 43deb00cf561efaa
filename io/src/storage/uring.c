/*
 * The io thread of checkpoint storage: the only thread that touches the disk while
 * checkpoints are written.
 *
 * It takes requests from the FIFO in order (so a file's buffers are checksummed in file
 * order and a checkpoint's BEGIN comes before its files), writes buffers with io_uring at
 * their offsets (up to depth in flight), fsyncs each file when its last write is done, and
 * commits _metadata with a linked chain: [fsync shared/ →] write _metadata.tmp → fsync it →
 * renameat to _metadata → fsync the checkpoint directory (whose own entry in its parent was
 * fsynced when it was made, while the files were written). It sleeps in
 * io_uring_submit_and_wait only, with a read armed on the eventfd that enqueue() writes, so
 * new requests and completions wake it alike.
 *
 * Rule: it never holds s->lock across a system call that can wait on the disk, because
 * workers take s->lock in weir_ckpt_file_open.
 */
#include "storage_impl.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static bool ck_failed(struct weir_ckpt *ck)
{
    return atomic_load(&ck->status) < 0;
}

static void ck_get(struct weir_ckpt *ck)
{
    atomic_fetch_add(&ck->refs, 1);
}

/* An SQE, submitting what is queued when the SQ is full (the kernel then has consumed it). */
static struct io_uring_sqe *get_sqe(struct weir_storage *s)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&s->ring);
    while (!sqe) {
        int rc = io_uring_submit(&s->ring);
        if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) {
            storage_log(s, "checkpoint storage: io_uring_submit: %s", strerror(-rc));
            atomic_store(&s->state, ST_BROKEN);
        }
        sqe = io_uring_get_sqe(&s->ring);
    }
    return sqe;
}

static void arm_efd(struct weir_storage *s)
{
    struct io_uring_sqe *sqe = get_sqe(s);
    io_uring_prep_read(sqe, s->efd, &s->efd_val, sizeof s->efd_val, 0);
    io_uring_sqe_set_data(sqe, &s->efd_op);
}

static bool add_rec(struct file_rec **v, size_t *n, size_t *cap, const char *name, uint64_t size,
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

static struct file_rec *find_rec(struct file_rec *v, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i].name, name) == 0)
            return &v[i];
    return NULL;
}

/* Under s->lock. */
static bool pin(struct weir_storage *s, struct weir_ckpt *ck, struct reg_ent *e)
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
static void unpin_all(struct weir_storage *s, struct weir_ckpt *ck)
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

/* After checkpoint new_id completed: keep num_retained complete checkpoints, delete every
 * other checkpoint directory below new_id that no running checkpoint owns (older ones,
 * failed leftovers, ones found corrupt), then the shared files nothing lists any more. */
static void retention(struct weir_storage *s, uint64_t new_id)
{
    uint64_t *keep = NULL, *ids = NULL;
    size_t nkeep = 0, nids = 0;
    pthread_mutex_lock(&s->lock);
    while (s->nret > (size_t)s->num_retained)
        retained_drop_at(s, 0);
    size_t cnt = s->nret;
    for (struct weir_ckpt *c = s->cks; c; c = c->next)
        cnt++;
    keep = malloc((cnt ? cnt : 1) * sizeof *keep);
    if (keep) {
        for (size_t i = 0; i < s->nret; i++)
            keep[nkeep++] = s->ret[i].id;
        for (struct weir_ckpt *c = s->cks; c; c = c->next)
            if (!c->savepoint)
                keep[nkeep++] = c->id;
    }
    pthread_mutex_unlock(&s->lock);
    if (keep && list_checkpoints(s->job_fd, &ids, &nids) == 0) {
        for (size_t i = 0; i < nids && ids[i] < new_id; i++) {
            bool kept = false;
            for (size_t k = 0; k < nkeep && !kept; k++)
                kept = keep[k] == ids[i];
            if (kept)
                continue;
            char name[32];
            snprintf(name, sizeof name, "chk-%" PRIu64, ids[i]);
            int rc = rm_rf_at(s->job_fd, name);
            if (rc < 0)
                storage_log(s, "state.checkpoints.dir: %s/%s: cannot delete: %s", s->job_dir, name,
                            strerror(-rc));
        }
    }
    free(ids);
    free(keep);
    sweep_shared(s);
}

/* --- settling -------------------------------------------------------------------------- */

static void file_done_cb(struct weir_ckpt_file *f, int status)
{
    struct weir_ckpt *ck = f->ck;
    if (!f->finished && !ck->io_done && ck->cb.file_done) {
        struct weir_ckpt_file_info fi = {f->name, status ? 0 : f->size, status ? 0 : f->checksum};
        ck->cb.file_done(ck->cb.arg, ck, &fi, status);
    }
    f->finished = true;
}

/* Removes what a failed checkpoint left on disk. */
static void remove_ck_dir(struct weir_storage *s, struct weir_ckpt *ck)
{
    int rc = 0;
    if (!ck->dir_made)
        return;
    if (!ck->savepoint) {
        rc = rm_rf_at(s->job_fd, ck->label);
    } else if (!ck->dir_existed) {
        rc = rm_rf_at(AT_FDCWD, ck->path);
    } else {
        /* The person's own empty directory: take back only what we put in it. */
        int fd = open(ck->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
        if (d) {
            struct dirent *de;
            unlinkat(fd, "_metadata", 0);
            while ((de = readdir(d)))
                if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
                    rm_rf_at(fd, de->d_name);
            closedir(d);
        } else if (fd >= 0) {
            close(fd);
        }
    }
    if (rc < 0)
        storage_log(s, "%s: %s: cannot delete: %s", ck_key(ck), ck->path, strerror(-rc));
}

/* The checkpoint's outcome is final: it leaves the running list and done() runs. Its
 * settling (weir_ckpt_wait returning) waits for ck_mark_settled, after the clean-up that
 * follows (retention, or the shared files a failure released), so that a waiter sees the
 * disk as the outcome leaves it; done() does not wait for that clean-up. */
static void ck_finish(struct weir_storage *s, struct weir_ckpt *ck)
{
    int status = atomic_load(&ck->status);
    pthread_mutex_lock(&s->lock);
    unpin_all(s, ck);
    for (struct weir_ckpt **pp = &s->cks; *pp; pp = &(*pp)->next) {
        if (*pp == ck) {
            *pp = ck->next;
            break;
        }
    }
    pthread_mutex_unlock(&s->lock);
    if (status == 0)
        atomic_fetch_add(&s->cks_completed, 1);
    else
        atomic_fetch_add(&s->cks_failed, 1);
    if (ck->dirfd >= 0)
        close(ck->dirfd);
    if (ck->parentfd >= 0)
        close(ck->parentfd);
    ck->dirfd = ck->parentfd = -1;
    if (ck->cb.done)
        ck->cb.done(ck->cb.arg, ck, status);
}

static void ck_mark_settled(struct weir_storage *s, struct weir_ckpt *ck)
{
    pthread_mutex_lock(&s->lock);
    ck->settled = true;
    assert(ck_check_state(ck));
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
}

/* A failed checkpoint is settled once nothing of it is in flight: files closed, directory
 * removed, shared files released, done() called. */
static void ck_try_settle(struct weir_storage *s, struct weir_ckpt *ck)
{
    if (!ck->begun || ck->io_done || !ck_failed(ck) || ck->io_pending)
        return;
    ck_get(ck);
    for (struct weir_ckpt_file *f = ck->io_files; f; f = f->io_next) {
        if (f->fd >= 0) {
            close(f->fd);
            f->fd = -1;
        }
    }
    if (ck->tmpfd >= 0) {
        close(ck->tmpfd);
        ck->tmpfd = -1;
    }
    remove_ck_dir(s, ck);
    int status = atomic_load(&ck->status);
    for (struct weir_ckpt_file *f = ck->io_files, *nx; f; f = nx) {
        nx = f->io_next;
        if (f->submitted) {
            file_done_cb(f, status);
            file_free(f);
        }
    }
    bool had_pins = ck->npins > 0;
    ck->io_done = true; /* no more callbacks; files that arrive later are freed */
    ck_finish(s, ck);
    if (had_pins)
        sweep_shared(s);
    ck_mark_settled(s, ck);
    ck_put(ck); /* the io thread's reference */
    ck_put(ck);
}

/* --- the commit chain ------------------------------------------------------------------ */

static void ck_complete(struct weir_storage *s, struct weir_ckpt *ck)
{
    pthread_mutex_lock(&s->lock);
    ck->state = WEIR_CKPT_COMPLETE;
    int rc = ck->savepoint ? 0 : retained_add(s, ck->id, ck->commit_meta);
    pthread_mutex_unlock(&s->lock);
    if (rc < 0)
        storage_log(s, "%s: out of memory: its shared files are not counted", ck->label);
    ck_get(ck);
    ck->io_done = true;
    ck_finish(s, ck);
    if (!ck->savepoint)
        retention(s, ck->id);
    ck_mark_settled(s, ck);
    ck_put(ck); /* the io thread's reference */
    ck_put(ck);
}

/* Without IORING_OP_RENAMEAT (kernels before 5.11): the same steps, synchronously. */
static int commit_sync(struct weir_storage *s, struct weir_ckpt *ck, const char **what)
{
    const uint8_t *p = ck->meta_file.buf;
    size_t left = ck->meta_file.len;
    *what = "write _metadata.tmp";
    while (left) {
        ssize_t n = write(ck->tmpfd, p, left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -errno : -EIO;
        p += n;
        left -= (size_t)n;
    }
    *what = "fsync _metadata.tmp";
    if (fsync(ck->tmpfd) < 0)
        return -errno;
    *what = "rename _metadata.tmp";
    if (renameat(ck->dirfd, "_metadata.tmp", ck->dirfd, "_metadata") < 0)
        return -errno;
    *what = "fsync directory";
    if (fsync(ck->dirfd) < 0)
        return -errno;
    return 0;
}

/* Fills in and checks what _metadata says against what was written. Returns 0, or fails ck. */
static int commit_check(struct weir_storage *s, struct weir_ckpt *ck)
{
    struct weir_ckpt_meta *m = ck->commit_meta;
    struct weir_ckpt_entry *ents = (struct weir_ckpt_entry *)m->entries;
    struct weir_ckpt_shared *sh = (struct weir_ckpt_shared *)m->shared;
    for (size_t i = 0; i < m->entry_count; i++) {
        struct weir_ckpt_entry *e = &ents[i];
        if (!e->file || !*e->file)
            continue;
        struct file_rec *r = find_rec(ck->durable, ck->ndurable, e->file);
        if (!r) {
            ck_fail(ck, -ENOENT, true,
                    "%s: %s/_metadata: entry %s/%u names %s, which %s did not write", ck_key(ck),
                    ck->path, e->operator_uid, e->subtask, e->file, ck->label);
            return -ENOENT;
        }
        if ((e->size_bytes && e->size_bytes != r->size) ||
            (e->checksum && e->checksum != r->checksum)) {
            ck_fail(ck, -EINVAL, true,
                    "%s: %s/_metadata: entry %s/%u: size or checksum of %s "
                    "differs from what was written",
                    ck_key(ck), ck->path, e->operator_uid, e->subtask, e->file);
            return -EINVAL;
        }
        e->size_bytes = r->size;
        e->checksum = r->checksum;
    }
    for (size_t i = 0; i < m->shared_count; i++) {
        struct weir_ckpt_shared *x = &sh[i];
        struct file_rec *r = find_rec(ck->shared, ck->nshared, x->name);
        uint64_t size = 0, sum = 0;
        bool found = r != NULL;
        if (r) {
            size = r->size;
            sum = r->checksum;
        } else if (!ck->savepoint) {
            pthread_mutex_lock(&s->lock);
            struct reg_ent *e = reg_find(s, x->name);
            if (e && (e->refs || e->pins)) {
                found = pin(s, ck, e);
                size = e->size;
                sum = e->checksum;
            }
            pthread_mutex_unlock(&s->lock);
        }
        if (!found) {
            ck_fail(ck, -ENOENT, true, "%s: %s/_metadata: shared file %s was never added",
                    ck_key(ck), ck->path, x->name);
            return -ENOENT;
        }
        if ((x->size_bytes && x->size_bytes != size) || (x->checksum && x->checksum != sum)) {
            ck_fail(ck, -EINVAL, true,
                    "%s: %s/_metadata: shared file %s: size or checksum "
                    "differs from the stored file",
                    ck_key(ck), ck->path, x->name);
            return -EINVAL;
        }
        x->size_bytes = size;
        x->checksum = sum;
    }
    return 0;
}

/* Starts the commit when it was asked for and every opened file is durable. */
static void ck_try_commit(struct weir_storage *s, struct weir_ckpt *ck)
{
    if (!ck->begun || ck->io_done || ck_failed(ck))
        return;
    pthread_mutex_lock(&s->lock);
    bool go = ck->state == WEIR_CKPT_COMMITTING && !ck->chain_started &&
              ck->files_durable == ck->files_opened && ck->dir_synced;
    if (go)
        ck->chain_started = true;
    pthread_mutex_unlock(&s->lock);
    if (!go || commit_check(s, ck) < 0)
        return;
    int rc = meta_encode(ck->commit_meta, ck->id, &ck->meta_file);
    if (rc < 0) {
        ck_fail(ck, rc, true, "%s: %s/_metadata: out of memory", ck_key(ck), ck->path);
        return;
    }
    ck->tmpfd = openat(ck->dirfd, "_metadata.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (ck->tmpfd < 0) {
        rc = -errno;
        ck_fail(ck, rc, true, "%s: %s/_metadata.tmp: %s", ck_key(ck), ck->path, strerror(-rc));
        return;
    }
    if (!s->have_renameat) {
        const char *what;
        rc = commit_sync(s, ck, &what);
        close(ck->tmpfd);
        ck->tmpfd = -1;
        if (rc < 0) {
            ck_fail(ck, rc, true, "%s: %s: %s: %s", ck_key(ck), ck->path, what, strerror(-rc));
            return;
        }
        ck_complete(s, ck);
        return;
    }
    /* One linked chain: each step starts only when the one before succeeded, so _metadata
     * appears only after its bytes are durable, and the checkpoint counts as complete only
     * after the directory entry is. */
    if (io_uring_sq_space_left(&s->ring) < CHAIN_MAX)
        io_uring_submit(&s->ring); /* the kernel takes them all: the chain fits after */
    struct io_uring_sqe *sqe[CHAIN_MAX];
    unsigned n = 0;
    if (!ck->savepoint && ck->added_shared) {
        sqe[n] = get_sqe(s);
        io_uring_prep_fsync(sqe[n], s->shared_fd, 0);
        ck->chain_what[n++] = "fsync shared/";
    }
    sqe[n] = get_sqe(s);
    io_uring_prep_write(sqe[n], ck->tmpfd, ck->meta_file.buf, (unsigned)ck->meta_file.len, 0);
    ck->chain_write = n;
    ck->chain_what[n++] = "write _metadata.tmp";
    sqe[n] = get_sqe(s);
    io_uring_prep_fsync(sqe[n], ck->tmpfd, 0);
    ck->chain_what[n++] = "fsync _metadata.tmp";
    sqe[n] = get_sqe(s);
    io_uring_prep_renameat(sqe[n], ck->dirfd, "_metadata.tmp", ck->dirfd, "_metadata", 0);
    ck->chain_what[n++] = "rename _metadata.tmp";
    sqe[n] = get_sqe(s);
    io_uring_prep_fsync(sqe[n], ck->dirfd, 0);
    ck->chain_what[n++] = "fsync directory";
    for (unsigned i = 0; i < n; i++) {
        ck->chain_op[i] = (struct op){.kind = OP_CHAIN, .idx = (uint8_t)i};
        io_uring_sqe_set_data(sqe[i], &ck->chain_op[i]);
        if (i + 1 < n)
            sqe[i]->flags |= IOSQE_IO_LINK;
    }
    ck->chain_n = n;
    ck->chain_done = 0;
    ck->chain_err = 0;
    ck->io_pending += n;
    s->inflight_all += n;
}

static void on_chain(struct weir_storage *s, struct op *op, int res)
{
    struct weir_ckpt *ck = container_of(op - op->idx, struct weir_ckpt, chain_op);
    unsigned i = op->idx;
    ck->io_pending--;
    s->inflight_all--;
    ck->chain_done++;
    if (i == ck->chain_write && res >= 0 && (size_t)res != ck->meta_file.len)
        res = -EIO; /* short: out of space, as a rule */
    if (res < 0 && (!ck->chain_err || ck->chain_err == -ECANCELED)) {
        ck->chain_err = res;
        ck->chain_err_what = ck->chain_what[i];
    }
    if (ck->chain_done < ck->chain_n)
        return;
    close(ck->tmpfd);
    ck->tmpfd = -1;
    if (ck->chain_err) {
        ck_fail(ck, ck->chain_err, true, "%s: %s: %s: %s", ck_key(ck), ck->path, ck->chain_err_what,
                strerror(-ck->chain_err));
        ck_try_settle(s, ck);
        return;
    }
    ck_complete(s, ck);
}

/* --- state files ----------------------------------------------------------------------- */

static void log_direct_refused(struct weir_storage *s, const char *dir, int err)
{
    atomic_store(&s->direct_refused, true);
    if (!s->direct_logged) {
        s->direct_logged = true;
        storage_log(s,
                    "state.checkpoints.dir: %s: O_DIRECT refused (%s): writing through the "
                    "page cache",
                    dir, strerror(err));
    }
}

static int file_open_io(struct weir_storage *s, struct weir_ckpt_file *f)
{
    struct weir_ckpt *ck = f->ck;
    int flags = O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, fd = -1;
    bool direct = s->try_direct && !atomic_load(&s->direct_refused);
    if (direct) {
        if (atomic_load(&s->refuse_direct)) {
            fd = -1;
            errno = EINVAL;
        } else {
            fd = openat(ck->dirfd, f->name, flags | O_DIRECT, 0644);
        }
        if (fd < 0 && errno == EINVAL) {
            log_direct_refused(s, ck->path, EINVAL);
            direct = false;
        }
    }
    if (!direct) {
        /* A refused O_DIRECT open may have created the file already (ramfs does): the name
         * is ours alone in a directory we made, so truncate rather than insist on O_EXCL. */
        if (s->try_direct)
            flags = (flags & ~O_EXCL) | O_TRUNC;
        fd = openat(ck->dirfd, f->name, flags, 0644);
    }
    if (fd < 0) {
        int rc = -errno;
        ck_fail(ck, rc, true, "%s: %s/%s: %s", ck_key(ck), ck->path, f->name, strerror(-rc));
        return rc;
    }
    f->hash = XXH3_createState();
    if (!f->hash) {
        close(fd);
        ck_fail(ck, -ENOMEM, true, "%s: %s/%s: out of memory", ck_key(ck), ck->path, f->name);
        return -ENOMEM;
    }
    XXH3_64bits_reset(f->hash);
    f->fd = fd;
    f->opened = true;
    f->direct = direct;
    return 0;
}

static bool add_block(struct weir_ckpt_file *f, const uint8_t *p, size_t n)
{
    if (f->nblocks == f->capblocks) {
        size_t c = f->capblocks ? 2 * f->capblocks : 64;
        uint64_t *nb = realloc(f->blocks, c * sizeof *nb);
        if (!nb)
            return false;
        f->blocks = nb;
        f->capblocks = c;
    }
    f->blocks[f->nblocks++] = XXH3_64bits(p, n);
    XXH3_64bits_update(f->hash, p, n);
    return true;
}

static void submit_write(struct weir_storage *s, struct sbuf *b)
{
    struct weir_ckpt_file *f = b->file;
    struct io_uring_sqe *sqe = get_sqe(s);
    io_uring_prep_write(sqe, f->fd, b->data + b->done, b->len - b->done, b->off + b->done);
    b->op.kind = OP_WRITE;
    io_uring_sqe_set_data(sqe, &b->op);
    f->pending++;
    f->ck->io_pending++;
    s->inflight_writes++;
    s->inflight_all++;
}

static void file_seen(struct weir_ckpt_file *f)
{
    if (!f->seen) {
        f->seen = true;
        f->io_next = f->ck->io_files;
        f->ck->io_files = f;
    }
}

/* Moves f on after any event: fsync when all is written, free when finished. */
static void file_progress(struct weir_storage *s, struct weir_ckpt_file *f)
{
    struct weir_ckpt *ck = f->ck;
    if (f->pending || f->fsyncing)
        return;
    if (ck_failed(ck) || ck->io_done) {
        if (f->fd >= 0) {
            close(f->fd);
            f->fd = -1;
        }
        if (f->submitted && ck->io_done) {
            file_done_cb(f, atomic_load(&ck->status));
            file_free(f);
        } else {
            ck_try_settle(s, ck); /* frees submitted files too */
        }
        return;
    }
    if (!f->submitted || f->finished)
        return;
    if (f->truncate_to && ftruncate(f->fd, (off_t)f->truncate_to) < 0) {
        int rc = -errno;
        ck_fail(ck, rc, true, "%s: %s/%s: truncate: %s", ck_key(ck), ck->path, f->name,
                strerror(-rc));
        file_progress(s, f);
        return;
    }
    struct io_uring_sqe *sqe = get_sqe(s);
    io_uring_prep_fsync(sqe, f->fd, 0);
    io_uring_sqe_set_data(sqe, &f->fsync_op);
    f->fsyncing = true;
    ck->io_pending++;
    s->inflight_all++;
}

/* Allocates the file ahead of its writes, in chunks that double up to 256 MiB. A write
 * past the end of a file must update its size when it completes, which ext4 does one write
 * at a time (O_DIRECT) or not asynchronously at all (buffered): measured here, io_uring
 * writes went from 2.4 to 3.0 GB/s with O_DIRECT and from 0.5 to 2.7 GB/s without. A
 * refusal (no fallocate on this filesystem, or not enough room for a whole chunk) only
 * stops preallocating: the writes themselves say whether the data fits. */
static void preallocate(struct weir_ckpt_file *f, uint64_t end)
{
    if (f->no_prealloc || end <= f->alloc_end)
        return;
    uint64_t chunk = f->alloc_end < (8u << 20) ? (8u << 20) : f->alloc_end;
    if (chunk > (256u << 20))
        chunk = 256u << 20;
    if (end - f->alloc_end > chunk)
        chunk = end - f->alloc_end;
    if (fallocate(f->fd, 0, (off_t)f->alloc_end, (off_t)chunk) == 0)
        f->alloc_end += chunk;
    else
        f->no_prealloc = true;
}

static void do_data(struct weir_storage *s, struct sbuf *b)
{
    struct weir_ckpt_file *f = b->file;
    struct weir_ckpt *ck = f->ck;
    file_seen(f);
    if (ck_failed(ck) || ck->io_done || (!f->opened && file_open_io(s, f) < 0)) {
        pool_put(s, b);
        ck_try_settle(s, ck);
        return;
    }
    assert(b->len == s->buf_size && b->off % s->buf_size == 0);
    if (!add_block(f, b->data, b->len)) {
        ck_fail(ck, -ENOMEM, true, "%s: %s/%s: out of memory", ck_key(ck), ck->path, f->name);
        pool_put(s, b);
        ck_try_settle(s, ck);
        return;
    }
    preallocate(f, b->off + b->len);
    submit_write(s, b);
}

/* The last buffer: remaining data, footer (section index, block checksums), trailer. */
static void do_submit(struct weir_storage *s, struct weir_ckpt_file *f)
{
    struct weir_ckpt *ck = f->ck;
    file_seen(f);
    f->submitted = true;
    if (ck_failed(ck) || ck->io_done || (!f->opened && file_open_io(s, f) < 0)) {
        ck_get(ck);
        file_progress(s, f);
        ck_put(ck);
        return;
    }
    struct sbuf *cur = f->cur, *tb = cur;
    size_t fill = f->fill;
    f->cur = NULL;
    if (fill && !add_block(f, cur->data, fill))
        goto nomem;
    size_t flen = fmt_footer_size(f->nsec, f->nblocks);
    size_t tail = fill + flen + FMT_TRAILER_SIZE;
    size_t wlen = f->direct ? (tail + FMT_ALIGN - 1) / FMT_ALIGN * FMT_ALIGN : tail;
    if (!cur || wlen > s->buf_size) {
        tb = calloc(1, sizeof *tb);
        if (!tb || posix_memalign((void **)&tb->data, FMT_ALIGN, wlen) != 0) {
            free(tb);
            tb = NULL;
            if (cur)
                pool_put(s, cur);
            goto nomem;
        }
        tb->one_off = true;
        if (fill)
            memcpy(tb->data, cur->data, fill);
        if (cur)
            pool_put(s, cur);
    }
    uint8_t *p = tb->data + fill;
    fmt_footer_encode(p, f->sec, f->nsec, f->blocks, f->nblocks);
    XXH3_64bits_update(f->hash, p, flen);
    uint64_t data_end = f->pos + fill;
    f->size = data_end + flen + FMT_TRAILER_SIZE;
    fmt_trailer_encode(p + flen, data_end, f->size, 0);
    XXH3_64bits_update(f->hash, p + flen, FMT_TRAILER_SIZE - 8);
    f->checksum = XXH3_64bits_digest(f->hash);
    put_u64(p + flen + FMT_TRAILER_SIZE - 8, f->checksum);
    memset(tb->data + tail, 0, wlen - tail);
    if (wlen != tail || f->alloc_end > f->size)
        f->truncate_to = f->size;
    tb->file = f;
    tb->off = f->pos;
    tb->len = (uint32_t)wlen;
    tb->done = 0;
    submit_write(s, tb);
    return;
nomem:
    ck_fail(ck, -ENOMEM, true, "%s: %s/%s: out of memory", ck_key(ck), ck->path, f->name);
    ck_get(ck);
    file_progress(s, f);
    ck_put(ck);
}

static void on_write(struct weir_storage *s, struct sbuf *b, int res)
{
    struct weir_ckpt_file *f = b->file;
    struct weir_ckpt *ck = f->ck;
    f->pending--;
    ck->io_pending--;
    s->inflight_writes--;
    s->inflight_all--;
    unsigned nth = atomic_load(&s->fail_write_nth);
    if (nth) {
        atomic_store(&s->fail_write_nth, nth - 1);
        if (nth == 1)
            res = atomic_load(&s->fail_write_err);
    }
    if (res == -EINVAL && f->direct && !ck_failed(ck)) {
        /* Open accepted O_DIRECT, the write did not (alignment the filesystem wants, or no
         * support at all): this file goes through the page cache from here on. */
        int fl = fcntl(f->fd, F_GETFL);
        if (fl >= 0 && fcntl(f->fd, F_SETFL, fl & ~O_DIRECT) == 0) {
            f->direct = false;
            log_direct_refused(s, ck->path, EINVAL);
            submit_write(s, b);
            return;
        }
    }
    if (res == 0 && b->done < b->len)
        res = -ENOSPC; /* a write that makes no progress */
    if (res > 0) {
        atomic_fetch_add(&s->bytes_written, (uint64_t)res);
        b->done += (uint32_t)res;
        if (b->done < b->len && !ck_failed(ck)) {
            /* Short (a full disk answers so before it says ENOSPC): resume at the rest,
             * which O_DIRECT may no longer accept. */
            if (f->direct) {
                int fl = fcntl(f->fd, F_GETFL);
                if (fl >= 0 && fcntl(f->fd, F_SETFL, fl & ~O_DIRECT) == 0)
                    f->direct = false;
            }
            submit_write(s, b);
            return;
        }
    } else if (res < 0) {
        ck_fail(ck, res, true, "%s: %s/%s: write: %s", ck_key(ck), ck->path, f->name,
                strerror(-res));
    }
    pool_put(s, b);
    ck_get(ck);
    file_progress(s, f);
    ck_put(ck);
}

static void on_fsync(struct weir_storage *s, struct weir_ckpt_file *f, int res)
{
    struct weir_ckpt *ck = f->ck;
    f->fsyncing = false;
    ck->io_pending--;
    s->inflight_all--;
    int inj = atomic_exchange(&s->fail_fsync_err, 0);
    if (inj)
        res = inj;
    ck_get(ck);
    if (res < 0) {
        ck_fail(ck, res, true, "%s: %s/%s: fsync: %s", ck_key(ck), ck->path, f->name,
                strerror(-res));
        file_progress(s, f);
        ck_put(ck);
        return;
    }
    close(f->fd);
    f->fd = -1;
    bool ok = add_rec(&ck->durable, &ck->ndurable, &ck->capdurable, f->name, f->size, f->checksum);
    if (!ok) {
        ck_fail(ck, -ENOMEM, true, "%s: %s/%s: out of memory", ck_key(ck), ck->path, f->name);
        file_progress(s, f);
        ck_put(ck);
        return;
    }
    pthread_mutex_lock(&s->lock);
    ck->files_durable++;
    ck->bytes_durable += f->size;
    pthread_mutex_unlock(&s->lock);
    atomic_fetch_add(&s->files_written, 1);
    file_done_cb(f, 0);
    file_free(f);
    ck_try_commit(s, ck);
    ck_try_settle(s, ck);
    ck_put(ck);
}

/* --- checkpoints ----------------------------------------------------------------------- */

/* The new directory's entry in its parent is made durable now, while the files are being
 * written, so that the commit has one fsync less to wait for. */
static void sync_parent(struct weir_storage *s, struct weir_ckpt *ck)
{
    struct io_uring_sqe *sqe = get_sqe(s);
    io_uring_prep_fsync(sqe, ck->savepoint ? ck->parentfd : s->job_fd, 0);
    ck->dirsync_op.kind = OP_DIRSYNC;
    io_uring_sqe_set_data(sqe, &ck->dirsync_op);
    ck->io_pending++;
    s->inflight_all++;
}

static void on_dirsync(struct weir_storage *s, struct weir_ckpt *ck, int res)
{
    ck->io_pending--;
    s->inflight_all--;
    if (res < 0)
        ck_fail(ck, res, true, "%s: %s: fsync of its parent directory: %s", ck_key(ck), ck->path,
                strerror(-res));
    else
        ck->dir_synced = true;
    ck_get(ck);
    ck_try_commit(s, ck);
    ck_try_settle(s, ck);
    ck_put(ck);
}

static void do_begin(struct weir_storage *s, struct weir_ckpt *ck)
{
    int rc;
    ck->begun = true;
    if (atomic_load(&s->state) == ST_BROKEN)
        ck_fail(ck, -EIO, true, "%s: %s: checkpoint storage is broken (see the log)", ck_key(ck),
                ck->path);
    if (ck_failed(ck)) {
        ck_try_settle(s, ck);
        return;
    }
    if (!ck->savepoint) {
        /* Not retained and not running (begin checked): a leftover of an older attempt. */
        if ((rc = rm_rf_at(s->job_fd, ck->label)) < 0 ||
            (mkdirat(s->job_fd, ck->label, 0755) < 0 && (rc = -errno) < 0))
            goto err;
        ck->dir_made = true;
        ck->dirfd = openat(s->job_fd, ck->label, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (ck->dirfd < 0) {
            rc = -errno;
            goto err;
        }
        sync_parent(s, ck);
        return;
    }
    char *copy = strdup(ck->path);
    if (!copy) {
        rc = -ENOMEM;
        goto err;
    }
    char *parent = dirname(copy);
    rc = mkdir_p(parent);
    if (rc == 0) {
        ck->parentfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (ck->parentfd < 0)
            rc = -errno;
    }
    free(copy);
    if (rc < 0)
        goto err;
    if (mkdir(ck->path, 0755) < 0) {
        if (errno != EEXIST) {
            rc = -errno;
            goto err;
        }
        ck->dir_existed = true;
    }
    ck->dir_made = true;
    ck->dirfd = open(ck->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (ck->dirfd < 0) {
        rc = -errno;
        goto err;
    }
    if (ck->dir_existed) {
        DIR *d = fdopendir(dup(ck->dirfd));
        struct dirent *de;
        bool empty = true;
        while (d && (de = readdir(d)))
            empty &= !strcmp(de->d_name, ".") || !strcmp(de->d_name, "..");
        if (d)
            closedir(d);
        if (!empty) {
            ck->dir_made = false; /* not ours to clean */
            ck_fail(ck, -EEXIST, true, "savepoint: %s: directory is not empty", ck->path);
            ck_try_settle(s, ck);
            return;
        }
    }
    sync_parent(s, ck);
    return;
err:
    ck_fail(ck, rc, true, "%s: %s: %s", ck_key(ck), ck->path, strerror(-rc));
    ck_try_settle(s, ck);
}

static int copy_into(int src_fd, int dirfd, const char *name)
{
    int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
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

static void do_shared(struct weir_storage *s, struct shared_req *r)
{
    struct weir_ckpt *ck = r->ck;
    int dirfd = ck->savepoint ? ck->dirfd : s->shared_fd;
    const char *dir = ck->savepoint ? ck->path : s->shared_dir, *what = "link";
    int rc = 0;
    if (ck_failed(ck) || ck->io_done)
        goto out;
    if (find_rec(ck->shared, ck->nshared, r->name))
        goto out; /* added twice by this checkpoint */
    if (!ck->savepoint) {
        pthread_mutex_lock(&s->lock);
        struct reg_ent *e = reg_find(s, r->name);
        bool held = e && (e->refs || e->pins);
        bool ok = held && pin(s, ck, e);
        uint64_t size = held ? e->size : 0, sum = held ? e->checksum : 0;
        pthread_mutex_unlock(&s->lock);
        if (held) {
            /* Already in shared/ for a retained or running checkpoint: not copied again. */
            if (!ok || !add_rec(&ck->shared, &ck->nshared, &ck->capshared, r->name, size, sum))
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
    rc = fmt_hash_fd(fd, &size, &sum);
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
        bool ok = e && pin(s, ck, e);
        pthread_mutex_unlock(&s->lock);
        if (!ok) {
            rc = -ENOMEM;
            goto fail;
        }
        ck->added_shared = true;
    }
    if (!add_rec(&ck->shared, &ck->nshared, &ck->capshared, r->name, size, sum)) {
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

/* --- the loop -------------------------------------------------------------------------- */

static void process(struct weir_storage *s, struct req *r)
{
    switch (r->type) {
    case REQ_BEGIN:
        do_begin(s, container_of(r, struct weir_ckpt, begin_req));
        break;
    case REQ_DATA:
        do_data(s, container_of(r, struct sbuf, req));
        break;
    case REQ_SUBMIT:
        do_submit(s, container_of(r, struct weir_ckpt_file, end_req));
        break;
    case REQ_FILE_ABORT: {
        struct weir_ckpt_file *f = container_of(r, struct weir_ckpt_file, end_req);
        struct weir_ckpt *ck = f->ck;
        file_seen(f);
        f->submitted = true;
        ck_get(ck);
        file_progress(s, f);
        ck_put(ck);
        break;
    }
    case REQ_SHARED:
        do_shared(s, container_of(r, struct shared_req, req));
        break;
    case REQ_COMMIT: {
        struct weir_ckpt *ck = container_of(r, struct weir_ckpt, commit_req);
        ck_try_commit(s, ck);
        ck_try_settle(s, ck);
        break;
    }
    case REQ_ABORT:
        ck_try_settle(s, container_of(r, struct weir_ckpt, abort_req));
        break;
    case REQ_STOP:
        s->stopping = true;
        break;
    }
}

static void take_queue(struct weir_storage *s)
{
    pthread_mutex_lock(&s->q_lock);
    struct req *h = s->q_head, *t = s->q_tail;
    s->q_head = s->q_tail = NULL;
    pthread_mutex_unlock(&s->q_lock);
    if (!h)
        return;
    if (s->backlog_tail)
        s->backlog_tail->next = h;
    else
        s->backlog = h;
    s->backlog_tail = t;
}

static void run_backlog(struct weir_storage *s)
{
    while (s->backlog) {
        struct req *r = s->backlog;
        if ((r->type == REQ_DATA || r->type == REQ_SUBMIT) && s->inflight_writes >= s->depth)
            return; /* in order: what follows may depend on this one */
        s->backlog = r->next;
        if (!s->backlog)
            s->backlog_tail = NULL;
        process(s, r);
    }
}

static void handle(struct weir_storage *s, struct op *op, int res)
{
    switch (op->kind) {
    case OP_EVENTFD:
        arm_efd(s);
        break;
    case OP_WRITE:
        on_write(s, container_of(op, struct sbuf, op), res);
        break;
    case OP_FSYNC:
        on_fsync(s, container_of(op, struct weir_ckpt_file, fsync_op), res);
        break;
    case OP_CHAIN:
        on_chain(s, op, res);
        break;
    case OP_DIRSYNC:
        on_dirsync(s, container_of(op, struct weir_ckpt, dirsync_op), res);
        break;
    }
}

/* Closing: fail what can no longer finish, so that everything settles. */
static bool stop_ready(struct weir_storage *s)
{
    if (s->backlog || s->inflight_all)
        return false;
    pthread_mutex_lock(&s->q_lock);
    bool empty = s->q_head == NULL;
    pthread_mutex_unlock(&s->q_lock);
    if (!empty)
        return false;
    for (;;) {
        struct weir_ckpt *victim = NULL;
        pthread_mutex_lock(&s->lock);
        for (struct weir_ckpt *c = s->cks; c && !victim; c = c->next)
            if (!c->settled && c->begun)
                victim = c;
        pthread_mutex_unlock(&s->lock);
        if (!victim)
            break;
        ck_fail(victim, -ECANCELED, true, "%s: %s: checkpoint storage closed", ck_key(victim),
                victim->path);
        ck_get(victim);
        ck_try_settle(s, victim);
        bool stuck = !victim->io_done;
        ck_put(victim);
        if (stuck || s->inflight_all)
            return false;
    }
    return s->inflight_all == 0;
}

void *io_main(void *arg)
{
    struct weir_storage *s = arg;
    struct io_uring_cqe *cqes[64];
    struct {
        struct op *op;
        int res;
    } done[64];

    arm_efd(s);
    for (;;) {
        if (!atomic_load(&s->stalled) || s->stopping)
            take_queue(s);
        if (!atomic_load(&s->stalled) || s->stopping)
            run_backlog(s);
        if (s->stopping && stop_ready(s))
            break;
        int rc = io_uring_submit_and_wait(&s->ring, 1);
        if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY && rc != -ETIME) {
            if (atomic_exchange(&s->state, ST_BROKEN) != ST_BROKEN)
                storage_log(s, "checkpoint storage: io_uring: %s", strerror(-rc));
        }
        for (;;) {
            unsigned n = io_uring_peek_batch_cqe(&s->ring, cqes, 64);
            if (!n)
                break;
            for (unsigned i = 0; i < n; i++) {
                done[i].op = io_uring_cqe_get_data(cqes[i]);
                done[i].res = cqes[i]->res;
            }
            io_uring_cq_advance(&s->ring, n);
            for (unsigned i = 0; i < n; i++)
                handle(s, done[i].op, done[i].res);
        }
    }
    return NULL;
}
