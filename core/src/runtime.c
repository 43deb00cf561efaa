/*
 * The runtime: plans a job, places its subtasks on pinned workers, wires the
 * rings, runs until the sources are exhausted (or the job is cancelled) and
 * everything has drained.
 *
 * Threads: the caller of weir_job_run is the control thread (progress, the
 * metrics endpoint, cancellation); one worker thread per slot runs its tasks
 * cooperatively. A worker with nothing to do spins briefly, yields, then sleeps
 * on a futex that producers and consumers on other workers poke after they
 * publish or release a buffer.
 *
 * Wake-up protocol (Dekker): the sleeper stores sleeping = 1, issues a seq_cst
 * fence, then looks at its rings once more; the waker publishes to a ring,
 * issues a seq_cst fence, then loads sleeping. At least one of the two sees the
 * other's store, so a published buffer is never left unseen by a sleeping
 * worker. The futex wait also times out, which bounds the cost of any mistake
 * to one timeout and lets buffer timeouts fire.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/futex.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <weir/config.h>
#include <weir/keygroup.h>
#include <weir/metrics.h>
#include <weir/operator.h>
#include <weir/prom.h>
#include <weir/state.h>

#include "restart.h"
#include "runtime.h"

#define SOURCE_BATCH   1024u   /* records a source emits per step */
#define INPUT_BUDGET   4096u   /* records an input task takes per step, at least one buffer */
#define SPIN_ROUNDS    64      /* idle passes before yielding */
#define PREFETCH_AHEAD 8       /* keyed records looked ahead for state prefetch */
#define YIELD_ROUNDS   16      /* yields before sleeping */
#define SLEEP_NS       2000000 /* futex wait bound: buffer timeouts and cancellation */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Counters have one writer (the worker); readers are the control thread and the
 * metrics endpoint, which only need a value that is not torn. */
static inline void pub_add(_Atomic uint64_t *c, uint64_t d)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + d,
                          memory_order_relaxed);
}

static void rt_fail(struct runtime *rt, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void rt_fail(struct runtime *rt, const char *fmt, ...)
{
    pthread_mutex_lock(&rt->err_lock);
    if (!rt->error) {
        va_list ap;
        va_start(ap, fmt);
        if (vasprintf(&rt->error, fmt, ap) < 0)
            rt->error = NULL;
        va_end(ap);
    }
    pthread_mutex_unlock(&rt->err_lock);
    atomic_store_explicit(&rt->failed, 1, memory_order_release);
}

void rt_fail_msg(struct runtime *rt, const char *msg)
{
    rt_fail(rt, "%s", msg);
}

/* --- ctx accessors (job.h) ------------------------------------------------ */

int weir_ctx_subtask(const weir_ctx *ctx)
{
    return ctx->subtask;
}

int weir_ctx_parallelism(const weir_ctx *ctx)
{
    return ctx->parallelism;
}

int weir_ctx_max_parallelism(const weir_ctx *ctx)
{
    return ctx->max_parallelism;
}

const char *weir_ctx_uid(const weir_ctx *ctx)
{
    return ctx->op->node->uid;
}

bool weir_ctx_checkpointing(const weir_ctx *ctx)
{
    return ctx->rt->snapshot != NULL;
}

void *weir_ctx_arg(const weir_ctx *ctx)
{
    return ctx->op->node->arg;
}

bool weir_ctx_stopping(const weir_ctx *ctx)
{
    return atomic_load_explicit(&ctx->rt->job->cancel, memory_order_relaxed) != 0;
}

void weir_ctx_fail(weir_ctx *ctx, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    rt_fail(ctx->rt, "%s (subtask %d/%d): %s", ctx->op->node->uid, ctx->subtask + 1,
            ctx->parallelism, msg);
}

void weir_job_savepoint(weir_job *job)
{
    atomic_store_explicit(&job->savepoint_requested, 1, memory_order_relaxed);
}

void weir_job_cancel(weir_job *job)
{
    atomic_store_explicit(&job->cancel, 1, memory_order_relaxed);
}

/* --- waking workers ------------------------------------------------------- */

static void futex_wake(_Atomic uint32_t *addr)
{
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static void futex_wait(_Atomic uint32_t *addr, uint32_t val, long ns)
{
    struct timespec ts = {.tv_sec = ns / 1000000000L, .tv_nsec = ns % 1000000000L};
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT_PRIVATE, val, &ts, NULL, 0);
}

/* Called after publishing to or releasing a ring that `other` watches. The fence
 * pairs with the one in worker_sleep (see the file comment). */
static inline void poke(struct worker *self, struct worker *other)
{
    if (other == self)
        return;
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(&other->sleeping, memory_order_relaxed)) {
        atomic_fetch_add_explicit(&other->futex, 1, memory_order_relaxed);
        futex_wake(&other->futex);
    }
}

void rt_wake_workers(struct runtime *rt)
{
    for (int w = 0; w < rt->n_workers; w++)
        poke(NULL, &rt->workers[w]);
}

/* --- writers: the producer side of a channel ------------------------------ */

static int ovf_append(struct writer *w, const weir_rec *r, uint32_t sz)
{
    if (w->ovf_len + sz > w->ovf_cap) {
        size_t ncap = w->ovf_cap ? w->ovf_cap * 2 : 65536;
        while (ncap < w->ovf_len + sz)
            ncap *= 2;
        unsigned char *p = realloc(w->ovf, ncap);
        if (!p)
            return -ENOMEM;
        w->ovf = p;
        w->ovf_cap = ncap;
    }
    memcpy(w->ovf + w->ovf_len, r, WEIR_REC_HEADER + r->len);
    w->ovf_len += sz;
    return 0;
}

static inline void writer_commit(struct writer *w)
{
    weir_ring_sp_commit(w->ring, w->used);
    w->buf = NULL;
    w->used = 0;
    poke(w->self, w->consumer);
}

/* Reserves a fresh buffer; false when the ring is full. */
static inline bool writer_reserve(struct writer *w)
{
    w->buf = weir_ring_sp_reserve(w->ring);
    if (!w->buf)
        return false;
    w->used = 0;
    w->first_ns = w->self->now_ns;
    return true;
}

/* Copies a record of sz bytes (a multiple of 8) in 8-byte words: small records
 * are the common case and a call to memcpy costs more than the copy. */
static inline void copy_rec(unsigned char *dst, const weir_rec *r, uint32_t sz)
{
    if (sz > 256) {
        memcpy(dst, r, WEIR_REC_HEADER + r->len);
        return;
    }
    const unsigned char *src = (const unsigned char *)r;
    uint32_t full = WEIR_REC_HEADER + (r->len & ~7u);
    for (uint32_t i = 0; i < full; i += 8) {
        uint64_t v;
        memcpy(&v, src + i, 8);
        memcpy(dst + i, &v, 8);
    }
    if (full < WEIR_REC_HEADER + r->len) /* the last partial word: copy only what exists */
        memcpy(dst + full, src + full, r->len & 7u);
}

static inline int writer_put(struct writer *w, const weir_rec *r)
{
    uint32_t sz = weir_rec_size(r->len);
    if (__builtin_expect(w->ovf_len != 0, 0))
        return ovf_append(w, r, sz);
    if (__builtin_expect(!w->buf || w->used + sz > w->cap, 0)) {
        if (w->buf)
            writer_commit(w);
        if (!writer_reserve(w))
            return ovf_append(w, r, sz);
    }
    copy_rec(w->buf + w->used, r, sz);
    w->used += sz;
    return 0;
}

/* Moves overflow into the ring; true when nothing is left over. A partly
 * filled last buffer is published too: it only exists under backpressure. */
static bool writer_drain(struct writer *w)
{
    size_t off = w->ovf_head;
    while (off < w->ovf_len) {
        const weir_rec *r = (const weir_rec *)(w->ovf + off);
        uint32_t sz = weir_rec_size(r->len);
        if (!w->buf || w->used + sz > w->cap) {
            if (w->buf)
                writer_commit(w);
            if (!writer_reserve(w))
                break;
        }
        memcpy(w->buf + w->used, r, WEIR_REC_HEADER + r->len);
        w->used += sz;
        off += sz;
    }
    /* Drained records are skipped by offset, not moved; the buffer is reused
     * from its start once empty. */
    w->ovf_head = off;
    if (w->ovf_head == w->ovf_len)
        w->ovf_head = w->ovf_len = 0;
    if (w->ovf_len == 0 && w->buf && w->used)
        writer_commit(w);
    return w->ovf_len == 0;
}

/* Publishes a partly filled buffer. */
static inline void writer_flush(struct writer *w)
{
    if (w->ovf_len == 0 && w->buf && w->used)
        writer_commit(w);
}

/* Bytes the writer can take without overflowing: free ring buffers plus what
 * is left of the one being filled. Producer-side view, so never too high. */
static inline uint64_t writer_room(const struct writer *w)
{
    if (w->ovf_len)
        return 0;
    uint32_t nb = weir_ring_nbufs(w->ring), full = weir_ring_count(w->ring);
    uint64_t free_bufs = full < nb ? nb - full : 0;
    if (w->buf)
        return (free_bufs ? free_bufs - 1 : 0) * w->cap + (w->cap - w->used);
    return free_bufs * w->cap;
}

/* --- routes: the chain's tail --------------------------------------------- */

static int route_control(struct task *t, const weir_rec *r)
{
    for (int i = 0; i < t->n_routes; i++) {
        struct route *rt = &t->routes[i];
        for (int j = 0; j < rt->n; j++) {
            int rc = writer_put(rt->w[j], r);
            if (rc < 0)
                return rc;
            writer_flush(rt->w[j]);
        }
    }
    return 0;
}

/* One data record to one route, by its partitioning. */
static inline int route_put(struct route *rt, const weir_rec *r)
{
    switch (rt->part) {
    case PART_DEFAULT:
    case PART_FORWARD:
        return writer_put(rt->w[0], r);
    case PART_REBALANCE:
        return writer_put(rt->w[rt->rr++ % (uint32_t)rt->n], r);
    case PART_HASH: {
        /* key group = murmur % max parallelism; the owner comes from a table
         * built with weir_key_group_subtask, so no division per record. */
        uint32_t h = weir_murmur_int(weir_key_hash_code(rt->key(r)));
        uint32_t kg = rt->kg_mask ? h & rt->kg_mask : h % rt->max_parallelism;
        return writer_put(rt->w[rt->owner[kg]], r);
    }
    case PART_BROADCAST:
        for (int j = 0; j < rt->n; j++) {
            int rc = writer_put(rt->w[j], r);
            if (rc < 0)
                return rc;
        }
        return 0;
    }
    return 0;
}

static int push_routes(weir_emit *e, const weir_rec *r)
{
    struct task *t = e->target;
    if (__builtin_expect(r->kind != WEIR_REC_DATA, 0))
        return route_control(t, r);
    t->n_out_local++;
    t->n_out_bytes += weir_rec_size(r->len);
    t->n_out_bytes_recs++;
    for (int i = 0; i < t->n_routes; i++) {
        struct route *rt = &t->routes[i];
        if (rt->tag)
            continue; /* side output routes take only what weir_ctx_side_output emits */
        int rc = route_put(rt, r);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* A sink's output goes nowhere; emitting from a sink is a bug in the job. */
static int push_nowhere(weir_emit *e, const weir_rec *r)
{
    return 0;
}

/* A side output: the same partitioners, only the routes of that tag. */
static int push_side(weir_emit *e, const weir_rec *r)
{
    struct side_emit *se = (struct side_emit *)e;
    struct task *t = se->task;
    if (r->kind != WEIR_REC_DATA)
        return 0; /* control events go to every route from the task itself */
    for (int i = 0; i < t->n_routes; i++) {
        if (t->routes[i].tag != se->tag)
            continue;
        int rc = route_put(&t->routes[i], r);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* A source's emit: notes timestamps for its watermark strategy and wakes an
 * idle source up before passing the record on. */
static int route_control(struct task *t, const weir_rec *r);
static int push_source(weir_emit *e, const weir_rec *r)
{
    struct op_inst *op = e->target;
    struct task *t = op->task;
    if (r->kind == WEIR_REC_DATA) {
        if (r->ts != WEIR_TS_NONE && r->ts > t->max_ts)
            t->max_ts = r->ts;
        t->last_data_ns = t->worker->now_ns;
        if (__builtin_expect(t->src_idle, 0)) {
            t->src_idle = false;
            weir_rec st = {.kind = WEIR_REC_STATUS, .ts = 0};
            int rc = route_control(t, &st);
            if (rc < 0)
                return rc;
        }
    }
    return op->fwd.push(&op->fwd, r);
}

static int deliver_watermark(struct op_inst *op, int64_t wm);

static int push_op(weir_emit *e, const weir_rec *r)
{
    struct op_inst *next = e->target;
    if (__builtin_expect(r->kind == WEIR_REC_WATERMARK, 0))
        return deliver_watermark(next, r->ts);
    if (__builtin_expect(r->kind != WEIR_REC_DATA, 0))
        return 0;
    next->records++;
    return next->node->op->process(&next->ctx, next->state, 0, r, &next->emit);
}

static void set_key(struct op_inst *op, uint64_t key, uint32_t kg)
{
    op->cur_key = key;
    op->cur_kg = kg;
    weir_keyed_backend_set_current_key(op->backend, key, kg);
    weir_keyed_backend_set_namespace(op->backend, 0);
}

static int fire_timers(struct op_inst *op, int domain, int64_t upto)
{
    struct weir_timer tm;
    const struct weir_keyed_ops *k = op->node->kops;
    while (timers_pop_due(&op->timers, domain, upto, &tm)) {
        set_key(op, tm.key, tm.key_group);
        weir_keyed_backend_set_namespace(op->backend, tm.ns);
        int rc = k->on_timer(&op->ctx, op->state, (enum weir_time_domain)domain, tm.ns, tm.ts,
                             &op->emit);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Event-time timers up to wm fire before the watermark moves on, as in Flink. */
static int deliver_watermark(struct op_inst *op, int64_t wm)
{
    op->wm = wm;
    if (op->backend && op->node->kops && op->node->kops->on_timer) {
        int rc = fire_timers(op, WEIR_EVENT_TIME, wm);
        if (rc < 0)
            return rc;
    }
    if (op->node->op && op->node->op->watermark)
        return op->node->op->watermark(&op->ctx, op->state, wm, &op->emit);
    return weir_emit_watermark(&op->emit, wm);
}

/* --- tasks ---------------------------------------------------------------- */

static bool task_backpressured(struct task *t)
{
    bool blocked = false;
    for (int i = 0; i < t->n_routes; i++)
        for (int j = 0; j < t->routes[i].n; j++) {
            struct writer *w = t->routes[i].w[j];
            if (w->ovf_len && !writer_drain(w))
                blocked = true;
        }
    return blocked;
}

/* The least room over the task's writers (UINT64_MAX for a sink). Producers
 * size their next batch by it, so overflow stays the exception. */
static uint64_t task_room(const struct task *t)
{
    uint64_t room = UINT64_MAX;
    for (int i = 0; i < t->n_routes; i++)
        for (int j = 0; j < t->routes[i].n; j++) {
            uint64_t r = writer_room(t->routes[i].w[j]);
            if (r < room)
                room = r;
        }
    return room;
}

static bool task_flushed(struct task *t)
{
    for (int i = 0; i < t->n_routes; i++)
        for (int j = 0; j < t->routes[i].n; j++) {
            struct writer *w = t->routes[i].w[j];
            writer_flush(w);
            if (w->ovf_len || (w->buf && w->used))
                return false;
        }
    return true;
}

static void task_flush_timeout(struct task *t, uint64_t now, uint64_t timeout_ns)
{
    for (int i = 0; i < t->n_routes; i++)
        for (int j = 0; j < t->routes[i].n; j++) {
            struct writer *w = t->routes[i].w[j];
            if (w->buf && w->used && now - w->first_ns >= timeout_ns)
                writer_flush(w);
        }
}

static int task_fail_rc(struct task *t, struct op_inst *op, int rc)
{
    if (!atomic_load_explicit(&t->rt->failed, memory_order_relaxed)) {
        /* A state backend says why (pool exhausted, RocksDB error) better than errno. */
        const char *why = op->backend ? weir_keyed_backend_error(op->backend) : NULL;
        rt_fail(t->rt, "%s (subtask %d/%d) failed: %s", op->node->uid, t->subtask + 1,
                op->ctx.parallelism, why && *why ? why : strerror(-rc));
    }
    return rc;
}

/* All input is consumed: let every operator flush, then send end of input. */
static void align_leave(struct task *t);

static int task_finish(struct task *t)
{
    int first = t->is_source ? 1 : 0;
    if (t->is_source) {
        /* A bounded source ends with the maximal watermark (Flink's
         * MAX_WATERMARK): every event-time timer downstream fires. */
        align_leave(t);
        int rc = weir_emit_watermark(&t->ops[0].emit, INT64_MAX);
        if (rc < 0)
            return task_fail_rc(t, &t->ops[0], rc);
    }
    for (int i = first; i < t->n_ops; i++) {
        struct op_inst *op = &t->ops[i];
        if (op->node->op->end) {
            int rc = op->node->op->end(&op->ctx, op->state, &op->emit);
            if (rc < 0)
                return task_fail_rc(t, op, rc);
        }
    }
    weir_rec end = {.len = 0, .kind = WEIR_REC_END, .ts = WEIR_TS_NONE};
    int rc = route_control(t, &end);
    if (rc < 0)
        return task_fail_rc(t, &t->ops[t->n_ops - 1], rc);
    t->state = TASK_FINISHING;
    return 0;
}

static void gate_watermark(struct task *t)
{
    int64_t wm = INT64_MAX;
    int active = 0, live = 0;
    for (int i = 0; i < t->n_in; i++) {
        if (t->in[i].ended)
            continue;
        live++;
        if (t->in[i].idle)
            continue; /* an idle input does not hold the watermark back */
        active++;
        if (t->in[i].wm < wm)
            wm = t->in[i].wm;
    }
    /* Every live input idle: this task is idle too, downstream should know. */
    bool all_idle = live > 0 && active == 0;
    if (all_idle != t->idle_sent) {
        t->idle_sent = all_idle;
        weir_rec st = {.kind = WEIR_REC_STATUS, .ts = all_idle ? 1 : 0};
        route_control(t, &st);
    }
    if (active > 0 && wm > t->wm) {
        t->wm = wm;
        int rc = deliver_watermark(&t->ops[0], wm);
        if (rc < 0)
            task_fail_rc(t, &t->ops[0], rc);
    }
}

/* Processes one buffer of a channel; returns data records processed or < 0. */
/* --- barriers ---------------------------------------------------------------
 *
 * Barrier alignment of one task (Flink's CheckpointBarrierHandler), per
 * checkpoint id n:
 *
 *   IDLE --first barrier n--> ALIGNING --barrier n on every live input--> IDLE
 *                                         (snapshot, forward barrier n)
 *
 * EXACTLY_ONCE blocks each input that delivered barrier n until the others
 * have: records behind the barrier stay in the ring (the consumer keeps its
 * offset into the buffer). AT_LEAST_ONCE only counts. An input that ends
 * counts as aligned. A newer barrier abandons an older alignment (that
 * checkpoint has failed or been superseded).
 */

static int task_checkpoint(struct task *t, uint64_t id);

static bool aligned(const struct task *t)
{
    for (int i = 0; i < t->n_in; i++)
        if (!t->in[i].ended && t->in[i].barrier != t->aligning)
            return false;
    return true;
}

static int finish_alignment(struct task *t)
{
    uint64_t id = t->aligning;
    t->aligning = 0;
    for (int i = 0; i < t->n_in; i++)
        t->in[i].blocked = false;
    pub_add(&t->align_ns, t->worker->now_ns - t->align_start_ns);
    return task_checkpoint(t, id);
}

static int on_barrier(struct task *t, struct in_chan *c, uint64_t id)
{
    if (id <= t->last_chk)
        return 0; /* an abandoned alignment's late barrier */
    if (id > t->aligning) {
        if (t->aligning)
            for (int i = 0; i < t->n_in; i++)
                t->in[i].blocked = false;
        t->aligning = id;
        t->align_start_ns = t->worker->now_ns;
    }
    c->barrier = id;
    if (t->rt->exactly_once)
        c->blocked = true;
    return aligned(t) ? finish_alignment(t) : 0;
}

/* Snapshots every operator of the task for checkpoint id and forwards the
 * barrier. The checkpoint module fills rt->snapshot; without it (checkpointing
 * off) barriers are only forwarded. */
static int task_checkpoint(struct task *t, uint64_t id)
{
    t->last_chk = id;
    if (t->rt->snapshot) {
        uint64_t t0 = now_ns();
        int rc = t->rt->snapshot(t->rt->snapshot_arg, t, id);
        uint64_t dt = now_ns() - t0;
        pub_add(&t->sync_ns, dt);
        t->submit_ns = t0 + dt;
        t->pending_sync_ms = dt / 1000000ull;
        if (t->n_sync == t->cap_sync) {
            size_t ncap = t->cap_sync ? t->cap_sync * 2 : 64;
            uint32_t *v = realloc(t->sync_us, ncap * sizeof *v);
            if (v) {
                t->sync_us = v;
                t->cap_sync = ncap;
            }
        }
        if (t->n_sync < t->cap_sync)
            t->sync_us[t->n_sync++] = (uint32_t)(dt / 1000 > UINT32_MAX ? UINT32_MAX : dt / 1000);
        if (rc < 0)
            return rc;
    }
    weir_rec b = {.kind = WEIR_REC_BARRIER, .ts = (int64_t)id};
    return route_control(t, &b);
}

/* Processes a channel's buffer from c->off. Returns the data records processed,
 * or < 0. Stops early, leaving c->off at the next record, when a barrier
 * blocks the channel. */
static int consume_buffer(struct task *t, struct in_chan *c, const unsigned char *buf,
                          uint32_t used)
{
    struct op_inst *head = &t->ops[0];
    const struct weir_operator_ops *ops = head->node->op;
    const uint32_t maxp = (uint32_t)t->rt->max_parallelism;
    int n = 0;
    /* Keyed state: touch the entry of the record PREFETCH_AHEAD records on, so
     * its cache miss overlaps with this record's work. */
    uint32_t ahead = c->off;
    if (c->key && head->backend)
        for (int k = 0; k < PREFETCH_AHEAD && ahead < used; k++)
            ahead += weir_rec_size(((const weir_rec *)(buf + ahead))->len);
    for (uint32_t off = c->off; off < used;) {
        const weir_rec *r = (const weir_rec *)(buf + off);
        off += weir_rec_size(r->len);
        if (__builtin_expect(r->kind == WEIR_REC_DATA, 1)) {
            n++;
            if (c->key && head->backend && ahead < used) {
                const weir_rec *a = (const weir_rec *)(buf + ahead);
                ahead += weir_rec_size(a->len);
                if (a->kind == WEIR_REC_DATA) {
                    uint64_t ak = c->key(a);
                    weir_keyed_backend_prefetch(head->backend, ak, weir_key_group_of(ak, maxp));
                }
            }
            if (c->key) {
                uint64_t key = c->key(r);
                set_key(head, key, weir_key_group_of(key, maxp));
            }
            int rc = ops->process(&head->ctx, head->state, c->input, r, &head->emit);
            if (__builtin_expect(rc < 0, 0))
                return task_fail_rc(t, head, rc);
            continue;
        }
        switch (r->kind) {
        case WEIR_REC_WATERMARK:
            if (r->ts > c->wm) {
                c->wm = r->ts;
                gate_watermark(t);
            }
            break;
        case WEIR_REC_END:
            c->ended = true;
            t->n_live--;
            gate_watermark(t);
            if (t->aligning && aligned(t)) {
                int rc = finish_alignment(t);
                if (rc < 0)
                    return task_fail_rc(t, head, rc);
            }
            break;
        case WEIR_REC_STATUS:
            c->idle = r->ts == 1;
            gate_watermark(t);
            break;
        case WEIR_REC_BARRIER: {
            int rc = on_barrier(t, c, (uint64_t)r->ts);
            if (rc < 0)
                return task_fail_rc(t, head, rc);
            if (c->blocked) {
                c->off = off;
                head->records += (uint64_t)n;
                return n;
            }
            break;
        }
        default:
            break;
        }
    }
    c->off = used;
    head->records += (uint64_t)n;
    return n;
}

/* --- event time at the sources ------------------------------------------- */

static void align_leave(struct task *t)
{
    if (t->align_wm)
        atomic_store_explicit(t->align_wm, INT64_MAX, memory_order_relaxed);
}

/* Periodic watermarks, idleness and alignment of a source with a watermark
 * strategy. Returns 1 when the source must pause (alignment), 0 to go on. */
static int source_time(struct task *t)
{
    const struct weir_watermark_strategy *ws = t->wms;
    uint64_t now = t->worker->now_ns;
    struct op_inst *src = &t->ops[0];
    if (t->last_data_ns == 0)
        t->last_data_ns = now;
    if (now - t->last_wm_ns >= t->rt->wm_interval_ns) {
        t->last_wm_ns = now;
        if (t->max_ts != INT64_MIN) {
            int64_t wm = t->max_ts - ws->max_out_of_orderness_ms - 1;
            if (wm > t->last_wm) {
                t->last_wm = wm;
                int rc = weir_emit_watermark(&src->emit, wm);
                if (rc < 0)
                    return rc;
            }
        }
        if (ws->idleness_ms && !t->src_idle &&
            now - t->last_data_ns >= (uint64_t)ws->idleness_ms * 1000000ull) {
            t->src_idle = true;
            weir_rec st = {.kind = WEIR_REC_STATUS, .ts = 1};
            int rc = route_control(t, &st);
            if (rc < 0)
                return rc;
        }
        if (t->align_wm)
            atomic_store_explicit(t->align_wm, t->src_idle ? INT64_MAX : t->last_wm,
                                  memory_order_relaxed);
    }
    if (t->align) {
        int64_t min = INT64_MAX;
        for (int i = 0; i < t->align->n; i++) {
            int64_t w = atomic_load_explicit(&t->align->wm[i], memory_order_relaxed);
            if (w < min)
                min = w;
        }
        int64_t mine =
            t->max_ts == INT64_MIN ? INT64_MIN : t->max_ts - ws->max_out_of_orderness_ms - 1;
        if (min != INT64_MAX && mine != INT64_MIN &&
            mine > (min == INT64_MIN ? INT64_MIN + t->align->max_drift_ms
                                     : min + t->align->max_drift_ms))
            return 1;
    }
    return 0;
}

/* One scheduling step. Returns > 0 when work was done, 0 when idle, -1 when
 * blocked by backpressure. */
static int task_step(struct task *t)
{
    if (t->state == TASK_DONE)
        return 0;
    if (task_backpressured(t))
        return -1;
    if (t->state == TASK_FINISHING) {
        if (!task_flushed(t))
            return -1;
        t->state = TASK_DONE;
        atomic_store_explicit(&t->done_flag, 1, memory_order_release);
        atomic_fetch_add_explicit(&t->rt->n_done, 1, memory_order_acq_rel);
        return 1;
    }
    if (t->is_source) {
        struct op_inst *src = &t->ops[0];
        if (t->restored_finished || atomic_load_explicit(&t->rt->job->cancel, memory_order_relaxed))
            return task_finish(t) < 0 ? 0 : 1;
        uint64_t trig = atomic_load_explicit(&t->rt->trigger, memory_order_acquire);
        if (trig > t->last_chk) {
            /* The source's position goes into checkpoint trig, then the barrier. */
            int rc = task_checkpoint(t, trig);
            if (rc < 0)
                return task_fail_rc(t, src, rc), 0;
        }
        if (t->wms) {
            int rc = source_time(t);
            if (rc < 0)
                return task_fail_rc(t, src, rc), 0;
            if (rc == 1)
                return 0; /* paused by watermark alignment */
        }
        /* Ask the source for no more than fits: with records of the average
         * size seen so far (one per emitted record, fan-out aside). */
        uint64_t room = task_room(t);
        uint64_t avg = t->n_out_bytes_recs ? t->n_out_bytes / t->n_out_bytes_recs : 64;
        uint64_t fit = room / (avg ? avg : 1);
        if (fit == 0)
            return -1;
        uint32_t max = fit < SOURCE_BATCH ? (uint32_t)fit : SOURCE_BATCH;
        uint32_t emitted = 0;
        int rc = src->node->src->poll(&src->ctx, src->state, &src->emit, max, &emitted);
        src->records += emitted;
        if (rc < 0)
            return task_fail_rc(t, src, rc), 0;
        if (rc == WEIR_SOURCE_DONE) {
            task_finish(t);
            return 1;
        }
        return emitted ? (int)emitted : 0;
    }
    /* Round robin over the channels, one buffer each, until the budget is spent
     * or no channel has a buffer ready. */
    uint32_t done = 0;
    bool more = true, blocked = false;
    while (more && done < INPUT_BUDGET) {
        more = false;
        for (int k = 0; k < t->n_in && done < INPUT_BUDGET; k++) {
            struct in_chan *c = &t->in[(t->rr + k) % t->n_in];
            if (c->ended || c->blocked)
                continue;
            uint32_t used;
            const void *buf = weir_ring_sc_peek(c->ring, &used);
            if (!buf)
                continue;
            /* One input buffer makes about one buffer of output per route: wait
             * for room rather than overflow. */
            if (t->n_routes && task_room(t) < used) {
                blocked = true;
                more = false;
                break;
            }
            int n = consume_buffer(t, c, buf, used);
            if (n < 0)
                return 0;
            if (c->off == used) { /* not stopped by a barrier: hand the buffer back */
                c->off = 0;
                weir_ring_sc_release(c->ring);
                poke(t->worker, c->producer);
            }
            t->n_in_local += (uint64_t)n;
            done += (uint32_t)n + 1;
            more = true;
            if (task_backpressured(t)) {
                more = false;
                break;
            }
        }
    }
    t->rr++;
    if (t->n_live == 0 && t->state == TASK_RUNNING) {
        task_finish(t);
        return 1;
    }
    return done ? (int)done : blocked ? -1 : 0;
}

static void task_publish(struct task *t)
{
    if (t->n_in_local) {
        pub_add(&t->rec_in, t->n_in_local);
        t->n_in_local = 0;
    }
    if (t->n_out_local) {
        pub_add(&t->rec_out, t->n_out_local);
        t->n_out_local = 0;
    }
    for (int i = 0; i < t->n_ops; i++) {
        atomic_store_explicit(&t->ops[i].records_pub, t->ops[i].records, memory_order_relaxed);
        if (t->ops[i].late)
            atomic_store_explicit(&t->ops[i].late_pub, t->ops[i].late, memory_order_relaxed);
    }
}

/* --- workers -------------------------------------------------------------- */

static void task_processing_time(struct task *t);

static int worker_pass(struct worker *w)
{
    struct runtime *rt = w->rt;
    int progress = 0;
    for (int i = 0; i < w->n_tasks; i++) {
        struct task *t = w->tasks[i];
        if (t->state == TASK_DONE)
            continue;
        uint64_t t0 = w->now_ns;
        int r = task_step(t);
        uint64_t t1 = now_ns();
        w->now_ns = t1;
        if (r > 0) {
            progress += r;
            pub_add(&t->busy_ns, t1 - t0);
        } else if (r < 0) {
            pub_add(&t->bp_ns, t1 - t0);
        } else {
            pub_add(&t->idle_ns, t1 - t0);
        }
        task_processing_time(t);
        chk_notify(t);
        if (rt->buffer_timeout_ns == 0)
            task_flushed(t);
        else
            task_flush_timeout(t, t1, rt->buffer_timeout_ns);
        task_publish(t);
    }
    return progress;
}

static bool worker_finished(struct worker *w)
{
    for (int i = 0; i < w->n_tasks; i++)
        if (w->tasks[i]->state != TASK_DONE)
            return false;
    return true;
}

static void worker_idle_time(struct worker *w, uint64_t ns)
{
    for (int i = 0; i < w->n_tasks; i++)
        if (w->tasks[i]->state != TASK_DONE)
            pub_add(&w->tasks[i]->idle_ns, ns);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct runtime *rt = w->rt;
    char name[16];
    snprintf(name, sizeof name, "weir-w%d", w->id);
    pthread_setname_np(pthread_self(), name);
    weir_topo_bind_thread(rt->topo, &w->slot);

    w->now_ns = now_ns();
    int idle = 0;
    while (!atomic_load_explicit(&rt->failed, memory_order_acquire) && !worker_finished(w)) {
        if (worker_pass(w) > 0) {
            idle = 0;
            continue;
        }
        /* Nothing moved: publish what waits in partly filled buffers rather
         * than holding it for the whole buffer timeout. */
        for (int i = 0; i < w->n_tasks; i++)
            if (w->tasks[i]->state != TASK_DONE)
                task_flushed(w->tasks[i]);
        idle++;
        if (idle < SPIN_ROUNDS) {
            __builtin_ia32_pause();
            continue;
        }
        if (idle < SPIN_ROUNDS + YIELD_ROUNDS) {
            sched_yield();
            continue;
        }
        uint32_t seq = atomic_load_explicit(&w->futex, memory_order_relaxed);
        atomic_store_explicit(&w->sleeping, 1, memory_order_relaxed);
        atomic_thread_fence(memory_order_seq_cst); /* pairs with poke() */
        if (worker_pass(w) > 0) {
            atomic_store_explicit(&w->sleeping, 0, memory_order_relaxed);
            idle = 0;
            continue;
        }
        uint64_t t0 = now_ns();
        futex_wait(&w->futex, seq, SLEEP_NS);
        atomic_store_explicit(&w->sleeping, 0, memory_order_relaxed);
        w->now_ns = now_ns();
        worker_idle_time(w, w->now_ns - t0);
    }
    return NULL;
}

/* --- planning ------------------------------------------------------------- */

static bool chainable(const struct edge *e)
{
    return e->eff == PART_FORWARD && !e->tag && e->from->p == e->to->p && e->from->n_out == 1 &&
           e->to->n_in == 1;
}

static int plan(struct runtime *rt, int default_p, char *err, size_t errlen)
{
    weir_job *job = rt->job;
    if (job->n_nodes == 0) {
        snprintf(err, errlen, "job %s: has no operators", job->name);
        return -EINVAL;
    }
    bool any_sink = false;
    for (int i = 0; i < job->n_nodes; i++) {
        struct node *n = job->nodes[i];
        n->p = n->parallelism ? n->parallelism : default_p;
        if (n->p > rt->max_parallelism) {
            snprintf(err, errlen,
                     "operator \"%s\": parallelism %d exceeds pipeline.max-parallelism %d: "
                     "raise pipeline.max-parallelism or lower the parallelism",
                     n->uid, n->p, rt->max_parallelism);
            return -EINVAL;
        }
        if (n->type == NODE_SINK)
            any_sink = true;
        if (n->type != NODE_SINK && !n->stream_used) {
            snprintf(err, errlen,
                     "operator \"%s\": its output goes nowhere; add a sink (e.g. "
                     "weir_sink_blackhole) or remove it",
                     n->uid);
            return -EINVAL;
        }
        if (n->type == NODE_SOURCE && n->n_in) {
            snprintf(err, errlen, "source \"%s\" has inputs", n->uid);
            return -EINVAL;
        }
    }
    if (!any_sink) {
        snprintf(err, errlen, "job %s: has no sink", job->name);
        return -EINVAL;
    }
    for (int i = 0; i < job->n_nodes; i++) {
        struct node *n = job->nodes[i];
        for (int j = 0; j < n->n_in; j++) {
            struct edge *e = n->in[j];
            if (e->part == PART_FORWARD && e->from->p != e->to->p) {
                snprintf(err, errlen,
                         "forward edge \"%s\" -> \"%s\" joins parallelism %d to %d; use "
                         "rebalance or key_by, or give both the same parallelism",
                         e->from->uid, e->to->uid, e->from->p, e->to->p);
                return -EINVAL;
            }
            e->eff = e->part;
            if (e->part == PART_DEFAULT) /* Flink's rule for an unspecified edge */
                e->eff = e->from->p == e->to->p ? PART_FORWARD : PART_REBALANCE;
        }
    }
    /* Chains: start at every node whose input is not chainable, follow forward. */
    rt->chains = calloc((size_t)job->n_nodes, sizeof *rt->chains);
    rt->chain_len = calloc((size_t)job->n_nodes, sizeof *rt->chain_len);
    if (!rt->chains || !rt->chain_len)
        goto oom;
    for (int i = 0; i < job->n_nodes; i++)
        job->nodes[i]->chain = -1;
    for (int i = 0; i < job->n_nodes; i++) {
        struct node *n = job->nodes[i];
        if (n->n_in == 1 && chainable(n->in[0]))
            continue;
        int c = rt->n_chains++;
        rt->chains[c] = calloc((size_t)job->n_nodes, sizeof(struct node *));
        if (!rt->chains[c])
            goto oom;
        for (struct node *m = n;;) {
            m->chain = c;
            m->chain_pos = rt->chain_len[c];
            rt->chains[c][rt->chain_len[c]++] = m;
            if (m->n_out == 1 && chainable(m->out[0]))
                m = m->out[0]->to;
            else
                break;
        }
    }
    return 0;
oom:
    snprintf(err, errlen, "out of memory while planning job %s", job->name);
    return -ENOMEM;
}

static char *chain_name(struct runtime *rt, int c)
{
    size_t len = 1;
    for (int i = 0; i < rt->chain_len[c]; i++)
        len += strlen(rt->chains[c][i]->name) + 4;
    char *s = malloc(len);
    if (!s)
        return NULL;
    s[0] = 0;
    for (int i = 0; i < rt->chain_len[c]; i++) {
        if (i)
            strcat(s, " -> ");
        strcat(s, rt->chains[c][i]->name);
    }
    return s;
}

/* --- set-up --------------------------------------------------------------- */

static struct task *task_of(struct runtime *rt, int chain, int subtask)
{
    for (int i = 0; i < rt->n_tasks; i++)
        if (rt->tasks[i].chain == chain && rt->tasks[i].subtask == subtask)
            return &rt->tasks[i];
    return NULL;
}

static int build_tasks(struct runtime *rt, char *err, size_t errlen)
{
    int n = 0;
    for (int c = 0; c < rt->n_chains; c++)
        n += rt->chains[c][0]->p;
    rt->tasks = calloc((size_t)n, sizeof *rt->tasks);
    if (!rt->tasks)
        goto oom;
    uint32_t scratch_cap = rt->seg_size - WEIR_REC_HEADER;
    for (int c = 0; c < rt->n_chains; c++) {
        int p = rt->chains[c][0]->p;
        char *cname = chain_name(rt, c);
        if (!cname)
            goto oom;
        for (int s = 0; s < p; s++) {
            struct task *t = &rt->tasks[rt->n_tasks];
            t->index = rt->n_tasks++;
            t->rt = rt;
            t->chain = c;
            t->subtask = s;
            t->chain_name = s == 0 ? cname : strdup(cname);
            if (!t->chain_name)
                goto oom;
            t->wm = INT64_MIN;
            t->n_ops = rt->chain_len[c];
            t->ops = calloc((size_t)t->n_ops, sizeof *t->ops);
            if (!t->ops)
                goto oom;
            t->is_source = rt->chains[c][0]->type == NODE_SOURCE;
            for (int i = 0; i < t->n_ops; i++) {
                struct op_inst *op = &t->ops[i];
                struct node *nd = rt->chains[c][i];
                op->node = nd;
                op->task = t;
                op->ctx = (struct weir_ctx){.op = op,
                                            .subtask = s,
                                            .parallelism = p,
                                            .max_parallelism = rt->max_parallelism,
                                            .rt = rt};
                size_t ssize = nd->src ? nd->src->state_size : nd->op->state_size;
                if (ssize && !(op->state = calloc(1, ssize)))
                    goto oom;
                op->emit.scratch = aligned_alloc(64, (rt->seg_size + 63) & ~63u);
                if (!op->emit.scratch)
                    goto oom;
                op->emit.scratch_cap = scratch_cap;
                op->wm = INT64_MIN;
                timers_init(&op->timers);
                op->nowhere.push = push_nowhere;
                op->nowhere.scratch = op->emit.scratch;
                op->nowhere.scratch_cap = scratch_cap;
                if (i + 1 < t->n_ops) {
                    op->next = &t->ops[i + 1];
                    op->emit.push = push_op;
                    op->emit.target = op->next;
                } else if (nd->type == NODE_SINK) {
                    op->emit.push = push_nowhere;
                } else {
                    op->emit.push = push_routes;
                    op->emit.target = t;
                }
                if (i + 1 == t->n_ops && nd->n_tags) {
                    op->side = calloc((size_t)nd->n_tags, sizeof *op->side);
                    if (!op->side)
                        goto oom;
                    op->n_side = nd->n_tags;
                    for (int g = 0; g < nd->n_tags; g++) {
                        struct side_emit *se = &op->side[g];
                        se->emit.push = push_side;
                        se->emit.scratch = op->emit.scratch;
                        se->emit.scratch_cap = scratch_cap;
                        se->task = t;
                        se->tag = nd->tags[g];
                    }
                }
                if (nd->type == NODE_SOURCE) {
                    /* With a watermark strategy, emit notes timestamps and fwd goes
                     * where emit would have gone; without, nothing is interposed. */
                    op->fwd = op->emit;
                    if (nd->wms) {
                        op->emit.push = push_source;
                        op->emit.target = op;
                    }
                    t->wms = nd->wms;
                    t->max_ts = INT64_MIN;
                    t->last_wm = INT64_MIN;
                }
            }
        }
    }
    return 0;
oom:
    snprintf(err, errlen, "out of memory while setting up job %s", rt->job->name);
    return -ENOMEM;
}

/* Counts the rings the plan needs and checks them against the network pool. */
static int count_rings(struct runtime *rt, uint64_t network_pool, char *err, size_t errlen)
{
    int rings = 0;
    for (int c = 0; c < rt->n_chains; c++) {
        struct node *tail = rt->chains[c][rt->chain_len[c] - 1];
        for (int e = 0; e < tail->n_out; e++) {
            struct edge *ed = tail->out[e];
            rings += ed->eff == PART_FORWARD ? ed->to->p : ed->from->p * ed->to->p;
        }
    }
    rt->n_rings = rings;
    uint64_t need = (uint64_t)rings * weir_ring_memsize(rt->nbufs, rt->seg_size);
    if (need > network_pool) {
        char a[32], b[32], s[32];
        weir_format_size(need, a, sizeof a);
        weir_format_size(network_pool, b, sizeof b);
        weir_format_size(rt->seg_size, s, sizeof s);
        snprintf(err, errlen,
                 "network pool too small: %d channels x %u buffers x %s need %s but the pool "
                 "holds %s; raise memory.network.fraction / memory.network.min / "
                 "memory.network.max (or memory.process.size), or lower "
                 "network.buffers-per-channel",
                 rings, rt->nbufs, s, a, b);
        return -ENOMEM;
    }
    return 0;
}

static int wire(struct runtime *rt, char *err, size_t errlen)
{
    size_t rsize = weir_ring_memsize(rt->nbufs, rt->seg_size);
    int nodes = weir_topo_num_nodes(rt->topo);
    if (nodes < 1)
        nodes = 1;
    /* One block of ring memory per NUMA node, each ring on its consumer's node. */
    size_t *per_node = calloc((size_t)nodes, sizeof *per_node);
    size_t *used = calloc((size_t)nodes, sizeof *used);
    rt->blocks = calloc((size_t)nodes, sizeof *rt->blocks);
    if (!per_node || !used || !rt->blocks)
        goto oom;
    rt->n_blocks = nodes;
    for (int pass = 0; pass < 2; pass++) {
        for (int c = 0; c < rt->n_chains; c++) {
            struct node *tail = rt->chains[c][rt->chain_len[c] - 1];
            for (int e = 0; e < tail->n_out; e++) {
                struct edge *ed = tail->out[e];
                bool fwd = ed->eff == PART_FORWARD;
                for (int ps = 0; ps < ed->from->p; ps++) {
                    struct task *prod = task_of(rt, c, ps);
                    struct route *route = pass ? &prod->routes[e] : NULL;
                    for (int cs = 0; cs < ed->to->p; cs++) {
                        if (fwd && cs != ps)
                            continue;
                        struct task *cons = task_of(rt, ed->to->chain, cs);
                        int node = cons->worker->slot.node;
                        if (node < 0 || node >= nodes)
                            node = 0;
                        if (!pass) {
                            per_node[node] += rsize;
                            cons->n_in++;
                            continue;
                        }
                        struct weir_ring *ring =
                            (struct weir_ring *)((char *)rt->blocks[node].mem + used[node]);
                        used[node] += rsize;
                        weir_ring_init(ring, rt->nbufs, rt->seg_size);
                        struct writer *w = calloc(1, sizeof *w);
                        if (!w)
                            goto oom;
                        w->ring = ring;
                        w->cap = rt->seg_size;
                        w->self = prod->worker;
                        w->consumer = cons->worker;
                        route->w[fwd ? 0 : cs] = w;
                        struct in_chan *ic = &cons->in[cons->n_live++];
                        ic->ring = ring;
                        ic->input = ed->input;
                        ic->key = ed->to->keyed && ed->eff == PART_HASH ? ed->key : NULL;
                        ic->wm = INT64_MIN;
                        ic->producer = prod->worker;
                    }
                }
            }
        }
        if (pass)
            break;
        /* Allocate routes, input arrays and ring memory for pass 1. */
        for (int i = 0; i < rt->n_tasks; i++) {
            struct task *t = &rt->tasks[i];
            struct node *tail = t->ops[t->n_ops - 1].node;
            if (t->n_in && !(t->in = calloc((size_t)t->n_in, sizeof *t->in)))
                goto oom;
            t->n_routes = tail->n_out;
            if (t->n_routes && !(t->routes = calloc((size_t)t->n_routes, sizeof *t->routes)))
                goto oom;
            for (int e = 0; e < t->n_routes; e++) {
                struct edge *ed = tail->out[e];
                struct route *r = &t->routes[e];
                r->part = ed->eff;
                r->key = ed->key;
                r->tag = ed->tag;
                r->n = ed->eff == PART_FORWARD ? 1 : ed->to->p;
                r->max_parallelism = (uint32_t)rt->max_parallelism;
                r->kg_mask = (r->max_parallelism & (r->max_parallelism - 1)) == 0
                                 ? r->max_parallelism - 1
                                 : 0;
                if (r->part == PART_HASH) {
                    if (!(r->owner = calloc(r->max_parallelism, sizeof *r->owner)))
                        goto oom;
                    for (uint32_t kg = 0; kg < r->max_parallelism; kg++)
                        r->owner[kg] = (uint16_t)weir_key_group_subtask(kg, r->max_parallelism,
                                                                        (uint32_t)r->n);
                }
                r->rr = (uint32_t)t->subtask; /* spread round robin starts */
                if (!(r->w = calloc((size_t)r->n, sizeof *r->w)))
                    goto oom;
            }
        }
        for (int nd = 0; nd < nodes; nd++) {
            if (!per_node[nd])
                continue;
            weir_page_kind kind;
            rt->blocks[nd].mem =
                weir_numa_alloc(rt->topo, per_node[nd], nodes > 1 ? nd : -1, &kind);
            if (!rt->blocks[nd].mem) {
                char a[32];
                weir_format_size(per_node[nd], a, sizeof a);
                snprintf(err, errlen, "could not map %s of ring memory on NUMA node %d: %s", a, nd,
                         strerror(errno));
                free(per_node);
                free(used);
                return -ENOMEM;
            }
            rt->blocks[nd].size = per_node[nd];
            if (!rt->opts->quiet) {
                char a[32];
                weir_format_size(per_node[nd], a, sizeof a);
                fprintf(stderr, "weir: rings: %s on NUMA node %d in %s\n", a, nd,
                        weir_page_kind_str(kind));
            }
        }
    }
    free(per_node);
    free(used);
    return 0;
oom:
    free(per_node);
    free(used);
    snprintf(err, errlen, "out of memory while wiring job %s", rt->job->name);
    return -ENOMEM;
}

static int place(struct runtime *rt, char *err, size_t errlen)
{
    int workers = 0;
    for (int c = 0; c < rt->n_chains; c++)
        if (rt->chains[c][0]->p > workers)
            workers = rt->chains[c][0]->p;
    int rc = weir_topo_load(&rt->topo);
    if (rc < 0) {
        snprintf(err, errlen, "could not read the machine's topology (hwloc): %s", strerror(-rc));
        return rc;
    }
    const char *cpus = weir_config_get_str(rt->cfg, "numa.cpus");
    int cores = weir_topo_num_cores(rt->topo);
    weir_worker_slot *slots = calloc((size_t)workers, sizeof *slots);
    rt->workers = calloc((size_t)workers, sizeof *rt->workers);
    if (!slots || !rt->workers) {
        free(slots);
        snprintf(err, errlen, "out of memory while placing job %s", rt->job->name);
        return -ENOMEM;
    }
    /* Flink runs more slots than cores when asked to; so do we, with a warning:
     * workers beyond the granted cores share them round robin. */
    int placed = workers;
    rc = weir_topo_place(rt->topo, placed, cpus, slots, err, errlen);
    if (rc < 0 && workers > 1) {
        char first[256];
        snprintf(first, sizeof first, "%s", err);
        for (placed = workers - 1; placed >= 1; placed--)
            if (weir_topo_place(rt->topo, placed, cpus, slots, err, errlen) == 0)
                break;
        if (placed < 1) {
            snprintf(err, errlen, "%s", first);
            free(slots);
            return rc;
        }
        if (!rt->opts->quiet)
            fprintf(stderr,
                    "weir: warning: %d workers on %d granted cores: workers share cores "
                    "(numa.cpus=\"%s\", %d cores on this machine)\n",
                    workers, placed, cpus, cores);
        rc = 0;
    }
    if (rc < 0) {
        free(slots);
        return rc;
    }
    rt->n_workers = workers;
    for (int w = 0; w < workers; w++) {
        rt->workers[w].id = w;
        rt->workers[w].rt = rt;
        rt->workers[w].slot = slots[w % placed];
        rt->workers[w].slot.worker = w;
    }
    free(slots);
    /* Slot sharing: subtask i of every chain runs on worker i. */
    for (int i = 0; i < rt->n_tasks; i++) {
        struct worker *w = &rt->workers[rt->tasks[i].subtask];
        rt->tasks[i].worker = w;
        w->n_tasks++;
    }
    for (int w = 0; w < workers; w++) {
        rt->workers[w].tasks = calloc((size_t)rt->workers[w].n_tasks, sizeof(struct task *));
        if (!rt->workers[w].tasks) {
            snprintf(err, errlen, "out of memory while placing job %s", rt->job->name);
            return -ENOMEM;
        }
        rt->workers[w].n_tasks = 0;
    }
    /* Downstream chains first on each worker, so a worker drains before it fills. */
    for (int i = rt->n_tasks - 1; i >= 0; i--) {
        struct worker *w = rt->tasks[i].worker;
        w->tasks[w->n_tasks++] = &rt->tasks[i];
    }
    if (!rt->opts->quiet) {
        char desc[128];
        weir_topo_describe(rt->topo, desc, sizeof desc);
        fprintf(stderr, "weir: placement: %d worker%s on %s:", workers, workers == 1 ? "" : "s",
                desc);
        for (int w = 0; w < workers; w++)
            fprintf(stderr, " w%d->cpu%d(node%d)", w, rt->workers[w].slot.pu_os_index,
                    rt->workers[w].slot.node);
        fputc('\n', stderr);
    }
    return 0;
}

/* --- keyed state and event time ------------------------------------------ */

static int setup_keyed(struct runtime *rt, char *err, size_t errlen)
{
    bool any = false;
    for (int i = 0; i < rt->job->n_nodes; i++)
        any |= rt->job->nodes[i]->keyed;
    if (any) {
        int rc = weir_state_env_new(rt->cfg, rt->job->name, &rt->state_env, err, errlen);
        if (rc < 0)
            return rc;
    }
    uint32_t maxp = (uint32_t)rt->max_parallelism;
    for (int i = 0; i < rt->n_tasks; i++) {
        struct task *t = &rt->tasks[i];
        for (int j = 0; j < t->n_ops; j++) {
            struct op_inst *op = &t->ops[j];
            if (!op->node->keyed)
                continue;
            uint32_t p = (uint32_t)op->ctx.parallelism, sub = (uint32_t)t->subtask;
            int rc = weir_keyed_backend_open(rt->state_env, op->node->uid, t->subtask,
                                             weir_key_group_range_start(sub, maxp, p),
                                             weir_key_group_range_end(sub, maxp, p), maxp,
                                             t->worker->slot.node, &op->backend, err, errlen);
            if (rc < 0)
                return rc;
        }
    }
    /* Watermark alignment groups: one slot per source subtask of the group. */
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < rt->n_tasks; i++) {
            struct task *t = &rt->tasks[i];
            if (!t->wms || !t->wms->alignment_group)
                continue;
            struct align_group *g = NULL;
            for (int k = 0; k < rt->n_groups; k++)
                if (!strcmp(rt->groups[k].name, t->wms->alignment_group))
                    g = &rt->groups[k];
            if (!pass) {
                if (!g) {
                    struct align_group *ng =
                        realloc(rt->groups, (size_t)(rt->n_groups + 1) * sizeof *ng);
                    if (!ng)
                        goto oom;
                    rt->groups = ng;
                    g = &rt->groups[rt->n_groups++];
                    *g = (struct align_group){.name = t->wms->alignment_group,
                                              .max_drift_ms = t->wms->alignment_max_drift_ms};
                }
                g->n++;
                continue;
            }
            if (!g->wm) {
                g->wm = calloc((size_t)g->n, sizeof *g->wm);
                if (!g->wm)
                    goto oom;
                for (int k = 0; k < g->n; k++)
                    atomic_init(&g->wm[k], INT64_MIN);
                g->n = 0;
            }
            t->align = g;
            t->align_wm = &g->wm[g->n++];
        }
    }
    return 0;
oom:
    snprintf(err, errlen, "out of memory while setting up job %s", rt->job->name);
    return -ENOMEM;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Processing time for TTL and processing-time timers of a task's keyed head. */
static void task_processing_time(struct task *t)
{
    struct op_inst *op = &t->ops[0];
    if (!op->backend || t->state == TASK_DONE)
        return;
    int64_t now = wall_ms();
    weir_keyed_backend_set_time(op->backend, now);
    if (op->node->kops && op->node->kops->on_timer &&
        timers_count(&op->timers, WEIR_PROCESSING_TIME)) {
        /* a timer fires once the clock has passed its time (windows.h) */
        int rc = fire_timers(op, WEIR_PROCESSING_TIME, now - 1);
        if (rc < 0)
            task_fail_rc(t, op, rc);
    }
}

weir_keyed_backend *weir_ctx_state(weir_ctx *ctx)
{
    return ctx->op->backend;
}

uint64_t weir_ctx_current_key(const weir_ctx *ctx)
{
    return ctx->op->cur_key;
}

int64_t weir_ctx_watermark(const weir_ctx *ctx)
{
    return ctx->op->wm;
}

int64_t weir_ctx_processing_time(const weir_ctx *ctx)
{
    return wall_ms();
}

int weir_timer_register(weir_ctx *ctx, enum weir_time_domain d, uint64_t ns, int64_t ts)
{
    struct op_inst *op = ctx->op;
    if (!op->backend || (d != WEIR_EVENT_TIME && d != WEIR_PROCESSING_TIME))
        return -EINVAL;
    struct weir_timer tm = {.ts = ts, .key = op->cur_key, .ns = ns, .key_group = op->cur_kg};
    int rc = timers_add(&op->timers, d, &tm);
    return rc < 0 ? rc : 0;
}

int weir_timer_delete(weir_ctx *ctx, enum weir_time_domain d, uint64_t ns, int64_t ts)
{
    struct op_inst *op = ctx->op;
    if (!op->backend || (d != WEIR_EVENT_TIME && d != WEIR_PROCESSING_TIME))
        return -EINVAL;
    struct weir_timer tm = {.ts = ts, .key = op->cur_key, .ns = ns, .key_group = op->cur_kg};
    timers_del(&op->timers, d, &tm);
    return 0;
}

void weir_ctx_count_late(weir_ctx *ctx)
{
    ctx->op->late++;
}

weir_emit *weir_ctx_side_output(weir_ctx *ctx, const char *tag)
{
    struct op_inst *op = ctx->op;
    for (int i = 0; i < op->n_side; i++)
        if (!strcmp(op->side[i].tag, tag))
            return &op->side[i].emit;
    return &op->nowhere;
}

/* --- metrics -------------------------------------------------------------- */

static double ring_fill(struct weir_ring *const *rings, int n, uint32_t nbufs)
{
    if (n == 0)
        return 0;
    uint64_t sum = 0;
    for (int i = 0; i < n; i++)
        sum += weir_ring_count(rings[i]);
    return (double)sum / ((double)n * nbufs);
}

static double in_pool_usage(void *arg)
{
    struct task *t = arg;
    struct weir_ring *rings[256];
    int n = t->n_in < 256 ? t->n_in : 256;
    for (int i = 0; i < n; i++)
        rings[i] = t->in[i].ring;
    return ring_fill(rings, n, t->rt->nbufs);
}

static double out_pool_usage(void *arg)
{
    struct task *t = arg;
    struct weir_ring *rings[256];
    int n = 0;
    for (int i = 0; i < t->n_routes; i++)
        for (int j = 0; j < t->routes[i].n && n < 256; j++)
            rings[n++] = t->routes[i].w[j]->ring;
    return ring_fill(rings, n, t->rt->nbufs);
}

/* job_name, <what>_name and subtask_index labels, escaped by the registry's helper. */
int rt_labels(const struct runtime *rt, const char *what, const char *name, int subtask, char *buf,
              size_t cap)
{
    char idx[16];
    snprintf(idx, sizeof idx, "%d", subtask);
    buf[0] = 0;
    int rc = weir_metrics_labels_append(buf, cap, "job_name", rt->job->name);
    if (rc == 0 && what)
        rc = weir_metrics_labels_append(buf, cap, what, name);
    if (rc == 0 && subtask >= 0)
        rc = weir_metrics_labels_append(buf, cap, "subtask_index", idx);
    return rc;
}

static int register_metrics(struct runtime *rt)
{
    rt->metrics = weir_metrics_new();
    if (!rt->metrics)
        return -ENOMEM;
    for (int i = 0; i < rt->n_tasks; i++) {
        struct task *t = &rt->tasks[i];
        char labels[1024];
        int rc = rt_labels(rt, "task_name", t->chain_name, t->subtask, labels, sizeof labels);
        if (rc < 0)
            return rc;
        rc |= weir_metrics_add_u64(rt->metrics, "weir_task_numRecordsIn",
                                   "Records this subtask received", WEIR_METRIC_COUNTER, labels,
                                   &t->rec_in);
        rc |= weir_metrics_add_u64(rt->metrics, "weir_task_numRecordsOut",
                                   "Records this subtask sent downstream", WEIR_METRIC_COUNTER,
                                   labels, &t->rec_out);
        rc |= weir_metrics_add_meter(rt->metrics, "weir_task_numRecordsInPerSecond",
                                     "Records received per second", labels, &t->rec_in, 5);
        rc |= weir_metrics_add_meter(rt->metrics, "weir_task_numRecordsOutPerSecond",
                                     "Records sent per second", labels, &t->rec_out, 5);
        rc |= weir_metrics_add_time_share(rt->metrics, "weir_task_busyTimeMsPerSecond",
                                          "Milliseconds per second spent processing", labels,
                                          &t->busy_ns, 5);
        rc |= weir_metrics_add_time_share(rt->metrics, "weir_task_idleTimeMsPerSecond",
                                          "Milliseconds per second with nothing to do", labels,
                                          &t->idle_ns, 5);
        rc |= weir_metrics_add_time_share(rt->metrics, "weir_task_backPressuredTimeMsPerSecond",
                                          "Milliseconds per second blocked on full output rings",
                                          labels, &t->bp_ns, 5);
        rc |= weir_metrics_add_fn(rt->metrics, "weir_task_inPoolUsage",
                                  "Fill ratio of the input rings (0..1)", labels, in_pool_usage, t);
        rc |=
            weir_metrics_add_fn(rt->metrics, "weir_task_outPoolUsage",
                                "Fill ratio of the output rings (0..1)", labels, out_pool_usage, t);
        for (int j = 0; j < t->n_ops && rc == 0; j++) {
            struct op_inst *op = &t->ops[j];
            if (!op->node->keyed)
                continue;
            char olabels[1280];
            rc =
                rt_labels(rt, "operator_name", op->node->name, t->subtask, olabels, sizeof olabels);
            if (rc < 0)
                return rc;
            rc |= weir_metrics_add_u64(rt->metrics, "weir_operator_numLateRecordsDropped",
                                       "Records later than the watermark allowed",
                                       WEIR_METRIC_COUNTER, olabels, &op->late_pub);
        }
        if (rc)
            return rc < 0 ? rc : -ENOMEM;
    }
    return 0;
}

/* --- run ------------------------------------------------------------------ */

static uint64_t sum_records(struct runtime *rt, enum node_type type)
{
    uint64_t n = 0;
    for (int i = 0; i < rt->n_tasks; i++)
        for (int j = 0; j < rt->tasks[i].n_ops; j++)
            if (rt->tasks[i].ops[j].node->type == type)
                n += atomic_load_explicit(&rt->tasks[i].ops[j].records_pub, memory_order_relaxed);
    return n;
}

static void runtime_free(struct runtime *rt)
{
    chk_free(rt);
    weir_prom_server_stop(rt->prom);
    weir_metrics_free(rt->metrics);
    for (int i = 0; i < rt->n_tasks; i++) {
        struct task *t = &rt->tasks[i];
        for (int j = 0; j < t->n_ops; j++) {
            free(t->ops[j].state);
            free(t->ops[j].emit.scratch);
            free(t->ops[j].side);
            timers_free(&t->ops[j].timers);
            weir_keyed_backend_close(t->ops[j].backend);
        }
        free(t->ops);
        for (int r = 0; r < t->n_routes; r++) {
            for (int j = 0; j < t->routes[r].n; j++) {
                if (t->routes[r].w[j])
                    free(t->routes[r].w[j]->ovf);
                free(t->routes[r].w[j]);
            }
            free(t->routes[r].w);
            free(t->routes[r].owner);
        }
        free(t->routes);
        free(t->in);
        free(t->chain_name);
        free(t->sync_us);
    }
    free(rt->tasks);
    for (int w = 0; w < rt->n_workers; w++)
        free(rt->workers[w].tasks);
    free(rt->workers);
    for (int b = 0; b < rt->n_blocks; b++)
        weir_numa_free(rt->blocks[b].mem, rt->blocks[b].size);
    free(rt->blocks);
    for (int c = 0; c < rt->n_chains; c++)
        free(rt->chains[c]);
    free(rt->chains);
    free(rt->chain_len);
    weir_topo_free(rt->topo);
    weir_state_env_free(rt->state_env);
    for (int g = 0; g < rt->n_groups; g++)
        free(rt->groups[g].wm);
    free(rt->groups);
    free(rt->error);
    pthread_mutex_destroy(&rt->err_lock);
}

/* "[datagen -> map x2] =hash=> [blackhole x2]": chains with their parallelism and
 * the partitioning of every edge between chains. */
static int describe_plan(struct runtime *rt, char *buf, size_t len)
{
    size_t o = 0;
#define OUT(...)                                                                                   \
    do {                                                                                           \
        int n_ = snprintf(buf + o, o < len ? len - o : 0, __VA_ARGS__);                            \
        if (n_ > 0)                                                                                \
            o += (size_t)n_;                                                                       \
    } while (0)
    for (int c = 0; c < rt->n_chains; c++) {
        if (c)
            OUT("; ");
        OUT("[");
        for (int i = 0; i < rt->chain_len[c]; i++)
            OUT("%s%s", i ? " -> " : "", rt->chains[c][i]->name);
        OUT(" x%d]", rt->chains[c][0]->p);
        struct node *tail = rt->chains[c][rt->chain_len[c] - 1];
        for (int e = 0; e < tail->n_out; e++)
            OUT(" =%s=> %s", part_str(tail->out[e]->eff), tail->out[e]->to->name);
    }
#undef OUT
    return (int)o;
}

int weir_job_describe_plan(weir_job *job, struct weir_config *cfg, int parallelism, char *buf,
                           size_t len, char *err, size_t errlen)
{
    struct runtime rtv = {0}, *rt = &rtv;
    pthread_mutex_init(&rt->err_lock, NULL);
    rt->job = job;
    rt->cfg = cfg;
    rt->max_parallelism = (int)weir_config_get_int(cfg, "pipeline.max-parallelism");
    int rc = -EINVAL;
    if (job->error)
        snprintf(err, errlen, "job %s: %s", job->name, job->error);
    else
        rc = plan(rt,
                  parallelism > 0 ? parallelism
                                  : (int)weir_config_get_int(cfg, "parallelism.default"),
                  err, errlen);
    if (rc == 0)
        describe_plan(rt, buf, len);
    runtime_free(rt);
    return rc;
}

static int open_ops(struct runtime *rt)
{
    for (int i = 0; i < rt->n_tasks; i++) {
        struct task *t = &rt->tasks[i];
        for (int j = 0; j < t->n_ops; j++) {
            struct op_inst *op = &t->ops[j];
            int (*open)(weir_ctx *, void *, void *) =
                op->node->src ? op->node->src->open : op->node->op->open;
            if (open) {
                int rc = open(&op->ctx, op->state, op->node->arg);
                if (rc < 0) {
                    if (!atomic_load(&rt->failed))
                        rt_fail(rt, "%s (subtask %d/%d) failed to open: %s", op->node->uid,
                                t->subtask + 1, op->ctx.parallelism, strerror(-rc));
                    return rc;
                }
            }
            op->opened = true;
        }
    }
    return 0;
}

static void close_ops(struct runtime *rt)
{
    for (int i = 0; i < rt->n_tasks; i++) {
        struct task *t = &rt->tasks[i];
        for (int j = 0; j < t->n_ops; j++) {
            struct op_inst *op = &t->ops[j];
            if (!op->opened)
                continue;
            void (*close)(weir_ctx *, void *) =
                op->node->src ? op->node->src->close : op->node->op->close;
            if (close)
                close(&op->ctx, op->state);
        }
    }
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* Worker stall per snapshot (its synchronous part), over every task. */
static void sync_percentiles(struct runtime *rt, struct weir_run_stats *st)
{
    size_t n = 0;
    for (int i = 0; i < rt->n_tasks; i++)
        n += rt->tasks[i].n_sync;
    if (!n)
        return;
    uint32_t *v = malloc(n * sizeof *v);
    if (!v)
        return;
    n = 0;
    for (int i = 0; i < rt->n_tasks; i++) {
        if (!rt->tasks[i].n_sync)
            continue;
        memcpy(v + n, rt->tasks[i].sync_us, rt->tasks[i].n_sync * sizeof *v);
        n += rt->tasks[i].n_sync;
    }
    qsort(v, n, sizeof *v, cmp_u32);
    st->snapshots = n;
    st->sync_ms_p50 = v[(n - 1) / 2] / 1000.0;
    st->sync_ms_p99 = v[(n - 1) * 99 / 100] / 1000.0;
    st->sync_ms_max = v[n - 1] / 1000.0;
    free(v);
}

/* One attempt: set up, restore, run until done, failed or cancelled.
 * Returns 0, -EIO for a failure while running (restartable), or another
 * negative errno for a job that cannot start. */
static int run_attempt(weir_job *job, struct weir_config *cfg, const struct weir_run_opts *opts,
                       struct weir_run_stats *stats, char *err, size_t errlen)
{
    struct runtime rtv = {0}, *rt = &rtv;
    pthread_mutex_init(&rt->err_lock, NULL);
    rt->job = job;
    rt->cfg = cfg;
    rt->opts = opts;
    rt->max_parallelism = (int)weir_config_get_int(cfg, "pipeline.max-parallelism");
    rt->nbufs = (uint32_t)weir_config_get_int(cfg, "network.buffers-per-channel");
    rt->seg_size = (uint32_t)weir_config_get_size(cfg, "memory.segment-size");
    rt->buffer_timeout_ns =
        (uint64_t)weir_config_get_duration_ms(cfg, "execution.buffer-timeout") * 1000000ull;
    rt->wm_interval_ns =
        (uint64_t)weir_config_get_duration_ms(cfg, "pipeline.auto-watermark-interval") * 1000000ull;
    int default_p = opts->parallelism > 0 ? opts->parallelism
                                          : (int)weir_config_get_int(cfg, "parallelism.default");
    int rc = plan(rt, default_p, err, errlen);
    if (rc == 0)
        rc = count_rings(rt, weir_config_pools(cfg)->network, err, errlen);
    if (rc == 0)
        rc = build_tasks(rt, err, errlen);
    if (rc == 0)
        rc = place(rt, err, errlen);
    if (rc == 0 && !opts->quiet) {
        char desc[2048];
        describe_plan(rt, desc, sizeof desc);
        fprintf(stderr, "weir: plan: %s\n", desc);
    }
    if (rc == 0)
        rc = wire(rt, err, errlen);
    if (rc == 0)
        rc = setup_keyed(rt, err, errlen);
    if (rc == 0)
        rc = chk_setup(rt, err, errlen);
    if (rc == 0 && (register_metrics(rt) < 0 || chk_register_metrics(rt) < 0)) {
        snprintf(err, errlen, "out of memory while registering metrics");
        rc = -ENOMEM;
    }
    const char *port = weir_config_get_str(cfg, "metrics.reporter.prom.port");
    if (rc == 0 && strcmp(port, "0") != 0) {
        rc = weir_prom_server_start(rt->metrics,
                                    weir_config_get_str(cfg, "metrics.reporter.prom.host"), port,
                                    &rt->prom, err, errlen);
        if (rc == 0 && !opts->quiet)
            fprintf(stderr, "weir: metrics: http://%s:%d/metrics\n",
                    weir_config_get_str(cfg, "metrics.reporter.prom.host"),
                    weir_prom_server_port(rt->prom));
    }
    if (rc < 0) {
        runtime_free(rt);
        return rc;
    }

    uint64_t t0 = now_ns();
    job->rt = rt;
    rc = open_ops(rt);
    if (rc == 0) {
        uint64_t r0 = now_ns();
        rc = chk_restore(rt, err, errlen);
        rt->restore_ns = now_ns() - r0;
        if (rc < 0) {
            close_ops(rt);
            job->rt = NULL;
            runtime_free(rt);
            return rc;
        }
    }
    if (rc == 0) {
        int started = 0;
        for (; started < rt->n_workers; started++)
            if (pthread_create(&rt->workers[started].thread, NULL, worker_main,
                               &rt->workers[started]) != 0) {
                rt_fail(rt, "could not start worker thread %d", started);
                break;
            }
        uint64_t last_progress = 0;
        while (atomic_load_explicit(&rt->n_done, memory_order_acquire) < rt->n_tasks &&
               !atomic_load_explicit(&rt->failed, memory_order_acquire)) {
            struct timespec ts = {0, 20000000};
            nanosleep(&ts, NULL);
            chk_tick(rt);
            uint64_t now = now_ns();
            if (opts->progress && now - last_progress >= 200000000ull) {
                last_progress = now;
                opts->progress(opts->progress_arg, sum_records(rt, NODE_SOURCE),
                               (double)(now - t0) / 1e9, false);
            }
        }
        for (int w = 0; w < started; w++) {
            poke(NULL, &rt->workers[w]);
            pthread_join(rt->workers[w].thread, NULL);
        }
        /* A bounded job that ran to its end takes a final checkpoint, so that
         * what its exactly-once sinks staged is committed. */
        if (!atomic_load(&rt->failed) && !atomic_load(&job->cancel)) {
            int frc = chk_final(rt);
            if (frc < 0)
                rt_fail(rt, "final checkpoint failed: %s", strerror(-frc));
        }
    }
    close_ops(rt);
    double elapsed = (double)(now_ns() - t0) / 1e9;
    if (stats) {
        memset(stats, 0, sizeof *stats);
        stats->source_records = sum_records(rt, NODE_SOURCE);
        stats->sink_records = sum_records(rt, NODE_SINK);
        stats->elapsed_s = elapsed;
        stats->workers = rt->n_workers;
        stats->cancelled = atomic_load(&job->cancel) != 0;
        stats->metrics_port = rt->prom ? weir_prom_server_port(rt->prom) : 0;
        stats->restored_checkpoint = rt->restored_id;
        stats->restore_ms = (double)rt->restore_ns / 1e6;
        stats->restored_bytes = rt->restored_bytes;
        sync_percentiles(rt, stats);
    }
    if (opts->progress)
        opts->progress(opts->progress_arg, sum_records(rt, NODE_SOURCE), elapsed, true);
    job->rt = NULL;
    rc = 0;
    if (atomic_load(&rt->failed)) {
        snprintf(err, errlen, "job %s failed: %s", job->name,
                 rt->error ? rt->error : "unknown error");
        rc = -EIO;
    }
    runtime_free(rt);
    return rc;
}

int weir_job_run(weir_job *job, struct weir_config *cfg, const struct weir_run_opts *opts,
                 struct weir_run_stats *stats, char *err, size_t errlen)
{
    static const struct weir_run_opts no_opts;
    if (!opts)
        opts = &no_opts;
    if (job->error) {
        snprintf(err, errlen, "job %s: %s", job->name, job->error);
        return -EINVAL;
    }
    atomic_store(&job->cancel, 0);
    memset(&job->chk, 0, sizeof job->chk);
    struct restart_strategy rs;
    if (restart_strategy_init(&rs, cfg) < 0) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    bool checkpointing = weir_config_get_duration_ms(cfg, "execution.checkpointing.interval") > 0;
    struct weir_run_opts o = *opts;
    struct weir_run_stats st = {0};
    int restarts = 0, rc;
    for (;;) {
        rc = run_attempt(job, cfg, &o, &st, err, errlen);
        if (rc != -EIO || atomic_load(&job->cancel))
            break;
        int64_t delay;
        if (restart_next(&rs, wall_ms(), &delay) < 0) {
            if (restarts) {
                size_t n = strlen(err);
                snprintf(err + n, errlen - n, " (after %d restart%s, restart-strategy.type %s)",
                         restarts, restarts == 1 ? "" : "s", restart_type_str(rs.type));
            }
            break;
        }
        restarts++;
        atomic_fetch_add(&job->chk.restarts, 1);
        if (!opts->quiet)
            fprintf(stderr, "weir: %s\nweir: restart %d (%s) in %lld ms from %s\n", err, restarts,
                    restart_type_str(rs.type), (long long)delay,
                    checkpointing ? "the latest checkpoint" : "the beginning (no checkpoints)");
        for (int64_t waited = 0; waited < delay && !atomic_load(&job->cancel); waited += 10) {
            struct timespec ts = {0, 10000000};
            nanosleep(&ts, NULL);
        }
        /* Restart from this run's latest checkpoint; before its first one, from
         * where the run began (its --from-checkpoint, or empty): never from an
         * older run's checkpoints left in the same directory. */
        if (checkpointing && atomic_load(&job->chk.completed) > 0)
            o.restore_from = "latest";
        err[0] = 0;
    }
    restart_strategy_free(&rs);
    if (stats) {
        *stats = st;
        stats->restarts = restarts;
        stats->last_checkpoint_ms = atomic_load(&job->chk.last_duration_ms);
        stats->last_checkpoint_bytes = atomic_load(&job->chk.last_size_bytes);
        stats->max_checkpoint_ms = atomic_load(&job->chk.max_duration_ms);
        stats->max_checkpoint_bytes = atomic_load(&job->chk.max_size_bytes);
        stats->checkpoints_completed = atomic_load(&job->chk.completed);
        stats->checkpoints_failed = atomic_load(&job->chk.failed);
        stats->last_checkpoint_id = atomic_load(&job->chk.last_id);
    }
    return rc;
}
