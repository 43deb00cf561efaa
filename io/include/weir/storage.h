/*
 * Checkpoint storage: where snapshots live on disk, and the io thread that writes them.
 *
 * Layout, as Flink's (state.checkpoints.dir, "" meaning the per-user default of
 * core/internal/weir/privdir.h; every directory 0700, private and never a link, files 0600):
 *
 *   <dir>/<job>/chk-7/_metadata      written last, atomically: checkpoint 7 is complete
 *   <dir>/<job>/chk-7/<state file>   one or more per subtask, named by the runtime
 *   <dir>/<job>/shared/<name>        files shared between checkpoints (incremental RocksDB
 *                                    SSTs), counted by the _metadata files that list them
 *   <savepoint path>/_metadata, <savepoint path>/<files>   self-contained, never retained
 *
 * Every file weir writes here (state files and _metadata) is: a 64-byte header (magic
 * "WEIRSNAP", format version, kind, checksum block size, checkpoint id, header checksum),
 * sections back to back, an end marker with the section index and one XXH3 checksum per
 * block, and a trailer with the file size and an XXH3 checksum of the whole file.
 *
 * Writing follows liburing's verbs: reserve a buffer, write into it, submit, complete.
 * A worker copies snapshot bytes into buffers of the storage's pool (the synchronous part of
 * a snapshot is that copy) and goes on; a full buffer is handed to the io thread, which
 * checksums it and writes it with io_uring (O_DIRECT where the filesystem allows it), then
 * fsyncs the file. No thread but the io thread touches the disk while checkpoints are
 * written. A worker waits only when the pool is exhausted (pool_bytes too small for what
 * is being snapshotted at once); weir_storage_stats counts those waits.
 *
 * Checkpoint n, as the runtime drives it:
 *
 *     weir_ckpt *ck;
 *     weir_ckpt_begin(st, n, &callbacks, &ck);            // coordinator; never blocks
 *     // each subtask, on barrier n (worker thread):
 *     weir_ckpt_file *f;
 *     weir_ckpt_file_open(ck, "window-3", &f);
 *     for (uint32_t kg = first; kg <= last; kg++) {
 *         weir_ckpt_file_section_begin(f, kg);
 *         weir_keyed_backend_snapshot_key_group(be, kg, weir_ckpt_file_out(f));
 *     }
 *     weir_ckpt_file_submit(f);                 // f is the io thread's now; worker goes on
 *     // (RocksDB, incremental: weir_ckpt_shared_add(ck, sst_path, sst_name) for new SSTs,
 *     //  before the submit; _metadata's shared list names every SST a checkpoint needs)
 *     // io thread: callbacks.file_done(arg, ck, {"window-3", size, checksum}, 0) = the ack
 *     // coordinator, once every subtask acked:
 *     weir_ckpt_commit(ck, &meta);              // _metadata: tmp, fsync, rename, fsync dir
 *     // io thread: callbacks.done(arg, ck, 0): checkpoint n is complete; older ones beyond
 *     // execution.checkpointing.num-retained are deleted with their unshared files
 *     weir_ckpt_release(ck);
 *
 * Recovery:
 *
 *     weir_restore *r;
 *     int rc = weir_restore_open_latest(st, 0, &r);       // -ENOENT: no checkpoint yet
 *     const struct weir_ckpt_meta *m = weir_restore_meta(r);
 *     for (size_t i = 0; i < m->entry_count; i++) { ... weir_restore_file_open(r, file) ...}
 *     weir_restore_close(r);
 *
 * A corrupt, truncated or incomplete latest checkpoint is skipped with a log line such as
 * "checkpoint chk-7 is corrupt (window-3: block 2 checksum mismatch): using chk-6".
 *
 * Errors: functions return 0 or a negative errno. A checkpoint that fails (ENOSPC, EIO, an
 * abort) keeps its first error (weir_ckpt_error: one line naming the path and the key to
 * change), never gets a _metadata, and has its directory removed; later checkpoints are
 * unaffected. Threads: begin, commit, abort, release, restore and close from the control
 * thread; file_* from the one worker that opened the file (any number of workers at once);
 * callbacks run on the io thread and must be short and not wait on the storage.
 */
#ifndef WEIR_STORAGE_H
#define WEIR_STORAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <weir/state.h>

#ifdef __cplusplus
extern "C" {
#endif

struct weir_config;

typedef struct weir_storage weir_storage;           /* one per job: directory and io thread */
typedef struct weir_ckpt weir_ckpt;                 /* a checkpoint or savepoint being written */
typedef struct weir_ckpt_file weir_ckpt_file;       /* one state file being written */
typedef struct weir_restore weir_restore;           /* a complete checkpoint opened to read */
typedef struct weir_restore_file weir_restore_file; /* one state file opened to read */

/* A log line without the "weir: " prefix and without a newline. */
typedef void (*weir_storage_log_fn)(void *arg, const char *line);

struct weir_storage_opts {
    const char *dir;      /* state.checkpoints.dir; NULL or "" = the per-user default */
    const char *job;      /* job name: the directory under dir (one path component) */
    int num_retained;     /* complete checkpoints kept; 0 = 1 */
    size_t buffer_size;   /* bytes per pool buffer and per checksum block; 0 = 1 MiB;
                             a multiple of 4096 (O_DIRECT alignment) */
    size_t pool_bytes;    /* memory of buffers, mapped and faulted in at open; 0 = 64 MiB;
                             at least 2 buffers */
    unsigned queue_depth; /* io_uring entries, the most writes in flight; 0 = 64 */
    bool no_direct;       /* never try O_DIRECT (it is tried, and dropped if refused) */
    /* Modes of the files and directories written (state.checkpoints.file-mode,
     * state.checkpoints.directory-mode), set whatever the umask; 0 = 0600 and 0700. Others
     * may not write: a mode with S_IWGRP or S_IWOTH is refused. */
    unsigned file_mode, dir_mode;
    weir_storage_log_fn log; /* NULL: "weir: LINE" on stderr */
    void *log_arg;
    /* dir s3://bucket/prefix: checkpoints go to that S3-compatible store (s3.*; NULL: the
     * environment, as io/src/storage/s3.h resolves it), written first into a local copy
     * under local_dir (state.backend.local-recovery.dir; NULL or "": the default of
     * state.checkpoints.dir). local_recovery (state.backend.local-recovery): a restore reads
     * the local copy when it matches the remote one; false: always the remote one.
     * s3_retry_max_attempts (s3.retry.max-attempts; 0: 5) and s3_retry_initial_backoff_ms
     * (s3.retry.initial-backoff; 0: 100): how a request that fails transiently is retried. */
    const char *s3_endpoint, *s3_region, *s3_access_key, *s3_secret_key;
    int s3_retry_max_attempts;
    int64_t s3_retry_initial_backoff_ms;
    const char *local_dir;
    bool local_recovery;
};

/* Creates <dir>/<job>/ and <dir>/<job>/shared/, reads the retained checkpoints' _metadata
 * (to count shared files), sets up io_uring and starts the io thread. Returns 0 and *out,
 * or a negative errno with one line in err: -ENOSYS/-EPERM when io_uring is unavailable,
 * "state.checkpoints.dir: /mnt/x: Permission denied", ... */
int weir_storage_open(const struct weir_storage_opts *opts, weir_storage **out, char *err,
                      size_t errlen);

/* weir_storage_open from a resolved config: state.checkpoints.dir,
 * execution.checkpointing.num-retained, and a pool of half the overhead memory pool (which
 * holds "snapshot buffers, io"). */
int weir_storage_open_config(const struct weir_config *cfg, const char *job, weir_storage **out,
                             char *err, size_t errlen);

/* Waits for writes in flight, fails checkpoints that can no longer finish (-ECANCELED),
 * stops the io thread and frees everything. Every weir_ckpt must have been released and
 * every weir_ckpt_file submitted or aborted, restores closed. NULL is a no-op. */
void weir_storage_close(weir_storage *s);

/* <dir>/<job>, the directory of this job's checkpoints. */
const char *weir_storage_job_dir(const weir_storage *s);

/* One more than the largest checkpoint id found on disk or begun: the id to use next so
 * that a restarted job never reuses the directory of an older attempt. */
uint64_t weir_storage_next_id(const weir_storage *s);
/* Keeps retained checkpoint id of this directory for good (a run restored it with
 * execution.savepoint-restore-mode NO_CLAIM: it is not this run's to delete): retention
 * deletes neither it nor the shared files it lists, and it does not count against
 * num-retained. -ENOENT when id is not a retained checkpoint here. */
int weir_storage_protect(weir_storage *s, uint64_t id);

/* "ready", "broken" (the io thread hit an error it cannot recover from, e.g. io_uring
 * itself failing: every later checkpoint fails with it) or "closing". */
const char *weir_storage_state_str(const weir_storage *s);

/* --- writing a checkpoint ------------------------------------------------------------ */

enum weir_ckpt_state {
    WEIR_CKPT_WRITING,    /* files may be opened and written */
    WEIR_CKPT_COMMITTING, /* commit asked: waiting for files to be durable, then _metadata */
    WEIR_CKPT_COMPLETE,   /* _metadata is durable: the checkpoint can be restored */
    WEIR_CKPT_FAILED,     /* sticky error; no _metadata; its directory is removed */
};

/* What the io thread wrote: what goes into a _metadata entry. */
struct weir_ckpt_file_info {
    const char *name;    /* file name in the checkpoint directory */
    uint64_t size_bytes; /* whole file */
    uint64_t checksum;   /* XXH3-64 of the whole file but its last 8 bytes (the trailer's) */
};

/* Called on the io thread. file_done once per submitted (or aborted) file, status 0 when
 * it is durable (written, fsynced); done once when the checkpoint is settled: complete
 * (status 0) or failed (negative errno) with its directory removed. A callback may call
 * weir_ckpt_commit, weir_ckpt_abort and weir_ckpt_error, nothing that waits. */
struct weir_ckpt_callbacks {
    void (*file_done)(void *arg, weir_ckpt *ck, const struct weir_ckpt_file_info *fi, int status);
    void (*done)(void *arg, weir_ckpt *ck, int status);
    void *arg;
};

/* Starts checkpoint id (> 0) in <job dir>/chk-<id>; the directory is made by the io thread.
 * cb may be NULL (poll weir_ckpt_state or weir_ckpt_wait instead). A leftover directory of
 * that id without a valid _metadata is removed first. Returns 0, -EINVAL (id 0), -EEXIST
 * (a retained or running checkpoint has that id), -EIO (storage broken), -ENOMEM. */
int weir_ckpt_begin(weir_storage *s, uint64_t id, const struct weir_ckpt_callbacks *cb,
                    weir_ckpt **out);

/* The same, for a savepoint at path: a directory that must not exist or be empty; its
 * parent is created if missing. Retention never touches it, and it is self-contained
 * (shared files are copied into it), so it can be moved. id is recorded in _metadata. */
int weir_savepoint_begin(weir_storage *s, const char *path, uint64_t id,
                         const struct weir_ckpt_callbacks *cb, weir_ckpt **out);

uint64_t weir_ckpt_id(const weir_ckpt *ck);
/* "chk-7/", or the savepoint path, for messages. */
const char *weir_ckpt_dir(const weir_ckpt *ck);
enum weir_ckpt_state weir_ckpt_state(const weir_ckpt *ck);
const char *weir_ckpt_state_str(enum weir_ckpt_state st);
/* The sticky error: 0 or a negative errno. */
int weir_ckpt_status(const weir_ckpt *ck);
/* One line for a person, "" while there is no error, e.g.
 * "state.checkpoints.dir: /data/ckpt/job/chk-8/window-3: write: No space left on device". */
const char *weir_ckpt_error(const weir_ckpt *ck);

/* Counts for a coordinator that polls instead of taking callbacks. */
struct weir_ckpt_progress {
    enum weir_ckpt_state state;
    int status;             /* sticky error */
    unsigned files_opened;  /* weir_ckpt_file_open calls that succeeded */
    unsigned files_durable; /* written and fsynced */
    uint64_t bytes_durable; /* their sizes */
    /* bytes of the shared files this checkpoint put into shared/ (not those it only holds
     * again): with bytes_durable, what it stored */
    uint64_t bytes_shared_new;
    bool settled; /* as weir_ckpt_wait: done() and the clean-up after it ran */
};
void weir_ckpt_progress_get(const weir_ckpt *ck, struct weir_ckpt_progress *p);

/* Waits until the checkpoint is settled: done() has run and so has the clean-up after it
 * (retention after a completion; the directory and shared files of a failure removed).
 * Returns its status: 0 when complete, the sticky error when failed, -ETIMEDOUT after
 * timeout_ms (< 0: no limit). For the control thread and tests; never for a worker. */
int weir_ckpt_wait(weir_ckpt *ck, int64_t timeout_ms);

/* Fails the checkpoint with err (negative errno, e.g. -ETIMEDOUT for
 * execution.checkpointing.timeout) unless its _metadata is already being written. Files
 * still being written get err back from their next call. Returns 0, or -EALREADY when the
 * checkpoint is complete, failed, or past the point where it can be stopped. */
int weir_ckpt_abort(weir_ckpt *ck, int err);

/* Drops the caller's handle. A checkpoint that is not settled goes on (files being written
 * hold it) unless aborted. NULL is a no-op. */
void weir_ckpt_release(weir_ckpt *ck);

/* --- state files (a worker) ---------------------------------------------------------- */

/* Opens a state file: name is one path component of at most 200 bytes, not starting with
 * '.' or '_' (reserved for _metadata and temporaries), unique within the checkpoint. No
 * disk access: the io thread creates the file when the first buffer reaches it. Takes one
 * pool buffer (the header goes in it). Returns 0, -EINVAL (name), -EEXIST (name already
 * opened in this checkpoint), the checkpoint's sticky error, or -EBUSY after commit. */
int weir_ckpt_file_open(weir_ckpt *ck, const char *name, weir_ckpt_file **out);

/* A file name for (operator uid, subtask) that is always valid: the uid with characters
 * other than [A-Za-z0-9.-] turned into '-', followed by a hash of the uid when that changed
 * anything (so "a/b" and "a-b" differ), then "-<subtask>". Returns 0 or -ENOSPC. */
int weir_ckpt_file_name(char *buf, size_t len, const char *operator_uid, int subtask);

/* Starts a section (tag: e.g. a key group) at the current position; the previous section,
 * if any, ends here. Bytes written before the first section belong to no section. */
int weir_ckpt_file_section_begin(weir_ckpt_file *f, uint64_t tag);

/* Zero-copy pair: *p gets the free part of the current buffer (*avail >= 1 bytes), to be
 * filled and then committed with weir_ckpt_file_commit(f, n), n <= *avail. A full buffer is
 * handed to the io thread; the next reserve takes a fresh one from the pool (the only
 * place a worker can wait: when the pool is exhausted). Both return 0 or the sticky error. */
int weir_ckpt_file_reserve(weir_ckpt_file *f, void **p, size_t *avail);
int weir_ckpt_file_commit(weir_ckpt_file *f, size_t n);

/* Copies len bytes into the file (reserve, memcpy, commit). */
int weir_ckpt_file_write(weir_ckpt_file *f, const void *buf, size_t len);

/* The file as the rio-like sink that state backends write snapshots to. */
struct weir_snapshot_out *weir_ckpt_file_out(weir_ckpt_file *f);

/* Bytes written so far (header included, footer not). */
uint64_t weir_ckpt_file_tell(const weir_ckpt_file *f);

/* Ends the file: the last buffer and the section index go to the io thread, which writes
 * the footer and the trailer, fsyncs and calls file_done. f belongs to the storage from
 * here on, whatever is returned: 0, or the sticky error (the file will not be written). */
int weir_ckpt_file_submit(weir_ckpt_file *f);

/* Gives the file up (the subtask's snapshot failed): fails the checkpoint with err
 * (a negative errno) and frees f. */
void weir_ckpt_file_abort(weir_ckpt_file *f, int err);
/* The same, with the reason the checkpoint's error gives (one line) instead of strerror. */
void weir_ckpt_file_abort_why(weir_ckpt_file *f, int err, const char *why);

/* --- shared files (incremental RocksDB checkpoints) ---------------------------------- */

/* Adds the file at src_path as shared file name (one path component, as for state files).
 * On the io thread: hard-linked into <job>/shared/name (copied when the link is refused,
 * e.g. across filesystems), fsynced and checksummed. A name already held for a retained or
 * running checkpoint is not copied again. For a savepoint the file is copied into the
 * savepoint directory. src_path must stay until the checkpoint is settled. Call it before
 * submitting the subtask's state file, so that its ack (file_done) means the add is queued
 * ahead of any commit. List the name in meta.shared at commit: a shared file is deleted
 * once no retained checkpoint's _metadata lists it and no running one holds it. A writer
 * whose file is still open may add after weir_ckpt_commit (which waits for that file).
 * Returns 0, -EINVAL, the sticky error, -EBUSY once the checkpoint is complete. */
int weir_ckpt_shared_add(weir_ckpt *ck, const char *src_path, const char *name);

/* How many retained checkpoints list name, plus one per running checkpoint holding it;
 * 0 when the storage does not have it. For tests and the REST API. */
unsigned weir_storage_shared_refs(weir_storage *s, const char *name);

/* --- _metadata ----------------------------------------------------------------------- */

#define WEIR_KG_NONE UINT32_MAX /* kg_first = kg_last = WEIR_KG_NONE: not keyed */

/* One (operator, subtask) of the checkpoint. */
struct weir_ckpt_entry {
    const char *operator_uid;
    uint32_t subtask, parallelism;
    uint32_t kg_first, kg_last; /* key groups [kg_first, kg_last] of max_parallelism */
    uint32_t backend;           /* what wrote the keyed state, the runtime's code; 0: none */
    const char *file;           /* state file in the checkpoint directory; NULL or "": none */
    uint64_t size_bytes;        /* of file; at commit, 0 = fill in what the io thread wrote */
    uint64_t checksum;          /* of file; at commit, 0 = fill in (else it must match) */
    const void *blob;           /* opaque (source position, operator state); may be NULL */
    uint32_t blob_len;
};

/* A shared file the checkpoint needs (in <job>/shared/, or the savepoint directory). */
struct weir_ckpt_shared {
    const char *name;
    uint64_t size_bytes; /* at commit, 0 = fill in from the storage */
    uint64_t checksum;   /* XXH3-64 of the whole file; at commit, 0 = fill in */
};

struct weir_ckpt_meta {
    uint64_t checkpoint_id; /* at commit: ignored, the checkpoint's id is written */
    int64_t timestamp_ms;   /* wall clock; at commit, 0 = now */
    const char *job;        /* at commit: ignored, the storage's job is written */
    uint32_t max_parallelism;
    bool savepoint; /* at commit: ignored */
    size_t entry_count;
    const struct weir_ckpt_entry *entries;
    size_t shared_count;
    const struct weir_ckpt_shared *shared;
};

/* Asks the io thread to commit: once every opened file is durable, it checks meta against
 * what was written (every entry's file written by this checkpoint, sizes and checksums,
 * every shared name held), writes _metadata.tmp, fsyncs it, renames it to _metadata and
 * fsyncs the directory (whose entry in its parent was fsynced when it was made): the
 * checkpoint is then complete, done() runs, then retention. meta is copied; the call never blocks.
 * Returns 0, the sticky error, -EBUSY (already committing), -EINVAL (an entry that cannot be
 * written), -ENOMEM. */
int weir_ckpt_commit(weir_ckpt *ck, const struct weir_ckpt_meta *meta);

/* --- reading back -------------------------------------------------------------------- */

/* Skip reading every byte of every file: check headers, sizes and trailers against
 * _metadata only; block checksums are still checked as sections are read. */
#define WEIR_RESTORE_QUICK 0x1u

/* The newest retained checkpoint that is complete and valid: _metadata present, parsed,
 * checksums right, every file it lists present with the size and checksum it records
 * (unless WEIR_RESTORE_QUICK). Newer ones that fail are logged ("checkpoint chk-7 is
 * corrupt (...): using chk-6", "... is incomplete (no _metadata): ...") and no longer count
 * as retained. Returns 0 and *out, -ENOENT when no checkpoint ever completed (none, or only
 * directories without _metadata: start from scratch), -EBADMSG when some completed but none
 * is valid any more, -ENOMEM. Not while checkpoints are being written. */
int weir_restore_open_latest(weir_storage *s, unsigned flags, weir_restore **out);

/* A savepoint (or any checkpoint directory) at path, validated the same way. Returns 0 or
 * a negative errno with one line in err that starts with the path, "/x: ...": the caller
 * adds what asked for it (chk_restore: "--from-checkpoint /x: ..."). */
int weir_restore_open_dir(const char *path, unsigned flags, weir_restore **out, char *err,
                          size_t errlen);

/* weir_restore_open_dir, or for a path s3://bucket/key (a checkpoint
 * s3://bucket/prefix/<job>/chk-N or a savepoint s3://bucket/prefix/savepoint-...): first
 * downloaded (s3.*) into <state.backend.local-recovery.dir, else the default of
 * state.checkpoints.dir>/s3-restore/<bucket>/<key> (emptied first), a checkpoint's shared
 * files into ../shared beside it. A missing or damaged one fails with one line that starts
 * with path; never another checkpoint instead. */
int weir_restore_open_config(const struct weir_config *cfg, const char *path, unsigned flags,
                             weir_restore **out, char *err, size_t errlen);

/* Everything _metadata holds; valid until weir_restore_close. */
const struct weir_ckpt_meta *weir_restore_meta(const weir_restore *r);
/* The checkpoint directory ("<job dir>/chk-6", or the savepoint path). */
const char *weir_restore_dir(const weir_restore *r);

/* Where the shared file name is, to link or copy it into a RocksDB instance. Returns 0,
 * -ENOENT when _metadata does not list name, -ENOSPC when buf is too short. */
int weir_restore_shared_path(const weir_restore *r, const char *name, char *buf, size_t len);

/* Opens a state file that _metadata lists. Returns 0, -ENOENT, -EBADMSG (bad header or
 * trailer), -ENOMEM, or an errno of open/read. */
int weir_restore_file_open(weir_restore *r, const char *name, weir_restore_file **out);
size_t weir_restore_file_section_count(const weir_restore_file *f);
/* Section i's tag and length. Returns 0 or -ERANGE. */
int weir_restore_file_section(const weir_restore_file *f, size_t i, uint64_t *tag,
                              uint64_t *len_bytes);
/* The index of the first section with tag; -ENOENT when none. */
int weir_restore_file_find(const weir_restore_file *f, uint64_t tag, size_t *i);
/* A reader of section i's bytes, as weir_keyed_backend_restore_key_group takes: exactly
 * len bytes or -ENODATA at the section's end, -EIO past it, -EBADMSG when a block's
 * checksum does not match. Valid until the next call of this function or close. A file
 * that the validation verified whole (not WEIR_RESTORE_QUICK) is read from the map that
 * validation made, without reading or hashing it again; it is unmapped at
 * weir_restore_close. Files of one weir_restore may be opened and read on several threads
 * at once, each weir_restore_file on one thread. */
struct weir_snapshot_in *weir_restore_file_section_in(weir_restore_file *f, size_t i);
void weir_restore_file_close(weir_restore_file *f); /* NULL is a no-op */

void weir_restore_close(weir_restore *r); /* NULL is a no-op */

/* --- statistics --------------------------------------------------------------------- */

struct weir_storage_stats {
    uint64_t bytes_written;         /* by io_uring writes, padding included */
    uint64_t files_written;         /* durable state files */
    uint64_t checkpoints_completed; /* and savepoints */
    uint64_t checkpoints_failed;
    uint64_t buffers_allocated; /* pool buffers that exist now */
    uint64_t buffers_in_use;    /* held by workers or the io thread */
    uint64_t pool_waits;        /* times a worker waited for a buffer */
    uint64_t pool_wait_ns;      /* time workers spent waiting for buffers */
    bool direct_io;             /* O_DIRECT in use (false: off, or refused) */
};
void weir_storage_stats_get(weir_storage *s, struct weir_storage_stats *st);

#ifdef __cplusplus
}
#endif
#endif
