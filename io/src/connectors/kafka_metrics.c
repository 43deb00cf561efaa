/*
 * The Kafka source's per-partition series (Kafka consumer names: records-lag, current and
 * committed offsets); kafka_source.c publishes into them from its worker.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include <librdkafka/rdkafka.h>

#include <weir/job.h>
#include <weir/kafka.h>
#include <weir/metrics.h>

#include "connectors_private.h"

int kafka_partition_metrics(weir_ctx *ctx, weir_metrics *metrics, const char *base, const char *uid,
                            const char *topic, int32_t partition, int64_t next,
                            struct kafka_pcell **out)
{
    char labels[1400], id[16];
    snprintf(labels, sizeof labels, "%s", base);
    snprintf(id, sizeof id, "%d", (int)partition);
    struct kafka_pcell *c = calloc(1, sizeof *c);
    if (!(*out = c))
        return -ENOMEM;
    atomic_store_explicit(&c->current, (uint64_t)next, memory_order_relaxed);
    int m = weir_metrics_labels_append(labels, sizeof labels, "topic", topic);
    m |= weir_metrics_labels_append(labels, sizeof labels, "partition", id);
    if (m == 0) {
        m |= weir_metrics_add_u64(metrics,
                                  WEIR_ONLY_OPERATOR "KafkaSourceReader_topic_partition_recordsLag",
                                  "Kafka records-lag of one partition: its high watermark minus "
                                  "the next offset to read",
                                  WEIR_METRIC_GAUGE, labels, &c->lag);
        m |= weir_metrics_add_u64(metrics, WEIR_FLINK_KAFKA_SOURCE "topic_partition_currentOffset",
                                  "The next offset of the partition to read", WEIR_METRIC_GAUGE,
                                  labels, &c->current);
        m |= weir_metrics_add_u64(metrics,
                                  WEIR_FLINK_KAFKA_SOURCE "topic_partition_committedOffset",
                                  "The offset last committed to the consumer group (at a "
                                  "completed checkpoint)",
                                  WEIR_METRIC_GAUGE, labels, &c->committed);
    }
    if (m) {
        weir_ctx_fail(ctx, "kafka source \"%s\": registering the metrics of partition %d failed",
                      uid, (int)partition);
        return -ENOMEM;
    }
    return 0;
}
