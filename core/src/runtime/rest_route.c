/*
 * The REST API's routing: one line per route, a method, a path pattern and its handler.
 * A pattern's ":name" segment matches any one segment: :jobid (checked here: 400 when it is
 * not 32 hex digits, 404 when it is not this job's), :vertexid, :checkpointid, :triggerid
 * (checked by their handlers). The first pattern in the table that matches the path names
 * the resource; the method picks among the lines with that pattern, and a method none of
 * them takes is answered 405 with their methods in Allow, as Flink's router does.
 *
 * POST and PATCH bodies are parsed here: empty means {} (as Flink reads one), anything else
 * must be a JSON object, or the answer is 400 with the parser's message. Handlers check
 * their fields.
 */
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "rest_private.h"

struct endpoint {
    const char *method;
    const char *pattern;
    rest_fn fn;
};

static const struct endpoint ROUTES[] = {
    {"GET", "/overview", rest_get_overview},
    {"GET", "/config", rest_get_config},
    {"GET", "/jobs", rest_get_jobs},
    {"GET", "/jobs/overview", rest_get_jobs_overview},
    {"GET", "/taskmanagers/localhost", rest_get_taskmanager}, /* the one, as subtasks name it */
    {"GET", "/jobs/:jobid", rest_get_job},
    {"PATCH", "/jobs/:jobid", rest_patch_job},
    {"GET", "/jobs/:jobid/config", rest_get_job_config},
    {"GET", "/jobs/:jobid/exceptions", rest_get_exceptions},
    {"GET", "/jobs/:jobid/checkpoints", rest_get_checkpoints},
    {"POST", "/jobs/:jobid/checkpoints", rest_post_checkpoint},
    {"GET", "/jobs/:jobid/checkpoints/config", rest_get_checkpoint_config},
    {"GET", "/jobs/:jobid/checkpoints/details/:checkpointid", rest_get_checkpoint_details},
    {"GET", "/jobs/:jobid/checkpoints/:triggerid", rest_get_checkpoint_trigger},
    {"POST", "/jobs/:jobid/savepoints", rest_post_savepoint},
    {"GET", "/jobs/:jobid/savepoints/:triggerid", rest_get_savepoint},
    {"POST", "/jobs/:jobid/stop", rest_post_stop},
    {"GET", "/jobs/:jobid/vertices/:vertexid", rest_get_vertex},
    {"GET", "/jobs/:jobid/vertices/:vertexid/watermarks", rest_get_watermarks},
    {"GET", "/jobs/:jobid/watermark-diagnosis", rest_get_wm_diagnosis}, /* weir only */
};
#define N_ROUTES (sizeof ROUTES / sizeof ROUTES[0])

#define MAX_SEGMENTS 8
#define SEGMENT_LEN  128

int rest_errors(json_t **doc, int status, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    *doc = json_pack("{s:[s]}", "errors", msg);
    return status;
}

bool rest_is_id(const char *s)
{
    size_t n = strlen(s);
    if (n != 32)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') ||
              (s[i] >= 'A' && s[i] <= 'F')))
            return false;
    return true;
}

/* The path's segments into seg (each NUL-terminated); their count, or -1 when the path has
 * too many, an empty one or one too long. "/" has none. */
static int split(const char *path, char seg[MAX_SEGMENTS][SEGMENT_LEN])
{
    int n = 0;
    if (strcmp(path, "/") == 0)
        return 0;
    while (*path == '/') {
        const char *s = path + 1;
        size_t len = strcspn(s, "/");
        if (len == 0 || len >= SEGMENT_LEN || n == MAX_SEGMENTS)
            return -1;
        memcpy(seg[n], s, len);
        seg[n++][len] = '\0';
        path = s + len;
    }
    return *path ? -1 : n;
}

/* Whether pattern matches the n segments; its parameters go to c (and the job id to job). */
static bool match(const char *pattern, char seg[MAX_SEGMENTS][SEGMENT_LEN], int n,
                  struct rest_call *c, const char **job)
{
    int i = 0;
    const char *p = pattern;
    struct rest_call got = *c;
    const char *jid = NULL;
    while (*p == '/') {
        const char *s = p + 1;
        size_t len = strcspn(s, "/");
        if (i == n)
            return false;
        if (*s == ':') {
            if (strncmp(s, ":jobid", len) == 0)
                jid = seg[i];
            else if (strncmp(s, ":vertexid", len) == 0)
                got.vertex = seg[i];
            else if (strncmp(s, ":checkpointid", len) == 0)
                got.checkpoint = seg[i];
            else if (strncmp(s, ":triggerid", len) == 0)
                got.trigger = seg[i];
        } else if (strlen(seg[i]) != len || strncmp(s, seg[i], len) != 0) {
            return false;
        }
        i++;
        p = s + len;
    }
    if (i != n)
        return false;
    *c = got;
    *job = jid;
    return true;
}

/* The methods of every line with pattern, "GET, PATCH" (HEAD with GET). */
static void allowed(const char *pattern, char *buf, size_t cap)
{
    size_t n = 0;
    buf[0] = '\0';
    for (size_t r = 0; r < N_ROUTES; r++)
        if (strcmp(ROUTES[r].pattern, pattern) == 0) {
            bool get = strcmp(ROUTES[r].method, "GET") == 0;
            int w = snprintf(buf + n, cap - n, "%s%s%s", n ? ", " : "", ROUTES[r].method,
                             get ? ", HEAD" : "");
            if (w < 0 || (size_t)w >= cap - n)
                return;
            n += (size_t)w;
        }
}

/* The body of a POST or PATCH: {} when empty, else a JSON object or a 400. */
static int parse_body(struct rest_call *c, json_t **doc)
{
    const char *b = c->req->body;
    size_t n = c->req->body_len;
    while (n && (*b == ' ' || *b == '\n' || *b == '\r' || *b == '\t'))
        b++, n--;
    if (n == 0) {
        c->body = json_object();
        return c->body ? 0 : -ENOMEM;
    }
    json_error_t e;
    c->body = json_loadb(b, n, JSON_REJECT_DUPLICATES, &e);
    if (!c->body)
        return rest_errors(doc, 400,
                           "Bad request: the body is not JSON: %s (line %d, column %d).", e.text,
                           e.line, e.column);
    if (!json_is_object(c->body))
        return rest_errors(doc, 400, "Bad request: the body must be a JSON object.");
    return 0;
}

static int route(struct job_live *l, struct rest_call *c, json_t **doc)
{
    static char allow[64]; /* the server's one thread, under live->lock */
    char seg[MAX_SEGMENTS][SEGMENT_LEN];
    int n = split(c->path, seg);
    const char *pattern = NULL, *job = NULL;
    for (size_t r = 0; r < N_ROUTES && n >= 0 && !pattern; r++)
        if (match(ROUTES[r].pattern, seg, n, c, &job))
            pattern = ROUTES[r].pattern;
    if (!pattern)
        return rest_errors(doc, 404, "Not found: %s", c->path);
    const struct endpoint *hit = NULL;
    for (size_t r = 0; r < N_ROUTES && !hit; r++)
        if (strcmp(ROUTES[r].pattern, pattern) == 0 &&
            strcmp(ROUTES[r].method, c->req->method) == 0)
            hit = &ROUTES[r];
    if (!hit) {
        allowed(pattern, allow, sizeof allow);
        c->req->allow = allow;
        return rest_errors(doc, 405, "Method %s not allowed on %s: it takes %s.", c->req->method,
                           c->path, allow);
    }
    if (job && !rest_is_id(job))
        return rest_errors(doc, 400,
                           "Bad request: jobid '%s' is not a job id (32 hexadecimal characters).",
                           job);
    if (job && strcasecmp(job, l->id) != 0)
        return rest_errors(doc, 404, "Job %s not found.", job);
    if (strcmp(hit->method, "GET") != 0) {
        int rc = parse_body(c, doc);
        if (rc != 0)
            return rc;
    }
    return hit->fn(l, c, doc);
}

/* weir_rest_handle_fn */
int rest_handle(void *arg, struct weir_rest_request *req, char **body, size_t *len)
{
    struct job_live *l = arg;
    json_t *doc = NULL;
    struct rest_call c = {.req = req, .path = req->path};
    pthread_mutex_lock(&l->lock);
    int status = route(l, &c, &doc);
    pthread_mutex_unlock(&l->lock);
    json_decref(c.body);
    if (status < 0 || !doc) {
        json_decref(doc);
        return -ENOMEM;
    }
    *body = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    if (!*body)
        return -ENOMEM;
    *len = strlen(*body);
    return status;
}
