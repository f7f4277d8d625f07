/* HOG: HOGWILD!. One shared theta and no synchronization: a worker copies theta while
 * others may be writing it (its copy can mix versions) and applies its gradient element
 * by element, so concurrent updates of one element can be lost. Those races are the
 * algorithm's; to keep them defined behavior in C11 every shared element is an atomic
 * float accessed only with relaxed loads and stores (plain moves on x86-64) - never a
 * read-modify-write, which would serialize the cores and no longer be HOGWILD!. The
 * update counter is a relaxed fetch_add: it only numbers updates for staleness and
 * orders nothing. Momentum is per worker. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock_internal.h"
#include "core/error_internal.h"
#include "sync/strategy_internal.h"

struct leash_strategy {
    size_t n;
    int nthreads; /* workers + the main thread */
    _Atomic float *theta;
    _Alignas(LEASH_CACHE_LINE) _Atomic uint64_t timestamp;
    _Alignas(LEASH_CACHE_LINE) float **copy; /* each thread's private copy of theta */
    float **velocity;                         /* each thread's momentum, or NULL */
    float momentum;
    leash_stepper *stepper;
};

static void hog_destroy(leash_strategy *s)
{
    if (!s) return;
    free(s->theta);
    leash_free_buffers(s->copy, s->nthreads);
    leash_free_buffers(s->velocity, s->nthreads - 1);
    free(s);
}

static int hog_create(leash_strategy **out, const leash_strategy_args *a)
{
    leash_strategy *s = aligned_alloc(LEASH_CACHE_LINE, sizeof *s);
    if (!s) return leash_fail(LEASH_ENOMEM, "HOG: out of memory");
    memset(s, 0, sizeof *s);
    s->n = a->model->nparams;
    s->nthreads = a->cfg->threads + 1;
    s->momentum = (float)a->cfg->momentum;
    s->stepper = a->stepper;
    size_t bytes = (s->n * sizeof *s->theta + LEASH_CACHE_LINE - 1) / LEASH_CACHE_LINE * LEASH_CACHE_LINE;
    s->theta = aligned_alloc(LEASH_CACHE_LINE, bytes);
    s->copy = leash_alloc_buffers(s->nthreads, s->n);
    /* Momentum only for the workers: the main thread's publishes are not gradients. */
    if (s->momentum != 0.0f) s->velocity = leash_alloc_buffers(s->nthreads - 1, s->n);
    if (!s->theta || !s->copy || (s->momentum != 0.0f && !s->velocity)) {
        hog_destroy(s);
        return leash_fail(LEASH_ENOMEM, "HOG: out of memory for %zu parameters", a->model->nparams);
    }
    for (size_t i = 0; i < s->n; ++i) atomic_init(&s->theta[i], a->theta0[i]);
    atomic_init(&s->timestamp, a->timestamp0);
    *out = s;
    return 0;
}

static void copy_out(float *dst, _Atomic float *src, size_t n)
{
    for (size_t i = 0; i < n; ++i) dst[i] = atomic_load_explicit(&src[i], memory_order_relaxed);
}

static const float *hog_read(leash_strategy *s, int w, uint64_t *timestamp, leash_worker_stats *st)
{
    *timestamp = atomic_load_explicit(&s->timestamp, memory_order_relaxed);
    copy_out(s->copy[w], s->theta, s->n);
    return s->copy[w];
}

static void hog_release(leash_strategy *s, int w, const float *version) {}

static int hog_publish(leash_strategy *s, int w, const float *grad, uint64_t ts,
                       leash_worker_stats *st)
{
    const float *step =
        leash_momentum_step(s->velocity && w < s->nthreads - 1 ? s->velocity[w] : NULL, grad,
                            s->momentum, s->n);
    /* The counter only moves forward, so this thread's later fetch_add returns at least
     * the value its earlier load saw (coherence), and tau is never negative. */
    uint64_t index = atomic_fetch_add_explicit(&s->timestamp, 1, memory_order_relaxed);
    uint64_t tau = index - ts;
    float eta = leash_stepper_eta(s->stepper, tau);
    const double t0 = st->tl ? leash_now() : 0.0;
    for (size_t i = 0; i < s->n; ++i) {
        float v = atomic_load_explicit(&s->theta[i], memory_order_relaxed);
        atomic_store_explicit(&s->theta[i], v - eta * step[i], memory_order_relaxed);
    }
    if (st->tl) leash_tl_add(st->tl, LEASH_TL_UPDATE, t0, leash_now(), 0);
    leash_stepper_observe(s->stepper, index, tau);
    leash_stats_record_update(st, s->stepper, tau, 0);
    return 1;
}

static void hog_snapshot(leash_strategy *s, float *out, uint64_t *timestamp)
{
    copy_out(out, s->theta, s->n);
    *timestamp = atomic_load_explicit(&s->timestamp, memory_order_relaxed);
}

static uint64_t hog_peak_versions(leash_strategy *s) { return (uint64_t)s->nthreads; }
/* Workers 0 .. nthreads - 2 have momentum; the main thread's index has none. */
static float *hog_velocity(leash_strategy *s, int k)
{
    return s->velocity && k >= 0 && k < s->nthreads - 1 ? s->velocity[k] : NULL;
}

static int hog_mix_read(leash_strategy *s, float *out)
{
    uint64_t ts;
    hog_snapshot(s, out, &ts);
    return 0;
}

/* Element by element with relaxed accesses, racing with the workers like their own
 * updates do (HOGWILD!'s nature, not a bug). */
static int hog_mix_apply(leash_strategy *s, const float *delta)
{
    atomic_fetch_add_explicit(&s->timestamp, 1, memory_order_relaxed);
    for (size_t i = 0; i < s->n; ++i) {
        float v = atomic_load_explicit(&s->theta[i], memory_order_relaxed);
        atomic_store_explicit(&s->theta[i], v + delta[i], memory_order_relaxed);
    }
    return 0;
}

const leash_strategy_ops leash_hog_ops = {
    .algorithm = LEASH_ALGO_HOG,
    .create = hog_create,
    .destroy = hog_destroy,
    .read = hog_read,
    .release = hog_release,
    .publish = hog_publish,
    .snapshot = hog_snapshot,
    .peak_versions = hog_peak_versions,
    .velocity = hog_velocity,
    .mix_read = hog_mix_read,
    .mix_apply = hog_mix_apply,
};
