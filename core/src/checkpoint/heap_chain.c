/*
 * Incremental heap checkpoints (state.backend.incremental: true with the hashmap backend):
 * a subtask's keyed state is a chain of files, a full snapshot then deltas, each written
 * once as a shared file (<job>/shared/, the registry and retention of incremental RocksDB's
 * SSTs) and listed, whole chain in order, by every checkpoint that needs it. Flink's heap
 * backend writes everything every time; its changelog backend is the idea here: only what
 * changed since the previous checkpoint is written, and a full one now and then bounds what
 * a restore replays.
 *
 * What changed is recorded per entry by the backend (state_view.h,
 * weir_keyed_view_pin_incremental): each pin hands the (key, namespace) pairs changed since
 * the previous pin to its view, which writes them as they are at the pin, a tombstone for
 * each that is gone, and a key group that mostly changed whole. Per entry, not per key
 * group: updates spread uniformly touch every key group.
 *
 * A delta is valid only on top of a chain that is complete and retained, so the checkpoint
 * is full (a new chain) whenever that is not certain:
 *   - the first checkpoint of a run, after a restore (at any parallelism) or a restart;
 *   - the previous checkpoint this subtask snapshotted did not complete (it failed, expired,
 *     was aborted or declined: the changes its pin took are in no retained file), or has not
 *     completed yet (concurrent checkpoints: execution.checkpointing.max-concurrent-
 *     checkpoints > 1 falls back to full ones); this is "the last completed checkpoint is not
 *     the one this subtask last pinned";
 *   - the chain has state.backend.incremental.heap.max-chain-length deltas already (0: every
 *     checkpoint is full).
 * Savepoints are always full and in the portable format (a plain hashmap state file); their
 * pin leaves the record alone, so the next checkpoint is still a delta.
 *
 * Files. The state file of chk-N holds the identity, the operator's own state,
 * TAG_HEAP_CHAIN (u32 count, then per file u32 length and its shared name, the full one
 * first) and TAG_TIMERS | kg per key group: timers are written whole every time (they are
 * few next to the state, and a delta of them would need removals recorded too). Each chain
 * file, <state file>-<process nonce>-<checkpoint id>.heap in shared/:
 *   "WEIRHKC1"  u32 version (1)  u32 delta (0 full, 1 delta)  u32 kg_first  u32 kg_last
 *   u64 checkpoint id
 *   per key group of [kg_first, kg_last]: u32 kg  u64 length  the key group's snapshot
 *                                         (state/snapshot.c's format, tombstones in a delta)
 *   u32 0xffffffff
 * It is written by the snapshot's writer thread into <job>/.heap-<name> (the storage's job
 * directory, so that the storage links it into shared/), fsynced, and handed over with
 * weir_ckpt_shared_add; the link is removed when the checkpoint settles. The run nonce is
 * the process's: a .heap- file without it is what a killed process left, removed when a
 * task first writes a chain (the storage's directory lock keeps other processes out).
 *
 * Restore reads, per file of the state file's chain in order, the key groups the new
 * subtask owns (the others are skipped by their length) into the backend: puts overwrite,
 * tombstones remove, a cleared key group is emptied first. Only a hashmap backend takes it
 * (a savepoint changes backends). restore.c does it on several threads: heap_chain_index
 * first walks each file's records (headers and lengths checked, nothing restored), then
 * each thread replays its key groups, each from the full file and the deltas in order.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <weir/config.h>
#include <weir/storage.h>

#include "checkpoint.h"
#include "runtime_private.h"
#include "state_view.h"

#define CHAIN_MAGIC "WEIRHKC1"
#define CHAIN_END   0xffffffffu

/* One operator's chain (per task, per operator; the task's worker only). */
struct heap_chain {
    char **names; /* shared names, the full one first */
    uint32_t n;
    uint64_t base_id; /* the checkpoint whose pin took the record last */
    bool said_whole;  /* a delta of this chain logged its tables written whole */
};

/* This process's, in every chain file name: a killed process's file may hold the same id
 * (ids are unique within a process, across its in-process restarts). */
static char nonce[17];
static pthread_once_t nonce_once = PTHREAD_ONCE_INIT;

static void nonce_init(void)
{
    uint64_t r = 0;
    if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r)
        r = now_ns() ^ ((uint64_t)getpid() << 32);
    snprintf(nonce, sizeof nonce, "%016" PRIx64, r);
}

/* Removes the chain files a killed process left half-linked in the job directory. */
static void remove_leftovers(const char *job)
{
    DIR *d = opendir(job);
    if (!d)
        return;
    for (struct dirent *de; (de = readdir(d));) {
        if (strncmp(de->d_name, ".heap-", 6) != 0 || strstr(de->d_name, nonce))
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", job, de->d_name);
        unlink(path);
    }
    closedir(d);
}

/* What the writer thread needs to write one chain file. */
struct heap_chain_out {
    weir_ckpt *ck;
    char *tmp, *name;
    uint32_t kg_first, kg_last;
    bool delta;
    uint64_t id;
    /* the task's ack slot's size: the chain file counts in the subtask's checkpoint size
     * (pd outlives it: the state file, submitted after the chain is written, holds pd) */
    _Atomic uint64_t *size_bytes;
    char err[512];
};

void heap_chains_free(struct task *t)
{
    if (!t->chk.heap_chains)
        return;
    for (int j = 0; j < t->n_ops; j++) {
        struct heap_chain *c = t->chk.heap_chains[j];
        if (!c)
            continue;
        for (uint32_t i = 0; i < c->n; i++)
            free(c->names[i]);
        free(c->names);
        free(c);
    }
    free(t->chk.heap_chains);
    t->chk.heap_chains = NULL;
}

static struct heap_chain *chain_of(struct op_inst *op)
{
    struct task *t = op->task;
    if (!t->chk.heap_chains) {
        pthread_once(&nonce_once, nonce_init);
        remove_leftovers(weir_storage_job_dir(t->rt->chk.coord->storage));
        if (!(t->chk.heap_chains = calloc((size_t)t->n_ops, sizeof(void *))))
            return NULL;
    }
    int j = (int)(op - t->ops);
    struct heap_chain *c = t->chk.heap_chains[j];
    if (c)
        return c;
    if (!(c = calloc(1, sizeof *c)))
        return NULL;
    t->chk.heap_chains[j] = c;
    return c;
}

static void chain_clear(struct heap_chain *c)
{
    for (uint32_t i = 0; i < c->n; i++)
        free(c->names[i]);
    c->n = 0;
    c->said_whole = false;
}

static int chain_push(struct heap_chain *c, const char *name)
{
    char **v = realloc(c->names, (c->n + 1) * sizeof *v);
    if (!v)
        return -ENOMEM;
    c->names = v;
    if (!(v[c->n] = strdup(name)))
        return -ENOMEM;
    c->n++;
    return 0;
}

void heap_chain_out_free(struct heap_chain_out *o)
{
    if (!o)
        return;
    free(o->tmp);
    free(o->name);
    free(o);
}

/* The chain of this checkpoint in the state file, in pd's shared list (its _metadata) and
 * held by the checkpoint; the new file's link goes when pd settles. */
static int chain_register(struct runtime *rt, struct pending *pd, weir_ckpt_file *f,
                          struct heap_chain *c, struct heap_chain_out *o)
{
    struct weir_snapshot_out *out = weir_ckpt_file_out(f);
    const char *job = weir_storage_job_dir(rt->chk.coord->storage);
    int rc = weir_ckpt_file_section_begin(f, TAG_HEAP_CHAIN);
    if (rc == 0)
        rc = out->write(out, &c->n, sizeof c->n);
    for (uint32_t i = 0; rc == 0 && i < c->n; i++) {
        uint32_t len = (uint32_t)strlen(c->names[i]);
        rc = out->write(out, &len, sizeof len);
        if (rc == 0)
            rc = out->write(out, c->names[i], len);
        if (rc == 0)
            rc = rocks_shared_list_add(&pd->shared, c->names[i]);
        if (rc == 0 && i + 1 < c->n) {
            /* already in shared/ for the checkpoint before: held again, not copied */
            char path[4096];
            snprintf(path, sizeof path, "%s/shared/%s", job, c->names[i]);
            rc = weir_ckpt_shared_add(pd->ck, path, c->names[i]);
        }
    }
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&pd->tmp_lock);
    char **v = realloc(pd->tmp_dirs, (pd->n_tmp + 1) * sizeof *v);
    char *tmp = v ? strdup(o->tmp) : NULL;
    if (v)
        pd->tmp_dirs = v;
    if (tmp)
        pd->tmp_dirs[pd->n_tmp++] = tmp;
    pthread_mutex_unlock(&pd->tmp_lock);
    return tmp ? 0 : -ENOMEM;
}

/* Says why, when a checkpoint is larger than the changes since the last one for a reason
 * other than the first of a run or the configured chain length: a full one after a
 * checkpoint that did not complete, or key-group tables a delta writes whole (once per
 * chain: a job that changes most of its state would say it at every checkpoint). */
static void why_full_or_whole(struct op_inst *op, uint64_t id, struct heap_chain *c, int64_t max,
                              weir_keyed_view *v)
{
    struct runtime *rt = op->task->rt;
    const char *uid = op->node->uid;
    int sub = op->task->subtask;
    if (!weir_keyed_view_is_delta(v)) {
        if (c->n > 0 && (int64_t)c->n <= max)
            chk_log(rt,
                    "checkpoint %" PRIu64 ": operator %s subtask %d: heap state written in full, "
                    "not as a delta: checkpoint %" PRIu64 ", the one it would follow, did not "
                    "complete (failed, expired or aborted, or still in flight: "
                    "execution.checkpointing.max-concurrent-checkpoints)",
                    id, uid, sub, c->base_id);
        return;
    }
    struct weir_keyed_delta_info di;
    weir_keyed_view_delta_info(v, &di);
    if (di.tables_mostly + di.tables_nomem == 0 || c->said_whole)
        return;
    c->said_whole = true;
    chk_log(rt,
            "checkpoint %" PRIu64 ": operator %s subtask %d: the delta writes %u key-group "
            "tables whole (%" PRIu64 " entries, beside %" PRIu64 " changed ones): %u had more than "
            "half their entries changed, %u had no room in memory.task.heap.size for their "
            "change set (said once per chain of deltas)",
            id, uid, sub, di.tables_mostly + di.tables_nomem, di.entries_whole, di.entries,
            di.tables_mostly, di.tables_nomem);
}

int heap_chain_begin(struct op_inst *op, struct pending *pd, uint64_t id, weir_ckpt_file *f,
                     const char *file_base, uint32_t kg_first, uint32_t kg_last,
                     weir_keyed_view **view, struct heap_chain_out **out)
{
    struct runtime *rt = op->task->rt;
    struct heap_chain *c = chain_of(op);
    struct heap_chain_out *o = calloc(1, sizeof *o);
    if (!c || !o) {
        free(o);
        return -ENOMEM;
    }
    int64_t max = weir_config_get_int(rt->cfg, "state.backend.incremental.heap.max-chain-length");
    bool delta = c->n > 0 && (int64_t)c->n <= max &&
                 atomic_load(&rt->job->chk.last_checkpoint_id) == c->base_id;
    int rc = weir_keyed_view_pin_incremental(op->backend, delta, view);
    if (rc < 0) {
        free(o);
        return rc;
    }
    why_full_or_whole(op, id, c, max, *view);
    c->base_id = id;
    if (!weir_keyed_view_is_delta(*view))
        chain_clear(c);
    *o = (struct heap_chain_out){.ck = pd->ck,
                                 .kg_first = kg_first,
                                 .kg_last = kg_last,
                                 .delta = weir_keyed_view_is_delta(*view),
                                 .id = id,
                                 .size_bytes = &pd->acks[op->task->index].size_bytes};
    if (asprintf(&o->name, "%s-%s-%" PRIu64 ".heap", file_base, nonce, id) < 0)
        o->name = NULL;
    if (!o->name ||
        asprintf(&o->tmp, "%s/.heap-%s", weir_storage_job_dir(rt->chk.coord->storage), o->name) < 0)
        o->tmp = NULL;
    rc = o->tmp ? chain_push(c, o->name) : -ENOMEM;
    if (rc == 0)
        rc = chain_register(rt, pd, f, c, o);
    if (rc < 0) {
        chain_clear(c); /* base_id is this checkpoint's, which fails: the next one is full */
        weir_keyed_view_release(*view);
        *view = NULL;
        heap_chain_out_free(o);
        return rc;
    }
    *out = o;
    return 0;
}

/* ---- the writer thread: one chain file ---------------------------------------------------- */

struct fout {
    FILE *fp;
};

static int fout_write(struct weir_snapshot_out *o, const void *p, size_t n)
{
    struct fout *f = o->arg;
    return fwrite(p, 1, n, f->fp) == n ? 0 : -EIO;
}

static int write_kgs(struct heap_chain_out *o, weir_keyed_view *v, FILE *fp)
{
    struct fout fo = {.fp = fp};
    struct weir_snapshot_out out = {.write = fout_write, .arg = &fo};
    uint32_t head[4] = {1, o->delta, o->kg_first, o->kg_last};
    int rc = fwrite(CHAIN_MAGIC, 1, 8, fp) == 8 &&
                     fwrite(head, 1, sizeof head, fp) == sizeof head &&
                     fwrite(&o->id, 1, 8, fp) == 8
                 ? 0
                 : -EIO;
    for (uint32_t kg = o->kg_first; rc == 0 && kg <= o->kg_last; kg++) {
        uint64_t len = 0;
        off_t at = ftello(fp);
        if (fwrite(&kg, 1, 4, fp) != 4 || fwrite(&len, 1, 8, fp) != 8)
            return -EIO;
        rc = weir_keyed_view_snapshot_key_group(v, kg, &out);
        if (rc < 0) {
            snprintf(o->err, sizeof o->err, "%s", weir_keyed_view_error(v));
            return rc;
        }
        off_t end = ftello(fp);
        len = (uint64_t)(end - at - 12);
        if (fseeko(fp, at + 4, SEEK_SET) < 0 || fwrite(&len, 1, 8, fp) != 8 ||
            fseeko(fp, end, SEEK_SET) < 0)
            return -EIO;
    }
    uint32_t z = CHAIN_END;
    return rc == 0 && fwrite(&z, 1, 4, fp) != 4 ? -EIO : rc;
}

int heap_chain_write(struct heap_chain_out *o, weir_keyed_view *v)
{
    FILE *fp = fopen(o->tmp, "wbx");
    int rc = fp ? 0 : -errno;
    off_t size = 0;
    if (fp) {
        rc = write_kgs(o, v, fp);
        if (rc == 0 && (size = ftello(fp)) < 0)
            rc = -errno;
        if (rc == 0 && (fflush(fp) != 0 || fsync(fileno(fp)) < 0))
            rc = -errno;
        if (fclose(fp) != 0 && rc == 0)
            rc = -errno;
    }
    if (rc < 0 && !o->err[0])
        snprintf(o->err, sizeof o->err, "state.checkpoints.dir: %s: %s", o->tmp, strerror(-rc));
    if (rc == 0)
        rc = weir_ckpt_shared_add(o->ck, o->tmp, o->name);
    if (rc == 0) /* a new name: the checkpoint's new shared bytes count it too */
        atomic_fetch_add(o->size_bytes, (uint64_t)size);
    return rc;
}

const char *heap_chain_error(const struct heap_chain_out *o)
{
    return o->err;
}

/* ---- restore ------------------------------------------------------------------------------ */

struct fin {
    FILE *fp;
    uint64_t left; /* of the key group's record */
};

static int fin_read(struct weir_snapshot_in *in, void *p, size_t n)
{
    struct fin *f = in->arg;
    if (n > f->left)
        return -EIO;
    if (fread(p, 1, n, f->fp) != n)
        return -EIO;
    f->left -= n;
    return 0;
}

bool heap_chain_file(weir_restore_file *f)
{
    size_t i;
    return weir_restore_file_find(f, TAG_HEAP_CHAIN, &i) == 0;
}

/* One chain file's key groups [a, b] into be. */
#define CHAIN_NAME_MAX 256

/* The next file name of a chain section into name (CHAIN_NAME_MAX bytes): 0, or -EBADMSG with
 * err saying the section of e's file is corrupt. */
static int chain_name_read(struct weir_snapshot_in *in, char *name, weir_restore *r,
                           const struct weir_ckpt_entry *e, char *err, size_t errlen)
{
    uint32_t len;
    int rc = in->read(in, &len, sizeof len);
    if (rc == 0 && len >= CHAIN_NAME_MAX)
        rc = -EBADMSG;
    if (rc == 0)
        rc = in->read(in, name, len);
    if (rc < 0) {
        snprintf(err, errlen, "%s/%s: its heap chain section is corrupt", weir_restore_dir(r),
                 e->file);
        return -EBADMSG;
    }
    name[len] = '\0';
    return 0;
}

static int restore_one(weir_keyed_backend *be, FILE *fp, const struct weir_ckpt_entry *e,
                       bool first, uint32_t a, uint32_t b, char *why, size_t whylen)
{
    char magic[8];
    uint32_t head[4];
    uint64_t id;
    if (fread(magic, 1, 8, fp) != 8 || memcmp(magic, CHAIN_MAGIC, 8) != 0 ||
        fread(head, 1, sizeof head, fp) != sizeof head || fread(&id, 1, 8, fp) != 8) {
        snprintf(why, whylen, "not a heap chain file");
        return -EBADMSG;
    }
    if (head[0] != 1 || head[1] != !first || head[2] != e->kg_first || head[3] != e->kg_last) {
        snprintf(why, whylen,
                 "the file holds a %s of key groups %u..%u (version %u), not the %s of %u..%u "
                 "the chain needs here",
                 head[1] ? "delta" : "full snapshot", head[2], head[3], head[0],
                 first ? "full snapshot" : "delta", e->kg_first, e->kg_last);
        return -EBADMSG;
    }
    for (;;) {
        uint32_t kg;
        uint64_t len;
        if (fread(&kg, 1, 4, fp) != 4)
            break;
        if (kg == CHAIN_END)
            return 0;
        if (fread(&len, 1, 8, fp) != 8 || kg < e->kg_first || kg > e->kg_last)
            break;
        if (kg < a || kg > b) {
            if (fseeko(fp, (off_t)len, SEEK_CUR) < 0)
                break;
            continue;
        }
        struct fin fi = {.fp = fp, .left = len};
        struct weir_snapshot_in in = {.read = fin_read, .arg = &fi};
        int rc = weir_keyed_backend_restore_key_group(be, kg, &in);
        if (rc < 0) {
            snprintf(why, whylen, "%s", weir_keyed_backend_error(be));
            return rc;
        }
        if (fi.left)
            break;
    }
    snprintf(why, whylen, "the file is truncated or corrupt");
    return -EBADMSG;
}

int heap_chain_restore(weir_keyed_backend *be, weir_restore *r, weir_restore_file *f,
                       const struct weir_ckpt_entry *e, uint32_t a, uint32_t b, char *err,
                       size_t errlen)
{
    if (!weir_keyed_view_applies(be)) {
        snprintf(err, errlen,
                 "operator \"%s\": an incremental heap checkpoint restores only with "
                 "state.backend: hashmap (take a savepoint to change backends)",
                 e->operator_uid);
        return -EINVAL;
    }
    size_t sec;
    weir_restore_file_find(f, TAG_HEAP_CHAIN, &sec);
    struct weir_snapshot_in *in = weir_restore_file_section_in(f, sec);
    uint32_t n;
    int rc = in->read(in, &n, sizeof n);
    for (uint32_t i = 0; rc == 0 && i < n; i++) {
        char name[CHAIN_NAME_MAX], path[4096], why[768] = "";
        if (chain_name_read(in, name, r, e, err, errlen) < 0)
            return -EBADMSG;
        rc = weir_restore_shared_path(r, name, path, sizeof path);
        FILE *fp = rc == 0 ? fopen(path, "rb") : NULL;
        if (rc == 0 && !fp)
            rc = -errno;
        if (fp) {
            rc = restore_one(be, fp, e, i == 0, a, b, why, sizeof why);
            fclose(fp);
        }
        if (rc < 0)
            snprintf(err, errlen, "operator \"%s\": restoring heap chain file %u of %u, %s: %s",
                     e->operator_uid, i + 1, n, fp ? path : name, why[0] ? why : strerror(-rc));
    }
    return rc;
}

/* ---- restore on several threads ------------------------------------------------------------ */

struct heap_chain_kgs {
    const char *uid;
    uint32_t a, b, nfiles;
    int *fd;             /* per file, shared by the threads (pread) */
    char (*path)[4096];  /* per file, for the error line */
    uint64_t *off, *len; /* [file * (b - a + 1) + kg - a]; len UINT64_MAX: not in that file */
};

void heap_chain_kgs_free(struct heap_chain_kgs *c)
{
    if (!c)
        return;
    for (uint32_t i = 0; i < c->nfiles; i++)
        if (c->fd[i] >= 0)
            close(c->fd[i]);
    free(c->fd);
    free(c->path);
    free(c->off);
    free(c->len);
    free(c);
}

static int pread_full(int fd, void *buf, size_t len, uint64_t off)
{
    uint8_t *p = buf;
    while (len) {
        ssize_t n = pread(fd, p, len, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -errno : -EIO;
        p += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return 0;
}

/* Chain file i's header (as restore_one checks it) and where each key group of [a, b] is. */
static int index_one(struct heap_chain_kgs *c, uint32_t i, const struct weir_ckpt_entry *e,
                     char *why, size_t whylen)
{
    int fd = c->fd[i];
    struct stat st;
    uint8_t h[32];
    if (fstat(fd, &st) < 0)
        return -errno;
    uint64_t size = (uint64_t)st.st_size, pos = sizeof h;
    uint32_t head[4];
    if (pread_full(fd, h, sizeof h, 0) < 0 || memcmp(h, CHAIN_MAGIC, 8) != 0) {
        snprintf(why, whylen, "not a heap chain file");
        return -EBADMSG;
    }
    memcpy(head, h + 8, sizeof head);
    bool first = i == 0;
    if (head[0] != 1 || head[1] != !first || head[2] != e->kg_first || head[3] != e->kg_last) {
        snprintf(why, whylen,
                 "the file holds a %s of key groups %u..%u (version %u), not the %s of %u..%u "
                 "the chain needs here",
                 head[1] ? "delta" : "full snapshot", head[2], head[3], head[0],
                 first ? "full snapshot" : "delta", e->kg_first, e->kg_last);
        return -EBADMSG;
    }
    uint32_t span = c->b - c->a + 1;
    for (;;) {
        uint8_t rec[12];
        uint32_t kg;
        uint64_t len;
        if (size - pos < 4 || pread_full(fd, rec, 4, pos) < 0)
            break;
        memcpy(&kg, rec, 4);
        if (kg == CHAIN_END)
            return 0;
        if (size - pos < 12 || pread_full(fd, rec, 12, pos) < 0)
            break;
        memcpy(&len, rec + 4, 8);
        pos += 12;
        if (kg < e->kg_first || kg > e->kg_last || len > size - pos)
            break;
        if (kg >= c->a && kg <= c->b) {
            c->off[(size_t)i * span + kg - c->a] = pos;
            c->len[(size_t)i * span + kg - c->a] = len;
        }
        pos += len;
    }
    snprintf(why, whylen, "the file is truncated or corrupt");
    return -EBADMSG;
}

int heap_chain_index(weir_restore *r, weir_restore_file *f, const struct weir_ckpt_entry *e,
                     uint32_t a, uint32_t b, struct heap_chain_kgs **out, char *err, size_t errlen)
{
    size_t sec;
    *out = NULL;
    weir_restore_file_find(f, TAG_HEAP_CHAIN, &sec);
    struct weir_snapshot_in *in = weir_restore_file_section_in(f, sec);
    uint32_t n;
    int rc = in->read(in, &n, sizeof n);
    if (rc == 0 && n > 1u << 16)
        rc = -EBADMSG;
    struct heap_chain_kgs *c = rc == 0 ? calloc(1, sizeof *c) : NULL;
    uint32_t span = b - a + 1;
    if (rc == 0 && (!c || !(c->fd = malloc((n ? n : 1) * sizeof *c->fd)) ||
                    !(c->path = calloc(n ? n : 1, sizeof *c->path)) ||
                    !(c->off = calloc((size_t)(n ? n : 1) * span, sizeof *c->off)) ||
                    !(c->len = malloc((size_t)(n ? n : 1) * span * sizeof *c->len)))) {
        heap_chain_kgs_free(c);
        return -ENOMEM;
    }
    if (rc < 0) {
        snprintf(err, errlen, "%s/%s: its heap chain section is corrupt", weir_restore_dir(r),
                 e->file);
        return -EBADMSG;
    }
    c->uid = e->operator_uid;
    c->a = a;
    c->b = b;
    for (size_t k = 0; k < (size_t)n * span; k++)
        c->len[k] = UINT64_MAX;
    for (uint32_t i = 0; i < n; i++)
        c->fd[i] = -1;
    c->nfiles = n;
    for (uint32_t i = 0; rc == 0 && i < n; i++) {
        char name[CHAIN_NAME_MAX], why[768] = "";
        if (chain_name_read(in, name, r, e, err, errlen) < 0) {
            heap_chain_kgs_free(c);
            return -EBADMSG;
        }
        rc = weir_restore_shared_path(r, name, c->path[i], sizeof c->path[i]);
        if (rc == 0 && (c->fd[i] = open(c->path[i], O_RDONLY | O_CLOEXEC)) < 0)
            rc = -errno;
        if (rc == 0)
            rc = index_one(c, i, e, why, sizeof why);
        if (rc < 0)
            snprintf(err, errlen, "operator \"%s\": restoring heap chain file %u of %u, %s: %s",
                     e->operator_uid, i + 1, n, c->fd[i] >= 0 ? c->path[i] : name,
                     why[0] ? why : strerror(-rc));
    }
    if (rc < 0) {
        heap_chain_kgs_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

/* A key group's record in a chain file, read with pread (the file's fd is shared). */
struct kg_in {
    int fd;
    uint64_t pos, end;
};

static int kg_read(struct weir_snapshot_in *in, void *p, size_t n)
{
    struct kg_in *k = in->arg;
    if (n > k->end - k->pos)
        return -EIO;
    int rc = pread_full(k->fd, p, n, k->pos);
    if (rc < 0)
        return rc;
    k->pos += n;
    return 0;
}

static uint64_t kg_remaining(struct weir_snapshot_in *in)
{
    const struct kg_in *k = in->arg;
    return k->end - k->pos;
}

int heap_chain_restore_kg(const struct heap_chain_kgs *c, weir_keyed_backend *be, uint32_t kg,
                          struct weir_restore_scratch *sc, char *err, size_t errlen)
{
    uint32_t span = c->b - c->a + 1;
    for (uint32_t i = 0; i < c->nfiles; i++) {
        size_t k = (size_t)i * span + kg - c->a;
        if (c->len[k] == UINT64_MAX)
            continue;
        struct kg_in ki = {.fd = c->fd[i], .pos = c->off[k], .end = c->off[k] + c->len[k]};
        struct weir_snapshot_in in = {.read = kg_read, .arg = &ki, .remaining = kg_remaining};
        int rc = weir_keyed_backend_restore_key_group_scratch(be, kg, &in, sc);
        if (rc < 0) {
            snprintf(err, errlen, "operator \"%s\": restoring heap chain file %u of %u, %s: %s",
                     c->uid, i + 1, c->nfiles, c->path[i], sc->err[0] ? sc->err : strerror(-rc));
            return rc;
        }
    }
    return 0;
}
