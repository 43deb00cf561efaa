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
 *
 * Unaligned checkpoints (execution.checkpointing.unaligned.enabled, rt->chk.unaligned; Flink's
 * semantics). A barrier is still sent in-band, and is also announced out of band on its ring
 * (weir_ring_sp_announce: checkpoint id and the producer's ring position, the buffers ahead
 * of the barrier). A consumer looks at its inputs' announcements once per step, before it
 * checks backpressure, so a barrier overtakes both the ring and a backpressured task:
 *
 *   IDLE --announcement of n on an input (chk_unaligned_poll, chk_unaligned_record), or a
 *          source's trigger (chk_source_trigger)--> UNALIGNED on n (start_unaligned)
 *          (snapshot now; forward barrier n overtaking: each writer publishes what it can,
 *           announces n and keeps what it still holds unpublished as its output channel
 *           state, then sends n in-band behind it; every live input starts recording)
 *   UNALIGNED --the cut of a recording input (cut)--> UNALIGNED, or IDLE after the last one
 *          (chk_channels_write: the channel-state file, then the task's ack)
 *   UNALIGNED --announcement or barrier m > n--> n abandoned (its channel state dropped), m
 *          as from IDLE
 *
 * The cut of an input: its announcement (the ring buffers from the read position up to the
 * announced one are read in place, not consumed, into its input channel state: the producer
 * cannot reuse them until they are released), its end, or its in-band barrier where the
 * producer could not announce (its ring's queue of announcements was full: the checkpoint
 * then fails, chk_channels_write is still called). What a recording input consumes before
 * its cut is copied into its channel state as well as processed: records are never
 * reordered nor held back. A consumer reads an input's announcements after it has peeked a
 * buffer (chk_unaligned_record), so an announcement made before that buffer was committed is
 * seen before the buffer is recorded (ring.h: the announcement's release store precedes the
 * commit's). The in-band barrier of an unaligned checkpoint is only a marker.
 *
 * The state is t->chk.unaligned: 0 in IDLE, the checkpoint id in UNALIGNED;
 * t->chk.unaligned_waiting counts the recording inputs. A checkpoint's part of a task is its
 * operators' files, taken at the start, and its channel-state file (channel_state.c), after
 * the last cut; the task acks after both. Savepoints stay aligned: a source sends a
 * savepoint's barrier in-band only, and a barrier that was not announced takes the aligned
 * path. One checkpoint in flight (chk_unaligned_setup).
 *
 * aligned-checkpoint-timeout T > 0 (rt->chk.aligned_timeout_ns): every checkpoint starts
 * aligned (sources send barriers in-band only, tasks align as above). A task that has not
 * taken checkpoint n T after it was triggered (switch_after_timeout, each step, whether it
 * is aligning on n or has not seen n yet) switches: it goes UNALIGNED on n as above; an
 * input that delivered n already is cut there; an input whose in-band barrier n is already
 * in its ring is cut there, the buffers ahead of it read in place (cut_at_inband_barrier);
 * the others record until their barrier, in-band or announced, arrives (a recording input's
 * ring is searched for it at each buffer, so a barrier that enters the ring behind a full
 * backlog is found at once). Its barrier then overtakes downstream, where an announcement
 * makes a task switch at once (its producer kept output channel state: the cut is the
 * announced position). A task that takes a checkpoint aligned holds its ack (t->chk.held,
 * chk_held_check) while its barrier waits in a writer's overflow (its ring full): once out,
 * it acks as an aligned one; still there at the timeout, the barrier is announced there, what
 * the writer holds ahead of it becomes output channel state, and the task's part is its
 * channel-state file too.
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <weir/config.h>

#include <weir/job.h>

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
    if (t->chk.unaligned && (t->chk.aligning || t->chk.unaligned != t->chk.last_chk))
        return false; /* UNALIGNED on the checkpoint taken last, never with an alignment */
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

static bool hold(struct task *t, uint64_t id);

/* Snapshots every operator of the task for checkpoint id and forwards the
 * barrier. With checkpointing off (rt->chk.on false) barriers are only
 * forwarded. With aligned-checkpoint-timeout its ack may be held (hold). */

static int take_checkpoint(struct task *t, uint64_t id, uint64_t align_ns)
{
    t->chk.last_chk = id;
    bool held = hold(t, id);
    if (t->rt->chk.on) {
        chk_note_alignment(t, id, align_ns);
        uint64_t t0 = now_ns();
        int rc = chk_snapshot_task(t->rt, t, id, !held);
        note_sync_time(&t->chk, now_ns() - t0);
        if (rc < 0)
            return rc;
    }
    weir_rec b = {.kind = WEIR_REC_BARRIER, .ts = (int64_t)id};
    int rc = route_control(t, &b);
    if (rc < 0 || !held)
        return rc;
    /* a barrier that went to a writer's overflow (its ring is full) is the last record there */
    for (int i = 0; i < t->n_routes; i++)
        for (int j = 0; j < t->routes[i].n; j++) {
            struct writer *w = t->routes[i].w[j];
            if (w->ovf_len) {
                w->barrier_id = id;
                w->barrier_at = w->ovf_len - weir_rec_size(0);
            }
        }
    t->chk.held = id;
    return chk_held_check(t);
}

/* ---- unaligned checkpoints ---------------------------------------------------------- */

/* Whether checkpoint id's barrier overtakes: unaligned on, and id a checkpoint still in
 * flight, not a savepoint. */
static bool overtakes(struct task *t, uint64_t id)
{
    if (!t->rt->chk.on || !t->rt->chk.unaligned || t->rt->chk.aligned_timeout_ns)
        return false; /* with a timeout, a checkpoint starts aligned everywhere */
    struct pending *pd = chk_find_pending(t->rt, id);
    return pd && !pd->savepoint;
}

/* Forwards barrier id overtaking the records the task's writers hold: each publishes its
 * reserved buffer, announces id at its ring's position, keeps what is left unpublished
 * (its overflow, when the ring is full) as output channel state, and sends id in-band
 * behind it. A ring whose announcements are not read fails the checkpoint (the barrier then
 * goes in-band only, and its consumer cuts there). */
static int forward_unaligned(struct task *t, uint64_t id)
{
    weir_rec b = {.kind = WEIR_REC_BARRIER, .ts = (int64_t)id};
    for (int i = 0; i < t->n_routes; i++)
        for (int j = 0; j < t->routes[i].n; j++) {
            struct writer *w = t->routes[i].w[j];
            writer_flush(w);
            int rc = weir_ring_sp_announce(w->ring, id);
            if (rc == 0) {
                rc = chk_capture_output(w);
                poke(w->self, w->consumer);
            } else {
                struct pending *pd = chk_find_pending(t->rt, id);
                if (pd)
                    weir_ckpt_abort(pd->ck, rc);
                rc = 0;
            }
            if (rc == 0)
                rc = writer_put(w, &b);
            if (rc < 0)
                return rc;
            writer_flush(w);
        }
    return 0;
}

/* aligned-checkpoint-timeout: a checkpoint taken aligned acks only once its barrier has left
 * the writers, so that a barrier stuck behind a full ring can still overtake it
 * (chk_held_check). */
static bool hold(struct task *t, uint64_t id)
{
    if (!t->rt->chk.on || !t->rt->chk.unaligned || !t->rt->chk.aligned_timeout_ns)
        return false;
    struct pending *pd = chk_find_pending(t->rt, id);
    return pd && !pd->savepoint;
}

int chk_held_check(struct task *t)
{
    uint64_t id = t->chk.held;
    bool waiting = false;
    for (int i = 0; i < t->n_routes; i++)
        for (int j = 0; j < t->routes[i].n; j++)
            waiting |= t->routes[i].w[j]->barrier_id == id;
    struct pending *pd = chk_find_pending(t->rt, id);
    uint64_t now = now_ns();
    if (waiting && pd && now < pd->start_ns + t->rt->chk.aligned_timeout_ns)
        return 0;
    t->chk.held = 0;
    if (!waiting || !pd) { /* out in time (the ack as an aligned one), or the checkpoint is gone */
        for (int i = 0; i < t->n_routes; i++)
            for (int j = 0; j < t->routes[i].n; j++)
                t->routes[i].w[j]->barrier_id = 0;
        if (pd)
            chk_task_ack(pd, t);
        return 0;
    }
    /* The timeout passed with the barrier still in an overflow: it overtakes there. What the
     * writer holds ahead of it is output channel state; the barrier stays in-band, a marker. */
    for (int i = 0; i < t->n_routes; i++)
        for (int j = 0; j < t->routes[i].n; j++) {
            struct writer *w = t->routes[i].w[j];
            if (w->barrier_id != id)
                continue;
            w->barrier_id = 0;
            bool stopped;
            int rc = weir_ring_sp_announce(w->ring, id);
            if (rc < 0) {
                weir_ckpt_abort(pd->ck, rc);
                continue;
            }
            if (w->buf && w->used)
                rc = chk_channel_append(&w->state, w->buf, 0, w->used, 0, &stopped);
            if (rc == 0)
                rc = chk_channel_append(&w->state, w->ovf, (uint32_t)w->ovf_head,
                                        (uint32_t)w->ovf_len, id, &stopped);
            if (rc < 0)
                return rc;
            poke(w->self, w->consumer);
        }
    pub_add(&t->chk.unaligned_snapshots, 1);
    return chk_channels_write(t, id);
}

/* UNALIGNED -> IDLE: every input is cut. */
static int finish_unaligned(struct task *t)
{
    uint64_t id = t->chk.unaligned;
    t->chk.unaligned = 0;
    return chk_channels_write(t, id);
}

/* UNALIGNED on n -> IDLE, n given up: a newer checkpoint's barrier came. */
static void abandon_unaligned(struct task *t)
{
    for (int i = 0; i < t->n_in; i++)
        t->in[i].recording = false;
    chk_channels_free(t);
    t->chk.unaligned = 0;
}

static int cut(struct task *t, struct in_chan *c)
{
    c->recording = false;
    return --t->chk.unaligned_waiting == 0 ? finish_unaligned(t) : 0;
}

static int take_announcements(struct task *t, struct in_chan *c);

/* A recording input whose producer sent barrier unaligned in-band only (it took the
 * checkpoint aligned) and whose barrier is already in the ring: it is cut there, the buffers
 * ahead of it read in place. Its announcements are taken after the ring was read: a barrier
 * that was announced (with output channel state at its producer) is cut at the announced
 * position instead. */
static int cut_at_inband_barrier(struct task *t, struct in_chan *c)
{
    uint32_t k;
    if (!c->recording || !chk_find_inband_barrier(c, t->chk.unaligned, &k))
        return 0;
    int rc = take_announcements(t, c);
    if (rc < 0 || !c->recording)
        return rc;
    rc = chk_capture_input(t, c, weir_ring_sc_tail(c->ring) + k + 1);
    if (rc < 0)
        return rc;
    c->recording = false;
    t->chk.unaligned_waiting--; /* finish_unaligned is the caller's */
    return 0;
}

/* IDLE (or ALIGNING or UNALIGNED on an older id) -> UNALIGNED on id; ann: the input whose
 * announcement of id at ring position pos made it (NULL: a trigger or a timeout). */
static int start_unaligned(struct task *t, uint64_t id, struct in_chan *ann, uint32_t pos)
{
    if (t->chk.unaligned)
        abandon_unaligned(t);
    /* an alignment is given up: of an older barrier (a savepoint), or of id (inputs whose
     * producer took id aligned, cut at their barrier below) */
    if (t->chk.aligning) {
        t->chk.aligning = 0;
        for (int i = 0; i < t->n_in; i++)
            t->in[i].blocked = false;
    }
    t->chk.last_chk = id;
    t->chk.unaligned = id;
    t->chk.unaligned_waiting = 0;
    for (int i = 0; i < t->n_in; i++) {
        /* an input that delivered barrier id in-band (its producer took id aligned) is cut
         * there already */
        t->in[i].recording = !t->in[i].ended && t->in[i].barrier != id;
        t->chk.unaligned_waiting += t->in[i].recording;
    }
    chk_note_alignment(t, id, 0);
    uint64_t t0 = now_ns();
    int rc = chk_snapshot_task(t->rt, t, id, false);
    note_sync_time(&t->chk, now_ns() - t0);
    pub_add(&t->chk.unaligned_snapshots, 1);
    if (rc == 0)
        rc = forward_unaligned(t, id);
    if (rc == 0 && ann && ann->recording) { /* cut first: its in-band barrier is past pos */
        rc = chk_capture_input(t, ann, pos);
        ann->recording = false;
        t->chk.unaligned_waiting--;
    }
    for (int i = 0; i < t->n_in && rc == 0 && t->chk.unaligned == id; i++)
        rc = cut_at_inband_barrier(t, &t->in[i]);
    if (rc == 0 && t->chk.unaligned == id && t->chk.unaligned_waiting == 0)
        rc = finish_unaligned(t);
    return rc;
}

/* Barrier id announced on input c at ring position pos. */
static int on_announcement(struct task *t, struct in_chan *c, uint64_t id, uint32_t pos)
{
    if (id != t->chk.unaligned) {
        if (id <= t->chk.last_chk)
            return 0; /* one this task took or gave up */
        return start_unaligned(t, id, c, pos);
    }
    if (!c->recording)
        return 0;
    int rc = chk_capture_input(t, c, pos);
    return rc < 0 ? rc : cut(t, c);
}

static int take_announcements(struct task *t, struct in_chan *c)
{
    uint64_t id;
    uint32_t pos;
    while (weir_ring_sc_announcement(c->ring, &id, &pos)) {
        int rc = on_announcement(t, c, id, pos);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* aligned-checkpoint-timeout: a checkpoint this task has not taken, begun at least that long
 * ago, switches to unaligned here (ALIGNING or IDLE -> UNALIGNED). */
static int switch_after_timeout(struct task *t)
{
    /* acquire: pairs with the release store of trigger in the coordinator's trigger(),
     * made after the pending's start_ns was written */
    uint64_t trig = atomic_load_explicit(&t->rt->chk.trigger, memory_order_acquire);
    uint64_t id = t->chk.aligning ? t->chk.aligning : trig;
    if (t->chk.unaligned || id <= t->chk.last_chk || id > trig)
        return 0;
    struct pending *pd = chk_find_pending(t->rt, id);
    uint64_t now = now_ns(); /* not the worker's: a slow step takes many buffers */
    if (!pd || pd->savepoint || now < pd->start_ns + t->rt->chk.aligned_timeout_ns)
        return 0;
    if (t->chk.aligning)
        pub_add(&t->chk.align_ns, t->worker->now_ns - t->chk.align_start_ns);
    return start_unaligned(t, id, NULL, 0);
}

int chk_unaligned_poll(struct task *t)
{
    if (t->rt->chk.aligned_timeout_ns) {
        int rc = switch_after_timeout(t);
        if (rc < 0)
            return rc;
    }
    for (int i = 0; i < t->n_in; i++)
        if (!t->in[i].ended) {
            int rc = take_announcements(t, &t->in[i]);
            if (rc < 0)
                return rc;
        }
    return 0;
}

int chk_unaligned_record(struct task *t, struct in_chan *c, const unsigned char *buf, uint32_t from,
                         uint32_t used, bool ring)
{
    if (ring) {
        /* per buffer too: a slow task's step can take many buffers */
        int rc = t->rt->chk.aligned_timeout_ns ? switch_after_timeout(t) : 0;
        if (rc == 0)
            rc = take_announcements(t, c);
        if (rc < 0)
            return rc;
    }
    if (!c->recording)
        return 0;
    if (ring) { /* its barrier may have entered the ring since: cut there, in place */
        int rc = cut_at_inband_barrier(t, c);
        if (rc < 0)
            return rc;
        if (!c->recording)
            return t->chk.unaligned && t->chk.unaligned_waiting == 0 ? finish_unaligned(t) : 0;
    }
    bool stopped;
    return chk_channel_append(&c->state, buf, from, used, t->chk.unaligned, &stopped);
}

void chk_unaligned_stats(struct runtime *rt, struct weir_run_stats *st)
{
    for (int i = 0; i < rt->n_tasks; i++) {
        const struct task_chk *tc = &rt->tasks[i].chk;
        uint64_t b = atomic_load_explicit(&tc->max_channel_bytes, memory_order_relaxed);
        st->unaligned_snapshots +=
            atomic_load_explicit(&tc->unaligned_snapshots, memory_order_relaxed);
        if (b > st->channel_state_bytes_max)
            st->channel_state_bytes_max = b;
    }
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
    if (t->chk.unaligned) {
        if (id == t->chk.unaligned) { /* a marker, or the cut where there was no announcement */
            c->barrier = id;
            return c->recording ? cut(t, c) : 0;
        }
        if (id > t->chk.unaligned)
            abandon_unaligned(t);
    }
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

int chk_input_ended(struct task *t, struct in_chan *c)
{
    assert(align_check_state(t));
    if (t->chk.unaligned && c->recording)
        return cut(t, c); /* its channel state ends with its end */
    if (t->chk.aligning && aligned(t))
        return finish_alignment(t);
    return 0;
}

int chk_source_trigger(struct task *t, uint64_t trig)
{
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
        int rc = overtakes(t, id) ? start_unaligned(t, id, NULL, 0) : take_checkpoint(t, id, 0);
        if (rc < 0)
            return rc;
    }
    return overtakes(t, trig) ? start_unaligned(t, trig, NULL, 0) : take_checkpoint(t, trig, 0);
}

/* Unaligned checkpoints need what Flink's need: barriers that align (EXACTLY_ONCE) when
 * they do not overtake, and one checkpoint in flight (a task records one checkpoint's
 * channel state at a time, barrier.c). */
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
    return 0;
}
