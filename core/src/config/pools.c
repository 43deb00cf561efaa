/*
 * Resolve: the cross-key checks, Flink's memory model (process size split into framework,
 * task heap, managed, network and overhead pools, or the process size derived from the
 * parts), the check against this machine's memory or cgroup limit, and the pool table.
 */
#include "config_private.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
    return &c->e[config_key_index(weir_config_key_find(key))];
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
        config_canonical_size(e->v.size, canon, sizeof canon);
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
    errbuf_printf(err, errlen, "%s %s is greater than %s %s", min_key, size_desc(lo, a, sizeof a),
                  max_key, size_desc(hi, b, sizeof b));
    return -EINVAL;
}

static int store_derived(weir_config *c, const char *key, uint64_t bytes)
{
    struct entry *e = &c->e[config_key_index(weir_config_key_find(key))];
    char canon[32];
    config_canonical_size(bytes, canon, sizeof canon);
    char *t = strdup(canon);
    if (!t)
        return -ENOMEM;
    config_entry_clear(e);
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
            errbuf_printf(
                err, errlen,
                "memory.task.heap.size %s + memory.managed.size %s: the process size they "
                "imply is too large",
                heap->v.text, managed->v.text);
            return -EINVAL;
        }
        if (p.task_heap < WEIR_TASK_HEAP_MIN) {
            weir_format_size(WEIR_TASK_HEAP_MIN, b, sizeof b);
            errbuf_printf(err, errlen,
                          "memory.task.heap.size %s is less than the minimum task heap, %s",
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
            errbuf_printf(err, errlen,
                          "memory.task.heap.size %s is less than the minimum task heap, %s",
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
            errbuf_printf(
                err, errlen,
                "memory pools do not fit in memory.process.size %s: memory.overhead.* %s + "
                "memory.framework.size %s + memory.network.* %s + %s %s + "
                "memory.task.heap.size %s%s = %s",
                size_desc(proc, a, sizeof a), parts[0], parts[1], parts[2],
                managed_set ? "memory.managed.size" : "memory.managed.fraction", parts[3], parts[4],
                heap_set ? "" : " (the minimum)", total_s);
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
        errbuf_printf(err, errlen, "weir_config_resolve: config is NULL");
        return -EINVAL;
    }
    c->resolved = false;
    /* Values derived by an earlier resolve are not inputs. */
    for (size_t i = 0; i < weir_config_key_count; i++) {
        if (c->e[i].src == SRC_DERIVED) {
            rc = config_entry_reset(&c->e[i], &weir_config_keys[i]);
            if (rc < 0)
                goto oom;
        }
    }

    int64_t par = ent(c, "parallelism.default")->v.i;
    int64_t maxpar = ent(c, "pipeline.max-parallelism")->v.i;
    if (par > maxpar) {
        errbuf_printf(err, errlen,
                      "parallelism.default %" PRId64
                      " is greater than pipeline.max-parallelism %" PRId64
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
            errbuf_printf(err, errlen, "WEIR_TEST_MEMORY_LIMIT: %s: expected a size like 4g",
                          config_quote(test, a, sizeof a));
        else
            errbuf_printf(err, errlen, "memory.process.size: cannot find this machine's memory: %s",
                          strerror(-rc));
        return rc;
    }
    if (c->pools.process > limit) {
        char canon[32], human[32];
        weir_format_size(limit, b, sizeof b);
        if (c->process_derived) {
            config_canonical_size(c->pools.process, canon, sizeof canon);
            weir_format_size(c->pools.process, human, sizeof human);
            snprintf(a, sizeof a, "%s (%s, the sum of the pools)", canon, human);
        } else {
            size_desc(ent(c, "memory.process.size"), a, sizeof a);
        }
        errbuf_printf(err, errlen,
                      "memory.process.size %s is more than this machine allows, %s (%s)", a, b,
                      from);
        return -EINVAL;
    }

    uint64_t seg = ent(c, "memory.segment-size")->v.size;
    int64_t per_channel = ent(c, "network.buffers-per-channel")->v.i;
    if (c->pools.network / seg < (uint64_t)per_channel) {
        char seg_s[32];
        weir_format_size(c->pools.network, b, sizeof b);
        config_canonical_size(seg, seg_s, sizeof seg_s);
        errbuf_printf(err, errlen,
                      "memory.network.* %s holds %" PRIu64
                      " buffers of memory.segment-size %s, fewer "
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
    errbuf_printf(err, errlen, "out of memory");
    return -ENOMEM;
}

const struct weir_memory_pools *weir_config_pools(const weir_config *c)
{
    if (!c || !c->resolved)
        config_misuse(__func__, "", "called before a successful weir_config_resolve");
    return &c->pools;
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
