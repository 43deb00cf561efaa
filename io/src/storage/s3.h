/*
 * @internal An S3 client for checkpoint storage: objects in one bucket of an S3-compatible
 * store (AWS, MinIO, S3Proxy, Ceph RGW), path-style URLs (<endpoint>/<bucket>/<key>), signed
 * by libcurl's AWS SigV4 (CURLOPT_AWS_SIGV4) rather than by hand. What curl leaves to us: the
 * x-amz-content-sha256 header (the body's SHA-256, which S3 checks), a query string already
 * sorted and upper-case-percent-encoded (`uploads=`, not `uploads`), and no form content type
 * on POST.
 *
 *     struct weir_s3 *s3;
 *     if (weir_s3_open(&(struct weir_s3_config){.endpoint = "http://127.0.0.1:9000",
 *                                                .bucket = "ckpt"}, &s3, err, sizeof err))
 *         return -1;                        // err: one line, names the s3.* key to change
 *     int rc = weir_s3_put_if_absent(s3, "job/chk-3/_metadata", buf, len);
 *     if (rc == -EEXIST) ...                // another writer got there first (HTTP 412)
 *     else if (rc) fprintf(stderr, "%s\n", weir_s3_error(s3));
 *     weir_s3_close(s3);
 *
 * Credentials, first found: the config's, AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY /
 * AWS_SESSION_TOKEN, then the shared credentials file (AWS_SHARED_CREDENTIALS_FILE, else
 * ~/.aws/credentials), profile AWS_PROFILE (else "default"). Region: the config's, AWS_REGION,
 * AWS_DEFAULT_REGION, else us-east-1 (s3.region). Endpoint (s3.endpoint): the config's, else
 * https://s3.<region>.amazonaws.com.
 *
 * A handle is one connection (kept alive between requests) and is used by one thread at a
 * time. Every operation returns 0 or a negative errno: -ENOENT (404), -EACCES (403, a wrong
 * key or secret among them), -EEXIST (412 on a conditional PUT), -EIO for any other failure;
 * weir_s3_error() then holds one line: the operation, s3://bucket/key, the HTTP status and
 * S3's <Code> and <Message>, or curl's reason when no answer came.
 *
 * Retries (s3.c: s3_do): a request that fails transiently (no answer: connection refused,
 * reset or cut short, a timeout; HTTP 429, 500, 502, 503, 504; SlowDown or InternalError,
 * also in a 200 of CompleteMultipartUpload) is sent again, up to s3.retry.max-attempts (5)
 * attempts in all, after s3.retry.initial-backoff (100 ms) doubled at each attempt (at most
 * 10 s), of which a random half to all is waited (jitter). Any other 4xx is final at once.
 * A failure after retries ends its line with "; N attempts (s3.retry.max-attempts)". Every
 * request is safe to send twice: a PUT or a multipart part (under its number) puts the same
 * bytes again, a GET into a file starts the file again from where it started, a DELETE of a
 * deleted key succeeds; a conditional PUT whose 412 meets an object with its own bytes was
 * its own earlier attempt (the answer lost) and succeeds. A retry of a multipart create that
 * had reached the store leaves that upload behind (a bucket lifecycle rule that aborts
 * incomplete uploads takes it).
 *
 * Not yet: virtual-hosted-style URLs (s3.path.style.access: false is refused). A multipart
 * part is one buffer in memory; weir_s3_get_file streams a download into a file.
 *
 * In checkpoint storage (state.checkpoints.dir: s3://bucket/prefix; remote.c, remote_sync.c):
 *  - storage.c opens the storage: remote_new parses the URL and opens the handle, and the
 *    storage's root becomes a local copy, <state.backend.local-recovery.dir, else the default
 *    of state.checkpoints.dir>/s3/<bucket>/<prefix>. The rest of the storage (writer, io
 *    thread, scan, restore, local retention) works on that directory as on any other.
 *  - At open, remote_sync lists <prefix>/<job>/ (a wrong key or secret fails here, before the
 *    job starts, in one line naming s3.access-key or s3.secret-key), counts every remote
 *    chk-N for the next id, deletes local checkpoints the store does not hold complete, and
 *    for the newest num-retained remote complete ones keeps the local copy when
 *    state.backend.local-recovery is on and it matches (the same _metadata bytes, every
 *    file's size and checksum), else downloads it (files, missing shared files, _metadata
 *    last). It logs which. A restore (latest or the newest) then reads local disk.
 *  - State files are written and fsynced locally as before; writer.c then queues each one to
 *    the uploader thread (remote.c), which owns the handle (this client blocks; the io
 *    thread's io_uring loop never waits on the network): one PUT up to 8 MiB, else multipart
 *    (an aborted multipart upload aborted on the server). commit.c, once every file is
 *    durable and the metadata checked and encoded, queues the rest: the shared files the
 *    store does not hold yet (uploaded once per name: a shared file never changes under its
 *    name, whoever added it), then _metadata with weir_s3_put_if_absent. The outcome comes
 *    back through the io thread's queue (REQ_UPLOADED), so the checkpoint state machine stays
 *    on the io thread: the checkpoint is complete when that PUT returned and the local
 *    _metadata has followed it. A failed upload fails that checkpoint, not the storage; a
 *    second writer of the same chk-N gets -EEXIST and its checkpoint fails.
 *    Each state file is queued for upload as soon as it is durable (writer.c), so uploads
 *    overlap the other subtasks' writing; the commit's job, behind them in the uploader's one
 *    FIFO, only checks their outcome. A checkpoint the store holds damaged (an object gone)
 *    is skipped at open for the one before.
 *  - retention.c, after local retention, queues a retention job behind the uploads: it lists
 *    <prefix>/<job>/ and deletes the checkpoints below the new one that are not kept
 *    (_metadata first, so that a half-deleted checkpoint is never taken for a complete one)
 *    and the shared objects that no retained or running checkpoint lists.
 *  - The local copy is kept under retention whether or not local recovery is on: without it,
 *    a restore never trusts it and downloads.
 *  - Savepoints (state.savepoints.dir: s3://bucket/prefix, in the bucket of
 *    state.checkpoints.dir; the kill -USR1 savepoint's path is <that>/savepoint-<job>-<id>):
 *    written as a local savepoint into a staging directory, <job dir of the local
 *    copy>/savepoints-upload/savepoint-<job>-<id>, self-contained (its own copies of the
 *    shared files); at commit the uploader puts every file of it under
 *    <prefix>/savepoint-<job>-<id>/ and then its _metadata with weir_s3_put_if_absent (an
 *    existing one is never overwritten). Complete then; the staging copy is deleted. A failed
 *    one has what went up deleted (DISCARD). Retention lists <prefix>/<job>/ only and never
 *    touches a savepoint; a person deletes it. Staging left by a stopped run is emptied at
 *    open. Savepoints to another bucket, or to s3:// with local checkpoints, are refused at
 *    open in one line (state.savepoints.dir).
 *  - A named remote checkpoint or savepoint (--from-checkpoint s3://bucket/prefix/<job>/chk-N
 *    or s3://.../savepoint-...; remote_restore.c, weir_restore_open_config): _metadata, the
 *    state files and the shared files are downloaded into <state.backend.local-recovery.dir,
 *    else the default of state.checkpoints.dir>/s3-restore/<bucket>/<key> (a checkpoint's
 *    shared files into ../shared beside it), _metadata put last, and the directory is
 *    restored as a local one, validated in full. Missing or damaged: the run fails in one
 *    line that names the URL, never falling back to another checkpoint.
 *  - Not yet: a second writer's state files can be overwritten before its _metadata race is
 *    lost (the chk-N ids from the listing at open make that a two-live-writers case).
 */
#ifndef WEIR_S3_H
#define WEIR_S3_H

#include <stddef.h>
#include <stdint.h>

struct weir_s3_config {
    const char *endpoint; /* s3.endpoint: http[s]://host[:port], no bucket; NULL for AWS */
    const char *region;   /* NULL: AWS_REGION, AWS_DEFAULT_REGION, us-east-1 */
    const char *bucket;   /* required */
    const char *access_key, *secret_key, *session_token; /* NULL: environment, then file */
    int retry_max_attempts;                              /* s3.retry.max-attempts; 0: 5 */
    int64_t retry_initial_backoff_ms;                    /* s3.retry.initial-backoff; 0: 100 */
};

struct weir_s3;

/* Resolves region, endpoint and credentials; sends nothing. On failure *out is NULL and err
 * holds one line naming what is missing and where it is set. */
int weir_s3_open(const struct weir_s3_config *cfg, struct weir_s3 **out, char *err, size_t errlen);
void weir_s3_close(struct weir_s3 *s3); /* NULL is a no-op */
/* The last failed operation's line ("" when none failed). */
const char *weir_s3_error(const struct weir_s3 *s3);

int weir_s3_put(struct weir_s3 *s3, const char *key, const void *data, size_t len);
/* PUT with If-None-Match: *: -EEXIST when the key already exists with other bytes; the
 * same bytes count as ours (a retried PUT whose first answer was lost) and give 0. */
int weir_s3_put_if_absent(struct weir_s3 *s3, const char *key, const void *data, size_t len);
/* The whole object into *data (malloc'ed, the caller frees; *len bytes). */
int weir_s3_get(struct weir_s3 *s3, const char *key, uint8_t **data, size_t *len);
/* The whole object written to fd from its current offset as it arrives (never held whole in
 * memory); *len gets its size. On failure fd may hold part of it, never S3's error document. */
int weir_s3_get_file(struct weir_s3 *s3, const char *key, int fd, uint64_t *len);
/* Deleting a key that does not exist succeeds, as S3 answers 204 either way. */
int weir_s3_delete(struct weir_s3 *s3, const char *key);

/* Uploads the file at path to key: one PUT when it is at most part_bytes, else a multipart
 * upload of part_bytes parts (S3 wants >= 5 MiB but the last), read one part at a time. */
int weir_s3_put_file(struct weir_s3 *s3, const char *key, const char *path, size_t part_bytes);

/* A multipart upload: _begin, then _part for parts 1, 2, ... in order (every part but the
 * last at least 5 MiB on AWS), then _commit or _abort; both end the upload and free it, and a
 * failed _commit aborts it on the server so that no parts are left behind. */
struct weir_s3_upload;
int weir_s3_upload_begin(struct weir_s3 *s3, const char *key, struct weir_s3_upload **out);
int weir_s3_upload_part(struct weir_s3_upload *up, const void *data, size_t len);
int weir_s3_upload_commit(struct weir_s3_upload *up);
int weir_s3_upload_abort(struct weir_s3_upload *up); /* NULL is a no-op */

/* One page of ListObjectsV2 under prefix, from token (NULL for the first page), at most
 * max_keys (0: the server's default, 1000 on AWS). next_token is NULL on the last page. */
struct weir_s3_list {
    char **keys;
    uint64_t *sizes;
    size_t n;
    char *next_token;
};
int weir_s3_list(struct weir_s3 *s3, const char *prefix, const char *token, int max_keys,
                 struct weir_s3_list *out);
void weir_s3_list_free(struct weir_s3_list *l);

/* For s3_file.c: the bucket, and setting the error line (from fmt; rc is returned). */
const char *weir_s3_bucket(const struct weir_s3 *s3);
int weir_s3_fail(struct weir_s3 *s3, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* For s3.c, from s3_creds.c: an environment variable, NULL when unset or empty; the
 * credentials, first found (the top), into *akp, *skp, *stp (malloc'ed; *stp may be NULL). */
const char *s3_env(const char *name);
int s3_creds_resolve(const struct weir_s3_config *cfg, char **akp, char **skp, char **stp,
                     char *err, size_t errlen);
/* For s3.c, from s3_file.c: all of p to fd; 0 or an errno (positive). */
int s3_write_all(int fd, const void *p, size_t len);

#endif
