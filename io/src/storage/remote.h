/*
 * @internal What remote.c (the uploader thread) and remote_sync.c (the store at open: the
 * local copy made to match it) share. The storage's side of it is in storage_impl.h.
 */
#ifndef WEIR_REMOTE_H
#define WEIR_REMOTE_H

#include <stdarg.h>

#include <weir/errbuf.h>

#include "s3.h"
#include "storage_impl.h"

/* Multipart part size: S3 wants >= 5 MiB for every part but the last. */
#define REMOTE_PART_BYTES (8u << 20)

struct rjob;

struct remote {
    struct weir_s3 *s3; /* remote_sync's before the uploader starts, the uploader's after */
    char *bucket;
    char *key_job; /* "<prefix>/<job>", or "<job>" without a prefix */
    char *url;     /* "s3://bucket/prefix", for messages */
    bool local_recovery;
    size_t part_bytes;

    pthread_t thread;
    bool thread_started;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct rjob *head, *tail;
    bool stop;          /* under lock */
    atomic_bool cancel; /* closing: fail uploads not begun */

    /* uploader only: shared files the store holds (listed at open, uploaded since) */
    char **shared;
    size_t nshared, capshared;
};

/* key_job followed by fmt (which starts with '/'). */
void remote_key(const struct remote *r, char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Every object under key_job + "/": keys (and sizes, when sizes is not NULL), malloc'ed. */
int remote_list_all(struct remote *r, char ***keys, uint64_t **sizes, size_t *n);
bool remote_set_has(char **v, size_t n, const char *name);
int remote_set_add(char ***v, size_t *n, size_t *cap, const char *name);

#endif
