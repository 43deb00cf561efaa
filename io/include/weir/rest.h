/*
 * REST endpoint: an HTTP server for Flink's REST API (read side), on libmicrohttpd's own
 * polling thread. The server routes nothing itself: each GET goes to the caller's get
 * function, which answers with a status and a JSON document (core/src/runtime/rest_docs.c
 * builds weir's). What the server answers by itself:
 *
 *   methods other than GET and HEAD   405 {"errors": ["..."]}, Allow: GET, HEAD
 *   out of memory in get              500 {"errors": ["..."]}
 *
 * Paths reach get without their query string, with a leading "/v1" (Flink's versioned
 * URLs) and a trailing '/' removed: "/v1/jobs/" is "/jobs".
 *
 * It listens on one address only, 127.0.0.1 unless told otherwise (rest.bind-address).
 * Idle, slow and half-open clients cost a connection slot, not a wait: sockets are
 * non-blocking, a silent connection is closed after a few seconds, and the number of
 * connections is capped (per address and in all), so no client holds the job up.
 *
 *     weir_rest_server *srv;
 *     char err[256];
 *     if (weir_rest_server_start("127.0.0.1", "8081-8180", get, arg, &srv, err, sizeof err) < 0) {
 *         fprintf(stderr, "weir: %s\n", err);   // rest.port: 8081: Address already in use
 *         return 1;
 *     }
 *     ...
 *     weir_rest_server_stop(srv);      // before whatever get reads goes away
 */
#ifndef WEIR_REST_H
#define WEIR_REST_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weir_rest_server weir_rest_server;

/*
 * Answers GET path on the server's thread: returns the HTTP status (200, 400, 404, ...) and a
 * JSON document in *body (malloc'd, the server frees it; *len its length), or a negative
 * errno (the server answers 500). It must be quick and must not block on the job.
 */
typedef int (*weir_rest_get_fn)(void *arg, const char *path, char **body, size_t *len);

/*
 * Serve get on host:port until weir_rest_server_stop.
 *
 * host: an address or a name ("127.0.0.1", "::1", "localhost", "0.0.0.0"); NULL or ""
 * means 127.0.0.1. port_spec: "8081", a range "8081-8180" (the first free port wins), a
 * comma-separated list of those, or "0" for any free port.
 *
 * Returns 0 and *out, or a negative errno with one line in err naming the key and the
 * value, e.g.
 *   rest.port: 8081: Address already in use
 *   rest.port: 8081-8180: Address already in use (every port in the range is taken)
 *   rest.bind-address: 192.0.2.1: Cannot assign requested address
 */
int weir_rest_server_start(const char *host, const char *port_spec, weir_rest_get_fn get, void *arg,
                           weir_rest_server **out, char *err, size_t errlen);

/* The bound port. */
int weir_rest_server_port(const weir_rest_server *s);

/* "http://127.0.0.1:8081" (an IPv6 address in brackets). Returns its length as snprintf
 * does, or -EINVAL. */
int weir_rest_server_url(const weir_rest_server *s, char *buf, size_t len);

/* Stops serving and closes the socket and every connection; a request in progress
 * finishes first. NULL is a no-op. */
void weir_rest_server_stop(weir_rest_server *s);

#ifdef __cplusplus
}
#endif

#endif /* WEIR_REST_H */
