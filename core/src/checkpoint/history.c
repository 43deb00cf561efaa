/*
 * Checkpoint statistics for the REST API (Flink's CheckpointStatsTracker): counts, a summary
 * of the completed checkpoints, the latest completed, savepoint, failed and restored one,
 * and the newest web.checkpoints.history checkpoints with their per-vertex figures.
 *
 * One history lives as long as a weir_job_run (job->chk.history), across in-process
 * restarts, as Flink's statistics outlive a restart. The coordinator writes it on the
 * control thread (an entry per checkpoint, at trigger and when it settles; the restore
 * once per attempt); the REST server's thread reads it into JSON documents. Both hold
 * h->lock, a few microseconds a checkpoint: the workers never take it.
 *
 * An entry's states (Flink's CheckpointStatsStatus):
 *
 *   (chk_history_triggered) IN_PROGRESS --chk_history_settled ok--> COMPLETED
 *   IN_PROGRESS --chk_history_settled failed or cancelled--> FAILED
 *   (a checkpoint that could not even start enters as FAILED: chk_history_failed_start)
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "checkpoint.h"
#include "runtime_private.h"

/* Completed checkpoints whose sizes and durations the summary's percentiles are taken over
 * (min, max and average are over all of them). */
#define SUMMARY_WINDOW 1024

enum hist_status { H_IN_PROGRESS, H_COMPLETED, H_FAILED };

struct hist_vertex {
    int n_subtasks, n_acked;
    int64_t ack_ms;      /* latest acknowledgement, wall clock; 0: none */
    uint64_t size_bytes; /* its subtasks' state files */
    uint64_t e2e_ms;     /* trigger to its slowest subtask's durable files */
};

struct hist_entry {
    uint64_t id;
    enum hist_status status;
    bool savepoint, unaligned;
    int64_t trigger_ms, ack_ms, fail_ms;
    uint64_t size_bytes, duration_ms;
    int n_subtasks, n_acked;
    char *path;    /* savepoints: where it was written */
    char *failure; /* failed: why */
    int n_vertices;
    struct hist_vertex *v; /* per chain (vertex) of the plan */
};

struct stat_window {
    uint64_t n, min, max, sum;
    uint64_t w[SUMMARY_WINDOW];
};

struct chk_history {
    pthread_mutex_t lock;
    int keep;
    /* the newest `keep` checkpoints, ring[(head - 1 - i) mod keep] the i-th newest */
    struct hist_entry *ring;
    int head, n;
    struct hist_entry completed, savepoint, failed; /* latest ones, copies; id 0: none */
    uint64_t total, in_progress, n_completed, n_failed, n_restored;
    /* latest restore */
    uint64_t restored_id;
    int64_t restored_ms;
    bool restored_savepoint;
    char *restored_path;
    struct stat_window size, duration;
};

static int64_t wall_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void entry_clear(struct hist_entry *e)
{
    free(e->path);
    free(e->failure);
    free(e->v);
    memset(e, 0, sizeof *e);
}

/* A deep copy of src into dst (cleared first); false when out of memory (dst empty). */
static bool entry_copy(struct hist_entry *dst, const struct hist_entry *src)
{
    entry_clear(dst);
    *dst = *src;
    dst->path = src->path ? strdup(src->path) : NULL;
    dst->failure = src->failure ? strdup(src->failure) : NULL;
    dst->v = src->n_vertices ? calloc((size_t)src->n_vertices, sizeof *dst->v) : NULL;
    if ((src->path && !dst->path) || (src->failure && !dst->failure) ||
        (src->n_vertices && !dst->v)) {
        entry_clear(dst);
        return false;
    }
    if (dst->v)
        memcpy(dst->v, src->v, (size_t)src->n_vertices * sizeof *dst->v);
    return true;
}

struct chk_history *chk_history_new(int keep)
{
    struct chk_history *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->keep = keep > 0 ? keep : 1;
    h->ring = calloc((size_t)h->keep, sizeof *h->ring);
    if (!h->ring) {
        free(h);
        return NULL;
    }
    pthread_mutex_init(&h->lock, NULL);
    return h;
}

void chk_history_free(struct chk_history *h)
{
    if (!h)
        return;
    for (int i = 0; i < h->keep; i++)
        entry_clear(&h->ring[i]);
    entry_clear(&h->completed);
    entry_clear(&h->savepoint);
    entry_clear(&h->failed);
    free(h->restored_path);
    free(h->ring);
    pthread_mutex_destroy(&h->lock);
    free(h);
}

static struct hist_entry *find(struct chk_history *h, uint64_t id)
{
    for (int i = 0; i < h->n; i++) {
        struct hist_entry *e = &h->ring[(h->head - 1 - i + h->keep) % h->keep];
        if (e->id == id)
            return e;
    }
    return NULL;
}

/* A fresh entry at the head of the ring (the oldest is dropped when it is full). */
static struct hist_entry *push(struct chk_history *h, const struct runtime *rt, uint64_t id,
                               bool savepoint)
{
    struct hist_entry *e = &h->ring[h->head];
    entry_clear(e);
    h->head = (h->head + 1) % h->keep;
    if (h->n < h->keep)
        h->n++;
    e->id = id;
    e->savepoint = savepoint;
    e->unaligned = rt->chk.unaligned;
    e->trigger_ms = wall_now_ms();
    e->n_subtasks = rt->n_tasks;
    e->n_vertices = rt->plan.n_chains;
    e->v = calloc((size_t)e->n_vertices, sizeof *e->v);
    if (!e->v)
        e->n_vertices = 0;
    for (int i = 0; e->v && i < rt->n_tasks; i++)
        e->v[rt->tasks[i].chain].n_subtasks++;
    h->total++;
    return e;
}

void chk_history_triggered(struct runtime *rt, const struct pending *pd)
{
    struct chk_history *h = rt->job->chk.history;
    if (!h)
        return;
    pthread_mutex_lock(&h->lock);
    struct hist_entry *e = push(h, rt, pd->id, pd->savepoint != NULL);
    if (pd->savepoint)
        e->path = strdup(pd->savepoint);
    h->in_progress++;
    pthread_mutex_unlock(&h->lock);
}

void chk_history_failed_start(struct runtime *rt, uint64_t id, bool savepoint, const char *why)
{
    struct chk_history *h = rt->job->chk.history;
    if (!h)
        return;
    pthread_mutex_lock(&h->lock);
    struct hist_entry *e = push(h, rt, id, savepoint);
    e->status = H_FAILED;
    e->fail_ms = e->trigger_ms;
    e->failure = strdup(why);
    h->n_failed++;
    entry_copy(&h->failed, e);
    pthread_mutex_unlock(&h->lock);
}

static void window_add(struct stat_window *w, uint64_t v)
{
    if (w->n == 0 || v < w->min)
        w->min = v;
    if (w->n == 0 || v > w->max)
        w->max = v;
    w->sum += v;
    w->w[w->n % SUMMARY_WINDOW] = v;
    w->n++;
}

/* What the acks of completed checkpoint pd say per vertex (all its tasks acked). */
static void note_vertices(struct runtime *rt, const struct pending *pd, struct hist_entry *e,
                          int64_t now_ms, uint64_t now)
{
    for (int i = 0; e->v && i < rt->n_tasks; i++) {
        const struct task_ack *a = &pd->acks[i];
        struct hist_vertex *v = &e->v[rt->tasks[i].chain];
        uint64_t end = atomic_load(&a->durable_ns);
        if (end < a->submit_ns)
            end = a->submit_ns;
        if (end == 0 || end > now) /* acked for a finished task at the trigger */
            end = pd->start_ns;
        int64_t ack_ms = now_ms - (int64_t)((now - end) / 1000000ull);
        uint64_t e2e = end > pd->start_ns ? (end - pd->start_ns) / 1000000ull : 0;
        v->n_acked++;
        v->size_bytes += atomic_load(&a->size_bytes);
        if (ack_ms > v->ack_ms)
            v->ack_ms = ack_ms;
        if (e2e > v->e2e_ms)
            v->e2e_ms = e2e;
    }
}

void chk_history_settled(struct runtime *rt, const struct pending *pd, bool completed,
                         uint64_t duration_ms, uint64_t size_bytes, const char *why)
{
    struct chk_history *h = rt->job->chk.history;
    if (!h)
        return;
    int64_t now_ms = wall_now_ms();
    uint64_t now = now_ns();
    pthread_mutex_lock(&h->lock);
    struct hist_entry *e = find(h, pd->id), spill = {0};
    if (!e) { /* pushed out of the ring while in flight: only the latest ones keep it */
        e = &spill;
        e->id = pd->id;
        e->savepoint = pd->savepoint != NULL;
        e->trigger_ms = now_ms - (int64_t)duration_ms;
        e->n_subtasks = rt->n_tasks;
    }
    if (e->status == H_IN_PROGRESS && h->in_progress)
        h->in_progress--;
    e->duration_ms = duration_ms;
    if (completed) {
        e->status = H_COMPLETED;
        e->size_bytes = size_bytes;
        e->n_acked = e->n_subtasks;
        e->ack_ms = now_ms;
        note_vertices(rt, pd, e, now_ms, now);
        h->n_completed++;
        window_add(&h->size, size_bytes);
        window_add(&h->duration, duration_ms);
        entry_copy(e->savepoint ? &h->savepoint : &h->completed, e);
    } else {
        e->status = H_FAILED;
        e->fail_ms = now_ms;
        e->n_acked = atomic_load(&pd->acked);
        free(e->failure);
        e->failure = strdup(why ? why : "unknown");
        h->n_failed++;
        entry_copy(&h->failed, e);
    }
    if (e == &spill)
        entry_clear(&spill);
    pthread_mutex_unlock(&h->lock);
}

void chk_history_restored(struct runtime *rt, uint64_t id, bool savepoint, const char *path)
{
    struct chk_history *h = rt->job->chk.history;
    if (!h)
        return;
    pthread_mutex_lock(&h->lock);
    h->n_restored++;
    h->restored_id = id;
    h->restored_ms = wall_now_ms();
    h->restored_savepoint = savepoint;
    free(h->restored_path);
    h->restored_path = path ? strdup(path) : NULL;
    pthread_mutex_unlock(&h->lock);
}

/* ---- JSON (the REST thread, under h->lock) ----------------------------------------- */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Flink's StatsSummaryDto: min, max, avg over all, percentiles over the window (nearest
 * rank); all 0 before the first completed checkpoint. */
static json_t *summary_json(const struct stat_window *w)
{
    size_t n = w->n < SUMMARY_WINDOW ? (size_t)w->n : SUMMARY_WINDOW;
    uint64_t sorted[SUMMARY_WINDOW];
    static const struct {
        const char *name;
        double q;
    } qs[] = {{"p50", 0.5}, {"p90", 0.9}, {"p95", 0.95}, {"p99", 0.99}, {"p999", 0.999}};
    json_t *o = json_object();

    memcpy(sorted, w->w, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, cmp_u64);
    json_object_set_new(o, "min", json_integer(w->n ? (json_int_t)w->min : 0));
    json_object_set_new(o, "max", json_integer(w->n ? (json_int_t)w->max : 0));
    json_object_set_new(o, "avg", json_integer(w->n ? (json_int_t)(w->sum / w->n) : 0));
    for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
        double v = 0;
        if (n) {
            size_t k = (size_t)(qs[i].q * (double)n + 0.999999);
            v = (double)sorted[(k ? k : 1) - 1];
        }
        json_object_set_new(o, qs[i].name, json_real(v));
    }
    return o;
}

static const char *status_str(enum hist_status s)
{
    return s == H_COMPLETED ? "COMPLETED" : s == H_FAILED ? "FAILED" : "IN_PROGRESS";
}

/* Flink's CheckpointStatistics (completed, failed or pending), with "tasks" per vertex when
 * vertex_ids is given (the details document) or {} (the history). */
static json_t *entry_json(const struct hist_entry *e, const char (*vertex_ids)[33])
{
    json_t *o = json_object();
    const char *cls = e->status == H_COMPLETED ? "completed"
                      : e->status == H_FAILED  ? "failed"
                                               : "in_progress";
    json_object_set_new(o, "className", json_string(cls));
    json_object_set_new(o, "id", json_integer((json_int_t)e->id));
    json_object_set_new(o, "status", json_string(status_str(e->status)));
    json_object_set_new(o, "is_savepoint", json_boolean(e->savepoint));
    json_object_set_new(o, "savepointFormat",
                        e->savepoint ? json_string("CANONICAL") : json_null());
    json_object_set_new(o, "trigger_timestamp", json_integer(e->trigger_ms));
    json_object_set_new(o, "latest_ack_timestamp", json_integer(e->ack_ms ? e->ack_ms : -1));
    json_object_set_new(o, "checkpointed_size", json_integer((json_int_t)e->size_bytes));
    json_object_set_new(o, "state_size", json_integer((json_int_t)e->size_bytes));
    json_object_set_new(o, "end_to_end_duration", json_integer((json_int_t)e->duration_ms));
    json_object_set_new(o, "alignment_buffered", json_integer(0));
    json_object_set_new(o, "processed_data", json_integer(0));
    json_object_set_new(o, "persisted_data", json_integer(0));
    json_object_set_new(o, "num_subtasks", json_integer(e->n_subtasks));
    json_object_set_new(o, "num_acknowledged_subtasks", json_integer(e->n_acked));
    json_object_set_new(o, "checkpoint_type",
                        json_string(e->savepoint   ? "SAVEPOINT"
                                    : e->unaligned ? "UNALIGNED_CHECKPOINT"
                                                   : "CHECKPOINT"));
    json_t *tasks = json_object();
    for (int i = 0; vertex_ids && i < e->n_vertices; i++) {
        const struct hist_vertex *v = &e->v[i];
        json_t *t = json_object();
        json_object_set_new(t, "id", json_integer((json_int_t)e->id));
        json_object_set_new(t, "status", json_string(status_str(e->status)));
        json_object_set_new(t, "latest_ack_timestamp", json_integer(v->ack_ms ? v->ack_ms : -1));
        json_object_set_new(t, "checkpointed_size", json_integer((json_int_t)v->size_bytes));
        json_object_set_new(t, "state_size", json_integer((json_int_t)v->size_bytes));
        json_object_set_new(t, "end_to_end_duration", json_integer((json_int_t)v->e2e_ms));
        json_object_set_new(t, "alignment_buffered", json_integer(0));
        json_object_set_new(t, "processed_data", json_integer(0));
        json_object_set_new(t, "persisted_data", json_integer(0));
        json_object_set_new(t, "num_subtasks", json_integer(v->n_subtasks));
        json_object_set_new(t, "num_acknowledged_subtasks", json_integer(v->n_acked));
        json_object_set_new(tasks, vertex_ids[i], t);
    }
    json_object_set_new(o, "tasks", tasks);
    if (e->status == H_COMPLETED) {
        json_object_set_new(o, "external_path", e->path ? json_string(e->path) : json_null());
        json_object_set_new(o, "discarded", json_false());
    } else if (e->status == H_FAILED) {
        json_object_set_new(o, "failure_timestamp", json_integer(e->fail_ms));
        json_object_set_new(o, "failure_message", json_string(e->failure ? e->failure : ""));
    }
    return o;
}

json_t *chk_history_stats_json(struct chk_history *h)
{
    json_t *o = json_object(), *counts = json_object(), *summary = json_object(),
           *latest = json_object(), *history = json_array();
    pthread_mutex_lock(&h->lock);
    json_object_set_new(counts, "restored", json_integer((json_int_t)h->n_restored));
    json_object_set_new(counts, "total", json_integer((json_int_t)h->total));
    json_object_set_new(counts, "in_progress", json_integer((json_int_t)h->in_progress));
    json_object_set_new(counts, "completed", json_integer((json_int_t)h->n_completed));
    json_object_set_new(counts, "failed", json_integer((json_int_t)h->n_failed));
    /* sizes: every checkpoint's files are what it stores; weir buffers nothing while aligning
     * outside unaligned channel state, which the state size includes */
    json_object_set_new(summary, "checkpointed_size", summary_json(&h->size));
    json_object_set_new(summary, "state_size", summary_json(&h->size));
    json_object_set_new(summary, "end_to_end_duration", summary_json(&h->duration));
    struct stat_window zero = {0};
    json_object_set_new(summary, "alignment_buffered", summary_json(&zero));
    json_object_set_new(summary, "processed_data", summary_json(&zero));
    json_object_set_new(summary, "persisted_data", summary_json(&zero));
    json_object_set_new(latest, "completed",
                        h->completed.id ? entry_json(&h->completed, NULL) : json_null());
    json_object_set_new(latest, "savepoint",
                        h->savepoint.id ? entry_json(&h->savepoint, NULL) : json_null());
    json_object_set_new(latest, "failed",
                        h->failed.id ? entry_json(&h->failed, NULL) : json_null());
    if (h->n_restored) {
        json_t *r = json_object();
        json_object_set_new(r, "id", json_integer((json_int_t)h->restored_id));
        json_object_set_new(r, "restore_timestamp", json_integer(h->restored_ms));
        json_object_set_new(r, "is_savepoint", json_boolean(h->restored_savepoint));
        json_object_set_new(r, "external_path",
                            h->restored_path ? json_string(h->restored_path) : json_null());
        json_object_set_new(latest, "restored", r);
    } else {
        json_object_set_new(latest, "restored", json_null());
    }
    for (int i = 0; i < h->n; i++)
        json_array_append_new(history,
                              entry_json(&h->ring[(h->head - 1 - i + h->keep) % h->keep], NULL));
    pthread_mutex_unlock(&h->lock);
    json_object_set_new(o, "counts", counts);
    json_object_set_new(o, "summary", summary);
    json_object_set_new(o, "latest", latest);
    json_object_set_new(o, "history", history);
    return o;
}

json_t *chk_history_details_json(struct chk_history *h, uint64_t id, const char (*vertex_ids)[33],
                                 int n_vertices)
{
    json_t *o = NULL;
    pthread_mutex_lock(&h->lock);
    const struct hist_entry *e = find(h, id);
    if (!e && h->completed.id == id)
        e = &h->completed;
    if (!e && h->savepoint.id == id)
        e = &h->savepoint;
    if (!e && h->failed.id == id)
        e = &h->failed;
    if (e && id != 0) {
        struct hist_entry shown = *e; /* the vertices the caller knows, no more */
        if (shown.n_vertices > n_vertices)
            shown.n_vertices = n_vertices;
        o = entry_json(&shown, vertex_ids);
    }
    pthread_mutex_unlock(&h->lock);
    return o;
}
