/* Training: configuration, per-epoch statistics and the result of a run. */
#ifndef LEASH_TRAIN_H
#define LEASH_TRAIN_H

#include "leash/api.h"

#include <stddef.h>
#include <stdint.h>

#include "leash/data.h"
#include "leash/nn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The strategies, in the order of their values, as X(ID, NAME, id): LEASH_ALGO_ID,
 * named NAME (leash_algorithm_name, leash_algorithm_parse). id is the strategy's name in
 * leash's sources: src/sync/id.c defines its operations, leash_id_ops. A strategy is that
 * file and its line here (doc/design.md, section 5). */
#define LEASH_ALGORITHMS(X)  \
    X(SEQ, "SEQ", seq)       \
    X(SYNC, "SYNC", sync)    \
    X(ASYNC, "ASYNC", async) \
    X(HOG, "HOG", hog)       \
    X(LSH, "LSH", lsh)

#define LEASH_ALGO_ENUMERATOR_(ID, NAME, id) LEASH_ALGO_##ID,
typedef enum leash_algorithm { LEASH_ALGORITHMS(LEASH_ALGO_ENUMERATOR_) } leash_algorithm;
#undef LEASH_ALGO_ENUMERATOR_

/* The step-size policies, as X(ID, NAME): LEASH_STEP_ID, named NAME. */
#define LEASH_STEP_POLICIES(X) \
    X(NONE, "NONE") X(INVERSE, "INVERSE") X(TAIL, "TAIL") X(FLEET, "FLEET")

#define LEASH_STEP_ENUMERATOR_(ID, NAME) LEASH_STEP_##ID,
typedef enum leash_step_policy { LEASH_STEP_POLICIES(LEASH_STEP_ENUMERATOR_) } leash_step_policy;
#undef LEASH_STEP_ENUMERATOR_

/* Persistence bound meaning "never drop a gradient". */
#define LEASH_PERSIST_INF (-1L)

struct hwloc_topology;
struct leash_placement;

/* leash_config.trace_every: about 20 points of the loss trace per epoch. */
#define LEASH_TRACE_AUTO (-1L)

/* Where this rank stands in the epoch in progress, for a progress line. */
typedef struct leash_progress_info {
    int epoch;                  /* 1-based */
    uint64_t updates;           /* this rank's updates in the epoch so far */
    uint64_t updates_per_epoch; /* this rank's updates in a whole epoch (about) */
    double elapsed_s;           /* the epoch's training time so far */
    double loss; /* mean mini-batch loss since the previous call; NaN without a loss trace */
} leash_progress_info;

/* Called from the training thread of the rank whose leash_config asks for it, every
 * progress_every seconds while workers run; it must not call back into the trainer. */
typedef void (*leash_progress_callback)(const leash_progress_info *where, void *arg);

/* The timeline's defaults: 1 update in 10 per worker, half a million events in the file
 * (about 75 MB of JSON, and as much of rank 0's memory while it writes). Its limits: 1000
 * to 20 million events, at least 100 for each thread of each rank. */
#define LEASH_TIMELINE_EVERY 10
#define LEASH_TIMELINE_MAX_EVENTS 500000L
#define LEASH_TIMELINE_MIN_EVENTS 1000L
#define LEASH_TIMELINE_MAX_EVENTS_LIMIT 20000000L
#define LEASH_TIMELINE_MIN_TRACK 100

typedef struct leash_config {
    leash_algorithm algorithm; /* the strategy */
    int threads;               /* worker threads per rank */
    /* The architecture: a preset name or a layer list (leash/nn.h); NULL: "MLP". */
    const char *arch;
    int hidden_layers; /* MLP preset: hidden layers, */
    int units;         /* their units */
    leash_activation activation; /* and their activation */
    leash_init init;
    long persistence; /* LSH's persistence bound, LEASH_PERSIST_INF for no bound */
    int epochs;
    long rounds;      /* mini-batch gradients per epoch over all workers (SYNC: a
                       * multiple of the threads); 0: training samples / batch */
    int batch;        /* mini-batch size */
    double step;      /* the step size, for the MEAN loss over a batch */
    double momentum;  /* 0: none */
    leash_step_policy step_policy;
    int tau_max;           /* staleness clamp for step sizes and the histogram */
    double tail_amplitude; /* A of TAIL, in [0, 1] */
    double target_loss;    /* stop after the first epoch whose train loss is <= this; 0: off */
    uint64_t seed;
    /* The averaging layer between ranks: a round every avg_every local updates and/or
     * every avg_period seconds (0: not by that measure; both 0: no rounds, only the
     * final averaging). */
    long avg_every;
    double avg_period;
    /* Blocking rounds (avg_every only): every rank's workers pause at exactly each
     * avg_every-th update and the ranks average between segments, so that SEQ and SYNC
     * runs repeat bit for bit; 0: overlapped rounds (the workers never wait). */
    int avg_blocking;
    /* Checkpoints (doc/file-formats.md): written to checkpoint (NULL: none) every
     * checkpoint_every updates and/or every checkpoint_period seconds (0: not by that
     * measure), at the end of a run stopped early, and at the end of a complete run.
     * resume (NULL: none) is a checkpoint to continue from; it must have been written for
     * the same configuration and data (on another rank count or threads, every rank
     * starts from the mean of its ranks' models: doc/design.md). */
    const char *checkpoint;
    long checkpoint_every;
    double checkpoint_period;
    const char *resume;
    int resume_auto; /* resume from checkpoint if that file exists (rank 0 looks), else start */
    /* The data set's kind, for checkpoints' identity checks and their messages. */
    leash_dataset_kind dataset;
    /* The loss trace: a point every trace_every updates (of this rank);
     * 0: no trace; LEASH_TRACE_AUTO (the default): about 20 points per epoch. */
    long trace_every;
    /* Input scaling to use; NULL: standardize with the training set's statistics. Ranks
     * pass the map of the whole training set so that all shards are scaled alike. */
    const leash_input_map *input_map;
    /* Bind worker i to placement->workers[i] (best-effort) on topology; NULL: unbound. */
    const struct leash_placement *placement;
    struct hwloc_topology *topology;
    /* on_progress(where, progress_arg) every progress_every seconds inside epochs (0 or
     * NULL: never). */
    double progress_every;
    leash_progress_callback on_progress;
    void *progress_arg;
    /* The timeline (doc/output.md): a Chrome trace of every worker's and main thread's
     * spans, written by rank 0 to `timeline` at the end of the run (NULL: none; every
     * rank or none). Workers record 1 update in timeline_every; the file holds at most
     * timeline_max_events events, shared evenly by every thread of every rank, and says
     * so when that cut it short. */
    const char *timeline;
    long timeline_every;
    long timeline_max_events;
} leash_config;

/* Defaults: SEQ, 1 thread, MLP 3 x 128 ReLU, N(0, 0.01^2) init, B = inf, 10 epochs,
 * one pass over the data per epoch, batch 512, step 0.5, no momentum, seed 1. */
LEASH_API void leash_config_defaults(leash_config *cfg);

/* Where workers' time went during an epoch, as fractions of its time (for the epoch a
 * run resumed in, of the part run after the resume). The phases do not overlap, and idle
 * is what is left, so they sum to 1. */
typedef struct leash_time_split {
    double compute; /* gathering the mini-batch, forward and backward */
    double read;    /* reading a version (a pin or a copy), lock waits excluded */
    double publish; /* applying the gradient (CAS attempts, updates, the mean), waits excluded */
    double wait;    /* for a lock or a barrier, or paused between segments by the run */
    double idle;    /* the rest: done with a segment's rounds before the other workers */
} leash_time_split;

typedef enum leash_split_known {
    LEASH_SPLIT_NONE,   /* unknown */
    LEASH_SPLIT_MEAN,   /* the mean over all workers */
    LEASH_SPLIT_WORKERS /* the mean, and this rank's workers' in leash_result.worker_splits
                         * (for epochs before a resume, rank 0 alone has them) */
} leash_split_known;

/* With several ranks, train_loss and updates cover all ranks, the test figures are those
 * of the ranks' mean model, and time_s runs until every rank has finished the epoch. */
typedef struct leash_epoch_stats {
    int epoch;            /* 1-based */
    double train_loss;    /* mean loss of the epoch's mini-batches, each on the version it read */
    double test_loss;     /* mean loss over the test set after the epoch */
    double test_accuracy; /* fraction of the test set classified correctly */
    double time_s;        /* wall time of the epoch's training (evaluation excluded) */
    uint64_t updates;     /* updates applied during the epoch */
    /* Contention during the epoch (all ranks): staleness of its updates, failed CAS per
     * gradient published, and the most versions the strategy held by its end. */
    double staleness_mean;
    int staleness_max;
    double failed_cas_rate;
    uint64_t live_versions;
    /* The mean over every worker of every rank, and what is known of it: an epoch run
     * before a resume has what the checkpoint kept (none from files of leash 0.x before
     * the breakdown; only the mean when the threads changed since). */
    leash_split_known split_known;
    leash_time_split split;
} leash_epoch_stats;

/* One point of the loss trace: after `updates` updates of this rank, `time_s` seconds of
 * training into the run (evaluation excluded), the mean mini-batch training loss of the
 * gradients computed since the previous point. */
typedef struct leash_trace_point {
    double time_s;
    uint64_t updates;
    double loss;
} leash_trace_point;

/* The blocking rounds whose update counts leash_result lists. */
#define LEASH_ROUND_UPDATES_MAX 64

typedef struct leash_result {
    leash_model model;
    float *params; /* final parameters, model.nparams floats (leash_params_alloc) */
    int nepochs;
    leash_epoch_stats *epochs;
    double time_s; /* wall time of all epochs' training */
    /* When the loss trace first reached the target loss (linearly interpolated between
     * its points; without a trace, the end of the epoch that reached it); < 0 if never. */
    double time_to_target_s;
    double updates_to_target;
    /* The loss trace (this rank's; trace_every updates apart). */
    long trace_every;
    size_t ntrace;
    leash_trace_point *trace;
    double eval_time_s;
    uint64_t updates;
    uint64_t samples; /* samples whose gradients were applied */
    double time_compute_s; /* summed over workers: batch gathering, forward, backward */
    double time_read_s;    /* summed over workers: reading versions (since this process started) */
    double time_publish_s; /* summed over workers: applying gradients */
    double time_wait_s;    /* summed over workers: waiting for others or for locks */
    uint64_t gradients;    /* mini-batch gradients computed */
    uint64_t dropped;      /* gradients dropped at the persistence bound */
    uint64_t failed_cas;
    uint64_t peak_versions; /* most parameter vectors held at once by the strategy */
    uint64_t timestamp;     /* the newest version's update count after the last epoch */
    int tau_max;
    uint64_t *staleness_hist; /* tau_max + 1 bins; the last counts tau >= tau_max */
    int attempt_bins;
    uint64_t *attempts_hist; /* [k] = updates after k failed CAS; the last bin counts more */
    int threads;
    uint64_t *updates_per_thread;
    /* This rank's workers' breakdown, [epoch * threads + worker], for the epochs whose
     * split_known is LEASH_SPLIT_WORKERS. */
    leash_time_split *worker_splits;
    /* The timeline once written: its events (rank 0: every rank's; another rank: its
     * own), and (rank 0) whether any rank ran out of room. A file rank 0 could not write
     * does not fail the run: timeline_error is then its LEASH_E* code and
     * timeline_message the reason (0 and "" otherwise). */
    uint64_t timeline_events;
    int timeline_cut;
    int timeline_error;
    char timeline_message[256];
    int *bound; /* per worker: 1 if its thread was bound to its planned PU */
    /* The averaging layer (this rank): rounds, time in MPI_Allreduce, time of the rounds
     * in all, and the workers' time spent carrying out its requests (SEQ, SYNC only). */
    uint64_t averagings;
    /* Intervals of avg_every updates that passed without a round starting because the one
     * before was still exchanging: rounds then run back to back, as often as the link
     * allows, and the workers go on (since this process started or resumed). */
    uint64_t rounds_behind;
    /* Blocking rounds (avg_blocking): this rank's update count at each of the first
     * LEASH_ROUND_UPDATES_MAX rounds it ran in this process (a resumed run lists those
     * since it resumed); nround_updates of them are set. */
    int nround_updates;
    uint64_t round_updates[LEASH_ROUND_UPDATES_MAX];
    /* 64-bit FNV-1a of this rank's own parameters just before the last epoch's averaging
     * (the final one): unlike the final mean's, it differs between ranks unless the
     * averaging rounds made their models equal. */
    uint64_t local_digest;
    double time_mpi_s;
    double time_averaging_s;
    double time_mix_s;
    /* Checkpoints: written by this run, the time they took (workers paused), and how many
     * times the run was resumed from one. */
    uint64_t checkpoints;
    double time_checkpoint_s;
    int resumes;
    int resumed; /* this run continued from a checkpoint */
    /* A resume on another layout than the checkpoint's: its rank count and threads (0 when the
     * layout was the same), and the 64-bit FNV-1a of the mean parameters every rank
     * started from. */
    int resumed_from_ranks, resumed_from_threads;
    uint64_t resumed_start_digest;
    double start_time; /* the run's first start, seconds since the Unix epoch */
    /* A diverged run (LEASH_EDIVERGED): the epoch (1-based) and the update count of the
     * version on which the loss was first non-finite; 0 otherwise. */
    int diverged_epoch;
    uint64_t diverged_update;
} leash_result;

/* What a diverged run says, given its diverged_epoch, diverged_update and the name of the
 * step size's setting to lower (one message, worded alike by the library and by leash). */
#define LEASH_DIVERGED_FORMAT                                                               \
    "training diverged: the loss became non-finite in epoch %d at update %llu (try a "      \
    "smaller %s)"

/* Called on the training thread of every rank after each epoch's evaluation with the
 * run so far (the latest epoch is so_far->epochs[so_far->nepochs - 1]; params are the
 * ones it was scored on). Returns 0, or a negative LEASH_E* code to stop the run with it;
 * under MPI the ranks agree on it. */
typedef int (*leash_epoch_callback)(const leash_result *so_far, void *arg);

/* Train a model on train, evaluating on test after every epoch. On success *res holds
 * the statistics and the final parameters; free it with leash_result_free. A
 * non-finite loss stops training with LEASH_EDIVERGED, and leash_request_stop with
 * LEASH_ESTOPPED at the next safe point (after writing a checkpoint if one is
 * configured); in both cases *res holds the run so far (the epochs finished, and the
 * parameters the last of them was scored on) and must be freed too.
 *
 * Under MPI (leash_dist_init) every rank calls this collectively with its own shard as
 * train: rank 0's initial parameters are broadcast, the averaging layer runs as the
 * config says, each epoch ends with the ranks agreeing on the loss and on errors (the
 * lowest failing rank returns its error, the others LEASH_EPEER), and the run ends with
 * a final averaging that leaves the same parameters, bit for bit, on every rank. */
LEASH_API int leash_train(const leash_config *cfg, const leash_dataset *train,
                          const leash_dataset *test, leash_result *res,
                          leash_epoch_callback on_epoch, void *arg);

LEASH_API void leash_result_free(leash_result *res);

/* Collective (every rank calls it, in the same order as its other collectives): whether
 * the file at path exists for rank 0, which alone reads and writes checkpoints (*found).
 * Fails with LEASH_EINVAL, naming path, where rank 0 does not see it but another rank
 * does (storage local to another node): resuming would then start over. leash_train
 * checks this itself; a program may call it before loading its data, to fail early. */
LEASH_API int leash_checkpoint_locate(const char *path, int *found);

/* Ask a running leash_train to stop at its next safe point (workers between mini-batches),
 * as a signal handler may: async-signal-safe, from any thread. It stays asked for until
 * leash_clear_stop. */
LEASH_API void leash_request_stop(void);
LEASH_API void leash_clear_stop(void);

/* Mean loss and accuracy of params on all of test, mapped through map and scored in
 * batches of batch samples as a run with `ranks` ranks scores its test figures (each rank
 * a slice, the slices' sums added in rank order), so that a saved model's scores equal the
 * run's own. */
LEASH_API int leash_evaluate(const leash_model *m, const float *params, const leash_input_map *map,
                             const leash_dataset *test, int batch, int ranks, double *loss,
                             double *accuracy);

/* The enumerations' names, from their lists (LEASH_ALGORITHMS ...): the name of a value
 * ("?" for none), and the value of a name, case-insensitive: 0, or LEASH_EINVAL with
 * *out unchanged ("TEXT: unknown algorithm (expected SEQ, SYNC, ASYNC, HOG or LSH)"). */
LEASH_API const char *leash_algorithm_name(leash_algorithm a);
LEASH_API int leash_algorithm_parse(const char *name, leash_algorithm *out);
LEASH_API const char *leash_step_policy_name(leash_step_policy p);
LEASH_API int leash_step_policy_parse(const char *name, leash_step_policy *out);
LEASH_API const char *leash_init_name(leash_init i);
LEASH_API int leash_init_parse(const char *name, leash_init *out);
LEASH_API const char *leash_activation_name(leash_activation a);
LEASH_API int leash_activation_parse(const char *name, leash_activation *out);
LEASH_API const char *leash_dataset_name(leash_dataset_kind k);
LEASH_API int leash_dataset_parse(const char *name, leash_dataset_kind *out);

/* The machine's physical memory in bytes (UINT64_MAX if unknown): sizes that need more
 * are refused before anything is allocated. */
LEASH_API uint64_t leash_memory_total(void);

/* What a run of cfg cannot do without, in bytes, by part. Not counted: momentum buffers,
 * the program's code and libraries, allocator overhead. */
typedef struct leash_memory_floor {
    double data;       /* the training and test samples and labels, as bytes */
    double parameters; /* parameter vectors: the versions held, the result, the averaging
                        * layer's snapshot and sum, a gradient per worker */
    double workspaces; /* per worker, its mini-batch workspace */
    double histograms; /* per worker, its staleness histogram */
    double records;    /* the per-epoch records and the epoch's permutation */
    double total;
} leash_memory_floor;

/* The floor of a run of cfg on model m over ntrain and ntest samples while its strategy
 * holds `versions` parameter vectors (at least 1; a finished run's peak_versions): the
 * one formula behind both leash_train's refusal of a run too large for the machine and
 * the result document's memory_floor_bytes. */
LEASH_API void leash_memory_floor_of(leash_memory_floor *out, const leash_config *cfg,
                                     const leash_model *m, size_t ntrain, size_t ntest,
                                     uint64_t versions);

#ifdef __cplusplus
}
#endif
#endif
