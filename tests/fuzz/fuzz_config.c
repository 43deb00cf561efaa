/*
 * The YAML config loader, from bytes: the loader `weir config` and `--config` use
 * (weir_config_load_file reads its file through config_load_stream), then, for what loads,
 * weir_config_resolve and weir_config_print, whose output must load back ("YAML that loads
 * back", config.h) to the same print. Each line of the input is also given as a -D
 * key=value (weir_config_set_kv, the command line's parser) to a config of its own.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <weir/config.h>

#include "config_private.h"
#include "fuzz.h"

/* weir_config_print's output; with values_only, each line without its comment (where the
 * value came from: a default, this file and line), which differs once printed and loaded. */
static char *printed(const weir_config *c, size_t *len, bool values_only)
{
    char *s = NULL;
    FILE *f = open_memstream(&s, len);
    if (!f)
        abort();
    weir_config_print(c, f);
    fclose(f);
    if (!values_only)
        return s;
    char *w = s;
    for (char *line = s, *next; *line; line = next) {
        char *nl = strchr(line, '\n');
        next = nl ? nl + 1 : line + strlen(line);
        size_t n = (size_t)(next - line);
        char *cut = NULL;
        for (char *p = line; (p = memmem(p, (size_t)(next - p), " # (", 4)); p++)
            cut = p;
        if (cut) {
            while (cut > line && cut[-1] == ' ')
                cut--;
            n = (size_t)(cut - line);
        }
        memmove(w, line, n);
        w += n;
        *w++ = '\n';
    }
    *w = '\0';
    *len = (size_t)(w - s);
    return s;
}

static void as_cmdline(const uint8_t *data, size_t size)
{
    char err[1024];
    char *text = malloc(size + 1);
    weir_config *c = weir_config_new();
    if (!text || !c)
        abort();
    memcpy(text, data, size);
    text[size] = '\0';
    for (char *line = text, *next; line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        weir_config_set_kv(c, line, err, sizeof err);
    }
    weir_config_resolve(c, err, sizeof err);
    weir_config_free(c);
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[1024];
    if (size == 0 || size > 64 * 1024)
        return 0;
    FILE *f = fmemopen((void *)data, size, "rb");
    if (!f)
        return 0;
    weir_config *c = weir_config_new();
    if (!c)
        abort();
    int rc = config_load_stream(c, f, "fuzz.yaml", err, sizeof err);
    fclose(f);
    if (rc == 0 && weir_config_resolve(c, err, sizeof err) == 0) {
        size_t len, len2;
        char *out = printed(c, &len, false);
        weir_config *back = weir_config_new();
        FILE *in = fmemopen(out, len, "rb");
        if (!back || !in)
            abort();
        if (config_load_stream(back, in, "printed.yaml", err, sizeof err) < 0 ||
            weir_config_resolve(back, err, sizeof err) < 0) {
            fprintf(stderr, "weir_config_print's output does not load back: %s\n%s\n", err, out);
            abort();
        }
        fclose(in);
        free(out);
        out = printed(c, &len, true);
        char *out2 = printed(back, &len2, true);
        if (len != len2 || memcmp(out, out2, len) != 0) {
            fprintf(stderr, "printed, loaded and printed again differs:\n%s\n---\n%s\n", out, out2);
            abort();
        }
        free(out2);
        free(out);
        weir_config_free(back);
    }
    weir_config_free(c);
    as_cmdline(data, size);
    return 0;
}
