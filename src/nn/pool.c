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

/* Writes every input gradient: each window gets g at its argmax and 0 elsewhere (a
 * compare per element, vectorized across the channels), and the rows and columns beyond
 * the last full window get 0. With fuse set, g is dout where the pooled output is
 * positive (ReLU's mask) and 0 elsewhere, and dbias[c] collects g. */
static inline __attribute__((always_inline)) void
unpool_c(float *restrict din, float *restrict dbias, const float *restrict dout,
         const float *restrict out, const int32_t *restrict argmax, int B, int H, int W, int C,
         int K, int fuse)
{
    int OH = H / K, OW = W / K;
    size_t tail = (size_t)(W - OW * K) * C;
    for (int s = 0; s < B; ++s) {
        for (int oy = 0; oy < OH; ++oy) {
            size_t first = ((size_t)s * H + (size_t)oy * K) * W * C;
            for (int ox = 0; ox < OW; ++ox, dout += C, out += C, argmax += C)
                for (int c0 = 0; c0 < C; c0 += CB) {
                    int n = C - c0 < CB ? C - c0 : CB;
                    size_t at0 = first + (size_t)ox * K * C + (size_t)c0;
                    float g[CB];
                    int32_t rel[CB]; /* the maximum's offset in the window */
                    for (int c = 0; c < n; ++c) {
                        float v = dout[c0 + c];
                        if (fuse) v = out[c0 + c] > 0.0f ? v : 0.0f;
                        g[c] = v;
                        rel[c] = argmax[c0 + c] - (int32_t)at0 - c;
                    }
                    if (fuse)
                        for (int c = 0; c < n; ++c) dbias[c0 + c] += g[c];
                    for (int ky = 0; ky < K; ++ky)
                        for (int kx = 0; kx < K; ++kx) {
                            int32_t off = (ky * W + kx) * C;
                            float *restrict d = din + at0 + (size_t)off;
                            for (int c = 0; c < n; ++c) d[c] = rel[c] == off ? g[c] : 0.0f;
                        }
                }
            for (int ky = 0; ky < K; ++ky)
                memset(din + first + ((size_t)ky * W + (size_t)OW * K) * C, 0, tail * sizeof *din);
        }
        size_t first_dropped = ((size_t)s * H + (size_t)OH * K) * W * C;
        memset(din + first_dropped, 0, (size_t)(H - OH * K) * W * C * sizeof *din);
    }
}

/* The built-in models pool 2 x 2 windows over these channel counts. */
#define UNPOOL_CASE(n, f)                                                                          \
    case n:                                                                                        \
        if (K == 2) unpool_c(din, dbias, dout, out, argmax, B, H, W, n, 2, f);                    \
        else unpool_c(din, dbias, dout, out, argmax, B, H, W, n, K, f);                           \
        return;
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
