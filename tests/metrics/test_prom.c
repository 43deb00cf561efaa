/*
 * The Prometheus endpoint, seen from real clients: the curl command (what an
 * operator types) and HTTP/1.1 spoken over a plain socket (to check the status
 * line, headers and body byte for byte). Every server listens on port "0" or on
 * ports a test has just found free, so tests can run side by side.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <weir/metrics.h>
#include <weir/prom.h>

#define CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* ---- fixture: a registry with two series, served on a free port ------------ */

struct fixture {
    weir_metrics *m;
    weir_prom_server *srv;
    _Atomic uint64_t in0, in1;
    int port;
};

static const char EXPECTED[] = "# HELP flink_taskmanager_job_task_numRecordsIn Records received.\n"
                               "# TYPE flink_taskmanager_job_task_numRecordsIn counter\n"
                               "flink_taskmanager_job_task_numRecordsIn{job=\"p\",subtask=\"0\"} 42\n"
                               "flink_taskmanager_job_task_numRecordsIn{job=\"p\",subtask=\"1\"} 7\n";

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    char err[256];

    if (!f || !(f->m = weir_metrics_new()))
        return -1;
    atomic_init(&f->in0, 42);
    atomic_init(&f->in1, 7);
    if (weir_metrics_add_u64(f->m, "flink_taskmanager_job_task_numRecordsIn", "Records received.",
                             WEIR_METRIC_COUNTER, "job=\"p\",subtask=\"0\"", &f->in0) != 0 ||
        weir_metrics_add_u64(f->m, "flink_taskmanager_job_task_numRecordsIn", "Records received.",
                             WEIR_METRIC_COUNTER, "job=\"p\",subtask=\"1\"", &f->in1) != 0)
        return -1;
    if (weir_prom_server_start(f->m, "127.0.0.1", "0", &f->srv, err, sizeof(err)) != 0) {
        fprintf(stderr, "start: %s\n", err);
        return -1;
    }
    f->port = weir_prom_server_port(f->srv);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    weir_prom_server_stop(f->srv);
    weir_metrics_free(f->m);
    free(f);
    return 0;
}

/* ---- a raw HTTP/1.1 client ------------------------------------------------- */

struct response {
    int status;
    char *head; /* status line and headers, CRLF separated */
    char *body;
    size_t body_len;
};

static void response_free(struct response *r)
{
    free(r->head);
    free(r->body);
}

static int connect_to(int family, const char *addr, int port)
{
    struct sockaddr_storage ss = {0};
    socklen_t sl;
    struct timeval tv = {.tv_sec = 10};
    int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -errno;
    if (family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)&ss;
        in->sin_family = AF_INET;
        in->sin_port = htons((uint16_t)port);
        inet_pton(AF_INET, addr, &in->sin_addr);
        sl = sizeof(*in);
    } else {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        inet_pton(AF_INET6, addr, &in6->sin6_addr);
        sl = sizeof(*in6);
    }
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&ss, sl) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

/* Send one request with Connection: close and read the whole answer. */
static void http_request(int family, const char *addr, int port, const char *method,
                         const char *path, struct response *r)
{
    char req[512], *buf = NULL, *sep;
    size_t len = 0, cap = 0;
    ssize_t n;
    int fd = connect_to(family, addr, port);

    assert_true(fd >= 0);
    snprintf(req, sizeof(req),
             "%s %s HTTP/1.1\r\nHost: %s:%d\r\nUser-Agent: weir-test\r\nConnection: close\r\n\r\n",
             method, path, addr, port);
    assert_int_equal(send(fd, req, strlen(req), MSG_NOSIGNAL), (ssize_t)strlen(req));
    for (;;) {
        if (cap - len < 4096) {
            cap = cap ? cap * 2 : 8192;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
        n = recv(fd, buf + len, cap - len - 1, 0);
        assert_true(n >= 0); /* a timeout fails the test rather than hangs it */
        if (n == 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    buf[len] = '\0';

    sep = strstr(buf, "\r\n\r\n");
    assert_non_null(sep);
    r->head = strndup(buf, (size_t)(sep - buf) + 2);
    r->body_len = len - (size_t)(sep + 4 - buf);
    r->body = malloc(r->body_len + 1);
    memcpy(r->body, sep + 4, r->body_len);
    r->body[r->body_len] = '\0';
    assert_int_equal(sscanf(buf, "HTTP/1.1 %d ", &r->status), 1);
    free(buf);
}

static void http_get(int port, const char *path, struct response *r)
{
    http_request(AF_INET, "127.0.0.1", port, "GET", path, r);
}

/* Value of a header, case-insensitive name; a static buffer. */
static const char *header(const struct response *r, const char *name)
{
    static char value[256];
    size_t n = strlen(name);

    for (const char *line = strstr(r->head, "\r\n"); line && line[2];
         line = strstr(line + 2, "\r\n")) {
        const char *l = line + 2;
        if (strncasecmp(l, name, n) == 0 && l[n] == ':') {
            const char *v = l + n + 1, *end = strstr(v, "\r\n");
            while (*v == ' ')
                v++;
            snprintf(value, sizeof(value), "%.*s", (int)(end - v), v);
            return value;
        }
    }
    return NULL;
}

/* ---- the curl command ------------------------------------------------------ */

static bool have_curl(void)
{
    return system("command -v curl >/dev/null 2>&1") == 0;
}

/* Output of a shell command, whole. */
static char *run(const char *cmd)
{
    FILE *p = popen(cmd, "r");
    char *out = NULL;
    size_t len = 0, cap = 0, n;

    assert_non_null(p);
    do {
        if (cap - len < 4096) {
            cap = cap ? cap * 2 : 8192;
            out = realloc(out, cap);
            assert_non_null(out);
        }
        n = fread(out + len, 1, cap - len - 1, p);
        len += n;
    } while (n > 0);
    out[len] = '\0';
    assert_int_equal(pclose(p), 0);
    return out;
}

/* ---- ports ----------------------------------------------------------------- */

/* A listening socket on 127.0.0.1:port (0: any), or -errno. *port set to the port. */
static int hold_port(int *port)
{
    struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons((uint16_t)*port)};
    socklen_t sl = sizeof(in);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), e;

    in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0)
        return -errno;
    if (bind(fd, (struct sockaddr *)&in, sizeof(in)) < 0 || listen(fd, 1) < 0 ||
        getsockname(fd, (struct sockaddr *)&in, &sl) < 0) {
        e = errno;
        close(fd);
        return -e;
    }
    *port = ntohs(in.sin_port);
    return fd;
}

/* Hold two consecutive ports p, p+1 on 127.0.0.1. */
static void hold_two_ports(int fds[2], int *p)
{
    for (int tries = 0; tries < 100; tries++) {
        int a = 0, b;
        fds[0] = hold_port(&a);
        assert_true(fds[0] >= 0);
        b = a + 1;
        if (b <= 65535 && (fds[1] = hold_port(&b)) >= 0) {
            *p = a;
            return;
        }
        close(fds[0]);
    }
    fail_msg("no two consecutive free ports on 127.0.0.1");
}

/* ---- serving --------------------------------------------------------------- */

static void curl_scrapes_metrics(void **state)
{
    struct fixture *f = *state;
    char cmd[256], *out, *body;

    if (!have_curl())
        skip();
    snprintf(cmd, sizeof(cmd), "curl -sS -i --max-time 10 http://127.0.0.1:%d/metrics", f->port);
    out = run(cmd);
    assert_non_null(strstr(out, "HTTP/1.1 200 OK\r\n"));
    assert_non_null(strcasestr(out, "\r\nContent-Type: " CONTENT_TYPE "\r\n"));
    body = strstr(out, "\r\n\r\n");
    assert_non_null(body);
    assert_string_equal(body + 4, EXPECTED);
    free(out);
}

static void curl_sees_counter_move_between_scrapes(void **state)
{
    struct fixture *f = *state;
    char cmd[256], *out;

    if (!have_curl())
        skip();
    snprintf(cmd, sizeof(cmd), "curl -sS --fail --max-time 10 http://127.0.0.1:%d/metrics",
             f->port);
    out = run(cmd);
    assert_non_null(strstr(out, "subtask=\"0\"} 42\n"));
    free(out);
    atomic_store_explicit(&f->in0, 43, memory_order_relaxed);
    out = run(cmd);
    assert_non_null(strstr(out, "subtask=\"0\"} 43\n"));
    free(out);
}

static void curl_gets_404_for_unknown_path(void **state)
{
    struct fixture *f = *state;
    char cmd[256], *out;

    if (!have_curl())
        skip();
    snprintf(cmd, sizeof(cmd),
             "curl -s -o /dev/null -w '%%{http_code}' --max-time 10 http://127.0.0.1:%d/nope",
             f->port);
    out = run(cmd);
    assert_string_equal(out, "404");
    free(out);
}

static void get_metrics_answers_200_with_exposition_format(void **state)
{
    struct fixture *f = *state;
    struct response r = {0};
    char len[32];

    http_get(f->port, "/metrics", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(header(&r, "Content-Type"), CONTENT_TYPE);
    snprintf(len, sizeof(len), "%zu", strlen(EXPECTED));
    assert_string_equal(header(&r, "Content-Length"), len);
    assert_string_equal(r.body, EXPECTED);
    response_free(&r);
}

static void get_metrics_ignores_query_string(void **state)
{
    struct fixture *f = *state;
    struct response r = {0};

    http_get(f->port, "/metrics?name[]=weir_up", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, EXPECTED);
    response_free(&r);
}

static void get_root_points_to_metrics(void **state)
{
    struct fixture *f = *state;
    struct response r = {0};

    http_get(f->port, "/", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(header(&r, "Content-Type"), "text/html; charset=utf-8");
    assert_non_null(strstr(r.body, "href=\"/metrics\""));
    response_free(&r);
}

static void unknown_paths_answer_404(void **state)
{
    struct fixture *f = *state;
    static const char *paths[] = {"/metric", "/metrics/", "/metricsx", "/favicon.ico", "/a/b"};

    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        struct response r = {0};
        http_get(f->port, paths[i], &r);
        assert_int_equal(r.status, 404);
        response_free(&r);
    }
}

static void other_methods_answer_405_with_allow(void **state)
{
    struct fixture *f = *state;
    struct response r = {0};

    http_request(AF_INET, "127.0.0.1", f->port, "DELETE", "/metrics", &r);
    assert_int_equal(r.status, 405);
    assert_string_equal(header(&r, "Allow"), "GET, HEAD");
    response_free(&r);
}

static void head_metrics_sends_headers_only(void **state)
{
    struct fixture *f = *state;
    struct response r = {0};

    http_request(AF_INET, "127.0.0.1", f->port, "HEAD", "/metrics", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(header(&r, "Content-Type"), CONTENT_TYPE);
    assert_int_equal(r.body_len, 0);
    response_free(&r);
}

static void metric_added_while_serving_is_scraped(void **state)
{
    struct fixture *f = *state;
    _Atomic uint64_t late = 9;
    struct response r = {0};

    http_get(f->port, "/metrics", &r);
    assert_null(strstr(r.body, "weir_late"));
    response_free(&r);
    assert_int_equal(weir_metrics_add_u64(f->m, "weir_late", "", WEIR_METRIC_GAUGE, "", &late), 0);
    http_get(f->port, "/metrics", &r);
    assert_non_null(strstr(r.body, "\n# TYPE weir_late gauge\nweir_late 9\n"));
    response_free(&r);
    assert_int_equal(weir_metrics_remove(f->m, ""), 3); /* late goes out of scope */
}

/* ---- clients that do not behave ------------------------------------------- */

static void close_all(int *fds, int n)
{
    for (int i = 0; i < n; i++)
        close(fds[i]);
    free(fds);
}

/* n sockets connected (or connecting: non-blocking) from source address src to
 * 127.0.0.1:port, sending nothing; connections the server refuses are not retried. */
static int *open_silent(const char *src, int port, int n) /* NULL: skip the test */
{
    int *fds = calloc((size_t)n, sizeof(*fds));
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    struct sockaddr_in from = {.sin_family = AF_INET};
    struct rlimit rl;

    assert_non_null(fds);
    /* n here, as many in the server (this process), and some to spare */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)(2 * n + 64)) {
        rl.rlim_cur = rl.rlim_max;
        if (rl.rlim_cur < (rlim_t)(2 * n + 64) || setrlimit(RLIMIT_NOFILE, &rl) < 0) {
            free(fds);
            return NULL;
        }
    }
    inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
    inet_pton(AF_INET, src, &from.sin_addr);
    for (int i = 0; i < n; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        assert_true(fds[i] >= 0);
        if (bind(fds[i], (struct sockaddr *)&from, sizeof(from)) < 0) {
            close_all(fds, i + 1); /* this machine's loopback is 127.0.0.1 only */
            return NULL;
        }
        if (connect(fds[i], (struct sockaddr *)&to, sizeof(to)) < 0)
            assert_int_equal(errno, EINPROGRESS);
    }
    usleep(200 * 1000); /* let the server accept what it will */
    return fds;
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* curl scrapes port within max_s seconds (curl's --max-time: it fails the test past it). */
static void scrape_within(int port, int max_s)
{
    char cmd[256], *out;
    snprintf(cmd, sizeof(cmd),
             "curl -sS --fail --max-time %d -o /dev/null -w '%%{http_code}' "
             "http://127.0.0.1:%d/metrics",
             max_s, port);
    double t0 = mono_s();
    out = run(cmd);
    print_message("scraped in %.3f s\n", mono_s() - t0);
    assert_string_equal(out, "200");
    free(out);
}

static void silent_connections_do_not_hold_up_a_scrape(void **state)
{
    struct fixture *f = *state;

    if (!have_curl())
        skip();
    int *fds = open_silent("127.0.0.1", f->port, 100);
    if (!fds)
        skip();
    scrape_within(f->port, 2);
    close_all(fds, 100);
}

static void one_address_cannot_take_every_connection(void **state)
{
    struct fixture *f = *state;

    if (!have_curl())
        skip();
    /* 127.0.0.2 is loopback too: another client as far as the server can tell */
    int *fds = open_silent("127.0.0.2", f->port, 300);
    if (!fds)
        skip();
    scrape_within(f->port, 2);
    close_all(fds, 300);
}

/* A request libmicrohttpd refuses with 400 and a log message of its own. */
static void send_malformed(int port)
{
    static const char req[] = "GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: zz\r\n\r\n";
    char buf[4096];
    int fd = connect_to(AF_INET, "127.0.0.1", port);

    assert_true(fd >= 0);
    assert_int_equal(send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL), (ssize_t)sizeof(req) - 1);
    while (recv(fd, buf, sizeof(buf), 0) > 0)
        ;
    close(fd);
}

static void server_messages_are_logged_at_most_once_per_interval(void **state)
{
    weir_metrics *m = weir_metrics_new();
    weir_prom_server *srv = NULL;
    char err[256], path[] = "/tmp/weir-test-prom-stderr-XXXXXX", line[1024];
    int tmp = mkstemp(path), saved, lines = 0;

    assert_true(tmp >= 0);
    unlink(path);
    assert_int_equal(weir_prom_server_start(m, "127.0.0.1", "0", &srv, err, sizeof(err)), 0);
    fflush(stderr);
    saved = dup(STDERR_FILENO);
    dup2(tmp, STDERR_FILENO);
    for (int i = 0; i < 50; i++)
        send_malformed(weir_prom_server_port(srv));
    weir_prom_server_stop(srv); /* says how many it did not show */
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    FILE *in = fdopen(tmp, "r");
    assert_non_null(in);
    rewind(in);
    while (fgets(line, sizeof(line), in)) {
        print_message("stderr: %s", line);
        lines++;
    }
    fclose(in);
    /* 50 refused requests, each a message or two from libmicrohttpd: the first is shown,
     * the rest counted in one line when the server stops */
    assert_true(lines >= 1);
    assert_true(lines <= 2);
    weir_metrics_free(m);
}

/* ---- where it listens ------------------------------------------------------ */

static void default_host_is_loopback_only(void **state)
{
    weir_metrics *m = weir_metrics_new();
    weir_prom_server *srv = NULL;
    char err[256];
    int fd, port;

    assert_int_equal(weir_prom_server_start(m, NULL, "0", &srv, err, sizeof(err)), 0);
    port = weir_prom_server_port(srv);
    fd = connect_to(AF_INET, "127.0.0.1", port);
    assert_true(fd >= 0);
    close(fd);
    /* Bound to 0.0.0.0 it would answer on 127.0.0.2 as well. */
    assert_int_equal(connect_to(AF_INET, "127.0.0.2", port), -ECONNREFUSED);
    weir_prom_server_stop(srv);
    weir_metrics_free(m);
}

static void ipv6_loopback_host_serves(void **state)
{
    weir_metrics *m = weir_metrics_new();
    weir_prom_server *srv = NULL;
    struct response r = {0};
    char err[256];
    int rc;

    rc = weir_prom_server_start(m, "[::1]", "0", &srv, err, sizeof(err));
    if (rc == -EADDRNOTAVAIL || rc == -EAFNOSUPPORT || rc == -EINVAL) {
        weir_metrics_free(m);
        skip(); /* no IPv6 loopback here */
    }
    assert_int_equal(rc, 0);
    http_request(AF_INET6, "::1", weir_prom_server_port(srv), "GET", "/metrics", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "");
    response_free(&r);
    weir_prom_server_stop(srv);
    weir_metrics_free(m);
}

/* The address a person pastes into a browser or a scrape config: an IPv6 literal in
 * brackets (RFC 3986), whether the host was written "::1" or "[::1]". */
static void url_puts_an_ipv6_host_in_brackets(void **state)
{
    static const char *const hosts[] = {"::1", "[::1]"};
    weir_metrics *m = weir_metrics_new();
    char err[256], url[128], want[128];

    for (int i = 0; i < 2; i++) {
        weir_prom_server *srv = NULL;
        int rc = weir_prom_server_start(m, hosts[i], "0", &srv, err, sizeof(err));
        if (rc == -EADDRNOTAVAIL || rc == -EAFNOSUPPORT || rc == -EINVAL) {
            weir_metrics_free(m);
            skip(); /* no IPv6 loopback here */
        }
        assert_int_equal(rc, 0);
        assert_true(weir_prom_server_url(srv, url, sizeof(url)) > 0);
        snprintf(want, sizeof(want), "http://[::1]:%d/metrics", weir_prom_server_port(srv));
        assert_string_equal(url, want);
        weir_prom_server_stop(srv);
    }
    weir_metrics_free(m);
}

static void url_of_an_ipv4_host_is_as_written(void **state)
{
    weir_metrics *m = weir_metrics_new();
    weir_prom_server *srv = NULL;
    char err[256], url[128], want[128];

    assert_int_equal(weir_prom_server_start(m, "127.0.0.1", "0", &srv, err, sizeof(err)), 0);
    assert_true(weir_prom_server_url(srv, url, sizeof(url)) > 0);
    snprintf(want, sizeof(want), "http://127.0.0.1:%d/metrics", weir_prom_server_port(srv));
    assert_string_equal(url, want);
    weir_prom_server_stop(srv);
    weir_metrics_free(m);
}

static void stop_releases_the_port(void **state)
{
    weir_metrics *m = weir_metrics_new();
    weir_prom_server *srv = NULL;
    char err[256], spec[16];
    int port;

    assert_int_equal(weir_prom_server_start(m, "127.0.0.1", "0", &srv, err, sizeof(err)), 0);
    port = weir_prom_server_port(srv);
    weir_prom_server_stop(srv);
    snprintf(spec, sizeof(spec), "%d", port);
    assert_int_equal(weir_prom_server_start(m, "127.0.0.1", spec, &srv, err, sizeof(err)), 0);
    assert_int_equal(weir_prom_server_port(srv), port);
    weir_prom_server_stop(srv);
    weir_prom_server_stop(NULL);
    weir_metrics_free(m);
}

/* ---- ports and their errors ----------------------------------------------- */

static void port_range_skips_a_taken_port(void **state)
{
    weir_metrics *m = weir_metrics_new();
    weir_prom_server *srv = NULL;
    char err[256], spec[32];
    int fds[2], p;

    /* Find p, p+1 free; keep p taken, free p+1 for the server. */
    hold_two_ports(fds, &p);
    close(fds[1]);
    snprintf(spec, sizeof(spec), "%d-%d", p, p + 1);
    assert_int_equal(weir_prom_server_start(m, "127.0.0.1", spec, &srv, err, sizeof(err)), 0);
    assert_int_equal(weir_prom_server_port(srv), p + 1);
    weir_prom_server_stop(srv);
    close(fds[0]);
    weir_metrics_free(m);
}

static void taken_port_is_an_error_naming_key_and_port(void **state)
{
    weir_metrics *m = weir_metrics_new();
    weir_prom_server *srv = (weir_prom_server *)1;
    char err[256], spec[16], expected[256];
    int p = 0, fd = hold_port(&p);

    assert_true(fd >= 0);
    snprintf(spec, sizeof(spec), "%d", p);
    assert_int_equal(weir_prom_server_start(m, "127.0.0.1", spec, &srv, err, sizeof(err)),
                     -EADDRINUSE);
    assert_null(srv);
    snprintf(expected, sizeof(expected), "metrics.reporter.prom.port: %d: Address already in use",
             p);
    assert_string_equal(err, expected);
    close(fd);
    weir_metrics_free(m);
}

static void fully_taken_range_is_an_error_naming_the_range(void **state)
{
    weir_metrics *m = weir_metrics_new();
    weir_prom_server *srv = NULL;
    char err[256], spec[32], expected[256];
    int fds[2], p;

    hold_two_ports(fds, &p);
    snprintf(spec, sizeof(spec), "%d-%d", p, p + 1);
    assert_int_equal(weir_prom_server_start(m, "127.0.0.1", spec, &srv, err, sizeof(err)),
                     -EADDRINUSE);
    snprintf(expected, sizeof(expected),
             "metrics.reporter.prom.port: %s: Address already in use "
             "(every port in the range is taken)",
             spec);
    assert_string_equal(err, expected);
    close(fds[0]);
    close(fds[1]);
    weir_metrics_free(m);
}

static void malformed_port_spec_is_an_error_naming_the_key(void **state)
{
    weir_metrics *m = weir_metrics_new();
    weir_prom_server *srv = NULL;
    static const char *bad[] = {"",    "92x9",  "70000",  "-1",    "9259-9249",
                                "0-5", "9249,", "0,9249", "9249-", "http"};
    char err[256], prefix[64];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(weir_prom_server_start(m, "127.0.0.1", bad[i], &srv, err, sizeof(err)),
                         -EINVAL);
        snprintf(prefix, sizeof(prefix), "metrics.reporter.prom.port: %s: ", bad[i]);
        if (strncmp(err, prefix, strlen(prefix)) != 0)
            fail_msg("spec \"%s\": error \"%s\"", bad[i], err);
    }
    weir_metrics_free(m);
}

static void unresolvable_host_is_an_error_naming_host_key(void **state)
{
    weir_metrics *m = weir_metrics_new();
    weir_prom_server *srv = NULL;
    char err[256];
    static const char prefix[] = "metrics.reporter.prom.host: no-such-host.invalid: ";

    assert_true(weir_prom_server_start(m, "no-such-host.invalid", "0", &srv, err, sizeof(err)) < 0);
    assert_null(srv);
    if (strncmp(err, prefix, strlen(prefix)) != 0 || strlen(err) == strlen(prefix))
        fail_msg("error \"%s\"", err);
    weir_metrics_free(m);
}

static void foreign_address_is_an_error_naming_host_key(void **state)
{
    weir_metrics *m = weir_metrics_new();
    weir_prom_server *srv = NULL;
    char err[256];
    FILE *f = fopen("/proc/sys/net/ipv4/ip_nonlocal_bind", "r");
    int nonlocal = 0;

    if (f) {
        if (fscanf(f, "%d", &nonlocal) != 1)
            nonlocal = 0;
        fclose(f);
    }
    if (nonlocal) {
        weir_metrics_free(m);
        skip(); /* this host lets anyone bind any address */
    }
    /* 192.0.2.1 is TEST-NET-1: never one of this machine's addresses. */
    assert_int_equal(weir_prom_server_start(m, "192.0.2.1", "0", &srv, err, sizeof(err)),
                     -EADDRNOTAVAIL);
    assert_string_equal(err,
                        "metrics.reporter.prom.host: 192.0.2.1: Cannot assign requested address");
    weir_metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(curl_scrapes_metrics, setup, teardown),
        cmocka_unit_test_setup_teardown(curl_sees_counter_move_between_scrapes, setup, teardown),
        cmocka_unit_test_setup_teardown(curl_gets_404_for_unknown_path, setup, teardown),
        cmocka_unit_test_setup_teardown(get_metrics_answers_200_with_exposition_format, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(get_metrics_ignores_query_string, setup, teardown),
        cmocka_unit_test_setup_teardown(get_root_points_to_metrics, setup, teardown),
        cmocka_unit_test_setup_teardown(unknown_paths_answer_404, setup, teardown),
        cmocka_unit_test_setup_teardown(other_methods_answer_405_with_allow, setup, teardown),
        cmocka_unit_test_setup_teardown(head_metrics_sends_headers_only, setup, teardown),
        cmocka_unit_test_setup_teardown(metric_added_while_serving_is_scraped, setup, teardown),
        cmocka_unit_test_setup_teardown(silent_connections_do_not_hold_up_a_scrape, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(one_address_cannot_take_every_connection, setup, teardown),
        cmocka_unit_test(server_messages_are_logged_at_most_once_per_interval),
        cmocka_unit_test(default_host_is_loopback_only),
        cmocka_unit_test(ipv6_loopback_host_serves),
        cmocka_unit_test(url_puts_an_ipv6_host_in_brackets),
        cmocka_unit_test(url_of_an_ipv4_host_is_as_written),
        cmocka_unit_test(stop_releases_the_port),
        cmocka_unit_test(port_range_skips_a_taken_port),
        cmocka_unit_test(taken_port_is_an_error_naming_key_and_port),
        cmocka_unit_test(fully_taken_range_is_an_error_naming_the_range),
        cmocka_unit_test(malformed_port_spec_is_an_error_naming_the_key),
        cmocka_unit_test(unresolvable_host_is_an_error_naming_host_key),
        cmocka_unit_test(foreign_address_is_an_error_naming_host_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
