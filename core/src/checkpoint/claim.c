/*
 * execution.savepoint-restore-mode (Flink's restore modes): who owns a checkpoint or
 * savepoint a run restores by path (restore_from = a path; "latest" and in-process restarts
 * restore the run's own checkpoints, always the job's, as Flink's recovery does).
 *
 *   NO_CLAIM (default; LEGACY is the same)  the snapshot stays the user's: never deleted nor
 *            changed. A checkpoint of this run's own directory is protected from retention
 *            (weir_storage_protect: it and the shared files it lists stay). One elsewhere is
 *            not touched; the run's first checkpoint depends on nothing in it (the heap chain
 *            starts full after a restore; RocksDB's SSTs are copied into this directory's
 *            shared/), so it may be deleted once that checkpoint is complete.
 *   CLAIM    the job owns it: one of its own directory is retained as any, and deleted once
 *            num-retained newer checkpoints subsume it; one elsewhere (a savepoint, another
 *            directory's chk-N) is deleted then too (chk_claim_completed), its directory only:
 *            shared files that its own directory's other checkpoints may list stay there,
 *            for that directory's next run to sweep. A snapshot in object storage (s3://) is
 *            refused: weir does not delete there on a restore's behalf.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <weir/config.h>
#include <weir/privdir.h>
#include <weir/storage.h>

#include "checkpoint.h"
#include "runtime_private.h"

#define KEY "execution.savepoint-restore-mode"

static bool same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

int chk_claim_open(struct runtime *rt, weir_restore *r, char *err, size_t errlen)
{
    struct coordinator *c = rt->chk.coord;
    const char *from = rt->opts->restore_from;
    if (!from || !strcmp(from, "latest"))
        return 0;
    bool claim = strcasecmp(weir_config_get_str(rt->cfg, KEY), "CLAIM") == 0;
    const struct weir_ckpt_meta *m = weir_restore_meta(r);
    const char *dir = weir_restore_dir(r);
    char own[4096];
    snprintf(own, sizeof own, "%s/chk-%" PRIu64, weir_storage_job_dir(c->storage),
             m->checkpoint_id);
    bool ours = !m->savepoint && same_file(dir, own);
    if (!claim) {
        if (ours && weir_storage_protect(c->storage, m->checkpoint_id) == 0)
            chk_log(rt, "%s: restored with " KEY " NO_CLAIM: retention keeps it", dir);
        return 0;
    }
    if (ours)
        return 0; /* retained here: deleted once subsumed, as the run's own */
    if (!strncmp(from, "s3://", 5)) {
        snprintf(err, errlen,
                 KEY ": CLAIM: %s: a snapshot in object storage is not claimed (weir does not "
                     "delete it there); use NO_CLAIM",
                 from);
        return -EINVAL;
    }
    free(c->claimed);
    c->claimed = strdup(dir);
    if (!c->claimed)
        return -ENOMEM;
    c->claim_left = (int)weir_config_get_int(rt->cfg, "execution.checkpointing.num-retained");
    chk_log(rt, "%s: claimed (" KEY " CLAIM): deleted once %d newer checkpoint%s complete", dir,
            c->claim_left, c->claim_left == 1 ? "" : "s");
    return 0;
}

void chk_claim_completed(struct runtime *rt)
{
    struct coordinator *c = rt->chk.coord;
    if (!c->claimed || --c->claim_left > 0)
        return;
    int rc = privdir_rm_tree(c->claimed);
    if (rc < 0)
        chk_log(rt, "%s: claimed (" KEY " CLAIM) and subsumed, but cannot delete it: %s",
                c->claimed, strerror(-rc));
    else
        chk_log(rt, "%s: claimed (" KEY " CLAIM) and subsumed: deleted", c->claimed);
    free(c->claimed);
    c->claimed = NULL;
}
