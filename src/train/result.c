/* The result: see result_internal.h. */
#include <stdlib.h>
#include <string.h>

#include "core/error_internal.h"
#include "train/result_internal.h"
#include "train/trainer_internal.h"

uint64_t leash_result_peak_versions(const trainer *t)
{
    uint64_t peak = t->ops->peak_versions(t->strategy);
    return peak > t->peak0 ? peak : t->peak0;
}

static int alloc_stats(leash_result *res, int m)
{
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
    return 0;
}

static void add_worker(leash_result *res, const worker *w)
{
    const leash_worker_stats *st = &w->stats;
    res->updates_per_thread[w->id] = st->updates;
    res->bound[w->id] = w->bound;
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

int leash_result_collect(leash_result *res, const trainer *t)
{
    const int m = t->cfg->threads;
    res->threads = m;
    res->tau_max = t->cfg->tau_max;
    res->attempt_bins = LEASH_ATTEMPT_BINS;
    int rc = alloc_stats(res, m);
    if (rc) return rc;
    for (int i = 0; i < m; ++i) add_worker(res, &t->workers[i]);
    res->peak_versions = leash_result_peak_versions(t);
    if (t->trace.every &&
        leash_trace_collect(res, &t->trace, atomic_load(&t->count.published), t->cfg->target_loss))
        return leash_fail(LEASH_ENOMEM, "out of memory for the loss trace");
    res->averagings = t->av.rounds;
    res->rounds_behind = t->av.behind;
    res->time_mpi_s = t->av.time_mpi;
    res->time_averaging_s = t->av.time_total;
    return 0;
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

/* --- checkpoints ------------------------------------------------------------------- */

void leash_results_save(leash_wbuf *b, const leash_result *res)
{
    leash_wbuf_u32(b, (uint32_t)res->nepochs);
    for (int e = 0; e < res->nepochs; ++e) {
        const leash_epoch_stats *s = &res->epochs[e];
        leash_wbuf_f64(b, s->train_loss);
        leash_wbuf_f64(b, s->test_loss);
        leash_wbuf_f64(b, s->test_accuracy);
        leash_wbuf_f64(b, s->time_s);
        leash_wbuf_u64(b, s->updates);
        leash_wbuf_f64(b, s->staleness_mean);
        leash_wbuf_u32(b, (uint32_t)s->staleness_max);
        leash_wbuf_f64(b, s->failed_cas_rate);
        leash_wbuf_u64(b, s->live_versions);
    }
    leash_wbuf_f64(b, res->time_s);
    leash_wbuf_f64(b, res->time_to_target_s);
    leash_wbuf_f64(b, res->eval_time_s);
    leash_wbuf_u64(b, res->updates);
    leash_wbuf_u64(b, res->samples);
    leash_wbuf_u32(b, (uint32_t)res->resumes);
    leash_wbuf_f64(b, res->start_time);
    leash_wbuf_u64(b, res->checkpoints + 1); /* this one included */
    leash_wbuf_f64(b, res->time_checkpoint_s);
}

static void get_epoch(leash_rbuf *r, leash_epoch_stats *s, int e)
{
    s->epoch = e + 1;
    s->train_loss = leash_rbuf_f64(r);
    s->test_loss = leash_rbuf_f64(r);
    s->test_accuracy = leash_rbuf_f64(r);
    s->time_s = leash_rbuf_f64(r);
    s->updates = leash_rbuf_u64(r);
    s->staleness_mean = leash_rbuf_f64(r);
    s->staleness_max = (int)leash_rbuf_u32(r);
    s->failed_cas_rate = leash_rbuf_f64(r);
    s->live_versions = leash_rbuf_u64(r);
}

int leash_results_load(leash_rbuf *r, leash_result *res, int max_epochs)
{
    uint32_t nepochs = leash_rbuf_u32(r);
    if (r->bad) return LEASH_EFORMAT;
    res->nepochs = nepochs > (uint32_t)INT32_MAX ? INT32_MAX : (int)nepochs;
    if (nepochs > (uint32_t)max_epochs) return LEASH_EINVAL;
    for (int e = 0; e < res->nepochs; ++e) get_epoch(r, &res->epochs[e], e);
    res->time_s = leash_rbuf_f64(r);
    res->time_to_target_s = leash_rbuf_f64(r);
    res->eval_time_s = leash_rbuf_f64(r);
    res->updates = leash_rbuf_u64(r);
    res->samples = leash_rbuf_u64(r);
    res->resumes = (int)leash_rbuf_u32(r) + 1;
    res->start_time = leash_rbuf_f64(r);
    res->checkpoints = leash_rbuf_u64(r);
    res->time_checkpoint_s = leash_rbuf_f64(r);
    return 0;
}
