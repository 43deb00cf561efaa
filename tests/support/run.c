/*
 * Configs from key=value pairs and running a job on one: what every job test did with its
 * own copy of "set the Prometheus port to 0, set these -D keys, resolve, run quietly".
 */
#include <stdio.h>
#include <stdlib.h>

#include "weir_test.h"

weir_config *wt_config_new(const char *const *defs)
{
    char err[512];
    weir_config *c = weir_config_new();
    if (!c)
        fail_msg("weir_config_new: out of memory");
    /* No Prometheus port and no REST API: tests run side by side. */
    if (weir_config_set(c, "metrics.reporter.prom.port", "0", err, sizeof err) < 0 ||
        weir_config_set(c, "rest.enabled", "false", err, sizeof err) < 0)
        fail_msg("%s", err);
    for (; defs && *defs; defs++)
        if (weir_config_set_kv(c, *defs, err, sizeof err) < 0)
            fail_msg("-D %s: %s", *defs, err);
    return c;
}

void wt_config_set(weir_config *c, const char *fmt, ...)
{
    char kv[4096], err[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(kv, sizeof kv, fmt, ap);
    va_end(ap);
    if (weir_config_set_kv(c, kv, err, sizeof err) < 0)
        fail_msg("-D %s: %s", kv, err);
}

void wt_config_resolve(weir_config *c)
{
    char err[512];
    if (weir_config_resolve(c, err, sizeof err) < 0)
        fail_msg("%s", err);
}

weir_config *wt_config(const char *const *defs)
{
    weir_config *c = wt_config_new(defs);
    wt_config_resolve(c);
    return c;
}

int wt_run(weir_job *job, weir_config *cfg, const struct wt_run *o, struct weir_run_stats *st,
           char *err, size_t errlen)
{
    static const struct wt_run none;
    struct weir_run_stats local;
    weir_config *own = NULL;
    if (!o)
        o = &none;
    if (!cfg) {
        own = cfg = wt_config_new(o->defs);
        if (o->backend) {
            wt_config_set(cfg, "state.backend=%s", o->backend);
            wt_config_set(cfg, "state.backend.rocksdb.localdir=%s", wt_tmp_dir("rocksdb"));
        }
        wt_config_resolve(cfg);
    } else if (o->backend || o->defs) {
        fail_msg("wt_run: backend and defs apply to a config wt_run builds, not to cfg");
    }
    struct weir_run_opts ro = {.parallelism = o->parallelism ? o->parallelism : 1,
                               .quiet = true,
                               .restore_from = o->restore_from,
                               .allow_non_restored_state = o->allow_non_restored_state,
                               .on_checkpoint = o->on_checkpoint,
                               .on_checkpoint_arg = o->on_checkpoint_arg};
    int rc = weir_job_run(job, cfg, &ro, st ? st : &local, err, errlen);
    weir_config_free(own);
    return rc;
}

void wt_run_ok(weir_job *job, weir_config *cfg, const struct wt_run *o, struct weir_run_stats *st)
{
    char err[1024] = "";
    if (weir_job_error(job))
        fail_msg("job %s: %s", weir_job_name(job), weir_job_error(job));
    if (wt_run(job, cfg, o, st, err, sizeof err) != 0)
        fail_msg("job %s on %s, parallelism %d: %s", weir_job_name(job),
                 o && o->backend ? o->backend : "its backend",
                 o && o->parallelism ? o->parallelism : 1, err);
}

uint64_t wt_datagen_key(const weir_rec *r)
{
    return ((const struct weir_datagen_rec *)(const void *)r->data)->key;
}
