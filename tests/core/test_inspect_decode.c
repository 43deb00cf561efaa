/*
 * The inspect decoders' registry (weir/inspect.h weir_inspect_register_decoder): the
 * built-in datagen decoder is there without registering, a kind has one decoder, and a
 * damaged datagen item is refused with what is wrong with it (inspect prints that with the
 * file, exit 1). The Kafka source's decoder (io, registered by weir inspect) reads the
 * partitions and offsets of an item laid out as kafka_snapshot writes it, the exactly-once
 * file sink's its pending part files as tpc_snapshot writes them. The decoded
 * fields of a datagen run's checkpoint: tests/cli/test_inspect.sh.
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_registry_finds_datagen_and_one_decoder_per_kind),
        cmocka_unit_test(a_damaged_datagen_item_says_what_is_wrong),
        cmocka_unit_test(a_datagen_split_decodes_to_residue_stride_next),
        cmocka_unit_test(a_kafka_source_item_decodes_to_its_partitions_and_offsets),
        cmocka_unit_test(a_file_sink_item_decodes_to_its_pending_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
