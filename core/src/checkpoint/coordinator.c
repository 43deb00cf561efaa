/*
 * The checkpoint coordinator (Flink's CheckpointCoordinator), on the control
 * thread, over the storage of io/include/weir/storage.h. The task side is
 * barrier.c (alignment) and snapshot.c (state files); checkpoint.h is the
 * contract with the runtime.
 *
 * A checkpoint, coordinator side (one struct pending each):
 *
 *   (trigger) PENDING --every task acked (chk_tick)--> COMMITTING
 *   COMMITTING --_metadata durable (chk_tick: settle)--> COMPLETED
 *   PENDING, COMMITTING --timeout / file error / cancel (chk_tick: settle)--> FAILED
 *   (a checkpoint aborted because the job is stopping is logged and reported as
 *    cancelled, and neither counted failed nor against tolerable-failed-checkpoints)
 *   (a timeout aborts: the storage settles the checkpoint as failed, -ETIMEDOUT
 *    is logged and reported as "expired after <timeout>"). COMPLETED and FAILED pendings leave
 *   c->p at once and are freed by chk_tick once every task has acked them.
 *
 *   trigger:   chk_tick begins checkpoint n in storage, acks for the tasks that
 *              have already finished (a finished marker and their operators'
 *              state, ack_finished), and publishes n in rt->chk.trigger
 *              (release; the sources' acquire load).
 *   sources:   take their snapshot (position) and emit barrier n in-band.
 *   tasks:     align (barrier.c), snapshot into one state file per stateful
 *              operator (the synchronous part: serializing state into storage
 *              buffers), hand the files to the io thread, fill their ack slot.
 *   commit:    when every slot is filled, chk_tick flushes the dead-letter queue
 *              (rt_dlq_flush: what the records before the barriers sent there is
 *              durable; a failure fails the job) and commits _metadata (the
 *              storage's io thread writes it atomically once the files are
 *              durable) and, once it is, publishes n in rt->chk.completed_id:
 *              tasks then call checkpoint_complete (sinks publish).
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <weir/config.h>
#include <weir/metrics.h>
#include <weir/storage.h>

#include "checkpoint.h"
#include "runtime_private.h"

/* chk_final waits for the checkpoints in flight: up to 6000 ticks of 5 ms (30 s) */
#define FINAL_SETTLE_TRIES   6000
#define FINAL_SETTLE_POLL_NS 5000000L
/* chk_free waits this long for a checkpoint still being written */
#define FREE_WAIT_MS 10000

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

static bool coord_check_state(const struct coordinator *c)
{
    if (c->n_pending < 0 || c->n_pending > MAX_PENDING)
        return false;
    for (int i = 0; i < c->n_pending; i++)
        if (c->p[i]->state != P_PENDING && c->p[i]->state != P_COMMITTING)
            return false;
    return true;
}

void chk_log(struct runtime *rt, const char *fmt, ...)
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
    return rt->chk.coord && rt->chk.coord->storage;
}

static void free_acks(struct runtime *rt, struct pending *pd)
{
    if (pd->acks)
        for (int i = 0; i < rt->n_tasks; i++) {
            free(pd->acks[i].e);
            free(pd->acks[i].names);
            free(pd->acks[i].blobs);
        }
    free(pd->acks);
}

static struct pending *pending_new(struct runtime *rt, uint64_t id)
{
    struct coordinator *c = rt->chk.coord;
    struct pending *pd = calloc(1, sizeof *pd);
    if (!pd)
        return NULL;
    pd->rt = rt;
    pd->id = id;
    atomic_store(&rt->job->chk.last_issued_id, id); /* taken: chk_next_id goes past it */
    pthread_mutex_init(&pd->shared.lock, NULL);
    pthread_mutex_init(&pd->tmp_lock, NULL);
    pd->acks = calloc((size_t)rt->n_tasks, sizeof *pd->acks);
    if (!pd->acks)
        goto err;
    for (int i = 0; i < rt->n_tasks; i++) {
        int n = rt->tasks[i].n_ops;
        struct task_ack *a = &pd->acks[i];
        /* one more entry and name: the task's channel state (unaligned, channel_state.c) */
        a->e = calloc((size_t)n + 1, sizeof *a->e);
        a->names = calloc((size_t)n + 1, sizeof *a->names);
        a->blobs = calloc((size_t)n, 1);
        if (!a->e || !a->names || !a->blobs)
            goto err;
    }
    if (c->n_live == c->cap_live) {
        int ncap = c->cap_live ? c->cap_live * 2 : 16;
        struct pending **live = realloc(c->live, (size_t)ncap * sizeof *live);
        if (!live)
            goto err;
        c->live = live;
        c->cap_live = ncap;
    }
    c->live[c->n_live++] = pd;
    /* release: pairs with the acquire load in find_pending (snapshot.c) */
    atomic_store_explicit(&c->slot[id % SLOTS], pd, memory_order_release);
    return pd;
err:
    free_acks(rt, pd);
    free(pd);
    return NULL;
}

static void pending_free(struct runtime *rt, struct pending *pd)
{
    free_acks(rt, pd);
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

/* A finished task acks with a marker and the operator state its operators
 * give now, after end of input (FLIP-147: a finished task's state is in every
 * later checkpoint): an exactly-once sink lists there what it staged at end of
 * input, so a restore from any later checkpoint commits it. Keyed state is left
 * out: a finished task's input has ended and its timers have fired, and a
 * restore runs it to its end again. On the control thread, once the task is
 * DONE (or, in chk_final, after the workers joined): its worker no longer
 * touches the operators. A failed snapshot fails the checkpoint. */
static void ack_finished(struct runtime *rt, struct pending *pd, struct task *t)
{
    struct task_ack *a = &pd->acks[t->index];
    /* acquire: pairs with the release store of filled in chk_snapshot_task */
    if (atomic_load_explicit(&a->filled, memory_order_acquire))
        return;
    a->n = 0;
    int rc = 0;
    for (int j = 0; j < t->n_ops && rc == 0; j++) {
        a->blobs[j] = BLOB_FINISHED;
        rc = chk_snapshot_op(&t->ops[j], pd, pd->id, false, &a->e[a->n], a->names[j]);
        a->e[a->n].blob = &a->blobs[j];
        a->e[a->n].blob_len = 1;
        a->n++;
    }
    if (rc < 0)
        weir_ckpt_abort(pd->ck, rc);
    /* pairs as in chk_snapshot_task */
    atomic_store_explicit(&a->filled, 1, memory_order_release);
    atomic_fetch_add_explicit(&pd->acked, 1, memory_order_acq_rel);
}

/* Acks pd for every task that has finished (task_finished: acquire). */
static void ack_finished_tasks(struct runtime *rt, struct pending *pd)
{
    for (int i = 0; i < rt->n_tasks; i++)
        if (task_finished(&rt->tasks[i]))
            ack_finished(rt, pd, &rt->tasks[i]);
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

/* Whether file is one of t's: an operator's state file (weir_ckpt_file_name(uid, subtask),
 * see chk_snapshot_op) or its channel state (channel_state.c: the entry "<head uid>#channels",
 * made here from the uid rather than read from t->chk, which its worker may be setting). */
static bool file_of_task(const struct task *t, const char *file)
{
    char name[256], uid[512];
    for (int j = 0; j < t->n_ops; j++)
        if (weir_ckpt_file_name(name, sizeof name, t->ops[j].node->uid, t->subtask) == 0 &&
            strcmp(name, file) == 0)
            return true;
    return t->n_ops > 0 &&
           snprintf(uid, sizeof uid, "%s" CHK_CHANNELS_SUFFIX, t->ops[0].node->uid) <
               (int)sizeof uid &&
           weir_ckpt_file_name(name, sizeof name, uid, t->subtask) == 0 && strcmp(name, file) == 0;
}

/* The storage's io thread, as each state file is durable: its bytes and the time go to the
 * ack slot of the task that wrote it (file_of_task), for the per-subtask size and end-to-end
 * duration (settle). A heap chain file, a shared file, is counted by its writer
 * (heap_chain_write). pd outlives its files: it is freed only once settled. */
static void file_done(void *arg, weir_ckpt *ck, const struct weir_ckpt_file_info *fi, int status)
{
    (void)ck;
    struct pending *pd = arg;
    struct runtime *rt = pd->rt;
    if (status < 0)
        return;
    uint64_t now = now_ns();
    for (int i = 0; i < rt->n_tasks; i++) {
        if (!file_of_task(&rt->tasks[i], fi->name))
            continue;
        struct task_ack *a = &pd->acks[i];
        atomic_fetch_add(&a->size_bytes, fi->size_bytes);
        uint64_t prev = atomic_load(&a->durable_ns);
        while (prev < now && !atomic_compare_exchange_weak(&a->durable_ns, &prev, now))
            ;
        return;
    }
}

static const struct weir_ckpt_callbacks *callbacks(struct pending *pd,
                                                   struct weir_ckpt_callbacks *cb)
{
    *cb = (struct weir_ckpt_callbacks){.file_done = file_done, .arg = pd};
    return cb;
}

void chk_note_alignment(struct task *t, uint64_t id, uint64_t align_ns)
{
    /* acquire: pairs with the release store in pending_new */
    struct pending *pd =
        atomic_load_explicit(&t->rt->chk.coord->slot[id % SLOTS], memory_order_acquire);
    if (!pd || pd->id != id)
        return;
    struct task_ack *a = &pd->acks[t->index];
    /* acquire: pairs with the release store of filled in ack_finished; the worker's own
     * release store of filled (chk_snapshot_task), after this, publishes align_ns */
    if (!atomic_load_explicit(&a->filled, memory_order_acquire))
        a->align_ns = align_ns;
}

/* Tells the run's caller (weir_run_opts.on_checkpoint) that checkpoint pd ended. */
/* A settled checkpoint to the REST statistics (history.c) and to the run's on_checkpoint. */
static void report(struct runtime *rt, const struct pending *pd, bool completed,
                   uint64_t duration_ms, uint64_t size_bytes, const char *reason)
{
    chk_history_settled(rt, pd, completed, duration_ms, size_bytes, reason);
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

/* "expired after 10 min (execution.checkpointing.timeout)" */
static void expired_reason(uint64_t timeout_ms, char *buf, size_t len)
{
    uint64_t n = timeout_ms;
    const char *unit = "ms";
    if (n && n % 60000 == 0) {
        n /= 60000;
        unit = "min";
    } else if (n && n % 1000 == 0) {
        n /= 1000;
        unit = "s";
    }
    snprintf(buf, len, "expired after %" PRIu64 " %s (execution.checkpointing.timeout)", n, unit);
}

static void settle(struct runtime *rt, struct pending *pd, int status)
{
    struct coordinator *c = rt->chk.coord;
    struct chk_stats *cs = &rt->job->chk;
    uint64_t now = now_ns();
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
        chk_log(rt, "savepoint %" PRIu64 " complete: %s (weir run --from-savepoint %s ...)", pd->id,
                pd->savepoint, pd->savepoint);
    if (status == 0) {
        pd->state = P_COMPLETED;
        struct weir_ckpt_progress pr;
        weir_ckpt_progress_get(pd->ck, &pr);
        uint64_t ms = (now - pd->start_ns) / 1000000ull;
        /* what this checkpoint stored: its files plus the SSTs new to shared/ */
        pr.bytes_durable += pr.bytes_shared_new;
        atomic_store(&cs->last_duration_ms, ms);
        atomic_store(&cs->last_size_bytes, pr.bytes_durable);
        if (!pd->final) {
            chk_log(rt, "checkpoint %" PRIu64 " complete: %" PRIu64 " ms, %" PRIu64 " bytes",
                    pd->id, ms, pr.bytes_durable);
        }
        report(rt, pd, true, ms, pr.bytes_durable, NULL);
        if (pd->trigger[0]) /* and cancels the job after a cancel-job savepoint */
            rest_request_settled(rt->job, pd->trigger, pd->savepoint, NULL);
        atomic_store(&cs->last_id, pd->id);
        if (!pd->savepoint)
            atomic_store(&cs->last_checkpoint_id, pd->id);
        atomic_fetch_add(&cs->completed, 1);
        if (!pd->savepoint)
            c->consecutive_failed = 0;
        chk_note_subtasks(rt, pd, now);
        if (chk_test_hooks && chk_test_hooks->checkpoint_completed && !pd->savepoint)
            chk_test_hooks->checkpoint_completed(pd->id);
        if (!pd->savepoint)
            chk_claim_completed(rt);
        /* release: pairs with the acquire load in chk_notify */
        atomic_store_explicit(&rt->chk.completed_id, pd->id, memory_order_release);
        rt_wake_workers(rt); /* sleeping sinks commit now, not at their next timeout */
        /* Finished tasks have no worker pass left: their sinks commit here what
         * they staged at end of input, which this checkpoint lists (ack_finished),
         * rather than at the end of the job. */
        for (int i = 0; i < rt->n_tasks; i++)
            if (task_finished(&rt->tasks[i]))
                chk_notify(&rt->tasks[i]);
        if (pd->stop)
            chk_stop_settled(rt, pd->savepoint, NULL);
        return;
    }
    pd->state = P_FAILED;
    if (status == -ECANCELED && atomic_load(&rt->job->cancel)) {
        /* Aborted because the job is stopping (chk_tick): not a failure, and not one
         * that counts against tolerable-failed-checkpoints. */
        chk_log(rt, "%s %" PRIu64 " cancelled: the job is stopping",
                pd->savepoint ? "savepoint" : "checkpoint", pd->id);
        report(rt, pd, false, (now - pd->start_ns) / 1000000ull, 0,
               "cancelled: the job is stopping");
        if (pd->stop)
            chk_stop_settled(rt, NULL, "cancelled: the job is stopping");
        if (pd->trigger[0])
            rest_request_settled(rt->job, pd->trigger, NULL, "cancelled: the job is stopping");
        return;
    }
    atomic_fetch_add(&cs->failed, 1);
    /* A savepoint that fails does not count against tolerable-failed-checkpoints, as
     * Flink's do not: a person asked for it, and the job's own checkpoints go on (a stop
     * whose savepoint fails leaves the job running). */
    if (!pd->savepoint)
        c->consecutive_failed++;
    /* An expiry says which timeout ran out, not the errno it was aborted with. */
    char why[512];
    if (status == -ETIMEDOUT)
        expired_reason(c->timeout_ns / 1000000ull, why, sizeof why);
    else
        snprintf(why, sizeof why, "%s",
                 *weir_ckpt_error(pd->ck) ? weir_ckpt_error(pd->ck) : strerror(-status));
    chk_log(rt, "%s %" PRIu64 " %s%s", pd->savepoint ? "savepoint" : "checkpoint", pd->id,
            status == -ETIMEDOUT ? "" : "failed: ", why);
    report(rt, pd, false, (now - pd->start_ns) / 1000000ull, 0, why);
    if (pd->stop)
        chk_stop_settled(rt, NULL, why);
    if (pd->trigger[0])
        rest_request_settled(rt->job, pd->trigger, NULL, why);
    if (!pd->savepoint && c->consecutive_failed > c->tolerable) {
        char msg[768];
        snprintf(msg, sizeof msg,
                 "%d consecutive checkpoints failed, more than "
                 "execution.checkpointing.tolerable-failed-checkpoints (%d); last: %s",
                 c->consecutive_failed, c->tolerable, why);
        rt_fail_msg(rt, msg);
    }
}

/* The id of the next checkpoint or savepoint: one counter for both, which continues from
 * the checkpoint the run restored, whatever directory it came from, and past every id this
 * run began, failed ones too, across in-process restarts (as Flink's: an id is never reused,
 * so a log line, a metric or a sink's pending file names one checkpoint only). */
uint64_t chk_next_id(const struct runtime *rt)
{
    uint64_t id = weir_storage_next_id(rt->chk.coord->storage);
    uint64_t after = rt->chk.restored_id + 1, issued = atomic_load(&rt->job->chk.last_issued_id);
    if (after > id)
        id = after;
    return issued + 1 > id ? issued + 1 : id;
}

/* A savepoint or checkpoint asked for over REST (rest_request_take), or none. */
struct request {
    char trigger[33];
    bool savepoint;
    char *dir; /* NULL: state.savepoints.dir */
    bool stop, drain; /* a stop-with-savepoint's (stop.c), and whether it drains */
};

static int begin_savepoint(struct runtime *rt, struct pending *pd, const char *target)
{
    struct coordinator *c = rt->chk.coord;
    const char *dir = target ? target : weir_config_get_str(rt->cfg, "state.savepoints.dir");
    char path[4096];
    snprintf(path, sizeof path, "%s/savepoint-%s-%" PRIu64,
             *dir ? dir : weir_storage_job_dir(c->storage), rt->job->name, pd->id);
    pd->savepoint = strdup(path);
    struct weir_ckpt_callbacks cb;
    int rc = pd->savepoint
                 ? weir_savepoint_begin(c->storage, path, pd->id, callbacks(pd, &cb), &pd->ck)
                 : -ENOMEM;
    if (rc == 0)
        chk_log(rt, "savepoint %" PRIu64 " triggered: %s", pd->id, path);
    return rc;
}

static void trigger(struct runtime *rt, uint64_t now, bool savepoint, const struct request *rq)
{
    struct coordinator *c = rt->chk.coord;
    uint64_t id = chk_next_id(rt);
    struct pending *pd = pending_new(rt, id);
    if (!pd) {
        if (rq)
            rest_request_settled(rt->job, rq->trigger, NULL, strerror(ENOMEM));
        return;
    }
    int rc;
    if (rq) {
        memcpy(pd->trigger, rq->trigger, sizeof pd->trigger);
        rest_request_started(rt->job, rq->trigger, id);
    }
    if (savepoint) {
        rc = begin_savepoint(rt, pd, rq ? rq->dir : NULL);
    } else {
        if (chk_test_hooks && chk_test_hooks->checkpoint_begin)
            chk_test_hooks->checkpoint_begin(c->storage, id, false);
        struct weir_ckpt_callbacks cb;
        rc = weir_ckpt_begin(c->storage, id, callbacks(pd, &cb), &pd->ck);
    }
    if (rc < 0) {
        chk_log(rt, "checkpoint %" PRIu64 " could not start: %s", id, strerror(-rc));
        chk_history_failed_start(rt, id, savepoint, strerror(-rc));
        char why[4200]; /* a savepoint's cause names its path */
        snprintf(why, sizeof why, "%s%s%s", pd->savepoint ? pd->savepoint : "",
                 pd->savepoint ? ": " : "", strerror(-rc));
        if (rq && rq->stop) {
            char stop_why[4300];
            snprintf(stop_why, sizeof stop_why, "savepoint %" PRIu64 " could not start: %s", id,
                     why);
            chk_stop_settled(rt, NULL, stop_why);
        }
        if (rq)
            rest_request_settled(rt->job, rq->trigger, NULL, why);
        atomic_fetch_add(&rt->job->chk.failed, 1);
        if (!savepoint) /* as in settle */
            c->consecutive_failed++;
        c->last_trigger_ns = now;
        return;
    }
    pd->start_ns = now;
    pd->state = P_PENDING;
    c->p[c->n_pending++] = pd;
    c->last_trigger_ns = now;
    atomic_fetch_add(&rt->job->chk.in_progress, 1);
    chk_history_triggered(rt, pd);
    ack_finished_tasks(rt, pd);
    if (rq && rq->stop) { /* the trigger's release store below publishes them (stop.c) */
        pd->stop = true;
        c->stop_id = id;
        atomic_store_explicit(&rt->chk.stop_drain, rq->drain, memory_order_relaxed);
        atomic_store_explicit(&rt->chk.stop_id, id, memory_order_relaxed);
    }
    /* release: pairs with the sources' acquire load in source_step (runtime/task.c) */
    atomic_store_explicit(&rt->chk.trigger, id, memory_order_release);
    rt_wake_workers(rt); /* idle sources inject the barrier now */
}

/* A stop-with-savepoint (weir_job_stop_with_savepoint), else a REST request, a stop
 * included (POST /jobs/:jobid/stop), taken into rq. */
static bool take_request(struct runtime *rt, struct request *rq)
{
    if (chk_stop_take(rt, &rq->dir, &rq->drain))
        return rq->savepoint = rq->stop = true;
    if (!rest_request_take(rt->job, rq->trigger, &rq->savepoint, &rq->dir, &rq->stop,
                           &rq->drain))
        return false;
    if (rq->stop && chk_stop_claim(rt->job, rq->dir, rq->drain) < 0) {
        rest_request_settled(rt->job, rq->trigger, NULL, "a stop-with-savepoint is in progress");
        free(rq->dir);
        rq->dir = NULL;
        return false;
    }
    return true;
}

void chk_tick(struct runtime *rt)
{
    struct coordinator *c = rt->chk.coord;
    if (!chk_enabled(rt)) {
        char *d = NULL;
        bool drain;
        if (chk_stop_take(rt, &d, &drain))
            chk_stop_settled(rt, NULL, "the job takes no checkpoints; set "
                                       "execution.checkpointing.interval");
        free(d);
        if (atomic_exchange(&rt->job->savepoint_requested, 0))
            chk_log(rt, "savepoint not taken: the job takes no checkpoints; set "
                        "execution.checkpointing.interval");
        return;
    }
    assert(coord_check_state(c));
    uint64_t now = now_ns();
    for (int i = 0; i < c->n_pending; i++) {
        struct pending *pd = c->p[i];
        /* Tasks that finished after the trigger will not see the barrier. */
        ack_finished_tasks(rt, pd);
        /* Stopping: a source that ended for the stop before it took pd was just acked as
         * finished, and pd must not complete so (a resume from it would not read that
         * source's input any more). Read after ack_finished_tasks: a task seen finished
         * because of the stop (done_flag, acquire) was after its worker read cancel, so the
         * stop is seen here too. */
        if (pd->state == P_PENDING && atomic_load(&rt->job->cancel))
            weir_ckpt_abort(pd->ck, -ECANCELED);
        /* acquire: pairs with the acq_rel increments of acked in
         * chk_snapshot_task and ack_finished: every ack slot is filled */
        else if (pd->state == P_PENDING &&
                 atomic_load_explicit(&pd->acked, memory_order_acquire) == rt->n_tasks) {
            /* dead letters of the records before the barrier durable first (weir/dlq.h) */
            int rc = rt_dlq_flush(rt);
            if (rc == 0)
                rc = commit(rt, pd);
            if (rc < 0)
                weir_ckpt_abort(pd->ck, rc);
            pd->state = P_COMMITTING;
            if (chk_test_hooks && chk_test_hooks->commit_submitted)
                chk_test_hooks->commit_submitted(pd->id);
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
    /* Free what no worker will touch again (acquire on acked: pairs as above). */
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
    if (atomic_load(&rt->job->cancel))
        return; /* stopping: sources end early, and a checkpoint now would record them as
                 * finished; nothing new starts (what is in flight was aborted above) */
    if (c->stop_id || atomic_load(&rt->chk.stopped))
        return; /* the sources halt after the stop's barrier: nothing else could complete */
    if (atomic_load(&rt->job->savepoint_requested) && c->n_pending == 0 &&
        !atomic_load(&rt->failed)) {
        atomic_store(&rt->job->savepoint_requested, 0);
        trigger(rt, now, true, NULL);
        return;
    }
    /* a stop-with-savepoint, or asked for over REST: one at a time, as the savepoints of
     * kill -USR1 */
    struct request rq = {0};
    if (c->n_pending == 0 && !atomic_load(&rt->failed) && take_request(rt, &rq)) {
        trigger(rt, now, rq.savepoint, &rq);
        free(rq.dir);
        return;
    }
    /* last_end_ns may be later than now: settle() above ran in this tick, after now was
     * read, so the pause is compared without subtracting (which would wrap). */
    if (c->interval_ns && c->n_pending < c->max_concurrent &&
        now - c->last_trigger_ns >= c->interval_ns && now >= c->last_end_ns + c->min_pause_ns &&
        !atomic_load(&rt->failed) && !chk_stop_waiting(rt)) /* a stop waits for none in flight */
        trigger(rt, now, false, NULL);
}

/* After the last task finished: one more checkpoint in which every task is
 * finished and sinks have staged everything, then checkpoint_complete on the
 * control thread (workers are gone), so that bounded exactly-once output is
 * committed as Flink's final checkpoint does. */
int chk_final(struct runtime *rt)
{
    struct coordinator *c = rt->chk.coord;
    if (!chk_enabled(rt))
        return 0;
    /* settle what is in flight first */
    for (int tries = 0; c->n_pending && tries < FINAL_SETTLE_TRIES; tries++) {
        chk_tick(rt);
        struct timespec ts = {0, FINAL_SETTLE_POLL_NS};
        nanosleep(&ts, NULL);
    }
    if (atomic_load(&rt->chk.stopped)) { /* a stop's savepoint completed meanwhile: it ends */
        chk_stop_commit(rt);
        return 0;
    }
    uint64_t id = chk_next_id(rt);
    struct pending *pd = pending_new(rt, id);
    if (!pd)
        return -ENOMEM;
    pd->final = true;
    if (chk_test_hooks && chk_test_hooks->checkpoint_begin)
        chk_test_hooks->checkpoint_begin(c->storage, id, true);
    struct weir_ckpt_callbacks cb;
    int rc = weir_ckpt_begin(c->storage, id, callbacks(pd, &cb), &pd->ck);
    if (rc < 0)
        return rc;
    pd->start_ns = now_ns();
    atomic_fetch_add(&rt->job->chk.in_progress, 1);
    chk_history_triggered(rt, pd);
    for (int i = 0; i < rt->n_tasks; i++)
        ack_finished(rt, pd, &rt->tasks[i]);
    rc = rt_dlq_flush(rt);
    if (rc == 0)
        rc = commit(rt, pd);
    if (rc < 0)
        weir_ckpt_abort(pd->ck, rc);
    rc = weir_ckpt_wait(pd->ck, (int64_t)(c->timeout_ns / 1000000ull));
    pd->state = P_PENDING;
    settle(rt, pd, rc);
    if (rc < 0)
        return rc;
    for (int i = 0; i < rt->n_tasks; i++)
        chk_notify(&rt->tasks[i]);
    return 0;
}

int chk_setup(struct runtime *rt, char *err, size_t errlen)
{
    struct weir_config *cfg = rt->cfg;
    int64_t interval = weir_config_get_duration_ms(cfg, "execution.checkpointing.interval");
    rt->chk.exactly_once =
        strcasecmp(weir_config_get_str(cfg, "execution.checkpointing.mode"), "AT_LEAST_ONCE") != 0;
    rt->chk.coord = calloc(1, sizeof *rt->chk.coord);
    if (!rt->chk.coord) {
        snprintf(err, errlen, "out of memory while setting up checkpoints");
        return -ENOMEM;
    }
    struct coordinator *c = rt->chk.coord;
    if (interval <= 0 && !rt->opts->restore_from)
        return 0; /* checkpointing off, nothing to restore */
    int rc;
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
    rc = chk_unaligned_setup(rt, c->max_concurrent, err, errlen);
    if (rc < 0)
        return rc;
    c->last_trigger_ns = c->last_end_ns = now_ns();
    rc = weir_storage_open_config(cfg, rt->job->name, &c->storage, err, errlen);
    if (rc < 0)
        return rc;
    rt->chk.on = true; /* the test hooks learn of the storage after the restore (chk_restore) */
    return chk_snapshot_cpus_setup(rt);
}

void chk_free(struct runtime *rt)
{
    /* heap snapshots still being written off the workers (snapshot.c) */
    chk_snapshots_drain(rt);
    free(rt->chk.snap_cpus);
    rt->chk.snap_cpus = NULL;
    chk_restore_close(rt); /* an attempt that stopped between open and restore */
    for (int i = 0; i < rt->n_tasks; i++) {
        free(rt->tasks[i].chk.sync_us);
        rt->tasks[i].chk.sync_us = NULL;
        heap_chains_free(&rt->tasks[i]);
        free(rt->tasks[i].chk.channels_uid);
        rt->tasks[i].chk.channels_uid = NULL;
    }
    struct coordinator *c = rt->chk.coord;
    if (!c)
        return;
    for (int i = 0; i < c->n_pending; i++)
        weir_ckpt_abort(c->p[i]->ck, -ECANCELED);
    struct chk_stats *cs = &rt->job->chk;
    for (int i = 0; i < c->n_live; i++) {
        struct pending *pd = c->live[i];
        bool unsettled = pd->state != P_COMPLETED && pd->state != P_FAILED;
        bool done =
            unsettled && pd->ck && weir_ckpt_wait(pd->ck, FREE_WAIT_MS) == 0 && !pd->savepoint;
        if (unsettled && pd->start_ns)
            chk_history_settled(rt, pd, done, (now_ns() - pd->start_ns) / 1000000ull, 0,
                                done ? NULL : "cancelled: the job stopped");
        if (unsettled && pd->stop)
            chk_stop_settled(rt, NULL, "the job stopped or failed before the savepoint completed");
        if (unsettled && pd->trigger[0])
            rest_request_settled(rt->job, pd->trigger, NULL,
                                 done ? NULL : "cancelled: the job stopped");
        if (done) {
            /* Its _metadata was already on its way when the abort came, and it completed
             * while the attempt was torn down: "latest" finds it, so the restart restores it
             * and the run's counters must say so. */
            chk_log(rt, "checkpoint %" PRIu64 " complete (while the job stopped)", pd->id);
            atomic_store(&cs->last_id, pd->id);
            if (pd->id > atomic_load(&cs->last_checkpoint_id))
                atomic_store(&cs->last_checkpoint_id, pd->id);
            atomic_fetch_add(&cs->completed, 1);
        }
        pending_free(rt, pd);
    }
    free(c->live);
    free(c->claimed);
    weir_storage_close(c->storage);
    free(c);
    rt->chk.coord = NULL;
}
