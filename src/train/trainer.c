/* The training loop: epochs of worker rounds, evaluation after each epoch.
 *
 * The worker loop is written once here against the strategy interface; the strategy
 * decides how reads and publishes synchronize. Workers are threads that live for the
 * whole run. A gate (mutex and condition variables) starts each epoch once the main
 * thread has prepared its permutation and round counter, and tells the main thread when
 * every worker has finished the epoch; the mutex orders the workers' writes to their
 * statistics before the main thread reads them, and the main thread's writes before the
 * workers' reads. */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "core/clock_internal.h"
#include "core/error_internal.h"
#include "mpi/averaging_internal.h"
#include "mpi/comm_internal.h"
#include "leash/dist.h"
#include "leash/placement.h"
#include "leash/rng.h"
#include "sync/strategy_internal.h"

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
    leash_worker_stats stats; /* whole run */
} worker;

struct trainer {
    const leash_config *cfg;
    const leash_model *model;
    const leash_dataset *train;
    leash_input_map map;
    const leash_strategy_ops *ops;
    leash_strategy *strategy;
    uint32_t *perm; /* this epoch's order of the training samples */
    long rounds;    /* gradients per epoch, over all workers */
    /* The gate, all under lock: generation advances to start an epoch (or, with quit
     * set, to end the run); finished counts the workers done with the current one. */
    pthread_mutex_t lock;
    pthread_cond_t started, finished_cv;
    unsigned long generation;
    int finished;
    int quit;
    /* Claimed by workers with relaxed fetch_add: it only hands out distinct round
     * numbers; the gate orders everything else. */
    _Alignas(LEASH_CACHE_LINE) _Atomic long next_round;
    /* Set when a loss became non-finite, or (error) when a publish failed; relaxed: they
     * are hints to stop claiming, and the gate publishes them to the main thread at the
     * end of the epoch. */
    _Alignas(LEASH_CACHE_LINE) _Atomic int diverged;
    _Atomic int error;
    /* The averaging layer's wake-up by update count (avg_every > 0), so that the main
     * thread sleeps until a round is due instead of polling. Workers count updates in
     * published; the one whose update makes it equal wake_at wakes the main thread (wake
     * and the signal under lock). The main thread stores wake_at and then reads published,
     * the workers add to published and then read wake_at: seq_cst on all four accesses,
     * so at least one side sees the other's write and the threshold is never missed. */
    _Alignas(LEASH_CACHE_LINE) _Atomic uint64_t published;
    _Atomic uint64_t wake_at;
    int count_wakeups; /* avg_every > 0: workers maintain published */
    int wake;          /* under lock */
    worker *workers;
};

static int build_model(leash_model *m, const leash_config *cfg, const leash_dataset *d)
{
    switch (cfg->arch) {
    case LEASH_ARCH_MLP:
        return leash_model_mlp(m, d->h, d->w, d->c, d->nclasses, cfg->hidden_layers, cfg->units,
                               cfg->activation);
    case LEASH_ARCH_CNN: return leash_model_cnn(m, d->h, d->w, d->c, d->nclasses);
    case LEASH_ARCH_LENET: return leash_model_lenet(m, d->h, d->w, d->c, d->nclasses);
    }
    return leash_fail(LEASH_EINVAL, "unknown architecture %d", (int)cfg->arch);
}

/* Summed loss and correct answers of params on this rank's slice of the test set (all
 * of it with one rank), in batches of ws's size: sums[0] += loss, sums[1] += correct. */
static void evaluate_slice(const leash_model *m, const float *params, leash_workspace *ws,
                           int batch, const leash_dataset *test, const leash_input_map *map,
                           uint32_t *idx, double sums[2])
{
    const size_t ranks = (size_t)leash_dist_size(), rank = (size_t)leash_dist_rank();
    const size_t begin = test->n * rank / ranks, end = test->n * (rank + 1) / ranks;
    double loss_sum = 0.0;
    long correct = 0;
    for (size_t first = begin; first < end; first += (size_t)batch) {
        int b = end - first < (size_t)batch ? (int)(end - first) : batch;
        for (int i = 0; i < b; ++i) idx[i] = (uint32_t)(first + (size_t)i);
        leash_dataset_gather(leash_workspace_input(ws), leash_workspace_labels(ws), test, map, idx,
                             b);
        leash_model_evaluate(m, params, ws, b, &loss_sum, &correct);
    }
    sums[0] += loss_sum;
    sums[1] += (double)correct;
}

/* One mini-batch: gather round r's window of the permutation, compute the gradient on
 * a pinned version, publish it. Returns 0, or -1 if the loss was not finite. */
static int do_round(worker *w, long r)
{
    trainer *t = w->t;
    const int b = t->cfg->batch;
    const size_t ntrain = t->train->n;
    /* Consecutive windows of the epoch's permutation, wrapping if -r asks for more
     * samples than one pass holds. */
    size_t pos = (size_t)r * (size_t)b % ntrain;
    for (int i = 0; i < b; ++i) {
        w->idx[i] = t->perm[pos];
        if (++pos == ntrain) pos = 0;
    }
    leash_dataset_gather(leash_workspace_input(w->ws), leash_workspace_labels(w->ws), t->train,
                         &t->map, w->idx, b);

    double t0 = leash_now();
    uint64_t ts;
    const float *theta = t->ops->read(t->strategy, w->id, &ts, &w->stats);
    float loss = leash_model_gradient(t->model, theta, w->grad, w->ws, b);
    t->ops->release(t->strategy, w->id, theta);
    double t1 = leash_now();
    w->stats.time_compute += t1 - t0;
    ++w->stats.gradients;
    int ok = isfinite(loss);
    if (ok) {
        w->loss_sum += loss;
        ++w->losses;
    } else {
        atomic_store_explicit(&t->diverged, 1, memory_order_relaxed);
    }
    /* A lockstep strategy needs every worker at every barrier, so even a diverged
     * gradient is published there; the run stops at the end of the epoch. */
    int rc = ok || t->ops->lockstep ? t->ops->publish(t->strategy, w->id, w->grad, ts, &w->stats) : 0;
    w->stats.time_publish += leash_now() - t1;
    if (rc == 1 && t->count_wakeups &&
        atomic_fetch_add(&t->published, 1) + 1 == atomic_load(&t->wake_at)) {
        pthread_mutex_lock(&t->lock);
        t->wake = 1;
        pthread_cond_signal(&t->finished_cv);
        pthread_mutex_unlock(&t->lock);
    }
    if (rc < 0) {
        int none = 0;
        atomic_compare_exchange_strong_explicit(&t->error, &none, rc, memory_order_relaxed,
                                                memory_order_relaxed);
        return -1;
    }
    return ok ? 0 : -1;
}

static void run_epoch(worker *w)
{
    trainer *t = w->t;
    w->loss_sum = 0.0;
    w->losses = 0;
    if (t->ops->lockstep) {
        /* Every worker must reach every barrier, so a lockstep epoch always runs to its
         * end: a worker cannot tell whether another one has already gone on into the next
         * round (and set diverged there), so stopping early could strand it. */
        long per_worker = t->rounds / t->cfg->threads;
        for (long k = 0; k < per_worker; ++k) do_round(w, k * t->cfg->threads + w->id);
        return;
    }
    for (;;) {
        long r = atomic_fetch_add_explicit(&t->next_round, 1, memory_order_relaxed);
        if (r >= t->rounds || atomic_load_explicit(&t->diverged, memory_order_relaxed) ||
            atomic_load_explicit(&t->error, memory_order_relaxed))
            return;
        if (do_round(w, r) != 0) return;
    }
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    trainer *t = w->t;
    unsigned long seen = 0;
    if (t->cfg->placement && t->cfg->topology)
        w->bound = leash_placement_bind_thread(t->cfg->placement, t->cfg->topology, w->id) == 0;
    for (;;) {
        pthread_mutex_lock(&t->lock);
        while (t->generation == seen) pthread_cond_wait(&t->started, &t->lock);
        seen = t->generation;
        int quit = t->quit;
        pthread_mutex_unlock(&t->lock);
        if (quit) return NULL;
        run_epoch(w);
        pthread_mutex_lock(&t->lock);
        if (++t->finished == t->cfg->threads) pthread_cond_signal(&t->finished_cv);
        pthread_mutex_unlock(&t->lock);
    }
}

/* Start the workers on the next epoch (or, with quit, release them to exit). */
static void open_gate(trainer *t, int quit)
{
    pthread_mutex_lock(&t->lock);
    t->finished = 0;
    t->quit = quit;
    ++t->generation;
    pthread_cond_broadcast(&t->started);
    pthread_mutex_unlock(&t->lock);
}

static void wait_workers(trainer *t)
{
    pthread_mutex_lock(&t->lock);
    while (t->finished < t->cfg->threads) pthread_cond_wait(&t->finished_cv, &t->lock);
    pthread_mutex_unlock(&t->lock);
}

/* For the averaging layer: no worker runs (the lock orders their writes before ours). */
static int workers_idle(void *arg)
{
    trainer *t = arg;
    pthread_mutex_lock(&t->lock);
    int idle = t->finished == t->cfg->threads;
    pthread_mutex_unlock(&t->lock);
    return idle;
}

/* Sleep until the workers finish the epoch or a round is due (by count: woken by the
 * worker that reaches it; by time: at the deadline). Returns whether they finished. */
static int wait_for_round(trainer *t, const leash_averager *av)
{
    struct timespec deadline = {0, 0};
    if (av->next_time >= 0) {
        double at = av->next_time;
        deadline.tv_sec = (time_t)at;
        deadline.tv_nsec = (long)((at - (double)deadline.tv_sec) * 1e9);
    }
    pthread_mutex_lock(&t->lock);
    if (t->count_wakeups) atomic_store(&t->wake_at, av->next_updates);
    int timed_out = 0;
    while (t->finished < t->cfg->threads && !t->wake && !timed_out &&
           !(t->count_wakeups && atomic_load(&t->published) >= av->next_updates)) {
        if (av->next_time >= 0)
            timed_out = pthread_cond_timedwait(&t->finished_cv, &t->lock, &deadline) != 0;
        else
            pthread_cond_wait(&t->finished_cv, &t->lock);
    }
    t->wake = 0;
    int done = t->finished == t->cfg->threads;
    pthread_mutex_unlock(&t->lock);
    return done;
}

/* The main thread's share of an epoch with the averaging layer on: rounds whenever one is
 * due while the workers run, then, with several ranks, rounds until every rank has
 * finished the epoch (see averaging_internal.h). */
static int averaging_epoch(trainer *t, leash_averager *av)
{
    int all_finished = 0, rc;
    while (!wait_for_round(t, av)) {
        uint64_t updates = atomic_load(&t->published);
        if (leash_averager_due(av, updates, leash_now()) &&
            (rc = leash_averager_round(av, updates, 0, workers_idle, t, &all_finished)) != 0)
            return rc;
    }
    if (leash_dist_size() == 1) return 0;
    while (!all_finished)
        if ((rc = leash_averager_round(av, atomic_load(&t->published), 1, workers_idle, t,
                                       &all_finished)) != 0)
            return rc;
    return 0;
}

static int check_inputs(const leash_config *cfg, const leash_dataset *train,
                        const leash_dataset *test)
{
    if (cfg->batch <= 0 || cfg->epochs <= 0 || cfg->rounds < 0 || cfg->threads < 1 ||
        cfg->tau_max < 0 || cfg->target_loss < 0 || cfg->avg_every < 0 || !(cfg->avg_period >= 0))
        return leash_fail(LEASH_EINVAL, "invalid training configuration");
    if (cfg->placement && cfg->placement->nworkers < cfg->threads)
        return leash_fail(LEASH_EINVAL, "the placement plans %d workers for %d threads",
                          cfg->placement->nworkers, cfg->threads);
    if (cfg->algorithm == LEASH_ALGO_SEQ && cfg->threads != 1)
        return leash_fail(LEASH_EINVAL, "-n %d: SEQ runs exactly one worker thread", cfg->threads);
    if ((size_t)cfg->batch > train->n)
        return leash_fail(LEASH_EINVAL, "-b %d: batch size exceeds the %zu training samples",
                          cfg->batch, train->n);
    if (train->n > UINT32_MAX)
        return leash_fail(LEASH_EINVAL, "%zu training samples: at most %u supported", train->n,
                          UINT32_MAX);
    if (train->h != test->h || train->w != test->w || train->c != test->c)
        return leash_fail(LEASH_EINVAL, "training and test images differ in shape");
    if (train->c > LEASH_MAX_CHANNELS)
        return leash_fail(LEASH_EINVAL, "%d channels: at most %d supported", train->c,
                          LEASH_MAX_CHANNELS);
    return 0;
}

/* Sum the workers' statistics into the result. */
static int collect_stats(leash_result *res, const trainer *t)
{
    int m = t->cfg->threads;
    res->threads = m;
    res->tau_max = t->cfg->tau_max;
    res->attempt_bins = LEASH_ATTEMPT_BINS;
    res->staleness_hist = calloc((size_t)res->tau_max + 1, sizeof *res->staleness_hist);
    res->attempts_hist = calloc(LEASH_ATTEMPT_BINS, sizeof *res->attempts_hist);
    res->updates_per_thread = calloc((size_t)m, sizeof *res->updates_per_thread);
    res->bound = calloc((size_t)m, sizeof *res->bound);
    if (!res->staleness_hist || !res->attempts_hist || !res->updates_per_thread || !res->bound)
        return leash_fail(LEASH_ENOMEM, "out of memory for statistics");
    for (int i = 0; i < m; ++i) {
        const leash_worker_stats *st = &t->workers[i].stats;
        res->updates_per_thread[i] = st->updates;
        res->bound[i] = t->workers[i].bound;
        res->gradients += st->gradients;
        res->dropped += st->dropped;
        res->failed_cas += st->failed_cas;
        res->time_compute_s += st->time_compute;
        res->time_publish_s += st->time_publish;
        res->time_wait_s += st->time_wait;
        res->time_mix_s += st->time_mix;
        for (int k = 0; k <= res->tau_max; ++k) res->staleness_hist[k] += st->staleness[k];
        for (int k = 0; k < LEASH_ATTEMPT_BINS; ++k) res->attempts_hist[k] += st->attempts[k];
    }
    res->peak_versions = t->ops->peak_versions(t->strategy);
    return 0;
}

static uint64_t total_updates(const trainer *t)
{
    uint64_t u = 0;
    for (int i = 0; i < t->cfg->threads; ++i) u += t->workers[i].stats.updates;
    return u;
}

static void free_workers(trainer *t)
{
    if (!t->workers) return;
    for (int i = 0; i < t->cfg->threads; ++i) {
        worker *w = &t->workers[i];
        leash_workspace_destroy(w->ws);
        leash_params_free(w->grad);
        free(w->idx);
        free(w->stats.staleness);
    }
    free(t->workers);
}

static int make_workers(trainer *t)
{
    int m = t->cfg->threads;
    t->workers = aligned_alloc(LEASH_CACHE_LINE, (size_t)m * sizeof *t->workers);
    if (!t->workers) return leash_fail(LEASH_ENOMEM, "out of memory for %d workers", m);
    memset(t->workers, 0, (size_t)m * sizeof *t->workers);
    for (int i = 0; i < m; ++i) {
        worker *w = &t->workers[i];
        w->id = i;
        w->t = t;
        int rc = leash_workspace_create(&w->ws, t->model, t->cfg->batch);
        if (rc) return rc;
        w->grad = leash_params_alloc(t->model->nparams);
        w->idx = malloc((size_t)t->cfg->batch * sizeof *w->idx);
        w->stats.staleness = calloc((size_t)t->cfg->tau_max + 1, sizeof *w->stats.staleness);
        if (!w->grad || !w->idx || !w->stats.staleness)
            return leash_fail(LEASH_ENOMEM, "out of memory for worker %d", i);
    }
    return 0;
}

int leash_train(const leash_config *cfg, const leash_dataset *train, const leash_dataset *test,
                leash_result *res, leash_epoch_callback on_epoch, void *arg)
{
    memset(res, 0, sizeof *res);
    trainer t = {.cfg = cfg, .model = &res->model, .train = train,
                 .ops = leash_strategy_for(cfg->algorithm)};
    atomic_init(&t.next_round, 0);
    atomic_init(&t.diverged, 0);
    atomic_init(&t.error, 0);
    atomic_init(&t.published, 0);
    atomic_init(&t.wake_at, UINT64_MAX);
    t.count_wakeups = cfg->avg_every > 0;
    leash_stepper *stepper = NULL;
    int gate = 0, started = 0;
    const int averaging = cfg->avg_every > 0 || cfg->avg_period > 0;
    const int m = cfg->threads;
    leash_averager av = {0};

    /* Local preparation; every rank then agrees before the first collective. */
    int rc = check_inputs(cfg, train, test);
    if (rc) goto prepared;
    if ((rc = build_model(&res->model, cfg, train)) != 0) goto prepared;
    if (!t.ops) {
        rc = leash_fail(LEASH_EINVAL, "unknown algorithm %d", (int)cfg->algorithm);
        goto prepared;
    }
    t.rounds = cfg->rounds ? cfg->rounds : (long)(train->n / (size_t)cfg->batch);
    /* Lockstep rounds come in groups of m gradients. */
    if (t.ops->lockstep && t.rounds < m) {
        rc = leash_fail(LEASH_EINVAL,
                        "-n %d: SYNC needs at least one gradient per thread and epoch (%ld)", m,
                        t.rounds);
        goto prepared;
    }
    /* Workers are the parallelism: OpenBLAS must not start threads of its own. */
    openblas_set_num_threads(1);
    t.perm = malloc(train->n * sizeof *t.perm);
    res->params = leash_params_alloc(res->model.nparams);
    res->epochs = calloc((size_t)cfg->epochs, sizeof *res->epochs);
    if (!t.perm || !res->params || !res->epochs) {
        rc = leash_fail(LEASH_ENOMEM, "out of memory for training buffers");
        goto prepared;
    }
    leash_model_init_params(&res->model, res->params, cfg->init, cfg->seed);
    if (cfg->input_map)
        t.map = *cfg->input_map;
    else
        leash_input_map_standardize(&t.map, train);
    rc = leash_stepper_create(&stepper, cfg->step_policy, cfg->step, m, cfg->tau_max,
                              cfg->tail_amplitude);
prepared:
    if ((rc = leash_dist_agree(rc)) != 0) goto out;
    /* Every rank starts from rank 0's parameters. */
    if ((rc = leash_comm_bcast_f(res->params, res->model.nparams)) != 0) goto out;
    leash_strategy_args args = {&res->model, res->params, cfg, stepper};
    if ((rc = t.ops->create(&t.strategy, &args)) != 0) goto started_all;
    if ((rc = make_workers(&t)) != 0) goto started_all;
    if (averaging && (rc = leash_averager_init(&av, t.ops, t.strategy, res->model.nparams,
                                               cfg->avg_every, cfg->avg_period)) != 0)
        goto started_all;
    if (pthread_mutex_init(&t.lock, NULL) != 0) {
        rc = leash_fail(LEASH_ENOMEM, "cannot create the workers' gate");
        goto started_all;
    }
    if (pthread_cond_init(&t.started, NULL) != 0) {
        pthread_mutex_destroy(&t.lock);
        rc = leash_fail(LEASH_ENOMEM, "cannot create the workers' gate");
        goto started_all;
    }
    pthread_condattr_t monotonic;
    int cv = pthread_condattr_init(&monotonic);
    if (cv == 0) {
        cv = pthread_condattr_setclock(&monotonic, CLOCK_MONOTONIC);
        if (cv == 0) cv = pthread_cond_init(&t.finished_cv, &monotonic);
        pthread_condattr_destroy(&monotonic);
    }
    if (cv != 0) {
        pthread_cond_destroy(&t.started);
        pthread_mutex_destroy(&t.lock);
        rc = leash_fail(LEASH_ENOMEM, "cannot create the workers' gate");
        goto started_all;
    }
    gate = 1;
    for (; started < m; ++started)
        if (pthread_create(&t.workers[started].thread, NULL, worker_main, &t.workers[started])) {
            rc = leash_fail(LEASH_ENOMEM, "cannot start worker thread %d of %d", started + 1, m);
            break;
        }
started_all:
    if ((rc = leash_dist_agree(rc)) != 0) goto out;

    leash_rng rng;
    leash_rng_seed(&rng, cfg->seed ^ 0x5eed5eed5eed5eedULL);
    for (size_t i = 0; i < train->n; ++i) t.perm[i] = (uint32_t)i;
    uint64_t updates_before = 0;
    res->time_to_target_s = -1.0;
    for (int e = 0; e < cfg->epochs; ++e) {
        leash_rng_shuffle_u32(&rng, t.perm, train->n);
        atomic_store_explicit(&t.next_round, 0, memory_order_relaxed);
        double t_epoch = leash_now();
        open_gate(&t, 0);
        if (averaging) {
            /* Other ranks may be waiting in a round for this one: only an abort ends
             * the job now (leash_dist_broken). */
            if ((rc = averaging_epoch(&t, &av)) != 0) {
                leash_comm_mark_broken();
                /* Stop the workers claiming more of the epoch (SYNC's lockstep runs it out). */
                int none = 0;
                atomic_compare_exchange_strong_explicit(&t.error, &none, rc, memory_order_relaxed,
                                                        memory_order_relaxed);
                goto out;
            }
        } else {
            wait_workers(&t);
        }
        leash_epoch_stats *st = &res->epochs[e];
        st->epoch = e + 1;

        /* The ranks agree on failures: the lowest failing rank reports, all stop. */
        int error = atomic_load_explicit(&t.error, memory_order_relaxed);
        if (error)
            leash_fail(error, "%s: cannot apply a gradient: %s",
                       leash_algorithm_name(cfg->algorithm), leash_strerror(error));
        else if (atomic_load_explicit(&t.diverged, memory_order_relaxed))
            error = leash_fail(LEASH_EDIVERGED,
                               "training diverged: the loss became non-finite in epoch %d "
                               "(try a smaller -l)",
                               e + 1);
        if ((rc = leash_dist_agree(error)) != 0) goto out;

        double sums[3] = {0.0, 0.0, 0.0}; /* loss sum, losses, updates: over all ranks */
        for (int i = 0; i < m; ++i) {
            sums[0] += t.workers[i].loss_sum;
            sums[1] += (double)t.workers[i].losses;
        }
        uint64_t updates = total_updates(&t);
        res->samples += (uint64_t)sums[1] * (uint64_t)cfg->batch;
        res->updates += updates - updates_before;
        sums[2] = (double)(updates - updates_before);
        updates_before = updates;
        if ((rc = leash_comm_allreduce_sum_d(sums, 3)) != 0) goto out;
        /* With several ranks the epoch ends when all have finished it: waiting for a
         * slower rank is training time, whatever the averaging layer did. */
        st->time_s = leash_now() - t_epoch;
        st->train_loss = sums[1] > 0 ? sums[0] / sums[1] : NAN;
        st->updates = (uint64_t)sums[2];
        res->time_s += st->time_s;
        const int last = e + 1 == cfg->epochs ||
                         (cfg->target_loss > 0 && st->train_loss <= cfg->target_loss);

        /* Evaluate the mean of the ranks' models, computed on rank 0 and sent to all (bit
         * for bit the same everywhere; after the last epoch it is the final averaging),
         * each rank scoring a slice of the test set. The closing reduction also lets
         * every rank start the next epoch together, outside the epochs' timers. */
        double t_eval = leash_now();
        uint64_t ts;
        t.ops->snapshot(t.strategy, res->params, &ts);
        if ((rc = leash_comm_mean(res->params, res->model.nparams)) != 0) goto out;
        double scores[2] = {0.0, 0.0};
        /* The workers are idle until the gate opens again: borrow worker 0's scratch. */
        evaluate_slice(&res->model, res->params, t.workers[0].ws, cfg->batch, test, &t.map,
                       t.workers[0].idx, scores);
        if ((rc = leash_comm_allreduce_sum_d(scores, 2)) != 0) goto out;
        st->test_loss = scores[0] / (double)test->n;
        st->test_accuracy = scores[1] / (double)test->n;
        res->eval_time_s += leash_now() - t_eval;
        res->nepochs = e + 1;
        if (on_epoch) on_epoch(st, arg);
        if (last) {
            if (cfg->target_loss > 0 && st->train_loss <= cfg->target_loss)
                res->time_to_target_s = res->time_s;
            break;
        }
    }
    res->averagings = av.rounds;
    res->time_mpi_s = av.time_mpi;
    res->time_averaging_s = av.time_total;
    /* Every rank reports next: agree first, so that none is left waiting. */
    rc = leash_dist_agree(collect_stats(res, &t));
out:
    if (started) {
        open_gate(&t, 1);
        for (int i = 0; i < started; ++i) pthread_join(t.workers[i].thread, NULL);
    }
    if (gate) {
        pthread_mutex_destroy(&t.lock);
        pthread_cond_destroy(&t.started);
        pthread_cond_destroy(&t.finished_cv);
    }
    leash_averager_free(&av);
    if (t.strategy) t.ops->destroy(t.strategy);
    free_workers(&t);
    leash_stepper_destroy(stepper);
    free(t.perm);
    if (rc) leash_result_free(res);
    return rc;
}

void leash_result_free(leash_result *res)
{
    leash_params_free(res->params);
    free(res->epochs);
    free(res->staleness_hist);
    free(res->attempts_hist);
    free(res->updates_per_thread);
    free(res->bound);
    memset(res, 0, sizeof *res);
}
