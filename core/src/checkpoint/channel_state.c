/*
 * Channel state of unaligned checkpoints (barrier.c has the state machine): the records in
 * flight on a task's channels when a barrier overtook them, captured on the task's worker,
 * written as one more file of the task's part of the checkpoint, and replayed on restore.
 *
 * A task's channel-state file is named after the entry "<head uid>#channels" of its subtask
 * (parallelism as the head operator's, no key groups), and holds: TAG_IDENTITY, then per input
 * channel i TAG_CHANNEL_IN | i (the records ahead of that input's barrier that the snapshot
 * does not hold), then per writer k (routes in order, each route's writers in order)
 * TAG_CHANNEL_OUT | k (what the writer held unpublished when its barrier overtook it). Each
 * section is records back to back, as in a ring buffer; only data records are kept
 * (watermarks and stream status come again from upstream after a restore).
 *
 * On restore (the same parallelism only: channels are per pair of subtasks), an input's
 * records go to in_chan.replay, which the task consumes before its ring (task.c), and a
 * writer's go to its overflow, which drains into the ring before anything the task emits.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <weir/storage.h>

#include "checkpoint.h"
#include "runtime_private.h"

int chan_buf_append(struct chan_buf *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        size_t ncap = b->cap ? b->cap * 2 : 4096;
        while (ncap < b->len + n)
            ncap *= 2;
        unsigned char *q = realloc(b->p, ncap);
        if (!q)
            return -ENOMEM;
        b->p = q;
        b->cap = ncap;
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
    return 0;
}

void chan_buf_free(struct chan_buf *b)
{
    free(b->p);
    *b = (struct chan_buf){0};
}

int chk_channel_append(struct chan_buf *b, const unsigned char *buf, uint32_t off, uint32_t used,
                       uint64_t stop_id, bool *stopped)
{
    *stopped = false;
    while (off < used) {
        const weir_rec *r = (const weir_rec *)(buf + off);
        uint32_t sz = weir_rec_size(r->len);
        if (r->kind == WEIR_REC_BARRIER && (uint64_t)r->ts == stop_id) {
            *stopped = true;
            return 0;
        }
        if (r->kind == WEIR_REC_DATA) {
            int rc = chan_buf_append(b, r, sz);
            if (rc < 0)
                return rc;
        }
        off += sz;
    }
    return 0;
}

int chk_capture_input(struct task *t, struct in_chan *c, uint32_t pos)
{
    bool stopped;
    int rc = 0;
    if (c->replay.len > c->replay_off) /* restored records not consumed yet come first */
        rc = chk_channel_append(&c->state, c->replay.p, (uint32_t)c->replay_off,
                                (uint32_t)c->replay.len, 0, &stopped);
    uint32_t ahead = pos - weir_ring_sc_tail(c->ring);
    for (uint32_t k = 0; k < ahead && rc == 0; k++) {
        uint32_t used;
        const unsigned char *b = weir_ring_sc_peek_at(c->ring, k, &used);
        if (!b)
            return -EPROTO; /* announced ahead of what the producer published: cannot be */
        rc =
            chk_channel_append(&c->state, b, k == 0 ? c->off : 0, used, t->chk.unaligned, &stopped);
    }
    return rc;
}

bool chk_find_inband_barrier(struct in_chan *c, uint64_t id, uint32_t *k)
{
    uint32_t used;
    const unsigned char *b;
    for (uint32_t i = 0; (b = weir_ring_sc_peek_at(c->ring, i, &used)) != NULL; i++)
        for (uint32_t off = i == 0 ? c->off : 0; off < used;) {
            const weir_rec *r = (const weir_rec *)(b + off);
            if (r->kind == WEIR_REC_BARRIER && (uint64_t)r->ts == id) {
                *k = i;
                return true;
            }
            off += weir_rec_size(r->len);
        }
    return false;
}

int chk_capture_output(struct writer *w)
{
    bool stopped;
    int rc = 0;
    if (w->buf && w->used)
        rc = chk_channel_append(&w->state, w->buf, 0, w->used, 0, &stopped);
    if (rc == 0 && w->ovf_len > w->ovf_head)
        rc = chk_channel_append(&w->state, w->ovf, (uint32_t)w->ovf_head, (uint32_t)w->ovf_len, 0,
                                &stopped);
    return rc;
}

void chk_channels_free(struct task *t)
{
    for (int i = 0; i < t->n_in; i++)
        chan_buf_free(&t->in[i].state);
    for (int i = 0; i < t->n_routes; i++)
        for (int j = 0; j < t->routes[i].n; j++)
            chan_buf_free(&t->routes[i].w[j]->state);
}

const char *chk_channels_uid(struct task *t)
{
    if (!t->chk.channels_uid) {
        const char *uid = t->ops[0].node->uid;
        size_t n = strlen(uid) + sizeof CHK_CHANNELS_SUFFIX;
        t->chk.channels_uid = malloc(n);
        if (t->chk.channels_uid)
            snprintf(t->chk.channels_uid, n, "%s%s", uid, CHK_CHANNELS_SUFFIX);
    }
    return t->chk.channels_uid;
}

bool chk_is_channels_uid(const char *uid)
{
    size_t n = strlen(uid), s = strlen(CHK_CHANNELS_SUFFIX);
    return n > s && !strcmp(uid + n - s, CHK_CHANNELS_SUFFIX);
}

bool chk_channels_uid_known(const struct runtime *rt, const char *uid)
{
    if (!chk_is_channels_uid(uid))
        return false;
    size_t n = strlen(uid) - strlen(CHK_CHANNELS_SUFFIX);
    for (int k = 0; k < rt->job->n_nodes; k++)
        if (strlen(rt->job->nodes[k]->uid) == n && !strncmp(rt->job->nodes[k]->uid, uid, n))
            return true;
    return false;
}

static int section(weir_ckpt_file *f, uint64_t tag, const struct chan_buf *b, uint64_t *bytes)
{
    int rc = weir_ckpt_file_section_begin(f, tag);
    if (rc == 0 && b->len)
        rc = weir_ckpt_file_out(f)->write(weir_ckpt_file_out(f), b->p, b->len);
    *bytes += b->len;
    return rc;
}

/* The channel-state file of t's part of checkpoint id, into its ack slot's last entry. */
static int channels_file(struct task *t, struct pending *pd, uint64_t id, struct task_ack *a,
                         uint64_t *bytes)
{
    const char *uid = chk_channels_uid(t);
    if (!uid)
        return -ENOMEM;
    struct weir_ckpt_entry *e = &a->e[a->n];
    char *name = a->names[t->n_ops];
    *e = (struct weir_ckpt_entry){.operator_uid = uid,
                                  .subtask = (uint32_t)t->subtask,
                                  .parallelism = (uint32_t)t->ops[0].ctx.parallelism,
                                  .kg_first = WEIR_KG_NONE,
                                  .kg_last = WEIR_KG_NONE};
    weir_ckpt_file *f = NULL;
    int rc = weir_ckpt_file_name(name, 256, uid, t->subtask);
    if (rc == 0)
        rc = weir_ckpt_file_open(pd->ck, name, &f);
    if (rc < 0)
        return rc;
    rc = chk_identity_write(f, e, id);
    for (int i = 0; i < t->n_in && rc == 0; i++)
        rc = section(f, TAG_CHANNEL_IN | (uint32_t)i, &t->in[i].state, bytes);
    uint32_t k = 0;
    for (int i = 0; i < t->n_routes && rc == 0; i++)
        for (int j = 0; j < t->routes[i].n && rc == 0; j++)
            rc = section(f, TAG_CHANNEL_OUT | k++, &t->routes[i].w[j]->state, bytes);
    if (rc < 0) {
        weir_ckpt_file_abort(f, rc);
        return rc;
    }
    e->file = name;
    a->n++;
    return weir_ckpt_file_submit(f);
}

int chk_channels_write(struct task *t, uint64_t id)
{
    struct pending *pd = chk_find_pending(t->rt, id);
    uint64_t bytes = 0;
    int rc = 0;
    if (pd) {
        struct task_ack *a = &pd->acks[t->index];
        /* acquire: pairs as in chk_snapshot_task */
        if (!atomic_load_explicit(&a->filled, memory_order_acquire)) {
            rc = channels_file(t, pd, id, a, &bytes);
            if (rc < 0) /* the checkpoint fails; the job goes on */
                weir_ckpt_abort(pd->ck, rc);
            chk_task_ack(pd, t);
        }
    }
    atomic_store_explicit(&t->chk.last_channel_bytes, bytes, memory_order_relaxed);
    if (bytes > atomic_load_explicit(&t->chk.max_channel_bytes, memory_order_relaxed))
        atomic_store_explicit(&t->chk.max_channel_bytes, bytes, memory_order_relaxed);
    chk_channels_free(t);
    return 0;
}

/* ---- restore -------------------------------------------------------------------------- */

static int read_section(weir_restore_file *f, uint64_t tag, struct chan_buf *b)
{
    size_t sec;
    uint64_t t, len;
    if (weir_restore_file_find(f, tag, &sec) < 0)
        return 0;
    int rc = weir_restore_file_section(f, sec, &t, &len);
    if (rc < 0 || len == 0)
        return rc;
    b->len = 0;
    unsigned char *p = realloc(b->p, len);
    if (!p)
        return -ENOMEM;
    b->p = p;
    b->cap = len;
    struct weir_snapshot_in *in = weir_restore_file_section_in(f, sec);
    rc = in->read(in, p, len);
    if (rc < 0)
        return rc;
    b->len = len;
    /* every record whole: a section cut short by a bad writer must not be replayed */
    for (size_t off = 0; off < len;) {
        const weir_rec *r = (const weir_rec *)(p + off);
        if (len - off < WEIR_REC_HEADER || weir_rec_size(r->len) > len - off)
            return -EBADMSG;
        off += weir_rec_size(r->len);
    }
    return 0;
}

static int restore_task_channels(struct task *t, weir_restore *r, const struct weir_ckpt_entry *e)
{
    weir_restore_file *f;
    int rc = weir_restore_file_open(r, e->file, &f);
    if (rc < 0)
        return rc;
    for (int i = 0; i < t->n_in && rc == 0; i++) {
        rc = read_section(f, TAG_CHANNEL_IN | (uint32_t)i, &t->in[i].replay);
        t->in[i].replay_off = 0;
    }
    uint32_t k = 0;
    for (int i = 0; i < t->n_routes && rc == 0; i++)
        for (int j = 0; j < t->routes[i].n && rc == 0; j++) {
            struct writer *w = t->routes[i].w[j];
            struct chan_buf out = {0};
            rc = read_section(f, TAG_CHANNEL_OUT | k++, &out);
            /* into the overflow: it drains into the ring before anything the task emits */
            for (size_t off = 0; rc == 0 && off < out.len;) {
                const weir_rec *rec = (const weir_rec *)(out.p + off);
                rc = ovf_append(w, rec, weir_rec_size(rec->len));
                off += weir_rec_size(rec->len);
            }
            chan_buf_free(&out);
        }
    weir_restore_file_close(f);
    return rc;
}

int chk_restore_channels(struct runtime *rt, weir_restore *r, const struct weir_ckpt_meta *m,
                         char *err, size_t errlen)
{
    for (int i = 0; i < rt->n_tasks; i++) {
        struct task *t = &rt->tasks[i];
        const char *uid = chk_channels_uid(t);
        if (!uid)
            return -ENOMEM;
        for (size_t j = 0; j < m->entry_count; j++) {
            const struct weir_ckpt_entry *e = &m->entries[j];
            if (strcmp(e->operator_uid, uid) != 0)
                continue;
            if (e->parallelism != (uint32_t)t->ops[0].ctx.parallelism) {
                snprintf(err, errlen,
                         "operator \"%s\": the unaligned checkpoint %s holds records in flight "
                         "at parallelism %u, not %u; restore it at the same parallelism, or "
                         "rescale from a savepoint (savepoints are aligned)",
                         t->ops[0].node->uid, weir_restore_dir(r), e->parallelism,
                         (unsigned)t->ops[0].ctx.parallelism);
                return -EINVAL;
            }
            if (e->subtask != (uint32_t)t->subtask || !e->file || !*e->file)
                continue;
            int rc = restore_task_channels(t, r, e);
            if (rc < 0) {
                snprintf(err, errlen,
                         "operator \"%s\" (subtask %d): restoring its records in flight from "
                         "%s/%s failed: %s",
                         t->ops[0].node->uid, t->subtask + 1, weir_restore_dir(r), e->file,
                         strerror(-rc));
                return rc;
            }
        }
    }
    return 0;
}
