/*
 * The Kafka source's read-ahead (issue 11, measured with bench/bench_kafka_source): records
 * are taken from the consumer's queue up to KAFKA_BATCH at a time with
 * rd_kafka_consume_batch_queue (one queue lock and one clock read per call), where
 * rd_kafka_consumer_poll takes the lock and reads the clock for every record, and handed to
 * the source one by one. Messages taken but not handed out yet stay here between polls; they
 * are the ones librdkafka would have queued, so the source's checks (offset below its
 * position after an assign, at or past a bounded stop offset) see them as before: an assign
 * while some are held does not drop them, and the fetch it restarts brings them again, where
 * the position check skips them. Errors come out as messages with err set, as from poll.
 */
#include <sys/types.h>

#include "connectors_private.h"

rd_kafka_message_t *kafka_batch_next(struct kafka_batch *b, rd_kafka_t *rk)
{
    if (b->at == b->n) {
        if (!b->q && !(b->q = rd_kafka_queue_get_consumer(rk)))
            return NULL;
        ssize_t k = rd_kafka_consume_batch_queue(b->q, 0, b->m, KAFKA_BATCH);
        b->at = 0;
        b->n = k > 0 ? (int)k : 0;
        if (b->n == 0)
            return NULL;
    }
    return b->m[b->at++];
}

void kafka_batch_free(struct kafka_batch *b)
{
    while (b->at < b->n)
        rd_kafka_message_destroy(b->m[b->at++]);
    if (b->q)
        rd_kafka_queue_destroy(b->q);
    *b = (struct kafka_batch){0};
}
