/* Convergence on Fashion-MNIST with 2 worker threads: every strategy reaches test
 * accuracy >= 0.84 with the MLP (L = 3, U = 128, b = 512) within 10 epochs, and LSH does
 * with persistence bound 0 and infinity alike. The step is 0.1 with momentum 0.9: with
 * the plain default (0.5, no momentum) the parallel runs end between 0.83 and 0.85, too
 * close to the bound for a test that must not flake; with momentum they end between
 * 0.85 and 0.87 (BENCHMARKS.md). An asynchronous run at this step size blows up now and
 * then (LSH with B = 0 once, during a make distcheck that ran two test programs on the
 * 2 cores: best 0.50 at epoch 2, then 0.10), so a strategy passes if it reaches the
 * bound with seed 1 or, failing that, seed 2: a strategy that does not learn still fails.
 * Minutes of work, so the sanitizer builds skip it (LEASH_SKIP_SLOW). */
#include <stdlib.h>

#include "leash/leash.h"
#include "tap.h"

static leash_dataset train_set, test_set;
static int have_data;

static void converge(leash_algorithm algo, long persistence)
{
    if (!have_data) TAP_SKIP("Fashion-MNIST not found (LEASH_FASHION_DIR)");
    if (getenv("LEASH_SKIP_SLOW")) TAP_SKIP("LEASH_SKIP_SLOW is set");
    double best_accuracy = 0.0;
    for (uint64_t seed = 1; seed <= 2 && best_accuracy < 0.84; ++seed) {
        leash_config c;
        leash_config_defaults(&c);
        c.algorithm = algo;
        c.threads = 2;
        c.persistence = persistence;
        c.step = 0.1;
        c.momentum = 0.9;
        c.seed = seed;
        leash_result r;
        ASSERT_INT_EQ(leash_train(&c, &train_set, &test_set, &r, NULL, NULL), 0);
        int best = 0;
        for (int e = 1; e < r.nepochs; ++e)
            if (r.epochs[e].test_accuracy > r.epochs[best].test_accuracy) best = e;
        tap_diag("%-5s B=%-3ld seed %llu: final accuracy %.4f, best %.4f at epoch %d, %.1f s, "
                 "%llu updates, %llu dropped",
                 leash_algorithm_name(algo), persistence, (unsigned long long)seed,
                 r.epochs[r.nepochs - 1].test_accuracy, r.epochs[best].test_accuracy, best + 1,
                 r.time_s, (unsigned long long)r.updates, (unsigned long long)r.dropped);
        best_accuracy = r.epochs[best].test_accuracy;
        leash_result_free(&r);
    }
    ASSERT_DBL_GE(best_accuracy, 0.84);
}

static void sync_converges(void) { converge(LEASH_ALGO_SYNC, LEASH_PERSIST_INF); }
static void async_converges(void) { converge(LEASH_ALGO_ASYNC, LEASH_PERSIST_INF); }
static void hog_converges(void) { converge(LEASH_ALGO_HOG, LEASH_PERSIST_INF); }
static void lsh_converges(void) { converge(LEASH_ALGO_LSH, LEASH_PERSIST_INF); }
static void lsh_b0_converges(void) { converge(LEASH_ALGO_LSH, 0); }

int main(void)
{
    const char *dir = getenv("LEASH_FASHION_DIR");
    if (!dir) dir = "/usr/share/datasets/fashion-mnist";
    have_data = leash_dataset_load(&train_set, LEASH_DATA_FASHION_MNIST, dir, LEASH_SPLIT_TRAIN) == 0 &&
                leash_dataset_load(&test_set, LEASH_DATA_FASHION_MNIST, dir, LEASH_SPLIT_TEST) == 0;
    tap_plan(5);
    TAP_RUN(sync_converges);
    TAP_RUN(async_converges);
    TAP_RUN(hog_converges);
    TAP_RUN(lsh_converges);
    TAP_RUN(lsh_b0_converges);
    leash_dataset_free(&train_set);
    leash_dataset_free(&test_set);
    return tap_done();
}
