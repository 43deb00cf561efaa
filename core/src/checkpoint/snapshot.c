/*
 * The task side of a checkpoint (Flink's snapshot half of StreamTask): on the
 * task's worker, once the barrier handler has aligned barrier n, every
 * operator of the task writes one state file (the synchronous part:
 * serializing state into storage buffers), which goes to the io thread; the
 * task then fills its ack slot in checkpoint n's pending. Also delivers
 * checkpoint_complete to the task's operators once the coordinator has
 * committed a checkpoint (chk_notify).
 *
 * State files hold sections: what the file holds (TAG_IDENTITY: operator uid,
 * subtask, parallelism, key groups, backend, checkpoint id; restore.c checks it
 * against _metadata), the operator's own state (TAG_OPERATOR), then per
 * key group its keyed state (TAG_KEYED | kg) and its timers (TAG_TIMERS | kg),
 * so that restoring at another parallelism reads exactly the key groups a new
 * subtask owns from whichever old files hold them.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <weir/keygroup.h>
#include <weir/operator.h>
#include <weir/storage.h>

#include "checkpoint.h"
#include "runtime_private.h"
#include "state_view.h"

#include <pthread.h>

/* A newer checkpoint may have taken the slot: then id's is gone (settled), and
 * the caller has nothing to write. */
struct pending *chk_find_pending(struct runtime *rt, uint64_t id)
{
    /* acquire: pairs with the release store in pending_new */
    struct pending *pd =
        atomic_load_explicit(&rt->chk.coord->slot[id % SLOTS], memory_order_acquire);
    return pd && pd->id == id ? pd : NULL;
}

bool chk_pending_live(struct runtime *rt, uint64_t id)
{
    return chk_find_pending(rt, id) != NULL;
}

static int put(struct weir_snapshot_out *o, const void *p, size_t n)
{
    return o->write(o, p, n);
}

static int cmp_timer_kg(const void *a, const void *b)
{
    const struct weir_timer *x = a, *y = b;
    return x->key_group < y->key_group ? -1 : x->key_group > y->key_group;
}

/* Timers of one operator, gathered once and sorted by key group; each domain. */
struct timer_list {
    struct weir_timer *v[2];
    size_t n[2];
};

struct gather {
    struct weir_timer *v;
    size_t n, cap;
};

static int gather_one(void *arg, const struct weir_timer *tm)
{
    struct gather *g = arg;
    if (g->n == g->cap)
        return -ENOMEM; /* sized from timers_view_count: cannot happen */
    g->v[g->n++] = *tm;
    return 0;
}

/* The timers of view tv, sorted by key group: on a heap snapshot's writer thread, on the
 * worker for the others. */
static int timers_gather(const struct timer_view *tv, struct timer_list *tl)
{
    for (int d = 0; d < 2; d++) {
        size_t live = timers_view_count(tv, d);
        struct gather g = {.v = live ? malloc(live * sizeof *g.v) : NULL, .cap = live};
        tl->v[d] = g.v;
        tl->n[d] = 0;
        if (live && !g.v)
            return -ENOMEM;
        int rc = timers_view_foreach(tv, d, gather_one, &g);
        if (rc < 0)
            return rc;
        tl->n[d] = g.n;
        if (tl->n[d] > 1)
            qsort(tl->v[d], tl->n[d], sizeof *tl->v[d], cmp_timer_kg);
    }
    return 0;
}

/* timers_gather of a view taken and released here (the worker). */
static int timers_gather_now(struct timer_service *ts, struct timer_list *tl)
{
    struct timer_view *tv = NULL;
    int rc = timers_pin(ts, &tv);
    if (rc == 0)
        rc = timers_gather(tv, tl);
    timers_view_release(tv);
    return rc;
}

/* Section TAG_TIMERS | kg: per domain a count, then (ts, key, ns) triples. */
static int timers_write_kg(struct weir_snapshot_out *o, struct timer_list *tl, uint32_t kg,
                           size_t cursor[2])
{
    for (int d = 0; d < 2; d++) {
        size_t b = cursor[d], e = b;
        while (e < tl->n[d] && tl->v[d][e].key_group == kg)
            e++;
        uint64_t n = e - b;
        int rc = put(o, &n, sizeof n);
        for (size_t i = b; rc == 0 && i < e; i++) {
            const struct weir_timer *t = &tl->v[d][i];
            int64_t rec[3] = {t->ts, (int64_t)t->key, (int64_t)t->ns};
            rc = put(o, rec, sizeof rec);
        }
        if (rc < 0)
            return rc;
        cursor[d] = e;
    }
    return 0;
}

/* Section TAG_IDENTITY, the first of every state file: what the file holds, as its
 * _metadata entry says it (operator uid, subtask, parallelism, key groups, backend) and the
 * checkpoint id, so that a restore can refuse a _metadata that names the wrong file
 * (chk_restore). */
int chk_identity_write(weir_ckpt_file *f, const struct weir_ckpt_entry *e, uint64_t id)
{
    struct weir_snapshot_out *o = weir_ckpt_file_out(f);
    uint32_t len = (uint32_t)strlen(e->operator_uid);
    uint32_t v[5] = {e->subtask, e->parallelism, e->kg_first, e->kg_last, e->backend};
    int rc = weir_ckpt_file_section_begin(f, TAG_IDENTITY);
    if (rc == 0)
        rc = put(o, &len, sizeof len);
    if (rc == 0)
        rc = put(o, e->operator_uid, len);
    if (rc == 0)
        rc = put(o, v, sizeof v);
    return rc == 0 ? put(o, &id, sizeof id) : rc;
}

/* ---- hashmap state: copy-on-write view, written off the worker ------------------------- */

/* What a heap snapshot's writer thread needs: the file (the identity and operator sections
 * already in it), the views of the keyed state and of the timers pinned on the worker. */
struct async_snap {
    struct runtime *rt;
    weir_ckpt_file *f;
    weir_keyed_view *view;
    weir_rocks_view *rview;       /* a full RocksDB snapshot instead of view */
    struct heap_chain_out *chain; /* incremental: the keyed state goes to a chain file */
    struct timer_view *timers;    /* released once gathered into tl */
    struct timer_list tl;
    char why[512]; /* the timer view's, when it was cancelled (timers_set_pool) */
    uint32_t kg_first, kg_last;
};

/* Writer threads still running, per runtime; chk_snapshots_drain waits for them. */
static pthread_mutex_t async_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t async_cond = PTHREAD_COND_INITIALIZER;

static int async_write(struct async_snap *a)
{
    struct weir_snapshot_out *out = weir_ckpt_file_out(a->f);
    size_t cursor[2] = {0, 0};
    int rc = timers_gather(a->timers, &a->tl);
    if (rc < 0)
        snprintf(a->why, sizeof a->why, "%s", timers_view_error(a->timers));
    timers_view_release(a->timers);
    a->timers = NULL;
    if (rc == 0 && a->chain)
        rc = heap_chain_write(a->chain, a->view);
    for (uint32_t kg = a->kg_first; rc == 0 && kg <= a->kg_last; kg++) {
        if (!a->chain) {
            rc = weir_ckpt_file_section_begin(a->f, TAG_KEYED | kg);
            if (rc == 0 && a->rview)
                rc = weir_rocks_view_snapshot_key_group(a->rview, kg, out);
            else if (rc == 0)
                rc = weir_keyed_view_snapshot_key_group(a->view, kg, out);
        }
        if (rc == 0)
            rc = weir_ckpt_file_section_begin(a->f, TAG_TIMERS | kg);
        if (rc == 0)
            rc = timers_write_kg(out, &a->tl, kg, cursor);
    }
    return rc;
}

/* Serializes the view and checksums it into the file's buffers (the io thread writes
 * them), then lets the view go: the worker goes on meanwhile. A failure fails the
 * checkpoint through the file. Last, it leaves the runtime's count: nothing of the
 * runtime is touched after that. */
static void *async_run(void *arg)
{
    struct async_snap *a = arg;
    struct runtime *rt = a->rt;
    int rc = async_write(a);
    if (rc < 0)
        weir_ckpt_file_abort_why(a->f, rc,
                                 a->why[0] ? a->why
                                 : a->chain && *heap_chain_error(a->chain)
                                     ? heap_chain_error(a->chain)
                                 : a->rview ? weir_rocks_view_error(a->rview)
                                            : weir_keyed_view_error(a->view));
    else
        weir_ckpt_file_submit(a->f);
    weir_keyed_view_release(a->view);
    weir_rocks_view_release(a->rview);
    timers_view_release(a->timers);
    heap_chain_out_free(a->chain);
    free(a->tl.v[0]);
    free(a->tl.v[1]);
    free(a);
    pthread_mutex_lock(&async_lock);
    rt->chk.async_snapshots--;
    pthread_cond_broadcast(&async_cond);
    pthread_mutex_unlock(&async_lock);
    return NULL;
}

void chk_snapshots_drain(struct runtime *rt)
{
    pthread_mutex_lock(&async_lock);
    while (rt->chk.async_snapshots > 0)
        pthread_cond_wait(&async_cond, &async_lock);
    pthread_mutex_unlock(&async_lock);
}

static bool any_view_state(const struct runtime *rt)
{
    for (int i = 0; i < rt->n_tasks; i++)
        for (int j = 0; j < rt->tasks[i].n_ops; j++)
            if (weir_keyed_view_applies(rt->tasks[i].ops[j].backend) ||
                weir_rocks_view_applies(rt->tasks[i].ops[j].backend))
                return true;
    return false;
}

/* Heap snapshot writers run on their worker's NUMA node (the view's memory is there), on
 * the cpus no worker's core holds: serializing and checksumming then takes no worker's time.
 * A node whose every core has a worker leaves them to float on its cpus, said once here. */
int chk_snapshot_cpus_setup(struct runtime *rt)
{
    weir_topo *t = rt->topo;
    if (!t || weir_topo_is_synthetic(t) || !any_view_state(rt))
        return 0;
    int nodes = weir_topo_num_nodes(t);
    weir_worker_slot *slots = calloc((size_t)rt->n_workers, sizeof *slots);
    rt->chk.snap_cpus = calloc((size_t)nodes, sizeof *rt->chk.snap_cpus);
    if (!slots || !rt->chk.snap_cpus) {
        free(slots);
        free(rt->chk.snap_cpus);
        rt->chk.snap_cpus = NULL;
        return 0; /* unbound writers: still correct */
    }
    for (int w = 0; w < rt->n_workers; w++)
        slots[w] = rt->workers[w].slot;
    for (int node = 0; node < nodes; node++) {
        bool floating = false, has_worker = false;
        for (int w = 0; w < rt->n_workers; w++)
            has_worker |= slots[w].node == node;
        int n = weir_topo_helper_cpus(t, node, slots, rt->n_workers, &rt->chk.snap_cpus[node],
                                      &floating);
        if (n <= 0)
            CPU_ZERO(&rt->chk.snap_cpus[node]); /* unbound */
        else if (floating && has_worker)
            chk_log(rt,
                    "snapshot threads of NUMA node %d float on its %d cpus: every core there "
                    "runs a worker (parallelism.default, numa.cpus)",
                    node, n);
    }
    rt->chk.snap_nodes = nodes;
    free(slots);
    return 0;
}

/* A writer thread: named apart from the worker whose name it would inherit (top -H). */
static void *writer_main(void *arg)
{
    pthread_setname_np(pthread_self(), "weir-snapshot");
    return async_run(arg);
}

/* Starts a writer thread for a, on the cpus of the worker's node (chk_snapshot_cpus_setup);
 * where that set is refused, unbound. */
static int start_writer(struct runtime *rt, int node, struct async_snap *a)
{
    pthread_t th;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    const cpu_set_t *cpus = rt->chk.snap_cpus && node >= 0 && node < rt->chk.snap_nodes
                                ? &rt->chk.snap_cpus[node]
                                : NULL;
    int rc = -1;
    if (cpus && CPU_COUNT(cpus) > 0 && pthread_attr_setaffinity_np(&attr, sizeof *cpus, cpus) == 0)
        rc = pthread_create(&th, &attr, writer_main, a);
    if (rc != 0) {
        pthread_attr_destroy(&attr);
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        rc = pthread_create(&th, &attr, writer_main, a);
    }
    pthread_attr_destroy(&attr);
    return rc;
}

/* The keyed part of a hashmap operator's snapshot, or a full one of a RocksDB operator
 * (rocks): pin views of the keyed state (a copy-on-write view, or a RocksDB snapshot) and of
 * the timers here (the synchronous part, independent of their size), the rest on a writer
 * thread. With chain (incremental heap), the view writes a chain file (heap_chain.c) named
 * after the state file, name. Owns f from here on. */
static int snapshot_heap_async(struct op_inst *op, weir_ckpt_file *f,
                               const struct weir_ckpt_entry *e, struct pending *pd, uint64_t id,
                               bool chain, bool rocks, const char *name)
{
    struct runtime *rt = op->task->rt;
    struct async_snap *a = calloc(1, sizeof *a);
    int rc = a ? 0 : -ENOMEM;
    if (rc == 0)
        rc = timers_pin(&op->timers, &a->timers);
    if (rc == 0 && chain)
        rc = heap_chain_begin(op, pd, id, f, name, e->kg_first, e->kg_last, &a->view, &a->chain);
    else if (rc == 0 && rocks)
        rc = weir_rocks_view_pin(op->backend, &a->rview);
    else if (rc == 0)
        rc = weir_keyed_view_pin(op->backend, &a->view);
    if (rc < 0) {
        if (a)
            timers_view_release(a->timers);
        free(a);
        weir_ckpt_file_abort(f, rc);
        return rc;
    }
    a->rt = rt;
    a->f = f;
    a->kg_first = e->kg_first;
    a->kg_last = e->kg_last;
    pthread_mutex_lock(&async_lock);
    rt->chk.async_snapshots++;
    pthread_mutex_unlock(&async_lock);
    if (start_writer(rt, op->task->worker->slot.node, a) != 0)
        async_run(a); /* no thread to be had: on the worker, as before */
    return 0;
}

int chk_snapshot_op(struct op_inst *op, struct pending *pd, uint64_t id, bool keyed,
                    struct weir_ckpt_entry *e, char name[256])
{
    weir_ckpt *ck = pd->ck;
    struct task *t = op->task;
    const struct weir_operator_ops *ops = op->node->op;
    const struct weir_source_ops *sops = op->node->src;
    int (*hook)(weir_ctx *, void *, uint64_t, struct weir_snapshot_out *) =
        sops ? sops->snapshot : ops->snapshot;
    uint32_t maxp = (uint32_t)t->rt->max_parallelism, p = (uint32_t)op->ctx.parallelism;
    *e = (struct weir_ckpt_entry){.operator_uid = op->node->uid,
                                  .subtask = (uint32_t)t->subtask,
                                  .parallelism = p,
                                  .kg_first = WEIR_KG_NONE,
                                  .kg_last = WEIR_KG_NONE};
    weir_keyed_backend *backend = keyed ? op->backend : NULL;
    if (!hook && !backend)
        return 0;
    /* Incremental RocksDB: the instance's SST files instead of its entries
     * (savepoints stay in the portable format). */
    bool native = false, chain = false, rocks = false;
    if (backend) {
        rocks = rocks_incremental_applies(backend);
        bool incremental = t->rt->chk.coord->incremental && !pd->savepoint;
        native = incremental && rocks;
        chain = incremental && weir_keyed_view_applies(backend);
        e->kg_first = weir_key_group_range_start((uint32_t)t->subtask, maxp, p);
        e->kg_last = weir_key_group_range_end((uint32_t)t->subtask, maxp, p);
        e->backend = native  ? CHK_STATE_ROCKSDB_INCREMENTAL
                     : chain ? CHK_STATE_HASHMAP_CHAIN
                     : rocks ? CHK_STATE_ROCKSDB
                             : CHK_STATE_HASHMAP;
    }
    int rc = weir_ckpt_file_name(name, 256, op->node->uid, t->subtask);
    weir_ckpt_file *f = NULL;
    if (rc == 0)
        rc = weir_ckpt_file_open(ck, name, &f);
    if (rc < 0)
        return rc;
    struct weir_snapshot_out *out = weir_ckpt_file_out(f);
    rc = chk_identity_write(f, e, id);
    if (rc == 0 && hook) {
        /* list state (SPLIT, UNION): items that a restore at any parallelism deals out */
        enum weir_state_mode mode = sops ? sops->state_mode : ops->state_mode;
        const char *kind = sops ? sops->kind : ops->kind;
        if (kind && *kind) {
            rc = weir_ckpt_file_section_begin(f, TAG_OPERATOR_KIND);
            if (rc == 0)
                rc = out->write(out, kind, strlen(kind));
        }
        if (rc == 0)
            rc = weir_ckpt_file_section_begin(
                f, mode == WEIR_STATE_SAME_PARALLELISM ? TAG_OPERATOR : TAG_OPERATOR_LIST);
        if (rc == 0)
            rc = hook(&op->ctx, op->state, id, out);
    }
    if (rc == 0 && backend && weir_keyed_view_applies(backend)) {
        e->file = name;
        return snapshot_heap_async(op, f, e, pd, id, chain, false, name);
    }
    /* A full RocksDB snapshot: a RocksDB snapshot pinned here, written on a writer thread. */
    if (rc == 0 && backend && rocks && !native && weir_rocks_view_applies(backend)) {
        e->file = name;
        return snapshot_heap_async(op, f, e, pd, id, false, true, name);
    }
    if (rc == 0 && backend) {
        struct timer_list tl = {0};
        size_t cursor[2] = {0, 0};
        rc = timers_gather_now(&op->timers, &tl);
        if (rc == 0 && native) {
            char *tmp = NULL;
            char base[256];
            snprintf(base, sizeof base, "%s", name);
            uint64_t new_bytes = 0;
            rc = rocks_incremental_snapshot(t->rt->chk.coord->storage, backend, ck, f, base, id,
                                            &tmp, &pd->shared, &new_bytes);
            /* the new SSTs count in the subtask's checkpoint size, as in the checkpoint's */
            atomic_fetch_add(&pd->acks[t->index].size_bytes, new_bytes);
            if (tmp) {
                pthread_mutex_lock(&pd->tmp_lock);
                char **v = realloc(pd->tmp_dirs, (pd->n_tmp + 1) * sizeof *v);
                if (v) {
                    pd->tmp_dirs = v;
                    pd->tmp_dirs[pd->n_tmp++] = tmp;
                } else {
                    free(tmp);
                }
                pthread_mutex_unlock(&pd->tmp_lock);
            }
        }
        for (uint32_t kg = e->kg_first; rc == 0 && kg <= e->kg_last; kg++) {
            if (!native) {
                rc = weir_ckpt_file_section_begin(f, TAG_KEYED | kg);
                if (rc == 0)
                    rc = weir_keyed_backend_snapshot_key_group(backend, kg, out);
            }
            if (rc == 0)
                rc = weir_ckpt_file_section_begin(f, TAG_TIMERS | kg);
            if (rc == 0)
                rc = timers_write_kg(out, &tl, kg, cursor);
        }
        free(tl.v[0]);
        free(tl.v[1]);
    }
    if (rc < 0) {
        weir_ckpt_file_abort(f, rc);
        return rc;
    }
    e->file = name;
    return weir_ckpt_file_submit(f);
}

/* Runs on the task's worker when barrier id is aligned (or a
 * source sees the trigger). */
int chk_snapshot_task(struct runtime *rt, struct task *t, uint64_t id, bool ack)
{
    struct pending *pd = chk_find_pending(rt, id);
    if (!pd)
        return 0; /* not ours (aborted before this task saw it) */
    struct task_ack *a = &pd->acks[t->index];
    /* acquire: pairs with the release store of filled in ack_finished (the
     * coordinator acked for this task already) */
    if (atomic_load_explicit(&a->filled, memory_order_acquire))
        return 0;
    uint64_t t0 = now_ns();
    a->n = 0;
    int rc = 0;
    for (int j = 0; j < t->n_ops && rc == 0; j++) {
        a->blobs[j] = BLOB_RUNNING;
        rc = chk_snapshot_op(&t->ops[j], pd, id, true, &a->e[a->n], a->names[j]);
        if (rc == 0 && a->e[a->n].file && chk_test_hooks && chk_test_hooks->snapshot_submitted)
            chk_test_hooks->snapshot_submitted(id);
        if (rc == 0) {
            a->e[a->n].blob = &a->blobs[j];
            a->e[a->n].blob_len = 1;
            a->n++;
        }
    }
    if (rc < 0) {
        /* The checkpoint fails; the job goes on (tolerable-failed-checkpoints). */
        weir_ckpt_abort(pd->ck, rc);
        rc = 0;
    }
    /* In the slot, not in t->chk: the coordinator reads them once this ack is
     * counted, while the worker may already be taking the next checkpoint. */
    a->submit_ns = now_ns();
    a->sync_ms = (a->submit_ns - t0) / 1000000ull;
    if (ack)
        chk_task_ack(pd, t);
    return rc;
}

void chk_task_ack(struct pending *pd, struct task *t)
{
    struct task_ack *a = &pd->acks[t->index];
    /* release: pairs with the acquire loads of filled in ack_finished and
     * chk_snapshot_task (a task acks once); acq_rel on acked pairs with the coordinator's
     * acquire loads of acked in chk_tick, which then reads a->e */
    atomic_store_explicit(&a->filled, 1, memory_order_release);
    atomic_fetch_add_explicit(&pd->acked, 1, memory_order_acq_rel);
}

/* Tasks call this each step: deliver checkpoint_complete up to completed_id. */
void chk_notify(struct task *t)
{
    /* acquire: pairs with the release store of completed_id in settle() */
    uint64_t done = atomic_load_explicit(&t->rt->chk.completed_id, memory_order_acquire);
    if (done <= t->chk.notified_id)
        return;
    t->chk.notified_id = done;
    for (int j = 0; j < t->n_ops; j++) {
        struct op_inst *op = &t->ops[j];
        int (*cb)(weir_ctx *, void *, uint64_t) =
            op->node->src ? op->node->src->checkpoint_complete : op->node->op->checkpoint_complete;
        if (cb) {
            int rc = cb(&op->ctx, op->state, done);
            if (rc < 0)
                weir_ctx_fail(&op->ctx, "commit of checkpoint %" PRIu64 " failed: %s", done,
                              strerror(-rc));
        }
    }
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static bool task_keyed(const struct task *t)
{
    for (int j = 0; j < t->n_ops; j++)
        if (t->ops[j].backend)
            return true;
    return false;
}

/* p50/p99/max of the stalls of the tasks that hold keyed state (keyed true) or of the others
 * (sources, stateless and operator-state-only tasks); 0 snapshots when there are none. */
static void sync_percentiles_of(struct runtime *rt, bool keyed, uint64_t *count, double *p50,
                                double *p99, double *max)
{
    size_t n = 0;
    for (int i = 0; i < rt->n_tasks; i++)
        if (task_keyed(&rt->tasks[i]) == keyed)
            n += rt->tasks[i].chk.n_sync;
    uint32_t *v = n ? malloc(n * sizeof *v) : NULL;
    if (!v)
        return;
    n = 0;
    for (int i = 0; i < rt->n_tasks; i++) {
        const struct task *t = &rt->tasks[i];
        if (task_keyed(t) != keyed || !t->chk.n_sync)
            continue;
        memcpy(v + n, t->chk.sync_us, t->chk.n_sync * sizeof *v);
        n += t->chk.n_sync;
    }
    qsort(v, n, sizeof *v, cmp_u32);
    *count = n;
    *p50 = v[(n - 1) / 2] / 1000.0;
    *p99 = v[(n - 1) * 99 / 100] / 1000.0;
    *max = v[n - 1] / 1000.0;
    free(v);
}

/* Worker stall per snapshot (its synchronous part): over the tasks that hold keyed state,
 * the stall the targets are about, and apart over the others, whose near-zero
 * stalls (a source's position) would hide the keyed ones if pooled. */
void chk_sync_percentiles(struct runtime *rt, struct weir_run_stats *st)
{
    sync_percentiles_of(rt, true, &st->snapshots, &st->sync_ms_p50, &st->sync_ms_p99,
                        &st->sync_ms_max);
    sync_percentiles_of(rt, false, &st->other_snapshots, &st->other_sync_ms_p50,
                        &st->other_sync_ms_p99, &st->other_sync_ms_max);
}
