/*
 * The io module's HTTP endpoints share how they listen (listen.c): a host, a port spec
 * ("9249", "9249-9259", "9249,9300-9310" or "0" for any free port) walked until a port binds,
 * and one-line errors naming the endpoint's keys. Internal to io/.
 */
#ifndef WEIR_HTTP_LISTEN_H
#define WEIR_HTTP_LISTEN_H

#include <stdarg.h>
#include <stddef.h>

#include <microhttpd.h>

/* The configuration keys an error names, and the port its examples show. */
struct http_keys {
    const char *port; /* "metrics.reporter.prom.port" */
    const char *host; /* "metrics.reporter.prom.host" */
    unsigned example; /* 9249: "expected 9249, a range 9249-9259, or 0" */
};

/*
 * A listening, non-blocking, close-on-exec socket on host (an address or a name; "[::1]" as
 * URLs write it) at the first port of port_spec that is free. Returns the descriptor with
 * *port (the bound port) and *family (AF_INET or AF_INET6), or a negative errno with one
 * line in err, e.g. "rest.port: 8081: Address already in use".
 */
int http_listen(const struct http_keys *k, const char *host, const char *port_spec, int *port,
                int *family, char *err, size_t errlen);

/* How an endpoint serves: its keys, handler, optional libmicrohttpd logger, and limits. */
struct http_serve_opts {
    struct http_keys keys;
    MHD_AccessHandlerCallback handle;
    void *arg;                                           /* handle's and log's */
    void (*log)(void *arg, const char *fmt, va_list ap); /* NULL: libmicrohttpd quiet */
    MHD_RequestCompletedCallback completed;              /* NULL: none; arg is handle's */
    unsigned max_clients, max_clients_per_ip, idle_timeout_s;
    /* Non-NULL: a host that is not a loopback address (127.0.0.0/8, ::1) is refused with
     * "<keys.host>: <host>: not a loopback address: <loopback_only>". */
    const char *loopback_only;
};

/*
 * Listens as http_listen does (host NULL or "": 127.0.0.1) and starts a libmicrohttpd
 * daemon on its own thread. Returns 0 with *daemon, *port and host_out (the host without the
 * brackets of "[::1]"), or a negative errno with one line in err naming o->keys.port.
 */
int http_serve(const struct http_serve_opts *o, const char *host, const char *port_spec,
               struct MHD_Daemon **daemon, int *port, char *host_out, size_t host_len, char *err,
               size_t errlen);

/* Queues body (len bytes, of content type; mode as libmicrohttpd's, MUST_FREE bodies freed
 * on failure too) with status; a 405 says "Allow: GET, HEAD". */
enum MHD_Result http_reply(struct MHD_Connection *c, unsigned int status, const char *type,
                           const char *body, size_t len, enum MHD_ResponseMemoryMode mode);
/* As http_reply, with header name: value (neither NULL) instead of a 405's Allow. */
enum MHD_Result http_reply_hdr(struct MHD_Connection *c, unsigned int status, const char *type,
                               const char *body, size_t len, enum MHD_ResponseMemoryMode mode,
                               const char *name, const char *value);

#endif
