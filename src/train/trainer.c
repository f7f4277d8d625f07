/* The story of a run: prepare, start, train the epochs, finish.
 *
 * Each rank prepares its run (the checks, the model, the buffers), the ranks agree and
 * choose where to start (fresh, or from a checkpoint), start the strategy and the worker
 * threads, then train epoch after epoch: each epoch runs in segments of the workers'
 * rounds (segment.c), and ends with the ranks' figures and an evaluation (epoch.c).
 * Checkpoints are written at the safe points between segments and between epochs
 * (state.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cblas.h>

#include "core/clock_internal.h"
#include "core/error_internal.h"
#include "data/dataset_internal.h"
#include "leash/dist.h"
#include "mpi/comm_internal.h"
#include "train/breakdown_internal.h"
#include "train/checks_internal.h"
#include "train/epoch_internal.h"
#include "train/result_internal.h"
#include "train/resume_internal.h"
#include "train/segment_internal.h"
#include "train/state_internal.h"
#include "train/trainer_internal.h"

/* --- prepare ------------------------------------------------------------------------ */

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
    atomic_init(&t->handout.next_round, 0);
    atomic_init(&t->handout.lockstep_end, 0);
    atomic_init(&t->failures.diverged, 0);
    atomic_init(&t->failures.error, 0);
    atomic_init(&t->failures.diverged_at, UINT64_MAX);
    atomic_init(&t->count.pause, 0);
    atomic_init(&t->count.published, 0);
    atomic_init(&t->count.wake_at, UINT64_MAX);
    t->count.wakeups = cfg->avg_every > 0;
    t->count.pause_at = UINT64_MAX;
    t->averaging = cfg->avg_every > 0 || cfg->avg_period > 0;
    t->blocking = cfg->avg_blocking && cfg->avg_every > 0;
    t->progress.next = -1.0;
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
                              "leash_config.threads = %d: SYNC needs at least one gradient per thread "
                              "and epoch (%ld)",
                              m, t->rounds);
        t->rounds -= t->rounds % m;
    }
    const long per_epoch = leash_updates_per_epoch(t);
    long every = cfg->trace_every != LEASH_TRACE_AUTO ? cfg->trace_every : per_epoch / 20;
    if (cfg->trace_every == LEASH_TRACE_AUTO && every < 1) every = 1;
    return leash_trace_alloc(&t->trace, every, cfg->epochs, per_epoch);
}

static int alloc_buffers(trainer *t)
{
    leash_result *res = t->res;
    t->base.hist = calloc((size_t)t->cfg->tau_max + 1, sizeof *t->base.hist);
    if (!t->base.hist) return leash_fail(LEASH_ENOMEM, "out of memory for statistics");
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

/* The model, checked against the machine's memory, and the buffers it needs. */
static int build(trainer *t)
{
    const leash_config *cfg = t->cfg;
    leash_result *res = t->res;
    int rc = leash_model_build(&res->model, cfg->arch, t->train->h, t->train->w, t->train->c,
                               t->train->nclasses, cfg->hidden_layers, cfg->units, cfg->activation);
    if (rc) return rc;
    if (!t->ops) return leash_fail(LEASH_EINVAL, "unknown algorithm %d", (int)cfg->algorithm);
    if ((rc = leash_check_memory(cfg, &res->model, t->train, t->test)) != 0 || (rc = size_rounds(t)) != 0)
        return rc;
    return alloc_buffers(t);
}

/* This rank's preparation, before the ranks first agree: the checks, the model, the
 * buffers, the initial parameters, the input map, the step policy, the permutation. */
static int prepare(trainer *t)
{
    const leash_config *cfg = t->cfg;
    int rc = leash_check_inputs(cfg, t->train, t->test);
    if (rc || (rc = build(t)) != 0) return rc;
    /* Workers are the parallelism: OpenBLAS must not start threads of its own. */
    openblas_set_num_threads(1);
    leash_model_init_params(&t->res->model, t->res->params, cfg->init, cfg->seed);
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
        return leash_check_writable(cfg->checkpoint, "leash_config.checkpoint =");
    return 0;
}

/* Collective: the configuration the run follows, cfg resuming from its checkpoint when
 * resume_auto finds one (rank 0 reads checkpoints, so rank 0 decides). A file only
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

/* --- start --------------------------------------------------------------------------- */

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
        pg->next_ckpt_updates = leash_workers_updates(t) + (uint64_t)cfg->checkpoint_every;
}

/* The strategy from resume's parameters (a checkpoint's, or the initial ones), the
 * workers, the averaging layer, and the rest of the checkpoint's state. */
static int create(trainer *t, leash_resume *resume)
{
    const leash_config *cfg = t->cfg;
    leash_result *res = t->res;
    leash_strategy_args args = {.model = &res->model,
                                .theta0 = resume->theta ? resume->theta : res->params,
                                .cfg = cfg,
                                .stepper = t->stepper,
                                .timestamp0 = resume->strategy.timestamp,
                                .on_update = t->ops->lockstep ? leash_count_update : NULL,
                                .update_arg = t};
    int rc = t->ops->create(&t->strategy, &args);
    if (rc == 0) rc = leash_workers_create(t);
    if (rc == 0 && t->averaging)
        rc = leash_averager_init(&t->av, t->ops, t->strategy, res->model.nparams, cfg->avg_every,
                                 cfg->avg_period);
    if (rc == 0 && cfg->resume) rc = leash_state_apply(t, resume);
    if (rc == 0) res->timestamp = resume->strategy.timestamp;
    return rc;
}

/* Start the run from resume's state: the strategy and the workers, the counters and
 * schedules, the gate and the threads. *gate and *started say what must be torn down. */
static int start_run(trainer *t, leash_resume *resume, int *gate, int *started)
{
    const leash_config *cfg = t->cfg;
    int rc = create(t, resume);
    if (rc) return rc;
    atomic_store(&t->count.published, leash_workers_updates(t));
    schedule_checkpoints(t);
    leash_breakdown_begin(t); /* a resumed epoch's breakdown covers what is left of it */
    if (cfg->on_progress && cfg->progress_every > 0) {
        t->progress.next = leash_now() + cfg->progress_every;
        /* A resumed run's so far. */
        leash_workers_trace_sums(t, &t->progress.loss, &t->progress.losses);
    }
    if ((rc = leash_gate_init(&t->gate, cfg->threads)) != 0) return rc;
    *gate = 1;
    for (; *started < cfg->threads; ++*started)
        if (pthread_create(&t->workers[*started].thread, NULL, leash_worker_main,
                           &t->workers[*started]))
            return leash_fail(LEASH_ENOMEM, "cannot start worker thread %d of %d", *started + 1,
                              cfg->threads);
    return 0;
}

/* Collective, once every rank has started: the timeline's tracks, handed to the workers
 * (parked at the gate: its opening, under its mutex, orders these stores before their
 * first segment) and to the averaging layer. */
static int start_timeline(trainer *t)
{
    const int m = t->cfg->threads;
    int rc = leash_tl_run_start(&t->timeline, t->cfg);
    if (rc) return rc;
    for (int i = 0; i < m; ++i) t->workers[i].track = leash_tl_run_track(&t->timeline, i);
    if (t->averaging) t->av.track = leash_tl_run_track(&t->timeline, m);
    return 0;
}

/* Collective: prepared and agreed, start from the checkpoint's state or from rank 0's
 * parameters. run_cfg: the configuration the run follows. */
static int start(trainer *t, leash_config *run_cfg, int *gate, int *started)
{
    int rc = choose_resume(t->cfg, run_cfg);
    if (rc) return rc;
    t->cfg = run_cfg;
    t->res->resumed = run_cfg->resume != NULL;
    leash_resume resume = {0};
    rc = run_cfg->resume ? leash_resume_load(t, &resume)
                         : leash_comm_bcast_f(t->res->params, t->res->model.nparams);
    if (rc == 0) rc = leash_dist_agree(start_run(t, &resume, gate, started));
    if (rc == 0) rc = start_timeline(t);
    leash_resume_free(&resume);
    return rc;
}

/* --- train the epochs ---------------------------------------------------------------- */

/* Whether the run has nothing left to train: its epochs are done or the target reached. */
static int run_finished(const trainer *t)
{
    const leash_result *res = t->res;
    const double target = t->cfg->target_loss;
    return res->nepochs >= t->cfg->epochs ||
           (target > 0 && res->nepochs > 0 && res->epochs[res->nepochs - 1].train_loss <= target);
}

/* The epochs, from wherever the run stands. Returns 0 when the run is complete,
 * LEASH_ESTOPPED when it stopped early on request. */
static int train_epochs(trainer *t, leash_epoch_callback on_epoch, void *arg)
{
    int rc, stopped = 0, stop = 0, ckpt = 0;
    while (!run_finished(t)) {
        if (!t->prog.started) leash_epoch_begin(t);
        if ((rc = leash_segments_run(t, &stopped)) != 0) return rc;
        if (stopped) return LEASH_ESTOPPED;
        if ((rc = leash_epoch_end(t, on_epoch, arg, &stop, &ckpt)) != 0) return rc;
        if (run_finished(t)) break;
        if ((stop || ckpt) && (rc = leash_state_checkpoint(t)) != 0) return rc;
        if (stop) return LEASH_ESTOPPED;
    }
    /* The complete run's state, so that resuming it (a requeued job) has nothing to redo. */
    return leash_state_checkpoint(t);
}

/* --- finish -------------------------------------------------------------------------- */

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
        double at = (double)atomic_load(&t->failures.diverged_at);
        if (leash_comm_allreduce_min_d(&at, 1) == 0 && at < (double)UINT64_MAX)
            res->diverged_update = (uint64_t)at;
        rc = LEASH_EDIVERGED;
    }
    if (rc == 0 || rc == LEASH_ESTOPPED || diverged) {
        int kept = rc;
        rc = leash_dist_agree(leash_result_collect(res, t));
        if (rc == 0) rc = leash_tl_run_write(&t->timeline, t->cfg, res);
        if (rc == 0) rc = kept;
    }
    return rc;
}

/* Release the workers (those started) and everything the trainer holds. */
static void tear_down(trainer *t, int gate, int started)
{
    if (started) {
        leash_gate_open(&t->gate, 1);
        for (int i = 0; i < started; ++i) pthread_join(t->workers[i].thread, NULL);
    }
    if (gate) leash_gate_destroy(&t->gate);
    leash_averager_free(&t->av);
    if (t->strategy) t->ops->destroy(t->strategy);
    leash_workers_free(t);
    leash_stepper_destroy(t->stepper);
    free(t->perm);
    leash_trace_free(&t->trace);
    free(t->base.hist);
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
    if (rc == 0) rc = start(&t, &run_cfg, &gate, &started);
    if (rc == 0) rc = finish_run(&t, train_epochs(&t, on_epoch, arg));
    tear_down(&t, gate, started);
    if (rc && rc != LEASH_ESTOPPED && rc != LEASH_EDIVERGED) leash_result_free(res);
    return rc;
}
