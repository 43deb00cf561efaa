/*
 * Units as Flink writes them: sizes (MemoryUnit labels), durations (TimeUtils labels), port
 * ranges and decimal fractions; and the canonical text print shows for a size or a duration.
 */
#include "config_private.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *config_skip_space(const char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    return s;
}

/* The text between leading and trailing white space, lowercased, into buf. */
static int unit_label(const char *s, char *buf, size_t len)
{
    s = config_skip_space(s);
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
    const char *s = config_skip_space(*sp);
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
void config_canonical_size(uint64_t b, char *buf, size_t len)
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

void config_canonical_duration(int64_t ms, char *buf, size_t len)
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
    s = config_skip_space(s);
    b = a;
    if (*s == '-') {
        s++;
        if (leading_number(&s, &b) < 0)
            return -EINVAL;
        s = config_skip_space(s);
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
int config_parse_decimal(const char *s, double *d, uint64_t *ppq, bool *ge_one)
{
    const char *p = config_skip_space(s), *mant, *end;
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
    if (*config_skip_space(p) != '\0')
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
