/* Consistency of every strategy, driven through the strategy interface with a known
 * constant gradient c: after U updates the parameters must be exactly theta0 - eta U c
 * (the values are multiples of 2^-11, so float arithmetic is exact in any order) and
 * the timestamp U. HOG may lose updates by design: the test measures how many. */
#include <pthread.h>
#include <stdlib.h>

#include "leash/leash.h"
#include "sync/strategy_internal.h"
#include "tap.h"
#include "testutil.h"

enum { PUBLISHES = 200 };

typedef struct run {
    const leash_strategy_ops *ops;
    leash_strategy *s;
    const float *c;
    size_t n;
    int w;
    leash_worker_stats stats;
    int diverged_read; /* a read saw a vector that is not theta0 - k eta c for one k */
    const float *theta0;
    float eta;
} run;

static void *worker(void *arg)
{
    run *r = arg;
    for (int k = 0; k < PUBLISHES; ++k) {
        uint64_t ts;
        const float *v = r->ops->read(r->s, r->w, &ts, &r->stats);
        if (r->ops->algorithm != LEASH_ALGO_HOG && !tu_consistent(v, r->theta0, r->c, r->eta, r->n))
            r->diverged_read = 1;
        r->ops->release(r->s, r->w, v);
        ++r->stats.gradients;
        r->ops->publish(r->s, r->w, r->c, ts, &r->stats);
    }
    return NULL;
}

/* Run m threads of PUBLISHES each; returns total updates, fills theta and timestamp. */
static int drive(leash_algorithm algo, int m, float *theta, uint64_t *timestamp, uint64_t *updates,
                 int *inconsistent_reads)
{
    leash_model model;
    if (leash_model_mlp(&model, 4, 4, 1, 10, 1, 8, LEASH_ACT_RELU)) return -1;
    size_t n = model.nparams;
    leash_config cfg;
    leash_config_defaults(&cfg);
    cfg.algorithm = algo;
    cfg.threads = m;
    cfg.step = 0.5;
    float *theta0 = leash_params_alloc(n), *c = leash_params_alloc(n);
    for (size_t i = 0; i < n; ++i) {
        theta0[i] = (float)(i % 7) * 0.5f;
        c[i] = (float)(i % 3 + 1) / 1024.0f;
    }
    leash_stepper *stepper;
    if (leash_stepper_create(&stepper, LEASH_STEP_NONE, cfg.step, m, cfg.tau_max, 1.0)) return -1;
    leash_strategy_args args = {.model = &model, .theta0 = theta0, .cfg = &cfg, .stepper = stepper};
    const leash_strategy_ops *ops = leash_strategy_for(algo);
    leash_strategy *s;
    if (ops->create(&s, &args)) return -1;
    run *runs = calloc((size_t)m, sizeof *runs);
    pthread_t *th = calloc((size_t)m, sizeof *th);
    for (int w = 0; w < m; ++w) {
        runs[w] = (run){.ops = ops, .s = s, .c = c, .n = n, .w = w, .theta0 = theta0, .eta = 0.5f};
        runs[w].stats.staleness = calloc((size_t)cfg.tau_max + 1, sizeof(uint64_t));
        pthread_create(&th[w], NULL, worker, &runs[w]);
    }
    *updates = 0;
    *inconsistent_reads = 0;
    for (int w = 0; w < m; ++w) {
        pthread_join(th[w], NULL);
        *updates += runs[w].stats.updates;
        *inconsistent_reads += runs[w].diverged_read;
        free(runs[w].stats.staleness);
    }
    ops->snapshot(s, theta, timestamp);
    ops->destroy(s);
    leash_stepper_destroy(stepper);
    free(runs);
    free(th);
    leash_model_free(&model);
    leash_params_free(theta0);
    leash_params_free(c);
    return (int)n;
}

static void check_exact(leash_algorithm algo)
{
    static const int threads[] = {1, 2, 8, 32};
    float *theta = leash_params_alloc(1 << 12);
    for (unsigned t = 0; t < sizeof threads / sizeof *threads; ++t) {
        int m = threads[t];
        if (algo == LEASH_ALGO_SEQ && m > 1) break;
        uint64_t ts, updates;
        int bad_reads;
        int n = drive(algo, m, theta, &ts, &updates, &bad_reads);
        ASSERT_TRUE(n > 0);
        /* SYNC turns m gradients into one update; the others one each. */
        uint64_t expect = algo == LEASH_ALGO_SYNC ? PUBLISHES : (uint64_t)m * PUBLISHES;
        ASSERT_INT_EQ(updates, expect);
        ASSERT_INT_EQ(ts, expect);
        ASSERT_INT_EQ(bad_reads, 0);
        int wrong = 0;
        for (int i = 0; i < n; ++i) {
            float want = (float)(i % 7) * 0.5f - 0.5f * (float)expect * (float)(i % 3 + 1) / 1024.0f;
            /* Padding entries are updated like the others, so the formula covers all. */
            wrong += theta[i] != want;
        }
        if (wrong) tap_diag("%s at %d threads: %d parameters differ", leash_algorithm_name(algo), m, wrong);
        ASSERT_INT_EQ(wrong, 0);
    }
    leash_params_free(theta);
}

static void seq_consistent(void) { check_exact(LEASH_ALGO_SEQ); }
static void sync_consistent(void) { check_exact(LEASH_ALGO_SYNC); }
static void async_consistent(void) { check_exact(LEASH_ALGO_ASYNC); }
static void lsh_consistent(void) { check_exact(LEASH_ALGO_LSH); }

/* HOGWILD! may lose updates: every parameter ends between theta0 - eta U c (nothing
 * lost) and theta0 (everything lost), at a whole number of applied updates; one thread
 * loses nothing. */
static void hog_lost_updates(void)
{
    static const int threads[] = {1, 2, 8, 32};
    float *theta = leash_params_alloc(1 << 12);
    for (unsigned t = 0; t < sizeof threads / sizeof *threads; ++t) {
        int m = threads[t];
        uint64_t ts, updates;
        int bad_reads;
        int n = drive(LEASH_ALGO_HOG, m, theta, &ts, &updates, &bad_reads);
        ASSERT_TRUE(n > 0);
        ASSERT_INT_EQ(updates, (uint64_t)m * PUBLISHES);
        double lost_sum = 0, lost_max = 0;
        for (int i = 0; i < n; ++i) {
            double step = 0.5 * (double)(i % 3 + 1) / 1024.0;
            double applied = ((double)(i % 7) * 0.5 - theta[i]) / step;
            ASSERT_TRUE(applied >= 0 && applied <= (double)updates);
            ASSERT_TRUE(applied == (double)(long)applied);
            double lost = (double)updates - applied;
            lost_sum += lost;
            lost_max = lost > lost_max ? lost : lost_max;
        }
        tap_diag("HOG at %2d threads: %llu updates, lost per parameter: mean %.1f (%.2f%%), max %.0f",
                 m, (unsigned long long)updates, lost_sum / n, 100.0 * lost_sum / n / (double)updates,
                 lost_max);
        if (m == 1) ASSERT_DBL_NEAR(lost_sum, 0.0, 0.0);
    }
    leash_params_free(theta);
}

int main(void)
{
    tap_plan(5);
    TAP_RUN(seq_consistent);
    TAP_RUN(sync_consistent);
    TAP_RUN(async_consistent);
    TAP_RUN(lsh_consistent);
    TAP_RUN(hog_lost_updates);
    return tap_done();
}
