/* The time breakdown of every epoch (leash_time_split): where each worker's time went.
 *
 * Workers time their phases in their own statistics (do_round). The main thread takes
 * a baseline when an epoch starts (or the run resumes inside one), adds up the time it
 * kept the workers paused between segments, and at the epoch's end turns the
 * differences into fractions of the epoch's time. */
#ifndef LEASH_BREAKDOWN_INTERNAL_H
#define LEASH_BREAKDOWN_INTERNAL_H

#include "core/store_internal.h"
#include "train/trainer_internal.h"

/* The baseline: now is the start of the window the next breakdown covers. */
void leash_breakdown_begin(trainer *t);
/* Collective: the epoch's breakdown into st (the mean over all ranks' workers) and into
 * the result's worker_splits (this rank's workers). */
int leash_breakdown_epoch(trainer *t, leash_epoch_stats *st);
/* Rank 0, in checkpoints: the finished epochs' breakdowns as an SPLT section (per epoch
 * its split_known, the mean, and with LEASH_SPLIT_WORKERS the workers'), and back from
 * one. A file without the section (written before it existed) leaves them unknown; a
 * malformed one too. */
void leash_breakdown_save(leash_wbuf *b, const trainer *t);
void leash_breakdown_load(trainer *t, leash_rbuf r);

#endif
