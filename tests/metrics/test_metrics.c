/*
 * The metrics registry: what a scrape reads, byte for byte, and how meters and time
 * shares turn counters into rates. Rates run on an injected clock so that no test
 * depends on how fast the machine is; one test watches the real sampler thread.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <weir/metrics.h>

#define NS_PER_S 1000000000ull

/* ---- helpers --------------------------------------------------------------- */

static char *render(weir_metrics *m)
{
    char *text = NULL;
    size_t len = 0;

    assert_int_equal(weir_metrics_render(m, &text, &len), 0);
    assert_non_null(text);
    assert_int_equal(strlen(text), len);
    return text;
}

static void assert_render(weir_metrics *m, const char *expected)
{
    char *text = render(m);
    assert_string_equal(text, expected);
    free(text);
}

/* The value on the line that starts with `series ` ("name{labels}"), as text. */
static char *value_of(weir_metrics *m, const char *series)
{
    char *text = render(m), *line, *save = NULL, *found = NULL;
    size_t n = strlen(series);

    for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
        if (strncmp(line, series, n) == 0 && line[n] == ' ') {
            found = strdup(line + n + 1);
            break;
        }
    free(text);
    return found;
}

static double rate_of(weir_metrics *m, const char *series)
{
    char *v = value_of(m, series);
    double d;

    assert_non_null(v);
    d = strtod(v, NULL);
    free(v);
    return d;
}

struct fake_clock {
    uint64_t now_ns;
};

static uint64_t fake_now(void *arg)
{
    return ((struct fake_clock *)arg)->now_ns;
}

static double constant(void *arg)
{
    return *(double *)arg;
}

/* ---- rendering ------------------------------------------------------------- */

static void render_of_empty_registry_is_empty(void **state)
{
    weir_metrics *m = weir_metrics_new();
    assert_non_null(m);
    assert_render(m, "");
    weir_metrics_free(m);
}

static void render_writes_help_and_type_once_per_name(void **state)
{
    weir_metrics *m = weir_metrics_new();
    _Atomic uint64_t in0 = 5, in1 = 7, fill = 3;

    /* Interleaved registration: the output still groups one name's series. */
    assert_int_equal(weir_metrics_add_u64(m, "flink_taskmanager_job_task_numRecordsIn", "Records received.",
                                          WEIR_METRIC_COUNTER, "task=\"map\",subtask=\"0\"", &in0),
                     0);
    assert_int_equal(weir_metrics_add_u64(m, "weir_ring_fill", "Buffers in the ring.",
                                          WEIR_METRIC_GAUGE, "ring=\"a\"", &fill),
                     0);
    assert_int_equal(weir_metrics_add_u64(m, "flink_taskmanager_job_task_numRecordsIn", "ignored second help",
                                          WEIR_METRIC_COUNTER, "task=\"map\",subtask=\"1\"", &in1),
                     0);
    assert_render(m, "# HELP flink_taskmanager_job_task_numRecordsIn Records received.\n"
                     "# TYPE flink_taskmanager_job_task_numRecordsIn counter\n"
                     "flink_taskmanager_job_task_numRecordsIn{task=\"map\",subtask=\"0\"} 5\n"
                     "flink_taskmanager_job_task_numRecordsIn{task=\"map\",subtask=\"1\"} 7\n"
                     "# HELP weir_ring_fill Buffers in the ring.\n"
                     "# TYPE weir_ring_fill gauge\n"
                     "weir_ring_fill{ring=\"a\"} 3\n");
    weir_metrics_free(m);
}

static void render_omits_braces_and_help_when_empty(void **state)
{
    weir_metrics *m = weir_metrics_new();
    _Atomic uint64_t v = 1;

    assert_int_equal(weir_metrics_add_u64(m, "weir_up", "", WEIR_METRIC_GAUGE, "", &v), 0);
    assert_int_equal(weir_metrics_add_u64(m, "weir_x", NULL, WEIR_METRIC_GAUGE, NULL, &v), 0);
    assert_render(m, "# TYPE weir_up gauge\nweir_up 1\n# TYPE weir_x gauge\nweir_x 1\n");
    weir_metrics_free(m);
}

static void render_writes_u64_and_double_values_exactly(void **state)
{
    weir_metrics *m = weir_metrics_new();
    _Atomic uint64_t big = UINT64_MAX;
    double tenth = 0.1, neg = -2.5, big_d = 1e21, nan_d = NAN, pinf = INFINITY, ninf = -INFINITY,
           third = 1.0 / 3.0, zero = 0.0;

    assert_int_equal(weir_metrics_add_u64(m, "c", "h", WEIR_METRIC_COUNTER, "k=\"max\"", &big), 0);
    assert_int_equal(weir_metrics_add_fn(m, "g", "h", "k=\"a\"", constant, &tenth), 0);
    assert_int_equal(weir_metrics_add_fn(m, "g", "h", "k=\"b\"", constant, &neg), 0);
    assert_int_equal(weir_metrics_add_fn(m, "g", "h", "k=\"c\"", constant, &big_d), 0);
    assert_int_equal(weir_metrics_add_fn(m, "g", "h", "k=\"d\"", constant, &nan_d), 0);
    assert_int_equal(weir_metrics_add_fn(m, "g", "h", "k=\"e\"", constant, &pinf), 0);
    assert_int_equal(weir_metrics_add_fn(m, "g", "h", "k=\"f\"", constant, &ninf), 0);
    assert_int_equal(weir_metrics_add_fn(m, "g", "h", "k=\"g\"", constant, &third), 0);
    assert_int_equal(weir_metrics_add_fn(m, "g", "h", "k=\"h\"", constant, &zero), 0);
    assert_render(m, "# HELP c h\n# TYPE c counter\n"
                     "c{k=\"max\"} 18446744073709551615\n"
                     "# HELP g h\n# TYPE g gauge\n"
                     "g{k=\"a\"} 0.1\n"
                     "g{k=\"b\"} -2.5\n"
                     "g{k=\"c\"} 1e+21\n"
                     "g{k=\"d\"} NaN\n"
                     "g{k=\"e\"} +Inf\n"
                     "g{k=\"f\"} -Inf\n"
                     "g{k=\"g\"} 0.3333333333333333\n"
                     "g{k=\"h\"} 0\n");
    weir_metrics_free(m);
}

static void counter_update_is_visible_on_next_render(void **state)
{
    weir_metrics *m = weir_metrics_new();
    _Atomic uint64_t n = 0;
    char *v;

    assert_int_equal(weir_metrics_add_u64(m, "weir_n", "h", WEIR_METRIC_COUNTER, "", &n), 0);
    v = value_of(m, "weir_n");
    assert_string_equal(v, "0");
    free(v);
    atomic_store_explicit(&n, 123456789012ull, memory_order_relaxed);
    v = value_of(m, "weir_n");
    assert_string_equal(v, "123456789012");
    free(v);
    weir_metrics_free(m);
}

static void gauge_fn_is_called_at_each_render(void **state)
{
    weir_metrics *m = weir_metrics_new();
    double x = 0.25;
    char *v;

    assert_int_equal(weir_metrics_add_fn(m, "weir_fill_ratio", "h", "", constant, &x), 0);
    v = value_of(m, "weir_fill_ratio");
    assert_string_equal(v, "0.25");
    free(v);
    x = 0.75;
    v = value_of(m, "weir_fill_ratio");
    assert_string_equal(v, "0.75");
    free(v);
    weir_metrics_free(m);
}

static void help_escapes_backslash_and_newline(void **state)
{
    weir_metrics *m = weir_metrics_new();
    _Atomic uint64_t v = 0;

    assert_int_equal(weir_metrics_add_u64(m, "weir_h", "a\\b\nc \"q\"", WEIR_METRIC_GAUGE, "", &v),
                     0);
    assert_render(m, "# HELP weir_h a\\\\b\\nc \"q\"\n# TYPE weir_h gauge\nweir_h 0\n");
    weir_metrics_free(m);
}

static void invalid_name_characters_become_underscores(void **state)
{
    weir_metrics *m = weir_metrics_new();
    _Atomic uint64_t v = 0;

    assert_int_equal(weir_metrics_add_u64(m, "weir.task-records in", "", WEIR_METRIC_GAUGE, "", &v),
                     0);
    assert_int_equal(weir_metrics_add_u64(m, "9lives", "", WEIR_METRIC_GAUGE, "", &v), 0);
    assert_int_equal(weir_metrics_add_u64(m, "ok:name_1", "", WEIR_METRIC_GAUGE, "", &v), 0);
    assert_render(m, "# TYPE weir_task_records_in gauge\nweir_task_records_in 0\n"
                     "# TYPE _9lives gauge\n_9lives 0\n"
                     "# TYPE ok:name_1 gauge\nok:name_1 0\n");
    weir_metrics_free(m);
}

/* ---- labels ---------------------------------------------------------------- */

static void labels_append_escapes_quote_backslash_newline(void **state)
{
    char buf[128] = "";

    assert_int_equal(weir_metrics_labels_append(buf, sizeof(buf), "job", "pipeline"), 0);
    assert_int_equal(weir_metrics_labels_append(buf, sizeof(buf), "task", "a\"b\\c\nd"), 0);
    assert_string_equal(buf, "job=\"pipeline\",task=\"a\\\"b\\\\c\\nd\"");
}

static void labels_append_refuses_bad_label_name(void **state)
{
    char buf[64] = "";

    assert_int_equal(weir_metrics_labels_append(buf, sizeof(buf), "1job", "x"), -EINVAL);
    assert_int_equal(weir_metrics_labels_append(buf, sizeof(buf), "a:b", "x"), -EINVAL);
    assert_int_equal(weir_metrics_labels_append(buf, sizeof(buf), "a-b", "x"), -EINVAL);
    assert_int_equal(weir_metrics_labels_append(buf, sizeof(buf), "", "x"), -EINVAL);
    assert_string_equal(buf, "");
    assert_int_equal(weir_metrics_labels_append(buf, sizeof(buf), "_job1", "x"), 0);
    assert_string_equal(buf, "_job1=\"x\"");
}

static void labels_append_leaves_buffer_alone_when_full(void **state)
{
    char buf[12] = "a=\"1\"";

    /* ,b="12345" is 10 more: 5 + 10 + NUL = 16 > 12. */
    assert_int_equal(weir_metrics_labels_append(buf, sizeof(buf), "b", "12345"), -ENOSPC);
    assert_string_equal(buf, "a=\"1\"");
    /* ,b="1" is 6 more: 5 + 6 + NUL = 12, fits exactly. */
    assert_int_equal(weir_metrics_labels_append(buf, sizeof(buf), "b", "1"), 0);
    assert_string_equal(buf, "a=\"1\",b=\"1\"");
}

static void add_refuses_malformed_labels(void **state)
{
    weir_metrics *m = weir_metrics_new();
    _Atomic uint64_t v = 0;
    static const char *bad[] = {
        "job=pipeline",       /* unquoted */
        "job=\"a\"b\"",       /* raw quote inside */
        "job=\"a\nb\"",       /* raw newline */
        "job=\"a\\x\"",       /* unknown escape */
        "job=\"a\",",         /* trailing comma */
        "1job=\"a\"",         /* bad label name */
        "job=\"a\"}",         /* would close the braces */
        "job=\"a",            /* unterminated */
        "job=\"a\" ,k=\"b\"", /* stray blank */
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(weir_metrics_add_u64(m, "weir_x", "", WEIR_METRIC_GAUGE, bad[i], &v),
                         -EINVAL);
    assert_int_equal(
        weir_metrics_add_u64(m, "weir_x", "", WEIR_METRIC_GAUGE, "job=\"a\\\"b\\\\\\n\"", &v), 0);
    assert_render(m, "# TYPE weir_x gauge\nweir_x{job=\"a\\\"b\\\\\\n\"} 0\n");
    weir_metrics_free(m);
}

static void add_refuses_missing_arguments(void **state)
{
    weir_metrics *m = weir_metrics_new();
    _Atomic uint64_t v = 0;

    assert_int_equal(weir_metrics_add_u64(NULL, "a", "", WEIR_METRIC_GAUGE, "", &v), -EINVAL);
    assert_int_equal(weir_metrics_add_u64(m, NULL, "", WEIR_METRIC_GAUGE, "", &v), -EINVAL);
    assert_int_equal(weir_metrics_add_u64(m, "", "", WEIR_METRIC_GAUGE, "", &v), -EINVAL);
    assert_int_equal(weir_metrics_add_u64(m, "a", "", WEIR_METRIC_GAUGE, "", NULL), -EINVAL);
    assert_int_equal(weir_metrics_add_fn(m, "a", "", "", NULL, NULL), -EINVAL);
    assert_int_equal(weir_metrics_add_meter(m, "a", "", "", &v, 0), -EINVAL);
    assert_int_equal(weir_metrics_add_time_share(m, "a", "", "", &v, -1), -EINVAL);
    assert_render(m, "");
    weir_metrics_free(m);
}

static void add_refuses_same_name_with_other_type(void **state)
{
    weir_metrics *m = weir_metrics_new();
    _Atomic uint64_t v = 0;

    assert_int_equal(weir_metrics_add_u64(m, "weir_x", "", WEIR_METRIC_COUNTER, "a=\"1\"", &v), 0);
    assert_int_equal(weir_metrics_add_u64(m, "weir_x", "", WEIR_METRIC_GAUGE, "a=\"2\"", &v),
                     -EINVAL);
    weir_metrics_free(m);
}

static void add_refuses_duplicate_series(void **state)
{
    weir_metrics *m = weir_metrics_new();
    _Atomic uint64_t v = 0;
    double d = 1;

    assert_int_equal(weir_metrics_add_u64(m, "weir_x", "", WEIR_METRIC_GAUGE, "a=\"1\"", &v), 0);
    assert_int_equal(weir_metrics_add_u64(m, "weir_x", "", WEIR_METRIC_GAUGE, "a=\"1\"", &v),
                     -EEXIST);
    assert_int_equal(weir_metrics_add_fn(m, "weir_x", "", "a=\"1\"", constant, &d), -EEXIST);
    assert_render(m, "# TYPE weir_x gauge\nweir_x{a=\"1\"} 0\n");
    weir_metrics_free(m);
}

/* ---- meters and time shares ----------------------------------------------- */

static void meter_is_zero_before_a_second_sample(void **state)
{
    weir_metrics *m = weir_metrics_new();
    struct fake_clock clk = {.now_ns = 100 * NS_PER_S};
    _Atomic uint64_t n = 1000;

    weir_metrics_set_clock(m, fake_now, &clk);
    assert_int_equal(weir_metrics_add_meter(m, "weir_rate", "h", "", &n, 60), 0);
    n = 5000;
    assert_true(rate_of(m, "weir_rate") == 0.0);
    assert_render(m, "# HELP weir_rate h\n# TYPE weir_rate gauge\nweir_rate 0\n");
    weir_metrics_free(m);
}

static void meter_rate_is_count_delta_over_time_delta(void **state)
{
    weir_metrics *m = weir_metrics_new();
    struct fake_clock clk = {.now_ns = 100 * NS_PER_S};
    _Atomic uint64_t n = 1000;

    weir_metrics_set_clock(m, fake_now, &clk); /* sample taken at add: t=100, n=1000 */
    assert_int_equal(weir_metrics_add_meter(m, "weir_rate", "h", "", &n, 60), 0);
    for (int s = 1; s <= 4; s++) {
        clk.now_ns += NS_PER_S;
        n += 250 * (uint64_t)s; /* 250, 500, 750, 1000: 2500 in 4 s */
        weir_metrics_sample_now(m);
    }
    assert_true(rate_of(m, "weir_rate") == 625.0);
    /* Rendering does not sample: the counter moving alone changes nothing. */
    n += 1000000;
    assert_true(rate_of(m, "weir_rate") == 625.0);
    weir_metrics_free(m);
}

static void meter_averages_only_over_its_window(void **state)
{
    weir_metrics *m = weir_metrics_new();
    struct fake_clock clk = {.now_ns = NS_PER_S};
    _Atomic uint64_t n = 0;

    weir_metrics_set_clock(m, fake_now, &clk);
    assert_int_equal(weir_metrics_add_meter(m, "weir_rate", "", "", &n, 3), 0);
    /* 10 seconds at 1000/s, then seconds at 10/s: the 3 s window holds one second
     * of the fast rate after two slow seconds, and none after three. */
    for (int s = 0; s < 10; s++) {
        clk.now_ns += NS_PER_S;
        n += 1000;
        weir_metrics_sample_now(m);
    }
    assert_true(rate_of(m, "weir_rate") == 1000.0);
    for (int s = 0; s < 2; s++) {
        clk.now_ns += NS_PER_S;
        n += 10;
        weir_metrics_sample_now(m);
    }
    assert_true(rate_of(m, "weir_rate") == 340.0); /* (1000 + 10 + 10) / 3 */
    clk.now_ns += NS_PER_S;
    n += 10;
    weir_metrics_sample_now(m);
    assert_true(rate_of(m, "weir_rate") == 10.0);
    weir_metrics_free(m);
}

static void meter_uses_measured_time_between_samples(void **state)
{
    weir_metrics *m = weir_metrics_new();
    struct fake_clock clk = {.now_ns = NS_PER_S};
    _Atomic uint64_t n = 0;

    weir_metrics_set_clock(m, fake_now, &clk);
    assert_int_equal(weir_metrics_add_meter(m, "weir_rate", "", "", &n, 60), 0);
    /* A late tick (sampler delayed by a long render): 300 events in 1.5 s = 200/s. */
    clk.now_ns += NS_PER_S + NS_PER_S / 2;
    n = 300;
    weir_metrics_sample_now(m);
    assert_true(rate_of(m, "weir_rate") == 200.0);
    weir_metrics_free(m);
}

static void time_share_is_milliseconds_per_second(void **state)
{
    weir_metrics *m = weir_metrics_new();
    struct fake_clock clk = {.now_ns = NS_PER_S};
    _Atomic uint64_t busy_ns = 0;

    weir_metrics_set_clock(m, fake_now, &clk);
    assert_int_equal(weir_metrics_add_time_share(m, "flink_taskmanager_job_task_busyTimeMsPerSecond", "",
                                                 "task=\"map\"", &busy_ns, 60),
                     0);
    /* Busy 250 ms of each of 4 seconds. */
    for (int s = 0; s < 4; s++) {
        clk.now_ns += NS_PER_S;
        busy_ns += 250 * 1000000ull;
        weir_metrics_sample_now(m);
    }
    assert_true(rate_of(m, "flink_taskmanager_job_task_busyTimeMsPerSecond{task=\"map\"}") == 250.0);
    weir_metrics_free(m);
}

static void time_share_is_clamped_to_1000(void **state)
{
    weir_metrics *m = weir_metrics_new();
    struct fake_clock clk = {.now_ns = NS_PER_S};
    _Atomic uint64_t busy_ns = 0;

    weir_metrics_set_clock(m, fake_now, &clk);
    assert_int_equal(weir_metrics_add_time_share(m, "weir_busy", "", "", &busy_ns, 1), 0);
    /* A batch's time landing late: 1.2 s of busy in a 1 s window. */
    clk.now_ns += NS_PER_S;
    busy_ns = 1200 * 1000000ull;
    weir_metrics_sample_now(m);
    assert_true(rate_of(m, "weir_busy") == 1000.0);
    weir_metrics_free(m);
}

static void sampler_thread_samples_meters_on_its_own(void **state)
{
    weir_metrics *m = weir_metrics_new();
    _Atomic uint64_t n = 0;
    struct timespec pause = {.tv_sec = 0, .tv_nsec = 50 * 1000000};
    double rate = 0;

    /* Real clock, no sample_now: only the thread can make the rate non-zero. The
     * counter keeps moving; give the thread up to 10 s (it samples every second). */
    assert_int_equal(weir_metrics_add_meter(m, "weir_rate", "", "", &n, 5), 0);
    for (int i = 0; i < 200 && rate == 0; i++) {
        n += 100;
        nanosleep(&pause, NULL);
        rate = rate_of(m, "weir_rate");
    }
    assert_true(rate > 0);
    weir_metrics_free(m); /* joins the thread; ASan would see a leak otherwise */
}

/* ---- removal --------------------------------------------------------------- */

static void remove_matches_whole_label_pairs(void **state)
{
    weir_metrics *m = weir_metrics_new();
    _Atomic uint64_t v = 0;

    assert_int_equal(
        weir_metrics_add_u64(m, "weir_in", "", WEIR_METRIC_COUNTER, "job=\"pipe\",task=\"a\"", &v),
        0);
    assert_int_equal(weir_metrics_add_u64(m, "weir_in", "", WEIR_METRIC_COUNTER,
                                          "job=\"pipeline\",task=\"a\"", &v),
                     0);
    assert_int_equal(weir_metrics_add_u64(m, "weir_up", "", WEIR_METRIC_GAUGE, "job=\"pipe\"", &v),
                     0);
    /* Part of a pair matches nothing. */
    assert_int_equal(weir_metrics_remove(m, "job=\"pipe"), 0);
    assert_int_equal(weir_metrics_remove(m, "job"), 0);
    assert_int_equal(weir_metrics_remove(m, "job=\"pipe\""), 2);
    assert_render(m, "# TYPE weir_in counter\nweir_in{job=\"pipeline\",task=\"a\"} 0\n");
    /* The registry is still usable after removal: the family list tail is right. */
    assert_int_equal(weir_metrics_add_u64(m, "weir_up", "", WEIR_METRIC_GAUGE, "job=\"pipe\"", &v),
                     0);
    assert_render(m, "# TYPE weir_in counter\nweir_in{job=\"pipeline\",task=\"a\"} 0\n"
                     "# TYPE weir_up gauge\nweir_up{job=\"pipe\"} 0\n");
    assert_int_equal(weir_metrics_remove(m, ""), 2);
    assert_render(m, "");
    weir_metrics_free(m);
}

static void removed_meter_is_no_longer_sampled(void **state)
{
    weir_metrics *m = weir_metrics_new();
    struct fake_clock clk = {.now_ns = NS_PER_S};
    _Atomic uint64_t *n = malloc(sizeof(*n));

    /* Under ASan, a sample of the freed counter would be a use after free. */
    atomic_init(n, 0);
    weir_metrics_set_clock(m, fake_now, &clk);
    assert_int_equal(weir_metrics_add_meter(m, "weir_rate", "", "job=\"j\"", n, 5), 0);
    assert_int_equal(weir_metrics_remove(m, "job=\"j\""), 1);
    free(n);
    clk.now_ns += NS_PER_S;
    weir_metrics_sample_now(m);
    assert_render(m, "");
    weir_metrics_free(m);
}

/* ---- threads --------------------------------------------------------------- */

struct adder {
    weir_metrics *m;
    int id;
    _Atomic uint64_t values[200];
};

static void *add_many(void *arg)
{
    struct adder *a = arg;
    char labels[64];

    for (int i = 0; i < 200; i++) {
        snprintf(labels, sizeof(labels), "thread=\"%d\",i=\"%d\"", a->id, i);
        atomic_init(&a->values[i], (uint64_t)i);
        if (weir_metrics_add_u64(a->m, "weir_many", "", WEIR_METRIC_GAUGE, labels, &a->values[i]) !=
            0)
            return (void *)1;
    }
    return NULL;
}

static void registration_while_rendering_loses_nothing(void **state)
{
    weir_metrics *m = weir_metrics_new();
    struct adder *a = calloc(2, sizeof(*a));
    pthread_t t[2];
    void *ret;
    char *text;
    size_t lines = 0;

    for (int i = 0; i < 2; i++) {
        a[i].m = m;
        a[i].id = i;
        assert_int_equal(pthread_create(&t[i], NULL, add_many, &a[i]), 0);
    }
    for (int i = 0; i < 50; i++)
        free(render(m));
    for (int i = 0; i < 2; i++) {
        assert_int_equal(pthread_join(t[i], &ret), 0);
        assert_null(ret);
    }
    text = render(m);
    for (char *p = text; (p = strstr(p, "\nweir_many{")); p++)
        lines++;
    assert_int_equal(lines, 400);
    free(text);
    weir_metrics_free(m);
    free(a);
}

static void free_null_is_a_no_op(void **state)
{
    weir_metrics_free(NULL);
    weir_metrics_sample_now(NULL);
    assert_int_equal(weir_metrics_remove(NULL, ""), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(render_of_empty_registry_is_empty),
        cmocka_unit_test(render_writes_help_and_type_once_per_name),
        cmocka_unit_test(render_omits_braces_and_help_when_empty),
        cmocka_unit_test(render_writes_u64_and_double_values_exactly),
        cmocka_unit_test(counter_update_is_visible_on_next_render),
        cmocka_unit_test(gauge_fn_is_called_at_each_render),
        cmocka_unit_test(help_escapes_backslash_and_newline),
        cmocka_unit_test(invalid_name_characters_become_underscores),
        cmocka_unit_test(labels_append_escapes_quote_backslash_newline),
        cmocka_unit_test(labels_append_refuses_bad_label_name),
        cmocka_unit_test(labels_append_leaves_buffer_alone_when_full),
        cmocka_unit_test(add_refuses_malformed_labels),
        cmocka_unit_test(add_refuses_missing_arguments),
        cmocka_unit_test(add_refuses_same_name_with_other_type),
        cmocka_unit_test(add_refuses_duplicate_series),
        cmocka_unit_test(meter_is_zero_before_a_second_sample),
        cmocka_unit_test(meter_rate_is_count_delta_over_time_delta),
        cmocka_unit_test(meter_averages_only_over_its_window),
        cmocka_unit_test(meter_uses_measured_time_between_samples),
        cmocka_unit_test(time_share_is_milliseconds_per_second),
        cmocka_unit_test(time_share_is_clamped_to_1000),
        cmocka_unit_test(sampler_thread_samples_meters_on_its_own),
        cmocka_unit_test(remove_matches_whole_label_pairs),
        cmocka_unit_test(removed_meter_is_no_longer_sampled),
        cmocka_unit_test(registration_while_rendering_loses_nothing),
        cmocka_unit_test(free_null_is_a_no_op),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
