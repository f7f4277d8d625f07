/* What all strategies share: the registry, the fused update pass, update statistics. */
#include <stdlib.h>

#include "core/clock_internal.h"
#include "core/simd_internal.h"
#include "sync/strategy_internal.h"

#define OPS_OF(ID, NAME, id) [LEASH_ALGO_##ID] = &leash_##id##_ops,
static const leash_strategy_ops *const strategies[] = {LEASH_ALGORITHMS(OPS_OF)};

const leash_strategy_ops *leash_strategy_for(leash_algorithm a)
{
    return (unsigned)a < sizeof strategies / sizeof *strategies ? strategies[a] : NULL;
}

void leash_stats_record_update(leash_worker_stats *st, const leash_stepper *stepper, uint64_t tau,
                               uint64_t failed)
{
    uint64_t tau_max = (uint64_t)leash_stepper_tau_max(stepper);
    ++st->updates;
    ++st->staleness[tau < tau_max ? tau : tau_max];
    ++st->attempts[failed < LEASH_ATTEMPT_BINS - 1 ? failed : LEASH_ATTEMPT_BINS - 1];
    if (st->tl) {
        const double now = leash_now();
        leash_tl_add(st->tl, LEASH_TL_STALENESS, now, now, (uint32_t)(tau < UINT32_MAX ? tau : UINT32_MAX));
    }
}

LEASH_VECTOR_CLONES
void leash_axpy_into(float *restrict theta_new, const float *restrict theta,
                     const float *restrict grad, float eta, size_t n)
{
    for (size_t i = 0; i < n; ++i) theta_new[i] = theta[i] - eta * grad[i];
}

LEASH_VECTOR_CLONES
void leash_axpy_inplace(float *restrict theta, const float *restrict grad, float eta, size_t n)
{
    for (size_t i = 0; i < n; ++i) theta[i] -= eta * grad[i];
}

LEASH_VECTOR_CLONES
const float *leash_momentum_step(float *restrict velocity, const float *restrict grad, float mu,
                                 size_t n)
{
    if (!velocity) return grad;
    for (size_t i = 0; i < n; ++i) velocity[i] = mu * velocity[i] + grad[i];
    return velocity;
}

float **leash_alloc_buffers(int count, size_t n)
{
    float **b = calloc((size_t)count, sizeof *b);
    if (!b) return NULL;
    for (int i = 0; i < count; ++i)
        if (!(b[i] = leash_params_alloc(n))) {
            leash_free_buffers(b, count);
            return NULL;
        }
    return b;
}

void leash_free_buffers(float **b, int count)
{
    if (!b) return;
    for (int i = 0; i < count; ++i) leash_params_free(b[i]);
    free(b);
}
