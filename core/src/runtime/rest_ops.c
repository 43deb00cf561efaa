/*
 * Flink's REST API, operations: savepoints and checkpoints triggered by request, cancel, and
 * the per-subtask watermarks. On the server's thread under live->lock, as rest_docs.c.
 *
 *   POST  /jobs/:jobid/savepoints            {target-directory, cancel-job, formatType,
 *                                            triggerId} -> 202 {"request-id"}
 *   GET   /jobs/:jobid/savepoints/:triggerid  {"status": {"id": IN_PROGRESS | COMPLETED},
 *                                            "operation": {"location"} | {"failure-cause"}}
 *   POST  /jobs/:jobid/stop                  {targetDirectory, drain, formatType, triggerId}
 *                                            -> 202 {"request-id"}: stop-with-savepoint, its
 *                                            status at GET /jobs/:jobid/savepoints/:triggerid
 *   POST  /jobs/:jobid/checkpoints           {checkpointType, triggerId} -> 202 (Flink 1.19)
 *   GET   /jobs/:jobid/checkpoints/:triggerid {"status", "operation": {"checkpointId"} |
 *                                            {"failureCause"}}
 *   PATCH /jobs/:jobid?mode=cancel            202 {}
 *   GET   /jobs/:jobid/vertices/:vertexid/watermarks
 *                                            [{"id": "<subtask>.currentInputWatermark",
 *                                              "value": "<ms>"}]
 *
 * A trigger (struct rest_trigger, runtime_private.h) waits in live->triggers until the
 * coordinator takes it on the control thread (rest_request_take, from chk_tick), which
 * then says which checkpoint it became and how it settled; a savepoint that fails does not
 * fail the job (the coordinator does not count it against tolerable-failed-checkpoints).
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include <weir/config.h>

#include "rest_private.h"

/* rest_triggers_wait_fetched looks this often */
#define FETCH_POLL_MS 50

/* The no-watermark value Flink reports (Long.MIN_VALUE). */
#define NO_WATERMARK INT64_MIN

static const char *const SAVEPOINT_FIELDS[] = {"target-directory", "cancel-job", "formatType",
                                               "triggerId", NULL};
static const char *const STOP_FIELDS[] = {"targetDirectory", "drain", "formatType", "triggerId",
                                          NULL};
static const char *const CHECKPOINT_FIELDS[] = {"checkpointType", "triggerId", NULL};

/* ---- triggers -------------------------------------------------------------------- */

static void trigger_clear(struct rest_trigger *t)
{
    free(t->dir);
    free(t->location);
    free(t->cause);
    memset(t, 0, sizeof *t);
}

void rest_triggers_free(struct job_live *l)
{
    for (int i = 0; i < l->n_triggers; i++)
        trigger_clear(&l->triggers[i]);
    l->n_triggers = 0;
}

static struct rest_trigger *trigger_find(struct job_live *l, const char *id)
{
    for (int i = 0; i < l->n_triggers; i++)
        if (strcasecmp(l->triggers[i].id, id) == 0)
            return &l->triggers[i];
    return NULL;
}

/* A new trigger at the end; the oldest settled one goes when all slots are taken. NULL
 * when every slot is still in progress. */
static struct rest_trigger *trigger_add(struct job_live *l)
{
    if (l->n_triggers == REST_TRIGGERS) {
        int i = 0;
        while (i < l->n_triggers && !l->triggers[i].done)
            i++;
        if (i == l->n_triggers)
            return NULL;
        trigger_clear(&l->triggers[i]);
        memmove(&l->triggers[i], &l->triggers[i + 1],
                (size_t)(l->n_triggers - i - 1) * sizeof l->triggers[0]);
        l->n_triggers--;
    }
    struct rest_trigger *t = &l->triggers[l->n_triggers++];
    memset(t, 0, sizeof *t);
    uint64_t r[2];
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r) {
        r[0] = now_ns();
        r[1] = (uint64_t)(uintptr_t)t ^ ((uint64_t)l->n_triggers << 40);
    }
    snprintf(t->id, sizeof t->id, "%016" PRIx64 "%016" PRIx64, r[0], r[1]);
    return t;
}

/* The storage names state.savepoints.dir in its errors; a request's own directory is its
 * target-directory (a stop's targetDirectory), so the cause names that instead. */
static void trigger_fail(struct rest_trigger *t, const char *cause)
{
    static const char CONFIGURED[] = "state.savepoints.dir: ";
    bool own = t->dir && strncmp(cause, CONFIGURED, sizeof CONFIGURED - 1) == 0;
    t->done = true;
    free(t->cause);
    t->cause = NULL;
    if (own && asprintf(&t->cause, "%s: %s", t->stop ? "targetDirectory" : "target-directory",
                        cause + sizeof CONFIGURED - 1) < 0)
        t->cause = NULL;
    if (!t->cause)
        t->cause = strdup(cause);
}

/* ---- the body's fields ------------------------------------------------------------ */

/* 400 for a field the request does not take (Flink's mapper refuses unknown fields). */
static int only_fields(const struct rest_call *c, const char *const *known, json_t **doc)
{
    const char *key;
    json_t *v;
    json_object_foreach(c->body, key, v)
    {
        bool ok = false;
        for (int i = 0; known[i] && !ok; i++)
            ok = strcmp(known[i], key) == 0;
        if (!ok)
            return rest_errors(doc, 400, "Bad request: %s takes no field '%s'.", c->path, key);
    }
    return 0;
}

/* A string field or null/absent (*out NULL); 400 for another type. */
static int opt_string(const struct rest_call *c, const char *key, const char **out, json_t **doc)
{
    json_t *v = json_object_get(c->body, key);
    *out = json_is_string(v) ? json_string_value(v) : NULL;
    if (v && !json_is_null(v) && !json_is_string(v))
        return rest_errors(doc, 400, "Bad request: field '%s' must be a string.", key);
    return 0;
}

static int opt_bool(const struct rest_call *c, const char *key, bool *out, json_t **doc)
{
    json_t *v = json_object_get(c->body, key);
    *out = json_is_true(v);
    if (v && !json_is_null(v) && !json_is_boolean(v))
        return rest_errors(doc, 400, "Bad request: field '%s' must be true or false.", key);
    return 0;
}

/* The trigger id a client chose (Flink's triggerId), or NULL; 400 when it is not one. */
static int opt_trigger_id(const struct rest_call *c, const char **out, json_t **doc)
{
    int rc = opt_string(c, "triggerId", out, doc);
    if (rc == 0 && *out && !rest_is_id(*out))
        return rest_errors(doc, 400,
                           "Bad request: triggerId '%s' is not a trigger id (32 hexadecimal "
                           "characters).",
                           *out);
    return rc;
}

/* A trigger for c: the one triggerId already names (a client's retry), or a new one. 0 with
 * *out, or a status with *doc. */
static int new_trigger(struct job_live *l, const char *chosen, bool savepoint,
                       struct rest_trigger **out, json_t **doc)
{
    *out = chosen ? trigger_find(l, chosen) : NULL;
    if (*out) {
        if ((*out)->savepoint != savepoint)
            return rest_errors(doc, 409, "Conflict: triggerId %s names another operation.",
                               chosen);
        return 1;
    }
    if (l->cancelling || l->state == JOB_FINISHED || l->state == JOB_FAILED ||
        l->state == JOB_CANCELED)
        return rest_errors(doc, 409, "Conflict: job %s is %s.", l->id,
                           l->cancelling ? "being cancelled" : "no longer running");
    *out = trigger_add(l);
    if (!*out)
        return rest_errors(doc, 429, "Too many requests: %d operations are in progress.",
                           REST_TRIGGERS);
    if (chosen)
        snprintf((*out)->id, sizeof (*out)->id, "%s", chosen);
    (*out)->savepoint = savepoint;
    if (weir_config_get_duration_ms(l->cfg, "execution.checkpointing.interval") <= 0)
        trigger_fail(*out, "the job takes no checkpoints: set execution.checkpointing.interval");
    return 0;
}

static int accepted(const struct rest_trigger *t, json_t **doc)
{
    *doc = json_pack("{s:s}", "request-id", t->id);
    return 202;
}

/* ---- handlers -------------------------------------------------------------------- */

/* Whether the storage can write a savepoint to dir: a local one always, one on S3 only in the
 * bucket of state.checkpoints.dir (its uploader puts savepoints too), as the storage checks
 * state.savepoints.dir at the start. */
static bool same_store(const struct job_live *l, const char *dir)
{
    const char *ck = weir_config_get_str(l->cfg, "state.checkpoints.dir");
    if (strncmp(dir, "s3://", 5) != 0)
        return true;
    size_t lc = strcspn(ck + (strncmp(ck, "s3://", 5) ? 0 : 5), "/"), ld = strcspn(dir + 5, "/");
    return strncmp(ck, "s3://", 5) == 0 && lc == ld && strncmp(ck + 5, dir + 5, ld) == 0;
}

/* A savepoint (POST .../savepoints: target-directory, cancel-job) or a stop-with-savepoint
 * (POST .../stop: targetDirectory, drain), their other fields the same: formatType and
 * triggerId. */
static int post_savepoint(struct job_live *l, struct rest_call *c, bool stop, json_t **doc)
{
    const char *dir_key = stop ? "targetDirectory" : "target-directory";
    const char *dir, *format, *chosen;
    bool flag;
    int rc = only_fields(c, stop ? STOP_FIELDS : SAVEPOINT_FIELDS, doc);
    if (rc == 0)
        rc = opt_string(c, dir_key, &dir, doc);
    if (rc == 0)
        rc = opt_bool(c, stop ? "drain" : "cancel-job", &flag, doc);
    if (rc == 0)
        rc = opt_string(c, "formatType", &format, doc);
    if (rc == 0)
        rc = opt_trigger_id(c, &chosen, doc);
    if (rc != 0)
        return rc;
    /* weir writes one format, which restores wherever a NATIVE one would */
    if (format && strcmp(format, "CANONICAL") != 0 && strcmp(format, "NATIVE") != 0)
        return rest_errors(doc, 400,
                           "Bad request: formatType '%s' is not CANONICAL or NATIVE.", format);
    if (dir && !*dir)
        return rest_errors(doc, 400, "Bad request: %s is empty.", dir_key);
    if (dir && !same_store(l, dir))
        return rest_errors(doc, 400,
                           "Bad request: %s %s: savepoints to S3 go to the bucket "
                           "of state.checkpoints.dir, which is %s: give s3://<that bucket>/... "
                           "or a local directory.",
                           dir_key, dir,
                           *weir_config_get_str(l->cfg, "state.checkpoints.dir")
                               ? weir_config_get_str(l->cfg, "state.checkpoints.dir")
                               : "(local, the default)");
    struct rest_trigger *t;
    rc = new_trigger(l, chosen, true, &t, doc);
    if (rc == 1 || rc != 0)
        return rc == 1 ? accepted(t, doc) : rc;
    t->stop = stop;
    if (stop)
        t->drain = flag;
    else
        t->cancel_job = flag;
    if (dir && !(t->dir = strdup(dir)))
        return -ENOMEM;
    return accepted(t, doc);
}

int rest_post_savepoint(struct job_live *l, struct rest_call *c, json_t **doc)
{
    return post_savepoint(l, c, false, doc);
}

/* Flink's stop-with-savepoint: the savepoint's status as any savepoint's; once complete the
 * job ends FINISHED. A savepoint that fails leaves the job running, as Flink's. */
int rest_post_stop(struct job_live *l, struct rest_call *c, json_t **doc)
{
    return post_savepoint(l, c, true, doc);
}

int rest_post_checkpoint(struct job_live *l, struct rest_call *c, json_t **doc)
{
    const char *type, *chosen;
    int rc = only_fields(c, CHECKPOINT_FIELDS, doc);
    if (rc == 0)
        rc = opt_string(c, "checkpointType", &type, doc);
    if (rc == 0)
        rc = opt_trigger_id(c, &chosen, doc);
    if (rc != 0)
        return rc;
    /* weir takes what state.backend.incremental says: a request for the other kind is
     * refused rather than answered with a checkpoint of the wrong one */
    bool incremental = weir_config_get_bool(l->cfg, "state.backend.incremental");
    if (type && strcmp(type, "CONFIGURED") != 0 &&
        strcmp(type, incremental ? "INCREMENTAL" : "FULL") != 0)
        return rest_errors(doc, 400,
                           "Bad request: checkpointType '%s': this job takes %s checkpoints "
                           "(state.backend.incremental: %s); ask for CONFIGURED.",
                           type, incremental ? "INCREMENTAL" : "FULL",
                           incremental ? "true" : "false");
    struct rest_trigger *t;
    rc = new_trigger(l, chosen, false, &t, doc);
    if (rc == 1 || rc == 0)
        return accepted(t, doc);
    return rc;
}

/* The server's: the answer that reported trigger id's end has been handed to the socket,
 * so a job that ends may now stop its server. */
static void trigger_sent(void *arg, const char *id)
{
    struct job_live *l = arg;
    pthread_mutex_lock(&l->lock);
    struct rest_trigger *t = trigger_find(l, id);
    if (t && t->done)
        t->fetched = true;
    pthread_mutex_unlock(&l->lock);
}

/* Flink's SerializedThrowable, as its REST API writes one. */
static json_t *failure_json(const char *cause)
{
    return json_pack("{s:s,s:s,s:s}", "class", "weir.CheckpointException", "stack-trace", cause,
                     "serialized-throwable", cause);
}

static int status_doc(struct job_live *l, struct rest_call *c, bool savepoint, json_t **doc)
{
    struct rest_trigger *t = rest_is_id(c->trigger) ? trigger_find(l, c->trigger) : NULL;
    if (!t || t->savepoint != savepoint)
        return rest_errors(doc, 404, "There is no %s operation with triggerId=%s for job %s.",
                           savepoint ? "savepoint" : "checkpoint", c->trigger, l->id);
    json_t *op = json_null();
    if (t->done && t->cause)
        op = json_pack("{s:o}", savepoint ? "failure-cause" : "failureCause",
                       failure_json(t->cause));
    else if (t->done && savepoint)
        op = json_pack("{s:s}", "location", t->location ? t->location : "");
    else if (t->done)
        op = json_pack("{s:I}", "checkpointId", (json_int_t)t->checkpoint_id);
    *doc = json_pack("{s:{s:s},s:o}", "status", "id", t->done ? "COMPLETED" : "IN_PROGRESS",
                     "operation", op);
    if (t->done) { /* fetched once the answer has left, not now (rest_triggers_wait_fetched) */
        c->req->sent = trigger_sent;
        snprintf(c->req->sent_tag, sizeof c->req->sent_tag, "%s", t->id);
    }
    return 200;
}

int rest_get_savepoint(struct job_live *l, struct rest_call *c, json_t **doc)
{
    return status_doc(l, c, true, doc);
}

int rest_get_checkpoint_trigger(struct job_live *l, struct rest_call *c, json_t **doc)
{
    return status_doc(l, c, false, doc);
}

int rest_patch_job(struct job_live *l, struct rest_call *c, json_t **doc)
{
    const char *mode = weir_rest_query(c->req, "mode");
    if (mode && strcmp(mode, "cancel") != 0)
        return rest_errors(doc, 400,
                           "Bad request: mode '%s': PATCH /jobs/:jobid takes mode=cancel (stop "
                           "is POST /jobs/:jobid/stop).",
                           mode);
    if (l->state != JOB_FINISHED && l->state != JOB_FAILED && l->state != JOB_CANCELED) {
        l->cancelling = true;
        weir_job_cancel(l->job);
    }
    *doc = json_object();
    return 202;
}

int rest_get_watermarks(struct job_live *l, struct rest_call *c, json_t **doc)
{
    int v, rc = rest_vertex_find(l, c, doc, &v);
    if (rc != 0)
        return rc;
    json_t *a = json_array();
    const struct runtime *rt = l->rt;
    for (int k = 0; k < l->vertices[v].parallelism; k++) {
        int64_t wm = NO_WATERMARK;
        for (int i = 0; rt && i < rt->n_tasks; i++)
            if (rt->tasks[i].chain == v && rt->tasks[i].subtask == k)
                wm = atomic_load_explicit(&rt->tasks[i].wm_in_pub, memory_order_relaxed);
        char id[64], val[32];
        snprintf(id, sizeof id, "%d.currentInputWatermark", k);
        snprintf(val, sizeof val, "%" PRId64, wm);
        json_array_append_new(a, json_pack("{s:s,s:s}", "id", id, "value", val));
    }
    *doc = a;
    return 200;
}

/* Flink's task manager document for weir's one ("localhost", the subtasks' taskmanager-id):
 * memoryConfiguration and metrics under Flink's names where a pool is Flink's (the task heap
 * is the heap where Flink keeps heap state, managed and network memory are Flink's), and
 * every pool under weir.pools, with null where weir does not measure its use. */
int rest_get_taskmanager(struct job_live *l, struct rest_call *c, json_t **doc)
{
    (void)c;
    struct rt_pool p[RT_POOLS];
    rt_pools(l->rt, l->cfg, p);
    json_t *pools = json_array();
    for (int i = 0; i < RT_POOLS; i++)
        json_array_append_new(pools, json_pack("{s:s,s:I,s:o}", "name", p[i].name, "capacity",
                                               (json_int_t)p[i].capacity, "used",
                                               p[i].used < 0 ? json_null()
                                                             : json_integer(p[i].used)));
    const struct weir_memory_pools *m = weir_config_pools(l->cfg);
    *doc = json_pack(
        "{s:s,s:i,s:{s:I,s:I,s:I,s:I,s:I,s:I},s:{s:I,s:I,s:I,s:I,s:I,s:I},s:{s:o}}", "id",
        "localhost", "slotsNumber", l->n_workers, "memoryConfiguration", "frameworkHeap",
        (json_int_t)m->framework, "taskHeap", (json_int_t)m->task_heap, "managedMemory",
        (json_int_t)m->managed, "networkMemory", (json_int_t)m->network, "jvmOverhead",
        (json_int_t)m->overhead, "totalProcessMemory", (json_int_t)m->process, "metrics",
        "heapUsed", (json_int_t)(p[1].used < 0 ? 0 : p[1].used), "heapMax",
        (json_int_t)p[1].capacity, "managedMemoryUsed", (json_int_t)(p[2].used < 0 ? 0 : p[2].used),
        "managedMemoryTotal", (json_int_t)p[2].capacity, "nettyShuffleMemoryUsed",
        (json_int_t)(p[3].used < 0 ? 0 : p[3].used), "nettyShuffleMemoryTotal",
        (json_int_t)p[3].capacity, "weir", "pools", pools);
    return *doc ? 200 : -ENOMEM;
}

bool rest_triggers_wait_fetched(struct job_live *l, int timeout_ms)
{
    for (int waited = 0;; waited += FETCH_POLL_MS) {
        bool waiting = false;
        pthread_mutex_lock(&l->lock);
        for (int i = 0; i < l->n_triggers && !waiting; i++)
            waiting = (l->triggers[i].cancel_job || l->triggers[i].stop) && l->triggers[i].done &&
                      !l->triggers[i].cause && !l->triggers[i].fetched;
        pthread_mutex_unlock(&l->lock);
        if (!waiting || waited >= timeout_ms)
            return !waiting;
        struct timespec ts = {0, FETCH_POLL_MS * 1000000L};
        nanosleep(&ts, NULL);
    }
}

/* ---- the coordinator's side (control thread) -------------------------------------- */

bool rest_request_take(weir_job *job, char *trigger, bool *savepoint, char **dir, bool *stop,
                       bool *drain)
{
    struct job_live *l = job->live;
    bool got = false;
    if (!l)
        return false;
    pthread_mutex_lock(&l->lock);
    for (int i = 0; i < l->n_triggers && !got; i++) {
        struct rest_trigger *t = &l->triggers[i];
        if (t->taken || t->done)
            continue;
        t->taken = got = true;
        memcpy(trigger, t->id, sizeof t->id);
        *savepoint = t->savepoint;
        *stop = t->stop;
        *drain = t->drain;
        *dir = t->dir ? strdup(t->dir) : NULL;
        if (t->dir && !*dir) {
            trigger_fail(t, strerror(ENOMEM));
            got = false;
        }
    }
    pthread_mutex_unlock(&l->lock);
    return got;
}

void rest_request_started(weir_job *job, const char *trigger, uint64_t id)
{
    struct job_live *l = job->live;
    if (!l)
        return;
    pthread_mutex_lock(&l->lock);
    struct rest_trigger *t = trigger_find(l, trigger);
    if (t)
        t->checkpoint_id = id;
    pthread_mutex_unlock(&l->lock);
}

void rest_request_settled(weir_job *job, const char *trigger, const char *location,
                          const char *cause)
{
    struct job_live *l = job->live;
    if (!l)
        return;
    pthread_mutex_lock(&l->lock);
    struct rest_trigger *t = trigger_find(l, trigger);
    if (t && t->done)
        t = NULL; /* settled once: a checkpoint that could not start is also torn down
                   * with its attempt (chk_free), which must not overwrite why it failed */
    if (t && cause) {
        trigger_fail(t, cause); /* and a cancel-job savepoint leaves the job running */
    } else if (t) {
        t->done = true;
        t->location = location ? strdup(location) : NULL;
        if (t->cancel_job) { /* Flink's cancel-job: the job ends once its savepoint is in */
            l->cancelling = true;
            weir_job_cancel(job);
        }
    }
    pthread_mutex_unlock(&l->lock);
}
