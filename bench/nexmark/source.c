/*
 * The Nexmark source: subtask i of p emits events i, i + p, i + 2p, ... of the
 * generator (generator.c), paced by rate_limit, and checkpoints the next event
 * number it would emit. See include/nexmark.h for the contract.
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

#include <weir/job.h>
#include <weir/operator.h>

#include "nexmark.h"
#include "nexmark_private.h"

struct source {
    struct nexmark_cfg c;
    uint64_t next, stride, emitted;
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
    s->next = (uint64_t)weir_ctx_subtask(ctx);
    s->stride = (uint64_t)weir_ctx_parallelism(ctx);
    s->rate = s->c.o.rate_limit > 0 ? s->c.o.rate_limit / (double)s->stride : 0;
    s->rate *= fast_factor_for_test(weir_ctx_subtask(ctx));
    s->start_ns = (uint64_t)nexmark_mono_ns();
    s->max_size = weir_nexmark_event_max_size(o);
    /* uint64_t-aligned: the payload is read as the structs it holds */
    s->buf = aligned_alloc(8, (s->max_size + 7) & ~(size_t)7);
    if (!s->buf)
        return -ENOMEM;
    return 0;
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
    uint64_t events = s->c.o.events;
    uint32_t i = 0;
    for (; i < n; i++) {
        if (weir_ctx_stopping(ctx) || (events && s->next >= events))
            break;
        int size = nexmark_event_at(&s->c, s->next, s->buf, s->max_size);
        if (size < 0 || (size_t)size > s->max_size) {
            weir_ctx_fail(ctx, "nexmark: event %" PRIu64 " does not fit %zu bytes", s->next,
                          s->max_size);
            return -EOVERFLOW;
        }
        int rc = weir_emit_copy(out, event_time(s->buf), s->buf, (uint32_t)size);
        if (rc < 0)
            return rc;
        s->next += s->stride;
    }
    s->emitted += i;
    *emitted = i;
    if ((events && s->next >= events) || weir_ctx_stopping(ctx))
        return WEIR_SOURCE_DONE;
    return WEIR_SOURCE_MORE;
}

static void source_close(weir_ctx *ctx, void *state)
{
    struct source *s = state;
    free(s->buf);
    s->buf = NULL;
}

/* Position: the next event number of this subtask, and the stride it steps by. */
static int source_snapshot(weir_ctx *ctx, void *state, uint64_t id, struct weir_snapshot_out *out)
{
    struct source *s = state;
    uint64_t pos[2] = {s->next, s->stride};
    return out->write(out, pos, sizeof pos);
}

static int source_restore(weir_ctx *ctx, void *state, struct weir_snapshot_in *in)
{
    struct source *s = state;
    uint64_t pos[2];
    int rc = in->read(in, pos, sizeof pos);
    if (rc < 0)
        return rc;
    if (pos[1] != s->stride || pos[0] % s->stride != s->next % s->stride) {
        /* Another parallelism: the subtasks' positions do not map one to one. */
        weir_ctx_fail(ctx,
                      "nexmark source: checkpoint was taken at parallelism %" PRIu64
                      ", job runs at %" PRIu64 "; restore at the same -p",
                      pos[1], s->stride);
        return -EINVAL;
    }
    s->next = pos[0];
    return 0;
}

static const struct weir_source_ops source_ops = {
    .kind = "nexmark",
    .state_size = sizeof(struct source),
    .open = source_open,
    .poll = source_poll,
    .close = source_close,
    .snapshot = source_snapshot,
    .restore = source_restore,
};

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
