/*
 * The S3 client (io/src/storage/s3.h) against a real S3-compatible server: S3Proxy with the
 * filesystem backend and SigV4 checked, started once per ctest run by the s3proxy fixture
 * (tools/s3proxy.sh), which leaves its endpoint and credentials in $WEIR_S3_STATE/env. The
 * test skips (77) with the fixture's reason when there is no server.
 *
 * Every test works under its own prefix, t-<pid>/<test>/, so runs and tests do not meet.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "weir_test.h"

#include "s3.h"
#include "s3_fixture.h"

static char prefix[64];

static struct weir_s3 *open_s3(const struct weir_s3_config *over)
{
    struct weir_s3_config c = over ? *over : (struct weir_s3_config){0};
    c.endpoint = getenv("WEIR_S3_ENDPOINT");
    c.bucket = getenv("WEIR_S3_BUCKET");
    struct weir_s3 *s3;
    char err[512];
    if (weir_s3_open(&c, &s3, err, sizeof err))
        fail_msg("weir_s3_open: %s", err);
    return s3;
}

static const char *key_of(const char *test, const char *name)
{
    static char k[4][256];
    static int i;
    i = (i + 1) % 4;
    snprintf(k[i], sizeof k[i], "%s/%s/%s", prefix, test, name);
    return k[i];
}

static void must(struct weir_s3 *s3, int rc)
{
    if (rc)
        fail_msg("rc %d: %s", rc, weir_s3_error(s3));
}

static uint8_t *random_bytes(size_t n, uint64_t seed)
{
    uint8_t *p = malloc(n);
    assert_non_null(p);
    for (size_t i = 0; i < n; i += 8) {
        uint64_t r = wt_rand(&seed);
        memcpy(p + i, &r, n - i < 8 ? n - i : 8);
    }
    return p;
}

static void assert_object(struct weir_s3 *s3, const char *key, const void *want, size_t len)
{
    uint8_t *got;
    size_t got_len;
    must(s3, weir_s3_get(s3, key, &got, &got_len));
    assert_int_equal(got_len, len);
    assert_memory_equal(got, want, len);
    free(got);
}

static void a_put_object_reads_back_byte_exact(void **state)
{
    struct weir_s3 *s3 = open_s3(NULL);
    const char *key = key_of("put", "obj");
    uint8_t *data = random_bytes(70000, 1);
    must(s3, weir_s3_put(s3, key, data, 70000));
    assert_object(s3, key, data, 70000);
    free(data);
    weir_s3_close(s3);
}

/* Only CompleteMultipartUpload's 200 may carry an error; an object's bytes are data. */
static void an_object_holding_an_s3_error_document_reads_back(void **state)
{
    struct weir_s3 *s3 = open_s3(NULL);
    const char *key = key_of("errdoc", "obj");
    const char doc[] = "<Error><Code>NoSuchKey</Code><Message>data</Message></Error>";
    must(s3, weir_s3_put(s3, key, doc, sizeof doc));
    assert_object(s3, key, doc, sizeof doc);
    weir_s3_close(s3);
}

static void a_key_with_spaces_and_reserved_characters_round_trips(void **state)
{
    struct weir_s3 *s3 = open_s3(NULL);
    const char *key = key_of("odd", "a b+c=d&e,f;g:h@i$j'k(l).txt");
    must(s3, weir_s3_put(s3, key, "odd", 3));
    assert_object(s3, key, "odd", 3);
    struct weir_s3_list l;
    must(s3, weir_s3_list(s3, key_of("odd", "a b+"), NULL, 0, &l));
    assert_int_equal(l.n, 1);
    assert_string_equal(l.keys[0], key);
    weir_s3_list_free(&l);
    weir_s3_close(s3);
}

static void a_missing_key_is_enoent_with_s3s_code_in_the_line(void **state)
{
    struct weir_s3 *s3 = open_s3(NULL);
    const char *key = key_of("missing", "nothing-here");
    uint8_t *got;
    size_t len;
    assert_int_equal(weir_s3_get(s3, key, &got, &len), -ENOENT);
    assert_null(got);
    char want[512];
    snprintf(want, sizeof want, "S3 GET s3://%s/%s: HTTP 404 NoSuchKey", getenv("WEIR_S3_BUCKET"),
             key);
    assert_memory_equal(weir_s3_error(s3), want, strlen(want));
    weir_s3_close(s3);
}

static void a_deleted_object_is_gone(void **state)
{
    struct weir_s3 *s3 = open_s3(NULL);
    const char *key = key_of("delete", "obj");
    must(s3, weir_s3_put(s3, key, "x", 1));
    must(s3, weir_s3_delete(s3, key));
    uint8_t *got;
    size_t len;
    assert_int_equal(weir_s3_get(s3, key, &got, &len), -ENOENT);
    weir_s3_close(s3);
}

static void a_wrong_secret_is_refused_with_signature_does_not_match(void **state)
{
    struct weir_s3 *s3 = open_s3(&(struct weir_s3_config){.access_key = getenv("AWS_ACCESS_KEY_ID"),
                                                          .secret_key = "not-the-secret"});
    const char *key = key_of("badsecret", "obj");
    assert_int_equal(weir_s3_put(s3, key, "x", 1), -EACCES);
    char want[512];
    snprintf(want, sizeof want,
             "S3 PUT s3://%s/%s: HTTP 403 SignatureDoesNotMatch: ", getenv("WEIR_S3_BUCKET"), key);
    assert_memory_equal(weir_s3_error(s3), want, strlen(want));
    weir_s3_close(s3);
}

static void a_conditional_put_refuses_the_second_writer(void **state)
{
    struct weir_s3 *s3 = open_s3(NULL);
    const char *key = key_of("cond", "_metadata");
    must(s3, weir_s3_put_if_absent(s3, key, "first", 5));
    assert_int_equal(weir_s3_put_if_absent(s3, key, "second", 6), -EEXIST);
    assert_non_null(strstr(weir_s3_error(s3), "HTTP 412"));
    assert_object(s3, key, "first", 5);
    weir_s3_close(s3);
}

enum { MiB = 1 << 20 };

static void a_multipart_object_of_three_parts_round_trips_byte_exact(void **state)
{
    struct weir_s3 *s3 = open_s3(NULL);
    const char *key = key_of("multipart", "big");
    const size_t sizes[3] = {5 * MiB, 5 * MiB, MiB + 17}; /* 5 MiB: S3's least but last */
    const size_t total = sizes[0] + sizes[1] + sizes[2];
    uint8_t *data = random_bytes(total, 3);
    struct weir_s3_upload *up;
    must(s3, weir_s3_upload_begin(s3, key, &up));
    for (size_t i = 0, off = 0; i < 3; off += sizes[i++])
        must(s3, weir_s3_upload_part(up, data + off, sizes[i]));
    must(s3, weir_s3_upload_commit(up));
    assert_object(s3, key, data, total);
    free(data);
    weir_s3_close(s3);
}

static void an_aborted_multipart_upload_leaves_no_object(void **state)
{
    struct weir_s3 *s3 = open_s3(NULL);
    const char *key = key_of("abort", "big");
    struct weir_s3_upload *up;
    must(s3, weir_s3_upload_begin(s3, key, &up));
    must(s3, weir_s3_upload_part(up, "part one", 8));
    must(s3, weir_s3_upload_abort(up));
    uint8_t *got;
    size_t len;
    assert_int_equal(weir_s3_get(s3, key, &got, &len), -ENOENT);
    weir_s3_close(s3);
}

static const char *file_of(const char *name, const void *data, size_t len)
{
    static char path[1024];
    snprintf(path, sizeof path, "%s/%s", wt_tmp_dir("s3file"), name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
    return path;
}

static void a_file_larger_than_a_part_uploads_in_parts_byte_exact(void **state)
{
    struct weir_s3 *s3 = open_s3(NULL);
    const char *key = key_of("putfile", "big");
    const size_t len = 10 * MiB + 3;
    uint8_t *data = random_bytes(len, 5);
    must(s3, weir_s3_put_file(s3, key, file_of("big", data, len), 5 * MiB));
    assert_object(s3, key, data, len);
    free(data);
    weir_s3_close(s3);
}

static void a_file_within_a_part_and_an_empty_file_upload(void **state)
{
    struct weir_s3 *s3 = open_s3(NULL);
    must(s3,
         weir_s3_put_file(s3, key_of("putfile", "small"), file_of("small", "small", 5), 5 * MiB));
    assert_object(s3, key_of("putfile", "small"), "small", 5);
    must(s3, weir_s3_put_file(s3, key_of("putfile", "empty"), file_of("empty", "", 0), 5 * MiB));
    assert_object(s3, key_of("putfile", "empty"), "", 0);
    weir_s3_close(s3);
}

static void a_missing_file_is_one_line_naming_it(void **state)
{
    struct weir_s3 *s3 = open_s3(NULL);
    assert_int_equal(weir_s3_put_file(s3, "k", "/nonexistent/chk-1/op-0", 5 * MiB), -ENOENT);
    char want[512];
    snprintf(want, sizeof want,
             "S3 PUT s3://%s/k: /nonexistent/chk-1/op-0: No such file or directory",
             getenv("WEIR_S3_BUCKET"));
    assert_string_equal(weir_s3_error(s3), want);
    weir_s3_close(s3);
}

/* A large object downloads into a file without being held in memory whole; a missing one
 * leaves the file empty (S3's error document is not written into it) and says NoSuchKey. */
static void an_object_downloads_into_a_file_byte_exact(void **state)
{
    struct weir_s3 *s3 = open_s3(NULL);
    const char *key = key_of("getfile", "big");
    const size_t len = 12 * MiB + 7;
    uint8_t *data = random_bytes(len, 9);
    must(s3, weir_s3_put_file(s3, key, file_of("src", data, len), 5 * MiB));
    const char *path = file_of("dst", "old contents", 12);
    int fd = open(path, O_WRONLY | O_TRUNC);
    assert_true(fd >= 0);
    uint64_t got_len = 0;
    must(s3, weir_s3_get_file(s3, key, fd, &got_len));
    close(fd);
    assert_int_equal(got_len, len);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    uint8_t *back = malloc(len + 1);
    assert_int_equal(fread(back, 1, len + 1, f), len);
    fclose(f);
    assert_memory_equal(back, data, len);
    free(back);
    free(data);

    fd = open(path, O_WRONLY | O_TRUNC);
    assert_int_equal(weir_s3_get_file(s3, key_of("getfile", "missing"), fd, &got_len), -ENOENT);
    close(fd);
    assert_non_null(strstr(weir_s3_error(s3), "HTTP 404 NoSuchKey"));
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_size, 0);
    weir_s3_close(s3);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void a_listing_goes_on_past_the_first_page(void **state)
{
    struct weir_s3 *s3 = open_s3(NULL);
    enum { N = 7 };
    char *want[N];
    for (int i = 0; i < N; i++) {
        char name[32];
        snprintf(name, sizeof name, "chk-%d/_metadata", i);
        want[i] = strdup(key_of("list/in", name));
        must(s3, weir_s3_put(s3, want[i], name, (size_t)i));
    }
    must(s3, weir_s3_put(s3, key_of("list/out", "chk-0/_metadata"), "x", 1));
    char *got[N + 1];
    size_t n = 0;
    int pages = 0;
    char *token = NULL;
    do {
        struct weir_s3_list l;
        must(s3, weir_s3_list(s3, key_of("list/in", ""), token, 3, &l));
        pages++;
        assert_true(l.n <= 3);
        for (size_t i = 0; i < l.n; i++) {
            assert_true(n < N);
            assert_int_equal(l.sizes[i], (uint64_t)atoi(l.keys[i] + strlen(l.keys[i]) - 11));
            got[n++] = strdup(l.keys[i]);
        }
        free(token);
        token = l.next_token ? strdup(l.next_token) : NULL;
        weir_s3_list_free(&l);
    } while (token && pages < 10);
    assert_null(token);
    assert_int_equal(pages, 3);
    assert_int_equal(n, N);
    qsort(got, n, sizeof got[0], cmp_str);
    for (int i = 0; i < N; i++) {
        assert_string_equal(got[i], want[i]);
        free(got[i]);
        free(want[i]);
    }
    weir_s3_close(s3);
}

/* Runs fn with the AWS_* credential variables unset, putting them back after. */
static void without_env_credentials(void (*fn)(void))
{
    char *ak = strdup(getenv("AWS_ACCESS_KEY_ID")), *sk = strdup(getenv("AWS_SECRET_ACCESS_KEY"));
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    unsetenv("AWS_SESSION_TOKEN");
    fn();
    setenv("AWS_ACCESS_KEY_ID", ak, 1);
    setenv("AWS_SECRET_ACCESS_KEY", sk, 1);
    unsetenv("AWS_SHARED_CREDENTIALS_FILE");
    unsetenv("AWS_PROFILE");
    free(ak);
    free(sk);
}

static char file_creds[512];

static void put_with_the_file_profile(void)
{
    setenv("AWS_SHARED_CREDENTIALS_FILE", wt_tmp_file("credentials", file_creds), 1);
    setenv("AWS_PROFILE", "weir", 1);
    struct weir_s3 *s3 = open_s3(NULL);
    const char *key = key_of("credfile", "obj");
    must(s3, weir_s3_put(s3, key, "f", 1));
    assert_object(s3, key, "f", 1);
    weir_s3_close(s3);
}

static void credentials_come_from_the_shared_file_profile(void **state)
{
    snprintf(file_creds, sizeof file_creds,
             "[default]\naws_access_key_id = %s\naws_secret_access_key = wrong\n\n"
             "[weir]\naws_access_key_id = %s\naws_secret_access_key = %s\n",
             getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_ACCESS_KEY_ID"),
             getenv("AWS_SECRET_ACCESS_KEY"));
    without_env_credentials(put_with_the_file_profile);
}

static void open_with_no_credentials(void)
{
    setenv("AWS_SHARED_CREDENTIALS_FILE", wt_tmp_file("empty-credentials", "# none\n"), 1);
    struct weir_s3 *s3;
    char err[512];
    struct weir_s3_config c = {.endpoint = getenv("WEIR_S3_ENDPOINT"), .bucket = "b"};
    assert_int_equal(weir_s3_open(&c, &s3, err, sizeof err), -ENOENT);
    assert_null(s3);
    assert_non_null(strstr(err, "S3 credentials: none found: set AWS_ACCESS_KEY_ID"));
    assert_non_null(strstr(err, "empty-credentials (AWS_SHARED_CREDENTIALS_FILE)"));
}

static void no_credentials_is_one_line_saying_where_to_set_them(void **state)
{
    without_env_credentials(open_with_no_credentials);
}

static void an_endpoint_that_is_not_a_url_names_s3_endpoint(void **state)
{
    struct weir_s3 *s3;
    char err[512];
    struct weir_s3_config c = {.endpoint = "127.0.0.1:9000", .bucket = "b"};
    assert_int_equal(weir_s3_open(&c, &s3, err, sizeof err), -EINVAL);
    assert_string_equal(err, "s3.endpoint: 127.0.0.1:9000: want http://host[:port] or https://...");
}

static void an_endpoint_nobody_answers_is_one_line_naming_s3_endpoint(void **state)
{
    struct weir_s3 *s3;
    char err[512];
    struct weir_s3_config c = {.endpoint = "http://127.0.0.1:1", .bucket = "b"};
    if (weir_s3_open(&c, &s3, err, sizeof err))
        fail_msg("weir_s3_open: %s", err);
    assert_int_equal(weir_s3_put(s3, "k", "x", 1), -EIO);
    /* refused: transient, so tried s3.retry.max-attempts times (5 by default) */
    const char *want = "S3 PUT s3://b/k: http://127.0.0.1:1/b/k: Couldn't connect to server "
                       "(s3.endpoint); 5 attempts (s3.retry.max-attempts)";
    assert_string_equal(weir_s3_error(s3), want);
    weir_s3_close(s3);
}

int main(void)
{
    s3_fixture_load(prefix, sizeof prefix);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_put_object_reads_back_byte_exact),
        cmocka_unit_test(an_object_holding_an_s3_error_document_reads_back),
        cmocka_unit_test(a_key_with_spaces_and_reserved_characters_round_trips),
        cmocka_unit_test(a_missing_key_is_enoent_with_s3s_code_in_the_line),
        cmocka_unit_test(a_deleted_object_is_gone),
        cmocka_unit_test(a_wrong_secret_is_refused_with_signature_does_not_match),
        cmocka_unit_test(a_conditional_put_refuses_the_second_writer),
        cmocka_unit_test(a_multipart_object_of_three_parts_round_trips_byte_exact),
        cmocka_unit_test(an_aborted_multipart_upload_leaves_no_object),
        cmocka_unit_test(a_listing_goes_on_past_the_first_page),
        cmocka_unit_test(a_file_larger_than_a_part_uploads_in_parts_byte_exact),
        cmocka_unit_test(a_file_within_a_part_and_an_empty_file_upload),
        cmocka_unit_test(a_missing_file_is_one_line_naming_it),
        cmocka_unit_test(an_object_downloads_into_a_file_byte_exact),
        cmocka_unit_test(credentials_come_from_the_shared_file_profile),
        cmocka_unit_test(no_credentials_is_one_line_saying_where_to_set_them),
        cmocka_unit_test(an_endpoint_that_is_not_a_url_names_s3_endpoint),
        cmocka_unit_test(an_endpoint_nobody_answers_is_one_line_naming_s3_endpoint),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
