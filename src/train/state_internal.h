/* One rank's state in a checkpoint (its RANK section), written and read in one order:
 * the rank and its shard's identity, the results so far, the progress and position, the
 * strategy (newest parameters, momentum), the step-size policy, the averaging layer, the
 * workers, the loss trace, the next epoch's base counters. Each part's bytes are its
 * owner's: this file only calls them in order. */
#ifndef LEASH_STATE_INTERNAL_H
#define LEASH_STATE_INTERNAL_H

#include "core/store_internal.h"
#include "train/checkpoint_internal.h"
#include "train/resume_internal.h"

typedef struct trainer trainer;

/* What a checkpoint of this run must match. */
leash_checkpoint_id leash_state_identity(const trainer *t);

/* Collective: write a checkpoint now (no worker runs) and schedule the next one. A run
 * without a checkpoint path has nowhere to write one: a stop then only ends it. */
int leash_state_checkpoint(trainer *t);

/* This rank's saved state (rs->blob), up to the strategy's parameters, into the trainer
 * and rs. */
int leash_state_load(trainer *t, leash_resume *rs);
/* Once the strategy and the workers exist (none running): the rest of rs. */
int leash_state_apply(trainer *t, leash_resume *rs);

/* Rank 0, resuming on another layout: saved rank j's totals, its parameters into theta
 * (room for the model's floats) and its strategy's momentum buffers in *st. */
typedef struct leash_state_totals {
    uint64_t ntrain, updates, samples;
} leash_state_totals;
int leash_state_skim(const trainer *t, leash_rbuf r, int j, float *theta, uint32_t max_buffers,
                     leash_saved_strategy *st, leash_state_totals *out);

#endif
