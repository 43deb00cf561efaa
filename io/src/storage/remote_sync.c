/*
 * Checkpoint storage on S3 at open: parse state.checkpoints.dir s3://bucket/prefix, open the
 * store (a wrong key or secret is found here, before the job starts), and make the local
 * copy hold what the store holds, so that the rest of the storage (scan, restore, retention)
 * reads a local directory as it always does.
 *
 * For each of the newest num-retained checkpoints complete in the store (its _metadata is
 * there): with state.backend.local-recovery, a local copy whose _metadata has the same bytes
 * and whose every file has the size and checksum _metadata records is used as it is ("local
 * copy matches"); otherwise (a new host, a lost or damaged file, local recovery off) the
 * local directory is replaced by a download of the checkpoint: state files, the shared
 * files the copy lacks, then _metadata. Local checkpoints the store does not hold complete
 * are deleted: they never completed (the remote _metadata is what makes one complete).
 * Every remote chk-N, complete or not, counts for the next checkpoint id.
 */
#include "remote.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* s3://bucket[/prefix]: bucket and prefix (no slashes at either end). */
static int parse_url(const char *dir, char **bucket, char **prefix, char *err, size_t errlen)
{
    const char *b = dir + 5, *slash = strchr(b, '/');
    size_t lb = slash ? (size_t)(slash - b) : strlen(b);
    const char *p = slash ? slash + 1 : "";
    size_t lp = strlen(p);
    while (lp && p[lp - 1] == '/')
        lp--;
    if (lb == 0 || lb > 63 || strspn(b, "abcdefghijklmnopqrstuvwxyz0123456789.-") < lb ||
        strstr(p, "//") || strstr(p, "..")) {
        errbuf_printf(err, errlen,
                      "state.checkpoints.dir: %s: expected s3://bucket/prefix (a bucket name "
                      "of lower-case letters, digits, '.' and '-')",
                      dir);
        return -EINVAL;
    }
    *bucket = strndup(b, lb);
    *prefix = strndup(p, lp);
    return *bucket && *prefix ? 0 : -ENOMEM;
}

int remote_new(struct weir_storage *s, const struct weir_storage_opts *o, char *err, size_t errlen)
{
    char *bucket = NULL, *prefix = NULL, base[4096];
    int rc = parse_url(o->dir, &bucket, &prefix, err, errlen);
    struct remote *r = calloc(1, sizeof *r);
    if (rc == 0 && !r)
        rc = -ENOMEM;
    if (rc < 0)
        goto out;
    s->remote = r;
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->cond, NULL);
    atomic_init(&r->cancel, false);
    r->bucket = bucket;
    bucket = NULL;
    r->local_recovery = o->local_recovery;
    r->part_bytes = REMOTE_PART_BYTES;
    size_t lk = strlen(prefix) + strlen(o->job) + 2, lu = strlen(o->dir) + 1;
    if (!(r->key_job = malloc(lk)) || !(r->url = malloc(lu))) {
        rc = -ENOMEM;
        goto out;
    }
    snprintf(r->key_job, lk, "%s%s%s", prefix, *prefix ? "/" : "", o->job);
    snprintf(r->url, lu, "s3://%s%s%s", r->bucket, *prefix ? "/" : "", prefix);
    const char *lr = o->local_dir;
    if ((!lr || !*lr) && privdir_default("state.checkpoints.dir", base, sizeof base) == 0)
        lr = base;
    size_t ln = strlen(lr) + strlen(r->bucket) + strlen(prefix) + 8;
    if (!(s->root = malloc(ln))) {
        rc = -ENOMEM;
        goto out;
    }
    snprintf(s->root, ln, "%s/s3/%s%s%s", lr, r->bucket, *prefix ? "/" : "", prefix);
    char why[768];
    rc = weir_s3_open(
        &(struct weir_s3_config){
            .endpoint = o->s3_endpoint && *o->s3_endpoint ? o->s3_endpoint : NULL,
            .region = o->s3_region && *o->s3_region ? o->s3_region : NULL,
            .bucket = r->bucket,
            .access_key = o->s3_access_key && *o->s3_access_key ? o->s3_access_key : NULL,
            .secret_key = o->s3_secret_key && *o->s3_secret_key ? o->s3_secret_key : NULL,
            .retry_max_attempts = o->s3_retry_max_attempts,
            .retry_initial_backoff_ms = o->s3_retry_initial_backoff_ms},
        &r->s3, why, sizeof why);
    if (rc < 0)
        errbuf_printf(err, errlen, "state.checkpoints.dir: %s: %s", o->dir, why);
out:
    if (rc == -ENOMEM)
        errbuf_printf(err, errlen, "checkpoint storage: out of memory");
    free(bucket);
    free(prefix);
    return rc;
}

int remote_list_all(struct remote *r, char ***keys, uint64_t **sizes, size_t *n)
{
    char pre[1024], *token = NULL;
    size_t cap = 0;
    int rc = 0;
    *keys = NULL;
    *n = 0;
    if (sizes)
        *sizes = NULL;
    remote_key(r, pre, sizeof pre, "/");
    do {
        struct weir_s3_list l = {0};
        rc = weir_s3_list(r->s3, pre, token, 0, &l);
        free(token);
        token = NULL;
        if (rc < 0)
            break;
        if (*n + l.n > cap) {
            cap = 2 * (*n + l.n) + 16;
            char **nk = realloc(*keys, cap * sizeof *nk);
            uint64_t *ns = sizes ? realloc(*sizes, cap * sizeof *ns) : NULL;
            if (nk)
                *keys = nk;
            if (ns)
                *sizes = ns;
            if (!nk || (sizes && !ns))
                rc = weir_s3_fail(r->s3, -ENOMEM, "S3 list: out of memory");
        }
        for (size_t i = 0; i < l.n && rc == 0; i++) {
            if (sizes)
                (*sizes)[*n] = l.sizes[i];
            (*keys)[(*n)++] = l.keys[i];
            l.keys[i] = NULL;
        }
        token = l.next_token;
        l.next_token = NULL;
        weir_s3_list_free(&l);
    } while (rc == 0 && token);
    free(token);
    if (rc < 0) {
        for (size_t i = 0; i < *n; i++)
            free((*keys)[i]);
        free(*keys);
        *keys = NULL;
        *n = 0;
        if (sizes) {
            free(*sizes);
            *sizes = NULL;
        }
    }
    return rc;
}

/* The line for a store that refused us: which key to change. */
static int refused(struct weir_storage *s, int rc, char *err, size_t errlen)
{
    const char *e = weir_s3_error(s->remote->s3);
    if (rc == -EACCES && strstr(e, "SignatureDoesNotMatch"))
        errbuf_printf(err, errlen,
                      "s3.secret-key: the store refused the signature (SignatureDoesNotMatch): "
                      "the secret key (s3.secret-key, else AWS_SECRET_ACCESS_KEY) is not the "
                      "one of the access key: %s",
                      e);
    else if (rc == -EACCES && strstr(e, "InvalidAccessKeyId"))
        errbuf_printf(err, errlen,
                      "s3.access-key: the store does not know the access key "
                      "(InvalidAccessKeyId; s3.access-key, else AWS_ACCESS_KEY_ID): %s",
                      e);
    else if (rc == -EACCES)
        errbuf_printf(err, errlen,
                      "state.checkpoints.dir: %s: access denied (check s3.access-key, "
                      "s3.secret-key and the bucket's policy): %s",
                      s->remote->url, e);
    else
        errbuf_printf(err, errlen, "state.checkpoints.dir: %s: %s (s3.endpoint: the store)",
                      s->remote->url, e);
    return rc;
}

static int write_all(int dirfd, const char *name, const uint8_t *p, size_t len, mode_t mode)
{
    int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    int rc = fchmod(fd, mode) < 0 ? -errno : 0;
    while (rc == 0 && len) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = n < 0 ? -errno : -EIO;
            break;
        }
        p += n;
        len -= (size_t)n;
    }
    if (rc == 0 && fsync(fd) < 0)
        rc = -errno;
    close(fd);
    return rc;
}

/* GET key into name in dirfd, streamed to the file (never whole in memory), fsynced. */
static int download(struct weir_storage *s, const char *key, int dirfd, const char *name,
                    uint64_t *bytes)
{
    struct weir_s3 *s3 = s->remote->s3;
    int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0 || fchmod(fd, s->file_mode) < 0) {
        int rc = -errno;
        if (fd >= 0)
            close(fd);
        return weir_s3_fail(s3, rc, "%s/%s: %s", s->job_dir, name, strerror(-rc));
    }
    uint64_t len = 0;
    int rc = weir_s3_get_file(s3, key, fd, &len);
    if (rc == 0 && fsync(fd) < 0)
        rc = weir_s3_fail(s3, -errno, "%s/%s: fsync: %s", s->job_dir, name, strerror(errno));
    close(fd);
    if (rc == 0)
        *bytes += len;
    return rc;
}

/* A local shared file that matches what m records is kept; others are downloaded. */
static int download_shared(struct weir_storage *s, const struct weir_ckpt_shared *x,
                           uint64_t *bytes)
{
    int fd = openat(s->shared_fd, x->name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0) {
        uint64_t size = 0, sum = 0;
        int rc = fmt_hash_fd(fd, &size, &sum);
        close(fd);
        if (rc == 0 && size == x->size_bytes && sum == x->checksum)
            return 0;
    }
    char key[1024], tmp[256];
    remote_key(s->remote, key, sizeof key, "/shared/%s", x->name);
    snprintf(tmp, sizeof tmp, ".%s.download", x->name);
    int rc = download(s, key, s->shared_fd, tmp, bytes);
    if (rc == 0 && renameat(s->shared_fd, tmp, s->shared_fd, x->name) < 0)
        rc = weir_s3_fail(s->remote->s3, -errno, "%s/%s: rename: %s", s->shared_dir, x->name,
                          strerror(errno));
    return rc;
}

/* chk-id from the store into the local copy (replacing what is there); meta: its bytes. */
static int download_ck(struct weir_storage *s, uint64_t id, const uint8_t *meta, size_t mlen,
                       uint64_t *bytes)
{
    char name[32], key[1024], why[256];
    snprintf(name, sizeof name, "chk-%" PRIu64, id);
    privdir_rm_tree_at(s->job_fd, name);
    if (mkdirat(s->job_fd, name, s->dir_mode) < 0)
        return weir_s3_fail(s->remote->s3, -errno, "%s/%s: mkdir: %s", s->job_dir, name,
                            strerror(errno));
    int dirfd = openat(s->job_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dirfd < 0)
        return weir_s3_fail(s->remote->s3, -errno, "%s/%s: %s", s->job_dir, name, strerror(errno));
    struct meta_owned *mo = NULL;
    int rc = write_all(dirfd, "_metadata.download", meta, mlen, s->file_mode);
    if (rc == 0 && (rc = read_metadata_named(dirfd, "_metadata.download", &mo, why, sizeof why)))
        weir_s3_fail(s->remote->s3, rc, "s3://%s/%s/%s/_metadata: %s", s->remote->bucket,
                     s->remote->key_job, name, why);
    for (size_t i = 0; mo && rc == 0 && i < mo->meta.entry_count; i++) {
        const char *f = mo->meta.entries[i].file;
        if (!f || !*f || faccessat(dirfd, f, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
            continue; /* none, or listed twice */
        remote_key(s->remote, key, sizeof key, "/%s/%s", name, f);
        rc = download(s, key, dirfd, f, bytes);
    }
    for (size_t i = 0; mo && rc == 0 && i < mo->meta.shared_count; i++)
        rc = download_shared(s, &mo->meta.shared[i], bytes);
    if (rc == 0 && (renameat(dirfd, "_metadata.download", dirfd, "_metadata") < 0 ||
                    fsync(dirfd) < 0 || fsync(s->job_fd) < 0))
        rc = weir_s3_fail(s->remote->s3, -errno, "%s/%s/_metadata: %s", s->job_dir, name,
                          strerror(errno));
    free(mo);
    close(dirfd);
    if (rc < 0)
        privdir_rm_tree_at(s->job_fd, name);
    return rc;
}

/* Whether the local chk-id is the remote one: "" when it matches, else why not. */
static void local_match(struct weir_storage *s, uint64_t id, const uint8_t *meta, size_t mlen,
                        char *why, size_t whylen)
{
    char name[32];
    snprintf(name, sizeof name, "chk-%" PRIu64, id);
    int dirfd = openat(s->job_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dirfd < 0) {
        snprintf(why, whylen, "no local copy");
        return;
    }
    int fd = openat(dirfd, "_metadata", O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    uint8_t *buf = NULL;
    bool same = fd >= 0 && fstat(fd, &st) == 0 && (size_t)st.st_size == mlen &&
                (buf = malloc(mlen ? mlen : 1)) && pread(fd, buf, mlen, 0) == (ssize_t)mlen &&
                memcmp(buf, meta, mlen) == 0;
    free(buf);
    if (fd >= 0)
        close(fd);
    struct meta_owned *mo = NULL;
    if (!same) {
        snprintf(why, whylen, "its _metadata %s", fd < 0 ? "is missing" : "differs");
    } else if (read_metadata(dirfd, &mo, why, whylen) == 0) {
        char w[300];
        if (validate_ckpt(dirfd, s->shared_fd, &mo->meta, 0, w, sizeof w) < 0)
            snprintf(why, whylen, "%s", w);
        else
            why[0] = '\0';
    }
    free(mo);
    close(dirfd);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* One complete remote checkpoint into the local copy: kept when it matches, else fetched. */
static int sync_one(struct weir_storage *s, uint64_t id, char *err, size_t errlen)
{
    struct remote *r = s->remote;
    char key[1024], why[400] = "local recovery is off (state.backend.local-recovery)";
    uint8_t *meta = NULL;
    size_t mlen = 0;
    remote_key(r, key, sizeof key, "/chk-%" PRIu64 "/_metadata", id);
    int rc = weir_s3_get(r->s3, key, &meta, &mlen);
    if (rc < 0)
        return refused(s, rc, err, errlen);
    if (r->local_recovery)
        local_match(s, id, meta, mlen, why, sizeof why);
    if (r->local_recovery && !why[0]) {
        storage_log(s,
                    "chk-%" PRIu64 ": local recovery: the local copy in %s matches %s: "
                    "restoring from local disk",
                    id, s->job_dir, r->url);
        free(meta);
        return 0;
    }
    uint64_t bytes = 0;
    rc = download_ck(s, id, meta, mlen, &bytes);
    free(meta);
    if (rc < 0)
        return refused(s, rc, err, errlen);
    storage_log(s, "chk-%" PRIu64 ": downloaded from %s/%s (%" PRIu64 " bytes) into %s: %s", id,
                r->url, s->job, bytes, s->job_dir, why);
    return 0;
}

int remote_sync(struct weir_storage *s, char *err, size_t errlen)
{
    struct remote *r = s->remote;
    char **keys;
    size_t n;
    /* Savepoints staged by an earlier run that stopped before their upload ended: never
     * complete (their _metadata is the remote one). */
    privdir_rm_tree_at(s->job_fd, SP_STAGE_DIR);
    int rc = remote_list_all(r, &keys, NULL, &n);
    if (rc < 0)
        return refused(s, rc, err, errlen);
    uint64_t *done = calloc(n ? n : 1, sizeof *done);
    size_t ndone = 0;
    char shared_pre[1024];
    remote_key(r, shared_pre, sizeof shared_pre, "/shared/");
    size_t lsp = strlen(shared_pre), lj = strlen(r->key_job);
    for (size_t i = 0; i < n && done && rc == 0; i++) {
        const char *k = keys[i];
        uint64_t id;
        char *end;
        if (!strncmp(k, shared_pre, lsp)) {
            rc = remote_set_add(&r->shared, &r->nshared, &r->capshared, k + lsp);
        } else if (!strncmp(k, r->key_job, lj) && !strncmp(k + lj, "/chk-", 5) &&
                   (id = strtoull(k + lj + 5, &end, 10)) > 0 && *end == '/') {
            if (id > s->max_id)
                s->max_id = id; /* never reuse an id the store has seen */
            if (!strcmp(end, "/_metadata"))
                done[ndone++] = id;
        }
    }
    for (size_t i = 0; i < n; i++)
        free(keys[i]);
    free(keys);
    if (!done || rc < 0) {
        free(done);
        errbuf_printf(err, errlen, "checkpoint storage: out of memory");
        return -ENOMEM;
    }
    qsort(done, ndone, sizeof *done, cmp_u64);
    size_t first = ndone > (size_t)s->num_retained ? ndone - (size_t)s->num_retained : 0;
    /* Local checkpoints the store does not hold complete never completed. */
    uint64_t *local;
    size_t nlocal;
    if (list_checkpoints(s->job_fd, &local, &nlocal) == 0) {
        for (size_t i = 0; i < nlocal; i++) {
            if (bsearch(&local[i], done + first, ndone - first, sizeof *done, cmp_u64))
                continue;
            char name[32];
            snprintf(name, sizeof name, "chk-%" PRIu64, local[i]);
            privdir_rm_tree_at(s->job_fd, name);
        }
        free(local);
    }
    for (size_t i = first; i < ndone && rc == 0; i++) {
        rc = sync_one(s, done[i], err, errlen);
        if (rc == -ENOENT || rc == -EBADMSG) {
            /* The store's copy is damaged (an object it lists is gone, or unreadable): an
             * older checkpoint may still serve, as for a corrupt local one. */
            storage_log(s, "chk-%" PRIu64 " in %s is unusable (%s): skipped", done[i], r->url, err);
            rc = 0;
        }
    }
    free(done);
    return rc;
}
