/*
 * The kafka fixture itself (tools/kafka.sh, tests/support/kafka_fixture.c): a real broker
 * answers, a topic of this test's own takes records on each partition and gives them back in
 * order with key, value and timestamp, and a partition added later is there. Skips (77) with
 * the fixture's reason when there is no broker.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weir_test.h"

#include "kafka_fixture.h"

struct seen {
    size_t n;
    int64_t next[4]; /* the next value expected per partition */
};

static void check(const rd_kafka_message_t *m, void *arg)
{
    struct seen *s = arg;
    char v[32], k[32];
    assert_true(m->partition >= 0 && m->partition < 4);
    assert_true(m->len < sizeof v && m->key_len < sizeof k);
    memcpy(v, m->payload, m->len);
    v[m->len] = '\0';
    memcpy(k, m->key, m->key_len);
    k[m->key_len] = '\0';
    long long x = atoll(v);
    assert_int_equal(x % 4, m->partition);
    assert_int_equal(x, s->next[m->partition]); /* in order, once */
    s->next[m->partition] += 4;
    char want[32];
    snprintf(want, sizeof want, "k%lld", x % 7);
    assert_string_equal(k, want);
    rd_kafka_timestamp_type_t tt;
    assert_int_equal(rd_kafka_message_timestamp(m, &tt), 1700000000000LL + x);
    assert_int_equal(tt, RD_KAFKA_TIMESTAMP_CREATE_TIME);
    s->n++;
}

static void produce_and_read_back(void **st)
{
    (void)st;
    char topic[256];
    wt_kafka_topic("smoke", 4, topic, sizeof topic);
    rd_kafka_t *p = wt_kafka_producer();
    for (int x = 0; x < 1000; x++) {
        char v[32], k[32];
        snprintf(v, sizeof v, "%d", x);
        snprintf(k, sizeof k, "k%d", x % 7);
        wt_kafka_produce(p, topic, x % 4, k, v, strlen(v), 1700000000000LL + x);
    }
    wt_kafka_flush(p);
    wt_kafka_producer_free(p);
    struct seen s = {.next = {0, 1, 2, 3}};
    assert_int_equal(wt_kafka_read(topic, 0, 60 * 1000, check, &s), 1000);
    assert_int_equal(s.n, 1000);
    /* read_committed sees the same: nothing here is transactional */
    struct seen c = {.next = {0, 1, 2, 3}};
    assert_int_equal(wt_kafka_read(topic, 1, 60 * 1000, check, &c), 1000);
}

static void add_partitions(void **st)
{
    (void)st;
    char topic[256];
    wt_kafka_topic("grow", 1, topic, sizeof topic);
    wt_kafka_add_partitions(topic, 3);
    rd_kafka_t *p = wt_kafka_producer();
    wt_kafka_produce(p, topic, 2, NULL, "x", 1, 0);
    wt_kafka_flush(p);
    wt_kafka_producer_free(p);
    assert_int_equal(wt_kafka_read(topic, 0, 60 * 1000, NULL, NULL), 1);
}

int main(void)
{
    printf("broker: %s\n", wt_kafka_bootstrap());
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(produce_and_read_back),
        cmocka_unit_test(add_partitions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
