/* One rank's run: the state the training loop's files share. Each concern is a struct
 * of its own, and each file owns one or two of them (doc/design.md, "Where things
 * are"): the gate (gate.c), the workers and their rounds (worker.c), the loss trace
 * (trace.c), the segments of an epoch and the ranks' votes between them (segment.c),
 * the end of an epoch (epoch.c), the result (result.c), the rank's state in checkpoints
 * (state.c, resume.c), and the story of a run (trainer.c). */
#ifndef LEASH_TRAINER_INTERNAL_H
#define LEASH_TRAINER_INTERNAL_H

#include <stdatomic.h>

#include "core/clock_internal.h"
#include "core/stop_internal.h"
#include "leash/rng.h"
#include "mpi/averaging_internal.h"
#include "mpi/comm_internal.h"
#include "sync/strategy_internal.h"
#include "train/gate_internal.h"
#include "train/timeline_run_internal.h"
#include "train/trace_internal.h"
#include "train/worker_internal.h"

/* Where the run stands between segments (a segment: the workers run part or all of an
 * epoch, until it ends or they are paused). The epoch in progress is res->nepochs + 1. */
typedef struct leash_progress {
    int started;             /* its permutation is drawn and its rounds have begun */
    long position;           /* rounds of the epoch done, over all workers */
    double elapsed;          /* its training time so far */
    uint64_t updates_before; /* this rank's updates before the epoch */
    leash_rng rng;           /* the next epoch's shuffle draws from it */
    uint64_t next_ckpt_updates; /* checkpoint_every: due at this many updates */
    double next_ckpt_time;      /* checkpoint_period: due at this time (leash_now) */
} leash_progress;

/* Handing out the epoch's rounds to the workers of a segment. */
typedef struct leash_handout {
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
} leash_handout;

/* What went wrong in a segment: set when a loss became non-finite, or (error) when a
 * publish failed; relaxed: they are hints to stop claiming, and the gate publishes them
 * to the main thread at the end of the segment. diverged_at: the least timestamp a
 * non-finite loss was seen on. */
typedef struct leash_failures {
    _Alignas(LEASH_CACHE_LINE) _Atomic int diverged;
    _Atomic int error;
    _Atomic uint64_t diverged_at;
} leash_failures;

/* Counting this rank's updates, and the pauses and wake-ups counts trigger. */
typedef struct leash_counting {
    /* Ask the workers to stop claiming rounds (a checkpoint is due, or another rank
     * pauses); relaxed, like the failures. Every worker reads it before each claim and it
     * is seldom written: a line of its own, apart from published, which every update
     * writes. */
    _Alignas(LEASH_CACHE_LINE) _Atomic int pause;
    /* Workers count updates in published; the one whose update makes it equal wake_at
     * wakes the main thread (leash_gate_wake). The main thread stores wake_at and then
     * reads published, the workers add to published and then read wake_at: seq_cst on
     * all four accesses, so at least one side sees the other's write and the threshold
     * is never missed. pause_at (the count at which the worker that reaches it pauses
     * the segment: checkpoint_every's, or a blocking round's) is written only while no
     * worker runs (the gate orders it). */
    _Alignas(LEASH_CACHE_LINE) _Atomic uint64_t published;
    _Atomic uint64_t wake_at;
    uint64_t pause_at;
    int wakeups; /* avg_every > 0: the averaging layer is woken by count */
} leash_counting;

/* cfg->on_progress: the next call's leash_now() (< 0: none), and the trace's loss sums
 * at the previous call, for the mean since. */
typedef struct leash_progress_calls {
    double next;
    double loss;
    uint64_t losses;
} leash_progress_calls;

/* Cumulative contention counters of this rank at the end of the previous epoch, for the
 * next epoch's own figures (epoch.c). */
typedef struct leash_epoch_base {
    uint64_t *hist; /* tau_max + 1 bins */
    uint64_t failed, gradients;
} leash_epoch_base;

/* The time breakdown (breakdown.c), main thread only: each worker's phase times at the
 * window's start, the epoch's time then, and the time the workers ran segments, in all
 * and at the window's start. */
typedef struct leash_split_window {
    leash_time_split *base; /* threads */
    double elapsed0;
    double segments, segments0;
} leash_split_window;

typedef struct trainer {
    /* The run: fixed once it started. */
    const leash_config *cfg;
    const leash_model *model;
    const leash_dataset *train, *test;
    leash_result *res;
    leash_input_map map;
    const leash_strategy_ops *ops;
    leash_strategy *strategy;
    leash_stepper *stepper;
    leash_averager av;
    int averaging; /* the averaging layer is on */
    int blocking;  /* avg_blocking: rounds between segments, at exact counts */
    long rounds;   /* gradients per epoch, over all workers (lockstep: a multiple of m) */
    /* Digests (CRC-32) of this rank's training shard and of the test set: the data's
     * identity in checkpoints; computed only when checkpoints are used. */
    uint32_t train_digest, test_digest;
    worker *workers;
    uint32_t *perm; /* this epoch's order of the training samples */
    /* Where it stands, what it records. */
    leash_progress prog;
    uint64_t peak0; /* peak live versions before a resume */
    leash_trace trace;
    leash_progress_calls progress;
    leash_epoch_base base;
    leash_split_window split;
    leash_tl_run timeline;
    /* The segments. */
    leash_gate gate;
    leash_handout handout;
    leash_failures failures;
    leash_counting count;
    /* A test hook (LEASH_TEST_SLOW_WORKER=W:SECONDS): worker W takes that much longer
     * over each gradient; slow_worker < 0: none. */
    int slow_worker;
    double slow_s;
} trainer;

/* Whether the workers should stop claiming rounds: a stop request or a pause, both hints
 * (relaxed): the gate orders what follows. */
static inline int leash_pause_asked(trainer *t)
{
    return leash_stop_asked() || atomic_load_explicit(&t->count.pause, memory_order_relaxed);
}

/* Whether a checkpoint is due, by the updates or by the clock. */
static inline int leash_checkpoint_due(const trainer *t)
{
    const leash_config *c = t->cfg;
    return c->checkpoint &&
           ((c->checkpoint_every > 0 && leash_workers_updates(t) >= t->prog.next_ckpt_updates) ||
            (c->checkpoint_period > 0 && leash_now() >= t->prog.next_ckpt_time));
}

/* A span on the main thread's timeline track, if there is one. */
static inline void leash_main_span(trainer *t, leash_tl_kind kind, double t0, double t1)
{
    leash_tl_track *tr = leash_tl_run_track(&t->timeline, t->cfg->threads);
    if (tr) leash_tl_add(tr, kind, t0, t1, 0);
}

/* Updates a worker makes in an epoch: one a round, or one a lockstep group of m. */
static inline long leash_updates_per_epoch(const trainer *t)
{
    return t->ops->lockstep ? t->rounds / t->cfg->threads : t->rounds;
}

#endif
