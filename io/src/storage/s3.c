/*
 * The S3 client (s3.h): one request function (s3_do) over a reused curl handle, the
 * operations as thin callers of it, and the little XML that S3 answers with.
 *
 * A request, as S3 wants it and curl 7.88 does not do by itself:
 *  - path-style URL <endpoint>/<bucket>/<key>, the key percent-encoded except '/';
 *  - the query sorted by name, names and values percent-encoded with upper-case hex, every
 *    name with its '=' (curl signs the query as written, and S3 signs "uploads=");
 *  - x-amz-content-sha256: the body's SHA-256 in hex, which curl neither sends nor signs
 *    unless given it;
 *  - a body sent as POSTFIELDS with an explicit Content-Type, so that curl's default form
 *    type (application/x-www-form-urlencoded) is never sent, and no Expect: 100-continue.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/sha.h>

#include <weir/errbuf.h>

#include "s3.h"

struct buf {
    char *p;
    size_t len, cap;
};

struct weir_s3 {
    CURL *curl;
    char *endpoint, *region, *bucket;
    char *access_key, *secret_key, *session_token;
    char sigv4[96];
    char err[768];
    int max_attempts;           /* s3.retry.max-attempts, >= 1 */
    int64_t initial_backoff_ms; /* s3.retry.initial-backoff */
    uint64_t rnd;               /* the backoff's jitter (xorshift64) */
};

struct weir_s3_upload {
    struct weir_s3 *s3;
    char *key, *upload_id;
    char **etags;
    int nparts, cap;
};

/* One request's in and out. */
struct s3_req {
    const char *op; /* for the error line: "PUT", "multipart complete", ... */
    const char *method;
    const char *key;   /* NULL: the bucket itself */
    const char *query; /* canonical (see the top), or NULL */
    const void *body;
    size_t body_len;
    const char *content_type; /* with a body */
    const char *extra;        /* one more header line, or NULL */
    bool error_in_200;        /* a 200 whose body is an <Error> failed (CompleteMultipartUpload) */
    bool to_fd;               /* a 2xx body goes to fd as it arrives (weir_s3_get_file) */
    int fd;
    CURL *curl;
    /* out */
    uint64_t fd_bytes; /* written to fd */
    int fd_err;        /* the write's errno */
    long status;
    struct buf resp;
    char etag[128];
    bool transient; /* the failure may pass: worth another attempt (s3_do) */
    int attempts;
};

static bool buf_add(struct buf *b, const void *p, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *q = realloc(b->p, cap);
        if (!q)
            return false;
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
    b->p[b->len] = '\0';
    return true;
}

static bool buf_str(struct buf *b, const char *s)
{
    return buf_add(b, s, strlen(s));
}

/* Percent-encodes s onto b: unreserved characters (RFC 3986) stay, and '/' when keep_slash,
 * everything else is %XX with upper-case hex, as SigV4's canonical form wants. */
static bool buf_enc(struct buf *b, const char *s, bool keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        bool plain = (*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') ||
                     (*c >= '0' && *c <= '9') || *c == '-' || *c == '_' || *c == '.' || *c == '~' ||
                     (keep_slash && *c == '/');
        char e[3] = {'%', hex[*c >> 4], hex[*c & 15]};
        if (!(plain ? buf_add(b, c, 1) : buf_add(b, e, 3)))
            return false;
    }
    return true;
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    struct s3_req *r = arg;
    size_t len = size * n;
    long status = 0;
    if (r->to_fd)
        curl_easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, &status);
    if (status < 200 || status >= 300) /* an error document is read for its line */
        return buf_add(&r->resp, p, len) ? len : 0;
    if ((r->fd_err = s3_write_all(r->fd, p, len)) != 0)
        return 0; /* curl stops: CURLE_WRITE_ERROR */
    r->fd_bytes += len;
    return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
    struct s3_req *r = arg;
    size_t len = size * n;
    if (len > 5 && strncasecmp(p, "etag:", 5) == 0) {
        const char *v = p + 5;
        size_t vl = len - 5;
        while (vl && (*v == ' ' || *v == '\t'))
            v++, vl--;
        while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
            vl--;
        if (vl < sizeof r->etag) {
            memcpy(r->etag, v, vl);
            r->etag[vl] = '\0';
        }
    }
    return len;
}

/* The text of the first <tag>...</tag> at or after from, XML entities decoded, malloc'ed;
 * *end (when given) points past it. NULL when absent. */
static char *xml_get(const char *from, const char *tag, const char **end)
{
    char open[64], close[64];
    snprintf(open, sizeof open, "<%s>", tag);
    snprintf(close, sizeof close, "</%s>", tag);
    const char *a = from ? strstr(from, open) : NULL;
    if (!a)
        return NULL;
    a += strlen(open);
    const char *z = strstr(a, close);
    if (!z)
        return NULL;
    if (end)
        *end = z + strlen(close);
    char *out = malloc((size_t)(z - a) + 1), *o = out;
    if (!out)
        return NULL;
    static const struct {
        const char *ent;
        char c;
    } ents[] = {{"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
    while (a < z) {
        bool done = false;
        for (size_t i = 0; *a == '&' && i < sizeof ents / sizeof ents[0]; i++) {
            size_t el = strlen(ents[i].ent);
            if ((size_t)(z - a) >= el && memcmp(a, ents[i].ent, el) == 0) {
                *o++ = ents[i].c;
                a += el;
                done = true;
                break;
            }
        }
        if (!done)
            *o++ = *a++;
    }
    *o = '\0';
    return out;
}

static int status_errno(long status)
{
    switch (status) {
    case 403:
        return -EACCES;
    case 404:
        return -ENOENT;
    case 412:
        return -EEXIST;
    default:
        return -EIO;
    }
}

/* The error line for an answer that is not a success: S3's <Code> and <Message> when the
 * body has them (a 200 with an <Error> body too, which CompleteMultipartUpload can send). */
static int fail_status(struct weir_s3 *s3, struct s3_req *r)
{
    char *code = r->resp.p ? xml_get(r->resp.p, "Code", NULL) : NULL;
    char *msg = r->resp.p ? xml_get(r->resp.p, "Message", NULL) : NULL;
    r->transient = r->status == 429 || r->status == 500 || r->status == 502 || r->status == 503 ||
                   r->status == 504 ||
                   (code && (!strcmp(code, "SlowDown") || !strcmp(code, "InternalError")));
    snprintf(s3->err, sizeof s3->err, "S3 %s s3://%s/%s: HTTP %ld %s%s%s", r->op, s3->bucket,
             r->key ? r->key : "", r->status, code ? code : "(no error code)", msg ? ": " : "",
             msg ? msg : "");
    free(code);
    free(msg);
    return r->status >= 200 && r->status < 300 ? -EIO : status_errno(r->status);
}

static void sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256(data ? data : (const void *)"", len, md);
    for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static struct curl_slist *headers_for(struct weir_s3 *s3, const struct s3_req *r)
{
    char line[512], hash[65];
    sha256_hex(r->body, r->body_len, hash);
    struct curl_slist *h = NULL, *t;
    snprintf(line, sizeof line, "x-amz-content-sha256: %s", hash);
    if (!(t = curl_slist_append(h, line)))
        goto err;
    h = t;
    if (!(t = curl_slist_append(h, "Expect:")))
        goto err;
    h = t;
    if (r->body) {
        snprintf(line, sizeof line, "Content-Type: %s", r->content_type);
        if (!(t = curl_slist_append(h, line)))
            goto err;
        h = t;
    }
    if (s3->session_token) {
        struct buf b = {0};
        bool ok = buf_str(&b, "x-amz-security-token: ") && buf_str(&b, s3->session_token);
        t = ok ? curl_slist_append(h, b.p) : NULL;
        free(b.p);
        if (!t)
            goto err;
        h = t;
    }
    if (r->extra) {
        if (!(t = curl_slist_append(h, r->extra)))
            goto err;
        h = t;
    }
    return h;
err:
    curl_slist_free_all(h);
    return NULL;
}

/* curl's failures that another attempt may not meet: the connection refused, reset or cut
 * short, a timeout. A name that does not resolve or a TLS failure is the configuration's. */
static bool curl_transient(CURLcode cc)
{
    switch (cc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
        return true;
    default:
        return false;
    }
}

/* One attempt: sends r and fills its status, body and ETag. 0 for a 2xx answer; otherwise
 * the error line is set, r->transient says whether to try again, and the errno for the
 * status (or -EIO when no answer came) is returned. */
static int s3_once(struct weir_s3 *s3, struct s3_req *r)
{
    struct buf url = {0};
    bool ok = buf_str(&url, s3->endpoint) && buf_str(&url, "/") &&
              buf_enc(&url, s3->bucket, false) && buf_str(&url, "/") &&
              (!r->key || buf_enc(&url, r->key, true)) &&
              (!r->query || (buf_str(&url, "?") && buf_str(&url, r->query)));
    struct curl_slist *h = ok ? headers_for(s3, r) : NULL;
    if (!h) {
        free(url.p);
        snprintf(s3->err, sizeof s3->err, "S3 %s s3://%s/%s: out of memory", r->op, s3->bucket,
                 r->key ? r->key : "");
        return -ENOMEM;
    }
    CURL *c = s3->curl;
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url.p);
    curl_easy_setopt(c, CURLOPT_AWS_SIGV4, s3->sigv4);
    curl_easy_setopt(c, CURLOPT_USERNAME, s3->access_key);
    curl_easy_setopt(c, CURLOPT_PASSWORD, s3->secret_key);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    /* No total timeout (a large part takes what it takes), but a stalled transfer ends. */
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    r->curl = c;
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    if (r->body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, r->body_len ? r->body : "");
    }
    if (strcmp(r->method, r->body ? "POST" : "GET") != 0)
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, r->method);
    CURLcode cc = curl_easy_perform(c);
    curl_slist_free_all(h);
    r->transient = cc != CURLE_OK && !r->fd_err && curl_transient(cc);
    if (cc != CURLE_OK) { /* a local write's error (get_file), else the network's */
        snprintf(s3->err, sizeof s3->err, "S3 %s s3://%s/%s: %s: %s%s", r->op, s3->bucket,
                 r->key ? r->key : "", r->fd_err ? "writing the local file" : url.p,
                 r->fd_err ? strerror(r->fd_err) : curl_easy_strerror(cc),
                 r->fd_err ? "" : " (s3.endpoint)");
        free(url.p);
        return r->fd_err ? -r->fd_err : cc == CURLE_OUT_OF_MEMORY ? -ENOMEM : -EIO;
    }
    free(url.p);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    if (r->status < 200 || r->status >= 300 ||
        (r->error_in_200 && r->resp.p && strstr(r->resp.p, "<Error>")))
        return fail_status(s3, r);
    return 0;
}

/* The wait before attempt n + 1 (n >= 1): initial_backoff_ms * 2^(n-1), at most
 * S3_MAX_BACKOFF_MS, of which a random half to all (jitter: writers that failed together do
 * not come back together). */
#define S3_MAX_BACKOFF_MS 10000
static void backoff(struct weir_s3 *s3, int n)
{
    int64_t ms = s3->initial_backoff_ms;
    for (int i = 1; i < n && ms < S3_MAX_BACKOFF_MS; i++)
        ms *= 2;
    if (ms > S3_MAX_BACKOFF_MS)
        ms = S3_MAX_BACKOFF_MS;
    if (ms <= 0)
        return;
    s3->rnd ^= s3->rnd << 13;
    s3->rnd ^= s3->rnd >> 7;
    s3->rnd ^= s3->rnd << 17;
    ms = ms / 2 + (int64_t)(s3->rnd % (uint64_t)(ms / 2 + 1));
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* r, attempted up to s3.retry.max-attempts times while it fails transiently (which, and why
 * every request may be sent twice: s3.h). */
static int s3_do(struct weir_s3 *s3, struct s3_req *r)
{
    off_t fd_start = r->to_fd ? lseek(r->fd, 0, SEEK_CUR) : 0;
    for (r->attempts = 1;; r->attempts++) {
        int rc = s3_once(s3, r);
        if (rc == 0 || !r->transient)
            return rc;
        if (r->attempts >= s3->max_attempts) {
            size_t n = strlen(s3->err);
            snprintf(s3->err + n, sizeof s3->err - n, "; %d attempt%s (s3.retry.max-attempts)",
                     r->attempts, r->attempts == 1 ? "" : "s");
            return rc;
        }
        if (r->to_fd && r->fd_bytes &&
            (lseek(r->fd, fd_start, SEEK_SET) < 0 || ftruncate(r->fd, fd_start) < 0))
            return rc; /* not a file that can start again: the error line stands */
        free(r->resp.p);
        r->resp = (struct buf){0};
        r->status = 0;
        r->etag[0] = '\0';
        r->fd_bytes = 0;
        backoff(s3, r->attempts);
    }
}

/* ---- set-up ----------------------------------------------------------------------- */

static void global_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

int weir_s3_open(const struct weir_s3_config *cfg, struct weir_s3 **out, char *err, size_t errlen)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    *out = NULL;
    if (!cfg->bucket || !*cfg->bucket) {
        errbuf_printf(err, errlen, "S3: no bucket: state.checkpoints.dir wants s3://bucket/prefix");
        return -EINVAL;
    }
    struct weir_s3 *s3 = calloc(1, sizeof *s3);
    if (!s3)
        goto nomem;
    const char *region = cfg->region                    ? cfg->region
                         : s3_env("AWS_REGION")         ? s3_env("AWS_REGION")
                         : s3_env("AWS_DEFAULT_REGION") ? s3_env("AWS_DEFAULT_REGION")
                                                        : "us-east-1";
    int rc =
        s3_creds_resolve(cfg, &s3->access_key, &s3->secret_key, &s3->session_token, err, errlen);
    if (rc == -ENOMEM)
        goto nomem;
    if (rc)
        goto err;
    if (cfg->endpoint && *cfg->endpoint && strncmp(cfg->endpoint, "http://", 7) != 0 &&
        strncmp(cfg->endpoint, "https://", 8) != 0) {
        errbuf_printf(err, errlen, "s3.endpoint: %s: want http://host[:port] or https://...",
                      cfg->endpoint);
        rc = -EINVAL;
        goto err;
    }
    char aws[256];
    snprintf(aws, sizeof aws, "https://s3.%s.amazonaws.com", region);
    s3->endpoint = strdup(cfg->endpoint && *cfg->endpoint ? cfg->endpoint : aws);
    s3->region = strdup(region);
    s3->bucket = strdup(cfg->bucket);
    if (!s3->endpoint || !s3->region || !s3->bucket)
        goto nomem;
    size_t n = strlen(s3->endpoint);
    while (n && s3->endpoint[n - 1] == '/')
        s3->endpoint[--n] = '\0';
    snprintf(s3->sigv4, sizeof s3->sigv4, "aws:amz:%s:s3", region);
    s3->max_attempts = cfg->retry_max_attempts > 0 ? cfg->retry_max_attempts : 5;
    s3->initial_backoff_ms =
        cfg->retry_initial_backoff_ms > 0 ? cfg->retry_initial_backoff_ms : 100;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    s3->rnd = ((uint64_t)now.tv_nsec << 20 ^ (uint64_t)(uintptr_t)s3) | 1;
    pthread_once(&once, global_init);
    if (!(s3->curl = curl_easy_init()))
        goto nomem;
    *out = s3;
    return 0;
nomem:
    errbuf_printf(err, errlen, "S3: out of memory");
    rc = -ENOMEM;
err:
    weir_s3_close(s3);
    return rc;
}

void weir_s3_close(struct weir_s3 *s3)
{
    if (!s3)
        return;
    if (s3->curl)
        curl_easy_cleanup(s3->curl);
    free(s3->endpoint);
    free(s3->region);
    free(s3->bucket);
    free(s3->access_key);
    if (s3->secret_key)
        memset(s3->secret_key, 0, strlen(s3->secret_key));
    free(s3->secret_key);
    free(s3->session_token);
    free(s3);
}

int weir_s3_fail(struct weir_s3 *s3, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s3->err, sizeof s3->err, fmt, ap);
    va_end(ap);
    return rc;
}

const char *weir_s3_bucket(const struct weir_s3 *s3)
{
    return s3->bucket;
}

const char *weir_s3_error(const struct weir_s3 *s3)
{
    return s3->err;
}

/* ---- objects ------------------------------------------------------------------------ */

static int put(struct weir_s3 *s3, const char *op, const char *key, const void *data, size_t len,
               const char *extra)
{
    struct s3_req r = {.op = op,
                       .method = "PUT",
                       .key = key,
                       .body = data ? data : "",
                       .body_len = len,
                       .content_type = "application/octet-stream",
                       .extra = extra};
    int rc = s3_do(s3, &r);
    free(r.resp.p);
    return rc;
}

int weir_s3_put(struct weir_s3 *s3, const char *key, const void *data, size_t len)
{
    return put(s3, "PUT", key, data, len, NULL);
}

int weir_s3_put_if_absent(struct weir_s3 *s3, const char *key, const void *data, size_t len)
{
    int rc = put(s3, "conditional PUT (If-None-Match: *)", key, data, len, "If-None-Match: *");
    if (rc != -EEXIST)
        return rc;
    /* The 412 may answer our own earlier attempt, stored though its answer was lost (curl
     * itself resends a request whose reused connection died, unseen here): the object is
     * ours when it holds our bytes. Two writers of one chk-N never write the same bytes:
     * _metadata holds its time and its writer's files. */
    char keep[sizeof s3->err];
    memcpy(keep, s3->err, sizeof keep);
    uint8_t *got = NULL;
    size_t glen = 0;
    bool ours = weir_s3_get(s3, key, &got, &glen) == 0 && glen == len &&
                (len == 0 || memcmp(got, data, len) == 0);
    free(got);
    memcpy(s3->err, keep, sizeof keep);
    return ours ? 0 : rc;
}

int weir_s3_get(struct weir_s3 *s3, const char *key, uint8_t **data, size_t *len)
{
    struct s3_req r = {.op = "GET", .method = "GET", .key = key};
    *data = NULL;
    *len = 0;
    int rc = s3_do(s3, &r);
    if (rc) {
        free(r.resp.p);
        return rc;
    }
    *len = r.resp.len;
    *data = r.resp.p ? (uint8_t *)r.resp.p : malloc(1); /* an empty object: still freeable */
    return *data ? 0 : -ENOMEM;
}

int weir_s3_get_file(struct weir_s3 *s3, const char *key, int fd, uint64_t *len)
{
    struct s3_req r = {.op = "GET", .method = "GET", .key = key, .to_fd = true, .fd = fd};
    *len = 0;
    int rc = s3_do(s3, &r);
    free(r.resp.p);
    if (rc == 0)
        *len = r.fd_bytes;
    return rc;
}

int weir_s3_delete(struct weir_s3 *s3, const char *key)
{
    struct s3_req r = {.op = "DELETE", .method = "DELETE", .key = key};
    int rc = s3_do(s3, &r);
    free(r.resp.p);
    return rc;
}

/* ---- multipart uploads -------------------------------------------------------------- */

/* "partNumber=N&uploadId=ID" or "uploadId=ID" (part 0), sorted and encoded. */
static char *upload_query(const struct weir_s3_upload *up, int part)
{
    struct buf q = {0};
    char num[32];
    snprintf(num, sizeof num, "partNumber=%d&", part);
    bool ok = (part == 0 || buf_str(&q, num)) && buf_str(&q, "uploadId=") &&
              buf_enc(&q, up->upload_id, false);
    if (!ok)
        free(q.p);
    return ok ? q.p : NULL;
}

static void upload_free(struct weir_s3_upload *up)
{
    for (int i = 0; i < up->nparts; i++)
        free(up->etags[i]);
    free(up->etags);
    free(up->key);
    free(up->upload_id);
    free(up);
}

int weir_s3_upload_begin(struct weir_s3 *s3, const char *key, struct weir_s3_upload **out)
{
    *out = NULL;
    struct s3_req r = {.op = "multipart create",
                       .method = "POST",
                       .key = key,
                       .query = "uploads=",
                       .body = "",
                       .content_type = "application/octet-stream"};
    int rc = s3_do(s3, &r);
    if (rc) {
        free(r.resp.p);
        return rc;
    }
    struct weir_s3_upload *up = calloc(1, sizeof *up);
    if (up) {
        up->s3 = s3;
        up->key = strdup(key);
        up->upload_id = xml_get(r.resp.p, "UploadId", NULL);
    }
    free(r.resp.p);
    if (!up || !up->key || !up->upload_id) {
        snprintf(s3->err, sizeof s3->err, "S3 multipart create s3://%s/%s: %s", s3->bucket, key,
                 up && up->key ? "no UploadId in the answer" : "out of memory");
        if (up)
            upload_free(up);
        return up ? -EIO : -ENOMEM;
    }
    *out = up;
    return 0;
}

int weir_s3_upload_part(struct weir_s3_upload *up, const void *data, size_t len)
{
    struct weir_s3 *s3 = up->s3;
    if (up->nparts == up->cap) {
        int cap = up->cap ? up->cap * 2 : 16;
        char **e = realloc(up->etags, (size_t)cap * sizeof *e);
        if (!e)
            return -ENOMEM;
        up->etags = e;
        up->cap = cap;
    }
    char *q = upload_query(up, up->nparts + 1);
    if (!q)
        return -ENOMEM;
    struct s3_req r = {.op = "multipart part",
                       .method = "PUT",
                       .key = up->key,
                       .query = q,
                       .body = data ? data : "",
                       .body_len = len,
                       .content_type = "application/octet-stream"};
    int rc = s3_do(s3, &r);
    free(q);
    free(r.resp.p);
    if (rc)
        return rc;
    if (!r.etag[0]) {
        snprintf(s3->err, sizeof s3->err, "S3 multipart part %d s3://%s/%s: no ETag in the answer",
                 up->nparts + 1, s3->bucket, up->key);
        return -EIO;
    }
    if (!(up->etags[up->nparts] = strdup(r.etag)))
        return -ENOMEM;
    up->nparts++;
    return 0;
}

int weir_s3_upload_commit(struct weir_s3_upload *up)
{
    struct weir_s3 *s3 = up->s3;
    struct buf x = {0};
    bool ok = buf_str(&x, "<CompleteMultipartUpload>");
    for (int i = 0; ok && i < up->nparts; i++) {
        char part[64];
        snprintf(part, sizeof part, "<Part><PartNumber>%d</PartNumber><ETag>", i + 1);
        ok = buf_str(&x, part) && buf_str(&x, up->etags[i]) && buf_str(&x, "</ETag></Part>");
    }
    ok = ok && buf_str(&x, "</CompleteMultipartUpload>");
    char *q = ok ? upload_query(up, 0) : NULL;
    int rc = -ENOMEM;
    if (q) {
        struct s3_req r = {.op = "multipart complete",
                           .method = "POST",
                           .key = up->key,
                           .query = q,
                           .body = x.p,
                           .body_len = x.len,
                           .content_type = "application/xml",
                           .error_in_200 = true};
        rc = s3_do(s3, &r);
        free(r.resp.p);
    }
    free(q);
    free(x.p);
    if (rc) {
        char keep[sizeof s3->err];
        memcpy(keep, s3->err, sizeof keep); /* the line says why the commit failed */
        weir_s3_upload_abort(up);
        memcpy(s3->err, keep, sizeof keep);
        return rc;
    }
    upload_free(up);
    return 0;
}

int weir_s3_upload_abort(struct weir_s3_upload *up)
{
    if (!up)
        return 0;
    char *q = upload_query(up, 0);
    int rc = -ENOMEM;
    if (q) {
        struct s3_req r = {.op = "multipart abort", .method = "DELETE", .key = up->key, .query = q};
        rc = s3_do(up->s3, &r);
        free(r.resp.p);
    }
    free(q);
    upload_free(up);
    return rc;
}

/* ---- listing ------------------------------------------------------------------------ */

void weir_s3_list_free(struct weir_s3_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->keys[i]);
    free(l->keys);
    free(l->sizes);
    free(l->next_token);
    memset(l, 0, sizeof *l);
}

static int list_parse(struct weir_s3_list *out, const char *xml)
{
    size_t cap = 0;
    const char *at = xml, *end;
    char *item;
    while ((item = xml_get(at, "Contents", &end))) {
        at = end;
        if (out->n == cap) {
            cap = cap ? cap * 2 : 64;
            char **k = realloc(out->keys, cap * sizeof *k);
            if (k)
                out->keys = k;
            uint64_t *s = realloc(out->sizes, cap * sizeof *s);
            if (s)
                out->sizes = s;
            if (!k || !s) {
                free(item);
                return -ENOMEM;
            }
        }
        char *key = xml_get(item, "Key", NULL), *size = xml_get(item, "Size", NULL);
        free(item);
        if (!key) {
            free(size);
            return -EIO;
        }
        out->keys[out->n] = key;
        out->sizes[out->n++] = size ? strtoull(size, NULL, 10) : 0;
        free(size);
    }
    char *trunc = xml_get(xml, "IsTruncated", NULL);
    if (trunc && strcmp(trunc, "true") == 0 &&
        !(out->next_token = xml_get(xml, "NextContinuationToken", NULL))) {
        free(trunc);
        return -EIO;
    }
    free(trunc);
    return 0;
}

int weir_s3_list(struct weir_s3 *s3, const char *prefix, const char *token, int max_keys,
                 struct weir_s3_list *out)
{
    memset(out, 0, sizeof *out);
    struct buf q = {0};
    char mk[48];
    snprintf(mk, sizeof mk, "&max-keys=%d", max_keys);
    /* sorted by name: continuation-token, list-type, max-keys, prefix */
    bool ok = (!token || (buf_str(&q, "continuation-token=") && buf_enc(&q, token, false) &&
                          buf_str(&q, "&"))) &&
              buf_str(&q, "list-type=2") && (max_keys <= 0 || buf_str(&q, mk)) &&
              buf_str(&q, "&prefix=") && buf_enc(&q, prefix ? prefix : "", false);
    if (!ok) {
        free(q.p);
        return -ENOMEM;
    }
    struct s3_req r = {.op = "ListObjectsV2", .method = "GET", .query = q.p};
    int rc = s3_do(s3, &r);
    free(q.p);
    if (!rc && (rc = list_parse(out, r.resp.p ? r.resp.p : "")) != 0) {
        snprintf(s3->err, sizeof s3->err, "S3 ListObjectsV2 s3://%s/%s: %s", s3->bucket,
                 prefix ? prefix : "", rc == -ENOMEM ? "out of memory" : "an answer without keys");
        weir_s3_list_free(out);
    }
    free(r.resp.p);
    return rc;
}
