/*
 * The REST tests' client (rest_client.h): the weir command started, waited for and stopped,
 * requests with libcurl, answers parsed with jansson and checked against Flink's shapes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "rest_client.h"
#include "weir_test.h"

const char SPEC_ERRORS[] = "{\"errors\":\"array\"}";

static bool type_is(const json_t *v, const char *t)
{
    if (!strcmp(t, "int"))
        return json_is_integer(v);
    if (!strcmp(t, "number"))
        return json_is_number(v);
    if (!strcmp(t, "string"))
        return json_is_string(v);
    if (!strcmp(t, "bool"))
        return json_is_boolean(v);
    if (!strcmp(t, "array"))
        return json_is_array(v);
    if (!strcmp(t, "object"))
        return json_is_object(v);
    if (!strcmp(t, "null"))
        return json_is_null(v);
    return false;
}

/* Every key of spec is in doc with the type spec names ("null|object": either). */
static void check_shape_at(const json_t *doc, const json_t *spec, const char *where)
{
    const char *key;
    json_t *want;
    if (!json_is_object(doc))
        fail_msg("%s: not a JSON object", where);
    json_object_foreach((json_t *)spec, key, want)
    {
        char at[512];
        snprintf(at, sizeof at, "%s.%s", where, key);
        json_t *got = json_object_get(doc, key);
        if (!got)
            fail_msg("%s: missing (Flink's document has it)", at);
        if (json_is_object(want)) {
            check_shape_at(got, want, at);
            continue;
        }
        char types[64];
        snprintf(types, sizeof types, "%s", json_string_value(want));
        bool ok = false;
        for (char *save = NULL, *t = strtok_r(types, "|", &save); t && !ok;
             t = strtok_r(NULL, "|", &save))
            ok = type_is(got, t);
        if (!ok) {
            char *s = json_dumps(got, JSON_ENCODE_ANY);
            fail_msg("%s: %s is not %s", at, s ? s : "?", json_string_value(want));
        }
    }
}

void check_shape(const json_t *doc, const char *spec_text, const char *where)
{
    json_error_t e;
    json_t *spec = json_loads(spec_text, 0, &e);
    if (!spec)
        fail_msg("spec of %s: %s", where, e.text);
    check_shape_at(doc, spec, where);
    json_decref(spec);
}

/* ---- the weir command ------------------------------------------------------------ */

/* weir run <args...>, stderr into a log in the scratch directory. */
void weir_start(struct weir_proc *p, const char *tag, const char *const *args)
{
    const char *dir = wt_tmp_dir(tag);
    snprintf(p->log, sizeof p->log, "%s/stderr", dir);
    p->port = 0;
    p->jid[0] = '\0';
    const char *argv[64];
    int n = 0;
    argv[n++] = wt_weir_cmd();
    argv[n++] = "run";
    for (; *args && n < 62; args++)
        argv[n++] = *args;
    argv[n] = NULL;
    /* emptied before the run starts, so that polling the log shows only this run's lines */
    int fd = open(p->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    fflush(NULL);
    p->pid = fork();
    if (p->pid != 0)
        close(fd);
    assert_true(p->pid >= 0);
    if (p->pid == 0) {
        int nul = open("/dev/null", O_WRONLY);
        if (nul < 0 || chdir(dir) < 0)
            _exit(127);
        dup2(fd, 2);
        dup2(nul, 1);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
}

void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

void dump_log(const struct weir_proc *p)
{
    FILE *f = fopen(p->log, "r");
    char line[1024];
    fprintf(stderr, "---- %s\n", p->log);
    while (f && fgets(line, sizeof line, f))
        fputs(line, stderr);
    if (f)
        fclose(f);
}

/* The port and job id from the log line; fails after 120 s or when weir exits first. */
void weir_wait_rest(struct weir_proc *p)
{
    for (int i = 0; i < 1200; i++) {
        FILE *f = fopen(p->log, "r");
        char line[1024];
        while (f && fgets(line, sizeof line, f))
            if (sscanf(line, "weir: rest: http://%*[0-9.]:%d (job %32[0-9a-f])", &p->port,
                       p->jid) == 2) {
                fclose(f);
                return;
            }
        if (f)
            fclose(f);
        int st;
        if (waitpid(p->pid, &st, WNOHANG) == p->pid) {
            dump_log(p);
            fail_msg("weir exited before its REST API line");
        }
        sleep_ms(100);
    }
    dump_log(p);
    fail_msg("no \"weir: rest:\" line in the log after 120 s");
}

/* Waits up to timeout_s for weir to exit; its exit status, or -1 when it did not. */
int weir_wait_exit(struct weir_proc *p, int timeout_s)
{
    for (int i = 0; i < timeout_s * 10; i++) {
        int st;
        if (waitpid(p->pid, &st, WNOHANG) == p->pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        sleep_ms(100);
    }
    return -1;
}

void weir_stop(struct weir_proc *p)
{
    kill(p->pid, SIGTERM);
    int rc = weir_wait_exit(p, 120);
    if (rc != 0) {
        dump_log(p);
        if (rc < 0)
            kill(p->pid, SIGKILL), waitpid(p->pid, NULL, 0);
        fail_msg("weir run ended with %d after SIGTERM", rc);
    }
}

/* ---- HTTP ------------------------------------------------------------------------ */

struct body {
    char *p;
    size_t n;
};

static size_t on_data(char *d, size_t sz, size_t nm, void *arg)
{
    struct body *b = arg;
    char *q = realloc(b->p, b->n + sz * nm + 1);
    if (!q)
        return 0;
    memcpy(q + b->n, d, sz * nm);
    b->p = q;
    b->n += sz * nm;
    b->p[b->n] = '\0';
    return sz * nm;
}

static size_t on_header(char *d, size_t sz, size_t nm, void *arg)
{
    struct rest_opts *o = arg;
    size_t n = sz * nm;
    if (n > 7 && strncasecmp(d, "Allow: ", 7) == 0)
        snprintf(o->allow, sizeof o->allow, "%.*s", (int)strcspn(d + 7, "\r\n"), d + 7);
    return n;
}

json_t *call(const struct weir_proc *p, struct rest_opts *o, long *status, const char *fmt, ...)
{
    char path[512], url[600], auth[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(path, sizeof path, fmt, ap);
    va_end(ap);
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", p->port, path);
    struct body b = {0};
    struct curl_slist *hdrs = NULL;
    CURL *c = curl_easy_init();
    assert_non_null(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, o->method);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, o);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    if (o->body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, o->body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t)(o->body_len ? o->body_len : strlen(o->body)));
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, o->method);
        hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
    }
    if (o->token) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", o->token);
        hdrs = curl_slist_append(hdrs, auth);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    o->allow[0] = '\0';
    CURLcode rc = curl_easy_perform(c);
    curl_slist_free_all(hdrs);
    if (rc != CURLE_OK)
        fail_msg("%s %s: %s", o->method, url, curl_easy_strerror(rc));
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    char *ct = NULL;
    curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
    if (!ct || strncmp(ct, "application/json", 16) != 0)
        fail_msg("%s %s: Content-Type %s, not application/json", o->method, url,
                 ct ? ct : "none");
    curl_easy_cleanup(c);
    json_error_t e;
    json_t *doc = json_loads(b.p ? b.p : "", JSON_DECODE_ANY, &e);
    if (!doc)
        fail_msg("%s %s: not JSON (%s): %s", o->method, url, e.text, b.p ? b.p : "");
    free(b.p);
    return doc;
}

json_t *request(const struct weir_proc *p, const char *method, const char *fmt, long *status,
                ...)
{
    char path[512];
    va_list ap;
    va_start(ap, status);
    vsnprintf(path, sizeof path, fmt, ap);
    va_end(ap);
    struct rest_opts o = {.method = method};
    return call(p, &o, status, "%s", path);
}

/* GET path; fails unless the status is want. */
json_t *get(const struct weir_proc *p, long want, const char *fmt, ...)
{
    char path[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(path, sizeof path, fmt, ap);
    va_end(ap);
    long status = 0;
    json_t *doc = request(p, "GET", "%s", &status, path);
    if (status != want) {
        char *s = json_dumps(doc, 0);
        fail_msg("GET %s: %ld, expected %ld: %s", path, status, want, s ? s : "");
    }
    return doc;
}

json_int_t int_at(const json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v))
        fail_msg("%s is not an integer", key);
    return json_integer_value(v);
}

const char *str_at(const json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_string(v))
        fail_msg("%s is not a string", key);
    return json_string_value(v);
}

/* An error document as Flink answers: {"errors": ["...", ...]}, the first one mentioning
 * what. */
void check_errors(json_t *doc, const char *what)
{
    check_shape(doc, SPEC_ERRORS, "errors");
    json_t *e = json_array_get(json_object_get(doc, "errors"), 0);
    assert_true(json_is_string(e));
    if (!strstr(json_string_value(e), what))
        fail_msg("error \"%s\" does not mention \"%s\"", json_string_value(e), what);
    json_decref(doc);
}

/* /jobs/:jobid/checkpoints until pred says yes (120 s at most). */
json_t *wait_doc(struct weir_proc *p, const char *doc, bool (*pred)(json_t *), const char *what)
{
    char *last = NULL;
    for (int i = 0; i < 1200; i++) {
        json_t *d = get(p, 200, "/jobs/%s/%s", p->jid, doc);
        if (pred(d)) {
            free(last);
            return d;
        }
        free(last);
        last = json_dumps(d, JSON_COMPACT);
        json_decref(d);
        sleep_ms(100);
    }
    if (p->log[0])
        dump_log(p);
    fail_msg("%s: not after 120 s; the last answer: %s", what, last ? last : "?");
    return NULL;
}

json_t *entry_with(const json_t *arr, const char *key, json_int_t value)
{
    json_t *e;
    size_t i;
    json_array_foreach(arr, i, e)
        if (json_integer_value(json_object_get(e, key)) == value)
            return e;
    fail_msg("no entry with %s %lld in %zu", key, (long long)value, json_array_size(arr));
    return NULL;
}

void check_still_held(const json_t *held_by, json_int_t since, json_int_t stalled,
                      json_int_t grown_ms)
{
    assert_int_equal(int_at(held_by, "since"), since);
    json_int_t now = int_at(held_by, "stalled-ms");
    if (now < stalled + grown_ms)
        fail_msg("stalled-ms %lld, not %lld + %lld or more", (long long)now, (long long)stalled,
                 (long long)grown_ms);
}

json_t *wait_checkpoints(struct weir_proc *p, bool (*pred)(json_t *), const char *what)
{
    return wait_doc(p, "checkpoints", pred, what);
}

