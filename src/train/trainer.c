/* The training loop: epochs of worker rounds, evaluation after each epoch, checkpoints
 * at safe points.
 *
 * The worker loop is written once here against the strategy interface; the strategy
 * decides how reads and publishes synchronize. Workers are threads that live for the
 * whole run. A gate (mutex and condition variables) starts each segment of an epoch once
 * the main thread has prepared its permutation and position, and tells the main thread
 * when every worker has stopped; the mutex orders the workers' writes to their
 * statistics before the main thread reads them, and the main thread's writes before the
 * workers' reads.
 *
 * An epoch is one segment unless something pauses the workers: a checkpoint falling
 * due (--checkpoint-every, --checkpoint-period), a stop request (leash_request_stop,
 * from a signal), or another rank pausing. Between segments no worker runs and, under
 * MPI, every rank has left the averaging layer's rounds: a safe point, where the state
 * is whole gradients applied in order, and where a checkpoint holds all of it. */
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cblas.h>

#include "core/clock_internal.h"
#include "core/error_internal.h"
#include "core/stop_internal.h"
#include "core/store_internal.h"
#include "leash/dist.h"
#include "leash/placement.h"
#include "mpi/comm_internal.h"
#include "train/breakdown_internal.h"
#include "train/checkpoint_internal.h"
#include "train/evaluate_internal.h"
#include "train/trainer_internal.h"

/* A stop request is a hint to stop claiming rounds: the gate orders what follows. */
static int stop_asked(void) { return leash_stop_asked(); }

static int pause_asked(trainer *t)
{
    return stop_asked() || atomic_load_explicit(&t->pause, memory_order_relaxed);
}

uint64_t leash_trainer_updates(const trainer *t)
{
    uint64_t u = 0;
    for (int i = 0; i < t->cfg->threads; ++i) u += t->workers[i].stats.updates;
    return u;
}

/* The workers' loss sums for the trace (relaxed: see worker.trace_sum). */
static void trace_sums(const trainer *t, double *sum, uint64_t *n)
{
    *sum = 0.0;
    *n = 0;
    for (int i = 0; i < t->cfg->threads; ++i) {
        *n += atomic_load_explicit(&t->workers[i].trace_n, memory_order_relaxed);
        *sum += atomic_load_explicit(&t->workers[i].trace_sum, memory_order_relaxed);
    }
}

/* Trace point for this rank's update count `updates` (a multiple of trace_every). */
static void record_trace(trainer *t, uint64_t updates)
{
    size_t k = (size_t)(updates / (uint64_t)t->trace_every) - 1;
    if (k >= t->trace_cap) return;
    double sum;
    uint64_t n;
    trace_sums(t, &sum, &n);
    t->trace[k] = (leash_trace_raw){t->time_base + (leash_now() - t->seg_start), updates, sum, n};
}

/* Round r's window of the epoch's permutation, gathered into the worker's input:
 * consecutive windows, wrapping if -r asks for more samples than one pass holds. */
static void gather_round(worker *w, long r)
{
    trainer *t = w->t;
    const int b = t->cfg->batch;
    const size_t ntrain = t->train->n;
    size_t pos = (size_t)r * (size_t)b % ntrain;
    for (int i = 0; i < b; ++i) {
        w->idx[i] = t->perm[pos];
        if (++pos == ntrain) pos = 0;
    }
    leash_dataset_gather(leash_workspace_input(w->ws), leash_workspace_labels(w->ws), t->train,
                         &t->map, w->idx, b);
}

/* A computed loss: into the epoch's and the trace's sums if it is finite; otherwise the
 * run has diverged, on the earliest version any worker saw it on. Returns whether it
 * was finite. */
static int count_loss(worker *w, float loss, uint64_t ts)
{
    trainer *t = w->t;
    if (isfinite(loss)) {
        w->loss_sum += loss;
        ++w->losses;
        if (t->trace_every) {
            /* Sum before count (see worker). */
            atomic_store_explicit(&w->trace_sum,
                                  atomic_load_explicit(&w->trace_sum, memory_order_relaxed) + loss,
                                  memory_order_relaxed);
            atomic_store_explicit(&w->trace_n,
                                  atomic_load_explicit(&w->trace_n, memory_order_relaxed) + 1,
                                  memory_order_relaxed);
        }
        return 1;
    }
    uint64_t seen = atomic_load_explicit(&t->diverged_at, memory_order_relaxed);
    while (ts < seen && !atomic_compare_exchange_weak_explicit(&t->diverged_at, &seen, ts,
                                                               memory_order_relaxed,
                                                               memory_order_relaxed)) {
    }
    atomic_store_explicit(&t->diverged, 1, memory_order_relaxed);
    return 0;
}

/* One more update of this rank: its trace point, the segment's pause and the averaging
 * layer's wake-up, each when its count is reached. A lockstep strategy calls it within
 * its round (leash_strategy_args.on_update), the others' workers after publishing. */
static void count_update(void *arg)
{
    trainer *t = arg;
    uint64_t now = atomic_fetch_add(&t->published, 1) + 1;
    if (t->trace_every && now % (uint64_t)t->trace_every == 0) record_trace(t, now);
    if (now == t->pause_at) atomic_store_explicit(&t->pause, 1, memory_order_relaxed);
    if (t->count_wakeups && now == atomic_load(&t->wake_at)) {
        pthread_mutex_lock(&t->lock);
        t->wake = 1;
        pthread_cond_signal(&t->finished_cv);
        pthread_mutex_unlock(&t->lock);
    }
}

/* The instants that divide a round into its phases, and the waits inside them. */
typedef struct round_clock {
    double start, read, gradient, release, publish, end;
    double wait_read, wait_publish; /* the strategy's lock or barrier waits */
} round_clock;

/* Whether the timeline records this round: 1 in timeline_every of the worker's. */
static leash_tl_track *sampled(worker *w)
{
    if (!w->track) return NULL;
    if (w->tl_skip-- > 0) return NULL;
    w->tl_skip = w->t->timeline.tl.every - 1;
    return w->track;
}

/* The round's phases into the worker's time breakdown, and onto its track if sampled. */
static void account_round(worker *w, const round_clock *c)
{
    leash_worker_stats *st = &w->stats;
    st->time_compute += (c->read - c->start) + (c->release - c->gradient);
    st->time_read += (c->gradient - c->read) + (c->publish - c->release) - c->wait_read;
    st->time_publish += (c->end - c->publish) - c->wait_publish;
    if (!st->tl) return;
    leash_tl_add(st->tl, LEASH_TL_BATCH, c->start, c->read, 0);
    leash_tl_add(st->tl, LEASH_TL_READ, c->read, c->gradient, 0);
    leash_tl_add(st->tl, LEASH_TL_GRADIENT, c->gradient, c->release, 0);
    leash_tl_add(st->tl, LEASH_TL_PUBLISH, c->publish, c->end, 0);
    st->tl = NULL;
}

/* The gradient on theta; the test hook's worker takes longer over it. */
static float gradient(worker *w, const float *theta)
{
    trainer *t = w->t;
    float loss = leash_model_gradient(t->model, theta, w->grad, w->ws, t->cfg->batch);
    if (w->id == t->slow_worker) {
        const struct timespec d = {(time_t)t->slow_s, (long)(fmod(t->slow_s, 1.0) * 1e9)};
        nanosleep(&d, NULL);
    }
    return loss;
}

/* One mini-batch: gather round r's samples, compute the gradient on a pinned version,
 * publish it. Returns 0, or -1 if the loss was not finite or the publish failed. */
static int do_round(worker *w, long r)
{
    trainer *t = w->t;
    leash_worker_stats *st = &w->stats;
    round_clock c = {.start = leash_now()};
    st->tl = sampled(w);
    gather_round(w, r);
    uint64_t ts;
    double waited = st->time_wait;
    c.read = leash_now();
    const float *theta = t->ops->read(t->strategy, w->id, &ts, st);
    c.gradient = leash_now();
    float loss = gradient(w, theta);
    c.release = leash_now();
    t->ops->release(t->strategy, w->id, theta);
    c.wait_read = st->time_wait - waited;
    waited = st->time_wait;
    c.publish = leash_now();
    ++st->gradients;
    const int ok = count_loss(w, loss, ts);
    /* A lockstep strategy needs every worker at every barrier, so even a diverged
     * gradient is published there; the run stops at the end of the epoch. */
    int rc = ok || t->ops->lockstep ? t->ops->publish(t->strategy, w->id, w->grad, ts, st) : 0;
    c.end = leash_now();
    c.wait_publish = st->time_wait - waited;
    account_round(w, &c);
    if (rc == 1 && !t->ops->lockstep) count_update(t);
    if (rc < 0) {
        int none = 0;
        atomic_compare_exchange_strong_explicit(&t->error, &none, rc, memory_order_relaxed,
                                                memory_order_relaxed);
        return -1;
    }
    return ok ? 0 : -1;
}

/* The worker's share of a segment: from the epoch's position until its end, a pause or
 * a stop. */
static void run_segment(worker *w)
{
    trainer *t = w->t;
    if (t->ops->lockstep) {
        /* Every worker must reach every barrier, so the workers stop after the same round
         * (see lockstep_end), and a lockstep epoch runs to its end even when a gradient
         * diverged: a worker cannot tell whether another one has already gone on into
         * the next round (and set diverged there), so stopping early could strand it. */
        const int m = t->cfg->threads;
        for (long k = t->lockstep_first;
             k < atomic_load_explicit(&t->lockstep_end, memory_order_relaxed); ++k) {
            if (w->id == 0 && pause_asked(t))
                atomic_store_explicit(&t->lockstep_end, k + 1, memory_order_relaxed);
            do_round(w, k * m + w->id);
        }
        return;
    }
    for (;;) {
        if (pause_asked(t) || atomic_load_explicit(&t->diverged, memory_order_relaxed) ||
            atomic_load_explicit(&t->error, memory_order_relaxed))
            return;
        long r = atomic_fetch_add_explicit(&t->next_round, 1, memory_order_relaxed);
        if (r >= t->rounds || do_round(w, r) != 0) return;
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
        if (w->track && w->segment_end > 0)
            leash_tl_add(w->track, LEASH_TL_PAUSED, w->segment_end, leash_now(), 0);
        run_segment(w);
        w->segment_end = leash_now();
        pthread_mutex_lock(&t->lock);
        if (++t->finished == t->cfg->threads) pthread_cond_signal(&t->finished_cv);
        pthread_mutex_unlock(&t->lock);
    }
}

/* Start the workers on the next segment (or, with quit, release them to exit). */
static void open_gate(trainer *t, int quit)
{
    pthread_mutex_lock(&t->lock);
    t->finished = 0;
    t->quit = quit;
    ++t->generation;
    pthread_cond_broadcast(&t->started);
    pthread_mutex_unlock(&t->lock);
}

static struct timespec to_timespec(double at)
{
    /* Deadlines are bounded by the options; a time_t still holds any clamped one. */
    if (at > 1e15) at = 1e15;
    struct timespec ts;
    ts.tv_sec = (time_t)at;
    ts.tv_nsec = (long)((at - (double)ts.tv_sec) * 1e9);
    return ts;
}

/* The earlier of two deadlines, < 0 meaning none. */
static double earliest(double a, double b) { return a < 0 ? b : b < 0 ? a : fmin(a, b); }

/* The progress callback, when it is due (main thread, not under the lock). */
static void report_progress(trainer *t)
{
    const leash_config *c = t->cfg;
    const double now = leash_now();
    if (t->next_progress < 0 || now < t->next_progress) return;
    t->next_progress = now + c->progress_every;
    double sum;
    uint64_t n;
    trace_sums(t, &sum, &n);
    const leash_progress_info p = {
        .epoch = t->res->nepochs + 1,
        .updates = atomic_load(&t->published) - t->prog.updates_before,
        .updates_per_epoch = (uint64_t)(t->ops->lockstep ? t->rounds / c->threads : t->rounds),
        .elapsed_s = t->prog.elapsed + (now - t->seg_start),
        .loss = n > t->progress_losses ? (sum - t->progress_loss) / (double)(n - t->progress_losses)
                                       : NAN,
    };
    t->progress_loss = sum;
    t->progress_losses = n;
    c->on_progress(&p, c->progress_arg);
}

/* Sleep until the workers finish the segment; at --checkpoint-period's deadline ask them
 * to pause (they then finish within a mini-batch); report progress when it is due. */
static void wait_workers(trainer *t)
{
    const double due = t->cfg->checkpoint && t->cfg->checkpoint_period > 0 ? t->prog.next_ckpt_time
                                                                            : -1.0;
    pthread_mutex_lock(&t->lock);
    while (t->finished < t->cfg->threads) {
        const int ckpt = due >= 0 && !atomic_load_explicit(&t->pause, memory_order_relaxed);
        const double at = earliest(ckpt ? due : -1.0, t->next_progress);
        if (at < 0) {
            pthread_cond_wait(&t->finished_cv, &t->lock);
            continue;
        }
        struct timespec deadline = to_timespec(at);
        if (pthread_cond_timedwait(&t->finished_cv, &t->lock, &deadline) == 0) continue;
        if (ckpt && leash_now() >= due) atomic_store_explicit(&t->pause, 1, memory_order_relaxed);
        pthread_mutex_unlock(&t->lock);
        report_progress(t);
        pthread_mutex_lock(&t->lock);
    }
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

/* Sleep until the workers finish the segment or a round is due (by count: woken by the
 * worker that reaches it; by time: at the deadline). A checkpoint's deadline pauses the
 * workers, as in wait_workers. Returns whether they finished. */
static int wait_for_round(trainer *t, const leash_averager *av)
{
    const double ckpt = t->cfg->checkpoint && t->cfg->checkpoint_period > 0 ? t->prog.next_ckpt_time
                                                                             : -1.0;
    double at = av->next_time;
    if (ckpt >= 0 && !atomic_load_explicit(&t->pause, memory_order_relaxed) &&
        (at < 0 || ckpt < at))
        at = ckpt;
    at = earliest(at, t->next_progress);
    struct timespec deadline = to_timespec(at);
    pthread_mutex_lock(&t->lock);
    if (t->count_wakeups) atomic_store(&t->wake_at, av->next_updates);
    int timed_out = 0;
    while (t->finished < t->cfg->threads && !t->wake && !timed_out &&
           !(t->count_wakeups && atomic_load(&t->published) >= av->next_updates)) {
        if (at >= 0)
            timed_out = pthread_cond_timedwait(&t->finished_cv, &t->lock, &deadline) != 0;
        else
            pthread_cond_wait(&t->finished_cv, &t->lock);
    }
    t->wake = 0;
    int done = t->finished == t->cfg->threads;
    pthread_mutex_unlock(&t->lock);
    if (ckpt >= 0 && leash_now() >= ckpt) atomic_store_explicit(&t->pause, 1, memory_order_relaxed);
    report_progress(t);
    return done;
}

/* The main thread's share of a segment with the averaging layer on: rounds whenever one
 * is due while the workers run, then, with several ranks, rounds until every rank has
 * finished the segment (see averaging_internal.h). A rank that pauses tells the others
 * in the next round, and they pause too. */
static int averaging_segment(trainer *t, leash_averager *av)
{
    int all_finished = 0, any_pause = 0, rc = 0;
    /* A stall line says who waits: the workers go on while this rank's own run, then
     * the whole rank waits for the others to finish the segment. */
    leash_comm_set_workers_running(1);
    while (rc == 0 && !wait_for_round(t, av)) {
        uint64_t updates = atomic_load(&t->published);
        const int pause = pause_asked(t);
        if ((pause && leash_dist_size() > 1) || leash_averager_due(av, updates, leash_now())) {
            rc = leash_averager_round(av, updates, 0, pause, workers_idle, t, &all_finished,
                                      &any_pause);
            if (any_pause) atomic_store_explicit(&t->pause, 1, memory_order_relaxed);
        }
    }
    leash_comm_set_workers_running(0);
    if (rc || leash_dist_size() == 1) return rc;
    while (!all_finished) {
        if ((rc = leash_averager_round(av, atomic_load(&t->published), 1, pause_asked(t),
                                       workers_idle, t, &all_finished, &any_pause)) != 0)
            return rc;
        if (any_pause) atomic_store_explicit(&t->pause, 1, memory_order_relaxed);
    }
    return 0;
}

static int check_inputs(const leash_config *cfg, const leash_dataset *train,
                        const leash_dataset *test)
{
    if (cfg->batch <= 0 || cfg->epochs <= 0 || cfg->rounds < 0 || cfg->threads < 1 ||
        cfg->tau_max < 0 || cfg->target_loss < 0 || cfg->avg_every < 0 ||
        !(cfg->avg_period >= 0) || cfg->checkpoint_every < 0 || !(cfg->checkpoint_period >= 0) ||
        (cfg->trace_every < 0 && cfg->trace_every != LEASH_TRACE_AUTO))
        return leash_fail(LEASH_EINVAL, "invalid training configuration");
    if (cfg->placement && cfg->placement->nworkers < cfg->threads)
        return leash_fail(LEASH_EINVAL, "the placement plans %d workers for %d threads",
                          cfg->placement->nworkers, cfg->threads);
    int rc = leash_blas_check_threads(cfg->threads);
    if (rc) return rc;
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

/* Refuse, naming the flag behind the largest share, a run whose buffers cannot fit in
 * the machine's memory: asking malloc would end it in "out of memory", or succeed on
 * overcommitted pages and fail later. A lower bound: the parameter vectors every
 * strategy needs (the result, the averaging layer's two, a gradient per worker, one
 * shared copy), the workers' workspaces and histograms, the per-epoch records. */
static int check_memory(const leash_config *cfg, const leash_model *model, const leash_dataset *train)
{
    const double m = cfg->threads, vec = (double)model->nparams * sizeof(float);
    struct {
        char flag[64];
        const char *what;
        double bytes;
    } need[4] = {
        {"", "parameter vectors", vec * (m + 4)},
        {"", "mini-batch workspaces", m * (double)leash_workspace_bytes(model, cfg->batch)},
        {"", "staleness histograms", m * ((double)cfg->tau_max + 1) * sizeof(uint64_t)},
        {"", "per-epoch records", (double)cfg->epochs * sizeof(leash_epoch_stats)},
    };
    if (leash_arch_preset(cfg->arch) && strcmp(leash_arch_preset(cfg->arch), "MLP") == 0)
        snprintf(need[0].flag, sizeof need[0].flag, "-U %d -L %d", cfg->units, cfg->hidden_layers);
    else
        snprintf(need[0].flag, sizeof need[0].flag, "-A");
    snprintf(need[1].flag, sizeof need[1].flag, "-b %d", cfg->batch);
    snprintf(need[2].flag, sizeof need[2].flag, "--tau-max %d", cfg->tau_max);
    snprintf(need[3].flag, sizeof need[3].flag, "-e %d", cfg->epochs);
    double total = (double)train->n * sizeof(uint32_t);
    int big = 0;
    for (int i = 0; i < 4; ++i) {
        total += need[i].bytes;
        if (need[i].bytes > need[big].bytes) big = i;
    }
    const double have = (double)leash_memory_total(), gib = 1024.0 * 1024.0 * 1024.0;
    if (total <= have) return 0;
    return leash_fail(LEASH_EINVAL,
                      "%s: the run would need %.1f GiB (%.1f GiB of %s), more than the %.1f GiB "
                      "of memory",
                      need[big].flag, total / gib, need[big].bytes / gib, need[big].what, have / gib);
}

int leash_trainer_trace_alloc(trainer *t, long every)
{
    free(t->trace);
    t->trace = NULL;
    t->trace_cap = 0;
    t->trace_every = every;
    if (!every) return 0;
    const long per_epoch = t->ops->lockstep ? t->rounds / t->cfg->threads : t->rounds;
    const size_t cap = (size_t)t->cfg->epochs * (size_t)(per_epoch / every + 1) + 1;
    if (!(t->trace = calloc(cap, sizeof *t->trace)))
        return leash_fail(LEASH_ENOMEM, "out of memory for a loss trace of %zu points", cap);
    t->trace_cap = cap;
    return 0;
}

uint64_t leash_trainer_peak_versions(const trainer *t)
{
    uint64_t peak = t->ops->peak_versions(t->strategy);
    return peak > t->peak0 ? peak : t->peak0;
}

/* The first crossing of the target by the trace's means, interpolated linearly between
 * the point before and the point that reached it (from the run's start for the first). */
static void trace_target(leash_result *res, double target)
{
    double t0 = 0.0, u0 = 0.0, l0 = INFINITY;
    for (size_t k = 0; k < res->ntrace; ++k) {
        const leash_trace_point *p = &res->trace[k];
        if (p->loss <= target) {
            double f = isfinite(l0) ? (l0 - target) / (l0 - p->loss) : 1.0;
            res->time_to_target_s = t0 + f * (p->time_s - t0);
            res->updates_to_target = u0 + f * ((double)p->updates - u0);
            return;
        }
        if (isfinite(p->loss)) {
            t0 = p->time_s;
            u0 = (double)p->updates;
            l0 = p->loss;
        }
    }
    res->time_to_target_s = res->updates_to_target = -1.0;
}

/* The trace so far, from the recorded points' cumulative losses. */
static int collect_trace(leash_result *res, const trainer *t)
{
    if (!res->trace && !(res->trace = calloc(t->trace_cap ? t->trace_cap : 1, sizeof *res->trace)))
        return LEASH_ENOMEM;
    uint64_t points = atomic_load(&t->published) / (uint64_t)t->trace_every;
    res->trace_every = t->trace_every;
    res->ntrace = points < t->trace_cap ? (size_t)points : t->trace_cap;
    double sum = 0.0;
    uint64_t n = 0;
    for (size_t k = 0; k < res->ntrace; ++k) {
        const leash_trace_raw *r = &t->trace[k];
        res->trace[k] = (leash_trace_point){r->time_s, r->updates,
                                            r->losses > n ? (r->loss_sum - sum) / (double)(r->losses - n)
                                                          : NAN};
        sum = r->loss_sum;
        n = r->losses;
    }
    if (t->cfg->target_loss > 0) trace_target(res, t->cfg->target_loss);
    return 0;
}

/* Sum the workers' statistics into the result (again after every epoch: the result so
 * far is what the epoch callback sees). */
static int collect_stats(leash_result *res, const trainer *t)
{
    int m = t->cfg->threads;
    res->threads = m;
    res->tau_max = t->cfg->tau_max;
    res->attempt_bins = LEASH_ATTEMPT_BINS;
    if (!res->staleness_hist) {
        res->staleness_hist = calloc((size_t)res->tau_max + 1, sizeof *res->staleness_hist);
        res->attempts_hist = calloc(LEASH_ATTEMPT_BINS, sizeof *res->attempts_hist);
        res->updates_per_thread = calloc((size_t)m, sizeof *res->updates_per_thread);
        res->bound = calloc((size_t)m, sizeof *res->bound);
    }
    if (!res->staleness_hist || !res->attempts_hist || !res->updates_per_thread || !res->bound)
        return leash_fail(LEASH_ENOMEM, "out of memory for statistics");
    memset(res->staleness_hist, 0, ((size_t)res->tau_max + 1) * sizeof *res->staleness_hist);
    memset(res->attempts_hist, 0, LEASH_ATTEMPT_BINS * sizeof *res->attempts_hist);
    res->gradients = res->dropped = res->failed_cas = 0;
    res->time_compute_s = res->time_read_s = res->time_publish_s = res->time_wait_s = 0.0;
    res->time_mix_s = 0.0;
    for (int i = 0; i < m; ++i) {
        const leash_worker_stats *st = &t->workers[i].stats;
        res->updates_per_thread[i] = st->updates;
        res->bound[i] = t->workers[i].bound;
        res->gradients += st->gradients;
        res->dropped += st->dropped;
        res->failed_cas += st->failed_cas;
        res->time_compute_s += st->time_compute;
        res->time_read_s += st->time_read;
        res->time_publish_s += st->time_publish;
        res->time_wait_s += st->time_wait;
        res->time_mix_s += st->time_mix;
        for (int k = 0; k <= res->tau_max; ++k) res->staleness_hist[k] += st->staleness[k];
        for (int k = 0; k < LEASH_ATTEMPT_BINS; ++k) res->attempts_hist[k] += st->attempts[k];
    }
    res->peak_versions = leash_trainer_peak_versions(t);
    if (t->trace_every && collect_trace(res, t) != 0)
        return leash_fail(LEASH_ENOMEM, "out of memory for the loss trace");
    res->averagings = t->av.rounds;
    res->rounds_behind = t->av.behind;
    res->time_mpi_s = t->av.time_mpi;
    res->time_averaging_s = t->av.time_total;
    return 0;
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

static int make_gate(trainer *t)
{
    if (pthread_mutex_init(&t->lock, NULL) != 0) goto fail;
    if (pthread_cond_init(&t->started, NULL) != 0) {
        pthread_mutex_destroy(&t->lock);
        goto fail;
    }
    pthread_condattr_t monotonic;
    int cv = pthread_condattr_init(&monotonic);
    if (cv == 0) {
        cv = pthread_condattr_setclock(&monotonic, CLOCK_MONOTONIC);
        if (cv == 0) cv = pthread_cond_init(&t->finished_cv, &monotonic);
        pthread_condattr_destroy(&monotonic);
    }
    if (cv == 0) return 0;
    pthread_cond_destroy(&t->started);
    pthread_mutex_destroy(&t->lock);
fail:
    return leash_fail(LEASH_ENOMEM, "cannot create the workers' gate");
}

/* A span on the main thread's timeline track, if there is one. */
static void main_span(trainer *t, leash_tl_kind kind, double t0, double t1)
{
    leash_tl_track *tr = leash_tl_run_track(&t->timeline, t->cfg->threads);
    if (tr) leash_tl_add(tr, kind, t0, t1, 0);
}

/* Whether the run has nothing left to train: its epochs are done or the target reached. */
static int run_finished(const trainer *t)
{
    const leash_result *res = t->res;
    const double target = t->cfg->target_loss;
    return res->nepochs >= t->cfg->epochs ||
           (target > 0 && res->nepochs > 0 && res->epochs[res->nepochs - 1].train_loss <= target);
}

static int checkpoint_due(const trainer *t)
{
    const leash_config *c = t->cfg;
    return c->checkpoint &&
           ((c->checkpoint_every > 0 && leash_trainer_updates(t) >= t->prog.next_ckpt_updates) ||
            (c->checkpoint_period > 0 && leash_now() >= t->prog.next_ckpt_time));
}

/* Collective: write a checkpoint now (no worker runs) and schedule the next one. A run
 * without --checkpoint has nowhere to write one: a stop then only ends it. */
static int take_checkpoint(trainer *t)
{
    if (!t->cfg->checkpoint) return 0;
    double t0 = leash_now();
    int rc = leash_checkpoint_write(t);
    if (rc) return rc;
    leash_progress *pg = &t->prog;
    const leash_config *c = t->cfg;
    if (c->checkpoint_every > 0) pg->next_ckpt_updates = leash_trainer_updates(t) + (uint64_t)c->checkpoint_every;
    if (c->checkpoint_period > 0) pg->next_ckpt_time = leash_now() + c->checkpoint_period;
    ++t->res->checkpoints;
    const double t1 = leash_now();
    t->res->time_checkpoint_s += t1 - t0;
    main_span(t, LEASH_TL_CHECKPOINT, t0, t1);
    return 0;
}

/* A blocking round (collective; no worker runs on any rank): every rank is at its round's
 * update count or done with the epoch, so the ranks average exactly the models they have
 * at those counts. A rank that was not due keeps its own schedule. */
static int blocking_round(trainer *t, int due)
{
    const uint64_t next = t->av.next_updates;
    const uint64_t updates = atomic_load(&t->published);
    int rc = leash_averager_exchange(&t->av, updates, workers_idle, t);
    if (rc) {
        leash_comm_mark_broken();
        return rc;
    }
    if (!due) t->av.next_updates = next;
    /* Where the round fell on this rank: the output shows that rounds ran, and when. */
    leash_result *res = t->res;
    if (res->nround_updates < LEASH_ROUND_UPDATES_MAX)
        res->round_updates[res->nround_updates++] = updates;
    return 0;
}

/* Prepare the segment that starts at the epoch's position. It ends at the next counted
 * pause (--checkpoint-every's, or a blocking round's): a lockstep segment is cut there
 * exactly (one update a round), and one already due pauses before it starts. */
static void plan_segment(trainer *t)
{
    const leash_progress *pg = &t->prog;
    const int m = t->cfg->threads;
    uint64_t pause_at = t->cfg->checkpoint && t->cfg->checkpoint_every > 0 ? pg->next_ckpt_updates
                                                                           : UINT64_MAX;
    if (t->blocking && t->av.next_updates < pause_at) pause_at = t->av.next_updates;
    const uint64_t published = atomic_load(&t->published);
    t->pause_at = pause_at;
    atomic_store_explicit(&t->pause, pause_at <= published, memory_order_relaxed);
    atomic_store_explicit(&t->next_round, pg->position, memory_order_relaxed);
    t->lockstep_first = pg->position / m;
    long end = t->rounds / m;
    if (pause_at != UINT64_MAX) {
        const uint64_t left = pause_at > published ? pause_at - published : 0;
        if (left < (uint64_t)(end - t->lockstep_first)) end = t->lockstep_first + (long)left;
    }
    atomic_store_explicit(&t->lockstep_end, end, memory_order_relaxed);
    t->time_base = t->res->time_s + pg->elapsed;
    t->seg_start = leash_now();
}

/* Run the planned segment: the workers until they stop, the main thread meanwhile in the
 * averaging layer's rounds or asleep; then the epoch's position after it. */
static int drive_segment(trainer *t)
{
    open_gate(t, 0);
    if (t->averaging && !t->blocking) {
        int rc = averaging_segment(t, &t->av);
        if (rc) {
            /* Other ranks may be waiting in a round for this one: only an abort ends
             * the job now (leash_dist_broken). Stop the workers claiming more and let
             * the segment end before returning: a lockstep worker that has not yet
             * left the gate would otherwise see the quit and never reach the barrier
             * the others wait at, and the run could not end. */
            leash_comm_mark_broken();
            int none = 0;
            atomic_compare_exchange_strong_explicit(&t->error, &none, rc, memory_order_relaxed,
                                                    memory_order_relaxed);
            atomic_store_explicit(&t->pause, 1, memory_order_relaxed);
            wait_workers(t);
            return rc;
        }
    } else {
        wait_workers(t);
    }
    t->split.segments += leash_now() - t->seg_start;
    const int m = t->cfg->threads;
    long done = t->ops->lockstep ? atomic_load_explicit(&t->lockstep_end, memory_order_relaxed) * m
                                 : atomic_load_explicit(&t->next_round, memory_order_relaxed);
    t->prog.position = done < t->rounds ? done : t->rounds;
    return 0;
}

/* The segment's failures, as the ranks agree on them: the lowest failing rank reports,
 * all stop. */
static int agree_on_failures(trainer *t)
{
    int error = atomic_load_explicit(&t->error, memory_order_relaxed);
    if (error)
        leash_fail(error, "%s: cannot apply a gradient: %s",
                   leash_algorithm_name(t->cfg->algorithm), leash_strerror(error));
    else if (atomic_load_explicit(&t->diverged, memory_order_relaxed))
        error = leash_fail(LEASH_EDIVERGED,
                           "training diverged: the loss became non-finite in epoch %d at "
                           "update %llu (try a smaller -l)",
                           t->res->nepochs + 1, (unsigned long long)atomic_load(&t->diverged_at));
    return leash_dist_agree(error);
}

/* What the ranks decide between segments: each counts for the ranks that ask. */
enum segment_vote {
    VOTE_STOP,       /* asked to stop */
    VOTE_CHECKPOINT, /* a checkpoint due */
    VOTE_UNFINISHED, /* rounds of the epoch left */
    VOTE_ROUND_DUE,  /* a blocking round due */
    VOTE_READY,      /* due for that round, or done with the epoch */
    VOTE_COUNT
};

/* Between segments, as the ranks voted: a checkpoint when one is due or a stop asked (and
 * the epoch or a round has work left), then a blocking round when every rank is ready for
 * it and none stops. The round is training time, the checkpoint's pause is not. */
static int between_segments(trainer *t, const double vote[VOTE_COUNT], int due)
{
    int rc = 0;
    if ((vote[VOTE_UNFINISHED] > 0 || vote[VOTE_ROUND_DUE] > 0) &&
        (vote[VOTE_STOP] > 0 || vote[VOTE_CHECKPOINT] > 0))
        rc = take_checkpoint(t);
    if (rc == 0 && vote[VOTE_STOP] == 0 && vote[VOTE_ROUND_DUE] > 0 &&
        (int)vote[VOTE_READY] == leash_dist_size()) {
        const double t0 = leash_now();
        rc = blocking_round(t, due);
        t->prog.elapsed += leash_now() - t0;
    }
    return rc;
}

/* Run the epoch in progress from its position until it ends, or until the ranks agree
 * to stop (*stopped). Checkpoints that fall due mid-epoch are taken here. */
static int run_epoch(trainer *t, int *stopped)
{
    leash_progress *pg = &t->prog;
    for (;;) {
        const double t0 = leash_now();
        plan_segment(t);
        int rc = drive_segment(t);
        if (rc) return rc;
        if ((rc = agree_on_failures(t)) != 0) {
            pg->elapsed += leash_now() - t0;
            return rc;
        }
        const int due = t->blocking && atomic_load(&t->published) >= t->av.next_updates;
        double vote[VOTE_COUNT] = {[VOTE_STOP] = stop_asked(),
                                   [VOTE_CHECKPOINT] = checkpoint_due(t),
                                   [VOTE_UNFINISHED] = pg->position < t->rounds,
                                   [VOTE_ROUND_DUE] = due,
                                   [VOTE_READY] = due || pg->position >= t->rounds};
        rc = leash_comm_allreduce_sum_d(vote, VOTE_COUNT);
        /* The segment's time counts before a checkpoint records it, so that a run resumed
         * from it goes on at the time it stopped. */
        pg->elapsed += leash_now() - t0;
        if (rc || (rc = between_segments(t, vote, due)) != 0) return rc;
        /* Every rank done with the epoch: its end comes next (a stop is seen there). */
        if (vote[VOTE_UNFINISHED] == 0 && vote[VOTE_ROUND_DUE] == 0) return 0;
        if (vote[VOTE_STOP] > 0) {
            *stopped = 1;
            return 0;
        }
    }
}

/* This rank's contention during the epoch, from its counters since the previous one:
 * sums[0..3] = staleness sum and count, failed CAS, gradients; maxima (negated, for a
 * min-reduction) = staleness max, live versions. */
static void epoch_contention(trainer *t, double sums[4], double maxima[2])
{
    const int m = t->cfg->threads;
    maxima[0] = 0.0;
    for (int k = 0; k <= t->cfg->tau_max; ++k) {
        uint64_t now = 0;
        for (int i = 0; i < m; ++i) now += t->workers[i].stats.staleness[k];
        const uint64_t d = now - t->prev_hist[k];
        sums[0] += (double)k * (double)d;
        sums[1] += (double)d;
        if (d) maxima[0] = -(double)k;
        t->prev_hist[k] = now;
    }
    uint64_t failed = 0, gradients = 0;
    for (int i = 0; i < m; ++i) {
        failed += t->workers[i].stats.failed_cas;
        gradients += t->workers[i].stats.gradients;
    }
    sums[2] = (double)(failed - t->prev_failed);
    sums[3] = (double)(gradients - t->prev_gradients);
    t->prev_failed = failed;
    t->prev_gradients = gradients;
    maxima[1] = -(double)leash_trainer_peak_versions(t);
}

/* The epoch's training figures over all ranks: loss, updates, contention, time. */
static int epoch_figures(trainer *t, leash_epoch_stats *st)
{
    leash_result *res = t->res;
    leash_progress *pg = &t->prog;
    /* Over all ranks: loss sum, losses, updates, then the epoch's staleness sum and count,
     * failed CAS and gradients (this rank's counters since the previous epoch). */
    double sums[7] = {0.0};
    for (int i = 0; i < t->cfg->threads; ++i) {
        sums[0] += t->workers[i].loss_sum;
        sums[1] += (double)t->workers[i].losses;
    }
    uint64_t updates = leash_trainer_updates(t);
    res->samples += (uint64_t)sums[1] * (uint64_t)t->cfg->batch;
    res->updates += updates - pg->updates_before;
    sums[2] = (double)(updates - pg->updates_before);
    double maxima[2]; /* negated: staleness max, live versions */
    epoch_contention(t, &sums[3], maxima);
    int rc = leash_comm_allreduce_sum_d(sums, 7);
    if (rc == 0) rc = leash_comm_allreduce_min_d(maxima, 2);
    if (rc) return rc;
    st->staleness_mean = sums[4] > 0 ? sums[3] / sums[4] : 0.0;
    st->staleness_max = (int)-maxima[0];
    st->failed_cas_rate = sums[6] > 0 ? sums[5] / sums[6] : 0.0;
    st->live_versions = (uint64_t)-maxima[1];
    /* With several ranks the epoch ends when all have finished it: waiting for a slower
     * rank is training time, whatever the averaging layer did. */
    st->time_s = pg->elapsed;
    st->train_loss = sums[1] > 0 ? sums[0] / sums[1] : NAN;
    st->updates = (uint64_t)sums[2];
    res->time_s += st->time_s;
    return 0;
}

/* Evaluate the mean of the ranks' models, computed on rank 0 and sent to all (bit for
 * bit the same everywhere; after the last epoch it is the final averaging), each rank
 * scoring a slice of the test set. The closing reduction also lets every rank start the
 * next epoch together, outside the epochs' timers, and carries the ranks' stop requests
 * (*stop) and due checkpoints (*ckpt). */
static int evaluate_epoch(trainer *t, leash_epoch_stats *st, int *stop, int *ckpt)
{
    leash_result *res = t->res;
    double t_eval = leash_now();
    uint64_t ts;
    t->ops->snapshot(t->strategy, res->params, &ts);
    res->timestamp = ts;
    /* This rank's own model before the mean replaces it (after the last epoch, before the
     * final averaging): what tells whether the rounds made the ranks' models agree. */
    res->local_digest = leash_fnv1a64(res->params, t->model->nparams * sizeof *res->params);
    int rc = leash_comm_mean(res->params, t->model->nparams);
    if (rc) return rc;
    double scores[4] = {0.0, 0.0, stop_asked(), checkpoint_due(t)};
    size_t begin, end;
    leash_test_slice(t->test->n, leash_dist_rank(), leash_dist_size(), &begin, &end);
    /* The workers are idle until the gate opens again: borrow worker 0's scratch. */
    leash_evaluate_range(t->model, res->params, t->workers[0].ws, t->cfg->batch, t->test, &t->map,
                         t->workers[0].idx, begin, end, scores);
    if ((rc = leash_comm_allreduce_sum_d(scores, 4)) != 0) return rc;
    st->test_loss = scores[0] / (double)t->test->n;
    st->test_accuracy = scores[1] / (double)t->test->n;
    const double t_end = leash_now();
    res->eval_time_s += t_end - t_eval;
    main_span(t, LEASH_TL_EVALUATION, t_eval, t_end);
    *stop = scores[2] > 0;
    *ckpt = scores[3] > 0;
    return 0;
}

/* End of an epoch: the ranks' figures, the evaluation of their mean model, the record,
 * the callback. Sets *stop if any rank was asked to stop, *ckpt if a checkpoint is due
 * on any. */
static int end_epoch(trainer *t, leash_epoch_callback on_epoch, void *arg, int *stop, int *ckpt)
{
    leash_result *res = t->res;
    const leash_config *cfg = t->cfg;
    leash_epoch_stats *st = &res->epochs[res->nepochs];
    st->epoch = res->nepochs + 1;
    int rc = epoch_figures(t, st);
    if (rc == 0) rc = leash_breakdown_epoch(t, st);
    if (rc == 0) rc = evaluate_epoch(t, st, stop, ckpt);
    if (rc) return rc;
    ++res->nepochs;
    t->prog.started = 0;
    /* Without a trace, the target is seen at the end of an epoch only. */
    if (!t->trace_every && cfg->target_loss > 0 && st->train_loss <= cfg->target_loss &&
        res->time_to_target_s < 0) {
        res->time_to_target_s = res->time_s;
        res->updates_to_target = (double)res->updates;
    }
    if (on_epoch) {
        if ((rc = collect_stats(res, t)) == 0) rc = on_epoch(res, arg);
        if ((rc = leash_dist_agree(rc)) != 0) return rc;
    }
    return 0;
}

/* Start a fresh epoch: its permutation, and the workers' loss sums. */
static void begin_epoch(trainer *t)
{
    leash_progress *pg = &t->prog;
    leash_rng_shuffle_u32(&pg->rng, t->perm, t->train->n);
    pg->started = 1;
    pg->position = 0;
    pg->elapsed = 0.0;
    pg->updates_before = leash_trainer_updates(t);
    for (int i = 0; i < t->cfg->threads; ++i) {
        t->workers[i].loss_sum = 0.0;
        t->workers[i].losses = 0;
    }
    leash_breakdown_begin(t);
}

/* The epochs, from wherever the run stands. Returns 0 when the run is complete,
 * LEASH_ESTOPPED when it stopped early on request. */
static int train_epochs(trainer *t, leash_epoch_callback on_epoch, void *arg)
{
    int rc, stopped = 0, stop = 0, ckpt = 0;
    while (!run_finished(t)) {
        if (!t->prog.started) begin_epoch(t);
        if ((rc = run_epoch(t, &stopped)) != 0) return rc;
        if (stopped) return LEASH_ESTOPPED;
        if ((rc = end_epoch(t, on_epoch, arg, &stop, &ckpt)) != 0) return rc;
        if (run_finished(t)) break;
        if ((stop || ckpt) && (rc = take_checkpoint(t)) != 0) return rc;
        if (stop) return LEASH_ESTOPPED;
    }
    /* The complete run's state, so that resuming it (a requeued job) has nothing to redo. */
    return take_checkpoint(t);
}

static double wall_clock(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* LEASH_TEST_SLOW_WORKER=W:SECONDS, for the tests of the time breakdown: worker W
 * sleeps that long after each gradient. Anything else leaves every worker alone. */
static void slow_worker_hook(trainer *t)
{
    t->slow_worker = -1;
    const char *hook = getenv("LEASH_TEST_SLOW_WORKER");
    int w;
    double s;
    if (hook && sscanf(hook, "%d:%lf", &w, &s) == 2 && w >= 0 && s > 0 && s < 10) {
        t->slow_worker = w;
        t->slow_s = s;
    }
}

/* A trainer for cfg before anything is allocated: no worker, nothing published. */
static void trainer_init(trainer *t, const leash_config *cfg, const leash_dataset *train,
                         const leash_dataset *test, leash_result *res)
{
    *t = (trainer){.cfg = cfg, .model = &res->model, .train = train, .test = test, .res = res,
                   .ops = leash_strategy_for(cfg->algorithm)};
    atomic_init(&t->next_round, 0);
    atomic_init(&t->lockstep_end, 0);
    atomic_init(&t->diverged, 0);
    atomic_init(&t->error, 0);
    atomic_init(&t->diverged_at, UINT64_MAX);
    atomic_init(&t->pause, 0);
    atomic_init(&t->published, 0);
    atomic_init(&t->wake_at, UINT64_MAX);
    t->count_wakeups = cfg->avg_every > 0;
    t->averaging = cfg->avg_every > 0 || cfg->avg_period > 0;
    t->pause_at = UINT64_MAX;
    t->next_progress = -1.0;
    t->blocking = cfg->avg_blocking && cfg->avg_every > 0;
    slow_worker_hook(t);
}

/* The epoch's rounds (lockstep: whole groups of one gradient per thread) and the loss
 * trace's interval, about 20 points an epoch by default, with room for the whole run. */
static int size_rounds(trainer *t)
{
    const leash_config *cfg = t->cfg;
    const int m = cfg->threads;
    t->rounds = cfg->rounds ? cfg->rounds : (long)(t->train->n / (size_t)cfg->batch);
    if (t->ops->lockstep) {
        if (t->rounds < m)
            return leash_fail(LEASH_EINVAL,
                              "-n %d: SYNC needs at least one gradient per thread and epoch (%ld)",
                              m, t->rounds);
        t->rounds -= t->rounds % m;
    }
    const long per_epoch = t->ops->lockstep ? t->rounds / m : t->rounds;
    t->trace_every = cfg->trace_every != LEASH_TRACE_AUTO ? cfg->trace_every : per_epoch / 20;
    if (cfg->trace_every == LEASH_TRACE_AUTO && t->trace_every < 1) t->trace_every = 1;
    return leash_trainer_trace_alloc(t, t->trace_every);
}

static int alloc_buffers(trainer *t)
{
    leash_result *res = t->res;
    t->prev_hist = calloc((size_t)t->cfg->tau_max + 1, sizeof *t->prev_hist);
    if (!t->prev_hist) return leash_fail(LEASH_ENOMEM, "out of memory for statistics");
    t->perm = malloc(t->train->n * sizeof *t->perm);
    res->params = leash_params_alloc(res->model.nparams);
    res->epochs = calloc((size_t)t->cfg->epochs, sizeof *res->epochs);
    const size_t m = (size_t)t->cfg->threads;
    res->worker_splits = calloc((size_t)t->cfg->epochs * m, sizeof *res->worker_splits);
    t->split.base = calloc(m, sizeof *t->split.base);
    if (!t->perm || !res->params || !res->epochs || !res->worker_splits || !t->split.base)
        return leash_fail(LEASH_ENOMEM, "out of memory for training buffers");
    return 0;
}

/* This rank's preparation, before the ranks first agree: the checks, the model, the
 * buffers, the initial parameters, the input map, the step policy, the permutation. */
static int prepare(trainer *t)
{
    const leash_config *cfg = t->cfg;
    leash_result *res = t->res;
    int rc = check_inputs(cfg, t->train, t->test);
    if (rc) return rc;
    if ((rc = leash_model_build(&res->model, cfg->arch, t->train->h, t->train->w, t->train->c,
                                t->train->nclasses, cfg->hidden_layers, cfg->units,
                                cfg->activation)) != 0)
        return rc;
    if (!t->ops) return leash_fail(LEASH_EINVAL, "unknown algorithm %d", (int)cfg->algorithm);
    if ((rc = check_memory(cfg, &res->model, t->train)) != 0 || (rc = size_rounds(t)) != 0 ||
        (rc = alloc_buffers(t)) != 0)
        return rc;
    /* Workers are the parallelism: OpenBLAS must not start threads of its own. */
    openblas_set_num_threads(1);
    leash_model_init_params(&res->model, res->params, cfg->init, cfg->seed);
    if (cfg->input_map)
        t->map = *cfg->input_map;
    else
        leash_input_map_standardize(&t->map, t->train);
    if ((rc = leash_stepper_create(&t->stepper, cfg->step_policy, cfg->step, cfg->threads,
                                   cfg->tau_max, cfg->tail_amplitude)) != 0)
        return rc;
    for (size_t i = 0; i < t->train->n; ++i) t->perm[i] = (uint32_t)i;
    leash_rng_seed(&t->prog.rng, cfg->seed ^ 0x5eed5eed5eed5eedULL);
    if (cfg->checkpoint || cfg->resume) {
        t->train_digest = leash_dataset_digest(t->train);
        t->test_digest = leash_dataset_digest(t->test);
    }
    /* An unwritable checkpoint path fails now, not after hours of training. */
    if (cfg->checkpoint && leash_dist_rank() == 0)
        return leash_check_writable(cfg->checkpoint, "--checkpoint");
    return 0;
}

/* Collective: the configuration the run follows, cfg resuming from its checkpoint when
 * --resume auto finds one (rank 0 reads checkpoints, so rank 0 decides). A file only
 * other ranks see is refused, not taken for a fresh start. */
static int choose_resume(const leash_config *cfg, leash_config *run_cfg)
{
    *run_cfg = *cfg;
    const char *path = cfg->resume_auto ? cfg->checkpoint : cfg->resume;
    int found = 0;
    int rc = path ? leash_checkpoint_locate(path, &found) : 0;
    if (rc == 0 && cfg->resume_auto) run_cfg->resume = found ? cfg->checkpoint : NULL;
    return rc;
}

/* The checkpoints' schedule: from now, or as the resumed run had it (the period may
 * change on resuming). */
static void schedule_checkpoints(trainer *t)
{
    const leash_config *cfg = t->cfg;
    leash_progress *pg = &t->prog;
    if (!cfg->resume) {
        pg->next_ckpt_updates = (uint64_t)cfg->checkpoint_every;
        pg->next_ckpt_time = cfg->checkpoint_period > 0 ? leash_now() + cfg->checkpoint_period : -1;
    } else if (pg->next_ckpt_time < 0 && cfg->checkpoint_period > 0) {
        pg->next_ckpt_time = leash_now() + cfg->checkpoint_period;
    }
    if (cfg->checkpoint_every > 0 && pg->next_ckpt_updates == 0)
        pg->next_ckpt_updates = leash_trainer_updates(t) + (uint64_t)cfg->checkpoint_every;
}

/* Start the run from resume's state (a checkpoint's, or none): the strategy, the
 * workers, the averaging layer, the gate and the threads. *gate and *started say what
 * must be torn down. */
static int start_run(trainer *t, leash_resume *resume, int *gate, int *started)
{
    const leash_config *cfg = t->cfg;
    leash_result *res = t->res;
    leash_strategy_args args = {.model = &res->model,
                                .theta0 = resume->theta ? resume->theta : res->params,
                                .cfg = cfg,
                                .stepper = t->stepper,
                                .timestamp0 = resume->timestamp,
                                .on_update = t->ops->lockstep ? count_update : NULL,
                                .update_arg = t};
    int rc = t->ops->create(&t->strategy, &args);
    if (rc == 0) rc = make_workers(t);
    if (rc == 0 && t->averaging)
        rc = leash_averager_init(&t->av, t->ops, t->strategy, res->model.nparams, cfg->avg_every,
                                 cfg->avg_period);
    if (rc == 0 && cfg->resume) rc = leash_checkpoint_apply(t, resume);
    if (rc) return rc;
    res->timestamp = resume->timestamp;
    atomic_store(&t->published, leash_trainer_updates(t));
    schedule_checkpoints(t);
    leash_breakdown_begin(t); /* a resumed epoch's breakdown covers what is left of it */
    if (cfg->on_progress && cfg->progress_every > 0) {
        t->next_progress = leash_now() + cfg->progress_every;
        trace_sums(t, &t->progress_loss, &t->progress_losses); /* a resumed run's so far */
    }
    if ((rc = make_gate(t)) != 0) return rc;
    *gate = 1;
    for (; *started < cfg->threads; ++*started)
        if (pthread_create(&t->workers[*started].thread, NULL, worker_main, &t->workers[*started]))
            return leash_fail(LEASH_ENOMEM, "cannot start worker thread %d of %d", *started + 1,
                              cfg->threads);
    return 0;
}

/* Collective, once every rank has started: the timeline's tracks, handed to the workers
 * (parked at the gate, whose mutex orders these stores before their first segment) and
 * to the averaging layer. */
static int start_timeline(trainer *t)
{
    const int m = t->cfg->threads;
    int rc = leash_tl_run_start(&t->timeline, t->cfg);
    if (rc) return rc;
    pthread_mutex_lock(&t->lock);
    for (int i = 0; i < m; ++i) t->workers[i].track = leash_tl_run_track(&t->timeline, i);
    pthread_mutex_unlock(&t->lock);
    if (t->averaging) t->av.track = leash_tl_run_track(&t->timeline, m);
    return 0;
}

/* After the epochs: a diverged run keeps its epochs before the divergence (the ranks
 * agreed on it, so each knows); so does a stopped one. Every rank reports next: agree
 * first, so that none is left waiting. */
static int finish_run(trainer *t, int rc)
{
    leash_result *res = t->res;
    int diverged = rc == LEASH_EDIVERGED ||
                   (rc == LEASH_EPEER && leash_dist_peer_error() == LEASH_EDIVERGED);
    if (diverged) {
        res->diverged_epoch = res->nepochs + 1;
        /* The earliest over the ranks (exact in a double below 2^53 updates). */
        double at = (double)atomic_load(&t->diverged_at);
        if (leash_comm_allreduce_min_d(&at, 1) == 0 && at < (double)UINT64_MAX)
            res->diverged_update = (uint64_t)at;
        rc = LEASH_EDIVERGED;
    }
    if (rc == 0 || rc == LEASH_ESTOPPED || diverged) {
        int kept = rc;
        rc = leash_dist_agree(collect_stats(res, t));
        if (rc == 0) rc = leash_tl_run_write(&t->timeline, t->cfg, res);
        if (rc == 0) rc = kept;
    }
    return rc;
}

/* Release the workers (those started) and everything the trainer holds. */
static void tear_down(trainer *t, int gate, int started)
{
    if (started) {
        open_gate(t, 1);
        for (int i = 0; i < started; ++i) pthread_join(t->workers[i].thread, NULL);
    }
    if (gate) {
        pthread_mutex_destroy(&t->lock);
        pthread_cond_destroy(&t->started);
        pthread_cond_destroy(&t->finished_cv);
    }
    leash_averager_free(&t->av);
    if (t->strategy) t->ops->destroy(t->strategy);
    free_workers(t);
    leash_stepper_destroy(t->stepper);
    free(t->perm);
    free(t->trace);
    free(t->prev_hist);
    free(t->split.base);
    leash_tl_run_free(&t->timeline);
}

int leash_train(const leash_config *cfg, const leash_dataset *train, const leash_dataset *test,
                leash_result *res, leash_epoch_callback on_epoch, void *arg)
{
    memset(res, 0, sizeof *res);
    res->time_to_target_s = res->updates_to_target = -1.0;
    res->start_time = wall_clock();
    trainer t;
    trainer_init(&t, cfg, train, test, res);
    int gate = 0, started = 0;
    leash_config run_cfg;
    /* Each rank prepares; all agree before the first collective. */
    int rc = leash_dist_agree(prepare(&t));
    if (rc == 0) rc = choose_resume(cfg, &run_cfg);
    if (rc == 0) {
        t.cfg = &run_cfg;
        res->resumed = run_cfg.resume != NULL;
        /* Every rank starts from the checkpoint's state or from rank 0's parameters. */
        leash_resume resume = {0};
        rc = run_cfg.resume ? leash_checkpoint_load(&t, &resume)
                            : leash_comm_bcast_f(res->params, res->model.nparams);
        if (rc == 0) rc = leash_dist_agree(start_run(&t, &resume, &gate, &started));
        if (rc == 0) rc = start_timeline(&t);
        leash_resume_free(&resume);
    }
    if (rc == 0) rc = finish_run(&t, train_epochs(&t, on_epoch, arg));
    tear_down(&t, gate, started);
    if (rc && rc != LEASH_ESTOPPED && rc != LEASH_EDIVERGED) leash_result_free(res);
    return rc;
}

void leash_result_free(leash_result *res)
{
    leash_params_free(res->params);
    leash_model_free(&res->model);
    free(res->epochs);
    free(res->worker_splits);
    free(res->trace);
    free(res->staleness_hist);
    free(res->attempts_hist);
    free(res->updates_per_thread);
    free(res->bound);
    memset(res, 0, sizeof *res);
}
