#include <string.h>

#include "nn/layers_internal.h"

/* Channels go in blocks of up to CB, innermost: with C a constant (below) each window
 * step is a few vector compares and selects across the channels. */
enum { CB = 16 };

/* One output row of OW windows. Each window's maximum is kept in registers and chosen
 * with selects, not branches: the comparisons are data-dependent and would mispredict
 * about half the time. Ties keep the first maximum in scan order. With fuse set, the
 * output is relu(max + bias[c]): a per-channel bias and ReLU are both monotone, so they
 * commute with the maximum and touch only the pooled values. */
static inline __attribute__((always_inline)) void
pool_row(float *restrict out, int32_t *restrict argmax, const float *restrict in,
         const float *restrict bias, size_t first, int OW, int W, int C, int K, int fuse)
{
    for (int ox = 0; ox < OW; ++ox, out += C, argmax += C)
        for (int c0 = 0; c0 < C; c0 += CB) {
            int n = C - c0 < CB ? C - c0 : CB;
            int32_t at0 = (int32_t)(first + (size_t)ox * K * C) + c0;
            float best[CB];
            int32_t arg[CB];
            for (int c = 0; c < n; ++c) {
                best[c] = in[at0 + c];
                arg[c] = at0 + c;
            }
            for (int ky = 0; ky < K; ++ky)
                for (int kx = ky ? 0 : 1; kx < K; ++kx) {
                    int32_t at = at0 + (ky * W + kx) * C;
                    for (int c = 0; c < n; ++c) {
                        float v = in[at + c];
                        int better = v > best[c];
                        best[c] = better ? v : best[c];
                        arg[c] = better ? at + c : arg[c];
                    }
                }
            for (int c = 0; c < n; ++c) {
                float v = best[c];
                if (fuse) {
                    v += bias[c0 + c];
                    v = v > 0.0f ? v : 0.0f;
                }
                out[c0 + c] = v;
                argmax[c0 + c] = arg[c];
            }
        }
}

static inline __attribute__((always_inline)) void
pool_c(float *restrict out, int32_t *restrict argmax, const float *restrict in,
       const float *restrict bias, int B, int H, int W, int C, int K, int fuse)
{
    int OH = H / K, OW = W / K;
    for (int s = 0; s < B; ++s)
        for (int oy = 0; oy < OH; ++oy) {
            size_t first = ((size_t)s * H + (size_t)oy * K) * W * C;
            pool_row(out, argmax, in, bias, first, OW, W, C, K, fuse);
            out += (size_t)OW * C;
            argmax += (size_t)OW * C;
        }
}

/* Inlined for a constant channel count where the built-in models pool (CNN: 4, 8;
 * LeNet: 6, 16) and their window (2), so the loops unroll and vectorize. */
#define POOL_CASE(n, f)                                                                            \
    case n:                                                                                        \
        if (K == 2) pool_c(out, argmax, in, bias, B, H, W, n, 2, f);                              \
        else pool_c(out, argmax, in, bias, B, H, W, n, K, f);                                     \
        return;
#define POOL_CASES(f) POOL_CASE(4, f) POOL_CASE(6, f) POOL_CASE(8, f) POOL_CASE(16, f)

void leash_maxpool_forward(float *out, int32_t *argmax, const float *in, int B, int H, int W, int C,
                           int K)
{
    const float *bias = NULL;
    switch (C) {
        POOL_CASES(0)
    default: pool_c(out, argmax, in, bias, B, H, W, C, K, 0);
    }
}

void leash_relu_maxpool_forward(float *out, int32_t *argmax, const float *in, const float *bias,
                                int B, int H, int W, int C, int K)
{
    switch (C) {
        POOL_CASES(1)
    default: pool_c(out, argmax, in, bias, B, H, W, C, K, 1);
    }
}

/* Writes every input gradient: zero the whole of din (one memset, which streams at
 * full width; the caller works in chunks that stay in cache), then store each output's
 * gradient g at its argmax. With fuse set, g is dout where the pooled output is positive
 * (ReLU's mask) and 0 elsewhere, and dbias[c] collects g. */
static inline __attribute__((always_inline)) void
unpool_c(float *restrict din, float *restrict dbias, const float *restrict dout,
         const float *restrict out, const int32_t *restrict argmax, int B, int H, int W, int C,
         int K, int fuse)
{
    size_t nout = (size_t)B * (H / K) * (W / K) * C;
    memset(din, 0, (size_t)B * H * W * C * sizeof *din);
    for (size_t o = 0; o < nout; o += (size_t)C)
        for (int c = 0; c < C; ++c) {
            float g = dout[o + c];
            if (fuse) {
                g = out[o + c] > 0.0f ? g : 0.0f;
                dbias[c] += g;
            }
            din[argmax[o + c]] = g;
        }
}

/* Inlined for the channel counts of the built-in models, so that the bias gradient
 * stays in registers. */
#define UNPOOL_CASE(n, f) case n: unpool_c(din, dbias, dout, out, argmax, B, H, W, n, K, f); return;
#define UNPOOL_CASES(f) UNPOOL_CASE(4, f) UNPOOL_CASE(6, f) UNPOOL_CASE(8, f) UNPOOL_CASE(16, f)

void leash_maxpool_backward(float *din, const float *dout, const int32_t *argmax, int B, int H,
                            int W, int C, int K)
{
    float *dbias = NULL;
    const float *out = NULL;
    switch (C) {
        UNPOOL_CASES(0)
    default: unpool_c(din, dbias, dout, out, argmax, B, H, W, C, K, 0);
    }
}

void leash_relu_maxpool_backward(float *din, float *dbias, const float *dout, const float *out,
                                 const int32_t *argmax, int B, int H, int W, int C, int K)
{
    switch (C) {
        UNPOOL_CASES(1)
    default: unpool_c(din, dbias, dout, out, argmax, B, H, W, C, K, 1);
    }
}
