/*
 * A job built with the public API whose file sink writes what a file source reads is refused
 * at plan time with one line naming both paths (issue 9 item 8 at engine depth: the CLI's
 * check covered `weir run copy X X` only). Paths are compared by device and inode after
 * resolving them, so another spelling, a hard link or a directory that holds the input are
 * caught too. Before, such a job truncated its own input and reported success.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <weir/config.h>
#include <weir/weir.h>

#include "weir_test.h"

#define LINES 100

static const char *make_input(const char *dir)
{
    static char path[4096];
    snprintf(path, sizeof path, "%s/in.txt", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (int i = 0; i < LINES; i++)
        fprintf(f, "line-%03d\n", i);
    assert_int_equal(fclose(f), 0);
    return path;
}

static int lines_of(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    int n = 0, c;
    while ((c = fgetc(f)) != EOF)
        n += c == '\n';
    fclose(f);
    return n;
}

/* file source in -> sink at out (exactly-once into a directory, else a line file). */
static int run_copy(const char *in, const char *out, bool exactly_once, char *err, size_t errlen)
{
    weir_config *cfg = wt_config(WT_DEFS("restart-strategy.type=none"));
    weir_job *job = weir_job_new("copy");
    weir_stream *s = weir_source_file(job, "src", in);
    if (exactly_once)
        weir_sink_file_exactly_once(s, "out", out, NULL, ".txt");
    else
        weir_sink_file(s, "out", out, NULL);
    int rc = wt_run(job, cfg, NULL, NULL, err, errlen);
    weir_job_free(job);
    weir_config_free(cfg);
    return rc;
}

static void expect_refused(const char *in, const char *out, bool exactly_once, const char *how)
{
    char err[2048] = "";
    int rc = run_copy(in, out, exactly_once, err, sizeof err);
    if (rc == 0)
        fail_msg("a sink writing \"%s\" ran over the source reading \"%s\"", out, in);
    assert_int_equal(rc, -EINVAL);
    if (!strstr(err, in) || !strstr(err, out) || !strstr(err, how) || strchr(err, '\n'))
        fail_msg("the refusal does not name both paths (%s): %s", how, err);
}

static void a_sink_writing_the_source_file_under_another_name_is_refused(void **state)
{
    const char *dir = wt_tmp_dir("oni-same");
    const char *in = make_input(dir);
    char out[4200];
    snprintf(out, sizeof out, "%s/./in.txt", dir);
    expect_refused(in, out, false, "which is");
    assert_int_equal(lines_of(in), LINES);
}

static void a_sink_writing_a_hard_link_of_the_source_file_is_refused(void **state)
{
    const char *dir = wt_tmp_dir("oni-link");
    const char *in = make_input(dir);
    char out[4200];
    snprintf(out, sizeof out, "%s/other-name.txt", dir);
    assert_int_equal(link(in, out), 0);
    expect_refused(in, out, false, "which is");
    assert_int_equal(lines_of(in), LINES);
}

static void an_output_directory_holding_the_input_is_refused(void **state)
{
    const char *dir = wt_tmp_dir("oni-holds");
    const char *in = make_input(dir);
    expect_refused(in, dir, true, "which holds");
    assert_int_equal(lines_of(in), LINES);
}

static void an_output_inside_the_source_path_is_refused(void **state)
{
    const char *dir = wt_tmp_dir("oni-inside");
    make_input(dir);
    char out[4200];
    snprintf(out, sizeof out, "%s/new/out", dir);
    expect_refused(dir, out, true, "which is inside");
}

static void an_output_elsewhere_runs(void **state)
{
    const char *in = make_input(wt_tmp_dir("oni-in"));
    char out[4200], err[2048] = "", part[4300];
    snprintf(out, sizeof out, "%s/out", wt_tmp_dir("oni-out"));
    if (run_copy(in, out, false, err, sizeof err) != 0)
        fail_msg("%s", err);
    snprintf(part, sizeof part, "%s", out);
    assert_int_equal(lines_of(part), LINES);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_sink_writing_the_source_file_under_another_name_is_refused),
        cmocka_unit_test(a_sink_writing_a_hard_link_of_the_source_file_is_refused),
        cmocka_unit_test(an_output_directory_holding_the_input_is_refused),
        cmocka_unit_test(an_output_inside_the_source_path_is_refused),
        cmocka_unit_test(an_output_elsewhere_runs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
