/* What all strategies share: the registry, the fused update pass, update statistics. */
#include <stdlib.h>
#include <string.h>

#include "core/clock_internal.h"
#include "core/error_internal.h"
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

/* --- checkpoints ------------------------------------------------------------------- */

void leash_strategy_save(leash_wbuf *b, const leash_strategy_ops *ops, leash_strategy *s,
                         int threads, size_t n, float *scratch, uint64_t peak)
{
    uint64_t ts;
    ops->snapshot(s, scratch, &ts);
    leash_wbuf_u64(b, ts);
    leash_wbuf_u64(b, peak);
    leash_wbuf_floats(b, scratch, n);
    uint32_t nbuffers = 0;
    for (int k = 0; k < threads; ++k) nbuffers += ops->velocity(s, k) != NULL;
    leash_wbuf_u32(b, nbuffers);
    for (int k = 0; k < threads; ++k) {
        const float *v = ops->velocity(s, k);
        if (!v) continue;
        leash_wbuf_u32(b, (uint32_t)k);
        leash_wbuf_floats(b, v, n);
    }
}

int leash_strategy_load(leash_rbuf *r, leash_saved_strategy *out, float *theta, size_t n,
                        uint32_t max_buffers, const char **bad)
{
    out->timestamp = leash_rbuf_u64(r);
    out->peak = leash_rbuf_u64(r);
    /* Copied out: a section's payload has no float alignment. */
    leash_rbuf_floats(r, theta, n);
    *bad = "parameters";
    if (r->bad) return LEASH_EFORMAT;
    *bad = "momentum";
    out->nbuffers = leash_rbuf_u32(r);
    out->momentum = *r;
    if (r->bad || out->nbuffers > max_buffers) return LEASH_EFORMAT;
    for (uint32_t i = 0; i < out->nbuffers; ++i) {
        leash_rbuf_u32(r);
        leash_rbuf_take(r, n * sizeof(float));
    }
    return r->bad ? LEASH_EFORMAT : 0;
}

int leash_saved_momentum_next(leash_rbuf *m, uint32_t *k, float *v, size_t n)
{
    *k = leash_rbuf_u32(m);
    leash_rbuf_floats(m, v, n);
    return m->bad ? LEASH_EFORMAT : 0;
}

int leash_strategy_restore_momentum(const leash_saved_strategy *saved,
                                    const leash_strategy_ops *ops, leash_strategy *s,
                                    int threads, size_t n, const float *mean)
{
    if (mean) {
        for (int k = 0; k < threads; ++k) {
            float *v = ops->velocity(s, k);
            if (v) memcpy(v, mean, n * sizeof *v);
        }
        return 0;
    }
    leash_rbuf m = saved->momentum;
    for (uint32_t i = 0; i < saved->nbuffers; ++i) {
        uint32_t k = leash_rbuf_u32(&m);
        float *v = k < (uint32_t)threads ? ops->velocity(s, (int)k) : NULL;
        if (!v) return LEASH_EFORMAT;
        leash_rbuf_floats(&m, v, n);
    }
    return m.bad ? LEASH_EFORMAT : 0;
}
