/*
 * Restore on start: before the workers start, every operator reads back its
 * state from the checkpoint or savepoint named by --from-checkpoint /
 * --from-savepoint (or the latest one after a restart): its operator state
 * from the file of its own subtask, its keyed state and timers from whichever
 * files hold the key groups it now owns.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <weir/keygroup.h>
#include <weir/storage.h>

#include "checkpoint.h"
#include "runtime_private.h"

int chk_restore_timers(struct timer_service *t, struct weir_snapshot_in *in, uint32_t kg)
{
    for (int d = 0; d < 2; d++) {
        uint64_t n;
        int rc = in->read(in, &n, sizeof n);
        if (rc < 0)
            return rc;
        for (uint64_t i = 0; i < n; i++) {
            int64_t rec[3];
            rc = in->read(in, rec, sizeof rec);
            if (rc < 0)
                return rc;
            struct weir_timer tm = {
                .ts = rec[0], .key = (uint64_t)rec[1], .ns = (uint64_t)rec[2], .key_group = kg};
            rc = timers_add(t, d, &tm);
            if (rc < 0)
                return rc;
        }
    }
    return 0;
}

/* Restores one operator from the entries of its uid. */
static int restore_op(struct runtime *rt, weir_restore *r, struct op_inst *op,
                      const struct weir_ckpt_meta *m, char *err, size_t errlen)
{
    struct task *t = op->task;
    const char *uid = op->node->uid;
    uint32_t maxp = (uint32_t)rt->max_parallelism, p = (uint32_t)op->ctx.parallelism;
    const struct weir_ckpt_entry *mine = NULL;
    size_t count = 0;
    for (size_t i = 0; i < m->entry_count; i++) {
        const struct weir_ckpt_entry *e = &m->entries[i];
        if (strcmp(e->operator_uid, uid) != 0)
            continue;
        count++;
        if (e->subtask == (uint32_t)t->subtask)
            mine = e;
    }
    if (!count)
        return 0; /* a new operator: starts empty */
    if (mine && mine->blob_len == 1 && *(const char *)mine->blob == BLOB_FINISHED && t->is_source)
        t->restored_finished = true;
    int rc = 0;
    /* operator state: same subtask index, same parallelism */
    int (*hook)(weir_ctx *, void *, struct weir_snapshot_in *) =
        op->node->src ? op->node->src->restore : op->node->op->restore;
    if (hook && mine && mine->file && *mine->file) {
        if (mine->parallelism != p) {
            snprintf(err, errlen,
                     "operator \"%s\": its state was taken at parallelism %u, not %u; operator "
                     "state (source positions, sink files) is restored only at the same "
                     "parallelism",
                     uid, mine->parallelism, p);
            return -EINVAL;
        }
        weir_restore_file *f;
        size_t sec;
        rc = weir_restore_file_open(r, mine->file, &f);
        if (rc == 0) {
            if (weir_restore_file_find(f, TAG_OPERATOR, &sec) == 0)
                rc = hook(&op->ctx, op->state, weir_restore_file_section_in(f, sec));
            weir_restore_file_close(f);
        }
        if (rc < 0) {
            snprintf(err, errlen, "operator \"%s\" (subtask %d): restoring its state failed: %s",
                     uid, t->subtask + 1, strerror(-rc));
            return rc;
        }
    }
    if (!op->backend)
        return 0;
    /* keyed state: every key group this subtask owns, from whichever file has it */
    uint32_t first = weir_key_group_range_start((uint32_t)t->subtask, maxp, p);
    uint32_t last = weir_key_group_range_end((uint32_t)t->subtask, maxp, p);
    if (m->max_parallelism != maxp) {
        snprintf(err, errlen,
                 "operator \"%s\": the checkpoint has %u key groups but "
                 "pipeline.max-parallelism is %u; keep pipeline.max-parallelism as it was",
                 uid, m->max_parallelism, maxp);
        return -EINVAL;
    }
    for (size_t i = 0; i < m->entry_count && rc == 0; i++) {
        const struct weir_ckpt_entry *e = &m->entries[i];
        if (strcmp(e->operator_uid, uid) != 0 || e->kg_first == WEIR_KG_NONE || !e->file ||
            !*e->file || e->kg_last < first || e->kg_first > last)
            continue;
        weir_restore_file *f;
        rc = weir_restore_file_open(r, e->file, &f);
        if (rc < 0)
            break;
        uint32_t a = e->kg_first > first ? e->kg_first : first;
        uint32_t b = e->kg_last < last ? e->kg_last : last;
        if (rocks_file_is_incremental(f)) {
            rc = rocks_incremental_restore(op->backend, r, f, a, b, err, errlen);
            if (rc < 0) {
                weir_restore_file_close(f);
                return rc;
            }
        }
        for (uint32_t kg = a; kg <= b && rc == 0; kg++) {
            size_t sec;
            if (weir_restore_file_find(f, TAG_KEYED | kg, &sec) == 0)
                rc = weir_keyed_backend_restore_key_group(op->backend, kg,
                                                          weir_restore_file_section_in(f, sec));
            if (rc == 0 && weir_restore_file_find(f, TAG_TIMERS | kg, &sec) == 0)
                rc = chk_restore_timers(&op->timers, weir_restore_file_section_in(f, sec), kg);
        }
        weir_restore_file_close(f);
    }
    if (rc < 0)
        snprintf(err, errlen, "operator \"%s\" (subtask %d): restoring keyed state failed: %s", uid,
                 t->subtask + 1, strerror(-rc));
    return rc;
}

int chk_restore(struct runtime *rt, char *err, size_t errlen)
{
    const char *from = rt->opts->restore_from;
    if (!from)
        return 0;
    weir_restore *r = NULL;
    int rc;
    if (!strcmp(from, "latest")) {
        rc = weir_restore_open_latest(rt->chk.coord->storage, 0, &r);
        if (rc == -ENOENT) {
            chk_log(rt, "no complete checkpoint under %s yet: starting empty",
                    weir_storage_job_dir(rt->chk.coord->storage));
            return 0;
        }
        if (rc < 0) {
            snprintf(err, errlen, "--from-checkpoint latest: %s: no valid checkpoint (%s)",
                     weir_storage_job_dir(rt->chk.coord->storage), strerror(-rc));
            return rc;
        }
    } else {
        char why[1024];
        rc = weir_restore_open_dir(from, 0, &r, why, sizeof why);
        if (rc < 0) {
            snprintf(err, errlen, "--from-checkpoint %s", why);
            return rc;
        }
    }
    const struct weir_ckpt_meta *m = weir_restore_meta(r);
    /* every piece of state must find its operator */
    for (size_t i = 0; i < m->entry_count; i++) {
        bool found = false;
        for (int k = 0; k < rt->job->n_nodes && !found; k++)
            found = !strcmp(rt->job->nodes[k]->uid, m->entries[i].operator_uid);
        if (!found && !rt->opts->allow_non_restored_state) {
            snprintf(err, errlen,
                     "%s: state of operator uid \"%s\" matches no operator of job %s; pass "
                     "--allow-non-restored-state to skip it",
                     weir_restore_dir(r), m->entries[i].operator_uid, rt->job->name);
            weir_restore_close(r);
            return -EINVAL;
        }
    }
    for (int i = 0; i < rt->n_tasks && rc == 0; i++)
        for (int j = 0; j < rt->tasks[i].n_ops && rc == 0; j++)
            rc = restore_op(rt, r, &rt->tasks[i].ops[j], m, err, errlen);
    if (rc == 0) {
        rt->chk.restored_id = m->checkpoint_id;
        for (size_t i = 0; i < m->entry_count; i++)
            rt->chk.restored_bytes += m->entries[i].size_bytes;
        chk_log(rt, "restored from %s (checkpoint %" PRIu64 ")", weir_restore_dir(r),
                m->checkpoint_id);
        /* What the restored checkpoint staged is committed: it was complete. */
        atomic_store(&rt->chk.completed_id, m->checkpoint_id);
    }
    weir_restore_close(r);
    return rc;
}
