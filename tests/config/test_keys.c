/*
 * Keys given as -D key=value: defaults, aliases, values checked when given, the message for
 * every kind of bad value, unknown keys with a suggestion, getters, and print.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "config_test.h"

static int setup(void **state)
{
    *state = weir_config_new();
    return *state ? 0 : -1;
}

static int teardown(void **state)
{
    weir_config_free(*state);
    return 0;
}

/* -D key=value must fail with exactly this message. */
static void refused(weir_config *c, const char *kv, const char *message)
{
    char err[512] = "";
    int rc = weir_config_set_kv(c, kv, err, sizeof err);
    if (rc >= 0)
        fail_msg("-D %s was accepted", kv);
    assert_string_equal(err, message);
}

static void defaults_are_flinks(void **state)
{
    weir_config *c = *state;
    assert_int_equal(weir_config_get_int(c, "parallelism.default"), 1);
    assert_int_equal(weir_config_get_int(c, "pipeline.max-parallelism"), 128);
    assert_int_equal(weir_config_get_duration_ms(c, "execution.buffer-timeout"), 100);
    assert_int_equal(weir_config_get_size(c, "memory.process.size"), 1728ull << 20);
    assert_int_equal(weir_config_get_size(c, "memory.segment-size"), 32 * 1024);
    assert_int_equal(weir_config_get_int(c, "network.buffers-per-channel"), 8);
    assert_true(weir_config_get_double(c, "memory.managed.fraction") == 0.4);
    assert_string_equal(weir_config_get_str(c, "numa.cpus"), "");
    assert_string_equal(weir_config_get_str(c, "metrics.reporter.prom.port"), "9249-9260");
    assert_string_equal(weir_config_get_str(c, "metrics.reporter.prom.host"), "127.0.0.1");
    assert_string_equal(weir_config_get_str(c, "weir.progress"), "auto");
    assert_int_equal(weir_config_get_enum(c, "weir.progress"), 0);
    /* No default: derived by resolve. */
    assert_int_equal(weir_config_get_size(c, "memory.task.heap.size"), 0);
    assert_false(weir_config_is_set(c, "memory.process.size"));
}

static void every_default_in_the_table_parses(void **state)
{
    /* weir_config_new aborts on a default that does not parse; a fresh config per row keeps
     * the check honest should the loop above it ever change. */
    for (size_t i = 0; i < weir_config_key_count; i++) {
        const struct weir_config_key *k = &weir_config_keys[i];
        assert_ptr_equal(weir_config_key_find(k->name), k);
        if (k->def) {
            weir_config *c = weir_config_new();
            char err[256] = "";
            assert_non_null(c);
            if (weir_config_set(c, k->name, k->def, err, sizeof err) != 0)
                fail_msg("default of %s: %s", k->name, err);
            weir_config_free(c);
        }
        assert_non_null(k->doc);
    }
}

static void set_kv_sets_a_key(void **state)
{
    weir_config *c = *state;
    char err[256] = "";
    assert_int_equal(weir_config_set_kv(c, "execution.buffer-timeout=10 s", err, sizeof err), 0);
    assert_int_equal(weir_config_get_duration_ms(c, "execution.buffer-timeout"), 10000);
    assert_true(weir_config_is_set(c, "execution.buffer-timeout"));
    assert_int_equal(weir_config_set_kv(c, "parallelism.default=4", err, sizeof err), 0);
    assert_int_equal(weir_config_get_int(c, "parallelism.default"), 4);
    assert_int_equal(weir_config_set_kv(c, "weir.progress=NEVER", err, sizeof err), 0);
    assert_string_equal(weir_config_get_str(c, "weir.progress"), "never");
    assert_int_equal(weir_config_get_enum(c, "weir.progress"), 2);
    assert_int_equal(weir_config_set_kv(c, "numa.cpus=0-3,8-11", err, sizeof err), 0);
    assert_string_equal(weir_config_get_str(c, "numa.cpus"), "0-3,8-11");
    assert_int_equal(weir_config_set_kv(c, "metrics.reporter.prom.port=9249-9259", err, sizeof err),
                     0);
}

static void set_kv_splits_at_the_first_equals_sign(void **state)
{
    weir_config *c = *state;
    char err[256] = "";
    assert_int_equal(weir_config_set_kv(c, "metrics.reporter.prom.host=a=b", err, sizeof err), 0);
    assert_string_equal(weir_config_get_str(c, "metrics.reporter.prom.host"), "a=b");
}

static void set_kv_without_equals_sign_is_refused(void **state)
{
    refused(*state, "parallelism.default",
            "parallelism.default: expected key=value, like memory.process.size=4g");
    refused(*state, "a b", "\"a b\": expected key=value, like memory.process.size=4g");
}

static void buffer_timeout_zero_is_allowed(void **state)
{
    weir_config *c = *state;
    char err[256] = "";
    assert_int_equal(weir_config_set(c, "execution.buffer-timeout", "0", err, sizeof err), 0);
    assert_int_equal(weir_config_get_duration_ms(c, "execution.buffer-timeout"), 0);
}

static void alias_sets_the_canonical_key(void **state)
{
    weir_config *c = *state;
    char err[256] = "";
    assert_int_equal(weir_config_set_kv(c, "taskmanager.memory.process.size=4g", err, sizeof err),
                     0);
    assert_int_equal(weir_config_get_size(c, "memory.process.size"), 4ull << 30);
    assert_true(weir_config_is_set(c, "memory.process.size"));
    assert_int_equal(
        weir_config_set_kv(c, "taskmanager.memory.jvm-overhead.min=256m", err, sizeof err), 0);
    assert_int_equal(weir_config_get_size(c, "memory.overhead.min"), 256ull << 20);
    assert_int_equal(
        weir_config_set_kv(c, "taskmanager.network.memory.buffers-per-channel=16", err, sizeof err),
        0);
    assert_int_equal(weir_config_get_int(c, "network.buffers-per-channel"), 16);
    /* Getters take the alias too. */
    assert_int_equal(weir_config_get_size(c, "taskmanager.memory.process.size"), 4ull << 30);
}

static void alias_prints_under_the_canonical_name(void **state)
{
    weir_config *c = *state;
    char err[256] = "";
    assert_int_equal(
        weir_config_set_kv(c, "taskmanager.memory.managed.fraction=0.25", err, sizeof err), 0);
    char *out = print_to_string(weir_config_print, c);
    assert_non_null(strstr(out, "memory.managed.fraction: 0.25 "));
    assert_null(strstr(out, "taskmanager."));
    free(out);
}

static void unknown_key_suggests_the_nearest(void **state)
{
    refused(*state, "execution.bufer-timeout=10ms",
            "unknown key \"execution.bufer-timeout\" (did you mean \"execution.buffer-timeout\"?)");
}

static void unknown_key_suggests_an_alias_when_nearest(void **state)
{
    refused(*state, "taskmanager.memory.proces.size=1g",
            "unknown key \"taskmanager.memory.proces.size\" (did you mean "
            "\"taskmanager.memory.process.size\"?)");
}

static void unknown_key_suggests_a_key_it_is_part_of(void **state)
{
    refused(*state, "process.size=1g",
            "unknown key \"process.size\" (did you mean \"memory.process.size\"?)");
    refused(*state, "parallelism=4",
            "unknown key \"parallelism\" (did you mean \"parallelism.default\"?)");
}

static void unknown_key_far_from_all_suggests_nothing(void **state)
{
    refused(*state, "high-availability=zookeeper", "unknown key \"high-availability\"");
}

static void state_backend_takes_flink_names(void **state)
{
    weir_config *c = *state;
    char err[256] = "";
    assert_string_equal(weir_config_get_str(c, "state.backend"), "hashmap");
    assert_int_equal(weir_config_set_kv(c, "state.backend.type=RocksDB", err, sizeof err), 0);
    assert_string_equal(weir_config_get_str(c, "state.backend"), "rocksdb");
    assert_int_equal(
        weir_config_set_kv(c, "execution.checkpointing.incremental=true", err, sizeof err), 0);
    assert_true(weir_config_get_bool(c, "state.backend.incremental"));
    refused(c, "state.backend.rocksdb.memory.write-buffer-ratio=1.5",
            "state.backend.rocksdb.memory.write-buffer-ratio: \"1.5\": expected a fraction from "
            "0 to less than 1, like 0.4");
}

static void unknown_key_is_enoent(void **state)
{
    char err[256];
    assert_int_equal(weir_config_set(*state, "no.such.key", "1", err, sizeof err), -ENOENT);
}

static void bad_int_names_key_value_and_range(void **state)
{
    refused(*state, "parallelism.default=0",
            "parallelism.default: \"0\": expected an integer from 1 to 32768");
    refused(*state, "parallelism.default=four",
            "parallelism.default: \"four\": expected an integer from 1 to 32768");
    refused(*state, "pipeline.max-parallelism=99999999999999999999",
            "pipeline.max-parallelism: \"99999999999999999999\": expected an integer from 1 to "
            "32768");
    refused(*state, "parallelism.default=2.5",
            "parallelism.default: \"2.5\": expected an integer from 1 to 32768");
}

static void bad_power_of_two_int_names_key_and_value(void **state)
{
    refused(*state, "network.buffers-per-channel=6",
            "network.buffers-per-channel: \"6\": expected a power of two from 2 to 65536, "
            "like 8");
}

static void bad_size_names_key_and_value(void **state)
{
    refused(*state, "memory.process.size=2 gigs",
            "memory.process.size: \"2 gigs\": expected a size like 4096m, 64kb or 4g");
    refused(*state, "memory.process.size=",
            "memory.process.size: \"\": expected a size like "
            "4096m, 64kb or 4g");
}

static void size_overflow_names_key_value_and_the_largest(void **state)
{
    refused(*state, "memory.process.size=99999999t",
            "memory.process.size: \"99999999t\": too large; the largest size is 4194304t "
            "(4.000 EiB)");
    refused(*state, "memory.process.size=99999999999t",
            "memory.process.size: \"99999999999t\": too large; the largest size is 4194304t "
            "(4.000 EiB)");
}

/* Fits in 64 bits as bytes, but not in the signed sizes (off_t, ssize_t) the engine uses. */
static void size_past_the_largest_is_refused_though_it_fits_64_bits(void **state)
{
    refused(*state, "memory.managed.size=16000000t",
            "memory.managed.size: \"16000000t\": too large; the largest size is 4194304t "
            "(4.000 EiB)");
}

static void largest_size_is_accepted(void **state)
{
    char err[256] = "";
    assert_int_equal(weir_config_set_kv(*state, "memory.managed.size=4194304t", err, sizeof err),
                     0);
}

/* 18446744073710 ms is 2^64 ns and a little: read as nanoseconds it wrapped to about 448 us. */
static void duration_that_overflows_in_nanoseconds_is_refused(void **state)
{
    refused(*state, "execution.checkpointing.interval=18446744073710ms",
            "execution.checkpointing.interval: \"18446744073710ms\": too long; the largest "
            "duration is 36500 d");
    refused(*state, "execution.checkpointing.timeout=36501 d",
            "execution.checkpointing.timeout: \"36501 d\": too long; the largest duration is "
            "36500 d");
    refused(*state, "execution.buffer-timeout=9223372036854775807 d",
            "execution.buffer-timeout: \"9223372036854775807 d\": too long; the largest "
            "duration is 36500 d");
}

static void largest_duration_is_accepted(void **state)
{
    char err[256] = "";
    assert_int_equal(
        weir_config_set_kv(*state, "execution.checkpointing.timeout=36500 d", err, sizeof err), 0);
    assert_int_equal(weir_config_get_duration_ms(*state, "execution.checkpointing.timeout"),
                     36500ll * 86400000);
}

static void bad_segment_size_names_bounds(void **state)
{
    refused(*state, "memory.segment-size=3kb",
            "memory.segment-size: \"3kb\": expected a power-of-two size from 4kb to 1g, like "
            "32kb");
    refused(*state, "memory.segment-size=48kb",
            "memory.segment-size: \"48kb\": expected a power-of-two size from 4kb to 1g, like "
            "32kb");
}

static void bad_duration_names_key_and_value(void **state)
{
    refused(*state, "execution.buffer-timeout=10 parsecs",
            "execution.buffer-timeout: \"10 parsecs\": expected a duration like 100ms, 10 s, 1 "
            "min");
}

static void sub_millisecond_duration_is_refused(void **state)
{
    refused(*state, "execution.buffer-timeout=500 us",
            "execution.buffer-timeout: \"500 us\": expected a whole number of milliseconds");
}

static void bad_fraction_names_key_and_value(void **state)
{
    const char *msg_tail = "\": expected a fraction from 0 to less than 1, like 0.4";
    const char *bad[] = {"1", "1.5", "-0.1", "0.4x", "", "1e0", "0.99999999999999999999", "nan"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char kv[128], msg[256];
        snprintf(kv, sizeof kv, "memory.managed.fraction=%s", bad[i]);
        snprintf(msg, sizeof msg, "memory.managed.fraction: \"%s%s", bad[i], msg_tail);
        refused(*state, kv, msg);
    }
}

static void fraction_in_exponent_form_is_accepted(void **state)
{
    weir_config *c = *state;
    char err[256] = "";
    assert_int_equal(weir_config_set(c, "memory.network.fraction", "5e-2", err, sizeof err), 0);
    assert_true(weir_config_get_double(c, "memory.network.fraction") == 0.05);
}

static void bad_enum_lists_the_words(void **state)
{
    refused(*state, "weir.progress=sometimes",
            "weir.progress: \"sometimes\": expected one of auto, always, never");
}

static void bad_cpulist_names_key_and_value(void **state)
{
    const char *bad[] = {"3-1", "0-3,", "a", "0,,1", "1-", "0-7:0/4", "0-7:3/2", " x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char kv[128], msg[256];
        snprintf(kv, sizeof kv, "numa.cpus=%s", bad[i]);
        /* Values are trimmed before they are checked and quoted. */
        snprintf(msg, sizeof msg,
                 "numa.cpus: \"%s\": expected a Linux cpu list like 0-3,8-11, or \"\" for all",
                 bad[i][0] == ' ' ? bad[i] + 1 : bad[i]);
        refused(*state, kv, msg);
    }
}

static void cpulist_with_stride_is_accepted(void **state)
{
    char err[256] = "";
    assert_int_equal(weir_config_set(*state, "numa.cpus", "0-31:2/4", err, sizeof err), 0);
    assert_int_equal(weir_config_set(*state, "numa.cpus", "5", err, sizeof err), 0);
}

static void bad_kafka_instance_names_key_and_value(void **state)
{
    const char *bad[] = {"2/2", "3/2", "0/0", "1", "a/2", "1/", "/2", "0/2x", "-1/2", "0/65537"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char kv[128], msg[256];
        snprintf(kv, sizeof kv, "kafka.instance=%s", bad[i]);
        snprintf(msg, sizeof msg, "kafka.instance: \"%s\": expected i/N with 0 <= i < N, like 0/2",
                 bad[i]);
        refused(*state, kv, msg);
    }
    char err[256] = "";
    assert_int_equal(weir_config_set(*state, "kafka.instance", "1/2", err, sizeof err), 0);
    assert_string_equal(weir_config_get_str(*state, "kafka.instance"), "1/2");
}

static void bad_port_names_key_and_value(void **state)
{
    const char *bad[] = {"70000", "9259-9249", "http", "0-9249", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char kv[128], msg[256];
        snprintf(kv, sizeof kv, "metrics.reporter.prom.port=%s", bad[i]);
        snprintf(msg, sizeof msg,
                 "metrics.reporter.prom.port: \"%s\": expected a port like 9249, a range like "
                 "9249-9259, or 0 for off",
                 bad[i]);
        refused(*state, kv, msg);
    }
}

static void port_zero_turns_the_endpoint_off(void **state)
{
    char err[256] = "";
    assert_int_equal(weir_config_set(*state, "metrics.reporter.prom.port", "0", err, sizeof err),
                     0);
    assert_string_equal(weir_config_get_str(*state, "metrics.reporter.prom.port"), "0");
}

static void empty_host_is_refused(void **state)
{
    refused(*state, "metrics.reporter.prom.host=",
            "metrics.reporter.prom.host: \"\": expected a host name or address like 127.0.0.1");
}

static void bad_value_keeps_the_old_one(void **state)
{
    weir_config *c = *state;
    char err[256];
    assert_int_equal(weir_config_set(c, "parallelism.default", "3", err, sizeof err), 0);
    assert_int_equal(weir_config_set(c, "parallelism.default", "x", err, sizeof err), -EINVAL);
    assert_int_equal(weir_config_get_int(c, "parallelism.default"), 3);
}

static void value_with_control_characters_is_quoted_on_one_line(void **state)
{
    refused(*state, "parallelism.default=1\n2",
            "parallelism.default: \"1\\n2\": expected an integer from 1 to 32768");
}

static void error_is_truncated_to_errlen(void **state)
{
    char err[16];
    memset(err, 'x', sizeof err);
    assert_int_equal(weir_config_set(*state, "parallelism.default", "0", err, sizeof err), -EINVAL);
    assert_int_equal(strlen(err), sizeof err - 1);
    assert_int_equal(weir_config_set(*state, "parallelism.default", "0", NULL, 0), -EINVAL);
}

static void get_unknown(const void *c)
{
    weir_config_get_int(c, "no.such.key");
}

static void get_wrong_type(const void *c)
{
    weir_config_get_int(c, "memory.process.size");
}

static void get_str_of_size(const void *c)
{
    weir_config_get_str(c, "memory.process.size");
}

static void getter_on_unknown_key_aborts(void **state)
{
    assert_true(aborts(get_unknown, *state));
}

static void getter_of_wrong_type_aborts(void **state)
{
    assert_true(aborts(get_wrong_type, *state));
    assert_true(aborts(get_str_of_size, *state));
}

static void print_shows_every_key_with_its_source(void **state)
{
    weir_config *c = *state;
    char err[256] = "";
    assert_int_equal(weir_config_set_kv(c, "parallelism.default=2", err, sizeof err), 0);
    char *out = print_to_string(weir_config_print, c);
    for (size_t i = 0; i < weir_config_key_count; i++) {
        char want[128];
        snprintf(want, sizeof want, "%s: ", weir_config_keys[i].name);
        if (!strstr(out, want))
            fail_msg("print lacks %s:\n%s", weir_config_keys[i].name, out);
    }
    size_t lines = 0;
    for (const char *p = out; *p; p++)
        lines += *p == '\n';
    assert_int_equal(lines, weir_config_key_count);
    char line[256];
    line_starting(out, "parallelism.default: ", line, sizeof line);
    assert_non_null(strstr(line, "parallelism.default: 2 "));
    assert_non_null(strstr(line, " # (-D)"));
    line_starting(out, "memory.process.size: ", line, sizeof line);
    assert_non_null(strstr(line, "memory.process.size: 1728m "));
    assert_non_null(strstr(line, " # (default) 1.688 GiB"));
    assert_non_null(strstr(out, "\nexecution.buffer-timeout: 100 ms "));
    assert_non_null(strstr(out, "\nnuma.cpus: \"\" "));
    assert_non_null(strstr(out, "\n# memory.task.heap.size: ~ "));
    assert_non_null(strstr(out, "# (not set)\n"));
    free(out);
}

static void print_after_resolve_shows_derived_sizes_commented_out(void **state)
{
    weir_config *c = *state;
    char err[256] = "";
    weir_config_set_machine_limit_for_test(c, 1ull << 40);
    assert_int_equal(weir_config_resolve(c, err, sizeof err), 0);
    char *out = print_to_string(weir_config_print, c);
    assert_non_null(strstr(out, "\n# memory.task.heap.size: 671088641 "));
    assert_non_null(strstr(out, "# (derived) 640.000 MiB\n"));
    assert_non_null(strstr(out, "\n# memory.managed.size: 644245094 "));
    free(out);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(defaults_are_flinks),
        T(every_default_in_the_table_parses),
        T(set_kv_sets_a_key),
        T(set_kv_splits_at_the_first_equals_sign),
        T(set_kv_without_equals_sign_is_refused),
        T(buffer_timeout_zero_is_allowed),
        T(alias_sets_the_canonical_key),
        T(alias_prints_under_the_canonical_name),
        T(unknown_key_suggests_the_nearest),
        T(unknown_key_suggests_an_alias_when_nearest),
        T(unknown_key_suggests_a_key_it_is_part_of),
        T(unknown_key_far_from_all_suggests_nothing),
        T(state_backend_takes_flink_names),
        T(unknown_key_is_enoent),
        T(bad_int_names_key_value_and_range),
        T(bad_power_of_two_int_names_key_and_value),
        T(bad_size_names_key_and_value),
        T(size_overflow_names_key_value_and_the_largest),
        T(size_past_the_largest_is_refused_though_it_fits_64_bits),
        T(largest_size_is_accepted),
        T(duration_that_overflows_in_nanoseconds_is_refused),
        T(largest_duration_is_accepted),
        T(bad_segment_size_names_bounds),
        T(bad_duration_names_key_and_value),
        T(sub_millisecond_duration_is_refused),
        T(bad_fraction_names_key_and_value),
        T(fraction_in_exponent_form_is_accepted),
        T(bad_enum_lists_the_words),
        T(bad_cpulist_names_key_and_value),
        T(cpulist_with_stride_is_accepted),
        T(bad_kafka_instance_names_key_and_value),
        T(bad_port_names_key_and_value),
        T(port_zero_turns_the_endpoint_off),
        T(empty_host_is_refused),
        T(bad_value_keeps_the_old_one),
        T(value_with_control_characters_is_quoted_on_one_line),
        T(error_is_truncated_to_errlen),
        T(getter_on_unknown_key_aborts),
        T(getter_of_wrong_type_aborts),
        T(print_shows_every_key_with_its_source),
        T(print_after_resolve_shows_derived_sizes_commented_out),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
#undef T
}
