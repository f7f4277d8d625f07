/* An epoch's beginning and end: a fresh permutation, then the ranks' figures, the
 * evaluation of their mean model, the record and the callback. */
#ifndef LEASH_EPOCH_INTERNAL_H
#define LEASH_EPOCH_INTERNAL_H

#include "core/store_internal.h"
#include "leash/train.h"

typedef struct trainer trainer;
typedef struct leash_progress leash_progress;

/* Start a fresh epoch: its permutation, and the workers' loss sums. */
void leash_epoch_begin(trainer *t);

/* Collective, between epochs: record the epoch in progress. Sets *stop if any rank was
 * asked to stop, *ckpt if a checkpoint is due on any. */
int leash_epoch_end(trainer *t, leash_epoch_callback on_epoch, void *arg, int *stop, int *ckpt);

/* Checkpoints: where the run stands (the epoch's position, its permutation perm of
 * ntrain samples, the next checkpoint's due time as time left from now). */
void leash_progress_save(leash_wbuf *b, const leash_progress *pg, const uint32_t *perm,
                         size_t ntrain, double now);
/* perm NULL: the permutation is read and dropped. */
void leash_progress_load(leash_progress *pg, leash_rbuf *r, uint32_t *perm, uint64_t ntrain,
                         double now);

/* Checkpoints: the counters the next epoch's figures start from (`bins` bins). */
void leash_epoch_base_save(leash_wbuf *b, const trainer *t, int bins);
/* own: this rank's (else read and dropped). */
void leash_epoch_base_load(trainer *t, leash_rbuf *r, int bins, int own);

#endif
