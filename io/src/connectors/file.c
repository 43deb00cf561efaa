/*
 * Line-oriented file source, and the file and stdout sinks.
 *
 * Source split: subtask i of p owns the lines whose first byte lies in
 * [i * size / p, (i + 1) * size / p), so every line is read by exactly one
 * subtask whatever the parallelism, without a coordinator. A line is one record, so the
 * longest is the largest record: memory.segment-size minus the record header (16 bytes);
 * the read buffer grows to hold one.
 *
 * Sinks write one line per record through a per-subtask buffer. A file sink
 * at parallelism 1 writes PATH; at parallelism N > 1, PATH is a directory
 * holding part-0 .. part-(N-1). stdout sinks share one lock and write whole
 * buffers of whole lines, so lines from different subtasks never interleave.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <weir/config.h>
#include <weir/job.h>
#include <weir/io_paths.h>
#include <weir/state.h>

#include "connectors_private.h"

#define READ_CHUNK (1u << 20)

/* --- source ----------------------------------------------------------------- */

struct file_src {
    const char *path;
    size_t max_line; /* bytes: the largest record */
    int fd;
    off_t pos, end; /* next byte to read; lines starting at >= end are not ours */
    off_t line_off; /* file offset of buf[0] */
    char *buf;
    size_t len, cap, head; /* valid bytes buf[head..len) */
    bool eof;
};

static int fsrc_open(weir_ctx *ctx, void *state, void *arg)
{
    struct file_src *f = state;
    const char *path = arg;
    f->path = path;
    f->max_line =
        weir_config_get_size(weir_ctx_config(ctx), "memory.segment-size") - WEIR_REC_HEADER;
    f->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (f->fd < 0) {
        int e = errno;
        weir_ctx_fail(ctx, "%s: %s", path, strerror(e));
        return -e;
    }
    struct stat st;
    if (fstat(f->fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        weir_ctx_fail(ctx, "%s: not a regular file", path);
        close(f->fd);
        f->fd = -1;
        return -EINVAL;
    }
    off_t size = st.st_size;
    int i = weir_ctx_subtask(ctx), p = weir_ctx_parallelism(ctx);
    off_t start = (off_t)((__int128)size * i / p);
    f->end = (off_t)((__int128)size * (i + 1) / p);
    f->cap = READ_CHUNK;
    f->buf = malloc(f->cap);
    if (!f->buf)
        return -ENOMEM;
    /* A line belongs to the subtask whose range holds its first byte: unless the
     * byte before start ends a line, skip to the next line. */
    f->pos = start;
    if (start > 0) {
        char c;
        if (pread(f->fd, &c, 1, start - 1) != 1)
            return -EIO;
        if (c != '\n') {
            for (;;) {
                ssize_t n = pread(f->fd, f->buf, f->cap, f->pos);
                if (n < 0)
                    return -errno;
                if (n == 0) {
                    f->eof = true;
                    break;
                }
                char *nl = memchr(f->buf, '\n', (size_t)n);
                if (nl) {
                    f->pos += nl - f->buf + 1;
                    break;
                }
                f->pos += n;
            }
        }
    }
    f->line_off = f->pos;
    return 0;
}

/* The one line for a line longer than a record holds: FILE:LINE (counted from the start of
 * the file, whichever subtask reads it) and the key that raises the limit. */
static int line_too_long(weir_ctx *ctx, struct file_src *f)
{
    unsigned long long line = 1;
    char buf[1 << 16];
    for (off_t at = 0; at < f->line_off;) {
        size_t want =
            (size_t)(f->line_off - at) < sizeof buf ? (size_t)(f->line_off - at) : sizeof buf;
        ssize_t n = pread(f->fd, buf, want, at);
        if (n <= 0)
            break;
        for (ssize_t i = 0; i < n; i++)
            line += buf[i] == '\n';
        at += n;
    }
    weir_ctx_fail(ctx,
                  "%s:%llu: line longer than the largest record, %zu bytes (memory.segment-size "
                  "minus 16): raise memory.segment-size",
                  f->path, line, f->max_line);
    return -EMSGSIZE;
}

/* Room behind the partial line at buf[0..len): the buffer doubles up to one line of
 * max_line bytes and its newline; -EMSGSIZE when the line is longer than that. */
static int make_room(weir_ctx *ctx, struct file_src *f)
{
    if (f->len < f->cap)
        return 0;
    if (f->cap > f->max_line)
        return line_too_long(ctx, f);
    size_t ncap = f->cap * 2 < f->max_line + 1 ? f->cap * 2 : f->max_line + 1;
    char *nb = realloc(f->buf, ncap);
    if (!nb)
        return -ENOMEM;
    f->buf = nb;
    f->cap = ncap;
    return 0;
}

static int fsrc_poll(weir_ctx *ctx, void *state, weir_emit *out, uint32_t max, uint32_t *emitted)
{
    struct file_src *f = state;
    uint32_t n = 0;
    while (n < max) {
        if (f->line_off >= f->end)
            goto done;
        char *start = f->buf + f->head;
        char *nl = memchr(start, '\n', f->len - f->head);
        if (!nl && !f->eof) {
            /* Keep the partial line, read more behind it. */
            memmove(f->buf, start, f->len - f->head);
            f->len -= f->head;
            f->head = 0;
            int rc = make_room(ctx, f);
            if (rc < 0)
                return rc;
            ssize_t r = pread(f->fd, f->buf + f->len, f->cap - f->len, f->pos);
            if (r < 0) {
                int e = errno;
                weir_ctx_fail(ctx, "read: %s", strerror(e));
                return -e;
            }
            if (r == 0)
                f->eof = true;
            f->pos += r;
            f->len += (size_t)r;
            continue;
        }
        size_t llen = nl ? (size_t)(nl - start) : f->len - f->head;
        if (!nl && llen == 0)
            goto done; /* end of file */
        void *p = llen > f->max_line ? NULL : weir_emit_reserve(out, (uint32_t)llen);
        if (!p)
            return line_too_long(ctx, f);
        memcpy(p, start, llen);
        int rc = weir_emit_commit(out, WEIR_TS_NONE);
        if (rc < 0)
            return rc;
        n++;
        size_t adv = llen + (nl ? 1 : 0);
        f->head += adv;
        f->line_off += (off_t)adv;
    }
    *emitted = n;
    return WEIR_SOURCE_MORE;
done:
    *emitted = n;
    return WEIR_SOURCE_DONE;
}

static void fsrc_close(weir_ctx *ctx, void *state)
{
    struct file_src *f = state;
    if (f->fd > 0)
        close(f->fd);
    free(f->buf);
}

/* Position: the file offset of the next line to emit. */
static int fsrc_snapshot(weir_ctx *ctx, void *state, uint64_t id, struct weir_snapshot_out *out)
{
    struct file_src *f = state;
    int64_t pos = (int64_t)f->line_off;
    return out->write(out, &pos, sizeof pos);
}

static int fsrc_restore(weir_ctx *ctx, void *state, struct weir_snapshot_in *in)
{
    struct file_src *f = state;
    int64_t pos;
    int rc = in->read(in, &pos, sizeof pos);
    if (rc < 0)
        return rc;
    if (pos < f->line_off || pos > f->end + (1 << 30)) {
        weir_ctx_fail(ctx, "restored position %lld is outside this subtask's part of the file",
                      (long long)pos);
        return -EINVAL;
    }
    f->pos = f->line_off = (off_t)pos;
    f->head = f->len = 0;
    f->eof = false;
    return 0;
}

static const struct weir_source_ops file_source_ops = {
    .kind = "file",
    .state_size = sizeof(struct file_src),
    .open = fsrc_open,
    .poll = fsrc_poll,
    .close = fsrc_close,
    .snapshot = fsrc_snapshot,
    .restore = fsrc_restore,
};

weir_stream *weir_source_file(weir_job *job, const char *uid, const char *path)
{
    if (!job)
        return NULL;
    char *copy = strdup(path ? path : "");
    if (!copy)
        return NULL;
    weir_stream *s = weir_source(job, uid, &file_source_ops, copy);
    if (!s) {
        free(copy);
        return NULL;
    }
    weir_stream_own_arg(s, free);
    weir_stream_io_path(s, WEIR_IO_READS, copy);
    return s;
}

/* --- lines ------------------------------------------------------------------ */

int line_format(weir_ctx *ctx, weir_format_fn fmt, const weir_rec *in, struct line_buf *lb,
                const char **text, size_t *len)
{
    if (!fmt) {
        *text = (const char *)in->data;
        *len = in->len;
        return 0;
    }
    int n = fmt(in, lb->line, lb->cap);
    if (n >= 0 && (size_t)n >= lb->cap) {
        size_t ncap = (size_t)n + 1;
        char *p = realloc(lb->line, ncap);
        if (!p)
            return -ENOMEM;
        lb->line = p;
        lb->cap = ncap;
        n = fmt(in, lb->line, lb->cap);
    }
    if (n < 0) {
        weir_ctx_fail(ctx, "format function failed: %s", strerror(-n));
        return n;
    }
    *text = lb->line;
    *len = (size_t)n;
    return 0;
}

/* --- sinks ------------------------------------------------------------------ */

struct sink_args {
    char *path; /* NULL: stdout */
    weir_format_fn fmt;
};

struct line_sink {
    FILE *f;
    char *path;
    char *buf; /* formatted lines not yet handed to f */
    size_t len, cap;
    struct line_buf lb;
};

static pthread_mutex_t stdout_lock = PTHREAD_MUTEX_INITIALIZER;

static int sink_write_out(weir_ctx *ctx, struct line_sink *s)
{
    if (!s->len)
        return 0;
    if (!s->f)
        pthread_mutex_lock(&stdout_lock);
    FILE *f = s->f ? s->f : stdout;
    size_t w = fwrite(s->buf, 1, s->len, f);
    int e = w == s->len ? 0 : errno ? errno : EIO;
    if (!s->f) {
        if (!e && fflush(stdout) != 0)
            e = errno;
        pthread_mutex_unlock(&stdout_lock);
    }
    s->len = 0;
    if (e) {
        weir_ctx_fail(ctx, "%s: %s", s->path ? s->path : "stdout", strerror(e));
        return -e;
    }
    return 0;
}

static int sink_open(weir_ctx *ctx, void *state, void *arg)
{
    struct line_sink *s = state;
    const struct sink_args *a = arg;
    int rc = -ENOMEM;
    s->cap = 1u << 16;
    s->buf = malloc(s->cap);
    s->lb.cap = 4096;
    s->lb.line = malloc(s->lb.cap);
    if (!s->buf || !s->lb.line)
        goto err;
    if (!a->path)
        return 0;
    int p = weir_ctx_parallelism(ctx);
    if (p == 1) {
        s->path = strdup(a->path);
    } else {
        if (mkdir(a->path, 0777) < 0 && errno != EEXIST) {
            rc = -errno;
            weir_ctx_fail(ctx, "%s: %s", a->path, strerror(-rc));
            goto err;
        }
        if (asprintf(&s->path, "%s/part-%d", a->path, weir_ctx_subtask(ctx)) < 0)
            s->path = NULL;
    }
    if (!s->path)
        goto err;
    s->f = fopen(s->path, "we");
    if (!s->f) {
        rc = -errno;
        weir_ctx_fail(ctx, "%s: %s", s->path, strerror(-rc));
        goto err;
    }
    return 0;
err: /* an operator whose open failed is not closed: give back what it took */
    free(s->path);
    free(s->buf);
    free(s->lb.line);
    s->path = NULL;
    s->buf = NULL;
    s->lb.line = NULL;
    return rc;
}

static int sink_process(weir_ctx *ctx, void *state, int input, const weir_rec *in, weir_emit *out)
{
    struct line_sink *s = state;
    const struct sink_args *a = weir_ctx_arg(ctx);
    const char *text;
    size_t len;
    int rc = line_format(ctx, a->fmt, in, &s->lb, &text, &len);
    if (rc < 0)
        return rc;
    if (s->len + len + 1 > s->cap) {
        rc = sink_write_out(ctx, s);
        if (rc < 0)
            return rc;
        if (len + 1 > s->cap) {
            char *p = realloc(s->buf, len + 1);
            if (!p)
                return -ENOMEM;
            s->buf = p;
            s->cap = len + 1;
        }
    }
    memcpy(s->buf + s->len, text, len);
    s->buf[s->len + len] = '\n';
    s->len += len + 1;
    return 0;
}

static int sink_end(weir_ctx *ctx, void *state, weir_emit *out)
{
    struct line_sink *s = state;
    int rc = sink_write_out(ctx, s);
    if (rc == 0 && s->f && fflush(s->f) != 0) {
        int e = errno;
        weir_ctx_fail(ctx, "%s: %s", s->path, strerror(e));
        return -e;
    }
    return rc;
}

static void sink_close(weir_ctx *ctx, void *state)
{
    struct line_sink *s = state;
    if (s->len)
        sink_write_out(ctx, s);
    if (s->f && fclose(s->f) != 0)
        weir_ctx_fail(ctx, "%s: %s", s->path, strerror(errno));
    free(s->path);
    free(s->buf);
    free(s->lb.line);
}

static const struct weir_operator_ops line_sink_ops = {
    .kind = "file",
    .state_size = sizeof(struct line_sink),
    .open = sink_open,
    .process = sink_process,
    .end = sink_end,
    .close = sink_close,
};

static void sink_args_free(void *p)
{
    struct sink_args *a = p;
    if (a)
        free(a->path);
    free(a);
}

static weir_stream *line_sink(weir_stream *in, const char *uid, const char *path,
                              weir_format_fn fmt)
{
    if (!in)
        return NULL;
    struct sink_args *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    a->fmt = fmt;
    if (path && !(a->path = strdup(path))) {
        free(a);
        return NULL;
    }
    weir_stream *s = weir_sink(in, uid, &line_sink_ops, a);
    if (!s) {
        sink_args_free(a);
        return NULL;
    }
    weir_stream_own_arg(s, sink_args_free);
    if (path && *path)
        weir_stream_io_path(s, WEIR_IO_WRITES, path);
    return s;
}

weir_stream *weir_sink_file(weir_stream *in, const char *uid, const char *path, weir_format_fn fmt)
{
    return line_sink(in, uid, path ? path : "", fmt);
}

weir_stream *weir_sink_stdout(weir_stream *in, const char *uid, weir_format_fn fmt)
{
    return line_sink(in, uid, NULL, fmt);
}
