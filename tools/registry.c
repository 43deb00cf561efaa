/* The job registry: see registry.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "registry.h"

#define SUFFIX ".job"

/* Field 22 of /proc/PID/stat, when the process started (clock ticks since boot); 0 when
 * there is no such process. The command name (field 2) may hold spaces and parentheses:
 * the fields after it start after its last ')'. */
static unsigned long long proc_start(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    if (!p)
        return 0;
    p++;
    /* after ')': field 3 (state) is the first; starttime is field 22 */
    for (int field = 3; field < 22 && p; field++)
        p = strchr(p + 1, ' ');
    return p ? strtoull(p + 1, NULL, 10) : 0;
}

void registry_self(struct registry_entry *e)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    e->pid = getpid();
    e->pid_start = proc_start(e->pid);
    e->start_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* 0 when dir is a directory of ours that nobody else may write; else -errno and err. */
static int check_dir(const char *dir, const char *why, char *err, size_t errlen)
{
    struct stat st;
    if (lstat(dir, &st) < 0) {
        int e = errno;
        snprintf(err, errlen, "job registry: %s (%s): %s", dir, why, strerror(e));
        return -e;
    }
    if (!S_ISDIR(st.st_mode)) {
        snprintf(err, errlen,
                 "job registry: %s (%s): not a directory; set WEIR_RUNTIME_DIR to a directory "
                 "of your own",
                 dir, why);
        return -ENOTDIR;
    }
    if (st.st_uid != geteuid()) {
        snprintf(err, errlen,
                 "job registry: %s (%s): owned by uid %u, not by you (uid %u); set "
                 "WEIR_RUNTIME_DIR to a directory of your own",
                 dir, why, (unsigned)st.st_uid, (unsigned)geteuid());
        return -EPERM;
    }
    if (st.st_mode & (S_IWGRP | S_IWOTH)) {
        snprintf(err, errlen,
                 "job registry: %s (%s): mode %03o lets others write it; chmod 700 it or set "
                 "WEIR_RUNTIME_DIR to a directory of your own",
                 dir, why, (unsigned)(st.st_mode & 0777));
        return -EPERM;
    }
    return 0;
}

int registry_dir(char *dir, size_t len, int create, char *err, size_t errlen)
{
    const char *env = getenv("WEIR_RUNTIME_DIR"), *xdg = getenv("XDG_RUNTIME_DIR");
    const char *why;
    if (env && *env) {
        snprintf(dir, len, "%s", env);
        why = "WEIR_RUNTIME_DIR";
    } else if (xdg && *xdg) {
        snprintf(dir, len, "%s/weir", xdg);
        why = "XDG_RUNTIME_DIR/weir";
    } else if (access("/run/weir", W_OK) == 0 ||
               (access("/run/weir", F_OK) < 0 && access("/run", W_OK) == 0)) {
        snprintf(dir, len, "/run/weir");
        why = "/run/weir";
    } else {
        snprintf(dir, len, "/tmp/weir-%u", (unsigned)geteuid());
        why = "no WEIR_RUNTIME_DIR or XDG_RUNTIME_DIR";
    }
    if (access(dir, F_OK) < 0 && errno == ENOENT) {
        if (!create)
            return 1;
        if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
            int e = errno;
            snprintf(err, errlen,
                     "job registry: %s (%s): %s; set WEIR_RUNTIME_DIR to a directory you may "
                     "write",
                     dir, why, strerror(e));
            return -e;
        }
    }
    return check_dir(dir, why, err, errlen);
}

int registry_add(const struct registry_entry *e, char *path, size_t len, char *err,
                 size_t errlen)
{
    char dir[PATH_MAX], tmp[PATH_MAX + 64], name[sizeof e->name];
    int rc = registry_dir(dir, sizeof dir, 1, err, errlen);
    if (rc < 0)
        return rc;
    /* one entry a line: a name with a newline would break the file */
    snprintf(name, sizeof name, "%s", e->name);
    for (char *c = name; *c; c++)
        if (*c == '\n' || *c == '\r')
            *c = '?';
    snprintf(path, len, "%s/%s" SUFFIX, dir, e->id);
    snprintf(tmp, sizeof tmp, "%s/.%s.%d.tmp", dir, e->id, (int)e->pid);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    FILE *f = fd < 0 ? NULL : fdopen(fd, "w");
    if (!f)
        goto fail;
    fprintf(f, "id=%s\nname=%s\npid=%d\npid_start=%llu\nstart_ms=%" PRId64 "\nurl=%s\n", e->id,
            name, (int)e->pid, e->pid_start, e->start_ms, e->url);
    fd = -1;
    if (fclose(f) != 0)
        goto fail;
    if (rename(tmp, path) < 0)
        goto fail;
    return 0;
fail:
    rc = -errno;
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    snprintf(err, errlen, "job registry: %s: %s; set WEIR_RUNTIME_DIR to a directory you may write",
             path, strerror(-rc));
    return rc;
}

/* One entry file into e: 0, or -EINVAL for a file that is not one. */
static int parse_entry(const char *path, struct registry_entry *e)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -errno;
    char line[512];
    int seen = 0;
    memset(e, 0, sizeof *e);
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        char *v = strchr(line, '=');
        if (!v)
            continue;
        *v++ = 0;
        if (!strcmp(line, "id"))
            seen |= 1, snprintf(e->id, sizeof e->id, "%s", v);
        else if (!strcmp(line, "name"))
            snprintf(e->name, sizeof e->name, "%s", v);
        else if (!strcmp(line, "pid"))
            seen |= 2, e->pid = (pid_t)strtol(v, NULL, 10);
        else if (!strcmp(line, "pid_start"))
            seen |= 4, e->pid_start = strtoull(v, NULL, 10);
        else if (!strcmp(line, "start_ms"))
            e->start_ms = strtoll(v, NULL, 10);
        else if (!strcmp(line, "url"))
            seen |= 8, snprintf(e->url, sizeof e->url, "%s", v);
    }
    fclose(f);
    return seen == 15 && e->pid > 0 ? 0 : -EINVAL;
}

/* The entry's process is still the one that wrote it: alive, and started when it says. */
static int alive(const struct registry_entry *e)
{
    if (kill(e->pid, 0) < 0 && errno == ESRCH)
        return 0;
    return proc_start(e->pid) == e->pid_start;
}

static int by_start(const void *a, const void *b)
{
    const struct registry_entry *x = a, *y = b;
    return (x->start_ms > y->start_ms) - (x->start_ms < y->start_ms);
}

int registry_list(struct registry_entry **out, int *n, char *err, size_t errlen)
{
    char dir[PATH_MAX], path[PATH_MAX + 300];
    *out = NULL;
    *n = 0;
    int rc = registry_dir(dir, sizeof dir, 0, err, errlen);
    if (rc != 0)
        return rc < 0 ? rc : 0;
    DIR *d = opendir(dir);
    if (!d) {
        rc = -errno;
        snprintf(err, errlen, "job registry: %s: %s", dir, strerror(-rc));
        return rc;
    }
    struct dirent *de;
    int cap = 0;
    while ((de = readdir(d))) {
        size_t l = strlen(de->d_name);
        if (de->d_name[0] == '.' || l <= strlen(SUFFIX) ||
            strcmp(de->d_name + l - strlen(SUFFIX), SUFFIX))
            continue;
        struct registry_entry e;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        if (parse_entry(path, &e) < 0)
            continue; /* not ours to judge: leave it */
        if (!alive(&e)) {
            unlink(path); /* killed without cleaning up (kill -9, a crash) */
            continue;
        }
        if (*n == cap) {
            cap = cap ? 2 * cap : 8;
            struct registry_entry *m = realloc(*out, (size_t)cap * sizeof *m);
            if (!m) {
                closedir(d);
                free(*out);
                *out = NULL;
                *n = 0;
                snprintf(err, errlen, "job registry: out of memory");
                return -ENOMEM;
            }
            *out = m;
        }
        (*out)[(*n)++] = e;
    }
    closedir(d);
    if (*n > 1)
        qsort(*out, (size_t)*n, sizeof **out, by_start);
    return 0;
}
