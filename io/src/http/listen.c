/*
 * The listening socket of weir's HTTP endpoints (the Prometheus endpoint, prom.c; the REST
 * API, rest.c): a host resolved to one address, a port spec walked port by port until one
 * binds, and errors that name the value and the endpoint's own configuration key.
 */
#include <weir/errbuf.h>

#include <errno.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "http_listen.h"

#define LISTEN_BACKLOG 64
#define MAX_RANGES     32

/* ---- port spec ------------------------------------------------------------- */

struct port_range {
    unsigned lo, hi;
};

static bool parse_port(const char **p, unsigned *port)
{
    unsigned v = 0;
    const char *s = *p;

    if (*s < '0' || *s > '9')
        return false;
    for (; *s >= '0' && *s <= '9'; s++) {
        v = v * 10 + (unsigned)(*s - '0');
        if (v > 65535)
            return false;
    }
    *port = v;
    *p = s;
    return true;
}

static void skip_blanks(const char **p)
{
    while (**p == ' ' || **p == '\t')
        (*p)++;
}

/* "9249", "9249-9259", "9249,9300-9310", "0". Returns the number of ranges or
 * -EINVAL with err set. */
static int parse_port_spec(const struct http_keys *k, const char *spec, struct port_range *r,
                           int max, char *err, size_t errlen)
{
    const char *p = spec;
    int n = 0;

    for (;;) {
        skip_blanks(&p);
        if (n == max || !parse_port(&p, &r[n].lo))
            goto err;
        r[n].hi = r[n].lo;
        skip_blanks(&p);
        if (*p == '-') {
            p++;
            skip_blanks(&p);
            if (!parse_port(&p, &r[n].hi))
                goto err;
            skip_blanks(&p);
            if (r[n].lo == 0 || r[n].hi < r[n].lo) {
                errbuf_printf(err, errlen,
                              "%s: %s: not a port range (a range runs from a "
                              "port to a port not below it, e.g. %u-%u)",
                              k->port, spec, k->example, k->example + 10);
                return -EINVAL;
            }
        }
        n++;
        if (*p == '\0')
            break;
        if (*p++ != ',')
            goto err;
    }
    if (n > 1) {
        for (int i = 0; i < n; i++)
            if (r[i].lo == 0)
                goto err;
    }
    return n;

err:
    errbuf_printf(err, errlen, "%s: %s: not a port (expected %u, a range %u-%u, or 0)", k->port,
                  spec, k->example, k->example, k->example + 10);
    return -EINVAL;
}

/* ---- binding --------------------------------------------------------------- */

static void set_port(struct sockaddr_storage *ss, unsigned port)
{
    if (ss->ss_family == AF_INET)
        ((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
    else
        ((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
}

static int bound_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);

    if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
        return -errno;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

/* A listening socket on addr:port, or -errno. */
static int listen_on(struct sockaddr_storage *addr, socklen_t addrlen, unsigned port)
{
    int fd, one = 1, rc;

    set_port(addr, port);
    fd = socket(addr->ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -errno;
    /* Lets a restarted weir take its port back from connections in TIME_WAIT; on
     * Linux it does not let two listeners share a port, so a taken port still
     * fails with EADDRINUSE. */
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
        goto err;
    /* "::" means IPv6 only, as the host asked: 0.0.0.0 is its own setting. */
    if (addr->ss_family == AF_INET6 &&
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)
        goto err;
    if (bind(fd, (struct sockaddr *)addr, addrlen) < 0 || listen(fd, LISTEN_BACKLOG) < 0)
        goto err;
    return fd;

err:
    rc = -errno;
    close(fd);
    return rc;
}

/* First IPv4 address of host, else its first IPv6 one: "localhost" should mean
 * 127.0.0.1, which is where a scraper configured by hand will look. */
static int resolve_host(const struct http_keys *k, const char *host, struct sockaddr_storage *addr,
                        socklen_t *addrlen, char *err, size_t errlen)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_family = AF_UNSPEC};
    struct addrinfo *res = NULL, *pick = NULL;
    char bare[256];
    size_t n = strlen(host);
    int rc;

    /* Accept "[::1]" as URLs write it. */
    if (n >= 2 && host[0] == '[' && host[n - 1] == ']' && n - 2 < sizeof(bare)) {
        memcpy(bare, host + 1, n - 2);
        bare[n - 2] = '\0';
    } else if (n < sizeof(bare)) {
        memcpy(bare, host, n + 1);
    } else {
        errbuf_printf(err, errlen, "%s: %.64s...: name too long", k->host, host);
        return -EINVAL;
    }
    rc = getaddrinfo(bare, NULL, &hints, &res);
    if (rc != 0) {
        errbuf_printf(err, errlen, "%s: %s: %s", k->host, host,
                      rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
        switch (rc) {
        case EAI_MEMORY:
            return -ENOMEM;
        case EAI_AGAIN:
            return -EAGAIN;
        case EAI_SYSTEM:
            return errno ? -errno : -EINVAL;
        default:
            return -EINVAL;
        }
    }
    for (struct addrinfo *ai = res; ai && !pick; ai = ai->ai_next)
        if (ai->ai_family == AF_INET)
            pick = ai;
    for (struct addrinfo *ai = res; ai && !pick; ai = ai->ai_next)
        if (ai->ai_family == AF_INET6)
            pick = ai;
    if (!pick) {
        errbuf_printf(err, errlen, "%s: %s: no IPv4 or IPv6 address", k->host, host);
        freeaddrinfo(res);
        return -EINVAL;
    }
    memcpy(addr, pick->ai_addr, pick->ai_addrlen);
    *addrlen = pick->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

/* "localhost (127.0.0.1)" when the host is a name, else just the host. */
static void describe_host(const char *host, const struct sockaddr_storage *addr, socklen_t addrlen,
                          char *out, size_t outlen)
{
    char num[NI_MAXHOST];

    if (getnameinfo((const struct sockaddr *)addr, addrlen, num, sizeof(num), NULL, 0,
                    NI_NUMERICHOST) != 0 ||
        strcmp(num, host) == 0)
        snprintf(out, outlen, "%s", host);
    else
        snprintf(out, outlen, "%s (%s)", host, num);
}

/* Walk the ranges in order; the first port that binds wins. A taken port moves on
 * to the next; any other failure is about the host or this port and stops. */
static int bind_first_free(const struct http_keys *k, const char *host, const char *spec,
                           const struct port_range *r, int nr, struct sockaddr_storage *addr,
                           socklen_t addrlen, char *err, size_t errlen)
{
    char where[NI_MAXHOST + 300];
    int fd;

    for (int i = 0; i < nr; i++) {
        for (unsigned port = r[i].lo; port <= r[i].hi; port++) {
            fd = listen_on(addr, addrlen, port);
            if (fd >= 0)
                return fd;
            if (fd == -EADDRINUSE)
                continue;
            if (fd == -EADDRNOTAVAIL || fd == -EAFNOSUPPORT) {
                describe_host(host, addr, addrlen, where, sizeof(where));
                errbuf_printf(err, errlen, "%s: %s: %s", k->host, where, strerror(-fd));
            } else {
                errbuf_printf(err, errlen, "%s: %u: %s", k->port, port, strerror(-fd));
            }
            return fd;
        }
    }
    if (nr == 1 && r[0].lo == r[0].hi)
        errbuf_printf(err, errlen, "%s: %s: %s", k->port, spec, strerror(EADDRINUSE));
    else
        errbuf_printf(err, errlen, "%s: %s: %s (every port in the range is taken)", k->port, spec,
                      strerror(EADDRINUSE));
    return -EADDRINUSE;
}

int http_listen(const struct http_keys *k, const char *host, const char *port_spec, int *port,
                int *family, char *err, size_t errlen)
{
    struct port_range ranges[MAX_RANGES];
    struct sockaddr_storage addr;
    socklen_t addrlen = 0;
    int nr, fd, rc;

    if (!port_spec) {
        errbuf_printf(err, errlen, "%s: not set (expected %u, a range %u-%u, or 0)", k->port,
                      k->example, k->example, k->example + 10);
        return -EINVAL;
    }
    nr = parse_port_spec(k, port_spec, ranges, MAX_RANGES, err, errlen);
    if (nr < 0)
        return nr;
    rc = resolve_host(k, host, &addr, &addrlen, err, errlen);
    if (rc < 0)
        return rc;
    fd = bind_first_free(k, host, port_spec, ranges, nr, &addr, addrlen, err, errlen);
    if (fd < 0)
        return fd;
    *port = bound_port(fd);
    if (*port < 0) {
        rc = *port;
        errbuf_printf(err, errlen, "%s: %s: %s", k->port, port_spec, strerror(-rc));
        close(fd);
        return rc;
    }
    *family = addr.ss_family;
    return fd;
}

/* ---- serving --------------------------------------------------------------- */

/* Whether the socket is bound to 127.0.0.0/8 or ::1 (an IPv4-mapped loopback too). */
static bool is_loopback(int fd)
{
    struct sockaddr_storage a;
    socklen_t n = sizeof a;
    if (getsockname(fd, (struct sockaddr *)&a, &n) < 0)
        return false;
    if (a.ss_family == AF_INET)
        return (ntohl(((struct sockaddr_in *)&a)->sin_addr.s_addr) >> 24) == 127;
    if (a.ss_family != AF_INET6)
        return false;
    const struct in6_addr *v6 = &((struct sockaddr_in6 *)&a)->sin6_addr;
    return IN6_IS_ADDR_LOOPBACK(v6) || (IN6_IS_ADDR_V4MAPPED(v6) && v6->s6_addr[12] == 127);
}

int http_serve(const struct http_serve_opts *o, const char *host, const char *port_spec,
               struct MHD_Daemon **daemon, int *port, char *host_out, size_t host_len, char *err,
               size_t errlen)
{
    struct stat before, after;
    int family = AF_INET;
    if (!host || !host[0])
        host = "127.0.0.1";
    snprintf(host_out, host_len, "%.*s", (int)strcspn(host + (host[0] == '['), "]"),
             host + (host[0] == '['));
    int fd = http_listen(&o->keys, host, port_spec, port, &family, err, errlen);
    if (fd < 0)
        return fd;
    if (o->loopback_only && !is_loopback(fd)) {
        errbuf_printf(err, errlen, "%s: %s: not a loopback address: %s", o->keys.host, host,
                      o->loopback_only);
        close(fd);
        return -EINVAL; /* a configuration to change, as a taken port */
    }
    if (fstat(fd, &before) < 0) {
        int rc = -errno;
        errbuf_printf(err, errlen, "%s: %s: %s", o->keys.port, port_spec, strerror(-rc));
        close(fd);
        return rc;
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO |
                     (o->log ? MHD_USE_ERROR_LOG : 0) | (family == AF_INET6 ? MHD_USE_IPv6 : 0);
    if (o->log)
        *daemon = MHD_start_daemon(
            flags, 0, NULL, NULL, o->handle, o->arg, MHD_OPTION_EXTERNAL_LOGGER, o->log, o->arg,
            MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_LIMIT, o->max_clients,
            MHD_OPTION_PER_IP_CONNECTION_LIMIT, o->max_clients_per_ip,
            MHD_OPTION_CONNECTION_TIMEOUT, o->idle_timeout_s, MHD_OPTION_NOTIFY_COMPLETED,
            o->completed, o->arg, MHD_OPTION_END);
    else
        *daemon =
            MHD_start_daemon(flags, 0, NULL, NULL, o->handle, o->arg, MHD_OPTION_LISTEN_SOCKET, fd,
                             MHD_OPTION_CONNECTION_LIMIT, o->max_clients,
                             MHD_OPTION_PER_IP_CONNECTION_LIMIT, o->max_clients_per_ip,
                             MHD_OPTION_CONNECTION_TIMEOUT, o->idle_timeout_s,
                             MHD_OPTION_NOTIFY_COMPLETED, o->completed, o->arg, MHD_OPTION_END);
    if (*daemon)
        return 0;
    /* Whether MHD closed the socket on its way out depends on where it failed: close it only
     * if the descriptor is still the socket we made. */
    if (fstat(fd, &after) == 0 && after.st_ino == before.st_ino && after.st_dev == before.st_dev)
        close(fd);
    errbuf_printf(err, errlen, "%s: %d: could not start the HTTP server (libmicrohttpd)",
                  o->keys.port, *port);
    return -EIO;
}

/* ---- replies --------------------------------------------------------------- */

enum MHD_Result http_reply_hdr(struct MHD_Connection *c, unsigned int status, const char *type,
                               const char *body, size_t len, enum MHD_ResponseMemoryMode mode,
                               const char *name, const char *value)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)body, mode);
    if (!r) {
        if (mode == MHD_RESPMEM_MUST_FREE)
            free((void *)body);
        return MHD_NO;
    }
    enum MHD_Result ret = MHD_NO;
    if (MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type) == MHD_YES &&
        (!name || MHD_add_response_header(r, name, value) == MHD_YES))
        ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

enum MHD_Result http_reply(struct MHD_Connection *c, unsigned int status, const char *type,
                           const char *body, size_t len, enum MHD_ResponseMemoryMode mode)
{
    bool allow = status == MHD_HTTP_METHOD_NOT_ALLOWED;
    return http_reply_hdr(c, status, type, body, len, mode, allow ? MHD_HTTP_HEADER_ALLOW : NULL,
                          allow ? "GET, HEAD" : NULL);
}
