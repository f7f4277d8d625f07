/* The trainer's state, shared by the training loop (trainer.c) and checkpoints
 * (checkpoint.c), which save and restore all of it. */
#ifndef LEASH_TRAINER_INTERNAL_H
#define LEASH_TRAINER_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "leash/rng.h"
#include "mpi/averaging_internal.h"
#include "sync/strategy_internal.h"
#include "train/timeline_run_internal.h"

typedef struct trainer trainer;

/* One worker's private state, on its own cache lines: only its thread writes it while
 * an epoch runs. */
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

/* A trace point as recorded: cumulative losses over all workers when this rank's update
 * count reached `updates`; the means come from differences of consecutive points. */
typedef struct leash_trace_raw {
    double time_s;
    uint64_t updates;
    double loss_sum;
    uint64_t losses;
} leash_trace_raw;

/* Where the run stands between segments (a segment: the workers run part or all of an
 * epoch, until it ends or they are paused). The epoch in progress is res->nepochs + 1. */
typedef struct leash_progress {
    int started;             /* its permutation is drawn and its rounds have begun */
    long position;           /* rounds of the epoch done, over all workers */
    double elapsed;          /* its training time so far */
    uint64_t updates_before; /* this rank's updates before the epoch */
    leash_rng rng;           /* the next epoch's shuffle draws from it */
    uint64_t next_ckpt_updates; /* --checkpoint-every: due at this many updates */
    double next_ckpt_time;      /* --checkpoint-period: due at this time (leash_now) */
} leash_progress;

struct trainer {
    const leash_config *cfg;
    const leash_model *model;
    const leash_dataset *train, *test;
    leash_result *res;
    leash_input_map map;
    const leash_strategy_ops *ops;
    leash_strategy *strategy;
    leash_stepper *stepper;
    leash_averager av;
    int averaging;
    uint32_t *perm; /* this epoch's order of the training samples */
    long rounds;    /* gradients per epoch, over all workers (lockstep: a multiple of m) */
    leash_progress prog;
    uint64_t peak0; /* peak live versions before a resume */
    /* The loss trace: point k is written by the one worker whose update makes this rank's
     * count (k + 1) * trace_every, and read by the main thread only while no worker runs
     * (the gate orders it). Workers time a point as time_base (training time before the
     * segment) plus the time since seg_start, both set before the gate opens. */
    long trace_every; /* 0: no trace */
    size_t trace_cap;
    leash_trace_raw *trace;
    double time_base, seg_start;
    /* cfg->on_progress: the next call's leash_now() (< 0: none), and the trace's loss
     * sums at the previous call, for the mean since. */
    double next_progress;
    double progress_loss;
    uint64_t progress_losses;
    /* Cumulative contention counters of this rank at the end of the previous epoch, for
     * the next epoch's own figures. */
    uint64_t *prev_hist; /* tau_max + 1 bins */
    uint64_t prev_failed, prev_gradients;
    /* Digests (CRC-32) of this rank's training shard and of the test set: the data's
     * identity in checkpoints; computed only when checkpoints are used. */
    uint32_t train_digest, test_digest;
    /* The gate, all under lock: generation advances to start a segment (or, with quit
     * set, to end the run); finished counts the workers done with the current one. */
    pthread_mutex_t lock;
    pthread_cond_t started, finished_cv;
    unsigned long generation;
    int finished;
    int quit;
    /* Claimed by workers with relaxed fetch_add: it only hands out distinct round
     * numbers; the gate orders everything else. Workers check the stop request and pause
     * before they claim, so every claimed round below `rounds` is done before its worker
     * reaches the gate: the epoch's position is min(next_round, rounds). */
    _Alignas(LEASH_CACHE_LINE) _Atomic long next_round;
    /* Lockstep strategies: the segment runs rounds lockstep_first .. lockstep_end - 1 of
     * each worker. Worker 0 alone lowers lockstep_end, to k + 1 at the top of its round
     * k when a pause or stop is asked for, before its publish of round k; the publish's
     * barrier orders that store before every other worker's load after its own publish
     * of round k, so all workers stop after the same round (relaxed: the barrier is the
     * synchronization; the atomic only makes the concurrent read defined). */
    long lockstep_first;
    _Atomic long lockstep_end;
    /* Set when a loss became non-finite, or (error) when a publish failed; relaxed: they
     * are hints to stop claiming, and the gate publishes them to the main thread at the
     * end of the segment. diverged_at: the least timestamp a non-finite loss was seen on. */
    _Alignas(LEASH_CACHE_LINE) _Atomic int diverged;
    _Atomic int error;
    _Atomic uint64_t diverged_at;
    /* Ask the workers to stop claiming rounds (a checkpoint is due, or another rank
     * pauses); relaxed, like diverged. */
    _Atomic int pause;
    /* Update counting, for the averaging layer's and --checkpoint-every's thresholds.
     * Workers count updates in published; the one whose update makes it equal wake_at
     * wakes the main thread (wake and the signal under lock). The main thread stores
     * wake_at and then reads published, the workers add to published and then read
     * wake_at: seq_cst on all four accesses, so at least one side sees the other's write
     * and the threshold is never missed. pause_at (the count at which the worker that
     * reaches it pauses the segment: --checkpoint-every's, or a blocking round's) is
     * written only while no worker runs
     * (the gate orders it). */
    _Alignas(LEASH_CACHE_LINE) _Atomic uint64_t published;
    _Atomic uint64_t wake_at;
    uint64_t pause_at;
    int blocking; /* --avg-mode blocking: rounds between segments, at exact counts */
    int count_wakeups; /* avg_every > 0 */
    int wake;          /* under lock */
    worker *workers;
    /* The time breakdown (breakdown.c), main thread only: each worker's phase times at
     * the window's start, the epoch's time then, and the time the workers ran segments,
     * in all and at the window's start. */
    struct {
        leash_time_split *base; /* threads */
        double elapsed0;
        double segments, segments0;
    } split;
    leash_tl_run timeline;
    /* A test hook (LEASH_TEST_SLOW_WORKER=W:SECONDS): worker W takes that much longer
     * over each gradient; slow_worker < 0: none. */
    int slow_worker;
    double slow_s;
};

/* The sum of the workers' update counts. */
uint64_t leash_trainer_updates(const trainer *t);
/* A loss trace buffer with room for every point of the run at one point every `every`
 * updates (0: no trace), replacing any previous one. */
int leash_trainer_trace_alloc(trainer *t, long every);
/* The most versions the strategy held, over resumptions too. */
uint64_t leash_trainer_peak_versions(const trainer *t);

#endif
