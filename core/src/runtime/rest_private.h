/*
 * The REST API's parts inside the runtime: rest_route.c routes a request (the table of
 * paths and methods) to a handler; rest_docs.c answers the reads, rest_ops.c the
 * operations (savepoints, checkpoints, cancel) and the watermarks. Handlers run on the
 * server's thread under live->lock and build a JSON document; none waits on the job.
 */
#ifndef WEIR_REST_PRIVATE_H
#define WEIR_REST_PRIVATE_H

#include <jansson.h>

#include <weir/rest.h>

#include "runtime_private.h"

/* One request as a handler sees it: the path's parameters (NULL when the route has none of
 * that name; :jobid is checked to be this job's before the handler runs) and the body
 * parsed (an object; {} for an empty body) for the methods that take one. */
struct rest_call {
    struct weir_rest_request *req;
    const char *path;
    const char *vertex, *checkpoint, *trigger;
    json_t *body;
};

typedef int (*rest_fn)(struct job_live *l, struct rest_call *c, json_t **doc);

/* rest_route.c: the server's weir_rest_handle_fn; arg is the job_live. */
int rest_handle(void *arg, struct weir_rest_request *req, char **body, size_t *len);

/* rest_route.c: *doc = {"errors": [message]}; returns status. */
int rest_errors(json_t **doc, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* rest_route.c: whether s is 32 hexadecimal digits (a job, vertex or trigger id). */
bool rest_is_id(const char *s);

/* rest_docs.c */
int rest_get_overview(struct job_live *l, struct rest_call *c, json_t **doc);
int rest_get_config(struct job_live *l, struct rest_call *c, json_t **doc);
int rest_get_jobs(struct job_live *l, struct rest_call *c, json_t **doc);
int rest_get_jobs_overview(struct job_live *l, struct rest_call *c, json_t **doc);
int rest_get_job(struct job_live *l, struct rest_call *c, json_t **doc);
int rest_get_job_config(struct job_live *l, struct rest_call *c, json_t **doc);
int rest_get_exceptions(struct job_live *l, struct rest_call *c, json_t **doc);
int rest_get_checkpoints(struct job_live *l, struct rest_call *c, json_t **doc);
int rest_get_checkpoint_config(struct job_live *l, struct rest_call *c, json_t **doc);
int rest_get_checkpoint_details(struct job_live *l, struct rest_call *c, json_t **doc);
int rest_get_vertex(struct job_live *l, struct rest_call *c, json_t **doc);
/* The vertex c->vertex names: its index, or a status with *doc (400 not an id, 404). */
int rest_vertex_find(const struct job_live *l, const struct rest_call *c, json_t **doc,
                     int *index);

/* rest_ops.c */
int rest_post_savepoint(struct job_live *l, struct rest_call *c, json_t **doc);
int rest_post_stop(struct job_live *l, struct rest_call *c, json_t **doc);
int rest_get_savepoint(struct job_live *l, struct rest_call *c, json_t **doc);
int rest_post_checkpoint(struct job_live *l, struct rest_call *c, json_t **doc);
int rest_get_checkpoint_trigger(struct job_live *l, struct rest_call *c, json_t **doc);
int rest_patch_job(struct job_live *l, struct rest_call *c, json_t **doc);
int rest_get_watermarks(struct job_live *l, struct rest_call *c, json_t **doc);
int rest_get_taskmanager(struct job_live *l, struct rest_call *c, json_t **doc);
/* rest_wm.c: weir why-late's document (which source holds the watermark back) */
int rest_get_wm_diagnosis(struct job_live *l, struct rest_call *c, json_t **doc);
/* Frees what the triggers hold (rest_live_stop). */
void rest_triggers_free(struct job_live *l);
/* Once the job has ended (rest_live_stop): waits up to timeout_ms while a cancel-job or
 * stop savepoint's result has not been fetched, so that the client that asked learns where it
 * went (Flink's cluster waits for such results too); true when none is left waiting. */
bool rest_triggers_wait_fetched(struct job_live *l, int timeout_ms);

#endif
