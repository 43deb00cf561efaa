/*
 * Checkpoint storage: commit, the step that makes a checkpoint complete.
 *
 * weir_ckpt_commit (control thread) clones the metadata and queues COMMIT; the io thread
 * (ck_try_commit) waits until every opened file is durable, checks the metadata against
 * what was written, then writes _metadata with one linked io_uring chain:
 *
 *     [fsync shared/ →] write _metadata.tmp → fsync it → renameat to _metadata → fsync dir
 *
 * (commit_sync takes the same steps with system calls where io_uring has no RENAMEAT).
 * commit_on_chain counts the chain's completions; its first error fails the checkpoint,
 * and once every step has completed, ck_complete moves it to COMPLETE and runs retention.
 * The checkpoint's states are at the top of storage.c.
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

/* --- control thread: weir_ckpt_commit -------------------------------------------------- */

/* A deep copy of meta in one allocation, so the caller may free its own at once. */
static struct weir_ckpt_meta *meta_clone(const struct weir_ckpt_meta *m)
{
    size_t n =
        sizeof *m + m->entry_count * sizeof *m->entries + m->shared_count * sizeof *m->shared + 16;
    n += (m->job ? strlen(m->job) : 0) + 1;
    for (size_t i = 0; i < m->entry_count; i++) {
        const struct weir_ckpt_entry *e = &m->entries[i];
        n += (e->operator_uid ? strlen(e->operator_uid) : 0) + 1;
        n += (e->file ? strlen(e->file) : 0) + 1;
        n += (e->blob ? e->blob_len : 0) + 8;
    }
    for (size_t i = 0; i < m->shared_count; i++)
        n += (m->shared[i].name ? strlen(m->shared[i].name) : 0) + 1;
    uint8_t *base = malloc(n), *p = base;
    if (!base)
        return NULL;
    struct weir_ckpt_meta *c = (void *)p;
    *c = *m;
    p += sizeof *c;
    struct weir_ckpt_entry *ents = (void *)p;
    p += m->entry_count * sizeof *ents;
    struct weir_ckpt_shared *sh = (void *)p;
    p += m->shared_count * sizeof *sh;
#define CLONE_STR(dst, src)                                                                        \
    do {                                                                                           \
        size_t l_ = (src) ? strlen(src) : 0;                                                       \
        memcpy(p, (src) ? (src) : "", l_ + 1);                                                     \
        (dst) = (const char *)p;                                                                   \
        p += l_ + 1;                                                                               \
    } while (0)
    for (size_t i = 0; i < m->entry_count; i++) {
        ents[i] = m->entries[i];
        CLONE_STR(ents[i].operator_uid, m->entries[i].operator_uid);
        CLONE_STR(ents[i].file, m->entries[i].file);
        if (m->entries[i].blob && m->entries[i].blob_len) {
            p = (uint8_t *)(((uintptr_t)p + 7) & ~(uintptr_t)7);
            memcpy(p, m->entries[i].blob, m->entries[i].blob_len);
            ents[i].blob = p;
            p += m->entries[i].blob_len;
        } else {
            ents[i].blob = NULL;
            ents[i].blob_len = 0;
        }
    }
    for (size_t i = 0; i < m->shared_count; i++) {
        sh[i] = m->shared[i];
        CLONE_STR(sh[i].name, m->shared[i].name);
    }
    CLONE_STR(c->job, m->job);
#undef CLONE_STR
    c->entries = ents;
    c->shared = sh;
    return c;
}

int weir_ckpt_commit(weir_ckpt *ck, const struct weir_ckpt_meta *meta)
{
    weir_storage *s = ck->s;
    for (size_t i = 0; i < meta->entry_count; i++) {
        const struct weir_ckpt_entry *e = &meta->entries[i];
        if (!e->operator_uid || (e->file && *e->file && !fmt_name_ok(e->file)) ||
            (e->blob_len && !e->blob))
            return -EINVAL;
    }
    for (size_t i = 0; i < meta->shared_count; i++)
        if (!fmt_name_ok(meta->shared[i].name))
            return -EINVAL;
    struct weir_ckpt_meta *c = meta_clone(meta);
    if (!c)
        return -ENOMEM;
    if (!c->timestamp_ms) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        c->timestamp_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    }
    c->checkpoint_id = ck->id;
    c->job = s->job; /* the storage's name outlives the checkpoint */
    c->savepoint = ck->savepoint;
    pthread_mutex_lock(&s->lock);
    int rc = atomic_load(&ck->status);
    if (rc == 0 && ck->state != WEIR_CKPT_WRITING)
        rc = -EBUSY;
    if (rc == 0) {
        ck->state = WEIR_CKPT_COMMITTING;
        ck->commit_meta = c;
        assert(ck_check_state(ck));
    }
    pthread_mutex_unlock(&s->lock);
    if (rc < 0) {
        free(c);
        return rc;
    }
    ck->commit_req.type = REQ_COMMIT;
    io_enqueue_ck(ck, &ck->commit_req);
    return 0;
}

/* --- io thread: the commit chain ------------------------------------------------------- */

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
        retention_run(s, ck->id);
    if (ck->sp_key) { /* the savepoint is in the store: its staging copy goes */
        int rc2 = privdir_rm_tree_at(AT_FDCWD, ck->path);
        if (rc2 < 0)
            storage_log(s, "%s: %s: cannot delete: %s", ck_key(ck), ck->path, strerror(-rc2));
    }
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
        struct file_rec *r = file_rec_find(ck->durable, ck->ndurable, e->file);
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
        struct file_rec *r = file_rec_find(ck->shared, ck->nshared, x->name);
        uint64_t size = 0, sum = 0;
        bool found = r != NULL;
        if (r) {
            size = r->size;
            sum = r->checksum;
        } else if (!ck->savepoint) {
            pthread_mutex_lock(&s->lock);
            struct reg_ent *e = reg_find(s, x->name);
            if (e && (e->refs || e->pins)) {
                found = reg_pin(s, ck, e);
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

static void commit_local(struct weir_storage *s, struct weir_ckpt *ck);

/* Starts the commit when it was asked for and every opened file is durable. */
void ck_try_commit(struct weir_storage *s, struct weir_ckpt *ck)
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
    if (s->remote && (!ck->savepoint || ck->sp_key)) {
        /* s3://: the files and _metadata go to the store first (the uploader thread); the
         * local _metadata follows when the remote one is in place (commit_uploaded). The
         * upload counts as an operation in flight, so that the checkpoint cannot settle and
         * the storage cannot close under it. */
        ck_get(ck);
        ck->io_pending++;
        s->inflight_all++;
        remote_upload(s, ck);
        return;
    }
    commit_local(s, ck);
}

/* REQ_UPLOADED: the remote _metadata is in place (the checkpoint is durable off the host),
 * or the upload failed and so does the checkpoint. */
void commit_uploaded(struct weir_storage *s, struct weir_ckpt *ck)
{
    ck->io_pending--;
    s->inflight_all--;
    if (ck->upload_rc < 0) {
        ck_fail(ck, ck->upload_rc, true, "%s", ck->upload_err);
        return;
    }
    if (!ck_failed(ck))
        commit_local(s, ck);
}

/* _metadata on local disk: the linked chain (or commit_sync). */
static void commit_local(struct weir_storage *s, struct weir_ckpt *ck)
{
    int rc;
    ck->tmpfd = openat(ck->dirfd, "_metadata.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (ck->tmpfd >= 0 && fchmod(ck->tmpfd, s->file_mode) < 0) {
        close(ck->tmpfd);
        ck->tmpfd = -1;
    }
    if (ck->tmpfd < 0) {
        rc = -errno;
        ck_fail(ck, rc, true, "%s: %s/_metadata.tmp: %s", ck_key(ck), ck->path, strerror(-rc));
        return;
    }
    if ((rc = ck_injected_fault(s, ck, false)) < 0) {
        ck_fail(ck, rc, true, "%s: %s/_metadata.tmp: write: %s", ck_key(ck), ck->path,
                strerror(-rc));
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
        sqe[n] = io_get_sqe(s);
        io_uring_prep_fsync(sqe[n], s->shared_fd, 0);
        ck->chain_what[n++] = "fsync shared/";
    }
    sqe[n] = io_get_sqe(s);
    io_uring_prep_write(sqe[n], ck->tmpfd, ck->meta_file.buf, (unsigned)ck->meta_file.len, 0);
    ck->chain_write = n;
    ck->chain_what[n++] = "write _metadata.tmp";
    sqe[n] = io_get_sqe(s);
    io_uring_prep_fsync(sqe[n], ck->tmpfd, 0);
    ck->chain_what[n++] = "fsync _metadata.tmp";
    sqe[n] = io_get_sqe(s);
    io_uring_prep_renameat(sqe[n], ck->dirfd, "_metadata.tmp", ck->dirfd, "_metadata", 0);
    ck->chain_what[n++] = "rename _metadata.tmp";
    sqe[n] = io_get_sqe(s);
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

void commit_on_chain(struct weir_storage *s, struct op *op, int res)
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
