/* The averaging layer's strategy operations, on one rank (no MPI needed).
 *
 * Strategy level: workers publish a constant gradient c while the main thread reads
 * versions (mix_read) and applies corrections (mix_apply) of +3 eta c, i.e. "undo three
 * updates". Every version read must be consistent (theta0 - k eta c for one k), and the
 * end state exact: theta0 - eta (U - 3 R) c with timestamp U + R (values are multiples
 * of 2^-11, so float arithmetic is exact in any order). Trainer level: rounds happen as
 * often as --avg-every / --avg-period ask, and training still learns. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "mpi/averaging_internal.h"
#include "leash/leash.h"
#include "sync/strategy_internal.h"
#include "tap.h"
#include "testutil.h"

enum { PUBLISHES = 300, ROUNDS = 40 };

typedef struct shared {
    const leash_strategy_ops *ops;
    leash_strategy *s;
    const float *c;
    _Atomic int finished; /* workers done; release/acquire orders their writes before ours */
} shared;

typedef struct run {
    shared *sh;
    int w;
    leash_worker_stats stats;
} run;

static void *worker(void *arg)
{
    run *r = arg;
    shared *sh = r->sh;
    for (int k = 0; k < PUBLISHES; ++k) {
        uint64_t ts;
        const float *v = sh->ops->read(sh->s, r->w, &ts, &r->stats);
        sh->ops->release(sh->s, r->w, v);
        sh->ops->publish(sh->s, r->w, sh->c, ts, &r->stats);
    }
    atomic_fetch_add_explicit(&sh->finished, 1, memory_order_release);
    return NULL;
}

/* Wait for a posted request as the trainer does: a worker carries it out, or we do once
 * every worker has finished. */
static void complete(shared *sh, int m)
{
    while (sh->ops->mix_pending(sh->s)) {
        if (atomic_load_explicit(&sh->finished, memory_order_acquire) == m) {
            sh->ops->mix_serve(sh->s);
            return;
        }
        sched_yield();
    }
}

static void check_mix(leash_algorithm algo, int m)
{
    leash_model model;
    ASSERT_INT_EQ(leash_model_mlp(&model, 4, 4, 1, 10, 1, 8, LEASH_ACT_RELU), 0);
    size_t n = model.nparams;
    leash_config cfg;
    leash_config_defaults(&cfg);
    cfg.algorithm = algo;
    cfg.threads = m;
    cfg.step = 0.5;
    float *theta0 = leash_params_alloc(n), *c = leash_params_alloc(n);
    float *delta = leash_params_alloc(n), *seen = leash_params_alloc(n), *end = leash_params_alloc(n);
    for (size_t i = 0; i < n; ++i) {
        theta0[i] = (float)(i % 7) * 0.5f;
        c[i] = (float)(i % 3 + 1) / 1024.0f;
        delta[i] = 3.0f * 0.5f * c[i];
    }
    leash_stepper *stepper;
    ASSERT_INT_EQ(leash_stepper_create(&stepper, LEASH_STEP_NONE, cfg.step, m, cfg.tau_max, 1.0), 0);
    leash_strategy_args args = {.model = &model, .theta0 = theta0, .cfg = &cfg, .stepper = stepper};
    shared sh = {.ops = leash_strategy_for(algo), .c = c};
    atomic_init(&sh.finished, 0);
    ASSERT_INT_EQ(sh.ops->create(&sh.s, &args), 0);
    run *runs = calloc((size_t)m, sizeof *runs);
    pthread_t *th = calloc((size_t)m, sizeof *th);
    for (int w = 0; w < m; ++w) {
        runs[w] = (run){.sh = &sh, .w = w};
        runs[w].stats.staleness = calloc((size_t)cfg.tau_max + 1, sizeof(uint64_t));
        pthread_create(&th[w], NULL, worker, &runs[w]);
    }
    int torn = 0;
    for (int r = 0; r < ROUNDS; ++r) {
        int rc = sh.ops->mix_read(sh.s, seen);
        if (rc == 1) complete(&sh, m);
        torn += algo != LEASH_ALGO_HOG && !tu_consistent(seen, theta0, c, 0.5f, n);
        rc = sh.ops->mix_apply(sh.s, delta);
        ASSERT_TRUE(rc == 0 || rc == 1);
        if (rc == 1) complete(&sh, m);
    }
    uint64_t updates = 0;
    double mix_time = 0;
    for (int w = 0; w < m; ++w) {
        pthread_join(th[w], NULL);
        updates += runs[w].stats.updates;
        mix_time += runs[w].stats.time_mix;
        free(runs[w].stats.staleness);
    }
    uint64_t ts;
    sh.ops->snapshot(sh.s, end, &ts);
    ASSERT_INT_EQ(torn, 0);
    /* LSH's bound with the main thread's pins and drafts counted: 2 (m + 1) live
     * versions (the pool holds no more; tests/torture reaches it). */
    if (algo == LEASH_ALGO_LSH) ASSERT_INT_LE(sh.ops->peak_versions(sh.s), 2 * (m + 1));
    ASSERT_INT_EQ(ts, updates + ROUNDS);
    /* Only SEQ's and SYNC's workers do the layer's work. */
    if (algo != LEASH_ALGO_SEQ && algo != LEASH_ALGO_SYNC) ASSERT_DBL_NEAR(mix_time, 0.0, 0.0);
    if (algo != LEASH_ALGO_HOG) {
        int wrong = 0;
        for (size_t i = 0; i < n; ++i)
            wrong += end[i] != theta0[i] - 0.5f * ((float)updates - 3.0f * ROUNDS) * c[i];
        if (wrong) tap_diag("%s at %d threads: %d parameters differ", leash_algorithm_name(algo), m, wrong);
        ASSERT_INT_EQ(wrong, 0);
    }
    sh.ops->destroy(sh.s);
    leash_stepper_destroy(stepper);
    free(runs);
    free(th);
    leash_model_free(&model);
    leash_params_free(theta0);
    leash_params_free(c);
    leash_params_free(delta);
    leash_params_free(seen);
    leash_params_free(end);
}

static void seq_mix(void) { check_mix(LEASH_ALGO_SEQ, 1); }
static void sync_mix(void)
{
    check_mix(LEASH_ALGO_SYNC, 2);
    check_mix(LEASH_ALGO_SYNC, 8);
}
static void async_mix(void)
{
    check_mix(LEASH_ALGO_ASYNC, 2);
    check_mix(LEASH_ALGO_ASYNC, 16);
}
static void lsh_mix(void)
{
    check_mix(LEASH_ALGO_LSH, 2);
    check_mix(LEASH_ALGO_LSH, 32);
}
static void hog_mix(void) { check_mix(LEASH_ALGO_HOG, 8); }

static leash_dataset train_set, test_set;

static int train_with(leash_algorithm algo, int threads, long every, double period, leash_result *r)
{
    leash_config c;
    leash_config_defaults(&c);
    c.algorithm = algo;
    c.threads = threads;
    c.batch = 32;
    c.epochs = 3;
    c.step = 0.1;
    c.init = LEASH_INIT_HE;
    c.avg_every = every;
    c.avg_period = period;
    return leash_train(&c, &train_set, &test_set, r, NULL, NULL);
}

/* Rounds every K updates: one each time K more updates were published (the main thread
 * polls every millisecond, so a round may start a few updates late, never early; none
 * run between epochs with one rank), and training learns as without them. */
static void trainer_rounds(void)
{
    static const leash_algorithm algos[] = {LEASH_ALGO_SEQ, LEASH_ALGO_SYNC, LEASH_ALGO_ASYNC,
                                            LEASH_ALGO_HOG, LEASH_ALGO_LSH};
    for (unsigned a = 0; a < sizeof algos / sizeof *algos; ++a) {
        leash_result r;
        int m = algos[a] == LEASH_ALGO_SEQ ? 1 : 2;
        ASSERT_INT_EQ(train_with(algos[a], m, 10, 0.0, &r), 0);
        ASSERT_INT_LE(r.averagings, r.updates / 10);
        ASSERT_TRUE(r.averagings >= 1);
        ASSERT_TRUE(r.time_mpi_s <= r.time_averaging_s);
        tap_diag("%s: %llu updates, %llu rounds, accuracy %.3f", leash_algorithm_name(algos[a]),
                 (unsigned long long)r.updates, (unsigned long long)r.averagings,
                 r.epochs[r.nepochs - 1].test_accuracy);
        ASSERT_TRUE(r.epochs[r.nepochs - 1].test_accuracy > 0.6);
        leash_result_free(&r);
    }
}

/* Rounds by time: a period far shorter than an epoch gives rounds; none without. */
static void trainer_period(void)
{
    leash_result r;
    ASSERT_INT_EQ(train_with(LEASH_ALGO_LSH, 2, 0, 0.002, &r), 0);
    ASSERT_TRUE(r.averagings >= 2);
    leash_result_free(&r);
    ASSERT_INT_EQ(train_with(LEASH_ALGO_LSH, 2, 0, 0.0, &r), 0);
    ASSERT_INT_EQ(r.averagings, 0);
    leash_result_free(&r);
}

int main(void)
{
    tap_plan(7);
    TAP_RUN(seq_mix);
    TAP_RUN(sync_mix);
    TAP_RUN(async_mix);
    TAP_RUN(lsh_mix);
    TAP_RUN(hog_mix);
    if (leash_synth_generate(&train_set, &test_set, 2000, 500, 28, 28, 11) != 0) {
        tap_diag("cannot generate the synthetic data");
        return 1;
    }
    TAP_RUN(trainer_rounds);
    TAP_RUN(trainer_period);
    leash_dataset_free(&train_set);
    leash_dataset_free(&test_set);
    return tap_done();
}
