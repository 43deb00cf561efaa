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
 * io_uring_submit_and_wait only, with a read armed on the eventfd that io_enqueue() writes, so
 * new requests and completions wake it alike.
 *
 * Rule: it never holds s->lock across a system call that can wait on the disk, because
 * workers take s->lock in weir_ckpt_file_open.
 *
 * The io thread (io_state_str):
 *
 *     RUNNING ──(STOP, from weir_storage_close: process)──▶ STOPPING ──(stop_ready)──▶ exit
 *     RUNNING ◀──(weir_storage_stall_for_test)──▶ STALLED    (a test hook: takes no request)
 *
 *   RUNNING   takes the whole queue (take_queue) into its backlog and processes it in
 *             order (run_backlog); DATA and SUBMIT wait there while depth writes are in
 *             flight. Completions are handled as they come (handle).
 *   STOPPING  the rest of the queue is processed, stalled or not; checkpoints that can no
 *             longer finish are failed with -ECANCELED; it exits once nothing is queued
 *             or in flight.
 *
 * Its queue (q_head/q_tail under q_lock, then its own backlog) holds each request once:
 * backlog and backlog_tail are both NULL or both set, and every write in flight is counted
 * in inflight_all too (io_check_state).
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

#include <weir/privdir.h>

/* The key a person changes for a savepoint target refused as not private. */
#define SP_KEY "state.savepoints.dir"

const char *io_state_str(struct weir_storage *s)
{
    if (s->stopping)
        return "stopping";
    return atomic_load(&s->stalled) ? "stalled" : "running";
}

/* The invariants of the io thread's table; io thread. */
static bool io_check_state(const struct weir_storage *s)
{
    return (s->backlog == NULL) == (s->backlog_tail == NULL) &&
           s->inflight_writes <= s->inflight_all;
}

/* An SQE, submitting what is queued when the SQ is full (the kernel then has consumed it). */
struct io_uring_sqe *io_get_sqe(struct weir_storage *s)
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
    struct io_uring_sqe *sqe = io_get_sqe(s);
    io_uring_prep_read(sqe, s->efd, &s->efd_val, sizeof s->efd_val, 0);
    io_uring_sqe_set_data(sqe, &s->efd_op);
}

/* --- the request queue ----------------------------------------------------------------- */

void io_enqueue_ck(struct weir_ckpt *ck, struct req *r)
{
    ck_get(ck); /* dropped by process() */
    io_enqueue(ck->s, r);
}

/* The eventfd write pairs with the io thread's armed read: it is needed only when the
 * queue was empty, because the io thread takes the whole queue each time it wakes. */
void io_enqueue(weir_storage *s, struct req *r)
{
    bool was_empty;
    r->next = NULL;
    pthread_mutex_lock(&s->q_lock);
    was_empty = s->q_head == NULL;
    if (s->q_tail)
        s->q_tail->next = r;
    else
        s->q_head = r;
    s->q_tail = r;
    pthread_mutex_unlock(&s->q_lock);
    if (was_empty) {
        uint64_t one = 1;
        while (write(s->efd, &one, sizeof one) < 0 && errno == EINTR)
            ;
    }
}

/* --- settling -------------------------------------------------------------------------- */

void file_done_cb(struct weir_ckpt_file *f, int status)
{
    struct weir_ckpt *ck = f->ck;
    if (!f->finished && !ck->io_done && ck->cb.file_done) {
        struct weir_ckpt_file_info fi = {f->name, status ? 0 : f->size, status ? 0 : f->checksum};
        ck->cb.file_done(ck->cb.arg, ck, &fi, status);
    }
    f->finished = true;
}

/* The checkpoint's outcome is final: it leaves the running list and done() runs. Its
 * settling (weir_ckpt_wait returning) waits for ck_mark_settled, after the clean-up that
 * follows (retention, or the shared files a failure released), so that a waiter sees the
 * disk as the outcome leaves it; done() does not wait for that clean-up. */
void ck_finish(struct weir_storage *s, struct weir_ckpt *ck)
{
    int status = atomic_load(&ck->status);
    pthread_mutex_lock(&s->lock);
    reg_unpin_all(s, ck);
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

void ck_mark_settled(struct weir_storage *s, struct weir_ckpt *ck)
{
    pthread_mutex_lock(&s->lock);
    ck->settled = true;
    assert(ck_check_state(ck));
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
}

/* A failed checkpoint is settled once nothing of it is in flight: files closed, directory
 * removed, shared files released, done() called. */
void ck_try_settle(struct weir_storage *s, struct weir_ckpt *ck)
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

/* --- begin: the checkpoint's directory ------------------------------------------------- */

/* The new directory's entry in its parent is made durable now, while the files are being
 * written, so that the commit has one fsync less to wait for. */
static void sync_parent(struct weir_storage *s, struct weir_ckpt *ck)
{
    struct io_uring_sqe *sqe = io_get_sqe(s);
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
        if ((rc = privdir_rm_tree_at(s->job_fd, ck->label)) < 0 ||
            (rc = ck_injected_fault(s, ck, true)) < 0 ||
            (mkdirat(s->job_fd, ck->label, 0700) < 0 && (rc = -errno) < 0))
            goto err;
        ck->dir_made = true;
        ck->dirfd = openat(s->job_fd, ck->label, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (ck->dirfd < 0 || fchmod(ck->dirfd, s->dir_mode) < 0) {
            rc = -errno;
            goto err;
        }
        sync_parent(s, ck);
        return;
    }
    /* The savepoint's target is checked as the checkpoint directory is (privdir.h): its
     * parent (state.savepoints.dir) and the savepoint directory are made where missing (taking
     * state.checkpoints.directory-mode; parents above that stay 0700),
     * and refused when they are links, someone else's or writable by others. */
    char *copy = strdup(ck->path), *copy2 = strdup(ck->path), why[1024];
    if (!copy || !copy2) {
        free(copy);
        free(copy2);
        rc = -ENOMEM;
        goto err;
    }
    const char *parent = dirname(copy), *name = basename(copy2);
    struct stat st;
    bool parent_existed = lstat(parent, &st) == 0;
    ck->parentfd = privdir_open(parent, SP_KEY, why, sizeof why);
    if (ck->parentfd >= 0 && !parent_existed && fchmod(ck->parentfd, s->dir_mode) < 0) {
        int e = errno;
        snprintf(why, sizeof why, "%s: %s: chmod %04o: %s", SP_KEY, parent, (unsigned)s->dir_mode,
                 strerror(e));
        close(ck->parentfd);
        ck->parentfd = -e;
    }
    if (ck->parentfd >= 0) {
        ck->dir_existed = fstatat(ck->parentfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
        ck->dirfd = privdir_open_at(ck->parentfd, parent, name, SP_KEY, why, sizeof why);
    }
    free(copy);
    free(copy2);
    rc = ck->parentfd < 0 ? ck->parentfd : ck->dirfd;
    if (rc < 0) {
        if (ck->parentfd < 0)
            ck->parentfd = -1;
        ck->dirfd = -1;
        ck_fail(ck, rc, true, "%s", why);
        ck_try_settle(s, ck);
        return;
    }
    ck->dir_made = true;
    /* A directory that was there (empty) is the user's; one made here takes the mode. */
    if (!ck->dir_existed && fchmod(ck->dirfd, s->dir_mode) < 0) {
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

/* --- the loop -------------------------------------------------------------------------- */

static void process(struct weir_storage *s, struct req *r)
{
    switch (r->type) {
    case REQ_BEGIN: {
        struct weir_ckpt *ck = container_of(r, struct weir_ckpt, begin_req);
        do_begin(s, ck);
        ck_put(ck); /* io_enqueue_ck's reference */
        break;
    }
    case REQ_DATA:
        writer_data(s, container_of(r, struct sbuf, req));
        break;
    case REQ_SUBMIT:
        writer_submit(s, container_of(r, struct weir_ckpt_file, end_req));
        break;
    case REQ_FILE_ABORT:
        writer_abort(s, container_of(r, struct weir_ckpt_file, end_req));
        break;
    case REQ_SHARED:
        shared_copy_in(s, container_of(r, struct shared_req, req));
        break;
    case REQ_COMMIT: {
        struct weir_ckpt *ck = container_of(r, struct weir_ckpt, commit_req);
        ck_try_commit(s, ck);
        ck_try_settle(s, ck);
        ck_put(ck); /* io_enqueue_ck's reference */
        break;
    }
    case REQ_ABORT: {
        struct weir_ckpt *ck = container_of(r, struct weir_ckpt, abort_req);
        ck_try_settle(s, ck);
        ck_put(ck); /* io_enqueue_ck's reference */
        break;
    }
    case REQ_STOP:
        s->stopping = true;
        break;
    case REQ_UPLOADED: {
        struct weir_ckpt *ck = container_of(r, struct weir_ckpt, upload_req);
        commit_uploaded(s, ck);
        ck_try_settle(s, ck);
        ck_put(ck); /* ck_try_commit's reference for the upload */
        break;
    }
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
        writer_on_write(s, container_of(op, struct sbuf, op), res);
        break;
    case OP_FSYNC:
        writer_on_fsync(s, container_of(op, struct weir_ckpt_file, fsync_op), res);
        break;
    case OP_CHAIN:
        commit_on_chain(s, op, res);
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
        assert(io_check_state(s));
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
