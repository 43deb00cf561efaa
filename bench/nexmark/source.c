/*
 * The Nexmark source: its events are split into residue classes, split (r, m) holding events
 * r, r + m, r + 2m, ... of the generator (generator.c), and a fresh run gives subtask i of p
 * the split (i, p). A subtask emits the events of its splits in order of event number (the
 * next of whichever split is behind), paced by rate_limit, and checkpoints each split with
 * the next event number it would emit as one item of split list state (WEIR_STATE_SPLIT).
 * Restored at another parallelism, a subtask takes over the whole splits dealt to it: at a
 * lower parallelism one runs several, at a higher one the subtasks beyond the splits have none
 * and finish at once, so that they do not hold the watermark back. A split's events are the
 * same whoever runs it, so the output is that of one uninterrupted run. See
 * include/nexmark.h for the contract.
 *
 * Crash tests make subtasks finish at different times with
 * WEIR_TEST_NEXMARK_FAST_SUBTASK=S:F, read when a subtask opens: with --rate, subtask S
 * paces at F times its share, so it reaches the end of its events while the others still
 * run (the shape that lost a finished subtask's last output after a restore, issue 9).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include <weir/inspect.h>
#include <weir/job.h>
#include <weir/operator.h>

#include "nexmark.h"
#include "nexmark_private.h"

/* Events next, next + stride, ... (the split's checkpointed position and item). */
struct split {
    uint64_t next, stride;
};

struct source {
    struct nexmark_cfg c;
    struct split *splits;
    size_t n_splits;
    uint64_t emitted;
    double fast; /* WEIR_TEST_NEXMARK_FAST_SUBTASK's factor for this subtask */
    double rate; /* this subtask's wall-clock events per second; 0 = unlimited */
    uint64_t start_ns;
    size_t max_size;
    struct weir_nexmark_event *buf;
};

static int64_t event_time(const struct weir_nexmark_event *e)
{
    switch (e->type) {
    case WEIR_NEXMARK_PERSON:
        return ((const struct weir_nexmark_person *)(const void *)(e + 1))->date_time;
    case WEIR_NEXMARK_AUCTION:
        return ((const struct weir_nexmark_auction *)(const void *)(e + 1))->date_time;
    default:
        return ((const struct weir_nexmark_bid *)(const void *)(e + 1))->date_time;
    }
}

/* WEIR_TEST_NEXMARK_FAST_SUBTASK=S:F: F for subtask S, else 1 (see the top of the file). */
static double fast_factor_for_test(int subtask)
{
    const char *v = getenv("WEIR_TEST_NEXMARK_FAST_SUBTASK");
    int s;
    double f;
    if (!v || sscanf(v, "%d:%lf", &s, &f) != 2 || s != subtask || !(f > 0))
        return 1;
    return f;
}

/* This subtask's share of rate_limit: that of each split it runs. */
static void set_rate(struct source *s)
{
    s->rate = 0;
    for (size_t i = 0; i < s->n_splits && s->c.o.rate_limit > 0; i++)
        s->rate += s->c.o.rate_limit / (double)s->splits[i].stride;
    s->rate *= s->fast;
}

/* The split whose next event comes first, NULL when every split has ended. */
static struct split *next_split(struct source *s)
{
    struct split *best = NULL;
    uint64_t events = s->c.o.events;
    for (size_t i = 0; i < s->n_splits; i++)
        if ((!events || s->splits[i].next < events) &&
            (!best || s->splits[i].next < best->next))
            best = &s->splits[i];
    return best;
}

static int source_open(weir_ctx *ctx, void *state, void *arg)
{
    struct source *s = state;
    const struct weir_nexmark_opts *o = arg;
    char err[160];
    if (weir_nexmark_opts_check(o, err, sizeof err) < 0) {
        weir_ctx_fail(ctx, "%s", err);
        return -EINVAL;
    }
    nexmark_channels_init();
    nexmark_resolve(o, &s->c);
    s->splits = malloc(sizeof *s->splits);
    if (!s->splits)
        return -ENOMEM;
    s->splits[0] = (struct split){(uint64_t)weir_ctx_subtask(ctx),
                                  (uint64_t)weir_ctx_parallelism(ctx)};
    s->n_splits = 1;
    s->fast = fast_factor_for_test(weir_ctx_subtask(ctx));
    set_rate(s);
    s->start_ns = (uint64_t)nexmark_mono_ns();
    s->max_size = weir_nexmark_event_max_size(o);
    /* uint64_t-aligned: the payload is read as the structs it holds */
    s->buf = aligned_alloc(8, (s->max_size + 7) & ~(size_t)7);
    if (!s->buf)
        return -ENOMEM;
    return 0;
}

/* Event n generated straight into the record being emitted: a copy per event was a
 * tenth of what the generator cost. The reservation is made at the largest size, then
 * again at the event's (through s->buf where the largest
 * does not fit a record); should the second move the space, the event (a pure function
 * of n) is made again there. */
static int emit_event(weir_ctx *ctx, struct source *s, weir_emit *out, uint64_t n)
{
    struct weir_nexmark_event *e = weir_emit_reserve(out, (uint32_t)s->max_size);
    int size = nexmark_event_at(&s->c, n, e ? e : s->buf, s->max_size);
    if (size < 0 || (size_t)size > s->max_size) {
        weir_ctx_fail(ctx, "nexmark: event %" PRIu64 " does not fit %zu bytes", n, s->max_size);
        return -EOVERFLOW;
    }
    if (!e) /* larger than a record can be at the most, this one may still fit */
        return weir_emit_copy(out, event_time(s->buf), s->buf, (uint32_t)size);
    struct weir_nexmark_event *at = weir_emit_reserve(out, (uint32_t)size);
    if (at != e)
        nexmark_event_at(&s->c, n, at, (size_t)size);
    return weir_emit_commit(out, event_time(at));
}

static int source_poll(weir_ctx *ctx, void *state, weir_emit *out, uint32_t max, uint32_t *emitted)
{
    struct source *s = state;
    uint64_t n = max;
    if (s->rate > 0) {
        double due = (double)((uint64_t)nexmark_mono_ns() - s->start_ns) * 1e-9 * s->rate;
        uint64_t allowed = due > (double)s->emitted ? (uint64_t)due - s->emitted : 0;
        if (allowed < n)
            n = allowed;
    }
    struct split *sp = next_split(s);
    uint32_t i = 0;
    for (; i < n && sp; i++, sp = next_split(s)) {
        if (weir_ctx_stopping(ctx))
            break;
        int rc = emit_event(ctx, s, out, sp->next);
        if (rc < 0)
            return rc;
        sp->next += sp->stride;
    }
    s->emitted += i;
    *emitted = i;
    if (!sp || weir_ctx_stopping(ctx))
        return WEIR_SOURCE_DONE;
    return WEIR_SOURCE_MORE;
}

static void source_close(weir_ctx *ctx, void *state)
{
    struct source *s = state;
    free(s->buf);
    s->buf = NULL;
    free(s->splits);
    s->splits = NULL;
}

/* Each split that has events left: its next event number and its stride. */
static int source_snapshot(weir_ctx *ctx, void *state, uint64_t id, struct weir_snapshot_out *out)
{
    struct source *s = state;
    int rc = 0;
    for (size_t i = 0; i < s->n_splits && rc == 0; i++)
        if (!s->c.o.events || s->splits[i].next < s->c.o.events)
            rc = weir_snapshot_write_item(out, &s->splits[i], sizeof s->splits[i]);
    return rc;
}

/* The splits dealt to this subtask replace the one it opened with (none: it finishes). */
static int source_restore(weir_ctx *ctx, void *state, const struct weir_state_item *items,
                          size_t n)
{
    struct source *s = state;
    struct split *v = malloc((n ? n : 1) * sizeof *v);
    if (!v)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        if (items[i].len != sizeof *v) {
            weir_ctx_fail(ctx,
                          "nexmark source: a split of subtask %" PRIu32 " is %zu bytes, not %zu: "
                          "a checkpoint of another source under uid \"%s\"?",
                          items[i].subtask, items[i].len, sizeof *v, weir_ctx_uid(ctx));
            free(v);
            return -EINVAL;
        }
        memcpy(&v[i], items[i].data, sizeof *v);
        if (v[i].stride == 0) {
            weir_ctx_fail(ctx, "nexmark source: a split of subtask %" PRIu32 " has stride 0",
                          items[i].subtask);
            free(v);
            return -EINVAL;
        }
    }
    free(s->splits);
    s->splits = v;
    s->n_splits = n;
    set_rate(s);
    return 0;
}

static const struct weir_source_ops source_ops = {
    .kind = "nexmark",
    .state_size = sizeof(struct source),
    .open = source_open,
    .poll = source_poll,
    .close = source_close,
    .snapshot = source_snapshot,
    .state_mode = WEIR_STATE_SPLIT,
    .restore_items = source_restore,
};

/* For weir inspect: one split as source_snapshot wrote it. */
static int decode_split(const void *item, size_t len, json_t **out, char *err, size_t errlen)
{
    struct split x;
    if (len != sizeof x) {
        snprintf(err, errlen, "a Nexmark split of %zu bytes, not %zu", len, sizeof x);
        return -EBADMSG;
    }
    memcpy(&x, item, sizeof x);
    if (x.stride == 0) {
        snprintf(err, errlen, "a Nexmark split with stride 0 (next event %" PRIu64 ")", x.next);
        return -EBADMSG;
    }
    *out = json_pack("{s:I, s:I, s:I}", "residue", (json_int_t)(x.next % x.stride), "stride",
                     (json_int_t)x.stride, "next_event", (json_int_t)x.next);
    return *out ? 0 : -ENOMEM;
}

int weir_nexmark_register_inspect_decoder(void)
{
    return weir_inspect_register_decoder("nexmark", decode_split);
}

weir_stream *weir_source_nexmark(weir_job *job, const char *uid,
                                 const struct weir_nexmark_opts *opts)
{
    if (!job)
        return NULL;
    struct weir_nexmark_opts *copy = malloc(sizeof *copy);
    if (!copy)
        return NULL;
    if (opts)
        *copy = *opts;
    else
        weir_nexmark_opts_init(copy);
    weir_stream *s = weir_source(job, uid, &source_ops, copy);
    if (!s) {
        free(copy);
        return NULL;
    }
    weir_stream_own_arg(s, free);
    struct weir_watermark_strategy ws = {
        .max_out_of_orderness_ms =
            copy->max_out_of_orderness_ms > 0 ? copy->max_out_of_orderness_ms : 0};
    return weir_assign_watermarks(s, &ws);
}
