/*
 * The inspect decoders' registry (weir/inspect.h weir_inspect_register_decoder): the
 * built-in datagen decoder is there without registering, a kind has one decoder, and a
 * damaged datagen item is refused with what is wrong with it (inspect prints that with the
 * file, exit 1). The decoded fields of good items: tests/cli/test_inspect.sh.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <weir/inspect.h>

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_registry_finds_datagen_and_one_decoder_per_kind),
        cmocka_unit_test(a_damaged_datagen_item_says_what_is_wrong),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
