/* Staleness-adaptive step sizes (-t): NONE, INVERSE, FLEET and TAIL.
 *
 * eta(tau) for an update whose gradient is tau updates stale, tau clamped to tau_max:
 *   NONE     eta
 *   INVERSE  eta / (tau + 1)
 *   FLEET    eta * exp(-beta * tau), beta = (2 / T) ln(1 + floor(T / 2)), T = threads + 1
 *   TAIL     eta * (1 + A (1 - 2 F(tau))), F(tau) = fraction of sampled updates with
 *            staleness < tau, sampled from the first 5 m gradient updates with global
 *            index 10 m or more (without averaging: indices [10 m, 15 m)); NONE until
 *            the sample is complete.
 * The factors for every tau are precomputed, so eta() is a table lookup. */
#ifndef LEASH_STEPSIZE_INTERNAL_H
#define LEASH_STEPSIZE_INTERNAL_H

#include <stdint.h>

#include "core/store_internal.h"
#include "leash/train.h"

typedef struct leash_stepper leash_stepper;

int leash_stepper_create(leash_stepper **s, leash_step_policy policy, double eta, int threads,
                         int tau_max, double tail_amplitude);
void leash_stepper_destroy(leash_stepper *s);

int leash_stepper_tau_max(const leash_stepper *s);

/* Step size for staleness tau. Wait-free; safe from any thread. */
float leash_stepper_eta(const leash_stepper *s, uint64_t tau);

/* TAIL's sample so far, for checkpoints: hist gets tau_max + 1 counts, *samples their
 * total. Call while no update runs. */
void leash_stepper_state(const leash_stepper *s, uint64_t *hist, uint64_t *samples);
/* Put back a state from leash_stepper_state (rebuilding TAIL's table if the sample was
 * complete). LEASH_EFORMAT if it cannot be this stepper's. */
int leash_stepper_restore(leash_stepper *s, const uint64_t *hist, uint64_t samples);

/* Report the staleness of the gradient update with global index idx (0-based): TAIL
 * samples its window from these; the other policies ignore it. Updates that are not
 * gradients (the averaging layer's corrections) are not reported: the sample then
 * takes the next gradient instead of waiting for an index that never comes. Wait-free. */
void leash_stepper_observe(leash_stepper *s, uint64_t idx, uint64_t tau);

/* Checkpoints: the policy's state (TAIL's sample) in `bins` bins. */
void leash_stepper_save(leash_wbuf *b, const leash_stepper *s, int bins);
/* The saved state, put back if keep (a state is only good for the same threads), else
 * read and dropped. Returns 0, LEASH_EFORMAT if malformed, or a reported error. */
int leash_stepper_load(leash_stepper *s, leash_rbuf *r, int bins, int keep);

#endif
