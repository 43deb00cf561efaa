/*
 * The YAML file: flattening, scalar styles, FILE:LINE errors, unknown keys, -D precedence.
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

static void load_ok(weir_config *c, const char *path)
{
    char err[512] = "";
    if (weir_config_load_file(c, path, err, sizeof err) != 0)
        fail_msg("%s", err);
}

/* Loading text must fail with exactly "PATH:" + message. */
static void load_refused(weir_config *c, const char *text, const char *message)
{
    char err[512] = "", want[4200];
    const char *path = wt_tmp_file("refused.yaml", text);
    if (weir_config_load_file(c, path, err, sizeof err) >= 0)
        fail_msg("accepted:\n%s", text);
    snprintf(want, sizeof want, "%s:%s", path, message);
    assert_string_equal(err, want);
}

static void flat_keys_load(void **state)
{
    weir_config *c = *state;
    load_ok(c, wt_tmp_file("flat.yaml", "parallelism.default: 4\n"
                                        "execution.buffer-timeout: 10 s\n"
                                        "memory.process.size: 2g\n"
                                        "weir.progress: never\n"));
    assert_int_equal(weir_config_get_int(c, "parallelism.default"), 4);
    assert_int_equal(weir_config_get_duration_ms(c, "execution.buffer-timeout"), 10000);
    assert_int_equal(weir_config_get_size(c, "memory.process.size"), 2ull << 30);
    assert_string_equal(weir_config_get_str(c, "weir.progress"), "never");
    assert_true(weir_config_is_set(c, "memory.process.size"));
    assert_false(weir_config_is_set(c, "memory.framework.size"));
}

static void nested_mappings_flatten_with_dots(void **state)
{
    weir_config *c = *state;
    load_ok(c, wt_tmp_file("nested.yaml", "memory:\n"
                                          "  process:\n"
                                          "    size: 2g\n"
                                          "  managed.fraction: 0.3\n"
                                          "  network: {min: 32m, max: 512m}\n"
                                          "taskmanager:\n"
                                          "  memory:\n"
                                          "    segment-size: 64kb\n"
                                          "metrics.reporter:\n"
                                          "  prom:\n"
                                          "    port: 9300-9310\n"));
    assert_int_equal(weir_config_get_size(c, "memory.process.size"), 2ull << 30);
    assert_true(weir_config_get_double(c, "memory.managed.fraction") == 0.3);
    assert_int_equal(weir_config_get_size(c, "memory.network.min"), 32ull << 20);
    assert_int_equal(weir_config_get_size(c, "memory.network.max"), 512ull << 20);
    assert_int_equal(weir_config_get_size(c, "memory.segment-size"), 64 * 1024);
    assert_string_equal(weir_config_get_str(c, "metrics.reporter.prom.port"), "9300-9310");
}

static void flink_names_load_as_aliases(void **state)
{
    weir_config *c = *state;
    load_ok(c, wt_tmp_file("flink.yaml", "taskmanager.memory.process.size: 4096m\n"
                                         "taskmanager.memory.managed.fraction: 0.2\n"
                                         "taskmanager.memory.jvm-overhead.max: 512m\n"));
    assert_int_equal(weir_config_get_size(c, "memory.process.size"), 4096ull << 20);
    assert_true(weir_config_get_double(c, "memory.managed.fraction") == 0.2);
    assert_int_equal(weir_config_get_size(c, "memory.overhead.max"), 512ull << 20);
}

static void every_scalar_style_is_its_text(void **state)
{
    weir_config *c = *state;
    load_ok(c, wt_tmp_file("styles.yaml", "execution.buffer-timeout: '250 ms'\n"
                                          "memory.process.size: \"3g\"\n"
                                          "numa.cpus: |\n"
                                          "  0-3\n"
                                          "metrics.reporter.prom.host: >\n"
                                          "  localhost\n"
                                          "parallelism.default: !!str 2\n"));
    assert_int_equal(weir_config_get_duration_ms(c, "execution.buffer-timeout"), 250);
    assert_int_equal(weir_config_get_size(c, "memory.process.size"), 3ull << 30);
    assert_string_equal(weir_config_get_str(c, "numa.cpus"), "0-3");
    assert_string_equal(weir_config_get_str(c, "metrics.reporter.prom.host"), "localhost");
    assert_int_equal(weir_config_get_int(c, "parallelism.default"), 2);
}

static void anchors_and_aliases_resolve(void **state)
{
    weir_config *c = *state;
    load_ok(c, wt_tmp_file("anchors.yaml", "memory.network.max: &big 2g\n"
                                           "memory.overhead.max: *big\n"));
    assert_int_equal(weir_config_get_size(c, "memory.overhead.max"), 2ull << 30);
}

static void empty_file_sets_nothing(void **state)
{
    weir_config *c = *state;
    load_ok(c, wt_tmp_file("empty.yaml", "# only a comment\n"));
    assert_false(weir_config_is_set(c, "memory.process.size"));
}

static void null_value_is_an_error_not_the_default(void **state)
{
    load_refused(*state, "memory.process.size:\n",
                 "1: memory.process.size: no value; expected a size like 4096m, 64kb or 4g "
                 "(remove the line for the default, 1728m)");
    load_refused(*state, "parallelism.default: ~\n",
                 "1: parallelism.default: no value; expected an integer from 1 to 32768 "
                 "(remove the line for the default, 1)");
    load_refused(*state, "memory:\n  task.heap.size: null\n",
                 "2: memory.task.heap.size: no value; expected a size like 4096m, 64kb or 4g "
                 "(remove the line to leave it unset)");
}

static void quoted_empty_string_is_a_value_not_null(void **state)
{
    weir_config *c = *state;
    load_ok(c, wt_tmp_file("emptystr.yaml", "numa.cpus: \"\"\n"));
    assert_true(weir_config_is_set(c, "numa.cpus"));
    load_refused(c, "memory.process.size: ''\n",
                 "1: memory.process.size: \"\": expected a size like 4096m, 64kb or 4g");
}

static void print_names_the_file_and_line(void **state)
{
    weir_config *c = *state;
    char want[4200], line[4300];
    const char *path = wt_tmp_file("source.yaml", "# weir\n"
                                                  "memory:\n"
                                                  "  process:\n"
                                                  "    size: 2g\n");
    load_ok(c, path);
    char *out = print_to_string(weir_config_print, c);
    snprintf(want, sizeof want, "# (file) %s:4 2.000 GiB", path);
    line_starting(out, "memory.process.size: ", line, sizeof line);
    assert_non_null(strstr(line, "memory.process.size: 2g "));
    assert_non_null(strstr(line, want));
    free(out);
}

static void printed_config_loads_back_the_same(void **state)
{
    weir_config *c = *state, *back = weir_config_new();
    char err[512] = "";
    assert_non_null(back);
    assert_int_equal(weir_config_set_kv(c, "memory.process.size=3g", err, sizeof err), 0);
    assert_int_equal(weir_config_set_kv(c, "execution.buffer-timeout=2 min", err, sizeof err), 0);
    assert_int_equal(weir_config_set_kv(c, "numa.cpus=0-1", err, sizeof err), 0);
    assert_int_equal(weir_config_set_kv(c, "memory.managed.fraction=0.25", err, sizeof err), 0);
    weir_config_set_machine_limit_for_test(c, 1ull << 40);
    weir_config_set_machine_limit_for_test(back, 1ull << 40);
    assert_int_equal(weir_config_resolve(c, err, sizeof err), 0);

    char *out = print_to_string(weir_config_print, c);
    load_ok(back, wt_tmp_file("printed.yaml", out));
    assert_int_equal(weir_config_resolve(back, err, sizeof err), 0);
    char *again = print_to_string(weir_config_print_pools, back);
    char *pools = print_to_string(weir_config_print_pools, c);
    assert_string_equal(again, pools);
    assert_int_equal(weir_config_get_duration_ms(back, "execution.buffer-timeout"), 120000);
    assert_string_equal(weir_config_get_str(back, "numa.cpus"), "0-1");
    assert_false(weir_config_is_set(back, "memory.task.heap.size"));
    free(out);
    free(again);
    free(pools);
    weir_config_free(back);
}

static void cmdline_overrides_file_loaded_before(void **state)
{
    weir_config *c = *state;
    char err[512] = "";
    load_ok(c, wt_tmp_file("before.yaml", "memory.process.size: 2g\n"));
    assert_int_equal(weir_config_set_kv(c, "memory.process.size=3g", err, sizeof err), 0);
    assert_int_equal(weir_config_get_size(c, "memory.process.size"), 3ull << 30);
}

static void cmdline_overrides_file_loaded_after(void **state)
{
    weir_config *c = *state;
    char err[512] = "";
    assert_int_equal(weir_config_set_kv(c, "taskmanager.memory.process.size=3g", err, sizeof err),
                     0);
    load_ok(c, wt_tmp_file("after.yaml", "memory.process.size: 2g\n"
                                         "parallelism.default: 5\n"));
    assert_int_equal(weir_config_get_size(c, "memory.process.size"), 3ull << 30);
    assert_int_equal(weir_config_get_int(c, "parallelism.default"), 5);
    char *out = print_to_string(weir_config_print, c);
    char line[256];
    line_starting(out, "memory.process.size: ", line, sizeof line);
    assert_non_null(strstr(line, "# (-D)"));
    free(out);
}

static void file_value_is_checked_even_under_cmdline(void **state)
{
    weir_config *c = *state;
    char err[512] = "";
    assert_int_equal(weir_config_set_kv(c, "memory.process.size=3g", err, sizeof err), 0);
    load_refused(c, "memory.process.size: 2 gigs\n",
                 "1: memory.process.size: \"2 gigs\": expected a size like 4096m, 64kb or 4g");
}

static void later_file_overrides_earlier_file(void **state)
{
    weir_config *c = *state;
    load_ok(c, wt_tmp_file("one.yaml", "parallelism.default: 2\n"));
    load_ok(c, wt_tmp_file("two.yaml", "parallelism.default: 3\n"));
    assert_int_equal(weir_config_get_int(c, "parallelism.default"), 3);
}

static void unknown_key_in_file_suggests_the_nearest(void **state)
{
    load_refused(*state,
                 "parallelism.default: 2\n"
                 "\n"
                 "execution.bufer-timeout: 10ms\n",
                 "3: unknown key \"execution.bufer-timeout\" (did you mean "
                 "\"execution.buffer-timeout\"?)");
}

static void unknown_nested_key_is_named_flattened(void **state)
{
    load_refused(*state,
                 "memory:\n"
                 "  proces:\n"
                 "    size: 1g\n",
                 "3: unknown key \"memory.proces.size\" (did you mean \"memory.process.size\"?)");
}

static void unknown_key_far_from_all_in_file(void **state)
{
    load_refused(*state, "high-availability: zookeeper\n", "1: unknown key \"high-availability\"");
}

static void bad_value_in_file_has_file_and_line(void **state)
{
    load_refused(*state,
                 "parallelism.default: 2\n"
                 "execution.buffer-timeout: 10 parsecs\n",
                 "2: execution.buffer-timeout: \"10 parsecs\": expected a duration like 100ms, "
                 "10 s, 1 min");
}

static void bad_nested_value_names_the_flattened_key(void **state)
{
    load_refused(*state,
                 "memory:\n"
                 "  managed:\n"
                 "    fraction: 1.2\n",
                 "3: memory.managed.fraction: \"1.2\": expected a fraction from 0 to less than "
                 "1, like 0.4");
}

static void sequence_where_a_value_belongs_is_refused(void **state)
{
    load_refused(*state,
                 "numa.cpus:\n"
                 "  - 0\n"
                 "  - 1\n",
                 "2: numa.cpus: expected a Linux cpu list like 0-3,8-11, or \"\" for all, not a "
                 "YAML sequence");
    load_refused(*state, "memory.process.size: [1g, 2g]\n",
                 "1: memory.process.size: expected a size like 4096m, 64kb or 4g, not a YAML "
                 "sequence");
}

static void mapping_where_a_value_belongs_is_refused(void **state)
{
    load_refused(*state,
                 "memory.process.size:\n"
                 "  value: 1g\n",
                 "2: memory.process.size: expected a size like 4096m, 64kb or 4g, not a YAML "
                 "mapping");
}

static void sequence_under_unknown_key_is_an_unknown_key(void **state)
{
    load_refused(*state, "numa.cpu: [0, 1]\n",
                 "1: unknown key \"numa.cpu\" (did you mean \"numa.cpus\"?)");
}

static void top_level_must_be_a_mapping(void **state)
{
    load_refused(*state, "- parallelism.default: 2\n",
                 "1: expected a mapping of keys to values, not a YAML sequence");
}

static void key_must_be_text(void **state)
{
    load_refused(*state, "? [a, b]\n: 1\n", "1: a key must be text, not a YAML sequence");
}

static void key_given_twice_is_refused(void **state)
{
    load_refused(*state,
                 "memory.process.size: 2g\n"
                 "memory:\n"
                 "  process.size: 3g\n",
                 "3: memory.process.size: given twice in this file (first at line 1)");
}

static void key_given_twice_by_alias_is_refused(void **state)
{
    load_refused(*state,
                 "taskmanager.memory.process.size: 2g\n"
                 "memory.process.size: 3g\n",
                 "2: memory.process.size: given twice in this file (first at line 1 as "
                 "\"taskmanager.memory.process.size\")");
}

static void yaml_syntax_error_has_the_line(void **state)
{
    load_refused(*state,
                 "parallelism.default: 2\n"
                 "  memory.process.size: 1g\n",
                 "2: YAML syntax error: mapping values are not allowed in this context");
}

static void yaml_syntax_error_names_where_the_construct_began(void **state)
{
    load_refused(*state,
                 "parallelism.default: 2\n"
                 "memory.process.size: [1g\n"
                 "numa.cpus: \"0\"\n",
                 "3: YAML syntax error: did not find expected ',' or ']' while parsing a flow "
                 "sequence started at line 2");
}

static void second_document_is_refused(void **state)
{
    load_refused(*state,
                 "parallelism.default: 2\n"
                 "---\n"
                 "parallelism.default: 3\n",
                 "3: a second YAML document; weir reads one");
}

static void invalid_utf8_names_the_byte(void **state)
{
    char err[512] = "", want[4200];
    const char *path = wt_tmp_file("utf8.yaml", "numa.cpus: \xff\n");
    assert_int_equal(weir_config_load_file(*state, path, err, sizeof err), -EINVAL);
    snprintf(want, sizeof want, "%s: byte 11: invalid leading UTF-8 octet", path);
    assert_string_equal(err, want);
}

static void missing_file_is_enoent_with_path(void **state)
{
    char err[512] = "";
    assert_int_equal(weir_config_load_file(*state, "/nonexistent/weir.yaml", err, sizeof err),
                     -ENOENT);
    assert_string_equal(err, "/nonexistent/weir.yaml: No such file or directory");
}

static void directory_is_refused(void **state)
{
    char err[512] = "";
    assert_int_equal(weir_config_load_file(*state, "/", err, sizeof err), -EISDIR);
    assert_string_equal(err, "/: Is a directory");
}

static void deep_nesting_is_refused(void **state)
{
    char text[4096] = "";
    size_t o = 0;
    for (int i = 0; i < 40; i++)
        o += (size_t)snprintf(text + o, sizeof text - o, "%*sa%d:\n", i * 2, "", i);
    snprintf(text + o, sizeof text - o, "%*sx: 1\n", 80, "");
    char err[512] = "";
    const char *path = wt_tmp_file("deep.yaml", text);
    assert_int_equal(weir_config_load_file(*state, path, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "nested deeper than 32 levels"));
}

/* libyaml's scanner takes time in the square of the flow nesting ("a: [[[[..."): 64 KB of '['
 * kept `weir config` busy for half a minute, 1 MB for hours (found feeding tests/fuzz/fuzz_config
 * deep inputs; regression input in tests/fuzz/regressions/config/).
 * The nesting is counted from libyaml's events first, which come after a bounded look-ahead. */
static void deep_flow_nesting_is_refused_before_it_is_parsed(void **state)
{
    size_t n = 64 * 1024;
    char *text = malloc(n + 8), err[512] = "";
    assert_non_null(text);
    memcpy(text, "a: ", 3);
    memset(text + 3, '[', n);
    memcpy(text + 3 + n, "\n", 2);
    const char *path = wt_tmp_file("deep-flow.yaml", text);
    free(text);
    assert_int_equal(weir_config_load_file(*state, path, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, ":1: nested deeper than 32 levels"));
}

/* The file is read whole before it is parsed: a configuration is a few KB, and /dev/zero or a
 * log given by mistake must not be read until memory runs out. */
static void config_larger_than_4_mib_is_refused(void **state)
{
    size_t n = 5u << 20;
    char *text = malloc(n + 1), err[512] = "";
    assert_non_null(text);
    for (size_t i = 0; i < n; i += 16)
        memcpy(text + i, "# a comment ...\n", 16);
    text[n] = '\0';
    const char *path = wt_tmp_file("big.yaml", text);
    free(text);
    assert_int_equal(weir_config_load_file(*state, path, err, sizeof err), -EFBIG);
    assert_non_null(strstr(err, "big.yaml: larger than 4 MiB; a configuration is a few KB"));
}

static void self_referencing_alias_is_refused(void **state)
{
    char err[512] = "";
    const char *path = wt_tmp_file("cycle.yaml", "memory: &m\n"
                                                 "  again: *m\n");
    assert_int_equal(weir_config_load_file(*state, path, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "nested deeper than 32 levels"));
}

/* An alias bomb (billion laughs) whose keys are all known prefixes, so that nothing but the
 * expansion itself can refuse it: 12 aliases per level over four levels is 12^4 = 20736
 * keys, past the 10000 the loader expands. */
static const char *alias_bomb(int fanout)
{
    static char text[8192];
    size_t o = 0;
#define PUT(...) (o += (size_t)snprintf(text + o, sizeof text - o, __VA_ARGS__))
    PUT("state: &l1\n  backend: &l2\n    rocksdb: &l3\n      memory: &l4 {}\n");
    for (int i = 1; i < fanout; i++)
        PUT("      memory: *l4\n");
    for (int i = 1; i < fanout; i++)
        PUT("    rocksdb: *l3\n");
    for (int i = 1; i < fanout; i++)
        PUT("  backend: *l2\n");
    for (int i = 1; i < fanout; i++)
        PUT("state: *l1\n");
#undef PUT
    return text;
}

static void alias_expansion_is_bounded(void **state)
{
    char err[512] = "", want[600];
    const char *path = wt_tmp_file("bomb.yaml", alias_bomb(12));
    assert_int_equal(weir_config_load_file(*state, path, err, sizeof err), -E2BIG);
    snprintf(want, sizeof want, "%s:", path);
    assert_memory_equal(err, want, strlen(want));
    int line = 0;
    assert_int_equal(sscanf(err + strlen(want), "%d:", &line), 1);
    assert_true(line > 0);
    assert_non_null(
        strstr(err, "more than 10000 entries (keys and list items) after expanding aliases"));
    assert_null(strchr(err, '\n'));
}

/* 9^4 = 6561 keys are under the bound: the file is walked, and refused for what it says (its
 * empty mappings), not for its size. */
static void alias_expansion_under_the_bound_is_walked(void **state)
{
    char err[512] = "";
    const char *path = wt_tmp_file("small-bomb.yaml", alias_bomb(9));
    assert_int_equal(weir_config_load_file(*state, path, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "an empty mapping sets nothing"));
}

/* The classic bomb, about 1 KB: ten levels of ten aliases each, 10^10 mappings expanded. It is
 * refused before any key is looked at, in the time it takes to read the file. */
static void billion_laughs_is_refused_at_once(void **state)
{
    char text[4096], err[512] = "";
    size_t o = (size_t)snprintf(text, sizeof text, "l0: &l0 {}\n");
    for (int lv = 1; lv < 10; lv++) {
        o += (size_t)snprintf(text + o, sizeof text - o, "l%d: &l%d {", lv, lv);
        for (int i = 0; i < 10; i++)
            o +=
                (size_t)snprintf(text + o, sizeof text - o, "%s%d: *l%d", i ? ", " : "", i, lv - 1);
        o += (size_t)snprintf(text + o, sizeof text - o, "}\n");
    }
    const char *path = wt_tmp_file("laughs.yaml", text);
    assert_int_equal(weir_config_load_file(*state, path, err, sizeof err), -E2BIG);
    assert_non_null(
        strstr(err, "more than 10000 entries (keys and list items) after expanding aliases"));
}

static void empty_mapping_under_unknown_key_is_an_unknown_key(void **state)
{
    load_refused(*state, "foo: {}\n", "1: unknown key \"foo\"");
    load_refused(*state, "foo:\n  bar: {}\n", "2: unknown key \"foo.bar\"");
}

static void unknown_key_at_any_depth_whatever_its_value(void **state)
{
    load_refused(*state,
                 "memory:\n"
                 "  network:\n"
                 "    mni: {}\n",
                 "3: unknown key \"memory.network.mni\" (did you mean \"memory.network.min\"?)");
}

static void empty_mapping_under_a_key_is_refused(void **state)
{
    load_refused(*state, "memory: {}\n",
                 "1: memory: an empty mapping sets nothing; give keys under it or remove it");
    load_refused(*state, "state:\n  backend: {}\n",
                 "2: state.backend: an empty mapping sets nothing; give keys under it or "
                 "remove it");
}

static void many_unknown_keys_are_refused_at_the_first(void **state)
{
    size_t len = 200000 * 16;
    char *text = malloc(len), err[512] = "";
    size_t o = 0;
    assert_non_null(text);
    for (int i = 0; i < 200000; i++)
        o += (size_t)snprintf(text + o, len - o, "k%d: {}\n", i);
    const char *path = wt_tmp_file("many.yaml", text);
    free(text);
    assert_int_equal(weir_config_load_file(*state, path, err, sizeof err), -ENOENT);
    assert_non_null(strstr(err, ":1: unknown key \"k0\""));
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(flat_keys_load),
        T(nested_mappings_flatten_with_dots),
        T(flink_names_load_as_aliases),
        T(every_scalar_style_is_its_text),
        T(anchors_and_aliases_resolve),
        T(empty_file_sets_nothing),
        T(null_value_is_an_error_not_the_default),
        T(quoted_empty_string_is_a_value_not_null),
        T(print_names_the_file_and_line),
        T(printed_config_loads_back_the_same),
        T(cmdline_overrides_file_loaded_before),
        T(cmdline_overrides_file_loaded_after),
        T(file_value_is_checked_even_under_cmdline),
        T(later_file_overrides_earlier_file),
        T(unknown_key_in_file_suggests_the_nearest),
        T(unknown_nested_key_is_named_flattened),
        T(unknown_key_far_from_all_in_file),
        T(bad_value_in_file_has_file_and_line),
        T(bad_nested_value_names_the_flattened_key),
        T(sequence_where_a_value_belongs_is_refused),
        T(mapping_where_a_value_belongs_is_refused),
        T(sequence_under_unknown_key_is_an_unknown_key),
        T(top_level_must_be_a_mapping),
        T(key_must_be_text),
        T(key_given_twice_is_refused),
        T(key_given_twice_by_alias_is_refused),
        T(yaml_syntax_error_has_the_line),
        T(yaml_syntax_error_names_where_the_construct_began),
        T(second_document_is_refused),
        T(invalid_utf8_names_the_byte),
        T(missing_file_is_enoent_with_path),
        T(directory_is_refused),
        T(deep_nesting_is_refused),
        T(deep_flow_nesting_is_refused_before_it_is_parsed),
        T(config_larger_than_4_mib_is_refused),
        T(self_referencing_alias_is_refused),
        T(alias_expansion_is_bounded),
        T(alias_expansion_under_the_bound_is_walked),
        T(billion_laughs_is_refused_at_once),
        T(empty_mapping_under_unknown_key_is_an_unknown_key),
        T(unknown_key_at_any_depth_whatever_its_value),
        T(empty_mapping_under_a_key_is_refused),
        T(many_unknown_keys_are_refused_at_the_first),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
#undef T
}
