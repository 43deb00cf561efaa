/*
 * The REST tests' client (rest_client.c), shared by tests/rest/test_*.c: the weir command
 * run with rest.port=0, its port and job id read from its log ("weir: rest: http://HOST:PORT
 * (job ID)"), requests sent with libcurl and answers parsed with jansson, and Flink's
 * documents written down as shapes ({"key": "int|null", "nested": {...}}) checked key by key.
 */
#ifndef WEIR_TEST_REST_CLIENT_H
#define WEIR_TEST_REST_CLIENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define QUIET "-D", "weir.progress=never", "-D", "metrics.reporter.prom.port=0"

struct weir_proc {
    pid_t pid;
    char log[4096];
    int port;
    char jid[33];
};

/* {"errors": "array"}: Flink's error document */
extern const char SPEC_ERRORS[];

/* Every key of spec_text is in doc with the type it names; fails the test otherwise. */
void check_shape(const json_t *doc, const char *spec_text, const char *where);

/* weir run <args...> (NULL-terminated), stderr into a log in the scratch directory tag. */
void weir_start(struct weir_proc *p, const char *tag, const char *const *args);
void sleep_ms(long ms);
void dump_log(const struct weir_proc *p);
/* The port and job id from the log line; fails after 120 s or when weir exits first. */
void weir_wait_rest(struct weir_proc *p);
/* Waits up to timeout_s for weir to exit; its exit status, or -1 when it did not. */
int weir_wait_exit(struct weir_proc *p, int timeout_s);
/* SIGTERM, and fails unless weir exits 0 within 120 s. */
void weir_stop(struct weir_proc *p);

/* One request: its method, body (NUL-terminated unless body_len), bearer token; the Allow
 * header of the answer comes back in allow. */
struct rest_opts {
    const char *method;
    const char *body;
    size_t body_len;
    const char *token;
    char allow[128];
};

/* The request o to the job's path: the HTTP status and the parsed document (any JSON). */
json_t *call(const struct weir_proc *p, struct rest_opts *o, long *status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* method path on the job's port: the HTTP status and the parsed document. */
json_t *request(const struct weir_proc *p, const char *method, const char *fmt, long *status,
                ...) __attribute__((format(printf, 3, 5)));
/* GET path; fails unless the status is want. */
json_t *get(const struct weir_proc *p, long want, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

json_int_t int_at(const json_t *o, const char *key);
/* The object of array arr whose key is value; fails the test when there is none. */
json_t *entry_with(const json_t *arr, const char *key, json_int_t value);
const char *str_at(const json_t *o, const char *key);
/* An error document as Flink answers: {"errors": ["...", ...]}, the first one mentioning
 * what; doc is freed. */
void check_errors(json_t *doc, const char *what);
/* /jobs/:jobid/<doc> until pred says yes (120 s at most; then fails with the last answer). */
json_t *wait_doc(struct weir_proc *p, const char *doc, bool (*pred)(json_t *), const char *what);
/* The watermark diagnosis' held-by has not moved: the same since as before, and a stalled-ms
 * at least grown_ms above the one before. */
void check_still_held(const json_t *held_by, json_int_t since, json_int_t stalled,
                      json_int_t grown_ms);
/* /jobs/:jobid/checkpoints until pred says yes (120 s at most). */
json_t *wait_checkpoints(struct weir_proc *p, bool (*pred)(json_t *), const char *what);

#endif
