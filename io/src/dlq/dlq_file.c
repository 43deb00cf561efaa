/*
 * The file dead-letter queue (weir.dlq.type file): one JSON object per line, appended to
 * weir.dlq.path, fsynced at every flush (the coordinator's, before a checkpoint's _metadata).
 *
 *   {"reason":"JSON: ...","operator":"kafka","topic":"in","partition":0,"offset":17,
 *    "timestamp":1700000000000,"key":null,"value":"eyJhIjo=",
 *    "headers":[{"name":"trace","value":"YWJj"}]}
 *
 * Why JSON lines with base64 bytes: a person reads it with cat or jq and a program parses it
 * with any JSON library, one record per line; the bytes (key, value, header values) are
 * base64 because a dead letter is often exactly the bytes that are not valid UTF-8, which a
 * JSON string cannot hold. topic, partition and offset are null for a record that came from
 * no Kafka record; "timestamp" is the Kafka timestamp (null: none).
 *
 * A crash may leave a torn last line: open() ends it with a newline first, so that the next
 * record starts a line of its own (a reader skips a line that does not parse). A write or
 * fsync error (a full disk, an I/O error) fails the job with one line naming weir.dlq.path.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "dlq_private.h"

struct dlq_file {
    struct weir_dlq_writer w; /* first: the runtime's handle */
    int fd;
    char *path;
    bool dirty; /* written since the last fsync */
};

static char *base64(const void *p, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *s = p;
    char *out = malloc(4 * ((n + 2) / 3) + 1), *o = out;
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)s[i + 1] << 8;
        if (i + 2 < n)
            v |= s[i + 2];
        *o++ = tab[v >> 18 & 63];
        *o++ = tab[v >> 12 & 63];
        *o++ = i + 1 < n ? tab[v >> 6 & 63] : '=';
        *o++ = i + 2 < n ? tab[v & 63] : '=';
    }
    *o = 0;
    return out;
}

static json_t *bytes(const void *p, size_t n, bool null)
{
    if (null)
        return json_null();
    char *b = base64(p ? p : "", n);
    json_t *j = b ? json_string(b) : NULL;
    free(b);
    return j;
}

/* A JSON string of s[0..n), bytes that are not UTF-8 replaced by '?'. */
static json_t *text(const char *s, size_t n)
{
    json_t *j = json_stringn(s, n);
    if (j)
        return j;
    char *c = malloc(n + 1);
    if (!c)
        return NULL;
    for (size_t i = 0; i < n; i++)
        c[i] = (unsigned char)s[i] < 0x80 && s[i] ? s[i] : '?';
    j = json_stringn(c, n);
    free(c);
    return j;
}

static int set(json_t *o, const char *k, json_t *v)
{
    return v && json_object_set_new(o, k, v) == 0 ? 0 : -ENOMEM;
}

static char *line_of(const struct weir_dlq_rec *r)
{
    json_t *o = json_object(), *h = json_array();
    bool kafka = r->topic != NULL;
    int rc = o && h ? 0 : -ENOMEM;
    if (rc == 0)
        rc = set(o, "reason", text(r->reason, strlen(r->reason)));
    if (rc == 0)
        rc = set(o, "operator", text(r->operator, strlen(r->operator)));
    if (rc == 0)
        rc = set(o, "topic", kafka ? text(r->topic, strlen(r->topic)) : json_null());
    if (rc == 0)
        rc = set(o, "partition", kafka ? json_integer(r->partition) : json_null());
    if (rc == 0)
        rc = set(o, "offset", kafka ? json_integer(r->offset) : json_null());
    if (rc == 0)
        rc =
            set(o, "timestamp", r->timestamp_ms >= 0 ? json_integer(r->timestamp_ms) : json_null());
    if (rc == 0)
        rc = set(o, "key", bytes(r->key, r->key_len, r->key == NULL));
    if (rc == 0)
        rc = set(o, "value", bytes(r->value, r->value_len, false));
    for (size_t i = 0; rc == 0 && i < r->n_headers; i++) {
        json_t *e = json_object();
        rc = e ? 0 : -ENOMEM;
        if (rc == 0)
            rc = set(e, "name", text(r->headers[i].name, strlen(r->headers[i].name)));
        if (rc == 0)
            rc = set(e, "value",
                     bytes(r->headers[i].value, r->headers[i].len, r->headers[i].value == NULL));
        if (rc == 0 && json_array_append_new(h, e) < 0)
            rc = -ENOMEM;
        else if (rc < 0)
            json_decref(e);
    }
    if (rc == 0) {
        rc = json_object_set_new(o, "headers", h) == 0 ? 0 : -ENOMEM;
        h = NULL;
    }
    char *line = rc == 0 ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(h);
    json_decref(o);
    return line;
}

static int write_all(struct dlq_file *f, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(f->fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            int e = errno;
            snprintf(f->w.err, sizeof f->w.err, "weir.dlq.path: %s: write: %s", f->path,
                     strerror(e));
            return -e;
        }
        p += w;
        n -= (size_t)w;
    }
    f->dirty = true;
    return 0;
}

static int file_write(struct weir_dlq_writer *w, const struct weir_dlq_rec *r)
{
    struct dlq_file *f = (struct dlq_file *)w;
    char *line = line_of(r);
    if (!line) {
        snprintf(w->err, sizeof w->err, "weir.dlq.path: %s: out of memory formatting a record",
                 f->path);
        return -ENOMEM;
    }
    size_t n = strlen(line);
    line[n] = '\n'; /* json_dumps' NUL: the line is written without it */
    int rc = write_all(f, line, n + 1);
    free(line);
    return rc;
}

static int file_flush(struct weir_dlq_writer *w)
{
    struct dlq_file *f = (struct dlq_file *)w;
    if (!f->dirty)
        return 0;
    if (fsync(f->fd) < 0 && errno != EINVAL) { /* EINVAL: a device such as /dev/null */
        int e = errno;
        snprintf(w->err, sizeof w->err, "weir.dlq.path: %s: fsync: %s", f->path, strerror(e));
        return -e;
    }
    f->dirty = false;
    return 0;
}

static void file_free(struct weir_dlq_writer *w)
{
    struct dlq_file *f = (struct dlq_file *)w;
    if (f->fd >= 0)
        close(f->fd);
    free(f->path);
    free(f);
}

/* The directory entry of a file just created, durable. */
static int fsync_dir_of(const char *path)
{
    char *copy = strdup(path);
    if (!copy)
        return -ENOMEM;
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(copy);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) < 0 ? -errno : 0;
    close(fd);
    return rc;
}

int dlq_file_open(const weir_config *cfg, struct weir_dlq_writer **out, char *err, size_t errlen)
{
    const char *path = weir_config_get_str(cfg, "weir.dlq.path");
    if (!path || !*path) {
        snprintf(err, errlen, "weir.dlq.type file needs weir.dlq.path (the DLQ file)");
        return -EINVAL;
    }
    struct dlq_file *f = calloc(1, sizeof *f);
    if (!f || !(f->path = strdup(path))) {
        free(f);
        snprintf(err, errlen, "weir.dlq.path: out of memory");
        return -ENOMEM;
    }
    f->w = (struct weir_dlq_writer){.write = file_write, .flush = file_flush, .free = file_free};
    bool existed = access(path, F_OK) == 0;
    int rc;
    f->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (f->fd < 0) {
        rc = -errno;
        snprintf(err, errlen, "weir.dlq.path: %s: %s", path, strerror(-rc));
        goto err;
    }
    struct stat st;
    if (fstat(f->fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
        char last = 0;
        int rfd = open(path, O_RDONLY | O_CLOEXEC);
        if (rfd >= 0 && pread(rfd, &last, 1, st.st_size - 1) == 1 && last != '\n' &&
            (rc = write_all(f, "\n", 1)) < 0) { /* a torn line from a crash: end it */
            close(rfd);
            snprintf(err, errlen, "%s", f->w.err);
            goto err;
        }
        if (rfd >= 0)
            close(rfd);
    }
    if (!existed && (rc = fsync_dir_of(path)) < 0) {
        snprintf(err, errlen, "weir.dlq.path: %s: fsync of its directory: %s", path, strerror(-rc));
        goto err;
    }
    *out = &f->w;
    return 0;
err:
    file_free(&f->w);
    return rc;
}
