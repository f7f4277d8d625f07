/* The time breakdown of every epoch (leash_time_split): where each worker's time went.
 *
 * Workers time their phases in their own statistics (do_round). The main thread takes
 * a baseline when an epoch starts (or the run resumes inside one), adds up the time it
 * kept the workers paused between segments, and at the epoch's end turns the
 * differences into fractions of the epoch's time. */
#ifndef LEASH_BREAKDOWN_INTERNAL_H
#define LEASH_BREAKDOWN_INTERNAL_H

#include "train/trainer_internal.h"

/* The baseline: now is the start of the window the next breakdown covers. */
void leash_breakdown_begin(trainer *t);
/* Collective: the epoch's breakdown into st (the mean over all ranks' workers) and into
 * the result's worker_splits (this rank's workers). */
int leash_breakdown_epoch(trainer *t, leash_epoch_stats *st);

#endif
