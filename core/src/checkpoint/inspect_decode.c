/*
 * The registry of operator state decoders (weir/inspect.h weir_inspect_register_decoder):
 * a small table by kind, which inspect.c asks for the kind a state file records
 * (TAG_OPERATOR_KIND). The core's built-in connectors' decoders are entered on first use;
 * other libraries (io's connectors) register theirs.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include <weir/inspect.h>

#include "../connectors/decoders.h"

#define MAX_DECODERS 16

static struct {
    const char *kind;
    weir_state_decoder fn;
} table[MAX_DECODERS];
static size_t n_table;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t builtins_once = PTHREAD_ONCE_INIT;

static int add(const char *kind, weir_state_decoder fn)
{
    for (size_t i = 0; i < n_table; i++)
        if (strcmp(table[i].kind, kind) == 0)
            return -EEXIST;
    if (n_table == MAX_DECODERS)
        return -ENOSPC;
    table[n_table].kind = kind;
    table[n_table++].fn = fn;
    return 0;
}

static void builtins(void)
{
    add("datagen", datagen_decode_item);
}

int weir_inspect_register_decoder(const char *kind, weir_state_decoder fn)
{
    if (!kind || !*kind || !fn)
        return -EINVAL;
    pthread_once(&builtins_once, builtins);
    pthread_mutex_lock(&lock);
    int rc = add(kind, fn);
    pthread_mutex_unlock(&lock);
    return rc;
}

weir_state_decoder weir_inspect_decoder(const char *kind)
{
    pthread_once(&builtins_once, builtins);
    weir_state_decoder fn = NULL;
    pthread_mutex_lock(&lock);
    for (size_t i = 0; kind && i < n_table && !fn; i++)
        if (strcmp(table[i].kind, kind) == 0)
            fn = table[i].fn;
    pthread_mutex_unlock(&lock);
    return fn;
}
