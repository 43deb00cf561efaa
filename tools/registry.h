/* The job registry: how `weir list`, `weir savepoint` and the other verbs find the jobs
 * running on this host without being told their REST ports.
 *
 * Each `weir run` whose REST API serves writes one small file, <dir>/<job id>.job (job id,
 * name, pid, the pid's start time from /proc, REST URL, start time), atomically (a temp file
 * renamed), and removes it when the run ends. A process killed with -9 leaves its file
 * behind: an entry whose pid is gone, or whose pid now belongs to another process (its start
 * time in /proc differs), is stale; registry_list skips and deletes it.
 *
 * <dir> is $WEIR_RUNTIME_DIR, else $XDG_RUNTIME_DIR/weir, else /run/weir where we may write
 * it, else /tmp/weir-<uid>. It is made 0700; one that exists must be a directory of ours that
 * nobody else may write (an entry names the URL the verbs send their bearer token to).
 *
 *     struct registry_entry e = {0};
 *     registry_self(&e);                       // pid, its start time, now
 *     snprintf(e.id, ...); snprintf(e.url, ...);
 *     char path[PATH_MAX];
 *     if (registry_add(&e, path, sizeof path, err, sizeof err) == 0) {
 *         ...run...
 *         unlink(path);
 *     }
 */
#ifndef WEIR_TOOLS_REGISTRY_H
#define WEIR_TOOLS_REGISTRY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct registry_entry {
    char id[33];    /* 32 hex digits, the REST API's job id */
    char name[128]; /* the job's name */
    char url[320];  /* its REST API: "http://127.0.0.1:8081" */
    pid_t pid;
    unsigned long long pid_start; /* /proc/PID/stat starttime (clock ticks since boot) */
    int64_t start_ms;             /* wall clock, ms since the epoch */
};

/* The registry's directory into dir (made when create and missing). Returns 0; 1 when it
 * does not exist and create is false (no job registered); a negative errno with one line in
 * err naming the directory, what is wrong and WEIR_RUNTIME_DIR. */
int registry_dir(char *dir, size_t len, int create, char *err, size_t errlen);

/* This process's pid, its start time and now into e. */
void registry_self(struct registry_entry *e);

/* Writes e atomically; its path into path for the unlink at the end. 0 or -errno and err. */
int registry_add(const struct registry_entry *e, char *path, size_t len, char *err,
                 size_t errlen);

/* The live entries, oldest first, in *out (free()) and their count in *n; stale entries
 * are deleted. 0 (none registered is *n = 0) or -errno and err. */
int registry_list(struct registry_entry **out, int *n, char *err, size_t errlen);

#endif
