/* Checkpoints: everything a run needs to continue as if it had never stopped, in one
 * file of sections (core/store_internal.h; the layout is in doc/file-formats.md).
 *
 * Rank 0 writes the file: the configuration and data identity every rank must match,
 * the model (the parameters the last finished epoch was scored on, so that
 * leash --evaluate can score a checkpoint), then one RANK section per rank, in rank
 * order, holding that rank's whole state: results so far, position in the epoch,
 * permutation and RNG, the strategy's newest parameters and timestamp, momentum,
 * step-size state, the averaging layer's and every worker's counters. Checkpoints are
 * taken only at safe points, where no worker runs and no averaging round is open on
 * any rank, so the ranks' states are one consistent cut of the job. */
#ifndef LEASH_CHECKPOINT_INTERNAL_H
#define LEASH_CHECKPOINT_INTERNAL_H

#include "core/store_internal.h"
#include "train/trainer_internal.h"

#define LEASH_CHECKPOINT_MAGIC "LEASHCKP"
#define LEASH_CHECKPOINT_VERSION 2u

/* Collective: gather every rank's state and write t->cfg->checkpoint on rank 0.
 * Errors are agreed: every rank returns the same outcome. */
int leash_checkpoint_write(trainer *t);

/* This rank's state while a resume is in progress. */
typedef struct leash_resume {
    unsigned char *blob; /* this rank's RANK section */
    size_t len;
    leash_rbuf rest;  /* what leash_checkpoint_apply reads */
    float *theta;     /* the strategy's newest parameters (leash_params_alloc) */
    uint64_t timestamp;
    /* A resume on another layout than the checkpoint's (rank count or -n): its layout
     * (from_ranks 0: the same one), whether the file holds this rank's own state (if
     * not, blob is rank 0's, for the records), the mean of its momentum buffers (NULL
     * without), and the job's update and sample counts this rank carries on. */
    struct {
        int from_ranks, from_threads;
        int own;
        float *velocity;
        uint64_t updates, samples;
    } reshape;
} leash_resume;

/* Collective: rank 0 reads t->cfg->resume and checks it against this run (configuration,
 * data, layout), every rank receives its state and checks its own shard, and restores
 * the results so far (t->res) and its position (t->prog, t->perm). Before the strategy
 * exists: r->theta and r->timestamp are what it starts from. Errors agreed.
 *
 * On another rank count or -n (a requeued job given other nodes), the run goes on from
 * the checkpoint's mean: every rank starts from the mean of its ranks' newest parameters
 * (summed in rank order on rank 0, then scaled), every momentum buffer from the mean of
 * its buffers; the records (epochs, times, trace, resumes) continue, and so do the job's
 * update and sample counts (old rank j's are carried by new rank j mod the new count). A
 * rank the file has carries on its own counters and trace (old workers folded onto new
 * worker i mod -n; the step-size state only on the same -n), a new rank starts its own
 * from zero. The epoch in progress continues at the
 * same fraction of its rounds, on a fresh permutation of this rank's new shard. Only the
 * shards' total size can be checked against the file (shards of another rank count hold
 * other samples), besides the test set's CRC. Rank 0 warns once. */
int leash_checkpoint_load(trainer *t, leash_resume *r);

/* Local, once the strategy and the workers exist (none running): momentum, step-size
 * state, the averaging layer's and the workers' counters. */
int leash_checkpoint_apply(trainer *t, leash_resume *r);

void leash_resume_free(leash_resume *r);

/* CRC-32 of a data set's shape, pixels (or float values) and labels: its identity in a
 * checkpoint. */
uint32_t leash_dataset_digest(const leash_dataset *d);

#endif
