/*
 * The directories weir keeps its own files in (checkpoints, RocksDB working state): private
 * to the user who runs weir and never reached through a symbolic link, so that another local
 * user can neither read them nor steer weir's writes and deletions elsewhere by planting a
 * link or a directory of their own where weir expects one.
 *
 *     char path[PATH_MAX];
 *     const char *dir = weir_config_get_str(cfg, "state.checkpoints.dir");
 *     if (!*dir && privdir_default("state.checkpoints.dir", path, sizeof path) == 0)
 *         dir = path;
 *     int root = privdir_open(dir, "state.checkpoints.dir", err, errlen);   // 0700 if made
 *     int job = privdir_open_at(root, dir, "wordcount", "state.checkpoints.dir", err, errlen);
 *     ...
 *     privdir_rm_tree_at(job, "chk-3");   // never follows a link, inside or out
 *
 * A directory is refused, with one line that names the key and the path, when it is a
 * symbolic link, not a directory, owned by another user, or writable by group or others, and
 * when a directory above it lets others swap it (writable by others without the sticky bit,
 * or, like /tmp, sticky and the entry below it someone else's).
 *
 * Defaults, per user:
 *   state.checkpoints.dir           $XDG_STATE_HOME/weir/checkpoints, else
 *                                   $HOME/.local/state/weir/checkpoints, else
 *                                   <TMPDIR or /tmp>/weir-<uid>/checkpoints
 *   state.backend.rocksdb.localdir  <TMPDIR or /tmp>/weir-<uid>/rocksdb (working files, big
 *                                   and thrown away: not $XDG_RUNTIME_DIR, which is in RAM)
 */
#ifndef WEIR_PRIVDIR_H
#define WEIR_PRIVDIR_H

#include <stddef.h>

/* The default directory of key (one of the two above) in buf; -ENAMETOOLONG if it does not
 * fit, -EINVAL for another key. */
int privdir_default(const char *key, char *buf, size_t len);

/* Makes path (and missing parents, 0700) unless it exists, checks it as above and returns
 * an O_DIRECTORY descriptor of it, or -errno with the reason in err. */
int privdir_open(const char *path, const char *key, char *err, size_t errlen);

/* The same for name inside the private directory dirfd (shown as dir_path in errors). */
int privdir_open_at(int dirfd, const char *dir_path, const char *name, const char *key, char *err,
                    size_t errlen);

/* Deletes name in dirfd, a tree or not, without following any symbolic link: a link is
 * removed, never what it points to. _metadata of a directory goes first (a checkpoint caught
 * half-deleted is then incomplete, never complete with files missing). 0 if name is gone. */
int privdir_rm_tree_at(int dirfd, const char *name);

/* privdir_rm_tree_at on path's parent (followed: weir checked it when it made it) and last
 * component (never followed). */
int privdir_rm_tree(const char *path);

#endif
