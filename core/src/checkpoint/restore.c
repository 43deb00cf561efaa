/*
 * Restore on start: before the workers start, every operator reads back its
 * state from the checkpoint or savepoint named by --from-checkpoint /
 * --from-savepoint (or the latest one after a restart): its operator state
 * from the file of its own subtask, its keyed state and timers from whichever
 * files hold the key groups it now owns.
 *
 * A hashmap backend's key groups are independent, so they are restored on several threads
 * at once (state.backend.restore.threads; 0: one per cpu of the backend's NUMA node that
 * the job may use, the snapshot writers' cpus and the workers' own, which run nothing yet).
 * Each thread takes the next key group, reads it with its own handle on the state file and
 * builds its tables in the backend's arena; the first failure stops the others and is
 * reported as the one thread would have. RocksDB backends restore on the calling thread
 * (one instance, write batches, an incremental restore's base instance first).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <weir/keygroup.h>
#include <weir/storage.h>

#include "checkpoint.h"
#include "runtime_private.h"
#include "state_view.h"

int chk_restore_timers(struct timer_service *t, struct weir_snapshot_in *in, uint32_t kg)
{
    for (int d = 0; d < 2; d++) {
        uint64_t n;
        int rc = in->read(in, &n, sizeof n);
        if (rc < 0)
            return rc;
        for (uint64_t i = 0; i < n; i++) {
            int64_t rec[3];
            rc = in->read(in, rec, sizeof rec);
            if (rc < 0)
                return rc;
            struct weir_timer tm = {
                .ts = rec[0], .key = (uint64_t)rec[1], .ns = (uint64_t)rec[2], .key_group = kg};
            rc = timers_add(t, d, &tm);
            if (rc < 0)
                return rc;
        }
    }
    return 0;
}

const char *chk_backend_str(uint32_t b)
{
    static const char *const names[] = {"none", "hashmap", "rocksdb", "rocksdb-incremental",
                                        "hashmap-incremental"};
    return b < sizeof names / sizeof names[0] ? names[b] : "unknown";
}

/* What a state file says it holds (its TAG_IDENTITY section, snapshot.c identity_write). */
struct identity {
    char uid[1024];
    uint32_t v[5]; /* subtask, parallelism, kg_first, kg_last, backend */
    uint64_t id;
};

static int identity_read(weir_restore_file *f, struct identity *id)
{
    size_t sec;
    if (weir_restore_file_find(f, TAG_IDENTITY, &sec) < 0)
        return -ENOENT;
    struct weir_snapshot_in *in = weir_restore_file_section_in(f, sec);
    uint32_t len;
    int rc = in->read(in, &len, sizeof len);
    if (rc == 0 && len >= sizeof id->uid)
        rc = -EBADMSG;
    if (rc == 0)
        rc = in->read(in, id->uid, len);
    if (rc == 0) {
        id->uid[len] = 0;
        rc = in->read(in, id->v, sizeof id->v);
    }
    return rc == 0 ? in->read(in, &id->id, sizeof id->id) : rc;
}

/* Refuses a _metadata entry that does not describe the file it names (a forged or mixed-up
 * _metadata: the key groups of two subtasks or the files of two operators swapped would
 * otherwise restore empty or foreign state): one line with the file, the field, what
 * _metadata says and what the file says. */
int chk_check_identity(weir_restore *r, const struct weir_ckpt_meta *m,
                       const struct weir_ckpt_entry *e, char *err, size_t errlen)
{
    const char *dir = weir_restore_dir(r);
    weir_restore_file *f;
    struct identity id;
    int rc = weir_restore_file_open(r, e->file, &f);
    if (rc < 0) {
        snprintf(err, errlen, "%s/%s: %s", dir, e->file, strerror(-rc));
        return rc;
    }
    rc = identity_read(f, &id);
    weir_restore_file_close(f);
    if (rc < 0) {
        snprintf(err, errlen,
                 "%s/%s: the file does not say what it holds (%s) while _metadata says operator "
                 "\"%s\" subtask %u: restore another checkpoint",
                 dir, e->file, rc == -ENOENT ? "no identity section" : strerror(-rc),
                 e->operator_uid, e->subtask);
        return -EBADMSG;
    }
    static const char *const field[] = {"subtask", "parallelism", "kg_first", "kg_last"};
    const uint32_t want[] = {e->subtask, e->parallelism, e->kg_first, e->kg_last};
    char says[64] = "", has[64] = "";
    const char *what = NULL;
    if (strcmp(id.uid, e->operator_uid) != 0) {
        snprintf(err, errlen,
                 "%s/%s: operator_uid: _metadata says \"%s\", the file says \"%s\"; the "
                 "checkpoint's _metadata does not describe its state files: restore another "
                 "checkpoint",
                 dir, e->file, e->operator_uid, id.uid);
        return -EBADMSG;
    }
    for (int i = 0; i < 4 && !what; i++)
        if (want[i] != id.v[i]) {
            what = field[i];
            snprintf(says, sizeof says, "%u", want[i]);
            snprintf(has, sizeof has, "%u", id.v[i]);
        }
    if (!what && e->backend != id.v[4]) {
        what = "backend";
        snprintf(says, sizeof says, "%s", chk_backend_str(e->backend));
        snprintf(has, sizeof has, "%s", chk_backend_str(id.v[4]));
    }
    if (!what && m->checkpoint_id != id.id) {
        what = "checkpoint id";
        snprintf(says, sizeof says, "%" PRIu64, m->checkpoint_id);
        snprintf(has, sizeof has, "%" PRIu64, id.id);
    }
    if (!what)
        return 0;
    snprintf(err, errlen,
             "%s/%s: %s: _metadata says %s, the file says %s (operator \"%s\"); the "
             "checkpoint's _metadata does not describe its state files: restore another "
             "checkpoint",
             dir, e->file, what, says, has, e->operator_uid);
    return -EBADMSG;
}

/* The keyed entry of uid whose key groups overlap [first, last] the most (the first of equals):
 * restored first, so that an incremental RocksDB restore opens that instance as its base and
 * copies in only the other instances' key groups (Flink's choice of the initial handle). */
static size_t widest_overlap(const struct weir_ckpt_meta *m, const char *uid, uint32_t first,
                             uint32_t last)
{
    size_t best = 0;
    uint32_t most = 0;
    for (size_t i = 0; i < m->entry_count; i++) {
        const struct weir_ckpt_entry *e = &m->entries[i];
        if (strcmp(e->operator_uid, uid) != 0 || e->kg_first == WEIR_KG_NONE || !e->file ||
            !*e->file || e->kg_last < first || e->kg_first > last)
            continue;
        uint32_t a = e->kg_first > first ? e->kg_first : first;
        uint32_t b = e->kg_last < last ? e->kg_last : last;
        if (b - a + 1 > most) {
            most = b - a + 1;
            best = i;
        }
    }
    return best;
}

/* ---- hashmap key groups on several threads ----------------------------------------------- */

struct kg_item {
    const struct weir_ckpt_entry *e;
    const struct heap_chain_kgs *chain; /* e's keyed state is a heap chain: kg's place in it */
    uint32_t kg;
};

struct par_restore {
    weir_restore *r;
    struct op_inst *op;
    struct kg_item *items;
    size_t n;
    _Atomic size_t next;
    _Atomic bool failed;
    pthread_mutex_t lock; /* the operator's timers; rc, err */
    int rc;               /* the first failure */
    char err[1024];       /* its line, when it has its own (a heap chain's) */
};

/* Key groups from the next item on until all are taken or one failed; each thread keeps the
 * file of its last item open, as the items of one file come one after the other. */
static void *par_main(void *arg)
{
    struct par_restore *p = arg;
    struct weir_restore_scratch sc = {0};
    weir_restore_file *f = NULL;
    const struct weir_ckpt_entry *open_e = NULL;
    while (!atomic_load_explicit(&p->failed, memory_order_relaxed)) {
        size_t i = atomic_fetch_add_explicit(&p->next, 1, memory_order_relaxed);
        if (i >= p->n)
            break;
        const struct kg_item *it = &p->items[i];
        int rc = 0;
        size_t sec;
        if (it->e != open_e) {
            weir_restore_file_close(f);
            f = NULL;
            open_e = it->e;
            rc = weir_restore_file_open(p->r, it->e->file, &f);
        }
        char why[1024] = "";
        if (rc == 0 && it->chain)
            rc = heap_chain_restore_kg(it->chain, p->op->backend, it->kg, &sc, why, sizeof why);
        if (rc == 0 && weir_restore_file_find(f, TAG_KEYED | it->kg, &sec) == 0)
            rc = weir_keyed_backend_restore_key_group_scratch(
                p->op->backend, it->kg, weir_restore_file_section_in(f, sec), &sc);
        if (rc == 0 && weir_restore_file_find(f, TAG_TIMERS | it->kg, &sec) == 0) {
            pthread_mutex_lock(&p->lock);
            rc = chk_restore_timers(&p->op->timers, weir_restore_file_section_in(f, sec), it->kg);
            pthread_mutex_unlock(&p->lock);
        }
        if (rc < 0) {
            pthread_mutex_lock(&p->lock);
            if (!p->rc && !why[0] && sc.err[0]) /* the backend's line: a state's shape... */
                snprintf(p->err, sizeof p->err,
                         "operator \"%s\" (subtask %d): restoring keyed state failed: %s",
                         p->op->node->uid, p->op->task->subtask + 1, sc.err);
            else if (!p->rc)
                snprintf(p->err, sizeof p->err, "%s", why);
            if (!p->rc)
                p->rc = rc;
            pthread_mutex_unlock(&p->lock);
            atomic_store_explicit(&p->failed, true, memory_order_relaxed);
        }
    }
    weir_restore_file_close(f);
    weir_restore_scratch_free(&sc);
    return NULL;
}

/* Where the restore threads of a backend on NUMA node `node` run: the node's cpus that the
 * snapshot writers may use and those of its workers (they run nothing before the restore
 * ends). Returns how many; 0 when that cannot be known (no topology or a synthetic one):
 * then the threads are unbound and as many as the process's cpus. */
static int restore_cpus(struct runtime *rt, int node, cpu_set_t *set)
{
    CPU_ZERO(set);
    weir_topo *t = rt->topo;
    if (!t || weir_topo_is_synthetic(t) || node < 0 || rt->n_workers <= 0)
        return 0;
    weir_worker_slot *slots = calloc((size_t)rt->n_workers, sizeof *slots);
    if (!slots)
        return 0;
    for (int w = 0; w < rt->n_workers; w++)
        slots[w] = rt->workers[w].slot;
    bool floating = false;
    if (weir_topo_helper_cpus(t, node, slots, rt->n_workers, set, &floating) < 0)
        CPU_ZERO(set);
    for (int w = 0; w < rt->n_workers; w++)
        if (slots[w].node == node && slots[w].pu_os_index >= 0 &&
            slots[w].pu_os_index < CPU_SETSIZE)
            CPU_SET(slots[w].pu_os_index, set);
    free(slots);
    return CPU_COUNT(set);
}

/* The restore threads for the backend of op: state.backend.restore.threads, or (0) one per
 * cpu of restore_cpus; never more than the key groups. */
static int restore_threads(struct runtime *rt, struct op_inst *op, size_t items, cpu_set_t *set,
                           bool *bind)
{
    int64_t want = weir_config_get_int(rt->cfg, "state.backend.restore.threads");
    int ncpu = restore_cpus(rt, op->task->worker ? op->task->worker->slot.node : -1, set);
    *bind = ncpu > 0;
    if (want <= 0) {
        want = ncpu > 0 ? ncpu : sysconf(_SC_NPROCESSORS_ONLN);
        if (want < 1)
            want = 1;
    }
    return (int)(want < (int64_t)items ? want : (int64_t)items);
}

/* Restores items on threads (the calling one among them) for a hashmap backend; a failure's
 * own line (a heap chain's) in err, else err untouched. */
static int restore_parallel(struct runtime *rt, weir_restore *r, struct op_inst *op,
                            struct kg_item *items, size_t n, char *err, size_t errlen)
{
    struct par_restore p = {.r = r, .op = op, .items = items, .n = n};
    cpu_set_t set;
    bool bind = false;
    int threads = restore_threads(rt, op, n, &set, &bind);
    pthread_mutex_init(&p.lock, NULL);
    if (threads <= 1 || weir_keyed_backend_restore_parallel_begin(op->backend) < 0) {
        par_main(&p); /* one thread: the backend as it is */
        pthread_mutex_destroy(&p.lock);
        if (p.rc < 0 && p.err[0])
            snprintf(err, errlen, "%s", p.err);
        return p.rc;
    }
    pthread_t *th = calloc((size_t)threads, sizeof *th);
    int started = 0;
    for (int i = 0; th && i < threads - 1; i++) {
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        if (bind)
            pthread_attr_setaffinity_np(&attr, sizeof set, &set);
        int rc = pthread_create(&th[i], &attr, par_main, &p);
        if (rc != 0 && bind) /* the set refused: unbound */
            rc = pthread_create(&th[i], NULL, par_main, &p);
        pthread_attr_destroy(&attr);
        if (rc != 0)
            break; /* fewer threads: still correct */
        pthread_setname_np(th[i], "weir-restore");
        started++;
    }
    par_main(&p);
    for (int i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    free(th);
    pthread_mutex_destroy(&p.lock);
    weir_keyed_backend_restore_parallel_end(op->backend);
    if (p.rc < 0 && p.err[0])
        snprintf(err, errlen, "%s", p.err);
    return p.rc;
}

/* A hashmap backend's keyed state: where each key group is in the chains of incremental
 * files (heap_chain.c), then every key group (its chain replayed in order, or its section)
 * and its timers, on threads. The error lines are the ones
 * restore_op gives a RocksDB backend. */
static int restore_heap_keyed(struct runtime *rt, weir_restore *r, struct op_inst *op,
                              const struct weir_ckpt_meta *m, uint32_t first, uint32_t last,
                              char *err, size_t errlen)
{
    const char *uid = op->node->uid;
    struct kg_item *items = calloc((size_t)(last - first) + 1, sizeof *items);
    struct heap_chain_kgs **chains = calloc(m->entry_count ? m->entry_count : 1, sizeof *chains);
    size_t n = 0;
    int rc = items && chains ? 0 : -ENOMEM;
    for (size_t i = 0; i < m->entry_count && rc == 0; i++) {
        const struct weir_ckpt_entry *e = &m->entries[i];
        if (strcmp(e->operator_uid, uid) != 0 || e->kg_first == WEIR_KG_NONE || !e->file ||
            !*e->file || e->kg_last < first || e->kg_first > last)
            continue;
        uint32_t a = e->kg_first > first ? e->kg_first : first;
        uint32_t b = e->kg_last < last ? e->kg_last : last;
        weir_restore_file *f;
        rc = weir_restore_file_open(r, e->file, &f);
        if (rc < 0)
            break;
        if (rocks_file_is_incremental(f)) /* refused, with its line */
            rc = rocks_incremental_restore(op->backend, r, f, a, b, err, errlen);
        else if (heap_chain_file(f))
            rc = heap_chain_index(r, f, e, a, b, &chains[i], err, errlen);
        weir_restore_file_close(f);
        if (rc < 0)
            goto out; /* err says it */
        for (uint32_t kg = a; kg <= b && n <= last - first; kg++)
            items[n++] = (struct kg_item){e, chains[i], kg};
    }
    err[0] = '\0';
    if (rc == 0)
        rc = restore_parallel(rt, r, op, items, n, err, errlen);
    if (rc < 0 && !err[0])
        snprintf(err, errlen, "operator \"%s\" (subtask %d): restoring keyed state failed: %s", uid,
                 op->task->subtask + 1, strerror(-rc));
out:
    for (size_t i = 0; chains && i < m->entry_count; i++)
        heap_chain_kgs_free(chains[i]);
    free(chains);
    free(items);
    return rc;
}

/* The operator's error line when its restore hook failed: its own words (weir_ctx_fail:
 * which file, which call) when it gave any. */
static void hook_failed(struct runtime *rt, struct op_inst *op, int rc, char *err, size_t errlen)
{
    char why[512];
    if (!rt_error_copy(rt, why, sizeof why))
        snprintf(why, sizeof why, "%s", strerror(-rc));
    snprintf(err, errlen, "operator \"%s\" (subtask %d): restoring its state failed: %s",
             op->node->uid, op->task->subtask + 1, why);
}

/* List state (op_state.c): the items of every old subtask, this subtask's share of them
 * to restore_items, once, at whatever parallelism they were taken. */
static int restore_items(struct runtime *rt, weir_restore *r, struct op_inst *op,
                         const struct weir_ckpt_meta *m, enum weir_state_mode mode, char *err,
                         size_t errlen)
{
    /* the builder refused list state without this hook (graph/job.c state_mode_ok) */
    int (*hook)(weir_ctx *, void *, const struct weir_state_item *, size_t) =
        op->node->src ? op->node->src->restore_items : op->node->op->restore_items;
    struct chk_items all;
    int rc = chk_items_load(r, m, op->node->uid, &all);
    if (rc < 0) {
        snprintf(err, errlen, "operator \"%s\" (subtask %d): reading its state failed: %s",
                 op->node->uid, op->task->subtask + 1, strerror(-rc));
        return rc;
    }
    struct weir_state_item *mine = calloc(all.n ? all.n : 1, sizeof *mine);
    rc = mine ? 0 : -ENOMEM;
    if (rc == 0) {
        size_t n = chk_items_deal(all.v, all.n, mode, (uint32_t)op->ctx.parallelism,
                                  (uint32_t)op->task->subtask, mine);
        rc = hook(&op->ctx, op->state, mine, n);
    }
    if (rc < 0)
        hook_failed(rt, op, rc, err, errlen);
    free(mine);
    chk_items_free(&all);
    return rc;
}

/* Restores one operator from the entries of its uid. */
static int restore_op(struct runtime *rt, weir_restore *r, struct op_inst *op,
                      const struct weir_ckpt_meta *m, char *err, size_t errlen)
{
    struct task *t = op->task;
    const char *uid = op->node->uid;
    uint32_t maxp = (uint32_t)rt->max_parallelism, p = (uint32_t)op->ctx.parallelism;
    const struct weir_ckpt_entry *mine = NULL;
    size_t count = 0;
    for (size_t i = 0; i < m->entry_count; i++) {
        const struct weir_ckpt_entry *e = &m->entries[i];
        if (strcmp(e->operator_uid, uid) != 0)
            continue;
        count++;
        if (e->subtask == (uint32_t)t->subtask)
            mine = e;
    }
    if (!count)
        return 0; /* a new operator: starts empty */
    enum weir_state_mode mode =
        op->node->src ? op->node->src->state_mode : op->node->op->state_mode;
    /* A source subtask that had finished finishes again, as its source operator says (the
     * operators chained behind it finished with it). Not a source with list state: its splits
     * are dealt again, and what this subtask is dealt may be another's live split (a source
     * without live splits finishes by itself). */
    if (mine && mine->parallelism == p && mine->blob_len == 1 &&
        *(const char *)mine->blob == BLOB_FINISHED && op->node->src &&
        mode == WEIR_STATE_SAME_PARALLELISM)
        t->restored_finished = true;
    int rc = 0;
    if (mode != WEIR_STATE_SAME_PARALLELISM)
        rc = restore_items(rt, r, op, m, mode, err, errlen);
    if (rc < 0)
        return rc;
    /* operator state: same subtask index, same parallelism */
    int (*hook)(weir_ctx *, void *, struct weir_snapshot_in *) =
        op->node->src ? op->node->src->restore : op->node->op->restore;
    if (mode == WEIR_STATE_SAME_PARALLELISM && hook && mine && mine->file && *mine->file) {
        if (mine->parallelism != p) {
            const char *kind = op->node->src ? op->node->src->kind : op->node->op->kind;
            snprintf(err, errlen,
                     "operator \"%s\" (%s): its state was taken at parallelism %u, not %u, "
                     "and a %s operator's state is restored only at the parallelism it was "
                     "taken at: run with -p %u",
                     uid, kind ? kind : "?", mine->parallelism, p, kind ? kind : "?",
                     mine->parallelism);
            return -EINVAL;
        }
        weir_restore_file *f;
        size_t sec;
        rc = weir_restore_file_open(r, mine->file, &f);
        if (rc == 0) {
            if (weir_restore_file_find(f, TAG_OPERATOR, &sec) == 0)
                rc = hook(&op->ctx, op->state, weir_restore_file_section_in(f, sec));
            weir_restore_file_close(f);
        }
        if (rc < 0) {
            hook_failed(rt, op, rc, err, errlen);
            return rc;
        }
    }
    if (!op->backend)
        return 0;
    /* keyed state: every key group this subtask owns, from whichever file has it */
    uint32_t first = weir_key_group_range_start((uint32_t)t->subtask, maxp, p);
    uint32_t last = weir_key_group_range_end((uint32_t)t->subtask, maxp, p);
    if (m->max_parallelism != maxp) {
        snprintf(err, errlen,
                 "operator \"%s\": the checkpoint has %u key groups but "
                 "pipeline.max-parallelism is %u; keep pipeline.max-parallelism as it was",
                 uid, m->max_parallelism, maxp);
        return -EINVAL;
    }
    if (weir_keyed_view_applies(op->backend))
        return restore_heap_keyed(rt, r, op, m, first, last, err, errlen);
    size_t widest = widest_overlap(m, uid, first, last);
    rc = weir_keyed_backend_restore_run_begin(op->backend);
    for (size_t n = 0; n < m->entry_count && rc == 0; n++) {
        /* the widest overlap first, then the others in order */
        size_t i = n == 0 ? widest : n - 1 < widest ? n - 1 : n;
        const struct weir_ckpt_entry *e = &m->entries[i];
        if (strcmp(e->operator_uid, uid) != 0 || e->kg_first == WEIR_KG_NONE || !e->file ||
            !*e->file || e->kg_last < first || e->kg_first > last)
            continue;
        weir_restore_file *f;
        rc = weir_restore_file_open(r, e->file, &f);
        if (rc < 0)
            break;
        uint32_t a = e->kg_first > first ? e->kg_first : first;
        uint32_t b = e->kg_last < last ? e->kg_last : last;
        if (rocks_file_is_incremental(f) || heap_chain_file(f)) {
            rc = heap_chain_file(f)
                     ? heap_chain_restore(op->backend, r, f, e, a, b, err, errlen)
                     : rocks_incremental_restore(op->backend, r, f, a, b, err, errlen);
            if (rc < 0) {
                weir_restore_file_close(f);
                weir_keyed_backend_restore_run_end(op->backend, false);
                return rc;
            }
        }
        for (uint32_t kg = a; kg <= b && rc == 0; kg++) {
            size_t sec;
            if (weir_restore_file_find(f, TAG_KEYED | kg, &sec) == 0)
                rc = weir_keyed_backend_restore_key_group(op->backend, kg,
                                                          weir_restore_file_section_in(f, sec));
            if (rc == 0 && weir_restore_file_find(f, TAG_TIMERS | kg, &sec) == 0)
                rc = chk_restore_timers(&op->timers, weir_restore_file_section_in(f, sec), kg);
        }
        weir_restore_file_close(f);
    }
    /* the key groups ingested, as one SST, only now (weir_keyed_backend_restore_run_begin) */
    /* the backend's line (a state the job declares with another shape) before it ends */
    char why[512];
    snprintf(why, sizeof why, "%s", rc < 0 ? weir_keyed_backend_error(op->backend) : "");
    int end = weir_keyed_backend_restore_run_end(op->backend, rc == 0);
    rc = rc < 0 ? rc : end;
    if (rc < 0)
        snprintf(err, errlen, "operator \"%s\" (subtask %d): restoring keyed state failed: %s", uid,
                 t->subtask + 1, why[0] ? why : strerror(-rc));
    return rc;
}

/* _metadata's entries of each operator are one per subtask of the parallelism they record,
 * each keyed one over the key groups that subtask owned: an entry left out, repeated or
 * with another range would restore key groups empty or twice. */
int chk_check_entries(const struct weir_ckpt_meta *m, const char *dir, char *err, size_t errlen)
{
    for (size_t i = 0; i < m->entry_count; i++) {
        const struct weir_ckpt_entry *e = &m->entries[i];
        uint32_t p = e->parallelism, maxp = m->max_parallelism;
        if (chk_is_channels_uid(e->operator_uid))
            continue; /* a finished subtask has none (chk_restore_channels reads them) */
        const char *bad = NULL;
        if (p == 0 || e->subtask >= p || p > maxp)
            bad = "a subtask outside its parallelism";
        else if (e->kg_first != WEIR_KG_NONE &&
                 (e->kg_first != weir_key_group_range_start(e->subtask, maxp, p) ||
                  e->kg_last != weir_key_group_range_end(e->subtask, maxp, p)))
            bad = "key groups that subtask did not own";
        uint32_t seen = 0;
        for (size_t j = 0; j < m->entry_count && !bad; j++) {
            const struct weir_ckpt_entry *o = &m->entries[j];
            if (strcmp(o->operator_uid, e->operator_uid) != 0)
                continue;
            if (o->parallelism != p)
                bad = "entries of two parallelisms";
            else if (j != i && o->subtask == e->subtask)
                bad = "this subtask twice";
            seen |= j < i; /* checked once per operator, at its first entry */
        }
        if (!bad && !seen)
            for (uint32_t sub = 0; sub < p && !bad; sub++) {
                bool found = false;
                for (size_t j = 0; j < m->entry_count && !found; j++)
                    found = !strcmp(m->entries[j].operator_uid, e->operator_uid) &&
                            m->entries[j].subtask == sub;
                if (!found) {
                    snprintf(err, errlen,
                             "%s/_metadata: operator \"%s\" at parallelism %u has no entry for "
                             "subtask %u; the checkpoint's _metadata is incomplete: restore "
                             "another checkpoint",
                             dir, e->operator_uid, p, sub);
                    return -EBADMSG;
                }
            }
        if (bad) {
            snprintf(err, errlen,
                     "%s/_metadata: operator \"%s\" subtask %u of %u (key groups %u..%u): %s; "
                     "the checkpoint's _metadata is inconsistent: restore another checkpoint",
                     dir, e->operator_uid, e->subtask, p, e->kg_first, e->kg_last, bad);
            return -EBADMSG;
        }
    }
    return 0;
}

/* The uid of entry i when no operator of the job has it and no earlier entry had it too. */
static const char *unmatched_uid(struct runtime *rt, const struct weir_ckpt_meta *m, size_t i)
{
    const char *uid = m->entries[i].operator_uid;
    for (int k = 0; k < rt->job->n_nodes; k++)
        if (!strcmp(rt->job->nodes[k]->uid, uid))
            return NULL;
    if (chk_channels_uid_known(rt, uid))
        return NULL;
    for (size_t j = 0; j < i; j++)
        if (!strcmp(m->entries[j].operator_uid, uid))
            return NULL;
    return uid;
}

/* State of uids no operator has any more (an upgrade removed them): refused with one line
 * naming every such uid and the flag, or with --allow-non-restored-state dropped with a log
 * line naming each. */
static int check_unmatched(struct runtime *rt, weir_restore *r, char *err, size_t errlen)
{
    const struct weir_ckpt_meta *m = weir_restore_meta(r);
    char uids[1024] = "";
    size_t len = 0, n = 0;
    for (size_t i = 0; i < m->entry_count; i++) {
        const char *uid = unmatched_uid(rt, m, i);
        if (!uid)
            continue;
        n++;
        if (rt->opts->allow_non_restored_state)
            chk_log(rt,
                    "%s: dropping the state of operator uid \"%s\": no operator of job %s has "
                    "it (--allow-non-restored-state)",
                    weir_restore_dir(r), uid, rt->job->name);
        else if (len < sizeof uids)
            len += (size_t)snprintf(uids + len, sizeof uids - len, "%s\"%s\"", n > 1 ? ", " : "",
                                    uid);
    }
    if (n == 0 || rt->opts->allow_non_restored_state)
        return 0;
    snprintf(err, errlen,
             "%s: state of operator uid%s %s match%s no operator of job %s; pass "
             "--allow-non-restored-state (--allowNonRestoredState) to skip it",
             weir_restore_dir(r), n > 1 ? "s" : "", uids, n > 1 ? "" : "es", rt->job->name);
    return -EINVAL;
}

/* What the checkpoint holds fits the job before any operator opens: every piece of state
 * finds its operator, and every state file is what its entry says. */
static int check_checkpoint(struct runtime *rt, weir_restore *r, char *err, size_t errlen)
{
    const struct weir_ckpt_meta *m = weir_restore_meta(r);
    int rc = check_unmatched(rt, r, err, errlen);
    if (rc == 0)
        rc = chk_check_entries(m, weir_restore_dir(r), err, errlen);
    for (size_t i = 0; i < m->entry_count && rc == 0; i++)
        if (m->entries[i].file && *m->entries[i].file)
            rc = chk_check_identity(r, m, &m->entries[i], err, errlen);
    return rc;
}

int chk_restore_open(struct runtime *rt, char *err, size_t errlen)
{
    const char *from = rt->opts->restore_from;
    rt->chk.restore = NULL;
    if (!from)
        return 0;
    weir_restore *r = NULL;
    int rc;
    if (!strcmp(from, "latest")) {
        rc = weir_restore_open_latest(rt->chk.coord->storage, 0, &r);
        if (rc == -ENOENT) {
            /* a fresh run (weir_ctx_start), its output checked as one's */
            chk_log(rt, "no complete checkpoint under %s yet: starting empty",
                    weir_storage_job_dir(rt->chk.coord->storage));
            return 0;
        }
        if (rc < 0) {
            snprintf(err, errlen, "--from-checkpoint latest: %s: no valid checkpoint (%s)",
                     weir_storage_job_dir(rt->chk.coord->storage), strerror(-rc));
            return rc;
        }
    } else {
        char why[1024];
        rc = weir_restore_open_config(rt->cfg, from, 0, &r, why, sizeof why); /* s3://: fetched */
        if (rc < 0) {
            snprintf(err, errlen, "--from-checkpoint %s", why);
            return rc;
        }
    }
    rc = check_checkpoint(rt, r, err, errlen);
    if (rc == 0)
        rc = chk_claim_open(rt, r, err, errlen);
    if (rc < 0) {
        weir_restore_close(r);
        return rc;
    }
    rt->chk.restore = r;
    return 0;
}

void chk_restore_close(struct runtime *rt)
{
    weir_restore_close(rt->chk.restore);
    rt->chk.restore = NULL;
}

/* The keyed states op's snapshot had that the job (upgraded) did not declare by the end of
 * its open: kept, as Flink keeps them, for an operator may declare a state on its first
 * record; dropped with --allow-non-restored-state when the operator declared some other
 * state at open (then it declares its states there: an operator that declared none at open
 * keeps them all, flag or not). A log line per state says which. */
static int undeclared_states(struct runtime *rt, struct op_inst *op, char *err, size_t errlen)
{
    weir_keyed_backend *be = op->backend;
    uint32_t n = be ? weir_keyed_backend_state_count(be) : 0;
    bool at_open = false, first = op->task->subtask == 0;
    for (uint32_t id = 0; id < n && !at_open; id++)
        at_open = weir_keyed_backend_state_declared(be, id);
    bool drop = rt->opts->allow_non_restored_state && at_open;
    for (uint32_t id = 0; id < n; id++) {
        if (weir_keyed_backend_state_declared(be, id))
            continue;
        const char *name = weir_keyed_backend_state_name(be, id, NULL);
        if (first && drop)
            chk_log(rt,
                    "operator \"%s\": dropping state \"%s\" of the snapshot: the job does not "
                    "declare it (--allow-non-restored-state)",
                    op->node->uid, name);
        else if (first)
            chk_log(rt,
                    "operator \"%s\": state \"%s\" of the snapshot is not declared by the job "
                    "at open: kept for a later declaration%s",
                    op->node->uid, name,
                    at_open ? " (--allow-non-restored-state drops it)"
                            : " (the operator declares no state at open)");
        int rc = drop ? weir_keyed_backend_state_drop(be, id) : 0;
        if (rc < 0) {
            snprintf(err, errlen, "operator \"%s\" (subtask %d): dropping state \"%s\": %s",
                     op->node->uid, op->task->subtask + 1, name, strerror(-rc));
            return rc;
        }
    }
    return 0;
}

static int restore_checkpoint(struct runtime *rt, char *err, size_t errlen)
{
    weir_restore *r = rt->chk.restore;
    if (!r)
        return 0;
    const struct weir_ckpt_meta *m = weir_restore_meta(r);
    int rc = 0;
    for (int i = 0; i < rt->n_tasks && rc == 0; i++)
        for (int j = 0; j < rt->tasks[i].n_ops && rc == 0; j++) {
            rc = restore_op(rt, r, &rt->tasks[i].ops[j], m, err, errlen);
            if (rc == 0)
                rc = undeclared_states(rt, &rt->tasks[i].ops[j], err, errlen);
        }
    if (rc == 0)
        rc = chk_restore_channels(rt, r, m, err, errlen);
    if (rc == 0) {
        rt->chk.restored_id = m->checkpoint_id;
        for (size_t i = 0; i < m->entry_count; i++)
            rt->chk.restored_bytes += m->entries[i].size_bytes;
        for (size_t i = 0; i < m->shared_count; i++) /* the SSTs of incremental RocksDB */
            rt->chk.restored_bytes += m->shared[i].size_bytes;
        chk_log(rt, "restored from %s (checkpoint %" PRIu64 ")", weir_restore_dir(r),
                m->checkpoint_id);
        chk_history_restored(rt, m->checkpoint_id, m->savepoint, weir_restore_dir(r));
        /* What the restored checkpoint staged is committed: it was complete. */
        atomic_store(&rt->chk.completed_id, m->checkpoint_id);
    }
    chk_restore_close(rt);
    return rc;
}

int chk_restore(struct runtime *rt, char *err, size_t errlen)
{
    int rc = restore_checkpoint(rt, err, errlen);
    /* Crash points count the checkpoints of this run from its first id, which the restore
     * sets (WEIR_CRASH_POINT, test_hooks.c). */
    if (rc == 0 && rt->chk.on && chk_test_hooks && chk_test_hooks->storage_opened)
        chk_test_hooks->storage_opened(rt->chk.coord->storage, chk_next_id(rt));
    return rc;
}
