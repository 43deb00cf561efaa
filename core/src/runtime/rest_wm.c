/*
 * The watermark diagnosis (weir only; `weir why-late`): GET /jobs/:jobid/watermark-diagnosis
 * says which source subtask, and which of its splits (Kafka partitions) where the source
 * reports them, holds the job's watermark back, since when it has not advanced, whether
 * idleness and alignment apply to it, each vertex's lowest input watermark, and how many
 * event-time timers (a window's firing is one per key and window) wait for the watermark.
 *
 * What it reads, all published by the workers without a lock (relaxed stores, a single
 * writer each), read here under live->lock like the other documents:
 *   - a task's output watermark and idleness, stored where they leave its chain (route.c's
 *     route_control calls wm_note_out for every control event) with the wall-clock ms of the
 *     watermark's last advance: one coarse clock read per advance, none per record;
 *   - a task's input watermark and the ms of its last advance (progress.c, gate_watermark);
 *   - each keyed operator's event-time timer count (task.c, once a second);
 *   - the splits a source reports (weir_ctx_report_split, here).
 * The holder is the source subtask with the lowest watermark among those neither finished
 * nor idle (none yet counts lowest; a tie goes to the one stalled longest); within it the
 * split with the lowest watermark among the non-idle ones.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <time.h>

#include <weir/operator.h>

#include "rest_private.h"

int64_t wm_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME_COARSE, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void wm_note_out(struct task *t, const weir_rec *r)
{
    if (r->kind == WEIR_REC_STATUS) {
        atomic_store_explicit(&t->idle_pub, r->ts == 1, memory_order_relaxed);
    } else if (r->kind == WEIR_REC_WATERMARK &&
               r->ts > atomic_load_explicit(&t->wm_out_pub, memory_order_relaxed)) {
        atomic_store_explicit(&t->wm_out_pub, r->ts, memory_order_relaxed);
        atomic_store_explicit(&t->wm_out_ms, wm_wall_ms(), memory_order_relaxed);
        /* a watermark out means active again, whether or not the source said so first */
        atomic_store_explicit(&t->idle_pub, 0, memory_order_relaxed);
    }
}

void wm_splits_free(struct wm_splits *s)
{
    free(s->slot);
    s->slot = NULL;
}

void weir_ctx_report_split(weir_ctx *ctx, int32_t split, int64_t wm, bool idle)
{
    struct wm_splits *s = &ctx->op->task->wm_splits;
    int n = atomic_load_explicit(&s->n, memory_order_relaxed); /* the only writer */
    int i = 0;
    while (i < n && atomic_load_explicit(&s->slot[i].id, memory_order_relaxed) != split)
        i++;
    if (i == n) {
        if (n == WM_SPLITS || (!s->slot && !(s->slot = calloc(WM_SPLITS, sizeof *s->slot))))
            return; /* not reported: the diagnosis does without it */
        struct wm_split *p = &s->slot[n];
        atomic_store_explicit(&p->id, split, memory_order_relaxed);
        atomic_store_explicit(&p->wm, wm, memory_order_relaxed);
        atomic_store_explicit(&p->ms, wm_wall_ms(), memory_order_relaxed);
        atomic_store_explicit(&p->idle, idle, memory_order_relaxed);
        /* release: pairs with the acquire load of n in source_doc; the slot is filled */
        atomic_store_explicit(&s->n, n + 1, memory_order_release);
        return;
    }
    struct wm_split *p = &s->slot[i];
    if (wm > atomic_load_explicit(&p->wm, memory_order_relaxed)) {
        atomic_store_explicit(&p->wm, wm, memory_order_relaxed);
        atomic_store_explicit(&p->ms, wm_wall_ms(), memory_order_relaxed);
    }
    atomic_store_explicit(&p->idle, idle, memory_order_relaxed);
}

void weir_ctx_report_idleness(weir_ctx *ctx, int64_t idleness_ms)
{
    atomic_store_explicit(&ctx->op->task->wm_splits.idleness_ms, idleness_ms,
                          memory_order_relaxed);
}

/* ---- the document ------------------------------------------------------------------ */

static json_t *wm_value(int64_t wm)
{
    return wm == INT64_MIN ? json_null() : json_integer((json_int_t)wm);
}

/* The idle timeout that applies to source task t, ms; -1: none known (null). */
static int64_t idleness_of(const struct task *t)
{
    if (t->wms)
        return t->wms->idleness_ms;
    return atomic_load_explicit(&t->wm_splits.idleness_ms, memory_order_relaxed);
}

static json_t *alignment_of(const struct task *t)
{
    if (!t->wms || !t->wms->alignment_group)
        return json_null();
    return json_pack("{s:s,s:I}", "group", t->wms->alignment_group, "max-drift-ms",
                     (json_int_t)t->wms->alignment_max_drift_ms);
}

/* The split of t that holds it back (lowest watermark of the non-idle ones, the longest
 * stalled on a tie), or -1; its splits as an array into *arr. */
static int splits_doc(const struct task *t, int64_t now, json_t **arr)
{
    const struct wm_splits *s = &t->wm_splits;
    int n = atomic_load_explicit(&s->n, memory_order_acquire);
    int low = -1;
    int64_t low_wm = 0, low_ms = 0;
    *arr = json_array();
    for (int i = 0; i < n; i++) {
        const struct wm_split *p = &s->slot[i];
        int64_t wm = atomic_load_explicit(&p->wm, memory_order_relaxed);
        int64_t ms = atomic_load_explicit(&p->ms, memory_order_relaxed);
        int idle = atomic_load_explicit(&p->idle, memory_order_relaxed);
        json_array_append_new(
            *arr, json_pack("{s:i,s:o,s:I,s:I,s:b}", "partition",
                            (int)atomic_load_explicit(&p->id, memory_order_relaxed), "watermark",
                            wm_value(wm), "since", (json_int_t)ms, "stalled-ms",
                            (json_int_t)(now - ms), "idle", idle));
        if (!idle && (low < 0 || wm < low_wm || (wm == low_wm && ms < low_ms))) {
            low = i;
            low_wm = wm;
            low_ms = ms;
        }
    }
    return low;
}

struct holder {
    const struct task *t;
    int64_t wm, ms;
    json_t *split; /* the holding split's entry, or NULL */
};

/* One source subtask's entry; it becomes the holder h when it holds back more. */
static json_t *source_doc(const struct job_live *l, const struct task *t, int64_t now,
                          struct holder *h)
{
    int64_t wm = atomic_load_explicit(&t->wm_out_pub, memory_order_relaxed);
    int64_t ms = atomic_load_explicit(&t->wm_out_ms, memory_order_relaxed);
    bool idle = atomic_load_explicit(&t->idle_pub, memory_order_relaxed);
    bool done = atomic_load_explicit(&t->done_flag, memory_order_relaxed) || wm == INT64_MAX;
    int64_t idleness = idleness_of(t);
    json_t *parts;
    int low = splits_doc(t, now, &parts);
    json_t *e = json_pack("{s:s,s:s,s:i,s:o,s:I,s:I,s:b,s:b,s:o,s:o,s:o}", "vertex",
                          l->vertices[t->chain].id, "name", l->vertices[t->chain].name,
                          "subtask", t->subtask, "watermark", wm_value(wm), "since",
                          (json_int_t)ms, "stalled-ms", (json_int_t)(now - ms), "idle", idle,
                          "finished", done, "idleness-ms",
                          idleness < 0 ? json_null() : json_integer((json_int_t)idleness),
                          "alignment", alignment_of(t), "partitions", parts);
    if (e && !idle && !done && (!h->t || wm < h->wm || (wm == h->wm && ms < h->ms))) {
        h->t = t;
        h->wm = wm;
        h->ms = ms;
        h->split = low >= 0 ? json_array_get(parts, (size_t)low) : NULL;
    }
    return e;
}

/* A vertex's lowest input watermark over its live subtasks, and its timers waiting. */
static json_t *vertex_doc(const struct job_live *l, const struct runtime *rt, int v, int64_t now,
                          uint64_t *waiting)
{
    int64_t low = INT64_MAX, low_ms = now;
    bool any = false, source = false;
    json_t *ops = json_object(); /* operator name -> timers, summed over the subtasks */
    for (int i = 0; rt && i < rt->n_tasks; i++) {
        const struct task *t = &rt->tasks[i];
        if (t->chain != v)
            continue;
        source = t->is_source;
        for (int k = 0; k < t->n_ops; k++) {
            const struct op_inst *op = &t->ops[k];
            if (!op->node->kops || !op->node->kops->on_timer)
                continue;
            uint64_t n = atomic_load_explicit(&op->et_timers_pub, memory_order_relaxed);
            json_int_t was = json_integer_value(json_object_get(ops, op->node->name));
            json_object_set_new(ops, op->node->name, json_integer(was + (json_int_t)n));
            *waiting += n;
        }
        if (atomic_load_explicit(&t->done_flag, memory_order_relaxed))
            continue;
        int64_t wm = atomic_load_explicit(&t->wm_in_pub, memory_order_relaxed);
        if (!any || wm < low) {
            low = wm;
            low_ms = atomic_load_explicit(&t->wm_in_ms, memory_order_relaxed);
        }
        any = true;
    }
    json_t *timers = json_array();
    const char *name;
    json_t *n;
    json_object_foreach(ops, name, n)
        json_array_append_new(timers, json_pack("{s:s,s:O}", "operator", name,
                                                "event-time-timers", n));
    json_decref(ops);
    bool has_input = !source && any;
    return json_pack("{s:s,s:s,s:i,s:o,s:o,s:o}", "id", l->vertices[v].id, "name",
                     l->vertices[v].name, "parallelism", l->vertices[v].parallelism,
                     "lowest-input-watermark", has_input ? wm_value(low) : json_null(), "since",
                     has_input ? json_integer((json_int_t)low_ms) : json_null(), "timers",
                     timers);
}

static json_t *held_by(const struct job_live *l, const struct holder *h, int64_t now)
{
    if (!h->t)
        return json_null();
    const struct task *t = h->t;
    json_t *split = h->split;
    int64_t ms = split ? json_integer_value(json_object_get(split, "since")) : h->ms;
    int64_t idleness = idleness_of(t);
    /* "o" takes each reference: the split's values are borrowed, so incref'd */
    return json_pack("{s:s,s:s,s:i,s:o,s:o,s:I,s:I,s:o,s:o}", "vertex", l->vertices[t->chain].id,
                     "name", l->vertices[t->chain].name, "subtask", t->subtask, "partition",
                     split ? json_incref(json_object_get(split, "partition")) : json_null(),
                     "watermark",
                     split ? json_incref(json_object_get(split, "watermark")) : wm_value(h->wm),
                     "since",
                     (json_int_t)ms, "stalled-ms", (json_int_t)(now - ms), "idleness-ms",
                     idleness < 0 ? json_null() : json_integer((json_int_t)idleness),
                     "alignment", alignment_of(t));
}

int rest_get_wm_diagnosis(struct job_live *l, struct rest_call *c, json_t **doc)
{
    (void)c;
    const struct runtime *rt = l->rt;
    int64_t now = wm_wall_ms();
    struct holder h = {0};
    uint64_t waiting = 0;
    bool aligned = false;
    json_t *sources = json_array(), *vertices = json_array();
    for (int i = 0; rt && i < rt->n_tasks; i++)
        if (rt->tasks[i].is_source) {
            json_array_append_new(sources, source_doc(l, &rt->tasks[i], now, &h));
            aligned |= rt->tasks[i].wms && rt->tasks[i].wms->alignment_group;
        }
    for (int v = 0; v < l->n_vertices; v++)
        json_array_append_new(vertices, vertex_doc(l, rt, v, now, &waiting));
    json_t *held = held_by(l, &h, now); /* before sources goes: its split is in there */
    *doc = json_pack("{s:s,s:b,s:I,s:I,s:o,s:I,s:o,s:o,s:o}", "jid", l->id, "running",
                     rt != NULL, "now", (json_int_t)now, "auto-watermark-interval-ms",
                     (json_int_t)(rt ? rt->wm_interval_ns / 1000000 : 0), "held-by", held,
                     "timers-waiting", (json_int_t)waiting, "alignment",
                     aligned ? json_string("per source (see sources)") : json_null(), "sources",
                     sources, "vertices", vertices);
    return *doc ? 200 : -ENOMEM;
}
