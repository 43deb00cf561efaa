/*
 * The Kafka source's partition owner, and where its consumer may lose its position (issue 11).
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
