/*
 * REST endpoint on libmicrohttpd (weir/rest.h): the socket is bound by http_listen
 * (io/src/http/listen.c), as the Prometheus endpoint's is, and handed to MHD, which runs
 * one internal polling thread (epoll via MHD_USE_AUTO). A request runs the caller's get on
 * that thread; get reads what the job publishes and never waits on a worker.
 *
 * Clients that do not behave: a connection silent for IDLE_TIMEOUT_S is closed, one address
 * holds at most MAX_CLIENTS_PER_IP connections and all together MAX_CLIENTS, so a few
 * hundred idle or half-open sockets neither hold up a request nor take the job's file
 * descriptors. MHD's own messages about such clients are not logged (no MHD_USE_ERROR_LOG):
 * a REST client's mistakes are answered to it, not written into the job's log.
 */
#include <weir/errbuf.h>
#include <weir/rest.h>

#include "http_listen.h"

#include <errno.h>
#include <microhttpd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define KEY_PORT           "rest.port"
#define KEY_HOST           "rest.bind-address"
#define CONTENT_TYPE       "application/json; charset=UTF-8"
#define MAX_CLIENTS        512
#define MAX_CLIENTS_PER_IP 256
#define IDLE_TIMEOUT_S     10
#define MAX_PATH           1024

struct weir_rest_server {
    struct MHD_Daemon *daemon;
    weir_rest_get_fn get;
    void *arg;
    int port;
    char host[256]; /* as configured, without the brackets of "[::1]" */
};

static const char NOT_ALLOWED[] =
    "{\"errors\":[\"Method not allowed: this endpoint serves GET requests only.\"]}";
static const char NO_MEMORY[] = "{\"errors\":[\"Internal server error: out of memory.\"]}";
static const char TOO_LONG[] = "{\"errors\":[\"Bad request: path too long.\"]}";

static enum MHD_Result reply(struct MHD_Connection *c, unsigned int status, const char *body,
                             size_t len, enum MHD_ResponseMemoryMode mode)
{
    return http_reply(c, status, CONTENT_TYPE, body, len, mode);
}

/* "/v1/jobs/" -> "/jobs": Flink's version prefix and a trailing '/' dropped (MHD has
 * already cut the query string off). false when it does not fit. */
static bool normalize(const char *url, char *out, size_t cap)
{
    if (strncmp(url, "/v1", 3) == 0 && (url[3] == '/' || url[3] == '\0'))
        url += 3;
    size_t n = strlen(url);
    while (n > 1 && url[n - 1] == '/')
        n--;
    if (n + 1 > cap)
        return false;
    memcpy(out, url, n);
    out[n] = '\0';
    if (n == 0)
        snprintf(out, cap, "/");
    return true;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **req_cls)
{
    struct weir_rest_server *s = cls;
    char path[MAX_PATH];
    char *body = NULL;
    size_t len = 0;
    int status;

    (void)version;
    (void)upload_data;
    (void)upload_data_size;
    (void)req_cls;
    /* MHD answers HEAD with the headers of the GET response and no body. A request with a
     * body (POST, PATCH) is answered before its body is read: MHD then closes the
     * connection rather than read what nobody wants. */
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, NOT_ALLOWED, sizeof(NOT_ALLOWED) - 1,
                     MHD_RESPMEM_PERSISTENT);
    if (!normalize(url, path, sizeof path))
        return reply(c, MHD_HTTP_BAD_REQUEST, TOO_LONG, sizeof(TOO_LONG) - 1,
                     MHD_RESPMEM_PERSISTENT);
    status = s->get(s->arg, path, &body, &len);
    if (status < 0 || !body) {
        free(body);
        return reply(c, MHD_HTTP_INTERNAL_SERVER_ERROR, NO_MEMORY, sizeof(NO_MEMORY) - 1,
                     MHD_RESPMEM_PERSISTENT);
    }
    return reply(c, (unsigned)status, body, len, MHD_RESPMEM_MUST_FREE);
}

int weir_rest_server_start(const char *host, const char *port_spec, weir_rest_get_fn get, void *arg,
                           weir_rest_server **out, char *err, size_t errlen)
{
    errbuf_printf(err, errlen, "%s", "");
    if (!get || !out) {
        errbuf_printf(err, errlen, "weir_rest_server_start: no get function or no result pointer");
        return -EINVAL;
    }
    *out = NULL;
    weir_rest_server *s = calloc(1, sizeof(*s));
    if (!s) {
        errbuf_printf(err, errlen, KEY_PORT ": %s: %s", port_spec ? port_spec : "",
                      strerror(ENOMEM));
        return -ENOMEM;
    }
    s->get = get;
    s->arg = arg;
    const struct http_serve_opts o = {
        .keys = {.port = KEY_PORT, .host = KEY_HOST, .example = 8081},
        .handle = handle,
        .arg = s,
        .max_clients = MAX_CLIENTS,
        .max_clients_per_ip = MAX_CLIENTS_PER_IP,
        .idle_timeout_s = IDLE_TIMEOUT_S,
    };
    int rc =
        http_serve(&o, host, port_spec, &s->daemon, &s->port, s->host, sizeof s->host, err, errlen);
    if (rc < 0) {
        free(s);
        return rc;
    }
    *out = s;
    return 0;
}

int weir_rest_server_port(const weir_rest_server *s)
{
    return s ? s->port : -EINVAL;
}

int weir_rest_server_url(const weir_rest_server *s, char *buf, size_t len)
{
    if (!s || !buf)
        return -EINVAL;
    bool v6 = strchr(s->host, ':') != NULL;
    return snprintf(buf, len, "http://%s%s%s:%d", v6 ? "[" : "", s->host, v6 ? "]" : "", s->port);
}

void weir_rest_server_stop(weir_rest_server *s)
{
    if (!s)
        return;
    MHD_stop_daemon(s->daemon);
    free(s);
}
