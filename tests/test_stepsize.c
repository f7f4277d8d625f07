/* Staleness-adaptive step sizes against their definitions (doc/design.md, section 4). */
#include "leash/error.h"
#include "sync/stepsize_internal.h"
#include "tap.h"

static leash_stepper *make(leash_step_policy p, int threads, int tau_max, double amplitude)
{
    leash_stepper *s = NULL;
    if (leash_stepper_create(&s, p, 0.5, threads, tau_max, amplitude) != 0) return NULL;
    return s;
}

static void none_is_constant(void)
{
    leash_stepper *s = make(LEASH_STEP_NONE, 4, 200, 1.0);
    ASSERT_NOT_NULL(s);
    ASSERT_TRUE(leash_stepper_eta(s, 0) == 0.5f);
    ASSERT_TRUE(leash_stepper_eta(s, 1000000) == 0.5f);
    leash_stepper_destroy(s);
}

static void inverse_and_clamp(void)
{
    leash_stepper *s = make(LEASH_STEP_INVERSE, 4, 10, 1.0);
    ASSERT_NOT_NULL(s);
    for (int tau = 0; tau <= 10; ++tau) ASSERT_TRUE(leash_stepper_eta(s, (uint64_t)tau) == (float)(0.5 / (tau + 1)));
    /* Staleness beyond tau_max is clamped to it. */
    ASSERT_TRUE(leash_stepper_eta(s, 11) == leash_stepper_eta(s, 10));
    ASSERT_TRUE(leash_stepper_eta(s, UINT64_MAX) == leash_stepper_eta(s, 10));
    leash_stepper_destroy(s);
}

/* beta = (2/T) ln(1 + floor(T/2)) with T = m + 1 makes FLEET equal INVERSE at tau = T/2. */
static void fleet_matches_inverse_at_half_t(void)
{
    for (int m = 1; m <= 31; m += 2) { /* T = m + 1 even, so T/2 is a whole staleness */
        leash_stepper *f = make(LEASH_STEP_FLEET, m, 200, 1.0);
        leash_stepper *i = make(LEASH_STEP_INVERSE, m, 200, 1.0);
        ASSERT_TRUE(f && i);
        uint64_t half = (uint64_t)(m + 1) / 2;
        ASSERT_DBL_NEAR(leash_stepper_eta(f, half), leash_stepper_eta(i, half), 1e-6);
        ASSERT_TRUE(leash_stepper_eta(f, 0) == 0.5f);
        double beta = 2.0 / (m + 1) * log(1.0 + floor((m + 1) / 2.0));
        ASSERT_DBL_NEAR(leash_stepper_eta(f, 3), 0.5 * exp(-3 * beta), 1e-7);
        leash_stepper_destroy(f);
        leash_stepper_destroy(i);
    }
}

/* TAIL is NONE until 5m gradient updates from index 10m on are sampled (without
 * corrections: indices 10m .. 15m - 1); then eta (1 + A (1 - 2 F(tau))) with F the
 * sampled fraction below tau. */
static void tail_uses_the_sampled_window(void)
{
    const int m = 4; /* window: indices 40..59, 20 samples */
    leash_stepper *s = make(LEASH_STEP_TAIL, m, 50, 0.5);
    ASSERT_NOT_NULL(s);
    /* Before the window: ignored. */
    for (uint64_t i = 0; i < 40; ++i) leash_stepper_observe(s, i, 30);
    /* Inside: staleness 0 x 10, 2 x 5, 7 x 4, 60 (clamped to 50) x 1. */
    static const uint64_t taus[20] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 2, 2, 2, 7, 7, 7, 7, 60};
    for (uint64_t i = 0; i < 19; ++i) {
        leash_stepper_observe(s, 40 + i, taus[i]);
        ASSERT_TRUE(leash_stepper_eta(s, 5) == 0.5f); /* not complete yet: NONE */
    }
    leash_stepper_observe(s, 59, taus[19]);
    /* F(0) = 0, F(1) = F(2) = 10/20, F(3..7) = 15/20, F(8..50) = 19/20. */
    ASSERT_TRUE(leash_stepper_eta(s, 0) == (float)(0.5 * (1 + 0.5 * (1 - 0.0))));
    ASSERT_TRUE(leash_stepper_eta(s, 1) == (float)(0.5 * (1 + 0.5 * (1 - 1.0))));
    ASSERT_TRUE(leash_stepper_eta(s, 5) == (float)(0.5 * (1 + 0.5 * (1 - 1.5))));
    ASSERT_TRUE(leash_stepper_eta(s, 8) == (float)(0.5 * (1 + 0.5 * (1 - 1.9))));
    ASSERT_TRUE(leash_stepper_eta(s, 1000) == leash_stepper_eta(s, 50));
    /* After the sample: ignored. */
    leash_stepper_observe(s, 61, 0);
    ASSERT_TRUE(leash_stepper_eta(s, 5) == (float)(0.5 * (1 + 0.5 * (1 - 1.5))));
    leash_stepper_destroy(s);
}

/* An averaging correction takes update index 45 and reports nothing (it is no
 * gradient): the sample still completes, with the next gradient (index 60). */
static void tail_completes_around_a_correction(void)
{
    const int m = 4;
    leash_stepper *s = make(LEASH_STEP_TAIL, m, 50, 1.0);
    ASSERT_NOT_NULL(s);
    for (uint64_t i = 40; i <= 60; ++i)
        if (i != 45) leash_stepper_observe(s, i, i < 50 ? 0 : 3);
    ASSERT_TRUE(leash_stepper_eta(s, 0) == 1.0f); /* 0.5 (1 + 1 (1 - 0)) */
    ASSERT_TRUE(leash_stepper_eta(s, 10) == 0.0f); /* F = 1 */
    leash_stepper_destroy(s);
}

static void rejects_bad_parameters(void)
{
    leash_stepper *s;
    ASSERT_INT_EQ(leash_stepper_create(&s, LEASH_STEP_TAIL, 0.5, 2, 200, 1.5), LEASH_EINVAL);
    ASSERT_INT_EQ(leash_stepper_create(&s, LEASH_STEP_NONE, 0.0, 2, 200, 1.0), LEASH_EINVAL);
    ASSERT_INT_EQ(leash_stepper_create(&s, LEASH_STEP_NONE, 0.5, 0, 200, 1.0), LEASH_EINVAL);
    ASSERT_INT_EQ(leash_stepper_create(&s, LEASH_STEP_NONE, 0.5, 2, -1, 1.0), LEASH_EINVAL);
}

int main(void)
{
    tap_plan(6);
    TAP_RUN(none_is_constant);
    TAP_RUN(inverse_and_clamp);
    TAP_RUN(fleet_matches_inverse_at_half_t);
    TAP_RUN(tail_uses_the_sampled_window);
    TAP_RUN(tail_completes_around_a_correction);
    TAP_RUN(rejects_bad_parameters);
    return tap_done();
}
