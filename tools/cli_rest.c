/* The REST client of the weir command's verbs: see cli_rest.h. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "cli.h"
#include "cli_rest.h"

/* A job's reply is a small document; more than this is not a weir job answering. */
#define MAX_REPLY (4u << 20)

static char token[1024];

struct buf {
    char *p;
    size_t len;
};

static size_t on_data(char *data, size_t size, size_t n, void *arg)
{
    struct buf *b = arg;
    size_t add = size * n;
    if (b->len + add > MAX_REPLY)
        return 0;
    char *p = realloc(b->p, b->len + add + 1);
    if (!p)
        return 0;
    memcpy(p + b->len, data, add);
    b->p = p;
    b->len += add;
    p[b->len] = 0;
    return add;
}

static struct curl_slist *headers(const char *body)
{
    struct curl_slist *h = NULL, *t;
    const char *env = getenv("WEIR_REST_TOKEN");
    const char *tok = *token ? token : env ? env : ""; /* rest.auth.token-file wins */
    if (*tok) {
        char line[1100];
        snprintf(line, sizeof line, "Authorization: Bearer %s", tok);
        if (!(t = curl_slist_append(h, line)))
            goto oom;
        h = t;
    }
    if (body) {
        if (!(t = curl_slist_append(h, "Content-Type: application/json")))
            goto oom;
        h = t;
    }
    return h;
oom:
    curl_slist_free_all(h);
    return NULL;
}

int rest_call(const char *method, const char *base, const char *path, json_t *body,
              struct rest_reply *r)
{
    memset(r, 0, sizeof *r);
    char url[1024];
    snprintf(url, sizeof url, "%s%s", base, path);
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    struct buf b = {0};
    CURL *c = curl_easy_init();
    struct curl_slist *h = headers(body ? text : NULL);
    if (!c || (body && !text)) {
        snprintf(r->err, sizeof r->err, "%s: out of memory", url);
        goto out;
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 60000L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    if (h)
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    if (text)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, text);
    else if (strcmp(method, "GET"))
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, ""); /* a PATCH or POST with no body */
    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK) {
        snprintf(r->err, sizeof r->err, "%s: %s", url, curl_easy_strerror(rc));
        goto out;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    if (b.len)
        r->doc = json_loadb(b.p, b.len, 0, NULL);
out:
    curl_slist_free_all(h);
    if (c)
        curl_easy_cleanup(c);
    free(text);
    free(b.p);
    return r->status ? 0 : -1;
}

const char *rest_reply_error(struct rest_reply *r)
{
    json_t *errs = json_object_get(r->doc, "errors");
    size_t i, used = 0;
    json_t *e;
    r->err[0] = 0;
    json_array_foreach(errs, i, e)
    {
        if (!json_is_string(e))
            continue;
        /* Flink's errors may carry a stack trace after the first line: the line is the
         * reason */
        const char *s = json_string_value(e);
        int n = (int)strcspn(s, "\n");
        used += (size_t)snprintf(r->err + used, sizeof r->err - used, "%s%.*s", used ? "; " : "",
                                 n, s);
        if (used >= sizeof r->err)
            break;
    }
    if (!r->err[0])
        snprintf(r->err, sizeof r->err, "HTTP %ld", r->status);
    return r->err;
}

void rest_reply_free(struct rest_reply *r)
{
    json_decref(r->doc);
    r->doc = NULL;
}

int cli_rest_token_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        cli_error(NULL, "rest.auth.token-file: %s: %s", path, strerror(errno));
        return -1;
    }
    size_t n = fread(token, 1, sizeof token - 1, f);
    fclose(f);
    token[n] = 0;
    char *s = token;
    while (isspace((unsigned char)*s))
        s++;
    memmove(token, s, strlen(s) + 1);
    n = strcspn(token, "\r\n");
    while (n && isspace((unsigned char)token[n - 1]))
        n--;
    token[n] = 0;
    if (!*token) {
        cli_error(NULL, "rest.auth.token-file: %s: the file is empty; write the token in it",
                  path);
        return -1;
    }
    return 0;
}
