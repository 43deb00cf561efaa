/*
 * The job builder: turns job.h calls into the logical graph of graph_private.h.
 *
 * Errors are sticky: the first invalid call records a one-line reason in the job
 * and returns NULL; every later call given a NULL stream returns NULL too, and
 * weir_job_run refuses the job with the first reason.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <weir/io_paths.h>

#include "graph_private.h"

const char *part_str(enum part p)
{
    switch (p) {
    case PART_DEFAULT:
        return "forward";
    case PART_FORWARD:
        return "forward";
    case PART_REBALANCE:
        return "rebalance";
    case PART_HASH:
        return "hash";
    case PART_BROADCAST:
        return "broadcast";
    }
    return "?";
}

static void job_vfail(weir_job *job, const char *fmt, va_list ap)
{
    if (!job || job->error)
        return;
    if (vasprintf(&job->error, fmt, ap) < 0)
        job->error = NULL;
    if (!job->error)
        job->error = strdup("out of memory while building the job");
}

static void job_fail(weir_job *job, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void job_fail(weir_job *job, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    job_vfail(job, fmt, ap);
    va_end(ap);
}

void weir_job_fail(weir_job *job, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    job_vfail(job, fmt, ap);
    va_end(ap);
}

weir_job *weir_job_new(const char *name)
{
    weir_job *job = calloc(1, sizeof *job);
    if (!job)
        return NULL;
    job->name = strdup(name && *name ? name : "job");
    if (!job->name) {
        free(job);
        return NULL;
    }
    pthread_mutex_init(&job->stop.lock, NULL);
    return job;
}

void weir_job_free(weir_job *job)
{
    if (!job)
        return;
    for (int i = 0; i < job->n_nodes; i++) {
        struct node *n = job->nodes[i];
        for (int j = 0; j < n->n_in; j++)
            free(n->in[j]);
        free(n->in);
        free(n->out);
        if (n->free_arg)
            n->free_arg(n->arg);
        for (int t = 0; t < n->n_tags; t++)
            free(n->tags[t]);
        free(n->tags);
        free(n->wms_copy);
        free(n->uid);
        free(n->name);
        free(n->io_path);
        free(n);
    }
    for (int i = 0; i < job->n_streams; i++)
        free(job->streams[i]);
    free(job->nodes);
    free(job->streams);
    free(job->error);
    free(job->stop.dir);
    free(job->stop.result);
    pthread_mutex_destroy(&job->stop.lock);
    free(job->name);
    free(job);
}

const char *weir_job_name(const weir_job *job)
{
    return job->name;
}

const char *weir_job_error(const weir_job *job)
{
    return job->error;
}

static bool grow(void **arr, int *cap, int need, size_t elem)
{
    if (need <= *cap)
        return true;
    int ncap = *cap ? *cap * 2 : 8;
    while (ncap < need)
        ncap *= 2;
    void *p = realloc(*arr, (size_t)ncap * elem);
    if (!p)
        return false;
    *arr = p;
    *cap = ncap;
    return true;
}

static weir_stream *stream_new(weir_job *job, int n)
{
    if (!grow((void **)&job->streams, &job->cap_streams, job->n_streams + 1,
              sizeof *job->streams)) {
        job_fail(job, "out of memory while building the job");
        return NULL;
    }
    weir_stream *s = calloc(1, sizeof *s + (size_t)n * sizeof s->src[0]);
    if (!s) {
        job_fail(job, "out of memory while building the job");
        return NULL;
    }
    s->job = job;
    s->n = n;
    job->streams[job->n_streams++] = s;
    return s;
}

static bool uid_ok(weir_job *job, const char *uid)
{
    if (!uid || !*uid) {
        job_fail(job, "every operator needs a uid (got an empty one)");
        return false;
    }
    for (const char *c = uid; *c; c++) {
        if (*c == '/' || *c == '"' || *c == '\\' || (unsigned char)*c < 0x20) {
            job_fail(job,
                     "operator uid \"%s\": may not contain '/', '\"', '\\' or control "
                     "characters",
                     uid);
            return false;
        }
    }
    for (int i = 0; i < job->n_nodes; i++) {
        if (strcmp(job->nodes[i]->uid, uid) == 0) {
            job_fail(job, "operator uid \"%s\" is used twice; uids must be unique in a job", uid);
            return false;
        }
    }
    return true;
}

static struct node *node_new(weir_job *job, enum node_type type, const char *uid, const char *kind)
{
    if (job->error || !uid_ok(job, uid))
        return NULL;
    if (!grow((void **)&job->nodes, &job->cap_nodes, job->n_nodes + 1, sizeof *job->nodes))
        goto oom;
    struct node *n = calloc(1, sizeof *n);
    if (!n)
        goto oom;
    n->id = job->n_nodes;
    n->type = type;
    n->uid = strdup(uid);
    if (!n->uid) {
        free(n);
        goto oom;
    }
    if (asprintf(&n->name, "%s", uid) < 0) {
        free(n->uid);
        free(n);
        goto oom;
    }
    job->nodes[job->n_nodes++] = n;
    return n;
oom:
    job_fail(job, "out of memory while building the job");
    return NULL;
}

/* Connects every source of stream `in` to node `to` as logical input `input`. */
static int connect(weir_stream *in, struct node *to, int input)
{
    weir_job *job = in->job;
    for (int i = 0; i < in->n; i++) {
        struct node *from = in->src[i].node;
        if (from->type == NODE_SINK) {
            job_fail(job, "sink \"%s\" has no output stream to feed \"%s\"", from->uid, to->uid);
            return -EINVAL;
        }
        struct edge *e = calloc(1, sizeof *e);
        struct edge **nin = realloc(to->in, (size_t)(to->n_in + 1) * sizeof *nin);
        if (nin)
            to->in = nin;
        struct edge **nout = realloc(from->out, (size_t)(from->n_out + 1) * sizeof *nout);
        if (nout)
            from->out = nout;
        if (!e || !nin || !nout) {
            free(e);
            job_fail(job, "out of memory while building the job");
            return -ENOMEM;
        }
        e->from = from;
        e->to = to;
        e->part = in->src[i].part;
        e->key = in->src[i].key;
        e->tag = in->src[i].tag;
        e->input = input;
        to->in[to->n_in++] = e;
        from->out[from->n_out++] = e;
        from->stream_used = true;
    }
    return 0;
}

static weir_stream *single(weir_job *job, struct node *n)
{
    weir_stream *s = stream_new(job, 1);
    if (!s)
        return NULL;
    s->src[0] = (struct stream_src){.node = n, .part = PART_DEFAULT};
    return s;
}

/* List state (weir/job.h enum weir_state_mode) needs the hook that takes its items. */
static bool state_mode_ok(weir_job *job, const char *uid, enum weir_state_mode mode,
                          bool has_restore_items)
{
    if (mode != WEIR_STATE_SAME_PARALLELISM && mode != WEIR_STATE_SPLIT &&
        mode != WEIR_STATE_UNION) {
        job_fail(job, "operator \"%s\": state_mode %d is none of WEIR_STATE_SAME_PARALLELISM, "
                 "WEIR_STATE_SPLIT, WEIR_STATE_UNION", uid ? uid : "", (int)mode);
        return false;
    }
    if (mode != WEIR_STATE_SAME_PARALLELISM && !has_restore_items) {
        job_fail(job, "operator \"%s\": state_mode is list state (%s) but it has no "
                 "restore_items hook to take the items back", uid ? uid : "",
                 mode == WEIR_STATE_SPLIT ? "WEIR_STATE_SPLIT" : "WEIR_STATE_UNION");
        return false;
    }
    return true;
}

weir_stream *weir_source(weir_job *job, const char *uid, const struct weir_source_ops *ops,
                         void *arg)
{
    if (!job)
        return NULL;
    if (!ops || !ops->poll) {
        job_fail(job, "source \"%s\": no poll function", uid ? uid : "");
        return NULL;
    }
    if (!state_mode_ok(job, uid, ops->state_mode, ops->restore_items))
        return NULL;
    struct node *n = node_new(job, NODE_SOURCE, uid, ops->kind);
    if (!n)
        return NULL;
    n->src = ops;
    n->arg = arg;
    return single(job, n);
}

static weir_stream *add_operator(weir_stream *in, enum node_type type, const char *uid,
                                 const struct weir_operator_ops *ops, void *arg)
{
    if (!in)
        return NULL;
    weir_job *job = in->job;
    if (!ops || !ops->process) {
        job_fail(job, "operator \"%s\": no process function", uid ? uid : "");
        return NULL;
    }
    if (!state_mode_ok(job, uid, ops->state_mode, ops->restore_items))
        return NULL;
    struct node *n = node_new(job, type, uid, ops->kind);
    if (!n || connect(in, n, 0) < 0)
        return NULL;
    n->op = ops;
    n->arg = arg;
    return single(job, n);
}

weir_stream *weir_transform(weir_stream *in, const char *uid, const struct weir_operator_ops *ops,
                            void *arg)
{
    return add_operator(in, NODE_OPERATOR, uid, ops, arg);
}

weir_stream *weir_sink(weir_stream *in, const char *uid, const struct weir_operator_ops *ops,
                       void *arg)
{
    return add_operator(in, NODE_SINK, uid, ops, arg);
}

void weir_stream_own_arg(weir_stream *s, void (*free_arg)(void *))
{
    if (s && s->n == 1)
        s->src[0].node->free_arg = free_arg;
}

void weir_stream_io_path(weir_stream *s, enum weir_io_role role, const char *path)
{
    if (!s || s->n != 1 || !path)
        return;
    struct node *n = s->src[0].node;
    free(n->io_path);
    n->io_path = strdup(path);
    n->io_writes = role == WEIR_IO_WRITES;
    if (!n->io_path)
        job_fail(s->job, "out of memory while building the job");
}

static weir_stream *with_part(weir_stream *in, enum part part, weir_key_fn key, const char *what)
{
    if (!in)
        return NULL;
    if (part == PART_HASH && !key) {
        job_fail(in->job, "key_by: no key function");
        return NULL;
    }
    weir_stream *s = stream_new(in->job, in->n);
    if (!s)
        return NULL;
    for (int i = 0; i < in->n; i++)
        s->src[i] = (struct stream_src){
            .node = in->src[i].node, .part = part, .key = key, .tag = in->src[i].tag};
    return s;
}

weir_stream *weir_key_by(weir_stream *in, weir_key_fn key)
{
    return with_part(in, PART_HASH, key, "key_by");
}

weir_stream *weir_rebalance(weir_stream *in)
{
    return with_part(in, PART_REBALANCE, NULL, "rebalance");
}

weir_stream *weir_broadcast(weir_stream *in)
{
    return with_part(in, PART_BROADCAST, NULL, "broadcast");
}

weir_stream *weir_forward(weir_stream *in)
{
    return with_part(in, PART_FORWARD, NULL, "forward");
}

weir_stream *weir_union(weir_stream *a, weir_stream *b)
{
    if (!a || !b)
        return NULL;
    if (a->job != b->job) {
        job_fail(a->job, "union of streams from two different jobs");
        return NULL;
    }
    weir_stream *s = stream_new(a->job, a->n + b->n);
    if (!s)
        return NULL;
    memcpy(s->src, a->src, (size_t)a->n * sizeof a->src[0]);
    memcpy(s->src + a->n, b->src, (size_t)b->n * sizeof b->src[0]);
    return s;
}

static struct node *only_node(weir_stream *s, const char *what)
{
    if (!s)
        return NULL;
    if (s->n != 1) {
        job_fail(s->job, "%s applies to one operator's stream, not to a union of %d", what, s->n);
        return NULL;
    }
    return s->src[0].node;
}

weir_stream *weir_set_parallelism(weir_stream *s, int parallelism)
{
    struct node *n = only_node(s, "set_parallelism");
    if (!n)
        return NULL;
    if (parallelism < 1) {
        job_fail(s->job, "operator \"%s\": parallelism %d: must be at least 1", n->uid,
                 parallelism);
        return NULL;
    }
    n->parallelism = parallelism;
    return s;
}

weir_stream *weir_set_name(weir_stream *s, const char *name)
{
    struct node *n = only_node(s, "set_name");
    if (!n || !name)
        return n ? s : NULL;
    char *copy = strdup(name);
    if (!copy) {
        job_fail(s->job, "out of memory while building the job");
        return NULL;
    }
    free(n->name);
    n->name = copy;
    return s;
}

/* --- map, filter, flat_map: operators over a plain function ---------------- */

static int fn_process(weir_ctx *ctx, void *state, int input, const weir_rec *in, weir_emit *out)
{
    weir_process_fn fn = *(weir_process_fn *)weir_ctx_arg(ctx);
    return fn(ctx, in, out);
}

static int filter_process(weir_ctx *ctx, void *state, int input, const weir_rec *in, weir_emit *out)
{
    weir_filter_fn fn = *(weir_filter_fn *)weir_ctx_arg(ctx);
    int keep = fn(ctx, in);
    if (keep > 0)
        return weir_emit_forward(out, in);
    return keep;
}

static const struct weir_operator_ops map_ops = {.kind = "map", .process = fn_process};
static const struct weir_operator_ops flat_map_ops = {.kind = "flat_map", .process = fn_process};
static const struct weir_operator_ops filter_ops = {.kind = "filter", .process = filter_process};

static weir_stream *fn_operator(weir_stream *in, const char *uid,
                                const struct weir_operator_ops *ops, const void *fn, size_t size)
{
    if (!in)
        return NULL;
    if (!*(void *const *)fn) {
        job_fail(in->job, "%s \"%s\": no function given", ops->kind, uid ? uid : "");
        return NULL;
    }
    void *copy = malloc(size);
    if (!copy) {
        job_fail(in->job, "out of memory while building the job");
        return NULL;
    }
    memcpy(copy, fn, size);
    weir_stream *s = weir_transform(in, uid, ops, copy);
    if (!s) {
        free(copy);
        return NULL;
    }
    weir_stream_own_arg(s, free);
    return s;
}

weir_stream *weir_map(weir_stream *in, const char *uid, weir_process_fn fn)
{
    return fn_operator(in, uid, &map_ops, &fn, sizeof fn);
}

weir_stream *weir_flat_map(weir_stream *in, const char *uid, weir_process_fn fn)
{
    return fn_operator(in, uid, &flat_map_ops, &fn, sizeof fn);
}

weir_stream *weir_filter(weir_stream *in, const char *uid, weir_filter_fn fn)
{
    return fn_operator(in, uid, &filter_ops, &fn, sizeof fn);
}

/* --- keyed operators, side outputs, watermarks (operator.h) ------------------ */

static bool all_keyed(weir_stream *in, const char *uid)
{
    for (int i = 0; i < in->n; i++) {
        if (in->src[i].part != PART_HASH) {
            job_fail(in->job,
                     "keyed operator \"%s\": its input from \"%s\" is not keyed; apply "
                     "weir_key_by first",
                     uid ? uid : "", in->src[i].node->uid);
            return false;
        }
    }
    return true;
}

static struct node *last_node(weir_stream *s)
{
    return s && s->n == 1 ? s->src[0].node : NULL;
}

weir_stream *weir_keyed_transform(weir_stream *keyed, const char *uid,
                                  const struct weir_operator_ops *ops,
                                  const struct weir_keyed_ops *kops, void *arg)
{
    if (!keyed || !all_keyed(keyed, uid))
        return NULL;
    weir_stream *s = weir_transform(keyed, uid, ops, arg);
    struct node *n = last_node(s);
    if (n) {
        n->keyed = true;
        n->kops = kops;
    }
    return s;
}

weir_stream *weir_keyed_connect(weir_stream *a, weir_stream *b, const char *uid,
                                const struct weir_operator_ops *ops,
                                const struct weir_keyed_ops *kops, void *arg)
{
    if (!a || !b)
        return NULL;
    weir_job *job = a->job;
    if (b->job != job) {
        job_fail(job, "connect \"%s\": streams from two different jobs", uid ? uid : "");
        return NULL;
    }
    if (!all_keyed(a, uid) || !all_keyed(b, uid))
        return NULL;
    if (!ops || !ops->process) {
        job_fail(job, "operator \"%s\": no process function", uid ? uid : "");
        return NULL;
    }
    if (!state_mode_ok(job, uid, ops->state_mode, ops->restore_items))
        return NULL;
    struct node *n = node_new(job, NODE_OPERATOR, uid, ops->kind);
    if (!n || connect(a, n, 0) < 0 || connect(b, n, 1) < 0)
        return NULL;
    n->op = ops;
    n->arg = arg;
    n->keyed = true;
    n->kops = kops;
    return single(job, n);
}

weir_stream *weir_side_output(weir_stream *s, const char *tag)
{
    struct node *n = only_node(s, "side_output");
    if (!n)
        return NULL;
    if (!tag || !*tag) {
        job_fail(s->job, "side output of \"%s\": empty tag", n->uid);
        return NULL;
    }
    const char *name = NULL;
    for (int i = 0; i < n->n_tags; i++)
        if (!strcmp(n->tags[i], tag))
            name = n->tags[i];
    if (!name) {
        char **tags = realloc(n->tags, (size_t)(n->n_tags + 1) * sizeof *tags);
        char *copy = strdup(tag);
        if (tags)
            n->tags = tags;
        if (!tags || !copy) {
            free(copy);
            job_fail(s->job, "out of memory while building the job");
            return NULL;
        }
        name = n->tags[n->n_tags++] = copy;
    }
    weir_stream *out = stream_new(s->job, 1);
    if (!out)
        return NULL;
    out->src[0] = (struct stream_src){.node = n, .part = PART_DEFAULT, .tag = name};
    return out;
}

weir_stream *weir_assign_watermarks(weir_stream *source, const struct weir_watermark_strategy *ws)
{
    struct node *n = only_node(source, "assign_watermarks");
    if (!n)
        return NULL;
    if (n->type != NODE_SOURCE) {
        job_fail(source->job, "assign_watermarks: \"%s\" is not a source", n->uid);
        return NULL;
    }
    if (!ws || ws->max_out_of_orderness_ms < 0 || ws->idleness_ms < 0 ||
        (ws->alignment_group && ws->alignment_max_drift_ms <= 0)) {
        job_fail(source->job,
                 "assign_watermarks \"%s\": out-of-orderness and idleness must be >= 0 and an "
                 "alignment group needs a positive max drift",
                 n->uid);
        return NULL;
    }
    free(n->wms_copy);
    n->wms_copy = malloc(sizeof *n->wms_copy);
    if (!n->wms_copy) {
        job_fail(source->job, "out of memory while building the job");
        return NULL;
    }
    *n->wms_copy = *ws;
    n->wms = n->wms_copy;
    return source;
}
