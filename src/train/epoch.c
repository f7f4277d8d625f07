/* An epoch's beginning and end: see epoch_internal.h. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "core/clock_internal.h"
#include "core/store_internal.h"
#include "leash/dist.h"
#include "mpi/comm_internal.h"
#include "train/breakdown_internal.h"
#include "train/epoch_internal.h"
#include "train/evaluate_internal.h"
#include "train/result_internal.h"
#include "train/trainer_internal.h"

/* What the ranks sum at the end of an epoch: this rank's losses and updates in the
 * epoch, and its contention since the previous epoch. */
typedef union epoch_sums {
    struct {
        double loss_sum, losses, updates;
        double staleness_sum, staleness_n, failed_cas, gradients;
    };
    double all[7];
} epoch_sums;
LEASH_AGREEMENT(epoch_sums);

/* What the ranks take the largest of, negated for a min-reduction. */
typedef union epoch_maxima {
    struct {
        double staleness_max, live_versions;
    };
    double all[2];
} epoch_maxima;
LEASH_AGREEMENT(epoch_maxima);

/* The evaluation's scores, summed over the ranks' slices of the test set, and the
 * ranks' stop requests and due checkpoints, which the same reduction carries. */
typedef union epoch_scores {
    struct {
        double loss_sum, correct, stop, checkpoint_due;
    };
    double all[4];
} epoch_scores;
LEASH_AGREEMENT(epoch_scores);

void leash_epoch_begin(trainer *t)
{
    leash_progress *pg = &t->prog;
    leash_rng_shuffle_u32(&pg->rng, t->perm, t->train->n);
    pg->started = 1;
    pg->position = 0;
    pg->elapsed = 0.0;
    pg->updates_before = leash_workers_updates(t);
    for (int i = 0; i < t->cfg->threads; ++i) {
        t->workers[i].loss_sum = 0.0;
        t->workers[i].losses = 0;
    }
    leash_breakdown_begin(t);
}

/* This rank's contention during the epoch, from its counters since the previous one. */
static void epoch_contention(trainer *t, epoch_sums *s, epoch_maxima *mx)
{
    const int m = t->cfg->threads;
    leash_epoch_base *base = &t->base;
    mx->staleness_max = 0.0;
    for (int k = 0; k <= t->cfg->tau_max; ++k) {
        uint64_t now = 0;
        for (int i = 0; i < m; ++i) now += t->workers[i].stats.staleness[k];
        const uint64_t d = now - base->hist[k];
        s->staleness_sum += (double)k * (double)d;
        s->staleness_n += (double)d;
        if (d) mx->staleness_max = -(double)k;
        base->hist[k] = now;
    }
    uint64_t failed = 0, gradients = 0;
    for (int i = 0; i < m; ++i) {
        failed += t->workers[i].stats.failed_cas;
        gradients += t->workers[i].stats.gradients;
    }
    s->failed_cas = (double)(failed - base->failed);
    s->gradients = (double)(gradients - base->gradients);
    base->failed = failed;
    base->gradients = gradients;
    mx->live_versions = -(double)leash_result_peak_versions(t);
}

/* The epoch's training figures over all ranks: loss, updates, contention, time. */
static int epoch_figures(trainer *t, leash_epoch_stats *st)
{
    leash_result *res = t->res;
    leash_progress *pg = &t->prog;
    epoch_sums s = {0};
    epoch_maxima mx;
    for (int i = 0; i < t->cfg->threads; ++i) {
        s.loss_sum += t->workers[i].loss_sum;
        s.losses += (double)t->workers[i].losses;
    }
    uint64_t updates = leash_workers_updates(t);
    res->samples += (uint64_t)s.losses * (uint64_t)t->cfg->batch;
    res->updates += updates - pg->updates_before;
    s.updates = (double)(updates - pg->updates_before);
    epoch_contention(t, &s, &mx);
    int rc = LEASH_AGREE_SUM(&s);
    if (rc == 0) rc = LEASH_AGREE_MIN(&mx);
    if (rc) return rc;
    st->staleness_mean = s.staleness_n > 0 ? s.staleness_sum / s.staleness_n : 0.0;
    st->staleness_max = (int)-mx.staleness_max;
    st->failed_cas_rate = s.gradients > 0 ? s.failed_cas / s.gradients : 0.0;
    st->live_versions = (uint64_t)-mx.live_versions;
    /* With several ranks the epoch ends when all have finished it: waiting for a slower
     * rank is training time, whatever the averaging layer did. */
    st->time_s = pg->elapsed;
    st->train_loss = s.losses > 0 ? s.loss_sum / s.losses : NAN;
    st->updates = (uint64_t)s.updates;
    res->time_s += st->time_s;
    return 0;
}

/* Evaluate the mean of the ranks' models, computed on rank 0 and sent to all (bit for
 * bit the same everywhere; after the last epoch it is the final averaging), each rank
 * scoring a slice of the test set. The closing reduction also lets every rank start the
 * next epoch together, outside the epochs' timers. */
static int evaluate_epoch(trainer *t, leash_epoch_stats *st, epoch_scores *sc)
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
    *sc = (epoch_scores){.stop = leash_stop_asked(), .checkpoint_due = leash_checkpoint_due(t)};
    size_t begin, end;
    leash_test_slice(t->test->n, leash_dist_rank(), leash_dist_size(), &begin, &end);
    /* The workers are idle until the gate opens again: borrow worker 0's scratch. */
    leash_evaluate_range(t->model, res->params, t->workers[0].ws, t->cfg->batch, t->test, &t->map,
                         t->workers[0].idx, begin, end, sc->all);
    if ((rc = LEASH_AGREE_SUM(sc)) != 0) return rc;
    st->test_loss = sc->loss_sum / (double)t->test->n;
    st->test_accuracy = sc->correct / (double)t->test->n;
    const double t_end = leash_now();
    res->eval_time_s += t_end - t_eval;
    leash_main_span(t, LEASH_TL_EVALUATION, t_eval, t_end);
    return 0;
}

/* Without a trace, the target is seen at the end of an epoch only. */
static void target_at_epoch_end(leash_result *res, const leash_trace *tr, double target)
{
    const double loss = res->epochs[res->nepochs - 1].train_loss;
    if (!tr->every && target > 0 && loss <= target && res->time_to_target_s < 0) {
        res->time_to_target_s = res->time_s;
        res->updates_to_target = (double)res->updates;
    }
}

int leash_epoch_end(trainer *t, leash_epoch_callback on_epoch, void *arg, int *stop, int *ckpt)
{
    leash_result *res = t->res;
    leash_epoch_stats *st = &res->epochs[res->nepochs];
    st->epoch = res->nepochs + 1;
    epoch_scores sc;
    int rc = epoch_figures(t, st);
    if (rc == 0) rc = leash_breakdown_epoch(t, st);
    if (rc == 0) rc = evaluate_epoch(t, st, &sc);
    if (rc) return rc;
    *stop = sc.stop > 0;
    *ckpt = sc.checkpoint_due > 0;
    ++res->nepochs;
    t->prog.started = 0;
    target_at_epoch_end(res, &t->trace, t->cfg->target_loss);
    if (on_epoch) {
        if ((rc = leash_result_collect(res, t)) == 0) rc = on_epoch(res, arg);
        if ((rc = leash_dist_agree(rc)) != 0) return rc;
    }
    return 0;
}

void leash_progress_save(leash_wbuf *b, const leash_progress *pg, const uint32_t *perm,
                         size_t ntrain, double now)
{
    leash_wbuf_u32(b, (uint32_t)pg->started);
    leash_wbuf_i64(b, pg->position);
    leash_wbuf_f64(b, pg->elapsed);
    leash_wbuf_u64(b, pg->updates_before);
    for (int i = 0; i < 4; ++i) leash_wbuf_u64(b, pg->rng.s[i]);
    leash_wbuf_u64(b, pg->next_ckpt_updates);
    /* Time left, not a deadline: clocks differ from process to process. */
    const double at = pg->next_ckpt_time;
    leash_wbuf_f64(b, at < 0 ? -1.0 : fmax(at - now, 0.0));
    leash_wbuf_bytes(b, perm, ntrain * sizeof *perm);
}

void leash_progress_load(leash_progress *pg, leash_rbuf *r, uint32_t *perm, uint64_t ntrain,
                         double now)
{
    pg->started = (int)leash_rbuf_u32(r);
    pg->position = (long)leash_rbuf_i64(r);
    pg->elapsed = leash_rbuf_f64(r);
    pg->updates_before = leash_rbuf_u64(r);
    for (int i = 0; i < 4; ++i) pg->rng.s[i] = leash_rbuf_u64(r);
    pg->next_ckpt_updates = leash_rbuf_u64(r);
    const double left = leash_rbuf_f64(r);
    pg->next_ckpt_time = left < 0 ? -1.0 : now + left;
    if (ntrain > SIZE_MAX / sizeof *perm)
        r->bad = 1;
    else if (perm)
        leash_rbuf_bytes(r, perm, ntrain * sizeof *perm);
    else
        leash_rbuf_take(r, ntrain * sizeof *perm);
}

void leash_epoch_base_save(leash_wbuf *b, const trainer *t, int bins)
{
    leash_wbuf_bytes(b, t->base.hist, (size_t)bins * sizeof *t->base.hist);
    leash_wbuf_u64(b, t->base.failed);
    leash_wbuf_u64(b, t->base.gradients);
}

void leash_epoch_base_load(trainer *t, leash_rbuf *r, int bins, int own)
{
    const unsigned char *hist = leash_rbuf_take(r, (size_t)bins * sizeof *t->base.hist);
    uint64_t failed = leash_rbuf_u64(r), gradients = leash_rbuf_u64(r);
    if (!own || !hist) return;
    memcpy(t->base.hist, hist, (size_t)bins * sizeof *t->base.hist);
    t->base.failed = failed;
    t->base.gradients = gradients;
}
