/* SEQ: one worker, plain (momentum) SGD on a single parameter array. */
#include <stdlib.h>
#include <string.h>

#include "core/error_internal.h"
#include "sync/strategy_internal.h"

struct leash_strategy {
    size_t n;
    float *theta;
    float *velocity; /* NULL without momentum */
    float momentum;
    uint64_t timestamp;
    leash_stepper *stepper;
};

static void seq_destroy(leash_strategy *s)
{
    if (!s) return;
    leash_params_free(s->theta);
    leash_params_free(s->velocity);
    free(s);
}

static int seq_create(leash_strategy **out, const leash_strategy_args *a)
{
    leash_strategy *s = calloc(1, sizeof *s);
    if (!s) return leash_fail(LEASH_ENOMEM, "SEQ: out of memory");
    s->n = a->model->nparams;
    s->momentum = (float)a->cfg->momentum;
    s->stepper = a->stepper;
    s->theta = leash_params_alloc(s->n);
    if (s->theta && s->momentum != 0.0f) s->velocity = leash_params_alloc(s->n);
    if (!s->theta || (s->momentum != 0.0f && !s->velocity)) {
        seq_destroy(s);
        return leash_fail(LEASH_ENOMEM, "SEQ: out of memory for %zu parameters", a->model->nparams);
    }
    memcpy(s->theta, a->theta0, s->n * sizeof *s->theta);
    *out = s;
    return 0;
}

static const float *seq_read(leash_strategy *s, int w, uint64_t *timestamp, leash_worker_stats *st)
{
    *timestamp = s->timestamp;
    return s->theta;
}

static void seq_release(leash_strategy *s, int w, const float *version) {}

static int seq_publish(leash_strategy *s, int w, const float *grad, uint64_t ts,
                       leash_worker_stats *st)
{
    const float *step = leash_momentum_step(s->velocity, grad, s->momentum, s->n);
    leash_axpy_inplace(s->theta, step, leash_stepper_eta(s->stepper, 0), s->n);
    leash_stats_record_update(st, s->stepper, 0, 0);
    ++s->timestamp;
    return 1;
}

static void seq_snapshot(leash_strategy *s, float *out, uint64_t *timestamp)
{
    memcpy(out, s->theta, s->n * sizeof *out);
    *timestamp = s->timestamp;
}

static uint64_t seq_peak_versions(leash_strategy *s) { return 1; }

const leash_strategy_ops leash_seq_ops = {
    .algorithm = LEASH_ALGO_SEQ,
    .create = seq_create,
    .destroy = seq_destroy,
    .read = seq_read,
    .release = seq_release,
    .publish = seq_publish,
    .snapshot = seq_snapshot,
    .peak_versions = seq_peak_versions,
};
