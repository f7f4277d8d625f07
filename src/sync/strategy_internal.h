/* The strategy interface: how workers read parameters and publish gradients.
 *
 * The worker loop (batch -> read -> gradient -> release -> publish) is written once in
 * trainer.c; each algorithm supplies these operations in its own file. A strategy owns
 * the shared parameter state; workers only see versions through read/release. */
#ifndef LEASH_STRATEGY_INTERNAL_H
#define LEASH_STRATEGY_INTERNAL_H

#include <stdint.h>

#include "leash/train.h"

typedef struct leash_strategy leash_strategy;

typedef struct leash_strategy_ops {
    leash_algorithm algorithm;
    /* Shared state starting from theta0 (copied), for cfg->threads workers. */
    int (*create)(leash_strategy **s, const leash_model *m, const float *theta0,
                  const leash_config *cfg);
    void (*destroy)(leash_strategy *s);
    /* Pin a version for worker w to compute a gradient on; *timestamp is its number of
     * applied updates. The pointer stays valid until release. */
    const float *(*read)(leash_strategy *s, int w, uint64_t *timestamp);
    void (*release)(leash_strategy *s, int w, const float *version);
    /* Apply worker w's gradient, computed on the version with timestamp ts. Returns 1
     * if it became an update, 0 if the strategy dropped it. */
    int (*publish)(leash_strategy *s, int w, const float *grad, uint64_t ts);
    /* Copy the newest parameters into out (called while no worker runs). */
    void (*snapshot)(leash_strategy *s, float *out);
} leash_strategy_ops;

extern const leash_strategy_ops leash_seq_ops;

#endif
