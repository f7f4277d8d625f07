/* SEQ: one worker, plain (momentum) SGD on a single parameter array. */
#include <stdlib.h>
#include <string.h>

#include "core/error_internal.h"
#include "sync/strategy_internal.h"

struct leash_strategy {
    size_t n;
    float *theta;
    float *velocity; /* NULL without momentum */
    float step, momentum;
    uint64_t timestamp;
};

static void seq_destroy(leash_strategy *s)
{
    if (!s) return;
    leash_params_free(s->theta);
    leash_params_free(s->velocity);
    free(s);
}

static int seq_create(leash_strategy **out, const leash_model *m, const float *theta0,
                      const leash_config *cfg)
{
    leash_strategy *s = calloc(1, sizeof *s);
    if (!s) return leash_fail(LEASH_ENOMEM, "SEQ: out of memory");
    s->n = m->nparams;
    s->step = (float)cfg->step;
    s->momentum = (float)cfg->momentum;
    s->theta = leash_params_alloc(s->n);
    if (s->theta && cfg->momentum != 0.0) s->velocity = leash_params_alloc(s->n);
    if (!s->theta || (cfg->momentum != 0.0 && !s->velocity)) {
        seq_destroy(s);
        return leash_fail(LEASH_ENOMEM, "SEQ: out of memory for %zu parameters", m->nparams);
    }
    memcpy(s->theta, theta0, s->n * sizeof *theta0);
    *out = s;
    return 0;
}

static const float *seq_read(leash_strategy *s, int w, uint64_t *timestamp)
{
    *timestamp = s->timestamp;
    return s->theta;
}

static void seq_release(leash_strategy *s, int w, const float *version) {}

static int seq_publish(leash_strategy *s, int w, const float *grad, uint64_t ts)
{
    float *restrict theta = s->theta;
    const float step = s->step;
    if (s->velocity) {
        float *restrict v = s->velocity;
        const float mu = s->momentum;
        for (size_t i = 0; i < s->n; ++i) {
            v[i] = mu * v[i] + grad[i];
            theta[i] -= step * v[i];
        }
    } else {
        for (size_t i = 0; i < s->n; ++i) theta[i] -= step * grad[i];
    }
    ++s->timestamp;
    return 1;
}

static void seq_snapshot(leash_strategy *s, float *out)
{
    memcpy(out, s->theta, s->n * sizeof *out);
}

const leash_strategy_ops leash_seq_ops = {
    .algorithm = LEASH_ALGO_SEQ,
    .create = seq_create,
    .destroy = seq_destroy,
    .read = seq_read,
    .release = seq_release,
    .publish = seq_publish,
    .snapshot = seq_snapshot,
};
