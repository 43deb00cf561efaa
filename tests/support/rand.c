/*
 * Reproducible randomness for property tests: splitmix64 gives the same sequence from a
 * seed on any libc, WEIR_TEST_SEED replays another one and WEIR_TEST_OPS sets another length.
 */
#include <stdlib.h>

#include "weir_test.h"

uint64_t wt_rand(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

uint64_t wt_seed(uint64_t def)
{
    const char *s = getenv("WEIR_TEST_SEED");
    return s && *s ? strtoull(s, NULL, 0) : def;
}

uint64_t wt_ops(uint64_t def)
{
    const char *s = getenv("WEIR_TEST_OPS");
    return s && *s ? strtoull(s, NULL, 0) : def;
}
