/*
 * java.util.Random, bit for bit: the 48-bit linear congruential generator and
 * the derived draws as OpenJDK 17 implements them (Random.next, nextInt,
 * nextInt(bound), nextLong, nextDouble), plus Math.round. The Nexmark
 * generator seeds one per event, as Beam's does, so that the Java peer makes
 * the same events. Java's int overflow wraps: the arithmetic below goes through
 * unsigned types where Java's would overflow.
 */
#ifndef WEIR_NEXMARK_RANDOM_H
#define WEIR_NEXMARK_RANDOM_H

#include <math.h>
#include <stdint.h>

#define JRAND_MULTIPLIER UINT64_C(0x5DEECE66D)
#define JRAND_ADDEND     UINT64_C(0xB)
#define JRAND_MASK       ((UINT64_C(1) << 48) - 1)

struct jrand {
    uint64_t seed;
};

/* new Random(seed) */
static inline void jrand_seed(struct jrand *r, int64_t seed)
{
    r->seed = ((uint64_t)seed ^ JRAND_MULTIPLIER) & JRAND_MASK;
}

/* Random.next(bits), 1 <= bits <= 32 */
static inline int32_t jrand_next(struct jrand *r, int bits)
{
    r->seed = (r->seed * JRAND_MULTIPLIER + JRAND_ADDEND) & JRAND_MASK;
    return (int32_t)(uint32_t)(r->seed >> (48 - bits));
}

static inline int32_t jrand_next_int(struct jrand *r)
{
    return jrand_next(r, 32);
}

/* nextInt(bound), bound > 0: a power of two takes the high bits; otherwise
 * draws that would bias the remainder are rejected (u - r + m overflows). */
static inline int32_t jrand_next_int_bound(struct jrand *r, int32_t bound)
{
    int32_t v = jrand_next(r, 31);
    int32_t m = bound - 1;
    if ((bound & m) == 0)
        return (int32_t)(((int64_t)bound * (int64_t)v) >> 31);
    for (int32_t u = v; (int32_t)((uint32_t)u - (uint32_t)(v = u % bound) + (uint32_t)m) < 0;
         u = jrand_next(r, 31))
        ;
    return v;
}

/* ((long)next(32) << 32) + next(32): the low half is sign-extended. */
static inline int64_t jrand_next_long(struct jrand *r)
{
    int64_t hi = jrand_next(r, 32);
    int64_t lo = jrand_next(r, 32);
    return (int64_t)(((uint64_t)hi << 32) + (uint64_t)lo);
}

static inline double jrand_next_double(struct jrand *r)
{
    int64_t hi = jrand_next(r, 26);
    int64_t lo = jrand_next(r, 27);
    return (double)((hi << 27) + lo) * 0x1.0p-53;
}

/* Math.round(double) for the finite values the generator rounds: floor(x + 1/2)
 * computed exactly (so 0.49999999999999994 rounds to 0, as in Java 7+). */
static inline int64_t java_round(double x)
{
    double f = floor(x);
    return (int64_t)f + (x - f >= 0.5 ? 1 : 0);
}

#endif
