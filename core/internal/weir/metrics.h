/*
 * Metrics registry: the numbers a pager watches, read at scrape time.
 *
 * The owner of a number (a worker thread, a ring, the checkpoint coordinator) keeps
 * it where it already lives and updates it with relaxed atomic stores; the registry
 * only remembers where to read it. A scrape (weir/prom.h) renders every metric in
 * Prometheus text exposition format 0.0.4. Rates need history, so meters and
 * time shares are sampled once per second by the registry's own sampler thread, as
 * Flink's MeterView is, and exposed as gauges averaged over a window.
 *
 * Names follow Flink's Prometheus reporter: "flink_" and the metric's scope joined by '_'
 * (WEIR_FLINK_JOB, WEIR_FLINK_TASK, WEIR_FLINK_OPERATOR below) before the metric's own name,
 * the scope's variables (job, task, subtask) in labels, invalid name characters replaced by
 * '_'. Numbers Flink has no equivalent of (ring and pool fill, workers, snapshot stalls,
 * the DLQ) are named weir_<scope>_<name> instead (WEIR_ONLY_TASK, ...): a Flink team's
 * dashboards match the first kind and cannot mistake the second for Flink's.
 *
 *     weir_metrics *m = weir_metrics_new();
 *     char labels[256] = "";
 *     weir_metrics_labels_append(labels, sizeof labels, "job", "pipeline");
 *     weir_metrics_labels_append(labels, sizeof labels, "subtask", "0");
 *     weir_metrics_add_u64(m, WEIR_FLINK_TASK "numRecordsIn", "Records received.",
 *                          WEIR_METRIC_COUNTER, labels, &task->records_in);
 *     weir_metrics_add_meter(m, WEIR_FLINK_TASK "numRecordsInPerSecond",
 *                            "Records received per second.", labels, &task->records_in, 60);
 *     ...                             // worker: atomic_store_explicit(&task->records_in,
 *     ...                             //         n, memory_order_relaxed)
 *     weir_metrics_remove(m, "job=\"pipeline\"");   // before task->records_in goes away
 *     weir_metrics_free(m);
 *
 * Thread safety: every function may be called from any thread while a scrape runs;
 * the registry's list is guarded by one mutex that rendering holds for the length of
 * one render. Callbacks (weir_metrics_add_fn) run under that mutex and must not call
 * back into the registry.
 */
#ifndef WEIR_METRICS_H
#define WEIR_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weir_metrics weir_metrics;

enum weir_metric_type { WEIR_METRIC_COUNTER, WEIR_METRIC_GAUGE };

/* Flink's scopes as its Prometheus reporter spells them (labels job_id, job_name; task_name,
 * subtask_index; operator_name), and weir's own beside them. */
#define WEIR_FLINK_JOB          "flink_jobmanager_job_"
#define WEIR_FLINK_TASK         "flink_taskmanager_job_task_"
#define WEIR_FLINK_OPERATOR     "flink_taskmanager_job_task_operator_"
#define WEIR_FLINK_KAFKA_SOURCE WEIR_FLINK_OPERATOR "KafkaSourceReader_"
#define WEIR_ONLY_JOB           "weir_job_"
#define WEIR_ONLY_TASK          "weir_task_"
#define WEIR_ONLY_OPERATOR      "weir_operator_"

/* NULL when out of memory. The sampler thread starts with the first meter or time
 * share, not here. */
weir_metrics *weir_metrics_new(void);

/* Stops the sampler thread and forgets every metric. Stop any server that renders
 * this registry first. NULL is a no-op. */
void weir_metrics_free(weir_metrics *m);

/*
 * Register a metric whose value the owner updates with relaxed atomic stores (single
 * writer, e.g. a worker thread) and the registry reads at scrape time.
 *
 * name: Prometheus metric name, e.g. WEIR_FLINK_TASK "numRecordsIn"; characters outside
 * [a-zA-Z0-9_:] become '_' and a leading digit gets a '_' in front.
 * help: one line of text (may be NULL or ""); '\' and newlines are escaped on output.
 * labels: the inside of {...} already formatted, e.g.
 * "job_name=\"pipeline\",task_name=\"map\",subtask_index=\"0\"" (may be "" or NULL); values must be
 * escaped as the exposition format says (\\, \", \n) — weir_metrics_labels_append
 * does it.
 *
 * Metrics with the same name share one # HELP/# TYPE header (the first registration's
 * help wins). *value must stay valid until the metric is removed or the registry freed.
 *
 * Returns 0, -ENOMEM, -EINVAL (NULL or empty name, NULL value, malformed labels, or a
 * name already registered with another type) or -EEXIST (the same name and labels are
 * registered already: Prometheus rejects a scrape with a duplicate series).
 */
int weir_metrics_add_u64(weir_metrics *m, const char *name, const char *help,
                         enum weir_metric_type type, const char *labels,
                         const _Atomic uint64_t *value);

/* A gauge computed at scrape time (e.g. ring fill ratio). fn runs on the scraping
 * thread with the registry locked; it must be quick and must not call the registry.
 * Returns as weir_metrics_add_u64. */
int weir_metrics_add_fn(weir_metrics *m, const char *name, const char *help, const char *labels,
                        double (*fn)(void *arg), void *arg);

/*
 * A rate in events per second of a counter, like Flink's MeterView: the registry's
 * sampler thread reads the counter once per second and exposes the average rate over
 * the last `window_s` seconds (1 ≤ window_s ≤ 86400) as a gauge named `name`.
 *
 * The rate is (newest sample - oldest sample) / (time between them), the oldest being
 * at most window_s samples back, so until the window has filled it averages over
 * what it has; with fewer than two samples it is 0. The first sample is taken here.
 * Returns as weir_metrics_add_u64, or a negative errno if the sampler thread cannot
 * be started.
 */
int weir_metrics_add_meter(weir_metrics *m, const char *name, const char *help, const char *labels,
                           const _Atomic uint64_t *counter, int window_s);

/*
 * Time-in-state per second, like Flink's busyTimeMsPerSecond: `ns_counter` accumulates
 * nanoseconds spent in a state; exposed as milliseconds per second averaged over
 * window_s, sampled as a meter is. Clamped to [0, 1000]: an owner that adds its time
 * at the end of a batch can put a little more than a second into one second.
 */
int weir_metrics_add_time_share(weir_metrics *m, const char *name, const char *help,
                                const char *labels, const _Atomic uint64_t *ns_counter,
                                int window_s);

/*
 * Forget every metric whose labels begin with the label pairs in `labels_prefix`,
 * whole pairs only: "job=\"pipeline\"" removes job pipeline's metrics and not job
 * pipeline2's; "" removes every metric. When it returns the registry will not read
 * their values again, so their owner may free them. Returns how many were removed.
 */
int weir_metrics_remove(weir_metrics *m, const char *labels_prefix);

/* Prometheus text exposition format 0.0.4 into a malloc'd buffer (*len set, and a
 * terminating NUL not counted in it). Returns 0, -EINVAL or -ENOMEM. */
int weir_metrics_render(weir_metrics *m, char **out, size_t *len);

/* Append `key="value"` (with a ',' first if buf is not empty) to the NUL-terminated
 * label string in buf, escaping value. Returns 0, -EINVAL (key is not a label name:
 * [a-zA-Z_][a-zA-Z0-9_]*) or -ENOSPC (buf is left as it was). */
int weir_metrics_labels_append(char *buf, size_t cap, const char *key, const char *value);

/* For tests: take a sample of every meter and time share now, without waiting for
 * the sampler thread. */
void weir_metrics_sample_now(weir_metrics *m);

/* For tests: read time from now_ns(arg) (nanoseconds, monotonic) instead of
 * CLOCK_MONOTONIC, and stop sampling on the thread's own schedule, so that only
 * weir_metrics_sample_now takes samples. Call before registering meters. */
void weir_metrics_set_clock(weir_metrics *m, uint64_t (*now_ns)(void *arg), void *arg);

/* The registry of the run an operator or source belongs to, with its labels written to
 * labels (job_name, operator_name = its uid, subtask_index): for a connector that publishes
 * numbers of its own (the Kafka source's lag). Register in open (the control thread) with
 * labels as they are or with more appended, and weir_metrics_remove(m, labels) in close,
 * before the values go away. NULL when labels do not fit in cap. */
struct weir_ctx;
weir_metrics *weir_ctx_metrics(const struct weir_ctx *ctx, char *labels, size_t cap);
/* For operators the engine builds (io/src/connectors): registers a counter or gauge of the
 * operator subtask ctx runs, labelled as the runtime labels operator metrics (job_name,
 * operator_name, subtask_index). *value lives in the operator's state, which outlives the
 * run's registry. Returns as weir_metrics_add_u64. */
struct weir_ctx;
int weir_ctx_metric_u64(struct weir_ctx *ctx, const char *name, const char *help,
                        enum weir_metric_type type, const _Atomic uint64_t *value);

#ifdef __cplusplus
}
#endif

#endif /* WEIR_METRICS_H */
