/*
 * Key groups: how keyed state and keyed streams are partitioned.
 *
 * These are Flink's formulas, so that a job that keys by a 64-bit id sends each
 * key to the same subtask index that Flink would, and a snapshot indexed by key
 * group can be restored at another parallelism:
 *
 *   key_group      = murmur(hashCode(key)) % max_parallelism
 *   subtask        = key_group * parallelism / max_parallelism
 *   range(subtask) = [ceil(i * maxp / p), ceil((i + 1) * maxp / p) - 1]
 *
 * hashCode of a 64-bit key is Java's Long.hashCode: (int)(k ^ (k >>> 32)).
 *
 *     uint32_t kg = weir_key_group_of(auction_id, 128);
 *     uint32_t owner = weir_key_group_subtask(kg, 128, parallelism);
 */
#ifndef WEIR_KEYGROUP_H
#define WEIR_KEYGROUP_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Flink's MathUtils.murmurHash(int): one murmur3 round plus finalizer, made
 * non-negative. */
static inline uint32_t weir_murmur_int(int32_t code)
{
    uint32_t h = (uint32_t)code;
    h *= 0xcc9e2d51u;
    h = (h << 15) | (h >> 17);
    h *= 0x1b873593u;
    h = (h << 13) | (h >> 19);
    h = h * 5u + 0xe6546b64u;
    h ^= 4u;
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    int32_t s = (int32_t)h;
    if (s >= 0)
        return (uint32_t)s;
    if (s != INT32_MIN)
        return (uint32_t)(-s);
    return 0;
}

/* Java's Long.hashCode. */
static inline int32_t weir_key_hash_code(uint64_t key)
{
    return (int32_t)(uint32_t)(key ^ (key >> 32));
}

static inline uint32_t weir_key_group_of(uint64_t key, uint32_t max_parallelism)
{
    return weir_murmur_int(weir_key_hash_code(key)) % max_parallelism;
}

static inline uint32_t weir_key_group_subtask(uint32_t key_group, uint32_t max_parallelism,
                                              uint32_t parallelism)
{
    return (uint32_t)((uint64_t)key_group * parallelism / max_parallelism);
}

/* First key group owned by subtask i (inclusive). */
static inline uint32_t weir_key_group_range_start(uint32_t i, uint32_t max_parallelism,
                                                  uint32_t parallelism)
{
    return (uint32_t)(((uint64_t)i * max_parallelism + parallelism - 1) / parallelism);
}

/* Last key group owned by subtask i (inclusive). */
static inline uint32_t weir_key_group_range_end(uint32_t i, uint32_t max_parallelism,
                                                uint32_t parallelism)
{
    return weir_key_group_range_start(i + 1, max_parallelism, parallelism) - 1;
}

#ifdef __cplusplus
}
#endif
#endif
