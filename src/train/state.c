/* One rank's state in a checkpoint: see state_internal.h and doc/file-formats.md. */
#include <stdlib.h>

#include "core/clock_internal.h"
#include "core/error_internal.h"
#include "leash/dist.h"
#include "train/breakdown_internal.h"
#include "train/epoch_internal.h"
#include "train/result_internal.h"
#include "train/state_internal.h"
#include "train/trainer_internal.h"

leash_checkpoint_id leash_state_identity(const trainer *t)
{
    return (leash_checkpoint_id){.cfg = t->cfg,
                                 .model = t->model,
                                 .map = &t->map,
                                 .ntest = t->test->n,
                                 .test_digest = t->test_digest};
}

/* This rank's state, part by part, in the order leash_state_load and leash_state_apply
 * read it back. */
static int save(leash_wbuf *b, trainer *t)
{
    const int bins = t->cfg->tau_max + 1;
    const double now = leash_now();
    float *scratch = leash_params_alloc(t->model->nparams);
    if (!scratch) return leash_fail(LEASH_ENOMEM, "out of memory for a checkpoint");
    leash_wbuf_u32(b, (uint32_t)leash_dist_rank());
    leash_wbuf_u64(b, t->train->n);
    leash_wbuf_u32(b, t->train_digest);
    leash_results_save(b, t->res);
    leash_progress_save(b, &t->prog, t->perm, t->train->n, now);
    leash_strategy_save(b, t->ops, t->strategy, t->cfg->threads, t->model->nparams, scratch,
                        leash_result_peak_versions(t));
    leash_stepper_save(b, t->stepper, bins);
    leash_averager_save(b, &t->av, now);
    leash_workers_save(b, t, bins);
    leash_trace_save(b, &t->trace, leash_workers_updates(t));
    leash_epoch_base_save(b, t, bins);
    leash_params_free(scratch);
    return 0;
}

/* Rank 0's sections after the ranks' states: the epochs' time breakdowns. */
static void save_breakdown(leash_wbuf *b, const void *t) { leash_breakdown_save(b, t); }

/* The next checkpoint's due count and time, from now. */
static void schedule_next(trainer *t)
{
    leash_progress *pg = &t->prog;
    const leash_config *c = t->cfg;
    if (c->checkpoint_every > 0)
        pg->next_ckpt_updates = leash_workers_updates(t) + (uint64_t)c->checkpoint_every;
    if (c->checkpoint_period > 0) pg->next_ckpt_time = leash_now() + c->checkpoint_period;
}

int leash_state_checkpoint(trainer *t)
{
    if (!t->cfg->checkpoint) return 0;
    const double t0 = leash_now();
    leash_wbuf mine = {0};
    /* A failure is reported here and agreed on in the write, as an out-of-memory one. */
    if (save(&mine, t) != 0) mine.oom = 1;
    const leash_checkpoint_id id = leash_state_identity(t);
    int rc = leash_checkpoint_write(&id, t->res->params, &mine, save_breakdown, t);
    if (rc) return rc;
    schedule_next(t);
    ++t->res->checkpoints;
    const double t1 = leash_now();
    t->res->time_checkpoint_s += t1 - t0;
    leash_main_span(t, LEASH_TL_CHECKPOINT, t0, t1);
    return 0;
}

/* --- reading --------------------------------------------------------------------------- */

static int malformed(const trainer *t, const char *what)
{
    return leash_fail(LEASH_EFORMAT, "checkpoint %s: rank %d's state is malformed (%s)",
                      t->cfg->resume, leash_dist_rank(), what);
}

/* A part's load failed: malformed (named by what), or an error it reported. */
static int part_failed(const trainer *t, int rc, const char *what)
{
    return rc == LEASH_EFORMAT ? malformed(t, what) : rc;
}

/* A rank state's header: its rank, its shard's size and digest. */
static uint32_t read_header(leash_rbuf *r, uint64_t *ntrain, uint32_t *digest)
{
    const uint32_t rank = leash_rbuf_u32(r);
    *ntrain = leash_rbuf_u64(r);
    *digest = leash_rbuf_u32(r);
    return rank;
}

/* The rank, and its shard's identity when the shards are this run's. Sets *ntrain. */
static int load_header(trainer *t, leash_resume *rs, uint64_t *ntrain)
{
    leash_rbuf *r = &rs->rest;
    const int reshaped = rs->reshape.from_ranks > 0;
    uint32_t digest;
    const uint32_t rank = read_header(r, ntrain, &digest);
    if (r->bad || rank != (!reshaped || rs->reshape.own ? (uint32_t)leash_dist_rank() : 0))
        return malformed(t, "rank");
    /* Shards of another rank count hold other samples: rank 0 checked their total. */
    if (reshaped && rs->reshape.from_ranks != leash_dist_size()) return 0;
    if (*ntrain != t->train->n || digest != t->train_digest)
        return leash_fail(LEASH_EINVAL,
                          "checkpoint %s: written for other training data (rank %d: %llu "
                          "samples, CRC %08x; this run's: %zu, %08x)",
                          t->cfg->resume, leash_dist_rank(), (unsigned long long)*ntrain, digest,
                          t->train->n, t->train_digest);
    return 0;
}

/* The file has finished more epochs than this run asks for. */
static int too_many_epochs(const trainer *t, int finished)
{
    return leash_fail(LEASH_EINVAL,
                      "leash_config.epochs = %d: the checkpoint %s has finished %u epochs already",
                      t->cfg->epochs, t->cfg->resume, (unsigned)finished);
}

static int load_results(trainer *t, leash_resume *rs)
{
    int rc = leash_results_load(&rs->rest, t->res, t->cfg->epochs);
    if (rc == LEASH_EINVAL) return too_many_epochs(t, t->res->nepochs);
    if (rc) return malformed(t, "epochs");
    if (rs->reshape.from_ranks) {
        t->res->updates = rs->reshape.updates;
        t->res->samples = rs->reshape.samples;
    }
    return 0;
}

/* On another layout, the epoch in progress goes on at the same fraction of its rounds
 * (on a fresh permutation of this rank's shard if the shards changed); a new rank's
 * counters start from zero. */
static int reshape_position(trainer *t, const leash_resume *rs, uint64_t ntrain_old)
{
    leash_progress *pg = &t->prog;
    const leash_config *c = t->cfg;
    if (!rs->reshape.own) pg->updates_before = pg->next_ckpt_updates = 0;
    if (rs->reshape.from_ranks != leash_dist_size()) {
        long old_rounds = c->rounds ? c->rounds : (long)(ntrain_old / (uint64_t)c->batch);
        if (t->ops->lockstep && old_rounds > 0) old_rounds -= old_rounds % rs->reshape.from_threads;
        if (old_rounds < 1 || pg->position > old_rounds) return malformed(t, "position");
        pg->position = (long)((double)pg->position * (double)t->rounds / (double)old_rounds);
        if (pg->started) leash_rng_shuffle_u32(&pg->rng, t->perm, t->train->n);
    }
    if (pg->position > t->rounds) pg->position = t->rounds;
    if (t->ops->lockstep) pg->position -= pg->position % c->threads;
    return 0;
}

static int load_position(trainer *t, leash_resume *rs, uint64_t ntrain)
{
    leash_progress *pg = &t->prog;
    const int same_shards = !rs->reshape.from_ranks || rs->reshape.from_ranks == leash_dist_size();
    leash_progress_load(pg, &rs->rest, same_shards ? t->perm : NULL, ntrain, leash_now());
    if (rs->rest.bad || pg->started > 1 || pg->position < 0) return malformed(t, "position");
    if (same_shards)
        for (size_t i = 0; i < t->train->n; ++i)
            if (t->perm[i] >= t->train->n) return malformed(t, "permutation");
    if (rs->reshape.from_ranks) return reshape_position(t, rs, ntrain);
    return pg->position > t->rounds ? malformed(t, "position") : 0;
}

int leash_state_load(trainer *t, leash_resume *rs)
{
    leash_rbuf *r = &rs->rest;
    *r = (leash_rbuf){rs->blob, rs->len, 0, 0};
    uint64_t ntrain;
    int rc = load_header(t, rs, &ntrain);
    if (!rc) rc = load_results(t, rs);
    if (!rc) rc = load_position(t, rs, ntrain);
    if (rc) return rc;
    const size_t n = t->model->nparams;
    if (!(rs->theta = leash_params_alloc(n))) return leash_fail(LEASH_ENOMEM, "out of memory");
    const int from = rs->reshape.from_ranks ? rs->reshape.from_threads : t->cfg->threads;
    const char *bad;
    if (leash_strategy_load(r, &rs->strategy, rs->theta, n, (uint32_t)from, &bad) != 0)
        return malformed(t, bad);
    t->peak0 = rs->strategy.peak;
    return 0;
}

/* Momentum: this rank's buffers, or on another layout the mean of all of them. */
static int apply_momentum(trainer *t, const leash_resume *rs)
{
    const float *mean = rs->reshape.velocity;
    if (rs->reshape.from_ranks && !mean) return 0;
    return leash_strategy_restore_momentum(&rs->strategy, t->ops, t->strategy, t->cfg->threads,
                                           t->model->nparams, rs->reshape.from_ranks ? mean : NULL);
}

int leash_state_apply(trainer *t, leash_resume *rs)
{
    leash_rbuf *r = &rs->rest;
    const int m = t->cfg->threads, bins = t->cfg->tau_max + 1;
    const int reshaped = rs->reshape.from_ranks > 0, own = !reshaped || rs->reshape.own;
    const int from = reshaped ? rs->reshape.from_threads : m;
    if (apply_momentum(t, rs) != 0) return malformed(t, "momentum buffer");
    /* The step-size state is sized by the threads: kept on the same -n only. */
    int rc = leash_stepper_load(t->stepper, r, bins, own && from == m);
    if (rc) return part_failed(t, rc, "step sizes");
    leash_averager_load(&t->av, r, own, t->averaging, leash_now());
    const char *bad;
    if ((rc = leash_workers_load(t, r, from, own, bins, &bad)) != 0) return part_failed(t, rc, bad);
    rc = leash_trace_load(&t->trace, r, own, reshaped, t->cfg->epochs, leash_updates_per_epoch(t));
    if (rc) return part_failed(t, rc, "loss trace");
    leash_epoch_base_load(t, r, bins, own);
    if (r->bad || r->pos != r->len) return malformed(t, "workers' statistics");
    return 0;
}

int leash_state_skim(const trainer *t, leash_rbuf r, int j, float *theta, uint32_t max_buffers,
                     leash_saved_strategy *st, leash_state_totals *out)
{
    leash_result res = {0};
    leash_progress pg;
    uint32_t digest;
    read_header(&r, &out->ntrain, &digest);
    if (!(res.epochs = calloc((size_t)t->cfg->epochs + 1, sizeof *res.epochs)))
        return leash_fail(LEASH_ENOMEM, "out of memory");
    int rc = leash_results_load(&r, &res, t->cfg->epochs);
    free(res.epochs);
    if (rc == LEASH_EINVAL) return too_many_epochs(t, res.nepochs);
    out->updates = res.updates;
    out->samples = res.samples;
    leash_progress_load(&pg, &r, NULL, out->ntrain, 0.0);
    const char *bad;
    if (rc == 0) rc = leash_strategy_load(&r, st, theta, t->model->nparams, max_buffers, &bad);
    if (rc)
        return leash_fail(LEASH_EFORMAT, "checkpoint %s: rank %d's state is malformed",
                          t->cfg->resume, j);
    return 0;
}
