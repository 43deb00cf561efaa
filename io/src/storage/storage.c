/*
 * Checkpoint storage: control and worker side (the io thread is storage_io.c, reading back
 * is storage_restore.c, the file format storage_format.c).
 *
 * Three threads meet here: the control thread (begin, commit, abort, restore), workers
 * (state files) and the io thread (everything that touches the disk while checkpoints are
 * written). They talk through one FIFO of requests to the io thread (q_lock, woken by an
 * eventfd the io thread keeps a read armed on) and, back, through callbacks, s->cond and
 * the buffer pool.
 *
 * The storage:
 *
 *     READY ──(io_uring itself fails)──▶ BROKEN ──┐
 *       └──────────────(close)────────────────────┴──▶ CLOSING
 *
 *   READY   checkpoints can be begun.
 *   BROKEN  sticky: the io thread lost its ring; every checkpoint fails with -EIO.
 *   CLOSING weir_storage_close: the io thread drains and exits.
 *
 * A checkpoint (or savepoint), ck->state under s->lock:
 *
 *     WRITING ──(weir_ckpt_commit)──▶ COMMITTING ──(io: _metadata renamed, dir fsynced)──▶ COMPLETE
 *        │                               │
 *        └──(write/fsync error, abort,───┴──▶ FAILED
 *            file abort, close)
 *
 *   WRITING     weir_ckpt_begin. Files are opened (weir_ckpt_file_open counts them) and
 *               written; the io thread makes the directory (BEGIN) and the files.
 *   COMMITTING  weir_ckpt_commit cloned the metadata. The io thread waits until every
 *               opened file is durable, then checks the metadata, sets chain_started and
 *               writes _metadata through a linked chain (storage_io.c: ck_try_commit). From
 *               chain_started on, only the chain's outcome decides (abort gets -EALREADY).
 *   COMPLETE    the chain succeeded; retention runs (storage_io.c: retention).
 *   FAILED      status holds the first error (sticky; workers see it lock-free on their
 *               next call); once no operation of it is in flight the io thread removes its
 *               directory (storage_io.c: ck_try_settle).
 *
 *   settled     COMPLETE, or FAILED and cleaned up; done() has run, weir_ckpt_wait returns.
 *
 * A state file: opened (worker fills buffers; full ones go to the io thread) → submitted
 * or aborted (the io thread owns it) → durable (written, fsynced; file_done) or failed →
 * freed once the worker has let go and no write of it is in flight.
 */
#include "storage_impl.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <weir/config.h>

#define DEFAULT_BUF_SIZE (1u << 20)
#define DEFAULT_POOL     (64u << 20)
#define DEFAULT_DEPTH    64u

static void seterr(char *err, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void seterr(char *err, size_t len, const char *fmt, ...)
{
    if (!err || !len)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, len, fmt, ap);
    va_end(ap);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void storage_log(struct weir_storage *s, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (s->log)
        s->log(s->log_arg, line);
    else
        fprintf(stderr, "weir: %s\n", line);
}

const char *weir_storage_state_str(const weir_storage *s)
{
    switch (atomic_load(&((weir_storage *)s)->state)) {
    case ST_READY:
        return "ready";
    case ST_BROKEN:
        return "broken";
    case ST_CLOSING:
        return "closing";
    }
    return "?";
}

static bool storage_check_state(const weir_storage *s)
{
    int st = atomic_load(&((weir_storage *)s)->state);
    return (st == ST_READY || st == ST_BROKEN || st == ST_CLOSING) && s->job_fd >= 0 &&
           s->shared_fd >= 0 && s->num_retained >= 1 && s->buf_size % FMT_ALIGN == 0;
}

const char *weir_ckpt_state_str(enum weir_ckpt_state st)
{
    switch (st) {
    case WEIR_CKPT_WRITING:
        return "writing";
    case WEIR_CKPT_COMMITTING:
        return "committing";
    case WEIR_CKPT_COMPLETE:
        return "complete";
    case WEIR_CKPT_FAILED:
        return "failed";
    }
    return "?";
}

/* The invariants of the table at the top; caller holds s->lock. */
bool ck_check_state(const struct weir_ckpt *ck)
{
    int status = atomic_load(&((struct weir_ckpt *)ck)->status);
    switch (ck->state) {
    case WEIR_CKPT_WRITING:
        return status == 0 && !ck->chain_started && !ck->settled && !ck->commit_meta;
    case WEIR_CKPT_COMMITTING:
        return status == 0 && !ck->settled && ck->commit_meta;
    case WEIR_CKPT_COMPLETE:
        return status == 0 && ck->chain_started && ck->files_durable == ck->files_opened;
    case WEIR_CKPT_FAILED:
        return status < 0;
    }
    return false;
}

const char *ck_key(const struct weir_ckpt *ck)
{
    return ck->savepoint ? "savepoint" : "state.checkpoints.dir";
}

/* --- buffer pool --------------------------------------------------------------------- */

/* A worker's only wait: every buffer of the pool is queued or being written. The io
 * thread's pool_put signals pool_cond. */
static struct sbuf *pool_get(weir_storage *s, int *err)
{
    uint64_t t0 = 0;
    pthread_mutex_lock(&s->pool_lock);
    while (!s->pool_free) {
        if (atomic_load(&s->state) == ST_BROKEN) {
            pthread_mutex_unlock(&s->pool_lock);
            *err = -EIO;
            return NULL;
        }
        if (!t0) {
            t0 = now_ns();
            s->pool_waits++;
        }
        pthread_cond_wait(&s->pool_cond, &s->pool_lock);
    }
    if (t0)
        s->pool_wait_ns += now_ns() - t0;
    struct sbuf *b = s->pool_free;
    s->pool_free = b->free_next;
    s->pool_in_use++;
    pthread_mutex_unlock(&s->pool_lock);
    b->file = NULL;
    b->done = 0;
    return b;
}

/* The whole pool, mapped and faulted in once at open: a page fault per 4 KiB on the
 * workers' path would cost more than the copy itself. */
static int pool_init(weir_storage *s)
{
    size_t n = s->pool_max / s->buf_size;
    s->pool_map_len = n * s->buf_size;
    s->pool_map = mmap(NULL, s->pool_map_len, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (s->pool_map == MAP_FAILED) {
        s->pool_map = NULL;
        return -errno;
    }
    s->pool_descs = calloc(n, sizeof *s->pool_descs);
    if (!s->pool_descs)
        return -ENOMEM;
    for (size_t i = n; i-- > 0;) {
        struct sbuf *b = &s->pool_descs[i];
        b->data = (uint8_t *)s->pool_map + i * s->buf_size;
        b->free_next = s->pool_free;
        s->pool_free = b;
    }
    s->pool_allocated = n;
    return 0;
}

void pool_put(weir_storage *s, struct sbuf *b)
{
    if (b->one_off) {
        free(b->data);
        free(b);
        return;
    }
    pthread_mutex_lock(&s->pool_lock);
    b->free_next = s->pool_free;
    s->pool_free = b;
    s->pool_in_use--;
    pthread_cond_signal(&s->pool_cond);
    pthread_mutex_unlock(&s->pool_lock);
}

/* --- the request queue ----------------------------------------------------------------- */

/* The eventfd write pairs with the io thread's armed read: it is needed only when the
 * queue was empty, because the io thread takes the whole queue each time it wakes. */
static void enqueue(weir_storage *s, struct req *r)
{
    bool was_empty;
    r->next = NULL;
    pthread_mutex_lock(&s->q_lock);
    was_empty = s->q_head == NULL;
    if (s->q_tail)
        s->q_tail->next = r;
    else
        s->q_head = r;
    s->q_tail = r;
    pthread_mutex_unlock(&s->q_lock);
    if (was_empty) {
        uint64_t one = 1;
        while (write(s->efd, &one, sizeof one) < 0 && errno == EINTR)
            ;
    }
}

/* --- registry of shared files (callers hold s->lock) ---------------------------------- */

static size_t name_hash(const char *name, size_t buckets)
{
    return (size_t)(XXH3_64bits(name, strlen(name)) & (buckets - 1));
}

struct reg_ent *reg_find(weir_storage *s, const char *name)
{
    if (!s->reg)
        return NULL;
    for (struct reg_ent *e = s->reg[name_hash(name, s->reg_buckets)]; e; e = e->next)
        if (strcmp(e->name, name) == 0)
            return e;
    return NULL;
}

struct reg_ent *reg_add(weir_storage *s, const char *name, uint64_t size, uint64_t checksum)
{
    struct reg_ent *e = reg_find(s, name);
    if (e)
        return e;
    if (s->reg_count + 1 > s->reg_buckets) {
        size_t nb = s->reg_buckets ? 2 * s->reg_buckets : 64;
        struct reg_ent **t = calloc(nb, sizeof *t);
        if (!t)
            return NULL;
        for (size_t i = 0; i < s->reg_buckets; i++) {
            for (struct reg_ent *x = s->reg[i], *nx; x; x = nx) {
                nx = x->next;
                size_t h = name_hash(x->name, nb);
                x->next = t[h];
                t[h] = x;
            }
        }
        free(s->reg);
        s->reg = t;
        s->reg_buckets = nb;
    }
    size_t n = strlen(name);
    e = calloc(1, sizeof *e + n + 1);
    if (!e)
        return NULL;
    memcpy(e->name, name, n + 1);
    e->size = size;
    e->checksum = checksum;
    size_t h = name_hash(name, s->reg_buckets);
    e->next = s->reg[h];
    s->reg[h] = e;
    s->reg_count++;
    return e;
}

void reg_remove(weir_storage *s, struct reg_ent *e)
{
    struct reg_ent **pp = &s->reg[name_hash(e->name, s->reg_buckets)];
    while (*pp && *pp != e)
        pp = &(*pp)->next;
    if (*pp) {
        *pp = e->next;
        s->reg_count--;
        free(e);
    }
}

bool retained_has(weir_storage *s, uint64_t id)
{
    for (size_t i = 0; i < s->nret; i++)
        if (s->ret[i].id == id)
            return true;
    return false;
}

/* Counts the shared files m lists, once per checkpoint. */
int retained_add(weir_storage *s, uint64_t id, const struct weir_ckpt_meta *m)
{
    if (retained_has(s, id))
        return 0;
    if (s->nret == s->capret) {
        size_t cap = s->capret ? 2 * s->capret : 8;
        struct retained *r = realloc(s->ret, cap * sizeof *r);
        if (!r)
            return -ENOMEM;
        s->ret = r;
        s->capret = cap;
    }
    struct retained r = {.id = id};
    r.shared = calloc(m->shared_count ? m->shared_count : 1, sizeof *r.shared);
    if (!r.shared)
        return -ENOMEM;
    for (size_t i = 0; i < m->shared_count; i++) {
        struct reg_ent *e =
            reg_add(s, m->shared[i].name, m->shared[i].size_bytes, m->shared[i].checksum);
        if (!e || !(r.shared[r.nshared] = strdup(m->shared[i].name))) {
            for (size_t j = 0; j < r.nshared; j++) {
                reg_find(s, r.shared[j])->refs--;
                free(r.shared[j]);
            }
            free(r.shared);
            return -ENOMEM;
        }
        e->refs++;
        r.nshared++;
    }
    size_t at = s->nret;
    while (at > 0 && s->ret[at - 1].id > id)
        at--;
    memmove(&s->ret[at + 1], &s->ret[at], (s->nret - at) * sizeof *s->ret);
    s->ret[at] = r;
    s->nret++;
    return 0;
}

/* Forgets retained checkpoint i; its shared files lose one reference (sweep_shared deletes
 * the ones nothing holds). */
void retained_drop_at(weir_storage *s, size_t i)
{
    struct retained *r = &s->ret[i];
    for (size_t j = 0; j < r->nshared; j++) {
        struct reg_ent *e = reg_find(s, r->shared[j]);
        if (e && e->refs)
            e->refs--;
        free(r->shared[j]);
    }
    free(r->shared);
    memmove(&s->ret[i], &s->ret[i + 1], (s->nret - i - 1) * sizeof *s->ret);
    s->nret--;
}

unsigned weir_storage_shared_refs(weir_storage *s, const char *name)
{
    pthread_mutex_lock(&s->lock);
    struct reg_ent *e = reg_find(s, name);
    unsigned n = e ? e->refs + e->pins : 0;
    pthread_mutex_unlock(&s->lock);
    return n;
}

/* --- filesystem helpers ---------------------------------------------------------------- */

int rm_rf_at(int dirfd, const char *name)
{
    int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOTDIR || errno == ELOOP)
            return unlinkat(dirfd, name, 0) < 0 && errno != ENOENT ? -errno : 0;
        return errno == ENOENT ? 0 : -errno;
    }
    DIR *d = fdopendir(fd);
    if (!d) {
        int e = errno;
        close(fd);
        return -e;
    }
    int rc = 0;
    /* _metadata goes first: a directory caught half-deleted by a crash is then incomplete,
     * never a complete checkpoint with files missing. */
    if (unlinkat(fd, "_metadata", 0) < 0 && errno != ENOENT)
        rc = -errno;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        int r = (de->d_type == DT_DIR) ? rm_rf_at(fd, de->d_name)
                                       : (unlinkat(fd, de->d_name, 0) < 0 ? -errno : 0);
        if (r == -EISDIR)
            r = rm_rf_at(fd, de->d_name);
        if (r < 0 && r != -ENOENT && !rc)
            rc = r;
    }
    closedir(d);
    if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT && !rc)
        rc = -errno;
    return rc;
}

int mkdir_p(const char *path)
{
    char *p = strdup(path);
    if (!p)
        return -ENOMEM;
    int rc = 0;
    for (char *q = p + 1;; q++) {
        if (*q == '/' || *q == '\0') {
            char c = *q;
            *q = '\0';
            if (mkdir(p, 0755) < 0 && errno != EEXIST) {
                rc = -errno;
                break;
            }
            *q = c;
            if (!c)
                break;
        }
    }
    if (!rc) {
        struct stat st;
        if (stat(path, &st) < 0)
            rc = -errno;
        else if (!S_ISDIR(st.st_mode))
            rc = -ENOTDIR;
    }
    free(p);
    return rc;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* "chk-" followed by decimal digits only, no leading zero: what begin creates. */
static bool parse_chk(const char *name, uint64_t *id)
{
    if (strncmp(name, "chk-", 4) != 0 || name[4] < '1' || name[4] > '9')
        return false;
    uint64_t v = 0;
    for (const char *p = name + 4; *p; p++) {
        if (*p < '0' || *p > '9' || v > (UINT64_MAX - 9) / 10)
            return false;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    *id = v;
    return true;
}

int list_checkpoints(int job_fd, uint64_t **ids, size_t *n)
{
    int fd = openat(job_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    DIR *d = fdopendir(fd);
    if (!d) {
        int e = errno;
        close(fd);
        return -e;
    }
    size_t cap = 16, cnt = 0;
    uint64_t *v = malloc(cap * sizeof *v);
    struct dirent *de;
    while (v && (de = readdir(d))) {
        uint64_t id;
        if (!parse_chk(de->d_name, &id))
            continue;
        if (cnt == cap) {
            uint64_t *nv = realloc(v, 2 * cap * sizeof *v);
            if (!nv) {
                free(v);
                v = NULL;
                break;
            }
            v = nv;
            cap *= 2;
        }
        v[cnt++] = id;
    }
    closedir(d);
    if (!v)
        return -ENOMEM;
    qsort(v, cnt, sizeof *v, cmp_u64);
    *ids = v;
    *n = cnt;
    return 0;
}

/* --- open and close -------------------------------------------------------------------- */

static bool job_name_ok(const char *job)
{
    return job && *job && strcmp(job, ".") && strcmp(job, "..") && !strchr(job, '/') &&
           strlen(job) <= 200;
}

static char *path_join(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s%s%s", a, (*a && a[strlen(a) - 1] == '/') ? "" : "/", b);
    return p;
}

int weir_storage_open(const struct weir_storage_opts *o, weir_storage **out, char *err,
                      size_t errlen)
{
    weir_storage *s = NULL;
    int rc = -ENOMEM;
    char tmpdir[512];

    *out = NULL;
    if (!job_name_ok(o->job)) {
        seterr(err, errlen, "job name: %s: not usable as a directory name",
               o->job ? o->job : "(null)");
        return -EINVAL;
    }
    size_t bs = o->buffer_size ? o->buffer_size : DEFAULT_BUF_SIZE;
    if (bs % FMT_ALIGN || bs > FMT_MAX_BLOCK) {
        seterr(err, errlen, "checkpoint buffer size %zu: expected a multiple of %u", bs, FMT_ALIGN);
        return -EINVAL;
    }
    if (!(s = calloc(1, sizeof *s)))
        goto nomem;
    s->job_fd = s->shared_fd = s->efd = -1;
    s->buf_size = bs;
    s->pool_max = o->pool_bytes ? o->pool_bytes : DEFAULT_POOL;
    if (s->pool_max < 2 * bs)
        s->pool_max = 2 * bs;
    s->depth = o->queue_depth ? o->queue_depth : DEFAULT_DEPTH;
    s->num_retained = o->num_retained > 0 ? o->num_retained : 1;
    s->try_direct = !o->no_direct;
    s->log = o->log;
    s->log_arg = o->log_arg;
    pthread_mutex_init(&s->pool_lock, NULL);
    pthread_cond_init(&s->pool_cond, NULL);
    pthread_mutex_init(&s->q_lock, NULL);
    pthread_mutex_init(&s->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cond, &ca);
    pthread_condattr_destroy(&ca);
    atomic_init(&s->state, ST_READY);

    if (o->dir && *o->dir) {
        s->root = strdup(o->dir);
    } else {
        const char *t = getenv("TMPDIR");
        snprintf(tmpdir, sizeof tmpdir, "%s/weir-checkpoints", t && *t ? t : "/tmp");
        s->root = strdup(tmpdir);
    }
    if (!s->root || !(s->job = strdup(o->job)) || !(s->job_dir = path_join(s->root, s->job)) ||
        !(s->shared_dir = path_join(s->job_dir, "shared")))
        goto nomem;
    if ((rc = mkdir_p(s->shared_dir)) < 0) {
        seterr(err, errlen, "state.checkpoints.dir: %s: %s", s->shared_dir, strerror(-rc));
        goto err;
    }
    s->job_fd = open(s->job_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    s->shared_fd = open(s->shared_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (s->job_fd < 0 || s->shared_fd < 0) {
        rc = -errno;
        seterr(err, errlen, "state.checkpoints.dir: %s: %s", s->job_dir, strerror(-rc));
        goto err;
    }
    /* Writable? Better to learn it now than at the first checkpoint. */
    if (faccessat(s->job_fd, ".", W_OK, AT_EACCESS) < 0) {
        rc = -errno;
        seterr(err, errlen, "state.checkpoints.dir: %s: %s", s->job_dir, strerror(-rc));
        goto err;
    }
    if ((rc = storage_scan(s, err, errlen)) < 0)
        goto err;
    if ((rc = pool_init(s)) < 0) {
        seterr(err, errlen, "checkpoint storage: %zu MiB of snapshot buffers: %s",
               s->pool_max >> 20, strerror(-rc));
        goto err;
    }

    s->efd = eventfd(0, EFD_CLOEXEC);
    if (s->efd < 0) {
        rc = -errno;
        seterr(err, errlen, "checkpoint storage: eventfd: %s", strerror(-rc));
        goto err;
    }
    rc = io_uring_queue_init(s->depth + 2 * CHAIN_MAX, &s->ring, 0);
    if (rc < 0) {
        seterr(err, errlen, "checkpoint storage: io_uring: %s", strerror(-rc));
        goto err;
    }
    s->ring_ready = true;
    struct io_uring_probe *probe = io_uring_get_probe_ring(&s->ring);
    if (probe) {
        s->have_renameat = io_uring_opcode_supported(probe, IORING_OP_RENAMEAT);
        io_uring_free_probe(probe);
    }
    s->efd_op.kind = OP_EVENTFD;
    if ((rc = -pthread_create(&s->thread, NULL, io_main, s)) < 0) {
        seterr(err, errlen, "checkpoint storage: io thread: %s", strerror(-rc));
        goto err;
    }
    s->thread_started = true;
    assert(storage_check_state(s));
    *out = s;
    return 0;
nomem:
    rc = -ENOMEM;
    seterr(err, errlen, "checkpoint storage: out of memory");
err:
    weir_storage_close(s);
    return rc;
}

int weir_storage_open_config(const struct weir_config *cfg, const char *job, weir_storage **out,
                             char *err, size_t errlen)
{
    struct weir_storage_opts o = {
        .dir = weir_config_get_str(cfg, "state.checkpoints.dir"),
        .job = job,
        .num_retained = (int)weir_config_get_int(cfg, "execution.checkpointing.num-retained"),
        .pool_bytes = (size_t)(weir_config_pools(cfg)->overhead / 2),
    };
    return weir_storage_open(&o, out, err, errlen);
}

void weir_storage_close(weir_storage *s)
{
    if (!s)
        return;
    if (s->thread_started) {
        atomic_store(&s->state, ST_CLOSING);
        atomic_store(&s->stalled, false);
        s->stop_req.type = REQ_STOP;
        enqueue(s, &s->stop_req);
        pthread_join(s->thread, NULL);
    }
    if (s->ring_ready)
        io_uring_queue_exit(&s->ring);
    if (s->efd >= 0)
        close(s->efd);
    if (s->pool_map)
        munmap(s->pool_map, s->pool_map_len);
    free(s->pool_descs);
    while (s->nret)
        retained_drop_at(s, s->nret - 1);
    free(s->ret);
    for (size_t i = 0; i < s->reg_buckets; i++) {
        for (struct reg_ent *e = s->reg[i], *n; e; e = n) {
            n = e->next;
            free(e);
        }
    }
    free(s->reg);
    if (s->job_fd >= 0)
        close(s->job_fd);
    if (s->shared_fd >= 0)
        close(s->shared_fd);
    pthread_mutex_destroy(&s->pool_lock);
    pthread_cond_destroy(&s->pool_cond);
    pthread_mutex_destroy(&s->q_lock);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->cond);
    free(s->root);
    free(s->job);
    free(s->job_dir);
    free(s->shared_dir);
    free(s);
}

const char *weir_storage_job_dir(const weir_storage *s)
{
    return s->job_dir;
}

uint64_t weir_storage_next_id(const weir_storage *s)
{
    pthread_mutex_lock(&((weir_storage *)s)->lock);
    uint64_t id = s->max_id + 1;
    pthread_mutex_unlock(&((weir_storage *)s)->lock);
    return id;
}

void weir_storage_stats_get(weir_storage *s, struct weir_storage_stats *st)
{
    memset(st, 0, sizeof *st);
    st->bytes_written = atomic_load(&s->bytes_written);
    st->files_written = atomic_load(&s->files_written);
    st->checkpoints_completed = atomic_load(&s->cks_completed);
    st->checkpoints_failed = atomic_load(&s->cks_failed);
    pthread_mutex_lock(&s->pool_lock);
    st->buffers_allocated = s->pool_allocated;
    st->buffers_in_use = s->pool_in_use;
    st->pool_waits = s->pool_waits;
    st->pool_wait_ns = s->pool_wait_ns;
    pthread_mutex_unlock(&s->pool_lock);
    st->direct_io = s->try_direct && !atomic_load(&s->direct_refused);
}

void weir_storage_fail_write_for_test(weir_storage *s, unsigned nth, int err)
{
    atomic_store(&s->fail_write_err, err);
    atomic_store(&s->fail_write_nth, nth);
}

void weir_storage_fail_fsync_for_test(weir_storage *s, int fsync_err)
{
    atomic_store(&s->fail_fsync_err, fsync_err);
}

void weir_storage_stall_for_test(weir_storage *s, bool stalled)
{
    atomic_store(&s->stalled, stalled);
    if (!stalled) {
        uint64_t one = 1;
        while (write(s->efd, &one, sizeof one) < 0 && errno == EINTR)
            ;
    }
}

void storage_sync_commit_for_test(weir_storage *s)
{
    s->have_renameat = false;
}

void weir_storage_refuse_direct_for_test(weir_storage *s)
{
    atomic_store(&s->refuse_direct, true);
}

/* --- checkpoints ----------------------------------------------------------------------- */

void ck_put(struct weir_ckpt *ck)
{
    if (atomic_fetch_sub(&ck->refs, 1) != 1)
        return;
    for (size_t i = 0; i < ck->nnames; i++)
        free(ck->names[i]);
    free(ck->names);
    for (size_t i = 0; i < ck->ndurable; i++)
        free(ck->durable[i].name);
    free(ck->durable);
    for (size_t i = 0; i < ck->nshared; i++)
        free(ck->shared[i].name);
    free(ck->shared);
    for (size_t i = 0; i < ck->npins; i++)
        free(ck->pins[i]);
    free(ck->pins);
    fmt_mem_free(&ck->meta_file);
    free(ck->commit_meta);
    free(ck->path);
    free(ck);
}

bool ck_fail(struct weir_ckpt *ck, int err, bool from_io, const char *fmt, ...)
{
    weir_storage *s = ck->s;
    bool failed = false;
    assert(err < 0);
    pthread_mutex_lock(&s->lock);
    if ((ck->state == WEIR_CKPT_WRITING || ck->state == WEIR_CKPT_COMMITTING) &&
        (from_io || !ck->chain_started)) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(ck->errmsg, sizeof ck->errmsg, fmt, ap);
        va_end(ap);
        ck->state = WEIR_CKPT_FAILED;
        atomic_store(&ck->status, err);
        failed = true;
    }
    assert(ck_check_state(ck));
    pthread_mutex_unlock(&s->lock);
    return failed;
}

static int ck_begin(weir_storage *s, const char *path, bool savepoint, uint64_t id,
                    const struct weir_ckpt_callbacks *cb, weir_ckpt **out)
{
    *out = NULL;
    assert(storage_check_state(s));
    if (atomic_load(&s->state) != ST_READY)
        return -EIO;
    struct weir_ckpt *ck = calloc(1, sizeof *ck);
    if (!ck)
        return -ENOMEM;
    ck->s = s;
    ck->id = id;
    ck->savepoint = savepoint;
    ck->dirfd = ck->parentfd = ck->tmpfd = -1;
    if (cb)
        ck->cb = *cb;
    atomic_init(&ck->status, 0);
    atomic_init(&ck->refs, 2); /* the caller, the io thread until settled */
    if (savepoint) {
        ck->path = strdup(path);
        snprintf(ck->label, sizeof ck->label, "savepoint");
    } else {
        snprintf(ck->label, sizeof ck->label, "chk-%" PRIu64, id);
        ck->path = path_join(s->job_dir, ck->label);
    }
    if (!ck->path) {
        free(ck);
        return -ENOMEM;
    }
    pthread_mutex_lock(&s->lock);
    if (!savepoint) {
        bool taken = retained_has(s, id);
        for (struct weir_ckpt *c = s->cks; c && !taken; c = c->next)
            taken = !c->savepoint && c->id == id;
        if (taken) {
            pthread_mutex_unlock(&s->lock);
            free(ck->path);
            free(ck);
            return -EEXIST;
        }
        if (id > s->max_id)
            s->max_id = id;
    }
    ck->state = WEIR_CKPT_WRITING;
    ck->next = s->cks;
    s->cks = ck;
    assert(ck_check_state(ck));
    pthread_mutex_unlock(&s->lock);
    ck->begin_req.type = REQ_BEGIN;
    enqueue(s, &ck->begin_req);
    *out = ck;
    return 0;
}

int weir_ckpt_begin(weir_storage *s, uint64_t id, const struct weir_ckpt_callbacks *cb,
                    weir_ckpt **out)
{
    if (id == 0) {
        *out = NULL;
        return -EINVAL;
    }
    return ck_begin(s, NULL, false, id, cb, out);
}

int weir_savepoint_begin(weir_storage *s, const char *path, uint64_t id,
                         const struct weir_ckpt_callbacks *cb, weir_ckpt **out)
{
    if (!path || !*path) {
        *out = NULL;
        return -EINVAL;
    }
    return ck_begin(s, path, true, id, cb, out);
}

uint64_t weir_ckpt_id(const weir_ckpt *ck)
{
    return ck->id;
}

const char *weir_ckpt_dir(const weir_ckpt *ck)
{
    return ck->path;
}

enum weir_ckpt_state ck_state_locked(struct weir_ckpt *ck)
{
    pthread_mutex_lock(&ck->s->lock);
    enum weir_ckpt_state st = ck->state;
    pthread_mutex_unlock(&ck->s->lock);
    return st;
}

enum weir_ckpt_state weir_ckpt_state(const weir_ckpt *ck)
{
    return ck_state_locked((weir_ckpt *)ck);
}

int weir_ckpt_status(const weir_ckpt *ck)
{
    return atomic_load(&((weir_ckpt *)ck)->status);
}

const char *weir_ckpt_error(const weir_ckpt *ck)
{
    /* errmsg is written once, before status turns negative, and never again. */
    return atomic_load(&((weir_ckpt *)ck)->status) < 0 ? ck->errmsg : "";
}

void weir_ckpt_progress_get(const weir_ckpt *ck, struct weir_ckpt_progress *p)
{
    weir_storage *s = ck->s;
    pthread_mutex_lock(&s->lock);
    p->state = ck->state;
    p->status = atomic_load(&((weir_ckpt *)ck)->status);
    p->files_opened = ck->files_opened;
    p->files_durable = ck->files_durable;
    p->bytes_durable = ck->bytes_durable;
    p->settled = ck->settled;
    pthread_mutex_unlock(&s->lock);
}

int weir_ckpt_wait(weir_ckpt *ck, int64_t timeout_ms)
{
    weir_storage *s = ck->s;
    struct timespec dl;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    if (timeout_ms >= 0) {
        dl.tv_sec += timeout_ms / 1000;
        dl.tv_nsec += (timeout_ms % 1000) * 1000000;
        if (dl.tv_nsec >= 1000000000) {
            dl.tv_sec++;
            dl.tv_nsec -= 1000000000;
        }
    }
    int rc = 0;
    pthread_mutex_lock(&s->lock);
    while (!ck->settled && rc == 0) {
        if (timeout_ms < 0)
            pthread_cond_wait(&s->cond, &s->lock);
        else
            rc = pthread_cond_timedwait(&s->cond, &s->lock, &dl);
    }
    int status = ck->settled ? atomic_load(&ck->status) : -ETIMEDOUT;
    pthread_mutex_unlock(&s->lock);
    return status;
}

int weir_ckpt_abort(weir_ckpt *ck, int err)
{
    if (err >= 0)
        err = -ECANCELED;
    if (!ck_fail(ck, err, false, "%s %s: aborted: %s", ck->label, ck->path, strerror(-err)))
        return -EALREADY;
    bool queue = false;
    pthread_mutex_lock(&ck->s->lock);
    if (!ck->abort_queued)
        queue = ck->abort_queued = true;
    pthread_mutex_unlock(&ck->s->lock);
    if (queue) {
        ck->abort_req.type = REQ_ABORT;
        enqueue(ck->s, &ck->abort_req);
    }
    return 0;
}

void weir_ckpt_release(weir_ckpt *ck)
{
    if (ck)
        ck_put(ck);
}

/* A deep copy of meta in one allocation, so the caller may free its own at once. */
static struct weir_ckpt_meta *meta_clone(const struct weir_ckpt_meta *m)
{
    size_t n =
        sizeof *m + m->entry_count * sizeof *m->entries + m->shared_count * sizeof *m->shared + 16;
    n += (m->job ? strlen(m->job) : 0) + 1;
    for (size_t i = 0; i < m->entry_count; i++) {
        const struct weir_ckpt_entry *e = &m->entries[i];
        n += (e->operator_uid ? strlen(e->operator_uid) : 0) + 1;
        n += (e->file ? strlen(e->file) : 0) + 1;
        n += (e->blob ? e->blob_len : 0) + 8;
    }
    for (size_t i = 0; i < m->shared_count; i++)
        n += (m->shared[i].name ? strlen(m->shared[i].name) : 0) + 1;
    uint8_t *base = malloc(n), *p = base;
    if (!base)
        return NULL;
    struct weir_ckpt_meta *c = (void *)p;
    *c = *m;
    p += sizeof *c;
    struct weir_ckpt_entry *ents = (void *)p;
    p += m->entry_count * sizeof *ents;
    struct weir_ckpt_shared *sh = (void *)p;
    p += m->shared_count * sizeof *sh;
#define CLONE_STR(dst, src)                                                                        \
    do {                                                                                           \
        size_t l_ = (src) ? strlen(src) : 0;                                                       \
        memcpy(p, (src) ? (src) : "", l_ + 1);                                                     \
        (dst) = (const char *)p;                                                                   \
        p += l_ + 1;                                                                               \
    } while (0)
    for (size_t i = 0; i < m->entry_count; i++) {
        ents[i] = m->entries[i];
        CLONE_STR(ents[i].operator_uid, m->entries[i].operator_uid);
        CLONE_STR(ents[i].file, m->entries[i].file);
        if (m->entries[i].blob && m->entries[i].blob_len) {
            p = (uint8_t *)(((uintptr_t)p + 7) & ~(uintptr_t)7);
            memcpy(p, m->entries[i].blob, m->entries[i].blob_len);
            ents[i].blob = p;
            p += m->entries[i].blob_len;
        } else {
            ents[i].blob = NULL;
            ents[i].blob_len = 0;
        }
    }
    for (size_t i = 0; i < m->shared_count; i++) {
        sh[i] = m->shared[i];
        CLONE_STR(sh[i].name, m->shared[i].name);
    }
    CLONE_STR(c->job, m->job);
#undef CLONE_STR
    c->entries = ents;
    c->shared = sh;
    return c;
}

int weir_ckpt_commit(weir_ckpt *ck, const struct weir_ckpt_meta *meta)
{
    weir_storage *s = ck->s;
    for (size_t i = 0; i < meta->entry_count; i++) {
        const struct weir_ckpt_entry *e = &meta->entries[i];
        if (!e->operator_uid || (e->file && *e->file && !fmt_name_ok(e->file)) ||
            (e->blob_len && !e->blob))
            return -EINVAL;
    }
    for (size_t i = 0; i < meta->shared_count; i++)
        if (!fmt_name_ok(meta->shared[i].name))
            return -EINVAL;
    struct weir_ckpt_meta *c = meta_clone(meta);
    if (!c)
        return -ENOMEM;
    if (!c->timestamp_ms) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        c->timestamp_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    }
    c->checkpoint_id = ck->id;
    c->job = s->job; /* the storage's name outlives the checkpoint */
    c->savepoint = ck->savepoint;
    pthread_mutex_lock(&s->lock);
    int rc = atomic_load(&ck->status);
    if (rc == 0 && ck->state != WEIR_CKPT_WRITING)
        rc = -EBUSY;
    if (rc == 0) {
        ck->state = WEIR_CKPT_COMMITTING;
        ck->commit_meta = c;
        assert(ck_check_state(ck));
    }
    pthread_mutex_unlock(&s->lock);
    if (rc < 0) {
        free(c);
        return rc;
    }
    ck->commit_req.type = REQ_COMMIT;
    enqueue(s, &ck->commit_req);
    return 0;
}

/* --- state files ----------------------------------------------------------------------- */

int weir_ckpt_file_name(char *buf, size_t len, const char *uid, int subtask)
{
    char clean[160];
    size_t n = 0;
    bool changed = false;
    for (const char *p = uid; *p; p++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || (c == '.' && p != uid);
        if (n + 1 >= sizeof clean) {
            changed = true;
            break;
        }
        clean[n++] = ok ? c : '-';
        changed |= !ok;
    }
    clean[n] = '\0';
    int w;
    if (changed || n == 0)
        w = snprintf(buf, len, "%s-%08x-%d", n ? clean : "op",
                     (unsigned)XXH3_64bits(uid, strlen(uid)), subtask);
    else
        w = snprintf(buf, len, "%s-%d", clean, subtask);
    return (w < 0 || (size_t)w >= len) ? -ENOSPC : 0;
}

static int file_write_cb(struct weir_snapshot_out *o, const void *buf, size_t len)
{
    return weir_ckpt_file_write(o->arg, buf, len);
}

int weir_ckpt_file_open(weir_ckpt *ck, const char *name, weir_ckpt_file **out)
{
    weir_storage *s = ck->s;
    *out = NULL;
    if (!fmt_name_ok(name))
        return -EINVAL;
    struct weir_ckpt_file *f = calloc(1, sizeof *f);
    char *dup = strdup(name);
    if (!f || !dup) {
        free(f);
        free(dup);
        return -ENOMEM;
    }
    pthread_mutex_lock(&s->lock);
    int rc = atomic_load(&ck->status);
    if (rc == 0 && ck->state != WEIR_CKPT_WRITING)
        rc = -EBUSY;
    for (size_t i = 0; rc == 0 && i < ck->nnames; i++)
        if (strcmp(ck->names[i], name) == 0)
            rc = -EEXIST;
    if (rc == 0 && ck->nnames == ck->capnames) {
        size_t cap = ck->capnames ? 2 * ck->capnames : 16;
        char **nn = realloc(ck->names, cap * sizeof *nn);
        if (nn) {
            ck->names = nn;
            ck->capnames = cap;
        } else {
            rc = -ENOMEM;
        }
    }
    if (rc == 0) {
        ck->names[ck->nnames++] = dup;
        ck->files_opened++;
        atomic_fetch_add(&ck->refs, 1);
    }
    pthread_mutex_unlock(&s->lock);
    if (rc < 0) {
        free(f);
        free(dup);
        return rc;
    }
    f->ck = ck;
    f->fd = -1;
    snprintf(f->name, sizeof f->name, "%s", name);
    f->out.write = file_write_cb;
    f->out.arg = f;
    f->fsync_op.kind = OP_FSYNC;
    /* From here the file counts as opened: a failure must go through the io thread (abort)
     * so that the checkpoint cannot wait for it forever. */
    f->cur = pool_get(s, &rc);
    if (!f->cur) {
        weir_ckpt_file_abort(f, rc);
        return rc;
    }
    fmt_header_encode(f->cur->data, FMT_KIND_STATE, (uint32_t)s->buf_size, ck->id);
    f->fill = FMT_HEADER_SIZE;
    *out = f;
    return 0;
}

static void hand_over(struct weir_ckpt_file *f)
{
    struct sbuf *b = f->cur;
    b->file = f;
    b->off = f->pos;
    b->len = (uint32_t)f->fill;
    b->done = 0;
    b->req.type = REQ_DATA;
    f->pos += f->fill;
    f->cur = NULL;
    f->fill = 0;
    enqueue(f->ck->s, &b->req);
}

int weir_ckpt_file_reserve(weir_ckpt_file *f, void **p, size_t *avail)
{
    int rc = atomic_load_explicit(&f->ck->status, memory_order_relaxed);
    if (rc < 0)
        return rc;
    if (!f->cur && !(f->cur = pool_get(f->ck->s, &rc)))
        return rc;
    *p = f->cur->data + f->fill;
    *avail = f->ck->s->buf_size - f->fill;
    return 0;
}

int weir_ckpt_file_commit(weir_ckpt_file *f, size_t n)
{
    assert(f->cur && f->fill + n <= f->ck->s->buf_size);
    f->fill += n;
    if (f->fill == f->ck->s->buf_size)
        hand_over(f);
    return atomic_load_explicit(&f->ck->status, memory_order_relaxed);
}

int weir_ckpt_file_write(weir_ckpt_file *f, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    while (len) {
        void *dst;
        size_t avail;
        int rc = weir_ckpt_file_reserve(f, &dst, &avail);
        if (rc < 0)
            return rc;
        size_t n = avail < len ? avail : len;
        memcpy(dst, p, n);
        p += n;
        len -= n;
        if ((rc = weir_ckpt_file_commit(f, n)) < 0)
            return rc;
    }
    return 0;
}

struct weir_snapshot_out *weir_ckpt_file_out(weir_ckpt_file *f)
{
    return &f->out;
}

uint64_t weir_ckpt_file_tell(const weir_ckpt_file *f)
{
    return f->pos + f->fill;
}

static void close_section(struct weir_ckpt_file *f)
{
    if (f->nsec)
        f->sec[f->nsec - 1].length = weir_ckpt_file_tell(f) - f->sec[f->nsec - 1].offset;
}

int weir_ckpt_file_section_begin(weir_ckpt_file *f, uint64_t tag)
{
    int rc = atomic_load_explicit(&f->ck->status, memory_order_relaxed);
    if (rc < 0)
        return rc;
    close_section(f);
    if (f->nsec == f->capsec) {
        size_t cap = f->capsec ? 2 * f->capsec : 64;
        struct fmt_section *ns = realloc(f->sec, cap * sizeof *ns);
        if (!ns)
            return -ENOMEM;
        f->sec = ns;
        f->capsec = cap;
    }
    f->sec[f->nsec++] = (struct fmt_section){.tag = tag, .offset = weir_ckpt_file_tell(f)};
    return 0;
}

int weir_ckpt_file_submit(weir_ckpt_file *f)
{
    weir_ckpt *ck = f->ck;
    close_section(f);
    int rc = atomic_load(&ck->status);
    f->end_req.type = REQ_SUBMIT;
    enqueue(ck->s, &f->end_req);
    return rc;
}

void weir_ckpt_file_abort(weir_ckpt_file *f, int err)
{
    weir_ckpt *ck = f->ck;
    if (err >= 0)
        err = -ECANCELED;
    ck_fail(ck, err, false, "%s: %s/%s: snapshot abandoned: %s", ck_key(ck), ck->path, f->name,
            strerror(-err));
    f->abort_err = err;
    f->end_req.type = REQ_FILE_ABORT;
    enqueue(ck->s, &f->end_req);
}

/* io thread: the worker has let go and nothing of f is in flight. */
void file_free(struct weir_ckpt_file *f)
{
    weir_ckpt *ck = f->ck;
    for (struct weir_ckpt_file **pp = &ck->io_files; *pp; pp = &(*pp)->io_next) {
        if (*pp == f) {
            *pp = f->io_next;
            break;
        }
    }
    if (f->cur)
        pool_put(ck->s, f->cur);
    if (f->hash)
        XXH3_freeState(f->hash);
    free(f->blocks);
    free(f->sec);
    free(f);
    ck_put(ck);
}

/* --- shared files ---------------------------------------------------------------------- */

int weir_ckpt_shared_add(weir_ckpt *ck, const char *src_path, const char *name)
{
    if (!src_path || !fmt_name_ok(name))
        return -EINVAL;
    pthread_mutex_lock(&ck->s->lock);
    int rc = atomic_load(&ck->status);
    if (rc == 0 && ck->state != WEIR_CKPT_WRITING)
        rc = -EBUSY;
    if (rc == 0)
        atomic_fetch_add(&ck->refs, 1);
    pthread_mutex_unlock(&ck->s->lock);
    if (rc < 0)
        return rc;
    struct shared_req *r = calloc(1, sizeof *r);
    if (!r || !(r->src = strdup(src_path)) || !(r->name = strdup(name))) {
        if (r) {
            free(r->src);
            free(r);
        }
        ck_put(ck);
        return -ENOMEM;
    }
    r->ck = ck;
    r->req.type = REQ_SHARED;
    enqueue(ck->s, &r->req);
    return 0;
}
