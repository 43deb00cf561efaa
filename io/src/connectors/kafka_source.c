/*
 * Kafka source (weir/kafka.h): one librdkafka consumer per subtask, partitions assigned by
 * weir (rd_kafka_assign), never by a consumer group.
 *
 * A subtask's life, as states of its consumer:
 *
 *   OPENED --first poll or snapshot: start offsets resolved, assign--> READING
 *   READING --discovery finds new partitions of ours: assign again--> READING
 *   READING --bounded and every partition at its stop offset--> (WEIR_SOURCE_DONE)
 *
 * open() creates the consumer and checks the topic (one line naming the option when no
 * broker answers or the topic is missing) but assigns nothing: restore() runs after open and
 * may bring offsets. The first poll resolves where each owned partition starts (the
 * checkpoint's offset, else the startup mode, looked up now so that a checkpoint taken before
 * the first record still names a real offset) and assigns. Offsets are the source's
 * position: snapshot() writes each owned partition's next offset (and its stop offset when
 * bounded); checkpoint_complete() commits that checkpoint's offsets to the group,
 * asynchronously, for monitoring only.
 *
 * Watermarks per partition: each owned partition keeps its largest timestamp and when it
 * last had a record; every pipeline.auto-watermark-interval the subtask emits the minimum
 * over its non-idle partitions (weir_emit_watermark) or, when all are idle or it owns none,
 * marks itself idle (weir_emit_idle).
 *
 * Metrics with the Kafka consumer's names, per subtask (records-lag-max, records-consumed-total
 * and its rate) and per partition (records-lag, current and committed offsets): the worker
 * stores them (relaxed, single writer) every pipeline.auto-watermark-interval, lag from the
 * high watermarks librdkafka's fetches bring (rd_kafka_get_watermark_offsets: no request).
 *
 * A record that does not parse goes to reject_record(), the one place a rejected record goes:
 * counted, then to the dead-letter queue (weir/dlq.h) if any, else dropped or the job fails.
 *
 * Where the consumer's position may be lost (issue 11): kafka_offsets.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

#include <weir/config.h>
#include <weir/job.h>
#include <weir/kafka.h>
#include <weir/metrics.h>
#include <weir/state.h>

#include "connectors_private.h"

#define META_TIMEOUT_MS 10000
#define PENDING_MAX     8                       /* snapshots whose checkpoint may still complete */
#define STALL_NS        (10ull * 1000000000ull) /* the stall guard's first wait */

struct kpart {
    int32_t id;
    struct kafka_pcell *cell; /* NULL without metrics */
    int64_t next;             /* the next offset to emit */
    int64_t stop;             /* bounded: the end offset, else INT64_MAX */
    int64_t max_ts;           /* largest event timestamp seen, INT64_MIN: none */
    uint64_t last_ns;         /* when it last had a record (or was assigned) */
    uint64_t moved_ns;        /* when it last had a record or was assigned again: the stall guard */
    unsigned stalls;          /* times the stall guard fired since its last record */
    bool idle;
};

struct pending {
    uint64_t id;
    int n;
    struct {
        int32_t part;
        int64_t next;
    } * off;
};

struct ksrc {
    const struct kopts *ko;
    const char *uid;
    rd_kafka_t *rk;
    int subtask, parallelism;
    int instance, instances; /* kafka.instance */
    int32_t known;           /* partitions of the topic seen so far */
    struct kpart *parts;
    int n_parts;
    bool assigned;
    /* restored positions, used at the first assignment */
    struct kafka_restored *restored; /* of every old subtask (kafka_positions.c) */
    int n_restored;
    bool was_restored;
    bool moved; /* restored as another instance split: see resolve_start */
    uint64_t wm_interval_ns, next_wm_ns, next_discovery_ns;
    int64_t wm;
    bool idle_sent;
    struct pending pending[PENDING_MAX];
    uint64_t bad_records;
    struct kafka_fields fields; /* the value's, reused record after record */
    struct kafka_batch batch;   /* read ahead from the consumer queue (kafka_batch.c) */
    /* metrics */
    weir_metrics *metrics;
    char labels[1024]; /* job_name, operator_name, subtask_index: every series of ours */
    _Atomic uint64_t lag_max, pending_records, consumed;
    uint64_t consumed_n;
    uint64_t next_metrics_ns;
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* --- bad records --------------------------------------------------------------------------- */

/* Where a record that cannot be read goes: counted, then sent to the dead-letter queue
 * (weir.dlq.type), dropped (skip_bad_records) or the job fails with one line naming topic,
 * partition and offset. Returns 0 (sent or dropped) or a negative errno. */
static int reject_record(weir_ctx *ctx, struct ksrc *s, const rd_kafka_message_t *m,
                         const char *why)
{
    s->bad_records++;
    if (weir_ctx_dlq_on(ctx))
        return kafka_to_dlq(ctx, m, s->ko->o.topic, why);
    if (s->ko->o.skip_bad_records)
        return 0;
    weir_ctx_fail(ctx,
                  "kafka source \"%s\": topic %s partition %d offset %" PRId64
                  ": %s (weir.dlq.type sends such records to a dead-letter queue; "
                  "skip_bad_records / --skip-bad-records drops them)",
                  s->uid, s->ko->o.topic, (int)m->partition, (int64_t)m->offset, why);
    return -EBADMSG;
}

/* --- the consumer -------------------------------------------------------------------------- */

static int conf_set(weir_ctx *ctx, struct ksrc *s, rd_kafka_conf_t *c, const char *k, const char *v)
{
    char err[256];
    if (rd_kafka_conf_set(c, k, v, err, sizeof err) == RD_KAFKA_CONF_OK)
        return 0;
    weir_ctx_fail(ctx, "kafka source \"%s\": property %s=%s: %s", s->uid, k, v, err);
    return -EINVAL;
}

/* The topic's partition count from the broker, or a negative errno with the job failed
 * (fail) or not. */
static int topic_partitions(weir_ctx *ctx, struct ksrc *s, bool fail, int32_t *count)
{
    const char *topic = s->ko->o.topic;
    rd_kafka_topic_t *t = rd_kafka_topic_new(s->rk, topic, NULL);
    if (!t)
        return -ENOMEM;
    const struct rd_kafka_metadata *md;
    rd_kafka_resp_err_t e = rd_kafka_metadata(s->rk, 0, t, &md, META_TIMEOUT_MS);
    rd_kafka_topic_destroy(t);
    if (e) {
        if (fail)
            weir_ctx_fail(ctx,
                          "kafka source \"%s\": bootstrap %s: no metadata in %d s (%s): check "
                          "the broker address (opts.bootstrap, --bootstrap)",
                          s->uid, s->ko->o.bootstrap, META_TIMEOUT_MS / 1000, rd_kafka_err2str(e));
        return -EHOSTUNREACH;
    }
    int rc = 0;
    if (md->topic_cnt != 1 || md->topics[0].err || md->topics[0].partition_cnt == 0) {
        rd_kafka_resp_err_t te = md->topic_cnt == 1 ? md->topics[0].err : 0;
        if (fail)
            weir_ctx_fail(ctx,
                          "kafka source \"%s\": topic \"%s\" on %s: %s: check the topic name "
                          "(opts.topic, --topic)",
                          s->uid, topic, s->ko->o.bootstrap,
                          te ? rd_kafka_err2str(te) : "no partitions");
        rc = -ENOENT;
    } else {
        *count = md->topics[0].partition_cnt;
    }
    rd_kafka_metadata_destroy(md);
    return rc;
}

static int kafka_open(weir_ctx *ctx, void *state, void *arg)
{
    struct ksrc *s = state;
    const struct kopts *ko = arg;
    const struct weir_kafka_source_opts *o = &ko->o;
    s->ko = ko;
    s->uid = weir_ctx_uid(ctx);
    s->subtask = weir_ctx_subtask(ctx);
    s->parallelism = weir_ctx_parallelism(ctx);
    if (kafka_instance_of(ctx, s->uid, o, s->parallelism, &s->instance, &s->instances) < 0)
        return -EINVAL;
    s->wm = INT64_MIN;
    s->wm_interval_ns = (uint64_t)weir_config_get_duration_ms(weir_ctx_config(ctx),
                                                              "pipeline.auto-watermark-interval") *
                        1000000ull;
    int rc = -EINVAL;
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    char group[512], client[512], err[512];
    if (o->group_id)
        snprintf(group, sizeof group, "%s", o->group_id);
    else
        snprintf(group, sizeof group, "weir-%s-%s", ko->job_name, s->uid);
    snprintf(client, sizeof client, "weir-%s-%d", s->uid, s->subtask);
    if (conf_set(ctx, s, c, "bootstrap.servers", o->bootstrap) < 0 ||
        conf_set(ctx, s, c, "group.id", group) < 0 ||
        conf_set(ctx, s, c, "client.id", client) < 0 ||
        conf_set(ctx, s, c, "enable.auto.commit", "false") < 0 ||
        conf_set(ctx, s, c, "enable.auto.offset.store", "false") < 0 ||
        conf_set(ctx, s, c, "auto.offset.reset", "error") < 0 ||
        conf_set(ctx, s, c, "enable.partition.eof", "true") < 0)
        goto err;
    for (size_t i = 0; i < ko->n_props; i++) {
        const char *kv = o->properties[i], *eq = strchr(kv, '=');
        if (!eq) {
            weir_ctx_fail(ctx, "kafka source \"%s\": property \"%s\": expected key=value", s->uid,
                          kv);
            goto err;
        }
        char key[256];
        snprintf(key, sizeof key, "%.*s", (int)(eq - kv), kv);
        if (conf_set(ctx, s, c, key, eq + 1) < 0)
            goto err;
    }
    s->rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof err);
    if (!s->rk) {
        weir_ctx_fail(ctx, "kafka source \"%s\": %s", s->uid, err);
        goto err;
    }
    c = NULL; /* the handle owns it */
    rd_kafka_poll_set_consumer(s->rk);
    if ((rc = topic_partitions(ctx, s, true, &s->known)) < 0)
        goto err_rk;
    s->metrics = weir_ctx_metrics(ctx, s->labels, sizeof s->labels);
    if (s->metrics) {
        int m = weir_metrics_add_u64(s->metrics,
                                     WEIR_FLINK_KAFKA_SOURCE "KafkaConsumer_records_lag_max",
                                     "Kafka records-lag-max: the most records any partition of "
                                     "this subtask is behind its high watermark",
                                     WEIR_METRIC_GAUGE, s->labels, &s->lag_max);
        m |= weir_metrics_add_u64(s->metrics, WEIR_FLINK_OPERATOR "pendingRecords",
                                  "Records the subtask's partitions hold past what it has read "
                                  "(Flink's source pendingRecords: the sum of their lags)",
                                  WEIR_METRIC_GAUGE, s->labels, &s->pending_records);
        m |= weir_metrics_add_u64(s->metrics,
                                  WEIR_FLINK_KAFKA_SOURCE "KafkaConsumer_records_consumed_total",
                                  "Kafka records-consumed-total", WEIR_METRIC_COUNTER, s->labels,
                                  &s->consumed);
        m |= weir_metrics_add_meter(s->metrics,
                                    WEIR_FLINK_KAFKA_SOURCE "KafkaConsumer_records_consumed_rate",
                                    "Kafka records-consumed-rate (records per second, over 60 s)",
                                    s->labels, &s->consumed, 60);
        if (m) {
            weir_metrics_remove(s->metrics, s->labels);
            weir_ctx_fail(ctx, "kafka source \"%s\": registering its metrics failed", s->uid);
            rc = -ENOMEM;
            goto err_rk;
        }
    }
    return 0;
err_rk:
    rd_kafka_destroy(s->rk);
    s->rk = NULL;
err:
    if (c)
        rd_kafka_conf_destroy(c);
    return rc;
}

static void pending_clear(struct pending *p)
{
    free(p->off);
    *p = (struct pending){0};
}

static void kafka_close(weir_ctx *ctx, void *state)
{
    struct ksrc *s = state;
    if (s->metrics)
        weir_metrics_remove(s->metrics, s->labels); /* before the cells go */
    for (int i = 0; i < s->n_parts; i++)
        free(s->parts[i].cell);
    if (s->rk) {
        kafka_batch_free(&s->batch);
        rd_kafka_consumer_close(s->rk);
        rd_kafka_destroy(s->rk);
    }
    for (int i = 0; i < PENDING_MAX; i++)
        pending_clear(&s->pending[i]);
    free(s->parts);
    free(s->restored);
    kafka_fields_free(&s->fields);
}

/* Where a partition starts without a checkpoint's offset: the startup mode (earliest for a
 * partition discovered after the first start or unknown to the restored checkpoint; group
 * offsets when that checkpoint moved partitions: another process read it). A failure fails
 * the job, but when quiet (a discovered partition, which may have no leader yet just after
 * its creation): it is tried again at the next discovery. */
static int resolve_start(weir_ctx *ctx, struct ksrc *s, struct kpart *p, bool discovered,
                         bool quiet)
{
    const struct weir_kafka_source_opts *o = &s->ko->o;
    int64_t lo, hi;
    rd_kafka_resp_err_t e =
        rd_kafka_query_watermark_offsets(s->rk, o->topic, p->id, &lo, &hi, META_TIMEOUT_MS);
    if (e) {
        if (quiet)
            return -EHOSTUNREACH;
        weir_ctx_fail(ctx, "kafka source \"%s\": offsets of %s [%d] from %s: %s", s->uid, o->topic,
                      (int)p->id, o->bootstrap, rd_kafka_err2str(e));
        return -EHOSTUNREACH;
    }
    p->stop = o->bounded ? hi : INT64_MAX;
    enum weir_kafka_startup_mode mode = !discovered ? o->startup_mode
                                        : s->moved  ? WEIR_KAFKA_STARTUP_GROUP
                                                    : WEIR_KAFKA_STARTUP_EARLIEST;
    p->next = lo;
    if (mode == WEIR_KAFKA_STARTUP_LATEST) {
        p->next = hi;
    } else if (mode == WEIR_KAFKA_STARTUP_GROUP || mode == WEIR_KAFKA_STARTUP_TIMESTAMP) {
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_t *tp = rd_kafka_topic_partition_list_add(l, o->topic, p->id);
        tp->offset = o->startup_timestamp_ms;
        e = mode == WEIR_KAFKA_STARTUP_GROUP
                ? rd_kafka_committed(s->rk, l, META_TIMEOUT_MS)
                : rd_kafka_offsets_for_times(s->rk, l, META_TIMEOUT_MS);
        if (!e)
            e = tp->err;
        int64_t off = tp->offset;
        rd_kafka_topic_partition_list_destroy(l);
        if (e) {
            if (quiet)
                return -EHOSTUNREACH;
            weir_ctx_fail(ctx, "kafka source \"%s\": %s offsets of %s [%d]: %s", s->uid,
                          mode == WEIR_KAFKA_STARTUP_GROUP ? "committed" : "timestamp", o->topic,
                          (int)p->id, rd_kafka_err2str(e));
            return -EHOSTUNREACH;
        }
        if (off >= 0)
            p->next = off;
        else /* group: none committed, earliest; timestamp: no such record, the end */
            p->next = mode == WEIR_KAFKA_STARTUP_GROUP ? lo : hi;
    }
    return 0;
}

static int assign_all(weir_ctx *ctx, struct ksrc *s)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(s->n_parts);
    uint64_t now = now_ns();
    for (int i = 0; i < s->n_parts; i++) {
        rd_kafka_topic_partition_list_add(l, s->ko->o.topic, s->parts[i].id)->offset =
            s->parts[i].next;
        s->parts[i].moved_ns = now;
    }
    rd_kafka_resp_err_t e = rd_kafka_assign(s->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (e) {
        weir_ctx_fail(ctx, "kafka source \"%s\": assign %s: %s", s->uid, s->ko->o.topic,
                      rd_kafka_err2str(e));
        return -EIO;
    }
    return 0;
}

/* Publishes lag and offsets; lag from the high watermarks the fetches brought. */
static void publish_metrics(struct ksrc *s)
{
    uint64_t max = 0, pending = 0;
    for (int i = 0; i < s->n_parts; i++) {
        struct kpart *p = &s->parts[i];
        int64_t lo, hi;
        if (!p->cell)
            continue;
        atomic_store_explicit(&p->cell->current, (uint64_t)p->next, memory_order_relaxed);
        if (rd_kafka_get_watermark_offsets(s->rk, s->ko->o.topic, p->id, &lo, &hi) || hi < 0) {
            /* not fetched yet: the lag stays as it was */
            pending += atomic_load_explicit(&p->cell->lag, memory_order_relaxed);
            continue;
        }
        uint64_t lag = hi > p->next ? (uint64_t)(hi - p->next) : 0;
        atomic_store_explicit(&p->cell->lag, lag, memory_order_relaxed);
        pending += lag;
        if (lag > max)
            max = lag;
    }
    atomic_store_explicit(&s->lag_max, max, memory_order_relaxed);
    atomic_store_explicit(&s->pending_records, pending, memory_order_relaxed);
}

/* Takes the partitions below count that this subtask owns and does not have yet. Returns
 * how many it took, or a negative errno. */
static int take_partitions(weir_ctx *ctx, struct ksrc *s, int32_t count, bool discovered)
{
    int added = 0;
    bool retry = false;
    uint64_t now = now_ns();
    for (int32_t id = 0; id < count; id++) {
        if (!kafka_owns(s->ko->o.topic, id, s->instance, s->instances, s->parallelism, s->subtask))
            continue;
        bool have = false;
        for (int i = 0; i < s->n_parts && !have; i++)
            have = s->parts[i].id == id;
        if (have)
            continue;
        struct kpart *np = realloc(s->parts, (size_t)(s->n_parts + 1) * sizeof *np);
        if (!np)
            return -ENOMEM;
        s->parts = np;
        struct kpart *p = &s->parts[s->n_parts];
        *p = (struct kpart){.id = id, .max_ts = INT64_MIN, .last_ns = now, .moved_ns = now};
        bool from_checkpoint = false;
        for (int r = 0; r < s->n_restored; r++)
            if (s->restored[r].part == id) {
                p->next = s->restored[r].next;
                p->stop = s->ko->o.bounded ? s->restored[r].stop : INT64_MAX;
                from_checkpoint = true;
            }
        if (!from_checkpoint) {
            int rc = resolve_start(ctx, s, p, discovered || s->was_restored, discovered);
            if (rc < 0 && discovered) {
                retry = true; /* at the next discovery */
                continue;
            }
            if (rc < 0)
                return rc;
        }
        if (s->metrics) {
            int rc = kafka_partition_metrics(ctx, s->metrics, s->labels, s->uid, s->ko->o.topic,
                                             p->id, p->next, &p->cell);
            if (rc < 0)
                return rc;
        }
        s->n_parts++;
        added++;
    }
    if (count > s->known && !retry)
        s->known = count;
    return added;
}

/* --- event time ---------------------------------------------------------------------------- */

static int emit_time(weir_ctx *ctx, struct ksrc *s, weir_emit *out, uint64_t now)
{
    const struct weir_kafka_source_opts *o = &s->ko->o;
    int64_t wm = INT64_MAX;
    int active = 0;
    if (o->watermarks)
        weir_ctx_report_idleness(ctx, o->idleness_ms);
    for (int i = 0; i < s->n_parts; i++) {
        struct kpart *p = &s->parts[i];
        if (!p->idle && o->idleness_ms && now - p->last_ns >= (uint64_t)o->idleness_ms * 1000000ull)
            p->idle = true;
        int64_t pw =
            p->max_ts == INT64_MIN ? INT64_MIN : p->max_ts - o->max_out_of_orderness_ms - 1;
        if (o->watermarks) /* for weir why-late: which partition holds the subtask back */
            weir_ctx_report_split(ctx, p->id, pw, p->idle);
        if (p->idle)
            continue;
        active++;
        if (pw < wm)
            wm = pw;
    }
    if (active == 0) {
        if (!s->idle_sent) {
            s->idle_sent = true;
            return weir_emit_idle(out, 1);
        }
        return 0;
    }
    if (s->idle_sent) {
        s->idle_sent = false;
        int rc = weir_emit_idle(out, 0);
        if (rc < 0)
            return rc;
    }
    if (wm != INT64_MIN && wm > s->wm) {
        s->wm = wm;
        return weir_emit_watermark(out, wm);
    }
    return 0;
}

/* --- reading ------------------------------------------------------------------------------- */

static struct kpart *part_of(struct ksrc *s, int32_t id)
{
    for (int i = 0; i < s->n_parts; i++)
        if (s->parts[i].id == id)
            return &s->parts[i];
    return NULL;
}

/* One Kafka record as one source record; 0 also when it was rejected and dropped. */
static int emit_message(weir_ctx *ctx, struct ksrc *s, const rd_kafka_message_t *m, struct kpart *p,
                        weir_emit *out, uint64_t now)
{
    const struct weir_kafka_source_opts *o = &s->ko->o;
    struct kafka_fields *f = &s->fields;
    char why[256];
    int rc = 0;
    f->n = f->len = 0;
    if (o->format == WEIR_KAFKA_FORMAT_CSV)
        rc = kafka_parse_csv(f, m->payload ? m->payload : "", m->len,
                             o->csv_delimiter ? o->csv_delimiter : ',', s->ko->n_fields, why,
                             sizeof why);
    else if (o->format == WEIR_KAFKA_FORMAT_JSON)
        rc = kafka_parse_json(f, m->payload ? m->payload : "", m->len, o->fields, s->ko->n_fields,
                              why, sizeof why);
    if (rc == -EBADMSG)
        return reject_record(ctx, s, m, why);
    if (rc < 0)
        return rc;
    size_t hlen, total = kafka_rec_size(m, o->topic, f, &hlen);
    struct weir_kafka_rec *k = total > UINT32_MAX ? NULL : weir_emit_reserve(out, (uint32_t)total);
    if (!k) {
        snprintf(why, sizeof why,
                 "%zu bytes, larger than the largest record (memory.segment-size minus 16)", total);
        return reject_record(ctx, s, m, why);
    }
    kafka_rec_write(k, m, o->topic, f, hlen);
    int64_t ts = o->timestamp ? o->timestamp(k, o->timestamp_arg)
                              : (k->timestamp_ms >= 0 ? k->timestamp_ms : WEIR_TS_NONE);
    if (ts != WEIR_TS_NONE && ts > p->max_ts)
        p->max_ts = ts;
    p->last_ns = now;
    p->idle = false;
    if (s->idle_sent) { /* active again, before the record */
        s->idle_sent = false;
        if ((rc = weir_emit_idle(out, 0)) < 0)
            return rc;
    }
    return weir_emit_commit_flags(out, ts, WEIR_REC_F_KAFKA); /* weir_ctx_reject knows it */
}

static bool all_done(const struct ksrc *s)
{
    for (int i = 0; i < s->n_parts; i++)
        if (s->parts[i].next < s->parts[i].stop)
            return false;
    return true;
}

/* The stall guard (kafka_offsets.c); assign_all restarts every fetcher at our offsets. */
static int stall_guard(weir_ctx *ctx, struct ksrc *s, uint64_t now)
{
    if (!s->ko->o.bounded)
        return 0;
    for (int i = 0; i < s->n_parts; i++) {
        struct kpart *p = &s->parts[i];
        uint64_t after = STALL_NS << (p->stalls < 6 ? p->stalls : 6);
        if (p->next >= p->stop || now < p->moved_ns + after) /* moved_ns may be > now */
            continue;
        fprintf(stderr,
                "kafka source \"%s\": %s [%d] no record for %llu s at offset %" PRId64
                " below its stop offset %" PRId64 ": assigning it again\n",
                s->uid, s->ko->o.topic, (int)p->id,
                (unsigned long long)((now - p->moved_ns) / 1000000000ull), p->next, p->stop);
        p->stalls++;
        return assign_all(ctx, s);
    }
    return 0;
}

/* OPENED -> READING: where each owned partition starts, resolved now, and the assignment. */
static int start_reading(weir_ctx *ctx, struct ksrc *s, uint64_t now)
{
    int rc = take_partitions(ctx, s, s->known, false);
    if (rc < 0)
        return rc;
    if ((rc = assign_all(ctx, s)) < 0)
        return rc;
    s->assigned = true;
    s->next_discovery_ns = now + (uint64_t)s->ko->o.discovery_interval_ms * 1000000ull;
    return 0;
}

static int kafka_poll(weir_ctx *ctx, void *state, weir_emit *out, uint32_t max, uint32_t *emitted)
{
    struct ksrc *s = state;
    const struct weir_kafka_source_opts *o = &s->ko->o;
    uint64_t now = now_ns();
    *emitted = 0;
    if (weir_ctx_stopping(ctx))
        return WEIR_SOURCE_DONE;
    if (!s->assigned) {
        int rc = start_reading(ctx, s, now);
        if (rc < 0)
            return rc;
    } else if (!o->bounded && o->discovery_interval_ms > 0 && now >= s->next_discovery_ns) {
        s->next_discovery_ns = now + (uint64_t)o->discovery_interval_ms * 1000000ull;
        int32_t count;
        if (topic_partitions(ctx, s, false, &count) == 0 && count > s->known) {
            int rc = take_partitions(ctx, s, count, true);
            if (rc < 0)
                return rc;
            if (rc > 0 && (rc = assign_all(ctx, s)) < 0)
                return rc;
        }
    }
    if (o->bounded && all_done(s))
        return WEIR_SOURCE_DONE;
    uint32_t n = 0;
    while (n < max) {
        rd_kafka_message_t *m = kafka_batch_next(&s->batch, s->rk);
        if (!m)
            break;
        if (m->err) {
            rd_kafka_resp_err_t e = m->err;
            int32_t part = m->partition;
            int64_t off = m->offset;
            char why[256];
            snprintf(why, sizeof why, "%s", rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            struct kpart *rp = part_of(s, part);
            if (e == RD_KAFKA_RESP_ERR__PARTITION_EOF) { /* kafka_offsets.c */
                if (rp && kafka_eof_moved(&rp->next, rp->stop, off))
                    rp->moved_ns = now;
                continue;
            }
            if (e == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART || e == RD_KAFKA_RESP_ERR__FATAL) {
                weir_ctx_fail(ctx, "kafka source \"%s\": topic %s: %s", s->uid, o->topic,
                              rd_kafka_err2str(e));
                return -EIO;
            }
            if (e == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET && rp) { /* 1: assign it again */
                int rc = kafka_offset_refused(ctx, s->rk, s->uid, o->topic, part, rp->next, why);
                if (rc < 0 || (rc = assign_all(ctx, s)) < 0)
                    return rc;
                break; /* what is queued is from before the new assignment */
            }
            /* transient (a broker away): librdkafka retries */
            fprintf(stderr, "kafka source \"%s\": %s [%d] offset %" PRId64 ": %s\n", s->uid,
                    o->topic, (int)part, off, why);
            continue;
        }
        struct kpart *p = part_of(s, m->partition);
        /* A record before our position: prefetched before an assign moved it. One at or
         * past a bounded partition's stop offset is the next run's. */
        if (!p || m->offset < p->next || m->offset >= p->stop) {
            rd_kafka_message_destroy(m);
            continue;
        }
        int rc = emit_message(ctx, s, m, p, out, now);
        p->next = m->offset + 1;
        p->moved_ns = now;
        p->stalls = 0;
        rd_kafka_message_destroy(m);
        if (rc < 0)
            return rc;
        n++;
    }
    *emitted = n;
    if (n == 0) {
        int rc = stall_guard(ctx, s, now);
        if (rc < 0)
            return rc;
    }
    if (n) {
        s->consumed_n += n;
        atomic_store_explicit(&s->consumed, s->consumed_n, memory_order_relaxed);
    }
    if (s->metrics && now >= s->next_metrics_ns) {
        s->next_metrics_ns = now + s->wm_interval_ns;
        publish_metrics(s);
    }
    if (o->watermarks || s->n_parts == 0) {
        if (now >= s->next_wm_ns) {
            s->next_wm_ns = now + s->wm_interval_ns;
            int rc = emit_time(ctx, s, out, now);
            if (rc < 0)
                return rc;
        }
    }
    if (o->bounded && all_done(s))
        return WEIR_SOURCE_DONE;
    return WEIR_SOURCE_MORE;
}

/* --- checkpoints --------------------------------------------------------------------------- */

/* Position: magic, version, count, the instance split (instance, instances), then per owned
 * partition its id, next offset and stop offset (INT64_MAX when unbounded). A checkpoint
 * before the first poll resolves the start offsets first, so that it names real ones (not
 * "latest", which would move on). */
static int kafka_snapshot(weir_ctx *ctx, void *state, uint64_t id, struct weir_snapshot_out *item)
{
    struct ksrc *s = state;
    struct kafka_mem_out m; /* one item of union list state (kafka_positions.c) */
    kafka_mem_out_init(&m);
    struct weir_snapshot_out *out = &m.out;
    if (!s->assigned) {
        int rc = start_reading(ctx, s, now_ns());
        if (rc < 0)
            return rc;
    }
    uint32_t head[5] = {KAFKA_SNAP_MAGIC, KAFKA_SNAP_VERSION, (uint32_t)s->n_parts,
                        (uint32_t)s->instance, (uint32_t)s->instances};
    int n = s->n_parts;
    int rc = out->write(out, head, sizeof head);
    struct pending *pd = &s->pending[id % PENDING_MAX];
    pending_clear(pd);
    pd->off = calloc((size_t)(n ? n : 1), sizeof *pd->off);
    if (pd->off)
        pd->id = id;
    for (int i = 0; i < n && rc == 0; i++) {
        int32_t part = s->parts[i].id;
        int64_t v[2] = {s->parts[i].next, s->parts[i].stop};
        rc = out->write(out, &part, sizeof part);
        if (rc == 0)
            rc = out->write(out, v, sizeof v);
        if (pd->off) {
            pd->off[i].part = part;
            pd->off[i].next = v[0];
            pd->n = i + 1;
        }
    }
    if (rc == 0)
        rc = weir_snapshot_write_item(item, m.p, m.len);
    free(m.p);
    return rc;
}

/* The offsets of every old subtask, at any parallelism: each partition's owner takes its own
 * at the first assignment. */
static int kafka_restore(weir_ctx *ctx, void *state, const struct weir_state_item *items,
                         size_t n)
{
    struct ksrc *s = state;
    s->was_restored = true;
    return kafka_positions_restore(ctx, s->uid, s->subtask, s->instance, s->instances, items, n,
                                   &s->restored, &s->n_restored, &s->moved);
}

/* Commits checkpoint id's offsets to the group, asynchronously: for lag monitoring with
 * Kafka's own tools; nothing reads them back but STARTUP_GROUP. */
static int kafka_checkpoint_complete(weir_ctx *ctx, void *state, uint64_t id)
{
    struct ksrc *s = state;
    struct pending *pd = &s->pending[id % PENDING_MAX];
    if (pd->id != id || !pd->off || !s->rk)
        return 0;
    if (pd->n > 0) {
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(pd->n);
        for (int i = 0; i < pd->n; i++)
            rd_kafka_topic_partition_list_add(l, s->ko->o.topic, pd->off[i].part)->offset =
                pd->off[i].next;
        rd_kafka_commit(s->rk, l, 1); /* its result is not waited for */
        rd_kafka_topic_partition_list_destroy(l);
        for (int i = 0; i < pd->n; i++) {
            struct kpart *p = part_of(s, pd->off[i].part);
            if (p && p->cell)
                atomic_store_explicit(&p->cell->committed, (uint64_t)pd->off[i].next,
                                      memory_order_relaxed);
        }
    }
    pending_clear(pd);
    return 0;
}

const struct weir_source_ops kafka_source_ops = {
    .kind = "kafka",
    .state_size = sizeof(struct ksrc),
    .open = kafka_open,
    .poll = kafka_poll,
    .close = kafka_close,
    .snapshot = kafka_snapshot,
    .state_mode = WEIR_STATE_UNION,
    .restore_items = kafka_restore,
    .checkpoint_complete = kafka_checkpoint_complete,
};
