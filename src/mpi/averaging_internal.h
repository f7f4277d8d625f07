/* The averaging layer between ranks (doc/design.md, section 6), run by the training thread.
 *
 * A round: take a consistent copy theta_s of this rank's newest parameters, sum the
 * copies of all ranks (MPI_Allreduce) into theta_avg, and publish the correction
 * theta_avg - theta_s through the strategy as one update with eta = 1. Updates that the
 * workers published meanwhile are kept, every version stays whole gradients (plus whole
 * corrections) applied in order, and no worker waits for the network.
 *
 * Rounds are collectives, so all ranks must run the same number. Each round starts by
 * counting the ranks that have finished their epoch: a rank that finishes early keeps
 * joining rounds (its workers idle) until a round in which every rank has finished,
 * which ends there without averaging. So ranks that train at different speeds, or whose
 * update counts differ (dropped gradients, uneven shards), still pair their rounds one
 * to one, and an epoch's end adds one small reduction, not an averaging. The same
 * reduction counts the ranks that want to pause (a checkpoint or a stop): each rank that
 * learns of one pauses its workers, so that all ranks reach the safe point together. */
#ifndef LEASH_AVERAGING_INTERNAL_H
#define LEASH_AVERAGING_INTERNAL_H

#include "core/store_internal.h"
#include <stdint.h>

#include "sync/strategy_internal.h"

typedef struct leash_averager {
    const leash_strategy_ops *ops;
    leash_strategy *strategy;
    size_t n;
    float *snapshot; /* theta_s */
    float *sum;      /* the summed parameters, then the correction */
    long every;      /* updates between rounds; 0: not by count */
    double period;   /* seconds between rounds; 0: not by time */
    uint64_t next_updates;
    double next_time;
    uint64_t rounds;
    /* Intervals of `every` updates that went by with no round starting, because the one
     * before was still exchanging (a slow link, or slower ranks): the next round starts
     * as soon as that one ends, so rounds fall behind, the workers never wait. */
    uint64_t behind;
    double time_mpi;   /* in MPI_Allreduce */
    double time_total; /* in rounds: copies, MPI, corrections */
    leash_tl_track *track; /* the main thread's timeline track; NULL: none */
} leash_averager;

/* every/period as in leash_config (at least one nonzero). */
int leash_averager_init(leash_averager *a, const leash_strategy_ops *ops, leash_strategy *s,
                        size_t n, long every, double period);
void leash_averager_free(leash_averager *a);

/* Whether a round is due, given this rank's update count and the time. */
int leash_averager_due(const leash_averager *a, uint64_t updates, double now);

/* One round. finished: this rank's workers are done with the epoch (or paused); pause:
 * this rank wants every rank to pause. idle(arg) tells whether no worker runs (then
 * requests the strategy posted are served here). On return *all_finished says whether
 * every rank had finished (then nothing was averaged), *any_pause whether any rank asked
 * to pause. */
int leash_averager_round(leash_averager *a, uint64_t updates, int finished, int pause,
                         int (*idle)(void *), void *arg, int *all_finished, int *any_pause);

/* The averaging itself, collective: copy this rank's newest parameters, sum them over the
 * ranks, publish the correction, and schedule the next round from `updates`. Blocking
 * rounds (--avg-mode blocking) call it directly, at a safe point every rank agreed on. */
int leash_averager_exchange(leash_averager *a, uint64_t updates, int (*idle)(void *), void *arg);

/* Checkpoints: the counters and the schedule (its deadline as time left from now). */
void leash_averager_save(leash_wbuf *b, const leash_averager *a, double now);
/* own: this rank's counters (else read and dropped); schedule: the layer is on and goes
 * on at the saved schedule. */
void leash_averager_load(leash_averager *a, leash_rbuf *r, int own, int schedule, double now);

#endif
