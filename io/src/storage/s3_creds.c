/*
 * The S3 client's credentials (s3.h): the configuration's, the AWS environment variables, or
 * the shared credentials file, first found; moved out of s3.c, which keeps the requests.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <weir/errbuf.h>

#include "s3.h"

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
        s[--n] = '\0';
    return s;
}

/* Reads profile's keys from an AWS shared credentials file (INI). 0 when both keys were
 * found; -ENOENT when the file or profile is missing or lacks them. */
static int creds_from_file(char **akp, char **skp, char **stp, const char *path,
                           const char *profile)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -ENOENT;
    char line[1024];
    bool in = false;
    while (fgets(line, sizeof line, f)) {
        char *s = trim(line);
        if (*s == '[') {
            char *z = strchr(s, ']');
            if (z)
                *z = '\0';
            in = strcmp(trim(s + 1), profile) == 0;
            continue;
        }
        char *eq = strchr(s, '=');
        if (!in || !eq || *s == '#' || *s == ';')
            continue;
        *eq = '\0';
        char *k = trim(s), *v = trim(eq + 1);
        char **dst = strcmp(k, "aws_access_key_id") == 0       ? akp
                     : strcmp(k, "aws_secret_access_key") == 0 ? skp
                     : strcmp(k, "aws_session_token") == 0     ? stp
                                                               : NULL;
        if (dst) {
            free(*dst);
            *dst = strdup(v);
        }
    }
    fclose(f);
    return *akp && *skp ? 0 : -ENOENT;
}

const char *s3_env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

int s3_creds_resolve(const struct weir_s3_config *cfg, char **akp, char **skp, char **stp,
                     char *err, size_t errlen)
{
    const char *ak = cfg->access_key, *sk = cfg->secret_key, *st = cfg->session_token;
    if ((ak != NULL) != (sk != NULL)) { /* the configuration's, half of a pair */
        errbuf_printf(err, errlen,
                      "%s is set but %s is not: set both (or neither, for "
                      "the AWS environment variables or credentials file)",
                      ak ? "s3.access-key" : "s3.secret-key",
                      ak ? "s3.secret-key" : "s3.access-key");
        return -EINVAL;
    }
    if (!ak && !sk) {
        ak = s3_env("AWS_ACCESS_KEY_ID");
        sk = s3_env("AWS_SECRET_ACCESS_KEY");
        st = s3_env("AWS_SESSION_TOKEN");
    }
    if (ak && sk) {
        *akp = strdup(ak);
        *skp = strdup(sk);
        *stp = st ? strdup(st) : NULL;
        return *akp && *skp && (!st || *stp) ? 0 : -ENOMEM;
    }
    if (ak || sk) {
        errbuf_printf(err, errlen, "S3 credentials: %s is set but %s is not",
                      ak ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY",
                      ak ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID");
        return -EINVAL;
    }
    char path[1024];
    const char *file = s3_env("AWS_SHARED_CREDENTIALS_FILE"), *home = s3_env("HOME");
    const char *profile = s3_env("AWS_PROFILE") ? s3_env("AWS_PROFILE") : "default";
    if (file)
        snprintf(path, sizeof path, "%s", file);
    else
        snprintf(path, sizeof path, "%s/.aws/credentials", home ? home : "");
    if (creds_from_file(akp, skp, stp, path, profile) == 0)
        return 0;
    errbuf_printf(err, errlen,
                  "S3 credentials: none found: set AWS_ACCESS_KEY_ID and "
                  "AWS_SECRET_ACCESS_KEY, or profile [%s] (AWS_PROFILE) with "
                  "aws_access_key_id and aws_secret_access_key in %s "
                  "(AWS_SHARED_CREDENTIALS_FILE)",
                  profile, path);
    return -ENOENT;
}
