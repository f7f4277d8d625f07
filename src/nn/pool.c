#include "nn/layers_internal.h"

/* One output row of OW windows. Each window's maximum is kept in registers and chosen
 * with selects (maxss and cmov), not branches: the comparisons are data-dependent and
 * would mispredict about half the time. Ties keep the first maximum in scan order. */
static inline __attribute__((always_inline)) void
pool_row(float *restrict out, int32_t *restrict argmax, const float *restrict in, size_t first,
         int OW, int W, int C, int K)
{
    for (int ox = 0; ox < OW; ++ox, out += C, argmax += C)
        for (int c = 0; c < C; ++c) {
            size_t at0 = first + (size_t)ox * K * C + c;
            float best = in[at0];
            int32_t arg = (int32_t)at0;
            for (int ky = 0; ky < K; ++ky)
                for (int kx = ky ? 0 : 1; kx < K; ++kx) {
                    size_t at = at0 + ((size_t)ky * W + kx) * C;
                    float v = in[at];
                    int better = v > best;
                    best = better ? v : best;
                    arg = better ? (int32_t)at : arg;
                }
            out[c] = best;
            argmax[c] = arg;
        }
}

static inline __attribute__((always_inline)) void
pool_c(float *restrict out, int32_t *restrict argmax, const float *restrict in, int B, int H,
       int W, int C, int K)
{
    int OH = H / K, OW = W / K;
    for (int s = 0; s < B; ++s)
        for (int oy = 0; oy < OH; ++oy) {
            size_t first = ((size_t)s * H + (size_t)oy * K) * W * C;
            pool_row(out, argmax, in, first, OW, W, C, K);
            out += (size_t)OW * C;
            argmax += (size_t)OW * C;
        }
}

/* Inlined for a constant channel count where the built-in models pool (CNN: 4, 8;
 * LeNet: 6, 16), so the window loops unroll. */
#define POOL_CASE(n) case n: pool_c(out, argmax, in, B, H, W, n, K); return;

void leash_maxpool_forward(float *out, int32_t *argmax, const float *in, int B, int H, int W, int C,
                           int K)
{
    switch (C) {
        POOL_CASE(4) POOL_CASE(6) POOL_CASE(8) POOL_CASE(16)
    default: pool_c(out, argmax, in, B, H, W, C, K);
    }
}

void leash_maxpool_backward(float *din, const float *dout, const int32_t *argmax, size_t nout)
{
    for (size_t i = 0; i < nout; ++i) din[argmax[i]] += dout[i];
}
