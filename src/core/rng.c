#include <math.h>

#include "leash/rng.h"

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void leash_rng_seed(leash_rng *rng, uint64_t seed)
{
    for (int i = 0; i < 4; ++i) rng->s[i] = splitmix64(&seed);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t leash_rng_next(leash_rng *rng)
{
    uint64_t *s = rng->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint64_t leash_rng_below(leash_rng *rng, uint64_t bound)
{
    /* Lemire's multiply-and-reject: unbiased without a division in the common case. */
    __uint128_t m = (__uint128_t)leash_rng_next(rng) * bound;
    uint64_t low = (uint64_t)m;
    if (low < bound) {
        uint64_t threshold = -bound % bound;
        while (low < threshold) {
            m = (__uint128_t)leash_rng_next(rng) * bound;
            low = (uint64_t)m;
        }
    }
    return (uint64_t)(m >> 64);
}

double leash_rng_uniform(leash_rng *rng) { return (double)(leash_rng_next(rng) >> 11) * 0x1.0p-53; }

double leash_rng_normal(leash_rng *rng)
{
    /* Box-Muller; 1 - u keeps the logarithm's argument in (0, 1]. */
    double u = 1.0 - leash_rng_uniform(rng);
    double v = leash_rng_uniform(rng);
    return sqrt(-2.0 * log(u)) * cos(2.0 * M_PI * v);
}

void leash_rng_shuffle_u32(leash_rng *rng, uint32_t *idx, size_t n)
{
    for (size_t i = n; i > 1; --i) {
        size_t j = (size_t)leash_rng_below(rng, i);
        uint32_t t = idx[i - 1];
        idx[i - 1] = idx[j];
        idx[j] = t;
    }
}
