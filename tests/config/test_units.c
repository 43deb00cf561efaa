/*
 * Sizes, durations and port ranges parse as Flink's do; sizes print as people read them.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include <weir/config.h>

static uint64_t size_ok(const char *text)
{
    uint64_t b = 0;
    int rc = weir_parse_size(text, &b);
    if (rc != 0)
        fail_msg("weir_parse_size(\"%s\") = %d", text, rc);
    return b;
}

static int64_t ms_ok(const char *text)
{
    int64_t ms = -1;
    int rc = weir_parse_duration_ms(text, &ms);
    if (rc != 0)
        fail_msg("weir_parse_duration_ms(\"%s\") = %d", text, rc);
    return ms;
}

static void size_bare_number_is_bytes(void **state)
{
    assert_int_equal(size_ok("4096"), 4096);
    assert_int_equal(size_ok("0"), 0);
    assert_int_equal(size_ok("  17  "), 17);
}

static void size_units_are_binary_and_case_insensitive(void **state)
{
    assert_int_equal(size_ok("100b"), 100);
    assert_int_equal(size_ok("100 bytes"), 100);
    assert_int_equal(size_ok("64k"), 64 * 1024);
    assert_int_equal(size_ok("64kb"), 64 * 1024);
    assert_int_equal(size_ok("64 kb"), 64 * 1024);
    assert_int_equal(size_ok("64KB"), 64 * 1024);
    assert_int_equal(size_ok("64 kibibytes"), 64 * 1024);
    assert_int_equal(size_ok("4096m"), 4096ull << 20);
    assert_int_equal(size_ok("4096mb"), 4096ull << 20);
    assert_int_equal(size_ok("4096 MB"), 4096ull << 20);
    assert_int_equal(size_ok("1728 mebibytes"), 1728ull << 20);
    assert_int_equal(size_ok("4g"), 4ull << 30);
    assert_int_equal(size_ok("4gb"), 4ull << 30);
    assert_int_equal(size_ok("4 G"), 4ull << 30);
    assert_int_equal(size_ok("1t"), 1ull << 40);
    assert_int_equal(size_ok("1 tb"), 1ull << 40);
}

static void size_rejects_what_flink_rejects(void **state)
{
    const char *bad[] = {"",     " ",     "m",    "-1m", "+1m", "1.5g", "1 p",
                         "1gib", "1 g b", "0x10", "1e3", "ten", "4g4"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint64_t b = 0;
        if (weir_parse_size(bad[i], &b) != -EINVAL)
            fail_msg("\"%s\" parsed as a size", bad[i]);
    }
}

static void size_overflow_is_erange(void **state)
{
    uint64_t b;
    assert_int_equal(weir_parse_size("16777216t", &b), -ERANGE); /* 2^64 */
    assert_int_equal(weir_parse_size("99999999999999999999", &b), -ERANGE);
    assert_int_equal(weir_parse_size("16777215t", &b), 0); /* 2^64 - 2^40 fits */
    assert_int_equal(weir_parse_size("18446744073709551615", &b), 0);
    assert_true(b == UINT64_MAX);
}

static void duration_bare_number_is_milliseconds(void **state)
{
    assert_int_equal(ms_ok("100"), 100);
    assert_int_equal(ms_ok("0"), 0);
}

static void duration_units_in_short_and_long_forms(void **state)
{
    assert_int_equal(ms_ok("100ms"), 100);
    assert_int_equal(ms_ok("100 ms"), 100);
    assert_int_equal(ms_ok("100 millis"), 100);
    assert_int_equal(ms_ok("100 milliseconds"), 100);
    assert_int_equal(ms_ok("10s"), 10000);
    assert_int_equal(ms_ok("10 s"), 10000);
    assert_int_equal(ms_ok("10 sec"), 10000);
    assert_int_equal(ms_ok("10 secs"), 10000);
    assert_int_equal(ms_ok("1 second"), 1000);
    assert_int_equal(ms_ok("10 seconds"), 10000);
    assert_int_equal(ms_ok("2 min"), 120000);
    assert_int_equal(ms_ok("2 m"), 120000);
    assert_int_equal(ms_ok("2 minutes"), 120000);
    assert_int_equal(ms_ok("1 h"), 3600000);
    assert_int_equal(ms_ok("2 hours"), 7200000);
    assert_int_equal(ms_ok("1 d"), 86400000);
    assert_int_equal(ms_ok("1 day"), 86400000);
    assert_int_equal(ms_ok("10 MIN"), 600000);
    assert_int_equal(ms_ok("2000 us"), 2);
    assert_int_equal(ms_ok("2000 \xc2\xb5s"), 2);
    assert_int_equal(ms_ok("3000000 ns"), 3);
}

static void duration_below_a_millisecond_is_edom_for_ms(void **state)
{
    int64_t v;
    assert_int_equal(weir_parse_duration_ms("500 us", &v), -EDOM);
    assert_int_equal(weir_parse_duration_ms("1500us", &v), -EDOM);
    assert_int_equal(weir_parse_duration_ns("500 us", &v), 0);
    assert_int_equal(v, 500000);
    assert_int_equal(weir_parse_duration_ns("7 nanos", &v), 0);
    assert_int_equal(v, 7);
}

static void duration_rejects_what_flink_rejects(void **state)
{
    const char *bad[] = {"",        "ms",     "-5 s",  "1.5s",  "10 parsecs",
                         "10 mins", "10 sek", "1h30m", "5 s s", "PT5S"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t v;
        if (weir_parse_duration_ms(bad[i], &v) != -EINVAL)
            fail_msg("\"%s\" parsed as a duration", bad[i]);
    }
}

static void duration_overflow_is_erange(void **state)
{
    int64_t v;
    assert_int_equal(weir_parse_duration_ms("9223372036854775807 d", &v), -ERANGE);
    assert_int_equal(weir_parse_duration_ns("300 years", &v), -EINVAL);
    assert_int_equal(weir_parse_duration_ns("1000000 d", &v), -ERANGE); /* ~2700 years of ns */
    assert_int_equal(weir_parse_duration_ms("1000000 d", &v), 0);
}

static void format_size_picks_the_largest_unit(void **state)
{
    char buf[32];
    assert_int_equal(weir_format_size(1536ull << 20, buf, sizeof buf), 0);
    assert_string_equal(buf, "1.500 GiB");
    weir_format_size(128ull << 20, buf, sizeof buf);
    assert_string_equal(buf, "128.000 MiB");
    weir_format_size(1728ull << 20, buf, sizeof buf);
    assert_string_equal(buf, "1.688 GiB");
    weir_format_size(512, buf, sizeof buf);
    assert_string_equal(buf, "512 B");
    weir_format_size(0, buf, sizeof buf);
    assert_string_equal(buf, "0 B");
    weir_format_size((1ull << 30) - 1, buf, sizeof buf); /* not "1024.000 MiB" */
    assert_string_equal(buf, "1.000 GiB");
    weir_format_size(UINT64_MAX, buf, sizeof buf);
    assert_string_equal(buf, "16.000 EiB");
}

static void format_size_reports_a_short_buffer(void **state)
{
    char buf[4];
    assert_int_equal(weir_format_size(1ull << 30, buf, sizeof buf), -ENOSPC);
    assert_int_equal(strlen(buf), 3);
    assert_int_equal(weir_format_size(1, NULL, 10), -EINVAL);
}

static void port_range_in_flink_syntax(void **state)
{
    unsigned lo, hi;
    assert_int_equal(weir_parse_port_range("9249", &lo, &hi), 0);
    assert_int_equal(lo, 9249);
    assert_int_equal(hi, 9249);
    assert_int_equal(weir_parse_port_range("9249-9259", &lo, &hi), 0);
    assert_int_equal(lo, 9249);
    assert_int_equal(hi, 9259);
    assert_int_equal(weir_parse_port_range("0", &lo, &hi), 0);
    assert_int_equal(lo, 0);
    assert_int_equal(hi, 0);
    const char *bad[] = {"", "http", "65536", "9259-9249", "0-10", "92a", "-1", "9249-", "1,2"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (weir_parse_port_range(bad[i], &lo, &hi) != -EINVAL)
            fail_msg("\"%s\" parsed as a port range", bad[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(size_bare_number_is_bytes),
        cmocka_unit_test(size_units_are_binary_and_case_insensitive),
        cmocka_unit_test(size_rejects_what_flink_rejects),
        cmocka_unit_test(size_overflow_is_erange),
        cmocka_unit_test(duration_bare_number_is_milliseconds),
        cmocka_unit_test(duration_units_in_short_and_long_forms),
        cmocka_unit_test(duration_below_a_millisecond_is_edom_for_ms),
        cmocka_unit_test(duration_rejects_what_flink_rejects),
        cmocka_unit_test(duration_overflow_is_erange),
        cmocka_unit_test(format_size_picks_the_largest_unit),
        cmocka_unit_test(format_size_reports_a_short_buffer),
        cmocka_unit_test(port_range_in_flink_syntax),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
