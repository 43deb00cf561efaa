/* See core/internal/weir/privdir.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <weir/errbuf.h>
#include <weir/privdir.h>

int privdir_default(const char *key, char *buf, size_t len)
{
    const char *tmp = getenv("TMPDIR");
    if (!tmp || *tmp != '/')
        tmp = "/tmp";
    int n;
    if (!strcmp(key, "state.checkpoints.dir")) {
        /* Checkpoints outlive the run (and a reboot): state, in the XDG sense. Only an
         * absolute XDG_STATE_HOME counts, as the XDG spec says. */
        const char *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
        if (xdg && *xdg == '/')
            n = snprintf(buf, len, "%s/weir/checkpoints", xdg);
        else if (home && *home == '/' && strcmp(home, "/"))
            n = snprintf(buf, len, "%s/.local/state/weir/checkpoints", home);
        else
            n = snprintf(buf, len, "%s/weir-%u/checkpoints", tmp, (unsigned)geteuid());
    } else if (!strcmp(key, "state.backend.rocksdb.localdir")) {
        n = snprintf(buf, len, "%s/weir-%u/rocksdb", tmp, (unsigned)geteuid());
    } else {
        return -EINVAL;
    }
    return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* What every directory weir keeps files in must be: a directory of the running user's that
 * nobody else can write into. */
static int check_private(const struct stat *st, const char *path, const char *key, char *err,
                         size_t errlen)
{
    unsigned me = (unsigned)geteuid();
    if (!S_ISDIR(st->st_mode)) {
        errbuf_printf(err, errlen, "%s: %s: not a directory", key, path);
        return -ENOTDIR;
    }
    if ((unsigned)st->st_uid != me) {
        errbuf_printf(err, errlen, "%s: %s: owned by uid %u, not by you (%u)", key, path,
                      (unsigned)st->st_uid, me);
        return -EPERM;
    }
    if (st->st_mode & (S_IWGRP | S_IWOTH)) {
        errbuf_printf(err, errlen,
                      "%s: %s: writable by group or others (mode %04o): chmod go-w it, or "
                      "choose another directory",
                      key, path, (unsigned)(st->st_mode & 07777));
        return -EPERM;
    }
    return 0;
}

static int refuse_link(const char *path, const char *key, char *err, size_t errlen)
{
    errbuf_printf(err, errlen,
                  "%s: %s: is a symbolic link; weir does not follow links to its own "
                  "directories: give the directory it points to",
                  key, path);
    return -ELOOP;
}

/* path, absolute, without trailing slashes; NULL without memory. */
static char *absolute(const char *path)
{
    char cwd[4096], *p;
    if (*path == '/') {
        p = strdup(path);
    } else {
        if (!getcwd(cwd, sizeof cwd))
            return NULL;
        if (asprintf(&p, "%s/%s", cwd, path) < 0)
            p = NULL;
    }
    for (size_t n = p ? strlen(p) : 0; n > 1 && p[n - 1] == '/'; n--)
        p[n - 1] = '\0';
    return p;
}

/* Makes what is missing of p (0700), checking on the way down that no directory lets others
 * swap the entry below it: one writable by others needs the sticky bit, and then the entry
 * below must be the user's or root's (the rule that makes /tmp/weir-<uid> safe, and refuses
 * /tmp/weir-<uid> made beforehand by someone else, before anything is made through it).
 * Links above p owned by the user or root are followed. */
static int walk_down(char *p, const char *key, char *err, size_t errlen)
{
    struct stat parent, self;
    unsigned me = (unsigned)geteuid();
    if (stat("/", &parent) < 0)
        return -errno;
    for (char *q = p + 1;; q++) {
        if (*q != '/' && *q != '\0')
            continue;
        char c = *q;
        *q = '\0';
        int rc = 0;
        if (lstat(p, &self) < 0 && (errno != ENOENT || mkdir(p, 0700) < 0 || lstat(p, &self) < 0)) {
            rc = -errno;
            errbuf_printf(err, errlen, "%s: %s: %s", key, p, strerror(errno));
        } else if ((parent.st_mode & S_IWOTH) && !(parent.st_mode & S_ISVTX)) {
            errbuf_printf(err, errlen,
                          "%s: %s: the directory above it is writable by others (mode %04o): "
                          "choose a directory under a private one",
                          key, p, (unsigned)(parent.st_mode & 07777));
            rc = -EPERM;
        } else if ((parent.st_mode & S_IWOTH) && self.st_uid != me && self.st_uid != 0) {
            errbuf_printf(err, errlen, "%s: %s: owned by uid %u, not by you (%u)", key, p,
                          (unsigned)self.st_uid, me);
            rc = -EPERM;
        } else if (c && stat(p, &parent) < 0) {
            rc = -errno;
            errbuf_printf(err, errlen, "%s: %s: %s", key, p, strerror(errno));
        }
        *q = c;
        if (rc < 0 || !c)
            return rc;
    }
}

int privdir_open(const char *path, const char *key, char *err, size_t errlen)
{
    if (!path || !*path) {
        errbuf_printf(err, errlen, "%s: empty path", key);
        return -EINVAL;
    }
    char *p = absolute(path);
    if (!p) {
        errbuf_printf(err, errlen, "%s: %s: %s", key, path, strerror(errno ? errno : ENOMEM));
        return -ENOMEM;
    }
    int rc = walk_down(p, key, err, errlen), fd = -1;
    struct stat st;
    if (rc < 0)
        goto out;
    fd = open(p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        rc = -errno;
        if (lstat(p, &st) == 0 && S_ISLNK(st.st_mode))
            rc = refuse_link(path, key, err, errlen);
        else
            errbuf_printf(err, errlen, "%s: %s: %s", key, path, strerror(-rc));
        goto out;
    }
    if (fstat(fd, &st) < 0) {
        rc = -errno;
        errbuf_printf(err, errlen, "%s: %s: %s", key, path, strerror(-rc));
        goto out;
    }
    if ((rc = check_private(&st, path, key, err, errlen)) < 0)
        goto out;
    free(p);
    return fd;
out:
    if (fd >= 0)
        close(fd);
    free(p);
    return rc;
}

int privdir_open_at(int dirfd, const char *dir_path, const char *name, const char *key, char *err,
                    size_t errlen)
{
    char shown[4096];
    snprintf(shown, sizeof shown, "%s%s%s", dir_path,
             *dir_path && dir_path[strlen(dir_path) - 1] == '/' ? "" : "/", name);
    if (mkdirat(dirfd, name, 0700) < 0 && errno != EEXIST) {
        int e = errno;
        errbuf_printf(err, errlen, "%s: %s: %s", key, shown, strerror(e));
        return -e;
    }
    struct stat st;
    int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
            return refuse_link(shown, key, err, errlen);
        errbuf_printf(err, errlen, "%s: %s: %s", key, shown, strerror(e));
        return -e;
    }
    int rc = fstat(fd, &st) < 0 ? -errno : check_private(&st, shown, key, err, errlen);
    if (rc < 0) {
        if (rc != -EPERM && rc != -ENOTDIR)
            errbuf_printf(err, errlen, "%s: %s: %s", key, shown, strerror(-rc));
        close(fd);
        return rc;
    }
    return fd;
}

int privdir_rm_tree_at(int dirfd, const char *name)
{
    int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        /* A link (ELOOP) or a file (ENOTDIR): the entry itself goes, not what it names. */
        if (errno == ENOTDIR || errno == ELOOP)
            return unlinkat(dirfd, name, 0) < 0 && errno != ENOENT ? -errno : 0;
        return errno == ENOENT ? 0 : -errno;
    }
    DIR *d = fdopendir(fd);
    if (!d) {
        int e = errno;
        close(fd);
        return -e;
    }
    int rc = 0;
    if (unlinkat(fd, "_metadata", 0) < 0 && errno != ENOENT)
        rc = -errno;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        /* unlinkat without AT_REMOVEDIR removes a link or a file and fails on a directory
         * (EISDIR), which is then emptied through an O_NOFOLLOW open: nothing follows a link. */
        int r = (de->d_type == DT_DIR) ? privdir_rm_tree_at(fd, de->d_name)
                                       : (unlinkat(fd, de->d_name, 0) < 0 ? -errno : 0);
        if (r == -EISDIR || r == -EPERM)
            r = privdir_rm_tree_at(fd, de->d_name);
        if (r < 0 && r != -ENOENT && !rc)
            rc = r;
    }
    closedir(d);
    if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT && !rc)
        rc = -errno;
    return rc;
}

int privdir_rm_tree(const char *path)
{
    if (!path || !*path)
        return -EINVAL;
    char *p = strdup(path);
    if (!p)
        return -ENOMEM;
    for (size_t n = strlen(p); n > 1 && p[n - 1] == '/'; n--)
        p[n - 1] = '\0';
    char *slash = strrchr(p, '/');
    const char *base = slash ? slash + 1 : p;
    int dirfd = AT_FDCWD, rc;
    if (slash) {
        *slash = '\0';
        dirfd = open(slash == p ? "/" : p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    }
    if (dirfd < 0 && dirfd != AT_FDCWD)
        rc = errno == ENOENT ? 0 : -errno;
    else
        rc = privdir_rm_tree_at(dirfd, base);
    if (dirfd >= 0)
        close(dirfd);
    free(p);
    return rc;
}
