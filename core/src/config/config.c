/*
 * Configuration: values, parsing, the YAML loader, resolve (cross-key checks and memory
 * pools) and printing. The keys themselves are rows in config_keys.c; the model is described
 * in weir/config.h.
 *
 * Every value is parsed once, when it is given, into a struct value that keeps both the
 * number and the text the person wrote; errors quote the text, print shows the number in a
 * canonical unit.
 */
#include <weir/config.h>

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#define PPQ_ONE        1000000000000000000ull /* fractions are kept in parts per 10^18 */
#define MAX_KEY_LEN    512
#define MAX_YAML_DEPTH 32

enum source { SRC_UNSET, SRC_DEFAULT, SRC_FILE, SRC_CMDLINE, SRC_DERIVED };

struct value {
    int64_t i;     /* int, duration (ms), bool (0/1), enum (index of the word) */
    uint64_t size; /* size in bytes */
    double d;      /* double, fraction */
    uint64_t ppq;  /* fraction, exactly as written in decimal, truncated past 18 digits */
    char *text;    /* as given, trimmed; owned */
};

struct entry {
    enum source src;
    struct value v;
    char *file; /* SRC_FILE: the path, owned */
    int line;
    unsigned seen_gen; /* the weir_config_load_file call that last named the key */
    int seen_line;
    const char *seen_as; /* the name it was given under in that file (table string) */
};

struct weir_config {
    struct entry *e; /* one per row of weir_config_keys */
    unsigned gen;
    bool resolved;
    bool process_derived;
    uint64_t unused; /* bytes of P no pool got (task heap set explicitly) */
    uint64_t test_limit;
    struct weir_memory_pools pools;
};

/* ---- errors ----------------------------------------------------------------------------- */

static void __attribute__((format(printf, 3, 4)))
seterr(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    if (!err || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* A value in double quotes, on one line and of bounded length, for error messages. */
static const char *quote(const char *s, char *buf, size_t len)
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

static _Noreturn void misuse(const char *fn, const char *key, const char *what)
{
    fprintf(stderr, "weir: %s(\"%s\"): %s\n", fn, key ? key : "(null)", what);
    abort();
}

/* ---- units ------------------------------------------------------------------------------ */

static const char *skip_space(const char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    return s;
}

/* The text between leading and trailing white space, lowercased, into buf. */
static int unit_label(const char *s, char *buf, size_t len)
{
    s = skip_space(s);
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        n--;
    if (n >= len)
        return -EINVAL;
    for (size_t i = 0; i < n; i++)
        buf[i] = (char)tolower((unsigned char)s[i]);
    buf[n] = '\0';
    return 0;
}

/* Flink's number prefix: at least one decimal digit, no sign; -ERANGE past uint64. */
static int leading_number(const char **sp, uint64_t *out)
{
    const char *s = skip_space(*sp);
    uint64_t n = 0;
    if (!isdigit((unsigned char)*s))
        return -EINVAL;
    for (; isdigit((unsigned char)*s); s++) {
        unsigned dgt = (unsigned)(*s - '0');
        if (n > (UINT64_MAX - dgt) / 10)
            return -ERANGE;
        n = n * 10 + dgt;
    }
    *sp = s;
    *out = n;
    return 0;
}

int weir_parse_size(const char *text, uint64_t *bytes)
{
    /* Flink's MemoryUnit labels. */
    static const struct {
        const char *label;
        unsigned shift;
    } units[] = {
        {"", 0},           {"b", 0},          {"bytes", 0}, {"k", 10},         {"kb", 10},
        {"kibibytes", 10}, {"m", 20},         {"mb", 20},   {"mebibytes", 20}, {"g", 30},
        {"gb", 30},        {"gibibytes", 30}, {"t", 40},    {"tb", 40},        {"tebibytes", 40},
    };
    char label[16];
    uint64_t n;
    int rc;

    if (!text || !bytes)
        return -EINVAL;
    rc = leading_number(&text, &n);
    if (rc < 0)
        return rc;
    if (unit_label(text, label, sizeof label) < 0)
        return -EINVAL;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(label, units[i].label) != 0)
            continue;
        if (n > (UINT64_MAX >> units[i].shift))
            return -ERANGE;
        *bytes = n << units[i].shift;
        return 0;
    }
    return -EINVAL;
}

/* Flink's TimeUtils labels, plus "us" for those who cannot type µ. */
static int parse_duration(const char *text, uint64_t *n, uint64_t *unit_ns)
{
    /* clang-format off */
    static const struct {
        const char *label;
        uint64_t ns;
    } units[] = {
        {"", 1000000ull},
        {"d", 86400000000000ull},     {"day", 86400000000000ull},   {"days", 86400000000000ull},
        {"h", 3600000000000ull},      {"hour", 3600000000000ull},   {"hours", 3600000000000ull},
        {"min", 60000000000ull},      {"m", 60000000000ull},        {"minute", 60000000000ull},
        {"minutes", 60000000000ull},  {"s", 1000000000ull},         {"sec", 1000000000ull},
        {"secs", 1000000000ull},      {"second", 1000000000ull},    {"seconds", 1000000000ull},
        {"ms", 1000000ull},           {"milli", 1000000ull},        {"millis", 1000000ull},
        {"millisecond", 1000000ull},  {"milliseconds", 1000000ull}, {"\xc2\xb5s", 1000ull},
        {"us", 1000ull},              {"micro", 1000ull},           {"micros", 1000ull},
        {"microsecond", 1000ull},     {"microseconds", 1000ull},    {"ns", 1ull},
        {"nano", 1ull},               {"nanos", 1ull},              {"nanosecond", 1ull},
        {"nanoseconds", 1ull},
    };
    /* clang-format on */
    char label[16];
    int rc;

    if (!text)
        return -EINVAL;
    rc = leading_number(&text, n);
    if (rc < 0)
        return rc;
    if (unit_label(text, label, sizeof label) < 0)
        return -EINVAL;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(label, units[i].label) == 0) {
            *unit_ns = units[i].ns;
            return 0;
        }
    }
    return -EINVAL;
}

int weir_parse_duration_ns(const char *text, int64_t *ns)
{
    uint64_t n, unit;
    int rc = parse_duration(text, &n, &unit);
    if (rc < 0)
        return rc;
    if (!ns)
        return -EINVAL;
    if (n > (uint64_t)INT64_MAX / unit)
        return -ERANGE;
    *ns = (int64_t)(n * unit);
    return 0;
}

int weir_parse_duration_ms(const char *text, int64_t *ms)
{
    uint64_t n, unit;
    int rc = parse_duration(text, &n, &unit);
    if (rc < 0)
        return rc;
    if (!ms)
        return -EINVAL;
    if (unit >= 1000000ull) {
        uint64_t per = unit / 1000000ull;
        if (n > (uint64_t)INT64_MAX / per)
            return -ERANGE;
        *ms = (int64_t)(n * per);
    } else {
        uint64_t per = 1000000ull / unit;
        if (n % per != 0)
            return -EDOM;
        *ms = (int64_t)(n / per);
    }
    return 0;
}

int weir_format_size(uint64_t bytes, char *buf, size_t len)
{
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    int n;
    if (!buf || len == 0)
        return -EINVAL;
    if (bytes < 1024) {
        n = snprintf(buf, len, "%" PRIu64 " B", bytes);
    } else {
        unsigned u = 0;
        double v = (double)bytes / 1024.0;
        /* Move up a unit rather than print "1024.000 MiB". */
        while (u + 1 < sizeof units / sizeof units[0] && v >= 1023.9995) {
            v /= 1024.0;
            u++;
        }
        n = snprintf(buf, len, "%.3f %s", v, units[u]);
    }
    return n >= 0 && (size_t)n < len ? 0 : -ENOSPC;
}

/* Exact size text in the largest unit that divides it, as Flink would accept it back. */
static void canonical_size(uint64_t b, char *buf, size_t len)
{
    static const struct {
        const char *suffix;
        unsigned shift;
    } units[] = {{"t", 40}, {"g", 30}, {"m", 20}, {"kb", 10}};
    for (size_t i = 0; b != 0 && i < sizeof units / sizeof units[0]; i++) {
        if ((b & ((1ull << units[i].shift) - 1)) == 0) {
            snprintf(buf, len, "%" PRIu64 "%s", b >> units[i].shift, units[i].suffix);
            return;
        }
    }
    snprintf(buf, len, "%" PRIu64, b);
}

static void canonical_duration(int64_t ms, char *buf, size_t len)
{
    static const struct {
        const char *suffix;
        int64_t ms;
    } units[] = {{"d", 86400000}, {"h", 3600000}, {"min", 60000}, {"s", 1000}};
    for (size_t i = 0; ms != 0 && i < sizeof units / sizeof units[0]; i++) {
        if (ms % units[i].ms == 0) {
            snprintf(buf, len, "%" PRId64 " %s", ms / units[i].ms, units[i].suffix);
            return;
        }
    }
    snprintf(buf, len, "%" PRId64 " ms", ms);
}

int weir_parse_port_range(const char *text, unsigned *lo, unsigned *hi)
{
    uint64_t a, b;
    const char *s = text;
    if (!text || !lo || !hi)
        return -EINVAL;
    if (leading_number(&s, &a) < 0)
        return -EINVAL;
    s = skip_space(s);
    b = a;
    if (*s == '-') {
        s++;
        if (leading_number(&s, &b) < 0)
            return -EINVAL;
        s = skip_space(s);
    }
    if (*s != '\0')
        return -EINVAL;
    if (a == 0 && b == 0) { /* the endpoint is off */
        *lo = *hi = 0;
        return 0;
    }
    if (a == 0 || a > 65535 || b > 65535 || b < a)
        return -EINVAL;
    *lo = (unsigned)a;
    *hi = (unsigned)b;
    return 0;
}

/* A decimal number as Java's Double.parseDouble reads one, minus hex, NaN and Infinity:
 * [+-] digits [. digits] [e [+-] digits], with a digit somewhere in the mantissa. Returns
 * the double and, for non-negative values, the value in parts per 10^18, computed from the
 * digits rather than the double so that 0.1 of a size is exactly a tenth of it. */
static int parse_decimal(const char *s, double *d, uint64_t *ppq, bool *ge_one)
{
    const char *p = skip_space(s), *mant, *end;
    bool neg = false;
    long exp10 = 0;
    size_t ndig = 0;

    if (*p == '+' || *p == '-')
        neg = *p++ == '-';
    mant = p;
    while (isdigit((unsigned char)*p) || *p == '.') {
        if (*p == '.' && strchr(mant, '.') != p)
            return -EINVAL; /* a second point */
        ndig += *p != '.';
        p++;
    }
    if (ndig == 0)
        return -EINVAL;
    end = p;
    if (*p == 'e' || *p == 'E') {
        char *e;
        p++;
        if (!isdigit((unsigned char)*p) &&
            !((*p == '+' || *p == '-') && isdigit((unsigned char)p[1])))
            return -EINVAL;
        errno = 0;
        exp10 = strtol(p, &e, 10);
        if (errno || exp10 > 400 || exp10 < -400)
            return -ERANGE;
        p = e;
    }
    if (*skip_space(p) != '\0')
        return -EINVAL;
    *d = strtod(s, NULL);
    if (!isfinite(*d))
        return -ERANGE;

    /* Weight of the last mantissa digit, as a power of ten, then walk back to the first. */
    const char *point = memchr(mant, '.', (size_t)(end - mant));
    long w = exp10 + 18 - (point ? (long)(end - point - 1) : 0);
    uint64_t q = 0;
    bool big = false;
    for (size_t i = (size_t)(end - mant); i-- > 0;) {
        if (mant[i] == '.')
            continue;
        unsigned dgt = (unsigned)(mant[i] - '0');
        if (dgt != 0 && w >= 18)
            big = true;
        else if (dgt != 0 && w >= 0) {
            uint64_t pw = 1;
            for (long k = 0; k < w; k++)
                pw *= 10;
            q += dgt * pw;
        }
        w++;
    }
    /* A negative value has no fraction of a size; the caller refuses it by *d. */
    *ppq = neg ? 0 : q;
    *ge_one = neg ? false : big;
    return 0;
}

/* ---- values ----------------------------------------------------------------------------- */

static size_t key_index(const struct weir_config_key *k)
{
    return (size_t)(k - weir_config_keys);
}

static bool is_pow2(uint64_t v)
{
    return v != 0 && (v & (v - 1)) == 0;
}

static char *trimmed_dup(const char *s)
{
    s = skip_space(s);
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        n--;
    return strndup(s, n);
}

/* "expected ..." for a key, the part of an error after the value. */
static void expectation(const struct weir_config_key *k, char *buf, size_t len)
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
        canonical_size((uint64_t)k->min, lo, sizeof lo);
        canonical_size((uint64_t)k->max, hi, sizeof hi);
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
    char q[160], exp[200];
    const char *why = NULL; /* more specific than the expectation, when known */
    int rc = 0;

    memset(v, 0, sizeof *v);
    v->text = trimmed_dup(text);
    if (!v->text) {
        seterr(err, errlen, "%s: out of memory", k->name);
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
        if (rc == -ERANGE)
            why = "too large for a size";
        else if (rc == 0 && ((k->min > 0 && v->size < (uint64_t)k->min) ||
                             (k->max > 0 && v->size > (uint64_t)k->max) ||
                             ((k->flags & WEIR_CONFIG_POW2) && !is_pow2(v->size))))
            rc = -ERANGE;
        break;
    case WEIR_CONFIG_DURATION:
        rc = weir_parse_duration_ms(t, &v->i);
        if (rc == -EDOM)
            why = "expected a whole number of milliseconds";
        else if (rc == -ERANGE)
            why = "too long for a duration";
        else if (rc == 0 && (v->i < k->min || (k->max > 0 && v->i > k->max)))
            rc = -ERANGE;
        break;
    case WEIR_CONFIG_DOUBLE:
    case WEIR_CONFIG_FRACTION: {
        bool ge_one = false;
        rc = parse_decimal(t, &v->d, &v->ppq, &ge_one);
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
    expectation(k, exp, sizeof exp);
    seterr(err, errlen, "%s: %s: %s", k->name, quote(t, q, sizeof q), why ? why : exp);
    free(v->text);
    v->text = NULL;
    return -EINVAL;
}

static void entry_clear(struct entry *e)
{
    free(e->v.text);
    free(e->file);
    e->v.text = NULL;
    e->file = NULL;
    e->line = 0;
}

/* Back to the embedded default (or unset when the key has none). */
static int entry_reset(struct entry *e, const struct weir_config_key *k)
{
    char err[256];
    entry_clear(e);
    memset(&e->v, 0, sizeof e->v);
    e->src = SRC_UNSET;
    if (!k->def)
        return 0;
    int rc = parse_value(k, k->def, &e->v, err, sizeof err);
    if (rc == -ENOMEM)
        return rc;
    if (rc < 0) /* a default a person could not have written: the table is wrong */
        misuse("weir_config_new", k->name, err);
    e->src = SRC_DEFAULT;
    return 0;
}

/* ---- keys and suggestions --------------------------------------------------------------- */

static size_t levenshtein(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    size_t row[MAX_KEY_LEN + 1];
    if (la > MAX_KEY_LEN || lb > MAX_KEY_LEN)
        return SIZE_MAX;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t cost = tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]);
            size_t best = diag + cost;
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* True when name is tail of full at a dot boundary ("process.size" of "memory.process.size"),
 * or full is name plus more segments ("parallelism" of "parallelism.default"). */
static bool dotted_part(const char *name, const char *full)
{
    size_t ln = strlen(name), lf = strlen(full);
    if (ln == 0 || ln >= lf)
        return false;
    if (strcmp(full + lf - ln, name) == 0 && full[lf - ln - 1] == '.')
        return true;
    return strncmp(full, name, ln) == 0 && full[ln] == '.';
}

/* The known name nearest to an unknown one, or NULL when none is near enough to be what the
 * person meant. */
static const char *suggest(const char *name)
{
    const char *best = NULL, *part = NULL;
    size_t best_d = SIZE_MAX, limit = strlen(name) / 4;
    int parts = 0;
    if (limit < 2)
        limit = 2;
    for (size_t i = 0; i < weir_config_key_count; i++) {
        const struct weir_config_key *k = &weir_config_keys[i];
        for (size_t a = 0; a <= sizeof k->aliases / sizeof k->aliases[0]; a++) {
            const char *cand = a == 0 ? k->name : k->aliases[a - 1];
            if (!cand)
                break;
            size_t d = levenshtein(name, cand);
            if (d < best_d) {
                best_d = d;
                best = cand;
            }
            if (a == 0 && dotted_part(name, cand)) {
                part = cand;
                parts++;
            }
        }
    }
    if (best && best_d <= limit)
        return best;
    return parts == 1 ? part : NULL;
}

static void unknown_key(const char *name, char *err, size_t errlen)
{
    char q[160];
    const char *s = suggest(name);
    if (s)
        seterr(err, errlen, "unknown key %s (did you mean \"%s\"?)", quote(name, q, sizeof q), s);
    else
        seterr(err, errlen, "unknown key %s", quote(name, q, sizeof q));
}

/* The row of a key for a getter: unknown keys and wrong types are the caller's bug. */
static const struct entry *getter_entry(const weir_config *c, const char *key, const char *fn,
                                        enum weir_config_type t1, enum weir_config_type t2)
{
    const struct weir_config_key *k = weir_config_key_find(key);
    if (!c)
        misuse(fn, key, "config is NULL");
    if (!k)
        misuse(fn, key, "unknown key");
    if (k->type != t1 && k->type != t2)
        misuse(fn, key, "the key is of another type");
    return &c->e[key_index(k)];
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
        if (entry_reset(&c->e[i], &weir_config_keys[i]) < 0)
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
            entry_clear(&c->e[i]);
    free(c->e);
    free(c);
}

/* Sets a key from text. A -D value is sticky: a file read later checks its value but does
 * not replace it, so "-D wins" holds whichever order the command applies them in. */
static int set_from(weir_config *c, const struct weir_config_key *k, const char *value,
                    enum source src, const char *file, int line, char *err, size_t errlen)
{
    struct entry *e = &c->e[key_index(k)];
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
        seterr(err, errlen, "%s: out of memory", k->name);
        return -ENOMEM;
    }
    entry_clear(e);
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
        seterr(err, errlen, "weir_config_set: missing argument");
        return -EINVAL;
    }
    k = weir_config_key_find(key);
    if (!k) {
        unknown_key(key, err, errlen);
        return -ENOENT;
    }
    return set_from(c, k, value, SRC_CMDLINE, NULL, 0, err, errlen);
}

int weir_config_set_kv(weir_config *c, const char *key_eq_value, char *err, size_t errlen)
{
    char q[160];
    const char *eq;
    char *key;
    int rc;
    if (!c || !key_eq_value) {
        seterr(err, errlen, "weir_config_set_kv: missing argument");
        return -EINVAL;
    }
    eq = strchr(key_eq_value, '=');
    if (!eq) {
        seterr(err, errlen, "-D %s: expected key=value, like -D memory.process.size=4g",
               quote(key_eq_value, q, sizeof q));
        return -EINVAL;
    }
    key = strndup(key_eq_value, (size_t)(eq - key_eq_value));
    if (!key) {
        seterr(err, errlen, "-D: out of memory");
        return -ENOMEM;
    }
    /* "-D key = value" reaches us as one argv word only when quoted; allow the spaces. */
    size_t n = strlen(key);
    while (n > 0 && isspace((unsigned char)key[n - 1]))
        key[--n] = '\0';
    rc = weir_config_set(c, skip_space(key), eq + 1, err, errlen);
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

/* ---- YAML ------------------------------------------------------------------------------- */

struct loader {
    weir_config *c;
    yaml_document_t *doc;
    const char *path;
    char *err;
    size_t errlen;
};

static const char *node_kind(const yaml_node_t *n)
{
    return n->type == YAML_MAPPING_NODE    ? "mapping"
           : n->type == YAML_SEQUENCE_NODE ? "sequence"
                                           : "scalar";
}

static bool is_yaml_null(const yaml_node_t *n)
{
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};
    if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    for (size_t i = 0; i < sizeof nulls / sizeof nulls[0]; i++)
        if (strcmp((const char *)n->data.scalar.value, nulls[i]) == 0)
            return true;
    return false;
}

static int load_scalar(struct loader *l, const char *name, const struct weir_config_key *k,
                       const yaml_node_t *key_node, const yaml_node_t *val)
{
    struct entry *e = &l->c->e[key_index(k)];
    int kline = (int)key_node->start_mark.line + 1;
    int vline = (int)val->start_mark.line + 1;
    char msg[512];
    int rc;

    if (e->seen_gen == l->c->gen) {
        if (strcmp(name, e->seen_as) != 0)
            seterr(l->err, l->errlen,
                   "%s:%d: %s: given twice in this file (first at line %d as \"%s\")", l->path,
                   kline, k->name, e->seen_line, e->seen_as);
        else
            seterr(l->err, l->errlen, "%s:%d: %s: given twice in this file (first at line %d)",
                   l->path, kline, k->name, e->seen_line);
        return -EINVAL;
    }
    e->seen_gen = l->c->gen;
    e->seen_line = kline;
    /* seen_as outlives name: it points at the table's own string. */
    e->seen_as = k->name;
    for (size_t a = 0; a < sizeof k->aliases / sizeof k->aliases[0] && k->aliases[a]; a++)
        if (strcmp(name, k->aliases[a]) == 0)
            e->seen_as = k->aliases[a];

    if (is_yaml_null(val)) {
        if (e->src == SRC_CMDLINE)
            return 0;
        rc = entry_reset(e, k);
        l->c->resolved = false;
        if (rc < 0)
            seterr(l->err, l->errlen, "%s:%d: out of memory", l->path, kline);
        return rc;
    }
    rc = set_from(l->c, k, (const char *)val->data.scalar.value, SRC_FILE, l->path, vline, msg,
                  sizeof msg);
    if (rc < 0)
        seterr(l->err, l->errlen, "%s:%d: %s", l->path, vline, msg);
    return rc;
}

/* True when some key's name continues name with a dot: "state.backend" of a future
 * "state.backend.incremental", so a mapping under a key that is also a prefix is flattened
 * rather than refused. */
static bool is_prefix_of_a_key(const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < weir_config_key_count; i++) {
        const struct weir_config_key *k = &weir_config_keys[i];
        for (size_t a = 0; a <= sizeof k->aliases / sizeof k->aliases[0]; a++) {
            const char *cand = a == 0 ? k->name : k->aliases[a - 1];
            if (!cand)
                break;
            if (strncmp(cand, name, n) == 0 && cand[n] == '.')
                return true;
        }
    }
    return false;
}

static int load_mapping(struct loader *l, const yaml_node_t *map, char *prefix, size_t plen,
                        int depth)
{
    char exp[200];
    if (depth > MAX_YAML_DEPTH) {
        seterr(l->err, l->errlen, "%s:%d: %s: nested deeper than %d levels", l->path,
               (int)map->start_mark.line + 1, prefix, MAX_YAML_DEPTH);
        return -EINVAL;
    }
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *kn = yaml_document_get_node(l->doc, p->key);
        yaml_node_t *vn = yaml_document_get_node(l->doc, p->value);
        int kline = (int)kn->start_mark.line + 1;
        const struct weir_config_key *k;
        int rc;

        if (kn->type != YAML_SCALAR_NODE) {
            seterr(l->err, l->errlen, "%s:%d: a key must be text, not a YAML %s", l->path, kline,
                   node_kind(kn));
            return -EINVAL;
        }
        const char *seg = (const char *)kn->data.scalar.value;
        size_t slen = strlen(seg);
        if (plen + 1 + slen > MAX_KEY_LEN) {
            seterr(l->err, l->errlen, "%s:%d: key longer than %d characters", l->path, kline,
                   MAX_KEY_LEN);
            return -EINVAL;
        }
        size_t nlen = plen;
        if (plen)
            prefix[nlen++] = '.';
        memcpy(prefix + nlen, seg, slen + 1);
        nlen += slen;

        k = weir_config_key_find(prefix);
        if (vn->type == YAML_SCALAR_NODE) {
            if (!k) {
                char msg[400];
                unknown_key(prefix, msg, sizeof msg);
                seterr(l->err, l->errlen, "%s:%d: %s", l->path, kline, msg);
                return -ENOENT;
            }
            rc = load_scalar(l, prefix, k, kn, vn);
        } else if (k && !(vn->type == YAML_MAPPING_NODE && is_prefix_of_a_key(prefix))) {
            expectation(k, exp, sizeof exp);
            seterr(l->err, l->errlen, "%s:%d: %s: %s, not a YAML %s", l->path,
                   (int)vn->start_mark.line + 1, k->name, exp, node_kind(vn));
            return -EINVAL;
        } else if (vn->type == YAML_SEQUENCE_NODE) {
            char msg[400];
            unknown_key(prefix, msg, sizeof msg);
            seterr(l->err, l->errlen, "%s:%d: %s", l->path, kline, msg);
            return -ENOENT;
        } else {
            rc = load_mapping(l, vn, prefix, nlen, depth + 1);
        }
        prefix[plen] = '\0';
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int yaml_failure(const yaml_parser_t *p, const char *path, char *err, size_t errlen)
{
    const char *problem = p->problem ? p->problem : "unknown error";
    switch (p->error) {
    case YAML_MEMORY_ERROR:
        seterr(err, errlen, "%s: out of memory reading YAML", path);
        return -ENOMEM;
    case YAML_READER_ERROR:
        /* Bad bytes (not UTF-8) or a read error: libyaml knows the offset, not the line. */
        seterr(err, errlen, "%s: byte %zu: %s", path, p->problem_offset, problem);
        return -EINVAL;
    default:
        if (p->context)
            seterr(err, errlen, "%s:%zu: YAML syntax error: %s %s started at line %zu", path,
                   p->problem_mark.line + 1, problem, p->context, p->context_mark.line + 1);
        else
            seterr(err, errlen, "%s:%zu: YAML syntax error: %s", path, p->problem_mark.line + 1,
                   problem);
        return -EINVAL;
    }
}

int weir_config_load_file(weir_config *c, const char *path, char *err, size_t errlen)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    bool have_doc = false;
    char prefix[MAX_KEY_LEN + 1] = "";
    FILE *f;
    int rc = 0;

    if (!c || !path) {
        seterr(err, errlen, "weir_config_load_file: missing argument");
        return -EINVAL;
    }
    f = fopen(path, "rb");
    if (!f) {
        rc = -errno;
        seterr(err, errlen, "%s: %s", path, strerror(errno));
        return rc;
    }
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
        fclose(f);
        seterr(err, errlen, "%s: %s", path, strerror(EISDIR));
        return -EISDIR;
    }
    if (!yaml_parser_initialize(&parser)) {
        fclose(f);
        seterr(err, errlen, "%s: out of memory", path);
        return -ENOMEM;
    }
    yaml_parser_set_input_file(&parser, f);
    c->gen++;

    if (!yaml_parser_load(&parser, &doc)) {
        rc = yaml_failure(&parser, path, err, errlen);
        goto err;
    }
    have_doc = true;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root) {
        if (root->type != YAML_MAPPING_NODE) {
            seterr(err, errlen, "%s:%zu: expected a mapping of keys to values, not a YAML %s", path,
                   root->start_mark.line + 1, node_kind(root));
            rc = -EINVAL;
            goto err;
        }
        struct loader l = {c, &doc, path, err, errlen};
        rc = load_mapping(&l, root, prefix, 0, 0);
        if (rc < 0)
            goto err;
        yaml_document_delete(&doc);
        have_doc = false;
        /* A second document would be silently ignored; say so instead. */
        if (!yaml_parser_load(&parser, &doc)) {
            rc = yaml_failure(&parser, path, err, errlen);
            goto err;
        }
        have_doc = true;
        root = yaml_document_get_root_node(&doc);
        if (root) {
            seterr(err, errlen, "%s:%zu: a second YAML document; weir reads one", path,
                   root->start_mark.line + 1);
            rc = -EINVAL;
            goto err;
        }
    }
err:
    if (have_doc)
        yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    fclose(f);
    return rc;
}

/* ---- getters ---------------------------------------------------------------------------- */

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
        misuse(__func__, key, "config is NULL");
    if (!k)
        misuse(__func__, key, "unknown key");
    enum source s = c->e[key_index(k)].src;
    return s == SRC_FILE || s == SRC_CMDLINE;
}

/* ---- machine limit ---------------------------------------------------------------------- */

static int read_u64_file(const char *path, uint64_t *out, bool *unlimited)
{
    char buf[64];
    FILE *f = fopen(path, "re");
    if (!f)
        return -errno;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    buf[strcspn(buf, "\n")] = '\0';
    *unlimited = strcmp(buf, "max") == 0;
    if (*unlimited)
        return 0;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(buf, &end, 10);
    if (end == buf || *end != '\0' || errno)
        return -EINVAL;
    *out = v;
    return 0;
}

/* The memory limit of the cgroup at rel under base and of each of its ancestors, lowest
 * wins. In a container the cgroup path of /proc/self/cgroup may not exist under the mount
 * (the mount's root is the container's own cgroup); the walk then finds the root's file. */
static void cgroup_walk(const char *base, const char *rel, const char *file, uint64_t *best,
                        char *from, size_t fromlen)
{
    char path[PATH_MAX + 64], dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", rel);
    for (;;) {
        uint64_t v = 0;
        bool unlimited = false;
        size_t n = strlen(dir);
        while (n > 0 && dir[n - 1] == '/')
            dir[--n] = '\0';
        snprintf(path, sizeof path, "%s%s%s/%s", base, n && dir[0] != '/' ? "/" : "", dir, file);
        if (read_u64_file(path, &v, &unlimited) == 0 && !unlimited && v < *best) {
            *best = v;
            snprintf(from, fromlen, "cgroup limit in %s", path);
        }
        if (n == 0)
            break;
        char *slash = strrchr(dir, '/');
        if (!slash)
            dir[0] = '\0';
        else
            *slash = '\0';
    }
}

int weir_machine_memory_limit(uint64_t *bytes, char *from, size_t fromlen)
{
    char scratch[8];
    const char *test = getenv("WEIR_TEST_MEMORY_LIMIT");
    if (!bytes)
        return -EINVAL;
    if (!from || fromlen == 0) {
        from = scratch;
        fromlen = sizeof scratch;
    }
    if (test && *test) {
        if (weir_parse_size(test, bytes) < 0)
            return -EINVAL;
        snprintf(from, fromlen, "WEIR_TEST_MEMORY_LIMIT");
        return 0;
    }
    long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || psize <= 0)
        return -ENOSYS;
    uint64_t best = (uint64_t)pages * (uint64_t)psize;
    snprintf(from, fromlen, "physical memory");

    FILE *f = fopen("/proc/self/cgroup", "re");
    if (f) {
        char line[PATH_MAX + 64];
        while (fgets(line, sizeof line, f)) {
            line[strcspn(line, "\n")] = '\0';
            char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
            if (!c2)
                continue;
            *c1 = *c2 = '\0';
            const char *ctrls = c1 + 1, *rel = c2 + 1;
            if (strcmp(line, "0") == 0 && *ctrls == '\0') {
                cgroup_walk("/sys/fs/cgroup", rel, "memory.max", &best, from, fromlen);
            } else {
                for (const char *t = ctrls; *t;) {
                    size_t tl = strcspn(t, ",");
                    if (tl == 6 && strncmp(t, "memory", 6) == 0)
                        cgroup_walk("/sys/fs/cgroup/memory", rel, "memory.limit_in_bytes", &best,
                                    from, fromlen);
                    t += tl + (t[tl] == ',');
                }
            }
        }
        fclose(f);
    }
    *bytes = best;
    return 0;
}

/* ---- resolve ---------------------------------------------------------------------------- */

static const struct entry *ent(const weir_config *c, const char *key)
{
    return &c->e[key_index(weir_config_key_find(key))];
}

static uint64_t mul_frac(uint64_t bytes, uint64_t ppq)
{
    return (uint64_t)((unsigned __int128)bytes * ppq / PPQ_ONE);
}

/* bytes / (1 - fraction): the whole of which bytes is the part the fraction leaves. */
static uint64_t div_rest(uint64_t bytes, uint64_t ppq)
{
    unsigned __int128 q = (unsigned __int128)bytes * PPQ_ONE / (PPQ_ONE - ppq);
    return q > UINT64_MAX ? UINT64_MAX : (uint64_t)q;
}

static uint64_t clamp_u64(uint64_t v, uint64_t lo, uint64_t hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

static uint64_t add_sat(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* "1728m (1.688 GiB)": the text a person wrote and what it means. */
static const char *size_desc(const struct entry *e, char *buf, size_t len)
{
    char human[32], canon[32];
    weir_format_size(e->v.size, human, sizeof human);
    if (e->src == SRC_DERIVED || !e->v.text) {
        canonical_size(e->v.size, canon, sizeof canon);
        snprintf(buf, len, "%s (%s)", canon, human);
    } else {
        snprintf(buf, len, "%s (%s)", e->v.text, human);
    }
    return buf;
}

static int check_min_max(const weir_config *c, const char *min_key, const char *max_key, char *err,
                         size_t errlen)
{
    char a[96], b[96];
    const struct entry *lo = ent(c, min_key), *hi = ent(c, max_key);
    if (lo->v.size <= hi->v.size)
        return 0;
    seterr(err, errlen, "%s %s is greater than %s %s", min_key, size_desc(lo, a, sizeof a), max_key,
           size_desc(hi, b, sizeof b));
    return -EINVAL;
}

static int store_derived(weir_config *c, const char *key, uint64_t bytes)
{
    struct entry *e = &c->e[key_index(weir_config_key_find(key))];
    char canon[32];
    canonical_size(bytes, canon, sizeof canon);
    char *t = strdup(canon);
    if (!t)
        return -ENOMEM;
    entry_clear(e);
    memset(&e->v, 0, sizeof e->v);
    e->v.size = bytes;
    e->v.text = t;
    e->src = SRC_DERIVED;
    return 0;
}

static int compute_pools(weir_config *c, char *err, size_t errlen)
{
    struct weir_memory_pools p = {0};
    char a[96], b[32], parts[6][32], total_s[32];
    const struct entry *proc = ent(c, "memory.process.size");
    const struct entry *heap = ent(c, "memory.task.heap.size");
    const struct entry *managed = ent(c, "memory.managed.size");
    bool heap_set = heap->src == SRC_FILE || heap->src == SRC_CMDLINE;
    bool managed_set = managed->src == SRC_FILE || managed->src == SRC_CMDLINE;
    bool proc_set = proc->src == SRC_FILE || proc->src == SRC_CMDLINE;
    uint64_t nf = ent(c, "memory.network.fraction")->v.ppq;
    uint64_t nmin = ent(c, "memory.network.min")->v.size;
    uint64_t nmax = ent(c, "memory.network.max")->v.size;
    uint64_t of = ent(c, "memory.overhead.fraction")->v.ppq;
    uint64_t omin = ent(c, "memory.overhead.min")->v.size;
    uint64_t omax = ent(c, "memory.overhead.max")->v.size;

    p.framework = ent(c, "memory.framework.size")->v.size;
    c->process_derived = heap_set && managed_set && !proc_set;
    c->unused = 0;

    if (c->process_derived) {
        /* Flink's order: the parts fix total Flink memory, network is its fraction of that
         * total, and overhead is its fraction of the process. */
        p.task_heap = heap->v.size;
        p.managed = managed->v.size;
        uint64_t rest = add_sat(add_sat(p.framework, p.task_heap), p.managed);
        p.network = clamp_u64(mul_frac(div_rest(rest, nf), nf), nmin, nmax);
        uint64_t total = add_sat(rest, p.network);
        p.overhead = clamp_u64(mul_frac(div_rest(total, of), of), omin, omax);
        p.process = add_sat(total, p.overhead);
        if (p.process >= (1ull << 62)) {
            seterr(err, errlen,
                   "memory.task.heap.size %s + memory.managed.size %s: the process size they "
                   "imply is too large",
                   heap->v.text, managed->v.text);
            return -EINVAL;
        }
        if (p.task_heap < WEIR_TASK_HEAP_MIN) {
            weir_format_size(WEIR_TASK_HEAP_MIN, b, sizeof b);
            seterr(err, errlen, "memory.task.heap.size %s is less than the minimum task heap, %s",
                   size_desc(heap, a, sizeof a), b);
            return -EINVAL;
        }
    } else {
        p.process = proc->v.size;
        p.overhead = clamp_u64(mul_frac(p.process, of), omin, omax);
        uint64_t total = p.process > p.overhead ? p.process - p.overhead : 0;
        p.network = clamp_u64(mul_frac(total, nf), nmin, nmax);
        p.managed = managed_set ? managed->v.size
                                : mul_frac(total, ent(c, "memory.managed.fraction")->v.ppq);
        uint64_t heap_need = heap_set ? heap->v.size : WEIR_TASK_HEAP_MIN;
        uint64_t sum = add_sat(
            add_sat(add_sat(p.overhead, p.framework), add_sat(p.network, p.managed)), heap_need);
        if (heap_set && heap->v.size < WEIR_TASK_HEAP_MIN) {
            weir_format_size(WEIR_TASK_HEAP_MIN, b, sizeof b);
            seterr(err, errlen, "memory.task.heap.size %s is less than the minimum task heap, %s",
                   size_desc(heap, a, sizeof a), b);
            return -EINVAL;
        }
        if (sum > p.process) {
            weir_format_size(p.overhead, parts[0], sizeof parts[0]);
            weir_format_size(p.framework, parts[1], sizeof parts[1]);
            weir_format_size(p.network, parts[2], sizeof parts[2]);
            weir_format_size(p.managed, parts[3], sizeof parts[3]);
            weir_format_size(heap_need, parts[4], sizeof parts[4]);
            weir_format_size(sum, total_s, sizeof total_s);
            seterr(err, errlen,
                   "memory pools do not fit in memory.process.size %s: memory.overhead.* %s + "
                   "memory.framework.size %s + memory.network.* %s + %s %s + "
                   "memory.task.heap.size %s%s = %s",
                   size_desc(proc, a, sizeof a), parts[0], parts[1], parts[2],
                   managed_set ? "memory.managed.size" : "memory.managed.fraction", parts[3],
                   parts[4], heap_set ? "" : " (the minimum)", total_s);
            return -EINVAL;
        }
        p.task_heap = heap_set ? heap->v.size : p.process - (sum - heap_need);
        c->unused = heap_set ? p.process - sum : 0;
    }
    c->pools = p;
    return 0;
}

int weir_config_resolve(weir_config *c, char *err, size_t errlen)
{
    char a[96], b[32], from[PATH_MAX + 32];
    uint64_t limit;
    int rc;

    if (!c) {
        seterr(err, errlen, "weir_config_resolve: config is NULL");
        return -EINVAL;
    }
    c->resolved = false;
    /* Values derived by an earlier resolve are not inputs. */
    for (size_t i = 0; i < weir_config_key_count; i++) {
        if (c->e[i].src == SRC_DERIVED) {
            rc = entry_reset(&c->e[i], &weir_config_keys[i]);
            if (rc < 0)
                goto oom;
        }
    }

    int64_t par = ent(c, "parallelism.default")->v.i;
    int64_t maxpar = ent(c, "pipeline.max-parallelism")->v.i;
    if (par > maxpar) {
        seterr(err, errlen,
               "parallelism.default %" PRId64 " is greater than pipeline.max-parallelism %" PRId64
               "; a keyed operator cannot have more subtasks than key groups",
               par, maxpar);
        return -EINVAL;
    }
    if ((rc = check_min_max(c, "memory.network.min", "memory.network.max", err, errlen)) < 0 ||
        (rc = check_min_max(c, "memory.overhead.min", "memory.overhead.max", err, errlen)) < 0)
        return rc;
    if ((rc = compute_pools(c, err, errlen)) < 0)
        return rc;

    if (c->test_limit) {
        limit = c->test_limit;
        snprintf(from, sizeof from, "the test limit");
    } else if ((rc = weir_machine_memory_limit(&limit, from, sizeof from)) < 0) {
        const char *test = getenv("WEIR_TEST_MEMORY_LIMIT");
        if (test && *test)
            seterr(err, errlen, "WEIR_TEST_MEMORY_LIMIT: %s: expected a size like 4g",
                   quote(test, a, sizeof a));
        else
            seterr(err, errlen, "memory.process.size: cannot find this machine's memory: %s",
                   strerror(-rc));
        return rc;
    }
    if (c->pools.process > limit) {
        char canon[32], human[32];
        weir_format_size(limit, b, sizeof b);
        if (c->process_derived) {
            canonical_size(c->pools.process, canon, sizeof canon);
            weir_format_size(c->pools.process, human, sizeof human);
            snprintf(a, sizeof a, "%s (%s, the sum of the pools)", canon, human);
        } else {
            size_desc(ent(c, "memory.process.size"), a, sizeof a);
        }
        seterr(err, errlen, "memory.process.size %s is more than this machine allows, %s (%s)", a,
               b, from);
        return -EINVAL;
    }

    uint64_t seg = ent(c, "memory.segment-size")->v.size;
    int64_t per_channel = ent(c, "network.buffers-per-channel")->v.i;
    if (c->pools.network / seg < (uint64_t)per_channel) {
        char seg_s[32];
        weir_format_size(c->pools.network, b, sizeof b);
        canonical_size(seg, seg_s, sizeof seg_s);
        seterr(err, errlen,
               "memory.network.* %s holds %" PRIu64 " buffers of memory.segment-size %s, fewer "
               "than one channel needs (network.buffers-per-channel %" PRId64 ")",
               b, c->pools.network / seg, seg_s, per_channel);
        return -EINVAL;
    }

    /* The derived sizes become readable through the getters and visible in print. */
    if (!weir_config_is_set(c, "memory.task.heap.size") &&
        store_derived(c, "memory.task.heap.size", c->pools.task_heap) < 0)
        goto oom;
    if (!weir_config_is_set(c, "memory.managed.size") &&
        store_derived(c, "memory.managed.size", c->pools.managed) < 0)
        goto oom;
    if (c->process_derived && store_derived(c, "memory.process.size", c->pools.process) < 0)
        goto oom;
    c->resolved = true;
    return 0;
oom:
    seterr(err, errlen, "out of memory");
    return -ENOMEM;
}

const struct weir_memory_pools *weir_config_pools(const weir_config *c)
{
    if (!c || !c->resolved)
        misuse(__func__, "", "called before a successful weir_config_resolve");
    return &c->pools;
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
            canonical_size(e->v.size, val, sizeof val);
            weir_format_size(e->v.size, human, sizeof human);
            break;
        case WEIR_CONFIG_DURATION:
            canonical_duration(e->v.i, val, sizeof val);
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
            print_yaml_string(e->v.text ? e->v.text : "", val, sizeof val);
            break;
        }
        switch (e->src) {
        case SRC_DEFAULT:
            snprintf(note, sizeof note, "(default)");
            break;
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

void weir_config_print_pools(const weir_config *c, FILE *out)
{
    char s[32];
    if (!c || !c->resolved) {
        fprintf(out, "memory pools: not resolved\n");
        return;
    }
    const struct weir_memory_pools *p = &c->pools;
    weir_format_size(p->process, s, sizeof s);
    fprintf(out, "memory pools (memory.process.size = %s%s)\n", s,
            c->process_derived ? ", the sum of the pools" : "");
    fprintf(out, "  %-11s %-11s %s\n", "pool", "size", "key");
    const struct {
        const char *name;
        uint64_t bytes;
        const char *key;
    } rows[] = {
        {"framework", p->framework, "memory.framework.size"},
        {"task heap", p->task_heap, "memory.task.heap.size"},
        {"managed", p->managed,
         weir_config_is_set(c, "memory.managed.size") ? "memory.managed.size"
                                                      : "memory.managed.fraction"},
        {"network", p->network, "memory.network.{fraction,min,max}"},
        {"overhead", p->overhead, "memory.overhead.{fraction,min,max}"},
        {"unused", c->unused, "(memory.task.heap.size is set; nothing takes the rest)"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        if (i == 5 && c->unused == 0)
            break;
        weir_format_size(rows[i].bytes, s, sizeof s);
        fprintf(out, "  %-11s %-11s %s\n", rows[i].name, s, rows[i].key);
    }
}
