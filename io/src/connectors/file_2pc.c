/*
 * Exactly-once file sink: two-phase commit over checkpoints (Flink's FileSink).
 *
 * A part file of one subtask goes through these states, each a file name in
 * DIR (n is the subtask's part counter):
 *
 *   IN_PROGRESS  .part-<s>-<n><sfx>.inprogress   records are appended
 *        | snapshot of checkpoint c: flush, fsync, rename        (pre-commit)
 *        v
 *   PENDING      .part-<s>-<n><sfx>.pending      listed in checkpoint c's state
 *        | checkpoint_complete(c' >= c): rename, fsync DIR        (commit)
 *        v
 *   COMMITTED    part-<s>-<n><sfx>               visible to readers
 *
 * Recovery from checkpoint c: the PENDING files its state lists belonged to a
 * complete checkpoint, so they are committed (again, idempotently); every other
 * in-progress or pending file of the subtask holds records after c, which the
 * sources replay, so it is deleted. The part counter continues from the state,
 * so replayed records land in new files. What end of input staged is listed by
 * the first checkpoint after it and every later one (the runtime snapshots a
 * finished task's operators into each), and committed when one of those
 * completes. Without checkpointing, files are committed at end of input.
 *
 * At any parallelism (rescale): each subtask's state is one item of union list state
 * (WEIR_STATE_UNION), so every new subtask of p sees the state of every old one. The files
 * named for subtask index k (listed pending ones to commit, unlisted ones to delete) are
 * handled by new subtask k % p alone, so each is committed or deleted exactly once, whatever
 * p was and is; and every new subtask's part counter goes on from the highest counter of all
 * old subtasks, so that no new file takes the name of one an old subtask of its index made.
 *
 * The directory belongs to one run and its restores. A fresh run (weir_ctx_start) finds it
 * empty, or is refused (-EEXIST, not restarted) unless sink.file.overwrite says to delete
 * the sink's files there first; an in-process retry before any checkpoint deletes what its
 * earlier attempts left; a run resumed with --from-checkpoint latest that finds no complete
 * checkpoint (a process killed before its first) deletes the in-progress and pending files
 * there and refuses committed ones; a restore deletes only the unlisted in-progress and
 * pending files of the subtask indexes it now handles (k % p). "The sink's files" are the
 * names above with its suffix, nothing else.
 *
 * The sink of one subtask (tpc_state_str), over those files:
 *
 *     IDLE ──(a record, no file open: tpc_process creates part next_n)──▶ WRITING
 *     WRITING ──(snapshot of c, or end of input: roll_to_pending)──▶ IDLE
 *
 *   IDLE     no in-progress file (f is NULL).
 *   WRITING  f is the IN_PROGRESS file of part f_n.
 *
 * In both, pending lists the PENDING files not yet committed, each a part below next_n
 * and none the part being written; checkpoint_complete(c) commits and forgets the ones
 * pre-committed by c or earlier (commit_upto). tpc_check_state asserts this.
 */
#include <assert.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include <weir/config.h>
#include <weir/errbuf.h>
#include <weir/inspect.h>
#include <weir/io_paths.h>
#include <weir/job.h>
#include <weir/state.h>

#include "connectors_private.h"

struct pending_file {
    uint64_t n;   /* part number */
    uint64_t chk; /* checkpoint that pre-committed it; 0 = staged at end of input */
};

struct tpc_args {
    char *dir;
    char *suffix;
    weir_format_fn fmt;
};

struct tpc_sink {
    const struct tpc_args *a;
    int subtask, parallelism;
    uint64_t next_n; /* part number of the next file */
    FILE *f;         /* the in-progress file, NULL when none */
    uint64_t f_n;
    struct pending_file *pending;
    size_t n_pending, cap_pending;
    struct line_buf lb;
    int dirfd;
};

/* For the debugger. */
__attribute__((unused)) static const char *tpc_state_str(const struct tpc_sink *s)
{
    return s->f ? "writing" : "idle";
}

/* The invariants of the table at the top. */
static bool tpc_check_state(const struct tpc_sink *s)
{
    if (s->f && s->f_n >= s->next_n)
        return false;
    for (size_t i = 0; i < s->n_pending; i++)
        if (s->pending[i].n >= s->next_n || (s->f && s->pending[i].n == s->f_n))
            return false;
    return s->n_pending <= s->cap_pending;
}

static int push_pending(struct tpc_sink *s, struct pending_file p)
{
    if (s->n_pending == s->cap_pending) {
        size_t ncap = s->cap_pending ? s->cap_pending * 2 : 8;
        struct pending_file *np = realloc(s->pending, ncap * sizeof *np);
        if (!np)
            return -ENOMEM;
        s->pending = np;
        s->cap_pending = ncap;
    }
    s->pending[s->n_pending++] = p;
    return 0;
}

/* The name of part n of subtask index sub at stage (0 in progress, 1 pending, 2 committed). */
static void part_name_of(char *buf, size_t len, const struct tpc_sink *s, int sub, uint64_t n,
                         int stage)
{
    static const char *const ext[] = {".inprogress", ".pending", ""};
    snprintf(buf, len, "%s/%spart-%d-%" PRIu64 "%s%s", s->a->dir, stage < 2 ? "." : "", sub, n,
             s->a->suffix, ext[stage]);
}

static void part_name(char *buf, size_t len, const struct tpc_sink *s, uint64_t n, int stage)
{
    part_name_of(buf, len, s, s->subtask, n, stage);
}

/* Whether name is one of this sink's files (part_name's, with its suffix): then *subtask,
 * *n and *stage (0 in progress, 1 pending, 2 committed) say which. */
static bool own_name(const struct tpc_sink *s, const char *name, int *subtask, uint64_t *n,
                     int *stage)
{
    bool hidden = name[0] == '.';
    const char *p = name + hidden;
    char *end;
    if (strncmp(p, "part-", 5) != 0 || !isdigit((unsigned char)p[5]))
        return false;
    unsigned long sub = strtoul(p + 5, &end, 10);
    if (*end != '-' || !isdigit((unsigned char)end[1]) || sub > INT32_MAX)
        return false;
    *subtask = (int)sub;
    *n = strtoull(end + 1, &end, 10);
    size_t sl = strlen(s->a->suffix);
    if (strncmp(end, s->a->suffix, sl) != 0)
        return false;
    p = end + sl;
    *stage = !hidden ? 2 : !strcmp(p, ".inprogress") ? 0 : !strcmp(p, ".pending") ? 1 : -1;
    return hidden ? *stage >= 0 : *p == 0;
}

static int fail_errno(weir_ctx *ctx, const char *what, const char *path)
{
    int e = errno ? errno : EIO;
    weir_ctx_fail(ctx, "%s %s: %s", what, path, strerror(e));
    return -e;
}

/* Before a fresh run or a retry writes: see the top of the file. Runs in every subtask's
 * open, and the runtime opens them all before any record flows. */
static int claim_dir(weir_ctx *ctx, struct tpc_sink *s)
{
    enum weir_start start = weir_ctx_start(ctx);
    if (start == WEIR_START_RESTORE)
        return 0;
    bool clear = start == WEIR_START_RETRY ||
                 weir_config_get_bool(weir_ctx_config(ctx), "sink.file.overwrite");
    int fd = dup(s->dirfd);
    DIR *d = fd < 0 ? NULL : fdopendir(fd);
    if (!d) {
        if (fd >= 0)
            close(fd);
        return fail_errno(ctx, "open", s->a->dir);
    }
    /* resumed with nothing to resume (WEIR_START_RESUME): in-progress and pending files of
     * any subtask are a killed run's uncommitted output; committed ones are refused */
    bool resume = start == WEIR_START_RESUME;
    bool used = false;
    int rc = 0;
    struct dirent *de;
    while (rc == 0 && !used && (de = readdir(d))) {
        int sub, stage;
        uint64_t n;
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        bool own = own_name(s, de->d_name, &sub, &n, &stage);
        if (!clear && !(resume && own && stage < 2))
            used = true;
        else if (own && unlinkat(s->dirfd, de->d_name, 0) < 0 && errno != ENOENT)
            rc = fail_errno(ctx, clear ? "overwrite: unlink" : "unlink", de->d_name);
    }
    closedir(d);
    if (used && resume) {
        weir_ctx_fail(ctx,
                      "%s: not empty (committed part files, or others), and --from-checkpoint "
                      "latest found no checkpoint to continue them from: use another "
                      "directory, or --overwrite (sink.file.overwrite: true) to replace them",
                      s->a->dir);
        return -EEXIST;
    }
    if (used) {
        weir_ctx_fail(ctx,
                      "%s: not empty, and a fresh run (no --from-checkpoint) would mix its part "
                      "files with those there: use another directory, or --overwrite "
                      "(sink.file.overwrite: true) to replace them",
                      s->a->dir);
        return -EEXIST;
    }
    return rc;
}

static int tpc_open(weir_ctx *ctx, void *state, void *arg)
{
    struct tpc_sink *s = state;
    s->a = arg;
    s->subtask = weir_ctx_subtask(ctx);
    s->parallelism = weir_ctx_parallelism(ctx);
    s->dirfd = -1;
    if (mkdir(s->a->dir, 0777) < 0 && errno != EEXIST)
        return fail_errno(ctx, "mkdir", s->a->dir);
    s->dirfd = open(s->a->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (s->dirfd < 0)
        return fail_errno(ctx, "open", s->a->dir);
    int rc = claim_dir(ctx, s);
    if (rc < 0)
        return rc;
    s->lb.cap = 4096;
    s->lb.line = malloc(s->lb.cap);
    return s->lb.line ? 0 : -ENOMEM;
}

static int roll_to_pending(weir_ctx *ctx, struct tpc_sink *s, uint64_t chk)
{
    if (!s->f)
        return 0;
    char from[4096], to[4096];
    part_name(from, sizeof from, s, s->f_n, 0);
    part_name(to, sizeof to, s, s->f_n, 1);
    if (fflush(s->f) != 0 || fsync(fileno(s->f)) != 0) {
        int rc = fail_errno(ctx, "write", from);
        fclose(s->f);
        s->f = NULL;
        return rc;
    }
    int rc = fclose(s->f);
    s->f = NULL;
    if (rc != 0)
        return fail_errno(ctx, "close", from);
    if (rename(from, to) != 0)
        return fail_errno(ctx, "rename", from);
    return push_pending(s, (struct pending_file){.n = s->f_n, .chk = chk});
}

/* Publishes pending files pre-committed by checkpoints <= upto. A file staged
 * at end of input (chk 0) waits for the first snapshot after it, which gives it
 * that checkpoint's id: a checkpoint taken before end of input completing then
 * must not publish it, as a restore from that checkpoint replays its records.
 * upto UINT64_MAX (restore, or no checkpointing) publishes everything. */
static int commit_upto(weir_ctx *ctx, struct tpc_sink *s, uint64_t upto)
{
    size_t keep = 0;
    bool any = false;
    for (size_t i = 0; i < s->n_pending; i++) {
        struct pending_file *p = &s->pending[i];
        if (p->chk > upto || (p->chk == 0 && upto != UINT64_MAX)) {
            s->pending[keep++] = *p;
            continue;
        }
        char from[4096], to[4096];
        part_name(from, sizeof from, s, p->n, 1);
        part_name(to, sizeof to, s, p->n, 2);
        if (rename(from, to) != 0 && !(errno == ENOENT && access(to, F_OK) == 0))
            return fail_errno(ctx, "commit", from);
        any = true;
    }
    s->n_pending = keep;
    assert(tpc_check_state(s));
    if (any && s->dirfd >= 0 && fsync(s->dirfd) != 0)
        return fail_errno(ctx, "fsync", s->a->dir);
    return 0;
}

static int tpc_process(weir_ctx *ctx, void *state, int input, const weir_rec *in, weir_emit *out)
{
    struct tpc_sink *s = state;
    if (!s->f) {
        char name[4096];
        s->f_n = s->next_n++;
        part_name(name, sizeof name, s, s->f_n, 0);
        s->f = fopen(name, "we");
        if (!s->f)
            return fail_errno(ctx, "create", name);
        setvbuf(s->f, NULL, _IOFBF, 1 << 16);
    }
    const char *text;
    size_t len;
    int rc = line_format(ctx, s->a->fmt, in, &s->lb, &text, &len);
    if (rc < 0)
        return rc;
    if (fwrite(text, 1, len, s->f) != len || putc('\n', s->f) == EOF) {
        char name[4096];
        part_name(name, sizeof name, s, s->f_n, 0);
        return fail_errno(ctx, "write", name);
    }
    return 0;
}

/* Pre-commit: the in-progress file becomes pending for this checkpoint; the
 * state, one item, lists every pending file and the part counter. */
static int tpc_snapshot(weir_ctx *ctx, void *state, uint64_t id, struct weir_snapshot_out *out)
{
    struct tpc_sink *s = state;
    int rc = roll_to_pending(ctx, s, id);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < s->n_pending; i++)
        if (s->pending[i].chk == 0)
            s->pending[i].chk = id; /* staged at end of input: the first checkpoint after */
    assert(tpc_check_state(s));
    size_t len = 2 * sizeof(uint64_t) + s->n_pending * sizeof *s->pending;
    uint64_t *item = malloc(len);
    if (!item)
        return -ENOMEM;
    item[0] = s->next_n;
    item[1] = s->n_pending;
    if (s->n_pending)
        memcpy(item + 2, s->pending, s->n_pending * sizeof *s->pending);
    rc = weir_snapshot_write_item(out, item, len);
    free(item);
    return rc;
}

/* For weir inspect: one item that tpc_snapshot wrote. */
static int tpc_decode_item(const void *item, size_t len, json_t **out, char *err, size_t errlen)
{
    uint64_t head[2];
    struct pending_file p;
    if (len < sizeof head) {
        errbuf_printf(err, errlen, "a file sink state of %zu bytes, shorter than its %zu-byte "
                      "head", len, sizeof head);
        return -EBADMSG;
    }
    memcpy(head, item, sizeof head);
    if (head[1] > (len - sizeof head) / sizeof p || len != sizeof head + head[1] * sizeof p) {
        errbuf_printf(err, errlen, "a file sink state of %zu bytes does not hold the %" PRIu64
                      " pending files it counts", len, head[1]);
        return -EBADMSG;
    }
    json_t *pending = json_array();
    for (uint64_t i = 0; pending && i < head[1]; i++) {
        memcpy(&p, (const unsigned char *)item + sizeof head + i * sizeof p, sizeof p);
        if (json_array_append_new(pending, json_pack("{s:I, s:I}", "part", (json_int_t)p.n,
                                                     "checkpoint", (json_int_t)p.chk)) < 0) {
            json_decref(pending);
            pending = NULL;
        }
    }
    *out = pending ? json_pack("{s:I, s:o}", "next_part", (json_int_t)head[0], "pending", pending)
                   : NULL;
    return *out ? 0 : -ENOMEM;
}

int weir_file_register_inspect_decoder(void)
{
    return weir_inspect_register_decoder("file-exactly-once", tpc_decode_item);
}

static int tpc_complete(weir_ctx *ctx, void *state, uint64_t id)
{
    return commit_upto(ctx, state, id);
}

/* An old subtask's item: its part counter and its pending files (NULL when it is not one). */
static const struct pending_file *item_pending(const struct weir_state_item *it,
                                               uint64_t hdr[2])
{
    if (it->len < 2 * sizeof(uint64_t))
        return NULL;
    memcpy(hdr, it->data, 2 * sizeof(uint64_t));
    if (hdr[1] > (it->len - 2 * sizeof(uint64_t)) / sizeof(struct pending_file) ||
        it->len != 2 * sizeof(uint64_t) + hdr[1] * sizeof(struct pending_file))
        return NULL;
    return (const struct pending_file *)(const void *)((const uint64_t *)it->data + 2);
}

/* Whether part n of index sub at stage is listed pending by the old subtask sub's item. */
static bool listed(const struct weir_state_item *items, size_t n_items, int sub, uint64_t n,
                   int stage)
{
    for (size_t i = 0; i < n_items && stage == 1; i++) {
        uint64_t hdr[2];
        const struct pending_file *p = item_pending(&items[i], hdr);
        for (uint64_t j = 0; p && items[i].subtask == (uint32_t)sub && j < hdr[1]; j++)
            if (p[j].n == n)
                return true;
    }
    return false;
}

/* Removes the in-progress and pending files of the subtask indexes this subtask handles
 * (k % p) that the restored state does not list: they hold records after the checkpoint.
 * Files of other sinks (another suffix) and of no sink stay. */
static int discard_strays(weir_ctx *ctx, struct tpc_sink *s, const struct weir_state_item *items,
                          size_t n_items)
{
    DIR *d = opendir(s->a->dir);
    if (!d)
        return fail_errno(ctx, "open", s->a->dir);
    struct dirent *de;
    while ((de = readdir(d))) {
        int sub, stage;
        uint64_t n;
        if (!own_name(s, de->d_name, &sub, &n, &stage) || sub % s->parallelism != s->subtask ||
            stage == 2)
            continue;
        if (!listed(items, n_items, sub, n, stage))
            unlinkat(s->dirfd, de->d_name, 0);
    }
    closedir(d);
    return 0;
}

/* Commits the files old subtask sub listed pending: they were pre-committed by a complete
 * checkpoint. */
static int commit_listed(weir_ctx *ctx, struct tpc_sink *s, int sub,
                         const struct pending_file *p, uint64_t n)
{
    bool any = false;
    for (uint64_t i = 0; i < n; i++) {
        char from[4096], to[4096];
        part_name_of(from, sizeof from, s, sub, p[i].n, 1);
        part_name_of(to, sizeof to, s, sub, p[i].n, 2);
        if (rename(from, to) != 0 && !(errno == ENOENT && access(to, F_OK) == 0))
            return fail_errno(ctx, "commit", from);
        any = true;
    }
    if (any && fsync(s->dirfd) != 0)
        return fail_errno(ctx, "fsync", s->a->dir);
    return 0;
}

/* Every old subtask's state (union): the part counter goes on from the highest; the files of
 * the old subtask indexes this one handles are committed or discarded. */
static int tpc_restore(weir_ctx *ctx, void *state, const struct weir_state_item *items,
                       size_t n_items)
{
    struct tpc_sink *s = state;
    s->n_pending = 0;
    for (size_t i = 0; i < n_items; i++) {
        uint64_t hdr[2];
        if (!item_pending(&items[i], hdr)) {
            weir_ctx_fail(ctx,
                          "%s: the state of old subtask %" PRIu32 " (%zu bytes) is not an "
                          "exactly-once file sink's: a checkpoint of another operator under "
                          "uid \"%s\"?",
                          s->a->dir, items[i].subtask, items[i].len, weir_ctx_uid(ctx));
            return -EINVAL;
        }
        if (hdr[0] > s->next_n)
            s->next_n = hdr[0];
    }
    assert(tpc_check_state(s));
    int rc = discard_strays(ctx, s, items, n_items);
    for (size_t i = 0; i < n_items && rc == 0; i++) {
        uint64_t hdr[2];
        const struct pending_file *p = item_pending(&items[i], hdr);
        if (items[i].subtask % (uint32_t)s->parallelism == (uint32_t)s->subtask)
            rc = commit_listed(ctx, s, (int)items[i].subtask, p, hdr[1]);
    }
    return rc;
}

static int tpc_end(weir_ctx *ctx, void *state, weir_emit *out)
{
    struct tpc_sink *s = state;
    int rc = roll_to_pending(ctx, s, 0);
    if (rc == 0 && !weir_ctx_checkpointing(ctx))
        rc = commit_upto(ctx, s, UINT64_MAX);
    return rc;
}

static void tpc_close(weir_ctx *ctx, void *state)
{
    struct tpc_sink *s = state;
    if (s->f)
        fclose(s->f); /* left in progress: a restore discards it */
    if (s->dirfd >= 0)
        close(s->dirfd);
    free(s->pending);
    free(s->lb.line);
}

static const struct weir_operator_ops tpc_ops = {
    .kind = "file-exactly-once",
    .state_size = sizeof(struct tpc_sink),
    .open = tpc_open,
    .process = tpc_process,
    .end = tpc_end,
    .close = tpc_close,
    .snapshot = tpc_snapshot,
    .state_mode = WEIR_STATE_UNION,
    .restore_items = tpc_restore,
    .checkpoint_complete = tpc_complete,
};

static void tpc_args_free(void *p)
{
    struct tpc_args *a = p;
    if (!a)
        return;
    free(a->dir);
    free(a->suffix);
    free(a);
}

weir_stream *weir_sink_file_exactly_once(weir_stream *in, const char *uid, const char *dir,
                                         weir_format_fn fmt, const char *suffix)
{
    if (!in)
        return NULL;
    struct tpc_args *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    a->dir = strdup(dir ? dir : "");
    a->suffix = strdup(suffix ? suffix : "");
    a->fmt = fmt;
    if (!a->dir || !a->suffix) {
        tpc_args_free(a);
        return NULL;
    }
    weir_stream *s = weir_sink(in, uid, &tpc_ops, a);
    if (!s) {
        tpc_args_free(a);
        return NULL;
    }
    weir_stream_own_arg(s, tpc_args_free);
    weir_stream_io_path(s, WEIR_IO_WRITES, a->dir);
    return s;
}
