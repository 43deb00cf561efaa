/*
 * Set-up of one run: tasks from the plan's chains, ring memory per NUMA node,
 * workers placed on cores, keyed state backends, the run's metrics; and
 * runtime_free, which undoes any prefix of it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <weir/config.h>
#include <weir/keygroup.h>
#include <weir/metrics.h>
#include <weir/prom.h>
#include <weir/state.h>

#include "runtime_private.h"
#include "state_view.h"

static struct task *task_of(struct runtime *rt, int chain, int subtask)
{
    for (int i = 0; i < rt->n_tasks; i++)
        if (rt->tasks[i].chain == chain && rt->tasks[i].subtask == subtask)
            return &rt->tasks[i];
    return NULL;
}

static int build_tasks(struct runtime *rt, char *err, size_t errlen)
{
    int n = 0;
    for (int c = 0; c < rt->plan.n_chains; c++)
        n += rt->plan.chains[c][0]->p;
    rt->tasks = calloc((size_t)n, sizeof *rt->tasks);
    if (!rt->tasks)
        goto err;
    uint32_t scratch_cap = rt->seg_size - WEIR_REC_HEADER;
    for (int c = 0; c < rt->plan.n_chains; c++) {
        int p = rt->plan.chains[c][0]->p;
        char *cname = plan_chain_name(&rt->plan, c);
        if (!cname)
            goto err;
        for (int s = 0; s < p; s++) {
            struct task *t = &rt->tasks[rt->n_tasks];
            t->index = rt->n_tasks++;
            t->rt = rt;
            t->chain = c;
            t->subtask = s;
            t->chain_name = s == 0 ? cname : strdup(cname);
            if (!t->chain_name)
                goto err;
            t->wm = INT64_MIN;
            atomic_init(&t->wm_pub, INT64_MIN);
            atomic_init(&t->wm_in_pub, INT64_MIN);
            atomic_init(&t->wm_out_pub, INT64_MIN);
            atomic_init(&t->wm_out_ms, wm_wall_ms()); /* "not advanced since the start" */
            atomic_init(&t->wm_in_ms, wm_wall_ms());
            atomic_init(&t->wm_splits.idleness_ms, -1);
            t->n_ops = rt->plan.chain_len[c];
            t->ops = calloc((size_t)t->n_ops, sizeof *t->ops);
            if (!t->ops)
                goto err;
            t->is_source = rt->plan.chains[c][0]->type == NODE_SOURCE;
            for (int i = 0; i < t->n_ops; i++) {
                struct op_inst *op = &t->ops[i];
                struct node *nd = rt->plan.chains[c][i];
                op->node = nd;
                op->task = t;
                op->ctx = (struct weir_ctx){.op = op,
                                            .subtask = s,
                                            .parallelism = p,
                                            .max_parallelism = rt->max_parallelism,
                                            .rt = rt};
                size_t ssize = nd->src ? nd->src->state_size : nd->op->state_size;
                if (ssize && !(op->state = calloc(1, ssize)))
                    goto err;
                op->emit.scratch = aligned_alloc(64, (rt->seg_size + 63) & ~63u);
                if (!op->emit.scratch)
                    goto err;
                op->emit.scratch_cap = scratch_cap;
                op->wm = INT64_MIN;
                timers_init(&op->timers);
                op->nowhere.push = push_nowhere;
                op->nowhere.scratch = op->emit.scratch;
                op->nowhere.scratch_cap = scratch_cap;
                if (i + 1 < t->n_ops) {
                    op->next = &t->ops[i + 1];
                    op->emit.push = push_op;
                    op->emit.target = op->next;
                } else if (nd->type == NODE_SINK) {
                    op->emit.push = push_nowhere;
                } else {
                    op->emit.push = push_routes;
                    op->emit.target = t;
                }
                if (i + 1 == t->n_ops && nd->n_tags) {
                    op->side = calloc((size_t)nd->n_tags, sizeof *op->side);
                    if (!op->side)
                        goto err;
                    op->n_side = nd->n_tags;
                    for (int g = 0; g < nd->n_tags; g++) {
                        struct side_emit *se = &op->side[g];
                        se->emit.push = push_side;
                        se->emit.scratch = op->emit.scratch;
                        se->emit.scratch_cap = scratch_cap;
                        se->task = t;
                        se->tag = nd->tags[g];
                    }
                }
                if (nd->type == NODE_SOURCE) {
                    /* With a watermark strategy, emit notes timestamps and fwd goes
                     * where emit would have gone; without, nothing is interposed. */
                    op->fwd = op->emit;
                    if (nd->wms) {
                        op->emit.push = push_source;
                        op->emit.target = op;
                    }
                    t->wms = nd->wms;
                    t->max_ts = INT64_MIN;
                    t->last_wm = INT64_MIN;
                }
            }
        }
    }
    return 0;
err:
    snprintf(err, errlen, "out of memory while setting up job %s", rt->job->name);
    return -ENOMEM;
}

/* Counts the rings the plan needs and checks them against the network pool. */
static int count_rings(struct runtime *rt, uint64_t network_pool, char *err, size_t errlen)
{
    int rings = 0;
    for (int c = 0; c < rt->plan.n_chains; c++) {
        struct node *tail = rt->plan.chains[c][rt->plan.chain_len[c] - 1];
        for (int e = 0; e < tail->n_out; e++) {
            struct edge *ed = tail->out[e];
            rings += ed->eff == PART_FORWARD ? ed->to->p : ed->from->p * ed->to->p;
        }
    }
    rt->n_rings = rings;
    uint64_t need = (uint64_t)rings * weir_ring_memsize(rt->nbufs, rt->seg_size);
    if (need > network_pool) {
        char a[32], b[32], s[32];
        weir_format_size(need, a, sizeof a);
        weir_format_size(network_pool, b, sizeof b);
        weir_format_size(rt->seg_size, s, sizeof s);
        snprintf(err, errlen,
                 "network pool too small: %d channels x %u buffers x %s need %s but the pool "
                 "holds %s; raise memory.network.fraction / memory.network.min / "
                 "memory.network.max (or memory.process.size), or lower "
                 "network.buffers-per-channel",
                 rings, rt->nbufs, s, a, b);
        return -ENOMEM;
    }
    return 0;
}

/* After wire's first pass has counted each task's inputs: input arrays,
 * routes and their writer arrays, hash routes' key group owners. */
static int alloc_routes(struct runtime *rt)
{
    for (int i = 0; i < rt->n_tasks; i++) {
        struct task *t = &rt->tasks[i];
        struct node *tail = t->ops[t->n_ops - 1].node;
        if (t->n_in && !(t->in = calloc((size_t)t->n_in, sizeof *t->in)))
            return -ENOMEM;
        t->n_routes = tail->n_out;
        if (t->n_routes && !(t->routes = calloc((size_t)t->n_routes, sizeof *t->routes)))
            return -ENOMEM;
        for (int e = 0; e < t->n_routes; e++) {
            struct edge *ed = tail->out[e];
            struct route *r = &t->routes[e];
            r->part = ed->eff;
            r->key = ed->key;
            r->tag = ed->tag;
            r->n = ed->eff == PART_FORWARD ? 1 : ed->to->p;
            r->max_parallelism = (uint32_t)rt->max_parallelism;
            r->kg_mask =
                (r->max_parallelism & (r->max_parallelism - 1)) == 0 ? r->max_parallelism - 1 : 0;
            if (r->part == PART_HASH) {
                if (!(r->owner = calloc(r->max_parallelism, sizeof *r->owner)))
                    return -ENOMEM;
                for (uint32_t kg = 0; kg < r->max_parallelism; kg++)
                    r->owner[kg] =
                        (uint16_t)weir_key_group_subtask(kg, r->max_parallelism, (uint32_t)r->n);
            }
            r->rr = (uint32_t)t->subtask; /* spread round robin starts */
            if (!(r->w = calloc((size_t)r->n, sizeof *r->w)))
                return -ENOMEM;
        }
    }
    return 0;
}

/* Maps the ring memory of each NUMA node, per_node[nd] bytes. */
static int map_rings(struct runtime *rt, const size_t *per_node, int nodes, char *err,
                     size_t errlen)
{
    for (int nd = 0; nd < nodes; nd++) {
        if (!per_node[nd])
            continue;
        weir_page_kind kind;
        rt->blocks[nd].mem = weir_numa_alloc(rt->topo, per_node[nd], nodes > 1 ? nd : -1, &kind);
        if (!rt->blocks[nd].mem) {
            char a[32];
            weir_format_size(per_node[nd], a, sizeof a);
            snprintf(err, errlen, "could not map %s of ring memory on NUMA node %d: %s", a, nd,
                     strerror(errno));
            return -ENOMEM;
        }
        rt->blocks[nd].size = per_node[nd];
        if (!rt->opts->quiet) {
            char a[32];
            weir_format_size(per_node[nd], a, sizeof a);
            fprintf(stderr, "weir: rings: %s on NUMA node %d in %s\n", a, nd,
                    weir_page_kind_str(kind));
        }
    }
    return 0;
}

static int wire_oom(struct runtime *rt, char *err, size_t errlen)
{
    snprintf(err, errlen, "out of memory while wiring job %s", rt->job->name);
    return -ENOMEM;
}

static int wire(struct runtime *rt, char *err, size_t errlen)
{
    int rc;
    size_t rsize = weir_ring_memsize(rt->nbufs, rt->seg_size);
    int nodes = weir_topo_num_nodes(rt->topo);
    if (nodes < 1)
        nodes = 1;
    /* One block of ring memory per NUMA node, each ring on its consumer's node. */
    size_t *per_node = calloc((size_t)nodes, sizeof *per_node);
    size_t *used = calloc((size_t)nodes, sizeof *used);
    rt->blocks = calloc((size_t)nodes, sizeof *rt->blocks);
    if (!per_node || !used || !rt->blocks) {
        rc = wire_oom(rt, err, errlen);
        goto err;
    }
    rt->n_blocks = nodes;
    for (int pass = 0; pass < 2; pass++) {
        for (int c = 0; c < rt->plan.n_chains; c++) {
            struct node *tail = rt->plan.chains[c][rt->plan.chain_len[c] - 1];
            for (int e = 0; e < tail->n_out; e++) {
                struct edge *ed = tail->out[e];
                bool fwd = ed->eff == PART_FORWARD;
                for (int ps = 0; ps < ed->from->p; ps++) {
                    struct task *prod = task_of(rt, c, ps);
                    struct route *route = pass ? &prod->routes[e] : NULL;
                    for (int cs = 0; cs < ed->to->p; cs++) {
                        if (fwd && cs != ps)
                            continue;
                        struct task *cons = task_of(rt, ed->to->chain, cs);
                        int node = cons->worker->slot.node;
                        if (node < 0 || node >= nodes)
                            node = 0;
                        if (!pass) {
                            per_node[node] += rsize;
                            cons->n_in++;
                            continue;
                        }
                        struct weir_ring *ring =
                            (struct weir_ring *)((char *)rt->blocks[node].mem + used[node]);
                        used[node] += rsize;
                        weir_ring_init(ring, rt->nbufs, rt->seg_size);
                        struct writer *w = calloc(1, sizeof *w);
                        if (!w) {
                            rc = wire_oom(rt, err, errlen);
                            goto err;
                        }
                        w->ring = ring;
                        w->cap = rt->seg_size;
                        w->self = prod->worker;
                        w->consumer = cons->worker;
                        route->w[fwd ? 0 : cs] = w;
                        struct in_chan *ic = &cons->in[cons->n_live++];
                        ic->ring = ring;
                        ic->input = ed->input;
                        ic->edge = ed;
                        ic->peer = ps;
                        ic->key = ed->to->keyed && ed->eff == PART_HASH ? ed->key : NULL;
                        ic->wm = INT64_MIN;
                        ic->producer = prod->worker;
                    }
                }
            }
        }
        if (pass)
            break;
        /* Routes, input arrays and ring memory for pass 1. */
        if (alloc_routes(rt) < 0) {
            rc = wire_oom(rt, err, errlen);
            goto err;
        }
        if ((rc = map_rings(rt, per_node, nodes, err, errlen)) < 0)
            goto err;
    }
    rc = 0;
err: /* success passes here too: the scratch arrays go either way */
    free(per_node);
    free(used);
    return rc;
}

/* Loads the topology and gives each of the workers a slot (a core): workers
 * beyond the granted cores share them round robin. */
static int place_workers(struct runtime *rt, int workers, char *err, size_t errlen)
{
    weir_worker_slot *slots = NULL;
    int rc = weir_topo_load(&rt->topo);
    if (rc < 0) {
        snprintf(err, errlen, "could not read the machine's topology (hwloc): %s", strerror(-rc));
        goto err;
    }
    const char *cpus = weir_config_get_str(rt->cfg, "numa.cpus");
    int cores = weir_topo_num_cores(rt->topo);
    slots = calloc((size_t)workers, sizeof *slots);
    rt->workers = calloc((size_t)workers, sizeof *rt->workers);
    if (!slots || !rt->workers) {
        snprintf(err, errlen, "out of memory while placing job %s", rt->job->name);
        rc = -ENOMEM;
        goto err;
    }
    /* Flink runs more slots than cores when asked to; so do we, with a warning. */
    int placed = workers;
    rc = weir_topo_place(rt->topo, placed, cpus, slots, err, errlen);
    if (rc < 0 && workers > 1) {
        char first[256];
        snprintf(first, sizeof first, "%s", err);
        for (placed = workers - 1; placed >= 1; placed--)
            if (weir_topo_place(rt->topo, placed, cpus, slots, err, errlen) == 0)
                break;
        if (placed < 1) {
            snprintf(err, errlen, "%s", first);
            goto err;
        }
        if (!rt->opts->quiet)
            fprintf(stderr,
                    "weir: warning: %d workers on %d granted cores: workers share cores "
                    "(numa.cpus=\"%s\", %d cores on this machine)\n",
                    workers, placed, cpus, cores);
        rc = 0;
    }
    if (rc < 0)
        goto err;
    rt->n_workers = workers;
    for (int w = 0; w < workers; w++) {
        rt->workers[w].id = w;
        rt->workers[w].rt = rt;
        rt->workers[w].slot = slots[w % placed];
        rt->workers[w].slot.worker = w;
    }
err: /* success passes here too: slots were copied into the workers */
    free(slots);
    return rc;
}

/* One worker per subtask index: the largest parallelism of any chain. */
static int count_workers(const struct runtime *rt)
{
    int workers = 0;
    for (int c = 0; c < rt->plan.n_chains; c++)
        if (rt->plan.chains[c][0]->p > workers)
            workers = rt->plan.chains[c][0]->p;
    return workers;
}

static int place(struct runtime *rt, char *err, size_t errlen)
{
    int workers = count_workers(rt);
    int rc = place_workers(rt, workers, err, errlen);
    if (rc < 0)
        return rc;
    /* Slot sharing: subtask i of every chain runs on worker i. */
    for (int i = 0; i < rt->n_tasks; i++) {
        struct worker *w = &rt->workers[rt->tasks[i].subtask];
        rt->tasks[i].worker = w;
        w->n_tasks++;
    }
    for (int w = 0; w < workers; w++) {
        rt->workers[w].tasks = calloc((size_t)rt->workers[w].n_tasks, sizeof(struct task *));
        if (!rt->workers[w].tasks) {
            snprintf(err, errlen, "out of memory while placing job %s", rt->job->name);
            return -ENOMEM;
        }
        rt->workers[w].n_tasks = 0;
    }
    /* Downstream chains first on each worker, so a worker drains before it fills. */
    for (int i = rt->n_tasks - 1; i >= 0; i--) {
        struct worker *w = rt->tasks[i].worker;
        w->tasks[w->n_tasks++] = &rt->tasks[i];
    }
    if (!rt->opts->quiet) {
        char desc[128];
        weir_topo_describe(rt->topo, desc, sizeof desc);
        fprintf(stderr, "weir: placement: %d worker%s on %s:", workers, workers == 1 ? "" : "s",
                desc);
        for (int w = 0; w < workers; w++)
            fprintf(stderr, " w%d->cpu%d(node%d)", w, rt->workers[w].slot.pu_os_index,
                    rt->workers[w].slot.node);
        fputc('\n', stderr);
    }
    return 0;
}

static int setup_keyed(struct runtime *rt, char *err, size_t errlen)
{
    bool any = false;
    for (int i = 0; i < rt->job->n_nodes; i++)
        any |= rt->job->nodes[i]->keyed;
    if (any) {
        int rc = weir_state_env_new(rt->cfg, rt->job->name, &rt->state_env, err, errlen);
        if (rc < 0)
            return rc;
    }
    uint32_t maxp = (uint32_t)rt->max_parallelism;
    for (int i = 0; i < rt->n_tasks; i++) {
        struct task *t = &rt->tasks[i];
        for (int j = 0; j < t->n_ops; j++) {
            struct op_inst *op = &t->ops[j];
            if (!op->node->keyed)
                continue;
            uint32_t p = (uint32_t)op->ctx.parallelism, sub = (uint32_t)t->subtask;
            int rc = weir_keyed_backend_open(rt->state_env, op->node->uid, t->subtask,
                                             weir_key_group_range_start(sub, maxp, p),
                                             weir_key_group_range_end(sub, maxp, p), maxp,
                                             t->worker->slot.node, &op->backend, err, errlen);
            if (rc < 0)
                return rc;
            /* The state's TTL clock is the run's processing time from the start. */
            weir_keyed_backend_set_time(op->backend, rt_processing_ms(rt));
            /* A heap snapshot's timer view is read off the worker: what it holds is the
             * pool's, as the keyed state's copies (timers_free runs before the close). */
            if (weir_keyed_view_applies(op->backend))
                timers_set_pool(&op->timers, op->backend);
        }
    }
    /* Watermark alignment groups: one slot per source subtask of the group. */
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < rt->n_tasks; i++) {
            struct task *t = &rt->tasks[i];
            if (!t->wms || !t->wms->alignment_group)
                continue;
            struct align_group *g = NULL;
            for (int k = 0; k < rt->n_groups; k++)
                if (!strcmp(rt->groups[k].name, t->wms->alignment_group))
                    g = &rt->groups[k];
            if (!pass) {
                if (!g) {
                    struct align_group *ng =
                        realloc(rt->groups, (size_t)(rt->n_groups + 1) * sizeof *ng);
                    if (!ng)
                        goto err;
                    rt->groups = ng;
                    g = &rt->groups[rt->n_groups++];
                    *g = (struct align_group){.name = t->wms->alignment_group,
                                              .max_drift_ms = t->wms->alignment_max_drift_ms};
                }
                g->n++;
                continue;
            }
            if (!g->wm) {
                g->wm = calloc((size_t)g->n, sizeof *g->wm);
                if (!g->wm)
                    goto err;
                for (int k = 0; k < g->n; k++)
                    atomic_init(&g->wm[k], INT64_MIN);
                g->n = 0;
            }
            t->align = g;
            t->align_wm = &g->wm[g->n++];
        }
    }
    return 0;
err:
    snprintf(err, errlen, "out of memory while setting up job %s", rt->job->name);
    return -ENOMEM;
}

int open_ops(struct runtime *rt)
{
    for (int i = 0; i < rt->n_tasks; i++) {
        struct task *t = &rt->tasks[i];
        for (int j = 0; j < t->n_ops; j++) {
            struct op_inst *op = &t->ops[j];
            int (*open)(weir_ctx *, void *, void *) =
                op->node->src ? op->node->src->open : op->node->op->open;
            if (open) {
                int rc = open(&op->ctx, op->state, op->node->arg);
                if (rc < 0) {
                    if (!atomic_load(&rt->failed))
                        rt_fail(rt, "%s (subtask %d/%d) failed to open: %s", op->node->uid,
                                t->subtask + 1, op->ctx.parallelism, strerror(-rc));
                    rt_fail_errno(rt, rc, true);
                    return rc;
                }
            }
            op->opened = true;
        }
    }
    return 0;
}

void close_ops(struct runtime *rt)
{
    for (int i = 0; i < rt->n_tasks; i++) {
        struct task *t = &rt->tasks[i];
        for (int j = 0; j < t->n_ops; j++) {
            struct op_inst *op = &t->ops[j];
            if (!op->opened)
                continue;
            void (*close)(weir_ctx *, void *) =
                op->node->src ? op->node->src->close : op->node->op->close;
            if (close)
                close(&op->ctx, op->state);
        }
    }
}

void runtime_free(struct runtime *rt)
{
    chk_free(rt);
    rt_dlq_close(rt);
    weir_prom_server_stop(rt->prom);
    weir_metrics_free(rt->metrics);
    for (int i = 0; i < rt->n_tasks; i++) {
        struct task *t = &rt->tasks[i];
        for (int j = 0; j < t->n_ops; j++) {
            free(t->ops[j].state);
            free(t->ops[j].emit.scratch);
            free(t->ops[j].side);
            timers_free(&t->ops[j].timers);
            weir_keyed_backend_close(t->ops[j].backend);
        }
        free(t->ops);
        for (int r = 0; r < t->n_routes; r++) {
            for (int j = 0; j < t->routes[r].n; j++) {
                if (t->routes[r].w[j]) {
                    free(t->routes[r].w[j]->ovf);
                    free(t->routes[r].w[j]->state.p);
                }
                free(t->routes[r].w[j]);
            }
            free(t->routes[r].w);
            free(t->routes[r].owner);
        }
        free(t->routes);
        for (int k = 0; t->in && k < t->n_in; k++) {
            free(t->in[k].state.p);
            free(t->in[k].replay.p);
        }
        free(t->in);
        for (int k = 0; t->op_replay && k < t->n_ops; k++)
            free(t->op_replay[k].p);
        free(t->op_replay);
        free(t->chain_name);
        wm_splits_free(&t->wm_splits);
    }
    free(rt->tasks);
    for (int w = 0; w < rt->n_workers; w++)
        free(rt->workers[w].tasks);
    free(rt->workers);
    for (int b = 0; b < rt->n_blocks; b++)
        weir_numa_free(rt->blocks[b].mem, rt->blocks[b].size);
    free(rt->blocks);
    plan_free(&rt->plan);
    weir_topo_free(rt->topo);
    weir_state_env_free(rt->state_env);
    for (int g = 0; g < rt->n_groups; g++)
        free(rt->groups[g].wm);
    free(rt->groups);
    free(rt->error);
    pthread_mutex_destroy(&rt->err_lock);
}

/* Reads the run's settings from cfg, then plans, builds, places and wires the
 * job, opens its state and checkpoint storage and its metrics endpoint. On
 * failure everything built so far is freed (err: label) and err says why. */
int runtime_setup(struct runtime *rt, weir_job *job, struct weir_config *cfg,
                  const struct weir_run_opts *opts, char *err, size_t errlen)
{
    pthread_mutex_init(&rt->err_lock, NULL);
    rt->job = job;
    rt->cfg = cfg;
    rt->opts = opts;
    rt->max_parallelism = (int)weir_config_get_int(cfg, "pipeline.max-parallelism");
    rt->nbufs = (uint32_t)weir_config_get_int(cfg, "network.buffers-per-channel");
    rt->seg_size = (uint32_t)weir_config_get_size(cfg, "memory.segment-size");
    rt->buffer_timeout_ns =
        (uint64_t)weir_config_get_duration_ms(cfg, "execution.buffer-timeout") * 1000000ull;
    rt->wm_interval_ns =
        (uint64_t)weir_config_get_duration_ms(cfg, "pipeline.auto-watermark-interval") * 1000000ull;
    int default_p = opts->parallelism > 0 ? opts->parallelism
                                          : (int)weir_config_get_int(cfg, "parallelism.default");
    int rc = plan_build(&rt->plan, job, rt->max_parallelism, default_p, err, errlen);
    if (rc < 0)
        goto err;
    if ((rc = check_address_space(rt, count_workers(rt), err, errlen)) < 0 ||
        (rc = count_rings(rt, weir_config_pools(cfg)->network, err, errlen)) < 0 ||
        (rc = build_tasks(rt, err, errlen)) < 0 || (rc = place(rt, err, errlen)) < 0)
        goto err;
    if (!opts->quiet) {
        char desc[2048];
        plan_describe(&rt->plan, desc, sizeof desc);
        fprintf(stderr, "weir: plan: %s\n", desc);
    }
    if ((rc = wire(rt, err, errlen)) < 0 || (rc = setup_keyed(rt, err, errlen)) < 0 ||
        (rc = chk_setup(rt, err, errlen)) < 0 || (rc = rt_dlq_open(rt, err, errlen)) < 0)
        goto err;
    if (register_metrics(rt) < 0 || register_gauges(rt) < 0 || chk_register_metrics(rt) < 0) {
        snprintf(err, errlen, "out of memory while registering metrics");
        rc = -ENOMEM;
        goto err;
    }
    const char *port = weir_config_get_str(cfg, "metrics.reporter.prom.port");
    if (strcmp(port, "0") != 0) {
        const char *host = weir_config_get_str(cfg, "metrics.reporter.prom.host");
        rc = weir_prom_server_start(rt->metrics, host, port, &rt->prom, err, errlen);
        if (rc < 0)
            goto err;
        char url[320];
        if (!opts->quiet && weir_prom_server_url(rt->prom, url, sizeof url) > 0)
            fprintf(stderr, "weir: metrics: %s\n", url);
    }
    return 0;
err:
    runtime_free(rt);
    return rc;
}
