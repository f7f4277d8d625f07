/* Seeded pseudo-random numbers (xoshiro256**, seeded through splitmix64). */
#ifndef LEASH_RNG_H
#define LEASH_RNG_H

#include "leash/api.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct leash_rng {
    uint64_t s[4];
} leash_rng;

LEASH_API void leash_rng_seed(leash_rng *rng, uint64_t seed);
LEASH_API uint64_t leash_rng_next(leash_rng *rng);
/* Uniform integer in [0, bound), bound > 0, without modulo bias. */
LEASH_API uint64_t leash_rng_below(leash_rng *rng, uint64_t bound);
/* Uniform double in [0, 1). */
LEASH_API double leash_rng_uniform(leash_rng *rng);
/* Standard normal deviate. */
LEASH_API double leash_rng_normal(leash_rng *rng);
/* Uniformly random permutation of idx[0..n) in place (Fisher-Yates). */
LEASH_API void leash_rng_shuffle_u32(leash_rng *rng, uint32_t *idx, size_t n);

#ifdef __cplusplus
}
#endif
#endif
