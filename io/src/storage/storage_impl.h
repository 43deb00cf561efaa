/*
 * @internal Checkpoint storage: the structures its files share. storage.c (the storage and
 * checkpoint state machines, the control API), writer.c (buffers and state files), uring.c
 * (the io thread), commit.c (_metadata), shared.c (shared files), retention.c (what is kept
 * on disk), storage_restore.c (reading back), storage_format.c (the file format).
 */
#ifndef WEIR_STORAGE_IMPL_H
#define WEIR_STORAGE_IMPL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <liburing.h>
#include <xxhash.h>

#include <weir/privdir.h>
#include <weir/storage.h>
#include <weir/storage_test_hooks.h>

#include "storage_format.h"

#define container_of(p, type, member) ((type *)(void *)((char *)(p)-offsetof(type, member)))

/* What a CQE's user_data points at. */
enum op_kind { OP_EVENTFD = 1, OP_WRITE, OP_FSYNC, OP_CHAIN, OP_DIRSYNC };
struct op {
    uint8_t kind;
    uint8_t idx; /* OP_CHAIN: the step */
};

/* What the io thread's queue carries. */
enum req_type {
    REQ_BEGIN = 1,  /* weir_ckpt.begin_req */
    REQ_DATA,       /* struct sbuf.req: a full buffer of a file */
    REQ_SUBMIT,     /* weir_ckpt_file.end_req: last buffer and section index */
    REQ_FILE_ABORT, /* weir_ckpt_file.end_req: the worker gave the file up */
    REQ_SHARED,     /* struct shared_req.req */
    REQ_COMMIT,     /* weir_ckpt.commit_req */
    REQ_ABORT,      /* weir_ckpt.abort_req: wakes the io thread to clean up */
    REQ_STOP,       /* weir_storage.stop_req */
    REQ_UPLOADED,   /* weir_ckpt.upload_req: the uploader is done with the checkpoint */
};
struct req {
    struct req *next;
    uint8_t type;
};

/* One pool buffer (buf_size bytes, FMT_ALIGN-aligned), and the request and the io_uring
 * operation that carry it. A one-off buffer (a tail larger than a pool buffer) is freed
 * instead of going back to the pool. */
struct sbuf {
    struct req req;
    struct op op;
    struct sbuf *free_next;
    struct weir_ckpt_file *file;
    uint8_t *data;
    uint64_t off;  /* file offset of data[0] */
    uint32_t len;  /* bytes to write */
    uint32_t done; /* written so far (short writes are resumed) */
    bool one_off;
};

struct shared_req {
    struct req req;
    struct weir_ckpt *ck;
    char *src, *name;
};

/* A file the checkpoint wrote or references, as _metadata will record it. */
struct file_rec {
    char *name;
    uint64_t size, checksum;
};

struct weir_ckpt_file {
    struct weir_ckpt *ck;
    char name[204];

    /* worker side, until submit */
    struct sbuf *cur;
    size_t fill;  /* bytes in cur */
    uint64_t pos; /* file offset of cur->data[0] */
    struct fmt_section *sec;
    size_t nsec, capsec;
    struct weir_snapshot_out out;
    struct req end_req;
    int abort_err;

    /* io thread side */
    struct weir_ckpt_file *io_next; /* in ck->io_files */
    bool seen, opened, direct, submitted, fsyncing, finished;
    int fd;
    unsigned pending; /* writes in flight */
    XXH3_state_t *hash;
    uint64_t *blocks;
    size_t nblocks, capblocks;
    uint64_t size, checksum;
    uint64_t truncate_to; /* padded tail or preallocation: cut back to the real size */
    uint64_t alloc_end;   /* fallocate'd up to here */
    bool no_prealloc;     /* fallocate refused: write without */
    struct op fsync_op;
};

/* Commit's linked io_uring chain: [fsync shared/] write tmp, fsync tmp, rename, fsync dir.
 * (The parent was fsynced when the directory was made, off the commit's path.) */
#define CHAIN_MAX 5

struct weir_ckpt {
    struct weir_storage *s;
    uint64_t id;
    bool savepoint;
    char *path; /* the directory */
    /* A savepoint to s3:// (state.savepoints.dir s3://bucket/prefix): its URL, and its key
     * ("prefix/savepoint-job-7") under which remote.c puts it once it is written into path,
     * a staging directory under <job dir>/savepoints-upload/. NULL otherwise. */
    char *sp_url, *sp_key;
    char label[64]; /* "chk-7", or "savepoint" */
    struct weir_ckpt_callbacks cb;
    atomic_int refs;        /* caller, each file, the io thread until settled */
    struct weir_ckpt *next; /* s->cks: begun and not settled */

    /* under s->lock; status is also read without it on the workers' path */
    enum weir_ckpt_state state;
    atomic_int status;
    char errmsg[512];
    unsigned files_opened, files_durable;
    uint64_t bytes_durable;
    uint64_t bytes_shared_new; /* shared files placed in shared/ (shared.c), under s->lock */
    char **names;              /* opened file names */
    size_t nnames, capnames;
    bool chain_started, settled, abort_queued;
    struct weir_ckpt_meta *commit_meta; /* clone, one allocation */

    /* io thread only */
    bool begun;
    bool io_done; /* outcome final, done() called: settled is set after the clean-up */
    int dirfd, parentfd;
    bool dir_made, dir_existed;
    bool dir_synced;      /* the parent's fsync after mkdir completed */
    struct op dirsync_op; /* that fsync */
    struct weir_ckpt_file *io_files;
    unsigned io_pending; /* writes, fsyncs and chain ops in flight */
    struct file_rec *durable;
    size_t ndurable, capdurable;
    struct file_rec *shared; /* added or referenced by this checkpoint */
    size_t nshared, capshared;
    char **pins; /* registry names this checkpoint holds */
    size_t npins, cappins;
    bool added_shared;
    int tmpfd;
    struct fmt_mem meta_file;
    struct op chain_op[CHAIN_MAX];
    const char *chain_what[CHAIN_MAX]; /* each step, for the message */
    unsigned chain_write;              /* the step that writes _metadata.tmp */
    unsigned chain_n, chain_done;
    int chain_err;
    const char *chain_err_what;

    struct req begin_req, commit_req, abort_req;
    /* s3://: the uploader's outcome, set before it queues upload_req (remote.c) */
    struct req upload_req;
    int upload_rc;
    bool meta_put; /* the uploader's own: its _metadata PUT succeeded (DISCARD reads it) */
    char upload_err[512];
};

/* A shared file the storage holds: refs from retained checkpoints' _metadata, pins from
 * running checkpoints. */
struct reg_ent {
    struct reg_ent *next;
    uint64_t size, checksum;
    unsigned refs, pins;
    char name[];
};

struct retained {
    uint64_t id;
    char **shared;
    size_t nshared;
};

enum storage_state { ST_READY, ST_BROKEN, ST_CLOSING };

struct weir_storage {
    char *root, *job, *job_dir, *shared_dir;
    int job_fd, shared_fd;
    int lock_fd; /* <job_dir>/.lock, flock()ed for the storage's lifetime */
    int num_retained;
    size_t buf_size, pool_max;
    unsigned depth;
    bool try_direct;
    mode_t file_mode, dir_mode; /* what every file and directory written is chmod'ed to */
    weir_storage_log_fn log;
    void *log_arg;

    /* buffers */
    pthread_mutex_t pool_lock;
    pthread_cond_t pool_cond;
    struct sbuf *pool_free;
    void *pool_map; /* pool_allocated buffers of buf_size, back to back */
    size_t pool_map_len;
    struct sbuf *pool_descs;
    size_t pool_allocated, pool_in_use;
    uint64_t pool_waits, pool_wait_ns;

    /* requests to the io thread: many producers, one consumer */
    pthread_mutex_t q_lock;
    struct req *q_head, *q_tail;
    int efd;

    /* checkpoints, registry, retained list */
    pthread_mutex_t lock;
    pthread_cond_t cond; /* a checkpoint settled */
    atomic_int state;    /* enum storage_state */
    struct weir_ckpt *cks;
    struct retained *ret; /* ascending id */
    size_t nret, capret;
    struct reg_ent **reg;
    size_t reg_buckets, reg_count;
    uint64_t max_id;
    uint64_t protected_id; /* weir_storage_protect's, 0: none (retention.c) */

    /* io thread */
    pthread_t thread;
    bool thread_started;
    struct io_uring ring;
    bool ring_ready, have_renameat;
    struct req *backlog, *backlog_tail;
    unsigned inflight_writes, inflight_all;
    uint64_t efd_val;
    struct op efd_op;
    bool stopping;
    struct req stop_req;
    bool direct_logged;

    /* state.checkpoints.dir s3://...: the store and its uploader thread (remote.c); NULL
     * for a local directory, which root then is; with it, root is the local copy */
    struct remote *remote;

    /* statistics */
    atomic_uint_fast64_t bytes_written, files_written, cks_completed, cks_failed;
    atomic_bool direct_refused;

    /* test hooks */
    atomic_uint fail_write_nth;
    atomic_int fail_write_err, fail_fsync_err;
    atomic_uint_fast64_t fail_ck_first, fail_ck_last; /* weir_storage_fail_ckpts_for_test */
    atomic_int fail_ck_err;
    atomic_bool stalled, refuse_direct;
};

static inline bool ck_failed(struct weir_ckpt *ck)
{
    return atomic_load(&ck->status) < 0;
}

static inline void ck_get(struct weir_ckpt *ck)
{
    atomic_fetch_add(&ck->refs, 1);
}

/* storage.c: the storage and checkpoint state machines, open and close, the control API */
void storage_log(struct weir_storage *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void ck_put(struct weir_ckpt *ck);
/* Fails ck with err and a message (first error wins). Returns true when this call failed it.
 * from_io: the io thread may fail a checkpoint whose chain is running; others may not. */
bool ck_fail(struct weir_ckpt *ck, int err, bool from_io, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
enum weir_ckpt_state ck_state_locked(struct weir_ckpt *ck);
bool ck_check_state(const struct weir_ckpt *ck);
const char *ck_key(const struct weir_ckpt *ck); /* key named in messages */

/* uring.c: the io thread, its request queue, begin and settling */
void *io_main(void *arg);
const char *io_state_str(struct weir_storage *s);       /* for the debugger */
void io_enqueue(struct weir_storage *s, struct req *r); /* any thread */
/* Queues one of the checkpoint's own requests (begin_req, commit_req, abort_req) with a
 * reference to ck, which the io thread drops once it has processed the request: the
 * checkpoint may settle and its owner release it while the request still waits. */
void io_enqueue_ck(struct weir_ckpt *ck, struct req *r); /* any thread */
struct io_uring_sqe *io_get_sqe(struct weir_storage *s);
void file_done_cb(struct weir_ckpt_file *f, int status);
void ck_finish(struct weir_storage *s, struct weir_ckpt *ck);
void ck_mark_settled(struct weir_storage *s, struct weir_ckpt *ck);
void ck_try_settle(struct weir_storage *s, struct weir_ckpt *ck);

/* writer.c: the buffer pool and state files, worker side and io thread side */
int pool_init(struct weir_storage *s);
void pool_put(struct weir_storage *s, struct sbuf *b);
void file_free(struct weir_ckpt_file *f);
const char *file_state_str(const struct weir_ckpt_file *f); /* for the debugger */
void writer_data(struct weir_storage *s, struct sbuf *b);
void writer_submit(struct weir_storage *s, struct weir_ckpt_file *f);
void writer_abort(struct weir_storage *s, struct weir_ckpt_file *f);
void writer_on_write(struct weir_storage *s, struct sbuf *b, int res);
void writer_on_fsync(struct weir_storage *s, struct weir_ckpt_file *f, int res);

/* commit.c: _metadata's linked chain (io thread) */
void ck_try_commit(struct weir_storage *s, struct weir_ckpt *ck);
void commit_uploaded(struct weir_storage *s, struct weir_ckpt *ck); /* REQ_UPLOADED */
void commit_on_chain(struct weir_storage *s, struct op *op, int res);

/* shared.c: the registry of shared files (callers hold s->lock) and their copies */
struct reg_ent *reg_find(struct weir_storage *s, const char *name);
struct reg_ent *reg_add(struct weir_storage *s, const char *name, uint64_t size, uint64_t checksum);
void reg_remove(struct weir_storage *s, struct reg_ent *e);
bool reg_pin(struct weir_storage *s, struct weir_ckpt *ck, struct reg_ent *e);
void reg_unpin_all(struct weir_storage *s, struct weir_ckpt *ck);
void sweep_shared(struct weir_storage *s);
void shared_copy_in(struct weir_storage *s, struct shared_req *r);
bool file_rec_add(struct file_rec **v, size_t *n, size_t *cap, const char *name, uint64_t size,
                  uint64_t sum);
struct file_rec *file_rec_find(struct file_rec *v, size_t n, const char *name);

/* retention.c: retained checkpoints (callers hold s->lock), directories, retention */
int retained_add(struct weir_storage *s, uint64_t id, const struct weir_ckpt_meta *m);
void retained_drop_at(struct weir_storage *s, size_t i);
bool retained_has(struct weir_storage *s, uint64_t id);
void retention_run(struct weir_storage *s, uint64_t new_id);
void remove_ck_dir(struct weir_storage *s, struct weir_ckpt *ck);
int mkdir_p(const char *path, mode_t mode);
int list_checkpoints(int job_fd, uint64_t **ids, size_t *n); /* chk-N, ascending */

/* storage_restore.c */
int storage_scan(struct weir_storage *s, char *err, size_t errlen);
int read_metadata(int dirfd, struct meta_owned **out, char *why, size_t whylen);
int read_metadata_named(int dirfd, const char *name, struct meta_owned **out, char *why,
                        size_t whylen);
/* Every file m lists, in dirfd and shared_fd: sizes and (unless WEIR_RESTORE_QUICK) checksums. */
int validate_ckpt(int dirfd, int shared_fd, const struct weir_ckpt_meta *m, unsigned flags,
                  char *why, size_t whylen);

/* remote.c, remote_sync.c: state.checkpoints.dir s3://bucket/prefix. remote_new (open, before
 * the directories) parses dir, opens the store and sets s->root to the local copy;
 * remote_sync (open, before storage_scan) makes the local copy hold the remote complete
 * checkpoints; remote_start starts the uploader. remote_upload_file (io thread) queues a state file
 * as soon as it is durable, remote_upload (after the checks of the commit) the rest and _metadata;
 * its outcome comes back as REQ_UPLOADED. remote_retain (io thread, after retention) deletes what
 * is no longer kept. */
int remote_new(struct weir_storage *s, const struct weir_storage_opts *o, char *err, size_t errlen);
int remote_sync(struct weir_storage *s, char *err, size_t errlen);
int remote_start(struct weir_storage *s, char *err, size_t errlen);
void remote_cancel(struct weir_storage *s); /* close: jobs not begun fail, -ECANCELED */
void remote_free(struct weir_storage *s);   /* stops the uploader; NULL remote: no-op */
void remote_upload_file(struct weir_storage *s, struct weir_ckpt *ck, const char *name);
void remote_upload(struct weir_storage *s, struct weir_ckpt *ck);
void remote_retain(struct weir_storage *s, uint64_t new_id, const uint64_t *keep, size_t nkeep);
/* io thread, a failed checkpoint settled: delete what of it went up (never another writer's). */
void remote_discard(struct weir_storage *s, struct weir_ckpt *ck);
/* A savepoint's URL s3://bucket/prefix/name: *key = "prefix/name" (malloc'ed). -EINVAL when
 * the storage is not on S3 or the bucket is another. */
int remote_savepoint_key(struct weir_storage *s, const char *url, char **key);
/* Where savepoints to s3:// are written before their upload, under the job's directory of
 * the local copy; emptied at open. */
#define SP_STAGE_DIR "savepoints-upload"

/* Tests: commit with plain system calls on the io thread, as on kernels without
 * IORING_OP_RENAMEAT (before 5.11). Call before any checkpoint begins. The other test hooks
 * are in weir/storage_test_hooks.h. */
void storage_sync_commit_for_test(struct weir_storage *s);
/* storage.c: the error weir_storage_fail_ckpts_for_test injects into ck at this step. */
int ck_injected_fault(struct weir_storage *s, const struct weir_ckpt *ck, bool making_dir);

#endif
