/* The strategy interface: how workers read parameters and publish gradients.
 *
 * The worker loop (batch -> read -> gradient -> release -> publish) is written once in
 * src/train/worker.c; each algorithm supplies these operations in its own file. A strategy owns
 * the shared parameter state; workers only see versions through read/release.
 *
 * Threads: read, release and publish are called concurrently by the workers, each with
 * its own index w in [0, threads) and its own stats. Index `threads` is reserved for the
 * trainer's main thread (snapshots, and the averaging layer's publishes later), so a
 * strategy sizes per-thread state for threads + 1. snapshot is called only while no
 * worker runs. */
#ifndef LEASH_STRATEGY_INTERNAL_H
#define LEASH_STRATEGY_INTERNAL_H

#include <stdatomic.h>
#include <stdint.h>

#include "core/store_internal.h"
#include "core/timeline_internal.h"
#include "leash/train.h"
#include "sync/stepsize_internal.h"

#define LEASH_CACHE_LINE 64
/* cas_attempts_hist bins: failed CAS before success 0 .. LEASH_ATTEMPT_BINS - 2, and
 * the last bin for anything more. */
#define LEASH_ATTEMPT_BINS 64

/* One worker's instrumentation, written only by that worker (no sharing, no atomics);
 * the trainer merges them after the workers stop. */
typedef struct leash_worker_stats {
    uint64_t updates;     /* gradients that became updates */
    uint64_t dropped;     /* gradients abandoned at the persistence bound */
    uint64_t failed_cas;  /* failed CAS attempts */
    uint64_t gradients;   /* gradients computed */
    uint64_t *staleness;  /* tau_max + 1 bins, the last for tau >= tau_max */
    uint64_t attempts[LEASH_ATTEMPT_BINS];
    /* Where the worker's time went, in seconds; the phases do not overlap. */
    double time_compute;  /* gathering the mini-batch, forward, backward */
    double time_read;     /* reading and releasing a version, lock waits excluded */
    double time_publish;  /* applying gradients (CAS retries included), waits excluded */
    double time_wait;     /* waiting on a lock or a barrier */
    double time_mix;      /* carrying out the averaging layer's requests (SEQ, SYNC), a
                           * part of time_publish */
    /* The worker's timeline track while the update in progress is one the timeline
     * samples; NULL otherwise (and always without a timeline). */
    leash_tl_track *tl;
} leash_worker_stats;

/* A span (or instant) on the worker's track, if this update is sampled. */
static inline void leash_stats_span(leash_worker_stats *st, leash_tl_kind k, double t0, double t1,
                                    uint32_t arg)
{
    if (st->tl) leash_tl_add(st->tl, k, t0, t1, arg);
}

/* Everything a strategy is created from. */
typedef struct leash_strategy_args {
    const leash_model *model;
    const float *theta0; /* initial parameters, copied */
    const leash_config *cfg;
    leash_stepper *stepper; /* step size for a staleness; shared, thread-safe */
    uint64_t timestamp0;    /* theta0's update count: 0, or a checkpoint's when resuming */
    /* Lockstep strategies call on_update(update_arg) once per update, from the thread
     * that counts it, while every worker is still inside the round: no worker has yet
     * computed a gradient of the next one (the loss trace's points are then exact). The
     * trainer counts such an update here instead of after publish returns. */
    void (*on_update)(void *update_arg);
    void *update_arg;
} leash_strategy_args;

typedef struct leash_strategy leash_strategy;

typedef struct leash_strategy_ops {
    leash_algorithm algorithm;
    /* Nonzero: workers advance in lockstep rounds (SYNC), so the trainer gives every
     * worker the same number of gradients per epoch instead of letting them claim. */
    int lockstep;
    int (*create)(leash_strategy **s, const leash_strategy_args *args);
    void (*destroy)(leash_strategy *s);
    /* Pin a consistent (or, for HOG, racy) parameter vector for thread w to compute a
     * gradient on; *timestamp is the number of updates applied to reach it. The pointer
     * stays valid and unchanged until release. */
    const float *(*read)(leash_strategy *s, int w, uint64_t *timestamp, leash_worker_stats *st);
    void (*release)(leash_strategy *s, int w, const float *version);
    /* Apply thread w's gradient, computed on the version with timestamp ts, with step
     * sizes from the stepper. Records staleness, attempts and drops in st. Returns 1 if
     * the gradient became an update, 0 if it did not on its own (dropped by LSH, or one
     * of SYNC's m gradients averaged into an update another thread counted), or a negative
     * LEASH_E* code if it could not be applied (LSH: the pool could not grow). Thread w
     * must have released its read first: LSH's bound of 2 (m + 1) live versions
     * counts one pin per thread. */
    int (*publish)(leash_strategy *s, int w, const float *grad, uint64_t ts, leash_worker_stats *st);
    /* Copy the newest parameters into out; *timestamp gets their update count. */
    void (*snapshot)(leash_strategy *s, float *out, uint64_t *timestamp);
    /* Most parameter vectors the strategy held at once (pool size for LSH). */
    uint64_t (*peak_versions)(leash_strategy *s);
    /* The k-th momentum buffer (per worker for ASYNC, HOG and LSH: k < threads; one for
     * SEQ and SYNC: k = 0), or NULL beyond them or without momentum. For checkpoints:
     * read and written only while no worker runs. */
    float *(*velocity)(leash_strategy *s, int k);

    /* The averaging layer, called by the main thread only, while workers may run.
     * mix_read copies a consistent version of the newest parameters into out; mix_apply adds delta to the newest parameters as one update with
     * eta = 1, no momentum, no staleness recorded, never dropped. Each returns 0 when
     * done, 1 when the request was posted for a worker to carry out at its next update
     * (SEQ and SYNC, whose parameters only workers may touch while they run), or a
     * negative LEASH_E* code. A posted request is done once mix_pending returns 0; if the
     * workers stop first, the main thread completes it with mix_serve. */
    int (*mix_read)(leash_strategy *s, float *out);
    int (*mix_apply)(leash_strategy *s, const float *delta);
    int (*mix_pending)(leash_strategy *s);
    void (*mix_serve)(leash_strategy *s);
} leash_strategy_ops;

/* Each strategy's operations, leash_id_ops, defined by its file src/sync/id.c, as its
 * line X(ID, NAME, id) of LEASH_ALGORITHMS (leash/train.h) says. */
#define LEASH_STRATEGY_OPS_(ID, NAME, id) extern const leash_strategy_ops leash_##id##_ops;
LEASH_ALGORITHMS(LEASH_STRATEGY_OPS_)
#undef LEASH_STRATEGY_OPS_

/* The operations of algorithm a (from the same list), or NULL for no algorithm. */
const leash_strategy_ops *leash_strategy_for(leash_algorithm a);

/* Record one update's staleness and failed CAS count in st (clamping both). */
void leash_stats_record_update(leash_worker_stats *st, const leash_stepper *stepper, uint64_t tau,
                               uint64_t failed);

/* Built as target clones, whose symbols GCC exports whatever -fvisibility says: hidden
 * here by name. */
#pragma GCC visibility push(hidden)
/* theta_new[i] = theta[i] - eta * grad[i]: the fused copy-and-apply of a new version. */
void leash_axpy_into(float *restrict theta_new, const float *restrict theta,
                     const float *restrict grad, float eta, size_t n);
/* theta[i] -= eta * grad[i], in place. */
void leash_axpy_inplace(float *restrict theta, const float *restrict grad, float eta, size_t n);

/* Momentum kept per worker (or per strategy for SEQ and SYNC): velocity = mu * velocity
 * + grad, returning what to apply; with no velocity buffer (mu = 0) returns grad. */
const float *leash_momentum_step(float *restrict velocity, const float *restrict grad, float mu,
                                 size_t n);
#pragma GCC visibility pop

/* The mailbox through which the main thread asks SEQ's or SYNC's workers to read or
 * change the parameters at an update point, where a worker owns them (mixbox.c). */
enum { LEASH_MIX_NONE, LEASH_MIX_READ, LEASH_MIX_APPLY };
typedef struct leash_mixbox {
    _Alignas(LEASH_CACHE_LINE) _Atomic int request; /* LEASH_MIX_*; NONE when idle */
    float *out;         /* READ: where the copy goes */
    const float *delta; /* APPLY: what to add */
} leash_mixbox;

void leash_mixbox_init(leash_mixbox *b);
/* Main thread: post a request (the box must be idle); returns 1, as mix_read/apply do. */
int leash_mixbox_post_read(leash_mixbox *b, float *out);
int leash_mixbox_post_apply(leash_mixbox *b, const float *delta);
int leash_mixbox_pending(leash_mixbox *b);
/* The thread that owns the parameters: the request to carry out now (LEASH_MIX_*), then,
 * once it is carried out, leash_mixbox_done. */
int leash_mixbox_take(leash_mixbox *b);
void leash_mixbox_done(leash_mixbox *b);
/* Carry out the box's request on theta (n floats) as its owner: copy it out, or add delta
 * and count one more update in *timestamp; then mark it done. Returns the request. */
int leash_mixbox_serve(leash_mixbox *b, float *theta, size_t n, uint64_t *timestamp);

/* count parameter-sized buffers (zeroed), or NULL; freed with leash_free_buffers. */
float **leash_alloc_buffers(int count, size_t n);
void leash_free_buffers(float **b, int count);

/* Checkpoints: the newest parameters and their timestamp (a snapshot into scratch, room
 * for the model's n floats), the peak of live versions `peak`, then every worker's
 * momentum buffer, each with its worker's index. */
void leash_strategy_save(leash_wbuf *b, const leash_strategy_ops *ops, leash_strategy *s,
                         int threads, size_t n, float *scratch, uint64_t peak);
/* What leash_strategy_save wrote, read before the strategy exists: theta gets the
 * parameters; the momentum buffers (at most max_buffers) are checked and stay in the
 * file, at `momentum`, until a strategy takes them. */
typedef struct leash_saved_strategy {
    uint64_t timestamp, peak;
    uint32_t nbuffers;
    leash_rbuf momentum;
} leash_saved_strategy;
/* Returns 0, or LEASH_EFORMAT with *bad naming the malformed part ("parameters" or
 * "momentum"). */
int leash_strategy_load(leash_rbuf *r, leash_saved_strategy *out, float *theta, size_t n,
                        uint32_t max_buffers, const char **bad);
/* The saved momentum buffer after *m's position: its worker into *k, its floats into v;
 * returns 0 or LEASH_EFORMAT. */
int leash_saved_momentum_next(leash_rbuf *m, uint32_t *k, float *v, size_t n);
/* Into a strategy of `threads` workers: each worker's saved buffer, or with mean (on
 * another layout) the mean of all of them in every buffer. Returns 0 or LEASH_EFORMAT. */
int leash_strategy_restore_momentum(const leash_saved_strategy *saved,
                                    const leash_strategy_ops *ops, leash_strategy *s,
                                    int threads, size_t n, const float *mean);

#endif
