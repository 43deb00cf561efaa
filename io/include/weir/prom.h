/*
 * Prometheus endpoint: serves a metrics registry over HTTP, as Flink's
 * PrometheusReporter does, on libmicrohttpd's own polling thread.
 *
 *   GET /metrics   the registry in text exposition format 0.0.4
 *                  (Content-Type: text/plain; version=0.0.4; charset=utf-8)
 *   GET /          a short page that points at /metrics
 *   other paths    404; methods other than GET and HEAD get 405
 *
 * It listens on one address only, 127.0.0.1 unless told otherwise: metrics say a
 * lot about a job, so exposing them beyond the host is a decision for whoever sets
 * metrics.reporter.prom.host.
 *
 *     weir_prom_server *srv;
 *     char err[256];
 *     if (weir_prom_server_start(metrics, cfg_host, "9249-9259", &srv, err, sizeof err) < 0) {
 *         fprintf(stderr, "weir: %s\n", err);
 *         // metrics.reporter.prom.port: 9249-9259: Address already in use (...)
 *         return 1;
 *     }
 *     printf("metrics on http://127.0.0.1:%d/metrics\n", weir_prom_server_port(srv));
 *     ...
 *     weir_prom_server_stop(srv);      // before weir_metrics_free(metrics)
 */
#ifndef WEIR_PROM_H
#define WEIR_PROM_H

#include <stddef.h>

#include <weir/metrics.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weir_prom_server weir_prom_server;

/*
 * Serve m on host:port until weir_prom_server_stop. m must outlive the server.
 *
 * host: an address or a name that resolves to one ("127.0.0.1", "::1", "localhost",
 * "0.0.0.0" to listen on every interface); NULL or "" means 127.0.0.1.
 * port_spec: "9249", a range "9249-9259" (the first free port wins, as in Flink), a
 * comma-separated list of those ("9249,9300-9310"), or "0" for any free port (tests).
 *
 * Returns 0 and *out, or a negative errno with one line in err naming the key and
 * the value, e.g.
 *   metrics.reporter.prom.port: 9249: Address already in use
 *   metrics.reporter.prom.port: 9249-9259: Address already in use (every port in the ...)
 *   metrics.reporter.prom.port: 92x9: not a port (expected 9249, a range 9249-9259, or 0)
 *   metrics.reporter.prom.host: metrics.example: Name or service not known
 *   metrics.reporter.prom.host: 192.0.2.1: Cannot assign requested address
 */
int weir_prom_server_start(weir_metrics *m, const char *host, const char *port_spec,
                           weir_prom_server **out, char *err, size_t errlen);

/* The bound port. */
int weir_prom_server_port(const weir_prom_server *s);

/* The scrape URL, "http://127.0.0.1:9249/metrics", with an IPv6 address in brackets
 * ("http://[::1]:9249/metrics") however the host was written. Returns its length as
 * snprintf does, or -EINVAL. */
int weir_prom_server_url(const weir_prom_server *s, char *buf, size_t len);

/* Stops serving and closes the socket; a scrape in progress finishes first.
 * NULL is a no-op. */
void weir_prom_server_stop(weir_prom_server *s);

#ifdef __cplusplus
}
#endif

#endif /* WEIR_PROM_H */
