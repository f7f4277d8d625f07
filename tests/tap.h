/* Minimal TAP producer for the test programs (read by Automake's tap-driver.sh).
 *
 * Each test file declares its checks with ASSERT_* macros inside functions run by
 * TAP_RUN; a failing assertion prints a diagnostic, marks the current test "not ok"
 * and returns from the test function, so one broken check cannot cascade. */
#ifndef LEASH_TESTS_TAP_H
#define LEASH_TESTS_TAP_H

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int tap_count;
static int tap_failed;
static int tap_current_failed;
static const char *tap_skip_reason;

static void tap_diag(const char *fmt, ...) __attribute__((format(printf, 1, 2), unused));
static void tap_diag(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("# ", stdout);
    vfprintf(stdout, fmt, ap);
    fputc('\n', stdout);
    va_end(ap);
}

#define TAP_FAIL_AT(...)                                                          \
    do {                                                                          \
        tap_diag("%s:%d: assertion failed", __FILE__, __LINE__);                  \
        tap_diag(__VA_ARGS__);                                                    \
        tap_current_failed = 1;                                                   \
        return;                                                                   \
    } while (0)

#define ASSERT_TRUE(c)                                                            \
    do {                                                                          \
        if (!(c)) TAP_FAIL_AT("expected true: %s", #c);                           \
    } while (0)

#define ASSERT_INT_EQ(a, b)                                                       \
    do {                                                                          \
        long long tap_a_ = (long long)(a), tap_b_ = (long long)(b);               \
        if (tap_a_ != tap_b_) TAP_FAIL_AT("%s == %s: %lld != %lld", #a, #b, tap_a_, tap_b_); \
    } while (0)

#define ASSERT_SIZE_EQ(a, b)                                                      \
    do {                                                                          \
        size_t tap_a_ = (size_t)(a), tap_b_ = (size_t)(b);                        \
        if (tap_a_ != tap_b_) TAP_FAIL_AT("%s == %s: %zu != %zu", #a, #b, tap_a_, tap_b_); \
    } while (0)

#define ASSERT_INT_LE(a, b)                                                       \
    do {                                                                          \
        long long tap_a_ = (long long)(a), tap_b_ = (long long)(b);               \
        if (!(tap_a_ <= tap_b_)) TAP_FAIL_AT("%s <= %s: %lld > %lld", #a, #b, tap_a_, tap_b_); \
    } while (0)

#define ASSERT_DBL_LE(a, b)                                                       \
    do {                                                                          \
        double tap_a_ = (double)(a), tap_b_ = (double)(b);                        \
        if (!(tap_a_ <= tap_b_)) TAP_FAIL_AT("%s <= %s: %.9g > %.9g", #a, #b, tap_a_, tap_b_); \
    } while (0)

#define ASSERT_DBL_GE(a, b)                                                       \
    do {                                                                          \
        double tap_a_ = (double)(a), tap_b_ = (double)(b);                        \
        if (!(tap_a_ >= tap_b_)) TAP_FAIL_AT("%s >= %s: %.9g < %.9g", #a, #b, tap_a_, tap_b_); \
    } while (0)

/* |a - b| <= tol */
#define ASSERT_DBL_NEAR(a, b, tol)                                                \
    do {                                                                          \
        double tap_a_ = (double)(a), tap_b_ = (double)(b), tap_t_ = (double)(tol); \
        if (!(fabs(tap_a_ - tap_b_) <= tap_t_))                                   \
            TAP_FAIL_AT("%s ~ %s: %.9g vs %.9g (tolerance %.3g)", #a, #b, tap_a_, tap_b_, tap_t_); \
    } while (0)

#define ASSERT_STR_EQ(a, b)                                                       \
    do {                                                                          \
        const char *tap_a_ = (a), *tap_b_ = (b);                                  \
        if (!tap_a_ || !tap_b_ || strcmp(tap_a_, tap_b_) != 0)                    \
            TAP_FAIL_AT("%s == %s: \"%s\" != \"%s\"", #a, #b, tap_a_ ? tap_a_ : "(null)", \
                        tap_b_ ? tap_b_ : "(null)");                              \
    } while (0)

/* Substring check, for error messages that embed a path. */
#define ASSERT_STR_CONTAINS(hay, needle)                                          \
    do {                                                                          \
        const char *tap_h_ = (hay), *tap_n_ = (needle);                           \
        if (!tap_h_ || !strstr(tap_h_, tap_n_))                                   \
            TAP_FAIL_AT("%s contains \"%s\": got \"%s\"", #hay, tap_n_, tap_h_ ? tap_h_ : "(null)"); \
    } while (0)

#define ASSERT_NOT_NULL(p)                                                        \
    do {                                                                          \
        if ((p) == NULL) TAP_FAIL_AT("%s is NULL", #p);                           \
    } while (0)

/* Seconds before a test program is killed (SIGALRM): a deadlock fails the test instead
 * of hanging the suite. */
#define TAP_TIMEOUT_S 900

__attribute__((unused)) static void tap_plan(int n)
{
    alarm(TAP_TIMEOUT_S);
    printf("1..%d\n", n);
    fflush(stdout);
}

/* Inside a test function: report the test as skipped (a missing optional input). */
#define TAP_SKIP(why)                                                             \
    do {                                                                          \
        tap_skip_reason = (why);                                                  \
        return;                                                                   \
    } while (0)

__attribute__((unused)) static void tap_run(void (*fn)(void), const char *name)
{
    tap_current_failed = 0;
    tap_skip_reason = NULL;
    fn();
    ++tap_count;
    if (tap_current_failed) ++tap_failed;
    if (tap_skip_reason && !tap_current_failed)
        printf("ok %d - %s # SKIP %s\n", tap_count, name, tap_skip_reason);
    else
        printf("%s %d - %s\n", tap_current_failed ? "not ok" : "ok", tap_count, name);
    fflush(stdout);
}

__attribute__((unused)) static void tap_skip(const char *name, const char *why)
{
    ++tap_count;
    printf("ok %d - %s # SKIP %s\n", tap_count, name, why);
    fflush(stdout);
}

#define TAP_RUN(fn) tap_run(fn, #fn)

__attribute__((unused)) static int tap_done(void) { return tap_failed ? 1 : 0; }

#endif
