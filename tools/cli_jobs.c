/* weir list, savepoint, stop, cancel, checkpoint, why-late: see cli_jobs.h. */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <weir/config.h>

#include "cli.h"
#include "cli_jobs.h"
#include "cli_rest.h"
#include "registry.h"

/* ---- registration by weir run ------------------------------------------------------ */

static char reg_name[128];
static char reg_path[PATH_MAX];

void cli_jobs_register_name(const char *name)
{
    snprintf(reg_name, sizeof reg_name, "%s", name);
}

void cli_jobs_on_rest(void *arg, const char *job_id, const char *url)
{
    (void)arg;
    struct registry_entry e = {0};
    char err[PATH_MAX + 256];
    registry_self(&e);
    snprintf(e.id, sizeof e.id, "%s", job_id);
    snprintf(e.name, sizeof e.name, "%s", reg_name);
    snprintf(e.url, sizeof e.url, "%s", url);
    if (registry_add(&e, reg_path, sizeof reg_path, err, sizeof err) < 0) {
        reg_path[0] = 0;
        fprintf(stderr, "weir: %s (`weir list` will not show this job)\n", err);
    }
}

void cli_jobs_unregister(void)
{
    if (reg_path[0])
        unlink(reg_path);
    reg_path[0] = 0;
}

/* ---- the command line ---------------------------------------------------------------- */

struct verb {
    const char *name; /* "savepoint" */
    const char *m;    /* -m HOST:PORT, or NULL: the registry */
    const char *id;   /* JOBID, or a prefix of one */
    const char *dir;  /* savepoint DIR, stop --savepointPath */
    bool drain, full, json;
    char base[320]; /* the REST URL of -m */
};

static void usage(FILE *out)
{
    fprintf(out, "usage: weir list [-m HOST:PORT]\n"
                 "       weir savepoint [-m HOST:PORT] JOBID [DIR]\n"
                 "       weir stop [-m HOST:PORT] [-p|--savepointPath DIR] [-d|--drain] JOBID\n"
                 "       weir cancel [-m HOST:PORT] JOBID\n"
                 "       weir checkpoint [-m HOST:PORT] [--full] JOBID\n"
                 "       weir why-late [-m HOST:PORT] [--json] JOBID\n"
                 "Each also takes -c FILE and -D rest.auth.token-file=PATH (or WEIR_REST_TOKEN)\n"
                 "for a job whose REST API wants a bearer token. Without -m, the jobs running\n"
                 "on this host are found in the job registry (WEIR_RUNTIME_DIR, else\n"
                 "XDG_RUNTIME_DIR/weir, /run/weir, /tmp/weir-UID); a unique prefix of a job id\n"
                 "will do.\n");
}

/* -c and -D: the token file of rest.auth.token-file. 0 or -1 after one line. */
static int load_token(const char *file, const char **defs, int n_defs)
{
    static const char key[] = "rest.auth.token-file";
    if (!file && !n_defs)
        return 0;
    char err[512];
    int rc = -1;
    weir_config *cfg = weir_config_new();
    if (!cfg)
        return -1;
    if (file && weir_config_load_file(cfg, file, err, sizeof err) < 0)
        goto out;
    for (int d = 0; d < n_defs; d++)
        if (weir_config_set_kv(cfg, defs[d], err, sizeof err) < 0)
            goto out;
    rc = 0;
    if (weir_config_key_find(key) && *weir_config_get_str(cfg, key))
        rc = cli_rest_token_file(weir_config_get_str(cfg, key));
    weir_config_free(cfg);
    return rc;
out:
    fprintf(stderr, "weir: %s\n", err);
    weir_config_free(cfg);
    return -1;
}

/* 0, or EXIT_USAGE after one line. */
static int parse(int argc, char **argv, struct verb *v)
{
    const char *defs[64], *file = NULL;
    int n_defs = 0;
    bool is_stop = !strcmp(v->name, "stop");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_val = !strcmp(a, "-m") || !strcmp(a, "--jobmanager") || !strcmp(a, "-c") ||
                       !strcmp(a, "--config") || !strcmp(a, "-D") ||
                       (is_stop && (!strcmp(a, "-p") || !strcmp(a, "--savepointPath")));
        if (has_val && i + 1 >= argc) {
            fprintf(stderr, "weir: %s: %s needs a value\n", v->name, a);
            return EXIT_USAGE;
        }
        if (!strcmp(a, "-m") || !strcmp(a, "--jobmanager"))
            v->m = argv[++i];
        else if (!strcmp(a, "-c") || !strcmp(a, "--config"))
            file = argv[++i];
        else if (!strncmp(a, "-D", 2) && n_defs < 64)
            defs[n_defs++] = a[2] ? a + 2 : argv[++i];
        else if (is_stop && (!strcmp(a, "-p") || !strcmp(a, "--savepointPath")))
            v->dir = argv[++i];
        else if (is_stop && (!strcmp(a, "-d") || !strcmp(a, "--drain")))
            v->drain = true;
        else if (!strcmp(v->name, "checkpoint") && (!strcmp(a, "--full") || !strcmp(a, "-full")))
            v->full = true;
        else if (!strcmp(v->name, "why-late") && !strcmp(a, "--json"))
            v->json = true;
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            exit(0);
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "weir: %s: unknown option \"%s\"\n", v->name, a);
            usage(stderr);
            return EXIT_USAGE;
        } else if (!v->id && strcmp(v->name, "list"))
            v->id = a;
        else if (!v->dir && !strcmp(v->name, "savepoint"))
            v->dir = a;
        else {
            fprintf(stderr, "weir: %s: unexpected argument \"%s\"\n", v->name, a);
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (!v->id && strcmp(v->name, "list")) {
        fprintf(stderr, "weir: %s: no JOBID given; `weir list` shows the running jobs\n",
                v->name);
        return EXIT_USAGE;
    }
    if (v->m)
        snprintf(v->base, sizeof v->base, "%s%s", strstr(v->m, "://") ? "" : "http://", v->m);
    return load_token(file, defs, n_defs) < 0 ? EXIT_USAGE : 0;
}

/* ---- finding the job ------------------------------------------------------------------- */

struct job {
    struct registry_entry e;
    char state[32];
};

static bool terminal(const char *state)
{
    return !strcmp(state, "FINISHED") || !strcmp(state, "CANCELED") || !strcmp(state, "FAILED");
}

static const char *str(const json_t *o, const char *key, const char *def)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : def;
}

/* The jobs of GET base/jobs/overview appended to *jobs. 0 or -1 with err. */
static int fetch_overview(const char *base, struct job **jobs, int *n, char *err, size_t errlen)
{
    struct rest_reply r;
    if (rest_call("GET", base, "/jobs/overview", NULL, &r) < 0 || r.status != 200) {
        snprintf(err, errlen, "%s", r.status ? rest_reply_error(&r) : r.err);
        rest_reply_free(&r);
        return -1;
    }
    json_t *arr = json_object_get(r.doc, "jobs"), *j;
    size_t i;
    struct job *m = realloc(*jobs, (*n + json_array_size(arr) + 1) * sizeof *m);
    if (!m) {
        snprintf(err, errlen, "out of memory");
        rest_reply_free(&r);
        return -1;
    }
    *jobs = m;
    json_array_foreach(arr, i, j)
    {
        struct job *o = &m[(*n)++];
        memset(o, 0, sizeof *o);
        snprintf(o->e.id, sizeof o->e.id, "%s", str(j, "jid", ""));
        snprintf(o->e.name, sizeof o->e.name, "%s", str(j, "name", ""));
        snprintf(o->state, sizeof o->state, "%s", str(j, "state", "UNKNOWN"));
        snprintf(o->e.url, sizeof o->e.url, "%s", base);
        o->e.start_ms = json_integer_value(json_object_get(j, "start-time"));
    }
    rest_reply_free(&r);
    return 0;
}

/* The jobs of -m, or of the registry with the state each one's REST API reports. 0, or
 * EXIT_FAILED after one line. */
static int find_jobs(const struct verb *v, struct job **jobs, int *n)
{
    char err[PATH_MAX + 600];
    *jobs = NULL;
    *n = 0;
    if (v->m) {
        if (fetch_overview(v->base, jobs, n, err, sizeof err) == 0)
            return 0;
        fprintf(stderr, "weir: %s: -m %s: %s\n", v->name, v->m, err);
        return EXIT_FAILED;
    }
    struct registry_entry *es;
    int ne;
    if (registry_list(&es, &ne, err, sizeof err) < 0) {
        fprintf(stderr, "weir: %s: %s\n", v->name, err);
        return EXIT_FAILED;
    }
    *jobs = calloc((size_t)ne + 1, sizeof **jobs);
    if (!*jobs) {
        free(es);
        fprintf(stderr, "weir: %s: out of memory\n", v->name);
        return EXIT_FAILED;
    }
    for (int i = 0; i < ne; i++) {
        struct job *j = &(*jobs)[(*n)++];
        j->e = es[i];
        snprintf(j->state, sizeof j->state, "UNKNOWN");
        struct rest_reply r;
        if (rest_call("GET", es[i].url, "/jobs/overview", NULL, &r) == 0 && r.status == 200) {
            json_t *first = json_array_get(json_object_get(r.doc, "jobs"), 0);
            const char *s = json_string_value(json_object_get(first, "state"));
            if (s)
                snprintf(j->state, sizeof j->state, "%s", s);
        }
        rest_reply_free(&r);
    }
    free(es);
    return 0;
}

/* Where the jobs were looked for, for the line that says one is not there. */
static void where(const struct verb *v, char *buf, size_t len)
{
    char dir[PATH_MAX], err[PATH_MAX + 256];
    if (v->m)
        snprintf(buf, len, "at %s", v->m);
    else if (registry_dir(dir, sizeof dir, 0, err, sizeof err) >= 0)
        snprintf(buf, len, "on this host (job registry %s)", dir);
    else
        snprintf(buf, len, "on this host");
}

/* The one running job whose id starts with v->id into *out. 0, or EXIT_FAILED after one
 * line: none (naming `weir list`), several, or not running any more. */
static int resolve(const struct verb *v, struct job *out)
{
    struct job *jobs;
    int n, found = -1, matches = 0;
    int rc = find_jobs(v, &jobs, &n);
    if (rc)
        return rc;
    size_t len = strlen(v->id);
    for (int i = 0; i < n; i++) {
        if (!len || strncasecmp(jobs[i].e.id, v->id, len))
            continue;
        found = i;
        if (strlen(jobs[i].e.id) == len) {
            matches = 1; /* a whole id is never ambiguous */
            break;
        }
        matches++;
    }
    char loc[PATH_MAX + 64];
    where(v, loc, sizeof loc);
    if (found < 0)
        fprintf(stderr, "weir: %s: no running job \"%s\" %s; `weir list%s%s` shows the running "
                        "jobs\n",
                v->name, v->id, loc, v->m ? " -m " : "", v->m ? v->m : "");
    else if (matches > 1)
        fprintf(stderr, "weir: %s: \"%s\" is the start of %d job ids %s; give more of the id "
                        "(`weir list` shows them)\n",
                v->name, v->id, matches, loc);
    else if (terminal(jobs[found].state))
        fprintf(stderr, "weir: %s: job %s (%s) is not running: it is %s\n", v->name,
                jobs[found].e.id, jobs[found].e.name, jobs[found].state);
    else
        *out = jobs[found];
    rc = found < 0 || matches > 1 || terminal(jobs[found].state) ? EXIT_FAILED : 0;
    free(jobs);
    return rc;
}

/* ---- the verbs ----------------------------------------------------------------------- */

static int cmd_list(struct verb *v)
{
    struct job *jobs;
    int n, shown = 0;
    int rc = find_jobs(v, &jobs, &n);
    if (rc)
        return rc;
    for (int i = 0; i < n; i++) {
        if (terminal(jobs[i].state))
            continue;
        if (!shown++)
            printf("------------------ Running/Restarting Jobs -------------------\n");
        char when[64] = "";
        time_t t = (time_t)(jobs[i].e.start_ms / 1000);
        struct tm tm;
        if (localtime_r(&t, &tm))
            strftime(when, sizeof when, "%d.%m.%Y %H:%M:%S", &tm);
        printf("%s : %s : %s (%s)\n", when, jobs[i].e.id, jobs[i].e.name, jobs[i].state);
    }
    if (shown)
        printf("--------------------------------------------------------------\n");
    else
        printf("No running jobs.\n");
    free(jobs);
    return 0;
}

/* The first line of an operation's failure cause: Flink's {"class", "stack-trace"} (or a
 * plain string). */
static void cause_text(const json_t *op, char *buf, size_t len)
{
    const json_t *c = json_object_get(op, "failure-cause");
    if (!c)
        c = json_object_get(op, "failureCause"); /* the checkpoint trigger's spelling */
    const char *s = json_string_value(c);
    if (!s)
        s = str(c, "stack-trace", NULL);
    if (!s)
        s = str(c, "message", NULL);
    if (!s)
        s = str(c, "class", "no cause given");
    snprintf(buf, len, "%.*s", (int)strcspn(s, "\n"), s);
}

/* POSTs or PATCHes path with body (taken) and wants 202 (or 200). Returns the reply's
 * request-id into trigger (when trigger) and 0, or EXIT_FAILED after one line. */
static int call(const struct verb *v, const struct job *j, const char *method, const char *path,
                json_t *body, char *trigger, size_t len)
{
    struct rest_reply r;
    int rc = rest_call(method, j->e.url, path, body, &r);
    json_decref(body);
    if (rc < 0)
        fprintf(stderr, "weir: %s: job %s: %s\n", v->name, j->e.id, r.err);
    else if (r.status != 202 && r.status != 200)
        fprintf(stderr, "weir: %s: job %s: %s %s: HTTP %ld: %s\n", v->name, j->e.id, method,
                path, r.status, rest_reply_error(&r));
    else if (trigger && !json_is_string(json_object_get(r.doc, "request-id")))
        fprintf(stderr, "weir: %s: job %s: %s %s: the reply has no request-id\n", v->name,
                j->e.id, method, path);
    else {
        if (trigger)
            snprintf(trigger, len, "%s", str(r.doc, "request-id", ""));
        rest_reply_free(&r);
        return 0;
    }
    rest_reply_free(&r);
    return EXIT_FAILED;
}

/* Polls GET path until the operation is no longer IN_PROGRESS: 0 with *op (json_decref)
 * when COMPLETED without a failure cause, else EXIT_FAILED after one line naming what. */
static int poll_op(const struct verb *v, const struct job *j, const char *path, const char *what,
                   json_t **op)
{
    long wait_ms = 20;
    for (;;) {
        struct rest_reply r;
        if (rest_call("GET", j->e.url, path, NULL, &r) < 0) {
            /* a stop ends the job, and its REST API with it */
            fprintf(stderr, "weir: %s: job %s: the job's REST API went away before the %s "
                            "ended: %s\n",
                    v->name, j->e.id, what, r.err);
            return EXIT_FAILED;
        }
        if (r.status != 200) {
            fprintf(stderr, "weir: %s: job %s: GET %s: HTTP %ld: %s\n", v->name, j->e.id, path,
                    r.status, rest_reply_error(&r));
            rest_reply_free(&r);
            return EXIT_FAILED;
        }
        const char *st = str(json_object_get(r.doc, "status"), "id", "");
        if (strcmp(st, "IN_PROGRESS")) {
            bool completed = !strcmp(st, "COMPLETED"); /* st is the reply's: freed next */
            json_t *o = json_incref(json_object_get(r.doc, "operation"));
            rest_reply_free(&r);
            if (completed && !json_object_get(o, "failure-cause") &&
                !json_object_get(o, "failureCause")) {
                *op = o;
                return 0;
            }
            char cause[512];
            cause_text(o, cause, sizeof cause);
            json_decref(o);
            fprintf(stderr, "weir: %s: job %s: the %s failed: %s\n", v->name, j->e.id, what,
                    cause);
            return EXIT_FAILED;
        }
        rest_reply_free(&r);
        struct timespec ts = {.tv_nsec = wait_ms * 1000000};
        nanosleep(&ts, NULL);
        wait_ms = wait_ms * 2 > 500 ? 500 : wait_ms * 2;
    }
}

/* A relative DIR is the caller's: the job may run in another directory. */
static json_t *dir_value(const char *dir)
{
    char cwd[PATH_MAX], abs[2 * PATH_MAX];
    if (!dir || dir[0] == '/' || strstr(dir, "://") || !getcwd(cwd, sizeof cwd))
        return dir ? json_string(dir) : json_null();
    snprintf(abs, sizeof abs, "%s/%s", cwd, dir);
    return json_string(abs);
}

/* savepoint and stop: trigger, then poll the savepoint's status. */
static int savepoint(const struct verb *v, const struct job *j, bool stop)
{
    char path[256], trigger[128];
    json_t *body = json_object();
    json_t *d = dir_value(v->dir);
    if (stop) {
        printf("Suspending job \"%s\" with a savepoint.\n", j->e.id);
        snprintf(path, sizeof path, "/jobs/%s/stop", j->e.id);
        json_object_set_new(body, "drain", json_boolean(v->drain));
        if (v->dir)
            json_object_set(body, "targetDirectory", d);
    } else {
        printf("Triggering savepoint for job %s.\n", j->e.id);
        snprintf(path, sizeof path, "/jobs/%s/savepoints", j->e.id);
        json_object_set_new(body, "cancel-job", json_false());
        if (v->dir)
            json_object_set(body, "target-directory", d);
    }
    json_decref(d);
    fflush(stdout);
    int rc = call(v, j, "POST", path, body, trigger, sizeof trigger);
    if (rc)
        return rc;
    printf("Waiting for response...\n");
    fflush(stdout);
    json_t *op;
    snprintf(path, sizeof path, "/jobs/%s/savepoints/%s", j->e.id, trigger);
    if ((rc = poll_op(v, j, path, "savepoint", &op)))
        return rc;
    printf("Savepoint completed. Path: %s\n", str(op, "location", "(no location given)"));
    if (!stop)
        printf("You can resume your program from this savepoint with the run command.\n");
    json_decref(op);
    return 0;
}

static int checkpoint(const struct verb *v, const struct job *j)
{
    char path[256], trigger[128];
    json_t *body = json_object(), *op;
    printf("Triggering checkpoint for job %s.\n", j->e.id);
    fflush(stdout);
    if (v->full)
        json_object_set_new(body, "checkpointType", json_string("FULL"));
    snprintf(path, sizeof path, "/jobs/%s/checkpoints", j->e.id);
    int rc = call(v, j, "POST", path, body, trigger, sizeof trigger);
    if (rc)
        return rc;
    printf("Waiting for response...\n");
    fflush(stdout);
    snprintf(path, sizeof path, "/jobs/%s/checkpoints/%s", j->e.id, trigger);
    if ((rc = poll_op(v, j, path, "checkpoint", &op)))
        return rc;
    printf("Checkpoint %lld for job %s completed.\n",
           (long long)json_integer_value(json_object_get(op, "checkpointId")), j->e.id);
    json_decref(op);
    return 0;
}

/* PATCH ?mode=cancel, then wait until the job has ended (or its process, and its REST API
 * with it). */
static int cancel(const struct verb *v, const struct job *j)
{
    char path[256];
    printf("Cancelling job %s.\n", j->e.id);
    fflush(stdout);
    snprintf(path, sizeof path, "/jobs/%s?mode=cancel", j->e.id);
    int rc = call(v, j, "PATCH", path, NULL, NULL, 0);
    if (rc)
        return rc;
    snprintf(path, sizeof path, "/jobs/%s", j->e.id);
    for (long wait_ms = 20;; wait_ms = wait_ms * 2 > 500 ? 500 : wait_ms * 2) {
        struct rest_reply r;
        if (rest_call("GET", j->e.url, path, NULL, &r) < 0)
            break; /* the process ended */
        bool done = r.status != 200 || terminal(str(r.doc, "state", ""));
        rest_reply_free(&r);
        if (done)
            break;
        struct timespec ts = {.tv_nsec = wait_ms * 1000000};
        nanosleep(&ts, NULL);
    }
    printf("Cancelled job %s.\n", j->e.id);
    return 0;
}

int cmd_job_verb(int argc, char **argv)
{
    static const char *const verbs[] = {"list",   "savepoint",  "stop",
                                        "cancel", "checkpoint", "why-late"};
    struct verb v = {0};
    for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
        if (!strcmp(argv[0], verbs[i]))
            v.name = verbs[i];
    if (!v.name)
        return -1;
    int rc = parse(argc, argv, &v);
    if (rc)
        return rc;
    if (!strcmp(v.name, "list"))
        return cmd_list(&v);
    struct job j;
    if ((rc = resolve(&v, &j)))
        return rc;
    if (!strcmp(v.name, "cancel"))
        return cancel(&v, &j);
    if (!strcmp(v.name, "checkpoint"))
        return checkpoint(&v, &j);
    if (!strcmp(v.name, "why-late"))
        return cli_why_late(j.e.id, j.e.url, v.json);
    return savepoint(&v, &j, !strcmp(v.name, "stop"));
}
