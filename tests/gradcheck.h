/* Helpers shared by the numeric tests: seeded fills, central differences, a relative
 * error measure and naive double-precision reference kernels.
 *
 * Everything is static inline so that each test program compiles only what it uses,
 * without unused-function warnings. */
#ifndef LEASH_TESTS_GRADCHECK_H
#define LEASH_TESTS_GRADCHECK_H

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "leash/rng.h"

/* Test buffers: zeroed, and a failed allocation ends the program (nothing to test). */
static inline void *gc_calloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (!p) {
        fputs("gradcheck: out of memory\n", stderr);
        abort();
    }
    return p;
}

static inline float *gc_floats(size_t n) { return gc_calloc(n, sizeof(float)); }
static inline double *gc_doubles(size_t n) { return gc_calloc(n, sizeof(double)); }

static inline double *gc_to_double(const float *x, size_t n)
{
    double *d = gc_doubles(n);
    for (size_t i = 0; i < n; ++i) d[i] = x[i];
    return d;
}

/* x[i] ~ U(lo, hi). */
static inline void gc_fill_uniform(float *x, size_t n, double lo, double hi, leash_rng *rng)
{
    for (size_t i = 0; i < n; ++i) x[i] = (float)(lo + (hi - lo) * leash_rng_uniform(rng));
}

/* |x[i]| ~ U(lo, hi) with a random sign: keeps values away from a kink at zero. */
static inline void gc_fill_away_from_zero(float *x, size_t n, double lo, double hi,
                                          leash_rng *rng)
{
    for (size_t i = 0; i < n; ++i) {
        double v = lo + (hi - lo) * leash_rng_uniform(rng);
        x[i] = (float)(leash_rng_next(rng) >> 63 ? v : -v);
    }
}

/* |a - n| / max(|a|, |n|, min_scale): relative error, read as absolute error / min_scale
 * for values too small for a relative comparison to mean anything. */
static inline double gc_rel_err(double a, double n, double min_scale)
{
    double scale = fmax(fmax(fabs(a), fabs(n)), min_scale);
    return fabs(a - n) / scale;
}

static inline double gc_max_rel_err(const float *a, const double *ref, size_t n,
                                    double min_scale)
{
    double worst = 0.0;
    for (size_t i = 0; i < n; ++i) worst = fmax(worst, gc_rel_err(a[i], ref[i], min_scale));
    return worst;
}

/* Root mean square, for a min_scale that follows a tensor's magnitude. */
static inline double gc_rms(const double *x, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; ++i) s += x[i] * x[i];
    return n ? sqrt(s / (double)n) : 0.0;
}

/* Largest error of a float32 tensor against its reference, entries that nearly cancel
 * measured against the tensor's RMS: a float32 sum's rounding error scales with the
 * size of its terms, not with how small the sum happens to be. */
static inline double gc_tensor_err(const float *got, const double *ref, size_t n)
{
    return gc_max_rel_err(got, ref, n, gc_rms(ref, n));
}

/* sum(x .* r) accumulated in double: the scalar L whose gradient with respect to x is r. */
static inline double gc_dot(const float *x, const float *r, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; ++i) s += (double)x[i] * (double)r[i];
    return s;
}

/* ---- central differences ------------------------------------------------------- */

/* A scalar function of buffers that the checker perturbs in place. */
typedef double (*gc_objective)(void *ctx);

/* dL/dx by central differences. The step is divided by the difference of the float
 * values actually stored, so rounding x +- h to float costs nothing. */
static inline double gc_central_diff(gc_objective f, void *ctx, float *x, float h)
{
    float x0 = *x, xp = x0 + h, xm = x0 - h;
    *x = xp;
    double fp = f(ctx);
    *x = xm;
    double fm = f(ctx);
    *x = x0;
    return (fp - fm) / ((double)xp - (double)xm);
}

/* Largest relative error between analytic[i] and the central difference of f in x[i]
 * over every coordinate of x[0..n). */
static inline double gc_check_all(gc_objective f, void *ctx, float *x, const float *analytic,
                                  size_t n, float h, double min_scale)
{
    double worst = 0.0;
    for (size_t i = 0; i < n; ++i) {
        double num = gc_central_diff(f, ctx, &x[i], h);
        worst = fmax(worst, gc_rel_err(analytic[i], num, min_scale));
    }
    return worst;
}

/* ---- reference kernels: the definitions, looped in double ----------------------- */

/* out[b][o] = bias[o] + sum_c in[b][c] * w[o][c] */
static inline void gc_ref_fc_forward(double *out, const double *in, const double *w,
                                     const double *bias, int B, int C, int OC)
{
    for (int b = 0; b < B; ++b)
        for (int o = 0; o < OC; ++o) {
            double s = bias[o];
            for (int c = 0; c < C; ++c) s += in[(size_t)b * C + c] * w[(size_t)o * C + c];
            out[(size_t)b * OC + o] = s;
        }
}

/* Overwrites din (B x C), dw (OC x C) and dbias (OC) with the gradients of
 * sum(out .* dout). */
static inline void gc_ref_fc_backward(double *din, double *dw, double *dbias, const double *dout,
                                      const double *in, const double *w, int B, int C, int OC)
{
    for (size_t i = 0; i < (size_t)B * C; ++i) din[i] = 0.0;
    for (size_t i = 0; i < (size_t)OC * C; ++i) dw[i] = 0.0;
    for (int o = 0; o < OC; ++o) dbias[o] = 0.0;
    for (int b = 0; b < B; ++b)
        for (int o = 0; o < OC; ++o) {
            double d = dout[(size_t)b * OC + o];
            dbias[o] += d;
            for (int c = 0; c < C; ++c) {
                dw[(size_t)o * C + c] += d * in[(size_t)b * C + c];
                din[(size_t)b * C + c] += d * w[(size_t)o * C + c];
            }
        }
}

/* Index of input pixel (y, x), channel c, of sample b, or -1 where (y, x) is padding. */
static inline ptrdiff_t gc_ref_conv_at(int b, int y, int x, int c, int H, int W, int C)
{
    if (y < 0 || y >= H || x < 0 || x >= W) return -1;
    return (((ptrdiff_t)b * H + y) * W + x) * C + c;
}

/* out[b][y][x][o] = bias[o] + sum_{ky,kx,c} in[b][y S - P + ky][x S - P + kx][c] *
 * w[o][ky][kx][c], terms outside the input left out (zero padding), with
 * OH = (H + 2P - K) / S + 1 and OW likewise. */
static inline void gc_ref_conv_sp_forward(double *out, const double *in, const double *w,
                                          const double *bias, int B, int H, int W, int C, int OC,
                                          int K, int S, int P)
{
    int OH = (H + 2 * P - K) / S + 1, OW = (W + 2 * P - K) / S + 1;
    for (int b = 0; b < B; ++b)
        for (int y = 0; y < OH; ++y)
            for (int x = 0; x < OW; ++x)
                for (int o = 0; o < OC; ++o) {
                    double s = bias[o];
                    for (int ky = 0; ky < K; ++ky)
                        for (int kx = 0; kx < K; ++kx)
                            for (int c = 0; c < C; ++c) {
                                ptrdiff_t i = gc_ref_conv_at(b, y * S - P + ky, x * S - P + kx, c,
                                                             H, W, C);
                                if (i >= 0) s += in[i] * w[(((size_t)o * K + ky) * K + kx) * C + c];
                            }
                    out[(((size_t)b * OH + y) * OW + x) * OC + o] = s;
                }
}

/* Overwrites din (B x H x W x C), dw (OC x K x K x C) and dbias (OC) with the gradients
 * of sum(out .* dout) for gc_ref_conv_sp_forward. */
static inline void gc_ref_conv_sp_backward(double *din, double *dw, double *dbias,
                                           const double *dout, const double *in, const double *w,
                                           int B, int H, int W, int C, int OC, int K, int S, int P)
{
    int OH = (H + 2 * P - K) / S + 1, OW = (W + 2 * P - K) / S + 1;
    for (size_t i = 0; i < (size_t)B * H * W * C; ++i) din[i] = 0.0;
    for (size_t i = 0; i < (size_t)OC * K * K * C; ++i) dw[i] = 0.0;
    for (int o = 0; o < OC; ++o) dbias[o] = 0.0;
    for (int b = 0; b < B; ++b)
        for (int y = 0; y < OH; ++y)
            for (int x = 0; x < OW; ++x)
                for (int o = 0; o < OC; ++o) {
                    double d = dout[(((size_t)b * OH + y) * OW + x) * OC + o];
                    dbias[o] += d;
                    for (int ky = 0; ky < K; ++ky)
                        for (int kx = 0; kx < K; ++kx)
                            for (int c = 0; c < C; ++c) {
                                ptrdiff_t i = gc_ref_conv_at(b, y * S - P + ky, x * S - P + kx, c,
                                                             H, W, C);
                                size_t j = (((size_t)o * K + ky) * K + kx) * C + c;
                                if (i < 0) continue;
                                dw[j] += d * in[i];
                                din[i] += d * w[j];
                            }
                }
}

/* The valid convolution: stride 1, no padding. */
static inline void gc_ref_conv_forward(double *out, const double *in, const double *w,
                                       const double *bias, int B, int H, int W, int C, int OC,
                                       int K)
{
    gc_ref_conv_sp_forward(out, in, w, bias, B, H, W, C, OC, K, 1, 0);
}

static inline void gc_ref_conv_backward(double *din, double *dw, double *dbias,
                                        const double *dout, const double *in, const double *w,
                                        int B, int H, int W, int C, int OC, int K)
{
    gc_ref_conv_sp_backward(din, dw, dbias, dout, in, w, B, H, W, C, OC, K, 1, 0);
}

#endif
