/*
 * Checkpoint storage on S3-compatible object storage (state.checkpoints.dir:
 * s3://bucket/prefix): the uploader thread. The design is in s3.h; in short, checkpoints are
 * written as to a local directory (the local copy), and this thread, which owns the weir_s3
 * handle, puts them in the store: the io thread's io_uring loop never waits on the network.
 *
 * Jobs, in the order the io thread queues them (one FIFO, so a retention never overtakes
 * the upload of a checkpoint begun before it):
 *
 *   FILE    a state file, as soon as it is durable locally (writer.c), while the others are
 *           still being written: one PUT when small, multipart when large.
 *   UPLOAD  a checkpoint whose files are durable locally and whose _metadata is encoded
 *           (commit.c), queued after all its FILE jobs: the first error of those, else the
 *           shared files it lists that the store does not hold yet (once per name), then
 *           _metadata with If-None-Match: *. The outcome goes back through the io thread's
 *           queue (REQ_UPLOADED): the checkpoint is complete when that PUT returned, and
 *           the local _metadata follows. A failure fails the checkpoint, never the storage.
 *           A savepoint to s3:// (ck->sp_key) is one UPLOAD job: every file of its staging
 *           directory (its state files and its own copies of the shared files), then its
 *           _metadata, conditionally, under <sp_key>/. Retention never lists it.
 *   RETAIN  after a checkpoint completed and local retention ran (retention.c): delete the
 *           remote checkpoints below it that are not kept (_metadata first, so that a
 *           half-deleted one is never taken for complete) and the shared objects that no
 *           kept checkpoint lists.
 *   DISCARD a checkpoint that failed or was aborted (its local directory removed,
 *           retention.c): delete what of it went up (its files go up before the commit, so a
 *           job stopped mid-checkpoint would leave chk-N without _metadata in the store):
 *           its _metadata first when this thread put it, never another writer's; nothing
 *           when another writer's _metadata was there first (-EEXIST: chk-N is theirs).
 *           Queued after its FILE and UPLOAD jobs, which are done or skipped by then.
 *
 * Object keys: <prefix>/<job>/chk-N/<file>, <prefix>/<job>/chk-N/_metadata,
 * <prefix>/<job>/shared/<name>, as the local layout.
 */
#include "remote.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { JOB_FILE = 1, JOB_UPLOAD, JOB_RETAIN, JOB_DISCARD };

struct rjob {
    struct rjob *next;
    int kind;
    struct weir_ckpt *ck; /* FILE, DISCARD (a reference of their own), UPLOAD (commit.c's) */
    char *name;           /* FILE: the state file */
    uint64_t new_id;      /* RETAIN: delete below it ... */
    uint64_t *keep;       /* ... but these ids */
    size_t nkeep;
    char **refd; /* ... and shared names these list */
    size_t nrefd;
};

bool remote_set_has(char **v, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(v[i], name))
            return true;
    return false;
}

int remote_set_add(char ***v, size_t *n, size_t *cap, const char *name)
{
    if (remote_set_has(*v, *n, name))
        return 0;
    if (*n == *cap) {
        size_t c = *cap ? 2 * *cap : 16;
        char **nv = realloc(*v, c * sizeof *nv);
        if (!nv)
            return -ENOMEM;
        *v = nv;
        *cap = c;
    }
    if (!((*v)[*n] = strdup(name)))
        return -ENOMEM;
    (*n)++;
    return 0;
}

static void set_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static void job_free(struct rjob *j)
{
    if (j->kind == JOB_FILE || j->kind == JOB_DISCARD)
        ck_put(j->ck);
    free(j->name);
    free(j->keep);
    set_free(j->refd, j->nrefd);
    free(j);
}

void remote_key(const struct remote *r, char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;
    int n = snprintf(buf, len, "%s", r->key_job);
    va_start(ap, fmt);
    if (n >= 0 && (size_t)n < len)
        vsnprintf(buf + n, len - (size_t)n, fmt, ap);
    va_end(ap);
}

static bool cancelled(struct remote *r)
{
    return atomic_load(&r->cancel);
}

/* A state file, as soon as it is durable. The first failure is kept in ck->upload_rc and
 * _err (only this thread writes them, and the io thread reads them after REQ_UPLOADED). A
 * checkpoint already failed, or a storage closing, skips it. */
static void upload_file(struct remote *r, struct weir_ckpt *ck, const char *name)
{
    char key[1024], path[4096];
    if (ck->upload_rc || ck_failed(ck) || cancelled(r))
        return;
    remote_key(r, key, sizeof key, "/%s/%s", ck->label, name);
    snprintf(path, sizeof path, "%s/%s", ck->path, name);
    int rc = weir_s3_put_file(r->s3, key, path, r->part_bytes);
    if (rc) {
        ck->upload_rc = rc;
        snprintf(ck->upload_err, sizeof ck->upload_err, "state.checkpoints.dir: %s: %s", ck->label,
                 weir_s3_error(r->s3));
    }
}

/* A savepoint: the files _metadata lists, each once, from its staging directory, then
 * _metadata with If-None-Match: *. */
static int upload_savepoint(struct remote *r, struct weir_ckpt *ck)
{
    char key[1024], path[4096];
    const struct weir_ckpt_meta *m = ck->commit_meta;
    int rc = 0;
    size_t n = m->entry_count + m->shared_count;
    for (size_t i = 0; i < n && !rc; i++) {
        const char *name =
            i < m->entry_count ? m->entries[i].file : m->shared[i - m->entry_count].name;
        bool again = false;
        for (size_t k = 0; k < i && k < m->entry_count && !again; k++)
            again = name && m->entries[k].file && !strcmp(m->entries[k].file, name);
        if (!name || !*name || again)
            continue; /* none, or listed twice */
        if (cancelled(r))
            return -ECANCELED;
        snprintf(key, sizeof key, "%s/%s", ck->sp_key, name);
        snprintf(path, sizeof path, "%s/%s", ck->path, name);
        rc = weir_s3_put_file(r->s3, key, path, r->part_bytes);
    }
    if (!rc && cancelled(r))
        return -ECANCELED;
    if (!rc) {
        snprintf(key, sizeof key, "%s/_metadata", ck->sp_key);
        rc = weir_s3_put_if_absent(r->s3, key, ck->meta_file.buf, ck->meta_file.len);
        ck->meta_put = rc == 0;
        if (rc == -EEXIST) {
            snprintf(ck->upload_err, sizeof ck->upload_err,
                     "state.savepoints.dir: %s/_metadata exists already: a savepoint is never "
                     "overwritten; delete it, or give another state.savepoints.dir",
                     ck->sp_url);
            return rc;
        }
    }
    if (rc)
        snprintf(ck->upload_err, sizeof ck->upload_err, "state.savepoints.dir: %s: %s", ck->sp_url,
                 weir_s3_error(r->s3));
    return rc;
}

/* The rest of the checkpoint, _metadata last. 0, or a negative errno with ck->upload_err. */
static int upload_ck(struct weir_storage *s, struct remote *r, struct weir_ckpt *ck)
{
    char key[1024], path[4096];
    /* The state files went up as FILE jobs, queued before this one (one FIFO, one thread):
     * each was durable before the commit could be asked for. commit_meta is final: the io
     * thread touches it no more until REQ_UPLOADED. */
    int rc = ck->upload_rc;
    if (rc)
        return rc;
    if (ck->sp_key)
        return upload_savepoint(r, ck);
    const struct weir_ckpt_meta *m = ck->commit_meta;
    for (size_t i = 0; i < m->shared_count && !rc; i++) {
        const char *name = m->shared[i].name;
        if (remote_set_has(r->shared, r->nshared, name))
            continue; /* uploaded once: a shared file never changes under its name */
        if (cancelled(r))
            return -ECANCELED;
        remote_key(r, key, sizeof key, "/shared/%s", name);
        snprintf(path, sizeof path, "%s/%s", s->shared_dir, name);
        rc = weir_s3_put_file(r->s3, key, path, r->part_bytes);
        if (!rc && remote_set_add(&r->shared, &r->nshared, &r->capshared, name) < 0)
            rc = weir_s3_fail(r->s3, -ENOMEM, "S3: out of memory");
    }
    if (!rc && cancelled(r))
        return -ECANCELED;
    if (!rc) {
        remote_key(r, key, sizeof key, "/%s/_metadata", ck->label);
        rc = weir_s3_put_if_absent(r->s3, key, ck->meta_file.buf, ck->meta_file.len);
        ck->meta_put = rc == 0;
        if (rc == -EEXIST) {
            snprintf(ck->upload_err, sizeof ck->upload_err,
                     "state.checkpoints.dir: %s: %s/_metadata exists already: another weir "
                     "process writes checkpoints of job %.64s there; stop it, or give this run "
                     "another state.checkpoints.dir",
                     r->url, ck->label, s->job);
            return rc;
        }
    }
    if (rc)
        snprintf(ck->upload_err, sizeof ck->upload_err, "state.checkpoints.dir: %s: %s", ck->label,
                 weir_s3_error(r->s3));
    return rc;
}

int remote_savepoint_key(struct weir_storage *s, const char *url, char **key)
{
    struct remote *r = s->remote;
    size_t lb = r ? strlen(r->bucket) : 0;
    *key = NULL;
    if (!r || strncmp(url + 5, r->bucket, lb) || url[5 + lb] != '/' || !url[6 + lb])
        return -EINVAL;
    const char *k = url + 6 + lb;
    size_t lk = strlen(k);
    while (lk && k[lk - 1] == '/')
        lk--;
    return lk && (*key = strndup(k, lk)) ? 0 : lk ? -ENOMEM : -EINVAL;
}

static bool parse_chk_key(const struct remote *r, const char *key, uint64_t *id, const char **rest)
{
    size_t lj = strlen(r->key_job);
    if (strncmp(key, r->key_job, lj) || strncmp(key + lj, "/chk-", 5))
        return false;
    char *end;
    const char *p = key + lj + 5;
    if (*p < '0' || *p > '9')
        return false;
    *id = strtoull(p, &end, 10);
    if (*end != '/')
        return false;
    *rest = end + 1;
    return true;
}

/* Deletes the remote checkpoints below j->new_id not kept, and shared objects nothing lists. */
static void retain(struct weir_storage *s, struct remote *r, struct rjob *j)
{
    char **keys = NULL;
    size_t n = 0;
    if (remote_list_all(r, &keys, NULL, &n) < 0) {
        storage_log(s, "state.checkpoints.dir: %s: retention cannot list: %s", r->url,
                    weir_s3_error(r->s3));
        return;
    }
    char shared_pre[1024];
    remote_key(r, shared_pre, sizeof shared_pre, "/shared/");
    size_t lsp = strlen(shared_pre);
    /* pass 0: the _metadata of doomed checkpoints; pass 1: everything else doomed */
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < n; i++) {
            uint64_t id;
            const char *rest;
            bool doomed = false;
            if (parse_chk_key(r, keys[i], &id, &rest)) {
                bool kept = id >= j->new_id;
                for (size_t k = 0; k < j->nkeep && !kept; k++)
                    kept = j->keep[k] == id;
                doomed = !kept && (pass == 1) != !strcmp(rest, "_metadata");
            } else if (pass == 1 && !strncmp(keys[i], shared_pre, lsp)) {
                const char *name = keys[i] + lsp;
                doomed = !remote_set_has(j->refd, j->nrefd, name);
                for (size_t k = 0; doomed && k < r->nshared; k++) {
                    if (!strcmp(r->shared[k], name)) {
                        free(r->shared[k]);
                        r->shared[k] = r->shared[--r->nshared];
                        break;
                    }
                }
            }
            if (doomed && weir_s3_delete(r->s3, keys[i]) < 0)
                storage_log(s, "state.checkpoints.dir: cannot delete: %s", weir_s3_error(r->s3));
        }
    }
    set_free(keys, n);
}

/* Deletes what ck put under <key_job>/chk-<id>/: its _metadata first if it put one, then the
 * other objects; nothing when chk-<id> turned out to be another writer's. */
static void discard(struct weir_storage *s, struct remote *r, struct weir_ckpt *ck)
{
    char pre[1024];
    if (ck->upload_rc == -EEXIST)
        return;
    if (ck->sp_key)
        snprintf(pre, sizeof pre, "%s/", ck->sp_key);
    else
        remote_key(r, pre, sizeof pre, "/chk-%" PRIu64 "/", ck->id);
    for (int pass = ck->meta_put ? 0 : 1; pass < 2; pass++) {
        char *token = NULL;
        do {
            struct weir_s3_list l = {0};
            int rc = weir_s3_list(r->s3, pre, token, 0, &l);
            free(token);
            token = NULL;
            if (rc < 0) {
                storage_log(s, "state.checkpoints.dir: %s: cannot list %s to delete it: %s", r->url,
                            pre, weir_s3_error(r->s3));
                return;
            }
            for (size_t i = 0; i < l.n; i++) {
                bool meta = !strcmp(l.keys[i] + strlen(pre), "_metadata");
                if (meta == (pass == 0) && weir_s3_delete(r->s3, l.keys[i]) < 0)
                    storage_log(s, "state.checkpoints.dir: cannot delete: %s",
                                weir_s3_error(r->s3));
            }
            token = l.next_token;
            l.next_token = NULL;
            weir_s3_list_free(&l);
        } while (token);
    }
}

static void *uploader_main(void *arg)
{
    struct weir_storage *s = arg;
    struct remote *r = s->remote;
    for (;;) {
        pthread_mutex_lock(&r->lock);
        while (!r->head && !r->stop)
            pthread_cond_wait(&r->cond, &r->lock);
        struct rjob *j = r->head;
        if (j) {
            r->head = j->next;
            if (!r->head)
                r->tail = NULL;
        }
        pthread_mutex_unlock(&r->lock);
        if (!j)
            return NULL; /* stop, and nothing left */
        if (j->kind == JOB_FILE) {
            upload_file(r, j->ck, j->name);
        } else if (j->kind == JOB_UPLOAD) {
            struct weir_ckpt *ck = j->ck;
            int rc = upload_ck(s, r, ck);
            if (rc == -ECANCELED && !ck->upload_err[0])
                snprintf(ck->upload_err, sizeof ck->upload_err,
                         "%s: %s: checkpoint storage closed before the upload to %s", ck_key(ck),
                         ck->path, r->url);
            ck->upload_rc = rc;
            ck->upload_req.type = REQ_UPLOADED;
            io_enqueue(s, &ck->upload_req); /* the queue's lock publishes upload_rc/_err */
        } else if (j->kind == JOB_DISCARD) {
            discard(s, r, j->ck); /* also while closing: a stop aborts what is in flight */
        } else {
            retain(s, r, j); /* also while closing: it is what the last completion left */
        }
        job_free(j);
    }
}

static void push(struct remote *r, struct rjob *j)
{
    pthread_mutex_lock(&r->lock);
    if (r->tail)
        r->tail->next = j;
    else
        r->head = j;
    r->tail = j;
    pthread_cond_signal(&r->cond);
    pthread_mutex_unlock(&r->lock);
}

void remote_upload_file(struct weir_storage *s, struct weir_ckpt *ck, const char *name)
{
    struct rjob *j = calloc(1, sizeof *j);
    if (j && !(j->name = strdup(name))) {
        free(j);
        j = NULL;
    }
    if (!j) {
        ck_fail(ck, -ENOMEM, true, "%s: upload of %s: out of memory", ck_key(ck), name);
        return;
    }
    j->kind = JOB_FILE;
    ck_get(ck);
    j->ck = ck;
    push(s->remote, j);
}

void remote_upload(struct weir_storage *s, struct weir_ckpt *ck)
{
    struct rjob *j = calloc(1, sizeof *j);
    if (!j) {
        ck->upload_rc = -ENOMEM;
        snprintf(ck->upload_err, sizeof ck->upload_err, "%s: upload: out of memory", ck_key(ck));
        ck->upload_req.type = REQ_UPLOADED;
        io_enqueue(s, &ck->upload_req);
        return;
    }
    j->kind = JOB_UPLOAD;
    j->ck = ck;
    push(s->remote, j);
}

void remote_retain(struct weir_storage *s, uint64_t new_id, const uint64_t *keep, size_t nkeep)
{
    struct rjob *j = calloc(1, sizeof *j);
    size_t cap = 0;
    bool ok = j && (j->keep = malloc((nkeep ? nkeep : 1) * sizeof *keep));
    if (ok) {
        j->kind = JOB_RETAIN;
        j->new_id = new_id;
        memcpy(j->keep, keep, nkeep * sizeof *keep);
        j->nkeep = nkeep;
        /* What retained and running checkpoints list: the registry after the sweep. */
        pthread_mutex_lock(&s->lock);
        for (size_t b = 0; b < s->reg_buckets && ok; b++)
            for (struct reg_ent *e = s->reg[b]; e && ok; e = e->next)
                ok = remote_set_add(&j->refd, &j->nrefd, &cap, e->name) == 0;
        pthread_mutex_unlock(&s->lock);
    }
    if (!ok) {
        storage_log(s, "state.checkpoints.dir: %s: out of memory: remote retention skipped",
                    s->remote->url);
        if (j)
            job_free(j);
        return;
    }
    push(s->remote, j);
}

void remote_discard(struct weir_storage *s, struct weir_ckpt *ck)
{
    struct rjob *j = calloc(1, sizeof *j);
    if (!j) {
        storage_log(s, "state.checkpoints.dir: %s: out of memory: %s is left in the store",
                    s->remote->url, ck->label);
        return;
    }
    j->kind = JOB_DISCARD;
    ck_get(ck);
    j->ck = ck;
    push(s->remote, j);
}

int remote_start(struct weir_storage *s, char *err, size_t errlen)
{
    struct remote *r = s->remote;
    int rc = -pthread_create(&r->thread, NULL, uploader_main, s);
    if (rc < 0) {
        errbuf_printf(err, errlen, "checkpoint storage: uploader thread: %s", strerror(-rc));
        return rc;
    }
    r->thread_started = true;
    return 0;
}

void remote_cancel(struct weir_storage *s)
{
    if (s->remote)
        atomic_store(&s->remote->cancel, true);
}

void remote_free(struct weir_storage *s)
{
    struct remote *r = s->remote;
    if (!r)
        return;
    if (r->thread_started) {
        pthread_mutex_lock(&r->lock);
        r->stop = true;
        pthread_cond_signal(&r->cond);
        pthread_mutex_unlock(&r->lock);
        pthread_join(r->thread, NULL);
    }
    for (struct rjob *j = r->head, *n; j; j = n) {
        n = j->next;
        job_free(j);
    }
    weir_s3_close(r->s3);
    set_free(r->shared, r->nshared);
    pthread_mutex_destroy(&r->lock);
    pthread_cond_destroy(&r->cond);
    free(r->bucket);
    free(r->key_job);
    free(r->url);
    free(r);
    s->remote = NULL;
}
