#include "leash/rng.h"
#include "tap.h"

static void test_deterministic(void)
{
    leash_rng a, b, c;
    leash_rng_seed(&a, 42);
    leash_rng_seed(&b, 42);
    leash_rng_seed(&c, 43);
    int differs = 0;
    for (int i = 0; i < 1000; ++i) {
        uint64_t x = leash_rng_next(&a), y = leash_rng_next(&b), z = leash_rng_next(&c);
        ASSERT_TRUE(x == y);
        differs += x != z;
    }
    ASSERT_INT_EQ(differs, 1000);
}

/* Chi-square over 10 buckets with 100000 draws: 99.99% of fair generators stay below
 * 33.7 (9 degrees of freedom), so this fails only for a biased bound. */
static void test_below_uniform(void)
{
    leash_rng r;
    leash_rng_seed(&r, 7);
    long count[10] = {0};
    const int n = 100000;
    for (int i = 0; i < n; ++i) {
        uint64_t v = leash_rng_below(&r, 10);
        ASSERT_TRUE(v < 10);
        ++count[v];
    }
    double chi2 = 0;
    for (int k = 0; k < 10; ++k) chi2 += (count[k] - n / 10.0) * (count[k] - n / 10.0) / (n / 10.0);
    ASSERT_DBL_LE(chi2, 33.7);
    /* A bound of 1 always gives 0; a huge bound stays below it. */
    ASSERT_TRUE(leash_rng_below(&r, 1) == 0);
    ASSERT_TRUE(leash_rng_below(&r, UINT64_MAX - 1) < UINT64_MAX - 1);
}

static void test_normal_moments(void)
{
    leash_rng r;
    leash_rng_seed(&r, 11);
    const int n = 200000;
    double sum = 0, sq = 0;
    for (int i = 0; i < n; ++i) {
        double x = leash_rng_normal(&r);
        ASSERT_TRUE(isfinite(x));
        sum += x;
        sq += x * x;
    }
    double mean = sum / n, var = sq / n - mean * mean;
    /* Standard errors: 1/sqrt(n) = 0.0022 for the mean, sqrt(2/n) = 0.0032 for the variance. */
    ASSERT_DBL_NEAR(mean, 0.0, 0.01);
    ASSERT_DBL_NEAR(var, 1.0, 0.015);
}

static void test_uniform_range(void)
{
    leash_rng r;
    leash_rng_seed(&r, 3);
    double lo = 1, hi = 0;
    for (int i = 0; i < 100000; ++i) {
        double u = leash_rng_uniform(&r);
        ASSERT_TRUE(u >= 0.0 && u < 1.0);
        lo = u < lo ? u : lo;
        hi = u > hi ? u : hi;
    }
    ASSERT_DBL_LE(lo, 1e-3);
    ASSERT_DBL_GE(hi, 1 - 1e-3);
}

static void test_shuffle_is_permutation(void)
{
    enum { N = 1000 };
    uint32_t idx[N];
    for (uint32_t i = 0; i < N; ++i) idx[i] = i;
    leash_rng r;
    leash_rng_seed(&r, 99);
    leash_rng_shuffle_u32(&r, idx, N);
    int seen[N] = {0}, fixed = 0;
    for (uint32_t i = 0; i < N; ++i) {
        ASSERT_TRUE(idx[i] < N);
        ++seen[idx[i]];
        fixed += idx[i] == i;
    }
    for (int i = 0; i < N; ++i) ASSERT_INT_EQ(seen[i], 1);
    /* A random permutation has about one fixed point; 20 would mean it barely moved. */
    ASSERT_INT_LE(fixed, 20);
}

int main(void)
{
    tap_plan(5);
    TAP_RUN(test_deterministic);
    TAP_RUN(test_below_uniform);
    TAP_RUN(test_normal_moments);
    TAP_RUN(test_uniform_range);
    TAP_RUN(test_shuffle_is_permutation);
    return tap_done();
}
