/* LSH (Leashed-SGD): lock-free consistent asynchronous SGD over immutable versions.
 *
 * `latest` (in the version pool) names the newest published version. A worker pins it to
 * compute a gradient, releases it, then publishes: pin the newest version again, write
 * newest - eta(tau) * g into a private draft in one fused pass, and CAS `latest` from the
 * pinned version to the draft; retry on failure up to the persistence bound B, then drop
 * the gradient.
 *
 * Invariants (the reclamation proof is in version_pool.c):
 *  - Every version anyone pins is immutable while pinned and is the result of whole
 *    gradients applied one after another: a draft is written only by its owner before
 *    it is published, and a published slot is rewritten only after its last reference
 *    went away (which also bumps its generation, so stale tags cannot pin it).
 *  - A version with timestamp t + 1 was computed from the one with timestamp t, and only
 *    one draft built on t can win the CAS away from t: timestamps are exactly 1, 2, ...
 *  - Thread w holds at most one pin (between read and release, or inside publish/snapshot,
 *    never both: the worker loop releases before publishing) and at most one draft
 *    (inside publish only; a dropped gradient's draft goes back to the free list, so
 *    when no call is in flight every slot but `latest` is free). With T = threads + 1
 *    user threads, at most 2T = 2 (m + 1) versions are live (version_pool.c proves it);
 *    when the main thread publishes nothing (no averaging), 2m + 1.
 *  - No locks: a failed pin or CAS means another publish succeeded.
 * This file performs no atomic operation itself; each one, with the reason for its
 * memory order, is in version_pool.c.
 *
 * Momentum is per worker (as in the authors' tool's per-thread state): worker w keeps
 * v_w <- mu v_w + g and publishes v_w, so a dropped gradient still stays in v_w. The
 * main thread (index `threads`) publishes the averaging layer's corrections, which are
 * not gradients and get no momentum. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock_internal.h"
#include "core/error_internal.h"
#include "sync/strategy_internal.h"
#include "sync/version_pool_internal.h"

/* One user thread's state, written only by that thread; one cache line each. */
typedef struct lsh_thread {
    _Alignas(LEASH_CACHE_LINE) uint64_t pinned; /* tag pinned by read, until release */
    float *velocity;                            /* NULL without momentum */
} lsh_thread;

struct leash_strategy {
    leash_vpool *pool;
    leash_stepper *stepper;
    lsh_thread *threads; /* nthreads + 1 */
    int nthreads;
    long persistence; /* LEASH_PERSIST_INF: never drop */
    float momentum;
};

/* Each user thread pins at most one version and drafts at most one, plus `latest`;
 * the pool's 16-bit indices bound the threads. */
#define LSH_MAX_THREADS ((int)((LEASH_VP_MAX_SLOTS - 1) / 2 - 1))

static void lsh_destroy(leash_strategy *s)
{
    if (!s) return;
    if (s->threads)
        for (int w = 0; w <= s->nthreads; ++w) leash_params_free(s->threads[w].velocity);
    free(s->threads);
    leash_vpool_destroy(s->pool);
    free(s);
}

static int lsh_create(leash_strategy **out, const leash_strategy_args *a)
{
    const leash_config *cfg = a->cfg;
    if (cfg->threads < 1 || cfg->threads > LSH_MAX_THREADS)
        return leash_fail(LEASH_EINVAL, "LSH: %d threads: between 1 and %d supported", cfg->threads,
                          LSH_MAX_THREADS);
    if (cfg->persistence < 0 && cfg->persistence != LEASH_PERSIST_INF)
        return leash_fail(LEASH_EINVAL, "LSH: persistence bound %ld: must be >= 0 or infinite",
                          cfg->persistence);
    leash_strategy *s = calloc(1, sizeof *s);
    if (!s) return leash_fail(LEASH_ENOMEM, "LSH: out of memory");
    s->stepper = a->stepper;
    s->nthreads = cfg->threads;
    s->persistence = cfg->persistence;
    s->momentum = (float)cfg->momentum;
    size_t n = a->model->nparams;
    int rc = leash_vpool_create(&s->pool, n, (uint32_t)(2 * (cfg->threads + 1)), a->theta0,
                                a->timestamp0);
    if (rc) {
        free(s);
        return rc;
    }
    s->threads = aligned_alloc(LEASH_CACHE_LINE, (size_t)(cfg->threads + 1) * sizeof *s->threads);
    if (!s->threads) goto oom;
    memset(s->threads, 0, (size_t)(cfg->threads + 1) * sizeof *s->threads);
    for (int w = 0; w < cfg->threads && s->momentum != 0.0f; ++w)
        if (!(s->threads[w].velocity = leash_params_alloc(n))) goto oom;
    *out = s;
    return 0;
oom:
    lsh_destroy(s);
    return leash_fail(LEASH_ENOMEM, "LSH: out of memory for %d threads of %zu parameters",
                      cfg->threads, n);
}

static const float *lsh_read(leash_strategy *s, int w, uint64_t *timestamp, leash_worker_stats *st)
{
    uint64_t tag = leash_vpool_pin_latest(s->pool);
    const leash_vslot *v = &s->pool->slots[leash_vp_index(tag)];
    s->threads[w].pinned = tag;
    *timestamp = v->timestamp;
    return v->data;
}

static void lsh_release(leash_strategy *s, int w, const float *version)
{
    uint32_t i = leash_vp_index(s->threads[w].pinned);
    assert(version == s->pool->slots[i].data);
    leash_vpool_unref(s->pool, i);
}

/* The timeline's count of live versions, just after this worker's update. */
static void record_live(leash_strategy *s, leash_worker_stats *st)
{
    const double now = leash_now();
    leash_tl_add(st->tl, LEASH_TL_LIVE, now, now, leash_vpool_live(s->pool));
}

/* Returns LEASH_ENOMEM, leaving the gradient neither applied nor dropped, if the pool
 * has to grow and cannot. */
static int lsh_publish(leash_strategy *s, int w, const float *grad, uint64_t ts,
                       leash_worker_stats *st)
{
    leash_vpool *pool = s->pool;
    const size_t n = pool->n;
    grad = leash_momentum_step(s->threads[w].velocity, grad, s->momentum, n);
    uint32_t d;
    int rc = leash_vpool_acquire(pool, &d);
    if (rc) return rc;
    leash_vslot *draft = &pool->slots[d];
    for (uint64_t failed = 0;; ++failed) {
        const double a0 = st->tl ? leash_now() : 0.0;
        uint64_t base = leash_vpool_pin_latest(pool);
        const leash_vslot *b = &pool->slots[leash_vp_index(base)];
        const uint64_t t1 = b->timestamp;
        const uint64_t tau = t1 > ts ? t1 - ts : 0;
        leash_axpy_into(draft->data, b->data, grad, leash_stepper_eta(s->stepper, tau), n);
        draft->timestamp = t1 + 1;
        /* On success our pin of the retired base is dropped with `latest`'s reference. */
        const int won = leash_vpool_install(pool, base, d, 1);
        if (st->tl) leash_tl_add(st->tl, LEASH_TL_CAS, a0, leash_now(), !won);
        if (won) {
            leash_stats_record_update(st, s->stepper, tau, failed);
            leash_stepper_observe(s->stepper, t1, tau);
            if (st->tl) record_live(s, st);
            return 1;
        }
        leash_vpool_unref(pool, leash_vp_index(base));
        ++st->failed_cas;
        if (s->persistence != LEASH_PERSIST_INF && failed >= (uint64_t)s->persistence) {
            ++st->dropped;
            leash_vpool_unref(pool, d); /* back to the free list */
            if (st->tl) {
                const double now = leash_now();
                leash_tl_add(st->tl, LEASH_TL_DROPPED, now, now, 0);
            }
            return 0;
        }
    }
}

/* Safe while workers run too: the pin keeps the version immutable while it is copied. */
static void lsh_snapshot(leash_strategy *s, float *out, uint64_t *timestamp)
{
    uint64_t tag = leash_vpool_pin_latest(s->pool);
    const leash_vslot *v = &s->pool->slots[leash_vp_index(tag)];
    memcpy(out, v->data, s->pool->n * sizeof *out);
    *timestamp = v->timestamp;
    leash_vpool_unref(s->pool, leash_vp_index(tag));
}

static uint64_t lsh_peak_versions(leash_strategy *s) { return leash_vpool_peak(s->pool); }
static float *lsh_velocity(leash_strategy *s, int k)
{
    return k >= 0 && k < s->nthreads ? s->threads[k].velocity : NULL;
}

static int lsh_mix_read(leash_strategy *s, float *out)
{
    uint64_t ts;
    lsh_snapshot(s, out, &ts);
    return 0;
}

/* The averaging layer's correction: published like a gradient of the main thread (one
 * pin and one draft, within the 2T bound) with eta = -1, retried until it wins:
 * dropping it would lose the averaging. Staleness is not recorded: it is no gradient. */
static int lsh_mix_apply(leash_strategy *s, const float *delta)
{
    leash_vpool *pool = s->pool;
    uint32_t d;
    int rc = leash_vpool_acquire(pool, &d);
    if (rc) return rc;
    leash_vslot *draft = &pool->slots[d];
    for (;;) {
        uint64_t base = leash_vpool_pin_latest(pool);
        const leash_vslot *b = &pool->slots[leash_vp_index(base)];
        leash_axpy_into(draft->data, b->data, delta, -1.0f, pool->n);
        draft->timestamp = b->timestamp + 1;
        if (leash_vpool_install(pool, base, d, 1)) return 0;
        leash_vpool_unref(pool, leash_vp_index(base));
    }
}

leash_vpool *leash_lsh_pool(leash_strategy *s) { return s->pool; }

const leash_strategy_ops leash_lsh_ops = {
    .algorithm = LEASH_ALGO_LSH,
    .create = lsh_create,
    .destroy = lsh_destroy,
    .read = lsh_read,
    .release = lsh_release,
    .publish = lsh_publish,
    .snapshot = lsh_snapshot,
    .peak_versions = lsh_peak_versions,
    .velocity = lsh_velocity,
    .mix_read = lsh_mix_read,
    .mix_apply = lsh_mix_apply,
};
