/*
 * What the Kafka tests share: the kafka fixture's broker (tools/kafka.sh, started once per
 * ctest run, its state in $WEIR_KAFKA_STATE), topics of each test's own, and a producer and a
 * reader to put records in and read them back. Tests run side by side against one broker, so
 * every topic name is unique (tag, pid, a counter and a random part).
 *
 * Like the rest of tests/support, a function that fails ends the running cmocka test with
 * fail_msg(); wt_kafka_bootstrap() exits 77 with the fixture's reason when there is no broker:
 * call it from main() before running the tests.
 */
#ifndef WEIR_TEST_KAFKA_FIXTURE_H
#define WEIR_TEST_KAFKA_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

/* The broker's bootstrap ("127.0.0.1:PORT") from $WEIR_KAFKA_STATE/env, also set as
 * WEIR_KAFKA_BOOTSTRAP in the environment; exits 77 saying why when there is no broker (1 when
 * the fixture ran and left no env). */
const char *wt_kafka_bootstrap(void);

/* Creates a topic "wt-<tag>-<pid>-<n>-<random>" with partitions partitions (replication 1),
 * writes its name to name, and waits until the broker's metadata lists all its partitions. */
void wt_kafka_topic(const char *tag, int partitions, char *name, size_t name_len);
/* Grows topic to total partitions (CreatePartitions) and waits until metadata shows them. */
void wt_kafka_add_partitions(const char *topic, int total);

/* A producer on the fixture's broker (acks=all, idempotent), freed by wt_kafka_producer_free
 * after a flush. */
rd_kafka_t *wt_kafka_producer(void);
/* Produces one record to topic's partition (RD_KAFKA_PARTITION_UA: the default partitioner);
 * ts_ms 0: the producer's clock. key may be NULL. */
void wt_kafka_produce(rd_kafka_t *p, const char *topic, int32_t partition, const char *key,
                      const void *value, size_t value_len, int64_t ts_ms);
/* A transactional producer (transactional.id id, init_transactions done) on the fixture's
 * broker; wt_kafka_produce and wt_kafka_flush work on it, rd_kafka_destroy frees it. */
rd_kafka_t *wt_kafka_txn_producer(const char *id);
/* Waits for every record produced so far to be acknowledged (fails on any delivery error). */
void wt_kafka_flush(rd_kafka_t *p);
void wt_kafka_producer_free(rd_kafka_t *p);
/* Fills topic's partitions with per_part counting records each: value "(i*7 + partition) %
 * keys", timestamps from 1000 ms spread evenly over span_ms (the kill and rescale tests'
 * kafka-count input). */
void wt_kafka_fill_counts(const char *topic, int partitions, int per_part, int keys,
                          int64_t span_ms);

/* Reads every partition of topic from its start up to its end (read_committed when committed,
 * else read_uncommitted), calling fn for each record in each partition's order, and returns
 * how many it read. Fails when the end is not reached within timeout_ms. */
size_t wt_kafka_read(const char *topic, int committed, int timeout_ms,
                     void (*fn)(const rd_kafka_message_t *m, void *arg), void *arg);

#endif
