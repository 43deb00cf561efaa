/*
 * Tasks: one chain of operators at one subtask index, stepped cooperatively by
 * its worker (task_step): a source polls its source function, any other task
 * consumes one buffer per input channel in round robin.
 *
 * The task lifecycle (t->state, worker thread only):
 *
 *   RUNNING --input ended / source done / cancelled--> FINISHING
 *           (task_finish: MAX watermark from a source, every operator's end(),
 *            END on every route)
 *   FINISHING --every writer flushed and drained--> DONE
 *           (task_step: done_flag and rt->n_done published for the control
 *            thread)
 *
 * A failure does not change the state: rt->failed stops every worker. A source
 * restored from a checkpoint where it had finished goes to FINISHING at its
 * first step.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <weir/keygroup.h>
#include <weir/operator.h>
#include <weir/state.h>

#include "runtime_private.h"

#define SOURCE_BATCH   1024u /* records a source emits per step */
#define INPUT_BUDGET   4096u /* records an input task takes per step, at least one buffer */
#define PREFETCH_AHEAD 8     /* keyed records looked ahead for state prefetch */

/* For the debugger (STYLE.md): `call task_state_str(t->state)`. */
__attribute__((used)) static const char *task_state_str(enum task_state s)
{
    switch (s) {
    case TASK_RUNNING:
        return "running";
    case TASK_FINISHING:
        return "finishing";
    case TASK_DONE:
        return "done";
    }
    return "?";
}

static bool task_check_state(const struct task *t)
{
    if (t->state != TASK_RUNNING && t->state != TASK_FINISHING && t->state != TASK_DONE)
        return false;
    /* done_flag mirrors DONE; only this worker writes either */
    if ((t->state == TASK_DONE) != (atomic_load_explicit(&t->done_flag, memory_order_relaxed) != 0))
        return false;
    return t->n_live >= 0 && t->n_live <= t->n_in;
}

int task_fail_rc(struct task *t, struct op_inst *op, int rc)
{
    if (!atomic_load_explicit(&t->rt->failed, memory_order_relaxed)) {
        /* A state backend says why (pool exhausted, RocksDB error) better than errno. */
        const char *why = op->backend ? weir_keyed_backend_error(op->backend) : NULL;
        rt_fail(t->rt, "%s (subtask %d/%d) failed: %s", op->node->uid, t->subtask + 1,
                op->ctx.parallelism, why && *why ? why : strerror(-rc));
    }
    rt_fail_errno(t->rt, rc, false);
    return rc;
}

/* RUNNING -> FINISHING. All input is consumed: let every operator flush, then
 * send end of input. */
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

/* Stop-with-savepoint (checkpoint/stop.c): 1 once this source took the stop's barrier (it
 * emits nothing more unless the savepoint fails); with drain, the maximal watermark goes out
 * just before the barrier, so every event-time window fires into the savepoint's output.
 * trig is the trigger source_step loaded, the one chk_source_trigger takes up to: had it
 * loaded a newer one, the stop's barrier would go out without the watermark before it. */
static int source_stopping(struct task *t, uint64_t trig)
{
    uint64_t stop = atomic_load_explicit(&t->rt->chk.stop_id, memory_order_relaxed);
    if (!stop)
        return 0;
    if (t->chk.last_chk >= stop)
        return 1;
    if (trig >= stop && !t->chk.stop_drained &&
        atomic_load_explicit(&t->rt->chk.stop_drain, memory_order_relaxed)) {
        align_leave(t);
        int rc = weir_emit_watermark(&t->ops[0].emit, INT64_MAX);
        if (rc < 0)
            return task_fail_rc(t, &t->ops[0], rc);
        t->chk.stop_drained = true;
    }
    return 0;
}

/* task_step of a source: one batch from its source function. */
static int source_step(struct task *t)
{
    struct op_inst *src = &t->ops[0];
    if (t->restored_finished || atomic_load_explicit(&t->rt->job->cancel, memory_order_relaxed))
        return task_finish(t) < 0 ? 0 : 1;
    /* acquire: pairs with the release store of trigger in the coordinator's trigger(), made
     * after checkpoint trig's pending went into its slot and after a stop's stop_id and
     * stop_drain */
    uint64_t trig = atomic_load_explicit(&t->rt->chk.trigger, memory_order_acquire);
    if (chk_test_hooks && chk_test_hooks->source_step)
        chk_test_hooks->source_step(&t->rt->chk.trigger, &t->rt->chk.stop_id, trig);
    if (source_stopping(t, trig) != 0) /* halted after the stop's barrier (or failed) */
        return 0;
    int crc = chk_source_trigger(t, trig);
    if (crc < 0)
        return task_fail_rc(t, src, crc), 0;
    if (source_stopping(t, trig) != 0) /* it just took the stop's barrier: nothing after it */
        return 0;
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

/* Starts loading the state entry record a (key k) will touch: in the namespace the operator
 * names (a window's), else in namespace 0. */
static inline void prefetch(struct op_inst *head, uint64_t k, const weir_rec *a, uint32_t maxp)
{
    const struct weir_keyed_ops *kops = head->node->kops;
    uint64_t ns = 0;
    if (kops && kops->prefetch_ns && !kops->prefetch_ns(head->state, a, &ns))
        return;
    weir_keyed_backend_prefetch_ns(head->backend, k, weir_key_group_of(k, maxp), ns);
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
                if (a->kind == WEIR_REC_DATA)
                    prefetch(head, c->key(a), a, maxp);
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
        case WEIR_REC_END: {
            c->ended = true;
            t->n_live--;
            gate_watermark(t);
            int rc = chk_input_ended(t, c); /* an ended input counts as aligned */
            if (rc < 0)
                return task_fail_rc(t, head, rc);
            break;
        }
        case WEIR_REC_STATUS:
            c->idle = r->ts == 1;
            gate_watermark(t);
            break;
        case WEIR_REC_BARRIER: {
            int rc = chk_on_barrier(t, c, (uint64_t)r->ts);
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

/* The next piece of c's restored channel state (checkpoint/channel_state.c), whole records
 * up to a ring buffer's size, as if it were a buffer of the ring: replayed before the ring. */
static const unsigned char *replay_chunk(struct in_chan *c, uint32_t *used)
{
    const unsigned char *p = c->replay.p + c->replay_off;
    size_t left = c->replay.len - c->replay_off, n = 0;
    uint32_t cap = weir_ring_buf_size(c->ring);
    while (n < left) {
        size_t sz = weir_rec_size(((const weir_rec *)(p + n))->len);
        if (n && n + sz > cap)
            break;
        n += sz;
    }
    *used = (uint32_t)n;
    return p;
}

/* Restored records in flight into operators of the chain that headed chains of their own
 * when they were checkpointed (checkpoint/channel_state.c): before anything else the task
 * does, the deepest operator's first, since they are older than anything the operators
 * before it emit from now on. A chained operator has one input, not keyed (key_by edges do
 * not chain). */
static int replay_into_chain(struct task *t)
{
    for (int i = t->n_ops - 1; i > 0; i--) {
        struct op_inst *op = &t->ops[i];
        struct chan_buf *b = &t->op_replay[i];
        for (size_t off = 0; off < b->len;) {
            const weir_rec *r = (const weir_rec *)(b->p + off);
            off += weir_rec_size(r->len);
            op->records++;
            int rc =
                op->node->op->process(&op->ctx, op->state, op->node->in[0]->input, r, &op->emit);
            if (rc < 0)
                return task_fail_rc(t, op, rc);
        }
        chan_buf_free(b);
    }
    free(t->op_replay);
    t->op_replay = NULL;
    return 0;
}

/* One scheduling step. Returns > 0 when work was done, 0 when idle, -1 when
 * blocked by backpressure. */
int task_step(struct task *t)
{
    assert(task_check_state(t));
    if (t->state == TASK_DONE)
        return 0;
    if (__builtin_expect(t->op_replay != NULL, 0))
        return replay_into_chain(t) < 0 ? 0 : 1;
    if (__builtin_expect(t->chk.held != 0, 0) && chk_held_check(t) < 0)
        return task_fail_rc(t, &t->ops[0], -EIO), 0;
    /* Unaligned checkpoints: a barrier announced on an input overtakes the ring and this
     * task's backpressure (checkpoint/barrier.c). */
    if (t->rt->chk.unaligned && t->n_in && t->state == TASK_RUNNING) {
        int rc = chk_unaligned_poll(t);
        if (rc < 0)
            return task_fail_rc(t, &t->ops[0], rc), 0;
    }
    if (task_backpressured(t))
        return -1;
    if (t->state == TASK_FINISHING) {
        if (!task_flushed(t))
            return -1;
        if (t->chk.held && chk_held_check(t) < 0) /* its barriers are out: it acks */
            return task_fail_rc(t, &t->ops[0], -EIO), 0;
        t->state = TASK_DONE; /* FINISHING -> DONE */
        /* release: pairs with the acquire load in task_finished (the
         * coordinator acks checkpoints for finished tasks) */
        atomic_store_explicit(&t->done_flag, 1, memory_order_release);
        /* pairs with the acquire load of n_done in run_workers */
        atomic_fetch_add_explicit(&t->rt->n_done, 1, memory_order_acq_rel);
        return 1;
    }
    if (t->is_source)
        return source_step(t);
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
            bool replay = c->replay.len > c->replay_off;
            const unsigned char *buf =
                replay ? replay_chunk(c, &used) : weir_ring_sc_peek(c->ring, &used);
            if (!buf)
                continue;
            /* One input buffer makes about one buffer of output per route: wait
             * for room rather than overflow. */
            if (t->n_routes && task_room(t) < used) {
                blocked = true;
                more = false;
                break;
            }
            /* Unaligned checkpoints: the input's announcements are taken after the peek,
             * so that this buffer is consumed knowing whether a barrier precedes it. */
            if (__builtin_expect(t->rt->chk.unaligned, 0) && (c->recording || !replay)) {
                int rc = chk_unaligned_record(t, c, buf, c->off, used, !replay);
                if (rc < 0)
                    return task_fail_rc(t, &t->ops[0], rc), 0;
            }
            int n = consume_buffer(t, c, buf, used);
            if (n < 0)
                return 0;
            if (replay) { /* restored records: the ring is untouched */
                c->replay_off += used;
                c->off = 0;
                if (c->replay_off == c->replay.len)
                    chan_buf_free(&c->replay);
            } else if (c->off == used) { /* not stopped by a barrier: hand the buffer back */
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

/* The operators' state gauges: a few RocksDB properties, so once a second, not per step. */
static void publish_gauges(struct task *t)
{
    uint64_t now = t->worker ? t->worker->now_ns : 0;
    if (now - t->gauges_ns < 1000000000ull)
        return;
    t->gauges_ns = now;
    for (int i = 0; i < t->n_ops; i++) {
        struct op_inst *op = &t->ops[i];
        if (!op->backend)
            continue;
        struct weir_keyed_backend_gauges g;
        weir_keyed_backend_gauges_get(op->backend, &g);
        atomic_store_explicit(&op->state_bytes_pub, g.state_bytes, memory_order_relaxed);
        atomic_store_explicit(&op->memtable_bytes_pub, g.memtable_bytes, memory_order_relaxed);
        atomic_store_explicit(&op->cache_bytes_pub, g.block_cache_bytes, memory_order_relaxed);
        atomic_store_explicit(&op->et_timers_pub, timers_count(&op->timers, WEIR_EVENT_TIME),
                              memory_order_relaxed);
    }
}

void task_publish(struct task *t)
{
    atomic_store_explicit(&t->wm_pub, t->wms ? t->last_wm : t->wm, memory_order_relaxed);
    publish_gauges(t);
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
