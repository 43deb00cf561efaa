/*
 * A named checkpoint or savepoint in S3 (--from-checkpoint s3://bucket/prefix/<job>/chk-N,
 * --from-checkpoint s3://bucket/prefix/savepoint-<job>-N): downloaded into a local directory
 * and opened as one (weir_restore_open_dir), so that the restore reads local disk.
 *
 * Where: <state.backend.local-recovery.dir, else the default of state.checkpoints.dir>/
 * s3-restore/<bucket>/<key>, emptied first. A checkpoint's shared files go beside it, to
 * ../shared (from <key>/../shared/ in the store), where weir_restore_open_dir looks for them;
 * a savepoint holds its own. _metadata is read first (none: the one line a local directory
 * without one gets), put in place last; the directory is then validated as any other (every
 * file's size and checksum). A named checkpoint that is missing or damaged fails, naming it:
 * never another one instead.
 */
#include "s3.h"
#include "storage_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <weir/config.h>

/* snprintf that says whether it all fit (keys and paths here are bounded by the checks of
 * weir_restore_open_config; a name from _metadata is checked by its parser). */
__attribute__((format(printf, 3, 4))) static bool fmt(char *buf, size_t len, const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    int n = vsnprintf(buf, len, f, ap);
    va_end(ap);
    return n >= 0 && (size_t)n < len;
}

/* key into dir/name, fsynced; 0 or a negative errno with the line in s3's error. */
static int get_into(struct weir_s3 *s3, const char *key, const char *dir, const char *name)
{
    char path[4096];
    (void)fmt(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return weir_s3_fail(s3, -errno, "%s: %s", path, strerror(errno));
    uint64_t len = 0;
    int rc = weir_s3_get_file(s3, key, fd, &len);
    if (rc == 0 && fsync(fd) < 0)
        rc = weir_s3_fail(s3, -errno, "%s: fsync: %s", path, strerror(errno));
    close(fd);
    return rc;
}

static int download(struct weir_s3 *s3, const char *key, const char *dir, const char *shared_key,
                    const char *shared_dir, char *err, size_t errlen)
{
    char k[1024], why[300];
    (void)fmt(k, sizeof k, "%s/_metadata", key);
    int rc = get_into(s3, k, dir, "_metadata.download");
    if (rc == -ENOENT) {
        errbuf_printf(err, errlen,
                      "s3://%s/%s: no _metadata (not a complete savepoint or checkpoint)",
                      weir_s3_bucket(s3), key);
        return rc;
    }
    if (rc < 0)
        goto fail;
    int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    struct meta_owned *mo = NULL;
    if (dirfd < 0) {
        rc = weir_s3_fail(s3, -errno, "%s: %s", dir, strerror(errno));
        goto fail;
    }
    rc = read_metadata_named(dirfd, "_metadata.download", &mo, why, sizeof why);
    if (rc < 0) {
        close(dirfd);
        errbuf_printf(err, errlen, "s3://%s/%s/_metadata: %s", weir_s3_bucket(s3), key, why);
        return rc;
    }
    const struct weir_ckpt_meta *m = &mo->meta;
    for (size_t i = 0; rc == 0 && i < m->entry_count; i++) {
        const char *f = m->entries[i].file;
        if (!f || !*f || faccessat(dirfd, f, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
            continue; /* none, or listed twice */
        (void)fmt(k, sizeof k, "%s/%s", key, f);
        rc = get_into(s3, k, dir, f);
    }
    for (size_t i = 0; rc == 0 && i < m->shared_count; i++) {
        const char *f = m->shared[i].name;
        (void)fmt(k, sizeof k, "%s/%s", m->savepoint ? key : shared_key, f);
        rc = get_into(s3, k, m->savepoint ? dir : shared_dir, f);
    }
    free(mo);
    if (rc == 0 &&
        (renameat(dirfd, "_metadata.download", dirfd, "_metadata") < 0 || fsync(dirfd) < 0))
        rc = weir_s3_fail(s3, -errno, "%s/_metadata: %s", dir, strerror(errno));
    close(dirfd);
    if (rc == 0)
        return 0;
fail:
    errbuf_printf(err, errlen, "s3://%s/%s: %s", weir_s3_bucket(s3), key, weir_s3_error(s3));
    return rc;
}

int weir_restore_open_config(const struct weir_config *cfg, const char *path, unsigned flags,
                             weir_restore **out, char *err, size_t errlen)
{
    *out = NULL;
    if (strncmp(path, "s3://", 5))
        return weir_restore_open_dir(path, flags, out, err, errlen);
    /* s3://bucket/key: the key without slashes at its end */
    const char *b = path + 5, *slash = strchr(b, '/');
    size_t lb = slash ? (size_t)(slash - b) : 0;
    char bucket[64], key[1024], base[4096], dir[4096], shared[4096], shared_key[1024];
    size_t lk = slash ? strlen(slash + 1) : 0;
    while (lk && slash[lk] == '/')
        lk--;
    if (lb == 0 || lb >= sizeof bucket || lk == 0 || lk >= sizeof key - 64 ||
        strspn(b, "abcdefghijklmnopqrstuvwxyz0123456789.-") < lb) {
        errbuf_printf(err, errlen,
                      "%s: expected s3://bucket/prefix/<job>/chk-N or "
                      "s3://bucket/prefix/savepoint-... (a bucket name of lower-case letters, "
                      "digits, '.' and '-')",
                      path);
        return -EINVAL;
    }
    memcpy(bucket, b, lb);
    bucket[lb] = '\0';
    memcpy(key, slash + 1, lk);
    key[lk] = '\0';
    if (strstr(key, "..")) {
        errbuf_printf(err, errlen, "%s: a key with \"..\" is refused", path);
        return -EINVAL;
    }
    const char *lr = weir_config_get_str(cfg, "state.backend.local-recovery.dir");
    if (!*lr) {
        if (privdir_default("state.checkpoints.dir", base, sizeof base) < 0) {
            errbuf_printf(err, errlen,
                          "state.checkpoints.dir: the default is too long: set "
                          "state.backend.local-recovery.dir (where %s is downloaded)",
                          path);
            return -ENAMETOOLONG;
        }
        lr = base;
    }
    /* a checkpoint's shared files: <key>/../shared, locally as in the store */
    const char *last = strrchr(key, '/');
    if (!fmt(dir, sizeof dir, "%s/s3-restore/%s/%s", lr, bucket, key) ||
        !fmt(shared_key, sizeof shared_key, "%.*sshared", last ? (int)(last - key + 1) : 0, key) ||
        !fmt(shared, sizeof shared, "%s/s3-restore/%s/%s", lr, bucket, shared_key)) {
        errbuf_printf(err, errlen,
                      "%s: too long to download under %s "
                      "(state.backend.local-recovery.dir)",
                      path, lr);
        return -ENAMETOOLONG;
    }
    int rc = privdir_rm_tree_at(AT_FDCWD, dir);
    if (rc < 0 || (rc = mkdir_p(dir, 0700)) < 0 || (rc = mkdir_p(shared, 0700)) < 0) {
        errbuf_printf(err, errlen,
                      "%s: cannot make %s to download it into: %s "
                      "(state.backend.local-recovery.dir)",
                      path, dir, strerror(-rc));
        return rc;
    }
    char why[768];
    struct weir_s3 *s3 = NULL;
    rc = weir_s3_open(
        &(struct weir_s3_config){
            .endpoint = *weir_config_get_str(cfg, "s3.endpoint")
                            ? weir_config_get_str(cfg, "s3.endpoint")
                            : NULL,
            .region = *weir_config_get_str(cfg, "s3.region") ? weir_config_get_str(cfg, "s3.region")
                                                             : NULL,
            .bucket = bucket,
            .access_key = *weir_config_get_str(cfg, "s3.access-key")
                              ? weir_config_get_str(cfg, "s3.access-key")
                              : NULL,
            .secret_key = *weir_config_get_str(cfg, "s3.secret-key")
                              ? weir_config_get_str(cfg, "s3.secret-key")
                              : NULL,
            .retry_max_attempts = (int)weir_config_get_int(cfg, "s3.retry.max-attempts"),
            .retry_initial_backoff_ms =
                weir_config_get_duration_ms(cfg, "s3.retry.initial-backoff")},
        &s3, why, sizeof why);
    if (rc < 0) {
        errbuf_printf(err, errlen, "%s: %s", path, why);
        return rc;
    }
    rc = download(s3, key, dir, shared_key, shared, err, errlen);
    weir_s3_close(s3);
    if (rc < 0)
        return rc;
    rc = weir_restore_open_dir(dir, flags, out, why, sizeof why);
    if (rc < 0)
        errbuf_printf(err, errlen, "%s: %s", path, why); /* why starts with where it is */
    return rc;
}
