/*
 * Flink's REST API, read side, for the job a weir_job_run runs: the documents behind
 * io/include/weir/rest.h's server, built with jansson on the server's thread. rest_route.c
 * routes requests here (its table has every path), rest_ops.c answers the operations.
 *
 *   GET /overview                                    cluster overview
 *   GET /config                                      dashboard configuration
 *   GET /jobs                                        {"jobs": [{"id", "status"}]}
 *   GET /jobs/overview                               {"jobs": [job overview]}
 *   GET /jobs/:jobid                                 job details, vertices, plan
 *   GET /jobs/:jobid/config                          execution config
 *   GET /jobs/:jobid/exceptions                      root exception and history
 *   GET /jobs/:jobid/checkpoints                     counts, summary, latest, history
 *   GET /jobs/:jobid/checkpoints/config              checkpointing configuration
 *   GET /jobs/:jobid/checkpoints/details/:id         one checkpoint, per vertex
 *   GET /jobs/:jobid/vertices/:vertexid              one vertex, per subtask
 *
 * Errors are Flink's: {"errors": ["..."]}, 404 for a path or an id that names nothing, 400
 * for an id that is not one (a job id is 32 hex digits, a checkpoint id a number).
 *
 * A job is a vertex per chain (Flink's JobVertex); its subtasks are the runtime's tasks.
 * What the documents say is read without stopping anything: the job's state and failures
 * under live->lock (job_live, runtime_private.h), the checkpoint statistics under the
 * history's own lock (checkpoint/history.c), the tasks' counters as the workers publish
 * them (relaxed atomics, as the metrics endpoint reads them).
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <xxhash.h>

#include <weir/config.h>

#include "rest_private.h"
#include "restart.h"

/* How long a job that ended waits for a cancel-job or stop savepoint's result to be fetched */
#define RESULT_WAIT_MS 30000

#ifndef WEIR_VERSION
#define WEIR_VERSION "0"
#endif

static const char *const JOB_STATE_NAMES[JOB_STATES] = {
    [JOB_INITIALIZING] = "INITIALIZING", [JOB_RUNNING] = "RUNNING", [JOB_RESTARTING] = "RESTARTING",
    [JOB_FINISHED] = "FINISHED",         [JOB_FAILED] = "FAILED",   [JOB_CANCELED] = "CANCELED",
};

/* The job's state as Flink names it: CANCELLING from a cancel until the job has ended. */
static const char *state_name(const struct job_live *l)
{
    if (l->cancelling && (l->state == JOB_RUNNING || l->state == JOB_RESTARTING))
        return "CANCELLING";
    return JOB_STATE_NAMES[l->state];
}

/* Flink's ExecutionState names, in the order its status-counts list them. */
static const char *const TASK_STATES[] = {"CREATED",     "SCHEDULED",   "DEPLOYING", "RUNNING",
                                          "FINISHED",    "CANCELING",   "CANCELED",  "FAILED",
                                          "RECONCILING", "INITIALIZING"};
#define N_TASK_STATES (sizeof TASK_STATES / sizeof TASK_STATES[0])

static int64_t wall_now(void)
{
    return wall_ms();
}

static void hex128(uint64_t hi, uint64_t lo, char out[33])
{
    snprintf(out, 33, "%016" PRIx64 "%016" PRIx64, hi, lo);
}

/* ---- what run.c tells ------------------------------------------------------------ */

static const char *ship_strategy(enum part p)
{
    switch (p) {
    case PART_HASH:
        return "HASH";
    case PART_REBALANCE:
        return "REBALANCE";
    case PART_BROADCAST:
        return "BROADCAST";
    default:
        return "FORWARD";
    }
}

/* The vertices of rt's plan, copied once: a restart plans the same chains, and the REST
 * thread must not read the plan the next attempt rewrites. */
static int copy_vertices(struct job_live *l, struct runtime *rt)
{
    const struct plan *pl = &rt->plan;
    struct live_vertex *v = calloc((size_t)pl->n_chains, sizeof *v);
    if (!v)
        return -ENOMEM;
    for (int c = 0; c < pl->n_chains; c++) {
        const struct node *head = pl->chains[c][0];
        XXH128_hash_t h = XXH3_128bits(head->uid, strlen(head->uid));
        hex128(h.high64, h.low64, v[c].id);
        v[c].name = plan_chain_name(pl, c);
        v[c].parallelism = head->p;
        int n = 0;
        for (int k = 0; k < pl->chain_len[c]; k++)
            n += pl->chains[c][k]->n_in;
        v[c].inputs = n ? calloc((size_t)n, sizeof *v[c].inputs) : NULL;
        for (int k = 0; v[c].inputs && k < pl->chain_len[c]; k++) {
            const struct node *nd = pl->chains[c][k];
            for (int e = 0; e < nd->n_in; e++)
                if (nd->in[e]->from->chain != c)
                    v[c].inputs[v[c].n_inputs++] =
                        (struct live_input){.vertex = nd->in[e]->from->chain,
                                            .ship_strategy = ship_strategy(nd->in[e]->eff)};
        }
    }
    l->vertices = v;
    l->n_vertices = pl->n_chains;
    return 0;
}

static void set_state(struct job_live *l, enum job_state s)
{
    l->state = s;
    l->ts[s] = wall_now();
    if (s == JOB_FINISHED || s == JOB_FAILED || s == JOB_CANCELED)
        l->end_ms = l->ts[s];
}

/* rest.auth.token-file's token into buf: the file's first line, without surrounding blanks.
 * 0, or -EINVAL (a configuration to change: weir run exits 2) with one line in err naming
 * the key. */
static int read_token(const char *path, char *buf, size_t cap, char *err, size_t errlen)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        snprintf(err, errlen, "rest.auth.token-file: %s: %s", path, strerror(errno));
        return -EINVAL;
    }
    char *line = fgets(buf, (int)cap, f);
    fclose(f);
    size_t n = line ? strcspn(buf, "\r\n") : 0;
    while (n && (buf[n - 1] == ' ' || buf[n - 1] == '\t'))
        n--;
    buf[n] = '\0';
    size_t lead = strspn(buf, " \t");
    memmove(buf, buf + lead, n - lead + 1);
    if (!buf[0]) {
        snprintf(err, errlen, "rest.auth.token-file: %s: the file holds no token (one line)",
                 path);
        return -EINVAL;
    }
    return 0;
}

/* The server, at the first attempt's attach: after runtime_setup has checked that the
 * address space holds the run's threads (limits.c counts this one among its helpers). */
static int serve(struct job_live *l, char *err, size_t errlen)
{
    if (l->srv || !weir_config_get_bool(l->cfg, "rest.enabled"))
        return 0;
    char token[512];
    const char *file = weir_config_get_str(l->cfg, "rest.auth.token-file");
    if (*file) {
        int rc = read_token(file, token, sizeof token, err, errlen);
        if (rc < 0)
            return rc;
    }
    struct weir_rest_opts o = {.host = weir_config_get_str(l->cfg, "rest.bind-address"),
                               .port_spec = weir_config_get_str(l->cfg, "rest.port"),
                               .handle = rest_handle,
                               .arg = l,
                               .token = *file ? token : NULL,
                               .open_reads = weir_config_get_bool(l->cfg, "rest.auth.open-reads")};
    int rc = weir_rest_server_start(&o, &l->srv, err, errlen);
    explicit_bzero(token, sizeof token);
    if (rc < 0)
        return rc;
    char url[320];
    if (weir_rest_server_url(l->srv, url, sizeof url) <= 0)
        return 0;
    if (!l->quiet)
        fprintf(stderr, "weir: rest: %s (job %s)\n", url, l->id);
    if (l->on_rest)
        l->on_rest(l->on_rest_arg, l->id, url);
    return 0;
}

int rest_live_attach(struct runtime *rt, char *err, size_t errlen)
{
    struct job_live *l = rt->job->live;
    if (!l)
        return 0;
    int rc = serve(l, err, errlen);
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&l->lock);
    if (!l->vertices)
        copy_vertices(l, rt); /* out of memory: the documents list no vertices */
    l->max_parallelism = rt->max_parallelism;
    l->n_workers = rt->n_workers;
    l->attempts++;
    l->rt = rt;
    set_state(l, JOB_RUNNING);
    pthread_mutex_unlock(&l->lock);
    return 0;
}

void rest_live_detach(struct runtime *rt)
{
    struct job_live *l = rt->job->live;
    if (!l)
        return;
    pthread_mutex_lock(&l->lock);
    if (l->rt == rt)
        l->rt = NULL;
    pthread_mutex_unlock(&l->lock);
}

void rest_live_state(weir_job *job, enum job_state s)
{
    struct job_live *l = job->live;
    if (!l)
        return;
    pthread_mutex_lock(&l->lock);
    set_state(l, s);
    pthread_mutex_unlock(&l->lock);
}

void rest_live_exception(weir_job *job, const char *msg)
{
    struct job_live *l = job->live;
    char *copy = strdup(msg);
    if (!l || !copy) {
        free(copy);
        return;
    }
    pthread_mutex_lock(&l->lock);
    if (l->n_exceptions == JOB_EXCEPTIONS) {
        free(l->exceptions[0].msg);
        memmove(&l->exceptions[0], &l->exceptions[1],
                (JOB_EXCEPTIONS - 1) * sizeof l->exceptions[0]);
        l->n_exceptions--;
        l->exceptions_truncated = true;
    }
    l->exceptions[l->n_exceptions].ms = wall_now();
    l->exceptions[l->n_exceptions].msg = copy;
    l->n_exceptions++;
    pthread_mutex_unlock(&l->lock);
}

/* ---- documents (the server's thread, under live->lock) -------------------------- */

static int64_t duration_ms(const struct job_live *l)
{
    return (l->end_ms ? l->end_ms : wall_now()) - l->start_ms;
}

static bool job_ended(const struct job_live *l)
{
    return l->state == JOB_FINISHED || l->state == JOB_FAILED || l->state == JOB_CANCELED;
}

/* A subtask's state: the attempt's task, or the job's when no attempt runs. */
static const char *task_state(const struct job_live *l, const struct task *t)
{
    if (t)
        return task_finished(t) ? "FINISHED" : "RUNNING";
    switch (l->state) {
    case JOB_FINISHED:
        return "FINISHED";
    case JOB_FAILED:
        return "FAILED";
    case JOB_CANCELED:
        return "CANCELED";
    default:
        return "SCHEDULED";
    }
}

struct vertex_sums {
    uint64_t rec_in, rec_out, busy_ns, idle_ns, bp_ns;
    int counts[N_TASK_STATES];
    int n_finished;
};

static void count_state(struct vertex_sums *s, const char *state)
{
    for (size_t i = 0; i < N_TASK_STATES; i++)
        if (strcmp(TASK_STATES[i], state) == 0)
            s->counts[i]++;
}

static void add_task(struct vertex_sums *s, const struct task *t)
{
    s->rec_in += atomic_load_explicit(&t->rec_in, memory_order_relaxed);
    s->rec_out += atomic_load_explicit(&t->rec_out, memory_order_relaxed);
    s->busy_ns += atomic_load_explicit(&t->busy_ns, memory_order_relaxed);
    s->idle_ns += atomic_load_explicit(&t->idle_ns, memory_order_relaxed);
    s->bp_ns += atomic_load_explicit(&t->bp_ns, memory_order_relaxed);
}

static void sum_vertex(const struct job_live *l, int c, struct vertex_sums *s)
{
    memset(s, 0, sizeof *s);
    const struct runtime *rt = l->rt;
    if (!rt) {
        for (int i = 0; i < l->vertices[c].parallelism; i++)
            count_state(s, task_state(l, NULL));
        return;
    }
    for (int i = 0; i < rt->n_tasks; i++) {
        const struct task *t = &rt->tasks[i];
        if (t->chain != c)
            continue;
        add_task(s, t);
        const char *st = task_state(l, t);
        count_state(s, st);
        if (strcmp(st, "FINISHED") == 0)
            s->n_finished++;
    }
}

static json_t *counts_json(const int *counts)
{
    json_t *o = json_object();
    for (size_t i = 0; i < N_TASK_STATES; i++)
        json_object_set_new(o, TASK_STATES[i], json_integer(counts[i]));
    return o;
}

/* Flink's IOMetricsInfo, with the busy, idle and backpressured time it adds. weir counts
 * records, not bytes, per task: the byte counts are 0. */
static json_t *io_metrics_json(uint64_t rec_in, uint64_t rec_out, uint64_t busy_ns,
                               uint64_t idle_ns, uint64_t bp_ns)
{
    return json_pack("{s:I,s:b,s:I,s:b,s:I,s:b,s:I,s:b,s:I,s:I,s:I}", "read-bytes", (json_int_t)0,
                     "read-bytes-complete", 1, "write-bytes", (json_int_t)0, "write-bytes-complete",
                     1, "read-records", (json_int_t)rec_in, "read-records-complete", 1,
                     "write-records", (json_int_t)rec_out, "write-records-complete", 1,
                     "accumulated-backpressured-time", (json_int_t)(bp_ns / 1000000u),
                     "accumulated-idle-time", (json_int_t)(idle_ns / 1000000u),
                     "accumulated-busy-time", (json_int_t)(busy_ns / 1000000u));
}

static const char *vertex_state(const struct job_live *l, const struct vertex_sums *s, int c)
{
    if (!l->rt)
        return task_state(l, NULL);
    return s->n_finished == l->vertices[c].parallelism ? "FINISHED" : "RUNNING";
}

static json_t *job_overview_json(const struct job_live *l)
{
    int counts[N_TASK_STATES] = {0}, total = 0;
    for (int c = 0; c < l->n_vertices; c++) {
        struct vertex_sums s;
        sum_vertex(l, c, &s);
        for (size_t i = 0; i < N_TASK_STATES; i++)
            counts[i] += s.counts[i];
        total += l->vertices[c].parallelism;
    }
    json_t *tasks = json_object();
    json_object_set_new(tasks, "total", json_integer(total));
    for (size_t i = 0; i < N_TASK_STATES; i++) {
        char lower[32];
        size_t n = strlen(TASK_STATES[i]);
        for (size_t k = 0; k <= n; k++)
            lower[k] = (char)(TASK_STATES[i][k] >= 'A' && TASK_STATES[i][k] <= 'Z'
                                  ? TASK_STATES[i][k] - 'A' + 'a'
                                  : TASK_STATES[i][k]);
        json_object_set_new(tasks, lower, json_integer(counts[i]));
    }
    int64_t last_mod = 0;
    for (int s = 0; s < JOB_STATES; s++)
        if (l->ts[s] > last_mod)
            last_mod = l->ts[s];
    return json_pack("{s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:o}", "jid", l->id, "name", l->job->name,
                     "state", state_name(l), "start-time", (json_int_t)l->start_ms,
                     "end-time", (json_int_t)(l->end_ms ? l->end_ms : -1), "duration",
                     (json_int_t)duration_ms(l), "last-modification", (json_int_t)last_mod, "tasks",
                     tasks);
}

static json_t *plan_json(const struct job_live *l)
{
    json_t *nodes = json_array();
    for (int c = 0; c < l->n_vertices; c++) {
        const struct live_vertex *v = &l->vertices[c];
        json_t *inputs = json_array();
        for (int i = 0; i < v->n_inputs; i++)
            json_array_append_new(inputs, json_pack("{s:i,s:s,s:s,s:s}", "num", i, "id",
                                                    l->vertices[v->inputs[i].vertex].id,
                                                    "ship_strategy", v->inputs[i].ship_strategy,
                                                    "exchange", "pipelined_bounded"));
        json_t *n = json_pack("{s:s,s:i,s:s,s:s,s:s,s:{}}", "id", v->id, "parallelism",
                              v->parallelism, "operator", "", "operator_strategy", "",
                              "description", v->name ? v->name : "", "optimizer_properties");
        if (v->n_inputs)
            json_object_set_new(n, "inputs", inputs);
        else
            json_decref(inputs);
        json_array_append_new(nodes, n);
    }
    return json_pack("{s:s,s:s,s:s,s:o}", "jid", l->id, "name", l->job->name, "type", "STREAMING",
                     "nodes", nodes);
}

static json_t *job_details_json(const struct job_live *l)
{
    json_t *vertices = json_array();
    int counts[N_TASK_STATES] = {0};
    for (int c = 0; c < l->n_vertices; c++) {
        const struct live_vertex *v = &l->vertices[c];
        struct vertex_sums s;
        sum_vertex(l, c, &s);
        const char *state = vertex_state(l, &s, c);
        for (size_t i = 0; i < N_TASK_STATES; i++)
            if (strcmp(TASK_STATES[i], state) == 0)
                counts[i]++;
        json_array_append_new(
            vertices,
            json_pack("{s:s,s:s,s:i,s:i,s:s,s:I,s:I,s:I,s:o,s:o}", "id", v->id, "name",
                      v->name ? v->name : "", "maxParallelism", l->max_parallelism, "parallelism",
                      v->parallelism, "status", state, "start-time", (json_int_t)l->start_ms,
                      "end-time", (json_int_t)-1, "duration", (json_int_t)duration_ms(l), "tasks",
                      counts_json(s.counts), "metrics",
                      io_metrics_json(s.rec_in, s.rec_out, s.busy_ns, s.idle_ns, s.bp_ns)));
    }
    json_t *ts = json_object();
    for (int s = 0; s < JOB_STATES; s++)
        json_object_set_new(ts, JOB_STATE_NAMES[s], json_integer(l->ts[s]));
    /* Flink lists every JobStatus; those weir never enters stay 0 */
    static const char *const others[] = {"CREATED", "FAILING", "CANCELLING", "SUSPENDED",
                                         "RECONCILING"};
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++)
        json_object_set_new(ts, others[i], json_integer(0));
    return json_pack("{s:s,s:s,s:b,s:s,s:s,s:I,s:I,s:I,s:i,s:I,s:o,s:o,s:o,s:o}", "jid", l->id,
                     "name", l->job->name, "isStoppable", 0, "state", state_name(l),
                     "job-type", "STREAMING", "start-time", (json_int_t)l->start_ms, "end-time",
                     (json_int_t)(l->end_ms ? l->end_ms : -1), "duration",
                     (json_int_t)duration_ms(l), "maxParallelism", l->max_parallelism, "now",
                     (json_int_t)wall_now(), "timestamps", ts, "vertices", vertices,
                     "status-counts", counts_json(counts), "plan", plan_json(l));
}

static json_t *vertex_details_json(const struct job_live *l, int c)
{
    const struct live_vertex *v = &l->vertices[c];
    json_t *subtasks = json_array();
    const struct runtime *rt = l->rt;
    for (int k = 0; k < v->parallelism; k++) {
        const struct task *t = NULL;
        for (int i = 0; rt && i < rt->n_tasks && !t; i++)
            if (rt->tasks[i].chain == c && rt->tasks[i].subtask == k)
                t = &rt->tasks[i];
        struct vertex_sums s = {0};
        if (t)
            add_task(&s, t);
        json_array_append_new(
            subtasks,
            json_pack("{s:i,s:s,s:i,s:s,s:I,s:I,s:I,s:o,s:s}", "subtask", k, "status",
                      task_state(l, t), "attempt", l->attempts > 0 ? l->attempts - 1 : 0,
                      "endpoint", "localhost", "start-time", (json_int_t)l->start_ms, "end-time",
                      (json_int_t)-1, "duration", (json_int_t)duration_ms(l), "metrics",
                      io_metrics_json(s.rec_in, s.rec_out, s.busy_ns, s.idle_ns, s.bp_ns),
                      "taskmanager-id", "localhost"));
    }
    return json_pack("{s:s,s:s,s:i,s:i,s:I,s:o}", "id", v->id, "name", v->name ? v->name : "",
                     "maxParallelism", l->max_parallelism, "parallelism", v->parallelism, "now",
                     (json_int_t)wall_now(), "subtasks", subtasks);
}

static json_t *exceptions_json(const struct job_live *l)
{
    json_t *entries = json_array();
    for (int i = l->n_exceptions - 1; i >= 0; i--) /* newest first, as Flink lists them */
        json_array_append_new(
            entries, json_pack("{s:s,s:s,s:I,s:n,s:n,s:n,s:n,s:{},s:[]}", "exceptionName",
                               "weir.JobFailure", "stacktrace", l->exceptions[i].msg, "timestamp",
                               (json_int_t)l->exceptions[i].ms, "taskName", "location", "endpoint",
                               "taskManagerId", "failureLabels", "concurrentExceptions"));
    const char *root = l->n_exceptions ? l->exceptions[l->n_exceptions - 1].msg : NULL;
    json_t *o =
        json_pack("{s:b,s:[],s:{s:o,s:b}}", "truncated", l->exceptions_truncated, "all-exceptions",
                  "exceptionHistory", "entries", entries, "truncated", l->exceptions_truncated);
    json_object_set_new(o, "root-exception", root ? json_string(root) : json_null());
    json_object_set_new(o, "timestamp",
                        root ? json_integer(l->exceptions[l->n_exceptions - 1].ms) : json_null());
    return o;
}

static json_t *job_config_json(const struct job_live *l)
{
    int p = 0;
    for (int c = 0; c < l->n_vertices; c++)
        if (l->vertices[c].parallelism > p)
            p = l->vertices[c].parallelism;
    return json_pack("{s:s,s:s,s:{s:s,s:s,s:i,s:b,s:{}}}", "jid", l->id, "name", l->job->name,
                     "execution-config", "execution-mode", "PIPELINED", "restart-strategy",
                     weir_config_get_str(l->cfg, "restart-strategy.type"), "job-parallelism", p,
                     "object-reuse-mode", 0, "user-config");
}

static int checkpoint_config(const struct job_live *l, json_t **doc)
{
    struct weir_config *cfg = l->cfg;
    int64_t interval = weir_config_get_duration_ms(cfg, "execution.checkpointing.interval");
    if (interval <= 0)
        return rest_errors(doc, 404,
                          "Checkpointing is not enabled for this job (%s): set "
                          "execution.checkpointing.interval.",
                          l->id);
    bool exactly_once =
        strcasecmp(weir_config_get_str(cfg, "execution.checkpointing.mode"), "AT_LEAST_ONCE") != 0;
    bool rocks = strcmp(weir_config_get_str(cfg, "state.backend"), "rocksdb") == 0;
    *doc = json_pack(
        "{s:s,s:I,s:I,s:I,s:I,s:{s:b,s:b},s:s,s:s,s:b,s:I,s:I,s:b,s:b,s:I,s:s}", "mode",
        exactly_once ? "exactly_once" : "at_least_once", "interval", (json_int_t)interval,
        "timeout", (json_int_t)weir_config_get_duration_ms(cfg, "execution.checkpointing.timeout"),
        "min_pause",
        (json_int_t)weir_config_get_duration_ms(cfg, "execution.checkpointing.min-pause"),
        "max_concurrent",
        (json_int_t)weir_config_get_int(cfg, "execution.checkpointing.max-concurrent-checkpoints"),
        "externalization", "enabled", 1, "delete_on_cancellation", 0, "state_backend",
        rocks ? "EmbeddedRocksDBStateBackend" : "HashMapStateBackend", "checkpoint_storage",
        "FileSystemCheckpointStorage", "unaligned_checkpoints",
        weir_config_get_bool(cfg, "execution.checkpointing.unaligned.enabled"),
        "tolerable_failed_checkpoints",
        (json_int_t)weir_config_get_int(cfg,
                                        "execution.checkpointing.tolerable-failed-checkpoints"),
        "aligned_checkpoint_timeout",
        (json_int_t)weir_config_get_duration_ms(
            cfg, "execution.checkpointing.aligned-checkpoint-timeout"),
        "checkpoints_after_tasks_finish", 1, "state_changelog_enabled", 0,
        "changelog_periodic_materialization_interval", (json_int_t)0, "changelog_storage",
        "memory");
    return 200;
}

static json_t *cluster_overview_json(const struct job_live *l)
{
    bool running = !job_ended(l);
    return json_pack("{s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:s,s:s}", "taskmanagers", 1, "slots-total",
                     l->n_workers, "slots-available", running ? 0 : l->n_workers, "jobs-running",
                     running, "jobs-finished", l->state == JOB_FINISHED, "jobs-cancelled",
                     l->state == JOB_CANCELED, "jobs-failed", l->state == JOB_FAILED,
                     "flink-version", WEIR_VERSION, "flink-commit", "weir");
}

static json_t *dashboard_config_json(void)
{
    return json_pack("{s:I,s:s,s:I,s:s,s:s,s:{s:b,s:b,s:b,s:b}}", "refresh-interval",
                     (json_int_t)3000, "timezone-name", "Coordinated Universal Time",
                     "timezone-offset", (json_int_t)0, "flink-version", WEIR_VERSION,
                     "flink-revision", "weir", "features", "web-submit", 0, "web-cancel", 0,
                     "web-rescale", 0, "web-history", 0);
}

/* ---- handlers (rest_route.c's table) --------------------------------------------- */

int rest_get_overview(struct job_live *l, struct rest_call *c, json_t **doc)
{
    (void)c;
    *doc = cluster_overview_json(l);
    return 200;
}

int rest_get_config(struct job_live *l, struct rest_call *c, json_t **doc)
{
    (void)l;
    (void)c;
    *doc = dashboard_config_json();
    return 200;
}

int rest_get_jobs(struct job_live *l, struct rest_call *c, json_t **doc)
{
    (void)c;
    *doc = json_pack("{s:[{s:s,s:s}]}", "jobs", "id", l->id, "status", state_name(l));
    return 200;
}

int rest_get_jobs_overview(struct job_live *l, struct rest_call *c, json_t **doc)
{
    (void)c;
    *doc = json_pack("{s:[o]}", "jobs", job_overview_json(l));
    return 200;
}

int rest_get_job(struct job_live *l, struct rest_call *c, json_t **doc)
{
    (void)c;
    *doc = job_details_json(l);
    return 200;
}

int rest_get_job_config(struct job_live *l, struct rest_call *c, json_t **doc)
{
    (void)c;
    *doc = job_config_json(l);
    return 200;
}

int rest_get_exceptions(struct job_live *l, struct rest_call *c, json_t **doc)
{
    (void)c;
    *doc = exceptions_json(l);
    return 200;
}

int rest_get_checkpoints(struct job_live *l, struct rest_call *c, json_t **doc)
{
    (void)c;
    *doc = chk_history_stats_json(l->job->chk.history);
    return 200;
}

int rest_get_checkpoint_config(struct job_live *l, struct rest_call *c, json_t **doc)
{
    (void)c;
    return checkpoint_config(l, doc);
}

int rest_get_checkpoint_details(struct job_live *l, struct rest_call *c, json_t **doc)
{
    const char *id = c->checkpoint;
    char *end;
    errno = 0;
    unsigned long long cid = strtoull(id, &end, 10);
    if (*end || errno || id[0] < '0' || id[0] > '9')
        return rest_errors(doc, 400,
                           "Bad request: checkpointid '%s' is not a checkpoint id (a number).", id);
    char(*vids)[33] = calloc((size_t)l->n_vertices + 1, sizeof *vids);
    if (!vids)
        return -ENOMEM;
    for (int v = 0; v < l->n_vertices; v++)
        memcpy(vids[v], l->vertices[v].id, 33);
    *doc = chk_history_details_json(l->job->chk.history, cid, (const char(*)[33])vids,
                                    l->n_vertices);
    free(vids);
    if (!*doc)
        return rest_errors(doc, 404, "Could not find checkpointing statistics for checkpoint %llu.",
                           cid);
    return 200;
}

int rest_vertex_find(const struct job_live *l, const struct rest_call *c, json_t **doc,
                     int *index)
{
    for (int v = 0; v < l->n_vertices; v++)
        if (strcasecmp(l->vertices[v].id, c->vertex) == 0) {
            *index = v;
            return 0;
        }
    if (!rest_is_id(c->vertex)) /* a vertex id has the job id's form */
        return rest_errors(doc, 400,
                           "Bad request: vertexid '%s' is not a vertex id (32 hexadecimal "
                           "characters).",
                           c->vertex);
    return rest_errors(doc, 404, "Job vertex %s not found in job %s.", c->vertex, l->id);
}

int rest_get_vertex(struct job_live *l, struct rest_call *c, json_t **doc)
{
    int v, rc = rest_vertex_find(l, c, doc, &v);
    if (rc != 0)
        return rc;
    *doc = vertex_details_json(l, v);
    return 200;
}

/* ---- lifetime -------------------------------------------------------------------- */

static void live_free(struct job_live *l)
{
    if (!l)
        return;
    for (int c = 0; c < l->n_vertices; c++) {
        free(l->vertices[c].name);
        free(l->vertices[c].inputs);
    }
    free(l->vertices);
    for (int i = 0; i < l->n_exceptions; i++)
        free(l->exceptions[i].msg);
    pthread_mutex_destroy(&l->lock);
    free(l);
}

int rest_live_start(weir_job *job, struct weir_config *cfg, const struct weir_run_opts *opts,
                    char *err, size_t errlen)
{
    struct job_live *l = calloc(1, sizeof *l);
    uint64_t r[2];
    if (!l) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    pthread_mutex_init(&l->lock, NULL);
    l->job = job;
    l->cfg = cfg;
    l->quiet = opts->quiet;
    l->on_rest = opts->on_rest;
    l->on_rest_arg = opts->on_rest_arg;
    l->start_ms = wall_now();
    l->state = JOB_INITIALIZING;
    l->ts[JOB_INITIALIZING] = l->start_ms;
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r) {
        /* no entropy source: the clock and the address still make ids unlikely to repeat */
        r[0] = (uint64_t)l->start_ms ^ ((uint64_t)now_ns() << 17);
        r[1] = (uint64_t)(uintptr_t)l ^ now_ns();
    }
    hex128(r[0], r[1], l->id);
    job->chk.history = chk_history_new((int)weir_config_get_int(cfg, "web.checkpoints.history"));
    if (!job->chk.history) {
        snprintf(err, errlen, "out of memory");
        live_free(l);
        return -ENOMEM;
    }
    job->live = l;
    return 0;
}

void rest_live_stop(weir_job *job)
{
    struct job_live *l = job->live;
    if (!l)
        return;
    if (l->srv && !rest_triggers_wait_fetched(l, RESULT_WAIT_MS))
        fprintf(stderr,
                "weir: rest: a cancel-job or stop savepoint's result was not fetched in %d s\n",
                RESULT_WAIT_MS / 1000);
    weir_rest_server_stop(l->srv); /* no request runs after this */
    job->live = NULL;
    rest_triggers_free(l);
    chk_history_free(job->chk.history);
    job->chk.history = NULL;
    live_free(l);
}
