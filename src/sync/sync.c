/* SYNC: synchronous data-parallel SGD. In each round every worker computes a gradient
 * on the same version; a barrier; the mean gradient is applied, each worker averaging
 * and applying its own slice of the parameters in one fused pass (summing the gradients
 * in worker order, so runs are reproducible); a barrier.
 *
 * Workers read theta only between the second barrier of a round and the first of the
 * next, and write only their own slice between the two barriers, so the barriers'
 * synchronization is all the ordering theta needs. Every worker must publish the same
 * number of times (the trainer runs SYNC in lockstep), and only workers publish: the
 * main thread's index has no place in the barrier. The averaging layer's requests go
 * through a mailbox: worker 0 takes the request before the first barrier (which shows
 * its decision to all), every worker carries it out on its slice between the barriers,
 * and worker 0 marks it done after the second, before it can take another. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock_internal.h"
#include "core/error_internal.h"
#include "sync/strategy_internal.h"

struct leash_strategy {
    size_t n;
    int m;
    float *theta;
    float *velocity; /* NULL without momentum */
    float *sum;      /* the round's summed gradients */
    float momentum;
    uint64_t timestamp;
    const float **grads; /* each worker's gradient of the current round */
    pthread_barrier_t barrier;
    int barrier_ready;
    leash_stepper *stepper;
    leash_mixbox mix;
    int round_mix; /* the request this round carries out: written by worker 0 only */
    void (*on_update)(void *arg);
    void *update_arg;
};

static void sync_destroy(leash_strategy *s)
{
    if (!s) return;
    if (s->barrier_ready) pthread_barrier_destroy(&s->barrier);
    leash_params_free(s->theta);
    leash_params_free(s->velocity);
    leash_params_free(s->sum);
    free(s->grads);
    free(s);
}

static int sync_create(leash_strategy **out, const leash_strategy_args *a)
{
    leash_strategy *s = calloc(1, sizeof *s);
    if (!s) return leash_fail(LEASH_ENOMEM, "SYNC: out of memory");
    s->n = a->model->nparams;
    s->m = a->cfg->threads;
    s->momentum = (float)a->cfg->momentum;
    s->stepper = a->stepper;
    s->theta = leash_params_alloc(s->n);
    s->sum = leash_params_alloc(s->n);
    s->grads = calloc((size_t)s->m, sizeof *s->grads);
    if (s->momentum != 0.0f) s->velocity = leash_params_alloc(s->n);
    if (!s->theta || !s->sum || !s->grads || (s->momentum != 0.0f && !s->velocity)) {
        sync_destroy(s);
        return leash_fail(LEASH_ENOMEM, "SYNC: out of memory for %zu parameters", a->model->nparams);
    }
    if (pthread_barrier_init(&s->barrier, NULL, (unsigned)s->m) != 0) {
        sync_destroy(s);
        return leash_fail(LEASH_ENOMEM, "SYNC: cannot create a barrier for %d threads",
                          a->cfg->threads);
    }
    s->barrier_ready = 1;
    memcpy(s->theta, a->theta0, s->n * sizeof *s->theta);
    s->timestamp = a->timestamp0;
    s->on_update = a->on_update;
    s->update_arg = a->update_arg;
    leash_mixbox_init(&s->mix);
    *out = s;
    return 0;
}

static const float *sync_read(leash_strategy *s, int w, uint64_t *timestamp, leash_worker_stats *st)
{
    *timestamp = s->timestamp;
    return s->theta;
}

static void sync_release(leash_strategy *s, int w, const float *version) {}

static int barrier_wait(leash_strategy *s, leash_worker_stats *st)
{
    double t0 = leash_now();
    int serial = pthread_barrier_wait(&s->barrier) == PTHREAD_BARRIER_SERIAL_THREAD;
    const double t1 = leash_now();
    st->time_wait += t1 - t0;
    leash_stats_span(st, LEASH_TL_BARRIER, t0, t1, 0);
    return serial;
}

/* Separate loops with restrict arguments, so that each one vectorizes. */
static void add_into(float *restrict acc, const float *restrict g, size_t n)
{
    for (size_t i = 0; i < n; ++i) acc[i] += g[i];
}

static void apply_mean(float *restrict theta, float *restrict velocity, const float *restrict sum,
                       float inv_m, float mu, float eta, size_t n)
{
    if (velocity) {
        for (size_t i = 0; i < n; ++i) {
            velocity[i] = mu * velocity[i] + sum[i] * inv_m;
            theta[i] -= eta * velocity[i];
        }
    } else {
        for (size_t i = 0; i < n; ++i) theta[i] -= eta * (sum[i] * inv_m);
    }
}

static int sync_publish(leash_strategy *s, int w, const float *grad, uint64_t ts,
                        leash_worker_stats *st)
{
    s->grads[w] = grad;
    if (w == 0) s->round_mix = leash_mixbox_take(&s->mix);
    int serial = barrier_wait(s, st);
    /* Worker w's slice of the parameters; the slices of all workers cover them. */
    size_t first = s->n * (size_t)w / (size_t)s->m, last = s->n * (size_t)(w + 1) / (size_t)s->m;
    size_t len = last - first;
    const double m0 = st->tl ? leash_now() : 0.0;
    memcpy(s->sum + first, s->grads[0] + first, len * sizeof *s->sum);
    for (int k = 1; k < s->m; ++k) add_into(s->sum + first, s->grads[k] + first, len);
    apply_mean(s->theta + first, s->velocity ? s->velocity + first : NULL, s->sum + first,
               1.0f / (float)s->m, s->momentum, leash_stepper_eta(s->stepper, 0), len);
    leash_stats_span(st, LEASH_TL_MEAN, m0, st->tl ? leash_now() : 0.0, 0);
    const int mix = s->round_mix;
    if (mix != LEASH_MIX_NONE) {
        double t0 = leash_now();
        if (mix == LEASH_MIX_READ)
            memcpy(s->mix.out + first, s->theta + first, len * sizeof *s->theta);
        else
            leash_axpy_inplace(s->theta + first, s->mix.delta + first, -1.0f, len);
        const double t1 = leash_now();
        st->time_mix += t1 - t0;
        leash_stats_span(st, LEASH_TL_MIX, t0, t1, 0);
    }
    if (serial) {
        leash_stats_record_update(st, s->stepper, 0, 0);
        s->timestamp += mix == LEASH_MIX_APPLY ? 2 : 1;
        /* Before the second barrier: the other workers' losses of this round are in
         * (they were added before the first), none of the next round's. */
        if (s->on_update) s->on_update(s->update_arg);
    }
    barrier_wait(s, st);
    if (w == 0 && mix != LEASH_MIX_NONE) leash_mixbox_done(&s->mix);
    /* One update per round, credited to the thread that counted it; the other m - 1
     * gradients went into it (returned as 0, not dropped). */
    return serial;
}

static void sync_snapshot(leash_strategy *s, float *out, uint64_t *timestamp)
{
    memcpy(out, s->theta, s->n * sizeof *out);
    *timestamp = s->timestamp;
}

static uint64_t sync_peak_versions(leash_strategy *s) { return 1; }
static float *sync_velocity(leash_strategy *s, int k) { return k == 0 ? s->velocity : NULL; }

static int sync_mix_read(leash_strategy *s, float *out) { return leash_mixbox_post_read(&s->mix, out); }
static int sync_mix_apply(leash_strategy *s, const float *delta)
{
    return leash_mixbox_post_apply(&s->mix, delta);
}
static int sync_mix_pending(leash_strategy *s) { return leash_mixbox_pending(&s->mix); }
static void sync_mix_serve(leash_strategy *s)
{
    leash_mixbox_serve(&s->mix, s->theta, s->n, &s->timestamp);
}

const leash_strategy_ops leash_sync_ops = {
    .algorithm = LEASH_ALGO_SYNC,
    .lockstep = 1,
    .create = sync_create,
    .destroy = sync_destroy,
    .read = sync_read,
    .release = sync_release,
    .publish = sync_publish,
    .snapshot = sync_snapshot,
    .peak_versions = sync_peak_versions,
    .velocity = sync_velocity,
    .mix_read = sync_mix_read,
    .mix_apply = sync_mix_apply,
    .mix_pending = sync_mix_pending,
    .mix_serve = sync_mix_serve,
};
