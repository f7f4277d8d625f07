/* SEQ: one worker, plain (momentum) SGD on a single parameter array. The averaging
 * layer's requests go through a mailbox that the worker serves after each update. */
#include <stdlib.h>
#include <string.h>

#include "core/clock_internal.h"
#include "core/error_internal.h"
#include "sync/strategy_internal.h"

struct leash_strategy {
    size_t n;
    float *theta;
    float *velocity; /* NULL without momentum */
    float momentum;
    uint64_t timestamp;
    leash_stepper *stepper;
    leash_mixbox mix;
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
    s->timestamp = a->timestamp0;
    leash_mixbox_init(&s->mix);
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
    const double u0 = st->tl ? leash_now() : 0.0;
    const float *step = leash_momentum_step(s->velocity, grad, s->momentum, s->n);
    leash_axpy_inplace(s->theta, step, leash_stepper_eta(s->stepper, 0), s->n);
    leash_stats_span(st, LEASH_TL_UPDATE, u0, st->tl ? leash_now() : 0.0, 0);
    leash_stats_record_update(st, s->stepper, 0, 0);
    ++s->timestamp;
    if (leash_mixbox_pending(&s->mix)) {
        double t0 = leash_now();
        leash_mixbox_serve(&s->mix, s->theta, s->n, &s->timestamp);
        const double t1 = leash_now();
        st->time_mix += t1 - t0;
        leash_stats_span(st, LEASH_TL_MIX, t0, t1, 0);
    }
    return 1;
}

static void seq_snapshot(leash_strategy *s, float *out, uint64_t *timestamp)
{
    memcpy(out, s->theta, s->n * sizeof *out);
    *timestamp = s->timestamp;
}

static uint64_t seq_peak_versions(leash_strategy *s) { return 1; }
static float *seq_velocity(leash_strategy *s, int k) { return k == 0 ? s->velocity : NULL; }

static int seq_mix_read(leash_strategy *s, float *out) { return leash_mixbox_post_read(&s->mix, out); }
static int seq_mix_apply(leash_strategy *s, const float *delta)
{
    return leash_mixbox_post_apply(&s->mix, delta);
}
static int seq_mix_pending(leash_strategy *s) { return leash_mixbox_pending(&s->mix); }
static void seq_mix_serve(leash_strategy *s) { leash_mixbox_serve(&s->mix, s->theta, s->n, &s->timestamp); }

const leash_strategy_ops leash_seq_ops = {
    .algorithm = LEASH_ALGO_SEQ,
    .create = seq_create,
    .destroy = seq_destroy,
    .read = seq_read,
    .release = seq_release,
    .publish = seq_publish,
    .snapshot = seq_snapshot,
    .peak_versions = seq_peak_versions,
    .velocity = seq_velocity,
    .mix_read = seq_mix_read,
    .mix_apply = seq_mix_apply,
    .mix_pending = seq_mix_pending,
    .mix_serve = seq_mix_serve,
};
