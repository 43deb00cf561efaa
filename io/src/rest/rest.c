/*
 * REST endpoint on libmicrohttpd (weir/rest.h): the socket is bound by http_listen
 * (io/src/http/listen.c), as the Prometheus endpoint's is, and handed to MHD, which runs
 * one internal polling thread (epoll via MHD_USE_AUTO). A request's body is read whole
 * (struct upload), then the token checked and the caller's handle run on that thread;
 * handle reads what the job publishes and never waits on a worker.
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
#include "rest_web.h"

#include <errno.h>
#include <microhttpd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
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
    weir_rest_handle_fn handle;
    void *arg;
    int port;
    char host[256]; /* as configured, without the brackets of "[::1]" */
    char *token;    /* NULL: none */
    bool open_reads;
    /* Tests (WEIR_TEST_REST_REPLY_DELAY_MS): every answer is queued this much later than
     * handle made it, as on a loaded machine or a sanitized build, so that a test finds what
     * takes an answer for delivered before it has left. */
    int reply_delay_ms;
};

/* One request's body as it arrives (MHD's *req_cls): up to WEIR_REST_MAX_BODY bytes kept,
 * the rest counted and dropped, so that the answer (413 among others) goes out after the
 * client has sent everything and a close does not reset what it has not read yet. */
struct upload {
    char *buf;
    size_t len, cap, seen;
    void (*sent)(void *arg, const char *tag); /* the handle's, once its answer is queued */
    char sent_tag[48];
};

static const char NO_MEMORY[] = "{\"errors\":[\"Internal server error: out of memory.\"]}";
static const char TOO_LONG[] = "{\"errors\":[\"Bad request: path too long.\"]}";
static const char TOO_LARGE[] =
    "{\"errors\":[\"Request entity too large: the body is over 65536 bytes.\"]}";
static const char UNAUTHORIZED[] =
    "{\"errors\":[\"Unauthorized: this request needs the header 'Authorization: Bearer "
    "<token>' with the token of rest.auth.token-file.\"]}";
/* Content-Length past which the server answers 413 before the body rather than read it */
#define DRAIN_LIMIT (16u * WEIR_REST_MAX_BODY)

static enum MHD_Result reply(struct MHD_Connection *c, unsigned int status, const char *body,
                             size_t len, enum MHD_ResponseMemoryMode mode)
{
    return http_reply(c, status, CONTENT_TYPE, body, len, mode);
}

static enum MHD_Result reply_const(struct MHD_Connection *c, unsigned int status,
                                   const char *body)
{
    return reply(c, status, body, strlen(body), MHD_RESPMEM_PERSISTENT);
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

/* Compares in time that depends on the lengths only, not on where the two first differ. */
static bool same_secret(const char *a, size_t alen, const char *b, size_t blen)
{
    unsigned char diff = alen != blen;
    for (size_t i = 0; i < blen; i++)
        diff |= (unsigned char)(b[i] ^ (i < alen ? a[i] : 0));
    return diff == 0;
}

static bool authorized(const struct weir_rest_server *s, struct MHD_Connection *c, bool read)
{
    if (!s->token || (read && s->open_reads))
        return true;
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!h || strncasecmp(h, "Bearer ", 7) != 0)
        return false;
    h += 7;
    while (*h == ' ')
        h++;
    return same_secret(h, strlen(h), s->token, strlen(s->token));
}

/* Keeps what fits of the next piece of the body. false: out of memory. */
static bool take(struct upload *u, const char *data, size_t n)
{
    u->seen += n;
    if (u->seen > WEIR_REST_MAX_BODY)
        return true;
    if (u->len + n + 1 > u->cap) {
        size_t cap = u->cap ? u->cap : 1024;
        while (cap < u->len + n + 1)
            cap *= 2;
        char *b = realloc(u->buf, cap);
        if (!b)
            return false;
        u->buf = b;
        u->cap = cap;
    }
    memcpy(u->buf + u->len, data, n);
    u->len += n;
    u->buf[u->len] = '\0';
    return true;
}

static enum MHD_Result answer(struct weir_rest_server *s, struct MHD_Connection *c,
                              const char *url, const char *method, struct upload *u)
{
    char path[MAX_PATH];
    char *body = NULL;
    size_t len = 0;
    bool read = strcmp(method, MHD_HTTP_METHOD_GET) == 0 ||
                strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
    /* The dashboard's files hold no job data and a browser cannot send a token when it
     * opens a page: they are served to anyone; the page's API calls carry the token. */
    const struct rest_web_asset *page =
        read && normalize(url, path, sizeof path) ? rest_web_find(path) : NULL;
    if (page)
        return http_reply(c, MHD_HTTP_OK, page->type, (const char *)page->data, page->len,
                          MHD_RESPMEM_PERSISTENT);
    if (!authorized(s, c, read))
        return http_reply_hdr(c, MHD_HTTP_UNAUTHORIZED, CONTENT_TYPE, UNAUTHORIZED,
                              sizeof(UNAUTHORIZED) - 1, MHD_RESPMEM_PERSISTENT,
                              MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    if (u->seen > WEIR_REST_MAX_BODY)
        return reply_const(c, MHD_HTTP_CONTENT_TOO_LARGE, TOO_LARGE);
    if (!normalize(url, path, sizeof path))
        return reply_const(c, MHD_HTTP_BAD_REQUEST, TOO_LONG);
    struct weir_rest_request req = {.method = read ? MHD_HTTP_METHOD_GET : method,
                                    .path = path,
                                    .body = u->buf ? u->buf : "",
                                    .body_len = u->len,
                                    .conn = c};
    int status = s->handle(s->arg, &req, &body, &len);
    if (s->reply_delay_ms > 0) {
        struct timespec ts = {s->reply_delay_ms / 1000, (s->reply_delay_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (status >= 0 && body && req.sent) {
        u->sent = req.sent;
        memcpy(u->sent_tag, req.sent_tag, sizeof u->sent_tag);
    }
    if (status < 0 || !body) {
        free(body);
        return reply_const(c, MHD_HTTP_INTERNAL_SERVER_ERROR, NO_MEMORY);
    }
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED && req.allow)
        return http_reply_hdr(c, (unsigned)status, CONTENT_TYPE, body, len, MHD_RESPMEM_MUST_FREE,
                              MHD_HTTP_HEADER_ALLOW, req.allow);
    return reply(c, (unsigned)status, body, len, MHD_RESPMEM_MUST_FREE);
}

/* MHD calls it once with the headers (*req_cls NULL), once per piece of the body, and once
 * more with none left: the answer goes out then. */
static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **req_cls)
{
    struct weir_rest_server *s = cls;
    struct upload *u = *req_cls;
    (void)version;
    if (!u) {
        const char *cl =
            MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > DRAIN_LIMIT)
            return reply_const(c, MHD_HTTP_CONTENT_TOO_LARGE, TOO_LARGE);
        u = calloc(1, sizeof *u);
        if (!u)
            return reply_const(c, MHD_HTTP_INTERNAL_SERVER_ERROR, NO_MEMORY);
        *req_cls = u;
        return MHD_YES;
    }
    if (*upload_data_size) {
        bool ok = take(u, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return ok ? MHD_YES : MHD_NO;
    }
    return answer(s, c, url, method, u);
}

static void completed(void *cls, struct MHD_Connection *c, void **req_cls,
                      enum MHD_RequestTerminationCode why)
{
    struct weir_rest_server *s = cls;
    struct upload *u = *req_cls;
    (void)c;
    if (u && u->sent && why == MHD_REQUEST_TERMINATED_COMPLETED_OK)
        u->sent(s->arg, u->sent_tag);
    if (u)
        free(u->buf);
    free(u);
    *req_cls = NULL;
}

const char *weir_rest_query(const struct weir_rest_request *req, const char *key)
{
    return req && req->conn
               ? MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, key)
               : NULL;
}

int weir_rest_server_start(const struct weir_rest_opts *o, weir_rest_server **out, char *err,
                           size_t errlen)
{
    errbuf_printf(err, errlen, "%s", "");
    if (!o || !o->handle || !out) {
        errbuf_printf(err, errlen, "weir_rest_server_start: no handle function or no result");
        return -EINVAL;
    }
    *out = NULL;
    weir_rest_server *s = calloc(1, sizeof(*s));
    if (!s || (o->token && !(s->token = strdup(o->token)))) {
        free(s);
        errbuf_printf(err, errlen, KEY_PORT ": %s: %s", o->port_spec ? o->port_spec : "",
                      strerror(ENOMEM));
        return -ENOMEM;
    }
    s->handle = o->handle;
    s->arg = o->arg;
    s->open_reads = o->open_reads;
    const char *delay = getenv("WEIR_TEST_REST_REPLY_DELAY_MS");
    s->reply_delay_ms = delay ? atoi(delay) : 0;
    const struct http_serve_opts so = {
        .keys = {.port = KEY_PORT, .host = KEY_HOST, .example = 8081},
        .handle = handle,
        .arg = s,
        .completed = completed,
        .max_clients = MAX_CLIENTS,
        .max_clients_per_ip = MAX_CLIENTS_PER_IP,
        .idle_timeout_s = IDLE_TIMEOUT_S,
        .loopback_only = o->token ? NULL
                                  : "set rest.auth.token-file to serve the REST API beyond "
                                    "this host",
    };
    int rc = http_serve(&so, o->host, o->port_spec, &s->daemon, &s->port, s->host, sizeof s->host,
                        err, errlen);
    if (rc < 0) {
        free(s->token);
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
    if (s->token)
        explicit_bzero(s->token, strlen(s->token));
    free(s->token);
    free(s);
}
