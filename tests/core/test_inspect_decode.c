/*
 * The inspect decoders' registry (weir/inspect.h weir_inspect_register_decoder): the
 * built-in datagen decoder is there without registering, a kind has one decoder, and a
 * damaged datagen item is refused with what is wrong with it (inspect prints that with the
 * file, exit 1). The Kafka source's decoder (io, registered by weir inspect) reads the
 * partitions and offsets of an item laid out as kafka_snapshot writes it, the exactly-once
 * file sink's its pending part files as tpc_snapshot writes them, the Kafka sink's its head and
 * pending transactions as kafka_sink_kept.c lays them out (and the one blob per subtask of a
 * weir before list state), the Nexmark source's its splits. The decoded fields of a datagen
 * run's checkpoint: tests/cli/test_inspect.sh.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <weir/inspect.h>
#include <weir/kafka.h>

#include "nexmark.h"
#include "weir_test.h"

static int my_decoder(const void *item, size_t len, struct json_t **out, char *err, size_t errlen)
{
    (void)item, (void)len, (void)out, (void)err, (void)errlen;
    return -EBADMSG;
}

static void the_registry_finds_datagen_and_one_decoder_per_kind(void **state)
{
    assert_non_null(weir_inspect_decoder("datagen"));
    assert_null(weir_inspect_decoder("no-such-kind"));
    assert_null(weir_inspect_decoder(NULL));
    assert_int_equal(weir_inspect_register_decoder("datagen", my_decoder), -EEXIST);
    assert_int_equal(weir_inspect_register_decoder("", my_decoder), -EINVAL);
    assert_int_equal(weir_inspect_register_decoder("mine", my_decoder), 0);
    assert_ptr_equal(weir_inspect_decoder("mine"), my_decoder);
}

static void a_damaged_datagen_item_says_what_is_wrong(void **state)
{
    weir_state_decoder dec = weir_inspect_decoder("datagen");
    uint64_t split[2] = {7, 0}; /* next 7, stride 0 */
    struct json_t *o = NULL;
    char err[256] = "";
    assert_int_equal(dec(split, 12, &o, err, sizeof err), -EBADMSG);
    if (!strstr(err, "a datagen split is 16 bytes, not 12"))
        fail_msg("a short item: %s", err);
    assert_int_equal(dec(split, sizeof split, &o, err, sizeof err), -EBADMSG);
    if (!strstr(err, "stride 0 (next 7)"))
        fail_msg("a split of stride 0: %s", err);
    assert_null(o);
}

/* A Kafka source item: its head (magic "KFAK", version 2, partitions, instance 1 of 3),
 * then per partition an i32 and two i64, packed. */
static size_t kafka_item(unsigned char *p, uint32_t magic)
{
    uint32_t head[5] = {magic, 2, 2, 1, 3};
    int32_t part[2] = {4, 9};
    int64_t pos[2][2] = {{1200, -1}, {77, 500}};
    size_t n = sizeof head;
    memcpy(p, head, n);
    for (int i = 0; i < 2; i++) {
        memcpy(p + n, &part[i], sizeof part[i]);
        memcpy(p + n + sizeof part[i], pos[i], sizeof pos[i]);
        n += sizeof part[i] + sizeof pos[i];
    }
    return n;
}

static void a_kafka_source_item_decodes_to_its_partitions_and_offsets(void **state)
{
    int rc = weir_kafka_register_inspect_decoder();
    assert_true(rc == 0 || rc == -EEXIST);
    weir_state_decoder dec = weir_inspect_decoder("kafka");
    assert_non_null(dec);
    unsigned char item[64];
    size_t n = kafka_item(item, 0x4b41464bu);
    json_t *o = NULL;
    char err[256] = "";
    assert_int_equal(dec(item, n, &o, err, sizeof err), 0);
    char *text = json_dumps(o, JSON_COMPACT);
    assert_string_equal(text, "{\"instance\":1,\"instances\":3,\"partitions\":["
                              "{\"partition\":4,\"offset\":1200,\"stop\":-1},"
                              "{\"partition\":9,\"offset\":77,\"stop\":500}]}");
    free(text);
    json_decref(o);
    assert_int_equal(dec(item, n - 1, &o, err, sizeof err), -EBADMSG);
    if (!strstr(err, "position of 59 bytes, not the 60 of its 2 partitions"))
        fail_msg("a truncated item: %s", err);
    n = kafka_item(item, 0x12345678u);
    assert_int_equal(dec(item, n, &o, err, sizeof err), -EBADMSG);
    if (!strstr(err, "magic 12345678"))
        fail_msg("another magic: %s", err);
}

static void a_datagen_split_decodes_to_residue_stride_next(void **state)
{
    uint64_t split[2] = {3335, 2};
    json_t *o = NULL;
    char err[256] = "";
    assert_int_equal(weir_inspect_decoder("datagen")(split, sizeof split, &o, err, sizeof err), 0);
    char *text = json_dumps(o, JSON_COMPACT);
    assert_string_equal(text, "{\"residue\":1,\"stride\":2,\"next\":3335}");
    free(text);
    json_decref(o);
}

static void a_file_sink_item_decodes_to_its_pending_files(void **state)
{
    int rc = weir_file_register_inspect_decoder();
    assert_true(rc == 0 || rc == -EEXIST);
    weir_state_decoder dec = weir_inspect_decoder("file-exactly-once");
    assert_non_null(dec);
    /* next part 5; 2 pending: part 3 of checkpoint 11, part 4 staged at end of input */
    uint64_t item[6] = {5, 2, 3, 11, 4, 0};
    json_t *o = NULL;
    char err[256] = "";
    assert_int_equal(dec(item, sizeof item, &o, err, sizeof err), 0);
    char *text = json_dumps(o, JSON_COMPACT);
    assert_string_equal(text, "{\"next_part\":5,\"pending\":[{\"part\":3,\"checkpoint\":11},"
                              "{\"part\":4,\"checkpoint\":0}]}");
    free(text);
    json_decref(o);
    item[1] = 3; /* counts a file it does not hold */
    assert_int_equal(dec(item, sizeof item, &o, err, sizeof err), -EBADMSG);
    if (!strstr(err, "of 48 bytes does not hold the 3 pending files"))
        fail_msg("a short item: %s", err);
}

/* A Kafka sink transaction item (kafka_sink_kept.c): magic "KST2", the transactional.id's
 * length, checkpoint, records, probe partition, offset and position, the records' bytes; then
 * the id and the records (here 2 of 20 bytes each, kept_put_rec's layout, not looked into). */
static size_t kafka_sink_txn(unsigned char *p, const char *tid, int64_t probe_off)
{
    uint32_t head[2] = {0x3254534bu, (uint32_t)strlen(tid)};
    uint64_t v[6] = {12, 2, 3, (uint64_t)probe_off, 0, 40};
    memcpy(p, head, sizeof head);
    memcpy(p + sizeof head, v, sizeof v);
    memcpy(p + sizeof head + sizeof v, tid, head[1]);
    memset(p + sizeof head + sizeof v + head[1], 'r', 40);
    return sizeof head + sizeof v + head[1] + 40;
}

static void a_kafka_sink_item_decodes_to_its_pending_transaction(void **state)
{
    int rc = weir_kafka_register_inspect_decoder();
    assert_true(rc == 0 || rc == -EEXIST);
    weir_state_decoder dec = weir_inspect_decoder("kafka-sink");
    assert_non_null(dec);
    json_t *o = NULL;
    char err[256] = "", *text;
    uint32_t head[2] = {0x3248534bu, 2}; /* "KSH2": a subtask's head, 2 transactions */
    assert_int_equal(dec(head, sizeof head, &o, err, sizeof err), 0);
    text = json_dumps(o, JSON_COMPACT);
    assert_string_equal(text, "{\"pending_transactions\":2}");
    free(text);
    json_decref(o);

    unsigned char item[256];
    size_t n = kafka_sink_txn(item, "out-job-2-1", 5071);
    assert_int_equal(dec(item, n, &o, err, sizeof err), 0);
    text = json_dumps(o, JSON_COMPACT);
    assert_string_equal(text, "{\"transactional_id\":\"out-job-2-1\",\"checkpoint\":12,"
                              "\"records\":2,\"bytes\":40,"
                              "\"first_record\":{\"partition\":3,\"offset\":5071}}");
    free(text);
    json_decref(o);
    n = kafka_sink_txn(item, "out-job-0-0", -1); /* nothing acknowledged yet */
    assert_int_equal(dec(item, n, &o, err, sizeof err), 0);
    assert_true(json_is_null(json_object_get(o, "first_record")));
    json_decref(o);

    assert_int_equal(dec(item, n - 1, &o, err, sizeof err), -EBADMSG);
    if (!strstr(err, "does not hold its 11-byte transactional.id and 40 bytes of records"))
        fail_msg("a truncated item: %s", err);
    item[0] ^= 0xff;
    assert_int_equal(dec(item, n, &o, err, sizeof err), -EBADMSG);
    if (!strstr(err, "not a Kafka sink state item (magic 3254"))
        fail_msg("another magic: %s", err);

    /* "KSC1", 1 transaction: checkpoint 7, 1 record, partition 0 offset 9, position 0, 4
     * bytes of records */
    unsigned char old[2 * 4 + 6 * 8 + 4];
    uint32_t oh[2] = {0x3143534bu, 1};
    uint64_t ov[6] = {7, 1, 0, 9, 0, 4};
    memcpy(old, oh, sizeof oh);
    memcpy(old + sizeof oh, ov, sizeof ov);
    memcpy(old + sizeof oh + sizeof ov, "rrrr", 4);
    assert_int_equal(dec(old, sizeof old, &o, err, sizeof err), 0);
    text = json_dumps(o, JSON_COMPACT);
    assert_string_equal(text, "{\"transactions\":[{\"checkpoint\":7,\"records\":1,\"bytes\":4,"
                              "\"first_record\":{\"partition\":0,\"offset\":9}}]}");
    free(text);
    json_decref(o);
    assert_int_equal(dec(old, sizeof old - 1, &o, err, sizeof err), -EBADMSG);
    if (!strstr(err, "ends in the records of transaction 1 of 1"))
        fail_msg("a truncated legacy blob: %s", err);
}

static void a_nexmark_split_decodes_to_residue_stride_next_event(void **state)
{
    int rc = weir_nexmark_register_inspect_decoder();
    assert_true(rc == 0 || rc == -EEXIST);
    weir_state_decoder dec = weir_inspect_decoder("nexmark");
    assert_non_null(dec);
    uint64_t split[2] = {9003, 4}; /* next event 9003 of the split (3, 4) */
    json_t *o = NULL;
    char err[256] = "";
    assert_int_equal(dec(split, sizeof split, &o, err, sizeof err), 0);
    char *text = json_dumps(o, JSON_COMPACT);
    assert_string_equal(text, "{\"residue\":3,\"stride\":4,\"next_event\":9003}");
    free(text);
    json_decref(o);
    assert_int_equal(dec(split, 8, &o, err, sizeof err), -EBADMSG);
    if (!strstr(err, "a Nexmark split of 8 bytes, not 16"))
        fail_msg("a short item: %s", err);
    split[1] = 0;
    assert_int_equal(dec(split, sizeof split, &o, err, sizeof err), -EBADMSG);
    if (!strstr(err, "stride 0 (next event 9003)"))
        fail_msg("a split of stride 0: %s", err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_registry_finds_datagen_and_one_decoder_per_kind),
        cmocka_unit_test(a_damaged_datagen_item_says_what_is_wrong),
        cmocka_unit_test(a_datagen_split_decodes_to_residue_stride_next),
        cmocka_unit_test(a_kafka_source_item_decodes_to_its_partitions_and_offsets),
        cmocka_unit_test(a_file_sink_item_decodes_to_its_pending_files),
        cmocka_unit_test(a_kafka_sink_item_decodes_to_its_pending_transaction),
        cmocka_unit_test(a_nexmark_split_decodes_to_residue_stride_next_event),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
