/*
 * Scratch directories under $WEIR_TEST_TMP: made on demand, removed when the test program
 * exits, so that a run leaves nothing behind and two programs never share one.
 */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "weir_test.h"

/* The directories to remove at exit, and the process that made them: a forked child that
 * calls exit() must not remove its parent's directories. */
static char **dirs;
static size_t n_dirs;
static pid_t owner;

const char *wt_tmp_root(void)
{
    const char *tmp = getenv("WEIR_TEST_TMP");
    if (!tmp || !*tmp)
        tmp = "/tmp";
    if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
        fail_msg("mkdir %s: %s", tmp, strerror(errno));
    return tmp;
}

static int rm_entry(const char *p, const struct stat *st, int type, struct FTW *f)
{
    if (type == FTW_DP ? rmdir(p) : unlink(p))
        fprintf(stderr, "warning: could not remove %s: %s\n", p, strerror(errno));
    return 0;
}

void wt_rm_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) == 0)
        nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void remove_dirs(void)
{
    for (size_t i = 0; i < n_dirs; i++) {
        if (getpid() == owner)
            wt_rm_tree(dirs[i]);
        free(dirs[i]);
    }
    free(dirs);
    dirs = NULL;
    n_dirs = 0;
}

const char *wt_tmp_dir(const char *tag)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s-%d-XXXXXX", wt_tmp_root(), tag, (int)getpid());
    char **grown = realloc(dirs, (n_dirs + 1) * sizeof *dirs);
    char *dir = strdup(path);
    if (grown)
        dirs = grown;
    if (!grown || !dir)
        fail_msg("out of memory for scratch directory %s", tag);
    if (!mkdtemp(dir))
        fail_msg("mkdtemp %s: %s", path, strerror(errno));
    if (!owner) {
        owner = getpid();
        atexit(remove_dirs);
    }
    dirs[n_dirs++] = dir;
    return dir;
}

const char *wt_tmp_file(const char *name, const char *text)
{
    static const char *dir;
    static char path[4096];
    if (!dir)
        dir = wt_tmp_dir("files");
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f)
        fail_msg("cannot write %s: %s", path, strerror(errno));
    fputs(text, f);
    fclose(f);
    return path;
}
