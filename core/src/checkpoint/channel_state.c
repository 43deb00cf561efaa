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
 * Since the channels are per pair of subtasks, the file also holds TAG_CHANNEL_MAP: per
 * channel, which edge of the job it carried (producer uid, consumer uid, the consumer's
 * input, the side output tag) and the subtask and parallelism at its other end. With it a
 * restore re-partitions the records at whatever parallelism the job now runs (Flink's
 * channel state rescaling), in two passes over every task's file:
 *
 *   1. the input sections, then 2. the output sections: so that what one old producer sent
 *      one old consumer is replayed in the order it was sent (what its ring held comes
 *      before what its writer still held);
 *   each record goes by the edge's partitioning as the job is planned now: a hash edge by
 *      the key group of the record's key to the subtask that now owns that key group (and
 *      its keyed state and timers); forward and rebalance edges from old consumer subtask c
 *      to c % p; a broadcast edge to every new subtask s with s % old p == c (the subtask
 *      that restores as c). It lands in the in_chan.replay of the consumer's input from new
 *      producer subtask (old producer % its p), so one old channel's records stay in one
 *      replay buffer, in order; the task consumes replay before its ring (task.c). An
 *      operator that the new parallelism chains behind its producer (an unspecified edge
 *      that is forward now) takes them from task.op_replay, at the task's first step.
 *
 * Replay carries data only, and no watermark is restored: each input's watermark starts at
 * the minimum and moves only with what its ring brings after its replay, so a replayed
 * record is never late for the task it lands in, at any parallelism (as at the same one).
 *
 * A file without the map (written before it existed) restores only at the same parallelism:
 * an input's records go to in_chan.replay, a writer's to its overflow, which drains into the
 * ring before anything the task emits.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <weir/keygroup.h>
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

static int map_line_write(struct weir_snapshot_out *o, uint32_t dir, uint32_t index,
                          const struct edge *ed, int peer)
{
    const char *str[3] = {ed->from->uid, ed->to->uid, ed->tag ? ed->tag : ""};
    struct map_line l = {.dir = dir,
                         .index = index,
                         .peer = (uint32_t)peer,
                         .peer_p = (uint32_t)(dir == MAP_IN ? ed->from->p : ed->to->p),
                         .input = (uint32_t)ed->input};
    for (int i = 0; i < 3; i++)
        l.len[i] = (uint32_t)strlen(str[i]);
    int rc = o->write(o, &l, sizeof l);
    for (int i = 0; i < 3 && rc == 0; i++)
        rc = o->write(o, str[i], l.len[i]);
    return rc;
}

static int channel_map_write(struct task *t, weir_ckpt_file *f)
{
    int rc = weir_ckpt_file_section_begin(f, TAG_CHANNEL_MAP);
    struct weir_snapshot_out *o = weir_ckpt_file_out(f);
    uint32_t n = (uint32_t)t->n_in;
    for (int i = 0; i < t->n_routes; i++)
        n += (uint32_t)t->routes[i].n;
    if (rc == 0)
        rc = o->write(o, &n, sizeof n);
    for (int i = 0; i < t->n_in && rc == 0; i++)
        rc = map_line_write(o, MAP_IN, (uint32_t)i, t->in[i].edge, t->in[i].peer);
    const struct node *tail = t->ops[t->n_ops - 1].node;
    uint32_t k = 0;
    for (int i = 0; i < t->n_routes && rc == 0; i++) /* routes[i] is tail->out[i] (setup.c) */
        for (int j = 0; j < t->routes[i].n && rc == 0; j++)
            rc = map_line_write(o, MAP_OUT, k++, tail->out[i],
                                t->routes[i].part == PART_FORWARD ? t->subtask : j);
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
    if (rc == 0)
        rc = channel_map_write(t, f);
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

/* Files without the channel map: each task's own file, at the same parallelism only. */
static int restore_unmapped(struct runtime *rt, weir_restore *r, const struct weir_ckpt_meta *m,
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
                         "at parallelism %u, not %u, without the channel map that rescales "
                         "them (written by an older weir); restore it at the same parallelism, "
                         "or rescale from a savepoint (savepoints are aligned)",
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

/* One old channel, as its file's map says, and where its records go now. */
struct old_chan {
    const struct edge *ed; /* the job's edge it carried, NULL: gone (skipped) */
    uint32_t prod, prod_p; /* the old producer subtask, of how many */
    uint32_t cons, cons_p; /* the old consumer subtask, of how many */
    struct chan_buf **to;  /* per consumer subtask now (ed->to->p): its replay buffer */
};

static const struct edge *find_edge(const struct runtime *rt, const char *from, const char *to,
                                    uint32_t input, const char *tag)
{
    for (int k = 0; k < rt->job->n_nodes; k++) {
        const struct node *n = rt->job->nodes[k];
        if (strcmp(n->uid, from) != 0)
            continue;
        for (int e = 0; e < n->n_out; e++) {
            const struct edge *ed = n->out[e];
            if (!strcmp(ed->to->uid, to) && (uint32_t)ed->input == input &&
                !strcmp(ed->tag ? ed->tag : "", tag))
                return ed;
        }
    }
    return NULL;
}

/* The replay buffer of consumer subtask cs's input that carries ed from producer subtask ps
 * (any input of ed when there is none from ps: a forward edge has one). */
static struct chan_buf *input_of(struct runtime *rt, const struct edge *ed, int cs, int ps)
{
    for (int i = 0; i < rt->n_tasks; i++) {
        struct task *t = &rt->tasks[i];
        if (t->chain != ed->to->chain || t->subtask != cs)
            continue;
        struct in_chan *any = NULL;
        for (int j = 0; j < t->n_in; j++) {
            if (t->in[j].edge != ed)
                continue;
            if (t->in[j].peer == ps)
                return &t->in[j].replay;
            if (!any)
                any = &t->in[j];
        }
        return any ? &any->replay : NULL;
    }
    return NULL;
}

/* Consumer subtask cs's replay buffer of the operator ed goes into, now chained behind
 * ed->from (the new parallelism made the edge forward): task.c delivers it first. */
static struct chan_buf *chained_into(struct runtime *rt, const struct edge *ed, int cs)
{
    for (int i = 0; i < rt->n_tasks; i++) {
        struct task *t = &rt->tasks[i];
        if (t->chain != ed->to->chain || t->subtask != cs)
            continue;
        if (!t->op_replay && !(t->op_replay = calloc((size_t)t->n_ops, sizeof *t->op_replay)))
            return NULL;
        return &t->op_replay[ed->to->chain_pos];
    }
    return NULL;
}

/* The old channel of map line l in the file of entry e: its edge now, and its targets. */
static int old_chan_open(struct runtime *rt, weir_restore *r, const struct weir_ckpt_entry *e,
                         const struct map_line *l, char *const str[3], struct old_chan *c,
                         char *err, size_t errlen)
{
    *c = (struct old_chan){0};
    bool in = l->dir == MAP_IN;
    c->prod = in ? l->peer : e->subtask;
    c->prod_p = in ? l->peer_p : e->parallelism;
    c->cons = in ? e->subtask : l->peer;
    c->cons_p = in ? e->parallelism : l->peer_p;
    const struct edge *ed = find_edge(rt, str[0], str[1], l->input, str[2]);
    if (!ed) {
        if (rt->opts->allow_non_restored_state)
            return 0;
        snprintf(err, errlen,
                 "%s/%s: records in flight from operator \"%s\" to \"%s\" (input %u) match no "
                 "edge of job %s; pass --allow-non-restored-state to drop them",
                 weir_restore_dir(r), e->file, str[0], str[1], l->input, rt->job->name);
        return -EINVAL;
    }
    if (c->prod >= c->prod_p || c->cons >= c->cons_p) {
        snprintf(err, errlen, "%s/%s: a channel from subtask %u of %u to subtask %u of %u",
                 weir_restore_dir(r), e->file, c->prod, c->prod_p, c->cons, c->cons_p);
        return -EBADMSG;
    }
    c->to = calloc((size_t)ed->to->p, sizeof *c->to);
    if (!c->to)
        return -ENOMEM;
    for (int cs = 0; cs < ed->to->p; cs++) {
        c->to[cs] = ed->to->chain_pos
                        ? chained_into(rt, ed, cs)
                        : input_of(rt, ed, cs, (int)(c->prod % (uint32_t)ed->from->p));
        if (!c->to[cs]) {
            free(c->to);
            c->to = NULL;
            return -EPROTO; /* every consumer subtask has an input of each edge into it */
        }
    }
    c->ed = ed;
    return 0;
}

/* The records of one old channel to the consumer subtasks that take them now. */
static int old_chan_route(struct runtime *rt, const struct old_chan *c, const struct chan_buf *b)
{
    const struct edge *ed = c->ed;
    const uint32_t maxp = (uint32_t)rt->max_parallelism, p = (uint32_t)ed->to->p;
    int rc = 0;
    for (size_t off = 0; off < b->len && rc == 0;) {
        const weir_rec *rec = (const weir_rec *)(b->p + off);
        uint32_t sz = weir_rec_size(rec->len);
        off += sz;
        switch (ed->eff) {
        case PART_HASH: {
            uint32_t kg = weir_key_group_of(ed->key(rec), maxp);
            rc = chan_buf_append(c->to[weir_key_group_subtask(kg, maxp, p)], rec, sz);
            break;
        }
        case PART_BROADCAST: /* to the subtasks that restore as the old consumer */
            for (uint32_t cs = 0; cs < p && rc == 0; cs++)
                if (cs % c->cons_p == c->cons)
                    rc = chan_buf_append(c->to[cs], rec, sz);
            break;
        default: /* forward, rebalance: no key to follow */
            rc = chan_buf_append(c->to[c->cons % p], rec, sz);
            break;
        }
    }
    return rc;
}

/* One direction (MAP_IN or MAP_OUT) of the file of entry e, re-partitioned. */
static int replay_file(struct runtime *rt, weir_restore *r, const struct weir_ckpt_entry *e,
                       uint32_t dir, char *err, size_t errlen)
{
    weir_restore_file *f;
    struct chan_buf map = {0}, recs = {0};
    struct old_chan c = {0};
    int rc = weir_restore_file_open(r, e->file, &f);
    if (rc < 0)
        return rc;
    size_t sec;
    uint64_t tag, len;
    rc = weir_restore_file_find(f, TAG_CHANNEL_MAP, &sec);
    if (rc == 0)
        rc = weir_restore_file_section(f, sec, &tag, &len);
    if (rc == 0 && len) {
        map.p = malloc(len);
        rc = map.p ? 0 : -ENOMEM;
        struct weir_snapshot_in *in = weir_restore_file_section_in(f, sec);
        if (rc == 0)
            rc = in->read(in, map.p, len);
        map.len = len;
    }
    uint32_t n = 0;
    size_t pos = sizeof n;
    if (rc == 0 && map.len < sizeof n)
        rc = -EBADMSG;
    if (rc == 0)
        memcpy(&n, map.p, sizeof n);
    for (uint32_t i = 0; i < n && rc == 0; i++) {
        struct map_line l;
        char *str[3] = {NULL, NULL, NULL};
        if (map.len - pos < sizeof l) {
            rc = -EBADMSG;
            break;
        }
        memcpy(&l, map.p + pos, sizeof l);
        pos += sizeof l;
        for (int k = 0; k < 3 && rc == 0; k++) {
            if (map.len - pos < l.len[k]) {
                rc = -EBADMSG;
                break;
            }
            if (!(str[k] = strndup((const char *)map.p + pos, l.len[k])))
                rc = -ENOMEM;
            pos += l.len[k];
        }
        if (rc == 0 && l.dir == dir)
            rc = old_chan_open(rt, r, e, &l, str, &c, err, errlen);
        if (rc == 0 && c.ed)
            rc = read_section(f, (dir == MAP_IN ? TAG_CHANNEL_IN : TAG_CHANNEL_OUT) | l.index,
                              &recs);
        if (rc == 0 && c.ed)
            rc = old_chan_route(rt, &c, &recs);
        recs.len = 0;
        free(c.to);
        c = (struct old_chan){0};
        for (int k = 0; k < 3; k++)
            free(str[k]);
    }
    chan_buf_free(&map);
    chan_buf_free(&recs);
    weir_restore_file_close(f);
    return rc;
}

static bool has_map(weir_restore *r, const struct weir_ckpt_entry *e)
{
    weir_restore_file *f;
    size_t sec;
    if (weir_restore_file_open(r, e->file, &f) < 0)
        return true; /* replay_file says why */
    bool yes = weir_restore_file_find(f, TAG_CHANNEL_MAP, &sec) == 0;
    weir_restore_file_close(f);
    return yes;
}

int chk_restore_channels(struct runtime *rt, weir_restore *r, const struct weir_ckpt_meta *m,
                         char *err, size_t errlen)
{
    *err = 0; /* replay_file's own words when it has any */
    for (size_t j = 0; j < m->entry_count; j++) {
        const struct weir_ckpt_entry *e = &m->entries[j];
        if (chk_is_channels_uid(e->operator_uid) && e->file && *e->file && !has_map(r, e))
            return restore_unmapped(rt, r, m, err, errlen);
    }
    /* every input section first, then every output section: the file comment */
    for (uint32_t dir = MAP_IN; dir <= MAP_OUT; dir++)
        for (size_t j = 0; j < m->entry_count; j++) {
            const struct weir_ckpt_entry *e = &m->entries[j];
            if (!chk_is_channels_uid(e->operator_uid) || !e->file || !*e->file)
                continue;
            int rc = replay_file(rt, r, e, dir, err, errlen);
            if (rc < 0) {
                if (!*err)
                    snprintf(err, errlen,
                             "%s/%s: restoring the records in flight it holds failed: %s",
                             weir_restore_dir(r), e->file, strerror(-rc));
                return rc;
            }
        }
    return 0;
}
