/*
 * Checkpoint storage: what stays on disk. The retained list (the complete checkpoints kept,
 * ascending id, with the shared files each lists), retention after a checkpoint completes
 * (execution.checkpointing.num-retained), removal of a failed checkpoint's directory, and
 * the directory helpers the rest of the storage uses.
 */
#include "storage_impl.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* --- the retained list (callers hold s->lock) ------------------------------------------ */

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

/* --- filesystem helpers ---------------------------------------------------------------- */

/* Makes the missing directories of path; those it makes get mode, whatever the umask. */
int mkdir_p(const char *path, mode_t mode)
{
    char *p = strdup(path);
    if (!p)
        return -ENOMEM;
    int rc = 0;
    for (char *q = p + 1;; q++) {
        if (*q == '/' || *q == '\0') {
            char c = *q;
            *q = '\0';
            if (mkdir(p, mode) == 0 ? chmod(p, mode) < 0 : errno != EEXIST) {
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

/* --- deleting what is no longer kept (io thread) --------------------------------------- */

/* After checkpoint new_id completed: keep num_retained complete checkpoints, delete every
 * other checkpoint directory below new_id that no running checkpoint owns (older ones,
 * failed leftovers, ones found corrupt), then the shared files nothing lists any more. */
void retention_run(struct weir_storage *s, uint64_t new_id)
{
    uint64_t *keep = NULL, *ids = NULL;
    size_t nkeep = 0, nids = 0;
    pthread_mutex_lock(&s->lock);
    /* the oldest go, the protected one (weir_storage_protect) aside */
    bool prot = s->protected_id && retained_has(s, s->protected_id);
    for (size_t i = 0; s->nret - prot > (size_t)s->num_retained;) {
        if (s->ret[i].id == s->protected_id)
            i++;
        else
            retained_drop_at(s, i);
    }
    size_t cnt = s->nret;
    for (struct weir_ckpt *c = s->cks; c; c = c->next)
        cnt++;
    keep = malloc((cnt ? cnt : 1) * sizeof *keep);
    if (keep) {
        for (size_t i = 0; i < s->nret; i++)
            keep[nkeep++] = s->ret[i].id;
        for (struct weir_ckpt *c = s->cks; c; c = c->next)
            if (!c->savepoint)
                keep[nkeep++] = c->id;
    }
    pthread_mutex_unlock(&s->lock);
    if (keep && list_checkpoints(s->job_fd, &ids, &nids) == 0) {
        for (size_t i = 0; i < nids && ids[i] < new_id; i++) {
            bool kept = false;
            for (size_t k = 0; k < nkeep && !kept; k++)
                kept = keep[k] == ids[i];
            if (kept)
                continue;
            char name[32];
            snprintf(name, sizeof name, "chk-%" PRIu64, ids[i]);
            int rc = privdir_rm_tree_at(s->job_fd, name);
            if (rc < 0)
                storage_log(s, "state.checkpoints.dir: %s/%s: cannot delete: %s", s->job_dir, name,
                            strerror(-rc));
        }
    }
    free(ids);
    sweep_shared(s);
    if (s->remote && keep)
        remote_retain(s, new_id, keep, nkeep);
    free(keep);
}

int weir_storage_protect(weir_storage *s, uint64_t id)
{
    pthread_mutex_lock(&s->lock);
    bool has = retained_has(s, id);
    if (has)
        s->protected_id = id;
    pthread_mutex_unlock(&s->lock);
    return has ? 0 : -ENOENT;
}

/* Removes what a failed checkpoint left on disk. */
void remove_ck_dir(struct weir_storage *s, struct weir_ckpt *ck)
{
    int rc = 0;
    if (!ck->dir_made)
        return;
    if (!ck->savepoint) {
        rc = privdir_rm_tree_at(s->job_fd, ck->label);
        if (s->remote)
            remote_discard(s, ck);
    } else if (!ck->dir_existed) {
        rc = privdir_rm_tree_at(AT_FDCWD, ck->path);
        if (ck->sp_key)
            remote_discard(s, ck);
    } else {
        /* The person's own empty directory: take back only what we put in it. */
        int fd = open(ck->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
        if (d) {
            struct dirent *de;
            unlinkat(fd, "_metadata", 0);
            while ((de = readdir(d)))
                if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
                    privdir_rm_tree_at(fd, de->d_name);
            closedir(d);
        } else if (fd >= 0) {
            close(fd);
        }
    }
    if (rc < 0)
        storage_log(s, "%s: %s: cannot delete: %s", ck_key(ck), ck->path, strerror(-rc));
}
