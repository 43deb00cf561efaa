/*
 * Checkpoint storage: its state machines, open and close, and the control thread's side of
 * a checkpoint (begin, wait, abort, release). The rest, by concern: writer.c (buffers and
 * state files: reserve, write, submit, complete), uring.c (the io thread and its queue),
 * commit.c (_metadata), shared.c (shared files), retention.c (what is kept on disk),
 * storage_restore.c (reading back), storage_format.c (the file format); storage_impl.h
 * holds what they share.
 *
 * Three threads meet here: the control thread (begin, commit, abort, restore), workers
 * (state files) and the io thread (everything that touches the disk while checkpoints are
 * written). They talk through one FIFO of requests to the io thread (q_lock, woken by an
 * eventfd the io thread keeps a read armed on) and, back, through callbacks, s->cond and
 * the buffer pool.
 *
 * The storage:
 *
 *     READY ──(io_uring itself fails)──▶ BROKEN ──┐
 *       └──────────────(close)────────────────────┴──▶ CLOSING
 *
 *   READY   checkpoints can be begun.
 *   BROKEN  sticky: the io thread lost its ring; every checkpoint fails with -EIO.
 *   CLOSING weir_storage_close: the io thread drains and exits.
 *
 * A checkpoint (or savepoint), ck->state under s->lock:
 *
 *     WRITING ──(weir_ckpt_commit)──▶ COMMITTING ──(io: _metadata renamed, dir fsynced)──▶ COMPLETE
 *        │                               │
 *        └──(write/fsync error, abort,───┴──▶ FAILED
 *            file abort, close)
 *
 *   WRITING     weir_ckpt_begin. Files are opened (weir_ckpt_file_open counts them) and
 *               written; the io thread makes the directory (BEGIN) and the files.
 *   COMMITTING  weir_ckpt_commit cloned the metadata. The io thread waits until every
 *               opened file is durable, then checks the metadata, sets chain_started and
 *               writes _metadata through a linked chain (commit.c: ck_try_commit). From
 *               chain_started on, only the chain's outcome decides (abort gets -EALREADY).
 *   COMPLETE    the chain succeeded; retention runs (retention.c: retention_run).
 *   FAILED      status holds the first error (sticky; workers see it lock-free on their
 *               next call); once no operation of it is in flight the io thread removes its
 *               directory (uring.c: ck_try_settle).
 *
 *   settled     COMPLETE, or FAILED and cleaned up; done() has run, weir_ckpt_wait returns.
 *
 * A state file: opened (worker fills buffers; full ones go to the io thread) → submitted
 * or aborted (the io thread owns it) → durable (written, fsynced; file_done) or failed →
 * freed once the worker has let go and no write of it is in flight. Its own table is at
 * the top of writer.c, the io thread's at the top of uring.c.
 */
#include "storage_impl.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <weir/config.h>

#define DEFAULT_BUF_SIZE (1u << 20)
#define DEFAULT_POOL     (64u << 20)
#define DEFAULT_DEPTH    64u

void storage_log(struct weir_storage *s, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (s->log)
        s->log(s->log_arg, line);
    else
        fprintf(stderr, "weir: %s\n", line);
}

const char *weir_storage_state_str(const weir_storage *s)
{
    switch (atomic_load(&((weir_storage *)s)->state)) {
    case ST_READY:
        return "ready";
    case ST_BROKEN:
        return "broken";
    case ST_CLOSING:
        return "closing";
    }
    return "?";
}

static bool storage_check_state(const weir_storage *s)
{
    int st = atomic_load(&((weir_storage *)s)->state);
    return (st == ST_READY || st == ST_BROKEN || st == ST_CLOSING) && s->job_fd >= 0 &&
           s->shared_fd >= 0 && s->lock_fd >= 0 && s->num_retained >= 1 &&
           s->buf_size % FMT_ALIGN == 0;
}

const char *weir_ckpt_state_str(enum weir_ckpt_state st)
{
    switch (st) {
    case WEIR_CKPT_WRITING:
        return "writing";
    case WEIR_CKPT_COMMITTING:
        return "committing";
    case WEIR_CKPT_COMPLETE:
        return "complete";
    case WEIR_CKPT_FAILED:
        return "failed";
    }
    return "?";
}

/* The invariants of the table at the top; caller holds s->lock. */
bool ck_check_state(const struct weir_ckpt *ck)
{
    int status = atomic_load(&((struct weir_ckpt *)ck)->status);
    switch (ck->state) {
    case WEIR_CKPT_WRITING:
        return status == 0 && !ck->chain_started && !ck->settled && !ck->commit_meta;
    case WEIR_CKPT_COMMITTING:
        return status == 0 && !ck->settled && ck->commit_meta;
    case WEIR_CKPT_COMPLETE:
        return status == 0 && ck->chain_started && ck->files_durable == ck->files_opened;
    case WEIR_CKPT_FAILED:
        return status < 0;
    }
    return false;
}

const char *ck_key(const struct weir_ckpt *ck)
{
    return ck->savepoint ? "savepoint" : "state.checkpoints.dir";
}

/* --- open and close -------------------------------------------------------------------- */

static bool job_name_ok(const char *job)
{
    return job && *job && strcmp(job, ".") && strcmp(job, "..") && !strchr(job, '/') &&
           strlen(job) <= 200;
}

static char *path_join(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s%s%s", a, (*a && a[strlen(a) - 1] == '/') ? "" : "/", b);
    return p;
}

static int nomem(char *err, size_t errlen)
{
    errbuf_printf(err, errlen, "checkpoint storage: out of memory");
    return -ENOMEM;
}

/* The root, <root>/<job> and <job>/shared: made 0700 where missing, private (privdir.h) and
 * never through a link, so that nobody else can redirect what is written or deleted there. */
static int open_dirs(weir_storage *s, char *err, size_t errlen)
{
    const char *key = "state.checkpoints.dir";
    int root = privdir_open(s->root, key, err, errlen);
    if (root < 0)
        return root;
    s->job_fd = privdir_open_at(root, s->root, s->job, key, err, errlen);
    close(root);
    if (s->job_fd < 0)
        return s->job_fd;
    s->shared_fd = privdir_open_at(s->job_fd, s->job_dir, "shared", key, err, errlen);
    if (s->shared_fd < 0)
        return s->shared_fd;
    /* <job> and shared/ are weir's: they take state.checkpoints.directory-mode. */
    if (fchmod(s->job_fd, s->dir_mode) < 0 || fchmod(s->shared_fd, s->dir_mode) < 0) {
        int rc = -errno;
        errbuf_printf(err, errlen, "%s: %s: chmod %04o: %s", key, s->job_dir, (unsigned)s->dir_mode,
                      strerror(-rc));
        return rc;
    }
    /* Writable? Better to learn it now than at the first checkpoint. */
    if (faccessat(s->job_fd, ".", W_OK, AT_EACCESS) < 0) {
        int rc = -errno;
        errbuf_printf(err, errlen, "%s: %s: %s", key, s->job_dir, strerror(-rc));
        return rc;
    }
    return 0;
}

/* One process per job directory: two would number, write and delete the same chk-N. An
 * exclusive flock on <job>/.lock, held until weir_storage_close (or the process's end, even
 * by kill -9), with the holder's pid in the file for the refusal. The file is never removed:
 * unlinking a lock file races with the next process opening it. */
static int lock_job_dir(weir_storage *s, char *err, size_t errlen)
{
    s->lock_fd = openat(s->job_fd, ".lock", O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (s->lock_fd >= 0 && fchmod(s->lock_fd, s->file_mode) < 0) {
        close(s->lock_fd);
        s->lock_fd = -1;
    }
    if (s->lock_fd < 0) {
        int rc = -errno;
        errbuf_printf(err, errlen, "state.checkpoints.dir: %s/.lock: %s", s->job_dir,
                      strerror(-rc));
        return rc;
    }
    if (flock(s->lock_fd, LOCK_EX | LOCK_NB) < 0) {
        int rc = -errno;
        char pid[24] = "";
        ssize_t n = -1;
        /* The holder writes its pid just after it locks: give it a moment. */
        for (int i = 0; rc == -EWOULDBLOCK && n <= 0 && i < 50; i++)
            if ((n = pread(s->lock_fd, pid, sizeof pid - 1, 0)) <= 0)
                nanosleep(&(struct timespec){.tv_nsec = 2000000}, NULL);
        if (n > 0) {
            pid[n] = '\0';
            pid[strcspn(pid, "\n")] = '\0';
        }
        if (rc == -EWOULDBLOCK)
            errbuf_printf(err, errlen,
                          "state.checkpoints.dir: %s: in use by another weir process (pid %s); "
                          "stop it, or give this run another state.checkpoints.dir",
                          s->job_dir, *pid ? pid : "unknown");
        else
            errbuf_printf(err, errlen, "state.checkpoints.dir: %s/.lock: %s", s->job_dir,
                          strerror(-rc));
        return rc == -EWOULDBLOCK ? -EBUSY : rc;
    }
    char line[24];
    int len = snprintf(line, sizeof line, "%ld\n", (long)getpid());
    if (ftruncate(s->lock_fd, 0) < 0 || pwrite(s->lock_fd, line, (size_t)len, 0) != len) {
        int rc = -errno;
        errbuf_printf(err, errlen, "state.checkpoints.dir: %s/.lock: %s", s->job_dir,
                      strerror(-rc));
        return rc;
    }
    return 0;
}

int weir_storage_open(const struct weir_storage_opts *o, weir_storage **out, char *err,
                      size_t errlen)
{
    weir_storage *s = NULL;
    int rc = -ENOMEM;
    char tmpdir[4096];

    *out = NULL;
    if (!job_name_ok(o->job)) {
        errbuf_printf(err, errlen, "job name: %s: not usable as a directory name",
                      o->job ? o->job : "(null)");
        return -EINVAL;
    }
    unsigned fm = o->file_mode ? o->file_mode : 0600, dm = o->dir_mode ? o->dir_mode : 0700;
    if ((fm & ~0777u) || (fm & 0600) != 0600 || (fm & (S_IWGRP | S_IWOTH))) {
        errbuf_printf(err, errlen,
                      "state.checkpoints.file-mode: %04o: expected read and write "
                      "for the owner and no write for the group or others, like 0600",
                      fm);
        return -EINVAL;
    }
    if ((dm & ~0777u) || (dm & 0700) != 0700 || (dm & (S_IWGRP | S_IWOTH))) {
        errbuf_printf(err, errlen,
                      "state.checkpoints.directory-mode: %04o: expected rwx for "
                      "the owner and no write for the group or others, like 0700",
                      dm);
        return -EINVAL;
    }
    size_t bs = o->buffer_size ? o->buffer_size : DEFAULT_BUF_SIZE;
    if (bs % FMT_ALIGN || bs > FMT_MAX_BLOCK) {
        errbuf_printf(err, errlen, "checkpoint buffer size %zu: expected a multiple of %u", bs,
                      FMT_ALIGN);
        return -EINVAL;
    }
    if (!(s = calloc(1, sizeof *s))) {
        rc = nomem(err, errlen);
        goto err;
    }
    s->job_fd = s->shared_fd = s->lock_fd = s->efd = -1;
    s->buf_size = bs;
    s->pool_max = o->pool_bytes ? o->pool_bytes : DEFAULT_POOL;
    if (s->pool_max < 2 * bs)
        s->pool_max = 2 * bs;
    s->depth = o->queue_depth ? o->queue_depth : DEFAULT_DEPTH;
    s->num_retained = o->num_retained > 0 ? o->num_retained : 1;
    s->try_direct = !o->no_direct;
    s->file_mode = fm;
    s->dir_mode = dm;
    s->log = o->log;
    s->log_arg = o->log_arg;
    pthread_mutex_init(&s->pool_lock, NULL);
    pthread_cond_init(&s->pool_cond, NULL);
    pthread_mutex_init(&s->q_lock, NULL);
    pthread_mutex_init(&s->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cond, &ca);
    pthread_condattr_destroy(&ca);
    atomic_init(&s->state, ST_READY);

    if (o->dir && !strncmp(o->dir, "s3://", 5)) {
        if ((rc = remote_new(s, o, err, errlen)) < 0) /* s->root: the local copy */
            goto err;
    } else if (o->dir && *o->dir) {
        s->root = strdup(o->dir);
    } else if ((rc = privdir_default("state.checkpoints.dir", tmpdir, sizeof tmpdir)) < 0) {
        errbuf_printf(err, errlen, "state.checkpoints.dir: the default is too long: set it");
        goto err;
    } else {
        s->root = strdup(tmpdir);
    }
    if (!s->root || !(s->job = strdup(o->job)) || !(s->job_dir = path_join(s->root, s->job)) ||
        !(s->shared_dir = path_join(s->job_dir, "shared"))) {
        rc = nomem(err, errlen);
        goto err;
    }
    if ((rc = open_dirs(s, err, errlen)) < 0 || (rc = lock_job_dir(s, err, errlen)) < 0)
        goto err;
    if (s->remote && (rc = remote_sync(s, err, errlen)) < 0)
        goto err;
    if ((rc = storage_scan(s, err, errlen)) < 0)
        goto err;
    if ((rc = pool_init(s)) < 0) {
        errbuf_printf(err, errlen, "checkpoint storage: %zu MiB of snapshot buffers: %s",
                      s->pool_max >> 20, strerror(-rc));
        goto err;
    }

    s->efd = eventfd(0, EFD_CLOEXEC);
    if (s->efd < 0) {
        rc = -errno;
        errbuf_printf(err, errlen, "checkpoint storage: eventfd: %s", strerror(-rc));
        goto err;
    }
    rc = io_uring_queue_init(s->depth + 2 * CHAIN_MAX, &s->ring, 0);
    if (rc < 0) {
        errbuf_printf(err, errlen, "checkpoint storage: io_uring: %s", strerror(-rc));
        goto err;
    }
    s->ring_ready = true;
    struct io_uring_probe *probe = io_uring_get_probe_ring(&s->ring);
    if (probe) {
        s->have_renameat = io_uring_opcode_supported(probe, IORING_OP_RENAMEAT);
        io_uring_free_probe(probe);
    }
    s->efd_op.kind = OP_EVENTFD;
    if ((rc = -pthread_create(&s->thread, NULL, io_main, s)) < 0) {
        errbuf_printf(err, errlen, "checkpoint storage: io thread: %s", strerror(-rc));
        goto err;
    }
    s->thread_started = true;
    if (s->remote && (rc = remote_start(s, err, errlen)) < 0)
        goto err;
    assert(storage_check_state(s));
    *out = s;
    return 0;
err:
    weir_storage_close(s);
    return rc;
}

int weir_storage_open_config(const struct weir_config *cfg, const char *job, weir_storage **out,
                             char *err, size_t errlen)
{
    struct weir_storage_opts o = {
        .dir = weir_config_get_str(cfg, "state.checkpoints.dir"),
        .job = job,
        .num_retained = (int)weir_config_get_int(cfg, "execution.checkpointing.num-retained"),
        .pool_bytes = (size_t)(weir_config_pools(cfg)->overhead / 2),
        .file_mode =
            (unsigned)strtoul(weir_config_get_str(cfg, "state.checkpoints.file-mode"), NULL, 8),
        .dir_mode = (unsigned)strtoul(weir_config_get_str(cfg, "state.checkpoints.directory-mode"),
                                      NULL, 8),
        .s3_endpoint = weir_config_get_str(cfg, "s3.endpoint"),
        .s3_region = weir_config_get_str(cfg, "s3.region"),
        .s3_access_key = weir_config_get_str(cfg, "s3.access-key"),
        .s3_secret_key = weir_config_get_str(cfg, "s3.secret-key"),
        .s3_retry_max_attempts = (int)weir_config_get_int(cfg, "s3.retry.max-attempts"),
        .s3_retry_initial_backoff_ms = weir_config_get_duration_ms(cfg, "s3.retry.initial-backoff"),
        .local_dir = weir_config_get_str(cfg, "state.backend.local-recovery.dir"),
        .local_recovery = weir_config_get_bool(cfg, "state.backend.local-recovery"),
    };
    const char *sp = weir_config_get_str(cfg, "state.savepoints.dir");
    if (!strncmp(sp, "s3://", 5)) {
        /* The uploader of the checkpoints puts savepoints too: same store, same bucket. */
        const char *cb = o.dir + 5, *sb = sp + 5;
        size_t lcb = strcspn(cb, "/"), lsb = strcspn(sb, "/");
        if (strncmp(o.dir, "s3://", 5) || lcb != lsb || strncmp(cb, sb, lcb)) {
            errbuf_printf(err, errlen,
                          "state.savepoints.dir: %s: savepoints to S3 go to the bucket of "
                          "state.checkpoints.dir, which is %s: set both to s3://<one "
                          "bucket>/..., or give a local directory",
                          sp, *o.dir ? o.dir : "(local, the default)");
            return -EINVAL;
        }
    }
    if (!strncmp(o.dir, "s3://", 5) && !weir_config_get_bool(cfg, "s3.path.style.access")) {
        errbuf_printf(err, errlen,
                      "s3.path.style.access: false: weir addresses the store path-style "
                      "(<endpoint>/<bucket>/<key>) only; set it to true");
        return -EINVAL;
    }
    return weir_storage_open(&o, out, err, errlen);
}

void weir_storage_close(weir_storage *s)
{
    if (!s)
        return;
    if (s->thread_started) {
        atomic_store(&s->state, ST_CLOSING);
        remote_cancel(s); /* uploads not begun fail: the io thread waits for the rest */
        atomic_store(&s->stalled, false);
        s->stop_req.type = REQ_STOP;
        io_enqueue(s, &s->stop_req);
        pthread_join(s->thread, NULL);
    }
    remote_free(s);
    if (s->ring_ready)
        io_uring_queue_exit(&s->ring);
    if (s->efd >= 0)
        close(s->efd);
    if (s->pool_map)
        munmap(s->pool_map, s->pool_map_len);
    free(s->pool_descs);
    while (s->nret)
        retained_drop_at(s, s->nret - 1);
    free(s->ret);
    for (size_t i = 0; i < s->reg_buckets; i++) {
        for (struct reg_ent *e = s->reg[i], *n; e; e = n) {
            n = e->next;
            free(e);
        }
    }
    free(s->reg);
    if (s->job_fd >= 0)
        close(s->job_fd);
    if (s->shared_fd >= 0)
        close(s->shared_fd);
    if (s->lock_fd >= 0)
        close(s->lock_fd); /* the lock goes with it; the file stays (lock_job_dir) */
    pthread_mutex_destroy(&s->pool_lock);
    pthread_cond_destroy(&s->pool_cond);
    pthread_mutex_destroy(&s->q_lock);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->cond);
    free(s->root);
    free(s->job);
    free(s->job_dir);
    free(s->shared_dir);
    free(s);
}

const char *weir_storage_job_dir(const weir_storage *s)
{
    return s->job_dir;
}

uint64_t weir_storage_next_id(const weir_storage *s)
{
    pthread_mutex_lock(&((weir_storage *)s)->lock);
    uint64_t id = s->max_id + 1;
    pthread_mutex_unlock(&((weir_storage *)s)->lock);
    return id;
}

void weir_storage_stats_get(weir_storage *s, struct weir_storage_stats *st)
{
    memset(st, 0, sizeof *st);
    st->bytes_written = atomic_load(&s->bytes_written);
    st->files_written = atomic_load(&s->files_written);
    st->checkpoints_completed = atomic_load(&s->cks_completed);
    st->checkpoints_failed = atomic_load(&s->cks_failed);
    pthread_mutex_lock(&s->pool_lock);
    st->buffers_allocated = s->pool_allocated;
    st->buffers_in_use = s->pool_in_use;
    st->pool_waits = s->pool_waits;
    st->pool_wait_ns = s->pool_wait_ns;
    pthread_mutex_unlock(&s->pool_lock);
    st->direct_io = s->try_direct && !atomic_load(&s->direct_refused);
}

void weir_storage_fail_write_for_test(weir_storage *s, unsigned nth, int err)
{
    atomic_store(&s->fail_write_err, err);
    atomic_store(&s->fail_write_nth, nth);
}

void weir_storage_fail_ckpts_for_test(weir_storage *s, uint64_t first_id, uint64_t last_id, int err)
{
    atomic_store(&s->fail_ck_err, err);
    atomic_store(&s->fail_ck_last, last_id);
    atomic_store(&s->fail_ck_first, first_id);
}

/* The error weir_storage_fail_ckpts_for_test injects into ck at the step that would see
 * it (-EROFS making the directory, others writing _metadata), 0 for none. */
int ck_injected_fault(struct weir_storage *s, const struct weir_ckpt *ck, bool making_dir)
{
    uint64_t first = atomic_load(&s->fail_ck_first);
    if (!first || ck->savepoint || ck->id < first || ck->id > atomic_load(&s->fail_ck_last))
        return 0;
    int err = atomic_load(&s->fail_ck_err);
    return (err == -EROFS) == making_dir ? err : 0;
}

void weir_storage_fail_fsync_for_test(weir_storage *s, int fsync_err)
{
    atomic_store(&s->fail_fsync_err, fsync_err);
}

void weir_storage_stall_for_test(weir_storage *s, bool stalled)
{
    atomic_store(&s->stalled, stalled);
    if (!stalled) {
        uint64_t one = 1;
        while (write(s->efd, &one, sizeof one) < 0 && errno == EINTR)
            ;
    }
}

void storage_sync_commit_for_test(weir_storage *s)
{
    s->have_renameat = false;
}

void weir_storage_refuse_direct_for_test(weir_storage *s)
{
    atomic_store(&s->refuse_direct, true);
}

/* --- checkpoints ----------------------------------------------------------------------- */

void ck_put(struct weir_ckpt *ck)
{
    if (atomic_fetch_sub(&ck->refs, 1) != 1)
        return;
    for (size_t i = 0; i < ck->nnames; i++)
        free(ck->names[i]);
    free(ck->names);
    for (size_t i = 0; i < ck->ndurable; i++)
        free(ck->durable[i].name);
    free(ck->durable);
    for (size_t i = 0; i < ck->nshared; i++)
        free(ck->shared[i].name);
    free(ck->shared);
    for (size_t i = 0; i < ck->npins; i++)
        free(ck->pins[i]);
    free(ck->pins);
    fmt_mem_free(&ck->meta_file);
    free(ck->commit_meta);
    free(ck->path);
    free(ck->sp_url);
    free(ck->sp_key);
    free(ck);
}

bool ck_fail(struct weir_ckpt *ck, int err, bool from_io, const char *fmt, ...)
{
    weir_storage *s = ck->s;
    bool failed = false;
    assert(err < 0);
    pthread_mutex_lock(&s->lock);
    if ((ck->state == WEIR_CKPT_WRITING || ck->state == WEIR_CKPT_COMMITTING) &&
        (from_io || !ck->chain_started)) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(ck->errmsg, sizeof ck->errmsg, fmt, ap);
        va_end(ap);
        ck->state = WEIR_CKPT_FAILED;
        /* Pairs with the workers' relaxed loads in writer.c (weir_ckpt_file_reserve,
         * _commit, _section_begin): they need the error, nothing published with it. */
        atomic_store(&ck->status, err);
        failed = true;
    }
    assert(ck_check_state(ck));
    pthread_mutex_unlock(&s->lock);
    return failed;
}

static int ck_begin(weir_storage *s, const char *path, bool savepoint, uint64_t id,
                    const struct weir_ckpt_callbacks *cb, weir_ckpt **out)
{
    *out = NULL;
    assert(storage_check_state(s));
    if (atomic_load(&s->state) != ST_READY)
        return -EIO;
    struct weir_ckpt *ck = calloc(1, sizeof *ck);
    if (!ck)
        return -ENOMEM;
    ck->s = s;
    ck->id = id;
    ck->savepoint = savepoint;
    ck->dirfd = ck->parentfd = ck->tmpfd = -1;
    if (cb)
        ck->cb = *cb;
    atomic_init(&ck->status, 0);
    atomic_init(&ck->refs, 2); /* the caller, the io thread until settled */
    if (savepoint && !strncmp(path, "s3://", 5)) {
        /* Written locally first, then put in the store by the uploader (remote.c). */
        int rc = remote_savepoint_key(s, path, &ck->sp_key);
        const char *base = strrchr(path, '/') + 1;
        char stage[4096];
        snprintf(stage, sizeof stage, "%s/" SP_STAGE_DIR "/%s", s->job_dir, base);
        ck->sp_url = strdup(path);
        ck->path = rc == 0 && *base ? strdup(stage) : NULL;
        snprintf(ck->label, sizeof ck->label, "savepoint");
        if (rc < 0 || !*base || !ck->sp_url) {
            free(ck->path);
            free(ck->sp_url);
            free(ck->sp_key);
            free(ck);
            return rc < 0 ? rc : !*base ? -EINVAL : -ENOMEM;
        }
    } else if (savepoint) {
        ck->path = strdup(path);
        snprintf(ck->label, sizeof ck->label, "savepoint");
    } else {
        snprintf(ck->label, sizeof ck->label, "chk-%" PRIu64, id);
        ck->path = path_join(s->job_dir, ck->label);
    }
    if (!ck->path) {
        free(ck);
        return -ENOMEM;
    }
    pthread_mutex_lock(&s->lock);
    if (!savepoint) {
        bool taken = retained_has(s, id);
        for (struct weir_ckpt *c = s->cks; c && !taken; c = c->next)
            taken = !c->savepoint && c->id == id;
        if (taken) {
            pthread_mutex_unlock(&s->lock);
            free(ck->path);
            free(ck);
            return -EEXIST;
        }
    }
    /* Savepoints and checkpoints take ids from one counter (weir_storage_next_id). */
    if (id > s->max_id)
        s->max_id = id;
    ck->state = WEIR_CKPT_WRITING;
    ck->next = s->cks;
    s->cks = ck;
    assert(ck_check_state(ck));
    pthread_mutex_unlock(&s->lock);
    ck->begin_req.type = REQ_BEGIN;
    io_enqueue_ck(ck, &ck->begin_req);
    *out = ck;
    return 0;
}

int weir_ckpt_begin(weir_storage *s, uint64_t id, const struct weir_ckpt_callbacks *cb,
                    weir_ckpt **out)
{
    if (id == 0) {
        *out = NULL;
        return -EINVAL;
    }
    return ck_begin(s, NULL, false, id, cb, out);
}

int weir_savepoint_begin(weir_storage *s, const char *path, uint64_t id,
                         const struct weir_ckpt_callbacks *cb, weir_ckpt **out)
{
    if (!path || !*path) {
        *out = NULL;
        return -EINVAL;
    }
    return ck_begin(s, path, true, id, cb, out);
}

uint64_t weir_ckpt_id(const weir_ckpt *ck)
{
    return ck->id;
}

const char *weir_ckpt_dir(const weir_ckpt *ck)
{
    return ck->path;
}

enum weir_ckpt_state ck_state_locked(struct weir_ckpt *ck)
{
    pthread_mutex_lock(&ck->s->lock);
    enum weir_ckpt_state st = ck->state;
    pthread_mutex_unlock(&ck->s->lock);
    return st;
}

enum weir_ckpt_state weir_ckpt_state(const weir_ckpt *ck)
{
    return ck_state_locked((weir_ckpt *)ck);
}

int weir_ckpt_status(const weir_ckpt *ck)
{
    return atomic_load(&((weir_ckpt *)ck)->status);
}

const char *weir_ckpt_error(const weir_ckpt *ck)
{
    /* errmsg is written once, before status turns negative, and never again. */
    return atomic_load(&((weir_ckpt *)ck)->status) < 0 ? ck->errmsg : "";
}

void weir_ckpt_progress_get(const weir_ckpt *ck, struct weir_ckpt_progress *p)
{
    weir_storage *s = ck->s;
    pthread_mutex_lock(&s->lock);
    p->state = ck->state;
    p->status = atomic_load(&((weir_ckpt *)ck)->status);
    p->files_opened = ck->files_opened;
    p->files_durable = ck->files_durable;
    p->bytes_durable = ck->bytes_durable;
    p->bytes_shared_new = ck->bytes_shared_new;
    p->settled = ck->settled;
    pthread_mutex_unlock(&s->lock);
}

int weir_ckpt_wait(weir_ckpt *ck, int64_t timeout_ms)
{
    weir_storage *s = ck->s;
    struct timespec dl;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    if (timeout_ms >= 0) {
        dl.tv_sec += timeout_ms / 1000;
        dl.tv_nsec += (timeout_ms % 1000) * 1000000;
        if (dl.tv_nsec >= 1000000000) {
            dl.tv_sec++;
            dl.tv_nsec -= 1000000000;
        }
    }
    int rc = 0;
    pthread_mutex_lock(&s->lock);
    while (!ck->settled && rc == 0) {
        if (timeout_ms < 0)
            pthread_cond_wait(&s->cond, &s->lock);
        else
            rc = pthread_cond_timedwait(&s->cond, &s->lock, &dl);
    }
    int status = ck->settled ? atomic_load(&ck->status) : -ETIMEDOUT;
    pthread_mutex_unlock(&s->lock);
    return status;
}

int weir_ckpt_abort(weir_ckpt *ck, int err)
{
    if (err >= 0)
        err = -ECANCELED;
    if (!ck_fail(ck, err, false, "%s %s: aborted: %s", ck->label, ck->path, strerror(-err)))
        return -EALREADY;
    bool queue = false;
    pthread_mutex_lock(&ck->s->lock);
    if (!ck->abort_queued)
        queue = ck->abort_queued = true;
    pthread_mutex_unlock(&ck->s->lock);
    if (queue) {
        ck->abort_req.type = REQ_ABORT;
        io_enqueue_ck(ck, &ck->abort_req);
    }
    return 0;
}

void weir_ckpt_release(weir_ckpt *ck)
{
    if (ck)
        ck_put(ck);
}
