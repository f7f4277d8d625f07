/* LSH under contention, and the version pool's protocol step by step.
 *
 * The torture runs drive leash_lsh_ops directly with far more threads than cores; each
 * thread reads, checks the version, sometimes yields, releases and publishes a constant
 * gradient c with eta = 1. theta0 and c are multiples of 2^-10 small enough that float
 * arithmetic is exact, so the version with timestamp t must equal theta0 - t c exactly,
 * and the final one theta0 - U c for U updates. The base timestamp t1 of every
 * successful publish is recovered from its staleness (t1 = t0 + tau, tau_max above any
 * possible tau): the t1 must be exactly 0 .. U - 1, once each, so each version has one
 * successor, one timestamp higher. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "leash/leash.h"
#include "sync/strategy_internal.h"
#include "sync/version_pool_internal.h"
#include "../tap.h"

/* Publishes per configuration (all threads together); tau_max exceeds it, so tau is
 * never clamped and the base timestamp is exact. */
enum { TOTAL_PUBLISHES = 32768, TAU_MAX = TOTAL_PUBLISHES + 1 };

static float theta0_of(size_t j) { return (float)((int)(j % 13) - 6); }
static float c_of(size_t j) { return (float)(j % 7 + 1) / 1024.0f; }

static void init_vectors(float *theta0, float *c, size_t n)
{
    for (size_t j = 0; j < n; ++j) {
        theta0[j] = theta0_of(j);
        c[j] = c_of(j);
    }
}

/* Whether v is exactly theta0 - k c. */
static int is_version(const float *v, double k, size_t n)
{
    for (size_t j = 0; j < n; ++j)
        if ((double)v[j] != (double)theta0_of(j) - k * (double)c_of(j)) return 0;
    return 1;
}

typedef struct shared {
    const leash_strategy_ops *ops;
    leash_strategy *s;
    const float *c;
    size_t n;
    int per_thread;
    pthread_barrier_t start;
    _Atomic uint32_t *base_seen; /* [t1]: successful publishes whose base had timestamp t1 */
} shared;

typedef struct worker {
    shared *sh;
    int w;
    leash_worker_stats stats;
    int bad_reads; /* versions that were not theta0 - t c for their timestamp t */
    int bad_bases; /* base timestamps beyond TOTAL_PUBLISHES, or publish errors */
} worker;

static void *work(void *arg)
{
    worker *wk = arg;
    shared *sh = wk->sh;
    pthread_barrier_wait(&sh->start);
    for (int k = 0; k < sh->per_thread; ++k) {
        uint64_t t0;
        const float *v = sh->ops->read(sh->s, wk->w, &t0, &wk->stats);
        if (!is_version(v, (double)t0, sh->n)) ++wk->bad_reads;
        /* Odd threads yield while pinning, so pins outlive many publishes; even ones
         * never yield, so the scheduler preempts them anywhere, publish windows included
         * (the only way to make CAS fail when the threads take turns on one CPU). */
        if (wk->w % 2 && k % 2) sched_yield();
        sh->ops->release(sh->s, wk->w, v);
        ++wk->stats.gradients;
        int rc = sh->ops->publish(sh->s, wk->w, sh->c, t0, &wk->stats);
        if (rc < 0) {
            ++wk->bad_bases;
            continue;
        }
        if (rc == 0) continue;
        /* The histogram is kept all zero between publishes: the one bin set is tau. */
        uint64_t tau = 0;
        while (tau < TAU_MAX && wk->stats.staleness[tau] == 0) ++tau;
        if (tau >= TAU_MAX || t0 + tau >= TOTAL_PUBLISHES) {
            ++wk->bad_bases;
            continue;
        }
        wk->stats.staleness[tau] = 0;
        /* relaxed: a counter read after the threads are joined */
        atomic_fetch_add_explicit(&sh->base_seen[t0 + tau], 1, memory_order_relaxed);
    }
    return NULL;
}

static void make_config(leash_config *cfg, int threads, long persistence, double momentum)
{
    leash_config_defaults(cfg);
    cfg->algorithm = LEASH_ALGO_LSH;
    cfg->threads = threads;
    cfg->persistence = persistence;
    cfg->step = 1.0;
    cfg->momentum = momentum;
    cfg->tau_max = TAU_MAX;
}

/* m threads publish `publishes` gradients in all on an MLP with side x side inputs;
 * with expect_drops, B = 0 must have dropped some. */
static void torture(int m, long persistence, int side, int publishes, int expect_drops)
{
    leash_model model;
    ASSERT_INT_EQ(leash_model_mlp(&model, side, side, 1, 10, 1, 16, LEASH_ACT_RELU), 0);
    const size_t n = model.nparams;
    leash_config cfg;
    make_config(&cfg, m, persistence, 0.0);
    float *theta0 = leash_params_alloc(n), *c = leash_params_alloc(n), *out = leash_params_alloc(n);
    worker *wk = calloc((size_t)m, sizeof *wk);
    pthread_t *tid = calloc((size_t)m, sizeof *tid);
    shared sh = {.ops = &leash_lsh_ops, .c = c, .n = n, .per_thread = publishes / m};
    sh.base_seen = calloc(TOTAL_PUBLISHES, sizeof *sh.base_seen);
    leash_stepper *stepper = NULL;
    ASSERT_INT_EQ(leash_stepper_create(&stepper, LEASH_STEP_NONE, 1.0, m, TAU_MAX, 1.0), 0);
    ASSERT_TRUE(theta0 && c && out && wk && tid && sh.base_seen);
    init_vectors(theta0, c, n);
    leash_strategy_args args = {.model = &model, .theta0 = theta0, .cfg = &cfg, .stepper = stepper};
    ASSERT_INT_EQ(leash_lsh_ops.create(&sh.s, &args), 0);
    ASSERT_INT_EQ(pthread_barrier_init(&sh.start, NULL, (unsigned)m), 0);
    for (int w = 0; w < m; ++w) {
        wk[w].sh = &sh;
        wk[w].w = w;
        wk[w].stats.staleness = calloc(TAU_MAX + 1, sizeof(uint64_t));
        ASSERT_NOT_NULL(wk[w].stats.staleness);
    }
    for (int w = 0; w < m; ++w) ASSERT_INT_EQ(pthread_create(&tid[w], NULL, work, &wk[w]), 0);
    for (int w = 0; w < m; ++w) pthread_join(tid[w], NULL);
    pthread_barrier_destroy(&sh.start);

    uint64_t updates = 0, dropped = 0, gradients = 0, failed = 0, beyond_bound = 0;
    int bad_reads = 0, bad_bases = 0;
    for (int w = 0; w < m; ++w) {
        updates += wk[w].stats.updates;
        dropped += wk[w].stats.dropped;
        gradients += wk[w].stats.gradients;
        failed += wk[w].stats.failed_cas;
        bad_reads += wk[w].bad_reads;
        bad_bases += wk[w].bad_bases;
        for (int k = 0; k < LEASH_ATTEMPT_BINS; ++k)
            if (persistence != LEASH_PERSIST_INF && k > persistence)
                beyond_bound += wk[w].stats.attempts[k];
    }
    const leash_vpool *pool = leash_lsh_pool(sh.s);
    uint64_t peak = leash_lsh_ops.peak_versions(sh.s);
    uint32_t free_slots = leash_vpool_free_count(pool);
    uint64_t ts = 0;
    leash_lsh_ops.snapshot(sh.s, out, &ts);
    tap_diag("m = %d, B = %ld, %zu parameters: %llu gradients, %llu updates, %llu dropped, "
             "%llu failed CAS, peak %llu versions",
             m, persistence, n, (unsigned long long)gradients, (unsigned long long)updates,
             (unsigned long long)dropped, (unsigned long long)failed, (unsigned long long)peak);

    ASSERT_INT_EQ(bad_reads, 0);
    ASSERT_INT_EQ(bad_bases, 0);
    ASSERT_INT_EQ(gradients, (uint64_t)sh.per_thread * (uint64_t)m);
    ASSERT_INT_EQ(updates + dropped, gradients);
    ASSERT_INT_EQ(ts, updates);
    ASSERT_TRUE(is_version(out, (double)updates, n));
    for (uint64_t t = 0; t < TOTAL_PUBLISHES; ++t)
        if (atomic_load(&sh.base_seen[t]) != (t < updates ? 1u : 0u))
            TAP_FAIL_AT("base timestamp %llu extended %u times", (unsigned long long)t,
                        (unsigned)atomic_load(&sh.base_seen[t]));
    ASSERT_INT_LE(peak, 2 * m); /* m publishing threads: 2m (version_pool.c) */
    ASSERT_INT_EQ(free_slots + 1, peak); /* every slot but `latest` is free again */
    ASSERT_INT_EQ(beyond_bound, 0);      /* no update after more than B failures */
    if (persistence == 0) ASSERT_INT_EQ(failed, dropped); /* one attempt, one failure, a drop */
    if (expect_drops) ASSERT_TRUE(dropped > 0);
    if (persistence == LEASH_PERSIST_INF) ASSERT_INT_EQ(dropped, 0);

    leash_lsh_ops.destroy(sh.s);
    leash_stepper_destroy(stepper);
    for (int w = 0; w < m; ++w) free(wk[w].stats.staleness);
    free(sh.base_seen);
    free(tid);
    free(wk);
    leash_model_free(&model);
    leash_params_free(theta0);
    leash_params_free(c);
    leash_params_free(out);
}

static void torture_32_b0(void) { torture(32, 0, 8, TOTAL_PUBLISHES, 0); }
static void torture_32_b1(void) { torture(32, 1, 8, TOTAL_PUBLISHES, 0); }
static void torture_32_inf(void) { torture(32, LEASH_PERSIST_INF, 8, TOTAL_PUBLISHES, 0); }
static void torture_64_b0(void) { torture(64, 0, 8, TOTAL_PUBLISHES, 0); }
static void torture_64_b1(void) { torture(64, 1, 8, TOTAL_PUBLISHES, 0); }
static void torture_64_inf(void) { torture(64, LEASH_PERSIST_INF, 8, TOTAL_PUBLISHES, 0); }
/* Threads taking turns on a busy or single CPU may never be preempted inside a short
 * publish window (above, 1.2k parameters); a long one (130k) is hit every run, so
 * there B = 0 must drop gradients. */
static void contention_b0(void) { torture(4, 0, 90, 2048, 1); }

/* The pool protocol on one thread: references, generations, stale tags, LIFO reuse. */
static void pool_protocol(void)
{
    enum { N = 16 };
    float theta0[N];
    for (int j = 0; j < N; ++j) theta0[j] = (float)j;
    leash_vpool *p = NULL;
    ASSERT_INT_EQ(leash_vpool_create(&p, N, 5, theta0, 0), 0);
    ASSERT_INT_EQ(leash_vpool_peak(p), 1);
    ASSERT_INT_EQ(leash_vpool_free_count(p), 0);
    ASSERT_TRUE(p->slots[0].data[3] == 3.0f);

    /* Pin the initial version: latest's reference plus ours. */
    uint64_t old = leash_vpool_pin_latest(p);
    ASSERT_INT_EQ(leash_vp_index(old), 0);
    ASSERT_INT_EQ(leash_vp_refs(atomic_load(&p->slots[0].state)), 2);

    /* Replace latest with a fresh draft: the pool grows by one slot. */
    uint32_t d;
    ASSERT_INT_EQ(leash_vpool_acquire(p, &d), 0);
    ASSERT_INT_EQ(d, 1);
    ASSERT_INT_EQ(leash_vpool_peak(p), 2);
    ASSERT_INT_EQ(leash_vp_refs(atomic_load(&p->slots[d].state)), 1);
    ASSERT_INT_EQ(leash_vpool_install(p, old, d, 0), 1);
    ASSERT_INT_EQ(leash_vp_refs(atomic_load(&p->slots[0].state)), 1); /* only our pin */
    ASSERT_INT_EQ(leash_vpool_install(p, old, d, 0), 0); /* latest is no longer old */

    /* Releasing the last reference bumps the generation and frees the slot. */
    uint64_t before = atomic_load(&p->slots[0].state);
    leash_vpool_unref(p, 0);
    uint64_t after = atomic_load(&p->slots[0].state);
    ASSERT_INT_EQ(leash_vp_gen(after), leash_vp_gen(before) + 1);
    ASSERT_INT_EQ(leash_vp_refs(after), 0);
    ASSERT_INT_EQ(leash_vpool_free_count(p), 1);

    /* A reader still holding the old tag must not pin the recycled slot, neither while
     * it is free nor once it is reused and even published again. */
    ASSERT_INT_EQ(leash_vpool_try_pin(p, old), 0);
    uint32_t again;
    ASSERT_INT_EQ(leash_vpool_acquire(p, &again), 0);
    ASSERT_INT_EQ(again, 0); /* recycled before growing */
    ASSERT_INT_EQ(leash_vpool_peak(p), 2);
    ASSERT_INT_EQ(leash_vpool_try_pin(p, old), 0);
    uint64_t cur = leash_vpool_pin_latest(p);
    ASSERT_INT_EQ(leash_vp_index(cur), 1);
    /* Install dropping our pin of cur with latest's: slot 1 is retired and free. */
    ASSERT_INT_EQ(leash_vpool_install(p, cur, again, 1), 1);
    ASSERT_INT_EQ(leash_vp_refs(atomic_load(&p->slots[1].state)), 0);
    ASSERT_INT_EQ(leash_vpool_try_pin(p, old), 0);
    ASSERT_INT_EQ(atomic_load(&p->slots[0].state), leash_vp_gen(after) << LEASH_VP_LOW_BITS | 1);
    uint64_t now = leash_vpool_pin_latest(p);
    ASSERT_INT_EQ(leash_vp_index(now), 0);
    ASSERT_TRUE(now != old);
    ASSERT_INT_EQ(leash_vp_refs(atomic_load(&p->slots[0].state)), 2);
    leash_vpool_unref(p, 0);

    /* Free slots come back last in, first out; discarded drafts are recycled too. */
    uint32_t a, b, c;
    ASSERT_INT_EQ(leash_vpool_acquire(p, &a), 0); /* slot 1, from the free list */
    ASSERT_INT_EQ(leash_vpool_acquire(p, &b), 0); /* grows */
    ASSERT_INT_EQ(leash_vpool_acquire(p, &c), 0); /* grows */
    ASSERT_INT_EQ(a, 1);
    ASSERT_INT_EQ(leash_vpool_peak(p), 4);
    leash_vpool_unref(p, a);
    leash_vpool_unref(p, b);
    leash_vpool_unref(p, c);
    ASSERT_INT_EQ(leash_vpool_free_count(p), 3);
    uint32_t x, y, z;
    ASSERT_INT_EQ(leash_vpool_acquire(p, &x), 0);
    ASSERT_INT_EQ(leash_vpool_acquire(p, &y), 0);
    ASSERT_INT_EQ(leash_vpool_acquire(p, &z), 0);
    ASSERT_INT_EQ(x, c);
    ASSERT_INT_EQ(y, b);
    ASSERT_INT_EQ(z, a);
    ASSERT_INT_EQ(leash_vpool_peak(p), 4);
    leash_vpool_destroy(p);
}

/* The bound, reached: m workers each stopped mid-publish (a draft taken and a base
 * pinned, the point where it writes the draft) on successive versions, each retired by a
 * correction the main thread published in between (lsh_mix_apply, LSH's own code), then
 * one more correction: 2 (m + 1) slots are off the free list at once, every one of
 * them needed. The pool LSH sizes must hold exactly that: one slot fewer and the last
 * correction aborts (run in a child, so that an abort is a failed test). */
static int drive_to_bound(int m)
{
    leash_model model;
    if (leash_model_mlp(&model, 4, 4, 1, 10, 0, 1, LEASH_ACT_RELU)) return 10;
    const size_t n = model.nparams;
    leash_config cfg;
    make_config(&cfg, m, LEASH_PERSIST_INF, 0.0);
    float *theta0 = leash_params_alloc(n), *delta = leash_params_alloc(n);
    leash_stepper *stepper = NULL;
    if (!theta0 || !delta || leash_stepper_create(&stepper, LEASH_STEP_NONE, 1.0, m, TAU_MAX, 1.0))
        return 11;
    init_vectors(theta0, delta, n);
    leash_strategy_args args = {.model = &model, .theta0 = theta0, .cfg = &cfg, .stepper = stepper};
    leash_strategy *s = NULL;
    if (leash_lsh_ops.create(&s, &args)) return 12;
    leash_vpool *pool = leash_lsh_pool(s);
    uint32_t draft[64];
    uint64_t base[64];
    for (int w = 0; w < m; ++w) {
        if (leash_vpool_acquire(pool, &draft[w])) return 13;
        base[w] = leash_vpool_pin_latest(pool);
        if (leash_lsh_ops.mix_apply(s, delta)) return 14;
    }
    if (leash_lsh_ops.mix_apply(s, delta)) return 15; /* grows the pool to its bound */
    int rc = leash_vpool_peak(pool) == 2u * (uint32_t)(m + 1) ? 0 : 16;
    for (int w = 0; w < m; ++w) { /* the workers give up their stale drafts and pins */
        leash_vpool_unref(pool, leash_vp_index(base[w]));
        leash_vpool_unref(pool, draft[w]);
    }
    if (leash_vpool_free_count(pool) + 1 != leash_vpool_peak(pool)) rc = 17;
    leash_lsh_ops.destroy(s);
    leash_stepper_destroy(stepper);
    leash_model_free(&model);
    leash_params_free(theta0);
    leash_params_free(delta);
    return rc;
}

static void pool_bound_reached(void)
{
    static const int workers[] = {1, 3, 7, 63};
    for (unsigned k = 0; k < sizeof workers / sizeof *workers; ++k) {
        int m = workers[k], status = 0;
        fflush(NULL);
        pid_t child = fork();
        ASSERT_TRUE(child >= 0);
        if (child == 0) _exit(drive_to_bound(m));
        ASSERT_INT_EQ(waitpid(child, &status, 0), child);
        if (WIFSIGNALED(status))
            tap_diag("m = %d: the pool aborted (signal %d): it holds fewer than 2 (m + 1) versions",
                     m, WTERMSIG(status));
        ASSERT_TRUE(WIFEXITED(status));
        ASSERT_INT_EQ(WEXITSTATUS(status), 0);
    }
}

/* Per-worker momentum: worker 0 publishes v = c, 1.5 c, 1.75 c (mu = 1/2); the main
 * thread's publish (index `threads`) is applied as given. */
static void momentum_per_worker(void)
{
    leash_model model;
    ASSERT_INT_EQ(leash_model_mlp(&model, 4, 4, 1, 10, 0, 1, LEASH_ACT_RELU), 0);
    const size_t n = model.nparams;
    leash_config cfg;
    make_config(&cfg, 1, LEASH_PERSIST_INF, 0.5);
    float *theta0 = leash_params_alloc(n), *c = leash_params_alloc(n), *out = leash_params_alloc(n);
    uint64_t *hist = calloc(TAU_MAX + 1, sizeof *hist);
    ASSERT_TRUE(theta0 && c && out && hist);
    init_vectors(theta0, c, n);
    leash_stepper *stepper = NULL;
    ASSERT_INT_EQ(leash_stepper_create(&stepper, LEASH_STEP_NONE, 1.0, 1, TAU_MAX, 1.0), 0);
    leash_strategy_args args = {.model = &model, .theta0 = theta0, .cfg = &cfg, .stepper = stepper};
    leash_strategy *s = NULL;
    ASSERT_INT_EQ(leash_lsh_ops.create(&s, &args), 0);
    leash_worker_stats st = {.staleness = hist};
    for (uint64_t t = 0; t < 3; ++t) ASSERT_INT_EQ(leash_lsh_ops.publish(s, 0, c, t, &st), 1);
    ASSERT_INT_EQ(leash_lsh_ops.publish(s, 1, c, 3, &st), 1);
    uint64_t ts = 0;
    leash_lsh_ops.snapshot(s, out, &ts);
    ASSERT_INT_EQ(ts, 4);
    ASSERT_TRUE(is_version(out, 1 + 1.5 + 1.75 + 1, n));
    ASSERT_INT_EQ(st.updates, 4);
    ASSERT_INT_EQ(hist[0], 4);
    ASSERT_INT_EQ(leash_lsh_ops.peak_versions(s), 2); /* latest and one draft */
    leash_lsh_ops.destroy(s);
    leash_stepper_destroy(stepper);
    free(hist);
    leash_model_free(&model);
    leash_params_free(theta0);
    leash_params_free(c);
    leash_params_free(out);
}

static void rejects_bad_config(void)
{
    leash_model model;
    ASSERT_INT_EQ(leash_model_mlp(&model, 4, 4, 1, 10, 0, 1, LEASH_ACT_RELU), 0);
    float *theta0 = leash_params_alloc(model.nparams);
    leash_stepper *stepper = NULL;
    ASSERT_INT_EQ(leash_stepper_create(&stepper, LEASH_STEP_NONE, 1.0, 1, 8, 1.0), 0);
    leash_config cfg;
    leash_strategy_args args = {.model = &model, .theta0 = theta0, .cfg = &cfg, .stepper = stepper};
    leash_strategy *s = NULL;
    make_config(&cfg, 0, LEASH_PERSIST_INF, 0.0);
    ASSERT_INT_EQ(leash_lsh_ops.create(&s, &args), LEASH_EINVAL);
    ASSERT_STR_CONTAINS(leash_last_error(), "0 threads");
    make_config(&cfg, 40000, LEASH_PERSIST_INF, 0.0);
    ASSERT_INT_EQ(leash_lsh_ops.create(&s, &args), LEASH_EINVAL);
    make_config(&cfg, 2, -5, 0.0);
    ASSERT_INT_EQ(leash_lsh_ops.create(&s, &args), LEASH_EINVAL);
    ASSERT_STR_CONTAINS(leash_last_error(), "persistence bound -5");
    leash_stepper_destroy(stepper);
    leash_params_free(theta0);
    leash_model_free(&model);
}

int main(void)
{
    tap_plan(11);
    TAP_RUN(pool_protocol);
    TAP_RUN(pool_bound_reached);
    TAP_RUN(momentum_per_worker);
    TAP_RUN(rejects_bad_config);
    TAP_RUN(torture_32_b0);
    TAP_RUN(torture_32_b1);
    TAP_RUN(torture_32_inf);
    TAP_RUN(torture_64_b0);
    TAP_RUN(torture_64_b1);
    TAP_RUN(torture_64_inf);
    TAP_RUN(contention_b0);
    return tap_done();
}
