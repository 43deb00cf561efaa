/*
 * Uploading a local file to S3 (s3.h): what checkpoint storage will do with each state file
 * once it is durable on local disk. A file within one part goes in one PUT; a larger one as a
 * multipart upload read one part at a time, so memory stays at one part whatever its size.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "s3.h"

/* Reads exactly len bytes at off (a short read means the file shrank: -EIO). */
static int read_at(int fd, uint8_t *buf, size_t len, off_t off)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = pread(fd, buf + done, len - done, off + (off_t)done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            return -EIO;
        done += (size_t)n;
    }
    return 0;
}

int s3_write_all(int fd, const void *p, size_t len)
{
    for (size_t done = 0; done < len;) {
        ssize_t w = write(fd, (const uint8_t *)p + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return w < 0 ? errno : EIO;
        done += (size_t)w;
    }
    return 0;
}

/* A local failure of the file's upload, as one line naming the file. */
static int local_fail(struct weir_s3 *s3, int rc, const char *key, const char *path)
{
    return weir_s3_fail(s3, rc, "S3 PUT s3://%s/%s: %s: %s", weir_s3_bucket(s3), key, path,
                        strerror(-rc));
}

int weir_s3_put_file(struct weir_s3 *s3, const char *key, const char *path, size_t part_bytes)
{
    if (part_bytes == 0)
        return weir_s3_fail(s3, -EINVAL, "S3 PUT s3://%s/%s: a part size of 0 bytes",
                            weir_s3_bucket(s3), key);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        int rc = -errno;
        if (fd >= 0)
            close(fd);
        return local_fail(s3, rc, key, path);
    }
    size_t size = (size_t)st.st_size, first = size < part_bytes ? size : part_bytes;
    uint8_t *buf = malloc(first ? first : 1);
    struct weir_s3_upload *up = NULL;
    int rc = buf ? 0 : -ENOMEM;
    if (!rc && size <= part_bytes) {
        rc = read_at(fd, buf, size, 0);
        if (!rc)
            rc = weir_s3_put(s3, key, buf, size);
        else
            local_fail(s3, rc, key, path);
        goto out;
    }
    if (!rc)
        rc = weir_s3_upload_begin(s3, key, &up);
    for (size_t off = 0; !rc && off < size; off += part_bytes) {
        size_t n = size - off < part_bytes ? size - off : part_bytes;
        if ((rc = read_at(fd, buf, n, (off_t)off)) != 0)
            local_fail(s3, rc, key, path);
        else
            rc = weir_s3_upload_part(up, buf, n);
    }
    if (up && !rc) {
        rc = weir_s3_upload_commit(up);
    } else if (up) {
        char keep[768]; /* the line says what failed, not how the abort went */
        snprintf(keep, sizeof keep, "%s", weir_s3_error(s3));
        weir_s3_upload_abort(up);
        weir_s3_fail(s3, rc, "%s", keep);
    }
out:
    if (rc == -ENOMEM)
        local_fail(s3, rc, key, path);
    free(buf);
    close(fd);
    return rc;
}
