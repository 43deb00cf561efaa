/*
 * The weir_config object: each key's value as given (parsed once, with where it came from),
 * new/free, set and -D, the typed getters and print. See config_private.h for the other
 * files of the module and weir/config.h for the model.
 */
#include "config_private.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <weir/privdir.h>

/* ---- errors ----------------------------------------------------------------------------- */

/* A value in double quotes, on one line and of bounded length, for error messages. */
const char *config_quote(const char *s, char *buf, size_t len)
{
    size_t o = 0;
    buf[o++] = '"';
    for (; *s && o + 8 < len; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') {
            buf[o++] = '\\';
            buf[o++] = (char)ch;
        } else if (ch == '\n') {
            buf[o++] = '\\';
            buf[o++] = 'n';
        } else if (ch < 0x20 || ch == 0x7f) {
            o += (size_t)snprintf(buf + o, len - o, "\\x%02x", ch);
        } else {
            buf[o++] = (char)ch;
        }
    }
    if (*s) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o++] = '"';
    buf[o] = '\0';
    return buf;
}

_Noreturn void config_misuse(const char *fn, const char *key, const char *what)
{
    fprintf(stderr, "weir: %s(\"%s\"): %s\n", fn, key ? key : "(null)", what);
    abort();
}

/* ---- values ----------------------------------------------------------------------------- */

size_t config_key_index(const struct weir_config_key *k)
{
    return (size_t)(k - weir_config_keys);
}

static bool is_pow2(uint64_t v)
{
    return v != 0 && (v & (v - 1)) == 0;
}

static char *trimmed_dup(const char *s)
{
    s = config_skip_space(s);
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        n--;
    return strndup(s, n);
}

/* "expected ..." for a key, the part of an error after the value. */
void config_expectation(const struct weir_config_key *k, char *buf, size_t len)
{
    char lo[32], hi[32];
    switch (k->type) {
    case WEIR_CONFIG_INT:
        if (k->flags & WEIR_CONFIG_POW2)
            snprintf(buf, len, "expected a power of two from %" PRId64 " to %" PRId64 ", like %s",
                     k->min, k->max, k->def ? k->def : "8");
        else
            snprintf(buf, len, "expected an integer from %" PRId64 " to %" PRId64, k->min, k->max);
        break;
    case WEIR_CONFIG_SIZE:
        config_canonical_size((uint64_t)k->min, lo, sizeof lo);
        config_canonical_size((uint64_t)k->max, hi, sizeof hi);
        if (k->flags & WEIR_CONFIG_POW2)
            snprintf(buf, len, "expected a power-of-two size from %s to %s, like %s", lo, hi,
                     k->def ? k->def : "32kb");
        else if (k->max > 0)
            snprintf(buf, len, "expected a size from %s to %s, like 4096m or 4g", lo, hi);
        else if (k->min > 0)
            snprintf(buf, len, "expected a size of at least %s, like 4096m or 4g", lo);
        else
            snprintf(buf, len, "expected a size like 4096m, 64kb or 4g");
        break;
    case WEIR_CONFIG_DURATION:
        snprintf(buf, len, "expected a duration like 100ms, 10 s, 1 min");
        break;
    case WEIR_CONFIG_DOUBLE:
        snprintf(buf, len, "expected a number like 0.5");
        break;
    case WEIR_CONFIG_FRACTION:
        snprintf(buf, len, "expected a fraction from 0 to less than 1, like 0.4");
        break;
    case WEIR_CONFIG_BOOL:
        snprintf(buf, len, "expected true or false");
        break;
    case WEIR_CONFIG_ENUM: {
        size_t o = (size_t)snprintf(buf, len, "expected one of ");
        for (const char *w = k->words; *w && o + 3 < len; w++) {
            if (*w == '|') {
                buf[o++] = ',';
                buf[o++] = ' ';
            } else {
                buf[o++] = *w;
            }
        }
        buf[o] = '\0';
        break;
    }
    case WEIR_CONFIG_STRING:
        snprintf(buf, len, "expected %s", k->expect ? k->expect : "text");
        break;
    }
}

/* Parses text for key k into v (v->text is set and owned by v on success). On a bad value,
 * one line naming the key, the value and the expectation. */
static int parse_value(const struct weir_config_key *k, const char *text, struct value *v,
                       char *err, size_t errlen)
{
    char q[160], exp[200], whybuf[128];
    const char *why = NULL; /* more specific than the expectation, when known */
    int rc = 0;

    memset(v, 0, sizeof *v);
    v->text = trimmed_dup(text);
    if (!v->text) {
        errbuf_printf(err, errlen, "%s: out of memory", k->name);
        return -ENOMEM;
    }
    const char *t = v->text;

    switch (k->type) {
    case WEIR_CONFIG_INT: {
        char *end;
        errno = 0;
        long long n = strtoll(t, &end, 10);
        if (*t == '\0' || *end != '\0' || isspace((unsigned char)*t))
            rc = -EINVAL;
        else if (errno == ERANGE || n < k->min || n > k->max)
            rc = -ERANGE;
        else if ((k->flags & WEIR_CONFIG_POW2) && !is_pow2((uint64_t)n))
            rc = -EINVAL;
        v->i = n;
        break;
    }
    case WEIR_CONFIG_SIZE:
        rc = weir_parse_size(t, &v->size);
        if (rc == -ERANGE || (rc == 0 && k->max == 0 && v->size > CONFIG_SIZE_MAX)) {
            char canon[32], human[32];
            config_canonical_size(CONFIG_SIZE_MAX, canon, sizeof canon);
            weir_format_size(CONFIG_SIZE_MAX, human, sizeof human);
            snprintf(whybuf, sizeof whybuf, "too large; the largest size is %s (%s)", canon, human);
            why = whybuf;
            rc = -ERANGE;
        } else if (rc == 0 && ((k->min > 0 && v->size < (uint64_t)k->min) ||
                               (k->max > 0 && v->size > (uint64_t)k->max) ||
                               ((k->flags & WEIR_CONFIG_POW2) && !is_pow2(v->size))))
            rc = -ERANGE;
        break;
    case WEIR_CONFIG_DURATION:
        rc = weir_parse_duration_ms(t, &v->i);
        if (rc == -EDOM)
            why = "expected a whole number of milliseconds";
        else if (rc == -ERANGE || (rc == 0 && k->max == 0 && v->i > CONFIG_DURATION_MAX_MS)) {
            char canon[32];
            config_canonical_duration(CONFIG_DURATION_MAX_MS, canon, sizeof canon);
            snprintf(whybuf, sizeof whybuf, "too long; the largest duration is %s", canon);
            why = whybuf;
            rc = -ERANGE;
        } else if (rc == 0 && (v->i < k->min || (k->max > 0 && v->i > k->max)))
            rc = -ERANGE;
        break;
    case WEIR_CONFIG_DOUBLE:
    case WEIR_CONFIG_FRACTION: {
        bool ge_one = false;
        rc = config_parse_decimal(t, &v->d, &v->ppq, &ge_one);
        if (rc == 0 && k->type == WEIR_CONFIG_FRACTION && (v->d < 0 || ge_one || v->d >= 1.0))
            rc = -ERANGE;
        break;
    }
    case WEIR_CONFIG_BOOL:
        if (strcasecmp(t, "true") == 0)
            v->i = 1;
        else if (strcasecmp(t, "false") == 0)
            v->i = 0;
        else
            rc = -EINVAL;
        break;
    case WEIR_CONFIG_ENUM: {
        size_t n = strlen(t);
        int idx = 0;
        rc = -EINVAL;
        for (const char *w = k->words; *w; idx++) {
            size_t wl = strcspn(w, "|");
            if (wl == n && strncasecmp(w, t, n) == 0) {
                /* Keep the word as the table spells it, whatever case the person used. */
                memcpy(v->text, w, n);
                v->i = idx;
                rc = 0;
                break;
            }
            w += wl + (w[wl] == '|');
        }
        break;
    }
    case WEIR_CONFIG_STRING:
        if (k->check && k->check(t) != 0)
            rc = -EINVAL;
        break;
    }
    if (rc == 0)
        return 0;
    config_expectation(k, exp, sizeof exp);
    errbuf_printf(err, errlen, "%s: %s: %s", k->name, config_quote(t, q, sizeof q),
                  why ? why : exp);
    free(v->text);
    v->text = NULL;
    return -EINVAL;
}

void config_entry_clear(struct entry *e)
{
    free(e->v.text);
    free(e->file);
    e->v.text = NULL;
    e->file = NULL;
    e->line = 0;
}

/* Back to the embedded default (or unset when the key has none). */
int config_entry_reset(struct entry *e, const struct weir_config_key *k)
{
    char err[256];
    config_entry_clear(e);
    memset(&e->v, 0, sizeof e->v);
    e->src = SRC_UNSET;
    if (!k->def)
        return 0;
    int rc = parse_value(k, k->def, &e->v, err, sizeof err);
    if (rc == -ENOMEM)
        return rc;
    if (rc < 0) /* a default a person could not have written: the table is wrong */
        config_misuse("weir_config_new", k->name, err);
    e->src = SRC_DEFAULT;
    return 0;
}

/* ---- getters ---------------------------------------------------------------------------- */

static const struct entry *getter_entry(const weir_config *c, const char *key, const char *fn,
                                        enum weir_config_type t1, enum weir_config_type t2)
{
    const struct weir_config_key *k = weir_config_key_find(key);
    if (!c)
        config_misuse(fn, key, "config is NULL");
    if (!k)
        config_misuse(fn, key, "unknown key");
    if (k->type != t1 && k->type != t2)
        config_misuse(fn, key, "the key is of another type");
    return &c->e[config_key_index(k)];
}

/* ---- lifecycle and setting -------------------------------------------------------------- */

weir_config *weir_config_new(void)
{
    weir_config *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->e = calloc(weir_config_key_count, sizeof *c->e);
    if (!c->e)
        goto err;
    for (size_t i = 0; i < weir_config_key_count; i++)
        if (config_entry_reset(&c->e[i], &weir_config_keys[i]) < 0)
            goto err;
    return c;
err:
    weir_config_free(c);
    return NULL;
}

void weir_config_free(weir_config *c)
{
    if (!c)
        return;
    if (c->e)
        for (size_t i = 0; i < weir_config_key_count; i++)
            config_entry_clear(&c->e[i]);
    free(c->e);
    free(c);
}

/* Sets a key from text. A -D value is sticky: a file read later checks its value but does
 * not replace it, so "-D wins" holds whichever order the command applies them in. */
int config_set_from(weir_config *c, const struct weir_config_key *k, const char *value,
                    enum source src, const char *file, int line, char *err, size_t errlen)
{
    struct entry *e = &c->e[config_key_index(k)];
    struct value v;
    char *f = NULL;
    int rc = parse_value(k, value, &v, err, errlen);
    if (rc < 0)
        return rc;
    if (src == SRC_FILE && e->src == SRC_CMDLINE) {
        free(v.text);
        return 0;
    }
    if (file && !(f = strdup(file))) {
        free(v.text);
        errbuf_printf(err, errlen, "%s: out of memory", k->name);
        return -ENOMEM;
    }
    config_entry_clear(e);
    e->v = v;
    e->src = src;
    e->file = f;
    e->line = line;
    c->resolved = false;
    return 0;
}

int weir_config_set(weir_config *c, const char *key, const char *value, char *err, size_t errlen)
{
    const struct weir_config_key *k;
    if (!c || !key || !value) {
        errbuf_printf(err, errlen, "weir_config_set: missing argument");
        return -EINVAL;
    }
    k = weir_config_key_find(key);
    if (!k) {
        config_unknown_key(key, err, errlen);
        return -ENOENT;
    }
    return config_set_from(c, k, value, SRC_CMDLINE, NULL, 0, err, errlen);
}

int weir_config_set_kv(weir_config *c, const char *key_eq_value, char *err, size_t errlen)
{
    char q[160];
    const char *eq;
    char *key;
    int rc;
    if (!c || !key_eq_value) {
        errbuf_printf(err, errlen, "weir_config_set_kv: missing argument");
        return -EINVAL;
    }
    eq = strchr(key_eq_value, '=');
    if (!eq) {
        /* The caller names its flag ("weir: -D " + this); the word as typed when it is one
         * plain word, quoted otherwise. */
        bool plain = *key_eq_value && strlen(key_eq_value) < 100;
        for (const char *p = key_eq_value; plain && *p; p++)
            plain = isgraph((unsigned char)*p) && *p != '"' && *p != '\\';
        errbuf_printf(err, errlen, "%s: expected key=value, like memory.process.size=4g",
                      plain ? key_eq_value : config_quote(key_eq_value, q, sizeof q));
        return -EINVAL;
    }
    key = strndup(key_eq_value, (size_t)(eq - key_eq_value));
    if (!key) {
        errbuf_printf(err, errlen, "-D: out of memory");
        return -ENOMEM;
    }
    /* "-D key = value" reaches us as one argv word only when quoted; allow the spaces. */
    size_t n = strlen(key);
    while (n > 0 && isspace((unsigned char)key[n - 1]))
        key[--n] = '\0';
    rc = weir_config_set(c, config_skip_space(key), eq + 1, err, errlen);
    free(key);
    return rc;
}

void weir_config_set_machine_limit_for_test(weir_config *c, uint64_t bytes)
{
    if (!c)
        return;
    c->test_limit = bytes;
    c->resolved = false;
}

int64_t weir_config_get_int(const weir_config *c, const char *key)
{
    return getter_entry(c, key, __func__, WEIR_CONFIG_INT, WEIR_CONFIG_INT)->v.i;
}

uint64_t weir_config_get_size(const weir_config *c, const char *key)
{
    return getter_entry(c, key, __func__, WEIR_CONFIG_SIZE, WEIR_CONFIG_SIZE)->v.size;
}

int64_t weir_config_get_duration_ms(const weir_config *c, const char *key)
{
    return getter_entry(c, key, __func__, WEIR_CONFIG_DURATION, WEIR_CONFIG_DURATION)->v.i;
}

double weir_config_get_double(const weir_config *c, const char *key)
{
    return getter_entry(c, key, __func__, WEIR_CONFIG_DOUBLE, WEIR_CONFIG_FRACTION)->v.d;
}

bool weir_config_get_bool(const weir_config *c, const char *key)
{
    return getter_entry(c, key, __func__, WEIR_CONFIG_BOOL, WEIR_CONFIG_BOOL)->v.i != 0;
}

int weir_config_get_enum(const weir_config *c, const char *key)
{
    return (int)getter_entry(c, key, __func__, WEIR_CONFIG_ENUM, WEIR_CONFIG_ENUM)->v.i;
}

const char *weir_config_get_str(const weir_config *c, const char *key)
{
    const struct entry *e = getter_entry(c, key, __func__, WEIR_CONFIG_STRING, WEIR_CONFIG_ENUM);
    return e->v.text ? e->v.text : "";
}

bool weir_config_is_set(const weir_config *c, const char *key)
{
    const struct weir_config_key *k = weir_config_key_find(key);
    if (!c)
        config_misuse(__func__, key, "config is NULL");
    if (!k)
        config_misuse(__func__, key, "unknown key");
    enum source s = c->e[config_key_index(k)].src;
    return s == SRC_FILE || s == SRC_CMDLINE;
}

/* ---- printing --------------------------------------------------------------------------- */

static void print_yaml_string(const char *s, char *buf, size_t len)
{
    size_t o = 0;
    buf[o++] = '"';
    for (; *s && o + 6 < len; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') {
            buf[o++] = '\\';
            buf[o++] = (char)ch;
        } else if (ch < 0x20) {
            o += (size_t)snprintf(buf + o, len - o, "\\x%02x", ch);
        } else {
            buf[o++] = (char)ch;
        }
    }
    buf[o++] = '"';
    buf[o] = '\0';
}

void weir_config_print(const weir_config *c, FILE *out)
{
    for (size_t i = 0; c && i < weir_config_key_count; i++) {
        const struct weir_config_key *k = &weir_config_keys[i];
        const struct entry *e = &c->e[i];
        char val[600], line[700], note[PATH_MAX + 64], human[32] = "";

        switch (k->type) {
        case WEIR_CONFIG_INT:
            snprintf(val, sizeof val, "%" PRId64, e->v.i);
            break;
        case WEIR_CONFIG_SIZE:
            config_canonical_size(e->v.size, val, sizeof val);
            weir_format_size(e->v.size, human, sizeof human);
            break;
        case WEIR_CONFIG_DURATION:
            config_canonical_duration(e->v.i, val, sizeof val);
            break;
        case WEIR_CONFIG_DOUBLE:
        case WEIR_CONFIG_FRACTION:
            snprintf(val, sizeof val, "%s", e->v.text ? e->v.text : "");
            break;
        case WEIR_CONFIG_BOOL:
            snprintf(val, sizeof val, "%s", e->v.i ? "true" : "false");
            break;
        case WEIR_CONFIG_ENUM:
            snprintf(val, sizeof val, "%s", weir_config_get_str(c, k->name));
            break;
        case WEIR_CONFIG_STRING:
            print_yaml_string((k->flags & WEIR_CONFIG_SECRET) && e->v.text && *e->v.text ? "****"
                              : e->v.text                                                ? e->v.text
                                                                                         : "",
                              val, sizeof val);
            break;
        }
        switch (e->src) {
        case SRC_DEFAULT: {
            /* An empty directory key means a per-user default (privdir.h): say which. */
            char def[PATH_MAX];
            if (k->type == WEIR_CONFIG_STRING && !(e->v.text && *e->v.text) &&
                privdir_default(k->name, def, sizeof def) == 0)
                snprintf(note, sizeof note, "(default) %s", def);
            else
                snprintf(note, sizeof note, "(default)");
            break;
        }
        case SRC_FILE:
            snprintf(note, sizeof note, "(file) %s:%d", e->file, e->line);
            break;
        case SRC_CMDLINE:
            snprintf(note, sizeof note, "(-D)");
            break;
        case SRC_DERIVED:
            snprintf(note, sizeof note, "(derived)");
            break;
        case SRC_UNSET:
            snprintf(note, sizeof note, "(not set)");
            break;
        }
        if (e->src == SRC_UNSET)
            snprintf(line, sizeof line, "# %s: ~", k->name);
        else
            snprintf(line, sizeof line, "%s%s: %s", e->src == SRC_DERIVED ? "# " : "", k->name,
                     val);
        fprintf(out, "%-52s # %s%s%s\n", line, note, human[0] && e->src != SRC_UNSET ? " " : "",
                e->src != SRC_UNSET ? human : "");
    }
}
