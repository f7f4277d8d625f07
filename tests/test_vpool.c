/* The version pool's free list against ABA, in a deterministic interleaving.
 *
 * This program builds its own copy of src/sync/version_pool.c with
 * LEASH_VPOOL_TEST_HOOKS, which calls leash_vpool_pop_window inside pop, after it read the
 * top slot X and X's link to Y, before its CAS on the head. There, acting as a second
 * thread, the test pops X, pops Y and pushes X back: the head names X again, now linked
 * to Z, while Y is in use. The head's counter must make the first pop's CAS fail, so that
 * it retries and hands out X with Z left on the list; without it the CAS would succeed,
 * put Y (taken) back at the head, and the next acquire would hand out Y a second time. */
#include "leash/leash.h"
#include "sync/version_pool_internal.h"
#include "tap.h"

enum { N = 8 };

static uint32_t taken_y; /* the slot the interleaved thread holds */
static int windows;      /* times the window was entered */

static void interleave(leash_vpool *p)
{
    ++windows;
    leash_vpool_pop_window = NULL; /* once, and not inside our own pops */
    uint32_t x, y;
    ASSERT_INT_EQ(leash_vpool_acquire(p, &x), 0);
    ASSERT_INT_EQ(leash_vpool_acquire(p, &y), 0);
    taken_y = y;
    leash_vpool_unref(p, x); /* X back on top, linked to Z */
}

static void free_list_aba(void)
{
    float theta0[N] = {0};
    leash_vpool *p = NULL;
    ASSERT_INT_EQ(leash_vpool_create(&p, N, 8, theta0, 0), 0);
    uint32_t z, y, x;
    ASSERT_INT_EQ(leash_vpool_acquire(p, &z), 0);
    ASSERT_INT_EQ(leash_vpool_acquire(p, &y), 0);
    ASSERT_INT_EQ(leash_vpool_acquire(p, &x), 0);
    leash_vpool_unref(p, z);
    leash_vpool_unref(p, y);
    leash_vpool_unref(p, x); /* free list: X -> Y -> Z */
    ASSERT_INT_EQ(leash_vpool_free_count(p), 3);

    leash_vpool_pop_window = interleave;
    uint32_t first, second;
    ASSERT_INT_EQ(leash_vpool_acquire(p, &first), 0);
    ASSERT_INT_EQ(windows, 1);
    ASSERT_INT_EQ(taken_y, y);
    ASSERT_INT_EQ(first, x);
    ASSERT_INT_EQ(leash_vpool_acquire(p, &second), 0);
    if (second == y) tap_diag("slot %u handed out twice: the stale pop's CAS succeeded", y);
    ASSERT_INT_EQ(second, z);
    ASSERT_INT_EQ(leash_vpool_free_count(p), 0);
    ASSERT_INT_EQ(leash_vpool_peak(p), 4); /* no slot lost or grown */
    leash_vpool_destroy(p);
}

int main(void)
{
    tap_plan(1);
    TAP_RUN(free_list_aba);
    return tap_done();
}
