/* ASYNC: lock-based consistent AsyncSGD. One shared theta under one mutex: a worker
 * copies theta out under the lock, computes on its copy, and applies its gradient under
 * the lock. Nobody ever sees a half-applied update, at the price of serializing every
 * read and every update. Momentum is per worker (its own velocity buffer). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock_internal.h"
#include "core/error_internal.h"
#include "sync/strategy_internal.h"

struct leash_strategy {
    size_t n;
    int nthreads; /* workers + the main thread */
    pthread_mutex_t lock;
    int lock_ready;
    float *theta;       /* guarded by lock */
    uint64_t timestamp; /* guarded by lock */
    float **copy;       /* each thread's private copy of theta */
    float **velocity;   /* each thread's momentum, or NULL */
    float momentum;
    leash_stepper *stepper;
};

static void async_destroy(leash_strategy *s)
{
    if (!s) return;
    if (s->lock_ready) pthread_mutex_destroy(&s->lock);
    leash_params_free(s->theta);
    leash_free_buffers(s->copy, s->nthreads);
    leash_free_buffers(s->velocity, s->nthreads - 1);
    free(s);
}

static int async_create(leash_strategy **out, const leash_strategy_args *a)
{
    leash_strategy *s = calloc(1, sizeof *s);
    if (!s) return leash_fail(LEASH_ENOMEM, "ASYNC: out of memory");
    s->n = a->model->nparams;
    s->nthreads = a->cfg->threads + 1;
    s->momentum = (float)a->cfg->momentum;
    s->stepper = a->stepper;
    s->theta = leash_params_alloc(s->n);
    s->copy = leash_alloc_buffers(s->nthreads, s->n);
    /* Momentum only for the workers: the main thread's publishes are not gradients. */
    if (s->momentum != 0.0f) s->velocity = leash_alloc_buffers(s->nthreads - 1, s->n);
    if (!s->theta || !s->copy || (s->momentum != 0.0f && !s->velocity)) {
        async_destroy(s);
        return leash_fail(LEASH_ENOMEM, "ASYNC: out of memory for %zu parameters", a->model->nparams);
    }
    if (pthread_mutex_init(&s->lock, NULL) != 0) {
        async_destroy(s);
        return leash_fail(LEASH_ENOMEM, "ASYNC: cannot create a mutex");
    }
    s->lock_ready = 1;
    memcpy(s->theta, a->theta0, s->n * sizeof *s->theta);
    s->timestamp = a->timestamp0;
    *out = s;
    return 0;
}

/* Take the lock for a worker; returns when it got it. */
static double lock(leash_strategy *s, leash_worker_stats *st)
{
    double t0 = leash_now();
    pthread_mutex_lock(&s->lock);
    const double t1 = leash_now();
    st->time_wait += t1 - t0;
    leash_stats_span(st, LEASH_TL_LOCK_WAIT, t0, t1, 0);
    return t1;
}

static void unlock(leash_strategy *s, leash_worker_stats *st, double since)
{
    pthread_mutex_unlock(&s->lock);
    leash_stats_span(st, LEASH_TL_LOCK_HELD, since, st->tl ? leash_now() : 0.0, 0);
}

static const float *async_read(leash_strategy *s, int w, uint64_t *timestamp,
                               leash_worker_stats *st)
{
    const double since = lock(s, st);
    memcpy(s->copy[w], s->theta, s->n * sizeof *s->theta);
    *timestamp = s->timestamp;
    unlock(s, st, since);
    return s->copy[w];
}

static void async_release(leash_strategy *s, int w, const float *version) {}

static int async_publish(leash_strategy *s, int w, const float *grad, uint64_t ts,
                         leash_worker_stats *st)
{
    const float *step =
        leash_momentum_step(s->velocity && w < s->nthreads - 1 ? s->velocity[w] : NULL, grad,
                            s->momentum, s->n);
    const double since = lock(s, st);
    uint64_t tau = s->timestamp - ts;
    leash_axpy_inplace(s->theta, step, leash_stepper_eta(s->stepper, tau), s->n);
    leash_stepper_observe(s->stepper, s->timestamp, tau);
    ++s->timestamp;
    unlock(s, st, since);
    leash_stats_record_update(st, s->stepper, tau, 0);
    return 1;
}

static void async_snapshot(leash_strategy *s, float *out, uint64_t *timestamp)
{
    pthread_mutex_lock(&s->lock);
    memcpy(out, s->theta, s->n * sizeof *out);
    *timestamp = s->timestamp;
    pthread_mutex_unlock(&s->lock);
}

static int async_mix_read(leash_strategy *s, float *out)
{
    uint64_t ts;
    async_snapshot(s, out, &ts);
    return 0;
}

/* Under the lock like any update; the main thread's lock waits are not a worker's. */
static int async_mix_apply(leash_strategy *s, const float *delta)
{
    pthread_mutex_lock(&s->lock);
    leash_axpy_inplace(s->theta, delta, -1.0f, s->n);
    ++s->timestamp;
    pthread_mutex_unlock(&s->lock);
    return 0;
}

/* The shared vector and one private copy per worker. */
static uint64_t async_peak_versions(leash_strategy *s) { return (uint64_t)s->nthreads; }
/* Workers 0 .. nthreads - 2 have momentum; the main thread's index has none. */
static float *async_velocity(leash_strategy *s, int k)
{
    return s->velocity && k >= 0 && k < s->nthreads - 1 ? s->velocity[k] : NULL;
}

const leash_strategy_ops leash_async_ops = {
    .algorithm = LEASH_ALGO_ASYNC,
    .create = async_create,
    .destroy = async_destroy,
    .read = async_read,
    .release = async_release,
    .publish = async_publish,
    .snapshot = async_snapshot,
    .peak_versions = async_peak_versions,
    .velocity = async_velocity,
    .mix_read = async_mix_read,
    .mix_apply = async_mix_apply,
};
