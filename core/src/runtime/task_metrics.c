/*
 * The run's metrics registry: per task records in and out, busy, idle and
 * backpressured time, input and output ring fill; per keyed operator late
 * records; per operator dead letters when the run has a DLQ. The checkpoint module adds its own
 * (chk_register_metrics).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <unistd.h>

#include <weir/config.h>

#include <weir/metrics.h>

#include "runtime_private.h"
#include "state_view.h"

static double ring_fill(struct weir_ring *const *rings, int n, uint32_t nbufs)
{
    if (n == 0)
        return 0;
    uint64_t sum = 0;
    for (int i = 0; i < n; i++)
        sum += weir_ring_count(rings[i]);
    return (double)sum / ((double)n * nbufs);
}

static double in_pool_usage(void *arg)
{
    struct task *t = arg;
    struct weir_ring *rings[256];
    int n = t->n_in < 256 ? t->n_in : 256;
    for (int i = 0; i < n; i++)
        rings[i] = t->in[i].ring;
    return ring_fill(rings, n, t->rt->nbufs);
}

static double out_pool_usage(void *arg)
{
    struct task *t = arg;
    struct weir_ring *rings[256];
    int n = 0;
    for (int i = 0; i < t->n_routes; i++)
        for (int j = 0; j < t->routes[i].n && n < 256; j++)
            rings[n++] = t->routes[i].w[j]->ring;
    return ring_fill(rings, n, t->rt->nbufs);
}

/* metrics.reporter.prom.filterLabelValueCharacters, as Flink's reporter: what is not
 * [a-zA-Z0-9:_] becomes '_'. Returns value, or its filtered copy in out. */
static const char *label_value(const struct runtime *rt, const char *value, char *out, size_t cap)
{
    if (!rt->cfg ||
        !weir_config_get_bool(rt->cfg, "metrics.reporter.prom.filterLabelValueCharacters"))
        return value;
    size_t i = 0;
    for (; value[i] && i + 1 < cap; i++) {
        char c = value[i];
        bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == ':' || c == '_';
        out[i] = keep ? c : '_';
    }
    out[i] = '\0';
    return out;
}

/* Flink's reporter's host label (every scope) and tm_id (the task manager's scopes), appended
 * to buf: the host name, and "<host>:<pid>" for the one task manager a weir process is, new
 * with each process as Flink's TaskManager ResourceID is with each TaskManager. */
static int host_labels(const struct runtime *rt, bool tm, char *buf, size_t cap)
{
    char host[256], id[300], v[512];
    if (gethostname(host, sizeof host) != 0)
        snprintf(host, sizeof host, "localhost");
    host[sizeof host - 1] = '\0';
    int rc = weir_metrics_labels_append(buf, cap, "host", label_value(rt, host, v, sizeof v));
    if (rc == 0 && tm) {
        snprintf(id, sizeof id, "%s:%ld", host, (long)getpid());
        rc = weir_metrics_labels_append(buf, cap, "tm_id", label_value(rt, id, v, sizeof v));
    }
    return rc;
}

/* job_name and job_id: the run's (the REST API's) when it has one, as Flink labels a job's
 * series. */
static int job_labels(const struct runtime *rt, char *buf, size_t cap)
{
    char v[512];
    buf[0] = 0;
    int rc = weir_metrics_labels_append(buf, cap, "job_name",
                                        label_value(rt, rt->job->name, v, sizeof v));
    if (rc == 0 && rt->job->live)
        rc = weir_metrics_labels_append(buf, cap, "job_id", rt->job->live->id);
    return rc;
}

/* job_name, job_id, <what>_name, subtask_index, host and tm_id labels, escaped by the
 * registry's helper. */
int rt_labels(const struct runtime *rt, const char *what, const char *name, int subtask, char *buf,
              size_t cap)
{
    char idx[16], v[512];
    snprintf(idx, sizeof idx, "%d", subtask);
    int rc = job_labels(rt, buf, cap);
    if (rc == 0 && what)
        rc = weir_metrics_labels_append(buf, cap, what, label_value(rt, name, v, sizeof v));
    if (rc == 0 && subtask >= 0)
        rc = weir_metrics_labels_append(buf, cap, "subtask_index", idx);
    return rc == 0 ? host_labels(rt, true, buf, cap) : rc;
}

int rt_jm_labels(const struct runtime *rt, char *buf, size_t cap)
{
    int rc = job_labels(rt, buf, cap);
    return rc == 0 ? host_labels(rt, false, buf, cap) : rc;
}

int register_metrics(struct runtime *rt)
{
    rt->metrics = weir_metrics_new();
    if (!rt->metrics)
        return -ENOMEM;
    for (int i = 0; i < rt->n_tasks; i++) {
        struct task *t = &rt->tasks[i];
        char labels[1024];
        int rc = rt_labels(rt, "task_name", t->chain_name, t->subtask, labels, sizeof labels);
        if (rc < 0)
            return rc;
        rc |= weir_metrics_add_u64(rt->metrics, WEIR_FLINK_TASK "numRecordsIn",
                                   "Records this subtask received", WEIR_METRIC_COUNTER, labels,
                                   &t->rec_in);
        rc |= weir_metrics_add_u64(rt->metrics, WEIR_FLINK_TASK "numRecordsOut",
                                   "Records this subtask sent downstream", WEIR_METRIC_COUNTER,
                                   labels, &t->rec_out);
        rc |= weir_metrics_add_meter(rt->metrics, WEIR_FLINK_TASK "numRecordsInPerSecond",
                                     "Records received per second", labels, &t->rec_in, 5);
        rc |= weir_metrics_add_meter(rt->metrics, WEIR_FLINK_TASK "numRecordsOutPerSecond",
                                     "Records sent per second", labels, &t->rec_out, 5);
        rc |= weir_metrics_add_time_share(rt->metrics, WEIR_FLINK_TASK "busyTimeMsPerSecond",
                                          "Milliseconds per second spent processing", labels,
                                          &t->busy_ns, 5);
        rc |= weir_metrics_add_time_share(rt->metrics, WEIR_FLINK_TASK "idleTimeMsPerSecond",
                                          "Milliseconds per second with nothing to do", labels,
                                          &t->idle_ns, 5);
        rc |= weir_metrics_add_time_share(rt->metrics,
                                          WEIR_FLINK_TASK "backPressuredTimeMsPerSecond",
                                          "Milliseconds per second blocked on full output rings",
                                          labels, &t->bp_ns, 5);
        rc |= weir_metrics_add_fn(rt->metrics, WEIR_FLINK_TASK "buffers_inPoolUsage",
                                  "Fill ratio of the input rings (0..1)", labels, in_pool_usage, t);
        rc |=
            weir_metrics_add_fn(rt->metrics, WEIR_FLINK_TASK "buffers_outPoolUsage",
                                "Fill ratio of the output rings (0..1)", labels, out_pool_usage, t);
        for (int j = 0; j < t->n_ops && rc == 0; j++) {
            struct op_inst *op = &t->ops[j];
            if (!op->node->keyed && !rt->dlq)
                continue;
            char olabels[1280];
            rc =
                rt_labels(rt, "operator_name", op->node->name, t->subtask, olabels, sizeof olabels);
            if (rc < 0)
                return rc;
            if (rt->dlq) /* only with a DLQ: without one a rejected record fails the job */
                rc |= weir_metrics_add_u64(rt->metrics, WEIR_ONLY_OPERATOR "numRecordsDlq",
                                           "Records this operator sent to the dead-letter queue "
                                           "(weir.dlq.type)",
                                           WEIR_METRIC_COUNTER, olabels, &op->dlq);
            if (!op->node->keyed)
                continue;
            rc |= weir_metrics_add_u64(rt->metrics, WEIR_FLINK_OPERATOR "numLateRecordsDropped",
                                       "Records later than the watermark allowed",
                                       WEIR_METRIC_COUNTER, olabels, &op->late_pub);
            const _Atomic uint64_t *cow = weir_keyed_view_bytes(op->backend);
            if (cow)
                rc |= weir_metrics_add_u64(
                    rt->metrics, WEIR_ONLY_OPERATOR "stateCopyOnWriteBytes",
                    "Heap state and timers kept as they were for snapshots still being written "
                    "(bytes, in the task heap pool)",
                    WEIR_METRIC_GAUGE, olabels, cow);
        }
        if (rc)
            return rc < 0 ? rc : -ENOMEM;
    }
    return 0;
}
