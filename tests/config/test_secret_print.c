/*
 * weir config (weir_config_print) never shows a secret: s3.secret-key set on the command line
 * prints masked, so that a pasted `weir config` output or a log does not leak it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "config_test.h"

static void secret_key_prints_masked(void **state)
{
    (void)state;
    weir_config *c = weir_config_new();
    char err[256] = "";
    assert_int_equal(weir_config_set_kv(c, "s3.secret-key=hunter2-secret", err, sizeof err), 0);
    assert_int_equal(weir_config_set_kv(c, "s3.access-key=AKIDVISIBLE", err, sizeof err), 0);
    char *out = print_to_string(weir_config_print, c);
    assert_null(strstr(out, "hunter2-secret"));
    assert_non_null(strstr(out, "s3.secret-key: \"****\" "));
    assert_non_null(strstr(out, "AKIDVISIBLE")); /* an access key id is not a secret */
    /* the value itself is kept */
    assert_string_equal(weir_config_get_str(c, "s3.secret-key"), "hunter2-secret");
    free(out);
    weir_config_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(secret_key_prints_masked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
