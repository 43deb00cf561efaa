/*
 * Planning: resolves every operator's parallelism and every edge's
 * partitioning, then cuts the graph into chains (Flink's operator chaining):
 * operators joined by a forward edge of equal parallelism, with one output and
 * one input, run as one task and call each other directly.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <weir/config.h>

#include "graph_private.h"

/* Whether path, or the nearest of its ancestors that exists, is `dir` or inside it: walks
 * up the resolved path comparing each directory with dir by device and inode. */
static bool inside(const char *path, const struct stat *dir)
{
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s", *path ? path : ".");
    char *real = NULL;
    while (!(real = realpath(p, NULL))) {
        char *slash = strrchr(p, '/');
        if (!slash) {
            snprintf(p, sizeof p, ".");
            if (!(real = realpath(p, NULL)))
                return false;
            break;
        }
        slash[slash == p] = 0; /* "/x" -> "/" */
    }
    bool found = false;
    for (;;) {
        struct stat st;
        if (stat(real, &st) == 0 && st.st_dev == dir->st_dev && st.st_ino == dir->st_ino) {
            found = true;
            break;
        }
        char *slash = strrchr(real, '/');
        if (!slash || slash == real) {
            found = stat("/", &st) == 0 && st.st_dev == dir->st_dev && st.st_ino == dir->st_ino;
            break;
        }
        *slash = 0;
    }
    free(real);
    return found;
}

/* A sink that writes what a source reads would empty or rewrite its own input: refused at
 * plan time, whatever builds the job (the CLI checks its INPUT and OUTPUT too). */
static int check_io_paths(weir_job *job, char *err, size_t errlen)
{
    for (int i = 0; i < job->n_nodes; i++) {
        const struct node *w = job->nodes[i];
        if (!w->io_path || !w->io_writes)
            continue;
        struct stat sw;
        bool w_exists = stat(w->io_path, &sw) == 0;
        for (int j = 0; j < job->n_nodes; j++) {
            const struct node *r = job->nodes[j];
            struct stat sr;
            if (!r->io_path || r->io_writes || stat(r->io_path, &sr) < 0)
                continue; /* a missing input is the source's error */
            const char *how = NULL;
            if (w_exists && sw.st_dev == sr.st_dev && sw.st_ino == sr.st_ino)
                how = "is";
            else if (w_exists && S_ISDIR(sw.st_mode) && inside(r->io_path, &sw))
                how = "holds";
            else if (S_ISDIR(sr.st_mode) && inside(w->io_path, &sr))
                how = "is inside";
            if (how) {
                snprintf(err, errlen,
                         "sink \"%s\" writes \"%s\", which %s \"%s\" that source \"%s\" "
                         "reads: a job must not write where it reads; give the sink another path",
                         w->uid, w->io_path, how, r->io_path, r->uid);
                return -EINVAL;
            }
        }
    }
    return 0;
}

static bool chainable(const struct edge *e)
{
    return e->eff == PART_FORWARD && !e->tag && e->from->p == e->to->p && e->from->n_out == 1 &&
           e->to->n_in == 1;
}

int plan_build(struct plan *pl, weir_job *job, int max_parallelism, int default_p, char *err,
               size_t errlen)
{
    if (job->n_nodes == 0) {
        snprintf(err, errlen, "job %s: has no operators", job->name);
        return -EINVAL;
    }
    bool any_sink = false;
    for (int i = 0; i < job->n_nodes; i++) {
        struct node *n = job->nodes[i];
        n->p = n->parallelism ? n->parallelism : default_p;
        if (n->p > max_parallelism) {
            snprintf(err, errlen,
                     "operator \"%s\": parallelism %d exceeds pipeline.max-parallelism %d: "
                     "raise pipeline.max-parallelism or lower the parallelism",
                     n->uid, n->p, max_parallelism);
            return -EINVAL;
        }
        if (n->type == NODE_SINK)
            any_sink = true;
        if (n->type != NODE_SINK && !n->stream_used) {
            snprintf(err, errlen,
                     "operator \"%s\": its output goes nowhere; add a sink (e.g. "
                     "weir_sink_blackhole) or remove it",
                     n->uid);
            return -EINVAL;
        }
        if (n->type == NODE_SOURCE && n->n_in) {
            snprintf(err, errlen, "source \"%s\" has inputs", n->uid);
            return -EINVAL;
        }
    }
    if (!any_sink) {
        snprintf(err, errlen, "job %s: has no sink", job->name);
        return -EINVAL;
    }
    for (int i = 0; i < job->n_nodes; i++) {
        struct node *n = job->nodes[i];
        for (int j = 0; j < n->n_in; j++) {
            struct edge *e = n->in[j];
            if (e->part == PART_FORWARD && e->from->p != e->to->p) {
                snprintf(err, errlen,
                         "forward edge \"%s\" -> \"%s\" joins parallelism %d to %d; use "
                         "rebalance or key_by, or give both the same parallelism",
                         e->from->uid, e->to->uid, e->from->p, e->to->p);
                return -EINVAL;
            }
            e->eff = e->part;
            if (e->part == PART_DEFAULT) /* Flink's rule for an unspecified edge */
                e->eff = e->from->p == e->to->p ? PART_FORWARD : PART_REBALANCE;
        }
    }
    /* Chains: start at every node whose input is not chainable, follow forward. */
    pl->chains = calloc((size_t)job->n_nodes, sizeof *pl->chains);
    pl->chain_len = calloc((size_t)job->n_nodes, sizeof *pl->chain_len);
    if (!pl->chains || !pl->chain_len)
        goto err;
    for (int i = 0; i < job->n_nodes; i++)
        job->nodes[i]->chain = -1;
    for (int i = 0; i < job->n_nodes; i++) {
        struct node *n = job->nodes[i];
        if (n->n_in == 1 && chainable(n->in[0]))
            continue;
        int c = pl->n_chains++;
        pl->chains[c] = calloc((size_t)job->n_nodes, sizeof(struct node *));
        if (!pl->chains[c])
            goto err;
        for (struct node *m = n;;) {
            m->chain = c;
            m->chain_pos = pl->chain_len[c];
            pl->chains[c][pl->chain_len[c]++] = m;
            if (m->n_out == 1 && chainable(m->out[0]))
                m = m->out[0]->to;
            else
                break;
        }
    }
    return check_io_paths(job, err, errlen);
err:
    snprintf(err, errlen, "out of memory while planning job %s", job->name);
    return -ENOMEM;
}

char *plan_chain_name(const struct plan *pl, int c)
{
    size_t len = 1;
    for (int i = 0; i < pl->chain_len[c]; i++)
        len += strlen(pl->chains[c][i]->name) + 4;
    char *s = malloc(len);
    if (!s)
        return NULL;
    s[0] = 0;
    for (int i = 0; i < pl->chain_len[c]; i++) {
        if (i)
            strcat(s, " -> ");
        strcat(s, pl->chains[c][i]->name);
    }
    return s;
}

/* --- set-up --------------------------------------------------------------- */

/* "[datagen -> map x2] =hash=> [blackhole x2]": chains with their parallelism and
 * the partitioning of every edge between chains. */
int plan_describe(const struct plan *pl, char *buf, size_t len)
{
    size_t o = 0;
#define OUT(...)                                                                                   \
    do {                                                                                           \
        int n_ = snprintf(buf + o, o < len ? len - o : 0, __VA_ARGS__);                            \
        if (n_ > 0)                                                                                \
            o += (size_t)n_;                                                                       \
    } while (0)
    for (int c = 0; c < pl->n_chains; c++) {
        if (c)
            OUT("; ");
        OUT("[");
        for (int i = 0; i < pl->chain_len[c]; i++)
            OUT("%s%s", i ? " -> " : "", pl->chains[c][i]->name);
        OUT(" x%d]", pl->chains[c][0]->p);
        struct node *tail = pl->chains[c][pl->chain_len[c] - 1];
        for (int e = 0; e < tail->n_out; e++)
            OUT(" =%s=> %s", part_str(tail->out[e]->eff), tail->out[e]->to->name);
    }
#undef OUT
    return (int)o;
}

int weir_job_describe_plan(weir_job *job, struct weir_config *cfg, int parallelism, char *buf,
                           size_t len, char *err, size_t errlen)
{
    struct plan pl = {0};
    int max_parallelism = (int)weir_config_get_int(cfg, "pipeline.max-parallelism");
    int rc = -EINVAL;
    if (job->error)
        snprintf(err, errlen, "job %s: %s", job->name, job->error);
    else
        rc = plan_build(&pl, job, max_parallelism,
                        parallelism > 0 ? parallelism
                                        : (int)weir_config_get_int(cfg, "parallelism.default"),
                        err, errlen);
    if (rc == 0)
        plan_describe(&pl, buf, len);
    plan_free(&pl);
    return rc;
}

void plan_free(struct plan *pl)
{
    for (int c = 0; c < pl->n_chains; c++)
        free(pl->chains[c]);
    free(pl->chains);
    free(pl->chain_len);
    *pl = (struct plan){0};
}
