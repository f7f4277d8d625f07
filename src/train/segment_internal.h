/* An epoch's segments: the workers run from the epoch's position until it ends or they
 * are paused (a checkpoint falling due, a stop request, another rank pausing); the main
 * thread meanwhile runs the averaging layer's rounds or sleeps. Between segments no
 * worker runs and, under MPI, every rank has left the averaging layer's rounds: a safe
 * point, where the ranks vote on what comes next. */
#ifndef LEASH_SEGMENT_INTERNAL_H
#define LEASH_SEGMENT_INTERNAL_H

typedef struct trainer trainer;

/* Collective: run the epoch in progress from its position until it ends, or until the
 * ranks agree to stop (*stopped). Checkpoints that fall due mid-epoch are taken here. */
int leash_segments_run(trainer *t, int *stopped);

/* Report progress to cfg->on_progress when it is due (main thread). */
void leash_progress_report(trainer *t);

#endif
