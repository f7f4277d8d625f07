/* A worker: a thread that lives for the whole run and, in each segment the gate starts,
 * claims rounds (mini-batches) and runs them: gather the batch, read a version, compute
 * the gradient, publish it through the strategy. */
#ifndef LEASH_WORKER_INTERNAL_H
#define LEASH_WORKER_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "core/store_internal.h"
#include "sync/strategy_internal.h"
#include "train/timeline_run_internal.h"

typedef struct trainer trainer;

/* One worker's private state, on its own cache lines: only its thread writes it while
 * a segment runs. */
typedef struct worker {
    _Alignas(LEASH_CACHE_LINE) int id;
    pthread_t thread;
    trainer *t;
    leash_workspace *ws;
    float *grad;
    uint32_t *idx;
    int bound;       /* bound to its planned PU */
    double loss_sum; /* this epoch's mini-batch losses */
    uint64_t losses;
    /* The whole run's losses, for the loss trace: written by this worker only (a relaxed
     * load and store), read relaxed by whichever worker records a trace point. A reader
     * may see the sum one loss ahead of the count: a point's mean is then off by a part
     * in the window's size, which a trace can afford; with one worker, or SYNC (whose
     * barriers order the round's losses before the update that records), it is exact. */
    _Atomic double trace_sum;
    _Atomic uint64_t trace_n;
    leash_worker_stats stats; /* whole run */
    /* The timeline: this worker's track (NULL: none), the gradients left until the next
     * one it records, and when it last left a segment. */
    leash_tl_track *track;
    long tl_skip;
    double segment_end;
} worker;

/* t->workers, each with its scratch (not started). */
int leash_workers_create(trainer *t);
void leash_workers_free(trainer *t);
/* The thread of worker arg: segments until the gate says quit. */
void *leash_worker_main(void *arg);

/* The sum of the workers' update counts. */
uint64_t leash_workers_updates(const trainer *t);
/* The workers' loss sums for the trace (relaxed: see worker.trace_sum). */
void leash_workers_trace_sums(const trainer *t, double *sum, uint64_t *n);

/* One more update of this rank (arg: the trainer): its trace point, the segment's pause
 * and the averaging layer's wake-up, each when its count is reached. A lockstep
 * strategy calls it within its round (leash_strategy_args.on_update), the others'
 * workers after publishing. */
void leash_count_update(void *arg);

/* Checkpoints: every worker's sums and counters (histograms of `bins` bins). */
void leash_workers_save(leash_wbuf *b, const trainer *t, int bins);
/* The saved workers (`from` of them): saved worker i into this rank's worker i mod m;
 * own: this rank's (else read and dropped). Returns 0, LEASH_EFORMAT with *bad naming
 * the malformed part, or a reported error. */
int leash_workers_load(trainer *t, leash_rbuf *r, int from, int own, int bins, const char **bad);

#endif
