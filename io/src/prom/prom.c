/*
 * Prometheus endpoint on libmicrohttpd.
 *
 * We bind the listening socket ourselves (http_listen, io/src/http/listen.c) and hand
 * it to MHD (MHD_OPTION_LISTEN_SOCKET): that is how a port range is walked port by port
 * and how an error can say exactly which port or address failed and why, which MHD's
 * own binding reports only to its log. MHD then owns the socket and closes it in
 * MHD_stop_daemon.
 *
 * MHD runs one internal polling thread (epoll on Linux, via MHD_USE_AUTO: a job with
 * many RocksDB files open has descriptors past select()'s FD_SETSIZE). A scrape
 * renders the registry on that thread; rendering takes the registry's lock briefly.
 * No client can hold that thread: sockets are non-blocking, and a client that sends
 * nothing is a slot, not a wait.
 *
 * Clients that do not behave: a connection silent for IDLE_TIMEOUT_S is closed (a
 * scraper sends its request as soon as it connects), one address holds at most
 * MAX_CLIENTS_PER_IP connections, all together MAX_CLIENTS, so that a few hundred
 * half-open sockets neither hold up a scrape nor take the job's file descriptors.
 * What MHD has to say about them (refused requests, aborted connections) reaches
 * stderr at most once per LOG_INTERVAL_S, with a count of what was not shown.
 */
#include <weir/errbuf.h>
#include <weir/prom.h>

#include "http_listen.h"

#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define KEY_PORT           "metrics.reporter.prom.port"
#define KEY_HOST           "metrics.reporter.prom.host"
#define CONTENT_TYPE       "text/plain; version=0.0.4; charset=utf-8"
#define MAX_CLIENTS        256
#define MAX_CLIENTS_PER_IP 128
#define IDLE_TIMEOUT_S     3
#define LOG_INTERVAL_S     60

struct weir_prom_server {
    struct MHD_Daemon *daemon;
    weir_metrics *metrics;
    int port;
    /* log_mhd's rate limit: when it last wrote a line, what it left out since */
    pthread_mutex_t log_lock;
    struct timespec log_last;
    bool logged;
    unsigned long log_skipped;
    char host[256]; /* as configured, without the brackets of "[::1]" */
};

static const char ROOT_PAGE[] =
    "<!DOCTYPE html>\n<html><head><title>weir</title></head>\n"
    "<body><p>weir metrics are at <a href=\"/metrics\">/metrics</a>.</p></body></html>\n";
static const char NOT_FOUND[] = "Not found. Metrics are at /metrics.\n";
static const char NOT_ALLOWED[] = "Method not allowed: use GET.\n";
static const char NO_MEMORY[] = "Out of memory rendering metrics.\n";

/* ---- HTTP ------------------------------------------------------------------ */

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **req_cls)
{
    struct weir_prom_server *s = cls;
    char *text;
    size_t len;

    /* MHD answers HEAD with the headers of the GET response and no body. */
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return http_reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain; charset=utf-8", NOT_ALLOWED,
                          sizeof(NOT_ALLOWED) - 1, MHD_RESPMEM_PERSISTENT);
    if (strcmp(url, "/metrics") == 0) {
        if (weir_metrics_render(s->metrics, &text, &len) < 0)
            return http_reply(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain; charset=utf-8",
                              NO_MEMORY, sizeof(NO_MEMORY) - 1, MHD_RESPMEM_PERSISTENT);
        return http_reply(c, MHD_HTTP_OK, CONTENT_TYPE, text, len, MHD_RESPMEM_MUST_FREE);
    }
    if (strcmp(url, "/") == 0)
        return http_reply(c, MHD_HTTP_OK, "text/html; charset=utf-8", ROOT_PAGE,
                          sizeof(ROOT_PAGE) - 1, MHD_RESPMEM_PERSISTENT);
    return http_reply(c, MHD_HTTP_NOT_FOUND, "text/plain; charset=utf-8", NOT_FOUND,
                      sizeof(NOT_FOUND) - 1, MHD_RESPMEM_PERSISTENT);
}

/* One line per LOG_INTERVAL_S at most: a client that sends a thousand bad requests
 * must not write a thousand lines into the job's log. Messages may quote what a client
 * sent (a URL): bytes that are not printable ASCII are written as '?'. */
static void log_mhd(void *cls, const char *fmt, va_list ap)
{
    struct weir_prom_server *s = cls;
    struct timespec now;
    char msg[512];

    clock_gettime(CLOCK_MONOTONIC, &now);
    pthread_mutex_lock(&s->log_lock);
    if (s->logged && now.tv_sec - s->log_last.tv_sec < LOG_INTERVAL_S) {
        s->log_skipped++;
        pthread_mutex_unlock(&s->log_lock);
        return;
    }
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    for (char *p = msg; *p; p++)
        if (*p < 0x20 || *p > 0x7e)
            *p = '?';
    if (s->log_skipped)
        fprintf(stderr, "weir: prometheus endpoint: %s (and %lu more messages in the last %d s)\n",
                msg, s->log_skipped, LOG_INTERVAL_S);
    else
        fprintf(stderr, "weir: prometheus endpoint: %s\n", msg);
    s->logged = true;
    s->log_last = now;
    s->log_skipped = 0;
    pthread_mutex_unlock(&s->log_lock);
}

/* ---- server ---------------------------------------------------------------- */

int weir_prom_server_start(weir_metrics *m, const char *host, const char *port_spec,
                           weir_prom_server **out, char *err, size_t errlen)
{
    errbuf_printf(err, errlen, "%s", "");
    if (!m || !out) {
        errbuf_printf(err, errlen, "weir_prom_server_start: no registry or no result pointer");
        return -EINVAL;
    }
    *out = NULL;
    weir_prom_server *s = calloc(1, sizeof(*s));
    if (!s) {
        errbuf_printf(err, errlen, KEY_PORT ": %s: %s", port_spec ? port_spec : "",
                      strerror(ENOMEM));
        return -ENOMEM;
    }
    s->metrics = m;
    pthread_mutex_init(&s->log_lock, NULL);
    const struct http_serve_opts o = {
        .keys = {.port = KEY_PORT, .host = KEY_HOST, .example = 9249},
        .handle = handle,
        .arg = s,
        .log = log_mhd,
        .max_clients = MAX_CLIENTS,
        .max_clients_per_ip = MAX_CLIENTS_PER_IP,
        .idle_timeout_s = IDLE_TIMEOUT_S,
    };
    int rc =
        http_serve(&o, host, port_spec, &s->daemon, &s->port, s->host, sizeof s->host, err, errlen);
    if (rc < 0) {
        pthread_mutex_destroy(&s->log_lock);
        free(s);
        return rc;
    }
    *out = s;
    return 0;
}

int weir_prom_server_port(const weir_prom_server *s)
{
    return s ? s->port : -EINVAL;
}

int weir_prom_server_url(const weir_prom_server *s, char *buf, size_t len)
{
    if (!s || !buf)
        return -EINVAL;
    /* An IPv6 literal has colons, which a URL reserves for the port (RFC 3986). */
    bool v6 = strchr(s->host, ':') != NULL;
    return snprintf(buf, len, "http://%s%s%s:%d/metrics", v6 ? "[" : "", s->host, v6 ? "]" : "",
                    s->port);
}

void weir_prom_server_stop(weir_prom_server *s)
{
    if (!s)
        return;
    MHD_stop_daemon(s->daemon);
    if (s->log_skipped)
        fprintf(stderr,
                "weir: prometheus endpoint: %lu more messages not shown (one a %d s at most)\n",
                s->log_skipped, LOG_INTERVAL_S);
    pthread_mutex_destroy(&s->log_lock);
    free(s);
}
