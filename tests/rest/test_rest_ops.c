/*
 * The REST API's operations (core/src/runtime/rest_ops.c, rest_route.c, io/src/rest/rest.c)
 * end to end, as a Flink user drives them with curl: the weir command runs a job with
 * rest.port=0 and the test triggers savepoints and checkpoints, cancels, reads watermarks,
 * and sends what a server must refuse (bad bodies, unknown ids, wrong methods, a body over
 * 64 KiB, requests without the token).
 *
 * The documents are Flink's (its REST reference): TriggerResponse {"request-id"},
 * AsynchronousOperationResult {"status": {"id"}, "operation"} with SavepointInfo
 * {"location"} or {"failure-cause"} and CheckpointInfo {"checkpointId"} or {"failureCause"},
 * a SerializedThrowable {"class", "stack-trace", "serialized-throwable"}, and the watermarks
 * [{"id": "<subtask>.currentInputWatermark", "value"}].
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <curl/curl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rest_client.h"
#include "weir_test.h"

#define REST0 "-D", "rest.port=0"
#define NO_WATERMARK "-9223372036854775808"

static const char SPEC_TRIGGERED[] = "{\"request-id\":\"string\"}";
static const char SPEC_SAVEPOINT_DONE[] =
    "{\"status\":{\"id\":\"string\"},\"operation\":{\"location\":\"string\"}}";
static const char SPEC_SAVEPOINT_FAILED[] =
    "{\"status\":{\"id\":\"string\"},\"operation\":{\"failure-cause\":{\"class\":\"string\","
    "\"stack-trace\":\"string\",\"serialized-throwable\":\"string\"}}}";
static const char SPEC_CHECKPOINT_DONE[] =
    "{\"status\":{\"id\":\"string\"},\"operation\":{\"checkpointId\":\"int\"}}";
static const char SPEC_CHECKPOINT_FAILED[] =
    "{\"status\":{\"id\":\"string\"},\"operation\":{\"failureCause\":{\"class\":\"string\","
    "\"stack-trace\":\"string\",\"serialized-throwable\":\"string\"}}}";

/* method path with body; fails unless the status is want. */
static json_t *send_json(const struct weir_proc *p, const char *method, const char *body, long want,
                    const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static json_t *send_json(const struct weir_proc *p, const char *method, const char *body, long want,
                    const char *fmt, ...)
{
    char path[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(path, sizeof path, fmt, ap);
    va_end(ap);
    struct rest_opts o = {.method = method, .body = body};
    long status = 0;
    json_t *doc = call(p, &o, &status, "%s", path);
    if (status != want) {
        char *s = json_dumps(doc, 0);
        dump_log(p);
        fail_msg("%s %s %s: %ld, expected %ld: %s", method, path, body ? body : "", status, want,
                 s ? s : "");
    }
    return doc;
}

/* POST kind ("savepoints", "checkpoints") with body: 202 and Flink's {"request-id"}. */
static void trigger(const struct weir_proc *p, const char *kind, const char *body, char id[33])
{
    json_t *d = send_json(p, "POST", body, 202, "/jobs/%s/%s", p->jid, kind);
    check_shape(d, SPEC_TRIGGERED, "trigger");
    const char *rid = str_at(d, "request-id");
    assert_int_equal(strlen(rid), 32);
    snprintf(id, 33, "%s", rid);
    json_decref(d);
}

/* GET the trigger's status until COMPLETED (120 s at most); IN_PROGRESS meanwhile. */
static json_t *wait_trigger(struct weir_proc *p, const char *kind, const char *id)
{
    for (int i = 0; i < 1200; i++) {
        json_t *d = get(p, 200, "/jobs/%s/%s/%s", p->jid, kind, id);
        const char *st = str_at(json_object_get(d, "status"), "id");
        if (strcmp(st, "COMPLETED") == 0)
            return d;
        assert_string_equal(st, "IN_PROGRESS");
        assert_true(json_is_null(json_object_get(d, "operation")));
        json_decref(d);
        sleep_ms(100);
    }
    dump_log(p);
    fail_msg("%s %s not COMPLETED after 120 s", kind, id);
    return NULL;
}

static bool has_completed(json_t *ck)
{
    return json_is_object(json_object_get(json_object_get(ck, "latest"), "completed"));
}

static json_int_t completed_count(struct weir_proc *p)
{
    json_t *ck = get(p, 200, "/jobs/%s/checkpoints", p->jid);
    json_int_t n = int_at(json_object_get(ck, "counts"), "completed");
    json_decref(ck);
    return n;
}

static bool log_has(const struct weir_proc *p, const char *what)
{
    FILE *f = fopen(p->log, "r");
    char line[2048];
    bool found = false;
    while (f && !found && fgets(line, sizeof line, f))
        found = strstr(line, what) != NULL;
    if (f)
        fclose(f);
    return found;
}

/* weir exits with want within 60 s, its log saying what. */
static void expect_exit(struct weir_proc *p, int want, const char *what)
{
    int rc = weir_wait_exit(p, 60);
    if (rc != want || !log_has(p, what)) {
        dump_log(p);
        if (rc < 0)
            kill(p->pid, SIGKILL), weir_wait_exit(p, 10);
        fail_msg("weir ended with %d (expected %d), log has \"%s\": %d", rc, want, what,
                 log_has(p, what));
    }
}

/* weir run [extra...] pipeline --unbounded --rate 1000 as p, in scratch directory tag, with
 * checkpoints every interval (NULL: none) into tag/ck; waits for its REST line when wait. The
 * scratch directory's path. */
static const char *run_pipeline(struct weir_proc *p, const char *tag, const char *interval,
                                const char *const *extra, bool wait)
{
    const char *dir = wt_tmp_dir(tag);
    char every[128], ck[4200];
    const char *argv[48] = {QUIET, REST0};
    int n = 0;
    while (argv[n])
        n++;
    if (interval) {
        snprintf(every, sizeof every, "execution.checkpointing.interval=%s", interval);
        snprintf(ck, sizeof ck, "state.checkpoints.dir=%s/ck", dir);
        const char *const chk[] = {"-D", every, "-D", ck};
        for (size_t i = 0; i < 4; i++)
            argv[n++] = chk[i];
    }
    for (; extra && *extra && n < 40; extra++)
        argv[n++] = *extra;
    const char *const job[] = {"pipeline", "--unbounded", "--rate", "1000", NULL};
    for (size_t i = 0; i < 5; i++)
        argv[n++] = job[i];
    weir_start(p, tag, argv);
    if (wait)
        weir_wait_rest(p);
    return dir;
}

/* A savepoint into a directory the request names completes there; the run stopped and
 * started again from its location restores it. */
static void test_savepoint_then_restore(void **state)
{
    (void)state;
    char body[4200], id[33];
    struct weir_proc p;
    const char *dir = run_pipeline(&p, "rest-ops-sp", "200ms", NULL, true);
    snprintf(body, sizeof body, "{\"target-directory\":\"%s/sp\",\"cancel-job\":false}", dir);
    trigger(&p, "savepoints", body, id);
    json_t *d = wait_trigger(&p, "savepoints", id);
    check_shape(d, SPEC_SAVEPOINT_DONE, "savepoint status");
    char loc[4200], want[4200], meta[4300];
    snprintf(loc, sizeof loc, "%s", str_at(json_object_get(d, "operation"), "location"));
    json_decref(d);
    snprintf(want, sizeof want, "%s/sp/savepoint-pipeline-", dir);
    if (strncmp(loc, want, strlen(want)) != 0)
        fail_msg("location %s is not under %s", loc, want);
    struct stat st;
    snprintf(meta, sizeof meta, "%s/_metadata", loc);
    assert_int_equal(stat(meta, &st), 0);
    /* the same savepoint in the statistics */
    d = get(&p, 200, "/jobs/%s/checkpoints", p.jid);
    json_t *sp = json_object_get(json_object_get(d, "latest"), "savepoint");
    assert_string_equal(str_at(sp, "external_path"), loc);
    json_decref(d);
    weir_stop(&p);

    run_pipeline(&p, "rest-ops-sp-2", "200ms", (const char *const[]){"--from-savepoint", loc, NULL},
                 true);
    d = wait_checkpoints(&p, has_completed, "a checkpoint after the restore");
    assert_int_equal(int_at(json_object_get(d, "counts"), "restored"), 1);
    json_t *r = json_object_get(json_object_get(d, "latest"), "restored");
    assert_true(json_is_true(json_object_get(r, "is_savepoint")));
    if (!strstr(str_at(r, "external_path"), strrchr(loc, '/')))
        fail_msg("restored from %s, not %s", str_at(r, "external_path"), loc);
    json_decref(d);
    weir_stop(&p);
}

/* A savepoint into a path that cannot be a directory fails with its cause in the trigger
 * status, and the job runs on and checkpoints, with no failed checkpoint tolerated. */
static void test_savepoint_failure_keeps_job(void **state)
{
    (void)state;
    const char *dir = wt_tmp_dir("rest-ops-spfail");
    char file[4200], body[4300], id[33];
    snprintf(file, sizeof file, "%s/a-file", dir);
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fclose(f);
    struct weir_proc p;
    run_pipeline(&p, "rest-ops-spfail", "200ms",
                 (const char *const[]){"-D", "execution.checkpointing.tolerable-failed-checkpoints=0",
                                       "-D", "restart-strategy.type=none", NULL},
                 true);
    snprintf(body, sizeof body, "{\"target-directory\":\"%s/under\"}", file);
    trigger(&p, "savepoints", body, id);
    json_t *d = wait_trigger(&p, "savepoints", id);
    check_shape(d, SPEC_SAVEPOINT_FAILED, "failed savepoint status");
    const char *cause =
        str_at(json_object_get(json_object_get(d, "operation"), "failure-cause"), "stack-trace");
    if (!strstr(cause, "Not a directory") || !strstr(cause, file) ||
        strncmp(cause, "target-directory: ", 18) != 0)
        fail_msg("failure cause \"%s\" does not say why (target-directory %s is a file)", cause,
                 file);
    json_decref(d);
    json_int_t before = completed_count(&p);
    for (int i = 0; i < 600 && completed_count(&p) < before + 2; i++)
        sleep_ms(100);
    assert_true(completed_count(&p) >= before + 2);
    d = get(&p, 200, "/jobs");
    assert_string_equal(str_at(json_array_get(json_object_get(d, "jobs"), 0), "status"),
                        "RUNNING");
    json_decref(d);
    d = get(&p, 200, "/jobs/%s/exceptions", p.jid);
    if (!json_is_null(json_object_get(d, "root-exception")))
        fail_msg("the job failed: %s", str_at(d, "root-exception"));
    json_decref(d);
    weir_stop(&p);
}

/* cancel-job: the savepoint completes, then the job ends cancelled (weir run says
 * "stopped" and exits 0, as after SIGTERM). */
static void test_savepoint_cancel_job(void **state)
{
    (void)state;
    char body[4300], id[33];
    struct weir_proc p;
    const char *dir = run_pipeline(&p, "rest-ops-spcancel", "1h", NULL, true);
    snprintf(body, sizeof body,
             "{\"target-directory\":\"%s/sp\",\"cancel-job\":true,\"formatType\":\"CANONICAL\"}",
             dir);
    trigger(&p, "savepoints", body, id);
    expect_exit(&p, 0, "job pipeline stopped");
    assert_true(log_has(&p, "savepoint-pipeline-"));
}

/* POST /jobs/:jobid/stop (Flink's stop-with-savepoint): 202 {"request-id"}, the savepoint
 * completes in targetDirectory and the job ends FINISHED (weir run exits 0, "finished"); a
 * body Flink would refuse is refused. */
static void test_stop_with_savepoint(void **state)
{
    (void)state;
    const char *dir = wt_tmp_dir("rest-ops-stop");
    char ck[4200], body[4300], id[33], want[4300];
    snprintf(ck, sizeof ck, "state.checkpoints.dir=%s/ck", dir);
    struct weir_proc p;
    weir_start(&p, "rest-ops-stop",
               (const char *const[]){QUIET, REST0, "-D", "execution.checkpointing.interval=200ms",
                                     "-D", ck, "pipeline", "--unbounded", "--rate", "1000", NULL});
    weir_wait_rest(&p);
    check_errors(send_json(&p, "POST", "{\"drain\":\"yes\"}", 400, "/jobs/%s/stop", p.jid),
                 "drain");
    check_errors(send_json(&p, "POST", "{\"target-directory\":\"x\"}", 400, "/jobs/%s/stop",
                           p.jid),
                 "target-directory");
    snprintf(body, sizeof body, "{\"targetDirectory\":\"%s/sp\",\"drain\":false}", dir);
    trigger(&p, "stop", body, id);
    expect_exit(&p, 0, "job pipeline finished");
    snprintf(want, sizeof want, "stopping with savepoint %s/sp/savepoint-pipeline-", dir);
    if (!log_has(&p, want)) {
        dump_log(&p);
        fail_msg("the log does not say \"%s\"", want);
    }
}

/* A stop whose savepoint cannot be written fails with its cause in the savepoint trigger's
 * status, and the job keeps running. */
static void test_stop_failure_keeps_job(void **state)
{
    (void)state;
    const char *dir = wt_tmp_dir("rest-ops-stopfail");
    char ck[4200], file[4200], body[4300], id[33];
    snprintf(ck, sizeof ck, "state.checkpoints.dir=%s/ck", dir);
    snprintf(file, sizeof file, "%s", wt_tmp_file("rest-ops-stopfail-file", "x"));
    struct weir_proc p;
    weir_start(&p, "rest-ops-stopfail",
               (const char *const[]){QUIET, REST0, "-D", "execution.checkpointing.interval=200ms",
                                     "-D", ck, "pipeline", "--unbounded", "--rate", "1000", NULL});
    weir_wait_rest(&p);
    snprintf(body, sizeof body, "{\"targetDirectory\":\"%s/under\",\"drain\":true}", file);
    trigger(&p, "stop", body, id);
    json_t *d = wait_trigger(&p, "savepoints", id);
    check_shape(d, SPEC_SAVEPOINT_FAILED, "failed stop status");
    const char *cause =
        str_at(json_object_get(json_object_get(d, "operation"), "failure-cause"), "stack-trace");
    if (!strstr(cause, "Not a directory"))
        fail_msg("failure cause \"%s\" does not say why (%s is a file)", cause, file);
    json_decref(d);
    json_int_t before = completed_count(&p);
    for (int i = 0; i < 600 && completed_count(&p) < before + 2; i++)
        sleep_ms(100);
    assert_true(completed_count(&p) >= before + 2); /* the sources went on */
    d = get(&p, 200, "/jobs");
    assert_string_equal(str_at(json_array_get(json_object_get(d, "jobs"), 0), "status"),
                        "RUNNING");
    json_decref(d);
    weir_stop(&p);
}

/* PATCH ?mode=cancel: 202 {}, and the job ends; another mode is refused. */
static void test_cancel(void **state)
{
    (void)state;
    struct weir_proc p;
    run_pipeline(&p, "rest-ops-cancel", NULL, NULL, true);
    check_errors(send_json(&p, "PATCH", NULL, 400, "/jobs/%s?mode=stop", p.jid), "mode=cancel");
    json_t *d = send_json(&p, "PATCH", NULL, 202, "/jobs/%s?mode=cancel", p.jid);
    assert_true(json_is_object(d) && json_object_size(d) == 0);
    json_decref(d);
    expect_exit(&p, 0, "job pipeline stopped");
}

/* POST /checkpoints (Flink 1.19): a checkpoint now, its id in the status, its statistics in
 * the history; the kind the job does not take is refused. */
static void test_checkpoint_trigger(void **state)
{
    (void)state;
    char id[33];
    struct weir_proc p;
    run_pipeline(&p, "rest-ops-chk", "1h", NULL, true);
    check_errors(send_json(&p, "POST", "{\"checkpointType\":\"INCREMENTAL\"}", 400,
                      "/jobs/%s/checkpoints", p.jid),
                 "state.backend.incremental");
    trigger(&p, "checkpoints", "{\"checkpointType\":\"FULL\"}", id);
    json_t *d = wait_trigger(&p, "checkpoints", id);
    check_shape(d, SPEC_CHECKPOINT_DONE, "checkpoint status");
    json_int_t cid = int_at(json_object_get(d, "operation"), "checkpointId");
    assert_true(cid >= 1);
    json_decref(d);
    d = get(&p, 200, "/jobs/%s/checkpoints/details/%lld", p.jid, (long long)cid);
    assert_string_equal(str_at(d, "status"), "COMPLETED");
    json_decref(d);
    /* a client's own trigger id, and its retry answered with the same operation */
    const char *mine = "{\"triggerId\":\"0123456789abcdef0123456789abcdef\"}";
    trigger(&p, "checkpoints", mine, id);
    assert_string_equal(id, "0123456789abcdef0123456789abcdef");
    trigger(&p, "checkpoints", mine, id);
    json_decref(wait_trigger(&p, "checkpoints", id));
    weir_stop(&p);
}

/* Per subtask, the input watermark: Flink's no-watermark value at the source, event time
 * at the window once the generator's watermarks arrive. */
static void test_watermarks(void **state)
{
    (void)state;
    const char *dir = wt_tmp_dir("rest-ops-wm");
    char out[4200];
    snprintf(out, sizeof out, "%s/out", dir);
    struct weir_proc p;
    weir_start(&p, "rest-ops-wm",
               (const char *const[]){QUIET, REST0, "-p", "2", "window-count", "--unbounded",
                                     "--rate", "2000", out, NULL});
    weir_wait_rest(&p);
    json_t *job = get(&p, 200, "/jobs/%s", p.jid);
    json_t *vs = json_object_get(job, "vertices");
    assert_int_equal(json_array_size(vs), 2);
    bool seen = false;
    for (int i = 0; i < 600 && !seen; i++) {
        seen = true;
        for (size_t v = 0; v < json_array_size(vs); v++) {
            json_t *vx = json_array_get(vs, v);
            json_t *w = get(&p, 200, "/jobs/%s/vertices/%s/watermarks", p.jid, str_at(vx, "id"));
            assert_true(json_is_array(w));
            assert_int_equal(json_array_size(w), int_at(vx, "parallelism"));
            bool source = strstr(str_at(vx, "name"), "window") == NULL;
            for (size_t k = 0; k < json_array_size(w); k++) {
                json_t *e = json_array_get(w, k);
                check_shape(e, "{\"id\":\"string\",\"value\":\"string\"}", "watermark");
                char want[64];
                snprintf(want, sizeof want, "%zu.currentInputWatermark", k);
                assert_string_equal(str_at(e, "id"), want);
                bool none = strcmp(str_at(e, "value"), NO_WATERMARK) == 0;
                if (source)
                    assert_true(none);
                else if (none || atoll(str_at(e, "value")) <= 0)
                    seen = false;
            }
            json_decref(w);
        }
        if (!seen)
            sleep_ms(100);
    }
    if (!seen)
        fail_msg("the window's input watermark never moved");
    check_errors(get(&p, 404, "/jobs/%s/vertices/ffffffffffffffffffffffffffffffff/watermarks",
                     p.jid),
                 "ffffffffffffffffffffffffffffffff");
    json_decref(job);
    weir_stop(&p);
}

/* What the server refuses, each with Flink's {"errors"}. */
static void test_bad_requests(void **state)
{
    (void)state;
    struct weir_proc p;
    char id[33];
    run_pipeline(&p, "rest-ops-bad", NULL, NULL, true);
    check_errors(send_json(&p, "POST", "{not json", 400, "/jobs/%s/savepoints", p.jid), "not JSON");
    check_errors(send_json(&p, "POST", "[1]", 400, "/jobs/%s/savepoints", p.jid), "object");
    check_errors(send_json(&p, "POST", "{\"cancel-job\":\"yes\"}", 400, "/jobs/%s/savepoints", p.jid),
                 "cancel-job");
    check_errors(send_json(&p, "POST", "{\"target-directory\":7}", 400, "/jobs/%s/savepoints", p.jid),
                 "target-directory");
    check_errors(send_json(&p, "POST", "{\"targetDirectory\":\"/x\"}", 400, "/jobs/%s/savepoints",
                      p.jid),
                 "targetDirectory");
    check_errors(send_json(&p, "POST", "{\"formatType\":\"BOGUS\"}", 400, "/jobs/%s/savepoints",
                      p.jid),
                 "BOGUS");
    check_errors(send_json(&p, "POST", "{\"target-directory\":\"s3://b/sp\"}", 400,
                           "/jobs/%s/savepoints", p.jid),
                 "state.checkpoints.dir");
    check_errors(send_json(&p, "POST", "{\"triggerId\":\"x\"}", 400, "/jobs/%s/checkpoints", p.jid),
                 "triggerId");
    check_errors(send_json(&p, "POST", "{}", 404, "/jobs/00000000000000000000000000000000/savepoints"),
                 "00000000000000000000000000000000");
    check_errors(send_json(&p, "PATCH", NULL, 404, "/jobs/00000000000000000000000000000000"),
                 "not found");
    check_errors(get(&p, 404, "/jobs/%s/savepoints/0123456789abcdef0123456789abcdef", p.jid),
                 "0123456789abcdef0123456789abcdef");
    check_errors(get(&p, 404, "/jobs/%s/checkpoints/xyz", p.jid), "xyz");
    /* wrong methods: 405 and what the path takes */
    struct rest_opts o = {.method = "PUT", .body = "{}"};
    long status = 0;
    check_errors(call(&p, &o, &status, "/jobs/%s/savepoints", p.jid), "POST");
    assert_int_equal(status, 405);
    assert_string_equal(o.allow, "POST");
    o = (struct rest_opts){.method = "DELETE"};
    check_errors(call(&p, &o, &status, "/jobs/%s", p.jid), "PATCH");
    assert_int_equal(status, 405);
    assert_string_equal(o.allow, "GET, HEAD, PATCH");
    /* a body over 64 KiB */
    size_t big = 70 * 1024;
    char *b = malloc(big + 1);
    assert_non_null(b);
    memset(b, ' ', big);
    b[big] = '\0';
    b[0] = '{';
    b[big - 1] = '}';
    check_errors(send_json(&p, "POST", b, 413, "/jobs/%s/savepoints", p.jid), "65536");
    free(b);
    /* this job takes no checkpoints: the trigger is accepted and fails, saying why */
    trigger(&p, "checkpoints", "", id);
    json_t *d = wait_trigger(&p, "checkpoints", id);
    check_shape(d, SPEC_CHECKPOINT_FAILED, "checkpoint without checkpointing");
    const char *cause =
        str_at(json_object_get(json_object_get(d, "operation"), "failureCause"), "stack-trace");
    if (!strstr(cause, "execution.checkpointing.interval"))
        fail_msg("the cause \"%s\" does not name execution.checkpointing.interval", cause);
    json_decref(d);
    /* the server took all that and still answers */
    json_decref(get(&p, 200, "/jobs/%s", p.jid));
    weir_stop(&p);
}

/* The token file's path under the scratch directory tag, holding token (and a newline). */
static const char *token_file(const char *tag, const char *token)
{
    static char path[4200];
    snprintf(path, sizeof path, "%s/token", wt_tmp_dir(tag));
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "%s\n", token);
    fclose(f);
    return path;
}

/* method path with token (NULL: none): the status. */
static long status_of(const struct weir_proc *p, const char *method, const char *token,
                      const char *path)
{
    struct rest_opts o = {.method = method, .token = token};
    long status = 0;
    json_t *d = call(p, &o, &status, "%s", path);
    if (status == 401)
        check_errors(d, "Authorization: Bearer");
    else
        json_decref(d);
    return status;
}

/* With rest.auth.token-file, on every address: 401 without the token or with another one,
 * reads included; the token opens both. With rest.auth.open-reads, reads need none. */
static void test_auth(void **state)
{
    (void)state;
    char tf[4300], jobs[64], sp[128];
    snprintf(tf, sizeof tf, "rest.auth.token-file=%s", token_file("rest-ops-auth", "s3cret"));
    struct weir_proc p;
    run_pipeline(&p, "rest-ops-auth-1", NULL,
                 (const char *const[]){"-D", "rest.bind-address=0.0.0.0", "-D", tf, NULL}, true);
    snprintf(jobs, sizeof jobs, "/jobs/%s", p.jid);
    snprintf(sp, sizeof sp, "/jobs/%s/savepoints", p.jid);
    assert_int_equal(status_of(&p, "GET", NULL, jobs), 401);
    assert_int_equal(status_of(&p, "GET", "s3cre", jobs), 401);
    assert_int_equal(status_of(&p, "GET", "s3cret!", jobs), 401);
    assert_int_equal(status_of(&p, "GET", "s3cret", jobs), 200);
    assert_int_equal(status_of(&p, "POST", NULL, sp), 401);
    assert_int_equal(status_of(&p, "PATCH", "nope", jobs), 401);
    assert_int_equal(status_of(&p, "POST", "s3cret", sp), 202);
    weir_stop(&p);

    run_pipeline(&p, "rest-ops-auth-2", NULL,
                 (const char *const[]){"-D", tf, "-D", "rest.auth.open-reads=true", NULL}, true);
    snprintf(jobs, sizeof jobs, "/jobs/%s", p.jid);
    assert_int_equal(status_of(&p, "GET", NULL, jobs), 200);
    assert_int_equal(status_of(&p, "PATCH", NULL, jobs), 401);
    assert_int_equal(status_of(&p, "PATCH", "s3cret", jobs), 202);
    expect_exit(&p, 0, "job pipeline stopped");
}

/* A non-loopback address without a token, and a token file that is not there, are refused
 * at the start with one line naming the key (exit 2, as a port taken). */
static void test_auth_refusals(void **state)
{
    (void)state;
    struct weir_proc p;
    run_pipeline(&p, "rest-ops-open", NULL,
                 (const char *const[]){"-D", "rest.bind-address=0.0.0.0", NULL}, false);
    expect_exit(&p, 2,
                "rest.bind-address: 0.0.0.0: not a loopback address: set rest.auth.token-file");
    run_pipeline(&p, "rest-ops-notoken", NULL,
                 (const char *const[]){"-D", "rest.auth.token-file=/nonexistent/tok", NULL}, false);
    expect_exit(&p, 2, "rest.auth.token-file: /nonexistent/tok: No such file or directory");
}

int main(void)
{
    wt_weir_cmd();
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_savepoint_then_restore),
        cmocka_unit_test(test_savepoint_failure_keeps_job),
        cmocka_unit_test(test_savepoint_cancel_job),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_stop_with_savepoint),
        cmocka_unit_test(test_stop_failure_keeps_job),
        cmocka_unit_test(test_checkpoint_trigger),
        cmocka_unit_test(test_watermarks),
        cmocka_unit_test(test_bad_requests),
        cmocka_unit_test(test_auth),
        cmocka_unit_test(test_auth_refusals),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
