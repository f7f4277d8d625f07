/* Resuming a run from a checkpoint: rank 0 reads the file and checks it against this
 * run, every rank receives its state and restores it.
 *
 * On another rank count or threads (a requeued job given other nodes), the run goes on
 * from the checkpoint's mean: every rank starts from the mean of its ranks' newest
 * parameters (summed in rank order on rank 0, then scaled), every momentum buffer from
 * the mean of its buffers; the records (epochs, times, trace, resumes) continue, and so
 * do the job's update and sample counts (old rank j's are carried by new rank j mod the
 * new count). A rank the file has carries on its own counters and trace (old workers
 * folded onto new worker i mod threads; the step-size state only on the same threads), a
 * new rank starts its own from zero. The epoch in progress continues at the same
 * fraction of its rounds, on a fresh permutation of this rank's new shard. Only the
 * shards' total size can be checked against the file (shards of another rank count hold
 * other samples), besides the test set's CRC. Rank 0 warns once. */
#ifndef LEASH_RESUME_INTERNAL_H
#define LEASH_RESUME_INTERNAL_H

#include "core/store_internal.h"
#include "sync/strategy_internal.h"

typedef struct trainer trainer;

/* This rank's state while a resume is in progress. */
typedef struct leash_resume {
    unsigned char *blob; /* this rank's RANK section */
    size_t len;
    leash_rbuf rest;               /* what leash_state_apply reads */
    float *theta;                  /* the strategy's newest parameters (leash_params_alloc) */
    leash_saved_strategy strategy; /* their timestamp, the momentum buffers */
    /* A resume on another layout than the checkpoint's: its layout (from_ranks 0: the
     * same one), whether the file holds this rank's own state (if not, blob is rank 0's,
     * for the records), the mean of its momentum buffers (NULL without), and the job's
     * update and sample counts this rank carries on. */
    struct {
        int from_ranks, from_threads;
        int own;
        float *velocity;
        uint64_t updates, samples;
    } reshape;
} leash_resume;

/* Collective: read t->cfg->resume and restore the results so far (t->res) and this
 * rank's position (t->prog, t->perm); before the strategy exists, r->theta and
 * r->strategy are what it starts from (leash_state_apply restores the rest). Errors
 * agreed. */
int leash_resume_load(trainer *t, leash_resume *r);
void leash_resume_free(leash_resume *r);

#endif
