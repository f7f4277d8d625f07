/* Checkpoint files: everything a run needs to continue as if it had never stopped, in
 * one file of sections (core/store_internal.h; the layout is in doc/file-formats.md).
 *
 * This file knows the sections, not the training: rank 0 writes the configuration and
 * data identity every rank must match, the model (the parameters the last finished
 * epoch was scored on, so that leash --evaluate can score a checkpoint), one RANK
 * section per rank in rank order (each rank's state, opaque here: state.c writes and
 * reads it), then whatever the caller appends. Checkpoints are taken only at safe
 * points, where no worker runs and no averaging round is open on any rank, so the
 * ranks' states are one consistent cut of the job. */
#ifndef LEASH_CHECKPOINT_INTERNAL_H
#define LEASH_CHECKPOINT_INTERNAL_H

#include "core/store_internal.h"
#include "leash/train.h"

#define LEASH_CHECKPOINT_MAGIC "LEASHCKP"
#define LEASH_CHECKPOINT_VERSION 2u

/* What a checkpoint must match to be resumed: the settings, the model, its input
 * scaling and the test set. */
typedef struct leash_checkpoint_id {
    const leash_config *cfg;
    const leash_model *model;
    const leash_input_map *map;
    size_t ntest;
    uint32_t test_digest;
} leash_checkpoint_id;

/* Collective: gather every rank's state (mine, freed once gathered) and write
 * cfg->checkpoint on rank 0 with the model's parameters params; `tail`, if not NULL,
 * appends rank 0's further sections. Errors are agreed: every rank returns the same
 * outcome. */
int leash_checkpoint_write(const leash_checkpoint_id *id, const float *params, leash_wbuf *mine,
                           void (*tail)(leash_wbuf *, const void *), const void *tail_arg);

/* Collective: whether the checkpoint at path exists (*found), as rank 0 sees it; a file
 * only other ranks see is refused. Errors agreed. */
int leash_checkpoint_locate(const char *path, int *found);

/* A checkpoint opened on rank 0: its layout (the rank count and threads it was written
 * with) and its sections. */
typedef struct leash_checkpoint_file {
    leash_store store;
    int from_ranks, from_threads;
} leash_checkpoint_file;

/* Rank 0: read cfg->resume, check it against id (every setting but the layout), and copy
 * its model's parameters to params. */
int leash_checkpoint_open(leash_checkpoint_file *f, const leash_checkpoint_id *id, float *params);
/* Saved rank k's state (k below from_ranks). */
void leash_checkpoint_rank(const leash_checkpoint_file *f, int k, leash_rbuf *r);
/* The states of `ranks` ranks end to end for a scatter, each rank's own or, for a rank
 * the file lacks, rank 0's. */
int leash_checkpoint_lay_out(const leash_checkpoint_file *f, int ranks, unsigned char **all,
                             size_t *lens);
void leash_checkpoint_close(leash_checkpoint_file *f);

#endif
