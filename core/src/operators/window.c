/*
 * Window operators: window aggregate (tumbling, sliding, session), window join and windowed
 * top-N, written against operator.h and state.h only. This file: window specs and
 * assignment, the built-in aggregates, and the builders; window_fire.c runs non-merging
 * windows (tumbling, sliding) and holds what every window operator's subtask shares;
 * window_session.c runs merging (session) windows.
 */
#include "operators_private.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- specs and assignment ------------------------------------------------------ */

struct weir_window_spec weir_tumbling(int64_t size_ms)
{
    return (struct weir_window_spec){
        .kind = WEIR_WINDOW_TUMBLING, .size_ms = size_ms, .slide_ms = size_ms};
}

struct weir_window_spec weir_sliding(int64_t size_ms, int64_t slide_ms)
{
    return (struct weir_window_spec){
        .kind = WEIR_WINDOW_SLIDING, .size_ms = size_ms, .slide_ms = slide_ms};
}

struct weir_window_spec weir_session(int64_t gap_ms)
{
    return (struct weir_window_spec){.kind = WEIR_WINDOW_SESSION, .gap_ms = gap_ms};
}

struct weir_window_spec weir_window_offset(struct weir_window_spec spec, int64_t offset_ms)
{
    spec.offset_ms = offset_ms;
    return spec;
}

struct weir_window_spec weir_processing_time(struct weir_window_spec spec)
{
    spec.time = WEIR_PROCESSING_TIME;
    return spec;
}

int weir_window_spec_check(const struct weir_window_spec *spec, char *err, size_t errlen)
{
    switch (spec->kind) {
    case WEIR_WINDOW_TUMBLING:
    case WEIR_WINDOW_SLIDING:
        if (spec->size_ms <= 0 || spec->slide_ms <= 0) {
            snprintf(err, errlen,
                     "window size %" PRId64 " ms, slide %" PRId64 " ms: both must "
                     "be positive",
                     spec->size_ms, spec->slide_ms);
            return -EINVAL;
        }
        /* Flink's |offset| < slide; beyond it the offset only wraps around. */
        if (spec->offset_ms <= -spec->slide_ms || spec->offset_ms >= spec->slide_ms) {
            snprintf(err, errlen,
                     "window offset %" PRId64 " ms: must be within (-%" PRId64 ", %" PRId64
                     ") ms, the slide",
                     spec->offset_ms, spec->slide_ms, spec->slide_ms);
            return -EINVAL;
        }
        break;
    case WEIR_WINDOW_SESSION:
        if (spec->gap_ms <= 0) {
            snprintf(err, errlen, "session gap %" PRId64 " ms: must be positive", spec->gap_ms);
            return -EINVAL;
        }
        if (spec->time != WEIR_EVENT_TIME) {
            snprintf(err, errlen, "session windows are event-time only");
            return -EINVAL;
        }
        break;
    default:
        snprintf(err, errlen, "unknown window kind %d", (int)spec->kind);
        return -EINVAL;
    }
    if (spec->time != WEIR_EVENT_TIME && spec->time != WEIR_PROCESSING_TIME) {
        snprintf(err, errlen, "unknown time domain %d", (int)spec->time);
        return -EINVAL;
    }
    return 0;
}

int weir_window_assign(const struct weir_window_spec *spec, int64_t ts, int64_t *starts, int max)
{
    if (spec->kind == WEIR_WINDOW_SESSION || spec->size_ms <= 0 || spec->slide_ms <= 0)
        return -EINVAL;
    /* Flink's SlidingEventTimeWindows.assignWindows: from the last window
     * start at or before ts back while the window still holds ts. */
    int n = 0;
    int64_t last = weir_window_start(ts, spec->offset_ms, spec->slide_ms);
    for (int64_t s = last; s > ts - spec->size_ms; s -= spec->slide_ms) {
        if (n < max)
            starts[n] = s;
        n++;
    }
    return n;
}

/* end - 1 + lateness, saturated (Flink's WindowOperator.cleanupTime). */
int64_t window_cleanup_time(int64_t max_ts, int64_t lateness)
{
    if (lateness > 0 && max_ts > INT64_MAX - lateness)
        return INT64_MAX;
    return max_ts + lateness;
}

/* --- built-in aggregates -------------------------------------------------------- */

static int64_t in_i64(const void *in)
{
    int64_t v;
    memcpy(&v, in, sizeof v);
    return v;
}

static void i64_zero(void *acc)
{
    *(int64_t *)acc = 0;
}
static void i64_min_init(void *acc)
{
    *(int64_t *)acc = INT64_MAX;
}
static void i64_max_init(void *acc)
{
    *(int64_t *)acc = INT64_MIN;
}
static void count_add(void *acc, const void *in)
{
    *(int64_t *)acc += 1;
}
static void sum_add(void *acc, const void *in)
{
    *(int64_t *)acc += in_i64(in);
}
static void sum_merge(void *acc, const void *other)
{
    *(int64_t *)acc += *(const int64_t *)other;
}
static void min_add(void *acc, const void *in)
{
    int64_t v = in_i64(in);
    if (v < *(int64_t *)acc)
        *(int64_t *)acc = v;
}
static void min_merge(void *acc, const void *other)
{
    min_add(acc, other);
}
static void max_add(void *acc, const void *in)
{
    int64_t v = in_i64(in);
    if (v > *(int64_t *)acc)
        *(int64_t *)acc = v;
}
static void max_merge(void *acc, const void *other)
{
    max_add(acc, other);
}
static void i64_result(const void *acc, void *out)
{
    memcpy(out, acc, sizeof(int64_t));
}

struct avg_acc {
    int64_t sum, count;
};
static void avg_init(void *acc)
{
    *(struct avg_acc *)acc = (struct avg_acc){0, 0};
}
static void avg_add(void *acc, const void *in)
{
    struct avg_acc *a = acc;
    a->sum += in_i64(in);
    a->count++;
}
static void avg_merge(void *acc, const void *other)
{
    struct avg_acc *a = acc;
    const struct avg_acc *b = other;
    a->sum += b->sum;
    a->count += b->count;
}
static void avg_result(const void *acc, void *out)
{
    const struct avg_acc *a = acc;
    double d = a->count ? (double)a->sum / (double)a->count : 0.0;
    memcpy(out, &d, sizeof d);
}

const struct weir_aggregate_fn weir_agg_count = {.acc_size = 8,
                                                 .result_size = 8,
                                                 .init = i64_zero,
                                                 .add = count_add,
                                                 .merge = sum_merge,
                                                 .result = i64_result};
const struct weir_aggregate_fn weir_agg_sum = {.acc_size = 8,
                                               .result_size = 8,
                                               .init = i64_zero,
                                               .add = sum_add,
                                               .merge = sum_merge,
                                               .result = i64_result};
const struct weir_aggregate_fn weir_agg_min = {.acc_size = 8,
                                               .result_size = 8,
                                               .init = i64_min_init,
                                               .add = min_add,
                                               .merge = min_merge,
                                               .result = i64_result};
const struct weir_aggregate_fn weir_agg_max = {.acc_size = 8,
                                               .result_size = 8,
                                               .init = i64_max_init,
                                               .add = max_add,
                                               .merge = max_merge,
                                               .result = i64_result};
const struct weir_aggregate_fn weir_agg_avg = {.acc_size = sizeof(struct avg_acc),
                                               .result_size = sizeof(double),
                                               .init = avg_init,
                                               .add = avg_add,
                                               .merge = avg_merge,
                                               .result = avg_result};

/* --- builders ----------------------------------------------------------------------- */

/* The error open() fails the job with when the builder could not even allocate (the
 * options, or the text of another error): static, never freed. */
static char oom_text[] = "out of memory while building the job";

static void cfg_free(void *p)
{
    struct wcfg *c = p;
    if (!c)
        return;
    free(c->late_tag[0]);
    free(c->late_tag[1]);
    if (c->error != oom_text)
        free(c->error);
    free(c);
}

static void cfg_error(struct wcfg *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Records the builder's first error. Sticky even when formatting it fails: the job must
 * still fail at open(), so the error becomes oom_text rather than nothing. */
static void cfg_error(struct wcfg *c, const char *fmt, ...)
{
    if (c->error)
        return;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&c->error, fmt, ap) < 0)
        c->error = oom_text;
    va_end(ap);
}

/* Common part: copies the spec, lateness and tags, checks the spec. The
 * builders record a problem in c->error and the operator's open() fails the
 * job with it: job.h has no way for a library builder to fail the job itself
 * (see the report). */
static struct wcfg *wcfg_new(enum wop op, struct weir_window_spec spec, int64_t lateness,
                             const char *tag_a, const char *tag_b)
{
    struct wcfg *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->op = op;
    c->spec = spec;
    c->lateness = spec.time == WEIR_EVENT_TIME ? lateness : 0;
    if ((tag_a && !(c->late_tag[0] = strdup(tag_a))) ||
        (tag_b && !(c->late_tag[1] = strdup(tag_b)))) {
        cfg_free(c);
        return NULL;
    }
    char err[256];
    if (weir_window_spec_check(&spec, err, sizeof err) < 0)
        cfg_error(c, "%s", err);
    if (lateness < 0)
        cfg_error(c, "allowed lateness %" PRId64 " ms: must be >= 0", lateness);
    return c;
}

/* When the options cannot even be copied: the operator's open() fails the job. */
static struct wcfg oom_cfg = {.error = oom_text};

static weir_stream *finish(weir_stream *s, struct wcfg *c)
{
    if (!s) {
        cfg_free(c);
        return NULL;
    }
    weir_stream_own_arg(s, cfg_free);
    return s;
}

weir_stream *weir_window_aggregate(weir_stream *keyed, const char *uid,
                                   struct weir_window_spec spec,
                                   const struct weir_aggregate_fn *agg, weir_value_fn value,
                                   const struct weir_window_opts *opts)
{
    if (!keyed)
        return NULL;
    struct weir_window_opts o = opts ? *opts : (struct weir_window_opts){0};
    struct wcfg *c = wcfg_new(WOP_AGG, spec, o.allowed_lateness_ms, o.late_tag, NULL);
    if (!c)
        return weir_keyed_transform(keyed, uid, &window_agg_fixed_ops, &window_fixed_kops,
                                    &oom_cfg);
    if (!agg || !agg->init || !agg->add || !agg->result || !agg->acc_size) {
        cfg_error(c, "the aggregate function needs acc_size, init, add and result");
    } else {
        c->agg = *agg;
        if (spec.kind == WEIR_WINDOW_SESSION && !agg->merge)
            cfg_error(c, "session windows merge, and the aggregate function has no merge");
        if (!value && agg != &weir_agg_count &&
            (agg == &weir_agg_sum || agg == &weir_agg_min || agg == &weir_agg_max ||
             agg == &weir_agg_avg))
            cfg_error(c, "the built-in sum, min, max and avg need a value function");
    }
    c->value = value;
    const struct weir_operator_ops *ops = &window_agg_fixed_ops;
    const struct weir_keyed_ops *kops = &window_fixed_kops;
    if (spec.kind == WEIR_WINDOW_SESSION) {
        ops = &window_agg_session_ops;
        kops = &window_session_kops;
    } else if (!c->error && window_sliced(c)) {
        ops = &window_agg_slice_ops;
        kops = &window_slice_kops;
    }
    return finish(weir_keyed_transform(keyed, uid, ops, kops, c), c);
}

weir_stream *weir_window_join(weir_stream *a, weir_stream *b, const char *uid,
                              struct weir_window_spec spec, weir_join_fn join,
                              const struct weir_join_opts *opts)
{
    if (!a || !b)
        return NULL;
    struct weir_join_opts o = opts ? *opts : (struct weir_join_opts){0};
    struct wcfg *c = wcfg_new(WOP_JOIN, spec, o.allowed_lateness_ms, o.late_tag_a, o.late_tag_b);
    if (!c)
        return weir_keyed_connect(a, b, uid, &window_join_ops, &window_fixed_kops, &oom_cfg);
    if (spec.kind == WEIR_WINDOW_SESSION)
        cfg_error(c, "window joins take tumbling or sliding windows, not session windows");
    if (!join)
        cfg_error(c, "no join function");
    if (!o.a_max_size || !o.b_max_size)
        cfg_error(c, "a_max_size and b_max_size (the largest record payloads) must be set");
    c->join = join;
    c->max_size[0] = o.a_max_size;
    c->max_size[1] = o.b_max_size;
    return finish(weir_keyed_connect(a, b, uid, &window_join_ops, &window_fixed_kops, c), c);
}

weir_stream *weir_top_n(weir_stream *keyed, const char *uid, struct weir_window_spec spec,
                        uint32_t n, weir_score_fn score, const struct weir_top_n_opts *opts)
{
    if (!keyed)
        return NULL;
    struct weir_top_n_opts o = opts ? *opts : (struct weir_top_n_opts){0};
    struct wcfg *c = wcfg_new(WOP_TOPN, spec, o.allowed_lateness_ms, o.late_tag, NULL);
    if (!c)
        return weir_keyed_transform(keyed, uid, &window_topn_ops, &window_fixed_kops, &oom_cfg);
    if (spec.kind == WEIR_WINDOW_SESSION)
        cfg_error(c, "top-n takes tumbling or sliding windows, not session windows");
    if (n == 0 || n > 4096)
        cfg_error(c, "n = %" PRIu32 ": must be 1 to 4096", n);
    if (!score)
        cfg_error(c, "no score function");
    if (!o.max_size)
        cfg_error(c, "max_size (the largest record payload) must be set");
    c->n = n;
    c->score = score;
    c->max_size[0] = o.max_size;
    return finish(weir_keyed_transform(keyed, uid, &window_topn_ops, &window_fixed_kops, c), c);
}
