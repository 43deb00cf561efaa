/*
 * The barrier handler of one task (Flink's CheckpointBarrierHandler), on the
 * task's worker thread. Per checkpoint id n:
 *
 *   IDLE --first barrier n (chk_on_barrier)--> ALIGNING
 *   ALIGNING --barrier n on every live input (chk_on_barrier,
 *              chk_input_ended: finish_alignment)--> IDLE
 *              (snapshot, forward barrier n)
 *   ALIGNING --barrier m > n (chk_on_barrier)--> ALIGNING on m
 *              (n is abandoned: it has failed or been superseded, and
 *              its barriers that arrive later are ignored)
 *   IDLE --trigger n, sources only (chk_source_trigger)--> IDLE
 *              (snapshot, emit barrier n; first the same for each still
 *              pending checkpoint the source missed)
 *
 * The state is t->chk.aligning: 0 in IDLE, the checkpoint id in ALIGNING.
 * EXACTLY_ONCE blocks each input that delivered barrier n until the others
 * have: records behind the barrier stay in the ring (the consumer keeps its
 * offset into the buffer, in_chan.off). AT_LEAST_ONCE only counts. An input
 * that ends counts as aligned.
 */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <weir/config.h>

#include "checkpoint.h"
#include "runtime_private.h"

enum align_state { ALIGN_IDLE, ALIGN_ALIGNING };

static enum align_state align_state(const struct task *t)
{
    return t->chk.aligning ? ALIGN_ALIGNING : ALIGN_IDLE;
}

/* For the debugger (STYLE.md): `call align_state_str(t)`. */
__attribute__((used)) static const char *align_state_str(const struct task *t)
{
    return align_state(t) == ALIGN_IDLE ? "idle" : "aligning";
}

static bool align_check_state(const struct task *t)
{
    for (int i = 0; i < t->n_in; i++) {
        const struct in_chan *c = &t->in[i];
        /* only an alignment blocks inputs, and only those that delivered its barrier */
        if (c->blocked && (align_state(t) == ALIGN_IDLE || c->barrier != t->chk.aligning))
            return false;
    }
    return align_state(t) == ALIGN_IDLE || t->chk.aligning > t->chk.last_chk;
}

static bool aligned(const struct task *t)
{
    for (int i = 0; i < t->n_in; i++)
        if (!t->in[i].ended && t->in[i].barrier != t->chk.aligning)
            return false;
    return true;
}

/* Keeps this snapshot's synchronous time: metrics and the percentiles of
 * weir_run_stats (chk_sync_percentiles). */
static void note_sync_time(struct task_chk *tc, uint64_t dt)
{
    pub_add(&tc->sync_ns, dt);
    if (tc->n_sync == tc->cap_sync) {
        size_t ncap = tc->cap_sync ? tc->cap_sync * 2 : 64;
        uint32_t *v = realloc(tc->sync_us, ncap * sizeof *v);
        if (v) {
            tc->sync_us = v;
            tc->cap_sync = ncap;
        }
    }
    if (tc->n_sync < tc->cap_sync)
        tc->sync_us[tc->n_sync++] = (uint32_t)(dt / 1000 > UINT32_MAX ? UINT32_MAX : dt / 1000);
}

/* Snapshots every operator of the task for checkpoint id and forwards the
 * barrier. With checkpointing off (rt->chk.on false) barriers are only
 * forwarded. */
static int take_checkpoint(struct task *t, uint64_t id, uint64_t align_ns)
{
    t->chk.last_chk = id;
    if (t->rt->chk.on) {
        chk_note_alignment(t, id, align_ns);
        uint64_t t0 = now_ns();
        int rc = chk_snapshot_task(t->rt, t, id);
        note_sync_time(&t->chk, now_ns() - t0);
        if (rc < 0)
            return rc;
    }
    weir_rec b = {.kind = WEIR_REC_BARRIER, .ts = (int64_t)id};
    return route_control(t, &b);
}

/* ALIGNING -> IDLE */
static int finish_alignment(struct task *t)
{
    uint64_t id = t->chk.aligning;
    t->chk.aligning = 0;
    for (int i = 0; i < t->n_in; i++)
        t->in[i].blocked = false;
    uint64_t align_ns = t->worker->now_ns - t->chk.align_start_ns;
    pub_add(&t->chk.align_ns, align_ns);
    return take_checkpoint(t, id, align_ns);
}

int chk_on_barrier(struct task *t, struct in_chan *c, uint64_t id)
{
    assert(align_check_state(t));
    /* An abandoned alignment's late barrier: one this task took or gave up, or one older
     * than the alignment in progress (another input skipped it, chk_source_trigger), which
     * must not block its input. */
    if (id <= t->chk.last_chk || id < t->chk.aligning)
        return 0;
    if (id > t->chk.aligning) { /* IDLE, or ALIGNING on an older id: ALIGNING on id */
        if (t->chk.aligning)
            for (int i = 0; i < t->n_in; i++)
                t->in[i].blocked = false;
        t->chk.aligning = id;
        t->chk.align_start_ns = t->worker->now_ns;
    }
    c->barrier = id;
    if (t->rt->chk.exactly_once)
        c->blocked = true;
    return aligned(t) ? finish_alignment(t) : 0;
}

int chk_input_ended(struct task *t)
{
    assert(align_check_state(t));
    if (t->chk.aligning && aligned(t))
        return finish_alignment(t);
    return 0;
}

int chk_source_trigger(struct task *t)
{
    /* acquire: pairs with the release store of trigger in the coordinator's
     * trigger(), made after checkpoint trig's pending went into its slot */
    uint64_t trig = atomic_load_explicit(&t->rt->chk.trigger, memory_order_acquire);
    if (trig <= t->chk.last_chk)
        return 0;
    /* trigger holds only the newest id: a source whose worker was busy for two triggers
     * (a long snapshot of another task there) takes the ones it missed too, oldest first,
     * each still pending (older than SLOTS, none is), else they would wait for its ack until
     * they expire. The source's position goes into each checkpoint, then its barrier. */
    uint64_t id = t->chk.last_chk + 1;
    if (trig - id >= SLOTS)
        id = trig - SLOTS + 1;
    for (; id < trig; id++) {
        if (!chk_pending_live(t->rt, id))
            continue;
        int rc = take_checkpoint(t, id, 0);
        if (rc < 0)
            return rc;
    }
    return take_checkpoint(t, trig, 0);
}

/* Unaligned checkpoints need what Flink's need: barriers that align (EXACTLY_ONCE) when
 * they do not overtake, and one checkpoint in flight (a task records one checkpoint's
 * channel state at a time). */
int chk_unaligned_setup(struct runtime *rt, int max_concurrent, char *err, size_t errlen)
{
    struct weir_config *cfg = rt->cfg;
    rt->chk.unaligned = weir_config_get_bool(cfg, "execution.checkpointing.unaligned.enabled");
    rt->chk.aligned_timeout_ns = (uint64_t)weir_config_get_duration_ms(
                                     cfg, "execution.checkpointing.aligned-checkpoint-timeout") *
                                 1000000ull;
    if (!rt->chk.unaligned)
        return 0;
    if (!rt->chk.exactly_once) {
        snprintf(err, errlen,
                 "execution.checkpointing.unaligned.enabled: true needs "
                 "execution.checkpointing.mode EXACTLY_ONCE (it is AT_LEAST_ONCE)");
        return -EINVAL;
    }
    if (max_concurrent > 1) {
        snprintf(err, errlen,
                 "execution.checkpointing.unaligned.enabled: true needs "
                 "execution.checkpointing.max-concurrent-checkpoints 1 (it is %d)",
                 max_concurrent);
        return -EINVAL;
    }
    /* The task side (barriers that overtake, channel state, its replay) is not complete: a
     * run must not take checkpoints that claim to be unaligned and are not. */
    snprintf(err, errlen,
             "execution.checkpointing.unaligned.enabled: true: unaligned checkpoints are not "
             "supported yet; set it to false");
    return -ENOTSUP;
}
