/*
 * The Kafka source's partition owner (with kafka.instance: this process's share of the
 * topic), and where its consumer may lose its position (issue 11).
 *
 * auto.offset.reset is "error" (kafka_source.c's open), never librdkafka's default "latest",
 * which jumped a partition whose next offset the broker refused (out of range: records
 * deleted below it) to its end, where a bounded run drops every record and never ends. The
 * source handles an offset reset error in poll with kafka_offset_refused(): a next offset
 * that is still in the log is assigned again, one that is not fails the job naming topic,
 * partition and offsets. Every other consumer error is logged, one line on stderr. The stall
 * guard, in bounded runs: a partition below its stop offset that had no record for 10 s
 * (doubled each time it fires in a row) is assigned again at its next offset, one line on
 * stderr. Only bounded, where next < stop means records are there: an unbounded partition
 * sits below its high watermark for as long as a transaction is open.
 *
 * Offsets that hold no record: transaction markers (a transactional producer's partition
 * ends with its commit or abort marker) and, under read_committed (the default), the records
 * of aborted transactions are never delivered, so a position moved only by records stopped
 * below them: a bounded partition ending in one never reached its stop offset (issue 11),
 * and records-lag stayed above 0. The source turns on partition EOF events
 * (enable.partition.eof): the consumer fetched up to end (the last stable offset), every record
 * below it was delivered before the event, and kafka_eof_moved() moves the position there,
 * never past the stop offset.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

#include <weir/config.h>

#include "connectors_private.h"

#define QUERY_TIMEOUT_MS 10000

/* Flink's KafkaSourceEnumerator.getSplitOwner, with Java's String.hashCode (topic names are
 * ASCII, so bytes are its chars). */
int kafka_split_owner(const char *topic, int32_t partition, int parallelism)
{
    int32_t h = 0;
    for (const unsigned char *c = (const unsigned char *)topic; *c; c++)
        h = (int32_t)((uint32_t)h * 31u + *c);
    int start = (int)(((uint32_t)h * 31u & 0x7FFFFFFFu) % (uint32_t)parallelism);
    return (int)((start + (int64_t)partition) % parallelism);
}

int kafka_instance_of(weir_ctx *ctx, const char *uid, const struct weir_kafka_source_opts *o,
                      int parallelism, int *instance, int *instances)
{
    *instance = o->instance;
    *instances = o->instances;
    if (*instances == 0) { /* the key's syntax and range were checked when it was set */
        const char *spec = weir_config_get_str(weir_ctx_config(ctx), "kafka.instance");
        if (sscanf(spec, "%d/%d", instance, instances) != 2) {
            weir_ctx_fail(ctx, "kafka source \"%s\": kafka.instance \"%s\": expected i/N", uid,
                          spec);
            return -EINVAL;
        }
    }
    if ((int64_t)*instances * parallelism > INT32_MAX) {
        weir_ctx_fail(ctx,
                      "kafka source \"%s\": kafka.instance %d/%d at parallelism %d: more than "
                      "2^31 global subtasks",
                      uid, *instance, *instances, parallelism);
        return -EINVAL;
    }
    return 0;
}

/* Instance i's subtask s is global subtask i * parallelism + s of instances * parallelism. */
bool kafka_owns(const char *topic, int32_t partition, int instance, int instances, int parallelism,
                int subtask)
{
    return kafka_split_owner(topic, partition, instances * parallelism) ==
           instance * parallelism + subtask;
}

bool kafka_instance_moved(const char *uid, int subtask, uint32_t i_was, uint32_t n_was,
                          int instance, int instances)
{
    if (i_was == (uint32_t)instance && n_was == (uint32_t)instances)
        return false;
    fprintf(stderr,
            "kafka source \"%s\" subtask %d: checkpoint taken as kafka.instance %u/%u, now "
            "%d/%d: partitions it does not know start at the consumer group's committed "
            "offsets\n",
            uid, subtask, i_was, n_was, instance, instances);
    return true;
}

int kafka_position_head(weir_ctx *ctx, const char *uid, struct weir_snapshot_in *in,
                        uint32_t head[5])
{
    head[3] = 0, head[4] = 1; /* version 1: taken as instance 0/1 */
    int rc = in->read(in, head, 3 * sizeof *head);
    if (rc < 0)
        return rc;
    if (head[0] == KAFKA_SNAP_MAGIC && head[1] == KAFKA_SNAP_VERSION &&
        (rc = in->read(in, &head[3], 2 * sizeof *head)) < 0)
        return rc;
    if (head[0] != KAFKA_SNAP_MAGIC || (head[1] != 1 && head[1] != KAFKA_SNAP_VERSION) ||
        head[2] > (1u << 20) || head[3] >= head[4]) {
        weir_ctx_fail(ctx,
                      "kafka source \"%s\": restored state is not a Kafka source's "
                      "(magic %08x, version %u)",
                      uid, head[0], head[1]);
        return -EINVAL;
    }
    return 0;
}

int kafka_offset_refused(weir_ctx *ctx, rd_kafka_t *rk, const char *uid, const char *topic,
                         int32_t id, int64_t next, const char *why)
{
    int64_t lo = -1, hi = -1;
    rd_kafka_resp_err_t e =
        rd_kafka_query_watermark_offsets(rk, topic, id, &lo, &hi, QUERY_TIMEOUT_MS);
    if (!e && next >= lo && next <= hi) {
        fprintf(stderr,
                "kafka source \"%s\": %s [%d] offset %" PRId64 " refused (%s) but in the log "
                "(%" PRId64 " .. %" PRId64 "): assigning it again\n",
                uid, topic, (int)id, next, why, lo, hi);
        return 1;
    }
    if (e)
        weir_ctx_fail(ctx, "kafka source \"%s\": %s [%d] offset %" PRId64 ": %s; offsets: %s", uid,
                      topic, (int)id, next, why, rd_kafka_err2str(e));
    else
        weir_ctx_fail(ctx,
                      "kafka source \"%s\": %s [%d] offset %" PRId64 " is no longer in the log "
                      "(%" PRId64 " .. %" PRId64 "): records were deleted (retention?) before "
                      "they were read",
                      uid, topic, (int)id, next, lo, hi);
    return -ERANGE;
}

bool kafka_eof_moved(int64_t *next, int64_t stop, int64_t end)
{
    if (end <= *next)
        return false;
    *next = end < stop ? end : stop;
    return true;
}
