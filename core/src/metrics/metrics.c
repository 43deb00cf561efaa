/*
 * Metrics registry: families of series, a sampler thread for rates, and the
 * Prometheus text renderer.
 *
 * A family is one metric name with its help and type; it owns its series in
 * registration order, and families render in the order their first series was
 * registered, so one name's lines are always together under one # HELP/# TYPE
 * header as the exposition format requires.
 *
 * Everything below `lock` is touched only with the lock held: registration,
 * removal, sampling and rendering. Values are read with relaxed loads: each is a
 * single-writer counter or gauge and a scrape needs no ordering with anything else.
 */
#include <weir/metrics.h>

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NS_PER_S       1000000000ull
#define MAX_WINDOW_S   86400
#define SAMPLE_EVERY_S 1

enum series_kind { SERIES_U64, SERIES_FN, SERIES_RATE };

/* The last window_s + 1 samples of a counter: a ring, newest at head. */
struct rate {
    uint64_t *t_ns;
    uint64_t *count;
    unsigned cap, n, head;
    double per_ns; /* rate = d(count) * per_ns / d(t_ns) */
    double max;    /* clamp, or INFINITY */
};

struct series {
    struct series *next;
    char *labels;
    enum series_kind kind;
    const _Atomic uint64_t *value; /* SERIES_U64, SERIES_RATE */
    double (*fn)(void *arg);       /* SERIES_FN */
    void *arg;
    struct rate rate; /* SERIES_RATE */
};

struct family {
    struct family *next;
    char *name;
    char *help;
    enum weir_metric_type type;
    struct series *first, **tail;
};

struct weir_metrics {
    pthread_mutex_t lock;
    struct family *families, **families_tail;
    unsigned n_rates;
    uint64_t (*now_ns)(void *arg);
    void *now_arg;
    bool manual_clock;

    /* Sampler thread: started with the first rate, stopped by _free. */
    pthread_cond_t wake;
    bool sampler_running;
    bool stopping;
    pthread_t sampler;
};

static uint64_t monotonic_ns(void *arg)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

weir_metrics *weir_metrics_new(void)
{
    weir_metrics *m = calloc(1, sizeof(*m));
    pthread_condattr_t attr;
    bool have_mutex = false;

    if (!m)
        return NULL;
    if (pthread_mutex_init(&m->lock, NULL) != 0)
        goto err;
    have_mutex = true;
    /* The sampler sleeps until absolute monotonic deadlines, so wall-clock steps
     * neither stall nor hurry it. */
    if (pthread_condattr_init(&attr) != 0)
        goto err;
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    if (pthread_cond_init(&m->wake, &attr) != 0) {
        pthread_condattr_destroy(&attr);
        goto err;
    }
    pthread_condattr_destroy(&attr);
    m->families_tail = &m->families;
    m->now_ns = monotonic_ns;
    return m;

err:
    if (have_mutex)
        pthread_mutex_destroy(&m->lock);
    free(m);
    return NULL;
}

static void series_free(struct series *s)
{
    if (!s)
        return;
    free(s->rate.t_ns);
    free(s->rate.count);
    free(s->labels);
    free(s);
}

static void family_free(struct family *f)
{
    struct series *s, *next;

    for (s = f->first; s; s = next) {
        next = s->next;
        series_free(s);
    }
    free(f->name);
    free(f->help);
    free(f);
}

void weir_metrics_free(weir_metrics *m)
{
    struct family *f, *next;

    if (!m)
        return;
    pthread_mutex_lock(&m->lock);
    m->stopping = true;
    pthread_cond_signal(&m->wake);
    pthread_mutex_unlock(&m->lock);
    if (m->sampler_running)
        pthread_join(m->sampler, NULL);

    for (f = m->families; f; f = next) {
        next = f->next;
        family_free(f);
    }
    pthread_cond_destroy(&m->wake);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

/* ---- names and labels ------------------------------------------------------ */

static bool is_name_char(char c, bool first)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
           (!first && c >= '0' && c <= '9');
}

static bool is_label_name_char(char c, bool first)
{
    return c != ':' && is_name_char(c, first);
}

/* Flink's reporter replaces what Prometheus does not allow in a name by '_'. */
static char *sanitized_name(const char *name)
{
    size_t n = strlen(name);
    bool lead_digit = name[0] >= '0' && name[0] <= '9';
    char *out = malloc(n + 1 + lead_digit);
    char *p = out;

    if (!out)
        return NULL;
    if (lead_digit)
        *p++ = '_';
    for (size_t i = 0; i < n; i++)
        *p++ = is_name_char(name[i], false) ? name[i] : '_';
    *p = '\0';
    return out;
}

/* label="value"(,label="value")*, values escaped: the string goes into the output
 * verbatim, so anything that could break a scrape is refused here. */
static bool labels_valid(const char *s)
{
    if (*s == '\0')
        return true;
    for (;;) {
        if (!is_label_name_char(*s, true))
            return false;
        while (is_label_name_char(*s, false))
            s++;
        if (*s++ != '=' || *s++ != '"')
            return false;
        for (; *s != '"'; s++) {
            if (*s == '\0' || *s == '\n')
                return false;
            if (*s == '\\') {
                s++;
                if (*s != '\\' && *s != '"' && *s != 'n')
                    return false;
            }
        }
        s++;
        if (*s == '\0')
            return true;
        if (*s++ != ',')
            return false;
    }
}

int weir_metrics_labels_append(char *buf, size_t cap, const char *key, const char *value)
{
    size_t used, need, i;
    char *p;

    if (!buf || !key || !value || !is_label_name_char(key[0], true))
        return -EINVAL;
    for (i = 1; key[i]; i++)
        if (!is_label_name_char(key[i], false))
            return -EINVAL;
    used = strnlen(buf, cap);
    if (used == cap)
        return -EINVAL; /* not a string */

    need = used + (used > 0) + strlen(key) + 3 /* =" " */ + 1 /* NUL */;
    for (i = 0; value[i]; i++)
        need += (value[i] == '\\' || value[i] == '"' || value[i] == '\n') ? 2 : 1;
    if (need > cap)
        return -ENOSPC;

    p = buf + used;
    if (used > 0)
        *p++ = ',';
    p = stpcpy(p, key);
    *p++ = '=';
    *p++ = '"';
    for (i = 0; value[i]; i++) {
        char c = value[i];
        if (c == '\\' || c == '"' || c == '\n') {
            *p++ = '\\';
            c = c == '\n' ? 'n' : c;
        }
        *p++ = c;
    }
    *p++ = '"';
    *p = '\0';
    return 0;
}

/* ---- registration ---------------------------------------------------------- */

static void *sampler_main(void *arg);

/* Takes ownership of s (freed on failure). Called with the lock held. */
static int add_series(weir_metrics *m, const char *name, const char *help,
                      enum weir_metric_type type, struct series *s)
{
    struct family *f;
    char *clean = sanitized_name(name);
    int rc;

    if (!clean) {
        rc = -ENOMEM;
        goto err;
    }
    for (f = m->families; f; f = f->next)
        if (strcmp(f->name, clean) == 0)
            break;
    if (f) {
        if (f->type != type) {
            rc = -EINVAL;
            goto err;
        }
        for (struct series *o = f->first; o; o = o->next)
            if (strcmp(o->labels, s->labels) == 0) {
                rc = -EEXIST;
                goto err;
            }
        free(clean);
    } else {
        f = calloc(1, sizeof(*f));
        if (!f || !(f->help = strdup(help ? help : ""))) {
            free(f);
            rc = -ENOMEM;
            goto err;
        }
        f->name = clean;
        f->type = type;
        f->tail = &f->first;
        *m->families_tail = f;
        m->families_tail = &f->next;
    }
    *f->tail = s;
    f->tail = &s->next;
    return 0;

err:
    free(clean);
    series_free(s);
    return rc;
}

static struct series *series_new(const char *labels)
{
    struct series *s;

    if (!labels)
        labels = "";
    s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->labels = strdup(labels);
    if (!s->labels) {
        free(s);
        return NULL;
    }
    return s;
}

static bool args_valid(const weir_metrics *m, const char *name, const char *labels)
{
    return m && name && name[0] && (!labels || labels_valid(labels));
}

int weir_metrics_add_u64(weir_metrics *m, const char *name, const char *help,
                         enum weir_metric_type type, const char *labels,
                         const _Atomic uint64_t *value)
{
    struct series *s;
    int rc;

    if (!args_valid(m, name, labels) || !value ||
        (type != WEIR_METRIC_COUNTER && type != WEIR_METRIC_GAUGE))
        return -EINVAL;
    s = series_new(labels);
    if (!s)
        return -ENOMEM;
    s->kind = SERIES_U64;
    s->value = value;
    pthread_mutex_lock(&m->lock);
    rc = add_series(m, name, help, type, s);
    pthread_mutex_unlock(&m->lock);
    return rc;
}

int weir_metrics_add_fn(weir_metrics *m, const char *name, const char *help, const char *labels,
                        double (*fn)(void *arg), void *arg)
{
    struct series *s;
    int rc;

    if (!args_valid(m, name, labels) || !fn)
        return -EINVAL;
    s = series_new(labels);
    if (!s)
        return -ENOMEM;
    s->kind = SERIES_FN;
    s->fn = fn;
    s->arg = arg;
    pthread_mutex_lock(&m->lock);
    rc = add_series(m, name, help, WEIR_METRIC_GAUGE, s);
    pthread_mutex_unlock(&m->lock);
    return rc;
}

/* Called with the lock held. */
static void rate_sample(struct rate *r, uint64_t t_ns, uint64_t count)
{
    /* Two samples at one instant say nothing about a rate: keep the later count. */
    if (r->n == 0 || r->t_ns[r->head] != t_ns) {
        r->head = r->n == 0 ? 0 : (r->head + 1) % r->cap;
        if (r->n < r->cap)
            r->n++;
    }
    r->t_ns[r->head] = t_ns;
    r->count[r->head] = count;
}

static double rate_value(const struct rate *r)
{
    unsigned oldest;
    uint64_t dt, dc;
    double v;

    if (r->n < 2)
        return 0.0;
    oldest = (r->head + r->cap - (r->n - 1)) % r->cap;
    dt = r->t_ns[r->head] - r->t_ns[oldest];
    /* Unsigned difference: right across a wrap of the counter. */
    dc = r->count[r->head] - r->count[oldest];
    if (dt == 0)
        return 0.0;
    v = (double)dc * r->per_ns / (double)dt;
    return v > r->max ? r->max : v;
}

static int add_rate(weir_metrics *m, const char *name, const char *help, const char *labels,
                    const _Atomic uint64_t *counter, int window_s, double per_ns, double max)
{
    struct series *s;
    int rc = 0;

    if (!args_valid(m, name, labels) || !counter || window_s < 1 || window_s > MAX_WINDOW_S)
        return -EINVAL;
    s = series_new(labels);
    if (!s)
        return -ENOMEM;
    s->kind = SERIES_RATE;
    s->value = counter;
    s->rate.cap = (unsigned)window_s + 1;
    s->rate.per_ns = per_ns;
    s->rate.max = max;
    s->rate.t_ns = calloc(s->rate.cap, sizeof(uint64_t));
    s->rate.count = calloc(s->rate.cap, sizeof(uint64_t));
    if (!s->rate.t_ns || !s->rate.count) {
        series_free(s);
        return -ENOMEM;
    }

    pthread_mutex_lock(&m->lock);
    if (!m->sampler_running && !m->manual_clock) {
        rc = -pthread_create(&m->sampler, NULL, sampler_main, m);
        if (rc < 0) {
            series_free(s);
            goto out;
        }
        m->sampler_running = true;
    }
    rate_sample(&s->rate, m->now_ns(m->now_arg),
                atomic_load_explicit(counter, memory_order_relaxed));
    rc = add_series(m, name, help, WEIR_METRIC_GAUGE, s);
    if (rc == 0)
        m->n_rates++;
out:
    pthread_mutex_unlock(&m->lock);
    return rc;
}

int weir_metrics_add_meter(weir_metrics *m, const char *name, const char *help, const char *labels,
                           const _Atomic uint64_t *counter, int window_s)
{
    return add_rate(m, name, help, labels, counter, window_s, (double)NS_PER_S, INFINITY);
}

int weir_metrics_add_time_share(weir_metrics *m, const char *name, const char *help,
                                const char *labels, const _Atomic uint64_t *ns_counter,
                                int window_s)
{
    /* ns in state per ns of time, times 1000 ms per second. */
    return add_rate(m, name, help, labels, ns_counter, window_s, 1000.0, 1000.0);
}

/* "" matches everything; otherwise labels must equal the prefix or continue
 * with the next pair. */
static bool labels_start_with(const char *labels, const char *prefix, size_t plen)
{
    return plen == 0 ||
           (strncmp(labels, prefix, plen) == 0 && (labels[plen] == '\0' || labels[plen] == ','));
}

int weir_metrics_remove(weir_metrics *m, const char *labels_prefix)
{
    struct family **fp, *f;
    size_t plen;
    int removed = 0;

    if (!m || !labels_prefix)
        return 0;
    plen = strlen(labels_prefix);
    pthread_mutex_lock(&m->lock);
    for (fp = &m->families; (f = *fp);) {
        struct series **sp, *s;

        for (sp = &f->first; (s = *sp);) {
            if (labels_start_with(s->labels, labels_prefix, plen)) {
                *sp = s->next;
                if (s->kind == SERIES_RATE)
                    m->n_rates--;
                series_free(s);
                removed++;
            } else {
                sp = &s->next;
            }
        }
        f->tail = sp;
        if (!f->first) {
            *fp = f->next;
            family_free(f);
        } else {
            fp = &f->next;
        }
    }
    m->families_tail = fp;
    pthread_mutex_unlock(&m->lock);
    return removed;
}

/* ---- sampling -------------------------------------------------------------- */

static void sample_locked(weir_metrics *m)
{
    uint64_t now = m->now_ns(m->now_arg);

    for (struct family *f = m->families; f; f = f->next)
        for (struct series *s = f->first; s; s = s->next)
            if (s->kind == SERIES_RATE)
                rate_sample(&s->rate, now, atomic_load_explicit(s->value, memory_order_relaxed));
}

void weir_metrics_sample_now(weir_metrics *m)
{
    if (!m)
        return;
    pthread_mutex_lock(&m->lock);
    sample_locked(m);
    pthread_mutex_unlock(&m->lock);
}

void weir_metrics_set_clock(weir_metrics *m, uint64_t (*now_ns)(void *arg), void *arg)
{
    if (!m)
        return;
    pthread_mutex_lock(&m->lock);
    m->now_ns = now_ns ? now_ns : monotonic_ns;
    m->now_arg = now_ns ? arg : NULL;
    m->manual_clock = now_ns != NULL;
    pthread_mutex_unlock(&m->lock);
}

static void *sampler_main(void *arg)
{
    weir_metrics *m = arg;
    struct timespec next;

    pthread_setname_np(pthread_self(), "weir-metrics");
    clock_gettime(CLOCK_MONOTONIC, &next);
    pthread_mutex_lock(&m->lock);
    while (!m->stopping) {
        /* Absolute deadlines: one sample per second on average, however long a
         * sample or a render holding the lock took. */
        next.tv_sec += SAMPLE_EVERY_S;
        while (!m->stopping && pthread_cond_timedwait(&m->wake, &m->lock, &next) != ETIMEDOUT)
            ;
        if (!m->stopping && !m->manual_clock && m->n_rates > 0)
            sample_locked(m);
    }
    pthread_mutex_unlock(&m->lock);
    return NULL;
}

/* ---- rendering ------------------------------------------------------------- */

/* Shortest text that reads back as the same double; Prometheus spells the
 * specials NaN, +Inf, -Inf. */
static void put_double(FILE *out, double v)
{
    char buf[32];

    if (isnan(v)) {
        fputs("NaN", out);
        return;
    }
    if (isinf(v)) {
        fputs(v > 0 ? "+Inf" : "-Inf", out);
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof(buf), "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    fputs(buf, out);
}

/* HELP text escapes backslash and newline (not quotes). */
static void put_help(FILE *out, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\')
            fputs("\\\\", out);
        else if (*s == '\n')
            fputs("\\n", out);
        else
            fputc(*s, out);
    }
}

int weir_metrics_render(weir_metrics *m, char **out, size_t *len)
{
    char *buf = NULL;
    size_t size = 0;
    FILE *f;
    int rc = 0;

    if (!m || !out || !len)
        return -EINVAL;
    f = open_memstream(&buf, &size);
    if (!f)
        return -ENOMEM;

    pthread_mutex_lock(&m->lock);
    for (struct family *fam = m->families; fam; fam = fam->next) {
        if (fam->help[0]) {
            fprintf(f, "# HELP %s ", fam->name);
            put_help(f, fam->help);
            fputc('\n', f);
        }
        fprintf(f, "# TYPE %s %s\n", fam->name,
                fam->type == WEIR_METRIC_COUNTER ? "counter" : "gauge");
        for (struct series *s = fam->first; s; s = s->next) {
            fputs(fam->name, f);
            if (s->labels[0])
                fprintf(f, "{%s}", s->labels);
            fputc(' ', f);
            switch (s->kind) {
            case SERIES_U64:
                fprintf(f, "%llu",
                        (unsigned long long)atomic_load_explicit(s->value, memory_order_relaxed));
                break;
            case SERIES_FN:
                put_double(f, s->fn(s->arg));
                break;
            case SERIES_RATE:
                put_double(f, rate_value(&s->rate));
                break;
            }
            fputc('\n', f);
        }
    }
    pthread_mutex_unlock(&m->lock);

    if (ferror(f))
        rc = -ENOMEM;
    if (fclose(f) != 0)
        rc = -ENOMEM;
    if (rc < 0) {
        free(buf);
        return rc;
    }
    *out = buf;
    *len = size;
    return 0;
}
