/*
 * Checkpoints: the coordinator (control thread) and the task side (workers),
 * over the storage of io/include/weir/storage.h. Flink's
 * CheckpointCoordinator and the snapshot half of its StreamTask.
 *
 * A checkpoint, coordinator side (one struct pending each):
 *
 *   PENDING --every task acked--> COMMITTING --_metadata durable--> COMPLETED
 *      |                              |
 *      +--timeout / file error--------+------------------------------> FAILED
 *   (a timeout aborts: the storage settles the checkpoint as failed, -ETIMEDOUT
 *    counts as EXPIRED in the log line)
 *
 *   trigger:   chk_tick begins checkpoint n in storage, marks the tasks that have
 *              already finished as acked (finished marker, no state), and
 *              publishes n in rt->trigger (release; the sources' acquire load).
 *   sources:   take their snapshot (position) and emit barrier n in-band.
 *   tasks:     align (runtime.c), snapshot into one state file per stateful
 *              operator (the synchronous part: serializing state into storage
 *              buffers), hand the files to the io thread, fill their ack slot.
 *   commit:    when every slot is filled, chk_tick commits _metadata (the
 *              storage's io thread writes it atomically once the files are
 *              durable) and, once it is, publishes n in rt->completed_id:
 *              tasks then call checkpoint_complete (sinks publish).
 *
 * State files hold sections: the operator's own state (TAG_OPERATOR), then per
 * key group its keyed state (TAG_KEYED | kg) and its timers (TAG_TIMERS | kg),
 * so that restoring at another parallelism reads exactly the key groups a new
 * subtask owns from whichever old files hold them.
 */
#include <assert.h>
#include <signal.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <strings.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <weir/config.h>
#include <weir/keygroup.h>
#include <weir/operator.h>
#include <weir/storage.h>
#include <weir/storage_test_hooks.h>

#include "checkpoint_rocksdb.h"
#include "runtime.h"

#define TAG_OPERATOR  (1ull << 32)
#define TAG_KEYED     (2ull << 32)
#define TAG_TIMERS    (3ull << 32)
#define MAX_PENDING   16
#define SLOTS         64
#define BLOB_FINISHED 'F'
#define BLOB_RUNNING  'R'

enum pending_state { P_PENDING, P_COMMITTING, P_COMPLETED, P_FAILED };

/* For the debugger (STYLE.md): `call pending_state_str(pd->state)`. */
__attribute__((used)) static const char *pending_state_str(enum pending_state s)
{
    switch (s) {
    case P_PENDING:
        return "pending";
    case P_COMMITTING:
        return "committing";
    case P_COMPLETED:
        return "completed";
    case P_FAILED:
        return "failed";
    }
    return "?";
}

struct task_ack {
    _Atomic int filled;
    int n;
    struct weir_ckpt_entry *e; /* one per operator of the task */
    char (*names)[256];
    char *blobs; /* one status byte per operator */
};

struct pending {
    uint64_t id;
    char *savepoint; /* path when this is a savepoint */
    enum pending_state state;
    weir_ckpt *ck;
    uint64_t start_ns;
    struct task_ack *acks;
    _Atomic int acked;
    bool final;                      /* taken by the control thread after every task finished */
    struct rocks_shared_list shared; /* SSTs referenced (incremental RocksDB) */
    pthread_mutex_t tmp_lock;
    char **tmp_dirs; /* RocksDB checkpoint links, removed once settled */
    size_t n_tmp;
};

struct coordinator {
    weir_storage *storage;
    uint64_t interval_ns, min_pause_ns, timeout_ns;
    int max_concurrent, tolerable, consecutive_failed;
    bool incremental;
    uint64_t last_trigger_ns, last_end_ns;
    struct pending *p[MAX_PENDING]; /* in flight */
    int n_pending;
    /* Workers find checkpoint id's pending in slot[id % SLOTS] (release store
     * in pending_new, acquire load in find_pending). A pending is freed once it
     * has settled and every task has acked it: after its ack no worker touches
     * it again. Until then it stays in live (control thread only). */
    _Atomic(struct pending *) slot[SLOTS];
    struct pending **live;
    int n_live, cap_live;
};

/* Test hook for crash tests: WEIR_CRASH_POINT=snapshot:N kills the process
 * with SIGKILL in the middle of a task's snapshot for the Nth checkpoint this
 * process takes (after its first state file went to the io thread); commit:N
 * kills it right after that checkpoint's _metadata was handed to the io
 * thread, while it is being written. */
static char crash_where[16];
static uint64_t crash_id;

static void crash_point(const char *where, uint64_t id)
{
    if (crash_id && id == crash_id && !strcmp(where, crash_where)) {
        fprintf(stderr, "weir: WEIR_CRASH_POINT %s:%llu reached: SIGKILL\n", where,
                (unsigned long long)id);
        raise(SIGKILL);
    }
}

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static bool coord_check_state(const struct coordinator *c)
{
    if (c->n_pending < 0 || c->n_pending > MAX_PENDING)
        return false;
    for (int i = 0; i < c->n_pending; i++)
        if (c->p[i]->state != P_PENDING && c->p[i]->state != P_COMMITTING)
            return false;
    return true;
}

static void log_line(struct runtime *rt, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void log_line(struct runtime *rt, const char *fmt, ...)
{
    if (rt->opts->quiet)
        return;
    va_list ap;
    va_start(ap, fmt);
    fputs("weir: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static bool chk_enabled(const struct runtime *rt)
{
    return rt->coord && rt->coord->storage;
}

/* --- task side: snapshots (worker threads) -------------------------------- */

/* A newer checkpoint may have taken the slot: then id's is gone (settled), and
 * the caller has nothing to write. */
static struct pending *find_pending(struct runtime *rt, uint64_t id)
{
    struct pending *pd = atomic_load_explicit(&rt->coord->slot[id % SLOTS], memory_order_acquire);
    return pd && pd->id == id ? pd : NULL;
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
        return -ENOMEM; /* sized from timers_count: cannot happen */
    g->v[g->n++] = *tm;
    return 0;
}

static int timers_gather(struct timer_service *ts, struct timer_list *tl)
{
    for (int d = 0; d < 2; d++) {
        size_t live = timers_count(ts, d);
        struct gather g = {.v = live ? malloc(live * sizeof *g.v) : NULL, .cap = live};
        tl->v[d] = g.v;
        tl->n[d] = 0;
        if (live && !g.v)
            return -ENOMEM;
        int rc = timers_foreach(ts, d, gather_one, &g);
        if (rc < 0)
            return rc;
        tl->n[d] = g.n;
        if (tl->n[d] > 1)
            qsort(tl->v[d], tl->n[d], sizeof *tl->v[d], cmp_timer_kg);
    }
    return 0;
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

static int snapshot_op(struct op_inst *op, struct pending *pd, uint64_t id,
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
    if (!hook && !op->backend)
        return 0;
    int rc = weir_ckpt_file_name(name, 256, op->node->uid, t->subtask);
    weir_ckpt_file *f = NULL;
    if (rc == 0)
        rc = weir_ckpt_file_open(ck, name, &f);
    if (rc < 0)
        return rc;
    struct weir_snapshot_out *out = weir_ckpt_file_out(f);
    if (hook) {
        rc = weir_ckpt_file_section_begin(f, TAG_OPERATOR);
        if (rc == 0)
            rc = hook(&op->ctx, op->state, id, out);
    }
    if (rc == 0 && op->backend) {
        uint32_t first = weir_key_group_range_start((uint32_t)t->subtask, maxp, p);
        uint32_t last = weir_key_group_range_end((uint32_t)t->subtask, maxp, p);
        e->kg_first = first;
        e->kg_last = last;
        struct timer_list tl = {0};
        size_t cursor[2] = {0, 0};
        rc = timers_gather(&op->timers, &tl);
        /* Incremental RocksDB: the instance's SST files instead of its entries
         * (savepoints stay in the portable format). */
        bool native =
            t->rt->coord->incremental && !pd->savepoint && rocks_incremental_applies(op->backend);
        if (rc == 0 && native) {
            char *tmp = NULL;
            char base[256];
            snprintf(base, sizeof base, "%s", name);
            rc = rocks_incremental_snapshot(t->rt->coord->storage, op->backend, ck, f, base, id,
                                            &tmp, &pd->shared);
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
        for (uint32_t kg = first; rc == 0 && kg <= last; kg++) {
            if (!native) {
                rc = weir_ckpt_file_section_begin(f, TAG_KEYED | kg);
                if (rc == 0)
                    rc = weir_keyed_backend_snapshot_key_group(op->backend, kg, out);
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

/* rt->snapshot: runs on the task's worker when barrier id is aligned (or a
 * source sees the trigger). */
static int snapshot_task(void *arg, struct task *t, uint64_t id)
{
    struct runtime *rt = arg;
    struct pending *pd = find_pending(rt, id);
    if (!pd)
        return 0; /* not ours (aborted before this task saw it) */
    struct task_ack *a = &pd->acks[t->index];
    if (atomic_load_explicit(&a->filled, memory_order_acquire))
        return 0;
    a->n = 0;
    int rc = 0;
    for (int j = 0; j < t->n_ops && rc == 0; j++) {
        a->blobs[j] = BLOB_RUNNING;
        rc = snapshot_op(&t->ops[j], pd, id, &a->e[a->n], a->names[j]);
        if (rc == 0 && a->e[a->n].file)
            crash_point("snapshot", id);
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
    atomic_store_explicit(&a->filled, 1, memory_order_release);
    atomic_fetch_add_explicit(&pd->acked, 1, memory_order_acq_rel);
    return rc;
}

/* Tasks call this each step: deliver checkpoint_complete up to completed_id. */
void chk_notify(struct task *t)
{
    uint64_t done = atomic_load_explicit(&t->rt->completed_id, memory_order_acquire);
    if (done <= t->notified_id)
        return;
    t->notified_id = done;
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

/* --- coordinator (control thread) ----------------------------------------- */

static struct pending *pending_new(struct runtime *rt, uint64_t id)
{
    struct coordinator *c = rt->coord;
    struct pending *pd = calloc(1, sizeof *pd);
    if (!pd)
        return NULL;
    pd->id = id;
    pthread_mutex_init(&pd->shared.lock, NULL);
    pthread_mutex_init(&pd->tmp_lock, NULL);
    pd->acks = calloc((size_t)rt->n_tasks, sizeof *pd->acks);
    if (!pd->acks)
        goto oom;
    for (int i = 0; i < rt->n_tasks; i++) {
        int n = rt->tasks[i].n_ops;
        struct task_ack *a = &pd->acks[i];
        a->e = calloc((size_t)n, sizeof *a->e);
        a->names = calloc((size_t)n, sizeof *a->names);
        a->blobs = calloc((size_t)n, 1);
        if (!a->e || !a->names || !a->blobs)
            goto oom;
    }
    if (c->n_live == c->cap_live) {
        int ncap = c->cap_live ? c->cap_live * 2 : 16;
        struct pending **live = realloc(c->live, (size_t)ncap * sizeof *live);
        if (!live)
            goto oom;
        c->live = live;
        c->cap_live = ncap;
    }
    c->live[c->n_live++] = pd;
    /* pairs with the acquire load in find_pending */
    atomic_store_explicit(&c->slot[id % SLOTS], pd, memory_order_release);
    return pd;
oom:
    if (pd->acks)
        for (int i = 0; i < rt->n_tasks; i++) {
            free(pd->acks[i].e);
            free(pd->acks[i].names);
            free(pd->acks[i].blobs);
        }
    free(pd->acks);
    free(pd);
    return NULL;
}

static void pending_free(struct runtime *rt, struct pending *pd)
{
    for (int i = 0; i < rt->n_tasks; i++) {
        free(pd->acks[i].e);
        free(pd->acks[i].names);
        free(pd->acks[i].blobs);
    }
    free(pd->acks);
    weir_ckpt_release(pd->ck);
    free(pd->savepoint);
    rocks_shared_list_free(&pd->shared);
    for (size_t i = 0; i < pd->n_tmp; i++) {
        rocks_rm_rf(pd->tmp_dirs[i]);
        free(pd->tmp_dirs[i]);
    }
    free(pd->tmp_dirs);
    pthread_mutex_destroy(&pd->shared.lock);
    pthread_mutex_destroy(&pd->tmp_lock);
    free(pd);
}

/* A finished task acks with a marker and no state: on restore it is done. */
static void ack_finished(struct runtime *rt, struct pending *pd, struct task *t)
{
    struct task_ack *a = &pd->acks[t->index];
    if (atomic_load_explicit(&a->filled, memory_order_acquire))
        return;
    a->n = 0;
    for (int j = 0; j < t->n_ops; j++) {
        struct op_inst *op = &t->ops[j];
        a->blobs[j] = BLOB_FINISHED;
        a->e[a->n++] = (struct weir_ckpt_entry){.operator_uid = op->node->uid,
                                                .subtask = (uint32_t)t->subtask,
                                                .parallelism = (uint32_t)op->ctx.parallelism,
                                                .kg_first = WEIR_KG_NONE,
                                                .kg_last = WEIR_KG_NONE,
                                                .blob = &a->blobs[j],
                                                .blob_len = 1};
    }
    atomic_store_explicit(&a->filled, 1, memory_order_release);
    atomic_fetch_add_explicit(&pd->acked, 1, memory_order_acq_rel);
}

static int commit(struct runtime *rt, struct pending *pd)
{
    size_t n = 0;
    for (int i = 0; i < rt->n_tasks; i++)
        n += (size_t)pd->acks[i].n;
    struct weir_ckpt_entry *e = calloc(n ? n : 1, sizeof *e);
    if (!e)
        return -ENOMEM;
    n = 0;
    for (int i = 0; i < rt->n_tasks; i++)
        for (int j = 0; j < pd->acks[i].n; j++)
            e[n++] = pd->acks[i].e[j];
    struct weir_ckpt_shared *sh = calloc(pd->shared.n ? pd->shared.n : 1, sizeof *sh);
    if (!sh) {
        free(e);
        return -ENOMEM;
    }
    for (size_t i = 0; i < pd->shared.n; i++)
        sh[i].name = pd->shared.names[i];
    struct weir_ckpt_meta meta = {.max_parallelism = (uint32_t)rt->max_parallelism,
                                  .entry_count = n,
                                  .entries = e,
                                  .shared_count = pd->shared.n,
                                  .shared = sh};
    int rc = weir_ckpt_commit(pd->ck, &meta);
    free(e);
    free(sh);
    return rc;
}

/* Tells the run's caller (weir_run_opts.on_checkpoint) that checkpoint pd ended. */
static void report(struct runtime *rt, const struct pending *pd, bool completed,
                   uint64_t duration_ms, uint64_t size_bytes, const char *reason)
{
    const struct weir_run_opts *o = rt->opts;
    if (!o || !o->on_checkpoint)
        return;
    struct weir_checkpoint_event ev = {.id = pd->id,
                                       .savepoint = pd->savepoint != NULL,
                                       .final = pd->final,
                                       .completed = completed,
                                       .duration_ms = duration_ms,
                                       .size_bytes = size_bytes,
                                       .reason = reason};
    o->on_checkpoint(o->on_checkpoint_arg, &ev);
}

static void settle(struct runtime *rt, struct pending *pd, int status)
{
    struct coordinator *c = rt->coord;
    struct chk_stats *cs = &rt->job->chk;
    uint64_t now = mono_ns();
    c->last_end_ns = now;
    atomic_fetch_sub(&cs->in_progress, 1);
    /* settled: the storage has linked or copied what it needed */
    pthread_mutex_lock(&pd->tmp_lock);
    for (size_t i = 0; i < pd->n_tmp; i++) {
        rocks_rm_rf(pd->tmp_dirs[i]);
        free(pd->tmp_dirs[i]);
    }
    pd->n_tmp = 0;
    pthread_mutex_unlock(&pd->tmp_lock);
    if (status == 0 && pd->savepoint)
        log_line(rt, "savepoint %" PRIu64 " complete: %s (weir run --from-savepoint %s ...)",
                 pd->id, pd->savepoint, pd->savepoint);
    if (status == 0) {
        pd->state = P_COMPLETED;
        struct weir_ckpt_progress pr;
        weir_ckpt_progress_get(pd->ck, &pr);
        uint64_t ms = (now - pd->start_ns) / 1000000ull;
        /* what this checkpoint stored: its files plus the SSTs new to shared/ */
        pr.bytes_durable += atomic_load(&pd->shared.new_bytes);
        atomic_store(&cs->last_duration_ms, ms);
        atomic_store(&cs->last_size_bytes, pr.bytes_durable);
        if (ms > atomic_load(&cs->max_duration_ms))
            atomic_store(&cs->max_duration_ms, ms);
        if (pr.bytes_durable > atomic_load(&cs->max_size_bytes))
            atomic_store(&cs->max_size_bytes, pr.bytes_durable);
        if (!pd->final) {
            log_line(rt, "checkpoint %" PRIu64 " complete: %" PRIu64 " ms, %" PRIu64 " bytes",
                     pd->id, ms, pr.bytes_durable);
        }
        report(rt, pd, true, ms, pr.bytes_durable, NULL);
        atomic_store(&cs->last_id, pd->id);
        atomic_fetch_add(&cs->completed, 1);
        c->consecutive_failed = 0;
        /* Per subtask: sync = its snapshot's synchronous part; async = from its
         * hand-over to the io thread until the checkpoint's files were durable
         * and _metadata committed (this tick). */
        for (int i = 0; i < rt->n_tasks; i++) {
            struct task *t = &rt->tasks[i];
            if (!t->submit_ns || t->submit_ns < pd->start_ns)
                continue;
            atomic_store(&t->last_sync_ms, t->pending_sync_ms);
            atomic_store(&t->last_async_ms, (now - t->submit_ns) / 1000000ull);
        }
        atomic_store_explicit(&rt->completed_id, pd->id, memory_order_release);
        rt_wake_workers(rt); /* sleeping sinks commit now, not at their next timeout */
        return;
    }
    pd->state = P_FAILED;
    atomic_fetch_add(&cs->failed, 1);
    c->consecutive_failed++;
    log_line(rt, "checkpoint %" PRIu64 " %s: %s", pd->id,
             status == -ETIMEDOUT ? "expired (execution.checkpointing.timeout)" : "failed",
             *weir_ckpt_error(pd->ck) ? weir_ckpt_error(pd->ck) : strerror(-status));
    report(rt, pd, false, (now - pd->start_ns) / 1000000ull, 0,
           *weir_ckpt_error(pd->ck) ? weir_ckpt_error(pd->ck) : strerror(-status));
    if (c->consecutive_failed > c->tolerable) {
        char msg[512];
        snprintf(msg, sizeof msg,
                 "%d consecutive checkpoints failed, more than "
                 "execution.checkpointing.tolerable-failed-checkpoints (%d); last: %s",
                 c->consecutive_failed, c->tolerable,
                 *weir_ckpt_error(pd->ck) ? weir_ckpt_error(pd->ck) : strerror(-status));
        rt_fail_msg(rt, msg);
    }
}

static void trigger(struct runtime *rt, uint64_t now, bool savepoint)
{
    struct coordinator *c = rt->coord;
    uint64_t id = weir_storage_next_id(c->storage);
    struct pending *pd = pending_new(rt, id);
    if (!pd)
        return;
    int rc;
    if (savepoint) {
        const char *dir = weir_config_get_str(rt->cfg, "state.savepoints.dir");
        char path[4096];
        snprintf(path, sizeof path, "%s/savepoint-%s-%" PRIu64,
                 *dir ? dir : weir_storage_job_dir(c->storage), rt->job->name, id);
        pd->savepoint = strdup(path);
        rc = pd->savepoint ? weir_savepoint_begin(c->storage, path, id, NULL, &pd->ck) : -ENOMEM;
        if (rc == 0)
            log_line(rt, "savepoint %" PRIu64 " triggered: %s", id, path);
    } else {
        rc = weir_ckpt_begin(c->storage, id, NULL, &pd->ck);
    }
    if (rc < 0) {
        log_line(rt, "checkpoint %" PRIu64 " could not start: %s", id, strerror(-rc));
        atomic_fetch_add(&rt->job->chk.failed, 1);
        c->consecutive_failed++;
        c->last_trigger_ns = now;
        return;
    }
    pd->start_ns = now;
    pd->state = P_PENDING;
    c->p[c->n_pending++] = pd;
    c->last_trigger_ns = now;
    atomic_fetch_add(&rt->job->chk.in_progress, 1);
    for (int i = 0; i < rt->n_tasks; i++)
        if (atomic_load_explicit(&rt->tasks[i].done_flag, memory_order_acquire))
            ack_finished(rt, pd, &rt->tasks[i]);
    /* pairs with the sources' acquire load in task_step */
    atomic_store_explicit(&rt->trigger, id, memory_order_release);
    rt_wake_workers(rt); /* idle sources inject the barrier now */
}

void chk_tick(struct runtime *rt)
{
    struct coordinator *c = rt->coord;
    if (!chk_enabled(rt)) {
        if (atomic_exchange(&rt->job->savepoint_requested, 0))
            log_line(rt, "savepoint not taken: the job takes no checkpoints; set "
                         "execution.checkpointing.interval");
        return;
    }
    assert(coord_check_state(c));
    uint64_t now = mono_ns();
    for (int i = 0; i < c->n_pending; i++) {
        struct pending *pd = c->p[i];
        /* Tasks that finished after the trigger will not see the barrier. */
        for (int k = 0; k < rt->n_tasks; k++)
            if (atomic_load_explicit(&rt->tasks[k].done_flag, memory_order_acquire))
                ack_finished(rt, pd, &rt->tasks[k]);
        if (pd->state == P_PENDING &&
            atomic_load_explicit(&pd->acked, memory_order_acquire) == rt->n_tasks) {
            int rc = commit(rt, pd);
            if (rc < 0)
                weir_ckpt_abort(pd->ck, rc);
            pd->state = P_COMMITTING;
            crash_point("commit", pd->id);
        }
        if (now - pd->start_ns > c->timeout_ns)
            weir_ckpt_abort(pd->ck, -ETIMEDOUT);
        struct weir_ckpt_progress pr;
        weir_ckpt_progress_get(pd->ck, &pr);
        if (pr.settled) {
            settle(rt, pd, pr.status);
            c->p[i] = c->p[--c->n_pending];
            i--;
        }
    }
    /* Free what no worker will touch again. */
    for (int i = 0; i < c->n_live; i++) {
        struct pending *pd = c->live[i];
        if ((pd->state != P_COMPLETED && pd->state != P_FAILED) ||
            atomic_load_explicit(&pd->acked, memory_order_acquire) < rt->n_tasks)
            continue;
        struct pending *expect = pd;
        atomic_compare_exchange_strong(&c->slot[pd->id % SLOTS], &expect, NULL);
        pending_free(rt, pd);
        c->live[i--] = c->live[--c->n_live];
    }
    if (atomic_load(&rt->job->cancel)) {
        /* Stopping: sources end early, and a checkpoint now would record them
         * as finished. Nothing new starts; what is in flight is aborted. */
        for (int i = 0; i < c->n_pending; i++)
            if (c->p[i]->state == P_PENDING)
                weir_ckpt_abort(c->p[i]->ck, -ECANCELED);
        return;
    }
    if (atomic_load(&rt->job->savepoint_requested) && c->n_pending == 0 &&
        !atomic_load(&rt->failed)) {
        atomic_store(&rt->job->savepoint_requested, 0);
        trigger(rt, now, true);
        return;
    }
    if (c->interval_ns && c->n_pending < c->max_concurrent &&
        now - c->last_trigger_ns >= c->interval_ns && now - c->last_end_ns >= c->min_pause_ns &&
        !atomic_load(&rt->failed))
        trigger(rt, now, false);
}

/* After the last task finished: one more checkpoint in which every task is
 * finished and sinks have staged everything, then checkpoint_complete on the
 * control thread (workers are gone), so that bounded exactly-once output is
 * committed as Flink's final checkpoint does. */
int chk_final(struct runtime *rt)
{
    struct coordinator *c = rt->coord;
    if (!chk_enabled(rt))
        return 0;
    /* settle what is in flight first */
    for (int tries = 0; c->n_pending && tries < 6000; tries++) {
        chk_tick(rt);
        struct timespec ts = {0, 5000000};
        nanosleep(&ts, NULL);
    }
    uint64_t id = weir_storage_next_id(c->storage);
    struct pending *pd = pending_new(rt, id);
    if (!pd)
        return -ENOMEM;
    pd->final = true;
    int rc = weir_ckpt_begin(c->storage, id, NULL, &pd->ck);
    if (rc < 0)
        return rc;
    pd->start_ns = mono_ns();
    atomic_fetch_add(&rt->job->chk.in_progress, 1);
    for (int i = 0; i < rt->n_tasks && rc == 0; i++) {
        struct task *t = &rt->tasks[i];
        /* Operator state still matters for sinks (what they staged); keyed
         * state of a finished job does not. */
        struct task_ack *a = &pd->acks[i];
        a->n = 0;
        for (int j = 0; j < t->n_ops && rc == 0; j++) {
            struct op_inst *op = &t->ops[j];
            a->blobs[j] = BLOB_FINISHED;
            weir_keyed_backend *be = op->backend;
            op->backend = NULL;
            rc = snapshot_op(op, pd, id, &a->e[a->n], a->names[j]);
            op->backend = be;
            a->e[a->n].blob = &a->blobs[j];
            a->e[a->n].blob_len = 1;
            a->n++;
        }
        atomic_store(&a->filled, 1);
        atomic_fetch_add(&pd->acked, 1);
    }
    if (rc == 0)
        rc = commit(rt, pd);
    if (rc < 0) {
        weir_ckpt_abort(pd->ck, rc);
    }
    rc = weir_ckpt_wait(pd->ck, (int64_t)(c->timeout_ns / 1000000ull));
    pd->state = P_PENDING;
    settle(rt, pd, rc);
    if (rc < 0)
        return rc;
    for (int i = 0; i < rt->n_tasks; i++)
        chk_notify(&rt->tasks[i]);
    return 0;
}

/* --- set-up and restore --------------------------------------------------- */

int chk_setup(struct runtime *rt, char *err, size_t errlen)
{
    struct weir_config *cfg = rt->cfg;
    int64_t interval = weir_config_get_duration_ms(cfg, "execution.checkpointing.interval");
    rt->exactly_once =
        strcasecmp(weir_config_get_str(cfg, "execution.checkpointing.mode"), "AT_LEAST_ONCE") != 0;
    rt->coord = calloc(1, sizeof *rt->coord);
    if (!rt->coord) {
        snprintf(err, errlen, "out of memory while setting up checkpoints");
        return -ENOMEM;
    }
    struct coordinator *c = rt->coord;
    const char *cp = getenv("WEIR_CRASH_POINT");
    uint64_t crash_nth = 0;
    if (cp && sscanf(cp, "%15[a-z]:%" SCNu64, crash_where, &crash_nth) != 2)
        crash_nth = 0;
    if (interval <= 0 && !rt->opts->restore_from)
        return 0; /* checkpointing off, nothing to restore */
    c->interval_ns = (uint64_t)(interval > 0 ? interval : 0) * 1000000ull;
    c->min_pause_ns =
        (uint64_t)weir_config_get_duration_ms(cfg, "execution.checkpointing.min-pause") *
        1000000ull;
    c->timeout_ns =
        (uint64_t)weir_config_get_duration_ms(cfg, "execution.checkpointing.timeout") * 1000000ull;
    c->max_concurrent =
        (int)weir_config_get_int(cfg, "execution.checkpointing.max-concurrent-checkpoints");
    if (c->max_concurrent > MAX_PENDING)
        c->max_concurrent = MAX_PENDING;
    c->tolerable =
        (int)weir_config_get_int(cfg, "execution.checkpointing.tolerable-failed-checkpoints");
    c->incremental = weir_config_get_bool(cfg, "state.backend.incremental");
    c->last_trigger_ns = c->last_end_ns = mono_ns();
    int rc = weir_storage_open_config(cfg, rt->job->name, &c->storage, err, errlen);
    if (rc < 0)
        return rc;
    if (crash_nth)
        crash_id = weir_storage_next_id(c->storage) + crash_nth - 1;
    /* Test hook: WEIR_TEST_CKPT_WRITE_ERROR=N makes the Nth checkpoint write
     * fail with ENOSPC, as a full disk would. */
    const char *we = getenv("WEIR_TEST_CKPT_WRITE_ERROR");
    if (we && atoi(we) > 0)
        weir_storage_fail_write_for_test(c->storage, (unsigned)atoi(we), -ENOSPC);
    rt->snapshot = snapshot_task;
    rt->snapshot_arg = rt;
    return 0;
}

void chk_free(struct runtime *rt)
{
    struct coordinator *c = rt->coord;
    if (!c)
        return;
    for (int i = 0; i < c->n_pending; i++)
        weir_ckpt_abort(c->p[i]->ck, -ECANCELED);
    for (int i = 0; i < c->n_live; i++) {
        if (c->live[i]->ck && c->live[i]->state != P_COMPLETED && c->live[i]->state != P_FAILED)
            weir_ckpt_wait(c->live[i]->ck, 10000);
        pending_free(rt, c->live[i]);
    }
    free(c->live);
    weir_storage_close(c->storage);
    free(c);
    rt->coord = NULL;
}

static int read_timers(struct op_inst *op, struct weir_snapshot_in *in, uint32_t kg)
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
            rc = timers_add(&op->timers, d, &tm);
            if (rc < 0)
                return rc;
        }
    }
    return 0;
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
    if (mine && mine->blob_len == 1 && *(const char *)mine->blob == BLOB_FINISHED && t->is_source)
        t->restored_finished = true;
    int rc = 0;
    /* operator state: same subtask index, same parallelism */
    int (*hook)(weir_ctx *, void *, struct weir_snapshot_in *) =
        op->node->src ? op->node->src->restore : op->node->op->restore;
    if (hook && mine && mine->file && *mine->file) {
        if (mine->parallelism != p) {
            snprintf(err, errlen,
                     "operator \"%s\": its state was taken at parallelism %u, not %u; operator "
                     "state (source positions, sink files) is restored only at the same "
                     "parallelism",
                     uid, mine->parallelism, p);
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
            snprintf(err, errlen, "operator \"%s\" (subtask %d): restoring its state failed: %s",
                     uid, t->subtask + 1, strerror(-rc));
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
    for (size_t i = 0; i < m->entry_count && rc == 0; i++) {
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
        if (rocks_file_is_incremental(f)) {
            rc = rocks_incremental_restore(op->backend, r, f, a, b, err, errlen);
            if (rc < 0) {
                weir_restore_file_close(f);
                return rc;
            }
        }
        for (uint32_t kg = a; kg <= b && rc == 0; kg++) {
            size_t sec;
            if (weir_restore_file_find(f, TAG_KEYED | kg, &sec) == 0)
                rc = weir_keyed_backend_restore_key_group(op->backend, kg,
                                                          weir_restore_file_section_in(f, sec));
            if (rc == 0 && weir_restore_file_find(f, TAG_TIMERS | kg, &sec) == 0)
                rc = read_timers(op, weir_restore_file_section_in(f, sec), kg);
        }
        weir_restore_file_close(f);
    }
    if (rc < 0)
        snprintf(err, errlen, "operator \"%s\" (subtask %d): restoring keyed state failed: %s", uid,
                 t->subtask + 1, strerror(-rc));
    return rc;
}

int chk_restore(struct runtime *rt, char *err, size_t errlen)
{
    const char *from = rt->opts->restore_from;
    if (!from)
        return 0;
    weir_restore *r = NULL;
    int rc;
    if (!strcmp(from, "latest")) {
        rc = weir_restore_open_latest(rt->coord->storage, 0, &r);
        if (rc == -ENOENT) {
            log_line(rt, "no complete checkpoint under %s yet: starting empty",
                     weir_storage_job_dir(rt->coord->storage));
            return 0;
        }
        if (rc < 0) {
            snprintf(err, errlen, "--from-checkpoint latest: %s: no valid checkpoint (%s)",
                     weir_storage_job_dir(rt->coord->storage), strerror(-rc));
            return rc;
        }
    } else {
        rc = weir_restore_open_dir(from, 0, &r, err, errlen);
        if (rc < 0)
            return rc;
    }
    const struct weir_ckpt_meta *m = weir_restore_meta(r);
    /* every piece of state must find its operator */
    for (size_t i = 0; i < m->entry_count; i++) {
        bool found = false;
        for (int k = 0; k < rt->job->n_nodes && !found; k++)
            found = !strcmp(rt->job->nodes[k]->uid, m->entries[i].operator_uid);
        if (!found && !rt->opts->allow_non_restored_state) {
            snprintf(err, errlen,
                     "%s: state of operator uid \"%s\" matches no operator of job %s; pass "
                     "--allow-non-restored-state to skip it",
                     weir_restore_dir(r), m->entries[i].operator_uid, rt->job->name);
            weir_restore_close(r);
            return -EINVAL;
        }
    }
    for (int i = 0; i < rt->n_tasks && rc == 0; i++)
        for (int j = 0; j < rt->tasks[i].n_ops && rc == 0; j++)
            rc = restore_op(rt, r, &rt->tasks[i].ops[j], m, err, errlen);
    if (rc == 0) {
        rt->restored_id = m->checkpoint_id;
        for (size_t i = 0; i < m->entry_count; i++)
            rt->restored_bytes += m->entries[i].size_bytes;
        log_line(rt, "restored from %s (checkpoint %" PRIu64 ")", weir_restore_dir(r),
                 m->checkpoint_id);
        /* What the restored checkpoint staged is committed: it was complete. */
        atomic_store(&rt->completed_id, m->checkpoint_id);
    }
    weir_restore_close(r);
    return rc;
}

/* --- metrics --------------------------------------------------------------- */

int chk_register_metrics(struct runtime *rt)
{
    struct chk_stats *cs = &rt->job->chk;
    char labels[600];
    int rc = rt_labels(rt, NULL, NULL, -1, labels, sizeof labels);
    if (rc < 0)
        return rc;
    rc |=
        weir_metrics_add_u64(rt->metrics, "weir_job_numberOfCompletedCheckpoints",
                             "Checkpoints completed", WEIR_METRIC_COUNTER, labels, &cs->completed);
    rc |= weir_metrics_add_u64(rt->metrics, "weir_job_numberOfFailedCheckpoints",
                               "Checkpoints failed or expired", WEIR_METRIC_COUNTER, labels,
                               &cs->failed);
    rc |=
        weir_metrics_add_u64(rt->metrics, "weir_job_numberOfInProgressCheckpoints",
                             "Checkpoints in flight", WEIR_METRIC_GAUGE, labels, &cs->in_progress);
    rc |= weir_metrics_add_u64(rt->metrics, "weir_job_lastCheckpointDuration",
                               "Duration of the last completed checkpoint in ms", WEIR_METRIC_GAUGE,
                               labels, &cs->last_duration_ms);
    rc |= weir_metrics_add_u64(rt->metrics, "weir_job_lastCheckpointSize",
                               "Bytes of the last completed checkpoint", WEIR_METRIC_GAUGE, labels,
                               &cs->last_size_bytes);
    rc |= weir_metrics_add_u64(rt->metrics, "weir_job_lastCompletedCheckpointId",
                               "Id of the last completed checkpoint", WEIR_METRIC_GAUGE, labels,
                               &cs->last_id);
    rc |= weir_metrics_add_u64(rt->metrics, "weir_job_numRestarts",
                               "Restarts of the job from a checkpoint", WEIR_METRIC_COUNTER, labels,
                               &cs->restarts);
    for (int i = 0; i < rt->n_tasks && rc == 0; i++) {
        struct task *t = &rt->tasks[i];
        char l[1024];
        if (rt_labels(rt, "task_name", t->chain_name, t->subtask, l, sizeof l) < 0)
            return -ENOMEM;
        rc |= weir_metrics_add_u64(rt->metrics, "weir_task_checkpointAlignmentTimeNs",
                                   "Total time spent aligning checkpoint barriers (ns)",
                                   WEIR_METRIC_COUNTER, l, &t->align_ns);
        rc |= weir_metrics_add_u64(rt->metrics, "weir_task_checkpointSyncTimeNs",
                                   "Total time in the synchronous part of snapshots (ns)",
                                   WEIR_METRIC_COUNTER, l, &t->sync_ns);
        rc |= weir_metrics_add_u64(rt->metrics, "weir_task_lastCheckpointSyncDurationMs",
                                   "Synchronous part of this subtask's last completed snapshot",
                                   WEIR_METRIC_GAUGE, l, &t->last_sync_ms);
        rc |= weir_metrics_add_u64(rt->metrics, "weir_task_lastCheckpointAsyncDurationMs",
                                   "From hand-over to the io thread to the checkpoint complete",
                                   WEIR_METRIC_GAUGE, l, &t->last_async_ms);
    }
    return rc ? -ENOMEM : 0;
}
