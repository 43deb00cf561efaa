/*
 * REST endpoint: an HTTP server for Flink's REST API, on libmicrohttpd's own polling thread.
 * The server routes nothing itself: each request goes to the caller's handle function, which
 * answers with a status and a JSON document (core/src/runtime/rest_route.c routes weir's).
 * What the server answers by itself, each with Flink's {"errors": ["..."]}:
 *
 *   a body over WEIR_REST_MAX_BODY bytes        413
 *   a request without the token, when one is set 401 (WWW-Authenticate: Bearer)
 *   out of memory                               500
 *
 * A request reaches handle with its whole body read (NUL-terminated), its path without the
 * query string, with a leading "/v1" (Flink's versioned URLs) and a trailing '/' removed:
 * "/v1/jobs/" is "/jobs"; weir_rest_query reads the query string's arguments. HEAD reaches
 * handle as GET (the server sends the headers only).
 *
 * It listens on one address only, 127.0.0.1 unless told otherwise (rest.bind-address); an
 * address beyond the host is refused unless a token is set. With a token, every request other
 * than GET and HEAD needs "Authorization: Bearer <token>", and GET and HEAD too unless
 * open_reads. Idle, slow and half-open clients cost a connection slot, not a wait: sockets
 * are non-blocking, a silent connection is closed after a few seconds, and the number of
 * connections is capped (per address and in all), so no client holds the job up.
 *
 *     weir_rest_server *srv;
 *     char err[256];
 *     struct weir_rest_opts o = {.host = "127.0.0.1", .port_spec = "8081-8180",
 *                                .handle = handle, .arg = arg};
 *     if (weir_rest_server_start(&o, &srv, err, sizeof err) < 0) {
 *         fprintf(stderr, "weir: %s\n", err);   // rest.port: 8081: Address already in use
 *         return 1;
 *     }
 *     ...
 *     weir_rest_server_stop(srv);      // before whatever handle reads goes away
 */
#ifndef WEIR_REST_H
#define WEIR_REST_H

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weir_rest_server weir_rest_server;

/* The largest request body read; a longer one is answered 413. */
#define WEIR_REST_MAX_BODY (64 * 1024)

/* One request, as handle sees it. */
struct weir_rest_request {
    const char *method; /* "GET" (HEAD too), "POST", "PATCH", ... */
    const char *path;   /* "/jobs/<id>/savepoints" */
    const char *body;   /* NUL-terminated; "" when the request has none */
    size_t body_len;
    /* handle sets it with a 405: the methods the path takes ("GET, PATCH") */
    const char *allow;
    void *conn; /* the server's; for weir_rest_query */
    /* handle may set it: called on the server's thread, with handle's arg and sent_tag, once
     * the whole answer has been handed to the socket, and not when the connection ended
     * first (the client went away, or the server stopped). For a result the caller must
     * know was delivered before it stops the server. */
    void (*sent)(void *arg, const char *tag);
    char sent_tag[48];
};

/* The query string's argument key ("mode" of "?mode=cancel"), NULL when absent. */
const char *weir_rest_query(const struct weir_rest_request *req, const char *key);

/*
 * Answers req on the server's thread: returns the HTTP status (200, 202, 400, 404, 405, ...)
 * and a JSON document in *body (malloc'd, the server frees it; *len its length), or a negative
 * errno (the server answers 500). It must be quick and must not block on the job.
 */
typedef int (*weir_rest_handle_fn)(void *arg, struct weir_rest_request *req, char **body,
                                   size_t *len);

struct weir_rest_opts {
    /* An address or a name ("127.0.0.1", "::1", "localhost", "0.0.0.0"); NULL or "" means
     * 127.0.0.1. */
    const char *host;
    /* "8081", a range "8081-8180" (the first free port wins), a comma-separated list of
     * those, or "0" for any free port. */
    const char *port_spec;
    weir_rest_handle_fn handle;
    void *arg;
    /* NULL: no token, and only a loopback host is served. Otherwise the bearer token every
     * request must carry (GET and HEAD too unless open_reads). */
    const char *token;
    bool open_reads;
};

/*
 * Serve o->handle on o->host:o->port_spec until weir_rest_server_stop (the server copies
 * what it keeps of o).
 *
 * Returns 0 and *out, or a negative errno with one line in err naming the key and the
 * value, e.g.
 *   rest.port: 8081: Address already in use
 *   rest.port: 8081-8180: Address already in use (every port in the range is taken)
 *   rest.bind-address: 192.0.2.1: Cannot assign requested address
 *   rest.bind-address: 0.0.0.0: not a loopback address: set rest.auth.token-file to serve ...
 */
int weir_rest_server_start(const struct weir_rest_opts *o, weir_rest_server **out, char *err,
                           size_t errlen);

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
